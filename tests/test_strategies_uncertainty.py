"""Random, Entropy, BALD and BEAL against hand-computed values (METHODS.md definitions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlal_core.errors import ConfigError
from mlal_core.strategies import QueryContext, get, info
from mlal_core.strategies._common import binary_entropy
from mlal_core.strategies.uncertainty import BEAL

H01 = 0.4689955935892812  # H(0.1) = -0.1 log2 0.1 - 0.9 log2 0.9


def ctx_from(P, n_labeled=0, K=None, seed=0, **kw):
    """A context whose unlabelled candidates are all rows of P (S, N, K); no labelled samples."""
    P = np.asarray(P, dtype=float)
    if P.ndim == 2:
        P = P[None]
    N, K = P.shape[1], P.shape[2]
    return QueryContext(
        labeled=np.empty(0, dtype=int),
        unlabeled=np.arange(N),
        y_labeled=np.zeros((0, K)),
        proba_samples=P,
        rng=np.random.default_rng(seed),
        **kw,
    )


# ------------------------------------------------------------------------------------ helpers
def test_binary_entropy_in_bits():
    np.testing.assert_allclose(binary_entropy(np.array([0.5, 0.0, 1.0, 0.25, 0.1])), [1.0, 0.0, 0.0, 0.8112781244591328, H01])


# ------------------------------------------------------------------------------------ random
def test_random_is_rng_choice_without_replacement():
    P = np.full((1, 30, 2), 0.5)
    sel = get("random").select(ctx_from(P, seed=42), 7)
    expected = np.random.default_rng(42).choice(30, size=7, replace=False)
    assert sel.indices.tolist() == expected.tolist()
    assert np.isnan(sel.scores).all() and len(sel.scores) == 30
    assert (sel.details["reason"] == "uniform random draw").all()


def test_random_different_seed_different_picks():
    P = np.full((1, 200, 2), 0.5)
    a = get("random").select(ctx_from(P, seed=1), 10).indices
    b = get("random").select(ctx_from(P, seed=2), 10).indices
    assert a.tolist() != b.tolist()


# ------------------------------------------------------------------------------------ entropy
def test_entropy_hand_values():
    # two labels; entropy sums H over labels in bits:
    # row 0: pbar (0.5, 0.5) -> 1 + 1 = 2 ; row 1: (0.9, 0.1) -> 2 H(0.1) = 0.93799 ; row 2: (1, 0) -> 0
    P = np.array([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    s = get("entropy")
    np.testing.assert_allclose(s.score(ctx_from(P)), [2.0, 2 * H01, 0.0], atol=1e-12)
    sel = s.select(ctx_from(P), 2)
    assert sel.indices.tolist() == [0, 1]
    assert sel.details["entropy_bits"].tolist() == pytest.approx([2.0, 2 * H01])


def test_entropy_uses_mean_of_samples():
    # samples (0.1) and (0.9) average to 0.5 -> 1 bit, although each sample alone is confident
    P = np.array([[[0.1]], [[0.9]]])
    assert get("entropy").score(ctx_from(P))[0] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------ BALD
def test_bald_hand_values():
    # one label, two samples.
    # candidate 0: samples 0.1 and 0.9 -> H(mean 0.5) = 1, mean H = H(0.1) = 0.46900 -> BALD 0.53100
    # candidate 1: samples 0.5 and 0.5 -> H(0.5) = 1, mean H = 1 -> BALD 0 (uncertain, but no disagreement)
    P = np.array([[[0.1], [0.5]], [[0.9], [0.5]]])  # (S=2, N=2, K=1)
    s = get("bald")
    np.testing.assert_allclose(s.score(ctx_from(P)), [1 - H01, 0.0], atol=1e-12)
    sel = s.select(ctx_from(P), 1)
    assert sel.indices.tolist() == [0]
    row = sel.details.iloc[0]
    assert row["entropy_of_mean"] == pytest.approx(1.0)
    assert row["mean_entropy"] == pytest.approx(H01)
    # entropy cannot tell them apart (both have pbar 0.5)
    np.testing.assert_allclose(get("entropy").score(ctx_from(P)), [1.0, 1.0])


def test_bald_sums_over_labels():
    P = np.array([[[0.1, 0.1]], [[0.9, 0.9]]])
    assert get("bald").score(ctx_from(P))[0] == pytest.approx(2 * (1 - H01))


def test_bald_needs_two_samples():
    with pytest.raises(ConfigError, match="at least 2"):
        get("bald").select(ctx_from(np.full((1, 5, 2), 0.3)), 2)


# ------------------------------------------------------------------------------------ BEAL
# Worked by hand, 2 passes x 3 labels, R(y) = 2^y - 1:
# candidate 0: pass 1 = (0.8, 0.4, 0.1), pass 2 = (0.6, 0.6, 0.3)
#   R(pass 1) = (0.741101, 0.319508, 0.071773); R(pass 2) = (0.515717, 0.515717, 0.231144)
#   relevance = mean = (0.628409, 0.417612, 0.151459) -> ranks pi = (1, 2, 3)
#   conf_1 = 0.741101/1 + 0.319508/2 + 0.071773/3 = 0.924780
#   conf_2 = 0.515717/1 + 0.515717/2 + 0.231144/3 = 0.850623
#   EC = (0.924780 + 0.850623) / 2 = 0.887701
# candidate 1: pass 1 = (0.2, 0.9, 0.5), pass 2 = (0.4, 0.7, 0.5)
#   relevance = (0.234103, 0.745285, 0.414214) -> label 1 first, label 2 second, label 0 third: pi = (3, 1, 2)
#   conf_1 = 0.148698/3 + 0.866066/1 + 0.414214/2 = 1.122739 ; conf_2 = 0.319508/3 + 0.624505 + 0.207107 = 0.938114
#   EC = 1.030427
# Deterministic BEAL on candidate 0: one pass pbar = (0.7, 0.5, 0.2):
#   R = (0.624505, 0.414214, 0.148698); EC = 0.624505 + 0.414214/2 + 0.148698/3 = 0.881178
BEAL_P = np.array(
    [
        [[0.8, 0.4, 0.1], [0.2, 0.9, 0.5]],  # pass 1
        [[0.6, 0.6, 0.3], [0.4, 0.7, 0.5]],  # pass 2
    ]
)


def test_beal_expected_confidence_by_hand():
    s = get("beal")
    ec = -s.score(ctx_from(BEAL_P))
    np.testing.assert_allclose(ec, [0.8877012785, 1.0304265467], atol=1e-9)
    sel = s.select(ctx_from(BEAL_P), 2)
    # the lowest EC is picked first
    assert sel.indices.tolist() == [0, 1]
    d = sel.details
    assert d["EC"].tolist() == pytest.approx([0.8877012785, 1.0304265467])
    assert d["label_ranking"].tolist() == ["0 > 1 > 2", "1 > 2 > 0"]
    assert d["top_label"].tolist() == [0, 1]
    # conf spread over passes: |0.924780 - 0.850623| / 2
    assert d["conf_std_over_passes"].iloc[0] == pytest.approx((0.9247795695 - 0.8506229875) / 2)


def test_beal_relevance_function():
    np.testing.assert_allclose(BEAL.relevance(np.array([0.0, 0.5, 1.0])), [0.0, np.sqrt(2) - 1, 1.0])


def test_beal_deterministic_parameter():
    det = get("beal", deterministic=True)
    assert -det.score(ctx_from(BEAL_P))[0] == pytest.approx(0.8811776922)
    # documented direction: R is convex, so R(pbar) <= mean R(Y^t) and the deterministic EC is lower
    assert np.all(-det.score(ctx_from(BEAL_P)) <= -get("beal").score(ctx_from(BEAL_P)) + 1e-12)
    sel = det.select(ctx_from(BEAL_P), 1)
    assert sel.diagnostics["n_passes"] == 1 and sel.diagnostics["deterministic"] is True
    with pytest.raises(ConfigError, match="deterministic"):
        get("beal", deterministic="yes")


def _one_pass_ec(p: np.ndarray) -> np.ndarray:
    """EC of one pass, computed independently: R sorted descending, divided by the ranks 1..K."""
    r = -np.sort(-(np.exp2(p) - 1.0), axis=1)
    return (r / np.arange(1, p.shape[1] + 1)).sum(axis=1)


@pytest.fixture(scope="module")
def mc_dropout_model():
    """A fitted 2-member MLPEnsemble with 4 MC-dropout passes (S = 8) on 60 x 6 features, K = 3."""
    from mlal_core.models.mlp import MLPEnsemble

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 6)).astype(np.float32)
    Y = (X[:, :3] + 0.3 * rng.normal(size=(60, 3)) > 0).astype(np.uint8)
    model = MLPEnsemble(n_members=2, hidden_size=16, dropout=0.5, epochs=2, min_steps=20, mc_passes=4)
    model.fit(X[:20], Y[:20])
    return model, X


def _mc_ctx(model, X, **kw):
    return QueryContext(
        labeled=np.arange(20),
        unlabeled=np.arange(20, 60),
        y_labeled=np.zeros((20, 3)),
        proba_samples=model.predict_proba_samples(X),
        model=model,
        **kw,
    )


def test_beal_deterministic_uses_the_models_dropout_off_pass(mc_dropout_model):
    model, X = mc_dropout_model
    ctx = _mc_ctx(model, X, features=X)
    assert ctx.n_samples == 8
    det = get("beal", deterministic=True)
    expected = _one_pass_ec(np.asarray(model.predict_proba(X[20:]), dtype=np.float64))
    np.testing.assert_allclose(-det.score(ctx), expected, rtol=1e-12)
    # the mean of the MC-dropout samples is a different forecast (dropout on, averaged)
    assert np.abs(-det.score(ctx) - _one_pass_ec(ctx.mean_proba().astype(np.float64))).max() > 1e-4
    sel = det.select(ctx, 3)
    assert sel.diagnostics["deterministic_pass"] == "model.predict_proba (dropout off)"
    assert sel.diagnostics["n_passes"] == 1
    np.testing.assert_allclose(sel.details["EC"], np.sort(expected)[:3], rtol=1e-12)


def test_beal_deterministic_prefers_model_inputs_over_features(mc_dropout_model):
    model, X = mc_dropout_model
    embedding = np.zeros((60, 16), dtype=np.float32)  # the loop's features may be the model embedding
    ctx = _mc_ctx(model, X, features=embedding, embedding=embedding, model_inputs=X)
    expected = _one_pass_ec(np.asarray(model.predict_proba(X[20:]), dtype=np.float64))
    np.testing.assert_allclose(-get("beal", deterministic=True).score(ctx), expected, rtol=1e-12)
    # features that are the model's embedding are not model inputs: fall back to the mean
    ctx = _mc_ctx(model, X, features=embedding, embedding=embedding)
    sel = get("beal", deterministic=True).select(ctx, 2)
    assert sel.diagnostics["deterministic_pass"] == "mean of the probability samples"


def test_beal_deterministic_falls_back_to_the_mean_of_the_samples(mc_dropout_model):
    model, X = mc_dropout_model
    P = model.predict_proba_samples(X)
    no_model = QueryContext(labeled=np.arange(20), unlabeled=np.arange(20, 60), y_labeled=np.zeros((20, 3)), proba_samples=P)
    other_samples = _mc_ctx(model, X, features=X)
    other_samples.proba_samples = P[:5]  # S = 5 samples that are not this model's 8 passes
    for ctx in (no_model, other_samples):
        sel = get("beal", deterministic=True).select(ctx, 2)
        assert sel.diagnostics["deterministic_pass"] == "mean of the probability samples"
        expected = _one_pass_ec(ctx.mean_proba().astype(np.float64))  # the float32 mean: rtol 1e-6
        np.testing.assert_allclose(-get("beal", deterministic=True).score(ctx), expected, rtol=1e-6)
    assert get("beal").select(no_model, 2).diagnostics["deterministic_pass"] is None


def test_beal_registry_text_says_where_the_passes_come_from():
    entry = info("beal")
    assert "T = 20 MC-dropout passes" in entry.choice and "mc_passes" in entry.choice
    assert "any probability samples" in entry.choice
    assert "dropout-off" in entry.choice and "deterministic_pass" in entry.choice


@pytest.mark.parametrize("value", ["yes", 1, 0, None, 1.0])
def test_beal_deterministic_must_be_a_bool(value):
    with pytest.raises(ConfigError, match="deterministic"):
        get("beal", deterministic=value)


def test_beal_deterministic_stored_as_given():
    flag = np.bool_(True)
    s = get("beal", deterministic=flag)
    assert s.get_params()["deterministic"] is flag and s.clone().deterministic is flag
    np.testing.assert_allclose(s.score(ctx_from(BEAL_P)), get("beal", deterministic=True).score(ctx_from(BEAL_P)))


@pytest.mark.parametrize("name", ["random", "entropy", "bald"])
def test_parameterless_strategies_take_no_parameters(name):
    assert get(name).get_params() == {}
    with pytest.raises(ConfigError, match="no parameter"):
        get(name, deterministic=True)


def test_beal_single_pass_equals_deterministic():
    # with S = 1 the two readings coincide
    P = BEAL_P[:1]
    np.testing.assert_allclose(get("beal").score(ctx_from(P)), get("beal", deterministic=True).score(ctx_from(P)))


def test_beal_ties_in_relevance_keep_label_order():
    P = np.array([[[0.5, 0.5, 0.5]]])
    sel = get("beal").select(ctx_from(P), 1)
    assert sel.details["label_ranking"].iloc[0] == "0 > 1 > 2"
    r = np.sqrt(2) - 1
    assert sel.details["EC"].iloc[0] == pytest.approx(r * (1 + 1 / 2 + 1 / 3))


def test_scores_align_with_unlabelled_subset():
    # the pool has labelled rows; scores are aligned with ctx.unlabeled, not with the pool
    P = np.array([[[0.5, 0.5], [0.9, 0.1], [0.99, 0.01], [0.6, 0.5]]])
    ctx = QueryContext(labeled=np.array([0]), unlabeled=np.array([1, 2, 3]), y_labeled=np.array([[1, 0]]), proba_samples=P)
    s = get("entropy").score(ctx)
    assert len(s) == 3
    assert get("entropy").select(ctx, 1).indices.tolist() == [3]


def test_empty_pool_gives_empty_selection():
    P = np.full((2, 3, 2), 0.4)
    ctx = QueryContext(labeled=np.arange(3), unlabeled=np.empty(0, int), y_labeled=np.zeros((3, 2)), proba_samples=P)
    for name in ("random", "entropy", "bald", "beal"):
        sel = get(name).select(ctx, 5)
        assert len(sel.indices) == 0 and len(sel.details) == 0


def test_descending_order_by_hand():
    from mlal_core.strategies.uncertainty import descending_order

    v = np.array([[0.1, 0.3, 0.2], [0.5, 0.5, 0.9], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(descending_order(v), [[1, 2, 0], [2, 0, 1], [0, 1, 2]])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 20), K=st.integers(1, 300), levels=st.integers(1, 50))
def test_descending_order_is_the_stable_argsort(seed, n, K, levels):
    # few distinct values: ties everywhere, where an unstable sort may order them differently
    from mlal_core.strategies.uncertainty import descending_order

    rng = np.random.default_rng(seed)
    v = rng.integers(0, levels, size=(n, K)) / levels
    if seed % 3 == 0:
        v[0, 0] = np.nan
    np.testing.assert_array_equal(descending_order(v), np.argsort(-v, axis=1, kind="stable"))
