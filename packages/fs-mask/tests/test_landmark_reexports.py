"""fs-mask re-exports fs-align's landmark masks (the module moved to fs-align) and keeps its error base."""

from __future__ import annotations

import importlib.metadata

import fs_align
import fs_mask


def test_reexports_are_fs_align_names() -> None:
    for name in ("MaskKind", "landmark_mask", "raise_eyebrows", "eyes_mask", "mouth_mask", "eyes_mouth_mask"):
        assert getattr(fs_mask, name) is getattr(fs_align, name)


def test_version_and_error() -> None:
    assert fs_mask.__version__ == importlib.metadata.version("fs-mask")
    assert issubclass(fs_mask.MaskError, fs_align.FsError)
