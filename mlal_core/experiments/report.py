"""The reproduction report: ``python -m mlal_core report CONFIG --out reports/``.

Reads an experiment's finished runs from its store (:func:`mlal_core.experiments.load_results`),
computes the analysis of :mod:`mlal_core.experiments.analysis` and writes ``<out>/<experiment>.md`` with
figures (PNG through :mod:`mlal_core.export`; standalone HTML when no browser is available for
static export) under ``<out>/figures/<experiment>_*`` and the tables as CSV under
``<out>/<experiment>/``.

Each paper's main claim gets a verdict computed from the numbers by the rules below, written at the
top of every report (:func:`verdict_rules_markdown`; the caveats are in ``CAVEATS``):

* Comparisons pair runs by seed (paired t-test below 6 seeds, Wilcoxon from 6 on), each with its effect
  size: the mean paired difference and a 95 % paired-bootstrap confidence interval over seeds
  (:func:`mlal_core.experiments.analysis.bootstrap_ci`).
* **One Holm family per claim**: every comparison of the claim's subject with each baseline the paper
  names (those present), on every dataset x metric the claim covers (baseline vs baseline not
  included); for the XMTC claim, every strategy vs random on every dataset x metric. Verdicts are
  decided on the Holm-adjusted p-values only (:func:`mlal_core.experiments.analysis.holm_family`).
* Words (:func:`decide_verdict`): **holds** = significantly better (adjusted p < alpha) than every
  baseline on every dataset and metric the claim covers; **partly** = better than some and worse than
  none; **does not hold** = otherwise; **not assessed** = nothing to compare.
* CRAB "lower MeanIR of the selected samples": the same with each run's mean MeanIR of its selected
  batches, lower is better, **and** with the labelled set's label coverage (:func:`balance_comparisons`):
  better than a baseline = MeanIR significantly lower and coverage not significantly lower; worse =
  MeanIR significantly higher or coverage significantly lower (MeanIR leaves out the labels a batch
  lacks, so a narrow batch looks balanced). The coverage comparisons (each run's mean over its rounds
  of the fraction of labels with a positive in L) are a second Holm family of the same pairs.
* BEAL "fewer labels to reach the full-data score": per setting and target (a fraction of the
  full-data score of the same model and seed), the labelled fraction each run needed (runs that
  never reached it count as needing more than the budget); a strategy needs fewer labels than
  another when it reached the target in more runs, or as many and with a smaller median fraction
  (descriptive, no test); the same words with "needs fewer labels" for "significantly better".
  The verdict is given at the paper's target (100 %) when half the runs of some strategy reached
  it, else at the highest configured target where that is true, and says so.
* XMTC "no strategy beats random everywhere": **does not hold** when some strategy's AULC is
  significantly higher (adjusted) than random's in every setting for every metric checked (micro- and
  macro-F1); **holds** otherwise.
* Beside each verdict, a rank table: the mean rank over seeds of the subject and its baselines per
  dataset x metric (:func:`mlal_core.experiments.analysis.mean_ranks`).

"When to stop" (:mod:`mlal_core.experiments.stopping_study`): per stopping criterion, each dataset x
strategy's stop round against the oracle's round (median and quartiles over seeds), the labels wasted or
saved; descriptive, so without verdict words.

"Cost against benefit" (:mod:`mlal_core.experiments.efficiency_study`): per dataset, each strategy's select
seconds per round against its AULC gain over random (the XMTC claim's Holm family), with the cost / benefit
front; "at large K" from the config's ``efficiency_experiment`` when it names one.
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
from mlal_core.experiments.report_summary import summary_markdown
from mlal_core.metrics import higher_is_better

__all__ = ["CLAIMS", "Claim", "ClaimResult", "balance_comparisons", "build_report", "ci_text", "claim_verdicts",
           "decide_verdict", "md_table", "verdict_rules_markdown", "verdicts_markdown"]


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
    value : str
        The per-run column a ``better`` claim compares (default ``aulc``; the batch-selection report
        compares test metrics at the best-validation epoch, ``test``); each metric's own direction
        (:func:`mlal_core.metrics.higher_is_better`) says which way is better.
    value_name : str
        That value in words, after the metric's name (``AULC``: "Micro-F1 AULC").
    """

    key: str
    paper: str
    statement: str
    subject: str | None
    baselines: tuple[str, ...]
    metrics: tuple[str, ...]
    kind: str  # "better" | "meanir" | "reach" | "random"
    missing_note: str = ""
    value: str = "aulc"
    value_name: str = "AULC"


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
* **Statistics.** Seeds are paired (same initial set, within one initial method, and model seeds for every
  strategy). With 5 seeds the two-sided Wilcoxon signed-rank test cannot go below p = 0.0625, so verdicts
  use the paired t-test below 6 seeds (it assumes roughly normal differences) and report Wilcoxon beside it.
  Verdicts use Holm-adjusted p-values over each claim's family (see "Verdict rules"); with 5 seeds and a
  family of several comparisons, only large, consistent differences reach significance, so "does not hold"
  often means "not shown at this number of seeds" - the effect sizes and their intervals say how far from
  it.
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


