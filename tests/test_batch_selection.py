"""Uncertainty batch selection (Zhou et al., METHODS.md): reference values of Eq. 1, 4-6, 9-11, and
the contract of every sampler (a valid batch order over the labelled rows each epoch)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import mutual_info_score

from mlal_core import batch_selection as bs
from mlal_core.errors import ConfigError
from mlal_core.experiments.batch_selection import (
    BatchSelectionResult,
    convergence_figure,
    correlation_change,
    correlation_drift_figures,
    correlation_summary,
    correlation_trend_figure,
    mi_noise_floor,
    pressure_table,
    probability_figure,
    weight_rank_agreement,
)
from mlal_core.session.config import SessionConfig


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


def test_correlation_flips_the_order_of_two_rows():
    # row 0 is uncertain on label 2 only (independent of the others); row 1 on labels 0 and 1, which are
    # correlated (C01 = 0.5). Without C: row sums 0.7 > 0.6. With C (Eq. 7): U C row 0 = (0, 0, 0.7) -> 0.7,
    # row 1 = (0.3 + 0.5 * 0.3, 0.5 * 0.3 + 0.3, 0) = (0.45, 0.45, 0) -> 0.9 > 0.7 (Eq. 8)
    U = np.array([[0.0, 0.0, 0.7], [0.3, 0.3, 0.0], [0.0, 0.0, 0.0]])
    C = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(bs.sample_weights(U), [1.0, 0.6 / 0.7, 0.0])
    np.testing.assert_allclose(bs.sample_weights(U, C), [0.7 / 0.9, 1.0, 0.0])
    # ranks (3, 2, 1) vs (2, 3, 1): Spearman 1 - 6 * 2 / (3 * 8) = 0.5
    assert weight_rank_agreement(U, C) == pytest.approx(0.5)
    assert weight_rank_agreement(U, np.eye(3)) == pytest.approx(1.0)


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


def test_pressure_does_not_reach_1_when_training_stops_early():
    # the documented deviation: t_end is the maximum epoch count given to reset (20 here); a trainer
    # that stops after 10 epochs leaves the last probabilities at s_t = s0 ** (1 - (9 - 5) / (19 - 5))
    rng = np.random.default_rng(0)
    n, K = 30, 3
    Y = (rng.random((n, K)) < 0.4).astype(np.uint8)
    smp = bs.UncertaintySampler(s0=100.0, warmup=5)
    smp.reset(n, K, 20, Y)
    for e in range(9):
        smp.observe(e, rng.random((n, K)), Y)
    assert smp.history[-1]["epoch"] == 9
    assert smp.history[-1]["s"] == pytest.approx(100.0 ** (1 - 4 / 14)) and smp.history[-1]["s"] > 1
    assert "dropout-off pass over *all* labelled rows" in bs.UncertaintySampler.__doc__
    assert "stops early" in bs.UncertaintySampler.__doc__


# ----------------------------------------------------------------------------- baselines, by hand
def _observe_all(smp, predictions, Y, epochs):
    n, K = np.shape(predictions[0])
    smp.reset(n, K, epochs, Y)
    for e, P in enumerate(predictions):
        smp.observe(e, np.asarray(P, dtype=np.float64), Y)
    return smp.history[-1]


def test_active_bias_reference_probabilities():
    # whole history H = two predictions per (row, label); var (ddof 1) of (a, b) = (a - b)^2 / 2;
    # Eq. 2: std = sqrt(var + var^2 / (|H| - 1)); row score = sum over labels; P ∝ score + mean(score)
    P0 = [[0.2, 0.5], [0.1, 0.9]]
    P1 = [[0.6, 0.5], [0.1, 0.3]]
    Y = np.array([[1, 0], [0, 1]])
    rec = _observe_all(bs.ActiveBiasSampler(warmup=2, smoothing=1.0), [P0, P1], Y, epochs=4)
    v00, v11 = 0.4**2 / 2, 0.6**2 / 2
    score = np.array([math.sqrt(v00 + v00**2), math.sqrt(v11 + v11**2)])     # 0.29394, 0.46087
    eps = score.mean()
    assert rec["epoch"] == 2
    np.testing.assert_allclose(rec["U"], [[score[0], 0.0], [0.0, score[1]]], rtol=1e-6)
    np.testing.assert_allclose(rec["p"], (score + eps) / (score + eps).sum(), rtol=1e-6)  # float32 history
    np.testing.assert_allclose(rec["p"], [0.444711, 0.555289], atol=1e-6)


def test_recency_bias_reference_probabilities():
    # Eq. 3 over the window of 3: entropy (log2) of the fraction of predictions > 0.5, summed over labels
    P = [[[0.6, 0.1], [0.9, 0.4], [0.6, 0.7]],
         [[0.4, 0.2], [0.8, 0.6], [0.4, 0.2]],
         [[0.7, 0.3], [0.7, 0.4], [0.6, 0.8]]]
    Y = np.zeros((3, 2))
    rec = _observe_all(bs.RecencyBiasSampler(window=3, s0=8.0, warmup=3), P, Y, epochs=5)
    h23 = -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3)            # 0.9183
    np.testing.assert_allclose(rec["U"], [[h23, 0.0], [0.0, h23], [h23, h23]], rtol=1e-6)
    # w = minmax(h23, h23, 2 h23) = (0, 0, 1); Q = floor(3 (1 - w)) = (3, 3, 0); s_3 = s0 = 8:
    # P ∝ 8^(-Q/3) = (1/8, 1/8, 1) (Eq. 9-10)
    assert rec["s"] == pytest.approx(8.0)
    np.testing.assert_allclose(rec["w"], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(rec["p"], [0.1, 0.1, 0.8], rtol=1e-12)


def test_balance_reference_probabilities():
    # counts (3, 1) of n = 4 -> inverse frequencies (4/3, 4); row weight = mean over its positive
    # labels, 1 without positives: (4/3, 8/3, 1, 4/3), sum 19/3; static from epoch 0 (no warm-up)
    Y = np.array([[1, 0], [1, 1], [0, 0], [1, 0]])
    smp = bs.BalanceSampler()
    smp.reset(4, 2, 3, Y)
    np.testing.assert_allclose(smp.probabilities(0), [4 / 19, 8 / 19, 3 / 19, 4 / 19], rtol=1e-12)
    np.testing.assert_array_equal(smp.probabilities(2), smp.probabilities(0))


def test_hard_imbalance_reference_probabilities():
    # counts (2, 1) -> IRLbl (1, 2); row score = sum_j IRLbl_j BCE_ij:
    # row 0 (0.8, 0.2), y (1, 0): 3 ln(1/0.8); row 1 (0.5, 0.5), y (0, 1): 3 ln 2; row 2 (0.9, 0.1): 3 ln(1/0.9)
    Y = np.array([[1, 0], [0, 1], [1, 0]])
    P = np.array([[0.8, 0.2], [0.5, 0.5], [0.9, 0.1]])
    rec = _observe_all(bs.HardImbalanceSampler(s0=27.0, warmup=1), [P], Y, epochs=3)
    w0 = math.log(0.9 / 0.8) / math.log(1.8)                                  # 0.2004
    np.testing.assert_allclose(rec["w"], [w0, 1.0, 0.0], rtol=1e-9)
    # Q = floor(3 (1 - w)) = (2, 0, 3); s = 27: P ∝ 27^(-Q/3) = 3^-Q = (1/9, 1, 1/27) -> (3, 27, 1) / 31
    np.testing.assert_allclose(rec["p"], [3 / 31, 27 / 31, 1 / 31], rtol=1e-12)


# ----------------------------------------------------------------------------- scikit-learn parameters
@pytest.mark.parametrize("name", bs.available_samplers())
def test_every_sampler_clones(name):
    smp = bs.make_sampler(name)
    twin = clone(smp)
    assert type(twin) is type(smp) and twin is not smp
    assert twin.get_params() == smp.get_params() == smp.get_params(deep=False)
    assert set(smp.get_params()) == set(bs.sampler_parameters(name))
    assert bs.make_sampler(smp).get_params() == smp.get_params()


def test_samplers_store_parameters_as_given_and_set_params():
    from mlal_core.models import MLPEnsemble

    smp = bs.UncertaintySampler(window=3, s0=50)
    assert smp.s0 == 50 and isinstance(smp.s0, int)                     # stored as given
    assert clone(smp).get_params()["s0"] == 50
    m = MLPEnsemble(batch_sampler=smp).clone()
    assert m.batch_sampler is not smp and m.batch_sampler.get_params() == smp.get_params()
    assert MLPEnsemble(batch_sampler=smp).get_params()["batch_sampler__window"] == 3
    assert bs.make_sampler(smp, lambda1=0.25).lambda1 == 0.25 and smp.lambda1 == 0.5
    smp.set_params(lambda1=3.0)                                         # checked again at the next fit
    with pytest.raises(ConfigError, match="lambda1"):
        smp.reset(10, 2, 5)


def test_reset_creates_a_fresh_history():
    rng = np.random.default_rng(0)
    Y = (rng.random((20, 3)) < 0.5).astype(np.uint8)
    smp = bs.UncertaintySampler(warmup=1)
    assert not hasattr(smp, "history")
    smp.reset(20, 3, 4, Y)
    for e in range(4):
        smp.observe(e, rng.random((20, 3)), Y)
    first = smp.history
    assert len(first) == 3
    smp.reset(20, 3, 4, Y)
    assert smp.history == [] and len(first) == 3 and smp.probabilities(2) is None


@pytest.mark.parametrize(("name", "param", "bad"), [
    ("uncertainty", "window", 1),
    ("uncertainty", "window", 2.5),
    ("uncertainty", "lambda1", 1.5),
    ("uncertainty", "lambda1", "half"),
    ("uncertainty", "tau", 1),
    ("uncertainty", "s0", 0.5),
    ("uncertainty", "warmup", -1),
    ("uncertainty", "use_correlation", "yes"),
    ("uncertainty", "keep_matrices", 1),
    ("recency_bias", "window", 0),
    ("recency_bias", "s0", float("nan")),
    ("recency_bias", "warmup", 1.5),
    ("hard_imbalance", "s0", 0.9),
    ("hard_imbalance", "warmup", -2),
    ("active_bias", "smoothing", -1.0),
    ("active_bias", "warmup", None),
    ("balance", "warmup", -1),
    ("random", "keep_matrices", "no"),
])
def test_sampler_parameter_validation(name, param, bad):
    with pytest.raises(ConfigError, match=rf"{name}.*{param} must be"):
        bs.make_sampler(name, **{param: bad})


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
    from mlal_core.experiments.batch_selection import run_batch_selection

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


def test_cli_sampler_params_reach_the_experiment(monkeypatch, capsys):
    from mlal_core.experiments import batch_selection as experiment
    from mlal_core.cli import main

    seen = {}

    def fake_run(dataset, samplers, **kw):
        seen.update(kw, dataset=dataset, samplers=samplers)
        raise ConfigError("stop here")

    monkeypatch.setattr(experiment, "run_batch_selection", fake_run)
    argv = ["batch-selection", "--dataset", "emotions", "--sampler", "uncertainty,recency_bias", "--quiet",
            "--sampler-param", "s0=50", "--sampler-param", "window=3", "--sampler-param", "use_correlation=false",
            "--sampler-param", "lambda1=0.25", "--sampler-param", "tau=5", "--sampler-param", "warmup=2",
            "--sampler-param", "recency_bias.window=2"]
    assert main(argv) == 2 and "stop here" in capsys.readouterr().err
    assert seen["sampler_params"] == {"uncertainty": {"s0": 50.0, "window": 3, "use_correlation": False,
                                                      "lambda1": 0.25, "tau": 5, "warmup": 2},
                                      "recency_bias": {"window": 2}}
    assert isinstance(seen["sampler_params"]["uncertainty"]["window"], int)
    for bad, msg in ((["--sampler-param", "speed=3"], "has no parameter 'speed'"),
                     (["--sampler-param", "s0"], "KEY=VALUE"),
                     (["--sampler-param", "window=three"], "Expected an integer"),
                     (["--sampler-param", "balance.warmup=1"], "not run"),
                     (["--sampler-param", "nope.s0=1"], "Unknown batch sampler")):
        assert main(["batch-selection", "--sampler", "uncertainty", *bad]) == 2
        assert msg in capsys.readouterr().err


def test_cli_sampler_param_changes_the_run(tmp_path, capsys):
    import pandas as pd

    from mlal_core.cli import main

    # with warmup >= epochs the uncertainty sampler never leaves its warm-up: it then draws the very
    # permutations of the random sampler (same seeded generator), so the two runs are identical
    args = ["batch-selection", "--dataset", "emotions", "--sampler", "uncertainty", "--epochs", "6", "--seeds", "1",
            "--max-train", "100", "--quiet"]
    assert main([*args, "--sampler-param", "warmup=6", "--out", str(tmp_path / "a")]) == 0
    assert "uncertainty: warmup=6" in capsys.readouterr().out
    runs = pd.read_csv(tmp_path / "a" / "emotions_runs.csv").set_index("sampler")
    np.testing.assert_array_equal(runs.loc["uncertainty", ["macro_auc", "ranking_loss"]],
                                  runs.loc["random", ["macro_auc", "ranking_loss"]])
    assert main([*args, "--out", str(tmp_path / "b")]) == 0                       # default warm-up 5
    runs = pd.read_csv(tmp_path / "b" / "emotions_runs.csv").set_index("sampler")
    assert runs.loc["uncertainty", "macro_auc_last"] != runs.loc["random", "macro_auc_last"]


def test_session_trains_its_model_with_a_sampler(tmp_path, monkeypatch):
    from conftest import FAST_MODEL, subset_dataset

    from mlal_core import data
    from mlal_core.models import MLPEnsemble
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.store import SessionStore

    built = []
    fit = MLPEnsemble.fit

    def recording_fit(self, *args, **kwargs):  # the model the config names, as each round builds it
        built.append(self)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MLPEnsemble, "fit", recording_fit)

    ds = subset_dataset(data.load("emotions"), 150, 40, 60)
    cfg = SessionConfig(dataset=None, strategy="random", initial_size=30, query_size=20, rounds=1, seed=0,
                        model_params={**FAST_MODEL, "epochs": 8, "min_steps": 0,
                                      "batch_sampler": {"name": "uncertainty", "warmup": 3}})
    s = ActiveLearningSession(cfg, dataset=ds, store=SessionStore(tmp_path / "s.sqlite"))
    s.run()
    assert len(built) == 2
    for m in built:
        assert m.batch_sampler_.name == "uncertainty" and m.batch_sampler_.history


# ----------------------------------------------------------------------------- deep text models
@pytest.fixture(scope="module")
def tiny_tokens(small_datasets):
    from mlal_core.features import featurize

    ds = small_datasets["reuters_small"]
    f = featurize(ds, "tokens", max_length=32)
    top = np.argsort(-ds.train.Y.sum(axis=0).astype(np.int64), kind="stable")[:3]
    return f.train[:60], ds.train.Y[:60, top]


#: predictions are compared exactly below: fp32 pinned (auto is bf16 on CPUs with native bf16)
TINY_TEXTCNN = {"n_members": 1, "embedding_dim": 16, "n_filters": 8, "epochs": 5, "batch_size": 16, "max_length": 32,
                "precision": "fp32"}


def test_textcnn_trains_with_the_uncertainty_sampler(tiny_tokens):
    from mlal_core.models import TextCNNEnsemble

    X, Y = tiny_tokens
    spec = {"name": "uncertainty", "warmup": 2}
    a = TextCNNEnsemble(**TINY_TEXTCNN, batch_sampler=spec).fit(X, Y)
    assert a.batch_sampler == spec                                        # stored as given
    hist = a.batch_sampler_.history
    assert [h["epoch"] for h in hist] == [2, 3, 4]
    assert hist[0]["s"] == pytest.approx(100.0) and hist[-1]["s"] == pytest.approx(1.0)
    assert hist[0]["U"].shape == (60, 3) and hist[0]["C"].shape == (3, 3)
    # the sampler saw the member's dropout-off predictions on the labelled rows after every epoch:
    # the newest one is the fitted model's (no early stopping: the weights of the last epoch)
    window = a.batch_sampler_.prediction_window()
    assert window.shape == (5, 60, 3)
    np.testing.assert_allclose(window[-1], a.predict_proba(X), atol=1e-6)
    # seeded: the same fit twice gives the same probabilities, batches and model
    b = TextCNNEnsemble(**TINY_TEXTCNN, batch_sampler=spec).fit(X, Y)
    for ha, hb in zip(hist, b.batch_sampler_.history, strict=True):
        np.testing.assert_array_equal(ha["p"], hb["p"])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    # the sampler changed the batches: not the plain-shuffling model
    plain = TextCNNEnsemble(**TINY_TEXTCNN).fit(X, Y)
    assert plain.batch_sampler_ is None
    assert np.abs(plain.predict_proba(X) - a.predict_proba(X)).max() > 1e-4


def test_textcnn_batch_sampler_validation_and_session_option():
    from mlal_core.models import MLPEnsemble, TextCNNEnsemble, TextRNNEnsemble, TransformerEnsemble

    for cls in (MLPEnsemble, TextCNNEnsemble, TextRNNEnsemble, TransformerEnsemble):
        assert cls(batch_sampler="balance").clone().batch_sampler == "balance"
        with pytest.raises(ConfigError, match="batch_sampler must be None"):
            cls(batch_sampler=3)._validate_params()
        with pytest.raises(ConfigError, match="Unknown batch sampler"):
            cls(batch_sampler="uncertanity")._validate_params()
    SessionConfig(model="textcnn", model_params={"batch_sampler": "uncertainty"}).validate()
    SessionConfig(model="textrnn", model_params={"batch_sampler": {"name": "uncertainty", "s0": 10}}).validate()
    with pytest.raises(ConfigError, match="lambda1"):
        SessionConfig(model="textcnn", model_params={"batch_sampler": {"name": "uncertainty", "lambda1": 2}}).validate()


def test_mlp_sampler_observes_dropout_off_predictions_of_all_rows():
    from mlal_core.models import MLPEnsemble

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 5)).astype(np.float32)
    Y = (X[:, :2] > 0).astype(np.uint8)
    m = MLPEnsemble(n_members=2, hidden_size=8, dropout=0.5, epochs=4, batch_size=16, min_steps=0,
                    batch_sampler={"name": "uncertainty", "warmup": 2}).fit(X, Y)
    window = m.batch_sampler_.prediction_window()
    assert window.shape == (4, 50, 2)
    np.testing.assert_allclose(window[-1], m.predict_proba(X), atol=1e-6)


# ----------------------------------------------------------------------------- per-epoch summaries
HAND_HISTORY = [
    {"epoch": 5, "p": np.array([0.1, 0.2, 0.7]), "s": 100.0,
     "C": np.array([[1.0, 0.2, 0.4], [0.2, 1.0, 0.1], [0.4, 0.1, 1.0]])},
    {"epoch": 6, "p": np.array([0.3, 0.3, 0.4]), "s": 10.0,
     "C": np.array([[1.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 1.0]])},
    {"epoch": 7, "p": np.full(3, 1 / 3), "s": 1.0, "C": np.eye(3)},
]


def test_correlation_summary_and_change_by_hand():
    df = correlation_summary(HAND_HISTORY)
    assert df["after epoch"].tolist() == [5, 6, 7]
    np.testing.assert_allclose(df["mean off-diagonal C"], [0.7 / 3, 0.9 / 3, 0.0])
    np.testing.assert_allclose(df["max off-diagonal C"], [0.4, 0.5, 0.0])
    ch = correlation_change(HAND_HISTORY, 5, 6)
    # |C6 - C5| off the diagonal: 0.3, 0.3, 0.2 (each twice) -> mean 0.8 / 3
    assert ch["mean_a"] == pytest.approx(0.7 / 3) and ch["mean_b"] == pytest.approx(0.3)
    assert ch["max_b"] == pytest.approx(0.5) and ch["mean_abs_change"] == pytest.approx(0.8 / 3)
    with pytest.raises(ConfigError, match="not both recorded"):
        correlation_change(HAND_HISTORY, 5, 9)
    assert correlation_summary([{"epoch": 0, "p": np.ones(2) / 2}]).empty   # no C (a baseline)


def test_pressure_table_by_hand():
    df = pressure_table(HAND_HISTORY + [{"epoch": 0, "p": np.array([0.25, 0.75])}])
    assert df["epoch"].tolist() == [6, 7, 8, 1]                 # 1-based: the epoch that uses P
    np.testing.assert_allclose(df["pressure s_t"].iloc[:3], [100.0, 10.0, 1.0])
    assert np.isnan(df["pressure s_t"].iloc[3])
    np.testing.assert_allclose(df["max P / min P"], [7.0, 4 / 3, 1.0, 3.0])


def test_mi_noise_floor_is_far_below_a_real_dependence():
    rng = np.random.default_rng(0)
    a = rng.random(400)
    U = np.stack([a, a, rng.random(400), np.full(400, 0.05)], axis=1)   # 0 and 1 identical, 3 constant
    C = bs.mutual_information_matrix(U, 10)
    q = np.bincount(bs.quantize_bins(a, 10)) / 400
    assert C[0, 1] == pytest.approx(-(q * np.log(q)).sum())               # MI of a column with itself = H
    assert C[3, :3].max() == 0.0                                           # a constant label: MI 0
    floor = mi_noise_floor(U, 10, n_permutations=10, random_state=1)
    assert floor.shape == (10,) and (floor >= 0).all()
    # permuted, every pair is independent; the plug-in MI of two independent 10-bin columns over N rows
    # is biased by about (10 - 1)^2 / (2 N) (Miller-Madow): 3 such pairs of 6 (the constant label's
    # pairs stay 0) -> a floor of about 3 * 81 / 800 / 6 = 0.051 nats, far below the real dependence
    assert floor.mean() == pytest.approx(3 * 81 / 800 / 6, rel=0.25)
    assert floor.max() < 0.05 * C[0, 1]
    np.testing.assert_array_equal(floor, mi_noise_floor(U, 10, n_permutations=10, random_state=1))


# ----------------------------------------------------------------------------- figure builders
def _hand_result() -> BatchSelectionResult:
    import pandas as pd

    rows = []
    for sampler, base in (("random", 0.6), ("uncertainty", 0.7)):
        for seed, off in ((0, -0.01), (1, 0.01)):
            for epoch in (1, 2, 3):
                rows.append({"sampler": sampler, "seed": seed, "epoch": epoch, "split": "valid",
                             "macro_auc": base + 0.05 * epoch + off, "ranking_loss": 0.2, "hamming_loss": 0.1})
    return BatchSelectionResult(dataset="toy", samplers=["random", "uncertainty"], seeds=[0, 1], epochs=3,
                                curves=pd.DataFrame(rows), runs=pd.DataFrame())


def test_convergence_figure_traces_and_values():
    fig = convergence_figure(_hand_result(), "macro_auc", "valid")
    lines = [t for t in fig.data if t.mode and "lines" in t.mode and t.name in ("random", "uncertainty")]
    assert len(fig.data) == 4 and [t.name for t in lines] == ["random", "uncertainty"]   # band + line each
    np.testing.assert_allclose(lines[0].y, [0.65, 0.70, 0.75])            # mean over the two seeds
    np.testing.assert_allclose(lines[1].y, [0.75, 0.80, 0.85])
    assert list(lines[0].x) == [1, 2, 3]
    assert fig.layout.xaxis.title.text == "Epoch" and fig.layout.yaxis.title.text == "Macro-AUC"
    assert fig.layout.title.text == "toy: valid Macro-AUC per epoch"


def test_correlation_drift_figures_values_and_titles():
    fa, fb, fd, epochs = correlation_drift_figures(HAND_HISTORY, (5, 6), ["a", "b", "c"])
    assert epochs == (5, 6)
    assert [t.type for t in fa.data] == ["heatmap"] and [t.type for t in fd.data] == ["heatmap"]
    za, zd = np.asarray(fa.data[0].z, float), np.asarray(fd.data[0].z, float)
    assert np.isnan(np.diag(za)).all()                                   # diagonal (fixed 1) masked
    assert za[0, 2] == pytest.approx(0.4) and za[1, 2] == pytest.approx(0.1)
    np.testing.assert_allclose(zd[~np.eye(3, dtype=bool)], [0.3, -0.3, 0.3, 0.2, -0.3, 0.2])
    assert fa.data[0].zmax == pytest.approx(0.5) and fb.data[0].zmax == pytest.approx(0.5)  # one scale
    assert fa.layout.title.text == "C after epoch 5 (mutual information, nats)"
    assert fd.layout.title.text == "C(after 6) - C(after 5)"
    assert fa.layout.xaxis.title.text == "Label" and fd.layout.yaxis.title.text == "Label"
    default = correlation_drift_figures(HAND_HISTORY)[3]
    assert default == (5, 7)                                             # first and last recorded


def test_correlation_trend_and_probability_figures():
    tf = correlation_trend_figure(HAND_HISTORY)
    assert [t.name for t in tf.data] == ["mean off-diagonal C", "max off-diagonal C"]
    np.testing.assert_allclose(tf.data[0].y, [0.7 / 3, 0.3, 0.0])
    assert tf.layout.xaxis.title.text == "After epoch" and tf.layout.yaxis.title.text == "Mutual information (nats)"
    pf = probability_figure(HAND_HISTORY, max_epochs=2)
    box = pf.data[0]
    assert box.type == "box" and list(box.x) == ["6", "8"]                # first and last, 1-based
    np.testing.assert_allclose(box.median, [0.2, 1 / 3])
    assert pf.layout.xaxis.title.text == "Epoch" and pf.layout.yaxis.type == "log"
    assert pf.layout.yaxis.title.text == "Sampling probability (log scale)"


# ----------------------------------------------------------------------------- the report build
def test_tiny_report_build(tmp_path, monkeypatch):
    import pandas as pd

    from mlal_core.experiments import batch_selection_report as report

    path = report.build(["emotions"], seeds=1, epochs=7, out=tmp_path, fig_format="html")
    md = path.read_text()
    version = report.code_version()
    assert f"fingerprint `{version['fingerprint']}`" in md and "--seeds 1 --epochs 7" in md
    for section in ("## Test Macro-AUC ↑", "## Test Ranking loss ↓", "## Convergence", "## Does C matter?",
                    "## Figures"):
        assert section in md
    cache = tmp_path / "batch_selection"
    runs = pd.read_csv(cache / "emotions_runs.csv")
    assert sorted(runs["sampler"]) == sorted(bs.available_samplers()) and (runs["seed"] == 0).all()
    assert runs["best_epoch"].between(1, 7).all()
    curves = pd.read_csv(cache / "emotions_curves.csv")
    assert len(curves) == 6 * 7 * 2 and set(curves["split"]) == {"valid", "test"}
    best = pd.read_csv(cache / "summary_best.csv")
    assert best.set_index("sampler").loc["uncertainty", "macro_auc_mean"] == pytest.approx(
        runs.set_index("sampler").loc["uncertainty", "macro_auc"])
    checks = pd.read_csv(cache / "correlation_checks.csv")
    assert checks["after epoch"].tolist() == [5, 6] and checks["spearman_w"].between(-1, 1).all()
    assert (checks["noise_floor_mean"] <= checks["noise_floor_max"]).all()
    abl = pd.read_csv(cache / "ablation_use_correlation.csv")
    assert abl["metric"].tolist() == ["macro_auc", "ranking_loss", "hamming_loss"]
    # verdicts by the reproduction report's rules, at the top; the run cache is JSON + NPZ, no pickle
    for section in ("## Verdict rules", "## Summary (computed from the tables below)", "## Claims in detail",
                    "0 comparison(s), Holm step-down", "One seed: no paired test is defined"):
        assert section in md
    assert md.index("## Verdict rules") < md.index("## Setup")
    assert sorted(p.name for p in (cache / "cache").iterdir()) == [
        "emotions_s1_e7.json", "emotions_s1_e7.npz", "emotions_s1_e7_no_c.json", "emotions_s1_e7_no_c.npz"]
    table = pd.read_csv(cache / "runs_all.csv")
    assert table.groupby("sampler").size().to_dict() == {s: 1 for s in [*bs.available_samplers(), "uncertainty_no_c"]}
    assert {p.name for p in (tmp_path / "figures").iterdir()} >= {
        "batch_selection_emotions_valid_auc.html", "batch_selection_emotions_C_trend.html"}
    # a second build with the same code reuses the cache; another fingerprint runs again
    def boom(*a, **k):
        raise AssertionError("ran although the cache is current")

    monkeypatch.setattr(report, "run_batch_selection", boom)
    assert report.build(["emotions"], seeds=1, epochs=7, out=tmp_path, fig_format="html").read_text() == md
    monkeypatch.setattr(report, "code_fingerprint", lambda: "0" * 12)
    with pytest.raises(AssertionError, match="ran although"):
        report.build(["emotions"], seeds=1, epochs=7, out=tmp_path, fig_format="html")
