"""Tables of a session's history: one row per round, one row per picked sample.

:func:`picks_table` is the one builder of a table of picked samples: the store's CSV export
(``picks.csv``), the session zip, the app's picks tables (the round being labelled, a stored round,
the Selection inspector) and the notebooks all build theirs with it, so they share one naming of
columns (:data:`PICK_COLUMNS`, strategy details prefixed ``detail_`` where a name is taken).
:func:`rounds_frame` is the one builder of a table of rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlal_core.errors import ConfigError

__all__ = [
    "DETAIL_PREFIX",
    "PICK_COLUMNS",
    "label_string",
    "named_details",
    "picks_frame",
    "picks_table",
    "predicted_string",
    "rounds_frame",
    "shorten_text",
]


# ====================================================================== small formatters
def label_string(row: np.ndarray, names: Sequence[str] | None) -> str:
    """The positive labels of one 0/1 row, joined by ``|``.

    Parameters
    ----------
    row : numpy.ndarray
        ``(K,)`` 0/1 (or boolean) labels of one sample.
    names : sequence of str or None
        Label names; None writes the label indices instead.

    Returns
    -------
    str
        ``"earn|acq"`` (``"0|3"`` without names); empty for a row without a positive.
    """
    idx = np.flatnonzero(row)
    return "|".join(names[int(i)] if names else str(i) for i in idx)


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


# ====================================================================== label names in details
def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _label_list(text: Any, names: Sequence[str]) -> str:
    """"3,5" (label indices) -> "name3, name5"; anything that is not an index stays as it is."""
    if _is_missing(text):
        return ""
    if isinstance(text, (int, np.integer)):
        text = str(int(text))
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    return ", ".join(names[int(p)] if p.isdigit() and int(p) < len(names) else p for p in parts)


def _pairs_names(text: Any, names: Sequence[str]) -> str:
    """"1-4, 2-3" -> "(a, b), (c, d)"."""
    if _is_missing(text) or not str(text).strip():
        return ""
    out = []
    for p in str(text).split(","):
        a, _, b = p.strip().partition("-")
        if a.isdigit() and b.isdigit() and int(a) < len(names) and int(b) < len(names):
            out.append(f"({names[int(a)]}, {names[int(b)]})")
        else:
            out.append(p.strip())
    return ", ".join(out)


def _pools_names(text: Any, names: Sequence[str]) -> str:
    """CRAB's ``pools`` string with label names: "label-wise:3,5; negative:1-4; hard-to-learn" ->
    "label-wise pool of a, b; negatively-correlated pool (predicted exclusive pair (c, d)); ..."."""
    if _is_missing(text):
        return ""
    parts = []
    for part in str(text).split(";"):
        part = part.strip()
        head, sep, rest = part.partition(":")
        if sep and head == "label-wise":
            parts.append(f"label-wise pool of {_label_list(rest, names)}")
        elif sep and head == "negative":
            parts.append(f"negatively-correlated pool (predicted exclusive pair {_pairs_names(rest, names)})")
        elif part:
            parts.append(f"{part} pool" if part == "hard-to-learn" else part)
    return "; ".join(parts)


def _ranking_names(text: Any, names: Sequence[str]) -> str:
    """BEAL's ``label_ranking`` "3 > 0 > 5" -> "c > a > f"."""
    if _is_missing(text):
        return ""
    return " > ".join(_label_list(p, names) for p in str(text).split(">"))


#: details columns that hold label indices, and how to turn them into names
_NAMED_COLUMNS: dict[str, Callable[[Any, Sequence[str]], str]] = {
    "labels": _label_list, "top_label": _label_list, "label_pairs": _pairs_names,
    "pools": _pools_names, "label_ranking": _ranking_names}


