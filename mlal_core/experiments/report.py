"""The reproduction report: ``python -m mlal_core report CONFIG --out reports/``.

Reads an experiment's finished runs from its store (:func:`mlal_core.experiments.load_results`),
computes the analysis of :mod:`mlal_core.experiments.analysis` and writes ``<out>/<experiment>.md`` with
figures (PNG through :mod:`mlal_core.export`; standalone HTML when no browser is available for
static export) under ``<out>/figures/<experiment>_*`` and the tables as CSV under
``<out>/<experiment>/``.

Each paper's main claim gets a verdict computed from the numbers by the rules below (the text
around the numbers is a template; the caveats are written out in ``CAVEATS``):

* "better than the baselines" (CRAB micro-F1, CoMAL P@k / micro-F1): per setting, the paired
  comparison of the claimed strategy's AULC with each baseline's over seeds. **holds**: higher mean
  than every baseline and significantly higher (p < alpha, the test named in the table) than each;
  **holds in the mean**: higher mean than every baseline, not significant against all;
  **partly**: higher mean than some baselines; **does not hold**: higher than none.
* CRAB "lower MeanIR of the selected samples": the same with each run's mean MeanIR of its selected
  batches, lower is better.
* BEAL "fewer labels to reach the full-data score": per setting and target (a fraction of the
  full-data score of the same model and seed), the labelled fraction each run needed (runs that
  never reached it count as needing more than the budget); a strategy needs fewer labels than
  another when it reached the target in more runs, or as many and with a smaller median fraction.
  The verdict is given at the paper's target (100 %) when half the runs of some strategy reached
  it, else at the highest configured target where that is true, and says so.
* XMTC "no strategy beats random everywhere": a strategy beats random everywhere when its AULC is
  significantly higher than random's in every setting for every metric checked (micro- and
  macro-F1); the claim **holds** when no strategy does.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from mlal_core.errors import ConfigError
from mlal_core.experiments import analysis as A

__all__ = ["CLAIMS", "Claim", "build_report", "claim_verdicts", "md_table"]


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A claim of a paper the reproduction report checks.

    Attributes
    ----------
    key : str
        Its id in :func:`claim_verdicts`' results.
    paper : str
        The paper, as the report names it.
    statement : str
        The claim in words, with the figure or table of the paper it comes from.
    subject : str or None
        The strategy the claim is about (None: about every strategy).
    baselines : tuple of str
        The strategies it is compared with.
    metrics : tuple of str
        The metrics (or ``mean_ir_selected``) it is checked on.
    kind : {"better", "meanir", "reach", "random"}
        How it is checked: a higher AULC than the baselines, a lower mean MeanIR of the selected
        batches, fewer labels to reach the full-data score, or no strategy better than random
        everywhere.
    missing_note : str
        What of the paper's setup the workbench lacks (a baseline not implemented, ...).
    """

    key: str
    paper: str
    statement: str
    subject: str | None
    baselines: tuple[str, ...]
    metrics: tuple[str, ...]
    kind: str  # "better" | "meanir" | "reach" | "random"
    missing_note: str = ""


#: the claims of the four papers the reproduction report checks
CLAIMS: tuple[Claim, ...] = (
    Claim(key="crab_f1", paper="CRAB (Qi et al.)",
          statement="CRAB reaches a better micro-F1 than the baselines (Fig. 2).", subject="crab",
          baselines=("random", "mmc", "audi", "adaptive", "besra"), metrics=("micro_f1",), kind="better",
          missing_note="CMAL, a CRAB baseline, is not implemented in the workbench."),
    Claim(key="crab_meanir", paper="CRAB (Qi et al.)",
          statement="CRAB selects batches with a lower MeanIR (more balanced labels) than the baselines (Fig. 4).",
          subject="crab", baselines=("random", "mmc", "audi", "adaptive", "besra"), metrics=("mean_ir_selected",),
          kind="meanir"),
    Claim(key="beal", paper="BEAL (Wang et al.)",
          statement="BEAL needs fewer labelled samples than BALD, Core-Set and BADGE to reach the score of the "
                    "model trained on all data (Table 2).",
          subject="beal", baselines=("bald", "coreset", "badge"), metrics=("micro_f1", "macro_f1"), kind="reach"),
    Claim(key="comal", paper="CoMAL (Peng et al.)",
          statement="CoMAL reaches a better P@k and micro-F1 than its baselines (Fig. 3, 4).", subject="comal",
          baselines=("random", "mmc", "adaptive", "cvirs", "coreset", "badge", "audi"),
          metrics=("p@1", "p@3", "micro_f1"), kind="better",
          missing_note="LLoss and GP-B2M, CoMAL baselines, are not implemented in the workbench."),
    Claim(key="xmtc", paper="XMTC study (Fromme et al.)",
          statement="No sampling strategy beats random selection on every dataset (Fig. 2, 3).", subject=None,
          baselines=("random",), metrics=("micro_f1", "macro_f1"), kind="random",
          missing_note="ALPS is not run: the bundled MiniLM encoder has no masked-LM head."),
)

PAPER_DATASETS = ("CRAB: RCV1, UKLEX, EURLEX, MIMIC-III; BEAL: AAPD, StackOverflow; CoMAL: RCV1, AAPD, JustDance, "
                  "EURLex-4K; XMTC: EurLex, NYT, Yelp, arXiv, RCV1, AG News, Toxic")


