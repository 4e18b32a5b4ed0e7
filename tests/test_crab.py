"""The ``crab`` strategy: refined pools from A / NegA, Z_t schedules, label attention, ablations."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from mlal_core import bemps
from mlal_core.errors import ConfigError
from mlal_core import correlation
from mlal_core.inspection.round_history import snapshot_from_labels
from mlal_core.strategies import QueryContext, get, info
from mlal_core.strategies.bemps_family import (
    ASYMMETRY_Z,
    asymmetric_drops,
    attention_matrix,
    decay_factor,
    hard_to_learn_size,
    per_label_size,
)

# Labelled set with K = 4. Label 1 only occurs with label 0 (1 implies 0; 0 often occurs alone):
# A[0, 1] = 1, A[1, 0] = 5/14, the only off-diagonal z-score above 1 -> asymmetric pair (0, 1),
# label 0 (implied by 1) dropped at the default asymmetric_keep="implying". Labels 2 and 3 never
# co-occur: NegA[2, 3] = NegA[3, 2] = 1 -> exclusive pair.
Y_LAB = np.array(
    [[1, 1, 0, 0]] * 5
    + [[1, 0, 1, 0]] * 2
    + [[1, 0, 0, 1]] * 2
    + [[1, 0, 0, 0]] * 5
    + [[0, 0, 1, 0]] * 6
    + [[0, 0, 0, 1]] * 6,
    dtype=np.uint8,
)
N_LAB = len(Y_LAB)


def _pool(n_unl=80, seed=0, E=4):
    """Unlabelled rows by design (pseudo labels from pbar):
    rows 0-4: labels 2 and 3 predicted (conflicting); rows 5-14: nothing predicted (hard to learn);
    the rest: one of labels 0, 1, 2, 3 predicted."""
    rng = np.random.default_rng(seed)
    K = 4
    base = np.full((n_unl, K), 0.1)
    base[:5, 2] = base[:5, 3] = 0.8
    base[5:15] = 0.2
    for i in range(15, n_unl):
        base[i, i % K] = 0.8
    P_unl = np.clip(base[None] + rng.normal(0, 0.05, size=(E, n_unl, K)), 0.01, 0.99)
    P_lab = np.clip(Y_LAB[None] * 0.8 + 0.1 + rng.normal(0, 0.02, size=(E, N_LAB, K)), 0.01, 0.99)
    P = np.concatenate([P_lab, P_unl], axis=1)
    lab = np.arange(N_LAB)
    unl = np.arange(N_LAB, N_LAB + n_unl)
    return P, lab, unl


def _ctx(P, lab, unl, seed=1, round=0, total_rounds=10, features=None):
    return QueryContext(
        labeled=lab,
        unlabeled=unl,
        y_labeled=Y_LAB,
        proba_samples=P,
        features=features,
        round=round,
        total_rounds=total_rounds,
        rng=np.random.default_rng(seed),
    )


def test_pools_follow_A_and_NegA():
    P, lab, unl = _pool()
    sel = get("crab", n_reference=20).select(_ctx(P, lab, unl), 5)
    dg = sel.diagnostics
    assert dg["asymmetric_keep"] == "implying"
    assert dg["kept_labels"] == [1, 2, 3]
    assert [(d["label"], d["pairs"]) for d in dg["dropped_labels"]] == [(0, [(0, 1)])]
    assert dg["dropped_labels"][0]["reason"] == "implied by 1 (A[0,1]=1.00 > A[1,0]=0.36)"
    assert [2, 3] in dg["exclusive_pairs"].tolist()
    assert dg["tau"] == pytest.approx(1.0)
    assert dg["conflicting_count"] == 5  # rows 0-4 predict both 2 and 3
    assert dg["hard_to_learn_count"] == 10
    # negative pool (up to n = 5 draws): exactly the 5 conflicting samples
    assert dg["pool_sizes"]["negative"] == 5
    # Z_t at round 0 = Z_0 = n = 5 hard-to-learn samples
    assert dg["Z_t"] == 5 and dg["pool_sizes"]["hard-to-learn"] == 5
    np.testing.assert_allclose(dg["A"][0, 1], 1.0)
    assert set(sel.indices) <= set(dg["refined_pool"])
    pools = dict(zip(sel.details["position"], sel.details["pools"]))
    for pos, text in pools.items():
        assert text  # every pick says where it came from
        if pos - N_LAB < 5:
            assert "negative:2-3" in text
        assert "label-wise:0" not in text  # label 0 was dropped


def test_negative_pool_members_are_the_conflicting_samples():
    P, lab, unl = _pool()
    strat = get("crab", n_reference=10, per_label_size=1, hard_pool=False)
    sel = strat.select(_ctx(P, lab, unl), 8)
    refined = set(sel.diagnostics["refined_pool"] - N_LAB)
    assert set(range(5)) <= refined  # all conflicting samples are in U*
    conf = sel.details[sel.details["conflicting"]]
    assert (conf["label_pairs"] == "2-3").all()


def test_per_label_size_default_scales_to_pool():
    assert per_label_size(43_000, 28) == 100
    assert per_label_size(1000, 10) == 25
    assert per_label_size(3, 10) == 1
    P, lab, unl = _pool()
    sel = get("crab").select(_ctx(P, lab, unl), 3)
    assert sel.diagnostics["per_label_size"] == math.ceil(80 / 16)


@pytest.mark.parametrize(
    "decay,t,T,expected",
    [
        ("polynomial", 0, 10, 100),
        ("polynomial", 2, 10, 64),
        ("polynomial", 5, 10, 25),
        ("polynomial", 10, 10, 0),
        ("linear", 2, 10, 80),
        ("linear", 5, 10, 50),
        ("linear", 10, 10, 0),
        # cosine: 100 * (1 + cos(pi * 0.2)) / 2 = 100 * (1 + 0.809017) / 2 = 90.45 -> 90
        ("cosine", 2, 10, 90),
        ("cosine", 5, 10, 50),
        ("cosine", 10, 10, 0),
        ("polynomial", 12, 10, 0),  # past the plan: nothing
    ],
)
def test_hard_to_learn_schedule(decay, t, T, expected):
    assert hard_to_learn_size(100, t, T, decay) == expected


def test_decay_option_changes_Z_t():
    P, lab, unl = _pool()
    zs = {}
    for decay in ("polynomial", "linear", "cosine"):
        sel = get("crab", decay=decay, hard_size=10, n_reference=5).select(
            _ctx(P, lab, unl, round=5, total_rounds=10), 3
        )
        zs[decay] = sel.diagnostics["Z_t"]
    # Z_0 = 10 at t/T = 1/2: 10 * 0.25 = 2.5 -> 3 (round half up), 10 * 0.5 = 5, 10 * (1 + cos(pi/2))/2 = 5
    assert zs == {"polynomial": 3, "linear": 5, "cosine": 5}
    assert decay_factor(5, 10, "polynomial") == pytest.approx(0.25)


def test_attention_matrix_by_hand():
    A = np.array([[1.0, 0.5, 0.2], [0.4, 1.0, 0.6], [0.1, 0.3, 1.0]])
    # off-diagonal column sums: 0.4 + 0.1 = 0.5, 0.5 + 0.3 = 0.8, 0.2 + 0.6 = 0.8 -> max 0.8;
    # alpha_c = 2 -> denominator 1.6
    Ahat = attention_matrix(A, 2.0)
    expected = np.array([[0.0, 0.3125, 0.125], [0.25, 0.0, 0.375], [0.0625, 0.1875, 0.0]])
    np.testing.assert_allclose(Ahat, expected)
    # dQ = (1, 2, 3): dQ_AB,0 = 1 + 0.25*2 + 0.0625*3 = 1.6875, dQ_AB,1 = 2 + 0.3125 + 0.1875*3 = 2.875,
    # dQ_AB,2 = 3 + 0.125 + 0.375*2 = 3.875; their sum 8.4375 = sum_m w_m dQ_m with
    # w = 1 + row sums = (1.4375, 1.625, 1.25)
    mixed = bemps.mix_labels(np.array([1.0, 2.0, 3.0]), np.eye(3) + Ahat)
    np.testing.assert_allclose(mixed, [1.6875, 2.875, 3.875])
    w = bemps.mixed_label_weights(np.eye(3) + Ahat)
    np.testing.assert_allclose(w, [1.4375, 1.625, 1.25])
    assert float(w @ [1.0, 2.0, 3.0]) == pytest.approx(8.4375)
    np.testing.assert_array_equal(attention_matrix(np.eye(3)), np.zeros((3, 3)))


def test_scores_recompute_with_attention():
    P, lab, unl = _pool()
    strat = get("crab", n_reference=12)
    sel = strat.select(_ctx(P, lab, unl), 4)
    dg = sel.diagnostics
    ref = dg["reference_set"]
    cand = dg["refined_pool"]
    dq = bemps.expected_score_change(P[:, cand, :], P[:, ref, :], 0.1, 3)  # (nC, nR, K)
    expected = bemps.mix_labels(dq, np.eye(4) + dg["Ahat"]).sum(-1).mean(-1)
    rows = np.searchsorted(unl, cand)
    np.testing.assert_allclose(sel.scores[rows], expected, atol=1e-14)
    assert np.isnan(np.delete(sel.scores, rows)).all()
    pick_rows = np.searchsorted(cand, sel.details["position"].to_numpy())
    np.testing.assert_allclose(sel.details["dQ"], dq.sum(-1).mean(-1)[pick_rows], atol=1e-14)


def test_recorded_clusters_equal_an_independent_kmeans_on_U_star():
    # k-means runs on the L2-normalised dQ_AB vectors of U* (refined_pool) over X' (reference_set) with
    # the recorded seed; the record must give that k-means' cluster and distance for every sample of U*.
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    P, lab, unl = _pool(n_unl=120)
    n = 5
    sel = get("crab", n_reference=15).select(_ctx(P, lab, unl, round=2), n)
    d = sel.diagnostics
    pool, ref = d["refined_pool"], d["reference_set"]
    dq = bemps.expected_score_change(P[:, pool, :], P[:, ref, :], 0.1, 3)
    V = bemps.mix_labels(dq, np.eye(4) + d["Ahat"]).sum(-1)  # (|U*|, |X'|) dQ_AB
    X = V / np.linalg.norm(V, axis=1, keepdims=True)
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=n, n_init=1, max_iter=100, random_state=d["kmeans"]["seed"]).fit(X)
    rec = d["clusters"]
    assert len(pool) > 2 * n - 1 and rec["space"].startswith("L2-normalised dQ_AB")
    np.testing.assert_array_equal(rec["positions"], pool)
    np.testing.assert_array_equal(rec["cluster"], km.labels_)
    np.testing.assert_allclose(rec["distance_to_centroid"],
                               np.linalg.norm(X - km.cluster_centers_[km.labels_], axis=1), rtol=1e-5, atol=1e-6)
    at = np.searchsorted(rec["positions"], sel.details["position"].to_numpy())
    np.testing.assert_array_equal(rec["cluster"][at], sel.details["cluster"])
    np.testing.assert_allclose(rec["distance_to_centroid"][at], sel.details["distance_to_centroid"], rtol=1e-6)
    assert set(d["kmeans"]) == {"inertia", "n_iter", "distinct_clusters", "seed"}


# --- step 1, which label of an asymmetric pair is kept (asymmetric_keep) ------------------------

# Label 0 occurs in 10 rows, label 1 only in 4 of them (1 implies 0); labels 2 and 3 occur alone.
# A[0, 1] = 4/4 = 1, A[1, 0] = 4/10 = 0.4, every other off-diagonal entry 0. Over the 12 off-diagonal
# entries mean = 1.4/12, std = 0.288: z(A[0, 1]) = 3.06 > 1, z(A[1, 0]) = 0.98 < 1 -> one pair (0, 1).
Y_PAIR = np.array(
    [[1, 1, 0, 0]] * 4 + [[1, 0, 0, 0]] * 6 + [[0, 0, 1, 0]] * 5 + [[0, 0, 0, 1]] * 5, dtype=np.uint8
)
A_PAIR = np.array(
    [[1, 1, 0, 0],
     [0.4, 1, 0, 0],
     [0, 0, 1, 0],
     [0, 0, 0, 1]]
)
# A chain 2 -> 1 -> 0 (2 subset of 1 subset of 0), labels 3 and 4 alone: label 0 in 8 rows, label 1 in
# 4 of them, label 2 in 2 of those. A[0,1] = A[1,2] = A[0,2] = 1, A[1,0] = 4/8, A[2,1] = 2/4,
# A[2,0] = 2/8; over the 20 off-diagonal entries mean = 0.2125, std = 0.365: z(1) = 2.16, z(0.5) = 0.79
# -> pairs (0, 1), (0, 2), (1, 2). Label 1 implies 0 and is implied by 2.
Y_CHAIN = np.array(
    [[1, 1, 1, 0, 0]] * 2 + [[1, 1, 0, 0, 0]] * 2 + [[1, 0, 0, 0, 0]] * 4
    + [[0, 0, 0, 1, 0]] * 5 + [[0, 0, 0, 0, 1]] * 5,
    dtype=np.uint8,
)


def _ctx_for(Y: np.ndarray, n_unl: int = 60, seed: int = 0) -> QueryContext:
    """A context on labelled set ``Y`` whose pool predicts exactly one label per row (row i: label i % K),
    so every label has candidates for label-wise sampling."""
    rng = np.random.default_rng(seed)
    N, K = Y.shape
    base = np.full((n_unl, K), 0.1)
    base[np.arange(n_unl), np.arange(n_unl) % K] = 0.8
    P_unl = np.clip(base[None] + rng.normal(0, 0.03, size=(4, n_unl, K)), 0.01, 0.99)
    P_lab = np.clip(Y[None] * 0.8 + 0.1 + rng.normal(0, 0.02, size=(4, N, K)), 0.01, 0.99)
    return QueryContext(
        labeled=np.arange(N),
        unlabeled=np.arange(N, N + n_unl),
        y_labeled=Y,
        proba_samples=np.concatenate([P_lab, P_unl], axis=1),
        round=0,
        total_rounds=10,
        rng=np.random.default_rng(seed),
    )


def _drawn_labels(sel) -> set[int]:
    """The labels the label-wise pool drew samples for, from the per-sample sources of U*."""
    col = sel.diagnostics["refined_pool_sources"]["label_wise"]
    return {int(j) for text in col if text for j in text.split(",")}


def test_hand_built_A_and_its_one_asymmetric_pair():
    A = correlation.positive_correlation(Y_PAIR)
    np.testing.assert_allclose(A, A_PAIR)
    assert correlation.asymmetric_pairs(A, z_threshold=ASYMMETRY_Z).tolist() == [[0, 1]]


@pytest.mark.parametrize(
    "keep,kept,dropped,reason",
    [
        ("implying", [1, 2, 3], 0, "implied by 1 (A[0,1]=1.00 > A[1,0]=0.40)"),  # keep the narrower 1
        ("implied", [0, 2, 3], 1, "implies 0 (A[0,1]=1.00 > A[1,0]=0.40)"),  # the earlier reading
        ("all", [0, 1, 2, 3], None, None),
    ],
)
def test_each_reading_drops_its_label_of_the_pair(keep, kept, dropped, reason):
    sel = get("crab", asymmetric_keep=keep, n_reference=5, per_label_size=3).select(_ctx_for(Y_PAIR), 4)
    dg = sel.diagnostics
    assert dg["asymmetric_keep"] == keep
    assert dg["kept_labels"] == kept
    want = [] if dropped is None else [{"label": dropped, "pairs": [(0, 1)], "reason": reason}]
    assert dg["dropped_labels"] == want
    assert dg["dropped_labels_by_reading"][keep] == want
    # the label-wise pool drew for exactly the kept labels (each has 15 predicted candidates)
    assert _drawn_labels(sel) == set(kept)
    assert dg["pool_sizes"]["label-wise"] == 3 * len(kept)


def test_default_keeps_the_rarer_label():
    dg = get("crab", n_reference=5).select(_ctx_for(Y_PAIR), 4).diagnostics
    counts = Y_PAIR.sum(axis=0)
    (d,) = dg["dropped_labels"]
    assert counts[d["label"]] == 10 and all(counts[j] <= 10 for j in dg["kept_labels"])
    assert 1 in dg["kept_labels"]  # the label seen 4 times is sampled


def test_chain_drops_every_label_its_reading_names():
    A = correlation.positive_correlation(Y_CHAIN)
    np.testing.assert_allclose(A[[0, 1, 0], [1, 2, 2]], 1.0)
    np.testing.assert_allclose(A[[1, 2, 2], [0, 1, 0]], [0.5, 0.5, 0.25])
    pairs = correlation.asymmetric_pairs(A, z_threshold=ASYMMETRY_Z)
    assert pairs.tolist() == [[0, 1], [0, 2], [1, 2]]
    ctx = _ctx_for(Y_CHAIN, n_unl=50)
    expect = {
        # "implying": the implied label of every pair goes; 1 is implied by 2, so it goes although it
        # implies 0; only the narrowest label of the chain, 2, is sampled
        "implying": ([2, 3, 4], {0: [(0, 1), (0, 2)], 1: [(1, 2)]}),
        # "implied": the implying label of every pair goes; 1 implies 0, so it goes although 2 implies it
        "implied": ([0, 3, 4], {1: [(0, 1)], 2: [(0, 2), (1, 2)]}),
        "all": ([0, 1, 2, 3, 4], {}),
    }
    for keep, (kept, dropped) in expect.items():
        sel = get("crab", asymmetric_keep=keep, n_reference=5, per_label_size=2).select(ctx, 3)
        dg = sel.diagnostics
        assert dg["kept_labels"] == kept, keep
        assert {d["label"]: d["pairs"] for d in dg["dropped_labels"]} == dropped, keep
        assert _drawn_labels(sel) == set(kept), keep
    by = get("crab", n_reference=5).select(ctx, 3).diagnostics["dropped_labels_by_reading"]
    assert by["implying"][0]["reason"] == (
        "implied by 1 (A[0,1]=1.00 > A[1,0]=0.50); implied by 2 (A[0,2]=1.00 > A[2,0]=0.25)"
    )
    assert by["implied"][1]["reason"] == (
        "implies 0 (A[0,2]=1.00 > A[2,0]=0.25); implies 1 (A[1,2]=1.00 > A[2,1]=0.50)"
    )


def test_asymmetric_drops_label_in_both_roles_without_the_transitive_pair():
    # pairs given directly: 2 implies 1 and 1 implies 0, no pair (0, 2)
    A = np.eye(3)
    pairs = np.array([[0, 1], [1, 2]])
    assert [d["label"] for d in asymmetric_drops(A, pairs, "implying")] == [0, 1]  # 2 kept
    assert [d["label"] for d in asymmetric_drops(A, pairs, "implied")] == [1, 2]  # 0 kept
    assert asymmetric_drops(A, pairs, "all") == []
    assert asymmetric_drops(A, np.empty((0, 2)), "implying") == []
    with pytest.raises(ConfigError, match="asymmetric_keep"):
        asymmetric_drops(A, pairs, "broader")


@pytest.mark.parametrize("Y", [Y_PAIR, Y_CHAIN, Y_LAB], ids=["pair", "chain", "Y_LAB"])
def test_correlation_snapshot_agrees_with_crab_under_every_reading(Y):
    snap = snapshot_from_labels(Y)
    ctx = _ctx_for(Y)
    for keep in ("implying", "implied", "all"):
        dg = get("crab", asymmetric_keep=keep, n_reference=5).select(ctx, 3).diagnostics
        assert snap.dropped_under(keep).tolist() == [d["label"] for d in dg["dropped_labels"]]
    assert snap.dropped_labels.tolist() == snap.dropped_under("implying").tolist()


# --- one test per ablation option -------------------------------------------------------------


def test_ablation_asymmetric_keep_all_keeps_all_labels():
    P, lab, unl = _pool()
    dg = get("crab", asymmetric_keep="all", n_reference=5).select(_ctx(P, lab, unl), 3).diagnostics
    assert dg["kept_labels"] == [0, 1, 2, 3] and dg["dropped_labels"] == []
    assert len(dg["asymmetric_pairs"]) == 1  # still reported
    # and what the other readings would have dropped, from the same A
    by = dg["dropped_labels_by_reading"]
    assert [d["label"] for d in by["implying"]] == [0] and [d["label"] for d in by["implied"]] == [1]
    assert by["all"] == []


def test_the_old_bool_asymmetric_is_gone():
    with pytest.raises(ConfigError, match="asymmetric"):
        get("crab", asymmetric=False)
    (param,) = [p for p in info("crab").params if p.name == "asymmetric_keep"]
    assert param.choices == ("implying", "implied", "all") and param.default == "implying"
    assert not any(p.name == "asymmetric" for p in info("crab").params)


def test_ablation_negative_pool_off():
    P, lab, unl = _pool()
    sel = get("crab", negative_pool=False, n_reference=5).select(_ctx(P, lab, unl), 3)
    assert sel.diagnostics["pool_sizes"]["negative"] == 0
    assert sel.diagnostics["conflicting_count"] == 5  # still counted
    assert not sel.details["pools"].str.contains("negative").any()


def test_ablation_hard_pool_off():
    P, lab, unl = _pool()
    sel = get("crab", hard_pool=False, n_reference=5).select(_ctx(P, lab, unl), 3)
    assert sel.diagnostics["Z_t"] == 0 and sel.diagnostics["pool_sizes"]["hard-to-learn"] == 0
    assert not sel.details["pools"].str.contains("hard-to-learn").any()


def test_ablation_correlation_attention_off_is_plain_sum():
    P, lab, unl = _pool()
    sel = get("crab", correlation_attention=False, n_reference=8).select(_ctx(P, lab, unl), 3)
    np.testing.assert_array_equal(sel.diagnostics["label_weights"], np.ones(4))
    np.testing.assert_allclose(sel.details["dQ"], sel.details["dQ_AB"], atol=1e-15)
    on = get("crab", n_reference=8).select(_ctx(P, lab, unl), 3)
    assert (on.details["dQ_AB"] > on.details["dQ"]).all()  # A has off-diagonal mass


def test_ablation_refined_sampling_cluster_spreads_draws():
    # label-wise draws for label 0 among two tight, far-apart groups of eligible samples:
    # with M = 2, k-means sampling takes one from each group (asymmetric_keep="implied" keeps label 0,
    # which the default drops as implied by label 1)
    P, lab, unl = _pool(n_unl=80)
    feats = np.zeros((P.shape[1], 2))
    rows0 = np.array([i for i in range(15, 80) if i % 4 == 0])  # pseudo label 0
    feats[N_LAB + rows0[: len(rows0) // 2]] = [10.0, 0.0]
    feats[N_LAB + rows0[len(rows0) // 2 :]] = [-10.0, 0.0]
    feats += np.random.default_rng(0).normal(0, 0.01, feats.shape)
    strat = get(
        "crab",
        refined_sampling="cluster",
        asymmetric_keep="implied",
        per_label_size=2,
        negative_pool=False,
        hard_pool=False,
        n_reference=5,
    )
    sel = strat.select(_ctx(P, lab, unl, features=feats), 1)
    assert sel.diagnostics["refined_representation"] == "features"
    masks_rows = [int(p) - N_LAB for p in sel.diagnostics["refined_pool"]]
    drawn0 = [r for r in masks_rows if r in set(rows0)]
    # U* = label-wise draws (2 per kept label) topped up to 2n = 2: the two draws of label 0 are
    # one per group
    sides = {np.sign(feats[N_LAB + r, 0]) for r in drawn0}
    assert sides == {1.0, -1.0}
    rnd = get("crab", per_label_size=2, negative_pool=False, hard_pool=False, n_reference=5).select(
        _ctx(P, lab, unl, features=feats), 1
    )
    assert rnd.diagnostics["refined_representation"] is None


def test_top_up_to_two_n():
    P, lab, unl = _pool()
    sel = get("crab", per_label_size=1, negative_pool=False, hard_pool=False, n_reference=5).select(
        _ctx(P, lab, unl), 10
    )
    ps = sel.diagnostics["pool_sizes"]
    assert ps["union"] == 3  # one per kept label
    assert ps["top-up"] == 17 and ps["refined"] == 20
    assert (sel.details["pools"] != "").all()
    topped = sel.details["pools"].str.contains("top-up")
    assert (sel.details.loc[topped, "labels"] == "").all()


def test_same_seed_same_picks():
    P, lab, unl = _pool()
    a = get("crab").select(_ctx(P, lab, unl, seed=3), 5)
    b = get("crab").select(_ctx(P, lab, unl, seed=3), 5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.diagnostics["reference_set"], b.diagnostics["reference_set"])


def test_no_labelled_data_still_selects():
    P, _, unl = _pool()
    ctx = QueryContext(
        labeled=[], unlabeled=unl, y_labeled=np.zeros((0, 4)), proba_samples=P, rng=np.random.default_rng(0)
    )
    sel = get("crab", n_reference=5).select(ctx, 4)
    assert len(set(sel.indices)) == 4
    np.testing.assert_array_equal(sel.diagnostics["Ahat"], np.zeros((4, 4)))


# --- U*: where every sample comes from -----------------------------------------------------------


def _sources(sel):
    src = sel.diagnostics["refined_pool_sources"]
    np.testing.assert_array_equal(src["position"], sel.diagnostics["refined_pool"])
    return src


def test_refined_pool_sources_follow_the_pool_definitions():
    P, lab, unl = _pool()
    M = 3
    sel = get("crab", per_label_size=M, n_reference=8).select(_ctx(P, lab, unl), 5)
    dg, src = sel.diagnostics, _sources(sel)
    pbar = P[:, src["position"].to_numpy(), :].mean(axis=0)
    ystar = pbar > 0.5
    # label-wise: only kept labels (label 0, implied by 1, is dropped), only rows with ystar_j = 1, at
    # most M per label
    drawn = {j: [] for j in range(4)}
    for i, text in enumerate(src["label_wise"]):
        for j in map(int, filter(None, text.split(","))):
            drawn[j].append(i)
    assert drawn[0] == []
    for j in (1, 2, 3):
        assert 1 <= len(drawn[j]) <= M
        assert ystar[drawn[j], j].all()
    # label 1 has 16 eligible rows in the pool, so M binds: exactly M drawn
    assert len(drawn[1]) == M
    # hard-to-learn (METHODS step 3): max_j pbar_j < 0.5, and exactly Z_t = n = 5 of the 10 eligible
    hard = src["hard_to_learn"].to_numpy()
    assert hard.sum() == dg["Z_t"] == 5 and dg["hard_to_learn_count"] == 10
    assert (pbar[hard].max(axis=1) < 0.5).all()
    # negative: the exclusive pair 2-3 is carried and present in the pseudo labels
    neg = src["negative"].to_numpy()
    assert neg.sum() == dg["pool_sizes"]["negative"] == 5
    assert (src.loc[neg, "negative_pairs"] == "2-3").all()
    assert (ystar[neg][:, [2, 3]]).all()
    assert (src.loc[~neg, "negative_pairs"] == "").all()
    # every sample of U* has a source; top-up only for samples in no other pool
    in_label = (src["label_wise"] != "").to_numpy()
    assert (in_label | neg | hard | src["top_up"].to_numpy()).all()
    assert not (src["top_up"].to_numpy() & (in_label | neg | hard)).any()
    assert src["top_up"].sum() == dg["pool_sizes"]["top-up"]
    # the picks' "pools" text is the row of U* it came from
    by_pos = dict(zip(src["position"], src["pools"]))
    assert [by_pos[p] for p in sel.details["position"]] == list(sel.details["pools"])


def test_refined_pool_sources_record_the_top_up():
    P, lab, unl = _pool()
    sel = get("crab", per_label_size=1, negative_pool=False, hard_pool=False, n_reference=5).select(
        _ctx(P, lab, unl), 10
    )
    src = _sources(sel)
    assert len(src) == 20  # 3 label-wise draws (one per kept label), topped up to 2n = 20
    assert src["top_up"].sum() == 17
    assert (src.loc[src["top_up"], "pools"] == "top-up (random)").all()
    assert not src["negative"].any() and not src["hard_to_learn"].any()


def test_label_dQ_details_list_the_per_label_contributions():
    P, lab, unl = _pool()
    sel = get("crab", n_reference=12).select(_ctx(P, lab, unl), 4)
    dg, d = sel.diagnostics, sel.details
    dq = bemps.expected_score_change(P[:, d["position"].to_numpy(), :], P[:, dg["reference_set"], :], 0.1, 3)
    per_label = dq.mean(axis=1)  # (picks, K)
    np.testing.assert_allclose(d["label_dQ_sum"], d["dQ"], rtol=1e-12)
    weighted = per_label * dg["label_weights"][None, :]
    np.testing.assert_allclose(weighted.sum(axis=1), d["dQ_AB"], rtol=1e-10)  # contributions to the score
    for col, rows in (("label_dQ", per_label), ("label_dQ_AB", weighted)):
        for text, row in zip(d[col], rows):
            entries = [e.split(": ") for e in text.split("; ")]
            labels = [int(j) for j, _ in entries]
            assert labels == list(np.argsort(-row, kind="stable")[:3])
            np.testing.assert_allclose([float(v) for _, v in entries], row[labels], rtol=1e-3)


def test_empty_candidate_set_gives_empty_selection():
    # used to warn "Mean of empty slice" and fail in k-means
    P = _pool(n_unl=10)[0]
    ctx = QueryContext(
        labeled=np.arange(P.shape[1]),
        unlabeled=np.empty(0, int),
        y_labeled=np.vstack([Y_LAB, np.zeros((10, 4), np.uint8)]),
        proba_samples=P,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sel = get("crab").select(ctx, 5)
        assert get("crab").score(ctx).shape == (0,)
    assert len(sel.indices) == 0 and len(sel.details) == 0 and sel.diagnostics["n_candidates"] == 0


def test_one_probability_sample_is_a_config_error():
    P, lab, unl = _pool()
    with pytest.raises(ConfigError, match="at least 2 probability samples"):
        get("crab").select(_ctx(P[:1], lab, unl), 3)
    with pytest.raises(ConfigError, match="mc_passes"):
        get("crab").score(_ctx(P[:1], lab, unl))


def test_choice_text_states_the_defaults():
    choice = info("crab").choice
    assert "min(100, ceil(nU / (4 K)))" in choice  # M
    assert "Z_0 (hard_size) = the query size n" in choice
    assert "refined_sampling='cluster'" in choice and "features" in choice and "pbar" in choice


# --- parameters: stored as given, validated against exactly the registry ranges ---------------

BAD_CRAB = {
    "alpha": [-0.1, 10.5, float("nan"), "0.1", True, None],
    "beta": [-1, 11, float("inf"), "3", None],
    "n_reference": [0, 10_001, 2.5, True, None],
    "alpha_c": [0, 0.001, 101, float("nan"), "2", True, None],
    "per_label_size": [0, -3, 100_001, 2.5, np.float32(3), True, "10"],
    "hard_size": [-1, 100_001, 1.5, True, "5"],
    "asymmetric_keep": ["Implying", "implies", "none", True, False, None, 1, ""],
    "negative_pool": ["no", 1, None],
    "hard_pool": [0, "False", None],
    "correlation_attention": [1.0, "on", None],
    "refined_sampling": ["greedy", "Random", None, 1],
    "decay": ["exp", "Linear", None, 2],
}


@pytest.mark.parametrize("param", sorted(BAD_CRAB))
def test_invalid_parameter_is_a_config_error(param):
    for value in BAD_CRAB[param]:
        with pytest.raises(ConfigError, match=param):
            get("crab", **{param: value})


@pytest.mark.parametrize(
    "param,value",
    [
        ("alpha", np.float32(0.25)),
        ("beta", np.int64(2)),
        ("n_reference", np.int64(9)),
        ("alpha_c", np.float32(1.5)),
        ("per_label_size", np.int64(3)),
        ("hard_size", np.int64(0)),
        ("hard_pool", np.bool_(False)),
    ],
)
def test_numpy_scalars_are_accepted_and_stored_as_given(param, value):
    s = get("crab", **{param: value})
    assert s.get_params()[param] is value
    assert s.clone().get_params()[param] is value
    P, lab, unl = _pool()
    a = get("crab", **{param: value}).select(_ctx(P, lab, unl), 3)
    b = get("crab", **{param: value.item()}).select(_ctx(P, lab, unl), 3)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_registry_ranges_are_what_validation_accepts():
    for p in info("crab").params:
        if p.choices is not None or isinstance(p.default, bool):
            for value in p.choices or (True, False):
                get("crab", **{p.name: value})
            continue
        assert p.low is not None and p.high is not None, p.name
        get("crab", **{p.name: p.low})
        get("crab", **{p.name: p.high})
        integral = isinstance(p.low, int) and isinstance(p.high, int)
        step = 1 if integral else 1e-9
        for outside in (p.low - step, p.high + step):
            with pytest.raises(ConfigError, match=p.name):
                get("crab", **{p.name: outside})


#: every ablation of the paper, one at a time and all together (the defaults are property-tested
#: generically in test_strategy_contract)
ABLATIONS = [
    {"asymmetric_keep": "implied"}, {"asymmetric_keep": "all"},
    {"negative_pool": False}, {"hard_pool": False}, {"correlation_attention": False},
    {"refined_sampling": "cluster"}, {"decay": "linear"}, {"decay": "cosine"},
    {"asymmetric_keep": "all", "negative_pool": False, "hard_pool": False, "correlation_attention": False,
     "refined_sampling": "cluster", "decay": "cosine"},
]


@pytest.mark.parametrize("options", ABLATIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("n,n_unl", [(1, 40), (7, 80), (60, 80), (200, 80)])
def test_every_ablation_keeps_the_strategy_contract(options, n, n_unl):
    """Exactly min(n, pool) unique picks from the unlabelled pool, details per pick, same seed same picks."""
    P, lab, unl = _pool(n_unl=n_unl, seed=n)
    feats = np.random.default_rng(n).normal(size=(P.shape[1], 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" or k-means warnings either
        a = get("crab", **options).select(_ctx(P, lab, unl, seed=n, round=3, features=feats), n)
        b = get("crab", **options).select(_ctx(P, lab, unl, seed=n, round=3, features=feats), n)
    want = min(n, n_unl)
    assert len(a.indices) == want and len(np.unique(a.indices)) == want
    assert np.isin(a.indices, unl).all()
    assert a.details["position"].tolist() == a.indices.tolist()
    assert a.indices.tolist() == b.indices.tolist()
