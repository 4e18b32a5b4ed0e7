"""The experiment runner (config validation, local and Ray backends, resume), the store merge, the
analysis functions (on hand-built numbers with known answers) and the report generator."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_MODEL, REPO_ROOT
from scipy import stats as sps

from mlal_core import experiments as E
from mlal_core.errors import ConfigError
from mlal_core.experiments import analysis as A
from mlal_core.experiments import report, results, tasks
from mlal_core.experiments.parts import parts_dir
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.records import RoundRecord
from mlal_core.session.store import SessionStore, StoreError
from mlal_core.session.store_merge import import_session, merge_store


def tiny(tmp_path: Path, **kw) -> dict:
    """The tiny grid: yeast (raw features), 2-member ensemble, 2 rounds, 2 strategies x 2 seeds."""
    cfg = {
        "name": "tiny",
        "store": str(tmp_path / "tiny.sqlite"),
        "datasets": ["yeast"],
        "models": [{"name": "mlp_ensemble", "params": dict(FAST_MODEL)}],
        "strategies": ["random", "entropy"],
        "seeds": 2,
        "initial_size": 30,
        "query_size": 20,
        "rounds": 2,
        "reference": False,
    }
    cfg.update(kw)
    return cfg


def stored_metrics(store_path: Path) -> dict[str, list[float]]:
    """run key -> micro-F1 of each record, read straight from the store."""
    con = sqlite3.connect(store_path)
    try:
        rows = con.execute(
            "SELECT s.name, r.metrics_json FROM sessions s JOIN rounds r ON r.session_id = s.id "
            "WHERE s.status = 'finished' ORDER BY s.name, r.round"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[float]] = {}
    for name, m in rows:
        out.setdefault(name.split()[1], []).append(json.loads(m)["micro_f1"])
    return out


@pytest.fixture()
def one_thread():
    """Compare in-process runs with worker runs (1 torch thread each) at the same thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ============================================================================ config validation
def problems_of(data, **kw) -> str:
    with pytest.raises(ConfigError) as err:
        E.ExperimentConfig.from_dict(data, **kw)
    return str(err.value)


def test_config_lists_every_problem_with_what_to_fix(tmp_path):
    msg = problems_of({
        "name": "bad name!",
        "datasets": ["yeast", "yaest"],
        "strategies": ["random", "entropi", {"name": "crab", "params": {"alpha": 0.1, "gamma": 2}}],
        "seed": 3,
        "models": [{"name": "mlp_ensemble", "params": {"n_member": 2}}],
        "backend": "spark",
        "analysis": {"baseline": "uniform", "metrics": ["micro_f2"]},
    })
    assert "problem(s) in the experiment config" in msg
    assert "'name' must be a name" in msg
    assert "unknown key 'seed' (did you mean 'seeds'?)" in msg
    assert "unknown dataset 'yaest' (did you mean 'yeast'?)" in msg
    assert "unknown strategy 'entropi' (did you mean 'entropy'?)" in msg
    assert "crab" in msg and "gamma" in msg
    assert "'n_member' (did you mean 'n_members'?)" in msg
    assert "'backend' must be one of ['local', 'ray']" in msg
    assert "analysis.baseline 'uniform' is not one of the strategy labels" in msg
    assert "micro_f2" in msg


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"seeds": 0}, "'seeds' as a count must be at least 1"),
        ({"seeds": [1, 1]}, "'seeds' has repeated values"),
        ({"rounds": [2, -1]}, "'rounds' must be an integer >= 0"),
        ({"strategies": ["random", "random"]}, "repeated strategy label(s) ['random']"),
        ({"strategies": []}, "'strategies' must be a non-empty list"),
        ({"datasets": [{"name": "yeast", "size": 3}]}, "datasets[0]: unknown key 'size'"),
        ({"workers": -1}, "'workers' must be 'auto' or an integer >= 0"),
        ({"ray": {"adress": "auto"}}, "ray: unknown key 'adress' (did you mean 'address'?)"),
        ({"analysis": {"test": "anova"}}, "analysis.test must be one of"),
    ],
)
def test_config_field_errors(tmp_path, patch, expected):
    assert expected in problems_of(tiny(tmp_path, **patch))


def test_grid_errors_are_found_before_anything_runs(tmp_path):
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, representations=["tfidf"]))
    with pytest.raises(ConfigError, match="yeast.*tfidf.*tabular"):
        cfg.plan()
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, initial_size=5000))
    with pytest.raises(ConfigError, match=r"initial_size \(5000\) is larger than the training pool \(1344"):
        cfg.plan()
    with pytest.raises(ConfigError, match="larger than the training pool"):
        E.run_experiment(cfg)
    assert not Path(tiny(tmp_path)["store"]).exists()  # nothing was created


