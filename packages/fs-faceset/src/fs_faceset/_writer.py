"""The faceset writer: buffered faces committed as atomic shards, then the index (see FORMAT.md)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from fs_align import parse_enum
from fs_faceset._index import Index, ShardEntry, write_index
from fs_faceset._pack import ImageCodec, content_id, pack_faces
from fs_faceset._shard import atomic_write, shard_bytes
from fs_faceset._sources import SourceInfo
from fs_faceset.errors import FacesetConfigError, FacesetError
from fs_faceset.face import Face

__all__ = ["FacesetWriter"]


class FacesetWriter:
    """Add faces to a new (or, with ``append=True``, an existing) faceset; use as a context manager.

    Faces are buffered and written ``shard_size`` at a time. Each shard is written atomically (temp file,
    fsync, rename) and only then entered into ``index.json`` (also atomic), so a crash never exposes a
    half-written shard: readers see the faces of the shards committed so far. Leaving the ``with`` block by an
    exception discards the faces still buffered.

    Args:
        path: the faceset folder (created if missing).
        image_codec: ``"raw"`` (default, memory-mapped), ``"png"`` or ``"jpeg"``; see FORMAT.md.
        shard_size: faces per shard.
        append: add to an existing faceset instead of refusing to touch it.
        size: the aligned face size, when known before the first face (lets a faceset with no faces, but with
            sources, be written; faces of another size are refused).

    Per-source facts go in with :meth:`add_source`; they are written into ``index.json`` with the next shard
    (in the same index write), by :meth:`flush`, or on :meth:`close`.

    Raises:
        FacesetError: the folder already holds a faceset and ``append`` is false, or settings disagree.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        image_codec: str | ImageCodec = "raw",
        shard_size: int = 512,
        append: bool = False,
        size: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._codec = parse_enum(ImageCodec, image_codec, "image_codec: unknown codec", FacesetConfigError)
        if shard_size < 1:
            raise FacesetConfigError(f"shard_size: expected >= 1, got {shard_size}")
        self._shard_size = shard_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 4):
            raise FacesetConfigError(f"size: expected an int >= 4, got {size!r}")
        self._size = size
        self._sources: list[SourceInfo] = []
        self._buffer: list[Face] = []
        self._buffer_ids: list[str] = []
        self._index: Index | None = None
        self._ids: set[str] = set()
        self._closed = False
        if (self.path / "index.json").exists():
            if not append:
                raise FacesetError(f"{self.path}: already holds a faceset; pass append=True to add to it")
            from fs_faceset.faceset import Faceset

            existing = Faceset.open(self.path, include_removed=True)
            self._index = existing._index
            self._ids = set(existing.ids)
            if self._index.codec is not self._codec:
                raise FacesetError(
                    f"{self.path}: faceset stores {self._index.codec.value} images, not {self._codec.value}"
                )
            if size is not None and size != self._index.size:
                raise FacesetError(f"{self.path}: faceset holds {self._index.size}px faces, not {size}px")
        self._next = 1 + max((int(s.file[6:12]) for s in self._index.shards), default=-1) if self._index else 0

    def __enter__(self) -> FacesetWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.close()
        else:
            self._buffer.clear()
            self._closed = True

    def add(self, face: Face) -> str:
        """Add one face; returns its id (``face.id`` or a content hash).

        Raises:
            FacesetError: the writer is closed, the face's size differs from the faceset's, or its id exists.
        """
        if self._closed:
            raise FacesetError(f"{self.path}: writer is closed")
        if not isinstance(face, Face):
            raise FacesetError(f"add: expected a fs_faceset.Face, got {type(face).__name__}")
        size = self._known_size() or face.size
        if face.size != size:
            raise FacesetError(f"{self.path}: faceset holds {size}px faces; got a {face.size}px face")
        fid = face.id or content_id(face)
        if fid in self._ids:
            raise FacesetError(f"{self.path}: a face with id {fid!r} is already in the faceset")
        self._ids.add(fid)
        self._buffer.append(face)
        self._buffer_ids.append(fid)
        if len(self._buffer) >= self._shard_size:
            self.flush()
        return fid

    def add_all(self, faces: Iterable[Face]) -> list[str]:
        """Add several faces; returns their ids."""
        return [self.add(f) for f in faces]

    def add_source(self, info: SourceInfo) -> None:
        """Record the facts of one source (fps, frame size and count, frames processed) in the faceset index.

        A source already recorded (in this writer or, when appending, in the faceset) is merged with it
        (:meth:`SourceInfo.merged`: processed frames are united). Written with the next shard, by :meth:`flush`
        or on :meth:`close`, so add the frames of a chunk before flushing the faces found in them.

        Raises:
            FacesetError: the writer is closed, ``info`` is not a :class:`SourceInfo`, or it contradicts the
                record already there (another fps or frame size under the same name).
        """
        if self._closed:
            raise FacesetError(f"{self.path}: writer is closed")
        if not isinstance(info, SourceInfo):
            raise FacesetError(f"add_source: expected a fs_faceset.SourceInfo, got {type(info).__name__}")
        # merge now, so that a contradiction raises here and not at the next flush
        (self._index or Index(1, self._codec)).with_sources([*self._sources, info])
        self._sources.append(info)

    def _known_size(self) -> int | None:
        if self._index:
            return self._index.size
        return self._buffer[0].size if self._buffer else self._size

    def flush(self) -> None:
        """Commit the buffered faces as one shard and the added sources into the index (no-op when there is
        nothing to write; sources without any face are written once the face size is known)."""
        size = self._known_size()
        if not self._buffer:
            if self._sources and size is not None:
                self.path.mkdir(parents=True, exist_ok=True)
                self._index = (self._index or Index(size, self._codec)).with_sources(self._sources)
                write_index(self.path, self._index)
                self._sources.clear()
            return
        index = (self._index or Index(self._buffer[0].size, self._codec)).with_sources(self._sources)
        self.path.mkdir(parents=True, exist_ok=True)
        tensors, meta = pack_faces(self._buffer, self._buffer_ids, self._codec)
        name = f"shard-{self._next:06d}.safetensors"
        chunks = shard_bytes(tensors, meta)
        sha = atomic_write(self.path / name, chunks)
        nbytes = sum(len(c) if isinstance(c, bytes) else c.nbytes for c in chunks)
        self._index = index.with_shard(ShardEntry(name, len(self._buffer), nbytes, sha))
        write_index(self.path, self._index)
        self._next += 1
        self._buffer.clear()
        self._buffer_ids.clear()
        self._sources.clear()

    def close(self) -> None:
        """Flush and write the index (an empty faceset gets an index too, once a size is known: from its faces
        or the ``size`` argument).

        Raises:
            FacesetError: sources were added but no face size is known (no faces and no ``size``).
        """
        if self._closed:
            return
        self.flush()
        if self._index is None and self._size is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            self._index = Index(self._size, self._codec)
            write_index(self.path, self._index)
        self._closed = True
        if self._sources:
            raise FacesetError(f"{self.path}: sources added but no face size known; pass size= to FacesetWriter")
