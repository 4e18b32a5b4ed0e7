"""The plan of an experiment: its grid expanded into runs and full-data references, and run keys.

Each run has a deterministic **run key** (:func:`run_key`): a hash of its normalised
``SessionConfig`` (its initial method included; ``initial_params``, which a session records as it
starts, left out while empty so the keys of stored runs do not change) and the dataset's content hash. The run's session is named
``run <key> | <dataset> | <strategy> | seed <s>`` (:func:`run_name`), which is how a store tells
which runs are finished (:func:`finished_runs`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlal_core.errors import ConfigError
from mlal_core.session.config import SessionConfig

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.experiments.config import DatasetSpec, ExperimentConfig, ModelSpec, StrategySpec

__all__ = [
    "KEY_VERSION",
    "Plan",
    "ReferenceSpec",
    "RunSpec",
    "build_plan",
    "describe_plan",
    "finished_runs",
    "run_key",
    "run_name",
]

#: part of every run key: a change of what a key covers gets a new version (and new keys)
KEY_VERSION = 1
_RUN_NAME_RE = re.compile(r"^run ([0-9a-f]{16})\b")


@dataclass(kw_only=True)
class RunSpec:
    """One active-learning session of the grid.

    Attributes
    ----------
    key : str
        The run key (:func:`run_key`).
    config : SessionConfig
        The session's config, named by :func:`run_name`.
    dataset, strategy, model : str
        The labels of the run's dataset, strategy and model in the config.
    representation : str
        The representation the model reads (``auto`` resolved).
    seed, pool_size, initial_size, query_size, rounds : int
        The seed, the dataset's pool size and the budget.
    candidate_subset : int or None
        The candidate subset of each round (None: the whole pool).
    reference_key : str or None
        The key of the run's full-data reference (None without references).
    setting : str
        The dataset label plus the attributes that vary between runs of that dataset (what the
        analysis compares strategies within); the initial method is named for runs whose initial set
        is not random when the dataset's runs vary in it.
    initial_method : str
        How the run's initial set is chosen (``SessionConfig.initial_method``).
    """

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
    initial_method: str = "random"

    def describe(self) -> str:
        """``"<setting> | <strategy> | seed <s>"``, the run in progress lines and failure reports."""
        return f"{self.setting} | {self.strategy} | seed {self.seed}"


@dataclass(kw_only=True)
class ReferenceSpec:
    """One full-data reference model, shared by every strategy of a dataset / representation / model / seed.

    Attributes
    ----------
    key : str
        The reference's cache key (:func:`mlal_core.session.reference.cache_key`).
    config : SessionConfig
        The model's config (the dataset, representation, model parameters and seed).
    dataset, representation, model : str
        The labels of the dataset and model, and the representation.
    seed, pool_size : int
        The seed and the dataset's pool size.
    """

    key: str
    config: SessionConfig
    dataset: str
    representation: str
    model: str
    seed: int
    pool_size: int

    def describe(self) -> str:
        """The reference in progress lines and failure reports."""
        return f"{self.dataset} | full-data reference ({self.representation}, {self.model}) | seed {self.seed}"


@dataclass
class Plan:
    """An experiment's grid, expanded.

    Attributes
    ----------
    config : ExperimentConfig
        The config it was planned from.
    runs : list of RunSpec
        Every run, in grid order.
    references : list of ReferenceSpec
        Every full-data reference (empty when the config has ``reference: false``).
    warnings : list of str
        Budget warnings of :meth:`SessionConfig.validate`, one per (dataset, budget).
    """

    config: ExperimentConfig
    runs: list[RunSpec]
    references: list[ReferenceSpec]
    warnings: list[str] = field(default_factory=list)

    def run(self, key: str) -> RunSpec:
        """The run with key ``key``; raises ``KeyError`` when the plan has none."""
        for r in self.runs:
            if r.key == key:
                return r
        raise KeyError(key)


def run_key(config: SessionConfig, dataset_hash: str = "") -> str:
    """The run key of a session config.

    Parameters
    ----------
    config : SessionConfig
        The run's config; its ``name`` is left out.
    dataset_hash : str
        The dataset's content hash.

    Returns
    -------
    str
        16 hex digits of the sha256 of the config, the data hash and :data:`KEY_VERSION`.
    """
    d = config.to_dict()
    d.pop("name", None)
    if not d.get("initial_params"):  # a field added after KEY_VERSION 1: absent = empty, same keys as before
        d.pop("initial_params", None)
    d["dataset_hash"] = dataset_hash
    d["key_version"] = KEY_VERSION
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_name(key: str, dataset: str, strategy: str, seed: int) -> str:
    """The session name of a run: ``"run <key> | <dataset> | <strategy> | seed <seed>"``.

    Parameters
    ----------
    key : str
        The run key.
    dataset : str
        Dataset name.
    strategy : str
        Strategy name.
    seed : int
        Seed of the run.

    Returns
    -------
    str
        The session name.
    """
    return f"run {key} | {dataset} | {strategy} | seed {seed}"


def finished_runs(store_path: str | Path) -> dict[str, str]:
    """The finished runs of a store file.

    Parameters
    ----------
    store_path : str or Path
        A session store file.

    Returns
    -------
    dict
        Run key -> id of the first-created finished session named by :func:`run_name` with that key.
    """
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


def describe_plan(plan: Plan, store_path: Path | None = None) -> str:
    """A few lines about a plan.

    Parameters
    ----------
    plan : Plan
    store_path : Path, optional
        The store; when it exists, a line says how many runs are finished.

    Returns
    -------
    str
        The grid's size, the store's progress and the plan's warnings, one per line.
    """
    cfg = plan.config
    lines = [(
        f"experiment {cfg.name!r}: {len(plan.runs)} runs = {len(cfg.datasets)} dataset(s) x "
        f"{len(cfg.representations)} representation(s) x {len(cfg.models)} model(s) x "
        f"{len(cfg.initial_size) * len(cfg.query_size) * len(cfg.rounds)} budget(s) x {len(cfg.strategies)} "
        f"strategies x {len(cfg.seeds)} seed(s); {len(plan.references)} full-data reference(s)"
    )]
    methods = list(dict.fromkeys(r.initial_method for r in plan.runs))
    if len(methods) > 1:
        lines.append(f"initial methods: {', '.join(methods)}"
                     + (f" (all but the first for {', '.join(cfg.initial_method_strategies)} only)"
                        if cfg.initial_method_strategies else ""))
    if store_path is not None and Path(store_path).is_file():
        done = finished_runs(Path(store_path))
        n = sum(1 for r in plan.runs if r.key in done)
        lines.append(f"store {store_path}: {n} of {len(plan.runs)} runs finished")
    for w in plan.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


# ====================================================================== expanding the grid
@dataclass
class _Dataset:
    """A dataset of the grid, loaded once."""

    spec: DatasetSpec
    data: Any
    content_hash: str
    pool_size: int


@dataclass(kw_only=True)
class _Point:
    """One point of the grid (one run before its config is checked)."""

    dataset: _Dataset
    representation: str
    model: ModelSpec
    initial_size: int
    query_size: int
    rounds: int
    strategy: StrategySpec
    seed: int
    initial_method: str = "random"

    def budget(self) -> str:
        return f"{self.dataset.spec.label} (initial {self.initial_size}, {self.rounds} x {self.query_size})"


class _References:
    """The full-data references of a plan, one per (dataset, representation, model parameters, seed)."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self.specs: dict[str, ReferenceSpec] = {}
        self._keys: dict[tuple, str] = {}

    def key_for(self, point: _Point, run_config: SessionConfig) -> str:
        from mlal_core.session import reference as ref_mod

        # mc_passes only changes the probability samples a strategy sees, not the model: runs whose
        # strategy overrides it share the model's reference
        mspec = point.model
        base = SessionConfig(model=mspec.name, model_params=dict(mspec.params)).resolved_model_params()
        ref_params = {**run_config.model_params, "mc_passes": base["mc_passes"]}
        ref_cfg = SessionConfig(
            dataset=point.dataset.spec.name, representation=point.representation, max_length=self.config.max_length,
            model=mspec.name, model_params=ref_params, seed=point.seed,
        )
        memo = (point.dataset.spec.name, ref_cfg.to_json())
        if memo not in self._keys:  # content_hash() reads the whole dataset: once per reference
            self._keys[memo] = ref_mod.cache_key(ref_cfg, point.dataset.data)
        key = self._keys[memo]
        if key not in self.specs:
            self.specs[key] = ReferenceSpec(
                key=key, config=ref_cfg, dataset=point.dataset.spec.label, representation=point.representation,
                model=mspec.label, seed=point.seed, pool_size=point.dataset.pool_size,
            )
        return key


