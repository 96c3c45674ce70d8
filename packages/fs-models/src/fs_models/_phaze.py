"""``phaze``: a configurable autoencoder in the spirit of Faceswap's Phaze-A (Faceswap++'s model family).

Facts from faceswap's ``plugins/train/model/phaze_a.py`` and its docs: an encoder, a bottleneck (dense, or global
average / max pooling, optionally normalised), fully connected "inter" layers reshaped to a small spatial map and
upscaled (shared by both sides, one per side, or a side plus a shared half), an optional G-block (a dense style
network on the bottleneck driving AdaIN on the inter's output, after StyleGAN), and decoders (split or shared)
made of upscales with optional residual blocks, a 5x5 face output and a mask branch. Faceswap++ reports its best
models as IAE-style (LIAE's layout) with a G-block. What differs here: the encoder is the DFL/fs conv stack (no
pretrained backbones), the G-block has no noise inputs (deterministic, exportable), and the "inter" modes are:

* ``shared``: one inter for both identities, one decoder per identity (DF's layout; needs ``split_decoders``);
* ``split``: one inter per identity (faceswap's ``split_fc``); the swap runs dst's code through src's inter;
* ``liae``: DFL's LIAE: ``inter_ab`` for both, ``inter_b`` for dst only, one shared decoder on the
  concatenated codes (src = [AB, AB], dst = [B, AB], swap = [AB(dst), AB(dst)]).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from fs_models._base import AEOutput, FaceSwapModel, SwapOutput
from fs_models._config import FaceType, InitMethod, ModelConfig
from fs_models._init import init_weights
from fs_models._layers import Act, Downscale, ResidualBlock, Upscale, check_faces, same_conv
from fs_models._registry import register_model
from fs_models.errors import ConfigError

__all__ = ["Phaze", "PhazeConfig"]

_BOTTLENECKS = ("dense", "avg_pool", "max_pool")
_NORMS = ("none", "layer", "rms")
_INTERS = ("shared", "split", "liae")
_UPSCALERS = ("subpixel", "resize")


@dataclasses.dataclass(frozen=True)
class PhazeConfig(ModelConfig):
    """Config of :class:`Phaze` (defaults: a small DF-like model; see the fs-models README for two recipes).

    Attributes:
        resolution: face side in pixels, a multiple of ``2 ** enc_depth``.
        face_type: the face crop the model is trained on.
        enc_dims: channels of the first encoder conv; each further downscale doubles them up to ``enc_max_dims``.
        enc_depth: number of stride-2 downscales (the code's side is ``resolution / 2 ** enc_depth``).
        enc_max_dims: channel cap of the encoder.
        enc_kernel: kernel of the encoder convs (DFL: 5).
        bottleneck: ``dense`` (flatten + dense to ``bottleneck_size``), ``avg_pool`` or ``max_pool`` (global
            pooling: the bottleneck is the encoder's channel count; ``bottleneck_size`` is unused).
        bottleneck_size: width of the dense bottleneck.
        bottleneck_norm: ``none``, ``layer`` (LayerNorm) or ``rms`` (RMS norm, DFL's ``u`` option).
        inter: ``shared``, ``split`` or ``liae`` (see the module docs).
        fc_dims: channels of the inter's reshaped output (at the code's side).
        fc_upsamples: pixel-shuffle upscales inside the inter (DFL: 1).
        gblock: add the G-block (dense style network + AdaIN on the inter's output).
        split_gblock: one G-block per identity instead of a shared one.
        gblock_dims: width of the G-block's style network (faceswap: 512).
        split_decoders: one decoder per identity (``shared`` inter needs it; ``liae`` needs a shared one).
        dec_dims: channels of the decoder's first upscale; halved at each further upscale down to ``dec_min_dims``.
        dec_min_dims: channel floor of the decoder.
        dec_res_blocks: residual blocks after each decoder upscale (DFL: 1).
        upscaler: ``subpixel`` (conv + pixel shuffle) or ``resize`` (nearest x2 + 3x3 conv).
        learn_mask: predict a mask (a lighter branch of the same upscales, a quarter of the channels).
        init: weight initialiser; pixel-shuffle convs get ICNR on top.
        seed: seed of the initial weights (``-1``: from the global torch RNG).
    """

    resolution: int = 64
    face_type: FaceType = FaceType.FULL
    enc_dims: int = 32
    enc_depth: int = 4
    enc_max_dims: int = 512
    enc_kernel: int = 5
    bottleneck: str = "dense"
    bottleneck_size: int = 256
    bottleneck_norm: str = "none"
    inter: str = "shared"
    fc_dims: int = 256
    fc_upsamples: int = 1
    gblock: bool = False
    split_gblock: bool = False
    gblock_dims: int = 256
    split_decoders: bool = True
    dec_dims: int = 256
    dec_min_dims: int = 32
    dec_res_blocks: int = 1
    upscaler: str = "subpixel"
    learn_mask: bool = True
    init: InitMethod = InitMethod.HE_UNIFORM
    seed: int = -1

    def validate(self) -> None:
        self._positive("resolution", "enc_dims", "enc_depth", "enc_max_dims", "enc_kernel", "bottleneck_size")
        self._positive("fc_dims", "gblock_dims", "dec_dims", "dec_min_dims")
        for name, allowed in (("bottleneck", _BOTTLENECKS), ("bottleneck_norm", _NORMS), ("inter", _INTERS),
                              ("upscaler", _UPSCALERS)):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise ConfigError(f"config field {name!r}: {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.fc_upsamples < 0 or self.dec_res_blocks < 0:
            raise ConfigError("config fields 'fc_upsamples' and 'dec_res_blocks' must be >= 0")
        if self.enc_kernel % 2 == 0:
            raise ConfigError(f"config field 'enc_kernel': {self.enc_kernel} is not odd")
        if self.resolution % 2**self.enc_depth:
            raise ConfigError(f"config field 'resolution': {self.resolution} is not a multiple of 2^enc_depth")
        if self.fc_upsamples > self.enc_depth:
            raise ConfigError("config field 'fc_upsamples': more inter upscales than encoder downscales")
        if self.inter == "shared" and not self.split_decoders:
            raise ConfigError("inter 'shared' with a shared decoder cannot swap: set split_decoders=true")
        if self.inter == "liae" and self.split_decoders:
            raise ConfigError("inter 'liae' decodes both identities with one decoder: set split_decoders=false")
        if self.split_gblock and not self.gblock:
            raise ConfigError("split_gblock needs gblock=true")

    @property
    def code_res(self) -> int:
        """Side of the encoder's output (and of the inter's reshaped map)."""
        return self.resolution >> self.enc_depth

    @property
    def enc_out_dims(self) -> int:
        """Channels of the encoder's last conv."""
        return min(self.enc_dims << (self.enc_depth - 1), self.enc_max_dims)


class _Bottleneck(nn.Module):
    def __init__(self, cfg: PhazeConfig) -> None:
        super().__init__()
        self.kind = cfg.bottleneck
        ch, r = cfg.enc_out_dims, cfg.code_res
        self.dense = nn.Linear(ch * r * r, cfg.bottleneck_size) if self.kind == "dense" else None
        self.features = cfg.bottleneck_size if self.kind == "dense" else ch
        self.norm: nn.Module = nn.LayerNorm(self.features) if cfg.bottleneck_norm == "layer" else nn.Identity()
        self.rms = cfg.bottleneck_norm == "rms"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            x = self.dense(torch.flatten(x, 1))
        else:
            x = x.mean(dim=(2, 3)) if self.kind == "avg_pool" else x.amax(dim=(2, 3))
        if self.rms:
            xf = x.float()
            x = (xf * torch.rsqrt(xf.square().mean(dim=1, keepdim=True) + 1e-6)).to(x.dtype)
        return self.norm(x)  # type: ignore[no-any-return]


class _Inter(nn.Module):
    """Dense to ``fc_dims x r x r``, reshaped, ``fc_upsamples`` pixel-shuffle upscales."""

    def __init__(self, cfg: PhazeConfig, features: int) -> None:
        super().__init__()
        self.r, self.ch = cfg.code_res, cfg.fc_dims
        self.dense = nn.Linear(features, cfg.fc_dims * self.r * self.r)
        self.ups = nn.Sequential(*[Upscale(cfg.fc_dims, cfg.fc_dims, 3) for _ in range(cfg.fc_upsamples)])

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.ups(self.dense(f).reshape(-1, self.ch, self.r, self.r))  # type: ignore[no-any-return]


class _GBlock(nn.Module):
    """A 3x3 conv, then two AdaIN steps (scale and bias from dense layers on the style), leaky ReLU 0.2."""

    def __init__(self, ch: int, style: int) -> None:
        super().__init__()
        self.conv_in = same_conv(ch, ch, 3)
        self.conv_last = same_conv(ch, ch, 3)
        self.scales = nn.ModuleList(nn.Linear(style, ch) for _ in range(2))
        self.biases = nn.ModuleList(nn.Linear(style, ch) for _ in range(2))
        self.act = Act(0.2)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for i in range(2):
            if i == 1:
                x = self.conv_last(x)
            mean = x.mean(dim=(2, 3), keepdim=True)
            std = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
            scale = self.scales[i](style)[:, :, None, None]
            bias = self.biases[i](style)[:, :, None, None]
            x = self.act((x - mean) / std * scale + bias)
        return x


class _Up(nn.Module):
    """One decoder upscale: subpixel (our ``Upscale``) or nearest x2 + 3x3 conv, leaky ReLU 0.1."""

    def __init__(self, in_ch: int, out_ch: int, kind: str) -> None:
        super().__init__()
        self.sub = Upscale(in_ch, out_ch, 3) if kind == "subpixel" else None
        self.conv = same_conv(in_ch, out_ch, 3) if kind != "subpixel" else None
        self.act = Act(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sub is not None:
            return self.sub(x)  # type: ignore[no-any-return]
        assert self.conv is not None
        return self.act(self.conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")))  # type: ignore[no-any-return]


class _Decoder(nn.Module):
    def __init__(self, cfg: PhazeConfig, in_ch: int, in_res: int) -> None:
        super().__init__()
        n = (cfg.resolution // in_res).bit_length() - 1
        filters = [max(cfg.dec_min_dims, cfg.dec_dims // 2**i) for i in range(n)]
        layers: list[nn.Module] = []
        prev = in_ch
        for f in filters:
            layers.append(_Up(prev, f, cfg.upscaler))
            layers += [ResidualBlock(f, 3) for _ in range(cfg.dec_res_blocks)]
            prev = f
        self.body = nn.Sequential(*layers)
        self.out_conv = same_conv(prev, 3, 5)
        self.mask_body: nn.Module | None = None
        self.out_convm: nn.Module | None = None
        if cfg.learn_mask:
            mfilters = [max(4, f // 4) for f in filters]
            chain = [in_ch, *mfilters]
            self.mask_body = nn.Sequential(*[_Up(chain[i], chain[i + 1], cfg.upscaler) for i in range(n)])
            self.out_convm = same_conv(chain[-1], 1, 5)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        face = torch.sigmoid(self.out_conv(self.body(z)))
        if self.mask_body is None or self.out_convm is None:
            return face, None
        return face, torch.sigmoid(self.out_convm(self.mask_body(z)))


class Phaze(FaceSwapModel):
    """The configurable autoencoder (see :class:`PhazeConfig` and the module docs)."""

    def __init__(self, config: PhazeConfig, name: str = "phaze") -> None:
        super().__init__(config, name)
        self.config: PhazeConfig = config
        cfg = config
        chs = [3] + [min(cfg.enc_dims * 2**i, cfg.enc_max_dims) for i in range(cfg.enc_depth)]
        self.encoder = nn.Sequential(*[Downscale(chs[i], chs[i + 1], cfg.enc_kernel) for i in range(cfg.enc_depth)])
        self.bottleneck = _Bottleneck(cfg)
        feats = self.bottleneck.features
        names = {"shared": ("both",), "split": ("src", "dst"), "liae": ("ab", "b")}[cfg.inter]
        self.inters = nn.ModuleDict({k: _Inter(cfg, feats) for k in names})
        dec_in = cfg.fc_dims * (2 if cfg.inter == "liae" else 1)
        res = cfg.code_res * 2**cfg.fc_upsamples
        self.style: nn.Module | None = None
        self.gblocks = nn.ModuleDict()
        if cfg.gblock:
            g = cfg.gblock_dims
            self.style = nn.Sequential(nn.Linear(feats, g), Act(0.1), nn.Linear(g, g), Act(0.1), nn.Linear(g, g))
            for k in ("src", "dst") if cfg.split_gblock else ("both",):
                self.gblocks[k] = _GBlock(dec_in, g)
        sides = ("src", "dst") if cfg.split_decoders else ("both",)
        self.decoders = nn.ModuleDict({k: _Decoder(cfg, dec_in, res) for k in sides})
        init_weights(self, cfg.init, icnr=True, seed=None if cfg.seed < 0 else cfg.seed)

    @property
    def has_masks(self) -> bool:  # type: ignore[override]
        return self.config.learn_mask

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        r = self.resolution
        return torch.rand(batch, 3, r, r, generator=generator), torch.rand(batch, 3, r, r, generator=generator)

    def _features(self, faces: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.encoder(faces))  # type: ignore[no-any-return]

    def _code(self, side: str, f: torch.Tensor) -> torch.Tensor:
        """The spatial code the decoder of identity ``side`` gets for bottleneck features ``f``."""
        if self.config.inter == "shared":
            return self.inters["both"](f)  # type: ignore[no-any-return]
        if self.config.inter == "split":
            return self.inters[side](f)  # type: ignore[no-any-return]
        ab = self.inters["ab"](f)
        return torch.cat([ab if side == "src" else self.inters["b"](f), ab], 1)

    def _render(self, side: str, f: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.style is not None:
            code = self.gblocks[side if self.config.split_gblock else "both"](code, self.style(f))
        return self.decoders[side if self.config.split_decoders else "both"](code)  # type: ignore[no-any-return]

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, *, swap: bool = True) -> AEOutput:
        """Reconstruct both identities and swap: inputs N x 3 x R x R float BGR in [0, 1].

        ``src_code`` / ``dst_code`` (for the true-face discriminator) are the inter's outputs with a ``shared``
        inter, else ``None``.
        """
        check_faces(warped_src, "warped_src", self.resolution)
        check_faces(warped_dst, "warped_dst", self.resolution)
        fs, fd = self._features(warped_src), self._features(warped_dst)
        src_code, dst_code = self._code("src", fs), self._code("dst", fd)
        src_src, src_src_m = self._render("src", fs, src_code)
        dst_dst, dst_dst_m = self._render("dst", fd, dst_code)
        codes = (src_code, dst_code) if self.config.inter == "shared" else (None, None)
        if not swap:
            return AEOutput(src_src, src_src_m, dst_dst, dst_dst_m, None, None, *codes)
        swap_code = dst_code if self.config.inter == "shared" else self._code("src", fd)
        src_dst, src_dst_m = self._render("src", fd, swap_code)
        return AEOutput(src_src, src_src_m, dst_dst, dst_dst_m, src_dst, src_dst_m, *codes)

    def swap_unchecked(self, dst: torch.Tensor, *args: object) -> SwapOutput:
        f = self._features(dst)
        face, face_mask = self._render("src", f, self._code("src", f))
        _, dst_mask = self._render("dst", f, self._code("dst", f))
        if face_mask is None or dst_mask is None:
            ones = torch.ones_like(face[:, :1])
            return SwapOutput(face, ones, ones)
        return SwapOutput(face, face_mask, dst_mask)


DF_LIKE = PhazeConfig()
"""Recipe 1: DF's layout (shared dense inter, one decoder per identity)."""
IAE_GBLOCK = dataclasses.replace(PhazeConfig(), inter="liae", split_decoders=False, gblock=True)
"""Recipe 2: Faceswap++'s best family: LIAE's layout with a G-block."""


@register_model("phaze", PhazeConfig, DF_LIKE)
def phaze(config: PhazeConfig) -> Phaze:
    """Configurable Phaze-A-style autoencoder: encoder, bottleneck, inter (shared/split/liae), G-block, decoders."""
    return Phaze(config, "phaze")
