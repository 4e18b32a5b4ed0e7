"""Stopping criteria (issue 19, item 1): the maths against hand-computed values, each rule on records
built by hand, the stop set and the per-round measures stored with the session (schema v4, with a
migration from v3), and the stop-vs-oracle tables."""

from __future__ import annotations

import sqlite3
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_MODEL
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import cohen_kappa_score

from mlal_core.errors import ConfigError
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import MIGRATIONS, SessionStore
from mlal_core.stopping import (
    ClassificationChange,
    LabelBudget,
    MaxUncertainty,
    OverallUncertainty,
    PredictedChangeOfF,
    SelectedAccuracy,
    StabilizingPredictions,
    criteria_table,
    criterion_overview,
    default_criteria,
    draw_stop_set,
    oracle_round,
    round_inputs,
    round_measures,
    states_by_round,
    stop_columns,
    stop_outcomes,
    stop_summary,
)
from mlal_core.stopping.criteria import _delta_f, _kappa_per_label, _mean_kappa, _window
from mlal_core.stopping.measures import (
    binary_entropy,
    micro_f1_agreement,
    pack_decisions,
    sample_uncertainty,
    unpack_decisions,
)


def _column(a: int, b: int, c: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 0/1 columns with the 2x2 counts a (both 1), b (first 1 only), c (second 1 only), d (both 0)."""
    first = np.array([1] * a + [1] * b + [0] * c + [0] * d, dtype=bool)
    second = np.array([1] * a + [0] * b + [1] * c + [0] * d, dtype=bool)
    return first, second


# ============================================================================ the maths
def test_kappa_of_a_two_by_two_table_computed_by_hand():
    # a=40, b=5, c=10, d=45 (n=100): p_o = (40+45)/100 = 0.85; the first model says 1 for 45 rows, the
    # second for 50: p_e = 0.45*0.50 + 0.55*0.50 = 0.50; kappa = (0.85-0.50)/(1-0.50) = 0.70
    p, q = _column(40, 5, 10, 45)
    assert _kappa_per_label(p[:, None], q[:, None]) == pytest.approx([0.70])
    # a=20, b=0, c=0, d=80: identical, not constant: p_o = 1, kappa = 1
    p2, q2 = _column(20, 0, 0, 80)
    assert _kappa_per_label(p2[:, None], q2[:, None]) == pytest.approx([1.0])
    # a=0, b=10, c=10, d=80: p_o = 0.8, p_e = 0.1*0.1 + 0.9*0.9 = 0.82; kappa = -0.02/0.18 = -1/9
    p3, q3 = _column(0, 10, 10, 80)
    assert _kappa_per_label(p3[:, None], q3[:, None]) == pytest.approx([-1 / 9])


def test_kappa_averaged_over_labels_and_the_constant_label_convention():
    p1, q1 = _column(40, 5, 10, 45)  # 0.70
    zeros = np.zeros(100, dtype=bool)  # both models predict 0 for every row: p_e = 1, kappa := 1
    ones = np.ones(100, dtype=bool)
    P = np.column_stack([p1, zeros, ones, ones])
    Q = np.column_stack([q1, zeros, ones, zeros])  # label 4: constant 1 vs constant 0 -> kappa 0
    assert _kappa_per_label(P, Q) == pytest.approx([0.70, 1.0, 1.0, 0.0])
    assert _mean_kappa(P, Q) == pytest.approx((0.70 + 1.0 + 1.0 + 0.0) / 4)
    assert _mean_kappa(np.zeros((5, 0), bool), np.zeros((5, 0), bool)) == 1.0
    with pytest.raises(ConfigError, match="one shape"):
        _kappa_per_label(P, Q[:, :2])


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(2, 40), st.integers(1, 5))),
       arrays(np.bool_, st.tuples(st.integers(2, 40), st.integers(1, 5))))
def test_kappa_per_label_agrees_with_sklearn(p, q):
    n, k = min(len(p), len(q)), min(p.shape[1], q.shape[1])
    p, q = p[:n, :k], q[:n, :k]
    ours = _kappa_per_label(p, q)
    for j in range(k):
        both_constant_equal = p[:, j].min() == p[:, j].max() == q[:, j].min() == q[:, j].max()
        if both_constant_equal:
            assert ours[j] == 1.0  # sklearn gives NaN (0/0) here
        else:
            assert ours[j] == pytest.approx(cohen_kappa_score(p[:, j], q[:, j]), abs=1e-12)


def test_predicted_change_of_f_by_hand():
    # a=40 both positive, b=5 previous only, c=10 current only: dF = 1 - 80/(80+15) = 15/95
    p, q = _column(40, 5, 10, 45)
    assert _delta_f(p, q) == pytest.approx(15 / 95)
    # pooled over labels (micro): label 1 as above, label 2 a=10, b=0, c=5: a=50, b+c=20 -> 1 - 100/120
    p2, q2 = _column(10, 0, 5, 85)
    assert _delta_f(np.column_stack([p, p2]), np.column_stack([q, q2])) == pytest.approx(1 - 100 / 120)
    # agreement on negatives does not count: no positive anywhere is no change
    assert _delta_f(np.zeros((4, 3), bool), np.zeros((4, 3), bool)) == 0.0
    assert _delta_f(p, p) == 0.0


def test_the_window_is_the_last_values_and_never_spans_a_gap():
    series = [np.nan, 0.5, 0.6, 0.7, np.nan, 0.8]
    assert _window(series, 3, 3) == [0.5, 0.6, 0.7]
    assert _window(series, 2, 3) is None  # includes the NaN of record 0
    assert _window(series, 5, 2) is None  # the gap at record 4
    assert _window(series, 5, 1) == [0.8]
    assert _window(series, 1, 3) is None  # not enough values


def test_binary_entropy_uncertainty_and_micro_f1_by_hand():
    assert binary_entropy(np.array([0.0, 0.5, 1.0])) == pytest.approx([0.0, 1.0, 0.0])
    h09 = -(0.9 * np.log2(0.9) + 0.1 * np.log2(0.1))  # 0.468996
    assert sample_uncertainty(np.array([[0.5, 0.0], [0.9, 0.1]])) == pytest.approx([0.5, h09])
    # TP = 2, FP = 1, FN = 1: 2*2 / (2*2 + 2) = 2/3
    assert micro_f1_agreement(np.array([[1, 1, 0], [1, 0, 0]]), np.array([[1, 0, 1], [1, 0, 0]])) == pytest.approx(2 / 3)
    assert micro_f1_agreement(np.zeros((2, 3)), np.zeros((2, 3))) == 1.0


@settings(max_examples=40, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(0, 30), st.integers(0, 30))))
def test_decisions_pack_and_unpack_exactly(decisions):
    packed = pack_decisions(decisions)
    assert packed.dtype == np.uint8 and packed.shape == (decisions.shape[0], -(-decisions.shape[1] // 8))
    np.testing.assert_array_equal(unpack_decisions(packed, decisions.shape[1]), decisions)


# ============================================================================ the stop set and the measures
def test_the_stop_set_is_seeded_sized_and_the_whole_pool_when_small():
    a = draw_stop_set(10_000, seed=3)
    assert len(a) == 2000 and np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 10_000
    np.testing.assert_array_equal(a, draw_stop_set(10_000, seed=3))
    assert not np.array_equal(a, draw_stop_set(10_000, seed=4))
    np.testing.assert_array_equal(draw_stop_set(150, seed=3), np.arange(150))
    assert len(draw_stop_set(10_000, seed=0, size=50)) == 50
    with pytest.raises(ConfigError, match="positive integer"):
        draw_stop_set(100, 0, size=0)


def test_round_measures_by_hand():
    pbar_unl = np.array([[0.5, 0.5], [0.0, 1.0]])  # uncertainties 1.0 and 0.0 -> mean 0.5
    pbar_stop = np.array([[0.9, 0.1], [0.2, 0.7], [0.6, 0.6]])
    first = round_measures(pbar_unl, pbar_stop, np.array([True, True, False]), None)
    assert first["pool_mean_uncertainty"] == pytest.approx(0.5) and np.isnan(first["changed_share"])
    np.testing.assert_array_equal(unpack_decisions(first["stop_decisions"], 2), [[1, 0], [0, 1], [1, 1]])
    # next round: row 0 changes (0.9 -> 0.4), row 1 stays, row 2 changes but is labelled (not compared)
    second = round_measures(pbar_unl, np.array([[0.4, 0.1], [0.2, 0.7], [0.1, 0.1]]), np.array([True, True, False]),
                            first)
    assert second["changed_share"] == pytest.approx(0.5) and second["n_compared"] == 2
    empty = round_measures(np.zeros((0, 2)), pbar_stop, np.zeros(3, bool), first)
    assert np.isnan(empty["pool_mean_uncertainty"]) and np.isnan(empty["changed_share"])


# ============================================================================ the rules on hand-made records
def _records(decisions: list[np.ndarray | None], *, pick_proba=None, labels=None, pool_u=None, changed=None,
             step: int = 10) -> list[SimpleNamespace]:
    """Records as the store gives them: the last one final (no picks)."""
    out = []
    for t, dec in enumerate(decisions):
        final = t == len(decisions) - 1
        stopping = None
        if dec is not None:
            stopping = {"stop_decisions": pack_decisions(dec), "n_labels": dec.shape[1],
                        "pool_mean_uncertainty": np.nan if pool_u is None else pool_u[t],
                        "changed_share": np.nan if changed is None else changed[t], "n_compared": 100}
        out.append(SimpleNamespace(
            round=t, n_labeled=20 + step * t, selected=None if final else np.arange(2),
            labels=None if final or labels is None else labels[t],
            pick_proba=None if final or pick_proba is None else pick_proba[t], stopping=stopping))
    return out


def _pair_with_kappa(kappa_case: str) -> np.ndarray:
    """Stop-set decisions (100 x 1) so that successive kappas are known."""
    base = np.array([1] * 45 + [0] * 55, dtype=bool)
    if kappa_case == "same":
        return base[:, None]
    return np.array([1] * 40 + [0] * 5 + [1] * 10 + [0] * 45, dtype=bool)[:, None]  # kappa 0.70 vs base


def test_stabilizing_predictions_averages_the_last_three_kappas():
    base, other = _pair_with_kappa("same"), _pair_with_kappa("other")
    # kappas: r1 0.70 (base->other), r2 0.70 (other->base), r3 1, r4 1, r5 1
    recs = _records([base, other, base, base, base, base])
    states = StabilizingPredictions().evaluate(recs)
    assert [s.would_stop for s in states] == [False, False, False, False, False, True]
    assert np.isnan(states[2].value) and "has 2 (0.7000, 0.7000)" in states[2].explanation
    assert states[3].value == pytest.approx((0.7 + 0.7 + 1) / 3)
    assert states[4].value == pytest.approx((0.7 + 1 + 1) / 3)
    assert states[5].value == pytest.approx(1.0) and ">= 0.99" in states[5].explanation
    # a user-adjustable threshold stops earlier (Bloodgood & Vijay-Shanker's point)
    assert StabilizingPredictions(threshold=0.85).stop_state(recs).round == 4
    assert StabilizingPredictions(window=1).stop_state(recs).round == 3


def test_predicted_change_of_f_needs_every_estimate_of_the_window_below_the_threshold():
    base, other = _pair_with_kappa("same"), _pair_with_kappa("other")
    recs = _records([base, other, other, other, other])
    states = PredictedChangeOfF().evaluate(recs)
    # r1: a=40, b=5, c=10 -> 15/95; r2..r4: identical -> 0
    assert np.isnan(states[2].value)
    assert states[3].value == pytest.approx(15 / 95) and not states[3].would_stop
    assert states[4].value == 0.0 and states[4].would_stop
    assert PredictedChangeOfF(threshold=0.2).stop_state(recs).round == 3


def test_one_changed_round_restarts_the_window_of_both_agreement_rules():
    # decisions base x3 then other x4: the only change is at round 3 (base -> other: a=40, b=5, c=10)
    base, other = _pair_with_kappa("same"), _pair_with_kappa("other")
    recs = _records([base, base, base, other, other, other, other])
    # dF per round: -, 0, 0, 15/95, 0, 0, 0; "each of the last 3 below 0.005" first holds at round 6,
    # three rounds after the change, although rounds 1 and 2 were already 0 (the window was not full)
    df = PredictedChangeOfF().evaluate(recs)
    assert [s.would_stop for s in df] == [False] * 6 + [True]
    assert [s.value for s in df[3:]] == pytest.approx([15 / 95, 15 / 95, 15 / 95, 0.0])
    assert PredictedChangeOfF(threshold=0.05).stop_state(recs).round == 6  # small-text's threshold: same here
    assert PredictedChangeOfF(window=2).stop_state(recs).round == 2  # rounds 1 and 2: two zeros, before the change
    # kappa per round: -, 1, 1, 0.7, 1, 1, 1; the mean of the last 3 is 0.9 at rounds 3-5, 1.0 at round 6
    kappa = StabilizingPredictions().evaluate(recs)
    assert [s.value for s in kappa[3:]] == pytest.approx([0.9, 0.9, 0.9, 1.0])
    assert [s.would_stop for s in kappa] == [False] * 6 + [True]
    assert StabilizingPredictions(window=1).stop_state(recs).round == 1  # no window: the first agreeing pair


def test_uncertainty_accuracy_change_and_budget_rules_by_hand():
    dec = np.zeros((4, 2), dtype=bool)
    proba = [np.array([[0.5, 0.0], [0.9, 0.1]]), np.array([[0.99, 0.01], [0.98, 0.0]]), None]
    # the oracle's labels of each batch; round 0's predictions (>0.5): [[0,0],[1,0]] vs [[1,0],[1,0]]: TP 1, FN 1 -> 2/3
    labels = [np.array([[1, 0], [1, 0]]), np.array([[1, 0], [1, 0]]), None]
    recs = _records([dec, dec, dec], pick_proba=proba, labels=labels, pool_u=[0.3, 0.04, 0.01],
                    changed=[np.nan, 0.02, 0.0])
    mx = MaxUncertainty().evaluate(recs)
    assert mx[0].value == pytest.approx(0.5) and not mx[0].would_stop
    h = (-(0.99 * np.log2(0.99) + 0.01 * np.log2(0.01)) * 2 / 2, -(0.98 * np.log2(0.98) + 0.02 * np.log2(0.02)) / 2)
    assert mx[1].value == pytest.approx(max(h)) and mx[1].would_stop
    assert np.isnan(mx[2].value) and "picks nothing" in mx[2].explanation
    acc = SelectedAccuracy().evaluate(recs)
    assert np.isnan(acc[0].value) and acc[1].value == pytest.approx(2 / 3) and not acc[1].would_stop
    assert acc[2].value == 1.0 and acc[2].would_stop  # round 1 predicted [[1,0],[1,0]] = the labels
    ov = OverallUncertainty().evaluate(recs)
    assert [s.would_stop for s in ov] == [False, True, True]
    ch = ClassificationChange().evaluate(recs)
    assert np.isnan(ch[0].value) and not ch[1].would_stop and ch[2].would_stop
    assert "2 of 100" in ch[1].explanation and ClassificationChange(threshold=0.05).stop_state(recs).round == 1
    bud = LabelBudget(30).evaluate(recs)
    assert [s.would_stop for s in bud] == [False, True, True] and bud[1].value == 30.0


def test_old_records_say_the_criterion_is_not_available():
    recs = _records([None, None, None])
    for crit in (StabilizingPredictions(), PredictedChangeOfF(), ClassificationChange(), OverallUncertainty()):
        states = crit.evaluate(recs)
        assert all(not s.available and not s.would_stop for s in states)
        assert states[0].explanation == "not available for this session (recorded from store version 4 on)"
    assert MaxUncertainty().evaluate(recs)[0].explanation.endswith("recorded from store version 2 on)")
    assert "recorded from store version 2 on" in SelectedAccuracy().evaluate(recs)[1].explanation
    assert LabelBudget(20).evaluate(recs)[0].would_stop  # needs nothing but the counts


def test_hyperparameters_are_checked_with_what_to_pass():
    with pytest.raises(ConfigError, match="StabilizingPredictions: window must be an integer in"):
        StabilizingPredictions(window=0)
    with pytest.raises(ConfigError, match="threshold must be a number in"):
        OverallUncertainty(threshold=1.5)
    with pytest.raises(ConfigError, match="budget must be an integer >= 1"):
        LabelBudget(0)
    assert StabilizingPredictions().get_params() == {"window": 3, "threshold": 0.99}
    assert PredictedChangeOfF().get_params() == {"window": 3, "threshold": 0.005}
    assert [c.key for c in default_criteria(10)][-1] == "budget" and len(default_criteria()) == 6


# ============================================================================ tables
def test_tables_of_states():
    base, other = _pair_with_kappa("same"), _pair_with_kappa("other")
    recs = _records([base, other, base, base, base, base])
    crits = [StabilizingPredictions(), LabelBudget(50)]
    wide = states_by_round(recs, crits)
    assert list(wide.columns) == ["round", "labelled", StabilizingPredictions.name, LabelBudget.name, "would stop here"]
    assert wide["would stop here"].tolist() == ["", "", "", "Label budget", "Label budget",
                                                "Stabilizing predictions (kappa), Label budget"]
    long = criteria_table(recs, crits)
    assert len(long) == 12 and long["would_stop"].sum() == 4
    cols = stop_columns(recs, crits)
    assert cols["stop_kappa"].tolist() == [False] * 5 + [True] and "stop_budget_value" in cols
    over = criterion_overview(recs, crits).set_index("criterion")
    assert over.loc[LabelBudget.name, "first stop"] == "round 3 (50 labelled)"
    with pytest.raises(ConfigError, match="once"):
        stop_columns(recs, [LabelBudget(5), LabelBudget(6)])
    with pytest.raises(ConfigError, match="no record"):
        criterion_overview([], crits)


def test_oracle_round_by_hand():
    scores = [0.2, 0.5, 0.57, 0.6, 0.59, 0.6]  # final 0.6: 95 % = 0.57 (round 2), 99 % = 0.594 (round 3)
    assert oracle_round(scores, 0.95) == 2 and oracle_round(scores, 0.99) == 3
    assert oracle_round(scores, 0.95, target=0.7) is None  # 0.665 never reached
    assert oracle_round(scores, 0.95, target=0.6) == 2
    assert oracle_round([0.5, 0.2, 0.1], 0.5, higher_is_better=False) == 1  # a loss: <= 0.1 / 0.5 = 0.2
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        oracle_round(scores, 1.5)


def _synthetic_rounds() -> pd.DataFrame:
    """Three seeds of one strategy: scores, labels and when each rule fired, written by hand."""
    rows = []
    scores = {0: [0.2, 0.5, 0.57, 0.6, 0.59, 0.6], 1: [0.3, 0.5, 0.6, 0.62, 0.64, 0.64],
              2: [0.1, 0.3, 0.5, 0.58, 0.6, 0.6]}
    fires = {0: 4, 1: None, 2: 2}  # the kappa rule fires at round 4, never, round 2
    for seed, ss in scores.items():
        for t, s in enumerate(ss):
            rows.append({"session": f"s{seed}", "dataset": "d", "strategy": "entropy", "seed": seed, "round": t,
                         "n_labeled": 20 + 10 * t, "micro_f1": s, "stop_kappa": fires[seed] is not None and t >= fires[seed],
                         "stop_kappa_value": 0.5})
    return pd.DataFrame(rows)


def test_stop_outcomes_and_their_summary_by_hand():
    out = stop_outcomes(_synthetic_rounds(), "micro_f1", references={"s0": 0.7, "s1": 0.62})
    out = out.set_index("session")
    # s0: stops at round 4 (60 labels, score 0.59); oracle 95 % of 0.6 = 0.57 at round 2 (40 labels)
    assert out.loc["s0", "stop_round"] == 4 and out.loc["s0", "labels_at_stop"] == 60
    assert out.loc["s0", "labels_saved"] == 10 and out.loc["s0", "oracle_round_final95"] == 2
    assert out.loc["s0", "extra_labels_final95"] == 20 and np.isnan(out.loc["s0", "oracle_round_full95"])
    # s1 never fires: it runs to the end (70 labels); 95 % of 0.64 = 0.608 first at round 3 (0.62)
    assert not out.loc["s1", "fired"] and out.loc["s1", "stop_round"] == 5 and out.loc["s1", "labels_saved"] == 0
    assert out.loc["s1", "oracle_round_final95"] == 3 and out.loc["s1", "extra_labels_final95"] == 20
    assert out.loc["s1", "oracle_round_full95"] == 2  # 95 % of 0.62 = 0.589: round 2 (0.6)
    # s2 stops at round 2 (40 labels, 0.5); oracle 95 % of 0.6 = 0.57 at round 3 (50): 10 labels early
    assert out.loc["s2", "extra_labels_final95"] == -10 and out.loc["s2", "score_at_stop"] == 0.5
    assert out.loc["s2", "dataset"] == "d" and "micro_f1" not in out.columns
    summary = stop_summary(out.reset_index(), by=["dataset", "strategy"]).iloc[0]
    # stop rounds 4, 5, 2 -> median 4, quartiles 3 and 4.5; oracle rounds 2, 3, 3 -> median 3
    assert summary["runs"] == 3 and summary["fired"] == 2
    assert summary["stop_round"] == 4 and summary["stop_round_iqr"] == "3-4.5"
    assert summary["oracle_round"] == 3 and summary["round_difference"] == 2  # differences 2, 2, -1
    assert summary["extra_labels"] == 20 and summary["labels_saved"] == 10  # saved: 10, 0, 30
    assert summary["score_share"] == pytest.approx(np.median([0.59 / 0.6, 1.0, 0.5 / 0.6]))
    with pytest.raises(ConfigError, match="choose one of"):
        stop_summary(out.reset_index(), target="full90")
    with pytest.raises(ConfigError, match="lacks the column"):
        stop_outcomes(_synthetic_rounds().drop(columns="n_labeled"), "micro_f1")


# ============================================================================ with a session and its store
def _config(**kw) -> SessionConfig:
    base = {"model_params": dict(FAST_MODEL), "strategy": "entropy", "initial_size": 30, "query_size": 20,
            "rounds": 3, "seed": 0}
    return SessionConfig(**{**base, **kw})


@pytest.mark.slow
def test_a_session_stores_its_stop_set_and_each_rounds_measures(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    s = ActiveLearningSession(_config(), dataset=ds, store=store)
    pending = s.propose()
    pbar = pending.context.proba_samples.mean(axis=0)
    s.commit(pending)
    s.run()
    info = store.session_info(s.session_id)
    np.testing.assert_array_equal(info["stop_set"]["positions"], s.stop_set)
    assert len(s.stop_set) == len(ds.train) == 400  # a pool under 2,000 rows is its own stop set
    rounds = store.load_rounds(s.session_id)
    assert [r.stopping is not None for r in rounds] == [True] * 4
    first = rounds[0].stopping
    np.testing.assert_array_equal(unpack_decisions(first["stop_decisions"], ds.n_labels), pbar[s.stop_set] > 0.5)
    unl = np.setdiff1d(np.arange(400), s.initial_positions)
    assert first["pool_mean_uncertainty"] == pytest.approx(sample_uncertainty(pbar[unl]).mean(), rel=1e-6)
    # round 1 compares with round 0 on the stop-set rows unlabelled at round 1
    d0 = unpack_decisions(rounds[0].stopping["stop_decisions"], ds.n_labels)
    d1 = unpack_decisions(rounds[1].stopping["stop_decisions"], ds.n_labels)
    unl1 = np.setdiff1d(unl, rounds[0].selected)
    assert rounds[1].stopping["n_compared"] == len(unl1)
    assert rounds[1].stopping["changed_share"] == pytest.approx(np.any(d0[unl1] != d1[unl1], axis=1).mean())
    # what the store gives back evaluates as the records in memory do
    for crit in default_criteria(70):
        assert [st.value for st in crit.evaluate(rounds)] == pytest.approx(
            [st.value for st in crit.evaluate(s.history)], nan_ok=True)
    inputs = round_inputs(rounds)
    assert inputs[1].selected_f1 == pytest.approx(micro_f1_agreement(rounds[0].pick_proba > 0.5, rounds[0].labels))


def _v3_store(path):
    """A store as schema version 3 wrote it (before the stop set and the per-round measures)."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version in (1, 2, 3):
        for sql in MIGRATIONS[version]:
            con.execute(sql)
        con.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    con.commit()
    con.close()


@pytest.mark.slow
def test_a_version_3_store_is_upgraded_its_criteria_say_not_available_and_a_resume_measures(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    new = SessionStore(tmp_path / "new.sqlite")
    s = ActiveLearningSession(_config(rounds=3), dataset=ds, store=new)
    s.run(rounds=2)
    path = tmp_path / "old.sqlite"
    _v3_store(path)
    con = sqlite3.connect(path)
    con.execute("ATTACH DATABASE ? AS n", (str(new.path),))
    v3_sessions = ("id, name, created_at, updated_at, config_json, status, dataset_name, dataset_hash, "
                   "label_names_json, initial_labeled_json, note, feature_source_json")
    v3_rounds = ("session_id, round, created_at, n_labeled, metrics_json, selected_json, labels_json, details, "
                 "scores, diagnostics, shared_diag_json, timings_json, answered_by, pick_proba")
    con.execute(f"INSERT INTO sessions ({v3_sessions}) SELECT {v3_sessions} FROM n.sessions")
    con.execute(f"INSERT INTO rounds ({v3_rounds}) SELECT {v3_rounds} FROM n.rounds")
    con.commit()
    con.close()
    old = SessionStore(path)  # migrates 3 -> 4 -> 5
    assert old.schema_version() == 5
    assert old.session_info(s.session_id)["stop_set"] is None
    rounds = old.load_rounds(s.session_id)
    assert [r.stopping for r in rounds] == [None, None]
    kappa = StabilizingPredictions().evaluate(rounds)
    assert kappa[1].explanation == "not available for this session (recorded from store version 4 on)"
    assert not np.isnan(SelectedAccuracy().evaluate(rounds)[1].value)  # from the picks' predictions (v2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = ActiveLearningSession.resume(old, s.session_id, ds)
    resumed.run()
    np.testing.assert_array_equal(old.session_info(s.session_id)["stop_set"]["positions"], resumed.stop_set)
    after = old.load_rounds(s.session_id)
    assert [r.stopping is not None for r in after] == [False, False, True, True]
    changes = ClassificationChange().evaluate(after)
    assert changes[2].explanation == "needs the previous round's predictions" and not np.isnan(changes[3].value)


def test_experiment_results_carry_each_records_criterion_values(tmp_path):
    """load_results adds stop_<key> / stop_<key>_value columns computed from what each run's session stored."""
    from mlal_core import experiments as E
    from mlal_core.experiments import results
    from mlal_core.session.records import RoundRecord

    path = tmp_path / "hand.sqlite"
    store = SessionStore(path)
    tables = results.ResultsTables(path)
    base, other = _pair_with_kappa("same"), _pair_with_kappa("other")
    for seed, decisions in ((0, [base, other, base, base, base, base]), (1, [base, other] * 3)):
        cfg = SessionConfig(dataset=None, strategy="random", seed=seed, initial_size=10, query_size=10, rounds=5)
        cfg.name = f"run k{seed} | toy | random | seed {seed}"
        sid = store.create_session(cfg, np.arange(10), np.zeros((10, 1), dtype=np.uint8), dataset_name="toy")
        for t, rec in enumerate(_records(decisions)):
            final = t == len(decisions) - 1
            store.append_round(sid, RoundRecord(
                round=t, n_labeled=10 + 10 * t, metrics={"micro_f1": 0.1 * t},
                selected=None if final else np.arange(10 + 10 * t, 20 + 10 * t),
                labels=None if final else np.zeros((10, 1), dtype=np.uint8), selection=None, timings={},
                stopping=rec.stopping), status="finished" if final else None)
        tables.record_run("hand", E.RunSpec(key=f"k{seed}", config=cfg, dataset="toy", strategy="random", model="m",
                                            representation="raw", seed=seed, pool_size=100, initial_size=10,
                                            query_size=10, rounds=5, setting="toy"), sid, 1.0, "local")
    con = sqlite3.connect(path)
    with con:
        con.execute("INSERT INTO exp_experiments VALUES ('hand', '{}', NULL, '2026', '2026')")
    con.close()
    R = E.load_results(path).rounds
    kappa = R.pivot(index="round", columns="seed", values="stop_kappa")
    assert kappa[0].tolist() == [False] * 5 + [True] and not kappa[1].any()  # seed 1 flips every round: kappa 0.7
    assert R.loc[(R["seed"] == 1) & (R["round"] == 5), "stop_kappa_value"].item() == pytest.approx(0.7)
    assert R["stop_selected_accuracy_value"].isna().all()  # no picks' predictions were stored
    assert {f"stop_{c.key}" for c in default_criteria()} <= set(R.columns)
    outcomes = stop_outcomes(R, "micro_f1", run="key", keys=["kappa"]).set_index("key")
    assert outcomes.loc["k0", "stop_round"] == 5 and not outcomes.loc["k1", "fired"]


# ============================================================================ the report's section
def test_when_to_stop_section_on_a_synthetic_results_table(tmp_path):
    from mlal_core.experiments.stopping_study import when_to_stop_markdown

    R = _synthetic_rounds().assign(setting="d", key=lambda f: f["session"], representation="raw", model="m")
    R["stop_kappa_value"] = 0.5
    references = pd.DataFrame({"dataset": ["d"] * 3, "representation": ["raw"] * 3, "model": ["m"] * 3,
                               "seed": [0, 1, 2], "micro_f1": [0.7, 0.62, np.nan]})
    md = when_to_stop_markdown(R, references, strategy_order=["entropy"], data_dir=tmp_path)
    assert "## When to stop" in md and "### Stabilizing predictions (kappa)" in md and "holds" not in md
    row = next(line for line in md.splitlines() if line.startswith("| d | entropy"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # fired 2 of 3; stop rounds 4, 5, 2 -> median 4, quartiles 3 and 4.5; oracle 95 %: 2, 3, 3 -> 3 [2.5 to 3];
    # oracle 99 % (of 0.6, 0.64, 0.6: 0.594, 0.6336, 0.594): rounds 3, 4, 4 -> 4 [3.5 to 4]
    assert cells[2:6] == ["2/3", "4 [3 to 4.5]", "3 [2.5 to 3]", "4 [3.5 to 4]"]
    # labels vs the 95 % oracle: 20, 20, -10 -> 20 [5 to 20], late; saved 10, 0, 30 -> 10 [5 to 20]
    assert cells[6:9] == ["20 [5 to 20]", "late by 20", "10 [5 to 20]"]
    # score kept: 0.5/0.6 = 0.8333, 0.59/0.6 = 0.9833, 1 -> median 0.983, quartiles 0.908 and 0.992
    assert cells[9] == "0.983 [0.908 to 0.992]"
    # the full-data oracle (95 % of 0.7 never reached by s0; of 0.62 at round 2 by s1; no reference for s2)
    # -> its median over the runs with a reference, and how many of them got there
    assert cells[10] == "2 (reached in 1/2)"
    assert "*not reached (0/n)* when no run" in md
    unreachable = when_to_stop_markdown(R, references.assign(micro_f1=[0.9, 0.9, np.nan]), strategy_order=["entropy"])
    row = next(line for line in unreachable.splitlines() if line.startswith("| d | entropy"))
    assert row.rstrip(" |").endswith("not reached (0/2)")
    no_refs = when_to_stop_markdown(R, references.assign(micro_f1=np.nan), strategy_order=["entropy"])
    assert "full data" not in no_refs
    per_run = pd.read_csv(tmp_path / "stopping_per_run.csv")
    assert len(per_run) == 3 and set(per_run["criterion"]) == {"kappa"}
    assert (tmp_path / "stopping_summary.csv").is_file()
    empty = when_to_stop_markdown(R.assign(stop_kappa_value=np.nan), None)
    assert "recorded nothing the stopping rules need" in empty


@pytest.mark.slow
def test_a_resumed_session_measures_exactly_what_an_uninterrupted_one_does(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    whole = ActiveLearningSession(_config(rounds=3), dataset=ds)
    whole.run()
    store = SessionStore(tmp_path / "s.sqlite")
    part = ActiveLearningSession(_config(rounds=3), dataset=ds, store=store)
    part.run(rounds=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = ActiveLearningSession.resume(store, part.session_id, ds)
    resumed.run()
    np.testing.assert_array_equal(resumed.stop_set, whole.stop_set)
    for a, b in zip(store.load_rounds(part.session_id), whole.history, strict=True):
        np.testing.assert_array_equal(a.stopping["stop_decisions"], b.stopping["stop_decisions"])
        assert a.stopping["pool_mean_uncertainty"] == pytest.approx(b.stopping["pool_mean_uncertainty"])
        assert a.stopping["changed_share"] == pytest.approx(b.stopping["changed_share"], nan_ok=True)
