"""What a training run reports (:class:`StopReason`, :class:`StepInfo`, :class:`FitResult`) and its signal handling."""

from __future__ import annotations

import contextlib
import enum
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FitResult", "StepInfo", "StopReason", "stop_signals"]


class StopReason(str, enum.Enum):
    """Why :meth:`Trainer.fit` returned."""

    TARGET = "target_steps"
    TIME = "time_budget"
    SIGNAL = "signal"
    REQUEST = "request"


@dataclass(frozen=True)
class StepInfo:
    """What one optimiser step did (passed to callbacks on rank 0)."""

    step: int
    total_steps: int
    loss: float
    parts: dict[str, float]
    lr: float
    grad_norm: float
    samples_per_s: float
    elapsed_s: float
    skipped: bool
    bad_steps: int


@dataclass(frozen=True)
class FitResult:
    """The end of a :meth:`Trainer.fit` call."""

    step: int
    stopped_by: StopReason
    checkpoint: Path | None
    final_loss: float
    history: list[tuple[int, float]] = field(repr=False, default_factory=list)


@contextlib.contextmanager
def stop_signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``on_signal(signum)`` for the duration (main thread only; else a no-op).

    The previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        on_signal(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
