"""The per-frame part of extraction: detect faces and find their 68 landmarks (stateless, runs in workers).

A *job* is a contiguous run of frames of one source. Each job loads its own detector and landmarker, so jobs
run in separate processes (``--jobs N``) without sharing state; the results are small arrays per frame.
"""

from __future__ import annotations

import enum
import multiprocessing as mp
import queue as queue_mod
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_cli.errors import CliError

__all__ = ["FrameFaces", "Job", "Settings", "SourceKind", "TrackMode", "iter_frames", "run_jobs"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class TrackMode(str, enum.Enum):
    """Which faces of a frame are kept."""

    ALL = "all"
    """Every face (one faceset); video faces are still tracked so their landmarks are smoothed per person."""
    LARGEST = "largest"
    """Only the largest face of each frame (DFL's single-face extraction)."""
    PERSON = "person"
    """Every face, one faceset per tracked person (tracks linked by box overlap and SFace identity)."""


class SourceKind(str, enum.Enum):
    VIDEO = "video"
    """A video file; frames numbered as fs_merge.FrameReader numbers them."""
    SEQUENCE = "sequence"
    """A folder written by `fs video frames` (has video.json): frames in natural order."""
    STILLS = "stills"
    """One image, or a folder of unrelated images (each its own frame 0)."""


@dataclass(frozen=True)
class Settings:
    """Everything the per-frame analysis needs (picklable; sent to worker processes)."""

    detector: str = "yunet"
    device: str | None = None
    min_score: float | None = None
    min_face: int = 32
    detect_side: int = 640
    refine: bool = True
    track: TrackMode = TrackMode.ALL
    embed: bool = False
    threads: int = 0


@dataclass(frozen=True)
class Job:
    """Frames ``indices`` (sorted) of one source; ``files`` for stills (one per index)."""

    kind: SourceKind
    path: str
    indices: tuple[int, ...]
    files: tuple[str, ...] = ()


@dataclass
class FrameFaces:
    """What the analysis found in one frame (arrays have one row per face, largest face first)."""

    index: int
    name: str
    width: int
    height: int
    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    points5: npt.NDArray[np.float32]
    landmarks: npt.NDArray[np.float32]
    embeddings: npt.NDArray[np.float32] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return int(self.boxes.shape[0])


def natural_key(path: Path) -> list[Any]:
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def read_image(path: Path) -> npt.NDArray[np.uint8] | None:
    """An image file as BGR uint8, or ``None`` when it cannot be decoded."""
    from fs_align import as_bgr_uint8

    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    return None if img is None else as_bgr_uint8(img, str(path))


def iter_frames(job: Job, problems: list[str] | None = None) -> Iterator[tuple[int, str, npt.NDArray[np.uint8] | None]]:
    """``(index, name, image)`` for the job's frames in order; ``image`` is ``None`` for an unreadable still."""
    if job.kind is SourceKind.STILLS:
        for i, f in zip(job.indices, job.files):
            yield i, Path(f).name, read_image(Path(f))
        return
    from fs_merge import FrameReader

    wanted = set(job.indices)
    last = max(job.indices, default=-1)
    reader = FrameReader(job.path)
    name = Path(job.path).name
    frames = iter(reader)
    seen = None
    try:
        for frame in frames:
            if frame.index > last:
                seen = len(reader.problems)  # stopping early makes ffmpeg report a broken pipe: not a problem
                break
            if frame.index in wanted:
                yield frame.index, name, frame.image
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    if problems is not None:
        problems.extend(reader.problems[:seen])


class Analyser:
    """Detector + landmarker (+ embedder) for one process."""

    def __init__(self, settings: Settings) -> None:
        import fs_align
        import fs_detect

        self.settings = settings
        config = fs_detect.DetectorConfig(
            score_threshold=settings.min_score,
            min_face_size=settings.min_face,
            max_input_side=settings.detect_side,
        )
        self.detector = fs_detect.load_detector(settings.detector, device=settings.device, config=config)
        self.landmarker = fs_align.load_landmarker("dlib68")
        need_embed = settings.embed or settings.track is TrackMode.PERSON
        self.embedder = fs_detect.load_embedder("sface") if need_embed else None

    def analyse(self, index: int, name: str, image: npt.NDArray[np.uint8]) -> FrameFaces:
        dets = self.detector.detect(image)
        dets.sort(key=lambda d: -d.width * d.height)
        if self.settings.track is TrackMode.LARGEST:
            dets = dets[:1]
        return self.from_boxes(index, name, image, dets)

    def from_boxes(self, index: int, name: str, image: npt.NDArray[np.uint8], dets: Sequence[Any]) -> FrameFaces:
        h, w = image.shape[:2]
        n = len(dets)
        boxes = np.array([d.box for d in dets], np.float32).reshape(n, 4)
        scores = np.array([d.score for d in dets], np.float32).reshape(n)
        pts5 = np.array([d.landmarks for d in dets], np.float32).reshape(n, 5, 2)
        lms = (
            self.landmarker.predict(image, boxes, refine=self.settings.refine)
            if n
            else np.zeros((0, 68, 2), np.float32)
        )
        emb = self.embedder.embed_detections(image, list(dets)) if (self.embedder is not None and n) else None
        if self.embedder is not None and emb is None:
            emb = np.zeros((0, 128), np.float32)
        return FrameFaces(index, name, w, h, boxes, scores, pts5, lms, emb)


def _limit_threads(threads: int) -> None:
    if threads > 0:
        cv2.setNumThreads(threads)
        import torch

        torch.set_num_threads(threads)


def analyse_job(job: Job, settings: Settings, progress: Callable[[int], None] | None = None) -> list[FrameFaces]:
    """Run one job in this process."""
    _limit_threads(settings.threads)
    analyser = Analyser(settings)
    out: list[FrameFaces] = []
    problems: list[str] = []
    for index, name, image in iter_frames(job, problems):
        if image is None:
            empty = np.zeros((0, 4), np.float32)
            ff = FrameFaces(
                index, name, 0, 0, empty, empty[:, 0], np.zeros((0, 5, 2), np.float32), np.zeros((0, 68, 2), np.float32)
            )
            ff.problems.append(f"{name}: skipped, not a readable image")
            out.append(ff)
        else:
            out.append(analyser.analyse(index, name, image))
        if progress is not None:
            progress(1)
    if problems and out:
        out[0].problems.extend(problems)
    elif problems:
        raise CliError(f"{job.path}: {problems[0]}")
    return out


def _worker(k: int, job: Job, settings: Settings, q: Any) -> None:
    try:
        result = analyse_job(job, settings, lambda n: q.put(("progress", k, n)))
        q.put(("done", k, result))
    except BaseException as exc:  # reported to the parent, which raises it there
        q.put(("error", k, (f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc), traceback.format_exc())))