def _model_representations(config: ExperimentConfig, dataset: _Dataset, rep_name: str,
                           problems: list[str]) -> dict[str, str]:
    """Model label -> the representation the model reads (the text backbones: token ids)."""
    out: dict[str, str] = {}
    for mspec in config.models:
        probe = SessionConfig(dataset=dataset.spec.name, representation=rep_name, model=mspec.name)
        try:
            out[mspec.label] = probe.resolve_representation(dataset.data.kind)
        except ConfigError as exc:
            problems.append(f"dataset {dataset.spec.label!r}, representation {rep_name!r}, model "
                            f"{mspec.label!r}: {exc}")
    return out


def _grid(config: ExperimentConfig, problems: list[str]) -> Iterator[_Point]:
    """Every point of the grid, dataset by dataset (each dataset loaded once)."""
    from mlal_core import data as data_mod

    for dspec in config.datasets:
        ds = data_mod.load(dspec.name)
        dataset = _Dataset(dspec, ds, ds.content_hash(), len(ds.train))
        ov = dspec.overrides
        for rep_name in ov.get("representations", config.representations):
            model_reps = _model_representations(config, dataset, rep_name, problems)
            methods = ov.get("initial_method", config.initial_method)
            product = itertools.product(
                [m for m in config.models if m.label in model_reps],
                [ov["initial_size"]] if "initial_size" in ov else config.initial_size,
                [ov["query_size"]] if "query_size" in ov else config.query_size,
                [ov["rounds"]] if "rounds" in ov else config.rounds,
                methods,
                config.strategies,
                config.seeds,
            )
            for mspec, init, qs, rounds, method, sspec, seed in product:
                if not _runs_under(config, sspec.label, method, methods):
                    continue
                yield _Point(dataset=dataset, representation=model_reps[mspec.label], model=mspec, initial_size=init,
                             query_size=qs, rounds=rounds, strategy=sspec, seed=seed, initial_method=method)


