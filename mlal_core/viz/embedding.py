"""2-D scatter of a projection (t-SNE / UMAP) of features or CoMAL label-wise embeddings."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mlal_core.errors import ConfigError
from mlal_core.viz._common import as_1d, as_mask, new_figure
from mlal_core.viz.fit import fit_layout
from mlal_core.viz.theme import PICKED_RING_COLOR, SEQUENTIAL, series_style

__all__ = ["embedding_scatter"]


def _as_xy(xy, name: str) -> np.ndarray:
    try:
        arr = np.asarray(xy, dtype=float)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name} must be a numeric (n, 2) array: {e}") from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ConfigError(f"{name} must have shape (n, 2); got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{name} has NaN or infinite coordinates.")
    return arr


def _group_levels(groups, n: int, group_order) -> tuple[np.ndarray, list[str]]:
    """``groups`` as an (n,) array of strings, and its distinct values in ``group_order`` first."""
    g = np.asarray(groups, dtype=object).reshape(-1)
    if g.size != n:
        raise ConfigError(f"groups has {g.size} entries for {n} points.")
    if pd.isna(pd.Series(g)).any():
        raise ConfigError("groups has missing values.")
    g = np.array([str(v) for v in g], dtype=object)
    levels = list(pd.unique(pd.Series(g)))
    if group_order is not None:
        order = [str(v) for v in group_order]
        levels = [v for v in order if v in levels] + [v for v in levels if v not in order]
    return g, levels


def _group_styles(group_styles: Mapping[str, Mapping] | None) -> dict[str, dict]:
    """``{group: {"color": ..., "opacity": ...}}`` with string keys, or a :class:`ConfigError`."""
    try:
        return {str(k): dict(v) for k, v in (group_styles or {}).items()}
    except (TypeError, ValueError, AttributeError):
        raise ConfigError("group_styles must map group names to {'color': ..., 'opacity': ...}.") from None


def _add_prototypes(fig: go.Figure, prototypes_xy, prototype_names, prototype_groups,
                    group_colors: dict[str, str], point_size: float) -> int:
    """Add the prototypes' star markers to ``fig``; returns the number of traces added (0 or 1)."""
    pxy = _as_xy(prototypes_xy, "prototypes_xy")
    p = pxy.shape[0]
    names = [f"prototype {j}" for j in range(p)] if prototype_names is None else [str(s) for s in prototype_names]
    if len(names) != p:
        raise ConfigError(f"prototype_names has {len(names)} entries for {p} prototypes.")
    pcolors: str | list[str] = "#000000"
    if prototype_groups is not None:
        pg = [str(v) for v in prototype_groups]
        if len(pg) != p:
            raise ConfigError(f"prototype_groups has {len(pg)} entries for {p} prototypes.")
        pcolors = [group_colors.get(v, "#000000") for v in pg]
    if not p:
        return 0
    fig.add_trace(go.Scatter(
        x=pxy[:, 0], y=pxy[:, 1], mode="markers", name=f"prototypes ({p})", text=names,
        marker=dict(symbol="star", size=point_size + 12, color=pcolors, line=dict(color="black", width=1.2)),
        hovertemplate="<b>%{text}</b><extra></extra>",
    ))
    return 1


