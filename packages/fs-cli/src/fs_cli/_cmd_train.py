"""``fs train``: build fs-train's TrainConfig from flags (and a TOML file) and run ``Trainer(config).fit()``."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from fs_cli._ui import ConfigOpt, JsonOpt, Ui
from fs_cli.errors import CliError


def parse_model_options(items: list[str] | None) -> dict[str, Any]:
    """``["ae_dims=64", "options=ud"]`` -> ``{"ae_dims": 64, "options": "ud"}`` (ints/floats/bools parsed)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise CliError(f"--model-option: expected KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        value: Any = raw
        for conv in (int, float):
            try:
                value = conv(raw)
                break
            except ValueError:
                continue
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        out[key.strip()] = value
    return out


def build_train_config(values: dict[str, Any], sections: dict[str, Any]) -> Any:
    """fs_train.TrainConfig from the flag values plus the TOML file's [augment]/[loss]/[optim]/[model_config]."""
    try:
        from fs_train.config import TrainConfig
        from fs_train.errors import ConfigError
    except ImportError as exc:
        raise CliError(f"fs-train is not installed or lacks TrainConfig ({exc})") from exc
    data = dict(values)
    for name in ("augment", "loss", "optim"):
        if name in sections:
            data[name] = {**sections[name], **data.get(name, {})}
    if "model_config" in sections:
        data["model_config"] = {**sections["model_config"], **data.get("model_config", {})}
    unknown = sorted(set(sections) - {"augment", "loss", "optim", "model_config"})
    if unknown:
        raise CliError(f"--config: unknown table(s) {', '.join(unknown)}; known: augment, loss, optim, model_config")
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as exc:
        raise CliError(f"train config: {exc}") from exc


def register(app: typer.Typer) -> None:
    @app.command("train", context_settings={"allow_extra_args": False})
    def train_cmd(
        ctx: typer.Context,
        src: Annotated[Path, typer.Option(help="src faceset (the face to put in).")],
        dst: Annotated[Path, typer.Option(help="dst faceset (the faces to replace).")],
        out: Annotated[Path, typer.Option("-o", "--out", help="Training folder: checkpoints, previews, metrics.")],
        model: Annotated[str, typer.Option(help="fs-models name: df, liae, quick96, original, h64, h128.")] = "df",
        resolution: Annotated[
            int | None, typer.Option(min=16, help="Model resolution (default: the preset's).")
        ] = None,
        model_option: Annotated[
            list[str] | None, typer.Option(help="Model config override KEY=VALUE (repeatable), e.g. ae_dims=128.")
        ] = None,
        steps: Annotated[int, typer.Option(min=1, help="Target optimiser steps.")] = 1000,
        minutes: Annotated[float, typer.Option(min=0.0, help="Stop after this much wall time (0: no limit).")] = 0.0,
        batch: Annotated[int, typer.Option(min=1, help="Faces per side per micro-batch.")] = 8,
        accumulate: Annotated[int, typer.Option(min=1, help="Micro-batches per optimiser step.")] = 1,
        lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate.")] = 5e-5,
        lr_schedule: Annotated[str, typer.Option(help="constant or cosine (after --warmup).")] = "constant",
        warmup: Annotated[int, typer.Option(min=0, help="Linear LR warmup steps.")] = 0,
        amp: Annotated[str, typer.Option(help="Mixed precision: none (fp32), bf16, fp16.")] = "none",
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
        seed: Annotated[int, typer.Option(min=0, help="Seed of weights, sampling and augmentation.")] = 0,
        workers: Annotated[int, typer.Option(min=0, help="Sample-generator processes.")] = 0,
        save_every: Annotated[
            int, typer.Option(min=0, help="Checkpoint every N steps (a final save always happens).")
        ] = 500,
        preview_every: Annotated[int, typer.Option(min=0, help="Preview grid every N steps.")] = 500,
        resume: Annotated[bool, typer.Option(help="Continue from OUT's checkpoint when there is one.")] = True,
        pretrain: Annotated[bool, typer.Option(help="DFL pretraining mode.")] = False,
        config: ConfigOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Train a face-swap autoencoder on two facesets (resumable; previews and checkpoints in OUT).

        Multi-GPU: `torchrun --nproc-per-node 4 -m fs_cli.app train ...` (fs-train reads torchrun's environment).
        A --config TOML may set any flag (keys = flag names) plus tables [augment], [loss], [optim], [model_config]
        of fs-train's TrainConfig.

        Examples:

            fs train --model df --src src_faces --dst dst_faces -o model_dir

            fs train --src A --dst B -o m --steps 100000 --batch 16 --accumulate 2 --lr-schedule cosine --amp bf16

            fs train --src A --dst B -o m --config train.toml --minutes 30
        """
        ui = Ui(ctx, json_output=json_output)
        rank = int(os.environ.get("RANK", "0"))
        if rank != 0:
            ui.state.quiet = True
        for side, path in (("--src", src), ("--dst", dst)):
            if not (path / "index.json").is_file():
                raise CliError(f"{side} {path}: not a faceset (no index.json)")
        precision = {"none": "fp32", "fp32": "fp32", "bf16": "bf16", "fp16": "fp16"}.get(amp.lower())
        if precision is None:
            raise CliError(f"--amp: expected none, bf16 or fp16, got {amp!r}")
        import fs_models

        try:
            fs_models.model_spec(model)
        except fs_models.ModelError as exc:
            raise CliError(f"--model: {exc}") from None
        model_config = parse_model_options(model_option)
        if resolution is not None:
            model_config["resolution"] = resolution
        values: dict[str, Any] = {
            "src": str(src),
            "dst": str(dst),
            "out_dir": str(out),
            "model": model,
            "model_config": model_config,
            "batch_size": batch,
            "accum_steps": accumulate,
            "steps": steps,
            "time_budget_s": minutes * 60.0,
            "seed": seed,
            "precision": precision,
            "device": device,
            "workers": workers,
            "save_every": save_every,
            "preview_every": preview_every,
            "resume": resume,
            "pretrain": pretrain,
            "optim": {"lr": lr, "schedule": lr_schedule, "warmup_steps": warmup},
        }
        cfg = build_train_config(values, ctx.meta.get("fs.config_sections", {}))
        result = run_training(cfg, ui)
        ui.result(result, f"trained to step {result.get('step')} in {result.get('seconds', 0):.0f} s -> {out}")


def run_training(cfg: Any, ui: Ui) -> dict[str, Any]:
    """``fs_train.Trainer(cfg, callbacks=[progress]).fit()`` with a progress bar (steps, or time with a budget)."""
    import time

    try:
        from fs_train import Trainer
    except ImportError as exc:
        raise CliError(f"training is not available: fs-train does not export Trainer ({exc})") from exc
    t0 = time.perf_counter()
    total = cfg.steps if not cfg.time_budget_s else None
    with ui.progress("train", total) as advance:
        seen = {"step": 0}

        def on_step(info: Any) -> None:
            step = int(getattr(info, "step", seen["step"] + 1))
            advance(max(0, step - seen["step"]))
            seen["step"] = step

        trainer = Trainer(cfg, callbacks=[on_step])
        result = trainer.fit()
    return _result_dict(result, time.perf_counter() - t0, cfg)


def _result_dict(result: Any, seconds: float, cfg: Any) -> dict[str, Any]:
    import dataclasses

    data: dict[str, Any] = {"out": str(cfg.out_dir), "seconds": round(seconds, 2)}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        for f in dataclasses.fields(result):
            v = getattr(result, f.name)
            if isinstance(v, enum.Enum):
                data[f.name] = v.value
            elif isinstance(v, (int, float, str, Path)) or v is None:
                data[f.name] = v
    elif isinstance(result, dict):
        data.update({k: v for k, v in result.items() if isinstance(v, (int, float, str))})
    return data
