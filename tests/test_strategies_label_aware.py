"""MMC, Adaptive, AUDI and CVIRS against hand-computed values (METHODS.md definitions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlal_core.errors import ConfigError
from mlal_core.strategies import QueryContext, get
from mlal_core.strategies.label_aware import (
    Adaptive,
    CVIRS,
    AUDI,
    duplicate_groups,
    exact_dists,
    normalised_entropy_distance,
    self_labelled_hinge_error,
    separation_margin,
)


def ctx_with(pbar_unl, pbar_lab, y_lab, features=None, model=None, seed=0, embedding=None, model_inputs=None):
    """Pool = labelled rows then unlabelled rows; one probability sample (S = 1)."""
    pbar_unl = np.asarray(pbar_unl, float)
    pbar_lab = np.asarray(pbar_lab, float).reshape(-1, pbar_unl.shape[1])
    nL = len(pbar_lab)
    P = np.concatenate([pbar_lab, pbar_unl])[None]
    return QueryContext(
        labeled=np.arange(nL),
        unlabeled=np.arange(nL, nL + len(pbar_unl)),
        y_labeled=np.asarray(y_lab).reshape(nL, pbar_unl.shape[1]),
        proba_samples=P,
        features=features,
        model=model,
        embedding=embedding,
        model_inputs=model_inputs,
        rng=np.random.default_rng(seed),
    )


# ------------------------------------------------------------------------------------ MMC
def test_mmc_constant_count_by_hand():
    # every labelled sample has exactly one label -> k = 1 for every candidate (no regression fitted).
    # score = sum_{top-1} (1 - p) + sum_{others} p:
    #   c0 (0.9, 0.2, 0.1): 0.1 + 0.3 = 0.4 ; c1 (0.6, 0.55, 0.1): 0.4 + 0.65 = 1.05 ; c2 (0.3, 0.2, 0.1): 0.7 + 0.3 = 1.0
    lab = np.eye(3)
    ctx = ctx_with([[0.9, 0.2, 0.1], [0.6, 0.55, 0.1], [0.3, 0.2, 0.1]], lab * 0.8 + 0.1, lab)
    s = get("mmc")
    np.testing.assert_allclose(s.score(ctx), [0.4, 1.05, 1.0])
    sel = s.select(ctx, 2)
    assert (sel.indices - 3).tolist() == [1, 2]
    assert sel.details["k"].tolist() == [1, 1]
    assert sel.details["loss_top_k"].tolist() == pytest.approx([0.4, 0.7])
    assert sel.details["loss_other"].tolist() == pytest.approx([0.65, 0.3])
    assert sel.diagnostics["count_model"].startswith("constant")
    assert sel.diagnostics["predicted_count_distribution"] == {1: 3}


def test_mmc_score_is_the_margin_formula():
    # sum_j (1 - yhat_j (2 p_j - 1)) / 2 with yhat = +1 on the top-k: k = 2 for (0.7, 0.6, 0.2)
    # -> (1 - 0.4)/2 + (1 - 0.2)/2 + (1 + (-0.6))/2 = 0.3 + 0.4 + 0.2 = 0.9
    lab = np.array([[1, 1, 0], [0, 1, 1]])
    ctx = ctx_with([[0.7, 0.6, 0.2]], [[0.8, 0.8, 0.1], [0.1, 0.8, 0.8]], lab)
    assert get("mmc").score(ctx)[0] == pytest.approx(0.9)


def _count_pool():
    # labelled: 12 one-label rows, 5 two-label rows, 5 three-label rows, with pbar that shows it
    rng = np.random.default_rng(0)
    rows, ys = [], []
    for count, reps in ((1, 12), (2, 5), (3, 5)):
        for _ in range(reps):
            y = np.zeros(3)
            y[:count] = 1
            rows.append(np.clip(np.where(y == 1, 0.9, 0.05) + rng.normal(0, 0.02, 3), 0.01, 0.99))
            ys.append(y)
    cands = [[0.95, 0.05, 0.05], [0.88, 0.9, 0.06], [0.9, 0.92, 0.9]]
    return cands, np.array(rows), np.array(ys)


def test_mmc_logistic_regression_predicts_counts():
    cands, rows, ys = _count_pool()
    sel = get("mmc", C=1000.0).select(ctx_with(cands, rows, ys), 3)
    k = dict(zip((sel.indices - len(rows)).tolist(), sel.details["k"].tolist()))
    assert k == {0: 1, 1: 2, 2: 3}
    assert sel.diagnostics["count_model"] == "multinomial logistic regression"
    assert sel.diagnostics["labelled_count_distribution"] == {1: 12, 2: 5, 3: 5}


def test_mmc_C_parameter():
    # strong regularisation (tiny C) flattens the count model: every candidate gets the majority count 1
    cands, rows, ys = _count_pool()
    sel = get("mmc", C=1e-6).select(ctx_with(cands, rows, ys), 3)
    assert set(sel.details["k"].tolist()) == {1}
    for bad in (0, -1.0, "1", None, 1e9):
        with pytest.raises(ConfigError, match="C"):
            get("mmc", C=bad)


def test_mmc_sorted_normalised_features():
    f = get("mmc").count_features(np.array([[0.1, 0.3, 0.6], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(f, [[0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3]])


def test_mmc_without_labelled_samples_uses_the_models_own_count():
    # no labelled sample: k = #(pbar > 0.5); score = sum_{top k} (1 - p) + sum_{others} p
    #   c0 (0.9, 0.6, 0.2): k = 2 -> 0.1 + 0.4 + 0.2 = 0.7
    #   c1 (0.3, 0.2, 0.1): k = 0 -> 0.3 + 0.2 + 0.1 = 0.6
    #   c2 (0.8, 0.45, 0.1): k = 1 -> 0.2 + 0.45 + 0.1 = 0.75
    P = np.array([[[0.9, 0.6, 0.2], [0.3, 0.2, 0.1], [0.8, 0.45, 0.1]]])
    ctx = QueryContext(labeled=np.empty(0, int), unlabeled=np.arange(3), y_labeled=np.zeros((0, 3)), proba_samples=P)
    s = get("mmc")
    np.testing.assert_allclose(s.score(ctx), [0.7, 0.6, 0.75])
    sel = s.select(ctx, 3)
    assert sel.indices.tolist() == [2, 0, 1]
    assert sel.details["k"].tolist() == [1, 2, 0]
    assert sel.diagnostics["count_model"].startswith("no labelled samples")
    assert sel.diagnostics["predicted_count_distribution"] == {0: 1, 1: 1, 2: 1}
    assert "labelled_count_distribution" not in sel.diagnostics


# ------------------------------------------------------------------------------------ Adaptive
# LC = 1 (two labelled samples with one label each). Hand values, beta = 0.5:
#   c0 (0.9, 0.6, 0.2): predicted {0, 1}; sm = 0.6 - 0.2 = 0.4; unc = 2.5; LCI = |2 - 1| + 1 = 2; score sqrt(5)
#   c1 (0.4, 0.3, 0.1): nothing predicted -> sm = top1 - top2 = 0.1; unc = 10; LCI = 2; score sqrt(20)
#   c2 (0.501, 0.499, 0.1): sm = 0.002 -> unc = 1 / 0.01 = 100; LCI = 1; score 10
#   c3 (0.9, 0.8, 0.7): everything predicted -> sm = 0.1; unc = 10; LCI = |3 - 1| + 1 = 3; score sqrt(30)
ADA_U = [[0.9, 0.6, 0.2], [0.4, 0.3, 0.1], [0.501, 0.499, 0.1], [0.9, 0.8, 0.7]]
ADA_LAB = [[0.9, 0.1, 0.1], [0.1, 0.9, 0.1]]
ADA_Y = [[1, 0, 0], [0, 1, 0]]


def test_adaptive_by_hand():
    ctx = ctx_with(ADA_U, ADA_LAB, ADA_Y)
    s = get("adaptive")
    np.testing.assert_allclose(s.score(ctx), [np.sqrt(5), np.sqrt(20), 10.0, np.sqrt(30)])
    sel = s.select(ctx, 4)
    assert (sel.indices - 2).tolist() == [2, 3, 1, 0]
    d = sel.details.set_index(sel.indices - 2)
    assert d.loc[0, "sm"] == pytest.approx(0.4) and d.loc[0, "unc"] == pytest.approx(2.5) and d.loc[0, "LCI"] == 2
    assert d.loc[2, "unc"] == pytest.approx(100.0) and d.loc[2, "LCI"] == 1
    assert (sel.details["beta"] == 0.5).all()
    assert sel.diagnostics["beta"] == 0.5


def test_separation_margin_cases():
    np.testing.assert_allclose(separation_margin(np.array(ADA_U)), [0.4, 0.1, 0.002, 0.1], atol=1e-12)
    np.testing.assert_allclose(separation_margin(np.array([[0.8], [0.3]])), [0.6, 0.4])


def test_adaptive_beta_parameter():
    ctx = ctx_with(ADA_U, ADA_LAB, ADA_Y)
    # beta = 1: uncertainty only (c2 has unc 100); beta = 0: cardinality inconsistency only (c3 has LCI 3)
    assert (get("adaptive", beta=1.0).select(ctx, 1).indices - 2).tolist() == [2]
    assert (get("adaptive", beta=0.0).select(ctx, 1).indices - 2).tolist() == [3]
    np.testing.assert_allclose(get("adaptive", beta=0.0).score(ctx), [2, 2, 1, 3])
    for bad in (-0.1, 1.5, "a", None):
        with pytest.raises(ConfigError, match="beta"):
            get("adaptive", beta=bad)


class PoolErrorModel:
    """A fake model (feature 0 = pool position): after a fit whose training rows include position
    ``good_id`` it predicts 0.95 for every label of every row (pool error 1 - |2 x 0.95 - 1| = 0.1),
    otherwise 0.6 (pool error 0.8). It records the rows it predicts on."""

    def __init__(self, good_id: int = -1):
        self.good_id = good_id

    def get_params(self):
        return {"good_id": self.good_id}

    def fit(self, X, Y):
        self.n_labels_ = np.asarray(Y).shape[1]
        self.good_ = self.good_id in {int(x[0]) for x in np.asarray(X)}
        return self

    def predict_proba(self, X):
        self.predicted_on_ = [int(x[0]) for x in np.asarray(X)]
        return np.full((len(X), self.n_labels_), 0.95 if self.good_ else 0.6)


def test_self_labelled_hinge_error_by_hand():
    # entries: 1 - |2p - 1| -> 0.9: 0.2, 0.2: 0.4, 0.5: 1.0, 0.75: 0.5 ; mean = 2.1 / 4 = 0.525
    assert self_labelled_hinge_error(np.array([[0.9, 0.2], [0.5, 0.75]])) == pytest.approx(0.525)
    # = twice the expected Hamming loss under the model's own probabilities, mean min(p, 1 - p)
    P = np.random.default_rng(0).uniform(size=(7, 3))
    assert self_labelled_hinge_error(P) == pytest.approx(2 * np.minimum(P, 1 - P).mean())
    assert self_labelled_hinge_error(np.zeros((0, 3))) == 0.0
    assert self_labelled_hinge_error(np.array([[0.0, 1.0]])) == 0.0


def test_adaptive_beta_option_picks_lowest_pool_error():
    # features: column 0 is the pool position (labelled 0, 1; candidates c0..c3 at 2..5).
    # Top-1 per beta: c3 (position 5) for beta <= 0.3, c2 (position 4) for beta >= 0.4
    # (beta ln 100 vs beta ln 10 + (1 - beta) ln 3). Adding the "good" candidate gives error 0.1 on
    # the pool, the other 0.8.
    X = np.arange(6, dtype=float)[:, None].repeat(2, axis=1)
    # good = c3: betas {0, ..., 0.3} have error 0.1; the tie rule takes the one closest to 0.5 -> 0.3
    model = PoolErrorModel(good_id=5)
    sel = get("adaptive", adaptive_beta=True).select(ctx_with(ADA_U, ADA_LAB, ADA_Y, features=X, model=model), 1)
    diag = sel.diagnostics
    assert len(diag["beta_errors"]) == 11
    assert diag["beta_errors"][0.0] == pytest.approx(0.1) and diag["beta_errors"][0.5] == pytest.approx(0.8)
    assert diag["beta"] == 0.3 and diag["n_retrains"] == 2
    assert (sel.indices - 2).tolist() == [3]
    assert (sel.details["beta"] == 0.3).all()
    assert "unlabelled pool" in diag["beta_error"]
    # good = c2: betas {0.4, ..., 1} win; closest to 0.5 -> 0.5. The beta follows the pool error.
    sel_b = get("adaptive", adaptive_beta=True).select(
        ctx_with(ADA_U, ADA_LAB, ADA_Y, features=X, model=PoolErrorModel(good_id=4)), 1
    )
    assert sel_b.diagnostics["beta"] == 0.5 and sel_b.diagnostics["beta_errors"][0.0] == pytest.approx(0.8)
    assert (sel_b.indices - 2).tolist() == [2]


def test_adaptive_beta_error_is_measured_on_the_unlabelled_pool():
    # the retrained copy predicts on the 4 unlabelled rows (positions 2..5), not on the labelled ones
    X = np.arange(6, dtype=float)[:, None].repeat(2, axis=1)
    seen = []
    original = PoolErrorModel.predict_proba

    class Recording(PoolErrorModel):
        def predict_proba(self, X):
            out = original(self, X)
            seen.append(self.predicted_on_)
            return out

    get("adaptive", adaptive_beta=True).select(ctx_with(ADA_U, ADA_LAB, ADA_Y, features=X, model=Recording(5)), 1)
    assert seen and all(rows == [2, 3, 4, 5] for rows in seen)


class RidgeModel:
    """Closed-form ridge on {-1, 1} targets, squashed to (0, 1): a deterministic real model."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def get_params(self, deep=True):
        return {"alpha": self.alpha}

    def fit(self, X, Y):
        X = np.asarray(X, float)
        self.W_ = np.linalg.solve(X.T @ X + self.alpha * np.eye(X.shape[1]), X.T @ (2.0 * np.asarray(Y, float) - 1.0))
        return self

    def predict_proba(self, X):
        return 1.0 / (1.0 + np.exp(-2.0 * (np.asarray(X, float) @ self.W_)))


