"""The shared sidebar: the current session in one glance, and where models run."""

from __future__ import annotations

import streamlit as st

from mlal_core import views
from ui import state


@st.cache_resource(show_spinner=False)
def device_text() -> str:
    return views.device_description()


def render() -> None:
    with st.sidebar:
        session = state.get_session()
        st.markdown("#### Current session")
        if session is None:
            st.caption("None yet: start or reopen one on **Home / set-up**.")
        else:
            cfg = session.config
            done = sum(1 for r in session.history if not r.final)
            planned = cfg.rounds
            status = "finished" if session.finished else f"round {session.next_round} next"
            st.markdown(
                f"**Dataset:** {session.dataset.name}  \n"
                f"**Strategy:** {cfg.strategy}  \n"
                f"**Rounds done:** {done} of {planned} ({status})  \n"
                f"**Labelled:** {len(session.labeled):,} of {session.n_pool:,} pool samples  \n"
                f"**Oracle:** {'a person' if state.get_oracle() == 'person' else 'simulated (ground truth)'}"
            )
            if session.session_id:
                st.caption(f"Session id `{session.session_id[:8]}`")
            if state.get_worker(session) is not None:
                st.caption(":material/autorenew: running rounds...")
        st.markdown("#### Device")
        st.caption(f"Models train on: **{device_text()}**")
