"""Initial-set strategies (issue 19 item 2): random, per_label (simulation only), representative
(k-means) and diverse (k-center greedy), their wiring into the session, the experiment grid, the CLI,
the Home page and the report's "How to start" section."""

from __future__ import annotations

import math
import types

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import FAST_MODEL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlal_core.errors import ConfigError
from mlal_core.experiments import ExperimentConfig, initialisation_study
from mlal_core.experiments.planner import run_key
from mlal_core.session.config import INITIAL_METHOD_HELP, INITIAL_METHODS, SessionConfig
from mlal_core.session.initial import (
    INITIAL_STREAM,
    choose_initial,
    diverse_rows,
    initial_feature_space,
    representative_rows,
)
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore

# Six points in the plane (x right, y up):
#
#   8 |                 P4 (5,8)
#     |
#   2 |                                 P3 (10,2)
#   0 P0 (0,0)  P1 (1,0)     P5 (4,0)   P2 (10,0)
#     +----------------------------------------------
PLANE = np.array([[0, 0], [1, 0], [10, 0], [10, 2], [5, 8], [4, 0]], dtype=float)


def _seed_whose_first_draw_is(row: int, n: int = 6) -> int:
    """A seed whose initial-set rng draws ``row`` first (k-center's first centre is that draw)."""
    return next(s for s in range(1000) if int(np.random.default_rng([s, INITIAL_STREAM]).choice(np.arange(n))) == row)


# ------------------------------------------------------------------------------------ k-center greedy
def test_diverse_is_k_center_greedy_on_six_points_in_a_plane():
    Y = np.zeros((6, 2), dtype=np.uint8)
    # First centre P0. Distances to P0: P1 1, P2 10, P3 sqrt(104) = 10.20, P4 sqrt(89) = 9.43, P5 4 -> P3.
    # To {P0, P3}: P1 1, P2 2, P4 min(9.43, sqrt(25 + 36) = 7.81) = 7.81, P5 min(4, sqrt(36 + 4)) = 4 -> P4.
    # To {P0, P3, P4}: P1 1, P2 2, P5 min(4, 6.32, sqrt(1 + 64)) = 4 -> P5.
    # To {P0, P3, P4, P5}: P1 min(1, 3) = 1, P2 min(2, 6) = 2 -> P2; then P1.
    seed = _seed_whose_first_draw_is(0)
    assert choose_initial(Y, 6, "diverse", seed, features=PLANE).tolist() == [0, 3, 4, 5, 2, 1]
    assert choose_initial(Y, 3, "diverse", seed, features=PLANE).tolist() == [0, 3, 4]
    # First centre P2. To P2: P0 10, P1 9, P3 2, P4 sqrt(25 + 64) = 9.43, P5 6 -> P0.
    # To {P2, P0}: P1 1, P3 2, P4 min(9.43, 9.43) = 9.43, P5 min(6, 4) = 4 -> P4.
    # To {P2, P0, P4}: P1 1, P3 min(2, 7.81) = 2, P5 min(4, 8.06) = 4 -> P5; then P3 (2), then P1 (1).
    seed = _seed_whose_first_draw_is(2)
    assert choose_initial(Y, 6, "diverse", seed, features=PLANE).tolist() == [2, 0, 4, 5, 3, 1]


def test_diverse_reuses_the_core_set_code():
    from mlal_core.strategies.diversity import kcenter_greedy

    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    X = np.random.default_rng(1).standard_normal((40, 3))
    expected, _, _, _ = kcenter_greedy(X, np.full(40, np.inf), 7, rng_a)
    assert diverse_rows(X, 7, rng_b).tolist() == expected.tolist()


def test_diverse_with_duplicate_rows_still_gives_distinct_rows():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 3, axis=0)  # rows 0-2 at (0,0), 3-5 at (5,5)
    picks = diverse_rows(X, 6, np.random.default_rng(0))
    assert sorted(picks.tolist()) == list(range(6))
    # after one row of each location every distance is 0: the untaken rows follow in position order
    first_two = set(picks[:2].tolist())
    assert len({0, 1, 2} & first_two) == 1 and len({3, 4, 5} & first_two) == 1
    rest = picks[2:].tolist()
    assert rest == sorted(rest)


