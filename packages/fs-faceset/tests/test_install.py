"""The package installs, imports, and its error type joins the fs hierarchy."""

import fs_faceset


def test_version_and_error() -> None:
    assert fs_faceset.__version__ == "0.1.0"
    assert issubclass(fs_faceset.FacesetError, Exception)
    assert "FacesetError" in fs_faceset.__all__
