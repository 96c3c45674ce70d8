"""Mask operations and the MergeConfig record."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import fs_merge
from fs_align import ShapeError
from fs_merge import ColorTransfer, Feather, MergeConfig, MergeError, MergeMode, clip_mask, erode_mask, feather_mask


def _disc(radius: int, size: int = 101) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - size // 2
    return ((xx**2 + yy**2) <= radius**2).astype(np.uint8) * 255


def _radius(mask: np.ndarray) -> float:
    return float(np.sqrt((mask > 0.5).sum() / np.pi))


def test_version_and_error_hierarchy() -> None:
    assert fs_merge.__version__ == "0.1.0"
    assert issubclass(MergeError, fs_merge.MergeError.__mro__[1])
    for name in fs_merge.__all__:
        assert hasattr(fs_merge, name)


@pytest.mark.parametrize("px", [3, 8, -3, -8])
def test_erode_dilate_by_n_pixels(px: int) -> None:
    out = erode_mask(_disc(30), px)
    assert out.dtype == np.float32
    assert abs(_radius(out) - (30 - px)) <= 0.75
    assert np.array_equal(erode_mask(_disc(30), 0), _disc(30) / 255.0)


def test_feather_kinds() -> None:
    m = np.zeros((64, 64), np.uint8)
    m[:, 32:] = 255
    box = feather_mask(m, 4, Feather.BOX)
    assert np.allclose(box[10, 28:37], np.arange(1, 10) / 9.0, atol=1e-6)  # linear ramp over 2 * 4 + 1 px
    gauss = feather_mask(m, 4, "gaussian")
    assert abs(gauss[10, 31] + gauss[10, 32] - 1.0) < 1e-5 and gauss[10, 31] < 0.5 < gauss[10, 32]
    assert np.all(np.diff(gauss[10]) >= 0)
    assert gauss[10, 20] == 0.0 and gauss[10, 45] == 1.0
    with pytest.raises(ValueError, match="px"):
        feather_mask(m, -1)


def test_clip_mask() -> None:
    region = np.zeros((50, 50), np.float32)
    region[10:40, 10:40] = 1.0
    out = clip_mask(np.ones((50, 50), np.uint8) * 255, region, margin_px=5)
    assert out[25, 25] == 1.0 and out[12, 25] == 0.0 and out[5, 5] == 0.0
    with pytest.raises(ShapeError, match="region"):
        clip_mask(np.ones((50, 50), np.uint8), np.ones((40, 50), np.float32))


def test_config_round_trips(tmp_path) -> None:
    cfg = MergeConfig(mode="seamless-hist-match", color_transfer="mkl-m", erode_px=-5, feather_px=12, feather="box")
    assert cfg.mode is MergeMode.SEAMLESS_HIST_MATCH and cfg.color_transfer is ColorTransfer.MKL_M
    assert MergeConfig.from_dict(cfg.to_dict()) == cfg
    assert MergeConfig.from_json(cfg.to_json()) == cfg
    assert MergeConfig.from_toml(cfg.to_toml()) == cfg
    for name in ("merge.json", "merge.toml"):
        assert MergeConfig.load(cfg.save(tmp_path / name)) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.erode_px = 3  # type: ignore[misc]
    assert MergeConfig.from_toml('mode = "overlay"\n').mode is MergeMode.OVERLAY


def test_config_rejects_bad_values(tmp_path) -> None:
    with pytest.raises(MergeError, match="mode"):
        MergeConfig(mode="blend")
    with pytest.raises(MergeError, match="color_transfer"):
        MergeConfig(color_transfer="xyz")
    with pytest.raises(MergeError, match="feather_px"):
        MergeConfig(feather_px=-2)
    with pytest.raises(MergeError, match="sharpen_amount"):
        MergeConfig(sharpen_amount=101)
    with pytest.raises(MergeError, match="unknown keys"):
        MergeConfig.from_dict({"mode": "overlay", "strength": 3})
    with pytest.raises(MergeError, match="JSON"):
        MergeConfig.from_json("{")
    with pytest.raises(MergeError, match=r"\.json or \.toml"):
        MergeConfig().save(tmp_path / "merge.yaml")
    with pytest.raises(MergeError, match="cannot read"):
        MergeConfig.load(tmp_path / "missing.toml")
