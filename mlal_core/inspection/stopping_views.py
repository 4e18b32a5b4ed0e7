"""What the app shows of the stopping criteria (issue 19, item 3): the criteria's state after each round
(Active learning page) and each rule's stop next to the oracle's round on the learning curves (Learning
curves page). The pages only wire these; the rules are :mod:`mlal_core.stopping`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlal_core import stopping
from mlal_core.inspection.views import help_with_glossary

__all__ = [
    "BY_ROUND_HELP",
    "COMPARISON_HELP",
    "CRITERION_TERMS",
    "OVERVIEW_HELP",
    "STOPPING_TERMS",
    "criteria_for",
    "curve_outcomes",
    "session_stop_columns",
    "session_stopping_tables",
    "stop_comparison",
    "stop_markers",
]

#: the glossary entry of each criterion (by key)
CRITERION_TERMS: dict[str, str] = {
    "kappa": "stabilizing-predictions", "delta_f": "predicted-change-of-f",
    "classification_change": "classification-change", "overall_uncertainty": "overall-uncertainty",
    "max_uncertainty": "max-uncertainty-stop", "selected_accuracy": "selected-accuracy", "budget": "label-budget",
}
#: the glossary terms a "What am I looking at?" section on stopping links to
STOPPING_TERMS: list[str] = ["stopping-criterion", "stop-set", *CRITERION_TERMS.values(), "oracle-round"]

#: help of the overview table's columns (:func:`session_stopping_tables`)
OVERVIEW_HELP: dict[str, str] = {
    "criterion": help_with_glossary("The stopping rule.", "stopping-criterion") or "",
    "rule": "The paper it follows and its rule with the paper's default threshold.",
    "value": "What the rule compares with its threshold, after the last round (empty: not computable yet).",
    "threshold": "The rule's threshold.",
    "would stop here": "Whether the rule says stop after the last round.",
    "first stop": "The first round after which the rule said stop, with the labels spent by then.",
    "explanation": "The numbers behind the last round's value.",
}
#: help of the comparison table's columns (:func:`stop_comparison`)
COMPARISON_HELP: dict[str, str] = {
    "rule": help_with_glossary("The stopping rule.", "stopping-criterion") or "",
    "fired": "Sessions in which the rule said stop / sessions; one that never did stops at the end.",
    "stop round": "Round of the first stop (median over the curve's sessions).",
    "labels at stop": "Labels spent at that stop (median).",
    "score at stop": "The test score of the model kept there (median).",
    "labels saved": "Labels of the last round minus labels at the stop (median): what stopping saved.",
    "labels vs 95 % oracle": help_with_glossary(
        "Labels at the stop minus labels at the first round reaching 95 % of the final score (median): "
        "positive = labelled after the score had got there, negative = stopped that many labels early.",
        "oracle-round") or "",
}
for _f in (95, 99):
    COMPARISON_HELP[f"oracle round ({_f} % of final)"] = help_with_glossary(
        f"First round whose test score reaches {_f} % of the session's final score (median).", "oracle-round") or ""
    COMPARISON_HELP[f"oracle round ({_f} % of full data)"] = help_with_glossary(
        f"First round whose test score reaches {_f} % of the full-data score (median; empty: never).",
        "full-data-score") or ""


def criteria_for(budget: int | None = None) -> list[stopping.StoppingCriterion]:
    """The criteria the app shows: the papers' rules with their defaults, and a budget when one is set.

    Parameters
    ----------
    budget : int, optional
        A label budget (None or 0: none).

    Returns
    -------
    list of StoppingCriterion
    """
    return stopping.default_criteria(int(budget) if budget else None)


def _by_round_help(criteria: Sequence[stopping.StoppingCriterion]) -> dict[str, str]:
    out = {"round": "The record (0 = the model trained on the initial set).",
           "labelled": "Labels spent if one stops after this round.",
           "would stop here": help_with_glossary("The rules that would stop after this round.",
                                                 "stopping-criterion") or ""}
    for c in criteria:
        out[c.name] = help_with_glossary(f"{c.paper}.", CRITERION_TERMS.get(c.key)) or c.paper
    return out


#: help of the per-round table's columns for the default criteria and a budget
BY_ROUND_HELP: dict[str, str] = _by_round_help(criteria_for(1))


def session_stopping_tables(history: Sequence[Any], budget: int | None = None
                            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Active learning page's two tables: each criterion now, and every criterion after every round.

    Parameters
    ----------
    history : sequence of RoundRecord
        The session's records (at least one).
    budget : int, optional
        A label budget to add as a rule.

    Returns
    -------
    tuple of (pandas.DataFrame, pandas.DataFrame)
        :func:`mlal_core.stopping.criterion_overview` and :func:`mlal_core.stopping.states_by_round`.
    """
    criteria = criteria_for(budget)
    return stopping.criterion_overview(history, criteria), stopping.states_by_round(history, criteria)


def session_stop_columns(store: Any, session_ids: Sequence[str]) -> pd.DataFrame:
    """``session``, ``round`` and the ``stop_<key>`` / ``stop_<key>_value`` columns of stored sessions.

    Parameters
    ----------
    store : SessionStore
        The store.
    session_ids : sequence of str
        The sessions.

    Returns
    -------
    pandas.DataFrame
        One row per stored record (the default criteria of :func:`criteria_for`).
    """
    frames = [stopping.stop_columns(store.load_rounds(sid), criteria_for()).assign(session=sid)
              for sid in session_ids]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["session", "round"])


def _rule_name(key: str) -> str:
    return stopping.CRITERIA[key].name if key in stopping.CRITERIA else key


