"""Gradient accumulation, LR schedule, resume bit for bit, and checkpoints that survive kill -9."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from fs_train import (
    CheckpointError,
    OptimConfig,
    Trainer,
    TrainState,
    load_checkpoint,
    lr_factor,
    save_checkpoint,
)
from fs_train.checkpoint import flatten_optimizer, unflatten_optimizer


def _grads(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}


def test_accumulation_4x2_equals_1x8(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # fp32: bf16's rounding (the default on CPUs with bf16 units) is far above this test's 1e-4 tolerance
    small = Trainer(tiny_config(batch_size=2, accum_steps=4, out_dir=tmp_path / "a", precision="fp32"))
    big = Trainer(tiny_config(batch_size=8, accum_steps=1, out_dir=tmp_path / "b", precision="fp32"))
    micro = [small.next_micro_batch() for _ in range(4)]
    whole = big.next_micro_batch()
    # the sampler gives the same 8 faces with the same augmentation either way
    assert torch.equal(torch.cat([m.warped_src for m in micro]), whole.warped_src)
    assert torch.equal(torch.cat([m.mask_dst for m in micro]), whole.mask_dst)  # type: ignore[misc]
    parts_small = small.compute_gradients(micro)
    parts_big = big.compute_gradients([whole])
    assert math.isclose(parts_small["loss"], parts_big["loss"], rel_tol=1e-5)
    ga, gb = _grads(small), _grads(big)
    assert ga.keys() == gb.keys() and len(ga) > 10
    for k in ga:
        # float32 summation order differs (4 partial sums vs 1): compare to the tensor's own scale
        scale = gb[k].abs().max().item()
        assert (ga[k] - gb[k]).abs().max().item() <= 1e-4 * scale + 1e-9, k
    small.close()
    big.close()


def test_warmup_cosine_restarts_at_known_steps() -> None:
    cfg = OptimConfig(lr=1e-3, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    total = 110
    assert lr_factor(0, total, cfg) == pytest.approx(0.1)
    assert lr_factor(4, total, cfg) == pytest.approx(0.5)
    assert lr_factor(9, total, cfg) == pytest.approx(1.0)
    assert lr_factor(10, total, cfg) == pytest.approx(1.0)
    assert lr_factor(60, total, cfg) == pytest.approx(0.1 + 0.9 * 0.5)  # half way: cos(pi/2)
    assert lr_factor(110, total, cfg) == pytest.approx(0.1)
    warm = OptimConfig(warmup_steps=0, schedule="cosine", restart_period=20, restart_mult=2.0)
    assert lr_factor(0, 1000, warm) == pytest.approx(1.0)
    assert lr_factor(10, 1000, warm) == pytest.approx(0.5)
    assert lr_factor(20, 1000, warm) == pytest.approx(1.0)  # restart
    assert lr_factor(40, 1000, warm) == pytest.approx(0.5)  # second cycle lasts 40 steps
    assert lr_factor(60, 1000, warm) == pytest.approx(1.0)
    assert lr_factor(5, 100, OptimConfig()) == 1.0


def test_trainer_applies_schedule(tiny_config) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(steps=8, optim=OptimConfig(lr=1e-3, warmup_steps=4, schedule="cosine"))
    trainer = Trainer(cfg)
    lrs = []
    trainer.callbacks.append(lambda info: lrs.append(info.lr))
    trainer.fit()
    assert lrs[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert lrs[4:] == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)])


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {
            "ema_decay": 0.9,
            "optim": OptimConfig(name="adabelief", lr=5e-4, lr_dropout=0.5, clip="auto"),
            "accum_steps": 2,
            "loss": {"gan_power": 0.1},
        },
    ],
    ids=["adamw", "all-state"],
)
def test_resume_is_bit_for_bit(tiny_config, tmp_path: Path, extra) -> None:  # type: ignore[no-untyped-def]
    straight = Trainer(tiny_config(steps=20, out_dir=tmp_path / "straight", **extra))
    straight.fit()
    first = Trainer(tiny_config(steps=20, out_dir=tmp_path / "split", **extra))
    first.callbacks.append(lambda info: first.request_stop() if info.step == 10 else None)
    assert first.fit().step == 10
    second = Trainer(tiny_config(steps=20, out_dir=tmp_path / "split", **extra))
    assert second.step == 10 and second.resumed_from is not None
    assert second.fit().step == 20
    a, b = straight.model.state_dict(), second.model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert straight.history == second.history
    if straight.disc is not None and second.disc is not None:
        for k, v in straight.disc.state_dict().items():
            assert torch.equal(v, second.disc.state_dict()[k]), k


def test_optimizer_state_round_trip_through_safetensors(tmp_path: Path) -> None:
    p = torch.nn.Parameter(torch.randn(3, 4))
    opt = torch.optim.AdamW([p], lr=1e-3)
    p.grad = torch.randn(3, 4)
    opt.step()
    tensors, meta = flatten_optimizer(opt.state_dict(), "optim.g")
    save_checkpoint(tmp_path / "c.safetensors", TrainState(tensors, {"optim": meta}))
    st = load_checkpoint(tmp_path / "c.safetensors")
    opt2 = torch.optim.AdamW([torch.nn.Parameter(p.detach().clone())], lr=1e-3)
    opt2.load_state_dict(unflatten_optimizer(st.group("optim.g"), st.meta["optim"]))
    for k, v in opt.state_dict()["state"][0].items():
        assert torch.equal(v, opt2.state_dict()["state"][0][k]), k


def test_backups_rotate_and_corrupt_main_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "ck.safetensors"
    for step in range(1, 5):
        save_checkpoint(path, TrainState({"w": torch.full((2,), float(step))}, {"step": step}), keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.1.safetensors", "ck.2.safetensors", "ck.safetensors"]
    assert load_checkpoint(path).meta["step"] == 4
    assert load_checkpoint(tmp_path / "ck.2.safetensors", fallback=False).meta["step"] == 2
    path.write_bytes(path.read_bytes()[:40])  # truncated main file
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path, fallback=False)
    assert load_checkpoint(path).meta["step"] == 3


_WRITER = textwrap.dedent(
    """
    import sys, torch
    from fs_train import TrainState, save_checkpoint
    path = sys.argv[1]
    big = torch.zeros(48 * 1024 * 1024 // 4)
    save_checkpoint(path, TrainState({"w": big}, {"step": 1}), keep=1)
    print("ready", flush=True)
    step = 2
    while True:
        big.fill_(float(step))
        save_checkpoint(path, TrainState({"w": big}, {"step": step}), keep=1)
        step += 1
    """
)


def test_kill_9_during_save_leaves_previous_checkpoint_loadable(tmp_path: Path) -> None:
    path = tmp_path / "ck.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tmps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
            if tmps and tmps[0].stat().st_size > 1024 * 1024:  # a temp file is being written right now
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
        else:
            pytest.fail("never caught the writer mid-save")
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # killed mid-write: the temp file is left
    state = load_checkpoint(path)
    step = state.meta["step"]
    assert step >= 1 and torch.all(state.tensors["w"] == float(step if step > 1 else 0))