def embedding_scatter(xy, groups=None, picked_mask=None, prototypes_xy=None, hover_text=None, *,
                      colors=None, color_name: str = "value", prototype_names=None,
                      prototype_groups=None, group_name: str = "group", group_order=None,
                      title: str | None = None, axis_prefix: str = "Dimension", equal_aspect: bool = True,
                      point_size: float = 6, opacity: float = 0.75, webgl_threshold: int = 20000,
                      group_styles: Mapping[str, Mapping] | None = None, picked_name: str | None = None,
                      picked_in_legend: bool = True) -> go.Figure:
    """Scatter of a 2-D projection.

    Colouring: ``groups`` gives one trace per category in the Okabe-Ito colours; ``colors`` gives
    one trace on the Viridis scale with a colour bar; neither gives one grey-blue trace. The picked
    points get a black ring on top, so both the group colour and the pick stay visible. Above
    ``webgl_threshold`` points the traces use WebGL (``Scattergl``).

    Parameters
    ----------
    xy : array-like, shape (n, 2)
        Projected coordinates (finite).
    groups : array-like, shape (n,), optional
        Categories (e.g. ``"positive"`` / ``"negative"`` for one label, or the label names).
    picked_mask : array-like of bool, shape (n,), optional
        The picked points (one ring trace).
    prototypes_xy : array-like, shape (P, 2), optional
        Star markers, e.g. CoMAL's label prototypes.
    hover_text : sequence of str, shape (n,), optional
        Text shown on hover (e.g. the first words of the text).
    colors : array-like of float, shape (n,), optional
        Numbers to colour by (e.g. a score); not together with ``groups``.
    color_name : str, default "value"
        Title of the colour bar and hover name of ``colors``.
    prototype_names : sequence of str, shape (P,), optional
        Names of the prototypes (default ``"prototype j"``).
    prototype_groups : sequence, shape (P,), optional
        Colours a star like the group of the same name (black otherwise).
    group_name : str, default "group"
        Legend title when ``groups`` is given.
    group_order : sequence, optional
        Order of the groups (default: order of first appearance; others follow).
    title : str, optional
        Title (default ``"2-D projection (n points)"``).
    axis_prefix : str, default "Dimension"
        Names the axes (``"t-SNE"`` gives "t-SNE 1" / "t-SNE 2").
    equal_aspect : bool, default True
        Same scale on both axes.
    point_size : float, default 6
        Marker size.
    opacity : float, default 0.75
        Marker opacity (unless ``group_styles`` sets one).
    webgl_threshold : int, default 20000
        Use WebGL above this many points.
    group_styles : mapping of str to mapping, optional
        ``{group: {"color": ..., "opacity": ...}}`` overrides for some groups (e.g. grey, faint
        unlabelled samples); the others keep the palette's colours in order.
    picked_name : str, optional
        Name of the ring trace (default ``"picked (k)"``).
    picked_in_legend : bool, default True
        Show the ring trace in the legend (False e.g. when a group already names the picks).

    Returns
    -------
    plotly.graph_objects.Figure
        The scatter.

    Raises
    ------
    ConfigError
        If ``xy`` is not a finite (n, 2) array with n >= 1, both ``groups`` and ``colors`` are given,
        or an argument's length does not match.
    """
    xy = _as_xy(xy, "xy")
    n = xy.shape[0]
    if n == 0:
        raise ConfigError("embedding_scatter needs at least one point.")
    if groups is not None and colors is not None:
        raise ConfigError("give either groups (categories) or colors (numbers), not both.")
    picked = as_mask(picked_mask, n, "picked_mask")
    if hover_text is not None:
        hover_text = [str(t) for t in hover_text]
        if len(hover_text) != n:
            raise ConfigError(f"hover_text has {len(hover_text)} entries for {n} points.")
    Scatter = go.Scattergl if n > webgl_threshold else go.Scatter
    idx_all = np.arange(n)

    def _custom(idx):
        texts = np.asarray(hover_text, dtype=object)[idx] if hover_text is not None else np.full(idx.size, "", object)
        return np.column_stack([idx, texts])

    hover_tail = "<br>%{customdata[1]}" if hover_text is not None else ""
    fig = new_figure(title or f"2-D projection ({n} points)", f"{axis_prefix} 1", f"{axis_prefix} 2")
    n_series = 0
    colour_scale = False
    group_colors: dict[str, str] = {}
    if groups is not None:
        g, levels = _group_levels(groups, n, group_order)
        styles = _group_styles(group_styles)
        palette = 0
        for i, level in enumerate(levels):
            idx = idx_all[g == level]
            style = styles.get(level, {})
            if "color" in style:
                color = str(style["color"])
            else:
                color = series_style(palette)["color"]
                palette += 1
            group_colors[level] = color
            fig.add_trace(Scatter(
                x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=f"{level} ({idx.size})",
                marker=dict(size=point_size, color=color, opacity=float(style.get("opacity", opacity)),
                            symbol=series_style(i)["symbol"] if len(levels) > 8 else "circle"),
                customdata=_custom(idx),
                hovertemplate=f"<b>{level}</b><br>sample %{{customdata[0]}}" + hover_tail + "<extra></extra>",
            ))
            n_series += 1
    elif colors is not None:
        c = as_1d(colors, "colors", min_len=n)
        if c.size != n:
            raise ConfigError(f"colors has {c.size} entries for {n} points.")
        fig.add_trace(Scatter(
            x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"samples ({n})", showlegend=False,
            marker=dict(size=point_size, color=c, colorscale=SEQUENTIAL, opacity=opacity, showscale=True,
                        colorbar=dict(title=dict(text=color_name, side="right"), outlinewidth=0,
                                      ticks="outside", thickness=14)),
            customdata=np.column_stack([_custom(idx_all), c]),
            hovertemplate=f"sample %{{customdata[0]}}<br>{color_name}: %{{customdata[2]:.4g}}" + hover_tail
            + "<extra></extra>",
        ))
        colour_scale = True
    else:
        fig.add_trace(Scatter(
            x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"samples ({n})",
            marker=dict(size=point_size, color=series_style(0)["color"], opacity=opacity),
            customdata=_custom(idx_all), hovertemplate="sample %{customdata[0]}" + hover_tail + "<extra></extra>",
        ))
        n_series += 1

    if picked.any():
        idx = idx_all[picked]
        fig.add_trace(Scatter(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=picked_name or f"picked ({idx.size})",
            showlegend=bool(picked_in_legend),
            marker=dict(symbol="circle-open", size=point_size + 8, color=PICKED_RING_COLOR, line=dict(width=2.2)),
            customdata=_custom(idx),
            hovertemplate="<b>picked</b><br>sample %{customdata[0]}" + hover_tail + "<extra></extra>",
        ))
        n_series += int(bool(picked_in_legend))

    if prototypes_xy is not None:
        n_series += _add_prototypes(fig, prototypes_xy, prototype_names, prototype_groups, group_colors,
                                    point_size)

    if equal_aspect:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    fig.update_xaxes(showgrid=False, zeroline=False)
    fig.update_yaxes(showgrid=False, zeroline=False)
    if groups is not None:
        fig.update_layout(legend=dict(title=dict(text=group_name)))
    if colour_scale:
        # the colour bar takes the right side: legend entries (picked, prototypes) go above the plot
        fig.update_layout(showlegend=n_series > 0,
                          legend=dict(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom"))
    else:
        fig.update_layout(showlegend=n_series > 1)
    return fit_layout(fig, legend="top" if colour_scale else "keep")
