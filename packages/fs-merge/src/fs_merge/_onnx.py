"""``OnnxFaceModel``: a DeepFaceLive ``.dfm`` (or any ONNX model with its tensor names) as a :class:`FaceModel`.

The ``.dfm`` contract (DeepFaceLab's ``export_dfm``, DeepFaceLive's ``DFMModel``, ``fs_models.export_onnx``):
input ``in_face:0`` ``N x H x W x 3`` float32 BGR in [0, 1] (AMP models add ``morph_value:0``, a ``(1,)`` float32
morph factor); outputs ``out_face_mask:0`` (the dst face's mask), ``out_celeb_face:0`` (the swapped face) and
``out_celeb_face_mask:0`` (its mask), each ``N x H x W x C``. Needs the ``onnx`` extra:
``pip install "fs-merge[onnx]"``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align import FaceType, ShapeError
from fs_merge._model import SwapResult
from fs_merge.errors import MergeError

__all__ = ["DFM_INPUT", "DFM_MORPH", "DFM_OUTPUTS", "OnnxFaceModel"]

DFM_INPUT = "in_face:0"
DFM_MORPH = "morph_value:0"
DFM_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")
"""The output names, in DeepFaceLab's order (readers that find other names take the outputs by position)."""

INSTALL_HINT = 'pip install "fs-merge[onnx]"'


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(f"OnnxFaceModel needs onnxruntime: {INSTALL_HINT}") from exc
    return onnxruntime


class OnnxFaceModel:
    """Run a ``.dfm`` / ONNX face-swap model with onnxruntime; satisfies :class:`fs_merge.FaceModel`.

    Args:
        path: the ``.dfm`` or ``.onnx`` file.
        face_type: the crop the model was trained on, a :class:`fs_align.FaceType` or its name (``"wf"``,
            ``"full"``, ...). ``None``: the file's ``fs.face_type`` metadata (written by ``fs export``), else
            ``whole_face`` (DeepFaceLab's DFMs store none and are usually whole face).
        providers: onnxruntime execution providers (default: CPU only; e.g. ``["CUDAExecutionProvider",
            "CPUExecutionProvider"]`` with onnxruntime-gpu).
        batch_size: faces per ``session.run`` (``None``: all at once).
        morph_factor: 0..1, fed to AMP models' ``morph_value:0`` input (DeepFaceLive's default 0.75); ignored by
            models without that input.

    Attributes:
        resolution: the model's input side, read from the input's shape.
        face_type: as given.

    Raises:
        ImportError: onnxruntime is missing (names the ``pip install`` line).
        MergeError: a missing file, a file onnxruntime cannot load, or a model without the ``.dfm`` interface.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        face_type: FaceType | str | None = None,
        providers: list[str] | None = None,
        batch_size: int | None = None,
        morph_factor: float = 0.75,
    ) -> None:
        ort = _onnxruntime()
        self.path = Path(path)
        if not self.path.is_file():
            raise MergeError(f"{self.path}: no such model file")
        try:
            self._session = ort.InferenceSession(str(self.path), providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own (non-exported) error types
            raise MergeError(f"{self.path}: onnxruntime cannot load it ({exc})") from exc
        if face_type is None:
            meta = self._session.get_modelmeta().custom_metadata_map
            face_type = meta.get("fs.face_type", FaceType.WHOLE_FACE.value)
        self.face_type = FaceType.parse(face_type)
        if batch_size is not None and batch_size < 1:
            raise MergeError(f"batch_size: expected >= 1 or None, got {batch_size}")
        self.batch_size = batch_size
        if not 0.0 <= morph_factor <= 1.0:
            raise MergeError(f"morph_factor: expected a value in [0, 1], got {morph_factor}")
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape) if inputs else []
        self._morph: tuple[str, npt.NDArray[np.float32]] | None = None
        if len(inputs) == 2 and "morph_value" in inputs[1].name:
            self._morph = (inputs[1].name, np.array([morph_factor], np.float32))
        elif len(inputs) != 1:
            shape = []
        if len(shape) != 4 or not all(isinstance(v, int) for v in shape[1:]) or shape[3] != 3:
            got = [(i.name, i.shape) for i in inputs]
            raise MergeError(f"{self.path}: expected an input N x H x W x 3 (DFM 'in_face:0'), got {got}")
        if shape[1] != shape[2]:
            raise MergeError(f"{self.path}: expected a square input, got {shape[2]}x{shape[1]}")
        self.resolution: int = int(shape[1])
        self._input = inputs[0].name
        self._half = "float16" in str(inputs[0].type)
        names = [o.name for o in self._session.get_outputs()]
        if all(n in names for n in DFM_OUTPUTS):
            self._outputs = list(DFM_OUTPUTS)
        elif len(names) == 3:
            self._outputs = names  # DeepFaceLive and facefusion take the outputs by position
        else:
            raise MergeError(f"{self.path}: expected the 3 DFM outputs {list(DFM_OUTPUTS)}, got {names}")

    def __repr__(self) -> str:
        return f"OnnxFaceModel({str(self.path)!r}, resolution={self.resolution}, face_type={self.face_type.value})"

    def swap(self, faces: npt.NDArray[np.uint8]) -> SwapResult:
        """Swap ``N x R x R x 3`` BGR uint8 aligned faces; returns uint8 faces and float32 ``N x R x R`` masks."""
        r = self.resolution
        if not isinstance(faces, np.ndarray) or faces.dtype != np.uint8 or faces.shape[1:] != (r, r, 3):
            got = f"{faces.shape} {faces.dtype}" if isinstance(faces, np.ndarray) else type(faces).__name__
            raise ShapeError(f"faces: expected N x {r} x {r} x 3 BGR uint8, got {got}")
        step = self.batch_size or max(1, len(faces))
        parts = [self._run(faces[i : i + step]) for i in range(0, len(faces), step)]
        if not parts:
            empty = np.zeros((0, r, r), np.float32)
            return SwapResult(np.zeros((0, r, r, 3), np.uint8), empty, empty.copy())
        dst_mask, face, face_mask = (np.concatenate([p[k] for p in parts]) for k in range(3))
        out = np.rint(np.clip(face, 0.0, 1.0) * 255.0).astype(np.uint8)
        return SwapResult(out, _mask(face_mask), _mask(dst_mask))

    def _run(self, faces: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.float32]]:
        x = faces.astype(np.float32) * np.float32(1.0 / 255.0)
        feed = {self._input: x.astype(np.float16) if self._half else x}
        if self._morph is not None:
            feed[self._morph[0]] = self._morph[1]
        outs = self._session.run(self._outputs, feed)
        return [np.asarray(o, np.float32) for o in outs]


def _mask(m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    if m.ndim == 4:
        m = m[..., 0]
    return np.clip(m, 0.0, 1.0).astype(np.float32)
