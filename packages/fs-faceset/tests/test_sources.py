"""Format version 2: per-source facts in the index, faces per frame, and version-1 facesets still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from fs_align import FaceType
from fs_faceset import (
    FORMAT_VERSION,
    Faceset,
    FacesetError,
    FacesetFormatError,
    FacesetWriter,
    SourceInfo,
    compact,
    frame_ranges,
    merge,
    remove,
    validate,
)
from fs_faceset._shard import atomic_write, shard_bytes


def write_v1(folder: Path, faces: list) -> None:
    """Write ``faces`` as a version-1 faceset (the layout fs-faceset 0.1 wrote: no sources, version 1 everywhere)."""
    with FacesetWriter(folder, shard_size=3) as w:
        w.add_all(faces)
    doc = json.loads((folder / "index.json").read_text())
    for entry in doc["shards"]:
        path = folder / entry["file"]
        tensors = safetensors.numpy.load_file(path)
        with safetensors.safe_open(path, "np") as fh:
            meta = dict(fh.metadata())
        meta["version"] = "1"
        chunks = shard_bytes(tensors, meta)
        entry["sha256"] = atomic_write(path, chunks)
        entry["bytes"] = path.stat().st_size
    del doc["sources"]
    doc["version"] = 1
    (folder / "index.json").write_text(json.dumps(doc))


def test_frame_ranges_and_source_info() -> None:
    assert frame_ranges([5, 0, 1, 2, 2, 9, 6]) == ((0, 3), (5, 7), (9, 10))
    assert frame_ranges([(10, 20), (0, 5), (5, 7), (15, 30), (40, 40)]) == ((0, 7), (10, 30))
    assert frame_ranges(range(3, 8)) == ((3, 8),)
    info = SourceInfo("clip.mp4", "/data/clip.mp4", fps=25, width=400, height=300, frame_count=120,
                      processed=range(0, 10), face_type="whole_face", size=64)  # fmt: skip
    assert info.fps == 25.0 and info.face_type is FaceType.WHOLE_FACE and info.processed == ((0, 10),)
    assert info.frames_processed == 10 and info.was_processed(9) and not info.was_processed(10)
    more = info.with_frames([10, 11, 50])
    assert more.processed == ((0, 12), (50, 51)) and more.processed_frames().tolist() == [*range(12), 50]
    other = SourceInfo("clip.mp4", fps=25.0, frame_count=130, processed=[(100, 130)])
    both = info.merged(other)
    assert both.processed == ((0, 10), (100, 130)) and both.frame_count == 130 and both.width == 400
    with pytest.raises(FacesetError, match="width 400 here, 640"):
        info.merged(SourceInfo("clip.mp4", width=640))
    with pytest.raises(FacesetError, match="cannot merge"):
        info.merged(SourceInfo("other.mp4"))
    for bad in (dict(fps=0), dict(width=0), dict(frame_count=-1), dict(processed=[(5, 2)]), dict(processed=[-1]),
                dict(face_type="nonsense"), dict(size=True)):  # fmt: skip
        with pytest.raises(FacesetError):
            SourceInfo("x", **bad)  # type: ignore[arg-type]
    assert SourceInfo.from_json(info.to_json(), "test") == info


def test_sources_round_trip_append_and_ops(tmp_path, make_faces) -> None:
    faces = make_faces(6)
    a = SourceInfo(faces[0].source_path, fps=30.0, width=640, height=480, frame_count=100, processed=range(0, 50))
    with FacesetWriter(tmp_path / "fs", shard_size=4) as w:
        w.add_source(a)
        w.add_all(faces[:3])
    fs = Faceset.open(tmp_path / "fs")
    assert fs.sources() == {a.name: a}
    assert json.loads((tmp_path / "fs" / "index.json").read_text())["version"] == FORMAT_VERSION == 2
    # a resumed run: the same source with more frames, merged; a contradiction is refused at once
    b = SourceInfo(faces[3].source_path, width=10, height=10)
    with FacesetWriter(tmp_path / "fs", append=True) as w:
        w.add_source(SourceInfo(a.name, processed=range(50, 100)))
        with pytest.raises(FacesetError, match=r"fps 30\.0 here, 24\.0"):
            w.add_source(SourceInfo(a.name, fps=24.0))
        w.add_source(b)
        w.add_all(faces[3:])
    fs = Faceset.open(tmp_path / "fs")
    assert fs.sources()[a.name].processed == ((0, 100),) and fs.sources()[a.name].fps == 30.0
    assert fs.sources()[b.name] == b
    # remove / compact / validate keep them; merge unites them
    fs = compact(remove(fs, [fs.ids[0]]))
    assert set(fs.sources()) == {a.name, b.name} and validate(fs).faces == 5
    with FacesetWriter(tmp_path / "other", size=64) as w:
        w.add_source(SourceInfo(a.name, fps=30.0, processed=[(200, 210)]))
    m = merge(fs, tmp_path / "other", tmp_path / "merged")
    assert m.sources()[a.name].processed == ((0, 100), (200, 210)) and len(m) == 5


def test_sources_without_faces_need_a_size(tmp_path) -> None:
    with FacesetWriter(tmp_path / "empty", size=64) as w:
        w.add_source(SourceInfo("nobody.mp4", frame_count=10, processed=range(10)))
    fs = Faceset.open(tmp_path / "empty")
    assert len(fs) == 0 and fs.size == 64 and fs.sources()["nobody.mp4"].frames_processed == 10
    w = FacesetWriter(tmp_path / "nosize")
    w.add_source(SourceInfo("x.mp4"))
    with pytest.raises(FacesetError, match="pass size="):
        w.close()
    with pytest.raises(FacesetError, match=r"expected a fs_faceset\.SourceInfo"):
        FacesetWriter(tmp_path / "y").add_source({"name": "x"})  # type: ignore[arg-type]


def test_frames_groups_faces_by_frame(tmp_path, make_faces) -> None:
    import dataclasses

    base = make_faces(6)
    # faces 0..3 in one video: frames 7, 7, 9, 12; faces 4, 5 in another
    layout = [("v.mp4", 7), ("v.mp4", 7), ("v.mp4", 9), ("v.mp4", 12), ("w.mp4", 0), ("w.mp4", 3)]
    faces = [dataclasses.replace(f, source_path=s, frame_index=i) for f, (s, i) in zip(base, layout, strict=True)]
    with FacesetWriter(tmp_path / "fs", shard_size=2) as w:
        ids = w.add_all(faces)
    fs = Faceset.open(tmp_path / "fs")
    assert fs.frames("v.mp4") == {7: [0, 1], 9: [2], 12: [3]}
    assert fs.frames("w.mp4") == {0: [4], 3: [5]} and fs.frames("none.mp4") == {}
    view = remove(fs, [ids[1]])
    assert view.frames("v.mp4") == {7: [0], 9: [1], 12: [2]}
    assert view[view.frames("v.mp4")[12][0]].frame_index == 12


def test_version_1_faceset_still_reads(tmp_path, make_faces) -> None:
    faces = make_faces(7)
    write_v1(tmp_path / "v1", faces)
    assert json.loads((tmp_path / "v1" / "index.json").read_text())["version"] == 1
    fs = Faceset.open(tmp_path / "v1")
    assert len(fs) == 7 and fs.sources() == {} and validate(fs).faces == 7
    assert np.array_equal(fs.images(), np.stack([f.image for f in faces]))
    assert [p.tolist() for p in fs[0].xseg_include] == [p.tolist() for p in faces[0].xseg_include]
    # appending upgrades the index to version 2 and keeps the old shards readable
    with FacesetWriter(tmp_path / "v1", append=True) as w:
        w.add_source(SourceInfo("new.mp4", fps=25.0))
    doc = json.loads((tmp_path / "v1" / "index.json").read_text())
    assert doc["version"] == 2 and Faceset.open(tmp_path / "v1").sources()["new.mp4"].fps == 25.0
    # a malformed sources list is a format error naming the index
    doc["sources"] = [{"fps": 3}]
    (tmp_path / "v1" / "index.json").write_text(json.dumps(doc))
    with pytest.raises(FacesetFormatError, match=r"index\.json: malformed source entry"):
        Faceset.open(tmp_path / "v1")
