"""Colour transfer on real faces: each method moves the source's mean and covariance to the target's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.linalg

from fs_align import ShapeError
from fs_merge import ColorTransfer, color_transfer, hist_match
from fs_merge._color import mkl_matrix

# Stated tolerances (BGR in [0, 1], uint8 output, so clipping and rounding are included):
MEAN_TOL = 0.01  # max |mean difference| per channel (2.6 levels)
COV_TOL = {"lct": 0.05, "mkl": 0.05, "idt": 0.03, "sot": 0.03}  # ||Σ_out - Σ_t||_F / ||Σ_t||_F
LAB_TOL = 1.5  # rct: per-channel Lab mean and std within 1.5 Lab units


def _stats(img: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    x = img.reshape(-1, 3).astype(np.float64) / 255.0
    if mask is not None:
        x = x[mask.reshape(-1) >= 128]
    return x.mean(axis=0), np.cov(x, rowvar=False, bias=True)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("method", ["lct", "mkl", "idt", "sot"])
def test_method_matches_mean_and_covariance(method: str, lenna, breakingbad) -> None:
    # The inner 160 x 160 of the aligned faces: skin, eyes, mouth (no out-of-frame black, little clipping).
    src, tgt = lenna.face[48:208, 48:208], breakingbad.face[48:208, 48:208]
    out = color_transfer(src, tgt, method)
    assert out.shape == src.shape and out.dtype == np.uint8
    mu_o, cov_o = _stats(out)
    mu_t, cov_t = _stats(tgt)
    _, cov_s = _stats(src)
    assert np.abs(mu_o - mu_t).max() <= MEAN_TOL
    assert _rel(cov_o, cov_t) <= COV_TOL[method]
    assert _rel(cov_s, cov_t) > 0.3  # the test pair really differs


def test_rct_matches_lab_mean_and_std(lenna, breakingbad) -> None:
    src, tgt = lenna.face[48:208, 48:208], breakingbad.face[48:208, 48:208]
    out = color_transfer(src, tgt, "rct")

    def lab_stats(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3)
        return lab.mean(axis=0), lab.std(axis=0)

    mu_o, sd_o = lab_stats(out)
    mu_t, sd_t = lab_stats(tgt)
    assert np.abs(mu_o - mu_t).max() <= LAB_TOL
    assert np.abs(sd_o - sd_t).max() <= LAB_TOL
    assert np.abs(_stats(out)[0] - _stats(tgt)[0]).max() <= MEAN_TOL


def test_mkl_equals_closed_form_map(lenna, breakingbad) -> None:
    src = lenna.face[48:208, 48:208].astype(np.float32) / 255.0
    tgt = breakingbad.face[48:208, 48:208].astype(np.float32) / 255.0
    xs, xt = src.reshape(-1, 3).astype(np.float64), tgt.reshape(-1, 3).astype(np.float64)
    cs, ct = np.cov(xs, rowvar=False, bias=True), np.cov(xt, rowvar=False, bias=True)
    # Independent closed form with scipy's matrix square root.
    cs_h = np.real(scipy.linalg.sqrtm(cs))
    cs_ih = np.linalg.inv(cs_h)
    t_ref = cs_ih @ np.real(scipy.linalg.sqrtm(cs_h @ ct @ cs_h)) @ cs_ih
    assert np.allclose(mkl_matrix(cs, ct), t_ref, rtol=1e-3, atol=1e-3)
    assert np.allclose(t_ref @ cs @ t_ref, ct, atol=1e-8)
    assert np.allclose(t_ref, t_ref.T, atol=1e-8)
    expected = (xs - xs.mean(0)) @ t_ref.T + xt.mean(0)
    out = color_transfer(src, tgt, "mkl").reshape(-1, 3).astype(np.float64)
    inside = np.all((expected > 0.0) & (expected < 1.0), axis=1)
    assert inside.mean() > 0.9
    assert np.abs(out[inside] - expected[inside]).max() < 2e-4


@pytest.mark.parametrize("method", ["rct-m", "lct-m", "mkl-m", "idt-m", "sot-m"])
def test_masked_statistics_use_only_masked_pixels(method: str, lenna, breakingbad) -> None:
    src, tgt, mask = lenna.face, breakingbad.face, lenna.mask
    tmask = breakingbad.mask
    out = color_transfer(src, tgt, method, mask, target_mask=tmask)
    mu_o, cov_o = _stats(out, mask)
    mu_t, cov_t = _stats(tgt, tmask)
    assert np.abs(mu_o - mu_t).max() <= MEAN_TOL
    if method != "rct-m":  # the masked face skin saturates more than the crop: looser covariance bounds
        assert _rel(cov_o, cov_t) <= {"lct-m": 0.1, "mkl-m": 0.1, "idt-m": 0.05, "sot-m": 0.05}[method]
    if method == "mkl-m":
        # DeepFaceLab's quirk: zero the pixels outside the mask, then take statistics over all pixels.
        zs = (src * (mask[:, :, None] >= 128)).astype(np.uint8)
        zt = (tgt * (tmask[:, :, None] >= 128)).astype(np.uint8)
        quirk = color_transfer(zs, zt, "mkl")
        quirk_src = color_transfer(src, tgt, "mkl", mask=None)
        assert quirk.shape == quirk_src.shape
        mu_q, _ = _stats(quirk, mask)
        assert np.abs(mu_q - mu_t).max() > 3 * np.abs(mu_o - mu_t).max()


def test_float_input_and_none(lenna, breakingbad) -> None:
    src = lenna.face.astype(np.float32) / 255.0
    out = color_transfer(src, breakingbad.face, "lct")
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    same = color_transfer(lenna.face, breakingbad.face, ColorTransfer.NONE)
    assert np.array_equal(same, lenna.face) and same is not lenna.face


def test_idt_sot_are_deterministic(lenna, breakingbad) -> None:
    for method in ("idt", "sot"):
        a = color_transfer(lenna.face, breakingbad.face, method, seed=3)
        b = color_transfer(lenna.face, breakingbad.face, method, seed=3)
        assert np.array_equal(a, b)


def test_hist_match_matches_channel_quantiles(lenna, breakingbad) -> None:
    out = hist_match(lenna.face, breakingbad.face)
    for c in range(3):
        q_o = np.quantile(out[:, :, c], [0.1, 0.5, 0.9])
        q_t = np.quantile(breakingbad.face[:, :, c], [0.1, 0.5, 0.9])
        assert np.abs(q_o - q_t).max() <= 3.0
    capped = hist_match(lenna.face, breakingbad.face, threshold=128)
    assert capped.max() <= 129


def test_bad_input(lenna, breakingbad) -> None:
    grey = cv2.cvtColor(lenna.face, cv2.COLOR_BGR2GRAY)
    with pytest.raises(ShapeError, match=r"source.*grey"):
        color_transfer(grey, breakingbad.face, "rct")
    with pytest.raises(ValueError, match="unknown colour transfer"):
        color_transfer(lenna.face, breakingbad.face, "nope")
    with pytest.raises(ValueError, match="mask="):
        color_transfer(lenna.face, breakingbad.face, "mkl-m")
    with pytest.raises(ShapeError, match="mask"):
        color_transfer(lenna.face, breakingbad.face, "mkl", np.ones((10, 10), np.uint8))
    with pytest.raises(ShapeError, match="selects 0 pixels"):
        color_transfer(lenna.face, breakingbad.face, "mkl-m", np.zeros((256, 256), np.uint8))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        color_transfer(lenna.face.astype(np.float32), breakingbad.face, "rct")
    with pytest.raises(ShapeError, match="target_mask"):
        color_transfer(lenna.face, breakingbad.frame, "mkl", lenna.mask)
