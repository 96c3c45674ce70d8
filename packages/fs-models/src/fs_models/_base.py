"""The model base class and the typed outputs of the autoencoders."""

from __future__ import annotations

import abc
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from fs_models._config import ModelConfig
from fs_models._layers import check_faces, check_range

__all__ = ["AEOutput", "FaceSwapModel", "FsModel", "SwapOutput"]


class AEOutput(NamedTuple):
    """What an autoencoder's ``forward(warped_src, warped_dst)`` returns (all N x C x H x W, BGR, [0, 1]).

    ``*_mask`` tensors are N x 1 x H x W; they are ``None`` for a model without a mask decoder (``original``).
    """

    src_src: torch.Tensor
    """src faces reconstructed by the src decoder (src identity)."""
    src_src_mask: torch.Tensor | None
    dst_dst: torch.Tensor
    """dst faces reconstructed by the dst path (dst identity)."""
    dst_dst_mask: torch.Tensor | None
    src_dst: torch.Tensor | None
    """dst faces decoded with the src identity: the swap (``None`` from ``forward(..., swap=False)``)."""
    src_dst_mask: torch.Tensor | None
    src_code: torch.Tensor | None = None
    """The src faces' bottleneck code, N x C x S x S (DF, classic, phaze; ``None`` where the model has no single
    code that both identities share): what DFL's true-face discriminator sees."""
    dst_code: torch.Tensor | None = None
    """The dst faces' bottleneck code, same shape as ``src_code``."""


class SwapOutput(NamedTuple):
    """What ``swap(dst_faces)`` returns: the swapped face and its masks (N x C x H x W, [0, 1])."""

    face: torch.Tensor
    """The predicted face with the src identity, N x 3 x H x W BGR (DFL ``out_celeb_face``)."""
    face_mask: torch.Tensor
    """The mask predicted with the swapped face, N x 1 x H x W (DFL ``out_celeb_face_mask``)."""
    dst_mask: torch.Tensor
    """The mask of the input dst face as the model sees it, N x 1 x H x W (DFL ``out_face_mask``)."""


class FsModel(nn.Module):
    """Base of every registered model: holds its frozen ``config`` and registry ``name``."""

    registry_name: ClassVar[str] = ""
    config: ModelConfig

    def __init__(self, config: ModelConfig, name: str) -> None:
        super().__init__()
        self.config = config
        self.name = name

    @property
    def resolution(self) -> int:
        """Side of the square faces the model takes."""
        return int(getattr(self.config, "resolution"))  # noqa: B009

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Random inputs that ``forward`` accepts (for tests, tracing and export)."""
        r = self.resolution
        return (torch.rand(batch, 3, r, r, generator=generator),)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those with ``requires_grad``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, config={self.config!r}"


class FaceSwapModel(FsModel, abc.ABC):
    """A model that swaps faces: ``swap`` checks the input, ``swap_unchecked`` is the traceable core."""

    has_masks: ClassVar[bool] = True

    @abc.abstractmethod
    def swap_unchecked(self, dst: torch.Tensor, *args: Any) -> SwapOutput:
        """The traceable swap; every concrete model defines it (DF, LIAE, classic, CGAN)."""

    def swap(self, dst_faces: torch.Tensor, *args: Any) -> SwapOutput:
        """Swap faces: ``dst_faces`` N x 3 x R x R float BGR in [0, 1] (R = the model's resolution).

        Returns the faces with the src identity and their masks (see :class:`SwapOutput`).
        Raises :class:`~fs_models.errors.InputError` on a wrong shape, dtype or value range.
        """
        check_faces(dst_faces, "dst_faces", self.resolution)
        check_range(dst_faces, "dst_faces")
        return self.swap_unchecked(dst_faces, *args)
