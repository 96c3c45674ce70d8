"""Typed records of fs-detect: detector names, detector configuration and the detection record."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fs_align import LandmarkScheme, ShapeError, parse_enum
from fs_detect.errors import DetectConfigError

__all__ = ["Detection", "DetectorConfig", "DetectorName"]


class DetectorName(str, enum.Enum):
    """The face detectors that :func:`fs_detect.load_detector` knows."""

    YUNET = "yunet"
    """YuNet (OpenCV zoo, int8 ONNX) through ``cv2.FaceDetectorYN``; CPU only, the default."""
    MTCNN = "mtcnn"
    """MTCNN (P-Net, R-Net, O-Net) written in torch; batched, runs on CPU, CUDA or MPS."""

    @classmethod
    def parse(cls, value: str | DetectorName) -> DetectorName:
        """Parse a detector name (case-insensitive); raises :class:`DetectConfigError` (a ``ValueError``)."""
        return parse_enum(cls, value, "unknown detector", DetectConfigError)


@dataclass(frozen=True)
class DetectorConfig:
    """What a detector keeps and how it treats its input.

    Attributes:
        score_threshold: detections scoring below this (in [0, 1]) are dropped; ``None`` takes the
            detector's default (YuNet 0.7 on its face score, MTCNN 0.92 on the O-Net face probability; both
            chosen on the test images, see the README).
        nms_iou: two detections overlapping by more than this IoU are merged (the higher score wins).
        min_face_size: the smallest face side to report, in pixels of the *input* frame.
        max_input_side: frames whose longer side exceeds this are downscaled to it before detection and the
            boxes and points are mapped back to frame pixels. ``None`` never downscales (then frames larger
            than 8192 pixels on a side are refused with :class:`~fs_align.ShapeError`).
        rotate_retry: when a frame yields no face, try it rotated by 90, 180 and 270 degrees, keep the angle
            whose best face scores highest, and map the result back (DeepFaceLab / faceswap retry rotations
            too). Trying all three costs 3 extra passes on face-less frames, but a detector can find an
            upside-down face in a quarter-turned frame with its points in the wrong order; the best-scoring
            angle is the upright one.
    """

    score_threshold: float | None = None
    nms_iou: float = 0.4
    min_face_size: int = 20
    max_input_side: int | None = 1280
    rotate_retry: bool = True

    def __post_init__(self) -> None:
        if self.score_threshold is not None and not (0.0 <= float(self.score_threshold) <= 1.0):
            raise DetectConfigError(f"score_threshold: expected a value in [0, 1], got {self.score_threshold!r}")
        if not (0.0 < float(self.nms_iou) <= 1.0):
            raise DetectConfigError(f"nms_iou: expected a value in (0, 1], got {self.nms_iou!r}")
        if not isinstance(self.min_face_size, int) or self.min_face_size < 1:
            raise DetectConfigError(f"min_face_size: expected a positive int, got {self.min_face_size!r}")
        if self.max_input_side is not None and (not isinstance(self.max_input_side, int) or self.max_input_side < 32):
            raise DetectConfigError(f"max_input_side: expected None or an int >= 32, got {self.max_input_side!r}")


def _as_box(box: npt.ArrayLike) -> npt.NDArray[np.float32]:
    arr = np.asarray(box, dtype=np.float32).reshape(-1)
    if arr.shape != (4,) or not np.all(np.isfinite(arr)) or arr[2] < arr[0] or arr[3] < arr[1]:
        raise ShapeError(f"box: expected finite xyxy with x2 >= x1 and y2 >= y1, got {np.asarray(box)!r}")
    return arr


@dataclass(frozen=True)
class Detection:
    """One detected face.

    Attributes:
        box: ``(4,)`` float32 ``x1, y1, x2, y2`` in frame pixels (continuous coordinates: pixel ``i`` spans
            ``[i, i + 1)``). The box is the detector's own face box (see the package README for how it relates
            to the 68-point landmark extent).
        score: detector confidence in [0, 1].
        landmarks: ``(5, 2)`` float32 (x, y) frame pixels in :attr:`LandmarkScheme.FIVE_POINT` order (the
            subject's right eye, left eye, nose tip, right mouth corner, left mouth corner).
        rotation: the clockwise rotation (0, 90, 180 or 270 degrees) of the frame the face was found in; box
            and points are always in the unrotated frame's pixels.
        scheme: always ``LandmarkScheme.FIVE_POINT``.
    """

    box: npt.NDArray[np.float32]
    score: float
    landmarks: npt.NDArray[np.float32]
    rotation: int = 0
    scheme: LandmarkScheme = field(default=LandmarkScheme.FIVE_POINT)

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _as_box(self.box))
        pts = np.asarray(self.landmarks, dtype=np.float32)
        if pts.shape != (5, 2) or not np.all(np.isfinite(pts)):
            raise ShapeError(f"landmarks: expected finite (5, 2) points, got shape {pts.shape}")
        object.__setattr__(self, "landmarks", pts)
        score = float(self.score)
        if not math.isfinite(score):
            raise ShapeError(f"score: expected a finite number, got {self.score!r}")
        object.__setattr__(self, "score", score)
        if self.rotation not in (0, 90, 180, 270):
            raise DetectConfigError(f"rotation: expected 0, 90, 180 or 270, got {self.rotation!r}")
        if self.scheme is not LandmarkScheme.FIVE_POINT:
            raise ShapeError(f"scheme: a Detection holds FIVE_POINT landmarks, got {self.scheme}")

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return float(self.box[3] - self.box[1])

    @property
    def center(self) -> tuple[float, float]:
        """Box centre (x, y)."""
        return (float(self.box[0] + self.box[2]) / 2.0, float(self.box[1] + self.box[3]) / 2.0)

    def iou(self, other: Detection | npt.ArrayLike) -> float:
        """Intersection over union of this box and another detection's box (or an xyxy box)."""
        b = other.box if isinstance(other, Detection) else _as_box(other)
        return box_iou(self.box, b)


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """IoU of two xyxy boxes (0 when either is empty)."""
    a = np.asarray(a, dtype=np.float64).reshape(4)
    b = np.asarray(b, dtype=np.float64).reshape(4)
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
