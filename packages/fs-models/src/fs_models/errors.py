"""Errors raised by fs-models.

fs-models depends on no fs package, so its errors derive from Exception (not fs_align.FsError).
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "InputError", "ModelError", "UnknownModelError"]


class ModelError(Exception):
    """Base class of the errors raised by fs-models."""


class UnknownModelError(ModelError):
    """A model name that is not in the registry; the message lists the known names."""


class ConfigError(ModelError, ValueError):
    """A model configuration value that is out of range, of the wrong type, or not a field of the config."""


class CheckpointError(ModelError):
    """A checkpoint file that is not safetensors, not an fs-models checkpoint, or does not fit the model."""


class InputError(ModelError, ValueError):
    """A tensor handed to a model with the wrong shape, dtype or value range."""
