"""Weight initialisers: He-uniform (default), ICNR for pixel-shuffle convs, convolution-aware.

ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution"): the conv before a pixel
shuffle by ``r`` gets a kernel initialised for ``out / r^2`` channels and repeated so that every output
sub-pixel of a shuffled block starts identical (a nearest-neighbour upsample), which removes checkerboard
artefacts at the start of training. Convolution-aware init (Aghajanyan 2017, "Convolution Aware
Initialization"): each output filter's input-channel kernels are orthogonal in the Fourier domain, then
scaled to He variance 2 / fan_in.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fs_align import parse_enum
from fs_models._config import InitMethod
from fs_models.errors import ConfigError

__all__ = ["conv_aware_", "he_uniform_", "icnr_", "init_weights"]


@torch.no_grad()
def he_uniform_(weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``weight`` (out, in, ...) from U(-b, b) with b = sqrt(6 / fan_in); returns it."""
    fan_in = weight[0].numel()
    bound = math.sqrt(6.0 / fan_in)
    return weight.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def conv_aware_(weight: torch.Tensor, eps_std: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """Convolution-aware init of a conv kernel (out, in, kh, kw); other ranks get an orthogonal init."""
    if weight.ndim != 4:
        return nn.init.orthogonal_(weight, generator=generator)
    out_ch, in_ch, kh, kw = weight.shape
    fourier_shape = (kh, kw // 2 + 1)
    size = fourier_shape[0] * fourier_shape[1]
    blocks = in_ch // size + 1
    # per output filter, `blocks` random symmetric size x size matrices; their eigenvectors are orthonormal
    a = torch.randn(out_ch, blocks, size, size, generator=generator, dtype=torch.float64)
    a = a + a.transpose(-1, -2)
    basis = torch.linalg.eigh(a).eigenvectors.transpose(-1, -2)  # rows: orthonormal vectors
    basis = basis.reshape(out_ch, blocks * size, size)[:, :in_ch, :].reshape(out_ch, in_ch, *fourier_shape)
    kernels = torch.fft.irfft2(basis.to(torch.complex128), s=(kh, kw))
    kernels = kernels + eps_std * torch.randn(kernels.shape, generator=generator, dtype=torch.float64)
    fan_in = in_ch * kh * kw
    kernels = kernels * math.sqrt((2.0 / fan_in) / float(kernels.var()))
    weight.copy_(kernels.to(weight.dtype))
    return weight


@torch.no_grad()
def icnr_(
    weight: torch.Tensor,
    scale: int = 2,
    method: InitMethod = InitMethod.HE_UNIFORM,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ICNR: initialise ``out / scale^2`` filters with ``method`` and repeat each ``scale^2`` times.

    The repeat is ``repeat_interleave`` over output channels, matching ``torch.nn.functional.pixel_shuffle``
    (channel ``c * scale^2 + k`` becomes sub-pixel ``k`` of channel ``c``).
    """
    r2 = scale * scale
    out_ch = weight.shape[0]
    if out_ch % r2:
        raise ConfigError(f"ICNR needs out channels divisible by {r2}, got {out_ch}")
    sub = torch.empty((out_ch // r2, *weight.shape[1:]), dtype=weight.dtype)
    _init_tensor(sub, method, generator)
    weight.copy_(sub.repeat_interleave(r2, dim=0))
    return weight


def _init_tensor(weight: torch.Tensor, method: InitMethod, generator: torch.Generator | None) -> None:
    if method is InitMethod.CONV_AWARE and weight.ndim == 4 and weight.shape[-1] > 1:
        conv_aware_(weight, generator=generator)
    else:
        he_uniform_(weight, generator=generator)


@torch.no_grad()
def init_weights(
    module: nn.Module, method: InitMethod | str = InitMethod.HE_UNIFORM, icnr: bool = True, seed: int | None = None
) -> nn.Module:
    """Initialise every conv / transposed conv / linear weight of ``module`` in place; biases to zero.

    Args:
        module: the network.
        method: ``he_uniform`` (default) or ``conv_aware`` (for k x k convs with k > 1; dense layers and 1x1
            convs stay He-uniform).
        icnr: convs tagged ``icnr`` (those feeding a pixel shuffle) get ICNR weights built with ``method``.
        seed: seed of a private generator, for reproducible weights without touching the global RNG.
    Returns:
        ``module``.

    Raises:
        ConfigError: an unknown ``method``.
    """
    method = parse_enum(InitMethod, method, "init_weights: unknown method", ConfigError)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.weight
            target = torch.empty(w.shape, dtype=torch.float32)
            if icnr and getattr(m, "icnr", False):
                icnr_(target, 2, method, gen)
            else:
                _init_tensor(target, method, gen)
            w.copy_(target)
            if m.bias is not None:
                m.bias.zero_()
    return module
