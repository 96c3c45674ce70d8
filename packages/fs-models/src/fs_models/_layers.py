"""Building blocks of the SAEHD-style networks: activations, down/upscale, residual block, pixel norm.

Every block takes ``cos_act``: DeepFaceLab's ``c`` option replaces the leaky ReLUs by ``x * cos(x)``.
Upscale convolutions are tagged (``icnr = True``) so :func:`fs_models.init_weights` gives them ICNR weights.
"""

from __future__ import annotations

import torch
from torch import nn

from fs_models.errors import InputError

__all__ = ["Act", "Downscale", "PixelNorm", "ResidualBlock", "Upscale", "check_faces", "same_conv"]


def same_conv(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A conv with 'same' padding (output size ceil(input / stride)) for odd kernels."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)


class Act(nn.Module):
    """Leaky ReLU with ``slope``, or ``x * cos(x)`` when ``cos_act`` (DFL option ``c``)."""

    def __init__(self, slope: float, cos_act: bool = False) -> None:
        super().__init__()
        self.slope = slope
        self.cos_act = cos_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cos_act:
            return x * torch.cos(x)
        return nn.functional.leaky_relu(x, self.slope)

    def extra_repr(self) -> str:
        return "x*cos(x)" if self.cos_act else f"leaky_relu({self.slope})"


class Downscale(nn.Module):
    """Conv ``kernel_size`` x ``kernel_size``, stride 2, 'same' padding, then the activation (slope 0.1)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 5, cos_act: bool = False) -> None:
        super().__init__()
        self.conv = same_conv(in_ch, out_ch, kernel_size, stride=2)
        self.act = Act(0.1, cos_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.act(self.conv(x))
        return y


class Upscale(nn.Module):
    """Conv to ``4 * out_ch`` channels, activation (slope 0.1), pixel shuffle x2 (depth to space)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, cos_act: bool = False) -> None:
        super().__init__()
        self.conv = same_conv(in_ch, out_ch * 4, kernel_size)
        self.conv.icnr = True  # type: ignore[assignment]
        self.act = Act(0.1, cos_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pixel_shuffle(self.act(self.conv(x)), 2)


class ResidualBlock(nn.Module):
    """Two 3x3 convs: ``act(x + conv2(act(conv1(x))))`` with slope 0.2."""

    def __init__(self, ch: int, kernel_size: int = 3, cos_act: bool = False) -> None:
        super().__init__()
        self.conv1 = same_conv(ch, ch, kernel_size)
        self.conv2 = same_conv(ch, ch, kernel_size)
        self.act = Act(0.2, cos_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.act(x + self.conv2(self.act(self.conv1(x))))
        return y


class PixelNorm(nn.Module):
    """``x / sqrt(mean(x^2 over dim 1) + 1e-6)`` on a flat code (DFL option ``u``); computed in float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.square().mean(dim=1, keepdim=True) + 1e-6)).to(x.dtype)


def check_faces(x: object, name: str, resolution: int) -> torch.Tensor:
    """Check a batch of faces: a float tensor ``N x 3 x resolution x resolution`` (BGR, values in [0, 1]).

    Only the shape and dtype are checked here (cheap, traceable); :func:`check_range` checks the values.
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor N x 3 x H x W, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"{name}: expected shape N x 3 x H x W (BGR, channels first), got {tuple(x.shape)}")
    if x.shape[2] != resolution or x.shape[3] != resolution:
        raise InputError(
            f"{name}: expected {resolution} x {resolution} faces (the model's resolution), "
            f"got {x.shape[2]} x {x.shape[3]}"
        )
    if not x.is_floating_point():
        raise InputError(f"{name}: expected a float tensor with values in [0, 1], got dtype {x.dtype}")
    return x


def check_range(x: torch.Tensor, name: str) -> None:
    """Raise :class:`InputError` when ``x`` has values outside [0, 1] (tolerance 1e-3) or non-finite ones."""
    if x.numel() == 0:
        return
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= -1e-3 and hi <= 1.0 + 1e-3):
        raise InputError(f"{name}: values must be in [0, 1] (BGR float), got range [{lo:.4g}, {hi:.4g}]")
