"""The model and the strategy of a session, given by registry name or as objects.

``ActiveLearningSession(config, model=..., strategy=...)`` accepts, for each, a registry name or an
object; the session's config records what it was given, so a stored session says what it ran:

* **a built-in object** (an instance of a registered class, e.g. ``BALD()`` or
  ``MLPEnsemble(n_members=3)``) is recorded by its registry name and the parameters that differ
  from what the name alone gives; the session then builds it from that record, exactly as if it
  had been given by name (same config, same picks, resumable from the store by name).
* **a user's own object** (an unregistered class) is recorded by its class path
  (``"module:QualifiedName"``, :func:`~mlal_core.session.config.class_path`) and its parameters as
  JSON (``get_params()``; a value JSON cannot hold is recorded as its ``repr``). The session uses the
  object itself: a model is copied fresh every round (``clone()``, ``sklearn.base.clone`` or a deep
  copy: cold start); a strategy is used as given. Resuming such a session needs the object again
  (a class path is never imported from the store), and the object passed must record the same.

A scikit-learn estimator (something with ``predict_proba`` but no ``predict_proba_samples``), a list
of them, or a ``torch.nn.Module`` given as the model is wrapped in
:class:`~mlal_core.models.SklearnAdapter` / :class:`~mlal_core.models.TorchModuleAdapter` first.

Seeds: whichever path, an object with a ``random_state`` parameter (or attribute) gets the
session's per-round seed ``seed + t`` in round ``t``, as the models built by name do; strategies
also get the per-round ``ctx.rng``.

When the config already names a model (or strategy) other than the default and an object is passed
too, the two must record the same thing, else ``ConfigError`` (give it once). A session restored from
the store is strict: the object must record exactly what the store holds.
"""

from __future__ import annotations

import copy
import inspect
import json
import sys
from dataclasses import replace
from typing import Any

import numpy as np

from mlal_core.errors import ConfigError
from mlal_core.session.config import SessionConfig, class_path, is_class_path

#: the config's model / strategy when the user did not choose one
_DEFAULT_MODEL = SessionConfig.model
_DEFAULT_STRATEGY = SessionConfig.strategy

_MODEL_CONTRACT = ("fit(X, Y, X_valid=None, Y_valid=None, progress=None), predict_proba(X, progress=None) "
                   "-> (n, K) and predict_proba_samples(X, progress=None) -> (S, n, K)")


