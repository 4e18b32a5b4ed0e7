"""Select time of every registered strategy on the GoEmotions train pool, and small-text's
implementations of the same methods where it has them.

    python benchmarks/strategy_speed.py [--query 100] [--labelled 500] [--repeat 1] [--mlm DIR]

Inputs (all seeded): the GoEmotions train split (43,159 texts x K = 28 labels) from
``mlal_core.data`` (or ``data/goemotions/train.parquet`` when the data package is not importable);
5 probability samples from a Beta distribution correlated with the true labels (a stand-in for an
ensemble: timing does not depend on where the probabilities come from); 384-d random features
(the size of MiniLM embeddings); 500 labelled samples; query size 100. No model is passed, so
BADGE / Core-Set work on the features and Adaptive uses its fixed beta.

Targets: < 1 s for score-based strategies, < 10 s for BESRA / CRAB. ALPS runs only with ``--mlm``
(a local masked-LM folder): the bundled encoder has no MLM head.

small-text (``pip install -r benchmarks/requirements.txt``; no torch needed) is timed on the same
inputs: CategoryVectorInconsistencyAndRanking (vs cvirs), AdaptiveActiveLearning (vs adaptive),
LabelCardinalityInconsistency (vs adaptive with beta = 0, i.e. LCI only) and greedy_coreset (vs
coreset). Their definitions differ from ours in places (see NOTES below): the ratio compares run
time, not results.
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

TARGETS = {"besra": 10.0, "crab": 10.0}
SCORE_TARGET = 1.0
#: strategies that compute something once per text list and cache it: timed twice (first, cached)
CACHED = {"subword", "alps"}
#: small-text's greedy_coreset recomputes all distances at every pick; timed on this many picks
#: and extrapolated linearly to the query size (its per-pick cost grows slightly with the picks)
ST_CORESET_PICKS = 3
#: non-default settings worth timing too
VARIANTS = [("badge", {"projection_dims": None})]

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
* greedy_coreset: recomputes the distances of every candidate to all centres at every step
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
        if name in CACHED:
            ok = "ok" if target is None or warm < target else "SLOW"
            verdict = f"first call (loads the tokenizer / model, runs the whole pool once); cached call {warm:.3f} s {ok}"
        rows.append((label, sec, verdict))
    return rows


def _ctx(Y, P, X, labelled, unlabelled):
    return QueryContext(
        labeled=labelled, unlabeled=unlabelled, y_labeled=Y[labelled], proba_samples=P, features=X, rng=np.random.default_rng(0)
    )


def run_small_text(Y, P, X, labelled, unlabelled, n, repeat):
    try:
        import small_text
        from small_text.query_strategies import multi_label as st_ml
        from small_text.query_strategies.coresets import greedy_coreset
    except ImportError as err:
        print(f"\nsmall-text is NOT installed ({err}); install it with `pip install -r benchmarks/requirements.txt` to compare.")
        return None
    from scipy.sparse import csr_matrix

    pbar = P[:, unlabelled].mean(axis=0)
    y_csr = csr_matrix(Y[labelled])
    cases = []
    if hasattr(st_ml, "CategoryVectorInconsistencyAndRanking"):
        cvirs = st_ml.CategoryVectorInconsistencyAndRanking(pbar=None)
        cases.append(("CategoryVectorInconsistencyAndRanking", "cvirs", {}, lambda: cvirs._compute_scores(unlabelled, y_csr, pbar)))
    if hasattr(st_ml, "_uncertainty_weighted_label_cardinality_inconsistency"):
        cases.append(
            (
                "AdaptiveActiveLearning",
                "adaptive",
                {},
                lambda: st_ml._uncertainty_weighted_label_cardinality_inconsistency(pbar, y_csr, 0.5),
            )
        )
    if hasattr(st_ml, "_label_cardinality_inconsistency"):
        cases.append(
            ("LabelCardinalityInconsistency", "adaptive", {"beta": 0.0}, lambda: st_ml._label_cardinality_inconsistency(pbar, y_csr))
        )
    k = min(ST_CORESET_PICKS, n)
    cases.append(
        (
            f"greedy_coreset ({k} picks, x{n / k:.0f})",
            "coreset",
            {},
            lambda: greedy_coreset(X, unlabelled, labelled, k, distance_metric="euclidean", normalized=True),
        )
    )
    rows = []
    for st_name, ours, params, fn in cases:
        sec_st, _ = timed(fn, repeat)
        if st_name.startswith("greedy_coreset"):
            sec_st *= n / k

        def go(ours=ours, params=params):
            return get(ours, **params).select(_ctx(Y, P, X, labelled, unlabelled), n)

        sec_ours, _ = timed(go, repeat)
        sec_score = None
        strategy = get(ours, **params)
        if isinstance(strategy, ScoreBasedStrategy):  # small-text's functions only score: compare score() too
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
        print(f"\nsmall-text {version} on the same inputs (time of its scoring / selection function):")
        print(
            f"{'small-text':<38} {'(s)':>9}   {'ours':<22} {'select (s)':>10} {'score (s)':>10}  {'small-text / ours':>18}"
        )
        for st_name, sec_st, ours, sec_ours, sec_score in rows:
            ref = sec_score if sec_score is not None else sec_ours
            sc = f"{sec_score:10.3f}" if sec_score is not None else f"{'-':>10}"
            print(f"{st_name:<38} {sec_st:9.3f}   {ours:<22} {sec_ours:10.3f} {sc}  {sec_st / ref:18.1f}")
        print("(the ratio uses our score() where small-text's function only scores, else our select())")
        print("\n" + NOTES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
