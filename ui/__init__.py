"""Streamlit-side helpers shared by the pages: session state and common widgets.

Everything that is not state or a widget lives in ``mlal_core``.
"""
