"""Shared fixtures: tiny configs of every registered model, and two small real face sets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import fs_models

# Tiny dims for each registered model: 32 px, a few channels, so a forward + backward takes milliseconds.
_SAEHD_TINY = {"resolution": 32, "ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}
_CLASSIC_TINY = {"resolution": 32, "e_dims": 8, "ae_dims": 32, "inter_dims": 16, "inter_up_dims": 16, "d_dims": 8}
TINY: dict[str, dict[str, Any]] = {
    "df": _SAEHD_TINY,
    "liae": _SAEHD_TINY,
    "quick96": _SAEHD_TINY,
    "original": _CLASSIC_TINY,
    "h64": {**_CLASSIC_TINY, "d_mask_dims": 4},
    "h128": {**_CLASSIC_TINY, "d_mask_dims": 4},
    "cgan": {"resolution": 32, "e_dims": 8, "ae_dims": 32, "d_dims": 8, "id_dims": 8},
    "cgan_discriminator": {"resolution": 32, "base_ch": 8, "mlp_dims": 32},
    "patchgan": {"resolution": 32, "base_ch": 4, "patch_size": 8},
    "code_discriminator": {"in_ch": 16, "code_res": 8, "base_ch": 4},
    "phaze": {"resolution": 32, "enc_dims": 8, "fc_dims": 16, "dec_dims": 16, "dec_min_dims": 8, "bottleneck_size": 32},
}


@pytest.fixture(autouse=True)
def _single_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def tiny() -> Callable[..., fs_models.FsModel]:
    """``tiny(name, **overrides)``: the registered model at tiny dims, seeded weights."""

    def make(name: str, **overrides: Any) -> fs_models.FsModel:
        return fs_models.create_model(name, **{**TINY[name], "seed": 0, **overrides})

    return make


def _video_crops(path: str, center: tuple[int, int], side: int, count: int, size: int) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    crops = []
    for idx in np.linspace(0, min(total, 600) - 1, count).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(idx))
        ok, frame = cap.read()
        if not ok:
            continue
        x0, y0 = center[0] - side // 2, center[1] - side // 2
        crop = frame[y0 : y0 + side, x0 : x0 + side]
        crops.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    cap.release()
    if len(crops) < count // 2:
        pytest.fail(f"could read only {len(crops)} frames of {path}")
    return np.stack(crops)


@pytest.fixture(scope="session")
def face_sets() -> tuple[torch.Tensor, torch.Tensor]:
    """Two identities as N x 3 x 32 x 32 float BGR [0, 1]: Franck (video-franck) and cap12 (video-cap12).

    Crops are a fixed box around where the face sits in each video (checked by eye in the contact sheet
    ``test-artifacts/fs-models/face_sets.png``), sampled from the first 600 frames.
    """
    import cv2

    testing = pytest.importorskip("fs_align.testing", reason="the real face sets come through fs-align's asset cache")
    artifact_dir, asset_or_skip = testing.artifact_dir, testing.asset_or_skip
    a = _video_crops(str(asset_or_skip("video-franck")), (198, 148), 176, 24, 32)
    b = _video_crops(str(asset_or_skip("video-cap12")), (210, 172), 150, 24, 32)
    sheet = np.concatenate([np.concatenate(list(a[:12]), 1), np.concatenate(list(b[:12]), 1)], 0)
    cv2.imwrite(str(artifact_dir("fs-models") / "face_sets.png"), cv2.resize(sheet, None, fx=3, fy=3))

    def to_tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255.0).contiguous()

    return to_tensor(a), to_tensor(b)
