"""Crash-safe training checkpoints in safetensors (never pickle).

One file holds the whole training state: tensors ``model.*`` (the model's state_dict), ``ema.*``, ``disc.*``,
``optim.<opt>.<param index>.<state name>`` (optimiser state flattened into tensors), ``rng.*`` (generator
states as uint8 tensors) and ``history`` (the per-step loss history, float64); the header's metadata holds
``fs_train.format``, ``fs_train.state`` (JSON: step, counters, config, the optimisers' param groups and
non-tensor state, the GradScaler state, ...) and the fs-models keys (model name and config).

Writes are atomic: a temp file in the same folder, fsync, then ``os.replace``; the previous checkpoint is
first hard-linked to ``<name>.1.safetensors`` (older backups shift up to ``keep``). A process killed at any
moment leaves the previous checkpoint (or its backup) loadable, and :func:`load_checkpoint` falls back to
the newest readable backup.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fs_train.errors import CheckpointError

__all__ = [
    "FORMAT",
    "TrainState",
    "checkpoint_candidates",
    "flatten_optimizer",
    "load_checkpoint",
    "save_checkpoint",
    "unflatten_optimizer",
]

FORMAT = "fs-train-1"
_KEY_FORMAT, _KEY_STATE = "fs_train.format", "fs_train.state"


@dataclass
class TrainState:
    """A checkpoint's contents: ``tensors`` by name and the JSON-able ``meta`` dict."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path | None = None

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors under ``prefix.`` with the prefix removed."""
        p = prefix + "."
        return {k[len(p) :]: v for k, v in self.tensors.items() if k.startswith(p)}


def flatten_optimizer(sd: Mapping[str, Any], prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser ``state_dict`` into tensors ``<prefix>.<param>.<name>`` and a JSON-able dict."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, st in sd["state"].items():
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{pid}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild the optimiser ``state_dict`` from :func:`flatten_optimizer`'s output (prefix removed)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for key, value in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    groups = [dict(g) for g in meta["param_groups"]]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        return
    finally:
        os.close(fd)


def backup_path(path: Path, k: int) -> Path:
    """``name.safetensors`` -> ``name.<k>.safetensors``."""
    return path.with_name(f"{path.stem}.{k}{path.suffix}")


def save_checkpoint(
    path: str | Path, state: TrainState, *, keep: int = 2, extra_meta: Mapping[str, str] | None = None
) -> Path:
    """Write ``state`` to ``path`` atomically, keeping ``keep`` rotating backups of the previous ones.

    Returns:
        The checkpoint path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {_KEY_FORMAT: FORMAT, _KEY_STATE: json.dumps(state.meta, sort_keys=True)}
    meta.update({str(k): str(v) for k, v in (extra_meta or {}).items()})
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.tensors.items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if keep > 0 and path.exists():
            for k in range(keep - 1, 0, -1):
                if backup_path(path, k).exists():
                    os.replace(backup_path(path, k), backup_path(path, k + 1))
            first = backup_path(path, 1)
            first.unlink(missing_ok=True)
            try:
                os.link(path, first)
            except OSError:
                shutil.copy2(path, first)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _read(path: Path) -> TrainState:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            if meta.get(_KEY_FORMAT) != FORMAT or _KEY_STATE not in meta:
                raise CheckpointError(
                    f"{path}: not an fs-train checkpoint (format {meta.get(_KEY_FORMAT)!r}, expected {FORMAT!r}); "
                    "to start from a model file use init_weights"
                )
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises its own types for truncated/corrupt files
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from exc
    try:
        state = json.loads(meta[_KEY_STATE])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: the training state in the header is not JSON: {exc}") from exc
    return TrainState(tensors, state, path)


def checkpoint_candidates(path: str | Path, keep: int = 16) -> list[Path]:
    """The checkpoint and its backups that exist, newest first."""
    path = Path(path)
    cands = [path] + [backup_path(path, k) for k in range(1, keep + 1)]
    return [c for c in cands if c.is_file()]


def load_checkpoint(path: str | Path, *, fallback: bool = True) -> TrainState:
    """Read a training checkpoint; with ``fallback`` try the backups when the main file is unreadable.

    Raises:
        CheckpointError: no readable checkpoint (lists each file and why).
    """
    path = Path(path)
    cands = checkpoint_candidates(path) if fallback else [path]
    if not cands:
        raise CheckpointError(f"{path}: no such checkpoint file (and no backups)")
    errors = []
    for c in cands:
        try:
            return _read(c)
        except CheckpointError as exc:
            errors.append(str(exc))
            if not fallback:
                raise
    raise CheckpointError(f"{path}: no readable checkpoint: " + "; ".join(errors))


def rng_tensor(state: torch.Tensor) -> torch.Tensor:
    """A generator state as a uint8 tensor on the CPU."""
    return state.detach().to("cpu", torch.uint8).contiguous()
