"""The full-data reference score (``mlal_core.session.reference``)."""

from __future__ import annotations

import json

import pytest
from conftest import FAST_MODEL

from mlal_core import features, metrics
from mlal_core.errors import ConfigError
from mlal_core.session import reference
from mlal_core.session.config import SessionConfig
from mlal_core.session.components import build_model


def _cfg(**kw) -> SessionConfig:
    base = {"dataset": None, "model_params": dict(FAST_MODEL), "strategy": "random", "initial_size": 30,
            "query_size": 10, "rounds": 2, "seed": 3}
    return SessionConfig(**{**base, **kw})


def test_full_data_score_trains_on_the_whole_pool_and_is_cached(small_datasets, mlal_home):
    ds = small_datasets["yeast_small"]
    cfg = _cfg()
    reference.clear_memory_cache()
    assert reference.cached_full_data_score(cfg, ds) is None  # nothing is trained by asking

    calls = []
    out = reference.full_data_score(cfg, ds, progress=lambda d, t, m: calls.append((d, t)))
    assert out["cached"] is False and calls[0] == (0, 1) and calls[-1] == (1, 1)
    assert out["pool_size"] == len(ds.train) and out["representation"] == "raw" and out["seed"] == 3
    assert {"micro_f1", "macro_f1", "micro_f1_tuned", "threshold_tuned"} <= set(out["metrics"])
    assert 0.0 <= out["metrics"]["micro_f1"] <= 1.0

    # what it says it is: the config's model, seeded with config.seed, fit on every pool sample
    feats = features.featurize(ds, "raw")
    model = build_model(cfg, cfg.seed)
    model.fit(feats.train, ds.train.Y, feats.valid, ds.valid.Y)
    thr = metrics.tune_threshold(ds.valid.Y, model.predict_proba(feats.valid))
    manual = metrics.evaluate(ds.test.Y, model.predict_proba(feats.test), threshold=0.5, tuned_threshold=thr)
    assert out["metrics"] == pytest.approx(manual)

    # cached in-process and on disk (a later process reads the file)
    again = reference.full_data_score(cfg, ds)
    assert again["cached"] is True and again["metrics"] == out["metrics"]
    files = list((mlal_home / "cache" / "reference").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["pool_size"] == len(ds.train)
    reference.clear_memory_cache()
    from_disk = reference.cached_full_data_score(cfg, ds)
    assert from_disk is not None and from_disk["metrics"] == pytest.approx(out["metrics"])


def test_cache_key_depends_on_data_model_and_seed_not_on_the_strategy(small_datasets):
    ds = small_datasets["yeast_small"]
    key = reference.cache_key(_cfg(), ds)
    assert reference.cache_key(_cfg(strategy="bald", rounds=7, query_size=3), ds) == key
    assert reference.cache_key(_cfg(seed=4), ds) != key
    assert reference.cache_key(_cfg(model_params={**FAST_MODEL, "n_members": 3}), ds) != key
    assert reference.cache_key(_cfg(), small_datasets["yeast_tiny"]) != key


def test_same_config_same_score_without_cache(small_datasets):
    ds = small_datasets["yeast_tiny"]
    a = reference.full_data_score(_cfg(initial_size=5, query_size=5), ds, use_cache=False)
    b = reference.full_data_score(_cfg(initial_size=5, query_size=5), ds, use_cache=False)
    assert a["cached"] is False and b["cached"] is False
    assert a["metrics"] == b["metrics"]


def test_bundled_dataset_by_name_and_errors(monkeypatch):
    with pytest.raises(ConfigError, match="No dataset"):
        reference.full_data_score(_cfg())
    with pytest.raises(ConfigError):
        reference.full_data_score("not a config")  # type: ignore[arg-type]
    key = reference.cache_key(_cfg(dataset="yeast"))
    assert isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)
