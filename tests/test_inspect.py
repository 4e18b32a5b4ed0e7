"""mlal_core.inspect: labelled sets, correlations, per-round frame, pick explanations, replayed
round states and strategy comparisons, on small real sessions (tests/inspect_sessions.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from inspect_sessions import comal_session, crab_session, new_session, small_yeast

from mlal_core import correlation, stats
from mlal_core import inspect as ins
from mlal_core.errors import ConfigError


@pytest.fixture(scope="module")
def crab():
    return crab_session()


@pytest.fixture(scope="module")
def comal():
    return comal_session()


# ---------------------------------------------------------------- labelled sets and correlations
def test_labelled_at_rebuilds_each_rounds_labelled_set(crab):
    assert ins.labelled_rounds(crab) == [0, 1, 2]
    pos0, _ = ins.labelled_at(crab, 0)
    assert np.array_equal(pos0, crab.initial_positions)
    pos2, y2 = ins.labelled_at(crab, 2)
    assert np.array_equal(pos2, crab.labeled) and np.array_equal(y2, crab.y_labeled)
    for t, rec in enumerate(ins.query_records(crab)):
        pos, y = ins.labelled_at(crab, t)
        assert len(pos) == rec.n_labeled
        assert np.array_equal(y, crab.dataset.train.Y[pos])  # simulated oracle = ground truth
    with pytest.raises(ConfigError, match="choose a round in 0..2"):
        ins.labelled_at(crab, 3)


def test_correlation_at_equals_what_crab_used(crab):
    for t, rec in enumerate(ins.query_records(crab)):
        snap = ins.correlation_at(crab, t)
        d = rec.selection.diagnostics
        assert np.allclose(snap.A, d["A"]) and np.allclose(snap.NegA, d["NegA"])
        assert np.array_equal(snap.asymmetric_pairs, d["asymmetric_pairs"])
        assert np.array_equal(snap.exclusive_pairs, d["exclusive_pairs"])
        assert snap.tau == pytest.approx(d["tau"], nan_ok=True)
        assert sorted(snap.dropped_labels.tolist()) == [x["label"] for x in d["dropped_labels"]]
        assert rec.n_exclusive_pairs == len(snap.exclusive_pairs)
        assert snap.n_labeled == rec.n_labeled


def test_correlation_change_and_marks(crab):
    before, after = ins.correlation_at(crab, 0), ins.correlation_at(crab, 2)
    ch = ins.correlation_change(before, after)
    assert np.allclose(ch["dA"], after.A - before.A)
    assert ch["drift_A"] == pytest.approx(correlation.correlation_drift(before.A, after.A))
    a0 = {tuple(p) for p in before.asymmetric_pairs.tolist()}
    a1 = {tuple(p) for p in after.asymmetric_pairs.tolist()}
    assert {tuple(p) for p in ch["new_asymmetric"].tolist()} == a1 - a0
    assert {tuple(p) for p in ch["gone_asymmetric"].tolist()} == a0 - a1
    same = ins.correlation_change(after, after)
    assert same["drift_A"] == 0 and len(same["new_exclusive"]) == 0

    marks = ins.crab_marks(after)
    asym, excl = marks.values()
    assert np.array_equal(asym, after.asymmetric_pairs)
    assert len(excl) == 2 * len(after.exclusive_pairs)  # both cells of a symmetric pair
    table = ins.pairs_table(after, ins.label_names(crab))
    assert len(table) == len(after.asymmetric_pairs) + len(after.exclusive_pairs)
    assert set(table["kind"]) <= {"asymmetric", "mutually exclusive"}
    assert (table.loc[table["kind"] == "asymmetric", "z(A[m,n])"] > 1).all()


def test_pool_snapshot_is_the_ground_truth(crab):
    snap = ins.snapshot_from_labels(crab.dataset.train.Y)
    assert np.allclose(snap.A, correlation.positive_correlation(crab.dataset.train.Y))
    assert snap.n_labeled == crab.n_pool


def test_display_order_sorts_and_filters():
    names = ["b", "a", "d", "c", "e"]
    counts = np.array([5, 0, 9, 1, 3])
    assert ins.display_order(names, counts, by="frequency").tolist() == [2, 0, 4, 3, 1]
    assert ins.display_order(names, counts, by="name").tolist() == [1, 0, 3, 2, 4]
    assert ins.display_order(names, counts, by="frequency", top_k=2).tolist() == [2, 0]
    assert ins.display_order(names, counts, by="index", hide_unseen=True).tolist() == [0, 2, 3, 4]
    assert ins.display_order(names, counts, by="index", only=[4, 1]).tolist() == [1, 4]
    A = correlation.positive_correlation(np.array([[1, 1, 0, 0, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0]]))
    order = ins.display_order(names, counts, by="cluster", matrix=A)
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]
    # nothing left after filtering: the most frequent label is still shown
    assert ins.display_order(names, counts, only=[1], hide_unseen=True).tolist() == [2]


# ---------------------------------------------------------------- per-round quantities
def test_per_round_frame_matches_the_records(crab, comal):
    frame = ins.per_round_frame(crab)
    recs = ins.query_records(crab)
    assert frame["round"].tolist() == [0, 1]
    for rec, (_, row) in zip(recs, frame.iterrows()):
        assert row["mean_ir_selected"] == pytest.approx(stats.mean_ir(rec.labels))
        assert row["hard_to_learn_count"] == rec.hard_to_learn_count
        assert row["conflicting_count"] == rec.conflicting_count
        assert row["label_coverage"] == pytest.approx(rec.label_coverage)
        assert row["selected_hard_to_learn"] == rec.selection.details["hard_to_learn"].sum()
        assert row["selected_conflicting"] == rec.selection.details["conflicting"].sum()
    # CoMAL records no per-pick hard-to-learn flag
    assert ins.per_round_frame(comal)["selected_hard_to_learn"].isna().all()
    empty = ins.per_round_frame(new_session("random", rounds_to_run=0))
    assert empty.empty and "mean_ir_selected" in empty.columns


def test_picks_table_and_pick_explanation(crab):
    t = 1
    rec = ins.query_records(crab)[t]
    table = ins.picks_table(crab, t)
    assert table["position"].tolist() == rec.selected.tolist()
    cand = ins.round_candidates(crab, t)
    assert cand.size == rec.selection.scores.size == rec.n_unlabeled
    assert np.isin(rec.selected, cand).all()
    names = ins.label_names(crab)
    scores = rec.selection.scores
    finite = scores[np.isfinite(scores)]
    for pos in rec.selected[:3]:
        info = ins.pick_explanation(crab, t, int(pos))
        s = scores[np.flatnonzero(cand == pos)[0]]
        assert info["score"] == pytest.approx(s)
        assert info["percentile"] == pytest.approx(100 * np.mean(finite <= s))
        assert info["rank"] == int((finite > s).sum()) + 1
        assert info["n_scored"] == finite.size  # CRAB scores its refined pool U* only
        assert info["picked_mask"].sum() == len(rec.selected)
        assert info["pools"]  # CRAB says which refined pool(s) the pick came from
        assert "centroid" in info["reason"]
        assert set(info["labels"].split("|")) <= set(names) | {""}
    # label indices in CRAB's details are shown as names
    pools = " ".join(table["pools"])
    assert any(name in pools for name in names) or "hard-to-learn" in pools or "top-up" in pools
    not_picked = int(np.setdiff1d(cand, rec.selected)[0])
    with pytest.raises(ConfigError, match="was not picked"):
        ins.pick_explanation(crab, t, not_picked)


def test_event_helpers_map_clicks_to_picks():
    positions = [40, 7, 19]
    cand = np.array([3, 7, 19, 25, 40])
    assert ins.position_from_table_event({"selection": {"rows": [2], "columns": []}}, positions) == 19
    assert ins.position_from_table_event({"selection": {"rows": []}}, positions) is None
    assert ins.position_from_table_event(None, positions) is None
    assert ins.position_from_chart_event({"selection": {"points": [{"customdata": 4}]}}, cand, positions) == 40
    # a histogram bar (customdata = bin edges) or an unpicked candidate is not a pick
    bar = {"customdata": [0.1, 0.2]}
    assert ins.position_from_chart_event({"selection": {"points": [bar, {"customdata": [0]}]}}, cand, positions) is None
    assert ins.position_from_chart_event({"selection": {"points": [bar, {"customdata": [1]}]}}, cand, positions) == 7
    assert ins.position_from_chart_event({}, cand, positions) is None


def test_candidate_subset_candidates_align_with_scores():
    s = new_session("entropy", rounds_to_run=1, candidate_subset=120)
    rec = ins.query_records(s)[0]
    cand = ins.round_candidates(s, 0)
    assert cand.size == 120 == rec.selection.scores.size
    assert np.isin(rec.selected, cand).all()
    info = ins.pick_explanation(s, 0, int(rec.selected[0]))
    assert info["rank"] == 1 and info["percentile"] == pytest.approx(100.0)  # entropy takes the top score
    state = ins.round_state(s, 0)
    assert np.array_equal(state.context.unlabeled, cand) and state.reproduced is True


# ---------------------------------------------------------------- the round's model state
def test_round_state_replay_reproduces_the_recorded_picks(crab):
    state = ins.round_state(crab, 1)
    assert state.source == "replayed" and state.reproduced is True
    pos1, y1 = ins.labelled_at(crab, 1)
    assert np.array_equal(state.context.labeled, pos1) and np.array_equal(state.context.y_labeled, y1)
    assert state.n == 10 and state.context.round == 1
    # kept in memory: the second call does not retrain
    again = ins.round_state(crab, 1)
    assert again.context is state.context and ins.cached_state(crab, 1) is not None


def test_keep_contexts_keeps_live_rounds_in_memory():
    s = new_session("entropy", rounds_to_run=0)
    assert ins.keep_contexts(s, max_rounds=1) is s
    ins.keep_contexts(s, max_rounds=1)  # idempotent
    copy = pickle.loads(pickle.dumps(s))  # the wrapper is picklable (a closure would not be)
    assert copy.propose.session is copy
    s.run(rounds=2)
    assert ins.cached_state(s, 0) is None  # only the last round is kept
    state = ins.cached_state(s, 1)
    assert state is not None and state.source == "memory" and state.reproduced is True
    sel = ins.compare_strategies(s, 1, ["entropy"], state=state).picks["entropy"]
    assert np.array_equal(sel, ins.query_records(s)[1].selected)


def test_compare_strategies_on_one_model_state(crab):
    cmp = ins.compare_strategies(crab, 1, ["crab", "random", "entropy", "besra", "subword"])
    recorded = ins.query_records(crab)[1].selected
    assert np.array_equal(np.sort(cmp.picks["crab"]), np.sort(recorded))  # same state, same rng: same picks
    jac = cmp.jaccard
    assert list(jac.index) == list(jac.columns) == ["recorded (crab)", "crab", "random", "entropy", "besra"]
    assert np.allclose(jac.to_numpy(), jac.to_numpy().T)
    assert np.allclose(np.diag(jac.to_numpy()), 1.0)
    assert jac.loc["recorded (crab)", "crab"] == 1.0
    for name in ("random", "entropy", "besra"):
        picks = cmp.picks[name]
        assert len(picks) == 10 and not np.isin(picks, ins.labelled_at(crab, 1)[0]).any()
    assert "subword" in cmp.errors  # a text-only strategy on a tabular set fails alone
    row = cmp.summary.set_index("strategy").loc["subword"]
    assert row["error"] and row["n_picked"] == 0
    assert set(cmp.picks_frame()["strategy"]) == {"crab", "random", "entropy", "besra"}
    with pytest.raises(ConfigError):
        ins.compare_strategies(crab, 1, [])


def test_reopened_session_replays_from_the_store(tmp_path):
    from mlal_core.loop import ActiveLearningSession
    from mlal_core.store import SessionStore

    store = SessionStore(tmp_path / "s.sqlite")
    live = new_session("crab", rounds_to_run=2, store=store)
    reopened = ActiveLearningSession.resume(store, live.session_id, dataset=small_yeast())
    assert ins.session_key(reopened) == ins.session_key(live)
    for t in (0, 1, 2):
        assert np.allclose(ins.correlation_at(reopened, t).A, ins.correlation_at(live, t).A)
    pd.testing.assert_frame_equal(ins.picks_table(reopened, 1), ins.picks_table(live, 1))
    state = ins.round_state(reopened, 0)
    assert state.source == "replayed" and state.reproduced is True


# ---------------------------------------------------------------- embeddings
def test_feature_sample_and_roles(crab):
    pos = ins.feature_sample(crab, cap=100)
    assert pos.size == 100 and np.isin(crab.labeled, pos).all() and np.all(np.diff(pos) > 0)
    assert np.array_equal(pos, ins.feature_sample(crab, cap=100))
    roles = ins.roles_at(crab, 1, pos)
    lab1, _ = ins.labelled_at(crab, 1)
    assert (roles == "labelled").sum() == len(lab1)
    assert (roles == "picked in round 1").sum() == 10
    assert "picked in round 2" not in set(ins.roles_at(crab, 2, pos))


def test_comal_embeddings_and_k_profile(comal, crab):
    assert ins.comal_rounds(comal) == [0, 1] and ins.comal_rounds(crab) == []
    emb = ins.comal_embeddings(comal, 1)
    m, K = len(emb["positions"]), comal.n_labels
    assert emb["z"].shape[:2] == (m, K) and emb["prototypes"].shape == (K, emb["z"].shape[2])
    picked = ins.query_records(comal)[1].selected
    assert set(emb["positions"][emb["role"] == "selected"]) == set(picked)
    prof = ins.comal_k_profile(comal, 1, int(picked[0]))
    det = ins.query_records(comal)[1].selection.details.set_index("position").loc[int(picked[0])]
    assert prof["above_kbar"].sum() == det["n_above_kbar"]
    assert prof["PFD term"].sum() == pytest.approx(det["PFD"], rel=1e-3)  # k stored as float32
    assert ins.comal_embeddings(crab, 0) is None and ins.comal_k_profile(crab, 0, int(crab.labeled[-1])) is None
