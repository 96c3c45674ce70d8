"""``fs merge``'s engine: a trained model, each dst frame's faces, fs_merge's compositing and video writer."""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_cli.errors import CliError

__all__ = ["FaceSwapper", "MaskMode", "frame_faces", "resolve_model"]

U8 = npt.NDArray[np.uint8]


class MaskMode(str, enum.Enum):
    """Which mask composites the swapped face (DFL's mask modes)."""

    LEARNED_PRD = "learned-prd"
    LEARNED_DST = "learned-dst"
    LEARNED_PRD_DST = "learned-prd*learned-dst"
    HULL = "hull"
    LEARNED_PRD_HULL = "learned-prd*hull"
    XSEG = "xseg"
    XSEG_PRD = "xseg*learned-prd"


def resolve_model(path: Path) -> Path:
    """A model checkpoint file: ``path`` itself, or the model a training folder holds."""
    if path.is_file():
        return path
    if not path.exists():
        raise CliError(f"--model {path}: no such file or training folder")
    for name in ("model.safetensors", "model-ema.safetensors", "final.safetensors"):
        if (path / name).is_file():
            return path / name
    found = sorted(path.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
    models = [p for p in found if "optim" not in p.name and "state" not in p.name and "backup" not in p.name]
    if not models:
        raise CliError(f"--model {path}: folder holds no model .safetensors (train one with `fs train`)")
    return models[0]


def load_swap_model(path: Path, device: str) -> Any:
    """Load an fs-models checkpoint; raises :class:`CliError` for a file that is not one."""
    import fs_models

    file = resolve_model(path)
    try:
        model = fs_models.load_model(file, device=device)
    except (fs_models.ModelError, OSError, ValueError) as exc:
        raise CliError(f"--model {file}: not an fs model checkpoint ({exc})") from exc
    if not hasattr(model, "swap"):
        raise CliError(f"--model {file}: model {getattr(model, 'name', '?')!r} cannot swap faces")
    return model.eval()


@dataclass(frozen=True)
class FrameFace:
    """One face to replace: frame-space 68 landmarks."""

    frame: int
    landmarks: npt.NDArray[np.float32]


def frame_faces(
    dst: Path,
    faceset: Path | None,
    *,
    max_frames: int | None,
    jobs: int,
    progress: Callable[[str, int | None], Any],
    all_faces: bool = False,
) -> tuple[dict[int, list[FrameFace]], str]:
    """Each dst frame's faces: from the faceset's records (curated faces only), else extracted now."""
    if faceset is not None:
        from fs_faceset import Faceset

        if not (faceset / "index.json").is_file():
            raise CliError(f"--faceset {faceset}: not a faceset (no index.json)")
        fs = Faceset.open(faceset, include_removed=all_faces)
        frames = fs.frames(dst.name)
        if not frames and dst.name not in fs.sources():
            raise CliError(f"--faceset {faceset}: no faces of {dst.name} (extract {dst} into it first)")
        lms = fs.column("source_landmarks")
        out = {i: [FrameFace(i, lms[p]) for p in pos] for i, pos in frames.items()}
        return out, f"faces of {faceset}"
    from fs_cli.pipeline import extract_frames

    found: dict[int, list[FrameFace]] = {}
    for _, r in extract_frames(dst, jobs=jobs, max_frames=max_frames, frames_folder=True, progress=progress):
        if r.faces:
            found[r.index] = [FrameFace(r.index, f.landmarks) for f in r.faces]
    return found, "faces found now"


class FaceSwapper:
    """Replace every listed face of a frame: align -> model.swap -> mask -> fs_merge.merge_face."""

    def __init__(self, model: Any, config: Any, mask: MaskMode, *, device: str, xseg: Any | None = None) -> None:
        import fs_align

        self.model = model
        self.config = config
        self.mask = mask
        self.device = device
        self.xseg = xseg
        self.res = int(model.resolution)
        ft = getattr(model.config, "face_type", "whole_face")
        self.face_type = fs_align.FaceType.parse(getattr(ft, "value", ft))
        self._lock = threading.Lock()
        if mask in (MaskMode.XSEG, MaskMode.XSEG_PRD) and xseg is None:
            raise CliError(f"--mask {mask.value}: needs --xseg MODEL (train one with `fs mask train`)")

    def swap_face(self, image: U8, landmarks: npt.NDArray[np.float32]) -> tuple[U8, npt.NDArray[np.float32], Any]:
        """The swapped aligned face, its mask and the frame->face matrix."""
        import torch

        import fs_align

        matrix = fs_align.alignment_matrix(landmarks, self.face_type, self.res)
        crop = fs_align.warp_face(image, matrix, self.res)
        x = torch.from_numpy(crop).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        with torch.inference_mode():
            out = self.model.swap(x)
        face = (out.face[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        prd = out.face_mask[0, 0].float().cpu().numpy()
        dstm = out.dst_mask[0, 0].float().cpu().numpy()
        mask = self._mask(crop, landmarks, matrix, prd, dstm)
        return face, mask.astype(np.float32), matrix

    def _mask(self, crop: U8, landmarks: Any, matrix: Any, prd: Any, dstm: Any) -> npt.NDArray[np.float32]:
        import fs_align

        m = self.mask
        if m is MaskMode.LEARNED_PRD:
            return np.asarray(prd)
        if m is MaskMode.LEARNED_DST:
            return np.asarray(dstm)
        if m is MaskMode.LEARNED_PRD_DST:
            return np.asarray(prd * dstm)
        if m in (MaskMode.HULL, MaskMode.LEARNED_PRD_HULL):
            from fs_mask import landmark_mask

            hull = landmark_mask(fs_align.transform_points(landmarks, matrix), self.res)
            return np.asarray(hull if m is MaskMode.HULL else hull * prd)
        from fs_mask import predict_masks

        assert self.xseg is not None
        with self._lock:
            xs = predict_masks(self.xseg, crop[None])[0]
        return np.asarray(xs if m is MaskMode.XSEG else xs * prd)

    def __call__(self, image: U8, faces: list[FrameFace]) -> U8:
        from fs_merge import merge_face

        out = image
        for f in faces:
            face, mask, matrix = self.swap_face(out, f.landmarks)
            out = merge_face(out, face, mask, matrix, self.config)
        return out
