"""Mask quality metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from fs_mask.errors import MaskError

__all__ = ["iou"]


def iou(pred: Any, target: Any, *, threshold: float = 0.5) -> float:
    """Intersection over union of two masks (``... x H x W``, float in [0, 1] or uint8 0-255), each
    thresholded at ``threshold``; 1.0 when both are empty.

    Raises:
        MaskError: different shapes.
    """
    a, b = np.asarray(pred), np.asarray(target)
    if a.shape != b.shape:
        raise MaskError(f"iou: masks differ in shape: {a.shape} vs {b.shape}")
    a = (a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a) >= threshold
    b = (b.astype(np.float32) / 255.0 if b.dtype == np.uint8 else b) >= threshold
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
