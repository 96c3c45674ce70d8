"""``merge_face``: paste a generated aligned face back into its frame."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import Interpolation, ShapeError, transform_points, unwarp_face, warp_face
from fs_merge._checks import check_color_image, check_mask, check_matrix
from fs_merge._color import ColorTransfer, color_transfer, hist_match
from fs_merge._config import MergeConfig, MergeMode, SharpenMode
from fs_merge._mask import clip_mask, erode_mask, feather_mask
from fs_merge._poisson import blend_region
from fs_merge.errors import MergeError

__all__ = ["merge_face", "motion_from_landmarks"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


def motion_from_landmarks(previous: npt.ArrayLike, current: npt.ArrayLike) -> tuple[float, float]:
    """The face's motion between two frames: the mean displacement ``(dx, dy)`` of its landmarks in pixels.

    Args:
        previous: ``(N, 2)`` (x, y) landmarks in the previous frame.
        current: ``(N, 2)`` landmarks of the same face in the current frame.
    """
    a, b = np.asarray(previous, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 2 or not np.all(np.isfinite(a) & np.isfinite(b)):
        raise ShapeError(f"landmarks: expected two finite N x 2 arrays of equal shape, got {a.shape} and {b.shape}")
    d = (b - a).mean(axis=0)
    return float(d[0]), float(d[1])


def _filter_face(face: U8, cfg: MergeConfig) -> U8:
    out: npt.NDArray[Any] = face
    if cfg.sharpen is not SharpenMode.NONE and cfg.sharpen_amount != 0:
        k = 2 * cfg.sharpen_radius + 1
        if cfg.sharpen is SharpenMode.GAUSSIAN:
            soft = cv2.GaussianBlur(out, (k, k), 0)
        else:
            soft = cv2.blur(out, (k, k))
        amount = cfg.sharpen_amount / 100.0
        if amount > 0:  # unsharp mask: face + a * (face - blurred)
            out = cv2.addWeighted(out, 1.0 + 2.0 * amount, soft, -2.0 * amount, 0.0)
        else:
            out = cv2.addWeighted(out, 1.0 + amount, soft, -amount, 0.0)
    if cfg.denoise_power > 0:
        sigma = 2.0 + cfg.denoise_power * 0.8
        out = cv2.bilateralFilter(out, 5, sigma, sigma)
    return np.asarray(out, dtype=np.uint8)


def _motion_kernel(motion: tuple[float, float], power: int) -> F32 | None:
    length = math.hypot(*motion) * power / 100.0
    if length < 1.0:
        return None
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    ux, uy = motion[0] / math.hypot(*motion), motion[1] / math.hypot(*motion)
    for t in np.linspace(-length / 2.0, length / 2.0, 2 * size + 1):
        kernel[round(c + t * uy), round(c + t * ux)] = 1.0
    return np.asarray(kernel / kernel.sum(), dtype=np.float32)


def _paste_box(mask_face: F32, matrix: npt.NDArray[np.float64], frame_hw: tuple[int, int], pad: int) -> Any:
    """Frame box (x0, y0, x1, y1) covering the mask's nonzero area (+pad), and whether it was cut by the frame."""
    ys, xs = np.nonzero(mask_face > 0)
    if ys.size == 0:
        raise MergeError("face_mask: empty (all zero); nothing to paste")
    corners = np.array(
        [
            [xs.min() - 1, ys.min() - 1],
            [xs.max() + 1, ys.min() - 1],
            [xs.max() + 1, ys.max() + 1],
            [xs.min() - 1, ys.max() + 1],
        ],
        dtype=np.float64,
    )
    pts = transform_points(corners, matrix, invert=True)
    h, w = frame_hw
    x0, y0 = math.floor(float(pts[:, 0].min())) - pad, math.floor(float(pts[:, 1].min())) - pad
    x1, y1 = math.ceil(float(pts[:, 0].max())) + pad + 1, math.ceil(float(pts[:, 1].max())) + pad + 1
    cut = x0 < 0 or y0 < 0 or x1 > w or y1 > h
    box = (max(0, x0), max(0, y0), min(w, x1), min(h, y1))
    if box[2] - box[0] < 3 or box[3] - box[1] < 3:
        raise MergeError(f"face: its mask lands outside the {w}x{h} frame (box x {x0}..{x1}, y {y0}..{y1})")
    return box, cut


