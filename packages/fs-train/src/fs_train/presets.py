"""Named training recipes: a model, its face type and size, and the optimiser, loss and augmentation settings.

``cpu`` is the recipe that reached the best swap in the fewest seconds on two CPU cores with AMX in fs-train's
time-to-likeness benchmark (see the README's ablation table); ``cpu-small`` the same recipe made cheaper for
CPUs without AMX, which train in fp32 (a 48-px model of half the width: ~4x the steps a second there); ``gpu`` is a
larger model for a GPU; ``v0.1`` is what ``fs demo`` trained before the presets existed, kept as the benchmark's
reference.
Use :func:`preset_config` to get a :class:`TrainConfig`; any field can be overridden.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fs_align import FaceType
from fs_train.config import LossConfig, TrainConfig
from fs_train.errors import ConfigError

__all__ = ["MODEL_LOSSES", "PRESETS", "Preset", "get_preset", "model_loss", "preset_config"]

MODEL_LOSSES: Mapping[str, Mapping[str, Any]] = types.MappingProxyType(
    {
        # the first deepfakes model (seed 000, "Deep Fakes Lightning"): plain MSE on the whole face, no mask
        "original": types.MappingProxyType({"dssim_weight": 0.0, "mse_weight": 1.0, "masked": False,
                                            "mask_weight": 0.0}),
        # DFL 1.0's H64 / H128: 10 * DSSIM on the mask-multiplied faces, mean absolute error of the masks
        "h64": types.MappingProxyType({"dssim_weight": 10.0, "mse_weight": 0.0, "mask_weight": 1.0,
                                       "mask_loss": "l1"}),
        "h128": types.MappingProxyType({"dssim_weight": 10.0, "mse_weight": 0.0, "mask_weight": 1.0,
                                        "mask_loss": "l1"}),
    }
)  # fmt: skip
"""The loss fields where a model's seed trained differently from DFL SAEHD (:class:`LossConfig`'s defaults).

``quick96`` is absent on purpose: DFL's Quick96 trains with SAEHD's terms (10 DSSIM + 10 MSE on the blurred
mask, 10 MSE of the masks).
"""


def model_loss(model: str, **overrides: Any) -> LossConfig:
    """The default :class:`LossConfig` of registry model ``model`` (:data:`MODEL_LOSSES`) with ``overrides``."""
    base = dict(MODEL_LOSSES.get(model, {}))
    return LossConfig.from_dict({**base, **overrides})


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named recipe.

    Attributes:
        name: the registry key (``fs train --preset NAME``).
        description: one line on what it is for.
        face_type: the face crop the facesets should be extracted with.
        values: :class:`TrainConfig` fields (nested ``model_config``/``optim``/``loss``/``augment`` as dicts).
    """

    name: str
    description: str
    face_type: FaceType
    values: Mapping[str, Any]

    @property
    def resolution(self) -> int:
        """The model's face size: extract the facesets at (at least) this size."""
        return int(self.values["model_config"]["resolution"])

    def merged(self, **overrides: Any) -> dict[str, Any]:
        """The preset's :class:`TrainConfig` fields with ``overrides`` on top (nested mappings update the preset's)."""
        data: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.values.items()}
        for key, value in overrides.items():
            old = data.get(key)
            data[key] = {**old, **value} if isinstance(value, Mapping) and isinstance(old, dict) else value
        return data

    def config(self, src: str | Path, dst: str | Path, out_dir: str | Path, **overrides: Any) -> TrainConfig:
        """A :class:`TrainConfig` of this recipe; nested mappings in ``overrides`` update the preset's."""
        return TrainConfig(src=Path(src), dst=Path(dst), out_dir=Path(out_dir), **self.merged(**overrides))


def _frozen(values: dict[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(
        {k: types.MappingProxyType(v) if isinstance(v, dict) else v for k, v in values.items()}
    )


_CPU_RECIPE: dict[str, Any] = {
    "model": "df",
    "model_config": {"resolution": 64, "ae_dims": 64, "e_dims": 32, "d_dims": 32, "d_mask_dims": 16},
    "batch_size": 8,
    "optim": {"lr": 1e-3, "warmup_steps": 100},
    "loss": {"eyes_mouth_weight": 300.0},
    "augment": {"random_warp_until": 1000, "src_pitch": 10.0, "src_turn": "dst"},
    "precision": "auto",
    "channels_last": True,
}
"""The ``cpu`` preset's values; ``cpu-small`` changes only its model's size."""


PRESETS: Mapping[str, Preset] = types.MappingProxyType(
    {
        "cpu": Preset(
            "cpu",
            "small DF on full-face 64 crops, lr 1e-3, eyes/mouth priority, random warp off after 1000 steps, bf16 "
            "on CPUs with AMX: fs demo on CPU",
            FaceType.FULL,
            _frozen(_CPU_RECIPE),
        ),
        "cpu-small": Preset(
            "cpu-small",
            "the cpu recipe at 48 px and dims 16: fs demo on CPUs without AMX (fp32 there, where bf16 is no faster)",
            FaceType.FULL,
            _frozen(
                {
                    **_CPU_RECIPE,
                    "model_config": {"resolution": 48, "ae_dims": 64, "e_dims": 16, "d_dims": 16, "d_mask_dims": 12},
                }
            ),
        ),
        "gpu": Preset(
            "gpu",
            "DF-ud 192 full face (SAEHD-like, ae 256, dims 64), bf16, batch 16: fs demo --device cuda",
            FaceType.FULL,
            _frozen(
                {
                    "model": "df",
                    "model_config": {
                        "resolution": 192,
                        "ae_dims": 256,
                        "e_dims": 64,
                        "d_dims": 64,
                        "d_mask_dims": 22,
                        "options": "ud",
                    },
                    "batch_size": 16,
                    "optim": {"lr": 2e-4, "warmup_steps": 200},
                    "loss": {"eyes_mouth_weight": 300.0},
                    "precision": "auto",
                    "channels_last": True,
                }
            ),
        ),
        "v0.1": Preset(
            "v0.1",
            "fs demo's recipe in v0.1 (DF-64 whole face, dims 32, fp32): the benchmark's reference",
            FaceType.WHOLE_FACE,
            _frozen(
                {
                    "model": "df",
                    "model_config": {"resolution": 64, "ae_dims": 64, "e_dims": 32, "d_dims": 32, "d_mask_dims": 16},
                    "batch_size": 8,
                    "optim": {"lr": 2e-4},
                    "precision": "fp32",
                    "channels_last": False,
                }
            ),
        ),
    }
)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`ConfigError` lists the known ones."""
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise ConfigError(f"preset {name!r}: unknown; known: {', '.join(PRESETS)}") from None


def preset_config(name: str, src: str | Path, dst: str | Path, out_dir: str | Path, **overrides: Any) -> TrainConfig:
    """``get_preset(name).config(src, dst, out_dir, **overrides)``."""
    return get_preset(name).config(src, dst, out_dir, **overrides)
