"""The sort -> delete -> clean-up workflow: export thumbnails, let a person delete files, sync the deletions.

``export_thumbnails`` writes one JPEG per face named ``<rank>_<id>.jpg`` (rank = position in the given order,
so a file browser shows the sort) and a manifest ``.fs-thumbnails.json`` listing the exported ids.
``sync_deletions`` removes from the faceset exactly the exported faces whose JPEG is gone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from fs_faceset._ops import remove
from fs_faceset._shard import atomic_write
from fs_faceset.errors import FacesetError, FacesetFormatError
from fs_faceset.faceset import Faceset

__all__ = ["export_thumbnails", "sync_deletions"]

MANIFEST = ".fs-thumbnails.json"
_NAME = re.compile(r"^(?:\d+_)?([A-Za-z0-9_-]{1,64})\.jpg$")
_IGNORED = {"thumbs.db", "desktop.ini"}


def export_thumbnails(
    faceset: Faceset | str | Path,
    out_dir: str | Path,
    *,
    order: npt.ArrayLike | None = None,
    size: int = 128,
    quality: int = 90,
) -> list[Path]:
    """Write a ``size``-px JPEG thumbnail per face into ``out_dir`` (which must be empty or absent).

    Args:
        faceset: the faceset (or its folder).
        out_dir: destination folder.
        order: positions in the faceset (e.g. from :mod:`fs_faceset.sort`); files get a rank prefix so they list
            in this order. Default: faceset order.
        size: thumbnail side in pixels.
        quality: JPEG quality 1-100.

    Raises:
        FacesetError: ``out_dir`` is not empty, or bad ``size`` / ``quality`` / ``order``.
    """
    fs = faceset if isinstance(faceset, Faceset) else Faceset.open(faceset)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FacesetError(f"{out}: thumbnail folder must be empty")
    if size < 8 or not 1 <= quality <= 100:
        raise FacesetError(f"size must be >= 8 and quality 1-100, got {size} and {quality}")
    pos = np.arange(len(fs)) if order is None else np.asarray(order, dtype=np.int64)
    if pos.ndim != 1 or (pos.size and (pos.min() < 0 or pos.max() >= len(fs))) or len(set(pos.tolist())) != pos.size:
        raise FacesetError(f"order: expected distinct positions in 0..{len(fs) - 1}")
    out.mkdir(parents=True, exist_ok=True)
    ids = fs.ids
    width = max(5, len(str(len(pos))))
    written = []
    for start in range(0, len(pos), 64):
        chunk = pos[start : start + 64]
        for k, (p, img) in enumerate(zip(chunk, fs.images(chunk))):
            thumb = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", thumb, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
            if not ok:
                raise FacesetError(f"could not encode thumbnail of face {ids[p]}")
            path = out / f"{start + k:0{width}d}_{ids[p]}.jpg"
            path.write_bytes(bytes(buf))
            written.append(path)
    manifest = {"faceset": str(fs.path.resolve()), "ids": [ids[p] for p in pos]}
    atomic_write(out / MANIFEST, [json.dumps(manifest).encode("utf-8")])
    return written


def sync_deletions(faceset: Faceset | str | Path, thumb_dir: str | Path, *, compact: bool = False) -> list[str]:
    """Remove from the faceset the faces whose thumbnails were deleted from ``thumb_dir``.

    Only ids listed in the folder's manifest count; renaming a thumbnail (keeping ``_<id>.jpg``) is fine.

    Returns:
        the removed ids.

    Raises:
        FacesetFormatError: no manifest (not a thumbnail folder), a manifest for another faceset, or foreign
            files in the folder (names them); nothing is removed then.
    """
    fs = faceset if isinstance(faceset, Faceset) else Faceset.open(faceset)
    folder = Path(thumb_dir)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        exported = [str(i) for i in manifest["ids"]]
        source = str(manifest["faceset"])
    except FileNotFoundError:
        raise FacesetFormatError(f"{folder}: no {MANIFEST}; not a folder written by export_thumbnails") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FacesetFormatError(f"{folder / MANIFEST}: malformed thumbnail manifest ({exc!r})") from exc
    if Path(source) != fs.path.resolve():
        raise FacesetFormatError(f"{folder}: thumbnails belong to {source}, not {fs.path.resolve()}")
    present: set[str] = set()
    foreign: list[str] = []
    known = set(exported)
    for p in folder.iterdir():
        if p.name == MANIFEST or p.name.startswith(".") or p.name.lower() in _IGNORED:
            continue
        m = _NAME.match(p.name)
        fid = m.group(1).rsplit("_", 1)[-1] if m else None
        if fid is None or fid not in known or not p.is_file():
            foreign.append(p.name)
        else:
            present.add(fid)
    if foreign:
        shown = ", ".join(sorted(foreign)[:5]) + (" ..." if len(foreign) > 5 else "")
        raise FacesetFormatError(f"{folder}: {len(foreign)} files are not thumbnails of this faceset: {shown}")
    current = set(fs.ids)
    gone = [i for i in exported if i not in present and i in current]
    if gone:
        fs = remove(fs, gone)
        if compact:
            from fs_faceset._ops import compact as _compact

            _compact(fs)
    return gone
