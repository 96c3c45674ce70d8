"""Extraction as a library: frames in (the caller decodes), tracked faces with 68 landmarks and aligned crops out.

The pipeline per frame is detect -> 68 landmarks (+ identity embedding) -> track -> smooth -> align -> warp. The
first step (:class:`FaceAnalyser`) is stateless and runs anywhere (worker processes, see
:func:`fs_detect.extract_parallel`); tracking and smoothing (:class:`FacePlanner`) see the frames in order;
:class:`Extractor` chains them over any iterable of frames.
"""

from __future__ import annotations

import contextlib
import enum
import queue
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

import fs_align
from fs_align import FaceType, OneEuroConfig, Pose, parse_enum
from fs_detect._types import Detection, DetectorConfig, DetectorName
from fs_detect.errors import DetectConfigError

__all__ = [
    "ExtractSettings",
    "ExtractedFace",
    "Extractor",
    "FaceAnalyser",
    "FacePlanner",
    "FrameDetections",
    "FrameResult",
    "PlannedFace",
    "TrackMode",
    "align_planned",
    "limit_threads",
    "new_follower",
    "prefetched",
]

if TYPE_CHECKING:
    from fs_detect._follow import FaceFollower

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
T = TypeVar("T")


class TrackMode(str, enum.Enum):
    """Which faces of a frame are kept, and how they are numbered."""

    ALL = "all"
    """Every face; video faces are tracked (box overlap) so their landmarks are smoothed per person."""
    LARGEST = "largest"
    """Only the largest face of each frame (DFL's single-face extraction); track id 0."""
    PERSON = "person"
    """Every face, tracked by box overlap and SFace identity, so a track id stands for one person."""

    @classmethod
    def parse(cls, value: str | TrackMode) -> TrackMode:
        """Parse a mode name (case-insensitive); raises :class:`DetectConfigError` (a ``ValueError``)."""
        return parse_enum(cls, value, "track: unknown mode", DetectConfigError)


def _default_detector_config() -> DetectorConfig:
    return DetectorConfig(min_face_size=32, max_input_side=640)


@dataclass(frozen=True)
class ExtractSettings:
    """Everything extraction needs (frozen, picklable: it is sent to worker processes).

    Attributes:
        detector: ``"yunet"`` (OpenCV, CPU) or ``"mtcnn"`` (torch).
        detector_config: thresholds (``score_threshold`` is the minimum detector score), minimum face size and
            detection downscaling. Default: faces of at least 32 px, frames downscaled to 640 px for detection.
        device: where MTCNN runs (``None``: :func:`fs_detect.default_device`); YuNet takes only ``None``/``"cpu"``.
        landmarker: a 68-point landmarker for :func:`fs_align.load_landmarker` (asset name or ``.dat`` path).
        refine: a second landmark pass inside an aligned crop (fixes the detector-box bias).
        track: which faces are kept and how tracks are formed (:class:`TrackMode`).
        smooth: smooth each track's landmarks over time (:class:`fs_align.LandmarkSmoother`; videos only).
        shape_smoothing, pose_smoothing, max_jump: the smoother's parameters (``None``: its defaults).
        face_type: the aligned crop's :class:`fs_align.FaceType`.
        size: the aligned crop's side in pixels.
        embed: compute SFace identity embeddings (always on with ``TrackMode.PERSON``).
        threads: OpenCV / torch threads per process (0: leave the library defaults).
        detect_every: in videos, run the detector at least every this many frames and carry each face by its
            landmarks in between (:class:`fs_detect.FaceFollower`; scene cuts and faces that look wrong are
            detected at once). 1: detect on every frame. Stills are always detected.
    """

    detector: DetectorName = DetectorName.YUNET
    detector_config: DetectorConfig = field(default_factory=_default_detector_config)
    device: str | None = None
    landmarker: str = "dlib68"
    refine: bool = True
    track: TrackMode = TrackMode.ALL
    smooth: bool = True
    shape_smoothing: OneEuroConfig | None = None
    pose_smoothing: OneEuroConfig | None = None
    max_jump: float = 0.5
    face_type: FaceType = FaceType.WHOLE_FACE
    size: int = 256
    embed: bool = False
    threads: int = 0
    detect_every: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "detector", DetectorName.parse(self.detector))
        object.__setattr__(self, "track", TrackMode.parse(self.track))
        object.__setattr__(self, "face_type", FaceType.parse(self.face_type))
        if not isinstance(self.size, int) or not 16 <= self.size <= 4096:
            raise DetectConfigError(f"size: expected an int in [16, 4096], got {self.size!r}")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise DetectConfigError(f"threads: expected an int >= 0, got {self.threads!r}")
        if not isinstance(self.detect_every, int) or self.detect_every < 1:
            raise DetectConfigError(f"detect_every: expected an int >= 1, got {self.detect_every!r}")
        if not isinstance(self.detector_config, DetectorConfig):
            got = type(self.detector_config).__name__
            raise DetectConfigError(f"detector_config: expected a DetectorConfig, got {got}")

    @property
    def needs_embedding(self) -> bool:
        """Whether the analysis computes identity embeddings."""
        return self.embed or self.track is TrackMode.PERSON


