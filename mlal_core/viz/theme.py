"""One look for every figure: a colour-blind-safe palette, a plotly template, paper sizing.

* Categories (strategies, label groups, positive / negative) use the Okabe-Ito palette (Okabe & Ito
  2008), ordered so that the first colours stay distinct on white and in grey-scale print; the yellow
  is last but one because it is faint on white. Past eight series the colours repeat with another
  dash / marker symbol (:func:`series_style`), so no two series look the same.
* Heatmaps of quantities in [0, 1] use a perceptually uniform sequential scale (:data:`SEQUENTIAL`,
  Viridis; :data:`SEQUENTIAL_ALT`, Cividis, for the second matrix of a pair such as A / NegA), and
  signed differences a diverging scale centred at 0 (:data:`DIVERGING`, RdBu: red < 0 < blue).
* :data:`TEMPLATE_NAME` is a plotly template registered once (white background, light y-grid only,
  axis lines, outside ticks, a sans-serif font at readable sizes, no plotly logo clutter). Builders set
  it on each figure explicitly, so importing this module never changes plotly's global default;
  :func:`use_as_default` does that for a notebook that wants it for its own figures too.
* :func:`paper_layout` sizes a figure for one paper column (3.5 in = 336 px at 96 px/in) or two
  (7.16 in = 687 px), with fonts that print at 8-9 pt; export at ``scale = 300 / 96`` for 300 dpi
  (:data:`PRINT_SCALE_300DPI`, or ``dpi=300`` in :func:`mlal_core.export.figure_to_bytes`).
"""

from __future__ import annotations

import numbers
import threading

import plotly.graph_objects as go
import plotly.io as pio

from mlal_core.errors import ConfigError
from mlal_core.viz.fit import fit_layout, legend_entries, title_block_height

__all__ = [
    "CATEGORY_COLORS",
    "COLUMN_WIDTH_IN",
    "CSS_PX_PER_INCH",
    "DIVERGING",
    "DOUBLE_COLUMN_WIDTH_IN",
    "HIGHLIGHT_COLOR",
    "NEGATIVE_COLOR",
    "NUMBER_FORMAT",
    "OKABE_ITO",
    "PICKED_COLOR",
    "PICKED_RING_COLOR",
    "POSITIVE_COLOR",
    "PRINT_SCALE_300DPI",
    "SEQUENTIAL",
    "SEQUENTIAL_ALT",
    "TEMPLATE_NAME",
    "UNPICKED_COLOR",
    "category_color",
    "dpi_scale",
    "paper_layout",
    "register_template",
    "series_style",
    "use_as_default",
    "with_alpha",
]

#: Okabe-Ito colours by name (hex).
OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish_green": "#009E73",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "sky_blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}

#: The category colour cycle (the order series get their colours in).
CATEGORY_COLORS: tuple[str, ...] = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["black"],
    OKABE_ITO["yellow"],
)

SEQUENTIAL = "Viridis"
SEQUENTIAL_ALT = "Cividis"
DIVERGING = "RdBu"

PICKED_COLOR = OKABE_ITO["vermillion"]
PICKED_RING_COLOR = OKABE_ITO["black"]  # rings around picked points drawn over category colours
HIGHLIGHT_COLOR = OKABE_ITO["black"]
UNPICKED_COLOR = "#9E9E9E"
POSITIVE_COLOR = OKABE_ITO["blue"]
NEGATIVE_COLOR = OKABE_ITO["orange"]

_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "pentagon")

TEMPLATE_NAME = "mlal"
FONT_FAMILY = "Arial, Helvetica, 'Liberation Sans', 'DejaVu Sans', sans-serif"
TEXT_COLOR = "#222222"
GRID_COLOR = "#E5E5E5"
AXIS_COLOR = "#444444"

CSS_PX_PER_INCH = 96
COLUMN_WIDTH_IN = 3.5
DOUBLE_COLUMN_WIDTH_IN = 7.16
PRINT_SCALE_300DPI = 300 / CSS_PX_PER_INCH
#: a paper figure grows when its title and legend would leave the plot less than this share of the
#: height it has under a one-line title (:func:`paper_layout`)
MIN_PLOT_SHARE = 0.6

#: how every axis and colour bar writes its numbers: plain decimals from 0.0001 to 99999 (as the
#: tables write them), "1e−5" style beyond; never SI suffixes ("100μ", "20k"), which read as units
NUMBER_FORMAT: dict = dict(exponentformat="e", minexponent=4)

_lock = threading.Lock()


def _axis() -> dict:
    return dict(
        showline=True,
        linecolor=AXIS_COLOR,
        linewidth=1,
        mirror=False,
        ticks="outside",
        tickcolor=AXIS_COLOR,
        ticklen=4,
        showgrid=False,
        zeroline=False,
        title=dict(standoff=8, font=dict(size=13)),
        automargin=True,
        **NUMBER_FORMAT,
    )


