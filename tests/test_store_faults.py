"""Store faults: every SQLite, OS, JSON and blob error is one StoreError naming the file and what to do;
read-only stores serve the reading commands; a session stopped by a full disk is marked failed."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_MODEL
from test_store import _record

from mlal_core import cli
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore, StoreError

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
REAL_CONNECT = sqlite3.connect


def _filled_store(path: Path) -> tuple[SessionStore, str]:
    store = SessionStore(path)
    cfg = SessionConfig(dataset="yeast", strategy="random", rounds=1, name="faulty")
    sid = store.create_session(cfg, np.arange(3), np.eye(3, 4, dtype=np.uint8), label_names=["a", "b", "c", "d"])
    store.append_round(sid, _record(0, 3))
    store.append_round(sid, _record(1, 6, final=True), status="finished")
    return store, sid


def _clear(exc: pytest.ExceptionInfo, *names: object) -> str:
    message = str(exc.value)
    assert len(message) < 2000 and "Traceback" not in message
    for name in names:
        assert str(name) in message, (name, message)
    return message


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _cli_refuses(capsys, path: Path, *argv: str) -> str:
    code, _, err = _cli(capsys, *argv)
    assert code == cli.EXIT_USAGE and err.startswith("error: ") and err.count("\n") == 1, err
    assert str(path) in err and "Traceback" not in err and len(err) < 2000
    return err


# ---------------------------------------------------------------- damaged, truncated, wrong files
def test_a_damaged_header_is_one_clear_error(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    _filled_store(path)
    with open(path, "r+b") as fh:
        fh.write(b"\x17" * 100)
    with pytest.raises(StoreError) as exc:
        SessionStore(path)
    assert "damaged" in _clear(exc, path, "backup")
    assert "backup" in _cli_refuses(capsys, path, "sessions", "--store", str(path))


def test_a_truncated_file_is_one_clear_error(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    _, sid = _filled_store(path)
    size = path.stat().st_size
    assert size > 8192 and not Path(f"{path}-wal").exists()  # all in the main file after the last close
    os.truncate(path, size // 3)
    with pytest.raises(StoreError) as exc:
        SessionStore(path).load_rounds(sid)
    _clear(exc, path)
    _cli_refuses(capsys, path, "export", sid[:8], "--store", str(path), "--out", str(tmp_path / "out.json"))


@pytest.mark.parametrize("column, value", [
    ("scores", b"\x93NUMPY garbage"), ("details", b"PAR1 not parquet"), ("diagnostics", b"PK\x03\x04 broken zip"),
    ("pick_proba", b"\x00\x01"), ("metrics_json", "{not json"), ("selected_json", "[1, 2"),
    ("labels_json", '"x"'), ("timings_json", "nan]"), ("shared_diag_json", "{"),
])
def test_a_damaged_round_column_names_the_round_and_the_column(tmp_path, column, value):
    path = tmp_path / "s.sqlite"
    store, sid = _filled_store(path)
    con = REAL_CONNECT(path)
    con.execute(f"UPDATE rounds SET {column} = ? WHERE round = 0", (value,))
    con.commit()
    con.close()
    with pytest.raises(StoreError) as exc:
        store.load_rounds(sid)
    _clear(exc, path, sid, f"{column} in round 0")
    with pytest.raises(StoreError):
        store.export_json(sid, tmp_path / "x.json")


def test_a_damaged_session_json_column_is_named_and_the_list_still_shows_the_rest(tmp_path):
    path = tmp_path / "s.sqlite"
    store, sid = _filled_store(path)
    other = store.create_session(SessionConfig(dataset="scene", strategy="random"), np.arange(3))
    con = REAL_CONNECT(path)
    con.execute("UPDATE sessions SET config_json = '{\"dataset\": ' WHERE id = ?", (sid,))
    con.commit()
    con.close()
    with pytest.raises(StoreError) as exc:
        store.load_session(sid)
    _clear(exc, path, sid, "config_json")
    listed = store.list_sessions().set_index("id")
    assert set(listed.index) == {sid, other}
    assert listed.loc[sid, "note"].startswith("damaged in the store") and listed.loc[other, "strategy"] == "random"


def test_a_folder_or_a_text_file_as_store_is_refused_with_what_to_pass(tmp_path, capsys):
    with pytest.raises(StoreError) as exc:
        SessionStore(tmp_path)
    assert "is a folder" in _clear(exc, tmp_path, tmp_path / "sessions.sqlite")
    _cli_refuses(capsys, tmp_path, "sessions", "--store", str(tmp_path))
    text = tmp_path / "notes.txt"
    text.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(StoreError) as exc:
        SessionStore(text)
    _clear(exc, text, "not a session store")
    assert text.read_text().startswith("these are my notes")  # nothing written into it
    other = tmp_path / "other.sqlite"  # an SQLite file of something else gets no tables of ours
    con = REAL_CONNECT(other)
    con.execute("CREATE TABLE things (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a session store"):
        SessionStore(other)


def test_an_unwritable_export_target_is_refused_with_what_to_pass(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    store, sid = _filled_store(path)
    folder = tmp_path / "taken.json"
    folder.mkdir()
    with pytest.raises(StoreError) as exc:
        store.export_json(sid, folder)
    assert "is a folder" in _clear(exc, folder, "--out")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(StoreError) as exc:
        store.export_json(sid, blocker / "out.json")
    _clear(exc, blocker, "--out")
    with pytest.raises(StoreError):
        store.export_csv(sid, blocker / "csv")
    _cli_refuses(capsys, folder, "export", sid[:8], "--store", str(path), "--out", str(folder))
    if not IS_ROOT:  # root writes anywhere: the checks above stand in for it
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        try:
            with pytest.raises(StoreError) as exc:
                store.export_json(sid, locked / "out.json")
            _clear(exc, locked / "out.json")
        finally:
            locked.chmod(0o755)


# ---------------------------------------------------------------- read-only stores
@pytest.fixture
def read_only(monkeypatch):
    """Make a store file (and optionally its folder) read-only; as root, where chmod does not bind,
    open every read-write connection ``mode=ro`` instead (and refuse a non-immutable one for a
    read-only folder without the ``-shm`` file, as SQLite does)."""
    undo: list[tuple[Path, int]] = []

    def apply(path: Path, *, folder: bool) -> None:
        targets = [path] + ([path.parent] if folder else [])
        if not IS_ROOT:
            for target in targets:
                undo.append((target, target.stat().st_mode))
                target.chmod(0o555 if target.is_dir() else 0o444)
            return

        def connect(database, *args, uri=False, **kwargs):
            target = str(database)
            if not uri:
                target, uri = f"{Path(target).absolute().as_uri()}?mode=ro", True
            elif folder and "immutable=1" not in target and not Path(f"{path}-shm").exists():
                raise sqlite3.OperationalError("attempt to write a readonly database")
            return REAL_CONNECT(target, *args, uri=uri, **kwargs)

        monkeypatch.setattr(sqlite3, "connect", connect)

    yield apply
    for target, mode in reversed(undo):
        target.chmod(mode)


@pytest.mark.parametrize("folder", [False, True], ids=["file", "file_and_folder"])
def test_reading_commands_work_on_a_read_only_store(tmp_path, capsys, read_only, folder):
    path = tmp_path / "store" / "s.sqlite"
    _, sid = _filled_store(path)
    expected = SessionStore(path).export_json(sid, tmp_path / "before.json").read_text()
    con = REAL_CONNECT(path)  # the last read-write connection to close folds the -wal file in and removes it
    con.execute("SELECT COUNT(*) FROM sessions").fetchone()
    con.close()
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    read_only(path, folder=folder)
    store = SessionStore(path)
    assert store.list_sessions()["id"].tolist() == [sid]
    assert store.session_info(sid)["status"] == "finished"
    config, _, rounds = store.load_session(sid)
    assert config.name == "faulty" and [r.round for r in rounds] == [0, 1] == [r.round for r in store.load_rounds(sid)]
    got = store.export_json(sid, tmp_path / "after.json").read_text()
    assert got.replace(str(tmp_path / "after.json"), "") == expected.replace(str(tmp_path / "before.json"), "")
    code, out, err = _cli(capsys, "sessions", "--store", str(path))
    assert code == 0 and sid[:8] in out and err == ""
    code, out, err = _cli(capsys, "export", sid[:8], "--store", str(path), "--out", str(tmp_path / "cli.json"))
    assert code == 0 and (tmp_path / "cli.json").is_file(), err
    # writing is refused with one clear error, and the file is unchanged
    with pytest.raises(StoreError) as exc:
        store.set_status(sid, "failed")
    assert "read-only" in _clear(exc, path)
    assert store.session_info(sid)["status"] == "finished"


def test_wal_is_set_once_when_the_file_is_created(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    store, sid = _filled_store(path)
    statements: list[str] = []

    def traced(*args, **kwargs):
        con = REAL_CONNECT(*args, **kwargs)
        con.set_trace_callback(statements.append)
        return con

    monkeypatch.setattr(sqlite3, "connect", traced)
    SessionStore(path).append_round(sid, _record(2, 9))
    store.list_sessions()
    assert statements and not any("journal_mode" in s.lower() for s in statements)
    assert store.journal_mode() == "wal"


# ---------------------------------------------------------------- a full disk during a round write
class _FullDisk:
    """``sqlite3.connect`` whose connections fail like a full disk: every round insert, and the
    next ``status_failures`` status updates after the first failed insert."""

    def __init__(self, status_failures: int) -> None:
        self.status_failures = status_failures
        self.full = False
        state = self

        class Connection(sqlite3.Connection):
            def execute(self, sql, *args):  # type: ignore[override]
                if sql.lstrip().startswith("INSERT INTO rounds"):
                    state.full = True
                    raise sqlite3.OperationalError("database or disk is full")
                if state.full and sql.startswith("UPDATE sessions SET status") and state.status_failures > 0:
                    state.status_failures -= 1
                    raise sqlite3.OperationalError("database or disk is full")
                return super().execute(sql, *args)

        self.connection = Connection

    def __call__(self, *args, **kwargs):
        return REAL_CONNECT(*args, factory=self.connection, **kwargs)


def test_a_full_disk_during_a_round_write_is_a_clear_error_and_stores_nothing(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    store, sid = _filled_store(path)
    monkeypatch.setattr(sqlite3, "connect", _FullDisk(status_failures=0))
    with pytest.raises(StoreError) as exc:
        store.append_round(sid, _record(2, 9))
    assert "free space" in _clear(exc, path, "disk is full")
    assert [r.round for r in store.load_rounds(sid)] == [0, 1]


@pytest.mark.parametrize("status_failures, marked", [(1, True), (100, False)], ids=["once", "always"])
def test_a_session_stopped_by_a_full_disk_is_marked_failed_and_the_cli_says_what_happened(
        small_datasets, tmp_path, monkeypatch, capsys, status_failures, marked):
    store = SessionStore(tmp_path / "s.sqlite")
    session = ActiveLearningSession(SessionConfig(model_params=dict(FAST_MODEL), strategy="random", initial_size=30,
                                                 query_size=10, rounds=3, seed=0),
                                    dataset=small_datasets["yeast_small"], store=store)
    session.prepare()
    session.step()
    full = _FullDisk(status_failures)
    monkeypatch.setattr(sqlite3, "connect", full)
    assert cli._run_session(session, store) == 1
    err = capsys.readouterr().err
    assert "disk is full" in err and len(session.history) == 1
    monkeypatch.setattr(sqlite3, "connect", REAL_CONNECT)
    info = store.session_info(session.session_id)
    if marked:  # the status write is tried again: the first try hit the full disk, the second went through
        assert info["status"] == "failed" and "disk is full" in info["note"] and "(marked failed)" in err
    else:  # never written: the message says so instead of claiming it, and this process shows it failed
        assert info["stored_status"] == "running" and "(marked failed)" not in err
        assert "could not be marked failed" in err and "free disk space" in err
        assert info["status"] == "failed" and "disk is full" in info["note"] and "not yet written" in info["note"]
        assert "1 round(s) stored; resume continues from round 1" in info["note"]
        assert store.list_sessions().loc[0, "status"] == "failed"
        # the next write that goes through (the disk has room again) writes the failure too
        other = store.create_session(SessionConfig(dataset="yeast"), np.arange(3), np.eye(3, 4, dtype=np.uint8))
        info = store.session_info(session.session_id)
        assert info["stored_status"] == info["status"] == "failed"
        assert "disk is full" in info["note"] and "not yet written" not in info["note"]
        assert store.session_info(other)["status"] == "running"
    assert [r.round for r in store.load_rounds(session.session_id)] == [0]
