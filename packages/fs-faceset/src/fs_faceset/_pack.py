"""Pack faces into one shard's tensors and metadata, and unpack a shard row back into a :class:`Face`."""

from __future__ import annotations

import enum
import hashlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import Pose
from fs_faceset._shard import Rows
from fs_faceset.errors import FacesetError, FacesetFormatError
from fs_faceset.face import Face, PolygonKind

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "READ_VERSIONS", "ImageCodec", "ShardData", "content_id", "pack_faces"]

FORMAT_NAME = "fs-faceset"
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
"""Index and shard versions this fs-faceset reads (it writes :data:`FORMAT_VERSION`)."""


class ImageCodec(enum.Enum):
    """How a faceset stores its aligned images."""

    RAW = "raw"
    """Raw ``N x S x S x 3`` uint8, memory-mapped with no decode (fast random access, ~4-10x larger)."""
    PNG = "png"
    """Lossless PNG bytes (smaller, but every read decodes)."""
    JPEG = "jpeg"
    """JPEG bytes at quality 95 (smallest, lossy, every read decodes)."""


def content_id(face: Face) -> str:
    """A 16-hex-digit id, stable across runs: CRC-32 of the image pixels (fast; the image is the bulk) followed
    by 32 bits of BLAKE2b over the landmarks, source path and frame index."""
    h = hashlib.blake2b(digest_size=4)
    h.update(np.ascontiguousarray(face.source_landmarks).data)
    h.update(f"{face.source_path}\0{face.frame_index}".encode())
    return f"{zlib.crc32(np.ascontiguousarray(face.image).data):08x}{h.hexdigest()}"


def _encode(img: npt.NDArray[np.uint8], codec: ImageCodec) -> bytes:
    if codec is ImageCodec.PNG:
        ok, buf = cv2.imencode(".png", img, [int(cv2.IMWRITE_PNG_COMPRESSION), 1])
    else:
        ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), 95])
    if not ok:
        raise FacesetError(f"could not encode an image as {codec.value}")
    return bytes(buf)


