"""The library extractor on real video frames: iterable input, what it yields, serial == parallel, shards."""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import fs_align
import fs_detect
from fs_align.testing import asset_or_skip

FRAMES = 6


def decode_cap12(indices: Sequence[int]) -> Iterator[tuple[int, npt.NDArray[np.uint8] | None]]:
    """Module-level (picklable) decoder of the cap12 clip: the asked frames, in order."""
    cap = cv2.VideoCapture(str(asset_or_skip("video-cap12")))
    wanted, last = set(indices), max(indices, default=-1)
    try:
        index = 0
        while index <= last:
            ok, frame = cap.read()
            if not ok:
                break
            if index in wanted:
                yield index, np.asarray(frame, np.uint8)
            index += 1
    finally:
        cap.release()


@pytest.fixture(scope="module")
def settings() -> fs_detect.ExtractSettings:
    for name in ("yunet", "dlib68"):
        asset_or_skip(name)
    return fs_detect.ExtractSettings(size=64, threads=1)


@pytest.fixture(scope="module")
def serial(settings: fs_detect.ExtractSettings) -> list[fs_detect.FrameResult]:
    extractor = fs_detect.Extractor(settings, fps=25.0)
    return list(extractor.run(decode_cap12(range(FRAMES))))  # a generator: any iterable works


def test_extractor_yields_aligned_faces_with_frame_space_landmarks(
    serial: list[fs_detect.FrameResult], settings: fs_detect.ExtractSettings
) -> None:
    assert [r.index for r in serial] == list(range(FRAMES))
    assert all(r.readable and (r.width, r.height) == (400, 300) for r in serial)
    assert all(len(r.faces) == 1 for r in serial)  # one person in the clip
    assert {f.track_id for r in serial for f in r.faces} == {0}
    for r in serial:
        face = r.faces[0]
        assert face.face.shape == (64, 64, 3) and face.face.dtype == np.uint8
        assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float32
        assert face.image_to_face.shape == (2, 3)
        x0, y0, x1, y1 = face.box
        inside = (face.landmarks[:, 0] > x0 - 40) & (face.landmarks[:, 0] < x1 + 40)
        assert inside.all() and y0 - 60 < face.landmarks[:, 1].mean() < y1 + 20
        # the crop is the frame warped by image_to_face; the landmarks land inside it
        inner = face.face_landmarks
        assert (inner > 0).all() and (inner < 64).all()
        frame = next(decode_cap12([r.index]))[1]
        assert frame is not None
        again = fs_align.warp_face(frame, face.image_to_face, 64)
        assert np.array_equal(again, face.face)


def test_unsmoothed_landmarks_are_the_landmarkers_on_the_detector_boxes(settings: fs_detect.ExtractSettings) -> None:
    raw = fs_detect.ExtractSettings(**{**settings.__dict__, "smooth": False})  # the first frame: a detection
    (index, image), *_ = list(decode_cap12([3]))
    assert image is not None
    result = fs_detect.Extractor(raw).process(index, image)
    det = fs_detect.load_detector("yunet", config=raw.detector_config).detect(image)[0]
    expected = fs_align.load_landmarker("dlib68").predict(image, det.box[None], refine=True)[0]
    assert np.allclose(result.faces[0].landmarks, expected, atol=1e-4)
    assert np.allclose(result.faces[0].box, det.box)


def test_smoothing_changes_landmarks_only_after_the_first_frame(
    serial: list[fs_detect.FrameResult], settings: fs_detect.ExtractSettings
) -> None:
    raw = fs_detect.ExtractSettings(**{**settings.__dict__, "smooth": False})
    unsmoothed = list(fs_detect.Extractor(raw).run(decode_cap12(range(FRAMES))))
    assert np.allclose(serial[0].faces[0].landmarks, unsmoothed[0].faces[0].landmarks)
    diffs = [np.abs(a.faces[0].landmarks - b.faces[0].landmarks).max() for a, b in zip(serial[1:], unsmoothed[1:])]
    assert max(diffs) > 0.01


