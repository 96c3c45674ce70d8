"""Link detections across video frames into tracks with stable ids (IoU + identity embedding distance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fs_align import ShapeError
from fs_detect._types import Detection, box_iou
from fs_detect.errors import DetectConfigError

__all__ = ["FaceTracker", "TrackedFace"]


@dataclass(frozen=True)
class TrackedFace:
    """One face of one frame, with its track.

    Attributes:
        track_id: stable id of the person's track (0, 1, 2, ... in order of first appearance).
        frame_index: the frame this face belongs to.
        detection: the detection (for a filled frame: interpolated between the detections either side).
        filled: ``True`` when the detector missed this frame and the tracker filled it in.
        embedding: the identity embedding used for matching, or ``None``.
    """

    track_id: int
    frame_index: int
    detection: Detection
    filled: bool = False
    embedding: npt.NDArray[np.float32] | None = None


@dataclass
class _Track:
    track_id: int
    last: Detection
    last_frame: int
    embedding: npt.NDArray[np.float32] | None


class FaceTracker:
    """Online tracker: call :meth:`update` once per frame, in order.

    Matching: a detection may continue a track when their boxes overlap by at least ``iou_threshold``, or
    (with embeddings) when the cosine distance ``1 - cos`` between the detection's embedding and the
    track's running embedding is at most ``max_embedding_distance``. With embeddings, a pair whose distance
    is above ``max_embedding_distance`` never matches, however much the boxes overlap (two people crossing
    keep their ids). Pairs are taken greedily by cost ``(1 - IoU) + embedding distance``, lowest first.

    A track that is missed for up to ``max_gap`` frames and then found again keeps its id, and the missed
    frames are filled by linear interpolation between the detections on either side (``TrackedFace.filled``); these come
    back from the :meth:`update` call that finds the face again. A track unseen for more than ``max_age``
    frames ends; a face seen after that gets a new id.
    """

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        max_embedding_distance: float = 0.6,
        max_gap: int = 1,
        max_age: int = 10,
        embedding_momentum: float = 0.9,
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise DetectConfigError(f"iou_threshold: expected a value in (0, 1], got {iou_threshold!r}")
        if not 0.0 <= max_embedding_distance <= 2.0:
            raise DetectConfigError(
                f"max_embedding_distance: expected a value in [0, 2], got {max_embedding_distance!r}"
            )
        if max_gap < 0 or max_age < max_gap:
            raise DetectConfigError(f"max_gap, max_age: expected 0 <= max_gap <= max_age, got {max_gap!r}, {max_age!r}")
        if not 0.0 <= embedding_momentum < 1.0:
            raise DetectConfigError(f"embedding_momentum: expected a value in [0, 1), got {embedding_momentum!r}")
        self.iou_threshold = iou_threshold
        self.max_embedding_distance = max_embedding_distance
        self.max_gap = max_gap
        self.max_age = max_age
        self.embedding_momentum = embedding_momentum
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frame = -1

    @property
    def frame_index(self) -> int:
        """Index of the last frame passed to :meth:`update` (-1 before the first)."""
        return self._frame

    def end_tracks(self) -> None:
        """End every track (e.g. at a scene cut): faces seen from now on get new ids."""
        self._tracks = []

    def update(self, detections: Sequence[Detection], embeddings: npt.ArrayLike | None = None) -> list[TrackedFace]:
        """Add the next frame's detections.

        Args:
            detections: this frame's detections.
            embeddings: optional ``(len(detections), D)`` identity embeddings (e.g. from
                :meth:`fs_detect.Embedder.embed_detections`), L2-normalised.

        Returns:
            The faces of this frame (one per detection, in the given order), followed by any filled faces of
            earlier frames for tracks found again after a gap.
        """
        self._frame += 1
        frame = self._frame
        emb: npt.NDArray[np.float32] | None = None
        if embeddings is not None:
            emb = np.asarray(embeddings, dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != len(detections) or not np.all(np.isfinite(emb)):
                raise ShapeError(
                    f"embeddings: expected finite ({len(detections)}, D) rows, one per detection, got {emb.shape}"
                )
        self._tracks = [t for t in self._tracks if frame - t.last_frame <= self.max_age + 1]
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self._tracks):
            for di, det in enumerate(detections):
                iou = box_iou(track.last.box, det.box)
                dist = None
                if emb is not None and track.embedding is not None:
                    dist = float(1.0 - np.dot(track.embedding, emb[di]))
                    if dist > self.max_embedding_distance:
                        continue
                if iou < self.iou_threshold and dist is None:
                    continue
                pairs.append(((1.0 - iou) + (dist or 0.0), ti, di))
        pairs.sort()
        assigned: dict[int, int] = {}
        used_tracks: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_tracks or di in assigned:
                continue
            used_tracks.add(ti)
            assigned[di] = ti
        out: list[TrackedFace] = []
        filled: list[TrackedFace] = []
        for di, det in enumerate(detections):
            vec = None if emb is None else emb[di]
            if di in assigned:
                track = self._tracks[assigned[di]]
                gap = frame - track.last_frame - 1
                if 0 < gap <= self.max_gap:
                    for k in range(1, gap + 1):
                        w = k / (gap + 1)
                        mid = Detection(
                            (1 - w) * track.last.box + w * det.box,
                            min(track.last.score, det.score),
                            (1 - w) * track.last.landmarks + w * det.landmarks,
                            rotation=det.rotation,
                        )
                        filled.append(TrackedFace(track.track_id, track.last_frame + k, mid, filled=True))
                track.last, track.last_frame = det, frame
                if vec is not None:
                    if track.embedding is None:
                        track.embedding = vec
                    else:
                        m = self.embedding_momentum
                        mixed = m * track.embedding + (1 - m) * vec
                        track.embedding = (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32)
            else:
                track = _Track(self._next_id, det, frame, vec)
                self._next_id += 1
                self._tracks.append(track)
            out.append(TrackedFace(track.track_id, frame, det, embedding=vec))
        return out + filled

    def track(
        self,
        frames_detections: Sequence[Sequence[Detection]],
        embeddings: Sequence[npt.ArrayLike | None] | None = None,
    ) -> list[list[TrackedFace]]:
        """Track a whole sequence at once; filled faces are placed in the frames they fill.

        Continues from this tracker's state; frame indices in the result count from the first frame given.
        """
        start = self._frame + 1
        result: list[list[TrackedFace]] = [[] for _ in frames_detections]
        for i, dets in enumerate(frames_detections):
            for face in self.update(dets, None if embeddings is None else embeddings[i]):
                result[face.frame_index - start].append(face)
        return result
