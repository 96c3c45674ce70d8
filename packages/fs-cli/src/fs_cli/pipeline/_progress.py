"""The progress protocol the pipeline functions take, and the silent default."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

__all__ = ["Progress", "null_progress"]

Progress = Callable[[str, "int | None"], AbstractContextManager[Callable[[int], None]]]
"""``progress(label, total)`` -> a context manager yielding ``advance(n)`` (the CLI passes its progress bars)."""


def null_progress(label: str, total: int | None = None) -> AbstractContextManager[Callable[[int], None]]:
    """A progress that shows nothing."""
    del label, total
    return contextlib.nullcontext(lambda n=1: None)
