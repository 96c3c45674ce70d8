"""fs-cli: the `fs` command for the fs face-swap toolkit.

A thin typer app over the fs packages: it parses options, builds the packages' config objects, shows progress
and prints clear one-line errors. ``fs_cli.app.app`` is the typer app, ``fs_cli.app.main`` the console script.
"""

from fs_cli.errors import CliError

__version__ = "0.1.0"

__all__ = ["CliError", "__version__"]
