"""Named recipes and the random-warp schedule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fs_align import FaceType
from fs_train import PRESETS, AugmentConfig, ConfigError, LossConfig, PairSampler, get_preset, open_pair, preset_config


def test_presets_build_valid_configs(tmp_path: Path) -> None:
    assert {"cpu", "cpu-small", "gpu", "v0.1"} <= set(PRESETS)
    for name, p in PRESETS.items():
        cfg = p.config(tmp_path / "s", tmp_path / "d", tmp_path / "o")
        assert cfg.model_config["resolution"] == p.resolution
        assert isinstance(p.face_type, FaceType) and p.description
        assert get_preset(name.upper()) is p
    cpu = preset_config("cpu", "s", "d", "o", optim={"lr": 1e-3}, time_budget_s=60.0)
    assert cpu.optim.lr == 1e-3 and cpu.optim.warmup_steps == PRESETS["cpu"].values["optim"]["warmup_steps"]
    assert cpu.time_budget_s == 60.0 and cpu.precision.value == "auto"
    assert get_preset("v0.1").config("s", "d", "o").precision.value == "fp32"
    small, cpu_values = dict(PRESETS["cpu-small"].values), dict(PRESETS["cpu"].values)
    assert small.pop("model_config")["resolution"] == 48 and cpu_values.pop("model_config")["resolution"] == 64
    assert small == cpu_values  # the same recipe on a smaller model
    with pytest.raises(ConfigError, match="known: cpu"):
        get_preset("turbo")


def test_random_warp_turns_off_after_the_scheduled_step(facesets) -> None:  # type: ignore[no-untyped-def]
    plain = {"rotation": 0.0, "scale": 0.0, "shift": 0.0, "flip_src": False, "flip_dst": False}
    aug = AugmentConfig(random_warp=True, random_warp_until=3, **plain)
    sampler = PairSampler(open_pair(facesets[0], facesets[1], LossConfig()), aug, 64, 2, 0)
    early, late = sampler.make(2), sampler.make(3)
    assert not np.array_equal(early["src_input"], early["src_target"])  # warped input
    assert np.array_equal(late["src_input"], late["src_target"])  # from step 3 on: the plain face
    assert np.array_equal(late["dst_input"], late["dst_target"])
    never = PairSampler(open_pair(facesets[0], facesets[1], LossConfig()), AugmentConfig(**plain), 64, 2, 0)
    assert not np.array_equal(never.make(50)["src_input"], never.make(50)["src_target"])
    with pytest.raises(ConfigError, match="random_warp_until"):
        AugmentConfig(random_warp_until=-1)
