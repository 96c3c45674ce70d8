"""The ffmpeg binary (shipped by imageio-ffmpeg) and a small prober that reads ``ffmpeg -i``'s report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fs_merge.errors import MergeError

__all__ = ["VideoInfo", "ffmpeg_exe", "probe_video"]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary that the ``imageio-ffmpeg`` package ships (or ``$IMAGEIO_FFMPEG_EXE``).

    Raises:
        MergeError: imageio-ffmpeg is not installed or has no binary for this platform.
    """
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise MergeError("ffmpeg not found: fs-merge needs `pip install imageio-ffmpeg` for video I/O") from exc
    try:
        exe = str(imageio_ffmpeg.get_ffmpeg_exe())
    except (RuntimeError, OSError) as exc:
        raise MergeError(
            f"ffmpeg not found ({exc}); reinstall `pip install imageio-ffmpeg` or point IMAGEIO_FFMPEG_EXE at an "
            "ffmpeg binary"
        ) from exc
    if not Path(exe).is_file():
        raise MergeError(f"ffmpeg not found at {exe!r} (from imageio-ffmpeg / IMAGEIO_FFMPEG_EXE)")
    return exe


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a media file.

    Attributes:
        path: the file.
        width, height: frame size of the first video stream.
        fps: its frame rate.
        duration_s: container duration in seconds (``None`` if unknown).
        video_codec: e.g. ``"h264"``.
        audio_codec: codec of the first audio stream, or ``None`` when there is no audio.
        num_frames: counted frames of the first video stream (``None`` unless counted).
        metadata: container-level metadata (lower-case keys).
    """

    path: Path
    width: int
    height: int
    fps: float
    duration_s: float | None
    video_codec: str
    audio_codec: str | None
    num_frames: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def has_audio(self) -> bool:
        """Whether the file has an audio stream."""
        return self.audio_codec is not None


_VIDEO_RE = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r"([\d.]+) (?:fps|tbr)")
_AUDIO_RE = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)")
_DUR_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_FRAME_RE = re.compile(r"frame=\s*(\d+)")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MergeError(f"could not run ffmpeg ({args[0]}): {exc}") from exc


def _metadata(report: str) -> dict[str, str]:
    """Container metadata: the ``Metadata:`` block of ``Input #0`` before its first stream."""
    head = report.split("Input #0", 1)[-1].split("Stream #", 1)[0]
    out: dict[str, str] = {}
    in_block = False
    for line in head.splitlines():
        if line.strip() == "Metadata:":
            in_block = True
            continue
        if in_block:
            if ":" not in line or not line.startswith("    "):
                if line.strip().startswith("Duration"):
                    break
                continue
            key, value = line.split(":", 1)
            out[key.strip().lower()] = value.strip()
    return out


_ROTATION_RE = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)


def probe_video(path: str | Path, *, count_frames: bool = False) -> VideoInfo:
    """Read size, fps, duration, codecs and metadata of a video file with ``ffmpeg -i``.

    Args:
        path: any file ffmpeg can read.
        count_frames: also count the video frames exactly (demuxes the whole file without decoding; fast).

    Raises:
        MergeError: the file is missing, not a media file ffmpeg can read, or has no video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise MergeError(f"{path}: no such video file")
    exe = ffmpeg_exe()
    report = _run([exe, "-hide_banner", "-i", str(path)], timeout=60).stderr
    video = _VIDEO_RE.search(report)
    if video is None:
        reason = report.strip().splitlines()[-1] if report.strip() else "no report"
        if "Stream #" in report:
            reason = "it has no video stream"
        raise MergeError(f"{path}: not a readable video ({reason})")
    line = report[video.start() :].splitlines()[0]
    fps_m = _FPS_RE.search(line)
    audio = _AUDIO_RE.search(report)
    dur = _DUR_RE.search(report)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else None
    frames = None
    if count_frames:
        counted = _run([exe, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"], 300)
        hits = _FRAME_RE.findall(counted.stderr)
        frames = int(hits[-1]) if hits else None
    width, height = int(video.group(2)), int(video.group(3))
    block = report[video.start() :].split("Stream #", 2)[1]  # this stream's lines (its side data)
    turn = _ROTATION_RE.search(block)
    if turn is not None and round(abs(float(turn.group(1)))) % 180 == 90:
        width, height = height, width  # ffmpeg decodes turned upright (autorotate): the frames are this size
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=float(fps_m.group(1)) if fps_m else 25.0,
        duration_s=duration,
        video_codec=video.group(1),
        audio_codec=audio.group(1) if audio else None,
        num_frames=frames,
        metadata=_metadata(report),
    )
