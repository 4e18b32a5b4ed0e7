"""The full-data reference score: the session's model trained once on the **whole** training pool.

Active learning asks "how much of the pool must be labelled to get (close to) the score of labelling
all of it?" (BEAL, Table 2). ``full_data_score(config)`` answers the second half: it trains the model
the session's config describes (same representation, model kind and parameters) on every sample of
the training pool, exactly as a round of the session trains (``components.build_model``, the valid split
passed to ``fit``, threshold tuned on the valid split) and evaluates it on the test split.
``metrics.labelled_fraction_to_reach(curve, target=score)`` then gives the labelled fraction a
strategy needed to reach it.

Deterministic: the model is seeded with ``config.seed`` (the session's round ``t`` uses
``seed + t``). The strategy, budget and initial set of the config play no part, so sessions of
several strategies over the same data and model share one reference.

Cached: the result is kept in-process and written as JSON under ``$MLAL_HOME/cache/reference/``,
keyed by the dataset's content hash, the representation, ``max_length``, the model and its resolved
parameters and the seed; a second call (in this or a later process) returns it without training.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlal_core import paths
from mlal_core.errors import ConfigError
from mlal_core.session.config import MODELS, SessionConfig

__all__ = ["cache_key", "cached_full_data_score", "clear_memory_cache", "full_data_score"]

CACHE_VERSION = 1
_memory: dict[tuple[str, str], dict] = {}


def _dense(Y: Any) -> np.ndarray:
    return np.asarray(Y.toarray() if sp.issparse(Y) else Y, dtype=np.uint8)


def _training_labels(Y: Any, model: str) -> Any:
    """The pool's labels as ``fit`` gets them: a sparse ``Y`` (K > 500) stays sparse for the built-in
    models, which read it without a dense uint8 copy of the whole pool (100 MB at 100,000 x 1,000)."""
    if sp.issparse(Y) and model in MODELS:
        return Y.tocsr()
    return _dense(Y)


def _resolve(config: SessionConfig, dataset: Any) -> tuple[SessionConfig, Any, str]:
    if not isinstance(config, SessionConfig):
        raise ConfigError(f"config must be a SessionConfig; got {type(config).__name__}.")
    config.validate(check_names=dataset is None)
    if dataset is None:
        if config.dataset is None:
            raise ConfigError("No dataset: set config.dataset to a bundled dataset name or pass dataset=.")
        from mlal_core import data

        dataset = data.load(config.dataset)
    return config, dataset, config.resolve_representation(dataset.kind)


def cache_key(config: SessionConfig, dataset: Any = None) -> str:
    """The cache key (sha256 hex) of the reference for ``config`` on ``dataset``.

    Parameters
    ----------
    config : SessionConfig
        The session configuration (validated here).
    dataset : Any
        The dataset (None: the bundled ``config.dataset``).

    Returns
    -------
    str
        The sha256 hex digest of the cache version, the dataset's content hash, the representation,
        the token limit, the model, its parameters (without ``device``) and the seed.

    Raises
    ------
    ConfigError
        If ``config`` is not a valid ``SessionConfig``, or there is no dataset.
    """
    config, dataset, rep = _resolve(config, dataset)
    parts = {
        "version": CACHE_VERSION,
        "dataset_hash": dataset.content_hash(),
        "representation": rep,
        "max_length": config.feature_max_length(rep) if rep in ("minilm", "tokens") else None,
        "model": config.model,
        "model_params": {k: v for k, v in sorted(config.resolved_model_params().items()) if k != "device"},
        "seed": config.seed,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _cache_file(key: str) -> Path:
    return paths.cache_dir() / "reference" / f"{key}.json"


def _finite_or_none(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _read(key: str) -> dict | None:
    mem = _memory.get((str(paths.cache_dir()), key))
    if mem is not None:
        return {**mem, "cached": True}
    path = _cache_file(key)
    if not path.is_file():
        return None
    try:
        out = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a damaged cache file is recomputed
    out["metrics"] = {k: (float("nan") if v is None else v) for k, v in out.get("metrics", {}).items()}
    _memory[(str(paths.cache_dir()), key)] = out
    return {**out, "cached": True}


def cached_full_data_score(config: SessionConfig, dataset: Any = None) -> dict | None:
    """The cached reference for ``config`` (see :func:`full_data_score`), or ``None`` when it has not
    been computed yet (nothing is trained).

    Parameters
    ----------
    config : SessionConfig
        The session configuration.
    dataset : Any
        The dataset (None: the bundled ``config.dataset``).

    Returns
    -------
    dict or None
        The stored result of :func:`full_data_score` with ``"cached": True``, or None.
    """
    return _read(cache_key(config, dataset))


def clear_memory_cache() -> None:
    """Forget the in-process cache (the files under ``$MLAL_HOME/cache/reference`` stay)."""
    _memory.clear()


def full_data_score(config: SessionConfig, dataset: Any = None, *, features: Any = None,
                    use_cache: bool = True, progress=None) -> dict:
    """Train ``config``'s model on the whole training pool once; its test metrics.

    The "full-data" reference of ``docs/METHODS.md``, "Evaluation" (BEAL Table 2).

    Parameters
    ----------
    config : SessionConfig
        The session configuration (model, parameters, representation, seed).
    dataset : Any
        The dataset (default: the bundled ``config.dataset``).
    features : Any
        Precomputed ``Features`` of it for the config's representation (default:
        ``features.featurize``).
    use_cache : bool
        Return a cached result when there is one, and cache a new one (in memory and on disk).
    progress : callable or None
        ``progress(done, total, message)``, called before and after training.

    Returns
    -------
    dict
        ``{"metrics": {name: value} (as metrics.evaluate, with the tuned-threshold entries),
        "pool_size": N, "dataset": name, "representation", "model", "model_params", "seed",
        "seconds": training + evaluation time, "cached": bool, "key": cache key}``.

    Raises
    ------
    ConfigError
        If ``config`` is invalid or there is no dataset.
    """
    from mlal_core import features as feat
    from mlal_core import metrics
    from mlal_core.session.components import build_model
    from mlal_core.session.loop import _check_finite, feature_request

    config, dataset, rep = _resolve(config, dataset)
    key = cache_key(config, dataset)
    if use_cache:
        hit = _read(key)
        if hit is not None:
            return hit
    if progress is not None:
        progress(0, 1, f"training the model on all {len(dataset.train)} training samples")
    if features is None:
        features = feat.featurize(dataset, **feature_request(config, dataset.kind))
    _check_finite(features)
    t0 = time.perf_counter()
    Y_pool = _training_labels(dataset.train.Y, config.model)
    Y_valid = _dense(dataset.valid.Y)
    model = build_model(config, config.seed)
    model.fit(features.train, Y_pool, features.valid, Y_valid)
    threshold = metrics.tune_threshold(Y_valid, model.predict_proba(features.valid))
    result = metrics.evaluate(_dense(dataset.test.Y), model.predict_proba(features.test), threshold=0.5,
                              tuned_threshold=threshold)
    out: dict[str, Any] = {
        "metrics": {k: float(v) for k, v in result.items()},
        "pool_size": len(dataset.train),
        "dataset": config.dataset or dataset.name,
        "representation": rep,
        "model": config.model,
        "model_params": {k: v for k, v in config.resolved_model_params().items()},
        "seed": int(config.seed),
        "seconds": time.perf_counter() - t0,
        "key": key,
    }
    if progress is not None:
        progress(1, 1, "full-data model trained")
    if use_cache:
        _memory[(str(paths.cache_dir()), key)] = out
        path = _cache_file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {**out, "metrics": _finite_or_none(out["metrics"])}
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=str, allow_nan=False))
        tmp.replace(path)
    return {**out, "cached": False}