def test_each_model_reads_its_own_representation(tmp_path):
    """With ``auto``, the MLP head reads MiniLM vectors and a text backbone token ids, in one grid."""
    models = [{"name": "mlp_ensemble", "params": dict(FAST_MODEL)},
              {"name": "textcnn", "label": "cnn", "params": {"n_members": 2, "epochs": 1, "max_length": 24}}]
    plan = E.ExperimentConfig.from_dict(tiny(tmp_path, datasets=["reuters21578"], models=models,
                                             strategies=["random"], seeds=1)).plan()
    assert {(r.config.model, r.representation) for r in plan.runs} == {("mlp_ensemble", "minilm"), ("textcnn", "tokens")}
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, datasets=["reuters21578"], models=models,
                                            representations=["minilm"]))
    with pytest.raises(ConfigError, match="model 'cnn'.*learns from the token ids"):
        cfg.plan()


def test_config_files_yaml_toml_and_parse_errors(tmp_path):
    yaml_text = (
        "name: tiny\ndatasets: [yeast]\nstrategies:\n  - random\n  - {name: entropy}\nseeds: [3, 4]\n"
        "rounds: 1\nquery_size: 10\ninitial_size: 20\nstore: out/x.sqlite\n"
    )
    toml_text = (
        'name = "tiny"\ndatasets = ["yeast"]\nseeds = [3, 4]\nrounds = 1\nquery_size = 10\ninitial_size = 20\n'
        'store = "out/x.sqlite"\nstrategies = ["random", {name = "entropy"}]\n'
    )
    (tmp_path / "a.yaml").write_text(yaml_text)
    (tmp_path / "b.toml").write_text(toml_text)
    a, b = E.load_config(tmp_path / "a.yaml"), E.load_config(tmp_path / "b.toml")
    assert a.store_path() == (tmp_path / "out" / "x.sqlite").resolve()  # relative to the config's folder
    assert [r.key for r in a.plan().runs] == [r.key for r in b.plan().runs]
    assert len(a.plan().runs) == 4
    (tmp_path / "c.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="c.yaml could not be parsed"):
        E.load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="unknown config format '.ini'"):
        (tmp_path / "d.ini").write_text("x")
        E.load_config(tmp_path / "d.ini")


def test_run_keys_are_deterministic_and_normalised(tmp_path):
    plan = E.ExperimentConfig.from_dict(tiny(tmp_path)).plan()
    again = E.ExperimentConfig.from_dict(tiny(tmp_path)).plan()
    assert [r.key for r in plan.runs] == [r.key for r in again.runs]
    assert len({r.key for r in plan.runs}) == 4
    # explicit defaults (strategy and model) give the same keys as leaving them out
    explicit = tiny(tmp_path, strategies=["random", {"name": "entropy", "params": {}}],
                    models=[{"name": "mlp_ensemble", "params": {**FAST_MODEL, "mc_passes": 0}}],
                    representations=["raw"])
    assert [r.key for r in E.ExperimentConfig.from_dict(explicit).plan().runs] == [r.key for r in plan.runs]
    crab = E.ExperimentConfig.from_dict(tiny(tmp_path, strategies=["crab", {"name": "crab", "label": "crab-a1",
                                                                           "params": {"alpha": 1.0}}])).plan()
    keys = [r.key for r in crab.runs]
    assert len(set(keys)) == 4
    r0 = plan.runs[0]
    assert r0.config.name.startswith(f"run {r0.key} | yeast | random | seed 0")
    assert r0.config.representation == "raw" and r0.config.model_params["n_members"] == 2


# ============================================================================ store merge
def _short_session(store: SessionStore, ds, seed=0) -> str:
    cfg = SessionConfig(model_params=dict(FAST_MODEL), strategy="random", initial_size=20, query_size=10,
                        rounds=1, seed=seed)
    s = ActiveLearningSession(cfg, dataset=ds, store=store)
    s.run()
    return s.session_id


def test_import_session_copies_a_session_exactly(tmp_path, small_datasets):
    ds = small_datasets["yeast_small"]
    src = SessionStore(tmp_path / "src.sqlite")
    sid = _short_session(src, ds)
    dest = SessionStore(tmp_path / "dest.sqlite")
    assert import_session(dest, src, sid) is True
    assert import_session(dest, src, sid) is False  # already there
    assert dest.session_info(sid)["status"] == "finished"
    # every sessions column travels, the feature source and the stopping rules' stop set included
    info_a, info_b = src.session_info(sid), dest.session_info(sid)
    assert info_a["feature_source"] is not None and info_b["feature_source"] == info_a["feature_source"]
    assert info_b["stop_set"] == info_a["stop_set"]
    a, b = src.load_session(sid), dest.load_session(sid)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1]["positions"], b[1]["positions"])
    for ra, rb in zip(a[2], b[2]):
        assert ra.metrics == rb.metrics and ra.timings == rb.timings
        assert (ra.selected is None and rb.selected is None) or np.array_equal(ra.selected, rb.selected)
    assert merge_store(dest, src) == []
    with pytest.raises(StoreError, match="No session"):
        import_session(dest, src, "nope")


