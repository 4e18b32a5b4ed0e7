"""A session marked ``running`` whose process is gone is shown ``interrupted`` (issue 13, item 3): the
store records the process that marked it running (host, pid, start time) and checks it when it lists
or describes the session; a failure that could not be written is shown ``failed`` by the process that
saw it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from test_store import _record

from mlal_core import cli
from mlal_core.session import owner
from mlal_core.session.config import SessionConfig
from mlal_core.session.store import SessionStore

TESTS = Path(__file__).resolve().parent


def _session(store: SessionStore, rounds: int = 2) -> str:
    sid = store.create_session(SessionConfig(dataset="yeast", strategy="random", rounds=5), np.arange(3),
                               np.eye(3, 4, dtype=np.uint8), label_names=["a", "b", "c", "d"])
    for r in range(rounds):
        store.append_round(sid, _record(r, 3 + 3 * r))
    return sid


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _set_owner(store: SessionStore, sid: str, token: str) -> None:
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE session_owners SET owner = ? WHERE session_id = ?", (token, sid))


# ---------------------------------------------------------------- the owner token
def test_this_process_is_alive_and_a_reaped_one_is_not():
    me = owner.process_token()
    host, pid, start = me.split(" ")
    assert host == socket.gethostname() and int(pid) == os.getpid() and start.isdigit()
    assert owner.token_alive(me) is True
    assert owner.token_alive(f"{host} {_dead_pid()} 123") is False


def test_a_reused_pid_with_another_start_time_is_not_the_owner():
    parent = os.getppid()  # alive, but it started at another time than the token says
    real = owner.process_token(parent)
    assert owner.token_alive(real) is True
    assert owner.token_alive(real.rsplit(" ", 1)[0] + " 1") is False


@pytest.mark.parametrize("token, alive", [
    (None, False), ("", False), ("garbage", False), ("host x 1", False), ("other-host-xyz 1 1", None),
])
def test_missing_malformed_and_foreign_tokens(token, alive):
    assert owner.token_alive(token) is alive


# ---------------------------------------------------------------- the store shows it honestly
def test_a_session_whose_process_is_gone_is_shown_interrupted_with_what_resume_does(tmp_path, capsys):
    store = SessionStore(tmp_path / "s.sqlite")
    sid = _session(store, rounds=2)
    assert store.session_info(sid)["status"] == "running"  # this process owns it and is alive
    _set_owner(store, sid, f"{socket.gethostname()} {_dead_pid()} 1")
    info = store.session_info(sid)
    assert info["status"] == "interrupted" and info["stored_status"] == "running"
    assert info["note"] == "The process running it stopped; 2 round(s) stored; resume continues from round 2."
    row = store.list_sessions().iloc[0]
    assert row["status"] == "interrupted" and row["note"] == info["note"]
    assert cli.main(["sessions", "--store", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert f"{sid[:8]} interrupted: The process running it stopped; 2 round(s) stored" in out
    assert f"`resume {sid[:8]}`" in out
    store.set_status(sid, "running")  # a resume claims it again
    assert store.session_info(sid)["status"] == "running"
    store.set_status(sid, "failed", note="boom")
    assert store.session_info(sid)["status"] == "failed" and store.session_info(sid)["note"] == "boom"


def test_a_running_session_of_another_host_is_shown_as_stored(tmp_path):
    store = SessionStore(tmp_path / "s.sqlite")
    sid = _session(store, rounds=1)
    _set_owner(store, sid, "some-other-host 1 1")
    assert store.session_info(sid)["status"] == "running"


def test_a_file_without_owners_shows_its_running_sessions_interrupted(tmp_path):
    """A file written before owners were recorded (or imported from a zip): no process claims it."""
    store = SessionStore(tmp_path / "s.sqlite")
    sid = _session(store, rounds=0)
    with sqlite3.connect(store.path) as con:
        con.execute("DROP TABLE session_owners")
    info = store.session_info(sid)
    assert info["status"] == "interrupted" and "0 round(s) stored; resume continues from round 0" in info["note"]
    store.set_status(sid, "running")  # the table is created again on first use
    assert store.session_info(sid)["status"] == "running"


@pytest.mark.slow
def test_kill_9_of_the_process_running_a_session_shows_it_interrupted(tmp_path):
    path = tmp_path / "s.sqlite"
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(TESTS)!r})
        from test_stale_sessions import _session
        from mlal_core.session.store import SessionStore
        print(_session(SessionStore({str(path)!r}), rounds=3), flush=True)
        open({str(ready)!r}, "w").close()
        time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=TESTS.parent)
    try:
        deadline = time.time() + 120
        while not ready.exists():
            assert child.poll() is None and time.time() < deadline, "the child never stored its session"
            time.sleep(0.1)
        sid = child.stdout.readline().decode().strip()
        store = SessionStore(path)
        assert store.session_info(sid)["status"] == "running"  # its process is alive
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    info = store.session_info(sid)
    assert info["status"] == "interrupted" and info["stored_status"] == "running"
    assert "3 round(s) stored; resume continues from round 3" in info["note"]
