"""``fs extract``'s engine: sources -> per-frame analysis (parallel) -> tracking and smoothing -> aligned faces.

It composes the libraries: fs_detect (detector, embedder, tracker), fs_align (landmarks, smoothing, alignment,
warp, pose), fs_faceset (records and writers). Nothing here is face-swap logic of its own.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_cli._alignments import AlignmentsRecord, RecordedFace, load_source_record, record_path
from fs_cli._analyse import (
    IMAGE_SUFFIXES,
    FrameFaces,
    Job,
    Settings,
    SourceKind,
    TrackMode,
    iter_frames,
    natural_key,
    run_jobs,
)
from fs_cli._draw import annotate_frame
from fs_cli.errors import CliError

__all__ = ["ExtractOptions", "ExtractSummary", "Source", "SourceSummary", "extract", "find_sources"]

ProgressFactory = Callable[[str, int | None], Any]


@dataclass(frozen=True)
class ExtractOptions:
    """``fs extract``'s settings (built from the flags)."""

    analysis: Settings = field(default_factory=Settings)
    face_type: str = "whole_face"
    size: int = 256
    every: int = 1
    shard: tuple[int, int] | None = None
    smooth: bool = True
    jobs: int = 1
    image_codec: str = "raw"
    append: bool = False
    debug_dir: Path | None = None
    max_frames: int | None = None


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    path: Path
    name: str
    files: tuple[Path, ...] = ()
    fps: float = 25.0


@dataclass
class SourceSummary:
    source: str
    kind: str
    frames_total: int = 0
    frames_processed: int = 0
    frames_with_faces: int = 0
    faces_written: int = 0
    facesets: dict[str, int] = field(default_factory=dict)
    record: str | None = None


@dataclass
class ExtractSummary:
    out: Path
    sources: list[SourceSummary] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    analyse_seconds: float = 0.0

    @property
    def faces(self) -> int:
        return sum(s.faces_written for s in self.sources)

    @property
    def frames(self) -> int:
        return sum(s.frames_processed for s in self.sources)


def find_sources(src: Path) -> tuple[list[Source], list[tuple[str, str]]]:
    """The sources in ``src`` (a video, an image, a `fs video frames` folder, or a folder of images/videos)."""
    from fs_merge import MergeError, probe_video

    skipped: list[tuple[str, str]] = []
    if not src.exists():
        raise CliError(f"{src}: no such file or folder")
    if src.is_file():
        if src.suffix.lower() in IMAGE_SUFFIXES:
            return [Source(SourceKind.STILLS, src, src.name, (src,))], skipped
        try:
            info = probe_video(src)
        except MergeError as exc:
            raise CliError(f"{src}: not an image or a video ffmpeg can read ({exc})") from exc
        return [Source(SourceKind.VIDEO, src, src.name, fps=info.fps)], skipped
    if (src / "video.json").is_file():
        info = json.loads((src / "video.json").read_text(encoding="utf-8"))
        return [Source(SourceKind.SEQUENCE, src, src.name, fps=float(info.get("fps") or 25.0))], skipped
    images: list[Path] = []
    sources: list[Source] = []
    for p in sorted(src.iterdir(), key=natural_key):
        if p.name.startswith(".") or not p.is_file():
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
            continue
        try:
            info = probe_video(p)
        except MergeError:
            skipped.append((str(p), "not an image or a readable video"))
            continue
        sources.append(Source(SourceKind.VIDEO, p, p.name, fps=info.fps))
    if images:
        sources.insert(0, Source(SourceKind.STILLS, src, src.name, tuple(images)))
    if not sources:
        raise CliError(f"{src}: folder holds no images or videos")
    return sources, skipped


def _frame_count(source: Source) -> int:
    if source.kind is SourceKind.STILLS:
        return len(source.files)
    from fs_merge import FrameReader

    return FrameReader(source.path).num_frames


