"""Landmark-implied face boxes: how far a box is from the one a landmarker's convention implies."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt


def box_mismatch(
    boxes: npt.ArrayLike,
    landmarks: npt.ArrayLike,
    box_of: Callable[[npt.NDArray[np.float64]], npt.ArrayLike],
) -> npt.NDArray[np.float64]:
    """How far each box is from the box ``box_of(landmarks)`` implies, in box sides (``(N,)`` float64)."""
    box = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    implied = np.asarray(box_of(np.asarray(landmarks, dtype=np.float64).reshape(-1, 68, 2)), np.float64)
    side = np.maximum(box[:, 2] - box[:, 0], 1e-9)
    return np.asarray(np.abs(implied.reshape(-1, 4) - box).max(axis=1) / side, dtype=np.float64)
