"""Helpers for the fs packages' test suites (imports pytest lazily; not used by library code).

Tests that need real weights or data call :func:`asset_or_skip`. The nox ``tests`` session fetches the
asset groups first and lists those that worked in ``FS_REQUIRE_ASSETS`` (e.g. ``test,video``), so a missing
asset of such a group fails there instead of skipping; elsewhere (offline, or no npm for the videos), such
tests skip with the reason and the command to fetch by hand.
Artefacts that a person should look at (PNG contact sheets, previews) go to :func:`artifact_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fs_align.assets import ensure_asset, fetch_command, get_asset
from fs_align.errors import AssetError

__all__ = ["artifact_dir", "asset_or_skip", "jittered_boxes"]


def asset_or_skip(name: str) -> Path:
    """The cached path of an asset; skips the calling test when it is not cached (fails if required)."""
    import pytest

    spec = get_asset(name)
    try:
        return ensure_asset(spec, download=False)
    except AssetError as exc:
        required = {g for g in os.environ.get("FS_REQUIRE_ASSETS", "").split(",") if g}
        if required & spec.groups:
            raise
        how = fetch_command(spec)
        pytest.skip(f"asset {name!r} not cached (fetch with `nox -s assets` or `{how}`): {exc}")


def artifact_dir(package: str) -> Path:
    """A folder for a package's test artefacts: ``$FS_ARTIFACTS/<package>`` (default ``./test-artifacts``)."""
    root = Path(os.environ.get("FS_ARTIFACTS", "test-artifacts"))
    path = root / package
    path.mkdir(parents=True, exist_ok=True)
    return path


def jittered_boxes(box: npt.ArrayLike, rng: np.random.Generator, count: int) -> npt.NDArray[np.float64]:
    """``count`` copies of an ``(x1, y1, x2, y2)`` box shifted by up to 15 % of its side and scaled by 0.85-1.2,
    in whole pixels (the boxes the landmark agreement tests and benchmarks run on)."""
    b = np.asarray(box, dtype=np.float64)
    side = b[2] - b[0]
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    half = side * rng.uniform(0.85, 1.2, count) / 2
    mx = cx + rng.uniform(-0.15, 0.15, count) * side
    my = cy + rng.uniform(-0.15, 0.15, count) * side
    return np.asarray(np.floor(np.stack([mx - half, my - half, mx + half, my + half], axis=1)), np.float64)
