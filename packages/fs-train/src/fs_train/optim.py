"""Optimisers and their helpers: AdaBelief, LR dropout, AutoClip, weight EMA, and the LR schedule.

* :class:`AdaBelief` (Zhuang et al. 2020): Adam whose second moment tracks ``(g - m)^2``, the "belief" in the
  gradient, with bias correction and decoupled weight decay. Written with ``torch._foreach`` ops.
* :class:`LRDropout`: DFL's LR dropout: each step every weight's update is kept with probability ``p`` (a
  fresh Bernoulli mask per step, from a generator whose state is checkpointed and identical on every rank).
* :class:`AutoClip` (Seetharaman et al. 2020): clip to a percentile of the gradient norms seen so far.
* :class:`EMA`: exponential moving average of the weights.
* :func:`lr_factor`: linear warmup then constant or cosine decay, optionally with warm restarts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from fs_train.config import OptimConfig, OptimizerName, Schedule

__all__ = ["EMA", "AdaBelief", "AutoClip", "LRDropout", "build_optimizer", "lr_factor"]


class AdaBelief(torch.optim.Optimizer):
    """AdaBelief with decoupled weight decay (AdamW-style) and bias correction.

    ``m = b1 m + (1 - b1) g``; ``s = b2 s + (1 - b2) (g - m)^2 + eps``;
    ``p -= lr * (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)``; ``p -= lr * wd * p`` first.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0 or eps <= 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1) or weight_decay < 0:
            raise ValueError(f"AdaBelief: bad hyper-parameters lr={lr} betas={betas} eps={eps} wd={weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            b1, b2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            grads = [p.grad for p in params]
            for p in params:
                st = self.state[p]
                if not st:
                    st["step"] = torch.zeros((), dtype=torch.float32)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_var"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["step"] += 1
            ms = [self.state[p]["exp_avg"] for p in params]
            ss = [self.state[p]["exp_avg_var"] for p in params]
            t = float(self.state[params[0]]["step"])
            if wd:
                torch._foreach_mul_(params, 1.0 - lr * wd)
            torch._foreach_lerp_(ms, grads, 1.0 - b1)
            diff = torch._foreach_sub(grads, ms)
            torch._foreach_mul_(ss, b2)
            torch._foreach_addcmul_(ss, diff, diff, value=1.0 - b2)
            torch._foreach_add_(ss, eps)
            bc1, bc2 = 1.0 - b1**t, 1.0 - b2**t
            denom = torch._foreach_sqrt(ss)
            torch._foreach_div_(denom, math.sqrt(bc2))
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, ms, denom, value=-lr / bc1)
        return loss


def build_optimizer(params: Sequence[nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser named in ``cfg`` over ``params`` (only those with ``requires_grad``)."""
    trainable = [p for p in params if p.requires_grad]
    if cfg.name is OptimizerName.ADAMW:
        return torch.optim.AdamW(trainable, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.name is OptimizerName.NADAM:
        return torch.optim.NAdam(
            trainable,
            lr=cfg.lr,
            betas=cfg.betas,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            decoupled_weight_decay=True,
        )
    return AdaBelief(trainable, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


def lr_factor(step: int, total: int, cfg: OptimConfig) -> float:
    """The LR multiplier for optimiser step ``step`` (0-based) of a run of ``total`` steps.

    Warmup: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps. Then constant 1, or a cosine
    from 1 down to ``min_lr_ratio`` over the remaining steps; with ``restart_period`` the cosine restarts
    after each cycle, cycle ``k`` lasting ``restart_period * restart_mult^k`` steps.
    """
    w = cfg.warmup_steps
    if step < w:
        return (step + 1) / w
    if cfg.schedule is Schedule.CONSTANT:
        return 1.0
    t = step - w
    period = float(cfg.restart_period) if cfg.restart_period > 0 else float(max(1, total - w))
    if cfg.restart_period > 0:
        while t >= period:
            t -= int(period)
            period *= cfg.restart_mult
    frac = min(1.0, t / period)
    lo = cfg.min_lr_ratio
    return lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * frac))


class LRDropout:
    """Keep each weight's update with probability ``keep`` (DFL LR dropout); call around ``optimizer.step()``."""

    def __init__(self, params: Sequence[nn.Parameter], keep: float, seed: int) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.keep = keep
        self.generator = torch.Generator().manual_seed(seed ^ 0x1D0)
        self._before: list[torch.Tensor] = []

    @property
    def active(self) -> bool:
        """Whether any update is dropped."""
        return self.keep < 1.0

    def before_step(self) -> None:
        """Remember the weights before the optimiser step."""
        if self.active:
            self._before = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def after_step(self) -> None:
        """Undo a random ``1 - keep`` fraction of each weight tensor's update."""
        if not self.active:
            return
        for p, old in zip(self.params, self._before):
            keep = torch.rand(p.shape, generator=self.generator) < self.keep
            p.copy_(torch.where(keep.to(p.device), p, old))
        self._before = []


class AutoClip:
    """AutoClip: clip the global gradient norm to the ``percentile`` of all norms seen so far."""

    def __init__(self, percentile: float) -> None:
        self.percentile = percentile
        self.history: list[float] = []

    def threshold(self, norm: float) -> float:
        """Record ``norm`` and return the clip threshold to use now."""
        self.history.append(norm)
        hist = torch.tensor(self.history, dtype=torch.float64)
        return float(torch.quantile(hist, self.percentile / 100.0))


class EMA:
    """Exponential moving average of a module's floating-point parameters and buffers."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """``shadow = decay * shadow + (1 - decay) * current``."""
        cur = module.state_dict()
        keys = list(self.shadow)
        torch._foreach_lerp_([self.shadow[k] for k in keys], [cur[k].detach() for k in keys], 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        """Load the averaged weights into ``module``."""
        cur = module.state_dict()
        for k, v in self.shadow.items():
            cur[k].copy_(v)
