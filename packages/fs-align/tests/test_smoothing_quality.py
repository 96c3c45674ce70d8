"""One Euro smoothing on a real talking-head clip, and the nme/jitter measures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fs_align import LandmarkSmoother, OneEuroConfig, OneEuroFilter, ShapeError, jitter, load_landmarker, nme
from fs_align.testing import asset_or_skip


def _track_franck(frames: int) -> np.ndarray:
    """Landmarks of the first ``frames`` frames of franck.mp4, each frame seeded from the previous one."""
    lm = load_landmarker("dlib68")
    cap = cv2.VideoCapture(str(asset_or_skip("video-franck")))
    images = []
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok, "franck.mp4 ended early"
        images.append(frame)
    cap.release()
    h, w = images[0].shape[:2]
    yunet = cv2.FaceDetectorYN.create(str(asset_or_skip("yunet")), "", (w, h), 0.6)
    _, faces = yunet.detect(images[0])
    assert faces is not None and len(faces) == 1
    x, y, bw, bh = (float(v) for v in faces[0][:4])
    side = max(bw, bh)
    box = np.array([x + bw / 2 - side / 2, y + bh / 2 - side / 2, x + bw / 2 + side / 2, y + bh / 2 + side / 2])
    for _ in range(3):  # settle the detector's box into the predictor's own convention
        box = lm.box_from_landmarks(lm.predict(images[0], box[None])[0])
    out = []
    for img in images:
        pts = lm.predict(img, box[None])[0]
        out.append(pts)
        box = lm.box_from_landmarks(pts)
    return np.asarray(out)


def _lag(raw: np.ndarray, smooth: np.ndarray, max_lag: int = 5) -> int:
    """Delay (frames) that best aligns the smoothed face centre with the raw one."""
    c_raw, c_sm = raw.mean(axis=1), smooth.mean(axis=1)
    errs = [np.mean(np.sum((c_sm[max_lag:] - c_raw[max_lag - k : len(c_raw) - k]) ** 2, axis=1)) for k in range(6)]
    return int(np.argmin(errs))


def test_smoothing_on_talking_head() -> None:
    asset_or_skip("dlib68")
    raw = _track_franck(200)
    centre = raw.mean(axis=1)
    assert np.ptp(centre, axis=0).max() > 10, "the face should move in this stretch of the clip"
    smoother = LandmarkSmoother()
    smooth = np.asarray([smoother.update("franck", p) for p in raw])
    j_raw, j_smooth = jitter(raw), jitter(smooth)
    assert j_smooth <= 0.5 * j_raw, (j_raw, j_smooth)
    assert _lag(raw, smooth) <= 1
    # the smoothed face stays on the face: within 3% of the inter-ocular distance on average
    assert float(np.mean(nme(smooth, raw))) < 0.03


def test_track_loss_and_jump_reset() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(100, 200, (68, 2))
    sm = LandmarkSmoother()
    np.testing.assert_allclose(sm.update(1, base), base, atol=1e-4)  # first frame passes through
    sm.update(1, base + rng.normal(0, 1, base.shape))
    assert sm.tracks == [1]
    assert sm.update(1, None) is None and sm.tracks == []
    moved = base + 500.0  # a jump of several face sizes: a new face, not motion
    np.testing.assert_allclose(sm.update(1, base), base, atol=1e-4)
    np.testing.assert_allclose(sm.update(1, moved), moved, atol=1e-4)
    with pytest.raises(ShapeError):
        sm.update(2, np.full((68, 2), np.nan))


def test_one_euro_filter() -> None:
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    assert np.allclose(f(np.ones(3)), 1.0)
    for _ in range(10):
        out = f(np.ones(3))
    assert np.allclose(out, 1.0)
    step = [f(np.full(3, 2.0))[0] for _ in range(30)]
    assert 1.0 < step[0] < 2.0 and np.all(np.diff(step) > 0) and step[-1] > 1.99
    f.reset()
    assert np.allclose(f(np.zeros(3)), 0.0)
    with pytest.raises(ValueError, match="t:"):
        f(np.zeros(3), t=0.0)
        f(np.zeros(3), t=0.0)
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0.0)


def test_jitter_ignores_similarity_motion() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 100, (68, 2))
    frames = []
    for k in range(10):
        ang, s = 0.05 * k, 1.0 + 0.02 * k
        rot = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        frames.append(base @ rot.T + [3.0 * k, -2.0 * k])
    seq = np.asarray(frames)
    assert jitter(seq) < 1e-9
    noisy = seq + rng.normal(0, 0.5, seq.shape)
    assert jitter(noisy, normalize=False) > 0.3
    with pytest.raises(ShapeError):
        jitter(seq[:1])


def test_nme() -> None:
    gt = np.zeros((68, 2))
    gt[:, 0] = np.arange(68)
    gt[36], gt[45] = (0.0, 0.0), (10.0, 0.0)
    assert nme(gt, gt) == 0.0
    assert nme(gt + np.array([0.0, 1.0]), gt) == pytest.approx(0.1)
    batch = nme(np.stack([gt, gt + np.array([0.0, 2.0])]), np.stack([gt, gt]))
    np.testing.assert_allclose(batch, [0.0, 0.2])
    with pytest.raises(ShapeError):
        nme(gt[:5], gt[:5])
