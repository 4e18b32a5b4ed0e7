"""What a worker does: run one task (a run or a full-data reference) in this process.

Both backends (:mod:`mlal_core.experiments.backends`) call :func:`execute_task`, in a process of
the local pool, on a Ray worker or in the parent itself (``workers: 0``). A worker keeps the
datasets and features it has loaded for the next task; the parent computes MiniLM features once
before dispatch and workers read them from the disk cache.

A pool worker never outlives its parent (:func:`exit_with_parent`): an orphaned worker would go on
taking queued runs and writing part files under a new ``experiment`` process. A run holds its part
file's :class:`~mlal_core.experiments.lock.PartLock` while it writes it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from mlal_core import paths
from mlal_core.errors import MLALError
from mlal_core.experiments.lock import PartLock
from mlal_core.experiments.parts import serialize_db
from mlal_core.session.config import SessionConfig

__all__ = ["PARENT_POLL_S", "THREAD_VARS", "apply_env", "execute_task", "exit_with_parent", "init_worker",
           "load_dataset", "set_threads"]

#: the environment variables that size the BLAS / OpenMP thread pools of a worker
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_DATASETS: dict[tuple, Any] = {}
_FEATURES: dict[tuple, Any] = {}
_THREADS_SET: list[int] = []

#: seconds between two checks of the watchdog thread that ends a worker whose parent died
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_FORK_STATE = {"hooked": False, "on_main_thread": False}


def apply_env(env: dict | None) -> None:
    """Set (or, for a None value, unset) environment variables of this process.

    Parameters
    ----------
    env : dict or None
        Variable name -> value (converted with ``str``; None: unset). None: nothing to do.
    """
    for k, v in (env or {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = str(v)


def set_threads(threads: int | None) -> None:
    """Limit this process to ``threads`` threads (None or 0: leave them as they are).

    Sets torch's intra-op threads and the BLAS / OpenMP pools of numpy, scipy and scikit-learn
    (threadpoolctl): without the latter, two workers on two cores each run 2-thread BLAS calls and
    slow each other down.

    Parameters
    ----------
    threads : int or None
        Threads of this process (None or 0: unchanged).
    """
    if not threads:
        return
    threads = int(threads)
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if _THREADS_SET != [threads]:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
        _THREADS_SET[:] = [threads]


def _kernel_death_signal() -> bool:
    """Linux: have the kernel send SIGKILL to this process when the parent thread that started it
    ends (``prctl(PR_SET_PDEATHSIG)``). False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return False
    return int(prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0), ctypes.c_ulong(0),
                     ctypes.c_ulong(0))) == 0


def _before_fork() -> None:
    _FORK_STATE["on_main_thread"] = threading.current_thread() is threading.main_thread()


