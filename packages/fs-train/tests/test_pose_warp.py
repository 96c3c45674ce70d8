"""The 2.5-D pose warp (``AugmentConfig.src_pitch`` / ``src_yaw``): real faces turned, read back by fs-align."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from fs_align import estimate_pose, load_landmarker
from fs_align.testing import artifact_dir
from fs_faceset import Faceset
from fs_train import AugmentConfig, ConfigError, LossConfig, PairSampler, Trainer, open_pair
from fs_train._pose_warp import pose_warp_maps, turn_landmarks


def _pose(points: np.ndarray, size: int) -> np.ndarray:
    p = estimate_pose(points, (size, size))
    return np.array([p.pitch, p.yaw, p.roll])


def test_a_turn_reads_back_as_that_pose(facesets) -> None:  # type: ignore[no-untyped-def]
    faces = Faceset.open(facesets[0])
    size = faces.images([0])[0].shape[0]
    for lm in faces.landmarks(list(range(0, len(faces), 7))):
        base = _pose(lm, size)
        assert np.abs(turn_landmarks(lm, 0.0, 0.0) - lm).max() < 1e-6
        for pitch, yaw in ((8.0, 0.0), (-8.0, 0.0), (0.0, 8.0), (0.0, -8.0)):
            moved = _pose(turn_landmarks(lm, pitch, yaw), size) - base
            # the estimator's pinhole camera reads a scaled-orthographic turn a little short (0.7-1.0 of it)
            want = np.array([pitch, yaw])
            assert np.all(np.abs(moved[:2] - 0.85 * want) <= 0.2 * np.abs(want) + 0.5), (pitch, yaw, moved)
            assert abs(moved[2]) < 2.5  # roll stays (a yawed face that also looks up reads a little roll)


def test_the_warped_image_shows_the_turn(facesets) -> None:  # type: ignore[no-untyped-def]
    """dlib's landmarker, run on the warped pixels, finds the turned landmarks and their pose."""
    faces = Faceset.open(facesets[0])
    landmarker = load_landmarker("dlib68")
    rows = []
    for i in (0, len(faces) // 2):
        image, lm = faces.images([i])[0], faces.landmarks([i])[0]
        size = image.shape[0]
        mapx, mapy, turned = pose_warp_maps(lm, size, 0.0)
        identity = np.meshgrid(np.arange(size), np.arange(size))
        assert np.abs(mapx - identity[0]).max() < 0.05 and np.abs(mapy - identity[1]).max() < 0.05
        row = []
        for pitch in (-10.0, 10.0):
            mapx, mapy, turned = pose_warp_maps(lm, size, pitch)
            warped = cv2.remap(image, mapx, mapy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            found = np.asarray(landmarker.predict(warped, landmarker.box_from_landmarks(turned)[None], refine=True))[0]
            assert np.abs(found - turned).mean() < 0.03 * size  # the landmarks moved with the pixels
            moved = _pose(found, size)[0] - _pose(lm, size)[0]
            assert np.sign(moved) == np.sign(pitch) and abs(moved) > 0.5 * abs(pitch), (pitch, moved)
            row.append(warped)
        rows.append(np.concatenate([row[0], image, row[1]], axis=1))
    cv2.imwrite(str(artifact_dir("fs-train") / "pose_warp_down_none_up.png"), np.concatenate(rows, axis=0))


def test_the_sampler_turns_src_only_and_the_masks_follow(facesets) -> None:  # type: ignore[no-untyped-def]
    sources = open_pair(*facesets, LossConfig(eyes_mouth_weight=300.0))
    still = AugmentConfig(random_warp=False, rotation=0, scale=0, shift=0, flip_src=False, flip_dst=False)
    base = PairSampler(sources, still, 64, 6, 0, need_em=True).make(0)
    turned = PairSampler(sources, dataclasses.replace(still, src_pitch=10.0), 64, 6, 0, need_em=True).make(0)
    for key in ("dst_input", "dst_target", "dst_mask", "dst_em"):
        assert np.array_equal(turned[key], base[key]), key
    assert np.array_equal(turned["src_input"], turned["src_target"])  # no random warp: the input is the target
    diff = np.abs(turned["src_target"].astype(int) - base["src_target"]).mean(axis=(1, 2, 3))
    assert (diff > 0.5).sum() >= 4  # uniform in [-10, 10]: most samples visibly turned
    assert not np.array_equal(turned["src_mask"], base["src_mask"]) and not np.array_equal(
        turned["src_em"], base["src_em"]
    )  # the hull and eyes-mouth masks are drawn from the turned landmarks
    warped = PairSampler(sources, dataclasses.replace(still, src_pitch=10.0, random_warp=True), 64, 6, 0).make(0)
    assert np.array_equal(warped["src_target"], turned["src_target"])  # the warp is on the input only
    assert not np.array_equal(warped["src_input"], warped["src_target"])


@pytest.mark.parametrize("bad", [-1.0, 31.0, float("nan")])
def test_turns_are_bounded(bad: float) -> None:
    for name in ("src_pitch", "src_yaw"):
        with pytest.raises(ConfigError, match=name):
            AugmentConfig(**{name: bad})


def test_a_tiny_run_trains_with_the_turn(tiny_config) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config(steps=3, augment=AugmentConfig(src_pitch=8.0, src_yaw=4.0))
    assert AugmentConfig.from_dict(config.augment.to_dict()) == config.augment
    result = Trainer(config).fit()
    assert result.step == 3 and all(np.isfinite(loss) for _, loss in result.history)


def test_turns_toward_dst_follow_dst_poses_and_clip(facesets) -> None:  # type: ignore[no-untyped-def]
    from fs_train._augment import SideSpec, augment_sample

    sources = open_pair(*facesets, LossConfig())
    sampler = PairSampler(sources, AugmentConfig(src_pitch=30.0, src_yaw=30.0, src_turn="dst"), 64, 4, 0)
    src, dst = sources
    turns = np.array([sampler._toward_dst(i % len(src), np.random.default_rng(i)) for i in range(4000)])
    own = src.poses[np.arange(4000) % len(src), :2]
    # the turned src poses are distributed as dst's: same mean, same spread
    np.testing.assert_allclose((own + turns).mean(axis=0), dst.poses[:, :2].mean(axis=0), atol=0.5)
    np.testing.assert_allclose((own + turns).std(axis=0), dst.poses[:, :2].std(axis=0), rtol=0.15, atol=0.3)
    # augment_sample turns by the given angles, clipped to the spec's limits
    still = AugmentConfig(random_warp=False, rotation=0, scale=0, shift=0, flip_src=False, src_pitch=8.0)
    spec = SideSpec.build(still, 64, is_src=True, need_mask=False, need_em=False)
    image, lm = src.faceset.images([0])[0], src.landmarks[0]
    outs = []
    for toward in ((5.0, 0.0), (25.0, 3.0), (8.0, 0.0)):
        target = np.empty((64, 64, 3), np.uint8)
        augment_sample(image, lm, None, spec, np.random.default_rng(0), np.empty_like(target), target, None, None,
                       toward=toward)  # fmt: skip
        outs.append(target)
    mapx, mapy, _ = pose_warp_maps(lm, 64, 5.0)
    expect = cv2.remap(image, mapx, mapy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(outs[0].astype(int) - expect).max() <= 1
    assert np.array_equal(outs[1], outs[2])  # 25 clipped to 8; yaw limit 0 clips 3 to 0
