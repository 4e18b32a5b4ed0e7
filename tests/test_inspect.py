"""mlal_core.inspection.round_history: labelled sets, correlations, per-round frame, pick explanations, replayed
round states and strategy comparisons, on small real sessions (tests/inspect_sessions.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from inspect_sessions import comal_session, crab_session, new_session, small_yeast

from mlal_core import correlation, stats, viz
from mlal_core.errors import ConfigError
from mlal_core.inspection import embedding_maps as maps
from mlal_core.inspection import round_history as ins


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
        assert set(info["labels"].split(", ")) <= set(names) | {""}
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
    # the rank is over the drawn candidates, and says so
    among = f"the 120 candidates (a seeded random subset of the {rec.n_unlabeled} unlabelled samples)"
    assert info["ranked_among"] == among and info["rank_text"] == f"1 of {among}"
    assert info["rank_label"] == "Rank in the candidate subset"
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
    assert [type(f) for f in s.proposal_listeners] == [ins.ContextKeeper]
    assert "propose" not in vars(s)  # a listener, not a replaced method
    copy = pickle.loads(pickle.dumps(s))  # the listener is picklable (a closure would not be)
    assert [(type(f), f.max_rounds) for f in copy.proposal_listeners] == [(ins.ContextKeeper, 1)]
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
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.store import SessionStore

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
    pos = maps.feature_sample(crab, cap=100)
    assert pos.size == 100 and np.isin(crab.labeled, pos).all() and np.all(np.diff(pos) > 0)
    assert np.array_equal(pos, maps.feature_sample(crab, cap=100))
    roles = maps.roles_at(crab, 1, pos)
    lab1, _ = ins.labelled_at(crab, 1)
    assert (roles == "labelled").sum() == len(lab1)
    assert (roles == "picked in round 1").sum() == 10
    assert "picked in round 2" not in set(maps.roles_at(crab, 2, pos))


def test_comal_embeddings_and_k_profile(comal, crab):
    assert maps.comal_rounds(comal) == [0, 1] and maps.comal_rounds(crab) == []
    emb = maps.comal_embeddings(comal, 1)
    m, K = len(emb["positions"]), comal.n_labels
    assert emb["z"].shape[:2] == (m, K) and emb["prototypes"].shape == (K, emb["z"].shape[2])
    picked = ins.query_records(comal)[1].selected
    assert set(emb["positions"][emb["role"] == "selected"]) == set(picked)
    prof = ins.comal_k_profile(comal, 1, int(picked[0]))
    det = ins.query_records(comal)[1].selection.details.set_index("position").loc[int(picked[0])]
    assert prof["above_kbar"].sum() == det["n_above_kbar"]
    assert prof["PFD term"].sum() == pytest.approx(det["PFD"], rel=1e-3)  # k stored as float32
    assert maps.comal_embeddings(crab, 0) is None and ins.comal_k_profile(crab, 0, int(crab.labeled[-1])) is None


# ---------------------------------------------------------------- maps: whose labels, which features
def _dense(Y):
    return np.asarray(Y.toarray() if hasattr(Y, "toarray") else Y)


@pytest.fixture(scope="module")
def relabelled():
    """A session whose round-0 picks were answered with labels that are not the ground truth (every
    label flipped), as a person might answer them."""
    s = new_session("random", rounds_to_run=0)
    pending = s.propose()
    s.commit(pending, labels=1 - _dense(s.dataset.train.Y)[pending.selected])
    return s


def test_feature_map_colours_labelled_samples_with_the_sessions_labels(relabelled):
    s, t = relabelled, 1
    pos = maps.feature_sample(s, cap=200)
    lab, lab_y = ins.labelled_at(s, t)
    truth = _dense(s.dataset.train.Y)
    assert not s.oracle_is_simulated  # a person's answers: the pool's ground truth is no oracle's answer
    Y, source = maps.map_labels(s, t, pos)
    row = {int(p): i for i, p in enumerate(lab)}
    labelled = source == "labelled"
    assert labelled.sum() == len(lab) and set(source[~labelled]) == {"unknown"}
    np.testing.assert_array_equal(Y[labelled], lab_y[[row[int(p)] for p in pos[labelled]]])
    assert np.isnan(Y[~labelled]).all()
    # the label whose count the made-up answers changed most
    j = int(np.argmax(np.abs(lab_y.sum(axis=0) - truth[lab].sum(axis=0))))
    n_session, n_truth = int(lab_y[:, j].sum()), int(truth[lab, j].sum())
    assert n_session != n_truth
    layers = maps.feature_map_layers(s, t, pos, "label", j)
    xy = np.random.default_rng(0).normal(size=(len(pos), 2))
    names = {tr.name for tr in viz.embedding_scatter(**layers.scatter_args(xy)).data}
    assert f"positive (labelled) ({n_session})" in names
    assert f"negative (labelled) ({len(lab) - n_session})" in names
    assert f"unknown (unlabelled) ({len(pos) - len(lab)})" in names
    assert "person" in layers.note
    counts = maps.feature_map_layers(s, t, pos, "count")
    assert counts.keep.sum() == len(lab)  # unknown labels are left out of the count map
    np.testing.assert_array_equal(counts.values[counts.keep], lab_y[[row[int(p)] for p in pos[counts.keep]]].sum(1))
    assert maps.feature_map_default_label(s, t) == int(np.argmax(lab_y.sum(axis=0)))


def test_feature_map_of_a_simulated_session_shows_the_ground_truth_of_the_pool(crab):
    pos = maps.feature_sample(crab, cap=150)
    Y, source = maps.map_labels(crab, 1, pos)
    unl = source == "ground truth"
    assert unl.sum() == len(pos) - len(ins.labelled_at(crab, 1)[0])
    np.testing.assert_array_equal(Y[unl], _dense(crab.dataset.train.Y)[pos[unl]])
    layers = maps.feature_map_layers(crab, 1, pos, "label", 0)
    assert {"positive (unlabelled, ground truth)", "negative (unlabelled, ground truth)"} & set(layers.groups)
    assert "ground truth" in layers.note and layers.keep.all()
    role = maps.feature_map_layers(crab, 1, pos, "role")
    assert set(role.groups) == {"unlabelled", "labelled", "picked in round 1"} and not role.picked_in_legend
    assert role.picked.sum() == 10
    with pytest.raises(ConfigError, match="colouring"):
        maps.feature_map_layers(crab, 1, pos, "colour")


def test_projection_features_of_token_sessions_are_tfidf_or_cached_minilm(small_datasets, crab):
    import scipy.sparse as sp

    from mlal_core import paths
    from mlal_core.features import cache, minilm
    from mlal_core.features.corpus import corpus_of
    from mlal_core.features.device import precision_name, resolve_device, resolve_precision
    from mlal_core.features.tfidf import fit_tfidf
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession

    ds = small_datasets["reuters_small"]
    cfg = SessionConfig(model="textcnn", model_params={"n_members": 2}, initial_size=20, query_size=5, rounds=1)
    s = ActiveLearningSession(cfg, dataset=ds)
    assert s.representation == "tokens"
    X, words = maps.projection_features(s)
    _, ref = fit_tfidf(list(ds.train.texts), {})
    assert sp.issparse(X) and X.shape == ref["train"].shape and (X != ref["train"]).nnz == 0
    assert "TF-IDF" in words and "token ids" in words and "textcnn" in words
    assert maps.projection_features(s)[0] is X  # kept on the session
    # the texts' MiniLM embeddings, when the feature cache has them, are preferred (never encoded here)
    prec = precision_name(resolve_precision("auto", resolve_device(None)))
    corp = corpus_of(ds)
    fake = np.random.default_rng(0).normal(size=(len(corp), 384)).astype(np.float32)
    cache.EmbeddingEntry(paths.cache_dir(), minilm.cache_key(corp, cfg.max_length, prec)).save(fake, {})
    X2, words2 = maps.projection_features(ActiveLearningSession(cfg, dataset=ds))
    np.testing.assert_array_equal(X2, fake[corp.rows["train"]])
    assert "MiniLM" in words2 and "feature cache" in words2
    # fixed features are what the model sees
    X3, words3 = maps.projection_features(crab)
    assert X3 is crab.features.train and "what the model sees" in words3


def _toy_comal():
    rng = np.random.default_rng(0)
    role = np.array(["labelled"] * 4 + ["selected"] * 2 + ["unlabelled"] * 4)
    y = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0],
                  [1, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 1], [1, 0, 1], [1, 0, 0]], dtype=bool)
    return {"role": role, "y": y, "has_prototype": np.array([True, True, False]),
            "z": rng.normal(size=(10, 3, 4)), "k": rng.uniform(size=(10, 3)), "positions": np.arange(100, 110),
            "prototypes": rng.normal(size=(3, 4))}


def test_comal_map_rows_choices_and_default_label():
    emb = _toy_comal()
    rows = maps.comal_map_rows(emb["role"], cap=5)
    assert len(rows) == 5 and {4, 5} <= set(rows) and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, maps.comal_map_rows(emb["role"], cap=5))  # seeded
    assert maps.comal_map_rows(emb["role"], cap=1).tolist() == [4, 5]  # the picks, always
    assert maps.comal_map_rows(emb["role"], cap=50).tolist() == list(range(10))
    choices, counts = maps.comal_label_choices(emb)
    assert counts.tolist() == [3, 1, 1]  # positives among the labelled rows
    assert choices == [0, 1]  # label 2 has no prototype
    # rows 0..5: label 0 has 4 positives of 6 (balance 2), label 1 has 1 (balance 1)
    assert maps.comal_default_label(emb, np.arange(6), choices, counts) == 0
    # rows 1 and 3: label 0 has 1 positive of 2, label 1 none (balance 1 vs 0)
    assert maps.comal_default_label(emb, np.array([1, 3]), choices, counts) == 0
    # rows 2 and 3: both labels split 1-1: the tie goes to more labelled positives (label 0)
    assert maps.comal_default_label(emb, np.array([2, 3]), choices, counts) == 0
    # rows 2 and 4: label 0 all positive (balance 0), label 1 split 1-1
    assert maps.comal_default_label(emb, np.array([2, 4]), choices, counts) == 1
    with pytest.raises(ConfigError, match="prototype"):
        maps.comal_default_label(emb, rows, [], counts)


def test_comal_map_points_and_groups():
    emb = _toy_comal()
    names = ["a", "b", "c"]
    rows = np.array([0, 4, 7])
    Z, P, layers = maps.comal_map(emb, rows, [0], names)
    np.testing.assert_array_equal(Z, emb["z"][rows, 0])
    np.testing.assert_array_equal(P, emb["prototypes"][[0]])
    assert layers.groups.tolist() == ["positive (labelled)", "positive (predicted)", "negative (predicted)"]
    assert layers.picked.tolist() == [False, True, False] and layers.group_name == "a"
    Z, P, layers = maps.comal_map(emb, rows, [0, 1], names, several=True)
    assert Z.shape == (6, 4) and P.shape == (2, 4)
    np.testing.assert_array_equal(Z[3], emb["z"][4, 1])  # (row 4, label b)
    assert layers.groups.tolist() == ["a", "negative (any label)", "a", "negative (any label)",
                                      "negative (any label)", "negative (any label)"]
    assert layers.picked_name == "picked (1 samples x 2 labels)" and layers.prototype_groups == ["a", "b"]
    fig = viz.embedding_scatter(**layers.scatter_args(np.zeros((6, 2)), np.ones((2, 2))))
    assert "prototypes (2)" in {t.name for t in fig.data}


# ---------------------------------------------------------------- moved out of the pages
def test_correlation_by_round_is_the_drift_between_consecutive_labelled_sets(crab):
    df = ins.correlation_by_round(crab)
    assert df["round"].tolist() == [0, 1, 2]
    snaps = [ins.correlation_at(crab, t) for t in (0, 1, 2)]
    assert np.isnan(df["drift_A"].iloc[0])
    for t in (1, 2):
        assert df["drift_A"].iloc[t] == pytest.approx(correlation.correlation_drift(snaps[t - 1].A, snaps[t].A))
    assert df["n_labeled"].tolist() == [30, 40, 50]
    assert df["exclusive_pairs"].tolist() == [len(s.exclusive_pairs) for s in snaps]
    calls = []
    ins.correlation_by_round(crab, lambda t: calls.append(t) or snaps[t])
    assert calls == [0, 1, 2]  # each snapshot once


def test_pick_prediction_lists_the_round_models_top_labels():
    class Ctx:
        def mean_proba(self, positions):
            assert positions.tolist() == [7]
            return np.array([[0.1, 0.9, 0.5, 0.3]])

    state = ins.RoundState(round=0, context=Ctx(), model=None, n=1, source="memory", reproduced=True)
    assert ins.pick_prediction(state, 7, ["a", "b", "c", "d"], top_k=3) == "b 0.90, c 0.50, d 0.30"


def test_round_state_and_comparison_report_the_retraining():
    s = new_session("entropy", rounds_to_run=1)
    seen = []
    state = ins.round_state(s, 0, progress=lambda d, n, m: seen.append((d, n, m)))
    assert state.source == "replayed" and state.reproduced is True
    messages = [m for _, _, m in seen]
    assert any(m.startswith("Round 0: training") for m in messages)
    assert any(m.startswith("Round 0: predicting the pool") or "pool" in m for m in messages)
    ins.forget_contexts(s)  # forget it: the comparison rebuilds the model again
    seen.clear()
    ins.compare_strategies(s, 0, ["random"], progress=lambda d, n, m: seen.append((d, n, m)))
    rebuild = [m for _, _, m in seen if m.startswith("rebuilding round 0's model: ")]
    assert any("training" in m for m in rebuild)
    assert seen[-1] == (2, 2, "done")


# ---------------------------------------------------------------- label names in the picks tables
def test_pick_tables_name_crabs_label_indices(crab):
    from mlal_core.session import tables

    rec = ins.query_records(crab)[1]
    names = ins.label_names(crab)
    raw = rec.selection.details
    table = tables.picks_table(rec.selected, names, labels=rec.labels, details=raw, name_details=True)
    # CRAB's own "labels" column (the labels of its refined pools) does not hide the oracle's answer
    assert "detail_labels" in table.columns
    assert table["oracle_labels"].tolist() == [tables.label_string(y, names) for y in rec.labels]
    for (_, r), (_, d) in zip(table.iterrows(), raw.iterrows()):
        expected = ", ".join(names[int(j)] for j in str(d["labels"]).split(",") if j)
        assert r["detail_labels"] == expected
        assert r["top_label"] == names[int(d["top_label"])]
        if str(d["pools"]).startswith("label-wise:"):
            first = str(d["pools"]).split(";")[0].split(":")[1]
            assert r["pools"].split(";")[0] == "label-wise pool of " + ", ".join(names[int(j)] for j in first.split(","))
            assert r["reason"].endswith(f"from the {r['pools']}") and "label-wise:" not in r["reason"]
    assert any(str(d).startswith("label-wise:") for d in raw["pools"])  # the case above was exercised
    # the inspector's table uses the same names
    insp = ins.picks_table(crab, 1)
    assert insp["detail_labels"].tolist() == table["detail_labels"].tolist()
    assert insp["pools"].tolist() == table["pools"].tolist() and insp["reason"].tolist() == table["reason"].tolist()
    # the store's CSV names them the same way, under the same column names (issue 14: names, never
    # indices, in every export); the indices the strategy recorded stay available (and in session.json)
    csv = tables.picks_frame([rec], names)
    assert csv["detail_labels"].tolist() == table["detail_labels"].tolist()
    assert csv["top_label"].tolist() == table["top_label"].tolist()
    assert [c for c in csv.columns if c in table.columns] == [c for c in table.columns if c in csv.columns]
    assert tables.picks_frame([rec], names, name_details=False)["detail_labels"].tolist() == raw["labels"].tolist()
    assert tables.named_details(pd.DataFrame({"label_ranking": ["2 > 0"], "label_pairs": ["0-1, 2-3"]}),
                               ["a", "b", "c", "d"]).iloc[0].tolist() == ["c > a", "(a, b), (c, d)"]


# ---------------------------------------------------------------- learning curves: what may be averaged
def _runs(**overrides_by_session):
    """Rounds of four sessions as :func:`views.session_rounds` returns them: random seeds 0 and 1 and
    entropy seed 0 with query size 10, and random seed 2 with query size 20."""
    import json

    base = {"model": "mlp_ensemble", "representation": "auto", "max_length": 128, "initial_size": 20,
            "initial_method": "random", "query_size": 10, "candidate_subset": None,
            "model_params": json.dumps({"n_members": 2}), "strategy_params": "{}", "pool_size": 100}
    sessions = {"s1": ("random", 0, {}, [0.2, 0.4, 0.6]), "s2": ("random", 1, {}, [0.4, 0.6, 0.8]),
                "s3": ("entropy", 0, {}, [0.3, 0.5, 0.9]), "s4": ("random", 2, {"query_size": 20}, [0.1, 0.5, 0.7])}
    rows = []
    for sid, (strategy, seed, cfg, scores) in sessions.items():
        cfg = {**base, **cfg, **overrides_by_session.get(sid, {})}
        for r, score in enumerate(scores):
            rows.append({"session": sid, "strategy": strategy, "seed": seed, "round": r,
                         "n_labeled": 20 + r * cfg["query_size"], "micro_f1": score, **cfg})
    return pd.DataFrame(rows)


def test_session_settings_name_what_sets_sessions_apart():
    from mlal_core.inspection import views

    st = views.session_settings(_runs(), kind="tabular").set_index("session")
    assert st.loc["s1", "curve"] == st.loc["s2", "curve"] == "random \u00b7 query size 10"
    assert st.loc["s4", "curve"] == "random \u00b7 query size 20"
    assert st.loc["s3", "curve"] == "entropy \u00b7 query size 10"
    assert st.loc["s1", "setting_key"] == st.loc["s2", "setting_key"] == st.loc["s3", "setting_key"]
    assert st.loc["s1", "setting_key"] != st.loc["s4", "setting_key"]
    assert (st["model_differences"] == "").all() and st["model_setting"].nunique() == 1
    # sessions that differ in strategy and seed only keep the plain strategy name
    same = views.session_settings(_runs()[lambda d: d["session"] != "s4"], kind="tabular")
    assert same["curve"].tolist() == ["random", "random", "entropy"] and (same["differences"] == "").all()
    # strategy parameters are compared within a strategy; unset values read as what they mean
    other = views.session_settings(_runs(s2={"candidate_subset": 50, "strategy_params": '{"n_reference": 37}'})
                                   [lambda d: d["session"] != "s4"]).set_index("session")["curve"]
    assert other.to_dict() == {"s1": "random \u00b7 candidate subset all, n reference default",
                               "s2": "random \u00b7 candidate subset 50, n reference 37",
                               "s3": "entropy \u00b7 candidate subset all"}
    # "auto" is MiniLM on a text set: no difference with an explicit "minilm"
    text = views.session_settings(_runs(s2={"representation": "minilm"})[lambda d: d["session"] != "s4"], kind="text")
    assert (text["differences"] == "").all()
    # a model parameter that differs names the model settings (one full-data score each)
    mp = views.session_settings(_runs(s3={"model_params": '{"n_members": 3}'})[lambda d: d["session"] != "s4"])
    assert mp.set_index("session").loc["s3", "curve"] == "entropy \u00b7 members 3"
    ms = views.model_settings(mp)
    assert ms["label"].tolist() == ["members 2", "members 3"] and ms["sessions"].tolist() == [["s1", "s2"], ["s3"]]
    # a training mini-batch sampler changes what the model learns: its sessions are a setting of their own
    bs = views.session_settings(_runs(s2={"model_params": '{"n_members": 2, "batch_sampler": "uncertainty"}'})
                                [lambda d: d["session"] != "s4"]).set_index("session")["curve"]
    assert bs["s1"] != bs["s2"] and "uncertainty" in bs["s2"]


def test_learning_curves_average_only_sessions_of_one_setting():
    from mlal_core import metrics
    from mlal_core.inspection import views

    runs = _runs()
    settings = views.session_settings(runs, kind="tabular")
    runs = runs.merge(settings[["session", "curve", "setting_key"]], on="session")
    # grouping by strategy alone would average query sizes 10 and 20: refused
    with pytest.raises(ConfigError, match="mix runs of 2 different settings"):
        metrics.summarize_curves(runs, "micro_f1", by="strategy", setting="setting_key")
    with pytest.raises(ConfigError, match="settings"):
        views.learning_curve_tables(runs, "micro_f1", by="strategy")
    summary, per_session, per_group = views.learning_curve_tables(
        runs, "micro_f1", by="curve", target={"s1": 0.5, "s2": 0.5, "s3": 0.5, "s4": 0.6})
    r10 = summary[summary["curve"] == "random \u00b7 query size 10"]
    assert r10["n_labeled"].tolist() == [20, 30, 40] and r10["mean"].tolist() == pytest.approx([0.3, 0.5, 0.7])
    assert r10["n"].tolist() == [2, 2, 2]
    r20 = summary[summary["curve"] == "random \u00b7 query size 20"]
    assert r20["n_labeled"].tolist() == [20, 40, 60] and r20["mean"].tolist() == pytest.approx([0.1, 0.5, 0.7])
    ps = per_session.set_index("session")
    assert ps.loc["s1", "aulc"] == pytest.approx(0.4)  # (0.3 + 0.5) / 2 over equal steps
    assert ps.loc["s1", "fraction_to_reach"] == pytest.approx(0.4)  # 0.6 >= 0.5 at 40 of 100
    assert ps.loc["s4", "fraction_to_reach"] == pytest.approx(0.6)  # its own target 0.6: 0.7 at 60
    pg = per_group.set_index("curve")
    assert pg.loc["random \u00b7 query size 10", "aulc_mean"] == pytest.approx(0.5)
    assert pg.loc["random \u00b7 query size 10", "fraction_to_reach (mean curve)"] == pytest.approx(0.3)


def test_model_description_says_which_model_and_metric_help():
    from mlal_core.inspection import views
    from mlal_core.session.config import SessionConfig

    mlp = views.model_description(SessionConfig(model_params={"n_members": 3, "hidden_size": 64}), "text")
    assert mlp == "MLP ensemble (3 members, 64 hidden units) on MiniLM sentence embeddings"
    cnn = views.model_description(SessionConfig(model="textcnn", model_params={"n_members": 2, "max_length": 64}))
    assert cnn.startswith("TextCNN ensemble (2 members, kernels 3/4/5 x 100 filters") and "up to 64 tokens" in cnn
    assert "hidden units" not in cnn
    rnn = views.model_description(SessionConfig(model="textrnn"), "text")
    assert "BiGRU with 64 hidden units" in rnn and "up to 256 tokens" in rnn
    tr = views.model_description(SessionConfig(model="transformer", model_params={"mc_passes": 4}), "text")
    assert "transformer" in tr and "up to 128 tokens" in tr and "MC dropout with 4 passes" in tr
    for m in ("micro_f1", "macro_f1", "micro_f1_tuned", "macro_f1_tuned", "macro_auc", "p@1", "p@3", "ndcg@3",
              "lrap", "hamming_loss", "ranking_loss"):
        assert len(views.metric_help(m)) > 40, m
    assert "AULC" in views.metric_help("macro_auc") and "threshold" in views.metric_help("macro_f1_tuned")
    tuned = views.metric_help("hamming_loss_tuned")  # says the tuned threshold, never "at threshold 0.5"
    assert "at the tuned threshold" in tuned and "0.5" not in tuned and "validation split" in tuned


# ---------------------------------------------------------------- the session's public hooks
class _TopEntropy:
    """A user's own strategy (not registered): the candidates of highest summed label entropy."""

    def select(self, ctx, n):
        from mlal_core.strategies.base import Selection

        p = np.clip(ctx.mean_proba(ctx.unlabeled), 1e-12, 1 - 1e-12)
        scores = -(p * np.log(p) + (1 - p) * np.log(1 - p)).sum(axis=1)
        top = np.argsort(-scores, kind="stable")[:n]
        return Selection(indices=ctx.unlabeled[top], scores=scores, details=pd.DataFrame({"score": scores[top]}))