def _after_fork_in_child() -> None:
    # a child forked by the worker's main thread (which lives as long as the worker) dies with the
    # worker; a fork from another thread is left alone: the signal would fire when that thread ends
    if _FORK_STATE["on_main_thread"]:
        _kernel_death_signal()


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux ``/proc``; elsewhere none are found), nearest first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])  # after "pid (comm) ": state, ppid, ...
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
        children.setdefault(ppid, []).append(int(entry.parent.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        below = children.get(queue.pop(0), [])
        found.extend(below)
        queue.extend(below)
    return found


def _end_with_descendants() -> None:
    """Kill this process's own children (and theirs), then end this process at once."""
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(1)


def _parent_alive(parent_pid: int) -> bool:
    if os.name == "posix":
        return os.getppid() == parent_pid  # an orphan is adopted by another process
    import multiprocessing

    parent = multiprocessing.parent_process()  # Windows: the parent's process handle
    return parent is None or parent.pid != parent_pid or parent.is_alive()


def _watch_parent(parent_pid: int, poll_s: float) -> None:
    while _parent_alive(parent_pid):
        time.sleep(poll_s)
    _end_with_descendants()


def exit_with_parent(parent_pid: int, *, death_signal: bool = True, poll_s: float = PARENT_POLL_S) -> bool:
    """Make this process end as soon as its parent ``parent_pid`` dies, however it dies (``kill -9`` too).

    Two mechanisms: on Linux the kernel kills this process with SIGKILL when the parent *thread* that
    started it ends (so start it from a thread that outlives it, as
    :func:`~mlal_core.experiments.backends.run_local` does), and the children this process forks on
    its main thread get the same signal from it; everywhere, a daemon watchdog thread checks the
    parent every ``poll_s`` seconds and, once it is gone, kills this process's own children and
    ends it (``os._exit``).

    Parameters
    ----------
    parent_pid : int
        The process id of the parent, as the parent saw it (``os.getpid()`` there); if this process
        already has another parent (the parent died while it started), it ends now.
    death_signal : bool
        Use the kernel's parent-death signal where there is one (False: the watchdog only).
    poll_s : float
        Seconds between two checks of the watchdog.

    Returns
    -------
    bool
        True when the kernel signal is set, False when only the watchdog guards this process.
    """
    kernel = death_signal and _kernel_death_signal()
    if kernel and not _FORK_STATE["hooked"]:
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _FORK_STATE["hooked"] = True
    if not _parent_alive(parent_pid):  # died before the signal was set: nobody would send it
        _end_with_descendants()
    threading.Thread(target=_watch_parent, args=(parent_pid, poll_s), name="mlal-parent-watchdog",
                     daemon=True).start()
    return kernel


def init_worker(threads: int, env: dict | None, parent_pid: int | None = None, death_signal: bool = True) -> None:
    """Process-pool initializer: bound to the parent's life, environment first (before torch reads it),
    then torch threads.

    Parameters
    ----------
    threads : int
        Threads of this worker; also the default of the :data:`THREAD_VARS` not set in ``env``.
    env : dict or None
        Environment variables of the worker (see :func:`apply_env`).
    parent_pid : int or None
        The parent's process id: the worker ends when that process dies (:func:`exit_with_parent`).
        None: not bound.
    death_signal : bool
        Passed to :func:`exit_with_parent` (False: its watchdog only).
    """
    if parent_pid is not None:
        exit_with_parent(parent_pid, death_signal=death_signal)
    env = dict(env or {})
    for var in THREAD_VARS:
        env.setdefault(var, str(threads))
    apply_env(env)
    set_threads(threads)
    try:
        import torch

        torch.set_num_interop_threads(1)
    except RuntimeError:  # pragma: no cover - already set in this process
        pass


def load_dataset(name: str) -> Any:
    """A bundled dataset, loaded once per process (and data folder).

    Parameters
    ----------
    name : str
        Dataset name, as for :func:`mlal_core.data.load`.

    Returns
    -------
    Any
        The loaded dataset (cached: the same object on later calls).
    """
    key = (name, str(paths.data_dir()))
    if key not in _DATASETS:
        from mlal_core import data

        _DATASETS[key] = data.load(name)
    return _DATASETS[key]


def _features(ds: Any, name: str, rep: str, max_length: int) -> Any:
    """The features of a dataset, computed (or read from the cache) once per process and token length."""
    key = (name, str(paths.data_dir()), str(paths.cache_dir()), rep, max_length if rep in ("minilm", "tokens") else None)
    if key not in _FEATURES:
        from mlal_core import features

        _FEATURES[key] = features.featurize(ds, rep, max_length=max_length)
    return _FEATURES[key]


def _dataset_and_features(config: SessionConfig) -> tuple[Any, Any]:
    """The task's dataset and its features at the model's token length."""
    if config.dataset is None:
        raise MLALError("An experiment task's config names no dataset.")
    ds = load_dataset(config.dataset)
    return ds, _features(ds, config.dataset, config.representation,
                         config.feature_max_length(config.representation))


def _session_of_key(store_path: Path, key: str) -> tuple[str, str] | None:
    """(id, status) of the newest session of run ``key`` in a store file, a finished one first."""
    con = sqlite3.connect(store_path, timeout=60.0)
    try:
        row = con.execute(
            "SELECT id, status FROM sessions WHERE name LIKE ? ORDER BY (status = 'finished') DESC, created_at DESC",
            (f"run {key} %",),
        ).fetchone()
    finally:
        con.close()
    return None if row is None else (row[0], row[1])


def _execute_run(task: dict) -> dict:
    """Run (or resume) a run in its part file, holding the part file's lock throughout."""
    config = SessionConfig.from_json(task["config"])
    ds, feats = _dataset_and_features(config)
    part = Path(task["part"])
    with PartLock(part).acquire():  # a second writer of the same run waits for this one, then refuses
        return _execute_run_locked(task, config, ds, feats, part)


def _execute_run_locked(task: dict, config: SessionConfig, ds: Any, feats: Any, part: Path) -> dict:
    from mlal_core.session.loop import ActiveLearningSession, SessionBudgetWarning
    from mlal_core.session.store import SessionStore

    part.parent.mkdir(parents=True, exist_ok=True)
    store = SessionStore(part)
    found = _session_of_key(store.path, task["key"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SessionBudgetWarning)
        if found is None:
            session = ActiveLearningSession(config, dataset=ds, features=feats, store=store)
            resumed_at = 0
        else:
            session = ActiveLearningSession.resume(store, found[0], ds, features=feats)
            resumed_at = len(session.history)
    session.run()
    if not session.finished:  # pragma: no cover - run() only stops early when asked to
        raise MLALError(f"Run {task['key']} stopped before its end.")
    last = session.history[-1]
    out: dict[str, Any] = {
        "session_id": session.session_id,
        "records": len(session.history),
        "resumed_at": resumed_at,
        "final_metrics": {k: float(v) for k, v in last.metrics.items()},
        "final_n_labeled": int(last.n_labeled),
    }
    if task.get("return_bytes"):
        out["store_bytes"] = serialize_db(part)
    return out


def _execute_reference(task: dict) -> dict:
    from mlal_core.session import reference

    config = SessionConfig.from_json(task["config"])
    ds, feats = _dataset_and_features(config)
    return {"result": reference.full_data_score(config, ds, features=feats)}


def execute_task(task: dict) -> dict:
    """Run one task in this process.

    Parameters
    ----------
    task : dict
        ``kind`` (``"run"`` or ``"reference"``), ``key``, ``config`` (the session config as JSON);
        a run also has ``part`` (its part file) and ``return_bytes`` (send the part file back);
        optional ``env`` (environment variables) and ``threads``.

    Returns
    -------
    dict
        ``ok``, ``key``, ``kind``, ``seconds``, ``cpu_seconds``, ``started_at``, ``ended_at``,
        ``pid``; a run adds ``session_id``, ``records``, ``resumed_at``, ``final_metrics``,
        ``final_n_labeled`` (and ``store_bytes``), a reference adds ``result``. A failed task is
        not raised: ``ok`` is False with ``error`` and ``traceback``.
    """
    t0, c0, started = time.perf_counter(), time.process_time(), time.time()
    apply_env(task.get("env"))
    set_threads(task.get("threads"))
    try:
        out = _execute_reference(task) if task["kind"] == "reference" else _execute_run(task)
        out["ok"] = True
    except Exception as exc:  # noqa: BLE001 - reported to the parent, the other runs go on
        out = {"ok": False, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}",
               "traceback": traceback.format_exc()}
    out.update(key=task["key"], kind=task["kind"], seconds=time.perf_counter() - t0,
               cpu_seconds=time.process_time() - c0, started_at=started, ended_at=time.time(), pid=os.getpid())
    return out