@dataclass(frozen=True)
class FrameDetections:
    """What :class:`FaceAnalyser` found in one frame (one row per face, largest face first).

    ``width == height == 0`` marks a frame that could not be decoded (the decoder yielded ``None``).
    """

    index: int
    width: int
    height: int
    boxes: F32
    """``(N, 4)`` xyxy frame pixels."""
    scores: F32
    """``(N,)`` detector scores."""
    points5: F32
    """``(N, 5, 2)`` the detector's five points."""
    landmarks: F32
    """``(N, 68, 2)`` iBUG-68 landmarks in frame pixels (not smoothed)."""
    embeddings: F32 | None = None
    """``(N, 128)`` unit SFace embeddings, when the settings ask for them."""
    cut: bool = False
    """A scene cut lies just before this frame (tracks end here)."""

    @property
    def count(self) -> int:
        """The number of faces."""
        return int(self.boxes.shape[0])

    @property
    def readable(self) -> bool:
        """``False`` for a frame the decoder could not read."""
        return self.width > 0

    @staticmethod
    def unreadable(index: int) -> FrameDetections:
        """The record of a frame that could not be decoded."""
        z4 = np.zeros((0, 4), np.float32)
        return FrameDetections(
            index, 0, 0, z4, z4[:, 0], np.zeros((0, 5, 2), np.float32), np.zeros((0, 68, 2), np.float32)
        )


class FaceAnalyser:
    """Detector + 68-point landmarker (+ SFace embedder) for one process: stateless per frame."""

    def __init__(self, settings: ExtractSettings) -> None:
        from fs_detect import load_detector, load_embedder

        self.settings = settings
        self.detector = load_detector(settings.detector, device=settings.device, config=settings.detector_config)
        self.landmarker = fs_align.load_landmarker(settings.landmarker)
        self.embedder = load_embedder("sface") if settings.needs_embedding else None

    def analyse(self, image: U8, index: int = 0) -> FrameDetections:
        """Detect the faces of one ``H x W x 3`` BGR uint8 frame and find their landmarks (largest face first)."""
        dets = self.detector.detect(image)
        dets.sort(key=lambda d: -d.width * d.height)
        if self.settings.track is TrackMode.LARGEST:
            dets = dets[:1]
        return self.from_detections(image, dets, index)

    def from_detections(self, image: U8, detections: Sequence[Detection], index: int = 0) -> FrameDetections:
        """Landmarks (and embeddings) for given detections (e.g. a box drawn by a user) in a BGR uint8 frame."""
        h, w = image.shape[:2]
        n = len(detections)
        boxes = np.array([d.box for d in detections], np.float32).reshape(n, 4)
        scores = np.array([d.score for d in detections], np.float32).reshape(n)
        pts5 = np.array([d.landmarks for d in detections], np.float32).reshape(n, 5, 2)
        lms = np.zeros((0, 68, 2), np.float32)
        if n:
            lms = np.asarray(self.landmarker.predict(image, boxes, refine=self.settings.refine), np.float32)
        emb = None
        if self.embedder is not None:
            emb = self.embedder.embed_detections(image, list(detections)) if n else np.zeros((0, 128), np.float32)
        return FrameDetections(index, w, h, boxes, scores, pts5, lms, emb)


