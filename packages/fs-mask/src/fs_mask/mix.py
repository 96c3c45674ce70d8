"""Mixing mask types: per-face choice with fallback, and combinations as in DFL's merge mask modes.

DFL's merger offers ``XSeg-prd*XSeg-dst`` (product), ``learned-prd+learned-dst`` (union: per-pixel max) and
the like; :func:`combine_masks` does these for any number of masks (``PRODUCT``, ``MIN``, ``UNION``).
:func:`face_mask` picks, per face, the first available source from a preference list: polygon labels, the
stored mask (e.g. written by :func:`fs_mask.apply_xseg`), or a landmark mask (always available). An XSeg
prediction can be taken only where it is confident (:func:`confident_or`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align.landmark_masks import MaskKind, landmark_mask
from fs_mask.errors import MaskError
from fs_mask.polygons import rasterise_face_labels

__all__ = ["CombineMode", "MaskSource", "combine_masks", "confident_or", "face_mask", "mask_confidence"]


class CombineMode(enum.Enum):
    """How several masks of the same face combine (per pixel)."""

    PRODUCT = "product"
    """a * b (DFL's ``*`` modes): soft edges multiply."""
    MIN = "min"
    """min(a, b): intersection; equal to product for binary masks."""
    UNION = "union"
    """max(a, b) (DFL's ``+`` modes)."""


class MaskSource(enum.Enum):
    """Where a face's mask comes from (see :func:`face_mask`)."""

    POLYGONS = "polygons"
    """The face's include/exclude polygons (only if it has any)."""
    STORED = "stored"
    """``Face.mask`` (only if set), e.g. an XSeg prediction written by ``apply_xseg``."""
    HULL = "hull"
    COMPONENTS = "components"
    EXTENDED = "extended"


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
    try:
        how = CombineMode(mode.value if isinstance(mode, CombineMode) else str(mode).lower())
    except ValueError:
        raise MaskError(f"mode: unknown combine mode {mode!r}; known: product, min, union") from None
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

    Polygons and stored masks are used only when the face has them; landmark sources always succeed.

    Returns:
        ``(S x S float32 mask in [0, 1], the source used)``.

    Raises:
        MaskError: no source in the list was available for this face, or an unknown source name.
    """
    size = int(face.image.shape[0])
    for src in sources:
        try:
            kind = src if isinstance(src, MaskSource) else MaskSource(str(src).lower())
        except ValueError:
            known = ", ".join(m.value for m in MaskSource)
            raise MaskError(f"sources: unknown mask source {src!r}; known: {known}") from None
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
    tried = ", ".join(s.value if isinstance(s, MaskSource) else str(s) for s in sources)
    raise MaskError(f"face {getattr(face, 'id', None)!r}: none of the mask sources ({tried}) is available")
