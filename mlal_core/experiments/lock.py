"""The lock file that keeps a second ``experiment`` process off a store while one runs on it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Self

from mlal_core.errors import ConfigError

__all__ = ["StoreLock"]


class StoreLock:
    """An exclusive lock on ``<store>.lock`` while an experiment runs on a store.

    A second ``experiment`` process on the same store would run the same runs twice; it stops with
    a message that names the holder's process id instead. The lock is an advisory ``flock`` (POSIX;
    elsewhere there is no lock), released when the process ends even if it is killed.

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
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")  # held until __exit__
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "?"
            self.fh.close()
            self.fh = None
            raise ConfigError(
                f"Another experiment process (pid {holder}) is running on the store {self.path.with_suffix('')}; "
                "wait for it to finish or stop it (its finished runs are kept), then run this again."
            ) from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(str(os.getpid()))
        self.fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            import fcntl

            self.fh.seek(0)
            self.fh.truncate()
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None