# ============================================================================ runner: local and ray
def test_tiny_grid_on_the_local_pool(tmp_path, one_thread):
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, reference=True))
    lines: list[str] = []
    calls: list[tuple[int, int]] = []
    out = E.run_experiment(cfg, workers=2, log=lines.append, progress=lambda d, t, m: calls.append((d, t)))
    assert out.ok, out.failed
    assert (out.workers, out.threads) == (2, 1)
    assert len(out.executed_runs) == 4 and out.total_references == 2 and out.already_done == 0
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    assert any("ETA" in line for line in lines)
    store = cfg.store_path()
    parts = store.with_name(store.name + ".parts")
    assert not list(parts.glob("*.sqlite"))  # merged and removed
    metrics = stored_metrics(store)
    assert set(metrics) == {r.key for r in cfg.plan().runs}
    assert all(len(v) == 3 for v in metrics.values())  # R + 1 records

    # a run equals the same session run directly (same config -> same history)
    spec = cfg.plan().runs[1]
    direct = ActiveLearningSession(spec.config).run()
    assert [r.metrics["micro_f1"] for r in direct] == metrics[spec.key]

    res = E.load_results(config=cfg)
    assert len(res.runs) == 4 and set(res.runs["strategy"]) == {"random", "entropy"}
    assert len(res.rounds) == 12 and res.rounds["final"].sum() == 4
    assert len(res.references) == 2 and res.references["micro_f1"].between(0, 1).all()
    assert E.experiments_in_store(store) == ["tiny"]
    # the whole experiment again: nothing to do
    again = E.run_experiment(cfg, workers=2)
    assert again.executed == [] and again.already_done == 6


@pytest.fixture()
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_tiny_grid_on_ray_matches_local(tmp_path, ray_local, one_thread):
    local = E.ExperimentConfig.from_dict(tiny(tmp_path, store=str(tmp_path / "local.sqlite")))
    out_local = E.run_experiment(local, workers=0)  # in this process, for the reference numbers
    assert out_local.ok
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, store=str(tmp_path / "ray.sqlite"), backend="ray"))
    out = E.run_experiment(cfg)
    assert out.ok, out.failed
    assert out.backend == "ray" and out.workers == 2 and len(out.executed_runs) == 4
    assert ray_local.is_initialized()  # a Ray it did not start is left running
    assert stored_metrics(tmp_path / "ray.sqlite") == stored_metrics(tmp_path / "local.sqlite")


# ============================================================================ resume
def test_resume_runs_only_what_is_missing(tmp_path):
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path))
    first = E.run_experiment(cfg, workers=1, limit=2)  # "interrupted" after 2 runs
    assert len(first.executed_runs) == 2 and first.not_started == 2
    second = E.run_experiment(cfg, workers=0)
    assert second.already_done == 2
    assert set(second.executed_runs) == {r.key for r in cfg.plan().runs} - set(first.executed_runs)

    # a run lost from the store is the only one run again
    store = SessionStore(cfg.store_path())
    victim = cfg.plan().runs[3]
    sid = store.list_sessions().set_index("name").loc[victim.config.name, "id"]
    store.delete_session(sid)
    third = E.run_experiment(cfg, workers=0)
    assert third.executed_runs == [victim.key] and third.already_done == 3
    assert len(stored_metrics(cfg.store_path())) == 4


def test_a_run_interrupted_mid_session_continues_where_it_stopped(tmp_path):
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, strategies=["entropy"], seeds=[0]))
    spec = cfg.plan().runs[0]
    # the worker died after one round: its part file holds a 'running' session with 1 record
    part = parts_dir(cfg.store_path()) / f"{spec.key}.sqlite"
    part_store = SessionStore(part)
    s = ActiveLearningSession(spec.config, store=part_store)
    s.run(rounds=1)
    assert part_store.list_sessions()["records"].tolist() == [1]
    out = E.run_experiment(cfg, workers=0)
    assert out.ok and out.executed[0]["resumed_at"] == 1
    assert not part.exists()
    uninterrupted = ActiveLearningSession(spec.config).run()
    assert stored_metrics(cfg.store_path())[spec.key] == [r.metrics["micro_f1"] for r in uninterrupted]


def test_finished_part_files_of_an_interrupted_parent_are_merged_on_start(tmp_path):
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, strategies=["random"], seeds=[0]))
    spec = cfg.plan().runs[0]
    part = parts_dir(cfg.store_path()) / f"{spec.key}.sqlite"
    ActiveLearningSession(spec.config, store=SessionStore(part)).run()
    out = E.run_experiment(cfg, workers=0)
    assert out.merged_on_start == 1 and out.executed == [] and out.already_done == 1
    assert not part.exists()
    assert len(E.load_results(config=cfg).runs) == 1


