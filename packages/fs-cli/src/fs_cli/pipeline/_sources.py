"""What an extraction reads: a video, an image, a ``fs video frames`` folder, or a folder of images and videos."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fs_cli.errors import CliError

__all__ = ["IMAGE_SUFFIXES", "Source", "SourceKind", "find_sources", "natural_key"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class SourceKind(str, enum.Enum):
    """How a source's frames are read and numbered."""

    VIDEO = "video"
    """A video file; frames numbered as ``fs_merge.FrameReader`` numbers them."""
    SEQUENCE = "sequence"
    """A folder written by ``fs video frames`` (has ``video.json``): its images in natural order."""
    STILLS = "stills"
    """One image, or the images of a folder: unrelated pictures, each its own source with one frame (0)."""


@dataclass(frozen=True)
class Source:
    """One source of frames. ``name`` is the key the faceset stores (``Face.source_path``, ``SourceInfo.name``);
    for ``STILLS`` each of ``files`` is a source of its own, named by its file name."""

    kind: SourceKind
    path: Path
    name: str
    files: tuple[Path, ...] = ()
    fps: float = 25.0


def natural_key(path: Path) -> list[Any]:
    """Sort key: ``2.png`` before ``10.png``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _video(path: Path) -> Source:
    from fs_merge import probe_video

    return Source(SourceKind.VIDEO, path, path.name, fps=probe_video(path).fps)


def find_sources(src: Path, *, frames_folder: bool = False) -> tuple[list[Source], list[tuple[str, str]]]:
    """The sources in ``src`` and the files of a folder that are skipped, with the reason.

    A folder with a ``video.json`` (``fs video frames``), or any folder when ``frames_folder`` is true, is one
    ``SEQUENCE`` source: the frames of one video (fps from ``video.json``, else 25).

    Raises:
        CliError: no such path, a file that is neither an image nor a readable video, or a folder without either.
    """
    from fs_merge import MergeError

    skipped: list[tuple[str, str]] = []
    if not src.exists():
        raise CliError(f"{src}: no such file or folder")
    if src.is_file():
        if src.suffix.lower() in IMAGE_SUFFIXES:
            return [Source(SourceKind.STILLS, src, src.name, (src,))], skipped
        try:
            return [_video(src)], skipped
        except MergeError as exc:
            raise CliError(f"{src}: not an image or a video ffmpeg can read ({exc})") from exc
    if (src / "video.json").is_file() or frames_folder:
        from fs_cli.pipeline.video import read_frames_info

        fps = float(read_frames_info(src).get("fps") or 25.0)
        return [Source(SourceKind.SEQUENCE, src, src.name, fps=fps)], skipped
    images: list[Path] = []
    sources: list[Source] = []
    for p in sorted(src.iterdir(), key=natural_key):
        if p.name.startswith(".") or not p.is_file():
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
            continue
        try:
            sources.append(_video(p))
        except MergeError:
            skipped.append((str(p), "not an image or a readable video"))
    if images:
        sources.insert(0, Source(SourceKind.STILLS, src, src.name, tuple(images)))
    if not sources:
        raise CliError(f"{src}: folder holds no images or videos")
    return sources, skipped