@dataclass(frozen=True)
class PlannedFace:
    """A face after tracking and smoothing, before alignment (frame-space values)."""

    frame_index: int
    track_id: int
    box: F32
    score: float
    landmarks: F32
    embedding: F32 | None


class FacePlanner:
    """Tracking and landmark smoothing over frames given in order (the stateful part of extraction).

    Args:
        settings: the extraction settings (tracking mode, smoothing).
        fps: the frame rate, for the smoother's time base (frame index / fps).
        sequence: ``True`` for consecutive frames of one video (track and smooth); ``False`` for unrelated
            images (faces numbered 0, 1, ... per image, nothing smoothed).
    """

    def __init__(self, settings: ExtractSettings, *, fps: float = 25.0, sequence: bool = True) -> None:
        from fs_detect._track import FaceTracker

        self.settings = settings
        self.fps = max(float(fps), 1e-6)
        track = sequence and settings.track is not TrackMode.LARGEST
        self.tracker = FaceTracker() if track else None
        self.smoother = (
            fs_align.LandmarkSmoother(settings.shape_smoothing, settings.pose_smoothing, max_jump=settings.max_jump)
            if sequence and settings.smooth
            else None
        )

    def update(self, frame: FrameDetections) -> list[PlannedFace]:
        """The faces of the next frame, with track ids and smoothed landmarks."""
        n = frame.count
        emb = frame.embeddings if frame.embeddings is not None and n else None
        ids: list[int] = list(range(n))
        if frame.cut:
            if self.tracker is not None:
                self.tracker.end_tracks()
            if self.smoother is not None:
                for lost in self.smoother.tracks:
                    self.smoother.update(lost, None)
        if self.tracker is not None:
            dets = [Detection(frame.boxes[i], float(frame.scores[i]), frame.points5[i]) for i in range(n)]
            ids = [t.track_id for t in self.tracker.update(dets, emb)[:n]]
        faces = []
        for i, tid in enumerate(ids):
            lm = frame.landmarks[i]
            if self.smoother is not None:
                smoothed = self.smoother.update(tid, lm, t=frame.index / self.fps)
                lm = smoothed if smoothed is not None else lm
            faces.append(
                PlannedFace(
                    frame.index, tid, frame.boxes[i], float(frame.scores[i]), lm, None if emb is None else emb[i]
                )
            )
        if self.smoother is not None:
            for lost in set(self.smoother.tracks) - set(ids):
                self.smoother.update(lost, None)
        return faces


@dataclass(frozen=True)
class ExtractedFace:
    """One face of one frame, aligned.

    Attributes:
        track_id: the face's track (stable across frames of a video; 0, 1, ... per image for stills).
        box: ``(4,)`` float32 detector box, xyxy frame pixels.
        score: the detector's score.
        landmarks: ``(68, 2)`` float32 iBUG-68 landmarks in frame pixels (smoothed when the settings say so).
        image_to_face: ``(2, 3)`` float32 affine from frame pixels to the aligned crop.
        face: ``size x size x 3`` BGR uint8 aligned crop.
        face_type: the crop's face type.
        pose: head pose estimated from the landmarks.
        embedding: ``(128,)`` unit SFace embedding, or ``None``.
    """

    track_id: int
    box: F32
    score: float
    landmarks: F32
    image_to_face: F32
    face: U8
    face_type: FaceType
    pose: Pose
    embedding: F32 | None = None

    @property
    def face_landmarks(self) -> F32:
        """The landmarks in aligned-crop pixels."""
        return fs_align.transform_points(self.landmarks, self.image_to_face)


@dataclass(frozen=True)
class FrameResult:
    """The faces of one frame (``readable`` is ``False`` when the decoder gave ``None`` for it)."""

    index: int
    width: int
    height: int
    faces: tuple[ExtractedFace, ...] = ()

    @property
    def readable(self) -> bool:
        return self.width > 0


