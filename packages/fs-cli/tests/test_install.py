"""The package installs, imports, and its error type joins the fs hierarchy."""

import importlib.metadata

import fs_align
import fs_cli


def test_version_and_error() -> None:
    assert fs_cli.__version__ == importlib.metadata.version("fs-cli")
    assert issubclass(fs_cli.CliError, fs_align.FsError)
