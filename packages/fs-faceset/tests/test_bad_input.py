"""Bad input: every malformed file gives FacesetFormatError naming it; never a crash, hang or code execution."""

from __future__ import annotations

import contextlib
import json
import pickle
import shutil
import struct

import cv2
import numpy as np
import pytest

from fs_faceset import (
    Faceset,
    FacesetFormatError,
    FacesetIntegrityError,
    FacesetWriter,
    read_dfl_jpg,
    validate,
)
from fs_faceset._safepickle import safe_unpickle


@pytest.fixture
def faceset(tmp_path, make_faces):
    with FacesetWriter(tmp_path / "fs", shard_size=3) as w:
        w.add_all(make_faces(5))
    return tmp_path / "fs"


def _shard(folder):
    return sorted(folder.glob("shard-*.safetensors"))[0]


def test_missing_index_and_wrong_version(faceset, tmp_path) -> None:
    with pytest.raises(FacesetFormatError, match=r"missing faceset index"):
        Faceset.open(tmp_path)
    doc = json.loads((faceset / "index.json").read_text())
    (faceset / "index.json").write_text(json.dumps({**doc, "version": 99}))
    with pytest.raises(FacesetFormatError, match=r"version 99"):
        Faceset.open(faceset)
    (faceset / "index.json").write_text("{not json")
    with pytest.raises(FacesetFormatError, match=r"index\.json"):
        Faceset.open(faceset)


def test_truncated_and_flipped_shards(faceset) -> None:
    shard = _shard(faceset)
    data = shard.read_bytes()
    shard.write_bytes(data[:-100])
    with pytest.raises(FacesetFormatError, match=shard.name):
        Faceset.open(faceset)
    flipped = bytearray(data)
    flipped[-50] ^= 0xFF  # inside the data: only the checksum can tell
    shard.write_bytes(bytes(flipped))
    assert len(Faceset.open(faceset)) == 5
    with pytest.raises(FacesetIntegrityError, match=shard.name):
        validate(faceset)


def test_header_that_lies(faceset) -> None:
    shard = _shard(faceset)
    data = shard.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["landmarks"]["shape"] = [3, 68, 4]  # more bytes than its offsets span
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (n - len(raw))
    shard.write_bytes(data[:8] + raw + data[8 + n :])
    with pytest.raises(FacesetFormatError, match=r"landmarks.*shape"):
        Faceset.open(faceset)
    header["landmarks"]["shape"] = [3, 68, 2]
    header["__metadata__"]["version"] = "7"
    raw = json.dumps(header, separators=(",", ":")).encode()
    shard.write_bytes(data[:8] + raw + b" " * (n - len(raw)) + data[8 + n :])
    with pytest.raises(FacesetFormatError, match=r"version '7'"):
        Faceset.open(faceset)
    shard.write_bytes((10**12).to_bytes(8, "little") + data[8:])
    with pytest.raises(FacesetFormatError, match=r"header length"):
        Faceset.open(faceset)


def test_pickle_refusals() -> None:
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit",))

    for proto in range(6):
        with pytest.raises(FacesetFormatError, match=r"exec"):
            safe_unpickle(pickle.dumps({"a": [1, Evil()]}, protocol=proto))
    with pytest.raises(FacesetFormatError, match=r"dtype"):
        safe_unpickle(pickle.dumps(np.zeros(2, dtype=object), protocol=4))  # object arrays: refused
    big = {"k": list(range(1000)), "a": np.arange(12, dtype=np.float32).reshape(3, 4), "s": {1, 2}, "f": 1.5}
    for proto in range(6):
        out = safe_unpickle(pickle.dumps(big, protocol=proto))
        assert out["k"] == big["k"] and out["s"] == {1, 2} and out["f"] == 1.5
        np.testing.assert_array_equal(out["a"], big["a"])
    deep = b"\x80\x04" + b"]" * 100000 + b"a" * 99999 + b"."
    assert isinstance(safe_unpickle(deep), list)  # deep nesting: iterative, no RecursionError


def _mutations(data: bytes, rng: np.random.Generator, count: int):
    for _ in range(count):
        buf = bytearray(data)
        kind = rng.integers(4)
        if kind == 0:  # flip bytes near the front (headers live there)
            for pos in rng.integers(0, min(len(buf), 2048), size=rng.integers(1, 8)):
                buf[pos] ^= int(rng.integers(1, 256))
        elif kind == 1:  # truncate
            del buf[int(rng.integers(0, len(buf))) :]
        elif kind == 2:  # flip anywhere
            for pos in rng.integers(0, len(buf), size=rng.integers(1, 16)):
                buf[pos] = int(rng.integers(0, 256))
        else:  # splice a random chunk
            pos = int(rng.integers(0, len(buf)))
            buf[pos:pos] = rng.integers(0, 256, size=int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        yield bytes(buf)


def test_fuzz_shards_pickles_and_dfl_jpgs(faceset, tmp_path, make_faces) -> None:
    """A seeded byte-mutator: 200 shard files, 200 pickle streams and 100 DFL JPGs. Each must open (or read)
    cleanly or raise FacesetFormatError; nothing else may escape, and every call returns."""
    rng = np.random.default_rng(1234)
    shard = _shard(faceset)
    original = shard.read_bytes()
    outcomes = {"ok": 0, "refused": 0}
    for bad in _mutations(original, rng, 200):
        shard.write_bytes(bad)
        try:
            fs = Faceset.open(faceset)
            fs.images()
            fs.landmarks()
            [fs[i] for i in range(len(fs))]
            validate(fs)
            outcomes["ok"] += 1
        except FacesetFormatError:
            outcomes["refused"] += 1
    assert outcomes["refused"] >= 150  # most mutations are caught (the checksum catches the rest in validate)
    stream = pickle.dumps({"landmarks": np.ones((68, 2)), "t": (1, "x"), "rect": [1, 2, 3, 4]}, protocol=4)
    for bad in _mutations(stream, rng, 200):
        with contextlib.suppress(FacesetFormatError):
            safe_unpickle(bad, "fuzz")
    face = make_faces(1, extras=False)[0]
    _ok, buf = cv2.imencode(".jpg", face.image)
    meta = pickle.dumps(
        {
            "face_type": "whole_face",
            "landmarks": face.landmarks.tolist(),
            "source_landmarks": face.source_landmarks.tolist(),
            "image_to_face_mat": face.image_to_face,
        }
    )
    jpg = bytes(buf)[:20] + b"\xff\xef" + struct.pack(">H", len(meta) + 2) + meta + bytes(buf)[20:]
    target = tmp_path / "fuzz.jpg"
    for bad in _mutations(jpg, rng, 100):
        target.write_bytes(bad)
        try:
            read_dfl_jpg(target)
        except FacesetFormatError as exc:
            assert "fuzz.jpg" in str(exc)
    shutil.rmtree(faceset)
