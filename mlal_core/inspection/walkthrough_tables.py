"""A walk-through step's numbers as tables a person reads: named quantities, counts with thousands
separators, one row per pick for per-pick lists (:func:`step_tables`).

The machine name of each quantity stays in a ``key`` column, so a CSV download can be read back.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mlal_core.inspection.walkthrough import Step

__all__ = ["LIST_LIMIT", "PER_PICK_NUMBERS", "quantity_name", "shown_value", "step_tables"]

#: a list or mapping of a step's numbers shows at most this many items (e.g. the kept labels or the label
#: weights of a round with K = 1,000 labels); the text says how many more there are
LIST_LIMIT = 40

#: per-pick lists of a step's numbers (besides those whose name starts with "pick"), one row per pick
PER_PICK_NUMBERS = frozenset({"standing", "reasons", "order", "sq_dist_to_earlier_seeds",
                              "dist_to_nearest_centre_at_pick"})

#: names whose words the generic rule would get wrong (symbols of the papers, abbreviations)
_QUANTITY_NAMES: Mapping[str, str] = {
    "Z_t": "Z_t (asymmetric pairs kept)",
    "tau": "τ (exclusion threshold)",
    "refined": "U* (refined candidate pool)",
    "union": "union of the pools",
    "top_up": "random top-up of U*",
    "picks_from_top_up": "picks from the top-up",
    "max_uncertainty_bits": "largest uncertainty (bits)",
    "mean_uncertainty_bits": "mean uncertainty (bits)",
    "per_label_size_M": "samples per label (M)",
    "asymmetric_keep": "asymmetric pairs: label kept",
    "pfd": "PFD (positive feature diversity)",
    "slci": "SLCI (similarity-enhanced LCI)",
    "median_shown": "median of the shown scores",
}


def quantity_name(key: str) -> str:
    """A step number's key in words: ``"n_candidates"`` -> ``"candidates (count)"``.

    Parameters
    ----------
    key : str
        The key of ``Step.numbers``.

    Returns
    -------
    str
        The name shown in the table.
    """
    if key in _QUANTITY_NAMES:
        return _QUANTITY_NAMES[key]
    if key.startswith("n_"):
        return key[2:].replace("_", " ") + " (count)"
    return key.replace("_", " ")


def _joined(items: list[str], n: int) -> str:
    more = n - len(items)
    return "; ".join(items) + (f"; ... (+{more:,} more)" if more > 0 else "")


def shown_value(value, limit: int = LIST_LIMIT) -> str:
    """A step's number as text: counts and floats from 10,000 up with thousands separators, smaller floats to 4
    significant digits, lists and mappings joined with ``"; "`` (the first ``limit`` items, then
    ``"... (+n more)"``; a longer mapping of numbers shows its largest values), ``None`` / NaN as ``"n/a"``.

    Parameters
    ----------
    value : object
        The number (or list, dict, bool, str).
    limit : int, default :data:`LIST_LIMIT`
        Items of a list or mapping shown.

    Returns
    -------
    str
        The text shown.
    """
    if isinstance(value, Mapping):
        items = list(value.items())
        numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                      for _, v in items)
        if len(items) > limit and numeric:  # too many to list: the largest values first
            items = sorted(items, key=lambda kv: -float(kv[1]) if np.isfinite(float(kv[1])) else np.inf)
        return _joined([f"{k}: {shown_value(v)}" for k, v in items[:limit]], len(items))
    if isinstance(value, (list, tuple, np.ndarray)):
        return _joined([shown_value(v) for v in list(value)[:limit]], len(value)) if len(value) else "(none)"
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "n/a"
        v = float(value)
        return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
    return str(value)


def _is_per_pick(key: str, value, n_picks: int) -> bool:
    return (isinstance(value, (list, tuple)) and n_picks > 0 and len(value) == n_picks
            and (key in PER_PICK_NUMBERS or key.startswith("pick")))


def step_tables(step: Step, n_picks: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The step's numbers as ``(quantity / value / key table, one row per pick or None)``.

    Parameters
    ----------
    step : Step
        A step of :func:`~mlal_core.inspection.walkthrough.round_walkthrough`.
    n_picks : int
        The round's number of picks (lists of that length named like per-pick numbers get a row per
        pick).

    Returns
    -------
    numbers : pandas.DataFrame
        Columns ``quantity`` (in words), ``value`` (text) and ``key`` (``Step.numbers``'s key).
    per_pick : pandas.DataFrame or None
        Column ``pick`` (1, 2, ...) and one column per per-pick list (``picks`` becomes
        ``position``); None when the step has none.
    """
    scalar = {k: v for k, v in step.numbers.items() if not _is_per_pick(k, v, n_picks)}
    numbers = pd.DataFrame({"quantity": [quantity_name(k) for k in scalar],
                            "value": [shown_value(v) for v in scalar.values()],
                            "key": list(scalar)})
    per_pick = {("position" if k == "picks" else k): list(v) for k, v in step.numbers.items()
                if _is_per_pick(k, v, n_picks)}
    if not per_pick:
        return numbers, None
    return numbers, pd.DataFrame({"pick": range(1, n_picks + 1), **per_pick})
