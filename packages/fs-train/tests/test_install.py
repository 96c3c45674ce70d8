"""The package installs, imports, and its error type joins the fs hierarchy."""

import importlib.metadata

import fs_align
import fs_train


def test_version_and_error() -> None:
    assert fs_train.__version__ == importlib.metadata.version("fs-train")
    assert issubclass(fs_train.TrainError, fs_align.FsError)
