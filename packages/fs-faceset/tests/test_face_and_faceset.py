"""Face validation, faceset round trips, views, batch reads, remove/compact/merge/validate, atomicity."""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.numpy

import fs_faceset
from fs_align import FaceType, ShapeError
from fs_faceset import Face, Faceset, FacesetError, FacesetWriter, compact, merge, remove, validate


def test_version_and_api() -> None:
    from importlib.metadata import version

    assert fs_faceset.__version__ == version("fs-faceset")
    assert issubclass(fs_faceset.FacesetFormatError, fs_faceset.FacesetError)
    assert all(hasattr(fs_faceset, n) for n in fs_faceset.__all__)


def test_face_validation(make_faces) -> None:
    f = make_faces(1)[0]
    assert f.size == 64 and f.face_type is FaceType.WHOLE_FACE and f.alignment.size == 64
    assert not f.image.flags.writeable and f.source_rect.shape == (4,)
    base = dict(
        face_type="wf", landmarks=f.landmarks, source_landmarks=f.source_landmarks, image_to_face=f.image_to_face
    )
    with pytest.raises(ShapeError, match=r"Face.image"):
        Face(image=np.zeros((64, 32, 3), np.uint8), **base)
    with pytest.raises(ShapeError, match=r"Face.image"):
        Face(image=np.zeros((64, 64, 3), np.float32), **base)
    with pytest.raises(ShapeError, match=r"Face.landmarks"):
        Face(image=f.image, **{**base, "landmarks": f.landmarks[:5]})
    with pytest.raises(ShapeError, match=r"image_to_face"):
        Face(image=f.image, **{**base, "image_to_face": np.eye(3)})
    with pytest.raises(ShapeError, match=r"Face.mask"):
        Face(image=f.image, mask=np.zeros((32, 32), np.uint8), **base)
    with pytest.raises(ShapeError, match=r"Face.id"):
        Face(image=f.image, id="../etc", **base)
    with pytest.raises(ValueError, match=r"face type"):
        Face(image=f.image, **{**base, "face_type": "nope"})


def _same(a: Face, b: Face) -> None:
    for name in ("image", "landmarks", "source_landmarks", "image_to_face", "source_rect"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.face_type, a.source_path, a.frame_index, a.tags, a.pose) == (
        b.face_type, b.source_path, b.frame_index, b.tags, b.pose)  # fmt: skip
    assert a.score == pytest.approx(b.score)
    assert (a.mask is None) == (b.mask is None) and (a.embedding is None) == (b.embedding is None)
    if a.mask is not None:
        np.testing.assert_array_equal(a.mask, b.mask)
    if a.embedding is not None:
        np.testing.assert_array_equal(a.embedding, b.embedding)
    assert [k for k, _ in a.polygons] == [k for k, _ in b.polygons]  # the drawing order is kept
    for (_, p), (_, q) in zip(a.polygons, b.polygons, strict=True):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("codec", ["raw", "png", "jpeg"])
def test_round_trip(tmp_path, make_faces, codec) -> None:
    faces = make_faces(9)
    with FacesetWriter(tmp_path / "fs", image_codec=codec, shard_size=4) as w:
        ids = w.add_all(faces)
    fs = Faceset.open(tmp_path / "fs")
    assert len(fs) == 9 and fs.ids == ids and len(fs.shard_paths()) == 3
    for a, b in zip(faces, fs):
        if codec == "jpeg":
            assert np.abs(a.image.astype(int) - b.image).mean() < 6  # chroma subsampling at 64 px
            a = Face(**{**{k: getattr(a, k) for k in a.__dataclass_fields__}, "image": b.image})
        _same(a, b)
    imgs = fs.images([8, 0, 5])
    assert imgs.shape == (3, 64, 64, 3) and imgs.dtype == np.uint8
    np.testing.assert_array_equal(imgs[0], fs[8].image)
    assert fs.landmarks().shape == (9, 68, 2)
    np.testing.assert_array_equal(fs.landmarks([4]), faces[4].landmarks[None])
    report = validate(fs)
    assert report.faces == 9 and report.shards == 3


