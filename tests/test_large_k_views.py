"""The large-K views (issue 18, item 4): top-k pairs, the clustered order and its densest block, the
label search, the full matrix as CSV, pages and aggregates of per-label counts, and the walk-through's
long lists. References are computed by hand on small matrices."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays

from mlal_core import correlation, export, viz
from mlal_core.errors import ConfigError
from mlal_core.inspection.walkthrough_tables import LIST_LIMIT, shown_value

# A[m, n] = P(m | n) of four labels, written by hand
A4 = np.array([[1.0, 0.9, 0.2, 0.0],
               [0.3, 1.0, 0.5, 0.0],
               [0.1, 0.6, 1.0, 0.7],
               [0.0, 0.0, 0.4, 1.0]])
NAMES4 = ["w", "x", "y", "z"]


def test_threshold_is_one_constant():
    assert viz.LARGE_K == 40 and not viz.is_large_k(40) and viz.is_large_k(41)


def test_top_pairs_are_the_strongest_off_diagonal_cells_in_order():
    pairs = viz.top_pairs(A4, NAMES4, 3)
    # off-diagonal values sorted: 0.9 (w|x), 0.7 (y|z), 0.6 (y|x), 0.5 (x|y), ...
    assert pairs[["label m", "label n"]].values.tolist() == [["w", "x"], ["y", "z"], ["y", "x"]]
    assert pairs["value"].tolist() == [0.9, 0.7, 0.6]
    assert pairs["reverse"].tolist() == [0.3, 0.4, 0.5]  # A[n, m]
    assert pairs["rank"].tolist() == [1, 2, 3] and pairs[["m", "n"]].values.tolist() == [[0, 1], [2, 3], [2, 1]]


def test_top_pairs_leave_out_rare_labels_and_break_ties_by_evidence():
    counts = np.array([10, 50, 1, 30])
    pairs = viz.top_pairs(A4, NAMES4, 10, counts=counts, min_count=2)
    assert "y" not in set(pairs["label m"]) | set(pairs["label n"])  # label y has one positive
    assert pairs["value"].tolist() == [0.9, 0.3, 0.0, 0.0, 0.0, 0.0]
    assert pairs["positives of n"].tolist()[:2] == [50, 10]
    tied = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]])
    by_evidence = viz.top_pairs(tied, ["a", "b", "c"], 2, counts=[5, 1, 9])
    assert by_evidence["label n"].tolist() == ["c", "c"]  # the best-supported conditioning label first


def test_top_pairs_of_a_difference_rank_by_magnitude_and_take_sparse_input():
    d = np.array([[0.0, -0.8, 0.1], [0.2, 0.0, 0.0], [0.0, 0.5, 0.0]])
    assert viz.top_pairs(d, None, 2, by_magnitude=True)["value"].tolist() == [-0.8, 0.5]
    assert viz.top_pairs(sp.csr_matrix(A4), NAMES4, 1)["value"].tolist() == [0.9]
    assert viz.top_pairs(np.eye(3), None, 5, counts=[0, 0, 0]).empty
    with pytest.raises(ConfigError, match="square"):
        viz.top_pairs(np.ones((2, 3)), None, 1)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, hst.tuples(hst.integers(2, 9)).map(lambda t: (t[0], t[0])),
              elements=hst.floats(0, 1, width=16)), hst.integers(1, 30))
def test_top_pairs_values_are_the_k_largest_off_diagonal_values(z, k):
    pairs = viz.top_pairs(z, None, k)
    off = np.sort(z[~np.eye(z.shape[0], dtype=bool)])[::-1]
    assert pairs["value"].tolist() == off[:k].tolist()
    assert (pairs["m"] != pairs["n"]).all() and not pairs[["m", "n"]].duplicated().any()


def test_top_pairs_bar_draws_one_bar_per_pair_strongest_on_top():
    fig = viz.top_pairs_bar(viz.top_pairs(A4, NAMES4, 3))
    assert fig.data[0].type == "bar" and list(fig.data[0].x) == [0.9, 0.7, 0.6]
    assert list(fig.layout.yaxis.ticktext) == ["w | x", "y | z", "y | x"]
    assert fig.layout.yaxis.autorange == "reversed"


def _planted_blocks(n_blocks=4, size=5, n=400, seed=0):
    """Labels in blocks that co-occur, in a shuffled label order."""
    rng = np.random.default_rng(seed)
    k = n_blocks * size
    Y = np.zeros((n, k), dtype=np.uint8)
    for i in range(n):
        b = rng.integers(n_blocks)
        Y[i, b * size:(b + 1) * size] = rng.random(size) < 0.85
        Y[i, rng.integers(k)] = 1  # some noise across blocks
    perm = rng.permutation(k)
    return Y[:, perm], perm // size  # block of each shuffled label


def test_cluster_order_groups_a_planted_block_structure():
    Y, block = _planted_blocks()
    A = correlation.positive_correlation(Y)
    order = viz.cluster_order(A)
    assert sorted(order.tolist()) == list(range(Y.shape[1]))
    runs = block[order]
    # every block is one contiguous run of the order
    assert (np.diff(runs) != 0).sum() == len(set(block)) - 1, runs
    sub = viz.cluster_order(A, labels=np.flatnonzero(block == 2))
    assert set(sub.tolist()) == set(np.flatnonzero(block == 2).tolist())
    with pytest.raises(ConfigError, match="method"):
        viz.cluster_order(A, method="ward")


def test_densest_window_finds_the_strongest_block():
    z = np.full((12, 12), 0.1)
    z[6:10, 6:10] = 0.9  # a strong block of labels 6..9
    np.fill_diagonal(z, 1.0)
    assert viz.densest_window(z, np.arange(12), 4) == 6
    assert viz.densest_window(z, np.arange(12)[::-1], 4) == 2  # same labels, reversed order
    assert viz.densest_window(z, np.arange(3), 4) == 0


def test_label_partners_read_both_directions():
    t = viz.label_partners(A4, NAMES4, [1], top=2)
    col = t[t["direction"].str.startswith("column")]
    row = t[t["direction"].str.startswith("row")]
    assert col["partner"].tolist() == ["w", "y"] and col["value"].tolist() == [0.9, 0.6]  # A[:, x]
    assert row["partner"].tolist() == ["y", "w"] and row["value"].tolist() == [0.5, 0.3]  # A[x, :]
    order = viz.search_order(A4, [3], partners=1)
    assert order.tolist() == [3, 2]  # z, then its strongest partner both ways (y)
    assert viz.search_order(np.eye(60), list(range(50))).size == viz.LARGE_K


def test_full_matrix_csv_round_trips():
    frame = viz.matrix_frame(A4, NAMES4)
    back = pd.read_csv(io.BytesIO(export.table_to_csv_bytes(frame)))
    assert back.columns.tolist() == ["label m", *NAMES4] and back["label m"].tolist() == NAMES4
    np.testing.assert_allclose(back[NAMES4].to_numpy(), A4)


def test_label_pages_sort_by_frequency():
    counts = np.array([5, 90, 5, 40, 0, 7, 3])
    assert viz.n_pages(7, 3) == 3 and viz.n_pages(0) == 1
    assert viz.label_page(counts, 1, 3).tolist() == [1, 3, 5]
    assert viz.label_page(counts, 2, 3).tolist() == [0, 2, 6]  # ties by position
    assert viz.label_page(counts, 3, 3).tolist() == [4]
    with pytest.raises(ConfigError, match="page must be in 1..3"):
        viz.label_page(counts, 4, 3)
    fig = viz.label_frequency_bar(counts, positions=viz.label_page(counts, 1, 3))
    assert list(fig.data[0].y) == [90, 40, 7]


def test_rank_frequency_plot_is_log_log_over_present_labels():
    Y = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]]))
    counts = Y.sum(axis=0)  # a numpy matrix from scipy.sparse
    fig = viz.rank_frequency_plot(counts, ["a", "b", "c", "d"], n_samples=3)
    assert list(fig.data[0].x) == [1, 2, 3] and list(fig.data[0].y) == [3, 2, 1]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert "1 labels without a positive" in fig.layout.title.text
    with pytest.raises(ConfigError, match="no label has a positive"):
        viz.rank_frequency_plot([0, 0])


def test_frequency_histogram_counts_every_present_label_once():
    counts = np.array([1, 1, 2, 9, 10, 120, 0, 0])
    fig = viz.frequency_histogram(counts, bins_per_decade=1)
    assert list(fig.data[0].y) == [4, 1, 1]  # [1, 10), [10, 100), [100, 1000)
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.annotations[0].text == "2 labels without a positive"


def test_walkthrough_lists_are_cut_at_the_limit():
    assert shown_value(list(range(LIST_LIMIT + 5))).endswith("; ... (+5 more)")
    assert shown_value(list(range(3))) == "0; 1; 2"
    weights = {f"l{j}": float(j) for j in range(LIST_LIMIT + 10)}
    text = shown_value(weights)
    assert text.startswith(f"l{LIST_LIMIT + 9}: {LIST_LIMIT + 9}; ") and text.endswith("(+10 more)")
