"""ONNX export with DeepFaceLive's ``.dfm`` interface, so DeepFaceLive and facefusion's deep swapper load it.

The contract (from DeepFaceLab's ``SAEHDModel.export_dfm`` and DeepFaceLive's ``modelhub/DFLive/DFMModel.py``;
facefusion's ``deep_swapper`` reads the same names):

* one input ``in_face:0``: N x H x W x 3 float32, BGR, [0, 1], channels LAST; H and W are fixed numbers
  (both readers take the model's size from ``inputs[0].shape[1:3]``), N is dynamic;
* three outputs in this order: ``out_face_mask:0`` (the dst face's own mask, N x H x W x 1),
  ``out_celeb_face:0`` (the swapped face, N x H x W x 3 BGR) and ``out_celeb_face_mask:0`` (its mask,
  N x H x W x 1); readers take them by position.

DFL writes opset 12 through tf2onnx; we default to 13 (onnxruntime >= 1.8 runs it), 14 for the attention CGAN.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from fs_models._base import FaceSwapModel
from fs_models._cgan import CGANGenerator
from fs_models._config import Conditioning
from fs_models.errors import ModelError

__all__ = ["DFM_INPUT", "DFM_OUTPUTS", "export_onnx"]

DFM_INPUT = "in_face:0"
DFM_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")


class _DfmWrapper(nn.Module):
    """NHWC in, the three NHWC outputs of the .dfm contract out."""

    def __init__(self, model: FaceSwapModel, target: int, source: int) -> None:
        super().__init__()
        self.model = model
        self.target, self.source = target, source

    def forward(self, in_face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = in_face.permute(0, 3, 1, 2)
        if isinstance(self.model, CGANGenerator):
            labels = torch.zeros_like(x[:, 0, 0, 0], dtype=torch.long)
            out = self.model.swap_unchecked(x, labels + self.target, labels + self.source)
        else:
            out = self.model.swap_unchecked(x)
        return (
            out.dst_mask.permute(0, 2, 3, 1),
            out.face.permute(0, 2, 3, 1),
            out.face_mask.permute(0, 2, 3, 1),
        )


def export_onnx(
    model: FaceSwapModel,
    path: str | os.PathLike[str],
    *,
    opset: int | None = None,
    target_identity: int = 0,
    source_identity: int = 1,
) -> Path:
    """Export ``model``'s swap as an ONNX file with the DeepFaceLive ``.dfm`` I/O (see the module doc).

    Args:
        model: an autoencoder (df, liae, quick96, h64, h128, original), a label-conditioned CGAN generator
            (``target_identity`` / ``source_identity`` pick the labels), or a CGAN with its identities baked in
            (:func:`fs_models.fix_identity`, any conditioning, labels or external embeddings).
        path: output file; name it ``*.dfm`` for DeepFaceLive (the content is plain ONNX). Written atomically.
        opset: ONNX opset; default 13, or 14 for the attention CGAN (scaled dot-product attention needs 14).
            At least 11 (DepthToSpace in CRD mode, as torch's pixel shuffle needs).
        target_identity, source_identity: CGAN only: the label rendered, and the label of the input faces.
    Returns:
        the path written.
    """
    if not isinstance(model, FaceSwapModel):
        raise ModelError(f"export_onnx: {type(model).__name__} does not swap faces; export an autoencoder or CGAN")
    if isinstance(model, CGANGenerator) and model.config.external_embedding_dims > 0:
        raise ModelError(
            "export_onnx: a CGAN conditioned on external embeddings has no fixed identity to export; "
            "bake one in with fs_models.fix_identity(generator, target_vector, source_vector)"
        )
    if opset is None:
        attention = getattr(model.config, "conditioning", None) is Conditioning.ATTENTION
        opset = 14 if attention else 13
    if opset < 11:
        raise ModelError(f"export_onnx: opset {opset} < 11 has no CRD DepthToSpace for pixel shuffle")
    r = model.resolution
    wrapper = _DfmWrapper(model, target_identity, source_identity).eval()
    example = torch.rand(1, r, r, 3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                wrapper,
                (example.to(device),),
                str(tmp),
                input_names=[DFM_INPUT],
                output_names=list(DFM_OUTPUTS),
                dynamic_axes={name: {0: "N"} for name in (DFM_INPUT, *DFM_OUTPUTS)},
                opset_version=opset,
                dynamo=False,
            )
        os.replace(tmp, path)
    except ImportError as exc:
        raise ModelError(f'export_onnx needs the onnx package: pip install "fs-models[onnx]" ({exc})') from exc
    finally:
        tmp.unlink(missing_ok=True)
        model.train(was_training)
    return path
