"""Affine warps between frames and aligned faces, and point transforms (OpenCV pixel-centre convention).

Coordinates: pixel ``(i, j)`` of an image has its centre at ``x = j, y = i`` (OpenCV's and the ``.pts``
readers' convention), so :func:`transform_points` and the image warps agree to floating-point precision.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align._image import check_image, check_points
from fs_align.errors import ShapeError

__all__ = [
    "Border",
    "Interpolation",
    "check_affine",
    "transform_points",
    "unwarp_face",
    "unwarp_face_with_mask",
    "warp_face",
]

_WARP_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


class Interpolation(enum.Enum):
    """Resampling filter of a warp."""

    NEAREST = "nearest"
    """Nearest neighbour: for label images only."""
    LINEAR = "linear"
    """Bilinear: fast, slightly soft; the default for masks."""
    CUBIC = "cubic"
    """Bicubic (4 x 4 taps): sharp, little ringing; the default for faces (about half the cost of LANCZOS4)."""
    LANCZOS4 = "lanczos4"
    """Lanczos (8 x 8 taps): sharpest, what DeepFaceLab's extractor uses; slower."""

    @property
    def cv2_flag(self) -> int:
        """The matching ``cv2.INTER_*`` constant."""
        return {
            Interpolation.NEAREST: cv2.INTER_NEAREST,
            Interpolation.LINEAR: cv2.INTER_LINEAR,
            Interpolation.CUBIC: cv2.INTER_CUBIC,
            Interpolation.LANCZOS4: cv2.INTER_LANCZOS4,
        }[self]


class Border(enum.Enum):
    """What a warp samples outside the source image."""

    CONSTANT = "constant"
    """Zeros (black): honest about missing pixels; the default (as DeepFaceLab's extractor)."""
    REPLICATE = "replicate"
    """Repeat the edge pixel: no black corners, but streaks where the crop leaves the frame."""

    @property
    def cv2_flag(self) -> int:
        """The matching ``cv2.BORDER_*`` constant."""
        return cv2.BORDER_CONSTANT if self is Border.CONSTANT else cv2.BORDER_REPLICATE


def check_affine(matrix: npt.ArrayLike, name: str = "matrix") -> npt.NDArray[np.float64]:
    """Check a finite, invertible ``(2, 3)`` affine matrix and return it as float64.

    Raises:
        ShapeError: wrong shape, NaN/inf entries, or a singular linear part (the matrix names ``name``).
    """
    arr = np.asarray(matrix)
    if arr.shape != (2, 3) or not np.issubdtype(arr.dtype, np.number):
        got = f"shape {arr.shape} and dtype {arr.dtype}"
        raise ShapeError(f"{name}: expected a (2, 3) affine matrix (frame -> face), got {got}")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise ShapeError(f"{name}: contains NaN or infinite entries")
    lin = out[:, :2]
    if abs(float(np.linalg.det(lin))) <= 1e-12 * max(1.0, float(np.abs(lin).max()) ** 2):
        raise ShapeError(f"{name}: the affine is singular (its 2 x 2 part has determinant 0)")
    return out


