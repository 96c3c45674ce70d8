"""umeyama: exact recovery, least squares with noise, reflections, degenerate input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fs_align as fa


def _sim(angle: float, scale: float, t: tuple[float, float]) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[scale * c, -scale * s, t[0]], [scale * s, scale * c, t[1]], [0.0, 0.0, 1.0]])


@settings(max_examples=40, deadline=None)
@given(
    angle=st.floats(-3.1, 3.1),
    scale=st.floats(0.01, 100.0),
    tx=st.floats(-1e3, 1e3),
    ty=st.floats(-1e3, 1e3),
    seed=st.integers(0, 2**16),
)
def test_recovers_an_exact_similarity(angle, scale, tx, ty, seed):
    src = np.random.default_rng(seed).uniform(-50, 50, size=(12, 2))
    truth = _sim(angle, scale, (tx, ty))
    dst = src @ truth[:2, :2].T + truth[:2, 2]
    out = fa.umeyama(src, dst)
    assert out.shape == (3, 3) and out.dtype == np.float64
    np.testing.assert_allclose(out, truth, atol=1e-6 * max(1.0, scale, abs(tx), abs(ty)))


def test_two_points_are_enough():
    truth = _sim(0.4, 2.0, (5.0, -3.0))
    src = np.array([[0.0, 0.0], [10.0, 3.0]])
    np.testing.assert_allclose(fa.umeyama(src, src @ truth[:2, :2].T + truth[:2, 2]), truth, atol=1e-9)


def test_least_squares_with_noise_beats_perturbations():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (30, 2))
    dst = src @ _sim(0.2, 1.5, (3, 4))[:2, :2].T + 7 + rng.normal(0, 2.0, (30, 2))
    out = fa.umeyama(src, dst)

    def cost(t: np.ndarray) -> float:
        return float(((src @ t[:2, :2].T + t[:2, 2] - dst) ** 2).sum())

    best = cost(out)
    for delta in (_sim(0.01, 1, (0, 0)), _sim(0, 1.01, (0, 0)), _sim(0, 1, (0.1, 0)), _sim(-0.01, 0.99, (0, 0.1))):
        assert cost(delta @ out) > best


def test_rigid_fit_keeps_unit_scale():
    src = np.random.default_rng(2).uniform(0, 10, (8, 2))
    out = fa.umeyama(src, 3.0 * src, estimate_scale=False)
    assert np.linalg.det(out[:2, :2]) == pytest.approx(1.0)


def test_mirrored_points_give_a_rotation_not_a_reflection():
    src = np.random.default_rng(4).uniform(0, 10, (10, 2))
    out = fa.umeyama(src, src * [-1.0, 1.0])
    assert np.linalg.det(out[:2, :2]) > 0


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        (np.zeros((1, 2)), np.zeros((1, 2)), "at least 2 points"),
        (np.ones((5, 2)), np.random.default_rng(0).uniform(size=(5, 2)), "src: all 5 points coincide"),
        (np.random.default_rng(0).uniform(size=(5, 2)), np.ones((5, 2)), "dst: all 5 points coincide"),
        (np.zeros((4, 2)), np.zeros((5, 2)), "same number of points"),
        (np.zeros((4, 3)), np.zeros((4, 3)), "src: expected an N x 2"),
        (np.array([[0.0, 0.0], [np.nan, 1.0]]), np.zeros((2, 2)), "src: contains NaN"),
        (np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [0.0, np.inf]]), "dst: contains NaN"),
        # src varies only in x, dst only in y, and uncorrelated: no rotation is determined
        (
            np.array([[-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]),
            np.array([[0.0, -1.0], [0.0, -1.0], [0.0, 1.0], [0.0, 1.0]]),
            "uncorrelated",
        ),
        # a square and its mirror image: the best rotation fit has scale 0
        (
            np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]),
            np.array([[0.0, 0.0], [-1.0, 0.0], [-1.0, 1.0], [0.0, 1.0]]),
            "mirror image",
        ),
    ],
)
def test_degenerate_input_raises(src, dst, message):
    with pytest.raises(fa.ShapeError, match=message):
        fa.umeyama(src, dst)
