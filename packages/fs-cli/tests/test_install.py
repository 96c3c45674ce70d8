"""The package installs, imports, and its error type joins the fs hierarchy."""

import fs_cli


def test_version_and_error() -> None:
    assert fs_cli.__version__ == "0.1.0"
    assert issubclass(fs_cli.CliError, Exception)
    assert "CliError" in fs_cli.__all__
