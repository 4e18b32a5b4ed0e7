"""Running an experiment: every unfinished run and full-data reference of a config, resumably.

:func:`run_experiment` plans the grid (:mod:`~mlal_core.experiments.planner`), takes the store's
lock (:mod:`~mlal_core.experiments.lock`), merges part files an interrupted call left
(:mod:`~mlal_core.experiments.parts`), skips what is finished, computes MiniLM features once per
(dataset, max length), hands the rest to a backend (:mod:`~mlal_core.experiments.backends`) and
records each finished task in the results tables (:mod:`~mlal_core.experiments.results`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlal_core import paths
from mlal_core.errors import ConfigError
from mlal_core.experiments import backends
from mlal_core.experiments.config import BACKENDS, ExperimentConfig, load_config
from mlal_core.experiments.lock import StoreLock
from mlal_core.experiments.parts import merge_finished_parts, merge_part, part_path
from mlal_core.experiments.planner import Plan, ReferenceSpec, RunSpec, finished_runs
from mlal_core.experiments.results import ResultsTables
from mlal_core.experiments.tasks import load_dataset
from mlal_core.validation import is_int

__all__ = ["ExperimentOutcome", "Progress", "run_experiment"]

#: ``progress(done, total, message)``
Progress = Callable[[int, int, str], None]


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = round(s)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


@dataclass(kw_only=True)
class ExperimentOutcome:
    """What one call of :func:`run_experiment` did.

    Attributes
    ----------
    name : str
        The experiment's name.
    store_path : Path
        The main store.
    backend : str
        ``"local"`` or ``"ray"``.
    workers, threads : int
        Parallel tasks and threads per task.
    total_runs, total_references : int
        The plan's size.
    already_done : int
        Runs and references already in the store when the call started.
    executed : list of dict
        The result of each task that finished and was merged (see
        :func:`~mlal_core.experiments.tasks.execute_task`).
    failed : list of dict
        ``key``, ``kind``, ``what``, ``error`` and ``traceback`` of each task that failed.
    not_started : int
        Tasks left for the next call by ``limit``.
    seconds : float
        The call's wall time.
    merged_on_start : int
        Sessions of part files left by an interrupted call, merged on start.
    """

    name: str
    store_path: Path
    backend: str
    workers: int
    threads: int
    total_runs: int
    total_references: int
    already_done: int
    executed: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    not_started: int = 0
    seconds: float = 0.0
    merged_on_start: int = 0

    @property
    def ok(self) -> bool:
        """True when no task failed."""
        return not self.failed

    @property
    def executed_runs(self) -> list[str]:
        """The keys of the runs executed (references left out)."""
        return [r["key"] for r in self.executed if r.get("kind") == "run"]

    def summary(self) -> str:
        """One line: what was executed, already done, failed and not started, in how long, where."""
        runs_done = sum(1 for r in self.executed if r.get("kind") == "run")
        refs_done = len(self.executed) - runs_done
        parts = [f"{runs_done} run(s) and {refs_done} reference(s) executed", f"{self.already_done} already done"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.not_started:
            parts.append(f"{self.not_started} not started (limit)")
        return (f"Experiment {self.name!r}: " + ", ".join(parts) + f" in {_fmt_seconds(self.seconds)} "
                f"({self.backend}, {self.workers} worker(s) x {self.threads} thread(s)); store {self.store_path}")


def run_experiment(
    config: ExperimentConfig | str | Path,
    *,
    backend: str | None = None,
    workers: int | None = None,
    threads_per_run: int | None = None,
    store: str | Path | None = None,
    ray_address: str | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> ExperimentOutcome:
    """Run every unfinished run (and full-data reference) of an experiment.

    Parameters
    ----------
    config : ExperimentConfig or str or Path
        The config or its file.
    backend, workers, threads_per_run, store, ray_address : optional
        Override the config's ``backend``, ``workers``, ``threads_per_run``, ``store`` and
        ``ray.address``.
    limit : int, optional
        Execute at most this many tasks, then stop (the rest stays pending for the next call).
    progress : callable, optional
        ``progress(done, total, message)``, called once before and after each finished task
        (``done`` counts runs and references already in the store).
    log : callable, optional
        ``log(line)``: one line per finished task with the elapsed time and the ETA.

    Returns
    -------
    ExperimentOutcome

    Raises
    ------
    ConfigError
        An invalid config, backend, ``limit`` or worker count, or another process working on the
        same store.
    """
    t_start = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    log = log or (lambda line: None)
    backend = backend or config.backend
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if limit is not None and (not is_int(limit) or limit < 0):
        raise ConfigError(f"limit must be a non-negative integer; got {limit!r}.")
    plan = config.plan()
    for w in plan.warnings:
        log(f"warning: {w}")

    store_path = Path(store).expanduser().resolve() if store is not None else config.store_path()
    settings = _Settings(backend=backend, workers=workers, threads_per_run=threads_per_run,
                         ray_address=ray_address, limit=limit)
    with StoreLock(store_path):
        return _Execution(plan, store_path, settings, progress=progress, log=log, t_start=t_start).run()


@dataclass(kw_only=True)
class _Settings:
    """The arguments of one :func:`run_experiment` call that override the config."""

    backend: str
    workers: int | None
    threads_per_run: int | None
    ray_address: str | None
    limit: int | None


class _Execution:
    """One call of :func:`run_experiment` with the store locked: merge, plan the tasks, dispatch, record."""

    def __init__(self, plan: Plan, store_path: Path, settings: _Settings, *, progress: Progress | None,
                 log: Callable[[str], None], t_start: float) -> None:
        from mlal_core.session.store import SessionStore

        self.plan, self.config, self.store_path, self.settings = plan, plan.config, store_path, settings
        self.progress, self.log, self.t_start = progress, log, t_start
        self.main = SessionStore(store_path)
        self.tables = ResultsTables(store_path)
        self.specs: dict[tuple[str, str], RunSpec | ReferenceSpec] = {}
        self.total = len(plan.runs) + len(plan.references)
        self.done = 0
        self.finished_here = 0
        self.n_tasks = 0
        self.t_dispatch = 0.0
        self.executed: list[dict] = []
        self.failed: list[dict] = []

    # ------------------------------------------------------------------ steps
    def run(self) -> ExperimentOutcome:
        config, settings = self.config, self.settings
        self.tables.record_experiment(config)
        # 1. part files finished by an earlier, interrupted call -> main store
        merged = merge_finished_parts(self.main, self.store_path)
        pending_runs, pending_refs = self._pending()
        already = self.total - len(pending_runs) - len(pending_refs)
        # 2. tasks (references first: they are the longest jobs), capped by ``limit``
        tasks = self._tasks(pending_runs, pending_refs)
        not_started = 0
        if settings.limit is not None and len(tasks) > settings.limit:
            not_started = len(tasks) - settings.limit
            tasks = tasks[:settings.limit]
        # 3. workers and threads
        started_ray, cpus, env = self._start_backend(tasks)
        try:
            n_workers, threads = self._workers_and_threads(cpus, len(tasks))
            outcome = ExperimentOutcome(
                name=config.name, store_path=self.store_path, backend=settings.backend, workers=n_workers,
                threads=threads, total_runs=len(self.plan.runs), total_references=len(self.plan.references),
                already_done=already, executed=self.executed, failed=self.failed, not_started=not_started,
                merged_on_start=merged,
            )
            self.log(f"experiment {config.name!r}: {len(self.plan.runs)} runs + {len(self.plan.references)} "
                     f"full-data references; {already} already done, {len(tasks)} to run on {settings.backend} "
                     f"with {n_workers} worker(s) x {threads} thread(s)")
            if self.progress is not None:
                self.progress(already, self.total, f"{already} of {self.total} done")
            if tasks:
                self._featurize_once(tasks)  # 4. features once per (dataset, representation) in the parent
                self._dispatch(tasks, n_workers, threads, env, already)
        finally:
            if started_ray:
                import ray

                ray.shutdown()
        outcome.seconds = time.perf_counter() - self.t_start
        return outcome

    def _pending(self) -> tuple[list[RunSpec], list[ReferenceSpec]]:
        """The runs and references not finished yet; the finished runs' rows are (re)recorded."""
        config, plan = self.config, self.plan
        planned = {r.key: r for r in plan.runs}
        self.tables.prune_runs(config.name, set(planned))
        done_keys = finished_runs(self.store_path)
        for key, sid in done_keys.items():
            if key in planned:
                self.tables.record_run(config.name, planned[key], sid, None, self.settings.backend)
        done_refs = self.tables.reference_keys() if config.reference else set()
        # seed-major order: an experiment stopped early leaves whole seeds (every dataset and strategy)
        # rather than whole datasets, so the finished part can already be compared
        pending_runs = sorted((r for r in plan.runs if r.key not in done_keys),
                              key=lambda r: config.seeds.index(r.config.seed))
        pending_refs = [f for f in plan.references if f.key not in done_refs]
        return pending_runs, pending_refs

    def _tasks(self, pending_runs: list[RunSpec], pending_refs: list[ReferenceSpec]) -> list[dict]:
        remote = self.settings.backend == "ray" and bool(self.settings.ray_address or self.config.ray.get("address"))
        tasks: list[dict] = []
        for f in pending_refs:
            tasks.append({"kind": "reference", "key": f.key, "config": f.config.to_json()})
            self.specs[("reference", f.key)] = f
        for r in pending_runs:
            tasks.append({"kind": "run", "key": r.key, "config": r.config.to_json(),
                          "part": str(part_path(self.store_path, r.key)), "return_bytes": remote})
            self.specs[("run", r.key)] = r
        return tasks

    def _start_backend(self, tasks: list[dict]) -> tuple[bool, int, dict]:
        """(Ray started here, CPUs available, the workers' environment)."""
        env: dict[str, Any] = {"MLAL_HOME": str(paths.home_dir()), "MLAL_DATA_DIR": os.environ.get("MLAL_DATA_DIR")}
        if self.settings.backend != "ray" or not tasks:
            return False, backends.machine_cpus(), env
        ray_cfg = dict(self.config.ray)
        if self.settings.ray_address:
            ray_cfg["address"] = self.settings.ray_address
        started = backends.ray_start(ray_cfg, self.log)
        cpus = backends.ray_cpus()
        if ray_cfg.get("address") and ray_cfg.get("env") is None:
            env = {}  # cluster nodes keep their own MLAL_HOME / data folder
        env.update(ray_cfg.get("env") or {})
        return started, cpus, env

    def _workers_and_threads(self, cpus: int, n_tasks: int) -> tuple[int, int]:
        settings, config = self.settings, self.config
        n_workers = settings.workers if settings.workers is not None else (
            config.workers if config.workers is not None else cpus)
        if n_workers < 0:
            raise ConfigError(f"workers must be 0 (run in this process) or more; got {n_workers}.")
        if settings.backend == "ray" and n_workers == 0:
            raise ConfigError("workers = 0 (in this process) is for the local backend; give Ray 1 or more workers.")
        if n_workers > 0 and n_tasks:
            n_workers = min(n_workers, n_tasks)
        threads = settings.threads_per_run or config.threads_per_run or max(1, cpus // max(1, n_workers))
        return n_workers, threads

    def _featurize_once(self, tasks: list[dict]) -> None:
        """MiniLM features of each (dataset, max length) the tasks need, computed here and cached on disk."""
        task_specs = [self.specs[(t["kind"], t["key"])] for t in tasks]
        need_minilm = sorted({(s.config.dataset, s.config.max_length) for s in task_specs
                              if s.config.representation == "minilm" and s.config.dataset is not None})
        for dname, max_length in need_minilm:
            from mlal_core import features

            self.log(f"features: {dname} / minilm (max_length {max_length}), computed once and cached")
            features.featurize(load_dataset(dname), "minilm", max_length=max_length)

    def _dispatch(self, tasks: list[dict], n_workers: int, threads: int, env: dict, already: int) -> None:
        for t in tasks:
            t["env"] = env
            t["threads"] = threads
        self.done, self.n_tasks, self.t_dispatch = already, len(tasks), time.perf_counter()
        if self.settings.backend == "local" and n_workers == 0:
            # in this process, one after the other (debugging; threads left as they are)
            backends.run_in_process(tasks, self.settings.threads_per_run or self.config.threads_per_run,
                                    self._on_done)
        elif self.settings.backend == "local":
            backends.run_local(tasks, n_workers, threads, env, self._on_done)
        else:
            backends.run_ray(tasks, n_workers, threads, self._on_done)

    # ------------------------------------------------------------------ each finished task
    def _on_done(self, task: dict, res: dict) -> None:
        spec = self.specs[(task["kind"], task["key"])]
        self.finished_here += 1
        if res.get("ok"):
            res = self._record(task, spec, res)
        if not res.get("ok"):
            self.failed.append({"key": task["key"], "kind": task["kind"], "what": spec.describe(),
                                "error": res.get("error"), "traceback": res.get("traceback")})
        self.done += 1
        self._report(task, spec, res)

    def _record(self, task: dict, spec: RunSpec | ReferenceSpec, res: dict) -> dict:
        """Merge a finished run's part file into the main store and record it (a reference: its scores)."""
        try:
            if isinstance(spec, RunSpec):
                # under the part file's lock: a worker that outlived an earlier parent cannot write it meanwhile
                merge_part(self.main, Path(task["part"]), res["session_id"], data=res.pop("store_bytes", None))
                self.tables.record_run(self.config.name, spec, res["session_id"], res.get("seconds"),
                                       self.settings.backend)
            else:
                self.tables.record_reference(spec, res["result"])
            self.executed.append({k: v for k, v in res.items() if k not in ("result", "traceback")})
        except Exception as exc:  # noqa: BLE001 - a merge failure is reported like a failed run
            res = {**res, "ok": False, "error": f"merging into the main store failed: {type(exc).__name__}: {exc}"}
        return res

    def _report(self, task: dict, spec: RunSpec | ReferenceSpec, res: dict) -> None:
        """The task's log line (status, time, elapsed, ETA) and a progress call."""
        elapsed = time.perf_counter() - self.t_dispatch
        eta = elapsed / self.finished_here * (self.n_tasks - self.finished_here)
        status = "ok" if res.get("ok") else f"FAILED ({res.get('error')})"
        extra = ""
        if res.get("ok") and task["kind"] == "run":
            f1 = res.get("final_metrics", {}).get("micro_f1", float("nan"))
            extra = f", final micro-F1 {f1:.4f}"
            if res.get("resumed_at"):
                extra += f", resumed at record {res['resumed_at']}"
        self.log(f"[{self.done}/{self.total}] {spec.describe()}: {status} in "
                 f"{_fmt_seconds(res.get('seconds', float('nan')))}{extra} | elapsed {_fmt_seconds(elapsed)}, "
                 f"ETA {_fmt_seconds(eta)}")
        if self.progress is not None:
            self.progress(self.done, self.total, f"{spec.describe()} {'done' if res.get('ok') else 'failed'}; "
                                                 f"ETA {_fmt_seconds(eta)}")
