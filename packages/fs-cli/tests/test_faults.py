"""Faults on the real ``fs`` processes: kill -9 at seeded moments, Ctrl-C / SIGTERM, a full disk.

The kill scenarios are those of ``tools/fault_campaign.py`` (one kill each here; the campaign runs many and its
counts are in RELIABILITY.md).
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fs_faceset import validate

ROOT = Path(__file__).resolve().parents[3]


def _campaign() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fault_campaign", ROOT / "tools" / "fault_campaign.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_campaign"] = module
    spec.loader.exec_module(module)
    return module


fc = _campaign()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fs_align.testing import asset_or_skip

    asset_or_skip("video-cap12")
    return fc.World(tmp_path_factory.mktemp("faults") / "world").build(full=False)


@pytest.mark.parametrize("name", ["extract-video", "faceset-sort", "video-frames", "merge"])
def test_kill_then_rerun(world: Any, name: str, tmp_path: Path) -> None:
    """SIGKILL at a seeded moment; what is on disk is intact and the re-run gives the uninterrupted result."""
    (scenario,) = [s for s in fc.scenarios(world) if s.name == name]
    seconds = fc.reference(scenario, tmp_path)
    outcome = fc.kill_once(scenario, tmp_path, 0, seconds, random.Random(f"0:{name}"))
    assert not outcome.problems, outcome


def _start(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(fc.fs_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 300) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, f"finished before {path.name} appeared: {proc.communicate()}"
        assert time.monotonic() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.05)


def _one_line(stderr: str, *words: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_sigterm_extract_keeps_faces_and_resumes(world: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start("extract", world.clip, "-o", out, "--size", "64", "--no-smooth")
    _wait_for(out, proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("extraction finished before the signal arrived")
    assert proc.returncode == 143, err
    _one_line(err, "SIGTERM")
    if (out / "index.json").exists():
        validate(out)
    again = fc.run_fs("extract", world.clip, "-o", out, "--size", "64", "--no-smooth", "--resume")
    assert again.returncode == 0, again.stderr
    ref = tmp_path / "ref"
    assert fc.run_fs("extract", world.clip, "-o", ref, "--size", "64", "--no-smooth").returncode == 0
    assert fc.same_faces(ref, out) is None


def test_sigint_train_saves_then_exits_130(world: Any, tmp_path: Path) -> None:
    from fs_train import load_checkpoint

    model = tmp_path / "model"
    proc = _start("train", "--src", world.faces, "--dst", world.faces, "-o", model, "--steps", "1000", "--batch",
                  "2", "--resolution", "32", *fc.TINY, "--save-every", "1", "--preview-every", "0")  # fmt: skip
    _wait_for(model / "checkpoint.safetensors", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    line = _one_line(err, "SIGINT", "saved")
    state = load_checkpoint(model / "checkpoint.safetensors", fallback=False)
    assert 1 <= int(state.meta["step"]) < 1000 and f"step {state.meta['step']}" in line


# -- a full disk -----------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MB tmpfs (mounting needs root: skipped elsewhere, with the reason)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full-disk test mounts a small tmpfs, which needs root and mount(8)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave: int) -> None:
    """Fill the filesystem at ``mnt`` until about ``leave`` bytes are free."""
    free = shutil.disk_usage(mnt).free
    with (mnt / "filler").open("ab") as fh:
        fh.write(bytes(max(0, free - leave)))


def test_full_disk_extract_train_merge(world: Any, small_disk: Path) -> None:
    from fs_models import load_model
    from fs_train import load_checkpoint

    old = small_disk / "old_faces"
    shutil.copytree(world.faces, old)
    model = small_disk / "model"
    args = ["train", "--src", world.faces, "--dst", world.faces, "-o", model, "--batch", "2", "--resolution", "32",
            *fc.TINY, "--preview-every", "0"]  # fmt: skip
    assert fc.run_fs(*args, "--steps", "2").returncode == 0
    _fill(small_disk, 200_000)
    # extract: one line, nothing at the new path, the faceset already there intact
    got = fc.run_fs("extract", world.clip, "-o", small_disk / "new", "--size", "64")
    assert got.returncode == 1, got.stderr
    _one_line(got.stderr, "no space left")
    assert not (small_disk / "new").exists()
    validate(old)
    # train on: the next checkpoint does not fit; the last one still loads
    got = fc.run_fs(*args, "--steps", "4")
    assert got.returncode == 1, got.stderr
    _one_line(got.stderr.lower(), "no space left")
    assert int(load_checkpoint(model / "checkpoint.safetensors", fallback=False).meta["step"]) == 2
    load_model(model / "model.safetensors")
    # merge: no partial video anywhere
    got = fc.run_fs("merge", world.clip, "--model", world.model, "--faceset", world.faces, "-o",
                    small_disk / "out.mp4", "--preset", "ultrafast")  # fmt: skip
    assert got.returncode == 1, got.stderr
    _one_line(got.stderr.lower(), "no space left")
    assert not [p for p in small_disk.iterdir() if p.suffix == ".mp4"]
