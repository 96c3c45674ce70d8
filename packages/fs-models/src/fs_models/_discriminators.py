"""Discriminators: the CGAN's conditional conv + MLP discriminator, and a U-Net PatchGAN ("GAN power").

The PatchGAN follows the shape of DFL's ``UNetPatchDiscriminator`` (after Schonfeld et al. 2020, "A U-Net
Based Discriminator for GANs"): 3x3 convs whose strides are chosen so that the receptive field of the
bottleneck is as close as possible to ``patch_size`` (fewest layers, then most downsampling), a 1x1 logit at
the bottleneck (one per patch) and a transposed-conv decoder with skips to a per-pixel logit map.
"""

from __future__ import annotations

import dataclasses
import itertools

import torch
from torch import nn

from fs_models._base import FsModel
from fs_models._config import InitMethod, ModelConfig
from fs_models._init import init_weights
from fs_models._layers import Downscale, check_faces
from fs_models._registry import register_model
from fs_models.errors import ConfigError, InputError

__all__ = ["CGANDiscriminator", "DiscriminatorConfig", "PatchGANConfig", "UNetPatchDiscriminator", "patch_layers"]


def _receptive_field(layers: list[tuple[int, int]]) -> int:
    rf, jump = 0, 1
    for i, (k, s) in enumerate(layers):
        rf = k if i == 0 else rf + (k - 1) * jump
        jump *= s
    return rf


def patch_layers(patch_size: int, max_layers: int = 9) -> list[tuple[int, int]]:
    """(kernel, stride) of 3x3 convs (first stride 2, then 1 or 2) with a receptive field closest to ``patch_size``.

    Ties go to fewer layers, then to more total stride (cheaper). Example: ``patch_layers(16)`` gives 4 layers.
    """
    best: dict[int, tuple[int, int, list[tuple[int, int]]]] = {}
    for n in range(1, max_layers + 1):
        for strides in itertools.product((1, 2), repeat=n - 1):
            layers = [(3, 2)] + [(3, s) for s in strides]
            rf, total = _receptive_field(layers), 2 + sum(strides)
            cur = best.get(rf)
            if cur is None or n < cur[0] or (n == cur[0] and total > cur[1]):
                best[rf] = (n, total, layers)
    nearest = min(best, key=lambda rf: (abs(rf - patch_size), rf))
    return best[nearest][2]


@dataclasses.dataclass(frozen=True)
class PatchGANConfig(ModelConfig):
    """Config of :class:`UNetPatchDiscriminator` (DFL defaults: patch ``resolution // 8``, 16 base channels)."""

    resolution: int = 128
    in_ch: int = 3
    base_ch: int = 16
    patch_size: int = 16
    init: InitMethod = InitMethod.HE_UNIFORM
    seed: int = -1

    def validate(self) -> None:
        self._positive("resolution", "in_ch", "base_ch", "patch_size")