def decide_verdict(comparisons: pd.DataFrame) -> str:
    """The verdict word from a claim's comparisons, decided on Holm-adjusted p-values.

    Parameters
    ----------
    comparisons : DataFrame
        One row per (dataset, metric, baseline) the claim covers, with ``better_adj`` / ``worse_adj``
        (:func:`mlal_core.experiments.analysis.holm_family`: adjusted p < alpha in favour of / against
        the subject).

    Returns
    -------
    str
        ``holds`` (better than every baseline on every dataset and metric), ``partly`` (better than some
        and worse than none), ``does not hold`` (otherwise) or ``not assessed`` (no comparison).
    """
    if comparisons is None or comparisons.empty:
        return "not assessed"
    better = comparisons["better_adj"].astype(bool)
    worse = comparisons["worse_adj"].astype(bool)
    if worse.any():
        return "does not hold"
    if better.all():
        return "holds"
    if better.any():
        return "partly"
    return "does not hold"


def _outcome(r) -> str:
    return "better" if r.better_adj else ("worse" if r.worse_adj else "n.s.")


def ci_text(lo, hi) -> str:
    """A confidence interval as ``[-0.003, +0.020]``; ``-`` when either end is missing or not finite.

    Parameters
    ----------
    lo, hi : float or None
        The interval's ends.

    Returns
    -------
    str
        The interval, signed, to 3 decimals.
    """
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "-"
    return f"[{lo:+.3f}, {hi:+.3f}]"


def _effect(r) -> str:
    """``+0.012 [-0.003, +0.020], t p = 0.030, Holm p = 0.090`` of a holm_family row."""
    return (f"\u0394 {r.mean_diff:+.3f} {ci_text(r.ci_low, r.ci_high)}, {r.test}-test p = {_p(r.p)}, "
            f"Holm p = {_p(r.p_adj)}")


@dataclass
class ClaimResult:
    """The verdict on one :class:`Claim`.

    Attributes
    ----------
    claim : Claim
    verdict : str
        ``holds``, ``partly``, ``does not hold`` or ``not assessed`` (:func:`decide_verdict`, over the
        claim's whole Holm family), with a qualifier for the reach claim's target where it applies.
    evidence : str
        The numbers behind it, as markdown bullet lines.
    per_setting : dict
        Dataset (and metric) -> the verdict by the same words within it (the claim's adjustment kept).
    table : DataFrame or None
        The comparisons (one row per setting, metric and baseline) or, for the random claim, one row
        per strategy.
    notes : list of str
        What the check could not cover (baselines absent, ...).
    ranks : DataFrame or None
        Mean rank over seeds (1 = best) of the subject and its baselines: one row per dataset x metric,
        one column per strategy.
    comparisons : DataFrame or None
        The claim's Holm family (:func:`mlal_core.experiments.analysis.holm_family` rows with ``metric``).
    family : str
        The family in words, with its size.
    """

    claim: Claim
    verdict: str
    evidence: str
    _: KW_ONLY
    per_setting: dict = field(default_factory=dict)
    table: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    ranks: pd.DataFrame | None = None
    comparisons: pd.DataFrame | None = None
    family: str = ""


def _rank_frame(parts: list[pd.DataFrame], order: Sequence[str]) -> pd.DataFrame | None:
    """Mean-rank rows (setting, strategy, mean_rank, n, metric) -> one row per dataset x metric."""
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        return None
    r = pd.concat(parts, ignore_index=True)
    r["metric"] = r["metric"].map(A.metric_name)
    wide = r.pivot_table(index=["setting", "metric"], columns="strategy", values="mean_rank", aggfunc="first",
                         sort=False)
    n = r.groupby(["setting", "metric"], sort=False)["n"].min()
    wide = wide[[s for s in order if s in wide.columns] + [s for s in wide.columns if s not in order]]
    wide.columns = [str(c) for c in wide.columns]
    wide.insert(0, "seeds", n.reindex(wide.index).astype(int))
    return wide.reset_index()


