"""Errors raised by fs-detect.

Subclass of fs_align.FsError, so callers can catch every fs error with one type.
"""

from __future__ import annotations

from fs_align.errors import ConfigError, FsError

__all__ = ["DetectConfigError", "DetectError"]


class DetectError(FsError):
    """Base class of the errors raised by fs-detect."""


class DetectConfigError(DetectError, ConfigError):
    """A detector, tracker or embedder setting that is unknown or out of range (also a ``ValueError``)."""
