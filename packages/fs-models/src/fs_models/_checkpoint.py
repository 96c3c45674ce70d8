"""Safetensors checkpoints with the model's registry name and config in the header; partial loads; freezing.

Header metadata (all strings): ``fs_models.format`` = ``"1"``, ``fs_models.model`` = registry name,
``fs_models.config`` = the config as JSON, ``fs_models.version`` = the writing package's version, plus any
caller metadata (e.g. fs-train's step). Tensors are the model's ``state_dict`` under their usual names, plus
optional caller tensors (e.g. optimiser moments) under ``extra/<name>``, which weight loading ignores.
Files are written atomically (``fs_align.atomic_write``: temp file, fsync, rename). Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save
from torch import nn

from fs_align import atomic_write
from fs_models._base import FsModel
from fs_models._registry import create_model
from fs_models.errors import CheckpointError, ModelError

__all__ = ["freeze", "load_extra_tensors", "load_model", "load_weights", "read_header", "save_model", "unfreeze"]

EXTRA_PREFIX = "extra/"

FORMAT = "1"
_KEY_FORMAT, _KEY_MODEL, _KEY_CONFIG, _KEY_VERSION = (
    "fs_models.format",
    "fs_models.model",
    "fs_models.config",
    "fs_models.version",
)
_MAX_HEADER = 100 * 1024 * 1024


def save_model(
    model: FsModel,
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model``'s weights, registry name and config to ``path`` (safetensors, atomic); returns the path.

    ``metadata`` adds string entries to the header; ``extra_tensors`` (e.g. optimiser state) are stored as
    ``extra/<name>`` and read back by :func:`load_extra_tensors` (weight loading ignores them).
    """
    from fs_models import __version__

    if not isinstance(model, FsModel):
        raise ModelError(f"save_model: expected an fs_models model, got {type(model).__name__}")
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.update(
        {
            _KEY_FORMAT: FORMAT,
            _KEY_MODEL: model.name,
            _KEY_CONFIG: json.dumps(model.config.to_dict(), sort_keys=True),
            _KEY_VERSION: __version__,
        }
    )
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    for k, v in (extra_tensors or {}).items():
        tensors[EXTRA_PREFIX + str(k)] = v.detach().to("cpu").contiguous()
    return atomic_write(Path(path), st_save(tensors, metadata=meta))


