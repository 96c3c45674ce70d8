"""Fetch fs asset groups into $FS_HOME (used by the noxfile): python tools/fetch_assets.py GROUP [GROUP ...].

Exits 3 (with the reason on stdout) when a fetch fails, so callers can tell it from a crash.
"""

from __future__ import annotations

import logging
import sys

from fs_align.assets import fetch_assets, list_assets
from fs_align.errors import AssetError


def main(groups: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    specs = [s for g in groups for s in list_assets(g)]
    try:
        got = fetch_assets(specs)
    except AssetError as exc:
        print(f"asset fetch failed: {exc}")
        return 3
    print(f"{len(got)} assets cached for groups {', '.join(groups)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
