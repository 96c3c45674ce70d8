"""DDP under torchrun: two CPU processes with gloo end with identical weights, having seen different faces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors import safe_open

from fs_train import load_checkpoint


def test_two_gloo_ranks_end_identical(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(worker),
           str(facesets[0]), str(facesets[1]), str(tmp_path)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = []
    for r in range(2):
        with safe_open(str(tmp_path / f"rank{r}.safetensors"), framework="pt") as f:
            assert f.metadata()["step"] == "6" and f.metadata()["world"] == "2"
            ranks.append({k: f.get_tensor(k) for k in f.keys()})  # noqa: SIM118
    a, b = ranks
    assert not torch.equal(a.pop("first_faces"), b.pop("first_faces"))  # per-rank sampling
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # rank 0 alone wrote the checkpoint, the previews and the metrics
    run = tmp_path / "run"
    state = load_checkpoint(run / "checkpoint.safetensors")
    assert state.meta["step"] == 6 and state.meta["world"] == 2
    assert {"rng.torch.rank0", "rng.torch.rank1"} <= set(state.tensors)
    for k, v in a.items():
        assert torch.equal(state.tensors[f"model.{k}"], v), k
    assert (run / "previews" / "preview_0000006.png").is_file()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert sum('"loss/loss"' in line for line in lines) == 6
