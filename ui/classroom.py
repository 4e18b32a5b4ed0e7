"""Classroom mode in the app: the sign-in page, who is signed in, the teacher's workspace switch.

The checks (passwords, names, workspaces, throttling) are ``mlal_core.access``; this module only
wires them to Streamlit. Classroom mode is on when the person running the app set a class password
(``MLAL_CLASSROOM_PASSWORD`` or ``[classroom] password`` in ``.streamlit/secrets.toml``). The
signed-in :class:`~mlal_core.access.Access` lives in this browser session's state
(``state.ACCESS_KEY``), never in the process: every participant is served by the same process.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from mlal_core import access
from mlal_core.errors import ConfigError, MLALError
from ui import state

#: keys the cached settings by a keyed digest of the passwords, so the cache key is no password
_PROCESS_KEY = secrets.token_bytes(32)
SIGN_OUT_KEY = "classroom_sign_out"
WORKSPACE_KEY = "classroom_workspace"
RESET_KEY = "classroom_reset_passphrase"
RESET_ARM_KEY = "classroom_reset_arm"
_RESET_NOTICE_KEY = "classroom_reset_notice"


def _secrets() -> Mapping[str, Any]:
    """``st.secrets`` as a mapping; empty when there is no secrets file."""
    try:
        table = st.secrets.get(access.SECRETS_SECTION)
    except FileNotFoundError:  # no .streamlit/secrets.toml anywhere
        return {}
    return {access.SECRETS_SECTION: table} if table is not None else {}


@st.cache_resource(show_spinner=False)
def _classroom_for(fingerprint: str, _password: str | None, _teacher: str | None) -> access.Classroom | None:
    return access.Classroom.from_passwords(_password, _teacher)


@st.cache_resource(show_spinner=False)
def _throttle() -> access.LoginThrottle:
    return access.LoginThrottle()


def classroom() -> access.Classroom | None:
    """The classroom settings of this server process (digested once), or None when classroom mode is off.

    Raises
    ------
    ConfigError
        When a password set is too short or the teacher's equals the class password.
    """
    password, teacher = access.classroom_passwords(os.environ, _secrets())
    if password is None and teacher is None:
        return None
    fingerprint = hmac.new(_PROCESS_KEY, f"{password}\0{teacher}".encode(), "sha256").hexdigest()
    return _classroom_for(fingerprint, password, teacher)


def _client() -> str:
    """Who is signing in, for the throttle: the IP address when Streamlit knows it, else the browser session."""
    ip = st.context.ip_address
    if isinstance(ip, str) and ip:  # None behind some proxies (and not text under AppTest)
        return f"ip:{ip}"
    ctx = get_script_run_ctx()
    return f"session:{ctx.session_id if ctx is not None else 'unknown'}"


def _sign_in_page() -> None:
    room = classroom()
    assert room is not None
    st.title("MLAL Workbench: sign in")
    st.markdown("This workbench is shared by a class. Sign in with the class password, your name and your "
                "passphrase: the sessions you start are kept in a workspace of your own, which the other "
                "participants do not see. **The first time** you sign in with a name, choose a passphrase "
                f"(at least {access.MIN_PASSPHRASE_LENGTH} characters) and type it in both passphrase fields: "
                "it claims the name, and only that passphrase opens its workspace afterwards.")
    with st.form("classroom_sign_in", clear_on_submit=True, width=500):
        name = st.text_input("Your name", key="classroom_name", max_chars=access.MAX_NAME_LENGTH,
                             help="Letters, digits, spaces and - _ . ' only. Use the same name next time to find "
                                  "your sessions again.")
        password = st.text_input("Class password", type="password", key="classroom_password")
        passphrase = st.text_input("Your passphrase", type="password", key="classroom_passphrase",
                                   help="Your own, not the class password. Forgot it? The teacher can reset it.")
        repeat = st.text_input("Repeat passphrase (first sign-in with a name only)", type="password",
                               key="classroom_passphrase_repeat",
                               help="Needed once, when this sign-in claims a new name; leave it empty afterwards.")
        submitted = st.form_submit_button("Sign in", type="primary", key="classroom_submit")
    if not submitted:
        return
    try:
        signed = access.sign_in(room, _throttle(), _client(), password, name, passphrase=passphrase, repeat=repeat)
    except MLALError as e:
        st.error(str(e), icon=":material/lock:")
        return
    st.session_state[state.ACCESS_KEY] = signed
    state.set_session(None)
    st.rerun()


def require_sign_in() -> None:
    """Let the page run when classroom mode is off (and the app listens on this machine only) or this
    browser signed in; otherwise show only the sign-in page (every other page is left out of the
    navigation, so no URL reaches it) and stop. Served on the network without a class password, the
    app shows only why it refuses."""
    try:
        room = classroom()
    except ConfigError as e:  # the person running the app set a bad password: refuse to serve
        _refuse(f"Classroom mode is set up wrongly: {e}")
    if room is None:
        st.session_state.pop(state.ACCESS_KEY, None)  # classroom mode turned off: no stale workspace
        address = st.get_option("server.address")
        if address and not access.is_loopback(address):  # served on the network on purpose, with no password
            _refuse(
                f"This workbench listens on the network (`server.address = {address}`) but classroom mode is off, "
                f"so anyone who reaches it could use it. Set `{access.PASSWORD_ENV}` (see \"Serving a classroom\" "
                "in the README) and restart, or serve it on `localhost`.")
        return
    if state.get_access() is not None:
        return
    _only_page(_sign_in_page)


def _refuse(message: str) -> NoReturn:
    """Serve only ``message`` (the person running the app must fix the set-up) and stop."""

    def refused() -> None:
        st.error(message, icon=":material/lock:")

    _only_page(refused)


def _only_page(draw: Callable[[], None]) -> NoReturn:
    """Run ``draw`` as the app's one page and stop: every other page is left out of the navigation,
    so no address reaches it (without ``st.navigation`` Streamlit would serve ``pages/`` itself)."""
    st.navigation([st.Page(draw, title="Sign in", icon=":material/lock:", url_path="sign-in", default=True)],
                  position="hidden").run()
    st.stop()


def _sign_out() -> None:
    st.session_state.pop(state.ACCESS_KEY, None)
    state.set_session(None)


def _switch_workspace() -> None:
    signed = state.get_access()
    chosen = st.session_state.get(WORKSPACE_KEY)
    if signed is None or chosen is None or chosen == signed.workspace:
        return
    st.session_state[state.ACCESS_KEY] = signed.switched_to(chosen)
    state.set_session(None)  # the open session belongs to the other workspace's store


def _reset_passphrase() -> None:
    signed = state.get_access()
    if signed is None:
        return
    workspace = signed.workspace
    removed = access.reset_claim(signed, workspace)
    st.session_state[RESET_ARM_KEY] = False
    st.session_state[_RESET_NOTICE_KEY] = (
        f"Passphrase of `{workspace}` reset: the next sign-in with that name sets a new one." if removed
        else f"`{workspace}` had no passphrase to reset.")


def _teacher_reset_box(signed: access.Access) -> None:
    """The teacher's reset of the open workspace's passphrase (armed by a toggle first)."""
    notice = st.session_state.pop(_RESET_NOTICE_KEY, None)
    if notice:
        st.success(notice, icon=":material/key:")
    if signed.workspace == signed.own_workspace:
        return
    if not access.is_claimed(signed.workspace):
        st.caption(f"`{signed.workspace}` has no passphrase yet: the next sign-in with its name claims it.")
        return
    armed = st.toggle("Reset this participant's passphrase", key=RESET_ARM_KEY,
                      help="For a participant who forgot it. Their sessions stay; the next sign-in with their "
                           "name sets a new passphrase, so ask them to sign in straight away.")
    st.button("Reset passphrase", key=RESET_KEY, on_click=_reset_passphrase, disabled=not armed,
              icon=":material/key_off:")


def sidebar_panel() -> None:
    """Who is signed in, Sign out, and for the teacher a select box of every workspace and the reset of
    the open workspace's passphrase."""
    signed = state.get_access()
    if signed is None:
        return
    role = " (teacher)" if signed.is_teacher else ""
    st.markdown(f"**Signed in:** {signed.name}{role}")
    if signed.is_teacher:
        options = sorted({*access.list_workspaces(), signed.own_workspace, signed.workspace})
        st.session_state[WORKSPACE_KEY] = signed.workspace
        st.selectbox("Workspace", options, key=WORKSPACE_KEY, on_change=_switch_workspace,
                     format_func=lambda w: f"{w} (yours)" if w == signed.own_workspace else w,
                     help="As the teacher you may open any participant's workspace: their sessions can be "
                          "reopened, inspected, continued, exported and deleted there.")
        _teacher_reset_box(signed)
    else:
        st.caption(f"Workspace `{signed.workspace}`: only you see its sessions.")
    st.button("Sign out", key=SIGN_OUT_KEY, on_click=_sign_out, icon=":material/logout:")
