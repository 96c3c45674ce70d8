"""The package installs, imports, and its error type joins the fs hierarchy."""

import fs_merge


def test_version_and_error() -> None:
    assert fs_merge.__version__ == "0.1.0"
    assert issubclass(fs_merge.MergeError, Exception)
    assert "MergeError" in fs_merge.__all__