def _runs_under(config: ExperimentConfig, strategy: str, method: str, methods: list[str]) -> bool:
    """Whether strategy label ``strategy`` runs under initial method ``method`` (every strategy runs under
    the first of ``methods``; the others are for ``initial_method_strategies`` when it is set)."""
    only = config.initial_method_strategies
    return method == methods[0] or only is None or strategy in only


def _session_config(config: ExperimentConfig, point: _Point) -> SessionConfig:
    ov = point.dataset.spec.overrides
    cfg = SessionConfig(
        dataset=point.dataset.spec.name,
        representation=point.representation,
        max_length=config.max_length,
        model=point.model.name,
        model_params={**point.model.params, **point.strategy.model_params},
        strategy=point.strategy.name,
        strategy_params=dict(point.strategy.params),
        initial_size=point.initial_size,
        initial_method=point.initial_method,
        query_size=point.query_size,
        rounds=point.rounds,
        seed=point.seed,
        candidate_subset=ov.get("candidate_subset", config.candidate_subset),
    )
    cfg.model_params = cfg.resolved_model_params()
    return cfg


def _budget_fits(cfg: SessionConfig, point: _Point, problems: list[str], warnings: list[str]) -> bool:
    """Check a run's budget against its pool: False (and a problem) when it does not fit."""
    try:
        found = cfg.validate(pool_size=point.dataset.pool_size, check_names=False)
    except ConfigError as exc:
        msg = f"{point.budget()}: {exc}"
        if msg not in problems:
            problems.append(msg)
        return False
    for msg in found:
        entry = f"{point.budget()}: {msg}"
        if entry not in warnings:
            warnings.append(entry)
    return True


def _check_no_duplicate_runs(runs: list[RunSpec]) -> None:
    seen: dict[str, RunSpec] = {}
    for r in runs:
        if r.key in seen:
            o = seen[r.key]
            raise ConfigError(
                f"Two grid entries describe the same run ({r.dataset} / {r.strategy} / seed {r.seed} and "
                f"{o.dataset} / {o.strategy} / seed {o.seed}): remove the duplicate strategy, model or dataset."
            )
        seen[r.key] = r


def _assign_settings(runs: list[RunSpec]) -> None:
    """``setting`` = the dataset label, plus the attributes that vary between runs of that dataset."""
    attrs = ("representation", "model", "initial_size", "query_size", "rounds", "candidate_subset")
    by_ds: dict[str, list[RunSpec]] = {}
    for r in runs:
        by_ds.setdefault(r.dataset, []).append(r)
    for ds, rs in by_ds.items():
        varying = [a for a in attrs if len({getattr(r, a) for r in rs}) > 1]
        methods_vary = len({r.initial_method for r in rs}) > 1
        for r in rs:
            named = varying + (["initial_method"] if methods_vary and r.initial_method != "random" else [])
            extra = ", ".join(f"{a}={getattr(r, a)}" for a in named)
            r.setting = ds + (f" ({extra})" if extra else "")


def build_plan(config: ExperimentConfig) -> Plan:
    """Expand a config's grid into runs and full-data references.

    Loads each dataset once, resolves each model's representation, checks each run's budget against
    its pool and gives each run its key, session name and setting.

    Parameters
    ----------
    config : ExperimentConfig

    Returns
    -------
    Plan

    Raises
    ------
    ConfigError
        Every run that cannot be planned (budget larger than the pool, a representation that does
        not suit a dataset or model), listed; or two grid entries that describe the same run.
    """
    problems: list[str] = []
    budget_warnings: list[str] = []
    runs: list[RunSpec] = []
    references = _References(config)
    for point in _grid(config, problems):
        cfg = _session_config(config, point)
        if not _budget_fits(cfg, point, problems, budget_warnings):
            continue
        key = run_key(cfg, point.dataset.content_hash)
        cfg.name = run_name(key, point.dataset.spec.label, point.strategy.label, point.seed)
        runs.append(RunSpec(
            key=key, config=cfg, dataset=point.dataset.spec.label, strategy=point.strategy.label,
            model=point.model.label, representation=point.representation, seed=point.seed,
            pool_size=point.dataset.pool_size, initial_size=point.initial_size, query_size=point.query_size,
            rounds=point.rounds, candidate_subset=cfg.candidate_subset,
            reference_key=references.key_for(point, cfg) if config.reference else None,
            initial_method=point.initial_method,
        ))
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        where = f" in {config.source}" if config.source else ""
        raise ConfigError(f"{len(problems)} problem(s) in the experiment grid{where}:\n{lines}")
    _check_no_duplicate_runs(runs)
    _assign_settings(runs)
    return Plan(config, runs, list(references.specs.values()), budget_warnings)
