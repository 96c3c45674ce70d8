"""DeepFaceLab interop: read aligned JPGs (metadata pickled in the JPEG APP15 segment) and write them back.

Reading never unpickles: the APP15 bytes go through :func:`fs_faceset._safepickle.safe_unpickle`, which accepts
plain data and numpy numeric arrays only. Writing produces the dict DeepFaceLab's ``DFLJPG`` expects
(``face_type``, ``landmarks``, ``source_filename``, ``source_rect``, ``source_landmarks``,
``image_to_face_mat``, ``seg_ie_polys``, ``xseg_mask``, ``eyebrows_expand_mod``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import FaceType, umeyama
from fs_faceset._pickle_write import plain_pickle
from fs_faceset._report import ImportReport
from fs_faceset._safepickle import safe_unpickle
from fs_faceset.errors import FacesetError, FacesetFormatError
from fs_faceset.face import Face, PolygonKind
from fs_faceset.faceset import Faceset, FacesetWriter

__all__ = ["export_dfl", "import_dfl", "read_dfl_jpg"]

_TO_FS = {
    "half_face": FaceType.HALF,
    "midfull_face": FaceType.MID_FULL,
    "full_face": FaceType.FULL,
    "whole_face": FaceType.WHOLE_FACE,
    "head": FaceType.HEAD,
}
_TO_DFL = {v: k for k, v in _TO_FS.items()}
_APP15 = 0xEF
_MAX_SEGMENT = 65533
_MAX_MASK_BYTES = 50000


def _segments(data: bytes, what: str) -> list[tuple[int, int, int]]:
    """``(marker, payload_start, payload_end)`` of every header segment before the scan data."""
    if data[:2] != b"\xff\xd8":
        raise FacesetFormatError(f"{what}: not a JPEG file (no SOI marker)")
    out: list[tuple[int, int, int]] = []
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise FacesetFormatError(f"{what}: corrupt JPEG header at byte {pos}")
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker in (0xDA, 0xD9):
            return out
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if pos + 2 > n:
            raise FacesetFormatError(f"{what}: truncated JPEG segment at byte {pos}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > n:
            raise FacesetFormatError(f"{what}: JPEG segment length {length} runs past the end of the file")
        out.append((marker, pos + 2, pos + length))
        pos += length
    raise FacesetFormatError(f"{what}: JPEG has no image data (truncated)")


def _arr(value: Any, shape: tuple[int, ...], key: str, what: str) -> npt.NDArray[np.float32]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise FacesetFormatError(f"{what}: DFL key {key!r} is not numeric") from None
    if arr.shape != shape or not np.all(np.abs(arr) < 1e30):
        raise FacesetFormatError(f"{what}: DFL key {key!r} has shape {arr.shape} (expected {shape}) or bad values")
    return arr.astype(np.float32)


def _polys(raw: Any, what: str) -> list[tuple[PolygonKind, npt.NDArray[np.float32]]]:
    """DFL's ``seg_ie_polys`` as ordered (kind, points) pairs (type 1 = include, 0 = exclude; order kept)."""
    out: list[tuple[PolygonKind, npt.NDArray[np.float32]]] = []
    items = raw.get("polys", []) if isinstance(raw, dict) else raw if isinstance(raw, list) else None
    if items is None:
        raise FacesetFormatError(f"{what}: DFL seg_ie_polys is neither a dict nor a list")
    for item in items:
        kind, pts = (item.get("type"), item.get("pts")) if isinstance(item, dict) else tuple(item)[:2]
        arr = np.asarray(pts, dtype=np.float32).reshape(-1, 2)
        if arr.shape[0] >= 3 and np.all(np.isfinite(arr)):
            out.append((PolygonKind.INCLUDE if kind == 1 else PolygonKind.EXCLUDE, arr))
    return out


