"""SFace runtime choice: OpenCV DNN (what fs-detect uses) vs onnxruntime on the same int8 model, same faces.

onnxruntime is not a dependency of fs-detect; this comparison is skipped when it is missing. The shipped model
declares its quantised weights as graph inputs, so onnxruntime needs them fed (with zeros: the graph never
reads them) and only takes batch 1. Both sides embed the same 16 faces per call.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import fs_detect
from fs_align.testing import asset_or_skip

N = 16


@pytest.fixture(scope="module")
def faces() -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (N, 112, 112, 3), dtype=np.uint8)


def test_sface_opencv_dnn(benchmark: pytest.FixtureRequest, faces: npt.NDArray[np.uint8]) -> None:
    cv2.setNumThreads(2)
    emb = fs_detect.load_embedder("sface", download=False)
    out = benchmark(emb.embed, faces)
    assert out.shape == (N, 128)


def test_sface_onnxruntime(benchmark: pytest.FixtureRequest, faces: npt.NDArray[np.uint8]) -> None:
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(asset_or_skip("sface")), opts, providers=["CPUExecutionProvider"])
    dummy = {i.name: np.zeros(i.shape, np.float32) for i in sess.get_inputs() if i.name != "data"}
    blob = cv2.dnn.blobFromImages(list(faces), 1.0, (112, 112), (0, 0, 0), True)

    def run() -> npt.NDArray[np.float32]:
        rows = [sess.run(None, {"data": blob[i : i + 1], **dummy})[0] for i in range(N)]
        out = np.concatenate(rows)
        return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float32)

    out = benchmark(run)
    ref = fs_detect.load_embedder("sface", download=False).embed(faces)
    assert np.abs(out - ref).max() < 1e-4
