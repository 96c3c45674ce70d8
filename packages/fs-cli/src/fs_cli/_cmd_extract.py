"""``fs extract``: faces of a video, an image or a folder into a faceset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError

FACE_TYPES = "half, mid_full, full, whole_face, head (or DFL's h, mf, f, wf, head)"


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """``"K/N"`` -> ``(K, N)`` with 1 <= K <= N."""
    if value is None:
        return None
    try:
        k, n = (int(v) for v in value.split("/"))
    except ValueError:
        raise CliError(f"--shard: expected K/N such as 2/4, got {value!r}") from None
    if not 1 <= k <= n:
        raise CliError(f"--shard: expected 1 <= K <= N, got {value!r}")
    return k, n


def parse_box(value: str) -> tuple[float, float, float, float]:
    """``"x0,y0,x1,y1"`` -> four floats."""
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise CliError(f"--box: expected x0,y0,x1,y1 (4 numbers), got {value!r}")
    return parts  # type: ignore[return-value]


def build_settings(
    *,
    detector: str,
    device: str | None,
    min_score: float | None,
    min_face: int,
    detect_side: int,
    refine: bool,
    track: str,
    smooth: bool,
    embed: bool,
    face_type: str,
    size: int,
    landmarks: str = "dlib68",
    detect_every: int = 8,
) -> Any:
    """The library's ``fs_detect.ExtractSettings`` from the flags (a bad value raises :class:`CliError`)."""
    import fs_detect
    from fs_align import LANDMARKERS, FaceType

    try:
        det = fs_detect.DetectorName.parse(detector)
    except ValueError as exc:
        raise CliError(f"--detector: {exc}") from None
    try:
        ft = FaceType.parse(face_type)
    except ValueError:
        raise CliError(f"--face-type: unknown face type {face_type!r}; known: {FACE_TYPES}") from None
    try:
        mode = fs_detect.TrackMode.parse(track)
    except ValueError as exc:
        raise CliError(f"--{exc}") from None
    if landmarks not in LANDMARKERS and not landmarks.endswith(".dat"):
        raise CliError(f"--landmarks: expected one of {', '.join(LANDMARKERS)} or a dlib .dat file, got {landmarks!r}")
    config = fs_detect.DetectorConfig(score_threshold=min_score, min_face_size=min_face, max_input_side=detect_side)
    return fs_detect.ExtractSettings(
        landmarker=landmarks,
        detector=det,
        detector_config=config,
        device=device,
        refine=refine,
        track=mode,
        smooth=smooth,
        embed=embed,
        face_type=ft,
        size=size,
        detect_every=detect_every,
    )


# the options of `fs extract` (module level, so that the command itself reads as what it does)
SrcArg = Annotated[
    Path, typer.Argument(help="A video, an image, a `fs video frames` folder, or a folder of images/videos.")
]
OutOpt = Annotated[
    Path, typer.Option("-o", "--out", help="Output faceset folder (one per person with --track person).")
]
DetectorOpt = Annotated[str, typer.Option(help="Face detector: yunet (CPU default) or mtcnn (torch, GPU).")]
DeviceOpt = Annotated[str | None, typer.Option(help="Where mtcnn runs (cpu, cuda, cuda:1, mps).")]
FaceTypeOpt = Annotated[str, typer.Option(help=f"Aligned crop: {FACE_TYPES}.")]
SizeOpt = Annotated[int, typer.Option(min=16, max=2048, help="Aligned face size in pixels.")]
MinScoreOpt = Annotated[
    float | None, typer.Option(min=0.0, max=1.0, help="Detector score threshold (default: the detector's).")
]
MinFaceOpt = Annotated[int, typer.Option(min=1, help="Smallest face side in frame pixels.")]
DetectSideOpt = Annotated[int, typer.Option(min=64, help="Frames are downscaled to this longer side for detection.")]
LandmarksOpt = Annotated[
    str, typer.Option(help="68-point model: dlib68 (default; non-commercial licence) or cnn68 (MIT, less accurate).")
]
RefineOpt = Annotated[bool, typer.Option(help="Second landmark pass in an aligned crop (fixes detector-box bias).")]
EveryOpt = Annotated[int, typer.Option(min=1, help="Look at every N-th frame only.")]
DetectEveryOpt = Annotated[
    int,
    typer.Option(
        min=1,
        help="Videos: run the detector every N frames (and at scene cuts, or when a face looks wrong) and follow "
        "faces by their landmarks in between; 1 detects on every frame.",
    ),
]
MaxFramesOpt = Annotated[int | None, typer.Option(min=1, help="Stop after this many frames per source.")]
TrackOpt = Annotated[
    str, typer.Option(help="all: every face; largest: the largest face; person: one faceset per person.")
]
SmoothOpt = Annotated[bool, typer.Option(help="Smooth each tracked face's landmarks over time (videos).")]
EmbedOpt = Annotated[bool, typer.Option(help="Store SFace identity embeddings (for `fs faceset sort --by face`).")]
JobsOpt = Annotated[int, typer.Option(min=1, max=64, help="Worker processes for detection and landmarks.")]
ShardOpt = Annotated[
    str | None, typer.Option(help="Process only part K of N of each video, e.g. 2/4 (then `fs faceset merge`).")
]
CodecOpt = Annotated[str, typer.Option(help="Faceset image storage: raw (fastest), png or jpeg.")]
AppendOpt = Annotated[bool, typer.Option(help="Add to the faceset already in OUT.")]
ResumeOpt = Annotated[
    bool, typer.Option(help="Go on with an interrupted run: skip the frames OUT records as processed.")
]
CommitOpt = Annotated[
    int, typer.Option(min=1, help="Frames between two commits to the faceset (a kill -9 loses at most these).")
]
DebugOpt = Annotated[
    Path | None, typer.Option("--debug", help="Write annotated frames (boxes, landmarks, mask, crop) here.")
]
BoxOpt = Annotated[
    str | None, typer.Option(help="Manual re-extract: face box x0,y0,x1,y1 in frame pixels (with --frame).")
]
FrameOpt = Annotated[int | None, typer.Option(min=0, help="Manual re-extract: the frame index of --box.")]


