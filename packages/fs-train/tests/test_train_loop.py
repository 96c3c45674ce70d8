"""The loop end to end: tiny DF on real faces learns, writes previews/metrics/plot, stops and saves."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from fs_align.testing import artifact_dir
from fs_train import OptimConfig, StopReason, Trainer, __version__


def test_version() -> None:
    import importlib.metadata

    assert __version__ == importlib.metadata.version("fs-train")


def test_tiny_df_learns_and_writes_previews(tiny_config) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(steps=300, preview_every=150, save_every=150, log_every=25, optim=OptimConfig(lr=5e-4))
    seen = []
    trainer = Trainer(cfg, callbacks=[lambda info: seen.append(info.step)])
    result = trainer.fit()
    assert result.step == 300 and result.stopped_by is StopReason.TARGET
    assert seen == list(range(1, 301))
    losses = np.array([loss for _, loss in result.history])
    first, last = losses[:30].mean(), losses[-30:].mean()
    assert last < 0.6 * first, (first, last)
    # the trend, not only the ends: each third of the run is lower on average than the one before
    thirds = [t.mean() for t in np.array_split(losses, 3)]
    assert thirds[0] > thirds[1] > thirds[2], thirds
    out = cfg.out_dir
    for name in ("checkpoint.safetensors", "model.safetensors", "loss.png", "config.json"):
        assert (out / name).is_file(), name
    assert (out / "previews" / "preview_0000150.png").is_file()
    assert (out / "previews" / "preview_0000300.png").is_file()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss/loss" in r]
    assert steps == list(range(25, 301, 25))
    assert {"lr", "grad_norm", "samples_per_s", "loss/src", "loss/dst", "loss/src_mask"} <= set(records[1])
    art = artifact_dir("fs-train")
    shutil.copy(out / "previews" / "preview_0000300.png", art / "tiny_df_preview_300.png")
    shutil.copy(out / "loss.png", art / "tiny_df_loss.png")


def test_time_budget_and_request_stop_save_first(tiny_config) -> None:  # type: ignore[no-untyped-def]
    result = Trainer(tiny_config(steps=10_000, time_budget_s=0.5)).fit()
    assert result.stopped_by is StopReason.TIME and 0 < result.step < 10_000
    assert result.checkpoint is not None and result.checkpoint.is_file()
    trainer = Trainer(tiny_config(steps=10_000, resume=False, out_dir=result.checkpoint.parent.parent / "b"))
    trainer.callbacks.append(lambda info: trainer.request_stop() if info.step == 3 else None)
    res = trainer.fit()
    assert res.stopped_by is StopReason.REQUEST and res.step == 3


def test_sigterm_saves_then_stops(tiny_config) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal

    from fs_train import load_checkpoint

    trainer = Trainer(tiny_config(steps=10_000))
    trainer.callbacks.append(lambda info: os.kill(os.getpid(), signal.SIGTERM) if info.step == 4 else None)
    res = trainer.fit()
    assert res.stopped_by is StopReason.SIGNAL and res.step == 4
    assert load_checkpoint(res.checkpoint).meta["step"] == 4
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize(
    "extra",
    [
        {"precision": "bf16"},
        {"precision": "fp16"},
        {"ema_decay": 0.9, "optim": OptimConfig(name="adabelief", lr=5e-4, lr_dropout=0.3, clip="auto")},
        {"optim": OptimConfig(name="nadam", lr=5e-4, clip="norm", clip_norm=0.5, warmup_steps=3, schedule="cosine")},
        {"loss": {"gan_power": 0.1, "eyes_mouth_weight": 300.0, "face_style_weight": 1.0, "bg_style_weight": 1.0}},
        {"pretrain": True, "freeze_parts": ("encoder",), "accum_steps": 2},
    ],
    ids=["bf16", "fp16", "adabelief-lrdropout-autoclip-ema", "nadam-clip-cosine", "gan-styles-eyes", "pretrain-freeze"],
)
def test_options_train_without_nan(tiny_config, extra) -> None:  # type: ignore[no-untyped-def]
    trainer = Trainer(tiny_config(steps=6, **extra))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    res = trainer.fit()
    assert res.step == 6 and np.isfinite(res.final_loss)
    after = trainer.model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed
    if "freeze_parts" in extra:
        assert not any(k.startswith("encoder.") for k in changed)
