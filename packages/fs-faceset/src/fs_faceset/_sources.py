"""Per-source facts kept in the faceset index: fps, frame size, frame count, which frames were looked at."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align import FaceType
from fs_faceset.errors import FacesetError, FacesetFormatError

__all__ = ["SourceInfo", "frame_ranges"]

Ranges = tuple[tuple[int, int], ...]


def frame_ranges(frames: Iterable[int] | Iterable[tuple[int, int]]) -> Ranges:
    """Normalise frame numbers (``[0, 1, 2, 7]``) or half-open ``(start, stop)`` ranges into sorted, disjoint,
    non-adjacent half-open ranges (``((0, 3), (7, 8))``). A ``range`` with step 1 is taken as its frames.

    Raises:
        FacesetError: a negative frame, a range with ``stop < start``, or an item that is neither.
    """
    spans: list[tuple[int, int]] = []
    singles: list[int] = []
    for item in frames:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            singles.append(int(item))
            continue
        pair: Any = item
        try:
            a, b = (int(v) for v in pair)
        except (TypeError, ValueError):
            raise FacesetError(f"frames: expected ints or (start, stop) pairs, got {item!r}") from None
        if b < a:
            raise FacesetError(f"frames: range ({a}, {b}) ends before it starts")
        if b > a:
            spans.append((a, b))
    if singles:
        arr = np.unique(np.asarray(singles, dtype=np.int64))
        breaks = np.flatnonzero(np.diff(arr) != 1) + 1
        spans += [(int(run[0]), int(run[-1]) + 1) for run in np.split(arr, breaks)]
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if a < 0:
            raise FacesetError(f"frames: negative frame number {a}")
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


@dataclass(frozen=True)
class SourceInfo:
    """What a faceset knows about one source (a video, a still, or a folder of frames), kept in ``index.json``.

    Attributes:
        name: the source's key, exactly as :attr:`Face.source_path` stores it for its faces.
        path: where the source was read from (e.g. its absolute path; informational, may be empty).
        fps: frames per second of a video (``None`` for stills or when unknown).
        width, height: frame size in pixels (``None`` when unknown).
        frame_count: frames in the source (``None`` when unknown).
        processed: the frames that were looked at (faces found or not), as sorted, disjoint half-open
            ``(start, stop)`` ranges; the constructor normalises any frames or ranges (see :func:`frame_ranges`).
        face_type: the face type the faces of this source were aligned with (``None`` when unknown).
        size: the aligned face size used (``None`` when unknown).

    Raises:
        FacesetError: a field of the wrong type or range.
    """

    name: str
    path: str = ""
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    processed: Ranges = ()
    face_type: FaceType | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not isinstance(self.path, str):
            raise FacesetError(f"SourceInfo: name and path must be strings, got {self.name!r}, {self.path!r}")
        if self.fps is not None:
            fps = float(self.fps)
            if not (math.isfinite(fps) and fps > 0):
                raise FacesetError(f"SourceInfo {self.name!r}: fps must be a positive number, got {self.fps!r}")
            object.__setattr__(self, "fps", fps)
        for field_name, low in (("width", 1), ("height", 1), ("frame_count", 0), ("size", 1)):
            value = getattr(self, field_name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise FacesetError(f"SourceInfo {self.name!r}: {field_name} must be an int >= {low}, got {value!r}")
            object.__setattr__(self, field_name, int(value))
        if self.face_type is not None:
            try:
                object.__setattr__(self, "face_type", FaceType.parse(self.face_type))
            except ValueError as exc:
                raise FacesetError(f"SourceInfo {self.name!r}: {exc}") from None
        object.__setattr__(self, "processed", frame_ranges(self.processed))

    @property
    def frames_processed(self) -> int:
        """How many frames were looked at."""
        return sum(b - a for a, b in self.processed)

    def processed_frames(self) -> npt.NDArray[np.int64]:
        """The frames that were looked at, sorted, as an int64 array."""
        if not self.processed:
            return np.zeros((0,), np.int64)
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in self.processed])

    def was_processed(self, frame: int) -> bool:
        """Whether ``frame`` was looked at."""
        return any(a <= frame < b for a, b in self.processed)

    def with_frames(self, frames: Iterable[int] | Iterable[tuple[int, int]]) -> SourceInfo:
        """A copy with ``frames`` (numbers or half-open ranges) added to :attr:`processed`."""
        return replace(self, processed=frame_ranges([*self.processed, *frame_ranges(frames)]))

    def merged(self, other: SourceInfo) -> SourceInfo:
        """The facts of two records of the same source (two shards of one extract, a resumed run) as one.

        Processed frames are united; ``frame_count`` is the larger one; other fields take this record's value,
        or the other's where this one has none.

        Raises:
            FacesetError: the names differ, or both give a different fps, width, height, face type or size.
        """
        if other.name != self.name:
            raise FacesetError(f"SourceInfo: cannot merge source {self.name!r} with {other.name!r}")
        changes: dict[str, Any] = {}
        for f in ("path", "fps", "width", "height", "face_type", "size"):
            mine, theirs = getattr(self, f), getattr(other, f)
            if mine in (None, "") and theirs not in (None, ""):
                changes[f] = theirs
            elif f != "path" and theirs is not None and mine != theirs:
                same = f == "fps" and math.isclose(mine, theirs, rel_tol=1e-6)
                if not same:
                    raise FacesetError(f"source {self.name!r}: {f} {mine!r} here, {theirs!r} in the other record")
        counts = [c for c in (self.frame_count, other.frame_count) if c is not None]
        changes["frame_count"] = max(counts) if counts else None
        changes["processed"] = frame_ranges([*self.processed, *other.processed])
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (the ``sources`` entries of ``index.json``)."""
        return {
            "name": self.name,
            "path": self.path,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "frame_count": self.frame_count,
            "processed": [list(r) for r in self.processed],
            "face_type": None if self.face_type is None else self.face_type.value,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, doc: Any, where: str) -> SourceInfo:
        """Parse one ``sources`` entry of ``index.json``.

        Raises:
            FacesetFormatError: naming ``where`` and the problem.
        """
        try:
            if not isinstance(doc, dict) or not isinstance(doc.get("processed", []), list):
                raise TypeError("not an object with a 'processed' list")
            return cls(
                name=doc["name"],
                path=doc.get("path", ""),
                fps=doc.get("fps"),
                width=doc.get("width"),
                height=doc.get("height"),
                frame_count=doc.get("frame_count"),
                processed=tuple((int(a), int(b)) for a, b in doc.get("processed", [])),
                face_type=doc.get("face_type"),
                size=doc.get("size"),
            )
        except (KeyError, TypeError, ValueError, FacesetError) as exc:
            raise FacesetFormatError(f"{where}: malformed source entry ({exc})") from exc
