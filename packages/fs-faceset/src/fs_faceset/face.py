"""The face record: one aligned face, where it came from, and what is known about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align import Alignment, FaceType, Pose, ShapeError, check_image, check_points

__all__ = ["Face"]

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


def _frozen(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = np.array(arr, copy=True)
    out.setflags(write=False)
    return out


def _polys(value: Any, name: str) -> tuple[F32, ...]:
    if value is None:
        return ()
    if isinstance(value, np.ndarray):
        raise ShapeError(f"{name}: expected a sequence of N x 2 point arrays, got a single array")
    out = []
    for i, poly in enumerate(value):
        pts = check_points(poly, f"{name}[{i}]").astype(np.float32)
        out.append(_frozen(pts))
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
        xseg_include / xseg_exclude: XSeg polygons in aligned-face pixels, each an ``N x 2`` float32 array.
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
    xseg_include: tuple[F32, ...] = field(default=())
    xseg_exclude: tuple[F32, ...] = field(default=())
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
        set_(self, "xseg_include", _polys(self.xseg_include, "Face.xseg_include"))
        set_(self, "xseg_exclude", _polys(self.xseg_exclude, "Face.xseg_exclude"))
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
    def size(self) -> int:
        """The aligned image's side length in pixels."""
        return int(self.image.shape[0])

    @property
    def alignment(self) -> Alignment:
        """The frame-to-face :class:`fs_align.Alignment` (``image_to_face``, ``face_type``, ``size``)."""
        return Alignment(self.image_to_face, self.face_type, self.size)


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all((c.isalnum() and c.isascii()) or c in "-_" for c in value)
