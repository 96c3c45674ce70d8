"""Losses: DFL's DSSIM (one or two windows), MSE, eyes/mouth priority, mask loss, GAN and style terms.

Formulas follow DeepFaceLab's SAEHD (facts from ``models/Model_SAEHD/Model.py`` and ``core/leras/ops``):

* ``dssim(a, b, k) = (1 - mean(SSIM)) / 2`` with a ``k x k`` Gaussian window (sigma 1.5, 'valid' padding),
  ``k = int(R / 11.6)``; at ``R >= 256`` it is ``0.5 * dssim(k) + 0.5 * dssim(int(R / 23.2))``.
* with ``masked``: both images are multiplied by the target mask, blurred by ``max(1, R // 32)`` and
  mapped ``clip(blur, 0, 0.5) * 2`` (a mask with a soft inner edge).
* eyes/mouth priority: ``weight * mean |target - pred|`` inside the eyes-and-mouth mask.
* mask loss: ``weight * mean (target_mask - pred_mask)^2`` (``mask_loss="l1"``: ``mean |...|``, DFL 1.0).
* GAN (DFL "GAN power"): a U-Net PatchGAN sees masked real and reconstructed src faces; binary cross entropy
  on its patch and pixel logits, plus DFL's small background MSE that keeps GAN speckles out of the background.
* true face (DFL "true face power"): a code discriminator learns dst code -> 1, src code -> 0 (BCE, mean of
  the two); the autoencoder gets ``power * BCE(D(src code), 1)``.
* face style: mean/std match of the swap to the dst reconstruction inside the masks (DFL ``style_loss``);
  background style: DSSIM + MSE of the swap vs the dst target outside the mask.

Every term is averaged per sample, then over the batch; :func:`reconstruction_losses` returns the total and
its named parts (detached floats are taken by the trainer for the logs).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from fs_models import AEOutput
from fs_train.config import LossConfig
from fs_train.data import Batch
from fs_train.errors import ConfigError

__all__ = [
    "code_discriminator_loss",
    "discriminator_loss",
    "dssim",
    "gan_generator_loss",
    "gaussian_blur",
    "reconstruction_losses",
    "style_loss",
    "true_face_loss",
]


@functools.lru_cache(maxsize=32)
def _gauss_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    return g.float()


def _separable(x: torch.Tensor, g: torch.Tensor, padding: str) -> torch.Tensor:
    c = x.shape[1]
    k = g.to(device=x.device, dtype=x.dtype)
    kh = k.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    kv = k.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    if padding == "same":
        p = (k.numel() - 1) // 2
        q = k.numel() - 1 - p
        x = F.pad(x, (p, q, p, q), mode="reflect" if min(x.shape[-2:]) > max(p, q) else "replicate")
    x = F.conv2d(x, kh, groups=c)
    return F.conv2d(x, kv, groups=c)


def dssim(a: torch.Tensor, b: torch.Tensor, filter_size: int, sigma: float = 1.5) -> torch.Tensor:
    """Per-sample DSSIM ``(1 - SSIM) / 2`` of N x C x H x W images in [0, 1] (DFL's form); returns shape (N,).

    Computed in float32 (autocast is turned off inside) so bf16/fp16 training gets the same loss.
    """
    size = max(1, min(int(filter_size), a.shape[-1], a.shape[-2]))
    with torch.autocast(device_type=a.device.type, enabled=False):
        a, b = a.float(), b.float()
        g = _gauss_window(size, sigma)
        c1, c2 = 0.01**2, 0.03**2
        mu_a, mu_b = _separable(a, g, "valid"), _separable(b, g, "valid")
        num0 = mu_a * mu_b * 2.0
        den0 = mu_a.square() + mu_b.square()
        lum = (num0 + c1) / (den0 + c1)
        num1 = _separable(a * b, g, "valid") * 2.0
        den1 = _separable(a.square() + b.square(), g, "valid")
        cs = (num1 - num0 + c2) / (den1 - den0 + c2)
        ssim = (lum * cs).mean(dim=(1, 2, 3))
        return (1.0 - ssim) / 2.0


def gaussian_blur(x: torch.Tensor, radius: float) -> torch.Tensor:
    """DFL's ``gaussian_blur``: sigma = radius, kernel ``max(3, 2 * int(2 * radius) + 1)``, same size out."""
    if radius <= 0:
        return x
    size = max(3, 2 * int(2 * radius) + 1)
    # float32 with autocast off: oneDNN's bf16 depthwise convolution is slower than fp32's on CPU
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _separable(x.float(), _gauss_window(size, float(radius)), "same")


def style_loss(content: torch.Tensor, style: torch.Tensor, blur_radius: float, weight: float) -> torch.Tensor:
    """DFL's ``style_loss``: squared differences of per-channel mean and std (after a blur); shape (N,)."""
    if blur_radius > 0:
        content, style = gaussian_blur(content, blur_radius), gaussian_blur(style, blur_radius)
    c_mean, s_mean = content.mean(dim=(2, 3)), style.mean(dim=(2, 3))
    c_std = (content.var(dim=(2, 3), unbiased=False) + 1e-5).sqrt()
    s_std = (style.var(dim=(2, 3), unbiased=False) + 1e-5).sqrt()
    per = (c_mean - s_mean).square().sum(1) + (c_std - s_std).square().sum(1)
    return per * (weight / content.shape[1])


def _image_loss(target: torch.Tensor, pred: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    r = target.shape[-1]
    out = torch.zeros(target.shape[0], device=target.device, dtype=torch.float32)
    if cfg.dssim_weight > 0:
        if r >= cfg.two_window_from:
            out = out + 0.5 * cfg.dssim_weight * (
                dssim(target, pred, int(r / 11.6)) + dssim(target, pred, int(r / 23.2))
            )
        else:
            out = out + cfg.dssim_weight * dssim(target, pred, int(r / 11.6))
    if cfg.mse_weight > 0:
        out = out + cfg.mse_weight * (target.float() - pred.float()).square().mean(dim=(1, 2, 3))
    return out


def _soft_mask(mask: torch.Tensor) -> torch.Tensor:
    r = mask.shape[-1]
    return (gaussian_blur(mask, max(1, r // 32)).clamp(0.0, 0.5) * 2.0).detach()


def reconstruction_losses(
    out: AEOutput, batch: Batch, cfg: LossConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The autoencoder's losses for one micro-batch.

    Returns:
        ``(total, parts, extras)``: the scalar total (mean over the batch), per-part scalars (``src``, ``dst``,
        and the sub-terms), and tensors the GAN term reuses (``src_mask_blur``).
    """
    parts: dict[str, torch.Tensor] = {}
    extras: dict[str, torch.Tensor] = {}
    totals = []
    sides = (
        ("src", batch.target_src, out.src_src, batch.mask_src, out.src_src_mask, batch.em_src),
        ("dst", batch.target_dst, out.dst_dst, batch.mask_dst, out.dst_dst_mask, batch.em_dst),
    )
    for name, target, pred, mask, pred_mask, em in sides:
        target = target.float()
        pred = pred.float()
        side = torch.zeros(target.shape[0], device=target.device)
        if cfg.masked and mask is not None:
            blur = _soft_mask(mask)
            extras[f"{name}_mask_blur"] = blur
            img = _image_loss(target * blur, pred * blur, cfg)
        else:
            img = _image_loss(target, pred, cfg)
        parts[f"{name}_image"] = img.mean()
        side = side + img
        if cfg.eyes_mouth_weight > 0 and em is not None:
            prio = cfg.eyes_mouth_weight * ((target - pred) * em).abs().mean(dim=(1, 2, 3))
            parts[f"{name}_eyes_mouth"] = prio.mean()
            side = side + prio
        if cfg.mask_weight > 0 and mask is not None and pred_mask is not None:
            diff = mask - pred_mask.float()
            ml = cfg.mask_weight * (diff.abs() if cfg.mask_loss == "l1" else diff.square()).mean(dim=(1, 2, 3))
            parts[f"{name}_mask"] = ml.mean()
            side = side + ml
        parts[name] = side.mean()
        totals.append(side)
    total = (totals[0] + totals[1]).mean()
    r = batch.target_src.shape[-1]
    if (cfg.face_style_weight > 0 or cfg.bg_style_weight > 0) and out.src_dst is None:
        raise ConfigError("the style losses need the swapped faces: call the model's forward with swap=True")
    if cfg.face_style_weight > 0 and out.src_dst_mask is not None and out.dst_dst_mask is not None:
        assert out.src_dst is not None
        fs = style_loss(
            out.src_dst.float() * out.src_dst_mask.float().detach(),
            (out.dst_dst.float() * out.dst_dst_mask.float()).detach(),
            r // 8,
            10000.0 * cfg.face_style_weight / 100.0,
        ).mean()
        parts["face_style"] = fs
        total = total + fs
    if cfg.bg_style_weight > 0 and batch.mask_dst is not None:
        anti = 1.0 - _soft_mask(batch.mask_dst)
        assert out.src_dst is not None
        psd, tgt = out.src_dst.float() * anti, batch.target_dst.float() * anti
        w = 10.0 * cfg.bg_style_weight / 100.0
        bg = w * dssim(psd, tgt, int(r / 11.6)) + w * (psd - tgt).square().mean(dim=(1, 2, 3))
        parts["bg_style"] = bg.mean()
        total = total + bg.mean()
    return total, parts, extras


def _bce(logits: torch.Tensor, value: float) -> torch.Tensor:
    target = torch.full_like(logits, value)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def gan_generator_loss(
    disc: torch.nn.Module, out: AEOutput, batch: Batch, extras: dict[str, torch.Tensor], cfg: LossConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """DFL's generator GAN term for the src reconstruction (and its background MSE); returns (loss, fake input)."""
    blur = extras.get("src_mask_blur")
    fake = out.src_src * blur if blur is not None else out.src_src
    center, pixel = disc(fake)
    loss = cfg.gan_power * (_bce(center, 1.0) + _bce(pixel, 1.0))
    if blur is not None:
        anti = 1.0 - blur
        loss = loss + 0.02 * ((out.src_src.float() - batch.target_src.float()) * anti).square().mean()
    return loss, fake.detach()


def discriminator_loss(disc: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """DFL's discriminator loss: BCE(real -> 1, fake -> 0) averaged, on both the patch and the pixel logits."""
    rc, rp = disc(real)
    fc, fp = disc(fake)
    return 0.5 * (_bce(rc, 1.0) + _bce(fc, 0.0)) + 0.5 * (_bce(rp, 1.0) + _bce(fp, 0.0))


def true_face_loss(code_disc: torch.nn.Module, src_code: torch.Tensor, power: float) -> torch.Tensor:
    """DFL's true-face term for the autoencoder: ``power * BCE(D(src code), 1)`` (src codes should pass as dst's)."""
    return power * _bce(code_disc(src_code), 1.0)


def code_discriminator_loss(code_disc: torch.nn.Module, src_code: torch.Tensor, dst_code: torch.Tensor) -> torch.Tensor:
    """DFL's code discriminator loss: ``(BCE(D(dst), 1) + BCE(D(src), 0)) / 2`` on detached codes."""
    return 0.5 * (_bce(code_disc(dst_code.detach()), 1.0) + _bce(code_disc(src_code.detach()), 0.0))