class UNetPatchDiscriminator(FsModel):
    """U-Net PatchGAN: ``forward(x) -> (patch_logits N x 1 x h x w, pixel_logits N x 1 x H x W)``."""

    def __init__(self, config: PatchGANConfig, name: str = "patchgan") -> None:
        super().__init__(config, name)
        self.config: PatchGANConfig = config
        layers = patch_layers(config.patch_size)
        chs = [config.base_ch] + [min(config.base_ch * 2 ** (i + 1), 512) for i in range(len(layers))]
        self.in_conv = nn.Conv2d(config.in_ch, chs[0], 1)
        self.convs = nn.ModuleList(
            nn.Conv2d(chs[i], chs[i + 1], k, s, padding=k // 2) for i, (k, s) in enumerate(layers)
        )
        last = len(layers) - 1
        self.upconvs = nn.ModuleList(
            nn.ConvTranspose2d(chs[i + 1] * (1 if i == last else 2), chs[i], k, s, padding=k // 2)
            for i, (k, s) in reversed(list(enumerate(layers)))
        )
        self.center_out = nn.Conv2d(chs[-1], 1, 1)
        self.center_conv = nn.Conv2d(chs[-1], chs[-1], 1)
        self.out_conv = nn.Conv2d(chs[0] * 2, 1, 1)
        self.act = nn.LeakyReLU(0.2)
        init_weights(self, config.init, icnr=False, seed=None if config.seed < 0 else config.seed)

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        r = self.config.resolution
        return (torch.rand(batch, self.config.in_ch, r, r, generator=generator),)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits for ``x`` (N x in_ch x H x W, [0, 1]): per patch at the bottleneck and per pixel."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.config.in_ch:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"x: expected N x {self.config.in_ch} x H x W, got {shape}")
        x = self.act(self.in_conv(x))
        skips = []
        for conv in self.convs:
            skips.append(x)
            x = self.act(conv(x))
        center = self.center_out(x)
        x = self.act(self.center_conv(x))
        for upconv, skip in zip(self.upconvs, reversed(skips)):
            x = self.act(upconv(x, output_size=list(skip.shape[-2:])))
            x = torch.cat([skip, x], 1)
        return center, self.out_conv(x)


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig(ModelConfig):
    """Config of :class:`CGANDiscriminator` (match ``resolution`` / identities to the generator's)."""

    resolution: int = 64
    num_identities: int = 2
    external_embedding_dims: int = 0
    base_ch: int = 32
    mlp_dims: int = 256
    init: InitMethod = InitMethod.HE_UNIFORM
    seed: int = -1

    def validate(self) -> None:
        self._positive("resolution", "num_identities", "base_ch", "mlp_dims")
        if self.resolution % 16:
            raise ConfigError(f"config field 'resolution': {self.resolution} is not a multiple of 16")


class CGANDiscriminator(FsModel):
    """Conv downscales + MLP, with a projection term for the identity: ``logit = w.h + <embed(id), h>``."""

    def __init__(self, config: DiscriminatorConfig, name: str = "cgan_discriminator") -> None:
        super().__init__(config, name)
        self.config: DiscriminatorConfig = config
        b, lowest = config.base_ch, config.resolution // 16
        chs = [3, b, b * 2, b * 4, b * 8]
        self.convs = nn.Sequential(*[Downscale(chs[i], chs[i + 1], 5) for i in range(4)])
        self.mlp = nn.Sequential(
            nn.Linear(b * 8 * lowest * lowest, config.mlp_dims),
            nn.LeakyReLU(0.2),
            nn.Linear(config.mlp_dims, config.mlp_dims),
            nn.LeakyReLU(0.2),
        )
        self.out = nn.Linear(config.mlp_dims, 1)
        if config.external_embedding_dims > 0:
            self.identity: nn.Module = nn.Linear(config.external_embedding_dims, config.mlp_dims, bias=False)
        else:
            self.identity = nn.Embedding(config.num_identities, config.mlp_dims)
        init_weights(self, config.init, icnr=False, seed=None if config.seed < 0 else config.seed)
        if isinstance(self.identity, nn.Embedding):
            gen = torch.Generator().manual_seed(config.seed) if config.seed >= 0 else None
            with torch.no_grad():
                self.identity.weight.copy_(0.01 * torch.randn(self.identity.weight.shape, generator=gen))

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        r = self.config.resolution
        faces = torch.rand(batch, 3, r, r, generator=generator)
        if self.config.external_embedding_dims > 0:
            return faces, torch.randn(batch, self.config.external_embedding_dims, generator=generator)
        return faces, torch.arange(batch) % self.config.num_identities

    def forward(self, faces: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """Real/fake logits (N) for ``faces`` (N x 3 x R x R float BGR in [0, 1]) claimed to be ``identity``."""
        check_faces(faces, "faces", self.config.resolution)
        h = self.mlp(torch.flatten(self.convs(faces), 1))
        proj = (self.identity(identity).to(h.dtype) * h).sum(1)
        logits: torch.Tensor = self.out(h).squeeze(1) + proj
        return logits


@register_model("patchgan", PatchGANConfig, PatchGANConfig())
def patchgan(config: PatchGANConfig) -> UNetPatchDiscriminator:
    """U-Net PatchGAN discriminator for the autoencoders' "GAN power" (DFL: patch R/8, 16 dims)."""
    return UNetPatchDiscriminator(config, "patchgan")


@register_model("cgan_discriminator", DiscriminatorConfig, DiscriminatorConfig())
def cgan_discriminator(config: DiscriminatorConfig) -> CGANDiscriminator:
    """Seed 001's conditional discriminator: conv + MLP with an identity projection."""
    return CGANDiscriminator(config, "cgan_discriminator")
