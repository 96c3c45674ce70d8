"""A file-based control channel into a running :class:`fs_train.Trainer`: "save now" and "stop" from outside.

A front end (``fs ui``) writes ``control.json`` into the run folder atomically (:func:`request_control`); the
trainer polls it between steps (one ``stat`` per step), deletes it, and acts: ``save`` writes the checkpoint,
the model and a preview, then training goes on; ``stop`` ends the run after the current step and saves first,
as a SIGINT does. Each handled request is acknowledged in ``metrics.jsonl`` (``{"event": "control", ...}``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fs_align import atomic_write
from fs_train.errors import ConfigError

__all__ = ["COMMANDS", "CONTROL_FILE", "read_control", "request_control"]

CONTROL_FILE = "control.json"
COMMANDS = ("save", "stop")


def request_control(run_dir: str | Path, command: str) -> Path:
    """Ask the trainer writing into ``run_dir`` to ``"save"`` now or to ``"stop"`` (saving first); atomic.

    Raises:
        ConfigError: an unknown command, or ``run_dir`` is not a folder.
    """
    folder = Path(run_dir)
    if command not in COMMANDS:
        raise ConfigError(f"control: unknown command {command!r}; known: {', '.join(COMMANDS)}")
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a training folder")
    return atomic_write(folder / CONTROL_FILE, json.dumps({"command": command, "time": time.time()}))


def read_control(run_dir: str | Path) -> str | None:
    """Take the pending command out of ``run_dir`` (the file is removed), or ``None``; a torn or unknown
    request is dropped."""
    path = Path(run_dir) / CONTROL_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    path.unlink(missing_ok=True)
    try:
        command = json.loads(text).get("command")
    except (ValueError, AttributeError):
        return None
    return command if command in COMMANDS else None
