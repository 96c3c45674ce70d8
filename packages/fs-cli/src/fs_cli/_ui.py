"""What every command shares: the console, one-line errors, progress bars, JSON output, TOML config files."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import json
import math
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from typer._click.exceptions import BadParameter, ClickException, NoArgsIsHelpError, UsageError

from fs_cli.errors import CliError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ConfigOpt",
    "FsGroup",
    "Interrupted",
    "JsonOpt",
    "State",
    "Ui",
    "format_error",
    "load_config_callback",
]


@dataclasses.dataclass
class State:
    """Options of the root command, kept on the click context (``ctx.obj``)."""

    debug: bool = False
    quiet: bool = False


class Interrupted(KeyboardInterrupt):
    """A stop by a signal (SIGINT = Ctrl-C, SIGTERM): the command exits with ``128 + signum`` and one line.

    Raised by the SIGTERM handler that :func:`fs_cli.app.main` installs (so the code that saves on Ctrl-C also
    runs on SIGTERM), and by commands that saved their work before stopping (the message says what was kept).
    """

    def __init__(self, signum: int = signal.SIGINT, message: str = "") -> None:
        super().__init__(message)
        self.signum = int(signum)
        self.message = message

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def line(self) -> str:
        name = signal.Signals(self.signum).name
        return f"interrupted by {name}" + (f": {self.message}" if self.message else "")


def format_error(exc: BaseException) -> str:
    """One line: the exception's message (type name added where the message alone would be unclear)."""
    message = " ".join(str(exc).split())
    full = _no_space(exc)
    if full is not None:
        message = f"{full.filename or 'output'}: no space left on device (free some space or write elsewhere)"
    elif isinstance(exc, FileNotFoundError) and exc.filename:
        message = f"{exc.filename}: no such file or folder"
    elif isinstance(exc, (KeyError, IndexError, AttributeError, TypeError, ZeroDivisionError)) or not message:
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return message


def _no_space(exc: BaseException | None) -> OSError | None:
    """The ``ENOSPC`` error behind ``exc`` (itself or its causes), if any."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _debug_requested(ctx: Any) -> bool:
    if os.environ.get("FS_DEBUG", "") not in ("", "0"):
        return True
    while ctx is not None:
        if isinstance(ctx.obj, State):
            return ctx.obj.debug
        ctx = ctx.parent
    return "--debug" in sys.argv[1:2]


class FsGroup(typer.core.TyperGroup):
    """The root group: turns every error into ``error: <one line>`` on stderr and a non-zero exit code.

    Usage errors (bad option values, missing files given to ``exists=True`` arguments) exit with 2, every other
    error with 1, Ctrl-C with 130, SIGTERM with 143 (after the command saved what it keeps on interruption).
    ``fs --debug ...`` (or ``FS_DEBUG=1``) prints the traceback as well.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, SystemExit, NoArgsIsHelpError):
            raise
        except UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            self._fail(ctx, exc, f"{' '.join(exc.format_message().split())}{hint}", exc.exit_code)
        except ClickException as exc:
            self._fail(ctx, exc, format_error(exc), exc.exit_code)
        except KeyboardInterrupt as exc:
            stop = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
            self._fail(ctx, exc, stop.line(), stop.exit_code)
        except Exception as exc:  # the CLI's job: every failure becomes one clear line
            self._fail(ctx, exc, format_error(exc), 1)

    @staticmethod
    def _fail(ctx: Any, exc: BaseException, message: str, code: int) -> None:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        if _debug_requested(ctx):
            err.print("".join(traceback.format_exception(exc)), markup=False, end="")
        err.print(f"error: {message}", markup=False, style="bold red")
        raise typer.Exit(code)


