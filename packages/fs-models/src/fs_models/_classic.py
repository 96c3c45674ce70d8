"""The pre-SAEHD autoencoders: seed 000's ``original`` and DFL's half-face ``h64`` / ``h128`` (seed 002).

Shape (facts from faceswap's ``plugins/train/model/original.py`` and DFL 1.0's ``Model_H64`` / ``Model_H128``):
one shared encoder (4 conv 5x5 stride-2 downscales ``e, 2e, 4e, 8e``, dense ``ae_dims``, dense to
``R/16 x R/16 x inter_dims``, one pixel-shuffle upscale to ``inter_up_dims``), two decoders (3 upscales
``4d, 2d, d``, a 5x5 conv + sigmoid to BGR; ``h64`` / ``h128`` add a mask branch of 3 upscales ``4m, 2m, m``
and a 5x5 conv + sigmoid). No residual blocks. ``original`` has no
mask branch: its masks are ``None`` and its ONNX export gives an all-ones mask.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from fs_models._base import AEOutput, FaceSwapModel, SwapOutput
from fs_models._config import FaceType, InitMethod, ModelConfig
from fs_models._init import init_weights
from fs_models._layers import Downscale, Upscale, check_faces, same_conv
from fs_models._registry import register_model

__all__ = ["ClassicAE", "ClassicConfig"]


@dataclasses.dataclass(frozen=True)
class ClassicConfig(ModelConfig):
    """Config of the classic shared-encoder / two-decoder autoencoder.

    Attributes:
        resolution: face side in pixels, a multiple of 16.
        face_type: the face crop the model is trained on.
        e_dims: encoder base channels (downscales ``e, 2e, 4e, 8e``).
        ae_dims: dense bottleneck width.
        inter_dims: channels of the reshaped dense output at ``R/16``.
        inter_up_dims: channels after the encoder's final upscale (at ``R/8``).
        d_dims: decoder base channels (upscales ``4d, 2d, d``).
        d_mask_dims: mask branch base channels (upscales ``4m, 2m, m``); ``masks`` must be on.
        masks: whether the decoders predict a mask.
        init: weight initialiser; pixel-shuffle convs get ICNR on top.
        seed: seed of the initial weights (``-1``: from the global torch RNG).
    """

    resolution: int = 64
    face_type: FaceType = FaceType.FULL
    e_dims: int = 128
    ae_dims: int = 1024
    inter_dims: int = 1024
    inter_up_dims: int = 512
    d_dims: int = 64
    d_mask_dims: int = 64
    masks: bool = False
    init: InitMethod = InitMethod.HE_UNIFORM
    seed: int = -1

    def validate(self) -> None:
        from fs_models.errors import ConfigError

        self._positive("resolution", "e_dims", "ae_dims", "inter_dims", "inter_up_dims", "d_dims", "d_mask_dims")
        if self.resolution % 16:
            raise ConfigError(f"config field 'resolution': {self.resolution} is not a multiple of 16")


class ClassicEncoder(nn.Module):
    """Downscales, dense bottleneck, reshape, one upscale."""

    def __init__(self, cfg: ClassicConfig) -> None:
        super().__init__()
        e = cfg.e_dims
        chs = [3, e, e * 2, e * 4, e * 8]
        self.downs = nn.Sequential(*[Downscale(chs[i], chs[i + 1], 5) for i in range(4)])
        self.lowest = cfg.resolution // 16
        self.inter_dims = cfg.inter_dims
        self.dense1 = nn.Linear(e * 8 * self.lowest**2, cfg.ae_dims)
        self.dense2 = nn.Linear(cfg.ae_dims, self.lowest**2 * cfg.inter_dims)
        self.upscale = Upscale(cfg.inter_dims, cfg.inter_up_dims, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(torch.flatten(self.downs(x), 1)))
        return self.upscale(x.reshape(-1, self.inter_dims, self.lowest, self.lowest))  # type: ignore[no-any-return]


class ClassicDecoder(nn.Module):
    """3 upscales and a 5x5 sigmoid conv to BGR; optionally the same for a 1-channel mask."""

    def __init__(self, cfg: ClassicConfig) -> None:
        super().__init__()
        d, m, i = cfg.d_dims, cfg.d_mask_dims, cfg.inter_up_dims
        self.ups = nn.Sequential(Upscale(i, d * 4), Upscale(d * 4, d * 2), Upscale(d * 2, d))
        self.out_conv = same_conv(d, 3, 5)
        self.mask_ups: nn.Module | None = None
        self.out_convm: nn.Module | None = None
        if cfg.masks:
            self.mask_ups = nn.Sequential(Upscale(i, m * 4), Upscale(m * 4, m * 2), Upscale(m * 2, m))
            self.out_convm = same_conv(m, 1, 5)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = torch.sigmoid(self.out_conv(self.ups(z)))
        if self.mask_ups is None or self.out_convm is None:
            return x, None
        return x, torch.sigmoid(self.out_convm(self.mask_ups(z)))


class ClassicAE(FaceSwapModel):
    """Shared encoder + ``decoder_src`` / ``decoder_dst`` (seed 000's original model, DFL H64 / H128)."""

    def __init__(self, config: ClassicConfig, name: str = "original") -> None:
        super().__init__(config, name)
        self.config: ClassicConfig = config
        self.encoder = ClassicEncoder(config)
        self.decoder_src = ClassicDecoder(config)
        self.decoder_dst = ClassicDecoder(config)
        init_weights(self, config.init, icnr=True, seed=None if config.seed < 0 else config.seed)

    @property
    def has_masks(self) -> bool:  # type: ignore[override]
        return self.config.masks

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        r = self.resolution
        return torch.rand(batch, 3, r, r, generator=generator), torch.rand(batch, 3, r, r, generator=generator)

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, *, swap: bool = True) -> AEOutput:
        """Reconstruct both identities and swap: inputs N x 3 x R x R float BGR in [0, 1].

        ``swap=False`` skips the swap (``src_dst`` is ``None``): training needs it only for style losses.
        """
        check_faces(warped_src, "warped_src", self.resolution)
        check_faces(warped_dst, "warped_dst", self.resolution)
        src_code, dst_code = self.encoder(warped_src), self.encoder(warped_dst)
        src_src, src_src_m = self.decoder_src(src_code)
        dst_dst, dst_dst_m = self.decoder_dst(dst_code)
        if not swap:
            return AEOutput(src_src, src_src_m, dst_dst, dst_dst_m, None, None, src_code, dst_code)
        src_dst, src_dst_m = self.decoder_src(dst_code)
        return AEOutput(src_src, src_src_m, dst_dst, dst_dst_m, src_dst, src_dst_m, src_code, dst_code)

    def swap_unchecked(self, dst: torch.Tensor, *args: object) -> SwapOutput:
        code = self.encoder(dst)
        face, face_mask = self.decoder_src(code)
        _, dst_mask = self.decoder_dst(code)
        if face_mask is None or dst_mask is None:
            ones = torch.ones_like(face[:, :1])
            return SwapOutput(face, ones, ones)
        return SwapOutput(face, face_mask, dst_mask)


_ORIGINAL = ClassicConfig()
_H64 = dataclasses.replace(_ORIGINAL, face_type=FaceType.HALF, d_dims=128, d_mask_dims=64, masks=True)
_H128 = dataclasses.replace(
    _ORIGINAL, resolution=128, face_type=FaceType.HALF, ae_dims=512, inter_dims=512, d_dims=128,
    d_mask_dims=128, masks=True,
)  # fmt: skip


@register_model("original", ClassicConfig, _ORIGINAL)
def original(config: ClassicConfig) -> ClassicAE:
    """Seed 000's plain model (the reddit/faceswap original): 64 px, shared encoder, two decoders, no mask."""
    return ClassicAE(config, "original")


@register_model("h64", ClassicConfig, _H64)
def h64(config: ClassicConfig) -> ClassicAE:
    """DFL H64: half face 64 px, dense 1024 at 4x4x1024, decoders 512-256-128 with a mask branch."""
    return ClassicAE(config, "h64")


@register_model("h128", ClassicConfig, _H128)
def h128(config: ClassicConfig) -> ClassicAE:
    """DFL H128: half face 128 px, dense 512 at 8x8x512, decoders 512-256-128 with a mask branch."""
    return ClassicAE(config, "h128")
