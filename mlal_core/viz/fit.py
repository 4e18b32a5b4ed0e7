"""Fit a figure's text to its size: wrapped titles, tick labels that never collide, a legend that
never covers the plot, decided from measured text widths (:mod:`mlal_core.viz.text_metrics`).

:func:`fit_layout` is called by every builder for the screen (at :data:`SCREEN_WIDTH` x
:data:`SCREEN_HEIGHT` unless the figure has its own size; the nominal screen size is the static
export's default, narrower than most browser windows, so the screen decisions are on the safe side)
and again by :func:`~mlal_core.viz.theme.paper_layout` at the paper size and fonts. It works from the
full texts, kept in ``layout.meta["mlal_fit"]`` at the first fit, so a figure can be fitted again at
another size without losing what an earlier fit cut.

* **Title**: wrapped with ``<br>`` at word boundaries into the figure's width (it starts at the
  container's left edge); at most ``max_title_lines`` lines (3): the rest is cut with an ellipsis
  and the full title stays in ``layout.meta["mlal_fit"]["title"]`` (for a caption). The top margin
  grows with the lines; a title of several lines gets 0.7 em more padding on top (plotly shifts a
  one-line title down by its cap height, a title of several lines not).
* **Colour bars** (of heatmaps, marker colour scales, colour axes): the title is wrapped into the
  bar's length (a title on the bar's side) onto at most two lines, then cut; the full text stays in
  ``layout.meta["mlal_fit"]["colorbars"]``.
* **Plots stacked in one column** (``make_subplots(rows=n, cols=1)``): a row title (a
  ``subplot_titles`` annotation) is wrapped into the row's width (two lines, then cut; full text in
  the meta), the gap under each row makes room for its x tick labels, its x title and the next row's
  title (the rows share the rest as before), each row's y title is wrapped into the row's height and
  a row lower than 120 px gets fewer y ticks (plotly crowds them).
* **Square plots** (``yaxis.scaleanchor = "x"``, e.g. heatmaps with square cells): the x labels get
  the space of the plot's smaller side.
* **Point texts** (``mode="markers+text"``, e.g. pick numbers on a map): a text that would overlap
  one written before it at this size is blanked (the hover still names the point).
* **Categorical axes** (``tickmode="array"`` or string categories): for the space per tick, the
  labels are written level if every two neighbours fit side by side, else at -45 deg if the rotated
  rows clear each other, else at -90 deg; if even that collides the tick font shrinks (down to 3/4 of
  its size, at least :data:`MIN_TICK_FONT` px), and last only every k-th label is written. A label
  longer than 30 % of the figure's width (level) or height (rotated) is cut with an ellipsis; the
  builders keep every full name in the hover text.
* **Axis titles** longer than their axis are wrapped onto two lines, then cut.
* **Legend** ``"top"``: horizontal rows between the title and the plot, packed as plotly packs them
  (one row when every entry fits, else a grid whose cells are as wide as the widest entry; an entry
  wider than the figure is wrapped); the top margin makes room for both, so the legend covers neither
  the plot nor an axis title.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from mlal_core.errors import ConfigError
from mlal_core.viz.text_metrics import (
    BBOX_HEIGHT_EM,
    LINE_SPACING,
    plain_lines,
    text_width,
    truncate_to_width,
    wrap_text,
)

__all__ = ["MIN_TICK_FONT", "SCREEN_HEIGHT", "SCREEN_WIDTH", "fit_layout", "legend_entries", "title_block_height"]

SCREEN_WIDTH = 700
SCREEN_HEIGHT = 450
MIN_TICK_FONT = 7.0
TITLE_PAD = dict(t=12, b=8, l=8, r=8)
_GAP = 1.5  # px between two text boxes
_COLORBAR_PX = 70  # colour bar, its tick labels and its title, beside the plot
#: plotly shifts a one-line title at ``yanchor="top"`` down by its cap height (0.7 em) but a title of
#: several lines not: their first line needs that much more padding to stay inside the figure
_CAP_SHIFT_EM = 0.7
_COLORBAR_TITLE_LINES = 2
_SUBPLOT_TITLE_LINES = 2
_SMALL_ROW_PX = 120  # a stacked row lower than this gets fewer y ticks
_LEGEND_TYPES = {"scatter", "scattergl", "bar", "box", "violin", "histogram"}


def _template_layout(fig: go.Figure) -> Any:
    tpl = fig.layout.template
    return tpl.layout if tpl is not None and tpl.layout is not None else go.Layout()


def _font_size(fig: go.Figure, *paths: tuple[str, ...], default: float = 12.0) -> float:
    """First font size set along ``paths`` (attribute paths in the layout, then in the template)."""
    for root in (fig.layout, _template_layout(fig)):
        for path in paths:
            obj = root
            for name in path:
                obj = getattr(obj, name, None)
                if obj is None:
                    break
            if isinstance(obj, (int, float)):
                return float(obj)
    return default


def _store(fig: go.Figure) -> dict | None:
    """The full texts kept in ``layout.meta["mlal_fit"]`` (None when meta holds something else)."""
    meta = fig.layout.meta
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return None
    meta = dict(meta)
    fit = dict(meta.get("mlal_fit") or {})
    meta["mlal_fit"] = fit
    fig.layout.meta = meta
    return fit


def _save(fig: go.Figure, fit: dict | None) -> None:
    if fit is not None:
        meta = dict(fig.layout.meta)
        meta["mlal_fit"] = fit
        fig.layout.meta = meta


def legend_entries(fig: go.Figure) -> list[go.Trace]:
    """The traces that get a legend entry (none when the legend is hidden).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        The figure.

    Returns
    -------
    list of plotly traces
        In legend order.
    """
    if fig.layout.showlegend is False:
        return []
    out = [t for t in fig.data if t.type in _LEGEND_TYPES and t.showlegend is not False]
    if fig.layout.showlegend is None and len(out) < 2:
        return []
    return out


def title_block_height(n_lines: int, font_size: float) -> float:
    """Height in px of a title of ``n_lines`` lines with its padding (0 lines: a thin strip).

    Parameters
    ----------
    n_lines : int
        Lines of the title.
    font_size : float
        Title font size in px.

    Returns
    -------
    float
        Pixels from the top of the figure to the bottom of the title's padding.
    """
    if n_lines <= 0:
        return 6.0
    return _title_pad_top(n_lines, font_size) + ((n_lines - 1) * LINE_SPACING + BBOX_HEIGHT_EM) * font_size + \
        TITLE_PAD["b"]


def _title_pad_top(n_lines: int, font_size: float) -> float:
    return TITLE_PAD["t"] + (_CAP_SHIFT_EM * font_size if n_lines > 1 else 0.0)


def _fit_title(fig: go.Figure, fit: dict | None, width: float, max_lines: int) -> float:
    """Wrap the title into ``width``; returns the title block's height."""
    text = fig.layout.title.text
    if fit is not None and "title" in fit:
        text = fit["title"]
    elif fit is not None and text:
        fit["title"] = text
    if not text:
        return title_block_height(0, 0)
    size = _font_size(fig, ("title", "font", "size"), ("font", "size"), default=15.0)
    avail = width - TITLE_PAD["l"] - TITLE_PAD["r"]
    lines = wrap_text(text, avail, size)
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + [truncate_to_width(" ".join(lines[max_lines - 1:]), avail, size)]
    pad = dict(TITLE_PAD, t=_title_pad_top(len(lines), size))
    fig.update_layout(title=dict(text="<br>".join(lines), xref="container", x=0, xanchor="left", yref="container",
                                 y=1.0, yanchor="top", pad=pad, automargin=False))
    return title_block_height(len(lines), size)


