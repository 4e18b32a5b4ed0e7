"""The "When to stop" section of the reproduction report (issue 19, item 4).

For every stopping criterion of :func:`mlal_core.stopping.default_criteria` (the paper defaults), one
table over the grid: per dataset x strategy, the round where the rule first said "stop" against the
oracle's round (the first record whose test score reaches 95 % / 99 % of the run's final score, and
of the full-data score where a reference exists), as the median over seeds with the quartiles, the
labels the rule would have wasted (positive) or stopped early by (negative) against the 95 % oracle,
the labels it saved against running the whole budget, and the score kept. A rule that never fires
stops at the end of the budget (``fired`` says how often it did).

No claim of the papers is tested here, so the section uses no verdict words (holds / partly / does not
hold are the report's words for tested claims); "late" / "early" / "at the oracle" describe the median
only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mlal_core import stopping
from mlal_core.experiments import analysis as A
from mlal_core.experiments.report import md_table
from mlal_core.metrics import higher_is_better

__all__ = ["stopping_outcomes", "when_to_stop_markdown"]

_GROUP = ("setting", "strategy")


def stopping_outcomes(rounds: pd.DataFrame, references: pd.DataFrame | None, metric: str = "micro_f1"
                      ) -> pd.DataFrame:
    """Per run and criterion: the rule's stop against the oracle's rounds (:func:`mlal_core.stopping.stop_outcomes`).

    Parameters
    ----------
    rounds : pandas.DataFrame
        The results' rounds frame (``ExperimentResults.rounds``, with its ``stop_<key>`` columns).
    references : pandas.DataFrame or None
        The full-data references (adds the ``full95`` / ``full99`` oracle where one exists).
    metric : str, default "micro_f1"
        The score the oracle reads.

    Returns
    -------
    pandas.DataFrame
        One row per (run, criterion), keyed by ``key`` (the run), with ``setting``, ``dataset``,
        ``strategy`` and ``seed``.
    """
    keep = ["key", "setting", "dataset", "representation", "model", "strategy", "seed", "round", "n_labeled", metric,
            *(c for c in rounds.columns if c.startswith("stop_") and not c.endswith("_value"))]
    frame = rounds[[c for c in keep if c in rounds.columns]]
    refs = None
    if references is not None and not references.empty and metric in references.columns:
        ref = A.with_reference(frame, references, metric)
        refs = dict(zip(frame["key"], ref.to_numpy()))
    out = stopping.stop_outcomes(frame, metric, run="key", references=refs, higher_is_better=higher_is_better(metric))
    out["full_data_score"] = out["key"].map(refs) if refs else np.nan
    return out.drop(columns=[c for c in ("representation", "model") if c in out.columns])


def _num(x: float, share: bool) -> str:
    if share:
        return f"{x:.3f}"
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.1f}"


def _cell(values: pd.Series, share: bool = False) -> str:
    """``median [q1-q3]`` of the non-missing values (the median alone for one value; "-" for none)."""
    v = values.dropna()
    if v.empty:
        return "-"
    med, lo, hi = (_num(float(x), share) for x in (v.median(), v.quantile(0.25), v.quantile(0.75)))
    return med if len(v) == 1 else f"{med} [{lo} to {hi}]"


def _words(extra: pd.Series) -> str:
    v = extra.dropna()
    if v.empty:
        return "-"
    med = float(v.median())
    return "at the oracle" if med == 0 else (f"late by {med:,.0f}" if med > 0 else f"early by {-med:,.0f}")


def _reached_cell(rounds_reached: pd.Series, has_reference: pd.Series) -> str:
    """The full-data oracle's cell: its median over the runs that have a reference, and how many reached it."""
    n = int(has_reference.sum())
    if n == 0:
        return "no reference"
    reached = rounds_reached[has_reference]
    k = int(reached.notna().sum())
    if k == 0:
        return f"not reached (0/{n})"
    return _cell(reached) + ("" if k == n else f" (reached in {k}/{n})")