def test_parallel_equals_serial_and_none_frames_are_unreadable(
    serial: list[fs_detect.FrameResult], settings: fs_detect.ExtractSettings
) -> None:
    """Two workers: run 0 (frames 0-2) is the serial result; run 1 starts afresh (a detection on its first frame,
    smoothing restarting), so its landmarks are close to the serial ones and its track id is carried over."""
    got = list(fs_detect.extract_parallel(decode_cap12, range(FRAMES), settings, jobs=2, fps=25.0))
    assert [r.index for r in got] == [r.index for r in serial]
    for a, b in zip(got, serial):
        assert len(a.faces) == len(b.faces)
        for fa, fb in zip(a.faces, b.faces):
            assert fa.track_id == fb.track_id
            if a.index < FRAMES // 2:
                assert np.allclose(fa.landmarks, fb.landmarks, atol=1e-4)
                assert np.array_equal(fa.face, fb.face)
            else:
                iod = np.linalg.norm(fb.landmarks[36:42].mean(0) - fb.landmarks[42:48].mean(0))
                assert np.linalg.norm(fa.landmarks - fb.landmarks, axis=1).mean() < 0.05 * iod
    every = fs_detect.ExtractSettings(**{**settings.__dict__, "detect_every": 1, "smooth": False})
    one = list(fs_detect.Extractor(every).run(decode_cap12(range(FRAMES))))
    two = list(fs_detect.extract_parallel(decode_cap12, range(FRAMES), every, jobs=2))
    for a, b in zip(one, two):  # detection on every frame, no smoothing: identical
        assert [f.track_id for f in a.faces] == [f.track_id for f in b.faces]
        assert all(np.array_equal(fa.face, fb.face) for fa, fb in zip(a.faces, b.faces))
    broken = fs_detect.Extractor(settings).process(7, None)
    assert not broken.readable and broken.faces == ()


def decode_cap12_slowly(indices: Sequence[int]) -> Iterator[tuple[int, npt.NDArray[np.uint8] | None]]:
    """The cap12 decoder at ~5 frames/s, so that helper processes are ready long before the frames run out."""
    for item in decode_cap12(indices):
        time.sleep(0.2)
        yield item


def decode_cap12_slowly_without_torch(indices: Sequence[int]) -> Iterator[tuple[int, npt.NDArray[np.uint8] | None]]:
    """:func:`decode_cap12_slowly`, failing in a worker process that has torch loaded (YuNet, the landmarks and
    the alignment never need it, and importing it costs a worker seconds): checked after the worker loaded its
    models (before the first frame) and after its last frame."""

    def check() -> None:
        if multiprocessing.parent_process() is not None and "torch" in sys.modules:
            raise RuntimeError("an extraction worker imported torch")

    check()
    yield from decode_cap12_slowly(indices)
    check()


def test_helpers_take_the_frames_left_once_ready(settings: fs_detect.ExtractSettings) -> None:
    frames, chunks = 40, []
    decode = decode_cap12_slowly_without_torch
    fs_detect.start_workers(decode)  # optional, early, idempotent
    fs_detect.start_workers(decode)
    got = list(fs_detect.extract_parallel(decode, range(frames), settings, jobs=2, progress=chunks.append))
    assert [r.index for r in got] == list(range(frames))
    assert all(len(r.faces) == 1 for r in got) and {r.faces[0].track_id for r in got} == {0}  # one track
    assert sum(chunks) == frames and max(chunks) > 1  # this process reports frames one by one, the helper in chunks
    serial = list(fs_detect.Extractor(settings).run(decode_cap12(range(frames))))
    for a, b in zip(got, serial):
        la, lb = a.faces[0].landmarks, b.faces[0].landmarks
        iod = np.linalg.norm(lb[36:42].mean(0) - lb[42:48].mean(0))
        assert np.linalg.norm(la - lb, axis=1).mean() < 0.05 * iod


def test_select_frames_cuts_shards_every_resume_and_max() -> None:
    assert fs_detect.select_frames(10, shard=(2, 2)) == [5, 6, 7, 8, 9]
    assert fs_detect.select_frames(10, every=3) == [0, 3, 6, 9]
    assert fs_detect.select_frames(10, skip=[0, 1], max_frames=3) == [2, 3, 4]
    shards = [fs_detect.select_frames(7, shard=(k, 3)) for k in (1, 2, 3)]
    assert [i for s in shards for i in s] == list(range(7))
    assert fs_detect.split_frames(list(range(5)), 2) == [(0, 1), (2, 3, 4)]
    with pytest.raises(ValueError, match="shard"):
        fs_detect.select_frames(10, shard=(3, 2))


def test_settings_parse_and_validate() -> None:
    s = fs_detect.ExtractSettings(detector="MTCNN", track="person", face_type="wf")  # type: ignore[arg-type]
    assert s.detector is fs_detect.DetectorName.MTCNN and s.track is fs_detect.TrackMode.PERSON
    assert s.face_type is fs_align.FaceType.WHOLE_FACE and s.needs_embedding
    with pytest.raises(ValueError, match="size"):
        fs_detect.ExtractSettings(size=8)
    with pytest.raises(ValueError, match="track"):
        fs_detect.ExtractSettings(track="nobody")  # type: ignore[arg-type]
