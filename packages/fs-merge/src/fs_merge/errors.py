"""Errors raised by fs-merge.

Subclass of fs_align.FsError, so callers can catch every fs error with one type.
"""

from __future__ import annotations

from fs_align.errors import FsError

__all__ = ["MergeError"]


class MergeError(FsError):
    """Base class of the errors raised by fs-merge."""
