"""Masks as a column: batch reads, atomic in-place updates (and what a crash at each step leaves)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fs_align import ShapeError
from fs_faceset import Face, Faceset, FacesetError, FacesetWriter, PolygonKind, SourceInfo, remove, validate


@pytest.fixture
def faceset(tmp_path, make_faces):
    with FacesetWriter(tmp_path / "fs", shard_size=3) as w:  # 8 faces in shards of 3, 3, 2
        w.add_source(SourceInfo("clip.mp4", fps=25.0, processed=range(8)))
        w.add_all(make_faces(8))
    (tmp_path / "fs" / "notes.txt").write_text("kept")  # anything else in the folder must survive
    return tmp_path / "fs"


def _disk(size: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (((xx - size / 2) ** 2 + (yy - size / 2) ** 2) < r * r).astype(np.float32)


def test_masks_reads_the_stored_masks(faceset, make_faces) -> None:
    faces, fs = make_faces(8), Faceset.open(faceset)
    got = fs.masks()
    assert [m is None for m in got] == [f.mask is None for f in faces]
    for m, f in zip(got, faces, strict=True):
        if m is not None:
            assert m.dtype == np.float32 and m.shape == (64, 64) and m.min() >= 0 and m.max() == 1.0
            np.testing.assert_array_equal(np.round(m * 255).astype(np.uint8), f.mask)
    assert [m is None for m in fs.masks([5, 0])] == [True, False] and fs.masks([]) == []


def test_set_masks_updates_in_place(faceset) -> None:
    fs = Faceset.open(faceset)
    before_files = {p.name for p in faceset.iterdir()}
    disk, old = _disk(64, 20), fs.masks()
    new = fs.set_masks([1, 4], [disk, (disk * 255).astype(np.uint8)])
    assert len(new) == 8 and new.ids == fs.ids and validate(new).faces == 8
    got = new.masks()
    np.testing.assert_array_equal(got[1], disk)
    np.testing.assert_array_equal(got[4], disk)
    for i in (0, 2, 3, 5, 6, 7):  # untouched faces keep their masks (or none)
        assert (got[i] is None and old[i] is None) or np.array_equal(got[i], old[i])
    np.testing.assert_array_equal(new.images(), fs.images())  # images and everything else unchanged
    assert new[0].polygons and [k for k, _ in new[0].polygons] == [k for k, _ in fs[0].polygons]
    assert new.sources() == fs.sources() and (faceset / "notes.txt").read_text() == "kept"
    after = {p.name for p in faceset.iterdir()}  # shards 0 and 1 replaced by two new ones, shard 2 kept
    assert before_files - after == {"shard-000000.safetensors", "shard-000001.safetensors"}
    assert after - before_files == {"shard-000003.safetensors", "shard-000004.safetensors"}
    np.testing.assert_array_equal(fs.masks([0])[0], old[0])  # an older Faceset object still reads
    # by id, clearing with None, and through a view (positions are the view's)
    cleared = new.set_masks([new.ids[0], new.ids[1]], None)
    assert cleared.masks([0, 1]) == [None, None] and cleared[0].mask is None
    view = remove(cleared, [cleared.ids[2]])[2:5]  # faces 3, 4, 5 of the faceset
    updated = view.set_masks([0], [_disk(64, 5) > 0])
    assert updated.ids == view.ids and np.array_equal(updated.masks([0])[0], _disk(64, 5))
    assert np.array_equal(Faceset.open(faceset).masks([2])[0], _disk(64, 5))


def test_set_masks_rejects_bad_input(faceset) -> None:
    fs = Faceset.open(faceset)
    with pytest.raises(FacesetError, match=r"2 faces but 1 masks"):
        fs.set_masks([0, 1], [None])
    with pytest.raises(FacesetError, match=r"names a face twice"):
        fs.set_masks([1, 1], None)
    with pytest.raises(FacesetError, match=r"no face with id 'nope'"):
        fs.set_masks(["nope"], None)
    with pytest.raises(ShapeError, match=r"64 x 64"):
        fs.set_masks([0], [np.zeros((32, 32), np.uint8)])
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        fs.set_masks([0], [np.full((64, 64), 2.0, np.float32)])
    with pytest.raises(IndexError):
        fs.set_masks([8], None)
    assert {p.name for p in faceset.iterdir() if p.name.startswith(".")} == set()  # no temp files left
    assert len(Faceset.open(faceset).shard_paths()) == 3


_CRASH = """
import os, sys
import numpy as np
import fs_faceset._update as u
from fs_faceset import Faceset
step = sys.argv[1]
real_write, real_index = u.atomic_write, u.write_index
calls = []
def write(path, chunks):
    sha = real_write(path, chunks)
    calls.append(path)
    if step == "second-shard" and len(calls) == 1:
        os._exit(3)  # the process dies after one new shard is on disk
    return sha
