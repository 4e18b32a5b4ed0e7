"""Small real sessions shared by ``test_inspect.py`` and ``test_app_inspect_pages.py``.

Built once per test process (``functools.cache``): yeast (a seeded subset of 400 pool samples, raw
features), a 2-member MLP ensemble, 30 initial samples, 10 per round, 3 planned rounds, 2 run.
The pages only add in-memory caches to a session, so sharing them between tests is safe; tests
that step a session further build their own.
"""

from __future__ import annotations

import functools

import numpy as np

FAST_MODEL = {"n_members": 2, "hidden_size": 64, "epochs": 5, "min_steps": 40}


@functools.cache
def small_yeast():
    from mlal_core import data
    from mlal_core.data import MultiLabelDataset

    ds = data.load("yeast")
    rng = np.random.default_rng(11)

    def take(split, n):
        return split.subset(np.sort(rng.choice(len(split), size=min(n, len(split)), replace=False)))

    return MultiLabelDataset(name="yeast-inspect", kind=ds.kind, label_names=list(ds.label_names),
                             train=take(ds.train, 400), valid=take(ds.valid, 120), test=take(ds.test, 200),
                             meta=dict(ds.meta), valid_carved=ds.valid_carved)


def make_config(strategy: str, **overrides):
    from mlal_core.session.config import SessionConfig

    params = {"representation": "raw", "model_params": dict(FAST_MODEL), "initial_size": 30, "query_size": 10,
              "rounds": 3, "strategy": strategy}
    if strategy == "comal":
        params["strategy_params"] = {"epochs": 3, "embedding_cap": 200}
    params.update(overrides)
    return SessionConfig(**params)


def new_session(strategy: str, rounds_to_run: int = 2, store=None, **overrides):
    """A fresh session of ``strategy`` with ``rounds_to_run`` rounds done."""
    from mlal_core.session.loop import ActiveLearningSession

    session = ActiveLearningSession(make_config(strategy, **overrides), dataset=small_yeast(), store=store)
    if rounds_to_run:
        session.run(rounds=rounds_to_run)
    return session


@functools.cache
def crab_session():
    return new_session("crab")


@functools.cache
def comal_session():
    return new_session("comal")
