"""Timing of one active-learning round of the MLP ensemble: ``python -m mlal_core.models.benchmark``.

Measures ``fit`` on ``n`` labelled rows plus ``predict_proba_samples`` on a pool, on random data of
the given shape (the cost does not depend on the values), for the batched ensemble and for the same
members trained one after another. Prints wall-clock and process CPU seconds (min over repeats).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from . import training
from .mlp import MLPEnsemble
from .threads import torch_threads


def _round(model: MLPEnsemble, X, Y, pool, loop: bool) -> tuple[float, float, float]:
    with torch_threads(model.num_threads, torch.device("cpu")):
        return _round_inner(model, X, Y, pool, loop)


def _round_inner(model: MLPEnsemble, X, Y, pool, loop: bool) -> tuple[float, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    if not loop:
        model.fit(X, Y)
        t1 = time.perf_counter()
        model.predict_proba_samples(pool)
    else:  # the same members, one stack of 1 at a time
        stacks = []
        for e in range(model.n_members):
            m1 = model.clone().set_params(n_members=1)
            shift, scale = training.input_standardizer(X, m1.standardize)
            res = training.train_stack(
                training.Rows(X, torch.device("cpu"), shift, scale),
                torch.from_numpy(Y.astype(np.float32)), members=[e], random_state=m1.random_state,
                hidden_size=m1.hidden_size, dropout=m1.dropout, epochs=m1.epochs, batch_size=m1.batch_size,
                learning_rate=m1.learning_rate, weight_decay=m1.weight_decay, min_steps=m1.min_steps,
                max_steps=m1.max_steps,
            )
            stacks.append(res.stack)
        t1 = time.perf_counter()
        model.fit(X[:2], Y[:2])  # cheap fit to set the fitted attributes, then swap in the stack
        model.stack_ = training.Stack.concat(stacks)
        model.input_shift_, model.input_scale_ = training.input_standardizer(X, model.standardize)
        model.predict_proba_samples(pool)
    return t1 - t0, time.perf_counter() - t1, time.process_time() - c0


def main(argv=None) -> None:
    """Command-line entry point: time the MLP ensemble's fit and sampled predictions per thread count.

    Parameters
    ----------
    argv : list of str or None
        Command-line arguments (None: ``sys.argv[1:]``).
    """
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--K", type=int, default=90)
    ap.add_argument("--pool", type=int, default=7669)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--mc-passes", type=int, default=0)
    ap.add_argument("--loop", action="store_true", help="also time members trained one after another")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.d)).astype(np.float32)
    Y = (rng.random((args.n, args.K)) < 0.03).astype(np.uint8)
    pool = rng.normal(size=(args.pool, args.d)).astype(np.float32)
    for threads in args.threads:
        for loop in ([False, True] if args.loop else [False]):
            m = MLPEnsemble(num_threads=threads, mc_passes=args.mc_passes)
            runs = [_round(m, X, Y, pool, loop) for _ in range(args.repeats)]
            fit, pred, cpu = (min(r[i] for r in runs) for i in range(3))
            print(
                f"{'loop   ' if loop else 'batched'} threads={threads} n={args.n} d={args.d} K={args.K} "
                f"pool={args.pool} steps={training.n_steps(args.n, m.batch_size, m.epochs, m.min_steps, m.max_steps)} "
                f"fit={fit:.3f}s predict_samples={pred:.3f}s round={fit + pred:.3f}s cpu={cpu:.3f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
