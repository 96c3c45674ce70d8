"""``fs export``: a trained model as a DeepFaceLive ``.dfm`` (DFL's "export as dfm")."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from fs_cli._ui import JsonOpt, Ui
from fs_cli.errors import CliError

MAX_DIFF = 1e-3
"""Largest |onnxruntime - torch| accepted by the export's own check (float32 round-off is ~1e-6)."""


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        ctx: typer.Context,
        model: Annotated[Path, typer.Argument(help="Trained model: the `fs train` folder or a .safetensors file.")],
        out: Annotated[Path, typer.Option("-o", "--out", help="The .dfm file to write (plain ONNX inside).")],
        opset: Annotated[
            int | None, typer.Option(min=11, help="ONNX opset (default 13; DFL writes 12, DeepFaceLive reads both).")
        ] = None,
        check: Annotated[bool, typer.Option(help="Run the export with onnxruntime and compare with torch.")] = True,
        identity: Annotated[
            str | None, typer.Option(help="CGAN: the identity baked in (name, label or faceset; default: src).")
        ] = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Export a trained model as a .dfm for DeepFaceLive, facefusion or `fs merge --model X.dfm`.

        Works for every model that swaps (df, liae, quick96, original, h64, h128, phaze, and a CGAN with one
        identity baked in: src unless --identity says otherwise). The face type is stored
        in the file's metadata, so `fs merge` picks the right crop.

        Examples:

            fs export runs/df128 -o df128.dfm

            fs merge dst.mp4 --model df128.dfm -o swap.mp4
        """
        from fs_cli.pipeline.export import export_dfm

        ui = Ui(ctx, json_output=json_output)
        if out.suffix.lower() not in (".dfm", ".onnx"):
            raise CliError(f"-o {out}: name the file *.dfm (or *.onnx)")
        summary = export_dfm(model, out, opset=opset, check=check, identity=identity)
        if summary.max_abs_diff is not None and not summary.max_abs_diff <= MAX_DIFF:
            raise CliError(
                f"{summary.path}: onnxruntime differs from torch by {summary.max_abs_diff:.3g} (> {MAX_DIFF}); "
                "the export is wrong"
            )
        data = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(summary).items()}
        checked = "not checked (onnxruntime missing)" if summary.max_abs_diff is None else (
            f"onnxruntime vs torch max |diff| {summary.max_abs_diff:.2g}")  # fmt: skip
        ui.result(data, f"{summary.model} ({summary.resolution} px, {summary.face_type}) -> {summary.path}; {checked}")
