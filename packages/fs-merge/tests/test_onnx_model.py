"""OnnxFaceModel on a small hand-built ONNX graph with the DFM tensor names, and its errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from fs_align import FaceType
from fs_merge import DFM_INPUT, DFM_MORPH, DFM_OUTPUTS, FaceModel, MergeError, OnnxFaceModel


def _dfm(path: Path, size: int = 32, names: tuple[str, ...] = DFM_OUTPUTS, morph: bool = False) -> Path:
    """A DFM-shaped graph: swapped face = 1 - input (times ``morph_value:0`` for an AMP-style model), both masks
    = the input's blue channel."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info(DFM_INPUT, TensorProto.FLOAT, ["N", size, size, 3])
    outs = [
        helper.make_tensor_value_info(names[0], TensorProto.FLOAT, ["N", size, size, 1]),
        helper.make_tensor_value_info(names[1], TensorProto.FLOAT, ["N", size, size, 3]),
        helper.make_tensor_value_info(names[2], TensorProto.FLOAT, ["N", size, size, 1]),
    ]
    consts = [
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
        helper.make_tensor("ends", TensorProto.INT64, [1], [1]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [3]),
    ]
    inputs = [x]
    nodes = [helper.make_node("Sub", ["one", DFM_INPUT], ["inverted" if morph else names[1]])]
    if morph:
        inputs.append(helper.make_tensor_value_info(DFM_MORPH, TensorProto.FLOAT, [1]))
        nodes.append(helper.make_node("Mul", ["inverted", DFM_MORPH], [names[1]]))
    nodes += [
        helper.make_node("Slice", [DFM_INPUT, "starts", "ends", "axes"], ["blue"]),
        helper.make_node("Identity", ["blue"], [names[0]]),
        helper.make_node("Identity", ["blue"], [names[2]]),
    ]
    graph = helper.make_graph(nodes, "dfm", inputs, outs, initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_runs_a_dfm_shaped_model(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = OnnxFaceModel(_dfm(tmp_path / "tiny.dfm"), face_type="f", batch_size=3)
    assert isinstance(model, FaceModel) and model.resolution == 32 and model.face_type is FaceType.FULL
    faces = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    out = model.swap(faces)
    assert out.faces.dtype == np.uint8 and out.faces.shape == (5, 32, 32, 3)
    assert np.abs(out.faces.astype(int) - (255 - faces.astype(int))).max() <= 1
    assert out.face_mask.shape == out.dst_mask.shape == (5, 32, 32) and out.face_mask.dtype == np.float32
    np.testing.assert_allclose(out.face_mask, faces[..., 0] / 255.0, atol=1e-6)
    with pytest.raises(ValueError, match="N x 32 x 32 x 3 BGR uint8"):
        model.swap(faces[:, :16])
    # other output names: taken by position, as DeepFaceLive does
    renamed = OnnxFaceModel(_dfm(tmp_path / "renamed.onnx", names=("a", "b", "c")))
    np.testing.assert_array_equal(renamed.swap(faces).faces, out.faces)


def test_amp_model_gets_the_morph_factor(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    path = _dfm(tmp_path / "amp.dfm", morph=True)
    faces = np.full((2, 32, 32, 3), 55, np.uint8)
    half = OnnxFaceModel(path, morph_factor=0.5).swap(faces).faces
    assert np.abs(half.astype(int) - 100).max() <= 1  # (1 - 55 / 255) * 0.5 * 255
    assert np.abs(OnnxFaceModel(path).swap(faces).faces.astype(int) - 150).max() <= 1  # default 0.75
    with pytest.raises(MergeError, match="morph_factor"):
        OnnxFaceModel(path, morph_factor=2.0)


def test_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    with pytest.raises(MergeError, match="no such model file"):
        OnnxFaceModel(tmp_path / "missing.dfm")
    (tmp_path / "junk.dfm").write_bytes(b"not onnx")
    with pytest.raises(MergeError, match="onnxruntime cannot load it"):
        OnnxFaceModel(tmp_path / "junk.dfm")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r'pip install "fs-merge\[onnx\]"'):
        OnnxFaceModel(tmp_path / "junk.dfm")