def stop_comparison(outcomes: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per curve and rule: the median stop over the curve's sessions next to the oracle's rounds.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        :func:`mlal_core.stopping.stop_outcomes` of the sessions (with the ``group`` column).
    group : str
        The column naming a curve.

    Returns
    -------
    pandas.DataFrame
        ``curve``, ``rule``, ``fired``, ``stop round``, ``labels at stop``, ``score at stop``, ``oracle round
        (95 % of final)``, ``oracle round (99 % of final)``, the full-data oracle rounds where a reference
        exists, ``labels vs 95 % oracle`` and ``labels saved`` (medians; help: :data:`COMPARISON_HELP`).
    """
    rows = []
    targets = [("final95", "95 % of final"), ("final99", "99 % of final"), ("full95", "95 % of full data"),
               ("full99", "99 % of full data")]
    present = [(t, name) for t, name in targets
               if f"oracle_round_{t}" in outcomes.columns and outcomes[f"oracle_round_{t}"].notna().any()]
    for (curve, key), g in outcomes.groupby([group, "criterion"], sort=False):
        row = {"curve": curve, "rule": _rule_name(str(key)), "fired": f"{int(g['fired'].sum())}/{len(g)}",
               "stop round": g["stop_round"].median(), "labels at stop": g["labels_at_stop"].median(),
               "score at stop": g["score_at_stop"].median()}
        for t, name in present:
            row[f"oracle round ({name})"] = g[f"oracle_round_{t}"].median()
        row["labels vs 95 % oracle"] = g["extra_labels_final95"].median()
        row["labels saved"] = g["labels_saved"].median()
        rows.append(row)
    return pd.DataFrame(rows)


def _on_curve(summary: pd.DataFrame, group: str, curve: Any, x: float) -> float:
    d = summary[summary[group] == curve].sort_values("n_labeled")
    if d.empty or np.isnan(x):
        return float("nan")
    return float(np.interp(x, d["n_labeled"].to_numpy(float), d["mean"].to_numpy(float)))


def stop_markers(outcomes: pd.DataFrame, summary: pd.DataFrame, group: str, *,
                 oracle_targets: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Markers for :func:`mlal_core.viz.add_stop_markers`: each rule's and the oracle's stop on each curve.

    A marker sits at the median over the curve's sessions of the labels at the stop, on the curve
    (the mean curve, interpolated; for a curve of one session, its own score there).

    Parameters
    ----------
    outcomes : pandas.DataFrame
        :func:`mlal_core.stopping.stop_outcomes` (with the ``group`` column).
    summary : pandas.DataFrame
        The curves (``group``, ``n_labeled``, ``mean``), as drawn.
    group : str
        The column naming a curve.
    oracle_targets : mapping of str to str, optional
        ``{target: legend name}`` of the oracle markers (default: 95 % and 99 % of the final score, and of
        the full-data score where the outcomes have it).

    Returns
    -------
    pandas.DataFrame
        ``curve``, ``rule``, ``rule_name``, ``x``, ``y``, ``text``.
    """
    if oracle_targets is None:
        oracle_targets = {"final95": "oracle: 95 % of final score", "final99": "oracle: 99 % of final score",
                          "full95": "oracle: 95 % of full-data score", "full99": "oracle: 99 % of full-data score"}
    rows = []
    for (curve, key), g in outcomes.groupby([group, "criterion"], sort=False):
        x = float(g["labels_at_stop"].median())
        fired = int(g["fired"].sum())
        rows.append({"curve": curve, "rule": key, "rule_name": f"stop: {_rule_name(str(key))}", "x": x,
                     "y": _on_curve(summary, group, curve, x),
                     "text": f"<b>{curve}</b><br>{_rule_name(str(key))} stops at {x:,.0f} labelled "
                             f"(fired in {fired}/{len(g)} session(s))"})
    for curve, g in outcomes.groupby(group, sort=False):
        first = g.drop_duplicates(subset=[c for c in ("session", "key") if c in g.columns] or None)
        for target, name in oracle_targets.items():
            col = f"oracle_labels_{target}"
            if col not in first.columns or first[col].isna().all():
                continue
            x = float(first[col].median())
            rows.append({"curve": curve, "rule": f"oracle_{target}", "rule_name": name, "x": x,
                         "y": _on_curve(summary, group, curve, x),
                         "text": f"<b>{curve}</b><br>{name}: {x:,.0f} labelled"})
    return pd.DataFrame(rows, columns=["curve", "rule", "rule_name", "x", "y", "text"])


def curve_outcomes(runs: pd.DataFrame, stop_cols: pd.DataFrame, metric: str, *,
                   references: Mapping[str, float] | None = None, higher_is_better: bool = True) -> pd.DataFrame:
    """Each session's stop per rule next to the oracle's rounds, for the Learning curves page.

    Parameters
    ----------
    runs : pandas.DataFrame
        The page's rounds frame (:func:`mlal_core.inspection.views.session_rounds`, with its curve columns).
    stop_cols : pandas.DataFrame
        :func:`session_stop_columns` of the same sessions.
    metric : str
        The score the oracle reads.
    references : mapping of str to float, optional
        ``session -> full-data score``.
    higher_is_better : bool, default True
        False for a loss.

    Returns
    -------
    pandas.DataFrame
        :func:`mlal_core.stopping.stop_outcomes` per session (empty when no session stored what the rules
        need).
    """
    if stop_cols.empty or runs.empty:
        return pd.DataFrame()
    merged = runs.merge(stop_cols, on=["session", "round"], how="left")
    keys = [c.key for c in criteria_for()
            if f"stop_{c.key}_value" in merged.columns and merged[f"stop_{c.key}_value"].notna().any()]
    if not keys:
        return pd.DataFrame()
    return stopping.stop_outcomes(merged, metric, run="session", keys=keys, references=references,
                                  higher_is_better=higher_is_better)
