"""The identity-conditioned CGAN as a model family of the trainer (DFL-CGAN-pytorch's design).

One generator renders every identity (a label per faceset, or an external identity vector per faceset such
as the mean SFace embedding); a conditional discriminator (conv + MLP with an identity projection) tells real
faces of an identity from the generator's reconstructions with that identity. The generator's loss is the
reconstruction counted on the face only (the trainer's masked DSSIM + MSE, mask and eyes/mouth terms, with
the same mask sources) plus ``gan_power`` times the non-saturating adversarial term; the discriminator's is
``softplus(-D(real)) + softplus(D(fake))``. Both see faces multiplied by the soft face mask.

A micro-batch holds ``batch_size`` faces of each identity (identity ``k`` at rows ``k * B .. k * B + B - 1``),
sampled and augmented exactly as the autoencoders' src (identity 0) and dst (1) sides are.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from fs_models import CGANConfig, CGANDiscriminator, CGANGenerator, ModelError, create_model, model_spec
from fs_train._augment import SideSpec, augment_sample
from fs_train.checkpoint import TrainState
from fs_train.config import AugmentConfig, LossConfig, TrainConfig
from fs_train.data import Batch, FaceSource, PairSampler
from fs_train.errors import CheckpointError, ConfigError, DataError
from fs_train.losses import _image_loss, _soft_mask
from fs_train.preview import preview_grid

__all__ = [
    "IDENTITIES_KEY",
    "AnyBatch",
    "CGANFamily",
    "Identity",
    "IdentityBatch",
    "IdentitySampler",
    "batch_samples",
    "build_identity_sampler",
    "identity_names",
    "is_cgan",
    "model_identities",
]

IDENTITIES_KEY = "fs_train.identities"
"""Model-file metadata key: JSON list of ``{"label", "name", "faceset"}``, one per identity in label order."""
VECTORS_KEY = "identity_embeddings"
"""Model-file extra tensor (``fs_models.load_extra_tensors``): the K x E identity vectors, when used."""


def is_cgan(model: str) -> bool:
    """Whether registry model ``model`` is a CGAN generator (trained by :class:`CGANFamily`)."""
    try:
        return issubclass(model_spec(model).config_cls, CGANConfig)
    except ModelError:
        return False


@dataclasses.dataclass(frozen=True)
class Identity:
    """One identity a CGAN was trained on (from the model file written by ``fs train``)."""

    label: int
    name: str
    """The faceset folder's name (unique within the model)."""
    faceset: Path
    """The faceset it was trained on (absolute, as it was at training time)."""
    vector: torch.Tensor | None
    """Its identity vector when the model is conditioned on external embeddings, else ``None``."""


def model_identities(path: str | Path) -> list[Identity]:
    """The identity table of a CGAN model file that ``fs train`` wrote (label order).

    Raises:
        CheckpointError: not an fs-models file, or a file without the table (not trained by fs-train).
    """
    from fs_models import load_extra_tensors, read_header

    try:
        _, _, meta = read_header(path)
        extra = load_extra_tensors(path)
    except ModelError as exc:
        raise CheckpointError(str(exc)) from exc
    if IDENTITIES_KEY not in meta:
        raise CheckpointError(f"{path}: holds no identity table ({IDENTITIES_KEY}); was it trained by fs train?")
    try:
        table = json.loads(meta[IDENTITIES_KEY])
        vectors = extra.get(VECTORS_KEY)
        return [
            Identity(int(e["label"]), str(e["name"]), Path(e["faceset"]), None if vectors is None else vectors[k])
            for k, e in enumerate(table)
        ]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{path}: unreadable identity table: {exc}") from exc


def identity_names(paths: Sequence[Path]) -> list[str]:
    """One unique name per faceset: its folder name (``name-2``, ``name-3`` for repeats)."""
    out: list[str] = []
    for p in paths:
        base = Path(p).resolve().name or "faceset"
        name, k = base, 2
        while name in out:
            name, k = f"{base}-{k}", k + 1
        out.append(name)
    return out


