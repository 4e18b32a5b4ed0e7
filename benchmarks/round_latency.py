"""Time one active-learning round split into train / predict / select (issue: foundation).

Reuters-21578 train pool (6,903 texts: the official train split less the carved validation split),
cached MiniLM features, 5-head MLP ensemble, strategy BALD.
The first run embeds the dataset (minutes on 2 cores) and caches it; the timed rounds use the cache.

    python3 benchmarks/round_latency.py [--dataset reuters21578] [--strategy bald] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mlal_core import features  # noqa: E402
from mlal_core.data import load  # noqa: E402
from mlal_core.session.config import SessionConfig  # noqa: E402
from mlal_core.session.loop import ActiveLearningSession  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="reuters21578")
    parser.add_argument("--strategy", default="bald")
    parser.add_argument("--representation", default="minilm")
    parser.add_argument("--initial-size", type=int, default=500)
    parser.add_argument("--query-size", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    ds = load(args.dataset)
    t0 = time.perf_counter()
    feats = features.featurize(ds, args.representation)
    print(f"features ({args.representation}, cached after the first run): {time.perf_counter() - t0:.2f} s")
    config = SessionConfig(
        dataset=args.dataset,
        representation=args.representation,
        strategy=args.strategy,
        initial_size=args.initial_size,
        query_size=args.query_size,
        rounds=args.rounds,
        model_params={"n_members": 5},
    )
    session = ActiveLearningSession(config, dataset=ds, features=feats)
    print(f"torch threads: {torch.get_num_threads()}; pool {session.n_pool}, K = {ds.n_labels}")
    print(f"{'round':>5} {'labelled':>8} {'train_s':>8} {'predict_s':>9} {'select_s':>8} {'total_s':>8}")
    totals = []
    for _ in range(args.rounds):
        rec = session.step()
        t = rec.timings
        totals.append(t["total_s"])
        print(f"{rec.round:>5} {rec.n_labeled:>8} {t['train_s']:>8.2f} {t['predict_s']:>9.2f} "
              f"{t['select_s']:>8.2f} {t['total_s']:>8.2f}")
    print(f"median round: {statistics.median(totals):.2f} s (target < 5 s on 2 cores)")


if __name__ == "__main__":
    main()
