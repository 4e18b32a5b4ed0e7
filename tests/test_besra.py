"""The ``besra`` strategy: expected-score-change ranking, k-means batch, reproducibility."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlal_core import bemps
from mlal_core.errors import ConfigError
from mlal_core.strategies import QueryContext, get, info
from mlal_core.strategies.bemps_family import cluster_record, kmeans_pick, l2_normalise


def _pool(seed=0, N=60, K=3, E=5, n_lab=6):
    rng = np.random.default_rng(seed)
    base = rng.beta(0.5, 2.0, size=(N, K))
    P = np.clip(base[None] + rng.normal(0, 0.08, size=(E, N, K)), 0.001, 0.999)
    lab = np.arange(n_lab)
    Y = (rng.random((n_lab, K)) < 0.4).astype(np.uint8)
    return P, lab, np.arange(n_lab, N), Y


def _ctx(P, lab, unl, Y, seed=1):
    return QueryContext(
        labeled=lab, unlabeled=unl, y_labeled=Y, proba_samples=P, rng=np.random.default_rng(seed)
    )


def test_picks_disagreement_over_agreement():
    # 30 samples, 2 labels, 5 members. Samples 0-9: members disagree on label 0; 10-29 agree.
    E, N = 5, 30
    P = np.full((E, N, 2), 0.3)
    P[:, :10, 0] = np.array([0.1, 0.9, 0.5, 0.2, 0.8])[:, None]
    ctx = QueryContext(
        labeled=[],
        unlabeled=np.arange(N),
        y_labeled=np.zeros((0, 2)),
        proba_samples=P,
        rng=np.random.default_rng(0),
    )
    strat = get("besra", n_reference=30)
    score = strat.score(ctx)
    assert score[:10].min() > 1e-3
    np.testing.assert_allclose(score[10:], 0.0, atol=1e-12)
    ctx.rng = np.random.default_rng(0)
    sel = strat.select(ctx, 1)
    assert sel.indices[0] < 10


def test_selection_shape_details_and_diagnostics():
    P, lab, unl, Y = _pool()
    sel = get("besra", n_reference=20).select(_ctx(P, lab, unl, Y), 5)
    assert len(sel.indices) == 5 and len(set(sel.indices)) == 5
    assert set(sel.indices) <= set(unl)
    assert sel.scores.shape == (len(unl),)
    d = sel.details
    for col in (
        "position",
        "pick",
        "score",
        "reason",
        "rank",
        "cluster",
        "distance_to_centroid",
        "top_label",
    ):
        assert col in d.columns
    assert list(d["position"]) == list(sel.indices)
    assert (d["score"].diff().dropna() <= 0).all()  # listed by score
    # every pick is within the top 50 % by score
    assert d["rank"].max() <= int(np.ceil(0.5 * len(unl)))
    assert sorted(d["cluster"]) == list(range(5))
    ref = sel.diagnostics["reference_set"]
    assert len(ref) == 20 and set(ref) <= set(unl)


def test_scores_recompute_from_reference_set():
    P, lab, unl, Y = _pool()
    sel = get("besra", n_reference=15).select(_ctx(P, lab, unl, Y), 4)
    ref = sel.diagnostics["reference_set"]
    dq = bemps.expected_score_change(P[:, unl, :], P[:, ref, :], 0.1, 3)
    np.testing.assert_allclose(sel.scores, dq.sum(-1).mean(-1), atol=1e-14)


def test_same_seed_same_picks_and_reference_set():
    P, lab, unl, Y = _pool()
    a = get("besra").select(_ctx(P, lab, unl, Y, seed=7), 6)
    b = get("besra").select(_ctx(P, lab, unl, Y, seed=7), 6)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.diagnostics["reference_set"], b.diagnostics["reference_set"])


def test_top_fraction_limits_clustered_candidates():
    P, lab, unl, Y = _pool()
    sel = get("besra", top_fraction=0.1).select(_ctx(P, lab, unl, Y), 3)
    assert sel.diagnostics["n_clustered"] == int(np.ceil(0.1 * len(unl)))
    assert sel.details["rank"].max() <= sel.diagnostics["n_clustered"]


def test_whole_pool_when_n_equals_pool():
    P, lab, unl, Y = _pool(N=12)
    sel = get("besra").select(_ctx(P, lab, unl, Y), len(unl))
    assert sorted(sel.indices) == sorted(unl)


def test_kmeans_pick_no_duplicates_when_centroids_share_nearest():
    # 3 distinct points, repeated: k-means with 4 clusters finds only 3 distinct centroids,
    # and the 4th centroid must take its next nearest unused row.
    X = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3 + [[-1.0, 0.0]] * 3)
    rows, cluster, _, info = kmeans_pick(X, 4, seed=0)
    assert len(set(rows)) == 4
    assert info["distinct_clusters"] <= 4
    # the distinct row per centroid: every cluster id once
    assert sorted(cluster) == [0, 1, 2, 3]


def _independent_kmeans(X: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's KMeans as the strategies fit it (k-means++, 1 restart, 100 iterations, one thread):
    every row's cluster and its Euclidean distance to that centroid."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=n, n_init=1, max_iter=100, random_state=seed).fit(X)
    return km.labels_, np.linalg.norm(X - km.cluster_centers_[km.labels_], axis=1)


def test_recorded_clusters_equal_an_independent_kmeans():
    # BESRA draws X' and then the k-means seed from ctx.rng; the clustered vectors are the L2-normalised
    # dQ rows of the top half by score. Redo all of it by hand and compare with diagnostics["clusters"].
    P, lab, unl, Y = _pool(N=90)
    n, n_ref = 6, 25
    sel = get("besra", n_reference=n_ref).select(_ctx(P, lab, unl, Y, seed=3), n)
    rng = np.random.default_rng(3)
    ref = unl[rng.choice(len(unl), size=n_ref, replace=False)]
    seed = int(rng.integers(0, 2**31 - 1))
    d = sel.diagnostics
    np.testing.assert_array_equal(d["reference_set"], ref)
    assert d["kmeans"]["seed"] == seed and "labels" not in d["kmeans"]
    V = bemps.expected_score_change(P[:, unl, :], P[:, ref, :], 0.1, 3).sum(-1)  # (nU, nR)
    top = np.argsort(-V.mean(axis=1), kind="stable")[: int(np.ceil(0.5 * len(unl)))]
    X = V[top] / np.linalg.norm(V[top], axis=1, keepdims=True)
    labels, dist = _independent_kmeans(X, n, seed)
    rec = d["clusters"]
    order = np.argsort(unl[top])
    np.testing.assert_array_equal(rec["positions"], unl[top][order])
    np.testing.assert_array_equal(rec["cluster"], labels[order])
    np.testing.assert_allclose(rec["distance_to_centroid"], dist[order], rtol=1e-5, atol=1e-6)
    assert (rec["positions"].dtype, rec["cluster"].dtype, rec["distance_to_centroid"].dtype) == (
        np.int32, np.int16, np.float32)
    # each pick is recorded in its cluster, at the distance the details give
    at = np.searchsorted(rec["positions"], sel.details["position"].to_numpy())
    np.testing.assert_array_equal(rec["cluster"][at], sel.details["cluster"])
    np.testing.assert_allclose(rec["distance_to_centroid"][at], sel.details["distance_to_centroid"], rtol=1e-6)


def test_cluster_record_by_hand():
    info = {"inertia": 1.5, "n_iter": 2, "distinct_clusters": 2, "seed": 9,
            "labels": np.array([1, 0, 1]), "distances": np.array([0.5, 0.25, 0.125])}
    facts, rec = cluster_record(np.array([30, 10, 20]), info, "some space")
    assert facts == {"inertia": 1.5, "n_iter": 2, "distinct_clusters": 2, "seed": 9}
    assert rec["positions"].tolist() == [10, 20, 30] and rec["cluster"].tolist() == [0, 1, 1]
    assert rec["distance_to_centroid"].tolist() == [0.25, 0.125, 0.5] and rec["space"] == "some space"
    with pytest.raises(ValueError, match="one position per clustered row"):
        cluster_record(np.array([1, 2]), info, "")
    # with at least as many clusters as rows every row is its own cluster, at distance 0
    _, _, _, every = kmeans_pick(np.eye(3), 5, seed=0)
    assert every["labels"].tolist() == [0, 1, 2] and every["distances"].tolist() == [0, 0, 0]


def test_l2_normalise_keeps_zero_rows():
    V = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(l2_normalise(V), [[0.6, 0.8], [0.0, 0.0]])


def test_empty_candidate_set_gives_empty_selection():
    # used to divide by the number of candidates (ZeroDivisionError)
    P = _pool(N=20)[0]
    ctx = QueryContext(
        labeled=np.arange(20), unlabeled=np.empty(0, int), y_labeled=np.zeros((20, 3)), proba_samples=P
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sel = get("besra").select(ctx, 5)
        assert get("besra").score(ctx).shape == (0,)
    assert len(sel.indices) == 0 and len(sel.details) == 0 and sel.scores.shape == (0,)
    assert sel.diagnostics["n_candidates"] == 0


def test_one_probability_sample_is_a_config_error():
    # with S = 1, dQ is ~1e-17 rounding noise that the L2 normalisation would blow up to unit vectors
    P, lab, unl, Y = _pool()
    ctx = _ctx(P[:1], lab, unl, Y)
    with pytest.raises(ConfigError, match="at least 2 probability samples"):
        get("besra").select(ctx, 3)
    with pytest.raises(ConfigError, match="mc_passes"):
        get("besra").score(ctx)


def test_label_dQ_details_list_the_per_label_contributions():
    P, lab, unl, Y = _pool(K=4)
    sel = get("besra", n_reference=15).select(_ctx(P, lab, unl, Y), 4)
    ref = sel.diagnostics["reference_set"]
    d = sel.details
    dq = bemps.expected_score_change(P[:, d["position"].to_numpy(), :], P[:, ref, :], 0.1, 3)
    per_label = dq.mean(axis=1)  # (picks, K): mean over X' of dQ_j
    np.testing.assert_allclose(d["label_dQ_sum"], per_label.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(d["label_dQ_sum"], d["score"], rtol=1e-12)  # they sum to the score
    for text, row in zip(d["label_dQ"], per_label):
        entries = [e.split(": ") for e in text.split("; ")]
        labels = [int(j) for j, _ in entries]
        assert labels == list(np.argsort(-row, kind="stable")[:3])  # the 3 largest, largest first
        np.testing.assert_allclose([float(v) for _, v in entries], row[labels], rtol=1e-3)
    assert (d["top_label"] == [int(t.split(":")[0]) for t in d["label_dQ"]]).all()


# --- parameters: stored as given, validated against exactly the registry ranges ---------------

BAD_BESRA = {
    "alpha": [-0.1, 10.5, float("nan"), float("inf"), "0.1", True, None],
    "beta": [-1, 10.01, float("nan"), "3", False, None],
    "n_reference": [0, 10_001, 2.5, np.float64(50.0), True, "100", None],
    "top_fraction": [0, 0.0, 0.005, 1.5, -0.5, float("nan"), "0.5", True, None],
}


@pytest.mark.parametrize("param", sorted(BAD_BESRA))
def test_invalid_parameter_is_a_config_error(param):
    for value in BAD_BESRA[param]:
        with pytest.raises(ConfigError, match=param):
            get("besra", **{param: value})


@pytest.mark.parametrize(
    "param,value",
    [
        ("alpha", np.float32(0.5)),
        ("beta", np.int64(2)),
        ("n_reference", np.int64(7)),
        ("top_fraction", np.float32(0.5)),
    ],
)
def test_numpy_scalars_are_accepted_and_stored_as_given(param, value):
    s = get("besra", **{param: value})
    assert s.get_params()[param] is value
    assert s.clone().get_params()[param] is value
    # and select exactly as the same Python number does
    P, lab, unl, Y = _pool()
    a = get("besra", **{param: value}).select(_ctx(P, lab, unl, Y), 3)
    b = get("besra", **{param: value.item()}).select(_ctx(P, lab, unl, Y), 3)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_registry_ranges_are_what_validation_accepts():
    for p in info("besra").params:
        assert p.low is not None and p.high is not None
        get("besra", **{p.name: p.low})
        get("besra", **{p.name: p.high})
        step = 1 if isinstance(p.default, int) else 1e-9
        for outside in (p.low - step, p.high + step):
            with pytest.raises(ConfigError, match=p.name):
                get("besra", **{p.name: outside})
    top_fraction = next(p for p in info("besra").params if p.name == "top_fraction")
    assert top_fraction.low > 0  # a fraction of 0 would cluster nothing: never offered
