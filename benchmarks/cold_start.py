"""Cold start: seconds from "Start session" to the first finished round, from an empty MLAL_HOME.

For each dataset, a fresh process with a new, empty ``MLAL_HOME`` does what the Home page does with
its defaults: load the bundled dataset, take the budget defaults for its pool
(``mlal_core.session.budget.default_budget``), MiniLM features + 5-member MLP ensemble + BALD, prepare the
features in a ``FeatureWorker`` (the app's background worker: bundled features, checked on first
use), start the session in a SQLite store, and run round 0 in a ``SessionWorker``. Reported:
dataset load (done when the dataset is picked, before the click), then features / session start /
train / predict / select and the total from the click to the stored round.

    python3 benchmarks/cold_start.py                          # reuters21578 and goemotions
    python3 benchmarks/cold_start.py goemotions --repeats 3   # medians over 3 fresh processes
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
PHASES = ("dataset_s", "features_s", "session_s", "train_s", "predict_s", "select_s", "click_to_round_s")


def one_run(name: str) -> dict:
    """Runs in the fresh process: the app's path, timed."""
    from mlal_core import data
    from mlal_core.session.budget import default_budget
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession, feature_request
    from mlal_core.session.store import SessionStore
    from mlal_core.session.worker import FeatureWorker, SessionWorker

    t0 = time.perf_counter()
    ds = data.load(name)
    t1 = time.perf_counter()
    budget = default_budget(len(ds.train), ds.n_labels)
    config = SessionConfig(dataset=name, strategy="bald", initial_size=budget.initial_size,
                           query_size=budget.query_size, rounds=budget.rounds)
    worker = FeatureWorker(ds, feature_request(config, ds.kind)).start()
    worker.join()
    if worker.status().state != "done":
        raise SystemExit(f"features failed: {worker.status().error}")
    t2 = time.perf_counter()
    store = SessionStore(Path(os.environ["MLAL_HOME"]) / "sessions.sqlite")
    session = ActiveLearningSession(config, dataset=ds, features=worker.result, store=store)
    t3 = time.perf_counter()
    SessionWorker(session, records=1).start().join()
    t4 = time.perf_counter()
    timings = session.history[0].timings
    return {"dataset": name, "pool": len(ds.train), "labels": ds.n_labels, "precision": session.config.precision,
            "feature_source": worker.result.info.get("source"), "dataset_s": t1 - t0, "features_s": t2 - t1,
            "session_s": t3 - t2, "train_s": timings["train_s"], "predict_s": timings["predict_s"],
            "select_s": timings["select_s"], "click_to_round_s": t4 - t1}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="*", default=["reuters21578", "goemotions"])
    ap.add_argument("--repeats", type=int, default=1, help="fresh processes per dataset (medians reported)")
    ap.add_argument("--out", default=None, help="write the runs as JSON here")
    ap.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(one_run(args._child)))
        return 0
    from mlal_core.features.device import cpu_has_native_bf16

    print(f"CPU: {_cpu_model()} ({os.cpu_count()} cores), native bf16: {cpu_has_native_bf16()}")
    runs = []
    for _ in range(args.repeats):
        for name in args.datasets:  # round-robin: a noisy machine hits every dataset alike
            with tempfile.TemporaryDirectory() as home:
                out = subprocess.run([sys.executable, __file__, "--_child", name], capture_output=True, text=True,
                                     env={**os.environ, "MLAL_HOME": home}, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| dataset | pool | features from | precision | " + " | ".join(PHASES) + " |")
    print("|---|---|---|---|" + "---|" * len(PHASES))
    for name in args.datasets:
        mine = [r for r in runs if r["dataset"] == name]
        med = {p: statistics.median(r[p] for r in mine) for p in PHASES}
        print(f"| {name} | {mine[0]['pool']:,} | {mine[0]['feature_source']} | {mine[0]['precision']} | "
              + " | ".join(f"{med[p]:.2f}" for p in PHASES) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps(runs, indent=2))
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
