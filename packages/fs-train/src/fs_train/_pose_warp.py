"""Out-of-plane head-pose augmentation: a 2.5-D warp that turns an aligned face up/down (pitch) or sideways (yaw).

A model renders src at the poses its src faces show; where a dst looks further up than any src face it draws src
at src's nearest pose instead, and the swap reads a pitch offset (fs-train's README measures it). This warp gives
src samples the poses they lack, as an approximation:

1. **Depth.** The 68 landmarks are fitted with the 3-D mean face :data:`fs_align.MEAN_FACE_3D` under a scaled
   orthographic camera (a least-squares ``2 x 3`` map, its rows made orthonormal), which gives each landmark a
   depth while its image position stays the face's own.
2. **Turn.** The points are rotated about the image's horizontal axis (pitch; ``+`` looks up) and vertical axis
   (yaw; ``+`` turns toward the image's right, fs-align's :class:`fs_align.Pose` conventions) and projected back.
3. **Re-align.** The turned points are put back into the aligned crop the way fs-align crops a face (the
   least-squares similarity over :data:`fs_align.ALIGN_INDICES_68`), so the warped face is what aligning the
   turned head would give.
4. **Warp.** A thin-plate spline through the moved landmarks, with the crop's border held still, gives the
   backward map (for each output pixel, where to read the input); it is evaluated on a 17 x 17 grid and
   interpolated bilinearly in between (about 2 ms a sample).

It moves what the landmarks see (eyes, brows, nose, mouth, jaw line); what turning would hide or reveal (the far
side of the nose, under the chin) is not invented, so keep the angles small (DFL-scale: up to about 10 degrees).
``fs_align.estimate_pose`` on the turned landmarks reads the turn back (tested).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from fs_align import ALIGN_INDICES_68, MEAN_FACE_3D, umeyama

__all__ = ["pose_warp_maps", "turn_landmarks"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

_BORDER_PER_SIDE = 6
"""Fixed anchors per crop side (the spline holds the crop's edge still)."""

_GRID_NODES = 17
"""Nodes per side of the grid the spline is evaluated on (bilinear in between)."""


def _depths(pts: F64) -> F64:
    """Each landmark's depth (image pixels, ``+`` away from the camera) from the mean face's orthographic fit."""
    obj = MEAN_FACE_3D - MEAN_FACE_3D.mean(axis=0)
    img = pts - pts.mean(axis=0)
    proj, *_ = np.linalg.lstsq(obj, img, rcond=None)  # (3, 2): img ~ obj @ proj
    u, s, vt = np.linalg.svd(proj.T, full_matrices=False)  # proj.T (2, 3) = u diag(s) vt
    rows = u @ vt  # the nearest matrix with orthonormal rows
    scale = float(s.mean())
    z_axis = np.cross(rows[0], rows[1])
    depth: F64 = scale * (obj @ z_axis)
    return depth


def turn_landmarks(landmarks: npt.ArrayLike, pitch: float, yaw: float = 0.0) -> F64:
    """Aligned-face landmarks ``(68, 2)`` as they would be after turning the head by ``pitch`` / ``yaw`` degrees.

    ``pitch > 0`` looks up, ``yaw > 0`` turns toward the image's right (fs-align's pose conventions); the result is
    re-aligned onto the input landmarks by a similarity over :data:`fs_align.ALIGN_INDICES_68`, as cropping the
    turned face would.
    """
    pts = np.asarray(landmarks, np.float64)
    z = _depths(pts)
    c = pts.mean(axis=0)
    x, y = pts[:, 0] - c[0], pts[:, 1] - c[1]
    a, b = math.radians(pitch), math.radians(yaw)
    # camera axes: x right, y down, z away. Looking up moves the near nose tip (z < 0) up: y' = y cos a + z sin a.
    y1 = y * math.cos(a) + z * math.sin(a)
    z1 = -y * math.sin(a) + z * math.cos(a)
    # turning toward the image's right moves the near nose tip right: x' = x cos b - z sin b.
    x1 = x * math.cos(b) - z1 * math.sin(b)
    turned = np.stack([x1, y1], axis=1) + c
    idx = list(ALIGN_INDICES_68)
    back = umeyama(turned[idx], pts[idx], estimate_scale=True)
    out: F64 = turned @ back[:2, :2].T + back[:2, 2]
    return out


def _tps_fit(ctrl: F64, values: F64) -> tuple[F64, F64]:
    """Thin-plate spline weights ``(n, 2)`` and affine part ``(3, 2)`` mapping ``ctrl`` points onto ``values``."""
    n = len(ctrl)
    d2 = ((ctrl[:, None, :] - ctrl[None, :, :]) ** 2).sum(-1)
    k = 0.5 * d2 * np.log(np.maximum(d2, 1e-12))
    p = np.hstack([np.ones((n, 1)), ctrl])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = k + 1e-6 * np.eye(n)
    system[:n, n:] = p
    system[n:, :n] = p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = values
    sol = np.asarray(np.linalg.solve(system, rhs), np.float64)
    return sol[:n], sol[n:]


def _tps_eval(ctrl: F64, weights: F64, affine: F64, points: F64) -> F64:
    d2 = ((points[:, None, :] - ctrl[None, :, :]) ** 2).sum(-1)
    k = 0.5 * d2 * np.log(np.maximum(d2, 1e-12))
    out: F64 = k @ weights + affine[0] + points @ affine[1:]
    return out


def pose_warp_maps(landmarks: npt.ArrayLike, size: int, pitch: float, yaw: float = 0.0) -> tuple[F32, F32, F64]:
    """The ``remap`` maps that turn an aligned face by ``pitch`` / ``yaw`` degrees, and its turned landmarks.

    Args:
        landmarks: ``(68, 2)`` landmarks in the ``size x size`` aligned face's pixels.
        size: the face's side in pixels.
        pitch / yaw: the turn in degrees (see :func:`turn_landmarks`).

    Returns:
        ``(mapx, mapy, turned)``: ``size x size`` float32 source coordinates per output pixel (``cv2.remap``'s
        maps) and the ``(68, 2)`` landmarks of the warped face.
    """
    pts = np.asarray(landmarks, np.float64)
    turned = turn_landmarks(pts, pitch, yaw)
    edge = np.linspace(0.0, size - 1.0, _BORDER_PER_SIDE + 1)[:-1]
    far = float(size - 1)
    border = np.concatenate(
        [np.stack([edge, np.zeros_like(edge)], 1), np.stack([np.full_like(edge, far), edge], 1),
         np.stack([far - edge, np.full_like(edge, far)], 1), np.stack([np.zeros_like(edge), far - edge], 1)]
    )  # fmt: skip
    # landmarks that the turn pushes outside the crop would fight the fixed border: keep the ones inside
    inside = ((turned > 1.0) & (turned < size - 2.0)).all(axis=1) & ((pts > 1.0) & (pts < size - 2.0)).all(axis=1)
    ctrl = np.concatenate([turned[inside], border])
    values = np.concatenate([pts[inside], border])
    weights, affine = _tps_fit(ctrl, values)
    # the spline is smooth: evaluate it on a coarse grid of nodes and interpolate bilinearly between them
    nodes = min(size, _GRID_NODES)
    coarse = np.linspace(0.0, size - 1.0, nodes)
    gx, gy = np.meshgrid(coarse, coarse)
    grid = _tps_eval(ctrl, weights, affine, np.stack([gx.ravel(), gy.ravel()], 1)).reshape(nodes, nodes, 2)
    # bilinear in float64 by gathers (cv2.remap's fixed-point weights would be off by up to 1/32 of a cell, and a
    # BLAS matmul spins threads against the training's own in a loader process)
    at = np.arange(size, dtype=np.float64) * ((nodes - 1) / (size - 1.0))
    lo = np.minimum(at.astype(np.int64), nodes - 2)
    frac = (at - lo)[:, None, None]
    rows = grid[lo] * (1.0 - frac) + grid[lo + 1] * frac  # (size, nodes, 2)
    full = rows[:, lo] * (1.0 - frac[None, :, :, 0]) + rows[:, lo + 1] * frac[None, :, :, 0]  # (size, size, 2)
    mapx, mapy = (np.ascontiguousarray(full[..., c], dtype=np.float32) for c in (0, 1))
    return mapx, mapy, turned
