"""Time one active-learning round split into train / predict / select, with the round's peak memory.

Default: the Reuters-21578 train pool (6,903 texts: the official train split less the carved
validation split), cached MiniLM features, 5-head MLP ensemble, strategy BALD. The first run embeds
the dataset (minutes on 2 cores) and caches it; the timed rounds use the cache.

Large label spaces (issue 18): a generated XMTC set carries its own 384-d features
(``--representation auto`` reads them), and its label matrices are sparse (K > 500). The pool of
``xmtc-synthetic-N125000-K1000`` is 100,000 samples (80 % of the rows; 10 % valid, 10 % test):

    python3 benchmarks/round_latency.py [--dataset reuters21578] [--strategy bald] [--rounds 3]
    python3 benchmarks/round_latency.py --dataset xmtc-synthetic-N125000-K1000 --strategy entropy --rounds 2

``--initial-size`` / ``--query-size`` default to the session defaults of the pool
(``session.budget.default_budget``: 1,000 and 50 for a 100,000 x 1,000 pool; 500 and 50 were the Reuters
row's settings). Printed: each round's train / predict / select split, the process's resident memory
before the first round and its peak (``resource.getrusage``) next to the size of the dense (N, K)
float32 label matrix and of the (S, N, K) float32 probability samples a round needs, the label
matrix's type, and ``uptime``'s load average (the machines are shared).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mlal_core import features, metrics  # noqa: E402
from mlal_core.data import load  # noqa: E402
from mlal_core.session.budget import default_budget  # noqa: E402
from mlal_core.session.config import SessionConfig  # noqa: E402
from mlal_core.session.loop import ActiveLearningSession  # noqa: E402

MB = 1e6


def resident_mb() -> float:
    """The process's resident memory now, in MB (``/proc/self/statm``; the peak where it is absent).

    Returns
    -------
    float
        Resident set size in MB.
    """
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return peak_mb()


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (``ru_maxrss`` is in KiB on Linux).

    Returns
    -------
    float
        Peak resident set size in MB.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB


def load_average() -> str:
    """``uptime``'s three load averages (1, 5, 15 min) as text.

    Returns
    -------
    str
        E.g. ``"1.52, 0.98, 0.60"``.
    """
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


class PhaseClock:
    """Wall seconds spent in named calls during a round: the predict phase split into the test
    metrics (``metrics.evaluate`` / ``tune_threshold``) and the pool's probability samples.

    Parameters
    ----------
    session : ActiveLearningSession
        The session whose rounds are timed (its ``build_model`` is wrapped).
    """

    def __init__(self, session: ActiveLearningSession) -> None:
        self.seconds: dict[str, float] = {}
        for name in ("evaluate", "tune_threshold"):
            setattr(metrics, name, self._timed(getattr(metrics, name), "metrics"))
        build = session.build_model

        def build_timed(random_state: int):
            model = build(random_state)
            model.predict_proba_samples = self._timed(model.predict_proba_samples, "pool_samples")
            return model

        session.build_model = build_timed  # type: ignore[method-assign]

    def _timed(self, func, key: str):
        def timed(*args, **kwargs):
            t0, c0 = time.perf_counter(), cpu_seconds()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0
                self.seconds[key + "_cpu"] = self.seconds.get(key + "_cpu", 0.0) + cpu_seconds() - c0
        return timed

    def take(self) -> dict[str, float]:
        """The wall and CPU seconds since the last call, by phase; resets them.

        Returns
        -------
        dict of str to float
            ``metrics``, ``pool_samples`` (wall) and ``metrics_cpu``, ``pool_samples_cpu`` seconds.
        """
        out = {k: self.seconds.get(k, 0.0) for k in ("metrics", "pool_samples", "metrics_cpu", "pool_samples_cpu")}
        self.seconds.clear()
        return out


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (less sensitive to a shared machine's load).

    Returns
    -------
    float
        CPU seconds.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Parse the arguments, build the session and time its rounds (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="reuters21578")
    parser.add_argument("--strategy", default="bald")
    parser.add_argument("--representation", default="auto",
                        help="auto: MiniLM for text sets, the dataset's own features for tabular ones")
    parser.add_argument("--initial-size", type=int, default=None, help="default: the session default")
    parser.add_argument("--query-size", type=int, default=None, help="default: the session default")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--members", type=int, default=5)
    args = parser.parse_args()

    print(f"load average at start: {load_average()}")
    t0 = time.perf_counter()
    ds = load(args.dataset)
    print(f"dataset {ds.name}: {time.perf_counter() - t0:.1f} s; pool labels {type(ds.train.Y).__name__}")
    config = SessionConfig(dataset=args.dataset, representation=args.representation, strategy=args.strategy,
                           rounds=args.rounds, model_params={"n_members": args.members})
    rep = config.resolve_representation(ds.kind)
    t0 = time.perf_counter()
    feats = features.featurize(ds, rep)
    print(f"features ({rep}, cached after the first run for text): {time.perf_counter() - t0:.2f} s")
    budget = default_budget(len(ds.train), ds.n_labels)
    initial = args.initial_size if args.initial_size is not None else budget.initial_size
    query = args.query_size if args.query_size is not None else budget.query_size
    config = SessionConfig(dataset=args.dataset, representation=args.representation, strategy=args.strategy,
                           initial_size=initial, query_size=query, rounds=args.rounds,
                           model_params={"n_members": args.members})
    session = ActiveLearningSession(config, dataset=ds, features=feats)
    n, k = session.n_pool, ds.n_labels
    before = resident_mb()
    print(f"torch threads: {torch.get_num_threads()}; pool {n:,}, K = {k:,}; initial {initial}, query {query}; "
          f"resident before round 0: {before:,.0f} MB")
    print("predict_s = the test metrics (metrics_s: evaluate + tune_threshold on the test / valid splits) + "
          "the pool's probability samples (pool_s) + the two small splits' predictions; cpu_s: this process's "
          "CPU seconds in the round, metrics_cpu / pool_cpu those of the two phases (wall seconds grow with the "
          "machine's load, CPU seconds much less)")
    print(f"{'round':>5} {'labelled':>8} {'train_s':>8} {'predict_s':>9} {'metrics_s':>9} {'pool_s':>7} "
          f"{'select_s':>8} {'total_s':>8} {'cpu_s':>7} {'metrics_cpu':>11} {'pool_cpu':>8} {'peak_MB':>8} {'load':>16}")
    clock = PhaseClock(session)
    totals = []
    for _ in range(args.rounds):
        cpu0 = cpu_seconds()
        rec = session.step()
        t, phases = rec.timings, clock.take()
        totals.append(t["total_s"])
        print(f"{rec.round:>5} {rec.n_labeled:>8} {t['train_s']:>8.2f} {t['predict_s']:>9.2f} "
              f"{phases['metrics']:>9.2f} {phases['pool_samples']:>7.2f} {t['select_s']:>8.2f} {t['total_s']:>8.2f} "
              f"{cpu_seconds() - cpu0:>7.1f} {phases['metrics_cpu']:>11.1f} {phases['pool_samples_cpu']:>8.1f} "
              f"{peak_mb():>8,.0f} {load_average():>16}", flush=True)
    s = args.members * max(1, int(config.resolved_model_params().get("mc_passes") or 0))
    print(f"median round: {statistics.median(totals):.2f} s (target < 5 s on 2 cores for the Reuters pool)")
    print(f"peak resident memory {peak_mb():,.0f} MB ({peak_mb() - before:+,.0f} MB over the {before:,.0f} MB "
          f"before round 0); dense (N, K) float32 labels would be {n * k * 4 / MB:,.0f} MB, the (S, N, K) float32 "
          f"probability samples of a round are {s * n * k * 4 / MB:,.0f} MB (S = {s})")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
