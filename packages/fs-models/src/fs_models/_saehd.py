"""DF and LIAE autoencoders in DeepFaceLab's SAEHD shape, with the ``u``, ``d``, ``t``, ``c`` options.

Structure (facts from DFL's ``core/leras/archis/DeepFakeArchi.py`` and ``models/Model_SAEHD/Model.py``):

* Encoder: 4 conv 5x5 stride-2 downscales with ``e, 2e, 4e, 8e`` channels (``t``: 5 downscales ``e, 2e, 4e,
  8e, 8e`` with a residual block after the first and the last), flattened; ``u`` pixel-normalises the code.
* Inter: dense to ``ae_dims``, dense to ``lowest^2 * ae_out`` (``lowest = R/16``, ``R/32`` with ``d``),
  reshaped, one pixel-shuffle upscale (none with ``t``).
* Decoder: 3 upscales ``8d, 4d, 2d`` each followed by a residual block (``t``: 4 upscales ``8d, 8d, 4d, 2d``),
  1x1 conv to BGR + sigmoid; a separate mask branch of upscales ``8m, 4m, 2m`` then 1x1 conv + sigmoid.
  ``d`` predicts the 4 sub-pixels of each output pixel with 4 convs and a depth-to-space (double resolution
  for the same cost); the mask branch gets one more upscale.
* DF: shared encoder + inter, decoders ``decoder_src`` / ``decoder_dst``; swap = ``decoder_src(inter(enc(dst)))``.
* LIAE: shared encoder, ``inter_AB`` and ``inter_B`` (``ae_out = 2 ae``), one decoder on the concatenated
  codes; src = [AB, AB], dst = [B, AB], swap = [AB(dst), AB(dst)].
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from fs_models._base import AEOutput, FaceSwapModel, SwapOutput
from fs_models._config import FaceType, InitMethod, ModelConfig
from fs_models._init import init_weights
from fs_models._layers import Downscale, PixelNorm, ResidualBlock, Upscale, check_faces, same_conv
from fs_models._registry import register_model
from fs_models.errors import ConfigError

__all__ = ["DF", "LIAE", "SAEHDConfig", "parse_archi"]

_OPTIONS = "udtc"


@dataclasses.dataclass(frozen=True)
class SAEHDConfig(ModelConfig):
    """Config of the DF / LIAE autoencoders (DFL SAEHD option names and defaults).

    Attributes:
        resolution: face side in pixels; a multiple of 16 (of 32 with option ``d`` or ``t``).
        face_type: which face crop the model is trained on (stored for the merger; no effect on the net).
        ae_dims: bottleneck width (DFL "AutoEncoder dimensions", default 256).
        e_dims: encoder base channels (default 64).
        d_dims: decoder base channels (default 64).
        d_mask_dims: mask decoder base channels (DFL default ``d_dims // 3`` rounded up to even: 22).
        options: any of ``u`` (pixel norm), ``d`` (double resolution), ``t`` (deeper), ``c`` (cos activation).
        init: weight initialiser (``he_uniform`` or ``conv_aware``); pixel-shuffle convs get ICNR on top.
        seed: seed of the initial weights (``-1``: from the global torch RNG).
    """

    resolution: int = 128
    face_type: FaceType = FaceType.FULL
    ae_dims: int = 256
    e_dims: int = 64
    d_dims: int = 64
    d_mask_dims: int = 22
    options: str = ""
    init: InitMethod = InitMethod.HE_UNIFORM
    seed: int = -1

    def validate(self) -> None:
        self._positive("resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims")
        bad = sorted(set(self.options) - set(_OPTIONS))
        if bad:
            raise ConfigError(f"config field 'options': unknown option(s) {''.join(bad)!r}; known: u, d, t, c")
        object.__setattr__(self, "options", "".join(o for o in _OPTIONS if o in self.options))
        step = 32 if ("d" in self.options or "t" in self.options) else 16
        if self.resolution % step:
            raise ConfigError(
                f"config field 'resolution': {self.resolution} is not a multiple of {step} "
                f"(needed with options {self.options!r})"
            )

    def has(self, option: str) -> bool:
        """Whether option ``u``, ``d``, ``t`` or ``c`` is on."""
        return option in self.options


def parse_archi(archi: str) -> tuple[str, str]:
    """Split a DFL archi string such as ``"liae-ud"`` into the model name and options (``("liae", "ud")``)."""
    name, _, opts = archi.strip().lower().partition("-")
    if name not in ("df", "liae"):
        raise ConfigError(f"archi {archi!r}: the type must be df or liae")
    bad = sorted(set(opts) - set(_OPTIONS))
    if bad:
        raise ConfigError(f"archi {archi!r}: unknown option(s) {''.join(bad)!r}; known: u, d, t, c")
    return name, opts


class Encoder(nn.Module):
    """Conv 5x5 stride-2 downscales (+ residual blocks with ``t``), flattened, pixel norm with ``u``."""

    def __init__(self, cfg: SAEHDConfig, in_ch: int = 3) -> None:
        super().__init__()
        e, c = cfg.e_dims, cfg.has("c")
        layers: list[nn.Module]
        if cfg.has("t"):
            layers = [Downscale(in_ch, e, 5, c), ResidualBlock(e, 3, c)]
            layers += [Downscale(e, e * 2, 5, c), Downscale(e * 2, e * 4, 5, c), Downscale(e * 4, e * 8, 5, c)]
            layers += [Downscale(e * 8, e * 8, 5, c), ResidualBlock(e * 8, 3, c)]
            self.out_res = cfg.resolution // 32
        else:
            chs = [in_ch] + [e * min(2**i, 8) for i in range(4)]
            layers = [Downscale(chs[i], chs[i + 1], 5, c) for i in range(4)]
            self.out_res = cfg.resolution // 16
        self.layers = nn.Sequential(*layers)
        self.norm = PixelNorm() if cfg.has("u") else nn.Identity()
        self.out_features = e * 8 * self.out_res**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code: torch.Tensor = self.norm(torch.flatten(self.layers(x), 1))
        return code


class Inter(nn.Module):
    """Dense bottleneck: ``in -> ae_dims -> lowest^2 * ae_out``, reshaped, one upscale (none with ``t``)."""

    def __init__(self, cfg: SAEHDConfig, in_features: int, ae_out: int) -> None:
        super().__init__()
        self.lowest = cfg.resolution // (32 if cfg.has("d") else 16)
        self.ae_out = ae_out
        self.dense1 = nn.Linear(in_features, cfg.ae_dims)
        self.dense2 = nn.Linear(cfg.ae_dims, self.lowest * self.lowest * ae_out)
        self.upscale = nn.Identity() if cfg.has("t") else Upscale(ae_out, ae_out, 3, cfg.has("c"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(x)).reshape(-1, self.ae_out, self.lowest, self.lowest)
        return self.upscale(x)  # type: ignore[no-any-return]


class Decoder(nn.Module):
    """Upscale + residual blocks to BGR (sigmoid), and a separate upscale branch to the mask (sigmoid)."""

    def __init__(self, cfg: SAEHDConfig, in_ch: int) -> None:
        super().__init__()
        d, m, c = cfg.d_dims, cfg.d_mask_dims, cfg.has("c")
        chs = [in_ch, d * 8, d * 8, d * 4, d * 2] if cfg.has("t") else [in_ch, d * 8, d * 4, d * 2]
        mchs = [in_ch, m * 8, m * 8, m * 4, m * 2] if cfg.has("t") else [in_ch, m * 8, m * 4, m * 2]
        if cfg.has("d"):
            mchs.append(m)
        blocks: list[nn.Module] = []
        for i in range(len(chs) - 1):
            blocks += [Upscale(chs[i], chs[i + 1], 3, c), ResidualBlock(chs[i + 1], 3, c)]
        self.body = nn.Sequential(*blocks)
        self.subpixel = cfg.has("d")
        if self.subpixel:
            # one conv per output sub-pixel; the 1x1 one keeps DFL's name out_conv
            self.out_conv = same_conv(d * 2, 3, 1)
            self.out_conv1 = same_conv(d * 2, 3, 3)
            self.out_conv2 = same_conv(d * 2, 3, 3)
            self.out_conv3 = same_conv(d * 2, 3, 3)
        else:
            self.out_conv = same_conv(d * 2, 3, 1)
        self.mask_body = nn.Sequential(*[Upscale(mchs[i], mchs[i + 1], 3, c) for i in range(len(mchs) - 1)])
        self.out_convm = same_conv(mchs[-1], 1, 1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.body(z)
        if self.subpixel:
            subs = torch.stack([self.out_conv(x), self.out_conv1(x), self.out_conv2(x), self.out_conv3(x)], dim=2)
            x = nn.functional.pixel_shuffle(subs.flatten(1, 2), 2)  # channel c, sub-pixel k -> c * 4 + k
        else:
            x = self.out_conv(x)
        m = self.out_convm(self.mask_body(z))
        return torch.sigmoid(x), torch.sigmoid(m)


def _init(model: nn.Module, cfg: SAEHDConfig) -> None:
    init_weights(model, cfg.init, icnr=True, seed=None if cfg.seed < 0 else cfg.seed)


class DF(FaceSwapModel):
    """DeepFaceLab's DF: shared encoder and inter, one decoder per identity."""

    def __init__(self, config: SAEHDConfig, name: str = "df") -> None:
        super().__init__(config, name)
        self.config: SAEHDConfig = config
        self.encoder = Encoder(config)
        self.inter = Inter(config, self.encoder.out_features, config.ae_dims)
        self.decoder_src = Decoder(config, config.ae_dims)
        self.decoder_dst = Decoder(config, config.ae_dims)
        _init(self, config)

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        r = self.resolution
        return torch.rand(batch, 3, r, r, generator=generator), torch.rand(batch, 3, r, r, generator=generator)

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, *, swap: bool = True) -> AEOutput:
        """Reconstruct both identities and swap: inputs N x 3 x R x R float BGR in [0, 1].

        ``swap=False`` skips the swap (``src_dst`` is ``None``): training needs it only for style losses.
        """
        check_faces(warped_src, "warped_src", self.resolution)
        check_faces(warped_dst, "warped_dst", self.resolution)
        src_code = self.inter(self.encoder(warped_src))
        dst_code = self.inter(self.encoder(warped_dst))
        src_src, src_src_m = self.decoder_src(src_code)
        dst_dst, dst_dst_m = self.decoder_dst(dst_code)
        if not swap:
            return AEOutput(src_src, src_src_m, dst_dst, dst_dst_m, None, None, src_code, dst_code)
        src_dst, src_dst_m = self.decoder_src(dst_code)
        return AEOutput(src_src, src_src_m, dst_dst, dst_dst_m, src_dst, src_dst_m, src_code, dst_code)

    def swap_unchecked(self, dst: torch.Tensor, *args: object) -> SwapOutput:
        code = self.inter(self.encoder(dst))
        face, face_mask = self.decoder_src(code)
        _, dst_mask = self.decoder_dst(code)
        return SwapOutput(face, face_mask, dst_mask)