def pack_faces(faces: Sequence[Face], ids: Sequence[str], codec: ImageCodec) -> tuple[dict[str, Any], dict[str, str]]:
    """Tensors and header metadata of one shard holding ``faces`` (all the same size)."""
    n = len(faces)
    size = faces[0].size
    t: dict[str, Any] = {}
    if codec is ImageCodec.RAW:
        t["images"] = Rows([f.image for f in faces], (size, size, 3), np.uint8)
    else:
        blobs = [_encode(f.image, codec) for f in faces]
        t["image_bytes"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        t["image_offsets"] = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    t["landmarks"] = np.stack([f.landmarks for f in faces]).astype(np.float32)
    t["source_landmarks"] = np.stack([f.source_landmarks for f in faces]).astype(np.float32)
    t["image_to_face"] = np.stack([f.image_to_face for f in faces]).astype(np.float32)
    t["source_rect"] = np.array([np.asarray(f.source_rect) for f in faces], dtype=np.float32)
    t["frame_index"] = np.array([f.frame_index for f in faces], dtype=np.int64)
    t["score"] = np.array([f.score for f in faces], dtype=np.float32)
    nan3 = (np.nan, np.nan, np.nan)
    t["pose"] = np.array([(f.pose.pitch, f.pose.yaw, f.pose.roll) if f.pose else nan3 for f in faces], np.float32)
    masked = [f.mask for f in faces if f.mask is not None]
    t["masks"] = Rows(masked, (size, size), np.uint8)
    t["mask_index"] = np.cumsum([f.mask is not None for f in faces], dtype=np.int32) - 1
    t["mask_index"][[f.mask is None for f in faces]] = -1
    embs = [f.embedding for f in faces if f.embedding is not None]
    if embs and len({e.shape for e in embs}) != 1:
        raise FacesetError(f"embeddings in one faceset must share a length, got {sorted({e.size for e in embs})}")
    t["embeddings"] = np.stack(embs).astype(np.float32) if embs else np.zeros((0, 0), np.float32)
    t["embedding_index"] = np.cumsum([f.embedding is not None for f in faces], dtype=np.int32) - 1
    t["embedding_index"][[f.embedding is None for f in faces]] = -1
    polys: list[npt.NDArray[np.float32]] = []
    include: list[int] = []
    per_face = [0]
    for f in faces:
        polys.extend(p for _, p in f.polygons)
        include.extend(int(k is PolygonKind.INCLUDE) for k, _ in f.polygons)
        per_face.append(len(polys))
    t["poly_points"] = np.concatenate(polys).astype(np.float32) if polys else np.zeros((0, 2), np.float32)
    t["poly_offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in polys])]).astype(np.int64)
    t["poly_include"] = np.array(include, dtype=np.uint8)
    t["face_poly_offsets"] = np.array(per_face, dtype=np.int64)
    meta = {
        "format": FORMAT_NAME,
        "version": str(FORMAT_VERSION),
        "count": str(n),
        "size": str(size),
        "image_codec": codec.value,
        "ids": json.dumps(list(ids)),
        "face_types": json.dumps([f.face_type.value for f in faces]),
        "source_paths": json.dumps([f.source_path for f in faces]),
        "tags": json.dumps([list(f.tags) for f in faces]),
    }
    return t, meta


class ShardData:
    """One shard's tensors (memory-mapped) and decoded metadata, checked for mutual consistency."""

    REQUIRED = (
        "landmarks", "source_landmarks", "image_to_face", "source_rect", "frame_index", "score", "pose",
        "masks", "mask_index", "embeddings", "embedding_index", "poly_points", "poly_offsets", "poly_include",
        "face_poly_offsets",
    )  # fmt: skip

    def __init__(self, path: Any, tensors: dict[str, npt.NDArray[Any]], meta: dict[str, str]) -> None:
        self.path = path
        self.meta = dict(meta)
        bad = FacesetFormatError
        if meta.get("format") != FORMAT_NAME:
            raise bad(f"{path}: not an fs-faceset shard (format {meta.get('format')!r})")
        if meta.get("version") not in {str(v) for v in READ_VERSIONS}:
            raise bad(f"{path}: shard format version {meta.get('version')!r}; this fs-faceset reads {READ_VERSIONS}")
        try:
            self.count = int(meta["count"])
            self.size = int(meta["size"])
            self.codec = ImageCodec(meta["image_codec"])
            self.ids: list[str] = json.loads(meta["ids"])
            self.face_types: list[str] = json.loads(meta["face_types"])
            self.source_paths: list[str] = json.loads(meta["source_paths"])
            self.tags: list[list[str]] = json.loads(meta["tags"])
        except (KeyError, ValueError, TypeError, RecursionError) as exc:
            raise bad(f"{path}: shard metadata is malformed ({exc!r})") from exc
        n, s = self.count, self.size
        for name, lst in (("ids", self.ids), ("face_types", self.face_types), ("source_paths", self.source_paths)):
            if not isinstance(lst, list) or len(lst) != n or not all(isinstance(x, str) for x in lst):
                raise bad(f"{path}: metadata {name!r} must list {n} strings")
        if (
            not isinstance(self.tags, list)
            or len(self.tags) != n
            or not all(isinstance(t, list) and all(isinstance(x, str) for x in t) for t in self.tags)
        ):
            raise bad(f"{path}: metadata 'tags' must list {n} lists of strings")
        missing = [k for k in self.REQUIRED if k not in tensors]
        img_keys = ("images",) if self.codec is ImageCodec.RAW else ("image_bytes", "image_offsets")
        missing += [k for k in img_keys if k not in tensors]
        if missing:
            raise bad(f"{path}: shard lacks tensors {missing}")
        expect = {
            "landmarks": (n, 68, 2), "source_landmarks": (n, 68, 2), "image_to_face": (n, 2, 3),
            "source_rect": (n, 4), "frame_index": (n,), "score": (n,), "pose": (n, 3), "mask_index": (n,),
            "embedding_index": (n,), "face_poly_offsets": (n + 1,),
        }  # fmt: skip
        if self.codec is ImageCodec.RAW:
            expect["images"] = (n, s, s, 3)
        else:
            expect["image_offsets"] = (n + 1,)
        for k, shape in expect.items():
            if tensors[k].shape != shape:
                raise bad(f"{path}: tensor {k!r} has shape {tensors[k].shape}, expected {shape}")
        m, e = tensors["masks"], tensors["embeddings"]
        if m.ndim != 3 or m.shape[1:] != (s, s) or e.ndim != 2:
            raise bad(f"{path}: tensors 'masks' {m.shape} / 'embeddings' {e.shape} do not fit size {s}")
        for idx, tab in (("mask_index", m), ("embedding_index", e)):
            ix = np.asarray(tensors[idx])
            if n and (ix.min() < -1 or ix.max() >= len(tab)):
                raise bad(f"{path}: {idx!r} points outside its table of {len(tab)} rows")
        pts, offs = tensors["poly_points"], np.asarray(tensors["poly_offsets"])
        fpo, inc = np.asarray(tensors["face_poly_offsets"]), tensors["poly_include"]
        if pts.ndim != 2 or pts.shape[1] != 2 or offs.ndim != 1 or len(offs) != len(inc) + 1:
            raise bad(f"{path}: polygon tensors have inconsistent shapes")
        _check_offsets(path, "poly_offsets", offs, len(pts))
        _check_offsets(path, "face_poly_offsets", fpo, len(inc))
        if self.codec is not ImageCodec.RAW:
            _check_offsets(path, "image_offsets", np.asarray(tensors["image_offsets"]), len(tensors["image_bytes"]))
        self.t = tensors

    def image(self, row: int) -> npt.NDArray[np.uint8]:
        """The aligned image of one row (a memory-mapped view when raw, decoded otherwise)."""
        if self.codec is ImageCodec.RAW:
            return self.t["images"][row]  # type: ignore[no-any-return]
        a, b = self.t["image_offsets"][row : row + 2]
        img = cv2.imdecode(np.asarray(self.t["image_bytes"][a:b]), cv2.IMREAD_COLOR)
        if img is None or img.shape != (self.size, self.size, 3):
            raise FacesetFormatError(f"{self.path}: image of row {row} does not decode to {self.size}x{self.size}x3")
        return np.asarray(img, dtype=np.uint8)

    def face(self, row: int) -> Face:
        """Rebuild row ``row`` as a :class:`Face` (arrays copied out of the maps)."""
        t = self.t
        mi, ei = int(t["mask_index"][row]), int(t["embedding_index"][row])
        a, b = (int(x) for x in t["face_poly_offsets"][row : row + 2])
        offs, inc = t["poly_offsets"], t["poly_include"]
        kinds = (PolygonKind.EXCLUDE, PolygonKind.INCLUDE)
        polys = tuple((kinds[int(inc[q]) & 1], np.array(t["poly_points"][offs[q] : offs[q + 1]])) for q in range(a, b))
        pose = np.asarray(t["pose"][row], dtype=np.float64)
        try:
            return Face(
                image=np.array(self.image(row)),
                face_type=self.face_types[row],  # type: ignore[arg-type]
                landmarks=np.array(t["landmarks"][row]),
                source_landmarks=np.array(t["source_landmarks"][row]),
                image_to_face=np.array(t["image_to_face"][row]),
                source_rect=np.array(t["source_rect"][row]),
                source_path=self.source_paths[row],
                frame_index=int(t["frame_index"][row]),
                score=float(t["score"][row]),
                mask=None if mi < 0 else np.array(t["masks"][mi]),
                polygons=polys,
                embedding=None if ei < 0 else np.array(t["embeddings"][ei]),
                pose=None if np.isnan(pose).any() else Pose(*(float(v) for v in pose)),
                tags=tuple(self.tags[row]),
                id=self.ids[row],
            )
        except (ValueError, TypeError) as exc:
            raise FacesetFormatError(f"{self.path}: row {row} does not form a valid face: {exc}") from exc


def _check_offsets(path: Any, name: str, offs: npt.NDArray[Any], total: int) -> None:
    if len(offs) == 0 or offs[0] != 0 or offs[-1] != total or np.any(np.diff(offs) < 0):
        raise FacesetFormatError(f"{path}: {name!r} is not a non-decreasing 0..{total} offset table")
