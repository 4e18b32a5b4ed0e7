"""Cost against benefit (issue 18, item 5): each strategy's select time per round against its AULC gain
over random, paired by seed, Holm-adjusted over one family, with the cost / benefit (Pareto) front;
the config key that names the large-K experiment; the report's sections. Synthetic results tables with
hand-computed answers (flat learning curves: a run's AULC is the value given)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_MODEL
from scipy import stats as sps

from mlal_core import experiments as E
from mlal_core.errors import ConfigError
from mlal_core.experiments import analysis as A
from mlal_core.experiments import efficiency_study as ES
from mlal_core.experiments import report

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS = range(5)
RANDOM = np.array([0.50, 0.52, 0.48, 0.51, 0.49])
D_BIG = 0.05 + np.array([0.0, 0.001, -0.001, 0.002, -0.002])  # t = 70.7, p ~ 2e-7: significant after Holm
D_P020 = np.array([0.02, 0.01, 0.03, 0.015, 0.005])  # mean 0.016, one-sample t p = 0.0205 (n = 5)
D_NEG = np.array([0.0, 0.01, -0.01, 0.02, -0.02]) - 0.01  # mean -0.01, p = 0.23
#: select seconds of each query round (round 0, round 1); the final record's 99 s must not count
SELECT = {"random": (0.08, 0.12), "entropy": (0.15, 0.25), "cvirs": (1.5, 2.5), "besra": (25.0, 35.0)}
TOTAL_EXTRA = 3.0  # each round's training + predicting, on top of the select time


def _results(diffs: dict[tuple[str, str], np.ndarray]) -> E.ExperimentResults:
    """Runs of random and the strategies of ``diffs`` ((setting, strategy) -> the paired micro-F1 AULC
    gain per seed); 2 query rounds + a final record each, flat curves (macro-F1 = micro-F1 - 0.1: the
    same gains), the select times of :data:`SELECT`."""
    rows, runs = [], []
    settings = list(dict.fromkeys(s for s, _ in diffs))
    cells = [(s, "random", np.zeros(5)) for s in settings] + [(s, st, d) for (s, st), d in diffs.items()]
    for setting, strat, d in cells:
        for seed in SEEDS:
            runs.append({"setting": setting, "dataset": setting, "strategy": strat, "strategy_name": strat,
                         "seed": seed, "pool_size": 100})
            v = float(RANDOM[seed] + d[seed])
            for t, n in enumerate([10, 20, 30]):
                final = t == 2
                sel = 99.0 if final else SELECT[strat][t]
                rows.append({"setting": setting, "dataset": setting, "strategy": strat, "seed": seed, "round": t,
                             "n_labeled": n, "pool_size": 100, "representation": "raw", "model": "m", "final": final, "micro_f1": v, "macro_f1": v - 0.1,
                             "time_select_s": sel, "time_total_s": sel + TOTAL_EXTRA,
                             "mean_ir_selected": np.nan if final else 2.0})
    return E.ExperimentResults(name="synthetic", runs=pd.DataFrame(runs), rounds=pd.DataFrame(rows),
                               references=pd.DataFrame())


#: s1: entropy significant, cvirs only unadjusted (p 0.0205 -> Holm 6 x 0.0205 = 0.123), besra n.s.;
#: s2: cvirs's gain is 0.08 (significant) and it joins the front
GRID = {("s1", "entropy"): D_BIG, ("s1", "cvirs"): D_P020, ("s1", "besra"): D_NEG,
        ("s2", "entropy"): D_BIG, ("s2", "cvirs"): D_P020 + 0.064, ("s2", "besra"): D_NEG}


def _row(table: pd.DataFrame, setting: str, metric: str, strategy: str) -> pd.Series:
    r = table[(table["setting"] == setting) & (table["metric"] == metric) & (table["strategy"] == strategy)]
    assert len(r) == 1, table
    return r.iloc[0]


# ============================================================================ the numbers by hand
def test_costs_are_the_query_rounds_mean_select_and_round_seconds():
    costs = ES.costs_per_strategy(_results(GRID).rounds).set_index(["setting", "strategy"])
    assert costs.loc[("s1", "random"), "select_s"] == pytest.approx(0.10)  # (0.08 + 0.12) / 2, final left out
    assert costs.loc[("s1", "besra"), "select_s"] == pytest.approx(30.0)
    assert costs.loc[("s2", "cvirs"), "round_s"] == pytest.approx(2.0 + TOTAL_EXTRA)
    assert (costs["query_rounds"] == 10).all()  # 5 seeds x 2 query rounds


def test_gains_cis_holm_and_front_by_hand():
    table = ES.cost_benefit(_results(GRID).rounds, test="t", strategy_order=["besra", "random", "entropy"])
    assert len(table) == 2 * 2 * 4 and table["strategy"].tolist()[:4] == ["random", "besra", "entropy", "cvirs"]
    assert set(table["metric"]) == {"micro_f1", "macro_f1"} and (table["family_size"] == 12).all()
    for metric in ("micro_f1", "macro_f1"):  # macro-F1 has the same paired gains
        ent = _row(table, "s1", metric, "entropy")
        assert ent["gain"] == pytest.approx(0.05) and ent["n"] == 5
        assert ent["select_x_baseline"] == pytest.approx(2.0)
        assert ent["ci_low"] == pytest.approx(A.bootstrap_ci(D_BIG)[0]) and ent["ci_low"] <= 0.05 <= ent["ci_high"]
        assert ent["better_adj"] and ent["p_adj"] < 0.001
        # cvirs on s1: unadjusted p = 0.0205 < 0.05, adjusted 6 x 0.0205 (6 smaller p before it) = 0.123
        cv = _row(table, "s1", metric, "cvirs")
        p_t = sps.ttest_1samp(D_P020, 0).pvalue
        assert cv["p"] == pytest.approx(p_t) and cv["p"] < 0.05
        assert cv["p_adj"] == pytest.approx(6 * p_t) and not cv["better_adj"] and not cv["worse_adj"]
        assert cv["gain"] == pytest.approx(0.016) and cv["select_x_baseline"] == pytest.approx(20.0)
        assert _row(table, "s2", metric, "cvirs")["better_adj"]
        bes = _row(table, "s1", metric, "besra")
        assert bes["gain"] == pytest.approx(-0.01) and not bes["worse_adj"] and bes["select_x_baseline"] == 300
        rnd = _row(table, "s1", metric, "random")
        assert rnd["gain"] == 0.0 and np.isnan(rnd["p_adj"]) and rnd["select_s"] == pytest.approx(0.1)
    front = {s: set(d.loc[d["front"], "strategy"]) for s, d in table[table["metric"] == "micro_f1"].groupby("setting")}
    # s1: (0.1, 0), (0.2, +0.05), (2, +0.016), (30, -0.01): cvirs and besra are dominated by entropy
    # s2: cvirs (2, +0.08) is slower than entropy but better, so on the front
    assert front == {"s1": {"random", "entropy"}, "s2": {"random", "entropy", "cvirs"}}


def test_the_holm_family_is_the_xmtc_claims():
    res = _results(GRID)
    table = ES.cost_benefit(res.rounds, test="t")
    xmtc = {v.claim.key: v for v in report.claim_verdicts(res, metrics=["micro_f1", "macro_f1"],
                                                          reach_metrics=["micro_f1"], reach_fractions=[1.0],
                                                          test="t")}["xmtc"].comparisons
    mine = table[table["strategy"] != "random"].set_index(["setting", "metric", "strategy"])["p_adj"]
    theirs = xmtc.set_index(["setting", "metric", "strategy"])["p_adj"]
    pd.testing.assert_series_equal(mine.sort_index(), theirs.sort_index(), check_names=False)


def test_pareto_front_ties_and_missing_values():
    got = ES.pareto_front([1.0, 1.0, 2.0, 0.5, np.nan, 3.0], [0.1, 0.1, 0.1, -0.2, 0.9, 0.5])
    # two identical points dominate neither each other; (2, 0.1) is dominated by (1, 0.1); NaN never counts
    assert got.tolist() == [True, True, False, True, False, True]
    assert ES.pareto_front([], []).tolist() == []


# ============================================================================ the section's text
def test_markdown_prints_the_adjusted_conclusion_not_the_unadjusted_one(tmp_path):
    md = ES.cost_benefit_markdown(_results(GRID).rounds, test="t", data_dir=tmp_path)
    s1 = md.split("### s1")[1].split("### s2")[0]
    cv = next(ln for ln in s1.splitlines() if ln.startswith("| cvirs |"))
    cells = [c.strip() for c in cv.strip("|").split("|")]
    # strategy, select s, x random, round s, then per metric: gain [CI], Holm p, outcome, front
    assert cells[:4] == ["cvirs", "2", "20.0", "5"]
    assert cells[4].startswith("+0.016 [") and cells[5] == f"{6 * sps.ttest_1samp(D_P020, 0).pvalue:.3f}" == "0.123"
    assert cells[6] == "n.s." and cells[7] == ""
    summary = s1.strip().splitlines()[-1]
    assert "Better than random (Holm-adjusted p < 0.05): Micro-F1: entropy; Macro-F1: entropy." in summary
    assert "On the cost / benefit front (Micro-F1: random, entropy; Macro-F1: random, entropy)." in summary
    assert "More than 10x random's select time without a significant gain: besra (300x), cvirs (20x)." in summary
    s2 = md.split("### s2")[1]
    assert "without a significant gain: besra (300x)." in s2 and "Micro-F1: entropy, cvirs" in s2
    assert "12 comparisons" in md and "Holm" in md
    saved = pd.read_csv(tmp_path / "cost_benefit.csv")
    assert len(saved) == 2 * 2 * 4 and {"select_s", "gain", "ci_low", "p_adj", "front"} <= set(saved.columns)


def test_no_gain_anywhere_is_said_plainly():
    res = _results({("s1", "besra"): D_NEG})
    md = ES.cost_benefit_markdown(res.rounds, test="t")
    assert "No strategy is better than random after Holm's adjustment" in md
    assert "besra (300x)" in md


def test_figure_has_one_labelled_point_per_strategy_on_a_log_axis_with_intervals():
    table = ES.cost_benefit(_results(GRID).rounds, test="t")
    fig = ES.cost_benefit_figure(table, setting="s1")
    points = [t for t in fig.data if t.mode == "markers"]
    assert len(points) == 2 * 4  # two metric panels x four strategies
    labels = [(a.text, a.xref) for a in fig.layout.annotations if a.text in ("Random", "Entropy", "CVIRS", "BESRA")]
    assert sorted(labels) == sorted((n, x) for n in ("Random", "Entropy", "CVIRS", "BESRA") for x in ("x", "x2"))
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"
    ent = next(t for t in points if t.text[0] == "Entropy" and t.xaxis == "x")
    assert ent.x[0] == pytest.approx(0.2) and ent.y[0] == pytest.approx(0.05)
    lo, hi = A.bootstrap_ci(D_BIG)
    assert ent.error_y.arrayminus[0] == pytest.approx(0.05 - lo) and ent.error_y.array[0] == pytest.approx(hi - 0.05)
    rnd = next(t for t in points if t.text[0] == "Random" and t.xaxis == "x")
    assert rnd.y[0] == 0.0 and rnd.marker.symbol == "diamond"
    with pytest.raises(ConfigError, match="choose one with setting="):
        ES.cost_benefit_figure(table)


def test_missing_timings_or_random_give_a_note_not_an_error():
    res = _results(GRID)
    assert "stored no select times" in ES.cost_benefit_markdown(res.rounds.drop(columns="time_select_s"))
    no_random = res.rounds[res.rounds["strategy"] != "random"]
    assert "is not in these runs" in ES.cost_benefit_markdown(no_random)
    with pytest.raises(ConfigError, match="baseline 'random' has no runs"):
        ES.cost_benefit(no_random)


# ============================================================================ the config key
BASE = {"name": "x", "datasets": ["yeast"], "strategies": ["random"]}


@pytest.mark.parametrize("value, words", [
    ("nope.yaml", "no config file at"),
    ("notes.txt", "is not a config file"),
    (3, "must be the path of an experiment config file"),
    ("", "must be the path of an experiment config file"),
])
def test_efficiency_experiment_key_errors(tmp_path, value, words):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError) as err:
        E.ExperimentConfig.from_dict({**BASE, "efficiency_experiment": value}, base_dir=tmp_path)
    assert "'efficiency_experiment'" in str(err.value) and words in str(err.value)


def test_efficiency_experiment_is_relative_to_the_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "large.yaml").write_text("name: large\ndatasets: [yeast]\nstrategies: [random]\n")
    main = tmp_path / "main.yaml"
    main.write_text("name: main\ndatasets: [yeast]\nstrategies: [random]\nefficiency_experiment: sub/large.yaml\n")
    assert E.load_config(main).efficiency_experiment == tmp_path / "sub" / "large.yaml"
    assert E.load_config(tmp_path / "sub" / "large.yaml").efficiency_experiment is None
    main.write_text("name: main\ndatasets: [yeast]\nstrategies: [random]\nefficiency_experiment: main.yaml\n")
    with pytest.raises(ConfigError, match="names this config itself"):
        E.load_config(main)


def test_the_committed_efficiency_config_is_valid():
    cfg = E.load_config(REPO_ROOT / "experiments" / "xmtc_efficiency.yaml")
    names = {s.name for s in cfg.strategies}
    assert "random" in names and "alps" not in names and len(cfg.seeds) == 3
    assert "comal" not in names and len(names) == 13  # CoMAL is too slow at K = 1,000 on 2 cores (said in the file)
    assert any(d.name.startswith("xmtc-synthetic-") for d in cfg.datasets)


def test_the_efficiency_config_plans_and_the_reproduction_config_can_name_it():
    cfg = E.load_config(REPO_ROOT / "experiments" / "xmtc_efficiency.yaml")
    plan = cfg.plan()
    assert len(plan.runs) == len(cfg.strategies) * 3 and {r.pool_size for r in plan.runs} == {16_000}
    # the line the reproduction config takes: resolved beside it, validated like the rest
    import yaml

    repro = yaml.safe_load((REPO_ROOT / "experiments" / "reproduction.yaml").read_text())
    named = E.ExperimentConfig.from_dict({**repro, "efficiency_experiment": "xmtc_efficiency.yaml"},
                                         base_dir=REPO_ROOT / "experiments")
    assert named.efficiency_experiment == REPO_ROOT / "experiments" / "xmtc_efficiency.yaml"


# ============================================================================ the report's sections
def test_large_k_section_says_how_to_run_it_when_it_has_not_run(tmp_path):
    cfg = tmp_path / "large.yaml"
    cfg.write_text(f"name: large\nstore: {tmp_path / 'large.sqlite'}\ndatasets: [yeast]\nstrategies: [random]\n")
    md = ES.large_k_markdown(cfg)
    assert md.startswith("## Cost against benefit at large K")
    assert "has not been run yet" in md and f"`python -m mlal_core experiment {cfg.as_posix()}`" in md
    (tmp_path / "large.sqlite").write_text("not a database")
    assert "cannot be read" in ES.large_k_markdown(cfg)
    cfg.write_text("name: large\ndatasets: [yeast]\nstrategies: [randon]\n")  # broken since it was named
    assert "cannot be used" in ES.large_k_markdown(cfg) and "did you mean 'random'" in ES.large_k_markdown(cfg)


def _tiny_yaml(path: Path, name: str, store: Path, extra: str = "") -> Path:
    m = ", ".join(f"{k}: {v}" for k, v in FAST_MODEL.items())
    path.write_text(f"name: {name}\nstore: {store}\ndatasets: [yeast]\nmodels: [{{name: mlp_ensemble, params: {{{m}}}}}]\n"
                    "strategies: [random, entropy]\nseeds: 2\ninitial_size: 30\nquery_size: 20\nrounds: 2\n"
                    f"reference: false\nworkers: 0\n{extra}")
    return path


@pytest.mark.slow
def test_report_has_both_cost_sections_from_stored_runs(tmp_path):
    """A real tiny grid; a second config of the same grid and store (its runs shared, not rerun) names it as
    its efficiency experiment: the report has "Cost against benefit" after the per-dataset timings and
    "Cost against benefit at large K" from the other experiment's store."""
    store = tmp_path / "runs.sqlite"
    large = _tiny_yaml(tmp_path / "large.yaml", "large", store)
    main = _tiny_yaml(tmp_path / "main.yaml", "main", store, "efficiency_experiment: large.yaml\n")
    assert "has not been run yet" in ES.large_k_markdown(large)
    assert E.run_experiment(E.load_config(large), workers=0).ok
    assert E.run_experiment(E.load_config(main), workers=0).ok
    text = report.build_report(main, out_dir=tmp_path / "rep", figures=False).read_text()
    i_time, i_cost = text.index("select s / round"), text.index("## Cost against benefit\n")
    i_large, i_stop = text.index("## Cost against benefit at large K"), text.index("## When to stop")
    assert i_time < i_cost < i_large < i_stop
    large_part = text[i_large:i_stop]
    assert "From the experiment `large`" in large_part and "4 finished run(s)" in large_part
    assert text.count("What each strategy costs per round") == 1  # the large-K section refers to it
    assert "| entropy |" in large_part and "| random |" in large_part and "has not been run" not in large_part
    assert (tmp_path / "rep" / "main" / "cost_benefit.csv").is_file()
    assert (tmp_path / "rep" / "main" / "cost_benefit_large_k.csv").is_file()


def test_select_time_is_said_to_include_the_diagnostics_only_for_runs_that_did_not_time_them_apart():
    rounds = _results(GRID).rounds
    older = ES.cost_benefit_markdown(rounds, test="t")
    assert "includes the round's shared diagnostics" in older and "random`'s time is the floor" in older
    newer = ES.cost_benefit_markdown(rounds.assign(time_diagnostics_s=0.5), test="t")
    assert "the strategy's own work, without the round's shared diagnostics" in newer
    assert "is the floor" not in newer
    # one run without the split is enough to keep the careful wording
    mixed = rounds.assign(time_diagnostics_s=[np.nan] + [0.5] * (len(rounds) - 1))
    assert "includes the round's shared diagnostics" in ES.cost_benefit_markdown(mixed, test="t")


def test_a_store_that_is_no_sqlite_database_is_refused_clearly(tmp_path):
    from mlal_core.session.store import StoreError

    bad = tmp_path / "exp.sqlite"
    bad.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(StoreError, match="is not an experiment store .* pass the SQLite file the experiment wrote"):
        E.load_results(bad)
