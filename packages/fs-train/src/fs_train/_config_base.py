"""The building blocks of :mod:`fs_train.config`: its enums, the mask-chain parser, and ``_Base`` (the frozen,
validated, JSON-round-tripping dataclass behaviour every config section shares)."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from fs_align import MaskSource, parse_enum
from fs_train.errors import ConfigError

T = TypeVar("T")
CT_MODES = ("none", "rct", "lct", "mkl", "idt", "sot")
"""``AugmentConfig.ct_mode`` values (DFL's names)."""


class OptimizerName(str, enum.Enum):
    """Which optimiser updates the weights."""

    ADAMW = "adamw"
    NADAM = "nadam"
    ADABELIEF = "adabelief"


class Schedule(str, enum.Enum):
    """LR schedule after the linear warmup."""

    CONSTANT = "constant"
    COSINE = "cosine"
    """Cosine decay to ``min_lr_ratio * lr`` at the last step (or at the end of each cycle with restarts)."""


class ClipMode(str, enum.Enum):
    """Gradient clipping."""

    NONE = "none"
    NORM = "norm"
    """Clip the global L2 norm to ``clip_norm``."""
    AUTO = "auto"
    """AutoClip (Seetharaman et al. 2020): clip to the ``autoclip_percentile`` of the norms seen so far."""


class Precision(str, enum.Enum):
    """Numeric precision of the forward/backward pass (weights and optimiser state stay float32)."""

    AUTO = "auto"
    """bf16 where the device really computes in bf16 (CUDA; CPUs with AVX-512 BF16 or AMX), else fp32."""
    FP32 = "fp32"
    BF16 = "bf16"
    """bfloat16 autocast (no loss scaling needed)."""
    FP16 = "fp16"
    """float16 autocast with a dynamic GradScaler."""


_MASK_CHAINS = {
    "stored_or_hull": (MaskSource.STORED, MaskSource.HULL),
    "stored": (MaskSource.STORED,),
    "hull": (MaskSource.HULL,),
}
TRAIN_MASK_SOURCES = (MaskSource.STORED, MaskSource.HULL)
"""The ``fs_align.MaskSource`` values a training mask chain may hold."""


def parse_mask_chain(value: Any) -> tuple[MaskSource, ...]:
    """A training mask chain: ``fs_align.MaskSource`` values, the first one a face has wins.

    Accepts a sequence of sources (or their names), ``"stored,hull"``, or v0.1's names ``"stored_or_hull"``,
    ``"stored"`` and ``"hull"``. Only ``stored`` (the faceset's mask) and ``hull`` (fs-mask's extended landmark
    hull, which every face has) can train.
    """
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _MASK_CHAINS:
            return _MASK_CHAINS[key]
        value = [v for v in key.replace(">", ",").split(",") if v.strip()]
    if isinstance(value, MaskSource):
        value = (value,)
    chain = tuple(parse_enum(MaskSource, v, "mask_source: unknown value", ConfigError) for v in value)
    bad = [m.value for m in chain if m not in TRAIN_MASK_SOURCES]
    if not chain or bad or len(set(chain)) != len(chain):
        raise ConfigError(
            f"mask_source: {value!r} is not a chain of distinct sources from {[m.value for m in TRAIN_MASK_SOURCES]}"
        )
    return chain


def _coerce(cls: type[enum.Enum], value: Any, name: str) -> Any:
    return parse_enum(cls, value, f"{name}: unknown value", ConfigError)


def _check(ok: bool, name: str, want: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{name}: expected {want}, got {value!r}")


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


class _Base:
    """Enum coercion, JSON round trip for the config dataclasses."""

    def _enums(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            default = f.default
            if isinstance(default, enum.Enum):
                object.__setattr__(self, f.name, _coerce(type(default), getattr(self, f.name), f.name))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (enums as values, nested configs as dicts, paths as strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, _Base):
                v = v.to_dict()
            elif isinstance(v, enum.Enum):
                v = v.value
            elif isinstance(v, Path):
                v = str(v)
            elif isinstance(v, Mapping):
                v = dict(v)
            elif isinstance(v, tuple):
                v = [x.value if isinstance(x, enum.Enum) else str(x) if isinstance(x, Path) else x for x in v]
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls: type[T], values: Mapping[str, Any]) -> T:
        """Build from a dict such as :meth:`to_dict` returns; unknown keys raise :class:`ConfigError`."""
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; fields: {', '.join(fields)}")
        kw: dict[str, Any] = {}
        for k, v in values.items():
            default = fields[k].default_factory if fields[k].default is dataclasses.MISSING else fields[k].default
            sub = default() if callable(default) and not isinstance(default, type) else default
            if isinstance(sub, _Base) and isinstance(v, Mapping):
                v = type(sub).from_dict(v)
            elif isinstance(sub, tuple) and isinstance(v, list):
                v = tuple(v)
            kw[k] = v
        return cls(**kw)

    def to_json(self) -> str:
        """The config as JSON text (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)
