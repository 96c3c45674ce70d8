"""The fs error hierarchy.

Every fs package raises subclasses of :class:`FsError`, so callers can catch one type. Messages name the
argument or file and the reason; nothing in fs prints and returns ``None``.
"""

from __future__ import annotations

__all__ = ["AssetError", "ConfigError", "FsError", "ShapeError"]


class FsError(Exception):
    """Base class of every error raised by an fs package."""


class ShapeError(FsError, ValueError):
    """An array has the wrong shape, dtype, range or values (names the argument and the expected layout)."""


class ConfigError(FsError, ValueError):
    """A setting or option value is unknown, out of range or of the wrong type (names the option and the reason).

    Packages derive their own configuration errors from it (``fs_models.ConfigError``, ...), so ``except
    ValueError`` keeps catching them.
    """


class AssetError(FsError):
    """A weights or data file could not be fetched, verified or read (names the file and how to fetch it)."""
