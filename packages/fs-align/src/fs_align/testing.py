"""Helpers for the fs packages' test suites (imports pytest lazily; not used by library code).

Tests that need real weights or data call :func:`asset_or_skip`. The nox ``tests`` session fetches the
assets first and sets ``FS_REQUIRE_ASSETS=1`` when that worked, so a missing asset fails there instead of
skipping; elsewhere (offline), such tests skip with the reason and the command to fetch by hand.
Artefacts that a person should look at (PNG contact sheets, previews) go to :func:`artifact_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

from fs_align.assets import ensure_asset, fetch_command, get_asset
from fs_align.errors import AssetError

__all__ = ["artifact_dir", "asset_or_skip"]


def asset_or_skip(name: str) -> Path:
    """The cached path of an asset; skips the calling test when it is not cached (fails if required)."""
    import pytest

    try:
        return ensure_asset(name, download=False)
    except AssetError as exc:
        if os.environ.get("FS_REQUIRE_ASSETS") == "1":
            raise
        how = fetch_command(get_asset(name))
        pytest.skip(f"asset {name!r} not cached (fetch with `nox -s assets` or `{how}`): {exc}")


def artifact_dir(package: str) -> Path:
    """A folder for a package's test artefacts: ``$FS_ARTIFACTS/<package>`` (default ``./test-artifacts``)."""
    root = Path(os.environ.get("FS_ARTIFACTS", "test-artifacts"))
    path = root / package
    path.mkdir(parents=True, exist_ok=True)
    return path
