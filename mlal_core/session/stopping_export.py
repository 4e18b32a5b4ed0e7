"""A stored session's stopping state and initial set, as the exports write them (issue 19).

The stopping criteria (:mod:`mlal_core.stopping`) are evaluated from what a session stores; the exports
(``SessionStore.export_json``, ``SessionStore.export_stopping_csv``, the session zip, the CLI's ``show``)
write what they say so that a reader of the files needs no workbench:

* :func:`stopping_frame`: every default criterion's state after every record (``stopping.csv``): the
  same rows as :func:`mlal_core.stopping.criteria_table` with :func:`mlal_core.stopping.default_criteria`,
  which is what the Active learning page shows when no label budget is set;
* :func:`stopping_document`: the stop set (size, seed, rng stream, positions), the initial set's method
  with the parameters the session recorded, and per criterion its paper, parameters and first stop;
* :func:`round_stopping`: per record, the measures the round stored and each criterion's state;
* :func:`first_stop_lines`: one line per criterion, "the first round it would stop" (CLI).

The label budget rule is left out: its budget is a choice made on the page, not part of the session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mlal_core.session.config import GROUND_TRUTH_METHODS, INITIAL_METHOD_HELP
from mlal_core.stopping import CriterionState, StoppingCriterion, criteria_table, default_criteria
from mlal_core.stopping.measures import STOP_SET_STREAM

__all__ = [
    "STOPPING_COLUMNS",
    "first_stop_lines",
    "initial_document",
    "round_stopping",
    "stop_set_document",
    "stopping_document",
    "stopping_frame",
]

#: the columns of ``stopping.csv`` (:func:`stopping_frame`)
STOPPING_COLUMNS = ("round", "n_labeled", "criterion", "name", "value", "threshold", "would_stop", "available",
                    "explanation")
#: the scalar measures a round stores for the criteria (the packed stop-set decisions are left out)
_MEASURE_KEYS = ("n_stop", "n_labels", "pool_mean_uncertainty", "n_unlabeled", "changed_share", "n_compared")


def stopping_frame(records: Sequence[Any]) -> pd.DataFrame:
    """Every default criterion's state after every record: the rows of ``stopping.csv``.

    Parameters
    ----------
    records : sequence of RoundRecord
        A session's records (``SessionStore.load_rounds`` or ``session.history``).

    Returns
    -------
    pandas.DataFrame
        One row per (record, criterion), records in order and criteria in the app's order, with the
        columns :data:`STOPPING_COLUMNS` (``value`` NaN where the rule cannot be computed yet,
        ``available`` False where the session did not store what the rule needs).
    """
    return criteria_table(records, default_criteria())[list(STOPPING_COLUMNS)]


def stop_set_document(stop_set: Mapping[str, Any] | None, seed: int | None) -> dict[str, Any] | None:
    """The stop set as the exports write it.

    Parameters
    ----------
    stop_set : mapping or None
        ``SessionStore.session_info(...)["stop_set"]`` (``{"positions": [...]}``); None for a session
        stored before schema v4 and never resumed.
    seed : int or None
        The session's seed (the draw is ``numpy.random.default_rng([seed, STOP_SET_STREAM])``).

    Returns
    -------
    dict or None
        ``size``, ``seed``, ``rng`` (how it was drawn) and ``positions`` (pool positions, ascending);
        None without a stop set.
    """
    if not stop_set or stop_set.get("positions") is None:
        return None
    positions = [int(p) for p in stop_set["positions"]]
    return {"size": len(positions), "seed": seed,
            "rng": f"numpy.random.default_rng([seed, {STOP_SET_STREAM}]), drawn without replacement "
                   "(the whole pool when it has at most 2,000 rows)",
            "positions": positions}


def initial_document(config: Mapping[str, Any], initial: Mapping[str, Any] | None) -> dict[str, Any]:
    """How the session's initial labelled set was chosen.

    Parameters
    ----------
    config : mapping
        The stored config (``SessionConfig.to_dict``); a config stored before the initial methods
        existed has none and was ``random``.
    initial : mapping or None
        The stored initial set (``{"positions": [...], "labels": ...}``).

    Returns
    -------
    dict
        ``method``, ``size`` (rows of the stored set), ``params`` (what the session recorded: the
        feature space, the algorithm, k-means ``n_init`` / ``random_state``, k-center's first centre;
        empty for ``random`` and ``per_label``), ``simulation_only`` (True for methods that read the
        ground truth) and ``description``.
    """
    method = str(config.get("initial_method") or "random")
    positions = (initial or {}).get("positions")
    return {"method": method, "size": None if positions is None else len(positions),
            "params": dict(config.get("initial_params") or {}),
            "simulation_only": method in GROUND_TRUTH_METHODS,
            "description": INITIAL_METHOD_HELP.get(method, "")}


def _first_stop(states: Sequence[CriterionState]) -> CriterionState | None:
    return next((s for s in states if s.would_stop), None)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _criteria(records: Sequence[Any]) -> list[tuple[StoppingCriterion, list[CriterionState]]]:
    return [(c, c.evaluate(records)) for c in default_criteria()]


def stopping_document(info: Mapping[str, Any], records: Sequence[Any]) -> dict[str, Any]:
    """The session-level stopping facts of an export: stop set, initial set, criteria and first stops.

    Parameters
    ----------
    info : mapping
        ``SessionStore.session_info`` of the session (``config``, ``initial_labeled``, ``stop_set``).
    records : sequence of RoundRecord
        The session's records.

    Returns
    -------
    dict
        ``stop_set`` (:func:`stop_set_document`), ``initial`` (:func:`initial_document`) and
        ``criteria``: per default criterion ``key``, ``name``, ``paper``, ``params``,
        ``first_stop_round`` and ``first_stop_n_labeled`` (None when it never said stop).
    """
    config = info.get("config") or {}
    criteria = []
    for crit, states in _criteria(records):
        first = _first_stop(states)
        criteria.append({"key": crit.key, "name": crit.name, "paper": crit.paper, "params": crit.get_params(),
                         "first_stop_round": None if first is None else first.round,
                         "first_stop_n_labeled": None if first is None else first.n_labeled})
    return {"stop_set": stop_set_document(info.get("stop_set"), config.get("seed")),
            "initial": initial_document(config, info.get("initial_labeled")),
            "criteria": criteria}


def round_stopping(records: Sequence[Any]) -> list[dict[str, Any]]:
    """Per record: what the round measured for the criteria and each criterion's state.

    Parameters
    ----------
    records : sequence of RoundRecord
        The session's records.

    Returns
    -------
    list of dict
        One per record: ``measures`` (``n_stop``, ``n_labels``, ``pool_mean_uncertainty``,
        ``n_unlabeled``, ``changed_share``, ``n_compared``; None for a record stored before schema v4)
        and ``criteria``: ``{key: {"value", "threshold", "would_stop", "available", "explanation"}}``
        (NaN values as None).
    """
    evaluated = _criteria(records)
    out = []
    for i, rec in enumerate(records):
        stored = getattr(rec, "stopping", None)
        measures = None if not stored else {k: stored.get(k) for k in _MEASURE_KEYS}
        states = {crit.key: {"value": _finite(s[i].value), "threshold": _finite(s[i].threshold),
                             "would_stop": bool(s[i].would_stop), "available": bool(s[i].available),
                             "explanation": s[i].explanation}
                  for crit, s in evaluated}
        out.append({"measures": measures, "criteria": states})
    return out


def first_stop_lines(records: Sequence[Any]) -> list[str]:
    """One line per default criterion: the first round after which it would stop.

    Parameters
    ----------
    records : sequence of RoundRecord
        The session's records.

    Returns
    -------
    list of str
        ``"<name>: round t (n labelled)"``, or, when it never said stop, ``"<name>: not yet (after round
        t: <explanation>)"`` with the last round that has a value; empty for a session without records.
    """
    if not len(records):
        return []
    lines = []
    for crit, states in _criteria(records):
        first = _first_stop(states)
        if first is None:
            last = next((st for st in reversed(states) if not math.isnan(st.value)), states[-1])
            lines.append(f"{crit.name}: not yet (after round {last.round}: {last.explanation})")
        else:
            lines.append(f"{crit.name}: round {first.round} ({first.n_labeled:,} labelled)")
    return lines
