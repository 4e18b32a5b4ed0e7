"""Correlation matrices A / NegA (CRAB Eq. 8, 9), CorrAvg and the CRAB helpers."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlal_core import correlation as corr
from mlal_core.errors import ConfigError

# The same 4 x 3 matrix as test_stats. Co-occurrences: (0,1) rows 0,2; (0,2) row 2; (1,2) row 2.
# A[m, n] = C[m, n] / count(n), counts (3, 2, 2)
Y = np.array([[1, 1, 0],
              [1, 0, 0],
              [1, 1, 1],
              [0, 0, 1]], dtype=np.uint8)
A_HAND = np.array([[1.0, 2 / 2, 1 / 2],
                   [2 / 3, 1.0, 1 / 2],
                   [1 / 3, 1 / 2, 1.0]])
NEGA_HAND = np.array([[0.0, 0.0, 1 / 2],
                      [1 / 3, 0.0, 1 / 2],
                      [2 / 3, 1 / 2, 0.0]])


def test_hand_computed_matrices():
    np.testing.assert_allclose(corr.positive_correlation(Y), A_HAND)
    np.testing.assert_allclose(corr.negative_correlation(Y), NEGA_HAND)
    # CorrAvg = (1 + 1/2 + 2/3 + 1/2 + 1/3 + 1/2) / 6 = 7/12
    assert corr.corr_avg(Y) == pytest.approx(7 / 12)
    np.testing.assert_allclose(corr.positive_correlation(sp.csr_matrix(Y)), A_HAND)
    np.testing.assert_allclose(corr.negative_correlation(Y.astype(bool)), NEGA_HAND)


def test_unseen_label_has_zero_columns_and_is_left_out_of_corr_avg():
    Yu = np.array([[1, 0, 0], [1, 1, 0]], dtype=np.uint8)
    A = corr.positive_correlation(Yu)
    N = corr.negative_correlation(Yu)
    assert (A[:, 2] == 0).all() and (N[:, 2] == 0).all()
    assert A[2, 0] == 0 and N[2, 0] == 1  # label 2 is never present with label 0
    assert corr.corr_avg(Yu) == pytest.approx((1 + 0.5) / 2)
    assert math.isnan(corr.corr_avg(np.array([[1, 0], [1, 0]])))


def test_corr_avg_over_present_or_all_pairs_hand():
    # Yu: label 2 absent. A off-diagonal: A[1,0] = 1/2, A[0,1] = 1, every entry of row/column 2 = 0
    Yu = np.array([[1, 0, 0], [1, 1, 0]], dtype=np.uint8)
    assert corr.corr_avg(Yu, over="present") == pytest.approx((1 / 2 + 1) / 2)  # pairs (0,1), (1,0)
    assert corr.corr_avg(Yu, over="all") == pytest.approx((1 / 2 + 1 + 0 + 0 + 0 + 0) / 6)  # all 6 pairs
    # every label occurs: both readings are the plain off-diagonal mean, 7/12
    assert corr.corr_avg(Y, over="all") == pytest.approx(7 / 12) == corr.corr_avg(Y, over="present")
    # "all" is defined from K = 2 even when only one label occurs; "present" is not
    Y1 = np.array([[1, 0], [1, 0]])
    assert corr.corr_avg(Y1, over="all") == 0.0 and math.isnan(corr.corr_avg(Y1))
    assert math.isnan(corr.corr_avg(np.ones((3, 1)), over="all"))


def test_corr_avg_default_reproduces_meta_json():
    # medical's official train split (pool + valid) lacks 7 of its 45 labels: the meta.json value is
    # the "present" reading (the literal all-pairs mean would be 0.011376)
    import json

    from mlal_core import data
    from mlal_core.data import concat_splits

    ds = data.load("medical")
    Yt = concat_splits([ds.train, ds.valid]).Y
    meta = json.loads((data.DATA_DIR / "medical" / "meta.json").read_text())
    assert corr.corr_avg(Yt) == pytest.approx(meta["per_split"]["train"]["CorrAvg"], abs=5e-7)  # 0.016021
    assert corr.corr_avg(Yt, over="all") == pytest.approx(0.011376, abs=5e-7)


def test_corr_avg_rejects_unknown_over():
    with pytest.raises(ConfigError, match="over='present'.*over='all'"):
        corr.corr_avg(Y, over="seen")


def test_asymmetric_pairs_hand():
    # off-diagonal of A_HAND: mean 7/12, population std 0.20972; z(A[0,1]) = 1.99 > 1, A[0,1] > A[1,0]
    np.testing.assert_array_equal(corr.asymmetric_pairs(A_HAND), [[0, 1]])
    assert corr.asymmetric_pairs(A_HAND, z_threshold=2.5).shape == (0, 2)
    assert corr.asymmetric_pairs(np.eye(3)).shape == (0, 2)  # constant off-diagonal: no pair


def test_exclusive_pairs_hand():
    # labels 0 and 1 never co-occur; 2 co-occurs with both. NegA off-diagonal: 1, .5, 1, .5, 2/3, .5
    # -> tau = min(1, mean + 2 std) = 1, and only (0, 1) has NegA = 1 both ways
    Yx = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=np.uint8)
    pairs, tau = corr.exclusive_pairs(Yx)
    np.testing.assert_array_equal(pairs, [[0, 1]])
    assert tau == pytest.approx(1.0)
    # the 4x3 example: tau = 0.41667 + 2 * 0.20972 = 0.83611, no NegA entry reaches it both ways
    pairs, tau = corr.exclusive_pairs(Y)
    assert pairs.shape == (0, 2) and tau == pytest.approx(5 / 12 + 2 * math.sqrt(0.263888889 / 6), rel=1e-6)
    # min_count=3 leaves only label 0 eligible: no pair, tau undefined
    pairs, tau = corr.exclusive_pairs(Yx, min_count=3)
    assert pairs.shape == (0, 2) and math.isnan(tau)


def test_conflicting_and_hard_to_learn_masks():
    ystar = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=bool)
    assert corr.conflicting_mask(ystar, np.array([[0, 1]])).tolist() == [True, False, False]
    assert corr.conflicting_mask(ystar, np.empty((0, 2), dtype=int)).tolist() == [False, False, False]
    pbar = np.array([[0.4, 0.3], [0.6, 0.1], [0.5, 0.49]])
    assert corr.hard_to_learn_mask(pbar).tolist() == [True, False, False]


def test_correlation_drift():
    assert corr.correlation_drift(A_HAND, A_HAND) == 0.0
    B = A_HAND.copy()
    B[0, 1] = 0.0
    assert corr.correlation_drift(A_HAND, B) == pytest.approx(1.0 / 6)


label_matrices = st.integers(1, 7).flatmap(
    lambda k: arrays(np.uint8, st.tuples(st.integers(0, 25), st.just(k)), elements=st.integers(0, 1))
)


@settings(max_examples=150, deadline=None)
@given(label_matrices)
def test_matrix_properties(Yr):
    K = Yr.shape[1]
    A = corr.positive_correlation(Yr)
    N = corr.negative_correlation(Yr)
    counts = Yr.sum(axis=0)
    seen = counts > 0
    # brute force from the definitions
    for m in range(K):
        for n in range(K):
            if not seen[n]:
                assert A[m, n] == 0 and N[m, n] == 0
                continue
            both = np.sum((Yr[:, m] == 1) & (Yr[:, n] == 1))
            neither_m = np.sum((Yr[:, m] == 0) & (Yr[:, n] == 1))
            assert A[m, n] == pytest.approx(1.0 if m == n else both / counts[n])
            assert N[m, n] == pytest.approx(0.0 if m == n else neither_m / counts[n])
    np.testing.assert_array_equal(np.diag(A), seen.astype(float))
    assert (np.diag(N) == 0).all()
    off = ~np.eye(K, dtype=bool) & seen[None, :]
    np.testing.assert_allclose(N[off], 1.0 - A[off])
    assert ((A >= 0) & (A <= 1)).all() and ((N >= 0) & (N <= 1)).all()
    np.testing.assert_allclose(corr.positive_correlation(sp.csr_matrix(Yr)), A)
    s = int(seen.sum())
    if s >= 2:
        sub = A[np.ix_(seen, seen)]
        expected = (sub.sum() - s) / (s * (s - 1))
        assert corr.corr_avg(Yr) == pytest.approx(expected)
    else:
        assert math.isnan(corr.corr_avg(Yr))
    for m, n in corr.asymmetric_pairs(A):
        assert m != n and A[m, n] > A[n, m]
    pairs, tau = corr.exclusive_pairs(Yr)
    for m, n in pairs:
        assert m < n and N[m, n] >= tau and N[n, m] >= tau
