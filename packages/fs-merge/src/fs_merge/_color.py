"""Colour transfer: move the colour statistics of a source image onto those of a target image.

Notation used in the docstrings: ``x`` is a source pixel (a BGR 3-vector in [0, 1]), ``μs, Σs`` the source's
mean and 3x3 covariance, ``μt, Σt`` the target's, ``A^{1/2}`` the symmetric square root of a symmetric
positive semi-definite matrix (via its eigendecomposition). Every method returns an image shaped and typed like
``source``, clipped to the valid range.

Masked statistics (the ``-m`` methods, or any method given a ``mask``): only pixels whose mask value is
``>= 0.5`` enter the statistics; the resulting map is still applied to every source pixel. DeepFaceLab's ``-m``
modes instead multiply both images by the mask and then take statistics over *all* pixels, so every zeroed pixel
outside the mask counts as a black sample and drags the means and covariances toward black. fs-merge does not
copy that quirk.
"""

from __future__ import annotations

import enum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import ShapeError, parse_enum
from fs_merge._checks import as_float_image, check_color_image, check_mask, from_float_image

__all__ = ["ColorTransfer", "color_transfer", "hist_match"]

_EPS = 1e-6
"""Ridge added to covariances before inverting them (a grey image has a singular colour covariance)."""
_MIN_PIXELS = 16

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


class ColorTransfer(enum.Enum):
    """Colour transfer methods (DeepFaceLab's names). ``*-m`` take statistics inside the mask only."""

    NONE = "none"
    RCT = "rct"
    LCT = "lct"
    MKL = "mkl"
    IDT = "idt"
    SOT = "sot"
    RCT_M = "rct-m"
    LCT_M = "lct-m"
    MKL_M = "mkl-m"
    IDT_M = "idt-m"
    SOT_M = "sot-m"

    @classmethod
    def parse(cls, value: str | ColorTransfer | None) -> ColorTransfer:
        """Parse a method from its value (``"mkl-m"``), its name (``"MKL_M"``) or ``None`` (no transfer)."""
        if value is None:
            return cls.NONE
        return parse_enum(cls, value, "unknown colour transfer method")

    @property
    def base(self) -> ColorTransfer:
        """The method without its ``-m`` suffix."""
        return ColorTransfer(self.value.removesuffix("-m"))

    @property
    def masked(self) -> bool:
        """Whether this is a ``-m`` (masked statistics) variant."""
        return self.value.endswith("-m")


def _sqrtm(cov: F64, inverse: bool = False) -> F64:
    """Symmetric (inverse) square root of a symmetric PSD matrix (eigenvalues floored at 0, or 1e-12 to invert)."""
    w, v = np.linalg.eigh(cov)
    w = np.maximum(w, 1e-12 if inverse else 0.0)
    d = 1.0 / np.sqrt(w) if inverse else np.sqrt(w)
    return np.asarray((v * d) @ v.T, dtype=np.float64)


def _stats(x: F32) -> tuple[F64, F64]:
    """Mean and (biased) covariance of ``N x 3`` samples (float32 products, float64 3x3 result)."""
    mu = x.mean(axis=0, dtype=np.float64)
    xc = np.ascontiguousarray((x - mu.astype(np.float32)).T)
    cov = (xc @ xc.T).astype(np.float64) / max(x.shape[0], 1)
    return mu, cov


def mkl_matrix(cov_s: F64, cov_t: F64) -> F64:
    """Monge-Kantorovich linear map: ``T = Σs^{-1/2} (Σs^{1/2} Σt Σs^{1/2})^{1/2} Σs^{-1/2}``.

    ``T`` is symmetric positive definite and solves ``T Σs T = Σt``; it is the optimal-transport map between
    two Gaussians (Pitié and Kokaram 2007).
    """
    cov_s = cov_s + _EPS * np.eye(3)
    s_half = _sqrtm(cov_s)
    s_inv_half = _sqrtm(cov_s, inverse=True)
    mid = _sqrtm(s_half @ cov_t @ s_half)
    return np.asarray(s_inv_half @ mid @ s_inv_half, dtype=np.float64)


