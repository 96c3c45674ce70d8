"""The package installs, imports, and its error type joins the fs hierarchy."""

import fs_models


def test_version_and_error() -> None:
    assert fs_models.__version__ == "0.1.0"
    assert issubclass(fs_models.ModelError, Exception)
    assert "ModelError" in fs_models.__all__
