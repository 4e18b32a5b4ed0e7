"""Which process runs a session, and whether that process is still alive.

A session's stored status says ``running`` from its creation until it is finished or failed. When the
process that runs it is killed (kill -9, a power cut, a full disk that kept the failure from being
written), nothing writes the status again. The store therefore records an **owner token** when a process
marks a session running: ``"<host> <pid> <start>"``, the host name, the process id and the process's
start time (clock ticks since boot from ``/proc/<pid>/stat``, so a reused process id is not mistaken for
the owner). :func:`token_alive` tells whether the owner still runs: on the same host it checks the
process; a token from another host cannot be checked (``None``), and the stored status is shown as is.
No heartbeat and no open file is needed: the operating system's process table is the lock.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None where the process is gone, a zombie,
    or ``/proc`` is not available."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # state, ..., starttime (field 22 of the whole line)
        return None
    return fields[19]


def process_token(pid: int | None = None) -> str:
    """The owner token of a process (default: this one).

    Parameters
    ----------
    pid : int, optional
        A process id; this process's by default.

    Returns
    -------
    str
        ``"<host> <pid> <start>"``; ``start`` is ``-`` where the start time cannot be read.
    """
    pid = os.getpid() if pid is None else int(pid)
    return f"{socket.gethostname()} {pid} {_start_ticks(pid) or '-'}"


def token_alive(token: str | None) -> bool | None:
    """Whether the process a token names is still running.

    Parameters
    ----------
    token : str or None
        A token from :func:`process_token`; None when no owner was recorded.

    Returns
    -------
    bool or None
        True while the process runs; False when it is gone (or no owner was recorded, or the token is
        malformed); None when it ran on another host (it cannot be checked from here).
    """
    parts = (token or "").split(" ")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid, start = parts[0], int(parts[1]), parts[2]
    if host != socket.gethostname():
        return None
    if pid == os.getpid():
        return True
    ticks = _start_ticks(pid)
    if ticks is not None:
        return start in ("-", ticks)
    if Path("/proc/self/stat").exists():  # /proc works here, so the process is gone
        return False
    try:  # no /proc (macOS): the process id alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
