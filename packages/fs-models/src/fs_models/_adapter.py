"""``TorchFaceModel``: an fs-models swap model as fs-merge's ``FaceModel`` (numpy uint8 faces in and out).

fs-models does not import fs-merge: :class:`TorchFaceModel` has the protocol's members (``resolution``,
``face_type``, ``swap``) and returns :class:`SwappedFaces`, a NamedTuple with the fields of
``fs_merge.SwapOutputs``, so it is accepted wherever ``fs_merge.FaceModel`` is expected (structural typing).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from fs_align import FaceType
from fs_models._base import FaceSwapModel
from fs_models._cgan import CGANGenerator
from fs_models.errors import InputError, ModelError

__all__ = ["SwappedFaces", "TorchFaceModel"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


class SwappedFaces(NamedTuple):
    """What :meth:`TorchFaceModel.swap` returns (the fields of ``fs_merge.SwapOutputs``)."""

    faces: U8
    """``N x R x R x 3`` BGR uint8 swapped faces (DFL ``out_celeb_face``)."""
    face_mask: F32
    """``N x R x R`` float32 [0, 1], the swapped face's mask (DFL ``out_celeb_face_mask``)."""
    dst_mask: F32
    """``N x R x R`` float32 [0, 1], the dst face's mask (DFL ``out_face_mask``)."""


def _to_tensor(faces: U8, device: torch.device) -> torch.Tensor:
    """``N x R x R x 3`` uint8 BGR -> ``N x 3 x R x R`` float32 [0, 1] on ``device`` (the one input conversion)."""
    return torch.from_numpy(np.ascontiguousarray(faces)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def _to_faces(x: torch.Tensor) -> U8:
    """``N x 3 x R x R`` float [0, 1] -> ``N x R x R x 3`` uint8 (rounded; the one output conversion)."""
    out = x.float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1)
    return np.ascontiguousarray(out.cpu().numpy())


def _to_masks(x: torch.Tensor) -> F32:
    """``N x 1 x R x R`` float -> ``N x R x R`` float32 [0, 1]."""
    return np.ascontiguousarray(x[:, 0].float().clamp(0.0, 1.0).cpu().numpy())


class TorchFaceModel:
    """Run an fs-models face-swap model on numpy faces; satisfies ``fs_merge.FaceModel``.

    Args:
        model: a :class:`FaceSwapModel` (DF, LIAE, classic, or a CGAN generator with fixed identities).
        device: where it runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); the model is moved there.
        batch_size: faces per forward pass.
        face_type: the crop the model takes; default: the model config's ``face_type`` (whole_face when the
            config has none).
        target_identity, source_identity: CGAN only: the identity rendered and the identity of the input faces.

    Attributes:
        resolution: the side ``R`` of the faces the model takes.
        face_type: a :class:`fs_align.FaceType`.

    Raises:
        ModelError: not a face-swap model, or a bad batch size.
    """

    def __init__(
        self,
        model: FaceSwapModel,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        *,
        face_type: FaceType | str | None = None,
        target_identity: int = 0,
        source_identity: int = 1,
    ) -> None:
        if not isinstance(model, FaceSwapModel):
            raise ModelError(f"TorchFaceModel: {type(model).__name__} does not swap faces")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ModelError(f"TorchFaceModel: batch_size must be a positive int, got {batch_size!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.resolution: int = model.resolution
        ft: Any = face_type if face_type is not None else getattr(model.config, "face_type", FaceType.WHOLE_FACE)
        self.face_type: FaceType = FaceType.parse(getattr(ft, "value", ft))
        self._labels = (target_identity, source_identity) if isinstance(model, CGANGenerator) else None

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], device: str | torch.device = "cpu", batch_size: int = 16
    ) -> TorchFaceModel:
        """Load a checkpoint written by ``fs_models.save_model`` (or ``fs train``) and wrap it."""
        from fs_models._checkpoint import load_model

        model = load_model(path, device=str(device))
        if not isinstance(model, FaceSwapModel):
            raise ModelError(f"{path}: model {getattr(model, 'name', '?')!r} does not swap faces")
        return cls(model, device, batch_size)

    def __repr__(self) -> str:
        name = getattr(self.model, "name", type(self.model).__name__)
        return f"TorchFaceModel({name!r}, resolution={self.resolution}, face_type={self.face_type.value})"

    def swap(self, faces: U8) -> SwappedFaces:
        """Swap ``N x R x R x 3`` BGR uint8 aligned faces (under ``torch.inference_mode``).

        Raises:
            InputError: not an ``N x R x R x 3`` uint8 array.
        """
        r = self.resolution
        if not isinstance(faces, np.ndarray) or faces.dtype != np.uint8 or faces.shape[1:] != (r, r, 3):
            got = f"{faces.shape} {faces.dtype}" if isinstance(faces, np.ndarray) else type(faces).__name__
            raise InputError(f"faces: expected N x {r} x {r} x 3 BGR uint8, got {got}")
        out_faces, out_prd, out_dst = [], [], []
        with torch.inference_mode():
            for i in range(0, len(faces), self.batch_size):
                x = _to_tensor(faces[i : i + self.batch_size], self.device)
                if self._labels is not None:
                    ids = torch.zeros(len(x), dtype=torch.long, device=self.device)
                    out = self.model.swap(x, ids + self._labels[0], ids + self._labels[1])
                else:
                    out = self.model.swap(x)
                out_faces.append(_to_faces(out.face))
                out_prd.append(_to_masks(out.face_mask))
                out_dst.append(_to_masks(out.dst_mask))
        if not out_faces:
            empty = np.zeros((0, r, r), np.float32)
            return SwappedFaces(np.zeros((0, r, r, 3), np.uint8), empty, empty.copy())
        return SwappedFaces(np.concatenate(out_faces), np.concatenate(out_prd), np.concatenate(out_dst))
