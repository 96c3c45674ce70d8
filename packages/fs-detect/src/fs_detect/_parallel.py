"""Parallel and sharded extraction: the per-frame analysis in worker processes, tracking in order afterwards.

The frames to look at are split into contiguous runs, one per worker process; each worker decodes its run itself
(through the caller's ``decode`` callback), so no images cross process boundaries, only the small per-frame
:class:`FrameDetections`. Tracking and smoothing then run in this process over all frames in order, and the frames
that hold faces are decoded once more here to cut the aligned crops. The result is the same as
:class:`Extractor` over the same frames (the analysis is deterministic per frame).
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import queue as queue_mod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_detect._extract import (
    Extractor,
    ExtractSettings,
    FaceAnalyser,
    FacePlanner,
    FrameDetections,
    FrameResult,
    PlannedFace,
    _frame_result,
    limit_threads,
)
from fs_detect.errors import DetectConfigError, DetectError

__all__ = ["Decode", "analyse_frames", "extract_parallel", "plan_frames", "select_frames", "split_frames"]

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
    decode: Decode, indices: Sequence[int], settings: ExtractSettings, progress: Progress | None
) -> list[FrameDetections]:
    limit_threads(settings.threads)
    analyser = FaceAnalyser(settings)
    out = []
    for index, image in decode(indices):
        out.append(FrameDetections.unreadable(index) if image is None else analyser.analyse(image, index))
        if progress is not None:
            progress(1)
    return out


def _worker(k: int, decode: Decode, indices: Sequence[int], settings: ExtractSettings, q: Any) -> None:
    try:
        q.put(("done", k, _analyse_run(decode, indices, settings, lambda n: q.put(("progress", k, n)))))
    except BaseException as exc:  # reported to the parent, which raises it there
        q.put(("error", k, str(exc) or type(exc).__name__))


def _preload(decode: Decode) -> list[str]:
    func = getattr(decode, "func", decode)
    module = getattr(func, "__module__", None)
    base = ["fs_detect", "fs_align", "cv2", "torch"]
    return [*base, module] if isinstance(module, str) and module != "__main__" else base


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
) -> list[FrameDetections]:
    """Detect faces and find their landmarks in the frames ``indices``, in ``jobs`` worker processes.

    Workers come from a fork server that imported the heavy modules once (a plain fork is unsafe next to
    OpenMP / OpenCV thread pools of the parent), each with ``settings.threads or 1`` threads.

    Returns:
        One :class:`FrameDetections` per decoded frame, sorted by index.

    Raises:
        DetectError: a worker failed (its message) or died.
    """
    runs = split_frames(sorted(indices), jobs)
    if len(runs) <= 1:
        return _analyse_run(decode, runs[0] if runs else (), settings, progress)
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx: Any = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(_preload(decode))
    q: Any = ctx.Queue()
    worker_settings = ExtractSettings(**{**settings.__dict__, "threads": settings.threads or 1})
    procs = [
        ctx.Process(target=_worker, args=(k, decode, run, worker_settings, q), daemon=True)
        for k, run in enumerate(runs)
    ]
    for p in procs:
        p.start()
    try:
        results = _collect(procs, q, len(runs), progress)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
    return sorted((f for r in results.values() for f in r), key=lambda f: f.index)


def plan_frames(
    frames: Sequence[FrameDetections], settings: ExtractSettings, *, fps: float = 25.0, sequence: bool = True
) -> list[list[PlannedFace]]:
    """Track and smooth analysed frames (given in order): the faces of each frame."""
    planner = FacePlanner(settings, fps=fps, sequence=sequence)
    return [planner.update(f) for f in frames]


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
    """:class:`Extractor` over the frames ``indices`` of one source, with the analysis in ``jobs`` processes.

    Args:
        decode: ``decode(indices)`` -> ``(index, BGR uint8 image or None)`` in order (see :data:`Decode`).
        indices: the frames to look at (e.g. from :func:`select_frames`, which also cuts shards).
        settings: extraction settings (default ``ExtractSettings()``).
        jobs: worker processes for detection and landmarks (1: everything in this process, one decode pass).
        fps, sequence: as for :class:`Extractor`.
        progress: called with the number of frames analysed since the last call.

    Yields:
        One :class:`FrameResult` per decoded frame, in index order (the same results as the serial Extractor).
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
    frames = analyse_frames(decode, wanted, settings, jobs=jobs, progress=progress)
    planned = plan_frames(frames, settings, fps=fps, sequence=sequence)
    images = iter(decode([f.index for f, p in zip(frames, planned) if p]))
    for frame, faces in zip(frames, planned):
        if not faces:
            yield FrameResult(frame.index, frame.width, frame.height)
            continue
        image = next((img for i, img in images if i == frame.index), None)
        if image is None:
            raise DetectError(f"frame {frame.index}: the decoder did not give it back for alignment")
        yield _frame_result(image, frame.index, faces, settings)
