"""CRAB's two readings of the asymmetric-pair rule, compared in the reproduction report.

``METHODS.md`` (CRAB, step 1) revises a [choice]: of an asymmetric pair (``A[m, n] > A[n, m]``, n's
presence implies m's), the label-wise pool keeps the *implying* label n and drops the implied label m
(``asymmetric_keep="implying"``, the default); the earlier reading kept m and dropped n
(``"implied"``), which on label-dense data drops the rarest labels. An experiment that runs CRAB
under both readings (two strategy entries, e.g. labels ``crab`` and ``crab (implied)``) gets a
section comparing them, paired over seeds with the report's own helpers
(:func:`mlal_core.experiments.analysis.paired_tests`, :func:`~mlal_core.experiments.analysis.holm_family`):

* micro- and macro-F1 AULC (higher is better);
* the mean MeanIR of the selected batches (lower is better; it counts only the labels a batch has);
* batch label coverage and labelled-set label coverage (higher is better), the fraction of all labels
  with a positive in the batch / in the labelled set.

The comparisons of all settings and measures form one Holm family; the section is descriptive (it
decides no paper's claim). CRAB's claims are assessed on the default reading only: the claims take
the strategy labelled ``crab`` (:func:`mlal_core.experiments.report._label_of`), and the section says
which reading that label runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mlal_core.experiments import analysis as A

__all__ = ["READING_MEASURES", "crab_reading_labels", "crab_readings_comparison", "crab_readings_markdown"]

DEFAULT_READING = "implying"
OLD_READING = "implied"

#: measure -> (rounds column, how a run's value is made, higher is better, name in the report)
READING_MEASURES: dict[str, tuple[str, str, bool, str]] = {
    "micro_f1": ("micro_f1", "aulc", True, "micro-F1 AULC"),
    "macro_f1": ("macro_f1", "aulc", True, "macro-F1 AULC"),
    "mean_ir_selected": ("mean_ir_selected", "mean", False, "MeanIR of batch"),
    "batch_coverage": ("batch_coverage", "mean", True, "batch coverage"),
    "label_coverage": ("label_coverage", "mean", True, "labelled coverage"),
}


def crab_reading_labels(strategies: Sequence | None, runs: pd.DataFrame) -> dict[str, str]:
    """The strategy label that runs CRAB under each reading of ``asymmetric_keep``.

    Parameters
    ----------
    strategies : sequence of StrategySpec or None
        The experiment config's strategies (``name``, ``label``, ``params`` with every default
        resolved); None when the config is not at hand.
    runs : DataFrame
        The finished runs (``strategy``, ``strategy_name``): only labels with runs count.

    Returns
    -------
    dict
        ``{"implying": label, "implied": label}`` for the readings present (the first entry of each);
        without the config, the label ``crab`` is taken as the default reading and a CRAB label
        containing "implied" as the old one.
    """
    present = set(runs.loc[runs["strategy_name"] == "crab", "strategy"]) if not runs.empty else set()
    out: dict[str, str] = {}
    if strategies is not None:
        for s in strategies:
            if s.name == "crab" and s.label in present:
                out.setdefault(str(s.params.get("asymmetric_keep", DEFAULT_READING)), s.label)
        return out
    if "crab" in present:
        out[DEFAULT_READING] = "crab"
    old = sorted(lab for lab in present if OLD_READING in lab and lab != "crab")
    if old:
        out[OLD_READING] = old[0]
    return out


def _per_run(rounds: pd.DataFrame, measure: str) -> pd.DataFrame | None:
    column, how, _, _ = READING_MEASURES[measure]
    if column not in rounds.columns or not rounds[column].notna().any():
        return None
    if how == "aulc":
        return A.aulc_per_run(rounds, column).rename(columns={"aulc": "value"})
    return A.per_run_mean(rounds, column)


def crab_readings_comparison(rounds: pd.DataFrame, implying: str, implied: str, *, test: str = "auto",
                             alpha: float = 0.05) -> pd.DataFrame:
    """The default reading (``implying``) against the old one (``implied``), paired over seeds.

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame (``setting``, ``strategy``, ``seed``, ``n_labeled`` and the measure columns of
        :data:`READING_MEASURES` that are present).
    implying, implied : str
        The strategy labels of the two readings.
    test : {"auto", "t", "wilcoxon"}
        The paired test (:func:`mlal_core.experiments.analysis.paired_tests`).
    alpha : float
        The significance level of the Holm-adjusted outcomes.

    Returns
    -------
    DataFrame
        One row per setting x measure with paired runs: ``setting``, ``measure`` (its name in the
        report), ``higher_is_better``, ``implying`` / ``implied`` (means over seeds), ``std_implying`` /
        ``std_implied`` (ddof 1), ``n``, ``mean_diff`` (implying minus implied), ``ci_low`` /
        ``ci_high`` (95 % paired bootstrap), ``test``, ``p``, ``p_adj`` (Holm over every row: one family),
        ``family_size`` and ``outcome`` ("default better", "default worse" or "n.s.", adjusted).
    """
    parts = []
    for measure, (_, _, higher, name) in READING_MEASURES.items():
        pr = _per_run(rounds, measure)
        if pr is None:
            continue
        pr = pr[pr["strategy"].isin([implying, implied])]
        t = A.paired_tests(pr, value="value", strategies=[implying, implied], higher_is_better=higher, test=test,
                           alpha=alpha)
        t = t[(t["strategy"] == implying) & (t["other"] == implied)]
        if t.empty:
            continue
        std = pr.groupby(["setting", "strategy"])["value"].std(ddof=1)
        parts.append(t.assign(measure=name, higher_is_better=higher,
                              std_implying=[std.get((s, implying), np.nan) for s in t["setting"]],
                              std_implied=[std.get((s, implied), np.nan) for s in t["setting"]]))
    cols = ["setting", "measure", "higher_is_better", "implying", "std_implying", "implied", "std_implied", "n",
            "mean_diff", "ci_low", "ci_high", "test", "p", "p_adj", "family_size", "outcome"]
    if not parts:
        return pd.DataFrame(columns=cols)
    fam = A.holm_family(pd.concat(parts, ignore_index=True), alpha=alpha,
                        higher_is_better=pd.concat(parts)["higher_is_better"].tolist())
    fam["outcome"] = np.where(fam["better_adj"], "default better", np.where(fam["worse_adj"], "default worse", "n.s."))
    fam = fam.rename(columns={"mean_a": "implying", "mean_b": "implied"})
    return fam[cols].reset_index(drop=True)


def _fmt(v: float, digits: int = 3) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def crab_readings_markdown(rounds: pd.DataFrame, strategies: Sequence | None, runs: pd.DataFrame, *,
                           claim_label: str | None, test: str = "auto", alpha: float = 0.05,
                           data_dir=None) -> str:
    """The report's section "CRAB: the two readings of the asymmetric-pair rule" (empty without both).

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame (with the balance columns when the report computed them).
    strategies : sequence of StrategySpec or None
        The config's strategies (:func:`crab_reading_labels`).
    runs : DataFrame
        The finished runs.
    claim_label : str or None
        The CRAB label the paper claims were assessed on (to say which reading they used).
    test : {"auto", "t", "wilcoxon"}
        The paired test.
    alpha : float
        The significance level.
    data_dir : path-like, optional
        Where ``crab_readings.csv`` is written (the comparison table).

    Returns
    -------
    str
        Markdown: a paragraph naming the readings, the labels and the Holm family, the comparison table,
        and one sentence per setting; "" when the experiment does not run both readings.
    """
    labels = crab_reading_labels(strategies, runs)
    if DEFAULT_READING not in labels or OLD_READING not in labels:
        return ""
    new, old = labels[DEFAULT_READING], labels[OLD_READING]
    cmp = crab_readings_comparison(rounds, new, old, test=test, alpha=alpha)
    if cmp.empty:
        return ""
    if data_dir is not None:
        cmp.to_csv(f"{data_dir}/crab_readings.csv", index=False)
    used = ("the default reading" if claim_label == new else
            f"**`{claim_label}`, not the default reading `{new}`**" if claim_label else "no CRAB run")
    from mlal_core.experiments.report import ci_text, md_table  # the report's writers (imported late: no cycle)
    table = pd.DataFrame({
        "setting": cmp["setting"], "measure": cmp["measure"],
        f"{new}": [f"{_fmt(m)} ± {_fmt(s)}" for m, s in zip(cmp["implying"], cmp["std_implying"], strict=True)],
        f"{old}": [f"{_fmt(m)} ± {_fmt(s)}" for m, s in zip(cmp["implied"], cmp["std_implied"], strict=True)],
        "Δ (default − old) [95% CI]": [f"{d:+.3f} {ci_text(lo, hi)}" for d, lo, hi in
                                       zip(cmp["mean_diff"], cmp["ci_low"], cmp["ci_high"], strict=True)],
        "n": cmp["n"].astype(int), "p": [_fmt(p, 4) for p in cmp["p"]], "Holm p": [_fmt(p, 4) for p in cmp["p_adj"]],
        "outcome": cmp["outcome"]})
    names = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}
    tests = " / ".join(names.get(t, str(t)) for t in dict.fromkeys(cmp["test"]))

    lines = [
        "## CRAB: the two readings of the asymmetric-pair rule\n",
        f"`{new}` runs CRAB with `asymmetric_keep=\"implying\"` (the default since METHODS.md's revision: of an "
        "asymmetric pair keep the implying, narrower label and drop the implied one); "
        f"`{old}` runs the earlier reading `asymmetric_keep=\"implied\"` (keep the implied, broader label: on "
        "label-dense data it drops the rarest labels). Same seeds, initial sets and model seeds. CRAB's claims "
        f"above are assessed on {used}. The comparisons below are paired over seeds ({tests}, two-sided; "
        "Δ = default minus old, 95 % paired-bootstrap CI); their Holm family is every row of "
        f"the table ({int(cmp['family_size'].iloc[0])} comparisons), and the outcome is decided on the "
        f"adjusted p (< {alpha:g}). Lower is better for MeanIR, higher for the rest; coverage is the fraction "
        "of all labels with a positive in the batch / the labelled set. Descriptive: no paper claim rests on it.\n",
        md_table(table) + "\n",
    ]
    for setting, cell in cmp.groupby("setting", sort=False):
        won = cell.loc[cell["outcome"] == "default better", "measure"].tolist()
        lost = cell.loc[cell["outcome"] == "default worse", "measure"].tolist()
        lines.append(f"- {setting}: the default reading is better on {', '.join(won) or 'nothing'} and worse on "
                     f"{', '.join(lost) or 'nothing'} (Holm-adjusted); the rest is not significant.")
    return "\n".join(lines) + "\n"
