"""The package installs, imports, and its error type joins the fs hierarchy."""

import fs_mask


def test_version_and_error() -> None:
    assert fs_mask.__version__ == "0.1.0"
    assert issubclass(fs_mask.MaskError, Exception)
    assert "MaskError" in fs_mask.__all__
