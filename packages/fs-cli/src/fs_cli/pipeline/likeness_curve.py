"""Time to likeness: train a recipe on two facesets and evaluate the swap every N training seconds.

``likeness_curve(preset, src_faces, dst_faces, dst_video, out_dir, seconds=..., every=...)`` trains with
``fs_train`` and, at each mark, swaps the dst clip in memory with the current weights (``fs_merge.swap_frames``,
the demo's merge settings) and scores it with :func:`fs_cli.pipeline.evaluate_frames`. The training clock counts
only training steps (evaluation pauses it). Each point: seconds, steps, samples, the identity / detail /
expression / pose numbers and the likeness verdict. ``plot_curves`` draws curves as a PNG (OpenCV only).
fs-cli's ``benchmarks/bench_time_to_likeness.py`` runs this side by side for several presets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import atomic_write
from fs_cli.pipeline.evaluate import evaluate_frames, identity_analyser, likeness, src_identity

__all__ = ["DEMO_MERGE", "demo_merge", "likeness_curve", "plot_curves"]

DEMO_MERGE = {
    "mode": "overlay", "color_transfer": "rct", "erode_px": 2, "feather_px": 6, "allow_partial": True,
    "mask": "learned-prd*hull", "sharpen": "gaussian", "sharpen_amount": 40,
}  # fmt: skip
"""The merge settings of ``fs demo`` (and of the curve's evaluations) for a 64-px model. The face is
unsharp-masked in face space (DeepFaceLab's merger ``blursharpen``, gaussian, 40): a 64-px model's face is
enlarged ~2.6x onto cap12's frame. Measured on the demo's own 1,493-step model: detail kept 0.42 (no sharpening)
-> 0.74 (30) -> 0.87 (40) -> 1.01 (50); SFace swap->src 0.578 -> 0.595, NME and pose unchanged; no halo at 40 by
eye. :func:`demo_merge` gives the settings for other model sizes."""


def demo_merge(resolution: int) -> dict[str, Any]:
    """:data:`DEMO_MERGE` for a model of ``resolution`` px: a smaller face is enlarged more, so it is sharpened more.

    Below 64 px the amount is 70: on the demo's 2,051-step 48-px model (``cpu-small``) detail kept went 0.62 (40)
    -> 0.82 (60) -> 1.04 (80), SFace swap->src 0.557 -> 0.563 -> 0.559, NME 0.046 -> 0.047; by eye 60 is crisper at
    the brows, eyes and mouth with no halo, 80 exaggerates the cheek lines. On the demo's model trained on
    pose-matched src faces (2,261 steps) 60 kept 0.80 and 70 0.90 (swap->src 0.582 -> 0.589, NME and pose the
    same); by eye 70 is a little crisper at the eyes and nostrils, with no halo and no harsh lines. With src turned
    toward dst's poses (fewer steps in the demo's time) the amount is 80: the two demo models (1,958 and 1,745
    steps) kept 0.82 / 0.76 at 70 and 0.94 / 0.85 at 80, swap->src, NME and pose unchanged (+-0.01); by eye 80 is
    marginally crisper with slightly stronger smile lines, no halo.
    """
    return DEMO_MERGE if resolution >= 64 else {**DEMO_MERGE, "sharpen_amount": 80}


def likeness_curve(
    preset: str,
    src_faces: Path,
    dst_faces: Path,
    dst_video: Path,
    out_dir: Path,
    *,
    seconds: float = 480.0,
    every: float = 60.0,
    eval_frames: int = 25,
    overrides: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Train ``preset`` for ``seconds`` of training time, evaluating every ``every`` seconds; returns the curve.

    The curve is also written to ``out_dir/curve.json`` after each point.
    """
    import fs_models
    from fs_cli.pipeline.swap import faces_from_faceset
    from fs_merge import FrameReader, MergeConfig, swap_frames
    from fs_train import Trainer, preset_config

    cfg = preset_config(preset, src_faces, dst_faces, out_dir / "model", **{
        "steps": 10**9, "save_every": 0, "preview_every": 0, "resume": False, **(overrides or {}),
    })  # fmt: skip
    identity = src_identity(src_faces)
    analyser = identity_analyser()
    faces = faces_from_faceset(dst_faces, dst_video.name)
    total = FrameReader(dst_video).num_frames
    picks = set(np.linspace(0, total - 1, min(eval_frames, total)).round().astype(int).tolist())
    frames = [(f.index, f.image) for f in FrameReader(dst_video) if f.index in picks]
    merge = MergeConfig.from_dict(demo_merge(int(cfg.model_config.get("resolution", 64))))
    curve: list[dict[str, Any]] = []
    clock = {"train_s": 0.0, "samples": 0, "next": every}

    def point(trainer: Trainer) -> None:
        t0 = time.perf_counter()
        trainer.model.eval()
        with trainer.ema_weights():
            model = fs_models.TorchFaceModel(trainer.model, trainer.device)
            swapped = dict(swap_frames(frames, faces, model, merge, workers=2))
        trainer.model.train()
        pairs: Iterator[tuple[Any, Any]] = ((img, swapped[i]) for i, img in frames)
        scores = evaluate_frames(pairs, identity, analyser)
        verdict = likeness(scores)
        curve.append({"seconds": round(clock["train_s"], 1), "step": trainer.step, "samples": clock["samples"],
                      **scores, "likeness": verdict.reached, "failed": verdict.failed(),
                      "eval_s": round(time.perf_counter() - t0, 1)})  # fmt: skip
        meta = {"preset": preset, "config": cfg.to_dict(), "precision": trainer.precision.value}
        atomic_write(out_dir / "curve.json", json.dumps({**meta, "curve": curve}, indent=1).encode())

    trainer: Trainer

    def on_step(info: Any) -> None:
        clock["train_s"] += info.elapsed_s
        clock["samples"] += cfg.batch_size * cfg.accum_steps
        if clock["train_s"] >= clock["next"]:
            clock["next"] += every
            point(trainer)
            if clock["train_s"] >= seconds:
                trainer.request_stop()

    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, callbacks=[on_step])
    trainer.fit()
    return curve


