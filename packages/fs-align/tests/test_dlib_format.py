"""The dlib .dat reader: structure of the real file, the safetensors cache, and damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from fs_align import AssetError, load_shape_predictor
from fs_align._dlib_format import read_shape_predictor
from fs_align.testing import asset_or_skip


def _int(v: int) -> bytes:
    """dlib's packed integer: control byte (sign bit 0x80, byte count) then little-endian magnitude."""
    mag = abs(v)
    body = b""
    while True:
        body += bytes([mag & 0xFF])
        mag >>= 8
        if mag == 0:
            break
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + body


def _float(x: float) -> bytes:
    """dlib's float: int64 mantissa then int16 exponent (24 mantissa bits, as dlib writes a float)."""
    m, e = np.frexp(np.float32(x))
    mant = int(m * (1 << 24))
    exp = int(e) - 24
    while mant and mant & 0xFF == 0:
        mant >>= 8
        exp += 8
    return _int(mant) + _int(exp)


def _tiny_predictor(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """A small valid predictor: 2 cascades x 3 trees of depth 2, 5 points, 4 feature pixels."""
    c, t, s, p, f = 2, 3, 3, 5, 4
    init = rng.uniform(0, 1, (p, 2)).astype(np.float32)
    idx = rng.integers(0, f, (c, t, s, 2))
    thr = rng.normal(0, 20, (c, t, s)).astype(np.float32)
    leaves = rng.normal(0, 0.01, (c, t, s + 1, p, 2)).astype(np.float32)
    anchors = rng.integers(0, p, (c, f))
    deltas = rng.normal(0, 0.05, (c, f, 2)).astype(np.float32)
    out = _int(1) + _int(-2 * p) + _int(-1) + b"".join(_float(v) for v in init.ravel())
    out += _int(c)
    for ci in range(c):
        out += _int(t)
        for ti in range(t):
            out += _int(s)
            for si in range(s):
                out += _int(int(idx[ci, ti, si, 0])) + _int(int(idx[ci, ti, si, 1])) + _float(thr[ci, ti, si])
            out += _int(s + 1)
            for li in range(s + 1):
                out += _int(-2 * p) + _int(-1) + b"".join(_float(v) for v in leaves[ci, ti, li].ravel())
    out += _int(c) + b"".join(_int(f) + b"".join(_int(int(a)) for a in anchors[ci]) for ci in range(c))
    out += _int(c) + b"".join(_int(f) + b"".join(_float(v) for v in deltas[ci].ravel()) for ci in range(c))
    arrays = {"initial_shape": init, "split_idx": idx, "split_thresh": thr, "leaves": leaves}
    arrays.update({"anchor_idx": anchors, "deltas": deltas})
    return out, arrays


def test_real_file_structure() -> None:
    asset_or_skip("dlib68")
    model = load_shape_predictor("dlib68")
    assert (model.num_cascades, model.num_trees, model.depth, model.num_points) == (15, 500, 4, 68)
    assert model.num_features == 500
    assert model.leaves.shape == (15, 500, 16, 68, 2)
    assert model.leaves.dtype == np.float32
    # the mean shape lies in the unit box, roughly (the jaw reaches a little outside)
    assert model.initial_shape.min() > -0.2 and model.initial_shape.max() < 1.2
    assert model.anchor_idx.min() >= 0 and model.anchor_idx.max() < 68


def test_tiny_round_trip(tmp_path: Path) -> None:
    data, want = _tiny_predictor(np.random.default_rng(0))
    path = tmp_path / "tiny.dat"
    path.write_bytes(data)
    model = read_shape_predictor(path)
    assert model.depth == 2 and model.num_trees == 3 and model.num_points == 5
    for name, arr in want.items():
        np.testing.assert_array_equal(getattr(model, name), arr, err_msg=name)


def test_tiny_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FS_HOME", str(tmp_path / "home"))
    data, want = _tiny_predictor(np.random.default_rng(1))
    path = tmp_path / "tiny.dat"
    path.write_bytes(data)
    first = load_shape_predictor(path)
    cached = list((tmp_path / "home" / "converted").glob("tiny-*.safetensors"))
    assert len(cached) == 1
    again = load_shape_predictor(path)  # from the cache
    for name in want:
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    cached[0].write_bytes(b"not a safetensors file")  # a damaged cache is rebuilt, not trusted
    rebuilt = load_shape_predictor(path)
    np.testing.assert_array_equal(rebuilt.leaves, want["leaves"])


@pytest.mark.parametrize("cut", [1, 3, 100, -1])
def test_truncated_tiny(tmp_path: Path, cut: int) -> None:
    data, _ = _tiny_predictor(np.random.default_rng(2))
    path = tmp_path / "cut.dat"
    path.write_bytes(data[:cut])
    with pytest.raises(AssetError, match=r"cut\.dat.*(truncated|corrupt).*byte offset \d+"):
        read_shape_predictor(path)


def test_truncated_real_file(tmp_path: Path) -> None:
    src = asset_or_skip("dlib68")
    path = tmp_path / "head.dat"
    with src.open("rb") as fh:
        path.write_bytes(fh.read(1_000_000))
    with pytest.raises(AssetError, match=r"head\.dat: truncated.*byte offset \d+"):
        read_shape_predictor(path)


def test_corrupt_bytes(tmp_path: Path) -> None:
    data, _ = _tiny_predictor(np.random.default_rng(3))
    cases = {
        "version": (1, 0x01, 2, r"version 2 .*byte offset 0"),  # version value 1 -> 2
        "control": (2, 0x81, 0xF1, r"control byte 0xf1 at byte offset 2"),  # reserved bits set
    }
    for name, (off, old, new, msg) in cases.items():
        assert data[off] == old, name
        path = tmp_path / f"{name}.dat"
        path.write_bytes(data[:off] + bytes([new]) + data[off + 1 :])
        with pytest.raises(AssetError, match=rf"{name}\.dat: .*{msg}"):
            read_shape_predictor(path)
    # a wrong tree count inside a cascade: the message names the byte offset of the count
    count_at = data.index(_int(3) + _int(3))  # trees of cascade 0, then splits of its first tree
    bad = bytearray(data)
    bad[count_at + 1] = 7
    path = tmp_path / "count.dat"
    path.write_bytes(bytes(bad))
    with pytest.raises(AssetError, match=r"count\.dat: .*byte offset \d+"):
        read_shape_predictor(path)


def test_not_a_predictor(tmp_path: Path) -> None:
    path = tmp_path / "image.dat"
    path.write_bytes(struct.pack("<8d", *range(8)))
    with pytest.raises(AssetError, match=r"image\.dat"):
        read_shape_predictor(path)
    with pytest.raises(AssetError, match="no such"):
        load_shape_predictor(tmp_path / "missing.dat")
