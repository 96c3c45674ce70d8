"""Read and write polygon labels as LabelMe JSON, so faces can be labelled with an existing tool.

Export: one ``<name>.json`` per face beside a ``<name>.png`` of the aligned face (LabelMe opens the JSON and
finds the image through ``imagePath``). Shapes are ``"polygon"`` with label ``"include"`` or ``"exclude"``, in
drawing order. Import maps labels through ``label_map`` (default: ``include``/``face`` -> include,
``exclude``/``occlusion``/``obstruction`` -> exclude; case-insensitive); ``"rectangle"`` shapes become 4-point
polygons; other shape types and unknown labels raise :class:`~fs_mask.polygons.PolygonError` naming the file.
Files are written atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fs_align import atomic_write
from fs_mask.polygons import Polygon, PolygonError, PolygonKind, PolygonLabels

__all__ = ["DEFAULT_LABEL_MAP", "read_labelme", "to_labelme", "write_labelme"]

DEFAULT_LABEL_MAP: Mapping[str, PolygonKind] = {
    "include": PolygonKind.INCLUDE,
    "face": PolygonKind.INCLUDE,
    "exclude": PolygonKind.EXCLUDE,
    "occlusion": PolygonKind.EXCLUDE,
    "obstruction": PolygonKind.EXCLUDE,
}
_LABELME_VERSION = "5.4.1"


def to_labelme(labels: PolygonLabels, size: int, image_path: str) -> dict[str, Any]:
    """The LabelMe document (a dict ready for ``json.dump``) for ``labels`` on a ``size x size`` face image."""
    shapes: list[dict[str, Any]] = [
        {
            "label": p.kind.value,
            "points": [[float(x), float(y)] for x, y in p.points],
            "group_id": None,
            "description": "",
            "shape_type": "polygon",
            "flags": {},
        }
        for p in labels.polygons
    ]
    return {
        "version": _LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": int(size),
        "imageWidth": int(size),
    }


def write_labelme(path: str | Path, labels: PolygonLabels, size: int, image_path: str | None = None) -> Path:
    """Write ``labels`` as LabelMe JSON at ``path`` (atomic); ``image_path`` defaults to ``<stem>.png``."""
    target = Path(path)
    doc = to_labelme(labels, size, image_path or f"{target.stem}.png")
    return atomic_write(target, json.dumps(doc, indent=1))


def _shape_points(shape: Mapping[str, Any], where: str) -> np.ndarray:
    kind = shape.get("shape_type", "polygon") or "polygon"
    try:
        pts = np.asarray(shape.get("points"), dtype=np.float64)
    except (TypeError, ValueError):
        raise PolygonError(f"{where}: points are not a list of [x, y] numbers") from None
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise PolygonError(f"{where}: points are not a list of [x, y] pairs (shape {pts.shape})")
    if kind == "rectangle":
        if len(pts) != 2:
            raise PolygonError(f"{where}: a rectangle needs 2 corner points, got {len(pts)}")
        (x0, y0), (x1, y1) = pts
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    if kind != "polygon":
        raise PolygonError(f"{where}: shape_type {kind!r} is not supported (use polygon or rectangle)")
    return pts


def read_labelme(
    path: str | Path,
    *,
    size: int | None = None,
    label_map: Mapping[str, PolygonKind] = DEFAULT_LABEL_MAP,
    allow_self_intersection: bool = False,
) -> PolygonLabels:
    """Read a LabelMe JSON file into :class:`PolygonLabels` (shapes in file order).

    Args:
        path: the ``.json`` file.
        size: the face size the labels must belong to; when given, ``imageWidth``/``imageHeight`` must match
            (a label drawn on a 512 px export does not fit a 256 px face). ``None`` skips the check.
        label_map: lower-case label -> kind.
        allow_self_intersection: keep crossing polygons instead of raising.

    Raises:
        PolygonError: unreadable/malformed JSON, a size mismatch, an unknown label or shape type, or a bad
            polygon (the message names the file and the shape index).
    """
    file = Path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolygonError(f"{file}: not a readable LabelMe JSON file: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise PolygonError(f"{file}: not a LabelMe document (no 'shapes' list)")
    if size is not None:
        w, h = doc.get("imageWidth"), doc.get("imageHeight")
        if (w, h) != (size, size):
            raise PolygonError(f"{file}: labels are for a {w}x{h} image, the face is {size}x{size}")
    lookup = {k.lower(): v for k, v in label_map.items()}
    polys = []
    for i, shape in enumerate(doc["shapes"]):
        where = f"{file}: shape {i}"
        if not isinstance(shape, dict):
            raise PolygonError(f"{where}: not an object")
        label = str(shape.get("label", "")).strip().lower()
        if label not in lookup:
            raise PolygonError(f"{where}: unknown label {label!r}; known: {', '.join(sorted(lookup))}")
        pts = _shape_points(shape, where)
        try:
            polys.append(Polygon(lookup[label], pts, allow_self_intersection))
        except PolygonError as exc:
            raise PolygonError(f"{where}: {exc}") from exc
    return PolygonLabels(tuple(polys))
