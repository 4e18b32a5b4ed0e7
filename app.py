"""MLAL Workbench: the Streamlit entry point (``streamlit run app.py``).

Navigation over the pages in ``pages/`` and a shared sidebar (the current session and the device).
The pages are thin: state lives in ``st.session_state`` (``ui/state.py``), everything else in
``mlal_core``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # so that `mlal_core` and `ui` import however the app is started
    sys.path.insert(0, str(ROOT))

from ui import classroom, sidebar, state  # noqa: E402  (after the sys.path line above)

st.set_page_config(page_title="MLAL Workbench", page_icon=":material/hub:", layout="wide")

# (file, title, icon, default); every file is in pages/
SECTIONS: dict[str, list[tuple[str, str, str, bool]]] = {
    "Set up": [
        ("pages/home.py", "Home / set-up", ":material/home:", True),
        ("pages/dataset_explorer.py", "Dataset explorer", ":material/dataset:", False),
    ],
    "Run and inspect": [
        ("pages/active_learning.py", "Active learning", ":material/play_circle:", False),
        ("pages/selection_inspector.py", "Selection inspector", ":material/manage_search:", False),
        ("pages/round_walkthrough.py", "Round walk-through", ":material/stairs:", False),
        ("pages/correlations.py", "Label correlations", ":material/grid_on:", False),
        ("pages/embeddings.py", "Embeddings", ":material/scatter_plot:", False),
    ],
    "Compare": [
        ("pages/learning_curves.py", "Learning curves", ":material/show_chart:", False),
        ("pages/batch_selection.py", "Batch selection", ":material/shuffle:", False),
    ],
    "Reference": [
        ("pages/glossary.py", "Glossary", ":material/menu_book:", False),
    ],
}

pages = {
    section: [st.Page(str(ROOT / f), title=title, icon=icon, default=default)
              for f, title, icon, default in entries if (ROOT / f).is_file()]
    for section, entries in SECTIONS.items()
}
classroom.require_sign_in()  # classroom mode: only the sign-in page until this browser signed in
nav = st.navigation({k: v for k, v in pages.items() if v})
session = state.get_session()
if session is not None and state.get_worker(session) is None and state.session_lock(session).locked():
    # A click while a script run labels a round starts a new script run while Streamlit lets the old
    # one finish in the background: wait for it (its round is stored), so every page shows it and no
    # two threads step the session at once. (Rounds run by the background worker hold the lock too;
    # pages stay usable then and show the rounds stored so far.)
    with st.spinner("A round that started earlier is finishing; it will be stored..."):
        state.wait_for_round(session)
state.sync_with_store()  # another browser advanced the current session: reload it (and say so below)
sidebar.render()
state.show_sync_notice()
nav.run()
