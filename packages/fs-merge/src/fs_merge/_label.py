"""The "synthetic media" label: a visible corner mark on pixels and a text tag in PNG/JPEG/video metadata."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import atomic_write
from fs_merge._checks import check_color_image
from fs_merge.errors import MergeError

__all__ = ["LABEL_KEY", "LABEL_TEXT", "draw_label", "read_image_label", "write_image"]

LABEL_TEXT = "synthetic media: face generated or swapped by fs; not an authentic recording"
"""The metadata text fs-merge writes into every image and video it produces."""
LABEL_KEY = "synthetic_media"
"""Extra metadata key (video containers) / PNG ``tEXt`` keyword next to the ``Comment`` entry."""
_MARK = "SYNTHETIC"


def draw_label(image: npt.NDArray[np.uint8], text: str = _MARK) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with a small visible mark (``text`` on a dark box) in its bottom-right corner.

    Args:
        image: ``H x W x 3`` BGR ``uint8``.
        text: the mark; keep it short (ASCII).

    Returns:
        A new ``H x W x 3`` BGR ``uint8`` image; the mark's height is about 1/25 of the shorter side.
    """
    img = check_color_image(image, "image")
    if img.dtype != np.uint8:
        raise MergeError("draw_label: image must be uint8 BGR")
    out = img.copy()
    h, w = out.shape[:2]
    scale = max(0.3, min(h, w) / 25.0 / 22.0)
    thick = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, th // 3)
    x1, y1 = w - pad, h - pad
    x0, y0 = max(0, x1 - tw - 2 * pad), max(0, y1 - th - base - 2 * pad)
    box = out[y0:y1, x0:x1]
    box[:] = (box.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken 60 %: readable on any background
    cv2.putText(
        out,
        text,
        (x0 + pad, y1 - pad - base // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thick,
        cv2.LINE_AA,
    )
    return np.asarray(out, dtype=np.uint8)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_with_text(png: bytes, entries: dict[str, str]) -> bytes:
    # IHDR is always the first chunk: signature (8) + length (4) + "IHDR" (4) + 13 bytes + CRC (4) = 33 bytes.
    extra = b"".join(_png_chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1")) for k, v in entries.items())
    return png[:33] + extra + png[33:]


def _jpeg_with_comment(jpeg: bytes, text: str) -> bytes:
    payload = text.encode("utf-8")
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def write_image(
    path: str | Path,
    image: npt.NDArray[Any],
    *,
    label_visible: bool = True,
    label_text: str = LABEL_TEXT,
    jpeg_quality: int = 95,
) -> Path:
    """Write a labelled PNG or JPEG atomically.

    The file carries ``label_text`` in its metadata (PNG ``tEXt`` chunks ``Comment`` and ``synthetic_media``;
    JPEG ``COM`` segment) and, unless ``label_visible=False``, the visible corner mark of :func:`draw_label`.

    Args:
        path: ``.png``, ``.jpg`` or ``.jpeg``.
        image: ``H x W x 3`` BGR ``uint8``.
        label_visible: draw the corner mark.
        label_text: the metadata text.
        jpeg_quality: 1..100 for JPEG.

    Raises:
        MergeError: unsupported suffix or a failed encode; ShapeError for a bad image.
    """
    path = Path(path)
    img = check_color_image(image, "image")
    if img.dtype != np.uint8:
        raise MergeError("write_image: image must be uint8 BGR")
    if label_visible:
        img = draw_label(img)
    suffix = path.suffix.lower()
    if suffix == ".png":
        ok, buf = cv2.imencode(".png", img)
        data = _png_with_text(buf.tobytes(), {"Comment": label_text, LABEL_KEY: "true"}) if ok else b""
    elif suffix in (".jpg", ".jpeg"):
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        data = _jpeg_with_comment(buf.tobytes(), label_text) if ok else b""
    else:
        raise MergeError(f"{path}: write_image writes .png or .jpg/.jpeg, not {suffix or 'no suffix'}")
    if not ok:
        raise MergeError(f"{path}: OpenCV could not encode the image")
    atomic_write(path, data)
    return path


def read_image_label(path: str | Path) -> str | None:
    """The synthetic-media text of a PNG (``tEXt`` ``Comment``) or JPEG (``COM``), or ``None`` if absent."""
    data = Path(path).read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        pos = 8
        while pos + 8 <= len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            kind = data[pos + 4 : pos + 8]
            if kind == b"tEXt":
                key, _, value = data[pos + 8 : pos + 8 + length].partition(b"\0")
                if key == b"Comment":
                    return value.decode("latin-1")
            if kind == b"IDAT":
                break
            pos += 12 + length
        return None
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            if marker == 0xFE:
                return data[pos + 4 : pos + 2 + length].decode("utf-8", errors="replace")
            if marker == 0xDA:
                break
            pos += 2 + length
        return None
    return None
