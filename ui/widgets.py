"""Widgets every page uses: explanations, figures with export buttons, tables with CSV export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

from mlal_core import access, export, paths
from mlal_core.inspection import views
from mlal_core.validation import LocalFolder
from ui import state


def explain(title: str, body: str, latex: str | list[str] | None = None, expanded: bool = False, *,
            terms: tuple[str, ...] | list[str] = ()) -> None:
    """A "What am I looking at?" section: plain words, the formula(s), then links to the glossary.

    Parameters
    ----------
    title : str
        What the section explains (after "What am I looking at? ").
    body : str
        Markdown.
    latex : str or list of str, optional
        Formulas, one ``st.latex`` each.
    expanded : bool
        Open at first.
    terms : sequence of str
        Glossary keys (or names / aliases) of the terms the section uses: a last line "Glossary: "
        links each to its entry on the Glossary page (``mlal_core.glossary.glossary_link``).

    Raises
    ------
    mlal_core.errors.ConfigError
        If a term is not in the glossary.
    """
    from mlal_core.glossary import glossary_link  # here, not at the top: this edit touches explain only

    links = [glossary_link(t) for t in terms]  # an unknown term fails before anything is drawn
    with st.expander(f"What am I looking at? {title}", expanded=expanded):
        st.markdown(body)
        for eq in [latex] if isinstance(latex, str) else latex or []:
            st.latex(eq)
        if links:
            st.markdown("Glossary: " + ", ".join(dict.fromkeys(links)))


EXPORT_SIZE_KEY = "export_size"


def export_size() -> str:
    """The figure export size chosen in the sidebar (``export.EXPORT_SIZES``)."""
    return st.session_state.get(EXPORT_SIZE_KEY, "screen")


@st.cache_data(show_spinner=False, max_entries=64)
def _figure_bytes(fig_json: str, fmt: str, size: str = "screen", plotlyjs: bool | str = True) -> bytes:
    """Render a figure (given as plotly JSON, so it can be a cache key) to ``fmt`` bytes at ``size``;
    ``plotlyjs`` is the HTML's ``include_plotlyjs`` (True: inline, "cdn": loaded online)."""
    fig, kwargs = export.sized_for_export(pio.from_json(fig_json), size)
    if fmt == "html":
        kwargs["include_plotlyjs"] = plotlyjs
    return export.figure_to_bytes(fig, fmt, **kwargs)  # the dpi only matters to bitmaps (and SVG units)


def html_download_labels() -> dict[bool | str, str]:
    """Labels of the two HTML downloads, with honest sizes: ``{True: offline, "cdn": small}``."""
    mb = len(export.plotlyjs_bytes()) / 1e6
    return {True: f"HTML (offline, {mb:.1f} MB)", "cdn": "HTML (small, loads plotly.js online)"}


def _download_buttons(fig: go.Figure, key: str, formats: tuple[str, ...]) -> None:
    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else key
    static_ok, why = export.static_export_available()
    buttons: list[tuple[str, str, bool | str, str, str | None]] = []  # label, format, plotlyjs, file, help
    size = export_size()
    help_static = {"png": f"Bitmap, {export.EXPORT_SIZES.get(size, size)}; the file says its dpi "
                          f"({'300' if size != 'screen' else '96'}).",
                   "svg": f"Vector, {export.EXPORT_SIZES.get(size, size).replace(', 300 dpi', '')}; "
                          f"{'its size is given in inches' if size != 'screen' else '1 px = 1/96 in'}."}
    for fmt in formats:
        if fmt != "html":
            buttons.append((fmt.upper(), fmt, True, export.figure_filename(title, fmt), help_static.get(fmt)))
            continue
        labels = html_download_labels()
        buttons.append((labels[True], fmt, True, export.figure_filename(title, fmt),
                        "A standalone page with plotly.js inside: opens without a network."))
        buttons.append((labels["cdn"], fmt, "cdn", export.figure_filename(title, fmt)[:-5] + "-online.html",
                        f"A few kB; the browser loads plotly.js {_plotlyjs_version()} from cdn.plot.ly."))
    # one row of buttons as wide as their labels, wrapping onto a second row in a narrow column
    row = st.container(horizontal=True, wrap=True, gap="small")
    for label, fmt, plotlyjs, file_name, help_ in buttons:
        suffix = "" if plotlyjs is True else f"_{plotlyjs}"
        if fmt in ("png", "svg") and not static_ok:
            row.button(label, key=f"dl_{key}_{fmt}", disabled=True, help=why, width="content")
            continue
        row.download_button(
            label,
            data=_rendered_on_click(fig, fmt, size, plotlyjs),
            file_name=file_name,
            key=f"dl_{key}_{fmt}{suffix}",
            on_click="ignore",
            help=help_,
            width="content",
        )