# ------------------------------------------------------------------------------------ k-means representative
def _blobs() -> tuple[np.ndarray, list[int]]:
    """Four blobs of 9 points around (0,0), (100,0), (0,100), (100,100): offsets 0, (+-1, 0), (0, +-1),
    (+-2, +-2); each blob's mean is its centre, whose nearest point is the offset-0 point."""
    offsets = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 2), (2, -2), (-2, 2), (-2, -2)]
    centres = [(0, 0), (100, 0), (0, 100), (100, 100)]
    X = np.array([[cx + dx, cy + dy] for cx, cy in centres for dx, dy in offsets], dtype=float)
    perm = np.random.default_rng(7).permutation(len(X))  # shuffle so positions carry no hint
    X = X[perm]
    centre_rows = [int(np.flatnonzero(perm == b * len(offsets))[0]) for b in range(len(centres))]
    return X, centre_rows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_representative_picks_each_blob_centre_once(seed):
    X, centre_rows = _blobs()
    picks = choose_initial(np.zeros((len(X), 1)), 4, "representative", seed, features=X)
    assert sorted(picks.tolist()) == sorted(centre_rows)


def test_representative_resolves_shared_nearest_rows_deterministically():
    # 3 distinct locations, 5 centres: k-means finds at most 3 distinct centres; the extra centres take
    # their nearest untaken rows, so 5 distinct rows come back, the same every time
    X = np.repeat(np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]), [4, 3, 2], axis=0)
    a = representative_rows(X, 5, seed=0)
    assert len(set(a.tolist())) == 5
    np.testing.assert_array_equal(a, representative_rows(X, 5, seed=0))
    # every location is represented
    assert {tuple(X[i]) for i in a} == {(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)}


@pytest.mark.slow
def test_representative_records_its_kmeans_parameters(small_datasets):
    ds = small_datasets["yeast_small"]
    cfg = SessionConfig(model_params=dict(FAST_MODEL), initial_size=12, rounds=0, seed=3,
                        initial_method="representative")
    s = ActiveLearningSession(cfg, dataset=ds)
    p = s.config.initial_params
    assert p["n_init"] == 1 and p["random_state"] == 3 and p["svd_components"] is None
    assert "standardised features" in p["features"]
    expected = representative_rows(np.asarray(s.features.train), 12, 3, n_init=1)
    np.testing.assert_array_equal(s.labeled, expected)
    # n_init is an input
    s2 = ActiveLearningSession(SessionConfig(**{**cfg.to_dict(), "initial_params": {"n_init": 3}}), dataset=ds)
    assert s2.config.initial_params["n_init"] == 3


# ------------------------------------------------------------------------------------ random and per_label unchanged
def test_random_is_the_seeded_draw_it_always_was():
    Y = np.zeros((50, 3))
    expected = np.random.default_rng([4, 1_000_003]).choice(50, size=7, replace=False)
    np.testing.assert_array_equal(choose_initial(Y, 7, "random", 4), expected)
    np.testing.assert_array_equal(choose_initial(Y, 7, seed=4), expected)  # the default method


def test_per_label_covers_the_rarest_label_first():
    # label 2 occurs once (row 4), label 0 twice, label 1 in every row
    Y = np.array([[1, 1, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 1, 0]])
    picks = choose_initial(Y, 2, "per_label", 0)
    assert picks[0] == 4  # the one row with label 2
    assert Y[picks[1], 0] == 1  # then label 0 (label 1 is covered by row 4)
    assert set(INITIAL_METHOD_HELP) == set(INITIAL_METHODS)
    assert "simulation only" in INITIAL_METHOD_HELP["per_label"]


# ------------------------------------------------------------------------------------ properties
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 30), d=st.integers(1, 4), size=st.integers(1, 40), seed=st.integers(0, 2**31),
       method=st.sampled_from(INITIAL_METHODS), data=st.data())
def test_every_method_gives_min_size_pool_distinct_in_range_rows(n, d, size, seed, method, data):
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, size=(n, d)).astype(float)  # small integers: many duplicate rows
    Y = data.draw(st.lists(st.lists(st.integers(0, 1), min_size=3, max_size=3), min_size=n, max_size=n))
    picks = choose_initial(np.array(Y), size, method, seed, features=X)
    assert picks.dtype == np.int64
    assert len(picks) == min(size, n) == len(set(picks.tolist()))
    assert picks.min() >= 0 and picks.max() < n
    if size >= n:  # the whole pool
        assert sorted(picks.tolist()) == list(range(n))
    np.testing.assert_array_equal(picks, choose_initial(np.array(Y), size, method, seed, features=X))


