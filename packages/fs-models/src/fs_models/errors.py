"""Errors raised by fs-models.

Subclasses of fs_align.FsError, so callers can catch every fs error with one type; configuration and input
errors are also ``ValueError`` (through ``fs_align.ConfigError`` and ``fs_align.ShapeError``).
"""

from __future__ import annotations

from fs_align.errors import ConfigError as _FsConfigError
from fs_align.errors import FsError, ShapeError

__all__ = ["CheckpointError", "ConfigError", "InputError", "ModelError", "UnknownModelError"]


class ModelError(FsError):
    """Base class of the errors raised by fs-models."""


class UnknownModelError(ModelError):
    """A model name that is not in the registry; the message lists the known names."""


class ConfigError(ModelError, _FsConfigError):
    """A model configuration value that is out of range, of the wrong type, or not a field of the config."""


class CheckpointError(ModelError):
    """A checkpoint file that is not safetensors, not an fs-models checkpoint, or does not fit the model."""


class InputError(ModelError, ShapeError):
    """A tensor handed to a model with the wrong shape, dtype or value range."""
