"""Everything the trainer checks and builds before the first step (bad input fails here, never mid-run)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from fs_models import (
    AEOutput,
    CGANGenerator,
    FaceSwapModel,
    FsModel,
    ModelError,
    create_model,
    freeze,
    load_weights,
    model_spec,
)
from fs_train.checkpoint import TrainState
from fs_train.config import TrainConfig
from fs_train.data import FaceSource
from fs_train.errors import CheckpointError, ConfigError, DataError

__all__ = ["build_code_discriminator", "build_discriminator", "build_model", "check_resume", "needs", "trainable_names"]


def needs(config: TrainConfig) -> tuple[bool, bool]:
    """(masks, eyes/mouth masks) the losses need."""
    loss = config.effective_loss
    em = loss.eyes_mouth_weight > 0
    masks = loss.masked or loss.mask_weight > 0 or em or loss.bg_style_weight > 0 or loss.gan_power > 0
    return masks, em


def build_model(
    config: TrainConfig, sources: tuple[FaceSource, ...], fixed: Mapping[str, Any] | None = None
) -> FaceSwapModel:
    """Create the model (face type defaulting to the facesets'), check it fits the data and losses, load/freeze parts.

    ``fixed`` are config fields the data decides (a CGAN's identities); they override ``model_config``.

    Raises:
        ConfigError: unknown model or bad model config; a model without masks while a mask loss is on.
        DataError: the model's face type differs from the facesets'.
        CheckpointError: ``init_weights`` does not fit the model.
    """
    overrides: dict[str, Any] = {**config.model_config, **(fixed or {})}
    try:
        spec = model_spec(config.model)
        if "face_type" in spec.config_cls.field_names() and "face_type" not in overrides:
            overrides["face_type"] = sources[0].face_type
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = create_model(config.model, **overrides)
    except ModelError as exc:
        raise ConfigError(f"model {config.model!r}: {exc}") from exc
    if not isinstance(model, FaceSwapModel):
        raise ConfigError(f"model {config.model!r} is a {type(model).__name__}, not a face-swap autoencoder")
    ftype = getattr(model.config, "face_type", None)
    fvalue = getattr(ftype, "value", ftype)
    if fvalue is not None and fvalue != sources[0].face_type:
        raise DataError(
            f"the facesets hold {sources[0].face_type} faces but model {config.model!r} is configured for "
            f"{fvalue} faces (model_config face_type)"
        )
    if isinstance(model, CGANGenerator):
        _check_cgan_losses(config)
    else:
        _check_autoencoder(config, model)
    if config.init_weights is not None:
        try:
            load_weights(model, config.init_weights, prefixes=config.load_parts or None)
        except (ModelError, OSError) as exc:
            raise CheckpointError(f"init_weights {config.init_weights}: {exc}") from exc
    if config.freeze_parts:
        try:
            freeze(model, config.freeze_parts)
        except ModelError as exc:
            raise ConfigError(f"freeze_parts: {exc}") from exc
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"freeze_parts {config.freeze_parts}: nothing left to train")
    return model


def _check_autoencoder(config: TrainConfig, model: FaceSwapModel) -> None:
    r = model.resolution
    with torch.no_grad():
        probe = torch.full((1, 3, r, r), 0.5)
        out = model(probe, probe)
    if not isinstance(out, AEOutput):
        raise ConfigError(f"model {config.model!r}: forward(src, dst) does not return an AEOutput")
    loss = config.effective_loss
    if out.src_src_mask is None and (loss.mask_weight > 0 or loss.face_style_weight > 0):
        raise ConfigError(
            f"model {config.model!r} predicts no masks: set loss.mask_weight=0 and loss.face_style_weight=0 "
            "(or enable the model's mask decoder)"
        )


def _check_cgan_losses(config: TrainConfig) -> None:
    loss = config.effective_loss
    if loss.face_style_weight > 0 or loss.bg_style_weight > 0:
        raise ConfigError(
            f"model {config.model!r}: the style losses compare a swap with dst; the CGAN trains on reconstructions "
            "only (set loss.face_style_weight=0 and loss.bg_style_weight=0)"
        )


def build_discriminator(config: TrainConfig, resolution: int) -> FsModel | None:
    """The U-Net PatchGAN for ``gan_power > 0`` (patch ``resolution // 8`` unless set), else ``None``."""
    loss = config.effective_loss
    if loss.gan_power <= 0:
        return None
    patch = loss.gan_patch_size or max(3, resolution // 8)
    try:
        return create_model(
            "patchgan", resolution=resolution, patch_size=patch, base_ch=loss.gan_dims, seed=config.seed
        )
    except ModelError as exc:
        raise ConfigError(f"GAN discriminator: {exc}") from exc


def build_code_discriminator(config: TrainConfig, model: FaceSwapModel) -> FsModel | None:
    """DFL's true-face code discriminator for ``true_face_power > 0`` (sized from the model's code), else ``None``.

    Raises:
        ConfigError: the model's forward returns no bottleneck codes (e.g. LIAE, whose two inters have none
            that both identities share).
    """
    loss = config.effective_loss
    if loss.true_face_power <= 0:
        return None
    r = model.resolution
    was_training = model.training
    with torch.no_grad():
        probe = torch.full((1, 3, r, r), 0.5, device=next(model.parameters()).device)
        out = model.eval()(probe, probe)
    model.train(was_training)
    code = out.src_code
    if code is None or code.ndim != 4 or code.shape[-1] != code.shape[-2]:
        raise ConfigError(
            f"model {config.model!r} returns no square bottleneck code for true_face_power; "
            "use df, quick96, original, h64, h128 or phaze"
        )
    try:
        return create_model("code_discriminator", in_ch=int(code.shape[1]), code_res=int(code.shape[-1]),
                            base_ch=loss.true_face_dims, seed=config.seed)  # fmt: skip
    except ModelError as exc:
        raise ConfigError(f"true-face code discriminator: {exc}") from exc


def trainable_names(model: torch.nn.Module) -> list[str]:
    """Names of the parameters the optimiser holds, in its order."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


def check_resume(
    state: TrainState, config: TrainConfig, model: FsModel, names: list[str], has_disc: bool, has_code_disc: bool
) -> None:
    """Refuse a checkpoint of another model, config or trainable set (names the file and the difference)."""
    path: Path | str = state.path or "checkpoint"
    meta = state.meta
    mine = model.config.to_dict()
    if meta.get("model") != model.name or meta.get("model_config") != json.loads(json.dumps(mine)):
        raise CheckpointError(
            f"{path}: checkpoint of model {meta.get('model')!r} {meta.get('model_config')} does not fit the "
            f"configured model {model.name!r} {mine}; use another out_dir or resume=False"
        )
    if meta.get("trainable") != names:
        raise CheckpointError(
            f"{path}: the checkpoint trained another set of parameters (freeze_parts changed?); "
            f"{len(meta.get('trainable', []))} vs {len(names)} trainable tensors"
        )
    if bool(meta.get("has_disc")) != has_disc:
        raise CheckpointError(f"{path}: GAN discriminator {'present' if meta.get('has_disc') else 'absent'} in the "
                              f"checkpoint but gan_power says {'on' if has_disc else 'off'}")  # fmt: skip
    if bool(meta.get("has_code_disc")) != has_code_disc:
        was = "present" if meta.get("has_code_disc") else "absent"
        raise CheckpointError(f"{path}: true-face code discriminator {was} in the checkpoint but true_face_power "
                              f"says {'on' if has_code_disc else 'off'}")  # fmt: skip
    missing = [k for k in model.state_dict() if f"model.{k}" not in state.tensors]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks model tensors {missing[:5]}")