def _caveats(config) -> str:
    reps = sorted({r for r in config.representations})
    rep_text = {"minilm": "frozen all-MiniLM-L6-v2 sentence embeddings", "tfidf": "TF-IDF vectors",
                "raw": "the datasets' own (standardised) features", "auto": "the default representation (MiniLM "
                "embeddings for text, the raw features for tabular sets)"}
    models = "; ".join(f"{m.name} {m.params or '(session defaults)'}" for m in config.models)
    names = ", ".join(d.name for d in config.datasets)
    return (
        f"* **Backbone and compute.** Every run uses {' / '.join(rep_text.get(r, r) for r in reps)} with a model "
        f"trained from scratch each round ({models}), on the CPU by default. The papers fine-tune BERT / "
        "DistilBERT or train TextCNN / TextRNN on GPUs with longer schedules. Absolute scores are lower than the "
        "papers', and which samples help a frozen-feature model can differ from what helps a fine-tuned one.\n"
        f"* **Datasets.** The datasets here ({names}) are not the papers' ({PAPER_DATASETS}); Reuters-21578 (news, "
        "90 labels, very imbalanced) is the closest to RCV1. This tests whether the claims carry over, not an "
        "exact replication.\n" + CAVEATS
    )


CAVEATS = """\
* **Budgets.** The budgets fit a 2-core CPU and are much smaller than the papers' (the labelled fraction
  at the end of the budget is in the tables). Claims about late rounds, and BEAL's "fraction of the data
  needed to match all data", can only be checked inside that budget: a curve that has not reached the
  target is censored at the budget's end, not counted as failing for good.
* **Candidate subsets.** Where a dataset sets `candidate_subset`, every strategy scores the same-size
  seeded random subset of the unlabelled pool each round (the whole pool is still predicted). This bounds
  the cost of the expensive strategies, and limits how rare a sample any strategy can find.
* **Statistics.** Seeds are paired (same initial set and model seeds for every strategy). With 5 seeds the
  two-sided Wilcoxon signed-rank test cannot go below p = 0.0625, so verdicts use the paired t-test below
  6 seeds (it assumes roughly normal differences) and report Wilcoxon beside it. Verdicts use unadjusted
  p-values at the configured alpha; Holm-adjusted values are in the tables, and with several baselines per
  claim a single "significant" comparison is weak evidence.
* **Implementations.** The strategies follow `METHODS.md`; where a paper leaves a choice open, the
  workbench's documented choice is used (e.g. BEAL's and BALD's probability samples are the ensemble
  members unless `mc_passes` is set; CoMAL's contrastive module sits on the frozen features; CRAB's
  per-label pool size is scaled to the pool).
"""


