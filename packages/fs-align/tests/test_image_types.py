"""Image checks, conversions and the shared typed records."""

from __future__ import annotations

import numpy as np
import pytest

from fs_align import (
    Alignment,
    ConfigError,
    FaceType,
    FsError,
    LandmarkScheme,
    OneEuroConfig,
    Pose,
    ShapeError,
    as_bgr_uint8,
    check_image,
    check_points,
)


def test_check_image_accepts_bgr_uint8() -> None:
    img = np.zeros((4, 5, 3), np.uint8)
    assert check_image(img) is img


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((4, 5), np.uint8), r"frame: expected H x W x 3 BGR uint8, got array of shape \(4, 5\)"),
        (np.zeros((4, 5, 4), np.uint8), "expected H x W x 3 BGR uint8"),
        (np.zeros((4, 5, 3), np.float32), "dtype float32"),
        (np.zeros((0, 5, 3), np.uint8), "at least 1x1 pixels, got 5x0"),
        ([[1, 2, 3]], "got list"),
    ],
)
def test_check_image_names_argument_and_layout(bad: object, match: str) -> None:
    with pytest.raises(ShapeError, match=match):
        check_image(bad, "frame")


def test_check_image_masks_and_nan() -> None:
    check_image(np.zeros((3, 3), np.float32), "mask", channels=None, dtype=np.float32)
    nan = np.full((3, 3), np.nan, np.float32)
    with pytest.raises(ShapeError, match="mask: contains NaN"):
        check_image(nan, "mask", channels=None, dtype=np.float32)


def test_as_bgr_uint8_conversions() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = as_bgr_uint8(grey)
    assert out.shape == (3, 4, 3) and np.array_equal(out[:, :, 0], grey) and np.array_equal(out[:, :, 2], grey)
    bgra = np.dstack([np.full((2, 2), v, np.uint8) for v in (1, 2, 3, 255)])
    assert as_bgr_uint8(bgra).tolist() == np.dstack([np.full((2, 2), v, np.uint8) for v in (1, 2, 3)]).tolist()
    assert as_bgr_uint8(np.full((2, 2, 3), 65535, np.uint16)).max() == 255
    assert as_bgr_uint8(np.full((2, 2, 3), 0.5, np.float32))[0, 0, 0] == 128
    with pytest.raises(ShapeError, match=r"in \[0, 1\]"):
        as_bgr_uint8(np.full((2, 2, 3), 2.0, np.float32))
    with pytest.raises(ShapeError, match="NaN"):
        as_bgr_uint8(np.full((2, 2, 3), np.nan, np.float32))
    with pytest.raises(ShapeError, match="1, 3 or 4 channels"):
        as_bgr_uint8(np.zeros((2, 2, 2), np.uint8))


def test_check_points() -> None:
    pts = check_points(np.ones((68, 2), np.float32), "landmarks", num=68)
    assert pts.dtype == np.float64
    with pytest.raises(ShapeError, match="landmarks: expected 68 x 2 points, got 5 x 2"):
        check_points(np.ones((5, 2)), "landmarks", num=68)
    with pytest.raises(ShapeError, match="NaN"):
        check_points(np.full((3, 2), np.nan), "pts")
    with pytest.raises(ShapeError, match="N x 2"):
        check_points(np.ones((3, 3)), "pts")


def test_face_type_parse_and_scheme() -> None:
    assert FaceType.parse("wf") is FaceType.WHOLE_FACE
    assert FaceType.parse("WHOLE_FACE") is FaceType.WHOLE_FACE
    assert FaceType.parse("mid-full") is FaceType.MID_FULL
    with pytest.raises(ValueError, match="unknown face type 'x'; known: half"):
        FaceType.parse("x")
    with pytest.raises(ConfigError):  # fs's configuration error: an FsError and a ValueError
        FaceType.parse("x")
    assert issubclass(ConfigError, FsError) and issubclass(ConfigError, ValueError)
    with pytest.raises(ConfigError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0)
    assert LandmarkScheme.IBUG68.num_points == 68 and LandmarkScheme.FIVE_POINT.num_points == 5


def test_alignment_record() -> None:
    mat = np.array([[2, 0, -10], [0, 2, -20]], np.float64)
    al = Alignment(mat, "wf", 256)  # type: ignore[arg-type]
    assert al.image_to_face.dtype == np.float32 and al.face_type is FaceType.WHOLE_FACE
    inv = al.face_to_image
    np.testing.assert_allclose(inv, [[0.5, 0, 5], [0, 0.5, 10]], atol=1e-6)
    with pytest.raises(ShapeError, match="2x3"):
        Alignment(np.eye(3, dtype=np.float32), FaceType.FULL, 256)
    with pytest.raises(ShapeError, match="size"):
        Alignment(mat.astype(np.float32), FaceType.FULL, 0)
    assert Pose(1.0, 2.0, 3.0).yaw == 2.0


def test_atomic_write(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    from fs_align import atomic_write

    path = atomic_write(tmp_path / "sub" / "a.txt", "héllo")
    assert path.read_text(encoding="utf-8") == "héllo"
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"

    def fail(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(path, b"new")  # a failing write leaves the old file and no temp file
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]


def test_parse_enum_is_forgiving_and_names_the_choices() -> None:
    import enum

    from fs_align import parse_enum

    class Mode(enum.Enum):
        SEAMLESS_HIST = "seamless-hist-match"
        RAW_RGB = "raw_rgb"

    assert parse_enum(Mode, "seamless_hist_match", "mode") is Mode.SEAMLESS_HIST
    assert parse_enum(Mode, "RAW-RGB", "mode") is Mode.RAW_RGB
    assert parse_enum(Mode, "raw_rgb", "mode") is Mode.RAW_RGB  # by name too
    assert parse_enum(Mode, Mode.RAW_RGB, "mode") is Mode.RAW_RGB

    class Oops(Exception):
        pass

    with pytest.raises(Oops, match=r"mode: unknown value 'x'; known: seamless-hist-match, raw_rgb"):
        parse_enum(Mode, "x", "mode: unknown value", Oops)
