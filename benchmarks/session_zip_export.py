"""Session zip export: size and build time of ``session_export_zip`` for a stored CRAB session.

A CRAB session on a bundled dataset (emotions by default: 35 initial samples, 15 per round, 5 rounds)
is run once into a SQLite store (``--store``, reused when it already holds the session). Then each
repeat is a fresh process that builds the zip three times with the default figure formats (PNG, SVG,
HTML) at the chosen export size: the **cold** build includes starting the export Chromium (the first
export in the app's process), the **repeat** build is the same zip again (the renders kept by
``export``, as when a person clicks twice), the **warm** build has the browser running but no
renders kept. Reported: the zip's size, the three build times (medians over the repeats), whether
the zip's bytes are the same twice, and with ``--breakdown`` where the warm time goes (seconds per
format over all figures).

    python3 benchmarks/session_zip_export.py                      # 3 fresh processes, screen size
    python3 benchmarks/session_zip_export.py --size column --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SESSION_NAME = "zip-benchmark"


def build_session(store_path: Path, dataset: str, rounds: int) -> str:
    """Run the CRAB session into ``store_path`` (once) and return its id."""
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.store import SessionStore

    store = SessionStore(store_path)
    name = f"{SESSION_NAME}-{dataset}-{rounds}"
    for row in store.list_sessions().to_dict(orient="records"):
        if row.get("name") == name and row.get("status") == "finished":
            return str(row["id"])
    config = SessionConfig(dataset=dataset, strategy="crab", initial_size=35, query_size=15, rounds=rounds,
                           seed=0, name=name)
    session = ActiveLearningSession(config, store=store)
    session.run()
    return session.session_id


def one_run(store_path: str, session_id: str, size: str, breakdown: bool) -> dict:
    """Runs in the fresh process: a cold and a warm zip build, timed."""
    from mlal_core import export
    from mlal_core.inspection.session_zip import session_export_zip
    from mlal_core.session.store import SessionStore

    store = SessionStore(Path(store_path))
    clear_cache = getattr(export, "clear_render_cache", lambda: 0)  # older versions kept no renders
    t0 = time.perf_counter()
    data = session_export_zip(store, session_id, size=size)
    cold = time.perf_counter() - t0
    start = export.last_export_timings().get("start_s", float("nan"))
    t0 = time.perf_counter()
    again = session_export_zip(store, session_id, size=size)
    repeat = time.perf_counter() - t0
    clear_cache()
    t0 = time.perf_counter()
    session_export_zip(store, session_id, size=size)
    warm = time.perf_counter() - t0
    out = {"size_bytes": len(data), "cold_s": cold, "warm_s": warm, "repeat_s": repeat, "browser_start_s": start,
           "deterministic": data == again}
    if breakdown:
        out["per_format_s"] = _per_format(export, store, session_id, size)
    return out


def _per_format(export, store, session_id: str, size: str) -> dict:
    """Warm seconds per figure format, summed over the session's default figures."""
    from mlal_core.inspection import session_zip as sz

    info = store.session_info(session_id)
    records = store.load_rounds(session_id)
    figs = {**sz.session_figures(records), **sz.labelled_set_correlations(info, records)}
    sized = {stem: export.sized_for_export(fig, size) for stem, fig in figs.items()}
    times = {}
    getattr(export, "clear_render_cache", lambda: 0)()
    for fmt in sz.DEFAULT_FIGURE_FORMATS:
        t0 = time.perf_counter()
        for fig, kwargs in sized.values():
            export.figure_to_bytes(fig, fmt, **kwargs)
        times[fmt] = time.perf_counter() - t0
    times["figures"] = len(figs)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="emotions")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", default="screen", help="export size: screen, column or double")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes (medians reported)")
    ap.add_argument("--store", default=None, help="SQLite store to run the session into (default: a temp dir)")
    ap.add_argument("--breakdown", action="store_true", help="also time each format over all figures")
    ap.add_argument("--out", default=None, help="write the runs as JSON here")
    ap.add_argument("--_child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(one_run(args._child[0], args._child[1], args.size, args.breakdown)))
        return 0

    with tempfile.TemporaryDirectory(prefix="mlal-zip-bench-") as tmp:
        os.environ.setdefault("MLAL_HOME", tmp)
        store_path = Path(args.store) if args.store else Path(tmp) / "sessions.sqlite"
        t0 = time.perf_counter()
        session_id = build_session(store_path, args.dataset, args.rounds)
        print(f"session {session_id}: crab on {args.dataset}, {args.rounds} rounds "
              f"({time.perf_counter() - t0:.1f} s to run or find)")
        runs = []
        for i in range(args.repeats):
            cmd = [sys.executable, __file__, "--size", args.size, "--_child", str(store_path), session_id]
            if args.breakdown:
                cmd.append("--breakdown")
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=dict(os.environ))
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return proc.returncode
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            runs.append(run)
            extra = f", per format {run['per_format_s']}" if args.breakdown else ""
            print(f"run {i + 1}: {run['size_bytes'] / 1e6:.2f} MB, cold {run['cold_s']:.2f} s "
                  f"(browser start {run['browser_start_s']:.2f} s), warm {run['warm_s']:.2f} s, "
                  f"repeat {run['repeat_s']:.2f} s{extra}")
    med = {k: statistics.median(r[k] for r in runs) for k in ("size_bytes", "cold_s", "warm_s", "repeat_s")}
    print(f"median of {len(runs)} ({args.size} size): {med['size_bytes'] / 1e6:.2f} MB, "
          f"cold {med['cold_s']:.2f} s, warm {med['warm_s']:.2f} s, repeat {med['repeat_s']:.2f} s; "
          f"same bytes twice: {all(r['deterministic'] for r in runs)}")
    if args.out:
        Path(args.out).write_text(json.dumps({"size": args.size, "dataset": args.dataset, "runs": runs,
                                              "median": med}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
