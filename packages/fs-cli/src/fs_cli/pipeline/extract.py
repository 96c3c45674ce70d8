"""Extraction into a faceset: sources (video, image, frames folder, folder of both) -> aligned ``Face`` records.

This composes the libraries: ``fs_merge.FrameReader`` decodes (in a thread of its own), ``fs_detect.extract_parallel``
(detect or follow -> 68 landmarks -> track -> smooth -> align) finds the faces in another thread (or worker
processes), and ``fs_faceset.FacesetWriter`` stores each face, while the next frames are analysed, with its
source name, frame index and frame-space landmarks, and the per-source facts (fps, frame size and count, frames
processed) in the faceset index. The faceset is the one record of which face was found where: ``fs merge``
reads it back.
"""

from __future__ import annotations

import functools
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

import fs_detect
from fs_cli._decode import decode_source
from fs_cli.errors import CliError
from fs_cli.pipeline._progress import Progress, null_progress
from fs_cli.pipeline._sources import IMAGE_SUFFIXES, Source, SourceKind, find_sources
from fs_faceset import Face, Faceset, FacesetWriter, SourceInfo
from fs_merge import FrameReader

__all__ = [
    "IMAGE_SUFFIXES",
    "ExtractSummary",
    "Progress",
    "Source",
    "SourceKind",
    "SourceSummary",
    "decode_source",
    "extract_face_at",
    "extract_frames",
    "extract_to_faceset",
    "face_record",
    "find_sources",
    "source_frames",
]

U8 = npt.NDArray[np.uint8]

"""``progress(label, total)`` -> a context manager giving ``advance(n)`` (e.g. a rich or tqdm bar)."""

SOURCES_EVERY = 256
"""Default frames between two commits of faces and processed frames to the faceset (a kill -9 loses at most
these; ``commit_every`` of :func:`extract_to_faceset`)."""


@dataclass
class SourceSummary:
    """What extraction did with one source."""

    source: str
    kind: str
    frames_total: int = 0
    frames_processed: int = 0
    frames_with_faces: int = 0
    faces_written: int = 0
    facesets: dict[str, int] = field(default_factory=dict)


@dataclass
class ExtractSummary:
    """What :func:`extract_to_faceset` did: per source, the files skipped (path, reason) and the time taken."""

    out: Path
    sources: list[SourceSummary] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def faces(self) -> int:
        return sum(s.faces_written for s in self.sources)

    @property
    def frames(self) -> int:
        return sum(s.frames_processed for s in self.sources)


def face_record(face: fs_detect.ExtractedFace, source: str, frame_index: int, tags: tuple[str, ...] = ()) -> Face:
    """The :class:`fs_faceset.Face` of one extracted face of frame ``frame_index`` of ``source``."""
    return Face(
        image=face.face,
        face_type=face.face_type,
        landmarks=face.face_landmarks,
        source_landmarks=face.landmarks,
        image_to_face=face.image_to_face,
        source_rect=face.box,
        source_path=source,
        frame_index=frame_index,
        score=face.score,
        embedding=face.embedding,
        pose=face.pose,
        tags=tags,
    )


class _Sink:
    """The faceset writers of one extraction ("." = OUT itself; "person-NN" per track with TrackMode.PERSON)."""

    def __init__(
        self, out: Path, settings: fs_detect.ExtractSettings, image_codec: str, append: bool, every: int
    ) -> None:
        self.out, self.settings, self.codec, self.append = out, settings, image_codec, append
        self.every = every
        self.writers: dict[str, FacesetWriter] = {}
        self.counts: dict[str, int] = {}
        self.infos: dict[str, SourceInfo] = {}
        self.pending: dict[str, SourceInfo] = {}

    def known(self) -> dict[str, SourceInfo]:
        """What OUT already holds (for resume): per source, the frames processed and the frames with stored faces
        (a run stopped between writing a shard and recording its frames does not store those faces twice)."""
        sets = [p.parent for p in [self.out / "index.json", *self.out.glob("person-*/index.json")] if p.is_file()]
        known: dict[str, SourceInfo] = {}
        for path in sets:
            faces = Faceset.open(path, include_removed=True)
            infos = list(faces.sources().values())
            names, frames = faces.source_paths, faces.column("frame_index").tolist()
            infos += [SourceInfo(n, processed=((int(i), int(i) + 1),)) for n, i in set(zip(names, frames))]
            for info in infos:
                known[info.name] = known[info.name].merged(info) if info.name in known else info
        return known

    def writer(self, name: str) -> FacesetWriter:
        if name not in self.writers:
            path = self.out if name == "." else self.out / name
            self.writers[name] = FacesetWriter(path, image_codec=self.codec, append=self.append)
            for info in self.infos.values():
                self.writers[name].add_source(info)
        return self.writers[name]

    def add(self, face: Face, track: int) -> None:
        name = f"person-{track:02d}" if self.settings.track is fs_detect.TrackMode.PERSON else "."
        self.counts[name] = self.counts.get(name, 0) + 1
        self.writer(name).add(face)

    def processed(self, info: SourceInfo) -> None:
        """Note frames looked at; they reach the writers (and the index, with the next shard) in batches."""
        self.infos[info.name] = self.infos[info.name].merged(info) if info.name in self.infos else info
        self.pending[info.name] = self.pending[info.name].merged(info) if info.name in self.pending else info
        if sum(p.frames_processed for p in self.pending.values()) >= self.every:
            self.commit_sources()
            for w in self.writers.values():
                w.flush()  # faces and the frames they came from reach the index together

    def commit_sources(self) -> None:
        for w in self.writers.values():
            for info in self.pending.values():
                w.add_source(info)
        self.pending.clear()

    def close(self) -> None:
        if not self.writers and self.infos:  # frames looked at without a face are still recorded (resume skips them)
            people = sorted(p.parent.name for p in self.out.glob("person-*/index.json"))
            person = self.settings.track is fs_detect.TrackMode.PERSON
            if not person or people:
                self.writer(people[0] if person else ".")
        self.commit_sources()
        for w in self.writers.values():
            w.close()

    def abort(self) -> None:
        for w in self.writers.values():
            w.__exit__(RuntimeError, RuntimeError("aborted"), None)


