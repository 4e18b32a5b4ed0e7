"""The active-learning session on small real datasets (yeast raw features, Reuters TF-IDF)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import FAST_MODEL, REPO_ROOT, subset_dataset

from mlal_core import stats
from mlal_core.errors import ConfigError, DataValidationError, PoolExhaustedError
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession, SessionBudgetWarning, choose_initial
from mlal_core.session.store import SessionStore


def make_config(**kw) -> SessionConfig:
    base = {"dataset": None, "model_params": dict(FAST_MODEL), "strategy": "random", "initial_size": 30,
                "query_size": 20, "rounds": 3, "seed": 0}
    base.update(kw)
    return SessionConfig(**base)


def picks_of(history):
    return [None if r.selected is None else r.selected.tolist() for r in history]


def assert_metrics_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], float) and np.isnan(a[k]):
            assert np.isnan(b[k]), k
        else:
            assert a[k] == b[k], (k, a[k], b[k])


# ---------------------------------------------------------------------------- round mechanics
def test_labelled_set_grows_by_query_size_and_picks_are_valid(small_datasets):
    ds = small_datasets["yeast_small"]
    s = ActiveLearningSession(make_config(strategy="entropy", rounds=3), dataset=ds)
    initial = s.labeled
    assert len(initial) == 30 and len(set(initial.tolist())) == 30
    hist = s.run()
    assert s.finished and len(hist) == 4 == len(s.history)  # R + 1 learning-curve points
    assert [r.round for r in hist] == [0, 1, 2, 3]
    assert [r.n_labeled for r in hist] == [30, 50, 70, 90]
    assert hist[-1].selected is None and hist[-1].selection is None and hist[-1].final

    seen = set(initial.tolist())
    for r in hist[:-1]:
        picks = r.selected
        assert picks.dtype == np.int64 and len(picks) == 20
        assert len(set(picks.tolist())) == 20
        assert not seen & set(picks.tolist()), "a pick was already labelled"
        seen |= set(picks.tolist())
        # simulated oracle = the ground truth rows of the pool
        np.testing.assert_array_equal(r.labels, ds.train.Y[picks])
        # shared diagnostics
        present = r.labels[:, r.labels.sum(axis=0) > 0]
        assert r.mean_ir_selected == pytest.approx(stats.mean_ir(present))
        assert r.n_unlabeled == len(ds.train) - r.n_labeled
        assert r.n_candidates == r.n_unlabeled
        assert 0 <= r.hard_to_learn_count <= r.n_unlabeled
        assert 0 <= r.conflicting_count <= r.n_unlabeled
        assert set(r.timings) == {"train_s", "predict_s", "diagnostics_s", "select_s", "total_s"}
        assert r.timings["total_s"] >= r.timings["train_s"] > 0
        # the phases partition the round: the strategy's own time excludes the shared diagnostics
        parts = ("train_s", "predict_s", "diagnostics_s", "select_s")
        assert sum(r.timings[k] for k in parts) == pytest.approx(r.timings["total_s"], rel=1e-9, abs=1e-12)
        assert min(r.timings[k] for k in parts) >= 0
        # the Selection is the strategy's own, with a row of details per pick
        assert list(r.selection.details["position"]) == picks.tolist()
        assert r.selection.scores.shape == (r.n_unlabeled,)
    # label coverage after each round = labels with a positive in L so far
    L = np.concatenate([initial] + [r.selected for r in hist[:-1]])
    np.testing.assert_array_equal(s.labeled, L)
    cov = [(ds.train.Y[L[: r.n_labeled + 20]].sum(axis=0) > 0).mean() for r in hist[:-1]]
    assert [r.label_coverage for r in hist[:-1]] == pytest.approx(cov)
    # y_labeled is the oracle's answers, aligned with labeled
    np.testing.assert_array_equal(s.y_labeled, ds.train.Y[s.labeled])
    assert len(s.unlabeled) == len(ds.train) - 90
    assert not set(s.unlabeled.tolist()) & set(s.labeled.tolist())
    # metrics: every evaluation metric, at 0.5 and at the threshold tuned on valid
    m = hist[0].metrics
    for key in ("micro_f1", "macro_f1", "p@1", "p@3", "p@5", "ndcg@1", "ndcg@3", "ndcg@5", "macro_auc",
                "ranking_loss", "hamming_loss", "lrap", "micro_f1_tuned", "macro_f1_tuned", "threshold_tuned"):
        assert key in m, key
    assert 0.0 <= m["micro_f1"] <= 1.0


def test_hard_to_learn_and_conflicting_counts_recomputed_from_the_context():
    """The shared CRAB counts are over the whole unlabelled pool (not just the candidates), from
    ``pbar`` of the round's model: ``max_j pbar_j < 0.5`` and ``pbar > 0.5`` holding an exclusive pair
    of ``y_labeled``. Scene (mostly one label per image) has exclusive pairs from 30 labelled samples."""
    from mlal_core import correlation, data

    ds = subset_dataset(data.load("scene"), 400, 150, 200, seed=1, name="scene-small")
    s = ActiveLearningSession(make_config(candidate_subset=100), dataset=ds)
    pool = s.unlabeled
    pending = s.propose()
    ctx = pending.context
    assert ctx.unlabeled.size == 100 < pool.size  # candidates are a subset; the counts are not
    pbar = ctx.mean_proba(pool)
    pairs, _ = correlation.exclusive_pairs(ctx.y_labeled)
    hard = int(correlation.hard_to_learn_mask(pbar).sum())
    conflicting = int(correlation.conflicting_mask(pbar > 0.5, pairs).sum())
    # hand-checked semantics: no label above 0.5 / both labels of some exclusive pair above 0.5
    assert hard == int((pbar.max(axis=1) < 0.5).sum())
    both = np.zeros(len(pool), dtype=bool)
    for m, n in pairs:
        both |= (pbar[:, m] > 0.5) & (pbar[:, n] > 0.5)
    assert conflicting == int(both.sum())
    assert hard > 0 and conflicting > 0 and len(pairs) > 0  # the check below is not 0 == 0
    assert pending.shared["hard_to_learn_count"] == hard
    assert pending.shared["conflicting_count"] == conflicting
    assert pending.shared["n_exclusive_pairs"] == len(pairs)
    assert pending.shared["n_unlabeled"] == pool.size and pending.shared["n_candidates"] == 100
    rec = s.commit(pending)
    assert (rec.hard_to_learn_count, rec.conflicting_count) == (hard, conflicting)


def test_metrics_are_those_of_the_round_model(small_datasets, monkeypatch):
    """Record t's metrics are the test metrics of a model trained on L_t (checked by retraining)."""
    from mlal_core import features, metrics

    ds = small_datasets["yeast_small"]
    s = ActiveLearningSession(make_config(rounds=1), dataset=ds)
    s.run()
    rec = s.history[1]
    feats = features.featurize(ds, "raw")
    model = s.build_model(s.config.seed + 1)
    model.fit(feats.train[s.labeled], s.y_labeled, feats.valid, ds.valid.Y)
    thr = metrics.tune_threshold(ds.valid.Y, model.predict_proba(feats.valid))
    expect = metrics.evaluate(ds.test.Y, model.predict_proba(feats.test), tuned_threshold=thr)
    assert_metrics_equal(rec.metrics, expect)


