"""Where each rule would have stopped, next to the oracle's answer, as tables.

The **oracle round** is what hindsight says: the first record whose test score reaches a share (95 %,
99 %) of the session's final score, or of the full-data score when a reference exists (never, when
the curve does not get there). A rule that never fires stops at the end (the whole budget is spent).
For each rule and run:

* ``labels_saved`` = labels of the final record - labels at the rule's stop (what stopping saved
  against running to the end);
* ``extra_labels_<target>`` = labels at the stop - labels at the oracle round: positive = labels
  wasted after the score had already got there, negative = the rule stopped that many labels early
  (its ``score_at_stop`` then says what it cost).

Everything here works on a rounds frame (one row per record: ``n_labeled``, the metric, and the
``stop_<key>`` columns of :func:`stop_columns`), so sessions (the app) and experiment runs (the
report) share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlal_core.errors import ConfigError
from mlal_core.stopping.criteria import CriterionState, StoppingCriterion

__all__ = [
    "ORACLE_FRACTIONS",
    "criteria_table",
    "criterion_overview",
    "oracle_round",
    "states_by_round",
    "stop_columns",
    "stop_outcomes",
    "stop_summary",
]

#: the shares of the target score whose first round is the oracle's answer
ORACLE_FRACTIONS: tuple[float, ...] = (0.95, 0.99)


def _states(history: Sequence[Any], criteria: Sequence[StoppingCriterion]) -> dict[str, list[CriterionState]]:
    keys = [c.key for c in criteria]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"Each criterion may appear once; got keys {keys}.")
    return {c.key: c.evaluate(history) for c in criteria}


def criteria_table(history: Sequence[Any], criteria: Sequence[StoppingCriterion]) -> pd.DataFrame:
    """Every criterion's state after every record, one row per (record, criterion).

    Parameters
    ----------
    history : sequence of RoundRecord
        A session's records.
    criteria : sequence of StoppingCriterion
        The rules (distinct keys).

    Returns
    -------
    pandas.DataFrame
        Columns ``round``, ``n_labeled``, ``criterion`` (key), ``name``, ``value``, ``threshold``,
        ``would_stop``, ``explanation``, ``available``.
    """
    rows = []
    by_key = {c.key: c for c in criteria}
    for key, states in _states(history, criteria).items():
        for s in states:
            rows.append({"round": s.round, "n_labeled": s.n_labeled, "criterion": key, "name": by_key[key].name,
                         "value": s.value, "threshold": s.threshold, "would_stop": s.would_stop,
                         "explanation": s.explanation, "available": s.available})
    columns = ["round", "n_labeled", "criterion", "name", "value", "threshold", "would_stop", "explanation",
               "available"]
    return pd.DataFrame(rows, columns=columns).sort_values(["round"], kind="stable").reset_index(drop=True)


def stop_columns(history: Sequence[Any], criteria: Sequence[StoppingCriterion]) -> pd.DataFrame:
    """One row per record: ``round``, and per criterion ``stop_<key>`` (would stop; bool) and
    ``stop_<key>_value``.

    Parameters
    ----------
    history : sequence of RoundRecord
        A session's records.
    criteria : sequence of StoppingCriterion
        The rules (distinct keys).

    Returns
    -------
    pandas.DataFrame
        The columns above, records in order; a rule whose data the session lacks gives
        ``stop_<key>`` False and a NaN value.
    """
    out = pd.DataFrame({"round": [int(r.round) for r in history]})
    for key, states in _states(history, criteria).items():
        out[f"stop_{key}"] = [s.would_stop for s in states]
        out[f"stop_{key}_value"] = [s.value for s in states]
    return out


def states_by_round(history: Sequence[Any], criteria: Sequence[StoppingCriterion]) -> pd.DataFrame:
    """A compact per-round table: each criterion's value, and which rules would stop there.

    Parameters
    ----------
    history : sequence of RoundRecord
        A session's records.
    criteria : sequence of StoppingCriterion
        The rules (distinct keys).

    Returns
    -------
    pandas.DataFrame
        ``round``, ``labelled``, one value column per criterion (named as the app shows it; NaN where
        it cannot be computed) and ``would stop here`` (the names of the rules that would, joined by
        ", "; empty when none).
    """
    states = _states(history, criteria)
    out = pd.DataFrame({"round": [int(r.round) for r in history], "labelled": [int(r.n_labeled) for r in history]})
    for c in criteria:
        out[c.name] = [s.value for s in states[c.key]]
    out["would stop here"] = [", ".join(c.name for c in criteria if states[c.key][i].would_stop)
                              for i in range(len(out))]
    return out


def criterion_overview(history: Sequence[Any], criteria: Sequence[StoppingCriterion]) -> pd.DataFrame:
    """One row per criterion: its state after the last record and where it first said "stop".

    Parameters
    ----------
    history : sequence of RoundRecord
        A session's records (at least one).
    criteria : sequence of StoppingCriterion
        The rules (distinct keys).

    Returns
    -------
    pandas.DataFrame
        ``criterion`` (name), ``rule`` (paper and rule), ``value``, ``threshold``, ``would stop here``
        (after the last record), ``first stop`` (``"round t (n labelled)"`` or ``"not yet"``) and
        ``explanation`` (of the last record).

    Raises
    ------
    ConfigError
        For an empty history.
    """
    if not len(history):
        raise ConfigError("The session has no record yet; run a round first.")
    rows = []
    for c in criteria:
        states = c.evaluate(history)
        last = states[-1]
        first = next((s for s in states if s.would_stop), None)
        rows.append({"criterion": c.name, "rule": c.paper, "value": last.value, "threshold": last.threshold,
                     "would stop here": last.would_stop,
                     "first stop": "not yet" if first is None else f"round {first.round} ({first.n_labeled:,} labelled)",
                     "explanation": last.explanation})
    return pd.DataFrame(rows)


def oracle_round(scores: Sequence[float], fraction: float, target: float | None = None, *,
                 higher_is_better: bool = True) -> int | None:
    """The index of the first score that reaches ``fraction`` of ``target``.

    Parameters
    ----------
    scores : sequence of float
        Test scores of the records, in order.
    fraction : float
        Share of the target, in (0, 1].
    target : float, optional
        The score to reach a share of (default: the last score, the session's final one).
    higher_is_better : bool, default True
        For a loss (lower is better) a score reaches the share when ``score <= target / fraction``.

    Returns
    -------
    int or None
        The index, or None when no score gets there (or the target is NaN).

    Raises
    ------
    ConfigError
        For a fraction outside (0, 1].
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"The oracle's fraction must be in (0, 1]; got {fraction!r}.")
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return None
    goal = float(values[-1]) if target is None else float(target)
    if np.isnan(goal):
        return None
    reached = values >= fraction * goal if higher_is_better else values <= goal / fraction
    hits = np.flatnonzero(reached & ~np.isnan(values))
    return int(hits[0]) if hits.size else None


