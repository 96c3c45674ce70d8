"""``fs demo``: the whole job on the bundled demo data (franck.mp4 -> cap12), bounded in time."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError

DEMO_ASSETS = ("yunet", "dlib68", "sface", "video-franck", "video-cap12")


def trim_video(src: Path, dst: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``src`` as an H.264 file (real footage: no synthetic label)."""
    from fs_merge import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src)]
    cmd += ["-map", "0:v:0", "-map", "0:a?", "-frames:v", str(frames), "-c:v", "libx264", "-preset", "veryfast"]
    cmd += ["-crf", "16", "-pix_fmt", "yuv420p", str(dst)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CliError(f"could not cut {src}: {proc.stderr.strip()[-300:]}")
    return dst


def side_by_side(dst: Path, swap: Path, src_faces: Path, out: Path, picks: int = 3) -> Path:
    """Rows of (src face | dst frame | swapped frame) for a few frames, written as a labelled PNG."""
    import cv2

    from fs_cli._draw import caption, hstack_fit
    from fs_faceset import Faceset
    from fs_merge import FrameReader, write_image

    n = FrameReader(dst).num_frames
    wanted = set(np.linspace(0, n - 1, picks).round().astype(int).tolist())
    a = {f.index: f.image for f in FrameReader(dst) if f.index in wanted}
    b = {f.index: f.image for f in FrameReader(swap) if f.index in wanted}
    fs = Faceset.open(src_faces)
    rows = []
    for k, i in enumerate(sorted(wanted)):
        if i not in a or i not in b:
            continue
        h = a[i].shape[0]
        face: Any = np.ascontiguousarray(fs[int(k * (len(fs) - 1) / max(1, picks - 1))].image)
        face = np.asarray(cv2.resize(face, (h, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        rows.append(hstack_fit([caption(face, "src"), caption(a[i], f"dst #{i}"), caption(b[i], f"swap #{i}")], h))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    write_image(out, sheet)
    return out


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        ctx: typer.Context,
        out: Annotated[Path, typer.Option("-o", "--out", help="Where everything goes.")] = Path("demo-out"),
        minutes: Annotated[float, typer.Option(min=0.1, help="Training time budget in minutes.")] = 5.0,
        src_frames: Annotated[int, typer.Option(min=8, help="src faces to extract (spread over franck.mp4).")] = 300,
        dst_frames: Annotated[int, typer.Option(min=8, help="Length of the dst clip (first frames of cap12).")] = 125,
        resolution: Annotated[int, typer.Option(min=32, help="Model resolution (multiple of 16).")] = 64,
        dims: Annotated[int, typer.Option(min=8, help="Model width (e_dims = d_dims; ae_dims = 2x).")] = 32,
        batch: Annotated[int, typer.Option(min=1, help="Training batch size.")] = 8,
        device: Annotated[str, typer.Option(help="auto (CUDA if present), cpu, cuda.")] = "auto",
        jobs: Annotated[int, typer.Option(min=1, help="Extraction processes.")] = 2,
        config: ConfigOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Run the main job: fetch weights and demo videos, extract, train (bounded time), merge, evaluate.

        Writes OUT/swap.mp4 (franck's face on cap12's clip, labelled synthetic), OUT/side_by_side.png,
        training previews under OUT/model, and OUT/eval.json. About minutes + 2 on two CPU cores.

        Examples:

            fs demo

            fs demo --minutes 2 --out /tmp/demo

            fs demo --device cuda --minutes 20 --resolution 128 --dims 64
        """
        import fs_detect
        from fs_align import assets
        from fs_cli._cmd_train import build_train_config, run_training
        from fs_cli._eval import evaluate
        from fs_cli._swap import FaceSwapper, MaskMode, frame_faces, load_swap_model
        from fs_cli.pipeline import extract_to_faceset

        ui = Ui(ctx, json_output=json_output)
        t0 = time.perf_counter()
        times: dict[str, float] = {}
        if out.exists() and any(p.name in ("src_faces", "dst_faces") for p in out.iterdir()):
            raise CliError(f"-o {out}: holds an earlier demo; remove it or pick another --out")
        out.mkdir(parents=True, exist_ok=True)
        ui.note("1/6 fetching weights and demo videos")
        paths = {}
        with ui.progress("assets", len(DEMO_ASSETS)) as advance:
            for name in DEMO_ASSETS:
                paths[name] = assets.ensure_asset(name)
                advance(1)
        times["fetch"] = time.perf_counter() - t0

        ui.note("2/6 extracting faces (src: franck.mp4, dst: cap12)")
        t = time.perf_counter()
        from fs_merge import FrameReader

        franck = paths["video-franck"]
        every = max(1, FrameReader(franck).num_frames // src_frames)
        largest = fs_detect.ExtractSettings(track=fs_detect.TrackMode.LARGEST, size=max(resolution, 64))
        dst_clip = trim_video(paths["video-cap12"], out / "dst.mp4", dst_frames)
        s_src = extract_to_faceset(
            franck, out / "src_faces", largest, every=every, jobs=jobs, max_frames=src_frames, progress=ui.progress
        )
        s_dst = extract_to_faceset(dst_clip, out / "dst_faces", largest, jobs=jobs, progress=ui.progress)
        times["extract"] = time.perf_counter() - t

        ui.note(f"3/6 training for {minutes:g} min")
        t = time.perf_counter()
        values: dict[str, Any] = {
            "src": str(out / "src_faces"),
            "dst": str(out / "dst_faces"),
            "out_dir": str(out / "model"),
            "model": "df",
            "model_config": {
                "resolution": resolution,
                "ae_dims": 2 * dims,
                "e_dims": dims,
                "d_dims": dims,
                "d_mask_dims": max(8, dims // 2),
                "face_type": "whole_face",
            },
            "batch_size": batch,
            "steps": 1_000_000,
            "time_budget_s": minutes * 60.0,
            "device": device,
            "save_every": 0,
            "preview_every": 200,
            "optim": {"lr": 2e-4},
        }
        train_result = run_training(build_train_config(values, {}), ui)
        times["train"] = time.perf_counter() - t

        ui.note("4/6 merging onto the dst clip")
        t = time.perf_counter()
        from fs_merge import MergeConfig, VideoWriter, merge_video

        dev = "cuda" if device == "auto" and _cuda() else ("cpu" if device == "auto" else device)
        net = load_swap_model(out / "model", dev)
        cfg = MergeConfig.from_dict(
            {"mode": "overlay", "color_transfer": "rct", "erode_px": 2, "feather_px": 6, "allow_partial": True}
        )
        swapper = FaceSwapper(net, cfg, MaskMode.LEARNED_PRD_HULL, device=dev)
        faces, _ = frame_faces(dst_clip, out / "dst_faces", max_frames=None, jobs=1, progress=ui.progress)
        reader = FrameReader(dst_clip)
        writer = VideoWriter(out / "swap.mp4", reader.fps, audio_from=dst_clip)

        def process(frame: Any) -> Any:
            here = faces.get(frame.index, [])
            return swapper(frame.image, here) if here else frame.image

        with ui.progress("merge", reader.num_frames) as advance:
            merged = merge_video(reader, writer, process, workers=2, progress=lambda d, n: advance(1))
        times["merge"] = time.perf_counter() - t

        ui.note("5/6 side-by-side picture")
        side_by_side(dst_clip, out / "swap.mp4", out / "src_faces", out / "side_by_side.png")

        ui.note("6/6 evaluating")
        t = time.perf_counter()
        scores = evaluate(
            out / "swap.mp4",
            dst_clip,
            out / "src_faces",
            model=net,
            dst_faceset=out / "dst_faces",
            max_frames=50,
            progress=ui.progress,
        )
        times["eval"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - t0
        report = {
            "out": str(out),
            "swap": str(out / "swap.mp4"),
            "side_by_side": str(out / "side_by_side.png"),
            "src_faces": s_src.faces,
            "dst_faces": s_dst.faces,
            "frames_merged": merged.frames_written,
            "training": train_result,
            "eval": scores,
            "seconds": {k: round(v, 1) for k, v in times.items()},
        }
        (out / "eval.json").write_text(json.dumps(report, indent=2, default=str))
        from fs_cli._cmd_eval import NOTES

        ui.table(
            "fs demo: eval",
            ["metric", "value", "meaning"],
            [
                [
                    k,
                    v if not isinstance(v, dict) else json.dumps({a: round(b, 2) for a, b in v.items()}),
                    NOTES.get(k, ""),
                ]
                for k, v in scores.items()
            ],
        )
        ui.table("fs demo: time (s)", ["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in times.items()])
        ui.result(report, f"done in {times['total'] / 60:.1f} min: {out / 'swap.mp4'}, {out / 'side_by_side.png'}")


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())
