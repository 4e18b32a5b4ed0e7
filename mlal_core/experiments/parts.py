"""The per-run part files: each run writes its own store file, merged into the main store when done.

``<store>.parts/<key>.sqlite`` holds one run's session (one writer per file: parallel workers never
wait on a SQLite lock). When the run finishes the parent copies it into the main store
(:mod:`mlal_core.session.store_merge`) and deletes the part file; a part file left by an
interrupted run is resumed round by round, and a finished one left by an interrupted parent is
merged on the next start (:func:`merge_finished_parts`). On Ray clusters reached by ``address`` the
part file's bytes travel back with the result (:func:`serialize_db`, :func:`write_db_bytes`).

Whoever writes, merges or deletes a part file holds its :class:`~mlal_core.experiments.lock.PartLock`
(``<key>.sqlite.lock``): a worker for the whole run, the parent while it merges. A part file still
locked by a live writer (a worker that outlived an earlier parent) is never merged nor deleted.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from mlal_core.experiments.lock import PartLock
from mlal_core.session.store import SessionStore, StoreError
from mlal_core.session.store_merge import import_session, session_ids

__all__ = ["merge_finished_parts", "merge_part", "part_path", "parts_dir", "remove_db", "serialize_db",
           "write_db_bytes"]


def parts_dir(store_path: Path) -> Path:
    """The folder of a main store's part files, ``<store>.parts``.

    Parameters
    ----------
    store_path : Path
        The main store file.

    Returns
    -------
    Path
        ``<store>.parts`` next to it (not created).
    """
    return store_path.with_name(store_path.name + ".parts")


def part_path(store_path: Path, key: str) -> Path:
    """The part file of run ``key``, ``<store>.parts/<key>.sqlite``.

    Parameters
    ----------
    store_path : Path
        The main store file.
    key : str
        The run key.

    Returns
    -------
    Path
        The part file's path (not created).
    """
    return parts_dir(store_path) / f"{key}.sqlite"


def remove_db(path: Path) -> None:
    """Delete a SQLite file with its ``-wal`` and ``-shm`` files (those missing are skipped).

    Parameters
    ----------
    path : Path
        The SQLite file.
    """
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def serialize_db(path: Path) -> bytes:
    """The bytes of a SQLite file (``Connection.serialize``), to send a part file back from a Ray node.

    Parameters
    ----------
    path : Path
        The SQLite file.

    Returns
    -------
    bytes
        The serialized database.
    """
    con = sqlite3.connect(path)
    try:
        return con.serialize()
    finally:
        con.close()


def write_db_bytes(part: Path, data: bytes) -> None:
    """Put a run's store received as bytes (:func:`serialize_db`) in place as its part file.

    Parameters
    ----------
    part : Path
        The part file to write (its folder is created; an existing one and its ``-wal`` / ``-shm``
        files are replaced).
    data : bytes
        The database bytes.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp = part.with_name(part.name + ".recv")
    tmp.write_bytes(data)
    remove_db(part)
    os.replace(tmp, part)


def merge_part(main: SessionStore, part: Path, session_id: str, *, data: bytes | None = None,
               wait_s: float | None = None) -> bool:
    """Copy a finished run's session from its part file into the main store, then delete the part file.

    Parameters
    ----------
    main : SessionStore
        The main store.
    part : Path
        The run's part file.
    session_id : str
        The run's session in it.
    data : bytes, optional
        The part file's bytes sent back by a remote worker (:func:`write_db_bytes` puts them in place).
    wait_s : float or None
        Longest wait for the part file's lock (None: :data:`~mlal_core.experiments.lock.PART_LOCK_WAIT_S`;
        the worker that wrote it has released it already).

    Returns
    -------
    bool
        True when the session was copied (False: the main store had it already).

    Raises
    ------
    ConfigError
        When another process holds the part file's lock after ``wait_s`` seconds.
    """
    lock = PartLock(part).acquire(wait_s)
    removed = False
    try:
        if data is not None:
            write_db_bytes(part, data)
        copied = import_session(main, part, session_id)
        remove_db(part)
        removed = True
    finally:
        lock.release(remove=removed)
    return copied


def merge_finished_parts(main: SessionStore, store_path: Path) -> int:
    """Merge the finished sessions of part files left by an earlier, interrupted call.

    Parameters
    ----------
    main : SessionStore
        The main store.
    store_path : Path
        Its file (the part files are in :func:`parts_dir`).

    Returns
    -------
    int
        How many sessions were copied into the main store. A part file with a finished session is
        deleted; one without (a run cut short) is kept to be resumed; an unreadable one, and one
        whose lock another process holds (it is still being written), is skipped.
    """
    folder = parts_dir(store_path)
    merged = 0
    if not folder.is_dir():
        return merged
    for part in sorted(folder.glob("*.sqlite")):
        lock = PartLock(part)
        if not lock.try_acquire():
            continue
        finished: list[str] = []
        try:
            finished = session_ids(part, status="finished")
            for sid in finished:
                if import_session(main, part, sid):
                    merged += 1
            if finished:
                remove_db(part)
        except (sqlite3.Error, StoreError):  # unreadable: kept, its run resumes it or reports why not
            finished = []
        finally:
            lock.release(remove=bool(finished))
    return merged
