"""fs-cli: the `fs` command for the fs face-swap toolkit.

Only the error type exists yet; the capability is tracked in the project's issue #10.
"""

from fs_cli.errors import CliError

__version__ = "0.1.0"

__all__ = ["CliError", "__version__"]
