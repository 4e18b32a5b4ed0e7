"""How every registered strategy's select time and memory grow with the pool size N and the number
of labels K (issue 18: <= 10 s and extra memory <= its input at N = 100,000, K = 1,000).

    python benchmarks/strategy_scaling.py [--strategies entropy,besra] [--n 2000,20000,100000]
        [--k 10,100,1000] [--repeat 3] [--budget 30] [--query 100] [--csv out.csv]
        [--compare DIR] [--param crab:n_reference=50] [--mlm DIR]

Inputs (seeded, generated once per (N, K) and cached as .npy under ``--cache``):

* labels: power-law base rates ``f_j ~ (j + 1)^-1.1`` scaled to a label cardinality of about 3
  (clipped to [2e-4, 0.5]), ``y_ij ~ Bernoulli(f_j)``;
* S = 5 probability samples near the labels' base rates, mildly informative:
  ``logit p_sij = logit f_j + 2.0 (y_ij - f_j) + 0.7 z_ij + 0.35 e_sij`` (z shared by the members,
  e per member; float32);
* 384-d features (the size of MiniLM embeddings): the sum of the sample's label directions plus
  noise, L2-normalised, for the strategies that read features;
* texts (for ``subword``): 12-30 words drawn from a Zipf vocabulary of 5,000 made-up words;
* 1,000 labelled samples (a seeded random choice), query size 100.

Each case (strategy, N, K) runs in a fresh child process, which loads the inputs, runs the strategy
once on a tiny input (so lazy imports such as torch are not counted), resets the kernel's RSS
high-water mark (``/proc/self/clear_refs`` 5; where that is refused, ``ru_maxrss`` is used and the
peak is an upper bound), then times ``--repeat`` selects and reports their median. **Peak extra
memory** = RSS high-water during the selects minus RSS before them: it counts numpy's and torch's C
allocations, which ``tracemalloc`` misses. The **input size** is the bytes of what the strategy
reads (probability samples, plus features / texts where it needs them). The **floor** is measured
in a child of its own for each (N, K) in the same run (median of at least 3 passes): one float32
pass computing the binary entropy of the mean probabilities; ``x floor`` = select / floor.

Growth exponents: least squares of ``log t = c + a log N + b log K`` over a strategy's measured
cases (shown when it has at least three with two Ns and two Ks).

``--budget S``: once a strategy took more than S seconds at some (N, K), larger N at that K are
skipped ("skipped (> S s at N=...)"); a child is stopped after ``--timeout`` seconds.
``--compare DIR``: also run every case with the ``mlal_core`` found in DIR (e.g. an unpacked
``git archive`` of an earlier commit), interleaved with the current one, and print before / after
and their ratio (same inputs, same load). ALPS needs ``--mlm`` (a masked-LM folder) and is
otherwise skipped: its cost is a forward pass of a language model over the pool, not selection.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
N_FEATURES = 384
N_SAMPLES = 5
N_LABELLED = 1000
CHUNK = 8192


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------


def base_rates(k: int, cardinality: float = 3.0) -> np.ndarray:
    """Power-law label frequencies with about ``cardinality`` labels per sample."""
    f = (np.arange(k) + 1.0) ** -1.1
    f *= min(cardinality, 0.5 * k) / f.sum()
    for _ in range(20):  # clipping at 0.5 loses mass: rescale the rest
        f = np.clip(f, 2e-4, 0.5)
        f *= min(cardinality, 0.5 * k) / f.sum()
    return np.clip(f, 2e-4, 0.5)


def _words(rng: np.random.Generator, n_vocab: int = 5000) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 11, size=n_vocab)
    return ["".join(rng.choice(letters, size=m)) for m in lengths]


def make_inputs(n: int, k: int, folder: Path, seed: int = 0) -> Path:
    """Write the inputs of one (N, K) case to ``folder`` (once) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "done").exists():
        return folder
    rng = np.random.default_rng([seed, n, k])
    f = base_rates(k).astype(np.float32)
    logit_f = np.log(f / (1 - f))
    y = np.zeros((n, k), dtype=np.uint8)
    P = np.lib.format.open_memmap(folder / "P.npy", mode="w+", dtype=np.float32, shape=(N_SAMPLES, n, k))
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        yc = rng.random((hi - lo, k), dtype=np.float32) < f
        y[lo:hi] = yc
        base = logit_f + 2.0 * (yc - f) + 0.7 * rng.standard_normal((hi - lo, k), dtype=np.float32)
        for s in range(N_SAMPLES):
            z = base + 0.35 * rng.standard_normal((hi - lo, k), dtype=np.float32)
            P[s, lo:hi] = 1.0 / (1.0 + np.exp(-z))
    P.flush()
    del P
    directions = rng.standard_normal((k, N_FEATURES), dtype=np.float32)
    X = np.empty((n, N_FEATURES), dtype=np.float32)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        xc = y[lo:hi].astype(np.float32) @ directions + 1.5 * rng.standard_normal((hi - lo, N_FEATURES), dtype=np.float32)
        X[lo:hi] = xc / np.linalg.norm(xc, axis=1, keepdims=True)
    np.save(folder / "X.npy", X)
    np.save(folder / "Y.npy", y)
    labelled = np.sort(rng.choice(n, size=min(N_LABELLED, n // 2), replace=False))
    np.save(folder / "labelled.npy", labelled)
    vocab = _words(rng)
    zipf = 1.0 / (np.arange(len(vocab)) + 1.0)
    zipf /= zipf.sum()
    lengths = rng.integers(12, 31, size=n)
    ids = rng.choice(len(vocab), size=int(lengths.sum()), p=zipf)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    with open(folder / "texts.txt", "w") as fh:
        for i in range(n):
            fh.write(" ".join(vocab[j] for j in ids[bounds[i] : bounds[i + 1]]) + "\n")
    (folder / "done").write_text("ok")
    return folder


# ------------------------------------------------------------------------------------------------
# the child: one case
# ------------------------------------------------------------------------------------------------


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _context(QueryContext, folder: Path, needs: tuple[str, ...]):
    P = np.load(folder / "P.npy")
    y = np.load(folder / "Y.npy")
    labelled = np.load(folder / "labelled.npy")
    unlabelled = np.setdiff1d(np.arange(P.shape[1]), labelled)
    extra, nbytes = {}, P.nbytes
    if "features" in needs:
        extra["features"] = np.load(folder / "X.npy")
        nbytes += extra["features"].nbytes
    if "texts" in needs:
        extra["texts"] = (folder / "texts.txt").read_text().splitlines()
        nbytes += sum(len(t) for t in extra["texts"])
    ctx = QueryContext(
        labeled=labelled, unlabeled=unlabelled, y_labeled=y[labelled], proba_samples=P,
        rng=np.random.default_rng(0), **extra,
    )
    return ctx, nbytes


def child(spec: dict) -> dict:
    """Run one case described by ``spec``; return its measurements."""
    if spec.get("root"):
        sys.path.insert(0, spec["root"])
    else:
        sys.path.insert(0, str(ROOT))
    warnings.simplefilter("ignore")
    folder = Path(spec["folder"])
    if spec["name"] == "__floor__":
        P = np.load(folder / "P.npy")
        floor_times: list[float] = []
        for _ in range(max(3, spec["repeat"])):  # short and noisy on a busy machine: at least 3
            t = time.perf_counter()
            pbar = P.mean(axis=0, dtype=np.float32)
            q = 1.0 - pbar
            h = -(pbar * np.log2(pbar) + q * np.log2(q))
            h.sum(axis=1)
            floor_times.append(time.perf_counter() - t)
        return {"time": statistics.median(floor_times), "first": floor_times[0]}
    import mlal_core
    from mlal_core.strategies import QueryContext, get, info

    entry = info(spec["name"])
    params = dict(spec.get("params") or {})
    strategy = get(spec["name"], **params)
    tiny = Path(spec["tiny"])
    ctx_tiny, _ = _context(QueryContext, tiny, entry.needs)
    strategy.select(ctx_tiny, min(spec["query"], 10))  # lazy imports, tokenizer load...
    del ctx_tiny
    ctx, nbytes = _context(QueryContext, folder, entry.needs)
    exact = _reset_peak()
    before = _rss_kb("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times: list[float] = []
    picks: list[int] = []
    for _ in range(spec["repeat"]):
        ctx.rng = np.random.default_rng(0)
        t = time.perf_counter()
        sel = get(spec["name"], **params).select(ctx, spec["query"])
        times.append(time.perf_counter() - t)
        picks = [int(i) for i in sel.indices[:10]]
    peak = _rss_kb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "time": statistics.median(times),
        "first": times[0],
        "extra_mb": max(0, peak - before) / 1024,
        "input_mb": nbytes / 2**20,
        "peak_method": "clear_refs" if exact else "ru_maxrss",
        "picks": picks,
        "mlal_core": str(Path(mlal_core.__file__).parent),
        "diagnostics": {k: v for k, v in sel.diagnostics.items() if isinstance(v, (int, float, str, bool))},
    }


def run_child(spec: dict, timeout: float) -> dict:
    """``child(spec)`` in a fresh interpreter; ``{"error": ...}`` on failure or timeout."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout (> {timeout:g} s)"}
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    if res.returncode != 0 or not lines:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {res.returncode}: {tail[0][:200]}"}
    return json.loads(lines[-1][len("RESULT ") :])


# ------------------------------------------------------------------------------------------------
# the parent: cases, table, exponents
# ------------------------------------------------------------------------------------------------


def growth_exponents(rows: list[dict]) -> tuple[float, float] | None:
    """Least-squares ``(a, b)`` of ``log t = c + a log N + b log K``; None with too few cases."""
    pts = [(r["N"], r["K"], r["time"]) for r in rows if r.get("time")]
    if len(pts) < 3 or len({p[0] for p in pts}) < 2 or len({p[1] for p in pts}) < 2:
        return None
    A = np.array([[1.0, np.log(n), np.log(k)] for n, k, _ in pts])
    coef, *_ = np.linalg.lstsq(A, np.log([t for *_, t in pts]), rcond=None)
    return float(coef[1]), float(coef[2])


def _parse_params(items: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for item in items:
        name, _, kv = item.partition(":")
        key, _, value = kv.partition("=")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(name, {})[key] = parsed
    return out


def _fmt(x, spec=".2f"):
    return "" if x is None else format(x, spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategies", default="", help="comma-separated names (default: all registered)")
    ap.add_argument("--n", default="2000,20000,100000", help="pool sizes N")
    ap.add_argument("--k", default="10,100,1000", help="label counts K")
    ap.add_argument("--repeat", type=int, default=3, help="selects per case; the median is reported")
    ap.add_argument("--query", type=int, default=100, help="query size (default 100)")
    ap.add_argument("--budget", type=float, default=30.0, help="skip larger N after a case above this (s)")
    ap.add_argument("--timeout", type=float, default=600.0, help="stop a case after this many seconds")
    ap.add_argument("--target", type=float, default=10.0, help="time target at the largest case (s)")
    ap.add_argument("--compare", default="", help="folder holding an earlier mlal_core to time side by side")
    ap.add_argument("--param", action="append", default=[], help="name:key=value (JSON value), repeatable")
    ap.add_argument("--mlm", default=None, help="masked-LM folder for ALPS (skipped without it)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "mlal_strategy_scaling"))
    ap.add_argument("--csv", default="", help="also write the rows to this CSV file")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))))
        return 0

    sys.path.insert(0, str(ROOT))
    from mlal_core.strategies import available

    names = [s for s in args.strategies.split(",") if s] or [e.name for e in available()]
    ns = sorted(int(x) for x in args.n.split(","))
    ks = sorted(int(x) for x in args.k.split(","))
    params = _parse_params(args.param)
    if args.mlm:
        params.setdefault("alps", {})["mlm"] = args.mlm
    cache = Path(args.cache)
    tiny = make_inputs(300, 10, cache / "tiny")
    roots = [("after", "")] + ([("before", str(Path(args.compare).resolve()))] if args.compare else [])
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; numpy {np.__version__}; "
          f"S = {N_SAMPLES}, labelled {N_LABELLED}, query {args.query}, repeats {args.repeat} (median)")
    rows: list[dict] = []
    floors: dict[tuple[int, int], float] = {}
    over: dict[tuple[str, str, int], int] = {}  # (tag, name, K) -> the N that went over budget
    for k in ks:
        for n in ns:
            folder = make_inputs(n, k, cache / f"n{n}_k{k}")
            fl = run_child({"name": "__floor__", "folder": str(folder), "repeat": args.repeat}, args.timeout)
            floors[(n, k)] = fl.get("time", float("nan"))
            print(f"\nN = {n:,}, K = {k:,}: floor {floors[(n, k)]:.3f} s", flush=True)
            for name in names:
                if name == "alps" and "alps" not in params:
                    print(f"  {name:<10} skipped: needs --mlm (a masked LM's forward pass over the pool)")
                    continue
                for tag, root in roots:
                    row = {"strategy": name, "N": n, "K": k, "code": tag, "floor": floors[(n, k)]}
                    if (tag, name, k) in over:
                        row["note"] = f"skipped (> {args.budget:g} s at N={over[(tag, name, k)]:,})"
                    else:
                        spec = {"name": name, "folder": str(folder), "tiny": str(tiny), "repeat": args.repeat,
                                "query": args.query, "params": params.get(name, {}), "root": root}
                        res = run_child(spec, args.timeout)
                        if "error" in res:
                            row["note"] = res["error"]
                            over[(tag, name, k)] = n
                        else:
                            row.update(res)
                            row["x_floor"] = res["time"] / floors[(n, k)]
                            if res["time"] > args.budget:
                                over[(tag, name, k)] = n
                    rows.append(row)
                    print(f"  {name:<10} {tag:<6} {_fmt(row.get('time'), '.3f'):>8} s  x{_fmt(row.get('x_floor'), '.1f'):<7}"
                          f" extra {_fmt(row.get('extra_mb'), '.0f'):>6} MB / input {_fmt(row.get('input_mb'), '.0f'):>6} MB"
                          f"  {row.get('note', '')}", flush=True)
    print_table(rows, names, roots, args.target, max(ns), max(ks))
    if args.csv:
        cols = ["strategy", "code", "N", "K", "time", "first", "floor", "x_floor", "extra_mb", "input_mb", "peak_method", "note"]
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        print(f"\nwrote {args.csv}")
    return 0


def print_table(rows: list[dict], names: list[str], roots, target: float, n_max: int, k_max: int) -> None:
    """The markdown tables: one row per strategy and (N, K), then exponents and the verdict."""
    print("\n| strategy | code | N | K | select (s) | x floor | extra MB | input MB | note |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['strategy']} | {r['code']} | {r['N']:,} | {r['K']:,} | {_fmt(r.get('time'), '.3f')} | "
              f"{_fmt(r.get('x_floor'), '.1f')} | {_fmt(r.get('extra_mb'), '.0f')} | {_fmt(r.get('input_mb'), '.0f')} | "
              f"{r.get('note', '')} |")
    print(f"\n| strategy | code | exponent in N | exponent in K | at N={n_max:,}, K={k_max:,} | target <= {target:g} s, extra <= input |")
    print("| --- | --- | ---: | ---: | --- | --- |")
    for name in names:
        for tag, _ in roots:
            mine = [r for r in rows if r["strategy"] == name and r["code"] == tag]
            ex = growth_exponents(mine)
            big = [r for r in mine if r["N"] == n_max and r["K"] == k_max]
            if big and big[0].get("time") is not None:
                b = big[0]
                verdict = "met" if b["time"] <= target and b["extra_mb"] <= b["input_mb"] else "NOT met"
                at = f"{b['time']:.2f} s, {b['extra_mb']:.0f} / {b['input_mb']:.0f} MB"
            else:
                verdict, at = "not measured", (big[0].get("note", "") if big else "")
            print(f"| {name} | {tag} | {_fmt(ex and ex[0])} | {_fmt(ex and ex[1])} | {at} | {verdict} |")
    if len(roots) > 1:
        print("\n| strategy | N | K | before (s) | after (s) | before / after |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            if r["code"] != "after":
                continue
            same = [x for x in rows if x["code"] == "before" and x["strategy"] == r["strategy"]
                    and x["N"] == r["N"] and x["K"] == r["K"]]
            b = same[0] if same else {}
            if b and b.get("time") and r.get("time"):
                print(f"| {r['strategy']} | {r['N']:,} | {r['K']:,} | {b['time']:.3f} | {r['time']:.3f} | {b['time'] / r['time']:.1f} |")


if __name__ == "__main__":
    raise SystemExit(main())
