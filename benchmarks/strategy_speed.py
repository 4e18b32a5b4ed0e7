"""Select time of every registered strategy on the GoEmotions train pool, and small-text's
implementations of the same methods where it has them.

    python benchmarks/strategy_speed.py [--query 100] [--labelled 500] [--repeat 1] [--mlm DIR]

Inputs (all seeded): the GoEmotions train split (43,159 texts x K = 28 labels) from
``mlal_core.data`` (or ``data/goemotions/train.parquet`` when the data package is not importable);
5 probability samples from a Beta distribution correlated with the true labels (a stand-in for an
ensemble: timing does not depend on where the probabilities come from); 384-d random features
(the size of MiniLM embeddings); 500 labelled samples; query size 100. No model is passed, so
BADGE / Core-Set work on the features and Adaptive uses its fixed beta.

Targets: < 1 s for score-based strategies, < 10 s for BESRA / CRAB (the issue's), and < 30 s for
CoMAL (ours, see ``COMAL_TARGET``). ALPS runs only with ``--mlm`` (a local masked-LM folder): the
bundled encoder has no MLM head.

small-text (``pip install -r benchmarks/requirements.txt``; no torch needed) is timed on the same
inputs through its public classes: the ``score(clf, dataset, ...)`` of
CategoryVectorInconsistencyAndRanking (vs cvirs), AdaptiveActiveLearning (vs adaptive) and
LabelCardinalityInconsistency (vs adaptive with beta = 0, i.e. LCI only), with a stand-in classifier
whose ``predict_proba`` returns the same mean probabilities, and ``GreedyCoreset.sample`` (vs
coreset). Their definitions differ from ours in places (see NOTES below): the ratio compares run
time, not results. If small-text is installed but lacks one of these classes, the run stops and
says which.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mlal_core.strategies import QueryContext, ScoreBasedStrategy, available, get

#: CoMAL's own target (the issue sets none): it trains a network every round and embeds every
#: candidate's K label-wise vectors (43k x 28 x d_z 64, a forward pass larger than the classifier's
#: own pool prediction). 30 s on 2 cores, i.e. under 1 ms per candidate, keeps a round on the full
#: GoEmotions pool under a minute, a pause a person stepping through rounds in the app still accepts.
COMAL_TARGET = 30.0
TARGETS = {"besra": 10.0, "crab": 10.0, "comal": COMAL_TARGET}
SCORE_TARGET = 1.0
#: strategies that compute something once per text list and cache it: timed twice (first, cached)
CACHED = {"subword", "alps"}
#: small-text's greedy_coreset recomputes all distances at every pick; timed on this many picks
#: and extrapolated linearly to the query size (its per-pick cost grows slightly with the picks)
ST_CORESET_PICKS = 3
#: non-default settings worth timing too (BADGE's default is exact; the variant random-projects)
VARIANTS = [("badge", {"projection_dims": 512})]

NOTES = """\
Where small-text (2.0.0.dev4) defines things differently from METHODS.md:
* CVIRS: its margin is |p_j - sum_k p_k| (not |2 p_j - 1|); its 'ranks' are np.argsort of the
  margins (the order of the samples, not each sample's rank); its vector inconsistency computes the
  normalised entropy distance but returns the Hamming distance (set to 1 where Hamming = 1) and
  divides the sum over labelled samples by the batch size of unlabelled samples, not by |L|.
* AdaptiveActiveLearning: the uncertainty is 1 / max(top-1 minus top-2 probability, 0.01) always
  (a multi-class 'breaking ties' margin), not the separation margin between the weakest predicted
  and the strongest rejected label; beta is fixed (no adaptive choice); LCI = |#pred - LC| + 1 as ours.
* LabelCardinalityInconsistency: |#pred - LC| (no +1); we time our Adaptive with beta = 0
  (LCI + 1, same ranking).
* GreedyCoreset (greedy_coreset): recomputes the distances of every candidate to all centres at every step
  (O(n |U| |L|)); it also mixes index spaces (picks are positions in the unlabelled list but are
  appended to the labelled pool indices as if they were dataset indices). Ours updates one
  distance vector per pick (O(n |U|)).
"""


def load_pool():
    """(Y (N, K) uint8, texts) of the GoEmotions train split."""
    try:
        from mlal_core import data

        ds = data.load("goemotions")
        Y = np.asarray(ds.train.Y.toarray() if hasattr(ds.train.Y, "toarray") else ds.train.Y, dtype=np.uint8)
        return Y, list(ds.train.texts), "mlal_core.data.load('goemotions')"
    except Exception as err:  # noqa: BLE001 - fall back to the parquet file
        import pandas as pd

        df = pd.read_parquet(ROOT / "data" / "goemotions" / "train.parquet")
        names = sorted({lab for labs in df["labels"] for lab in labs})
        col = {n: j for j, n in enumerate(names)}
        Y = np.zeros((len(df), len(names)), dtype=np.uint8)
        for i, labs in enumerate(df["labels"]):
            Y[i, [col[lab] for lab in labs]] = 1
        return Y, df["text"].tolist(), f"data/goemotions/train.parquet ({type(err).__name__} from mlal_core.data)"


def make_inputs(Y, seed=0, n_members=5, d=384, n_labelled=500):
    rng = np.random.default_rng(seed)
    N, K = Y.shape
    # positives: Beta(3.4, 3) (mean 0.53), negatives: Beta(0.4, 3) (mean 0.12), independent per member
    a = 0.4 + 3.0 * Y
    P = rng.beta(a[None], 3.0, size=(n_members, N, K)).astype(np.float32)
    X = rng.normal(size=(N, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    labelled = np.sort(rng.choice(N, size=n_labelled, replace=False))
    unlabelled = np.setdiff1d(np.arange(N), labelled)
    return P, X, labelled, unlabelled


def timed(fn, repeat=1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run_ours(Y, texts, P, X, labelled, unlabelled, n, repeat, mlm):
    rows = []
    names = {e.name: e for e in available()}
    jobs = [(e, {}, e.name) for e in names.values()]
    jobs += [(names[v], p, f"{v} {p}") for v, p in VARIANTS if v in names]
    for entry, params, label in jobs:
        name = entry.name
        params = dict(params)
        if name == "alps":
            if not mlm:
                rows.append((label, None, "skipped: needs --mlm (the bundled encoder has no MLM head)"))
                continue
            params["mlm"] = mlm

        def go(name=name, params=params):
            ctx = QueryContext(
                labeled=labelled,
                unlabeled=unlabelled,
                y_labeled=Y[labelled],
                proba_samples=P,
                features=X,
                texts=texts,
                rng=np.random.default_rng(0),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return get(name, **params).select(ctx, n)

        try:
            sec, _ = timed(go, 1 if name in CACHED else repeat)
            if name in CACHED:
                warm, _ = timed(go, repeat)
        except Exception as err:  # noqa: BLE001 - report and go on
            rows.append((label, None, f"error: {type(err).__name__}: {err}"))
            continue
        if name in TARGETS:
            target = TARGETS[name]
        elif issubclass(entry.cls, ScoreBasedStrategy):
            target = SCORE_TARGET
        else:
            target = None
        verdict = "" if target is None else ("ok" if sec < target else f"SLOW (target < {target:g} s)")
        if target is not None and verdict == "ok":
            verdict = f"ok (< {target:g} s)"
        if name == "comal":
            verdict += " - CoMAL's own target: it trains a module and embeds K vectors per candidate each round"
        if name in CACHED:
            ok = "ok" if target is None or warm < target else "SLOW"
            verdict = f"first call (loads the tokenizer / model, runs the whole pool once); cached call {warm:.3f} s {ok}"
        rows.append((label, sec, verdict))
    return rows


def _ctx(Y, P, X, labelled, unlabelled):
    return QueryContext(
        labeled=labelled, unlabeled=unlabelled, y_labeled=Y[labelled], proba_samples=P, features=X, rng=np.random.default_rng(0)
    )


class _LookupClassifier:
    """What small-text's ``score`` asks of a classifier: ``predict_proba(dataset[indices])``. With the
    dataset ``np.arange(N)``, ``dataset[indices]`` are pool positions and this returns their mean
    probabilities (the same ``pbar`` our strategies average from the samples)."""

    def __init__(self, pbar: np.ndarray) -> None:
        self.pbar = pbar

    def predict_proba(self, positions: np.ndarray) -> np.ndarray:
        return self.pbar[positions]


def _small_text_api():
    """small-text's classes, or None when small-text is not installed; a RuntimeError when it is
    installed without one of them (another version than benchmarks/requirements.txt pins)."""
    try:
        import small_text
    except ImportError as err:
        print(f"\nsmall-text is NOT installed ({err}); install it with `pip install -r benchmarks/requirements.txt` to compare.")
        return None
    try:
        from small_text.query_strategies.coresets import GreedyCoreset
        from small_text.query_strategies.multi_label import (
            AdaptiveActiveLearning,
            CategoryVectorInconsistencyAndRanking,
            LabelCardinalityInconsistency,
        )
    except ImportError as err:
        raise RuntimeError(
            f"small-text {getattr(small_text, '__version__', '?')} lacks a class this benchmark times ({err}). "
            "Install the version pinned in benchmarks/requirements.txt (pip install -r benchmarks/requirements.txt)."
        ) from None
    return small_text, CategoryVectorInconsistencyAndRanking, AdaptiveActiveLearning, LabelCardinalityInconsistency, GreedyCoreset


def run_small_text(Y, P, X, labelled, unlabelled, n, repeat):
    api = _small_text_api()
    if api is None:
        return None
    small_text, CVIRS, Adaptive, LCI, GreedyCoreset = api
    from scipy.sparse import csr_matrix

    clf = _LookupClassifier(P.mean(axis=0))
    dataset = np.arange(len(Y))
    y_csr = csr_matrix(Y[labelled])
    k = min(ST_CORESET_PICKS, n)
    cases = [
        ("CategoryVectorInconsistencyAndRanking", "cvirs", {}, CVIRS(pbar=None)),
        ("AdaptiveActiveLearning", "adaptive", {}, Adaptive(uncertainty_weight=0.5)),
        ("LabelCardinalityInconsistency", "adaptive", {"beta": 0.0}, LCI()),
        (f"GreedyCoreset ({k} picks, x{n / k:.0f})", "coreset", {}, GreedyCoreset(distance_metric="euclidean", normalize=True)),
    ]
    rows = []
    for st_name, ours, params, st_strategy in cases:
        if isinstance(st_strategy, GreedyCoreset):
            sec_st, _ = timed(lambda s=st_strategy: s.sample(clf, dataset, unlabelled, labelled, y_csr, k, X), repeat)
            sec_st *= n / k
        else:
            sec_st, _ = timed(lambda s=st_strategy: s.score(clf, dataset, unlabelled, labelled, y_csr), repeat)

        def go(ours=ours, params=params):
            return get(ours, **params).select(_ctx(Y, P, X, labelled, unlabelled), n)

        sec_ours, _ = timed(go, repeat)
        sec_score = None
        strategy = get(ours, **params)
        if isinstance(strategy, ScoreBasedStrategy):  # small-text's score() only scores: compare our score() too
            sec_score, _ = timed(lambda s=strategy: s.score(_ctx(Y, P, X, labelled, unlabelled)), repeat)
        rows.append((st_name, sec_st, f"{ours}{'' if not params else ' ' + str(params)}", sec_ours, sec_score))
    return small_text.__version__ if hasattr(small_text, "__version__") else "?", rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--query", type=int, default=100, help="query size n (default 100)")
    ap.add_argument("--labelled", type=int, default=500, help="labelled samples (default 500)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per timing; the best is reported")
    ap.add_argument("--mlm", default=None, help="local masked-LM folder for ALPS (skipped without it)")
    ap.add_argument("--no-small-text", action="store_true", help="skip the small-text comparison")
    args = ap.parse_args(argv)

    Y, texts, source = load_pool()
    P, X, labelled, unlabelled = make_inputs(Y, n_labelled=args.labelled)
    print(f"pool: {source}: N = {Y.shape[0]:,}, K = {Y.shape[1]}; labelled {len(labelled)}, query {args.query}; "
          f"S = {P.shape[0]} Beta samples, features {X.shape[1]}-d random")
    import os

    print(f"machine: {os.cpu_count()} CPU cores, numpy {np.__version__}")
    print(f"\n{'strategy':<32} {'select (s)':>11}  verdict")
    for name, sec, verdict in run_ours(Y, texts, P, X, labelled, unlabelled, args.query, args.repeat, args.mlm):
        s = f"{sec:11.3f}" if sec is not None else f"{'-':>11}"
        print(f"{name:<32} {s}  {verdict}")
    if args.no_small_text:
        return 0
    res = run_small_text(Y, P, X, labelled, unlabelled, args.query, args.repeat)
    if res is not None:
        version, rows = res
        print(f"\nsmall-text {version} on the same inputs (its strategies' score(), GreedyCoreset.sample):")
        print(
            f"{'small-text':<38} {'(s)':>9}   {'ours':<22} {'select (s)':>10} {'score (s)':>10}  {'small-text / ours':>18}"
        )
        for st_name, sec_st, ours, sec_ours, sec_score in rows:
            ref = sec_score if sec_score is not None else sec_ours
            sc = f"{sec_score:10.3f}" if sec_score is not None else f"{'-':>10}"
            print(f"{st_name:<38} {sec_st:9.3f}   {ours:<22} {sec_ours:10.3f} {sc}  {sec_st / ref:18.2f}")
        print("(the ratio uses our score() where small-text's function only scores, else our select())")
        print("\n" + NOTES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
