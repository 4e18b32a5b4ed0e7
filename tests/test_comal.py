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


def test_supcon_log_sum_exp_and_its_gradient_match_autograd():
    # the hand-written LSE over the other rows (forward and backward) against autograd through
    # logsumexp of the masked matrix, and against finite differences (float64)
    z = torch.nn.functional.normalize(torch.randn(9, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), dim=1)
    z.requires_grad_(True)
    weights = torch.arange(1.0, 10.0, dtype=torch.float64)
    ours = cl._LogSumExpOverOthers.apply(z, 1 / 0.07)
    masked = (z @ z.T / 0.07).masked_fill(torch.eye(9, dtype=torch.bool), float("-inf"))
    reference = torch.logsumexp(masked, dim=1)
    torch.testing.assert_close(ours, reference)
    (g_ours,) = torch.autograd.grad((ours * weights).sum(), z)
    (g_ref,) = torch.autograd.grad((reference * weights).sum(), z)
    torch.testing.assert_close(g_ours, g_ref)
    assert torch.autograd.gradcheck(lambda x: cl._LogSumExpOverOthers.apply(x, 2.0), (z.detach().requires_grad_(),))


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


def test_embed_chunk_bounds_the_pass_and_does_not_change_z():
    # rows per pass = EMBED_FLOATS // (K x max(d_u, d_z)): 4,194,304 // (10 x 128) = 3,276 at the
    # defaults and K = 10; 32 at K = 1,000; at least one row however large K x d_u is
    assert cl.EMBED_FLOATS == 4_194_304
    assert cl.embed_chunk(cl.LabelWiseContrastiveModule(8, 10, d_u=128, d_z=64)) == 3276
    assert cl.embed_chunk(cl.LabelWiseContrastiveModule(8, 1000, d_u=128, d_z=64)) == 32
    assert cl.embed_chunk(cl.LabelWiseContrastiveModule(8, 10, d_u=8, d_z=256)) == 1638  # d_z the larger
    assert cl.embed_chunk(cl.LabelWiseContrastiveModule(2, 2, d_u=2**22, d_z=2)) == 1
    X, Y, _ = _data()
    r = cl.train_module(X[:40], Y[:40], d_u=8, d_z=4, epochs=1, seed=0)
    whole = cl.embed(r.module, X)
    np.testing.assert_allclose(cl.embed(r.module, X, chunk=7), whole, atol=1e-6)
    z, p = cl.embed_and_predict(r.module, X, chunk=7)
    np.testing.assert_allclose(z, whole, atol=1e-6)
    np.testing.assert_allclose(p, cl.embed_and_predict(r.module, X)[1], atol=1e-6)


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


def test_no_candidates_returns_the_empty_selection_without_training(monkeypatch):
    X, Y, P = _data()
    ctx = QueryContext(labeled=np.arange(len(X)), unlabeled=[], y_labeled=Y, proba_samples=P, features=X)

    def no_training(*args, **kwargs):
        raise AssertionError("CoMAL trained its module with nothing to select")

    monkeypatch.setattr(cl, "train_module", no_training)
    sel = get("comal").select(ctx, 5)
    assert sel.indices.tolist() == [] and len(sel.details) == 0 and sel.scores.shape == (0,)


def _hand_pipeline(X, Y, P, ctx_seed, n_lab=40, **kw):
    """The module the strategy trains (same seed from ctx.rng), its k-values and both label sets."""
    seed = int(np.random.default_rng(ctx_seed).integers(0, 2**31 - 1))
    lab, unl = np.arange(n_lab), np.arange(n_lab, len(X))
    trained = cl.train_module(X[lab], Y[lab], seed=seed, device="cpu", **kw)
    z_lab = cl.embed(trained.module, X, lab)
    protos, _ = cl.prototypes(z_lab, Y[lab])
    kbar = cl.k_values(z_lab, protos).mean(axis=0)
    z, head = cl.embed_and_predict(trained.module, X, unl)
    k = cl.k_values(z, protos)
    slci = cl.slci(k, kbar, Y[lab].sum(axis=1).mean())
    return k, slci, P[:, unl].mean(axis=0) > 0.5, head > 0.5


