"""A video to numbered frames and back, keeping the frame rate and the audio (``fs video frames|join``).

A frames folder holds ``000000.png`` ... (or ``.jpg``), ``video.json`` (``source``, ``fps``, ``width``, ``height``,
``frames``, ``every``, ``audio``) and ``audio.mkv`` (the source's audio, when it has one). Extraction and merging
read such a folder as the frames of one video (fps from ``video.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from fs_align import atomic_write
from fs_cli.errors import CliError
from fs_cli.pipeline._progress import Progress
from fs_merge import FrameReader, VideoWriter, ffmpeg_exe, probe_video

__all__ = [
    "AUDIO_FILE",
    "INFO_FILE",
    "JoinSummary",
    "extract_audio",
    "frames_to_video",
    "read_frames_info",
    "video_to_frames",
]

INFO_FILE = "video.json"
AUDIO_FILE = "audio.mkv"


def _no_progress(label: str, total: int | None) -> AbstractContextManager[Callable[[int], None]]:
    return contextlib.nullcontext(lambda n: None)


def read_frames_info(folder: Path) -> dict[str, Any]:
    """A frames folder's ``video.json`` (``{}`` when there is none).

    Raises:
        CliError: the file is not a JSON object.
    """
    path = folder / INFO_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(info, dict):
        raise CliError(f"{path}: expected a JSON object")
    return info


def extract_audio(video: Path, dest: Path) -> bool:
    """Copy the first audio stream of ``video`` into the Matroska file ``dest``; ``False`` when it has none.

    The file also holds a 16x16, 1 fps black video stream, because ``fs_merge.VideoWriter``'s ``audio_from``
    takes media files with a video stream.
    """
    if probe_video(video).audio_codec is None:
        return False
    tmp = dest.with_name(f".{dest.name}.tmp.mkv")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"]
    cmd += ["-i", "color=c=black:s=16x16:r=1", "-i", str(video), "-map", "0:v:0", "-map", "1:a:0"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", "-shortest", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise CliError(f"{video}: could not copy the audio track ({proc.stderr.strip()[-300:]})")
    os.replace(tmp, dest)
    return True


def video_to_frames(
    video: Path, out: Path, *, ext: str = "png", every: int = 1, progress: Progress | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Write every ``every``-th frame of ``video`` as ``out/NNNNNN.<ext>``, plus ``video.json`` and ``audio.mkv``.

    Returns:
        The ``video.json`` contents and the decoder's complaints (frames it skipped).

    Raises:
        CliError: a bad ``ext``, a non-empty ``out`` (one left by an interrupted run, frames without
            ``video.json``, is written again), or a frame that cannot be encoded.
    """
    ext = ext.lower().lstrip(".")
    if ext not in ("png", "jpg"):
        raise CliError(f"ext: expected png or jpg, got {ext!r}")
    if out.exists() and any(out.iterdir()):
        if (out / INFO_FILE).exists() or not _interrupted_frames(out):
            raise CliError(f"{out}: folder is not empty")
        for p in out.iterdir():  # left by an interrupted run (no video.json yet): start again
            p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / _UNFINISHED).touch()  # until video.json is written: a re-run may start this folder again
    reader = FrameReader(video)
    written = 0
    with (progress or _no_progress)("frames", reader.num_frames) as advance:
        for frame in reader:
            if frame.index % every == 0:
                ok, buf = cv2.imencode(f".{ext}", frame.image)
                if not ok:
                    raise CliError(f"could not encode frame {frame.index} as {ext}")
                _write_whole(out / f"{frame.index:06d}.{ext}", buf.tobytes())
                written += 1
            advance(1)
    has_audio = extract_audio(video, out / AUDIO_FILE)
    info = {"source": str(video), "fps": reader.fps / every, "width": reader.width, "height": reader.height}
    info |= {"frames": written, "every": every, "audio": AUDIO_FILE if has_audio else None}
    atomic_write(out / INFO_FILE, json.dumps(info, indent=2))
    (out / _UNFINISHED).unlink()
    return info, list(reader.problems)


_UNFINISHED = ".fs-frames-unfinished"


def _interrupted_frames(folder: Path) -> bool:
    """Whether ``folder`` holds only what an interrupted :func:`video_to_frames` leaves: its marker, frames and
    temp files (a folder of frames from anywhere else is never deleted)."""
    frames = r"\d{6}\.(png|jpg)|\.\d{6}\.(png|jpg)\.tmp|\.?audio\.mkv(\.tmp\.mkv)?|"
    pattern = re.compile(frames + re.escape(_UNFINISHED))
    ours = all(p.is_file() and pattern.fullmatch(p.name) for p in folder.iterdir())
    return ours and (folder / _UNFINISHED).is_file()


def _write_whole(path: Path, data: bytes) -> None:
    """Write a frame under a temporary name, then rename it: a killed run never leaves half an image at ``path``
    (no fsync: many frames, and a crash of the machine is not what this guards against)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class JoinSummary:
    """What :func:`frames_to_video` wrote."""

    out: Path
    frames: int
    fps: float
    audio: Path | None
    problems: tuple[str, ...]


def frames_to_video(
    folder: Path,
    out: Path,
    *,
    fps: float | None = None,
    audio: Path | None = None,
    crf: int = 18,
    label_visible: bool = True,
    progress: Progress | None = None,
) -> JoinSummary:
    """Join the frames of ``folder`` (natural order) into a labelled H.264 video.

    ``fps`` defaults to ``video.json``'s (else 25) and ``audio`` to the folder's ``audio.mkv``.

    Raises:
        CliError: ``audio`` names no file.
    """
    info = read_frames_info(folder)
    rate = fps if fps is not None else float(info.get("fps") or 25.0)
    if audio is None and info.get("audio") and (folder / str(info["audio"])).is_file():
        audio = folder / str(info["audio"])
    if audio is not None and not audio.is_file():
        raise CliError(f"audio: {audio}: no such file")
    reader = FrameReader(folder, fps=rate)
    writer = VideoWriter(out, rate, crf=crf, audio_from=audio, label_visible=label_visible)
    with (progress or _no_progress)("join", reader.num_frames) as advance, writer:
        for frame in reader:
            writer.write(frame.image)
            advance(1)
    return JoinSummary(out, writer.frames_written, rate, audio, tuple(reader.problems))
