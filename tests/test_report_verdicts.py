"""Verdict rules of the reproduction report (issue 17): verdicts on Holm-adjusted p-values with the family
stated, "partly" only when the subject is worse than no baseline, rank tables beside the verdicts, and
paired-bootstrap confidence intervals beside the p-values. Synthetic results tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlal_core import experiments as E
from mlal_core.errors import ConfigError
from mlal_core.experiments import analysis as A
from mlal_core.experiments import report

SEEDS = range(5)
RANDOM = np.array([0.50, 0.52, 0.48, 0.51, 0.49])
# paired differences with a known one-sample t-test p-value (n = 5, two-sided)
D_P020 = np.array([0.02, 0.01, 0.03, 0.015, 0.005])  # p = 0.0205
D_P030 = np.array([0.02, 0.004, 0.03, 0.01, 0.011])  # p = 0.0298
D_P040 = np.array([0.03, 0.0, 0.02, 0.01, 0.015])  # p = 0.0399
NOISE = np.array([0.0, 0.01, -0.01, 0.02, -0.02])


def _results(aulc: dict[tuple[str, str], np.ndarray]) -> E.ExperimentResults:
    """Results whose runs have flat learning curves, so a run's AULC is exactly the value given.

    ``aulc``: (setting, strategy) -> the micro-F1 per seed; macro-F1 is micro-F1 - 0.1 (the same
    paired differences).
    """
    rows, runs = [], []
    for (setting, strat), vals in aulc.items():
        for seed in SEEDS:
            runs.append({"setting": setting, "dataset": setting, "strategy": strat, "strategy_name": strat,
                         "seed": seed, "pool_size": 100})
            for t, n in enumerate([10, 20]):
                v = float(vals[seed])
                rows.append({"setting": setting, "dataset": setting, "representation": "raw", "model": "m",
                             "strategy": strat, "seed": seed, "round": t, "n_labeled": n, "pool_size": 100,
                             "final": t == 1, "micro_f1": v, "macro_f1": v - 0.1,
                             "mean_ir_selected": np.nan if t == 1 else 2.0 + 0.01 * seed})
    return E.ExperimentResults(name="synthetic", runs=pd.DataFrame(runs), rounds=pd.DataFrame(rows),
                               references=pd.DataFrame())


def _verdicts(res) -> dict[str, report.ClaimResult]:
    out = report.claim_verdicts(res, metrics=["micro_f1", "macro_f1"], reach_metrics=["micro_f1"],
                                reach_fractions=[1.0], test="t", alpha=0.05)
    return {v.claim.key: v for v in out}


def _verdict_row(markdown: str, paper: str) -> str:
    rows = [ln for ln in markdown.splitlines() if ln.startswith(f"| {paper} |")]
    assert len(rows) == 1, markdown
    return rows[0]


# ============================================================================ unadjusted vs adjusted
def test_the_xmtc_verdict_is_decided_on_holm_adjusted_p_values():
    """Core-Set beats random in all 4 dataset x metric cells unadjusted (p = 0.021, 0.021, 0.030, 0.030),
    in none after Holm over the 4 (4 x 0.0205 = 0.082): the claim holds, as printed."""
    res = _results({("s1", "random"): RANDOM, ("s1", "coreset"): RANDOM + D_P020,
                    ("s2", "random"): RANDOM, ("s2", "coreset"): RANDOM + D_P030})
    # the premise: unadjusted, Core-Set is significantly better in every cell (the old rule: "does not hold")
    unadj = pd.concat([A.paired_tests(A.aulc_per_run(res.rounds, m), baseline="random", test="t")
                       for m in ("micro_f1", "macro_f1")])
    assert len(unadj) == 4 and unadj["better"].all() and (unadj["p"] < 0.05).all()
    assert unadj["p"].min() == pytest.approx(sps.ttest_1samp(D_P020, 0).pvalue)

    v = _verdicts(res)["xmtc"]
    assert v.verdict == "holds", v.evidence
    fam = v.comparisons
    assert len(fam) == 4 and (fam["family_size"] == 4).all()
    assert fam["p_adj"].min() == pytest.approx(4 * sps.ttest_1samp(D_P020, 0).pvalue)
    assert not fam["better_adj"].any()
    assert "4 comparison(s), Holm step-down" in v.family and "every strategy vs random" in v.family
    md = report.verdicts_markdown(list(_verdicts(res).values()), 0.05)
    row = _verdict_row(md, "XMTC study (Fromme et al.)")
    assert "| holds |" in row and "does not hold" not in row
    assert "Holm-adjusted p-values" in md and "not on unadjusted ones" in md
    detail = report._claim_detail_markdown(v)
    assert "**Verdict: holds** (on Holm-adjusted p-values)" in detail and "does not hold" not in detail


def test_a_better_claim_that_holds_unadjusted_does_not_hold_after_holm():
    """CRAB vs random p = 0.030 and vs MMC p = 0.040, both in CRAB's favour: unadjusted it beat every baseline
    ("holds" under the old rule); Holm over the claim's family of 2 gives 0.060 and 0.060, so it beats
    none."""
    crab = RANDOM + D_P030
    res = _results({("d1", "random"): RANDOM, ("d1", "crab"): crab, ("d1", "mmc"): crab - D_P040})
    v = _verdicts(res)["crab_f1"]
    t = v.table.set_index("baseline")
    assert t.loc["random", "p"] == pytest.approx(sps.ttest_1samp(D_P030, 0).pvalue)
    assert t.loc["mmc", "p"] == pytest.approx(sps.ttest_1samp(D_P040, 0).pvalue)
    assert (t["p"] < 0.05).all() and (t["diff"] > 0).all()  # the premise
    assert t.loc["random", "p_holm"] == pytest.approx(2 * t.loc["random", "p"])
    assert t.loc["mmc", "p_holm"] == pytest.approx(2 * t.loc["random", "p"])  # step-down: max(0.0596, 0.0399)
    assert v.verdict == "does not hold" and v.per_setting == {"d1": "does not hold"}
    assert list(t["outcome"]) == ["n.s.", "n.s."]
    assert "2 comparison(s)" in v.family and "crab vs each of random, mmc" in v.family
    row = _verdict_row(report.verdicts_markdown([v]), "CRAB (Qi et al.)")
    assert "| does not hold |" in row and "| holds |" not in row


# ============================================================================ partly vs does not hold
def test_partly_needs_worse_than_none():
    """CRAB far above random and far below MMC: significantly worse than one baseline, so "does not hold"
    (the old rule said "partly": it beat some baseline)."""
    crab = RANDOM + 0.1 + 0.1 * NOISE
    res = _results({("d1", "random"): RANDOM, ("d1", "crab"): crab,
                    ("d1", "mmc"): crab + 0.1 + 0.1 * NOISE[::-1]})
    v = _verdicts(res)["crab_f1"]
    t = v.table.set_index("baseline")
    assert t.loc["random", "outcome"] == "better" and t.loc["mmc", "outcome"] == "worse"
    assert v.verdict == "does not hold"
    assert "worse" in v.evidence and "\u2192 **does not hold**" in v.evidence
    assert "| does not hold |" in _verdict_row(report.verdicts_markdown([v]), "CRAB (Qi et al.)")


def test_partly_when_better_than_some_and_worse_than_none():
    crab = RANDOM + 0.1 + 0.1 * NOISE
    res = _results({("d1", "random"): RANDOM, ("d1", "crab"): crab,
                    ("d1", "mmc"): crab + np.array([0.01, -0.01, 0.02, -0.02, 0.005])})
    v = _verdicts(res)["crab_f1"]
    t = v.table.set_index("baseline")
    assert t.loc["random", "outcome"] == "better" and t.loc["mmc", "outcome"] == "n.s."
    assert v.verdict == "partly"


def test_decide_verdict_words():
    def cells(better, worse):
        return pd.DataFrame({"better_adj": better, "worse_adj": worse})

    assert report.decide_verdict(cells([True, True], [False, False])) == "holds"
    assert report.decide_verdict(cells([True, False], [False, False])) == "partly"
    assert report.decide_verdict(cells([True, False], [False, True])) == "does not hold"
    assert report.decide_verdict(cells([False, False], [False, False])) == "does not hold"
    assert report.decide_verdict(pd.DataFrame(columns=["better_adj", "worse_adj"])) == "not assessed"


# ============================================================================ ranks
def test_rank_table_beside_each_verdict():
    crab = RANDOM + 0.1 + 0.1 * NOISE
    res = _results({("d1", "random"): RANDOM, ("d1", "crab"): crab,
                    ("d1", "mmc"): crab + 0.1 + 0.1 * NOISE[::-1]})
    v = _verdicts(res)["crab_f1"]
    ranks = v.ranks.set_index("setting")
    assert list(ranks.columns) == ["metric", "seeds", "crab", "random", "mmc"]
    assert (ranks.loc["d1", "mmc"], ranks.loc["d1", "crab"], ranks.loc["d1", "random"]) == (1.0, 2.0, 3.0)
    assert ranks.loc["d1", "seeds"] == 5
    row = _verdict_row(report.verdicts_markdown([v]), "CRAB (Qi et al.)")
    assert "crab: d1 Micro-F1 2.0 of 3" in row
    assert "Mean rank over seeds (1 = best)" in report._claim_detail_markdown(v)


def test_mean_ranks_by_hand():
    pr = pd.DataFrame({"setting": "s", "strategy": ["a", "b", "c"] * 2, "seed": [0, 0, 0, 1, 1, 1],
                       "aulc": [0.9, 0.5, 0.5, 0.1, 0.2, 0.3]})
    r = A.mean_ranks(pr).set_index("strategy")["mean_rank"]
    # seed 0: a 1, b and c tied (2.5 each); seed 1: c 1, b 2, a 3
    assert r.to_dict() == {"a": 2.0, "b": 2.25, "c": 1.75}
    low = A.mean_ranks(pr, higher_is_better=False).set_index("strategy")["mean_rank"]
    assert low.to_dict() == {"a": 2.0, "b": 1.75, "c": 2.25}


# ============================================================================ bootstrap CI
def test_bootstrap_ci_hand_checkable_cases():
    lo, hi = A.bootstrap_ci([0.1] * 5)  # identical differences: a zero-width interval at their value
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1) and hi - lo == pytest.approx(0.0, abs=1e-15)
    # two differences 0 and 1: resampled means are 0, 0.5, 1 with probability 1/4, 1/2, 1/4
    assert A.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    assert A.bootstrap_ci([0.0, 1.0], confidence=0.4) == (0.5, 0.5)
    d = np.array([0.03, -0.01, 0.02, 0.05, 0.0])
    first = A.bootstrap_ci(d, seed=7)
    assert A.bootstrap_ci(d, seed=7) == first  # a seeded result reproduces
    assert first[0] <= d.mean() <= first[1] and d.min() <= first[0] and first[1] <= d.max()
    assert all(np.isnan(A.bootstrap_ci([0.2])))  # one seed: no interval
    with pytest.raises(ConfigError):
        A.bootstrap_ci(d, confidence=1.0)


def test_every_p_value_in_the_tables_has_its_effect_interval():
    crab = RANDOM + D_P030
    res = _results({("d1", "random"): RANDOM, ("d1", "crab"): crab, ("d1", "mmc"): crab - D_P040})
    pt = A.paired_tests(A.aulc_per_run(res.rounds, "micro_f1"), baseline="random", test="t")
    r = pt.set_index("strategy").loc["crab"]
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(A.bootstrap_ci(D_P030))
    assert r["ci_low"] <= r["mean_diff"] <= r["ci_high"]
    v = _verdicts(res)["crab_f1"]
    lo, hi = A.bootstrap_ci(D_P030)
    assert v.table.set_index("baseline").loc["random", "95% CI"] == f"[{lo:+.3f}, {hi:+.3f}]"
    assert f"[{lo:+.3f}, {hi:+.3f}], t-test p = " in v.evidence
    xm = _verdicts(res)["xmtc"]
    assert xm.comparisons[["ci_low", "ci_high"]].notna().all().all()
    assert "95% CI" in report._claim_detail_markdown(xm)


# ============================================================================ Holm
def test_holm_and_holm_family_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04
    # -> running max 0.02, 0.03, 0.06, 0.06, back in input order
    np.testing.assert_allclose(A.holm(p), [0.03, 0.06, 0.06, 0.02])
    tests = pd.DataFrame({"p": p + [np.nan], "mean_diff": [0.1, 0.1, 0.1, -0.1, 0.0]})
    fam = A.holm_family(tests, alpha=0.05)
    np.testing.assert_allclose(fam["p_adj"].to_numpy()[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(fam["p_adj"].iloc[4]) and (fam["family_size"] == 4).all()
    assert fam["better_adj"].tolist() == [True, False, False, False, False]
    assert fam["worse_adj"].tolist() == [False, False, False, True, False]
    lower = A.holm_family(tests, alpha=0.05, higher_is_better=False)
    assert lower["better_adj"].tolist() == [False, False, False, True, False]


def test_the_rules_are_stated_with_family_and_words():
    text = report.verdict_rules_markdown(0.05)
    assert text.startswith("## Verdict rules")
    assert "Holm's step-down method, one family per claim" in text
    assert "comparisons between baselines are not in it" in text
    assert "**Verdicts are decided on the Holm-adjusted p-values**" in text
    assert ("**holds**: significantly better (adjusted p < 0.05) than every baseline the paper names, on "
            "every dataset and metric the claim covers") in text
    assert "**partly**: significantly better than at least one baseline" in text
    assert "significantly worse than none on any" in text and "**does not hold**: otherwise" in text
    assert "paired bootstrap over seeds" in text and "10,000 times" in text


# ============================================================================ balance with coverage
def _balance_results(meanir: dict[str, np.ndarray], coverage: dict[str, np.ndarray]) -> E.ExperimentResults:
    """One setting; each run's mean MeanIR of its batches and mean labelled-set coverage are as given."""
    rows, runs = [], []
    for strat in meanir:
        for seed in SEEDS:
            runs.append({"setting": "s", "dataset": "s", "strategy": strat, "strategy_name": strat, "seed": seed,
                         "pool_size": 100})
            for t, n in enumerate([10, 20, 30]):
                rows.append({"setting": "s", "dataset": "s", "representation": "raw", "model": "m",
                             "strategy": strat, "seed": seed, "round": t, "n_labeled": n, "pool_size": 100,
                             "final": t == 2, "micro_f1": 0.5, "macro_f1": 0.4,
                             "mean_ir_selected": np.nan if t == 2 else float(meanir[strat][seed]),
                             "label_coverage": float(coverage[strat][seed])})
    return E.ExperimentResults(name="balance", runs=pd.DataFrame(runs), rounds=pd.DataFrame(rows),
                               references=pd.DataFrame())


