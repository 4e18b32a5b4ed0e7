"""Evaluation metrics against hand-computed values and scikit-learn."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, roc_auc_score

from mlal_core import metrics
from mlal_core.errors import ConfigError

# Two samples, three labels, worked out by hand below.
Y = np.array([[1, 0, 1], [0, 1, 0]])
P = np.array([[0.9, 0.2, 0.4], [0.3, 0.6, 0.7]])


def test_evaluate_hand_computed():
    m = metrics.evaluate(Y, P)
    # predictions at 0.5: [[1,0,0],[0,1,1]] -> tp=2, fp=1, fn=1 -> micro 4/6; per label F1 1, 1, 0
    assert m["micro_f1"] == pytest.approx(4 / 6)
    assert m["macro_f1"] == pytest.approx(2 / 3)
    # top-1: label 0 (right), label 2 (wrong)
    assert m["p@1"] == pytest.approx(0.5)
    assert m["p@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["hamming_loss"] == pytest.approx(2 / 6)
    # row 1: the negative label 2 (0.7) outranks the positive label 1 (0.6): 1 of 2 pairs
    assert m["ranking_loss"] == pytest.approx((0 + 0.5) / 2)
    # row 0: both positives ranked first -> 1; row 1: the positive at rank 2 -> 1/2
    assert m["lrap"] == pytest.approx(0.75)
    assert m["ndcg@1"] == pytest.approx(0.5)
    assert m["ndcg@3"] == pytest.approx((1.0 + 1 / np.log2(3)) / 2)
    # label AUCs 1, 1, 0
    assert m["macro_auc"] == pytest.approx(2 / 3)


def test_tuned_threshold_keys_and_values():
    m = metrics.evaluate(Y, P, tuned_threshold=0.35)
    # at 0.35: [[1,0,1],[0,1,1]] -> tp=3, fp=1, fn=0 -> micro 6/7
    assert m["micro_f1_tuned"] == pytest.approx(6 / 7)
    assert m["threshold_tuned"] == 0.35
    assert m["micro_f1"] == pytest.approx(4 / 6)  # unchanged at 0.5


def test_macro_auc_skips_single_class_labels():
    Yc = np.array([[1, 1], [0, 1]])
    Pc = np.array([[0.8, 0.1], [0.2, 0.9]])
    assert metrics.macro_auc(Yc, Pc) == pytest.approx(1.0)  # label 1 is positive everywhere: skipped
    assert np.isnan(metrics.macro_auc(np.ones((2, 2)), Pc))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_vectorised_macro_f1_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    Yr = (rng.random((40, 6)) < 0.3).astype(int)
    Pr = rng.random((40, 6))
    ours = metrics.macro_f1_per_threshold(Yr, Pr)
    ref = [f1_score(Yr, (Pr > t).astype(int), average="macro", zero_division=0) for t in metrics.THRESHOLD_GRID]
    np.testing.assert_allclose(ours, ref, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_rank_based_macro_auc_equals_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    Yr = rng.random((50, 5)) < 0.4
    Pr = np.round(rng.random((50, 5)), 1)  # many ties
    ok = [j for j in range(5) if 0 < Yr[:, j].sum() < 50]
    ref = np.mean([roc_auc_score(Yr[:, j], Pr[:, j]) for j in ok]) if ok else np.nan
    assert metrics.macro_auc(Yr, Pr) == pytest.approx(ref, nan_ok=True)


def test_tune_threshold_picks_best_and_prefers_half_on_ties():
    # positives score 0.3, negatives 0.1: any threshold in [0.1, 0.3) separates perfectly
    Yt = np.array([[1, 0], [0, 1]])
    Pt = np.array([[0.3, 0.1], [0.1, 0.3]])
    assert metrics.tune_threshold(Yt, Pt) == pytest.approx(0.25)
    # perfectly separated at every grid point between 0.05 and 0.95 -> 0.5
    assert metrics.tune_threshold(Yt, np.where(Yt == 1, 0.99, 0.01)) == pytest.approx(0.5)


def test_shape_mismatch_and_nan_raise():
    with pytest.raises(ConfigError, match="shape"):
        metrics.evaluate(Y, P[:, :2])
    with pytest.raises(ConfigError, match="NaN"):
        metrics.evaluate(Y, np.full_like(P, np.nan))


def test_area_under_learning_curve():
    # linear from 0.2 at 100 to 0.6 at 300: mean height 0.4
    assert metrics.area_under_learning_curve([100, 200, 300], [0.2, 0.4, 0.6]) == pytest.approx(0.4)
    assert metrics.area_under_learning_curve([300, 100, 200], [0.6, 0.2, 0.4]) == pytest.approx(0.4)
    with pytest.raises(ConfigError):
        metrics.area_under_learning_curve([100], [0.3])


def test_labelled_fraction_to_reach():
    x, y = [100, 200, 300], [0.2, 0.5, 0.7]
    assert metrics.labelled_fraction_to_reach(x, y, 0.5, pool_size=1000) == pytest.approx(0.2)
    assert np.isnan(metrics.labelled_fraction_to_reach(x, y, 0.9, pool_size=1000))
    # a loss: lower is better
    assert metrics.labelled_fraction_to_reach(x, [0.5, 0.3, 0.1], 0.3, 1000, higher_is_better=False) == pytest.approx(0.2)


def test_summarize_curves_mean_std():
    df = pd.DataFrame(
        {"strategy": ["a"] * 4 + ["b"] * 2, "n_labeled": [10, 10, 20, 20, 10, 20], "micro_f1": [0.1, 0.3, 0.4, 0.6, 0.5, 0.7]}
    )
    out = metrics.summarize_curves(df, "micro_f1").set_index(["strategy", "n_labeled"])
    assert out.loc[("a", 10), "mean"] == pytest.approx(0.2)
    assert out.loc[("a", 10), "std"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert out.loc[("b", 20), "n"] == 1 and out.loc[("b", 20), "std"] == 0.0
    with pytest.raises(ConfigError, match="columns"):
        metrics.summarize_curves(df, "macro_f1")
