"""The configurable Phaze-A-style model: shapes, validation, save/load, a few training steps, ONNX export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import fs_models
from fs_models import ConfigError, Phaze, PhazeConfig

TINY = {"resolution": 32, "enc_dims": 8, "fc_dims": 16, "dec_dims": 32, "dec_min_dims": 8, "bottleneck_size": 32,
        "gblock_dims": 16, "seed": 0}  # fmt: skip
CONFIGS: dict[str, dict[str, Any]] = {
    "df_like": {},
    "iae_gblock": {"inter": "liae", "split_decoders": False, "gblock": True},
    "split_pool_resize": {"inter": "split", "bottleneck": "avg_pool", "bottleneck_norm": "rms", "upscaler": "resize",
                          "gblock": True, "split_gblock": True, "dec_res_blocks": 2},
    "deep_max_layer": {"enc_depth": 5, "fc_upsamples": 2, "bottleneck": "max_pool", "bottleneck_norm": "layer",
                       "split_decoders": True, "inter": "split", "learn_mask": False},
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_shapes_and_swap(kind: str) -> None:
    model = fs_models.create_model("phaze", **TINY, **CONFIGS[kind])
    assert isinstance(model, Phaze) and model.name == "phaze"
    a, b = model.example_inputs(3, torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(a, b)
    for t in (out.src_src, out.dst_dst, out.src_dst):
        assert t is not None and t.shape == (3, 3, 32, 32) and float(t.min()) >= 0 and float(t.max()) <= 1
    assert (out.src_src_mask is None) == (not model.config.learn_mask)
    assert (out.src_code is not None) == (model.config.inter == "shared")
    with torch.no_grad():
        swapped = model.swap(b)
    assert torch.allclose(swapped.face, out.src_dst, atol=1e-5)  # type: ignore[arg-type]
    assert swapped.face_mask.shape == swapped.dst_mask.shape == (3, 1, 32, 32)


def test_bad_configs_name_the_field() -> None:
    with pytest.raises(ConfigError, match="split_decoders"):
        PhazeConfig(inter="shared", split_decoders=False)
    with pytest.raises(ConfigError, match="split_decoders"):
        PhazeConfig(inter="liae")
    with pytest.raises(ConfigError, match="bottleneck_norm"):
        PhazeConfig(bottleneck_norm="batch")
    with pytest.raises(ConfigError, match="resolution"):
        PhazeConfig(resolution=40)
    with pytest.raises(ConfigError, match="split_gblock"):
        PhazeConfig(split_gblock=True)


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = fs_models.create_model("phaze", **TINY, **CONFIGS["iae_gblock"])
    path = fs_models.save_model(model, tmp_path / "phaze.safetensors")
    loaded = fs_models.load_model(path)
    assert isinstance(loaded, Phaze) and loaded.config == model.config
    x = model.example_inputs(2, torch.Generator().manual_seed(1))[0]
    with torch.no_grad():
        assert torch.equal(model.eval().swap(x).face, loaded.eval().swap(x).face)


@pytest.mark.parametrize("kind", ["df_like", "iae_gblock"])
def test_a_few_training_steps_lower_the_loss(kind: str) -> None:
    torch.manual_seed(0)
    model = fs_models.create_model("phaze", **TINY, **CONFIGS[kind])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(2)
    src = torch.rand(4, 3, 32, 32, generator=g)
    dst = torch.rand(4, 3, 32, 32, generator=g) * 0.5
    losses = []
    for _ in range(12):
        out = model(src, dst, swap=False)
        loss = (out.src_src - src).square().mean() + (out.dst_dst - dst).square().mean()
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("kind", ["df_like", "iae_gblock"])
def test_onnx_export_matches_torch(tmp_path: Path, kind: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = fs_models.create_model("phaze", **TINY, **CONFIGS[kind]).eval()
    path = fs_models.export_onnx(model, tmp_path / f"{kind}.dfm")
    faces = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {fs_models.DFM_INPUT: faces})
    with torch.no_grad():
        out = model.swap(torch.from_numpy(faces).permute(0, 3, 1, 2))
    for g_, want in zip(got, (out.dst_mask, out.face, out.face_mask)):
        assert np.abs(g_ - want.permute(0, 2, 3, 1).numpy()).max() < 1e-4
