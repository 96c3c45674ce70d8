"""MTCNN's three networks in torch, and loading their pretrained weights safely.

The weights are the state dicts shipped in the ``facenet-pytorch==2.6.0`` wheel (``pnet.pt``, ``rnet.pt``,
``onet.pt``; MIT), fetched by :mod:`fs_align.assets` without installing that package. They are read once with
``torch.load(..., weights_only=True)`` and cached as safetensors under ``fs_home()/detect``, keyed by the
source file's sha256, so later loads never touch the torch pickle format. The layer names follow those
state dicts; the dense layers expect the feature map flattened in (W, H, C) order, as the weights were
converted from a column-major framework.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save
from torch import nn

from fs_align import AssetError, atomic_write
from fs_align.assets import ensure_asset, fs_home, get_asset

__all__ = ["ONet", "PNet", "RNet", "load_mtcnn_nets"]


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12x12 receptive field, stride 2. Output: face probability, box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, 3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, 3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: ``(N, 3, H, W)`` RGB in [-1, 1]. Returns face probability ``(N, h, w)``, offsets ``(N, 4, h, w)``."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        prob = torch.softmax(self.conv4_1(x), dim=1)[:, 1]
        return prob, self.conv4_2(x)


class RNet(nn.Module):
    """Refine net on 24x24 crops. Output: face probability ``(N,)``, box offsets ``(N, 4)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, 3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, 3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, 2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: ``(N, 3, 24, 24)`` RGB in [-1, 1]."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """Output net on 48x48 crops: face probability ``(N,)``, box offsets ``(N, 4)``, 5 points ``(N, 10)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, 2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x``: ``(N, 3, 48, 48)`` RGB in [-1, 1]. Points are ``x1..x5, y1..y5`` as fractions of the box."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    atomic_write(path, save(tensors, metadata={"format": "pt"}))


def _state_dict(asset: str, home: Path | None, download: bool) -> dict[str, torch.Tensor]:
    spec = get_asset(asset)
    root = home if home is not None else fs_home()
    cached = root / "detect" / f"{asset}-{spec.sha256[:16]}.safetensors"
    if cached.is_file():
        try:
            return load_file(str(cached))
        except Exception:  # a damaged cache file is rebuilt from the verified source below
            cached.unlink(missing_ok=True)
    src = ensure_asset(spec, home, download=download)
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AssetError(f"{src}: cannot read the {asset} state dict ({exc})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AssetError(f"{src}: expected a state dict of tensors for {asset}")
    tensors = {str(k): v.contiguous() for k, v in state.items()}
    _atomic_save(tensors, cached)
    return tensors


def load_mtcnn_nets(
    device: torch.device, home: Path | None = None, *, download: bool = True
) -> tuple[PNet, RNet, ONet]:
    """Build P-Net, R-Net and O-Net with their pretrained weights, in eval mode on ``device``.

    Raises:
        AssetError: a weights file is missing (with the fetch command) or does not match the networks.
    """
    nets: list[nn.Module] = []
    for asset, net in (("mtcnn-pnet", PNet()), ("mtcnn-rnet", RNet()), ("mtcnn-onet", ONet())):
        state = _state_dict(asset, home, download)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise AssetError(f"asset {asset!r} does not fit the MTCNN network: {exc}") from exc
        nets.append(net.to(device).eval().requires_grad_(False))
    pnet, rnet, onet = nets
    assert isinstance(pnet, PNet) and isinstance(rnet, RNet) and isinstance(onet, ONet)
    return pnet, rnet, onet