def _target_name(kind: str, fraction: float) -> str:
    return f"{kind}{round(fraction * 100):d}"


def _run_outcomes(frame: pd.DataFrame, metric: str, keys: Sequence[str], reference: float | None,
                  fractions: Sequence[float], higher_is_better: bool) -> list[dict]:
    frame = frame.sort_values("round", kind="stable")
    labels = frame["n_labeled"].to_numpy(dtype=np.int64)
    scores = frame[metric].to_numpy(dtype=np.float64)
    final_n, final_s = int(labels[-1]), float(scores[-1])
    oracles: dict[str, int | None] = {}
    for f in fractions:
        oracles[_target_name("final", f)] = oracle_round(scores, f, higher_is_better=higher_is_better)
        if reference is not None:
            oracles[_target_name("full", f)] = oracle_round(scores, f, reference, higher_is_better=higher_is_better)
    rows = []
    for key in keys:
        fires = np.flatnonzero(frame[f"stop_{key}"].fillna(False).to_numpy(dtype=bool))
        at = int(fires[0]) if fires.size else len(labels) - 1
        row: dict[str, Any] = {
            "criterion": key, "fired": bool(fires.size), "stop_round": int(frame["round"].iloc[at]),
            "labels_at_stop": int(labels[at]), "score_at_stop": float(scores[at]),
            "final_labels": final_n, "final_score": final_s, "labels_saved": final_n - int(labels[at]),
        }
        for name, o in oracles.items():
            row[f"oracle_round_{name}"] = np.nan if o is None else int(frame["round"].iloc[o])
            row[f"oracle_labels_{name}"] = np.nan if o is None else int(labels[o])
            row[f"extra_labels_{name}"] = np.nan if o is None else int(labels[at]) - int(labels[o])
        rows.append(row)
    return rows


