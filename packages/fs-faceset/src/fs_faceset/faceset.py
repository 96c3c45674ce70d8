"""Write and read facesets: a folder of safetensors shards plus ``index.json`` (see FORMAT.md)."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from fs_align import parse_enum
from fs_faceset._index import Index, ShardEntry, read_index, write_index
from fs_faceset._pack import ImageCodec, ShardData, content_id, pack_faces
from fs_faceset._shard import atomic_write, map_tensor, read_header, shard_bytes
from fs_faceset._sources import SourceInfo
from fs_faceset.errors import FacesetConfigError, FacesetError, FacesetFormatError
from fs_faceset.face import Face

__all__ = ["Faceset", "FacesetWriter"]

_PER_FACE = ("landmarks", "source_landmarks", "image_to_face", "source_rect", "frame_index", "score", "pose")


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


class _Store:
    """The shards of one opened faceset and the row -> (shard, local row) tables."""

    def __init__(self, path: Path, index: Index, shards: list[ShardData]) -> None:
        self.path, self.index, self.shards = path, index, shards
        counts = np.array([s.count for s in shards], dtype=np.int64)
        self.shard_of = np.repeat(np.arange(len(shards)), counts)
        self.local = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        self.ids = [i for s in shards for i in s.ids]
        self.source_paths = [p for s in shards for p in s.source_paths]
        self.face_types = [t for s in shards for t in s.face_types]
        self.tags = [tuple(t) for s in shards for t in s.tags]

    @functools.cached_property
    def images_raw(self) -> list[npt.NDArray[np.uint8]]:
        return [s.t["images"] for s in self.shards]

    def column(self, name: str) -> npt.NDArray[Any]:
        return self._columns(name)

    @functools.lru_cache(maxsize=16)  # noqa: B019 - one store per opened faceset, a handful of columns
    def _columns(self, name: str) -> npt.NDArray[Any]:
        parts = [np.asarray(s.t[name]) for s in self.shards]
        return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


class Faceset:
    """A read-only view of a faceset (or of a subset of its faces). Open with :meth:`Faceset.open`.

    ``len``, iteration (yields :class:`Face`), ``fs[i]`` (a :class:`Face`), ``fs[a:b]`` / ``fs[indices]`` / filters
    (a smaller :class:`Faceset` view). Batch accessors (:meth:`images`, :meth:`landmarks`, :meth:`column`) return
    one array with no per-face Python work on raw facesets.
    """

    def __init__(self, store: _Store, rows: npt.NDArray[np.int64]) -> None:
        self._store = store
        self._rows = rows

    @classmethod
    def open(cls, path: str | Path, *, include_removed: bool = False) -> Faceset:
        """Open a faceset folder: reads the index and every shard header (no image data).

        Raises:
            FacesetFormatError: missing/malformed index, missing or truncated shard, a header that lies.
        """
        folder = Path(path)
        index = read_index(folder)
        shards = []
        for entry in index.shards:
            file = folder / entry.file
            if not file.is_file():
                raise FacesetFormatError(f"{file}: shard listed in the index is missing")
            header = read_header(file)
            if header.file_size != entry.bytes:
                raise FacesetFormatError(f"{file}: {header.file_size} bytes, the index says {entry.bytes} (truncated?)")
            tensors = {name: map_tensor(header, name) for name in header.tensors}
            data = ShardData(file, tensors, header.metadata)
            if data.count != entry.count or data.size != index.size or data.codec is not index.codec:
                raise FacesetFormatError(f"{file}: shard count/size/codec disagree with {folder / 'index.json'}")
            shards.append(data)
        store = _Store(folder, index, shards)
        if len(set(store.ids)) != len(store.ids):
            raise FacesetFormatError(f"{folder}: duplicate face ids across shards")
        rows = np.arange(len(store.ids), dtype=np.int64)
        if not include_removed and index.removed:
            rows = rows[[i not in index.removed for i in store.ids]]
        return cls(store, rows)

    # -- basic protocol -------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The faceset folder."""
        return self._store.path

    @property
    def size(self) -> int:
        """Side length of every aligned image."""
        return self._store.index.size

    @property
    def image_codec(self) -> ImageCodec:
        """How images are stored (raw, png, jpeg)."""
        return self._store.index.codec

    @property
    def _index(self) -> Index:
        return self._store.index

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, key: int) -> Face: ...
    @overload
    def __getitem__(self, key: slice | Sequence[int] | npt.NDArray[Any]) -> Faceset: ...
    def __getitem__(self, key: Any) -> Face | Faceset:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            n = len(self._rows)
            if not -n <= key < n:
                raise IndexError(f"face index {key} out of range for a faceset of {n}")
            g = int(self._rows[key])
            shard: ShardData = self._store.shards[int(self._store.shard_of[g])]
            return shard.face(int(self._store.local[g]))
        if isinstance(key, slice):
            return Faceset(self._store, self._rows[key])
        return Faceset(self._store, self._rows[self._positions(key)])

    def __iter__(self) -> Iterator[Face]:
        for i in range(len(self._rows)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Faceset({str(self.path)!r}, faces={len(self)}, size={self.size}, codec={self.image_codec.value})"

    def _positions(self, indices: Any) -> npt.NDArray[np.int64]:
        if indices is None:
            return np.arange(len(self._rows), dtype=np.int64)
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != self._rows.shape:
                raise FacesetError(f"boolean mask of shape {idx.shape} for a faceset of {len(self._rows)}")
            return np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise FacesetError(f"indices: expected a 1-D sequence of ints, got shape {idx.shape} dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        n = len(self._rows)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"face indices out of range for a faceset of {n}")
        return np.where(idx < 0, idx + n, idx)

    # -- per-face metadata ----------------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        """Face ids, in view order."""
        return [self._store.ids[g] for g in self._rows]

    @property
    def source_paths(self) -> list[str]:
        """Source file of each face, in view order."""
        return [self._store.source_paths[g] for g in self._rows]

    @property
    def tags(self) -> list[tuple[str, ...]]:
        """Tags of each face, in view order."""
        return [self._store.tags[g] for g in self._rows]

    @property
    def face_types(self) -> list[str]:
        """Face type value of each face, in view order."""
        return [self._store.face_types[g] for g in self._rows]

    def column(self, name: str, indices: Sequence[int] | npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
        """One per-face tensor for the view (or ``indices`` within it) as one array.

        ``name`` is one of landmarks ``(n, 68, 2)``, source_landmarks ``(n, 68, 2)``, image_to_face ``(n, 2, 3)``,
        source_rect ``(n, 4)``, frame_index ``(n,)``, score ``(n,)``, pose ``(n, 3)`` (pitch, yaw, roll; NaN where
        unknown).
        """
        if name not in _PER_FACE:
            raise FacesetError(f"column: unknown name {name!r}; known: {', '.join(_PER_FACE)}")
        return self._store.column(name)[self._rows[self._positions(indices)]]

    def landmarks(self, indices: Sequence[int] | npt.NDArray[Any] | None = None) -> npt.NDArray[np.float32]:
        """Face-space landmarks of the view (or ``indices``) as one ``(n, 68, 2)`` float32 array."""
        return self.column("landmarks", indices)

    def images(
        self, indices: Sequence[int] | npt.NDArray[Any] | None = None, *, out: npt.NDArray[np.uint8] | None = None
    ) -> npt.NDArray[np.uint8]:
        """Aligned images of the view (or ``indices`` within it) as one ``(n, S, S, 3)`` BGR uint8 array.

        Raw facesets gather straight out of the memory maps (one copy per shard touched, no decode); pass
        ``out`` (C-contiguous, right shape) to reuse a buffer. Encoded facesets decode each image.
        """
        rows = self._rows[self._positions(indices)]
        n, s = len(rows), self.size
        if out is None:
            out = np.empty((n, s, s, 3), dtype=np.uint8)
        elif out.shape != (n, s, s, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise FacesetError(f"images: out must be a C-contiguous ({n}, {s}, {s}, 3) uint8 array, got {out.shape}")
        if n == 0:
            return out
        shard_of, local = self._store.shard_of[rows], self._store.local[rows]
        if self.image_codec is ImageCodec.RAW:
            maps = self._store.images_raw
            first = int(shard_of[0])
            if np.all(shard_of == first):
                np.take(maps[first], local, axis=0, out=out)
            else:
                for sh in np.unique(shard_of):
                    pos = np.flatnonzero(shard_of == sh)
                    out[pos] = maps[int(sh)][local[pos]]
            return out
        for j in range(n):
            out[j] = self._store.shards[int(shard_of[j])].image(int(local[j]))
        return out

    def masks(self, indices: Sequence[int] | npt.NDArray[Any] | None = None) -> list[npt.NDArray[np.float32] | None]:
        """Stored masks of the view (or ``indices`` within it): one ``S x S`` float32 mask in [0, 1] per face
        (1 = face), or ``None`` for a face without one. Reads only the mask tables (no image is decoded)."""
        rows = self._rows[self._positions(indices)]
        out: list[npt.NDArray[np.float32] | None] = []
        for g in rows.tolist():
            shard = self._store.shards[int(self._store.shard_of[g])]
            mi = int(shard.t["mask_index"][int(self._store.local[g])])
            out.append(None if mi < 0 else np.asarray(shard.t["masks"][mi], dtype=np.float32) / np.float32(255))
        return out

    def set_masks(
        self,
        faces: Sequence[int] | Sequence[str] | npt.NDArray[Any],
        masks: Sequence[npt.NDArray[Any] | None] | None,
    ) -> Faceset:
        """Store (or, with ``None``, clear) the masks of some faces, in place and atomically.

        Only the shards holding those faces are rewritten (under new names), then ``index.json`` is replaced
        (the commit point), then the old shards are deleted: a crash at any step leaves either the old or the
        new faceset readable, and nothing else in the folder is touched. Faceset objects opened before keep
        reading the old data; use the returned one.

        Args:
            faces: positions in this view (ints) or face ids (strs), each at most once.
            masks: one mask per face: ``S x S`` uint8 (0..255), float (0..1) or bool, or ``None`` to remove
                the face's mask; ``None`` instead of the list removes the masks of all ``faces``.

        Returns:
            The reopened faceset, the same view (same faces, same order) with the new masks.

        Raises:
            FacesetError: lengths differ, a face is named twice, an id is unknown; ShapeError: a bad mask.
        """
        from fs_faceset._update import as_mask, rewrite_masks

        items = list(faces)
        if items and all(isinstance(f, str) for f in items):
            pos = [self.index_of(str(f)) for f in items]
        else:
            pos = self._positions(items).tolist() if items else []
        values: list[Any] = [None] * len(pos) if masks is None else list(masks)
        if len(values) != len(pos):
            raise FacesetError(f"set_masks: {len(pos)} faces but {len(values)} masks")
        rows = self._rows[np.asarray(pos, dtype=np.int64)].tolist()
        if len(set(rows)) != len(rows):
            raise FacesetError(f"{self.path}: set_masks names a face twice")
        changes: dict[int, dict[int, Any]] = {}
        for j, (g, m) in enumerate(zip(rows, values, strict=True)):
            mask = None if m is None else as_mask(m, self.size, f"set_masks: masks[{j}]")
            changes.setdefault(int(self._store.shard_of[g]), {})[int(self._store.local[g])] = mask
        if changes:
            rewrite_masks(self.path, self._index, self._store.shards, changes)
        fresh = Faceset.open(self.path, include_removed=True)
        if fresh.ids[: len(self._store.ids)] != self._store.ids:
            raise FacesetError(f"{self.path}: the faceset changed on disk while its masks were set")
        return Faceset(fresh._store, self._rows)

    # -- filters --------------------------------------------------------------------------------------------
    def select(self, indices: Sequence[int] | npt.NDArray[Any]) -> Faceset:
        """A view of the faces at ``indices`` (ints or a boolean mask), in that order."""
        return Faceset(self._store, self._rows[self._positions(indices)])

    def filter(
        self, *, tag: str | None = None, source: str | None = None, predicate: Callable[[Face], bool] | None = None
    ) -> Faceset:
        """A view of the faces that carry ``tag``, whose source path matches the glob ``source`` (``"*.mp4"``,
        exact names match too), and for which ``predicate(face)`` is true (all given conditions must hold)."""
        keep = np.ones(len(self), dtype=bool)
        if tag is not None:
            keep &= np.array([tag in t for t in self.tags], dtype=bool)
        if source is not None:
            keep &= np.array([p == source or fnmatch.fnmatchcase(p, source) for p in self.source_paths], dtype=bool)
        if predicate is not None:
            keep &= np.array([bool(predicate(self[i])) if keep[i] else False for i in range(len(self))], dtype=bool)
        return self.select(np.flatnonzero(keep))

    def index_of(self, face_id: str) -> int:
        """Position of the face with id ``face_id`` in this view.

        Raises:
            FacesetError: no such face in the view.
        """
        try:
            return self.ids.index(face_id)
        except ValueError:
            raise FacesetError(f"{self.path}: no face with id {face_id!r}") from None

    # -- sources --------------------------------------------------------------------------------------------
    def sources(self) -> dict[str, SourceInfo]:
        """The per-source facts recorded in the index, by :attr:`SourceInfo.name` (empty for version-1 facesets
        and for faces added without :meth:`FacesetWriter.add_source`). Not narrowed by views."""
        return {s.name: s for s in self._index.sources}

    def frames(self, source: str) -> dict[int, list[int]]:
        """The faces of one source in this view, grouped by frame: ``{frame_index: [position, ...]}`` with
        positions in view order (use them with ``fs[i]``, :meth:`images`, :meth:`masks`). Read from the index
        metadata and the ``frame_index`` column; no image is decoded. Frames without faces are absent (see
        :meth:`sources` for which frames were looked at)."""
        paths = self.source_paths
        pos = np.array([i for i, p in enumerate(paths) if p == source], dtype=np.int64)
        out: dict[int, list[int]] = {}
        if not len(pos):
            return out
        for p, f in zip(pos.tolist(), self.column("frame_index", pos).tolist(), strict=True):
            out.setdefault(int(f), []).append(int(p))
        return dict(sorted(out.items()))

    def shard_paths(self) -> list[Path]:
        """The committed shard files, in order."""
        return [self.path / e.file for e in self._index.shards]

    def _replace_index(self, index: Index) -> Faceset:
        write_index(self.path, index)
        return Faceset.open(self.path)
