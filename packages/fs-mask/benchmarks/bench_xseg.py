"""XSeg inference (256 px, batch 8) and training-step time on this machine's CPU; landmark mask drawing.

Faces/s = 8 / (mean seconds per call) for the inference benchmark. Run:
``pytest packages/fs-mask/benchmarks --benchmark-only``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fs_align import FaceType, canonical_landmarks
from fs_mask import XSegConfig, XSegNet, landmark_mask, predict_masks


def _faces(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def _train_step(net: XSegNet, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    loss = F.binary_cross_entropy_with_logits(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def test_xseg_inference_256_batch8(benchmark) -> None:
    """DFL-sized net (256 px, 32 channels, 6 levels): one call = 8 faces through predict_masks."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = XSegNet(XSegConfig()).eval()
    faces = _faces(8, 256)
    out = benchmark.pedantic(predict_masks, args=(net, faces), kwargs={"batch_size": 8}, rounds=3, warmup_rounds=1)
    assert out.shape == (8, 256, 256)
    benchmark.extra_info["faces_per_s"] = 8 / benchmark.stats.stats.mean


def test_xseg_train_step_256_batch4(benchmark) -> None:
    """One Adam step of the DFL-sized net on 4 faces at 256 px (forward + backward + update)."""
    net = XSegNet(XSegConfig())
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x, y = torch.rand(4, 3, 256, 256), (torch.rand(4, 1, 256, 256) > 0.5).float()
    benchmark.pedantic(_train_step, args=(net, opt, x, y), rounds=2, warmup_rounds=1)


def test_xseg_train_step_64_small_batch8(benchmark) -> None:
    """One step of the test-sized net (64 px, 6 channels, 3 levels) on 8 faces, as in the learning test."""
    net = XSegNet(XSegConfig(resolution=64, base_channels=6, levels=3, bottleneck=64))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.rand(8, 3, 64, 64), (torch.rand(8, 1, 64, 64) > 0.5).float()
    benchmark.pedantic(_train_step, args=(net, opt, x, y), rounds=10, warmup_rounds=2)


def test_extended_landmark_mask_256(benchmark) -> None:
    """Drawing one EXTENDED landmark mask at 256 px."""
    pts51 = canonical_landmarks(FaceType.WHOLE_FACE, 256)
    jaw = np.stack([np.linspace(60, 196, 17), 150 + 50 * np.sin(np.linspace(0, np.pi, 17))], axis=1)
    lm = np.vstack([jaw, pts51]).astype(np.float32)
    m = benchmark(landmark_mask, lm, 256, "extended")
    assert m.shape == (256, 256)
