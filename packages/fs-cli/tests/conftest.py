"""Fixtures of the fs-cli tests: a short real clip with audio, a tiny model, a CLI runner."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fs_align.testing import asset_or_skip
from fs_cli.app import app

CLIP_FRAMES = 24


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 frames (400x300, 25 fps) of cap12 with a 2 s sine audio track (cut to the video by the writers)."""
    from fs_merge import ffmpeg_exe

    src = asset_or_skip("video-cap12")
    folder = tmp_path_factory.mktemp("clip")
    silent, out = folder / "silent.mp4", folder / "clip.mp4"
    run = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    cmd = [*run, "-i", str(src), "-frames:v", str(CLIP_FRAMES), "-c:v", "libx264", "-preset", "ultrafast", str(silent)]
    subprocess.run(cmd, check=True, capture_output=True)
    cmd = [*run, "-i", str(silent), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=2"]
    subprocess.run([*cmd, "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained DF model at 64 px (for merge/eval plumbing tests)."""
    from fs_models.testing import save_tiny_df

    return save_tiny_df(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def clip_faces(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clip's faces at 64 px (each with its frame index and frame-space landmarks; the source in the index)."""
    out = tmp_path_factory.mktemp("faces") / "dst_faces"
    result = CliRunner().invoke(app, ["-q", "extract", str(clip), "-o", str(out), "--size", "64"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def fs() -> Callable[..., object]:
    """Run ``fs ARGS`` in-process; returns the click Result (exit_code, output, stdout, stderr)."""
    runner = CliRunner()

    def run(*args: object) -> object:
        return runner.invoke(app, [str(a) for a in args])

    return run
