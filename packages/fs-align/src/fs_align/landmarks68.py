"""The iBUG 300-W 68-point landmark layout: named index groups, the mirror permutation and the 2-D mean face.

Indices are 0-based (the ``.pts`` files number points from 1). "Right" and "left" are the *subject's*: the
subject's right eye (points 36-41) appears on the image's left in a frontal photo.

Everything here is an immutable tuple (no module-level mutable state); index a numpy array with
``landmarks[np.asarray(RIGHT_EYE)]`` or ``landmarks[list(RIGHT_EYE)]``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

__all__ = [
    "FIVE_POINT_FROM_68",
    "IBUG68_GROUPS",
    "IBUG68_MIRROR",
    "INNER",
    "JAW",
    "LEFT_BROW",
    "LEFT_EYE",
    "MEAN_FACE_2D",
    "MOUTH",
    "MOUTH_INNER",
    "MOUTH_OUTER",
    "NOSE",
    "NOSE_BRIDGE",
    "NOSE_LOWER",
    "RIGHT_BROW",
    "RIGHT_EYE",
    "five_point_from_68",
]

JAW: tuple[int, ...] = tuple(range(0, 17))
"""Jaw line, from the subject's right ear (image left) over the chin (8) to the left ear."""
RIGHT_BROW: tuple[int, ...] = tuple(range(17, 22))
"""Subject's right eyebrow (image left), outer end first."""
LEFT_BROW: tuple[int, ...] = tuple(range(22, 27))
"""Subject's left eyebrow (image right), inner end first."""
NOSE_BRIDGE: tuple[int, ...] = tuple(range(27, 31))
"""Nose bridge from between the eyes (27) down to the nose tip (30)."""
NOSE_LOWER: tuple[int, ...] = tuple(range(31, 36))
"""Nostrils and base of the nose, subject's right to left (33 is below the tip)."""
NOSE: tuple[int, ...] = NOSE_BRIDGE + NOSE_LOWER
"""The whole nose, 27-35."""
RIGHT_EYE: tuple[int, ...] = tuple(range(36, 42))
"""Subject's right eye (image left): outer corner 36, upper lid 37-38, inner corner 39, lower lid 40-41."""
LEFT_EYE: tuple[int, ...] = tuple(range(42, 48))
"""Subject's left eye (image right): inner corner 42, upper lid 43-44, outer corner 45, lower lid 46-47."""
MOUTH_OUTER: tuple[int, ...] = tuple(range(48, 60))
"""Outer lip contour; mouth corners are 48 (subject's right) and 54."""
MOUTH_INNER: tuple[int, ...] = tuple(range(60, 68))
"""Inner lip contour; inner corners are 60 and 64."""
MOUTH: tuple[int, ...] = MOUTH_OUTER + MOUTH_INNER
"""The whole mouth, 48-67."""
INNER: tuple[int, ...] = tuple(range(17, 68))
"""Every point except the jaw (17-67): the stable "inner face" that alignment and pose rely on."""

IBUG68_GROUPS: Mapping[str, tuple[int, ...]] = types.MappingProxyType(
    {
        "jaw": JAW,
        "right_brow": RIGHT_BROW,
        "left_brow": LEFT_BROW,
        "nose_bridge": NOSE_BRIDGE,
        "nose_lower": NOSE_LOWER,
        "right_eye": RIGHT_EYE,
        "left_eye": LEFT_EYE,
        "mouth_outer": MOUTH_OUTER,
        "mouth_inner": MOUTH_INNER,
    }
)
"""The nine disjoint part groups, in index order; together they cover 0-67 exactly once."""


def _mirror_permutation() -> tuple[int, ...]:
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    perm = list(range(68))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


IBUG68_MIRROR: tuple[int, ...] = _mirror_permutation()
"""Left/right permutation: after flipping an image horizontally (``x' = width - 1 - x``), the flipped point
set in iBUG order is ``flipped[IBUG68_MIRROR]`` (point 36, the right eye's outer corner, takes the flipped
position of 45, and so on; points on the mid-line map to themselves). It is its own inverse."""

FIVE_POINT_FROM_68: tuple[tuple[int, ...], ...] = (RIGHT_EYE, LEFT_EYE, (30,), (48,), (54,))
"""How each of the five points of :attr:`LandmarkScheme.FIVE_POINT` relates to the 68: the mean of these
68-point indices (right eye centre, left eye centre, nose tip, right mouth corner, left mouth corner)."""


def five_point_from_68(landmarks: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Reduce ``(68, 2)`` iBUG landmarks to the ``(5, 2)`` five-point layout (see :data:`FIVE_POINT_FROM_68`)."""
    from fs_align._image import check_points

    pts = check_points(landmarks, "landmarks", num=68)
    return np.stack([pts[list(idx)].mean(axis=0) for idx in FIVE_POINT_FROM_68]).astype(np.float32)


def _mean_face() -> npt.NDArray[np.float64]:
    # DeepFaceLab facelib/LandmarksProcessor.py `landmarks_2D` (points 17-67 in a unit square; the same table
    # appears in several open face-alignment projects). Values are data, kept to DFL's printed precision.
    table = np.array(
        [
            [0.000213256, 0.106454],
            [0.0752622, 0.038915],
            [0.18113, 0.0187482],
            [0.29077, 0.0344891],
            [0.393397, 0.0773906],
            [0.586856, 0.0773906],
            [0.689483, 0.0344891],
            [0.799124, 0.0187482],
            [0.904991, 0.038915],
            [0.98004, 0.106454],
            [0.490127, 0.203352],
            [0.490127, 0.307009],
            [0.490127, 0.409805],
            [0.490127, 0.515625],
            [0.36688, 0.587326],
            [0.426036, 0.609345],
            [0.490127, 0.628106],
            [0.554217, 0.609345],
            [0.613373, 0.587326],
            [0.121737, 0.216423],
            [0.187122, 0.178758],
            [0.265825, 0.179852],
            [0.334606, 0.231733],
            [0.260918, 0.245099],
            [0.182743, 0.244077],
            [0.645647, 0.231733],
            [0.714428, 0.179852],
            [0.793132, 0.178758],
            [0.858516, 0.216423],
            [0.79751, 0.244077],
            [0.719335, 0.245099],
            [0.254149, 0.780233],
            [0.340985, 0.745405],
            [0.428858, 0.727388],
            [0.490127, 0.742578],
            [0.551395, 0.727388],
            [0.639268, 0.745405],
            [0.726104, 0.780233],
            [0.642159, 0.864805],
            [0.556721, 0.902192],
            [0.490127, 0.909281],
            [0.423532, 0.902192],
            [0.338094, 0.864805],
            [0.290379, 0.784792],
            [0.428096, 0.778746],
            [0.490127, 0.785343],
            [0.552157, 0.778746],
            [0.689874, 0.784792],
            [0.553364, 0.824182],
            [0.490127, 0.831803],
            [0.42689, 0.824182],
        ],
        dtype=np.float64,
    )
    table.setflags(write=False)
    return table


MEAN_FACE_2D: npt.NDArray[np.float64] = _mean_face()
"""The canonical 2-D mean face, ``(51, 2)`` read-only float64, for points 17-67 (row ``i`` is point
``17 + i``) in a unit square: brows touch y = 0.02, the outer brow ends x = 0 and 0.98, the chin-side lip
y = 0.91. Source: DeepFaceLab ``facelib/LandmarksProcessor.py``, ``landmarks_2D`` (its ``landmarks_2D_new``
is the subset 17-48 plus 54 that alignment uses). It is mirror-symmetric about x = 0.490127."""
