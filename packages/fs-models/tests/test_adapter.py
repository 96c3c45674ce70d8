"""TorchFaceModel: numpy uint8 faces in, the model's swap out (the shape fs-merge's FaceModel protocol wants)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import fs_models
from fs_align import FaceType
from fs_models import FsModel, InputError, ModelError, SwappedFaces, TorchFaceModel


def _faces(face_sets: tuple[torch.Tensor, torch.Tensor], n: int) -> np.ndarray:
    """Real 32 px faces as N x 32 x 32 x 3 BGR uint8."""
    x = face_sets[1][:n]
    return (x.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def test_matches_the_torch_swap(tiny: Callable[..., FsModel], face_sets: tuple[torch.Tensor, torch.Tensor]) -> None:
    net = tiny("df", face_type="f")
    model = TorchFaceModel(net, batch_size=3)
    assert model.resolution == 32 and model.face_type is FaceType.FULL
    faces = _faces(face_sets, 7)
    out = model.swap(faces)
    assert isinstance(out, SwappedFaces)
    assert out.faces.shape == (7, 32, 32, 3) and out.faces.dtype == np.uint8
    assert out.face_mask.shape == out.dst_mask.shape == (7, 32, 32) and out.face_mask.dtype == np.float32
    with torch.inference_mode():
        want = net.eval().swap(torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255.0)
    expect = (want.face.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
    assert np.abs(out.faces.astype(int) - expect.astype(int)).max() <= 1  # batches of 3 == one batch of 7
    np.testing.assert_allclose(out.face_mask, want.face_mask[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out.dst_mask, want.dst_mask[:, 0].numpy(), atol=1e-5)
    assert len(model.swap(faces[:0]).faces) == 0


def test_cgan_identities_and_checkpoint(
    tiny: Callable[..., FsModel], face_sets: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    g = tiny("cgan")
    faces = _faces(face_sets, 2)
    a = TorchFaceModel(g, target_identity=0, source_identity=1).swap(faces).faces
    b = TorchFaceModel(g, target_identity=1, source_identity=0).swap(faces).faces
    assert not np.array_equal(a, b)
    assert TorchFaceModel(g).face_type is FaceType.WHOLE_FACE  # a config without face_type
    path = fs_models.save_model(tiny("liae"), tmp_path / "liae.safetensors")
    loaded = TorchFaceModel.load(path)
    assert loaded.resolution == 32 and "liae" in repr(loaded)


def test_bad_input(tiny: Callable[..., FsModel]) -> None:
    model = TorchFaceModel(tiny("df"))
    with pytest.raises(InputError, match="N x 32 x 32 x 3 BGR uint8"):
        model.swap(np.zeros((1, 32, 32, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="N x 32 x 32 x 3"):
        model.swap(np.zeros((1, 16, 16, 3), np.uint8))
    with pytest.raises(ModelError, match="batch_size"):
        TorchFaceModel(tiny("df"), batch_size=0)
    with pytest.raises(ModelError, match="does not swap faces"):
        TorchFaceModel(tiny("patchgan"))  # type: ignore[arg-type]
