"""Uncertainty batch selection (Zhou et al., METHODS.md): reference values of Eq. 1, 4-6, 9-11, and
the contract of every sampler (a valid batch order over the labelled rows each epoch)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from mlal_core import batch_selection as bs
from mlal_core.config import SessionConfig
from mlal_core.errors import ConfigError


# ----------------------------------------------------------------------------- Eq. 1, 4, 5
def test_binary_entropy_reference_values():
    p = np.array([0.0, 0.5, 0.25, 0.75, 1.0])
    ref = np.array([0.0, 1.0, 0.8112781244591328, 0.8112781244591328, 0.0])
    np.testing.assert_allclose(bs.binary_entropy(p), ref, atol=1e-12)


def test_window_difference_and_label_uncertainty_reference():
    # one sample, one label, T = 5 predictions, oldest first
    w = np.array([0.2, 0.6, 0.4, 0.8, 0.5]).reshape(5, 1, 1)
    d = bs.window_difference(w)
    assert d.shape == (1, 1)
    assert d[0, 0] == pytest.approx((0.4 + 0.2 + 0.4 + 0.3) / 4)          # Eq. 4 = 0.325
    u = bs.label_uncertainty(w, lambda1=0.5)                                 # e(0.5) = 1
    assert u[0, 0] == pytest.approx(0.5 * 0.325 + 0.5 * 1.0)                 # Eq. 5 = 0.6625
    assert bs.label_uncertainty(w, lambda1=1.0)[0, 0] == pytest.approx(0.325)
    assert bs.label_uncertainty(w, lambda1=0.0)[0, 0] == pytest.approx(1.0)


def test_difference_separates_the_papers_fig2_cases():
    # same current prediction and the same binarised history, but volatile vs trending (Fig. 2)
    volatile = np.array([0.9, 0.6, 0.95, 0.55, 0.7])
    trend = np.array([0.55, 0.6, 0.65, 0.68, 0.7])
    W = np.stack([volatile, trend], axis=1)[:, :, None]                     # (T, 2, 1)
    u = bs.label_uncertainty(W, 0.5)
    assert u[0, 0] > u[1, 0]
    assert bs.window_difference(W[:1]).tolist() == [[0.0], [0.0]]          # one prediction: d = 0


# ----------------------------------------------------------------------------- Eq. 6
def test_quantize_bins():
    U = np.array([0.0, 0.05, 0.1, 0.35, 0.99, 1.0])
    assert bs.quantize_bins(U, 10).tolist() == [0, 0, 1, 3, 9, 9]
    assert bs.quantize_bins(U, 2).tolist() == [0, 0, 0, 0, 1, 1]


def test_mutual_information_hand_made_case():
    # tau = 2: a and b fall in the same bins (MI = log 2); c is independent of a (MI = 0)
    a = [0.1, 0.1, 0.9, 0.9]
    b = [0.2, 0.3, 0.7, 0.6]
    c = [0.1, 0.9, 0.1, 0.9]
    C = bs.mutual_information_matrix(np.array([a, b, c]).T, tau=2)
    ref = np.array([[1.0, math.log(2), 0.0], [math.log(2), 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(C, ref, atol=1e-12)


def test_mutual_information_matches_a_pairwise_reference():
    rng = np.random.default_rng(0)
    U = rng.random((200, 5))
    U[:, 1] = np.clip(U[:, 0] + 0.1 * rng.standard_normal(200), 0, 1)      # a dependent pair
    C = bs.mutual_information_matrix(U, tau=10)
    B = bs.quantize_bins(U, 10)
    for i in range(5):
        for j in range(5):
            ref = 1.0 if i == j else mutual_info_score(B[:, i], B[:, j])   # natural log
            assert C[i, j] == pytest.approx(ref, abs=1e-10)
    assert C[0, 1] > 5 * C[2, 3]
    np.testing.assert_allclose(C, C.T)


def test_sample_weights_with_correlation():
    U = np.array([[1.0, 0.0], [0.0, 0.5], [0.0, 0.0]])
    C = np.array([[1.0, 0.5], [0.5, 1.0]])
    # U C row sums: 1.5, 0.75, 0 -> min-max: 1, 0.5, 0 (Eq. 7-8)
    np.testing.assert_allclose(bs.sample_weights(U, C), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(bs.sample_weights(U), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(bs.sample_weights(np.ones((3, 2))), [0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------- Eq. 9-11
def test_quantizer_reference():
    assert bs.quantizer(np.array([1.0, 0.75, 0.5, 0.3, 0.0]), 4).tolist() == [0, 1, 2, 2, 4]


def test_selection_probabilities_reference():
    w = np.array([1.0, 0.75, 0.5, 0.0])          # Q = 0, 1, 2, 4 with n = 4
    # s = 16: factor exp(log 16 / 4) = 2 -> weights 1, 1/2, 1/4, 1/16 (Eq. 10)
    ref = np.array([1, 0.5, 0.25, 1 / 16]) / (1 + 0.5 + 0.25 + 1 / 16)
    np.testing.assert_allclose(bs.selection_probabilities(w, 16.0), ref, rtol=1e-12)
    np.testing.assert_allclose(bs.selection_probabilities(w, 1.0), np.full(4, 0.25))
    p = bs.selection_probabilities(np.linspace(0, 1, 50), 100.0)
    assert p.max() / p.min() == pytest.approx(100.0)     # most / least uncertain = s_t
    assert np.all(np.diff(p) >= 0)                       # more uncertain -> more likely


def test_pressure_schedule_from_s0_to_1():
    s = [bs.pressure(t, 100.0, 5, 25) for t in range(30)]
    assert s[5] == pytest.approx(100.0) and s[25] == pytest.approx(1.0)
    assert s[15] == pytest.approx(10.0)                  # geometric: sqrt(s0) halfway (Eq. 11)
    assert all(a >= b for a, b in itertools.pairwise(s))
    assert s[0] == 100.0 and s[29] == 1.0


def test_uncertainty_sampler_history_and_pressure():
    rng = np.random.default_rng(1)
    n, K, epochs = 40, 4, 12
    Y = (rng.random((n, K)) < 0.3).astype(np.uint8)
    smp = bs.make_sampler("uncertainty")
    smp.reset(n, K, epochs, Y)
    for e in range(epochs):
        order = smp.epoch_order(e, n, rng)
        if e < 5:                                        # warm-up: random permutations
            assert sorted(order.tolist()) == list(range(n))
        smp.observe(e, rng.random((n, K)), Y)
    hist = smp.history
    assert [h["epoch"] for h in hist] == list(range(5, epochs))
    assert hist[0]["s"] == pytest.approx(100.0)
    assert hist[-1]["s"] == pytest.approx(1.0)           # the last epoch (index epochs-1) has s = 1
    for h in hist:
        assert h["U"].shape == (n, K) and h["C"].shape == (K, K) and h["p"].shape == (n,)
        assert h["p"].sum() == pytest.approx(1.0)
        np.testing.assert_allclose(np.diag(h["C"]), 1.0)
    # the released code's variant: C = identity
    off = bs.make_sampler("uncertainty", use_correlation=False)
    off.reset(n, K, epochs, Y)
    for e in range(6):
        off.observe(e, rng.random((n, K)), Y)
    np.testing.assert_array_equal(off.history[-1]["C"], np.eye(K))


# ----------------------------------------------------------------------------- all samplers
@pytest.mark.parametrize("name", bs.available_samplers())
def test_every_sampler_yields_a_valid_batch_order(name):
    rng = np.random.default_rng(0)
    n, K, epochs = 37, 5, 10
    Y = (rng.random((n, K)) < 0.3).astype(np.uint8)
    Y[:, 0] = 0                                         # an unseen label must not break anything
    smp = bs.make_sampler(name)
    smp.reset(n, K, epochs, Y)
    for e in range(epochs):
        order = smp.epoch_order(e, n, np.random.default_rng(e))
        assert order.shape == (n,) and order.dtype == np.int64
        assert order.min() >= 0 and order.max() < n
        if not smp.replacement or smp.probabilities(e) is None:
            assert sorted(order.tolist()) == list(range(n))
        again = smp.epoch_order(e, n, np.random.default_rng(e))
        np.testing.assert_array_equal(order, again)          # no state change; same rng -> same order
        smp.observe(e, rng.random((n, K)), Y)
    for h in smp.history:
        assert np.isfinite(h["p"]).all() and h["p"].min() >= 0 and h["p"].sum() == pytest.approx(1.0)
    if name != "random":
        assert smp.history, f"{name} recorded no probabilities"


def test_make_sampler_errors_and_forms():
    with pytest.raises(ConfigError, match="uncertainty"):
        bs.make_sampler("uncertanity")
    with pytest.raises(ConfigError, match="lambda1"):
        bs.make_sampler("uncertainty", lambda1=2.0)
    with pytest.raises(ConfigError, match="Bad parameter"):
        bs.make_sampler("random", window=3)
    s = bs.make_sampler({"name": "uncertainty", "s0": 50, "window": 3})
    assert (s.s0, s.window) == (50.0, 3)
    assert bs.make_sampler(s).get_params() == s.get_params()


def test_model_trains_with_a_sampler_and_session_option():
    from mlal_core.models import MLPEnsemble

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6)).astype(np.float32)
    Y = (X[:, :3] > 0).astype(np.uint8)
    m = MLPEnsemble(n_members=2, hidden_size=8, epochs=9, batch_size=16, min_steps=0,
                    batch_sampler={"name": "uncertainty", "warmup": 3}).fit(X, Y)
    assert m.batch_sampler == {"name": "uncertainty", "warmup": 3}        # stored as given
    assert [h["epoch"] for h in m.batch_sampler_.history] == list(range(3, 9))
    assert m.predict_proba(X).shape == (60, 3)
    m2 = MLPEnsemble(n_members=1, hidden_size=8, epochs=3, batch_size=16, min_steps=0, batch_sampler="balance")
    assert m2.clone().batch_sampler == "balance"
    m2.fit(X, Y)
    # the session passes model_params through; bad names fail at validation
    SessionConfig(dataset="yeast", model_params={"batch_sampler": "uncertainty"}).validate()
    with pytest.raises(ConfigError, match="batch sampler"):
        SessionConfig(dataset="yeast", model_params={"batch_sampler": "nope"}).validate()


def test_experiment_small_run():
    from mlal_core.batch_selection.experiment import run_batch_selection

    res = run_batch_selection("emotions", "uncertainty", epochs=7, seeds=2, max_train=120,
                              model_params={"hidden_size": 16})
    assert res.samplers == ["random", "uncertainty"]
    assert set(res.curves["epoch"]) == set(range(1, 8))
    summ = res.summary()
    assert list(summ["sampler"]) == ["random", "uncertainty"] and (summ["n_seeds"] == 2).all()
    assert res.histories["uncertainty"][0]["C"].shape == (6, 6)


def test_cli_batch_selection(capsys, tmp_path):
    from mlal_core.cli import main

    rc = main(["batch-selection", "--dataset", "emotions", "--sampler", "uncertainty", "--epochs", "6",
               "--seeds", "1", "--max-train", "100", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "uncertainty" in out and "random" in out and "macro_auc" in out
    assert (tmp_path / "emotions_summary.csv").exists()
    assert main(["batch-selection", "--sampler", "nope", "--epochs", "6", "--seeds", "1"]) == 2
    assert "Unknown batch sampler" in capsys.readouterr().err


def test_session_trains_its_model_with_a_sampler(tmp_path, monkeypatch):
    from conftest import FAST_MODEL, subset_dataset

    from mlal_core import data, loop
    from mlal_core.loop import ActiveLearningSession

    built = []
    orig = loop._build_model
    monkeypatch.setattr(loop, "_build_model", lambda cfg, rs: built.append(orig(cfg, rs)) or built[-1])
    from mlal_core.store import SessionStore

    ds = subset_dataset(data.load("emotions"), 150, 40, 60)
    cfg = SessionConfig(dataset=None, strategy="random", initial_size=30, query_size=20, rounds=1, seed=0,
                        model_params={**FAST_MODEL, "epochs": 8, "min_steps": 0,
                                      "batch_sampler": {"name": "uncertainty", "warmup": 3}})
    s = ActiveLearningSession(cfg, dataset=ds, store=SessionStore(tmp_path / "s.sqlite"))
    s.run()
    assert len(built) == 2
    for m in built:
        assert m.batch_sampler_.name == "uncertainty" and m.batch_sampler_.history
