"""Helpers for the fs packages' test suites (not used by library code): a tiny untrained model."""

from __future__ import annotations

from pathlib import Path

from fs_models._base import FaceSwapModel
from fs_models._checkpoint import save_model
from fs_models._registry import create_model

__all__ = ["save_tiny_df", "tiny_df"]


def tiny_df(seed: int = 0) -> FaceSwapModel:
    """An untrained DF model at 64 px, whole face, dims 32/16/16/8: the real load / swap / merge / export paths
    at test speed (its output is noise)."""
    model = create_model(
        "df", resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=8, face_type="whole_face", seed=seed
    )
    assert isinstance(model, FaceSwapModel)
    return model


def save_tiny_df(path: str | Path, seed: int = 0) -> Path:
    """:func:`tiny_df` saved as a safetensors model file at ``path``; returns the path."""
    out = Path(path)
    save_model(tiny_df(seed), out)
    return out
