"""The "How to start" section of the reproduction report (issue 19, item 4): each initial method's
effect on the AULC.

When a grid varies ``initial_method`` (:class:`mlal_core.experiments.ExperimentConfig`), every run of
a (dataset, strategy, seed) under an initial method other than random is paired with the run of the
same dataset, strategy and seed that started from a random initial set, and their AULCs are compared
with the report's own tools (:func:`mlal_core.experiments.analysis.paired_tests`: paired t-test below
6 seeds, Wilcoxon from 6; the mean paired difference with its 95 % paired-bootstrap interval).

Verdicts follow the report's rules: the statement "<method> initialisation gives a higher AULC than a
random initial set" is one claim per initial method, its Holm family every comparison of that method
with random on every dataset x strategy x metric, decided on the adjusted p-values by
:func:`mlal_core.experiments.report.decide_verdict` (holds / partly / does not hold / not assessed).

The paper claims of the report are about random initial sets (the papers' setting): when the grid
varies the initial method, they are checked on the random-initialisation runs only
(:func:`paper_initialisation`).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlal_core.experiments import analysis as A
from mlal_core.experiments.report import decide_verdict, md_table
from mlal_core.metrics import higher_is_better

__all__ = ["initial_methods_of", "initialisation_effects", "initialisation_markdown", "initialisation_per_run",
           "initialisation_verdicts", "paper_initialisation"]

#: the initial method every other one is compared with
BASELINE = "random"
_RUN = ("dataset", "strategy", "initial_method", "seed")


def initial_methods_of(store: str | Path, session_ids: Sequence[str]) -> dict[str, str]:
    """Each session's initial method, read from the configs its store holds.

    Parameters
    ----------
    store : str or Path
        The main store file.
    session_ids : sequence of str
        The sessions.

    Returns
    -------
    dict
        ``session_id -> initial_method`` (``"random"`` for a config without one).
    """
    ids = [str(s) for s in dict.fromkeys(session_ids) if s is not None]
    out: dict[str, str] = {}
    con = sqlite3.connect(f"file:{Path(store).resolve()}?mode=ro", uri=True, timeout=60.0)
    try:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for sid, text in con.execute(f"SELECT id, config_json FROM sessions WHERE id IN ({marks})", chunk):
                out[sid] = str(json.loads(text).get("initial_method") or BASELINE)
    finally:
        con.close()
    return out


def paper_initialisation(res: Any, init_of: dict[str, str]) -> Any:
    """The results restricted to the random-initialisation runs, when the grid varies the initial method.

    Parameters
    ----------
    res : ExperimentResults
        The experiment's results.
    init_of : dict
        ``session_id -> initial_method`` (:func:`initial_methods_of`).

    Returns
    -------
    ExperimentResults
        ``res`` itself when every run has the same initial method (or no run is random); else a copy
        whose ``runs`` and ``rounds`` hold the random-initialisation runs only.
    """
    methods = set(init_of.values())
    if len(methods) < 2 or BASELINE not in methods:
        return res
    keep_ids = {sid for sid, m in init_of.items() if m == BASELINE}
    return dataclasses.replace(res, runs=res.runs[res.runs["session_id"].isin(keep_ids)].reset_index(drop=True),
                               rounds=res.rounds[res.rounds["session_id"].isin(keep_ids)].reset_index(drop=True))


def initialisation_per_run(rounds: pd.DataFrame, init_of: dict[str, str], metrics: Sequence[str]) -> pd.DataFrame:
    """Each run's AULC per metric, with its dataset, strategy, initial method and seed.

    Parameters
    ----------
    rounds : DataFrame
        The results' rounds frame (``session_id``, ``dataset``, ``strategy``, ``seed``, ``n_labeled``
        and the metric columns).
    init_of : dict
        ``session_id -> initial_method``.
    metrics : sequence of str
        The metrics (those missing from ``rounds`` are left out).

    Returns
    -------
    DataFrame
        Columns ``dataset``, ``strategy``, ``initial_method``, ``seed``, ``metric``, ``aulc``
        (:func:`mlal_core.experiments.analysis.aulc_per_run`).
    """
    A.require_columns(rounds, ["session_id", "dataset", "strategy", "seed", "n_labeled"], "initialisation_per_run")
    run_info = rounds.drop_duplicates("session_id").set_index("session_id")[["dataset"]]
    frames = []
    for m in metrics:
        if m not in rounds.columns:
            continue
        pr = A.aulc_per_run(rounds, m, by="session_id")
        pr["dataset"] = pr["session_id"].map(run_info["dataset"])
        pr["initial_method"] = pr["session_id"].map(init_of).fillna(BASELINE)
        frames.append(pr.assign(metric=m)[[*_RUN, "metric", "aulc"]])
    if not frames:
        return pd.DataFrame(columns=[*_RUN, "metric", "aulc"])
    return pd.concat(frames, ignore_index=True)


def _paired_spreads(wide: pd.DataFrame, tests: pd.DataFrame) -> tuple[list[float], list[float]]:
    """Std (ddof 1) of each test row's two AULCs over the seeds it paired, as its means are."""
    cell = wide.set_index(["group", "strategy", "seed"])["aulc"].sort_index()
    std_a, std_b = [], []
    for g, s in zip(tests["group"], tests["strategy"], strict=True):
        a, b = cell.loc[(g, s)], cell.loc[(g, BASELINE)]
        seeds = a.index.intersection(b.index)
        std_a.append(float(a.loc[seeds].std()) if len(seeds) > 1 else np.nan)
        std_b.append(float(b.loc[seeds].std()) if len(seeds) > 1 else np.nan)
    return std_a, std_b


