"""Training an XSeg net on a faceset: labels, augmentation, checkpoints with resume, previews.

Targets, per face: its polygon labels if it has any (rasterised, include first then exclude), else its stored
``Face.mask`` (``use_stored_masks``). Faces with neither are skipped. When **no** face is labelled and
``bootstrap`` is ``AUTO`` (default), every face gets a landmark mask (``bootstrap_kind``, EXTENDED by
default) instead: this is a **weak prior** - the net learns to reproduce the landmark hull (no occluders, no
hair line), a starting point to fine-tune once some faces are labelled, not a segmentation.

The faces are loaded once, resized to the training resolution (memory: ``N x R x R x 3`` bytes plus the
masks in float32, e.g. 1 000 faces at 256 px ~ 460 MB). Loss: per-pixel binary cross-entropy on the logit
(DFL's). Optimiser: Adam. All randomness comes from ``seed`` (numpy Generator for data and augmentation, a
forked torch RNG for the initial weights), and the data RNG state is checkpointed, so a resumed run continues
the same sample stream.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from fs_align import parse_enum
from fs_align.landmark_masks import MaskKind, landmark_mask
from fs_mask.augment import AugmentConfig, augment_sample
from fs_mask.checkpoint import load_checkpoint, restore_optimizer, save_checkpoint
from fs_mask.errors import MaskConfigError, MaskError
from fs_mask.polygons import rasterise_face_labels
from fs_mask.preview import write_preview
from fs_mask.xseg_net import XSegConfig, XSegNet
from fs_models import create_model

__all__ = ["Bootstrap", "XSegTrainConfig", "XSegTrainResult", "default_device", "load_training_set", "train_xseg"]

CHECKPOINT_NAME = "xseg.safetensors"


class Bootstrap(enum.Enum):
    """What to do with unlabelled faces."""

    AUTO = "auto"
    """Landmark masks for every face only when no face is labelled (a weak prior); otherwise skip unlabelled."""
    NEVER = "never"
    """Never: no labelled face is an error."""
    ALWAYS = "always"
    """Landmark masks for every unlabelled face, beside the labelled ones."""


@dataclass(frozen=True)
class XSegTrainConfig:
    """Settings of :func:`train_xseg`.

    Attributes:
        net: the network's size (resolution, width, levels, bottleneck).
        steps: total optimiser steps (a resumed run continues up to this count).
        batch_size: faces per step.
        learning_rate: Adam's step size.
        cosine_decay: anneal the step size along a half cosine to 0 at ``steps`` (off: constant, as DFL).
        seed: seed of the data/augmentation RNG and of the initial weights.
        augment: augmentation settings.
        bootstrap / bootstrap_kind: unlabelled-face policy and the landmark mask it uses.
        use_stored_masks: take ``Face.mask`` as a label where a face has no polygons.
        checkpoint_dir: where ``xseg.safetensors`` (+ ``.bak``) and ``previews/`` go; ``None`` writes nothing.
        checkpoint_every / preview_every: period in steps (0: only at the end).
        resume: continue from ``checkpoint_dir/xseg.safetensors`` when it exists.
        preview_faces: rows in a preview PNG.
        device: ``"cpu"``, ``"cuda"``, ... (``None``: CUDA if available).
    """

    net: XSegConfig = field(default_factory=XSegConfig)
    steps: int = 1000
    batch_size: int = 8
    learning_rate: float = 1e-4
    cosine_decay: bool = False
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    bootstrap: Bootstrap = Bootstrap.AUTO
    bootstrap_kind: MaskKind = MaskKind.EXTENDED
    use_stored_masks: bool = True
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 0
    preview_every: int = 0
    resume: bool = True
    preview_faces: int = 4
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "preview_faces"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise MaskConfigError(f"XSegTrainConfig.{name}: expected a positive int, got {v!r}")
        for name in ("checkpoint_every", "preview_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise MaskConfigError(f"XSegTrainConfig.{name}: expected an int >= 0, got {v!r}")
        if not (self.learning_rate > 0 and np.isfinite(self.learning_rate)):
            raise MaskConfigError(f"XSegTrainConfig.learning_rate: expected > 0, got {self.learning_rate!r}")
        object.__setattr__(
            self, "bootstrap", parse_enum(Bootstrap, self.bootstrap, "bootstrap: unknown", MaskConfigError)
        )
        object.__setattr__(self, "bootstrap_kind", MaskKind.parse(self.bootstrap_kind))
        if self.checkpoint_dir is not None:
            object.__setattr__(self, "checkpoint_dir", Path(self.checkpoint_dir))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (stored in checkpoints)."""
        d = asdict(self)
        d["bootstrap"] = self.bootstrap.value
        d["bootstrap_kind"] = self.bootstrap_kind.value
        d["checkpoint_dir"] = None if self.checkpoint_dir is None else str(self.checkpoint_dir)
        return d


