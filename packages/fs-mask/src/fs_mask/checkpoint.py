"""XSeg checkpoints: fs-models checkpoints of the registered ``"xseg"`` model, plus the training state.

A checkpoint is what ``fs_models.save_model`` writes (safetensors; header ``fs_models.model`` = ``"xseg"``,
``fs_models.config`` = the :class:`~fs_mask.xseg_net.XSegConfig` as JSON), so ``fs_models.load_model`` reads
it too (once fs_mask is imported, which registers ``"xseg"``). The training state travels in the same file:
header entries ``fs_mask.step`` and ``fs_mask.train`` (JSON: loss history, optimiser hyper-parameters, numpy
RNG state, the training config) and the Adam moments as extra tensors ``extra/optim.<param index>.<key>``.

Writes are atomic (``fs_align.atomic_write``); the previous file is kept as ``<name>.bak`` (a copy, so the
path always holds a checkpoint). Loading never unpickles anything.

The checkpoints of fs-mask 0.1 (header ``fs_mask.kind`` = ``"xseg-checkpoint"``, tensors ``model.*`` and
``optim.*``) are still read by :func:`load_checkpoint`; they are written in the new layout on the next save.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from fs_align import atomic_write
from fs_mask.errors import MaskError
from fs_mask.xseg_net import XSegConfig, XSegNet
from fs_models import CheckpointError as ModelCheckpointError
from fs_models import load_extra_tensors, load_model, read_header, save_model

__all__ = [
    "CheckpointError",
    "XSegCheckpoint",
    "load_checkpoint",
    "load_xseg",
    "restore_optimizer",
    "save_checkpoint",
]

_LEGACY_KIND = "xseg-checkpoint"
_STEP, _TRAIN = "fs_mask.step", "fs_mask.train"


class CheckpointError(MaskError):
    """A checkpoint file is missing, unreadable, or not an XSeg checkpoint."""


@dataclass
class XSegCheckpoint:
    """What a checkpoint holds, loaded: the model (eval mode), optimiser tensors and the training state."""

    model: XSegNet
    config: XSegConfig
    step: int = 0
    train: dict[str, Any] = field(default_factory=dict)
    optim_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    model: XSegNet,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    step: int = 0,
    train: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (+ optimiser state and ``train`` JSON) to ``path`` atomically, keeping a ``.bak``.

    The file is an fs-models checkpoint of the ``"xseg"`` model (``fs_models.load_model`` reads it).
    """
    if not isinstance(model, XSegNet):
        raise CheckpointError(f"save_checkpoint: expected an XSegNet, got {type(model).__name__}")
    extra: dict[str, torch.Tensor] = {}
    hyper: list[dict[str, Any]] = []
    if optimizer is not None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        for i, p in enumerate(params):
            for key, value in optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor):
                    extra[f"optim.{i}.{key}"] = value
        hyper = [
            {k: v for k, v in g.items() if k != "params" and isinstance(v, (int, float, bool))}
            for g in optimizer.param_groups
        ]
    state = dict(train or {})
    state["optimizer_groups"] = hyper
    target = Path(path)
    if target.exists():
        atomic_write(target.with_name(target.name + ".bak"), target.read_bytes())
    meta = {_STEP: str(int(step)), _TRAIN: json.dumps(state)}
    return save_model(model, target, metadata=meta, extra_tensors=extra)


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> XSegCheckpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or by fs-mask 0.1).

    Raises:
        CheckpointError: missing file, not safetensors, not an XSeg checkpoint, or weights that do not fit.
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"{file}: no such checkpoint file")
    meta = _metadata(file)
    if meta.get("fs_mask.kind") == _LEGACY_KIND:
        return _load_legacy(file, meta, device)
    try:
        name, _, meta = read_header(file)
        if name != "xseg":
            raise CheckpointError(f"{file}: a checkpoint of model {name!r}, not an XSeg net")
        model = load_model(file, device=device)
        optim = {k: v for k, v in load_extra_tensors(file).items() if k.startswith("optim.")}  # on the CPU
        train = json.loads(meta.get(_TRAIN, "{}"))
        step = int(meta.get(_STEP, "0"))
    except ModelCheckpointError as exc:
        raise CheckpointError(f"not an XSeg checkpoint: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{file}: malformed checkpoint metadata: {exc}") from exc
    if not isinstance(model, XSegNet) or not isinstance(train, dict):
        raise CheckpointError(f"{file}: not an XSeg checkpoint (model {type(model).__name__})")
    model.eval()
    return XSegCheckpoint(model=model, config=model.config, step=step, train=train, optim_tensors=optim)


def _metadata(file: Path) -> dict[str, str]:
    try:
        with safe_open(str(file), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{file}: not a readable safetensors file: {exc}") from exc


def _load_legacy(file: Path, meta: dict[str, str], device: str | torch.device) -> XSegCheckpoint:
    """An fs-mask 0.1 checkpoint: ``model.*`` weights, ``optim.*`` moments, config/step/train in the header."""
    if meta.get("fs_mask.format") != "1":
        raise CheckpointError(f"{file}: XSeg checkpoint format {meta.get('fs_mask.format')!r}, this fs-mask reads 1")
    try:
        config = XSegConfig.from_dict(json.loads(meta["config"]))
        train = json.loads(meta.get("train", "{}"))
        step = int(meta.get("step", "0"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{file}: malformed checkpoint metadata: {exc}") from exc
    with safe_open(str(file), framework="pt", device=str(device)) as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    model = XSegNet(config)
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{file}: weights do not fit {config}: {exc}") from exc
    model.to(device).eval()
    optim = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    return XSegCheckpoint(model=model, config=config, step=step, train=train, optim_tensors=optim)


def load_xseg(path: str | Path, *, device: str | torch.device = "cpu") -> XSegNet:
    """Just the trained net of a checkpoint, in eval mode on ``device``."""
    return load_checkpoint(path, device=device).model


def restore_optimizer(optimizer: torch.optim.Optimizer, ckpt: XSegCheckpoint) -> None:
    """Put a checkpoint's optimiser tensors (and hyper-parameters) back into ``optimizer`` (same param order)."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for key, value in ckpt.optim_tensors.items():
        _, idx, name = key.split(".", 2)
        i = int(idx)
        if i >= len(params):
            raise CheckpointError(f"checkpoint optimiser state names parameter {i}, the model has {len(params)}")
        # Adam keeps its step counter on the CPU unless capturable/fused
        optimizer.state[params[i]][name] = value if name == "step" else value.to(params[i].device)
    for group, hyper in zip(optimizer.param_groups, ckpt.train.get("optimizer_groups", []), strict=False):
        group.update({k: v for k, v in hyper.items() if k in group})
