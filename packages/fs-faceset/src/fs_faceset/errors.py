"""Errors raised by fs-faceset.

Subclass of fs_align.FsError, so callers can catch every fs error with one type.
"""

from __future__ import annotations

from fs_align.errors import FsError

__all__ = ["FacesetError"]


class FacesetError(FsError):
    """Base class of the errors raised by fs-faceset."""