def initialisation_effects(per_run: pd.DataFrame, *, test: str = "auto", alpha: float = 0.05) -> pd.DataFrame:
    """Each initial method's AULC against a random initial set, paired over seeds.

    Parameters
    ----------
    per_run : DataFrame
        One row per run and metric: ``dataset``, ``strategy``, ``initial_method``, ``seed``,
        ``metric``, ``aulc`` (:func:`initialisation_per_run`).
    test : {"auto", "t", "wilcoxon"}
        The paired test (:func:`mlal_core.experiments.analysis.paired_tests`).
    alpha : float
        The significance level.

    Returns
    -------
    DataFrame
        One row per (dataset, strategy, metric, initial method other than random) with a random
        counterpart: ``n`` (seeds paired), ``mean_a`` (the method's mean AULC), ``mean_b`` (random
        initialisation's), ``std_a`` / ``std_b``, ``mean_diff``, ``ci_low`` / ``ci_high``, ``test``,
        ``p``, and over one Holm family per initial method (every dataset x strategy x metric)
        ``p_adj``, ``family_size``, ``better_adj``, ``worse_adj`` and ``outcome`` (better / worse /
        n.s.).

    Raises
    ------
    ConfigError
        If a column is missing.
    """
    A.require_columns(per_run, [*_RUN, "metric", "aulc"], "initialisation_effects")
    cols = ["dataset", "strategy", "metric", "initial_method", "n", "mean_a", "std_a", "mean_b", "std_b",
            "mean_diff", "ci_low", "ci_high", "test", "p", "p_adj", "family_size", "better_adj", "worse_adj",
            "outcome"]
    parts = []
    for metric, d in per_run.groupby("metric", sort=False):
        groups = d[["dataset", "strategy"]].astype(str).agg(" \u2016 ".join, axis=1)
        wide = d.assign(group=groups, strategy=d["initial_method"])[["group", "strategy", "seed", "aulc"]]
        t = A.paired_tests(wide, value="aulc", by="group", baseline=BASELINE, test=test, alpha=alpha,
                           higher_is_better=higher_is_better(str(metric)))
        if t.empty:
            continue
        t["std_a"], t["std_b"] = _paired_spreads(wide, t)
        key = d.assign(group=groups).drop_duplicates("group").set_index("group")
        t["dataset"] = t["group"].map(key["dataset"])
        t["metric"] = metric
        t["initial_method"] = t["strategy"]
        t["strategy"] = t["group"].map(key["strategy"])
        parts.append(t)
    if not parts:
        return pd.DataFrame(columns=cols)
    tests = pd.concat(parts, ignore_index=True)
    fams = []
    for _, fam in tests.groupby("initial_method", sort=False):
        fams.append(A.holm_family(fam, alpha=alpha, higher_is_better=[higher_is_better(str(m)) for m in fam["metric"]]))
    out = pd.concat(fams, ignore_index=True)
    out["outcome"] = np.where(out["better_adj"], "better", np.where(out["worse_adj"], "worse", "n.s."))
    return out[cols]


