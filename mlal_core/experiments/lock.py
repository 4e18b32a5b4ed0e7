"""The lock files of an experiment: one keeps a second ``experiment`` process off a store
(:class:`StoreLock`), one per run keeps a second writer off that run's part file (:class:`PartLock`).

Both are advisory ``flock`` locks (POSIX; elsewhere there is no lock) on a small file that holds
the holder's process id, so a refusal can name it. The kernel releases them when the holder ends,
even by ``kill -9``: a lock is never left behind by a dead process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO, Self

from mlal_core.errors import ConfigError

__all__ = ["PART_LOCK_WAIT_S", "PartLock", "StoreLock", "lock_holder"]

#: seconds a worker waits for another process to release a run's part file before it refuses
PART_LOCK_WAIT_S = 15.0


def _fcntl():
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return None
    return fcntl


def lock_holder(path: Path) -> str:
    """The process id written in a lock file (``"?"`` when it is empty, missing or unreadable).

    Parameters
    ----------
    path : Path
        The lock file.

    Returns
    -------
    str
        The holder's process id as written, or ``"?"``.
    """
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


def _try_lock(path: Path) -> IO[str] | None:
    """The open lock file, locked by this process; None when another process holds it.

    After the lock is granted, the file at ``path`` must still be the one locked: a holder may
    delete the lock file just before releasing it (see :meth:`PartLock.release`), and a lock on a
    deleted file guards nothing, so that case is tried again on the new file.
    """
    fcntl = _fcntl()
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115 - held until release
        if fcntl is None:  # pragma: no cover - not POSIX
            return fh
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return None
        try:
            same = os.path.samestat(os.fstat(fh.fileno()), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            return fh
        fh.close()  # the holder deleted it between our open and our lock: lock the new one


def _unlock(fh: IO[str], path: Path | None) -> None:
    """Empty the lock file (or, given ``path``, delete it) while still holding it, then release it."""
    fcntl = _fcntl()
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    else:
        fh.seek(0)
        fh.truncate()
    if fcntl is not None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    fh.close()


class StoreLock:
    """An exclusive lock on ``<store>.lock`` while an experiment runs on a store.

    A second ``experiment`` process on the same store would run the same runs twice; it stops with
    a message that names the holder's process id instead. The lock is released when the process
    ends even if it is killed; the part files of runs that a dead process's workers may still be
    writing are guarded by their own :class:`PartLock`.

    Parameters
    ----------
    store_path : Path
        The main store file.

    Raises
    ------
    ConfigError
        On entering, when another process holds the lock.
    """

    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self.fh: IO[str] | None = None

    def __enter__(self) -> Self:
        self.fh = _try_lock(self.path)
        if self.fh is None:
            raise ConfigError(
                f"Another experiment process (pid {lock_holder(self.path)}) is running on the store "
                f"{self.path.with_suffix('')}; wait for it to finish or stop it (its finished runs are kept), "
                "then run this again."
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            _unlock(self.fh, None)
            self.fh = None


class PartLock:
    """An exclusive lock on a run's part file, ``<key>.sqlite.lock`` beside it, while one process
    writes (a worker) or merges and deletes (the parent) it.

    A worker of an earlier ``experiment`` process that outlived its parent, or a second invocation
    that reaches the same run, then waits for the holder instead of writing the same rounds twice.

    Parameters
    ----------
    part : Path
        The part file (``<store>.parts/<key>.sqlite``).
    """

    def __init__(self, part: Path) -> None:
        self.part = part
        self.path = part.with_name(part.name + ".lock")
        self.fh: IO[str] | None = None

    @property
    def run_key(self) -> str:
        """The run key, the part file's name without ``.sqlite``."""
        return self.part.name.removesuffix(".sqlite")

    def try_acquire(self) -> bool:
        """Take the lock if it is free.

        Returns
        -------
        bool
            True when this object now holds it, False when another process does.
        """
        if self.fh is None:
            self.fh = _try_lock(self.path)
        return self.fh is not None

    def acquire(self, wait_s: float | None = None, poll_s: float = 0.1) -> Self:
        """Take the lock, waiting up to ``wait_s`` seconds for another holder to release it.

        Parameters
        ----------
        wait_s : float or None
            Longest wait (0: do not wait; None: :data:`PART_LOCK_WAIT_S`).
        poll_s : float
            Seconds between two tries.

        Returns
        -------
        PartLock
            This lock, held (use it as a context manager to release it).

        Raises
        ------
        ConfigError
            When another process still holds it after ``wait_s`` seconds: the message names the run
            and the holder's process id.
        """
        wait_s = PART_LOCK_WAIT_S if wait_s is None else max(0.0, wait_s)
        deadline = time.monotonic() + wait_s
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"Run {self.run_key} is being written by another process (pid {lock_holder(self.path)}), "
                    f"perhaps a worker of an earlier experiment process that was stopped; waited {wait_s:g} s. "
                    "Wait for that process to end (or stop it), then run the same command again: the run's "
                    "completed rounds are kept."
                )
            time.sleep(poll_s)
        return self

    def release(self, *, remove: bool = False) -> None:
        """Release the lock (nothing to do when it is not held).

        Parameters
        ----------
        remove : bool
            Delete the lock file first (once the part file itself is gone), while still holding it.
        """
        if self.fh is not None:
            _unlock(self.fh, self.path if remove else None)
            self.fh = None

    def __enter__(self) -> Self:
        return self.acquire() if self.fh is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()
