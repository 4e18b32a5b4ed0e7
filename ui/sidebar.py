"""The shared sidebar: the current session in one glance, and where models run."""

from __future__ import annotations

import streamlit as st

from mlal_core import export
from mlal_core.inspection import views
from ui import classroom, state, widgets


@st.cache_resource(show_spinner=False)
def device_text() -> str:
    return views.device_description()


def progress_text(status) -> str:
    """One line for a background worker: what it does, done / total, rate and time left."""
    text = status.message
    if status.step_total:
        text += f": {status.step_done:,} / {status.step_total:,}"
    if status.rate:
        text += f" ({status.rate:,.0f}/s, about {_duration(status.eta_s)} left)"
    return text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"


def render() -> None:
    """Draw the sidebar: who is signed in (classroom mode), the current session, the device, the export size."""
    with st.sidebar:
        classroom.sidebar_panel()
        session = state.get_session()
        st.markdown("#### Current session")
        if session is None:
            st.caption("None yet: start or reopen one on **Home / set-up**.")
        else:
            cfg = session.config
            done = sum(1 for r in session.history if not r.final)
            planned = cfg.rounds
            status = "finished" if session.finished else f"round {session.next_round} next"
            oracle = views.oracle_summary(session.history, None if session.finished else state.get_oracle())
            st.markdown(
                f"**Dataset:** {session.dataset.name}  \n"
                f"**Strategy:** {cfg.strategy}  \n"
                f"**Rounds done:** {done} of {planned} ({status})  \n"
                f"**Labelled:** {len(session.labeled):,} of {session.n_pool:,} pool samples  \n"
                f"**Oracle:** {oracle}"
            )
            if session.session_id:
                st.caption(f"Session id `{session.session_id[:8]}`")
            if session.feature_source:
                st.caption(f"Features: {views.feature_source_text(session.feature_source)}")
            if state.get_worker(session) is not None:
                st.caption(":material/autorenew: running rounds...")
        for worker in state.feature_workers_running():
            st.caption(f":material/autorenew: {progress_text(worker.status())}")
        st.markdown("#### Device")
        st.caption(f"Models train on: **{device_text()}**")
        if session is not None:
            st.caption(f"Numeric precision: **{session.config.precision}** (this session's, fixed when it started)")
        else:
            st.caption(f"Numeric precision: **{views.precision_description()}**")
        st.markdown("#### Figure export")
        st.radio("Size of downloaded figures", list(export.EXPORT_SIZES), format_func=export.EXPORT_SIZES.get,
                 key=widgets.EXPORT_SIZE_KEY,
                 help="Screen: the figure as shown. Paper sizes lay it out for a journal column (smaller fonts, "
                      "legend on top) and render PNGs at 300 dpi; an HTML download stays interactive at that "
                      "size. Applies to the PNG / SVG / HTML buttons and the session zip.")
