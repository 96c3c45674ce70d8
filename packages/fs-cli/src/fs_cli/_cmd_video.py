"""``fs video frames|join``: a video to numbered frames and back, keeping the frame rate and the audio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fs_cli._ui import ConfigOpt, JsonOpt, Ui

app = typer.Typer(
    help="Split a video into numbered frames and join frames back (fps and audio kept).", no_args_is_help=True
)


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
    from fs_cli.pipeline import video_to_frames

    ui = Ui(ctx, json_output=json_output)
    info, problems = video_to_frames(video, out, ext=ext, every=every, progress=ui.progress)
    for p in problems:
        ui.warn(p)
    audio = " (+ audio)" if info["audio"] else ""
    ui.result(info, f"{info['frames']} frames at {info['fps']:g} fps -> {out}{audio}")


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
    from fs_cli.pipeline import frames_to_video

    ui = Ui(ctx, json_output=json_output)
    done = frames_to_video(
        folder, out, fps=fps, audio=audio, crf=crf, label_visible=label_visible, progress=ui.progress
    )
    for p in done.problems:
        ui.warn(p)
    result = {"out": str(out), "frames": done.frames, "fps": done.fps, "audio": str(done.audio) if done.audio else None}
    ui.result(result, f"{done.frames} frames at {done.fps:g} fps -> {out}")
