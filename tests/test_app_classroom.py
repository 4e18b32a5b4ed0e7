"""AppTest tests of shared use (issue 13 item 5): the classroom sign-in gate, private workspaces, the
model folders offered instead of typed paths, and a session advanced in another browser."""

from __future__ import annotations

import threading

import pytest
from conftest import FAST_MODEL
from streamlit.testing.v1 import AppTest
from test_app_pages import APP, TIMEOUT, _app, _click_and_wait, _ok, _start, click_and_prepare

from mlal_core import access, paths
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore
from mlal_core.session.worker import SessionWorker

CLASS_PW, TEACHER_PW = "class password 1", "teacher password 1"


@pytest.fixture(autouse=True)
def fresh_throttle():
    """One throttle per server process: AppTests share the process (and a browser-session id), so
    each test starts with no failed attempts."""
    from ui import classroom

    classroom._throttle.clear()


@pytest.fixture
def classroom_on(monkeypatch):
    monkeypatch.setenv(access.PASSWORD_ENV, CLASS_PW)
    monkeypatch.setenv(access.TEACHER_PASSWORD_ENV, TEACHER_PW)


def _phrase(name: str) -> str:
    """The passphrase these tests' participant ``name`` chooses."""
    return f"{name}'s own phrase"


def _sign_in(at: AppTest, name: str, password: str = CLASS_PW, passphrase: str | None = None,
             repeat: str | None = None) -> AppTest:
    """Fill the sign-in form and submit it; the passphrase defaults to :func:`_phrase`, typed twice
    (the repeat claims a new name and is ignored for a claimed one)."""
    passphrase = _phrase(name) if passphrase is None else passphrase
    at.text_input(key="classroom_name").input(name)
    at.text_input(key="classroom_password").input(password)
    at.text_input(key="classroom_passphrase").input(passphrase)
    at.text_input(key="classroom_passphrase_repeat").input(passphrase if repeat is None else repeat)
    at.button(key="classroom_submit").click().run()
    return at


def _signed_in(name: str, password: str = CLASS_PW, passphrase: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _sign_in(at, name, password, passphrase)
    _ok(at)
    assert at.session_state["classroom_access"].workspace == access.workspace_key(name)
    return at


def _on_sign_in_page(at: AppTest) -> bool:
    return any("sign in" in t.value for t in at.title) and not [r for r in at.radio if r.key == "home_source"]


def _stored_session(workspace: str | None, name: str) -> str:
    """A session (its initial set only) stored in ``workspace``'s store; its id."""
    store = SessionStore(paths.default_store_path(workspace))
    cfg = SessionConfig(dataset="yeast", model_params=FAST_MODEL, initial_size=20, query_size=5, rounds=1, seed=0,
                        name=name)
    session_id = ActiveLearningSession(cfg, store=store).session_id
    assert session_id is not None
    return session_id


def _reopen_choices(at: AppTest) -> list[str]:
    found = [s for s in at.selectbox if s.key == "home_reopen_id"]
    return list(found[0].options) if found else []


# ---------------------------------------------------------------------------------------------- the gate
def test_no_sign_in_when_classroom_mode_is_off():
    at = _app()
    assert not _on_sign_in_page(at)
    assert at.radio(key="home_source").value == "A bundled dataset"
    assert not [b for b in at.button if b.key == "classroom_submit"]


def test_every_page_asks_for_the_password_first(classroom_on, mlal_home):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _ok(at)
    assert _on_sign_in_page(at)
    assert not at.sidebar.markdown  # no session, device or workspace shown to a stranger
    for page in ("pages/home.py", "pages/learning_curves.py"):  # no page but the sign-in is registered
        with pytest.raises(ValueError, match=r"Known pages: \['Sign in'\]"):
            at.switch_page(page)
    _sign_in(at, "Eve", "not the password")
    assert any("Wrong password" in e.value for e in at.error)
    assert _on_sign_in_page(at) and "classroom_access" not in at.session_state
    _sign_in(at, "../../etc", CLASS_PW)
    assert any("may hold letters, digits" in e.value for e in at.error)
    assert _on_sign_in_page(at) and not (mlal_home / "etc").exists()
    _sign_in(at, "Ana Li", CLASS_PW)
    _ok(at)
    assert not _on_sign_in_page(at)
    assert at.session_state["classroom_access"].workspace == "ana-li"
    assert (mlal_home / "workspaces" / "ana-li").is_dir()
    # the typed password is not kept in the browser session's state (the form is gone, and its fields with it)
    assert "classroom_password" not in at.session_state and "classroom_name" not in at.session_state
    assert "classroom_passphrase" not in at.session_state and "classroom_passphrase_repeat" not in at.session_state
    assert access.is_claimed("ana-li")  # the first sign-in claimed the name
    fresh = AppTest.from_file(APP, default_timeout=TIMEOUT)  # sidebar after a rerun: check it in a new run
    fresh.session_state["classroom_access"] = at.session_state["classroom_access"]
    fresh.run()
    assert any("Signed in:** Ana Li" in m.value for m in fresh.sidebar.markdown)


@pytest.fixture
def served_on_the_network():
    import streamlit.config as config

    old = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", old)


def test_served_on_the_network_without_a_password_it_refuses(served_on_the_network, monkeypatch):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error if "listens on the network (`server.address = 0.0.0.0`)" in e.value
            and access.PASSWORD_ENV in e.value]
    assert not [r for r in at.radio if r.key == "home_source"] and not at.text_input
    with pytest.raises(ValueError, match=r"Known pages: \['Sign in'\]"):
        at.switch_page("pages/home.py")
    monkeypatch.setenv(access.PASSWORD_ENV, CLASS_PW)  # with a class password: the sign-in page
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _ok(at)
    assert _on_sign_in_page(at)


