"""Label statistics: hand-computed values, sparse input, edge cases."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

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