def test_human_oracle_answers_are_what_the_session_trains_on_and_stores(small_datasets, tmp_path):
    from mlal_core.models import MLPEnsemble

    seen = {}

    class FitSpy(MLPEnsemble):
        """The session's model, remembering the labels each fit receives (a user's own model object)."""

        def fit(self, X, Y, *a, **k):
            seen["Y"] = np.asarray(Y).copy()
            return super().fit(X, Y, *a, **k)

    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    K = ds.n_labels
    s = ActiveLearningSession(make_config(strategy="entropy", rounds=2, model_params={}), dataset=ds, store=store,
                              model=FitSpy(**FAST_MODEL))
    assert s.config.model.endswith(":test_human_oracle_answers_are_what_the_session_trains_on_and_stores."
                                   "<locals>.FitSpy")
    pending = s.propose()
    assert pending.round == 0 and not pending.final and len(pending.selected) == 20
    assert pending.predicted_proba().shape == (20, K)
    assert len(store.load_rounds(s.session_id)) == 0  # nothing persisted by propose()
    zeros = np.zeros((20, K), dtype=np.uint8)
    rec = s.commit(pending, zeros)
    np.testing.assert_array_equal(rec.labels, zeros)
    np.testing.assert_array_equal(s.y_labeled[-20:], zeros)
    assert np.isnan(rec.mean_ir_selected)  # a batch with no positive label has no MeanIR
    # the next model is trained on the person's answers: check what fit() receives
    s.step()
    np.testing.assert_array_equal(seen["Y"][30:50], zeros)
    np.testing.assert_array_equal(seen["Y"][:30], ds.train.Y[s.labeled[:30]])
    stored = store.load_rounds(s.session_id)
    np.testing.assert_array_equal(stored[0].labels, zeros)
    # a resumed session keeps the person's answers, not the ground truth
    resumed = ActiveLearningSession.resume(store, s.session_id, ds, model=FitSpy(**FAST_MODEL))  # own model: again
    np.testing.assert_array_equal(resumed.y_labeled, s.y_labeled)
    np.testing.assert_array_equal(resumed.y_labeled[30:50], zeros)
    # a callable oracle is asked for the initial set and every round
    asked = []

    def oracle(pos):
        asked.append(np.asarray(pos).copy())
        return np.ones((len(pos), K), dtype=np.uint8)

    s2 = ActiveLearningSession(make_config(rounds=1), dataset=ds, oracle=oracle)
    s2.run()
    assert [len(a) for a in asked] == [30, 20]
    assert s2.y_labeled.all()


