"""Forms that keep what the user set: across reruns, hidden widgets and page switches.

Streamlit drops a widget's ``st.session_state`` entry when a run does not draw the widget, and a
page switch drops every widget of the page left. A form page (Home) keeps its values in one general
way:

* ``restore(prefix)`` at the top of the page, before any widget: every widget key starting with
  ``prefix`` that Streamlit dropped gets its last value back from a shadow dict kept in
  ``st.session_state`` (which Streamlit never clears), before the widget is drawn.
* The shadow learns the values: ``restore`` first copies the current ones (the user's latest
  changes arrive with the rerun); ``remember(prefix)`` at the end of the page copies those the
  page's run gave its widgets; ``field`` and ``put`` write through. (A page switch drops the
  previous page's widget values before the next page runs, so they must be copied while the form
  page runs.)
* Widgets whose key is managed so are drawn **without** ``value=`` / ``index=``: ``field(key,
  default, options)`` gives the key its first value (and the default again when a kept value is no
  longer one of the options: a dataset that is gone, a strategy not offered for tabular data),
  so no widget has both a default and a session-state value. Numbers out of a widget's bounds fall
  back by Streamlit's own rule.

Only input widgets are kept, told apart by the value type Streamlit registered for the key: not
buttons, downloads and file uploaders (Streamlit refuses a session-state value for them; a data
editor or a selectable chart has a string value too, so keep their keys off a form's prefix), nor
plain session-state values (never dropped), nor keys whose widgets take their value from
``widgets.kept`` (the strategy parameters, the backbone settings), which come back that way.

``follow_defaults`` / ``reset_defaults``: fields that take computed defaults (the budget, from the
dataset) until the user edits one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st

from ui import widgets

SHADOW = "form_values_kept"  # {prefix: {"values": {key: value}, "skip": (key, ...)}}
#: Streamlit value types of the input widgets (checkbox, toggle, radio, select box, number and text
#: inputs, sliders, multiselect, tabs): a script may set them. Buttons, downloads and uploaders have
#: trigger / file values, which it may not.
_SETTABLE = frozenset({"bool_value", "int_value", "double_value", "string_value", "string_array_value",
                       "double_array_value", "int_array_value"})


def _shadow(prefix: str) -> dict[str, Any]:
    return st.session_state.setdefault(SHADOW, {}).setdefault(prefix, {"values": {}, "skip": ()})


def _input_widget(key: str) -> bool:
    """Whether ``key`` is the key of an input widget, whose value a script may set. (A plain
    session-state value needs no keeping: Streamlit drops only widgets' values.)"""
    try:
        from streamlit.runtime.state import get_session_state

        state = get_session_state()._state  # SessionState (the Safe wrapper holds it)
        widget_id = state.get_widget_id_from_key(key)
        meta = None if widget_id is None else state.get_widget_metadata(widget_id)
    except Exception:  # pragma: no cover - another Streamlit: keep nothing rather than break the page
        return False
    return meta is not None and meta.value_type in _SETTABLE


def _kept_here(key: str, prefix: str, skip: Iterable[str]) -> bool:
    return isinstance(key, str) and key.startswith(prefix) and key not in skip and not widgets.is_kept(key)


def _write_through(key: str, value: Any) -> None:
    for prefix, shadow in st.session_state.get(SHADOW, {}).items():
        if _kept_here(key, prefix, shadow["skip"]):
            shadow["values"][key] = value


def remember(prefix: str) -> None:
    """Copy the current values of the input widgets whose keys start with ``prefix`` to the shadow
    (at the end of the form page; ``restore`` does it too)."""
    shadow = _shadow(prefix)
    for key in list(st.session_state.keys()):
        if _kept_here(key, prefix, shadow["skip"]) and _input_widget(key):
            try:
                shadow["values"][key] = st.session_state[key]
            except KeyError:  # pragma: no cover - dropped meanwhile
                pass


def restore(prefix: str, skip: Iterable[str] = ()) -> None:
    """At the top of a form page, before its first widget: remember the current values of every input
    widget whose key starts with ``prefix`` (except ``skip``), then give back those Streamlit dropped."""
    shadow = _shadow(prefix)
    shadow["skip"] = tuple(skip)
    remember(prefix)
    for key, value in list(shadow["values"].items()):
        if key not in st.session_state and _kept_here(key, prefix, shadow["skip"]):
            st.session_state[key] = value


def field(key: str, default: Any, options: Iterable[Any] | None = None) -> str:
    """The key of a form widget drawn without ``value=`` / ``index=``: gives it ``default`` when it
    holds no value yet, or when ``options`` are given and its value is not one of them. Call it just
    before drawing the widget: ``st.number_input("Seed", 0, None, key=form.field("home_seed", 0))``."""
    if key not in st.session_state or (options is not None and st.session_state[key] not in list(options)):
        st.session_state[key] = default
        _write_through(key, default)
    return key


def put(values: Mapping[str, Any], kept: Mapping[str, Any] | None = None) -> None:
    """Set form fields, e.g. from a button's ``on_click`` callback (before the widgets are drawn).
    ``kept``: fields whose widgets take their value from ``widgets.kept`` (set there, and in the
    session state only while the widget holds a value, which would otherwise win)."""
    for key, value in values.items():
        st.session_state[key] = value
        _write_through(key, value)
    for key, value in (kept or {}).items():
        widgets.keep(key, value)
        if key in st.session_state:
            st.session_state[key] = value


# ---------------------------------------------------------------------------------- computed defaults
def follow_defaults(defaults: Mapping[str, Any], marker: str) -> bool:
    """Fields that take computed ``defaults`` (key -> value) until the user edits one of them.

    Call before drawing the fields (without ``value=``). While the fields still hold the defaults
    written last (``st.session_state[marker]``), they get the current ``defaults``; once the user has
    changed one, or ``own(marker)`` was called, they are the user's and stay as they are until
    ``reset_defaults``. Returns True while the fields follow the defaults."""
    written = st.session_state.get(marker, {})
    if written is not None:
        current = {k: st.session_state.get(k) for k in defaults}
        if all(v is None or v == written.get(k) for k, v in current.items()):
            put({k: v for k, v in defaults.items() if current[k] != v})
            st.session_state[marker] = dict(defaults)
            return True
        st.session_state[marker] = None  # edited: the user's from now on
    for key, value in defaults.items():
        field(key, value)  # a field with no value at all (never drawn) still gets the default
    return False


def reset_defaults(defaults: Mapping[str, Any], marker: str) -> None:
    """Give the fields their ``defaults`` and let them follow the defaults again (a button's
    ``on_click``)."""
    put(defaults)
    st.session_state[marker] = dict(defaults)


def own(marker: str) -> None:
    """Make the fields of ``marker`` the user's (e.g. after copying them from a stored session)."""
    st.session_state[marker] = None
