"""Masks drawn from 68 iBUG landmarks in face space: hull, components, extended, and eye/mouth regions.

All functions take ``(68, 2)`` float (x, y) pixel landmarks of an aligned face and return an ``S x S`` (or
``H x W``) ``float32`` mask in [0, 1]. Polygons are filled with sub-pixel precision (OpenCV's fixed-point
``shift``), so masks of small faces do not jump by whole pixels. numpy + OpenCV only (moved here from fs-mask,
which re-exports the same names, so fs-merge can draw merge masks without torch).

Kinds (see :class:`MaskKind`):

- ``HULL``: the convex hull of all 68 points (jaw, brows, and everything in between).
- ``COMPONENTS``: the union of eight convex parts (jaw halves, cheeks, nose ridge, eye regions, nose), as
  faceswap's "components" mask; follows concave jaw/brow outlines more tightly than the hull.
- ``EXTENDED``: ``COMPONENTS`` with the eyebrows raised away from the eyes by ``eyebrows_expand_mod`` times
  half the eye-to-brow distance (DFL's ``get_image_hull_mask`` with ``eyebrows_expand_mod``; 1.0 is DFL's
  default), so the mask reaches into the forehead.
- ``EYES``, ``MOUTH``, ``EYES_MOUTH``: region masks for loss priority (DFL's eyes/mouth priority): the convex
  hulls of each eye and of the inner mouth, dilated by ``size // 32`` and Gaussian-blurred by ``size // 16``.
"""

from __future__ import annotations

import enum

import cv2
import numpy as np
import numpy.typing as npt

from fs_align._image import check_points
from fs_align.errors import ShapeError
from fs_align.types import parse_enum

__all__ = [
    "MaskKind",
    "eyes_mask",
    "eyes_mouth_mask",
    "landmark_mask",
    "mouth_mask",
    "raise_eyebrows",
]

_SHIFT = 4  # fixed-point bits for cv2 polygon fills: 1/16 pixel precision
_SCALE = float(1 << _SHIFT)


class MaskKind(enum.Enum):
    """Which landmark mask to draw (see the module docstring)."""

    HULL = "hull"
    COMPONENTS = "components"
    EXTENDED = "extended"
    EYES = "eyes"
    MOUTH = "mouth"
    EYES_MOUTH = "eyes_mouth"

    @classmethod
    def parse(cls, value: str | MaskKind) -> MaskKind:
        """Parse a kind from its value or name (``"hull"``, ``"EXTENDED"``)."""
        return parse_enum(cls, value, "kind: unknown landmark mask kind", ShapeError)


def _check_landmarks(landmarks: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return check_points(landmarks, "landmarks", num=68)


def _check_size(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        h = w = int(size)
    elif isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, (int, np.integer)) for v in size):
        h, w = int(size[0]), int(size[1])
    else:
        raise ShapeError(f"size: expected an int S or a (height, width) tuple, got {size!r}")
    if h < 1 or w < 1:
        raise ShapeError(f"size: expected positive height and width, got {h}x{w}")
    return h, w


def _fill_hull(mask: npt.NDArray[np.float32], points: npt.NDArray[np.float64]) -> None:
    fixed = np.round(points * _SCALE).astype(np.int32)
    hull = cv2.convexHull(fixed.reshape(-1, 1, 2))
    cv2.fillConvexPoly(mask, hull, 1.0, lineType=cv2.LINE_8, shift=_SHIFT)


def raise_eyebrows(landmarks: npt.ArrayLike, eyebrows_expand_mod: float = 1.0) -> npt.NDArray[np.float32]:
    """Return a copy of ``landmarks`` (68 x 2) with the brows (17-26) moved away from the eyes.

    Each brow point moves by ``eyebrows_expand_mod * 0.5 * (brow - eye_top)``, where ``eye_top`` is the matching
    point of the upper eye outline (DFL's ``expand_eyebrows``); 0 leaves the brows in place.

    Raises:
        ShapeError: landmarks not 68 x 2 finite, or ``eyebrows_expand_mod`` negative / not finite.
    """
    pts = _check_landmarks(landmarks)
    mod = float(eyebrows_expand_mod)
    if not np.isfinite(mod) or mod < 0.0:
        raise ShapeError(f"eyebrows_expand_mod: expected a finite value >= 0, got {eyebrows_expand_mod!r}")
    out = pts.copy()
    mid_r = (pts[36] + pts[0]) / 2.0
    mid_l = (pts[16] + pts[45]) / 2.0
    quarter_r = (pts[36] + mid_r) / 2.0
    quarter_l = (pts[45] + mid_l) / 2.0
    below_r = np.stack([quarter_r, pts[36], pts[37], pts[38], pts[39]])
    below_l = np.stack([pts[42], pts[43], pts[44], pts[45], quarter_l])
    out[17:22] = pts[17:22] + mod * 0.5 * (pts[17:22] - below_r)
    out[22:27] = pts[22:27] + mod * 0.5 * (pts[22:27] - below_l)
    return np.asarray(out, dtype=np.float32)


