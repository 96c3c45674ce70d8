"""Errors raised by fs-models.

fs-models depends on no fs package, so its errors derive from Exception (not fs_align.FsError).
"""

from __future__ import annotations

__all__ = ["ModelError"]


class ModelError(Exception):
    """Base class of the errors raised by fs-models."""