def test_a_failing_run_is_reported_and_the_others_finish(tmp_path, monkeypatch):
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, seeds=[0]))
    real = tasks._execute_run

    def flaky(task):
        if "entropy" in json.loads(task["config"])["strategy"]:
            raise RuntimeError("boom")
        return real(task)

    monkeypatch.setattr(tasks, "_execute_run", flaky)
    out = E.run_experiment(cfg, workers=0)
    assert len(out.failed) == 1 and "RuntimeError: boom" in out.failed[0]["error"]
    assert "entropy" in out.failed[0]["what"] and len(out.executed_runs) == 1
    monkeypatch.setattr(tasks, "_execute_run", real)
    retry = E.run_experiment(cfg, workers=0)
    assert retry.ok and len(retry.executed_runs) == 1


# ============================================================================ analysis: known values
def hand_rounds() -> pd.DataFrame:
    """Strategies a and b, seeds 0-2, three points each (pool 100) with values whose AULC is known:
    a = [0.2, 0.4, 0.6] + d_a[seed], b = [0.2, 0.3, 0.4] + d_b[seed] at n = 10, 20, 30."""
    d_a, d_b = [0.00, 0.02, 0.05], [0.01, 0.00, 0.04]
    rows = []
    for strat, base, shift in (("a", [0.2, 0.4, 0.6], d_a), ("b", [0.2, 0.3, 0.4], d_b)):
        for seed in range(3):
            for t, (n, v) in enumerate(zip([10, 20, 30], base)):
                rows.append({"setting": "toy", "dataset": "toy", "representation": "raw", "model": "m",
                             "strategy": strat, "seed": seed, "round": t, "n_labeled": n, "pool_size": 100,
                             "final": t == 2, "micro_f1": v + shift[seed],
                             "mean_ir_selected": np.nan if t == 2 else (1.0 + t if strat == "a" else 2.0 + seed),
                             "hard_to_learn_count": 10 - t, "conflicting_count": t})
    return pd.DataFrame(rows)


def test_aulc_curves_and_paired_tests_have_the_known_values():
    R = hand_rounds()
    pr = A.aulc_per_run(R, "micro_f1")
    got = pr.set_index(["strategy", "seed"])["aulc"]
    # a: ((0.2+0.4)/2*10 + (0.4+0.6)/2*10) / 20 = 0.4, shifted by d; b: 0.3 shifted
    expect = {("a", 0): 0.40, ("a", 1): 0.42, ("a", 2): 0.45, ("b", 0): 0.31, ("b", 1): 0.30, ("b", 2): 0.34}
    for k, v in expect.items():
        assert got[k] == pytest.approx(v, abs=1e-12)

    s = A.curve_summary(R, "micro_f1").set_index(["strategy", "n_labeled"])
    assert s.loc[("a", 30), "mean"] == pytest.approx(np.mean([0.6, 0.62, 0.65]))
    assert s.loc[("a", 30), "std"] == pytest.approx(np.std([0.6, 0.62, 0.65], ddof=1))
    assert s.loc[("b", 10), "n"] == 3

    summ = A.aulc_summary(pr, baseline="b").set_index("strategy")
    assert summ.loc["a", "mean"] == pytest.approx(np.mean([0.40, 0.42, 0.45]))
    assert summ.loc["a", "diff_vs_baseline"] == pytest.approx(np.mean([0.09, 0.12, 0.11]))
    assert summ.loc["a", "rank"] == 1 and summ.loc["b", "rank"] == 2

    a, b = np.array([0.40, 0.42, 0.45]), np.array([0.31, 0.30, 0.34])
    t = A.paired_tests(pr, baseline="b", test="t").iloc[0]
    ref_t, ref_w = sps.ttest_rel(a, b), sps.wilcoxon(a, b)
    assert (t["strategy"], t["other"], t["n"]) == ("a", "b", 3)
    assert t["t_stat"] == pytest.approx(ref_t.statistic) and t["t_p"] == pytest.approx(ref_t.pvalue)
    assert t["w_stat"] == pytest.approx(ref_w.statistic) and t["w_p"] == pytest.approx(ref_w.pvalue)
    assert t["mean_diff"] == pytest.approx(np.mean(a - b))
    assert t["std_diff"] == pytest.approx(np.std(a - b, ddof=1))
    assert (t["wins"], t["losses"], t["ties"]) == (3, 0, 0)
    assert t["test"] == "t" and t["p"] == t["t_p"] and bool(t["better"]) == (ref_t.pvalue < 0.05)
    auto = A.paired_tests(pr, baseline="b").iloc[0]
    assert auto["test"] == "t"  # 3 seeds < 6: the t-test
    w = A.paired_tests(pr, baseline="b", test="wilcoxon").iloc[0]
    assert w["p"] == pytest.approx(ref_w.pvalue) and w["p"] == pytest.approx(0.25)  # 2 / 2**3
    lower = A.paired_tests(pr, baseline="b", higher_is_better=False).iloc[0]
    assert (lower["wins"], lower["losses"]) == (0, 3) and not lower["better"]


