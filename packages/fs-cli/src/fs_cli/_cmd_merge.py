"""``fs merge``: put the src face into every frame of the dst video with a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import typer

from fs_cli._swap import FaceSwapper, MaskMode, frame_faces, load_swap_model
from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError


def register(app: typer.Typer) -> None:
    @app.command("merge")
    def merge_cmd(
        ctx: typer.Context,
        dst_video: Annotated[Path, typer.Argument(help="The dst video (or `fs video frames` folder).")],
        model: Annotated[
            Path, typer.Option(help="Trained model: a .safetensors file or the `fs train` output folder.")
        ],
        out: Annotated[Path, typer.Option("-o", "--out", help="Output video (.mp4, .mov, .mkv).")],
        faceset: Annotated[
            Path | None,
            typer.Option(
                help="dst faceset from `fs extract DST_VIDEO` (its alignments record); default: find faces now."
            ),
        ] = None,
        all_faces: Annotated[
            bool, typer.Option(help="With --faceset: also faces deleted from the faceset during curation.")
        ] = False,
        mode: Annotated[
            str, typer.Option(help="overlay, hist-match, seamless, seamless-hist-match, raw-rgb.")
        ] = "overlay",
        color: Annotated[
            str, typer.Option("--color", help="Colour transfer: rct, lct, mkl, idt, sot, their masked *-m, or none.")
        ] = "rct",
        mask: Annotated[MaskMode, typer.Option(help="Mask of the pasted face.")] = MaskMode.LEARNED_PRD,
        xseg: Annotated[Path | None, typer.Option(help="XSeg checkpoint for --mask xseg.")] = None,
        erode: Annotated[int, typer.Option(help="Shrink (negative: grow) the mask by this many pixels.")] = 0,
        blur: Annotated[int, typer.Option(min=0, help="Feather the mask edge over this many pixels.")] = 8,
        sharpen: Annotated[int, typer.Option(min=-100, max=100, help="Sharpen (>0) or blur (<0) the face.")] = 0,
        merge_config: Annotated[
            Path | None, typer.Option(help="fs-merge MergeConfig file (.toml/.json); flags above are ignored then.")
        ] = None,
        label_visible: Annotated[
            bool, typer.Option(help="Visible 'SYNTHETIC' mark (the metadata label is always written).")
        ] = True,
        crf: Annotated[int, typer.Option(min=0, max=51, help="x264 quality (lower is better).")] = 18,
        preset: Annotated[str, typer.Option(help="x264 preset (ultrafast .. veryslow).")] = "medium",
        workers: Annotated[int, typer.Option(min=1, help="Frames merged in parallel (threads).")] = 2,
        jobs: Annotated[int, typer.Option(min=1, help="Processes for finding faces (without --faceset).")] = 1,
        device: Annotated[str, typer.Option(help="Where the model runs: cpu, cuda, cuda:1, mps.")] = "cpu",
        debug: Annotated[
            Path | None, typer.Option("--debug", help="Write each merged frame with the face outlines here.")
        ] = None,
        config: ConfigOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Swap the model's src face into every dst frame and write a labelled H.264 video with dst's audio.

        Frames without a face are copied unchanged, so the output has exactly dst's frames.

        Examples:

            fs merge dst.mp4 --model model_dir -o swap.mp4

            fs merge dst.mp4 --model model_dir --faceset dst_faces -o swap.mp4 --mode seamless --color mkl-m

            fs merge dst.mp4 --model m.safetensors -o swap.mp4 --mask xseg --xseg xseg/xseg.safetensors --erode 4
        """
        from fs_merge import FrameReader, MergeConfig, VideoWriter, merge_video

        ui = Ui(ctx, json_output=json_output)
        if not dst_video.exists():
            raise CliError(f"{dst_video}: no such video")
        if merge_config is not None:
            cfg = MergeConfig.load(merge_config)
        else:
            cfg = MergeConfig.from_dict(
                {
                    "mode": mode,
                    "color_transfer": color,
                    "erode_px": erode,
                    "feather_px": blur,
                    "sharpen_amount": sharpen,
                    "sharpen": "gaussian" if sharpen else "none",
                    "allow_partial": True,
                }
            )
        net = load_swap_model(model, device)
        xseg_model = None
        if xseg is not None:
            from fs_mask import load_xseg

            xseg_model = load_xseg(xseg)
        swapper = FaceSwapper(net, cfg, mask, device=device, xseg=xseg_model)
        faces, how = frame_faces(
            dst_video, faceset, max_frames=None, jobs=jobs, progress=ui.progress, all_faces=all_faces
        )
        if not faces:
            raise CliError(f"{dst_video}: no faces to swap ({how})")
        reader = FrameReader(dst_video)
        audio = dst_video if dst_video.is_file() else None
        writer = VideoWriter(out, reader.fps, crf=crf, preset=preset, audio_from=audio, label_visible=label_visible)
        if debug is not None:
            debug.mkdir(parents=True, exist_ok=True)

        def process(frame):  # type: ignore[no-untyped-def]
            here = faces.get(frame.index, [])
            if not here:
                return frame.image
            merged = swapper(frame.image, here)
            if debug is not None:
                cv2.imwrite(str(debug / f"{frame.index:06d}.png"), merged)
            return merged

        with ui.progress("merge", reader.num_frames) as advance:
            result = merge_video(reader, writer, process, workers=workers, progress=lambda done, total: advance(1))
        for p in result.problems[:10]:
            ui.warn(p)
        data = {
            "out": str(out),
            "frames": result.frames_written,
            "frames_with_faces": len(faces),
            "frames_failed": result.frames_failed,
            "faces_from": how,
            "merge_config": cfg.to_dict(),
        }
        ui.result(
            data, f"{result.frames_written} frames ({len(faces)} with faces, {result.frames_failed} failed) -> {out}"
        )
        if result.frames_failed == result.frames_written:
            raise CliError(f"every frame failed to merge: {result.problems[0] if result.problems else 'unknown'}")
