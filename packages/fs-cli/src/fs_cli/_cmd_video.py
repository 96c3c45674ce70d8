"""``fs video frames|join``: a video to numbered frames and back, keeping the frame rate and the audio."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Annotated

import cv2
import typer

from fs_align import atomic_write
from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError
from fs_merge import FrameReader, VideoWriter, ffmpeg_exe, probe_video

app = typer.Typer(
    help="Split a video into numbered frames and join frames back (fps and audio kept).", no_args_is_help=True
)

INFO_FILE = "video.json"
AUDIO_FILE = "audio.mkv"


def extract_audio(video: Path, dest: Path) -> bool:
    """Copy the first audio stream of ``video`` into the Matroska file ``dest``; ``False`` when it has none.

    The file also holds a 16x16, 1 fps black video stream, because fs_merge.VideoWriter's ``audio_from`` takes
    media files with a video stream.
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


@app.command()
def frames(
    ctx: typer.Context,
    video: Annotated[Path, typer.Argument(help="Input video.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the frames (created; must be empty).")],
    ext: Annotated[str, typer.Option(help="Image format: png (lossless) or jpg.")] = "png",
    every: Annotated[int, typer.Option(min=1, help="Keep every N-th frame.")] = 1,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Write every frame as OUT/000000.png ... plus video.json (fps, size, source) and audio.mkv (the audio).

    Examples:

        fs video frames clip.mp4 -o clip_frames

        fs video frames clip.mp4 -o clip_frames --ext jpg --every 5
    """
    ui = Ui(ctx, json_output=json_output)
    ext = ext.lower().lstrip(".")
    if ext not in ("png", "jpg"):
        raise CliError(f"--ext: expected png or jpg, got {ext!r}")
    if out.exists() and any(out.iterdir()):
        raise CliError(f"{out}: folder is not empty")
    out.mkdir(parents=True, exist_ok=True)
    reader = FrameReader(video)
    total = reader.num_frames
    written = 0
    with ui.progress("frames", total) as advance:
        for frame in reader:
            if frame.index % every == 0:
                ok, buf = cv2.imencode(f".{ext}", frame.image)
                if not ok:
                    raise CliError(f"could not encode frame {frame.index} as {ext}")
                (out / f"{frame.index:06d}.{ext}").write_bytes(buf.tobytes())
                written += 1
            advance(1)
    has_audio = extract_audio(video, out / AUDIO_FILE)
    info = {"source": str(video), "fps": reader.fps / every, "width": reader.width, "height": reader.height}
    info |= {"frames": written, "every": every, "audio": AUDIO_FILE if has_audio else None}
    atomic_write(out / INFO_FILE, json.dumps(info, indent=2))
    for p in reader.problems:
        ui.warn(p)
    ui.result(info, f"{written} frames at {info['fps']:g} fps -> {out}" + (" (+ audio)" if has_audio else ""))


@app.command()
def join(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Folder of frames (natural order).", exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output video (.mp4, .mov, .mkv).")],
    fps: Annotated[float | None, typer.Option(help="Frame rate (default: video.json's, else 25).")] = None,
    audio: Annotated[Path | None, typer.Option(help="Take the audio from this file (default: audio.mkv).")] = None,
    crf: Annotated[int, typer.Option(min=0, max=51, help="x264 quality (lower is better).")] = 18,
    label_visible: Annotated[bool, typer.Option(help="Draw the visible 'SYNTHETIC' mark.")] = True,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Join numbered frames into an H.264 video with the audio that `fs video frames` kept.

    Examples:

        fs video join clip_frames -o clip.mp4

        fs video join merged_frames -o out.mp4 --fps 30 --audio original.mp4
    """
    ui = Ui(ctx, json_output=json_output)
    info: dict[str, object] = {}
    if (folder / INFO_FILE).is_file():
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    rate = fps if fps is not None else float(info.get("fps") or 25.0)  # type: ignore[arg-type]
    if audio is None and info.get("audio") and (folder / str(info["audio"])).is_file():
        audio = folder / str(info["audio"])
    if audio is not None and not audio.is_file():
        raise CliError(f"--audio: {audio}: no such file")
    reader = FrameReader(folder, fps=rate)
    writer = VideoWriter(out, rate, crf=crf, audio_from=audio, label_visible=label_visible)
    with ui.progress("join", reader.num_frames) as advance, writer:
        for frame in reader:
            writer.write(frame.image)
            advance(1)
    for p in reader.problems:
        ui.warn(p)
    result = {"out": str(out), "frames": writer.frames_written, "fps": rate, "audio": str(audio) if audio else None}
    ui.result(result, f"{writer.frames_written} frames at {rate:g} fps -> {out}")