def test_a_too_short_class_password_stops_the_app(monkeypatch):
    monkeypatch.setenv(access.PASSWORD_ENV, "short")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Classroom mode is set up wrongly: The class password has 5 characters; "
                                           "classroom mode needs at least 8. Set a longer one and restart the app."]
    assert not at.text_input


def test_the_password_may_come_from_the_secrets_file(mlal_home):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["classroom"] = {"password": CLASS_PW}
    at.run()
    _ok(at)
    assert _on_sign_in_page(at)
    _sign_in(at, "Ana", CLASS_PW)
    _ok(at)
    assert at.session_state["classroom_access"].workspace == "ana"


def test_repeated_wrong_passwords_are_throttled(classroom_on):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    free = access.LoginThrottle().free_attempts
    for _ in range(free):
        _sign_in(at, "Eve", "guess guess")
    _sign_in(at, "Eve", CLASS_PW)  # the right password, but too soon after the failures
    assert any("Too many wrong passwords: wait" in e.value for e in at.error)
    assert _on_sign_in_page(at)


# ---------------------------------------------------------------------------------------------- workspaces
def test_participants_see_and_delete_only_their_sessions(classroom_on, mlal_home):
    ana_sid = _stored_session("ana", "ana-run")
    ben_sid = _stored_session("ben", "ben-run")
    solo_sid = _stored_session(None, "solo-run")  # the store of the workbench used without classroom mode

    ana = _signed_in("Ana")
    assert [ana_sid[:8] in c for c in _reopen_choices(ana)] == [True]
    assert any("your workspace `ana`" in c.value for c in ana.caption)
    assert not any(str(mlal_home) in c.value for c in ana.caption)  # no server path shown

    ben = _signed_in("Ben")
    choices = _reopen_choices(ben)
    assert len(choices) == 1 and ben_sid[:8] in choices[0]
    assert not any(sid[:8] in c for c in choices for sid in (ana_sid, solo_sid))
    ben.toggle(key="home_delete_arm").set_value(True).run()
    ben.button(key="home_delete").click().run()
    _ok(ben)
    assert _reopen_choices(ben) == []
    assert list(SessionStore(paths.default_store_path("ben")).list_sessions()["id"]) == []
    assert list(SessionStore(paths.default_store_path("ana")).list_sessions()["id"]) == [ana_sid]
    assert list(SessionStore(paths.default_store_path()).list_sessions()["id"]) == [solo_sid]
    # the learning curves offer the participant's sessions only
    ana.switch_page("pages/learning_curves.py").run()
    _ok(ana)
    shown = " ".join(str(w.value) + " ".join(map(str, getattr(w, "options", []))) for w in ana.multiselect)
    assert "solo-run" not in shown and "ben-run" not in shown


def test_the_teacher_may_switch_into_a_workspace(classroom_on):
    ana_sid = _stored_session("ana", "ana-run")
    teacher = _signed_in("Teacher", TEACHER_PW)
    assert teacher.session_state["classroom_access"].is_teacher
    assert _reopen_choices(teacher) == []  # the teacher's own workspace is empty
    sidebar = AppTest.from_file(APP, default_timeout=TIMEOUT)
    sidebar.session_state["classroom_access"] = teacher.session_state["classroom_access"]
    sidebar.run()
    box = sidebar.sidebar.selectbox(key="classroom_workspace")
    assert list(box.options) == ["ana", "teacher (yours)"]
    box.set_value("ana").run()
    _ok(sidebar)
    assert sidebar.session_state["classroom_access"].workspace == "ana"
    assert ana_sid[:8] in _reopen_choices(sidebar)[0]
    # a participant has no such box
    ana = AppTest.from_file(APP, default_timeout=TIMEOUT)
    ana.session_state["classroom_access"] = access.Access("Ana", access.PARTICIPANT, "ana")
    ana.run()
    assert not [s for s in ana.sidebar.selectbox if s.key == "classroom_workspace"]


