"""Readers for landmark annotation files (iBUG ``.pts`` and menpo ``.ljson``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fs_align.errors import ShapeError

__all__ = ["read_ljson", "read_pts"]


def read_pts(path: str | Path) -> npt.NDArray[np.float32]:
    """Read an iBUG ``.pts`` file (``version``, ``n_points``, ``{ x y ... }``, 1-based pixel coordinates).

    Returns:
        ``(n_points, 2)`` float32 (x, y) in 0-based pixel coordinates (1 is subtracted).

    Raises:
        ShapeError: the file is malformed (names the file and the problem).
    """
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ShapeError(f"{path}: cannot read landmark file: {exc}") from exc
    try:
        header = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[: lines.index("{")])}
        n = int(header["n_points"])
        body = lines[lines.index("{") + 1 : lines.index("}")]
        pts = np.array([[float(v) for v in ln.split()] for ln in body], dtype=np.float64)
    except (ValueError, KeyError) as exc:
        raise ShapeError(f"{path}: not a valid .pts file ({exc})") from exc
    if pts.shape != (n, 2):
        raise ShapeError(f"{path}: header says {n} points, body has shape {pts.shape}")
    return (pts - 1.0).astype(np.float32)


def read_ljson(path: str | Path, group: str | None = None) -> npt.NDArray[np.float32]:
    """Read a menpo ``.ljson`` landmark file, whose points are stored as (y, x).

    Args:
        path: the file.
        group: which landmark group to read (default: the first group holding 68 points, else the first).

    Returns:
        ``(N, 2)`` float32 (x, y) pixel coordinates.

    Raises:
        ShapeError: the file is malformed or the group is missing.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        groups = data.get("groups", {"default": data})
        if group is None:
            sizes = {k: len(v["landmarks"]["points"]) for k, v in groups.items()}
            group = next((k for k, n in sizes.items() if n == 68), next(iter(groups)))
        pts = np.asarray(groups[group]["landmarks"]["points"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
        raise ShapeError(f"{path}: not a valid .ljson landmark file ({exc!r})") from exc
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ShapeError(f"{path}: group {group!r} holds shape {pts.shape}, expected N x 2")
    return pts[:, ::-1].astype(np.float32)
