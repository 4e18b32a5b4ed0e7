"""The experiment config: its schema, parsed and validated one top-level section at a time.

:meth:`ExperimentConfig.from_dict` checks every section (name, datasets, strategies, models,
representations, seeds, budgets, execution, ray, store, analysis, description) with one small
parser each; every parser adds what is wrong to one list of problems, and a config with problems
raises one :class:`~mlal_core.errors.ConfigError` that lists them all with what to fix. The file
format is described in :mod:`mlal_core.experiments`; :func:`load_config` reads a YAML, TOML or JSON
file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlal_core import paths
from mlal_core.errors import ConfigError, MLALError
from mlal_core.experiments.planner import Plan, build_plan
from mlal_core.session.config import INITIAL_METHODS, MODELS, REPRESENTATIONS
from mlal_core.validation import close_names_hint, is_int

__all__ = [
    "BACKENDS",
    "DEFAULT_ANALYSIS",
    "DatasetSpec",
    "ExperimentConfig",
    "ModelSpec",
    "StrategySpec",
    "load_config",
]

BACKENDS = ("local", "ray")
TOP_KEYS = (
    "name", "description", "store", "backend", "workers", "threads_per_run", "ray", "datasets",
    "representations", "max_length", "models", "strategies", "seeds", "initial_size", "query_size", "rounds",
    "initial_method", "initial_method_strategies", "candidate_subset", "reference", "analysis",
    "allow_outside_store", "efficiency_experiment",
)  # fmt: skip
DATASET_KEYS = ("name", "label", "representations", "initial_size", "query_size", "rounds", "candidate_subset",
                "initial_method")
STRATEGY_KEYS = ("name", "label", "params", "model_params")
MODEL_KEYS = ("name", "label", "params")
RAY_KEYS = ("address", "num_cpus", "env")
ANALYSIS_KEYS = ("metrics", "baseline", "reach_fractions", "test", "alpha", "reach_metrics")
TESTS = ("auto", "t", "wilcoxon")
#: the analysis settings of a config that leaves them out
DEFAULT_ANALYSIS: dict[str, Any] = {
    "metrics": ["micro_f1", "macro_f1", "p@1", "p@3"],
    "reach_metrics": ["micro_f1", "macro_f1"],
    "baseline": "random",
    "reach_fractions": [1.0, 0.95, 0.9],
    "test": "auto",
    "alpha": 0.05,
}
#: (key, default, lowest value) of the three budget axes
BUDGET_AXES = (("initial_size", 100, 1), ("query_size", 50, 1), ("rounds", 10, 0))
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


# ====================================================================== the specs
@dataclass
class DatasetSpec:
    """One dataset of the grid.

    Attributes
    ----------
    name : str
        The bundled dataset's name.
    label : str
        Its name in the results (default: ``name``).
    overrides : dict
        Per-dataset values of ``representations``, ``initial_size``, ``query_size``, ``rounds``,
        ``candidate_subset`` and ``initial_method`` (a list of names) that replace the config's.
    """

    name: str
    label: str
    overrides: dict = field(default_factory=dict)


@dataclass
class StrategySpec:
    """One strategy of the grid.

    Attributes
    ----------
    name : str
        The registered strategy's name.
    label : str
        Its name in the results (default: the name and the parameters given).
    params : dict
        Every parameter of the strategy, the defaults filled in.
    model_params : dict
        Model parameters this strategy overrides (e.g. ``mc_passes``).
    """

    name: str
    label: str
    params: dict = field(default_factory=dict)
    model_params: dict = field(default_factory=dict)


@dataclass
class ModelSpec:
    """One model of the grid.

    Attributes
    ----------
    name : str
        The model's name (one of :data:`mlal_core.session.config.MODELS`).
    label : str
        Its name in the results.
    params : dict
        The model parameters given in the config.
    """

    name: str
    label: str
    params: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class ExperimentConfig:
    """A validated experiment config (the format: :mod:`mlal_core.experiments`).

    Build it with :func:`load_config` (a file) or :meth:`from_dict` (a mapping). The budget axes
    (``initial_size``, ``query_size``, ``rounds``), ``initial_method`` and ``seeds`` are lists: the grid
    is their product with the datasets, representations, models and strategies.
    ``initial_method_strategies`` (strategy labels, or None for all): the strategies run under every
    initial method; the others run under the first initial method of the list only (an
    initialisation study on a few strategies beside a large grid).
    """

    name: str
    datasets: list[DatasetSpec]
    strategies: list[StrategySpec]
    models: list[ModelSpec]
    representations: list[str]
    seeds: list[int]
    initial_size: list[int]
    query_size: list[int]
    rounds: list[int]
    initial_method: list[str] = field(default_factory=lambda: ["random"])
    initial_method_strategies: list[str] | None = None
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
    efficiency_experiment: Path | None = None
    source: Path | None = None
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | Path | None = None,
                  source: str | Path | None = None) -> ExperimentConfig:
        """Parse and validate a config mapping.

        Parameters
        ----------
        data : dict
            The config (as read from a YAML / TOML / JSON file).
        base_dir : str or Path, optional
            The folder a relative ``store`` path is relative to (the config file's folder).
        source : str or Path, optional
            The file the config came from, named in error messages.

        Returns
        -------
        ExperimentConfig

        Raises
        ------
        ConfigError
            One error that lists every problem of the config, each with what to fix.
        """
        where = f" in {source}" if source else ""
        if not isinstance(data, dict):
            raise ConfigError(f"An experiment config must be a mapping of keys to values{where}; "
                              f"got {type(data).__name__}.")
        problems: list[str] = []
        _check_top_keys(data, problems)
        name = _parse_name(data, problems)
        datasets = _parse_datasets(data, problems)
        strategies = _parse_strategies(data, problems)
        models = _parse_models(data, problems)
        _check_strategy_model_params(strategies, models, problems)
        representations = _parse_representations(data, problems)
        seeds = _parse_seeds(data, problems)
        axes = _parse_budgets(data, problems)
        session = _parse_session_settings(data, problems)
        execution = _parse_execution(data, problems)
        ray_cfg = _parse_ray(data, problems)
        store = _parse_store(data, base_dir, problems)
        analysis = _parse_analysis(data, [s.label for s in strategies], problems)
        session["initial_method_strategies"] = _parse_initial_method_strategies(
            data, [s.label for s in strategies], problems)
        description = _parse_description(data, problems)
        efficiency = _parse_efficiency_experiment(data, base_dir, source, problems)
        if problems:
            message = f"{len(problems)} problem(s) in the experiment config{where}:\n{_problem_lines(problems)}"
            raise ConfigError(message if len(message) < 1900 else message[:1890] + "... (cut)")
        return cls(
            name=name, datasets=datasets, strategies=strategies, models=models, representations=representations,
            seeds=[int(s) for s in seeds], initial_size=axes["initial_size"], query_size=axes["query_size"],
            rounds=axes["rounds"], **session, **execution, store=store, ray=ray_cfg,
            analysis=analysis, description=description, efficiency_experiment=efficiency,
            source=Path(source) if source else None, raw=dict(data),
        )

    def store_path(self) -> Path:
        """The main store file.

        Returns
        -------
        Path
            ``store`` when the config gives one, else ``$MLAL_HOME/experiments/<name>.sqlite``.
        """
        return self.store if self.store is not None else paths.home_dir() / "experiments" / f"{self.name}.sqlite"

    def plan(self) -> Plan:
        """Load the datasets and expand the grid into runs and full-data references.

        Returns
        -------
        Plan
            See :func:`mlal_core.experiments.planner.build_plan`.

        Raises
        ------
        ConfigError
            A run's budget does not fit its pool, a representation does not suit a dataset or
            model, or two grid entries describe the same run.
        """
        return build_plan(self)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment config file.

    Parameters
    ----------
    path : str or Path
        A ``.yaml`` / ``.yml``, ``.toml`` or ``.json`` file.

    Returns
    -------
    ExperimentConfig

    Raises
    ------
    ConfigError
        The file is missing, cannot be parsed, or its config has problems.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"No experiment config at {path}.")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"Cannot read the experiment config {path} ({type(exc).__name__}: {str(exc)[:200]}); "
                          "pass a UTF-8 .yaml, .toml or .json file.") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text, object_pairs_hook=_refuse_duplicate_json_keys)
        elif suffix in (".yaml", ".yml"):
            data = _load_yaml_unique(text)
        else:
            raise ConfigError(f"{path}: unknown config format {suffix!r}; use .yaml, .yml, .toml or .json.")
    except ConfigError as exc:
        raise ConfigError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - parser errors of three libraries
        raise ConfigError(f"{path} could not be parsed: {' '.join(str(exc).split())}") from None
    return ExperimentConfig.from_dict(data, base_dir=path.resolve().parent, source=path)


#: most problems listed, and most characters of each, in one config error (a hostile value can be huge)
_MAX_PROBLEMS, _MAX_PROBLEM_CHARS = 10, 180
#: most YAML aliases (``*name``) one config may use: ``A`` aliases expand to at most about 3**(A/3) values
#: (k references on each of A/k levels give k**(A/k), largest near k = 3), so 20 allow ~1,000 and an
#: alias bomb (9 levels of 9 aliases: 387 million values) is refused before it expands
_MAX_ALIASES = 20


def _problem_lines(problems: list[str]) -> str:
    """The problems as ``"  - ..."`` lines: at most ``_MAX_PROBLEMS`` and 1,500 characters, each cut to
    ``_MAX_PROBLEM_CHARS``, then ``"and N more"``."""
    lines: list[str] = []
    for p in problems[:_MAX_PROBLEMS]:
        line = f"  - {p if len(p) <= _MAX_PROBLEM_CHARS else p[:_MAX_PROBLEM_CHARS] + '... (cut)'}"
        if lines and sum(len(x) + 1 for x in lines) + len(line) > 1500:
            break
        lines.append(line)
    if len(problems) > len(lines):
        lines.append(f"  - and {len(problems) - len(lines)} more")
    return "\n".join(lines)


def _refuse_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: a mapping whose key appears twice raises (the later would win silently)."""
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ConfigError(f"repeated key(s) {repeated[:5]} in one mapping: give each key once.")
    return dict(pairs)


def _load_yaml_unique(text: str) -> Any:
    """``yaml.safe_load`` that refuses a key repeated in one mapping (PyYAML keeps the later silently) and
    more than ``_MAX_ALIASES`` aliases (an alias bomb)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):  # an alias bomb expands to billions of values
                self.aliases += 1
                if self.aliases > _MAX_ALIASES:
                    raise ConfigError(f"the config uses more than {_MAX_ALIASES} YAML aliases (*name); "
                                      "write the values out instead.")
            return super().compose_node(parent, index)

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise ConfigError(
                    f"key {str(key)[:80]!r} is repeated in one mapping (lines {seen[key]} and "
                    f"{key_node.start_mark.line + 1}); give each key once (YAML would keep the later silently)."
                )
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node.start_mark.line + 1
        return loader.construct_mapping(node, deep=deep)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


# ====================================================================== shared checks
def _short_params(params: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(params.items()))


def _check_unknown_keys(entry: dict, known: tuple[str, ...], where: str, problems: list[str]) -> None:
    for k in entry:
        if k not in known:
            problems.append(f"{where}: unknown key {k!r}{close_names_hint(k, known)}; known: {', '.join(known)}")


def _check_unique(values: list[str], what: str, problems: list[str], hint: str = "") -> None:
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        problems.append(f"repeated {what}(s) {dup}" + (f": {hint}" if hint else ""))


def _entries(raw: list, section: str, problems: list[str]) -> list[tuple[int, dict]]:
    """(index, mapping) of each entry of a list section; a bare name stands for ``{name: ...}``."""
    out = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            problems.append(f"{section}[{i}] must be a name or a mapping; got {entry!r}")
            continue
        out.append((i, entry))
    return out


def _label(entry: dict, default: str, where: str, problems: list[str]) -> str:
    label = entry.get("label", default)
    if not isinstance(label, str) or not label:
        problems.append(f"{where}.label must be a non-empty string; got {label!r}")
        return default
    return label


def _auto_int(value: Any, name: str, problems: list[str], low: int = 1) -> int | None:
    if value is None or value == "auto":
        return None
    if is_int(value) and value >= low:
        return int(value)
    what = "a positive integer" if low == 1 else f"an integer >= {low}"
    problems.append(f"{name!r} must be 'auto' or {what}; got {value!r}")
    return None


def _check_model_params(model: str, params: dict) -> str | None:
    """The problem with a model's parameters, as a string (None when there is none); ``random_state``
    is the experiment's (its seeds)."""
    from mlal_core.models import check_model_params

    try:
        check_model_params(model, params, exclude=("random_state",))
    except ConfigError as exc:
        return str(exc)
    return None


def _metric_names() -> list[str]:
    """The metric keys of :func:`mlal_core.metrics.evaluate` (with the tuned-threshold ones), in its order."""
    from mlal_core import metrics

    Y = np.array([[1, 0], [0, 1], [1, 1]])
    P = np.array([[0.9, 0.1], [0.2, 0.7], [0.6, 0.4]])
    return list(metrics.evaluate(Y, P, tuned_threshold=0.5))


# ====================================================================== one parser per section
def _check_top_keys(data: dict, problems: list[str]) -> None:
    for key in data:
        if key not in TOP_KEYS:
            problems.append(f"unknown key {key!r}{close_names_hint(key, TOP_KEYS)}; known keys: {', '.join(TOP_KEYS)}")


def _parse_name(data: dict, problems: list[str]) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        problems.append(f"'name' must be a name of letters, digits, '.', '_' or '-' (it names the experiment "
                        f"in the store); got {name!r}")
        return "experiment"
    return name


def _dataset_override_problem(key: str, value: Any) -> str | None:
    """What is wrong with one per-dataset override (the text after ``datasets[i].``), or None."""
    if key == "representations":
        if not isinstance(value, list) or not value or any(r not in REPRESENTATIONS for r in value):
            return f"representations must be a non-empty list of {list(REPRESENTATIONS)}; got {value!r}"
    elif key == "initial_method":
        msg = _initial_methods_problem(value)
        return None if msg is None else f"initial_method {msg}"
    elif key == "candidate_subset":
        if value is not None and (not is_int(value) or value < 1):
            return f"candidate_subset must be a positive integer or null; got {value!r}"
    elif not is_int(value) or value < (0 if key == "rounds" else 1):
        return f"{key} must be an integer >= {0 if key == 'rounds' else 1}; got {value!r}"
    return None


def _parse_dataset(i: int, entry: dict, known: list[str], problems: list[str]) -> DatasetSpec | None:
    from mlal_core.data import DERIVED_NAME_SYNTAX
    from mlal_core.data import check_name as check_dataset_name
    from mlal_core.data.resample import DERIVED_NAME_PATTERN
    from mlal_core.data.synthetic import XMTC_NAME_SYNTAX, XMTC_PREFIX

    _check_unknown_keys(entry, DATASET_KEYS, f"datasets[{i}]", problems)
    dname = entry.get("name")
    if isinstance(dname, str) and dname not in known and (DERIVED_NAME_PATTERN.match(dname)
                                                          or dname.startswith(XMTC_PREFIX)):
        try:  # a derived dataset, <base>-T<top_k>-IR<target> (mlal_core.data.resample), or a generated one
            check_dataset_name(dname)
        except ConfigError as exc:
            problems.append(f"datasets[{i}]: {exc}")
            return None
    elif not isinstance(dname, str) or dname not in known:
        problems.append(f"datasets[{i}]: unknown dataset {dname!r}{close_names_hint(str(dname), known)}; "
                        f"bundled datasets: {', '.join(known)} (or a derived one, {DERIVED_NAME_SYNTAX}; or a "
                        f"generated one, {XMTC_NAME_SYNTAX})")
        return None
    overrides = {k: entry[k] for k in DATASET_KEYS if k in entry and k not in ("name", "label")}
    if isinstance(overrides.get("representations"), str):
        overrides["representations"] = [overrides["representations"]]
    if isinstance(overrides.get("initial_method"), str):
        overrides["initial_method"] = [overrides["initial_method"]]
    for k, v in overrides.items():
        msg = _dataset_override_problem(k, v)
        if msg:
            problems.append(f"datasets[{i}].{msg}")
    return DatasetSpec(dname, _label(entry, dname, f"datasets[{i}]", problems), overrides)


def _parse_datasets(data: dict, problems: list[str]) -> list[DatasetSpec]:
    from mlal_core import data as data_mod

    raw = data.get("datasets")
    known = data_mod.available()
    if not isinstance(raw, list) or not raw:
        problems.append(f"'datasets' must be a non-empty list of bundled dataset names ({', '.join(known)}) "
                        "or mappings {name: ..., label/initial_size/query_size/rounds/candidate_subset: ...}")
        raw = []
    parsed = [_parse_dataset(i, entry, known, problems) for i, entry in _entries(raw, "datasets", problems)]
    datasets = [d for d in parsed if d is not None]
    _check_unique([d.label for d in datasets], "dataset label", problems)
    return datasets


def _parse_strategy(i: int, entry: dict, known: list[str], problems: list[str]) -> StrategySpec | None:
    from mlal_core import strategies as strat_mod

    _check_unknown_keys(entry, STRATEGY_KEYS, f"strategies[{i}]", problems)
    sname = entry.get("name")
    if not isinstance(sname, str) or sname not in known:
        problems.append(f"strategies[{i}]: unknown strategy {sname!r}{close_names_hint(str(sname), known)}; "
                        f"registered: {', '.join(known)}")
        return None
    params = entry.get("params") or {}
    mparams = entry.get("model_params") or {}
    if not isinstance(params, dict) or not isinstance(mparams, dict):
        problems.append(f"strategies[{i}] ({sname}): 'params' and 'model_params' must be mappings")
        return None
    try:
        strat_mod.get(sname, **params)
    except (MLALError, TypeError, ValueError) as exc:
        problems.append(f"strategies[{i}] ({sname}): {exc}")
        return None
    resolved = {p.name: p.default for p in strat_mod.info(sname).params}
    resolved.update(params)
    default_label = sname + (f"({_short_params(params)})" if params else "")
    return StrategySpec(sname, _label(entry, default_label, f"strategies[{i}]", problems), resolved, dict(mparams))


def _parse_strategies(data: dict, problems: list[str]) -> list[StrategySpec]:
    from mlal_core import strategies as strat_mod

    raw = data.get("strategies")
    known = [s.name for s in strat_mod.available()]
    if not isinstance(raw, list) or not raw:
        problems.append(f"'strategies' must be a non-empty list of strategy names ({', '.join(known)}) "
                        "or mappings {name, params, label, model_params}")
        raw = []
    parsed = [_parse_strategy(i, entry, known, problems) for i, entry in _entries(raw, "strategies", problems)]
    strategies = [s for s in parsed if s is not None]
    _check_unique([s.label for s in strategies], "strategy label", problems,
                  hint="give repeated strategies different 'label's")
    return strategies


def _parse_model(i: int, entry: dict, several: bool, problems: list[str]) -> ModelSpec | None:
    _check_unknown_keys(entry, MODEL_KEYS, f"models[{i}]", problems)
    mname = entry.get("name", "mlp_ensemble")
    if mname not in MODELS:
        problems.append(f"models[{i}]: unknown model {mname!r}{close_names_hint(str(mname), MODELS)}; "
                        f"known: {', '.join(MODELS)}")
        return None
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        problems.append(f"models[{i}].params must be a mapping; got {params!r}")
        return None
    msg = _check_model_params(mname, params)
    if msg:
        problems.append(f"models[{i}]: {msg}")
        return None
    default_label = f"{mname}({_short_params(params)})" if several else mname
    return ModelSpec(mname, _label(entry, default_label, f"models[{i}]", problems), dict(params))


def _parse_models(data: dict, problems: list[str]) -> list[ModelSpec]:
    raw = data.get("models", [{"name": "mlp_ensemble"}])
    if isinstance(raw, (str, dict)):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        problems.append("'models' must be a non-empty list of mappings {name: mlp_ensemble, params: {...}, label: ...}")
        raw = []
    several = len(raw) > 1
    parsed = [_parse_model(i, entry, several, problems) for i, entry in _entries(raw, "models", problems)]
    models = [m for m in parsed if m is not None]
    _check_unique([m.label for m in models], "model label", problems)
    return models


def _check_strategy_model_params(strategies: list[StrategySpec], models: list[ModelSpec],
                                 problems: list[str]) -> None:
    """A strategy's ``model_params`` must suit every model of the grid."""
    for s in strategies:
        if not s.model_params:
            continue
        for m in models:
            msg = _check_model_params(m.name, {**m.params, **s.model_params})
            if msg:
                problems.append(f"strategy {s.label!r} model_params: {msg}")


def _parse_representations(data: dict, problems: list[str]) -> list[str]:
    reps = data.get("representations", data.get("representation", ["auto"]))
    if isinstance(reps, str):
        reps = [reps]
    if not isinstance(reps, list) or not reps:
        problems.append(f"'representations' must be a non-empty list of {list(REPRESENTATIONS)}")
        reps = ["auto"]
    for r in reps:
        if r not in REPRESENTATIONS:
            problems.append(f"unknown representation {r!r}{close_names_hint(str(r), REPRESENTATIONS)}; "
                            f"known: {', '.join(REPRESENTATIONS)}")
    _check_unique(list(reps), "representation", problems)
    return list(reps)


def _parse_seeds(data: dict, problems: list[str]) -> list[int]:
    seeds = data.get("seeds", 1)
    if is_int(seeds):
        if seeds < 1:
            problems.append(f"'seeds' as a count must be at least 1; got {seeds}")
            return [0]
        return list(range(seeds))
    if isinstance(seeds, list) and seeds and all(is_int(s) and s >= 0 for s in seeds):
        if len(set(seeds)) != len(seeds):
            problems.append(f"'seeds' has repeated values: {seeds}")
        return seeds
    problems.append(f"'seeds' must be a count (>= 1) or a non-empty list of non-negative integers; got {seeds!r}")
    return [0]


def _parse_budgets(data: dict, problems: list[str]) -> dict[str, list[int]]:
    axes: dict[str, list[int]] = {}
    for key, default, low in BUDGET_AXES:
        val = data.get(key, default)
        vals = val if isinstance(val, list) else [val]
        if not vals or not all(is_int(v) and v >= low for v in vals):
            problems.append(f"{key!r} must be an integer >= {low} or a list of them; got {val!r}")
            vals = [default]
        axes[key] = list(vals)
    return axes


def _parse_session_settings(data: dict, problems: list[str]) -> dict[str, Any]:
    """``initial_method``, ``max_length``, ``candidate_subset`` and ``reference``."""
    initial_method = data.get("initial_method", ["random"])
    initial_method = [initial_method] if isinstance(initial_method, str) else initial_method
    msg = _initial_methods_problem(initial_method)
    if msg:
        problems.append(f"'initial_method' {msg}")
    max_length = data.get("max_length", 128)
    if not is_int(max_length) or max_length < 1:
        problems.append(f"'max_length' must be a positive integer; got {max_length!r}")
    candidate_subset = data.get("candidate_subset")
    if candidate_subset is not None and (not is_int(candidate_subset) or candidate_subset < 1):
        problems.append(f"'candidate_subset' must be a positive integer or null; got {candidate_subset!r}")
    reference = data.get("reference", True)
    if not isinstance(reference, bool):
        problems.append(f"'reference' must be true or false; got {reference!r}")
    return {"initial_method": initial_method, "max_length": int(max_length) if is_int(max_length) else max_length,
            "candidate_subset": candidate_subset, "reference": reference}


def _initial_methods_problem(value: Any) -> str | None:
    """What is wrong with a list of initial methods (the words after the key's name), or None."""
    if (not isinstance(value, list) or not value or any(not isinstance(m, str) or m not in INITIAL_METHODS
                                                        for m in value)):
        return (f"must be one of {list(INITIAL_METHODS)} or a non-empty list of them (a grid axis); "
                f"got {value!r}")
    if len(set(value)) != len(value):
        return f"has repeated values: {value!r}"
    return None


def _parse_initial_method_strategies(data: dict, labels: list[str], problems: list[str]) -> list[str] | None:
    """``initial_method_strategies``: strategy labels of the grid, or None (every strategy)."""
    raw = data.get("initial_method_strategies")
    if raw is None:
        return None
    if (not isinstance(raw, list) or not raw or any(not isinstance(s, str) for s in raw)
            or len(set(raw)) != len(raw)):
        problems.append(f"'initial_method_strategies' must be a non-empty list of distinct strategy labels; got {raw!r}")
        return None
    unknown = [s for s in raw if s not in labels]
    if unknown:
        problems.append(f"'initial_method_strategies' names {unknown}, which are not strategy labels of the grid "
                        f"({', '.join(labels)})")
    return list(raw)


def _parse_execution(data: dict, problems: list[str]) -> dict[str, Any]:
    """``backend``, ``workers`` and ``threads_per_run``."""
    backend = data.get("backend", "local")
    if backend not in BACKENDS:
        problems.append(f"'backend' must be one of {list(BACKENDS)}; got {backend!r}")
    workers = _auto_int(data.get("workers", "auto"), "workers", problems, low=0)
    threads = _auto_int(data.get("threads_per_run", "auto"), "threads_per_run", problems)
    return {"backend": backend, "workers": workers, "threads_per_run": threads}


def _parse_ray(data: dict, problems: list[str]) -> dict:
    ray_cfg = data.get("ray") or {}
    if not isinstance(ray_cfg, dict):
        problems.append(f"'ray' must be a mapping {{address, num_cpus, env}}; got {ray_cfg!r}")
        return {}
    _check_unknown_keys(ray_cfg, RAY_KEYS, "ray", problems)
    address, num_cpus, env = ray_cfg.get("address"), ray_cfg.get("num_cpus"), ray_cfg.get("env")
    if address is not None and not isinstance(address, str):
        problems.append(f"ray.address must be a string ('auto', 'ray://host:10001', 'host:6379') or null; "
                        f"got {address!r}")
    if num_cpus is not None and (not is_int(num_cpus) or num_cpus < 1):
        problems.append(f"ray.num_cpus must be a positive integer or null; got {num_cpus!r}")
    if env is not None and not isinstance(env, dict):
        problems.append("ray.env must be a mapping of environment variables")
    return dict(ray_cfg)


def _parse_store(data: dict, base_dir: str | Path | None, problems: list[str]) -> Path | None:
    """The ``store`` path; from a config file (``base_dir`` given) it must lie under the file's folder or
    ``MLAL_HOME`` unless the config sets ``allow_outside_store: true`` (a shared config cannot write
    anywhere by itself; ``experiment --store PATH`` on the command line is the operator's own choice)."""
    store, allow = data.get("store"), data.get("allow_outside_store", False)
    if not isinstance(allow, bool):
        problems.append(f"'allow_outside_store' must be true or false; got {allow!r}")
        allow = False
    if store is None:
        return None
    if not isinstance(store, str) or not store:
        problems.append(f"'store' must be a path; got {store!r}")
        return None
    path = Path(store).expanduser()
    if base_dir is None:  # a config given as a mapping in Python: the caller chose the path
        return path
    path = (Path(base_dir) / path).resolve()
    roots = [Path(base_dir).resolve(), paths.home_dir().resolve()]
    if not allow and not any(path.is_relative_to(root) for root in roots):
        problems.append(
            "'store' must stay under the config's folder or MLAL_HOME unless the config sets "
            f"'allow_outside_store: true' (or remove it and pass --store PATH); it resolves to {path}"
        )
    return path


def _check_metric_lists(analysis: dict, problems: list[str]) -> None:
    known = _metric_names()
    for key in ("metrics", "reach_metrics"):
        ms = analysis[key]
        if not isinstance(ms, list) or not ms or any(m not in known for m in ms):
            bad = [m for m in (ms if isinstance(ms, list) else [ms]) if m not in known]
            problems.append(f"analysis.{key} must be a non-empty list of metric names; unknown: {bad}; "
                            f"known: {', '.join(known)}")


def _parse_analysis(data: dict, labels: list[str], problems: list[str]) -> dict[str, Any]:
    """The ``analysis`` section over :data:`DEFAULT_ANALYSIS`; ``labels`` are the strategy labels."""
    analysis = dict(DEFAULT_ANALYSIS)
    raw = data.get("analysis") or {}
    if not isinstance(raw, dict):
        problems.append(f"'analysis' must be a mapping; got {raw!r}")
        raw = {}
    _check_unknown_keys(raw, ANALYSIS_KEYS, "analysis", problems)
    analysis.update({k: v for k, v in raw.items() if k in ANALYSIS_KEYS})
    _check_metric_lists(analysis, problems)
    if "baseline" not in raw and labels and analysis["baseline"] not in labels:
        analysis["baseline"] = labels[0]  # the default 'random' is not in the grid: compare with the first
    if analysis["baseline"] not in labels and labels:
        problems.append(f"analysis.baseline {analysis['baseline']!r} is not one of the strategy labels "
                        f"({', '.join(labels)})")
    fr = analysis["reach_fractions"]
    if not isinstance(fr, list) or not fr or not all(isinstance(f, (int, float)) and 0 < f <= 1.5 for f in fr):
        problems.append(f"analysis.reach_fractions must be a list of numbers in (0, 1.5]; got {fr!r}")
    if analysis["test"] not in TESTS:
        problems.append(f"analysis.test must be one of {list(TESTS)}; got {analysis['test']!r}")
    a = analysis["alpha"]
    if not isinstance(a, (int, float)) or not 0 < a < 1:
        problems.append(f"analysis.alpha must be in (0, 1); got {a!r}")
    return analysis


def _parse_description(data: dict, problems: list[str]) -> str:
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append("'description' must be a string")
        return str(description)
    return description


#: the file formats :func:`load_config` reads
CONFIG_SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def _parse_efficiency_experiment(data: dict, base_dir: str | Path | None, source: str | Path | None,
                                 problems: list[str]) -> Path | None:
    """``efficiency_experiment``: the config file of the large-K cost / benefit experiment whose results
    the reproduction report shows (:mod:`mlal_core.experiments.efficiency_study`), relative to the config
    file's folder; it must exist, be a config file and not be this config itself."""
    raw = data.get("efficiency_experiment")
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        problems.append("'efficiency_experiment' must be the path of an experiment config file (e.g. "
                        f"xmtc_efficiency.yaml, relative to this config's folder) or null; got {raw!r}")
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path if base_dir is not None else path
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        problems.append(f"'efficiency_experiment' {raw!r} is not a config file: name a {', '.join(CONFIG_SUFFIXES)} "
                        "file (e.g. xmtc_efficiency.yaml)")
        return None
    if not path.is_file():
        problems.append(f"'efficiency_experiment': no config file at {path}; name an existing one (relative to "
                        "this config's folder) or remove the key")
        return None
    if source is not None and Path(source).is_file() and path.resolve() == Path(source).resolve():
        problems.append("'efficiency_experiment' names this config itself; name the large-K experiment's config")
        return None
    return path