def test_initial_labels_from_a_person_are_used_and_stored(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    given = np.zeros((30, ds.n_labels), dtype=np.uint8)
    given[:, 0] = 1
    s = ActiveLearningSession(make_config(rounds=0), dataset=ds, store=store, initial_labels=given)
    np.testing.assert_array_equal(s.y_labeled, given)
    _, init, _ = store.load_session(s.session_id)
    np.testing.assert_array_equal(init["labels"], given)
    assert s.planned_records() == 1
    (rec,) = s.run()
    assert rec.final and rec.round == 0 and rec.label_coverage == pytest.approx(1 / ds.n_labels)
    with pytest.raises(DataValidationError, match=r"initial_labels must answer an \(30, 14\)"):
        ActiveLearningSession(make_config(), dataset=ds, initial_labels=given[:5])


def test_commit_checks_labels_and_staleness(small_datasets):
    ds = small_datasets["yeast_small"]
    s = ActiveLearningSession(make_config(rounds=2), dataset=ds)
    p = s.propose()
    with pytest.raises(DataValidationError, match=r"\(20, 14\) 0/1 label matrix; got shape \(20, 3\)"):
        s.commit(p, np.zeros((20, 3)))
    with pytest.raises(DataValidationError, match="values other than 0/1"):
        s.commit(p, np.full((20, 14), 2))
    s.commit(p)
    with pytest.raises(ConfigError, match="propose\\(\\) again"):
        s.commit(p)


@pytest.mark.slow
def test_same_seed_same_history_and_other_seed_differs(small_datasets):
    ds = small_datasets["yeast_small"]
    runs = [ActiveLearningSession(make_config(strategy="bald", seed=seed, rounds=2), dataset=ds) for seed in (5, 5, 6)]
    for r in runs:
        r.run()
    a, b, c = (r.history for r in runs)
    assert picks_of(a) == picks_of(b)
    for x, y in zip(a, b):
        assert_metrics_equal(x.metrics, y.metrics)
        np.testing.assert_array_equal(x.selection.scores if x.selection else 0, y.selection.scores if y.selection else 0)
    assert picks_of(a) != picks_of(c)


def test_per_label_initial_set_covers_every_label(small_datasets):
    ds = small_datasets["yeast_small"]
    Y = ds.train.Y
    s = ActiveLearningSession(make_config(initial_method="per_label", initial_size=20, rounds=0), dataset=ds)
    init = s.labeled
    assert len(init) == 20 and len(set(init.tolist())) == 20
    present = Y.sum(axis=0) > 0
    assert (Y[init].sum(axis=0)[present] >= 1).all()
    # fewer rows than labels: the rarest labels come first
    small = choose_initial(Y, 3, "per_label", seed=0)
    rarest = int(np.argmin(np.where(present, Y.sum(axis=0), np.inf)))
    assert Y[small, rarest].sum() >= 1 and len(small) == 3
    # seeded: same seed same set, other seed (usually) another
    np.testing.assert_array_equal(choose_initial(Y, 20, "per_label", 4), choose_initial(Y, 20, "per_label", 4))
    # random initial sets rarely cover every label of a skewed set; per_label does on Reuters
    reuters = small_datasets["reuters_small"].train.Y
    rp = choose_initial(reuters, 100, "per_label", 0)
    assert (reuters[rp].sum(axis=0) >= 1).sum() == (reuters.sum(axis=0) >= 1).sum()


def test_exhausted_pool_stops_cleanly(small_datasets):
    ds = small_datasets["yeast_tiny"]  # a pool of 30
    assert len(ds.train) == 30
    with pytest.warns(SessionBudgetWarning, match=r"1 full round\(s\) fit"):
        s = ActiveLearningSession(make_config(initial_size=10, query_size=20, rounds=5), dataset=ds)
    assert s.planned_records() == 2
    seen = []
    hist = s.run(progress=lambda d, t, m: seen.append((d, t)))
    assert s.finished and [r.n_labeled for r in hist] == [10, 30]
    assert hist[-1].final and hist[-1].n_unlabeled == 0
    assert seen[-1] == (2, 2)
    assert len(s.unlabeled) == 0 and sorted(s.labeled.tolist()) == list(range(30))
    assert s.run() == []  # nothing left, no exception
    with pytest.raises(PoolExhaustedError, match="pool is exhausted: all 30 training samples are labelled"):
        s.step()
    # a last, smaller batch takes what is left
    with pytest.warns(SessionBudgetWarning, match="then a last batch of 5"):
        s2 = ActiveLearningSession(make_config(initial_size=5, query_size=20, rounds=4), dataset=ds)
    h2 = s2.run()
    assert [r.n_labeled for r in h2] == [5, 25, 30] and len(h2[1].selected) == 5
    # a session that ran all its planned rounds says so
    s3 = ActiveLearningSession(make_config(initial_size=5, query_size=5, rounds=1), dataset=ds)
    s3.run()
    with pytest.raises(PoolExhaustedError, match="all 1 planned rounds are done"):
        s3.propose()


def test_run_stops_between_rounds_and_reports_progress(small_datasets):
    ds = small_datasets["yeast_small"]
    s = ActiveLearningSession(make_config(rounds=4), dataset=ds)
    calls = []
    s.run(progress=lambda d, t, m: calls.append((d, t, m)), should_stop=lambda: len(s.history) >= 2)
    assert len(s.history) == 2 and not s.finished
    assert calls[0][:2] == (0, 5) and calls[-1][:2] == (2, 5) and "round 1" in calls[-1][2]
    s.run(rounds=1)
    assert len(s.history) == 3
    s.run()
    assert s.finished and len(s.history) == 5


def test_candidate_subset_restricts_the_scored_pool(small_datasets):
    ds = small_datasets["yeast_small"]
    s = ActiveLearningSession(make_config(strategy="entropy", candidate_subset=50, rounds=2), dataset=ds)
    p = s.propose()
    assert len(p.context.unlabeled) == 50 and p.shared["n_candidates"] == 50
    assert np.isin(p.selected, p.context.unlabeled).all()
    rec = s.commit(p)
    assert rec.n_candidates == 50 and rec.n_unlabeled == 370
    assert rec.selection.scores.shape == (50,)


def test_tfidf_text_session_gives_strategies_dense_model_features(small_datasets):
    ds = small_datasets["reuters_small"]
    s = ActiveLearningSession(
        make_config(representation="tfidf", strategy="entropy", rounds=1, initial_size=50), dataset=ds
    )
    p = s.propose()
    assert isinstance(p.context.features, np.ndarray)
    assert p.context.features.shape == (600, FAST_MODEL["hidden_size"])
    assert p.context.texts is ds.train.texts
    s.commit(p)
    s.run()
    assert s.finished and [r.n_labeled for r in s.history] == [50, 70]


@pytest.mark.parametrize("strategy", ["badge", "coreset"])
def test_tfidf_session_embedding_strategies_do_not_embed_twice(small_datasets, strategy):
    # Regression: with sparse features the context carries the model's embedding of the pool;
    # BADGE / Core-Set must use it as is (embedding it again failed on the width mismatch).
    ds = small_datasets["reuters_small"]
    s = ActiveLearningSession(
        make_config(representation="tfidf", strategy=strategy, rounds=1, initial_size=50), dataset=ds
    )
    p = s.propose()
    np.testing.assert_array_equal(p.context.embedding, p.context.features)
    assert p.context.embedding.shape == (600, FAST_MODEL["hidden_size"])
    assert len(p.selection.indices) == 20


# ---------------------------------------------------------------------------- bad inputs
def test_unknown_names_suggest_close_ones(small_datasets):
    with pytest.raises(ConfigError, match=r"Unknown dataset 'yeest'\. Did you mean 'yeast'"):
        ActiveLearningSession(SessionConfig(dataset="yeest", strategy="random"))
    with pytest.raises(ConfigError, match=r"Unknown strategy 'entropyy'\. Did you mean 'entropy'"):
        ActiveLearningSession(make_config(strategy="entropyy"), dataset=small_datasets["yeast_tiny"])
    with pytest.raises(ConfigError, match="Unknown initial method 'per-label'.*'per_label'"):
        make_config(initial_method="per-label").validate()
    with pytest.raises(ConfigError, match="Unknown representation"):
        make_config(representation="bert").validate()
    with pytest.raises(ConfigError, match="No dataset"):
        ActiveLearningSession(make_config())


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"query_size": 31}, r"query_size \(31\) is larger than the training pool \(30 samples\)"),
        ({"initial_size": 40}, r"initial_size \(40\) is larger than the training pool \(30 samples\)"),
        ({"query_size": 0}, "query_size must be at least 1"),
        ({"initial_size": 0}, "initial_size must be at least 1"),
        ({"rounds": -1}, r"rounds must be in \[0, 100000\]"),
        ({"rounds": 2.5}, "rounds must be an integer"),
        ({"candidate_subset": 5}, r"candidate_subset \(5\) must be at least the query size \(20\)"),
        ({"model_params": {"n_members": 0}}, r"model_params\['n_members'\] \(--ensemble\) must be an integer in \[1, 100\]"),
        ({"representation": "minilm"}, "needs a text dataset; this dataset is tabular"),
    ],
)
def test_bad_budgets_and_parameters(small_datasets, kw, message):
    with pytest.raises(ConfigError, match=message):
        ActiveLearningSession(make_config(**kw), dataset=small_datasets["yeast_tiny"])


