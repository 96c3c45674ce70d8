"""The faceset side of the UI: pages of faces, thumbnails with overlays, remove / restore, polygon labels.

Each faceset has one lock in this server: every change re-reads the faceset from disk under it and writes
through fs-faceset's atomic public API (``remove``, ``restore``, ``Faceset.set_polygons``), so two tabs editing
the same faceset never overwrite each other. Polygon edits are also versioned per face: a save names the
version it started from and is refused (409, with the current labels) when another tab saved first.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

import fs_faceset
from fs_faceset import Faceset, FacesetError, sort
from fs_ui.errors import UiError

__all__ = ["SORT_KEYS", "Conflict", "FacesetService"]

U8 = npt.NDArray[np.uint8]

SORT_KEYS: dict[str, Callable[[Faceset], npt.NDArray[np.int64]]] = {
    "blur": sort.by_blur,
    "motion-blur": sort.by_motion_blur,
    "brightness": sort.by_brightness,
    "hue": sort.by_hue,
    "black-border": sort.by_black_border,
    "hist": sort.by_hist,
    "hist-dissim": sort.by_hist_dissim,
    "hist-blur": sort.by_hist_blur,
    "yaw": sort.by_yaw,
    "pitch": sort.by_pitch,
    "face-size": sort.by_face_size,
    "final": sort.final,
}
"""fs_faceset.sort keys by name (``"index"``, the faceset's own order, is the default)."""

_INCLUDE, _EXCLUDE = (60, 220, 60), (60, 60, 235)


class Conflict(Exception):
    """A polygon save based on a version another tab has replaced."""

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__("the face's labels changed since this tab loaded them")
        self.current = current


@dataclass
class _Opened:
    stamp: tuple[int, int, int]
    fs: Faceset
    pos: dict[str, int]


def polygons_json(face: fs_faceset.Face) -> list[dict[str, Any]]:
    """A face's polygons as ``[{"kind": "include", "points": [[x, y], ...]}, ...]`` in drawing order."""
    return [{"kind": k.value, "points": np.round(p.astype(np.float64), 3).tolist()} for k, p in face.polygons]


def labels_version(polygons: list[dict[str, Any]]) -> str:
    """A short hash of a face's labels (the optimistic version of the mask editor)."""
    return hashlib.sha256(json.dumps(polygons, sort_keys=True).encode()).hexdigest()[:16]


class FacesetService:
    """One faceset folder as the UI sees it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._opened: _Opened | None = None
        self._orders: dict[tuple[str, tuple[int, int, int]], list[str]] = {}
        self._xseg: Any = None

    # -- reading ----------------------------------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int, int]:
        st = (self.path / "index.json").stat()
        return st.st_mtime_ns, st.st_size, st.st_ino

    def current(self) -> tuple[Faceset, dict[str, int]]:
        """The faceset as on disk now (reopened when ``index.json`` changed) and its id -> position table."""
        with self.lock:
            stamp = self._stamp()
            if self._opened is None or self._opened.stamp != stamp:
                fs = Faceset.open(self.path)
                self._opened = _Opened(stamp, fs, {fid: i for i, fid in enumerate(fs.ids)})
            return self._opened.fs, self._opened.pos

    def summary(self) -> dict[str, Any]:
        fs, _ = self.current()
        removed = len(Faceset.open(self.path, include_removed=True)) - len(fs)
        return {"name": self.path.name, "count": len(fs), "removed": removed, "size": fs.size}

    def order(self, key: str) -> list[str]:
        """Face ids of the faceset in ``key``'s order (cached per key until the faceset changes)."""
        fs, _ = self.current()
        if key == "index":
            return fs.ids
        if key not in SORT_KEYS:
            raise UiError(f"sort: unknown key {key!r}; known: index, {', '.join(SORT_KEYS)}")
        cache_key = (key, self._stamp())
        if cache_key not in self._orders:
            ids = fs.ids
            self._orders = {k: v for k, v in self._orders.items() if k[0] != key}
            self._orders[cache_key] = [ids[int(i)] for i in SORT_KEYS[key](fs)]
        return self._orders[cache_key]

    def page(self, offset: int, limit: int, key: str) -> dict[str, Any]:
        ids = self.order(key)
        fs, pos = self.current()
        chosen = ids[max(0, offset) : max(0, offset) + max(1, min(limit, 500))]
        rows = [pos[i] for i in chosen]
        frames = fs.column("frame_index", rows).tolist() if rows else []
        sources = fs.source_paths
        faces = [{"id": i, "frame": int(f), "source": Path(sources[r]).name} for i, r, f in zip(chosen, rows, frames)]
        return {**self.summary(), "offset": offset, "sort": key, "faces": faces}

    def face(self, face_id: str) -> fs_faceset.Face:
        fs, pos = self.current()
        if face_id not in pos:
            raise UiError(f"{self.path}: no face {face_id!r}")
        return fs[pos[face_id]]

    def face_info(self, face_id: str) -> dict[str, Any]:
        face = self.face(face_id)
        polys = polygons_json(face)
        return {"id": face_id, "size": face.size, "landmarks": np.round(face.landmarks, 2).tolist(),
                "polygons": polys, "version": labels_version(polys), "has_mask": face.mask is not None,
                "frame": face.frame_index, "source": Path(face.source_path).name}  # fmt: skip

    def thumbnail(self, face_id: str, size: int, overlays: set[str]) -> U8:
        """The face (``size`` px, BGR) with the requested overlays drawn: landmarks, mask, polygons."""
        face = self.face(face_id)
        img = np.ascontiguousarray(face.image)
        scale = size / face.size
        img = np.asarray(
            cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR), np.uint8
        )
        if "mask" in overlays and face.mask is not None:
            m = cv2.resize(face.mask, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255
            tint = np.array([255, 120, 0], np.float32)
            img = np.clip(img * (0.55 + 0.45 * m) + tint * 0.35 * (1 - m), 0, 255).astype(np.uint8)
        if "polygons" in overlays:
            for kind, pts in face.polygons:
                colour = _INCLUDE if kind.value == "include" else _EXCLUDE
                ring = np.round(pts * scale * 16).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(img, [ring], True, colour, 1 if size < 160 else 2, cv2.LINE_AA, shift=4)
        if "landmarks" in overlays:
            r = 1 if size < 160 else 2
            for x, y in face.landmarks * scale:
                cv2.circle(img, (round(x * 16), round(y * 16)), r * 16, (0, 255, 255), -1, cv2.LINE_AA, 4)
        return img

    def labels_mask(self, face_id: str) -> U8:
        """The face's polygons rasterised as XSeg trains from them (fs_mask), 0/255."""
        from fs_mask import rasterise_face_labels

        face = self.face(face_id)
        mask = rasterise_face_labels(face, allow_self_intersection=True)
        if mask is None:
            return np.zeros((face.size, face.size), np.uint8)
        return np.asarray(np.round(mask * 255), np.uint8)

    def xseg_mask(self, face_id: str, xseg: Path, device: str) -> U8:
        """The XSeg net's prediction for the face, 0/255 (the net is loaded once)."""
        from fs_mask import load_xseg, predict_masks

        with self.lock:
            if self._xseg is None:
                self._xseg = load_xseg(xseg, device=device)
        face = self.face(face_id)
        pred = predict_masks(self._xseg, np.asarray(face.image)[None], device=device)[0]
        return np.asarray(np.round(pred * 255), np.uint8)

    # -- changing ---------------------------------------------------------------------------------------------
    def remove(self, ids: list[str]) -> dict[str, Any]:
        return self._change(fs_faceset.remove, ids)

    def restore(self, ids: list[str] | None) -> dict[str, Any]:
        return self._change(fs_faceset.restore, ids)

    def _change(self, op: Any, ids: list[str] | None) -> dict[str, Any]:
        """Run one fs-faceset update under this faceset's lock; the new summary."""
        with self.lock:
            try:
                op(self.path, ids)
            except FacesetError as exc:
                raise UiError(str(exc)) from None
            return self.summary()

    def set_polygons(self, face_id: str, version: str, polygons: Any) -> dict[str, Any]:
        """Store a face's labels if ``version`` is still current; checked as XSeg labels (fs_mask.Polygon)."""
        from fs_mask import Polygon, PolygonError

        if not isinstance(polygons, list):
            raise UiError("polygons: expected a list of {kind, points}")
        checked = []
        try:
            for i, p in enumerate(polygons):
                if not isinstance(p, dict):
                    raise UiError(f"polygons[{i}]: expected {{kind, points}}")
                poly = Polygon(p.get("kind"), np.asarray(p.get("points"), dtype=np.float64))  # type: ignore[arg-type]
                checked.append((poly.kind.value, poly.points))
        except (PolygonError, ValueError, TypeError) as exc:
            raise UiError(f"polygons: {exc}") from None
        with self.lock:
            fs, pos = self.current()
            if face_id not in pos:
                raise UiError(f"{self.path}: no face {face_id!r}")
            info = self.face_info(face_id)
            if info["version"] != version:
                raise Conflict(info)
            try:
                fs.set_polygons([face_id], [checked])
            except FacesetError as exc:
                raise UiError(str(exc)) from None
            return self.face_info(face_id)
