"""``fs train``: build fs-train's TrainConfig from flags (and a TOML file) and run ``Trainer(config).fit()``."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from fs_cli._ui import ConfigOpt, Interrupted, JsonOpt, Ui
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
        src: Annotated[Path, typer.Option(help="src faceset (the face to put in; CGAN: identity 0).")],
        dst: Annotated[Path, typer.Option(help="dst faceset (the faces to replace; CGAN: identity 1).")],
        out: Annotated[Path, typer.Option("-o", "--out", help="Training folder: checkpoints, previews, metrics.")],
        model: Annotated[
            str, typer.Option(help="fs-models name: df, liae, quick96, original, h64, h128, cgan.")
        ] = "df",
        faceset: Annotated[
            list[Path] | None, typer.Option(help="CGAN: one more identity (repeatable; labels 2, 3, ...).")
        ] = None,
        identity_embedding: Annotated[
            bool,
            typer.Option(help="CGAN: condition on each faceset's mean SFace embedding instead of learned labels."),
        ] = False,
        gan_power: Annotated[
            float | None,
            typer.Option(min=0.0, help="Weight of the adversarial loss (default: 0.1 for cgan, else the config's)."),
        ] = None,
        preset: Annotated[
            str | None,
            typer.Option(help="Start from a recipe (fs_train.PRESETS: cpu, gpu, v0.1); flags you give override it."),
        ] = None,
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
        amp: Annotated[
            str,
            typer.Option(
                help="Precision: auto (bf16 on CUDA with bf16 and CPUs with AMX, else fp32), none, bf16, fp16."
            ),
        ] = "auto",
        channels_last: Annotated[bool, typer.Option(help="NHWC memory layout (faster convolutions).")] = True,
        compile_model: Annotated[
            bool, typer.Option("--compile/--no-compile", help="torch.compile the training forward (GPUs, long runs).")
        ] = False,
        profile: Annotated[
            int, typer.Option(min=0, help="Only time N training steps and show where the time goes; saves nothing.")
        ] = 0,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
        seed: Annotated[int, typer.Option(min=0, help="Seed of weights, sampling and augmentation.")] = 0,
        workers: Annotated[int, typer.Option(min=0, help="Sample-generator processes.")] = 0,
        save_every: Annotated[
            int, typer.Option(min=0, help="Checkpoint every N steps (a final save always happens).")
        ] = 500,
        preview_every: Annotated[int, typer.Option(min=0, help="Preview grid every N steps.")] = 500,
        resume: Annotated[bool, typer.Option(help="Continue from OUT's checkpoint when there is one.")] = True,
        pretrain: Annotated[bool, typer.Option(help="DFL pretraining mode.")] = False,
        true_face_power: Annotated[
            float | None,
            typer.Option(
                min=0.0,
                max=1.0,
                help="DFL true-face power (0..1, typical 0.01): a code discriminator "
                "pulls the swap toward src (df, quick96, original, h64, h128, phaze).",
            ),
        ] = None,
        ct_mode: Annotated[
            str | None,
            typer.Option(help="Colour-transfer src samples toward random dst faces: none, rct, lct, mkl, idt, sot."),
        ] = None,
        src_pitch: Annotated[
            float | None,
            typer.Option(
                min=0.0,
                max=30.0,
                help="Turn src samples up/down by up to this many degrees (a 2.5-D pose warp; 0 off): src at "
                "poses its faceset lacks.",
            ),
        ] = None,
        src_turn: Annotated[
            str | None,
            typer.Option(
                help="How --src-pitch turns: uniform (random in +-v) or dst (toward a random dst face's pose)."
            ),
        ] = None,
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

            fs train --src A --dst B -o m --preset cpu --minutes 8 --profile 10

            fs train --model cgan --src A --dst B --faceset C -o cgan_dir --resolution 64

            fs train --model df --src A --dst B -o m --true-face-power 0.01 --ct-mode rct

            fs train --src A --dst B -o m --src-pitch 10 --src-turn dst
        """
        ui = Ui(ctx, json_output=json_output)
        rank = int(os.environ.get("RANK", "0"))
        if rank != 0:
            ui.state.quiet = True
        for side, path in (("--src", src), ("--dst", dst), *(("--faceset", p) for p in faceset or [])):
            if not (path / "index.json").is_file():
                raise CliError(f"{side} {path}: not a faceset (no index.json)")
        precision = {"auto": "auto", "none": "fp32", "fp32": "fp32", "bf16": "bf16", "fp16": "fp16"}.get(amp.lower())
        if precision is None:
            raise CliError(f"--amp: expected auto, none, bf16 or fp16, got {amp!r}")
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
            "channels_last": channels_last,
            "compile": compile_model,
            "optim": {"lr": lr, "schedule": lr_schedule, "warmup_steps": warmup},
        }
        sections = ctx.meta.get("fs.config_sections", {})
        values |= _identity_values(model, src, dst, faceset or [], identity_embedding, gan_power, sections)
        if true_face_power is not None:
            values["loss"] = {**values.get("loss", {}), "true_face_power": true_face_power}
        augment = {"ct_mode": ct_mode, "src_pitch": src_pitch, "src_turn": src_turn}
        augment = {k: v.strip().lower() if isinstance(v, str) else v for k, v in augment.items() if v is not None}
        if augment:
            values["augment"] = augment
        if preset is not None:
            values = _over_preset(ctx, preset, values)
        cfg = build_train_config(values, sections)
        if profile:
            _profile(cfg, profile, ui)
            return
        result = run_training(cfg, ui)
        ui.result(result, f"trained to step {result.get('step')} in {result.get('seconds', 0):.0f} s -> {out}")


