"""Head pose from 68 landmarks: ``cv2.solvePnP`` against a 3-D mean face seen by a pinhole camera."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from fs_align._image import check_points
from fs_align.errors import ShapeError
from fs_align.landmarks68 import IBUG68_MIRROR, JAW, LEFT_BROW, LEFT_EYE, NOSE, RIGHT_BROW, RIGHT_EYE
from fs_align.types import Pose

__all__ = ["MEAN_FACE_3D", "POSE_INDICES_68", "estimate_pose"]

# fmt: off
# The 68-point 3-D mean face of DeepFaceLab's facelib/LandmarksProcessor.py (``landmarks_68_3D``; the same
# table ships with several open head-pose tools). Units are roughly millimetres; x to the image right, y down,
# z away from the camera (the nose tip has the smallest z), i.e. OpenCV's camera axes for a frontal face.
_DFL_MEAN_FACE_3D = (
    [-73.393523, -29.801432, 47.667532], [-72.775014, -10.949766, 45.909403], [-70.533638, 7.929818, 44.842580],
    [-66.850058, 26.074280, 43.141114], [-59.790187, 42.564390, 38.635298], [-48.368973, 56.481080, 30.750622],
    [-34.121101, 67.246992, 18.456453], [-17.875411, 75.056892, 3.609035], [0.098749, 77.061286, -0.881698],
    [17.477031, 74.758448, 5.181201], [32.648966, 66.929021, 19.176563], [46.372358, 56.311389, 30.770570],
    [57.343480, 42.419126, 37.628629], [64.388482, 25.455880, 40.886309], [68.212038, 6.990805, 42.281449],
    [70.486405, -11.666193, 44.142567], [71.375822, -30.365191, 47.140426], [-61.119406, -49.361602, 14.254422],
    [-51.287588, -58.769795, 7.268147], [-37.804800, -61.996155, 0.442051], [-24.022754, -61.033399, -6.606501],
    [-11.635713, -56.686759, -11.967398], [12.056636, -57.391033, -12.051204], [25.106256, -61.902186, -7.315098],
    [38.338588, -62.777713, -1.022953], [51.191007, -59.302347, 5.349435], [60.053851, -50.190255, 11.615746],
    [0.653940, -42.193790, -13.380835], [0.804809, -30.993721, -21.150853], [0.992204, -19.944596, -29.284036],
    [1.226783, -8.414541, -36.948060], [-14.772472, 2.598255, -20.132003], [-7.180239, 4.751589, -23.536684],
    [0.555920, 6.562900, -25.944448], [8.272499, 4.661005, -23.695741], [15.214351, 2.643046, -20.858157],
    [-46.047290, -37.471411, 7.037989], [-37.674688, -42.730510, 3.021217], [-27.883856, -42.711517, 1.353629],
    [-19.648268, -36.754742, -0.111088], [-28.272965, -35.134493, -0.147273], [-38.082418, -34.919043, 1.476612],
    [19.265868, -37.032306, -0.665746], [27.894191, -43.342445, 0.247660], [37.437529, -43.110822, 1.696435],
    [45.170805, -38.086515, 4.894163], [38.196454, -35.532024, 0.282961], [28.764989, -35.484289, -1.172675],
    [-28.916267, 28.612716, -2.240310], [-17.533194, 22.172187, -15.934335], [-6.684590, 19.029051, -22.611355],
    [0.381001, 20.721118, -23.748437], [8.375443, 19.035460, -22.721995], [18.876618, 22.394109, -15.610679],
    [28.794412, 28.079924, -3.217393], [19.057574, 36.298248, -14.987997], [8.956375, 39.634575, -22.554245],
    [0.381549, 40.395647, -23.591626], [-7.428895, 39.836405, -22.406106], [-18.160634, 36.677899, -15.121907],
    [-24.377490, 28.677771, -4.785684], [-6.897633, 25.475976, -20.893742], [0.340663, 26.014269, -22.220479],
    [8.444722, 25.326198, -21.025520], [24.474473, 28.323008, -5.712776], [8.449166, 30.596216, -20.671489],
    [0.205322, 31.408738, -21.903670], [-7.198266, 30.844876, -20.328022],
)
# fmt: on


def _symmetric_mean_face() -> npt.NDArray[np.float64]:
    raw = np.array(_DFL_MEAN_FACE_3D, dtype=np.float64)
    mirrored = raw[list(IBUG68_MIRROR)] * np.array([-1.0, 1.0, 1.0])
    sym = np.asarray((raw + mirrored) / 2.0, dtype=np.float64)
    sym.setflags(write=False)
    return sym


MEAN_FACE_3D: npt.NDArray[np.float64] = _symmetric_mean_face()
"""``(68, 3)`` read-only float64 3-D mean face in iBUG order (about millimetres; x right, y down, z away from
the camera). It is DeepFaceLab's ``landmarks_68_3D`` made exactly mirror-symmetric (averaged with its mirror
image under :data:`fs_align.landmarks68.IBUG68_MIRROR`), so a mirrored face gets exactly the mirrored pose."""

POSE_INDICES_68: tuple[int, ...] = (*JAW, *RIGHT_BROW, *LEFT_BROW, *NOSE, *RIGHT_EYE, *LEFT_EYE, 48, 54)
"""The 50 points the pose fit uses: jaw, brows, nose, eyes and the two mouth corners (the lips, which move
with speech and expression, are left out)."""


def _check_frame_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in frame_size)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"frame_size: expected (width, height) in pixels, got {frame_size!r}") from exc
    if w < 1 or h < 1:
        raise ShapeError(f"frame_size: expected positive (width, height), got {frame_size!r}")
    return w, h


def _euler_from_rotation(rot: npt.NDArray[np.float64]) -> Pose:
    """Decompose ``rot = Rz(a) @ Ry(b) @ Rx(c)`` (camera axes) and map to the :class:`Pose` conventions."""
    b = math.asin(max(-1.0, min(1.0, -float(rot[2, 0]))))
    if abs(math.cos(b)) > 1e-6:
        c = math.atan2(float(rot[2, 1]), float(rot[2, 2]))
        a = math.atan2(float(rot[1, 0]), float(rot[0, 0]))
    else:  # gimbal lock (looking 90 degrees sideways): put everything in pitch
        c = math.atan2(-float(rot[1, 2]), float(rot[1, 1]))
        a = 0.0
    # Rx(c) with c > 0 turns the nose (at -z) toward +y: the face looks down, so pitch = -c.
    # Ry(b) with b > 0 turns the nose toward -x (image left, the subject's right), so yaw = -b.
    # Rz(a) with a > 0 turns the top of the head toward +x: clockwise in the image, so roll = +a.
    return Pose(pitch=-math.degrees(c), yaw=-math.degrees(b), roll=math.degrees(a))


def estimate_pose(landmarks68: npt.ArrayLike, frame_size: tuple[int, int]) -> Pose:
    """Estimate head pose (degrees) from 68 frame landmarks.

    Fits :data:`MEAN_FACE_3D` (points :data:`POSE_INDICES_68`) to the landmarks with ``cv2.solvePnP``
    (iterative Levenberg-Marquardt, started from a frontal face at the distance the landmarks' size
    implies) for a pinhole camera with focal length = frame width in pixels, principal point at the frame
    centre ``((W - 1) / 2, (H - 1) / 2)`` and no lens distortion, then decomposes the rotation as
    roll (z) * yaw (y) * pitch (x).

    Conventions (:class:`fs_align.Pose`): ``yaw`` > 0 when the subject turns toward the image's right (their
    left), ``pitch`` > 0 when they look up, ``roll`` > 0 when the head tilts clockwise in the image. A frontal
    mean face gives (0, 0, 0); mirroring the image negates yaw and roll and keeps pitch.

    Args:
        landmarks68: ``(68, 2)`` iBUG-68 (x, y) frame pixels (float32 by contract; any real dtype accepted).
        frame_size: ``(width, height)`` of the frame in pixels (OpenCV's ``dsize`` order, not ``shape``).

    Returns:
        :class:`fs_align.Pose` in degrees, each in [-90, 90] for yaw and [-180, 180] for pitch and roll.

    Raises:
        ShapeError: wrong shape, NaN/inf, collinear landmarks, a bad ``frame_size``, or a fit that fails.
    """
    pts = check_points(landmarks68, "landmarks68", num=68)
    w, h = _check_frame_size(frame_size)
    idx = list(POSE_INDICES_68)
    img = pts[idx]
    obj = MEAN_FACE_3D[idx]
    centred = img - img.mean(axis=0)
    sing = np.linalg.svd(centred, compute_uv=False)
    if sing[1] < 1e-3 * sing[0]:
        raise ShapeError("landmarks68: the points are (nearly) collinear; cannot estimate a pose")
    focal = float(w)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    camera = np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])
    # start: frontal, at the depth where the model's spread matches the landmarks' spread
    obj_spread = float(np.sqrt(((obj[:, :2] - obj[:, :2].mean(axis=0)) ** 2).sum(axis=1).mean()))
    img_spread = float(np.sqrt((centred**2).sum(axis=1).mean()))
    tz = focal * obj_spread / img_spread
    mean_xy = img.mean(axis=0)
    tvec0 = np.array([[(mean_xy[0] - cx) * tz / focal], [(mean_xy[1] - cy) * tz / focal], [tz]])
    ok, rvec, tvec = cv2.solvePnP(
        obj.reshape(-1, 1, 3),
        img.reshape(-1, 1, 2),
        camera,
        None,
        rvec=np.zeros((3, 1)),
        tvec=tvec0,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok or not (np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec))) or float(tvec[2, 0]) <= 0:
        raise ShapeError("landmarks68: solvePnP found no pose in front of the camera for these landmarks")
    rot, _ = cv2.Rodrigues(rvec)
    return _euler_from_rotation(np.asarray(rot, dtype=np.float64))