LOW_MIR = np.array([2.0, 2.1, 1.9, 2.05, 1.95])
HIGH_MIR = np.array([5.0, 5.3, 4.8, 5.1, 4.9])
WIDE = np.array([0.70, 0.72, 0.69, 0.71, 0.73])


def test_a_low_meanir_low_coverage_subject_does_not_get_holds():
    # CRAB picks narrow batches: MeanIR far lower than every baseline, coverage far lower too
    narrow = np.array([0.40, 0.42, 0.41, 0.39, 0.43])
    res = _balance_results({"crab": LOW_MIR, "random": HIGH_MIR, "mmc": HIGH_MIR + 0.2},
                           {"crab": narrow, "random": WIDE, "mmc": WIDE - 0.01})
    v = _verdicts(res)["crab_meanir"]
    fam = v.comparisons
    assert fam["meanir_better_adj"].all()  # on MeanIR alone it would hold
    assert report.decide_verdict(fam.assign(better_adj=fam["meanir_better_adj"],
                                            worse_adj=fam["meanir_worse_adj"])) == "holds"
    assert fam["coverage_worse_adj"].all()
    assert v.verdict == "does not hold"
    assert v.per_setting == {"s": "does not hold"}
    assert set(v.table["coverage"]) == {"lower"}
    assert "coverage" in v.evidence and "second Holm family" in v.family