def _ridge_ctx(seed, n=120, n_lab=20, d=6, K=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = (X @ rng.normal(size=(d, K)) + rng.normal(0, 1.0, (n, K)) > 0.5).astype(np.uint8)
    lab = np.arange(n_lab)
    m = RidgeModel().fit(X[lab], Y[lab])
    return QueryContext(
        labeled=lab, unlabeled=np.arange(n_lab, n), y_labeled=Y[lab], proba_samples=m.predict_proba(X)[None], features=X, model=m
    )


def test_adaptive_beta_varies_between_contexts_with_a_real_model():
    """With a real (ridge) model the pool errors differ between betas, and the beta chosen moves away
    from 0.5 and between contexts (the labelled-set reading tied every beta on yeast)."""
    from mlal_core.strategies.base import top_n

    betas = []
    for seed in range(4):
        ctx = _ridge_ctx(seed)
        diag = get("adaptive", adaptive_beta=True).select(ctx, 5).diagnostics
        errs = diag["beta_errors"]
        assert max(errs.values()) - min(errs.values()) > 1e-3  # not a tie
        assert errs[diag["beta"]] == min(errs.values())
        betas.append(diag["beta"])
        # the error of the chosen beta, by hand
        comps = Adaptive.components(ctx)
        picks = top_n(Adaptive.combine(comps, diag["beta"]), 5)
        rows = np.concatenate([ctx.labeled, ctx.unlabeled[picks]])
        ystar = (ctx.mean_proba() > 0.5).astype(np.uint8)
        m = RidgeModel().fit(ctx.features[rows], np.concatenate([ctx.y_labeled, ystar[picks]]))
        p = m.predict_proba(ctx.features[ctx.unlabeled])
        assert errs[diag["beta"]] == pytest.approx(np.mean(1 - np.abs(2 * p - 1)))
    assert len(set(betas)) >= 2 and any(b != 0.5 for b in betas)


def test_adaptive_beta_option_needs_model_and_features():
    ctx = ctx_with(ADA_U, ADA_LAB, ADA_Y)
    with pytest.raises(ConfigError, match="ctx.model"):
        get("adaptive", adaptive_beta=True).select(ctx, 1)
    # off by default: the same context works
    assert len(get("adaptive").select(ctx, 1).indices) == 1
    with pytest.raises(ConfigError, match="adaptive_beta"):
        get("adaptive", adaptive_beta="yes")


def test_adaptive_beta_option_with_real_model():
    from mlal_core.models import MLPEnsemble

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    Y = (X[:, :3] > 0).astype(np.uint8)
    lab = np.arange(15)
    m = MLPEnsemble(n_members=1, hidden_size=8, epochs=2, min_steps=5, device="cpu").fit(X[lab], Y[lab])
    P = m.predict_proba_samples(X)
    ctx = QueryContext(labeled=lab, unlabeled=np.arange(15, 40), y_labeled=Y[lab], proba_samples=P, features=X, model=m)
    sel = get("adaptive", adaptive_beta=True).select(ctx, 3)
    errs = sel.diagnostics["beta_errors"]
    assert sel.diagnostics["beta"] in errs and errs[sel.diagnostics["beta"]] == min(errs.values())
    expected = Adaptive.combine(Adaptive.components(ctx), sel.diagnostics["beta"])
    assert sorted(sel.indices.tolist()) == sorted((15 + np.argsort(-expected, kind="stable")[:3]).tolist())


def test_adaptive_beta_retrains_on_model_inputs_not_features():
    # the same fake model, but the row ids are in ctx.model_inputs; ctx.features (the model's
    # embedding in a session) carries no ids. Retraining on the features would see every row as
    # id 0 and give other errors; on the model inputs it reproduces the hand-computed case above.
    ids = np.arange(6, dtype=float)[:, None].repeat(2, axis=1)
    ctx = ctx_with(ADA_U, ADA_LAB, ADA_Y, features=np.zeros((6, 3)), model=PoolErrorModel(good_id=5), model_inputs=ids)
    sel = get("adaptive", adaptive_beta=True).select(ctx, 1)
    assert sel.diagnostics["retrained_on"] == "ctx.model_inputs"
    assert sel.diagnostics["beta_errors"][0.5] == pytest.approx(0.8) and sel.diagnostics["beta_errors"][0.0] == pytest.approx(0.1)
    assert sel.diagnostics["beta"] == 0.3
    # without model inputs the features are the fallback
    ctx_f = ctx_with(ADA_U, ADA_LAB, ADA_Y, features=ids, model=PoolErrorModel(good_id=5))
    assert get("adaptive", adaptive_beta=True).select(ctx_f, 1).diagnostics["retrained_on"] == "ctx.features"


class UncopyableModel(PoolErrorModel):
    def get_params(self):
        raise RuntimeError("no parameters")


def test_adaptive_beta_model_that_cannot_be_copied_is_a_config_error():
    X = np.arange(6, dtype=float)[:, None]
    ctx = ctx_with(ADA_U, ADA_LAB, ADA_Y, features=X, model=UncopyableModel())
    with pytest.raises(ConfigError, match="cannot be copied.*get_params"):
        get("adaptive", adaptive_beta=True).select(ctx, 1)
    ctx = ctx_with(ADA_U, ADA_LAB, ADA_Y, features=X, model=object())
    with pytest.raises(ConfigError, match="fit"):
        get("adaptive", adaptive_beta=True).select(ctx, 1)


def test_adaptive_beta_in_a_tfidf_session_retrains_on_the_models_own_inputs(small_datasets, monkeypatch):
    """A real session (Reuters TF-IDF + MLP ensemble with early stopping): the context's features are
    the model's 64-d embedding, its model_inputs the sparse TF-IDF pool. Every adaptive retrain fits
    a copy with early stopping off on TF-IDF rows, and the recorded errors are reproduced by hand."""
    import scipy.sparse as sp
    from conftest import FAST_MODEL

    from mlal_core.models import MLPEnsemble
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.strategies.base import top_n

    fits = []
    original_fit = MLPEnsemble.fit

    def recording_fit(self, X, Y, X_valid=None, Y_valid=None, progress=None):
        fits.append({"sparse": sp.issparse(X), "shape": X.shape, "early_stopping": self.early_stopping, "valid": X_valid is not None})
        return original_fit(self, X, Y, X_valid, Y_valid, progress=progress)

    monkeypatch.setattr(MLPEnsemble, "fit", recording_fit)
    cfg = SessionConfig(
        dataset=None, representation="tfidf", model_params={**FAST_MODEL, "early_stopping": True},
        strategy="adaptive", strategy_params={"adaptive_beta": True}, initial_size=40, query_size=8, rounds=1, seed=0,
    )
    session = ActiveLearningSession(cfg, dataset=small_datasets["reuters_small"])
    pending = session.propose()
    ctx, diag = pending.context, pending.selection.diagnostics
    assert sp.issparse(ctx.model_inputs) and ctx.model_inputs.shape[0] == 600
    assert isinstance(ctx.features, np.ndarray) and ctx.features.shape == (600, FAST_MODEL["hidden_size"])
    assert diag["retrained_on"] == "ctx.model_inputs"
    # the session's own fit (with the valid split, early stopping on), then one fit per retrain
    assert fits[0]["valid"] and fits[0]["early_stopping"]
    retrains = fits[1:]
    assert len(retrains) == diag["n_retrains"] >= 2
    width = ctx.model_inputs.shape[1]
    assert all(f["sparse"] and f["shape"] == (40 + 8, width) and not f["early_stopping"] for f in retrains)
    # the errors of two betas, recomputed by hand on the TF-IDF rows
    comps = Adaptive.components(ctx)
    ystar = ctx.mean_proba() > 0.5
    for beta in (0.0, diag["beta"]):
        picks = top_n(Adaptive.combine(comps, beta), 8)
        copy = pending.model.clone().set_params(early_stopping=False)
        rows = np.concatenate([ctx.labeled, ctx.unlabeled[picks]])
        copy.fit(ctx.model_inputs[rows], np.concatenate([ctx.y_labeled, ystar[picks]]).astype(np.uint8))
        p = copy.predict_proba(ctx.model_inputs[ctx.unlabeled])
        assert diag["beta_errors"][beta] == pytest.approx(np.mean(1 - np.abs(2 * p - 1)))
    assert len(pending.selection.indices) == 8


# ------------------------------------------------------------------------------------ AUDI
# LC = 1. score = |#predicted - LC| x (1 - 2 min_j |p_j - 0.5|):
#   c0 (0.9, 0.8, 0.3): 2 predicted -> 1 x (1 - 0.4) = 0.6
#   c1 (0.9, 0.1, 0.1): 1 predicted -> 0
#   c2 (0.6, 0.55, 0.45): 2 predicted -> 1 x (1 - 0.1) = 0.9
#   c3 (0.4, 0.1, 0.1): 0 predicted -> 1 x (1 - 0.2) = 0.8
AUDI_U = [[0.9, 0.8, 0.3], [0.9, 0.1, 0.1], [0.6, 0.55, 0.45], [0.4, 0.1, 0.1]]
# features: c2 and c3 coincide; c0 and c1 far away. Nearest-neighbour distances of the candidates:
# c0 10, c1 10, c2 0, c3 0 -> 10 % quantile = 0: the filter removes exact duplicates of a pick
AUDI_X = np.array([[0, 0], [0, 0], [10, 0], [0, 10], [0, 0], [0, 0]], float)


def test_audi_score_by_hand():
    ctx = ctx_with(AUDI_U, ADA_LAB, ADA_Y, features=AUDI_X)
    np.testing.assert_allclose(get("audi").score(ctx), [0.6, 0.0, 0.9, 0.8])


def test_audi_diversity_filter_skips_near_duplicates():
    ctx = ctx_with(AUDI_U, ADA_LAB, ADA_Y, features=AUDI_X)
    sel = get("audi").select(ctx, 2)
    # c3 (score 0.8) sits on c2 (picked first) -> skipped for c0
    assert (sel.indices - 2).tolist() == [2, 0]
    assert sel.diagnostics["radius"] == pytest.approx(0.0)
    assert sel.diagnostics["n_skipped"] == 1
    assert sel.details["min_dist_to_earlier_picks"].iloc[1] == pytest.approx(10.0)


def test_audi_fills_by_score_when_the_radius_excludes_everything_left():
    ctx = ctx_with(AUDI_U, ADA_LAB, ADA_Y, features=AUDI_X)
    sel = get("audi").select(ctx, 4)
    assert (sel.indices - 2).tolist() == [2, 0, 1, 3]
    assert sel.diagnostics["filter_exhausted"] is True
    assert "filled by score" in sel.details["reason"].iloc[3]


def test_audi_radius_quantile_parameter():
    ctx = ctx_with(AUDI_U, ADA_LAB, ADA_Y, features=AUDI_X)
    # 0 turns the filter off: plain top-n by score
    sel = get("audi", radius_quantile=0.0).select(ctx, 2)
    assert (sel.indices - 2).tolist() == [2, 3]
    assert sel.diagnostics["filter"] == "off"
    # a larger quantile gives a larger radius (0.9 -> 10: c0 and c1, 10 away from c2, are also excluded)
    big = get("audi", radius_quantile=0.9).select(ctx, 2)
    assert big.diagnostics["radius"] == pytest.approx(10.0)
    assert big.diagnostics["filter_exhausted"] is True
    assert big.details["reason"].iloc[1].startswith("filled by score")
    for bad in (-0.1, 1.0, "0.1"):
        with pytest.raises(ConfigError, match="radius_quantile"):
            get("audi", radius_quantile=bad)


def test_audi_blocked_walk_matches_a_naive_walk():
    from mlal_core.strategies.label_aware import AUDI

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(700, 3)).astype(np.float32)
    Z[100:150] = Z[0]  # a clump of duplicates
    ranked = rng.permutation(700)
    for r in (0.0, 0.3, 1.0):
        picked, _, _, skipped, _ = AUDI()._greedy(Z, ranked, 40, r)
        naive = []
        for i in ranked:
            if len(naive) == 40:
                break
            if all(np.linalg.norm(Z[i] - Z[j]) > r for j in naive):
                naive.append(int(i))
        assert picked[: len(naive)] == naive
        if len(naive) == 40:
            assert skipped == list(ranked).index(naive[-1]) + 1 - 40


