"""faceswap interop: read an alignments file (``.fsa``: zlib-compressed pickle) and its aligned face PNGs.

The ``.fsa`` pickle goes through the restricted reader (:mod:`fs_faceset._safepickle`): plain data and numpy
numeric arrays only, nothing executed. A face PNG's ``faceswap`` iTXt header (a Python literal, read with
:func:`ast.literal_eval`, which evaluates literals only) names its frame and face index; without a header the
file name ``<frame stem>_<face index>.png`` is used. Landmarks and the box come from the alignments file (the
user's edits live there); ``image_to_face`` is rebuilt with faceswap's "head" centring (its default since 2.0).
"""

from __future__ import annotations

import ast
import re
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fs_align import FaceType
from fs_faceset._faceswap_geometry import head_matrix
from fs_faceset._report import ImportReport
from fs_faceset._safepickle import safe_unpickle
from fs_faceset.errors import FacesetError, FacesetFormatError
from fs_faceset.face import Face
from fs_faceset.faceset import FacesetWriter

__all__ = ["import_faceswap", "read_alignments", "read_png_header"]

_MAX_FSA = 1 << 30
_MAX_HEADER = 16 << 20
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def read_alignments(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Read a faceswap ``.fsa`` alignments file: frame name -> list of face dicts (``x, y, w, h, landmarks_xy,
    mask, identity``...).

    Raises:
        FacesetFormatError: not zlib, too large, a refused pickle, an unsupported (pre-2.0) version.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, _MAX_FSA)
        if inflater.unconsumed_tail:
            raise FacesetFormatError(f"{path}: alignments decompress to more than {_MAX_FSA} bytes")
    except OSError as exc:
        raise FacesetFormatError(f"{path}: cannot read: {exc}") from exc
    except zlib.error as exc:
        raise FacesetFormatError(f"{path}: not a faceswap .fsa file (zlib: {exc})") from exc
    doc = safe_unpickle(data, str(path))
    if not isinstance(doc, dict) or not isinstance(doc.get("__data__"), dict):
        raise FacesetFormatError(f"{path}: no __data__ in the alignments (faceswap < 2.0 files are not supported)")
    meta = doc.get("__meta__", {})
    version = meta.get("version", 1.0) if isinstance(meta, dict) else 1.0
    if not isinstance(version, (int, float)) or version < 2.0:
        raise FacesetFormatError(f"{path}: alignments version {version!r}; fs reads faceswap 2.0 and later")
    out: dict[str, list[dict[str, Any]]] = {}
    for frame, entry in doc["__data__"].items():
        faces = entry.get("faces", []) if isinstance(entry, dict) else None
        if not isinstance(frame, str) or not isinstance(faces, list) or not all(isinstance(f, dict) for f in faces):
            raise FacesetFormatError(f"{path}: malformed entry for frame {frame!r}")
        out[frame] = faces
    return out


