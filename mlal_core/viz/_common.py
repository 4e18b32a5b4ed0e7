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
    """An empty figure with the workbench template, a title and axis titles."""
    register_template()
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE_NAME, title=dict(text=title))
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def as_1d(values, name: str, *, dtype=float, allow_nan: bool = False, min_len: int = 1) -> np.ndarray:
    """``values`` as a 1-D array, checked (length, finiteness)."""
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
    """A boolean mask of length ``n`` (``None`` -> all False). Accepts bools or 0/1."""
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
    """``label_names`` as a list of ``k`` strings (``None`` -> ``"label 0"`` ...)."""
    if label_names is None:
        return [f"label {j}" for j in range(k)]
    names = [str(s) for s in label_names]
    if len(names) != k:
        raise ConfigError(f"{name} has {len(names)} names but the data has {k} labels.")
    return names


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise :class:`ConfigError` unless ``df`` is a DataFrame with ``columns``; ``what`` names the caller."""
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"{what} needs a pandas DataFrame; got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{what} needs the column(s) {missing}; the frame has {list(df.columns)}.")


def check_choice(value: Any, choices: Sequence, name: str) -> Any:
    """``value`` if it is one of ``choices``, else a :class:`ConfigError` naming parameter ``name``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}; got {value!r}.")
    return value


def shorten(text: str, max_len: int = 24) -> str:
    """``text`` cut to ``max_len`` characters with an ellipsis (for tick labels)."""
    text = str(text)
    return text if len(text) <= max_len else text[: max_len - 1] + "\u2026"
