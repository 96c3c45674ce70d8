"""Safetensors shards: a strict header reader, zero-copy memory maps, and an atomic writer.

The safetensors layout is: 8 bytes little-endian header length ``n``, ``n`` bytes of JSON (tensor name ->
``{"dtype", "shape", "data_offsets"}`` plus an optional ``"__metadata__"`` str -> str map), then the data
section. Offsets are relative to the data section; the buffers tile it with no holes or overlaps. We read the
header ourselves (so a lying header is refused before anything is mapped) and map each tensor with
:class:`numpy.memmap`; the files stay readable by ``safetensors.numpy.load_file``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_faceset.errors import FacesetError, FacesetFormatError

__all__ = ["Rows", "ShardHeader", "atomic_write", "fsync_dir", "map_tensor", "read_header", "shard_bytes"]

DTYPES: dict[str, np.dtype[Any]] = {
    "U8": np.dtype(np.uint8),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "F32": np.dtype("<f4"),
}
_NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 256 << 20
_ALIGN = 64


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in a shard file."""

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    start: int  # absolute file offset
    nbytes: int


@dataclass(frozen=True)
class ShardHeader:
    """A parsed, checked shard header."""

    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    file_size: int


def read_header(path: Path) -> ShardHeader:
    """Parse and check a shard's header: sizes, dtypes, shapes against offsets, tiling of the data section.

    Raises:
        FacesetFormatError: naming the file and what is wrong.
    """
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            if len(head) < 8:
                raise FacesetFormatError(f"{path}: truncated shard ({size} bytes; no safetensors header)")
            n = int.from_bytes(head, "little")
            if n < 2 or n > MAX_HEADER or 8 + n > size:
                raise FacesetFormatError(f"{path}: header length {n} does not fit in a {size}-byte file (truncated?)")
            raw = fh.read(n)
    except OSError as exc:
        raise FacesetFormatError(f"{path}: cannot read shard: {exc}") from exc
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FacesetFormatError(f"{path}: shard header is not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise FacesetFormatError(f"{path}: shard header is not a JSON object")
    meta = doc.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise FacesetFormatError(f"{path}: __metadata__ must map strings to strings")
    data_start = 8 + n
    data_len = size - data_start
    tensors: dict[str, TensorInfo] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in doc.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise FacesetFormatError(f"{path}: tensor {name!r} has a malformed header entry")
        dtype = DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
        shape, offs = entry["shape"], entry["data_offsets"]
        if dtype is None:
            raise FacesetFormatError(f"{path}: tensor {name!r} has unsupported dtype {entry['dtype']!r}")
        if not (isinstance(shape, list) and all(type(d) is int and 0 <= d < 1 << 40 for d in shape)):
            raise FacesetFormatError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)):
            raise FacesetFormatError(f"{path}: tensor {name!r} has invalid data_offsets {offs!r}")
        begin, end = offs
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
        if not 0 <= begin <= end <= data_len or end - begin != nbytes:
            raise FacesetFormatError(
                f"{path}: tensor {name!r} claims shape {shape} ({nbytes} bytes) at offsets {offs}, but the data "
                f"section holds {data_len} bytes (header lies or file truncated)"
            )
        tensors[name] = TensorInfo(dtype, tuple(shape), data_start + begin, nbytes)
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise FacesetFormatError(f"{path}: tensor {name!r} starts at {begin}, expected {pos} (holes or overlaps)")
        pos = end
    if pos != data_len:
        raise FacesetFormatError(f"{path}: tensors cover {pos} bytes but the data section has {data_len}")
    return ShardHeader(path, tensors, dict(meta), size)


def map_tensor(header: ShardHeader, name: str) -> npt.NDArray[Any]:
    """A read-only, zero-copy :class:`numpy.memmap` of one tensor (a plain empty array for empty tensors)."""
    info = header.tensors.get(name)
    if info is None:
        raise FacesetFormatError(f"{header.path}: shard has no tensor {name!r}")
    if info.nbytes == 0:
        return np.zeros(info.shape, dtype=info.dtype)
    try:
        return np.memmap(header.path, dtype=info.dtype, mode="r", offset=info.start, shape=info.shape)
    except (OSError, ValueError) as exc:
        raise FacesetFormatError(f"{header.path}: cannot map tensor {name!r}: {exc}") from exc


class Rows:
    """A tensor given as equal-shaped rows (written one after another, never stacked in memory)."""

    def __init__(self, rows: Sequence[npt.NDArray[Any]], row_shape: tuple[int, ...], dtype: Any) -> None:
        self.rows = [np.ascontiguousarray(r, dtype=dtype) for r in rows]
        if any(r.shape != row_shape for r in self.rows):
            raise FacesetError(f"rows must all have shape {row_shape}")
        self.shape = (len(self.rows), *row_shape)
        self.dtype = np.dtype(dtype)
        self.nbytes = self.dtype.itemsize * math.prod(self.shape)

    def chunks(self) -> list[memoryview]:
        return [memoryview(r.reshape(-1)).cast("B") for r in self.rows if r.nbytes]  # type: ignore[arg-type]


def shard_bytes(
    tensors: Mapping[str, npt.NDArray[Any] | Rows], metadata: Mapping[str, str]
) -> list[bytes | memoryview]:
    """Serialize tensors (8-byte types first, so every buffer is naturally aligned) as safetensors chunks."""
    arrays = {k: v if isinstance(v, Rows) else np.ascontiguousarray(v) for k, v in tensors.items()}
    for k, v in arrays.items():
        if v.dtype.newbyteorder("<") not in _NAMES or v.dtype.byteorder == ">":
            raise FacesetError(f"tensor {k!r}: dtype {v.dtype} cannot be stored")
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    entries: dict[str, Any] = {"__metadata__": dict(metadata)}
    pos = 0
    for k in order:
        a = arrays[k]
        name = _NAMES[a.dtype.newbyteorder("<")]
        entries[k] = {"dtype": name, "shape": list(a.shape), "data_offsets": [pos, pos + a.nbytes]}
        pos += a.nbytes
    head = json.dumps(entries, separators=(",", ":")).encode("utf-8")
    head += b" " * ((-(8 + len(head))) % _ALIGN)
    chunks: list[bytes | memoryview] = [len(head).to_bytes(8, "little"), head]
    for k in order:
        a = arrays[k]
        if isinstance(a, Rows):
            chunks.extend(a.chunks())
        elif a.nbytes:
            chunks.append(memoryview(a.reshape(-1)).cast("B"))  # type: ignore[arg-type]
    return chunks


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, chunks: Iterable[bytes | memoryview]) -> str:
    """Write chunks to a hidden temp file beside ``path``, fsync, rename into place; return the sha256.

    A crash at any point leaves either the old file or no file, never a half-written one under ``path``.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FacesetError(f"{path}: cannot write: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return digest.hexdigest()