def _pack_legend(fig: go.Figure, entries: list, avail: float, font: float) -> float:
    """Wrap over-wide entry names, pack the entries into rows of ``avail`` px as plotly does; returns
    the legend height.

    Plotly writes a horizontal legend in one row when all entries fit; otherwise every entry takes the
    width of the widest one (a grid), so one long name puts few entries in each row.
    """
    lines_of, widths = [], []
    for t in entries:
        lines = wrap_text(str(t.name or t.type), max(avail - 48, 40), font)
        if len(lines) > 1:
            t.name = "<br>".join(lines)
        lines_of.append(len(lines))
        widths.append(40 + max(text_width(s, font) for s in lines) + 8)
    if sum(widths) <= avail:
        per_row = len(entries)
    else:
        per_row = max(1, int(avail // max(widths)))
    rows = [max(lines_of[i:i + per_row]) for i in range(0, len(entries), per_row)]
    return sum(max(n * font * LINE_SPACING, 16.0) + 4 for n in rows) + 8


def _place_legend_top(fig: go.Figure, fit: dict | None, width: float, title_h: float,
                      height: float | None) -> float:
    entries = legend_entries(fig)
    if not entries:
        return 0.0
    if fit is not None:
        names = fit.setdefault("legend_names", [str(t.name) if t.name is not None else None for t in fig.data])
        if len(names) == len(fig.data):
            for t, name in zip(fig.data, names):
                t.name = name
    font = _font_size(fig, ("legend", "font", "size"), ("font", "size"), default=11.0)
    pos: dict = dict(orientation="h", x=0, xanchor="left", tracegroupgap=0, itemwidth=30)
    fig.update_layout(legend=dict(orientation="h"))  # no longer beside the plot (see _plot_width)
    if height:  # rows across the figure, under the title
        legend_h = _pack_legend(fig, entries, width - 16, font)
        pos.update(xref="container", yref="container", y=1 - (title_h + 2) / float(height), yanchor="top")
    else:  # height unknown (screen): rows across the plot, on its top edge; a container-referred
        # legend there would let plotly push the left margin by the legend's width
        legend_h = _pack_legend(fig, entries, _plot_width(fig, width), font)
        pos.update(xref="paper", yref="paper", y=1.0, yanchor="bottom")
    fig.update_layout(legend=pos)
    return legend_h + 4


def _axis_labels(fig: go.Figure, name: str, fit: dict | None) -> tuple[list, list[str]] | None:
    """``(tickvals, full tick texts)`` of a categorical axis, or None for a numeric one."""
    saved = (fit or {}).get(name, {})
    if "tickvals" in saved:
        return saved["tickvals"], saved["ticktext"]
    axis = fig.layout[name]
    if axis.tickmode == "array" and axis.tickvals is not None:
        vals = list(axis.tickvals)
        texts = list(axis.ticktext) if axis.ticktext is not None else [f"{v:g}" if isinstance(v, float) else str(v)
                                                                       for v in vals]
    else:
        letter = name[0]
        ref = letter + name[5:]
        cats: list = []
        for t in fig.data:
            vals_t = getattr(t, letter, None)
            if (getattr(t, letter + "axis", None) or letter) != ref or vals_t is None or t.type == "heatmap":
                continue
            for v in vals_t:
                if isinstance(v, str) and v not in cats:
                    cats.append(v)
        if not cats:
            return None
        vals, texts = cats, list(cats)
    if fit is not None:
        fit.setdefault(name, {}).update(tickvals=vals, ticktext=texts)
    return vals, [str(s) for s in texts]


def _tick_plan(texts: list[str], space: float, font: float, max_len: float, *,
               level_only: bool) -> tuple[float, float, int, list[str]]:
    """``(angle, font, step, texts)``: the first layout whose labels clear each other in ``space`` px per tick."""
    fonts = [font]
    smallest = max(MIN_TICK_FONT, 0.75 * font)
    while fonts[-1] - 0.5 >= smallest:
        fonts.append(fonts[-1] - 0.5)
    for f in fonts:
        cut = [truncate_to_width(s, max_len, f) for s in texts]
        h = BBOX_HEIGHT_EM * f + _GAP
        if level_only:
            if h <= space:
                return 0.0, f, 1, cut
            continue
        widths = [text_width(s, f) for s in cut]
        side = max(((a + b) / 2 for a, b in zip(widths, widths[1:])), default=0.0) + 2 * _GAP
        if side <= space:
            return 0.0, f, 1, cut
        if space * math.sin(math.radians(45)) >= h:
            return -45.0, f, 1, cut
        if space >= h:
            return -90.0, f, 1, cut
    f = fonts[-1]
    step = max(2, math.ceil((BBOX_HEIGHT_EM * f + _GAP) / max(space, 1e-9)))
    return (0.0 if level_only else -90.0), f, step, [truncate_to_width(s, max_len, f) for s in texts]


def _set_ticks(fig: go.Figure, name: str, vals: list, plan: tuple[float, float, int, list[str]]) -> None:
    angle, font, step, texts = plan
    upd: dict = dict(tickmode="array", tickvals=vals[::step], ticktext=texts[::step], tickfont=dict(size=font))
    if name.startswith("x"):
        upd["tickangle"] = angle
    fig.layout[name].update(upd)


def _fit_axis_title(fig: go.Figure, name: str, fit: dict | None, length: float) -> float:
    """Wrap (then cut) an axis title to ``length`` px; returns its height across the axis."""
    axis = fig.layout[name]
    saved = fit.setdefault(name, {}) if fit is not None else {}
    text = saved.setdefault("title", axis.title.text)
    if not text:
        return 0.0
    size = _font_size(fig, (name, "title", "font", "size"), ("xaxis", "title", "font", "size"), ("font", "size"))
    lines = wrap_text(text, max(length, 40), size)
    if len(lines) > 2:
        lines = [lines[0], truncate_to_width(" ".join(lines[1:]), max(length, 40), size)]
    axis.title.text = "<br>".join(lines)
    return ((len(lines) - 1) * LINE_SPACING + BBOX_HEIGHT_EM) * size + 8


def _colorbars(fig: go.Figure) -> list[tuple[str, Any]]:
    """``(key, colorbar)`` of every colour bar shown: of a heatmap-like trace, of a marker colour scale
    and of a layout colour axis."""
    out = []
    for i, t in enumerate(fig.data):
        marker = getattr(t, "marker", None)
        if t.type in ("heatmap", "histogram2d", "contour") and t.showscale is not False and not t.coloraxis:
            out.append((f"trace{i}", t.colorbar))
        elif marker is not None and getattr(marker, "showscale", False) and not getattr(marker, "coloraxis", None):
            out.append((f"trace{i}", marker.colorbar))
    for name in fig.layout.to_plotly_json():
        if name.startswith("coloraxis") and fig.layout[name].showscale is not False:
            out.append((name, fig.layout[name].colorbar))
    return out


def _colorbar_title_font(fig: go.Figure, bar: Any) -> float:
    size = bar.title.font.size if bar.title is not None and bar.title.font is not None else None
    return float(size) if size else _font_size(fig, ("font", "size"))


def _colorbar_width(fig: go.Figure) -> float:
    """Width of the widest colour bar beside the plot: bar, tick labels and title (as wrapped now)."""
    widest = 0.0
    for _, bar in _colorbars(fig):
        text = bar.title.text if bar.title is not None else None
        lines = len(plain_lines(str(text))) if text else 1
        widest = max(widest, _COLORBAR_PX + (lines - 1) * LINE_SPACING * _colorbar_title_font(fig, bar))
    return widest


def _fit_colorbar_titles(fig: go.Figure, fit: dict | None, plot_h: float, width: float) -> None:
    """Wrap (then cut) each colour bar's title to the bar's length (a title on its side) or to the
    space beside the plot (a title on top), at most :data:`_COLORBAR_TITLE_LINES` lines."""
    saved = fit.setdefault("colorbars", {}) if fit is not None else {}
    for key, bar in _colorbars(fig):
        text = saved.setdefault(key, bar.title.text if bar.title is not None else None)
        if not text:
            continue
        size = _colorbar_title_font(fig, bar)
        vertical = (bar.title.side or "top") == "right" if bar.orientation != "h" else False
        if vertical:
            length = plot_h * (bar.len if bar.len is not None and bar.lenmode != "pixels" else 1.0)
            if bar.len is not None and bar.lenmode == "pixels":
                length = float(bar.len)
        else:
            length = max(_COLORBAR_PX - 6, 0.12 * width)
        lines = wrap_text(str(text), max(length - 4, 30), size)
        if len(lines) > _COLORBAR_TITLE_LINES:
            lines = lines[:_COLORBAR_TITLE_LINES - 1] + [
                truncate_to_width(" ".join(lines[_COLORBAR_TITLE_LINES - 1:]), max(length - 4, 30), size)]
        bar.title.text = "<br>".join(lines)


def _right_legend_width(fig: go.Figure) -> float:
    entries = legend_entries(fig)
    legend = fig.layout.legend
    if not entries or legend.orientation == "h" or (legend.x is not None and legend.x < 1):
        return 0.0
    font = _font_size(fig, ("legend", "font", "size"), ("font", "size"), default=11.0)
    return 40 + max(text_width(str(t.name), font) for t in entries) + 10


def _margins(fig: go.Figure) -> dict[str, float]:
    margin = fig.layout.margin
    tpl_margin = _template_layout(fig).margin
    return {s: getattr(margin, s) if getattr(margin, s) is not None else (getattr(tpl_margin, s) or 40)
            for s in ("l", "r", "b")}


def _plot_width(fig: go.Figure, width: float, fit: dict | None = None) -> float:
    """Estimated width of the plot area: the figure less the y tick labels and title, the colour bar
    and a legend on the right."""
    m = _margins(fig)
    y_labels = _axis_labels(fig, "yaxis", fit)
    y_font = _font_size(fig, ("yaxis", "tickfont", "size"), ("font", "size"))
    y_w = 0.0
    if y_labels is not None:
        y_w = max(text_width(truncate_to_width(s, 0.3 * width, y_font), y_font) for s in y_labels[1])
    left = max(m["l"], y_w + 10 + (y_font * LINE_SPACING + 8 if fig.layout.yaxis.title.text else 0))
    return max(width - left - m["r"] - _colorbar_width(fig) - _right_legend_width(fig), 40.0)


def _fit_axes(fig: go.Figure, fit: dict | None, width: float, height: float, top: float) -> tuple[float, float]:
    """Tick labels and axis titles of the main x and y axes (``xaxis`` / ``yaxis``); returns the
    estimated ``(plot width, plot height)``.

    With ``yaxis.scaleanchor = "x"`` (square heatmap cells) the plot is as wide as it is high, so the
    x labels get the space of the smaller of the two.
    """
    m = _margins(fig)
    y_labels = _axis_labels(fig, "yaxis", fit)
    y_font = _font_size(fig, ("yaxis", "tickfont", "size"), ("font", "size"))
    free_w = _plot_width(fig, width, fit)
    square = fig.layout.yaxis.scaleanchor == "x"
    x_title_h = _fit_axis_title(fig, "xaxis", fit, free_w)
    x_labels = _axis_labels(fig, "xaxis", fit)
    bottom = m["b"]
    plot_w = free_w
    for _ in range(2 if square else 1):  # a square plot: its side depends on the bottom, the bottom on the side
        plot_w = min(free_w, max(height - top - bottom, 40.0)) if square else free_w
        if x_labels is not None:
            x_font = _font_size(fig, ("xaxis", "tickfont", "size"), ("font", "size"))
            plan = _tick_plan(x_labels[1], plot_w / max(len(x_labels[0]), 1), x_font, 0.3 * height,
                              level_only=False)
            _set_ticks(fig, "xaxis", x_labels[0], plan)
            extent = max(text_width(s, plan[1]) for s in plan[3]) * abs(math.sin(math.radians(plan[0])))
            bottom = max(m["b"], extent + BBOX_HEIGHT_EM * plan[1] + 10 + x_title_h)
    plot_h = max(height - top - bottom, 40.0)
    if square:
        plot_h = min(plot_h, plot_w)
    _fit_axis_title(fig, "yaxis", fit, plot_h)
    if not _rows(fig):
        _thin_short_axis(fig, "yaxis", plot_h)
    if y_labels is not None:
        plan = _tick_plan(y_labels[1], plot_h / max(len(y_labels[0]), 1), y_font, 0.3 * width, level_only=True)
        _set_ticks(fig, "yaxis", y_labels[0], plan)
    return plot_w, max(height - top - bottom, 40.0)


def _thin_short_axis(fig: go.Figure, name: str, length: float) -> None:
    """Fewer ticks on a short numeric y axis: plotly's own spacing crowds labels below ~120 px."""
    axis = fig.layout[name]
    if axis.tickmode == "array" or axis.type == "log" or length >= _SMALL_ROW_PX:
        return
    font = _font_size(fig, (name, "tickfont", "size"), ("yaxis", "tickfont", "size"), ("font", "size"))
    axis.nticks = max(2, int(length // (2.5 * font)))


def _data_span(fig: go.Figure, letter: str) -> tuple[float, float]:
    vals: list[float] = []
    for t in fig.data:
        v = getattr(t, letter, None)
        if v is not None and t.type in ("scatter", "scattergl"):
            arr = np.asarray(v, dtype=object)
            vals.extend(float(a) for a in arr if isinstance(a, (int, float, np.number)) and np.isfinite(a))
    if not vals:
        return 0.0, 1.0
    lo, hi = min(vals), max(vals)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad


def _thin_point_texts(fig: go.Figure, fit: dict | None, plot_w: float, plot_h: float) -> None:
    """Blank the texts written next to scatter points (e.g. pick numbers) that would overlap a text
    kept before them at this size (the hover still names every point)."""
    traces = [(i, t) for i, t in enumerate(fig.data)
              if t.type in ("scatter", "scattergl") and t.mode and "text" in t.mode and t.text is not None
              and not isinstance(t.text, str)]
    if not traces:
        return
    saved = fit.setdefault("point_texts", {}) if fit is not None else {}
    (x0, x1), (y0, y1) = _data_span(fig, "x"), _data_span(fig, "y")
    sx, sy = plot_w / (x1 - x0), plot_h / (y1 - y0)
    if fig.layout.yaxis.scaleanchor == "x":
        sx = sy = min(sx, sy)
    kept: list[tuple[float, float, float, float]] = []
    for i, t in traces:
        full = saved.setdefault(str(i), [str(s) for s in t.text])
        font = float(t.textfont.size) if t.textfont is not None and t.textfont.size else 12.0
        out = []
        for x, y, text in zip(t.x, t.y, full):
            w, h = text_width(text, font), BBOX_HEIGHT_EM * font
            px, py = (float(x) - x0) * sx, (y1 - float(y)) * sy - 8  # "top center": above the marker
            box = (px - w / 2, py - h, px + w / 2, py)
            clash = any(box[0] < b[2] + _GAP and b[0] < box[2] + _GAP and box[1] < b[3] + _GAP and b[1] < box[3] + _GAP
                        for b in kept)
            out.append("" if clash else text)
            if not clash:
                kept.append(box)
        t.text = out


def _rows(fig: go.Figure) -> list[tuple[str, str]]:
    """``(x axis, y axis)`` layout names of the rows of plots stacked in one column, top row first
    (``[]`` for one plot, plots side by side or overlaid axes)."""
    rows = []
    for name in fig.layout.to_plotly_json():
        if not name.startswith("yaxis") or fig.layout[name].overlaying:
            continue
        axis = fig.layout[name]
        dom = tuple(axis.domain) if axis.domain is not None else (0.0, 1.0)
        rows.append((dom, "xaxis" + (axis.anchor or "x")[1:], name))
    rows.sort(key=lambda r: -r[0][1])
    if len(rows) < 2 or any(b[0][1] > a[0][0] + 1e-9 for a, b in zip(rows, rows[1:])):
        return []
    return [(x, y) for _, x, y in rows]


def _subplot_titles(fig: go.Figure, fit: dict, rows: list[tuple[str, str]]) -> dict[str, list]:
    """``{y axis: [annotation index, full text]}``: the annotations that title a row (as
    ``make_subplots(subplot_titles=...)`` writes them: centred on the row's top edge, no arrow)."""
    if "subplot_titles" in fit:
        return fit["subplot_titles"]
    out: dict[str, list] = {}
    tops = {y: fig.layout[y].domain[1] if fig.layout[y].domain is not None else 1.0 for _, y in rows}
    for i, ann in enumerate(fig.layout.annotations or ()):
        if (ann.xref == "paper" and ann.yref == "paper" and ann.yanchor == "bottom" and ann.showarrow is False
                and ann.text and ann.y is not None):
            row = next((y for y, top in tops.items() if abs(float(ann.y) - top) < 1e-6 and y not in out), None)
            if row is not None:
                out[row] = [i, str(ann.text)]
    fit["subplot_titles"] = out
    return out


def _fit_subplot_titles(fig: go.Figure, fit: dict | None, width: float) -> dict[str, float]:
    """Wrap the row titles into their row's width (at most :data:`_SUBPLOT_TITLE_LINES` lines, then cut),
    in the axis-title font; returns each titled row's title height in px."""
    rows = _rows(fig)
    if not rows or fit is None:
        return {}
    titles = _subplot_titles(fig, fit, rows)
    size = _font_size(fig, ("xaxis", "title", "font", "size"), ("font", "size"))
    plot_w = _plot_width(fig, width, fit)
    heights = {}
    for x, y in rows:
        if y not in titles:
            continue
        index, text = titles[y]
        dom = fig.layout[x].domain
        avail = plot_w * ((dom[1] - dom[0]) if dom is not None else 1.0)
        lines = wrap_text(text, avail, size)
        if len(lines) > _SUBPLOT_TITLE_LINES:
            lines = lines[:_SUBPLOT_TITLE_LINES - 1] + [
                truncate_to_width(" ".join(lines[_SUBPLOT_TITLE_LINES - 1:]), avail, size)]
        fig.layout.annotations[index].update(text="<br>".join(lines), font=dict(size=size))
        heights[y] = ((len(lines) - 1) * LINE_SPACING + BBOX_HEIGHT_EM) * size + 4
    return heights


def _row_gap(fig: go.Figure, fit: dict | None, x_upper: str, plot_w: float, title_below: float) -> float:
    """Pixels the gap under a row needs: its x tick labels and x title, the next row's title."""
    axis = fig.layout[x_upper]
    gap = 6.0 + title_below
    if axis.showticklabels is not False:
        gap += BBOX_HEIGHT_EM * _font_size(fig, (x_upper, "tickfont", "size"), ("xaxis", "tickfont", "size"),
                                           ("font", "size")) + 10
    dom = axis.domain
    return gap + _fit_axis_title(fig, x_upper, fit, plot_w * ((dom[1] - dom[0]) if dom is not None else 1.0))


def _stack_rows(fig: go.Figure, fit: dict | None, plot_w: float, plot_h: float,
                titles: dict[str, float]) -> None:
    """Give the gaps between stacked rows the room of their texts (the rows keep their shares of the
    rest), put each row title on its row and wrap each row's y title into the row's height."""
    rows = _rows(fig)
    if not rows:
        return
    saved = fit if fit is not None else {}
    doms = saved.setdefault("row_domains", {y: list(fig.layout[y].domain or (0.0, 1.0)) for _, y in rows})
    gaps = []
    for (x_up, y_up), (_, y_low) in zip(rows, rows[1:]):
        now = (doms[y_up][0] - doms[y_low][1]) * plot_h
        gaps.append(max(now, _row_gap(fig, fit, x_up, plot_w, titles.get(y_low, 0.0))))
    spans = [doms[y][1] - doms[y][0] for _, y in rows]
    room = max(plot_h - sum(gaps), 20.0 * len(rows))
    pos = 0.0  # px from the plot's top
    for i, (x, y) in enumerate(rows):
        row_px = room * spans[i] / sum(spans)
        hi = round(1.0 - pos / plot_h, 6)
        lo = round(max(hi - row_px / plot_h, 0.0), 6)
        fig.layout[y].domain = [lo, hi]
        _fit_axis_title(fig, y, fit, row_px)
        _thin_short_axis(fig, y, row_px)
        if y in (saved.get("subplot_titles") or {}):
            fig.layout.annotations[saved["subplot_titles"][y][0]].y = hi
        pos += row_px + (gaps[i] if i < len(gaps) else 0.0)
    x_bottom = rows[-1][0]
    if x_bottom != "xaxis":
        dom = fig.layout[x_bottom].domain
        _fit_axis_title(fig, x_bottom, fit, plot_w * ((dom[1] - dom[0]) if dom is not None else 1.0))


def fit_layout(fig: go.Figure, width: float | None = None, height: float | None = None, *,
               legend: str = "keep", max_title_lines: int = 3) -> go.Figure:
    """Fit the title, the categorical tick labels, the axis titles and (optionally) the legend of
    ``fig`` to a size (in place, also returned); see the module docstring for the rules.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        The figure, changed in place.
    width, height : float, optional
        Size in CSS px (default: the layout's, else :data:`SCREEN_WIDTH` x :data:`SCREEN_HEIGHT`).
    legend : {"keep", "top"}, default "keep"
        ``"top"`` moves the legend into rows between the title and the plot.
    max_title_lines : int, default 3
        Most lines of the wrapped title.

    Returns
    -------
    plotly.graph_objects.Figure
        ``fig`` itself.

    Raises
    ------
    ConfigError
        If ``legend`` is not ``"keep"`` / ``"top"`` or ``max_title_lines < 1``.
    """
    if legend not in ("keep", "top"):
        raise ConfigError(f"legend must be 'keep' or 'top'; got {legend!r}.")
    if max_title_lines < 1:
        raise ConfigError(f"max_title_lines must be >= 1; got {max_title_lines!r}.")
    known_height = height or fig.layout.height
    w = float(width or fig.layout.width or SCREEN_WIDTH)
    h = float(known_height or SCREEN_HEIGHT)
    fit = _store(fig)
    title_h = _fit_title(fig, fit, w, max_title_lines)
    legend_h = _place_legend_top(fig, fit, w, title_h, known_height) if legend == "top" else 0.0
    row_titles = _fit_subplot_titles(fig, fit, w)
    top_title = row_titles.get(_rows(fig)[0][1], 0.0) if row_titles else 0.0
    top = title_h + legend_h + 4 + top_title
    if legend_h and fig.layout.legend.yref == "paper" and top_title:
        # the legend stands on the plot's top edge (height unknown): lift it over the top row's title
        fig.layout.legend.y = 1 + top_title / max(h - top - _margins(fig)["b"], 40.0)
    fig.update_layout(margin=dict(t=top))
    _fit_colorbar_titles(fig, fit, max(h - top - _margins(fig)["b"], 40.0), w)  # a first guess of the height
    plot_w, plot_h = _fit_axes(fig, fit, w, h, top)
    _stack_rows(fig, fit, plot_w, plot_h, row_titles)
    _thin_point_texts(fig, fit, plot_w, plot_h)
    _fit_colorbar_titles(fig, fit, plot_h, w)
    _save(fig, fit)
    return fig
