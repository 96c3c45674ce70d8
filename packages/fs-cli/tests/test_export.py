"""``fs export MODEL_DIR -o model.dfm``: every swapping model, checked with onnxruntime against torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import fs_models

TINY: dict[str, dict[str, Any]] = {
    "df": {"resolution": 32, "ae_dims": 16, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4},
    "liae": {"resolution": 32, "ae_dims": 16, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4},
    "quick96": {"resolution": 32, "ae_dims": 16, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4},
    "original": {"resolution": 32, "e_dims": 8, "ae_dims": 16, "inter_dims": 8, "inter_up_dims": 8, "d_dims": 8},
    "h64": {"resolution": 32, "e_dims": 8, "ae_dims": 16, "inter_dims": 8, "inter_up_dims": 8, "d_dims": 8,
            "d_mask_dims": 4},
    "h128": {"resolution": 32, "e_dims": 8, "ae_dims": 16, "inter_dims": 8, "inter_up_dims": 8, "d_dims": 8,
             "d_mask_dims": 4},
    "phaze": {"resolution": 32, "enc_dims": 8, "fc_dims": 16, "dec_dims": 32, "dec_min_dims": 8,
              "bottleneck_size": 32, "gblock_dims": 16, "inter": "liae", "split_decoders": False, "gblock": True},
}  # fmt: skip


def _train_dir(tmp_path: Path, name: str, **config: Any) -> Path:
    """A folder like ``fs train`` leaves (``model.safetensors``) holding a random-weight tiny ``name``."""
    folder = tmp_path / name
    folder.mkdir()
    model = fs_models.create_model(name, seed=1, **config)
    with torch.no_grad():  # move the weights off their init so the check sees a real network
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    fs_models.save_model(model, folder / "model.safetensors")
    return folder


@pytest.mark.parametrize("name", sorted(TINY))
def test_export_every_swapping_model_matches_torch(fs: Any, tmp_path: Path, name: str) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from fs_merge import OnnxFaceModel

    folder = _train_dir(tmp_path, name, face_type="half" if name.startswith("h") else "whole_face", **TINY[name])
    out = tmp_path / f"{name}.dfm"
    result = fs("-q", "export", folder, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == name and data["resolution"] == 32 and data["max_abs_diff"] < 1e-4
    onnx_model = OnnxFaceModel(out)  # the face type comes from the file's metadata
    assert onnx_model.resolution == 32
    assert onnx_model.face_type.value == ("half" if name.startswith("h") else "whole_face")
    torch_model = fs_models.TorchFaceModel.load(folder / "model.safetensors")
    faces = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    a, b = torch_model.swap(faces), onnx_model.swap(faces)
    assert np.abs(a.faces.astype(int) - b.faces.astype(int)).max() <= 1
    assert np.abs(a.face_mask - b.face_mask).max() < 1e-3 and np.abs(a.dst_mask - b.dst_mask).max() < 1e-3


def test_exported_dfm_drives_fs_merge(fs: Any, clip: Path, clip_faces: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    folder = _train_dir(tmp_path, "df", face_type="whole_face", **{**TINY["df"], "resolution": 64})
    dfm = tmp_path / "df.dfm"
    assert fs("-q", "export", folder, "-o", dfm).exit_code == 0
    out = tmp_path / "swap.mp4"
    merge = ["--mode", "overlay", "--color", "none", "--blur", "0", "--preset", "ultrafast"]
    result = fs("-q", "merge", clip, "--model", dfm, "--faceset", clip_faces, "-o", out, *merge, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["frames"] == 24 and data["frames_with_faces"] == 24 and data["frames_failed"] == 0


def test_export_refuses_what_is_not_a_swap_model(fs: Any, tmp_path: Path) -> None:
    folder = tmp_path / "disc"
    folder.mkdir()
    fs_models.save_model(fs_models.create_model("patchgan", resolution=32, patch_size=4), folder / "model.safetensors")
    result = fs("-q", "export", folder, "-o", tmp_path / "x.dfm")
    assert result.exit_code != 0 and "does not swap faces" in result.output
    assert not (tmp_path / "x.dfm").exists()
    bad = fs("-q", "export", folder, "-o", tmp_path / "x.png")
    assert bad.exit_code != 0 and "*.dfm" in bad.output
