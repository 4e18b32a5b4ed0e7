"""Golden query sequences: every strategy's picks on a fixed subset of Reuters-21578, fixed seed.

The context is built without torch models: five bootstrap ridge classifiers (closed form, numpy)
give the probability samples, so these picks change only when a strategy's behaviour changes.
A refactor that silently changes what a strategy picks fails here. After an intended change,
regenerate with ``MLAL_REGENERATE_GOLDEN=1 python3 -m pytest tests/test_strategy_golden.py`` and
say why in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from mlal_core import data
from mlal_core.strategies import QueryContext, available, get

GOLDEN = Path(__file__).parent / "golden" / "strategy_picks.json"
N_POOL, N_LABELED, TOP_K, QUERY, SEED = 300, 60, 10, 10, 0
# ALPS needs a masked-LM checkpoint, which no bundled encoder has (tested with a tiny one elsewhere)
SKIP = {"alps"}


def _context() -> QueryContext:
    ds = data.load("reuters21578")
    texts = list(ds.train.texts[:N_POOL])
    Y_all = np.asarray(ds.train.Y[:N_POOL])
    keep = np.argsort(-Y_all.sum(axis=0).astype(np.int64), kind="stable")[:TOP_K]
    Y = Y_all[:, keep].astype(np.uint8)
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts)
    X = TruncatedSVD(n_components=32, random_state=0).fit_transform(tfidf).astype(np.float64)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-12)
    labeled = np.arange(N_LABELED)
    rng = np.random.default_rng(SEED)
    samples = []
    for _ in range(5):  # bootstrap ridge "ensemble", targets in {-1, 1}, squashed to (0, 1)
        boot = rng.choice(labeled, size=N_LABELED, replace=True)
        Xb, Tb = X[boot], 2.0 * Y[boot] - 1.0
        W = np.linalg.solve(Xb.T @ Xb + 5.0 * np.eye(X.shape[1]), Xb.T @ Tb)
        samples.append(1.0 / (1.0 + np.exp(-2.0 * (X @ W - 0.6))))
    return QueryContext(
        labeled=labeled,
        unlabeled=np.arange(N_LABELED, N_POOL),
        y_labeled=Y[labeled],
        proba_samples=np.stack(samples),
        features=X.astype(np.float32),
        texts=texts,
        round=1,
        total_rounds=5,
        rng=np.random.default_rng(SEED),
    )


def _picks() -> dict[str, list[int]]:
    out = {}
    for info in available():
        if info.name in SKIP:
            continue
        ctx = _context()
        out[info.name] = get(info.name).select(ctx, QUERY).indices.tolist()
    return out


@pytest.fixture(scope="module")
def picks() -> dict[str, list[int]]:
    return _picks()


def test_golden_file_covers_every_strategy(picks):
    if os.environ.get("MLAL_REGENERATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(picks, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(golden) == sorted(picks), "a strategy was added or removed: regenerate the golden file"


@pytest.mark.parametrize("name", sorted(i.name for i in available() if i.name not in SKIP))
def test_golden_picks(name, picks):
    golden = json.loads(GOLDEN.read_text())
    assert picks[name] == golden[name], f"{name} now picks {picks[name]}, golden {golden[name]}"


def test_golden_picks_differ_between_strategies(picks):
    # a sanity check on the fixture itself: the strategies do not all pick the same batch
    assert len({tuple(sorted(p)) for p in picks.values()}) >= len(picks) - 2
