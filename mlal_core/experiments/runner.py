"""Batch experiments: datasets x strategies x seeds x representations x models x budgets.

``python -m mlal_core experiment CONFIG`` (or :func:`run_experiment`) runs every combination of a
config file (YAML or TOML) as one active-learning session each, on a local process pool
(``backend: local``, the default) or on Ray (``backend: ray``: an existing cluster by ``address``,
or a local one it starts), and stores them in one SQLite session store.

Config file (every key but ``name``, ``datasets`` and ``strategies`` is optional)::

    name: smoke                       # the experiment's name in the store
    description: a tiny grid
    store: ../runs/smoke.sqlite       # relative paths are relative to the config file's folder
                                      # (default: $MLAL_HOME/experiments/<name>.sqlite)
    backend: local                    # local | ray
    workers: auto                     # parallel runs (auto: local = CPU count, ray = cluster CPUs;
                                      # 0: local, in this process, one run after the other)
    threads_per_run: auto             # torch threads of a run (auto: max(1, CPUs // workers))
    ray: {address: null, num_cpus: null}   # null address: start a local Ray with num_cpus CPUs
    datasets:                         # bundled names, or mappings with per-dataset overrides of
      - reuters21578                  # representations, initial_size, query_size, rounds,
      - {name: goemotions, candidate_subset: 2000}   # candidate_subset, initial_method (and a label)
    representations: [minilm]         # auto | minilm | tfidf | raw (default [auto])
    max_length: 128
    models:                           # default: one mlp_ensemble with the session defaults
      - {label: mlp5, name: mlp_ensemble, params: {n_members: 5}}
    strategies:                       # names, or mappings {name, params, label, model_params}
      - random
      - {name: crab, params: {alpha: 0.1}}
    seeds: 5                          # a count (0..n-1) or a list
    initial_size: 100                 # each of these three may be a list (a grid axis)
    query_size: 50
    rounds: 10
    initial_method: random
    candidate_subset: null
    reference: true                   # full-data score per (dataset, representation, model, seed)
    analysis: {metrics: [micro_f1, macro_f1, p@1, p@3], baseline: random,
               reach_fractions: [1.0, 0.95, 0.9], test: auto, alpha: 0.05}

The whole config is validated before anything runs; every problem is listed with what to fix.

Runs and resume
---------------
Each run has a deterministic **run key**: a hash of its normalised ``SessionConfig`` (dataset,
representation, max length, model and its resolved parameters, strategy and its resolved
parameters, budget, initial method, candidate subset, seed) and the dataset's content hash. The
session is named ``run <key> | <dataset> | <strategy> | seed <s>``. A run whose key has a
``finished`` session in the store is skipped, so an interrupted experiment continues where it
stopped, and experiments that share runs (same store) share their results.

Each run writes to its **own** store file, ``<store>.parts/<key>.sqlite`` (one writer per file:
parallel workers never wait on a SQLite lock). When the run finishes, the parent process copies it
into the main store (:mod:`mlal_core.session.store_merge`) and deletes the part file; a part file left by an
interrupted run is resumed round by round (the session is deterministic, so the result equals an
uninterrupted run), and a finished one left by an interrupted parent is merged on the next start.
On Ray clusters reached by ``address`` the part file's bytes travel back with the result.

Only one ``experiment`` process may work on a store at a time (a lock file ``<store>.lock``; a
second one stops with a message). Ctrl-C stops the parent and its workers: finished runs are in
the store, a run cut short keeps its completed rounds in its part file.

Features of each (dataset, representation) are computed once in the parent before dispatch
(MiniLM embeddings are cached on disk by :func:`mlal_core.features.featurize`); workers read the
cache. Each worker sets ``torch.set_num_threads(threads_per_run)``.

The experiment's own bookkeeping lives in three extra tables of the main store file, which the
session store itself ignores: ``exp_experiments`` (name, config), ``exp_runs`` (experiment, run
key, session id, dataset / strategy / model labels, seed, pool size, seconds) and
``exp_references`` (full-data scores). :func:`load_results` reads them back as data frames for
:mod:`mlal_core.experiments.analysis`.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import os
import re
import sqlite3
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from mlal_core import paths
from mlal_core.errors import ConfigError, MLALError
from mlal_core.session.config import INITIAL_METHODS, MODELS, REPRESENTATIONS, SessionConfig

__all__ = [
    "BACKENDS",
    "DEFAULT_ANALYSIS",
    "ExperimentConfig",
    "ExperimentOutcome",
    "ExperimentResults",
    "Plan",
    "ReferenceSpec",
    "RunSpec",
    "execute_task",
    "load_config",
    "load_results",
    "run_experiment",
    "run_key",
]

BACKENDS = ("local", "ray")
KEY_VERSION = 1
TOP_KEYS = (
    "name", "description", "store", "backend", "workers", "threads_per_run", "ray", "datasets",
    "representations", "max_length", "models", "strategies", "seeds", "initial_size", "query_size", "rounds",
    "initial_method", "candidate_subset", "reference", "analysis",
)  # fmt: skip
DATASET_KEYS = ("name", "label", "representations", "initial_size", "query_size", "rounds", "candidate_subset",
                "initial_method")
STRATEGY_KEYS = ("name", "label", "params", "model_params")
MODEL_KEYS = ("name", "label", "params")
RAY_KEYS = ("address", "num_cpus", "env")
ANALYSIS_KEYS = ("metrics", "baseline", "reach_fractions", "test", "alpha", "reach_metrics")
TESTS = ("auto", "t", "wilcoxon")
DEFAULT_ANALYSIS: dict[str, Any] = {
    "metrics": ["micro_f1", "macro_f1", "p@1", "p@3"],
    "reach_metrics": ["micro_f1", "macro_f1"],
    "baseline": "random",
    "reach_fractions": [1.0, 0.95, 0.9],
    "test": "auto",
    "alpha": 0.05,
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_RUN_NAME_RE = re.compile(r"^run ([0-9a-f]{16})\b")

Progress = Callable[[int, int, str], None]


def _metric_names() -> list[str]:
    from mlal_core import metrics

    Y = np.array([[1, 0], [0, 1], [1, 1]])
    P = np.array([[0.9, 0.1], [0.2, 0.7], [0.6, 0.4]])
    return list(metrics.evaluate(Y, P, tuned_threshold=0.5))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _close(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=2, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _short_params(params: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(params.items()))


# ====================================================================== config
@dataclass
class DatasetSpec:
    name: str
    label: str
    overrides: dict = field(default_factory=dict)


@dataclass
class StrategySpec:
    name: str
    label: str
    params: dict = field(default_factory=dict)
    model_params: dict = field(default_factory=dict)


@dataclass
class ModelSpec:
    name: str
    label: str
    params: dict = field(default_factory=dict)


@dataclass
class ExperimentConfig:
    """A validated experiment config (see the module docstring). Build it with :func:`load_config`
    (a file) or :meth:`from_dict`."""

    name: str
    datasets: list[DatasetSpec]
    strategies: list[StrategySpec]
    models: list[ModelSpec]
    representations: list[str]
    seeds: list[int]
    initial_size: list[int]
    query_size: list[int]
    rounds: list[int]
    initial_method: str = "random"
    max_length: int = 128
    candidate_subset: int | None = None
    reference: bool = True
    store: Path | None = None
    backend: str = "local"
    workers: int | None = None
    threads_per_run: int | None = None
    ray: dict = field(default_factory=dict)
    analysis: dict = field(default_factory=lambda: dict(DEFAULT_ANALYSIS))
    description: str = ""
    source: Path | None = None
    raw: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | Path | None = None, source: str | Path | None = None) -> ExperimentConfig:
        """Parse and validate a config mapping; raise one ``ConfigError`` that lists every problem."""
        where = f" in {source}" if source else ""
        problems: list[str] = []
        if not isinstance(data, dict):
            raise ConfigError(f"An experiment config must be a mapping of keys to values{where}; got {type(data).__name__}.")
        for key in data:
            if key not in TOP_KEYS:
                problems.append(f"unknown key {key!r}{_close(key, TOP_KEYS)}; known keys: {', '.join(TOP_KEYS)}")

        name = data.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problems.append(f"'name' must be a name of letters, digits, '.', '_' or '-' (it names the experiment "
                            f"in the store); got {name!r}")
            name = "experiment"

        from mlal_core import data as data_mod
        from mlal_core import strategies as strat_mod

        # datasets
        datasets: list[DatasetSpec] = []
        raw_ds = data.get("datasets")
        known_ds = data_mod.available()
        if not isinstance(raw_ds, list) or not raw_ds:
            problems.append(f"'datasets' must be a non-empty list of bundled dataset names ({', '.join(known_ds)}) "
                            "or mappings {name: ..., label/initial_size/query_size/rounds/candidate_subset: ...}")
            raw_ds = []
        for i, entry in enumerate(raw_ds):
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, dict):
                problems.append(f"datasets[{i}] must be a name or a mapping; got {entry!r}")
                continue
            bad = [k for k in entry if k not in DATASET_KEYS]
            for k in bad:
                problems.append(f"datasets[{i}]: unknown key {k!r}{_close(k, DATASET_KEYS)}; known: {', '.join(DATASET_KEYS)}")
            dname = entry.get("name")
            if not isinstance(dname, str) or dname not in known_ds:
                problems.append(f"datasets[{i}]: unknown dataset {dname!r}{_close(str(dname), known_ds)}; "
                                f"bundled datasets: {', '.join(known_ds)}")
                continue
            overrides = {k: entry[k] for k in DATASET_KEYS if k in entry and k not in ("name", "label")}
            if isinstance(overrides.get("representations"), str):
                overrides["representations"] = [overrides["representations"]]
            for k, v in overrides.items():
                if k == "representations":
                    if not isinstance(v, list) or not v or any(r not in REPRESENTATIONS for r in v):
                        problems.append(f"datasets[{i}].representations must be a non-empty list of "
                                        f"{list(REPRESENTATIONS)}; got {v!r}")
                elif k == "initial_method":
                    if v not in INITIAL_METHODS:
                        problems.append(f"datasets[{i}].initial_method must be one of {list(INITIAL_METHODS)}; got {v!r}")
                elif k == "candidate_subset":
                    if v is not None and (not _is_int(v) or v < 1):
                        problems.append(f"datasets[{i}].candidate_subset must be a positive integer or null; got {v!r}")
                elif not _is_int(v) or v < (0 if k == "rounds" else 1):
                    problems.append(f"datasets[{i}].{k} must be an integer >= {0 if k == 'rounds' else 1}; got {v!r}")
            label = entry.get("label", dname)
            if not isinstance(label, str) or not label:
                problems.append(f"datasets[{i}].label must be a non-empty string; got {label!r}")
                label = dname
            datasets.append(DatasetSpec(dname, label, overrides))
        _check_unique([d.label for d in datasets], "dataset label", problems)

        # strategies
        strategies: list[StrategySpec] = []
        raw_st = data.get("strategies")
        known_st = [s.name for s in strat_mod.available()]
        if not isinstance(raw_st, list) or not raw_st:
            problems.append(f"'strategies' must be a non-empty list of strategy names ({', '.join(known_st)}) "
                            "or mappings {name, params, label, model_params}")
            raw_st = []
        for i, entry in enumerate(raw_st):
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, dict):
                problems.append(f"strategies[{i}] must be a name or a mapping; got {entry!r}")
                continue
            for k in entry:
                if k not in STRATEGY_KEYS:
                    problems.append(f"strategies[{i}]: unknown key {k!r}{_close(k, STRATEGY_KEYS)}; known: {', '.join(STRATEGY_KEYS)}")
            sname = entry.get("name")
            if not isinstance(sname, str) or sname not in known_st:
                problems.append(f"strategies[{i}]: unknown strategy {sname!r}{_close(str(sname), known_st)}; "
                                f"registered: {', '.join(known_st)}")
                continue
            params = entry.get("params") or {}
            mparams = entry.get("model_params") or {}
            if not isinstance(params, dict) or not isinstance(mparams, dict):
                problems.append(f"strategies[{i}] ({sname}): 'params' and 'model_params' must be mappings")
                continue
            try:
                strat_mod.get(sname, **params)
            except (MLALError, TypeError, ValueError) as exc:
                problems.append(f"strategies[{i}] ({sname}): {exc}")
                continue
            info = strat_mod.info(sname)
            resolved = {p.name: p.default for p in info.params}
            resolved.update(params)
            default_label = sname + (f"({_short_params(params)})" if params else "")
            label = entry.get("label", default_label)
            if not isinstance(label, str) or not label:
                problems.append(f"strategies[{i}].label must be a non-empty string; got {label!r}")
                label = default_label
            strategies.append(StrategySpec(sname, label, resolved, dict(mparams)))
        _check_unique([s.label for s in strategies], "strategy label", problems,
                      hint="give repeated strategies different 'label's")

        # models
        models: list[ModelSpec] = []
        raw_models = data.get("models", [{"name": "mlp_ensemble"}])
        if isinstance(raw_models, (str, dict)):
            raw_models = [raw_models]
        if not isinstance(raw_models, list) or not raw_models:
            problems.append("'models' must be a non-empty list of mappings {name: mlp_ensemble, params: {...}, label: ...}")
            raw_models = []
        for i, entry in enumerate(raw_models):
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, dict):
                problems.append(f"models[{i}] must be a name or a mapping; got {entry!r}")
                continue
            for k in entry:
                if k not in MODEL_KEYS:
                    problems.append(f"models[{i}]: unknown key {k!r}{_close(k, MODEL_KEYS)}; known: {', '.join(MODEL_KEYS)}")
            mname = entry.get("name", "mlp_ensemble")
            if mname not in MODELS:
                problems.append(f"models[{i}]: unknown model {mname!r}{_close(str(mname), MODELS)}; known: {', '.join(MODELS)}")
                continue
            params = entry.get("params") or {}
            if not isinstance(params, dict):
                problems.append(f"models[{i}].params must be a mapping; got {params!r}")
                continue
            msg = _check_model_params(mname, params)
            if msg:
                problems.append(f"models[{i}]: {msg}")
                continue
            default_label = mname if len(raw_models) == 1 else f"{mname}({_short_params(params)})"
            label = entry.get("label", default_label)
            if not isinstance(label, str) or not label:
                problems.append(f"models[{i}].label must be a non-empty string; got {label!r}")
                label = default_label
            models.append(ModelSpec(mname, label, dict(params)))
        _check_unique([m.label for m in models], "model label", problems)
        for s in strategies:
            if s.model_params:
                for m in models:
                    msg = _check_model_params(m.name, {**m.params, **s.model_params})
                    if msg:
                        problems.append(f"strategy {s.label!r} model_params: {msg}")

        # representations
        reps = data.get("representations", data.get("representation", ["auto"]))
        if isinstance(reps, str):
            reps = [reps]
        if not isinstance(reps, list) or not reps:
            problems.append(f"'representations' must be a non-empty list of {list(REPRESENTATIONS)}")
            reps = ["auto"]
        for r in reps:
            if r not in REPRESENTATIONS:
                problems.append(f"unknown representation {r!r}{_close(str(r), REPRESENTATIONS)}; known: {', '.join(REPRESENTATIONS)}")
        _check_unique(list(reps), "representation", problems)

        # seeds
        seeds = data.get("seeds", 1)
        if _is_int(seeds):
            if seeds < 1:
                problems.append(f"'seeds' as a count must be at least 1; got {seeds}")
                seeds = [0]
            else:
                seeds = list(range(seeds))
        elif isinstance(seeds, list) and seeds and all(_is_int(s) and s >= 0 for s in seeds):
            if len(set(seeds)) != len(seeds):
                problems.append(f"'seeds' has repeated values: {seeds}")
        else:
            problems.append(f"'seeds' must be a count (>= 1) or a non-empty list of non-negative integers; got {seeds!r}")
            seeds = [0]

        # budget axes
        axes: dict[str, list[int]] = {}
        for key, default, low in (("initial_size", 100, 1), ("query_size", 50, 1), ("rounds", 10, 0)):
            val = data.get(key, default)
            vals = val if isinstance(val, list) else [val]
            if not vals or not all(_is_int(v) and v >= low for v in vals):
                problems.append(f"{key!r} must be an integer >= {low} or a list of them; got {val!r}")
                vals = [default]
            axes[key] = list(vals)
        initial_method = data.get("initial_method", "random")
        if initial_method not in INITIAL_METHODS:
            problems.append(f"'initial_method' must be one of {list(INITIAL_METHODS)}; got {initial_method!r}")
        max_length = data.get("max_length", 128)
        if not _is_int(max_length) or max_length < 1:
            problems.append(f"'max_length' must be a positive integer; got {max_length!r}")
        candidate_subset = data.get("candidate_subset")
        if candidate_subset is not None and (not _is_int(candidate_subset) or candidate_subset < 1):
            problems.append(f"'candidate_subset' must be a positive integer or null; got {candidate_subset!r}")
        reference = data.get("reference", True)
        if not isinstance(reference, bool):
            problems.append(f"'reference' must be true or false; got {reference!r}")

        # execution
        backend = data.get("backend", "local")
        if backend not in BACKENDS:
            problems.append(f"'backend' must be one of {list(BACKENDS)}; got {backend!r}")
        workers = _auto_int(data.get("workers", "auto"), "workers", problems, low=0)
        threads = _auto_int(data.get("threads_per_run", "auto"), "threads_per_run", problems)
        ray_cfg = data.get("ray") or {}
        if not isinstance(ray_cfg, dict):
            problems.append(f"'ray' must be a mapping {{address, num_cpus, env}}; got {ray_cfg!r}")
            ray_cfg = {}
        for k in ray_cfg:
            if k not in RAY_KEYS:
                problems.append(f"ray: unknown key {k!r}{_close(k, RAY_KEYS)}; known: {', '.join(RAY_KEYS)}")
        if ray_cfg.get("address") is not None and not isinstance(ray_cfg.get("address"), str):
            problems.append(f"ray.address must be a string ('auto', 'ray://host:10001', 'host:6379') or null; "
                            f"got {ray_cfg.get('address')!r}")
        if ray_cfg.get("num_cpus") is not None and (not _is_int(ray_cfg["num_cpus"]) or ray_cfg["num_cpus"] < 1):
            problems.append(f"ray.num_cpus must be a positive integer or null; got {ray_cfg.get('num_cpus')!r}")
        if ray_cfg.get("env") is not None and not isinstance(ray_cfg.get("env"), dict):
            problems.append("ray.env must be a mapping of environment variables")

        # store
        store = data.get("store")
        store_path = None
        if store is not None:
            if not isinstance(store, str) or not store:
                problems.append(f"'store' must be a path; got {store!r}")
            else:
                store_path = Path(store).expanduser()
                if not store_path.is_absolute() and base_dir is not None:
                    store_path = (Path(base_dir) / store_path).resolve()

        # analysis
        analysis = dict(DEFAULT_ANALYSIS)
        raw_an = data.get("analysis") or {}
        if not isinstance(raw_an, dict):
            problems.append(f"'analysis' must be a mapping; got {raw_an!r}")
            raw_an = {}
        for k in raw_an:
            if k not in ANALYSIS_KEYS:
                problems.append(f"analysis: unknown key {k!r}{_close(k, ANALYSIS_KEYS)}; known: {', '.join(ANALYSIS_KEYS)}")
        analysis.update({k: v for k, v in raw_an.items() if k in ANALYSIS_KEYS})
        known_metrics = _metric_names()
        for key in ("metrics", "reach_metrics"):
            ms = analysis[key]
            if not isinstance(ms, list) or not ms or any(m not in known_metrics for m in ms):
                bad = [m for m in (ms if isinstance(ms, list) else [ms]) if m not in known_metrics]
                problems.append(f"analysis.{key} must be a non-empty list of metric names; unknown: {bad}; "
                                f"known: {', '.join(known_metrics)}")
        labels = [s.label for s in strategies]
        if "baseline" not in raw_an and labels and analysis["baseline"] not in labels:
            analysis["baseline"] = labels[0]  # the default 'random' is not in the grid: compare with the first
        if analysis["baseline"] not in labels and strategies:
            problems.append(f"analysis.baseline {analysis['baseline']!r} is not one of the strategy labels "
                            f"({', '.join(s.label for s in strategies)})")
        fr = analysis["reach_fractions"]
        if not isinstance(fr, list) or not fr or not all(isinstance(f, (int, float)) and 0 < f <= 1.5 for f in fr):
            problems.append(f"analysis.reach_fractions must be a list of numbers in (0, 1.5]; got {fr!r}")
        if analysis["test"] not in TESTS:
            problems.append(f"analysis.test must be one of {list(TESTS)}; got {analysis['test']!r}")
        a = analysis["alpha"]
        if not isinstance(a, (int, float)) or not 0 < a < 1:
            problems.append(f"analysis.alpha must be in (0, 1); got {a!r}")

        description = data.get("description", "")
        if not isinstance(description, str):
            problems.append("'description' must be a string")
            description = str(description)

        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            raise ConfigError(f"{len(problems)} problem(s) in the experiment config{where}:\n{lines}")
        return cls(
            name=name, datasets=datasets, strategies=strategies, models=models, representations=list(reps),
            seeds=[int(s) for s in seeds], initial_size=axes["initial_size"], query_size=axes["query_size"],
            rounds=axes["rounds"], initial_method=initial_method, max_length=int(max_length),
            candidate_subset=candidate_subset, reference=reference, store=store_path, backend=backend,
            workers=workers, threads_per_run=threads, ray=dict(ray_cfg), analysis=analysis,
            description=description, source=Path(source) if source else None, raw=dict(data),
        )

    # ------------------------------------------------------------------ derived
    def store_path(self) -> Path:
        """The main store file (``store`` or ``$MLAL_HOME/experiments/<name>.sqlite``)."""
        return self.store if self.store is not None else paths.home_dir() / "experiments" / f"{self.name}.sqlite"

    def plan(self) -> Plan:
        """Load the datasets and expand the grid into runs (and full-data references); checks each
        run's budget against its pool and each representation against its dataset."""
        from mlal_core import data as data_mod
        from mlal_core.session import reference as ref_mod

        problems: list[str] = []
        budget_warnings: list[str] = []
        runs: list[RunSpec] = []
        refs: dict[str, ReferenceSpec] = {}
        ref_keys: dict[tuple, str] = {}
        for dspec in self.datasets:
            ds = data_mod.load(dspec.name)
            dhash = ds.content_hash()
            pool = len(ds.train)
            for rep_name in dspec.overrides.get("representations", self.representations):
                # the representation a model reads (the text backbones: token ids)
                model_reps: dict[str, str] = {}
                for mspec in self.models:
                    probe = SessionConfig(dataset=dspec.name, representation=rep_name, model=mspec.name)
                    try:
                        model_reps[mspec.label] = probe.resolve_representation(ds.kind)
                    except ConfigError as exc:
                        problems.append(f"dataset {dspec.label!r}, representation {rep_name!r}, model "
                                        f"{mspec.label!r}: {exc}")
                ov = dspec.overrides
                grid = itertools.product(
                    [m for m in self.models if m.label in model_reps],
                    [ov["initial_size"]] if "initial_size" in ov else self.initial_size,
                    [ov["query_size"]] if "query_size" in ov else self.query_size,
                    [ov["rounds"]] if "rounds" in ov else self.rounds,
                    self.strategies,
                    self.seeds,
                )
                for mspec, init, qs, rounds, sspec, seed in grid:
                    rep = model_reps[mspec.label]
                    cfg = SessionConfig(
                        dataset=dspec.name,
                        representation=rep,
                        max_length=self.max_length,
                        model=mspec.name,
                        model_params={**mspec.params, **sspec.model_params},
                        strategy=sspec.name,
                        strategy_params=dict(sspec.params),
                        initial_size=init,
                        initial_method=ov.get("initial_method", self.initial_method),
                        query_size=qs,
                        rounds=rounds,
                        seed=seed,
                        candidate_subset=ov.get("candidate_subset", self.candidate_subset),
                    )
                    cfg.model_params = cfg.resolved_model_params()
                    try:
                        found = cfg.validate(pool_size=pool, check_names=False)
                    except ConfigError as exc:
                        msg = f"{dspec.label} (initial {init}, {rounds} x {qs}): {exc}"
                        if msg not in problems:
                            problems.append(msg)
                        continue
                    for msg in found:
                        entry = f"{dspec.label} (initial {init}, {rounds} x {qs}): {msg}"
                        if entry not in budget_warnings:
                            budget_warnings.append(entry)
                    key = run_key(cfg, dhash)
                    cfg.name = f"run {key} | {dspec.label} | {sspec.label} | seed {seed}"
                    ref_key = None
                    if self.reference:
                        # mc_passes only changes the probability samples a strategy sees, not the
                        # model: runs whose strategy overrides it share the model's reference
                        base = SessionConfig(model=mspec.name, model_params=dict(mspec.params)).resolved_model_params()
                        ref_params = {**cfg.model_params, "mc_passes": base["mc_passes"]}
                        ref_cfg = SessionConfig(
                            dataset=dspec.name, representation=rep, max_length=self.max_length,
                            model=mspec.name, model_params=ref_params, seed=seed,
                        )
                        memo = (dspec.name, ref_cfg.to_json())
                        if memo not in ref_keys:  # content_hash() reads the whole dataset: once per reference
                            ref_keys[memo] = ref_mod.cache_key(ref_cfg, ds)
                        ref_key = ref_keys[memo]
                        if ref_key not in refs:
                            refs[ref_key] = ReferenceSpec(
                                key=ref_key, config=ref_cfg, dataset=dspec.label, representation=rep,
                                model=mspec.label, seed=seed, pool_size=pool,
                            )
                    runs.append(RunSpec(
                        key=key, config=cfg, dataset=dspec.label, strategy=sspec.label, model=mspec.label,
                        representation=rep, seed=seed, pool_size=pool, initial_size=init, query_size=qs,
                        rounds=rounds, candidate_subset=cfg.candidate_subset, reference_key=ref_key,
                    ))
        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            where = f" in {self.source}" if self.source else ""
            raise ConfigError(f"{len(problems)} problem(s) in the experiment grid{where}:\n{lines}")
        seen: dict[str, RunSpec] = {}
        for r in runs:
            if r.key in seen:
                o = seen[r.key]
                raise ConfigError(
                    f"Two grid entries describe the same run ({r.dataset} / {r.strategy} / seed {r.seed} and "
                    f"{o.dataset} / {o.strategy} / seed {o.seed}): remove the duplicate strategy, model or dataset."
                )
            seen[r.key] = r
        _assign_settings(runs)
        return Plan(self, runs, list(refs.values()), budget_warnings)


