"""Training configuration: frozen, validated dataclasses with a JSON round trip.

:class:`TrainConfig` holds everything ``Trainer(config).fit()`` needs: the facesets, the model, the data
augmentation (:class:`AugmentConfig`), the loss weights (:class:`LossConfig`), the optimiser and LR schedule
(:class:`OptimConfig`), precision, EMA, checkpoint / preview / log cadence and the stop conditions. A bad
value raises :class:`~fs_train.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fs_align import MaskSource
from fs_train._config_base import (
    CT_MODES,
    TRAIN_MASK_SOURCES,
    ClipMode,
    OptimizerName,
    Precision,
    Schedule,
    _Base,
    _check,
    _num,
    parse_mask_chain,
)
from fs_train.errors import ConfigError

__all__ = [
    "CT_MODES",
    "TRAIN_MASK_SOURCES",
    "AugmentConfig",
    "ClipMode",
    "LossConfig",
    "OptimConfig",
    "OptimizerName",
    "Precision",
    "Schedule",
    "TrainConfig",
    "parse_mask_chain",
]


@dataclasses.dataclass(frozen=True)
class AugmentConfig(_Base):
    """DFL-style sample augmentation (defaults are DFL SAEHD's).

    Attributes:
        random_warp: grid-noise warp of the network *input* only (off in pretraining).
        random_warp_until: turn the random warp off from this micro-batch on (= optimiser steps without
            accumulation; 0: never). Faceswap++'s schedule: warp until the face has formed, then train without
            it so that the detail sharpens.
        rotation: max absolute rotation in degrees of the shared random affine (input and target).
        scale: relative scale range ``[-scale, +scale]`` of the shared affine (DFL SAEHD: 0.15).
        shift: max shift as a fraction of the side (DFL: 0.05).
        flip_src / flip_dst: random horizontal flip (probability 0.4, as DFL) per side.
        src_scale: src face scale modifier in percent (-50..50): src samples are zoomed by
            ``1 + src_scale / 100`` about the centre (input, target and masks alike), to match a src faceset
            whose faces are cut tighter or looser than dst's.
        src_pitch / src_yaw: the largest out-of-plane turn, in degrees, of a 2.5-D pose warp of src samples
            (uniform in ``[-v, v]``; input, target and masks alike; 0 off; fs-train's ``_pose_warp``): src faces
            at the poses the src faceset lacks, for a dst that looks further up, down or aside than any src face
            (a model otherwise draws src at its nearest pose and the swap's head pose reads off). Keep it small
            (up to about 10): the warp moves what the landmarks see and invents nothing a turn would reveal.
        src_turn: how the turn is drawn: ``"uniform"`` in ``[-v, v]``, or ``"dst"``: toward the pose of a dst
            face drawn at random (its pitch and yaw minus the src face's own, clipped to ``src_pitch`` /
            ``src_yaw``), so the src samples' poses follow the dst's where the src faceset falls short of them.
        color_jitter: brightness/contrast jitter amplitude in [0, 0.5] (0 off), input and target alike.
        hsv_power: random hue/saturation/value shift of the src *input* (DFL's random_hsv_power, 0..0.3).
        uniform_yaw: sample faces uniformly over ``yaw_bins`` yaw bins (helps rare profile faces).
        yaw_bins: number of yaw bins for ``uniform_yaw``.
        interpolation: ``"cubic"`` (DFL's; sharper) or ``"linear"`` (about 3x cheaper per resampling).
        ct_mode: DFL's colour transfer of each src sample toward a random dst face before augmentation
            (``none``, ``rct``, ``lct``, ``mkl``, ``idt``, ``sot``; fs-merge's :func:`fs_merge.color_transfer`),
            so the model sees src's identity in dst's lighting and colours.
    """

    random_warp: bool = True
    random_warp_until: int = 0
    rotation: float = 10.0
    scale: float = 0.15
    shift: float = 0.05
    flip_src: bool = True
    flip_dst: bool = True
    src_scale: float = 0.0
    src_pitch: float = 0.0
    src_yaw: float = 0.0
    src_turn: str = "uniform"
    color_jitter: float = 0.0
    hsv_power: float = 0.0
    uniform_yaw: bool = False
    yaw_bins: int = 32
    interpolation: str = "cubic"
    ct_mode: str = "none"

    def __post_init__(self) -> None:
        limits = {
            "rotation": 180.0,
            "scale": 0.9,
            "shift": 0.5,
            "color_jitter": 0.5,
            "src_pitch": 30.0,
            "src_yaw": 30.0,
        }
        for name, hi in limits.items():
            v = getattr(self, name)
            _check(_num(v) and 0.0 <= v <= hi, name, f"a number in [0, {hi}]", v)
        _check(
            _num(self.src_scale) and -50 <= self.src_scale <= 50, "src_scale", "a number in [-50, 50]", self.src_scale
        )
        _check(_num(self.hsv_power) and 0 <= self.hsv_power <= 0.3, "hsv_power", "a number in [0, 0.3]", self.hsv_power)
        _check(
            isinstance(self.yaw_bins, int) and 1 <= self.yaw_bins <= 512, "yaw_bins", "an int in 1..512", self.yaw_bins
        )
        _check(self.interpolation in ("cubic", "linear"), "interpolation", "'cubic' or 'linear'", self.interpolation)
        _check(self.src_turn in ("uniform", "dst"), "src_turn", "'uniform' or 'dst'", self.src_turn)
        _check(self.ct_mode in CT_MODES, "ct_mode", f"one of {', '.join(CT_MODES)}", self.ct_mode)
        _check(
            isinstance(self.random_warp_until, int) and self.random_warp_until >= 0,
            "random_warp_until", "an int >= 0", self.random_warp_until,
        )  # fmt: skip
        for name in ("random_warp", "flip_src", "flip_dst", "uniform_yaw"):
            _check(isinstance(getattr(self, name), bool), name, "a bool", getattr(self, name))


@dataclasses.dataclass(frozen=True)
class LossConfig(_Base):
    """Loss terms and weights (DFL SAEHD's at the defaults; see :mod:`fs_train.losses`).

    Attributes:
        dssim_weight: weight of the DSSIM term (DFL: 10). Below ``two_window_from`` px one window of
            ``resolution / 11.6``; at or above it half the weight on that window and half on ``resolution / 23.2``.
        mse_weight: weight of the pixel MSE (DFL: 10).
        two_window_from: resolution from which the two-window DSSIM is used (DFL: 256).
        masked: multiply prediction and target by the (blurred) face mask before the image terms.
        mask_source: where face masks come from: a chain of ``fs_align.MaskSource`` values, the first one a face
            has wins (default stored mask, else the landmark hull); see :func:`parse_mask_chain`.
        mask_weight: weight of the mask loss between the predicted and the target mask (DFL: 10; 0 off).
        mask_loss: ``"mse"`` (DFL 2.0: SAEHD, Quick96) or ``"l1"`` (DFL 1.0's H64 / H128 ``mae``).
        eyes_mouth_weight: L1 weight inside the eyes/mouth region mask (DFL's priority: 300; 0 off).
        gan_power: weight of the generator's GAN loss (0 off; DFL typical 0.1). Adds a U-Net PatchGAN
            discriminator from fs-models trained alongside.
        gan_patch_size: discriminator patch size (0: ``resolution // 8``, DFL's default).
        gan_dims: discriminator base channels (DFL: 16).
        face_style_weight: DFL face style power (0..100; mean/std match of the swap to dst inside the mask).
        bg_style_weight: DFL background style power (0..100; swap vs dst outside the mask).
        true_face_power: DFL's true-face power (0..1, typical 0.01; 0 off): a code discriminator (fs-models'
            ``code_discriminator``) learns to tell the src bottleneck code from the dst one and the model is
            pushed to fool it, which pulls the swap toward src's likeness. Needs a model whose forward returns
            the codes (df, quick96, original, h64, h128, phaze).
        true_face_dims: base channels of the code discriminator (DFL: 256).
    """

    dssim_weight: float = 10.0
    mse_weight: float = 10.0
    two_window_from: int = 256
    masked: bool = True
    mask_source: tuple[MaskSource, ...] = (MaskSource.STORED, MaskSource.HULL)
    mask_weight: float = 10.0
    mask_loss: str = "mse"
    eyes_mouth_weight: float = 0.0
    gan_power: float = 0.0
    gan_patch_size: int = 0
    gan_dims: int = 16
    face_style_weight: float = 0.0
    bg_style_weight: float = 0.0
    true_face_power: float = 0.0
    true_face_dims: int = 256

    def __post_init__(self) -> None:
        self._enums()
        object.__setattr__(self, "mask_source", parse_mask_chain(self.mask_source))
        for name in ("dssim_weight", "mse_weight", "mask_weight", "eyes_mouth_weight", "gan_power"):
            v = getattr(self, name)
            _check(_num(v) and v >= 0, name, "a finite number >= 0", v)
        for name in ("face_style_weight", "bg_style_weight"):
            v = getattr(self, name)
            _check(_num(v) and 0 <= v <= 100, name, "a number in [0, 100]", v)
        _check(isinstance(self.masked, bool), "masked", "a bool", self.masked)
        _check(self.mask_loss in ("mse", "l1"), "mask_loss", "'mse' or 'l1'", self.mask_loss)
        for name, lo in (("two_window_from", 1), ("gan_patch_size", 0)):
            v = getattr(self, name)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= lo, name, f"int >= {lo}", v)
        _check(isinstance(self.gan_dims, int) and self.gan_dims >= 1, "gan_dims", "int >= 1", self.gan_dims)
        tf, tfd = self.true_face_power, self.true_face_dims
        _check(_num(tf) and 0 <= tf <= 1, "true_face_power", "a number in [0, 1]", tf)
        _check(isinstance(tfd, int) and not isinstance(tfd, bool) and tfd >= 1, "true_face_dims", "int >= 1", tfd)
        if self.dssim_weight == 0 and self.mse_weight == 0:
            raise ConfigError("dssim_weight and mse_weight are both 0: nothing would train the reconstructions")

    @property
    def needs_stored_masks(self) -> bool:
        """Whether every face must carry a stored mask."""
        return MaskSource.HULL not in self.mask_source and (self.masked or self.mask_weight > 0)


@dataclasses.dataclass(frozen=True)
class OptimConfig(_Base):
    """Optimiser, LR schedule, clipping and LR dropout.

    Attributes:
        name: ``adamw``, ``nadam`` (torch's) or ``adabelief`` (fs-train's).
        lr: peak learning rate (DFL: 5e-5).
        betas: Adam betas (DFL: 0.9, 0.999).
        eps: denominator epsilon.
        weight_decay: decoupled weight decay (0 off).
        lr_dropout: probability that a weight's update is *kept* each step (DFL's LR dropout: 0.3; 1.0 off).
        warmup_steps: linear warmup from 0 to ``lr`` over these steps.
        schedule: ``constant`` or ``cosine`` after the warmup.
        min_lr_ratio: cosine floor as a fraction of ``lr``.
        restart_period: cosine with warm restarts: cycle length in steps after the warmup (0: one cycle over
            the whole run).
        restart_mult: each cycle is this many times longer than the previous one.
        clip: ``none``, ``norm`` (global norm to ``clip_norm``) or ``auto`` (AutoClip).
        clip_norm: max global gradient norm for ``norm``.
        autoclip_percentile: percentile of the gradient-norm history AutoClip clips to.
    """

    name: OptimizerName = OptimizerName.ADAMW
    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-7
    weight_decay: float = 0.0
    lr_dropout: float = 1.0
    warmup_steps: int = 0
    schedule: Schedule = Schedule.CONSTANT
    min_lr_ratio: float = 0.0
    restart_period: int = 0
    restart_mult: float = 1.0
    clip: ClipMode = ClipMode.NONE
    clip_norm: float = 1.0
    autoclip_percentile: float = 10.0

    def __post_init__(self) -> None:
        self._enums()
        _check(_num(self.lr) and self.lr > 0, "lr", "a number > 0", self.lr)
        b = tuple(self.betas)
        _check(len(b) == 2 and all(_num(x) and 0 <= x < 1 for x in b), "betas", "two numbers in [0, 1)", self.betas)
        object.__setattr__(self, "betas", (float(b[0]), float(b[1])))
        _check(_num(self.eps) and self.eps > 0, "eps", "a number > 0", self.eps)
        _check(_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a number >= 0", self.weight_decay)
        _check(_num(self.lr_dropout) and 0 < self.lr_dropout <= 1, "lr_dropout", "a number in (0, 1]", self.lr_dropout)
        _check(
            isinstance(self.warmup_steps, int) and self.warmup_steps >= 0, "warmup_steps", "int >= 0", self.warmup_steps
        )
        _check(_num(self.min_lr_ratio) and 0 <= self.min_lr_ratio <= 1, "min_lr_ratio", "in [0, 1]", self.min_lr_ratio)
        rp = self.restart_period
        _check(isinstance(rp, int) and not isinstance(rp, bool) and rp >= 0, "restart_period", "int >= 0", rp)
        _check(_num(self.restart_mult) and self.restart_mult >= 1, "restart_mult", "a number >= 1", self.restart_mult)
        _check(_num(self.clip_norm) and self.clip_norm > 0, "clip_norm", "a number > 0", self.clip_norm)
        p = self.autoclip_percentile
        _check(_num(p) and 0 < p <= 100, "autoclip_percentile", "a number in (0, 100]", p)


_MODEL_LOSS: Any = None
"""``TrainConfig.loss``'s default: the model's own default loss (:func:`fs_train.model_loss`)."""


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Base):
    """Everything one training run needs.

    Attributes:
        src / dst: faceset folders (fs-faceset); same face size and face type.
        out_dir: where checkpoints, previews, metrics and the loss plot go.
        model: fs-models registry name (``"df"``, ``"liae"``, ...).
        model_config: overrides of the model's preset config (``resolution``, ``ae_dims``, ...); the face type
            defaults to the facesets'.
        batch_size: faces per side per micro-batch (per rank under DDP).
        accum_steps: micro-batches per optimiser step (gradient accumulation).
        steps: target number of optimiser steps (the run stops there).
        time_budget_s: stop after this many seconds of wall time (0: no limit).
        seed: seeds the weights, sampling, augmentation and LR dropout.
        precision: ``auto`` (bf16 where the hardware has it, else fp32; see :mod:`fs_train.speed`), ``fp32``,
            ``bf16`` or ``fp16``.
        channels_last: keep weights and activations in NHWC (faster convolutions with bf16 on CPU and GPU);
            checkpoints are still written contiguous.
        compile: ``torch.compile`` the model's training forward (pays off on GPUs for long runs; on CPU the
            compile time rarely comes back in a short run, see fs-train's README).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        ema_decay: EMA of the weights (0 off; e.g. 0.999); previews and the exported model use the EMA.
        max_bad_steps: stop with an error after this many steps with a NaN/inf loss or gradient (each is skipped).
        pretrain: DFL pretraining mode: random warp off, flips on, GAN/styles/LR dropout off, uniform yaw on.
        init_weights: an fs-models checkpoint to start from (all weights, or ``load_parts``).
        load_parts: submodules to take from ``init_weights`` (empty: all).
        freeze_parts: submodules whose weights are not trained (e.g. ``("encoder",)``).
        loss: the loss terms; default (``None``): the model's own default loss (:func:`fs_train.model_loss`:
            plain MSE for ``original``, DSSIM + L1 mask loss for ``h64`` / ``h128``, DFL SAEHD's for the
            others); a mapping overrides fields of that default; a :class:`LossConfig` is used as it is.
        workers: sample-generator processes (0: in the training process).
        prefetch: batches queued ahead per worker.
        save_every / preview_every / log_every: cadence in steps (0 off; a final save always happens).
        keep_backups: rotating backups of the training checkpoint.
        preview_count: faces per preview grid.
        resume: continue from ``out_dir``'s checkpoint when there is one.
        tensorboard: also write TensorBoard scalars when ``torch.utils.tensorboard`` is importable.
        facesets: CGAN only: more identities after ``src`` (label 0) and ``dst`` (label 1), labels 2, 3, ...
        identity_embeddings: CGAN only: one identity vector per faceset (src, dst, then ``facesets``), e.g. the
            mean SFace embedding of each; the generator is then conditioned on these instead of learned labels.
    """

    src: Path = Path()
    dst: Path = Path()
    out_dir: Path = Path("train-out")
    model: str = "df"
    model_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    batch_size: int = 8
    accum_steps: int = 1
    steps: int = 1000
    time_budget_s: float = 0.0
    seed: int = 0
    precision: Precision = Precision.AUTO
    channels_last: bool = True
    compile: bool = False
    device: str = "auto"
    ema_decay: float = 0.0
    max_bad_steps: int = 10
    pretrain: bool = False
    init_weights: Path | None = None
    load_parts: tuple[str, ...] = ()
    freeze_parts: tuple[str, ...] = ()
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    loss: LossConfig = _MODEL_LOSS
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    workers: int = 0
    prefetch: int = 2
    save_every: int = 500
    preview_every: int = 500
    log_every: int = 10
    keep_backups: int = 2
    preview_count: int = 4
    resume: bool = True
    tensorboard: bool = False
    facesets: tuple[Path, ...] = ()
    identity_embeddings: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self) -> None:
        self._enums()
        for name in ("src", "dst", "out_dir"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        self._identities()
        if self.init_weights is not None:
            object.__setattr__(self, "init_weights", Path(self.init_weights))
        _check(isinstance(self.model, str) and bool(self.model), "model", "a registry name", self.model)
        _check(
            isinstance(self.model_config, Mapping), "model_config", "a mapping of config overrides", self.model_config
        )
        object.__setattr__(self, "model_config", types.MappingProxyType(dict(self.model_config)))
        ints = {"batch_size": 1, "accum_steps": 1, "steps": 1, "max_bad_steps": 1, "workers": 0, "prefetch": 1}
        ints |= {"save_every": 0, "preview_every": 0, "log_every": 0, "keep_backups": 0, "preview_count": 1}
        for name, lo in ints.items():
            v = getattr(self, name)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= lo, name, f"an int >= {lo}", v)
        _check(isinstance(self.seed, int) and 0 <= self.seed < 2**63, "seed", "an int in [0, 2^63)", self.seed)
        _check(
            _num(self.time_budget_s) and self.time_budget_s >= 0, "time_budget_s", "a number >= 0", self.time_budget_s
        )
        _check(_num(self.ema_decay) and 0 <= self.ema_decay < 1, "ema_decay", "a number in [0, 1)", self.ema_decay)
        for name in ("channels_last", "compile"):
            _check(isinstance(getattr(self, name), bool), name, "a bool", getattr(self, name))
        for name in ("load_parts", "freeze_parts"):
            v = tuple(getattr(self, name))
            _check(all(isinstance(x, str) and x for x in v), name, "a tuple of submodule names", v)
            object.__setattr__(self, name, v)
        if self.loss is None or isinstance(self.loss, Mapping):
            from fs_train.presets import model_loss  # the per-model defaults live with the other recipes

            object.__setattr__(self, "loss", model_loss(self.model, **(self.loss or {})))
        for name, cls in (("augment", AugmentConfig), ("loss", LossConfig), ("optim", OptimConfig)):
            v = getattr(self, name)
            if isinstance(v, Mapping):
                object.__setattr__(self, name, cls.from_dict(v))
            _check(isinstance(getattr(self, name), cls), name, f"a {cls.__name__}", v)
        if self.load_parts and self.init_weights is None:
            raise ConfigError("load_parts: given without init_weights (which checkpoint should they come from?)")
        dev = self.device
        _check(dev in ("auto", "cpu", "cuda") or dev.startswith("cuda:"), "device", "auto, cpu, cuda or cuda:N", dev)

    def _identities(self) -> None:
        _check(not isinstance(self.facesets, (str, Path)), "facesets", "a sequence of faceset paths", self.facesets)
        object.__setattr__(self, "facesets", tuple(Path(p) for p in self.facesets))
        vecs = self.identity_embeddings
        try:
            rows = tuple(tuple(v) for v in vecs) if not isinstance(vecs, (str, Mapping)) else None
        except TypeError:
            rows = None
        _check(rows is not None, "identity_embeddings", "a sequence of vectors", vecs)
        assert rows is not None
        want = 2 + len(self.facesets)
        if rows:
            ok = len(rows) == want and len({len(r) for r in rows}) == 1 and len(rows[0]) > 0
            _check(ok and all(_num(x) for r in rows for x in r), "identity_embeddings",
                   f"{want} finite vectors of one length (src, dst, then each of facesets)", vecs)  # fmt: skip
        object.__setattr__(self, "identity_embeddings", tuple(tuple(float(x) for x in r) for r in rows))

    @property
    def identity_paths(self) -> tuple[Path, ...]:
        """Every faceset in label order: ``src``, ``dst``, then ``facesets``."""
        return (self.src, self.dst, *self.facesets)

    @property
    def effective_augment(self) -> AugmentConfig:
        """The augmentation actually used (pretraining forces random warp off, flips and uniform yaw on)."""
        if not self.pretrain:
            return self.augment
        return dataclasses.replace(
            self.augment, random_warp=False, flip_src=True, flip_dst=True, uniform_yaw=True, hsv_power=0.0
        )

    @property
    def effective_loss(self) -> LossConfig:
        """The losses actually used (pretraining turns GAN, true-face and style terms off)."""
        if not self.pretrain:
            return self.loss
        return dataclasses.replace(
            self.loss, gan_power=0.0, face_style_weight=0.0, bg_style_weight=0.0, true_face_power=0.0
        )

    @property
    def effective_lr_dropout(self) -> float:
        """LR dropout actually used (off in pretraining)."""
        return 1.0 if self.pretrain else self.optim.lr_dropout
