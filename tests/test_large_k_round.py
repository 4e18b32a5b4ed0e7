"""A round at large K keeps the pool's labels sparse and makes no pool-sized copy (issue 18 item 2), and
the defaults of a session suit label spaces in the thousands (initial set, query size, per_label).

The 100,000 x 1,000 round itself is timed by ``benchmarks/round_latency.py``; here the same path runs
at N = 5,000, K = 1,000."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from mlal_core import correlation, data, metrics
from mlal_core.session import loop
from mlal_core.session.budget import CLASSIC, Budget, default_budget
from mlal_core.session.config import SessionConfig
from mlal_core.session.initial import choose_initial, per_label_shortfall

LARGE = "xmtc-synthetic-N6250-K1000"  # pool 5,000 (80 %), valid and test 625 each
SMALL_MLP = {"n_members": 5, "hidden_size": 32, "epochs": 2, "min_steps": 10}


# ------------------------------------------------------------------------------------ the round
@pytest.fixture(scope="module")
def large_round():
    """Round 0 of an entropy session on the generated 5,000 x 1,000 pool, and what it densified."""
    ds = data.load(LARGE)
    dense_shapes: list[tuple] = []
    original = sp.csr_matrix.toarray

    def recording_toarray(self, *args, **kwargs):
        dense_shapes.append(self.shape)
        return original(self, *args, **kwargs)

    cfg = SessionConfig(dataset=LARGE, strategy="entropy", initial_size=200, query_size=50, rounds=2,
                        model_params=SMALL_MLP)
    sp.csr_matrix.toarray = recording_toarray
    try:
        session = loop.ActiveLearningSession(cfg, dataset=ds)
        pending = session.propose()
        record = session.commit(pending)
    finally:
        sp.csr_matrix.toarray = original
    return ds, session, pending, record, dense_shapes


@pytest.mark.slow
def test_a_large_k_round_keeps_the_pool_labels_sparse(large_round):
    ds, session, pending, record, dense_shapes = large_round
    n, k = ds.train.Y.shape
    assert (n, k) == (5_000, 1_000) and sp.issparse(ds.train.Y)
    # only the picks' rows, the labelled set and the small valid / test splits are ever dense
    assert dense_shapes and all(shape[0] < n for shape in dense_shapes), dense_shapes
    assert max(shape[0] for shape in dense_shapes) <= max(len(ds.valid), len(ds.test), 200)
    assert record.labels.shape == (50, k) and record.labels.dtype == np.uint8
    truth = ds.train.Y[record.selected].toarray()
    assert np.array_equal(record.labels, truth)
    assert pending.context.proba_samples.dtype == np.float32


@pytest.mark.slow
def test_the_shared_diagnostics_of_a_large_k_round_match_a_dense_computation(large_round):
    _ds, session, pending, record, _ = large_round
    proba = pending.context.proba_samples
    unl = pending.context.unlabeled
    pbar = proba[:, unl, :].mean(axis=0)  # the dense reference, once, here
    assert record.hard_to_learn_count == int((pbar.astype(np.float64).max(axis=1) < 0.5).sum())
    pairs, _tau = correlation.exclusive_pairs(pending.context.y_labeled)
    assert record.conflicting_count == int(correlation.conflicting_mask(pbar > 0.5, pairs).sum())


def test_the_mean_over_samples_is_exact_and_makes_no_pool_sized_copy():
    rng = np.random.default_rng(0)
    S, N, K = 5, 4_000, 500
    proba = rng.random((S, N, K), dtype=np.float32)
    positions = np.sort(rng.choice(N, size=3_000, replace=False))
    expected = proba[:, positions, :].mean(axis=0)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        got = loop._mean_over_samples(proba, positions, elements=1 << 18)  # blocks of 1 MB
        extra = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float32
    out_bytes = positions.size * K * 4
    # the result plus about one block; the copy it replaces is S x the result (30 MB here)
    assert extra < out_bytes + 3 * (1 << 18) * 4, (extra, out_bytes)
    assert extra < S * out_bytes / 2
    np.testing.assert_array_equal(loop._mean_over_samples(proba, positions), expected)  # default blocks
    assert loop._mean_over_samples(proba, np.array([], dtype=np.int64)).shape == (0, K)


def test_hard_to_learn_reads_float32_without_a_float64_copy():
    rng = np.random.default_rng(1)
    scale = np.where(np.arange(2_000) % 3 == 0, 0.45, 1.0).astype(np.float32)[:, None]  # every 3rd row hard
    pbar = rng.random((2_000, 500), dtype=np.float32) * scale
    expected = pbar.astype(np.float64).max(axis=1) < 0.5
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        got = correlation.hard_to_learn_mask(pbar)
        extra = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, expected)
    assert 0 < expected.sum() < len(expected)
    assert extra < pbar.nbytes / 4  # a float64 copy would be 2 x pbar
    assert correlation.hard_to_learn_mask(np.array([[0, 1], [0, 0]])).tolist() == [False, True]


# ------------------------------------------------------------------------------------ nDCG
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(2, 8), st.integers(0, 2**31 - 1), st.booleans())
def test_ndcg_equals_scikit_learn_with_and_without_ties(n, k_labels, seed, coarse):
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, 2, (n, k_labels))
    P = rng.integers(0, 4, (n, k_labels)) / 3.0 if coarse else rng.random((n, k_labels))
    Yc, Pc = metrics._check(Y, P)
    for k in (1, 3, 5, 12):
        assert metrics._ndcg_at_k(Yc, Pc, k) == pytest.approx(ndcg_score(Yc, Pc, k=k), abs=1e-12)


def test_ndcg_hand_computed():
    # row 0: scores rank labels 1, 0, 2; truth {0}: DCG@2 = 1 / log2(3), ideal 1 -> 0.6309
    # row 1: a tie of labels 0 and 1 at the top, truth {1}: scikit-learn averages the tied gains,
    # (1 / 2) x (1 + 1 / log2(3)) / 1 = 0.8155 (each tied label's gain at the group's mean discount)
    Y = np.array([[1, 0, 0], [0, 1, 0]])
    P = np.array([[0.5, 0.9, 0.1], [0.7, 0.7, 0.2]])
    row0, row1 = 1 / np.log2(3), 0.5 * (1 + 1 / np.log2(3))
    assert metrics._ndcg_at_k(*metrics._check(Y, P), 2) == pytest.approx((row0 + row1) / 2, abs=1e-12)
    assert metrics.evaluate(Y, P)["ndcg@1"] == pytest.approx((0 + 0.5) / 2, abs=1e-12)


# ------------------------------------------------------------------------------------ defaults at large K
@pytest.mark.parametrize("pool, n_labels, expected", [
    # EURLEX57K (pool 44,984, K = 3,398): one per label; a tenth of it per round, 3,398 / 10 -> 340
    (44_984, 3_398, Budget(3_398, 340, 10)),
    # the generated 100,000 x 1,000 pool: 1,000 and 100 per round (the XMTC study's batch size)
    (100_000, 1_000, Budget(1_000, 100, 10)),
    # up to 500 labels nothing changes: 500 / 10 = 50, the classic query size
    (43_000, 500, Budget(500, 50, 10)),
    (43_000, 28, CLASSIC),
    # a small pool: the initial set is capped at a quarter (250); 250 / 10 = 25 < 50 keeps the classic 50
    (1_000, 3_000, Budget(250, 50, 10)),
])
def test_default_budget_at_large_k(pool, n_labels, expected):
    assert default_budget(pool, n_labels) == expected


@settings(max_examples=300, deadline=None)
@given(pool=st.integers(1_000, 200_000), n_labels=st.integers(101, 5_000))
def test_at_large_k_the_rounds_label_about_as_many_again_as_the_initial_set(pool, n_labels):
    b = default_budget(pool, n_labels)
    assert b.rounds == CLASSIC.rounds and b.total <= pool
    assert b.rounds * b.query_size >= b.initial_size - 25  # rounded to a multiple of 5
    assert SessionConfig(initial_size=b.initial_size, query_size=b.query_size, rounds=b.rounds).check_budget(pool) == []


def _cover_data() -> sp.csr_matrix:
    # labels 1, 2, 3 have one positive each (rows 3, 2, 2); label 0 three (rows 0, 3, 4); label 4 none
    Y = np.zeros((5, 5), dtype=np.uint8)
    Y[0, 0] = Y[3, 0] = Y[4, 0] = 1
    Y[3, 1] = 1
    Y[2, 2] = Y[2, 3] = 1
    return sp.csr_matrix(Y)


@pytest.mark.parametrize("sparse", [True, False])
def test_per_label_shortfall_hand_computed(sparse):
    Y = _cover_data() if sparse else _cover_data().toarray()
    # rarest first: rows 2 and 3 cover labels 0-3 (label 4 has no positive): 2 rows needed
    assert per_label_shortfall(Y, 2) is None and per_label_shortfall(Y, 5) is None
    message = per_label_shortfall(Y, 1)
    assert message is not None
    assert "with 1 rows covers 2 of the 4 labels with a positive" in message
    assert "needs 2 rows" in message and "raise the initial set to 2" in message
    assert "'random', 'representative' or 'diverse'" in message
    assert set(choose_initial(Y, 2, "per_label").tolist()) == {2, 3}


def test_a_per_label_session_smaller_than_its_label_space_says_so():
    ds = data.load("emotions")  # 6 labels: 3 rows cover 5 of them, 4 rows all (the greedy, seed 0)
    cfg = SessionConfig(dataset="emotions", strategy="random", initial_size=3, initial_method="per_label", rounds=1)
    with pytest.warns(UserWarning, match="needs 4 rows to give every label a positive"):
        session = loop.ActiveLearningSession(cfg, dataset=ds)
    assert any("covers 5 of the 6 labels" in w for w in session.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = loop.ActiveLearningSession(SessionConfig(dataset="emotions", strategy="random", initial_size=4,
                                                      initial_method="per_label", rounds=1), dataset=ds)
    assert not any("one per label" in w for w in ok.warnings)


@pytest.mark.slow  # loads EURLEX57K (K = 3,398)
def test_eurlex_defaults_cover_every_label_and_a_small_per_label_set_is_explained():
    ds = data.load("eurlex57k")
    b = default_budget(len(ds.train), ds.n_labels)
    assert (b.initial_size, b.query_size, b.rounds) == (3_398, 340, 10)
    assert per_label_shortfall(ds.train.Y, b.initial_size) is None
    message = per_label_shortfall(ds.train.Y, CLASSIC.initial_size)
    assert message is not None and "of the 3,398 labels" in message


@pytest.mark.slow
@pytest.mark.app
def test_home_warns_when_one_per_label_cannot_cover_the_labels():
    from streamlit.testing.v1 import AppTest
    from test_app_pages import APP, TIMEOUT, _ok

    at = AppTest.from_file(APP, default_timeout=max(TIMEOUT, 120))
    at.run()
    at.selectbox(key="home_dataset").set_value("emotions").run()
    at.selectbox(key="home_initial_method").set_value("per_label").run()
    _ok(at)
    assert not [w for w in at.warning if "one per label" in w.value]  # 35 rows cover the 6 labels
    at.number_input(key="home_initial").set_value(3).run()
    _ok(at)
    shown = [w.value for w in at.warning if "one per label" in w.value]
    assert len(shown) == 1 and "needs 4 rows" in shown[0] and "'random'" in shown[0]


# ------------------------------------------------------------------------------------ full-data reference
@pytest.mark.slow
def test_the_full_data_reference_trains_on_sparse_labels_with_the_dense_result(monkeypatch):
    from mlal_core.session import reference

    name = "xmtc-synthetic-N1000-K600"  # K > 500: sparse labels; pool 800
    ds = data.load(name)
    assert sp.issparse(ds.train.Y)
    cfg = SessionConfig(dataset=name, strategy="random", model_params=SMALL_MLP)
    assert sp.issparse(reference._training_labels(ds.train.Y, cfg.model))
    assert reference._training_labels(ds.train.Y, "my.own:Model").dtype == np.uint8  # user models: dense
    sparse_run = reference.full_data_score(cfg, ds, use_cache=False)
    monkeypatch.setattr(reference, "_training_labels", lambda Y, model: reference._dense(Y))
    dense_run = reference.full_data_score(cfg, ds, use_cache=False)
    assert sparse_run["metrics"] == pytest.approx(dense_run["metrics"], nan_ok=True)
