"""Streamlit-side helpers shared by the pages: session state and common widgets.

Everything that is not state or a widget lives in ``mlal_core``.

Importing the package also closes a gap of Streamlit's: until some script run of the server process
has called ``st.navigation``, Streamlit serves the ``pages/`` folder itself, so the very first request
of a fresh server for ``/home`` would run ``pages/home.py`` alone, without ``app.py`` (its sidebar,
and in classroom mode its sign-in). Every page imports this package first thing; on that first import
the pages folder is switched off for the process and a request that ran a page file on its own is run
again, through ``app.py``.
"""

from __future__ import annotations

from pathlib import Path


def _serve_pages_through_app_only() -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if not PagesManager.uses_pages_directory:
        return
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:  # imported outside a script run (tests, tools)
        return
    PagesManager.uses_pages_directory = False  # what `st.navigation` does; from now on app.py runs first
    manager = ctx.pages_manager
    page = manager.get_pages().get(ctx.page_script_hash)
    script = None if page is None else page.get("script_path")
    if script and Path(script).resolve() != Path(manager.main_script_path).resolve():
        import streamlit as st

        st.rerun()  # this run is a page file on its own: run the request again, through app.py


_serve_pages_through_app_only()
