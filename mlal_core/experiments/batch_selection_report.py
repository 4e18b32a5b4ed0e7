"""Build ``reports/batch_selection.md``: the six samplers on the bundled tabular sets.

``python -m mlal_core.experiments.batch_selection_report [--seeds 3] [--epochs 50] [--datasets yeast,scene,...]``
runs ``run_batch_selection`` per dataset (results cached under ``reports/batch_selection/cache/`` as
JSON + NPZ, never pickle, with the code fingerprint that made them, so an interrupted build resumes and
a build after a code change runs again: :mod:`mlal_core.experiments.batch_selection_cache`), the
``use_correlation=False`` ablation on ``ABLATION_DATASETS`` and the checks of C (``correlation_checks``),
writes the figures (PNG via ``mlal_core.export.write_figure``) to ``reports/figures/`` and the tables to
the markdown report. The paper's claims get verdicts by the reproduction report's rules (Holm-adjusted
paired tests over seeds, :mod:`mlal_core.experiments.batch_selection_verdicts`), and every sentence that
quotes a number is computed from the tables. The hand-written reading of the results (no numbers of
its own) lives in ``reports/batch_selection_reading.md`` and is included verbatim when present.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import inspect
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from mlal_core.experiments.batch_selection import (
    METRICS,
    BatchSelectionResult,
    convergence_figure,
    correlation_change,
    correlation_drift_figures,
    correlation_trend_figure,
    mi_noise_floor,
    probability_figure,
    run_batch_selection,
    weight_rank_agreement,
)
from mlal_core.experiments.batch_selection_cache import cached_run
from mlal_core.experiments.batch_selection_verdicts import (
    batch_claim_verdicts,
    findings_markdown,
    runs_table,
    verdict_rules_markdown,
    verdicts_section,
)
from mlal_core.metrics import higher_is_better, metric_name

DATASETS = ("yeast", "scene", "emotions", "enron", "medical")
#: datasets on which the uncertainty sampler also runs without C (``use_correlation=False``)
ABLATION_DATASETS = ("yeast", "emotions")
#: a metric's name in the report's headings, with the direction that is better
PRETTY = {m: f"{metric_name(m)} {'↑' if higher_is_better(m) else '↓'}" for m in METRICS}


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
            cell = f"{m:.4f} ± {s:.4f} ({int(r)})" if pd.notna(s) else f"{m:.4f} ({int(r)})"  # one seed: no std
            cells.append(f"**{cell}**" if r == 1 else cell)
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    avg = piv_r.mean(axis=0)
    lines.append("| avg rank | " + " | ".join(f"{avg[c]:.2f}" for c in cols) + " |")
    return "\n".join(lines)


def first_samplers(results) -> list[str]:
    """The sampler names of the first dataset's result.

    Parameters
    ----------
    results : dict of str to BatchSelectionResult
        Results per dataset (not empty).

    Returns
    -------
    list of str
        ``samplers`` of the first result.
    """
    return next(iter(results.values())).samplers


def _plain_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + (df.index.name or "") + " | " + " | ".join(map(str, cols)) + " |", "|---|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        lines.append(f"| {idx} | " + " | ".join("–" if pd.isna(v) else f"{int(v)}" for v in row) + " |")
    return "\n".join(lines)


def code_fingerprint() -> str:
    """12 hex digits identifying the code the cached results depend on: the samplers, the MLP trainer
    and the experiment's run loop and metrics. Computed over the abstract syntax trees with
    docstrings removed, so comments, docstrings and formatting do not change it; any other change
    does, and ``build`` then reruns instead of reusing a stale cache."""
    from mlal_core import metrics, scoring
    from mlal_core.batch_selection import samplers
    from mlal_core.experiments import batch_selection as experiment
    from mlal_core.models import mlp, training

    parts: list[ModuleType | type | Callable[..., Any]] = [
        samplers, training, mlp, experiment.run_batch_selection, experiment.paper_metrics,
        experiment._Monitor, scoring.binary_entropy, metrics.macro_auc]
    digest = hashlib.sha256(repr(sorted(experiment.DEFAULT_MODEL_PARAMS.items())).encode())
    for obj in parts:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                setattr(node, "body", body[1:] or [ast.Pass()])  # any node type with a body list
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()[:12]


def code_version() -> dict[str, str]:
    """``fingerprint`` (``code_fingerprint``) and ``git``: the commit of the working tree, with
    ``+uncommitted`` when the files behind the fingerprint differ from it (``unknown`` outside git)."""
    root = Path(__file__).resolve().parents[2]
    files = ["mlal_core/batch_selection", "mlal_core/models/mlp.py", "mlal_core/models/training.py",
             "mlal_core/scoring.py", "mlal_core/metrics.py"]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *files], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
        git = head + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        git = "unknown"
    return {"fingerprint": code_fingerprint(), "git": git}


def _check_epochs(history: list[dict]) -> tuple[int, int]:
    """The two epochs the report compares C at: the 6th recorded one (epoch 10 after a 5-epoch
    warm-up; the one before the last when fewer are recorded) and the last."""
    keys = [h["epoch"] for h in history]
    return keys[max(0, min(len(keys) - 2, 5))], keys[-1]


def _mean_std(values) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1 else f"{v.mean():.4f}"


def correlation_checks(results: dict[str, BatchSelectionResult], n_permutations: int = 20,
                       tau: int = 10) -> pd.DataFrame:
    """Does C matter, and is it above noise? Per dataset and compared epoch of the uncertainty
    sampler's history (seed of the first run): the Spearman correlation between the sample weights
    with and without C (``weight_rank_agreement``), the observed mean off-diagonal C, and the
    permutation noise floor of that mean (``mi_noise_floor``: mean and max over permutations).

    Parameters
    ----------
    results : dict of str to BatchSelectionResult
        Results per dataset; the ``uncertainty`` history records that hold both ``U`` and ``C`` are
        checked.
    n_permutations : int
        Permutations of the noise floor.
    tau : int
        Bins per label of the mutual information (Zhou et al., Eq. 6).

    Returns
    -------
    pd.DataFrame
        One row per (dataset, checked epoch): ``dataset``, ``after epoch``, ``spearman_w``,
        ``mean_offdiag_C``, ``noise_floor_mean``, ``noise_floor_max``.
    """
    rows = []
    for ds, r in results.items():
        hist = [h for h in r.histories.get("uncertainty", []) if "U" in h and "C" in h]
        for h in hist:
            U, C = np.asarray(h["U"], np.float64), np.asarray(h["C"], np.float64)
            floor = mi_noise_floor(U, tau, n_permutations)
            rows.append({"dataset": ds, "after epoch": int(h["epoch"]), "spearman_w": weight_rank_agreement(U, C),
                         "mean_offdiag_C": float(C[~np.eye(len(C), dtype=bool)].mean()),
                         "noise_floor_mean": float(floor.mean()), "noise_floor_max": float(floor.max())})
    return pd.DataFrame(rows)


def _print_progress(done: int, total: int, message: str) -> None:
    print(f"[{done}/{total}] {message}", flush=True)


def _run_results(datasets, seeds: int, epochs: int, ablation_datasets, data_dir: Path,
                 version: dict[str, str]) -> tuple[dict[str, BatchSelectionResult], dict[str, BatchSelectionResult]]:
    """Every dataset's result and the ablation's, from the cache under ``data_dir/cache`` or run."""
    cache = data_dir / "cache"
    log = _print_progress
    results: dict[str, BatchSelectionResult] = {}
    for ds in datasets:
        def run(ds=ds):
            res = run_batch_selection(ds, "all", epochs=epochs, seeds=seeds, progress=log)
            # keep C / p of the uncertainty sampler only (the figures), and U only at the two epochs
            # the report compares (the checks of C), to keep the cache small
            hist = res.histories.get("uncertainty", [])
            keep_u = set(_check_epochs(hist)) if hist else set()
            res.histories = {"uncertainty": [{k: v for k, v in h.items() if k != "U" or h["epoch"] in keep_u}
                                             for h in hist]}
            return res

        results[ds], _ = cached_run(cache / f"{ds}_s{seeds}_e{epochs}", version, run)
        results[ds].curves.to_csv(data_dir / f"{ds}_curves.csv", index=False)
        results[ds].runs.to_csv(data_dir / f"{ds}_runs.csv", index=False)
    ablation: dict[str, BatchSelectionResult] = {}
    for ds in [d for d in ablation_datasets if d in results]:
        def run_off(ds=ds):
            res = run_batch_selection(ds, ["uncertainty"], include_random=False, epochs=epochs, seeds=seeds,
                                      sampler_params={"uncertainty": {"use_correlation": False}}, progress=log)
            res.histories = {}
            return res

        ablation[ds], _ = cached_run(cache / f"{ds}_s{seeds}_e{epochs}_no_c", version, run_off)
        ablation[ds].runs.to_csv(data_dir / f"{ds}_no_c_runs.csv", index=False)
    return results, ablation


def ablation_table(results: dict[str, BatchSelectionResult], ablation: dict[str, BatchSelectionResult]) -> pd.DataFrame:
    """The C-on vs C-off table of the report: mean ± std per dataset and metric, and the paired difference.

    Parameters
    ----------
    results : dict of str to BatchSelectionResult
        The main runs per dataset (their ``uncertainty`` rows are "with C").
    ablation : dict of str to BatchSelectionResult
        The ``use_correlation=False`` runs per dataset (same seeds).

    Returns
    -------
    pd.DataFrame
        ``dataset``, ``metric``, ``with C``, ``C off``, ``difference (with - off)``, ``seeds``.
    """
    rows = []
    for ds, off in ablation.items():
        on = results[ds].runs[results[ds].runs["sampler"] == "uncertainty"].set_index("seed")
        off_runs = off.runs.set_index("seed").loc[on.index]
        for m in METRICS:
            rows.append({"dataset": ds, "metric": m, "with C": _mean_std(on[m]), "C off": _mean_std(off_runs[m]),
                         "difference (with - off)": _mean_std(on[m] - off_runs[m]), "seeds": len(on)})
    return pd.DataFrame(rows)


def convergence_table(results: dict[str, BatchSelectionResult]) -> pd.DataFrame:
    """First epoch whose mean validation Macro-AUC reaches 99 % of the random sampler's best mean.

    Parameters
    ----------
    results : dict of str to BatchSelectionResult
        Results per dataset (each with a ``random`` sampler).

    Returns
    -------
    pd.DataFrame
        Index dataset, one column per sampler (NaN: never reached).
    """
    rows = []
    for ds, r in results.items():
        cs = r.curve_summary("valid", "macro_auc")
        target = 0.99 * cs[cs["group"] == "random"]["mean"].max()
        for g, d in cs.groupby("group", sort=False):
            hit = d[d["mean"] >= target]["epoch"]
            rows.append({"dataset": ds, "sampler": g, "epoch": int(hit.min()) if len(hit) else np.nan})
    return pd.DataFrame(rows).pivot(index="dataset", columns="sampler", values="epoch")[list(first_samplers(results))]


def _figures(results: dict[str, BatchSelectionResult], figs: Path, ext: str) -> list[str]:
    """Write the figures; return their markdown lines."""
    from mlal_core.export import write_figure

    md = ["## Figures", "", "Validation macro-AUC per epoch (mean ± std over seeds):", ""]
    for ds, r in results.items():
        p = write_figure(convergence_figure(r, "macro_auc", "valid"), figs / f"batch_selection_{ds}_valid_auc.{ext}")
        md.append(f"![{ds} validation macro-AUC](figures/{p.name})")
    first = next(iter(results.values()))
    hist = first.histories.get("uncertainty")
    if not hist:
        return md
    a, b = _check_epochs(hist)
    fa, fb, fd, _ = correlation_drift_figures(hist, (a, b), first.label_names, f"{first.dataset}: ")
    drift = [write_figure(f, figs / f"batch_selection_{first.dataset}_C_{nm}.{ext}").name
             for f, nm in ((fa, "a"), (fb, "b"), (fd, "diff"))]
    trend = write_figure(correlation_trend_figure(hist, f"{first.dataset}: off-diagonal C per epoch"),
                         figs / f"batch_selection_{first.dataset}_C_trend.{ext}").name
    pp = write_figure(probability_figure(hist, title=f"{first.dataset}: sampling probabilities (uncertainty)"),
                      figs / f"batch_selection_{first.dataset}_probabilities.{ext}").name
    ch = correlation_change(hist, a, b)
    drift_stats = (f"Off-diagonal C after epoch {a}: mean {ch['mean_a']:.3f}, max {ch['max_a']:.3f}; "
                   f"after epoch {b}: mean {ch['mean_b']:.3f}, max {ch['max_b']:.3f}; "
                   f"mean |change| {ch['mean_abs_change']:.3f}.")
    p_first, p_last = np.asarray(hist[0]["p"], np.float64), np.asarray(hist[-1]["p"], np.float64)
    spread = (f"Largest / smallest sampling probability: {p_first.max() / p_first.min():.1f} after epoch "
              f"{hist[0]['epoch']} (the first adaptive one), {p_last.max() / p_last.min():.2f} at epoch "
              f"{hist[-1]['epoch']}.")
    md += ["", (f"Label-correlation matrix C of the uncertainty sampler ({first.dataset}, seed {first.seeds[0]}; "
                f"paper Fig. 5): after epoch {a}, after epoch {b}, and the change. {drift_stats}"), ""]
    md += [f"![C](figures/{n})" for n in drift]
    md += ["", "Mean and largest off-diagonal C per epoch:", "", f"![C per epoch](figures/{trend})"]
    md += ["", f"Sampling probabilities of the uncertainty sampler over epochs (log scale; dashed: uniform). {spread}",
           "", f"![probabilities](figures/{pp})"]
    return md


def _setup_lines(results: dict[str, BatchSelectionResult], epochs: int) -> list[str]:
    first = next(iter(results.values()))
    return [
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
         "each epoch's n rows with replacement from their probabilities; random is a permutation. U is updated "
         "from a dropout-off pass over all training rows after every epoch (see the reading)."),
        (f"* Seeds: {len(first.seeds)} (model initialisation, dropout and batch draws). Test metrics are taken at "
         "the epoch with the best validation macro-AUC, as in the paper; mean ± std over seeds, rank of the means "
         "in brackets (1 = best, bold)."),
        "",
    ]


def build(datasets=DATASETS, seeds: int = 3, epochs: int = 50, out: str | Path = "reports",
          fig_format: str = "png", ablation_datasets=ABLATION_DATASETS, alpha: float = 0.05) -> Path:
    """Run (or reuse the cached runs of) every dataset, then write the report, its CSV tables
    (``out/batch_selection/``) and figures (``out/figures/batch_selection_*``). ``ablation_datasets``
    also run the uncertainty sampler with ``use_correlation=False`` (same seeds).

    Parameters
    ----------
    datasets : sequence of str
        Bundled datasets to run.
    seeds : int
        Seeds per (dataset, sampler).
    epochs : int
        Training epochs of each run.
    out : str or Path
        Output folder; the report is ``out/batch_selection.md``.
    fig_format : str
        Figure format: ``png``, ``svg`` or ``html``.
    ablation_datasets : sequence of str
        Datasets that also get the ``use_correlation=False`` ablation.
    alpha : float
        The significance level of the verdicts (Holm-adjusted p-values).

    Returns
    -------
    Path
        The written report.
    """
    out = Path(out)
    data_dir, figs = out / "batch_selection", out / "figures"
    data_dir.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)
    version = code_version()
    results, ablation = _run_results(datasets, seeds, epochs, ablation_datasets, data_dir, version)
    summ = pd.concat([r.summary("best") for r in results.values()], ignore_index=True)
    summ_last = pd.concat([r.summary("last") for r in results.values()], ignore_index=True)
    summ.to_csv(data_dir / "summary_best.csv", index=False)
    summ_last.to_csv(data_dir / "summary_last.csv", index=False)
    checks = correlation_checks(results)
    checks.to_csv(data_dir / "correlation_checks.csv", index=False)
    abl = ablation_table(results, ablation)
    if len(abl):
        abl.to_csv(data_dir / "ablation_use_correlation.csv", index=False)
    conv = convergence_table(results)
    table = runs_table({ds: r.runs for ds, r in results.items()}, {ds: r.runs for ds, r in ablation.items()})
    table.to_csv(data_dir / "runs_all.csv", index=False)
    verdicts = batch_claim_verdicts(table, alpha=alpha)
    first = next(iter(results.values()))
    made = sorted({(getattr(r, "code_version", None) or {}).get("git", "unknown")
                   for r in [*results.values(), *ablation.values()]})
    md = [
        "# Uncertainty batch selection: six samplers on the bundled tabular sets",
        "",
        ("Generated by `python -m mlal_core.experiments.batch_selection_report "
         f"--seeds {seeds} --epochs {epochs}`: the tables, figures, verdicts and every sentence that quotes a "
         "number; the reading at the end is written by hand and quotes none."),
        "",
        (f"Code version of the cached runs (`{data_dir.name}/cache/*.json` + `.npz`): fingerprint "
         f"`{version['fingerprint']}` (samplers, MLP trainer, experiment loop; `code_fingerprint`), git "
         f"`{', '.join(made)}`. A build whose code has another fingerprint runs the experiments again instead of "
         "reusing the cache."),
        "",
        verdict_rules_markdown(alpha, len(first.seeds)),
        findings_markdown(summ, summ_last, verdicts, convergence=conv, checks=checks),
        verdicts_section(verdicts, alpha, data_dir),
        *_setup_lines(results, epochs),
    ]
    for m in METRICS:
        md += [f"## Test {PRETTY[m]} (at the best-validation epoch)", "", _table(summ, m), ""]
    md += ["## Test Macro-AUC at the last epoch", "", _table(summ_last, "macro_auc"), "",
           "## Convergence: first epoch whose mean validation macro-AUC reaches 99 % of random's best", "",
           _plain_table(conv), ""]
    if len(checks) or len(abl):
        md += ["## Does C matter?", ""]
    if len(checks):
        md += [("Spearman correlation between the uncertainty sampler's sample weights with C (Eq. 7-8) and "
                "without (C = identity), from the same U; observed mean off-diagonal C (nats) against its "
                "permutation noise floor (every column of U shuffled independently, 20 permutations: mean, max). "
                f"Seed {first.seeds[0]}."), "",
               _frame_table(checks, {"spearman_w": "{:.3f}", "mean_offdiag_C": "{:.4f}",
                                     "noise_floor_mean": "{:.4f}", "noise_floor_max": "{:.4f}"}), ""]
    if len(abl):
        md += [(f"Ablation: the uncertainty sampler with C (the paper) and with `use_correlation=False` (the "
                f"released code), same {seeds} seeds; test metrics at the best-validation epoch, mean ± std, "
                "and the paired difference (its test and interval: the ablation claim above)."), "",
               _frame_table(abl, {}), ""]
    md += _figures(results, figs, fig_format.lower().lstrip("."))
    reading = out / "batch_selection_reading.md"
    if reading.exists():
        md += ["", reading.read_text().strip()]
    path = out / "batch_selection.md"
    path.write_text("\n".join(md) + "\n")
    return path


def _frame_table(df: pd.DataFrame, formats: dict[str, str]) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(formats.get(c, "{}").format(v) for c, v in zip(cols, row, strict=True)) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command-line entry point: parse the options and :func:`build` the report.

    Parameters
    ----------
    argv : list of str or None
        Command-line arguments (None: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status, 0.
    """
    ap = argparse.ArgumentParser(prog="python -m mlal_core.experiments.batch_selection_report")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--out", default="reports")
    ap.add_argument("--format", default="png", help="figure format: png (default), svg or html")
    a = ap.parse_args(argv)
    print(f"Wrote {build(a.datasets.split(','), a.seeds, a.epochs, a.out, a.format)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
