"""The package installs, imports, and its error type joins the fs hierarchy."""

import fs_train


def test_version_and_error() -> None:
    assert fs_train.__version__ == "0.1.0"
    assert issubclass(fs_train.TrainError, Exception)
    assert "TrainError" in fs_train.__all__
