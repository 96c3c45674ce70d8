"""Frame -> aligned-face affines following DeepFaceLab's face-type geometry.

How a crop is built (the geometry of DeepFaceLab's ``facelib/LandmarksProcessor.get_transform_mat``; the
code here is a closed-form restatement of it, not a copy):

1. **Unit space.** Fit a least-squares similarity (:func:`umeyama`) from the frame landmarks onto the
   canonical mean face :data:`fs_align.landmarks68.MEAN_FACE_2D`, using DFL's alignment subset: points 17-48
   (brows, nose, eyes, right mouth corner) plus 54 (left mouth corner) - the jaw and the lips, which move
   with expression and pose, are left out. The mean face spans the unit square ``[0, 1]^2``.
2. **Padding.** The crop is the square centred on ``(c_x, c_y)`` (``(0.5, 0.5)`` by default) with half-side
   ``h = 0.5 + padding * sqrt(2)`` unit-space units (DFL pads the square's half-diagonal by ``padding``
   diagonals), scaled to ``size x size`` pixels: ``face = (unit - c + h) * size / (2 h)``.
3. **Shifts** (unit-space units; y grows downward): WHOLE_FACE moves the centre up by 0.07 to take in more
   forehead; HEAD moves it up by 0.50 and sideways by ``yaw / 2`` toward the back of the head, where
   ``yaw`` is DFL's ``estimate_averaged_yaw`` on the unit-space landmarks (width of the image-right half of
   the face minus the image-left half, measured from the nose bridge 27-29 to the jaw points 0-2 / 14-16),
   damped near zero as ``yaw * |tanh(2 yaw)|``.

Every crop is a similarity (rotation + uniform scale + translation) of the frame.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from fs_align._image import check_points
from fs_align._umeyama import umeyama
from fs_align._warp import _check_size
from fs_align.errors import ShapeError
from fs_align.landmarks68 import FIVE_POINT_FROM_68, MEAN_FACE_2D
from fs_align.types import Alignment, FaceType, LandmarkScheme

__all__ = [
    "ALIGN_INDICES_68",
    "FACE_TYPE_PADDING",
    "FACE_TYPE_SHIFT",
    "align_face",
    "alignment_matrix",
    "canonical_landmarks",
]

ALIGN_INDICES_68: tuple[int, ...] = (*range(17, 49), 54)
"""The 33 iBUG-68 points the alignment fits (DFL: ``image_landmarks[17:49]`` plus ``[54:55]``)."""

FACE_TYPE_PADDING: Mapping[FaceType, float] = types.MappingProxyType(
    {
        FaceType.HALF: 0.0,
        FaceType.MID_FULL: 0.0675,
        FaceType.FULL: 0.2109375,
        FaceType.WHOLE_FACE: 0.40,
        FaceType.HEAD: 0.70,
    }
)
"""Padding per face type, in unit-square diagonals added to each side of the half-diagonal (DFL's
``FaceType_to_padding_remove_align`` in ``facelib/LandmarksProcessor.py``). The crop's half-side is
``0.5 + padding * sqrt(2)``: HALF 0.5, MID_FULL 0.595, FULL 0.798, WHOLE_FACE 1.066, HEAD 1.490 unit-space
units, so the 1 x 1 mean face fills 100 %, 84 %, 63 %, 47 % and 34 % of the crop's side."""

FACE_TYPE_SHIFT: Mapping[FaceType, float] = types.MappingProxyType(
    {
        FaceType.HALF: 0.0,
        FaceType.MID_FULL: 0.0,
        FaceType.FULL: 0.0,
        FaceType.WHOLE_FACE: 0.07,
        FaceType.HEAD: 0.50,
    }
)
"""Upward shift of the crop centre in unit-space units (DFL's ``get_transform_mat``: "7% below in order to
cover more forehead" for WHOLE_FACE, "50% below" for HEAD; "below" there moves the content down, i.e. the
crop window up)."""


def _canonical_five() -> npt.NDArray[np.float64]:
    full = np.full((68, 2), np.nan)
    full[17:] = MEAN_FACE_2D
    return np.stack([full[list(idx)].mean(axis=0) for idx in FIVE_POINT_FROM_68])


def _scheme_of(pts: npt.NDArray[np.float64], scheme: LandmarkScheme | None) -> LandmarkScheme:
    n = pts.shape[0]
    if scheme is None:
        if n == 68:
            return LandmarkScheme.IBUG68
        if n == 5:
            return LandmarkScheme.FIVE_POINT
        raise ShapeError(
            f"landmarks: expected 68 x 2 (iBUG-68) or 5 x 2 (five-point) (x, y) points, got {n} x 2; "
            "other layouts cannot be aligned"
        )
    if not isinstance(scheme, LandmarkScheme):
        raise ShapeError(f"scheme: expected a LandmarkScheme, got {scheme!r}")
    if n != scheme.num_points:
        raise ShapeError(f"landmarks: scheme {scheme.name} needs {scheme.num_points} x 2 points, got {n} x 2")
    return scheme