def _inside_frame(matrix: npt.NDArray[np.float64], size: int, frame_hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """``S x S`` bool: which face pixels map inside the frame (so out-of-frame black is kept out of statistics)."""
    inv = cv2.invertAffineTransform(matrix)
    grid = np.arange(size, dtype=np.float32)
    fx = inv[0, 0] * grid[None, :] + inv[0, 1] * grid[:, None] + inv[0, 2]
    fy = inv[1, 0] * grid[None, :] + inv[1, 1] * grid[:, None] + inv[1, 2]
    return np.asarray((fx >= 0) & (fy >= 0) & (fx <= frame_hw[1] - 1) & (fy <= frame_hw[0] - 1))


def _shift(matrix: npt.NDArray[np.float64], x0: int, y0: int) -> npt.NDArray[np.float64]:
    """``image_to_face`` for a frame crop whose top-left is (x0, y0) in the frame."""
    out = matrix.copy()
    out[:, 2] += matrix[:, :2] @ np.array([x0, y0], dtype=np.float64)
    return np.asarray(out, dtype=np.float64)


def _seamless_roi(face_roi: U8, frame: U8, seam: U8, origin: tuple[int, int], mixed: bool) -> U8:
    """Poisson-clone ``face_roi`` (a frame crop at ``origin``) into ``frame``; return the same crop of the result."""
    x0, y0 = origin
    (rx, ry, rw, rh), patch = blend_region(face_roi, frame, seam, origin, mixed=mixed)
    h, w = seam.shape
    out = frame[y0 : y0 + h, x0 : x0 + w].copy()
    ix0, iy0 = max(rx, x0), max(ry, y0)
    ix1, iy1 = min(rx + rw, x0 + w), min(ry + rh, y0 + h)
    out[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = patch[iy0 - ry : iy1 - ry, ix0 - rx : ix1 - rx]
    return np.asarray(out, dtype=np.uint8)


def merge_face(
    frame: U8,
    face: npt.NDArray[Any],
    face_mask: npt.NDArray[Any],
    image_to_face: npt.ArrayLike,
    config: MergeConfig | None = None,
    *,
    motion: tuple[float, float] | None = None,
) -> U8:
    """Paste a generated aligned face (with its mask) back into the frame it was cut from.

    Pipeline: cut the destination face out of ``frame`` with ``image_to_face`` (``fs_align.warp_face``); colour
    transfer the generated face against it (``config.color_transfer``, masked statistics for ``*-m``); hist-match
    for the ``*hist-match`` modes; sharpen/blur/denoise in face space; unwarp face and mask into the frame box the
    mask covers (``fs_align.unwarp_face``); erode/dilate, clip to the face square, feather; composite by
    ``config.mode``; motion-blur the pasted face along ``motion``.

    Args:
        frame: ``H x W x 3`` BGR ``uint8`` frame (not modified).
        face: ``S x S x 3`` BGR ``uint8`` (or ``float32`` in [0, 1]) generated face in face space.
        face_mask: ``S x S`` mask of the face, ``uint8`` 0..255 or float [0, 1].
        image_to_face: ``(2, 3)`` affine from frame pixels to face pixels (``fs_align.alignment_matrix``).
        config: :class:`MergeConfig` (defaults: overlay with rct).
        motion: ``(dx, dy)`` of the face since the previous frame (:func:`motion_from_landmarks`), used by
            ``config.motion_blur_power``.

    Returns:
        A new ``H x W x 3`` BGR ``uint8`` frame; for ``raw-predict`` the processed ``S x S x 3`` face.

    Raises:
        ShapeError: grey or wrongly shaped frame/face, mask size not the face's, a bad matrix.
        MergeError: an empty mask, or a mask reaching outside the frame without ``config.allow_partial``.
    """
    cfg = config if config is not None else MergeConfig()
    img = check_color_image(frame, "frame")
    if img.dtype != np.uint8:
        raise ShapeError(f"frame: expected H x W x 3 BGR uint8, got dtype {img.dtype}")
    fc = check_color_image(face, "face")
    if fc.dtype != np.uint8:
        fc = np.asarray(np.rint(fc * 255.0), dtype=np.uint8)
    size = fc.shape[0]
    if fc.shape[1] != size:
        raise ShapeError(f"face: expected a square S x S x 3 aligned face, got {fc.shape[1]}x{fc.shape[0]}")
    fmask = check_mask(face_mask, "face_mask", (size, size))
    mat = check_matrix(image_to_face)
    hw = (img.shape[0], img.shape[1])
    pad = max(cfg.feather_px, -cfg.erode_px, 0) + 4
    box, cut = _paste_box(fmask, mat, hw, pad)
    if cut and not cfg.allow_partial and cfg.mode is not MergeMode.RAW_PREDICT:
        raise MergeError(
            f"face: its mask reaches outside the {hw[1]}x{hw[0]} frame; set MergeConfig(allow_partial=True) "
            "to merge the visible part"
        )
    fc = _filter_face(_match_colours(img, fc, fmask, mat, cfg), cfg)
    if cfg.mode is MergeMode.RAW_PREDICT:
        return fc
    return _composite(img, fc, fmask, mat, cfg, box, cut, motion)


def _match_colours(img: U8, fc: U8, fmask: F32, mat: npt.NDArray[np.float64], cfg: MergeConfig) -> U8:
    """Face space: colour transfer and (for the hist-match modes) histogram matching against the dst face."""
    hist = cfg.mode in (MergeMode.HIST_MATCH, MergeMode.SEAMLESS_HIST_MATCH)
    if cfg.color_transfer is ColorTransfer.NONE and not hist:
        return fc
    size = fc.shape[0]
    hw = (img.shape[0], img.shape[1])
    dst_face = np.asarray(warp_face(img, mat, size), dtype=np.uint8)
    valid = _inside_frame(mat, size, hw)
    stats_mask = ((fmask >= 0.5) & valid).astype(np.float32)
    if cfg.color_transfer is not ColorTransfer.NONE:
        masked = cfg.color_transfer.masked
        fc = color_transfer(
            fc,
            dst_face,
            cfg.color_transfer.base,
            fmask if masked else None,
            target_mask=stats_mask if masked else valid.astype(np.float32),
        )
    if hist:
        fc = hist_match(
            fc,
            dst_face,
            fmask if cfg.masked_hist_match else None,
            target_mask=stats_mask if cfg.masked_hist_match else valid.astype(np.float32),
            threshold=cfg.hist_match_threshold,
        )
    return fc


def _frame_mask(
    fmask: F32, shifted: npt.NDArray[np.float64], scale: float, roi_shape: tuple[int, int], cfg: MergeConfig
) -> tuple[F32, F32]:
    """The mask in the frame box: unwarped, eroded, clipped to the face square, feathered (and the hard one)."""
    size = fmask.shape[0]
    # One warp for the mask and the face area (the face square shrunk so a feathered edge stays inside it).
    margin = min(size // 2 - 1, math.ceil((cfg.feather_px + 2) * scale)) if cfg.clip_to_face else 0
    area = np.zeros((size, size), np.float32)
    area[margin : size - margin, margin : size - margin] = 1.0
    both = unwarp_face(np.dstack([fmask, area]), shifted, roi_shape, interpolation=Interpolation.LINEAR)
    both = np.asarray(both, np.float32)
    m = np.clip(both[:, :, 0], 0.0, 1.0)
    m = erode_mask(m, cfg.erode_px)
    if cfg.clip_to_face:
        m = clip_mask(m, (both[:, :, 1] > 0.999).astype(np.float32))
    return feather_mask(m, cfg.feather_px, cfg.feather), m


def _composite(
    img: U8,
    fc: U8,
    fmask: F32,
    mat: npt.NDArray[np.float64],
    cfg: MergeConfig,
    box: tuple[int, int, int, int],
    cut: bool,
    motion: tuple[float, float] | None,
) -> U8:
    """Frame box: unwarp the face, build the mask, composite by ``cfg.mode``, motion-blur along ``motion``."""
    size = fc.shape[0]
    hw = (img.shape[0], img.shape[1])
    x0, y0, x1, y1 = box
    shifted = _shift(mat, x0, y0)
    roi_shape = (y1 - y0, x1 - x0)
    face_roi = np.asarray(unwarp_face(fc, shifted, roi_shape), dtype=np.uint8)
    frame_roi = img[y0:y1, x0:x1]
    out = img.copy()
    if cfg.mode is MergeMode.RAW_RGB:
        square = np.asarray(unwarp_face(np.ones((size, size), np.float32), shifted, roi_shape), np.float32)
        m3 = np.clip(square, 0.0, 1.0)[:, :, None]
        out[y0:y1, x0:x1] = np.rint(frame_roi * (1.0 - m3) + face_roi * m3).astype(np.uint8)
        return np.asarray(out, dtype=np.uint8)
    scale = math.sqrt(abs(float(np.linalg.det(mat[:, :2]))))  # face pixels per frame pixel
    m, hard = _frame_mask(fmask, shifted, scale, roi_shape, cfg)
    if cut:  # allow_partial: keep the frame's outermost pixel ring out of the seamless mask
        hard = hard.copy()
        if y0 == 0:
            hard[0, :] = 0.0
        if x0 == 0:
            hard[:, 0] = 0.0
        if y1 == hw[0]:
            hard[-1, :] = 0.0
        if x1 == hw[1]:
            hard[:, -1] = 0.0
    if not np.any(m > 0):
        raise MergeError("face_mask: nothing of the mask is left after erode/clip; reduce erode_px")
    pasted = face_roi
    if cfg.mode in (MergeMode.SEAMLESS, MergeMode.SEAMLESS_HIST_MATCH):
        seam = ((hard > 0.5) * 255).astype(np.uint8)
        if np.any(seam):
            pasted = _seamless_roi(face_roi, img, seam, (x0, y0), cfg.seamless_mixed)
    m3 = m[:, :, None]
    comp = frame_roi * (1.0 - m3) + pasted * m3
    if cfg.motion_blur_power > 0 and motion is not None:
        kernel = _motion_kernel(motion, cfg.motion_blur_power)
        if kernel is not None:
            blurred = cv2.filter2D(comp.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REPLICATE)
            comp = comp * (1.0 - m3) + blurred * m3
    out[y0:y1, x0:x1] = np.clip(np.rint(comp), 0, 255).astype(np.uint8)
    return np.asarray(out, dtype=np.uint8)
