"""Landmark quality measures: inter-ocular normalised error and temporal jitter."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fs_align._ert import similarity_params
from fs_align.errors import ShapeError

__all__ = ["inter_ocular", "jitter", "nme"]

_OUTER_EYE_CORNERS = (36, 45)


def _as_points(arr: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    out = np.asarray(arr, dtype=np.float64)
    if out.ndim < 2 or out.shape[-1] != 2:
        raise ShapeError(f"{name}: expected (..., P, 2) (x, y) points, got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ShapeError(f"{name}: contains NaN or infinite coordinates")
    return out


def inter_ocular(landmarks: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Distance between the outer eye corners (iBUG points 36 and 45) of ``(..., 68, 2)`` landmarks."""
    pts = _as_points(landmarks, "landmarks")
    if pts.shape[-2] != 68:
        raise ShapeError(f"landmarks: expected 68 iBUG points, got {pts.shape[-2]}")
    a, b = _OUTER_EYE_CORNERS
    return np.asarray(np.linalg.norm(pts[..., a, :] - pts[..., b, :], axis=-1))


def nme(pred: npt.ArrayLike, gt: npt.ArrayLike) -> float | npt.NDArray[np.float64]:
    """Normalised mean error: mean point-to-point distance over the ground truth's inter-ocular distance.

    The 300-W convention (outer eye corners, points 36 and 45).

    Args:
        pred: ``(68, 2)`` or ``(N, 68, 2)`` predicted (x, y) pixels.
        gt: ground truth of the same shape.

    Returns:
        a float for one face, an ``(N,)`` float64 array for a batch.

    Raises:
        ShapeError: shapes differ, are not 68-point sets, contain NaN, or the eye corners coincide.
    """
    p = _as_points(pred, "pred")
    g = _as_points(gt, "gt")
    if p.shape != g.shape:
        raise ShapeError(f"pred and gt differ in shape: {p.shape} vs {g.shape}")
    iod = inter_ocular(g)
    if np.any(iod <= 0):
        raise ShapeError("gt: the outer eye corners coincide (inter-ocular distance 0)")
    err = np.linalg.norm(p - g, axis=-1).mean(axis=-1) / iod
    return float(err) if np.ndim(err) == 0 else np.asarray(err)


def jitter(sequence: npt.ArrayLike, *, normalize: bool = True) -> float:
    """Mean frame-to-frame landmark motion after removing the global similarity motion.

    For each pair of consecutive frames the least-squares similarity (rotation, scale, translation) that
    takes frame ``t``'s points onto frame ``t + 1``'s is removed; what is left is the points' own motion
    (shaking of the predictor, and real expression change). The mean point distance of that residual is
    averaged over all pairs.

    Args:
        sequence: ``(T, P, 2)`` landmarks of one face over ``T >= 2`` frames.
        normalize: divide each pair's residual by the inter-ocular distance (68 points only), so the value
            is comparable across resolutions; otherwise pixels.

    Returns:
        the mean residual motion (fraction of the inter-ocular distance, or pixels).

    Raises:
        ShapeError: fewer than 2 frames, wrong shape, or NaN values.
    """
    seq = _as_points(sequence, "sequence")
    if seq.ndim != 3 or seq.shape[0] < 2:
        raise ShapeError(f"sequence: expected (T, P, 2) with T >= 2 frames, got shape {seq.shape}")
    src, dst = seq[:-1], seq[1:]
    a, b, tx, ty = np.moveaxis(similarity_params(src, dst), -1, 0)
    moved_x = a[:, None] * src[..., 0] - b[:, None] * src[..., 1] + tx[:, None]
    moved_y = b[:, None] * src[..., 0] + a[:, None] * src[..., 1] + ty[:, None]
    resid = np.hypot(dst[..., 0] - moved_x, dst[..., 1] - moved_y).mean(axis=-1)
    if normalize:
        iod = inter_ocular(dst)
        if np.any(iod <= 0):
            raise ShapeError("sequence: a frame's outer eye corners coincide (inter-ocular distance 0)")
        resid = resid / iod
    return float(resid.mean())
