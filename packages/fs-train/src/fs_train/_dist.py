"""torchrun / DDP plumbing: who am I, which device, a process group with the right backend."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from fs_train.errors import ConfigError

__all__ = ["DistInfo", "all_reduce_max", "resolve_device"]


@dataclass(frozen=True)
class DistInfo:
    """Rank, world size and local rank (from torchrun's environment; 0, 1, 0 without it)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """Whether more than one process trains."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, previews and logs."""
        return self.rank == 0

    @classmethod
    def setup(cls, device: torch.device) -> DistInfo:
        """Join the process group torchrun describes (gloo on CPU, NCCL on CUDA); a no-op for one process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(), local, False)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        return cls(rank, world, local, True)

    def close(self) -> None:
        """Leave the process group if this object created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> ``cuda:<LOCAL_RANK>`` when CUDA is available, else CPU; ``cuda`` -> ``cuda:<LOCAL_RANK>``."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {spec!r} asked for, but torch sees no CUDA device (torch {torch.__version__})")
        dev = torch.device(f"cuda:{local}") if spec == "cuda" else torch.device(spec)
        torch.cuda.set_device(dev)
        return dev
    return torch.device("cpu")


def all_reduce_max(value: float, info: DistInfo, device: torch.device) -> float:
    """The maximum of ``value`` over all ranks (``value`` itself for one process)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())