def _family_text(what: str, pairs: str, tests: pd.DataFrame) -> str:
    cells = sorted({(r.setting, A.metric_name(r.metric)) for r in tests.itertuples(index=False)})
    sets = ", ".join(dict.fromkeys(c[0] for c in cells))
    mets = ", ".join(dict.fromkeys(c[1] for c in cells))
    size = int(tests["p"].notna().sum())
    return (f"{what}: {pairs}, on every dataset ({sets}) x metric ({mets}) the claim covers; "
            f"{size} comparison(s), Holm step-down")


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
    col = "value" if claim.kind == "meanir" else claim.value
    names = [subj] + present
    parts, ranks = [], []
    for metric in claim.metrics:
        higher = claim.kind != "meanir" and higher_is_better(metric)
        pr = per_run[metric]
        pr = pr[pr["setting"].isin(set(pr.loc[pr["strategy"] == subj, "setting"]))]
        t = A.paired_tests(pr, value=col, strategies=names, higher_is_better=higher, test=tests_cfg["test"],
                           alpha=tests_cfg["alpha"])
        parts.append(t[t["strategy"] == subj].assign(metric=metric))
        rk = A.mean_ranks(pr, value=col, strategies=names, higher_is_better=higher)
        ranks.append(rk.assign(metric=metric))
    fam = pd.concat(parts, ignore_index=True)
    if fam.empty:
        return ClaimResult(claim, "not assessed", "no dataset has paired runs of the subject and a baseline.")
    fam = A.holm_family(fam, alpha=tests_cfg["alpha"],
                        higher_is_better=[claim.kind != "meanir" and higher_is_better(m) for m in fam["metric"]])
    rows, per_setting, evidence = [], {}, []
    for (setting, metric), cell in fam.groupby(["setting", "metric"], sort=False):
        vals = per_run[metric]
        vals = vals.loc[(vals["setting"] == setting) & (vals["strategy"] == subj), col]
        subj_mean = float(vals.mean())
        subj_std = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        key = setting if len(claim.metrics) == 1 else f"{setting} ({A.metric_name(metric)})"
        verdict = decide_verdict(cell)
        per_setting[key] = verdict
        what = ("mean MeanIR of the selected batches" if claim.kind == "meanir"
                else f"{A.metric_name(metric)} {claim.value_name}")
        cmp_text = "; ".join(f"vs {r.other} {_f(r.mean_b)}: {_effect(r)} \u2192 {_outcome(r)}"
                             for r in cell.itertuples(index=False))
        evidence.append(f"{key}: {subj} {what} {_mean_std(subj_mean, subj_std)}; {cmp_text} "
                        f"\u2192 **{verdict}**.")
        for r in cell.itertuples(index=False):
            rows.append({"setting": setting, "metric": A.metric_name(metric), "baseline": r.other,
                         "subject": _mean_std(subj_mean, subj_std), "baseline_mean": r.mean_b,
                         "diff": r.mean_diff, "95% CI": ci_text(r.ci_low, r.ci_high), "wins": f"{r.wins}/{r.n}",
                         "test": r.test, "p": r.p, "p_holm": r.p_adj, "outcome": _outcome(r)})
    notes = []
    if absent:
        notes.append(f"Baselines not in this experiment: {', '.join(absent)}.")
    if claim.missing_note:
        notes.append(claim.missing_note)
    family = _family_text("Holm family", f"{subj} vs each of {', '.join(present)}", fam)
    return ClaimResult(claim, decide_verdict(fam), "\n".join(f"- {e}" for e in evidence),
                       per_setting=per_setting, table=pd.DataFrame(rows), notes=notes,
                       ranks=_rank_frame(ranks, names), comparisons=fam, family=family)


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
    cells: list[pd.DataFrame] = []
    ranks: list[pd.DataFrame] = []
    below: list[str] = []
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
            cell = pd.DataFrame({"better_adj": [v > 0 for v in cmp.values()],
                                 "worse_adj": [v < 0 for v in cmp.values()]})
            verdict = decide_verdict(cell)
            cells.append(cell)
            rp = per_run[("reach", metric)]
            rp = rp[(rp["setting"] == setting) & (rp["target_fraction"] == chosen)]
            rk = A.mean_ranks(rp.assign(fraction=rp["fraction"].fillna(np.inf)), value="fraction",
                              strategies=[subj] + present, higher_is_better=False)
            ranks.append(rk.assign(metric=metric))
            if chosen < 1.0:
                below.append(key)
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
    # secondary evidence: AULC, with its own Holm family (the subject vs each baseline on every dataset)
    aulc = per_run.get("micro_f1")
    if aulc is not None:
        t = A.paired_tests(aulc, baseline=None, strategies=[subj] + present, test=tests_cfg["test"],
                           alpha=tests_cfg["alpha"])
        t = t[t["strategy"] == subj]
        if not t.empty:
            t = A.holm_family(t, alpha=tests_cfg["alpha"])
            cmp_text = "; ".join(f"{r.setting}: vs {r.other} {_effect(r)}" for r in t.itertuples(index=False))
            notes.append("Micro-F1 AULC, as secondary evidence (Holm family: these "
                         f"{int(t['p'].notna().sum())} comparisons): {cmp_text}.")
    unassessed = [k for k, v in per_setting.items() if v.startswith("cannot")]
    if cells:
        qualifiers = [f"{label} on {', '.join(keys)}" for label, keys in
                      (("target below 100 % of the full-data score", below),
                       ("cannot be assessed at this budget", unassessed)) if keys]
        verdict = decide_verdict(pd.concat(cells, ignore_index=True))
        verdict += f" ({'; '.join(qualifiers)})" if qualifiers else ""
    else:
        verdict = "cannot be assessed at this budget" if unassessed else "not assessed"
    family = ("No test: needing fewer labels is decided from the runs that reached the target and their "
              "median labelled fraction (see the rules)")
    return ClaimResult(claim, verdict, "\n".join(f"- {e}" for e in evidence), per_setting=per_setting,
                       table=pd.DataFrame(rows), notes=notes, ranks=_rank_frame(ranks, [subj] + present),
                       family=family)


