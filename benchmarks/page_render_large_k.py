"""Render time of the inspection pages for a session with K = 1,000 labels (issue 18, item 4).

The session is built from a small synthetic extreme multi-label set (:func:`large_k_dataset`: N = 600
pool rows, power-law label frequencies, planted blocks of co-occurring labels) with the fast test
model; two rounds are run first, so the times are those of a page drawn *after* the round is
computed. Each page is rendered with Streamlit's AppTest three times (the first run fills the page's
caches, as a user's first visit does); the table gives the median of the three and the first.

Run: ``python3 benchmarks/page_render_large_k.py [--labels 1000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: the pages measured (issue 18: each renders in under 2 s at K = 1,000 after the round is computed)
PAGES = ("pages/correlations.py", "pages/dataset_explorer.py", "pages/selection_inspector.py",
         "pages/round_walkthrough.py", "pages/learning_curves.py")
#: a 2-member MLP ensemble that trains in seconds (tests/conftest.py FAST_MODEL)
FAST_MODEL = {"n_members": 2, "hidden_size": 64, "epochs": 5, "min_steps": 40}
#: size of the planted blocks of co-occurring labels
BLOCK = 5


def large_k_dataset(n_labels: int = 1000, n_samples: int = 900, *, n_features: int = 32, seed: int = 0,
                    sparse: bool = False):
    """A small tabular data set with many labels: power-law label frequencies and planted blocks.

    Labels come in blocks of :data:`BLOCK` consecutive labels; each sample draws one to three blocks
    with probabilities following a Zipf law (exponent 1.1) and carries each label of a drawn block
    with probability 0.8, so labels of one block co-occur and frequencies fall off as in XMTC data.
    Features are a noisy linear map of the labels. Splits: 2/3 train, 1/9 valid, the rest test.

    Parameters
    ----------
    n_labels : int, default 1000
        The number of labels K (a multiple of :data:`BLOCK`).
    n_samples : int, default 900
        Rows in all splits (600 train at the default).
    n_features : int, default 32
        Feature columns.
    seed : int, default 0
        Seed of everything.
    sparse : bool, default False
        Store each split's Y as a ``scipy.sparse.csr_matrix`` instead of a dense uint8 array.

    Returns
    -------
    MultiLabelDataset
        Kind ``"tabular"``, labels named ``"block b / label j"``.

    Raises
    ------
    ValueError
        If ``n_labels`` is not a positive multiple of :data:`BLOCK`.
    """
    from mlal_core.data import MultiLabelDataset
    from mlal_core.data.dataset import Split

    if n_labels < BLOCK or n_labels % BLOCK:
        raise ValueError(f"n_labels must be a positive multiple of {BLOCK}; got {n_labels}.")
    rng = np.random.default_rng(seed)
    n_blocks = n_labels // BLOCK
    weights = 1.0 / np.arange(1, n_blocks + 1) ** 1.1
    weights /= weights.sum()
    Y = np.zeros((n_samples, n_labels), dtype=np.uint8)
    for i in range(n_samples):
        for b in rng.choice(n_blocks, size=rng.integers(1, 4), replace=False, p=weights):
            on = rng.random(BLOCK) < 0.8
            on[rng.integers(BLOCK)] = True
            Y[i, b * BLOCK:(b + 1) * BLOCK] |= on.astype(np.uint8)
    W = rng.normal(size=(n_labels, n_features)).astype(np.float32)
    X = (Y.astype(np.float32) @ W + rng.normal(scale=0.5, size=(n_samples, n_features))).astype(np.float32)
    cut1, cut2 = (2 * n_samples) // 3, (7 * n_samples) // 9

    def split(rows: slice) -> Split:
        y = Y[rows]
        if sparse:
            import scipy.sparse as sp

            y = sp.csr_matrix(y)
        return Split(Y=y, X=X[rows])

    names = [f"block {j // BLOCK:03d} / label {j:04d}" for j in range(n_labels)]
    meta = {"description": f"Synthetic extreme multi-label set: {n_labels} labels in blocks of {BLOCK}, Zipf "
                           "block frequencies.", "n_features": n_features, "label_names": names}
    return MultiLabelDataset(name=f"large-k-{n_labels}", kind="tabular", label_names=names,
                             train=split(slice(0, cut1)), valid=split(slice(cut1, cut2)),
                             test=split(slice(cut2, None)), meta=meta)


def large_k_session(n_labels: int = 1000, *, strategy: str = "crab", rounds: int = 2, store=None):
    """An active-learning session on :func:`large_k_dataset` with ``rounds`` rounds run.

    Parameters
    ----------
    n_labels : int, default 1000
        The number of labels K.
    strategy : str, default "crab"
        The session's strategy (CRAB: its correlation pairs show on the pages).
    rounds : int, default 2
        Query rounds run.
    store : SessionStore, optional
        Where the rounds are stored (the Learning curves page reads the store).

    Returns
    -------
    ActiveLearningSession
        The session.
    """
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession

    config = SessionConfig(representation="raw", model_params=dict(FAST_MODEL), initial_size=60, query_size=20,
                           rounds=rounds + 1, strategy=strategy)
    session = ActiveLearningSession(config, dataset=large_k_dataset(n_labels), store=store)
    session.run(rounds=rounds)
    return session


def render_times(session, pages=PAGES, repeats: int = 3) -> dict[str, list[float]]:
    """Seconds per AppTest run of each page on ``session`` (the first run included).

    Parameters
    ----------
    session : ActiveLearningSession
        The session put into each page's state.
    pages : sequence of str, default :data:`PAGES`
        Page files, relative to the repository root.
    repeats : int, default 3
        Runs per page.

    Returns
    -------
    dict of str to list of float
        The times of each page's runs, in order.

    Raises
    ------
    RuntimeError
        If a page shows an exception.
    """
    from streamlit.testing.v1 import AppTest

    out: dict[str, list[float]] = {}
    for page in pages:
        at = AppTest.from_file(str(ROOT / page), default_timeout=600)
        at.session_state["al_session"] = session
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t0)
            if at.exception:
                raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
        out[page] = times
    return out


#: the large-K views measured besides each page's default: (page, widget key, value)
VIEWS = (("pages/correlations.py", "corr_A_round_view", "clustered"),
         ("pages/correlations.py", "corr_A_round_view", "search"),
         ("pages/dataset_explorer.py", "dx_A_view", "clustered"),
         ("pages/dataset_explorer.py", "dx_freq_view", "pages of 40 labels"))


def view_times(session, views=VIEWS, repeats: int = 3) -> dict[str, list[float]]:
    """Seconds per run of each page with one of its large-K views chosen (the first run included).

    Parameters
    ----------
    session : ActiveLearningSession
        The session put into each page's state.
    views : sequence of (str, str, str), default :data:`VIEWS`
        ``(page, radio key, view)``.
    repeats : int, default 3
        Runs per view.

    Returns
    -------
    dict of str to list of float
        ``"page: view"`` to the times of its runs.

    Raises
    ------
    RuntimeError
        If a page shows an exception.
    """
    from streamlit.testing.v1 import AppTest

    out: dict[str, list[float]] = {}
    for page, key, value in views:
        at = AppTest.from_file(str(ROOT / page), default_timeout=600)
        at.session_state["al_session"] = session
        at.session_state[key] = value
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t0)
            if at.exception:
                raise RuntimeError(f"{page} ({value}): {[e.value for e in at.exception]}")
        out[f"{page}: {value}"] = times
    return out


def main(argv: list[str] | None = None) -> None:
    """Build the session, render every page and print a table of the times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import os
    import tempfile

    os.environ.setdefault("MLAL_HOME", tempfile.mkdtemp(prefix="mlal_bench_"))
    from mlal_core import paths
    from mlal_core.session.store import SessionStore

    store = SessionStore(paths.default_store_path())
    t0 = time.perf_counter()
    session = large_k_session(args.labels, store=store)
    print(f"session: K = {args.labels}, {session.n_pool} pool rows, built in {time.perf_counter() - t0:.1f} s")
    times = render_times(session, repeats=args.repeats)
    times.update(view_times(session, repeats=args.repeats))
    print(f"| page (view) | median of {args.repeats} (s) | first run (s) |")
    print("| --- | --- | --- |")
    for page, ts in times.items():
        print(f"| {page} | {statistics.median(ts):.2f} | {ts[0]:.2f} |")


if __name__ == "__main__":
    main()
