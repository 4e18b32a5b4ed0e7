"""Verdicts and computed statements of the batch-selection report (``reports/batch_selection.md``).

The same rules as the reproduction report (:mod:`mlal_core.experiments.report`): each claim of the
uncertainty batch-selection paper (Zhou et al.) is a :class:`~mlal_core.experiments.report.Claim` of kind
``better`` checked by the reproduction report's own code (paired tests over seeds, one Holm family per
claim, :func:`~mlal_core.experiments.report.decide_verdict` on the adjusted p-values, paired-bootstrap
intervals, mean-rank tables). What is compared per run is the test metric at the best-validation epoch,
each metric in its own direction (the losses: lower is better).

The sentences of the report that quote numbers are computed here from the same tables
(:func:`findings_markdown`), so they cannot drift from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from mlal_core.experiments.batch_selection import METRICS
from mlal_core.experiments.report import (
    BOOTSTRAP_TEXT,
    Claim,
    ClaimResult,
    _claim_better,
    _claim_detail_markdown,
    verdicts_markdown,
)
from mlal_core.metrics import higher_is_better, metric_name

__all__ = ["ABLATION_CLAIM", "ABLATION_SAMPLER", "BATCH_CLAIMS", "MAIN_CLAIM", "PAPER_TABLE3_AVG_RANK",
           "batch_claim_verdicts", "findings_markdown", "paper_rank_sentence", "runs_table", "std_range_sentence",
           "verdict_rules_markdown", "verdicts_section"]

#: the sampler name the ``use_correlation=False`` ablation runs carry in the results table
ABLATION_SAMPLER = "uncertainty_no_c"
#: the baselines the paper names (Random, Balance, Active, Recent, Hard), by the workbench's names
PAPER_BASELINES = ("random", "balance", "active_bias", "recency_bias", "hard_imbalance")
_PAPER = "Uncertainty batch selection (Zhou et al.)"
_VALUE_NAME = "(test, best-validation epoch)"

MAIN_CLAIM = Claim(
    key="batch_uncertainty", paper=_PAPER,
    statement="The uncertainty-based sampler beats Random, Balance, Active, Recent and Hard on Macro-AUC, "
              "ranking loss and Hamming loss (Table 3, Appendix D).",
    subject="uncertainty", baselines=PAPER_BASELINES, metrics=METRICS, kind="better", value="test",
    value_name=_VALUE_NAME,
    missing_note="The paper's models (CLIF, DELA, MPVAE) and larger sets (Corel5k, rcv1, bibtex, ...) are "
                 "not run: a one-hidden-layer MLP on five bundled Mulan sets.")
ABLATION_CLAIM = Claim(
    key="batch_correlation", paper=_PAPER,
    statement="The label-correlation term C makes the sampler better: with C it beats the same sampler "
              "without C (Eq. 7; ablation).",
    subject="uncertainty", baselines=(ABLATION_SAMPLER,), metrics=METRICS, kind="better", value="test",
    value_name=_VALUE_NAME)
BATCH_CLAIMS = (MAIN_CLAIM, ABLATION_CLAIM)

#: Table 3 of the paper: average Macro-AUC rank of each method (1 = best) over its 13 datasets, per model
PAPER_TABLE3_AVG_RANK = {
    "CLIF": {"random": 5.00, "balance": 4.38, "active_bias": 4.15, "recency_bias": 3.08, "hard_imbalance": 2.92,
             "uncertainty": 1.46},
    "DELA": {"random": 4.46, "balance": 5.38, "active_bias": 4.00, "recency_bias": 2.54, "hard_imbalance": 3.08,
             "uncertainty": 1.38},
}


def batch_claim_verdicts(runs: pd.DataFrame, *, test: str = "auto", alpha: float = 0.05) -> list[ClaimResult]:
    """The verdicts on :data:`BATCH_CLAIMS` from a results table, by the reproduction report's rules.

    Parameters
    ----------
    runs : DataFrame
        One row per (``dataset``, ``sampler``, ``seed``) with the test metrics of :data:`METRICS` at
        the best-validation epoch; the ablation's runs carry ``sampler`` = :data:`ABLATION_SAMPLER`.
    test : {"auto", "t", "wilcoxon"}
        The paired test (t below 6 seeds, Wilcoxon from 6 with ``"auto"``).
    alpha : float
        The significance level of the Holm-adjusted p-values.

    Returns
    -------
    list of ClaimResult
        The main claim's and the ablation's, each with its Holm family, comparisons and rank table.

    Raises
    ------
    ValueError
        When a column is missing (the message names it).
    """
    missing = [c for c in ("dataset", "sampler", "seed", *METRICS) if c not in runs.columns]
    if missing:
        raise ValueError(f"The results table lacks the column(s) {', '.join(missing)}; pass one row per "
                         "(dataset, sampler, seed) with the test metrics.")
    labels = runs[["sampler"]].drop_duplicates().assign(strategy=lambda d: d["sampler"].astype(str))
    res = SimpleNamespace(runs=labels.rename(columns={"sampler": "strategy_name"}))
    cfg = {"test": test, "alpha": alpha}
    out = []
    for claim in BATCH_CLAIMS:
        sub = runs
        if ABLATION_SAMPLER in claim.baselines:  # only the datasets the ablation ran on
            sub = runs[runs["dataset"].isin(set(runs.loc[runs["sampler"] == ABLATION_SAMPLER, "dataset"]))]
        per_run = {m: pd.DataFrame({"setting": sub["dataset"].astype(str), "strategy": sub["sampler"].astype(str),
                                    "seed": sub["seed"].astype(int), "test": sub[m].astype(float)})
                   for m in claim.metrics}
        out.append(_claim_better(claim, res, per_run, cfg))
    return out


def verdict_rules_markdown(alpha: float = 0.05, n_seeds: int | None = None) -> str:
    """The "Verdict rules" section at the top of the batch-selection report.

    Parameters
    ----------
    alpha : float
        The significance level the verdicts use.
    n_seeds : int, optional
        The seeds per sampler (said with the test they imply).

    Returns
    -------
    str
        Markdown: the tests, the Holm families and the verdict words, as the reproduction report
        defines them.
    """
    a = f"{alpha:g}"
    seeds = f"{n_seeds} seeds here, each" if n_seeds else "each seed"
    return (
        "## Verdict rules\n\n"
        "The rules of the reproduction report (`mlal_core.experiments.report`), applied to the test metrics "
        "at the best-validation epoch.\n\n"
        f"* **Comparisons.** Runs are paired by seed ({seeds} with the same model initialisation, dropout and "
        "batch-draw seed for every sampler). The p-value is two-sided, from the paired t-test below 6 seeds and the "
        "Wilcoxon signed-rank test from 6 on. Beside every p-value is the **effect size**: the mean paired "
        f"difference with its 95 % confidence interval from a paired bootstrap over seeds ({BOOTSTRAP_TEXT}); "
        "the interval is unadjusted, and with few seeds it is narrow.\n"
        "* **Multiple comparisons: Holm's step-down method, one family per claim.** The main claim's family "
        "is every comparison of the uncertainty sampler with each of the five samplers the paper names "
        "(random, balance, active_bias, recency_bias, hard_imbalance), on every dataset and every metric "
        "(Macro-AUC, ranking loss, Hamming loss): 5 x datasets x 3 comparisons. The ablation's family is "
        "the uncertainty sampler with C vs without C, on every ablation dataset and metric. Comparisons "
        "between baselines are in neither family. Each family and its size are stated under its claim.\n"
        f"* **Verdicts are decided on the Holm-adjusted p-values** (adjusted p < {a}, in the direction of "
        "the mean difference; for the losses lower is better). Unadjusted p-values are printed beside "
        "them for reference only.\n"
        f"* **holds**: significantly better (adjusted p < {a}) than every baseline the paper names, on every "
        "dataset and metric the claim covers. **partly**: significantly better than at least one baseline "
        "on at least one dataset x metric, and significantly worse than none on any. **does not hold**: "
        "otherwise (better than none, or significantly worse than at least one). **not assessed**: the "
        "subject or all its baselines are absent.\n"
        "* **Rank tables.** Beside each verdict: the mean rank over seeds (1 = best; ties share the average "
        "rank) of the subject and its baselines on each dataset x metric.\n"
        + ("* **One seed: no paired test is defined**, so no comparison can be significant and the verdicts "
           "below say nothing about the claims; build with `--seeds 3` or more.\n"
           if n_seeds is not None and n_seeds < 2 else "")
    )


def verdicts_section(verdicts: Sequence[ClaimResult], alpha: float = 0.05, data_dir: Path | None = None) -> str:
    """The verdict table and each claim in detail (family, rank table, effect sizes, p-values).

    Parameters
    ----------
    verdicts : sequence of ClaimResult
        :func:`batch_claim_verdicts`' results.
    alpha : float
        The significance level they were decided at.
    data_dir : Path, optional
        Where each claim's tables are also written as CSV (``claim_<key>*.csv``).

    Returns
    -------
    str
        Markdown.
    """
    parts = [verdicts_markdown(verdicts, alpha), "## Claims in detail\n"]
    parts += [_claim_detail_markdown(v, data_dir) for v in verdicts]
    return "\n".join(parts)


# ------------------------------------------------------------------------------- computed sentences
def paper_rank_sentence(sampler: str = "random") -> str:
    """Where the paper's Table 3 ranks ``sampler``, per model, with the last-ranked method of each.

    Parameters
    ----------
    sampler : str
        A key of :data:`PAPER_TABLE3_AVG_RANK`'s rows.

    Returns
    -------
    str
        E.g. "The paper's Table 3 ranks random 5.00 under CLIF (last of 6) and 4.46 under DELA (5th of
        6; last: balance 5.38)."
    """
    parts = []
    for model, ranks in PAPER_TABLE3_AVG_RANK.items():
        order = sorted(ranks, key=ranks.__getitem__)
        pos = order.index(sampler) + 1
        last = order[-1]
        where = f"last of {len(order)}" if last == sampler else (
            f"{_ordinal(pos)} of {len(order)}; last: {last} {ranks[last]:.2f}")
        parts.append(f"{ranks[sampler]:.2f} under {model} ({where})")
    return f"The paper's Table 3 (average Macro-AUC rank) ranks {sampler} " + " and ".join(parts) + "."


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def std_range_sentence(summary: pd.DataFrame, metric: str = "macro_auc") -> str:
    """The range of the seed-to-seed std of a metric over (dataset, sampler), with where its ends are.

    Parameters
    ----------
    summary : DataFrame
        ``BatchSelectionResult.summary`` rows of every dataset (``dataset``, ``sampler``,
        ``<metric>_std``).
    metric : str
        The metric.

    Returns
    -------
    str
        E.g. "The seed-to-seed std of the test Macro-AUC ranges from 0.0003 (scene, balance) to 0.0146
        (emotions, hard_imbalance)." (no std with one seed: says so).
    """
    std = summary[["dataset", "sampler", f"{metric}_std"]].dropna()
    if std.empty:
        return f"The seed-to-seed std of the test {metric_name(metric)} is not defined (one seed)."
    lo = std.loc[std[f"{metric}_std"].idxmin()]
    hi = std.loc[std[f"{metric}_std"].idxmax()]
    return (f"The seed-to-seed std of the test {metric_name(metric)} ranges from {lo[f'{metric}_std']:.4f} "
            f"({lo['dataset']}, {lo['sampler']}) to {hi[f'{metric}_std']:.4f} ({hi['dataset']}, {hi['sampler']}).")


def _avg_ranks(summary: pd.DataFrame, metric: str) -> pd.Series:
    return summary.groupby("sampler", sort=False)[f"{metric}_rank"].mean().sort_values(kind="stable")


def _rank_sentences(summary: pd.DataFrame, subject: str = "uncertainty") -> list[str]:
    out = []
    for m in METRICS:
        avg = _avg_ranks(summary, m)
        ranks = summary.set_index("dataset").loc[lambda d: d["sampler"] == subject, f"{m}_rank"]
        by_place: dict[int, list[str]] = {}
        for ds, r in ranks.items():
            by_place.setdefault(int(r), []).append(str(ds))
        places = "; ".join(f"{_ordinal(p)} on {', '.join(v)}" for p, v in sorted(by_place.items()))
        best = avg.index[avg == avg.iloc[0]].tolist()
        out.append(f"{metric_name(m)} ({'higher' if higher_is_better(m) else 'lower'} is better): {subject} "
                   f"has average rank {avg[subject]:.2f} ({places}); best average rank: {', '.join(best)} "
                   f"{avg.iloc[0]:.2f}; order by average rank: "
                   + ", ".join(f"{s} {v:.2f}" for s, v in avg.items()) + ".")
    return out


def _convergence_sentence(conv: pd.DataFrame, subject: str = "uncertainty", reference: str = "random") -> str:
    if subject not in conv.columns or reference not in conv.columns:
        return ""
    cells = []
    counts = {"later": 0, "earlier": 0, "tied": 0, "not compared": 0}
    for ds, row in conv.iterrows():
        a, b = row[subject], row[reference]
        if pd.isna(a) or pd.isna(b):
            key = "not compared"
        else:
            key = "later" if a > b else ("earlier" if a < b else "tied")
        counts[key] += 1
        cells.append(f"{ds} {_epoch_text(a)} vs {_epoch_text(b)}")
    tally = ", ".join(f"{k} on {v}" for k, v in counts.items() if v)
    return (f"Convergence (epochs to 99 % of {reference}'s best validation Macro-AUC): {subject} vs {reference}: "
            f"{'; '.join(cells)} ({tally} of {len(conv)} sets).")


def _epoch_text(v) -> str:
    return "never" if pd.isna(v) else f"{int(v)}"


def _gap_sentence(summary: pd.DataFrame, metric: str = "macro_auc") -> str:
    gaps = []
    for _, d in summary.groupby("dataset", sort=False):
        v = d[f"{metric}_mean"].to_numpy(float)
        gaps += [abs(x - y) for i, x in enumerate(v) for y in v[i + 1:]]
    if not gaps:
        return ""
    return (f"The median absolute difference between two samplers' mean test {metric_name(metric)} on the same "
            f"dataset is {float(np.median(gaps)):.4f} (largest {max(gaps):.4f}).")


def _checks_sentence(checks: pd.DataFrame) -> str:
    if checks.empty:
        return ""
    ratio = checks["mean_offdiag_C"] / checks["noise_floor_mean"]
    first = checks.groupby("dataset", sort=False).head(1).index
    last = checks.groupby("dataset", sort=False).tail(1).index
    near = [f"{checks.at[i, 'dataset']} ({checks.at[i, 'mean_offdiag_C']:.4f} vs {checks.at[i, 'noise_floor_mean']:.4f})"
            for i in last if ratio[i] < 2]
    return (f"Off-diagonal C against its permutation noise floor: {ratio[first].min():.1f}-{ratio[first].max():.1f}x "
            f"the floor's mean at the first checked epoch; at the last, below 2x the floor on "
            f"{', '.join(near) if near else 'no set'}. Spearman correlation of the sample weights with and "
            f"without C: {checks['spearman_w'].min():.3f}-{checks['spearman_w'].max():.3f}.")


def findings_markdown(summary: pd.DataFrame, summary_last: pd.DataFrame, verdicts: Sequence[ClaimResult], *,
                      convergence: pd.DataFrame | None = None, checks: pd.DataFrame | None = None) -> str:
    """The report's summary sentences, every number in them computed from the tables of the report.

    Parameters
    ----------
    summary, summary_last : DataFrame
        ``BatchSelectionResult.summary("best")`` / ``("last")`` of every dataset, concatenated.
    verdicts : sequence of ClaimResult
        :func:`batch_claim_verdicts`' results.
    convergence : DataFrame, optional
        Epochs to reach 99 % of random's best validation Macro-AUC (index dataset, one column per sampler).
    checks : DataFrame, optional
        The report's ``correlation_checks`` table.

    Returns
    -------
    str
        Markdown bullet lines under a "Summary" heading.
    """
    lines = [f"**{v.claim.statement}** Verdict: **{v.verdict}** ({v.family or 'no family'})." for v in verdicts]
    lines += _rank_sentences(summary)
    lines.append(paper_rank_sentence("random"))
    lines.append(std_range_sentence(summary, "macro_auc") + " " + _gap_sentence(summary, "macro_auc"))
    last = _avg_ranks(summary_last, "macro_auc")
    lines.append("At the last epoch (no validation-based epoch choice), average Macro-AUC rank: "
                 + ", ".join(f"{s} {v:.2f}" for s, v in last.items()) + ".")
    if convergence is not None:
        lines.append(_convergence_sentence(convergence))
    if checks is not None:
        lines.append(_checks_sentence(checks))
    return "## Summary (computed from the tables below)\n\n" + "\n".join(f"* {ln}" for ln in lines if ln) + "\n"


def runs_table(main: dict[str, pd.DataFrame], ablation: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One results table from the per-dataset runs (and the ablation's, renamed :data:`ABLATION_SAMPLER`).

    Parameters
    ----------
    main : dict of str to DataFrame
        Dataset -> ``BatchSelectionResult.runs``.
    ablation : dict of str to DataFrame
        Dataset -> the ``use_correlation=False`` runs of the uncertainty sampler.

    Returns
    -------
    DataFrame
        ``dataset``, ``sampler``, ``seed`` and the test metrics, one row per run.
    """
    cols = ["sampler", "seed", *METRICS]
    parts = [r[cols].assign(dataset=ds) for ds, r in main.items()]
    parts += [r[cols].assign(dataset=ds, sampler=ABLATION_SAMPLER) for ds, r in ablation.items()]
    if not parts:
        return pd.DataFrame(columns=["dataset", *cols])
    out = pd.concat(parts, ignore_index=True)
    out["seed"] = out["seed"].astype(np.int64)
    return out[["dataset", *cols]]