def initialisation_verdicts(effects: pd.DataFrame) -> pd.DataFrame:
    """One verdict per initial method: "gives a higher AULC than a random initial set".

    Parameters
    ----------
    effects : DataFrame
        :func:`initialisation_effects`.

    Returns
    -------
    DataFrame
        ``initial_method``, ``verdict`` (:func:`mlal_core.experiments.report.decide_verdict` over the
        method's family), ``better`` / ``worse`` / ``comparisons`` (counts of its family).
    """
    rows = []
    for method, fam in effects.groupby("initial_method", sort=False):
        rows.append({"initial_method": method, "verdict": decide_verdict(fam), "better": int(fam["better_adj"].sum()),
                     "worse": int(fam["worse_adj"].sum()), "comparisons": len(fam)})
    return pd.DataFrame(rows, columns=["initial_method", "verdict", "better", "worse", "comparisons"])


def _num(v: float, sign: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:+.3f}" if sign else f"{v:.3f}"


def _p(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def initialisation_markdown(effects: pd.DataFrame, *, alpha: float = 0.05, data_dir: Path | None = None) -> str:
    """The report's "How to start" section: the verdict per initial method and the table of effects.

    Parameters
    ----------
    effects : DataFrame
        :func:`initialisation_effects`.
    alpha : float
        The significance level the verdicts used.
    data_dir : Path, optional
        Where ``initialisation_effects.csv`` is written.

    Returns
    -------
    str
        Markdown; a one-line note when the grid does not vary the initial method.

    Raises
    ------
    ConfigError
        If ``effects`` lacks a column.
    """
    A.require_columns(effects, ["dataset", "strategy", "metric", "initial_method", "mean_a", "mean_b", "p_adj"],
                      "initialisation_markdown")
    head = "## How to start: initial sets\n\n"
    if effects.empty:
        return head + ("The grid does not vary the initial method against random initial sets "
                       "(`initial_method: [random, representative, diverse]` makes it an axis).\n")
    if data_dir is not None:
        effects.to_csv(Path(data_dir) / "initialisation_effects.csv", index=False)
    verdicts = initialisation_verdicts(effects)
    lines = [head + (
        "Each run that started from another initial set is paired with the run of the same dataset, strategy and "
        "seed that started from a random one (the same seeds: the same model seeds). Claim per initial method: "
        "\"it gives a higher AULC than a random initial set\"; one Holm family per method (every dataset x "
        f"strategy x metric), verdicts on the adjusted p-values at alpha = {alpha:g}, in the report's words. "
        "The paper claims above use the random-initialisation runs only.\n"),
        md_table(verdicts, headers=["initial set", "verdict", "better", "worse", "comparisons"]), ""]
    shown = effects.assign(
        metric=effects["metric"].map(A.metric_name),
        aulc=[f"{_num(a)} \u00b1 {_num(s)}" for a, s in zip(effects["mean_a"], effects["std_a"])],
        random=[f"{_num(b)} \u00b1 {_num(s)}" for b, s in zip(effects["mean_b"], effects["std_b"])],
        delta=[f"{_num(d, True)} [{_num(lo, True)}, {_num(hi, True)}]"
               for d, lo, hi in zip(effects["mean_diff"], effects["ci_low"], effects["ci_high"])],
        pvals=[f"{t} p {_p(p)}, Holm {_p(pa)}" for t, p, pa in zip(effects["test"], effects["p"], effects["p_adj"])],
    )
    lines.append("AULC (mean \u00b1 std over seeds) per dataset x strategy, the paired difference from random "
                 "initialisation with its 95 % paired-bootstrap interval, and the test:\n")
    lines.append(md_table(shown, columns=["dataset", "strategy", "initial_method", "metric", "n", "aulc", "random",
                                          "delta", "pvals", "outcome"],
                          headers=["dataset", "strategy", "initial set", "metric", "seeds", "AULC",
                                   "AULC, random initial set", "\u0394 [95 % CI]", "test", "outcome"]))
    return "\n".join(lines) + "\n"

