"""The small protocols a swap model and a segmenter satisfy, and the per-face record of :func:`swap_frames`.

fs-merge imports no model code: ours (``fs_models.TorchFaceModel``), an exported ``.dfm`` through onnxruntime
(:class:`fs_merge.OnnxFaceModel`) or a third party's model all fit :class:`FaceModel` structurally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from fs_align import Alignment, FaceType, ShapeError, check_points

__all__ = ["FaceModel", "FaceToSwap", "Segmenter", "SwapOutputs", "SwapResult", "check_swap_outputs"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


class SwapOutputs(Protocol):
    """What :meth:`FaceModel.swap` returns (any object with these three arrays: a :class:`SwapResult`, a
    NamedTuple, ...)."""

    @property
    def faces(self) -> U8:
        """``N x R x R x 3`` BGR uint8: the swapped faces (DFL ``out_celeb_face``)."""

    @property
    def face_mask(self) -> F32:
        """``N x R x R`` float32 in [0, 1]: the mask predicted with the swapped face (DFL ``out_celeb_face_mask``)."""

    @property
    def dst_mask(self) -> F32:
        """``N x R x R`` float32 in [0, 1]: the model's mask of the input dst face (DFL ``out_face_mask``)."""


@dataclass(frozen=True)
class SwapResult:
    """A concrete :class:`SwapOutputs` (what :class:`fs_merge.OnnxFaceModel` returns).

    Attributes:
        faces: ``N x R x R x 3`` BGR uint8 swapped faces.
        face_mask: ``N x R x R`` float32 [0, 1], the swapped face's mask (learned-prd).
        dst_mask: ``N x R x R`` float32 [0, 1], the dst face's mask (learned-dst).
    """

    faces: U8
    face_mask: F32
    dst_mask: F32


@runtime_checkable
class FaceModel(Protocol):
    """A face-swap model as fs-merge uses it: aligned BGR uint8 faces in, faces and masks out.

    ``resolution`` is the side ``R`` of the square crops it takes; ``face_type`` the :class:`fs_align.FaceType`
    of those crops (the crop is cut from the frame with ``fs_align.alignment_matrix(landmarks, face_type, R)``).
    ``swap`` takes ``N x R x R x 3`` BGR uint8 faces and returns :class:`SwapOutputs` for the same ``N``.
    ``swap`` is called from one thread at a time.
    """

    @property
    def resolution(self) -> int: ...

    @property
    def face_type(self) -> FaceType: ...

    def swap(self, faces: U8) -> SwapOutputs: ...


class Segmenter(Protocol):
    """A face segmenter (e.g. XSeg, for ``MaskSource.XSEG``): ``N x S x S x 3`` BGR uint8 aligned faces in,
    ``N x S x S`` float32 masks in [0, 1] out (same ``S``; a segmenter with another input size resizes itself)."""

    def __call__(self, faces: U8) -> npt.NDArray[Any]: ...


def _mask_stack(value: Any, name: str, n: int, r: int) -> F32:
    arr = np.asarray(value)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.shape != (n, r, r) or not np.issubdtype(arr.dtype, np.number):
        raise ShapeError(f"{name}: expected {n} x {r} x {r} float masks in [0, 1], got {arr.shape} {arr.dtype}")
    if arr.dtype == np.uint8:
        return np.asarray(arr.astype(np.float32) * np.float32(1.0 / 255.0), np.float32)
    return np.asarray(np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0), np.float32)


def check_swap_outputs(out: Any, n: int, r: int, who: str = "model.swap") -> SwapResult:
    """Check a model's outputs against the :class:`FaceModel` contract and return them as a :class:`SwapResult`.

    ``N x R x R x 1`` masks are squeezed, float masks clipped to [0, 1], uint8 masks scaled from 0..255.

    Raises:
        ShapeError: a missing attribute, or arrays of the wrong shape or dtype (names ``who``).
    """
    try:
        faces, prd, dst = out.faces, out.face_mask, out.dst_mask
    except AttributeError as exc:
        raise ShapeError(f"{who}: returned {type(out).__name__}, which lacks faces/face_mask/dst_mask") from exc
    faces = np.asarray(faces)
    if faces.shape != (n, r, r, 3) or faces.dtype != np.uint8:
        raise ShapeError(f"{who}: faces: expected {n} x {r} x {r} x 3 BGR uint8, got {faces.shape} {faces.dtype}")
    return SwapResult(faces, _mask_stack(prd, f"{who}: face_mask", n, r), _mask_stack(dst, f"{who}: dst_mask", n, r))


@dataclass(frozen=True, eq=False)
class FaceToSwap:
    """One face of a frame for :func:`fs_merge.swap_frames`.

    Attributes:
        landmarks: ``(68, 2)`` float32 iBUG-68 (x, y) in frame pixels.
        mask: optional stored mask of the face (``MaskSource.STORED``), ``S x S`` uint8 0..255 or float [0, 1],
            aligned as ``mask_alignment`` says (e.g. a faceset ``Face.mask`` with ``Face.alignment``); it is
            warped into the model's crop.
        mask_alignment: the :class:`fs_align.Alignment` the mask was cut with (required with ``mask``).
        track: optional identity of the face across frames; motion blur matches a face in the neighbouring
            frames by track, else by the nearest landmark centre.
        id: optional name for messages (a faceset face id).

    Raises:
        ShapeError: bad landmarks, a mask without its alignment, or a mask whose size is not the alignment's.
    """

    landmarks: F32
    mask: npt.NDArray[Any] | None = None
    mask_alignment: Alignment | None = None
    track: int | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        lm = check_points(self.landmarks, "FaceToSwap.landmarks", num=68).astype(np.float32)
        object.__setattr__(self, "landmarks", lm)
        if self.mask is None:
            return
        if self.mask_alignment is None:
            raise ShapeError("FaceToSwap.mask: a stored mask needs its mask_alignment (how it was cut from the frame)")
        m = np.asarray(self.mask)
        size = self.mask_alignment.size
        if m.shape != (size, size) or not (m.dtype == np.uint8 or np.issubdtype(m.dtype, np.floating)):
            raise ShapeError(
                f"FaceToSwap.mask: expected {size} x {size} uint8 or float (the alignment's size), got {m.shape}"
            )
        object.__setattr__(self, "mask", m)

    @property
    def center(self) -> npt.NDArray[np.float32]:
        """Mean of the 68 landmarks (x, y)."""
        return np.asarray(self.landmarks.mean(axis=0), np.float32)
