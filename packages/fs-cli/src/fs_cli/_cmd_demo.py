"""``fs demo``: the whole job on the bundled demo data (franck.mp4 -> cap12), bounded in time."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

from fs_align import FaceType, assets, atomic_write
from fs_cli._cmd_eval import NOTES, likeness_line
from fs_cli._cmd_train import run_training
from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError

if TYPE_CHECKING:
    from fs_train import Preset

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
    # a strip below the rows, where the picture's own "synthetic" mark goes without covering a face
    sheet = np.pad(sheet, ((0, max(48, sheet.shape[0] // 9)), (0, 0), (0, 0)))
    write_image(out, sheet)
    return out


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        ctx: typer.Context,
        out: Annotated[Path, typer.Option("-o", "--out", help="Where everything goes.")] = Path("demo-out"),
        minutes: Annotated[
            float, typer.Option(min=0.1, help="Training time budget in minutes (the whole demo takes ~2 more).")
        ] = 7.5,
        preset: Annotated[
            str | None,
            typer.Option(
                help="Training recipe (fs_train.PRESETS): default cpu with AMX, else cpu-small; gpu with CUDA."
            ),
        ] = None,
        src_frames: Annotated[int, typer.Option(min=8, help="src faces to train on.")] = 300,
        src_pool: Annotated[
            int,
            typer.Option(
                min=0,
                help="src faces to extract (spread over franck.mp4; 4800: every frame), of which the --src-frames "
                "nearest to the dst's head poses are kept (fs faceset sort --by pose-like); <= --src-frames keeps all.",
            ),
        ] = 4800,
        dst_frames: Annotated[int, typer.Option(min=8, help="Length of the dst clip (first frames of cap12).")] = 125,
        resolution: Annotated[int | None, typer.Option(min=32, help="Override the preset's model resolution.")] = None,
        dims: Annotated[
            int | None, typer.Option(min=8, help="Override the preset's width (e_dims = d_dims; ae_dims = 2x).")
        ] = None,
        batch: Annotated[int | None, typer.Option(min=1, help="Override the preset's batch size.")] = None,
        device: Annotated[str, typer.Option(help="auto (CUDA if present), cpu, cuda.")] = "auto",
        jobs: Annotated[int, typer.Option(min=1, help="Extraction processes.")] = 2,
        config: ConfigOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Run the main job: fetch weights and demo videos, extract, train (bounded time), merge, evaluate.

        Writes OUT/swap.mp4 (franck's face on cap12's clip, labelled synthetic), OUT/side_by_side.png,
        training previews under OUT/model, and OUT/eval.json, and says whether the swap reached likeness
        (`fs eval`'s definition). About 10 minutes on two CPU cores.

        Examples:

            fs demo

            fs demo --minutes 2 --out /tmp/demo

            fs demo --device cuda --minutes 20
        """
        from fs_cli.pipeline import (
            demo_merge,
            evaluate,
            likeness,
            likeness_notes,
            load_face_model,
            swap_video_from_faceset,
        )
        from fs_merge import MergeConfig

        ui = Ui(ctx, json_output=json_output)
        t0 = time.perf_counter()
        dev = "cuda" if device == "auto" and _cuda() else ("cpu" if device == "auto" else device)
        recipe = _recipe(preset or default_preset(dev))
        if out.exists() and any(p.name in ("src_faces", "dst_faces") for p in out.iterdir()):
            raise CliError(f"-o {out}: holds an earlier demo; remove it or pick another --out")
        out.mkdir(parents=True, exist_ok=True)
        times: dict[str, float] = {}
        ui.note("1/6 fetching weights and demo videos")
        paths = _fetch(ui)
        times["fetch"] = time.perf_counter() - t0

        ui.note(f"2/6 extracting faces (src: franck.mp4, dst: cap12), {recipe.face_type.value} crops")
        t = time.perf_counter()
        size = max(resolution or recipe.resolution, 64)
        dst_clip = trim_video(paths["video-cap12"], out / "dst.mp4", dst_frames)
        pool = max(src_frames, src_pool)
        counts = _extract(paths["video-franck"], dst_clip, out, recipe.face_type, size, src_frames, pool, jobs, ui)
        times["extract"] = time.perf_counter() - t

        ui.note(f"3/6 training preset {recipe.name!r} for {minutes:g} min")
        t = time.perf_counter()
        train_cfg = _train_config(recipe, out, minutes, resolution, dims, batch, device)
        train_result = run_training(train_cfg, ui)
        times["train"] = time.perf_counter() - t

        ui.note("4/6 merging onto the dst clip")
        t = time.perf_counter()
        model = load_face_model(out / "model", dev)
        merge_cfg = MergeConfig.from_dict(demo_merge(int(train_cfg.model_config.get("resolution", 64))))
        merged = swap_video_from_faceset(
            dst_clip, out / "dst_faces", model, merge_cfg, out / "swap.mp4", progress=ui.progress
        )
        times["merge"] = time.perf_counter() - t

        ui.note("5/6 side-by-side picture")
        side_by_side(dst_clip, out / "swap.mp4", out / "src_faces", out / "side_by_side.png")

        ui.note("6/6 evaluating")
        t = time.perf_counter()
        scores = evaluate(out / "swap.mp4", dst_clip, out / "src_faces", max_frames=50, progress=ui.progress)
        verdict = likeness(scores)
        times["eval"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - t0
        report = {
            "out": str(out),
            "swap": str(out / "swap.mp4"),
            "side_by_side": str(out / "side_by_side.png"),
            "preset": recipe.name,
            **counts,
            "frames_merged": merged.frames_written,
            "training": train_result,
            "eval": scores,
            "likeness": {
                "reached": verdict.reached,
                "failed": verdict.failed(),
                "notes": likeness_notes(scores, verdict),
            },
            "seconds": {k: round(v, 1) for k, v in times.items()},
        }
        atomic_write(out / "eval.json", json.dumps(report, indent=2, default=str).encode())
        _print_report(ui, scores, verdict, times)
        done = f"done in {times['total'] / 60:.1f} min: {out / 'swap.mp4'}, {out / 'side_by_side.png'}"
        ui.result(report, f"{likeness_line(verdict, scores)}\n{done}")


def default_preset(device: str) -> str:
    """fs demo's recipe for a device: ``gpu`` on CUDA, ``cpu`` on CPUs that train fast in bf16 (AMX), else
    ``cpu-small`` (fp32 there: the ``cpu`` model gets too few steps in the demo's minutes)."""
    if device.startswith("cuda"):
        return "gpu"
    import torch

    from fs_train import Precision, resolve_precision

    fast, _ = resolve_precision(Precision.AUTO, torch.device("cpu"))
    return "cpu" if fast is Precision.BF16 else "cpu-small"


def _recipe(name: str) -> Preset:
    from fs_train import ConfigError as TrainConfigError
    from fs_train import get_preset

    try:
        return get_preset(name)
    except TrainConfigError as exc:
        raise CliError(f"--preset: {exc}") from exc


def _fetch(ui: Ui) -> dict[str, Path]:
    paths = {}
    with ui.progress("assets", len(DEMO_ASSETS)) as advance:
        for name in DEMO_ASSETS:
            paths[name] = assets.ensure_asset(name)
            advance(1)
    return paths


def _extract(
    franck: Path, dst_clip: Path, out: Path, face_type: FaceType, size: int, keep: int, pool: int, jobs: int, ui: Ui
) -> dict[str, int]:
    """Extract ``pool`` src faces (spread over franck.mp4) and every dst frame's face into two facesets, then keep
    the ``keep`` src faces nearest to the dst's head poses (``fs faceset sort --by pose-like``; the rest are
    removed, restorable)."""
    import fs_detect
    from fs_cli._cmd_faceset import SortKey, sort_order
    from fs_cli.pipeline import extract_to_faceset
    from fs_faceset import Faceset, remove
    from fs_merge import FrameReader

    every = max(1, FrameReader(franck).num_frames // pool)
    largest = fs_detect.ExtractSettings(track=fs_detect.TrackMode.LARGEST, size=size, face_type=face_type)
    found = extract_to_faceset(
        franck, out / "src_faces", largest, every=every, jobs=jobs, max_frames=pool, progress=ui.progress
    )
    dst = extract_to_faceset(dst_clip, out / "dst_faces", largest, jobs=jobs, progress=ui.progress)
    faces = Faceset.open(out / "src_faces")
    kept = len(faces)
    if kept > keep:
        chosen = set(sort_order(faces, SortKey.POSE_LIKE, keep, like=Faceset.open(out / "dst_faces")).tolist())
        remove(out / "src_faces", [face_id for i, face_id in enumerate(faces.ids) if i not in chosen])
        kept = len(chosen)
        ui.note(f"kept the {kept} of {len(faces)} src faces nearest to the dst's head poses")
    return {"src_faces": kept, "src_pool": found.faces, "dst_faces": dst.faces}


def _train_config(
    recipe: Preset, out: Path, minutes: float, resolution: int | None, dims: int | None, batch: int | None, device: str
) -> Any:
    from fs_train import ConfigError as TrainConfigError

    model_config: dict[str, Any] = {}
    if resolution is not None:
        model_config["resolution"] = resolution
    if dims is not None:
        model_config |= {"ae_dims": 2 * dims, "e_dims": dims, "d_dims": dims, "d_mask_dims": max(8, dims // 2)}
    overrides: dict[str, Any] = {"model_config": model_config, "steps": 10_000_000, "time_budget_s": minutes * 60.0,
                                 "device": device, "save_every": 0, "preview_every": 200}  # fmt: skip
    if batch is not None:
        overrides["batch_size"] = batch
    try:
        return recipe.config(out / "src_faces", out / "dst_faces", out / "model", **overrides)
    except TrainConfigError as exc:
        raise CliError(f"preset {recipe.name!r}: {exc}") from exc


def _print_report(ui: Ui, scores: dict[str, Any], verdict: Any, times: dict[str, float]) -> None:
    rows = []
    for k, v in scores.items():
        shown = json.dumps({a: round(b, 2) for a, b in v.items()}) if isinstance(v, dict) else v
        rows.append([k, shown, NOTES.get(k, "")])
    ui.table("fs demo: eval", ["metric", "value", "meaning"], rows)
    checks = [[n, f"{v:.3g}", lim, "yes" if ok else "NO"] for n, v, lim, ok in verdict.checks]
    ui.table("fs demo: likeness", ["check", "value", "needs", "passed"], checks)
    ui.table("fs demo: time (s)", ["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in times.items()])


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())
