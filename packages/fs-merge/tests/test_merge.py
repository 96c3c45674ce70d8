"""merge_face round trips on real frames, with a contact sheet of every mode written for a person to look at."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fs_align import ShapeError, alignment_matrix
from fs_merge import MergeConfig, MergeError, MergeMode, merge_face, motion_from_landmarks, write_image

MODES = ["overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb"]


def _tint(face: np.ndarray) -> np.ndarray:
    """A strong colour cast (what a model trained on another person's lighting produces)."""
    f = face.astype(np.float32)
    f = f * np.array([0.55, 0.85, 1.25], np.float32) + np.array([10, 0, 25], np.float32)
    return np.clip(f, 0, 255).astype(np.uint8)


def _inner(rf) -> np.ndarray:
    """Frame pixels well inside the pasted mask (its frame-space image eroded by 12 px)."""
    from fs_align import unwarp_face

    m = unwarp_face(rf.mask.astype(np.float32) / 255.0, rf.matrix, rf.frame.shape) > 0.5
    return cv2.erode(m.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 255), 2, cv2.LINE_AA)
    return out


def _crop(rf, img: np.ndarray, pad: int = 40) -> np.ndarray:
    xs, ys = rf.landmarks[:, 0], rf.landmarks[:, 1]
    h, w = img.shape[:2]
    x0, y0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - 2 * pad)
    x1, y1 = min(w, int(xs.max()) + pad), min(h, int(ys.max()) + pad)
    return cv2.resize(img[y0:y1, x0:x1], (320, round(320 * (y1 - y0) / (x1 - x0))))


@pytest.mark.parametrize("name", ["einstein", "breakingbad"])
def test_round_trip_restores_colour(name: str, request, artefacts) -> None:
    rf = request.getfixturevalue(name)
    tinted = _tint(rf.face)
    inner = _inner(rf)
    tiles = [_label(_crop(rf, rf.frame), "original")]
    no_ct = merge_face(rf.frame, tinted, rf.mask, rf.matrix, MergeConfig(color_transfer="none", feather_px=6))
    err_none = np.abs(no_ct.astype(int) - rf.frame.astype(int))[inner].mean()
    tiles.append(_label(_crop(rf, no_ct), "tinted, no transfer"))
    for mode in MODES:
        cfg = MergeConfig(mode=mode, color_transfer="mkl-m", feather_px=6, erode_px=2)
        out = merge_face(rf.frame, tinted, rf.mask, rf.matrix, cfg)
        assert out.shape == rf.frame.shape and out.dtype == np.uint8
        err = np.abs(out.astype(int) - rf.frame.astype(int))[inner].mean()
        tiles.append(_label(_crop(rf, out), f"{mode} mkl-m {err:.1f}"))
        if mode != "raw-rgb":
            # The tint clips bright skin, so the lost range cannot come back: 30 % of the untreated error at most.
            assert err < 0.3 * err_none, (mode, err, err_none)
            assert err < 10.0, (mode, err)
        far = np.ones(rf.frame.shape[:2], bool)
        xs, ys = rf.landmarks[:, 0], rf.landmarks[:, 1]
        far[max(0, int(ys.min()) - 250) : int(ys.max()) + 250, max(0, int(xs.min()) - 250) : int(xs.max()) + 250] = 0
        assert np.array_equal(out[far], rf.frame[far])
    h = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    sheet = np.vstack([np.hstack(tiles[:4]), np.hstack([*tiles[4:], np.zeros_like(tiles[0])])])
    write_image(artefacts / f"merge_round_trip_{name}.png", sheet, label_visible=False)


def test_swap_lenna_into_breakingbad(lenna, breakingbad, artefacts) -> None:
    tiles = []
    for mode in ["overlay", "seamless"]:
        for ct in ["rct", "mkl-m", "idt-m", "sot-m"]:
            cfg = MergeConfig(mode=mode, color_transfer=ct, feather_px=8, erode_px=4)
            out = merge_face(breakingbad.frame, lenna.face, breakingbad.mask, breakingbad.matrix, cfg)
            tiles.append(_label(_crop(breakingbad, out), f"{mode} {ct}"))
    sheet = np.vstack([np.hstack(tiles[:4]), np.hstack(tiles[4:])])
    path = write_image(artefacts / "swap_lenna_into_breakingbad.png", sheet)
    assert path.stat().st_size > 10_000


