"""Per-sample augmentation in numpy/OpenCV: DFL-style random warp, shared random affine + flip, colour, masks.

One sample gives the network input (random-warped, HSV-shifted), the target (same affine and flip, no warp)
and the target's masks, all ``R x R``. The random warp is DFL's "random warp V1" (facts from DFL's
``core/imagelib/warp.py``): a coarse grid of cell size ``R/2``, ``R/4`` or ``R/8`` whose inner nodes move by
``N(0, 0.24 * cell)``, upsampled to a dense map. Here the warp map is pushed through the affine
(``warpAffine`` of the smooth map, which is exact up to the map's bilinear interpolation), so the input costs
one ``remap`` instead of DFL's remap followed by a second resampling; the flip is folded into the affine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from fs_mask import MaskKind, landmark_mask
from fs_train._pose_warp import pose_warp_maps
from fs_train.config import AugmentConfig

__all__ = ["SideSpec", "augment_sample", "random_affine", "warp_grid"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

HULL_KIND = MaskKind.EXTENDED
"""The landmark mask used when a face has no stored mask: DFL's hull (component hulls, brows raised)."""


@dataclass(frozen=True)
class SideSpec:
    """How to augment one side (src or dst)."""

    resolution: int
    warp: bool
    flip: bool
    rotation: float
    scale: float
    shift: float
    zoom: float
    color_jitter: float
    hsv_power: float
    need_mask: bool
    need_em: bool
    interpolation: int = cv2.INTER_CUBIC
    pitch: float = 0.0
    yaw: float = 0.0

    @classmethod
    def build(cls, aug: AugmentConfig, resolution: int, *, is_src: bool, need_mask: bool, need_em: bool) -> SideSpec:
        """The spec of the src (``is_src``) or dst side from an :class:`AugmentConfig`."""
        return cls(
            resolution=resolution,
            warp=aug.random_warp,
            flip=aug.flip_src if is_src else aug.flip_dst,
            rotation=aug.rotation,
            scale=aug.scale,
            shift=aug.shift,
            zoom=1.0 + aug.src_scale / 100.0 if is_src else 1.0,
            color_jitter=aug.color_jitter,
            hsv_power=aug.hsv_power if is_src else 0.0,
            need_mask=need_mask or need_em,
            need_em=need_em,
            interpolation=cv2.INTER_CUBIC if aug.interpolation == "cubic" else cv2.INTER_LINEAR,
            pitch=aug.src_pitch if is_src else 0.0,
            yaw=aug.src_yaw if is_src else 0.0,
        )


