"""The whole pipeline through the CLI on a short real clip: extract -> train -> merge -> eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2

from fs_align.testing import artifact_dir
from fs_cli._cmd_demo import side_by_side
from fs_merge import FrameReader, probe_video, read_image_label

TINY = ["--model-option", "ae_dims=32", "--model-option", "e_dims=16", "--model-option", "d_dims=16"]
TINY += ["--model-option", "d_mask_dims=8"]


def test_extract_train_merge_eval(fs: Any, clip: Path, tmp_path: Path) -> None:
    faces = tmp_path / "faces"
    result = fs("-q", "extract", clip, "-o", faces, "--size", "64", "--track", "largest", "--jobs", "2")
    assert result.exit_code == 0, result.output
    model = tmp_path / "model"
    args = ["train", "--src", faces, "--dst", faces, "-o", model, "--steps", "24", "--batch", "4", "--resolution", "32"]
    result = fs("-q", *args, *TINY, "--preview-every", "12", "--json")
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["step"] == 24 and trained["final_loss"] > 0
    assert (model / "model.safetensors").is_file() and list((model / "previews").glob("*.png"))
    # resume: a second run continues to the new target
    result = fs("-q", *args[:-6], "--steps", "28", "--batch", "4", "--resolution", "32", *TINY, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 28
    swap = tmp_path / "swap.mp4"
    result = fs("-q", "merge", clip, "--model", model, "--faceset", faces, "-o", swap, "--mode", "seamless")
    assert result.exit_code == 0, result.output
    got, want = probe_video(swap, count_frames=True), probe_video(clip, count_frames=True)
    assert got.num_frames == want.num_frames == 24
    assert got.fps == want.fps and got.audio_codec is not None
    assert got.metadata.get("synthetic_media") == "true"
    # without --faceset the faces are found again
    swap2 = tmp_path / "swap2.mp4"
    result = fs("-q", "merge", clip, "--model", model / "model.safetensors", "-o", swap2, "--mask", "hull")
    assert result.exit_code == 0, result.output
    assert probe_video(swap2, count_frames=True).num_frames == 24
    picture = side_by_side(clip, swap, faces, artifact_dir("fs-cli") / "e2e_side_by_side.png")
    assert read_image_label(picture) is not None
    assert cv2.imread(str(picture)) is not None
    changed = [float(cv2.absdiff(a.image, b.image).mean()) for a, b in zip(FrameReader(clip), FrameReader(swap))]
    assert min(changed) > 0.5  # every frame had its face replaced
    result = fs("eval", swap, "--dst", clip, "--src", faces, "--model", model, "--dst-faceset", faces, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["frames_compared"] >= 20
    for key in ("identity_cos_swap_vs_src", "identity_cos_swap_vs_dst", "landmark_nme_swap_vs_dst", "ssim_dst_dst"):
        assert -1.0 <= scores[key] <= 1.0 or key == "landmark_nme_swap_vs_dst"
    assert 0.0 < scores["landmark_nme_swap_vs_dst"] < 0.5
    assert scores["jitter_swap"] is not None and scores["jitter_dst"] is not None
    table = fs("eval", swap, "--dst", clip, "--src", faces)
    assert table.exit_code == 0 and "identity_cos_swap_vs_src" in table.output
