"""ONNX export with DeepFaceLive's .dfm interface, checked with onnxruntime against torch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import fs_models
from fs_models import FsModel, ModelError

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("df", {}), ("liae", {"options": "ud"}), ("df", {"options": "tc"}), ("quick96", {}), ("h64", {}),
     ("original", {}), ("cgan", {}), ("cgan", {"conditioning": "attention"})],
)  # fmt: skip
def test_export_matches_torch(
    name: str, overrides: dict[str, str], tiny: Callable[..., FsModel], tmp_path: Path
) -> None:
    model = tiny(name, **overrides).eval()
    assert isinstance(model, fs_models.FaceSwapModel)
    path = fs_models.export_onnx(model, tmp_path / f"{name}.dfm")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "in_face:0" and inp.shape[1:] == [32, 32, 3]  # H, W fixed: DFLive/facefusion read them
    assert [o.name for o in sess.get_outputs()] == ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]

    faces = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)  # N x H x W x 3 BGR [0, 1]
    dst_mask, face, face_mask = sess.run(None, {"in_face:0": faces})
    assert dst_mask.shape == (3, 32, 32, 1) and face.shape == (3, 32, 32, 3) and face_mask.shape == (3, 32, 32, 1)
    x = torch.from_numpy(faces).permute(0, 3, 1, 2)
    with torch.no_grad():
        ref = model.swap(x, 0, 1) if name == "cgan" else model.swap(x)
    for got, want in ((dst_mask, ref.dst_mask), (face, ref.face), (face_mask, ref.face_mask)):
        np.testing.assert_allclose(got, want.permute(0, 2, 3, 1).numpy(), atol=1e-4, rtol=0)


def test_discriminator_not_exportable(tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not swap"):
        fs_models.export_onnx(tiny("patchgan"), tmp_path / "d.onnx")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides", [{}, {"conditioning": "attention"}, {"external_embedding_dims": 16}], ids=["labels", "attn", "ext"]
)
def test_fixed_identity_cgan_exports_and_matches_torch(
    overrides: dict[str, object], tiny: Callable[..., FsModel], tmp_path: Path
) -> None:
    """A CGAN with its identities baked in (fix_identity) exports as a plain .dfm, labels or external embeddings."""
    gen = tiny("cgan", **overrides).eval()
    assert isinstance(gen, fs_models.CGANGenerator)
    if gen.config.external_embedding_dims:
        g = torch.Generator().manual_seed(1)
        target, source = torch.randn(16, generator=g), torch.randn(16, generator=g)
        with pytest.raises(ModelError, match="fix_identity"):
            fs_models.export_onnx(gen, tmp_path / "raw.dfm")
        fixed = fs_models.fix_identity(gen, target, source)
    else:
        fixed = fs_models.fix_identity(gen, 1, 0)
    path = fs_models.export_onnx(fixed, tmp_path / "fixed.dfm")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["in_face:0"]
    faces = np.random.default_rng(2).random((3, 32, 32, 3), dtype=np.float32)
    got = sess.run(None, {"in_face:0": faces})
    x = torch.from_numpy(faces).permute(0, 3, 1, 2)
    with torch.no_grad():
        ref = fixed.swap(x)
        labelled = None if gen.config.external_embedding_dims else gen.swap(x, 1, 0)
    for arr, want in zip(got, (ref.dst_mask, ref.face, ref.face_mask)):
        np.testing.assert_allclose(arr, want.permute(0, 2, 3, 1).numpy(), atol=1e-4, rtol=0)
    if labelled is not None:  # baking the labels in renders exactly what the labelled swap renders
        torch.testing.assert_close(ref.face, labelled.face)
        torch.testing.assert_close(ref.dst_mask, labelled.dst_mask)
