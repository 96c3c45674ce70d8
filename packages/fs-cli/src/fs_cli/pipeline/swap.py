"""Swap a whole dst video (or `fs video frames` folder) with a model: the faceset is the record of its faces.

The composition behind ``fs merge``: each frame's faces come from the dst faceset's ``Face`` records (frame index,
frame-space landmarks, stored mask; faces curated away are skipped) or, without a faceset, are found now; the
swap itself is ``fs_merge.swap_video`` with any ``fs_merge.FaceModel`` (``fs_models.TorchFaceModel``,
``fs_merge.OnnxFaceModel`` for ``.dfm`` files, or a third party's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fs_align import Alignment, FaceType, MaskSource
from fs_cli.errors import CliError
from fs_cli.pipeline._progress import Progress, null_progress
from fs_faceset import Faceset
from fs_merge import (
    FaceModel,
    FaceToSwap,
    FrameReader,
    MergeConfig,
    OnnxFaceModel,
    Segmenter,
    VideoWriter,
    swap_video,
    write_image,
)

__all__ = [
    "SwapSummary",
    "faces_from_faceset",
    "find_faces",
    "load_face_model",
    "load_swap_model",
    "open_dst",
    "resolve_model",
    "swap_video_from_faceset",
    "xseg_segmenter",
]

"""What `fs video frames` writes next to the frames: ``{"fps": ..., "audio": "audio.mkv" | null, ...}``."""

FacesByFrame = dict[int, list[FaceToSwap]]


@dataclass(frozen=True)
class SwapSummary:
    """What :func:`swap_video_from_faceset` did."""

    out: Path
    frames_written: int
    frames_with_faces: int
    frames_failed: int
    faces_from: str
    problems: tuple[str, ...]


def resolve_model(path: Path) -> Path:
    """A model file: ``path`` itself, or the model a training folder holds (``model.safetensors``, ...)."""
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


def load_face_model(
    path: Path,
    device: str = "cpu",
    *,
    face_type: FaceType | str | None = None,
    batch_size: int = 16,
    identity: str | None = None,
) -> FaceModel:
    """A :class:`fs_merge.FaceModel` from a file: ``.dfm``/``.onnx`` through onnxruntime (``face_type`` default:
    the file's ``fs.face_type`` metadata, else whole_face), else an fs-models checkpoint (or training folder)
    through ``fs_models.TorchFaceModel`` (a CGAN with its identity fixed, see :func:`load_swap_model`)."""
    file = resolve_model(path)
    if file.suffix.lower() in (".dfm", ".onnx"):
        if identity is not None:
            raise CliError(f"--identity: {file.name} is an exported model; its identity was fixed at export")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") else None
        return OnnxFaceModel(file, face_type=face_type, providers=providers, batch_size=batch_size)
    import fs_models

    model = fs_models.TorchFaceModel(load_swap_model(file, device, identity=identity), device, batch_size)
    if face_type is not None:
        model.face_type = FaceType.parse(face_type)
    return model


def load_swap_model(path: Path, device: str = "cpu", *, identity: str | None = None) -> Any:
    """The ``fs_models.FaceSwapModel`` of a checkpoint or training folder, ready for a one-input swap.

    A CGAN comes back as ``fs_models.FixedIdentityCGAN``: it renders the src identity (label 0) by default, or
    ``identity`` (an identity's name or label number from the model's table, or a faceset folder: one it was
    trained on, or, for a CGAN conditioned on SFace embeddings, any faceset, whose mean embedding is used);
    the faces it is given are taken to be the dst identity (label 1). ``fs_models.TorchFaceModel`` and
    ``fs_models.export_onnx`` take the result as they take any autoencoder.
    """
    import fs_models

    file = resolve_model(path)
    try:
        model = fs_models.load_model(file, device)
    except (fs_models.ModelError, OSError, ValueError) as exc:
        raise CliError(f"--model {file}: not an fs model checkpoint ({exc})") from exc
    if not isinstance(model, fs_models.FaceSwapModel):
        raise CliError(f"--model {file}: model {model.name!r} does not swap faces")
    if not isinstance(model, fs_models.CGANGenerator):
        if identity is not None:
            raise CliError(f"--identity: only a CGAN renders several identities; {file.name} is {model.name!r}")
        return model
    target, source = _cgan_identities(file, model, identity)
    return fs_models.fix_identity(model, target, source).eval()


def _cgan_identities(file: Path, model: Any, identity: str | None) -> tuple[Any, Any]:
    """(target, source) for ``fs_models.fix_identity``: labels, or identity vectors."""
    import fs_train

    try:
        table = fs_train.model_identities(file)
    except fs_train.CheckpointError as exc:
        raise CliError(f"--model {exc}") from None
    if len(table) < 2:
        raise CliError(f"--model {file}: its identity table holds {len(table)} identities (a CGAN needs two)")

    def value(entry: fs_train.Identity) -> Any:
        return entry.vector if entry.vector is not None else entry.label

    if identity is None:
        return value(table[0]), value(table[1])
    as_path = Path(identity)
    for entry in table:
        if identity in (entry.name, str(entry.label)) or (as_path.is_dir() and as_path.resolve() == entry.faceset):
            return value(entry), value(table[1])
    names = ", ".join(f"{e.label}={e.name}" for e in table)
    if (as_path / "index.json").is_file() and model.config.external_embedding_dims > 0:
        from fs_cli.pipeline.evaluate import src_identity

        vec = src_identity(as_path)
        if vec.shape[0] != model.config.external_embedding_dims:
            raise CliError(f"--identity {identity}: its embedding has {vec.shape[0]} values, the model takes "
                           f"{model.config.external_embedding_dims}")  # fmt: skip
        import torch

        return torch.from_numpy(vec), value(table[1])
    why = "" if model.config.external_embedding_dims else " (a label-conditioned CGAN renders only those)"
    raise CliError(f"--identity {identity}: not one of the model's identities {names}{why}")


def xseg_segmenter(xseg: Any, device: str | None = None) -> Segmenter:
    """A :class:`fs_merge.Segmenter` over an XSeg net or checkpoint path (``fs_mask.predict_masks``)."""
    from fs_mask import MaskError, load_xseg, predict_masks

    if isinstance(xseg, (str, Path)):
        try:
            xseg = load_xseg(xseg)
        except (MaskError, OSError, ValueError) as exc:
            raise CliError(f"--xseg {xseg}: not an XSeg checkpoint ({exc})") from exc
    net = xseg

    def segment(faces: Any) -> Any:
        return predict_masks(net, faces, device=device)

    return segment


def open_dst(dst: Path) -> tuple[FrameReader, Path | None]:
    """The dst's :class:`fs_merge.FrameReader` and the file to copy audio from.

    A video file is its own audio source. A folder (e.g. from `fs video frames`) takes its fps and audio from the
    folder's ``video.json`` when there is one (else 25 fps, silent); it is never probed as a video.
    """
    if dst.is_dir():
        from fs_cli.pipeline.video import read_frames_info

        info = read_frames_info(dst)
        audio = dst / str(info["audio"]) if info.get("audio") else None
        fps = float(info.get("fps") or 25.0)
        return FrameReader(dst, fps=fps), audio if audio is not None and audio.is_file() else None
    if not dst.is_file():
        raise CliError(f"{dst}: no such video or frames folder")
    return FrameReader(dst), dst


def faces_from_faceset(
    faceset: Path | Faceset, source_name: str, *, all_faces: bool = False, masks: bool = True
) -> FacesByFrame:
    """Each frame's faces of the source ``source_name`` (a video's or frames folder's file name) in a faceset.

    Args:
        faceset: the faceset folder (or an open :class:`fs_faceset.Faceset`) written by extracting the dst.
        source_name: the dst's name as the faces' ``source_path`` holds it (``Path(dst).name``).
        all_faces: also the faces curated away (removed from the faceset but not yet compacted out).
        masks: read each face's stored mask (``Face.mask``) for ``MaskSource.STORED``.

    Returns:
        ``{frame_index: [FaceToSwap, ...]}`` with frame-space landmarks, stored masks and face ids.
    """
    fs = faceset if isinstance(faceset, Faceset) else Faceset.open(faceset, include_removed=all_faces)
    if isinstance(faceset, Faceset) and all_faces:
        fs = Faceset.open(faceset.path, include_removed=True)
    paths = fs.source_paths
    rows = [i for i, p in enumerate(paths) if p == source_name or Path(p).name == source_name]
    if not rows:
        names = sorted(set(paths))[:5]
        raise CliError(f"{fs.path}: no faces of {source_name} (its faces come from {names}); extract the dst into it")
    frames = fs.column("frame_index", rows)
    landmarks = fs.column("source_landmarks", rows)
    ids = fs.ids
    out: FacesByFrame = {}
    for k, row in enumerate(rows):
        mask, alignment = None, None
        if masks:
            face = fs[row]
            if face.mask is not None:
                mask, alignment = face.mask, Alignment(face.image_to_face, face.face_type, face.size)
        record = FaceToSwap(landmarks[k], mask=mask, mask_alignment=alignment, id=ids[row])
        out.setdefault(int(frames[k]), []).append(record)
    return out


def find_faces(dst: Path, *, jobs: int = 1, progress: Progress | None = None) -> FacesByFrame:
    """Each frame's faces of a video or frames folder, found now (detect, track, landmarks, smooth)."""
    import fs_detect
    from fs_cli.pipeline.extract import extract_frames

    settings = fs_detect.ExtractSettings(track=fs_detect.TrackMode.ALL)
    out: FacesByFrame = {}
    for _, r in extract_frames(dst, settings, jobs=jobs, frames_folder=True, progress=progress):
        if r.faces:
            out[r.index] = [FaceToSwap(f.landmarks, track=f.track_id) for f in r.faces]
    return out


def swap_video_from_faceset(
    dst: Path,
    faceset: Path | None,
    model: FaceModel,
    config: MergeConfig,
    out: Path,
    *,
    all_faces: bool = False,
    segmenter: Segmenter | None = None,
    workers: int = 2,
    batch_size: int = 16,
    jobs: int = 1,
    crf: int = 18,
    preset: str = "medium",
    label_visible: bool = True,
    debug_dir: Path | None = None,
    progress: Progress | None = None,
) -> SwapSummary:
    """Swap ``model``'s face into every frame of ``dst`` and write a labelled H.264 video with dst's audio.

    Args:
        dst: a video file or a folder of frames (`fs video frames`: fps and audio from its ``video.json``).
        faceset: the dst's faceset (its faces of ``dst.name``; faces curated away are kept unless ``all_faces``);
            ``None``: find the faces now (every face of every frame).
        model: any :class:`fs_merge.FaceModel` (:func:`load_face_model`).
        config: the :class:`fs_merge.MergeConfig` (``config.mask``: which masks; ``stored`` reads the faceset's).
        out: the output video (.mp4, .mov, .mkv).
        segmenter: for ``xseg`` in ``config.mask`` (aligned faces in, masks out).
        workers, batch_size: merge threads; faces per model call.
        jobs: processes for finding faces (without a faceset).
        crf, preset, label_visible: :class:`fs_merge.VideoWriter` settings.
        debug_dir: write every output frame here as a labelled PNG.
        progress: ``progress(description, total)`` -> context manager yielding ``advance(n)`` (``Ui.progress``).

    Raises:
        CliError: no such dst, no faces to swap, or every frame failing to merge.
    """
    reader, audio = open_dst(dst)
    if faceset is not None:
        faces = faces_from_faceset(faceset, dst.name, all_faces=all_faces, masks=_needs_stored(config))
        if _needs_stored(config) and not any(f.mask is not None for fs in faces.values() for f in fs):
            raise CliError(
                f"{faceset}: no face has a stored mask for mask 'stored' (`fs mask apply` or `fs mask hull`)"
            )
        how = f"faceset {faceset}" + (" (all faces)" if all_faces else "")
    else:
        faces, how = find_faces(dst, jobs=jobs, progress=progress), "faces found now"
    if not faces:
        raise CliError(f"{dst}: no faces to swap ({how})")
    writer = VideoWriter(out, reader.fps, crf=crf, preset=preset, audio_from=audio, label_visible=label_visible)
    on_frame = None
    if debug_dir is not None:
        debug_dir.mkdir(parents=True, exist_ok=True)

        def on_frame(index: int, image: np.ndarray) -> None:  # type: ignore[type-arg]
            write_image(debug_dir / f"{index:06d}.png", image)

    with (progress or null_progress)("merge", reader.num_frames) as advance:
        result = swap_video(
            reader,
            writer,
            faces,
            model,
            config,
            segmenter=segmenter,
            workers=workers,
            batch_size=batch_size,
            progress=lambda done, total: advance(1),
            on_frame=on_frame,
        )
    summary = SwapSummary(out, result.frames_written, len(faces), result.frames_failed, how, result.problems)
    if result.frames_failed and result.frames_failed >= len(faces):
        first = result.problems[0] if result.problems else "unknown"
        raise CliError(f"every frame with faces failed to merge: {first}")
    return summary


def _needs_stored(config: MergeConfig) -> bool:
    return MaskSource.STORED in config.mask
