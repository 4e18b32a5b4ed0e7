"""Label statistics: hand-computed values, sparse input, edge cases."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from mlal_core import correlation, stats

# 4 samples x 3 labels, worked out by hand:
#   counts (3, 2, 2); 7 positives -> cardinality 7/4, density 7/12
#   IRLbl = 3/count = (1, 1.5, 1.5); MeanIR = 4/3; MaxIR = 1.5; 4 distinct label sets
Y = np.array([[1, 1, 0],
              [1, 0, 0],
              [1, 1, 1],
              [0, 0, 1]], dtype=np.uint8)


@pytest.mark.parametrize("as_type", [
    lambda y: y, lambda y: y.astype(bool), lambda y: y.astype(np.int64), lambda y: y.astype(float),
    sp.csr_matrix, lambda y: sp.csc_matrix(y),
])
def test_hand_computed_values(as_type):
    Yx = as_type(Y)
    assert stats.label_counts(Yx).tolist() == [3, 2, 2]
    assert stats.label_cardinality(Yx) == pytest.approx(1.75)
    assert stats.label_density(Yx) == pytest.approx(7 / 12)
    np.testing.assert_allclose(stats.irlbl(Yx), [1.0, 1.5, 1.5])
    assert stats.mean_ir(Yx) == pytest.approx(4 / 3)
    assert stats.max_ir(Yx) == pytest.approx(1.5)
    assert stats.distinct_labelsets(Yx) == 4
    assert stats.n_without_label(Yx) == 0


def test_absent_label_is_inf_and_left_out_of_mean_ir():
    Yz = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=np.uint8)
    ir = stats.irlbl(Yz)
    assert ir[0] == 1.0 and ir[1] == 2.0 and math.isinf(ir[2])
    assert stats.mean_ir(Yz) == pytest.approx(1.5)
    assert stats.max_ir(Yz) == pytest.approx(2.0)
    assert stats.n_without_label(Yz) == 1
    assert stats.distinct_labelsets(Yz) == 3  # the empty set counts as one


def test_no_positive_at_all_and_no_rows():
    Y0 = np.zeros((3, 2), dtype=np.uint8)
    assert np.isinf(stats.irlbl(Y0)).all()
    assert math.isnan(stats.mean_ir(Y0)) and math.isnan(stats.max_ir(Y0))
    assert stats.label_cardinality(Y0) == 0.0
    empty = np.zeros((0, 4), dtype=np.uint8)
    assert math.isnan(stats.label_cardinality(empty)) and math.isnan(stats.label_density(empty))
    assert stats.distinct_labelsets(empty) == 0


def test_label_summary_keys_match_meta_names():
    s = correlation.label_summary(Y)
    assert s["n_samples"] == 4 and s["n_labels"] == 3 and s["labels_present"] == 3
    assert s["CorrAvg"] == pytest.approx(7 / 12)
    assert s["MeanIR"] == pytest.approx(4 / 3)
    assert s["distinct_labelsets"] == 4


def test_sparse_distinct_labelsets_with_duplicates():
    Yd = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert stats.distinct_labelsets(sp.csr_matrix(Yd)) == stats.distinct_labelsets(Yd) == 3


def test_rejects_3d():
    with pytest.raises(ValueError, match="2-D"):
        stats.label_counts(np.zeros((2, 2, 2)))


def test_stats_imports_nothing_of_the_package():
    """stats is the lowest maths module: correlation imports it, never the other way round."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(stats.__file__).read_text())
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m and m.startswith("mlal_core")]


# ---------------------------------------------------------------- coverage and normalised entropy
def test_coverage_and_entropy_hand_computed():
    # Y above: counts (3, 2, 2) of 7 positives, every label present -> coverage 1;
    # H = -(3/7 ln 3/7 + 2 * 2/7 ln 2/7) / ln 3 = (0.363128 + 2 * 0.357932) / 1.098612 = 0.982141
    assert stats.label_coverage(Y) == 1.0
    assert stats.label_entropy(Y) == pytest.approx(0.982141, abs=1e-6)
    assert stats.label_entropy(sp.csr_matrix(Y)) == pytest.approx(0.982141, abs=1e-6)


