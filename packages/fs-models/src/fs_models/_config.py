"""Enums and the frozen-config base class shared by every model config.

A config is a frozen dataclass whose fields are JSON-friendly (ints, floats, strings, bools, enums). It turns
into a plain dict for the checkpoint header (:meth:`ModelConfig.to_dict`) and back (:meth:`ModelConfig.from_dict`),
and validates itself in ``__post_init__``: a bad value raises :class:`~fs_models.errors.ConfigError` naming the
field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from fs_align import FaceType, parse_enum
from fs_models.errors import ConfigError

__all__ = ["Conditioning", "FaceType", "InitMethod", "ModelConfig"]  # FaceType: fs_align's, re-exported

C = TypeVar("C", bound="ModelConfig")


class InitMethod(str, enum.Enum):
    """How conv and dense weights are initialised (biases start at zero)."""

    HE_UNIFORM = "he_uniform"
    """Kaiming/He uniform, bound sqrt(6 / fan_in) (the default)."""
    CONV_AWARE = "conv_aware"
    """Convolution-aware init (Aghajanyan 2017): orthogonal filters built in the Fourier domain."""


class Conditioning(str, enum.Enum):
    """How the CGAN generator mixes the identity embedding into its bottleneck."""

    MLP = "mlp"
    """Concatenate code and identity embedding, then an MLP."""
    ATTENTION = "attention"
    """Spatial bottleneck tokens cross-attend to identity tokens."""


def _coerce_enum(cls: type[enum.Enum], value: Any, field: str) -> enum.Enum:
    what = f"config field {field!r}: unknown value"
    if cls is FaceType and isinstance(value, str):  # DFL's short names too ("wf")
        with contextlib.suppress(ValueError):
            return FaceType.parse(value)
    return parse_enum(cls, value, what, ConfigError)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Base of every model config: enum coercion, type checks, dict round trip."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default
            if isinstance(default, enum.Enum):
                object.__setattr__(self, f.name, _coerce_enum(type(default), value, f.name))
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"config field {f.name!r} must be a bool, got {value!r}")
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ConfigError(f"config field {f.name!r} must be an int, got {value!r}")
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"config field {f.name!r} must be a number, got {value!r}")
                object.__setattr__(self, f.name, float(value))
            elif isinstance(default, str) and not isinstance(value, str):
                raise ConfigError(f"config field {f.name!r} must be a string, got {value!r}")
        self.validate()

    def validate(self) -> None:
        """Check value ranges; subclasses raise :class:`ConfigError` naming the field."""

    def _positive(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 1:
                raise ConfigError(f"config field {name!r} must be >= 1, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-friendly dict (enums as their values)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, enum.Enum) else value
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the config's fields."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any], *, base: C | None = None) -> C:
        """Build a config from ``values`` (over ``base`` when given); unknown keys raise :class:`ConfigError`."""
        names = cls.field_names()
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; fields: {', '.join(names)}")
        if base is None:
            return cls(**values)
        return dataclasses.replace(base, **values)
