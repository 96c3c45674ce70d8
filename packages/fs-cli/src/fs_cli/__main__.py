"""``python -m fs_cli``: the ``fs`` command."""

from fs_cli.app import main

main()
