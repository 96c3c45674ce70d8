"""Training speed, side by side in one process: v0.1's defaults (fp32, NCHW, swap pass) against each lever.

Every variant trains the same DF on the same real faces; rounds alternate between variants so that a noisy,
shared machine slows them alike. Reported: median samples/s per variant and its ratio to v0.1's defaults, plus
where the default's step time goes (``fs_train.speed.profile_steps``). ``FS_BENCH_ROUNDS`` sets the rounds,
``FS_BENCH_MODEL`` a JSON model config (default: the demo's DF-64, dims 32), ``FS_BENCH_ARCH`` the model
(``df`` or ``liae``), ``FS_BENCH_BATCH`` the batch, ``FS_BENCH_COMPILE=1`` adds a ``torch.compile`` variant.
On a GPU (``device="auto"``): ``FS_BENCH_ARCH=liae FS_BENCH_MODEL='{"resolution": 128}' FS_BENCH_COMPILE=1``
gives DFL's LIAE-128 numbers (DFL's anchor: ~43 samples/s at batch 6 on an RTX 3060 Ti).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import torch

from fs_train import TrainConfig, Trainer
from fs_train.speed import profile_steps

MODEL = json.loads(os.environ.get("FS_BENCH_MODEL", "{}")) or {
    "resolution": 64, "ae_dims": 64, "e_dims": 32, "d_dims": 32, "d_mask_dims": 16,
}  # fmt: skip
ARCH = os.environ.get("FS_BENCH_ARCH", "df")
BATCH = int(os.environ.get("FS_BENCH_BATCH", "8"))
VARIANTS = {
    "v0.1 defaults (fp32, NCHW, swap pass)": {"precision": "fp32", "channels_last": False, "swap": True},
    "bf16": {"precision": "bf16", "channels_last": False, "swap": True},
    "bf16 + channels_last": {"precision": "bf16", "channels_last": True, "swap": True},
    "bf16 + channels_last, no swap pass (new default)": {"precision": "auto", "channels_last": True, "swap": False},
}
if os.environ.get("FS_BENCH_COMPILE"):
    VARIANTS["new default + torch.compile"] = {
        "precision": "auto", "channels_last": True, "swap": False, "compile": True,
    }  # fmt: skip


def _trainer(faces: tuple[Path, Path], out: Path, v: dict[str, object]) -> Trainer:
    cfg = TrainConfig(src=faces[0], dst=faces[1], out_dir=out, model=ARCH, model_config=MODEL, batch_size=BATCH,
                      steps=10**6, precision=v["precision"], channels_last=v["channels_last"],
                      compile=bool(v.get("compile", False)), device="auto", save_every=0, preview_every=0,
                      log_every=0, optim={"lr": 2e-4})  # fmt: skip
    t = Trainer(cfg)
    if v["swap"]:
        t._swap_kw = {}  # v0.1 also decoded dst with the src decoder in every training step
    return t


def test_training_speed_side_by_side(benchmark, facesets128: tuple[Path, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rounds = int(os.environ.get("FS_BENCH_ROUNDS", "6"))
    trainers = {name: _trainer(facesets128, tmp_path / str(i), v) for i, (name, v) in enumerate(VARIANTS.items())}
    for t in trainers.values():
        for _ in range(3):
            t.train_step()  # warm-up: allocator, oneDNN primitives, compile
    rates: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(rounds):
        for name, t in trainers.items():
            t0 = time.perf_counter()
            for _ in range(3):
                t.train_step()
            rates[name].append(3 * BATCH / (time.perf_counter() - t0))
    base = statistics.median(rates[next(iter(rates))])
    device = next(iter(trainers.values())).device
    print(f"\n{ARCH} {MODEL}, batch {BATCH}, device {device}, {torch.get_num_threads()} threads")
    for name, r in rates.items():
        med = statistics.median(r)
        print(f"  {name:52s} {med:7.1f} samples/s  {med / base:5.2f}x")
    default = trainers[list(trainers)[3]]
    benchmark.pedantic(default.train_step, rounds=3, iterations=1)  # the new default's step, for the JSON
    benchmark.extra_info["samples_per_s"] = {name: statistics.median(r) for name, r in rates.items()}
    prof = profile_steps(default, steps=5)
    print("  where a new-default step goes (s): " + ", ".join(f"{k} {v:.3f}" for k, v in prof.items()))
    for t in trainers.values():
        t.close()
    assert all(statistics.median(r) > 0 for r in rates.values())