def index(folder, idx):
    if step == "index":
        os._exit(3)  # dies before the commit
    real_index(folder, idx)
    if step == "cleanup":
        os._exit(3)  # dies after the commit, before the old shards are deleted
u.atomic_write, u.write_index = write, index
fs = Faceset.open(sys.argv[2])
fs.set_masks([0, 4, 7], [np.ones((64, 64), np.float32)] * 3)
"""


@pytest.mark.parametrize("step", ["second-shard", "index", "cleanup"])
def test_a_crash_at_any_step_leaves_a_valid_faceset(faceset, step) -> None:
    old = Faceset.open(faceset).masks()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_CRASH), step, str(faceset)], env=env, check=False)
    assert proc.returncode == 3
    fs = Faceset.open(faceset)
    assert validate(fs).faces == 8 and (faceset / "notes.txt").exists()
    got = fs.masks()
    if step == "cleanup":  # committed: every new mask is there (the old shards are orphans, ignored)
        assert all(np.array_equal(got[i], np.ones((64, 64))) for i in (0, 4, 7))
        assert len(list(faceset.glob("shard-*.safetensors"))) == 6
    else:  # not committed: the old faceset, untouched
        assert all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(got, old, strict=True))
    # the next update works over whatever orphans the crash left
    again = fs.set_masks([0], [np.zeros((64, 64), np.uint8)])
    assert validate(again).faces == 8 and again.masks([0])[0].max() == 0


def test_error_before_the_commit_removes_the_new_shards(faceset, monkeypatch) -> None:
    import fs_faceset._update as u

    def fail(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(u, "write_index", fail)
    fs = Faceset.open(faceset)
    with pytest.raises(OSError, match="disk full"):
        fs.set_masks([0, 7], None)
    assert sorted(p.name for p in faceset.glob("shard-*")) == [f"shard-00000{i}.safetensors" for i in range(3)]
    assert validate(faceset).faces == 8 and Faceset.open(faceset).masks()[0] is not None


def test_polygons_keep_their_order_and_kinds(make_faces) -> None:
    f = make_faces(1)[0]
    assert [k for k, _ in f.polygons] == [PolygonKind.INCLUDE, PolygonKind.EXCLUDE, PolygonKind.INCLUDE]
    assert len(f.xseg_include) == 2 and len(f.xseg_exclude) == 1
    np.testing.assert_array_equal(f.xseg_include[1], f.polygons[2][1])
    base = dict(image=f.image, face_type=f.face_type, landmarks=f.landmarks, source_landmarks=f.source_landmarks,
                image_to_face=f.image_to_face)  # fmt: skip
    with pytest.raises(ShapeError, match=r"unknown polygon kind 'inside'"):
        Face(**base, polygons=(("inside", f.landmarks[:5]),))
    with pytest.raises(ShapeError, match=r"\(PolygonKind, N x 2 points\) pair"):
        Face(**base, polygons=(f.landmarks[:5],))