def stop_outcomes(rounds: pd.DataFrame, metric: str, *, run: str = "session", keys: Sequence[str] | None = None,
                  references: Mapping[Any, float] | None = None,
                  fractions: Sequence[float] = ORACLE_FRACTIONS, higher_is_better: bool = True) -> pd.DataFrame:
    """Per run and criterion: where the rule stopped, what it cost or saved, and the oracle's rounds.

    Parameters
    ----------
    rounds : pandas.DataFrame
        One row per record: ``run``, ``round``, ``n_labeled``, ``metric`` and ``stop_<key>`` columns
        (:func:`stop_columns`); other columns (dataset, strategy, seed ...) constant within a run are
        carried over.
    metric : str
        The score column.
    run : str, default "session"
        The column naming a run (a session).
    keys : sequence of str, optional
        The criteria (default: every ``stop_<key>`` column without ``_value``).
    references : mapping, optional
        ``run -> full-data score``; adds the oracle rounds for ``full95`` / ``full99``.
    fractions : sequence of float, default (0.95, 0.99)
        The oracle's shares.
    higher_is_better : bool, default True
        False for a loss.

    Returns
    -------
    pandas.DataFrame
        One row per (run, criterion): the run's constant columns, ``criterion``, ``fired``,
        ``stop_round``, ``labels_at_stop``, ``score_at_stop``, ``final_labels``, ``final_score``,
        ``labels_saved``, and per target (``final95``, ``final99``, ``full95``, ``full99``)
        ``oracle_round_<t>``, ``oracle_labels_<t>``, ``extra_labels_<t>`` (NaN where the curve never
        reaches the target).

    Raises
    ------
    ConfigError
        When a needed column is missing.
    """
    if keys is None:
        keys = [c[5:] for c in rounds.columns if c.startswith("stop_") and not c.endswith("_value")]
    missing = [c for c in (run, "round", "n_labeled", metric, *(f"stop_{k}" for k in keys)) if c not in rounds.columns]
    if missing:
        raise ConfigError(f"The rounds frame lacks the column(s) {', '.join(missing)}; build it with the stop "
                          "columns (mlal_core.stopping.stop_columns) and the metric.")
    rows = []
    skip = {"round", "n_labeled", metric, *(c for c in rounds.columns if c.startswith("stop_"))}
    for run_id, frame in rounds.groupby(run, sort=False):
        const = {c: frame[c].iloc[0] for c in frame.columns if c not in skip and frame[c].nunique(dropna=False) <= 1}
        ref = None if references is None else references.get(run_id)
        for row in _run_outcomes(frame, metric, keys, None if ref is None or pd.isna(ref) else float(ref),
                                 fractions, higher_is_better):
            rows.append({**const, run: run_id, **row})
    return pd.DataFrame(rows)


def _iqr(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return ""
    return f"{v.quantile(0.25):g}-{v.quantile(0.75):g}"


def stop_summary(outcomes: pd.DataFrame, by: Sequence[str] = (), target: str = "final95") -> pd.DataFrame:
    """Median and spread over runs (seeds) of each rule's stop against the oracle's.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        :func:`stop_outcomes`.
    by : sequence of str, default ()
        Group columns besides ``criterion`` (e.g. ``("dataset", "strategy")``).
    target : str, default "final95"
        Which oracle (``final95``, ``final99``, ``full95``, ``full99``).

    Returns
    -------
    pandas.DataFrame
        Per group and criterion: ``runs``, ``fired`` (runs where the rule fired), ``stop_round``
        (median) and ``stop_round_iqr`` (quartiles, "q1-q3"), ``oracle_round`` (median) and its IQR,
        ``round_difference`` (median of stop - oracle round), ``extra_labels`` (median; positive =
        wasted) and its IQR, ``labels_saved`` (median), ``score_share`` (median of score at stop /
        final score).

    Raises
    ------
    ConfigError
        When the target's columns are missing.
    """
    col = f"oracle_round_{target}"
    if col not in outcomes.columns:
        raise ConfigError(f"No oracle target {target!r} in the outcomes; choose one of "
                          f"{sorted(c[13:] for c in outcomes.columns if c.startswith('oracle_round_'))}.")
    frame = outcomes.assign(
        round_difference=outcomes["stop_round"] - outcomes[col],
        score_share=outcomes["score_at_stop"] / outcomes["final_score"].where(outcomes["final_score"] != 0),
    )
    rows = []
    for keys, g in frame.groupby([*by, "criterion"], sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        rows.append({
            **dict(zip([*by, "criterion"], keys)), "runs": len(g), "fired": int(g["fired"].sum()),
            "stop_round": g["stop_round"].median(), "stop_round_iqr": _iqr(g["stop_round"]),
            "oracle_round": g[col].median(), "oracle_round_iqr": _iqr(g[col]),
            "round_difference": g["round_difference"].median(),
            "extra_labels": g[f"extra_labels_{target}"].median(),
            "extra_labels_iqr": _iqr(g[f"extra_labels_{target}"]),
            "labels_saved": g["labels_saved"].median(), "score_share": g["score_share"].median(),
        })
    return pd.DataFrame(rows)