def named_details(details: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """A strategy's ``Selection.details`` with label indices replaced by label names.

    The strategies record labels as indices (CRAB: ``pools`` "label-wise:11; negative:7-9",
    ``labels`` "11", ``label_pairs``, ``top_label`` 12; BEAL: ``label_ranking`` "3 > 0"); this is the
    one place that names them, for every table the app shows. CRAB's ``reason`` ("...; from
    label-wise:11") names its pools the same way.

    Parameters
    ----------
    details : pandas.DataFrame
        A ``Selection.details`` frame.
    names : sequence of str
        Label names, by label index.

    Returns
    -------
    pandas.DataFrame
        A copy; columns that hold no label index are unchanged.
    """
    out = details.copy()
    for col, to_names in _NAMED_COLUMNS.items():
        if col in out.columns:
            out[col] = [to_names(v, names) for v in out[col]]
    if "reason" in out.columns and "pools" in details.columns:
        out["reason"] = [str(r).split("; from ")[0] + (f"; from the {p}" if p else "")
                         for r, p in zip(out["reason"], out["pools"])]
    return out


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
        (:data:`mlal_core.session.records.SHARED_FIELDS`), ``n_selected``, the metrics, and the
        timings as ``time_<phase>``.
    """
    rows = []
    for rec in records:
        row = {"round": rec.round, "n_labeled": rec.n_labeled}
        row.update(rec.shared_diagnostics())
        row["n_selected"] = 0 if rec.selected is None else len(rec.selected)
        row.update(rec.metrics)
        row.update({f"time_{k}": v for k, v in rec.timings.items()})
        rows.append(row)
    return pd.DataFrame(rows)


# ====================================================================== picks
#: The columns :func:`picks_table` may write, in their order (each only when its input is given):
#:
#: * ``round``: the record's round; ``order``: 1 = picked first; ``position``: pool position;
#: * ``text``: the sample's text on one line, shortened (text sets);
#: * ``labels``: the oracle's answer, label names joined by ``|``; ``n_labels``: how many;
#: * ``score_percentile``: percent of the round's scored candidates with a score <= the pick's;
#:   ``score_rank``: 1 = the highest score;
#: * ``predicted_top``: the model's most probable labels with their mean probability
#:   (``"earn 0.93, acq 0.41"``); ``predicted_labels``: the labels with p > 0.5, joined by ``|``;
#:
#: then the strategy's details columns (score, reason, score components); a details column whose
#: name is one of these gets :data:`DETAIL_PREFIX` (CRAB's ``labels``, the labels whose refined pool
#: the pick came from, is ``detail_labels``).
PICK_COLUMNS = ["round", "order", "position", "text", "labels", "n_labels", "score_percentile", "score_rank",
                "predicted_top", "predicted_labels"]
#: prefix of a strategy details column whose name :data:`PICK_COLUMNS` takes
DETAIL_PREFIX = "detail_"
#: columns of an empty :func:`picks_frame`
_EMPTY_PICKS = ["round", "order", "position", "labels", "n_labels"]


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
    return extra.rename(columns={c: f"{DETAIL_PREFIX}{c}" for c in extra.columns if c in PICK_COLUMNS})


def picks_table(
    positions: Sequence[int] | np.ndarray,
    label_names: Sequence[str] | None,
    *,
    t: int | None = None,
    labels: np.ndarray | None = None,
    details: pd.DataFrame | None = None,
    proba: np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    candidate_scores: tuple[np.ndarray, np.ndarray] | None = None,
    name_details: bool = False,
    max_chars: int = 300,
    top_k: int = 3,
) -> pd.DataFrame:
    """One row per picked sample of one round, in pick order (the one picks-table builder).

    Parameters
    ----------
    positions : sequence of int
        Pool positions of the picks, in pick order.
    label_names : sequence of str or None
        Label names (None writes label indices in ``labels``; needed for ``proba``).
    t : int, optional
        The round; adds the ``round`` column.
    labels : numpy.ndarray, optional
        The oracle's answers, ``(n, K)`` 0/1; adds ``labels`` and ``n_labels`` (None: not answered yet).
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
    name_details : bool, default False
        Replace the label indices in the details by names (:func:`named_details`; what the app
        shows). The store's CSV keeps the indices the strategy recorded.
    max_chars : int, default 300
        Longest ``text``.
    top_k : int, default 3
        Labels listed in ``predicted_top``.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`PICK_COLUMNS` whose input was given, in that order, then the details
        columns (a name taken by :data:`PICK_COLUMNS` gets :data:`DETAIL_PREFIX`).

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
        out["labels"] = [label_string(r, label_names) for r in labels]
        out["n_labels"] = labels.sum(axis=1).astype(int)
    if candidate_scores is not None:
        out["score_percentile"], out["score_rank"] = _score_standing(positions, *candidate_scores)
    if proba is not None:
        if label_names is None:
            raise ConfigError("proba needs label_names to name the predicted labels.")
        proba = _checked_rows(np.asarray(proba, dtype=float), n, label_names, "proba")
        out["predicted_top"] = [predicted_string(r, label_names, top_k) for r in proba]
        out["predicted_labels"] = [label_string(r > 0.5, label_names) for r in proba]
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
    name_details: bool = False,
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
    name_details : bool, default False
        Name the label indices of the details (:func:`named_details`).

    Returns
    -------
    pandas.DataFrame
        One row per picked sample with ``round``, ``order``, ``position``, ``labels``,
        ``n_labels`` (and the optional columns above), then the strategy's details columns
        (:func:`picks_table`); with those five columns only when nothing was picked.
    """
    picks = []
    for rec in records:
        if rec.selected is None:
            continue
        picks.append(picks_table(
            rec.selected, label_names, t=rec.round, labels=rec.labels,
            details=rec.selection.details if rec.selection is not None else None,
            proba=rec.pick_proba if with_proba else None, texts=texts, name_details=name_details))
    return pd.concat(picks, ignore_index=True) if picks else pd.DataFrame(columns=_EMPTY_PICKS)
