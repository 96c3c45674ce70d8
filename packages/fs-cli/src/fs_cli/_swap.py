"""What is left of ``fs merge``'s old engine: the raw-model loader ``fs eval`` uses, and shims for ``fs demo``.

The swap itself lives in ``fs_merge.swap_frames`` / ``swap_video``, composed with the faceset record by
``fs_cli.pipeline.swap``. ``FaceSwapper``, ``MaskMode`` and ``frame_faces`` only keep ``fs demo`` (``_cmd_demo``)
running on top of that API until it calls ``fs_cli.pipeline.swap_video_from_faceset``; then they go.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_cli.errors import CliError
from fs_cli.pipeline.swap import faces_from_faceset, find_faces, resolve_model, xseg_segmenter

__all__ = ["FaceSwapper", "MaskMode", "frame_faces", "load_swap_model", "resolve_model"]

U8 = npt.NDArray[np.uint8]


class MaskMode(str, enum.Enum):
    """The old ``--mask`` choices (now any ``fs_merge.parse_mask`` string); kept for ``fs demo``."""

    LEARNED_PRD = "learned-prd"
    LEARNED_DST = "learned-dst"
    LEARNED_PRD_DST = "learned-prd*learned-dst"
    HULL = "hull"
    LEARNED_PRD_HULL = "learned-prd*hull"
    XSEG = "xseg"
    XSEG_PRD = "xseg*learned-prd"


def load_swap_model(path: Path, device: str) -> Any:
    """Load an fs-models checkpoint (or training folder) as the torch module; :class:`CliError` if it is not one."""
    import fs_models

    file = resolve_model(path)
    try:
        model = fs_models.load_model(file, device=device)
    except (fs_models.ModelError, OSError, ValueError) as exc:
        raise CliError(f"--model {file}: not an fs model checkpoint ({exc})") from exc
    if not isinstance(model, fs_models.FaceSwapModel):
        raise CliError(f"--model {file}: model {getattr(model, 'name', '?')!r} cannot swap faces")
    return model.eval()


def frame_faces(
    dst: Path,
    faceset: Path | None,
    *,
    max_frames: int | None = None,
    jobs: int = 1,
    progress: Callable[[str, int | None], Any] | None = None,
    all_faces: bool = False,
) -> tuple[dict[int, Any], str]:
    """Each dst frame's ``fs_merge.FaceToSwap`` records: from the faceset, else found now (``fs demo`` shim)."""
    if faceset is not None:
        return faces_from_faceset(faceset, dst.name, all_faces=all_faces), f"faceset {faceset}"
    faces = find_faces(dst, jobs=jobs, progress=progress)
    if max_frames is not None:
        faces = {i: f for i, f in faces.items() if i < max_frames}
    return faces, "faces found now"


class FaceSwapper:
    """``swapper(image, faces)``: one frame through ``fs_merge.swap_frames`` (``fs demo`` shim)."""

    def __init__(self, model: Any, config: Any, mask: MaskMode | str, *, device: str, xseg: Any | None = None):
        import fs_models
        from fs_merge import MergeConfig

        self.model = fs_models.TorchFaceModel(model, device)
        self.config: MergeConfig = dataclasses.replace(config, mask=MaskMode(mask).value)
        self.segmenter = None if xseg is None else xseg_segmenter(xseg)
        if "xseg" in MaskMode(mask).value and xseg is None:
            raise CliError(f"--mask {MaskMode(mask).value}: needs --xseg MODEL (train one with `fs mask train`)")

    def __call__(self, image: U8, faces: list[Any]) -> U8:
        from fs_merge import swap_frames

        frames = swap_frames([(0, image)], {0: faces}, self.model, self.config, segmenter=self.segmenter, workers=1)
        return next(iter(frames))[1]