# ====================================================================== parameters as JSON
def _json_value(value: Any) -> Any:
    """``value`` as JSON holds it: numbers, strings, lists and dicts; anything else as its ``repr``."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v) for k, v in value.items()}
    return repr(value)


def _holds_only_json(value: Any) -> bool:
    return _json_value(value) == (list(value) if isinstance(value, tuple) else value)


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays compare element-wise
        return False


def _canonical(params: dict) -> str:
    return json.dumps(_json_value(params), sort_keys=True)


def object_params(obj: Any) -> dict[str, Any]:
    """The parameters of a model or strategy object (``get_params``, shallow), ``{}`` without one.

    Parameters
    ----------
    obj : object
        A model or strategy.

    Returns
    -------
    dict
        Parameter name -> value, as the object stores them.
    """
    getter = getattr(obj, "get_params", None)
    if not callable(getter):
        return {}
    try:
        return dict(getter(deep=False))
    except TypeError:  # a strategy's get_params() takes no argument
        return dict(getter())


def _same_params(a: Any, b: Any) -> bool:
    """True when two objects of one class have the same parameters (``random_state`` aside)."""
    pa, pb = ({k: v for k, v in object_params(o).items() if k != "random_state"} for o in (a, b))
    return type(a) is type(b) and _canonical(pa) == _canonical(pb)


def _init_defaults(cls: type) -> dict[str, Any]:
    sig = inspect.signature(cls)
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


# ====================================================================== seeds and copies
def seeded_copy(obj: Any, random_state: int) -> Any:
    """A fresh, unfitted copy of ``obj`` whose ``random_state`` (when it has one) is ``random_state``.

    Parameters
    ----------
    obj : object
        A model (or strategy) object; copied with its ``clone()`` method, else
        ``sklearn.base.clone`` when it has ``get_params``, else ``copy.deepcopy``.
    random_state : int
        The seed of the round (``seed + t``).

    Returns
    -------
    object
        The copy.
    """
    if callable(getattr(obj, "clone", None)):
        fresh = obj.clone()
    elif callable(getattr(obj, "get_params", None)) and callable(getattr(obj, "set_params", None)):
        from sklearn.base import clone

        fresh = clone(obj)
    else:
        fresh = copy.deepcopy(obj)
    if "random_state" in object_params(fresh) and callable(getattr(fresh, "set_params", None)):
        fresh.set_params(random_state=int(random_state))
    elif hasattr(fresh, "random_state"):
        fresh.random_state = int(random_state)
    return fresh


def build_model(config: SessionConfig, random_state: int, template: Any = None) -> Any:
    """The unfitted model of one round (cold start).

    Parameters
    ----------
    config : SessionConfig
        The session's config: ``model`` and ``resolved_model_params()`` when ``template`` is None.
    random_state : int
        The round's seed (``config.seed + t``).
    template : object, optional
        A user's own model (the session's ``model_template``): a seeded copy of it is returned.

    Returns
    -------
    object
        A model following the contract of ``mlal_core.models``.
    """
    if template is not None:
        return seeded_copy(template, random_state)
    from mlal_core import models

    return models.make_model(config.model, **{**config.resolved_model_params(), "random_state": random_state})


def round_strategy(strategy: Any, random_state: int) -> Any:
    """The strategy of one round: a copy seeded with ``random_state`` when it has a ``random_state``,
    else ``strategy`` itself (every built-in strategy: they draw from ``ctx.rng``).

    Parameters
    ----------
    strategy : QueryStrategy
        The session's strategy.
    random_state : int
        The round's seed (``config.seed + t``).

    Returns
    -------
    QueryStrategy
    """
    if "random_state" in object_params(strategy) or hasattr(strategy, "random_state"):
        return seeded_copy(strategy, random_state)
    return strategy


# ====================================================================== recording
def _merge(config: SessionConfig, kind: str, recorded: tuple[str, dict], *, strict: bool) -> SessionConfig:
    """``config`` with its ``kind`` fields set to ``recorded``; refuses a config that says otherwise."""
    default = _DEFAULT_MODEL if kind == "model" else _DEFAULT_STRATEGY
    name, params = getattr(config, kind), getattr(config, f"{kind}_params")
    same = name == recorded[0] and _canonical(params) == _canonical(recorded[1])
    conflict = name != default or (params and _canonical(params) != _canonical(recorded[1]))
    if not same and (strict or conflict):
        raise ConfigError(
            f"The config's {kind} is {name!r} with parameters {params}, but the {kind} passed is "
            f"{recorded[0]!r} with parameters {recorded[1]}. Give the {kind} once (leave the config's "
            f"{kind} at its default {default!r}), or, to resume a stored session, pass the {kind} it was run with."
        )
    if kind == "model":
        return replace(config, model=recorded[0], model_params=dict(recorded[1]))
    return replace(config, strategy=recorded[0], strategy_params=dict(recorded[1]))


def _missing_object_error(kind: str, config: SessionConfig) -> ConfigError:
    path = getattr(config, kind)
    return ConfigError(
        f"This session's {kind} is your own {path!r} (parameters {getattr(config, f'{kind}_params')}), which "
        f"cannot be rebuilt from a stored config: pass the same object again as {kind}=..., e.g. "
        f"ActiveLearningSession.resume(store, session_id, {kind}={path.split(':')[-1]}(...))."
    )


def _registered_strategy_name(obj: Any) -> str | None:
    from mlal_core import strategies

    name = getattr(type(obj), "name", "")
    known = {entry.name: entry.cls for entry in strategies.available()}
    return name if isinstance(name, str) and known.get(name) is type(obj) else None


def _builtin_params(obj: Any, defaults: dict[str, Any], what: str) -> dict[str, Any]:
    """The parameters of a built-in object that differ from ``defaults``; each must be JSON data."""
    params = {k: v for k, v in object_params(obj).items() if k != "random_state"}
    recorded = {k: v for k, v in params.items() if not (k in defaults and _same(v, defaults[k]))}
    for key, value in recorded.items():
        if not _holds_only_json(value):
            raise ConfigError(
                f"Parameter {key!r} of {what} is a {type(value).__name__}, which a session's config (stored "
                "as JSON) cannot hold; give it as a name or a dict of names and numbers "
                "(e.g. batch_sampler='uncertainty' or {'name': 'uncertainty', 'warmup': 3})."
            )
    return recorded


def resolve_strategy(config: SessionConfig, strategy: Any = None, *,
                     strict: bool = False) -> tuple[SessionConfig, Any]:
    """The session's config recording ``strategy``, and the strategy object to run.

    Parameters
    ----------
    config : SessionConfig
        The config given to the session (validated).
    strategy : str or QueryStrategy, optional
        None: the config's strategy. A registry name: as if the config named it. An object: recorded
        as described in the module docstring.
    strict : bool, default False
        True for a session restored from the store: ``strategy`` must record exactly what the config holds.

    Returns
    -------
    tuple of (SessionConfig, QueryStrategy)

    Raises
    ------
    ConfigError
        A conflict with the config, an object without ``select``, or a user's own strategy recorded
        in the config but not passed.
    """
    from mlal_core import strategies

    if strategy is None:
        if is_class_path(config.strategy):
            raise _missing_object_error("strategy", config)
        return config, strategies.get(config.strategy, **config.strategy_params)
    if isinstance(strategy, str):
        config = _merge(config, "strategy", (strategy, config.strategy_params), strict=strict)
        config.validate()
        return config, strategies.get(config.strategy, **config.strategy_params)
    if not callable(getattr(strategy, "select", None)):
        raise ConfigError(
            f"strategy must be a strategy name or an object with select(ctx, n) -> Selection; "
            f"got {type(strategy).__name__}."
        )
    name = _registered_strategy_name(strategy)
    if name is not None:
        if config.strategy == name and _same_params(strategies.get(name, **config.strategy_params), strategy):
            return config, strategies.get(name, **config.strategy_params)  # what the config says already
        recorded = _builtin_params(strategy, _init_defaults(type(strategy)), f"strategy {name!r}")
        config = _merge(config, "strategy", (name, recorded), strict=strict)
        return config, strategies.get(name, **config.strategy_params)
    recorded_own = (class_path(strategy), _json_value(object_params(strategy)))
    return _merge(config, "strategy", recorded_own, strict=strict), strategy


def _as_model(obj: Any) -> Any:
    """Wrap a scikit-learn estimator (or a list of them) or a ``torch.nn.Module`` in its adapter."""
    from mlal_core import models

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        return models.TorchModuleAdapter(obj)
    is_estimator = callable(getattr(obj, "predict_proba", None)) and callable(getattr(obj, "get_params", None))
    if isinstance(obj, (list, tuple)) or (is_estimator and not callable(getattr(obj, "predict_proba_samples", None))):
        return models.SklearnAdapter(obj)
    return obj


def _registered_model_name(obj: Any) -> str | None:
    from mlal_core import models

    return next((name for name, cls in models.MODELS.items() if cls is type(obj)), None)


def resolve_model(config: SessionConfig, model: Any = None, *,
                  strict: bool = False) -> tuple[SessionConfig, Any]:
    """The session's config recording ``model``, and the model template (None: built by name).

    Parameters
    ----------
    config : SessionConfig
        The config given to the session (validated).
    model : str or model object, optional
        None: the config's model. A registry name: as if the config named it. A built-in model object:
        recorded by name and parameters, then built by name each round (template None). A user's own
        model, a scikit-learn estimator, a list of them or a ``torch.nn.Module``: the template the
        session copies every round (see the module docstring).
    strict : bool, default False
        True for a session restored from the store: ``model`` must record exactly what the config holds.

    Returns
    -------
    tuple of (SessionConfig, object or None)

    Raises
    ------
    ConfigError
        A conflict with the config, an object that does not follow the model contract, or a user's
        own model recorded in the config but not passed.
    """
    if model is None:
        if is_class_path(config.model):
            raise _missing_object_error("model", config)
        return config, None
    if isinstance(model, str):
        config = _merge(config, "model", (model, config.model_params), strict=strict)
        config.validate(check_names=False)
        return config, None
    model = _as_model(model)
    name = _registered_model_name(model)
    if name is not None:
        from mlal_core import models
        from mlal_core.session.config import DEFAULT_MODEL_PARAMS

        if config.model == name and _same_params(models.make_model(name, **config.resolved_model_params()), model):
            return config, None  # what the config says already

        defaults = {**_init_defaults(type(model)), **DEFAULT_MODEL_PARAMS}
        config = _merge(config, "model", (name, _builtin_params(model, defaults, f"model {name!r}")), strict=strict)
        config.validate(check_names=False)
        return config, None
    missing = [m for m in ("fit", "predict_proba", "predict_proba_samples") if not callable(getattr(model, m, None))]
    if missing:
        raise ConfigError(
            f"model {type(model).__name__} has no {', '.join(missing)}: a session's model follows the contract "
            f"{_MODEL_CONTRACT}. Wrap a scikit-learn estimator in SklearnAdapter or a PyTorch module in "
            "TorchModuleAdapter (mlal_core.models)."
        )
    params = {k: v for k, v in object_params(model).items() if k != "random_state"}
    return _merge(config, "model", (class_path(model), _json_value(params)), strict=strict), model


def restored_config(config: SessionConfig, session_id: str, device: str | None = None) -> SessionConfig:
    """The stored config of a session to resume, re-validated on this machine (``device`` overriding).

    A session stores its model's device; resuming it where that device is missing (a session run with
    ``device='cuda'``, resumed on a machine without a GPU) is refused here, before any work, with how to
    resume it on the CPU. ``device`` replaces the stored one for this resume only (the store keeps
    what the session started with); on the CPU a stored ``fp16`` precision (CUDA only) becomes ``fp32``.

    Parameters
    ----------
    config : SessionConfig
        The config as stored.
    session_id : str
        The session's id (named in the message).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"auto"``: replaces the model's stored device.

    Returns
    -------
    SessionConfig
        The config to resume with.

    Raises
    ------
    ConfigError
        The stored device is missing on this machine (saying how to resume on the CPU), or the override is
        unusable (an unknown device, or a user's own model, whose device is its own business).
    """
    if device is not None:
        if is_class_path(config.model):
            raise ConfigError(f"Session {session_id} runs a user's own model ({config.model}); its device is "
                              "set on the model object you pass to resume, not with a device override.")
        params = {**config.model_params, "device": device}
        precision = config.precision
        if str(device).strip().lower() == "cpu" and precision == "fp16":  # fp16 runs on CUDA only
            precision = "fp32"
            params.pop("precision", None)
        config = replace(config, model_params=params, precision=precision)
    stored = None if is_class_path(config.model) else config.model_params.get("device")
    try:
        config.validate(check_names=False)
    except ConfigError as exc:
        if device is None and isinstance(stored, str) and stored.strip().lower().startswith("cuda") \
                and "CUDA GPU" in str(exc):
            raise ConfigError(
                f"Session {session_id} was run with device {stored!r}, but this machine has no CUDA GPU (or not "
                f"that one). Resume it on the CPU: `python -m mlal_core resume {session_id} --device cpu` "
                f"(Python: ActiveLearningSession.resume(store, {session_id!r}, device='cpu'))."
            ) from None
        raise
    return config


def check_model_inputs(template: Any, representation: str) -> None:
    """Refuse a user's own model that cannot take the session's features.

    Parameters
    ----------
    template : object or None
        The session's model template (None: a registered model, always fine).
    representation : str
        The resolved representation (``"tfidf"`` features are sparse: the session asks the model for
        ``predict_samples_and_embedding`` so that strategies get a dense representation).

    Raises
    ------
    ConfigError
        When the model lacks what the representation needs.
    """
    if template is None or representation != "tfidf":
        return
    if not callable(getattr(template, "predict_samples_and_embedding", None)):
        raise ConfigError(
            f"With sparse TF-IDF features the session asks the model for predict_samples_and_embedding(X) "
            f"(probability samples and a dense embedding); {type(template).__name__} has none. Add it (or "
            "embed(X) and subclass mlal_core.models.base.EnsembleEstimator), or use representation 'minilm'."
        )