def open_identities(config: TrainConfig, need_masks: bool) -> tuple[FaceSource, ...]:
    """Open every identity's faceset and check they share the face size and type."""
    loss = config.effective_loss
    sources = []
    for k, path in enumerate(config.identity_paths):
        name = ("src", "dst")[k] if k < 2 else f"identity {k}"
        sources.append(FaceSource(path, mask_source=loss.mask_source, need_masks=need_masks, name=name))
    first = sources[0]
    for s in sources[1:]:
        if (s.size, s.face_type) != (first.size, first.face_type):
            raise DataError(
                f"{s.name} faceset {s.path} holds {s.size}px {s.face_type} faces but src faceset {first.path} "
                f"holds {first.size}px {first.face_type} faces"
            )
    return tuple(sources)


class IdentitySampler(PairSampler):
    """:class:`PairSampler` over K identities: arrays ``input``/``target``/``mask``/``em`` of K x B faces."""

    def __init__(self, sources: tuple[FaceSource, ...], augment: AugmentConfig, *args: Any, **kw: Any) -> None:
        super().__init__(sources, augment, *args, **kw)
        self.specs = tuple(
            SideSpec.build(augment, self.resolution, is_src=k == 0, need_mask=self.need_masks, need_em=self.need_em)
            for k in range(len(sources))
        )
        self.late_specs = tuple(dataclasses.replace(spec, warp=False) for spec in self.specs)

    def layout(self) -> dict[str, tuple[int, ...]]:
        n, r = self.batch_size * len(self.sources), self.resolution
        out: dict[str, tuple[int, ...]] = {"input": (n, r, r, 3), "target": (n, r, r, 3)}
        if self.need_masks:
            out["mask"] = (n, r, r)
        if self.need_em:
            out["em"] = (n, r, r)
        return out

    def fill(self, counter: int, out: dict[str, npt.NDArray[np.uint8]]) -> None:
        late = self.warp_until > 0 and counter >= self.warp_until
        b = self.batch_size
        for k, (src, spec) in enumerate(zip(self.sources, self.late_specs if late else self.specs)):
            for j, pos in enumerate(self.positions(counter)):
                idx, row = self.face_index(k, int(pos)), k * b + j
                rng = np.random.default_rng([self.seed, k, 0xA6, int(pos)])
                augment_sample(
                    src.faceset.images([idx])[0], src.landmarks[idx], src.stored_mask(idx), spec, rng,
                    out["input"][row], out["target"][row],
                    out["mask"][row] if self.need_masks else None, out["em"][row] if self.need_em else None,
                )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        bins = None if self._bins is None else [len(b) for b in self._bins]
        return {"identity_faces": [len(s) for s in self.sources], "yaw_bins": bins}


