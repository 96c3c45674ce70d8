"""Errors of fs-ui."""

from __future__ import annotations

from fs_align import FsError

__all__ = ["UiError"]


class UiError(FsError):
    """Bad input to the UI (a path it cannot use, a bad request); the message names the file and the reason."""
