"""Poisson blending against cv2.seamlessClone on a real face and a real 1080p frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fs_align import ShapeError
from fs_merge import MergeError, poisson_blend


def _cv_center(mask: np.ndarray, offset: tuple[int, int]) -> tuple[int, int]:
    """cv2.seamlessClone's ``p`` for our ``offset`` (it centres the mask's bounding box on p)."""
    inner = mask.copy()
    inner[0, :] = inner[-1, :] = 0
    inner[:, 0] = inner[:, -1] = 0
    x, y, w, h = cv2.boundingRect(inner)
    return offset[0] + x + w // 2, offset[1] + y + h // 2


@pytest.mark.parametrize(("scale", "offset"), [(1.0, (1180, 150)), (1.6, (900, 250))])
def test_matches_seamless_clone_inside_mask(scale: float, offset: tuple[int, int], lenna, breakingbad) -> None:
    size = round(256 * scale)
    src = cv2.resize(lenna.face, (size, size), interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(lenna.mask, (size, size), interpolation=cv2.INTER_NEAREST)
    dst = breakingbad.frame
    ref = cv2.seamlessClone(src, dst, mask.copy(), _cv_center(mask, offset), cv2.NORMAL_CLONE)
    inside = np.zeros(dst.shape[:2], bool)
    inside[offset[1] : offset[1] + size, offset[0] : offset[0] + size] = mask > 0
    exact = poisson_blend(src, dst, mask, offset, pad_fast=False)
    diff = np.abs(exact.astype(int) - ref.astype(int))
    assert diff.max() <= 1  # same equations; we round where OpenCV truncates
    assert diff[inside].mean() <= 0.6
    fast = poisson_blend(src, dst, mask, offset)
    diff = np.abs(fast.astype(int) - ref.astype(int))
    assert diff[inside].mean() <= 2.0  # <= 2/255 with the rectangle grown to fast FFT sizes
    outside = np.ones(dst.shape[:2], bool)
    outside[offset[1] - 40 : offset[1] + size + 40, offset[0] - 40 : offset[0] + size + 40] = False
    assert np.array_equal(fast[outside], dst[outside])
    assert not np.array_equal(fast[inside], dst[inside])


def test_identity_when_source_is_the_target(breakingbad) -> None:
    dst = breakingbad.frame
    x, y, s = 1200, 150, 300
    mask = np.zeros((s, s), np.uint8)
    cv2.circle(mask, (s // 2, s // 2), s // 3, 255, -1)
    out = poisson_blend(dst[y : y + s, x : x + s].copy(), dst, mask, (x, y))
    assert np.abs(out.astype(int) - dst.astype(int)).max() <= 1


def test_mixed_gradients_keep_destination_texture(breakingbad) -> None:
    dst = breakingbad.frame
    s = 200
    flat = np.full((s, s, 3), 128, np.uint8)  # no gradients: mixing keeps the destination's everywhere
    mask = np.zeros((s, s), np.uint8)
    cv2.circle(mask, (s // 2, s // 2), s // 3, 255, -1)
    mixed = poisson_blend(flat, dst, mask, (1250, 200), mixed=True)
    assert np.abs(mixed.astype(int) - dst.astype(int)).max() <= 1
    normal = poisson_blend(flat, dst, mask, (1250, 200))
    assert np.abs(normal.astype(int) - dst.astype(int)).max() > 20


def test_float_mask_equals_uint8_mask(lenna, breakingbad) -> None:
    a = poisson_blend(lenna.face, breakingbad.frame, lenna.mask, (1200, 200))
    b = poisson_blend(lenna.face, breakingbad.frame, lenna.mask.astype(np.float32) / 255.0, (1200, 200))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_bad_input(lenna, breakingbad) -> None:
    src, dst, mask = lenna.face, breakingbad.frame, lenna.mask
    with pytest.raises(MergeError, match="empty"):
        poisson_blend(src, dst, np.zeros_like(mask), (100, 100))
    with pytest.raises(MergeError, match="border"):
        poisson_blend(src, dst, np.full_like(mask, 255), (-1, 100))
    with pytest.raises(MergeError, match="partly outside"):
        poisson_blend(src, dst, mask, (1800, 100))
    with pytest.raises(ShapeError, match="mask"):
        poisson_blend(src, dst, mask[:100], (100, 100))
    with pytest.raises(ShapeError, match="grey"):
        poisson_blend(src, cv2.cvtColor(dst, cv2.COLOR_BGR2GRAY), mask, (100, 100))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        poisson_blend(src, dst, mask.astype(np.float32), (100, 100))