def _claim_random(claim: Claim, res, per_run: dict, tests_cfg: dict, baseline: str) -> ClaimResult:
    runs = res.runs
    rnd = _label_of(runs, "random") or baseline
    if rnd not in set(runs["strategy"]):
        return ClaimResult(claim, "not assessed", "random selection is not in this experiment.")
    settings = list(pd.unique(runs["setting"]))
    others = [s for s in pd.unique(runs["strategy"]) if s != rnd]
    order = [rnd] + others
    parts, ranks = [], []
    for metric in claim.metrics:
        t = A.paired_tests(per_run[metric], baseline=rnd, strategies=order, test=tests_cfg["test"],
                           alpha=tests_cfg["alpha"])
        parts.append(t.assign(metric=metric))
        ranks.append(A.mean_ranks(per_run[metric], strategies=order).assign(metric=metric))
    fam = pd.concat(parts, ignore_index=True)
    if fam.empty:
        return ClaimResult(claim, "not assessed", "no strategy has runs paired with random.")
    fam = A.holm_family(fam, alpha=tests_cfg["alpha"])
    rows = []
    everywhere_sig, everywhere_mean = [], []
    for s, g in fam.groupby("strategy", sort=False):
        cells = len(g)
        sig, mean_better = int(g["better_adj"].sum()), int((g["mean_diff"] > 0).sum())
        if sig == cells:
            everywhere_sig.append(s)
        if mean_better == cells:
            everywhere_mean.append(s)
        rows.append({"strategy": s, "cells": cells, "significantly_better (Holm)": sig,
                     "better_in_mean": mean_better, "significantly_worse (Holm)": int(g["worse_adj"].sum()),
                     "largest Holm p": float(g["p_adj"].max())})
    table = pd.DataFrame(rows)
    n_cells = len(settings) * len(claim.metrics)
    verdict = "holds" if not everywhere_sig else "does not hold"
    ev = (f"- Checked: {len(others)} strategies x {len(settings)} setting(s) x "
          f"{', '.join(A.metric_name(m) for m in claim.metrics)} AULC = up to {n_cells} comparisons with random each.")
    ev += (f"\n- Significantly better than random (Holm-adjusted p < {tests_cfg['alpha']:g}) in every "
           f"comparison: {', '.join(everywhere_sig) or 'none'} \u2192 **{verdict}**.")
    for s in everywhere_sig:
        g = fam[fam["strategy"] == s]
        ev += f"\n- {s}: " + "; ".join(f"{r.setting} ({A.metric_name(r.metric)}) {_effect(r)}"
                                        for r in g.itertuples(index=False)) + "."
    ev += f"\n- Better than random in the mean in every comparison (a weaker reading): {', '.join(everywhere_mean) or 'none'}."
    if len(settings) < 2:
        ev += "\n- Only one setting: 'everywhere' means this one dataset here."
    notes = [claim.missing_note] if claim.missing_note else []
    family = _family_text("Holm family", f"every strategy vs {rnd}", fam)
    return ClaimResult(claim, verdict, ev, per_setting={"all": verdict}, table=table, notes=notes,
                       ranks=_rank_frame(ranks, order), comparisons=fam, family=family)


def balance_comparisons(meanir: pd.DataFrame, coverage: pd.DataFrame) -> pd.DataFrame:
    """The balance claim's outcome per (setting, baseline): lower MeanIR with no lower coverage.

    Parameters
    ----------
    meanir : DataFrame
        The MeanIR family (:func:`mlal_core.experiments.analysis.holm_family` rows, lower is better):
        ``setting``, ``other``, ``better_adj``, ``worse_adj``.
    coverage : DataFrame
        The labelled-set coverage family of the same pairs (its own Holm family, higher is better),
        same columns; a pair missing here counts as "coverage not lower".

    Returns
    -------
    DataFrame
        The MeanIR rows with ``better_adj`` = MeanIR significantly lower **and** coverage not
        significantly lower, ``worse_adj`` = MeanIR significantly higher **or** coverage significantly
        lower (both adjusted), plus ``meanir_better_adj`` / ``meanir_worse_adj`` /
        ``coverage_better_adj`` / ``coverage_worse_adj`` (the two families' own outcomes); the input of
        :func:`decide_verdict`.
    """
    out = meanir.copy()
    out["meanir_better_adj"] = out["better_adj"].astype(bool)
    out["meanir_worse_adj"] = out["worse_adj"].astype(bool)
    cov = coverage[["setting", "other", "better_adj", "worse_adj"]].rename(
        columns={"better_adj": "coverage_better_adj", "worse_adj": "coverage_worse_adj"})
    out = out.merge(cov, on=["setting", "other"], how="left")
    for c in ("coverage_better_adj", "coverage_worse_adj"):
        out[c] = out[c].astype("boolean").fillna(False).astype(bool)
    out["better_adj"] = out["meanir_better_adj"] & ~out["coverage_worse_adj"]
    out["worse_adj"] = out["meanir_worse_adj"] | out["coverage_worse_adj"]
    return out


