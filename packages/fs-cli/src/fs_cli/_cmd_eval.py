"""``fs eval``: quality numbers of a swap."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError

NOTES = {
    "identity_cos_swap_vs_src": "SFace cosine of swapped faces to the src identity (higher: more src)",
    "identity_cos_swap_vs_dst": "SFace cosine of swapped faces to the dst face of the same frame",
    "identity_cos_dst_vs_src": "baseline: dst faces vs src identity",
    "landmark_nme_swap_vs_dst": "68-point distance / inter-ocular (expression kept: lower)",
    "landmark_nme_by_part": "the same per part: jaw, brows, nose, eyes, mouth (src's face shape shows at jaw and eyes)",
    "pose_abs_diff_deg": "head pose difference swap vs dst, degrees",
    "pose_offset_deg": "mean signed pose difference swap - dst (face shape, or src faces short of dst's pose)",
    "pose_tracking_diff_deg": "pose difference with that constant offset removed (does the swap follow dst's motion?)",
    "jitter_swap": "frame-to-frame landmark jitter of the swapped faces",
    "jitter_dst": "the same for the dst faces",
    "ssim_src_src": "model reconstruction SSIM of src faces",
    "ssim_dst_dst": "model reconstruction SSIM of dst faces",
    "src_wins": "fraction of frames where the swap is nearer src than dst",
    "detail_ratio_swap_vs_dst": "fine detail kept (Laplacian variance, inner face, swap / dst)",
}


def _load_autoencoder(path: Path) -> Any:
    """The fs-models autoencoder a file or training folder holds (for reconstruction SSIM)."""
    import fs_models
    from fs_cli.pipeline.swap import resolve_model

    file = resolve_model(path)
    try:
        return fs_models.load_model(file, device="cpu").eval()
    except (fs_models.ModelError, OSError) as exc:
        raise CliError(f"--model {file}: not an fs model checkpoint ({exc})") from exc


def likeness_line(verdict: Any, scores: dict[str, Any] | None = None) -> str:
    """One plain sentence on a :class:`fs_cli.pipeline.LikenessVerdict`, then a line for each of
    :func:`fs_cli.pipeline.likeness_notes` when the scores are given."""
    if verdict.reached:
        return "likeness reached: the swap looks like src, keeps dst's detail, expression and pose"
    from fs_cli.pipeline import likeness_notes

    notes = likeness_notes(scores, verdict) if scores is not None else []
    return "\n  ".join(["likeness NOT reached: " + "; ".join(verdict.failed()), *notes])


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        ctx: typer.Context,
        swap: Annotated[Path, typer.Argument(help="The swapped video (`fs merge`'s output).")],
        dst: Annotated[Path, typer.Option(help="The dst video it was made from.")],
        src: Annotated[Path, typer.Option(help="The src faceset (the identity put in).")],
        model: Annotated[
            Path | None, typer.Option(help="The model, for reconstruction SSIM (with --dst-faceset).")
        ] = None,
        dst_faceset: Annotated[Path | None, typer.Option(help="The dst faceset, for reconstruction SSIM.")] = None,
        max_frames: Annotated[int, typer.Option(min=1, help="Compare at most this many frames (spread evenly).")] = 100,
        config: ConfigOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Identity similarity to src vs dst (SFace), landmark and pose distance to dst, jitter, reconstruction SSIM.

        Examples:

            fs eval swap.mp4 --dst dst.mp4 --src src_faces

            fs eval swap.mp4 --dst dst.mp4 --src src_faces --model model_dir --dst-faceset dst_faces --json
        """
        from fs_cli.pipeline import evaluate, likeness

        ui = Ui(ctx, json_output=json_output)
        for name, p in (("SWAP", swap), ("--dst", dst)):
            if not p.exists():
                raise CliError(f"{name} {p}: no such video")
        net = _load_autoencoder(model) if model is not None else None
        data = evaluate(swap, dst, src, model=net, dst_faceset=dst_faceset, max_frames=max_frames, progress=ui.progress)
        rows = []
        for k, v in data.items():
            shown = ", ".join(f"{a} {b:.2f}" for a, b in v.items()) if isinstance(v, dict) else v
            rows.append([k, shown, NOTES.get(k, "")])
        ui.table(f"eval {swap}", ["metric", "value", "meaning"], rows)
        verdict = likeness(data)
        data["likeness"] = verdict.reached
        ui.result(data, likeness_line(verdict, data))
