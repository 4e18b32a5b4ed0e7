"""Beta scoring rules: closed forms vs numerical integration, limits, monotonicity, properness."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from mlal_core import scoring
from mlal_core.errors import ConfigError

# alpha / beta: exact 0 and 1 (the limits) as well as arbitrary values
params = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 6.0, allow_nan=False))
probs = st.floats(1e-4, 1 - 1e-4, allow_nan=False)


def quad_losses(p, a, b):
    L1 = integrate.quad(lambda t: t ** (a - 1) * (1 - t) ** b, p, 1, limit=200, epsabs=1e-13, epsrel=1e-11)[0]
    L0 = integrate.quad(lambda t: t ** a * (1 - t) ** (b - 1), 0, p, limit=200, epsabs=1e-13, epsrel=1e-11)[0]
    return L1, L0


@settings(max_examples=100, deadline=None)
@given(p=probs, a=params, b=params)
def test_closed_form_matches_quadrature(p, a, b):
    L1, L0 = scoring.beta_partial_losses(p, a, b)
    q1, q0 = quad_losses(p, a, b)
    assert L1 == pytest.approx(q1, rel=1e-7, abs=1e-10)
    assert L0 == pytest.approx(q0, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("a,b", [(0.0, 0.0), (0.0, 3.0), (0.0, 0.5), (2.5, 0.0), (0.1, 3.0), (1.0, 1.0)])
def test_limits_against_quadrature_on_a_grid(a, b):
    p = np.array([1e-6, 1e-3, 0.1, 0.4999, 0.5, 0.75, 0.999, 1 - 1e-6])
    L1, L0 = scoring.beta_partial_losses(p, a, b)
    for i, pi in enumerate(p):
        q1, q0 = quad_losses(pi, a, b)
        assert L1[i] == pytest.approx(q1, rel=1e-8, abs=1e-12)
        assert L0[i] == pytest.approx(q0, rel=1e-8, abs=1e-12)


def test_named_special_cases():
    p = np.array([0.05, 0.2, 0.5, 0.9])
    L1, L0 = scoring.beta_partial_losses(p, 0, 0)
    np.testing.assert_allclose(L1, -np.log(p))
    np.testing.assert_allclose(L0, -np.log1p(-p))
    L1, L0 = scoring.beta_partial_losses(p, 1, 1)
    np.testing.assert_allclose(L1, (1 - p) ** 2 / 2)
    np.testing.assert_allclose(L0, p**2 / 2)
    # alpha = 0, integer beta: -log p - sum_{k=1}^{beta} (1-p)^k / k
    L1, _ = scoring.beta_partial_losses(p, 0, 3)
    np.testing.assert_allclose(L1, -np.log(p) - sum((1 - p) ** k / k for k in (1, 2, 3)), rtol=1e-12)
    y = np.array([1, 0, 1, 0])
    np.testing.assert_allclose(scoring.beta_score(p, y, 0, 0), scoring.log_score(p, y))
    np.testing.assert_allclose(2 * scoring.beta_score(p, y, 1, 1), scoring.brier_score(p, y))


@settings(max_examples=100, deadline=None)
@given(a=params, b=params)
def test_nonnegative_and_monotone(a, b):
    p = np.linspace(0.001, 0.999, 200)
    L1, L0 = scoring.beta_partial_losses(p, a, b)
    assert (L1 >= 0).all() and (L0 >= 0).all()
    assert (np.diff(L1) <= 1e-15).all()  # L1 decreasing in p
    assert (np.diff(L0) >= -1e-15).all()  # L0 increasing in p


@settings(max_examples=60, deadline=None)
@given(a=params, b=params)
def test_proper_expected_score_maximal_at_truth(a, b):
    grid = np.round(np.arange(0.02, 0.99, 0.02), 10)
    for q in grid[::4]:
        expected = scoring.expected_beta_score(grid, q, a, b)
        at_truth = scoring.expected_beta_score(q, q, a, b)
        assert (expected <= at_truth + 1e-12 * max(1.0, abs(at_truth))).all()


def test_clipping_and_shapes():
    P = np.array([[0.0, 1.0], [0.3, 0.7]], dtype=np.float32)
    L1, L0 = scoring.beta_partial_losses(P, 0, 0)
    assert L1.shape == (2, 2) and np.isfinite(L1).all() and np.isfinite(L0).all()
    assert L1[0, 0] == pytest.approx(-np.log(scoring.EPS))
    s = scoring.beta_score(P, np.array([1, 0]))
    assert s.shape == (2, 2) and (s <= 0).all()


@pytest.mark.parametrize("a,b", [(-0.1, 1.0), (1.0, -2.0), (float("nan"), 1.0), (1.0, float("inf"))])
def test_invalid_parameters(a, b):
    with pytest.raises(ConfigError, match="alpha"):
        scoring.beta_partial_losses(0.5, a, b)


@pytest.mark.parametrize("tiny", [1e-12, 1e-8, 1e-300, scoring.TINY_PARAM / 2])
def test_tiny_parameters_approach_the_zero_limit(tiny):
    # the reference that mlal_core.bemps's fast G is checked against: for a tiny positive alpha
    # (or beta) the incomplete-beta formula must not cancel; the losses move by O(param) from the
    # alpha = 0 (beta = 0) limit, e.g. L1 changes by about alpha log(p)^2 / 2 <= 4e-10 at 1e-12
    p = np.array([1e-12, 1e-6, 0.01, 0.3, 0.5, 0.9, 1 - 1e-9])
    for a, b in ((tiny, 3.0), (3.0, tiny)):
        L1, L0 = scoring.beta_partial_losses(p, a, b)
        Z1, Z0 = scoring.beta_partial_losses(p, 0.0 if a == tiny else a, 0.0 if b == tiny else b)
        np.testing.assert_allclose(L1, Z1, rtol=0, atol=max(1e3 * tiny, 1e-13))
        np.testing.assert_allclose(L0, Z0, rtol=0, atol=max(1e3 * tiny, 1e-13))
