"""Errors raised by fs-train.

Subclasses of fs_align.FsError, so callers can catch every fs error with one type. Every error that bad input
can cause is raised while the trainer is being set up, before the first step.
"""

from __future__ import annotations

from fs_align.errors import FsError

__all__ = ["CheckpointError", "ConfigError", "DataError", "DivergedError", "TrainError"]


class TrainError(FsError):
    """Base class of the errors raised by fs-train."""


class ConfigError(TrainError, ValueError):
    """A training config field has a bad value (names the field)."""


class DataError(TrainError):
    """A faceset cannot be trained on: empty, mismatched size/face type, missing masks (names the faceset)."""


class CheckpointError(TrainError):
    """A training checkpoint is missing, corrupt or belongs to another model/config (names the file)."""


class DivergedError(TrainError):
    """Training hit too many steps with a NaN/inf loss or gradient."""