def _criterion_table(out: pd.DataFrame, order: Sequence[str], with_full: bool) -> pd.DataFrame:
    rows = []
    for (setting, strategy), g in out.groupby(list(_GROUP), sort=False):
        row = {"dataset": setting, "strategy": strategy, "fired": f"{int(g['fired'].sum())}/{len(g)}",
               "stop round": _cell(g["stop_round"]), "oracle round (95 %)": _cell(g["oracle_round_final95"]),
               "oracle round (99 %)": _cell(g["oracle_round_final99"]),
               "labels vs 95 % oracle": _cell(g["extra_labels_final95"]), "reading": _words(g["extra_labels_final95"]),
               "labels saved": _cell(g["labels_saved"]),
               "score at stop / final": _cell(g["score_at_stop"] / g["final_score"].where(g["final_score"] != 0),
                                              share=True)}
        if with_full:
            row["oracle round (95 % of full data)"] = _reached_cell(
                g.get("oracle_round_full95", pd.Series(np.nan, index=g.index)), g["full_data_score"].notna())
        rows.append(row)
    table = pd.DataFrame(rows)
    rank = {s: i for i, s in enumerate(order)}
    return table.sort_values(["dataset", "strategy"], key=lambda c: c.map(rank).fillna(len(rank))
                             if c.name == "strategy" else c, kind="stable")


def when_to_stop_markdown(rounds: pd.DataFrame, references: pd.DataFrame | None, *, metric: str = "micro_f1",
                          strategy_order: Sequence[str] = (), data_dir: Path | None = None) -> str:
    """The report's "When to stop" section: one table per criterion over the grid.

    Parameters
    ----------
    rounds : pandas.DataFrame
        The results' rounds frame (with ``stop_<key>`` columns).
    references : pandas.DataFrame or None
        The full-data references.
    metric : str, default "micro_f1"
        The score the oracle reads.
    strategy_order : sequence of str
        The strategies' order in the tables.
    data_dir : Path, optional
        Where ``stopping_per_run.csv`` and ``stopping_summary.csv`` go.

    Returns
    -------
    str
        Markdown (a note instead of tables when the runs recorded nothing the criteria need).
    """
    head = ["## When to stop\n",
            "Each stopping rule is evaluated after every round from what the run stored (no test label), with "
            "its paper's defaults. The **oracle round** is hindsight: the first round whose test "
            f"{A.metric_name(metric)} reaches 95 % (99 %) of the run's final score. Cells are the median over "
            "seeds [quartiles]; a rule that never fired stops at the end of the budget (*fired* counts the runs "
            "where it did). *Labels vs 95 % oracle*: labels at the rule's stop minus labels at the oracle round "
            "(positive: labelled after the score had already got there; negative: stopped that many labels "
            "early); *labels saved*: against running the whole budget. Descriptive: no claim is tested here, "
            "so no verdict words are used; *reading* describes the median only.\n"]
    keys = [c.key for c in stopping.default_criteria() if f"stop_{c.key}" in rounds.columns]
    measured = [k for k in keys if rounds.get(f"stop_{k}_value", pd.Series(dtype=float)).notna().any()]
    if rounds.empty or not measured:
        return "\n".join(head + ["The runs of this experiment recorded nothing the stopping rules need (stores "
                                 "written before session schema v4).\n"])
    out = stopping_outcomes(rounds, references, metric)
    with_full = bool(out["full_data_score"].notna().any())
    if data_dir is not None:
        out.to_csv(Path(data_dir) / "stopping_per_run.csv", index=False)
        stopping.stop_summary(out, by=list(_GROUP)).to_csv(Path(data_dir) / "stopping_summary.csv", index=False)
    lines = list(head)
    if with_full:
        lines.append("*Oracle round (95 % of full data)*: the first round whose score reaches 95 % of the full-data "
                     "model's (same model and seed), over the runs with a reference; *not reached (0/n)* when no run "
                     "got there within the budget.\n")
    names = {c.key: c for c in stopping.default_criteria()}
    for key in measured:
        crit = names[key]
        lines.append(f"### {crit.name}\n")
        lines.append(f"{crit.paper}.\n")
        lines.append(md_table(_criterion_table(out[out["criterion"] == key], strategy_order, with_full)))
        lines.append("")
    missing = [names[k].name for k in keys if k not in measured]
    if missing:
        lines.append("No value in these runs (too few rounds for the rule's window, or stores without what it "
                     "needs): " + ", ".join(missing) + ".\n")
    return "\n".join(lines)
