"""Every classic model (and phaze) trains through ``fs train`` with its own default loss on two real identities."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fs_align.testing import asset_or_skip
from fs_cli.app import app

TINY = {
    "original": ["e_dims=8", "ae_dims=32", "inter_dims=16", "inter_up_dims=16", "d_dims=8"],
    "h64": ["e_dims=8", "ae_dims=32", "inter_dims=16", "inter_up_dims=16", "d_dims=8", "d_mask_dims=4"],
    "h128": ["e_dims=8", "ae_dims=32", "inter_dims=16", "inter_up_dims=16", "d_dims=8", "d_mask_dims=4"],
    "quick96": ["e_dims=8", "ae_dims=32", "d_dims=8", "d_mask_dims=4"],
    # the configurable model's IAE + G-block recipe, set through --model-option
    "phaze": [
        "enc_dims=8",
        "fc_dims=16",
        "dec_dims=32",
        "dec_min_dims=8",
        "bottleneck_size=32",
        "gblock_dims=16",
        "inter=liae",
        "split_decoders=false",
        "gblock=true",
    ],
}


@pytest.fixture(scope="session")
def franck_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 faces (64 px) of identity A (franck.mp4), extracted by ``fs extract``."""
    from fs_merge import ffmpeg_exe

    folder = tmp_path_factory.mktemp("franck")
    clip = folder / "franck.mp4"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(asset_or_skip("video-franck"))]
    subprocess.run([*cmd, "-frames:v", "16", "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)
    result = CliRunner().invoke(app, ["-q", "extract", str(clip), "-o", str(folder / "faces"), "--size", "64"])
    assert result.exit_code == 0, result.output
    return folder / "faces"


def _losses(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss/loss"]) for r in rows if "loss/loss" in r]


@pytest.mark.parametrize("model", sorted(TINY))
def test_classic_models_learn_through_fs_train(
    fs: Any, franck_faces: Path, clip_faces: Path, tmp_path: Path, model: str
) -> None:
    run = tmp_path / model
    opts = [a for o in TINY[model] for a in ("--model-option", o)]
    args = ["-q", "train", "--json", "--src", franck_faces, "--dst", clip_faces, "-o", run, "--model", model,
            "--resolution", "32", *opts, "--batch", "4", "--lr", "1e-3", "--save-every", "0",
            "--preview-every", "0"]  # fmt: skip
    result = fs(*args, "--steps", "30")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 30
    losses = _losses(run)
    assert [s for s, _ in losses] == [10, 20, 30]
    assert losses[-1][1] < 0.85 * losses[0][1], losses  # it learns
    config = json.loads((run / "config.json").read_text())
    if model == "original":  # the seed's plain MSE, no mask terms
        assert config["loss"]["dssim_weight"] == 0 and config["loss"]["mse_weight"] == 1.0
        assert not config["loss"]["masked"] and config["loss"]["mask_weight"] == 0
    elif model in ("h64", "h128"):
        assert config["loss"]["mask_loss"] == "l1" and config["loss"]["mse_weight"] == 0
    if model == "original":  # resumes from its checkpoint
        resumed = fs(*args, "--steps", "32")
        assert resumed.exit_code == 0, resumed.output
        assert json.loads(resumed.stdout)["step"] == 32