def read_dfl_jpg(path: str | Path) -> Face:
    """Read one DeepFaceLab aligned JPG into a :class:`Face` (tagged ``"dfl"``).

    Raises:
        FacesetFormatError: not a JPEG, no or malformed DFL metadata, a pickle holding anything but plain data,
            an unsupported face type (``*_no_align``, ``mark_only``), or arrays of the wrong shape.
    """
    path = Path(path)
    what = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FacesetFormatError(f"{what}: cannot read: {exc}") from exc
    app15 = [data[a:b] for m, a, b in _segments(data, what) if m == _APP15]
    if not app15:
        raise FacesetFormatError(f"{what}: no DeepFaceLab metadata (APP15 segment)")
    meta = safe_unpickle(app15[0], what)
    if not isinstance(meta, dict):
        raise FacesetFormatError(f"{what}: DFL metadata is not a dict")
    ft = _TO_FS.get(str(meta.get("face_type", "full_face")))
    if ft is None:
        raise FacesetFormatError(f"{what}: DFL face type {meta.get('face_type')!r} is not supported (no alignment)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.shape[0] != img.shape[1]:
        raise FacesetFormatError(f"{what}: image does not decode to a square BGR face")
    size = img.shape[0]
    if "landmarks" not in meta or "source_landmarks" not in meta:
        raise FacesetFormatError(f"{what}: DFL metadata lacks landmarks or source_landmarks")
    lm = _arr(meta["landmarks"], (68, 2), "landmarks", what)
    src = _arr(meta["source_landmarks"], (68, 2), "source_landmarks", what)
    if meta.get("image_to_face_mat") is not None:
        mat = _arr(meta["image_to_face_mat"], (2, 3), "image_to_face_mat", what)
    else:  # old DFL files: fit the similarity that maps frame landmarks onto face landmarks
        mat = np.asarray(umeyama(src, lm, estimate_scale=True), np.float32)[:2]
    rect = meta.get("source_rect")
    polys = _polys(meta["seg_ie_polys"], what) if meta.get("seg_ie_polys") is not None else []
    mask = None
    if isinstance(meta.get("xseg_mask"), (np.ndarray, bytes)):
        dec = cv2.imdecode(np.frombuffer(bytes(meta["xseg_mask"]), np.uint8), cv2.IMREAD_GRAYSCALE)
        if dec is None:
            raise FacesetFormatError(f"{what}: DFL xseg_mask does not decode")
        mask = cv2.resize(dec, (size, size), interpolation=cv2.INTER_LINEAR) if dec.shape != (size, size) else dec
    source = str(meta.get("source_filename") or "")
    stem = Path(source).stem
    try:
        return Face(
            image=np.asarray(img, np.uint8),
            face_type=ft,
            landmarks=lm,
            source_landmarks=src,
            image_to_face=mat,
            source_rect=None if rect is None else _arr(rect, (4,), "source_rect", what),
            source_path=source,
            frame_index=int(stem) if stem.isdigit() and len(stem) < 12 else 0,
            mask=None if mask is None else np.asarray(mask, np.uint8),
            polygons=tuple(polys),
            tags=("dfl",),
        )
    except ValueError as exc_:
        raise FacesetFormatError(f"{what}: DFL metadata does not form a valid face: {exc_}") from exc_


def import_dfl(
    src_dir: str | Path, dest: str | Path, *, append: bool = False, image_codec: str = "raw"
) -> ImportReport:
    """Import every ``*.jpg``/``*.jpeg`` of a DeepFaceLab ``aligned`` folder into the faceset ``dest``.

    Files that fail to read (no or bad metadata, refused pickle, foreign JPEG) are skipped and listed in the
    report with the reason; faces of a size other than the first face's are skipped too.

    Raises:
        FacesetError: ``src_dir`` is not a folder, or ``dest`` holds a faceset and ``append`` is false.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise FacesetError(f"{src}: not a folder of DeepFaceLab aligned JPGs")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file())
    ids: list[str] = []
    skipped: list[tuple[Path, str]] = []
    with FacesetWriter(dest, append=append, image_codec=image_codec) as writer:
        for file in files:
            try:
                ids.append(writer.add(read_dfl_jpg(file)))
            except FacesetError as exc:
                skipped.append((file, str(exc)))
    return ImportReport(Path(dest), tuple(ids), tuple(skipped))


def _mask_buffer(mask: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    ok, buf = cv2.imencode(".png", mask)
    quality = 100
    while not ok or len(buf) > _MAX_MASK_BYTES:
        if quality < 0:
            raise FacesetError("cannot fit the mask into DFL's 50 kB limit")
        ok, buf = cv2.imencode(".jpg", mask, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        quality -= 5
    return np.asarray(buf, dtype=np.uint8).reshape(-1)


def dfl_metadata(face: Face) -> dict[str, Any]:
    """The DeepFaceLab metadata dict of a face (plain lists; ``xseg_mask`` as an encoded uint8 array)."""
    meta: dict[str, Any] = {
        "face_type": _TO_DFL[face.face_type],
        "landmarks": face.landmarks.astype(float).tolist(),
        "eyebrows_expand_mod": 1.0,
        "source_filename": face.source_path,
        "source_rect": [int(np.rint(v)) for v in face.source_rect],  # type: ignore[union-attr]
        "source_landmarks": face.source_landmarks.astype(float).tolist(),
        "image_to_face_mat": face.image_to_face.astype(float).tolist(),
    }
    polys = [{"type": int(k is PolygonKind.INCLUDE), "pts": p.astype(float).tolist()} for k, p in face.polygons]
    if polys:
        meta["seg_ie_polys"] = {"polys": polys}
    if face.mask is not None:
        meta["xseg_mask"] = _mask_buffer(face.mask)
    return meta


def export_dfl(faceset: Faceset | str | Path, dest_dir: str | Path, *, quality: int = 95) -> list[Path]:
    """Write every face as a DeepFaceLab aligned JPG (``<source stem>_<n>.jpg``, metadata in APP15).

    Returns:
        the written files, in faceset order.

    Raises:
        FacesetError: ``quality`` outside 1-100, or a face whose metadata exceeds one JPEG segment (64 kB).
    """
    fs = faceset if isinstance(faceset, Faceset) else Faceset.open(faceset)
    if not 1 <= quality <= 100:
        raise FacesetError(f"quality: expected 1-100, got {quality}")
    out_dir = Path(dest_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    written = []
    for face in fs:
        ok, buf = cv2.imencode(".jpg", face.image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        if not ok:
            raise FacesetError(f"could not encode face {face.id} as JPEG")
        jpg = bytes(buf)
        payload = plain_pickle(dfl_metadata(face))
        if len(payload) > _MAX_SEGMENT:
            raise FacesetError(f"face {face.id}: DFL metadata is {len(payload)} bytes, over the 65533-byte limit")
        segs = _segments(jpg, f"face {face.id}")
        last_app = max((b for m, _, b in segs if 0xE0 <= m <= 0xEF), default=2)
        seg = b"\xff\xef" + (len(payload) + 2).to_bytes(2, "big") + payload
        stem = Path(face.source_path).stem or str(face.id)
        n = counts.get(stem, 0)
        counts[stem] = n + 1
        path = out_dir / f"{stem}_{n}.jpg"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(jpg[:last_app] + seg + jpg[last_app:])
        tmp.replace(path)
        written.append(path)
    return written