def register(app: typer.Typer) -> None:
    @app.command("extract")
    def extract_cmd(
        ctx: typer.Context,
        src: SrcArg,
        out: OutOpt,
        detector: DetectorOpt = "yunet",
        device: DeviceOpt = None,
        face_type: FaceTypeOpt = "whole_face",
        size: SizeOpt = 256,
        min_score: MinScoreOpt = None,
        min_face: MinFaceOpt = 32,
        detect_side: DetectSideOpt = 640,
        refine: RefineOpt = True,
        landmarks: LandmarksOpt = "dlib68",
        every: EveryOpt = 1,
        detect_every: DetectEveryOpt = 8,
        max_frames: MaxFramesOpt = None,
        track: TrackOpt = "all",
        smooth: SmoothOpt = True,
        embed: EmbedOpt = False,
        jobs: JobsOpt = 1,
        shard: ShardOpt = None,
        codec: CodecOpt = "raw",
        append: AppendOpt = False,
        resume: ResumeOpt = False,
        commit_every: CommitOpt = 256,
        debug: DebugOpt = None,
        box: BoxOpt = None,
        frame: FrameOpt = None,
        config: ConfigOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Detect faces, find 68 landmarks, align and write them to a faceset.

        Faces keep their source, frame and frame-space landmarks; the faceset records each source's frames seen.

        So `fs merge --faceset` finds each frame's faces again, and `--resume` goes on after an interruption.

        Examples:

            fs extract dst.mp4 -o dst_faces

            fs extract dst.mp4 -o dst_faces --detect-every 1   # detector on every frame (no following)

            fs extract src.mp4 -o src_faces --every 5 --track largest --jobs 2

            fs extract party.mp4 -o people --track person --embed

            fs extract long.mp4 -o part2 --shard 2/4        # on machine 2 of 4

            fs extract photos/ -o faces --face-type full --size 512 --debug debug_frames

            fs extract dst.mp4 -o dst_faces --box 120,80,260,240 --frame 57   # add a missed face
        """
        from fs_cli.pipeline import extract_face_at, extract_to_faceset

        ui = Ui(ctx, json_output=json_output)
        if codec not in ("raw", "png", "jpeg"):
            raise CliError(f"--codec: expected raw, png or jpeg, got {codec!r}")
        settings = build_settings(
            detector=detector,
            device=device,
            min_score=min_score,
            min_face=min_face,
            detect_side=detect_side,
            refine=refine,
            track=track,
            smooth=smooth,
            embed=embed,
            face_type=face_type,
            size=size,
            landmarks=landmarks,
            detect_every=detect_every,
        )
        if (box is None) != (frame is None):
            raise CliError("--box and --frame go together (the box of a face in that frame)")
        if box is not None and frame is not None:
            fid = extract_face_at(src, out, frame, parse_box(box), settings, image_codec=codec)
            ui.result({"id": fid, "faceset": str(out)}, f"added face {fid} to {out}")
            return
        summary = extract_to_faceset(
            src,
            out,
            settings,
            every=every,
            max_frames=max_frames,
            jobs=jobs,
            shard=parse_shard(shard),
            image_codec=codec,
            append=append,
            resume=resume,
            debug_dir=debug,
            progress=ui.progress,
            commit_every=commit_every,
        )
        report(ui, summary)


def report(ui: Ui, summary: Any) -> None:
    """The per-source table, the skipped files and the totals of an extraction."""
    rows = [
        [s.source, s.kind, s.frames_total, s.frames_processed, s.frames_with_faces, s.faces_written]
        for s in summary.sources
    ]
    ui.table(f"extracted into {summary.out}", ["source", "kind", "frames", "processed", "with faces", "faces"], rows)
    if summary.skipped:
        ui.table("skipped", ["file", "reason"], summary.skipped)
    fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
    ui.result(
        {
            "out": str(summary.out),
            "faces": summary.faces,
            "frames": summary.frames,
            "seconds": round(summary.seconds, 3),
            "frames_per_second": round(fps, 2),
            "sources": summary.sources,
            "skipped": [{"file": f, "reason": r} for f, r in summary.skipped],
        },
        f"{summary.faces} faces from {summary.frames} frames in {summary.seconds:.1f} s ({fps:.1f} frames/s)",
    )
