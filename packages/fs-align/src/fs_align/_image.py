"""One place that checks and converts images and point arrays at package boundaries."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align.errors import ShapeError

__all__ = ["as_bgr_uint8", "check_image", "check_points"]


def _describe(arr: Any) -> str:
    if isinstance(arr, np.ndarray):
        return f"array of shape {arr.shape} and dtype {arr.dtype}"
    return f"{type(arr).__name__}"


def check_image(
    image: Any,
    name: str = "image",
    *,
    channels: int | None = 3,
    dtype: type | None = np.uint8,
    min_size: int = 1,
) -> npt.NDArray[Any]:
    """Check that ``image`` is an ``H x W x channels`` array of ``dtype`` and return it unchanged.

    Args:
        image: the array to check.
        name: the argument's name, used in the error message.
        channels: 3 for BGR, 1 or ``None`` for ``H x W`` masks (a 1-channel image must be 2-D), or ``0`` to
            accept either ``H x W`` or ``H x W x C``.
        dtype: the required dtype (``np.uint8`` or ``np.float32``), or ``None`` for any real dtype.
        min_size: smallest allowed height and width.

    Raises:
        ShapeError: naming ``name``, the expected layout and what was given.
    """
    if channels == 3:
        layout = "H x W x 3 BGR"
    elif channels in (1, None):
        layout = "H x W"
    elif channels == 0:
        layout = "H x W or H x W x C"
    else:
        layout = f"H x W x {channels}"
    want = f"{layout} {np.dtype(dtype).name if dtype is not None else 'numeric'}"
    if not isinstance(image, np.ndarray):
        raise ShapeError(f"{name}: expected a numpy {want} array, got {_describe(image)}")
    if channels in (1, None):
        ok_shape = image.ndim == 2
    elif channels == 0:
        ok_shape = image.ndim == 2 or image.ndim == 3
    else:
        ok_shape = image.ndim == 3 and image.shape[2] == channels
    if not ok_shape:
        raise ShapeError(f"{name}: expected {want}, got {_describe(image)}")
    if dtype is not None and image.dtype != np.dtype(dtype):
        raise ShapeError(f"{name}: expected {want}, got {_describe(image)}")
    if dtype is None and not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ShapeError(f"{name}: expected {want}, got {_describe(image)}")
    if image.shape[0] < min_size or image.shape[1] < min_size:
        got = f"{image.shape[1]}x{image.shape[0]}"
        raise ShapeError(f"{name}: expected at least {min_size}x{min_size} pixels, got {got}")
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        raise ShapeError(f"{name}: contains NaN or infinite values")
    return image


def as_bgr_uint8(image: Any, name: str = "image") -> npt.NDArray[np.uint8]:
    """Convert a grey, BGR or BGRA image to ``H x W x 3`` BGR ``uint8`` (the one documented conversion).

    Accepted: ``uint8`` ``H x W`` (grey), ``H x W x 1``, ``H x W x 3`` (BGR, returned as is), ``H x W x 4``
    (BGRA; alpha dropped); ``uint16`` is scaled by 1/257; float images must be in [0, 1] and are scaled by 255.

    Raises:
        ShapeError: for other layouts, NaN values, or floats outside [0, 1].
    """
    import cv2

    img = check_image(image, name, channels=0, dtype=None)
    if img.dtype == np.uint16:
        img = (img.astype(np.uint32) // 257).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        lo, hi = float(img.min()), float(img.max())
        if lo < 0.0 or hi > 1.0:
            raise ShapeError(f"{name}: float images must be in [0, 1], got values in [{lo:g}, {hi:g}]")
        img = np.round(img * 255.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ShapeError(f"{name}: expected uint8, uint16 or float in [0, 1], got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if img.shape[2] == 4:
        return np.ascontiguousarray(img[:, :, :3])
    if img.shape[2] == 3:
        return img.astype(np.uint8, copy=False)
    raise ShapeError(f"{name}: expected 1, 3 or 4 channels, got {img.shape[2]}")


def check_points(points: Any, name: str = "points", *, num: int | None = None) -> npt.NDArray[np.float64]:
    """Check an ``N x 2`` array of finite (x, y) points and return it as float64.

    Raises:
        ShapeError: wrong shape, wrong count (``num``), or NaN/inf values.
    """
    arr = np.asarray(points)
    if arr.ndim != 2 or arr.shape[1] != 2 or not (np.issubdtype(arr.dtype, np.number)):
        raise ShapeError(f"{name}: expected an N x 2 array of (x, y) points, got {_describe(arr)}")
    if num is not None and arr.shape[0] != num:
        raise ShapeError(f"{name}: expected {num} x 2 points, got {arr.shape[0]} x 2")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise ShapeError(f"{name}: contains NaN or infinite coordinates")
    return out
