"""The identity-conditioned CGAN through the trainer: masked reconstruction + adversarial loss, previews, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import pytest
import torch
from safetensors import safe_open

import fs_models
from fs_align.testing import artifact_dir
from fs_train import ConfigError, LossConfig, Trainer
from fs_train.errors import CheckpointError

TINY_CGAN = {"resolution": 32, "e_dims": 8, "ae_dims": 32, "d_dims": 8, "id_dims": 8}


def _cgan(tiny_config: Any, **kw: Any) -> Any:
    base = {"model": "cgan", "model_config": TINY_CGAN, "loss": LossConfig(gan_power=0.1)}
    return tiny_config(**{**base, **kw})


def test_cgan_trains_on_two_real_facesets_and_resumes(tiny_config: Any, tmp_path: Path) -> None:
    cfg = _cgan(tiny_config, steps=60, preview_every=60)
    trainer = Trainer(cfg)
    assert isinstance(trainer.model, fs_models.CGANGenerator)
    assert isinstance(trainer.disc, fs_models.CGANDiscriminator)
    assert trainer.model.config.num_identities == 2 and trainer.model.config.face_type.value == "whole_face"
    result = trainer.fit()
    assert result.step == 60
    losses = [loss for _, loss in result.history]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, f"CGAN loss did not fall by 20 %: {first:.3f} -> {last:.3f}"
    rec = [json.loads(line) for line in (cfg.out_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rec if "loss/gan" in r]
    assert logged and all(r["loss/disc"] > 0 and r["loss/src"] > 0 and r["loss/dst"] > 0 for r in logged)
    # the model file carries the identity table; the checkpoint the discriminator, both optimisers and the table
    name, config, meta = fs_models.read_header(cfg.out_dir / "model.safetensors")
    assert name == "cgan" and config["num_identities"] == 2
    table = json.loads(meta["fs_train.identities"])
    assert [e["name"] for e in table] == ["src", "dst"] and table[0]["faceset"] == str(cfg.src.resolve())
    with safe_open(str(cfg.out_dir / "checkpoint.safetensors"), framework="pt") as f:
        keys = list(f.keys())
        state = json.loads(f.metadata()["fs_train.state"])
    assert any(k.startswith("disc.") for k in keys) and any(k.startswith("optim.d.") for k in keys)
    assert any(k.startswith("optim.g.") for k in keys) and state["identities"] == table
    preview = cv2.imread(str(cfg.out_dir / "previews" / "preview_latest.png"))
    assert preview is not None and preview.shape[1] >= 4 * 96  # face | own | as src | as dst
    cv2.imwrite(str(artifact_dir("fs-train") / "cgan_preview.png"), preview)
    # resume: continues from step 60 with the saved weights, discriminator and optimisers
    again = Trainer(_cgan(tiny_config, steps=64))
    assert again.resumed_from is not None and again.step == 60
    for k, v in trainer.disc.state_dict().items():
        torch.testing.assert_close(again.disc.state_dict()[k], v)  # type: ignore[union-attr]
    assert again.fit().step == 64
    # other identities refuse the checkpoint
    with pytest.raises(CheckpointError, match="identities"):
        Trainer(_cgan(tiny_config, steps=70, src=cfg.dst, dst=cfg.src))


def test_cgan_with_identity_vectors_and_more_facesets(tiny_config: Any, facesets: tuple[Path, Path]) -> None:
    """Three identities (a faceset given twice is its own label), conditioned on given vectors; worker loading."""
    g = torch.Generator().manual_seed(0)
    vecs = [torch.randn(6, generator=g).tolist() for _ in range(3)]
    cfg = _cgan(tiny_config, steps=3, facesets=(facesets[0],), identity_embeddings=vecs, workers=1)
    trainer = Trainer(cfg)
    assert trainer.model.config.external_embedding_dims == 6  # type: ignore[attr-defined]
    result = trainer.fit()
    assert result.step == 3 and torch.isfinite(torch.tensor(result.final_loss))
    extra = fs_models.load_extra_tensors(cfg.out_dir / "model.safetensors")
    torch.testing.assert_close(extra["identity_embeddings"], torch.tensor(vecs))
    names = [
        e["name"]
        for e in json.loads(fs_models.read_header(cfg.out_dir / "model.safetensors")[2]["fs_train.identities"])
    ]
    assert names == ["src", "dst", "src-2"]
    with pytest.raises(CheckpointError, match="identity vectors"):
        Trainer(_cgan(tiny_config, steps=4, facesets=(facesets[0],), identity_embeddings=[[0.0] * 6] * 3))


def test_identity_options_are_checked(tiny_config: Any, facesets: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="only a CGAN"):
        Trainer(tiny_config(facesets=(facesets[0],)))
    with pytest.raises(ConfigError, match="identity_embeddings"):
        _cgan(tiny_config, identity_embeddings=[[1.0, 2.0]])
    with pytest.raises(ConfigError, match="style"):
        Trainer(_cgan(tiny_config, loss=LossConfig(face_style_weight=1.0)))