def test_the_seed_changes_the_feature_based_sets():
    X = np.random.default_rng(0).standard_normal((200, 5))
    Y = np.zeros((200, 2))
    for method in ("representative", "diverse"):
        a = choose_initial(Y, 10, method, 0, features=X)
        np.testing.assert_array_equal(a, choose_initial(Y, 10, method, 0, features=X))
        assert set(a.tolist()) != set(choose_initial(Y, 10, method, 1, features=X).tolist())


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("method", ["representative", "diverse"])
def test_feature_methods_without_usable_features_say_what_to_pass(method):
    Y = np.zeros((10, 2))
    with pytest.raises(ConfigError, match="features="):
        choose_initial(Y, 3, method, 0)
    with pytest.raises(ConfigError, match=r"one row per pool sample, \(10, d\)"):
        choose_initial(Y, 3, method, 0, features=np.zeros((9, 2)))
    with pytest.raises(ConfigError, match="dense"):
        choose_initial(Y, 3, method, 0, features=sp.csr_matrix(np.eye(10)))
    with pytest.raises(ConfigError, match="NaN"):
        choose_initial(Y, 3, method, 0, features=np.full((10, 2), np.nan))


def test_bad_sizes_and_methods_are_refused():
    Y = np.zeros((10, 2))
    with pytest.raises(ConfigError, match="at least 1"):
        choose_initial(Y, 0, "random", 0)
    with pytest.raises(ConfigError, match="initial method"):
        choose_initial(Y, 3, "kmedoids", 0)


@pytest.mark.parametrize("fields, message", [
    ({"initial_method": "random", "initial_params": {"n_init": 2}}, "takes none"),
    ({"initial_method": "diverse", "initial_params": {"n_init": 2}}, "representative"),
    ({"initial_method": "representative", "initial_params": {"n_init": 0}}, r"\[1, 100\]"),
    ({"initial_method": "representative", "initial_params": {"clusters": 4}}, "Unknown initial_params"),
    ({"initial_method": "representative", "initial_params": []}, "must be a dict"),
])
def test_initial_params_are_checked(fields, message):
    with pytest.raises(ConfigError, match=message):
        SessionConfig(**fields).validate()


def test_a_recorded_parameter_that_disagrees_is_an_error(small_datasets):
    cfg = SessionConfig(model_params=dict(FAST_MODEL), initial_size=5, rounds=0, seed=2,
                        initial_method="representative", initial_params={"random_state": 7})
    with pytest.raises(ConfigError, match="random_state"):
        ActiveLearningSession(cfg, dataset=small_datasets["yeast_small"])


# ------------------------------------------------------------------------------------ features
@pytest.mark.slow
def test_tfidf_sessions_choose_on_a_seeded_svd_of_their_features(small_datasets):
    ds = small_datasets["reuters_small"]
    cfg = SessionConfig(model_params=dict(FAST_MODEL), representation="tfidf", initial_size=8, rounds=0,
                        initial_method="diverse")
    s = ActiveLearningSession(cfg, dataset=ds)
    p = s.config.initial_params
    assert p["svd_components"] == 128 and "TF-IDF" in p["features"] and "seeded" in p["first_centre"]
    X, space = initial_feature_space(s)
    assert X.shape == (len(ds.train), 128) and space["svd_components"] == 128
    np.testing.assert_array_equal(s.labeled, diverse_rows(X, 8, np.random.default_rng([0, INITIAL_STREAM])))


@pytest.mark.slow
def test_token_sessions_choose_on_tfidf_of_the_pool_texts(small_datasets):
    ds = small_datasets["reuters_small"]
    fake = types.SimpleNamespace(config=SessionConfig(seed=1), representation="tokens", dataset=ds)
    X, space = initial_feature_space(fake)  # never reads token ids
    assert X.shape == (len(ds.train), 128) and "TF-IDF of the pool texts" in space["features"]
    no_texts = types.SimpleNamespace(config=SessionConfig(), representation="tokens",
                                     dataset=types.SimpleNamespace(train=types.SimpleNamespace(texts=None), name="x"))
    with pytest.raises(ConfigError, match="no texts"):
        initial_feature_space(no_texts)


