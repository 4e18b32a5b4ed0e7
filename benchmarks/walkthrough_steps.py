"""Time of the round walk-through's steps on a 20k-candidate pool (issue 15: each step under 1 s after the
first projection).

    python benchmarks/walkthrough_steps.py [--pool 20000] [--repeat 5] [--strategies crab,besra,...] [--tsne]

Inputs (all seeded): a pool of ``--pool`` candidates plus 500 labelled samples, K = 14 labels (yeast's
label space size), 5 probability samples drawn from a Beta distribution around synthetic true labels
(a stand-in for an ensemble: the walk-through's cost does not depend on where the probabilities come
from), 103-d random features (yeast's width); query size 20. Each strategy selects on the round's
context, then the script times, as medians over ``--repeat`` runs:

* ``inputs_s``: :func:`mlal_core.inspection.walkthrough.inputs_from_selection`, once per round
  (reads the clusters CRAB / BESRA and the SLCI / PFD CoMAL recorded; cached by the app afterwards);
* ``steps_first_s`` (the first build, which also fills the inputs' cached label sets) and ``steps_s``
  (median of the later ones): building **all** the round's steps (:func:`steps_of`), so each step
  takes less;
* ``step_figure_max_s``: the slowest step's figures (its map, with every candidate, and its histogram);
* the map itself once: PCA (``map_pca_s``), and t-SNE with ``--tsne`` (the "first projection").

Writes ``benchmarks/results/walkthrough_steps.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mlal_core import strategies  # noqa: E402 - after the path set-up above
from mlal_core.inspection import round_history as rh  # noqa: E402
from mlal_core.inspection import walkthrough as wt  # noqa: E402
from mlal_core.strategies import QueryContext  # noqa: E402

K, D, S, N_LABELLED, QUERY = 14, 103, 5, 500, 20
TARGET_S = 1.0


def make_state(n_pool: int, seed: int = 0) -> rh.RoundState:
    """A round's state on a synthetic pool: ``n_pool`` candidates + the labelled set."""
    rng = np.random.default_rng(seed)
    n = n_pool + N_LABELLED
    Y = (rng.random((n, K)) < np.linspace(0.05, 0.4, K)).astype(np.uint8)
    mean = np.clip(0.2 + 0.6 * Y + rng.normal(0, 0.15, (n, K)), 0.02, 0.98)
    proba = rng.beta(mean * 8, (1 - mean) * 8, size=(S, n, K)).astype(np.float32)
    labelled = np.arange(N_LABELLED)
    ctx = QueryContext(labeled=labelled, unlabeled=np.arange(N_LABELLED, n), y_labeled=Y[labelled],
                       proba_samples=proba, features=rng.normal(size=(n, D)).astype(np.float32), round=1,
                       total_rounds=5)
    return rh.RoundState(round=1, context=ctx, model=None, n=QUERY, source="memory", reproduced=True,
                         _seed_seq=[seed, 1])


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def pca_map(state: rh.RoundState):
    from sklearn.decomposition import PCA

    ctx = state.context
    pos = np.union1d(ctx.unlabeled, ctx.labeled)
    xy = PCA(n_components=2, svd_solver="full").fit_transform(np.asarray(ctx.features)[pos]).astype(np.float32)
    return wt.RoundMap(round=1, positions=pos, xy=xy, method="pca", features="random features")


def bench_strategy(name: str, state: rh.RoundState, rmap: wt.RoundMap, repeat: int) -> dict:
    t0 = time.perf_counter()
    sel = strategies.get(name).select(state.fresh_context(), QUERY)
    select_s = time.perf_counter() - t0
    names = [f"label {j}" for j in range(K)]

    def inputs():
        return wt.inputs_from_selection(state, name, picks=sel.indices, scores=sel.scores, details=sel.details,
                                        diagnostics=sel.diagnostics, names=names, labelled=state.context.labeled)

    inputs_s, inp = median_time(inputs, max(1, min(repeat, 2)))
    t0 = time.perf_counter()
    wt.steps_of(inp)  # the first build also fills the inputs' cached label sets and uncertainties
    steps_first_s = time.perf_counter() - t0
    steps_s, steps = median_time(lambda: wt.steps_of(inp), repeat)
    fig_times = {}
    for step in steps:
        fig_times[step.key], _ = median_time(lambda s=step: (wt.step_map(rmap, s), wt.step_histogram(s)), repeat)
    slowest = max(fig_times, key=fig_times.get)
    return {"strategy": name, "select_s": select_s, "inputs_s": inputs_s, "n_steps": len(steps), "steps_first_s": steps_first_s,
            "steps_s": steps_s,
            "step_figure_max_s": fig_times[slowest], "slowest_figure_step": slowest,
            "clusters_reproduced": None if inp.clusters is None else bool(inp.clusters.reproduced),
            "step_figures_s": fig_times}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--strategies", default="crab,besra,entropy,badge,coreset,random")
    ap.add_argument("--tsne", action="store_true", help="time the first t-SNE projection too (minutes)")
    args = ap.parse_args(argv)
    state = make_state(args.pool)
    map_pca_s, rmap = median_time(lambda: pca_map(state), 1)
    out = {"pool": args.pool, "labelled": N_LABELLED, "K": K, "query": QUERY, "repeat": args.repeat,
           "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
           "map_points": int(rmap.positions.size), "map_pca_s": map_pca_s, "rows": []}
    try:
        out["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        pass
    if args.tsne:
        from mlal_core.inspection import projection

        ctx = state.context
        t0 = time.perf_counter()
        projection.project(np.asarray(ctx.features)[rmap.positions], "tsne", 0, cache=False)
        out["map_tsne_s"] = time.perf_counter() - t0
    print(f"{args.pool} candidates + {N_LABELLED} labelled, K={K}; map (PCA) {map_pca_s:.2f} s; CPU {out['cpu']}")
    print(f"{'strategy':10} {'select':>8} {'inputs':>8} {'steps':>6} {'all, first':>11} {'all steps':>10} "
          f"{'max figure':>11}")
    for name in args.strategies.split(","):
        row = bench_strategy(name.strip(), state, rmap, args.repeat)
        out["rows"].append(row)
        ok = "ok" if max(row["steps_first_s"], row["step_figure_max_s"]) < TARGET_S else "SLOW"
        print(f"{name:10} {row['select_s']:8.2f} {row['inputs_s']:8.2f} {row['n_steps']:6d} {row['steps_first_s']:11.3f} "
              f"{row['steps_s']:10.3f} "
              f"{row['step_figure_max_s']:11.3f}  {ok} ({row['slowest_figure_step']})")
    path = ROOT / "benchmarks" / "results" / "walkthrough_steps.json"
    path.write_text(json.dumps(out, indent=2, default=float))
    print(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