def test_another_participant_cannot_enter_a_claimed_name_without_its_passphrase(classroom_on, mlal_home):
    ana_sid = _stored_session("ana", "ana-run")  # a workspace from before passphrases: no claim yet
    assert not access.is_claimed("ana")
    ana = _signed_in("Ana")  # Ana's first sign-in claims it
    assert access.is_claimed("ana") and ana_sid[:8] in _reopen_choices(ana)[0]

    ben = AppTest.from_file(APP, default_timeout=TIMEOUT)  # Ben knows the class password and Ana's name
    ben.run()
    for guess, repeat in (("", ""), ("ben's phrase", "ben's phrase"), (CLASS_PW, CLASS_PW)):
        _sign_in(ben, "ana", passphrase=guess, repeat=repeat)
        assert any("Wrong passphrase for this name" in e.value for e in ben.error)
        assert _on_sign_in_page(ben) and "classroom_access" not in ben.session_state
        assert _reopen_choices(ben) == []
    assert list(SessionStore(paths.default_store_path("ana")).list_sessions()["id"]) == [ana_sid]
    # a new name without the passphrase typed twice is refused with what to do
    _sign_in(ben, "Ben", passphrase="ben's phrase", repeat="")
    assert any("this sign-in claims the name" in e.value and "both passphrase fields" in e.value for e in ben.error)
    assert _on_sign_in_page(ben) and not access.is_claimed("ben")
    # with Ana's passphrase the name opens Ana's workspace (from any browser)
    _sign_in(ben, "Ana", passphrase=_phrase("Ana"), repeat="")
    _ok(ben)
    assert ben.session_state["classroom_access"].workspace == "ana"
    assert ana_sid[:8] in _reopen_choices(ben)[0]


def test_the_teacher_resets_a_participants_passphrase(classroom_on, mlal_home):
    _signed_in("Ana")
    ana_sid = _stored_session("ana", "ana-run")
    teacher = _signed_in("Teacher", TEACHER_PW).session_state["classroom_access"]

    def sidebar_of(signed: access.Access, **widgets) -> AppTest:
        """A fresh run (AppTest keeps the sidebar of a script's first run only) with this sign-in."""
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["classroom_access"] = signed
        for key, value in widgets.items():
            at.session_state[key] = value
        at.run()
        _ok(at)
        return at

    own = sidebar_of(teacher)
    assert not [b for b in own.sidebar.button if b.key == "classroom_reset_passphrase"]  # not in their own
    in_ana = sidebar_of(teacher.switched_to("ana"))
    assert in_ana.sidebar.button(key="classroom_reset_passphrase").disabled  # armed by the toggle first
    assert in_ana.sidebar.toggle(key="classroom_reset_arm").value is False
    armed = sidebar_of(teacher.switched_to("ana"), classroom_reset_arm=True)
    reset = armed.sidebar.button(key="classroom_reset_passphrase")
    assert not reset.disabled and access.is_claimed("ana")
    reset.click().run()
    _ok(armed)
    assert not access.is_claimed("ana")
    assert armed.session_state["classroom_reset_arm"] is False  # disarmed again
    after = sidebar_of(teacher.switched_to("ana"), classroom_reset_notice="shown once")
    assert [s.value for s in after.sidebar.success] == ["shown once"]
    assert any("`ana` has no passphrase yet" in c.value for c in after.sidebar.caption)
    assert not [b for b in after.sidebar.button if b.key == "classroom_reset_passphrase"]
    assert list(SessionStore(paths.default_store_path("ana")).list_sessions()["id"]) == [ana_sid]  # kept
    # Ana sets a new passphrase; the old one no longer opens the workspace
    again = _signed_in("Ana", passphrase="Ana's new phrase")
    assert ana_sid[:8] in _reopen_choices(again)[0]
    old = AppTest.from_file(APP, default_timeout=TIMEOUT)
    old.run()
    _sign_in(old, "Ana", passphrase=_phrase("Ana"), repeat="")
    assert any("Wrong passphrase" in e.value for e in old.error) and _on_sign_in_page(old)
    # a participant's sidebar has no reset
    ana = AppTest.from_file(APP, default_timeout=TIMEOUT)
    ana.session_state["classroom_access"] = access.Access("Ana", access.PARTICIPANT, "ana")
    ana.run()
    assert not [b for b in ana.sidebar.button if b.key == "classroom_reset_passphrase"]
    assert not [t for t in ana.sidebar.toggle if t.key == "classroom_reset_arm"]