def _check_out(out: Path, append: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not append:
        raise CliError(f"{out}: folder is not empty (--resume goes on with an interrupted run, --append adds faces)")


def extract_to_faceset(
    source: str | Path,
    out_faceset: str | Path,
    settings: fs_detect.ExtractSettings | None = None,
    *,
    every: int = 1,
    max_frames: int | None = None,
    jobs: int = 1,
    shard: tuple[int, int] | None = None,
    image_codec: str = "raw",
    append: bool = False,
    resume: bool = False,
    debug_dir: str | Path | None = None,
    progress: Progress | None = None,
    commit_every: int = SOURCES_EVERY,
) -> ExtractSummary:
    """Extract the faces of ``source`` into the faceset ``out_faceset``.

    Args:
        source: a video file, an image, a ``fs video frames`` folder (has ``video.json``) or a folder of images
            and videos (each image its own source).
        out_faceset: the faceset folder (created; with ``TrackMode.PERSON``, one faceset per person in
            ``out_faceset/person-NN``).
        settings: detector, landmarker, tracking, smoothing, face type and size (``fs_detect.ExtractSettings``;
            ``embed=True`` stores SFace identity embeddings).
        every: look at every N-th frame only.
        max_frames: at most this many frames per source.
        jobs: worker processes for detection and landmarks.
        shard: ``(k, n)``: only the k-th of n parts of each video (merge the parts with
            ``fs_faceset.merge_facesets``).
        image_codec: the faceset's image storage (``"raw"``, ``"png"``, ``"jpeg"``).
        append: add to the faceset already in ``out_faceset``.
        resume: append, skipping the frames the faceset records as processed (an interrupted run goes on).
        debug_dir: write each processed frame annotated (boxes, landmarks, mask outline, crop) here.
        progress: ``progress(label, total)`` -> context manager giving ``advance(n)``.
        commit_every: frames between two commits of the faces and the frames processed to the faceset (what a
            kill -9 can lose; each commit writes a shard).

    Returns:
        Per-source counts, the files skipped and why, the time taken.

    Raises:
        CliError: no such source, an output path that is not an empty folder (without ``append``), or no face
            found at all (a new ``out_faceset`` is then removed again, as on any error).
        KeyboardInterrupt: passed on after the faces found so far and their frames are committed to the faceset.
    """
    t0 = time.perf_counter()
    out, settings = Path(out_faceset), settings if settings is not None else fs_detect.ExtractSettings()
    append = append or resume
    _check_out(out, append)
    sources, skipped = find_sources(Path(source))
    if jobs > 1 and sources:  # the helpers' fork server imports while the sources are probed
        fs_detect.start_workers(_decoder(sources[0]))
    summary = ExtractSummary(out, skipped=list(skipped))
    created = not out.exists()
    sink = _Sink(out, settings, image_codec, append, max(1, commit_every))
    done = sink.known() if resume else {}
    run = functools.partial(
        _extract_source, sink=sink, every=every, max_frames=max_frames, jobs=jobs, shard=shard, done=done
    )
    try:
        for src in sources:
            summary.sources.append(run(src, summary=summary, progress=progress or null_progress))
        if summary.faces == 0 and (summary.frames > 0 or not resume):
            raise CliError(f"{source}: no faces found in {summary.frames} frame(s) (try a lower min score, mtcnn)")
        sink.close()
    except KeyboardInterrupt:
        sink.close()  # keep what was found: `resume=True` goes on from here
        raise
    except BaseException:
        sink.abort()
        if created and out.exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    if len(sources) == 1:
        summary.sources[0].facesets = dict(sink.counts)
    if debug_dir is not None:
        _write_debug(Path(debug_dir), sources, out, settings, summary)
    summary.seconds = time.perf_counter() - t0
    return summary


def _frame_count(source: Source) -> int:
    if source.kind is SourceKind.STILLS:
        return len(source.files)
    return FrameReader(source.path).num_frames


def _selected(source: Source, total: int, done: dict[str, SourceInfo], **plan: Any) -> list[int]:
    if source.kind is SourceKind.STILLS:
        skip = [i for i, f in enumerate(source.files) if f.name in done and done[f.name].was_processed(0)]
        return fs_detect.select_frames(total, skip=skip, max_frames=plan["max_frames"], every=plan["every"])
    info = done.get(source.name)
    skip = info.processed_frames().tolist() if info is not None else []
    return fs_detect.select_frames(total, skip=skip, **plan)


def _decoder(source: Source) -> fs_detect.Decode:
    """The source's ``fs_detect.Decode``: :func:`decode_source` bound to it (picklable, for worker processes)."""
    return functools.partial(decode_source, source.kind.value, str(source.path), tuple(str(f) for f in source.files))


def source_frames(
    source: Source,
    indices: Sequence[int],
    settings: fs_detect.ExtractSettings | None = None,
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Iterator[fs_detect.FrameResult]:
    """``fs_detect.extract_parallel`` over the frames ``indices`` of one source (decoded by :func:`decode_source`).

    For ``STILLS`` an index is a position in ``source.files`` (each image alone: no tracking or smoothing).
    """
    stills = source.kind is SourceKind.STILLS
    yield from fs_detect.extract_parallel(
        _decoder(source), indices, settings, jobs=jobs, fps=source.fps, sequence=not stills, progress=progress
    )


def extract_frames(
    source: str | Path,
    settings: fs_detect.ExtractSettings | None = None,
    *,
    every: int = 1,
    max_frames: int | None = None,
    jobs: int = 1,
    frames_folder: bool = False,
    progress: Progress | None = None,
) -> Iterator[tuple[Source, fs_detect.FrameResult]]:
    """The faces of every frame of ``source`` without writing anything: ``(source, frame result)`` in order.

    ``frames_folder``: a folder is the frames of one video even without ``video.json`` (e.g. a merge's dst).
    """
    sources, _ = find_sources(Path(source), frames_folder=frames_folder)
    if jobs > 1 and sources:  # the helpers' fork server imports while the sources are probed
        fs_detect.start_workers(_decoder(sources[0]))
    for src in sources:
        indices = fs_detect.select_frames(_frame_count(src), every=every, max_frames=max_frames)
        with (progress or null_progress)(f"find faces in {src.name}", len(indices)) as advance:
            for result in source_frames(src, indices, settings, jobs=jobs, progress=advance):
                yield src, result


def _extract_source(
    source: Source,
    *,
    sink: _Sink,
    summary: ExtractSummary,
    progress: Progress,
    every: int,
    max_frames: int | None,
    jobs: int,
    shard: tuple[int, int] | None,
    done: dict[str, SourceInfo],
) -> SourceSummary:
    total = _frame_count(source)
    s = SourceSummary(source.name, source.kind.value, frames_total=total)
    indices = _selected(source, total, done, every=every, shard=shard, max_frames=max_frames)
    if not indices:
        return s
    stills = source.kind is SourceKind.STILLS
    settings = sink.settings
    with progress(f"extract {source.name}", len(indices)) as advance:
        # the extraction runs ahead in a thread of its own (bounded) while this thread writes the faces
        for r in fs_detect.prefetched(source_frames(source, indices, settings, jobs=jobs, progress=advance), 16):
            name, frame = (source.files[r.index].name, 0) if stills else (source.name, r.index)
            if not r.readable:
                summary.skipped.append((str(source.files[r.index]) if stills else f"{name}#{r.index}", "not readable"))
                continue
            s.frames_processed += 1
            s.frames_with_faces += bool(r.faces)
            for f in r.faces:
                sink.add(face_record(f, name, frame, (f"track:{f.track_id}",)), f.track_id)
                s.faces_written += 1
            path = str((source.files[r.index] if stills else source.path).resolve())
            sink.processed(
                SourceInfo(
                    name,
                    path,
                    fps=None if stills else source.fps,
                    width=r.width,
                    height=r.height,
                    frame_count=1 if stills else total,
                    processed=((frame, frame + 1),),
                    face_type=settings.face_type,
                    size=settings.size,
                )
            )
    return s


def _write_debug(
    folder: Path, sources: list[Source], out: Path, settings: fs_detect.ExtractSettings, summary: ExtractSummary
) -> None:
    """Annotated frames (boxes, landmarks, track ids, mask outlines, crops) of every processed frame."""
    from fs_cli._draw import annotate_frame

    folder.mkdir(parents=True, exist_ok=True)
    sets = [out] if (out / "index.json").is_file() else sorted(p for p in out.glob("person-*") if p.is_dir())
    by_frame: dict[tuple[str, int], list[Face]] = {}
    for path in sets:
        for face in Faceset.open(path):
            by_frame.setdefault((face.source_path, face.frame_index), []).append(face)
    infos = {k: v for path in sets for k, v in Faceset.open(path).sources().items()}
    for source in sources:
        stills = source.kind is SourceKind.STILLS
        names = [f.name for f in source.files] if stills else [source.name]
        processed = [i for i, n in enumerate(names) if n in infos and infos[n].was_processed(0)] if stills else []
        if not stills and source.name in infos:
            processed = infos[source.name].processed_frames().tolist()
        decode = decode_source(source.kind.value, str(source.path), [str(f) for f in source.files], processed)
        for index, image in decode:
            if image is None:
                continue
            name, frame = (names[index], 0) if stills else (source.name, index)
            faces = by_frame.get((name, frame), [])
            annotated = annotate_frame(image, [_Drawn(f) for f in faces], faces)
            cv2.imwrite(str(folder / f"{Path(name).stem}_{frame:06d}.png"), annotated)


class _Drawn:
    """A stored face as :func:`annotate_frame` draws it (frame-space box and landmarks, track id, score)."""

    def __init__(self, face: Face) -> None:
        self.box = face.source_rect if face.source_rect is not None else np.zeros(4, np.float32)
        self.landmarks = face.source_landmarks
        self.score = face.score
        track = next((t.split(":", 1)[1] for t in face.tags if t.startswith("track:")), "0")
        self.track = int(track) if re.fullmatch(r"\d+", track) else 0


def extract_face_at(
    source: str | Path,
    out_faceset: str | Path,
    frame: int,
    box: tuple[float, float, float, float],
    settings: fs_detect.ExtractSettings | None = None,
    *,
    image_codec: str = "raw",
) -> str:
    """Add the face inside ``box`` (x0, y0, x1, y1 frame pixels) of frame ``frame`` of ``source`` to a faceset.

    DFL's manual extractor: for a face the detector missed. The face is tagged ``"manual"``; ``source`` is one
    video, one image (frame 0) or one frames folder. Returns the new face's id.

    Raises:
        CliError: a folder of several sources, a bad box, or no such frame.
    """
    settings = replace(settings or fs_detect.ExtractSettings(), track=fs_detect.TrackMode.ALL, embed=False)
    sources, _ = find_sources(Path(source))
    if len(sources) != 1 or (sources[0].kind is SourceKind.STILLS and len(sources[0].files) != 1):
        raise CliError(f"{source}: a manual face needs one video or one image, not a folder")
    src = sources[0]
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise CliError(f"box: expected x0,y0,x1,y1 with x1 > x0 and y1 > y0, got {box}")
    stills = src.kind is SourceKind.STILLS
    if stills and frame != 0:
        raise CliError(f"frame: {source} is a still image; only frame 0 exists")
    got = list(decode_source(src.kind.value, str(src.path), [str(f) for f in src.files], [0 if stills else frame]))
    if not got or got[0][1] is None:
        raise CliError(f"frame {frame}: {source} has no such (readable) frame")
    image = got[0][1]
    h, w = image.shape[:2]
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise CliError(f"box {box}: outside the {w}x{h} frame")
    side = max(x1 - x0, y1 - y0)
    pts5 = np.array([[x0 + 0.3 * side, y0 + 0.4 * side]] * 5, np.float32)  # unused by the landmarker
    dets = fs_detect.FaceAnalyser(settings).from_detections(
        image, [fs_detect.Detection(np.array(box, np.float32), 1.0, pts5)], frame
    )
    planned = fs_detect.PlannedFace(frame, 0, dets.boxes[0], 1.0, dets.landmarks[0], None)
    name = src.files[0].name if stills else src.name
    with FacesetWriter(out_faceset, image_codec=image_codec, append=True) as writer:
        fid = writer.add(face_record(fs_detect.align_planned(image, planned, settings), name, frame, ("manual",)))
        writer.add_source(SourceInfo(name, str((src.files[0] if stills else src.path).resolve()), width=w, height=h))
    return str(fid)
