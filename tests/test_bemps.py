"""The BEMPS expected score change (mlal_core.bemps): hand-computed values and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlal_core import bemps, scoring
from mlal_core.errors import ConfigError

# One label, two members. Candidate x: a = (0.2, 0.6); reference x': q = (0.1, 0.5).
A2 = np.array([0.2, 0.6]).reshape(2, 1, 1)  # (E, nC, K)
Q2 = np.array([0.1, 0.5]).reshape(2, 1, 1)  # (E, nR, K)


def test_squared_error_two_members_by_hand():
    # alpha = beta = 1: S(p,1) = -(1-p)^2/2, S(p,0) = -p^2/2, so G(p) = -p(1-p)/2 and
    # D(w) = sum_e w_e G(q_e) - G(mix) = (sum_e w_e q_e^2 - mix^2) / 2 = Var_w(q) / 2.
    # prior w0 = (1/2, 1/2): mix = 0.3, E q^2 = (0.01 + 0.25)/2 = 0.13, D(w0) = (0.13 - 0.09)/2 = 0.02
    # w(1) = (0.2, 0.6)/0.8 = (1/4, 3/4): mix = 0.025 + 0.375 = 0.4,
    #        E q^2 = 0.0025 + 0.1875 = 0.19, D(w(1)) = (0.19 - 0.16)/2 = 0.015
    # w(0) = (0.8, 0.4)/1.2 = (2/3, 1/3): mix = 7/30, E q^2 = 0.02/3 + 0.25/3 = 0.09,
    #        D(w(0)) = (0.09 - 49/900)/2 = 16/900
    # abar = 0.4: dQ = 0.02 - (0.4 * 0.015 + 0.6 * 16/900) = 0.02 - (0.006 + 0.010667) = 1/300
    expected = 1.0 / 300.0
    w0 = np.array([0.5, 0.5])
    assert bemps.disagreement(Q2[:, 0, 0], w0, 1, 1) == pytest.approx(0.02, abs=1e-12)
    w1, w0c = bemps.posterior_weights(A2[:, 0, 0])
    np.testing.assert_allclose(w1, [0.25, 0.75])
    np.testing.assert_allclose(w0c, [2 / 3, 1 / 3])
    assert bemps.disagreement(Q2[:, 0, 0], w1, 1, 1) == pytest.approx(0.015, abs=1e-12)
    assert bemps.disagreement(Q2[:, 0, 0], w0c, 1, 1) == pytest.approx(16 / 900, abs=1e-12)
    naive = bemps.expected_score_change_naive(A2, Q2, 1, 1)
    assert naive.shape == (1, 1, 1)
    assert naive[0, 0, 0] == pytest.approx(expected, abs=1e-12)
    for method in ("auto", "closed", "table", "exact"):
        fast = bemps.expected_score_change(A2, Q2, 1, 1, method=method)
        assert fast[0, 0, 0] == pytest.approx(expected, abs=1e-12), method


def test_log_score_two_members_by_hand():
    # alpha = beta = 0: G(p) = p ln p + (1-p) ln(1-p), and (module docstring)
    # dQ = abar G(m1) + (1-abar) G(m0) - G(qbar) with
    # m1 = (0.2*0.1 + 0.6*0.5)/0.8 = 0.4, m0 = (0.8*0.1 + 0.4*0.5)/1.2 = 7/30, qbar = 0.3, abar = 0.4
    # G(0.4)  = 0.4 ln 0.4 + 0.6 ln 0.6        = -0.366516 - 0.306495 = -0.673012
    # G(7/30) = 7/30 ln(7/30) + 23/30 ln(23/30) = -0.339567 - 0.203706 = -0.543273
    # G(0.3)  = 0.3 ln 0.3 + 0.7 ln 0.7        = -0.361192 - 0.249672 = -0.610864
    # dQ = 0.4 (-0.673012) + 0.6 (-0.543273) + 0.610864 = 0.015695
    def G(p):
        return p * math.log(p) + (1 - p) * math.log(1 - p)

    expected = 0.4 * G(0.4) + 0.6 * G(7 / 30) - G(0.3)
    assert expected == pytest.approx(0.015695, abs=1e-6)
    assert bemps.expected_score_change_naive(A2, Q2, 0, 0)[0, 0, 0] == pytest.approx(expected, abs=1e-12)
    for method in ("auto", "table", "exact"):
        fast = bemps.expected_score_change(A2, Q2, 0, 0, method=method)
        assert fast[0, 0, 0] == pytest.approx(expected, abs=1e-10), method


@pytest.mark.parametrize(
    "alpha,beta",
    [
        (0.1, 3),
        (1, 1),
        (0, 0),
        (0, 2),
        (2, 0.5),
        (3, 0),
        (0.1, 2.5),
        (0.5, 0.5),
        (0, 0.7),
        # tiny positive alpha (and, mirrored, beta) next to an integer: the literal closed form
        # -B(alpha, beta+1) p + p^(alpha+1) (1/alpha + R) cancelled (error 4e-4 at 1e-12, 6e-12 at 1e-4)
        (1e-12, 3),
        (3, 1e-12),
        (1e-4, 2),
        (2, 1e-4),
        (1e-3, 8),
        (8, 1e-3),
        (1e-8, 1),
        (1e-300, 3),
    ],
)
def test_fast_G_matches_scoring(alpha, beta):
    p = np.concatenate([np.linspace(0, 1, 2001), np.logspace(-12, -1, 50), 1 - np.logspace(-12, -1, 50)])
    exact = scoring.expected_beta_score(
        np.clip(p, scoring.EPS, 1 - scoring.EPS), np.clip(p, scoring.EPS, 1 - scoring.EPS), alpha, beta
    )
    for method in ("auto", "table"):
        g, used = bemps.expected_score_fn(alpha, beta, method)
        # closed forms are exact to rounding; the table is within 1e-9 (worst near p = 0 or 1)
        tol = 1e-12 if used == "closed" else 1e-9
        np.testing.assert_allclose(g(p), exact, atol=tol, rtol=0)


@pytest.mark.parametrize("beta", [1, 3, 8])
def test_closed_G_is_continuous_as_alpha_goes_to_zero(beta):
    # G_{alpha,beta} - G_{0,beta} = O(alpha): at alpha = 1e-12 the two closed forms agree to ~1e-11
    # (the literal 1/alpha form was off by 4e-4 here), and the dQ they give agree too
    p = np.linspace(0.0, 1.0, 501)
    g_tiny, used = bemps.expected_score_fn(1e-12, beta)
    g_zero, _ = bemps.expected_score_fn(0.0, beta)
    assert used == "closed"
    np.testing.assert_allclose(g_tiny(p), g_zero(p), atol=1e-10, rtol=0)
    g_mirror, used = bemps.expected_score_fn(beta, 1e-12)
    assert used == "closed"
    np.testing.assert_allclose(g_mirror(p), g_zero(1.0 - p), atol=1e-10, rtol=0)
    rng = np.random.default_rng(beta)
    a = rng.beta(0.5, 1.5, size=(4, 6, 2))
    q = rng.beta(0.5, 1.5, size=(4, 5, 2))
    np.testing.assert_allclose(
        bemps.expected_score_change(a, q, 1e-12, beta),
        bemps.expected_score_change(a, q, 0.0, beta),
        atol=1e-10,
        rtol=0,
    )


def test_G_derivative_is_L0_minus_L1():
    p = np.linspace(0.05, 0.95, 19)
    h = 1e-6
    g, _ = bemps.expected_score_fn(0.1, 3)
    L1, L0 = scoring.beta_partial_losses(p, 0.1, 3)
    np.testing.assert_allclose((g(p + h) - g(p - h)) / (2 * h), L0 - L1, atol=1e-6)


def test_closed_method_refuses_non_integer_parameters():
    with pytest.raises(ConfigError):
        bemps.expected_score_fn(0.3, 2.5, "closed")
    with pytest.raises(ConfigError):
        bemps.expected_score_fn(-1, 2)


probs = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    q=st.lists(probs, min_size=1, max_size=5),
    raw_w=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=5, max_size=5),
    ab=st.sampled_from([(0.1, 3.0), (1.0, 1.0), (0.0, 0.0), (0.5, 2.5), (2.0, 0.0)]),
)
def test_disagreement_is_non_negative(q, raw_w, ab):
    q = np.array(q)
    w = np.array(raw_w[: len(q)]) + 1e-3
    w /= w.sum()
    assert bemps.disagreement(q, w, *ab) >= -1e-12


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), ab=st.sampled_from([(0.1, 3.0), (1.0, 1.0), (0.0, 0.0), (0.5, 2.5)]))
def test_fast_equals_naive_and_is_non_negative(seed, ab):
    rng = np.random.default_rng(seed)
    E = int(rng.integers(1, 5))
    a = rng.beta(0.5, 1.5, size=(E, 4, 3))
    q = rng.beta(0.5, 1.5, size=(E, 5, 3))
    fast = bemps.expected_score_change(a, q, *ab)
    np.testing.assert_allclose(fast, bemps.expected_score_change_naive(a, q, *ab), atol=1e-10)
    assert fast.min() >= -1e-12


def test_zero_change_when_members_agree():
    rng = np.random.default_rng(0)
    q = rng.random((4, 6, 3))
    a_agree = np.repeat(rng.random((1, 5, 3)), 4, axis=0)  # all members say the same at x
    np.testing.assert_allclose(bemps.expected_score_change(a_agree, q), 0.0, atol=1e-12)
    a = rng.random((4, 5, 3))
    q_agree = np.repeat(rng.random((1, 6, 3)), 4, axis=0)  # all members say the same at x'
    np.testing.assert_allclose(bemps.expected_score_change(a, q_agree), 0.0, atol=1e-12)
    # extreme candidates: every member says exactly 0 or exactly 1
    a_ext = np.zeros((4, 2, 3))
    a_ext[:, 1] = 1.0
    out = bemps.expected_score_change(a_ext, q)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, 0.0, atol=1e-12)


def test_chunked_equals_unchunked_and_threads():
    rng = np.random.default_rng(3)
    a = rng.beta(0.4, 2, size=(5, 37, 4)).astype(np.float32)
    q = rng.beta(0.4, 2, size=(5, 11, 4))
    ref = bemps.ReferenceSet(q)
    full = ref.change(a, memory_budget_mb=1024, n_threads=1)
    assert bemps.chunk_size_for(11, 1e-3) == 1
    tiny = ref.change(a, memory_budget_mb=1e-3, n_threads=2)  # chunks of one candidate, two threads
    # equal up to the summation order of the product over members (BLAS kernels differ by shape)
    np.testing.assert_allclose(full, tiny, atol=1e-15, rtol=0)
    # the thread count never changes the result
    np.testing.assert_array_equal(tiny, ref.change(a, memory_budget_mb=1e-3, n_threads=1))
    w = np.array([1.0, 0.5, 2.0, 0.0])
    summed, means = ref.change(
        a, sum_labels=True, label_weights=w, label_means=True, memory_budget_mb=1e-3, n_threads=2
    )
    np.testing.assert_allclose(summed, full @ w, atol=1e-14)
    np.testing.assert_allclose(means, full.mean(axis=1), atol=1e-14)


def test_label_mix_sums_to_weighted_labels():
    rng = np.random.default_rng(1)
    dq = rng.random((3, 4, 5))
    mix = np.eye(5) + rng.random((5, 5)) * (1 - np.eye(5))
    mixed = bemps.mix_labels(dq, mix)
    # out[..., n] = sum_m dq[..., m] mix[m, n]
    assert mixed[1, 2, 3] == pytest.approx(sum(dq[1, 2, m] * mix[m, 3] for m in range(5)))
    np.testing.assert_allclose(mixed.sum(-1), dq @ bemps.mixed_label_weights(mix))


def test_shape_errors():
    with pytest.raises(ConfigError):
        bemps.ReferenceSet(np.zeros((2, 3)))
    ref = bemps.ReferenceSet(np.full((2, 3, 4), 0.5))
    with pytest.raises(ConfigError):
        ref.change(np.full((3, 2, 4), 0.5))
    with pytest.raises(ConfigError):
        ref.change(np.full((2, 2, 4), 0.5), sum_labels=True, label_weights=np.ones(3))
