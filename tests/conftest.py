"""Shared fixtures.

* Every test runs with ``MLAL_HOME`` pointing at its own temporary folder (autouse), so nothing
  touches ``~/.mlal``; session-scoped fixtures get a session-wide temporary home.
* ``small_datasets`` gives small *real* datasets (subsets of the bundled ones, seeded), for tests
  that must run in seconds on a laptop CPU.
* ``FAST_MODEL`` are model parameters that train a 2-member MLP ensemble quickly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: A small, fast MLP ensemble for tests (the session defaults: 5 members, MLPEnsemble's 20 epochs).
FAST_MODEL = {"n_members": 2, "hidden_size": 64, "epochs": 5, "min_steps": 40}


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory):
    """A session-wide ``MLAL_HOME`` (for session-scoped fixtures), restored at the end."""
    old = os.environ.get("MLAL_HOME")
    os.environ["MLAL_HOME"] = str(tmp_path_factory.mktemp("mlal_home_session"))
    yield
    if old is None:
        os.environ.pop("MLAL_HOME", None)
    else:
        os.environ["MLAL_HOME"] = old


@pytest.fixture(autouse=True)
def mlal_home(tmp_path, monkeypatch) -> Path:
    """Point ``MLAL_HOME`` (cache + default session store) at a per-test temporary folder."""
    home = tmp_path / "mlal_home"
    home.mkdir()
    monkeypatch.setenv("MLAL_HOME", str(home))
    return home


def subset_dataset(ds, n_train: int, n_valid: int | None = None, n_test: int | None = None, seed: int = 0, name=None):
    """A seeded row subset of a ``MultiLabelDataset`` (same label space, same kind)."""
    from mlal_core.data import MultiLabelDataset

    rng = np.random.default_rng(seed)

    def take(split, n):
        if n is None or n >= len(split):
            return split.subset(np.arange(len(split)))
        return split.subset(np.sort(rng.choice(len(split), size=n, replace=False)))

    return MultiLabelDataset(
        name=name or f"{ds.name}-subset",
        kind=ds.kind,
        label_names=list(ds.label_names),
        train=take(ds.train, n_train),
        valid=take(ds.valid, n_valid),
        test=take(ds.test, n_test),
        meta=dict(ds.meta),
        valid_carved=ds.valid_carved,
    )


@pytest.fixture(scope="session")
def small_datasets() -> dict:
    """Small real datasets: ``yeast`` (full, 103 raw features, 14 labels), ``yeast_small``
    (400 train / 150 valid / 300 test rows of it), ``yeast_tiny`` (a pool of 30) and
    ``reuters_small`` (600 train / 150 valid / 300 test Reuters-21578 stories, text)."""
    from mlal_core import data

    yeast = data.load("yeast")
    reuters = data.load("reuters21578")
    return {
        "yeast": yeast,
        "yeast_small": subset_dataset(yeast, 400, 150, 300, seed=1, name="yeast-small"),
        "yeast_tiny": subset_dataset(yeast, 30, 60, 100, seed=2, name="yeast-tiny"),
        "reuters_small": subset_dataset(reuters, 600, 150, 300, seed=3, name="reuters-small"),
    }
