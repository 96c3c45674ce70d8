"""Seed 001's conditional GAN generator: one network for every identity, conditioned on an identity embedding.

conv encoder (5x5 stride-2 downscales ``e, 2e, 4e, 8e``) -> dense code (``ae_dims``) -> conditioning on the
identity embedding -> ``R/16 x R/16 x ae_dims`` map -> 4 upscale + residual blocks ``8d, 4d, 2d, d`` ->
1x1 conv + sigmoid to BGR and to a mask. The identity is either an integer label (a learned embedding table
of ``num_identities`` rows) or, with ``external_embedding_dims > 0``, a float vector such as a 128-D SFace
embedding, projected to ``id_dims``. Conditioning:

* ``mlp``: ``MLP(concat(code, id))`` then a dense layer to the map.
* ``attention``: the map's ``R/16 x R/16`` positions are query tokens (dense from the code + learned position
  embeddings) that cross-attend to ``id_tokens`` tokens made from the identity, with a residual and LayerNorm.

Swap = the same image with another identity label: ``swap(faces, target)``. :func:`fix_identity` bakes a target
(and source) identity into a :class:`FixedIdentityCGAN`, a plain one-input face-swap model that
``TorchFaceModel`` and ``export_onnx`` take like any autoencoder.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from fs_models._base import FaceSwapModel, SwapOutput
from fs_models._config import Conditioning, FaceType, InitMethod, ModelConfig
from fs_models._init import init_weights
from fs_models._layers import Downscale, ResidualBlock, Upscale, check_faces, same_conv
from fs_models._registry import register_model
from fs_models.errors import ConfigError, InputError

__all__ = ["CGANConfig", "CGANGenerator", "FixedIdentityCGAN", "fix_identity"]


@dataclasses.dataclass(frozen=True)
class CGANConfig(ModelConfig):
    """Config of the conditional generator.

    Attributes:
        resolution: face side, a multiple of 16.
        num_identities: rows of the label embedding table (ignored with an external embedding).
        external_embedding_dims: > 0 to condition on float identity vectors of this size instead of labels.
        e_dims, ae_dims, d_dims: encoder channels, code width, decoder channels.
        id_dims: identity embedding width.
        conditioning: ``mlp`` or ``attention``.
        heads, id_tokens: attention heads and identity tokens (``attention`` only; ``ae_dims % heads == 0``).
        init: weight initialiser; pixel-shuffle convs get ICNR on top.
        seed: seed of the initial weights (``-1``: from the global torch RNG).
        face_type: the crop the faces were aligned with (fs-train sets the facesets'; merging uses it).
    """

    resolution: int = 64
    num_identities: int = 2
    external_embedding_dims: int = 0
    e_dims: int = 32
    ae_dims: int = 256
    d_dims: int = 32
    id_dims: int = 64
    conditioning: Conditioning = Conditioning.MLP
    heads: int = 4
    id_tokens: int = 4
    init: InitMethod = InitMethod.HE_UNIFORM
    seed: int = -1
    face_type: FaceType = FaceType.WHOLE_FACE

    def validate(self) -> None:
        self._positive("resolution", "num_identities", "e_dims", "ae_dims", "d_dims", "id_dims", "heads", "id_tokens")
        if self.resolution % 16:
            raise ConfigError(f"config field 'resolution': {self.resolution} is not a multiple of 16")
        if self.external_embedding_dims < 0:
            raise ConfigError("config field 'external_embedding_dims' must be >= 0")
        if self.conditioning is Conditioning.ATTENTION and self.ae_dims % self.heads:
            raise ConfigError(f"config field 'heads': ae_dims {self.ae_dims} is not divisible by {self.heads}")


class _MLPCondition(nn.Module):
    def __init__(self, cfg: CGANConfig, lowest: int) -> None:
        super().__init__()
        self.lowest, self.ch = lowest, cfg.ae_dims
        self.mlp = nn.Sequential(
            nn.Linear(cfg.ae_dims + cfg.id_dims, cfg.ae_dims), nn.LeakyReLU(0.1), nn.Linear(cfg.ae_dims, cfg.ae_dims)
        )
        self.to_map = nn.Linear(cfg.ae_dims, lowest * lowest * cfg.ae_dims)

    def forward(self, code: torch.Tensor, ident: torch.Tensor) -> torch.Tensor:
        h = self.mlp(torch.cat([code, ident.to(code.dtype)], 1))
        fmap: torch.Tensor = self.to_map(h).reshape(-1, self.ch, self.lowest, self.lowest)
        return fmap


class _AttentionCondition(nn.Module):
    def __init__(self, cfg: CGANConfig, lowest: int) -> None:
        super().__init__()
        self.lowest, self.ch, self.n_id = lowest, cfg.ae_dims, cfg.id_tokens
        self.to_tokens = nn.Linear(cfg.ae_dims, lowest * lowest * cfg.ae_dims)
        self.pos = nn.Parameter(torch.zeros(1, lowest * lowest, cfg.ae_dims))
        self.id_to_tokens = nn.Linear(cfg.id_dims, cfg.id_tokens * cfg.ae_dims)
        self.attn = nn.MultiheadAttention(cfg.ae_dims, cfg.heads, batch_first=True)
        self.norm = nn.LayerNorm(cfg.ae_dims)

    def forward(self, code: torch.Tensor, ident: torch.Tensor) -> torch.Tensor:
        n = code.shape[0]
        q = self.to_tokens(code).reshape(n, self.lowest * self.lowest, self.ch) + self.pos
        kv = self.id_to_tokens(ident.to(code.dtype)).reshape(n, self.n_id, self.ch)
        attended, _ = self.attn(q, kv, kv, need_weights=False)
        tokens: torch.Tensor = self.norm(q + attended)
        return tokens.transpose(1, 2).reshape(n, self.ch, self.lowest, self.lowest)


class CGANGenerator(FaceSwapModel):
    """One encoder-decoder for all identities, conditioned on an identity label or embedding."""

    def __init__(self, config: CGANConfig, name: str = "cgan") -> None:
        super().__init__(config, name)
        self.config: CGANConfig = config
        e, d, lowest = config.e_dims, config.d_dims, config.resolution // 16
        chs = [3, e, e * 2, e * 4, e * 8]
        self.encoder = nn.Sequential(*[Downscale(chs[i], chs[i + 1], 5) for i in range(4)])
        self.to_code = nn.Linear(e * 8 * lowest * lowest, config.ae_dims)
        if config.external_embedding_dims > 0:
            self.identity: nn.Module = nn.Linear(config.external_embedding_dims, config.id_dims)
        else:
            self.identity = nn.Embedding(config.num_identities, config.id_dims)
        cond_cls = _AttentionCondition if config.conditioning is Conditioning.ATTENTION else _MLPCondition
        self.condition = cond_cls(config, lowest)
        dchs = [config.ae_dims, d * 8, d * 4, d * 2, d]
        blocks: list[nn.Module] = []
        for i in range(4):
            blocks += [Upscale(dchs[i], dchs[i + 1]), ResidualBlock(dchs[i + 1])]
        self.decoder = nn.Sequential(*blocks)
        self.out_conv = same_conv(d, 3, 1)
        self.out_convm = same_conv(d, 1, 1)
        init_weights(self, config.init, icnr=True, seed=None if config.seed < 0 else config.seed)
        if isinstance(self.identity, nn.Embedding):
            gen = torch.Generator().manual_seed(config.seed) if config.seed >= 0 else None
            with torch.no_grad():
                self.identity.weight.copy_(torch.randn(self.identity.weight.shape, generator=gen))

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        r = self.resolution
        faces = torch.rand(batch, 3, r, r, generator=generator)
        if self.config.external_embedding_dims > 0:
            return faces, torch.randn(batch, self.config.external_embedding_dims, generator=generator)
        return faces, torch.arange(batch) % self.config.num_identities

    def _check_identity(self, identity: torch.Tensor, n: int) -> None:
        cfg = self.config
        if not isinstance(identity, torch.Tensor):
            raise InputError(f"identity: expected a torch.Tensor, got {type(identity).__name__}")
        if cfg.external_embedding_dims > 0:
            if identity.shape != (n, cfg.external_embedding_dims) or not identity.is_floating_point():
                raise InputError(
                    f"identity: expected float embeddings of shape ({n}, {cfg.external_embedding_dims}), "
                    f"got {identity.dtype} {tuple(identity.shape)}"
                )
        elif identity.shape != (n,) or identity.is_floating_point():
            raise InputError(f"identity: expected {n} integer labels, got {identity.dtype} {tuple(identity.shape)}")

    def forward(self, faces: torch.Tensor, identity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Render ``faces`` (N x 3 x R x R float BGR in [0, 1]) with ``identity`` (N labels or N x E vectors).

        Returns the face (N x 3 x R x R, [0, 1]) and its mask (N x 1 x R x R, [0, 1]).
        """
        check_faces(faces, "faces", self.resolution)
        self._check_identity(identity, faces.shape[0])
        return self.render(faces, self.embed_identity(identity))

    def embed_identity(self, identity: torch.Tensor) -> torch.Tensor:
        """The conditioning vectors (N x ``id_dims``) of N labels or N x E external embeddings."""
        out: torch.Tensor = self.identity(identity)
        return out

    def render(self, faces: torch.Tensor, id_vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The unchecked core of :meth:`forward`, conditioned on ``id_vectors`` (N x ``id_dims``, see
        :meth:`embed_identity`); returns the face and its mask."""
        code = self.to_code(torch.flatten(self.encoder(faces), 1))
        x = self.decoder(self.condition(code, id_vectors))
        return torch.sigmoid(self.out_conv(x)), torch.sigmoid(self.out_convm(x))

    def swap_unchecked(self, dst: torch.Tensor, *args: object) -> SwapOutput:
        if len(args) != 2:
            raise InputError("CGAN swap needs the target identity and the source identity of the faces")
        target, source = args
        if not isinstance(target, torch.Tensor) or not isinstance(source, torch.Tensor):
            raise InputError("CGAN swap_unchecked takes the target and source identities as tensors")
        face, face_mask = self(dst, target)
        _, dst_mask = self(dst, source)
        return SwapOutput(face, face_mask, dst_mask)

    def _identity_batch(self, identity: int | torch.Tensor, n: int, name: str) -> torch.Tensor:
        if isinstance(identity, int):
            if self.config.external_embedding_dims > 0:
                raise InputError(f"{name}: this generator takes embedding vectors, not integer labels")
            if not 0 <= identity < self.config.num_identities:
                raise InputError(f"{name}: label {identity} is not in [0, {self.config.num_identities})")
            return torch.full((n,), identity, dtype=torch.long, device=self.out_conv.weight.device)
        if identity.ndim == 1 and self.config.external_embedding_dims > 0:
            return identity.unsqueeze(0).expand(n, -1)
        return identity

    def swap(self, dst_faces: torch.Tensor, *args: object) -> SwapOutput:  # type: ignore[override]
        """Render ``dst_faces`` (N x 3 x R x R float BGR in [0, 1]) as identity ``target`` (``swap(x, 1, 0)``).

        Args: ``target`` then ``source`` (the faces' own identity, for ``dst_mask``); each an int label, a
        tensor of N labels, or (external-embedding generators) one or N embedding vectors.
        """
        if len(args) != 2:
            raise InputError("CGANGenerator.swap(dst_faces, target, source): give the target and source identity")
        n = int(dst_faces.shape[0]) if isinstance(dst_faces, torch.Tensor) else 0
        target = self._identity_batch(args[0], n, "target")  # type: ignore[arg-type]
        source = self._identity_batch(args[1], n, "source")  # type: ignore[arg-type]
        return super().swap(dst_faces, target, source)


class FixedIdentityCGAN(FaceSwapModel):
    """A CGAN generator with its target and source identities baked in: ``swap(dst_faces)`` like an autoencoder.

    ``face`` and ``face_mask`` are the faces rendered as the target identity, ``dst_mask`` the mask rendered as
    the source identity (the faces' own). The two conditioning vectors are buffers, so the ONNX export holds
    them as constants. Build it with :func:`fix_identity`; it shares the generator's weights and config.
    It is not a registry model: save the generator, and fix the identity again after loading it.
    """

    target: torch.Tensor
    source: torch.Tensor

    def __init__(self, generator: CGANGenerator, target: torch.Tensor, source: torch.Tensor) -> None:
        super().__init__(generator.config, generator.name)
        self.config: CGANConfig = generator.config
        self.generator = generator
        dims = generator.config.id_dims
        for name, vec in (("target", target), ("source", source)):
            if vec.shape != (dims,) or not vec.is_floating_point():
                got = tuple(vec.shape)
                raise InputError(f"{name}: expected a float conditioning vector of {dims} values, got {got}")
        self.register_buffer("target", target.detach().reshape(1, dims).float().clone())
        self.register_buffer("source", source.detach().reshape(1, dims).float().clone())

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``faces`` rendered as the target identity: (face, mask)."""
        check_faces(faces, "faces", self.resolution)
        return self.generator.render(faces, self.target.expand(faces.shape[0], -1))

    def swap_unchecked(self, dst: torch.Tensor, *args: object) -> SwapOutput:
        if args:
            raise InputError("FixedIdentityCGAN.swap takes only the faces (the identities are fixed)")
        n = dst.shape[0]
        face, face_mask = self.generator.render(dst, self.target.expand(n, -1))
        _, dst_mask = self.generator.render(dst, self.source.expand(n, -1))
        return SwapOutput(face, face_mask, dst_mask)


def fix_identity(generator: CGANGenerator, target: int | torch.Tensor, source: int | torch.Tensor) -> FixedIdentityCGAN:
    """Bake ``target`` (the identity rendered) and ``source`` (the input faces' own) into a one-input swap model.

    Each is an int label, or (external-embedding generators) one embedding vector of ``external_embedding_dims``.
    """
    if not isinstance(generator, CGANGenerator):
        raise InputError(f"fix_identity: expected a CGANGenerator, got {type(generator).__name__}")
    vecs = []
    with torch.no_grad():
        for name, ident in (("target", target), ("source", source)):
            if isinstance(ident, torch.Tensor):
                if not ident.is_floating_point() and ident.numel() == 1:
                    ident = int(ident.item())
                else:
                    ident = ident.to(generator.out_conv.weight.device)
            batch = generator._identity_batch(ident, 1, name)
            generator._check_identity(batch, 1)
            vecs.append(generator.embed_identity(batch)[0].float())
    return FixedIdentityCGAN(generator, vecs[0], vecs[1])


@register_model("cgan", CGANConfig, CGANConfig())
def cgan(config: CGANConfig) -> CGANGenerator:
    """Seed 001's conditional generator (MLP conditioning by default; ``conditioning="attention"``)."""
    return CGANGenerator(config, "cgan")
