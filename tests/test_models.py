"""MLPEnsemble: learning, determinism, samples, cold start, batching equivalence, registry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.metrics import f1_score

from mlal_core.errors import ConfigError
from mlal_core.features import featurize
from mlal_core.models import MLPEnsemble, available_models, check_model_params, make_model, training
from mlal_core.models.threads import torch_threads

FAST = {"n_members": 3, "hidden_size": 32, "epochs": 5, "min_steps": 30, "batch_size": 16}


def _toy(n=120, d=10, K=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    W = rng.normal(size=(d, K))
    Y = (X @ W + rng.normal(scale=0.3, size=(n, K)) > 0.5).astype(np.uint8)
    return X, Y


def test_training_loss_decreases():
    X, Y = _toy()
    m = MLPEnsemble(**{**FAST, "epochs": 40}).fit(X, Y)
    loss = m.history_["train_loss"]
    assert len(loss) == 40 and m.n_steps_ == 40 * 8
    assert loss[0] > 0.6 and loss[-1] < 0.55 * loss[0]
    assert all(b < a + 0.02 for a, b in itertools.pairwise(loss))  # no blow-up
    assert f1_score(Y, m.predict_proba(X) > 0.5, average="micro") > 0.9


@pytest.mark.slow
def test_learns_yeast_better_than_baselines(small_datasets):
    ds = small_datasets["yeast"]
    f = featurize(ds, "raw")
    m = MLPEnsemble(random_state=0).fit(f.train, ds.train.Y)
    P = m.predict_proba(f.test)
    Yte = ds.test.Y
    ours = f1_score(Yte, P > 0.5, average="micro")
    zeros = f1_score(Yte, np.zeros_like(Yte), average="micro", zero_division=0)
    prior = ds.train.Y.mean(axis=0)
    # label-prior predictors: thresholded prior (predicts the frequent labels for everyone) and
    # sampling each label with its prior probability (seeded)
    prior_thr = f1_score(Yte, np.broadcast_to(prior > 0.5, Yte.shape), average="micro")
    rng = np.random.default_rng(0)
    prior_draw = f1_score(Yte, rng.random(Yte.shape) < prior, average="micro")
    assert zeros == 0.0
    assert ours > max(prior_thr, prior_draw) + 0.08, (ours, prior_thr, prior_draw)
    assert ours > 0.6  # published MLP baselines on yeast: ~0.63-0.66 micro-F1


def test_same_seed_same_probabilities_and_different_seed_differs():
    X, Y = _toy()
    a = MLPEnsemble(**FAST, random_state=7).fit(X, Y).predict_proba(X)
    b = MLPEnsemble(**FAST, random_state=7).fit(X, Y).predict_proba(X)
    c = MLPEnsemble(**FAST, random_state=8).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    assert a.shape == (120, 4) and a.dtype == np.float32 and (a >= 0).all() and (a <= 1).all()


def test_members_differ_and_neighbouring_seeds_share_no_member():
    X, Y = _toy()
    s0 = MLPEnsemble(**FAST, random_state=0).fit(X, Y).predict_proba_samples(X)
    s1 = MLPEnsemble(**FAST, random_state=1).fit(X, Y).predict_proba_samples(X)
    for i in range(3):
        for j in range(3):
            assert np.abs(s0[i] - s1[j]).max() > 1e-3
        for j in range(i + 1, 3):
            assert np.abs(s0[i] - s0[j]).max() > 1e-3


def test_predict_proba_samples_shapes_and_determinism():
    X, Y = _toy()
    m = MLPEnsemble(**FAST).fit(X, Y)
    S = m.predict_proba_samples(X[:50])
    assert S.shape == (3, 50, 4) and S.dtype == np.float32
    np.testing.assert_array_equal(S, m.predict_proba_samples(X[:50]))  # deterministic
    np.testing.assert_allclose(S.mean(axis=0), m.predict_proba(X[:50]), atol=1e-6)
    assert m.n_samples == 3

    mc = MLPEnsemble(**FAST, mc_passes=4, dropout=0.3).fit(X, Y)
    T = mc.predict_proba_samples(X[:50])
    assert T.shape == (12, 50, 4) and mc.n_samples == 12
    # dropout is on: passes of one member differ from each other
    for e in range(3):
        block = T[e * 4 : (e + 1) * 4]
        assert np.abs(block[0] - block[1]).max() > 1e-3
        # ... and scatter around that member's deterministic output
        det = MLPEnsemble(**FAST, dropout=0.3).fit(X, Y).predict_proba_samples(X[:50])[e]
        assert np.abs(block.mean(axis=0) - det).mean() < np.abs(block[0] - det).mean()
    # the same call gives the same samples
    np.testing.assert_array_equal(T, mc.predict_proba_samples(X[:50]))
    # each pass is one sub-network applied to every row: the samples of a row do not depend on
    # which other rows are in the call (coherent across x and x', like ensemble members)
    np.testing.assert_allclose(mc.predict_proba_samples(X)[:, 10:50], mc.predict_proba_samples(X[10:50]), atol=1e-6)
    # mc_passes does not change training: predict_proba is the same as without MC
    np.testing.assert_array_equal(
        mc.predict_proba(X), MLPEnsemble(**FAST, dropout=0.3).fit(X, Y).predict_proba(X)
    )


def test_inference_chunks_do_not_change_results():
    X, Y = _toy(n=300)
    m = MLPEnsemble(**FAST, mc_passes=3).fit(X, Y)
    small = clone(m).set_params(eval_batch_size=7).fit(X, Y)
    np.testing.assert_allclose(m.predict_proba(X), small.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(m.embed(X), small.embed(X), atol=1e-6)
    assert small.predict_proba_samples(X).shape == (9, 300, 4)


def test_inference_reports_progress_per_chunk_and_one_pass_helper_matches():
    X, Y = _toy(n=50)
    m = MLPEnsemble(**FAST, eval_batch_size=20).fit(X, Y)
    for method in ("predict_proba", "predict_proba_samples", "embed"):
        seen = []
        getattr(m, method)(X, progress=lambda d, t, msg: seen.append((d, t)))
        assert seen == [(20, 50), (40, 50), (50, 50)], method
    samples, emb = m.predict_samples_and_embedding(X)
    np.testing.assert_array_equal(samples, m.predict_proba_samples(X))
    np.testing.assert_array_equal(emb, m.embed(X))


def test_cold_start():
    X, Y = _toy(seed=0)
    X2, Y2 = _toy(n=90, seed=5)
    m = MLPEnsemble(**FAST).fit(X, Y)
    m.fit(X2, Y2)
    fresh = MLPEnsemble(**FAST).fit(X2, Y2)
    np.testing.assert_array_equal(m.predict_proba(X), fresh.predict_proba(X))


def test_batched_members_equal_separate_training():
    X, Y = _toy()
    rows, Yt = training.Rows(X, torch.device("cpu")), torch.from_numpy(Y.astype(np.float32))
    kw = {"random_state": 3, "hidden_size": 16, "dropout": 0.2, "epochs": 3, "batch_size": 16,
          "learning_rate": 1e-2, "weight_decay": 1e-2, "min_steps": 0, "max_steps": None}
    with torch_threads(1, torch.device("cpu")):
        together = training.train_stack(rows, Yt, members=range(3), **kw).stack
        alone_stacks = [training.train_stack(rows, Yt, members=[e], **kw).stack for e in range(3)]
    for e, alone in enumerate(alone_stacks):
        for p_all, p_one in zip(together.parameters(), alone.parameters()):
            torch.testing.assert_close(p_all[e : e + 1], p_one, atol=1e-5, rtol=1e-4)


def test_sparse_input_matches_dense():
    X, Y = _toy()
    X[np.abs(X) < 0.8] = 0
    Xs = sp.csr_matrix(X)
    # sparse_training="dense" densifies each mini-batch: the same computation as dense input
    for std in (None, "global"):
        dense = MLPEnsemble(**FAST, standardize=std).fit(X, Y)
        sparse = MLPEnsemble(**FAST, standardize=std, sparse_training="dense").fit(Xs, Y)
        if std is None:
            np.testing.assert_allclose(dense.predict_proba(X), sparse.predict_proba(Xs), atol=1e-5)
            np.testing.assert_allclose(dense.predict_proba_samples(X), sparse.predict_proba_samples(Xs), atol=1e-5)
        # sparse inputs are scaled, never centred (they stay sparse)
        assert sparse.input_shift_ is None
        # inference on CSR (sparse product, never densified) = inference on the dense copy
        np.testing.assert_allclose(sparse.predict_proba(Xs), sparse.predict_proba(X), atol=1e-5)
        np.testing.assert_allclose(sparse.embed(Xs), sparse.embed(X), atol=1e-5)


def test_lazy_sparse_training_equals_adamw_when_every_feature_is_touched():
    X, Y = _toy()
    X += np.sign(X) * 1e-3  # no zero entry: every first-layer row gets a gradient at every step
    Xs = sp.csr_matrix(X)
    assert Xs.nnz == X.size
    for std in (None, "feature"):
        exact = MLPEnsemble(**FAST, standardize=std, sparse_training="dense").fit(Xs, Y)
        lazy = MLPEnsemble(**FAST, standardize=std, sparse_training="lazy").fit(Xs, Y)
        np.testing.assert_allclose(lazy.stack_.W1.numpy(), exact.stack_.W1.numpy(), atol=2e-5)
        np.testing.assert_allclose(lazy.predict_proba(Xs), exact.predict_proba(Xs), atol=1e-4)


@pytest.mark.slow
def test_lazy_sparse_training_learns_tfidf(small_datasets):
    ds = small_datasets["reuters_small"]
    f = featurize(ds, "tfidf")
    params = {"n_members": 2, "hidden_size": 64, "epochs": 10}
    lazy = MLPEnsemble(**params).fit(f.train, ds.train.Y)
    dense = MLPEnsemble(**params, sparse_training="dense").fit(f.train, ds.train.Y)
    f_lazy = f1_score(ds.test.Y, lazy.predict_proba(f.test) > 0.5, average="micro")
    f_dense = f1_score(ds.test.Y, dense.predict_proba(f.test) > 0.5, average="micro")
    assert lazy.history_["train_loss"][-1] < 0.5 * lazy.history_["train_loss"][0]
    assert f_lazy > 0.5 and abs(f_lazy - f_dense) < 0.05, (f_lazy, f_dense)


def test_embed():
    X, Y = _toy()
    m = MLPEnsemble(**FAST).fit(X, Y)
    H = m.embed(X)
    assert H.shape == (120, 32) and H.dtype == np.float32 and (H >= 0).all()
    W1, b1 = m.stack_.W1[0].numpy(), m.stack_.b1[0].numpy()
    Z = (X - m.input_shift_) * m.input_scale_  # the fitted input standardisation
    np.testing.assert_allclose(H, np.maximum(Z @ W1 + b1, 0), atol=1e-5)
    raw = MLPEnsemble(**FAST, standardize=None).fit(X, Y)
    np.testing.assert_allclose(raw.embed(X), np.maximum(X @ raw.stack_.W1[0].numpy() + raw.stack_.b1[0].numpy(), 0), atol=1e-5)


def test_early_stopping_keeps_best_members():
    X, Y = _toy(n=200)
    Xv, Yv = _toy(n=100, seed=9)
    m = MLPEnsemble(**{**FAST, "epochs": 200, "hidden_size": 128, "dropout": 0.0, "learning_rate": 1e-2},
                    early_stopping=True, patience=3).fit(X[:60], Y[:60], Xv, Yv)
    vl = np.array(m.history_["valid_loss"])  # (evaluations, members)
    assert m.history_["stopped_early"] and len(vl) < 200
    # the restored weights are each member's best
    best = torch.tensor(vl.min(axis=0), dtype=torch.float32)
    got = training.member_losses(m.stack_, training.Rows(Xv, torch.device("cpu"), m.input_shift_, m.input_scale_),
                                 torch.from_numpy(Yv.astype(np.float32)), 4096)
    torch.testing.assert_close(got, best, atol=1e-5, rtol=1e-4)
    with pytest.raises(ConfigError, match="X_valid"):
        MLPEnsemble(**FAST, early_stopping=True).fit(X, Y)


def test_progress_and_schedule():
    X, Y = _toy(n=50)
    seen = []
    m = MLPEnsemble(**{**FAST, "min_steps": 37}).fit(X, Y, progress=lambda d, t, msg: seen.append((d, t, msg)))
    # 5 epochs x ceil(50 / 16) = 20 steps < min_steps = 37
    assert m.n_steps_ == 37 and seen[-1][:2] == (37, 37) and "MLP" in seen[-1][2]
    assert training.n_steps(1000, 32, 30, 300, None) == 960
    assert training.n_steps(50, 32, 30, 300, None) == 300
    assert training.n_steps(50_000, 32, 30, 300, 5000) == 5000


def test_params_clone_and_registry():
    m = make_model("mlp_ensemble", n_members=2, hidden_size=8)
    assert isinstance(m, MLPEnsemble) and m.get_params()["hidden_size"] == 8
    c = clone(m)
    assert c.get_params() == m.get_params() and c is not m
    assert m.clone().get_params() == m.get_params()
    assert "mlp_ensemble" in available_models()
    with pytest.raises(ConfigError, match="Did you mean 'mlp_ensemble'"):
        make_model("mlp_ensembel")
    with pytest.raises(ConfigError, match="did you mean 'hidden_size'"):
        make_model("mlp_ensemble", hiden_size=3)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("mlp_ensembel", {}, r"Unknown model 'mlp_ensembel'\. Did you mean 'mlp_ensemble'"),
        ("mlp_ensemble", {"n_member": 2}, r"'n_member' \(did you mean 'n_members'\?\)"),
        ("mlp_ensemble", {"dropout": 1.0}, r"^MLPEnsemble: dropout must be a number in \[0, 1\); got 1\.0\.$"),
        ("mlp_ensemble", {"n_members": 2.0}, r"n_members must be an integer in \[1, 100\]; got 2\.0"),
        ("mlp_ensemble", {"learning_rate": 0}, r"learning_rate must be a number > 0; got 0"),
        ("mlp_ensemble", {"standardize": "z"}, r"standardize must be one of 'global', 'feature', None"),
        ("mlp_ensemble", {"batch_sampler": "uncertanity"}, r"Unknown batch sampler 'uncertanity'"),
        ("textcnn", {"kernel_sizes": [3, 0]}, r"TextCNNEnsemble: kernel_sizes must be a non-empty list of integers >= 1"),
        ("textcnn", {"embedding_init": "minilm", "embedding_dim": 128}, r"leave embedding_dim=None"),
        ("transformer", {"encoder": "bert-base"}, r"encoder must be one of 'all-minilm-l6-v2'"),
    ],
)
def test_check_model_params_says_what_to_pass(name, params, match):
    with pytest.raises(ConfigError, match=match):
        check_model_params(name, params)


def test_check_model_params_accepts_good_values_and_excluded_names():
    check_model_params("mlp_ensemble", {"n_members": np.int64(3), "dropout": 0, "max_steps": None, "batch_sampler": "random"})
    check_model_params("textrnn", {"pooling": "max", "precision": "FP32"})
    check_model_params("mlp_ensemble", {"random_state": 3})
    with pytest.raises(ConfigError, match=r"'random_state' \(set for you: leave it out\)"):
        check_model_params("mlp_ensemble", {"random_state": 3}, exclude=("random_state",))


def test_invalid_inputs():
    X, Y = _toy()
    with pytest.raises(ConfigError, match="dropout"):
        MLPEnsemble(dropout=1.0).fit(X, Y)
    with pytest.raises(ConfigError, match="not fitted"):
        MLPEnsemble().predict_proba(X)
    with pytest.raises(ConfigError, match=r"shape \(120, K\)"):
        MLPEnsemble(**FAST).fit(X, Y[:10])
    m = MLPEnsemble(**FAST).fit(X, Y)
    with pytest.raises(ConfigError, match="fitted on 10"):
        m.predict_proba(X[:, :5])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        MLPEnsemble(**FAST).fit(Xn, Y)


def test_tiny_labelled_set_and_unseen_labels():
    X, Y = _toy(n=6)
    Y[:, 3] = 0  # a label without a positive
    m = MLPEnsemble(n_members=3).fit(X, Y)  # default schedule: min_steps=300 on 6 rows
    assert m.n_steps_ == 300
    P = m.predict_proba(X)
    assert P.shape == (6, 4) and (P[:, 3] < 0.1).all()
    np.testing.assert_array_equal(P[:, :3] > 0.5, Y[:, :3] == 1)  # fits the six rows
