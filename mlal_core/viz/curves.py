"""Learning curves: a metric against the number of labelled samples, mean over seeds +- std."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mlal_core.errors import ConfigError
from mlal_core.viz._common import new_figure, require_columns
from mlal_core.viz.fit import fit_layout
from mlal_core.viz.theme import series_style, with_alpha

__all__ = ["band_polygon", "learning_curves"]

#: the full-data score lines: grey, one dash pattern per model setting
FULL_DATA_COLOR = "#555555"
_FULL_DATA_DASHES = ("dot", "dashdot", "longdash", "dash")


def band_polygon(x, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """Closed polygon (x forward then back, upper then lower reversed) for a ``fill="toself"`` band.

    Parameters
    ----------
    x : array-like, shape (n,)
        x positions, in drawing order.
    lower, upper : array-like, shape (n,)
        Lower and upper edge of the band at each x.

    Returns
    -------
    xs, ys : numpy.ndarray of float, shape (2 n,)
        The polygon's coordinates.
    """
    x = np.asarray(x, dtype=float)
    return np.concatenate([x, x[::-1]]), np.concatenate([np.asarray(upper, float), np.asarray(lower, float)[::-1]])


def learning_curves(summary: pd.DataFrame, *, group: str | None = None, x: str = "n_labeled",
                    mean: str = "mean", std: str = "std", n: str | None = "n",
                    metric_name: str = "Macro-F1", title: str | None = None,
                    x_title: str = "Labelled samples (count)", y_title: str | None = None,
                    band: bool = True, band_alpha: float = 0.18, clip: tuple[float, float] | None = None,
                    group_order=None, markers: bool | None = None,
                    full_data: float | Mapping[str, float] | None = None,
                    display_names: Mapping[str, str] | None = None) -> go.Figure:
    """Mean learning curve per group with a shaded ``mean +- std`` band.

    Each group draws two traces: the band (``fill="toself"``, no legend entry, legend group shared
    with its line) and the mean line.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per (group, labelled size) with columns ``group``, ``x``, ``mean`` and ``std``; the
        output of :func:`mlal_core.metrics.summarize_curves` fits as is. A missing / NaN ``std`` (one
        seed) draws no band for that point (std 0).
    group : str, optional
        Group column (default ``"group"`` if present, else ``"strategy"``).
    x : str, default "n_labeled"
        Column of the labelled size.
    mean, std : str, default "mean", "std"
        Columns of the mean and the standard deviation.
    n : str or None, default "n"
        Column of the seeds per point, shown in the hover if present.
    metric_name : str, default "Macro-F1"
        Metric name for the title, hover and default y title.
    title : str, optional
        Figure title (default from ``metric_name``).
    x_title : str, default "Labelled samples (count)"
        x-axis title.
    y_title : str, optional
        y-axis title (default ``metric_name``).
    band : bool, default True
        Draw the std bands.
    band_alpha : float, default 0.18
        Opacity of the bands.
    clip : (float, float), optional
        ``(lo, hi)`` to clip the band to (e.g. ``(0, 1)`` for a score).
    group_order : sequence, optional
        Legend / colour order of the groups (default: order of first appearance; unnamed groups follow).
    markers : bool, optional
        Markers on the lines (default: when a group has 30 points or fewer).
    full_data : float or mapping of str to float, optional
        The full-data score (the model trained on the whole pool, BEAL Table 2), drawn as a grey
        horizontal line over the curves' labelled range with a legend entry: one number, or
        ``{label: score}`` for several model settings (one line each, named ``"full-data score
        (label)"``, distinguished by dash; NaN / None scores are skipped).
    display_names : mapping of str to str, optional
        Legend (and hover) name of a group, e.g. ``{"crab": "CRAB", "random": "Random"}`` (the
        strategies' display names); groups not in it keep their own name.

    Returns
    -------
    plotly.graph_objects.Figure
        The learning-curve figure.

    Raises
    ------
    ConfigError
        If columns are missing or not numeric, ``summary`` is empty, ``x`` / ``mean`` are not finite,
        ``std`` is negative, a (group, x) pair repeats, or ``clip``, ``group_order`` or ``full_data``
        are invalid.
    """
    if group is None:
        if isinstance(summary, pd.DataFrame) and "group" in summary.columns:
            group = "group"
        elif isinstance(summary, pd.DataFrame) and "strategy" in summary.columns:
            group = "strategy"
        else:
            group = "group"
    require_columns(summary, [group, x, mean, std], "learning_curves")
    if summary.empty:
        raise ConfigError("learning_curves got an empty summary.")
    df = summary.copy()
    for col in (x, mean, std):
        try:
            df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
        except (TypeError, ValueError):
            raise ConfigError(f"learning_curves: column {col!r} must be numeric.") from None
    if not np.isfinite(df[x]).all() or not np.isfinite(df[mean]).all():
        raise ConfigError(f"learning_curves: columns {x!r} and {mean!r} must be finite.")
    if (df[std].dropna() < 0).any():
        raise ConfigError("learning_curves: std must be non-negative.")
    df[std] = df[std].fillna(0.0)
    if df.duplicated([group, x]).any():
        dup = df.loc[df.duplicated([group, x], keep=False), [group, x]].iloc[0].tolist()
        raise ConfigError(f"learning_curves: more than one row for {group}={dup[0]!r}, {x}={dup[1]!r}; "
                          "summarise over seeds first (mlal_core.metrics.summarize_curves).")
    if clip is not None and (len(clip) != 2 or not clip[0] < clip[1]):
        raise ConfigError(f"clip must be (low, high) with low < high; got {clip!r}.")

    groups = list(pd.unique(df[group]))
    if group_order is not None:
        group_order = list(group_order)
        unknown = [g for g in group_order if g not in groups]
        if unknown:
            raise ConfigError(f"group_order names group(s) not in the data: {unknown}.")
        groups = group_order + [g for g in groups if g not in group_order]
    has_n = n is not None and n in df.columns

    title = title or f"Learning curves: {metric_name} (mean \u00b1 std over seeds)"
    fig = new_figure(title, x_title, y_title or metric_name)
    for i, g in enumerate(groups):
        d = df[df[group] == g].sort_values(x)
        if d.empty:
            continue
        style = series_style(i)
        xs, m, s = d[x].to_numpy(), d[mean].to_numpy(), d[std].to_numpy()
        lo, hi = m - s, m + s
        if clip is not None:
            lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
        name = str((display_names or {}).get(str(g), g))
        if band:
            bx, by = band_polygon(xs, lo, hi)
            fig.add_trace(go.Scatter(
                x=bx, y=by, fill="toself", fillcolor=with_alpha(style["color"], band_alpha),
                line=dict(width=0, color=with_alpha(style["color"], 0)), mode="lines",
                hoverinfo="skip", showlegend=False, legendgroup=name, name=f"{name} \u00b1 std",
            ))
        show_markers = markers if markers is not None else len(xs) <= 30
        custom = np.column_stack([s, d[n].to_numpy() if has_n else np.full(len(xs), np.nan)])
        hover = f"<b>{name}</b><br>labelled: %{{x:,.0f}}<br>{metric_name}: %{{y:.4f}} \u00b1 %{{customdata[0]:.4f}}"
        if has_n:
            hover += "<br>seeds: %{customdata[1]:.0f}"
        fig.add_trace(go.Scatter(
            x=xs, y=m, mode="lines+markers" if show_markers else "lines", name=name, legendgroup=name,
            line=dict(color=style["color"], dash=style["dash"], width=2),
            marker=dict(symbol=style["symbol"], size=6, color=style["color"]),
            customdata=custom, hovertemplate=hover + "<extra></extra>",
        ))
    refs = _full_data_lines(full_data)
    x_range = [float(df[x].min()), float(df[x].max())]
    for i, (label, value) in enumerate(refs):
        fig.add_trace(go.Scatter(
            x=x_range, y=[value, value], mode="lines", name=f"{label} {value:.3f}",
            line=dict(color=FULL_DATA_COLOR, width=1.6, dash=_FULL_DATA_DASHES[i % len(_FULL_DATA_DASHES)]),
            hovertemplate=f"<b>{label}</b>: %{{y:.4f}}<extra></extra>",
        ))
    # one legend group per curve (band + line toggle together); without a gap between groups a
    # 15-strategy legend fits beside a 500-px-high exported figure
    fig.update_layout(showlegend=len(groups) + len(refs) > 1, hovermode="closest", legend=dict(tracegroupgap=0))
    return fit_layout(fig)


def _full_data_lines(full_data) -> list[tuple[str, float]]:
    if full_data is None:
        return []
    if not isinstance(full_data, Mapping):
        items = [("full-data score", full_data)]
    else:
        items = [(f"full-data score ({k})" if str(k) else "full-data score", v) for k, v in full_data.items()]
    out = []
    for label, v in items:
        if v is None:
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"full_data must hold numbers; got {v!r} for {label!r}.") from None
        if np.isfinite(v):
            out.append((label, v))
    return out