def random_affine(rng: np.random.Generator, spec: SideSpec) -> F64:
    """The shared random 2x3 affine (rotation, scale, shift, zoom, 40 % flip) in ``R x R`` pixel coordinates."""
    r = spec.resolution
    rot = rng.uniform(-spec.rotation, spec.rotation)
    # DFL draws the scale from [1 / (1 + s), 1 + s], symmetric in log scale
    scale = rng.uniform(1.0 / (1.0 + spec.scale), 1.0 + spec.scale) * spec.zoom
    tx, ty = rng.uniform(-spec.shift, spec.shift, size=2) * r
    flip = spec.flip and rng.integers(10) < 4
    c = (r - 1) / 2.0
    a = math.radians(rot)
    ca, sa = scale * math.cos(a), scale * math.sin(a)
    m = np.array([[ca, sa, c - ca * c - sa * c + tx], [-sa, ca, c + sa * c - ca * c + ty], [0.0, 0.0, 1.0]])
    if flip:
        m = np.array([[-1.0, 0.0, r - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ m
    return m[:2]


def warp_grid(rng: np.random.Generator, r: int) -> tuple[F32, F32]:
    """DFL's random warp maps (``mapx``, ``mapy``: ``R x R`` float32 source coordinates per output pixel)."""
    cell = max(1, r // (2 ** int(rng.integers(1, 4))))
    count = r // cell + 1
    grid = np.linspace(0.0, float(r), count)
    mapx = np.broadcast_to(grid, (count, count)).copy()
    mapy = np.ascontiguousarray(mapx.T)
    noise = rng.standard_normal((2, count - 2, count - 2)) * (cell * 0.24)
    mapx[1:-1, 1:-1] += noise[0]
    mapy[1:-1, 1:-1] += noise[1]
    half = cell // 2
    big = r + 2 * half
    mx = cv2.resize(mapx.astype(np.float32), (big, big))[half : half + r, half : half + r]
    my = cv2.resize(mapy.astype(np.float32), (big, big))[half : half + r, half : half + r]
    return np.ascontiguousarray(mx), np.ascontiguousarray(my)


def _color(img: U8, rng: np.random.Generator, amount: float) -> tuple[float, float]:
    if amount <= 0:
        return 1.0, 0.0
    contrast = 1.0 + rng.uniform(-amount, amount)
    bright = rng.uniform(-amount, amount) * 0.5 * 255.0
    return contrast, bright


def _apply_color(img: U8, cb: tuple[float, float]) -> U8:
    if cb == (1.0, 0.0):
        return img
    out: U8 = np.asarray(cv2.convertScaleAbs(img, alpha=cb[0], beta=cb[1]), dtype=np.uint8)
    return out


def _hsv_shift(img: U8, rng: np.random.Generator, power: float) -> U8:
    """DFL's random HSV shift: hue by up to ``360 * power / 2`` degrees, saturation and value by ``power / 2``."""
    hsv = cv2.cvtColor(img.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_BGR2HSV)
    h_amount = max(1, int(360 * power * 0.5))
    hsv[..., 0] = (hsv[..., 0] + float(rng.integers(-h_amount, h_amount + 1))) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1] + (rng.random() - 0.5) * power, 0.0, 1.0)
    hsv[..., 2] = np.clip(hsv[..., 2] + (rng.random() - 0.5) * power, 0.0, 1.0)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    out: U8 = np.clip(bgr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def augment_sample(
    image: U8,
    landmarks: F32,
    stored_mask: U8 | None,
    spec: SideSpec,
    rng: np.random.Generator,
    out_input: U8,
    out_target: U8,
    out_mask: U8 | None,
    out_em: U8 | None,
    *,
    toward: tuple[float, float] | None = None,
) -> None:
    """Augment one face into the given output arrays (``R x R x 3`` uint8 images, ``R x R`` uint8 masks).

    Args:
        image: the aligned face, ``S x S x 3`` BGR uint8 (resized to ``R`` first when ``S != R``).
        landmarks: ``(68, 2)`` float32 face-space landmarks in ``S``-pixel coordinates.
        stored_mask: ``S x S`` uint8 mask (0/255) or ``None`` for the landmark hull.
        spec: the side's augmentation.
        rng: this sample's generator (draws happen in a fixed order, so a sample is a function of its seed).
        out_input / out_target / out_mask / out_em: destinations (masks may be ``None`` when not needed).
        toward: with a pose turn on (``spec.pitch`` / ``spec.yaw``), turn by this (pitch, yaw) clipped to the
            spec's limits instead of a uniform draw (``AugmentConfig.src_turn="dst"``).
    """
    r = spec.resolution
    s = image.shape[0]
    pts = landmarks.astype(np.float64)
    if s != r:
        k = r / s
        image = np.asarray(cv2.resize(image, (r, r), interpolation=cv2.INTER_AREA if s > r else cv2.INTER_CUBIC))
        pts = (pts + 0.5) * k - 0.5
        if stored_mask is not None:
            stored_mask = np.asarray(cv2.resize(stored_mask, (r, r), interpolation=cv2.INTER_LINEAR))
    m = random_affine(rng, spec)
    # drawn only when on (so samples without it keep their seeds' draws), before the warp (which only the input has)
    angles = None
    if spec.pitch or spec.yaw:
        lo, hi = (-spec.pitch, -spec.yaw), (spec.pitch, spec.yaw)
        angles = tuple(np.clip(toward, lo, hi) if toward is not None else rng.uniform(lo, hi))
    mapx, mapy = warp_grid(rng, r) if spec.warp else (None, None)
    cb = _color(image, rng, spec.color_jitter)
    size = (r, r)
    inter = spec.interpolation
    turn = None
    if angles is not None:
        tx, ty, pts = pose_warp_maps(pts, r, *angles)
        # the affine applies to the turned face: read the turn's maps through it (exact at pixel centres)
        turn = tuple(
            cv2.warpAffine(t, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for t in (tx, ty)
        )
        if mapx is not None and mapy is not None:  # the random warp reads the turned face too
            wx, wy = (cv2.remap(t, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for t in (tx, ty))
            mapx, mapy = np.asarray(wx, np.float32), np.asarray(wy, np.float32)
    if turn is None:
        cv2.warpAffine(image, m, size, dst=out_target, flags=inter, borderMode=cv2.BORDER_REPLICATE)
    else:
        cv2.remap(image, turn[0], turn[1], inter, dst=out_target, borderMode=cv2.BORDER_REPLICATE)
    if mapx is not None and mapy is not None:
        mx = cv2.warpAffine(mapx, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        my = cv2.warpAffine(mapy, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cv2.remap(image, mx, my, inter, dst=out_input, borderMode=cv2.BORDER_REPLICATE)
    else:
        out_input[...] = out_target
    if cb != (1.0, 0.0):
        out_target[...] = _apply_color(out_target, cb)
        out_input[...] = _apply_color(out_input, cb)
    if spec.hsv_power > 0:
        out_input[...] = _hsv_shift(out_input, rng, spec.hsv_power)
    if not spec.need_mask or out_mask is None:
        return
    tpts = pts @ m[:, :2].T + m[:, 2]
    if stored_mask is not None and turn is not None:
        cv2.remap(stored_mask, turn[0], turn[1], cv2.INTER_LINEAR, dst=out_mask, borderMode=cv2.BORDER_CONSTANT)
    elif stored_mask is not None:
        cv2.warpAffine(stored_mask, m, size, dst=out_mask, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    else:
        hull = landmark_mask(tpts, r, HULL_KIND)
        np.multiply(hull, 255.0, out=hull)
        out_mask[...] = hull.astype(np.uint8)
    if spec.need_em and out_em is not None:
        em = landmark_mask(tpts, r, MaskKind.EYES_MOUTH)
        em *= out_mask > 0
        top = float(em.max())
        out_em[...] = (em * (255.0 / top) + 0.5).astype(np.uint8) if top > 0 else 0
