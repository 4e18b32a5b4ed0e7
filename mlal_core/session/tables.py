"""Tables of a session's history: one row per round, one row per picked sample.

:func:`picks_table` is the one builder of a table of picked samples: the store's CSV export
(``picks.csv``), the session zip, the app's picks tables (the round being labelled, a stored round,
the Selection inspector) and the notebooks all build theirs with it, so they share one naming of
columns (:data:`PICK_COLUMNS`, strategy details prefixed ``detail_`` where a name is taken).
:func:`rounds_frame` is the one builder of a table of rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlal_core.errors import ConfigError
from mlal_core.session.label_text import label_set, named_details

__all__ = [
    "DETAIL_PREFIX",
    "PICK_COLUMNS",
    "label_string",
    "named_details",
    "oracle_summary",
    "picks_frame",
    "picks_table",
    "predicted_string",
    "rounds_frame",
    "shorten_text",
]


# ====================================================================== small formatters
def label_string(row: np.ndarray, names: Sequence[str] | None) -> str:
    """The positive labels of one 0/1 row, by name (:func:`mlal_core.session.label_text.label_set`).

    Parameters
    ----------
    row : numpy.ndarray
        ``(K,)`` 0/1 (or boolean) labels of one sample.
    names : sequence of str or None
        Label names; None writes the label indices instead.

    Returns
    -------
    str
        ``"earn, acq"`` (``"0, 3"`` without names; :data:`~mlal_core.session.label_text.LABEL_SEPARATOR`
        between labels); empty for a row without a positive.
    """
    return label_set(row, names)


def shorten_text(text: str | None, max_chars: int = 300) -> str:
    """``text`` on one line, cut at ``max_chars`` characters with an ellipsis.

    Parameters
    ----------
    text : str or None
        Any text (None gives ``""``).
    max_chars : int, default 300
        Longest result, the ellipsis included.

    Returns
    -------
    str
    """
    if text is None:
        return ""
    one = " ".join(str(text).split())
    return one if len(one) <= max_chars else one[: max_chars - 1].rstrip() + "\u2026"


def predicted_string(p: np.ndarray, names: Sequence[str], top_k: int = 3, min_p: float = 0.0) -> str:
    """The ``top_k`` most probable labels of one probability row: ``"earn 0.93, acq 0.41"``.

    Parameters
    ----------
    p : numpy.ndarray
        ``(K,)`` probabilities of one sample.
    names : sequence of str
        Label names.
    top_k : int, default 3
        How many labels to list (most probable first; ties in label order).
    min_p : float, default 0.0
        Labels below this probability are left out.

    Returns
    -------
    str
    """
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")[:top_k]
    return ", ".join(f"{names[j]} {p[j]:.2f}" for j in order if p[j] >= min_p)


# ====================================================================== rounds
def rounds_frame(records: Sequence) -> pd.DataFrame:
    """One row per round: sizes, shared diagnostics, metrics and timings.

    Parameters
    ----------
    records : sequence of RoundRecord
        A session's records (``session.history`` or ``SessionStore.load_rounds``).

    Returns
    -------
    pandas.DataFrame
        Columns ``round``, ``n_labeled``, the shared diagnostics
        (:data:`mlal_core.session.records.SHARED_FIELDS`), ``n_selected``, ``answered_by`` (who
        labelled the round's picks: ``"simulated"``, ``"person"``; empty for the final record and for
        rounds stored before schema v2), the metrics, and the timings as ``time_<phase>``.
    """
    rows = []
    for rec in records:
        row = {"round": rec.round, "n_labeled": rec.n_labeled}
        row.update(rec.shared_diagnostics())
        row["n_selected"] = 0 if rec.selected is None else len(rec.selected)
        row["answered_by"] = rec.answered_by
        row.update(rec.metrics)
        row.update({f"time_{k}": v for k, v in rec.timings.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def oracle_summary(records: Sequence) -> dict[str, Any]:
    """Who labelled a session's picks, round by round (the provenance every export states).

    Parameters
    ----------
    records : sequence of RoundRecord
        A session's records (the final record, which picks nothing, is left out).

    Returns
    -------
    dict
        ``oracle``: ``"simulated"`` (every round answered from the dataset's labels), ``"person"``
        (every round by a person), ``"mixed"``, ``"not recorded"`` (rounds stored before schema v2
        only) or ``"none"`` (no query round); ``person_rounds``, ``simulated_rounds`` and
        ``unrecorded_rounds``: the rounds of each kind.
    """
    by: dict[str, list[int]] = {"person": [], "simulated": [], "unrecorded": []}
    for rec in records:
        if rec.selected is not None:
            by[rec.answered_by if rec.answered_by in ("person", "simulated") else "unrecorded"].append(int(rec.round))
    kinds = [k for k, rounds in by.items() if rounds]
    oracle = "none" if not kinds else ("mixed" if len(kinds) > 1 else
                                       {"unrecorded": "not recorded"}.get(kinds[0], kinds[0]))
    return {"oracle": oracle, "person_rounds": by["person"], "simulated_rounds": by["simulated"],
            "unrecorded_rounds": by["unrecorded"]}


# ====================================================================== picks
#: The columns :func:`picks_table` may write, in their order (each only when its input is given):
#:
#: * ``round``: the record's round; ``order``: 1 = picked first; ``position``: pool position;
#: * ``text``: the sample's text on one line, shortened (text sets);
#: * ``oracle_labels``: the labels the oracle gave, by name (``"earn, acq"``,
#:   :func:`mlal_core.session.label_text.label_set`); ``n_labels``: how many; ``answered_by``: who
#:   the oracle was (``"simulated"``: the dataset's labels; ``"person"``);
#: * ``score_percentile``: percent of the scored candidates with a score <= the pick's;
#:   ``score_rank``: 1 = the highest score; ``ranked_among``: the set both are over, in words;
#: * ``predicted_top``: the model's most probable labels with their mean probability
#:   (``"earn 0.93, acq 0.41"``); ``predicted_labels``: the labels with p > 0.5, by name;
#:
#: then the strategy's details columns (score, reason, score components; label indices named by
#: :func:`mlal_core.session.label_text.named_details`); a details column whose name is one of these, or
#: ``labels``, gets :data:`DETAIL_PREFIX` (CRAB's ``labels``, the labels whose refined pool the pick
#: came from, is ``detail_labels``).
PICK_COLUMNS = ["round", "order", "position", "text", "oracle_labels", "n_labels", "answered_by",
                "score_percentile", "score_rank", "ranked_among", "predicted_top", "predicted_labels"]
#: prefix of a strategy details column whose name :data:`PICK_COLUMNS` takes
DETAIL_PREFIX = "detail_"
#: columns of an empty :func:`picks_frame`
_EMPTY_PICKS = ["round", "order", "position", "oracle_labels", "n_labels", "answered_by"]
#: details columns renamed with :data:`DETAIL_PREFIX`: the table's own columns, and ``labels`` (the
#: name the oracle's answer had before, so CRAB's ``detail_labels`` keeps its name)
_TAKEN = frozenset(PICK_COLUMNS) | {"labels"}


def _checked_rows(values: Any, n: int, names: Sequence[str] | None, what: str) -> np.ndarray:
    arr = np.asarray(values)
    k = len(names) if names is not None else (arr.shape[1] if arr.ndim == 2 else -1)
    if arr.shape != (n, k):
        expected = f"({n}, {k})" if names is not None else f"({n}, K)"
        raise ConfigError(f"{what} must be {expected}, one row per pick; got shape {arr.shape}.")
    return arr


def _score_standing(positions: np.ndarray, candidates: np.ndarray, scores: np.ndarray
                    ) -> tuple[list[float], pd.arrays.IntegerArray]:
    """Percentile (percent of finite scores <= it) and rank (1 = highest) of each pick's score."""
    scores = np.asarray(scores, dtype=float).reshape(-1)
    vals = scores[np.isfinite(scores)]
    row_of = {int(p): i for i, p in enumerate(np.asarray(candidates).reshape(-1))}
    pct: list[float] = []
    rank: list[Any] = []
    for p in positions:
        i = row_of.get(int(p))
        s = scores[i] if i is not None and i < scores.size else np.nan
        if np.isfinite(s) and vals.size:
            pct.append(100.0 * float((vals <= s).mean()))
            rank.append(int((vals > s).sum()) + 1)
        else:
            pct.append(np.nan)
            rank.append(pd.NA)
    return pct, pd.array(rank, dtype="Int64")


def _details_columns(details: pd.DataFrame, names: Sequence[str] | None, name_details: bool) -> pd.DataFrame:
    extra = details.reset_index(drop=True)
    if name_details and names is not None:
        extra = named_details(extra, names)
    extra = extra.drop(columns=[c for c in ("position", "pick") if c in extra.columns])
    return extra.rename(columns={c: f"{DETAIL_PREFIX}{c}" for c in extra.columns if c in _TAKEN})


def picks_table(
    positions: Sequence[int] | np.ndarray,
    label_names: Sequence[str] | None,
    *,
    t: int | None = None,
    labels: np.ndarray | None = None,
    answered_by: str | None = None,
    details: pd.DataFrame | None = None,
    proba: np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    candidate_scores: tuple[np.ndarray, np.ndarray] | None = None,
    ranked_among: str | None = None,
    name_details: bool = True,
    max_chars: int = 300,
    top_k: int = 3,
) -> pd.DataFrame:
    """One row per picked sample of one round, in pick order (the one picks-table builder).

    Parameters
    ----------
    positions : sequence of int
        Pool positions of the picks, in pick order.
    label_names : sequence of str or None
        Label names (None writes label indices in ``oracle_labels``; needed for ``proba``).
    t : int, optional
        The round; adds the ``round`` column.
    labels : numpy.ndarray, optional
        The oracle's answers, ``(n, K)`` 0/1; adds ``oracle_labels`` and ``n_labels`` (None: not
        answered yet).
    answered_by : str, optional
        Who gave ``labels`` (``RoundRecord.answered_by``: ``"simulated"`` or ``"person"``); adds
        ``answered_by`` when ``labels`` is given.
    details : pandas.DataFrame, optional
        The strategy's ``Selection.details`` (rows aligned with ``positions``; left out when the
        number of rows differs). Its ``position`` / ``pick`` columns are dropped (they repeat
        ``position`` / ``order``).
    proba : numpy.ndarray, optional
        What the model predicted for the picks, ``(n, K)`` mean probabilities; adds
        ``predicted_top`` (``top_k`` labels) and ``predicted_labels``.
    texts : sequence of str, optional
        The pool's texts (``dataset.train.texts``); adds ``text`` (shortened to ``max_chars``).
    candidate_scores : (numpy.ndarray, numpy.ndarray), optional
        ``(candidates, scores)`` of the round (pool positions and the strategy's scores, aligned);
        adds ``score_percentile`` and ``score_rank`` among the finite scores.
    ranked_among : str, optional
        The set ``candidate_scores`` ranks over, in words (``"the 40 samples of U* (CRAB's refined
        candidate pool), of 219 unlabelled"``); adds ``ranked_among``.
    name_details : bool, default True
        Replace the label indices in the details by names
        (:func:`mlal_core.session.label_text.named_details`); False keeps what the strategy recorded
        (``session.json`` keeps those too).
    max_chars : int, default 300
        Longest ``text``.
    top_k : int, default 3
        Labels listed in ``predicted_top``.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`PICK_COLUMNS` whose input was given, in that order, then the details
        columns (a name taken by :data:`PICK_COLUMNS`, or ``labels``, gets :data:`DETAIL_PREFIX`).

    Raises
    ------
    ConfigError
        When ``labels`` or ``proba`` does not have one row per pick and one column per label.
    """
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    n = positions.size
    out: dict[str, Any] = {} if t is None else {"round": int(t)}
    out.update({"order": np.arange(1, n + 1), "position": positions})
    if texts is not None:
        out["text"] = [shorten_text(texts[int(i)], max_chars) for i in positions]
    if labels is not None:
        labels = _checked_rows(labels, n, label_names, "labels")
        out["oracle_labels"] = [label_set(r, label_names) for r in labels]
        out["n_labels"] = labels.sum(axis=1).astype(int)
        if answered_by is not None:
            out["answered_by"] = [answered_by] * n
    if candidate_scores is not None:
        out["score_percentile"], out["score_rank"] = _score_standing(positions, *candidate_scores)
        if ranked_among is not None:
            out["ranked_among"] = [ranked_among] * n
    if proba is not None:
        if label_names is None:
            raise ConfigError("proba needs label_names to name the predicted labels.")
        proba = _checked_rows(np.asarray(proba, dtype=float), n, label_names, "proba")
        out["predicted_top"] = [predicted_string(r, label_names, top_k) for r in proba]
        out["predicted_labels"] = [label_set(r > 0.5, label_names) for r in proba]
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    if details is not None and len(details) == n:
        frame = pd.concat([frame, _details_columns(details, label_names, name_details)], axis=1)
    return frame


def picks_frame(
    records: Sequence,
    label_names: Sequence[str] | None = None,
    *,
    texts: Sequence[str] | None = None,
    with_proba: bool = False,
    name_details: bool = True,
) -> pd.DataFrame:
    """The picks of several records in one table: :func:`picks_table` of each query record.

    Parameters
    ----------
    records : sequence of RoundRecord
        A session's records; the final record (no picks) adds no row.
    label_names : sequence of str, optional
        Label names (None writes label indices).
    texts : sequence of str, optional
        The pool's texts; adds ``text``.
    with_proba : bool, default False
        Add ``predicted_top`` / ``predicted_labels`` from each record's ``pick_proba`` (records
        stored before schema v2 have none: those columns are then empty for them).
    name_details : bool, default True
        Name the label indices of the details (:func:`mlal_core.session.label_text.named_details`).

    Returns
    -------
    pandas.DataFrame
        One row per picked sample with ``round``, ``order``, ``position``, ``oracle_labels``,
        ``n_labels``, ``answered_by`` (empty for rounds stored before schema v2) and the optional
        columns above, then the strategy's details columns (:func:`picks_table`); with those six
        columns only when nothing was picked.
    """
    picks = []
    for rec in records:
        if rec.selected is None:
            continue
        picks.append(picks_table(
            rec.selected, label_names, t=rec.round, labels=rec.labels, answered_by=rec.answered_by or "",
            details=rec.selection.details if rec.selection is not None else None,
            proba=rec.pick_proba if with_proba else None, texts=texts, name_details=name_details))
    return pd.concat(picks, ignore_index=True) if picks else pd.DataFrame(columns=_EMPTY_PICKS)
