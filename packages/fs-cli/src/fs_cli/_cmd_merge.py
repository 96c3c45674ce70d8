"""``fs merge``: put the src face into every frame of the dst video with a trained model (or a .dfm)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError

DstArg = Annotated[Path, typer.Argument(help="The dst video (or `fs video frames` folder).")]
ModelOpt = Annotated[
    Path, typer.Option(help="Trained model: a .safetensors file, the `fs train` output folder, or a .dfm file.")
]
FacesetOpt = Annotated[
    Path | None,
    typer.Option(help="dst faceset from `fs extract DST_VIDEO` (its faces of DST_VIDEO); default: find faces now."),
]
AllFacesOpt = Annotated[
    bool, typer.Option(help="With --faceset: also faces removed during curation (until compacted away).")
]
ModeOpt = Annotated[str, typer.Option(help="overlay, hist-match, seamless, seamless-hist-match, raw-rgb.")]
ColorOpt = Annotated[
    str, typer.Option("--color", help="Colour transfer: rct, lct, mkl, idt, sot, their masked *-m, or none.")
]
MaskOpt = Annotated[
    str,
    typer.Option(
        help="Mask of the pasted face: a product of learned-prd, learned-dst, hull, components, extended, "
        "stored (the faceset's masks, e.g. from `fs mask apply`), xseg; e.g. learned-prd*hull; or full."
    ),
]
FaceTypeOpt = Annotated[
    str | None,
    typer.Option(
        help="Face type of a .dfm model (default: what `fs export` stored, else whole_face); fs models know theirs."
    ),
]
MergeConfigOpt = Annotated[
    Path | None, typer.Option(help="fs-merge MergeConfig file (.toml/.json); flags above are ignored then.")
]
IdentityOpt = Annotated[
    str | None,
    typer.Option(
        help="CGAN: the identity to render (default: the src identity): a name or label from the model's table, or "
        "a faceset it was trained on (any faceset for a CGAN trained with --identity-embedding)."
    ),
]
LabelOpt = Annotated[bool, typer.Option(help="Visible 'SYNTHETIC' mark (the metadata label is always written).")]
DebugOpt = Annotated[Path | None, typer.Option("--debug", help="Write each merged frame here (labelled PNGs).")]


def build_merge_config(path: Path | None, flags: dict[str, Any]) -> Any:
    """The ``fs_merge.MergeConfig`` of ``--merge-config FILE``, else of the flags; :class:`CliError` when invalid."""
    from fs_merge import MergeConfig, MergeError

    try:
        if path is not None:
            return MergeConfig.load(path)
        sharpen = flags["sharpen_amount"]
        return MergeConfig.from_dict({**flags, "sharpen": "gaussian" if sharpen else "none", "allow_partial": True})
    except MergeError as exc:
        raise CliError(str(exc)) from None


def register(app: typer.Typer) -> None:
    @app.command("merge")
    def merge_cmd(
        ctx: typer.Context,
        dst_video: DstArg,
        model: ModelOpt,
        out: Annotated[Path, typer.Option("-o", "--out", help="Output video (.mp4, .mov, .mkv).")],
        faceset: FacesetOpt = None,
        all_faces: AllFacesOpt = False,
        mode: ModeOpt = "overlay",
        color: ColorOpt = "rct",
        mask: MaskOpt = "learned-prd",
        xseg: Annotated[Path | None, typer.Option(help="XSeg checkpoint for --mask xseg.")] = None,
        face_type: FaceTypeOpt = None,
        identity: IdentityOpt = None,
        erode: Annotated[int, typer.Option(help="Shrink (negative: grow) the mask by this many pixels.")] = 0,
        blur: Annotated[int, typer.Option(min=0, help="Feather the mask edge over this many pixels.")] = 8,
        sharpen: Annotated[int, typer.Option(min=-100, max=100, help="Sharpen (>0) or blur (<0) the face.")] = 0,
        merge_config: MergeConfigOpt = None,
        label_visible: LabelOpt = True,
        crf: Annotated[int, typer.Option(min=0, max=51, help="x264 quality (lower is better).")] = 18,
        preset: Annotated[str, typer.Option(help="x264 preset (ultrafast .. veryslow).")] = "medium",
        workers: Annotated[int, typer.Option(min=1, help="Frames merged in parallel (threads).")] = 2,
        jobs: Annotated[int, typer.Option(min=1, help="Processes for finding faces (without --faceset).")] = 1,
        device: Annotated[str, typer.Option(help="Where the model runs: cpu, cuda, cuda:1, mps.")] = "cpu",
        debug: DebugOpt = None,
        config: ConfigOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Swap the model's src face into every dst frame and write a labelled H.264 video with dst's audio.

        Frames without a face are copied unchanged, so the output has exactly dst's frames.

        Examples:

            fs merge dst.mp4 --model model_dir -o swap.mp4

            fs merge dst.mp4 --model model_dir --faceset dst_faces -o swap.mp4 --mode seamless --color mkl-m

            fs merge dst.mp4 --model m.safetensors -o swap.mp4 --mask xseg --xseg xseg/xseg.safetensors --erode 4

            fs merge dst_frames --model community.dfm --face-type wf -o swap.mp4 --mask learned-prd*hull

            fs merge dst.mp4 --model cgan_dir --identity C_faces -o swap_as_c.mp4
        """
        from fs_align import MaskSource
        from fs_cli.pipeline.swap import load_face_model, swap_video_from_faceset, xseg_segmenter

        ui = Ui(ctx, json_output=json_output)
        if not dst_video.exists():
            raise CliError(f"{dst_video}: no such video")
        flags = {"mode": mode, "color_transfer": color, "erode_px": erode, "feather_px": blur}
        cfg = build_merge_config(merge_config, {**flags, "sharpen_amount": sharpen, "mask": mask})
        if MaskSource.XSEG in cfg.mask and xseg is None:
            raise CliError(f"--mask {mask}: needs --xseg MODEL (train one with `fs mask train`)")
        summary = swap_video_from_faceset(
            dst_video,
            faceset,
            load_face_model(model, device, face_type=face_type, identity=identity),
            cfg,
            out,
            all_faces=all_faces,
            segmenter=xseg_segmenter(xseg, device) if xseg is not None else None,
            workers=workers,
            jobs=jobs,
            crf=crf,
            preset=preset,
            label_visible=label_visible,
            debug_dir=debug,
            progress=ui.progress,
        )
        for p in summary.problems[:10]:
            ui.warn(p)
        n, k, failed = summary.frames_written, summary.frames_with_faces, summary.frames_failed
        data = {"out": str(out), "frames": n, "frames_with_faces": k, "frames_failed": failed}
        data |= {"faces_from": summary.faces_from, "merge_config": cfg.to_dict()}
        ui.result(data, f"{n} frames ({k} with faces, {failed} failed) -> {out}")
