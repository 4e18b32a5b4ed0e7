"""Wall time of a fixed experiment grid with 1 and 2 local workers, and the Ray backend's overhead.

    python benchmarks/experiment_scaling.py [--repeat 2] [--skip-ray]

Grids (yeast, raw features, no full-data reference, a fresh store and MLAL_HOME per measurement):

* ``fixed``: 4 strategies (random, entropy, bald, crab) x 2 seeds, initial 50 + 3 rounds x 20, the
  session's default model (5-member MLP ensemble): 8 runs of 4 records, a few seconds each.
* ``tiny``: 2 strategies x 8 seeds, 1 round, a 2-member toy model: 16 runs of well under a second
  of work each, so the wall time is mostly per-run overhead.

Measured, interleaved over ``--repeat`` rounds: ``local`` with 1 worker x 2 torch threads (what
``auto`` gives one worker on 2 CPUs), 1 worker x 1 thread, 2 workers x 1 thread; ``ray`` with 2
workers x 1 thread on a local Ray started once beforehand (``ray.init`` reported separately; its
worker processes stay warm between measurements, while the local pool is spawned by every call).
Per measurement: wall time; start-up (call -> first run starts: planning, pool spawn, imports);
the median gap between consecutive runs on one worker (dispatch + result hand-off: the per-run
overhead of a backend); the sums of the runs' wall and CPU seconds (CPU seconds barely depend on
other load on the machine, wall seconds do).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mlal_core import experiments as E

GRIDS = {
    "fixed": {"strategies": ["random", "entropy", "bald", "crab"], "seeds": 2, "initial_size": 50, "query_size": 20,
              "rounds": 3, "models": [{"name": "mlp_ensemble", "params": {"n_members": 5}}]},
    "tiny": {"strategies": ["random", "entropy"], "seeds": 8, "initial_size": 30, "query_size": 20, "rounds": 1,
             "models": [{"name": "mlp_ensemble", "params": {"n_members": 2, "hidden_size": 64, "epochs": 5,
                                                           "min_steps": 40}}]},
}


def measure(grid: str, backend: str, workers: int, threads: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="mlal_bench_"))
    os.environ["MLAL_HOME"] = str(tmp / "home")
    try:
        cfg = E.ExperimentConfig.from_dict({"name": f"bench-{grid}", "store": str(tmp / "s.sqlite"),
                                            "datasets": ["yeast"], "reference": False, **GRIDS[grid]})
        cfg.plan()  # load the data once, outside the timing
        t_call = time.time()
        t0 = time.perf_counter()
        out = E.run_experiment(cfg, backend=backend, workers=workers, threads_per_run=threads)
        wall = time.perf_counter() - t0
        t_end = time.time()
        assert out.ok, out.failed
        ex = out.executed
        gaps = []
        for pid in {r["pid"] for r in ex}:
            rs = sorted((r for r in ex if r["pid"] == pid), key=lambda r: r["started_at"])
            gaps += [b["started_at"] - a["ended_at"] for a, b in itertools.pairwise(rs)]
        return {
            "grid": grid, "backend": backend, "workers": workers, "threads": threads, "runs": len(ex),
            "wall_s": round(wall, 2),
            "startup_s": round(min(r["started_at"] for r in ex) - t_call, 2),  # plan + pool / workers ready
            "tail_s": round(t_end - max(r["ended_at"] for r in ex), 2),  # last merge + shutdown
            "median_gap_s": round(statistics.median(gaps), 3) if gaps else None,  # between runs on a worker
            "sum_run_s": round(sum(r["seconds"] for r in ex), 2),
            "sum_cpu_s": round(sum(r["cpu_seconds"] for r in ex), 2),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--grids", default="fixed,tiny")
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    grids = args.grids.split(",")
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()}", flush=True)
    rows = []
    if not args.skip_ray:
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        print(json.dumps({"ray_init_s": round(time.perf_counter() - t0, 2)}), flush=True)
    setups = [("local", 1, 2), ("local", 1, 1), ("local", 2, 1)] + ([] if args.skip_ray else [("ray", 2, 1)])
    for rep in range(args.repeat):  # interleaved, so that changes in the machine's load hit every setup
        for grid in grids:
            for backend, workers, threads in setups:
                rows.append({**measure(grid, backend, workers, threads), "repeat": rep})
                print(json.dumps(rows[-1]), flush=True)
    if not args.skip_ray:
        ray.shutdown()
    print(f"# load average at the end {os.getloadavg()}", flush=True)
    keys = list(dict.fromkeys((r["grid"], r["backend"], r["workers"], r["threads"]) for r in rows))
    print("\nmedians over repeats (ray: first repeat starts its worker processes)")
    print("grid   backend  workers x threads  runs  wall s  startup s  gap s/run  sum run s  sum cpu s")
    med = statistics.median
    for k in keys:
        rs = [r for r in rows if (r["grid"], r["backend"], r["workers"], r["threads"]) == k]
        gaps = [r["median_gap_s"] for r in rs if r["median_gap_s"] is not None]
        print(f"{k[0]:6} {k[1]:8} {k[2]} x {k[3]:<15} {rs[0]['runs']:4}  {med(r['wall_s'] for r in rs):6.1f}"
              f"  {med(r['startup_s'] for r in rs):9.1f}  {med(gaps) if gaps else float('nan'):9.3f}"
              f"  {med(r['sum_run_s'] for r in rs):9.1f}  {med(r['sum_cpu_s'] for r in rs):9.1f}")


if __name__ == "__main__":
    main()
