"""Pictures for people: annotated debug frames, contact sheets, side-by-side panels (presentation only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["annotate_frame", "caption", "contact_sheet", "hstack_fit"]

U8 = npt.NDArray[np.uint8]


def annotate_frame(image: U8, faces: Sequence[Any], crops: Sequence[Any]) -> U8:
    """The frame with each face's box (green), 68 landmarks (red), track id, mask outline (cyan) and crop inset.

    ``faces`` hold ``box``, ``landmarks``, ``track``, ``score``; ``crops`` the written :class:`fs_faceset.Face`
    records (same order).
    """
    from fs_mask import landmark_mask

    out = image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(max(h, w) / 600))
    for k, pf in enumerate(faces):
        x0, y0, x1, y1 = (round(float(v)) for v in pf.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), thick)
        for x, y in np.asarray(pf.landmarks):
            cv2.circle(out, (round(x), round(y)), thick, (0, 0, 255), -1)
        label = f"#{pf.track} {pf.score:.2f}"
        cv2.putText(out, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (0, 255, 0), thick)
        if k < len(crops):
            face = crops[k]
            mask = (landmark_mask(face.landmarks, face.size) > 0.5).astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            inv = cv2.invertAffineTransform(face.image_to_face)
            for c in contours:
                pts = cv2.transform(c.astype(np.float32), inv).astype(np.int32)
                cv2.polylines(out, [pts], True, (255, 255, 0), thick)
            side = min(h // 3, w // 4, face.size)
            inset = cv2.resize(np.asarray(face.image), (side, side), interpolation=cv2.INTER_AREA)
            ox = w - side * (k + 1)
            if ox >= 0:
                out[0:side, ox : ox + side] = inset
                cv2.rectangle(out, (ox, 0), (ox + side - 1, side - 1), (255, 255, 255), 1)
    return np.asarray(out, dtype=np.uint8)


def caption(image: U8, text: str) -> U8:
    """A copy of ``image`` with ``text`` on a dark strip at the top."""
    out = image.copy()
    scale = max(0.35, out.shape[1] / 700)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (0, 0), (min(out.shape[1], tw + 8), th + base + 6), (0, 0, 0), -1)
    cv2.putText(out, text, (4, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.asarray(out, dtype=np.uint8)


def contact_sheet(
    images: Sequence[U8], labels: Sequence[str] | None = None, *, columns: int = 8, tile: int = 128
) -> U8:
    """Tiles of ``tile`` px in a grid of ``columns`` (each tile optionally captioned)."""
    n = max(1, len(images))
    cols = max(1, min(columns, n))
    rows = (n + cols - 1) // cols
    sheet = np.full((rows * tile, cols * tile, 3), 32, np.uint8)
    for i, img in enumerate(images):
        t = np.asarray(cv2.resize(np.asarray(img), (tile, tile), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        if labels is not None and i < len(labels):
            t = caption(t, labels[i])
        r, c = divmod(i, cols)
        sheet[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = t
    return sheet


def hstack_fit(images: Sequence[U8], height: int) -> U8:
    """Images scaled to ``height`` and placed side by side."""
    parts = []
    for img in images:
        h, w = img.shape[:2]
        parts.append(cv2.resize(img, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA))
    return np.concatenate(parts, axis=1)
