"""Detector speed on 720p frames made by upscaling a demo video frame (CPU; 2 threads as on the dev box).

Run: ``pytest packages/fs-detect/benchmarks --benchmark-only``. The MTCNN batch-32 GPU number needs a CUDA
device; on a CPU-only machine that case is skipped.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import torch

import fs_detect
from fs_align.testing import asset_or_skip


@pytest.fixture(scope="module")
def frame_720p() -> npt.NDArray[np.uint8]:
    cap = cv2.VideoCapture(str(asset_or_skip("video-franck")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return np.asarray(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_CUBIC), dtype=np.uint8)


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)
    cv2.setNumThreads(2)


def test_yunet_720p(benchmark: pytest.FixtureRequest, frame_720p: npt.NDArray[np.uint8]) -> None:
    det = fs_detect.load_detector("yunet", download=False)
    found = benchmark(det.detect, frame_720p)
    assert len(found) == 1


def test_yunet_900x720(benchmark: pytest.FixtureRequest, frame_720p: npt.NDArray[np.uint8]) -> None:
    det = fs_detect.load_detector("yunet", download=False)
    frame = np.asarray(cv2.resize(frame_720p, (900, 720), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    assert len(benchmark(det.detect, frame)) == 1


@pytest.mark.parametrize("threads", [1, 2])
def test_mtcnn_cpu_720p(benchmark: pytest.FixtureRequest, frame_720p: npt.NDArray[np.uint8], threads: int) -> None:
    """torch with 2 OpenMP threads on 2 cores shared with other work can be far slower than 1 thread."""
    torch.set_num_threads(threads)
    det = fs_detect.load_detector("mtcnn", device="cpu", download=False)
    found = benchmark.pedantic(det.detect, args=(frame_720p,), rounds=5, warmup_rounds=1)
    assert len(found) == 1


def test_mtcnn_cpu_720p_batch4(benchmark: pytest.FixtureRequest, frame_720p: npt.NDArray[np.uint8]) -> None:
    """Per call: 4 frames; divide by 4 for ms per frame."""
    det = fs_detect.load_detector("mtcnn", device="cpu", download=False)
    frames = [frame_720p, frame_720p[:, ::-1].copy(), frame_720p, frame_720p[:, ::-1].copy()]
    found = benchmark.pedantic(det.detect_batch, args=(frames,), rounds=3, warmup_rounds=1)
    assert [len(f) for f in found] == [1, 1, 1, 1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_mtcnn_cuda_720p_batch32(benchmark: pytest.FixtureRequest, frame_720p: npt.NDArray[np.uint8]) -> None:
    """Per call: 32 frames; frames/s = 32 / mean."""
    det = fs_detect.load_detector("mtcnn", device="cuda", download=False)
    frames = [frame_720p] * 32

    def run() -> list[list[fs_detect.Detection]]:
        out = det.detect_batch(frames)
        torch.cuda.synchronize()
        return out

    found = benchmark.pedantic(run, rounds=5, warmup_rounds=2)
    assert all(len(f) == 1 for f in found)
