"""Benchmark fixtures: 128 px whole-face facesets cut from the demo videos (tracked with the 68-point model)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_align import FaceType, alignment_matrix, load_landmarker, transform_points, warp_face
from fs_align.testing import asset_or_skip
from fs_faceset import Face, FacesetWriter


def _faces(name: str, n: int, size: int) -> list[Face]:
    path = asset_or_skip(name)
    lm = load_landmarker("dlib68")
    cap = cv2.VideoCapture(str(path))
    faces, box, index = [], None, 0
    while len(faces) < n:
        ok, frame = cap.read()
        if not ok:
            break
        if box is None:
            h, w = frame.shape[:2]
            s = 0.45 * h
            box = np.array([0.5 * w - s / 2, 0.55 * h - s / 2, 0.5 * w + s / 2, 0.55 * h + s / 2])
            box = lm.box_from_landmarks(lm.predict(frame, box[None])[0])
        pts = lm.predict(frame, box[None])[0]
        box = lm.box_from_landmarks(pts)
        if index % 3 == 0:
            mat = alignment_matrix(pts, FaceType.WHOLE_FACE, size)
            faces.append(Face(image=warp_face(frame, mat, size), face_type=FaceType.WHOLE_FACE,
                              landmarks=transform_points(pts, mat), source_landmarks=pts, image_to_face=mat,
                              source_path=path.name, frame_index=index))  # fmt: skip
        index += 1
    cap.release()
    return faces


@pytest.fixture(scope="session")
def facesets128(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bench-facesets")
    out = []
    for side, video in (("src", "video-franck"), ("dst", "video-cap12")):
        with FacesetWriter(root / side) as w:
            w.add_all(_faces(video, 60, 128))
        out.append(root / side)
    return out[0], out[1]
