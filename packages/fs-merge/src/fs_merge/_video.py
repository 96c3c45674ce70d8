"""Video I/O through the ffmpeg binary: ``FrameReader`` (files or image folders) and ``VideoWriter`` (H.264)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import ShapeError, as_bgr_uint8
from fs_merge._checks import check_color_image
from fs_merge._ffmpeg import VideoInfo, ffmpeg_exe, probe_video
from fs_merge._label import LABEL_KEY, LABEL_TEXT, draw_label
from fs_merge.errors import MergeError

try:
    import fcntl
except ImportError:  # Windows: pipes keep their size
    fcntl = None  # type: ignore[assignment]

__all__ = ["IMAGE_SUFFIXES", "Frame", "FrameReader", "VideoWriter"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""Files a :class:`FrameReader` reads from an image folder."""

ErrorCallback = Callable[[int | None, str], None]


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its 0-based ``index``, ``time_s`` (index / fps) and the ``H x W x 3`` BGR uint8 image."""

    index: int
    time_s: float
    image: npt.NDArray[np.uint8]


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


class FrameReader:
    """Frames of a video file (anything ffmpeg decodes) or of a folder of images, in order.

    Problems that do not stop reading (a corrupt video frame that ffmpeg reports, an unreadable or odd-sized
    image in a folder) are appended to :attr:`problems` and passed to ``on_error(index, message)``; the frame is
    skipped. ``index`` counts the frames actually yielded.

    Args:
        source: a video file or a folder of images (sorted in natural order: ``2.png`` before ``10.png``).
        fps: frame rate of an image folder (default 25); ignored for video files.
        on_error: called with ``(frame index or None, message)`` for each skipped frame or decoder error.
        decode_threads: ffmpeg's decoding threads for a video (0: ffmpeg's choice, about one per core; 1 spends
            the least CPU per frame, for callers whose own work per frame is far slower than decoding).

    Raises:
        MergeError: missing path, unreadable video, a folder without images, or no ffmpeg.
    """

    def __init__(
        self,
        source: str | Path,
        *,
        fps: float | None = None,
        on_error: ErrorCallback | None = None,
        decode_threads: int = 0,
    ):
        self.path = Path(source)
        self.problems: list[str] = []
        self.decode_threads = int(decode_threads)
        self._on_error = on_error
        self._files: list[Path] = []
        self.info: VideoInfo | None = None
        if self.path.is_dir():
            self._files = sorted(
                (p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
            )
            if not self._files:
                raise MergeError(f"{self.path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            first = next((img for img in (self._read_image(p) for p in self._files[:16]) if img is not None), None)
            if first is None:
                raise MergeError(f"{self.path}: none of the first images could be read")
            self.height, self.width = first.shape[:2]
            self.fps = float(fps) if fps is not None else 25.0
            self._num_frames: int | None = len(self._files)
        elif self.path.is_file():
            self.info = probe_video(self.path)
            self.width, self.height, self.fps = self.info.width, self.info.height, self.info.fps
            self._num_frames = None
        else:
            raise MergeError(f"{self.path}: no such video file or image folder")
        if self.fps <= 0:
            raise MergeError(f"fps: expected > 0, got {self.fps}")

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return self.width, self.height

    @property
    def num_frames(self) -> int:
        """Number of frames (image files, or the video's frames counted by demuxing once)."""
        if self._num_frames is None:
            counted = probe_video(self.path, count_frames=True).num_frames
            self._num_frames = counted if counted is not None else 0
        return self._num_frames

    def _report(self, index: int | None, message: str) -> None:
        self.problems.append(message)
        if self._on_error is not None:
            self._on_error(index, message)

    @staticmethod
    def _read_image(path: Path) -> npt.NDArray[np.uint8] | None:
        data = np.fromfile(path, dtype=np.uint8)
        # any depth and colour (16-bit, grey, CMYK), turned upright by its EXIF orientation (UNCHANGED ignores it)
        img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if data.size else None
        if img is None:
            return None
        return as_bgr_uint8(img, str(path))

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, start: int = 0) -> Iterator[Frame]:
        """The frames from index ``start`` on, numbered as a read from the first frame numbers them.

        A video file is decoded from the keyframe before ``start`` (an accurate ffmpeg seek) when its frame rate
        is constant; otherwise, and for image folders, the frames before ``start`` are read and dropped.
        """
        if self._files:
            return (f for f in self._iter_folder() if f.index >= start)
        return self._iter_video(max(0, int(start)))

    def _iter_folder(self) -> Iterator[Frame]:
        index = 0
        for path in self._files:
            try:
                img = self._read_image(path)
            except ShapeError as exc:
                img, why = None, str(exc)
            else:
                why = "not a readable image"
            if img is None:
                self._report(index, f"{path}: skipped, {why}")
                continue
            if img.shape[:2] != (self.height, self.width):
                self._report(
                    index, f"{path}: skipped, size {img.shape[1]}x{img.shape[0]} != {self.width}x{self.height}"
                )
                continue
            yield Frame(index, index / self.fps, img)
            index += 1

    def _seek(self, start: int) -> list[str]:
        """ffmpeg input options that make frame ``start`` the first one decoded, or ``[]`` when that is unsafe.

        A read from the first frame numbers frame ``i`` as shown at ``i / rate``. A seek to a tenth of a frame
        before that time (ffmpeg decodes from the keyframe before it and drops the frames before it) starts
        exactly there when the frame rate is constant (the stream's average rate equals its base rate; the
        exact rational rate is read from the first frame) and the video starts with its container (else ffmpeg
        pads a full read's start with repeated frames, which a seek does not see).
        """
        if start <= 0:
            return []
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(self.path), "-map", "0:v:0", "-frames:v", "1"]
        try:
            report = subprocess.run(
                [*cmd, "-vf", "showinfo", "-f", "null", "-"],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=60,
            ).stderr
        except (OSError, subprocess.TimeoutExpired):
            return []  # read from the start instead
        rates, rate, first = _RATES_RE.search(report), _RATE_RE.search(report), _PTS_RE.search(report)
        if rates is None or rate is None or first is None or int(rate.group(1)) <= 0 or int(rate.group(2)) <= 0:
            return []
        fps = int(rate.group(1)) / int(rate.group(2))
        constant = abs(float(rates.group(1)) - float(rates.group(2))) <= 0.01 and abs(fps - self.fps) <= 0.01
        if not constant or abs(float(first.group(1))) >= 0.1 / fps:
            return []
        return ["-ss", f"{(start - 0.1) * int(rate.group(2)) / int(rate.group(1)):.6f}"]

    def _iter_video(self, start: int = 0) -> Iterator[Frame]:
        seek = self._seek(start)
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        if self.decode_threads > 0:
            cmd += ["-threads", str(self.decode_threads)]
        cmd += [*seek, "-i", str(self.path), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        _widen_pipe(proc.stdout.fileno(), self.width * self.height * 3)
        errors: list[str] = []
        drain = threading.Thread(target=_collect, args=(proc.stderr, errors), daemon=True)
        drain.start()
        stdout = cast(io.BufferedReader, proc.stdout)  # Popen's default buffering
        shape = (self.height, self.width, 3)
        nbytes = self.width * self.height * 3
        index, reported = (start if seek else 0), 0
        scratch = np.empty(shape, np.uint8)  # frames before ``start`` are read into this and dropped
        try:
            while True:
                img = np.empty(shape, np.uint8) if index >= start else scratch
                got = stdout.readinto(img.data.cast("B"))  # straight into the frame's memory: no copy
                for message in errors[reported:]:
                    self._report(index, f"{self.path}: decoder error near frame {index}: {message}")
                reported = len(errors)
                if got < nbytes:
                    break
                if index >= start:
                    yield Frame(index, index / self.fps, img)
                index += 1
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            drain.join(timeout=5)
            for message in errors[reported:]:
                self._report(None, f"{self.path}: decoder error: {message}")
        if index == 0:
            raise MergeError(f"{self.path}: ffmpeg decoded no frames ({'; '.join(errors[-3:]) or 'no error given'})")
        if self._num_frames is None and not seek:
            self._num_frames = index


_RATES_RE = re.compile(r"Stream #\d+:\d+.*?: Video: .*?([\d.]+) fps, ([\d.]+) tbr")
_RATE_RE = re.compile(r"config in time_base: \S+, frame_rate: (\d+)/(\d+)")
_PTS_RE = re.compile(r"pts_time:\s*(-?[\d.]+(?:e-?\d+)?)")


def _widen_pipe(fd: int, frame_bytes: int) -> None:
    """Let a pipe hold up to a frame (Linux; at most the unprivileged limit, 1 MiB by default).

    With the default 64 KiB ffmpeg blocks some 40 times per 720p frame whenever the reader is busy: measured
    with a reader spending 10 ms a frame, 1.4 s of ffmpeg CPU and 4.0 s wall for 300 frames, against 1.2 s and
    3.4 s with 1 MiB.
    """
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setsize is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, setsize, min(frame_bytes, 1 << 20))


