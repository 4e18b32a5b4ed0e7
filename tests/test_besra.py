"""The ``besra`` strategy: expected-score-change ranking, k-means batch, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from mlal_core import bemps
from mlal_core.errors import ConfigError
from mlal_core.strategies import QueryContext, get
from mlal_core.strategies.bemps_family import kmeans_pick, l2_normalise


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


def test_l2_normalise_keeps_zero_rows():
    V = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(l2_normalise(V), [[0.6, 0.8], [0.0, 0.0]])


def test_bad_parameters():
    for kw in ({"alpha": -1}, {"top_fraction": 0}, {"top_fraction": 1.5}, {"n_reference": 0}):
        with pytest.raises(ConfigError):
            get("besra", **kw)
