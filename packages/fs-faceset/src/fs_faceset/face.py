"""The face record: one aligned face, where it came from, and what is known about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align import Alignment, FaceType, Pose, ShapeError, check_image, check_points, parse_enum

__all__ = ["Face", "PolygonKind"]

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


def _frozen(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = np.array(arr, copy=True)
    out.setflags(write=False)
    return out


class PolygonKind(enum.Enum):
    """Whether a polygon label adds to the mask (include) or cuts out of it (exclude)."""

    INCLUDE = "include"
    EXCLUDE = "exclude"


def _polys(value: Any, name: str) -> tuple[tuple[PolygonKind, F32], ...]:
    if value is None:
        return ()
    if isinstance(value, np.ndarray):
        raise ShapeError(f"{name}: expected a sequence of (kind, N x 2 points) pairs, got a single array")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ShapeError(f"{name}[{i}]: expected a (PolygonKind, N x 2 points) pair, got {type(item).__name__}")
        kind = parse_enum(PolygonKind, item[0], f"{name}[{i}]: unknown polygon kind", ShapeError)
        out.append((kind, _frozen(check_points(item[1], f"{name}[{i}]").astype(np.float32))))
    return tuple(out)


@dataclass(frozen=True, eq=False, repr=False)
class Face:
    """One aligned face and its provenance (immutable; arrays are read-only copies).

    Attributes:
        image: the aligned face, ``S x S x 3`` BGR ``uint8`` (square).
        face_type: how much of the head the crop covers (:class:`fs_align.FaceType`; strings are parsed).
        landmarks: ``(68, 2)`` float32 iBUG-68 (x, y) in aligned-face pixels.
        source_landmarks: ``(68, 2)`` float32 iBUG-68 (x, y) in source-frame pixels.
        image_to_face: ``(2, 3)`` float32 affine from frame pixels to aligned-face pixels.
        source_rect: ``(4,)`` float32 detector box ``x0, y0, x1, y1`` in frame pixels (default: the bounding
            box of ``source_landmarks``).
        source_path: the frame's file (or video) name, as given.
        frame_index: the frame number within a video (0 for stills).
        score: the detector's confidence.
        mask: optional ``S x S`` uint8 mask (0 background, 255 face).
        polygons: XSeg polygon labels in drawing order, each a ``(PolygonKind, N x 2 float32 points)`` pair in
            aligned-face pixels (DeepFaceLab's ``seg_ie_polys``: drawn in order on a zero mask, an include
            polygon fills 1, an exclude polygon fills 0, so includes and excludes may interleave). Kinds may
            be given as strings (``"include"``/``"exclude"``). :attr:`xseg_include` / :attr:`xseg_exclude` read
            the points of one kind.
        embedding: optional 1-D float32 identity embedding.
        pose: optional head pose (degrees).
        tags: free-form strings (for filters).
        id: a stable identifier; ``None`` lets the writer assign a content hash.

    Raises:
        ShapeError: on any array of the wrong shape, dtype or values.
    """

    image: U8
    face_type: FaceType
    landmarks: F32
    source_landmarks: F32
    image_to_face: F32
    source_rect: F32 | None = None
    source_path: str = ""
    frame_index: int = 0
    score: float = 1.0
    mask: U8 | None = None
    polygons: tuple[tuple[PolygonKind, F32], ...] = ()
    embedding: F32 | None = None
    pose: Pose | None = None
    tags: tuple[str, ...] = ()
    id: str | None = None

    def __post_init__(self) -> None:
        img = check_image(self.image, "Face.image", channels=3, dtype=np.uint8, min_size=4)
        if img.shape[0] != img.shape[1]:
            raise ShapeError(f"Face.image: expected a square S x S x 3 image, got {img.shape[1]}x{img.shape[0]}")
        size = img.shape[0]
        set_ = object.__setattr__
        set_(self, "image", _frozen(img))
        set_(self, "face_type", FaceType.parse(self.face_type))
        set_(self, "landmarks", _frozen(check_points(self.landmarks, "Face.landmarks", num=68).astype(np.float32)))
        src = check_points(self.source_landmarks, "Face.source_landmarks", num=68).astype(np.float32)
        set_(self, "source_landmarks", _frozen(src))
        set_(self, "image_to_face", _frozen(Alignment(self.image_to_face, self.face_type, size).image_to_face))
        if self.source_rect is None:
            rect = np.array([*src.min(axis=0), *src.max(axis=0)], dtype=np.float32)
        else:
            rect = np.asarray(self.source_rect, dtype=np.float32).reshape(-1)
            if rect.shape != (4,) or not np.all(np.isfinite(rect)):
                raise ShapeError(
                    f"Face.source_rect: expected 4 finite numbers x0, y0, x1, y1, got {self.source_rect!r}"
                )
        set_(self, "source_rect", _frozen(rect))
        if not isinstance(self.source_path, str):
            raise ShapeError(f"Face.source_path: expected str, got {type(self.source_path).__name__}")
        if isinstance(self.frame_index, bool) or not isinstance(self.frame_index, (int, np.integer)):
            raise ShapeError(f"Face.frame_index: expected int, got {self.frame_index!r}")
        set_(self, "frame_index", int(self.frame_index))
        score = float(self.score)
        if not np.isfinite(score):
            raise ShapeError(f"Face.score: expected a finite number, got {self.score!r}")
        set_(self, "score", score)
        if self.mask is not None:
            mask = check_image(self.mask, "Face.mask", channels=1, dtype=np.uint8)
            if mask.shape != (size, size):
                raise ShapeError(f"Face.mask: expected {size} x {size} uint8 (the image's size), got {mask.shape}")
            set_(self, "mask", _frozen(mask))
        set_(self, "polygons", _polys(self.polygons, "Face.polygons"))
        if self.embedding is not None:
            emb = np.asarray(self.embedding)
            if emb.ndim != 1 or emb.size == 0 or not np.issubdtype(emb.dtype, np.number):
                raise ShapeError(f"Face.embedding: expected a non-empty 1-D numeric vector, got shape {emb.shape}")
            emb = emb.astype(np.float32)
            if not np.all(np.isfinite(emb)):
                raise ShapeError("Face.embedding: contains NaN or infinite values")
            set_(self, "embedding", _frozen(emb))
        if self.pose is not None and not isinstance(self.pose, Pose):
            raise ShapeError(f"Face.pose: expected fs_align.Pose or None, got {type(self.pose).__name__}")
        tags = (self.tags,) if isinstance(self.tags, str) else tuple(self.tags)
        if not all(isinstance(t, str) for t in tags):
            raise ShapeError(f"Face.tags: expected strings, got {tags!r}")
        set_(self, "tags", tags)
        if self.id is not None and (not isinstance(self.id, str) or not _valid_id(self.id)):
            raise ShapeError(f"Face.id: expected 1-64 characters of [A-Za-z0-9_-], got {self.id!r}")

    def __repr__(self) -> str:
        extras = [n for n in ("mask", "embedding", "pose") if getattr(self, n) is not None]
        return (
            f"Face(id={self.id!r}, size={self.size}, face_type={self.face_type.value}, source={self.source_path!r}, "
            f"frame={self.frame_index}, polygons={len(self.xseg_include)}+{len(self.xseg_exclude)}, "
            f"with={extras}, tags={self.tags})"
        )

    @property
    def xseg_include(self) -> tuple[F32, ...]:
        """Points of the include polygons, in drawing order."""
        return tuple(p for k, p in self.polygons if k is PolygonKind.INCLUDE)

    @property
    def xseg_exclude(self) -> tuple[F32, ...]:
        """Points of the exclude polygons, in drawing order."""
        return tuple(p for k, p in self.polygons if k is PolygonKind.EXCLUDE)

    @property
    def size(self) -> int:
        """The aligned image's side length in pixels."""
        return int(self.image.shape[0])

    @property
    def alignment(self) -> Alignment:
        """The frame-to-face :class:`fs_align.Alignment` (``image_to_face``, ``face_type``, ``size``)."""
        return Alignment(self.image_to_face, self.face_type, self.size)


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all((c.isalnum() and c.isascii()) or c in "-_" for c in value)
