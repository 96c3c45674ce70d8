"""Input checks shared by the fs-merge modules (one place for image, mask and matrix validation)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align import ShapeError, check_image

__all__ = ["as_float_image", "check_color_image", "check_mask", "check_matrix", "from_float_image"]

_GREY_HINT = "(a grey image? convert it with fs_align.as_bgr_uint8 first)"


def check_color_image(image: Any, name: str) -> npt.NDArray[Any]:
    """Check a BGR ``H x W x 3`` image that is ``uint8`` or ``float32`` in [0, 1]; return it unchanged."""
    if isinstance(image, np.ndarray) and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] != 3)):
        raise ShapeError(f"{name}: expected an H x W x 3 BGR image, got shape {image.shape} {_GREY_HINT}")
    dtype = image.dtype if isinstance(image, np.ndarray) and image.dtype == np.float32 else np.uint8
    img = check_image(image, name, channels=3, dtype=dtype)
    if img.dtype == np.float32:
        lo, hi = float(img.min()), float(img.max())
        if lo < 0.0 or hi > 1.0:
            raise ShapeError(f"{name}: float32 images must be in [0, 1], got values in [{lo:g}, {hi:g}]")
    return img


def as_float_image(image: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """``uint8`` [0, 255] or ``float32`` [0, 1] image as ``float32`` [0, 1] (a copy for uint8)."""
    if image.dtype == np.uint8:
        return np.asarray(image.astype(np.float32) * np.float32(1.0 / 255.0), dtype=np.float32)
    return image.astype(np.float32, copy=False)


def from_float_image(image: npt.NDArray[np.float32], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """Clip a float [0, 1] image and convert it back to ``dtype`` (``uint8`` rounds)."""
    out = np.clip(image, 0.0, 1.0)
    if dtype == np.uint8:
        return np.asarray(np.rint(out * 255.0), dtype=np.uint8)
    return out.astype(np.float32, copy=False)


def check_mask(mask: Any, name: str, shape: tuple[int, int] | None = None) -> npt.NDArray[np.float32]:
    """Check an ``H x W`` mask (``uint8`` 0..255 or float in [0, 1]) and return it as ``float32`` [0, 1].

    An ``H x W x 1`` mask is accepted and squeezed. ``shape`` (H, W), when given, must match.
    """
    if isinstance(mask, np.ndarray) and mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    arr = check_image(mask, name, channels=1, dtype=None)
    if shape is not None and arr.shape[:2] != tuple(shape):
        raise ShapeError(
            f"{name}: expected an H x W mask of {shape[1]}x{shape[0]} pixels (the image's size), "
            f"got {arr.shape[1]}x{arr.shape[0]}"
        )
    if arr.dtype == np.uint8:
        return np.asarray(arr.astype(np.float32) * np.float32(1.0 / 255.0), dtype=np.float32)
    out = arr.astype(np.float32)
    lo, hi = float(out.min()), float(out.max())
    if lo < 0.0 or hi > 1.0:
        raise ShapeError(f"{name}: float masks must be in [0, 1], got values in [{lo:g}, {hi:g}]")
    return out


def check_matrix(matrix: Any, name: str = "image_to_face") -> npt.NDArray[np.float64]:
    """Check a finite, invertible 2x3 affine matrix; return it as float64."""
    arr = np.asarray(matrix, dtype=np.float64) if not isinstance(matrix, str) else np.empty(0)
    if arr.shape != (2, 3) or not np.all(np.isfinite(arr)):
        raise ShapeError(f"{name}: expected a finite 2x3 affine matrix, got shape {arr.shape}")
    if abs(float(np.linalg.det(arr[:, :2]))) < 1e-12:
        raise ShapeError(f"{name}: the 2x3 affine matrix is singular (its 2x2 part has determinant 0)")
    return arr