def plan_jobs(source: Source, total: int, opts: ExtractOptions) -> list[Job]:
    """Split the source's frames (after --shard, --every, --max-frames) into ``opts.jobs`` contiguous jobs."""
    lo, hi = 0, total
    if opts.shard is not None:
        k, n = opts.shard
        lo, hi = total * (k - 1) // n, total * k // n
    indices = [i for i in range(lo, hi) if i % opts.every == 0]
    if opts.max_frames is not None:
        indices = indices[: opts.max_frames]
    if not indices:
        return []
    jobs = max(1, min(opts.jobs, len(indices)))
    cuts = [len(indices) * j // jobs for j in range(jobs + 1)]
    out = []
    for a, b in itertools.pairwise(cuts):
        chunk = tuple(indices[a:b])
        files = tuple(str(source.files[i]) for i in chunk) if source.kind is SourceKind.STILLS else ()
        out.append(Job(source.kind, str(source.path), chunk, files))
    return out


@dataclass
class PlannedFace:
    frame: int
    track: int
    box: npt.NDArray[np.float32]
    score: float
    landmarks: npt.NDArray[np.float32]
    embedding: npt.NDArray[np.float32] | None


def plan_faces(frames: Sequence[FrameFaces], source: Source, opts: ExtractOptions) -> dict[int, list[PlannedFace]]:
    """Track faces across frames (videos), smooth each track's landmarks, and list the faces to write per frame."""
    import fs_align
    import fs_detect

    video = source.kind is not SourceKind.STILLS
    tracker = fs_detect.FaceTracker() if video and opts.analysis.track is not TrackMode.LARGEST else None
    smoother = fs_align.LandmarkSmoother() if video and opts.smooth else None
    plan: dict[int, list[PlannedFace]] = {}
    for ff in frames:
        ids: list[int]
        if tracker is not None:
            dets = [fs_detect.Detection(ff.boxes[i], float(ff.scores[i]), ff.points5[i]) for i in range(ff.count)]
            tracked = tracker.update(dets, ff.embeddings if ff.embeddings is not None and ff.count else None)
            ids = [t.track_id for t in tracked[: ff.count]]
        else:
            ids = list(range(ff.count))
        faces = []
        for i, tid in enumerate(ids):
            lm = ff.landmarks[i]
            if smoother is not None:
                smoothed = smoother.update(tid, lm, t=ff.index / max(source.fps, 1e-6))
                lm = smoothed if smoothed is not None else lm
            emb = ff.embeddings[i] if ff.embeddings is not None and ff.count else None
            faces.append(PlannedFace(ff.index, tid, ff.boxes[i], float(ff.scores[i]), lm, emb))
        if smoother is not None:
            for lost in set(smoother.tracks) - set(ids):
                smoother.update(lost, None)
        if faces:
            plan[ff.index] = faces
    return plan


def _box4(box: npt.ArrayLike) -> tuple[float, float, float, float]:
    b = [float(v) for v in np.asarray(box).reshape(4)]
    return b[0], b[1], b[2], b[3]


class _Writers:
    """One FacesetWriter per output faceset ("." = OUT itself; "person-NN" with --track person)."""

    def __init__(self, out: Path, opts: ExtractOptions) -> None:
        self.out, self.opts = out, opts
        self.writers: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def name_for(self, track: int) -> str:
        return f"person-{track:02d}" if self.opts.analysis.track is TrackMode.PERSON else "."

    def add(self, name: str, face: Any) -> str:
        from fs_faceset import FacesetWriter

        if name not in self.writers:
            path = self.out if name == "." else self.out / name
            self.writers[name] = FacesetWriter(path, image_codec=self.opts.image_codec, append=self.opts.append)
        self.counts[name] = self.counts.get(name, 0) + 1
        return str(self.writers[name].add(face))

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def make_face(
    image: npt.NDArray[np.uint8], pf: PlannedFace, name: str, opts: ExtractOptions, tags: tuple[str, ...]
) -> Any:
    """The aligned :class:`fs_faceset.Face` of one planned face."""
    import fs_align
    from fs_faceset import Face

    h, w = image.shape[:2]
    matrix = fs_align.alignment_matrix(pf.landmarks, opts.face_type, opts.size)
    crop = fs_align.warp_face(image, matrix, opts.size)
    pose = fs_align.estimate_pose(pf.landmarks, (w, h))
    return Face(
        image=crop,
        face_type=fs_align.FaceType.parse(opts.face_type),
        landmarks=fs_align.transform_points(pf.landmarks, matrix),
        source_landmarks=pf.landmarks,
        image_to_face=matrix,
        source_rect=pf.box,
        source_path=name,
        frame_index=pf.frame,
        score=pf.score,
        embedding=pf.embedding,
        pose=pose,
        tags=tags,
    )


def _check_out(out: Path, opts: ExtractOptions) -> None:
    if out.exists() and not out.is_dir():
        raise CliError(f"-o {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not opts.append:
        raise CliError(f"-o {out}: folder is not empty (pass --append to add faces to the faceset in it)")


def extract(src: Path, out: Path, opts: ExtractOptions, progress: ProgressFactory) -> ExtractSummary:
    """Run extraction over every source under ``src`` into ``out``; raises :class:`CliError` when no face is found."""
    t0 = time.perf_counter()
    _check_out(out, opts)
    sources, skipped = find_sources(src)
    summary = ExtractSummary(out, skipped=list(skipped))
    created = not out.exists()
    writers = _Writers(out, opts)
    records: list[tuple[Path, AlignmentsRecord]] = []
    try:
        for source in sources:
            s, rec = _extract_source(source, out, opts, writers, summary, progress)
            summary.sources.append(s)
            if rec is not None:
                records.append((record_path(out, source.name, opts.shard), rec))
        if summary.faces == 0:
            frames = summary.frames
            raise CliError(f"{src}: no faces found in {frames} frame(s) (try --min-score lower, --detector mtcnn)")
        writers.close()
    except BaseException:
        for w in writers.writers.values():
            w.__exit__(RuntimeError, RuntimeError("aborted"), None)
        if created and out.exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    for path, rec in records:
        if opts.append and path.is_file():
            rec = AlignmentsRecord.load(path).merged_with(rec)
        rec.save(path)
    for s in summary.sources:
        s.facesets = {k: v for k, v in writers.counts.items()} if len(sources) == 1 else s.facesets
    summary.seconds = time.perf_counter() - t0
    return summary


def _extract_source(
    source: Source,
    out: Path,
    opts: ExtractOptions,
    writers: _Writers,
    summary: ExtractSummary,
    progress: ProgressFactory,
) -> tuple[SourceSummary, AlignmentsRecord | None]:
    total = _frame_count(source)
    s = SourceSummary(source.name, source.kind.value, frames_total=total)
    jobs = plan_jobs(source, total, opts)
    if not jobs:
        return s, None
    n = sum(len(j.indices) for j in jobs)
    t0 = time.perf_counter()
    with progress(f"analyse {source.name}", n) as advance:
        frames = run_jobs(jobs, opts.analysis, advance)
    summary.analyse_seconds += time.perf_counter() - t0
    for ff in frames:
        summary.skipped.extend((ff.name, p.split(": ", 1)[-1]) for p in ff.problems)
    s.frames_processed = sum(1 for ff in frames if ff.width > 0)
    plan = plan_faces(frames, source, opts)
    s.frames_with_faces = len(plan)
    sizes = {ff.index: (ff.width, ff.height) for ff in frames}
    w0, h0 = next(iter(sizes.values()), (0, 0))
    rec = AlignmentsRecord(
        source.name, str(source.path.resolve()), total, source.fps, w0, h0, opts.face_type, opts.size
    )
    rec.frames_processed = [ff.index for ff in frames if ff.width > 0]
    if opts.debug_dir is not None:
        opts.debug_dir.mkdir(parents=True, exist_ok=True)
    todo = sorted(plan) if opts.debug_dir is None else [ff.index for ff in frames]
    wanted = Job(
        source.kind, str(source.path), tuple(todo), tuple(str(source.files[i]) for i in todo) if source.files else ()
    )
    with progress(f"write {source.name}", len(todo)) as advance:
        for index, name, image in iter_frames(wanted):
            advance(1)
            if image is None:
                continue
            crops = []
            for pf in plan.get(index, []):
                set_name = writers.name_for(pf.track)
                face = make_face(image, pf, name, opts, (f"track:{pf.track}",))
                fid = writers.add(set_name, face)
                s.faces_written += 1
                crops.append(face)
                rec.faces.append(
                    RecordedFace(index, fid, pf.landmarks, _box4(pf.box), pf.score, pf.track, set_name)  # type: ignore[arg-type]
                )
            if opts.debug_dir is not None:
                annotated = annotate_frame(image, plan.get(index, []), crops)
                cv2.imwrite(str(opts.debug_dir / f"{Path(name).stem}_{index:06d}.png"), annotated)
    return s, rec


def extract_box(
    src: Path, out: Path, frame: int, box: tuple[float, float, float, float], opts: ExtractOptions
) -> tuple[str, Path | None]:
    """Re-extract one face from a box the user gives (DFL's manual extractor): append it to ``out``.

    Returns the new face id and the updated alignments record (``None`` for a still image).
    """
    from fs_cli._analyse import Analyser
    from fs_detect import Detection

    sources, _ = find_sources(src)
    if len(sources) != 1 or (sources[0].kind is SourceKind.STILLS and len(sources[0].files) != 1):
        raise CliError(f"{src}: --box needs one video or one image, not a folder")
    source = sources[0]
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise CliError(f"--box: expected x0,y0,x1,y1 with x1 > x0 and y1 > y0, got {box}")
    if source.kind is SourceKind.STILLS and frame != 0:
        raise CliError(f"--frame: {src} is a still image; only frame 0 exists")
    job = Job(source.kind, str(source.path), (frame,), tuple(str(f) for f in source.files))
    got = [(name, img) for idx, name, img in iter_frames(job) if idx == frame]
    if not got or got[0][1] is None:
        raise CliError(f"--frame {frame}: {src} has no such (readable) frame")
    name, image = got[0]
    assert image is not None
    h, w = image.shape[:2]
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise CliError(f"--box {box}: outside the {w}x{h} frame")
    analyser = Analyser(Settings(**{**opts.analysis.__dict__, "track": TrackMode.ALL, "embed": False}))
    size = max(x1 - x0, y1 - y0)
    pts5 = np.array([[x0 + 0.3 * size, y0 + 0.4 * size]] * 5, np.float32)  # unused by the landmarker
    det = Detection(np.array(box, np.float32), 1.0, pts5)
    ff = analyser.from_boxes(frame, name, image, [det])
    pf = PlannedFace(frame, 0, ff.boxes[0], 1.0, ff.landmarks[0], None)
    from fs_faceset import FacesetWriter

    with FacesetWriter(out, image_codec=opts.image_codec, append=True) as writer:
        fid = str(writer.add(make_face(image, pf, name, opts, ("manual",))))
    if source.kind is SourceKind.STILLS:
        return fid, None
    path = record_path(out, source.name, None)
    rec = load_source_record(out, source.name) or AlignmentsRecord(
        source.name, str(source.path.resolve()), _frame_count(source), source.fps, w, h, opts.face_type, opts.size
    )
    rec.faces.append(RecordedFace(frame, fid, pf.landmarks, box, 1.0, 0, ".", manual=True))
    rec.frames_processed = sorted(set(rec.frames_processed) | {frame})
    return fid, rec.save(path)
