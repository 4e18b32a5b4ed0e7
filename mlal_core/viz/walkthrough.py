"""Figures of the round walk-through (issue 15): one 2-D map of a round's candidates drawn with the
layers of each step, a score histogram with the step's cut, and two strategies side by side.

The inputs are plain data, so the same figures serve the app, the notebooks and the tests:

* :class:`MapLayer`: what a step draws on the map, by **pool position** (the map's rows are pool
  positions too, so a layer needs no knowledge of the projection). ``kind`` says how:

  - ``"points"``: the positions in one colour / symbol (a pool, the labelled set, a strategy's picks);
  - ``"values"``: the positions coloured by a number on the Viridis scale (an uncertainty, a score);
  - ``"category"``: one trace per value of ``values`` (e.g. k-means clusters), Okabe-Ito colours;
  - ``"ring"``: an open black ring over the positions (the picks), with ``text`` written next to each
    point when given (the pick order, a cluster id).

  Positions a layer names that are not on the map are left out (the figure's legend counts what is
  drawn).
* :class:`ScoreCut`: a step's scores (one per candidate, NaN = not scored), the set they are over, the
  picks and the cut the step applies (e.g. the top-50 % threshold of BESRA, or the lowest pick's score of
  a top-n strategy).

Every point carries its pool position as ``customdata[0]``, so a click on any layer names a sample.
Nothing here imports streamlit or the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlal_core.errors import ConfigError
from mlal_core.viz._common import as_1d, as_mask, new_figure
from mlal_core.viz.fit import fit_layout
from mlal_core.viz.selection import score_distribution
from mlal_core.viz.theme import (
    HIGHLIGHT_COLOR,
    OKABE_ITO,
    PICKED_COLOR,
    PICKED_RING_COLOR,
    SEQUENTIAL,
    TEMPLATE_NAME,
    UNPICKED_COLOR,
    register_template,
    series_style,
    with_alpha,
)

__all__ = [
    "LAYER_KINDS",
    "MapLayer",
    "ScoreCut",
    "comparison_histograms",
    "comparison_map",
    "score_cut_histogram",
    "walkthrough_map",
]

LAYER_KINDS = ("points", "values", "category", "ring")
#: above this many points a trace uses WebGL
WEBGL_THRESHOLD = 5000
COMPARE_COLORS = {"both": OKABE_ITO["reddish_purple"], "a": OKABE_ITO["blue"], "b": OKABE_ITO["orange"]}


@dataclass(frozen=True, eq=False)
class MapLayer:
    """One layer of a step's map, by pool position (see the module docstring for ``kind``).

    Parameters
    ----------
    name : str
        Legend name (the figure adds the count drawn).
    positions : numpy.ndarray
        Pool positions the layer draws.
    kind : {"points", "values", "category", "ring"}, default "points"
        How the layer is drawn.
    values : numpy.ndarray, optional
        One number per position (``"values"``, ``"category"``).
    text : tuple of str, optional
        One short text per position: written next to the point for ``"ring"``, shown on hover otherwise.
    color : str, optional
        Colour of a ``"points"`` layer (default: the palette in layer order).
    symbol : str, default "circle"
        Marker symbol.
    size : float, default 7
        Marker size.
    opacity : float, default 0.85
        Marker opacity.
    value_name : str, default "value"
        Colour-bar title / hover name of ``values``.
    """

    name: str
    positions: np.ndarray
    kind: str = "points"
    values: np.ndarray | None = None
    text: tuple[str, ...] | None = None
    _: KW_ONLY  # the fields past the fifth are passed by name
    color: str | None = None
    symbol: str = "circle"
    size: float = 7.0
    opacity: float = 0.85
    value_name: str = "value"

    def __post_init__(self) -> None:
        pos = np.asarray(self.positions, dtype=np.int64).reshape(-1)
        object.__setattr__(self, "positions", pos)
        if self.kind not in LAYER_KINDS:
            raise ConfigError(f"MapLayer kind must be one of {', '.join(LAYER_KINDS)}; got {self.kind!r}.")
        if self.values is not None:
            vals = np.asarray(self.values, dtype=float).reshape(-1)
            if vals.size != pos.size:
                raise ConfigError(f"MapLayer {self.name!r}: {vals.size} values for {pos.size} positions.")
            object.__setattr__(self, "values", vals)
        elif self.kind in ("values", "category"):
            raise ConfigError(f"A {self.kind!r} MapLayer needs values (one per position).")
        if self.text is not None:
            text = tuple(str(s) for s in self.text)
            if len(text) != pos.size:
                raise ConfigError(f"MapLayer {self.name!r}: {len(text)} texts for {pos.size} positions.")
            object.__setattr__(self, "text", text)

    def to_dict(self) -> dict:
        """The layer as plain Python values (lists), e.g. to compare two walk-throughs.

        Returns
        -------
        dict
            Every field; arrays as lists.
        """
        return {"name": self.name, "kind": self.kind, "positions": self.positions.tolist(),
                "values": None if self.values is None else self.values.tolist(),
                "text": None if self.text is None else list(self.text), "color": self.color,
                "symbol": self.symbol, "value_name": self.value_name}


@dataclass(frozen=True, eq=False)
class ScoreCut:
    """A step's scores and the cut it applies, for :func:`score_cut_histogram`.

    Parameters
    ----------
    scores : numpy.ndarray
        One score per candidate (NaN = not scored in this step).
    score_name : str
        What the score is (axis title).
    over : str
        The set the scores are over, in words (e.g. ``"40 samples of U*"``).
    picked_mask : numpy.ndarray, optional
        The picks among the candidates.
    cut : float, optional
        The threshold the step applies (drawn as a vertical line).
    cut_label : str, default ""
        Legend text of the cut.
    """

    scores: np.ndarray
    score_name: str
    over: str
    picked_mask: np.ndarray | None = None
    cut: float | None = None
    _: KW_ONLY  # the fields past the fifth are passed by name
    cut_label: str = ""

    def to_dict(self) -> dict:
        """The cut as plain Python values.

        Returns
        -------
        dict
            ``score_name``, ``over``, ``cut``, ``cut_label``, ``n_scored``, ``n_picked``.
        """
        s = np.asarray(self.scores, dtype=float)
        return {"score_name": self.score_name, "over": self.over,
                "cut": None if self.cut is None else float(self.cut), "cut_label": self.cut_label,
                "n_scored": int(np.isfinite(s).sum()),
                "n_picked": 0 if self.picked_mask is None else int(np.asarray(self.picked_mask).sum())}


def _rows_of(map_positions: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows into the map, which of positions are on the map)``; ``map_positions`` is ascending."""
    if map_positions.size == 0 or positions.size == 0:
        return np.empty(0, np.int64), np.zeros(positions.size, bool)
    rows = np.searchsorted(map_positions, positions)
    rows = np.minimum(rows, map_positions.size - 1)
    on = map_positions[rows] == positions
    return rows[on], on


