"""Input checks and small helpers shared by the figure builders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mlal_core.errors import ConfigError
from mlal_core.viz.theme import TEMPLATE_NAME, register_template


def new_figure(title: str, x_title: str | None = None, y_title: str | None = None) -> go.Figure:
    """An empty figure with the workbench template, a title and axis titles.

    Parameters
    ----------
    title : str
        Figure title.
    x_title, y_title : str, optional
        Axis titles (left unset when None).

    Returns
    -------
    plotly.graph_objects.Figure
        The figure, with the ``"mlal"`` template.
    """
    register_template()
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE_NAME, title=dict(text=title))
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def as_1d(values, name: str, *, dtype=float, allow_nan: bool = False, min_len: int = 1) -> np.ndarray:
    """``values`` as a 1-D array, checked (length, finiteness).

    Parameters
    ----------
    values : array-like
        The values; a scalar becomes a length-1 array.
    name : str
        Parameter name used in error messages.
    dtype : numpy dtype, default float
        dtype of the result.
    allow_nan : bool, default False
        Allow NaN in a float result (infinite values are always refused).
    min_len : int, default 1
        Minimum length.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The checked array.

    Raises
    ------
    ConfigError
        If ``values`` is not numeric or not 1-D, too short, or holds a refused value.
    """
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name} must be a 1-D array of numbers: {e}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be 1-D; got shape {arr.shape}.")
    if arr.size < min_len:
        raise ConfigError(f"{name} needs at least {min_len} value(s); got {arr.size}.")
    if np.issubdtype(arr.dtype, np.floating):
        bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
        if bad.any():
            what = "infinite" if allow_nan else "NaN or infinite"
            raise ConfigError(f"{name} has {int(bad.sum())} {what} value(s) (first at position {int(np.argmax(bad))}).")
    return arr


def as_mask(mask, n: int, name: str) -> np.ndarray:
    """A boolean mask of length ``n`` (``None`` -> all False). Accepts bools or 0/1.

    Parameters
    ----------
    mask : array-like or None
        Booleans or 0/1, shape (n,).
    n : int
        Required length.
    name : str
        Parameter name used in error messages.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        The mask.

    Raises
    ------
    ConfigError
        If ``mask`` is not 1-D of length ``n`` or holds values other than 0/1.
    """
    if mask is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(mask)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ConfigError(f"{name} must be a 1-D mask of length {n}; got shape {arr.shape}.")
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ConfigError(f"{name} must hold booleans or 0/1; got other values.")
        arr = arr.astype(bool)
    return arr


def as_label_names(label_names, k: int, name: str = "label_names") -> list[str]:
    """``label_names`` as a list of ``k`` strings (``None`` -> ``"label 0"`` ...).

    Parameters
    ----------
    label_names : iterable or None
        One name per label (converted with ``str``).
    k : int
        Number of labels.
    name : str, default "label_names"
        Parameter name used in error messages.

    Returns
    -------
    list of str
        ``k`` names.

    Raises
    ------
    ConfigError
        If the number of names is not ``k``.
    """
    if label_names is None:
        return [f"label {j}" for j in range(k)]
    names = [str(s) for s in label_names]
    if len(names) != k:
        raise ConfigError(f"{name} has {len(names)} names but the data has {k} labels.")
    return names


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise :class:`ConfigError` unless ``df`` is a DataFrame with ``columns``; ``what`` names the caller.

    Parameters
    ----------
    df : pandas.DataFrame
        The frame to check.
    columns : sequence of str
        Columns it must have.
    what : str
        Name of the caller, for the message.

    Raises
    ------
    ConfigError
        If ``df`` is not a DataFrame or lacks a column.
    """
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"{what} needs a pandas DataFrame; got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{what} needs the column(s) {missing}; the frame has {list(df.columns)}.")


def check_choice(value: Any, choices: Sequence, name: str) -> Any:
    """``value`` if it is one of ``choices``, else a :class:`ConfigError` naming parameter ``name``.

    Parameters
    ----------
    value : object
        The value to check.
    choices : sequence
        The allowed values.
    name : str
        Parameter name used in the message.

    Returns
    -------
    object
        ``value`` itself.

    Raises
    ------
    ConfigError
        If ``value`` is not in ``choices``.
    """
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}; got {value!r}.")
    return value


def shorten(text: str, max_len: int = 24) -> str:
    """``text`` cut to ``max_len`` characters with an ellipsis (for tick labels).

    Parameters
    ----------
    text : str
        The text (converted with ``str``).
    max_len : int, default 24
        Maximum length of the result, ellipsis included.

    Returns
    -------
    str
        ``text`` unchanged if short enough, else its first ``max_len - 1`` characters and an ellipsis.
    """
    text = str(text)
    return text if len(text) <= max_len else text[: max_len - 1] + "\u2026"


def format_tick_number(value: float) -> str:
    """A tick number as the axes write theirs (:data:`~mlal_core.viz.theme.NUMBER_FORMAT`): a plain
    decimal from 0.0001 up to 99999, else ``1e\u22125`` style; never an SI suffix.

    Parameters
    ----------
    value : float
        The number.

    Returns
    -------
    str
        E.g. ``"0.0001"``, ``"0.01"``, ``"1000"``, ``"1e\u22125"``, ``"2.5e+6"``.
    """
    v = float(value)
    if v == 0 or 1e-4 <= abs(v) < 1e5:
        return f"{v:.6f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.6g}"
    mantissa, exp = f"{v:.3g}".split("e") if "e" in f"{v:.3g}" else (f"{v:.3g}", "0")
    sign = "\u2212" if exp.startswith("-") else "+"
    return f"{mantissa}e{sign}{abs(int(exp))}"


def decade_ticks(low: float, high: float) -> dict:
    """Tick settings of a log axis over ``[low, high]`` that label the decades only (1, 10, 100 or
    0.001, 0.01, ...), written as :func:`format_tick_number` writes numbers; ``{}`` (plotly's own
    ticks) when the range spans less than one decade.

    Parameters
    ----------
    low, high : float
        The smallest and largest positive value shown.

    Returns
    -------
    dict
        ``tickmode``, ``tickvals`` and ``ticktext`` for ``fig.update_yaxes`` (or ``{}``).

    Raises
    ------
    ConfigError
        If ``low`` or ``high`` is not positive and finite, or ``low > high``.
    """
    lo, hi = float(low), float(high)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise ConfigError(f"decade_ticks needs 0 < low <= high; got {low!r}, {high!r}.")
    first, last = int(np.floor(np.log10(lo) + 1e-9)), int(np.ceil(np.log10(hi) - 1e-9))
    if last - first < 1 or hi / lo < 10:
        return {}
    vals = [10.0 ** e for e in range(first, last + 1)]
    return dict(tickmode="array", tickvals=vals, ticktext=[format_tick_number(v) for v in vals])