def test_narrow_batch_looks_balanced_to_mean_ir_but_not_to_coverage_or_entropy():
    # one label of 4, twice: MeanIR 1 (as balanced as it gets), coverage 1/4, entropy 0
    narrow = np.array([[1, 0, 0, 0], [1, 0, 0, 0]])
    assert stats.mean_ir(narrow) == 1.0
    assert stats.label_coverage(narrow) == 0.25
    assert stats.label_entropy(narrow) == 0.0
    # two labels of 4, once each: MeanIR 1, coverage 1/2, entropy ln 2 / ln 4 = 0.5
    two = np.array([[1, 1, 0, 0]])
    assert stats.mean_ir(two) == 1.0
    assert stats.label_coverage(two) == 0.5
    assert stats.label_entropy(two) == pytest.approx(0.5)
    # all four once: entropy 1, coverage 1
    assert stats.label_entropy(np.eye(4)) == pytest.approx(1.0)
    assert stats.label_coverage(np.eye(4)) == 1.0


def test_coverage_and_entropy_edge_cases():
    assert math.isnan(stats.label_coverage(np.zeros((3, 0))))
    assert stats.label_coverage(np.zeros((0, 3))) == 0.0
    assert math.isnan(stats.label_entropy(np.zeros((2, 3))))  # no positive
    assert math.isnan(stats.label_entropy(np.ones((2, 1))))  # K = 1: ln K = 0
    assert math.isnan(stats.label_entropy(np.zeros((0, 3))))


_label_matrices = st.integers(2, 6).flatmap(
    lambda k: st.lists(st.lists(st.integers(0, 1), min_size=k, max_size=k), min_size=1, max_size=12))


@settings(max_examples=80, deadline=None)
@given(rows=_label_matrices, extra=st.data())
def test_coverage_bounded_and_monotone_when_adding_a_row(rows, extra):
    Yh = np.array(rows, dtype=np.uint8)
    cov = stats.label_coverage(Yh)
    assert 0.0 <= cov <= 1.0
    new = extra.draw(st.lists(st.integers(0, 1), min_size=Yh.shape[1], max_size=Yh.shape[1]))
    assert stats.label_coverage(np.vstack([Yh, np.array(new, dtype=np.uint8)])) >= cov


@settings(max_examples=80, deadline=None)
@given(rows=_label_matrices, times=st.integers(2, 4))
def test_entropy_bounded_and_invariant_to_repeating_the_rows(rows, times):
    Yh = np.array(rows, dtype=np.uint8)
    h = stats.label_entropy(Yh)
    if Yh.sum() == 0:
        assert math.isnan(h)
        return
    assert 0.0 <= h <= 1.0
    assert stats.label_entropy(np.tile(Yh, (times, 1))) == pytest.approx(h)
    # 1 exactly when every label has the same count (and so every label is covered)
    counts = Yh.sum(axis=0)
    assert (h == pytest.approx(1.0)) == bool((counts == counts[0]).all())


@settings(max_examples=40, deadline=None)
@given(k=st.integers(2, 8), c=st.integers(1, 5))
def test_entropy_is_one_for_a_perfectly_even_distribution(k, c):
    assert stats.label_entropy(np.tile(np.eye(k, dtype=np.uint8), (c, 1))) == pytest.approx(1.0)


def test_balance_by_batch_accumulates_the_labelled_set():
    initial = np.array([[1, 0, 0, 0], [1, 0, 0, 0]])  # counts (2, 0, 0, 0)
    b0 = np.array([[0, 1, 0, 0]])                      # L counts (2, 1, 0, 0)
    b1 = np.array([[0, 0, 1, 0], [0, 0, 0, 1]])        # L counts (2, 1, 1, 1)
    coverage, evenness = stats.balance_by_batch(initial, [b0, b1, None])
    assert coverage[:2].tolist() == [0.25, 0.5] and math.isnan(coverage[2])
    h0 = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)) / math.log(4)
    h1 = -(0.4 * math.log(0.4) + 3 * 0.2 * math.log(0.2)) / math.log(4)
    assert evenness.tolist() == pytest.approx([h0, h1, h1], abs=1e-12)
    # unknown initial labels: coverage still known, evenness not
    coverage, evenness = stats.balance_by_batch(None, [b0, b1])
    assert coverage.tolist() == [0.25, 0.5] and np.isnan(evenness).all()