def _component_parts(p: npt.NDArray[np.float64]) -> list[npt.NDArray[np.float64]]:
    chin = p[8:9]
    return [
        np.concatenate([p[0:9], p[17:18]]),  # right jaw
        np.concatenate([p[8:17], p[26:27]]),  # left jaw
        np.concatenate([p[17:20], chin]),  # right cheek
        np.concatenate([p[24:27], chin]),  # left cheek
        np.concatenate([p[19:25], chin]),  # nose ridge
        np.concatenate([p[17:22], p[27:28], p[31:36], chin]),  # right eye region
        np.concatenate([p[22:27], p[27:28], p[31:36], chin]),  # left eye region
        np.concatenate([p[27:31], p[31:36]]),  # nose
    ]


def _soft_region(mask: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    dilate = max(1, size // 32)
    if dilate > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (dilate, dilate))
        mask = np.asarray(cv2.dilate(mask, kernel, iterations=1), dtype=np.float32)
    blur = max(1, size // 16)
    blur += 1 - blur % 2
    if blur > 1:
        mask = np.asarray(cv2.GaussianBlur(mask, (blur, blur), 0), dtype=np.float32)
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def landmark_mask(
    landmarks: npt.ArrayLike,
    size: int | tuple[int, int],
    kind: MaskKind | str = MaskKind.HULL,
    *,
    eyebrows_expand_mod: float = 1.0,
) -> npt.NDArray[np.float32]:
    """Draw a landmark mask.

    Args:
        landmarks: ``(68, 2)`` (x, y) pixel coordinates in the mask's frame (face space), iBUG-68 order.
            Points outside the mask are allowed; the polygons are clipped to the image.
        size: ``S`` for an ``S x S`` mask, or ``(height, width)``.
        kind: a :class:`MaskKind` or its value.
        eyebrows_expand_mod: brow raise of ``EXTENDED`` (DFL's default 1.0); ignored by other kinds.

    Returns:
        ``H x W`` ``float32`` mask in [0, 1] (exactly 0/1 for hull/components/extended; soft for regions).

    Raises:
        ShapeError: bad landmarks, size, kind or ``eyebrows_expand_mod``.
    """
    pts = _check_landmarks(landmarks)
    h, w = _check_size(size)
    kind = MaskKind.parse(kind)
    mask = np.zeros((h, w), dtype=np.float32)
    if kind is MaskKind.HULL:
        _fill_hull(mask, pts)
    elif kind in (MaskKind.COMPONENTS, MaskKind.EXTENDED):
        src = pts if kind is MaskKind.COMPONENTS else raise_eyebrows(pts, eyebrows_expand_mod).astype(np.float64)
        for part in _component_parts(src):
            _fill_hull(mask, part)
    else:
        if kind in (MaskKind.EYES, MaskKind.EYES_MOUTH):
            _fill_hull(mask, pts[36:42])
            _fill_hull(mask, pts[42:48])
        if kind in (MaskKind.MOUTH, MaskKind.EYES_MOUTH):
            _fill_hull(mask, pts[60:68])
        mask = _soft_region(mask, min(h, w))
    return mask


def eyes_mask(landmarks: npt.ArrayLike, size: int | tuple[int, int]) -> npt.NDArray[np.float32]:
    """Soft mask of both eyes (DFL's eye priority region): ``landmark_mask(..., kind=MaskKind.EYES)``."""
    return landmark_mask(landmarks, size, MaskKind.EYES)


def mouth_mask(landmarks: npt.ArrayLike, size: int | tuple[int, int]) -> npt.NDArray[np.float32]:
    """Soft mask of the inner mouth (DFL's mouth priority region): ``landmark_mask(..., kind=MaskKind.MOUTH)``."""
    return landmark_mask(landmarks, size, MaskKind.MOUTH)


def eyes_mouth_mask(landmarks: npt.ArrayLike, size: int | tuple[int, int]) -> npt.NDArray[np.float32]:
    """Soft mask of both eyes and the inner mouth, for eyes-and-mouth loss priority (``MaskKind.EYES_MOUTH``)."""
    return landmark_mask(landmarks, size, MaskKind.EYES_MOUTH)
