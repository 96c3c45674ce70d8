"""The speed options: precision auto-detection, channels_last, the skipped swap pass, the step profile."""

from __future__ import annotations

from pathlib import Path

import torch

from fs_models import load_model
from fs_train import Precision, Trainer, cpu_bf16_features, resolve_precision
from fs_train.speed import profile_steps


def test_auto_precision_follows_the_cpu() -> None:
    prec, note = resolve_precision(Precision.AUTO, torch.device("cpu"))
    feats = cpu_bf16_features()
    assert prec is (Precision.BF16 if "amx_bf16" in feats else Precision.FP32)
    assert note.startswith("precision: ")
    assert resolve_precision(Precision.FP32, torch.device("cpu")) == (Precision.FP32, "")
    if feats:
        assert all(f in ("avx512_bf16", "amx_bf16") for f in feats)
        assert "bf16" in note


def test_auto_precision_takes_bf16_only_with_amx(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import fs_train.speed as speed

    cpu = torch.device("cpu")
    for feats, want in (
        ((), Precision.FP32),
        (("avx512_bf16",), Precision.FP32),
        (("avx512_bf16", "amx_bf16"), Precision.BF16),
    ):
        monkeypatch.setattr(speed, "cpu_bf16_features", lambda f=feats: f)
        prec, note = resolve_precision(Precision.AUTO, cpu)
        assert prec is want, feats
        assert ("without AMX" in note) == (feats == ("avx512_bf16",))
        forced, warning = resolve_precision(Precision.BF16, cpu)
        assert forced is Precision.BF16
        assert ("slower than fp32" in warning) == (want is Precision.FP32)


def test_channels_last_trains_saves_and_resumes(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(steps=4, out_dir=tmp_path / "cl", channels_last=True)
    t = Trainer(cfg)
    conv = t.model.encoder.layers[0].conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    b = t.next_micro_batch()
    t.counter -= 1
    t.loader.next -= 1
    assert b.warped_src.is_contiguous(memory_format=torch.channels_last)
    t.fit()
    model = load_model(tmp_path / "cl" / "model.safetensors")  # written contiguous, loads into a plain model
    ref = {k: v.contiguous() for k, v in t.model.state_dict().items()}
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())
    again = Trainer(tiny_config(steps=6, out_dir=tmp_path / "cl", channels_last=True))
    assert again.step == 4
    assert again.fit().step == 6


def test_training_forward_skips_the_swap_unless_a_style_loss_needs_it(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plain = Trainer(tiny_config(out_dir=tmp_path / "a"))
    b = plain.next_micro_batch()
    out = plain.forward_train(b)
    assert out.src_dst is None and out.src_dst_mask is None and out.src_src is not None
    full = plain.model(b.warped_src, b.warped_dst)
    assert full.src_dst is not None  # the default forward still swaps (previews, evaluation)
    styled = Trainer(tiny_config(out_dir=tmp_path / "b", loss={"face_style_weight": 1.0}))
    assert styled.forward_train(styled.next_micro_batch()).src_dst is not None
    plain.close()
    styled.close()


def test_profile_reports_each_phase(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = Trainer(tiny_config(out_dir=tmp_path / "p"))
    prof = profile_steps(t, steps=2, warmup=1)
    assert set(prof) == {"data", "forward", "backward", "optimizer", "total", "samples_per_s"}
    assert all(v > 0 for v in prof.values())
    assert prof["total"] >= prof["forward"] + prof["backward"]
    assert t.step == 3  # real steps: the weights moved
    t.close()


def test_profile_under_fp16_loss_scaling(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = Trainer(tiny_config(out_dir=tmp_path / "p16", precision="fp16"))
    assert profile_steps(t, steps=1, warmup=1)["total"] > 0
    t.close()
