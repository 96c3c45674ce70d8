"""The package installs, imports, and its error type joins the fs hierarchy."""

import importlib.metadata

import fs_align
import fs_mask


def test_version_and_error() -> None:
    assert fs_mask.__version__ == importlib.metadata.version("fs-mask")
    assert issubclass(fs_mask.MaskError, fs_align.FsError)