def test_raw_representation_on_text_is_refused(small_datasets):
    with pytest.raises(ConfigError, match="'raw' needs a tabular dataset"):
        ActiveLearningSession(make_config(representation="raw"), dataset=small_datasets["reuters_small"])


def test_budget_larger_than_pool_says_how_many_rounds_fit():
    cfg = make_config(initial_size=100, query_size=50, rounds=10)
    (msg,) = cfg.validate(pool_size=400, check_names=False)
    assert "needs 600 samples" in msg and "has 400: 6 full round(s) fit" in msg and "stop cleanly" in msg
    assert cfg.validate(pool_size=600, check_names=False) == []


@pytest.mark.parametrize("value", [0, 1])
def test_labels_all_one_value_are_refused(small_datasets, value):
    ds = subset_dataset(small_datasets["yeast_tiny"], 30, name="constant")
    from mlal_core.data import Split

    ds.train = Split(Y=np.full_like(ds.train.Y, value), X=ds.train.X)
    with pytest.raises(DataValidationError, match=f"Every label of dataset 'constant' is {value}"):
        ActiveLearningSession(make_config(), dataset=ds)


def test_labels_that_are_each_constant_are_refused(small_datasets):
    from mlal_core.data import Split

    ds = subset_dataset(small_datasets["yeast_tiny"], 30, name="constant")
    Y = np.zeros_like(ds.train.Y)
    Y[:, 0] = 1  # label 0 always on, every other label always off: nothing to learn either
    ds.train = Split(Y=Y, X=ds.train.X)
    with pytest.raises(DataValidationError, match="each label is always 0 or always 1"):
        ActiveLearningSession(make_config(), dataset=ds)


