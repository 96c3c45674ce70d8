"""Polygon labels as a column (atomic in-place update, order and other faces kept) and undoing a remove."""

from __future__ import annotations

import numpy as np
import pytest

from fs_align import ShapeError
from fs_faceset import Faceset, FacesetError, FacesetWriter, PolygonKind, SourceInfo, compact, remove, restore, validate


@pytest.fixture
def faceset(tmp_path, make_faces):
    with FacesetWriter(tmp_path / "fs", shard_size=3) as w:  # 8 faces in shards of 3, 3, 2
        w.add_source(SourceInfo("clip.mp4", fps=25.0, processed=range(8)))
        w.add_all(make_faces(8))
    (tmp_path / "fs" / "notes.txt").write_text("kept")
    return tmp_path / "fs"


def test_set_polygons_replaces_only_the_named_faces(faceset, make_faces) -> None:
    faces, fs = make_faces(8), Faceset.open(faceset)
    square = np.array([[4, 4], [40, 4], [40, 40], [4, 40]], np.float32)
    tri = np.array([[10, 10], [30, 10], [20, 30]], np.float32)
    new = fs.set_polygons([fs.ids[0], fs.ids[4]], [[("exclude", tri), (PolygonKind.INCLUDE, square)], []])
    assert new.ids == fs.ids and (faceset / "notes.txt").read_text() == "kept"
    again = Faceset.open(faceset)
    first = again[0].polygons
    assert [k for k, _ in first] == [PolygonKind.EXCLUDE, PolygonKind.INCLUDE]  # drawing order kept
    np.testing.assert_array_equal(first[0][1], tri)
    np.testing.assert_array_equal(first[1][1], square)
    assert again[4].polygons == ()
    for i in (1, 2, 3, 5, 6, 7):  # everyone else untouched, masks and images too
        got, want = again[i], faces[i]
        assert [k for k, _ in got.polygons] == [k for k, _ in want.polygons]
        for (_, a), (_, b) in zip(got.polygons, want.polygons, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(got.image, want.image)
        assert (got.mask is None) == (want.mask is None)
    assert validate(faceset).faces == 8
    assert len(list(faceset.glob("shard-*.safetensors"))) == 3  # the rewritten shards replaced the old ones


def test_set_polygons_refuses_bad_input(faceset) -> None:
    fs = Faceset.open(faceset)
    with pytest.raises(FacesetError, match="2 faces but 1"):
        fs.set_polygons([0, 1], [[]])
    with pytest.raises(FacesetError, match="twice"):
        fs.set_polygons([0, 0], [[], []])
    with pytest.raises(ShapeError):
        fs.set_polygons([0], [[("sideways", np.zeros((3, 2)))]])
    kinds = [k for k, _ in fs[0].polygons]
    assert kinds and [k for k, _ in Faceset.open(faceset)[0].polygons] == kinds  # nothing written


def test_restore_undoes_remove_until_compact(faceset) -> None:
    ids = Faceset.open(faceset).ids
    remove(faceset, ids[:3])
    assert len(Faceset.open(faceset)) == 5
    assert restore(faceset, ids[1:2]).ids == [ids[1], *ids[3:]]
    assert len(restore(faceset)) == 8  # all of them
    remove(faceset, ids[:2])
    compact(faceset)
    with pytest.raises(FacesetError, match="to restore"):
        restore(faceset, ids[:1])