# ====================================================================== formatting
def _f(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(v):
        return "-"
    return f"{v:.{digits}f}"


def _p(v) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _pct(v, digits: int = 1) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return f"{100 * v:.{digits}f} %"


def md_table(df: pd.DataFrame, columns: Sequence[str] | None = None, headers: Sequence[str] | None = None,
             formats: dict[str, Callable] | None = None) -> str:
    """A GitHub-flavoured markdown table.

    Parameters
    ----------
    df : DataFrame
    columns : sequence of str, optional
        The columns shown (default all).
    headers : sequence of str, optional
        Their headers (default the column names).
    formats : dict, optional
        Column -> value formatter; floats default to 3 significant decimals, ``|`` is escaped.

    Returns
    -------
    str
    """
    columns = list(columns or df.columns)
    headers = list(headers or columns)
    formats = formats or {}
    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    for row in df[columns].itertuples(index=False):
        cells = []
        for c, v in zip(columns, row):
            fmt = formats.get(c)
            if fmt is not None:
                s = fmt(v)
            elif isinstance(v, float):
                s = _f(v)
            else:
                s = str(v)
            cells.append(s.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_").lower() or "x"


def _mean_std(m, s) -> str:
    return f"{_f(m)} \u00b1 {_f(s)}"


# ====================================================================== verdict helpers
def _label_of(runs: pd.DataFrame, name: str) -> str | None:
    """The strategy label in the results that runs registry strategy ``name`` (label == name first)."""
    if runs.empty:
        return None
    labels = runs.loc[runs["strategy_name"] == name, "strategy"].unique().tolist()
    if not labels:
        return None
    return name if name in labels else labels[0]


def _combine(per_setting: dict[str, str]) -> str:
    vals = set(per_setting.values())
    if not per_setting:
        return "not assessed"
    if len(vals) == 1:
        return vals.pop()
    return "; ".join(f"{v} on {s}" for s, v in per_setting.items())


def _better_verdict(subject_mean: float, rows: pd.DataFrame, higher_is_better: bool = True) -> str:
    if rows.empty or not np.isfinite(subject_mean):
        return "not assessed"
    means = rows["mean_b"].to_numpy(float)
    beats = (subject_mean > means) if higher_is_better else (subject_mean < means)
    if beats.all():
        return "holds" if rows["better"].all() else "holds in the mean (not significant against all)"
    if beats.any():
        return "partly"
    return "does not hold"


@dataclass
class ClaimResult:
    """The verdict on one :class:`Claim`.

    Attributes
    ----------
    claim : Claim
    verdict : str
        ``holds``, ``holds in the mean``, ``partly``, ``does not hold``, ``not assessed``, or the
        per-setting verdicts joined when they differ.
    evidence : str
        The numbers behind it, as markdown bullet lines.
    per_setting : dict
        Setting -> its verdict.
    table : DataFrame or None
        The comparisons (one row per setting, metric and baseline).
    notes : list of str
        What the check could not cover (baselines absent, ...).
    """

    claim: Claim
    verdict: str
    evidence: str
    _: KW_ONLY
    per_setting: dict = field(default_factory=dict)
    table: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def _claim_better(claim: Claim, res, per_run: dict, tests_cfg: dict) -> ClaimResult:
    if claim.subject is None:
        raise ValueError(f"Claim {claim.key!r} of kind {claim.kind!r} needs a subject strategy.")
    runs = res.runs
    subj = _label_of(runs, claim.subject)
    if subj is None:
        return ClaimResult(claim, "not assessed", f"`{claim.subject}` is not in this experiment.")
    base = [(b, _label_of(runs, b)) for b in claim.baselines]
    present = [lab for _, lab in base if lab is not None]
    absent = [b for b, lab in base if lab is None]
    if not present:
        return ClaimResult(claim, "not assessed", "none of the baselines is in this experiment.")
    higher = claim.kind != "meanir"
    rows, per_setting, evidence = [], {}, []
    for metric in claim.metrics:
        pr = per_run[metric]
        for setting, d in pr.groupby("setting", sort=False):
            wide_strats = set(d["strategy"])
            if subj not in wide_strats:
                continue
            tests = A.paired_tests(d, value="value" if claim.kind == "meanir" else "aulc", baseline=None,
                                   strategies=[subj] + [b for b in present if b in wide_strats],
                                   higher_is_better=higher, test=tests_cfg["test"], alpha=tests_cfg["alpha"])
            tests = tests[tests["strategy"] == subj]
            if tests.empty:
                continue
            col = "value" if claim.kind == "meanir" else "aulc"
            subj_vals = d.loc[d["strategy"] == subj, col]
            subj_mean, subj_std = float(subj_vals.mean()), float(subj_vals.std(ddof=1)) if len(subj_vals) > 1 else float("nan")
            verdict = _better_verdict(subj_mean, tests, higher)
            key = setting if len(claim.metrics) == 1 else f"{setting} ({A.metric_name(metric)})"
            per_setting[key] = verdict
            best = tests.sort_values("mean_b", ascending=not higher).iloc[0]
            sig_for = tests.loc[tests["better"], "other"].tolist()
            sig_against = tests.loc[tests["worse"], "other"].tolist()
            what = "mean MeanIR of the selected batches" if claim.kind == "meanir" else f"{A.metric_name(metric)} AULC"
            text = (f"{key}: {subj} {what} {_mean_std(subj_mean, subj_std)} vs the best baseline {best['other']} "
                    f"{_f(best['mean_b'])} (\u0394 {best['mean_diff']:+.3f}, {best['test']}-test p = {_p(best['p'])}); "
                    f"significantly {'better' if higher else 'lower'} than: {', '.join(sig_for) or 'none'}")
            if sig_against:
                text += f"; significantly {'worse' if higher else 'higher'} than: {', '.join(sig_against)}"
            evidence.append(text + f" \u2192 **{verdict}**.")
            for r in tests.itertuples(index=False):
                rows.append({"setting": setting, "metric": A.metric_name(metric), "baseline": r.other,
                             "subject": _mean_std(subj_mean, subj_std), "baseline_mean": r.mean_b,
                             "diff": r.mean_diff, "wins": f"{r.wins}/{r.n}", "test": r.test, "p": r.p,
                             "p_holm": r.p_holm, "significant": "yes" if (r.better or r.worse) else "no"})
    notes = []
    if absent:
        notes.append(f"Baselines not in this experiment: {', '.join(absent)}.")
    if claim.missing_note:
        notes.append(claim.missing_note)
    table = pd.DataFrame(rows)
    return ClaimResult(claim, _combine(per_setting), "\n".join(f"- {e}" for e in evidence), per_setting=per_setting,
                       table=table, notes=notes)


def _reach_cmp(a: pd.Series, b: pd.Series) -> int:
    """+1 when strategy a needs fewer labels than b (reach_summary rows), -1 more, 0 same."""
    if a["reached"] != b["reached"]:
        return 1 if a["reached"] > b["reached"] else -1
    ma = a["median_fraction"] if np.isfinite(a["median_fraction"]) else np.inf
    mb = b["median_fraction"] if np.isfinite(b["median_fraction"]) else np.inf
    if ma == mb:
        ra = a["mean_reached"] if np.isfinite(a["mean_reached"]) else np.inf
        rb = b["mean_reached"] if np.isfinite(b["mean_reached"]) else np.inf
        return 0 if ra == rb else (1 if ra < rb else -1)
    return 1 if ma < mb else -1


def _claim_reach(claim: Claim, res, reach: dict, per_run: dict, tests_cfg: dict) -> ClaimResult:
    if claim.subject is None:
        raise ValueError(f"Claim {claim.key!r} of kind {claim.kind!r} needs a subject strategy.")
    runs = res.runs
    subj = _label_of(runs, claim.subject)
    if subj is None:
        return ClaimResult(claim, "not assessed", f"`{claim.subject}` is not in this experiment.")
    present = [lab for lab in (_label_of(runs, b) for b in claim.baselines) if lab is not None]
    absent = [b for b in claim.baselines if _label_of(runs, b) is None]
    if not present:
        return ClaimResult(claim, "not assessed", "none of the baselines is in this experiment.")
    if res.references.empty:
        return ClaimResult(claim, "not assessed", "no full-data reference was computed (set `reference: true`).")
    per_setting, evidence, rows = {}, [], []
    for metric in claim.metrics:
        summ = reach.get(metric)
        if summ is None or summ.empty:
            continue
        for setting, d in summ.groupby("setting", sort=False):
            d = d[d["strategy"].isin([subj] + present)]
            if subj not in set(d["strategy"]):
                continue
            fractions = sorted(d["target_fraction"].unique(), reverse=True)
            chosen = None
            for f in fractions:  # the highest target that half the runs of some strategy reached
                if d.loc[d["target_fraction"] == f, "median_fraction"].notna().any():
                    chosen = f
                    break
            key = f"{setting} ({A.metric_name(metric)})"
            full = per_run[("reach", metric)]
            full = full[full["setting"] == setting]["full_data"].mean()
            budget = d["budget_fraction"].max()
            if chosen is None:
                per_setting[key] = "cannot be assessed at this budget"
                evidence.append(
                    f"{key}: no strategy among {subj}, {', '.join(present)} had half its runs reach even "
                    f"{_pct(min(fractions), 0)} of the full-data score ({_f(full)}) within the budget "
                    f"({_pct(budget)} of the pool labelled) \u2192 **cannot be assessed at this budget**.")
                continue
            dd = d[d["target_fraction"] == chosen].set_index("strategy")
            s_row = dd.loc[subj]
            cmp = {b: _reach_cmp(s_row, dd.loc[b]) for b in present if b in dd.index}
            if all(v == 0 for v in cmp.values()):
                verdict = "no difference"
            elif all(v > 0 for v in cmp.values()):
                verdict = "holds"
            elif any(v > 0 for v in cmp.values()):
                verdict = "partly"
            else:
                verdict = "does not hold"
            if chosen < 1.0:
                verdict += f" (at {_pct(chosen, 0)} of the full-data score)"
            per_setting[key] = verdict
            parts = [f"{s} {int(dd.loc[s, 'reached'])}/{int(dd.loc[s, 'n'])} runs, median {_pct(dd.loc[s, 'median_fraction'])}"
                     for s in [subj] + [b for b in present if b in dd.index]]
            note = "" if chosen == 1.0 else (f"; no strategy had half its runs reach 100 % of the full-data score "
                                              f"({_f(full)}) within {_pct(budget)} of the pool, so the target is "
                                              f"{_pct(chosen, 0)} of it")
            evidence.append(f"{key}, target {_pct(chosen, 0)} of the full-data score: " + "; ".join(parts)
                            + note + f" \u2192 **{verdict}**.")
            for s in [subj] + present:
                if s in dd.index:
                    r = dd.loc[s]
                    rows.append({"setting": setting, "metric": A.metric_name(metric), "target": _pct(chosen, 0),
                                 "strategy": s, "reached": f"{int(r['reached'])}/{int(r['n'])}",
                                 "median_fraction": r["median_fraction"], "mean_reached": r["mean_reached"],
                                 "budget_fraction": r["budget_fraction"]})
    notes = [f"Baselines not in this experiment: {', '.join(absent)}."] if absent else []
    # secondary evidence: AULC
    aulc = per_run.get("micro_f1")
    if aulc is not None:
        t = A.paired_tests(aulc, baseline=None, strategies=[subj] + present, test=tests_cfg["test"],
                           alpha=tests_cfg["alpha"])
        t = t[t["strategy"] == subj]
        if not t.empty:
            notes.append("Micro-F1 AULC, as secondary evidence: " + "; ".join(
                f"{r.setting}: vs {r.other} \u0394 {r.mean_diff:+.3f} ({r.test}-test p = {_p(r.p)})"
                for r in t.itertuples(index=False)) + ".")
    return ClaimResult(claim, _combine(per_setting), "\n".join(f"- {e}" for e in evidence), per_setting=per_setting,
                       table=pd.DataFrame(rows), notes=notes)


def _claim_random(claim: Claim, res, per_run: dict, tests_cfg: dict, baseline: str) -> ClaimResult:
    runs = res.runs
    rnd = _label_of(runs, "random") or baseline
    if rnd not in set(runs["strategy"]):
        return ClaimResult(claim, "not assessed", "random selection is not in this experiment.")
    settings = list(pd.unique(runs["setting"]))
    others = [s for s in pd.unique(runs["strategy"]) if s != rnd]
    rows = []
    everywhere_sig, everywhere_mean = [], []
    for s in others:
        cells_sig, cells_mean, cells = 0, 0, 0
        worse = 0
        for metric in claim.metrics:
            t = A.paired_tests(per_run[metric], baseline=rnd, strategies=[s, rnd], test=tests_cfg["test"],
                               alpha=tests_cfg["alpha"])
            for setting in settings:
                r = t[(t["setting"] == setting) & (t["strategy"] == s)]
                if r.empty:
                    continue
                r = r.iloc[0]
                cells += 1
                cells_sig += bool(r["better"])
                cells_mean += bool(r["mean_diff"] > 0)
                worse += bool(r["worse"])
        if cells == 0:
            continue
        if cells_sig == cells:
            everywhere_sig.append(s)
        if cells_mean == cells:
            everywhere_mean.append(s)
        rows.append({"strategy": s, "cells": cells, "significantly_better": cells_sig, "better_in_mean": cells_mean,
                     "significantly_worse": worse})
    table = pd.DataFrame(rows)
    n_cells = len(settings) * len(claim.metrics)
    verdict = "holds" if not everywhere_sig else "does not hold"
    ev = (f"- Checked: {len(others)} strategies x {len(settings)} setting(s) x "
          f"{', '.join(A.metric_name(m) for m in claim.metrics)} AULC = up to {n_cells} comparisons with random each.")
    ev += (f"\n- Significantly better than random in every comparison: {', '.join(everywhere_sig) or 'none'}"
           f" \u2192 **{verdict}**.")
    ev += f"\n- Better than random in the mean in every comparison (a weaker reading): {', '.join(everywhere_mean) or 'none'}."
    if len(settings) < 2:
        ev += "\n- Only one setting: 'everywhere' means this one dataset here."
    notes = [claim.missing_note] if claim.missing_note else []
    return ClaimResult(claim, verdict, ev, per_setting={"all": verdict}, table=table, notes=notes)


def claim_verdicts(res, *, metrics: Sequence[str], reach_metrics: Sequence[str], reach_fractions: Sequence[float],
                   baseline: str = "random", test: str = "auto", alpha: float = 0.05) -> list[ClaimResult]:
    """Evaluate :data:`CLAIMS` on an experiment's results.

    Parameters
    ----------
    res : ExperimentResults
        :func:`mlal_core.experiments.load_results`' frames.
    metrics : sequence of str
        The metrics whose AULC is compared (besides those the claims name).
    reach_metrics : sequence of str
        The metrics of the reach claim (BEAL Table 2).
    reach_fractions : sequence of float
        Its targets, as fractions of the full-data score.
    baseline : str
        The strategy of the "better than random" claim.
    test : {"auto", "t", "wilcoxon"}
        The paired test (:func:`mlal_core.experiments.analysis.paired_tests`).
    alpha : float
        The significance level.

    Returns
    -------
    list of ClaimResult
        One per claim, in :data:`CLAIMS` order.
    """
    tests_cfg = {"test": test, "alpha": alpha}
    needed = set(metrics) | {"micro_f1", "macro_f1", "p@1", "p@3"}
    per_run: dict = {}
    for m in needed:
        if m in res.rounds.columns:
            per_run[m] = A.aulc_per_run(res.rounds, m)
    per_run["mean_ir_selected"] = A.per_run_mean(res.rounds, "mean_ir_selected")
    reach = {}
    for m in reach_metrics:
        rp = A.reach_per_run(res.rounds, res.references, m, fractions=reach_fractions)
        per_run[("reach", m)] = rp
        reach[m] = A.reach_summary(rp)
    out = []
    for c in CLAIMS:
        if c.kind == "better":
            out.append(_claim_better(c, res, per_run, tests_cfg))
        elif c.kind == "meanir":
            out.append(_claim_better(c, res, {"mean_ir_selected": per_run["mean_ir_selected"]}, tests_cfg))
        elif c.kind == "reach":
            out.append(_claim_reach(c, res, reach, per_run, tests_cfg))
        else:
            out.append(_claim_random(c, res, per_run, tests_cfg, baseline))
    return out


# ====================================================================== the report
class _Figures:
    def __init__(self, folder: Path, rel: str, formats: Sequence[str], log, prefix: str = "") -> None:
        self.folder, self.rel, self.formats, self.log, self.prefix = folder, rel, list(formats), log, prefix
        self.written: list[Path] = []
        from mlal_core import export

        ok, why = export.static_export_available()
        if not ok and any(f != "html" for f in self.formats):
            log(f"static figure export unavailable ({why}); writing HTML figures instead")
            self.formats = ["html"]

    def add(self, fig, name: str, alt: str) -> str:
        from mlal_core import export

        links = []
        name = self.prefix + name
        for fmt in self.formats:
            path = self.folder / f"{name}.{fmt}"
            try:
                # HTML figures load plotly.js from its CDN (a few kB each instead of ~4.6 MB)
                export.write_figure(fig, path, **({"scale": 2} if fmt == "png" else
                                                  {"include_plotlyjs": "cdn"} if fmt == "html" else {}))
            except Exception as exc:  # noqa: BLE001 - one figure must not sink the report
                self.log(f"figure {name}.{fmt} failed ({exc}); writing HTML")
                path = self.folder / f"{name}.html"
                export.write_figure(fig, path, include_plotlyjs="cdn")
            self.written.append(path)
            links.append(f"{self.rel}/{path.name}")
        first = links[0]
        if first.endswith((".png", ".svg")):
            return f"![{alt}]({first})"
        return f"[{alt}]({first})"


def _aulc_table(t: pd.DataFrame, tests: pd.DataFrame, metrics: Sequence[str], baseline: str,
                order: Sequence[str]) -> pd.DataFrame:
    """The AULC table of one setting: per metric, mean \u00b1 std and the paired difference with
    ``baseline``, one row per strategy in ``order`` (``t``, ``tests``: the setting's summaries and tests)."""
    wide = None
    for m in metrics:
        tm = t[t["metric"] == m].set_index("strategy")
        tb = tests[tests["metric"] == m].set_index("strategy")
        col = pd.Series({s: _mean_std(tm.loc[s, "mean"], tm.loc[s, "std"]) for s in tm.index}, name=A.metric_name(m))
        diff = pd.Series({s: ("" if s not in tb.index else f"{tb.loc[s, 'mean_diff']:+.3f} (p {_p(tb.loc[s, 'p'])})")
                          for s in tm.index}, name=f"\u0394 {A.metric_name(m)} vs {baseline}")
        block = pd.concat([col, diff], axis=1)
        wide = block if wide is None else wide.join(block, how="outer")
    if wide is None:
        raise ConfigError("analysis.metrics must be a non-empty list of metric names.")
    wide = wide.reindex([s for s in order if s in wide.index])
    wide.insert(0, "strategy", wide.index)
    return wide.fillna("")


def build_report(config, *, store=None, out_dir: str | Path = "reports", formats: Sequence[str] = ("png",),
                 log: Callable[[str], None] | None = None, figures: bool = True) -> Path:
    """Write the reproduction report of an experiment from its stored results.

    Parameters
    ----------
    config : ExperimentConfig or str or Path
        The experiment's config or its file.
    store : str or Path, optional
        The store (default: the config's).
    out_dir : str or Path
        Where ``<name>.md`` goes, with the figures in ``figures/`` and the CSV tables in ``<name>/``.
    formats : sequence of str
        Figure formats (``png``, ``svg``, ``html``; HTML when static export is unavailable).
    log : callable, optional
        ``log(line)`` for progress lines.
    figures : bool
        Write the figures (False: tables only).

    Returns
    -------
    Path
        The markdown file.
    """
    from mlal_core import experiments

    log = log or (lambda line: None)
    t0 = time.perf_counter()
    if not isinstance(config, experiments.ExperimentConfig):
        config = experiments.load_config(config)
    store_path = Path(store) if store is not None else config.store_path()
    res = experiments.load_results(store_path, config=config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = config.name
    md_path = out_dir / f"{name}.md"
    fig_dir = out_dir / "figures"  # as the other reports: reports/figures/<name>_*.png, reports/<name>/*.csv
    data_dir = out_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    an = config.analysis
    baseline, test, alpha = an["baseline"], an["test"], float(an["alpha"])
    order = res.strategy_order
    figs = _Figures(fig_dir, fig_dir.name, formats, log, prefix=f"{_slug(name)}_") if figures else None

    src = config.source.as_posix() if config.source else "the config"
    lines: list[str] = []
    w = lines.append
    w(f"# Reproduction report: `{name}`\n")
    if config.description:
        w(config.description.strip() + "\n")
    w(f"_Generated by `python -m mlal_core report {src} --out {out_dir.as_posix()}` on "
      f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} from the store `{store_path.name}`: "
      f"{len(res.runs)} of {res.planned} planned runs finished, {len(res.references)} full-data reference(s)._\n")

    if res.runs.empty:
        w("**No finished runs yet.** Run `python -m mlal_core experiment " + src + "` first.\n")
        md_path.write_text("\n".join(lines), encoding="utf-8")
        return md_path

    R = res.rounds
    settings = list(pd.unique(res.runs["setting"]))
    seeds_per = res.runs.groupby(["setting", "strategy"])["seed"].nunique()

    # ---------------------------------------------------------------- setup
    w("## Setup\n")
    w(_setup_table(config, res))
    w("")
    w(f"Strategies ({len(order)}): {', '.join(f'`{s}`' for s in order if s in set(res.runs['strategy']))}. "
      f"Seeds: {', '.join(str(s) for s in config.seeds)} (seeds per strategy: {int(seeds_per.min())}"
      f"{'' if seeds_per.min() == seeds_per.max() else f' to {int(seeds_per.max())}'}). "
      f"Every strategy of a seed starts from the same initial labelled set and the same model seeds.\n")
    n_seeds = int(seeds_per.min())
    used = "Wilcoxon signed-rank" if (test == "wilcoxon" or (test == "auto" and n_seeds >= 6)) else "paired t-test"
    w(f"Summaries: learning curves are the mean \u00b1 std (ddof 1) over seeds; AULC is the area under the "
      f"metric against the labelled-sample count divided by the count range (on the metric's scale). "
      f"Comparisons pair runs by seed; the p-values in the verdicts are from the **{used}** (n = {n_seeds} seeds, "
      f"two-sided, alpha = {alpha:g}); the Wilcoxon test's smallest possible two-sided p with n = {n_seeds} is "
      f"{2 / 2 ** n_seeds:.4f}.\n")
    if res.planned is not None and len(res.runs) < res.planned:
        w(f"> **Incomplete:** {res.planned - len(res.runs)} planned runs have not finished; the numbers below "
          "use the finished runs only (pairs need both strategies of a seed).\n")

    # ---------------------------------------------------------------- verdicts
    verdicts = claim_verdicts(res, metrics=an["metrics"], reach_metrics=an.get("reach_metrics", ["micro_f1"]),
                              reach_fractions=an["reach_fractions"], baseline=baseline, test=test, alpha=alpha)
    w("## The papers' claims: verdicts\n")
    w(md_table(pd.DataFrame([{"paper": v.claim.paper, "claim": v.claim.statement, "verdict": v.verdict}
                             for v in verdicts])))
    w("\nHow the verdicts are decided is at the end of this report (\"Verdict rules\"); the numbers behind each are "
      "in \"Claims in detail\".\n")

    # ---------------------------------------------------------------- per setting
    per_run_all: dict[str, pd.DataFrame] = {}
    for m in an["metrics"]:
        per_run_all[m] = A.aulc_per_run(R, m)
    pd.concat([d.assign(metric=m) for m, d in per_run_all.items()]).to_csv(data_dir / "aulc_per_run.csv", index=False)
    summaries = pd.concat([A.aulc_summary(d, baseline=baseline if baseline in set(d["strategy"]) else None,
                                          strategy_order=order).assign(metric=m)
                           for m, d in per_run_all.items()], ignore_index=True)
    summaries.to_csv(data_dir / "aulc_summary.csv", index=False)
    tests_base = pd.concat([A.paired_tests(d, baseline=baseline, test=test, alpha=alpha).assign(metric=m)
                            for m, d in per_run_all.items()], ignore_index=True)
    tests_base.to_csv(data_dir / "tests_vs_baseline.csv", index=False)
    reach_runs = pd.concat([A.reach_per_run(R, res.references, m, fractions=an["reach_fractions"]).assign(metric=m)
                            for m in an.get("reach_metrics", ["micro_f1"])], ignore_index=True)
    reach_runs.to_csv(data_dir / "reach_per_run.csv", index=False)
    res.references.to_csv(data_dir / "references.csv", index=False)
    R.drop(columns=[c for c in R.columns if c.startswith("time_")]).to_csv(data_dir / "rounds.csv", index=False)

    w("## Results per dataset\n")
    for setting in settings:
        Rs = R[R["setting"] == setting]
        runs_s = res.runs[res.runs["setting"] == setting]
        slug = _slug(setting)
        w(f"### {setting}\n")
        pool = int(runs_s["pool_size"].iloc[0])
        last = Rs.groupby(["strategy", "seed"])["n_labeled"].max().max()
        w(f"Pool {pool} samples; the budget ends at {last} labelled ({_pct(last / pool)} of the pool).\n")
        ref_row = A.with_reference(Rs, res.references, "micro_f1")
        if figs is not None:
            for m in an["metrics"]:
                ref = A.with_reference(Rs, res.references, m)
                ref_mean = float(ref.mean()) if ref.notna().any() else None
                fig = A.learning_curve_figure(Rs, m, setting=setting, strategy_order=order, reference=ref_mean)
                w(figs.add(fig, f"{slug}_curve_{_slug(m)}", f"{setting}: {A.metric_name(m)} learning curves") + "\n")
        # AULC table
        wide = _aulc_table(summaries[summaries["setting"] == setting],
                           tests_base[tests_base["setting"] == setting], an["metrics"], baseline, order)
        w(f"AULC (mean \u00b1 std over seeds) and the paired difference with `{baseline}` ({used} p-value):\n")
        w(md_table(wide))
        w("")
        # reference + reach
        if ref_row.notna().any():
            refs = res.references
            ds = runs_s["dataset"].iloc[0]
            rr = refs[refs["dataset"] == ds]
            w(f"Full-data reference (the same model trained on all {pool} pool samples, mean over "
              f"{len(rr)} seed(s)): " + ", ".join(
                  f"{A.metric_name(m)} {_mean_std(rr[m].mean(), rr[m].std(ddof=1) if len(rr) > 1 else float('nan'))}"
                  for m in an["metrics"] if m in rr.columns) + ".\n")
            rmetric = "micro_f1" if "micro_f1" in set(reach_runs["metric"]) else reach_runs["metric"].iloc[0]
            rs = A.reach_summary(reach_runs[(reach_runs["setting"] == setting) & (reach_runs["metric"] == rmetric)]
                                 .drop(columns="metric"), strategy_order=order)
            if not rs.empty:
                w(f"Labelled fraction of the pool needed to reach a fraction of the full-data {A.metric_name(rmetric)} "
                  "(BEAL Table 2; "
                  "reached = runs that got there within the budget; median counts the others as never):\n")
                piv = rs.assign(cell=[f"{int(r.reached)}/{int(r.n)}, median {_pct(r.median_fraction)}"
                                      for r in rs.itertuples(index=False)])
                piv = piv.pivot_table(index="strategy", columns="target_fraction", values="cell", aggfunc="first")
                piv = piv.reindex([s for s in order if s in piv.index])
                piv = piv[sorted(piv.columns, reverse=True)]
                piv.columns = [f"{_pct(c, 0)} of full data" for c in piv.columns]
                piv.insert(0, "strategy", piv.index)
                w(md_table(piv))
                w("")
        # MeanIR and CRAB Fig. 5
        mir = A.per_round_summary(Rs, "mean_ir_selected")
        if mir["mean"].notna().any():
            if figs is not None:
                w(figs.add(A.mean_ir_figure(Rs, setting=setting, strategy_order=order), f"{slug}_meanir",
                           f"{setting}: MeanIR of the selected batches") + "\n")
            prm = A.per_run_mean(Rs, "mean_ir_selected")
            ms = prm.groupby("strategy")["value"].agg(["mean", "std"]).reindex([s for s in order if s in set(prm["strategy"])])
            w("Mean MeanIR of the selected batches over the rounds (lower = more balanced picks; CRAB Fig. 4): "
              + ", ".join(f"{s} {_mean_std(r['mean'], r['std'])}" for s, r in ms.iterrows()) + ".\n")
        if figs is not None:
            for which in ("hard_to_learn_count", "conflicting_count"):
                try:
                    fig = A.hard_conflicting_figure(Rs, which, setting=setting, strategy_order=order)
                except ConfigError:
                    continue
                w(figs.add(fig, f"{slug}_{which}", f"{setting}: {which.replace('_', ' ')} per round") + "\n")
        if figs is not None and Rs["strategy"].nunique() > 1:
            pr = per_run_all.get("micro_f1", next(iter(per_run_all.values())))
            allpairs = A.paired_tests(pr[pr["setting"] == setting], strategies=order, test=test, alpha=alpha)
            if not allpairs.empty:
                w(figs.add(A.pairwise_figure(allpairs, setting=setting, value_name="micro-F1 AULC",
                                             strategy_order=order, alpha=alpha),
                           f"{slug}_pairwise", f"{setting}: pairwise micro-F1 AULC differences") + "\n")
        # timings
        tcols = [c for c in ("time_train_s", "time_select_s") if c in Rs.columns]
        if tcols:
            tt = Rs[~Rs["final"]].groupby("strategy")[tcols].mean()
            secs = runs_s.groupby("strategy")["seconds"].mean()
            tt = tt.reindex([s for s in order if s in tt.index])
            tt["run_s"] = secs.reindex(tt.index)
            tt.insert(0, "strategy", tt.index)
            w("Time per round (mean seconds: training the model, selecting the batch) and per run:\n")
            w(md_table(tt, headers=["strategy", "train s / round", "select s / round", "s / run"],
                       formats={"time_train_s": lambda v: _f(v, 2), "time_select_s": lambda v: _f(v, 2),
                                "run_s": lambda v: _f(v, 1)}))
            w("")

    # ---------------------------------------------------------------- claims in detail
    w("## Claims in detail\n")
    for v in verdicts:
        w(f"### {v.claim.paper}: {v.claim.statement}\n")
        w(f"**Verdict: {v.verdict}.**\n")
        if v.evidence:
            w(v.evidence + "\n")
        if v.table is not None and not v.table.empty:
            fmts = {"p": _p, "p_holm": _p, "median_fraction": _pct, "mean_reached": _pct, "budget_fraction": _pct,
                    "diff": lambda x: f"{x:+.3f}"}
            w(md_table(v.table, formats=fmts))
            w("")
            v.table.to_csv(data_dir / f"claim_{v.claim.key}.csv", index=False)
        for n in v.notes:
            w(f"_{n}_\n")

    # ---------------------------------------------------------------- caveats, rules, reproduce
    w("## Caveats\n")
    w(_caveats(config))
    w("## Verdict rules\n")
    w(_rules_text(alpha))
    w("## Reproduce\n")
    w("```\n"
      f"python -m mlal_core experiment {src}          # runs (resumes where it stopped)\n"
      f"python -m mlal_core report {src} --out {out_dir.as_posix()}   # this report\n"
      "```\n")
    w(f"Tables as CSV: `{data_dir.name}/`. Report built in {time.perf_counter() - t0:.0f} s.\n")
    md_path.write_text("\n".join(lines), encoding="utf-8")
    log(f"wrote {md_path} ({len(figs.written) if figs else 0} figure file(s))")
    return md_path


def _rules_text(alpha: float) -> str:
    return (
        f"* *Better than the baselines* (CRAB micro-F1, CoMAL P@k / micro-F1): **holds** = higher mean AULC than "
        f"every baseline present and significantly higher (p < {alpha:g}) than each; **holds in the mean** = higher "
        "mean than every baseline but not significant against all; **partly** = higher mean than some; **does not "
        "hold** = higher than none. Per dataset (and metric); the overall verdict lists them when they differ.\n"
        "* *Lower MeanIR* (CRAB): the same with each run's mean MeanIR of its selected batches, lower is better.\n"
        "* *Fewer labels to reach the full-data score* (BEAL): per dataset and metric, each run's labelled "
        "fraction at the first point at or above the target (a fraction of the full-data score of the same "
        "model and seed); a strategy needs fewer labels when more of its runs reached the target, or as many "
        "and with a smaller median fraction (the median counts runs that never reached it as needing more than "
        "the budget). **holds** = fewer than each of BALD, Core-Set and BADGE; **no difference** = tied with all. "
        "The target is the paper's (100 % of the full-data score) when at least half the runs of some strategy "
        "reached it, else the highest configured fraction for which that is true (said in the verdict).\n"
        "* *No strategy beats random everywhere* (XMTC): a strategy beats random everywhere when its micro- and "
        f"macro-F1 AULC are significantly higher than random's (p < {alpha:g}) on every dataset; the claim "
        "**holds** when no strategy does.\n"
    )


def _setup_table(config, res) -> str:
    from mlal_core import data, stats

    rows = []
    for d in config.datasets:
        ds = data.load(d.name)
        runs = res.runs[res.runs["dataset"] == d.label]
        if runs.empty:
            continue
        r0 = runs.iloc[0]
        rows.append({
            "dataset": d.label, "pool": len(ds.train), "test": len(ds.test), "labels": ds.n_labels,
            "MeanIR (train)": round(float(stats.mean_ir(np.asarray(ds.train.Y))), 1),
            "representation": r0["representation"], "model": r0["model"],
            "budget": f"{int(r0['initial_size'])} + {int(r0['rounds'])} x {int(r0['query_size'])}",
            "candidate subset": "-" if pd.isna(r0["candidate_subset"]) else int(r0["candidate_subset"]),
            "runs": len(runs),
        })
    models = "; ".join(f"`{m.label}`: {m.name} {m.params or '(defaults)'}" for m in config.models)
    return md_table(pd.DataFrame(rows), formats={"MeanIR (train)": lambda v: _f(v, 1)}) + f"\n\nModels: {models}."