def _hover(name: str, text: np.ndarray | None, value_name: str | None = None) -> str:
    tail = "<br>%{customdata[1]}" if text is not None else ""
    val = f"<br>{value_name}: %{{customdata[2]:.4g}}" if value_name else ""
    return f"<b>{name}</b><br>sample %{{customdata[0]}}" + val + tail + "<extra></extra>"


def _custom(pos: np.ndarray, text, values=None) -> np.ndarray:
    txt = np.asarray(text, dtype=object) if text is not None else np.full(pos.size, "", dtype=object)
    cols = [pos.astype(object), txt]
    if values is not None:
        cols.append(np.asarray(values, dtype=float).astype(object))
    return np.column_stack(cols)


def _add_layer(fig: go.Figure, xy: np.ndarray, map_positions: np.ndarray, layer: MapLayer, palette: int) -> int:
    """Draw one layer; returns how many palette colours it used."""
    rows, on = _rows_of(map_positions, layer.positions)
    pos = layer.positions[on]
    text = None if layer.text is None else np.asarray(layer.text, dtype=object)[on]
    vals = None if layer.values is None else layer.values[on]
    Scatter = go.Scattergl if rows.size > WEBGL_THRESHOLD else go.Scatter
    if layer.kind == "ring":
        mode = "markers+text" if text is not None and rows.size <= 200 else "markers"
        fig.add_trace(Scatter(
            x=xy[rows, 0], y=xy[rows, 1], mode=mode, name=f"{layer.name} ({rows.size})",
            text=None if text is None else list(text), textposition="top center",
            textfont=dict(size=11, color=PICKED_RING_COLOR),
            marker=dict(symbol="circle-open", size=layer.size + 7, color=layer.color or PICKED_RING_COLOR,
                        line=dict(width=2.2)),
            customdata=_custom(pos, text), hovertemplate=_hover(layer.name, text),
        ))
        return 0
    if layer.kind == "values":
        fig.add_trace(Scatter(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=f"{layer.name} ({rows.size})",
            marker=dict(size=layer.size, color=vals, colorscale=SEQUENTIAL, opacity=layer.opacity, showscale=True,
                        symbol=layer.symbol,
                        colorbar=dict(title=dict(text=layer.value_name, side="right"), outlinewidth=0,
                                      ticks="outside", thickness=14)),
            customdata=_custom(pos, text, vals), hovertemplate=_hover(layer.name, text, layer.value_name),
        ))
        return 0
    if layer.kind == "category":
        assert vals is not None
        levels = np.unique(vals[np.isfinite(vals)])
        for i, level in enumerate(levels):
            sel = vals == level
            style = series_style(i)
            label = f"{layer.value_name} {level:g}"
            fig.add_trace(Scatter(
                x=xy[rows[sel], 0], y=xy[rows[sel], 1], mode="markers", name=f"{label} ({int(sel.sum())})",
                legendgroup=layer.name, legendgrouptitle=dict(text=layer.name) if i == 0 else None,
                marker=dict(size=layer.size, color=style["color"], symbol=style["symbol"], opacity=layer.opacity),
                customdata=_custom(pos[sel], None if text is None else text[sel], vals[sel]),
                hovertemplate=_hover(label, None if text is None else text[sel], layer.value_name),
            ))
        return 0
    color = layer.color or series_style(palette)["color"]
    fig.add_trace(Scatter(
        x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=f"{layer.name} ({rows.size})",
        marker=dict(size=layer.size, color=color, symbol=layer.symbol, opacity=layer.opacity),
        customdata=_custom(pos, text), hovertemplate=_hover(layer.name, text),
    ))
    return 0 if layer.color else 1


