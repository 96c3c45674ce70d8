"""Silence OpenCV's log for the duration of a call, then restore the caller's level.

OpenCV 5.0 logs "Targets are not supported by the new graph engine" whenever a DNN-based model (YuNet, SFace)
is set up. The log level is process-wide in OpenCV, so this module lowers it only inside a ``with`` block and
puts the previous level back afterwards. Nested and concurrent blocks share one counter under a lock: the
level is saved by the first block to enter and restored by the last to leave, so threads never restore a
level that another block set. (A caller that changes the level *while* a block is open gets its value
replaced by the saved one when the last block closes.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2

__all__ = ["opencv_quiet"]


class _QuietState:
    """The one lock and counter behind :func:`opencv_quiet` (not user-visible configuration)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved = 0


_STATE = _QuietState()


@contextmanager
def opencv_quiet() -> Iterator[None]:
    """Within the block, OpenCV logs only errors; the previous level is restored on exit (even on error)."""
    logging = cv2.utils.logging
    with _STATE.lock:
        if _STATE.depth == 0:
            _STATE.saved = int(logging.getLogLevel())
            if _STATE.saved > logging.LOG_LEVEL_ERROR:
                logging.setLogLevel(logging.LOG_LEVEL_ERROR)
        _STATE.depth += 1
    try:
        yield
    finally:
        with _STATE.lock:
            _STATE.depth -= 1
            if _STATE.depth == 0:
                logging.setLogLevel(_STATE.saved)
