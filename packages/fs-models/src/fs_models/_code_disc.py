"""The code discriminator of DFL's "true face power": it tells the src bottleneck code from the dst one.

Facts from DFL SAEHD (``models/Model_SAEHD/Model.py``, ``core/leras/models/CodeDiscriminator.py``): it takes
the DF inter's output (``ae_dims`` channels at the code's resolution), applies ``1 + code_res // 8`` strided
convs (the first 4x4, the rest 3x3, channels ``ch * min(2^i, 8)``, leaky ReLU 0.1) and a 1x1 conv to one logit
map. The discriminator learns dst -> 1, src -> 0; the autoencoder is pushed to make the src code score 1, so
that a code is a code, whoever's face it came from, and the swap keeps more of src's likeness.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from fs_models._base import FsModel
from fs_models._config import InitMethod, ModelConfig
from fs_models._init import init_weights
from fs_models._registry import register_model
from fs_models.errors import InputError

__all__ = ["CodeDiscriminator", "CodeDiscriminatorConfig"]


@dataclasses.dataclass(frozen=True)
class CodeDiscriminatorConfig(ModelConfig):
    """Config of :class:`CodeDiscriminator`.

    Attributes:
        in_ch: channels of the code (DF: ``ae_dims``).
        code_res: side of the code (DF: ``resolution // 8``; ``// 16`` with option ``d`` or ``t``).
        base_ch: channels of the first conv (DFL: 256).
        init: weight initialiser.
        seed: seed of the initial weights (``-1``: from the global torch RNG).
    """

    in_ch: int = 256
    code_res: int = 16
    base_ch: int = 256
    init: InitMethod = InitMethod.HE_UNIFORM
    seed: int = -1

    def validate(self) -> None:
        self._positive("in_ch", "code_res", "base_ch")


class CodeDiscriminator(FsModel):
    """``forward(code N x in_ch x S x S) -> logits N x 1 x s x s`` (src code vs dst code)."""

    def __init__(self, config: CodeDiscriminatorConfig, name: str = "code_discriminator") -> None:
        super().__init__(config, name)
        self.config: CodeDiscriminatorConfig = config
        convs: list[nn.Module] = []
        prev = config.in_ch
        for i in range(1 + config.code_res // 8):
            ch = config.base_ch * min(2**i, 8)
            k = 4 if i == 0 else 3
            convs += [nn.Conv2d(prev, ch, k, stride=2, padding=(k - 1) // 2), nn.LeakyReLU(0.1)]
            prev = ch
        self.convs = nn.Sequential(*convs)
        self.out_conv = nn.Conv2d(prev, 1, 1)
        init_weights(self, config.init, icnr=False, seed=None if config.seed < 0 else config.seed)

    @property
    def resolution(self) -> int:
        return self.config.code_res

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        s = self.config.code_res
        return (torch.randn(batch, self.config.in_ch, s, s, generator=generator),)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        if not isinstance(code, torch.Tensor) or code.ndim != 4 or code.shape[1] != self.config.in_ch:
            shape = tuple(code.shape) if isinstance(code, torch.Tensor) else type(code).__name__
            raise InputError(f"code: expected N x {self.config.in_ch} x S x S, got {shape}")
        logits: torch.Tensor = self.out_conv(self.convs(code))
        return logits


@register_model("code_discriminator", CodeDiscriminatorConfig, CodeDiscriminatorConfig())
def code_discriminator(config: CodeDiscriminatorConfig) -> CodeDiscriminator:
    """DFL's true-face code discriminator (src code vs dst code)."""
    return CodeDiscriminator(config, "code_discriminator")
