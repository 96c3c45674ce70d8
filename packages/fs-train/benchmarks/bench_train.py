"""Loader throughput (random-warped 128 px faces/s) and the loop's overhead over a bare training step."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
import torch

from fs_train import AugmentConfig, LossConfig, OptimConfig, TrainConfig, Trainer, reconstruction_losses
from fs_train._loader import BatchLoader


@pytest.mark.parametrize(("workers", "interpolation"), [(0, "cubic"), (2, "cubic"), (2, "linear")])
def test_loader_throughput_128(benchmark, facesets128: tuple[Path, Path], workers: int, interpolation: str) -> None:  # type: ignore[no-untyped-def]
    batch = 32
    spec = {"src": str(facesets128[0]), "dst": str(facesets128[1]), "loss": LossConfig().to_dict(),
            "augment": AugmentConfig(interpolation=interpolation).to_dict(), "resolution": 128,
            "batch_size": batch, "seed": 0,
            "rank": 0, "world": 1, "need_masks": True, "need_em": False}  # fmt: skip
    with BatchLoader(spec, workers=workers, prefetch=4) as loader:
        for _ in range(2 * max(1, workers)):
            loader.get()  # workers started, queues full
        rounds = 8
        benchmark.pedantic(lambda: [loader.get() for _ in range(4)], rounds=rounds, iterations=1)
    faces_per_call = 4 * batch * 2  # src and dst, each random-warped input + target + mask
    rate = faces_per_call / benchmark.stats.stats.mean
    benchmark.extra_info["faces_per_s"] = round(rate)
    print(
        f"\nloader workers={workers} {interpolation}: {rate:.0f} random-warped 128px faces/s "
        "(src+dst, with targets and masks)"
    )


def test_loop_overhead_vs_bare_step(benchmark, facesets128: tuple[Path, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    cfg = TrainConfig(src=facesets128[0], dst=facesets128[1], out_dir=tmp_path / "run", model="df",
                      model_config={"resolution": 64, "ae_dims": 64, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4},
                      batch_size=8, steps=10_000, optim=OptimConfig(lr=5e-5), save_every=0, preview_every=0,
                      log_every=0)  # fmt: skip
    trainer = Trainer(cfg)
    batch = trainer.next_micro_batch()
    model, loss_cfg = trainer.model, cfg.effective_loss
    bare_opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5, eps=1e-7)

    def bare() -> None:
        out = model(batch.warped_src, batch.warped_dst)
        total, _, _ = reconstruction_losses(out, batch, loss_cfg)
        total.backward()
        bare_opt.step()
        bare_opt.zero_grad(set_to_none=True)

    def looped() -> None:
        trainer.train_step([batch])

    for _ in range(3):
        bare()
        looped()
    bare_t, loop_t = [], []
    for _ in range(25):  # interleaved, so machine load hits both sides alike; medians resist load spikes
        t = time.perf_counter()
        bare()
        bare_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        looped()
        loop_t.append(time.perf_counter() - t)
    benchmark.pedantic(looped, rounds=5, iterations=1)
    tb, tl = statistics.median(bare_t), statistics.median(loop_t)
    ratio = tl / tb
    benchmark.extra_info["bare_step_s"] = tb
    benchmark.extra_info["loop_step_s"] = tl
    benchmark.extra_info["overhead_percent"] = round(100 * (ratio - 1), 2)
    print(
        f"\nmedian bare step {1000 * tb:.1f} ms, Trainer.train_step {1000 * tl:.1f} ms: "
        f"overhead {100 * (ratio - 1):+.1f}%"
    )
    trainer.close()