@dataclass(frozen=True)
class XSegTrainResult:
    """What :func:`train_xseg` returns: the trained net (eval mode) and what happened."""

    model: XSegNet
    step: int
    losses: tuple[float, ...]
    labelled: int
    bootstrapped: int
    resumed_from: int
    checkpoint: Path | None
    previews: tuple[Path, ...]


def default_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a torch device, or CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _resize(img: npt.NDArray[Any], res: int) -> npt.NDArray[Any]:
    if img.shape[0] == res:
        return img
    interp = cv2.INTER_AREA if img.shape[0] > res else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(img, (res, res), interpolation=interp))


def load_training_set(
    faces: Any, config: XSegTrainConfig
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], int, int]:
    """Images (N x R x R x 3 uint8) and targets (N x R x R float32) of the usable faces; also the numbers of
    labelled and of bootstrapped faces.

    Raises:
        MaskError: no face at all, or nothing labelled while ``bootstrap`` is ``NEVER``.
    """
    res = config.net.resolution
    faces = list(faces)
    if not faces:
        raise MaskError("faceset: no faces to train on")
    labelled: list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]] = []
    unlabelled = []
    for face in faces:
        target = rasterise_face_labels(face)
        if target is None and config.use_stored_masks and face.mask is not None:
            target = face.mask.astype(np.float32) / 255.0
        if target is None:
            unlabelled.append(face)
        else:
            labelled.append((_resize(face.image, res), _resize(target, res)))
    boot = config.bootstrap is Bootstrap.ALWAYS or (config.bootstrap is Bootstrap.AUTO and not labelled)
    if not labelled and not boot:
        raise MaskError(
            f"faceset: none of {len(faces)} faces has polygons or a stored mask, and bootstrap is 'never'; "
            "label some faces (LabelMe / DFL XSeg editor) or allow the landmark-hull bootstrap"
        )
    n_boot = 0
    if boot:
        for face in unlabelled:
            m = landmark_mask(face.landmarks, face.image.shape[0], config.bootstrap_kind)
            labelled.append((_resize(face.image, res), _resize(m, res)))
            n_boot += 1
    images = np.stack([i for i, _ in labelled]).astype(np.uint8)
    masks = np.clip(np.stack([m for _, m in labelled]), 0.0, 1.0).astype(np.float32)
    return images, masks, len(labelled) - n_boot, n_boot


