"""Errors raised by fs-detect.

Subclass of fs_align.FsError, so callers can catch every fs error with one type.
"""

from __future__ import annotations

from fs_align.errors import FsError

__all__ = ["DetectError"]


class DetectError(FsError):
    """Base class of the errors raised by fs-detect."""