def _claim_balance(claim: Claim, res, per_run: dict, tests_cfg: dict) -> ClaimResult:
    """The MeanIR claim decided with the labelled set's label coverage (:func:`balance_comparisons`)."""
    r = _claim_better(claim, res, {"mean_ir_selected": per_run["mean_ir_selected"]}, tests_cfg)
    cov_runs = per_run.get("label_coverage")
    if r.comparisons is None or r.comparisons.empty or cov_runs is None or cov_runs.empty:
        if r.comparisons is not None and not r.comparisons.empty:
            r.notes.append("No labelled-set coverage is stored: the verdict rests on MeanIR alone.")
        return r
    subj = str(r.comparisons["strategy"].iloc[0])
    names = [subj] + list(dict.fromkeys(r.comparisons["other"]))
    pr = cov_runs[cov_runs["setting"].isin(set(r.comparisons["setting"]))]
    t = A.paired_tests(pr, value="value", strategies=names, higher_is_better=True, test=tests_cfg["test"],
                       alpha=tests_cfg["alpha"])
    t = t[t["strategy"] == subj]
    cov = (A.holm_family(t, alpha=tests_cfg["alpha"], higher_is_better=True) if not t.empty
           else pd.DataFrame(columns=["setting", "other", "better_adj", "worse_adj"]))
    comb = balance_comparisons(r.comparisons, cov)
    r.verdict = decide_verdict(comb)
    r.per_setting = {setting: decide_verdict(cell) for setting, cell in comb.groupby("setting", sort=False)}
    cov_idx = cov.set_index(["setting", "other"]) if not cov.empty else None
    if r.table is not None and not r.table.empty and cov_idx is not None:
        def _cov(row, col):
            key = (row["setting"], row["baseline"])
            return cov_idx.loc[key, col] if key in cov_idx.index else float("nan")

        r.table["coverage diff"] = [_cov(row, "mean_diff") for _, row in r.table.iterrows()]
        r.table["coverage Holm p"] = [_cov(row, "p_adj") for _, row in r.table.iterrows()]
        r.table["coverage"] = ["lower" if _cov(row, "worse_adj") == 1 else
                               "higher" if _cov(row, "better_adj") == 1 else "n.s."
                               for _, row in r.table.iterrows()]
    lines = []
    for c in cov.itertuples(index=False):
        lines.append(f"- {c.setting}: labelled-set coverage of {subj} {_f(c.mean_a)} vs {c.other} {_f(c.mean_b)}: "
                     f"{_effect(c)} → {'lower' if c.worse_adj else 'higher' if c.better_adj else 'n.s.'}")
    if lines:
        r.evidence += ("\n- Label coverage of the labelled set (mean over the rounds; its own Holm family of "
                       f"{int(cov['family_size'].iloc[0])} comparison(s)):\n" + "\n".join("  " + x for x in lines))
    r.family += ("; the coverage check is a second Holm family of the same pairs on the labelled set's label "
                 "coverage (higher is better)")
    r.notes.append("Rule: better than a baseline = MeanIR significantly lower **and** labelled-set coverage not "
                   "significantly lower (Holm-adjusted, each family on its own); worse = MeanIR significantly "
                   "higher **or** coverage significantly lower. A narrow batch has a low MeanIR because MeanIR "
                   "leaves out the labels it lacks, so a lower MeanIR bought with a lower coverage does not count.")
    r.comparisons = comb
    return r


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
    if "label_coverage" in res.rounds.columns:
        per_run["label_coverage"] = A.per_run_mean(res.rounds, "label_coverage")
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
            out.append(_claim_balance(c, res, per_run, tests_cfg))
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


def _balance_markdown(rounds: pd.DataFrame, order: Sequence[str]) -> str:
    """The balance table of one setting: MeanIR of the batches beside the coverage-aware figures."""
    bs = A.balance_summary(rounds, strategy_order=order)
    cols = [c for c in A.BALANCE_COLUMNS if c in bs.columns]
    if bs.empty or len(cols) < 2:
        return ""
    tab = pd.DataFrame({"strategy": bs["strategy"]})
    for c in cols:
        tab[A.BALANCE_COLUMNS[c]] = [_mean_std(m, sd) for m, sd in zip(bs[c], bs[f"{c}_std"], strict=True)]
    return ("Balance of the picks, each run's mean over its query rounds (mean ± std over seeds). MeanIR "
            "counts only the labels a batch contains, so a batch that covers few labels looks balanced; read it "
            "with *batch coverage* (fraction of all labels with a positive in the batch), *labelled coverage* "
            "(the same for the labelled set after the round) and *labelled evenness* (normalised entropy of the "
            "labelled set's label counts over all labels, 1 = every label equally often, missing labels lower "
            "it; `mlal_core.stats.label_entropy`):\n\n" + md_table(tab) + "\n")