def test_audi_radius_is_a_nearest_neighbour_quantile():
    # 1-D candidates at 0, 1, 3, 7, 15: nearest-neighbour distances 1, 1, 2, 4, 8
    Z = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    rng = np.random.default_rng(0)
    assert get("audi", radius_quantile=0.5).radius(Z, rng) == pytest.approx(2.0)
    assert get("audi", radius_quantile=0.75).radius(Z, rng) == pytest.approx(4.0)


def test_audi_uses_pbar_without_features():
    ctx = ctx_with(AUDI_U, ADA_LAB, ADA_Y)
    sel = get("audi").select(ctx, 2)
    assert sel.diagnostics["space"] == "pbar"
    assert (sel.indices - 2).tolist()[0] == 2


def test_audi_filter_skips_a_near_duplicate_in_the_model_embedding():
    # 21 candidates with strictly decreasing scores (2 predicted labels vs LC 1; the third label at
    # 0.5 - 0.01 (i + 1): score 1 - 0.02 (i + 1)). In the model embedding, c1 lies 0.01 from c0 and
    # c19 / c20 are 0.02 apart; the rest sit on a unit grid. Nearest-neighbour distances sorted:
    # 0.01, 0.01, 0.02, 0.02, 1, ... -> the 10 % quantile (index 0.1 x 20 = 2) is r = 0.02, so c1
    # (0.01 <= r from the first pick c0) is skipped: picks c0, c2, c3. In ctx.features c1 is far from
    # everything, so a filter in the features would keep it.
    N = 21
    pbar = np.array([[0.9, 0.9, 0.5 - 0.01 * (i + 1)] for i in range(N)])
    grid = np.array([[2.0 + (i % 4), 2.0 + (i // 4)] for i in range(N)])
    emb = grid.copy()
    emb[0], emb[1] = [0.0, 0.0], [0.01, 0.0]
    emb[19], emb[20] = [0.0, 1.0], [0.0, 1.02]
    lab = np.zeros((2, 2))
    emb = np.concatenate([lab, emb])
    feats = emb.copy()
    feats[2 + 1] = [-30.0, -30.0]
    ctx = ctx_with(pbar, [[0.9, 0.1, 0.1], [0.1, 0.9, 0.1]], ADA_Y, features=feats, embedding=emb)
    np.testing.assert_allclose(get("audi").score(ctx), 1 - 0.02 * (np.arange(N) + 1))
    sel = get("audi").select(ctx, 3)
    assert (sel.indices - 2).tolist() == [0, 2, 3]
    assert sel.diagnostics["space"] == "model embedding"
    assert sel.diagnostics["radius"] == pytest.approx(0.02, rel=1e-3)
    assert sel.diagnostics["n_skipped"] == 1
    assert sel.details["min_dist_to_earlier_picks"].iloc[1] == pytest.approx(np.linalg.norm(emb[4] - emb[2]), rel=1e-5)


def _duplicate_pool(N=40, d=64, seed=0):
    """N candidates with strictly decreasing AUDI scores (1 - 0.01 (i + 1)); in the features every
    odd candidate is an exact copy of the even one before it, at a scale (norms ~ 80) where the
    float32 expansion |a|^2 - 2 a.b + |b|^2 does not give 0 for identical rows."""
    rng = np.random.default_rng(seed)
    pbar = np.array([[0.9, 0.9, 0.5 - 0.005 * (i + 1)] for i in range(N)])
    Z = (rng.normal(size=(N, d)) * 10 + 5).astype(np.float32)
    Z[1::2] = Z[0::2]
    feats = np.concatenate([np.zeros((2, d), np.float32), Z])
    return ctx_with(pbar, [[0.9, 0.1, 0.1], [0.1, 0.9, 0.1]], ADA_Y, features=feats), Z


def test_audi_exact_duplicates_never_pass_the_filter():
    ctx, Z = _duplicate_pool()
    # every candidate has an identical copy: nearest-neighbour distances all 0 -> radius exactly 0
    sel = get("audi").select(ctx, 10)
    assert sel.diagnostics["radius"] == 0.0
    # walking down the ranking c0, c1 (= c0), c2, c3 (= c2), ...: every copy is skipped
    assert (sel.indices - 2).tolist() == list(range(0, 20, 2))
    assert sel.diagnostics["n_skipped"] == 9
    assert len({Z[i].tobytes() for i in sel.indices - 2}) == 10
    assert (sel.details["min_dist_to_earlier_picks"].iloc[1:] > 0).all()


def test_audi_identical_rows_are_exactly_zero_apart():
    _, Z = _duplicate_pool()
    g = duplicate_groups(Z)
    assert (g[0::2] == g[1::2]).all() and len(np.unique(g)) == len(Z) // 2
    d = exact_dists(Z, g, Z, g)
    assert (d[np.arange(0, len(Z), 2), np.arange(1, len(Z), 2)] == 0.0).all()
    assert (np.diag(d) == 0.0).all()
    off = ~np.equal.outer(g, g)
    np.testing.assert_allclose(d[off], np.linalg.norm(Z[:, None].astype(float) - Z[None].astype(float), axis=2)[off], rtol=1e-9)
    # -0.0 and 0.0 are the same value
    assert duplicate_groups(np.array([[0.0, 1.0], [-0.0, 1.0]]))[0] == duplicate_groups(np.array([[0.0, 1.0], [-0.0, 1.0]]))[1]
    assert AUDI().radius(Z, np.random.default_rng(0)) == 0.0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 30),
    scale=st.sampled_from([1e-3, 1.0, 100.0]),
    r=st.sampled_from([0.0, 1e-9, 0.5]),
)
def test_audi_walk_never_accepts_a_copy_of_a_pick(seed, n, scale, r):
    """Whatever the scale, the radius (0 included) and the ranking, a row identical to an accepted
    one is never accepted by the filter (only the score fill, once the filter is exhausted, may)."""
    rng = np.random.default_rng(seed)
    base = (rng.normal(size=(n, 8)) * scale + scale).astype(np.float32)
    Z = base[rng.integers(0, n, size=2 * n)]  # plenty of exact duplicates
    ranked = rng.permutation(len(Z))
    picked, _, reasons, _, _ = AUDI()._greedy(Z, ranked, len(Z), r)
    by_filter = [i for i, why in zip(picked, reasons) if not why.startswith("filled")]
    assert len({Z[i].tobytes() for i in by_filter}) == len(by_filter)


# ------------------------------------------------------------------------------------ CVIRS
def test_normalised_entropy_distance_by_hand():
    # u = (1,1,0,0), l = (1,0,0,0): a=1, b=1, c=0, d=2; H(u) = 1, H(l) = H(1/4) = 0.811278,
    # H(u,l) = -(1/4 log 1/4 + 1/4 log 1/4 + 1/2 log 1/2) = 1.5 -> d = 2 - 1.811278/1.5 = 0.792481
    U = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], bool)
    L = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]], bool)
    D = normalised_entropy_distance(U, L)
    assert D[0, 0] == pytest.approx(0.7924812503605781)
    assert D[1, 1] == 0.0  # identical
    assert D[2, 2] == 1.0  # complementary (Hamming 1): set to 1
    # all-zero prediction vs (1,0,0,0): H(u) = 0, H(u,l) = H(l) -> 2 - 1 = 1
    assert D[3, 0] == pytest.approx(1.0)
    # symmetric
    assert normalised_entropy_distance(L[:1], U[:1])[0, 0] == pytest.approx(D[0, 0])
    # chunking does not change anything
    np.testing.assert_allclose(normalised_entropy_distance(U, L, chunk=1), D)