def plot_curves(
    curves: dict[str, Sequence[dict[str, Any]]], out: Path, key: str = "identity_cos_swap_vs_src", goal: float = 0.55
) -> Path:
    """A PNG of ``key`` against training seconds for each named curve, with the goal as a dashed line."""
    w, h, m = 900, 520, 60
    img = np.full((h, w, 3), 255, np.uint8)
    xmax = max((p["seconds"] for c in curves.values() for p in c), default=1.0) or 1.0
    ys = [p[key] for c in curves.values() for p in c] + [goal, 0.0]
    ylo, yhi = min(ys) - 0.05, max(ys) + 0.05

    def xy(x: float, y: float) -> tuple[int, int]:
        return int(m + (w - 2 * m) * x / xmax), int(h - m - (h - 2 * m) * (y - ylo) / (yhi - ylo))

    cv2.rectangle(img, (m, m), (w - m, h - m), (0, 0, 0), 1)
    for gx in np.linspace(0, xmax, 5):
        cv2.putText(img, f"{gx:.0f}s", (xy(gx, ylo)[0] - 15, h - m + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    for gy in np.linspace(ylo, yhi, 6):
        cv2.putText(img, f"{gy:.2f}", (5, xy(0, gy)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    gy0 = xy(0, goal)[1]
    for x in range(m, w - m, 12):
        cv2.line(img, (x, gy0), (min(x + 6, w - m), gy0), (0, 0, 200), 1)
    colours = [(200, 80, 0), (0, 140, 0), (0, 0, 220), (160, 0, 160), (0, 140, 200)]
    for k, (name, c) in enumerate(curves.items()):
        colour = colours[k % len(colours)]
        pts: npt.NDArray[np.int32] = np.array([xy(p["seconds"], p[key]) for p in c], np.int32)
        cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
        legend_y = h - m - 12 - 20 * (len(curves) - 1 - k)  # bottom right, away from the goal line
        cv2.putText(img, name, (w - m - 160, legend_y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, 1, cv2.LINE_AA)
    cv2.putText(img, f"{key} vs training seconds (dashed: likeness goal {goal})", (m, m - 15),
                cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
    buf = cv2.imencode(".png", img)[1]
    atomic_write(out, buf.tobytes())
    return out