def test_pfd_labels_classifier_vs_module_head():
    # The classifier says every label of every candidate is present (pbar = 0.99); the module's own
    # head, trained on labels with density ~0.3, predicts far fewer. PFD sums (1 - k_j) over the
    # classifier's labels (METHODS.md) or over the head's (paper Eq. 8): the two differ, and each
    # matches the hand pipeline.
    X, Y, P = _data()
    P = P.copy()
    P[:, 40:] = 0.99
    kw = {"d_u": 16, "d_z": 8, "epochs": 3, "batch_size": 64, "lr": 1e-3, "temperature": 0.07}
    k, slci, y_cls, y_head = _hand_pipeline(X, Y, P, ctx_seed=4, **kw)
    assert y_cls.all() and y_head.mean() < 0.9
    q = {}
    for mode, labels in (("classifier", y_cls), ("module", y_head)):
        strat = get("comal", device="cpu", pfd_labels=mode, **kw)
        sel = strat.select(_ctx(X, Y, P, seed=4), 5)
        rows = np.searchsorted(np.arange(40, len(X)), sel.indices)
        np.testing.assert_allclose(sel.details["PFD"], cl.pfd(k, labels)[rows], atol=1e-5)
        np.testing.assert_allclose(sel.details["n_predicted"], labels[rows].sum(axis=1))
        q[mode] = sel.scores
        np.testing.assert_allclose(sel.scores, cl.comal_value(slci, cl.pfd(k, labels)), atol=1e-5)
        assert sel.diagnostics["pfd_labels"].startswith(mode)
        # every candidate's SLCI and PFD are recorded (float32, aligned with ctx.unlabeled like the scores)
        dg = sel.diagnostics
        assert dg["SLCI"].dtype == dg["PFD"].dtype == np.float32 and dg["SLCI"].shape == dg["PFD"].shape == (80,)
        np.testing.assert_allclose(dg["SLCI"], slci, atol=1e-5)
        np.testing.assert_allclose(dg["PFD"], cl.pfd(k, labels), atol=1e-5)
        np.testing.assert_allclose(dg["SLCI"][rows], sel.details["SLCI"], atol=1e-6)
    assert np.abs(q["classifier"] - q["module"]).max() > 0.1
    assert get("comal", device="cpu", pfd_labels="module", **kw).select(_ctx(X, Y, P, seed=4), 5).diagnostics[
        "pfd_label_agreement"
    ] == pytest.approx(y_head.mean())


def _quick(**kw):
    """One tiny CoMAL round with ``kw``."""
    X, Y, P = _data()
    params = {"epochs": 1, "d_u": 8, "d_z": 4, "device": "cpu", "embedding_cap": 20, **kw}
    return get("comal", **params).select(_ctx(X, Y, P), 4)


def test_gamma_parameter():
    for bad in (-0.01, 1.01, "0.5", None, np.nan, True):
        with pytest.raises(ConfigError, match="gamma"):
            get("comal", gamma=bad)
    d = _quick(gamma=1.0).details  # gamma = 1: Q = SLCI
    np.testing.assert_allclose(d["Q"], d["SLCI"])
    d = _quick(gamma=np.float64(0.0)).details  # gamma = 0: Q = PFD
    np.testing.assert_allclose(d["Q"], d["PFD"])


def test_epochs_parameter():
    for bad in (0, 1001, 2.0, "3", None):
        with pytest.raises(ConfigError, match="epochs"):
            get("comal", epochs=bad)
    assert len(_quick(epochs=np.int64(3)).diagnostics["loss_history"]["total"]) == 3
    get("comal", epochs=1000)


