"""Faceset maintenance: remove (tombstones), compact (rewrite without them), merge, validate."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fs_align import sha256_file
from fs_faceset._index import INDEX_NAME, read_index, write_index
from fs_faceset._pack import ImageCodec
from fs_faceset.errors import FacesetError, FacesetFormatError, FacesetIntegrityError
from fs_faceset.faceset import Faceset, FacesetWriter

__all__ = ["ValidationReport", "compact", "merge", "remove", "restore", "validate"]


def remove(path: str | Path | Faceset, ids: Iterable[str]) -> Faceset:
    """Mark faces as removed (recorded in ``index.json``, atomically); returns the reopened faceset.

    The shards are untouched until :func:`compact`. Unknown ids raise.

    Raises:
        FacesetError: an id is not in the faceset.
    """
    fs = path if isinstance(path, Faceset) else Faceset.open(path)
    folder = fs.path
    index = read_index(folder)
    known = set(Faceset.open(folder, include_removed=True).ids)
    ids = list(ids)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise FacesetError(f"{folder}: no faces with ids {unknown[:5]}{'...' if len(unknown) > 5 else ''}")
    write_index(folder, replace(index, removed=index.removed | frozenset(ids)))
    return Faceset.open(folder)


def restore(path: str | Path | Faceset, ids: Iterable[str] | None = None) -> Faceset:
    """Undo :func:`remove` for ``ids`` (default: every removed face) until :func:`compact` has dropped them;
    atomic like :func:`remove`; returns the reopened faceset. Ids that are not removed are ignored.

    Raises:
        FacesetError: an id is not in the faceset (compacted away, or never there).
    """
    folder = path.path if isinstance(path, Faceset) else Path(path)
    index = read_index(folder)
    wanted = set(index.removed) if ids is None else set(ids)
    known = set(Faceset.open(folder, include_removed=True).ids)
    unknown = sorted(wanted - known)
    if unknown:
        raise FacesetError(f"{folder}: no faces with ids {unknown[:5]}{'...' if len(unknown) > 5 else ''} to restore")
    write_index(folder, replace(index, removed=index.removed - frozenset(wanted)))
    return Faceset.open(folder)


def compact(path: str | Path | Faceset, *, shard_size: int = 512) -> Faceset:
    """Rewrite the faceset without its removed faces (new shards first, then the index, then old files go).

    A crash midway leaves the old faceset readable (its index still names only the old shards).
    """
    fs = path if isinstance(path, Faceset) else Faceset.open(path)
    folder = fs.path
    old = read_index(folder)
    staging = folder / ".compact"
    shutil.rmtree(staging, ignore_errors=True)
    with FacesetWriter(staging, image_codec=old.codec, shard_size=shard_size) as w:
        for face in Faceset.open(folder):
            w.add(face)
    new = read_index(staging) if (staging / INDEX_NAME).exists() else replace(old, shards=())
    offset = 1 + max((int(s.file[6:12]) for s in old.shards), default=-1)
    shards = []
    for i, e in enumerate(new.shards):
        name = f"shard-{offset + i:06d}.safetensors"
        (staging / e.file).replace(folder / name)
        shards.append(replace(e, file=name))
    write_index(folder, replace(old, shards=tuple(shards), removed=frozenset()))
    for e in old.shards:
        (folder / e.file).unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    return Faceset.open(folder)


def merge(a: str | Path | Faceset, b: str | Path | Faceset, out: str | Path, *, shard_size: int = 512) -> Faceset:
    """Write the faces of ``a`` then ``b`` into a new faceset at ``out``; faces whose id is already present
    (the same face in both) are kept once. The sources of both are kept (a source in both is merged: its
    processed frames are united, :meth:`SourceInfo.merged`).

    Raises:
        FacesetError: the inputs differ in image size, ``out`` already holds a faceset, or a source is recorded
            in both with another fps or frame size.
    """
    fa = a if isinstance(a, Faceset) else Faceset.open(a)
    fb = b if isinstance(b, Faceset) else Faceset.open(b)
    if fa.size != fb.size:
        raise FacesetError(f"merge: {fa.path} holds {fa.size}px faces, {fb.path} holds {fb.size}px")
    seen: set[str] = set()
    with FacesetWriter(out, image_codec=fa.image_codec, shard_size=shard_size, size=fa.size) as w:
        for info in (*fa.sources().values(), *fb.sources().values()):
            w.add_source(info)
        for fs in (fa, fb):
            for face in fs:
                if face.id not in seen:
                    seen.add(str(face.id))
                    w.add(face)
    return Faceset.open(out)


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate` checked."""

    shards: int
    faces: int
    removed: int
    bytes: int


def validate(path: str | Path | Faceset) -> ValidationReport:
    """Check a faceset fully: index and shard versions, every shard's sha256 against the index, header
    shapes and offsets, every face rebuilt (so landmarks, matrices, masks, polygons and encoded images are
    checked), finite numbers, unique ids.

    Raises:
        FacesetIntegrityError: a checksum differs (names the shard).
        FacesetFormatError: anything else malformed (names the file).
    """
    folder = path.path if isinstance(path, Faceset) else Path(path)
    index = read_index(folder)
    total = 0
    for e in index.shards:
        file = folder / e.file
        if not file.is_file():
            raise FacesetFormatError(f"{file}: shard listed in the index is missing")
        got = sha256_file(file)
        if got != e.sha256:
            raise FacesetIntegrityError(f"{file}: sha256 {got} differs from the index's {e.sha256} (corrupted)")
        total += file.stat().st_size
    fs = Faceset.open(folder, include_removed=True)
    for name in ("landmarks", "source_landmarks", "image_to_face", "source_rect", "score"):
        if not np.all(np.isfinite(fs.column(name))):
            raise FacesetFormatError(f"{folder}: tensor {name!r} holds NaN or infinite values")
    for i in range(len(fs)):
        fs[i]
    if fs.image_codec is ImageCodec.RAW and len(fs):
        fs.images(np.arange(0, len(fs), max(1, len(fs) // 16)))
    return ValidationReport(len(index.shards), len(fs), len(index.removed), total)
