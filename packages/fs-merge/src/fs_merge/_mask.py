"""Mask operations used when pasting a face: erode/dilate by N pixels, feathering, clipping to a region."""

from __future__ import annotations

import enum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_merge._checks import check_mask

__all__ = ["Feather", "clip_mask", "erode_mask", "feather_mask"]

F32 = npt.NDArray[np.float32]


class Feather(enum.Enum):
    """Kernel of :func:`feather_mask`."""

    GAUSSIAN = "gaussian"
    """Gaussian blur, ``sigma = px / 2`` with a ``(2 px + 1)`` kernel: a smooth S-shaped edge ~``px`` wide each side."""
    BOX = "box"
    """Box (mean) blur with a ``(2 px + 1)`` kernel: a linear ramp exactly ``px`` pixels wide each side."""


def _disk(radius: int) -> npt.NDArray[np.uint8]:
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)), np.uint8)


def erode_mask(mask: npt.NDArray[Any], px: int) -> F32:
    """Erode (``px > 0``) or dilate (``px < 0``) a mask by ``|px|`` pixels with a disc.

    Args:
        mask: ``H x W`` mask, ``uint8`` 0..255 or float in [0, 1].
        px: pixels to shrink the mask by; negative grows it; 0 returns the mask as float32.

    Returns:
        ``H x W`` float32 mask in [0, 1]. Pixels beyond the image border count as outside the mask (so a mask
        touching the border is eroded from it too).
    """
    m = check_mask(mask, "mask")
    if px == 0:
        return np.array(m, dtype=np.float32)
    kernel = _disk(abs(int(px)))
    if px > 0:
        out = cv2.erode(m, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0.0)
    else:
        out = cv2.dilate(m, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0.0)
    return np.asarray(out, dtype=np.float32)


def feather_mask(mask: npt.NDArray[Any], px: int, kind: Feather | str = Feather.GAUSSIAN) -> F32:
    """Soften a mask's edge over about ``px`` pixels on each side.

    Args:
        mask: ``H x W`` mask, ``uint8`` 0..255 or float in [0, 1].
        px: feather radius in pixels (0 returns the mask as float32).
        kind: :class:`Feather` kernel (``"gaussian"`` or ``"box"``).

    Returns:
        ``H x W`` float32 mask in [0, 1] (the image border is replicated while blurring).
    """
    m = check_mask(mask, "mask")
    if px < 0:
        raise ValueError(f"px: feather radius must be >= 0, got {px}")
    if px == 0:
        return np.array(m, dtype=np.float32)
    k = 2 * int(px) + 1
    if Feather(kind) is Feather.GAUSSIAN:
        out = cv2.GaussianBlur(m, (k, k), sigmaX=px / 2.0, borderType=cv2.BORDER_REPLICATE)
    else:
        out = cv2.blur(m, (k, k), borderType=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def clip_mask(mask: npt.NDArray[Any], region: npt.NDArray[Any], *, margin_px: int = 0) -> F32:
    """Clip a mask to a region (e.g. the face area): ``mask * erode(region, margin_px)``.

    Args:
        mask: ``H x W`` mask, ``uint8`` or float [0, 1].
        region: ``H x W`` mask of the allowed area (the face square unwarped into the frame, a landmark hull).
        margin_px: shrink the region by this many pixels first (keep a feathered edge inside it).

    Returns:
        ``H x W`` float32 mask in [0, 1].
    """
    m = check_mask(mask, "mask")
    r = check_mask(region, "region", m.shape[:2])
    if margin_px > 0:
        r = erode_mask(r, margin_px)
    return np.asarray(m * r, dtype=np.float32)
