"""Checkpoints: header, mismatches, refusal of non-safetensors files, partial loads, freezing."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import fs_models
from fs_models import CheckpointError, FsModel, ModelError


def test_header_holds_name_and_config(tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    model = tiny("liae", options="ud")
    path = fs_models.save_model(model, tmp_path / "m.safetensors", metadata={"step": 12})
    name, config, meta = fs_models.read_header(path)
    assert name == "liae" and config == model.config.to_dict() and meta["step"] == "12"
    assert json.loads(meta["fs_models.config"])["options"] == "ud"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left behind


def test_extra_tensors_round_trip_and_are_not_weights(tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    model = tiny("df")
    extra = {"optim.0.exp_avg": torch.arange(6.0).view(2, 3), "rng": torch.tensor([1, 2, 3])}
    path = fs_models.save_model(model, tmp_path / "m.safetensors", extra_tensors=extra)
    got = fs_models.load_extra_tensors(path)
    assert set(got) == set(extra) and all(torch.equal(got[k], v) for k, v in extra.items())
    loaded = fs_models.load_model(path)  # strict weight loading ignores the extras
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert fs_models.load_extra_tensors(fs_models.save_model(model, tmp_path / "plain.safetensors")) == {}


def test_other_resolution_names_mismatched_keys(tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    path = fs_models.save_model(tiny("df", resolution=64), tmp_path / "df64.safetensors")
    with pytest.raises(CheckpointError) as info:
        fs_models.load_weights(tiny("df"), path)
    msg = str(info.value)
    assert "shape mismatch" in msg and "inter.dense1.weight" in msg and "'resolution': 64" in msg


def test_other_model_names_missing_and_unexpected_keys(tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    path = fs_models.save_model(tiny("liae"), tmp_path / "liae.safetensors")
    with pytest.raises(CheckpointError) as info:
        fs_models.load_weights(tiny("df"), path)
    msg = str(info.value)
    assert "'liae'" in msg and "'df'" in msg
    assert "missing in checkpoint: decoder_dst." in msg and "not in model: decoder." in msg


@pytest.mark.parametrize(
    "content",
    [b"", b"not a model at all", pickle.dumps({"weights": [1, 2, 3]}), b"\x10\x00\x00\x00\x00\x00\x00\x00[1,2]"],
)
def test_non_safetensors_refused(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        fs_models.load_model(path)


def test_torch_pickle_refused(tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(tiny("df").state_dict(), path)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        fs_models.load_model(path)


def test_plain_safetensors_without_metadata_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not an fs-models checkpoint"):
        fs_models.load_model(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        fs_models.load_model(tmp_path / "nope.safetensors")


def test_partial_load_encoder_only(tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    pretrained = tiny("df", seed=3)
    path = fs_models.save_model(pretrained, tmp_path / "pre.safetensors")
    fresh = tiny("df", seed=4)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    keys = fs_models.load_weights(fresh, path, prefixes=["encoder"])
    assert keys and all(k.startswith("encoder.") for k in keys)
    after = fresh.state_dict()
    for k, v in after.items():
        ref = pretrained.state_dict()[k] if k.startswith("encoder.") else before[k]
        assert torch.equal(v, ref), k
    with pytest.raises(CheckpointError, match="no submodule"):
        fs_models.load_weights(fresh, path, prefixes=["encodr"])


def test_partial_load_across_architectures(tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    """A DF encoder pretrained elsewhere fits a LIAE of the same dims (same encoder keys)."""
    path = fs_models.save_model(tiny("df", seed=5), tmp_path / "df.safetensors")
    liae = tiny("liae")
    fs_models.load_weights(liae, path, prefixes=["encoder"])
    want = tiny("df", seed=5).state_dict()["encoder.layers.0.conv.weight"]
    assert torch.equal(liae.state_dict()["encoder.layers.0.conv.weight"], want)


def test_freeze_by_module_name(tiny: Callable[..., FsModel]) -> None:
    model = tiny("liae")
    total = model.num_parameters()
    n = fs_models.freeze(model, ["encoder", "inter_AB"])
    assert n > 0 and model.num_parameters(trainable_only=True) == total - n
    assert not any(p.requires_grad for p in model.encoder.parameters())  # type: ignore[union-attr]
    out = model(*model.example_inputs(1))
    out.src_src.mean().backward()
    assert all(p.grad is None for p in model.encoder.parameters())  # type: ignore[union-attr]
    assert fs_models.unfreeze(model, "encoder") > 0
    with pytest.raises(ModelError, match="top-level modules"):
        fs_models.freeze(model, ["decoder_src"])
