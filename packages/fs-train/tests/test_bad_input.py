"""Bad input fails in the constructor with a message naming the file/field and the problem."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_faceset import Faceset, FacesetWriter, remove
from fs_models import create_model, save_model
from fs_train import CheckpointError, ConfigError, DataError, LossConfig, OptimConfig, TrainConfig, Trainer


def _rewrite(src: Path, dst: Path, *, size: int | None = None, face_type: str | None = None, n: int = 6) -> Path:
    faces = [Faceset.open(src)[i] for i in range(n)]
    with FacesetWriter(dst) as w:
        for f in faces:
            changes: dict = {"id": None}
            if size is not None:
                k = size / f.size
                image = cv2.resize(f.image, (size, size), interpolation=cv2.INTER_AREA)
                changes |= {"image": image, "landmarks": (f.landmarks + 0.5) * k - 0.5}
                changes["image_to_face"] = f.image_to_face * k
            if face_type is not None:
                changes["face_type"] = face_type
            w.add(dataclasses.replace(f, **changes))
    return dst


def test_empty_faceset(facesets, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = _rewrite(facesets[1], tmp_path / "empty", n=3)
    remove(empty, Faceset.open(empty).ids)
    with pytest.raises(DataError, match=r"dst faceset .*empty.*holds no faces"):
        Trainer(tiny_config(dst=empty))
    with pytest.raises(DataError, match=r"src faceset .*missing.*cannot be opened"):
        Trainer(tiny_config(src=tmp_path / "missing"))


def test_different_resolutions_and_face_types(facesets, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = _rewrite(facesets[1], tmp_path / "small", size=48)
    with pytest.raises(DataError, match=r"64px faces but dst faceset .*small holds 48px"):
        Trainer(tiny_config(dst=small))
    full = _rewrite(facesets[1], tmp_path / "full", face_type="full")
    with pytest.raises(DataError, match=r"whole_face faces but dst faceset .*full holds full faces"):
        Trainer(tiny_config(dst=full))
    with pytest.raises(DataError, match=r"configured for full faces"):
        Trainer(
            tiny_config(model_config={"resolution": 32, "ae_dims": 32, "e_dims": 8, "d_dims": 8, "face_type": "full"})
        )


def test_missing_masks_for_a_stored_mask_loss(tiny_config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=r"src faceset .*40 of 40 faces have no stored mask"):
        Trainer(tiny_config(loss=LossConfig(mask_source="stored")))
    Trainer(tiny_config(loss=LossConfig(mask_source="stored", masked=False, mask_weight=0.0))).close()


def test_checkpoint_of_another_model(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Trainer(tiny_config(steps=2)).fit()
    other = {"resolution": 32, "ae_dims": 16, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}
    with pytest.raises(CheckpointError, match=r"checkpoint of model 'df' .*'ae_dims': 32.* does not fit"):
        Trainer(tiny_config(model_config=other))
    with pytest.raises(CheckpointError, match="another set of parameters"):
        Trainer(tiny_config(freeze_parts=("encoder",)))
    liae = create_model("liae", resolution=32, ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=4, face_type="whole_face")
    save_model(liae, tmp_path / "liae.safetensors")
    with pytest.raises(CheckpointError, match=r"init_weights .*liae.safetensors"):
        Trainer(tiny_config(init_weights=tmp_path / "liae.safetensors", resume=False))
    # a model file is not a training checkpoint
    (tmp_path / "x").mkdir()
    save_model(liae, tmp_path / "x" / "checkpoint.safetensors")
    with pytest.raises(CheckpointError, match="not an fs-train checkpoint"):
        Trainer(tiny_config(out_dir=tmp_path / "x"))


def test_partial_init_weights_load_the_named_parts(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    donor = create_model("df", resolution=32, ae_dims=32, e_dims=8, d_dims=8, d_mask_dims=4, face_type="whole_face")
    save_model(donor, tmp_path / "donor.safetensors")
    t = Trainer(
        tiny_config(init_weights=tmp_path / "donor.safetensors", load_parts=("encoder",), freeze_parts=("encoder",))
    )
    own, theirs = t.model.state_dict(), donor.state_dict()
    assert all(np.array_equal(own[k], theirs[k]) for k in own if k.startswith("encoder."))
    assert not all(np.array_equal(own[k], theirs[k]) for k in own if k.startswith("decoder_src."))
    t.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size: expected an int >= 1"),
        ({"precision": "fp8"}, "precision: unknown value 'fp8'"),
        ({"optim": {"lr": -1}}, "lr: expected a number > 0"),
        ({"load_parts": ("encoder",)}, "load_parts: given without init_weights"),
        ({"model": "nope"}, "unknown model 'nope'"),
        ({"freeze_parts": ("nothing_here",)}, "freeze_parts: no parameters under 'nothing_here'"),
        # original's own default loss has no mask terms; SAEHD's explicitly given asks for masks it cannot make
        (
            {"model": "original", "model_config": {"resolution": 32, "ae_dims": 16}, "loss": LossConfig()},
            "predicts no masks",
        ),
        ({"device": "tpu"}, "device: expected auto, cpu, cuda"),
    ],
)
def test_config_errors(tiny_config, kwargs, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        Trainer(tiny_config(**kwargs))


def test_loss_config_refuses_nothing_to_train() -> None:
    with pytest.raises(ConfigError, match="both 0"):
        LossConfig(dssim_weight=0, mse_weight=0)
    with pytest.raises(ConfigError, match="lr_dropout"):
        OptimConfig(lr_dropout=0)
    cfg = TrainConfig(src=Path("a"), dst=Path("b"), loss=LossConfig(gan_power=0.5), optim=OptimConfig(name="nadam"))
    assert TrainConfig.from_dict(cfg.to_dict()) == dataclasses.replace(cfg)
