"""Copy sessions between SQLite session stores (``store.py`` files) without decoding them.

The experiment runner gives every run its own store file (one writer per file, so parallel workers
never contend for a SQLite lock) and merges each finished run into the experiment's main store.
The copy is done in SQL (``ATTACH``), row for row: the session keeps its id, its config, its
initial set and every round's blobs exactly as they were written.

``import_session(dest, src, session_id)`` copies one session in one transaction;
``merge_store(dest, src)`` copies every (finished) session of ``src`` that ``dest`` lacks.
Both stores must have the same schema version, except that a source from version
:data:`ROWS_UNCHANGED_SINCE` (4) on copies into a newer destination: its rows are rows of the newer
versions unchanged (v5 only added the sparse label rows above 500 labels, which the readers accept
beside the dense rows of v4). Label columns (``labels_json``, the initial set's labels) are copied
as they were written, dense or sparse.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlal_core.session.store import SCHEMA_VERSION, SessionStore, StoreError, store_error

__all__ = ["ROWS_UNCHANGED_SINCE", "import_session", "merge_store", "session_ids"]

#: the oldest schema version whose rows copy into a store of any newer version unchanged
ROWS_UNCHANGED_SINCE = 4

_SESSION_COLUMNS = (
    "id, name, created_at, updated_at, config_json, status, dataset_name, dataset_hash, "
    "label_names_json, initial_labeled_json, note, feature_source_json, stop_set_json"
)
_ROUND_COLUMNS = (
    "session_id, round, created_at, n_labeled, metrics_json, selected_json, labels_json, details, scores, "
    "diagnostics, shared_diag_json, timings_json, answered_by, pick_proba, stopping"
)


def _path(store: SessionStore | str | Path) -> Path:
    return store.path if isinstance(store, SessionStore) else Path(store)


@contextmanager
def _store_errors(path: Path, action: str) -> Iterator[None]:
    """SQLite and OS errors on the store ``path`` become one :class:`StoreError` naming it."""
    try:
        yield
    except StoreError:
        raise
    except (sqlite3.Error, OSError) as exc:
        raise store_error(path, exc, action) from exc


def _copyable(*, source: int | None, dest: int | None) -> bool:
    """Whether rows of a store of schema ``source`` may be copied as they are into one of ``dest``."""
    if source == dest:
        return True
    return source is not None and dest is not None and ROWS_UNCHANGED_SINCE <= source < dest <= SCHEMA_VERSION


@contextmanager
def _attached(dest: Path, src: Path) -> Iterator[sqlite3.Connection]:
    if not src.is_file():
        raise StoreError(f"No session store at {src}.")
    with _store_errors(dest, f"copy sessions from {src} into"):
        con = sqlite3.connect(dest, timeout=60.0, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("ATTACH DATABASE ? AS src", (str(src),))
        try:
            versions = [
                con.execute(f"SELECT MAX(version) FROM {db}.schema_version").fetchone()[0] for db in ("main", "src")
            ]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{src} is not a readable session store ({exc}); pass another store file.") from None
        if not _copyable(source=versions[1], dest=versions[0]):
            raise StoreError(
                f"Cannot copy sessions between stores of schema versions {versions[1]} ({src}) and "
                f"{versions[0]} ({dest}); open both with this workbench first to upgrade them."
            )
        yield con
    finally:
        try:
            con.execute("DETACH DATABASE src")
        except sqlite3.Error:
            pass
        con.close()


def session_ids(store: SessionStore | str | Path, *, status: str | None = None) -> list[str]:
    """Ids of the sessions of a store file (optionally only those with ``status``).

    Parameters
    ----------
    store : SessionStore or str or Path
        The store, or its file.
    status : str or None
        Only sessions with this status (None: all).

    Returns
    -------
    list of str
        The ids, oldest first (by creation time, then id).

    Raises
    ------
    StoreError
        When the file cannot be read (damaged, not a store, a folder).
    """
    path = _path(store)
    with _store_errors(path, "read"):
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=60.0)
        try:
            if status is None:
                rows = con.execute("SELECT id FROM sessions ORDER BY created_at, id").fetchall()
            else:
                rows = con.execute("SELECT id FROM sessions WHERE status = ? ORDER BY created_at, id",
                                   (status,)).fetchall()
        finally:
            con.close()
    return [r[0] for r in rows]


def import_session(dest: SessionStore, src: SessionStore | str | Path, session_id: str, *,
                   replace: bool = False) -> bool:
    """Copy session ``session_id`` (its row and all its rounds) from the store ``src`` into ``dest``.

    Returns True when it was copied, False when ``dest`` already has a session with that id (it
    is then left alone unless ``replace=True``, which deletes it first). One transaction: a crash
    leaves ``dest`` without the session, never with part of it.

    Parameters
    ----------
    dest : SessionStore
        The store to copy into.
    src : SessionStore or str or Path
        The store to copy from, or its file.
    session_id : str
        The session to copy.
    replace : bool
        Replace a session with the same id already in ``dest``.

    Returns
    -------
    bool
        True when it was copied, False when ``dest`` already had it and ``replace`` is False.

    Raises
    ------
    StoreError
        If ``src`` has no session ``session_id``, or either file cannot be read or written (damaged,
        read-only, a full disk).
    """
    src_path = _path(src)
    with _store_errors(dest.path, f"copy session {session_id} into"), _attached(dest.path, src_path) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute("SELECT 1 FROM src.sessions WHERE id = ?", (session_id,)).fetchone() is None:
                raise StoreError(f"No session {session_id!r} in the store {src_path}.")
            if con.execute("SELECT 1 FROM main.sessions WHERE id = ?", (session_id,)).fetchone() is not None:
                if not replace:
                    con.execute("ROLLBACK")
                    return False
                con.execute("DELETE FROM main.sessions WHERE id = ?", (session_id,))
            con.execute(
                f"INSERT INTO main.sessions ({_SESSION_COLUMNS}) SELECT {_SESSION_COLUMNS} FROM src.sessions WHERE id = ?",
                (session_id,),
            )
            con.execute(
                f"INSERT INTO main.rounds ({_ROUND_COLUMNS}) SELECT {_ROUND_COLUMNS} FROM src.rounds "
                "WHERE session_id = ? ORDER BY round",
                (session_id,),
            )
        except BaseException:
            if con.in_transaction:
                try:
                    con.execute("ROLLBACK")
                except sqlite3.Error:  # SQLite may have rolled back itself; keep the first error
                    pass
            raise
        con.execute("COMMIT")
    return True


def merge_store(dest: SessionStore, src: SessionStore | str | Path, *, only_finished: bool = True) -> list[str]:
    """Copy every session of ``src`` that ``dest`` does not have yet (only ``finished`` ones by
    default); returns the ids copied.

    Parameters
    ----------
    dest : SessionStore
        The store to copy into.
    src : SessionStore or str or Path
        The store to copy from, or its file.
    only_finished : bool
        Copy only sessions with status ``finished``.

    Returns
    -------
    list of str
        The ids copied, in the order of :func:`session_ids`.

    Raises
    ------
    StoreError
        When either file cannot be read or written.
    """
    ids = session_ids(src, status="finished" if only_finished else None)
    return [sid for sid in ids if import_session(dest, src, sid)]