def test_views_filters_and_batches(tmp_path, make_faces) -> None:
    with FacesetWriter(tmp_path / "fs", shard_size=3) as w:
        w.add_all(make_faces(10))
    fs = Faceset.open(tmp_path / "fs")
    view = fs[2:8]
    assert len(view) == 6 and view.ids == fs.ids[2:8]
    np.testing.assert_array_equal(view.images([0, -1]), fs.images([2, 7]))
    assert len(fs.filter(tag="odd")) == 5 and all("odd" in t for t in fs.filter(tag="odd").tags)
    assert fs.filter(source="*einstein*").source_paths == [p for p in fs.source_paths if "einstein" in p]
    assert len(fs.filter(predicate=lambda f: f.mask is not None, tag="even")) == 5
    out = np.empty((4, 64, 64, 3), np.uint8)
    assert fs.images([9, 1, 4, 5], out=out) is out
    np.testing.assert_array_equal(out[0], fs[9].image)
    assert fs.column("frame_index").tolist() == list(range(10))
    with pytest.raises(IndexError):
        fs[10]
    with pytest.raises(FacesetError, match=r"out must be"):
        fs.images([0], out=out)


def test_safetensors_reads_our_shards(tmp_path, make_faces) -> None:
    with FacesetWriter(tmp_path / "fs") as w:
        w.add_all(make_faces(3))
    fs = Faceset.open(tmp_path / "fs")
    tensors = safetensors.numpy.load_file(str(fs.shard_paths()[0]))
    np.testing.assert_array_equal(tensors["images"], fs.images())
    np.testing.assert_array_equal(tensors["landmarks"], fs.landmarks())


def test_writer_rules(tmp_path, make_faces) -> None:
    faces = make_faces(4)
    with FacesetWriter(tmp_path / "fs") as w:
        w.add(faces[0])
        with pytest.raises(FacesetError, match=r"already in the faceset"):
            w.add(faces[0])
        with pytest.raises(FacesetError, match=r"64px"):
            w.add(make_faces(1, size=32)[0])
    with pytest.raises(FacesetError, match=r"append=True"):
        FacesetWriter(tmp_path / "fs")
    with FacesetWriter(tmp_path / "fs", append=True) as w:
        w.add_all(faces[1:])
    assert len(Faceset.open(tmp_path / "fs")) == 4


def test_crash_never_exposes_a_partial_shard(tmp_path, make_faces) -> None:
    faces = make_faces(6)
    with pytest.raises(RuntimeError), FacesetWriter(tmp_path / "fs", shard_size=4) as w:
        w.add_all(faces)  # 4 faces committed, 2 buffered
        raise RuntimeError("crash")
    folder = tmp_path / "fs"
    (folder / ".shard-000001.safetensors.123.tmp").write_bytes(b"\x00" * 100)  # a torn temp file
    (folder / "shard-000009.safetensors").write_bytes(b"garbage")  # renamed but never indexed
    fs = Faceset.open(folder)
    assert len(fs) == 4 and validate(fs).faces == 4


def test_remove_compact_merge(tmp_path, make_faces) -> None:
    faces = make_faces(8)
    with FacesetWriter(tmp_path / "a", shard_size=3) as w:
        ids = w.add_all(faces[:6])
    with FacesetWriter(tmp_path / "b") as w:
        w.add_all(faces[4:])
    fs = remove(tmp_path / "a", ids[:2])
    assert len(fs) == 4 and ids[0] not in fs.ids
    assert len(Faceset.open(tmp_path / "a", include_removed=True)) == 6
    with pytest.raises(FacesetError, match=r"no faces with ids"):
        remove(fs, ["0000"])
    before = sum(p.stat().st_size for p in fs.shard_paths())
    fs = compact(fs)
    assert fs.ids == ids[2:] and sum(p.stat().st_size for p in fs.shard_paths()) < before
    assert validate(fs).removed == 0
    merged = merge(fs, tmp_path / "b", tmp_path / "m")
    assert len(merged) == 6  # faces 4 and 5 are in both, kept once
    with pytest.raises(FacesetError, match=r"already holds"):
        merge(fs, tmp_path / "b", tmp_path / "m")
