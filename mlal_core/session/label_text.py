"""Label names where a strategy recorded label indices: the one formatter of every table, CSV and JSON
a person reads.

Strategies record labels by index (exact and cheap): CRAB's ``pools`` "label-wise:3,5; negative:1-4",
``labels`` "3,5", ``label_pairs`` "1-4"; BESRA's and CRAB's ``top_label`` 12 and ``label_dQ``
"4: 0.0001064; 2: 3.2e-05"; entropy's ``most_uncertain_label`` 7; BEAL's ``label_ranking`` "3 > 0 > 5".
Every table built from them (the app's picks tables, the Selection inspector, the store's and the
session zip's ``picks.csv``) names them here, and ``session.json`` keeps the indices and adds the
names beside them (:func:`with_named_twins`, :func:`named_diagnostics`).

Conventions, the same everywhere:

* **A set of labels** is its names in label order joined by :data:`LABEL_SEPARATOR` (``", "``):
  ``"earn, acq"``; the empty set is ``""``. A CSV writer quotes such a cell, so it reads back as one
  value, and :func:`split_label_set` turns it back into label indices, also when a name itself holds
  ``", "`` (an uploaded file's label column may), because the names are written in label order (it
  refuses the rare text that two label sets share). ``session.json`` keeps the 0/1 rows themselves.
* **Labels with a value**: ``"joy: 0.000106; anger: 3.2e-05"`` (``"; "`` between labels, three
  significant digits, :func:`format_label_values`).
* **A label pair** ``"(a, b)"``; **a ranking** ``"c > a > f"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LABEL_COLUMNS",
    "LABEL_SEPARATOR",
    "NAMED_SUFFIX",
    "format_label_values",
    "join_labels",
    "label_set",
    "name_label_list",
    "name_label_pairs",
    "name_label_values",
    "name_pools",
    "name_ranking",
    "named_details",
    "named_diagnostics",
    "split_label_set",
    "with_named_twins",
]

#: between the names of a set of labels, in every table and CSV
LABEL_SEPARATOR = ", "
#: suffix of the named twin of an index column in ``session.json`` (``top_label`` -> ``top_label_named``)
NAMED_SUFFIX = "_named"


# ====================================================================== sets of labels
def join_labels(indices: Iterable[int], names: Sequence[str] | None) -> str:
    """Label indices as one text: their names joined by :data:`LABEL_SEPARATOR`.

    Parameters
    ----------
    indices : iterable of int
        Label indices, written in the order given.
    names : sequence of str or None
        Label names; None writes the indices.

    Returns
    -------
    str
        ``"earn, acq"`` (``"0, 3"`` without names); ``""`` for no index.
    """
    return LABEL_SEPARATOR.join(str(names[int(j)]) if names else str(int(j)) for j in indices)


def label_set(row: np.ndarray, names: Sequence[str] | None) -> str:
    """The positive labels of one 0/1 row, by name, in label order (:func:`join_labels`).

    Parameters
    ----------
    row : numpy.ndarray
        ``(K,)`` 0/1 (or boolean) labels of one sample.
    names : sequence of str or None
        Label names; None writes the label indices.

    Returns
    -------
    str
        ``"earn, acq"``; empty for a row without a positive.
    """
    return join_labels(np.flatnonzero(np.asarray(row)), names)


def split_label_set(text: Any, names: Sequence[str]) -> list[int]:
    """The label indices of a label set written by :func:`label_set` (its inverse).

    The names are written in label order, so a name that itself holds :data:`LABEL_SEPARATOR` is
    still read back right; only when two label sets give the same text (names such as ``"a, b"``,
    ``"a"`` and ``"b"`` together) is the text ambiguous, and that is an error.

    Parameters
    ----------
    text : str
        ``"earn, acq"``; ``""``, None or NaN (an empty CSV cell) is the empty set.
    names : sequence of str
        The label names the text was written with.

    Returns
    -------
    list of int
        Increasing label indices.

    Raises
    ------
    ValueError
        When the text is not a label set of these names in label order (say, a name that is not one
        of ``names``), or when it reads as two different label sets.
    """
    if _is_missing(text) or str(text) == "":
        return []
    text = str(text)
    found = _parses(text, 0, 0, [str(n) for n in names])
    if not found:
        raise ValueError(f"{text!r} is not a set of these labels joined by {LABEL_SEPARATOR!r} in label order "
                         f"(labels: {', '.join(map(repr, list(names)[:8]))}{' ...' if len(names) > 8 else ''}).")
    if len(found) > 1:
        raise ValueError(f"{text!r} reads as two label sets ({[names[j] for j in found[0]]} and "
                         f"{[names[j] for j in found[1]]}): use the 0/1 rows of session.json instead.")
    return found[0]


def _parses(text: str, start: int, first: int, names: list[str]) -> list[list[int]]:
    """Up to two readings of ``text[start:]`` as names of indices >= ``first``, in label order."""
    out: list[list[int]] = []
    for j in range(first, len(names)):
        name = names[j]
        if not text.startswith(name, start):
            continue
        end = start + len(name)
        if end == len(text):
            out.append([j])
        elif text.startswith(LABEL_SEPARATOR, end):
            out.extend([j, *rest] for rest in _parses(text, end + len(LABEL_SEPARATOR), j + 1, names))
        if len(out) > 1:
            return out[:2]
    return out


# ====================================================================== the strategies' label texts
def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _index_name(token: str, names: Sequence[str]) -> str:
    """``"3"`` -> ``names[3]``; anything that is not a label index stays as it is."""
    token = token.strip()
    if token.endswith(".0") and token[:-2].isdigit():  # an index read back as a float ("2.0")
        token = token[:-2]
    return str(names[int(token)]) if token.isdigit() and int(token) < len(names) else token


def name_label_list(value: Any, names: Sequence[str]) -> str:
    """A label index or a comma-separated list of them (``3``, ``"3,5"``) by name: ``"d, f"``.

    Parameters
    ----------
    value : int, str or None
        What the strategy recorded.
    names : sequence of str
        Label names, by label index.

    Returns
    -------
    str
        The names joined by :data:`LABEL_SEPARATOR`; ``""`` for a missing value.
    """
    if _is_missing(value):
        return ""
    if isinstance(value, (int, np.integer)):
        return _index_name(str(int(value)), names)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return _index_name(str(int(value)), names)
    parts = [p for p in str(value).split(",") if p.strip()]
    return LABEL_SEPARATOR.join(_index_name(p, names) for p in parts)


def name_label_pairs(value: Any, names: Sequence[str]) -> str:
    """Label pairs ``"1-4, 2-3"`` by name: ``"(b, e), (c, d)"``.

    Parameters
    ----------
    value : str or None
        Pairs ``"m-n"`` separated by commas.
    names : sequence of str
        Label names, by label index.

    Returns
    -------
    str
        ``""`` for a missing or empty value.
    """
    if _is_missing(value) or not str(value).strip():
        return ""
    out = []
    for p in str(value).split(","):
        a, sep, b = p.strip().partition("-")
        if sep and a.isdigit() and b.isdigit() and int(a) < len(names) and int(b) < len(names):
            out.append(f"({names[int(a)]}, {names[int(b)]})")
        else:
            out.append(p.strip())
    return LABEL_SEPARATOR.join(out)


def name_pools(value: Any, names: Sequence[str]) -> str:
    """CRAB's ``pools`` in words and names.

    ``"label-wise:3,5; negative:1-4; hard-to-learn"`` -> ``"label-wise pool of d, f; negatively-correlated
    pool (predicted exclusive pair (b, e)); hard-to-learn pool"``.

    Parameters
    ----------
    value : str or None
        The pools as CRAB recorded them.
    names : sequence of str
        Label names, by label index.

    Returns
    -------
    str
        ``""`` for a missing value.
    """
    if _is_missing(value):
        return ""
    parts = []
    for part in str(value).split(";"):
        part = part.strip()
        head, sep, rest = part.partition(":")
        if sep and head == "label-wise":
            parts.append(f"label-wise pool of {name_label_list(rest, names)}")
        elif sep and head == "negative":
            parts.append(f"negatively-correlated pool (predicted exclusive pair {name_label_pairs(rest, names)})")
        elif part:
            parts.append(f"{part} pool" if part == "hard-to-learn" else part)
    return "; ".join(parts)


def name_ranking(value: Any, names: Sequence[str]) -> str:
    """BEAL's ``label_ranking`` ``"3 > 0 > 5"`` by name: ``"d > a > f"``.

    Parameters
    ----------
    value : str or None
        Label indices separated by ``>``.
    names : sequence of str
        Label names, by label index.

    Returns
    -------
    str
        ``""`` for a missing value.
    """
    if _is_missing(value):
        return ""
    return " > ".join(name_label_list(p, names) for p in str(value).split(">"))


def _short_number(text: str) -> str:
    """A number at three significant digits (``"0.0001064"`` -> ``"0.000106"``); other text unchanged."""
    try:
        return format(float(text), ".3g")
    except ValueError:
        return text.strip()


def format_label_values(pairs: Iterable[tuple[int, float]], names: Sequence[str] | None) -> str:
    """``(label, value)`` pairs as ``"joy: 0.000106; anger: 3.2e-05"`` (three significant digits).

    Parameters
    ----------
    pairs : iterable of (int, float)
        Label indices with their values, written in the order given.
    names : sequence of str or None
        Label names; None writes the indices.

    Returns
    -------
    str
    """
    return "; ".join(f"{names[int(j)] if names else int(j)}: {_short_number(str(v))}" for j, v in pairs)


def name_label_values(value: Any, names: Sequence[str]) -> str:
    """Per-label values ``"4: 0.0001064; 2: 3.2e-05"`` (BESRA's / CRAB's ``label_dQ``) by name.

    Parameters
    ----------
    value : str or None
        ``"j: v"`` items separated by ``;``.
    names : sequence of str
        Label names, by label index.

    Returns
    -------
    str
        ``"e: 0.000106; c: 3.2e-05"`` (:func:`format_label_values`); ``""`` for a missing value.
    """
    if _is_missing(value):
        return ""
    out = []
    for item in str(value).split(";"):
        if not item.strip():
            continue
        j, sep, v = item.partition(":")
        out.append(f"{_index_name(j, names)}: {_short_number(v)}" if sep else item.strip())
    return "; ".join(out)


#: every details column (of any strategy) that holds label indices, and how to name them; CRAB's
#: ``label_wise`` / ``negative_pairs`` are the columns of its ``refined_pool_sources`` diagnostic
LABEL_COLUMNS: dict[str, Callable[[Any, Sequence[str]], str]] = {
    "labels": name_label_list,
    "top_label": name_label_list,
    "most_uncertain_label": name_label_list,
    "label_wise": name_label_list,
    "label_pairs": name_label_pairs,
    "negative_pairs": name_label_pairs,
    "pools": name_pools,
    "label_ranking": name_ranking,
    "label_dQ": name_label_values,
    "label_dQ_AB": name_label_values,
}


def named_details(details: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """A strategy's ``Selection.details`` with label indices replaced by label names.

    Every column of :data:`LABEL_COLUMNS` is named; CRAB's ``reason`` ("...; from label-wise:11") names
    its pools the same way.

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
    for col, to_names in LABEL_COLUMNS.items():
        if col in out.columns:
            out[col] = pd.Series([to_names(v, names) for v in out[col]], index=out.index, dtype=object)
    if "reason" in out.columns and "pools" in details.columns:
        out["reason"] = [str(r).split("; from ")[0] + (f"; from the {p}" if p else "")
                         for r, p in zip(out["reason"], out["pools"])]
    return out