def test_a_low_meanir_subject_with_no_lower_coverage_holds():
    same = WIDE + NOISE / 10
    res = _balance_results({"crab": LOW_MIR, "random": HIGH_MIR, "mmc": HIGH_MIR + 0.2},
                           {"crab": same, "random": WIDE, "mmc": WIDE})
    v = _verdicts(res)["crab_meanir"]
    assert not v.comparisons["coverage_worse_adj"].any()
    assert v.verdict == "holds"


def test_lower_coverage_than_one_baseline_counts_as_worse_than_it():
    # lower MeanIR than both; coverage lower than random's only -> worse than random -> does not hold
    res = _balance_results({"crab": LOW_MIR, "random": HIGH_MIR, "mmc": HIGH_MIR},
                           {"crab": WIDE - 0.2 + NOISE / 10, "random": WIDE, "mmc": WIDE - 0.2 - NOISE / 20})
    v = _verdicts(res)["crab_meanir"]
    by = v.comparisons.set_index("other")
    assert bool(by.loc["random", "worse_adj"]) and bool(by.loc["mmc", "better_adj"])
    assert v.verdict == "does not hold"


def test_balance_comparisons_by_hand():
    mir = pd.DataFrame({"setting": ["s", "s", "s"], "strategy": ["crab"] * 3, "other": ["a", "b", "c"],
                        "better_adj": [True, True, False], "worse_adj": [False, False, True]})
    cov = pd.DataFrame({"setting": ["s", "s"], "other": ["a", "b"],
                        "better_adj": [False, False], "worse_adj": [False, True]})
    out = report.balance_comparisons(mir, cov).set_index("other")
    # a: lower MeanIR, coverage n.s. -> better; b: lower MeanIR but lower coverage -> worse;
    # c: higher MeanIR, no coverage row (counts as not lower) -> worse
    assert out["better_adj"].tolist() == [True, False, False]
    assert out["worse_adj"].tolist() == [False, True, True]
    assert report.decide_verdict(out.loc[["a"]]) == "holds"
    assert report.decide_verdict(out) == "does not hold"


def test_the_balance_rule_is_stated():
    text = report.verdict_rules_markdown(0.05)
    assert "no lower label coverage" in text and "second Holm family" in text
