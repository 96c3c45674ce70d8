"""XSeg checkpoints in safetensors: weights, optimiser state and training state, written atomically.

Layout of one ``.safetensors`` file:

- tensors ``model.<name>`` (the net's state dict), ``optim.<param index>.<key>`` (Adam moments and step);
- metadata (strings): ``fs_mask.kind`` = ``"xseg-checkpoint"``, ``fs_mask.format`` = ``"1"``, ``segmenter``
  (registry name), ``config`` (JSON of :class:`~fs_mask.xseg_net.XSegConfig`), ``train`` (JSON: step, loss
  history, optimiser hyper-parameters, numpy RNG state, the training config).

Writes go to a temp file (fsync) and are renamed over the target; the previous file is kept as ``<name>.bak``.
Loading never unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from fs_align import atomic_write
from fs_mask.errors import MaskError
from fs_mask.xseg_net import XSegConfig, XSegNet, create_segmenter

__all__ = [
    "CheckpointError",
    "XSegCheckpoint",
    "load_checkpoint",
    "load_xseg",
    "restore_optimizer",
    "save_checkpoint",
]

_KIND = "xseg-checkpoint"
_FORMAT = "1"


class CheckpointError(MaskError):
    """A checkpoint file is missing, unreadable, or not an fs-mask XSeg checkpoint."""


@dataclass
class XSegCheckpoint:
    """What a checkpoint holds, loaded: the model (eval mode), optimiser tensors and the training state."""

    model: XSegNet
    config: XSegConfig
    step: int = 0
    train: dict[str, Any] = field(default_factory=dict)
    optim_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def _atomic_write(path: Path, data: bytes) -> None:
    """Keep the previous file as ``<name>.bak`` (a copy), then write ``data`` atomically."""
    if path.exists():
        atomic_write(path.with_name(path.name + ".bak"), path.read_bytes())
    atomic_write(path, data)


def save_checkpoint(
    path: str | Path,
    model: XSegNet,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    step: int = 0,
    train: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (+ optimiser state and ``train`` JSON) to ``path`` atomically, keeping a ``.bak``."""
    tensors: dict[str, torch.Tensor] = {
        f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()
    }
    hyper: list[dict[str, Any]] = []
    if optimizer is not None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        for i, p in enumerate(params):
            for key, value in optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{i}.{key}"] = value.detach().to("cpu").contiguous()
        hyper = [
            {k: v for k, v in g.items() if k != "params" and isinstance(v, (int, float, bool))}
            for g in optimizer.param_groups
        ]
    state = dict(train or {})
    state["optimizer_groups"] = hyper
    meta = {
        "fs_mask.kind": _KIND,
        "fs_mask.format": _FORMAT,
        "segmenter": "xseg",
        "config": json.dumps(model.config.to_dict()),
        "step": str(int(step)),
        "train": json.dumps(state),
    }
    target = Path(path)
    _atomic_write(target, save(tensors, metadata=meta))
    return target


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> XSegCheckpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: missing file, not safetensors, not an XSeg checkpoint, or weights that do not fit.
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"{file}: no such checkpoint file")
    try:
        with safe_open(str(file), framework="pt", device=str(device)) as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception as exc:
        raise CheckpointError(f"{file}: not a readable safetensors file: {exc}") from exc
    if meta.get("fs_mask.kind") != _KIND:
        raise CheckpointError(f"{file}: not an fs-mask XSeg checkpoint (metadata kind {meta.get('fs_mask.kind')!r})")
    if meta.get("fs_mask.format") != _FORMAT:
        raise CheckpointError(f"{file}: checkpoint format {meta.get('fs_mask.format')!r}, this fs-mask reads {_FORMAT}")
    try:
        config = XSegConfig.from_dict(json.loads(meta["config"]))
        train = json.loads(meta.get("train", "{}"))
        step = int(meta.get("step", "0"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{file}: malformed checkpoint metadata: {exc}") from exc
    model = create_segmenter(meta.get("segmenter", "xseg"), config)
    if not isinstance(model, XSegNet):
        raise CheckpointError(f"{file}: segmenter {meta.get('segmenter')!r} is not an XSeg net")
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
