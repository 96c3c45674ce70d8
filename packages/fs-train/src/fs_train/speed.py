"""What the hardware supports, decided once per run: precision (bf16 where it is real), memory format, compile.

``resolve_precision`` turns ``Precision.AUTO`` into bf16 only where the device really computes faster in bf16:
CUDA devices that report bf16 support, and CPUs with AMX (checked through torch's oneDNN probe and the CPU's own
flags, never assumed from the architecture). A CPU with AVX-512 BF16 but no AMX stays fp32: there oneDNN's bf16
convolutions ran slower than fp32 (the DF-64 demo step 1.28x slower, measured side by side). Elsewhere
fp32, with a one-line note that says why, so a front end can show it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fs_train.config import Precision

if TYPE_CHECKING:
    from fs_train.trainer import Trainer

__all__ = ["cpu_bf16_features", "profile_steps", "resolve_precision"]


@functools.lru_cache(maxsize=1)
def cpu_bf16_features() -> tuple[str, ...]:
    """The CPU's bf16 features torch can use: a subset of ``("avx512_bf16", "amx_bf16")`` (empty: none)."""
    found: list[str] = []
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return ()
    except (AttributeError, RuntimeError):
        return ()
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags = set(line.partition(":")[2].split())
                break
    probes = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_bf16": "_is_amx_tile_supported"}
    for flag, probe in probes.items():
        fn = getattr(torch.cpu, probe, None)
        if flag in flags or (callable(fn) and fn()):
            found.append(flag)
    return tuple(found)


def resolve_precision(precision: Precision, device: torch.device) -> tuple[Precision, str]:
    """The precision to run at and a one-line note on the choice (empty when nothing needs saying).

    ``AUTO`` -> bf16 on CUDA with bf16 support and on CPUs with AMX, else fp32. An explicit choice is kept; bf16
    asked for on a CPU without AMX is kept too, but the note says it will be slow.
    """
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        what = torch.cuda.get_device_name(device)
    else:
        feats = cpu_bf16_features()
        ok = "amx_bf16" in feats
        if ok:
            what = f"this CPU ({', '.join(feats)})"
        elif feats:
            what = "this CPU (AVX-512 BF16 without AMX, where bf16 runs slower than fp32)"
        else:
            what = "this CPU (no AVX-512 BF16 or AMX)"
    if precision is Precision.AUTO:
        if ok:
            return Precision.BF16, f"precision: bf16 autocast on {what}"
        return Precision.FP32, f"precision: fp32, {what} has no fast bf16"
    if precision is Precision.BF16 and not ok:
        return precision, f"precision: bf16 asked for, but {what} has no fast bf16: expect it to be slower than fp32"
    return precision, ""


def profile_steps(trainer: Trainer, steps: int = 10, warmup: int = 2) -> dict[str, float]:
    """Where a training step's time goes: mean seconds per step in each phase over ``steps`` steps.

    Phases: ``data`` (next micro-batches from the loader, to the device), ``forward`` (model + losses under the
    run's autocast), ``backward``, ``optimizer`` (clip, step, EMA) and ``total``; plus ``samples_per_s``.
    The steps are real training steps (the weights change; nothing is saved). ``warmup`` steps run first
    (allocator, oneDNN primitive caches, ``torch.compile``) and are not counted. The GAN discriminator's step, when
    there is one, is not part of the profile.
    """
    import time

    from fs_train._cgan import batch_samples

    def sync() -> None:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)

    for _ in range(warmup):
        trainer.train_step()
    sums = dict.fromkeys(("data", "forward", "backward", "optimizer", "total"), 0.0)
    n = 0
    for _ in range(steps):
        sync()
        t0 = time.perf_counter()
        batches = [trainer.next_micro_batch() for _ in range(trainer.config.accum_steps)]
        sync()
        t1 = time.perf_counter()
        fwd = bwd = 0.0
        for b in batches:
            ta = time.perf_counter()
            with trainer.autocast():
                total, _, _ = trainer.micro_batch_losses(b)
            sync()
            tb = time.perf_counter()
            trainer.scaler.scale(total / len(batches)).backward()  # type: ignore[no-untyped-call]
            sync()
            fwd += tb - ta
            bwd += time.perf_counter() - tb
            n += batch_samples(b)
        t2 = time.perf_counter()
        trainer.apply_gradients(float(total.detach()))
        sync()
        t3 = time.perf_counter()
        for k, v in (("data", t1 - t0), ("forward", fwd), ("backward", bwd), ("optimizer", t3 - t2)):
            sums[k] += v
        sums["total"] += t3 - t0
    out_ = {k: v / steps for k, v in sums.items()}
    out_["samples_per_s"] = n / max(sums["total"], 1e-9)
    return out_