def test_replay_round_uses_the_sessions_own_strategy_object_and_leaves_it_unchanged():
    from mlal_core.session.loop import ActiveLearningSession

    from inspect_sessions import make_config

    s = ActiveLearningSession(make_config("random"), dataset=small_yeast(), strategy=_TopEntropy())
    s.run(rounds=2)
    heard = []
    s.proposal_listeners.append(lambda session, pending: heard.append((session, pending.round)))
    before = (s.labeled.copy(), len(s.history))
    pending = s.replay_round(1)
    assert np.array_equal(pending.selected, s.history[1].selected)  # the same object picked the same samples
    assert heard == []  # the throw-away copy has no listeners; this session was not proposed to
    assert np.array_equal(s.labeled, before[0]) and len(s.history) == before[1]
    with pytest.raises(ConfigError, match="made no query"):
        s.replay_round(2)
    s.step()
    assert heard == [(s, 2)]


# ---------------------------------------------------------------- balance with coverage (issue 17)
def test_round_balance_is_computed_on_the_batch_and_the_labelled_set_after_it(crab):
    hist = crab.history
    for i, rec in enumerate(hist):
        bal = ins.round_balance(crab, i)
        _, y_after = ins.labelled_at(crab, min(i + 1, len(ins.query_records(crab))))
        assert bal["label_coverage"] == pytest.approx(rec.label_coverage)
        assert bal["label_coverage"] == pytest.approx(stats.label_coverage(y_after))
        assert bal["labelled_entropy"] == pytest.approx(stats.label_entropy(y_after))
        if rec.final:
            assert np.isnan(bal["batch_coverage"])
        else:
            assert bal["batch_coverage"] == pytest.approx(stats.label_coverage(rec.labels))
            assert 0 < bal["batch_coverage"] <= bal["label_coverage"]
    frame = ins.balance_frame(crab)
    assert list(frame.columns) == ["round", "n_labeled", *ins.BALANCE_NAMES]
    assert frame["batch_coverage"].tolist() == pytest.approx(
        [ins.round_balance(crab, i)["batch_coverage"] for i in range(len(frame))])


