"""BADGE, Core-Set and DAL on toy cases where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from mlal_core.errors import ConfigError
from mlal_core.strategies import QueryContext, get
from mlal_core.strategies._common import kcenter_greedy, kmeanspp_seeding, min_sq_dists, sq_norms
from mlal_core.strategies.diversity import BADGE


def ctx_pool(pbar, features, labeled=(), y_labeled=None, model=None, seed=0):
    pbar = np.asarray(pbar, float)
    N, K = pbar.shape
    labeled = np.asarray(labeled, dtype=int)
    unl = np.setdiff1d(np.arange(N), labeled)
    return QueryContext(
        labeled=labeled,
        unlabeled=unl,
        y_labeled=np.zeros((len(labeled), K)) if y_labeled is None else np.asarray(y_labeled),
        proba_samples=pbar[None],
        features=np.asarray(features, float),
        model=model,
        rng=np.random.default_rng(seed),
    )


# ------------------------------------------------------------------------------------ BADGE
def test_badge_gradient_embedding_2x2_by_hand():
    # pbar = (0.7, 0.2) -> ystar = (1, 0) -> a = pbar - ystar = (-0.3, 0.2); h = (1, 2)
    # g = vec(a outer h) = (-0.3*1, -0.3*2, 0.2*1, 0.2*2) = (-0.3, -0.6, 0.2, 0.4); ||g|| = sqrt(0.65)
    ctx = ctx_pool([[0.7, 0.2]], [[1.0, 2.0]])
    a, h, source = BADGE().gradient_factors(ctx)
    np.testing.assert_allclose(a, [[-0.3, 0.2]])
    g = BADGE.gradient_embedding(a, h)
    np.testing.assert_allclose(g, [[-0.3, -0.6, 0.2, 0.4]])
    assert source == "features"
    sel = get("badge").select(ctx, 1)
    assert sel.details["gradient_norm"].iloc[0] == pytest.approx(np.sqrt(0.65))
    assert sel.scores[0] == pytest.approx(np.sqrt(0.65))


def test_badge_first_seed_is_largest_gradient_norm_and_duplicates_are_never_drawn():
    # c0, c1 and c3 are identical (same a, same h): once c0 is a seed (largest norm, lowest position),
    # c1 and c3 have D^2 = 0 and cannot be drawn, so with n = 2 the second pick must be c2, whatever
    # the random draw (exact and projected).
    pbar = [[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.9, 0.1]]
    X = [[5.0, 5.0], [5.0, 5.0], [1.0, 0.0], [5.0, 5.0]]
    for dims in (None, 2):
        for seed in range(5):
            sel = get("badge", projection_dims=dims).select(ctx_pool(pbar, X, seed=seed), 2)
            assert sel.indices.tolist() == [0, 2]
            assert sel.details["reason"].iloc[0] == "first seed: largest gradient norm"


def test_badge_projection_dims_parameter():
    rng = np.random.default_rng(0)
    pbar = rng.random((30, 3))
    X = rng.normal(size=(30, 4))  # K x d = 12
    exact = get("badge", projection_dims=None).select(ctx_pool(pbar, X), 5)
    assert exact.diagnostics["projected"] is False and exact.diagnostics["space"].startswith("exact")
    below = get("badge", projection_dims=12).select(ctx_pool(pbar, X), 5)  # K d <= 12: not projected
    assert below.diagnostics["projected"] is False
    assert below.indices.tolist() == exact.indices.tolist()  # same rng stream, same exact distances
    proj = get("badge", projection_dims=6).select(ctx_pool(pbar, X), 5)
    assert proj.diagnostics["projected"] is True and "to 6 dims" in proj.diagnostics["space"]
    for bad in (0, -3, 1.5, "512"):
        with pytest.raises(ConfigError, match="projection_dims"):
            get("badge", projection_dims=bad)
    # the default never projects, even when K x d (3 x 300) exceeds 512
    wide = rng.normal(size=(30, 300))
    default = get("badge").select(ctx_pool(pbar, wide), 5)
    assert default.diagnostics["projected"] is False
    assert get("badge", projection_dims=512).select(ctx_pool(pbar, wide), 5).diagnostics["projected"] is True


def test_badge_exact_distances_match_explicit_vectors():
    rng = np.random.default_rng(1)
    a, h = rng.normal(size=(20, 3)), rng.normal(size=(20, 4))
    G = BADGE.gradient_embedding(a, h)
    explicit = ((G[:, None] - G[None]) ** 2).sum(-1)
    na2, nh2 = sq_norms(a), sq_norms(h)
    for i in (0, 7):
        factored = na2 * nh2 + na2[i] * nh2[i] - 2 * (a @ a[i]) * (h @ h[i])
        np.testing.assert_allclose(factored, explicit[i], atol=1e-10)


def test_kmeanspp_seeding_follows_d2_probabilities():
    # three points on a line: seed 0 at 10 (largest norm); then D^2 = (100, 81, 0)... drawn by D^2
    X = np.array([[10.0], [1.0], [0.0]])
    counts = np.zeros(3)
    for s in range(400):
        picks, _, _ = kmeanspp_seeding(2, 3, lambda i: ((X - X[i]) ** 2).sum(1), sq_norms(X), np.random.default_rng(s))
        assert picks[0] == 0
        counts[picks[1]] += 1
    # D^2 to x=10: 81 (x=1) and 100 (x=0) -> P = 0.45 / 0.55
    assert counts[0] == 0
    assert counts[2] / 400 == pytest.approx(100 / 181, abs=0.07)


class FixedEmbedModel:
    def embed(self, X):
        return np.asarray(X)[:, :1] * 10.0


def test_badge_uses_model_embedding_when_given():
    ctx = ctx_pool([[0.7, 0.2], [0.6, 0.1]], [[1.0, 2.0], [3.0, 4.0]], model=FixedEmbedModel())
    sel = get("badge").select(ctx, 2)
    assert sel.diagnostics["embedding_source"] == "model.embed(features)"
    # h = 10 * first feature -> ||g_0|| = ||(-0.3, 0.2)|| * 10
    assert sel.scores[0] == pytest.approx(np.sqrt(0.13) * 10)


# ------------------------------------------------------------------------------------ Core-Set
def test_coreset_one_dimensional_toy():
    # labelled at 0 and 10; candidates at 1, 2, 5, 9, 20.
    # 20 is farthest (10 from 10); then 5 (5 from 0 and 10); then 2 (2 from 0; 1 and 9 are 1 away).
    xs = np.array([0.0, 10.0, 1.0, 2.0, 5.0, 9.0, 20.0])[:, None]
    ctx = ctx_pool(np.full((7, 2), 0.5), xs, labeled=[0, 1])
    sel = get("coreset").select(ctx, 3)
    assert xs[sel.indices, 0].tolist() == [20.0, 5.0, 2.0]
    assert sel.details["dist_to_nearest_centre_at_pick"].tolist() == pytest.approx([10.0, 5.0, 2.0])
    assert sel.diagnostics["covering_radius_before"] == pytest.approx(10.0)
    assert sel.diagnostics["covering_radius_after"] == pytest.approx(1.0)
    np.testing.assert_allclose(sel.scores, [1.0, 2.0, 5.0, 1.0, 10.0])  # distance to the nearest labelled


def test_coreset_without_labelled_samples_starts_at_random():
    xs = np.array([0.0, 1.0, 2.0, 50.0])[:, None]
    sel = get("coreset").select(ctx_pool(np.full((4, 1), 0.5), xs, seed=3), 2)
    assert "uniform draw" in sel.details["reason"].iloc[0]
    first = xs[sel.indices[0], 0]
    assert abs(xs[sel.indices[1], 0] - first) == max(abs(xs[:, 0] - first))


def test_kcenter_greedy_helpers_chunking():
    rng = np.random.default_rng(0)
    X, C = rng.normal(size=(50, 3)), rng.normal(size=(7, 3))
    d, i = min_sq_dists(X, C, chunk=4)
    full = ((X[:, None] - C[None]) ** 2).sum(-1)
    np.testing.assert_allclose(d, full.min(1), atol=1e-10)
    assert (i == full.argmin(1)).all()
    _, dist, _, _ = kcenter_greedy(X, d, 3, np.random.default_rng(0))
    assert dist[0] == pytest.approx(np.sqrt(full.min(1).max()))


# ------------------------------------------------------------------------------------ DAL
def dal_pool():
    rng = np.random.default_rng(0)
    lab = rng.normal(0, 0.5, size=(20, 2))
    near = rng.normal(0, 0.5, size=(30, 2))
    far = rng.normal(6, 0.3, size=(5, 2))
    X = np.concatenate([lab, near, far])
    return ctx_pool(np.full((55, 2), 0.5), X, labeled=np.arange(20), y_labeled=np.ones((20, 2)))


def test_dal_picks_what_looks_unlabelled():
    sel = get("dal", sub_batches=1, epochs=20).select(dal_pool(), 5)
    far = set(range(50, 55))
    assert len(far & set(sel.indices.tolist())) >= 4  # (all 5 with this seed)
    assert (sel.details["sub_batch"] == 1).all()
    assert sel.details["p_unlabelled"].min() > 0.5
    info = sel.diagnostics["sub_batches"][0]
    assert info["n_labelled"] == 20 and info["n_unlabelled"] == 35


def test_dal_sub_batches_parameter():
    sel = get("dal", sub_batches=3, epochs=2).select(dal_pool(), 5)
    subs = sel.diagnostics["sub_batches"]
    assert [s["sub_batch"] for s in subs] == [1, 2, 3]
    # earlier picks count as labelled for the next sub-batch: sizes 2, 2, 1
    assert [s["n_labelled"] for s in subs] == [20, 22, 24]
    assert sel.details["sub_batch"].tolist() == [1, 1, 2, 2, 3]
    for bad in (0, 101, 2.0):
        with pytest.raises(ConfigError, match="sub_batches"):
            get("dal", sub_batches=bad)


def test_dal_unlabeled_ratio_parameter():
    sel = get("dal", sub_batches=1, unlabeled_ratio=1, epochs=1).select(dal_pool(), 2)
    assert sel.diagnostics["sub_batches"][0]["n_unlabelled"] == 20  # min(1 x 20, 35)
    with pytest.raises(ConfigError, match="unlabeled_ratio"):
        get("dal", unlabeled_ratio=0)


def test_dal_epochs_parameter():
    sel = get("dal", sub_batches=2, epochs=1).select(dal_pool(), 2)
    assert all(s["epochs"] == 1 for s in sel.diagnostics["sub_batches"])
    with pytest.raises(ConfigError, match="epochs"):
        get("dal", epochs=0)


def test_dal_hidden_size_parameter():
    s = get("dal", hidden_size=7, epochs=1)
    net, _, _ = s._train(np.random.default_rng(0).normal(size=(10, 3)), np.r_[np.zeros(5), np.ones(5)], 0)
    assert net[0].out_features == 7 and net[2].out_features == 7
    with pytest.raises(ConfigError, match="hidden_size"):
        get("dal", hidden_size=0)


def test_dal_without_labelled_samples_starts_at_random():
    ctx = ctx_pool(np.full((10, 2), 0.5), np.random.default_rng(0).normal(size=(10, 2)))
    sel = get("dal", sub_batches=2, epochs=1).select(ctx, 4)
    assert "uniform draw" in sel.details["reason"].iloc[0]
    assert "highest P(unlabelled)" in sel.details["reason"].iloc[3]


def test_dal_score_is_the_pick_time_p_unlabelled():
    # every pick's score is the P(unlabelled) of the discriminator that picked it (its p_unlabelled),
    # in later sub-batches too; every candidate has one (the last discriminator's for the others)
    ctx = dal_pool()
    sel = get("dal", sub_batches=3, epochs=2).select(ctx, 6)
    d = sel.details
    assert d["sub_batch"].tolist() == [1, 1, 2, 2, 3, 3]
    np.testing.assert_array_equal(d["score"].to_numpy(), d["p_unlabelled"].to_numpy())
    rows = np.searchsorted(ctx.unlabeled, sel.indices)
    np.testing.assert_array_equal(sel.scores[rows], d["p_unlabelled"].to_numpy())
    assert np.isfinite(sel.scores).all() and ((sel.scores > 0) & (sel.scores < 1)).all()
    # within a sub-batch the picks are the highest P(unlabelled) of that sub-batch's discriminator
    for b in (1, 2, 3):
        p = d.loc[d["sub_batch"] == b, "score"].to_numpy()
        assert np.all(np.diff(p) <= 0)


def test_dal_candidates_parameter():
    # 'subsample' (the authors' code) picks among the discriminator's unlabelled training sample
    # only, 'pool' among every candidate; with ratio 1 the sample is 20 of the 35 candidates
    ctx = dal_pool()
    pool = get("dal", sub_batches=1, unlabeled_ratio=1, epochs=20, candidates="pool").select(ctx, 5)
    sub = get("dal", sub_batches=1, unlabeled_ratio=1, epochs=20, candidates="subsample").select(dal_pool(), 5)
    assert pool.diagnostics["sub_batches"][0]["n_scored"] == 35
    assert sub.diagnostics["sub_batches"][0]["n_scored"] == 20
    assert pool.details["reason"].iloc[0] == "sub-batch 1: highest P(unlabelled) among all unlabelled"
    assert sub.details["reason"].iloc[0] == "sub-batch 1: highest P(unlabelled) among the 20 unlabelled samples it trained on"
    for sel in (pool, sub):  # one discriminator: every candidate's score comes from it
        assert np.isfinite(sel.scores).all()
    picked = np.isin(ctx.unlabeled, pool.indices)
    assert pool.scores[picked].min() >= pool.scores[~picked].max()  # the top 5 of the pool
    picked = np.isin(ctx.unlabeled, sub.indices)
    assert sub.scores[picked].min() < sub.scores[~picked].max()  # with this seed a higher one was not in the sample
    with pytest.raises(ConfigError, match="candidates"):
        get("dal", candidates="all")


@pytest.mark.parametrize("ratio", [2, 10])
def test_dal_candidate_modes_agree_when_the_sample_is_every_candidate(ratio):
    # min(ratio x 20, 35) = 35 for ratio 2 and 10: the sample is every candidate, so the two
    # readings pick the same samples with the same scores
    picks = [
        get("dal", sub_batches=3, unlabeled_ratio=ratio, epochs=3, candidates=c).select(dal_pool(), 6)
        for c in ("subsample", "pool")
    ]
    assert picks[0].indices.tolist() == picks[1].indices.tolist()
    np.testing.assert_array_equal(picks[0].scores, picks[1].scores)


def test_dal_balanced_accuracy_by_hand():
    import torch

    from mlal_core.strategies.diversity import _balanced_accuracy

    truth = torch.tensor([True, False, False, False])
    # unlabelled class: 1 of 1 right; labelled class: 2 of 3 right -> (1 + 2/3) / 2
    assert _balanced_accuracy(torch.tensor([True, True, False, False]), truth) == pytest.approx(5 / 6)
    assert _balanced_accuracy(torch.tensor([False, False, False]), torch.tensor([False, False, False])) == 1.0


def test_dal_stops_at_the_first_epoch_with_98_percent_running_accuracy():
    # two far-apart clusters: separable within a few epochs; the accuracy is the one seen while
    # training (Keras' running value in the authors' code), so it is >= 0.98 when training stops
    from mlal_core.strategies.diversity import _train_discriminator

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 0.3, (50, 4)), rng.normal(4, 0.3, (200, 4))])
    y = np.r_[np.zeros(50), np.ones(200)]
    _, acc, epochs = _train_discriminator(X, y, 0, 64, 16, 100, 1e-2, 0.98)
    assert acc >= 0.98 and epochs == 2
    _, acc_before, _ = _train_discriminator(X, y, 0, 64, 16, 1, 1e-2, 0.98)
    assert acc_before < 0.98  # after the first epoch it had not got there
    _, acc_never, ran = _train_discriminator(X, y, 0, 64, 16, 5, 1e-2, 1.01)
    assert ran == 5  # an unreachable threshold trains every epoch


@pytest.mark.parametrize("name", ["badge", "coreset", "dal", "audi"])
def test_sparse_features_give_the_same_picks_as_dense(name):
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6)) * (rng.random((40, 6)) < 0.4)  # mostly zeros, like TF-IDF
    pbar = rng.random((40, 3))
    params = {"dal": {"sub_batches": 2, "epochs": 2, "hidden_size": 16}}.get(name, {})
    dense = get(name, **params).select(ctx_pool(pbar, X, labeled=np.arange(8), y_labeled=np.ones((8, 3))), 5)
    ctx = QueryContext(
        labeled=np.arange(8),
        unlabeled=np.arange(8, 40),
        y_labeled=np.ones((8, 3)),
        proba_samples=pbar[None],
        features=sp.csr_matrix(X),  # QueryContext counts its rows with shape[0] (len() raises on sparse)
        rng=np.random.default_rng(0),
    )
    sparse = get(name, **params).select(ctx, 5)
    assert sparse.indices.tolist() == dense.indices.tolist()
    np.testing.assert_allclose(np.asarray(sparse.scores, float), np.asarray(dense.scores, float), rtol=1e-6)