# ---------------------------------------------------------------------------------------------- model folders
def _strategy_param(at: AppTest, strategy: str, param: str):
    at.selectbox(key="home_strategy").set_value(strategy).run()
    _ok(at)
    key = f"home_param_{strategy}_{param}"
    assert not [t for t in at.text_input if t.key == key], "a typed path field is still drawn"
    return at.selectbox(key=key)


def test_model_folders_are_chosen_from_mlal_home_models(mlal_home, tmp_path):
    at = _app()
    at.selectbox(key="home_dataset").set_value("reuters21578").run()
    _ok(at)
    box = _strategy_param(at, "alps", "mlm")
    assert list(box.options) == ["bundled (default)"]
    assert any("No model folders yet" in c.value and "models" in c.value for c in at.caption)

    models = mlal_home / "models"
    for name in ("tok", "bert-mlm", ".hidden"):
        (models / name).mkdir()
    (models / "notes.txt").write_text("not a model")
    (tmp_path / "outside").mkdir()  # a folder elsewhere on the server is never offered
    at.run()
    box = at.selectbox(key="home_param_alps_mlm")
    assert list(box.options) == ["bundled (default)", "bert-mlm", "tok"]
    assert not any("No model folders yet" in c.value for c in at.caption)
    box.set_value(str(models / "bert-mlm")).run()
    _ok(at)
    assert at.selectbox(key="home_param_alps_mlm").value == str(models / "bert-mlm")
    box = _strategy_param(at, "subword", "tokenizer")
    assert list(box.options) == ["bundled (default)", "bert-mlm", "tok"]


# ---------------------------------------------------------------------------------------------- two browsers
def test_a_session_advanced_in_another_browser_is_reloaded(mlal_home):
    first = _app()
    sid = _start(first, rounds=3)
    second = _app()  # another browser, the same store
    click_and_prepare(second, "home_reopen")
    assert second.session_state["al_session"].session_id == sid
    second.switch_page("pages/active_learning.py").run()
    _ok(second)

    first.switch_page("pages/active_learning.py").run()
    _click_and_wait(first, "al_next")  # round 0, stored by the first browser
    second.run()
    _ok(second)
    assert [i.value for i in second.info if "another browser" in i.value] == [
        "Round 0 was completed in another browser; showing the stored session."]
    assert second.session_state["al_session"].next_round == 1
    _click_and_wait(second, "al_next")  # round 1 runs (before the fix: "Round 0 ... is already stored")
    assert len(SessionStore(paths.default_store_path()).load_rounds(sid)) == 2
    second.run()
    assert not [i for i in second.info if "another browser" in i.value]  # said once

    # both browsers start the next round at once: the first browser's session (at round 1) loses the race
    stale = first.session_state["al_session"]
    assert stale.next_round == 1
    lost = SessionWorker(stale, 1, lock=threading.Lock()).start()
    assert lost.join(timeout=TIMEOUT)
    assert lost.status().state == "failed" and "already stored" in (lost.status().error or "")
    first.session_state["al_worker"] = lost
    first.run()
    _ok(first)  # no StoreError box
    assert any(i.value == "Round 1 was completed in another browser; showing the stored session."
               for i in first.info)
    assert first.session_state["al_session"].next_round == 2
    assert SessionStore(paths.default_store_path()).session_info(sid)["status"] == "running"


def test_labels_for_a_round_another_browser_stored_first(mlal_home):
    first = _app()
    sid = _start(first, query=4, rounds=3)
    second = _app()
    click_and_prepare(second, "home_reopen")
    second.switch_page("pages/active_learning.py").run()
    second.radio(key="al_oracle_choice").set_value("person").run()
    _click_and_wait(second, "al_propose")  # round 0's picks wait for a person's labels in the second browser
    assert second.session_state["al_pending"][sid].round == 0
    first.switch_page("pages/active_learning.py").run()
    _click_and_wait(first, "al_next")  # meanwhile the first browser stores round 0 (simulated oracle)
    next(b for b in second.button if b.label == "Submit labels").click().run()
    _ok(second)  # before the fix: "Round 0 ... is already stored" in an error box
    assert any(i.value == "Round 0 was completed in another browser; showing the stored session."
               for i in second.info)
    assert second.session_state["al_session"].next_round == 1
    assert "al_error" not in second.session_state  # no StoreError kept to show at the next labelling form
    rounds = SessionStore(paths.default_store_path()).load_rounds(sid)
    assert len(rounds) == 1 and rounds[0].answered_by == "simulated"  # the stored round is kept as it was