def _build_template() -> go.layout.Template:
    xaxis = _axis()
    yaxis = dict(_axis(), showgrid=True, gridcolor=GRID_COLOR, gridwidth=1)
    layout = go.Layout(
        font=dict(family=FONT_FAMILY, size=12, color=TEXT_COLOR),
        title=dict(font=dict(size=15), x=0.0, xanchor="left", xref="container", yref="container", y=1.0,
                   yanchor="top", pad=dict(t=12, b=8, l=8, r=8), automargin=True),
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(CATEGORY_COLORS),
        colorscale=dict(sequential=SEQUENTIAL, sequentialminus=SEQUENTIAL, diverging=DIVERGING),
        xaxis=xaxis,
        yaxis=yaxis,
        legend=dict(bgcolor="rgba(255,255,255,0.8)", borderwidth=0, font=dict(size=11),
                    title=dict(font=dict(size=11))),
        hoverlabel=dict(font=dict(family=FONT_FAMILY, size=12), namelength=-1),
        hovermode="closest",
        margin=dict(l=60, r=20, t=60, b=55),
        bargap=0.15,
        coloraxis=dict(colorbar=dict(outlinewidth=0, ticks="outside", thickness=14, **NUMBER_FORMAT)),
    )
    template = go.layout.Template(layout=layout)
    # trace defaults: thin lines, no marker outlines, colour bars without frames
    template.data.scatter = [go.Scatter(line=dict(width=2), marker=dict(size=7, line=dict(width=0),
                                                                        colorbar=NUMBER_FORMAT))]
    template.data.heatmap = [go.Heatmap(colorbar=dict(outlinewidth=0, ticks="outside", thickness=14,
                                                      **NUMBER_FORMAT))]
    template.data.histogram = [go.Histogram(marker=dict(line=dict(width=0)))]
    template.data.bar = [go.Bar(marker=dict(line=dict(width=0)))]
    return template


def register_template() -> str:
    """Register the ``"mlal"`` plotly template (once per process) and return its name."""
    with _lock:
        if TEMPLATE_NAME not in pio.templates:
            pio.templates[TEMPLATE_NAME] = _build_template()
    return TEMPLATE_NAME


def use_as_default() -> None:
    """Make ``"mlal"`` plotly's default template (for a notebook's own figures)."""
    pio.templates.default = register_template()


def category_color(i: int) -> str:
    """Colour of the ``i``-th category (cycles through :data:`CATEGORY_COLORS`).

    Parameters
    ----------
    i : int
        Category index.

    Returns
    -------
    str
        A colour string.
    """
    return CATEGORY_COLORS[int(i) % len(CATEGORY_COLORS)]


