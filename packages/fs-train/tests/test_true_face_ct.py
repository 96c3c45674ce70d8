"""Per-model default losses, DFL's true-face power (code discriminator) and ct_mode (colour transfer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fs_train import AugmentConfig, ConfigError, LossConfig, PairSampler, TrainConfig, Trainer, model_loss, open_pair


def test_each_model_gets_its_own_default_loss() -> None:
    assert TrainConfig(model="original").loss == model_loss("original")
    orig = TrainConfig(model="original").loss
    assert (orig.dssim_weight, orig.mse_weight, orig.masked, orig.mask_weight) == (0.0, 1.0, False, 0.0)
    h64 = TrainConfig(model="h64", loss={"eyes_mouth_weight": 300.0}).loss  # a mapping overrides the default
    assert (h64.mse_weight, h64.mask_loss, h64.eyes_mouth_weight) == (0.0, "l1", 300.0)
    assert TrainConfig(model="df").loss == LossConfig()
    assert TrainConfig(model="original", loss=LossConfig()).loss == LossConfig()  # an explicit config is kept
    again = TrainConfig.from_dict(TrainConfig(model="h128").to_dict())
    assert again.loss == model_loss("h128")
    with pytest.raises(ConfigError, match="true_face_power"):
        LossConfig(true_face_power=2.0)
    with pytest.raises(ConfigError, match="ct_mode"):
        AugmentConfig(ct_mode="nope")


def test_true_face_power_trains_a_code_discriminator_and_resumes(tiny_config) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(steps=6, loss={"true_face_power": 0.1, "true_face_dims": 8}, log_every=1)
    trainer = Trainer(cfg)
    assert trainer.code_disc is not None and trainer.code_disc.config.in_ch == 32
    before = [p.detach().clone() for p in trainer.code_disc.parameters()]
    result = trainer.fit()
    assert result.step == 6
    moved = [not np.allclose(a.numpy(), b.detach().numpy()) for a, b in zip(before, trainer.code_disc.parameters())]
    assert all(moved)  # the discriminator trained
    lines = (cfg.out_dir / "metrics.jsonl").read_text()
    assert '"loss/true_face"' in lines and '"loss/code_disc"' in lines
    resumed = Trainer(tiny_config(steps=8, loss={"true_face_power": 0.1, "true_face_dims": 8}))
    assert resumed.step == 6
    for a, b in zip(trainer.code_disc.parameters(), resumed.code_disc.parameters()):  # type: ignore[union-attr]
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert resumed.fit().step == 8


def test_true_face_power_needs_a_shared_code(tiny_config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="bottleneck code"):
        Trainer(tiny_config(model="liae", loss={"true_face_power": 0.1}))


def _mean_bgr(arrays: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(arrays["src_target"].reshape(-1, 3).mean(0), dtype=np.float64)


@pytest.mark.parametrize("mode", ["rct", "lct", "mkl", "idt", "sot"])
def test_ct_mode_moves_src_colours_toward_dst(facesets: tuple[Path, Path], mode: str) -> None:
    sources = open_pair(facesets[0], facesets[1], LossConfig(masked=False, mask_weight=0.0))
    plain = AugmentConfig(random_warp=False, flip_src=False, flip_dst=False)
    kw = {"need_masks": False}
    base = PairSampler(sources, plain, 32, 8, seed=1, **kw).make(0)  # type: ignore[arg-type]
    ct = PairSampler(sources, AugmentConfig(random_warp=False, flip_src=False, flip_dst=False, ct_mode=mode), 32, 8,
                     seed=1, **kw).make(0)  # type: ignore[arg-type]  # fmt: skip
    dst_mean = np.asarray([f.reshape(-1, 3).mean(0) for f in sources[1].faceset.images(range(len(sources[1])))])
    dst_mean = dst_mean.mean(0)
    assert np.array_equal(base["dst_target"], ct["dst_target"])  # only src samples are recoloured
    far, near = np.abs(_mean_bgr(base) - dst_mean).sum(), np.abs(_mean_bgr(ct) - dst_mean).sum()
    assert near < 0.6 * far, (mode, far, near)