def build_identity_sampler(spec: Mapping[str, Any]) -> IdentitySampler:
    """An :class:`IdentitySampler` from the plain description a batch worker receives."""
    cfg = TrainConfig.from_dict(spec["train_config"])
    sources = open_identities(cfg, bool(spec["need_masks"]))
    return IdentitySampler(
        sources, AugmentConfig.from_dict(spec["augment"]), int(spec["resolution"]), int(spec["batch_size"]),
        int(spec["seed"]), rank=int(spec["rank"]), world=int(spec["world"]), need_masks=bool(spec["need_masks"]),
        need_em=bool(spec["need_em"]),
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class IdentityBatch:
    """One CGAN micro-batch: N = K x B faces, N x 3 x R x R float in [0, 1] BGR; masks N x 1 x R x R or ``None``.

    ``labels`` (N, long) is each face's identity; ``identity`` is what the generator takes (the labels, or the
    N x E identity vectors).
    """

    warped: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor | None
    em: torch.Tensor | None
    labels: torch.Tensor
    identity: torch.Tensor


AnyBatch = Batch | IdentityBatch
"""A micro-batch of the autoencoders (src and dst sides) or of the CGAN (K identities)."""


def batch_samples(b: AnyBatch) -> int:
    """Faces per side (autoencoders) or all faces (CGAN) of a micro-batch."""
    return int(b.target.shape[0]) if isinstance(b, IdentityBatch) else int(b.target_src.shape[0])


class CGANFamily:
    """What the trainer does differently for a CGAN: identities, data, losses, previews, the identity table.

    Args:
        config: the run's configuration (``model`` must be a CGAN, see :func:`is_cgan`).
        need_masks: whether the losses use face masks.
    """

    def __init__(self, config: TrainConfig, need_masks: bool) -> None:
        self.config = config
        self.sources = open_identities(config, need_masks)
        self.names = identity_names(config.identity_paths)
        self.vectors = (
            torch.tensor(config.identity_embeddings, dtype=torch.float32) if config.identity_embeddings else None
        )

    @property
    def count(self) -> int:
        """The number of identities K."""
        return len(self.sources)

    def model_overrides(self) -> dict[str, Any]:
        """The generator config fields that follow from the identities."""
        if self.vectors is not None:
            return {"external_embedding_dims": int(self.vectors.shape[1]), "num_identities": self.count}
        return {"num_identities": self.count, "external_embedding_dims": 0}

    def build_discriminator(self, generator: CGANGenerator, seed: int) -> CGANDiscriminator | None:
        """The conditional discriminator for ``gan_power > 0`` (same resolution and identities), else ``None``."""
        loss = self.config.effective_loss
        if loss.gan_power <= 0:
            return None
        g = generator.config
        try:
            disc = create_model("cgan_discriminator", resolution=g.resolution, num_identities=g.num_identities,
                                external_embedding_dims=g.external_embedding_dims, seed=seed)  # fmt: skip
        except ModelError as exc:
            raise ConfigError(f"CGAN discriminator: {exc}") from exc
        assert isinstance(disc, CGANDiscriminator)
        return disc

    def loader_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The batch workers' description: the pair spec plus the whole train config (for the facesets)."""
        return {**spec, "kind": "identities", "train_config": self.config.to_dict()}

    def batch(
        self, arrays: dict[str, npt.NDArray[np.uint8]], device: torch.device, channels_last: bool
    ) -> IdentityBatch:
        """uint8 arrays (see :meth:`IdentitySampler.layout`) -> an :class:`IdentityBatch` on ``device``."""
        fmt = torch.channels_last if channels_last else torch.contiguous_format

        def img(name: str) -> torch.Tensor:
            t = torch.from_numpy(arrays[name]).to(device)
            return t.permute(0, 3, 1, 2).float().div_(255.0).contiguous(memory_format=fmt)

        def msk(name: str) -> torch.Tensor | None:
            return (
                torch.from_numpy(arrays[name]).to(device).unsqueeze(1).float().div_(255.0) if name in arrays else None
            )

        n = arrays["input"].shape[0]
        labels = torch.arange(self.count, device=device).repeat_interleave(n // self.count)
        ident = labels if self.vectors is None else self.vectors.to(device)[labels]
        return IdentityBatch(img("input"), img("target"), msk("mask"), msk("em"), labels, ident)

    def losses(
        self, forward: Callable[..., Any], disc: torch.nn.Module | None, b: IdentityBatch, cfg: LossConfig
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], tuple[torch.Tensor, ...] | None]:
        """The generator's loss on one micro-batch: ``(total, parts, discriminator inputs or None)``.

        ``total`` sums each identity's mean (as the autoencoders sum src and dst); parts ``src``, ``dst``,
        ``id2``, ... are the identities' reconstruction terms, ``gan`` the weighted adversarial term.
        """
        face, face_mask = forward(b.warped, b.identity)
        target, pred = b.target.float(), face.float()
        blur = _soft_mask(b.mask) if cfg.masked and b.mask is not None else None
        per = _image_loss(target * blur, pred * blur, cfg) if blur is not None else _image_loss(target, pred, cfg)
        parts: dict[str, torch.Tensor] = {"image": per.mean()}
        if cfg.mask_weight > 0 and b.mask is not None:
            ml = cfg.mask_weight * (b.mask - face_mask.float()).square().mean(dim=(1, 2, 3))
            parts["mask"] = ml.mean()
            per = per + ml
        if cfg.eyes_mouth_weight > 0 and b.em is not None:
            prio = cfg.eyes_mouth_weight * ((target - pred) * b.em).abs().mean(dim=(1, 2, 3))
            parts["eyes_mouth"] = prio.mean()
            per = per + prio
        means = per.reshape(self.count, -1).mean(1)
        for k in range(self.count):
            parts[("src", "dst")[k] if k < 2 else f"id{k}"] = means[k]
        total = means.sum()
        d_in = None
        if disc is not None:
            fake = face * blur if blur is not None else face
            adv = cfg.gan_power * F.softplus(-disc(fake, b.identity).float()).mean()
            parts["gan"] = adv
            total = total + adv
            real = b.target * blur if blur is not None else b.target
            d_in = (real, fake.detach(), b.identity)
        return total, parts, d_in

    @staticmethod
    def discriminator_loss(
        disc: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, ident: torch.Tensor
    ) -> torch.Tensor:
        """``softplus(-D(real)) + softplus(D(fake))``, each identity's faces judged as that identity."""
        return F.softplus(-disc(real, ident).float()).mean() + F.softplus(disc(fake, ident).float()).mean()

    def preview_batch(self, count: int, resolution: int, seed: int, device: torch.device) -> IdentityBatch:
        """The first ``count`` faces of each identity, un-augmented."""
        plain = AugmentConfig(random_warp=False, rotation=0.0, scale=0.0, shift=0.0, flip_src=False, flip_dst=False)
        n = min([count, *[len(s) for s in self.sources]])
        sampler = IdentitySampler(self.sources, plain, resolution, n, seed, need_masks=False)
        return self.batch(sampler.make(0), device, channels_last=False)

    @torch.no_grad()
    def preview(self, model: CGANGenerator, b: IdentityBatch) -> npt.NDArray[np.uint8]:
        """Grid: each identity's faces as they are, rendered as themselves, then as every identity."""
        n = b.target.shape[0]
        columns = [b.target, model(b.target, b.identity)[0]]
        for k in range(self.count):
            ident = self.vectors[k].expand(n, -1).to(b.target.device) if self.vectors is not None else b.labels * 0 + k
            columns.append(model(b.target, ident)[0])
        short = [name if len(name) <= 10 else name[:8] + ".." for name in self.names]  # fits a 96 px cell
        return preview_grid(columns, ["face", "own", *[f"as {name}" for name in short]])

    # -- the identity table in checkpoints and model files ---------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """One ``{"label", "name", "faceset"}`` per identity, in label order."""
        paths = self.config.identity_paths
        return [
            {"label": k, "name": n, "faceset": str(Path(p).resolve())}
            for k, (n, p) in enumerate(zip(self.names, paths))
        ]

    def model_metadata(self) -> dict[str, str]:
        """Header entries of the exported model file (the identity table)."""
        return {IDENTITIES_KEY: json.dumps(self.table())}

    def model_tensors(self) -> dict[str, torch.Tensor]:
        """Extra tensors of the exported model file (the identity vectors, when the run uses them)."""
        return {} if self.vectors is None else {VECTORS_KEY: self.vectors}

    def add_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Put the identity table (and vectors) into a training checkpoint."""
        meta["identities"] = self.table()
        if self.vectors is not None:
            tensors["identities.vectors"] = self.vectors

    def check_resume(self, state: TrainState) -> None:
        """Refuse a checkpoint trained on other identities (names the file and the difference)."""
        path: Path | str = state.path or "checkpoint"
        theirs = [(e.get("name"), e.get("faceset")) for e in state.meta.get("identities") or []]
        mine = [(e["name"], e["faceset"]) for e in self.table()]
        if [n for n, _ in theirs] != [n for n, _ in mine]:
            raise CheckpointError(
                f"{path}: the checkpoint was trained on identities {[n for n, _ in theirs]} but this run has "
                f"{[n for n, _ in mine]}; give the same facesets in the same order, or use another out_dir"
            )
        stored = state.tensors.get("identities.vectors")
        if (stored is None) != (self.vectors is None) or (
            stored is not None and self.vectors is not None and not torch.allclose(stored, self.vectors)
        ):
            raise CheckpointError(
                f"{path}: the checkpoint's identity vectors differ from this run's identity_embeddings"
            )