def _auto_int(value: Any, name: str, problems: list[str], low: int = 1) -> int | None:
    if value is None or value == "auto":
        return None
    if _is_int(value) and value >= low:
        return int(value)
    what = "a positive integer" if low == 1 else f"an integer >= {low}"
    problems.append(f"{name!r} must be 'auto' or {what}; got {value!r}")
    return None


def _check_unique(values: list[str], what: str, problems: list[str], hint: str = "") -> None:
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        problems.append(f"repeated {what}(s) {dup}" + (f": {hint}" if hint else ""))


def _check_model_params(model: str, params: dict) -> str | None:
    import inspect

    from mlal_core import models as models_mod

    cls = models_mod.MODELS[model]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "random_state")]
    unknown = [k for k in params if k not in allowed]
    if unknown:
        return (f"unknown parameter(s) of model {model!r}: "
                + ", ".join(f"{u!r}{_close(u, allowed)}" for u in unknown) + f"; known: {', '.join(allowed)}")
    try:
        models_mod.make_model(model, **params)._validate_params()
    except AttributeError:
        pass
    except (MLALError, TypeError, ValueError) as exc:
        return str(exc)
    return None


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment config file (``.yaml`` / ``.yml`` / ``.toml``; ``.json`` too)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"No experiment config at {path}.")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{path}: unknown config format {suffix!r}; use .yaml, .yml, .toml or .json.")
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - parser errors of three libraries
        raise ConfigError(f"{path} could not be parsed: {' '.join(str(exc).split())}") from None
    return ExperimentConfig.from_dict(data, base_dir=path.resolve().parent, source=path)