def test_cvirs_rank_score_by_hand():
    # margins |2p - 1|: label 0 (0, 0.6, 0.8) -> ranks 1, 2, 3; label 1 (0.1, 0.2, 0.9) -> ranks 1, 2, 3
    # s = sum_j (N - r) / (K (N - 1)) = (2 + 2)/4, (1 + 1)/4, 0
    pbar = np.array([[0.5, 0.55], [0.8, 0.6], [0.1, 0.95]])
    np.testing.assert_allclose(CVIRS.rank_score(pbar), [1.0, 0.5, 0.0])
    # ties share the average rank
    np.testing.assert_allclose(CVIRS.rank_score(np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.9]])), [0.75, 0.75, 0.0])


def test_cvirs_score_by_hand():
    # labelled (1,0,0,0) and (1,1,0,0); K = 4, N = 3
    #   c0 (0.9, 0.8, 0.2, 0.1): ystar (1,1,0,0): d = 0.792481 and 0 -> v = 0.396241
    #   c1 (0.9, 0.2, 0.1, 0.3): ystar (1,0,0,0): d = 0 and 0.792481 -> v = 0.396241
    #   c2 (0.2, 0.1, 0.7, 0.8): ystar (0,0,1,1): d = 0.792481 (a=0,b=2,c=1,d=1) and 1 (complement) -> v = 0.896241
    # margins per label: (.8,.8,.6) -> ranks (2.5,2.5,1); (.6,.6,.8) -> (1.5,1.5,3); (.6,.8,.4) -> (2,3,1); (.8,.4,.6) -> (3,1,2)
    #   s = (0.5 + 1.5 + 1 + 0)/8 = 0.375 ; (0.5 + 1.5 + 0 + 2)/8 = 0.5 ; (2 + 0 + 2 + 1)/8 = 0.625
    cands = [[0.9, 0.8, 0.2, 0.1], [0.9, 0.2, 0.1, 0.3], [0.2, 0.1, 0.7, 0.8]]
    lab_y = np.array([[1, 0, 0, 0], [1, 1, 0, 0]])
    ctx = ctx_with(cands, lab_y * 0.8 + 0.1, lab_y)
    s = get("cvirs")
    np.testing.assert_allclose(s.score(ctx), [0.1485902344, 0.1981203126, 0.5601503907], atol=1e-9)
    sel = s.select(ctx, 3)
    assert (sel.indices - 2).tolist() == [2, 1, 0]
    d = sel.details
    assert d["s"].tolist() == pytest.approx([0.625, 0.5, 0.375])
    assert d["v"].tolist() == pytest.approx([0.8962406252, 0.3962406252, 0.3962406252])


