"""Files inside the allowed folders only: every name a request carries is resolved and checked here."""

from __future__ import annotations

from pathlib import Path

from fs_ui.errors import UiError

__all__ = ["inside"]


def inside(root: Path, name: str) -> Path:
    """``root / name`` resolved, if it stays inside ``root`` (symlinks resolved too); else :class:`UiError`.

    Refuses absolute names, ``..`` parts, backslashes and NUL bytes before touching the file system.
    """
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or ":" in name:
        raise UiError(f"{name!r}: not a plain relative file name")
    if any(part in ("..", "") for part in name.split("/")):
        raise UiError(f"{name!r}: path traversal refused")
    base = root.resolve()
    path = (base / name).resolve()
    if path != base and base not in path.parents:
        raise UiError(f"{name!r}: outside {base}")
    return path
