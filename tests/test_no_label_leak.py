"""No strategy can see the labels of the unlabelled pool, checked end to end through the loop.

The contract test (``test_strategy_contract``) builds contexts by hand, so it shows that a context
without unlabelled labels suffices, but it cannot catch the loop handing a strategy something that
depends on them. Here two datasets differ **only** in the train labels of the samples that are not
labelled: a real session proposes a round on each, and every strategy must pick the same samples
with the same scores. A leak anywhere (loop, features, model inputs, strategy) makes the two differ.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FAST_MODEL, subset_dataset
from test_strategy_contract import make_tiny_mlm

from mlal_core.data import Split
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.strategies import available

NAMES = [i.name for i in available()]


@pytest.fixture(scope="module")
def twin_datasets(small_datasets):
    """(dataset, twin): the twin's unlabelled train rows carry other labels (half flipped, half random)."""
    ds = subset_dataset(small_datasets["reuters_small"], 240, 80, 80, seed=5, name="leak-check")
    Y = np.asarray(ds.train.Y).copy()
    labeled = ActiveLearningSession(_config("random"), dataset=ds).labeled
    unlabeled = np.setdiff1d(np.arange(len(Y)), labeled)
    rng = np.random.default_rng(0)
    other = Y.copy()
    other[unlabeled] = rng.integers(0, 2, size=(unlabeled.size, Y.shape[1]))
    half = unlabeled[: unlabeled.size // 2]
    other[half] = 1 - Y[half]
    twin = subset_dataset(ds, len(ds.train), name="leak-check")
    twin.train = Split(Y=other.astype(Y.dtype), texts=list(ds.train.texts))
    assert not np.array_equal(other, Y) and np.array_equal(other[labeled], Y[labeled])
    return ds, twin


def _config(strategy: str, params: dict | None = None) -> SessionConfig:
    return SessionConfig(strategy=strategy, strategy_params=params or {}, representation="tfidf",
                         model_params=dict(FAST_MODEL), initial_size=40, query_size=8, rounds=2, seed=3)


@pytest.fixture(scope="module")
def tiny_mlm_dir(tmp_path_factory) -> str:
    return make_tiny_mlm(tmp_path_factory.mktemp("leak_mlm"))


@pytest.mark.parametrize("name", NAMES)
def test_a_round_does_not_depend_on_the_labels_of_unlabelled_samples(name, twin_datasets, tiny_mlm_dir):
    ds, twin = twin_datasets
    params = {"mlm": tiny_mlm_dir} if name == "alps" else {}
    a = ActiveLearningSession(_config(name, params), dataset=ds).propose()
    b = ActiveLearningSession(_config(name, params), dataset=twin).propose()
    assert a.selected.tolist() == b.selected.tolist()
    np.testing.assert_array_equal(np.asarray(a.selection.scores), np.asarray(b.selection.scores))
    assert a.metrics == b.metrics  # same model: it trained on the same labelled set