def test_cvirs_without_labelled_samples():
    P = np.array([[[0.5, 0.55], [0.8, 0.6], [0.1, 0.95]]])
    ctx = QueryContext(labeled=np.empty(0, int), unlabeled=np.arange(3), y_labeled=np.zeros((0, 2)), proba_samples=P)
    sel = get("cvirs").select(ctx, 1)
    assert sel.indices.tolist() == [0]
    assert "v = 1" in sel.diagnostics["note"]


# ----------------------------------------------------------------------------------------------
# issue 18: the large-K paths against the straightforward formulas
# ----------------------------------------------------------------------------------------------
def test_mmc_top_k_sums_by_hand():
    from mlal_core.strategies.label_aware import _top_k_sums

    srt = np.array([[0.9, 0.5, 0.25, 0.0], [0.75, 0.5, 0.5, 0.25], [0.5, 0.5, 0.5, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(_top_k_sums(srt, np.array([2, 0, 4])), [np.float32(0.9) + np.float32(0.5), 0.0, 2.0])
    np.testing.assert_array_equal(_top_k_sums(srt, np.array([0, 0, 0])), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(_top_k_sums(srt, np.array([1, 3, 1])), [np.float32(0.9), 1.75, 0.5])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), K=st.integers(1, 40))
def test_mmc_top_k_sums_are_the_full_prefix_sums(seed, n, K):
    from mlal_core.strategies.label_aware import _top_k_sums

    rng = np.random.default_rng(seed)
    srt = -np.sort(-rng.random((n, K), dtype=np.float32), axis=1)
    k = rng.integers(0, K + 1, size=n)
    prefix = np.concatenate([np.zeros((n, 1)), np.cumsum(srt, axis=1)], axis=1)  # the earlier formula
    np.testing.assert_array_equal(_top_k_sums(srt, k), prefix[np.arange(n), k])
    exact = np.array([srt[i, : k[i]].astype(np.float64).sum() for i in range(n)])  # float64, by hand
    np.testing.assert_allclose(_top_k_sums(srt, k), exact, rtol=1e-5, atol=1e-6)


def test_mmc_normalised_counts_by_hand():
    from mlal_core.strategies.label_aware import _normalised_counts

    out = _normalised_counts(np.array([[0.5, 0.25, 0.25], [0.0, 0.0, 0.0]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]])
    assert out.dtype == np.float64


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(2, 30))
def test_mmc_sorted_once_equals_the_float64_formula(seed, K):
    # the score sum_j (1 - yhat_j (2 pbar_j - 1)) / 2 with yhat = +1 on the top-k labels, recomputed
    # in float64 from the predicted counts of a logistic regression fitted on the count features
    rng = np.random.default_rng(seed)
    nL, nU = 30, 60
    pbar = rng.random((nL + nU, K)).astype(np.float32)
    y = (rng.random((nL, K)) < 0.3).astype(int)
    y[0] = 0
    y[1] = 1  # at least two distinct counts: the logistic regression is used
    ctx = QueryContext(labeled=np.arange(nL), unlabeled=np.arange(nL, nL + nU), y_labeled=y, proba_samples=pbar[None])
    mmc = get("mmc")
    score, comps, _ = mmc._score_parts(ctx)
    k, how = mmc.predict_counts(ctx)
    assert how == "multinomial logistic regression"
    np.testing.assert_array_equal(comps["k"].to_numpy(), np.clip(k, 0, K))
    p = pbar[nL:].astype(np.float64)
    expected = np.empty(nU)
    for i in range(nU):
        top = np.argsort(-p[i], kind="stable")[: comps["k"].iloc[i]]
        yhat = -np.ones(K)
        yhat[top] = 1.0
        expected[i] = ((1.0 - yhat * (2.0 * p[i] - 1.0)) / 2.0).sum()
    np.testing.assert_allclose(score, expected, rtol=1e-5, atol=1e-5)


def test_audi_radius_in_blocks_matches_brute_force(monkeypatch):
    import mlal_core.strategies.base as strategy_base

    rng = np.random.default_rng(3)
    Z = rng.normal(size=(900, 6)).astype(np.float32)
    Z[500:510] = Z[3]  # duplicates: exactly 0 apart
    Zd = Z.astype(np.float64)
    D = np.sqrt(((Zd[:, None, :] - Zd[None, :, :]) ** 2).sum(-1))
    D[duplicate_groups(Z)[:, None] == duplicate_groups(Z)[None, :]] = 0.0
    np.fill_diagonal(D, np.inf)
    for q in (0.0, 0.1, 0.5):
        audi = get("audi", radius_quantile=q)
        idx = np.sort(np.random.default_rng(0).choice(900, AUDI.MAX_RADIUS_SAMPLE, replace=False))
        expected = float(np.quantile(D[idx].min(axis=1), q))
        whole = audi.radius(Z, np.random.default_rng(0))
        monkeypatch.setattr(strategy_base, "BLOCK_ELEMENTS", 37 * AUDI.MAX_RADIUS_SAMPLE)  # 37 rows a block
        blocked = audi.radius(Z, np.random.default_rng(0))
        monkeypatch.undo()
        assert whole == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert blocked == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 6), N=st.integers(1, 400), levels=st.integers(1, 60))
def test_cvirs_packed_rank_sums_equal_scipy_average_ranks(seed, m, N, levels):
    # float32 margins with many ties: the packed-key sort must give scipy's average ranks, summed
    from scipy.stats import rankdata

    from mlal_core.strategies.label_aware import _rank_sums_packed, rank_sums

    rng = np.random.default_rng(seed)
    X = (rng.integers(0, levels, size=(m, N)) / levels).astype(np.float32)
    expected = rankdata(X.astype(np.float64), method="average", axis=1).sum(axis=0)
    np.testing.assert_array_equal(rank_sums(X), expected)
    np.testing.assert_array_equal(_rank_sums_packed(X.view(np.uint32)), expected)