def _collect(stream: IO[bytes], sink: list[str]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").strip()
        if line:
            sink.append(line)


_COPYABLE = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"},
    "matroska": None,  # copies anything
}
_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


class VideoWriter:
    """Write BGR frames to an H.264 video through imageio-ffmpeg's ffmpeg, copying a source's audio track.

    Every file gets the synthetic-media label in its container metadata (``comment`` and ``synthetic_media``)
    and, unless ``label_visible=False``, the visible corner mark of :func:`fs_merge.draw_label` on every frame.
    The file appears atomically at ``path`` on :meth:`close` (written to a temp file in the same folder first);
    leaving a ``with`` block by an exception removes the temp file and writes nothing.

    Args:
        path: output file, ``.mp4``, ``.m4v``, ``.mov`` or ``.mkv``.
        fps: frame rate (e.g. ``FrameReader.fps``).
        size: ``(width, height)``; taken from the first frame when omitted. Odd sizes are padded by one pixel.
        crf: x264 constant rate factor 0..51 (lower is better; 18 is visually lossless).
        preset: x264 preset (``ultrafast`` .. ``veryslow``).
        audio_from: a media file whose first audio stream is copied in (re-encoded to AAC only when the container
            cannot hold its codec); cut to the video's length. ``None`` or a file without audio: silent video.
        label_visible: draw the visible mark.
        label_text: the metadata text.

    Raises:
        MergeError: bad arguments, a missing ``audio_from`` file, no ffmpeg, or ffmpeg failing.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        size: tuple[int, int] | None = None,
        *,
        crf: int = 18,
        preset: str = "medium",
        audio_from: str | Path | None = None,
        label_visible: bool = True,
        label_text: str = LABEL_TEXT,
    ):
        self.path = Path(path)
        fmt = _FORMATS.get(self.path.suffix.lower())
        if fmt is None:
            raise MergeError(f"{self.path}: VideoWriter writes {', '.join(_FORMATS)}, not {self.path.suffix!r}")
        if not self.path.parent.is_dir():
            raise MergeError(f"{self.path}: folder {self.path.parent} does not exist")
        if not fps > 0:
            raise MergeError(f"fps: expected > 0, got {fps}")
        if not 0 <= int(crf) <= 51:
            raise MergeError(f"crf: expected 0..51, got {crf}")
        if preset not in PRESETS:
            raise MergeError(f"preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
        self._fmt, self.fps, self.crf, self.preset = fmt, float(fps), int(crf), preset
        self.label_visible, self.label_text = label_visible, label_text
        self._exe = ffmpeg_exe()
        self._audio: tuple[Path, str] | None = None
        if audio_from is not None:
            info = probe_video(audio_from) if Path(audio_from).is_file() else None
            if info is None:
                raise MergeError(f"audio_from: {audio_from}: no such file")
            if info.audio_codec is not None:
                copyable = _COPYABLE.get(fmt)
                codec = "copy" if copyable is None or info.audio_codec in copyable else "aac"
                self._audio = (Path(audio_from), codec)
        self.size = size
        self.frames_written = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None
        self._log: IO[bytes] | None = None
        self._closed = False

    def _start(self, width: int, height: int) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        cmd = [self._exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-framerate", f"{self.fps:g}"]
        cmd += ["-i", "pipe:0", "-map", "0:v:0"]
        if width % 2 or height % 2:
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        cmd += ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p"]
        cmd += [*self._container_args(), str(self._tmp)]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the ffmpeg process; closed in _cleanup
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        self.size = (width, height)

    def write(self, frame: npt.NDArray[np.uint8]) -> None:
        """Append one ``H x W x 3`` BGR ``uint8`` frame (all frames must have the writer's size)."""
        if self._closed:
            raise MergeError(f"{self.path}: the writer is closed")
        img = check_color_image(frame, "frame")
        if img.dtype != np.uint8:
            raise ShapeError(f"frame: expected BGR uint8, got dtype {img.dtype}")
        h, w = img.shape[:2]
        if self._proc is None:
            if self.size is not None and tuple(self.size) != (w, h):
                raise ShapeError(f"frame: expected {self.size[0]}x{self.size[1]} (the writer's size), got {w}x{h}")
            self._start(w, h)
        elif self.size != (w, h):
            assert self.size is not None
            raise ShapeError(f"frame: expected {self.size[0]}x{self.size[1]} (the writer's size), got {w}x{h}")
        if self.label_visible:
            img = draw_label(img)
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(img).tobytes())
        except (BrokenPipeError, OSError) as exc:
            raise MergeError(
                f"{self.path}: ffmpeg stopped while writing frame {self.frames_written}: {self._stderr()}"
            ) from exc
        self.frames_written += 1

    def _stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", errors="replace").strip()[-2000:]

    def _container_args(self) -> list[str]:
        args = ["-metadata", f"comment={self.label_text}", "-metadata", f"{LABEL_KEY}=true"]
        if self._fmt in ("mp4", "mov"):
            args += ["-movflags", "+faststart+use_metadata_tags"]
        return [*args, "-f", self._fmt]

    def _mux_audio(self) -> None:
        """Add the audio track to the finished video stream, cut to the video's duration.

        The video is encoded first and the audio muxed in afterwards (stream copy of the video), so no frame is
        ever dropped: ffmpeg's ``-shortest`` while encoding cuts the last frames when the audio ends early.
        """
        assert self._audio is not None and self._tmp is not None
        fd, name = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        os.close(fd)
        muxed = Path(name)
        duration = self.frames_written / self.fps
        cmd = [self._exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(self._tmp)]
        cmd += ["-i", str(self._audio[0]), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]
        cmd += ["-c:a", self._audio[1], "-t", f"{duration:.6f}", *self._container_args(), str(muxed)]
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            muxed.unlink(missing_ok=True)
            message = proc.stderr.decode("utf-8", errors="replace").strip()[-2000:]
            raise MergeError(f"{self.path}: adding the audio of {self._audio[0]} failed: {message}")
        os.replace(muxed, self._tmp)

    def close(self) -> Path:
        """Finish the file and move it into place; returns the path."""
        if self._closed:
            return self.path
        if self._proc is None:
            raise MergeError(f"{self.path}: no frames were written")
        self._closed = True
        assert self._proc.stdin is not None and self._tmp is not None
        with contextlib.suppress(OSError):  # ffmpeg may already have exited; its exit code tells
            self._proc.stdin.close()
        code = self._proc.wait()
        if code != 0:
            message = self._stderr()
            self._cleanup()
            raise MergeError(f"{self.path}: ffmpeg failed with exit code {code}: {message}")
        if self._audio is not None:
            try:
                self._mux_audio()
            except MergeError:
                self._cleanup()
                raise
        os.replace(self._tmp, self.path)
        self._tmp = None
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._closed = True
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