def _invert(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def transform_points(points: npt.ArrayLike, matrix: npt.ArrayLike, invert: bool = False) -> npt.NDArray[np.float32]:
    """Map ``(N, 2)`` (x, y) points through a ``(2, 3)`` affine (or its inverse when ``invert``).

    With an ``image_to_face`` matrix, ``invert=False`` takes frame points to aligned-face points and
    ``invert=True`` takes face points back to the frame. Computed in float64.

    Returns:
        ``(N, 2)`` float32 points.

    Raises:
        ShapeError: ``points`` is not ``N x 2`` finite numbers, or ``matrix`` is not a finite invertible 2x3.
    """
    pts = check_points(points, "points")
    m = check_affine(matrix)
    if invert:
        m = _invert(m)
    return np.asarray(pts @ m[:, :2].T + m[:, 2], dtype=np.float32)


def _check_warp_image(image: object, name: str) -> npt.NDArray[Any]:
    img = check_image(image, name, channels=0, dtype=None)
    if img.dtype.type not in _WARP_DTYPES:
        raise ShapeError(f"{name}: expected dtype uint8, uint16, float32 or float64, got {img.dtype}")
    if img.ndim == 3 and not 1 <= img.shape[2] <= 4:
        raise ShapeError(f"{name}: expected 1 to 4 channels, got {img.shape[2]}")
    return img


def _check_size(size: int, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ShapeError(f"{name}: expected a positive int (output side in pixels), got {size!r}")
    return int(size)


def _warp(
    src: npt.NDArray[Any],
    m: npt.NDArray[np.float64],
    dsize: tuple[int, int],
    interpolation: Interpolation,
    border: Border,
    antialias: bool,
) -> npt.NDArray[Any]:
    """Warp ``src`` by ``m`` (src pixels -> dst pixels) into a ``dsize = (w, h)`` image.

    When ``antialias`` is on and ``m`` shrinks by a factor ``s < 2/3``, the part of ``src`` that the output
    sees is first low-passed with a Gaussian of sigma ``(1/s - 1) / 2`` source pixels (scikit-image's
    ``rescale`` rule): ``warpAffine`` samples only a 4 x 4 (cubic) neighbourhood and has no area mode, so
    without it fine texture aliases. The Gaussian is symmetric, so the geometry is unchanged.
    """
    scale = math.sqrt(abs(float(np.linalg.det(m[:, :2]))))
    sigma = (1.0 / scale - 1.0) / 2.0 if scale > 0 else 0.0
    if antialias and sigma >= 0.25:
        h_src, w_src = src.shape[:2]
        inv = _invert(m)
        w, h = dsize
        corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        back = corners @ inv[:, :2].T + inv[:, 2]
        margin = 3.0 * sigma + 4.0  # the blur's reach plus the interpolation's support
        x0 = max(0, math.floor(back[:, 0].min() - margin))
        y0 = max(0, math.floor(back[:, 1].min() - margin))
        x1 = min(w_src, math.ceil(back[:, 0].max() + margin) + 1)
        y1 = min(h_src, math.ceil(back[:, 1].max() + margin) + 1)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            roi = cv2.GaussianBlur(src[y0:y1, x0:x1], (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
            src = roi if roi.ndim == src.ndim else roi[:, :, None]
            m = m.copy()
            m[:, 2] += m[:, :2] @ np.array([x0, y0], dtype=np.float64)  # roi pixel (u, v) is frame (u+x0, v+y0)
    out = cv2.warpAffine(
        src,
        m,
        dsize,
        flags=interpolation.cv2_flag,
        borderMode=border.cv2_flag,
        borderValue=(0.0, 0.0, 0.0, 0.0),
    )
    if out.ndim < src.ndim:  # OpenCV drops a trailing channel axis of 1
        out = out[:, :, None]
    return np.asarray(out)


def warp_face(
    frame: npt.NDArray[Any],
    matrix: npt.ArrayLike,
    size: int,
    *,
    interpolation: Interpolation = Interpolation.CUBIC,
    border: Border = Border.CONSTANT,
    antialias: bool = True,
) -> npt.NDArray[Any]:
    """Cut the aligned ``size x size`` face out of a frame.

    Args:
        frame: ``H x W x 3`` BGR ``uint8`` image (the usual case; also accepted: ``H x W`` or ``H x W x C``
            with C 1-4, dtype uint8, uint16, float32 or float64, any range, e.g. masks).
        matrix: ``(2, 3)`` ``image_to_face`` affine (frame pixels -> face pixels), e.g. from
            :func:`alignment_matrix`.
        size: output side in pixels.
        interpolation: resampling filter; bicubic by default (sharp, little ringing; use
            :attr:`Interpolation.LINEAR` for masks).
        border: what to fill where the face square leaves the frame (black by default).
        antialias: when the face is shrunk below 2/3 (a big face in a 1080p frame cut to 256 px), low-pass
            the source region first (Gaussian, see below) so fine texture does not alias.

    Returns:
        ``size x size`` (x C) image of the frame's dtype.

    Raises:
        ShapeError: bad ``frame``, ``matrix`` or ``size``.
    """
    img = _check_warp_image(frame, "frame")
    m = check_affine(matrix)
    n = _check_size(size)
    return _warp(img, m, (n, n), interpolation, border, antialias)


def _frame_hw(frame_shape: Sequence[int]) -> tuple[int, int]:
    try:
        dims = tuple(int(v) for v in frame_shape)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"frame_shape: expected (H, W) or (H, W, C) ints, got {frame_shape!r}") from exc
    if len(dims) not in (2, 3) or dims[0] < 1 or dims[1] < 1:
        raise ShapeError(f"frame_shape: expected (H, W) or (H, W, C) with H, W >= 1, got {frame_shape!r}")
    return dims[0], dims[1]


def _paste_region(
    m_face_to_frame: npt.NDArray[np.float64], face_hw: tuple[int, int], hw: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The frame box (x0, y0, x1, y1) that the face square covers (plus a 2 px margin), or None if outside."""
    fh, fw = face_hw
    corners = np.array([[-1.0, -1.0], [fw, -1.0], [fw, fh], [-1.0, fh]])
    pts = corners @ m_face_to_frame[:, :2].T + m_face_to_frame[:, 2]
    x0 = max(0, math.floor(pts[:, 0].min()) - 2)
    y0 = max(0, math.floor(pts[:, 1].min()) - 2)
    x1 = min(hw[1], math.ceil(pts[:, 0].max()) + 3)
    y1 = min(hw[0], math.ceil(pts[:, 1].max()) + 3)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _unwarp(
    face: npt.NDArray[Any],
    m: npt.NDArray[np.float64],
    hw: tuple[int, int],
    interpolation: Interpolation,
    antialias: bool,
) -> npt.NDArray[Any]:
    out = np.zeros(hw + face.shape[2:], dtype=face.dtype)
    face_to_frame = _invert(m)
    box = _paste_region(face_to_frame, face.shape[:2], hw)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    shifted = face_to_frame.copy()
    shifted[:, 2] -= (x0, y0)
    out[y0:y1, x0:x1] = _warp(face, shifted, (x1 - x0, y1 - y0), interpolation, Border.CONSTANT, antialias)
    return out


def unwarp_face(
    face: npt.NDArray[Any],
    matrix: npt.ArrayLike,
    frame_shape: Sequence[int],
    *,
    interpolation: Interpolation = Interpolation.CUBIC,
    antialias: bool = True,
) -> npt.NDArray[Any]:
    """Warp an aligned face back into frame coordinates (the inverse of :func:`warp_face`).

    Only the frame box the face covers is resampled; everything outside the face square is 0. Combine with
    :func:`unwarp_face_with_mask` to blend the result over the frame.

    Args:
        face: ``S x S x 3`` BGR ``uint8`` aligned face (also accepted: any ``H x W`` or ``H x W x C`` image
            with C 1-4 and dtype uint8, uint16, float32 or float64, e.g. a float mask in [0, 1]).
        matrix: the same ``(2, 3)`` ``image_to_face`` affine that cut the face (frame -> face).
        frame_shape: ``(H, W)`` or ``(H, W, C)`` of the frame (``frame.shape``); only H and W are used.
        interpolation: resampling filter (bicubic by default).
        antialias: low-pass the face first when it is shrunk below 2/3 (a 256 px face pasted into a 100 px
            frame region).

    Returns:
        ``H x W`` (x C) image of the face's dtype, zeros where the face does not reach.

    Raises:
        ShapeError: bad ``face``, ``matrix`` or ``frame_shape``.
    """
    img = _check_warp_image(face, "face")
    m = check_affine(matrix)
    return _unwarp(img, m, _frame_hw(frame_shape), interpolation, antialias)


def unwarp_face_with_mask(
    face: npt.NDArray[Any],
    matrix: npt.ArrayLike,
    frame_shape: Sequence[int],
    *,
    interpolation: Interpolation = Interpolation.CUBIC,
    antialias: bool = True,
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32]]:
    """:func:`unwarp_face` plus where the face is valid in the frame.

    Returns:
        ``(image, mask)``: the unwarped face as :func:`unwarp_face` returns it, and a ``H x W`` float32 mask
        in [0, 1] that is 1 where a frame pixel maps inside the face square, 0 outside, with a one-pixel
        bilinear ramp at the square's edge (so ``mask * image + (1 - mask) * frame`` pastes the face back).

    Raises:
        ShapeError: bad ``face``, ``matrix`` or ``frame_shape``.
    """
    img = _check_warp_image(face, "face")
    m = check_affine(matrix)
    hw = _frame_hw(frame_shape)
    image = _unwarp(img, m, hw, interpolation, antialias)
    ones = np.ones(img.shape[:2], dtype=np.float32)
    mask = _unwarp(ones, m, hw, Interpolation.LINEAR, False)  # bilinear weights of 0/1: already in [0, 1]
    return image, np.asarray(mask, dtype=np.float32)