def _plain(value: Any) -> Any:
    """JSON-friendly copy of ``value`` (paths, enums, numpy scalars and arrays, dataclasses)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Ui:
    """Output of one command: rich tables and progress on the terminal, or one JSON document with ``--json``.

    Progress bars and notes go to stderr, results to stdout, so ``fs ... --json | jq`` sees only JSON.
    """

    def __init__(self, ctx: Any = None, *, json_output: bool = False) -> None:
        state = None
        c = ctx
        while c is not None and state is None:
            state = c.obj if isinstance(c.obj, State) else None
            c = c.parent
        self.state = state or State()
        self.json = json_output
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def quiet(self) -> bool:
        """No progress bars or notes (``--quiet`` or ``--json``)."""
        return self.json or self.state.quiet

    def note(self, message: str) -> None:
        """A line of information on stderr (not with ``--json`` / ``--quiet``)."""
        if not self.quiet:
            self.err.print(message, markup=False)

    def warn(self, message: str) -> None:
        """A warning on stderr (also with ``--json``; never with ``--quiet``)."""
        if not self.state.quiet:
            self.err.print(f"warning: {message}", markup=False, style="yellow")

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """A progress bar with count, elapsed time and ETA; yields ``advance(n)``."""
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.err, disable=self.quiet, transient=False) as bar:
            task = bar.add_task(description, total=total)

            def advance(n: int = 1) -> None:
                bar.advance(task, n)

            yield advance

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Print a table (nothing with ``--json``; put the data in :meth:`result` instead)."""
        if self.json:
            return
        table = Table(title=title, title_justify="left")
        for k, col in enumerate(columns):
            table.add_column(col, overflow="fold", no_wrap=k == 0)
        for row in rows:
            table.add_row(*("" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in row))
        self.out.print(table)

    def result(self, data: Any, text: str | None = None) -> None:
        """The command's result: JSON on stdout with ``--json``, else ``text`` (if given)."""
        if self.json:
            self.out.print_json(json.dumps(_plain(data)))
        elif text:
            self.out.print(text, markup=False)


def load_config_callback(ctx: typer.Context, param: Any, value: Path | None) -> Path | None:
    """``--config FILE``: a TOML file whose keys are the command's option names (``min_score`` or ``min-score``).

    Values become the options' defaults, so flags given on the command line win. A ``[<command>]`` table is
    used when present (one file can hold several commands' settings); other tables are kept for commands that
    take nested settings (``fs train``: ``[augment]``, ``[loss]``, ``[optim]``, ``[model_config]``).
    """
    if value is None or ctx.resilient_parsing:
        return value
    path = Path(value)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadParameter(f"{path}: no such file", ctx=ctx, param=param) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadParameter(f"{path}: not a readable TOML file ({exc})", ctx=ctx, param=param) from None
    name = ctx.info_name or ""
    if isinstance(data.get(name), dict):
        data = data[name]
    names = {p.name: p for p in ctx.command.params if p.name and p.name != "config"}
    nested = set(ctx.meta.get("fs.config_sections", ()))
    defaults: dict[str, Any] = dict(ctx.default_map or {})
    sections: dict[str, Any] = {}
    unknown = []
    for key, val in data.items():
        k = key.replace("-", "_")
        if k in names:
            p = names[k]
            if isinstance(val, list) and not getattr(p, "multiple", False) and getattr(p, "nargs", 1) == 1:
                val = ",".join(str(v) for v in val)
            defaults[k] = str(val) if isinstance(val, Path) else val
        elif isinstance(val, dict):
            sections[k] = val
        else:
            unknown.append(key)
    if unknown:
        known = ", ".join(sorted(names))
        raise BadParameter(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {known}", ctx=ctx, param=param)
    ctx.default_map = defaults
    ctx.meta["fs.config_sections"] = {**{k: {} for k in nested}, **sections}
    return path


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (no tables, no bars).")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file of this command's options (keys = option names); flags on the command line win.",
        is_eager=True,
        callback=load_config_callback,
        dir_okay=False,
    ),
]


def require(condition: bool, message: str) -> None:
    """Raise :class:`CliError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CliError(message)