def with_named_twins(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``frame`` with the named twin ``<column>_named`` after each label column (the indices kept).

    What ``session.json`` writes: the strategy's indices as data, the names beside them to read.

    Parameters
    ----------
    frame : pandas.DataFrame
        A details frame (or CRAB's ``refined_pool_sources``).
    names : sequence of str
        Label names, by label index.

    Returns
    -------
    pandas.DataFrame
        A copy with the twins inserted; unchanged when no column holds labels.
    """
    named = named_details(frame, names)
    out = frame.copy()
    for col in [c for c in frame.columns if c in LABEL_COLUMNS or (c == "reason" and "pools" in frame.columns)]:
        out.insert(out.columns.get_loc(col) + 1, f"{col}{NAMED_SUFFIX}", named[col].to_numpy())
    return out


def _pair_names(pairs: Any, names: Sequence[str]) -> list[list[str]]:
    return [[str(names[int(m)]), str(names[int(n)])] for m, n in np.asarray(pairs, dtype=np.int64).reshape(-1, 2)]


_IMPLIED = re.compile(r"\b(implied by|implies) (\d+)\b")
_A_ENTRY = re.compile(r"\bA\[(\d+),(\d+)\]")


def _named_dropped(entries: Any, names: Sequence[str]) -> Any:
    """CRAB's ``dropped_labels`` entries with ``label_name`` and ``reason_named`` added."""
    if not isinstance(entries, list):
        return entries
    out = []
    for d in entries:
        if isinstance(d, dict) and "label" in d:
            reason = _IMPLIED.sub(lambda m: f"{m.group(1)} {_index_name(m.group(2), names)}", str(d.get("reason", "")))
            reason = _A_ENTRY.sub(lambda m: f"A[{_index_name(m.group(1), names)}, {_index_name(m.group(2), names)}]",
                                  reason)
            d = {**d, "label_name": str(names[int(d["label"])]), "reason_named": reason}
        out.append(d)
    return out


def named_diagnostics(diagnostics: dict, names: Sequence[str]) -> dict:
    """A round's diagnostics with names beside the label indices a person reads.

    The arrays stay as they are (data, label order = ``names``); added are ``kept_labels_named``,
    ``asymmetric_pairs_named`` / ``exclusive_pairs_named`` (``[[name, name], ...]``), and the named twins (:func:`with_named_twins`) in every
    frame (CRAB's ``refined_pool_sources``), ``label_name`` and ``reason_named`` in each of CRAB's
    ``dropped_labels`` (and ``dropped_labels_by_reading``).

    Parameters
    ----------
    diagnostics : dict
        ``Selection.diagnostics``.
    names : sequence of str
        Label names, by label index.

    Returns
    -------
    dict
        A shallow copy with the additions.
    """
    out = dict(diagnostics)
    for key, value in diagnostics.items():
        if isinstance(value, pd.DataFrame):
            out[key] = with_named_twins(value, names)
        elif key in ("asymmetric_pairs", "exclusive_pairs") and value is not None:
            out[f"{key}{NAMED_SUFFIX}"] = _pair_names(value, names)
        elif key == "kept_labels" and value is not None:
            out[f"{key}{NAMED_SUFFIX}"] = [str(names[int(j)]) for j in value]
        elif key == "dropped_labels":
            out[key] = _named_dropped(value, names)
        elif key == "dropped_labels_by_reading" and isinstance(value, dict):
            out[key] = {reading: _named_dropped(v, names) for reading, v in value.items()}
    return out
