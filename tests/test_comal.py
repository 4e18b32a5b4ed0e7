"""CoMAL: SupCon loss, prototypes / k-values / SLCI / PFD by hand, training, the ``comal`` strategy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlal_core import contrastive as cl
from mlal_core.errors import ConfigError
from mlal_core.strategies import QueryContext, get

S2 = 1 / math.sqrt(2)


def test_supcon_by_hand():
    # z1 = (1, 0), z2 = (0.6, 0.8) share label 0; z3 = (-1, 0) (label 1) and z4 = (0, -1) (label 2)
    # have no positive and are left out as anchors; tau = 1.
    # anchor 1: dots to 2, 3, 4 = 0.6, -1, 0   -> -log(e^0.6 / (e^0.6 + e^-1 + e^0))
    #         = log(1.822119 + 0.367879 + 1) - 0.6 = log(3.189998) - 0.6 = 0.560020
    # anchor 2: dots to 1, 3, 4 = 0.6, -0.6, -0.8 -> log(e^0.6 + e^-0.6 + e^-0.8) - 0.6
    #         = log(1.822119 + 0.548812 + 0.449329) - 0.6 = log(2.820260) - 0.6 = 0.436829
    # loss = mean = 0.498424
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0], [0.0, -1.0]])
    labels = torch.tensor([0, 0, 1, 2])
    a1 = math.log(math.exp(0.6) + math.exp(-1) + 1) - 0.6
    a2 = math.log(math.exp(0.6) + math.exp(-0.6) + math.exp(-0.8)) - 0.6
    assert a1 == pytest.approx(0.560020, abs=1e-6) and a2 == pytest.approx(0.436829, abs=1e-6)
    assert float(cl.supcon_loss(z, labels, temperature=1.0)) == pytest.approx((a1 + a2) / 2, abs=1e-6)
    # tau = 0.5 doubles every logit
    b1 = math.log(math.exp(1.2) + math.exp(-2) + 1) - 1.2
    b2 = math.log(math.exp(1.2) + math.exp(-1.2) + math.exp(-1.6)) - 1.2
    assert float(cl.supcon_loss(z, labels, temperature=0.5)) == pytest.approx((b1 + b2) / 2, abs=1e-6)


def test_supcon_averages_over_positives_and_handles_no_positive():
    # three vectors with one label: anchor 1 has positives 2 and 3 -> mean of two log terms
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([5, 5, 5])
    # anchor 1: denominators e^0 + e^-1; positives dots 0 and -1
    d1 = math.log(1 + math.exp(-1))
    a1 = ((d1 - 0) + (d1 + 1)) / 2
    # anchor 2: dots to 1, 3 = 0, 0 -> log 2 each
    a2 = math.log(2)
    a3 = a1  # symmetric to anchor 1
    assert float(cl.supcon_loss(z, labels, 1.0)) == pytest.approx((a1 + a2 + a3) / 3, abs=1e-6)
    zero = cl.supcon_loss(z, torch.tensor([0, 1, 2]), 1.0)
    assert float(zero) == 0.0


def test_contrastive_labels_share_one_negative_class():
    y = torch.tensor([[1, 0, 1], [0, 0, 1]])
    assert cl.contrastive_labels(y).tolist() == [0, 3, 2, 3, 3, 2]


def _tiny_embedding():
    # labelled samples A, B, C with K = 2 labels in d_z = 2:
    #   A: z0 = (1, 0),  z1 = (0, 1),  y = (1, 0)
    #   B: z0 = (0, 1),  z1 = (1, 0),  y = (1, 1)
    #   C: z0 = (-1, 0), z1 = (0, -1), y = (0, 1)
    z = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[-1, 0], [0, -1]]], dtype=float)
    y = np.array([[1, 0], [1, 1], [0, 1]])
    return z, y


def test_prototypes_k_values_slci_pfd_by_hand():
    z, y = _tiny_embedding()
    P, has = cl.prototypes(z, y)
    # p0 = normalise(mean(A.z0, B.z0)) = normalise(0.5, 0.5) = (1/sqrt2, 1/sqrt2)
    # p1 = normalise(mean(B.z1, C.z1)) = normalise(0.5, -0.5) = (1/sqrt2, -1/sqrt2)
    np.testing.assert_allclose(P, [[S2, S2], [S2, -S2]])
    assert has.all()
    k = cl.k_values(z, P)
    # A: (S2, -S2); B: (S2, S2); C: (-S2, S2)
    np.testing.assert_allclose(k, [[S2, -S2], [S2, S2], [-S2, S2]])
    kbar = k.mean(axis=0)  # (S2/3, S2/3) = 0.2357 each
    np.testing.assert_allclose(kbar, [S2 / 3, S2 / 3])
    lc = 4 / 3  # (1 + 2 + 1) / 3
    # x1: z0 = (1, 0), z1 = (0, -1) -> k = (S2, S2), both above kbar: SLCI = |2 - 4/3| = 2/3
    #     ystar = (1, 0): PFD = 1 - S2 = 0.292893;  Q = sqrt(2/3 * 0.292893) = sqrt(0.195262) = 0.441885
    # x2: z0 = (-1, 0), z1 = (-1, 0) -> k = (-S2, -S2), none above: SLCI = 4/3
    #     ystar = (1, 1): PFD = 2 (1 + S2) = 3.414214;  Q = sqrt(4/3 * 3.414214) = sqrt(4.552285) = 2.133608
    zx = np.array([[[1, 0], [0, -1]], [[-1, 0], [-1, 0]]], dtype=float)
    kx = cl.k_values(zx, P)
    np.testing.assert_allclose(kx, [[S2, S2], [-S2, -S2]])
    s = cl.slci(kx, kbar, lc)
    np.testing.assert_allclose(s, [2 / 3, 4 / 3])
    p = cl.pfd(kx, np.array([[1, 0], [1, 1]]))
    np.testing.assert_allclose(p, [1 - S2, 2 * (1 + S2)])
    q = cl.comal_value(s, p, 0.5)
    np.testing.assert_allclose(q, [0.441885, 2.133608], atol=1e-6)
    # gamma = 1: SLCI only; gamma = 0: PFD only
    np.testing.assert_allclose(cl.comal_value(s, p, 1.0), s)
    np.testing.assert_allclose(cl.comal_value(s, p, 0.0), p)


def test_label_without_positive_has_no_prototype():
    z, y = _tiny_embedding()
    y = y.copy()
    y[:, 1] = 0
    P, has = cl.prototypes(z, y)
    assert has.tolist() == [True, False]
    np.testing.assert_array_equal(P[1], [0, 0])
    assert (cl.k_values(z, P)[:, 1] == 0).all()


def _data(seed=0, N=120, K=4, d=12, E=3):
    rng = np.random.default_rng(seed)
    Y = (rng.random((N, K)) < 0.3).astype(np.uint8)
    W = rng.normal(size=(K, d))
    X = (Y @ W + rng.normal(0, 0.5, (N, d))).astype(np.float32)
    logits = (Y - 0.5) * 3 + rng.normal(0, 1, (N, K))
    P = 1 / (1 + np.exp(-logits))
    P = np.clip(P[None] + rng.normal(0, 0.02, (E, N, K)), 0, 1)
    return X, Y, P


def test_module_training_decreases_the_loss():
    X, Y, _ = _data()
    r = cl.train_module(X[:60], Y[:60], d_u=16, d_z=8, epochs=25, batch_size=32, lr=3e-3, seed=0)
    h = r.history["total"]
    assert len(h) == 25 and h[-1] < h[0]
    assert r.steps == 25 * 2
    z = cl.embed(r.module, X[:5])
    assert z.shape == (5, 4, 8)
    np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, atol=1e-5)


def test_training_is_seeded_and_leaves_global_rng_alone():
    X, Y, _ = _data()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = cl.train_module(X[:40], Y[:40], d_u=8, d_z=4, epochs=2, seed=5)
    after = torch.rand(1)
    assert float(before) == float(after)
    b = cl.train_module(X[:40], Y[:40], d_u=8, d_z=4, epochs=2, seed=5)
    for pa, pb in zip(a.module.parameters(), b.module.parameters()):
        assert torch.equal(pa, pb)


def _ctx(X, Y, P, n_lab=40, seed=0):
    lab = np.arange(n_lab)
    unl = np.arange(n_lab, len(X))
    return QueryContext(
        labeled=lab,
        unlabeled=unl,
        y_labeled=Y[lab],
        proba_samples=P,
        features=X,
        rng=np.random.default_rng(seed),
    )


def test_strategy_selects_by_Q_and_explains():
    X, Y, P = _data()
    strat = get("comal", epochs=3, d_u=16, d_z=8, embedding_cap=50)
    ctx = _ctx(X, Y, P)
    sel = strat.select(ctx, 6)
    d = sel.details
    assert len(sel.indices) == 6 and len(set(sel.indices)) == 6
    for col in ("SLCI", "PFD", "Q", "n_above_kbar", "reason"):
        assert col in d.columns
    np.testing.assert_allclose(d["Q"], np.sqrt(d["SLCI"] * d["PFD"]))
    assert sel.scores.shape == (80,)
    assert np.all(
        d["Q"].to_numpy()[:, None]
        >= np.delete(sel.scores, np.searchsorted(ctx.unlabeled, sel.indices))[None, :] - 1e-12
    )
    lc = ctx.label_cardinality()
    np.testing.assert_allclose(d["SLCI"], np.abs(d["n_above_kbar"] - lc))
    dg = sel.diagnostics
    assert dg["prototypes"].shape == (4, 8) and dg["kbar"].shape == (4,)
    emb = dg["embeddings"]
    assert len(emb["positions"]) == 50
    assert emb["z"].dtype == np.float16 and emb["z"].shape == (50, 4, 8)
    assert emb["k"].shape == (50, 4) and emb["y"].shape == (50, 4)
    assert (emb["role"] == "selected").sum() == 6
    assert set(emb["positions"][emb["role"] == "labelled"]) <= set(ctx.labeled)


def test_same_seed_same_picks():
    X, Y, P = _data()
    a = get("comal", epochs=2, d_u=8, d_z=4).select(_ctx(X, Y, P, seed=11), 5)
    b = get("comal", epochs=2, d_u=8, d_z=4).select(_ctx(X, Y, P, seed=11), 5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_needs_features_and_labels():
    X, Y, P = _data()
    ctx = _ctx(X, Y, P)
    ctx.features = None
    with pytest.raises(ConfigError, match="features"):
        get("comal").select(ctx, 2)
    empty = QueryContext(
        labeled=[], unlabeled=np.arange(len(X)), y_labeled=np.zeros((0, 4)), proba_samples=P, features=X
    )
    with pytest.raises(ConfigError, match="labelled"):
        get("comal").select(empty, 2)
    for kw in ({"gamma": 1.5}, {"epochs": 0}, {"temperature": 0}):
        with pytest.raises(ConfigError):
            get("comal", **kw)
