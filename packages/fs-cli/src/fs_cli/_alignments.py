"""The per-source alignments record: which faces `fs extract` found in which frame of a source.

Written as JSON next to the faceset's shards (``FACESET/alignments/<source>.json``; fs-faceset readers only
read what ``index.json`` lists, so the folder is ignored by them). ``fs merge`` reads it to find each frame's
faces again, in the frame numbering of :class:`fs_merge.FrameReader`. Format (version 1)::

    {"version": 1, "source": "clip.mp4", "source_path": "/abs/clip.mp4", "num_frames": 120,
     "fps": 25.0, "width": 400, "height": 300, "face_type": "whole_face", "size": 256,
     "frames_processed": [0, 1, ...],                      # frames that were looked at
     "faces": [{"frame": 0, "id": "ab12...", "faceset": "person-00", "track": 0, "score": 0.93,
                "box": [x0, y0, x1, y1], "landmarks": [[x, y] * 68], "manual": false}, ...]}
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align import atomic_write
from fs_cli.errors import CliError

__all__ = ["AlignmentsRecord", "RecordedFace", "find_records", "record_path"]

VERSION = 1
FOLDER = "alignments"


@dataclass(frozen=True)
class RecordedFace:
    """One face of one frame: frame-space box and 68 landmarks, the face id in the faceset, its track."""

    frame: int
    id: str
    landmarks: npt.NDArray[np.float32]
    box: tuple[float, float, float, float]
    score: float = 1.0
    track: int = 0
    faceset: str = "."
    manual: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "id": self.id,
            "faceset": self.faceset,
            "track": self.track,
            "score": round(float(self.score), 5),
            "box": [round(float(v), 3) for v in self.box],
            "landmarks": np.round(self.landmarks.astype(np.float64), 3).tolist(),
            "manual": self.manual,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> RecordedFace:
        lm = np.asarray(d["landmarks"], dtype=np.float32)
        if lm.shape != (68, 2) or not np.all(np.isfinite(lm)):
            raise ValueError(f"face {d.get('id')!r}: landmarks must be 68 x 2 finite numbers")
        box = tuple(float(v) for v in d["box"])
        if len(box) != 4:
            raise ValueError(f"face {d.get('id')!r}: box must hold 4 numbers")
        return RecordedFace(
            frame=int(d["frame"]),
            id=str(d["id"]),
            landmarks=lm,
            box=box,  # type: ignore[arg-type]
            score=float(d.get("score", 1.0)),
            track=int(d.get("track", 0)),
            faceset=str(d.get("faceset", ".")),
            manual=bool(d.get("manual", False)),
        )


@dataclass
class AlignmentsRecord:
    """The faces found in one source (a video, an image, or a folder of frames)."""

    source: str
    source_path: str
    num_frames: int
    fps: float
    width: int
    height: int
    face_type: str
    size: int
    frames_processed: list[int] = field(default_factory=list)
    faces: list[RecordedFace] = field(default_factory=list)

    def by_frame(self) -> dict[int, list[RecordedFace]]:
        """Faces grouped by frame index."""
        out: dict[int, list[RecordedFace]] = defaultdict(list)
        for f in self.faces:
            out[f.frame].append(f)
        return dict(out)

    def to_json(self) -> str:
        data = {
            "version": VERSION,
            "source": self.source,
            "source_path": self.source_path,
            "num_frames": self.num_frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "face_type": self.face_type,
            "size": self.size,
            "frames_processed": sorted(set(self.frames_processed)),
            "faces": [f.to_dict() for f in sorted(self.faces, key=lambda f: (f.frame, f.track))],
        }
        return json.dumps(data, separators=(",", ":"))

    def save(self, path: Path) -> Path:
        """Write atomically (temp file, fsync, rename)."""
        return atomic_write(path, self.to_json())

    @staticmethod
    def load(path: Path) -> AlignmentsRecord:
        """Read a record; a malformed file raises :class:`CliError` naming it."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
            if d.get("version") != VERSION:
                raise ValueError(f"unsupported version {d.get('version')!r}")
            return AlignmentsRecord(
                source=str(d["source"]),
                source_path=str(d["source_path"]),
                num_frames=int(d["num_frames"]),
                fps=float(d["fps"]),
                width=int(d["width"]),
                height=int(d["height"]),
                face_type=str(d["face_type"]),
                size=int(d["size"]),
                frames_processed=[int(i) for i in d.get("frames_processed", [])],
                faces=[RecordedFace.from_dict(f) for f in d.get("faces", [])],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"{path}: not a valid alignments record ({exc})") from exc

    def merged_with(self, other: AlignmentsRecord) -> AlignmentsRecord:
        """This record plus another one of the same source (shards); the other's faces win per (frame, id)."""
        faces = {(f.frame, f.id): f for f in self.faces}
        faces.update({(f.frame, f.id): f for f in other.faces})
        return AlignmentsRecord(
            self.source,
            self.source_path,
            max(self.num_frames, other.num_frames),
            self.fps,
            self.width,
            self.height,
            self.face_type,
            self.size,
            sorted(set(self.frames_processed) | set(other.frames_processed)),
            list(faces.values()),
        )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "source"


def record_path(root: Path, source: str, shard: tuple[int, int] | None = None) -> Path:
    """Where the record of ``source`` goes under the output folder ``root``."""
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard else ""
    return root / FOLDER / f"{_safe(source)}{suffix}.json"


def find_records(root: Path, source: str | None = None) -> list[Path]:
    """Records under ``root`` (a faceset or a `--track person` output folder), optionally of one source."""
    folders = [root / FOLDER, root.parent / FOLDER]
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.json")):
            stem = p.name[: -len(".json")]
            base = re.sub(r"\.shard-\d+-of-\d+$", "", stem)
            if source is None or base == _safe(source):
                found.append(p)
        if found:
            break
    return found


def load_source_record(root: Path, source: str) -> AlignmentsRecord | None:
    """All shards of one source's record under ``root`` merged into one (``None`` if there is none)."""
    paths = find_records(root, source)
    if not paths:
        return None
    record = AlignmentsRecord.load(paths[0])
    for p in paths[1:]:
        record = record.merged_with(AlignmentsRecord.load(p))
    return record


def require_record(root: Path, source: str) -> AlignmentsRecord:
    """Like :func:`load_source_record` but raising :class:`CliError` when there is no record."""
    rec = load_source_record(root, source)
    if rec is None:
        raise CliError(f"{root}: no alignments record for {source!r} (run `fs extract {source} -o {root}` first)")
    return rec
