"""The isolated-venv guard (used by the noxfile).

python tools/import_guard.py PACKAGE SRC_DIR ALLOWED_MODULES ALL_MODULES   (module lists comma-separated)

Fails when an fs module outside the package's declared closure is importable in the venv, or when the
package's source imports an fs module it does not declare (also catches imports in code no test reaches).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path


def main(package: str, src: str, allowed_csv: str, all_csv: str) -> int:
    allowed = set(allowed_csv.split(","))
    importable = [m for m in all_csv.split(",") if m not in allowed and importlib.util.find_spec(m) is not None]
    if importable:
        print(f"undeclared fs packages are importable in {package}'s venv: {importable}")
        return 1
    used: set[str] = set()
    for path in Path(src).rglob("*.py"):
        used |= set(re.findall(r"^\s*(?:from|import)\s+(fs_[a-z]+)", path.read_text(), re.M))
    undeclared = sorted(used - allowed)
    if undeclared:
        print(f"{package} imports fs packages it does not declare in pyproject.toml: {undeclared}")
        return 1
    print(f"{package}: imports {sorted(used)}; declared closure {sorted(allowed)}; no other fs package importable")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