def align_planned(image: U8, face: PlannedFace, settings: ExtractSettings) -> ExtractedFace:
    """Align one planned face: the ``image_to_face`` matrix, the warped crop and the head pose."""
    h, w = image.shape[:2]
    matrix = fs_align.alignment_matrix(face.landmarks, settings.face_type, settings.size)
    crop = fs_align.warp_face(image, matrix, settings.size)
    pose = fs_align.estimate_pose(face.landmarks, (w, h))
    return ExtractedFace(
        face.track_id, face.box, face.score, face.landmarks, matrix, crop, settings.face_type, pose, face.embedding
    )


def _frame_result(
    image: U8 | None, index: int, planned: Sequence[PlannedFace], settings: ExtractSettings
) -> FrameResult:
    if image is None:
        return FrameResult(index, 0, 0)
    h, w = image.shape[:2]
    return FrameResult(index, w, h, tuple(align_planned(image, f, settings) for f in planned))


class Extractor:
    """Frames in, aligned faces out: detect -> landmarks -> track -> smooth -> align, in one process.

    Args:
        settings: detector, landmarker, tracking, smoothing, face type and size.
        fps: frame rate of the video (time base of the smoother).
        sequence: ``True`` when the frames are consecutive frames of one video; ``False`` for unrelated images.

    Example::

        extractor = fs_detect.Extractor(fs_detect.ExtractSettings(size=128))
        crops = {}
        for result in extractor.run(enumerate(frames)):  # (index, H x W x 3 BGR uint8)
            for face in result.faces:
                crops[(result.index, face.track_id)] = face.face  # aligned crop; face.landmarks: frame space
    """

    def __init__(self, settings: ExtractSettings | None = None, *, fps: float = 25.0, sequence: bool = True) -> None:
        self.settings = settings if settings is not None else ExtractSettings()
        self.analyser = FaceAnalyser(self.settings)
        limit_threads(self.settings.threads)  # after loading: MTCNN has imported torch by now
        self.follower = new_follower(self.analyser, sequence)
        self.planner = FacePlanner(self.settings, fps=fps, sequence=sequence)

    def analyse(self, index: int, image: U8) -> FrameDetections:
        """Detect (or carry, in videos with ``detect_every > 1``) the faces of the next frame."""
        if self.follower is not None:
            return self.follower.analyse(image, index)
        return self.analyser.analyse(image, index)

    def process(self, index: int, image: U8 | None) -> FrameResult:
        """The next frame (``None``: an undecodable frame, reported as not readable)."""
        if image is None:
            return FrameResult(index, 0, 0)
        planned = self.planner.update(self.analyse(index, image))
        return _frame_result(image, index, planned, self.settings)

    def run(self, frames: Iterable[tuple[int, U8 | None]], *, prefetch: int = 8) -> Iterator[FrameResult]:
        """One :class:`FrameResult` per ``(frame_index, H x W x 3 BGR uint8 image)``, in the order given.

        ``prefetch > 0``: the frames are pulled from ``frames`` (e.g. a decoder) in a thread of their own, at
        most ``prefetch`` ahead, so decoding overlaps the analysis.
        """
        source = prefetched(frames, prefetch) if prefetch > 0 else iter(frames)
        for index, image in source:
            yield self.process(index, image)


def new_follower(analyser: FaceAnalyser, sequence: bool) -> FaceFollower | None:
    """A :class:`FaceFollower` for the frames of a video when the settings carry faces (``detect_every > 1``)."""
    from fs_detect._follow import FaceFollower

    every = analyser.settings.detect_every
    return FaceFollower(analyser, every) if sequence and every > 1 else None


_END = object()


def prefetched(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """The items of ``items``, pulled in a daemon thread at most ``depth`` ahead (its exceptions re-raised here).

    Closing the returned generator early stops the thread after its current item.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def pull() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, which raises it
            q.put((False, exc))
            return
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()
        q.put((True, _END))

    thread = threading.Thread(target=pull, name="fs-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
        thread.join()


def limit_threads(threads: int) -> None:
    """Cap OpenCV's thread pool of this process, and torch's when torch is loaded (``threads > 0``).

    torch is not imported for this: a YuNet extraction never loads it (call again after loading MTCNN).
    """
    if threads > 0:
        import cv2

        cv2.setNumThreads(threads)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(threads)