def test_nan_features_are_refused_clearly(small_datasets):
    from mlal_core.data import Split

    ds = subset_dataset(small_datasets["yeast_tiny"], 30, name="holes")
    X = ds.train.X.copy()
    X[3, 5] = np.nan
    ds.train = Split(Y=ds.train.Y, X=X)
    with pytest.raises(DataValidationError, match=r"The train split of dataset 'holes' has 1 NaN or infinite "
                       r"feature value\(s\) in 1 row\(s\) \(first rows \[3\]\) and column\(s\) \[5\]"):
        ActiveLearningSession(make_config(initial_size=10, rounds=1), dataset=ds)
    # the features module refuses them too (e.g. precomputed features of a text set)
    from mlal_core import features

    with pytest.raises(DataValidationError, match=r"train.*(NaN|non-finite)"):
        features.featurize(ds, "raw")


def test_precomputed_features_with_nan_are_refused(small_datasets):
    from mlal_core import features

    ds = small_datasets["yeast_tiny"]
    feats = features.featurize(ds, "raw")
    feats.test = feats.test.copy()
    feats.test[0, 0] = np.inf
    with pytest.raises(DataValidationError, match="test split contain 1 NaN or infinite"):
        ActiveLearningSession(make_config(initial_size=10, rounds=1), dataset=ds, features=feats)


