"""Write and read facesets: a folder of safetensors shards plus ``index.json`` (see FORMAT.md)."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from fs_faceset._index import Index, read_index, write_index
from fs_faceset._pack import ImageCodec, ShardData
from fs_faceset._shard import map_tensor, read_header
from fs_faceset._sources import SourceInfo
from fs_faceset._writer import FacesetWriter
from fs_faceset.errors import FacesetError, FacesetFormatError
from fs_faceset.face import Face, PolygonKind

__all__ = ["Faceset", "FacesetWriter"]  # FacesetWriter lives in _writer; re-exported here

_PER_FACE = ("landmarks", "source_landmarks", "image_to_face", "source_rect", "frame_index", "score", "pose")


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
        reading the old data; use the returned one. Like :func:`remove` and :func:`compact`, it must not run
        while a :class:`FacesetWriter` appends to the same faceset (the writer would write its older index).

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

    def set_polygons(
        self,
        faces: Sequence[int] | Sequence[str] | npt.NDArray[Any],
        polygons: Sequence[Sequence[tuple[PolygonKind | str, npt.ArrayLike]]],
    ) -> Faceset:
        """Replace the XSeg polygon labels of some faces, in place and atomically (as :meth:`set_masks` does).

        Args:
            faces: positions in this view (ints) or face ids (strs), each at most once.
            polygons: per face, its polygons in drawing order as ``(kind, N x 2 points)`` pairs in aligned-face
                pixels (``kind``: :class:`PolygonKind` or ``"include"``/``"exclude"``); ``()`` clears them.

        Returns:
            The reopened faceset, the same view with the new polygons.

        Raises:
            FacesetError: lengths differ, a face is named twice, an id is unknown; ShapeError: a bad polygon.
        """
        from fs_faceset._update import rewrite_polygons
        from fs_faceset.face import _polys

        items = list(faces)
        if items and all(isinstance(f, str) for f in items):
            pos = [self.index_of(str(f)) for f in items]
        else:
            pos = self._positions(items).tolist() if items else []
        if len(polygons) != len(pos):
            raise FacesetError(f"set_polygons: {len(pos)} faces but {len(polygons)} polygon lists")
        rows = self._rows[np.asarray(pos, dtype=np.int64)].tolist()
        if len(set(rows)) != len(rows):
            raise FacesetError(f"{self.path}: set_polygons names a face twice")
        changes: dict[int, dict[int, Any]] = {}
        for j, (g, value) in enumerate(zip(rows, polygons, strict=True)):
            checked = _polys(value, f"set_polygons: polygons[{j}]")
            changes.setdefault(int(self._store.shard_of[g]), {})[int(self._store.local[g])] = checked
        if changes:
            rewrite_polygons(self.path, self._index, self._store.shards, changes)
        fresh = Faceset.open(self.path, include_removed=True)
        if fresh.ids[: len(self._store.ids)] != self._store.ids:
            raise FacesetError(f"{self.path}: the faceset changed on disk while its polygons were set")
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