def test_stored_balance_columns_agree_with_the_live_session(tmp_path):
    from mlal_core.experiments import analysis as A
    from mlal_core.experiments.results import load_pick_labels
    from mlal_core.inspection import views
    from mlal_core.session.store import SessionStore

    store = SessionStore(tmp_path / "s.sqlite")
    live = new_session("random", rounds_to_run=2, store=store)
    runs = views.session_rounds(store, [live.session_id])
    want = [ins.round_balance(live, i) for i in range(len(live.history))]
    assert runs["batch_coverage"].tolist() == pytest.approx([w["batch_coverage"] for w in want], nan_ok=True)
    assert runs["labelled_entropy"].tolist() == pytest.approx([w["labelled_entropy"] for w in want])
    # the report's path: the labels read back from the store file, the columns added to a rounds frame
    rounds = runs.drop(columns=["batch_coverage", "labelled_entropy"]).rename(columns={"session": "session_id"})
    labels = load_pick_labels(store.path, [live.session_id])
    got = A.with_balance(rounds, labels)
    assert got["batch_coverage"].tolist() == pytest.approx([w["batch_coverage"] for w in want], nan_ok=True)
    assert got["labelled_entropy"].tolist() == pytest.approx([w["labelled_entropy"] for w in want])
    summary = A.balance_summary(got.assign(setting="s", final=got["n_selected"] == 0))
    assert {"mean_ir_selected", "batch_coverage", "label_coverage", "labelled_entropy"} <= set(summary.columns)
    fig = A.balance_figure(got.assign(setting="s", final=got["n_selected"] == 0), "labelled_entropy")
    assert len(fig.data) >= 1
    with pytest.raises(ConfigError):
        A.balance_figure(got.assign(setting="s"), "mean_ir_selected")


