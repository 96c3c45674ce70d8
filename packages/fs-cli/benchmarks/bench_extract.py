"""`fs_cli.pipeline.extract_to_faceset` on a synthetic 720p clip (the demo video upscaled): YuNet + dlib68 + align.

Frames per second are in each benchmark's ``extra_info``; --jobs 1 and --jobs 2 run in the same session so
their ratio is the multi-process scaling. Run: ``pytest packages/fs-cli/benchmarks --benchmark-only``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fs_align.testing import asset_or_skip
from fs_cli.pipeline import extract_to_faceset

FRAMES = 96


@pytest.fixture(scope="module")
def clip720(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fs_merge import ffmpeg_exe

    src = asset_or_skip("video-franck")
    out = tmp_path_factory.mktemp("bench") / "franck720.mp4"
    vf = "scale=900:720:flags=bicubic,pad=1280:720:190:0"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-frames:v", str(FRAMES)]
    subprocess.run([*cmd, "-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(out)], check=True)
    return out


@pytest.mark.parametrize("jobs", [1, 2])
def test_extract_720p(benchmark: Any, clip720: Path, tmp_path: Path, jobs: int) -> None:
    import fs_detect

    settings = fs_detect.ExtractSettings(size=256)
    out = tmp_path / "faces"

    def run() -> Any:
        shutil.rmtree(out, ignore_errors=True)
        return extract_to_faceset(clip720, out, settings, jobs=jobs)

    summary = benchmark.pedantic(run, rounds=2, iterations=1)
    assert summary.faces == FRAMES
    best = benchmark.stats.stats.min
    benchmark.extra_info["frames"] = FRAMES
    benchmark.extra_info["frames_per_s_best"] = round(FRAMES / best, 2)
    benchmark.extra_info["frames_per_s_median"] = round(FRAMES / benchmark.stats.stats.median, 2)
