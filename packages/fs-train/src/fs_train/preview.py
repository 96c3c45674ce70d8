"""Previews, the loss plot (drawn with OpenCV/numpy) and the JSONL metrics log."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch

__all__ = ["MetricsLog", "loss_plot", "preview_grid", "write_png"]

COLUMNS = ("src", "src->src", "dst", "dst->dst", "swap")


def write_png(path: str | Path, image: npt.NDArray[np.uint8]) -> Path:
    """Write a BGR uint8 image as PNG atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)
    return path


def _to_u8(t: torch.Tensor) -> npt.NDArray[np.uint8]:
    arr = t.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1))


def preview_grid(
    columns: Sequence[torch.Tensor], labels: Sequence[str] = COLUMNS, min_cell: int = 96
) -> npt.NDArray[np.uint8]:
    """Faces side by side: one row per sample, one column per tensor (N x 3 x R x R BGR in [0, 1]).

    Cells are upscaled (nearest) to at least ``min_cell`` px so small training resolutions stay readable; a
    header row names the columns. Returns a BGR uint8 image.
    """
    arrays = [_to_u8(c) for c in columns]
    n, r = arrays[0].shape[0], arrays[0].shape[1]
    k = max(1, math.ceil(min_cell / r))
    cell = r * k
    rows = []
    for i in range(n):
        cells = [cv2.resize(a[i], (cell, cell), interpolation=cv2.INTER_NEAREST) for a in arrays]
        rows.append(np.concatenate(cells, axis=1))
    grid = np.concatenate(rows, axis=0)
    header = np.full((22, grid.shape[1], 3), 32, np.uint8)
    for j, label in enumerate(labels[: len(arrays)]):
        cv2.putText(header, label, (j * cell + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1, cv2.LINE_AA)
    return np.concatenate([header, grid], axis=0)


_PLOT_COLORS = ((255, 160, 60), (60, 160, 255), (120, 220, 120), (200, 120, 220))


def loss_plot(
    steps: npt.ArrayLike, series: Mapping[str, npt.ArrayLike], size: tuple[int, int] = (800, 400)
) -> npt.NDArray[np.uint8]:
    """A log-scale line plot of loss curves (BGR uint8, ``size`` = (width, height)); smoothed by a running mean."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 60, 10, 10, 30
    x = np.asarray(steps, dtype=np.float64)
    curves = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
    good = [v[np.isfinite(v) & (v > 0)] for v in curves.values()]
    vals = np.concatenate(good) if good else np.zeros(0)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    if x.size < 2 or vals.size == 0:
        cv2.putText(img, "not enough steps yet", (left + 10, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        return img
    lo, hi = math.log10(vals.min()), math.log10(vals.max())
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    x0, x1 = float(x.min()), float(x.max()) if x.max() > x.min() else float(x.min()) + 1

    def px(xv: npt.NDArray[np.float64], yv: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
        u = left + (xv - x0) / (x1 - x0) * (w - left - right)
        v = top + (hi - np.log10(yv)) / (hi - lo) * (h - top - bottom)
        pts: npt.NDArray[np.int32] = np.stack([u, v], axis=1).round().astype(np.int32)
        return pts

    for e in range(math.floor(lo), math.ceil(hi) + 1):
        for m in (1, 2, 5):
            tick = e + math.log10(m)
            if lo <= tick <= hi:
                yy = round(top + (hi - tick) / (hi - lo) * (h - top - bottom))
                cv2.line(img, (left, yy), (w - right, yy), (220, 220, 220) if m > 1 else (170, 170, 170), 1)
                label = f"{m * 10.0**e:g}"
                cv2.putText(img, label, (5, yy + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1)
    cv2.putText(img, f"step {int(x0)}", (left, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(img, f"{int(x1)}", (w - right - 50, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    win = max(1, x.size // 100)
    for i, (name, v) in enumerate(curves.items()):
        ok = np.isfinite(v) & (v > 0)
        if ok.sum() < 2:
            continue
        vv = v[ok]
        if win > 1:
            vv = np.convolve(vv, np.ones(win) / win, mode="valid")
        xx = x[ok][: vv.size] if win == 1 else x[ok][win - 1 :]
        color = _PLOT_COLORS[i % len(_PLOT_COLORS)]
        cv2.polylines(img, [px(xx, vv).reshape(-1, 1, 2)], False, color, 1, cv2.LINE_AA)
        cv2.putText(img, name, (w - right - 120, top + 18 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1)
    return img


class MetricsLog:
    """Append-only JSONL metrics (one object per line, flushed each write).

    On resume the lines past the checkpoint's step (written after the last save, before a crash) are dropped
    so the log matches the restored state.
    """

    def __init__(self, path: str | Path, resume_step: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            keep = []
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if int(rec.get("step", 0)) <= resume_step:
                    keep.append(line)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text("".join(k + "\n" for k in keep))
            os.replace(tmp, self.path)
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record."""
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        if not self._fh.closed:
            self._fh.close()
