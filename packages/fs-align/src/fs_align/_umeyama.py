"""Least-squares similarity between two 2-D point sets (Umeyama 1991)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fs_align._image import check_points
from fs_align.errors import ShapeError

__all__ = ["umeyama"]


def umeyama(src: npt.ArrayLike, dst: npt.ArrayLike, estimate_scale: bool = True) -> npt.NDArray[np.float64]:
    """The similarity ``T`` that maps ``src`` onto ``dst`` with the least squared error.

    Solves ``min_{c, R, t} sum_i |dst_i - (c R src_i + t)|^2`` over rotations ``R`` (det +1, never a
    reflection), scales ``c > 0`` (``c = 1`` when ``estimate_scale`` is false) and translations ``t``, in
    closed form (S. Umeyama, "Least-squares estimation of transformation parameters between two point
    patterns", IEEE PAMI 13(4), 1991, eqs. 38-43). When the best orthogonal fit would be a reflection (for
    example a mirrored point set) the rotation with the smallest error is returned instead, as eq. 39 and
    43 prescribe. Computed in float64.

    Args:
        src: ``(N, 2)`` source points (x, y), any real dtype.
        dst: ``(N, 2)`` destination points, same ``N``.
        estimate_scale: fit the scale ``c`` (true) or keep ``c = 1`` (a rigid fit).

    Returns:
        ``(3, 3)`` float64 homogeneous matrix ``[[c R, t], [0, 0, 1]]``; ``T @ [x, y, 1]`` maps a source point.

    Raises:
        ShapeError: wrong shapes, different point counts, NaN/inf values, fewer than two distinct points in
            ``src`` or ``dst``, or point sets whose cross-covariance vanishes (no rotation is determined).
            A degenerate problem always raises; it never returns an identity or NaN matrix.
    """
    s = check_points(src, "src")
    d = check_points(dst, "dst")
    if s.shape != d.shape:
        raise ShapeError(f"src and dst: expected the same number of points, got {s.shape[0]} and {d.shape[0]}")
    n = s.shape[0]
    if n < 2:
        raise ShapeError(f"src: need at least 2 points to fit a similarity, got {n}")
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    s_c, d_c = s - s_mean, d - d_mean
    for name, pts, centred in (("src", s, s_c), ("dst", d, d_c)):
        extent = float(np.sqrt((centred**2).sum(axis=1).max()))
        magnitude = max(1.0, float(np.abs(pts).max()))
        if extent <= 1e-9 * magnitude:
            raise ShapeError(f"{name}: all {n} points coincide (need at least 2 distinct points)")
    src_var = float((s_c**2).sum()) / n
    cov = d_c.T @ s_c / n  # eq. 38
    u, sing, vt = np.linalg.svd(cov)
    if sing[0] <= 1e-12 * np.sqrt(src_var * float((d_c**2).sum()) / n):
        raise ShapeError("src and dst: the point sets are uncorrelated (zero cross-covariance); no rotation fits")
    # eq. 39/43: flip the weakest axis when U V^T would be a reflection; this also covers rank(cov) = 1.
    signs = np.array([1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) > 0 else -1.0])
    rot = u @ np.diag(signs) @ vt  # eq. 40
    scale = float(sing @ signs) / src_var if estimate_scale else 1.0  # eq. 42
    if scale <= 1e-12 * max(1.0, float(sing[0]) / src_var):
        raise ShapeError("src and dst: dst is a mirror image of src; no proper similarity fits (scale would be 0)")
    out = np.eye(3, dtype=np.float64)
    out[:2, :2] = scale * rot
    out[:2, 2] = d_mean - scale * rot @ s_mean  # eq. 41
    return out
