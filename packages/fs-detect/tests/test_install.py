"""The package installs, imports, and its error type joins the fs hierarchy."""

import fs_detect


def test_version_and_error() -> None:
    assert fs_detect.__version__ == "0.1.0"
    assert issubclass(fs_detect.DetectError, Exception)
    assert "DetectError" in fs_detect.__all__
