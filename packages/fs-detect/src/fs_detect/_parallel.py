"""Parallel and sharded extraction: contiguous runs of frames extracted whole in worker processes.

This process extracts from the first frame on while helper processes start; the frames left when they are ready
are split into contiguous runs, one per process; each helper decodes its run itself (through the caller's
``decode`` callback, in a thread of its own) and runs the whole :class:`Extractor` over it, so nothing is left
for a serial pass afterwards. Results come back in small chunks and are yielded in index order with track ids
stitched across the runs. :func:`analyse_frames` (per-frame
analysis only) and :func:`plan_frames` (tracking and smoothing of analysed frames) are the parts on their own.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing as mp
import queue as queue_mod
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_detect._extract import (
    ExtractedFace,
    Extractor,
    ExtractSettings,
    FaceAnalyser,
    FacePlanner,
    FrameDetections,
    FrameResult,
    PlannedFace,
    limit_threads,
    new_follower,
    prefetched,
)
from fs_detect._types import box_iou
from fs_detect.errors import DetectConfigError, DetectError

__all__ = [
    "Decode",
    "analyse_frames",
    "extract_parallel",
    "plan_frames",
    "select_frames",
    "split_frames",
    "start_workers",
]

Decode = Callable[[Sequence[int]], Iterable[tuple[int, "npt.NDArray[np.uint8] | None"]]]
"""``decode(indices)`` yields ``(index, H x W x 3 BGR uint8 image or None)`` for the sorted frame indices asked for,
in order (``None``: that frame cannot be decoded). With ``jobs > 1`` it runs in worker processes and is pickled:
use a module-level function (or a :func:`functools.partial` of one)."""

Progress = Callable[[int], None]


def select_frames(
    total: int,
    *,
    every: int = 1,
    shard: tuple[int, int] | None = None,
    max_frames: int | None = None,
    skip: Iterable[int] = (),
) -> list[int]:
    """The frame indices of a ``total``-frame source that an extraction looks at.

    Args:
        total: the source's frame count.
        every: only indices divisible by ``every``.
        shard: ``(k, n)``, 1 <= k <= n: only the k-th of n contiguous parts of ``range(total)`` (one machine's share).
        max_frames: at most this many indices (the first ones).
        skip: indices already done (resume); dropped before ``max_frames`` is applied.

    Raises:
        DetectConfigError: ``every < 1``, a bad shard or ``max_frames < 1`` (a ``ValueError``).
    """
    if every < 1:
        raise DetectConfigError(f"every: expected an int >= 1, got {every!r}")
    if max_frames is not None and max_frames < 1:
        raise DetectConfigError(f"max_frames: expected None or an int >= 1, got {max_frames!r}")
    lo, hi = 0, max(int(total), 0)
    if shard is not None:
        k, n = shard
        if not 1 <= k <= n:
            raise DetectConfigError(f"shard: expected (k, n) with 1 <= k <= n, got {shard!r}")
        lo, hi = hi * (k - 1) // n, hi * k // n
    done = set(skip)
    indices = [i for i in range(lo, hi) if i % every == 0 and i not in done]
    return indices if max_frames is None else indices[:max_frames]


def split_frames(indices: Sequence[int], parts: int) -> list[tuple[int, ...]]:
    """``indices`` cut into at most ``parts`` contiguous runs of near-equal length (none empty)."""
    n = max(1, min(int(parts), len(indices)))
    cuts = [len(indices) * j // n for j in range(n + 1)]
    return [tuple(indices[a:b]) for a, b in itertools.pairwise(cuts) if b > a]


def _analyse_run(
    decode: Decode, indices: Sequence[int], settings: ExtractSettings, progress: Progress | None, sequence: bool
) -> list[FrameDetections]:
    analyser = FaceAnalyser(settings)
    limit_threads(settings.threads)  # after loading: MTCNN has imported torch by now
    follower = new_follower(analyser, sequence)
    out = []
    for index, image in prefetched(decode(indices)):
        if image is None:
            out.append(FrameDetections.unreadable(index))
        else:
            out.append(follower.analyse(image, index) if follower is not None else analyser.analyse(image, index))
        if progress is not None:
            progress(1)
    return out


def _worker(k: int, decode: Decode, indices: Sequence[int], settings: ExtractSettings, sequence: bool, q: Any) -> None:
    try:
        report = lambda n: q.put(("progress", k, n))  # noqa: E731
        q.put(("done", k, _analyse_run(decode, indices, settings, report, sequence)))
    except BaseException as exc:  # reported to the parent, which raises it there
        q.put(("error", k, str(exc) or type(exc).__name__))


_CHUNK = 8


def _helper_worker(
    k: int, decode: Decode, settings: ExtractSettings, fps: float, sequence: bool, q: Any, orders: Any
) -> None:
    """Load the models, say "ready", then extract the range of frames the parent hands over (or none)."""
    try:
        extractor = Extractor(settings, fps=fps, sequence=sequence)
        q.put(("ready", k, None))
        indices = orders.get()
        if indices:
            chunk: list[FrameResult] = []
            for result in extractor.run(decode(indices)):
                chunk.append(result)
                if len(chunk) >= _CHUNK:
                    q.put(("results", k, chunk))
                    chunk = []
            q.put(("results", k, chunk))
        q.put(("done", k, None))
    except BaseException as exc:  # reported to the parent, which raises it there
        q.put(("error", k, str(exc) or type(exc).__name__))


def _preload(decode: Decode) -> list[str]:
    """What the fork server imports once for all workers: OpenCV, fs-align, fs-detect, the landmark kernel
    (:mod:`fs_detect._warm` compiles it) and the decoder's module.

    Not torch (seconds to import): YuNet, the landmarkers and the alignment never need it; MTCNN workers import
    it when they load the detector.
    """
    func = getattr(decode, "func", decode)
    module = getattr(func, "__module__", None)
    base = ["cv2", "fs_align", "fs_detect", "fs_detect._warm"]
    return [*base, module] if isinstance(module, str) and module != "__main__" else base


def _context(decode: Decode) -> Any:
    """The multiprocessing context of the workers: a fork server preloading :func:`_preload`, or spawn."""
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx: Any = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(_preload(decode))
    return ctx


def start_workers(decode: Decode) -> None:
    """Start, now and in the background, the fork server that :func:`extract_parallel`'s helpers come from.

    Optional: call it as early as possible (e.g. before probing a video) with the ``decode`` you will pass, and
    the server's imports (OpenCV, fs-align, fs-detect, ``decode``'s module: about half a second) overlap that work
    instead of the first extraction's start. Does nothing where there is no fork server (spawn) or when it runs.
    """
    if _context(decode).get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    forkserver.ensure_running()


def _collect(procs: list[Any], q: Any, runs: int, progress: Progress | None) -> dict[int, list[FrameDetections]]:
    results: dict[int, list[FrameDetections]] = {}
    while len(results) < runs:
        try:
            kind, k, payload = q.get(timeout=1.0)
        except queue_mod.Empty:
            dead = [i for i, p in enumerate(procs) if not p.is_alive() and i not in results]
            if dead and q.empty():
                raise DetectError(f"extraction worker {dead[0]} died (exit code {procs[dead[0]].exitcode})") from None
            continue
        if kind == "progress":
            if progress is not None:
                progress(int(payload))
        elif kind == "done":
            results[k] = payload
        else:
            raise DetectError(f"extraction worker {k}: {payload}")
    return results


def analyse_frames(
    decode: Decode,
    indices: Sequence[int],
    settings: ExtractSettings,
    *,
    jobs: int = 1,
    progress: Progress | None = None,
    sequence: bool = True,
) -> list[FrameDetections]:
    """Detect faces and find their landmarks in the frames ``indices``, in ``jobs`` worker processes.

    ``sequence``: the frames are consecutive frames of a video, so faces are followed between detections
    (``settings.detect_every``; each worker's run starts with a detection); ``False`` detects every frame.

    Workers come from a fork server that imported the heavy modules once (a plain fork is unsafe next to
    OpenMP / OpenCV thread pools of the parent), each with ``settings.threads or 1`` threads.

    Returns:
        One :class:`FrameDetections` per decoded frame, sorted by index.

    Raises:
        DetectError: a worker failed (its message) or died.
    """
    runs = split_frames(sorted(indices), jobs)
    if len(runs) <= 1:
        return _analyse_run(decode, runs[0] if runs else (), settings, progress, sequence)
    worker_settings = ExtractSettings(**{**settings.__dict__, "threads": settings.threads or 1})
    procs, q = _start(_worker, runs, decode, (worker_settings, sequence))
    try:
        results = _collect(procs, q, len(runs), progress)
    finally:
        _stop(procs)
    return sorted((f for r in results.values() for f in r), key=lambda f: f.index)


def plan_frames(
    frames: Sequence[FrameDetections], settings: ExtractSettings, *, fps: float = 25.0, sequence: bool = True
) -> list[list[PlannedFace]]:
    """Track and smooth analysed frames (given in order): the faces of each frame."""
    planner = FacePlanner(settings, fps=fps, sequence=sequence)
    return [planner.update(f) for f in frames]


def _start(
    target: Callable[..., None], runs: list[tuple[int, ...]], decode: Decode, args: tuple[Any, ...]
) -> tuple[list[Any], Any]:
    ctx = _context(decode)
    q: Any = ctx.Queue()
    procs = [ctx.Process(target=target, args=(k, decode, run, *args, q), daemon=True) for k, run in enumerate(runs)]
    for p in procs:
        p.start()
    return procs, q


def _start_all(procs: list[Any], failed: list[BaseException]) -> None:
    try:
        for p in procs:
            p.start()
    except BaseException as exc:  # raised by the extracting thread once it needs the helpers
        failed.append(exc)


def _stop(procs: list[Any]) -> None:
    for p in procs:
        if p.pid is None:  # never started
            continue
        if p.is_alive():
            p.terminate()
        p.join(timeout=5)


class _IdStitcher:
    """Global track ids over runs tracked separately: a run's faces continue the faces of the frame before it.

    A local track first seen in the first frame of a run takes the id of the face it overlaps most (IoU >= 0.3)
    in the last frame of the run before; with identity embeddings, a local track of a later run first seen elsewhere
    takes the id of the closest earlier track not in this frame (cosine >= 0.4). Anything else gets a new id.
    """

    def __init__(self) -> None:
        self.ids: dict[tuple[int, int], int] = {}
        self.next_id = 0
        self.last: list[ExtractedFace] = []
        self.embeddings: dict[int, npt.NDArray[np.float32]] = {}

    def frame(self, run: int, first: bool, result: FrameResult) -> FrameResult:
        taken: set[int] = {g for f in result.faces if (g := self.ids.get((run, f.track_id))) is not None}
        for face in result.faces:
            key = (run, face.track_id)
            if key in self.ids:
                continue
            pick = None
            if first and run > 0:
                scores = [(box_iou(face.box, prev.box), prev.track_id) for prev in self.last]
                pick = max(((iou, g) for iou, g in scores if iou >= 0.3 and g not in taken), default=None)
            if pick is None and run > 0 and face.embedding is not None:
                sims = [(float(np.dot(face.embedding, e)), g) for g, e in self.embeddings.items() if g not in taken]
                pick = max(((c, g) for c, g in sims if c >= 0.4), default=None)
            if pick is None:
                self.ids[key], self.next_id = self.next_id, self.next_id + 1
            else:
                self.ids[key] = pick[1]
            taken.add(self.ids[key])
        faces = tuple(replace(f, track_id=self.ids[(run, f.track_id)]) for f in result.faces)
        for f in faces:
            if f.embedding is not None:
                self.embeddings[f.track_id] = f.embedding
        if result.readable:
            self.last = list(faces)
        return replace(result, faces=faces)


def extract_parallel(
    decode: Decode,
    indices: Sequence[int],
    settings: ExtractSettings | None = None,
    *,
    jobs: int = 1,
    fps: float = 25.0,
    sequence: bool = True,
    progress: Progress | None = None,
) -> Iterator[FrameResult]:
    """:class:`Extractor` over the frames ``indices`` of one source, in ``jobs`` processes.

    With ``jobs > 1`` this process starts extracting from the first frame at once while ``jobs - 1`` helper
    processes start (a fork server importing OpenCV and fs-detect, not torch, then the models: about half a second
    on a quiet machine; :func:`start_workers` starts the server earlier). When all helpers are
    ready, the frames still to do are cut into ``jobs`` contiguous runs: this process keeps the first, each helper
    decodes and extracts one of the others whole (follow, landmarks, track, smooth, align) and sends its results
    back as they are ready. So the start-up costs no time on short clips and the work is split evenly on long
    ones. Results are yielded in index order, with track ids carried across the run boundaries
    (:class:`_IdStitcher`); a helper's results wait in this process until the runs before it are done (memory:
    their crops). Each helper's run starts afresh: a detection on its first frame, smoothing restarting there.

    Args:
        decode: ``decode(indices)`` -> ``(index, BGR uint8 image or None)`` in order (see :data:`Decode`).
        indices: the frames to look at (e.g. from :func:`select_frames`, which also cuts shards).
        settings: extraction settings (default ``ExtractSettings()``).
        jobs: processes (1: everything in this process, decoding in a thread of its own).
        fps, sequence: as for :class:`Extractor`.
        progress: called with the number of frames done since the last call.

    Yields:
        One :class:`FrameResult` per frame, in index order.

    Raises:
        DetectError: a worker failed (its message) or died.
    """
    settings = settings if settings is not None else ExtractSettings()
    wanted = sorted(indices)
    if jobs <= 1 or len(wanted) <= 1:
        extractor = Extractor(settings, fps=fps, sequence=sequence)
        for result in extractor.run(decode(wanted)):
            if progress is not None:
                progress(1)
            yield result
        return
    yield from _extract_shared(decode, wanted, settings, jobs, fps, sequence, progress)


def _extract_shared(
    decode: Decode,
    wanted: list[int],
    settings: ExtractSettings,
    jobs: int,
    fps: float,
    sequence: bool,
    progress: Progress | None,
) -> Iterator[FrameResult]:
    """This process extracts from the first frame on while ``jobs - 1`` helpers start; once all are ready the
    frames left are split: this process keeps the first part, each helper takes one of the others."""
    ctx = _context(decode)
    q: Any = ctx.Queue()
    # one OpenCV thread per helper; this process keeps the caller's setting (the thread count is process-wide)
    helper_settings = replace(settings, threads=settings.threads or 1)
    orders = [ctx.Queue() for _ in range(jobs - 1)]
    procs = [
        ctx.Process(target=_helper_worker, args=(k, decode, helper_settings, fps, sequence, q, o), daemon=True)
        for k, o in enumerate(orders)
    ]
    # started from a thread: the first start also starts the fork server (an interpreter importing OpenCV and
    # fs-detect: a second or so) while this process already extracts
    failed: list[BaseException] = []
    starter = threading.Thread(target=_start_all, args=(procs, failed), name="fs-start-helpers", daemon=True)
    starter.start()
    pending: list[collections.deque[FrameResult]] = [collections.deque() for _ in procs]
    ready: set[int] = set()
    finished: set[int] = set()

    def take(message: tuple[str, int, Any]) -> None:
        kind, k, payload = message
        if kind == "ready":
            ready.add(k)
        elif kind == "results":
            pending[k].extend(payload)
            if progress is not None and payload:
                progress(len(payload))
        elif kind == "done":
            finished.add(k)
        else:
            raise DetectError(f"extraction worker {k}: {payload}")

    stitch = _IdStitcher()
    try:
        end, handed = len(wanted), False
        own = Extractor(settings, fps=fps, sequence=sequence).run(decode(wanted))
        try:
            for pos, result in enumerate(own, start=1):
                if progress is not None:
                    progress(1)
                yield stitch.frame(0, pos == 1, result) if sequence else result
                with contextlib.suppress(queue_mod.Empty):
                    while True:
                        take(q.get_nowait())
                if not handed and len(ready) == len(procs):
                    parts = split_frames(wanted[pos:end], jobs) if end - pos >= 2 * jobs else []
                    end = pos + (len(parts[0]) if parts else end - pos)
                    for k, o in enumerate(orders):
                        o.put(parts[k + 1] if k + 1 < len(parts) else ())
                    handed = True
                if pos >= end:
                    break
        finally:
            close = getattr(own, "close", None)
            if close is not None:
                close()  # stops this process's decoder at the end of its part
        starter.join()
        if failed:
            raise DetectError(f"could not start the extraction workers: {failed[0]}") from failed[0]
        if not handed:
            for o in orders:
                o.put(())
        for k in range(len(procs)):  # the helpers' ranges follow this process's, in order
            first = True
            while True:
                while pending[k]:
                    result = pending[k].popleft()
                    yield stitch.frame(k + 1, first, result) if sequence else result
                    first = False
                if k in finished:
                    break
                take(_next_message(procs, q, finished))
    finally:
        starter.join()
        _stop(procs)


def _next_message(procs: list[Any], q: Any, finished: set[int]) -> tuple[str, int, Any]:
    while True:
        try:
            kind, k, payload = q.get(timeout=1.0)
            return str(kind), int(k), payload
        except queue_mod.Empty:
            dead = [i for i, p in enumerate(procs) if not p.is_alive() and i not in finished]
            if dead and q.empty():
                raise DetectError(f"extraction worker {dead[0]} died (exit code {procs[dead[0]].exitcode})") from None