def test_raw_predict_and_filters(breakingbad) -> None:
    rf = breakingbad
    face = merge_face(rf.frame, rf.face, rf.mask, rf.matrix, MergeConfig(mode="raw-predict", color_transfer="none"))
    assert face.shape == rf.face.shape and np.array_equal(face, rf.face)
    base = merge_face(rf.frame, rf.face, rf.mask, rf.matrix, MergeConfig(color_transfer="none"))
    for kwargs in (
        {"sharpen": "gaussian", "sharpen_amount": 60},
        {"sharpen": "box", "sharpen_amount": -60},
        {"denoise_power": 50},
    ):
        out = merge_face(rf.frame, rf.face, rf.mask, rf.matrix, MergeConfig(color_transfer="none", **kwargs))
        assert not np.array_equal(out, base), kwargs
    sharp = merge_face(
        rf.frame,
        rf.face,
        rf.mask,
        rf.matrix,
        MergeConfig(mode=MergeMode.RAW_PREDICT, color_transfer="none", sharpen="gaussian", sharpen_amount=80),
    )
    lap = [cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var() for x in (rf.face, sharp)]
    assert lap[1] > 1.5 * lap[0]


def test_motion_blur_along_landmark_motion(breakingbad) -> None:
    rf = breakingbad
    motion = motion_from_landmarks(rf.landmarks, rf.landmarks + np.array([24.0, 0.0], np.float32))
    assert motion == pytest.approx((24.0, 0.0))
    cfg = MergeConfig(color_transfer="none", motion_blur_power=100)
    still = merge_face(rf.frame, rf.face, rf.mask, rf.matrix, cfg)
    moved = merge_face(rf.frame, rf.face, rf.mask, rf.matrix, cfg, motion=motion)
    inner = _inner(rf)
    gx = [np.abs(np.diff(x.astype(np.float32), axis=1))[inner[:, 1:]].mean() for x in (still, moved)]
    gy = [np.abs(np.diff(x.astype(np.float32), axis=0))[inner[1:]].mean() for x in (still, moved)]
    assert gx[1] < 0.7 * gx[0]  # horizontal motion smears horizontal detail ...
    assert gx[1] / gx[0] < 0.8 * (gy[1] / gy[0]), (gx, gy)  # ... more than vertical detail


def test_partial_face_needs_allow_partial(breakingbad) -> None:
    rf = breakingbad
    lms = rf.landmarks - np.array([1300.0, 0.0], np.float32)  # the face now hangs over the left edge
    mat = alignment_matrix(lms, "whole_face", rf.face.shape[0])
    with pytest.raises(MergeError, match="outside the 1920x1080 frame"):
        merge_face(rf.frame, rf.face, rf.mask, mat, MergeConfig(mode="seamless"))
    for mode in ("overlay", "seamless"):
        out = merge_face(rf.frame, rf.face, rf.mask, mat, MergeConfig(mode=mode, allow_partial=True, feather_px=4))
        assert out.shape == rf.frame.shape and not np.array_equal(out[:, :200], rf.frame[:, :200])


def test_bad_input(breakingbad) -> None:
    rf = breakingbad
    with pytest.raises(MergeError, match="empty"):
        merge_face(rf.frame, rf.face, np.zeros_like(rf.mask), rf.matrix)
    with pytest.raises(ShapeError, match=r"frame.*grey"):
        merge_face(cv2.cvtColor(rf.frame, cv2.COLOR_BGR2GRAY), rf.face, rf.mask, rf.matrix)
    with pytest.raises(ShapeError, match="face_mask"):
        merge_face(rf.frame, rf.face, rf.mask[:128], rf.matrix)
    with pytest.raises(ShapeError, match="square"):
        merge_face(rf.frame, rf.face[:200], rf.mask[:200], rf.matrix)
    with pytest.raises(ShapeError, match="image_to_face"):
        merge_face(rf.frame, rf.face, rf.mask, np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="image_to_face"):
        merge_face(rf.frame, rf.face, rf.mask, np.eye(3))
    far = rf.matrix.copy()
    far[:, 2] += 5000.0
    with pytest.raises(MergeError, match="outside"):
        merge_face(rf.frame, rf.face, rf.mask, far)