def test_paired_test_edge_cases_and_holm():
    same = A.paired_test([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    assert same["ties"] == 3 and np.isnan(same["t_p"]) and np.isnan(same["w_p"])
    shift = A.paired_test([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])  # constant difference: t undefined
    assert shift["mean_diff"] == pytest.approx(0.1) and np.isnan(shift["t_p"])
    p = np.array([0.01, 0.04, 0.03, np.nan])
    np.testing.assert_allclose(A.holm(p)[:3], [0.03, 0.06, 0.06])
    assert np.isnan(A.holm(p)[3])
    with pytest.raises(ConfigError):
        A.paired_test([1, 2], [1, 2, 3])


def test_reach_and_per_round_statistics_have_the_known_values():
    R = hand_rounds()
    refs = pd.DataFrame({"dataset": "toy", "representation": "raw", "model": "m", "seed": [0, 1, 2],
                         "micro_f1": [0.5, 0.5, 0.62]})
    rp = A.reach_per_run(R, refs, "micro_f1", fractions=[1.0, 0.8])
    got = rp.set_index(["strategy", "seed", "target_fraction"])["fraction"]
    assert got[("a", 0, 1.0)] == pytest.approx(0.30)  # 0.6 >= 0.5 first at n = 30
    assert got[("a", 2, 1.0)] == pytest.approx(0.30)  # 0.65 >= 0.62
    assert np.isnan(got[("b", 0, 1.0)])  # b never reaches 0.5
    assert got[("a", 1, 0.8)] == pytest.approx(0.20)  # 0.42 >= 0.4
    assert np.isnan(got[("b", 2, 0.8)])  # 0.24, 0.34, 0.44 all below 0.8 x 0.62 = 0.496
    rs = A.reach_summary(rp).set_index(["strategy", "target_fraction"])
    assert rs.loc[("a", 1.0), "reached"] == 3 and rs.loc[("a", 1.0), "mean_fraction"] == pytest.approx(0.30)
    assert rs.loc[("b", 1.0), "reached"] == 0 and np.isnan(rs.loc[("b", 1.0), "median_fraction"])
    assert rs.loc[("a", 1.0), "budget_fraction"] == pytest.approx(0.30)

    m = A.per_round_summary(R, "mean_ir_selected").set_index(["strategy", "round"])
    assert list(m.index.get_level_values("round").unique()) == [0, 1]  # the final record is left out
    assert m.loc[("a", 1), "mean"] == 2.0 and m.loc[("a", 1), "std"] == 0.0
    assert m.loc[("b", 0), "mean"] == pytest.approx(3.0) and m.loc[("b", 0), "std"] == pytest.approx(1.0)
    prm = A.per_run_mean(R, "mean_ir_selected").set_index(["strategy", "seed"])["value"]
    assert prm[("a", 0)] == pytest.approx(1.5) and prm[("b", 2)] == pytest.approx(4.0)
    h = A.per_round_summary(R, "hard_to_learn_count", include_final=True).set_index(["strategy", "round"])
    assert h.loc[("a", 2), "mean"] == 8

    for fig in (A.learning_curve_figure(R, "micro_f1", reference=0.5), A.mean_ir_figure(R),
                A.hard_conflicting_figure(R, "conflicting_count"),
                A.pairwise_figure(A.paired_tests(A.aulc_per_run(R, "micro_f1")))):
        assert fig.layout.title.text.startswith("toy")
    assert len(A.learning_curve_figure(R, "micro_f1").data) == 4  # band + line per strategy


#: The experiment tables and rows exactly as the code before the tables had a schema version wrote
#: them (``mlal_core/experiments/runner.py`` at commit 79bdee9): such a store must keep opening and reading.
LEGACY_EXP_TABLES = (
    """CREATE TABLE IF NOT EXISTS exp_experiments (
        name TEXT PRIMARY KEY, config_json TEXT NOT NULL, source TEXT, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS exp_runs (
        experiment TEXT NOT NULL, key TEXT NOT NULL, session_id TEXT, setting TEXT, dataset TEXT,
        dataset_name TEXT, representation TEXT, model TEXT, strategy TEXT, strategy_name TEXT,
        strategy_params_json TEXT, seed INTEGER, pool_size INTEGER, initial_size INTEGER, query_size INTEGER,
        rounds INTEGER, candidate_subset INTEGER, reference_key TEXT, seconds REAL, backend TEXT,
        finished_at TEXT, PRIMARY KEY (experiment, key))""",
    """CREATE TABLE IF NOT EXISTS exp_references (
        key TEXT PRIMARY KEY, dataset TEXT, representation TEXT, model TEXT, seed INTEGER, pool_size INTEGER,
        result_json TEXT NOT NULL, created_at TEXT NOT NULL)""",
)
LEGACY_RUN_INSERT = (
    "INSERT INTO exp_runs (experiment, key, session_id, setting, dataset, dataset_name, representation, "
    "model, strategy, strategy_name, strategy_params_json, seed, pool_size, initial_size, query_size, "
    "rounds, candidate_subset, reference_key, seconds, backend, finished_at) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
LEGACY_REFERENCE_INSERT = (
    "INSERT INTO exp_references (key, dataset, representation, model, seed, pool_size, result_json, created_at) "
    "VALUES (?,?,?,?,?,?,?,?)"
)
HAND_REFERENCE = {"metrics": {"micro_f1": 0.7, "macro_f1": None}, "seconds": 2.5}


def _hand_store(tmp_path: Path, *, legacy: bool = False) -> Path:
    """A stored experiment built from hand-made records (no model is trained): hand_rounds() and one
    full-data reference. ``legacy``: the experiment tables written by the pre-version SQL above."""
    R = hand_rounds()
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "hand.sqlite"
    store = SessionStore(path)
    con = sqlite3.connect(path)
    if legacy:
        with con:
            for sql in LEGACY_EXP_TABLES:
                con.execute(sql)
    else:
        tables = results.ResultsTables(path)
    for (strategy, seed), d in R.groupby(["strategy", "seed"]):
        cfg = SessionConfig(dataset=None, strategy="random", seed=int(seed), initial_size=10, query_size=10, rounds=2)
        key = hashlib.sha256(f"{strategy}-{seed}".encode()).hexdigest()[:16]
        cfg.name = f"run {key} | toy | {strategy} | seed {seed}"
        sid = store.create_session(cfg, np.arange(10), np.zeros((10, 2), dtype=np.uint8), dataset_name="toy")
        for r in d.itertuples(index=False):
            final = bool(r.final)
            rec = RoundRecord(round=int(r.round), n_labeled=int(r.n_labeled), metrics={"micro_f1": float(r.micro_f1)},
                              selected=None if final else np.arange(10 + 10 * r.round, 20 + 10 * r.round),
                              labels=None if final else np.zeros((10, 2), dtype=np.uint8), selection=None,
                              timings={"train_s": 0.1}, mean_ir_selected=float(r.mean_ir_selected),
                              hard_to_learn_count=int(r.hard_to_learn_count), conflicting_count=int(r.conflicting_count))
            store.append_round(sid, rec, status="finished" if final else None)
        spec = E.RunSpec(key=key, config=cfg, dataset="toy", strategy=strategy, model="m", representation="raw",
                         seed=int(seed), pool_size=100, initial_size=10, query_size=10, rounds=2, setting="toy")
        if legacy:
            with con:
                con.execute(LEGACY_RUN_INSERT, (
                    "hand", key, sid, "toy", "toy", None, "raw", "m", strategy, "random",
                    json.dumps(cfg.strategy_params, sort_keys=True), int(seed), 100, 10, 10, 2, None, None, 1.0,
                    "local", "2026-01-01T00:00:00.000+00:00"))
        else:
            tables.record_run("hand", spec, sid, 1.0, "local")
    ref_cfg = SessionConfig(dataset=None, seed=0)
    if legacy:
        with con:
            con.execute(LEGACY_REFERENCE_INSERT, ("ref0", "toy", "raw", "m", 0, 100, json.dumps(HAND_REFERENCE),
                                                  "2026-01-01T00:00:00.000+00:00"))
    else:
        tables.record_reference(E.ReferenceSpec(key="ref0", config=ref_cfg, dataset="toy", representation="raw",
                                                model="m", seed=0, pool_size=100),
                                {**HAND_REFERENCE, "metrics": {"micro_f1": 0.7, "macro_f1": float("nan")}})
    with con:
        con.execute("INSERT INTO exp_experiments VALUES ('hand', '{}', NULL, '2026', '2026')")
    con.close()
    return path


def test_analysis_of_a_small_stored_experiment(tmp_path):
    res = E.load_results(_hand_store(tmp_path))
    assert res.name == "hand" and len(res.runs) == 6
    R = res.rounds
    assert len(R) == 18 and R["final"].sum() == 6
    pr = A.aulc_per_run(R, "micro_f1").set_index(["strategy", "seed"])["aulc"]
    assert pr[("a", 2)] == pytest.approx(0.45) and pr[("b", 1)] == pytest.approx(0.30)
    assert R.loc[R["final"], "n_selected"].eq(0).all() and R.loc[~R["final"], "n_selected"].eq(10).all()
    assert R["labelled_fraction"].max() == pytest.approx(0.30)
    m = A.per_round_summary(R, "mean_ir_selected").set_index(["strategy", "round"])
    assert m.loc[("b", 0), "mean"] == pytest.approx(3.0)


def _frames_without_ids(path: Path) -> list[pd.DataFrame]:
    """runs, rounds and references of a stored experiment, without the (random) session ids."""
    res = E.load_results(path)
    return [res.runs.drop(columns="session_id"), res.rounds.drop(columns="session_id"), res.references]


def test_a_store_written_before_schema_versions_opens_and_reads_the_same(tmp_path):
    new = _hand_store(tmp_path / "new")
    old = _hand_store(tmp_path / "old", legacy=True)
    assert results.schema_version(new) == results.SCHEMA_VERSION == 1
    assert results.schema_version(old) == 0  # written before the version table existed
    expected = _frames_without_ids(new)
    assert len(expected[0]) == 6 and len(expected[1]) == 18 and len(expected[2]) == 1
    assert expected[2].loc[0, "micro_f1"] == 0.7 and np.isnan(expected[2].loc[0, "macro_f1"])
    for got, want in zip(_frames_without_ids(old), expected, strict=True):  # read as it is
        pd.testing.assert_frame_equal(got, want)
    tables = results.ResultsTables(old)  # opened for writing: adopted as version 1, rows kept
    assert tables.schema_version() == 1 and results.schema_version(old) == 1
    assert tables.reference_keys() == {"ref0"}
    for got, want in zip(_frames_without_ids(old), expected, strict=True):
        pd.testing.assert_frame_equal(got, want)
    results.ResultsTables(old)  # opening again applies nothing twice
    con = sqlite3.connect(old)
    assert con.execute("SELECT version FROM exp_schema_version").fetchall() == [(1,)]
    with con:  # a store from a newer workbench is refused, not misread
        con.execute("INSERT INTO exp_schema_version (version) VALUES (2)")
    con.close()
    with pytest.raises(StoreError, match="schema version 2, newer than this workbench understands"):
        results.ResultsTables(old)
    with pytest.raises(StoreError, match="schema version 2"):
        E.load_results(old)


def test_claim_verdicts_follow_the_numbers():
    """Hand-made curves where CRAB beats every baseline by a clear margin and picks the most balanced
    batches, BEAL reaches the full-data score first, and CoMAL is absent."""
    offsets = {"random": 0.0, "crab": 0.10, "mmc": 0.03, "beal": 0.06, "bald": 0.04, "coreset": -0.02, "badge": 0.0}
    noise = {s: np.roll([0.0, 0.01, -0.01, 0.02, -0.02], i) for i, s in enumerate(offsets)}
    rows, runs = [], []
    for strat, off in offsets.items():
        for seed in range(5):
            runs.append({"setting": "d1", "dataset": "d1", "strategy": strat, "strategy_name": strat, "seed": seed,
                         "pool_size": 100})
            for t, n in enumerate([10, 20, 30]):
                v = 0.3 + 0.1 * t + off + noise[strat][seed] * 0.5
                rows.append({"setting": "d1", "dataset": "d1", "representation": "raw", "model": "m",
                             "strategy": strat, "seed": seed, "round": t, "n_labeled": n, "pool_size": 100,
                             "final": t == 2, "micro_f1": v, "macro_f1": v - 0.1, "p@1": v, "p@3": v,
                             "mean_ir_selected": np.nan if t == 2 else 2.0 + (strat != "crab") + noise[strat][seed]})
    refs = pd.DataFrame({"dataset": "d1", "representation": "raw", "model": "m", "seed": range(5),
                         "micro_f1": 0.45, "macro_f1": 0.35})
    res = E.ExperimentResults(name="hand", runs=pd.DataFrame(runs), rounds=pd.DataFrame(rows), references=refs)
    v = {c.claim.key: c for c in report.claim_verdicts(res, metrics=["micro_f1"], reach_metrics=["micro_f1"],
                                                        reach_fractions=[1.0])}
    assert v["crab_f1"].verdict == "holds", v["crab_f1"].evidence
    assert v["crab_meanir"].verdict == "holds", v["crab_meanir"].evidence
    assert "Baselines not in this experiment: audi, adaptive, besra." in v["crab_f1"].notes
    # beal (0.36 + 0.1 at n=20 >= 0.45 for most seeds) reaches first; coreset never reaches it
    assert v["beal"].verdict == "holds", v["beal"].evidence
    assert v["comal"].verdict == "not assessed"
    assert v["xmtc"].verdict == "does not hold" and "crab" in v["xmtc"].evidence  # crab beats random here
    table = v["crab_f1"].table.set_index("baseline")
    assert table.loc["random", "diff"] == pytest.approx(0.10, abs=1e-9)


# ============================================================================ report and CLI
def test_report_from_a_stored_experiment(tmp_path):
    cfg = E.ExperimentConfig.from_dict(tiny(tmp_path, strategies=["random", "entropy"], seeds=[0, 1],
                                            rounds=1, reference=True))
    assert E.run_experiment(cfg, workers=0).ok
    path = report.build_report(cfg, out_dir=tmp_path / "rep", formats=("html",))
    text = path.read_text()
    assert path.name == "tiny.md"
    assert "## The papers' claims: verdicts" in text and "## Caveats" in text
    assert "| BEAL (Wang et al.) |" in text and "not assessed" in text  # crab / beal / comal absent
    assert "Full-data reference" in text and "| entropy |" in text
    assert "paired t-test" in text and "n = 2 seeds" in text
    figs = list((tmp_path / "rep" / "figures").glob("tiny_*.html"))
    assert len(figs) >= 6 and all(f"figures/{f.name}" in text for f in figs)
    assert (tmp_path / "rep" / "tiny" / "aulc_per_run.csv").is_file()
    # MeanIR of the picks beside the coverages and the labelled set's evenness, from the stored labels
    assert "batch coverage" in text and "labelled coverage" in text and "labelled evenness" in text
    # when to stop (issue 19): the rules' stops against the oracle, from the merged runs' stored measures
    assert "## When to stop" in text and "### Classification change" in text
    # one query round gives no window of 3 kappas: the rule is named as without a value, not tabled
    assert "### Stabilizing predictions (kappa)" not in text
    assert "No value in these runs (too few rounds" in text and "Stabilizing predictions (kappa)" in text
    per_run = pd.read_csv(tmp_path / "rep" / "tiny" / "stopping_per_run.csv")
    assert len(per_run) == 4 * 6 and per_run["oracle_round_final95"].notna().all()


def test_cli_experiment_dry_run_and_errors(tmp_path):
    cfg = tmp_path / "x.yaml"
    cfg.write_text("name: x\ndatasets: [yeast]\nstrategies: [random, entropy]\nseeds: 3\nrounds: 2\n"
                   "query_size: 10\ninitial_size: 20\n")
    run = subprocess.run([sys.executable, "-m", "mlal_core", "experiment", str(cfg), "--dry-run"],
                         check=False, capture_output=True, text=True, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr
    assert "6 runs = 1 dataset(s)" in run.stdout and "2 strategies x 3 seed(s)" in run.stdout
    cfg.write_text("name: x\ndatasets: [yeast]\nstrategies: [randon]\n")
    bad = subprocess.run([sys.executable, "-m", "mlal_core", "experiment", str(cfg)],
                         check=False, capture_output=True, text=True, cwd=REPO_ROOT)
    assert bad.returncode == 2 and "did you mean 'random'" in bad.stderr and "Traceback" not in bad.stderr


def test_committed_configs_are_valid():
    for name in ("smoke.yaml", "reproduction.yaml"):
        cfg = E.load_config(REPO_ROOT / "experiments" / name)
        plan = cfg.plan()
        assert plan.runs and len({r.key for r in plan.runs}) == len(plan.runs)
    repro = E.load_config(REPO_ROOT / "experiments" / "reproduction.yaml")
    assert {d.name for d in repro.datasets} == {"reuters21578", "goemotions", "reuters21578-T10-IR50"}  # issue 17
    assert len(repro.seeds) >= 5 and "random" in [s.name for s in repro.strategies]


def test_strategy_display_names_are_the_papers_names_and_keep_a_mark():
    from mlal_core.experiments.analysis import strategy_display_names

    got = strategy_display_names(["crab", "coreset", "entropy (person-labelled)", "my_own", None, "crab"])
    assert got == {"crab": "CRAB", "coreset": "Core-Set", "entropy (person-labelled)": "Entropy (person-labelled)"}


def test_spawned_workers_do_not_rerun_the_parents_main_script(tmp_path, monkeypatch):
    """A test process that ran a page has that page as ``__main__``: workers must not re-run it."""
    import multiprocessing.spawn as spawn
    import sys
    import types

    from mlal_core.experiments.backends import parent_main_hidden

    page = types.ModuleType("__main__")
    page.__file__ = str(tmp_path / "page.py")
    monkeypatch.setitem(sys.modules, "__main__", page)
    assert "init_main_from_path" in spawn.get_preparation_data("w")  # what broke the pool
    with parent_main_hidden():
        data = spawn.get_preparation_data("w")
        assert "init_main_from_path" not in data and "init_main_from_name" not in data
    assert sys.modules["__main__"] is page