def test_config_json_round_trip_and_unknown_fields():
    cfg = make_config(strategy="bald", strategy_params={"x": 1}, candidate_subset=100, name="n")
    assert SessionConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ConfigError, match=r"Unknown session config field\(s\) \['colour'\]"):
        SessionConfig.from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match="not valid JSON"):
        SessionConfig.from_json("{nope")


# ---------------------------------------------------------------------------- crash and resume
_CHILD = r"""
import os, sys, time
sys.path.insert(0, sys.argv[3])
from mlal_core.models import MLPEnsemble
from mlal_core.session import loop
from mlal_core.session.config import SessionConfig
from mlal_core.session.store import SessionStore

cfg = SessionConfig.from_json(sys.argv[1])
marker = sys.argv[2]
fit = MLPEnsemble.fit

def fit_hook(self, X, Y, *a, **k):  # the session's model is built by name: its class is patched
    if X.shape[0] == cfg.initial_size + 3 * cfg.query_size:  # round 3
        open(marker, "w").write(str(os.getpid()))
        time.sleep(600)
    return fit(self, X, Y, *a, **k)

MLPEnsemble.fit = fit_hook
store = SessionStore()
session = loop.ActiveLearningSession(cfg, store=store)
session.run()
"""


@pytest.mark.slow
def test_kill_during_round_3_then_resume_reproduces_an_uninterrupted_run(tmp_path, mlal_home):
    cfg = SessionConfig(dataset="yeast", strategy="bald", model_params=dict(FAST_MODEL),
                        initial_size=40, query_size=25, rounds=5, seed=3)
    marker = tmp_path / "in_round_3"
    env = {**os.environ, "MLAL_HOME": str(mlal_home)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, cfg.to_json(), str(marker), str(REPO_ROOT)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while not marker.exists():
            if child.poll() is not None:
                raise AssertionError(f"child exited early: {child.stderr.read().decode()[-2000:]}")
            if time.time() > deadline:
                raise AssertionError("round 3 never started")
            time.sleep(0.2)
        store = SessionStore()
        (sid,) = store.list_sessions()["id"]
        assert [r.round for r in store.load_rounds(sid)] == [0, 1, 2]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    store = SessionStore()
    # killed: never marked finished, and its process is gone
    assert store.list_sessions().loc[0, "status"] == "interrupted"
    assert "3 round(s) stored; resume continues from round 3" in store.list_sessions().loc[0, "note"]
    before = store.load_rounds(sid)
    assert [r.round for r in before] == [0, 1, 2]
    assert [r.n_labeled for r in before] == [40, 65, 90]

    resumed = ActiveLearningSession.resume(store, sid)
    assert resumed.next_round == 3 and len(resumed.labeled) == 115 and not resumed.finished
    resumed.run()
    assert resumed.finished and [r.round for r in resumed.history] == [0, 1, 2, 3, 4, 5]

    reference = ActiveLearningSession(cfg, store=SessionStore(tmp_path / "reference.sqlite"))
    reference.run()
    stored = store.load_rounds(sid)
    assert picks_of(stored) == picks_of(reference.history)
    for got, want in zip(stored, reference.history):
        np.testing.assert_array_equal(got.labels if got.labels is not None else 0,
                                      want.labels if want.labels is not None else 0)
        assert got.metrics.keys() == want.metrics.keys()
        for k in want.metrics:
            np.testing.assert_allclose(got.metrics[k], want.metrics[k], rtol=1e-6, atol=1e-9, err_msg=k)
    # the rounds written before the crash are untouched by the resume
    for a, b in zip(before, stored[:3]):
        assert a.selected.tolist() == b.selected.tolist() and a.created_at == b.created_at
    assert store.list_sessions().loc[0, "status"] == "finished"
    np.testing.assert_array_equal(resumed.labeled, reference.labeled)


def test_resume_checks_the_dataset(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    s = ActiveLearningSession(make_config(rounds=2), dataset=ds, store=store)
    s.step()
    with pytest.raises(ConfigError, match="user dataset .*pass it as dataset="):
        ActiveLearningSession.resume(store, s.session_id)
    with pytest.raises(DataValidationError, match="content hash mismatch"):
        ActiveLearningSession.resume(store, s.session_id, small_datasets["yeast_tiny"])
    r = ActiveLearningSession.resume(store, s.session_id, ds)
    assert r.next_round == 1
    np.testing.assert_array_equal(r.labeled, s.labeled)
    np.testing.assert_array_equal(r.y_labeled, s.y_labeled)
    r.run()
    uninterrupted = ActiveLearningSession(make_config(rounds=2), dataset=ds)
    uninterrupted.run()
    assert picks_of(r.history) == picks_of(uninterrupted.history)
    fin = ActiveLearningSession.resume(store, s.session_id, ds)
    assert fin.finished
    with pytest.raises(PoolExhaustedError):
        fin.step()