def _rendered_on_click(fig: go.Figure, fmt: str, size: str, plotlyjs: bool | str) -> Callable[[], bytes]:
    """The download's bytes as a callable: Streamlit calls it only when the button is clicked."""
    return lambda: _figure_bytes(fig.to_json(), fmt, size, plotlyjs)


def _plotlyjs_version() -> str:
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


def figure(fig: go.Figure, key: str, formats: tuple[str, ...] = ("png", "svg", "html"), **chart_kwargs):
    """Show a plotly figure with download buttons; PNG/SVG are rendered only when asked for. Every
    download has the export size chosen in the sidebar (screen, or laid out for one / two paper
    columns; PNGs at 300 dpi, SVGs sized in inches). HTML comes twice: offline (plotly.js inside,
    about 4.8 MB) and small (loads plotly.js from its CDN).

    ``chart_kwargs`` go to ``st.plotly_chart`` (e.g. ``on_select="rerun", selection_mode="points"``);
    returns what it returns (the selection event when ``on_select`` is set). The chart's widget key
    is ``f"chart_{key}"``."""
    event = st.plotly_chart(fig, width="stretch", key=f"chart_{key}", **chart_kwargs)
    _download_buttons(fig, key, formats)
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
    a ``None`` default -> an empty input that means "the strategy's automatic choice"; a local folder
    (ALPS's masked LM, Subword's tokenizer) -> a select box of the folders in ``MLAL_HOME/models``
    (``model_folder_input``): the app takes no typed server path."""
    return keep(key, _param_widget(param, key, container, kept(key, param.default)))


def _folder_name(value: str | None) -> str:
    return "bundled (default)" if value is None else Path(value).name


def model_folder_input(label: str, key: str, container, value: str | None, help_: str | None = None) -> str | None:
    """A select box of the model folders in ``MLAL_HOME/models`` (``mlal_core.access.model_folders``),
    or None for the bundled model; returns the chosen folder's path. When there is none it says how to
    add one; a kept value that is not offered (e.g. from a session run elsewhere) falls back to the
    bundled model, and the widget says so."""
    offered = [str(p) for p in access.model_folders()]
    options: list[str | None] = [None, *offered]
    choice = container.selectbox(label, options, index=options.index(value) if value in options else 0, key=key,
                                 format_func=_folder_name, help=help_)
    place = "`MLAL_HOME/models/`" if state.workspace() is not None else f"`{paths.models_dir()}`"
    if not offered:
        container.caption(f"No model folders yet. Put one in {place} on the server: a folder saved with "
                          "`save_pretrained` (weights, config, tokenizer), then reload the page.")
    if value is not None and value not in options:
        container.caption(f"The folder `{_folder_name(value)}` is not in {place}; the bundled model is used.")
    return choice


def _param_widget(param, key: str, container, value):
    label = views.param_label(param)
    help_ = param.help or None
    if isinstance(param.constraint, LocalFolder):
        return model_folder_input(label, key, container, value, help_)
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