def run_jobs(jobs: Sequence[Job], settings: Settings, progress: Callable[[int], None]) -> list[FrameFaces]:
    """Run the jobs (in worker processes when there are several) and return all frames sorted by index."""
    if len(jobs) == 1:
        return analyse_job(jobs[0], settings, progress)
    # fork is unsafe here (OpenMP / OpenCV thread pools and rich's refresh thread live in the parent), so the
    # workers come from a clean fork server that has imported the heavy modules once.
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx: Any = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["fs_cli._analyse", "fs_detect", "fs_align", "fs_merge", "cv2", "torch"])
    q: Any = ctx.Queue()
    worker_settings = Settings(**{**settings.__dict__, "threads": settings.threads or 1})
    procs = [ctx.Process(target=_worker, args=(k, job, worker_settings, q), daemon=True) for k, job in enumerate(jobs)]
    for p in procs:
        p.start()
    results: dict[int, list[FrameFaces]] = {}
    try:
        while len(results) < len(jobs):
            try:
                kind, k, payload = q.get(timeout=1.0)
            except queue_mod.Empty:
                dead = [i for i, p in enumerate(procs) if not p.is_alive() and i not in results]
                if dead and q.empty():
                    raise CliError(f"extraction worker {dead[0]} died (exit code {procs[dead[0]].exitcode})") from None
                continue
            if kind == "progress":
                progress(int(payload))
            elif kind == "done":
                results[k] = payload
            else:
                message, _tb = payload
                raise CliError(f"extraction worker {k}: {message}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
    return sorted((f for r in results.values() for f in r), key=lambda f: f.index)
