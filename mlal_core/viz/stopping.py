"""Stop markers on learning curves: where each stopping rule and the oracle would have stopped."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from mlal_core.viz._common import require_columns
from mlal_core.viz.fit import fit_layout

__all__ = ["STOP_SYMBOLS", "add_stop_markers"]

#: marker symbol per rule (stopping-criterion key, or ``oracle_*``); others cycle through the rest
STOP_SYMBOLS: dict[str, str] = {
    "kappa": "diamond", "delta_f": "triangle-up", "classification_change": "square",
    "overall_uncertainty": "cross", "max_uncertainty": "x", "selected_accuracy": "triangle-down",
    "budget": "pentagon", "oracle_final95": "star", "oracle_final99": "star-open", "oracle_full95": "star-diamond",
    "oracle_full99": "star-diamond-open",
}
_SPARE_SYMBOLS = ("hexagon", "hourglass", "bowtie", "circle-cross", "square-x")
_NEUTRAL = "#333333"


def _curve_colours(fig: go.Figure) -> dict[str, str]:
    """Legend name -> line colour of the figure's line traces (the curves)."""
    out: dict[str, str] = {}
    for trace in fig.data:
        colour = getattr(getattr(trace, "line", None), "color", None)
        if trace.name and colour and trace.mode and "lines" in trace.mode:
            out.setdefault(str(trace.name), colour)
    return out


def add_stop_markers(fig: go.Figure, markers: pd.DataFrame, *, display_names: Mapping[str, str] | None = None
                     ) -> go.Figure:
    """Add one marker trace per rule to a learning-curve figure (:func:`mlal_core.viz.learning_curves`).

    Each marker sits on its curve at the labelled count where the rule stopped, filled with the curve's
    colour (matched by the curve's legend name) and outlined in dark grey; the rule is told by the
    symbol (:data:`STOP_SYMBOLS`) and its legend entry.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        The learning-curve figure (changed in place and returned).
    markers : pandas.DataFrame
        One row per (curve, rule): ``curve`` (the curve's group as in the figure), ``rule`` (key),
        ``rule_name`` (legend text), ``x`` (labelled count), ``y`` (score there) and ``text`` (hover
        line). Rows with NaN ``x`` or ``y`` are skipped.
    display_names : mapping of str to str, optional
        The curves' legend names when they differ from ``curve`` (as given to ``learning_curves``).

    Returns
    -------
    plotly.graph_objects.Figure
        ``fig`` with the marker traces.

    Raises
    ------
    ConfigError
        If a column is missing.
    """
    require_columns(markers, ["curve", "rule", "rule_name", "x", "y", "text"], "add_stop_markers")
    colours = _curve_colours(fig)
    shown = markers.dropna(subset=["x", "y"])
    spare = iter(_SPARE_SYMBOLS * 10)
    for rule, d in shown.groupby("rule", sort=False):
        symbol = STOP_SYMBOLS.get(str(rule)) or next(spare)
        fill = [colours.get(str((display_names or {}).get(str(c), c)), _NEUTRAL) for c in d["curve"]]
        fig.add_trace(go.Scatter(
            x=d["x"].to_numpy(float), y=d["y"].to_numpy(float), mode="markers", name=str(d["rule_name"].iloc[0]),
            legendgroup=f"stop-{rule}", text=d["text"].astype(str).to_list(),
            marker=dict(symbol=symbol, size=12, color=fill, line=dict(color=_NEUTRAL, width=1.5)),
            hovertemplate="%{text}<extra></extra>",
        ))
    if len(shown):
        fig.update_layout(showlegend=True)
    return fit_layout(fig)

