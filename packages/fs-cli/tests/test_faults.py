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

import cv2
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
    if name == "extract-video" and outcome.killed:
        assert 0 < outcome.kept_faces < fc.CLIP_FRAMES, outcome  # killed mid-way: --resume did the rest


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
    args = ["extract", world.clip, "--size", "64", "--no-smooth", "--detect-every", "1"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    t0 = time.monotonic()
    assert fc.run_fs(*args, "-o", ref).returncode == 0
    seconds = time.monotonic() - t0
    for share in (0.5, 0.3, 0.2):  # mid-way through the frames (the imports take the first part)
        shutil.rmtree(out, ignore_errors=True)
        proc = _start(*args, "-o", out)
        time.sleep(share * seconds)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:  # 0: it finished first (a loaded machine); try earlier
            break
    assert proc.returncode == 143, err
    _one_line(err, "SIGTERM")
    if out.exists():  # absent when stopped before the first frame was done
        validate(out)  # the faces found so far were committed
    again = fc.run_fs(*args, "-o", out, "--resume")
    assert again.returncode == 0, again.stderr
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


def test_sigterm_mask_train_saves(world: Any, tmp_path: Path) -> None:
    from fs_mask import load_checkpoint

    out = tmp_path / "xseg"
    proc = _start("mask", "train", world.faces, "-o", out, "--steps", "100000", "--batch", "2", "--resolution", "64",
                  "--preview-every", "1")  # fmt: skip
    _wait_for(out / "previews" / "preview_0000001.png", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    _one_line(err, "SIGTERM")
    assert load_checkpoint(out / "xseg.safetensors").step >= 1  # the steps done were kept


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


# -- regression tests of what the campaign found (in-process, fast) --------------------------------------------
def test_interrupted_in_place_sort_is_put_back(fs: Any, clip_faces: Path, tmp_path: Path) -> None:
    """Killed between the two renames of an in-place sort, the faceset was only at ``.faces.old``."""
    faces = tmp_path / "faces"
    shutil.copytree(clip_faces, tmp_path / ".faces.old")
    assert fs("-q", "faceset", "sort", faces, "--by", "blur").exit_code == 0
    validate(faces)
    assert not (tmp_path / ".faces.old").exists()
    shutil.copytree(faces, tmp_path / ".faces.old")  # killed after both renames: the old copy is removed
    assert fs("-q", "faceset", "info", faces).exit_code == 0
    assert not (tmp_path / ".faces.old").exists()


def test_outputs_built_under_temp_names(fs: Any, clip_faces: Path, tmp_path: Path) -> None:
    """A killed merge/import left a partial faceset at -o and the re-run refused it; now only a hidden
    ``.NAME.partial`` can be left, and the next run removes it."""
    out = tmp_path / "merged"
    (tmp_path / ".merged.partial").mkdir()
    (tmp_path / ".merged.partial" / "shard-000000.safetensors").write_bytes(b"half")
    assert fs("-q", "faceset", "merge", clip_faces, clip_faces, "-o", out).exit_code == 0
    validate(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged"]
    assert fs("-q", "faceset", "export-dfl", clip_faces, "-o", tmp_path / "dfl").exit_code == 0
    bad = fs("-q", "faceset", "import-dfl", tmp_path / "merged", "-o", tmp_path / "imp")
    assert bad.exit_code == 1 and not (tmp_path / "imp").exists() and not (tmp_path / ".imp.partial").exists()
    assert fs("-q", "faceset", "import-dfl", tmp_path / "dfl", "-o", tmp_path / "imp").exit_code == 0
    validate(tmp_path / "imp")


def test_interrupted_frames_folder_is_written_again(fs: Any, clip: Path, tmp_path: Path) -> None:
    """A killed ``fs video frames`` left frames without video.json (and could leave half a PNG); the re-run
    refused the folder. Frames are now written whole, and such a folder is started again."""
    out = tmp_path / "frames"
    out.mkdir()
    (out / "000000.png").write_bytes(b"\x89PNG half")
    assert fs("-q", "video", "frames", clip, "-o", out).exit_code == 1  # frames from elsewhere: never deleted
    (out / ".fs-frames-unfinished").touch()  # what a killed `fs video frames` leaves
    (out / ".000001.png.tmp").write_bytes(b"tmp")
    result = fs("-q", "video", "frames", clip, "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "video.json").is_file() and not list(out.glob(".*"))
    assert all(cv2.imread(str(p)) is not None for p in out.glob("*.png"))
    (out / "notes.txt").write_text("mine")
    (out / "video.json").unlink()
    assert fs("-q", "video", "frames", clip, "-o", out).exit_code == 1  # not ours: never deleted
    assert (out / "notes.txt").is_file()