def load_extra_tensors(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The ``extra_tensors`` that :func:`save_model` stored in ``path``, by their names (empty if none)."""
    p = Path(path)
    read_header(p)
    try:
        with safe_open(str(p), framework="pt", device=str(device)) as f:
            names = [k for k in f.keys() if k.startswith(EXTRA_PREFIX)]  # noqa: SIM118
            return {k[len(EXTRA_PREFIX) :]: f.get_tensor(k) for k in names}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{p}: cannot read its tensors: {exc}") from exc


def _check_safetensors(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(9)
    if len(head) < 9:
        raise CheckpointError(f"{path}: not a safetensors file (only {size} bytes)")
    (n,) = struct.unpack("<Q", head[:8])
    if n > min(size - 8, _MAX_HEADER) or head[8:9] != b"{":
        raise CheckpointError(
            f"{path}: not a safetensors file (bad header); fs-models reads only safetensors, never pickles"
        )


def read_header(path: str | os.PathLike[str]) -> tuple[str, dict[str, object], dict[str, str]]:
    """The registry name, config dict and full metadata of an fs-models checkpoint (reads no tensors)."""
    p = Path(path)
    _check_safetensors(p)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{p}: not a valid safetensors file: {exc}") from exc
    if meta.get(_KEY_FORMAT) != FORMAT or _KEY_MODEL not in meta or _KEY_CONFIG not in meta:
        raise CheckpointError(
            f"{p}: a safetensors file but not an fs-models checkpoint (no {_KEY_MODEL}/{_KEY_CONFIG} metadata, "
            f"or format {meta.get(_KEY_FORMAT)!r} != {FORMAT!r})"
        )
    try:
        config = json.loads(meta[_KEY_CONFIG])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{p}: the config in the header is not JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{p}: the config in the header is not a JSON object")
    return meta[_KEY_MODEL], config, meta


def _read_tensors(p: Path, keys: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    with safe_open(str(p), framework="pt") as f:
        names = list(f.keys()) if keys is None else [k for k in keys if k in set(f.keys())]
        return {k: f.get_tensor(k) for k in names}


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> FsModel:
    """Rebuild the model saved in ``path`` (registry name + config from the header) and load its weights."""
    p = Path(path)
    name, config, _ = read_header(p)
    try:
        model = create_model(name, **config)
    except ModelError as exc:
        raise CheckpointError(f"{p}: cannot rebuild model {name!r} from its stored config: {exc}") from exc
    load_weights(model, p)
    return model.to(device)


def _summary(keys: list[str], limit: int = 8) -> str:
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_weights(
    model: FsModel, path: str | os.PathLike[str], prefixes: Iterable[str] | None = None, strict: bool = True
) -> list[str]:
    """Load weights from ``path`` into ``model``, all of them or only those under ``prefixes``.

    ``prefixes`` names submodules (``["encoder"]`` or ``["encoder", "inter"]``) for partial loads such as
    reusing a pretrained encoder. Every selected key must exist in both with the same shape, else a
    :class:`CheckpointError` names the missing, unexpected and mismatched keys (and the two configs).
    With ``strict=False`` keys that only one side has are skipped (shape mismatches still raise).
    Returns the loaded key names.
    """
    p = Path(path)
    name, config, _ = read_header(p)
    own = model.state_dict()
    pre = None if prefixes is None else tuple(prefixes)
    if pre is not None:
        unknown = [q for q in pre if not any(k == q or k.startswith(q + ".") for k in own)]
        if unknown:
            tops = sorted({k.split(".")[0] for k in own})
            raise CheckpointError(f"{p}: model has no submodule(s) {', '.join(unknown)}; top-level: {', '.join(tops)}")

    def selected(k: str) -> bool:
        return pre is None or any(k == q or k.startswith(q + ".") for q in pre)

    with safe_open(str(p), framework="pt") as f:
        stored = {
            k: tuple(f.get_slice(k).get_shape())
            for k in f.keys()  # noqa: SIM118
            if selected(k) and not k.startswith(EXTRA_PREFIX)
        }
    mine = {k: tuple(v.shape) for k, v in own.items() if selected(k)}
    missing = sorted(set(mine) - set(stored))
    unexpected = sorted(set(stored) - set(mine))
    mismatched = sorted(f"{k} {stored[k]} vs {mine[k]}" for k in set(stored) & set(mine) if stored[k] != mine[k])
    if mismatched or (strict and (missing or unexpected)):
        parts = []
        if mismatched:
            parts.append(f"shape mismatch (checkpoint vs model): {_summary(mismatched)}")
        if missing and strict:
            parts.append(f"missing in checkpoint: {_summary(missing)}")
        if unexpected and strict:
            parts.append(f"not in model: {_summary(unexpected)}")
        raise CheckpointError(
            f"{p}: checkpoint of model {name!r} {config} does not fit model {model.name!r} "
            f"{model.config.to_dict()}: " + "; ".join(parts)
        )
    keys = sorted(set(stored) & set(mine))
    tensors = _read_tensors(p, keys)
    with torch.no_grad():
        for k in keys:
            own[k].copy_(tensors[k])
    return keys


def _named_params(model: nn.Module, names: str | Iterable[str]) -> list[nn.Parameter]:
    if isinstance(names, str):
        names = [names]
    params = dict(model.named_parameters())
    out: list[nn.Parameter] = []
    for q in names:
        hit = [v for k, v in params.items() if k == q or k.startswith(q + ".")]
        if not hit:
            tops = sorted({k.split(".")[0] for k in params})
            raise ModelError(f"no parameters under {q!r}; top-level modules: {', '.join(tops)}")
        out += hit
    return out


def freeze(model: nn.Module, names: str | Iterable[str]) -> int:
    """Stop gradients for the parameters under module ``names`` (e.g. ``["encoder"]``); returns their count."""
    params = _named_params(model, names)
    for prm in params:
        prm.requires_grad_(False)
    return sum(prm.numel() for prm in params)


def unfreeze(model: nn.Module, names: str | Iterable[str]) -> int:
    """Undo :func:`freeze` for the parameters under module ``names``; returns their count."""
    params = _named_params(model, names)
    for prm in params:
        prm.requires_grad_(True)
    return sum(prm.numel() for prm in params)
