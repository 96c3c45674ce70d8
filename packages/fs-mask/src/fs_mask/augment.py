"""XSeg training augmentations (DeepFaceLab's XSeg sample generator's kinds, written afresh).

Each sample (aligned face + target mask, both at the training resolution) goes through, in this order:

1. **random background** (``p_background``): pixels outside the target mask are mixed (a random 15-100 %
   of the own background kept, as DFL) with another face of the set (randomly flipped/shifted), so the net
   cannot learn "background = whatever is at the border";
2. **geometry**: random rotation / scale / shift and a smooth random **warp** (a coarse grid of normal offsets
   upsampled to a dense remap), plus a horizontal flip; image and mask move together;
3. **colour**: random HSV shift and random levels (brightness/contrast/gamma);
4. **blur** (``p_blur``): Gaussian or motion blur of the image only;
5. **JPEG** (``p_jpeg``): re-encode the image at a random quality.

Everything is seeded by the ``numpy.random.Generator`` passed in (no global RNG).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from fs_mask.errors import MaskConfigError

__all__ = ["AugmentConfig", "augment_sample"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths and probabilities of the XSeg augmentations (DFL-like defaults); ``enabled=False`` turns all off."""

    enabled: bool = True
    p_background: float = 0.5
    rotation_deg: float = 10.0
    scale: float = 0.05
    shift: float = 0.05
    p_warp: float = 0.75
    p_flip: float = 0.5
    hue_shift: float = 0.1
    sat_shift: float = 0.25
    val_shift: float = 0.25
    p_blur: float = 0.25
    p_jpeg: float = 0.25
    jpeg_quality: tuple[int, int] = (15, 90)

    def __post_init__(self) -> None:
        for name in ("p_background", "p_warp", "p_flip", "p_blur", "p_jpeg"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise MaskConfigError(f"AugmentConfig.{name}: expected a probability in [0, 1], got {v!r}")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise MaskConfigError(
                f"AugmentConfig.jpeg_quality: expected 1 <= lo <= hi <= 100, got {self.jpeg_quality!r}"
            )


def _warp_maps(size: int, rng: np.random.Generator, cfg: AugmentConfig) -> tuple[F32, F32]:
    c = (size - 1) / 2.0
    angle = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
    scale = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    tx, ty = rng.uniform(-cfg.shift, cfg.shift, size=2) * size
    mat = cv2.getRotationMatrix2D((c, c), angle, scale)
    mat[:, 2] += (tx, ty)
    inv = cv2.invertAffineTransform(mat)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    mx = (inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]).astype(np.float32)
    my = (inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]).astype(np.float32)
    if rng.random() < cfg.p_warp:
        cells = int(rng.choice([4, 6, 8]))
        sigma = size / cells * 0.12
        grid = rng.normal(0.0, sigma, size=(2, cells + 1, cells + 1)).astype(np.float32)
        grid[:, [0, -1], :] = 0.0
        grid[:, :, [0, -1]] = 0.0
        mx += cv2.resize(grid[0], (size, size), interpolation=cv2.INTER_CUBIC)
        my += cv2.resize(grid[1], (size, size), interpolation=cv2.INTER_CUBIC)
    if rng.random() < cfg.p_flip:
        mx = mx[:, ::-1].copy()
        my = my[:, ::-1].copy()
    return mx, my


def _colour(img: U8, rng: np.random.Generator, cfg: AugmentConfig) -> U8:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL).astype(np.float32) / 255.0
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_shift, cfg.hue_shift)) % 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] + rng.uniform(-cfg.sat_shift, cfg.sat_shift), 0.0, 1.0)
    hsv[..., 2] = np.clip(hsv[..., 2] + rng.uniform(-cfg.val_shift, cfg.val_shift), 0.0, 1.0)
    out = cv2.cvtColor(np.round(hsv * 255.0).astype(np.uint8), cv2.COLOR_HSV2BGR_FULL).astype(np.float32) / 255.0
    lo = rng.uniform(0.0, 0.15, size=3)
    hi = rng.uniform(0.85, 1.0, size=3)
    gamma = rng.uniform(0.7, 1.4, size=3)
    out = np.clip((out - lo) / (hi - lo), 0.0, 1.0) ** gamma
    return np.round(out * 255.0).astype(np.uint8)


def _blur(img: U8, rng: np.random.Generator) -> U8:
    size = img.shape[0]
    k = int(rng.integers(1, max(2, size // 32) + 1)) * 2 + 1
    if rng.random() < 0.5:
        return np.asarray(cv2.GaussianBlur(img, (k, k), 0), dtype=np.uint8)
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = np.asarray(cv2.warpAffine(kernel, rot, (k, k)), dtype=np.float32)
    kernel /= max(float(kernel.sum()), 1e-6)
    return np.asarray(cv2.filter2D(img, -1, kernel), dtype=np.uint8)


def _jpeg(img: U8, rng: np.random.Generator, cfg: AugmentConfig) -> U8:
    q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:
        return img
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img if dec is None else np.asarray(dec, dtype=np.uint8)


def augment_sample(
    image: U8, mask: F32, background: U8 | None, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[U8, F32]:
    """Augment one training sample.

    Args:
        image: ``S x S x 3`` BGR uint8 aligned face.
        mask: ``S x S`` float32 target in [0, 1].
        background: another ``S x S x 3`` BGR uint8 face for the random background, or ``None``.
        rng: the random generator.
        cfg: strengths and probabilities.

    Returns:
        ``(image, mask)`` augmented, same shapes and dtypes.
    """
    if not cfg.enabled:
        return image, mask
    size = image.shape[0]
    img = image
    if background is not None and rng.random() < cfg.p_background:
        bg = background[:, ::-1] if rng.random() < 0.5 else background
        bg = np.roll(bg, tuple(rng.integers(-size // 4, size // 4 + 1, size=2)), axis=(0, 1))
        m3 = mask[..., None]
        keep = rng.uniform(0.15, 1.0)  # DFL keeps a random share of the own background: "ghost" mixes too
        own = img.astype(np.float32)
        mixed = own * keep + bg.astype(np.float32) * (1.0 - keep)
        img = np.round(own * m3 + mixed * (1.0 - m3)).astype(np.uint8)
    mx, my = _warp_maps(size, rng, cfg)
    img = np.asarray(cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101), dtype=np.uint8)
    out_mask = cv2.remap(mask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    img = _colour(np.asarray(img, dtype=np.uint8), rng, cfg)
    if rng.random() < cfg.p_blur:
        img = _blur(img, rng)
    if rng.random() < cfg.p_jpeg:
        img = _jpeg(img, rng, cfg)
    return img, np.clip(out_mask, 0.0, 1.0).astype(np.float32)
