"""``fs faceset info|view|thumbs|sync|sort|import-dfl|import-faceswap|export-dfl|merge``."""

from __future__ import annotations

import dataclasses
import enum
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
import numpy.typing as npt
import typer

from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError

app = typer.Typer(help="Inspect, curate, sort, convert and merge facesets.", no_args_is_help=True)

FacesetArg = Annotated[Path, typer.Argument(help="A faceset folder (written by `fs extract`).")]


def open_faceset(path: Path) -> Any:
    """Open a faceset, with a clear error when the folder is not one."""
    from fs_faceset import Faceset

    finish_swap(path)
    if not path.exists():
        raise CliError(f"{path}: no such faceset folder")
    if not (path / "index.json").is_file():
        people = sorted(p.name for p in path.glob("person-*") if (p / "index.json").is_file())
        hint = f" (it holds per-person facesets: {', '.join(people)})" if people else ""
        raise CliError(f"{path}: not a faceset (no index.json){hint}")
    fs = Faceset.open(path)
    return fs


def _old(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def finish_swap(path: Path) -> None:
    """Tidy up after a :func:`write_subset` in place that was killed while swapping folders.

    Killed between its two renames, the faceset is only at ``.<name>.old``: it is put back (unchanged; run the
    command again). Killed after them, the leftover ``.<name>.old`` is removed.
    """
    old = _old(path)
    if not old.is_dir():
        return
    if (path / "index.json").is_file():
        shutil.rmtree(old)
    elif not path.exists() and (old / "index.json").is_file():
        old.rename(path)


def build_then_rename(out: Path, build: Callable[[Path], Any]) -> Any:
    """``build(tmp)`` into a hidden folder next to ``out``, then rename it to ``out``: a killed or failed run
    leaves nothing at ``out`` (and a run again starts clean: an old temp folder is removed first)."""
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        result = build(tmp)
        if out.exists():
            out.rmdir()  # empty (checked by the caller)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


class SortKey(str, enum.Enum):
    BLUR = "blur"
    MOTION_BLUR = "motion-blur"
    BRIGHTNESS = "brightness"
    HUE = "hue"
    BLACK_BORDER = "black-border"
    HIST = "hist"
    HIST_DISSIM = "hist-dissim"
    HIST_BLUR = "hist-blur"
    YAW = "yaw"
    PITCH = "pitch"
    FACE_SIZE = "face-size"
    FACE = "face"
    FINAL = "final"
    POSE_LIKE = "pose-like"


def sort_order(
    fs: Any, key: SortKey, target: int, ui: Ui | None = None, like: Any | None = None
) -> npt.NDArray[np.int64]:
    """Positions of the faces in the order of ``key`` (fs_faceset.sort); ``pose-like`` keeps ``target`` faces
    covering the poses of the faceset ``like`` (of faces within 2 degrees of the nearest, the sharpest)."""
    from fs_faceset import sort

    if key is SortKey.POSE_LIKE:
        if like is None:
            raise CliError("--by pose-like needs --like DST_FACESET (the faces whose poses to cover)")
        return np.asarray(sort.like_poses(fs, sort.poses(like), target, prefer=sort.blur_scores(fs)), np.int64)

    simple = {
        SortKey.BLUR: sort.by_blur,
        SortKey.MOTION_BLUR: sort.by_motion_blur,
        SortKey.BRIGHTNESS: sort.by_brightness,
        SortKey.HUE: sort.by_hue,
        SortKey.BLACK_BORDER: sort.by_black_border,
        SortKey.HIST: sort.by_hist,
        SortKey.HIST_DISSIM: sort.by_hist_dissim,
        SortKey.HIST_BLUR: sort.by_hist_blur,
        SortKey.YAW: sort.by_yaw,
        SortKey.PITCH: sort.by_pitch,
        SortKey.FACE_SIZE: sort.by_face_size,
    }
    if key in simple:
        return np.asarray(simple[key](fs), np.int64)
    if key is SortKey.FACE:
        from fs_cli.pipeline import faceset_embeddings

        return np.asarray(sort.by_embedding(faceset_embeddings(fs, ui.progress if ui else None)), np.int64)
    return np.asarray(sort.final(fs, target), np.int64)


def write_subset(
    fs: Any, order: npt.ArrayLike, out: Path, *, replace: bool, change: Callable[[Any], Any] | None = None
) -> int:
    """Write the faces at ``order`` (in that order, each through ``change``) as a new faceset at ``out`` (or
    replacing ``fs``'s folder, atomically enough: the old folder is renamed away only once the new one is complete)."""
    from fs_faceset import FacesetWriter

    def write(folder: Path) -> int:
        n = 0
        with FacesetWriter(folder, image_codec=fs.image_codec) as w:
            for face in fs[np.asarray(order, np.int64)]:
                w.add(change(face) if change is not None else face)
                n += 1
            for source in fs.sources().values():
                w.add_source(source)
        return n

    if not replace:
        return int(build_then_rename(out, write))
    final = out
    tmp = out.with_name(f".{out.name}.sorting")
    if tmp.exists():
        shutil.rmtree(tmp)
    n = write(tmp)
    old = _old(final)
    if old.exists():
        shutil.rmtree(old)
    final.rename(old)  # killed before the next line: finish_swap() (in open_faceset) puts it back
    tmp.rename(final)
    shutil.rmtree(old)
    return n


@app.command()
def info(
    ctx: typer.Context,
    faceset: FacesetArg,
    validate: Annotated[bool, typer.Option(help="Also check every shard's sha256 and every face.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Faces, size, face type, codec, sources, masks, embeddings, tags.

    Examples:

        fs faceset info src_faces

        fs faceset info src_faces --validate --json
    """
    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    sources = Counter(fs.source_paths)
    tags = Counter(t for ts in fs.tags for t in ts)
    faces = list(fs) if len(fs) <= 5000 else [fs[i] for i in range(0, len(fs), max(1, len(fs) // 5000))]
    data: dict[str, Any] = {
        "path": str(fs.path),
        "faces": len(fs),
        "size": fs.size,
        "codec": fs.image_codec.value,
        "face_types": dict(Counter(fs.face_types)),
        "sources": dict(sources.most_common()),
        "with_mask": sum(f.mask is not None for f in faces),
        "with_polygons": sum(bool(f.xseg_include) for f in faces),
        "with_embedding": sum(f.embedding is not None for f in faces),
        "tags": dict(tags.most_common(20)),
    }
    if validate:
        from fs_faceset import validate as validate_fs

        report = validate_fs(fs.path)
        data["validation"] = {"ok": True, "shards": report.shards if hasattr(report, "shards") else None}
    ui.table(
        str(fs.path),
        ["field", "value"],
        [
            [k, v if not isinstance(v, dict) else ", ".join(f"{a}: {b}" for a, b in list(v.items())[:8])]
            for k, v in data.items()
        ],
    )
    ui.result(data)


@app.command()
def view(
    ctx: typer.Context,
    faceset: FacesetArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Contact sheet PNG to write.")],
    count: Annotated[int, typer.Option(min=1, help="Faces on the sheet (spread over the faceset).")] = 64,
    columns: Annotated[int, typer.Option(min=1, help="Tiles per row.")] = 8,
    tile: Annotated[int, typer.Option(min=16, help="Tile size in pixels.")] = 128,
    landmarks: Annotated[bool, typer.Option(help="Draw the 68 landmarks.")] = False,
    sort_by: Annotated[SortKey | None, typer.Option("--sort", help="Order the faces first.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Write a contact sheet PNG of the faces (captioned with their source frame).

    Examples:

        fs faceset view src_faces -o sheet.png

        fs faceset view src_faces -o blurry.png --sort blur --count 32 --landmarks
    """
    from fs_cli._draw import contact_sheet

    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    if len(fs) == 0:
        raise CliError(f"{faceset}: faceset is empty")
    order = sort_order(fs, sort_by, count, ui) if sort_by is not None else np.arange(len(fs))
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int))]
    images, labels = [], []
    for p in pick:
        face = fs[int(p)]
        img = np.ascontiguousarray(face.image).copy()
        if landmarks:
            for x, y in face.landmarks:
                cv2.circle(img, (round(float(x)), round(float(y))), max(1, face.size // 128), (0, 0, 255), -1)
        images.append(img)
        labels.append(f"{Path(face.source_path).stem[:10]}#{face.frame_index}")
    sheet = contact_sheet(images, labels, columns=columns, tile=tile)
    if out.suffix.lower() != ".png":
        raise CliError(f"-o {out}: the contact sheet is a .png")
    if not cv2.imwrite(str(out), sheet):
        raise CliError(f"-o {out}: could not write the PNG")
    ui.result({"out": str(out), "faces": len(images)}, f"{len(images)} faces -> {out}")


@app.command()
def thumbs(
    ctx: typer.Context,
    faceset: FacesetArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Empty folder for the JPEG thumbnails.")],
    sort_by: Annotated[SortKey | None, typer.Option("--sort", help="Name the files in this order.")] = None,
    size: Annotated[int, typer.Option(min=8, help="Thumbnail size.")] = 128,
    json_output: JsonOpt = False,
) -> None:
    """Export one thumbnail per face: delete the bad ones in a file browser, then `fs faceset sync`.

    Examples:

        fs faceset thumbs src_faces -o thumbs --sort blur
    """
    from fs_faceset import export_thumbnails

    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    order = sort_order(fs, sort_by, len(fs), ui) if sort_by is not None else None
    written = export_thumbnails(fs, out, order=order, size=size)
    ui.result({"out": str(out), "thumbnails": len(written)}, f"{len(written)} thumbnails -> {out}")


@app.command()
def sync(
    ctx: typer.Context,
    faceset: FacesetArg,
    thumbs_dir: Annotated[
        Path, typer.Argument(help="The folder `fs faceset thumbs` wrote.", exists=True, file_okay=False)
    ],
    compact: Annotated[bool, typer.Option(help="Rewrite the shards without the removed faces.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Remove from the faceset the faces whose thumbnails were deleted.

    Examples:

        fs faceset sync src_faces thumbs --compact
    """
    from fs_faceset import sync_deletions

    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    removed = sync_deletions(fs, thumbs_dir, compact=compact)
    ui.result({"removed": removed, "left": len(fs) - len(removed)}, f"removed {len(removed)} faces from {faceset}")


@app.command("sort")
def sort_cmd(
    ctx: typer.Context,
    faceset: FacesetArg,
    by: Annotated[SortKey, typer.Option(help="Sort key (DFL's sort methods; face = identity clusters).")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write the sorted faceset here (default: in place).")
    ] = None,
    target: Annotated[int, typer.Option(min=1, help="--by final / pose-like: how many faces to keep.")] = 2000,
    like: Annotated[
        Path | None, typer.Option(help="--by pose-like: the dst faceset whose head poses the kept faces cover.")
    ] = None,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Reorder the faces (blur, hist, yaw, face identity, ...); `final` keeps the best TARGET over yaw bins,
    `pose-like` the TARGET faces nearest in pitch and yaw to the poses of the faceset --like (src for a dst).

    Examples:

        fs faceset sort src_faces --by blur

        fs faceset sort src_faces --by face -o src_by_person

        fs faceset sort src_faces --by final --target 500 -o src_best

        fs faceset sort src_faces --by pose-like --like dst_faces --target 300 -o src_for_dst
    """
    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    if len(fs) == 0:
        raise CliError(f"{faceset}: faceset is empty")
    order = sort_order(fs, by, target, ui, like=open_faceset(like) if like is not None else None)
    if out is not None and out.exists() and any(out.iterdir()):
        raise CliError(f"-o {out}: folder is not empty")
    n = write_subset(fs, order, out or faceset, replace=out is None)
    ui.result(
        {"out": str(out or faceset), "faces": n, "by": by.value}, f"{n} faces sorted by {by.value} -> {out or faceset}"
    )


@app.command("import-dfl")
def import_dfl_cmd(
    ctx: typer.Context,
    aligned_dir: Annotated[Path, typer.Argument(help="DeepFaceLab aligned folder (JPGs with DFL metadata).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Faceset to write.")],
    append: Annotated[bool, typer.Option(help="Add to an existing faceset.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Import a DeepFaceLab `aligned` folder (metadata read without unpickling code).

    Examples:

        fs faceset import-dfl workspace/data_src/aligned -o src_faces
    """
    from fs_faceset import import_dfl

    ui = Ui(ctx, json_output=json_output)
    report = _import(out, append, lambda o: import_dfl(aligned_dir, o, append=append), aligned_dir)
    _import_result(ui, report, aligned_dir)


@app.command("import-faceswap")
def import_faceswap_cmd(
    ctx: typer.Context,
    alignments: Annotated[Path, typer.Argument(help="faceswap's alignments .fsa file.")],
    faces_dir: Annotated[Path, typer.Argument(help="faceswap's extracted face PNGs.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Faceset to write.")],
    mask_type: Annotated[
        str | None, typer.Option(help="faceswap mask to import (components, bisenet-fp_face, ...).")
    ] = None,
    append: Annotated[bool, typer.Option(help="Add to an existing faceset.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Import faceswap 2.x faces and their alignments file.

    Examples:

        fs faceset import-faceswap video_alignments.fsa faces/ -o dst_faces --mask-type components
    """
    from fs_faceset import import_faceswap

    ui = Ui(ctx, json_output=json_output)
    if not alignments.is_file():
        raise CliError(f"{alignments}: no such alignments file")
    if not faces_dir.is_dir():
        raise CliError(f"{faces_dir}: no such folder")
    report = _import(
        out, append, lambda o: import_faceswap(alignments, faces_dir, o, mask_type=mask_type, append=append), faces_dir
    )
    _import_result(ui, report, faces_dir)


def _no_faces(report: Any, src: Path) -> CliError:
    reasons = "; ".join(f"{p.name}: {r}" for p, r in report.skipped[:3])
    return CliError(f"{src}: no faces imported" + (f" ({reasons})" if reasons else " (no files found)"))


def _import(out: Path, append: bool, run: Callable[[Path], Any], src: Path) -> Any:
    """An import into a new faceset is built under a temporary name (nothing at ``out`` unless it succeeds)."""
    if append:
        return run(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"-o {out}: folder is not empty (--append adds to the faceset in it)")

    def build(tmp: Path) -> Any:
        report = run(tmp)
        if report.count == 0:
            raise _no_faces(report, src)
        return report

    report = build_then_rename(out, build)
    return dataclasses.replace(report, faceset=out)


def _import_result(ui: Ui, report: Any, src: Path) -> None:
    if report.count == 0:
        raise _no_faces(report, src)
    if report.skipped:
        ui.table("skipped", ["file", "reason"], [[str(p), r] for p, r in report.skipped])
    ui.result(
        {
            "out": str(report.faceset),
            "imported": report.count,
            "skipped": [{"file": p, "reason": r} for p, r in report.skipped],
        },
        f"imported {report.count} faces into {report.faceset} ({len(report.skipped)} skipped)",
    )


@app.command("export-dfl")
def export_dfl_cmd(
    ctx: typer.Context,
    faceset: FacesetArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for DeepFaceLab aligned JPGs.")],
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG quality.")] = 95,
    json_output: JsonOpt = False,
) -> None:
    """Write the faces as DeepFaceLab aligned JPGs (DFL's metadata in APP15).

    Examples:

        fs faceset export-dfl src_faces -o workspace/data_src/aligned
    """
    from fs_faceset import export_dfl

    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    out.mkdir(parents=True, exist_ok=True)
    files = export_dfl(fs, out, quality=quality)
    ui.result({"out": str(out), "files": len(files)}, f"{len(files)} DFL JPGs -> {out}")


@app.command("merge")
def merge_cmd(
    ctx: typer.Context,
    facesets: Annotated[list[Path], typer.Argument(help="Two or more facesets (e.g. the --shard outputs).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The merged faceset.")],
    json_output: JsonOpt = False,
) -> None:
    """Merge facesets (and their per-source records) into a new one; duplicate faces are kept once.

    Examples:

        fs faceset merge part1 part2 part3 part4 -o dst_faces
    """
    from fs_faceset import merge

    ui = Ui(ctx, json_output=json_output)
    if len(facesets) < 2:
        raise CliError("give at least two facesets to merge")
    sets = [open_faceset(p) for p in facesets]
    if out.exists() and any(out.iterdir()):
        raise CliError(f"-o {out}: folder is not empty")
    tmp = out.with_name(f".{out.name}.merging")

    def build(final: Path) -> int:
        merged = sets[0]
        for i, nxt in enumerate(sets[1:], start=1):
            target = final if i == len(sets) - 1 else tmp.with_name(f"{tmp.name}{i}")
            if target.exists():
                shutil.rmtree(target)
            previous = merged
            merged = merge(previous, nxt, target)
            if i > 1:
                shutil.rmtree(previous.path, ignore_errors=True)
        return len(merged)

    n = build_then_rename(out, build)
    ui.result({"out": str(out), "faces": n}, f"{n} faces -> {out}")
