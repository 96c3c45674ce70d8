"""Gather a trainer's state into a :class:`TrainState` and put it back; small file helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist

from fs_models import CGANGenerator
from fs_train._cgan import AnyBatch, IdentityBatch
from fs_train.checkpoint import TrainState, flatten_optimizer, rng_tensor, unflatten_optimizer
from fs_train.config import AugmentConfig, TrainConfig
from fs_train.data import Batch, PairSampler
from fs_train.errors import CheckpointError
from fs_train.preview import preview_grid

if TYPE_CHECKING:
    from fs_train.trainer import Trainer

__all__ = ["collect", "preview_batch", "restore", "tensorboard_writer", "write_json"]

HISTORY_COLUMNS = ["step", "loss", "src", "dst"]


def _rank_rngs(trainer: Trainer) -> list[torch.Tensor]:
    """Every rank's global torch CPU RNG state (gathered to all ranks under DDP)."""
    mine = rng_tensor(torch.get_rng_state())
    if not trainer.dist.enabled:
        return [mine]
    out = [torch.empty_like(mine) for _ in range(trainer.dist.world)]
    dist.all_gather(out, mine.to(trainer.device) if trainer.device.type == "cuda" else mine)
    return [t.cpu() for t in out]


def collect(trainer: Trainer) -> TrainState:
    """The trainer's full state: weights, optimisers, scaler, RNGs, counters, history (see fs_train.checkpoint)."""
    from fs_train import __version__

    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    meta: dict[str, Any] = {
        "fs_train_version": __version__,
        "step": trainer.step,
        "counter": trainer.counter,
        "bad_steps": trainer.bad_steps,
        "elapsed_s": trainer.elapsed_before,
        "model": trainer.model.name,
        "model_config": trainer.model.config.to_dict(),
        "train_config": trainer.config.to_dict(),
        "trainable": [n for n, p in trainer.model.named_parameters() if p.requires_grad],
        "has_disc": trainer.disc is not None,
        "has_code_disc": trainer.code_disc is not None,
        "world": trainer.dist.world,
        "history_columns": HISTORY_COLUMNS,
    }
    t, meta["optim"] = flatten_optimizer(trainer.optimizer.state_dict(), "optim.g")
    tensors.update(t)
    if trainer.disc is not None and trainer.d_optimizer is not None:
        tensors.update({f"disc.{k}": v for k, v in trainer.disc.state_dict().items()})
        t, meta["d_optim"] = flatten_optimizer(trainer.d_optimizer.state_dict(), "optim.d")
        tensors.update(t)
    if trainer.code_disc is not None and trainer.c_optimizer is not None:
        tensors.update({f"code_disc.{k}": v for k, v in trainer.code_disc.state_dict().items()})
        t, meta["c_optim"] = flatten_optimizer(trainer.c_optimizer.state_dict(), "optim.c")
        tensors.update(t)
    if trainer.ema is not None:
        tensors.update({f"ema.{k}": v for k, v in trainer.ema.shadow.items()})
    if trainer.family is not None:
        trainer.family.add_state(tensors, meta)
    meta["scaler"] = trainer.scaler.state_dict() if trainer.scaler.is_enabled() else None
    for r, state in enumerate(_rank_rngs(trainer)):
        tensors[f"rng.torch.rank{r}"] = state
    if trainer.device.type == "cuda":
        tensors["rng.cuda"] = rng_tensor(torch.cuda.get_rng_state(trainer.device))
    tensors["rng.lr_dropout"] = rng_tensor(trainer.lr_dropout.generator.get_state())
    tensors["history"] = torch.tensor(trainer.history, dtype=torch.float64).reshape(-1, len(HISTORY_COLUMNS))
    if trainer.autoclip is not None:
        tensors["autoclip"] = torch.tensor(trainer.autoclip.history, dtype=torch.float64)
    return TrainState(tensors, meta)