def _affine(x: F32, pick_s: F32, pick_t: F32, kind: ColorTransfer) -> F32:
    mu_s, cov_s = _stats(pick_s)
    mu_t, cov_t = _stats(pick_t)
    if kind is ColorTransfer.MKL:
        mat = mkl_matrix(cov_s, cov_t)
    else:  # LCT: x' = Σt^{1/2} Σs^{-1/2} (x - μs) + μt
        mat = _sqrtm(cov_t + _EPS * np.eye(3)) @ _sqrtm(cov_s + _EPS * np.eye(3), inverse=True)
    affine = np.hstack([mat, (mu_t - mat @ mu_s)[:, None]]).astype(np.float32)
    return np.asarray(cv2.transform(x.reshape(-1, 1, 3), affine), dtype=np.float32).reshape(-1, 3)


def _rct(src: F32, tgt: F32, sel_s: npt.NDArray[np.bool_], sel_t: npt.NDArray[np.bool_]) -> F32:
    lab_s = cv2.cvtColor(src, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    lab_t = cv2.cvtColor(tgt, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    ps, pt = lab_s[sel_s].astype(np.float64), lab_t[sel_t].astype(np.float64)
    mu_s, sd_s = ps.mean(axis=0), ps.std(axis=0)
    mu_t, sd_t = pt.mean(axis=0), pt.std(axis=0)
    scale = sd_t / np.maximum(sd_s, 1e-3)
    out = ((lab_s.astype(np.float64) - mu_s) * scale + mu_t).astype(np.float32)
    out[:, 0] = np.clip(out[:, 0], 0.0, 100.0)
    out[:, 1:] = np.clip(out[:, 1:], -127.0, 127.0)
    bgr = cv2.cvtColor(out.reshape(src.shape), cv2.COLOR_LAB2BGR)
    return np.asarray(bgr, dtype=np.float32).reshape(-1, 3)


def _quantile_map(values: F64, from_q: F64, to_q: F64) -> F64:
    """Apply the 1-D monotone map that sends the quantiles ``from_q`` to ``to_q`` (linear between them)."""
    ramp = np.linspace(0.0, 1e-7, from_q.shape[0])  # strictly increasing knots despite repeated values
    return np.asarray(np.interp(values, from_q + ramp, to_q), dtype=np.float64)


def _quantiles(v: F64, n: int) -> F64:
    return np.asarray(np.quantile(v, np.linspace(0.0, 1.0, n)), dtype=np.float64)


def _random_rotation(rng: np.random.Generator) -> F64:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return np.asarray(q * np.sign(np.diag(r)), dtype=np.float64)


def _subsample(n: int, rng: np.random.Generator, limit: int = 20000) -> npt.NDArray[np.intp]:
    """At most ``limit`` sorted row indices out of ``n`` (quantiles of 20k samples are plenty for 300 bins)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


def _idt(x: F32, sel_s: npt.NDArray[np.intp], pick_t: F32, iterations: int, bins: int, seed: int) -> F32:
    rng = np.random.default_rng(seed)
    xs = np.ascontiguousarray(x.T, dtype=np.float64)  # 3 x N: contiguous rows for the 1-D maps
    idx = sel_s[_subsample(sel_s.shape[0], rng)]
    pt = np.ascontiguousarray(pick_t[_subsample(pick_t.shape[0], rng)].T, dtype=np.float64)
    for _ in range(iterations):
        rot = _random_rotation(rng)
        xr, tr = rot.T @ xs, rot.T @ pt
        for axis in range(3):
            fq, tq = _quantiles(xr[axis, idx], bins), _quantiles(tr[axis], bins)
            xr[axis] = _quantile_map(xr[axis], fq, tq)
        xs = rot @ xr
    return np.ascontiguousarray(xs.T, dtype=np.float32)


def _sot(x: F32, sel_s: npt.NDArray[np.intp], pick_t: F32, steps: int, batch: int, bins: int, seed: int) -> F32:
    rng = np.random.default_rng(seed)
    xs = np.ascontiguousarray(x.T, dtype=np.float64)
    idx = sel_s[_subsample(sel_s.shape[0], rng)]
    pt = np.ascontiguousarray(pick_t[_subsample(pick_t.shape[0], rng)].T, dtype=np.float64)
    for _ in range(steps):
        dirs = rng.standard_normal((batch, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        proj_x, proj_t = dirs @ xs, dirs @ pt
        shift = np.empty_like(proj_x)
        for k in range(batch):
            fq, tq = _quantiles(proj_x[k, idx], bins), _quantiles(proj_t[k], bins)
            shift[k] = _quantile_map(proj_x[k], fq, tq) - proj_x[k]
        xs += (3.0 / batch) * (dirs.T @ shift)
    return np.ascontiguousarray(xs.T, dtype=np.float32)


def _selection(mask: Any, name: str, shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    sel = (check_mask(mask, name, shape) >= 0.5).reshape(-1)
    count = int(sel.sum())
    if count < _MIN_PIXELS:
        raise ShapeError(f"{name}: selects {count} pixels (mask >= 0.5); colour statistics need >= {_MIN_PIXELS}")
    return sel


def color_transfer(
    source: npt.NDArray[Any],
    target: npt.NDArray[Any],
    method: str | ColorTransfer = ColorTransfer.RCT,
    mask: npt.NDArray[Any] | None = None,
    *,
    target_mask: npt.NDArray[Any] | None = None,
    iterations: int = 10,
    seed: int = 0,
) -> npt.NDArray[Any]:
    """Recolour ``source`` so that its colour statistics match ``target``'s.

    Args:
        source: ``H x W x 3`` BGR, ``uint8`` [0, 255] or ``float32`` [0, 1]; the image to recolour.
        target: ``H' x W' x 3`` BGR, ``uint8`` or ``float32`` [0, 1]; the reference colours (any size).
        method: one of :class:`ColorTransfer` (or its string value):

            - ``rct`` (Reinhard et al. 2001), per channel in CIE Lab (OpenCV's float Lab):
              ``l' = (l - μs) · σt / σs + μt``; matches the per-channel means and standard deviations in Lab.
            - ``lct`` linear transfer: ``x' = Σt^{1/2} Σs^{-1/2} (x - μs) + μt``, so ``Cov(x') = Σt``.
            - ``mkl`` Monge-Kantorovich linear: ``x' = T (x - μs) + μt`` with the symmetric
              ``T = Σs^{-1/2} (Σs^{1/2} Σt Σs^{1/2})^{1/2} Σs^{-1/2}`` solving ``T Σs T = Σt``.
            - ``idt`` iterative distribution transfer (Pitié et al. 2005): ``iterations`` times, rotate the colour
              space by a random rotation ``R`` and match each of the three 1-D marginals of ``R x`` to the
              target's by quantile mapping ``f = F_t^{-1} ∘ F_s``; converges to the target's full 3-D
              distribution.
            - ``sot`` sliced optimal transport (Rabin et al. 2011): ``iterations`` steps; each step moves every
              pixel by ``(3/B) Σ_d (F_t,d^{-1}(F_s,d(d·x)) - d·x) d`` over ``B = 8`` random unit directions ``d``.
            - ``*-m``: the same with masked statistics (``mask`` required); ``none`` returns a copy.
        mask: optional ``H x W`` mask (``uint8`` or float [0, 1]) of ``source``; pixels with mask ``>= 0.5`` give
            the statistics (see the module docstring for DeepFaceLab's zero-pixel quirk, fixed here).
        target_mask: ``H' x W'`` mask of ``target``; defaults to ``mask`` (same size as ``target`` then).
        iterations: iterations of ``idt`` and steps of ``sot``.
        seed: seed of the random rotations/directions of ``idt`` and ``sot`` (results are deterministic).

    Returns:
        The recoloured image, same shape and dtype as ``source``, clipped to the valid range.

    Raises:
        ShapeError: bad image layout/dtype/range, mismatched mask sizes, or a mask selecting < 16 pixels.
        ValueError: unknown method, or a ``-m`` method without a mask.
    """
    kind = ColorTransfer.parse(method)
    src = check_color_image(source, "source")
    tgt = check_color_image(target, "target")
    if kind is ColorTransfer.NONE:
        return np.array(src)
    if kind.masked and mask is None:
        raise ValueError(f"method {kind.value!r} takes statistics inside a mask: pass mask=")
    if iterations < 1:
        raise ValueError(f"iterations: expected >= 1, got {iterations}")
    h, w = src.shape[:2]
    sel_s = _selection(mask, "mask", (h, w)) if mask is not None else np.ones(h * w, dtype=bool)
    t_mask = target_mask if target_mask is not None else mask
    if t_mask is not None:
        if target_mask is None and tgt.shape[:2] != src.shape[:2]:
            raise ShapeError(
                f"target_mask: target is {tgt.shape[1]}x{tgt.shape[0]} but source is {w}x{h}; "
                "pass target_mask= for a target of another size"
            )
        sel_t = _selection(t_mask, "target_mask", (tgt.shape[0], tgt.shape[1]))
    else:
        sel_t = np.ones(tgt.shape[0] * tgt.shape[1], dtype=bool)
    fs, ft = as_float_image(src), as_float_image(tgt)
    x, xt = fs.reshape(-1, 3), ft.reshape(-1, 3)
    base = kind.base
    if base is ColorTransfer.RCT:
        out = _rct(fs, ft, sel_s, sel_t)
    elif base in (ColorTransfer.LCT, ColorTransfer.MKL):
        out = _affine(x, x[sel_s], xt[sel_t], base)
    elif base is ColorTransfer.IDT:
        out = _idt(x, np.flatnonzero(sel_s), xt[sel_t], iterations, 300, seed)
    else:
        out = _sot(x, np.flatnonzero(sel_s), xt[sel_t], iterations, 8, 300, seed)
    return from_float_image(out.reshape(src.shape), src.dtype)


def hist_match(
    source: npt.NDArray[Any],
    target: npt.NDArray[Any],
    mask: npt.NDArray[Any] | None = None,
    *,
    target_mask: npt.NDArray[Any] | None = None,
    threshold: int = 255,
) -> npt.NDArray[Any]:
    """Per-channel histogram matching: each BGR channel ``c`` becomes ``F_t,c^{-1}(F_s,c(c))``.

    Args:
        source: ``H x W x 3`` BGR ``uint8`` or ``float32`` [0, 1]; the image to change.
        target: ``H' x W' x 3`` BGR, same conventions; the reference.
        mask: optional ``H x W`` mask of ``source`` (pixels ``>= 0.5`` give the statistics).
        target_mask: mask of ``target``; defaults to ``mask``.
        threshold: DeepFaceLab's ``hist_match_threshold`` (0..255): target quantiles are capped at
            ``threshold / 255``, which limits how bright the matched face may become; 255 = no cap.

    Returns:
        The matched image, same shape and dtype as ``source``.
    """
    src = check_color_image(source, "source")
    tgt = check_color_image(target, "target")
    if not 0 <= threshold <= 255:
        raise ValueError(f"threshold: expected 0..255, got {threshold}")
    h, w = src.shape[:2]
    sel_s = _selection(mask, "mask", (h, w)) if mask is not None else np.ones(h * w, dtype=bool)
    t_mask = target_mask if target_mask is not None else mask
    sel_t = (
        _selection(t_mask, "target_mask", (tgt.shape[0], tgt.shape[1]))
        if t_mask is not None
        else np.ones(tgt.shape[0] * tgt.shape[1], dtype=bool)
    )
    x = as_float_image(src).reshape(-1, 3).astype(np.float64)
    xt = as_float_image(tgt).reshape(-1, 3).astype(np.float64)
    out = np.empty_like(x)
    for c in range(3):
        fq, tq = _quantiles(x[sel_s, c], 256), _quantiles(xt[sel_t, c], 256)
        out[:, c] = _quantile_map(x[:, c], fq, np.minimum(tq, threshold / 255.0))
    return from_float_image(out.astype(np.float32).reshape(src.shape), src.dtype)
