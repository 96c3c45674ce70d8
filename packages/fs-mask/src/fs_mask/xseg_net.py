"""The XSeg segmentation network in torch (DeepFaceLab's XSeg shape, written afresh) and its registry.

Shape (for ``resolution`` R, ``base_channels`` C, ``levels`` L; DFL: R=256, C=32, L=6):

- encoder: per level, conv blocks (3x3 conv -> Filter Response Normalisation -> TLU, a learned threshold
  ``max(x, tau)``; 2 blocks on the first three levels, 3 deeper), then a binomial **blur-pool** with stride 2
  (anti-aliased downsampling; 4 taps on level 0, 3 on level 1, 2 deeper, as DFL). Channels C, 2C, 4C, 8C,
  8C, 8C, ...;
- bottleneck: flatten the ``R/2^L`` square, a dense layer to ``bottleneck`` features and back (global context:
  "is there a hand across the face");
- decoder: per level, a stride-2 transposed conv block (to 4C on the 8C levels, else the level's width),
  concatenation with the encoder's skip, conv blocks;
- a 3x3 conv to **one logit** per pixel (``sigmoid`` gives the face probability).

Input: ``N x 3 x R x R`` float32 BGR in [0, 1]. Output: ``N x 1 x R x R`` logits.

The net is an ``fs_models.FsModel`` registered in fs-models' registry as ``"xseg"`` when fs_mask is imported:
``fs_models.create_model("xseg", resolution=128)``, and saved / loaded like every fs model
(``fs_models.save_model`` / ``load_model``; see :mod:`fs_mask.checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fs_mask.errors import MaskError
from fs_models import ConfigError, FsModel, ModelConfig, register_model

__all__ = ["XSegConfig", "XSegNet"]


@dataclass(frozen=True)
class XSegConfig(ModelConfig):
    """Size of an XSeg network.

    Attributes:
        resolution: input side in pixels; a multiple of ``2**levels``.
        base_channels: width of the first level (DFL: 32); deeper levels use 2x, 4x, then 8x.
        levels: number of blur-pool downsamplings (DFL: 6).
        bottleneck: width of the dense bottleneck (DFL: 512).

    Raises:
        fs_models.ConfigError: a field that is not a positive int, or a resolution that is not a multiple of
            ``2**levels`` (also a ``ValueError``).
    """

    resolution: int = 256
    base_channels: int = 32
    levels: int = 6
    bottleneck: int = 512

    def validate(self) -> None:
        self._positive("resolution", "base_channels", "levels", "bottleneck")
        step = 2**self.levels
        if self.resolution % step:
            raise ConfigError(
                f"XSegConfig.resolution: {self.resolution} is not a multiple of 2**levels = {step} "
                f"(levels={self.levels})"
            )


class FRN(nn.Module):
    """Filter Response Normalisation: ``x / sqrt(mean_hw(x^2) + eps)``, then a per-channel affine."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nu2 = x.pow(2).mean(dim=(2, 3), keepdim=True)
        return self.weight * x * torch.rsqrt(nu2 + self.eps) + self.bias


class TLU(nn.Module):
    """Thresholded linear unit: ``max(x, tau)`` with a learned per-channel ``tau``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.tau = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, self.tau)


_BINOMIAL = {2: (1.0, 1.0), 3: (1.0, 2.0, 1.0), 4: (1.0, 3.0, 3.0, 1.0)}


class BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling: pad, depthwise ``taps x taps`` binomial filter (outer product of
    ``[1, 1]``, ``[1, 2, 1]`` or ``[1, 3, 3, 1]``), stride 2."""

    kernel: torch.Tensor

    def __init__(self, channels: int, taps: int = 4) -> None:
        super().__init__()
        if taps not in _BINOMIAL:
            raise MaskError(f"BlurPool taps: expected 2, 3 or 4, got {taps!r}")
        a = torch.tensor(_BINOMIAL[taps])
        k = a[:, None] * a[None, :]
        k = k / k.sum()
        self.register_buffer("kernel", k[None, None].repeat(channels, 1, 1, 1), persistent=False)
        self.channels = channels
        self.pad = ((taps - 1) // 2, taps // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.pad
        mode = "reflect" if min(x.shape[-2:]) > max(lo, hi) else "replicate"
        x = F.pad(x, (lo, hi, lo, hi), mode=mode)
        return F.conv2d(x, self.kernel, stride=2, groups=self.channels)


class ConvBlock(nn.Module):
    """3x3 conv -> FRN -> TLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = FRN(cout)
        self.act = TLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.norm(self.conv(x)))
        return out


class UpBlock(nn.Module):
    """Stride-2 transposed 3x3 conv (doubles the side) -> FRN -> TLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        self.norm = FRN(cout)
        self.act = TLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.norm(self.conv(x)))
        return out


def _level_channels(base: int, levels: int) -> list[int]:
    return [base * min(2**i, 8) for i in range(levels)]


class XSegNet(FsModel):
    """XSeg-shaped U-Net with a dense bottleneck; ``forward`` returns ``N x 1 x R x R`` logits."""

    config: XSegConfig

    def __init__(self, config: XSegConfig | None = None) -> None:
        super().__init__(config or XSegConfig(), "xseg")
        cfg = self.config
        chans = _level_channels(cfg.base_channels, cfg.levels)
        self.enc = nn.ModuleList()
        self.pools = nn.ModuleList()
        cin = 3
        for i, c in enumerate(chans):
            n = 2 if i < 3 else 3
            blocks = [ConvBlock(cin, c)] + [ConvBlock(c, c) for _ in range(n - 1)]
            self.enc.append(nn.Sequential(*blocks))
            self.pools.append(BlurPool(c, taps=4 if i == 0 else 3 if i == 1 else 2))
            cin = c
        self.side = cfg.resolution // 2**cfg.levels
        flat = chans[-1] * self.side * self.side
        self.dense1 = nn.Linear(flat, cfg.bottleneck)
        self.dense2 = nn.Linear(cfg.bottleneck, flat)
        self.ups = nn.ModuleList()
        self.dec = nn.ModuleList()
        prev = chans[-1]
        for i in reversed(range(cfg.levels)):
            c = chans[i]
            up_c = c if c < 8 * cfg.base_channels else c // 2
            self.ups.append(UpBlock(prev, up_c))
            n = 2 if i < 3 else 3
            blocks = [ConvBlock(up_c + c, c)] + [ConvBlock(c, c) for _ in range(n - 1)]
            self.dec.append(nn.Sequential(*blocks))
            prev = c
        self.out = nn.Conv2d(prev, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.config.resolution
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != r or x.shape[3] != r:
            raise MaskError(f"XSegNet input: expected N x 3 x {r} x {r} float BGR in [0, 1], got {tuple(x.shape)}")
        skips = []
        for block, pool in zip(self.enc, self.pools, strict=True):
            x = block(x)
            skips.append(x)
            x = pool(x)
        n = x.shape[0]
        x = self.dense2(self.dense1(x.flatten(1))).view(n, -1, self.side, self.side)
        for up, block, skip in zip(self.ups, self.dec, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        logits: torch.Tensor = self.out(x)
        return logits


@register_model("xseg", XSegConfig, XSegConfig(), "XSeg face segmenter (fs-mask): N x 1 x R x R logits")
def _make_xseg(config: XSegConfig) -> XSegNet:
    return XSegNet(config)