def _aulc_table(t: pd.DataFrame, tests: pd.DataFrame, metrics: Sequence[str], baseline: str,
                order: Sequence[str]) -> pd.DataFrame:
    """The AULC table of one setting: per metric, mean \u00b1 std and the paired difference with
    ``baseline``, one row per strategy in ``order`` (``t``, ``tests``: the setting's summaries and tests)."""
    wide = None
    for m in metrics:
        tm = t[t["metric"] == m].set_index("strategy")
        tb = tests[tests["metric"] == m].set_index("strategy")
        col = pd.Series({s: _mean_std(tm.loc[s, "mean"], tm.loc[s, "std"]) for s in tm.index}, name=A.metric_name(m))
        diff = pd.Series({s: ("" if s not in tb.index else
                              f"{tb.loc[s, 'mean_diff']:+.3f} "
                              f"{ci_text(tb.loc[s, 'ci_low'], tb.loc[s, 'ci_high'])} "
                              f"(p {_p(tb.loc[s, 'p'])}, Holm {_p(tb.loc[s, 'p_holm'])})")
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

    w(verdict_rules_markdown(alpha))
    if res.runs.empty:
        w("**No finished runs yet.** Run `python -m mlal_core experiment " + src + "` first.\n")
        md_path.write_text("\n".join(lines), encoding="utf-8")
        return md_path

    R = res.rounds
    if "session_id" in R.columns and not R.empty:
        try:  # batch coverage and labelled-set evenness, from the labels the store holds
            from mlal_core.experiments.results import load_pick_labels

            R = A.with_balance(R, load_pick_labels(store_path, R["session_id"]))
        except Exception as exc:  # noqa: BLE001 - the rest of the report does not need them
            log(f"balance columns unavailable ({exc})")
    from mlal_core.experiments import initialisation_study as init_study

    init_of = init_study.initial_methods_of(store_path, res.runs["session_id"])
    settings = list(pd.unique(res.runs["setting"]))
    seeds_per = res.runs.groupby(["setting", "strategy"])["seed"].nunique()

    # ---------------------------------------------------------------- setup
    w("## Setup\n")
    w(_setup_table(config, res))
    w("")
    w(f"Strategies ({len(order)}): {', '.join(f'`{s}`' for s in order if s in set(res.runs['strategy']))}. "
      f"Seeds: {', '.join(str(s) for s in config.seeds)} (seeds per strategy: {int(seeds_per.min())}"
      f"{'' if seeds_per.min() == seeds_per.max() else f' to {int(seeds_per.max())}'}). "
      f"{_pairing_sentence(sorted(set(init_of.values())))}\n")
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
    paper_res = init_study.paper_initialisation(res, init_of)  # the claims' runs: random initial sets
    verdicts = claim_verdicts(paper_res, metrics=an["metrics"],
                              reach_metrics=an.get("reach_metrics", ["micro_f1"]),
                              reach_fractions=an["reach_fractions"], baseline=baseline, test=test, alpha=alpha)
    w(summary_markdown(verdicts, n_datasets=int(paper_res.runs["setting"].nunique()), n_seeds=n_seeds))
    w(verdicts_markdown(verdicts, alpha))
    from mlal_core.experiments.crab_readings import crab_readings_markdown  # CRAB's two readings (issue 17)

    w(crab_readings_markdown(R, getattr(res.config, "strategies", None), res.runs, claim_label=_label_of(res.runs, "crab"),
                             test=test, alpha=alpha, data_dir=data_dir))

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
        w(f"AULC (mean \u00b1 std over seeds) and the paired difference with `{baseline}`: mean difference, "
          f"95 % paired-bootstrap CI over seeds, the {used} p-value and its Holm adjustment within this "
          "dataset and metric (family: every strategy vs the baseline). Descriptive; the claims' verdicts "
          "use their own families (see \"Verdict rules\"):\n")
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
            w(_balance_markdown(Rs, order))
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

    # ---------------------------------------------------------------- cost against benefit (issue 18)
    from mlal_core.experiments.efficiency_study import report_sections

    w(report_sections(config, init_study.paper_initialisation(res, init_of).rounds, strategy_order=order,
                      figures=figs, data_dir=data_dir, log=log))

    # ---------------------------------------------------------------- when to stop (issue 19)
    from mlal_core.experiments.stopping_study import when_to_stop_markdown

    w(when_to_stop_markdown(R, res.references, metric=an.get("reach_metrics", ["micro_f1"])[0],
                            strategy_order=order, data_dir=data_dir))

    # ---------------------------------------------------------------- how to start (issue 19)
    if len(set(init_of.values())) > 1:
        init_effects = init_study.initialisation_effects(
            init_study.initialisation_per_run(R, init_of, an["metrics"]), test=test, alpha=alpha)
        w(init_study.initialisation_markdown(init_effects, alpha=alpha, data_dir=data_dir))

    # ---------------------------------------------------------------- claims in detail
    w("## Claims in detail\n")
    for v in verdicts:
        w(_claim_detail_markdown(v, data_dir))

    # ---------------------------------------------------------------- caveats, rules, reproduce
    w("## Caveats\n")
    w(_caveats(config))
    w("## Reproduce\n")
    w("```\n"
      f"python -m mlal_core experiment {src}          # runs (resumes where it stopped)\n"
      f"python -m mlal_core report {src} --out {out_dir.as_posix()}   # this report\n"
      "```\n")
    w(f"Tables as CSV: `{data_dir.name}/`. Report built in {time.perf_counter() - t0:.0f} s.\n")
    md_path.write_text("\n".join(lines), encoding="utf-8")
    log(f"wrote {md_path} ({len(figs.written) if figs else 0} figure file(s))")
    return md_path


#: how the effect sizes' intervals are computed, as the reports say it
BOOTSTRAP_TEXT = ("the seeds' differences resampled with replacement 10,000 times, random seed 0, "
                  "percentile interval")


def verdict_rules_markdown(alpha: float = 0.05) -> str:
    """The "Verdict rules" section written at the top of every reproduction report.

    Parameters
    ----------
    alpha : float
        The significance level the verdicts use.

    Returns
    -------
    str
        Markdown: the tests, the multiple-comparison family and method, and the verdict words defined.
    """
    a = f"{alpha:g}"
    return (
        "## Verdict rules\n"
        "\n"
        "* **Comparisons.** Runs are paired by seed (same initial labelled set and model seeds). The "
        "p-value is two-sided, from the paired t-test below 6 seeds and the Wilcoxon signed-rank test from "
        "6 on (each table names it). Beside every p-value is the **effect size**: the mean paired "
        "difference with its 95 % confidence interval from a paired bootstrap over seeds "
        f"({BOOTSTRAP_TEXT}). The interval describes the size of the effect, unadjusted; with few seeds a "
        "percentile bootstrap interval is narrow (it can exclude 0 where the adjusted test is not "
        "significant), and verdicts rest on the adjusted tests only.\n"
        "* **Multiple comparisons: Holm's step-down method, one family per claim.** A claim's family is "
        "every comparison of its subject with each baseline the paper names (those this experiment ran), on "
        "every dataset and every metric the claim covers; comparisons between baselines are not in it. For "
        "the XMTC claim, which has no subject, the family is every strategy vs random on every dataset x "
        "metric. Each claim's family and its size are stated under it in \"Claims in detail\".\n"
        f"* **Verdicts are decided on the Holm-adjusted p-values** (adjusted p < {a}, in the direction of "
        "the mean difference). Unadjusted p-values are printed beside them for reference only.\n"
        f"* **holds**: significantly better (adjusted p < {a}) than every baseline the paper names, on every "
        "dataset and metric the claim covers. **partly**: significantly better than at least one baseline "
        "on at least one dataset x metric, and significantly worse than none on any. **does not hold**: "
        "otherwise (better than none, or significantly worse than at least one). **not assessed**: the "
        "subject or all its baselines are absent. Baselines the experiment did not run are listed under the "
        "claim. Per-dataset verdicts in \"Claims in detail\" use the same words within one dataset x metric "
        "(same adjusted p-values).\n"
        "* *Lower MeanIR* (CRAB): the same with each run's mean MeanIR of its selected batches; lower is "
        "better, **with no lower label coverage**: MeanIR counts only the labels a batch contains, so a narrow "
        "batch looks balanced. CRAB is better than a baseline when its MeanIR is significantly lower **and** "
        "the label coverage of its labelled set (each run's mean over its rounds of the fraction of labels with "
        "a positive) is not significantly lower; worse when its MeanIR is significantly higher **or** its "
        "coverage significantly lower. The coverage comparisons of the same pairs are a second Holm family; "
        "both families are adjusted on their own.\n"
        "* *Fewer labels to reach the full-data score* (BEAL): per dataset and metric, each run's labelled "
        "fraction at the first point at or above the target (a fraction of the full-data score of the same "
        "model and seed). No test is run: a strategy needs fewer labels than another when more of its runs "
        "reached the target, or as many and with a smaller median fraction (runs that never reached it "
        "count as needing more than the budget). The same words apply with \"needs fewer labels\" for "
        "\"significantly better\". The target is the paper's (100 % of the full-data score) when at least "
        "half the runs of some strategy reached it, else the highest configured fraction for which that is "
        "true (said in the verdict). Its micro-F1 AULC comparisons, secondary evidence, carry their own "
        "Holm family.\n"
        "* *No strategy beats random everywhere* (XMTC): **does not hold** when some strategy is "
        f"significantly better than random (Holm-adjusted p < {a}) on every dataset x metric (micro- and "
        "macro-F1 AULC); **holds** otherwise.\n"
        "* **Rank tables.** Beside each verdict: the mean rank over seeds (1 = best; ties share the average "
        "rank) of the subject and its baselines on each dataset x metric.\n"
    )


def _rank_cell(v: ClaimResult) -> str:
    """The subject's mean rank per dataset x metric, for the verdict table (random's for the XMTC claim)."""
    if v.ranks is None or v.ranks.empty:
        return "-"
    who = v.claim.subject if v.claim.subject is not None else "random"
    cols = [c for c in v.ranks.columns if c not in ("setting", "metric", "seeds")]
    col = who if who in cols else next((c for c in cols if c.startswith(who)), None)
    if col is None:
        return "-"
    return f"{col}: " + "; ".join(f"{r['setting']} {r['metric']} {_f(r[col], 1)} of {len(cols)}"
                                  for _, r in v.ranks.iterrows())


def verdicts_markdown(verdicts: Sequence[ClaimResult], alpha: float = 0.05) -> str:
    """The verdict table of the reproduction report.

    Parameters
    ----------
    verdicts : sequence of ClaimResult
        :func:`claim_verdicts`' results.
    alpha : float
        The significance level they were decided at.

    Returns
    -------
    str
        Markdown: a heading, a sentence saying the verdicts use Holm-adjusted p-values, and one row per
        claim with its verdict and the subject's mean rank per dataset x metric.
    """
    table = pd.DataFrame([{"paper": v.claim.paper, "claim": v.claim.statement, "verdict": v.verdict,
                           "mean rank (1 = best)": _rank_cell(v)} for v in verdicts],
                         columns=["paper", "claim", "verdict", "mean rank (1 = best)"])
    return ("## The papers' claims: verdicts\n\n"
            f"Verdicts are decided on **Holm-adjusted p-values** (adjusted p < {alpha:g}; one Holm family "
            "per "
            "claim, as \"Verdict rules\" above defines), not on unadjusted ones. The numbers, effect sizes "
            "with "
            "confidence intervals and rank tables behind each are in \"Claims in detail\".\n\n"
            + md_table(table) + "\n")


def _claim_detail_markdown(v: ClaimResult, data_dir: Path | None = None) -> str:
    """One claim's section of "Claims in detail" (and its CSV tables under ``data_dir``)."""
    out = [f"### {v.claim.paper}: {v.claim.statement}\n",
           f"**Verdict: {v.verdict}**" + ("" if v.claim.kind == "reach" else " (on Holm-adjusted p-values)") + ".\n"]
    if v.family:
        out.append(f"{v.family}.\n")
    if v.ranks is not None and not v.ranks.empty:
        out.append("Mean rank over seeds (1 = best):\n")
        out.append(md_table(v.ranks, formats={c: (lambda x: _f(x, 2)) for c in v.ranks.columns
                                              if c not in ("setting", "metric", "seeds")}) + "\n")
    if v.evidence:
        out.append(v.evidence + "\n")
    fmts = {"p": _p, "p_holm": _p, "largest Holm p": _p, "median_fraction": _pct, "mean_reached": _pct,
            "budget_fraction": _pct, "diff": lambda x: f"{x:+.3f}"}
    if v.table is not None and not v.table.empty:
        table = v.table.rename(columns={"p_holm": "Holm p (claim family)"})
        out.append(md_table(table, formats={**fmts, "Holm p (claim family)": _p}) + "\n")
        if data_dir is not None:
            v.table.to_csv(data_dir / f"claim_{v.claim.key}.csv", index=False)
    if v.claim.kind == "random" and v.comparisons is not None and not v.comparisons.empty:
        c = v.comparisons
        shown = pd.DataFrame({"setting": c["setting"], "metric": c["metric"].map(A.metric_name),
                              "strategy": c["strategy"], "diff vs random": c["mean_diff"],
                              "95% CI": [ci_text(lo, hi) for lo, hi in zip(c["ci_low"], c["ci_high"])],
                              "test": c["test"], "p": c["p"], "Holm p (claim family)": c["p_adj"],
                              "outcome": [_outcome(r) for r in c.itertuples(index=False)]})
        out.append(md_table(shown, formats={"p": _p, "Holm p (claim family)": _p,
                                            "diff vs random": lambda x: f"{x:+.3f}"}) + "\n")
    if data_dir is not None and v.comparisons is not None and not v.comparisons.empty:
        v.comparisons.to_csv(data_dir / f"claim_{v.claim.key}_family.csv", index=False)
    if data_dir is not None and v.ranks is not None and not v.ranks.empty:
        v.ranks.to_csv(data_dir / f"claim_{v.claim.key}_ranks.csv", index=False)
    out += [f"_{n}_\n" for n in v.notes]
    return "\n".join(out)


def _pairing_sentence(initial_methods: Sequence[str]) -> str:
    """What a seed pairs: the initial set is shared by a seed's strategies only within one initial method."""
    if len(initial_methods) <= 1:
        method = f" ({initial_methods[0]} initial set)" if initial_methods else ""
        return (f"Every strategy of a seed starts from the same initial labelled set{method} and the same model "
                "seeds.")
    return (f"The grid varies the initial method ({', '.join(f'`{m}`' for m in initial_methods)}): within one "
            "initial method, every strategy of a seed starts from the same initial labelled set and the same "
            "model seeds; the methods' sets differ, so comparisons pair runs of one method only.")


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
            "MeanIR (train)": round(float(stats.mean_ir(ds.train.Y)), 1),
            "representation": r0["representation"], "model": r0["model"],
            "budget": f"{int(r0['initial_size'])} + {int(r0['rounds'])} x {int(r0['query_size'])}",
            "candidate subset": "-" if pd.isna(r0["candidate_subset"]) else int(r0["candidate_subset"]),
            "runs": len(runs),
        })
    models = "; ".join(f"`{m.label}`: {m.name} {m.params or '(defaults)'}" for m in config.models)
    return md_table(pd.DataFrame(rows), formats={"MeanIR (train)": lambda v: _f(v, 1)}) + f"\n\nModels: {models}."