# ---------------------------------------------------------------- display formatting (issue 14, screenshots)
def test_learning_curve_std_of_one_session_is_undefined():
    from mlal_core.inspection import views

    runs = _runs()
    settings = views.session_settings(runs, kind="tabular")
    runs = runs.merge(settings[["session", "curve", "setting_key"]], on="session")
    _, _, per_group = views.learning_curve_tables(runs, "micro_f1", by="curve")
    pg = per_group.set_index("curve")
    # two sessions: the std of their AULCs 0.4 and 0.6 (sample std); one session: no std, not 0
    assert pg.loc["random \u00b7 query size 10", "aulc_std"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert pg.loc["random \u00b7 query size 20", "sessions"] == 1
    assert np.isnan(pg.loc["random \u00b7 query size 20", "aulc_std"])
    assert np.isnan(pg.loc["entropy \u00b7 query size 10", "aulc_std"])


def test_picks_table_columns_have_readable_headings_one_format_and_hide_ranked_among(crab):
    from mlal_core.inspection import views

    picks = ins.picks_table(crab, 1)
    assert {"score_percentile", "score_rank", "ranked_among", "n_labels", "answered_by"} <= set(picks.columns)
    heading = views.oracle_labels_heading("simulated")
    shown = picks.rename(columns={"oracle_labels": heading})
    specs = views.table_columns(shown, scored_set="U*", aliases={heading: "oracle_labels"}, hidden=("ranked_among",))
    assert list(specs) == list(shown.columns)
    assert specs["ranked_among"] is None  # one sentence per round: said in a caption, kept in the CSV
    assert specs["score_percentile"]["label"] == "Percentile in U*" and specs["score_rank"]["label"] == "Rank in U*"
    assert specs["n_labels"]["label"] == "Labels (count)" and specs["answered_by"]["label"] == "Answered by"
    assert specs[heading]["label"] == "Labels given by the oracle: simulated (ground truth)"
    assert "(glossary#oracle)" in specs[heading]["help"]  # the help of the column it stands for
    assert "(glossary#percentile)" in specs["score_rank"]["help"]
    # no raw snake_case name left as a heading, except the paper's symbols (dQ_AB, label_dQ ...)
    assert specs["distance_to_centroid"]["label"] == "Distance to centroid"
    assert specs["detail_labels"]["label"] == "Label-wise pool of" and specs["dQ_AB"]["label"] == "dQ_AB"
    assert all("_" not in s["label"] for c, s in specs.items() if s is not None and c.islower())
    # scores: 4 significant digits (two picks with dQ 1.0641e-4 and 1.0602e-4 are not shown tied)
    assert specs["score"]["format"] == views.SCORE_FORMAT == "%.4g"
    assert specs["score_percentile"]["format"] == "%.1f"
    assert specs["score_rank"]["format"] == "" and specs["order"]["format"] == ""  # integers as they are
    assert ("%.4g" % 1.0641e-4, "%.4g" % 1.0602e-4) == ("0.0001064", "0.000106")


def test_metric_tables_use_one_number_of_decimals_per_column():
    from mlal_core.inspection import views

    frame = pd.DataFrame({"after epoch": [5, 6], "mean off-diagonal C": [0.015, 0.0372],
                          "micro_f1": [0.493, 0.4936], "p": [3e-5, 0.2]})
    specs = views.table_columns(frame, number_format=views.METRIC_FORMAT)
    assert specs["mean off-diagonal C"]["format"] == specs["micro_f1"]["format"] == "%.4f"
    assert ["%.4f" % v for v in frame["mean off-diagonal C"]] == ["0.0150", "0.0372"]
    assert specs["micro_f1"]["label"] == "Micro-F1"
    assert specs["p"]["format"] == "%.4g"  # a p of 3e-05 is not "0.0000"
    assert specs["after epoch"]["format"] == ""
    helps = views.table_columns(frame, helps={"p": "Two-sided p-value."})
    assert helps["p"]["help"] == "Two-sided p-value."


def test_labelled_set_name_uses_subscript_digits():
    from mlal_core.inspection import views

    assert views.labelled_set_name(3) == "L\u2083"
    assert views.labelled_set_name(12) == "L\u2081\u2082"
    assert views.labelled_set_name("t") == "L\u209c"
    with pytest.raises(ConfigError, match="non-negative integer"):
        views.labelled_set_name(-1)


def test_labels_metric_value_is_short():
    from mlal_core.inspection import views

    value, help_ = views.labels_metric(14, 14)
    assert value == "14" and help_ == "All 14 labels have at least one training sample."
    value, help_ = views.labels_metric(12, 14)
    assert value == "12/14" and "2 have none" in help_


def test_param_labels_and_rows_of_equal_structure():
    from mlal_core.inspection import views
    from mlal_core.strategies import registry

    crab_params = registry.info("crab").params
    # every strategy parameter has a readable label (a new one: add it to PARAM_LABELS)
    missing = {p.name for i in registry.available() for p in i.params} - set(views.PARAM_LABELS)
    assert not missing, f"add labels for {sorted(missing)} to views.PARAM_LABELS"
    by_name = {p.name: p for p in crab_params}
    assert views.param_label(by_name["n_reference"]) == "Reference set size"
    assert views.param_label(by_name["alpha_c"]) == "Attention normalisation \u03b1_c"
    rows = views.param_rows(crab_params, 3)
    switches = {"negative_pool", "hard_pool", "correlation_attention"}
    kinds = [{p.name in switches for p in row} for row in rows]
    assert all(len(k) == 1 for k in kinds)  # no row mixes a checkbox with an input
    assert [p.name for row in rows for p in row if p.name in switches] == [
        p.name for p in crab_params if p.name in switches]
    assert sum(len(r) for r in rows) == len(crab_params) and all(len(r) <= 3 for r in rows)
    with pytest.raises(ConfigError, match="per_row"):
        views.param_rows(crab_params, 0)


def test_round_failure_text_has_one_period_and_counts_rounds():
    from mlal_core.inspection import views

    text = views.round_failure_text("Session abc is already stored.", 3)
    assert ".." not in text
    assert text == ("The round could not run: Session abc is already stored. The 3 completed rounds are stored; "
                    "fix the cause and run again.")
    assert "The 1 completed round is stored" in views.round_failure_text("boom", 1)