def series_style(i: int) -> dict:
    """``{"color", "dash", "symbol"}`` of the ``i``-th series: colour cycles first, then dash / symbol.

    Parameters
    ----------
    i : int
        Series index.

    Returns
    -------
    dict
        ``color``, ``dash`` and ``symbol`` for the series.
    """
    i = int(i)
    n = len(CATEGORY_COLORS)
    return {
        "color": CATEGORY_COLORS[i % n],
        "dash": _DASHES[(i // n) % len(_DASHES)],
        "symbol": _SYMBOLS[(i // n) % len(_SYMBOLS)],
    }


def with_alpha(color: str, alpha: float) -> str:
    """``"#RRGGBB"`` (or ``"rgb(r, g, b)"``) as ``"rgba(r, g, b, alpha)"``.

    Parameters
    ----------
    color : str
        ``"#RRGGBB"`` or ``"rgb(r, g, b)"``.
    alpha : float
        Opacity in [0, 1].

    Returns
    -------
    str
        The ``rgba`` colour.

    Raises
    ------
    ConfigError
        For any other colour format.
    """
    c = color.strip()
    if c.startswith("#") and len(c) == 7:
        r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
    elif c.startswith("rgb(") and c.endswith(")"):
        r, g, b = (int(float(v)) for v in c[4:-1].split(","))
    else:
        raise ConfigError(f"with_alpha needs a '#RRGGBB' or 'rgb(r, g, b)' colour; got {color!r}.")
    return f"rgba({r}, {g}, {b}, {float(alpha):g})"


def dpi_scale(dpi: float) -> float:
    """Export ``scale`` that turns a layout in CSS pixels (96 per inch) into ``dpi`` dots per inch.

    Parameters
    ----------
    dpi : float
        Dots per inch (e.g. 300 for print).

    Returns
    -------
    float
        ``dpi / 96``.

    Raises
    ------
    ConfigError
        If ``dpi`` is not positive.
    """
    if not dpi or dpi <= 0:
        raise ConfigError(f"dpi must be positive; got {dpi!r}.")
    return float(dpi) / CSS_PX_PER_INCH


def paper_layout(fig: go.Figure, width: str | float = "column", height: float | None = None, *,
                 aspect: float | None = None, font_size: float | None = None,
                 legend: str = "top", scale_markers: bool = True, max_title_lines: int = 3) -> go.Figure:
    """Size ``fig`` (in place, also returned) for a paper: ``width`` ``"column"`` (3.5 in = 336 px),
    ``"double"`` (7.16 in = 687 px) or a number of CSS pixels.

    Fonts shrink to print at about 8-9 pt (12 px at the 96 px/in layout scale = 9 pt), margins
    tighten, and colour bars get the smaller fonts too. Then the texts are fitted to the new size
    from their measured widths: the title wraps (the top margin grows with its lines), categorical
    tick labels are rotated, shrunk, cut or thinned so they never collide, long axis titles wrap,
    and the legend gets its own rows between the title and the plot. Export at ``dpi=300`` (``scale = 300 / 96``)
    for a 300-dpi bitmap of the same physical size.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        The figure, changed in place.
    width : {"column", "double"} or float, default "column"
        Target width (``"two-column"`` and ``"page"`` mean ``"double"``).
    height : float, optional
        Height in CSS pixels (default ``aspect * width``; taller only when a title of several lines
        and a legend of several rows would leave the plot less than :data:`MIN_PLOT_SHARE` of the
        height it has under a one-line title).
    aspect : float, optional
        Height / width when ``height`` is not given (default 0.75; 1.0 for a figure with a heatmap,
        whose labels need both directions).
    font_size : float, optional
        Base font size in px (default 10.5 below 500 px width, else 12).
    legend : {"top", "right", "keep"}, default "top"
        Move the legend above the plot, to its right, or leave it where it was.
    scale_markers : bool, default True
        Shrink scatter markers that have one size for all points with the width (factor
        ``width / 700``, between 0.5 and 1).
    max_title_lines : int, default 3
        The title is wrapped at word boundaries into the width, onto at most this many lines; the
        rest is cut with an ellipsis and the full title kept in ``layout.meta["mlal_fit"]["title"]``
        (for a caption). Tick labels, axis titles and the legend are fitted too
        (:func:`mlal_core.viz.fit.fit_layout`).

    Returns
    -------
    plotly.graph_objects.Figure
        ``fig`` itself.

    Raises
    ------
    ConfigError
        If ``width``, ``height``, ``aspect`` or ``legend`` is invalid.
    """
    if isinstance(width, str):
        if width == "column":
            px = COLUMN_WIDTH_IN * CSS_PX_PER_INCH
        elif width in ("double", "two-column", "page"):
            px = DOUBLE_COLUMN_WIDTH_IN * CSS_PX_PER_INCH
        else:
            raise ConfigError(f"paper_layout width must be 'column', 'double' or a number of pixels; got {width!r}.")
    else:
        px = float(width)
        if not px > 0:
            raise ConfigError(f"paper_layout width must be positive; got {width!r}.")
    grow = height is None
    if aspect is None:
        aspect = 1.0 if any(t.type == "heatmap" for t in fig.data) else 0.75
    if height is None:
        if not aspect > 0:
            raise ConfigError(f"aspect must be positive; got {aspect!r}.")
        height = px * aspect
    if not height > 0:
        raise ConfigError(f"paper_layout height must be positive; got {height!r}.")
    if legend not in ("top", "right", "keep"):
        raise ConfigError(f"legend must be 'top', 'right' or 'keep'; got {legend!r}.")
    narrow = px < 500
    base = float(font_size or (10.5 if narrow else 12))
    fig.update_layout(
        width=round(px),
        height=round(height),
        font=dict(size=base),
        title=dict(font=dict(size=base + 1.5)),
        legend=dict(font=dict(size=base - 1)),
        margin=dict(l=50 if narrow else 60, r=10 if narrow else 20, b=40 if narrow else 50),
    )
    fig.update_xaxes(title=dict(font=dict(size=base)), tickfont=dict(size=base - 1))
    fig.update_yaxes(title=dict(font=dict(size=base)), tickfont=dict(size=base - 1))
    bar_font = dict(title=dict(font=dict(size=base - 0.5)), tickfont=dict(size=base - 1.5),
                    thickness=10 if narrow else 14)
    for t in fig.data:
        if t.type in ("heatmap", "histogram2d", "contour"):
            t.update(colorbar=bar_font)
        elif t.type in ("scatter", "scattergl") and t.marker is not None:
            if t.marker.showscale:
                t.marker.update(colorbar=bar_font)
            if scale_markers and isinstance(t.marker.size, numbers.Real):  # one size for every marker
                t.marker.size = float(t.marker.size) * min(1.0, max(0.5, px / 700.0))
    if legend == "right" and legend_entries(fig):
        fig.update_layout(legend=dict(orientation="v", xref="paper", x=1.02, xanchor="left", yref="paper",
                                      y=1, yanchor="top"))
    placement = "top" if legend == "top" else "keep"
    fit_layout(fig, px, height, legend=placement, max_title_lines=max_title_lines)
    if grow:
        # a title of several lines and a legend of several rows may leave the plot no less than
        # MIN_PLOT_SHARE of the height it has under a one-line title; beyond that the figure grows
        usual_top = title_block_height(1 if fig.layout.title.text else 0, base + 1.5) + 4
        usual_plot = height - usual_top - fig.layout.margin.b
        extra = MIN_PLOT_SHARE * usual_plot - (height - float(fig.layout.margin.t) - fig.layout.margin.b)
        if extra > 1:
            fit_layout(fig, px, round(height + extra), legend=placement, max_title_lines=max_title_lines)
            fig.update_layout(height=round(height + extra))
    return fig


register_template()
