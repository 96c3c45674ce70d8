"""Errors raised by fs-mask.

Subclass of fs_align.FsError, so callers can catch every fs error with one type.
"""

from __future__ import annotations

from fs_align.errors import ConfigError, FsError

__all__ = ["MaskConfigError", "MaskError"]


class MaskError(FsError):
    """Base class of the errors raised by fs-mask."""


class MaskConfigError(MaskError, ConfigError):
    """An unknown or unusable setting (a mask source, combine mode, training option); also a ``ValueError``."""