def test_d_u_parameter():
    for bad in (0, 4097, 8.0, "8", None):
        with pytest.raises(ConfigError, match="d_u"):
            get("comal", d_u=bad)
    get("comal", d_u=1)
    get("comal", d_u=np.int32(4096))
    assert len(_quick(d_u=np.int64(3)).indices) == 4


def test_d_z_parameter():
    for bad in (1, 4097, 4.0, None):
        with pytest.raises(ConfigError, match="d_z"):
            get("comal", d_z=bad)
    get("comal", d_z=4096)
    sel = _quick(d_z=np.int64(2))
    assert sel.diagnostics["prototypes"].shape == (4, 2)
    assert sel.diagnostics["embeddings"]["z"].shape[2] == 2


def test_temperature_parameter():
    for bad in (0, 0.0009, 10.01, -1.0, "0.07", None):
        with pytest.raises(ConfigError, match="temperature"):
            get("comal", temperature=bad)
    get("comal", temperature=1e-3)
    get("comal", temperature=10)
    assert len(_quick(temperature=np.float32(0.5)).indices) == 4


def test_lr_parameter():
    for bad in (0, 9e-7, 1.01, "1e-3", None):
        with pytest.raises(ConfigError, match="lr"):
            get("comal", lr=bad)
    get("comal", lr=1e-6)
    get("comal", lr=1)
    assert len(_quick(lr=np.float64(1e-2)).indices) == 4


def test_batch_size_parameter():
    for bad in (1, 4097, 64.0, None):
        with pytest.raises(ConfigError, match="batch_size"):
            get("comal", batch_size=bad)
    get("comal", batch_size=4096)
    sel = _quick(batch_size=np.int64(16), epochs=2)
    assert sel.diagnostics["batch_size"] == 16 and sel.diagnostics["train_steps"] == 2 * 3  # 40 rows: 16 + 16 + 8


def test_embedding_cap_parameter():
    for bad in (-1, 100_001, 10.0, None):
        with pytest.raises(ConfigError, match="embedding_cap"):
            get("comal", embedding_cap=bad)
    get("comal", embedding_cap=100_000)
    assert len(_quick(embedding_cap=np.int64(0)).diagnostics["embeddings"]["positions"]) == 0
    assert len(_quick(embedding_cap=10).diagnostics["embeddings"]["positions"]) == 10


def test_device_parameter():
    for bad in ("gpu", "CPU", "cuda:0", 0, torch.device("cpu")):
        with pytest.raises(ConfigError, match="device"):
            get("comal", device=bad)
    get("comal", device=None)
    get("comal", device="cuda")  # accepted here; a machine without CUDA says so when it trains
    assert len(_quick(device="cpu").indices) == 4


def test_pfd_labels_parameter():
    for bad in ("paper", "Module", None, True):
        with pytest.raises(ConfigError, match="pfd_labels"):
            get("comal", pfd_labels=bad)
    assert get("comal").pfd_labels == "classifier"
    assert _quick(pfd_labels="module").diagnostics["pfd_labels"].startswith("module")


def test_sparse_features_give_the_same_picks_as_dense():
    import scipy.sparse as sp

    X, Y, P = _data()
    X = np.where(np.abs(X) > 1.0, X, 0.0).astype(np.float32)  # mostly zeros, like TF-IDF
    dense = get("comal", epochs=2, d_u=8, d_z=4, device="cpu").select(_ctx(X, Y, P, seed=3), 5)
    ctx = QueryContext(
        labeled=np.arange(40), unlabeled=np.arange(40, len(X)), y_labeled=Y[:40], proba_samples=P,
        features=sp.csr_matrix(X), rng=np.random.default_rng(3),
    )
    sparse = get("comal", epochs=2, d_u=8, d_z=4, device="cpu").select(ctx, 5)
    assert sparse.indices.tolist() == dense.indices.tolist()
    np.testing.assert_allclose(sparse.scores, dense.scores, atol=1e-6)
