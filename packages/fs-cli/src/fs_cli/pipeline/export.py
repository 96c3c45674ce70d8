"""Export a trained model as a DeepFaceLive ``.dfm`` (DFL's "export as dfm") and check it against torch.

:func:`fs_cli.pipeline.load_swap_model` is the one place that turns a checkpoint or training folder into an
fs-models :class:`~fs_models.FaceSwapModel` (a CGAN with its identity baked in) for export; :func:`export_dfm`
writes the file with ``fs_models.export_onnx``, stamps the face type into the ONNX metadata (``fs.face_type``,
read back by ``fs_merge.OnnxFaceModel``), and compares onnxruntime's output with the torch model's on random faces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fs_cli.errors import CliError
from fs_cli.pipeline.swap import load_swap_model

__all__ = ["ExportSummary", "export_dfm"]

CHECK_FACES = 4


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_dfm` wrote and how closely onnxruntime reproduces torch."""

    path: Path
    model: str
    resolution: int
    face_type: str
    opset: int | None
    max_abs_diff: float | None
    """Largest |onnxruntime - torch| over the three outputs on random faces (``None``: not checked)."""


def _stamp(path: Path, meta: dict[str, str]) -> None:
    """Add ``meta`` to the ONNX file's ``metadata_props`` (atomic rewrite)."""
    import onnx

    proto = onnx.load(str(path))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    tmp = path.with_name(f".{path.name}.meta.tmp")
    try:
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check(model: Any, path: Path, seed: int = 0) -> float:
    """Max |onnxruntime - torch| over the three .dfm outputs for :data:`CHECK_FACES` random faces."""
    import numpy as np
    import onnxruntime as ort
    import torch

    r = model.resolution
    faces = np.random.default_rng(seed).random((CHECK_FACES, r, r, 3), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: faces})
    with torch.no_grad():
        out = model.swap(torch.from_numpy(faces).permute(0, 3, 1, 2))
    want = [t.permute(0, 2, 3, 1).numpy() for t in (out.dst_mask, out.face, out.face_mask)]
    return max(float(np.abs(g - w).max()) for g, w in zip(got, want))


def export_dfm(
    model_path: Path, out: Path, *, opset: int | None = None, check: bool = True, identity: str | None = None
) -> ExportSummary:
    """Export the model at ``model_path`` (a checkpoint or ``fs train`` folder) to ``out`` as a ``.dfm``.

    The file is plain ONNX with DeepFaceLive's interface (``in_face:0`` N x R x R x 3 BGR [0, 1];
    ``out_face_mask:0``, ``out_celeb_face:0``, ``out_celeb_face_mask:0``), so DeepFaceLive, facefusion's deep
    swapper and ``fs merge --model out.dfm`` load it. With ``check`` (needs onnxruntime) the export is run on
    random faces and compared with the torch model. A CGAN is exported with one identity baked in: the src
    identity, or ``identity`` (see :func:`fs_cli.pipeline.load_swap_model`).

    Raises:
        CliError: no model, a model that does not swap faces, or the export failed (``onnx`` missing, ...).
    """
    import fs_models

    model = load_swap_model(model_path, identity=identity).eval()
    face_type = getattr(getattr(model.config, "face_type", None), "value", "whole_face")
    try:
        written = fs_models.export_onnx(model, out, opset=opset)
        _stamp(written, {"fs.face_type": str(face_type), "fs.model": str(model.name)})
    except (fs_models.ModelError, ImportError) as exc:
        raise CliError(f"export of {model_path} failed: {exc}") from exc
    diff: float | None = None
    if check:
        try:
            diff = _check(model, written)
        except ImportError:
            diff = None
    return ExportSummary(written, str(model.name), model.resolution, str(face_type), opset, diff)