def _to_tensor(images: npt.NDArray[np.uint8], device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def _batch(
    images: npt.NDArray[np.uint8], masks: npt.NDArray[np.float32], rng: np.random.Generator, cfg: XSegTrainConfig
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    n = len(images)
    idx = rng.integers(0, n, size=cfg.batch_size)
    xs, ys = [], []
    for i in idx:
        other = images[int(rng.integers(0, n))] if n > 1 else None
        x, y = augment_sample(images[i], masks[i], other, rng, cfg.augment)
        xs.append(x)
        ys.append(y)
    return np.stack(xs), np.stack(ys)


def _predict(model: XSegNet, images: npt.NDArray[np.uint8], device: torch.device) -> npt.NDArray[np.float32]:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = torch.sigmoid(model(_to_tensor(images, device)))[:, 0].cpu().numpy()
    model.train(was_training)
    return np.asarray(out, dtype=np.float32)


def train_xseg(faceset: Any, config: XSegTrainConfig | None = None) -> XSegTrainResult:
    """Train (or resume training) an XSeg net on the labelled faces of ``faceset``.

    Args:
        faceset: an :class:`fs_faceset.Faceset`, its folder, or any sequence of :class:`fs_faceset.Face`.
        config: training settings (defaults: DFL-sized 256 px net, 1000 steps).

    Returns:
        The trained model (eval mode, on the training device) and the run's record.

    Raises:
        MaskError: nothing to train on (see :class:`Bootstrap`), a bad config, or an unreadable checkpoint.
    """
    cfg = config or XSegTrainConfig()
    faces = _open_faces(faceset)
    images, masks, n_lab, n_boot = load_training_set(faces, cfg)
    device = default_device(cfg.device)
    rng = np.random.default_rng(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = create_model("xseg", **cfg.net.to_dict())  # fs-models' registry
    assert isinstance(model, XSegNet)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    step, losses = 0, []
    ckpt_path = cfg.checkpoint_dir / CHECKPOINT_NAME if cfg.checkpoint_dir is not None else None
    if ckpt_path is not None and cfg.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, device=device)
        if ck.config != cfg.net:
            raise MaskError(f"{ckpt_path}: checkpoint net {ck.config} differs from the config's {cfg.net}")
        model.load_state_dict(ck.model.state_dict())
        restore_optimizer(opt, ck)
        step = ck.step
        losses = [float(v) for v in ck.train.get("losses", [])]
        if "rng" in ck.train:
            rng.bit_generator.state = ck.train["rng"]
    resumed_from = step
    preview_idx = np.linspace(0, len(images) - 1, num=min(cfg.preview_faces, len(images))).round().astype(int)
    previews: list[Path] = []

    def _save() -> None:
        if ckpt_path is None:
            return
        state = {"losses": losses, "rng": rng.bit_generator.state, "config": cfg.to_dict()}
        save_checkpoint(ckpt_path, model, optimizer=opt, step=step, train=state)

    def _preview() -> None:
        if cfg.checkpoint_dir is None:
            return
        pred = _predict(model, images[preview_idx], device)
        path = cfg.checkpoint_dir / "previews" / f"preview_{step:07d}.png"
        previews.append(write_preview(path, images[preview_idx], masks[preview_idx], pred))

    model.train()
    try:
        while step < cfg.steps:
            if cfg.cosine_decay:
                for group in opt.param_groups:
                    group["lr"] = cfg.learning_rate * 0.5 * (1.0 + np.cos(np.pi * step / cfg.steps))
            xb, yb = _batch(images, masks, rng, cfg)
            x = _to_tensor(xb, device)
            y = torch.from_numpy(yb).to(device)[:, None]
            loss = F.binary_cross_entropy_with_logits(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.steps:
                _save()
            if cfg.preview_every and step % cfg.preview_every == 0 and step < cfg.steps:
                _preview()
    except KeyboardInterrupt:  # Ctrl-C (or fs-cli's SIGTERM): keep the steps done, then stop
        _save()
        raise
    _save()
    _preview()
    model.eval()
    return XSegTrainResult(
        model=model,
        step=step,
        losses=tuple(losses),
        labelled=n_lab,
        bootstrapped=n_boot,
        resumed_from=resumed_from,
        checkpoint=ckpt_path,
        previews=tuple(previews),
    )


def _open_faces(faceset: Any) -> Sequence[Any]:
    if isinstance(faceset, (str, Path)):
        from fs_faceset import Faceset

        return list(Faceset.open(faceset))
    return list(faceset)


def config_json(config: XSegTrainConfig) -> str:
    """The config as JSON text (what a checkpoint stores; handy for logs)."""
    return json.dumps(config.to_dict(), indent=1)
