"""Errors raised by fs-faceset.

Subclasses of fs_align.FsError, so callers can catch every fs error with one type. Messages name the file or
argument and the reason.
"""

from __future__ import annotations

from fs_align.errors import ConfigError, FsError

__all__ = ["FacesetConfigError", "FacesetError", "FacesetFormatError", "FacesetIntegrityError"]


class FacesetError(FsError):
    """Base class of the errors raised by fs-faceset (bad arguments, missing faces, write failures)."""


class FacesetConfigError(FacesetError, ConfigError):
    """An unknown or out-of-range setting (image codec, shard size, ...); also a ``ValueError``."""


class FacesetFormatError(FacesetError):
    """A file is not in the expected format: truncated or malformed shard, wrong version, a header whose
    shapes or offsets do not add up, a missing index, a pickle stream that holds anything but plain data."""


class FacesetIntegrityError(FacesetFormatError):
    """A shard's bytes do not match the checksum recorded in the faceset index (found by ``validate()``)."""
