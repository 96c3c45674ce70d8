"""``fs mask hull|train|apply|import-labels|export-labels``: face masks for training and merging."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
import typer

from fs_cli._cmd_faceset import open_faceset, write_subset
from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError

app = typer.Typer(
    help="Face masks: landmark hulls, XSeg training and prediction, polygon labels.", no_args_is_help=True
)

FacesetArg = Annotated[Path, typer.Argument(help="A faceset folder.")]
OutOpt = Annotated[
    Path | None, typer.Option("-o", "--out", help="Write a new faceset here (default: update in place).")
]


def _check_out(out: Path | None) -> None:
    if out is not None and out.exists() and any(out.iterdir()):
        raise CliError(f"-o {out}: folder is not empty")


@app.command()
def hull(
    ctx: typer.Context,
    faceset: FacesetArg,
    kind: Annotated[str, typer.Option(help="Landmark mask: hull, components, extended (raised brows).")] = "extended",
    out: OutOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Store a landmark mask in every face (the default mask for training).

    Examples:

        fs mask hull dst_faces

        fs mask hull dst_faces --kind components -o dst_masked
    """
    from fs_mask import MaskKind, landmark_mask

    ui = Ui(ctx, json_output=json_output)
    try:
        mk = MaskKind.parse(kind)
    except ValueError as exc:
        raise CliError(f"--kind: {exc}") from None
    fs = open_faceset(faceset)
    _check_out(out)

    def mask_of(landmarks: Any) -> Any:
        return np.round(np.clip(landmark_mask(landmarks, fs.size, mk), 0, 1) * 255).astype(np.uint8)

    n = len(fs)
    if out is None:  # in place: atomic updates of the mask column, nothing else in the folder is touched
        for start in range(0, n, 2048):
            rows = np.arange(start, min(n, start + 2048))
            fs = fs.set_masks(rows, [mask_of(lm) for lm in fs.landmarks(rows)])
    else:
        write_subset(fs, np.arange(n), out, replace=False, change=lambda f: replace(f, mask=mask_of(f.landmarks)))
    ui.result(
        {"out": str(out or faceset), "faces": n, "kind": mk.value}, f"{mk.value} masks on {n} faces -> {out or faceset}"
    )


@app.command()
def train(
    ctx: typer.Context,
    facesets: Annotated[list[Path], typer.Argument(help="Facesets with labelled faces (polygons or stored masks).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for xseg.safetensors and previews.")],
    steps: Annotated[int, typer.Option(min=1, help="Optimiser steps (a resumed run continues up to this).")] = 1000,
    batch: Annotated[int, typer.Option(min=1, help="Faces per step.")] = 8,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam learning rate.")] = 1e-4,
    resolution: Annotated[int, typer.Option(min=32, help="Net input size (multiple of 64).")] = 256,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: CUDA if available).")] = None,
    preview_every: Annotated[int, typer.Option(min=0, help="Preview PNG every N steps (0: at the end).")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/xseg.safetensors.")] = True,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Train the XSeg segmenter on labelled faces (unlabelled faces are bootstrapped from landmark masks).

    Examples:

        fs mask train dst_faces src_faces -o xseg --steps 5000
    """
    from fs_mask import XSegConfig, XSegTrainConfig, train_xseg

    ui = Ui(ctx, json_output=json_output)
    sets = [open_faceset(p) for p in facesets]
    faces = [f for fs in sets for f in fs]
    if not faces:
        raise CliError("the facesets hold no faces")
    cfg = XSegTrainConfig(
        net=XSegConfig(resolution=resolution),
        steps=steps,
        batch_size=batch,
        learning_rate=lr,
        checkpoint_dir=out,
        preview_every=preview_every,
        resume=resume,
        device=device,
    )
    with ui.progress("xseg", None):
        result = train_xseg(faces, cfg)
    data = {
        "out": str(out),
        "step": result.step,
        "final_loss": result.losses[-1] if result.losses else None,
        "labelled": result.labelled,
        "bootstrapped": result.bootstrapped,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "previews": [str(p) for p in result.previews],
    }
    ui.result(data, f"xseg trained to step {result.step} (loss {data['final_loss']}) -> {result.checkpoint}")


@app.command()
def apply(
    ctx: typer.Context,
    faceset: FacesetArg,
    model: Annotated[Path, typer.Option(help="XSeg checkpoint (OUT/xseg.safetensors of `fs mask train`).")],
    out: OutOpt = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ...")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Predict an XSeg mask for every face and store it.

    Examples:

        fs mask apply dst_faces --model xseg/xseg.safetensors
    """
    from fs_mask import apply_xseg

    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    if not model.is_file():
        raise CliError(f"--model {model}: no such XSeg checkpoint")
    result = apply_xseg(model, fs, out=out, device=device)
    ui.result({"out": str(result.path), "faces": len(result)}, f"masked {len(result)} faces -> {result.path}")


@app.command("export-labels")
def export_labels(
    ctx: typer.Context,
    faceset: FacesetArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for <id>.png faces and LabelMe <id>.json labels.")],
    json_output: JsonOpt = False,
) -> None:
    """Write every face as a PNG, plus a LabelMe JSON for faces that have polygons (edit them in LabelMe).

    Examples:

        fs mask export-labels dst_faces -o labels
    """
    from fs_mask import labels_from_face, write_labelme

    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    out.mkdir(parents=True, exist_ok=True)
    labelled = 0
    for face in fs:
        cv2.imwrite(str(out / f"{face.id}.png"), np.asarray(face.image))
        labels = labels_from_face(face)
        if labels:
            write_labelme(out / f"{face.id}.json", labels, face.size, f"{face.id}.png")
            labelled += 1
    ui.result(
        {"out": str(out), "faces": len(fs), "labelled": labelled}, f"{len(fs)} faces ({labelled} labelled) -> {out}"
    )


@app.command("import-labels")
def import_labels(
    ctx: typer.Context,
    faceset: FacesetArg,
    labels_dir: Annotated[
        Path, typer.Argument(help="Folder of LabelMe <id>.json files.", exists=True, file_okay=False)
    ],
    out: OutOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Read LabelMe polygons (include/exclude) back into the faces they name.

    Examples:

        fs mask import-labels dst_faces labels
    """
    from fs_mask import face_with_labels, read_labelme

    ui = Ui(ctx, json_output=json_output)
    fs = open_faceset(faceset)
    _check_out(out)
    ids = set(fs.ids)
    found = {p.stem: p for p in labels_dir.glob("*.json") if p.stem in ids}
    if not found:
        raise CliError(f"{labels_dir}: no <face id>.json LabelMe files of faces in {faceset}")
    labels = {fid: read_labelme(p, size=fs.size) for fid, p in found.items()}

    def change(face: Any) -> Any:
        lab = labels.get(str(face.id))
        if lab is None:
            return face
        return face_with_labels(face, lab)

    write_subset(fs, np.arange(len(fs)), out or faceset, replace=out is None, change=change)
    ui.result(
        {"out": str(out or faceset), "labelled": len(labels)}, f"labels of {len(labels)} faces -> {out or faceset}"
    )
