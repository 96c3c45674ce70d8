"""Following faces between detections: same faces and landmarks as detecting every frame, cuts, new faces."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import fs_align
import fs_detect
from fs_align.testing import asset_or_skip

U8 = npt.NDArray[np.uint8]
K = 8


def clip(name: str, count: int, size: tuple[int, int] = (400, 300), start: int = 0) -> list[U8]:
    cap = cv2.VideoCapture(str(asset_or_skip(name)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), np.uint8))
    cap.release()
    assert len(frames) == count
    return frames


@pytest.fixture(scope="module")
def settings() -> fs_detect.ExtractSettings:
    for name in ("yunet", "dlib68"):
        asset_or_skip(name)
    return fs_detect.ExtractSettings(size=64, threads=1)


def run(settings: fs_detect.ExtractSettings, frames: Sequence[U8], every: int) -> list[fs_detect.FrameResult]:
    s = fs_detect.ExtractSettings(**{**settings.__dict__, "detect_every": every})
    return list(fs_detect.Extractor(s).run(enumerate(frames)))


def inter_ocular(lm: npt.NDArray[np.float32]) -> float:
    return float(np.linalg.norm(lm[36:42].mean(axis=0) - lm[42:48].mean(axis=0)))


def jitter(results: Sequence[fs_detect.FrameResult]) -> float:
    """Mean second difference of the landmarks over inter-ocular distance (frames with one face)."""
    lms = np.stack([r.faces[0].landmarks for r in results if len(r.faces) == 1])
    iod = float(np.mean([inter_ocular(lm) for lm in lms]))
    return float(np.linalg.norm(lms[2:] - 2 * lms[1:-1] + lms[:-2], axis=2).mean() / iod)


@pytest.mark.parametrize("name", ["video-cap12", "video-franck"])
def test_following_keeps_faces_landmarks_and_jitter_of_every_frame_detection(
    settings: fs_detect.ExtractSettings, name: str
) -> None:
    frames = clip(name, 64, start=200)
    every = run(settings, frames, 1)
    follow_s = fs_detect.ExtractSettings(**{**settings.__dict__, "detect_every": K})
    extractor = fs_detect.Extractor(follow_s)
    followed = list(extractor.run(enumerate(frames)))
    assert extractor.follower is not None
    stats = extractor.follower.stats
    assert stats.frames == 64 and stats.detections <= 64 // K + 2  # the detector ran on few frames
    assert [len(r.faces) for r in followed] == [len(r.faces) for r in every]  # the same frames hold faces
    nme = [
        float(np.linalg.norm(a.landmarks - b.landmarks, axis=1).mean()) / inter_ocular(a.landmarks)
        for ra, rb in zip(every, followed)
        for a, b in zip(ra.faces, rb.faces)
    ]
    assert np.mean(nme) < 0.05, np.mean(nme)  # landmarks within 5 % of the eye distance of every-frame's
    assert jitter(followed) <= 1.05 * jitter(every), (jitter(followed), jitter(every))
    assert {f.track_id for r in followed for f in r.faces} == {0}


def test_a_cut_to_another_person_is_detected_at_once(settings: fs_detect.ExtractSettings) -> None:
    a, b = clip("video-franck", 20, start=100), clip("video-cap12", 20, start=100)
    s = fs_detect.ExtractSettings(**{**settings.__dict__, "detect_every": K})
    extractor = fs_detect.Extractor(s)
    got = list(extractor.run(enumerate(a + b)))
    assert extractor.follower is not None and extractor.follower.stats.cuts == 1
    assert all(len(r.faces) == 1 for r in got)  # both people, every frame
    ids_a = {f.track_id for r in got[:20] for f in r.faces}
    ids_b = {f.track_id for r in got[20:] for f in r.faces}
    assert len(ids_a) == len(ids_b) == 1 and ids_a != ids_b  # the cut ends the first track
    every = run(settings, b[:1], 1)[0].faces[0].landmarks
    assert np.linalg.norm(got[20].faces[0].landmarks - every, axis=1).mean() < 0.05 * inter_ocular(every)


def test_a_person_entering_is_found_within_k_frames(settings: fs_detect.ExtractSettings) -> None:
    left, right = clip("video-cap12", 40, start=300), clip("video-franck", 40, start=300)
    grey = np.full_like(right[0], 128)
    frames = [np.hstack([lf, rf if i >= 13 else grey]) for i, (lf, rf) in enumerate(zip(left, right))]
    got = run(settings, frames, K)
    every = run(settings, frames, 1)
    assert [len(r.faces) for r in every[:13]] == [1] * 13 and all(len(r.faces) == 2 for r in every[13:])
    first_two = next(i for i, r in enumerate(got) if len(r.faces) == 2)
    assert 13 <= first_two < 13 + K
    assert all(len(r.faces) == 2 for r in got[first_two:])
    assert all(len(r.faces) == 1 for r in got[:first_two])


def test_carry_checks_catch_a_lost_face(settings: fs_detect.ExtractSettings) -> None:
    frames = clip("video-cap12", 2, start=100)
    lm = fs_align.load_landmarker("dlib68")
    det = fs_detect.load_detector("yunet", config=settings.detector_config).detect(frames[0])[0]
    seed = lm.box_from_landmarks(lm.predict(frames[0], det.box[None], refine=True)[0])
    side = float(seed[2] - seed[0])

    def mismatch(dx: float) -> float:
        box = seed + np.array([dx, 0, dx, 0], np.float32) * side
        return float(lm.box_mismatch(box[None], lm.predict(frames[1], box[None], refine=True))[0])

    assert mismatch(0.0) < 0.05 and mismatch(0.2) > fs_detect.MAX_MISMATCH
    ref = fs_detect.face_patch(frames[0], seed)
    assert float(fs_detect.face_patch(frames[1], seed) @ ref) > 0.8
    far = seed + np.array([0.6, 0, 0.6, 0], np.float32) * side
    assert float(fs_detect.face_patch(frames[1], far) @ ref) < fs_detect.MIN_LIKENESS


def test_cut_distance_separates_shots(settings: fs_detect.ExtractSettings) -> None:
    a, b = clip("video-franck", 3, start=50), clip("video-cap12", 1, start=50)
    sig = [fs_detect.frame_signature(f) for f in (*a, *b)]
    assert fs_detect.cut_distance(sig[0], sig[1]) < 0.1 and fs_detect.cut_distance(sig[1], sig[2]) < 0.1
    assert fs_detect.cut_distance(sig[2], sig[3]) > fs_detect.CUT_THRESHOLD
    with pytest.raises(ValueError, match="detect_every"):
        fs_detect.ExtractSettings(detect_every=0)
