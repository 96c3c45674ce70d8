"""Run by test_ddp.py under torchrun: tiny DF for a few steps, then each rank saves its final weights."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from fs_train import OptimConfig, TrainConfig, Trainer

TINY_DF = {"resolution": 32, "ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}


def main() -> None:
    torch.set_num_threads(1)
    src, dst, out = (Path(a) for a in sys.argv[1:4])
    cfg = TrainConfig(
        src=src, dst=dst, out_dir=out / "run", model="df", model_config=TINY_DF, batch_size=2, accum_steps=2,
        steps=6, optim=OptimConfig(lr=5e-4, lr_dropout=0.5), device="cpu", save_every=3, preview_every=3,
        log_every=1, seed=5,
    )  # fmt: skip
    trainer = Trainer(cfg)
    rank = trainer.dist.rank
    faces = trainer.next_micro_batch().target_src
    trainer.counter -= 1
    trainer.loader.next -= 1
    result = trainer.fit()
    weights = {k: v.contiguous() for k, v in trainer.model.state_dict().items()}
    weights["first_faces"] = faces.contiguous()  # batches are NHWC in memory (channels_last)
    save_file(weights, str(out / f"rank{rank}.safetensors"), metadata={"step": str(result.step),
              "world": os.environ.get("WORLD_SIZE", "1")})  # fmt: skip


if __name__ == "__main__":
    main()
