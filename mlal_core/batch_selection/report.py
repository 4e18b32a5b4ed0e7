"""Build ``reports/batch_selection.md``: the six samplers on the bundled tabular sets.

``python -m mlal_core.batch_selection.report [--seeds 3] [--epochs 50] [--datasets yeast,scene,...]``
runs ``run_batch_selection`` per dataset (results cached as CSV under ``reports/batch_selection/``,
so an interrupted build resumes), writes the figures (PNG via ``mlal_core.export.write_figure``) to
``reports/figures/`` and the tables to the markdown report. The hand-written reading of the results
lives in ``reports/batch_selection_reading.md`` and is included verbatim when present.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from .experiment import (
    METRICS,
    BatchSelectionResult,
    convergence_figure,
    correlation_drift_figures,
    probability_figure,
    run_batch_selection,
)

DATASETS = ("yeast", "scene", "emotions", "enron", "medical")
PRETTY = {"macro_auc": "Macro-AUC ↑", "ranking_loss": "Ranking loss ↓", "hamming_loss": "Hamming loss ↓"}


def _table(summ: pd.DataFrame, metric: str) -> str:
    piv_m = summ.pivot(index="dataset", columns="sampler", values=f"{metric}_mean")
    piv_s = summ.pivot(index="dataset", columns="sampler", values=f"{metric}_std")
    piv_r = summ.pivot(index="dataset", columns="sampler", values=f"{metric}_rank")
    cols = [c for c in summ["sampler"].drop_duplicates()]
    lines = ["| dataset | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for ds in piv_m.index:
        cells = []
        for c in cols:
            m, s, r = piv_m.loc[ds, c], piv_s.loc[ds, c], piv_r.loc[ds, c]
            cell = f"{m:.4f} ± {s:.4f} ({int(r)})"
            cells.append(f"**{cell}**" if r == 1 else cell)
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    avg = piv_r.mean(axis=0)
    lines.append("| avg rank | " + " | ".join(f"{avg[c]:.2f}" for c in cols) + " |")
    return "\n".join(lines)


def first_samplers(results) -> list[str]:
    return next(iter(results.values())).samplers


def _plain_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + (df.index.name or "") + " | " + " | ".join(map(str, cols)) + " |", "|---|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        lines.append(f"| {idx} | " + " | ".join("–" if pd.isna(v) else f"{int(v)}" for v in row) + " |")
    return "\n".join(lines)


def build(datasets=DATASETS, seeds: int = 3, epochs: int = 50, out: str | Path = "reports") -> Path:
    out = Path(out)
    cache, figs = out / "batch_selection", out / "figures"
    cache.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)
    from ..export import write_figure

    results: dict[str, BatchSelectionResult] = {}
    for ds in datasets:
        pk = cache / f"{ds}_s{seeds}_e{epochs}.pkl"
        if pk.exists():
            res = pickle.loads(pk.read_bytes())
            # (caches written before the samplers stopped computing P for the epoch after the last)
            res.histories = {k: [h for h in v if h["epoch"] < res.epochs] for k, v in res.histories.items()}
            results[ds] = res
            continue
        res = run_batch_selection(ds, "all", epochs=epochs, seeds=seeds,
                                  progress=lambda d, t, m: print(f"[{d}/{t}] {m}", flush=True))
        # keep C / p of the uncertainty sampler only (the figures), drop U to keep the cache small
        res.histories = {k: [{kk: vv for kk, vv in h.items() if kk != "U"} for h in v]
                         for k, v in res.histories.items() if k == "uncertainty"}
        pk.write_bytes(pickle.dumps(res))
        res.curves.to_csv(cache / f"{ds}_curves.csv", index=False)
        res.runs.to_csv(cache / f"{ds}_runs.csv", index=False)
        results[ds] = res
    summ = pd.concat([r.summary("best") for r in results.values()], ignore_index=True)
    summ_last = pd.concat([r.summary("last") for r in results.values()], ignore_index=True)
    summ.to_csv(cache / "summary_best.csv", index=False)
    summ_last.to_csv(cache / "summary_last.csv", index=False)

    # speed of convergence: first epoch at which the mean validation macro-AUC reaches 99 % of the
    # random sampler's best mean validation macro-AUC
    conv_rows = []
    for ds, r in results.items():
        cs = r.curve_summary("valid", "macro_auc")
        target = 0.99 * cs[cs["group"] == "random"]["mean"].max()
        for g, d in cs.groupby("group", sort=False):
            hit = d[d["mean"] >= target]["epoch"]
            conv_rows.append({"dataset": ds, "sampler": g, "epoch": int(hit.min()) if len(hit) else np.nan})
    conv = pd.DataFrame(conv_rows).pivot(index="dataset", columns="sampler", values="epoch")[list(first_samplers(results))]

    fig_lines = []
    for ds, r in results.items():
        p = write_figure(convergence_figure(r, "macro_auc", "valid"), figs / f"batch_selection_{ds}_valid_auc.png")
        fig_lines.append(f"![{ds} validation macro-AUC](figures/{p.name})")
    first = next(iter(results.values()))
    hist = first.histories.get("uncertainty")
    drift = []
    if hist:
        keys = [h["epoch"] for h in hist]
        a, b = keys[min(len(keys) - 1, 5)], keys[-1]
        fa, fb, fd, _ = correlation_drift_figures(hist, (a, b), first.label_names, f"{first.dataset}: ")
        for f, nm in ((fa, "a"), (fb, "b"), (fd, "diff")):
            drift.append(write_figure(f, figs / f"batch_selection_{first.dataset}_C_{nm}.png").name)
        pp = write_figure(probability_figure(hist, title=f"{first.dataset}: sampling probabilities (uncertainty)"),
                          figs / f"batch_selection_{first.dataset}_probabilities.png").name
        Ca = np.asarray(next(h["C"] for h in hist if h["epoch"] == a), float)
        Cb = np.asarray(next(h["C"] for h in hist if h["epoch"] == b), float)
        off = ~np.eye(len(Ca), dtype=bool)
        drift_stats = (f"Off-diagonal C after epoch {a}: mean {Ca[off].mean():.3f}, max {Ca[off].max():.3f}; "
                       f"after epoch {b}: mean {Cb[off].mean():.3f}, max {Cb[off].max():.3f}; "
                       f"mean |change| {np.abs(Cb - Ca)[off].mean():.3f}.")
    md = [
        "# Uncertainty batch selection: six samplers on the bundled tabular sets",
        "",
        ("Generated by `python -m mlal_core.batch_selection.report "
        f"--seeds {seeds} --epochs {epochs}` (tables and figures); the reading at the end is written by hand."),
        "",
        "## Setup",
        "",
        (f"* Datasets: {', '.join(results)} (bundled Mulan splits, raw features z-scored per feature; 10 % of the "
        "training split carved as validation by seeded iterative stratification, fixed across seeds)."),
        ("* Model: `MLPEnsemble` with one member (one hidden layer of 256 ReLU units, dropout 0.2), AdamW, learning "
        f"rate 1e-3, weight decay 1e-4, batch size 128 (the paper's optimiser settings), {epochs} epochs, trained on "
        "the whole training split. The paper's deep models (CLIF, DELA, MPVAE) are not reproduced: this is the "
        "workbench's own head."),
        ("* Samplers (METHODS.md): random, balance, active_bias, recency_bias, hard_imbalance, uncertainty "
        "(T = 5, lambda1 = 0.5, tau = 10, s0 = 100, 5 warm-up epochs, C on as in the paper). Adaptive samplers draw "
        "each epoch's n rows with replacement from their probabilities; random is a permutation."),
        (f"* Seeds: {len(first.seeds)} (model initialisation, dropout and batch draws). Test metrics are taken at "
        "the epoch with the best validation macro-AUC, as in the paper; mean ± std over seeds, rank in brackets "
        "(1 = best, bold)."),
        "",
    ]
    for m in METRICS:
        md += [f"## Test {PRETTY[m]} (at the best-validation epoch)", "", _table(summ, m), ""]
    md += ["## Test Macro-AUC at the last epoch", "", _table(summ_last, "macro_auc"), "",
           "## Convergence: first epoch whose mean validation macro-AUC reaches 99 % of random's best", "",
           _plain_table(conv), "", "## Figures", "", "Validation macro-AUC per epoch (mean ± std over seeds):", ""]
    md += fig_lines
    if hist:
        md += ["", (f"Label-correlation matrix C of the uncertainty sampler ({first.dataset}, seed 0; paper Fig. 5): "
               f"after epoch {a}, after epoch {b}, and the change. {drift_stats}"), ""]
        md += [f"![C](figures/{n})" for n in drift]
        md += ["", "Sampling probabilities of the uncertainty sampler over epochs (log scale; dashed: uniform):", "",
               f"![probabilities](figures/{pp})"]
    reading = out / "batch_selection_reading.md"
    if reading.exists():
        md += ["", reading.read_text().strip()]
    path = out / "batch_selection.md"
    path.write_text("\n".join(md) + "\n")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlal_core.batch_selection.report")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--out", default="reports")
    a = ap.parse_args(argv)
    print(f"Wrote {build(a.datasets.split(','), a.seeds, a.epochs, a.out)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
