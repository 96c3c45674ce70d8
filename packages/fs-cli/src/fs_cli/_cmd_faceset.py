"""``fs faceset ...``."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect, curate, sort, convert and merge facesets.", no_args_is_help=True)
