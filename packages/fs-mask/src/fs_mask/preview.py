"""Preview PNGs of a segmenter: one row per face, columns face | label | prediction (| overlay)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import atomic_write
from fs_mask.errors import MaskError

__all__ = ["preview_grid", "write_preview"]


def _grey(mask: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    g = np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.asarray(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def preview_grid(
    images: npt.NDArray[np.uint8], labels: npt.NDArray[np.float32], preds: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint8]:
    """Rows of face | label | prediction | face tinted by the prediction.

    Args:
        images: ``N x S x S x 3`` BGR uint8.
        labels, preds: ``N x S x S`` float32 in [0, 1].

    Returns:
        ``(N*S) x (4*S) x 3`` BGR uint8.
    """
    if images.ndim != 4 or labels.shape != images.shape[:3] or preds.shape != images.shape[:3]:
        raise MaskError(
            f"preview: expected N x S x S x 3 images and N x S x S labels/predictions, got {images.shape}, "
            f"{labels.shape}, {preds.shape}"
        )
    rows = []
    for img, lab, pred in zip(images, labels, preds, strict=True):
        tint = img.astype(np.float32)
        tint[..., 2] = tint[..., 2] * (1 - 0.5 * pred) + 255.0 * 0.5 * pred
        tint = np.clip(tint, 0, 255).astype(np.uint8)
        rows.append(np.hstack([img, _grey(lab), _grey(pred), tint]))
    return np.vstack(rows)


def write_preview(
    path: str | Path,
    images: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.float32],
    preds: npt.NDArray[np.float32],
) -> Path:
    """Write :func:`preview_grid` as a PNG at ``path`` (atomic); returns the path."""
    target = Path(path)
    ok, buf = cv2.imencode(".png", preview_grid(images, labels, preds))
    if not ok:
        raise MaskError(f"{target}: PNG encoding failed")
    return atomic_write(target, buf.tobytes())
