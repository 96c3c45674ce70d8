"""What the UI may touch: the facesets, training folders, dst video, model and output folder it was given."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from fs_ui.errors import UiError

__all__ = ["VIDEO_SUFFIXES", "UiConfig", "classify_paths"]

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


@dataclass(frozen=True)
class UiConfig:
    """The folders and files one UI session may read (and, for facesets, runs and ``out_dir``, change).

    Attributes:
        facesets: faceset folders (browser, mask editor; the dst faceset of the merge tuner).
        runs: training folders (``fs train -o``): the training monitor; a run's model serves the merge tuner
            when ``model`` is not given.
        video: the dst video of the merge tuner (its faces come from the faceset that holds them).
        model: the model the merge tuner swaps with (an fs checkpoint, a training folder or a ``.dfm``).
        xseg: an XSeg checkpoint: its prediction beside the mask editor's polygons, and the ``xseg`` merge mask.
        out_dir: where the merge tuner saves its config and renders the video (default: beside the video).
        token: the secret every request must carry (default: 32 random URL-safe characters).
        device: where the models run.
    """

    facesets: tuple[Path, ...] = ()
    runs: tuple[Path, ...] = ()
    video: Path | None = None
    model: Path | None = None
    xseg: Path | None = None
    out_dir: Path | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    device: str = "cpu"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "facesets", tuple(_folder(p, "faceset") for p in self.facesets))
        set_(self, "runs", tuple(_folder(p, "training folder") for p in self.runs))
        if self.video is not None:
            video = Path(self.video).resolve()
            if not video.is_file():
                raise UiError(f"{self.video}: no such video")
            set_(self, "video", video)
        for name in ("model", "xseg"):
            value = getattr(self, name)
            if value is not None:
                path = Path(value).resolve()
                if not path.exists():
                    raise UiError(f"{value}: no such {name} file or folder")
                set_(self, name, path)
        if self.out_dir is not None:
            set_(self, "out_dir", Path(self.out_dir).resolve())
        elif self.video is not None:
            set_(self, "out_dir", self.video.parent)
        if len(self.token) < 16:
            raise UiError("token: use at least 16 characters")

    @property
    def merge_model(self) -> Path | None:
        """The model of the merge tuner: ``model``, else the first training folder that holds one."""
        if self.model is not None:
            return self.model
        return next((r / "model.safetensors" for r in self.runs if (r / "model.safetensors").is_file()), None)


def _folder(path: Path | str, what: str) -> Path:
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise UiError(f"{path}: no such {what} folder")
    return folder


def is_faceset(path: Path) -> bool:
    """Whether ``path`` is a faceset folder (its ``index.json`` says ``fs-faceset``)."""
    try:
        return bool(json.loads((path / "index.json").read_text(encoding="utf-8")).get("format") == "fs-faceset")
    except (OSError, ValueError, AttributeError):
        return False


def is_run(path: Path) -> bool:
    """Whether ``path`` is a training folder (``metrics.jsonl``, ``config.json`` or a checkpoint)."""
    names = ("metrics.jsonl", "config.json", "checkpoint.safetensors", "model.safetensors")
    return path.is_dir() and any((path / n).is_file() for n in names)


def classify_paths(paths: list[Path]) -> tuple[list[Path], list[Path], Path | None]:
    """Sort command-line paths into facesets, training folders and (at most one) dst video.

    Raises:
        UiError: a path that is none of these, or two videos.
    """
    facesets: list[Path] = []
    runs: list[Path] = []
    video: Path | None = None
    for p in paths:
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            if video is not None:
                raise UiError(f"{p}: one dst video at a time (already {video})")
            video = p
        elif p.is_dir() and is_faceset(p):
            facesets.append(p)
        elif is_run(p):
            runs.append(p)
        elif not p.exists():
            raise UiError(f"{p}: no such file or folder")
        else:
            raise UiError(f"{p}: not a faceset folder, a training folder or a video ({', '.join(VIDEO_SUFFIXES)})")
    return facesets, runs, video