# ------------------------------------------------------------------------------------ recorded with the session
def test_the_method_and_its_parameters_are_stored_and_reopened(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    cfg = SessionConfig(model_params=dict(FAST_MODEL), initial_size=10, rounds=0, seed=5, initial_method="diverse")
    s = ActiveLearningSession(cfg, dataset=ds, store=store)
    stored, initial, _ = store.load_session(s.session_id)
    assert stored.initial_method == "diverse" and stored.initial_params == s.config.initial_params
    assert stored.initial_params["algorithm"].startswith("k-center greedy")
    np.testing.assert_array_equal(initial["positions"], s.labeled)
    again = ActiveLearningSession.resume(store, s.session_id, dataset=ds)
    np.testing.assert_array_equal(again.labeled, s.labeled)
    assert again.config.initial_params == s.config.initial_params


# ------------------------------------------------------------------------------------ experiment grid
def _grid(**kw) -> ExperimentConfig:
    base = {"name": "init", "datasets": ["yeast"], "strategies": ["random", "entropy", "coreset"], "seeds": 2,
            "initial_size": 20, "query_size": 10, "rounds": 1, "reference": False}
    return ExperimentConfig.from_dict({**base, **kw})


def test_initial_method_is_a_grid_axis_and_random_run_keys_do_not_change():
    # the key of this config as computed before initial_params existed (HEAD of this issue)
    cfg = SessionConfig(dataset="yeast", model_params={"n_members": 2, "mc_passes": 0}, strategy="random",
                        initial_size=30, query_size=20, rounds=3, seed=1)
    assert run_key(cfg, "abc123") == "0199daac4d8fa8ba"
    assert run_key(SessionConfig(**{**cfg.to_dict(), "initial_method": "per_label"}), "abc123") == "bf86b32855533bc1"
    one = _grid().plan()
    axis = _grid(initial_method=["random", "representative", "diverse"]).plan()
    assert len(axis.runs) == 3 * len(one.runs)
    random_runs = {r.key: r for r in axis.runs if r.initial_method == "random"}
    assert set(random_runs) == {r.key for r in one.runs}  # stored random runs are still found
    assert {r.setting for r in random_runs.values()} == {"yeast"}
    assert {r.setting for r in axis.runs if r.initial_method == "diverse"} == {"yeast (initial_method=diverse)"}
    assert len({r.key for r in axis.runs}) == len(axis.runs)


def test_initial_method_strategies_limit_the_study():
    plan = _grid(initial_method=["random", "diverse"], initial_method_strategies=["random", "coreset"]).plan()
    diverse = sorted({r.strategy for r in plan.runs if r.initial_method == "diverse"})
    assert diverse == ["coreset", "random"] and len(plan.runs) == 3 * 2 + 2 * 2
    per_dataset = _grid(datasets=[{"name": "yeast", "initial_method": "representative"}]).plan()
    assert {r.config.initial_method for r in per_dataset.runs} == {"representative"}


@pytest.mark.parametrize("fields, message", [
    ({"initial_method": ["random", "kmeans"]}, "initial_method' must be one of"),
    ({"initial_method": []}, "initial_method' must be one of"),
    ({"initial_method": ["random", "random"]}, "repeated"),
    ({"initial_method_strategies": ["bald"]}, "not strategy labels"),
    ({"datasets": [{"name": "yeast", "initial_method": ["diverse", "x"]}]}, r"datasets\[0\].initial_method must"),
])
def test_bad_initial_method_axes_are_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        _grid(**fields)


def test_the_reproduction_config_has_a_small_initialisation_study():
    from mlal_core.experiments import load_config

    cfg = load_config("experiments/reproduction.yaml")
    assert cfg.initial_method == ["random", "representative", "diverse"]
    assert cfg.initial_method_strategies == ["random", "entropy", "coreset", "crab"]


def test_the_cli_offers_every_method_and_says_per_label_is_simulation_only():
    from mlal_core.cli import build_parser

    parser = build_parser()
    run = next(a for a in parser._subparsers._group_actions[0].choices["run"]._actions
               if "--initial-method" in a.option_strings)
    assert tuple(run.choices) == INITIAL_METHODS and "simulation only" in run.help


# ------------------------------------------------------------------------------------ the report's study
def _synthetic_per_run() -> pd.DataFrame:
    """Two datasets x one strategy x 4 seeds; diverse = random + (0.02, 0.03, 0.01, 0.02) on A and
    random - 0.01 on every seed of B (constant); representative = random + 0 on A."""
    rows = []
    base = {"A": [0.50, 0.52, 0.48, 0.51], "B": [0.30, 0.31, 0.29, 0.30]}
    for ds, vals in base.items():
        for seed, v in enumerate(vals):
            rows.append((ds, "entropy", "random", seed, "micro_f1", v))
            d = [0.02, 0.03, 0.01, 0.02][seed] if ds == "A" else -0.01
            rows.append((ds, "entropy", "diverse", seed, "micro_f1", v + d))
            if ds == "A":
                rows.append((ds, "entropy", "representative", seed, "micro_f1", v))
    return pd.DataFrame(rows, columns=["dataset", "strategy", "initial_method", "seed", "metric", "aulc"])


def test_initialisation_effects_on_a_synthetic_results_table():
    from scipy import stats

    eff = initialisation_study.initialisation_effects(_synthetic_per_run(), test="t", alpha=0.05)
    row = eff.set_index(["initial_method", "dataset"])
    a = row.loc[("diverse", "A")]
    assert a["n"] == 4 and math.isclose(a["mean_diff"], 0.02, abs_tol=1e-12)  # (0.02+0.03+0.01+0.02) / 4
    assert math.isclose(a["mean_b"], 0.5025, abs_tol=1e-12) and math.isclose(a["mean_a"], 0.5225, abs_tol=1e-12)
    # differences 0.02, 0.03, 0.01, 0.02: sd = sqrt(0.0002 / 3), t = 0.02 / (sd / 2) = 4.899, df 3
    p = 2 * stats.t.sf(0.02 / (math.sqrt(0.0002 / 3) / 2), 3)
    assert math.isclose(a["p"], p, rel_tol=1e-9)
    # B's differences are constant: the t-test is undefined (NaN), so the family holds one p-value
    b = row.loc[("diverse", "B")]
    assert math.isclose(b["mean_diff"], -0.01, abs_tol=1e-12) and np.isnan(b["p"])
    assert a["family_size"] == 1 and math.isclose(a["p_adj"], p, rel_tol=1e-9)
    assert 0.016 < p < 0.017  # two-sided t(3) at 4.899
    assert a["outcome"] == "better" and b["outcome"] == "n.s."
    rep = row.loc[("representative", "A")]
    assert rep["mean_diff"] == 0 and rep["outcome"] == "n.s."
    verdicts = initialisation_study.initialisation_verdicts(eff).set_index("initial_method")
    assert verdicts.loc["diverse", "verdict"] == "partly"  # better on A, not on B, worse nowhere
    assert verdicts.loc["representative", "verdict"] == "does not hold"
    md = initialisation_study.initialisation_markdown(eff)
    assert "## How to start" in md and "+0.020" in md and "diverse" in md


def test_spreads_are_over_the_paired_seeds_as_the_means_are():
    per_run = _synthetic_per_run()
    # drop the diverse runs of seeds 2 and 3 on A: the pair has seeds 0 and 1 only
    gone = (per_run["dataset"] == "A") & (per_run["initial_method"] == "diverse") & (per_run["seed"] >= 2)
    eff = initialisation_study.initialisation_effects(per_run[~gone], test="t").set_index(["initial_method", "dataset"])
    a = eff.loc[("diverse", "A")]
    assert a["n"] == 2 and math.isclose(a["mean_b"], 0.51, abs_tol=1e-12)  # random's seeds 0 and 1: 0.50, 0.52
    assert math.isclose(a["std_b"], math.sqrt(2) * 0.01, rel_tol=1e-9)      # not the 4-seed spread (0.0171)
    assert math.isclose(a["std_a"], math.sqrt(2) * 0.015, rel_tol=1e-9)     # 0.52, 0.55
    one = per_run[~((per_run["dataset"] == "A") & (per_run["initial_method"] == "diverse") & (per_run["seed"] >= 1))]
    a1 = initialisation_study.initialisation_effects(one, test="t").set_index(["initial_method", "dataset"])
    assert np.isnan(a1.loc[("diverse", "A"), "std_b"])                      # one paired seed: no spread


def test_two_p_values_in_a_family_are_holm_adjusted():
    per_run = _synthetic_per_run()
    # make B's differences vary: -0.01, -0.02, -0.01, -0.00 (t-test defined)
    b = (per_run["dataset"] == "B") & (per_run["initial_method"] == "diverse")
    per_run.loc[b, "aulc"] = per_run.loc[b, "aulc"].to_numpy() + np.array([0.0, -0.01, 0.0, 0.01])
    eff = initialisation_study.initialisation_effects(per_run, test="t").set_index(["initial_method", "dataset"])
    pa, pb = eff.loc[("diverse", "A"), "p"], eff.loc[("diverse", "B"), "p"]
    lo, hi = sorted([pa, pb])
    # Holm over m = 2: the smaller times 2, the larger max(itself, that)
    assert math.isclose(eff.loc[("diverse", "A"), "p_adj"], min(1, 2 * lo) if pa == lo else max(hi, 2 * lo))
    assert eff.loc[("diverse", "A"), "family_size"] == 2


def test_paper_claims_use_the_random_initialisation_runs_only():
    from mlal_core.experiments.results import ExperimentResults

    runs = pd.DataFrame({"session_id": ["s1", "s2", "s3"], "setting": ["A", "A (initial_method=diverse)", "A"]})
    rounds = pd.DataFrame({"session_id": ["s1", "s1", "s2", "s3"], "round": [0, 1, 0, 0]})
    res = ExperimentResults(name="x", runs=runs, rounds=rounds, references=pd.DataFrame(), planned=3,
                            strategy_order=[], config=None)
    kept = initialisation_study.paper_initialisation(res, {"s1": "random", "s2": "diverse", "s3": "random"})
    assert kept.runs["session_id"].tolist() == ["s1", "s3"] and kept.rounds["session_id"].tolist() == ["s1", "s1", "s3"]
    assert initialisation_study.paper_initialisation(res, {"s1": "random", "s2": "random", "s3": "random"}) is res


def test_initial_methods_are_read_from_the_stored_configs(small_datasets, tmp_path):
    ds = small_datasets["yeast_tiny"]
    store = SessionStore(tmp_path / "s.sqlite")
    ids = {}
    for method in ("random", "diverse"):
        cfg = SessionConfig(model_params=dict(FAST_MODEL), initial_size=5, query_size=5, rounds=0,
                            initial_method=method)
        ids[method] = ActiveLearningSession(cfg, dataset=ds, store=store).session_id
    got = initialisation_study.initial_methods_of(tmp_path / "s.sqlite", list(ids.values()))
    assert got == {ids["random"]: "random", ids["diverse"]: "diverse"}


# ------------------------------------------------------------------------------------ the Home page
@pytest.mark.app
def test_home_offers_every_initial_method_and_the_session_records_it(mlal_home):
    from test_app_pages import _app, _start

    at = _app()
    box = at.selectbox(key="home_initial_method")
    assert box.options == ["random", "one per label (simulation only)", "representative (k-means)",
                           "diverse (k-center)"]
    assert "simulation only" in box.help and "k-means centres" in box.help and "k-center greedy" in box.help
    box.set_value("representative").run()
    assert any("Initial set: k-means centres" in c.value for c in at.caption)
    sid = _start(at)
    config, initial, _ = SessionStore().load_session(sid)
    assert config.initial_method == "representative"
    assert config.initial_params["n_init"] == 1 and config.initial_params["random_state"] == config.seed
    assert len(initial["positions"]) == 40 == len(set(np.asarray(initial["positions"]).tolist()))


# ------------------------------------------------------------------------------------ the command line
@pytest.mark.slow
def test_the_cli_runs_a_diverse_initial_set_and_stores_it(mlal_home):
    from test_cli import FAST, cli

    res = cli("run", "--dataset", "yeast", "--strategy", "random", "--rounds", "0", "--initial-size", "15",
              "--initial-method", "diverse", "--seed", "2", *FAST, home=mlal_home)
    assert res.returncode == 0, res.stderr
    assert "Choosing a diverse initial set from the pool's features" in res.stderr
    assert "initial 15 (diverse)" in res.stdout
    store = SessionStore()
    config, initial, _ = store.load_session(store.list_sessions().loc[0, "id"])
    assert config.initial_method == "diverse" and config.initial_params["svd_components"] is None
    assert len(set(np.asarray(initial["positions"]).tolist())) == 15
    bad = cli("run", "--dataset", "yeast", "--strategy", "random", "--initial-method", "kmedoids", home=mlal_home)
    assert bad.returncode != 0 and "representative" in bad.stderr  # argparse lists the choices
