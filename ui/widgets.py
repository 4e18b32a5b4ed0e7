"""Widgets every page uses: explanations, figures with export buttons, tables with CSV export."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

from mlal_core import export


def explain(title: str, body: str, latex: str | list[str] | None = None, expanded: bool = False) -> None:
    """A "what am I looking at" section: plain words, then the formula(s)."""
    with st.expander(f"What am I looking at? {title}", expanded=expanded):
        st.markdown(body)
        for eq in [latex] if isinstance(latex, str) else latex or []:
            st.latex(eq)


EXPORT_SIZE_KEY = "export_size"


def export_size() -> str:
    """The figure export size chosen in the sidebar (``export.EXPORT_SIZES``)."""
    return st.session_state.get(EXPORT_SIZE_KEY, "screen")


@st.cache_data(show_spinner=False, max_entries=64)
def _figure_bytes(fig_json: str, fmt: str, size: str = "screen") -> bytes:
    """Render a figure (given as plotly JSON, so it can be a cache key) to ``fmt`` bytes at ``size``."""
    fig, kwargs = export.sized_for_export(pio.from_json(fig_json), size)
    return export.figure_to_bytes(fig, fmt, **kwargs)  # the dpi only matters to bitmaps


def figure(fig: go.Figure, key: str, formats: tuple[str, ...] = ("png", "svg", "html"), **chart_kwargs):
    """Show a plotly figure with download buttons; PNG/SVG are rendered only when asked for. Every
    download has the export size chosen in the sidebar (screen, or laid out for one / two paper
    columns; PNGs at 300 dpi).

    ``chart_kwargs`` go to ``st.plotly_chart`` (e.g. ``on_select="rerun", selection_mode="points"``);
    returns what it returns (the selection event when ``on_select`` is set). The chart's widget key
    is ``f"chart_{key}"``."""
    event = st.plotly_chart(fig, width="stretch", key=f"chart_{key}", **chart_kwargs)
    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else key
    static_ok, why = export.static_export_available()
    cols = st.columns(len(formats) + 2)
    for col, fmt in zip(cols, formats):
        if fmt in ("png", "svg") and not static_ok:
            col.button(fmt.upper(), key=f"dl_{key}_{fmt}", disabled=True, help=why)
            continue
        col.download_button(
            fmt.upper(),
            data=lambda fmt=fmt, size=export_size(): _figure_bytes(fig.to_json(), fmt, size),
            file_name=export.figure_filename(title, fmt),
            key=f"dl_{key}_{fmt}",
            on_click="ignore",
        )
    return event


def table(df: pd.DataFrame, key: str, file_name: str, **kwargs):
    """Show a table with a CSV download button. ``kwargs`` go to ``st.dataframe`` (e.g.
    ``on_select="rerun", selection_mode="single-row"``); returns what it returns. The table's widget
    key is ``f"table_{key}"``."""
    event = st.dataframe(df, width="stretch", key=f"table_{key}", **kwargs)
    st.download_button(
        "CSV", data=export.table_to_csv_bytes(df), file_name=file_name, key=f"dl_{key}_csv", on_click="ignore"
    )
    return event


_KEPT = "widget_values_kept"


def kept(key: str, default):
    """The value the widget ``key`` had when it was last drawn, else ``default``. Streamlit drops the
    state of a widget that a run does not draw (e.g. the parameters of a strategy the user switched
    away from); pass this as the widget's initial value, and ``keep`` its result, so it comes back."""
    return st.session_state.get(_KEPT, {}).get(key, default)


def keep(key: str, value):
    """Remember a widget's value for ``kept``; returns ``value``."""
    st.session_state.setdefault(_KEPT, {})[key] = value
    return value


def is_kept(key: str) -> bool:
    """Whether the widget ``key`` takes its value from ``kept`` (it has been ``keep``-ed)."""
    return key in st.session_state.get(_KEPT, {})


def param_input(param, key: str, container=st):
    """A widget for one strategy hyperparameter (its ``mlal_core.validation.Param`` declaration);
    returns its value (kept across strategy switches, see ``kept``).

    Booleans -> checkbox; choices -> select box; numbers -> number input within ``[low, high]``;
    a ``None`` default -> an empty input that means "the strategy's automatic choice"."""
    return keep(key, _param_widget(param, key, container, kept(key, param.default)))


def _param_widget(param, key: str, container, value):
    label = param.name.replace("_", " ")
    help_ = param.help or None
    default, choices = param.default, param.choices
    if isinstance(default, bool) or (choices is not None and set(choices) <= {True, False}):
        return container.checkbox(label, value=bool(value), key=key, help=help_)
    if choices is not None:
        options = list(choices)
        return container.selectbox(label, options, index=options.index(value) if value in options else 0,
                                   key=key, help=help_)
    lo, hi = param.low, param.high
    integral = isinstance(default, int) or (default is None and all(isinstance(v, int) for v in (lo, hi)
                                                                      if v is not None) and (lo, hi) != (None, None))
    if isinstance(default, (int, float)) or (default is None and (lo is not None or hi is not None)):
        if integral:
            return container.number_input(label, min_value=None if lo is None else int(lo),
                                          max_value=None if hi is None else int(hi),
                                          value=None if value is None else int(value), step=1, key=key,
                                          help=help_, placeholder="automatic")
        return container.number_input(label, min_value=None if lo is None else float(lo),
                                      max_value=None if hi is None else float(hi),
                                      value=None if value is None else float(value), key=key, help=help_,
                                      format="%g", placeholder="automatic")
    text = container.text_input(label, value="" if value is None else str(value), key=key, help=help_,
                                placeholder="automatic")
    return None if default is None and not text.strip() else text
