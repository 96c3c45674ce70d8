"""FaceTracker on a real clip, a filled miss, and two people swapping places."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import fs_detect
from fs_align import ShapeError
from fs_detect import Detection, FaceTracker

Clip = Callable[[str, int, int], list[npt.NDArray[np.uint8]]]


@pytest.fixture(scope="module")
def franck_clip(
    yunet: fs_detect.Detector, video_clip: Clip
) -> tuple[list[npt.NDArray[np.uint8]], list[list[Detection]]]:
    frames = video_clip("video-franck", 200, 40)
    return frames, yunet.detect_batch(frames)


def test_one_person_one_track(
    franck_clip: tuple[list[npt.NDArray[np.uint8]], list[list[Detection]]], embedder: fs_detect.Embedder
) -> None:
    frames, dets = franck_clip
    assert all(len(d) == 1 for d in dets)
    embs = [embedder.embed_detections(f, d) for f, d in zip(frames, dets)]
    tracks = FaceTracker().track(dets, embs)
    ids = [face.track_id for frame in tracks for face in frame]
    assert len(ids) == 40 and set(ids) == {0}
    # IoU only (no embeddings) gives the same single track.
    assert {f.track_id for frame in FaceTracker().track(dets) for f in frame} == {0}


def test_one_frame_miss_is_filled(franck_clip: tuple[list[npt.NDArray[np.uint8]], list[list[Detection]]]) -> None:
    _, dets = franck_clip
    holed = [list(d) for d in dets[:12]]
    holed[5] = []
    tracks = FaceTracker().track(holed)
    assert [len(t) for t in tracks] == [1] * 12
    filled = tracks[5][0]
    assert filled.filled and filled.track_id == 0 and filled.frame_index == 5
    assert filled.detection.iou(dets[5][0]) > 0.8
    # A gap longer than max_gap is not filled, but the track keeps its id within max_age.
    holed[6] = []
    tracks = FaceTracker(max_gap=1).track(holed)
    assert tracks[5] == [] and tracks[6] == []
    assert {f.track_id for t in tracks for f in t} == {0}
    assert {f.track_id for t in FaceTracker(max_gap=0, max_age=0).track(holed) for f in t} == {0, 1}


def test_two_people_swapping_places_keep_their_ids(
    yunet: fs_detect.Detector, embedder: fs_detect.Embedder, video_clip: Clip
) -> None:
    a = video_clip("video-franck", 300, 6)
    b = [cv2.resize(f, (360, 288)) for f in video_clip("video-cap12", 300, 6)]
    # Frames 0-2: A left, B right; frames 3-5: the two swap sides (their boxes overlap the old ones).
    frames = [np.hstack([a[i], b[i]]) if i < 3 else np.hstack([b[i], a[i]]) for i in range(6)]
    dets = yunet.detect_batch(frames)
    assert [len(d) for d in dets] == [2] * 6
    embs = [embedder.embed_detections(f, d) for f, d in zip(frames, dets)]
    tracks = FaceTracker().track(dets, embs)
    side = {0: [], 1: []}  # track id -> which half of the frame the face is in, per frame
    for frame in tracks:
        for face in frame:
            side[face.track_id].append(face.detection.center[0] < 360)
    assert set(side) == {0, 1}
    for halves in side.values():
        assert halves[:3] == [halves[0]] * 3 and halves[3:] == [not halves[0]] * 3


def test_tracker_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        FaceTracker(iou_threshold=0.0)
    with pytest.raises(ValueError):
        FaceTracker(max_gap=3, max_age=1)
    det = Detection([0, 0, 10, 10], 0.9, np.zeros((5, 2)))
    with pytest.raises(ShapeError, match="embeddings"):
        FaceTracker().update([det], np.zeros((2, 128)))
