"""``merge_video``: run a per-frame function over a video in a worker pool, writing frames in order."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fs_merge._video import Frame, FrameReader, VideoWriter
from fs_merge.errors import MergeError

__all__ = ["MergeVideoResult", "merge_video"]

FrameFn = Callable[[Frame], npt.NDArray[np.uint8]]


@dataclass(frozen=True)
class MergeVideoResult:
    """What :func:`merge_video` did: frames written, frames whose function failed (written unchanged), and the
    messages of every problem (the reader's decoder errors and skipped images first, then failed frames)."""

    frames_written: int
    frames_failed: int
    problems: tuple[str, ...] = field(default_factory=tuple)


def merge_video(
    frames: FrameReader | Iterable[Frame],
    writer: VideoWriter,
    process: FrameFn,
    *,
    workers: int = 2,
    progress: Callable[[int, int | None], None] | None = None,
    on_error: Callable[[int | None, str], None] | None = None,
    close: bool = True,
) -> MergeVideoResult:
    """Apply ``process`` to every frame in a thread pool and write the results in frame order.

    Threads suffice: OpenCV, numpy and scipy.fft release the GIL in the heavy parts of :func:`merge_face`.
    At most ``2 * workers`` frames are in flight, so memory stays bounded on long videos.

    Args:
        frames: a :class:`FrameReader` (its skipped-frame problems are included in the result) or any iterable of
            :class:`Frame`.
        writer: the :class:`VideoWriter` to append to.
        process: ``Frame -> H x W x 3 BGR uint8`` (e.g. a closure calling :func:`merge_face`). If it raises for a
            frame, the original frame is written instead and the error is reported; the video goes on.
        workers: worker threads (>= 1).
        progress: called as ``progress(frames_done, total_or_None)`` after each written frame.
        on_error: called as ``on_error(frame_index, message)`` for each failed frame.
        close: close the writer at the end (the file appears then); on an exception the writer is aborted.

    Returns:
        A :class:`MergeVideoResult`.
    """
    if workers < 1:
        raise MergeError(f"workers: expected >= 1, got {workers}")
    total = frames.num_frames if isinstance(frames, FrameReader) else None
    problems: list[str] = []
    failed = 0
    done = 0

    def report(index: int | None, message: str) -> None:
        problems.append(message)
        if on_error is not None:
            on_error(index, message)

    pending: collections.deque[tuple[Frame, Future[npt.NDArray[np.uint8]]]] = collections.deque()

    def flush_one() -> None:
        nonlocal failed, done
        frame, fut = pending.popleft()
        try:
            out = fut.result()
        except Exception as exc:  # any failure of the user's function: keep the original frame
            failed += 1
            report(frame.index, f"frame {frame.index}: {type(exc).__name__}: {exc}; wrote the original frame")
            out = frame.image
        writer.write(out)
        done += 1
        if progress is not None:
            progress(done, total)

    reader_problems = len(frames.problems) if isinstance(frames, FrameReader) else 0
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fs-merge") as pool:
            for frame in frames:
                pending.append((frame, pool.submit(process, frame)))
                while len(pending) >= 2 * workers:
                    flush_one()
            while pending:
                flush_one()
        if isinstance(frames, FrameReader):
            problems[:0] = frames.problems[reader_problems:]
        if close:
            writer.close()
    except BaseException:
        if close:
            writer.abort()
        raise
    return MergeVideoResult(frames_written=done, frames_failed=failed, problems=tuple(problems))
