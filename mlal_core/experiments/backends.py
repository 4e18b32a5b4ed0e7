"""Where the tasks of an experiment run: in this process, on a local process pool, or on Ray.

Each backend hands every task to :func:`mlal_core.experiments.tasks.execute_task` and calls
``on_done(task, result)`` in the parent as each one finishes (in the order they finish). A task
whose worker died comes back as a failed result. Ctrl-C or an error in the parent stops the
workers: a run cut short keeps its completed rounds in its part file.

If the parent dies without a chance to stop them (``kill -9``, a crash), the local pool's workers
end within a second (:func:`~mlal_core.experiments.tasks.exit_with_parent`: the kernel's
parent-death signal on Linux, a watchdog thread elsewhere). A local Ray started by
:func:`ray_start` shares its fate the same way (Ray starts its head processes with the
parent-death signal on Linux, or a reaper process elsewhere), and its workers end with it; tasks
on a cluster reached by ``address`` are Ray's to stop (the driver's death ends its job there).
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

from mlal_core import paths
from mlal_core.experiments.tasks import THREAD_VARS, apply_env, execute_task, init_worker

__all__ = ["OnDone", "machine_cpus", "parent_main_hidden", "ray_cpus", "ray_start", "run_in_process", "run_local",
           "run_ray"]

#: ``on_done(task, result)``: the parent's handler of each finished task
OnDone = Callable[[dict, dict], None]


def machine_cpus() -> int:
    """The CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _worker_died(task: dict, exc: BaseException, limit: int | None = None) -> dict:
    text = " ".join(str(exc).split())[:limit] if limit else str(exc)
    return {"ok": False, "key": task["key"], "kind": task["kind"], "seconds": float("nan"),
            "error": f"{type(exc).__name__}: {text}"}


def run_in_process(tasks: list[dict], threads: int | None, on_done: OnDone) -> None:
    """Run the tasks here, one after the other (``workers: 0``, for debugging).

    Parameters
    ----------
    tasks : list of dict
        The tasks, as handed to :func:`~mlal_core.experiments.tasks.execute_task`.
    threads : int or None
        Torch / BLAS threads of each task (None: left as they are).
    on_done : OnDone
        Called as ``on_done(task, result)`` after each task.
    """
    for t in tasks:
        on_done(t, execute_task({**t, "env": None, "threads": threads}))


@contextlib.contextmanager
def parent_main_hidden() -> Iterator[None]:
    """While the block runs, ``__main__`` is an empty module, so processes spawned in it do not re-run
    the parent's main script (multiprocessing's spawn re-imports ``__main__`` from its file).

    The workers run only ``mlal_core`` functions. In a Streamlit app, or a test process that ran a
    page, ``__main__`` is a page script: re-running it in a worker would draw a page with no session
    and kill the worker (the pool then fails every run with ``BrokenProcessPool``).

    Yields
    ------
    None
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def run_local(tasks: list[dict], workers: int, threads: int, env: dict, on_done: OnDone) -> None:
    """Run the tasks on a pool of ``workers`` spawned processes of ``threads`` threads each.

    Parameters
    ----------
    tasks : list of dict
        The tasks, as handed to :func:`~mlal_core.experiments.tasks.execute_task`.
    workers : int
        Number of worker processes.
    threads : int
        Torch / BLAS threads of each worker.
    env : dict
        Environment variables of the workers (``MLAL_HOME``, the data folder).
    on_done : OnDone
        Called in the parent as ``on_done(task, result)`` as each task finishes; a task whose
        worker died gets a failed result.

    Notes
    -----
    The workers are bound to this process and to the thread that calls this (it blocks until the
    pool is shut down): they end within a second when it dies, even by ``kill -9``.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # never fork a process that has torch threads running
    # spawned workers inherit this environment when they start: their BLAS / OpenMP pools are sized
    # by it before anything is imported (the initializer is too late for numpy, which it imports)
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    os.environ.update({v: str(threads) for v in THREAD_VARS})
    # the workers end with this process, however it ends (kill -9 too): orphans would take the queued runs
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                               initargs=(threads, env, os.getpid()))
    try:
        with parent_main_hidden():  # the workers start during the submits
            futures = {pool.submit(execute_task, t): t for t in tasks}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                task = futures[f]
                try:
                    res = f.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    res = _worker_died(task, exc)
                on_done(task, res)
    except BaseException:
        # Ctrl-C or an error in the parent: drop the queued runs and stop the workers now (otherwise
        # they would go on with the runs already handed to them); a run cut short keeps its
        # completed rounds in its part file and continues from there next time
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            if proc.is_alive():
                proc.terminate()
        raise
    finally:
        apply_env(saved)
    pool.shutdown(wait=True)


def _ray_task_factory(ray, threads: int, repo_root: str):
    # A closure, so cloudpickle ships it by value: workers need not import this module by name first.
    @ray.remote(num_cpus=threads, max_retries=0)
    def mlal_experiment_task(task):
        import sys as _sys

        if repo_root not in _sys.path:
            _sys.path.insert(0, repo_root)
        from mlal_core.experiments import execute_task as _execute

        return _execute(task)

    return mlal_experiment_task


def ray_start(ray_cfg: dict, log: Callable[[str], None]) -> bool:
    """Connect to (``ray_cfg["address"]``) or start (``num_cpus``) Ray unless it is already running.

    Parameters
    ----------
    ray_cfg : dict
        The ``ray`` settings: ``address`` of a cluster to connect to, else ``num_cpus`` of a local
        Ray to start (None: all).
    log : callable
        Receives a progress message (``str``) when connecting to a cluster.

    Returns
    -------
    bool
        True when this call started or connected it (the caller shuts it down).
    """
    import ray

    if ray.is_initialized():
        return False
    address = ray_cfg.get("address")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    if address:
        log(f"connecting to the Ray cluster at {address}")
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=ray_cfg.get("num_cpus"), **kwargs)
    return True


def ray_cpus() -> int:
    """The CPUs of the Ray cluster this process is connected to."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_ray(tasks: list[dict], workers: int, threads: int, on_done: OnDone) -> None:
    """Run the tasks on Ray, at most ``workers`` at a time, each reserving ``threads`` CPUs.

    Parameters
    ----------
    tasks : list of dict
        The tasks, as handed to :func:`~mlal_core.experiments.tasks.execute_task`.
    workers : int
        Most tasks in flight at once.
    threads : int
        CPUs each task reserves (``num_cpus`` of the remote function).
    on_done : OnDone
        Called in the parent as ``on_done(task, result)`` as each task finishes; a task whose
        worker died gets a failed result. On an error or Ctrl-C the tasks in flight are cancelled.
    """
    import ray

    remote = _ray_task_factory(ray, threads, str(paths.REPO_ROOT))
    queue = list(tasks)
    inflight: dict = {}

    def refill() -> None:
        while queue and len(inflight) < workers:
            t = queue.pop(0)
            inflight[remote.remote(t)] = t

    try:
        while queue or inflight:
            refill()
            done, _ = ray.wait(list(inflight), num_returns=1)
            finished = [(ref, inflight.pop(ref)) for ref in done]
            refill()  # first: workers never wait on the merge
            for ref, task in finished:
                try:
                    res = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a worker that died
                    res = _worker_died(task, exc, limit=500)
                on_done(task, res)
    except BaseException:
        for ref in inflight:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110 - best effort: the task may have finished
                pass
        raise