def run_key(config: SessionConfig, dataset_hash: str = "") -> str:
    """The run key: 16 hex digits of the sha256 of the config (without its name) and the data hash."""
    d = config.to_dict()
    d.pop("name", None)
    d["dataset_hash"] = dataset_hash
    d["key_version"] = KEY_VERSION
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ====================================================================== plan
@dataclass
class RunSpec:
    """One AL session of the grid."""

    key: str
    config: SessionConfig
    dataset: str
    strategy: str
    model: str
    representation: str
    seed: int
    pool_size: int
    initial_size: int
    query_size: int
    rounds: int
    candidate_subset: int | None = None
    reference_key: str | None = None
    setting: str = ""

    def describe(self) -> str:
        return f"{self.setting} | {self.strategy} | seed {self.seed}"


@dataclass
class ReferenceSpec:
    """One full-data reference model (shared by every strategy of a dataset / representation / model / seed)."""

    key: str
    config: SessionConfig
    dataset: str
    representation: str
    model: str
    seed: int
    pool_size: int

    def describe(self) -> str:
        return f"{self.dataset} | full-data reference ({self.representation}, {self.model}) | seed {self.seed}"


def _assign_settings(runs: list[RunSpec]) -> None:
    """``setting`` = the dataset label, plus the attributes that vary between runs of that dataset."""
    attrs = ("representation", "model", "initial_size", "query_size", "rounds", "candidate_subset")
    by_ds: dict[str, list[RunSpec]] = {}
    for r in runs:
        by_ds.setdefault(r.dataset, []).append(r)
    for ds, rs in by_ds.items():
        varying = [a for a in attrs if len({getattr(r, a) for r in rs}) > 1]
        for r in rs:
            extra = ", ".join(f"{a}={getattr(r, a)}" for a in varying)
            r.setting = ds + (f" ({extra})" if extra else "")


