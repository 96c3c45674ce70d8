"""Include/exclude polygon labels on aligned faces (DeepFaceLab's ``seg_ie_polys``), rasterised to masks.

Semantics (DFL's): polygons are drawn **in order** on a zero mask; an include polygon fills 1, an exclude
polygon fills 0. A :class:`fs_faceset.Face` stores its polygons in that order (``Face.polygons``, ordered
``(PolygonKind, points)`` pairs, so includes and excludes may interleave: "outline the face, cut out the hand,
add the finger back"), and labels made from a face, or stored into one, keep it. Polygons are in aligned-face
pixels (x, y). :class:`PolygonKind` is fs-faceset's.

Validation (:meth:`Polygon.__post_init__`), so a bad label fails where it is made, not deep in training:

- fewer than 3 points, NaN/inf, or a (near) zero-area hull -> :class:`PolygonError` (degenerate);
- edges that cross each other -> :class:`PolygonError` (self-intersecting; OpenCV's fill of such a polygon is
  rarely what the labeller meant). Pass ``allow_self_intersection=True`` to :func:`labels_from_face` to keep
  them (filled with OpenCV's even-odd-like scanline rule);
- :meth:`PolygonLabels.rasterise` **clips** points outside the ``size x size`` face (documented clipping: the
  part inside is drawn); a polygon wholly outside the face raises :class:`PolygonError` there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_faceset import PolygonKind
from fs_mask.errors import MaskError

__all__ = [
    "Polygon",
    "PolygonError",
    "PolygonKind",
    "PolygonLabels",
    "face_with_labels",
    "labels_from_face",
    "rasterise_face_labels",
]

_SHIFT = 4
_MIN_AREA = 0.5  # square pixels


class PolygonError(MaskError, ValueError):
    """A polygon label is degenerate, self-intersecting, outside the face, or malformed."""


def _segments_cross(pts: npt.NDArray[np.float64]) -> bool:
    """True when two non-adjacent edges of the closed polygon ``pts`` properly intersect."""
    n = len(pts)
    if n < 4:
        return False
    a, b = pts, np.roll(pts, -1, axis=0)
    i, j = np.triu_indices(n, k=2)
    keep = ~((i == 0) & (j == n - 1))  # first and last edges share a vertex
    i, j = i[keep], j[keep]
    p, r = a[i], b[i] - a[i]
    q, s = a[j], b[j] - a[j]
    denom = r[:, 0] * s[:, 1] - r[:, 1] * s[:, 0]
    qp = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[:, 0] * s[:, 1] - qp[:, 1] * s[:, 0]) / denom
        u = (qp[:, 0] * r[:, 1] - qp[:, 1] * r[:, 0]) / denom
    eps = 1e-9
    hit = (np.abs(denom) > eps) & (t > eps) & (t < 1 - eps) & (u > eps) & (u < 1 - eps)
    return bool(hit.any())


def _area(pts: npt.NDArray[np.float64]) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@dataclass(frozen=True, eq=False)
class Polygon:
    """One labelled polygon: ``points`` is ``N x 2`` float32 (x, y) in aligned-face pixels, N >= 3.

    Raises:
        PolygonError: malformed, degenerate (area < 0.5 px²) or self-intersecting (unless allowed).
    """

    kind: PolygonKind
    points: npt.NDArray[np.float32]
    allow_self_intersection: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        kind = self.kind
        if not isinstance(kind, PolygonKind):
            try:
                kind = PolygonKind(str(kind).lower())
            except ValueError:
                raise PolygonError(f"polygon kind: expected 'include' or 'exclude', got {self.kind!r}") from None
        arr = np.asarray(self.points)
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.number):
            raise PolygonError(f"{kind.value} polygon: expected N x 2 (x, y) points, got shape {arr.shape}")
        pts = arr.astype(np.float64)
        if not np.all(np.isfinite(pts)):
            raise PolygonError(f"{kind.value} polygon: contains NaN or infinite coordinates")
        if len(pts) >= 2 and np.allclose(pts[0], pts[-1]):
            pts = pts[:-1]  # an explicitly closed ring
        if len(pts) < 3:
            raise PolygonError(f"{kind.value} polygon: degenerate, needs at least 3 points, got {len(pts)}")
        if not self.allow_self_intersection and _segments_cross(pts):
            raise PolygonError(
                f"{kind.value} polygon with {len(pts)} points: self-intersecting (edges cross); "
                "redraw it, or pass allow_self_intersection=True to fill it as OpenCV does"
            )
        area = _area(pts) if len(pts) == 3 else float(cv2.contourArea(cv2.convexHull(pts.astype(np.float32))))
        if area < _MIN_AREA:
            raise PolygonError(f"{kind.value} polygon: degenerate, area {area:.3g} px² (collinear or repeated points)")
        frozen = pts.astype(np.float32)
        frozen.setflags(write=False)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "points", frozen)


@dataclass(frozen=True)
class PolygonLabels:
    """An ordered list of include/exclude polygons on a ``size x size`` face."""

    polygons: tuple[Polygon, ...] = ()

    @property
    def include(self) -> tuple[npt.NDArray[np.float32], ...]:
        """Points of the include polygons, in order."""
        return tuple(p.points for p in self.polygons if p.kind is PolygonKind.INCLUDE)

    @property
    def exclude(self) -> tuple[npt.NDArray[np.float32], ...]:
        """Points of the exclude polygons, in order."""
        return tuple(p.points for p in self.polygons if p.kind is PolygonKind.EXCLUDE)

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def __len__(self) -> int:
        return len(self.polygons)

    @classmethod
    def from_include_exclude(
        cls,
        include: Iterable[npt.ArrayLike] = (),
        exclude: Iterable[npt.ArrayLike] = (),
        *,
        allow_self_intersection: bool = False,
    ) -> PolygonLabels:
        """Labels that draw every include polygon, then every exclude polygon (DFL's usual order)."""
        polys = [Polygon(PolygonKind.INCLUDE, np.asarray(p), allow_self_intersection) for p in include]
        polys += [Polygon(PolygonKind.EXCLUDE, np.asarray(p), allow_self_intersection) for p in exclude]
        return cls(tuple(polys))

    def rasterise(self, size: int | tuple[int, int]) -> npt.NDArray[np.float32]:
        """Draw the polygons in order into an ``H x W`` ``float32`` mask (1 face, 0 not face).

        Points outside the image are clipped (the inside part is drawn).

        Raises:
            PolygonError: a polygon lies wholly outside the image; a bad ``size``.
        """
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            h = w = int(size)
        elif isinstance(size, tuple) and len(size) == 2:
            h, w = int(size[0]), int(size[1])
        else:
            raise PolygonError(f"size: expected an int S or (height, width), got {size!r}")
        if h < 1 or w < 1:
            raise PolygonError(f"size: expected positive height and width, got {h}x{w}")
        mask = np.zeros((h, w), dtype=np.float32)
        for k, poly in enumerate(self.polygons):
            lo, hi = poly.points.min(axis=0), poly.points.max(axis=0)
            if hi[0] < 0 or hi[1] < 0 or lo[0] > w or lo[1] > h:
                raise PolygonError(
                    f"polygon {k} ({poly.kind.value}): lies wholly outside the {w}x{h} face "
                    f"(x {lo[0]:.1f}..{hi[0]:.1f}, y {lo[1]:.1f}..{hi[1]:.1f}); wrong coordinate frame?"
                )
            fixed = np.round(poly.points.astype(np.float64) * (1 << _SHIFT)).astype(np.int32)
            value = 1.0 if poly.kind is PolygonKind.INCLUDE else 0.0
            cv2.fillPoly(mask, [fixed.reshape(-1, 1, 2)], value, lineType=cv2.LINE_8, shift=_SHIFT)
        return mask


def labels_from_face(face: Any, *, allow_self_intersection: bool = False) -> PolygonLabels:
    """The polygon labels of an :class:`fs_faceset.Face`, in the face's drawing order.

    Faces imported from DeepFaceLab (``fs_faceset.import_dfl``) carry DFL's ``seg_ie_polys`` this way.

    Raises:
        MaskError: ``face`` is not a face record; PolygonError: a polygon is degenerate or self-intersecting.
    """
    polys = getattr(face, "polygons", None)
    if polys is None:
        raise MaskError(f"face: expected an fs_faceset.Face (with polygons), got {type(face).__name__}")
    return PolygonLabels(tuple(Polygon(k, np.asarray(p), allow_self_intersection) for k, p in polys))


def rasterise_face_labels(face: Any, *, allow_self_intersection: bool = False) -> npt.NDArray[np.float32] | None:
    """The face's polygon labels as an ``S x S`` float32 mask, or ``None`` when it has no polygons."""
    labels = labels_from_face(face, allow_self_intersection=allow_self_intersection)
    if not labels:
        return None
    return labels.rasterise(int(face.image.shape[0]))


def face_with_labels(face: Any, labels: PolygonLabels) -> Any:
    """A copy of an :class:`fs_faceset.Face` carrying ``labels`` as its polygons (order and kinds kept).

    Raises:
        PolygonError: a polygon lies wholly outside the face.
    """
    import dataclasses

    labels.rasterise(int(face.image.shape[0]))  # checks every polygon touches the face
    return dataclasses.replace(face, polygons=tuple((p.kind, p.points) for p in labels.polygons))