def read_png_header(path: str | Path) -> dict[str, Any] | None:
    """The ``faceswap`` iTXt header of a face PNG as a dict, or ``None`` when there is none.

    Raises:
        FacesetFormatError: not a PNG, a truncated chunk, or a header that is not a plain literal.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FacesetFormatError(f"{path}: cannot read: {exc}") from exc
    if not data.startswith(_PNG_SIG):
        raise FacesetFormatError(f"{path}: not a PNG file")
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise FacesetFormatError(f"{path}: truncated PNG chunk {kind!r}")
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"iTXt" and body.startswith(b"faceswap\0"):
            return _parse_itxt(body[len(b"faceswap\0") :], path)
        pos += 12 + length
    raise FacesetFormatError(f"{path}: truncated PNG (no image data)")


def _parse_itxt(rest: bytes, path: Path) -> dict[str, Any]:
    try:
        flag = rest[0]
        lang_end = rest.index(b"\0", 2)
        trans_end = rest.index(b"\0", lang_end + 1)
        text = rest[trans_end + 1 :]
        if flag:
            inflater = zlib.decompressobj()
            text = inflater.decompress(text, _MAX_HEADER)
        if len(text) > _MAX_HEADER:
            raise FacesetFormatError(f"{path}: faceswap PNG header is larger than {_MAX_HEADER} bytes")
        value = ast.literal_eval(text.decode("utf-8"))
    except (IndexError, ValueError, SyntaxError, UnicodeDecodeError, zlib.error, RecursionError, MemoryError) as exc:
        raise FacesetFormatError(f"{path}: faceswap PNG header is not a plain literal ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise FacesetFormatError(f"{path}: faceswap PNG header is not a dict")
    return value


def _locate(png: Path, frames: dict[str, list[dict[str, Any]]]) -> tuple[str, int]:
    header = read_png_header(png)
    source = header.get("source") if header else None
    if isinstance(source, dict) and isinstance(source.get("source_filename"), str):
        return source["source_filename"], int(source.get("face_index", 0))
    m = re.match(r"^(.*)_(\d+)$", png.stem)
    if not m:
        raise FacesetFormatError(f"{png}: no faceswap header and the name is not <frame>_<index>.png")
    stems = {Path(k).stem: k for k in frames}
    if m.group(1) not in stems:
        raise FacesetFormatError(f"{png}: frame {m.group(1)!r} is not in the alignments file")
    return stems[m.group(1)], int(m.group(2))


def _face(png: Path, frame: str, entry: dict[str, Any], mask_type: str | None) -> Face:
    img = cv2.imread(str(png), cv2.IMREAD_COLOR)
    if img is None or img.shape[0] != img.shape[1]:
        raise FacesetFormatError(f"{png}: does not decode to a square BGR face")
    size = img.shape[0]
    try:
        lms = np.asarray(entry["landmarks_xy"], np.float32)
        box = [float(entry[k]) for k in ("x", "y", "w", "h")]
    except (KeyError, TypeError, ValueError) as exc:
        raise FacesetFormatError(f"{png}: alignments entry for {frame!r} lacks landmarks or box ({exc!r})") from None
    if lms.shape != (68, 2) or not np.all(np.isfinite(lms)):
        raise FacesetFormatError(f"{png}: fs imports 68-point faceswap landmarks, got shape {lms.shape}")
    mat = head_matrix(lms, size)
    mask = None
    masks = entry.get("mask") or {}
    if mask_type is not None and isinstance(masks, dict) and isinstance(masks.get(mask_type), dict):
        m = masks[mask_type]
        try:
            stored = int(m["stored_size"])
            raw = np.frombuffer(zlib.decompress(bytes(m["mask"])), np.uint8).reshape(stored, stored)
            to_mask = np.vstack([np.asarray(m["affine_matrix"], np.float64).reshape(2, 3), [0, 0, 1]])
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise FacesetFormatError(f"{png}: malformed {mask_type!r} mask ({exc!r})") from None
        face_from_mask = np.vstack([mat.astype(np.float64), [0, 0, 1]]) @ np.linalg.inv(to_mask)
        mask = cv2.warpAffine(raw, face_from_mask[:2], (size, size), flags=cv2.INTER_LINEAR)
    ident = entry.get("identity") or {}
    emb = next((np.asarray(v, np.float32) for v in ident.values()), None) if isinstance(ident, dict) else None
    digits = re.search(r"(\d+)$", Path(frame).stem)
    try:
        return Face(
            image=np.asarray(img, np.uint8),
            face_type=FaceType.HEAD,
            landmarks=lms @ mat[:, :2].T + mat[:, 2],
            source_landmarks=lms,
            image_to_face=mat,
            source_rect=np.array([box[0], box[1], box[0] + box[2], box[1] + box[3]], np.float32),
            source_path=frame,
            frame_index=int(digits.group(1)) if digits and len(digits.group(1)) < 12 else 0,
            mask=None if mask is None else np.asarray(mask, np.uint8),
            embedding=emb if emb is not None and emb.ndim == 1 and emb.size else None,
            tags=("faceswap",),
        )
    except ValueError as exc:
        raise FacesetFormatError(f"{png}: alignments do not form a valid face: {exc}") from exc


def import_faceswap(
    alignments: str | Path,
    faces_dir: str | Path,
    dest: str | Path,
    *,
    mask_type: str | None = None,
    append: bool = False,
    image_codec: str = "raw",
) -> ImportReport:
    """Import faceswap's aligned face PNGs (``faces_dir``) with their alignments file into the faceset ``dest``.

    Args:
        alignments: the ``.fsa`` file.
        faces_dir: folder of faceswap face PNGs (head-centred, as faceswap 2.x extracts them).
        dest: the faceset folder to write.
        mask_type: a faceswap mask name (``"components"``, ``"bisenet-fp_face"``...) to import as the face mask.
        append: add to an existing faceset.
        image_codec: storage codec of a new faceset.

    Per-file problems (no header and an unparseable name, a frame or face index missing from the alignments,
    a bad image) skip the file and are listed in the report.

    Raises:
        FacesetFormatError: the alignments file itself is unreadable or refused.
        FacesetError: ``faces_dir`` is not a folder.
    """
    frames = read_alignments(alignments)
    folder = Path(faces_dir)
    if not folder.is_dir():
        raise FacesetError(f"{folder}: not a folder of faceswap face PNGs")
    ids: list[str] = []
    skipped: list[tuple[Path, str]] = []
    with FacesetWriter(dest, append=append, image_codec=image_codec) as writer:
        for png in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png"):
            try:
                frame, index = _locate(png, frames)
                faces = frames.get(frame)
                if faces is None or not 0 <= index < len(faces):
                    raise FacesetFormatError(f"{png}: face {index} of frame {frame!r} is not in the alignments")
                ids.append(writer.add(_face(png, frame, faces[index], mask_type)))
            except FacesetError as exc:
                skipped.append((png, str(exc)))
    return ImportReport(Path(dest), tuple(ids), tuple(skipped))
