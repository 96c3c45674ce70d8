"""The ``fs`` command: the root typer app and the console-script entry point :func:`main`."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from fs_cli import (
    _cmd_demo,
    _cmd_eval,
    _cmd_export,
    _cmd_extract,
    _cmd_faceset,
    _cmd_mask,
    _cmd_merge,
    _cmd_train,
    _cmd_ui,
    _cmd_video,
    _cmd_weights,
)
from fs_cli._ui import FsGroup, Interrupted, State

__all__ = ["app", "main"]

app = typer.Typer(
    name="fs",
    cls=FsGroup,
    help=(
        "fs: an open face-swap toolkit. Workflow: fs extract (src and dst) -> fs faceset sort/view -> fs mask "
        "-> fs train -> fs merge -> fs eval. Run `fs demo` for the whole job on the bundled demo data. "
        "Swap faces only with the consent of the people shown; outputs are labelled as synthetic."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Print the full traceback of an error.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the versions of the fs packages and exit.")] = False,
) -> None:
    """Options that apply to every command."""
    ctx.obj = State(debug=debug, quiet=quiet)
    if version:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        names = ("fs-cli", "fs-align", "fs-detect", "fs-faceset", "fs-mask", "fs-models", "fs-train", "fs-merge")
        for name in names:
            try:
                typer.echo(f"{name} {dist_version(name)}")
            except PackageNotFoundError:
                typer.echo(f"{name} (not installed)")
        raise typer.Exit(0)


app.add_typer(_cmd_weights.app, name="weights")
app.add_typer(_cmd_video.app, name="video")
_cmd_extract.register(app)
app.add_typer(_cmd_faceset.app, name="faceset")
app.add_typer(_cmd_mask.app, name="mask")
_cmd_train.register(app)
_cmd_merge.register(app)
_cmd_export.register(app)
_cmd_eval.register(app)
_cmd_demo.register(app)
_cmd_ui.register(app)


def _terminated(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def main() -> None:
    """Console-script entry point (``fs``): SIGTERM stops a command as Ctrl-C does (exit status 143, not 130)."""
    signal.signal(signal.SIGTERM, _terminated)
    app()
