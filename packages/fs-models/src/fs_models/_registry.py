"""The model registry: ``@register_model(name)``, ``create_model(name, **config)``, ``list_models()``.

A registered factory takes keyword overrides of its preset's config and returns an :class:`FsModel`. The
registry is filled once, at import time, by the decorators in this package's model modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fs_models._base import FsModel
from fs_models._config import ModelConfig
from fs_models.errors import ConfigError, UnknownModelError

__all__ = ["ModelSpec", "create_model", "default_config", "list_models", "model_spec", "register_model"]

F = TypeVar("F", bound=Callable[..., FsModel])


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry: the name, the factory, the config class and the preset's default config."""

    name: str
    factory: Callable[..., FsModel]
    config_cls: type[ModelConfig]
    defaults: ModelConfig
    description: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str, config_cls: type[ModelConfig], defaults: ModelConfig, description: str = ""
) -> Callable[[F], F]:
    """Register ``factory(config) -> FsModel`` under ``name`` with the preset config ``defaults``.

    ``create_model(name, **overrides)`` builds ``config_cls`` from ``defaults`` plus ``overrides`` and calls the
    factory with it. Registering a name twice raises :class:`ConfigError`.
    """
    if not isinstance(defaults, config_cls):
        raise ConfigError(f"register_model({name!r}): defaults must be a {config_cls.__name__}")

    def decorate(factory: F) -> F:
        if name in _REGISTRY:
            raise ConfigError(f"model name {name!r} is registered twice")
        doc = description or (factory.__doc__ or "").strip().splitlines()[0]
        _REGISTRY[name] = ModelSpec(name, factory, config_cls, defaults, doc)
        return factory

    return decorate


def list_models() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def model_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``; :class:`UnknownModelError` (listing the known names) otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None


def default_config(name: str, **overrides: Any) -> ModelConfig:
    """The preset config of ``name`` with ``overrides`` applied (validated)."""
    spec = model_spec(name)
    return spec.config_cls.from_dict(overrides, base=spec.defaults)


def create_model(name: str, **config: Any) -> FsModel:
    """Build the registered model ``name``; keyword arguments override fields of its preset config.

    Example: ``create_model("df", resolution=64, ae_dims=128, options="ud")``.
    Raises :class:`UnknownModelError` for an unknown name and :class:`ConfigError` for an unknown or bad field.
    """
    spec = model_spec(name)
    cfg = spec.config_cls.from_dict(config, base=spec.defaults)
    model = spec.factory(cfg)
    model.name = name
    return model