def restore(trainer: Trainer, state: TrainState) -> None:
    """Load a checked (see ``_setup.check_resume``) state into a freshly built trainer."""
    path = state.path or "checkpoint"
    meta = state.meta
    try:
        trainer.model.load_state_dict(state.group("model"))
        trainer.optimizer.load_state_dict(unflatten_optimizer(state.group("optim.g"), meta["optim"]))
        if trainer.disc is not None and trainer.d_optimizer is not None:
            trainer.disc.load_state_dict(state.group("disc"))
            trainer.d_optimizer.load_state_dict(unflatten_optimizer(state.group("optim.d"), meta["d_optim"]))
        if trainer.code_disc is not None and trainer.c_optimizer is not None:
            trainer.code_disc.load_state_dict(state.group("code_disc"))
            trainer.c_optimizer.load_state_dict(unflatten_optimizer(state.group("optim.c"), meta["c_optim"]))
        if trainer.ema is not None:
            shadow = state.group("ema")
            if set(shadow) != set(trainer.ema.shadow):
                raise CheckpointError(f"{path}: the checkpoint has no EMA weights (ema_decay was 0 when it was saved)")
            trainer.ema.shadow = {k: v.to(trainer.device) for k, v in shadow.items()}
        if trainer.scaler.is_enabled() and meta.get("scaler"):
            trainer.scaler.load_state_dict(meta["scaler"])
        trainer.lr_dropout.generator.set_state(state.tensors["rng.lr_dropout"])
        rank = int(os.environ.get("RANK", "0"))
        key = f"rng.torch.rank{rank}" if f"rng.torch.rank{rank}" in state.tensors else "rng.torch.rank0"
        torch.set_rng_state(state.tensors[key])
        if trainer.device.type == "cuda" and "rng.cuda" in state.tensors:
            torch.cuda.set_rng_state(state.tensors["rng.cuda"], trainer.device)
        if trainer.autoclip is not None and "autoclip" in state.tensors:
            trainer.autoclip.history = state.tensors["autoclip"].tolist()
        trainer.history = [(int(r[0]), r[1], r[2], r[3]) for r in state.tensors["history"].tolist()]
        trainer.step = int(meta["step"])
        trainer.counter = int(meta["counter"])
        trainer.bad_steps = int(meta["bad_steps"])
        trainer.elapsed_before = float(meta.get("elapsed_s", 0.0))
    except CheckpointError:
        raise
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot restore the training state: {type(exc).__name__}: {exc}") from exc


def preview_batch(trainer: Trainer) -> AnyBatch:
    """Faces 0.. of both facesets (a CGAN: of every identity), un-augmented, for the previews."""
    cfg: TrainConfig = trainer.config
    if trainer.family is not None:
        return trainer.family.preview_batch(cfg.preview_count, trainer.resolution, cfg.seed + 1, trainer.device)
    plain = AugmentConfig(random_warp=False, rotation=0.0, scale=0.0, shift=0.0, flip_src=False, flip_dst=False)
    n = min(cfg.preview_count, len(trainer.sources[0]), len(trainer.sources[1]))
    sampler = PairSampler(trainer.sources, plain, trainer.resolution, n, cfg.seed + 1, need_masks=False)
    return Batch.from_arrays(sampler.make(0), trainer.device)


@torch.no_grad()
def preview_image(trainer: Trainer, b: AnyBatch) -> npt.NDArray[np.uint8]:
    """The preview grid of the trainer's current weights on ``b``: src | src->src | dst | dst->dst | swap.

    A CGAN's grid has a row per face of each identity: the face, its reconstruction, then the face rendered as
    each identity.
    """
    if isinstance(b, IdentityBatch):
        assert trainer.family is not None and isinstance(trainer.model, CGANGenerator)
        return trainer.family.preview(trainer.model, b)
    out = trainer.model(b.target_src, b.target_dst)
    swapped = out.src_dst if out.src_dst is not None else torch.zeros_like(b.target_dst)
    return preview_grid([b.target_src, out.src_src, b.target_dst, out.dst_dst, swapped])


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def tensorboard_writer(config: TrainConfig) -> Any:
    """A TensorBoard ``SummaryWriter`` under ``out_dir/tensorboard``, or ``None`` when it is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(config.out_dir / "tensorboard"))
