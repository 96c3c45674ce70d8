"""The merge tuner: one dst video, its faces from a faceset, one model; previews of single frames, then the video.

Per frame the decoded image, the crops and the model's output are cached (``_FrameCache``), so a change of the
:class:`fs_merge.MergeConfig` only re-runs the mask product and :func:`fs_merge.merge_face` (and the JPEG
encode): that is the "per change" time the UI reports in ``X-Merge-Ms``.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import Alignment, FaceType, MaskSource, alignment_matrix, warp_face
from fs_faceset import Faceset
from fs_merge import (
    FaceModel,
    FaceToSwap,
    FrameReader,
    MergeConfig,
    MergeError,
    OnnxFaceModel,
    SwapResult,
    VideoWriter,
    check_swap_outputs,
    merge_face,
    merge_mask,
    swap_video,
)
from fs_ui.errors import UiError

__all__ = ["MergeService", "RenderJob"]

U8 = npt.NDArray[np.uint8]
CONFIG_NAME = "merge.toml"
RENDER_NAME = "swap.mp4"


def load_model(path: Path, device: str) -> FaceModel:
    """A :class:`fs_merge.FaceModel`: ``.dfm``/``.onnx`` through onnxruntime, else an fs checkpoint (or the
    ``model.safetensors`` of a training folder)."""
    file = path / "model.safetensors" if path.is_dir() else path
    if not file.is_file():
        raise UiError(f"{path}: no model file (a training folder needs model.safetensors)")
    if file.suffix.lower() in (".dfm", ".onnx"):
        return OnnxFaceModel(file, face_type=FaceType.WHOLE_FACE)
    import fs_models

    try:
        return fs_models.TorchFaceModel.load(file, device)
    except (fs_models.ModelError, OSError, ValueError) as exc:
        raise UiError(f"{file}: not an fs model checkpoint ({exc})") from None


@dataclass
class _Cached:
    image: U8
    faces: list[FaceToSwap]
    matrices: list[npt.NDArray[np.float32]]
    out: SwapResult | None
    xseg: npt.NDArray[np.float32] | None = None


@dataclass
class RenderJob:
    """A video render in progress (or done)."""

    total: int
    done: int = 0
    state: str = "running"
    message: str = ""
    out: str = ""
    started: float = field(default_factory=time.time)


class MergeService:
    """The merge tuner's state: video, faces by frame, model, the per-frame cache and the render job."""

    def __init__(self, video: Path, faceset: Path, model_path: Path, out_dir: Path, *, xseg: Path | None,
                 device: str) -> None:  # fmt: skip
        self.video, self.out_dir, self.device = video, out_dir, device
        fs = Faceset.open(faceset)
        paths = fs.source_paths
        rows = [i for i, p in enumerate(paths) if Path(p).name == video.name]
        if not rows:
            raise UiError(f"{faceset}: no faces of {video.name}; extract the dst video into it (`fs extract`)")
        frames = fs.column("frame_index", rows).tolist()
        landmarks = fs.column("source_landmarks", rows)
        ids = fs.ids
        self.faceset = fs
        self.faces: dict[int, list[FaceToSwap]] = {}
        self._rows: dict[int, list[int]] = {}
        for k, row in enumerate(rows):
            self.faces.setdefault(int(frames[k]), []).append(FaceToSwap(landmarks[k], id=ids[row]))
            self._rows.setdefault(int(frames[k]), []).append(row)
        cap = cv2.VideoCapture(str(video))
        if not cap.isOpened():
            raise UiError(f"{video}: cannot be read as a video")
        self.num_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or (max(self.faces) + 1)
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
        self.width, self.height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._cap, self._next = cap, 0
        self.model = load_model(model_path, device)
        self.model_path = model_path
        self.xseg_path = xseg
        self._xseg: Any = None
        self.size = int(self.model.resolution)
        self.face_type = FaceType.parse(self.model.face_type)
        self._cache: collections.OrderedDict[int, _Cached] = collections.OrderedDict()
        self.lock = threading.Lock()
        self.render_lock = threading.Lock()
        self.job: RenderJob | None = None
        self._stored: bool | None = None
        out_dir.mkdir(parents=True, exist_ok=True)
        saved = out_dir / CONFIG_NAME
        self.config = MergeConfig.load(saved) if saved.is_file() else MergeConfig(allow_partial=True)

    def info(self) -> dict[str, Any]:
        return {
            "video": self.video.name,
            "frames": self.num_frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "frames_with_faces": sorted(self.faces),
            "model": self.model_path.name,
            "xseg": self.xseg_path is not None,
            "config": self.config.to_dict(),
            "out_dir": str(self.out_dir),
        }

    def parse_config(self, data: Any) -> MergeConfig:
        if not isinstance(data, dict):
            raise UiError("config: expected an object of MergeConfig fields")
        try:
            cfg = MergeConfig.from_dict({**self.config.to_dict(), **data})
        except (MergeError, TypeError, ValueError) as exc:
            raise UiError(f"config: {exc}") from None
        if MaskSource.XSEG in cfg.mask and self.xseg_path is None:
            raise UiError("config: mask 'xseg' needs an XSeg model (fs ui --xseg FILE)")
        if MaskSource.STORED in cfg.mask and not self._has_masks():
            raise UiError("config: mask 'stored' needs stored masks in the faceset (`fs mask apply`)")
        return cfg

    def _has_masks(self) -> bool:
        if self._stored is None:
            rows = [r for rs in self._rows.values() for r in rs]
            self._stored = any(m is not None for m in self.faceset.masks(rows))
        return self._stored

    # -- frames -----------------------------------------------------------------------------------------------
    def frame(self, index: int) -> U8:
        """The decoded dst frame ``index`` (BGR), cached with its model output."""
        return self._cached(index).image

    def _read(self, index: int) -> U8:
        if not 0 <= index < self.num_frames:
            raise UiError(f"{self.video}: no frame {index} (0..{self.num_frames - 1})")
        if index != self._next:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, img = self._cap.read()
        if not ok or img is None:
            raise UiError(f"{self.video}: frame {index} cannot be decoded")
        self._next = index + 1
        return np.ascontiguousarray(img)

    def _segment(self, faces: U8) -> npt.NDArray[np.float32]:
        from fs_mask import load_xseg, predict_masks

        if self._xseg is None:
            self._xseg = load_xseg(self.xseg_path, device=self.device)  # type: ignore[arg-type]
        return predict_masks(self._xseg, faces, device=self.device)

    def _cached(self, index: int) -> _Cached:
        with self.lock:
            hit = self._cache.get(index)
            if hit is not None:
                self._cache.move_to_end(index)
                return hit
            image = self._read(index)
            faces = self.faces.get(index, [])
            if index in self._rows:
                masks = self.faceset.masks(self._rows[index])
                faces = [
                    FaceToSwap(f.landmarks, id=f.id, mask=None if m is None else np.round(m * 255).astype(np.uint8),
                               mask_alignment=None if m is None else self._alignment(r))
                    for f, m, r in zip(faces, masks, self._rows[index])
                ]  # fmt: skip
            matrices = [alignment_matrix(f.landmarks, self.face_type, self.size) for f in faces]
            out, xseg = None, None
            if faces:
                crops = np.stack([np.asarray(warp_face(image, m, self.size), np.uint8) for m in matrices])
                out = check_swap_outputs(self.model.swap(crops), len(crops), self.size)
                if self.xseg_path is not None:
                    xseg = self._segment(crops)
            item = _Cached(image, faces, matrices, out, xseg)
            self._cache[index] = item
            while len(self._cache) > 24:
                self._cache.popitem(last=False)
            return item

    def _alignment(self, row: int) -> Alignment:
        face = self.faceset[row]
        return Alignment(face.image_to_face, face.face_type, face.size)

    def preview(self, index: int, config: MergeConfig) -> tuple[U8, float]:
        """Frame ``index`` merged with ``config`` and the milliseconds the merge itself took (cache warm)."""
        item = self._cached(index)
        start = time.perf_counter()
        merged = item.image
        try:
            for j, face in enumerate(item.faces):
                assert item.out is not None
                xseg = None if item.xseg is None else item.xseg[j]
                prd, dst_mask = item.out.face_mask[j], item.out.dst_mask[j]
                mask = merge_mask(
                    config.mask, face, item.matrices[j], self.size, face_mask=prd, dst_mask=dst_mask, xseg=xseg
                )
                merged = merge_face(merged, item.out.faces[j], mask, item.matrices[j], config)
        except (MergeError, ValueError) as exc:
            raise UiError(f"frame {index}: {exc}") from None
        return merged, (time.perf_counter() - start) * 1000.0

    # -- saving, rendering ------------------------------------------------------------------------------------
    def save_config(self, config: MergeConfig) -> Path:
        self.config = config
        return config.save(self.out_dir / CONFIG_NAME)

    def render(self, config: MergeConfig) -> RenderJob:
        """Start rendering the whole video with ``config`` into ``out_dir/swap.mp4`` (a background thread)."""
        with self.render_lock:
            if self.job is not None and self.job.state == "running":
                raise UiError("a render is already running")
            job = RenderJob(total=self.num_frames, out=str(self.out_dir / RENDER_NAME))
            self.job = job
        threading.Thread(target=self._render, args=(job, config), name="fs-ui-render", daemon=True).start()
        return job

    def _render(self, job: RenderJob, config: MergeConfig) -> None:
        try:
            reader = FrameReader(self.video)
            job.total = reader.num_frames or self.num_frames
            writer = VideoWriter(self.out_dir / RENDER_NAME, reader.fps, audio_from=self.video, preset="veryfast")

            def progress(done: int, total: int | None) -> None:
                job.done = done

            faces = {i: [self._with_mask(i, j, f, config) for j, f in enumerate(fs)] for i, fs in self.faces.items()}
            segmenter = self._segment if MaskSource.XSEG in config.mask else None
            result = swap_video(reader, writer, faces, self.model, config, segmenter=segmenter, progress=progress,
                                on_error=lambda i, m: None)  # fmt: skip
            job.done = job.total
            job.state = "done"
            job.message = f"{result.frames_written} frames, {result.frames_failed} failed"
        except Exception as exc:  # the UI shows it; the server keeps running
            job.state = "failed"
            job.message = f"{type(exc).__name__}: {exc}"

    def _with_mask(self, index: int, j: int, face: FaceToSwap, config: MergeConfig) -> FaceToSwap:
        if MaskSource.STORED not in config.mask:
            return face
        row = self._rows[index][j]
        m = self.faceset.masks([row])[0]
        if m is None:
            return face
        mask = np.round(m * 255).astype(np.uint8)
        return FaceToSwap(face.landmarks, id=face.id, mask=mask, mask_alignment=self._alignment(row))