class LIAE(FaceSwapModel):
    """DeepFaceLab's LIAE: shared encoder, ``inter_AB`` (both identities) + ``inter_B`` (dst only), one decoder."""

    def __init__(self, config: SAEHDConfig, name: str = "liae") -> None:
        super().__init__(config, name)
        self.config: SAEHDConfig = config
        self.encoder = Encoder(config)
        self.inter_AB = Inter(config, self.encoder.out_features, config.ae_dims * 2)
        self.inter_B = Inter(config, self.encoder.out_features, config.ae_dims * 2)
        self.decoder = Decoder(config, config.ae_dims * 4)
        _init(self, config)

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        r = self.resolution
        return torch.rand(batch, 3, r, r, generator=generator), torch.rand(batch, 3, r, r, generator=generator)

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, *, swap: bool = True) -> AEOutput:
        """Reconstruct both identities and swap: inputs N x 3 x R x R float BGR in [0, 1].

        ``swap=False`` skips the swap (``src_dst`` is ``None``): training needs it only for style losses.
        """
        check_faces(warped_src, "warped_src", self.resolution)
        check_faces(warped_dst, "warped_dst", self.resolution)
        src_ab = self.inter_AB(self.encoder(warped_src))
        dst_enc = self.encoder(warped_dst)
        dst_ab, dst_b = self.inter_AB(dst_enc), self.inter_B(dst_enc)
        src_src, src_src_m = self.decoder(torch.cat([src_ab, src_ab], 1))
        dst_dst, dst_dst_m = self.decoder(torch.cat([dst_b, dst_ab], 1))
        if not swap:
            return AEOutput(src_src, src_src_m, dst_dst, dst_dst_m, None, None)
        src_dst, src_dst_m = self.decoder(torch.cat([dst_ab, dst_ab], 1))
        return AEOutput(src_src, src_src_m, dst_dst, dst_dst_m, src_dst, src_dst_m)

    def swap_unchecked(self, dst: torch.Tensor, *args: object) -> SwapOutput:
        enc = self.encoder(dst)
        ab, b = self.inter_AB(enc), self.inter_B(enc)
        face, face_mask = self.decoder(torch.cat([ab, ab], 1))
        _, dst_mask = self.decoder(torch.cat([b, ab], 1))
        return SwapOutput(face, face_mask, dst_mask)


_SAEHD = SAEHDConfig()


@register_model("df", SAEHDConfig, _SAEHD)
def df(config: SAEHDConfig) -> DF:
    """DFL SAEHD DF: full face 128, ae 256, e 64, d 64, mask 22."""
    return DF(config, "df")


@register_model("liae", SAEHDConfig, _SAEHD)
def liae(config: SAEHDConfig) -> LIAE:
    """DFL SAEHD LIAE: full face 128, ae 256, e 64, d 64, mask 22."""
    return LIAE(config, "liae")


@register_model(
    "quick96", SAEHDConfig, dataclasses.replace(_SAEHD, resolution=96, ae_dims=128, d_mask_dims=16, options="ud")
)
def quick96(config: SAEHDConfig) -> DF:
    """DFL Quick96: DF-ud, full face 96, ae 128, e 64, d 64, mask 16."""
    return DF(config, "quick96")