def _check_not_collinear(pts: npt.NDArray[np.float64]) -> None:
    centred = pts - pts.mean(axis=0)
    sing = np.linalg.svd(centred, compute_uv=False)
    if sing[0] <= 1e-9 * max(1.0, float(np.abs(pts).max())):
        raise ShapeError("landmarks: all points coincide; cannot align a face")
    if sing[1] < 1e-3 * sing[0]:
        raise ShapeError(
            f"landmarks: the points are (nearly) collinear (spread ratio {sing[1] / sing[0]:.2e}); cannot align"
        )


def _head_yaw(unit68: npt.NDArray[np.float64]) -> float:
    """DFL's ``estimate_averaged_yaw`` on unit-space landmarks, damped near zero."""
    x = unit68[:, 0]
    left = ((x[27] - x[0]) + (x[28] - x[1]) + (x[29] - x[2])) / 3.0
    right = ((x[16] - x[27]) + (x[15] - x[28]) + (x[14] - x[29])) / 3.0
    yaw = float(right - left)
    return yaw * abs(math.tanh(2.0 * yaw))


def _unit_to_face(face_type: FaceType, size: int, yaw: float) -> npt.NDArray[np.float64]:
    """The (3, 3) similarity from unit space to aligned-face pixels for one face type."""
    half = 0.5 + FACE_TYPE_PADDING[face_type] * math.sqrt(2.0)
    cx = 0.5 + (yaw / 2.0 if face_type is FaceType.HEAD else 0.0)
    cy = 0.5 - FACE_TYPE_SHIFT[face_type]
    k = size / (2.0 * half)
    return np.array([[k, 0.0, k * (half - cx)], [0.0, k, k * (half - cy)], [0.0, 0.0, 1.0]])


def alignment_matrix(
    landmarks: npt.ArrayLike,
    face_type: FaceType | str,
    size: int,
    *,
    scheme: LandmarkScheme | None = None,
) -> npt.NDArray[np.float32]:
    """The ``image_to_face`` affine that cuts a ``size x size`` aligned face of ``face_type`` from a frame.

    Args:
        landmarks: frame landmarks, ``(68, 2)`` iBUG-68 (x, y) pixels (the contract: float32; any real dtype
            is accepted), or ``(5, 2)`` five-point landmarks (right eye centre, left eye centre, nose tip,
            right mouth corner, left mouth corner - YuNet/MTCNN order). Five points are fitted onto the same
            mean face reduced the same way (eye centres are the means of points 36-41 and 42-47, the nose
            tip is 30, the mouth corners 48 and 54), so the crop matches the 68-point one to a few per cent
            of its size; for HEAD the yaw shift needs the jaw and is left out (a centred head crop).
        face_type: a :class:`FaceType` or its name (``"whole_face"``, ``"wf"``, ...).
        size: side of the aligned face in pixels.
        scheme: the landmark layout; inferred from the point count when omitted.

    Returns:
        ``(2, 3)`` float32 similarity from frame pixels to aligned-face pixels (see the module docs for the
        construction and :func:`canonical_landmarks` for where the landmarks land).

    Raises:
        ShapeError: wrong shape or count, NaN/inf, coincident or collinear landmarks, a bad ``size``.
        ConfigError: an unknown ``face_type`` (a ``ValueError``).
    """
    pts = check_points(landmarks, "landmarks")
    kind = _scheme_of(pts, scheme)
    ftype = FaceType.parse(face_type)
    n = _check_size(size)
    if kind is LandmarkScheme.IBUG68:
        src, dst = pts[list(ALIGN_INDICES_68)], MEAN_FACE_2D[[i - 17 for i in ALIGN_INDICES_68]]
    else:
        src, dst = pts, _canonical_five()
    _check_not_collinear(src)
    to_unit = umeyama(src, dst, estimate_scale=True)
    yaw = 0.0
    if ftype is FaceType.HEAD and kind is LandmarkScheme.IBUG68:
        unit = pts @ to_unit[:2, :2].T + to_unit[:2, 2]
        yaw = _head_yaw(unit)
    mat = _unit_to_face(ftype, n, yaw) @ to_unit
    return mat[:2].astype(np.float32)


def align_face(
    landmarks: npt.ArrayLike,
    face_type: FaceType | str = FaceType.WHOLE_FACE,
    size: int = 256,
    *,
    scheme: LandmarkScheme | None = None,
) -> Alignment:
    """:func:`alignment_matrix` wrapped in an :class:`fs_align.Alignment` (matrix, face type and size)."""
    ftype = FaceType.parse(face_type)
    mat = alignment_matrix(landmarks, ftype, size, scheme=scheme)
    return Alignment(image_to_face=mat, face_type=ftype, size=int(size))


def canonical_landmarks(face_type: FaceType | str, size: int) -> npt.NDArray[np.float32]:
    """Where the mean face's points 17-67 sit in a ``size x size`` aligned face of ``face_type``.

    Row ``i`` is iBUG point ``17 + i``. A face aligned with :func:`alignment_matrix` has its points
    :data:`ALIGN_INDICES_68` on these positions in the least-squares sense (exactly, if the face is a
    similarity image of the mean face). For HEAD the yaw-dependent sideways shift is taken as 0 (a frontal
    face).

    Returns:
        ``(51, 2)`` float32 (x, y) pixels.
    """
    ftype = FaceType.parse(face_type)
    mat = _unit_to_face(ftype, _check_size(size), 0.0)
    return np.asarray(MEAN_FACE_2D @ mat[:2, :2].T + mat[:2, 2], dtype=np.float32)
