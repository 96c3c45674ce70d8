"""The detector interface: input checks, downscaling, score/size filters, NMS and the rotated retry."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import ShapeError, as_bgr_uint8
from fs_detect._nms import nms_numpy
from fs_detect._types import Detection, DetectorConfig, DetectorName

if TYPE_CHECKING:
    import torch

__all__ = ["Detector", "RawDetections"]

_MAX_UNSCALED_SIDE = 8192
_ROTATIONS = (90, 180, 270)


@dataclass(frozen=True)
class RawDetections:
    """One frame's raw candidates in its pixels: boxes ``(N, 4)``, scores ``(N,)``, points ``(N, 5, 2)``."""

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    landmarks: npt.NDArray[np.float32]

    @staticmethod
    def empty() -> RawDetections:
        """No detections."""
        return RawDetections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))


def _rotate(image: npt.NDArray[np.uint8], angle: int) -> npt.NDArray[np.uint8]:
    code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[angle]
    return np.asarray(cv2.rotate(image, code), dtype=np.uint8)


def _unrotate_points(pts: npt.NDArray[np.float32], angle: int, w: int, h: int) -> npt.NDArray[np.float32]:
    """Map (x, y) points of the frame rotated clockwise by ``angle`` back to the ``w x h`` original frame."""
    x, y = pts[..., 0], pts[..., 1]
    if angle == 90:  # rotated frame is h wide: x_r = h - y, y_r = x
        out = np.stack([y, h - x], axis=-1)
    elif angle == 180:
        out = np.stack([w - x, h - y], axis=-1)
    elif angle == 270:  # x_r = y, y_r = w - x
        out = np.stack([w - y, x], axis=-1)
    else:
        out = pts
    return out.astype(np.float32)


def _unrotate(raw: RawDetections, angle: int, w: int, h: int) -> RawDetections:
    if angle == 0 or raw.boxes.shape[0] == 0:
        return raw
    corners = raw.boxes[:, [[0, 1], [2, 1], [0, 3], [2, 3]]]
    back = _unrotate_points(corners, angle, w, h)
    boxes = np.concatenate([back.min(axis=1), back.max(axis=1)], axis=1).astype(np.float32)
    return RawDetections(boxes, raw.scores, _unrotate_points(raw.landmarks, angle, w, h))