CGAN_GAN_POWER = 0.1
"""The adversarial weight `fs train --model cgan` uses unless --gan-power or the --config's [loss] sets one."""


def _identity_values(
    model: str, src: Path, dst: Path, more: list[Path], embed: bool, gan_power: float | None, sections: dict[str, Any]
) -> dict[str, Any]:
    """The CGAN's TrainConfig fields: more facesets, identity vectors, and the adversarial weight."""
    from fs_train import is_cgan

    cgan = is_cgan(model)
    if (more or embed) and not cgan:
        raise CliError(f"--faceset / --identity-embedding: only for a CGAN (--model cgan), not --model {model}")
    out: dict[str, Any] = {}
    if gan_power is not None:
        out["loss"] = {"gan_power": gan_power}
    elif cgan and "gan_power" not in sections.get("loss", {}):
        out["loss"] = {"gan_power": CGAN_GAN_POWER}
    if more:
        out["facesets"] = [str(p) for p in more]
    if embed:
        from fs_cli.pipeline import src_identity

        out["identity_embeddings"] = [src_identity(p).tolist() for p in (src, dst, *more)]
    return out


_FLAG_FIELDS = {
    "model": ("model",), "batch": ("batch_size",), "accumulate": ("accum_steps",), "amp": ("precision",),
    "channels_last": ("channels_last",), "compile_model": ("compile",), "lr": ("optim", "lr"),
    "lr_schedule": ("optim", "schedule"), "warmup": ("optim", "warmup_steps"),
}  # fmt: skip
"""Flags whose value a preset also sets: the preset's wins unless the flag was given (command line or --config)."""


_GIVEN = ("COMMANDLINE", "DEFAULT_MAP", "ENVIRONMENT")


def _over_preset(ctx: typer.Context, name: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` on top of preset ``name``: the preset's settings, then every flag the user actually gave."""
    from fs_train import ConfigError as TrainConfigError
    from fs_train import get_preset

    try:
        p = get_preset(name)
    except TrainConfigError as exc:
        raise CliError(f"--preset: {exc}") from None
    # by name: typer's context may come from click or from typer's own vendored copy of it
    given = {n for n in _FLAG_FIELDS if getattr(ctx.get_parameter_source(n), "name", "") in _GIVEN}
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for flag, path in _FLAG_FIELDS.items():
        if flag in given:
            continue
        if len(path) == 1:
            out.pop(path[0], None)
        else:
            out[path[0]].pop(path[1], None)
    return p.merged(**out)


def _profile(cfg: Any, steps: int, ui: Ui) -> None:
    """Time ``steps`` training steps (after 2 warm-up steps) and show each phase's share."""
    from fs_train import Trainer
    from fs_train.speed import profile_steps

    trainer = Trainer(cfg)
    try:
        for note in trainer.notes:
            ui.note(note)
        prof = profile_steps(trainer, steps=steps)
    finally:
        trainer.close()
    total = prof["total"]
    rows = [[k, f"{v * 1000:.1f}", f"{100 * v / total:.0f} %"] for k, v in prof.items() if k != "samples_per_s"]
    ui.table(f"where a step's time goes ({trainer.device}, {trainer.precision.value})", ["phase", "ms/step", "share"],
             rows)  # fmt: skip
    ui.result(prof, f"{prof['samples_per_s']:.1f} samples/s")


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
        for note in trainer.notes:
            ui.note(note)
        result = trainer.fit()
    signum = getattr(trainer, "stop_signal", None)
    if signum is not None:  # saved by fit(); say so in one line and exit 128 + signum
        where = f"checkpoint at step {result.step} saved in {cfg.out_dir} (run the command again to resume)"
        raise Interrupted(signum, where)
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
