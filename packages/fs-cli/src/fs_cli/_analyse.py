"""Per-frame face analysis for ``fs eval`` (its ``_eval.py`` calls ``Analyser(Settings(...)).analyse``).

A thin adapter over :class:`fs_detect.FaceAnalyser`; extraction itself is ``fs_detect.Extractor`` and
``fs_cli.pipeline.extract_to_faceset``. Remove once ``_eval.py`` calls ``fs_detect.FaceAnalyser`` directly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fs_detect import ExtractSettings as Settings
from fs_detect import FaceAnalyser, FrameDetections, TrackMode

__all__ = ["Analyser", "Settings", "TrackMode"]


class Analyser:
    """Detector + landmarker (+ embedder) for one process."""

    def __init__(self, settings: Settings) -> None:
        self._analyser = FaceAnalyser(settings)

    def analyse(self, index: int, name: str, image: npt.NDArray[np.uint8]) -> FrameDetections:
        """The faces of one BGR uint8 frame, largest first (``name`` is unused)."""
        return self._analyser.analyse(image, index)
