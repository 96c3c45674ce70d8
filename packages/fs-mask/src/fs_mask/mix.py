"""Mixing mask types: per-face choice with fallback, and combinations as in DFL's merge mask modes.

DFL's merger offers ``XSeg-prd*XSeg-dst`` (product), ``learned-prd+learned-dst`` (union: per-pixel max) and
the like; :func:`combine_masks` does these for any number of masks (``PRODUCT``, ``MIN``, ``UNION``).
:func:`face_mask` picks, per face, the first available source from a preference list of
:class:`fs_align.MaskSource` values: polygon labels, the stored mask (e.g. written by
:func:`fs_mask.apply_xseg`), or a landmark mask (always available). An XSeg
prediction can be taken only where it is confident (:func:`confident_or`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align import MaskSource, parse_enum
from fs_align.landmark_masks import MaskKind, landmark_mask
from fs_mask.errors import MaskConfigError, MaskError
from fs_mask.polygons import rasterise_face_labels

__all__ = ["FACE_MASK_SOURCES", "CombineMode", "combine_masks", "confident_or", "face_mask", "mask_confidence"]


class CombineMode(enum.Enum):
    """How several masks of the same face combine (per pixel)."""

    PRODUCT = "product"
    """a * b (DFL's ``*`` modes): soft edges multiply."""
    MIN = "min"
    """min(a, b): intersection; equal to product for binary masks."""
    UNION = "union"
    """max(a, b) (DFL's ``+`` modes)."""


FACE_MASK_SOURCES = (
    MaskSource.POLYGONS,
    MaskSource.STORED,
    MaskSource.HULL,
    MaskSource.COMPONENTS,
    MaskSource.EXTENDED,
)
"""The :class:`fs_align.MaskSource` values :func:`face_mask` can read from a face record alone (XSeg and the
swap model's learned masks need a network: predict them with :func:`fs_mask.predict_masks` or the model)."""


def _as_float_mask(mask: Any, name: str, shape: tuple[int, int] | None) -> npt.NDArray[np.float32]:
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise MaskError(f"{name}: expected an H x W mask (uint8 0-255 or float32 0-1), got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise MaskError(f"{name}: expected a {shape[0]} x {shape[1]} mask (same size as the others), got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise MaskError(f"{name}: expected uint8 or float masks, got dtype {arr.dtype}")
    out = arr.astype(np.float32)
    if not np.all(np.isfinite(out)) or out.min(initial=0.0) < -1e-6 or out.max(initial=0.0) > 1 + 1e-6:
        raise MaskError(f"{name}: float masks must be finite and in [0, 1]")
    return np.clip(out, 0.0, 1.0)


def combine_masks(masks: Sequence[Any], mode: CombineMode | str = CombineMode.PRODUCT) -> npt.NDArray[np.float32]:
    """Combine one or more ``H x W`` masks (uint8 0-255 or float 0-1, all the same size) into float32 [0, 1].

    Raises:
        MaskError: no masks, masks of different sizes, bad dtype/range, or an unknown mode.
    """
    if not masks:
        raise MaskError("masks: expected at least one mask to combine")
    how = parse_enum(CombineMode, mode, "mode: unknown combine mode", MaskConfigError)
    first = _as_float_mask(masks[0], "masks[0]", None)
    out = first.copy()
    shape = (first.shape[0], first.shape[1])
    for i, m in enumerate(masks[1:], start=1):
        arr = _as_float_mask(m, f"masks[{i}]", shape)
        if how is CombineMode.PRODUCT:
            out *= arr
        elif how is CombineMode.MIN:
            np.minimum(out, arr, out=out)
        else:
            np.maximum(out, arr, out=out)
    return np.asarray(out, dtype=np.float32)


def mask_confidence(prob: Any) -> float:
    """How decided a soft mask is: mean of ``|2p - 1|`` (1 when every pixel is 0 or 1, 0 when all are 0.5)."""
    p = _as_float_mask(prob, "prob", None)
    return float(np.mean(np.abs(2.0 * p - 1.0)))


def confident_or(prob: Any, fallback: Any, *, min_confidence: float = 0.8) -> tuple[npt.NDArray[np.float32], bool]:
    """``prob`` if :func:`mask_confidence` reaches ``min_confidence``, else ``fallback``; also says which.

    Returns:
        ``(mask, used_prob)``.
    """
    p = _as_float_mask(prob, "prob", None)
    f = _as_float_mask(fallback, "fallback", (p.shape[0], p.shape[1]))
    if mask_confidence(p) >= min_confidence:
        return p, True
    return f, False


def face_mask(
    face: Any,
    sources: Sequence[MaskSource | str] = (MaskSource.POLYGONS, MaskSource.STORED, MaskSource.EXTENDED),
    *,
    eyebrows_expand_mod: float = 1.0,
) -> tuple[npt.NDArray[np.float32], MaskSource]:
    """The mask of an :class:`fs_faceset.Face` from the first available source in ``sources``.

    ``sources`` is a fallback chain of :class:`fs_align.MaskSource` values (or their names), each one of
    :data:`FACE_MASK_SOURCES`. Polygons and stored masks are used only when the face has them; landmark sources
    (hull, components, extended) always succeed.

    Returns:
        ``(S x S float32 mask in [0, 1], the source used)``.

    Raises:
        MaskConfigError: an unknown source name, or a source that needs a network (``xseg``, ``learned-prd``,
            ``learned-dst``); a ``ValueError``.
        MaskError: no source in the list was available for this face.
    """
    size = int(face.image.shape[0])
    kinds = [parse_enum(MaskSource, src, "sources: unknown mask source", MaskConfigError) for src in sources]
    bad = [k.value for k in kinds if k not in FACE_MASK_SOURCES]
    if bad:
        usable = ", ".join(k.value for k in FACE_MASK_SOURCES)
        raise MaskConfigError(f"sources: {', '.join(bad)} cannot be read from a face record; use {usable}")
    for kind in kinds:
        if kind is MaskSource.POLYGONS:
            poly = rasterise_face_labels(face)
            if poly is not None:
                return poly, kind
        elif kind is MaskSource.STORED:
            if face.mask is not None:
                return _as_float_mask(face.mask, "face.mask", (size, size)), kind
        else:
            lm_kind = MaskKind(kind.value)
            return landmark_mask(face.landmarks, size, lm_kind, eyebrows_expand_mod=eyebrows_expand_mod), kind
    tried = ", ".join(k.value for k in kinds)
    raise MaskError(f"face {getattr(face, 'id', None)!r}: none of the mask sources ({tried}) is available")
