"""Atomic column updates of a faceset in place: new shards for the touched ones, then the index, then cleanup.

Order of the steps (each file write is itself atomic: temp file, fsync, rename, fsync the folder):

1. every touched shard is rewritten under a **new** name (the next free ``shard-NNNNNN``), the old one untouched;
2. ``index.json`` is replaced by one that names the new shards (the commit point);
3. the old shard files are deleted.

A crash before step 2 leaves the old index naming the old, untouched shards (the new files are orphans that
readers never look at); a crash after it leaves the new faceset complete (old files are orphans). An error
raised before the commit removes the new files again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align import ShapeError, check_image
from fs_faceset._index import Index, ShardEntry, write_index
from fs_faceset._pack import FORMAT_VERSION, ShardData
from fs_faceset._shard import Rows, atomic_write, shard_bytes

__all__ = ["as_mask", "rewrite_masks", "rewrite_polygons"]

U8 = npt.NDArray[np.uint8]


def as_mask(mask: Any, size: int, what: str) -> U8:
    """A mask given as ``S x S`` uint8 (0..255), float (0..1) or bool, as ``S x S`` uint8.

    Raises:
        ShapeError: wrong shape or dtype, non-finite values, or floats outside [0, 1].
    """
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        mask = mask.astype(np.uint8) * np.uint8(255)
    arr = check_image(mask, what, channels=1, dtype=None)
    if arr.shape != (size, size):
        raise ShapeError(f"{what}: expected a {size} x {size} mask (the faceset's size), got {arr.shape}")
    if arr.dtype == np.uint8:
        out: U8 = np.ascontiguousarray(arr)
        return out
    if not np.issubdtype(arr.dtype, np.floating):
        raise ShapeError(f"{what}: expected uint8 (0..255), bool or float (0..1), got {arr.dtype}")
    if not np.all(np.isfinite(arr)) or arr.min(initial=0) < -1e-6 or arr.max(initial=0) > 1 + 1e-6:
        raise ShapeError(f"{what}: float masks must hold finite values in [0, 1]")
    scaled: U8 = np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8)
    return scaled


def _shard_with_masks(shard: ShardData, rows: Mapping[int, U8 | None]) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors and metadata of ``shard`` with the masks of local ``rows`` replaced (``None`` clears one)."""
    t = shard.t
    old_index = np.asarray(t["mask_index"])
    masks: list[U8] = []
    index = np.full(shard.count, -1, dtype=np.int32)
    for r in range(shard.count):
        m = rows[r] if r in rows else (t["masks"][old_index[r]] if old_index[r] >= 0 else None)
        if m is not None:
            index[r] = len(masks)
            masks.append(m)
    tensors: dict[str, Any] = dict(t)
    tensors["masks"] = Rows(masks, (shard.size, shard.size), np.uint8)
    tensors["mask_index"] = index
    return tensors, {**shard.meta, "version": str(FORMAT_VERSION)}


Polys = tuple[tuple[Any, npt.NDArray[np.float32]], ...]


def _shard_with_polygons(shard: ShardData, rows: Mapping[int, Polys]) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors and metadata of ``shard`` with the polygons of local ``rows`` replaced (drawing order kept)."""
    t = shard.t
    fpo, offs, inc, pts = (
        np.asarray(t[k]) for k in ("face_poly_offsets", "poly_offsets", "poly_include", "poly_points")
    )
    points: list[npt.NDArray[np.float32]] = []
    include: list[int] = []
    per_face = [0]
    for r in range(shard.count):
        if r in rows:
            for kind, p in rows[r]:
                points.append(np.asarray(p, np.float32).reshape(-1, 2))
                include.append(int(getattr(kind, "value", kind) == "include"))
        else:
            for q in range(int(fpo[r]), int(fpo[r + 1])):
                points.append(pts[offs[q] : offs[q + 1]])
                include.append(int(inc[q]) & 1)
        per_face.append(len(points))
    tensors: dict[str, Any] = dict(t)
    tensors["poly_points"] = np.concatenate(points).astype(np.float32) if points else np.zeros((0, 2), np.float32)
    tensors["poly_offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in points])]).astype(np.int64)
    tensors["poly_include"] = np.array(include, dtype=np.uint8)
    tensors["face_poly_offsets"] = np.array(per_face, dtype=np.int64)
    return tensors, {**shard.meta, "version": str(FORMAT_VERSION)}


def rewrite_masks(
    folder: Path, index: Index, shards: list[ShardData], changes: Mapping[int, Mapping[int, Any]]
) -> Index:
    """Replace masks in place, atomically (see the module docstring); returns the committed index.

    ``changes`` maps a shard's position in ``index.shards`` to ``{local row: uint8 mask or None}``.
    """
    return _rewrite(folder, index, shards, changes, _shard_with_masks)


def rewrite_polygons(
    folder: Path, index: Index, shards: list[ShardData], changes: Mapping[int, Mapping[int, Polys]]
) -> Index:
    """Replace polygon labels in place, atomically; ``changes``: shard position -> ``{local row: polygons}``."""
    return _rewrite(folder, index, shards, changes, _shard_with_polygons)


def _rewrite(
    folder: Path, index: Index, shards: list[ShardData], changes: Mapping[int, Mapping[int, Any]], build: Any
) -> Index:
    next_no = 1 + max((int(s.file[6:12]) for s in index.shards), default=-1)
    entries = list(index.shards)
    written: list[Path] = []
    try:
        for pos in sorted(changes):
            tensors, meta = build(shards[pos], changes[pos])
            name = f"shard-{next_no:06d}.safetensors"
            next_no += 1
            chunks = shard_bytes(tensors, meta)
            written.append(folder / name)
            sha = atomic_write(folder / name, chunks)
            nbytes = sum(len(c) if isinstance(c, bytes) else c.nbytes for c in chunks)
            entries[pos] = ShardEntry(name, shards[pos].count, nbytes, sha)
        new = replace(index, shards=tuple(entries))
        write_index(folder, new)
    except BaseException:
        for p in written:
            with contextlib.suppress(OSError):
                p.unlink(missing_ok=True)
        raise
    remove_files(folder, [index.shards[pos].file for pos in changes])
    return new


def remove_files(folder: Path, names: list[str]) -> None:
    """Delete files no longer named by the index (best effort: an open reader's memory map keeps working)."""
    for name in names:
        with contextlib.suppress(OSError):
            (folder / name).unlink(missing_ok=True)