class Detector(abc.ABC):
    """A face detector. Get one with :func:`fs_detect.load_detector`.

    Subclasses implement :meth:`_detect_raw`; this class owns the documented input conversion, downscaling
    of big frames, the score / size filters, the final NMS and the rotated retry.
    """

    name: DetectorName

    default_score_threshold = 0.7

    def __init__(self, config: DetectorConfig) -> None:
        if config.score_threshold is None:
            config = replace(config, score_threshold=self.default_score_threshold)
        self.config = config

    @property
    def score_threshold(self) -> float:
        """The score threshold in use (the config's, or this detector's default when the config says ``None``)."""
        return float(self.config.score_threshold if self.config.score_threshold is not None else 0.0)

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        import torch

        return torch.device("cpu")

    @abc.abstractmethod
    def _detect_raw(self, images: list[npt.NDArray[np.uint8]], min_faces: list[float]) -> list[RawDetections]:
        """Run the network on BGR uint8 frames (already downscaled); return candidates per frame.

        ``min_faces[i]`` is the configured minimum face side in frame ``i``'s (downscaled) pixels.
        """

    def _min_side(self) -> int:
        """Frames whose shorter side is below this hold no detectable face (the net's smallest input)."""
        return 12

    def detect(self, image: Any) -> list[Detection]:
        """Find the faces in one frame.

        Args:
            image: ``H x W x 3`` BGR ``uint8`` in [0, 255]. Also accepted and converted (the one documented
                conversion, :func:`fs_align.as_bgr_uint8`): grey ``H x W`` or ``H x W x 1`` (replicated to
                3 channels), BGRA (alpha dropped), ``uint16`` (divided by 257) and float in [0, 1] (times 255).

        Returns:
            The detections, highest score first, boxes and points in this frame's pixels.

        Raises:
            ShapeError: not an image (wrong rank or channel count, empty, NaN/inf floats, floats outside
                [0, 1], other dtypes), or a side above 8192 pixels while ``max_input_side`` is ``None``.
        """
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[Any]) -> list[list[Detection]]:
        """Find the faces in several frames (batched where the backend can); same input rules as :meth:`detect`.

        Frames smaller than 12 pixels on a side, or smaller than ``min_face_size``, hold no face: ``[]``.
        """
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        frames = [as_bgr_uint8(im, f"images[{i}]") for i, im in enumerate(images)]
        cfg = self.config
        scaled: list[npt.NDArray[np.uint8]] = []
        factors: list[float] = []
        for i, frame in enumerate(frames):
            h, w = frame.shape[:2]
            side = max(h, w)
            if cfg.max_input_side is None:
                if side > _MAX_UNSCALED_SIDE:
                    raise ShapeError(
                        f"images[{i}]: {w}x{h} is larger than {_MAX_UNSCALED_SIDE} pixels on a side; set "
                        "DetectorConfig.max_input_side to downscale it"
                    )
                factor = 1.0
            else:
                factor = min(1.0, cfg.max_input_side / side)
            if factor < 1.0:
                size = (max(1, round(w * factor)), max(1, round(h * factor)))
                frame = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
                factor = size[0] / w
            scaled.append(frame)
            factors.append(factor)
        results = self._run(scaled, factors)
        if cfg.rotate_retry:
            todo = [i for i, r in enumerate(results) if not r]
            if todo:
                best: dict[int, tuple[float, int, list[Detection]]] = {}
                for angle in _ROTATIONS:
                    again = self._run([_rotate(scaled[i], angle) for i in todo], [factors[i] for i in todo])
                    for i, found in zip(todo, again):
                        top = max((d.score for d in found), default=-1.0)
                        if found and top > best.get(i, (-1.0, 0, []))[0]:
                            best[i] = (top, angle, found)
                for i, (_, angle, found) in best.items():
                    h, w = scaled[i].shape[:2]
                    results[i] = [self._unrotate_det(d, angle, w, h, factors[i]) for d in found]
        return results

    @staticmethod
    def _unrotate_det(det: Detection, angle: int, w: int, h: int, factor: float) -> Detection:
        raw = RawDetections(det.box[None] * factor, np.array([det.score], np.float32), det.landmarks[None] * factor)
        back = _unrotate(raw, angle, w, h)
        return Detection(back.boxes[0] / factor, det.score, back.landmarks[0] / factor, rotation=angle)

    def _run(self, frames: list[npt.NDArray[np.uint8]], factors: list[float]) -> list[list[Detection]]:
        """Detect on (possibly rotated) scaled frames; return detections in scaled-back (unrotated-frame) units.

        Rotation is undone by the caller; here boxes are only divided by the downscale factor.
        """
        cfg = self.config
        live = [i for i, f in enumerate(frames) if min(f.shape[:2]) >= self._min_side()]
        raws = (
            self._detect_raw([frames[i] for i in live], [cfg.min_face_size * factors[i] for i in live]) if live else []
        )
        out: list[list[Detection]] = [[] for _ in frames]
        for i, raw in zip(live, raws):
            inv = 1.0 / factors[i]
            boxes = raw.boxes * inv
            side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            keep = (raw.scores >= self.score_threshold) & (side >= cfg.min_face_size)
            if not np.any(keep):
                continue
            boxes, scores, pts = boxes[keep], raw.scores[keep], raw.landmarks[keep] * inv
            idx = nms_numpy(boxes, scores, cfg.nms_iou)  # numpy: a CPU detector never imports torch
            out[i] = [Detection(boxes[j], float(scores[j]), pts[j]) for j in idx]
        return out
