"""The faceset index (``index.json``): format, version, image size and codec, shards with checksums, removals."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fs_faceset._pack import FORMAT_NAME, FORMAT_VERSION, READ_VERSIONS, ImageCodec
from fs_faceset._shard import atomic_write
from fs_faceset._sources import SourceInfo
from fs_faceset.errors import FacesetFormatError

__all__ = ["INDEX_NAME", "Index", "ShardEntry", "read_index", "write_index"]

INDEX_NAME = "index.json"


@dataclass(frozen=True)
class ShardEntry:
    """One committed shard: its file name (inside the faceset folder), face count, byte size and sha256."""

    file: str
    count: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Index:
    """The parsed ``index.json``."""

    size: int
    codec: ImageCodec
    shards: tuple[ShardEntry, ...] = ()
    removed: frozenset[str] = field(default_factory=frozenset)
    sources: tuple[SourceInfo, ...] = ()

    def with_shard(self, entry: ShardEntry) -> Index:
        return replace(self, shards=(*self.shards, entry))

    def with_sources(self, infos: Iterable[SourceInfo]) -> Index:
        """This index with ``infos`` added (a source already listed is merged with :meth:`SourceInfo.merged`)."""
        merged = {s.name: s for s in self.sources}
        for info in infos:
            merged[info.name] = merged[info.name].merged(info) if info.name in merged else info
        return replace(self, sources=tuple(merged.values()))


def read_index(folder: Path) -> Index:
    """Read and check ``folder/index.json``.

    Raises:
        FacesetFormatError: the index is missing, malformed, of another format or version.
    """
    path = folder / INDEX_NAME
    if not folder.is_dir():
        raise FacesetFormatError(f"{folder}: not a faceset folder (no such directory)")
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FacesetFormatError(f"{path}: missing faceset index (is {folder} a faceset?)") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FacesetFormatError(f"{path}: unreadable faceset index ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise FacesetFormatError(f"{path}: not an fs-faceset index")
    if doc.get("version") not in READ_VERSIONS:
        raise FacesetFormatError(
            f"{path}: faceset format version {doc.get('version')!r}; this fs-faceset reads versions "
            f"{', '.join(map(str, READ_VERSIONS))}"
        )
    try:
        size = doc["size"]
        codec = ImageCodec(doc["image_codec"])
        shards = []
        for s in doc["shards"]:
            e = ShardEntry(s["file"], s["count"], s["bytes"], s["sha256"])
            ok = isinstance(e.file, str) and Path(e.file).name == e.file and e.file.endswith(".safetensors")
            if not (
                ok and type(e.count) is int and e.count >= 0 and type(e.bytes) is int and isinstance(e.sha256, str)
            ):
                raise FacesetFormatError(f"{path}: malformed faceset index (bad shard entry {s!r})")
            shards.append(e)
        removed = doc.get("removed", [])
        if type(size) is not int or size < 1 or not all(isinstance(r, str) for r in removed):
            raise FacesetFormatError(f"{path}: malformed faceset index (bad size or removed list)")
        entries = doc.get("sources", [])  # version 1 has none
        if not isinstance(entries, list):
            raise FacesetFormatError(f"{path}: malformed faceset index ('sources' is not a list)")
    except (KeyError, TypeError, ValueError) as exc:
        raise FacesetFormatError(f"{path}: malformed faceset index ({exc!r})") from exc
    sources = tuple(SourceInfo.from_json(e, str(path)) for e in entries)
    if len({s.name for s in sources}) != len(sources):
        raise FacesetFormatError(f"{path}: malformed faceset index (a source is listed twice)")
    return Index(size, codec, tuple(shards), frozenset(removed), sources)


def write_index(folder: Path, index: Index) -> None:
    """Write ``index.json`` atomically (temp file, fsync, rename)."""
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "size": index.size,
        "image_codec": index.codec.value,
        "shards": [vars(s) for s in index.shards],
        "removed": sorted(index.removed),
        "sources": [s.to_json() for s in index.sources],
    }
    atomic_write(folder / INDEX_NAME, [json.dumps(doc, indent=1).encode("utf-8")])