@dataclass
class Plan:
    config: ExperimentConfig
    runs: list[RunSpec]
    references: list[ReferenceSpec]
    warnings: list[str] = field(default_factory=list)

    def run(self, key: str) -> RunSpec:
        for r in self.runs:
            if r.key == key:
                return r
        raise KeyError(key)


# ====================================================================== bookkeeping tables
_TABLES = (
    """CREATE TABLE IF NOT EXISTS exp_experiments (
        name TEXT PRIMARY KEY, config_json TEXT NOT NULL, source TEXT, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS exp_runs (
        experiment TEXT NOT NULL, key TEXT NOT NULL, session_id TEXT, setting TEXT, dataset TEXT,
        dataset_name TEXT, representation TEXT, model TEXT, strategy TEXT, strategy_name TEXT,
        strategy_params_json TEXT, seed INTEGER, pool_size INTEGER, initial_size INTEGER, query_size INTEGER,
        rounds INTEGER, candidate_subset INTEGER, reference_key TEXT, seconds REAL, backend TEXT,
        finished_at TEXT, PRIMARY KEY (experiment, key))""",
    """CREATE TABLE IF NOT EXISTS exp_references (
        key TEXT PRIMARY KEY, dataset TEXT, representation TEXT, model TEXT, seed INTEGER, pool_size INTEGER,
        result_json TEXT NOT NULL, created_at TEXT NOT NULL)""",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _Tables:
    """The experiment tables inside the main store file (the parent process is their only writer)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with self._con() as con:
            for sql in _TABLES:
                con.execute(sql)

    def _con(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60.0)
        con.execute("PRAGMA foreign_keys=ON")
        return con

    def record_experiment(self, config: ExperimentConfig) -> None:
        now = _now()
        doc = json.dumps(config.raw, sort_keys=True, default=str)
        with self._con() as con:
            con.execute(
                "INSERT INTO exp_experiments (name, config_json, source, created_at, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET config_json = excluded.config_json, source = excluded.source, "
                "updated_at = excluded.updated_at",
                (config.name, doc, str(config.source) if config.source else None, now, now),
            )

    def record_run(self, experiment: str, spec: RunSpec, session_id: str, seconds: float | None, backend: str) -> None:
        with self._con() as con:
            con.execute(
                "INSERT INTO exp_runs (experiment, key, session_id, setting, dataset, dataset_name, representation, "
                "model, strategy, strategy_name, strategy_params_json, seed, pool_size, initial_size, query_size, "
                "rounds, candidate_subset, reference_key, seconds, backend, finished_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(experiment, key) DO UPDATE SET session_id = excluded.session_id, "
                "setting = excluded.setting, dataset = excluded.dataset, model = excluded.model, "
                "strategy = excluded.strategy, reference_key = excluded.reference_key, "
                "seconds = COALESCE(excluded.seconds, exp_runs.seconds), "
                "backend = COALESCE(excluded.backend, exp_runs.backend), "
                "finished_at = COALESCE(excluded.finished_at, exp_runs.finished_at)",
                (experiment, spec.key, session_id, spec.setting, spec.dataset, spec.config.dataset, spec.representation,
                 spec.model, spec.strategy, spec.config.strategy, json.dumps(spec.config.strategy_params, sort_keys=True),
                 spec.seed, spec.pool_size, spec.initial_size, spec.query_size, spec.rounds, spec.candidate_subset,
                 spec.reference_key, seconds, backend if seconds is not None else None,
                 _now() if seconds is not None else None),
            )

    def record_reference(self, spec: ReferenceSpec, result: dict) -> None:
        doc = {k: v for k, v in result.items() if k not in ("cached",)}
        doc["metrics"] = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                          for k, v in doc.get("metrics", {}).items()}
        with self._con() as con:
            con.execute(
                "INSERT INTO exp_references (key, dataset, representation, model, seed, pool_size, result_json, created_at) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET dataset = excluded.dataset, "
                "representation = excluded.representation, model = excluded.model, result_json = excluded.result_json",
                (spec.key, spec.dataset, spec.representation, spec.model, spec.seed, spec.pool_size,
                 json.dumps(doc, default=str, allow_nan=False), _now()),
            )

    def prune_runs(self, experiment: str, keys: set[str]) -> int:
        """Forget the experiment's rows of runs no longer in its grid (their sessions stay in the store)."""
        with self._con() as con:
            rows = con.execute("SELECT key FROM exp_runs WHERE experiment = ?", (experiment,)).fetchall()
            stale = [r[0] for r in rows if r[0] not in keys]
            con.executemany("DELETE FROM exp_runs WHERE experiment = ? AND key = ?", [(experiment, k) for k in stale])
        return len(stale)

    def reference_keys(self) -> set[str]:
        with self._con() as con:
            return {r[0] for r in con.execute("SELECT key FROM exp_references").fetchall()}


def _finished_sessions(store_path: Path) -> dict[str, str]:
    """run key -> id of a finished session with that key in the store."""
    con = sqlite3.connect(store_path, timeout=60.0)
    try:
        rows = con.execute(
            "SELECT id, name FROM sessions WHERE status = 'finished' AND name LIKE 'run %' ORDER BY created_at"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, str] = {}
    for sid, name in rows:
        m = _RUN_NAME_RE.match(name or "")
        if m and m.group(1) not in out:
            out[m.group(1)] = sid
    return out


def _session_of_key(store, key: str) -> tuple[str, str] | None:
    """(id, status) of the newest session of run ``key`` in ``store`` (a SessionStore)."""
    con = sqlite3.connect(store.path, timeout=60.0)
    try:
        row = con.execute(
            "SELECT id, status FROM sessions WHERE name LIKE ? ORDER BY (status = 'finished') DESC, created_at DESC",
            (f"run {key} %",),
        ).fetchone()
    finally:
        con.close()
    return None if row is None else (row[0], row[1])


class _StoreLock:
    """An exclusive lock on ``<store>.lock`` while an experiment runs on a store: a second
    ``experiment`` process on the same store would run the same runs twice."""

    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self.fh = None

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

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            import fcntl

            self.fh.seek(0)
            self.fh.truncate()
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


def _parts_dir(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".parts")


def _remove_db(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


# ====================================================================== worker side
_DATASETS: dict[str, Any] = {}
_FEATURES: dict[tuple, Any] = {}


def _apply_env(env: dict | None) -> None:
    for k, v in (env or {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = str(v)


_THREADS_SET: list[int] = []
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _set_threads(threads: int | None) -> None:
    """torch intra-op threads and the BLAS / OpenMP pools of numpy, scipy and scikit-learn
    (threadpoolctl): without the latter, two workers on two cores each run 2-thread BLAS calls and
    slow each other down."""
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


def _init_worker(threads: int, env: dict | None) -> None:
    """Process-pool initializer: environment first (before torch reads it), then torch threads."""
    env = dict(env or {})
    for var in _THREAD_VARS:
        env.setdefault(var, str(threads))
    _apply_env(env)
    _set_threads(threads)
    try:
        import torch

        torch.set_num_interop_threads(1)
    except RuntimeError:  # pragma: no cover - already set in this process
        pass


def _dataset(name: str):
    key = (name, str(paths.data_dir()))
    if key not in _DATASETS:
        from mlal_core import data

        _DATASETS[key] = data.load(name)
    return _DATASETS[key]


def _features(ds, name: str, rep: str, max_length: int):
    key = (name, str(paths.data_dir()), str(paths.cache_dir()), rep, max_length if rep in ("minilm", "tokens") else None)
    if key not in _FEATURES:
        from mlal_core import features

        _FEATURES[key] = features.featurize(ds, rep, max_length=max_length)
    return _FEATURES[key]


def _serialize_db(path: Path) -> bytes:
    con = sqlite3.connect(path)
    try:
        return con.serialize()
    finally:
        con.close()


def _execute_run(task: dict) -> dict:
    from mlal_core.session.loop import ActiveLearningSession, SessionBudgetWarning
    from mlal_core.session.store import SessionStore

    config = SessionConfig.from_json(task["config"])
    ds = _dataset(config.dataset)
    feats = _features(ds, config.dataset, config.representation, config.feature_max_length(config.representation))
    part = Path(task["part"])
    part.parent.mkdir(parents=True, exist_ok=True)
    store = SessionStore(part)
    found = _session_of_key(store, task["key"])
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
    out = {
        "session_id": session.session_id,
        "records": len(session.history),
        "resumed_at": resumed_at,
        "final_metrics": {k: float(v) for k, v in last.metrics.items()},
        "final_n_labeled": int(last.n_labeled),
    }
    if task.get("return_bytes"):
        out["store_bytes"] = _serialize_db(part)
    return out


def _execute_reference(task: dict) -> dict:
    from mlal_core.session import reference

    config = SessionConfig.from_json(task["config"])
    ds = _dataset(config.dataset)
    feats = _features(ds, config.dataset, config.representation, config.feature_max_length(config.representation))
    result = reference.full_data_score(config, ds, features=feats)
    return {"result": result}


def execute_task(task: dict) -> dict:
    """Run one task (``kind`` "run" or "reference") in this process; never raises for a failed run:
    the result has ``ok`` False and the error. Used by both backends."""
    t0, c0, started = time.perf_counter(), time.process_time(), time.time()
    _apply_env(task.get("env"))
    _set_threads(task.get("threads"))
    try:
        out = _execute_reference(task) if task["kind"] == "reference" else _execute_run(task)
        out["ok"] = True
    except Exception as exc:  # noqa: BLE001 - reported to the parent, the other runs go on
        out = {"ok": False, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}",
               "traceback": traceback.format_exc()}
    out.update(key=task["key"], kind=task["kind"], seconds=time.perf_counter() - t0,
               cpu_seconds=time.process_time() - c0, started_at=started, ended_at=time.time(), pid=os.getpid())
    return out


# ====================================================================== backends
def _machine_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _run_local(tasks: list[dict], workers: int, threads: int, env: dict, on_done: Callable[[dict, dict], None]) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # never fork a process that has torch threads running
    # spawned workers inherit this environment when they start: their BLAS / OpenMP pools are sized
    # by it before anything is imported (the initializer is too late for numpy, which it imports)
    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    os.environ.update({v: str(threads) for v in _THREAD_VARS})
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(threads, env))
    futures = {}
    try:
        for t in tasks:
            futures[pool.submit(execute_task, t)] = t
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                task = futures[f]
                try:
                    res = f.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    res = {"ok": False, "key": task["key"], "kind": task["kind"], "seconds": float("nan"),
                           "error": f"{type(exc).__name__}: {exc}"}
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
        _apply_env(saved)
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


def _ray_start(ray_cfg: dict, log: Callable[[str], None]) -> bool:
    """Connect to / start Ray unless it is already initialised; True when we started it."""
    import ray

    if ray.is_initialized():
        return False
    address = ray_cfg.get("address")
    kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    if address:
        log(f"connecting to the Ray cluster at {address}")
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=ray_cfg.get("num_cpus"), **kwargs)
    return True


def _ray_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _run_ray(tasks: list[dict], workers: int, threads: int, on_done: Callable[[dict, dict], None]) -> None:
    import ray

    remote = _ray_task_factory(ray, threads, str(paths.REPO_ROOT))
    queue = list(tasks)
    inflight: dict = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < workers:
                t = queue.pop(0)
                inflight[remote.remote(t)] = t
            done, _ = ray.wait(list(inflight), num_returns=1)
            finished = [(ref, inflight.pop(ref)) for ref in done]
            while queue and len(inflight) < workers:  # refill first: workers never wait on the merge
                t = queue.pop(0)
                inflight[remote.remote(t)] = t
            for ref, task in finished:
                try:
                    res = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a worker that died
                    res = {"ok": False, "key": task["key"], "kind": task["kind"], "seconds": float("nan"),
                           "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"}
                on_done(task, res)
    except BaseException:
        for ref in inflight:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110 - best effort: the task may have finished
                pass
        raise


# ====================================================================== the runner
@dataclass
class ExperimentOutcome:
    """What one call of :func:`run_experiment` did."""

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
        return not self.failed

    @property
    def executed_runs(self) -> list[str]:
        return [r["key"] for r in self.executed if r.get("kind") == "run"]

    def summary(self) -> str:
        runs_done = sum(1 for r in self.executed if r.get("kind") == "run")
        refs_done = len(self.executed) - runs_done
        parts = [f"{runs_done} run(s) and {refs_done} reference(s) executed", f"{self.already_done} already done"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.not_started:
            parts.append(f"{self.not_started} not started (limit)")
        return (f"Experiment {self.name!r}: " + ", ".join(parts) + f" in {_fmt_seconds(self.seconds)} "
                f"({self.backend}, {self.workers} worker(s) x {self.threads} thread(s)); store {self.store_path}")


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = round(s)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


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
    """Run every unfinished run (and full-data reference) of ``config``; see the module docstring.

    ``backend`` / ``workers`` / ``threads_per_run`` / ``store`` / ``ray_address`` override the
    config. ``limit``: execute at most this many tasks, then stop (the rest stays pending for the
    next call). ``progress(done, total, message)`` is called once before and after each finished
    task (``done`` counts runs and references already in the store); ``log(line)`` gets one line
    per finished task with the elapsed time and the ETA.
    """
    t_start = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    log = log or (lambda line: None)
    backend = backend or config.backend
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if limit is not None and (not _is_int(limit) or limit < 0):
        raise ConfigError(f"limit must be a non-negative integer; got {limit!r}.")
    plan = config.plan()
    for w in plan.warnings:
        log(f"warning: {w}")

    store_path = Path(store).expanduser().resolve() if store is not None else config.store_path()
    with _StoreLock(store_path):
        return _run_locked(config, plan, store_path, backend, workers, threads_per_run, ray_address, limit,
                           progress, log, t_start)


def _run_locked(config, plan, store_path, backend, workers, threads_per_run, ray_address, limit, progress, log,
                t_start) -> ExperimentOutcome:
    from mlal_core.session.store import SessionStore
    from mlal_core.session.store_merge import import_session, session_ids

    main = SessionStore(store_path)
    tables = _Tables(store_path)
    tables.record_experiment(config)
    parts = _parts_dir(store_path)

    # 1. part files finished by an earlier, interrupted call -> main store
    merged = 0
    planned = {r.key: r for r in plan.runs}
    if parts.is_dir():
        for part in sorted(parts.glob("*.sqlite")):
            key = part.stem
            try:
                finished = session_ids(part, status="finished")
            except sqlite3.Error:
                continue
            for sid in finished:
                if import_session(main, part, sid):
                    merged += 1
            if finished:
                _remove_db(part)
    tables.prune_runs(config.name, set(planned))
    done_keys = _finished_sessions(store_path)
    for key, sid in done_keys.items():
        if key in planned:
            tables.record_run(config.name, planned[key], sid, None, backend)
    done_refs = tables.reference_keys() if config.reference else set()

    # seed-major order: an experiment stopped early leaves whole seeds (every dataset and strategy)
    # rather than whole datasets, so the finished part can already be compared
    pending_runs = sorted((r for r in plan.runs if r.key not in done_keys), key=lambda r: config.seeds.index(r.config.seed))
    pending_refs = [f for f in plan.references if f.key not in done_refs]
    total = len(plan.runs) + len(plan.references)
    already = total - len(pending_runs) - len(pending_refs)

    # 2. tasks (references first: they are the longest jobs), capped by ``limit``
    env = {"MLAL_HOME": str(paths.home_dir()), "MLAL_DATA_DIR": os.environ.get("MLAL_DATA_DIR")}
    remote = backend == "ray" and bool(ray_address or config.ray.get("address"))
    tasks: list[dict] = []
    specs: dict[tuple[str, str], Any] = {}
    for f in pending_refs:
        tasks.append({"kind": "reference", "key": f.key, "config": f.config.to_json()})
        specs[("reference", f.key)] = f
    for r in pending_runs:
        tasks.append({"kind": "run", "key": r.key, "config": r.config.to_json(),
                      "part": str(parts / f"{r.key}.sqlite"), "return_bytes": remote})
        specs[("run", r.key)] = r
    not_started = 0
    if limit is not None and len(tasks) > limit:
        not_started = len(tasks) - limit
        tasks = tasks[:limit]

    # 3. workers and threads
    started_ray = False
    if backend == "ray" and tasks:
        ray_cfg = dict(config.ray)
        if ray_address:
            ray_cfg["address"] = ray_address
        started_ray = _ray_start(ray_cfg, log)
        cpus = _ray_cpus()
        if ray_cfg.get("address") and ray_cfg.get("env") is None:
            env = {}  # cluster nodes keep their own MLAL_HOME / data folder
        env.update(ray_cfg.get("env") or {})
    else:
        cpus = _machine_cpus()
    n_workers = workers if workers is not None else config.workers if config.workers is not None else cpus
    if n_workers < 0:
        raise ConfigError(f"workers must be 0 (run in this process) or more; got {n_workers}.")
    if backend == "ray" and n_workers == 0:
        raise ConfigError("workers = 0 (in this process) is for the local backend; give Ray 1 or more workers.")
    if n_workers > 0 and tasks:
        n_workers = min(n_workers, len(tasks))
    threads = threads_per_run or config.threads_per_run or max(1, cpus // max(1, n_workers))
    outcome = ExperimentOutcome(
        name=config.name, store_path=store_path, backend=backend, workers=n_workers, threads=threads,
        total_runs=len(plan.runs), total_references=len(plan.references), already_done=already,
        not_started=not_started, merged_on_start=merged,
    )
    log(f"experiment {config.name!r}: {len(plan.runs)} runs + {len(plan.references)} full-data references; "
        f"{already} already done, {len(tasks)} to run on {backend} with {n_workers} worker(s) x {threads} thread(s)")
    if progress is not None:
        progress(already, total, f"{already} of {total} done")
    if not tasks:
        outcome.seconds = time.perf_counter() - t_start
        return outcome

    # 4. features once per (dataset, representation) in the parent (MiniLM is cached on disk)
    task_specs = [specs[(t["kind"], t["key"])] for t in tasks]
    need_minilm = sorted({(s.config.dataset, s.config.max_length) for s in task_specs
                          if s.config.representation == "minilm"})
    for dname, max_length in need_minilm:
        from mlal_core import features

        log(f"features: {dname} / minilm (max_length {max_length}), computed once and cached")
        features.featurize(_dataset(dname), "minilm", max_length=max_length)

    for t in tasks:
        t["env"] = env
        t["threads"] = threads

    state = {"done": already, "t0": time.perf_counter(), "n": 0}

    def on_done(task: dict, res: dict) -> None:
        spec = specs[(task["kind"], task["key"])]
        state["n"] += 1
        if res.get("ok"):
            try:
                if task["kind"] == "run":
                    part = Path(task["part"])
                    if res.get("store_bytes") is not None:
                        _write_bytes_db(part, res.pop("store_bytes"))
                    import_session(main, part, res["session_id"])
                    _remove_db(part)
                    tables.record_run(config.name, spec, res["session_id"], res.get("seconds"), backend)
                else:
                    tables.record_reference(spec, res["result"])
                outcome.executed.append({k: v for k, v in res.items() if k not in ("result", "traceback")})
            except Exception as exc:  # noqa: BLE001 - a merge failure is reported like a failed run
                res = {**res, "ok": False, "error": f"merging into the main store failed: {type(exc).__name__}: {exc}"}
        if not res.get("ok"):
            outcome.failed.append({"key": task["key"], "kind": task["kind"], "what": spec.describe(),
                                   "error": res.get("error"), "traceback": res.get("traceback")})
        state["done"] += 1
        elapsed = time.perf_counter() - state["t0"]
        remaining = len(tasks) - state["n"]
        eta = elapsed / state["n"] * remaining
        status = "ok" if res.get("ok") else f"FAILED ({res.get('error')})"
        extra = ""
        if res.get("ok") and task["kind"] == "run":
            f1 = res.get("final_metrics", {}).get("micro_f1", float("nan"))
            extra = f", final micro-F1 {f1:.4f}"
            if res.get("resumed_at"):
                extra += f", resumed at record {res['resumed_at']}"
        line = (f"[{state['done']}/{total}] {spec.describe()}: {status} in {_fmt_seconds(res.get('seconds', float('nan')))}"
                f"{extra} | elapsed {_fmt_seconds(elapsed)}, ETA {_fmt_seconds(eta)}")
        log(line)
        if progress is not None:
            progress(state["done"], total, f"{spec.describe()} {'done' if res.get('ok') else 'failed'}; "
                                           f"ETA {_fmt_seconds(eta)}")

    try:
        if backend == "local" and n_workers == 0:
            for t in tasks:  # in this process, one after the other (debugging; threads left as they are)
                on_done(t, execute_task({**t, "env": None, "threads": threads_per_run or config.threads_per_run}))
        elif backend == "local":
            _run_local(tasks, n_workers, threads, env, on_done)
        else:
            _run_ray(tasks, n_workers, threads, on_done)
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    outcome.seconds = time.perf_counter() - t_start
    return outcome


def _write_bytes_db(part: Path, data: bytes) -> None:
    """Put a run's store received as bytes (``Connection.serialize``) in place as its part file."""
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp = part.with_name(part.name + ".recv")
    tmp.write_bytes(data)
    _remove_db(part)
    os.replace(tmp, part)


# ====================================================================== reading results back
@dataclass
class ExperimentResults:
    """An experiment's stored results as data frames (see :mod:`mlal_core.experiments.analysis`).

    ``runs``: one row per finished run (key, session_id, setting, dataset, representation, model,
    strategy, strategy_name, seed, pool_size, budget, seconds). ``rounds``: one row per (run,
    learning-curve point): the run columns plus ``round``, ``n_labeled``, ``labelled_fraction``,
    ``final``, the shared diagnostics (``mean_ir_selected``, ``hard_to_learn_count``,
    ``conflicting_count``, ...), ``n_selected``, every metric and ``time_*`` timings.
    ``references``: one row per full-data reference (dataset, representation, model, seed,
    pool_size, seconds and one column per metric). ``planned``: runs in the config (when known).
    """

    name: str
    runs: pd.DataFrame
    rounds: pd.DataFrame
    references: pd.DataFrame
    planned: int | None = None
    strategy_order: list[str] = field(default_factory=list)
    config: ExperimentConfig | None = None


def experiments_in_store(store: str | Path) -> list[str]:
    """Names of the experiments recorded in a store file."""
    path = Path(store)
    if not path.is_file():
        return []
    con = sqlite3.connect(path, timeout=60.0)
    try:
        try:
            rows = con.execute("SELECT name FROM exp_experiments ORDER BY updated_at DESC").fetchall()
        except sqlite3.OperationalError:
            return []
    finally:
        con.close()
    return [r[0] for r in rows]


def load_results(store: str | Path | None = None, experiment: str | None = None, *,
                 config: ExperimentConfig | str | Path | None = None) -> ExperimentResults:
    """The finished runs of an experiment, read from its store.

    With ``config`` (an ``ExperimentConfig`` or a file) the runs are exactly the config's grid
    (labels and settings from the config; the store defaults to the config's). Otherwise the
    ``exp_runs`` rows of ``experiment`` (default: the most recently updated experiment of the store).
    """
    plan = None
    if config is not None and not isinstance(config, ExperimentConfig):
        config = load_config(config)
    if config is not None:
        plan = config.plan()
        experiment = config.name
        store = store if store is not None else config.store_path()
    if store is None:
        raise ConfigError("load_results needs a store path or a config.")
    path = Path(store).expanduser()
    if not path.is_file():
        raise ConfigError(f"No experiment store at {path}; run the experiment first "
                          "(python -m mlal_core experiment CONFIG).")
    con = sqlite3.connect(path, timeout=60.0)
    con.row_factory = sqlite3.Row
    try:
        try:
            exp_rows = con.execute("SELECT * FROM exp_runs").fetchall()
            ref_rows = con.execute("SELECT * FROM exp_references").fetchall()
        except sqlite3.OperationalError:
            raise ConfigError(f"{path} holds no experiment (no exp_runs table).") from None
        if experiment is None:
            names = [r[0] for r in con.execute("SELECT name FROM exp_experiments ORDER BY updated_at DESC")]
            if not names:
                raise ConfigError(f"{path} holds no experiment.")
            experiment = names[0]
        status = {r["id"]: r["status"] for r in con.execute("SELECT id, status FROM sessions")}
        run_cols = ["key", "session_id", "setting", "dataset", "dataset_name", "representation", "model", "strategy",
                    "strategy_name", "seed", "pool_size", "initial_size", "query_size", "rounds", "candidate_subset",
                    "reference_key", "seconds", "backend"]
        if plan is not None:
            finished = _finished_sessions(path)
            rec = {r["key"]: r for r in exp_rows if r["experiment"] == experiment}
            rows = []
            for spec in plan.runs:
                sid = finished.get(spec.key)
                if sid is None:
                    continue
                rows.append({
                    "key": spec.key, "session_id": sid, "setting": spec.setting, "dataset": spec.dataset,
                    "dataset_name": spec.config.dataset, "representation": spec.representation, "model": spec.model,
                    "strategy": spec.strategy, "strategy_name": spec.config.strategy, "seed": spec.seed,
                    "pool_size": spec.pool_size, "initial_size": spec.initial_size, "query_size": spec.query_size,
                    "rounds": spec.rounds, "candidate_subset": spec.candidate_subset,
                    "reference_key": spec.reference_key,
                    "seconds": rec[spec.key]["seconds"] if spec.key in rec else None,
                    "backend": rec[spec.key]["backend"] if spec.key in rec else None,
                })
            runs = pd.DataFrame(rows, columns=run_cols)
            order = [s.label for s in config.strategies]
        else:
            rows = [{c: r[c] for c in run_cols} for r in exp_rows
                    if r["experiment"] == experiment and status.get(r["session_id"]) == "finished"]
            runs = pd.DataFrame(rows, columns=run_cols)
            order = list(pd.unique(runs["strategy"])) if len(runs) else []
        rounds = _rounds_of(con, runs)
        references = _references_frame(ref_rows, plan)
    finally:
        con.close()
    return ExperimentResults(name=experiment, runs=runs, rounds=rounds, references=references,
                             planned=len(plan.runs) if plan is not None else None, strategy_order=order,
                             config=config)


def _rounds_of(con: sqlite3.Connection, runs: pd.DataFrame) -> pd.DataFrame:
    frames = []
    by_sid = {r["session_id"]: r for r in runs.to_dict("records")}
    ids = list(by_sid)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        q = ("SELECT session_id, round, n_labeled, metrics_json, shared_diag_json, timings_json, "
             "selected_json IS NULL AS final, CASE WHEN selected_json IS NULL THEN 0 ELSE "
             "json_array_length(selected_json) END AS n_selected FROM rounds WHERE session_id IN "
             f"({','.join('?' * len(chunk))}) ORDER BY session_id, round")
        rows = con.execute(q, chunk).fetchall()
        recs = []
        for r in rows:
            run = by_sid[r["session_id"]]
            rec = {k: run[k] for k in ("key", "session_id", "setting", "dataset", "representation", "model", "strategy",
                                       "strategy_name", "seed", "pool_size")}
            rec.update(round=int(r["round"]), n_labeled=int(r["n_labeled"]), final=bool(r["final"]),
                       n_selected=int(r["n_selected"]))
            rec["labelled_fraction"] = rec["n_labeled"] / run["pool_size"] if run["pool_size"] else float("nan")
            shared = json.loads(r["shared_diag_json"])
            rec.update({k: (float("nan") if v is None else v) for k, v in shared.items()})
            rec.update(json.loads(r["metrics_json"]))
            rec.update({f"time_{k}": v for k, v in json.loads(r["timings_json"]).items()})
            recs.append(rec)
        frames.append(pd.DataFrame(recs))
    if not frames or all(f.empty for f in frames):
        return pd.DataFrame(columns=["key", "session_id", "setting", "dataset", "representation", "model", "strategy",
                                     "strategy_name", "seed", "pool_size", "round", "n_labeled", "final", "n_selected",
                                     "labelled_fraction"])
    out = pd.concat(frames, ignore_index=True)
    order = {k: i for i, k in enumerate(runs["key"])}
    out = out.assign(_o=out["key"].map(order)).sort_values(["_o", "round"], kind="stable")
    out = out.drop(columns="_o").reset_index(drop=True)
    for col in ("mean_ir_selected", "label_coverage"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce")
    return out


def _references_frame(rows, plan: Plan | None) -> pd.DataFrame:
    labels = {f.key: f for f in plan.references} if plan is not None else None
    recs = []
    for r in rows:
        if labels is not None and r["key"] not in labels:
            continue
        doc = json.loads(r["result_json"])
        spec = labels[r["key"]] if labels is not None else None
        rec = {
            "reference_key": r["key"],
            "dataset": spec.dataset if spec else r["dataset"],
            "representation": spec.representation if spec else r["representation"],
            "model": spec.model if spec else r["model"],
            "seed": int(r["seed"]),
            "pool_size": r["pool_size"],
            "seconds": doc.get("seconds"),
        }
        rec.update({k: (float("nan") if v is None else v) for k, v in doc.get("metrics", {}).items()})
        recs.append(rec)
    return pd.DataFrame(recs, columns=None if recs else ["reference_key", "dataset", "representation", "model", "seed",
                                                           "pool_size", "seconds"])


def describe_plan(plan: Plan, store_path: Path | None = None) -> str:
    """A few lines about a plan: the grid's size and, with a store, how much of it is done."""
    cfg = plan.config
    lines = [(
        f"experiment {cfg.name!r}: {len(plan.runs)} runs = {len(cfg.datasets)} dataset(s) x "
        f"{len(cfg.representations)} representation(s) x {len(cfg.models)} model(s) x "
        f"{len(cfg.initial_size) * len(cfg.query_size) * len(cfg.rounds)} budget(s) x {len(cfg.strategies)} "
        f"strategies x {len(cfg.seeds)} seed(s); {len(plan.references)} full-data reference(s)"
    )]
    if store_path is not None and Path(store_path).is_file():
        done = _finished_sessions(Path(store_path))
        n = sum(1 for r in plan.runs if r.key in done)
        lines.append(f"store {store_path}: {n} of {len(plan.runs)} runs finished")
    for w in plan.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m mlal_core experiment CONFIG")