def walkthrough_map(xy, positions, layers: Sequence[MapLayer], *, title: str | None = "The round's candidates",
                    axis_prefix: str = "Dimension", base_name: str = "candidates", hover_text=None,
                    labelled=None, labelled_name: str = "labelled before the round") -> go.Figure:
    """The one 2-D map of a round, drawn with a step's layers over every mapped point in grey.

    The grey base is split in two when ``labelled`` is given: the candidates (grey dots, counted in
    the legend as candidates only) and the labelled set (small dark crosses, a legend entry of its
    own; left out when a layer draws exactly that set already).

    Parameters
    ----------
    xy : array-like, shape (n, 2)
        The map's coordinates.
    positions : array-like of int, shape (n,)
        The pool position of each row of ``xy``, ascending.
    layers : sequence of MapLayer
        Drawn in order over the grey base (later layers on top).
    title : str or None, default "The round's candidates"
        Figure title; None (or "") for none, e.g. when the page shows the step's heading above it
        (an export of such a figure has no title).
    axis_prefix : str, default "Dimension"
        Names the axes (``"t-SNE"`` gives "t-SNE 1" / "t-SNE 2").
    base_name : str, default "candidates"
        Legend name of the grey base.
    hover_text : sequence of str, shape (n,), optional
        Hover text of the base points (e.g. a text's first words).
    labelled : array-like of int, optional
        Pool positions of the labelled set on the map: not counted as candidates, drawn as their own
        set (see above). Positions not on the map are ignored.
    labelled_name : str, default "labelled before the round"
        Legend name of the labelled set.

    Returns
    -------
    plotly.graph_objects.Figure
        The map; every point's ``customdata[0]`` is its pool position.

    Raises
    ------
    ConfigError
        If ``xy`` is not finite (n, 2), ``positions`` is not ascending and of length n, or a layer is
        not a :class:`MapLayer`.
    """
    xy = np.asarray(xy, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2 or not np.isfinite(xy).all():
        raise ConfigError(f"xy must be a finite (n, 2) array; got shape {xy.shape}.")
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    if pos.size != xy.shape[0]:
        raise ConfigError(f"positions has {pos.size} entries for {xy.shape[0]} map points.")
    if pos.size > 1 and not (np.diff(pos) > 0).all():
        raise ConfigError("positions must be strictly ascending pool positions (sort the map first).")
    if hover_text is not None and len(hover_text) != pos.size:
        raise ConfigError(f"hover_text has {len(hover_text)} entries for {pos.size} points.")
    for layer in layers:
        if not isinstance(layer, MapLayer):
            raise ConfigError(f"layers must be MapLayer objects; got {type(layer).__name__}.")
    fig = new_figure(title or "", f"{axis_prefix} 1", f"{axis_prefix} 2")
    Scatter = go.Scattergl if pos.size > WEBGL_THRESHOLD else go.Scatter
    text = None if hover_text is None else np.asarray([str(s) for s in hover_text], dtype=object)
    lab = np.zeros(pos.size, bool) if labelled is None else np.isin(pos, np.asarray(labelled, dtype=np.int64))
    cand = ~lab
    fig.add_trace(Scatter(
        x=xy[cand, 0], y=xy[cand, 1], mode="markers", name=f"{base_name} ({int(cand.sum())})",
        marker=dict(size=5, color=with_alpha(UNPICKED_COLOR, 0.45)),
        customdata=_custom(pos[cand], None if text is None else text[cand]), hovertemplate=_hover(base_name, text),
    ))
    drawn_by_layer = any(np.array_equal(np.unique(layer.positions[np.isin(layer.positions, pos)]), pos[lab])
                         for layer in layers)
    if lab.any() and not drawn_by_layer:
        fig.add_trace(Scatter(
            x=xy[lab, 0], y=xy[lab, 1], mode="markers", name=f"{labelled_name} ({int(lab.sum())})",
            marker=dict(size=5, symbol="x-thin-open", color=with_alpha(OKABE_ITO["black"], 0.5), line=dict(width=1)),
            customdata=_custom(pos[lab], None if text is None else text[lab]),
            hovertemplate=_hover(labelled_name, text),
        ))
    palette = 0
    for layer in layers:
        palette += _add_layer(fig, xy, pos, layer, palette)
    fig.update_yaxes(scaleanchor="x", scaleratio=1, showgrid=False, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False)
    fig.update_layout(showlegend=True, clickmode="event+select")
    # the legend in rows above the plot (never over the title or a colour bar), the colour-bar title
    # wrapped into the bar's length
    return fit_layout(fig, legend="top")


def score_cut_histogram(cut: ScoreCut, *, highlight: int | None = None, highlight_label: str | None = None,
                        bins: int = 40) -> go.Figure:
    """Histogram of a step's scores with its cut as a vertical line and the picks as a rug.

    Parameters
    ----------
    cut : ScoreCut
        The step's scores, set and cut.
    highlight : int, optional
        A candidate index (into ``cut.scores``) to mark, e.g. the sample asked about.
    highlight_label : str, optional
        Legend name of the highlight.
    bins : int, default 40
        Number of bins.

    Returns
    -------
    plotly.graph_objects.Figure
        :func:`mlal_core.viz.score_distribution` with the cut line and a title that names the set.

    Raises
    ------
    ConfigError
        As :func:`mlal_core.viz.score_distribution` (no score, a pick without a score, ...).
    """
    s = as_1d(cut.scores, "scores", allow_nan=True)
    n_scored = int(np.isfinite(s).sum())
    picked = as_mask(cut.picked_mask, s.size, "picked_mask")
    title = f"{cut.score_name} over {cut.over} ({n_scored} scored, {int(picked.sum())} picked)"
    fig = score_distribution(s, picked, highlight, bins=bins, score_name=cut.score_name, title=title,
                             highlight_label=highlight_label, set_name="scored")  # the title names the set
    if cut.cut is not None and np.isfinite(cut.cut):
        label = cut.cut_label or f"cut {cut.cut:.4g}"
        fig.add_vline(x=float(cut.cut), line=dict(color=PICKED_COLOR, width=2), row=1, col=1,
                      annotation_text=label, annotation_position="top left")
    return fig


def comparison_map(xy, positions, picks_a, picks_b, *, name_a: str, name_b: str, labelled=None,
                   title: str | None = None, axis_prefix: str = "Dimension") -> go.Figure:
    """Two strategies' picks on the one map: picked by both, by one only, by the other only.

    Parameters
    ----------
    xy : array-like, shape (n, 2)
        The map's coordinates.
    positions : array-like of int, shape (n,)
        Pool position of each row, ascending.
    picks_a, picks_b : array-like of int
        Pool positions each strategy picked.
    name_a, name_b : str
        The strategies' names.
    labelled : array-like of int, optional
        The labelled set before the round (drawn dark).
    title : str, optional
        Figure title (default names both and the overlap).
    axis_prefix : str, default "Dimension"
        Names the axes.

    Returns
    -------
    plotly.graph_objects.Figure
        :func:`walkthrough_map` with the labelled set (when given) and the layers "only A", "only B",
        "picked by both".
    """
    a = np.unique(np.asarray(picks_a, dtype=np.int64))
    b = np.unique(np.asarray(picks_b, dtype=np.int64))
    both = np.intersect1d(a, b)
    layers = [
        MapLayer(f"only {name_a}", np.setdiff1d(a, b), color=COMPARE_COLORS["a"], symbol="circle", size=10),
        MapLayer(f"only {name_b}", np.setdiff1d(b, a), color=COMPARE_COLORS["b"], symbol="diamond", size=10),
        MapLayer("picked by both", both, color=COMPARE_COLORS["both"], symbol="star", size=13),
    ]
    title = title or f"{name_a} vs {name_b}: {both.size} shared of {a.size} / {b.size} picks"
    return walkthrough_map(xy, positions, layers, title=title, axis_prefix=axis_prefix,
                           labelled=None if labelled is None or not len(labelled) else labelled)


def comparison_histograms(scores_a, scores_b, picks_a_mask, picks_b_mask, *, name_a: str, name_b: str,
                          score_name_a: str | None = None, score_name_b: str | None = None,
                          bins: int = 40) -> go.Figure:
    """Both strategies' score histograms, one row each, with both strategies' picks as rugs on each.

    Parameters
    ----------
    scores_a, scores_b : array-like, shape (n,)
        Each strategy's scores over the same candidates (NaN = not scored).
    picks_a_mask, picks_b_mask : array-like of bool, shape (n,)
        Each strategy's picks among the candidates.
    name_a, name_b : str
        The strategies' names.
    score_name_a, score_name_b : str, optional
        What each score is (default ``"<name> score"``).
    bins : int, default 40
        Bins per histogram.

    Returns
    -------
    plotly.graph_objects.Figure
        Two rows, each with its score as the x title and "Count" (candidates per bin) as the y
        title; on each, the picks of A (circles) and of B (diamonds) at their score there. A pick
        the other strategy did not score is left out of that row (the legend counts what is drawn).

    Raises
    ------
    ConfigError
        When the lengths differ or a strategy scored nothing.
    """
    sa = as_1d(scores_a, "scores_a", allow_nan=True)
    sb = as_1d(scores_b, "scores_b", allow_nan=True, min_len=sa.size)
    if sb.size != sa.size:
        raise ConfigError(f"scores_a and scores_b must cover the same candidates ({sa.size} vs {sb.size}).")
    ma = as_mask(picks_a_mask, sa.size, "picks_a_mask")
    mb = as_mask(picks_b_mask, sa.size, "picks_b_mask")
    names = (score_name_a or f"{name_a} score", score_name_b or f"{name_b} score")
    register_template()
    # each row's x title names its score; the gap between the rows is sized by fit_layout
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.16)
    fig.update_layout(template=TEMPLATE_NAME, title=dict(text=f"{name_a} and {name_b}: scores and picks"),
                      bargap=0.02)
    for row, (s, sname) in enumerate(((sa, names[0]), (sb, names[1])), start=1):
        ok = np.isfinite(s)
        if not ok.any():
            raise ConfigError(f"{sname}: no candidate has a score, so there is no histogram to draw.")
        vals = s[ok]
        lo, hi = float(vals.min()), float(vals.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        counts, edges = np.histogram(vals, bins=int(bins), range=(lo, hi))
        fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=edges[1] - edges[0],
                             marker_color=UNPICKED_COLOR, name=f"{sname} ({vals.size} scored)", showlegend=False,
                             hovertemplate="%{x:.4g}: %{y} candidates<extra></extra>"), row=row, col=1)
        top = max(int(counts.max()), 1)
        for mask, nm, sym, color, h in ((ma, name_a, "circle", COMPARE_COLORS["a"], 0.55),
                                        (mb, name_b, "diamond", COMPARE_COLORS["b"], 0.35)):
            idx = np.flatnonzero(mask & ok)
            fig.add_trace(go.Scatter(
                x=s[idx], y=np.full(idx.size, top * h), mode="markers", name=f"{nm} picks ({idx.size})",
                legendgroup=nm, showlegend=row == 1,
                marker=dict(symbol=sym, size=10, color=color, line=dict(width=1, color=HIGHLIGHT_COLOR)),
                customdata=idx, hovertemplate=f"{nm} pick (candidate %{{customdata}})<br>{sname}: %{{x:.4g}}"
                                              "<extra></extra>",
            ), row=row, col=1)
        fig.update_xaxes(title_text=f"{sname} ({vals.size} scored)", row=row, col=1)  # the bars' legend
        # a short y title: it has to fit beside a row a third of a paper figure high
        fig.update_yaxes(title_text="Count", rangemode="tozero", row=row, col=1)
    fig.update_layout(showlegend=True)
    return fit_layout(fig, legend="top")
