"""Analysis of experiments: learning curves over seeds, AULC, labels needed to reach the full-data
score, per-round batch statistics and paired comparisons of strategies.

Every function takes plain data frames (as :func:`mlal_core.experiments.load_results` returns them,
or built by hand) and returns a data frame or a plotly figure; the app's learning-curve page and the
reproduction report (:mod:`mlal_core.experiments.report`) both use them.

Frames
------
``rounds``: one row per (run, learning-curve point) with at least the columns ``setting`` (what a
comparison is made within, e.g. the dataset), ``strategy``, ``seed``, ``n_labeled`` and the metric
columns; per-round statistics also use ``round``, ``final`` and the shared diagnostics
(``mean_ir_selected``, ``hard_to_learn_count``, ``conflicting_count``). A run is identified by
(setting, strategy, seed). ``references``: one row per full-data model with ``dataset``,
``representation``, ``model``, ``seed`` and the metric columns.

Statistics
----------
* AULC (:func:`mlal_core.metrics.area_under_learning_curve`): trapezoidal area under the metric
  against the number of labelled samples, divided by the labelled-size range: on the metric's own
  scale (a flat curve at 0.5 has AULC 0.5).
* Curves: mean and sample standard deviation (ddof = 1) over seeds at each labelled size.
* Paired tests over seeds (runs paired by seed within a setting): the mean and standard deviation of
  the differences, wins / losses / ties, the paired t-test (``scipy.stats.ttest_rel``) and the
  Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, exact for small n), both two-sided. With
  n seeds the smallest two-sided Wilcoxon p-value is ``2 / 2**n`` (0.0625 for n = 5), so it cannot
  reach 0.05 with fewer than 6 seeds: ``test="auto"`` uses the t-test below 6 seeds and Wilcoxon
  from 6 on, and every table says which. Holm's correction is applied within each setting's family
  of comparisons (``p_holm``); :func:`holm_family` applies it to any family the caller names (the
  reproduction report's verdicts use one family per claim).
* Effect sizes: the mean paired difference with a 95 % percentile confidence interval from a paired
  bootstrap over seeds (:func:`bootstrap_ci`: the seeds' differences resampled with replacement,
  10,000 times, from a fixed random seed, so a table reproduces exactly).
* Mean ranks (:func:`mean_ranks`): per seed, the strategies ranked by a per-run value (1 = best, ties
  share the average rank), averaged over the seeds every ranked strategy has.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import stats as sps

from mlal_core import metrics, stats
from mlal_core.errors import ConfigError
from mlal_core.metrics import METRIC_NAMES, metric_name
from mlal_core.viz import learning_curves, per_round_bars_or_lines
from mlal_core.viz._common import new_figure, require_columns

__all__ = [
    "METRIC_NAMES",  # the table of mlal_core.metrics, re-exported
    "aulc_per_run",
    "aulc_summary",
    "strategy_display_names",
    "balance_figure",
    "balance_summary",
    "bootstrap_ci",
    "curve_summary",
    "hard_conflicting_figure",
    "holm",
    "holm_family",
    "learning_curve_figure",
    "mean_ir_figure",
    "mean_ranks",
    "metric_name",  # of mlal_core.metrics, re-exported
    "paired_test",
    "paired_tests",
    "pairwise_figure",
    "per_round_summary",
    "per_run_mean",
    "reach_per_run",
    "reach_summary",
    "with_balance",
    "with_reference",
]

RUN = ("setting", "strategy", "seed")


def _order(values, order: Sequence[str] | None) -> list:
    present = list(pd.unique(values))
    if not order:
        return present
    return [v for v in order if v in present] + [v for v in present if v not in order]


# ====================================================================== curves
def curve_summary(rounds: pd.DataFrame, metric: str, *, by: str = "setting") -> pd.DataFrame:
    """Learning curves over seeds: mean, std and count of a metric at each labelled size.

    Parameters
    ----------
    rounds : DataFrame
        One row per (run, learning-curve point) with ``by``, ``strategy``, ``n_labeled`` and ``metric``.
    metric : str
        The metric column.
    by : str
        The column that names the setting a comparison is made within.

    Returns
    -------
    DataFrame
        Per (``by``, strategy, n_labeled): ``mean``, ``std`` (ddof 1) and ``n``.
    """
    require_columns(rounds, [by, "strategy", "n_labeled", metric], "curve_summary")
    parts = []
    for setting, d in rounds.groupby(by, sort=False):
        s = metrics.summarize_curves(d, metric, by="strategy")
        s.insert(0, by, setting)
        parts.append(s)
    if not parts:
        return pd.DataFrame(columns=[by, "strategy", "n_labeled", "mean", "std", "n"])
    return pd.concat(parts, ignore_index=True)


def learning_curve_figure(rounds: pd.DataFrame, metric: str = "micro_f1", *, setting=None, by: str = "setting",
                          strategy_order: Sequence[str] | None = None, reference: float | None = None,
                          x: str = "n_labeled", title: str | None = None) -> go.Figure:
    """Learning curves of one setting: mean +- std over seeds per strategy.

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame (see the module docstring).
    metric : str
        The metric plotted; its name comes from :data:`mlal_core.metrics.METRIC_NAMES`.
    setting : optional
        The setting to plot (needed when the frame holds several).
    by : str
        The setting column.
    strategy_order : sequence of str, optional
        The strategies' order in the legend (the others follow).
    reference : float, optional
        The full-data score, drawn as a dashed horizontal line.
    x : str
        ``"n_labeled"`` (the count) or ``"labelled_fraction"`` (of the pool).
    title : str, optional
        Default: ``"<setting>: <metric> (mean ± std over seeds)"``.

    Returns
    -------
    plotly Figure
    """
    require_columns(rounds, [by, "strategy", x, metric], "learning_curve_figure")
    d = rounds
    if setting is not None:
        d = rounds[rounds[by] == setting]
    elif rounds[by].nunique() > 1:
        raise ConfigError(f"learning_curve_figure: the frame has {rounds[by].nunique()} settings; choose one with setting=.")
    if d.empty:
        raise ConfigError(f"learning_curve_figure: no rows for setting {setting!r}.")
    s = metrics.summarize_curves(d.rename(columns={x: "n_labeled"}) if x != "n_labeled" else d, metric, by="strategy")
    name = metric_name(metric)
    label = setting if setting is not None else d[by].iloc[0]
    fig = learning_curves(
        s, group="strategy", metric_name=name, group_order=_order(s["strategy"], strategy_order),
        title=title or f"{label}: {name} (mean \u00b1 std over seeds)",
        x_title="Labelled fraction of the pool" if x == "labelled_fraction" else "Labelled samples (count)",
        clip=(0.0, 1.0) if metric not in ("ranking_loss", "hamming_loss") else None,
        display_names=strategy_display_names(s["strategy"]),
    )
    if reference is not None and np.isfinite(reference):
        fig.add_hline(y=float(reference), line_dash="dash", line_color="#555555",
                      annotation_text=f"full data {reference:.3f}", annotation_position="bottom right")
    return fig


# ====================================================================== AULC
def aulc_per_run(rounds: pd.DataFrame, metric: str = "micro_f1", *, by: str = "setting") -> pd.DataFrame:
    """The area under each run's learning curve (AULC).

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame.
    metric : str
        The metric column.
    by : str
        The setting column.

    Returns
    -------
    DataFrame
        One row per run: ``by``, strategy, seed, ``aulc`` (trapezoidal area under ``metric`` against
        the labelled size divided by the labelled-size range,
        :func:`mlal_core.metrics.area_under_learning_curve`; NaN below two points), ``first`` /
        ``last`` (the metric at the first and last point) and ``n_points``.
    """
    require_columns(rounds, [by, "strategy", "seed", "n_labeled", metric], "aulc_per_run")
    rows = []
    for (setting, strategy, seed), d in rounds.groupby([by, "strategy", "seed"], sort=False):
        d = d.sort_values("n_labeled")
        if d["n_labeled"].duplicated().any():
            raise ConfigError(f"aulc_per_run: run ({setting}, {strategy}, seed {seed}) has two points at the same "
                              "labelled size; is a run stored twice?")
        x, y = d["n_labeled"].to_numpy(float), d[metric].to_numpy(float)
        aulc = metrics.area_under_learning_curve(x, y) if len(x) >= 2 else float("nan")
        rows.append({by: setting, "strategy": strategy, "seed": seed, "aulc": aulc, "first": y[0], "last": y[-1],
                     "n_points": len(x)})
    return pd.DataFrame(rows, columns=[by, "strategy", "seed", "aulc", "first", "last", "n_points"])


def aulc_summary(per_run: pd.DataFrame, *, value: str = "aulc", by: str = "setting", baseline: str | None = None,
                 higher_is_better: bool = True, strategy_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Summary over seeds of a per-run value (e.g. the AULC).

    Parameters
    ----------
    per_run : DataFrame
        One row per run with ``by``, ``strategy`` and ``value`` (:func:`aulc_per_run`).
    value : str
        The column summarised.
    by : str
        The setting column.
    baseline : str, optional
        A strategy: adds ``diff_vs_baseline`` = mean - the baseline's mean.
    higher_is_better : bool
        Which way ``rank`` counts.
    strategy_order : sequence of str, optional
        Sort the rows by it within each setting.

    Returns
    -------
    DataFrame
        Per (``by``, strategy): ``mean``, ``std`` (ddof 1), ``n`` and ``rank`` (1 = best mean within
        the setting).
    """
    require_columns(per_run, [by, "strategy", value], "aulc_summary")
    g = per_run.groupby([by, "strategy"], sort=False)[value]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["rank"] = out.groupby(by)["mean"].rank(ascending=not higher_is_better, method="min").astype(int)
    if baseline is not None:
        base = out[out["strategy"] == baseline].set_index(by)["mean"]
        out["diff_vs_baseline"] = out["mean"] - out[by].map(base)
    if strategy_order:
        pos = {s: i for i, s in enumerate(_order(out["strategy"], strategy_order))}
        settings = {s: i for i, s in enumerate(pd.unique(out[by]))}
        out = out.sort_values([by, "strategy"], key=lambda c: c.map(settings) if c.name == by else c.map(pos))
        out = out.reset_index(drop=True)
    return out


# ====================================================================== paired tests
def paired_test(a, b, *, higher_is_better: bool = True) -> dict:
    """Paired comparison of two equal-length samples (``a`` - ``b``).

    Parameters
    ----------
    a, b : array-like
        1-D samples paired by position (e.g. the AULC of two strategies per seed).
    higher_is_better : bool
        Which way a win counts.

    Returns
    -------
    dict
        ``n``, ``mean_a``, ``mean_b``, ``mean_diff``, ``std_diff`` (ddof 1), ``wins`` (a better) /
        ``losses`` / ``ties``, ``t_stat`` / ``t_p`` (paired t-test, ``scipy.stats.ttest_rel``) and
        ``w_stat`` / ``w_p`` (Wilcoxon signed-rank, ``scipy.stats.wilcoxon``; zero differences
        dropped, as scipy's default), both two-sided. Statistics that are undefined (n < 2; all
        differences equal, to 1e-12, for t; all zero for Wilcoxon) are NaN.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(f"paired_test needs two 1-D samples of the same length; got {a.shape} and {b.shape}.")
    d = a - b
    n = int(d.size)
    better = d > 0 if higher_is_better else d < 0
    worse = d < 0 if higher_is_better else d > 0
    out = {
        "n": n,
        "mean_a": float(a.mean()) if n else float("nan"),
        "mean_b": float(b.mean()) if n else float("nan"),
        "mean_diff": float(d.mean()) if n else float("nan"),
        "std_diff": float(d.std(ddof=1)) if n > 1 else float("nan"),
        "wins": int(better.sum()),
        "losses": int(worse.sum()),
        "ties": int((d == 0).sum()),
        "t_stat": float("nan"), "t_p": float("nan"), "w_stat": float("nan"), "w_p": float("nan"),
    }
    if n >= 2 and np.ptp(d) > 1e-12 * max(1.0, float(np.abs(d).max())):  # constant differences: t undefined
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = sps.ttest_rel(a, b)
        out["t_stat"], out["t_p"] = float(t.statistic), float(t.pvalue)
    if n >= 1 and np.any(d != 0):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w = sps.wilcoxon(a, b)
            out["w_stat"], out["w_p"] = float(w.statistic), float(w.pvalue)
        except ValueError:
            pass
    return out


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (Holm 1979, step-down).

    Parameters
    ----------
    p : sequence of float
        The family's p-values; NaN stays NaN and does not count in the family.

    Returns
    -------
    ndarray
        ``min(1, max_{j <= i} (m - j + 1) p_(j))`` for the i-th smallest of the m finite p-values,
        in the input order.
    """
    pv = np.asarray(p, dtype=float)
    out = np.full(pv.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(pv))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(pv[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * pv[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def bootstrap_ci(diffs, *, n_resamples: int = 10_000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile confidence interval of the mean paired difference, by a paired bootstrap over seeds.

    Parameters
    ----------
    diffs : array-like
        The paired differences, one per seed (e.g. the AULC of a strategy minus a baseline's).
    n_resamples : int
        How many bootstrap resamples (each draws ``len(diffs)`` differences with replacement).
    confidence : float
        The interval's coverage (0.95: the 2.5th and 97.5th percentiles of the resampled means).
    seed : int
        The seed of the resampling (``numpy.random.default_rng``): the same input gives the same interval.

    Returns
    -------
    tuple of float
        ``(low, high)``; NaN for fewer than two finite differences. Identical differences give a
        zero-width interval at their value.
    """
    d = np.asarray(diffs, dtype=float).ravel()
    d = d[np.isfinite(d)]
    if d.size < 2:
        return float("nan"), float("nan")
    if not 0.0 < confidence < 1.0 or n_resamples < 1:
        raise ConfigError(f"bootstrap_ci needs 0 < confidence < 1 and n_resamples >= 1; got {confidence}, "
                          f"{n_resamples}.")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(int(n_resamples), d.size))].mean(axis=1)
    tail = 100.0 * (1.0 - confidence) / 2.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return float(lo), float(hi)


def holm_family(tests: pd.DataFrame, *, alpha: float = 0.05,
                higher_is_better: bool | Sequence[bool] = True) -> pd.DataFrame:
    """Holm's correction over every row of a :func:`paired_tests` frame taken as one family.

    Parameters
    ----------
    tests : DataFrame
        The family: rows with ``p`` and ``mean_diff`` (``strategy`` minus ``other``), e.g. the rows of
        several settings and metrics concatenated.
    alpha : float
        The significance level of ``better_adj`` / ``worse_adj``.
    higher_is_better : bool or sequence of bool
        Which sign of ``mean_diff`` counts in favour of ``strategy``: one for every row, or one per row
        (a family mixing metrics where higher is better with losses).

    Returns
    -------
    DataFrame
        A copy with ``p_adj`` (:func:`holm` over all the rows' finite ``p``), ``family_size`` (how
        many), and ``better_adj`` / ``worse_adj`` (``p_adj < alpha``, in favour of / against ``strategy``).
    """
    require_columns(tests, ["p", "mean_diff"], "holm_family")
    out = tests.copy()
    p = out["p"].to_numpy(float)
    adj = holm(p) if len(out) else np.array([], dtype=float)
    diff = out["mean_diff"].to_numpy(float)
    sig = np.isfinite(adj) & (adj < alpha)
    higher = np.broadcast_to(np.asarray(higher_is_better, dtype=bool), diff.shape)
    good = np.where(higher, diff > 0, diff < 0)
    out["p_adj"] = adj
    out["family_size"] = int(np.isfinite(p).sum())
    out["better_adj"] = sig & good
    out["worse_adj"] = sig & ~good & (diff != 0)
    return out


def mean_ranks(per_run: pd.DataFrame, *, value: str = "aulc", by: str = "setting",
               strategies: Sequence[str] | None = None, higher_is_better: bool = True) -> pd.DataFrame:
    """Mean rank over seeds of each strategy within each setting.

    Parameters
    ----------
    per_run : DataFrame
        One row per run with ``by``, ``strategy``, ``seed`` and ``value`` (NaN: the run is left out;
        ``inf`` / ``-inf`` rank last / first as they should).
    value : str
        The column ranked.
    by : str
        The setting column.
    strategies : sequence of str, optional
        The strategies ranked against each other (default all).
    higher_is_better : bool
        Which way rank 1 counts.

    Returns
    -------
    DataFrame
        Per (``by``, strategy): ``mean_rank`` (1 = best; per seed, ties share the average rank; only
        seeds that every ranked strategy of the setting has count) and ``n`` (those seeds).
    """
    require_columns(per_run, [by, "strategy", "seed", value], "mean_ranks")
    rows = []
    for setting, d in per_run.groupby(by, sort=False):
        wide = d.pivot_table(index="seed", columns="strategy", values=value, aggfunc="first", dropna=False)
        names = [s for s in (strategies or _order(d["strategy"], None)) if s in wide.columns]
        wide = wide[names].dropna()
        if wide.empty:
            continue
        r = wide.rank(axis=1, ascending=not higher_is_better, method="average")
        for s in names:
            rows.append({by: setting, "strategy": s, "mean_rank": float(r[s].mean()), "n": int(len(r))})
    return pd.DataFrame(rows, columns=[by, "strategy", "mean_rank", "n"])


def paired_tests(per_run: pd.DataFrame, *, value: str = "aulc", by: str = "setting", baseline: str | None = None,
                 strategies: Sequence[str] | None = None, higher_is_better: bool = True, test: str = "auto",
                 alpha: float = 0.05) -> pd.DataFrame:
    """Paired comparisons over seeds of a per-run value within each setting.

    Parameters
    ----------
    per_run : DataFrame
        One row per run with ``by``, ``strategy``, ``seed`` and ``value``.
    value : str
        The column compared.
    by : str
        The setting column.
    baseline : str, optional
        Compare every strategy with it (rows ``strategy`` vs ``baseline``); otherwise every pair of
        ``strategies``.
    strategies : sequence of str, optional
        The strategies paired (default all, in order of appearance).
    higher_is_better : bool
        Which way ``better`` / ``worse`` count.
    test : {"auto", "t", "wilcoxon"}
        The test behind ``p``; ``"auto"`` picks Wilcoxon from 6 pairs on, the t-test below.
    alpha : float
        The significance level of ``better`` / ``worse``.

    Returns
    -------
    DataFrame
        Columns ``by``, ``strategy``, ``other``, the :func:`paired_test` fields, ``test``, ``p``,
        ``p_holm`` (:func:`holm` within the setting: the pairs compared there), ``better`` / ``worse``
        (significant at ``alpha``, **unadjusted** ``p``, in favour of / against ``strategy``; decisions
        use :func:`holm_family`) and ``ci_low`` / ``ci_high`` (95 % paired-bootstrap interval of
        ``mean_diff``, :func:`bootstrap_ci` with its defaults). Runs are paired by seed; seeds
        missing on one side are left out (``n`` says how many pairs were used).
    """
    if test not in ("auto", "t", "wilcoxon"):
        raise ConfigError(f"test must be 'auto', 't' or 'wilcoxon'; got {test!r}.")
    require_columns(per_run, [by, "strategy", "seed", value], "paired_tests")
    rows = []
    for setting, d in per_run.groupby(by, sort=False):
        wide = d.pivot_table(index="seed", columns="strategy", values=value, aggfunc="first")
        names = [s for s in (strategies or _order(d["strategy"], None)) if s in wide.columns]
        if baseline is not None:
            if baseline not in wide.columns:
                continue
            pairs = [(s, baseline) for s in names if s != baseline]
        else:
            pairs = list(combinations(names, 2))
        fam = []
        for s, o in pairs:
            both = wide[[s, o]].dropna()
            r = {by: setting, "strategy": s, "other": o}
            r.update(paired_test(both[s].to_numpy(), both[o].to_numpy(), higher_is_better=higher_is_better))
            use = test if test != "auto" else ("wilcoxon" if r["n"] >= 6 else "t")
            r["test"] = use
            r["p"] = r["w_p"] if use == "wilcoxon" else r["t_p"]
            r["ci_low"], r["ci_high"] = bootstrap_ci(both[s].to_numpy(float) - both[o].to_numpy(float))
            fam.append(r)
        if fam:
            adj = holm([r["p"] for r in fam])
            for r, pa in zip(fam, adj):
                r["p_holm"] = float(pa)
                sig = np.isfinite(r["p"]) and r["p"] < alpha
                good = r["mean_diff"] > 0 if higher_is_better else r["mean_diff"] < 0
                r["better"] = bool(sig and good)
                r["worse"] = bool(sig and not good and r["mean_diff"] != 0)
            rows += fam
    cols = [by, "strategy", "other", "n", "mean_a", "mean_b", "mean_diff", "std_diff", "wins", "losses", "ties",
            "t_stat", "t_p", "w_stat", "w_p", "test", "p", "p_holm", "better", "worse", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=cols)


def pairwise_figure(tests: pd.DataFrame, *, setting=None, by: str = "setting", value_name: str = "AULC",
                    strategy_order: Sequence[str] | None = None, alpha: float = 0.05,
                    title: str | None = None) -> go.Figure:
    """Heatmap of mean paired differences (row strategy minus column strategy).

    Parameters
    ----------
    tests : DataFrame
        An all-pairs :func:`paired_tests` frame.
    setting : optional
        The setting shown (default: the frame's only one).
    by : str
        The setting column.
    value_name : str
        What was compared, in the title and colour bar.
    strategy_order : sequence of str, optional
        The rows' and columns' order.
    alpha : float
        Cells with ``p < alpha`` are marked ``*``.
    title : str, optional

    Returns
    -------
    plotly Figure
    """
    require_columns(tests, [by, "strategy", "other", "mean_diff", "p"], "pairwise_figure")
    d = tests if setting is None else tests[tests[by] == setting]
    if d.empty:
        raise ConfigError(f"pairwise_figure: no comparisons for setting {setting!r}.")
    names = _order(pd.concat([d["strategy"], d["other"]]), strategy_order)
    idx = {s: i for i, s in enumerate(names)}
    k = len(names)
    z = np.full((k, k), np.nan)
    text = np.full((k, k), "", dtype=object)
    for r in d.itertuples(index=False):
        i, j = idx[r.strategy], idx[r.other]
        diff, p = float(r.mean_diff), float(r.p)
        star = "*" if np.isfinite(p) and p < alpha else ""
        z[i, j], z[j, i] = diff, -diff
        text[i, j] = f"{diff:+.3f}{star}"
        text[j, i] = f"{-diff:+.3f}{star}"
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    label = setting if setting is not None else d[by].iloc[0]
    fig = new_figure(title or f"{label}: paired \u0394 {value_name} (row \u2212 column, * p < {alpha:g})")
    fig.add_trace(go.Heatmap(z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="RdBu",
                             zmid=0, zmin=-lim, zmax=lim, colorbar={"title": f"\u0394 {value_name}"},
                             hovertemplate="%{y} \u2212 %{x}: %{z:.4f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(width=max(520, 70 * k + 200), height=max(420, 55 * k + 160))
    return fig


# ====================================================================== full-data reference
def with_reference(rounds: pd.DataFrame, references: pd.DataFrame, metric: str) -> pd.Series:
    """The full-data score of each row's (dataset, representation, model, seed).

    Parameters
    ----------
    rounds : DataFrame
        Rows with ``dataset``, ``representation``, ``model`` and ``seed``.
    references : DataFrame
        The references frame (one row per full-data model).
    metric : str
        The metric column of ``references``.

    Returns
    -------
    Series
        ``reference_<metric>``, aligned with ``rounds`` (NaN where no reference was computed).
    """
    keys = ["dataset", "representation", "model", "seed"]
    require_columns(rounds, keys, "with_reference")
    if references is None or references.empty or metric not in references.columns:
        return pd.Series(np.nan, index=rounds.index, name=f"reference_{metric}")
    ref = references[keys + [metric]].drop_duplicates(keys).rename(columns={metric: "_ref"})
    merged = rounds[keys].merge(ref, on=keys, how="left")
    return pd.Series(merged["_ref"].to_numpy(float), index=rounds.index, name=f"reference_{metric}")


def reach_per_run(rounds: pd.DataFrame, references: pd.DataFrame, metric: str = "micro_f1", *,
                  fractions: Sequence[float] = (1.0,), by: str = "setting") -> pd.DataFrame:
    """Labelled fraction of the pool each run needs to reach a share of the full-data score (BEAL Table 2).

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame, with ``pool_size`` and the reference columns of :func:`with_reference`.
    references : DataFrame
        The references frame.
    metric : str
        The metric column.
    fractions : sequence of float
        The targets, as fractions of the full-data score.
    by : str
        The setting column.

    Returns
    -------
    DataFrame
        One row per (run, target fraction): ``full_data``, ``target`` = fraction x full_data,
        ``fraction`` (the smallest labelled fraction whose ``metric`` reaches the target,
        :func:`mlal_core.metrics.labelled_fraction_to_reach`; NaN when the curve never reaches it
        within the budget) and ``max_fraction`` (the labelled fraction at the run's end, the
        censoring point).
    """
    require_columns(rounds, [by, "strategy", "seed", "n_labeled", "pool_size", metric], "reach_per_run")
    ref = with_reference(rounds, references, metric)
    d = rounds.assign(_ref=ref)
    rows = []
    for (setting, strategy, seed), g in d.groupby([by, "strategy", "seed"], sort=False):
        g = g.sort_values("n_labeled")
        pool = int(g["pool_size"].iloc[0])
        full = float(g["_ref"].iloc[0])
        for f in fractions:
            target = f * full
            frac = (metrics.labelled_fraction_to_reach(g["n_labeled"].to_numpy(), g[metric].to_numpy(float), target, pool)
                    if np.isfinite(target) else float("nan"))
            rows.append({by: setting, "strategy": strategy, "seed": seed, "target_fraction": float(f),
                         "full_data": full, "target": target, "fraction": frac,
                         "max_fraction": float(g["n_labeled"].max() / pool)})
    return pd.DataFrame(rows, columns=[by, "strategy", "seed", "target_fraction", "full_data", "target", "fraction",
                                       "max_fraction"])


def reach_summary(per_run: pd.DataFrame, *, by: str = "setting", strategy_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Summary over seeds of :func:`reach_per_run`.

    Parameters
    ----------
    per_run : DataFrame
        The :func:`reach_per_run` frame.
    by : str
        The setting column.
    strategy_order : sequence of str, optional
        Sort the rows by it within each setting and target.

    Returns
    -------
    DataFrame
        Per (``by``, strategy, target fraction): ``n`` runs, ``reached`` (runs that reached it),
        ``mean_fraction`` (over all runs; NaN unless every run reached it), ``median_fraction`` (over
        all runs, unreached counted as never: NaN when fewer than half reached), ``mean_reached``
        (over the runs that reached it) and ``budget_fraction`` (the labelled fraction at the end of
        the budget).
    """
    require_columns(per_run, [by, "strategy", "target_fraction", "fraction", "max_fraction"], "reach_summary")
    rows = []
    for (setting, strategy, f), g in per_run.groupby([by, "strategy", "target_fraction"], sort=False):
        v = g["fraction"].to_numpy(float)
        reached = np.isfinite(v)
        censored = np.where(reached, v, np.inf)
        med = float(np.median(censored)) if v.size else float("nan")
        rows.append({by: setting, "strategy": strategy, "target_fraction": f, "n": int(v.size),
                     "reached": int(reached.sum()),
                     "mean_fraction": float(v.mean()) if reached.all() and v.size else float("nan"),
                     "median_fraction": med if np.isfinite(med) else float("nan"),
                     "mean_reached": float(v[reached].mean()) if reached.any() else float("nan"),
                     "budget_fraction": float(g["max_fraction"].max())})
    out = pd.DataFrame(rows, columns=[by, "strategy", "target_fraction", "n", "reached", "mean_fraction",
                                      "median_fraction", "mean_reached", "budget_fraction"])
    if strategy_order and not out.empty:
        pos = {s: i for i, s in enumerate(_order(out["strategy"], strategy_order))}
        settings = {s: i for i, s in enumerate(pd.unique(out[by]))}
        out = out.sort_values([by, "target_fraction", "strategy"],
                              key=lambda c: c.map(settings) if c.name == by else (c.map(pos) if c.name == "strategy" else -c))
        out = out.reset_index(drop=True)
    return out


# ====================================================================== per-round statistics
def per_round_summary(rounds: pd.DataFrame, column: str, *, by: str = "setting", include_final: bool = False) -> pd.DataFrame:
    """Mean, std and count over seeds of a per-round column.

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame.
    column : str
        E.g. ``mean_ir_selected``; NaN values (MeanIR of a batch without positives) are left out of
        the mean and the count.
    by : str
        The setting column.
    include_final : bool
        Keep the final record (no query) too.

    Returns
    -------
    DataFrame
        Per (``by``, strategy, round): ``mean``, ``std`` (ddof 1; 0 for one seed) and ``n``.
    """
    require_columns(rounds, [by, "strategy", "round", column], "per_round_summary")
    d = rounds
    if not include_final and "final" in d.columns:
        d = d[~d["final"].astype(bool)]
    g = d.groupby([by, "strategy", "round"], sort=False)[column]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def per_run_mean(rounds: pd.DataFrame, column: str, *, by: str = "setting", include_final: bool = False) -> pd.DataFrame:
    """The mean of a per-round column over each run's rounds (NaN values left out).

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame.
    column : str
        E.g. ``mean_ir_selected``: the run's average MeanIR of the selected batches.
    by : str
        The setting column.
    include_final : bool
        Keep the final record (no query) too.

    Returns
    -------
    DataFrame
        One row per run: ``by``, strategy, seed and ``value`` (the input of :func:`paired_tests`).
    """
    require_columns(rounds, [by, "strategy", "seed", column], "per_run_mean")
    d = rounds
    if not include_final and "final" in d.columns:
        d = d[~d["final"].astype(bool)]
    out = d.groupby([by, "strategy", "seed"], sort=False)[column].mean().reset_index()
    return out.rename(columns={column: "value"})


def _per_round_figure(rounds, column, setting, by, strategy_order, title, y_title, kind="line",
                      include_final: bool = False) -> go.Figure:
    s = per_round_summary(rounds, column, by=by, include_final=include_final)
    if setting is not None:
        s = s[s[by] == setting]
    elif s[by].nunique() > 1:
        raise ConfigError(f"the frame has {s[by].nunique()} settings; choose one with setting=.")
    s = s.dropna(subset=["mean"])
    if s.empty:
        raise ConfigError(f"no {column} values for setting {setting!r}.")
    label = setting if setting is not None else s[by].iloc[0]
    return per_round_bars_or_lines(
        s[["strategy", "round", "mean", "std"]].rename(columns={"mean": column}), y=column, group="strategy",
        kind=kind, error="std", title=f"{label}: {title}", y_title=y_title,
        group_order=_order(s["strategy"], strategy_order), display_names=strategy_display_names(s["strategy"]),
    )


def strategy_display_names(names) -> dict[str, str]:
    """Legend names of registered strategies (``{"crab": "CRAB", "coreset": "Core-Set"}``; a mark in
    parentheses is kept: ``"entropy (person-labelled)"`` -> ``"Entropy (person-labelled)"``); other
    names (a user's own strategy, a curve label) are left out, so they show as given.

    Parameters
    ----------
    names : iterable of str
        Strategy names (duplicates and NaN allowed).

    Returns
    -------
    dict of str to str
        Registry name -> the paper's short name.
    """
    from mlal_core.strategies import registry

    known = {i.name: i.short_name for i in registry.available()}
    out = {}
    for name in pd.unique(pd.Series(list(names), dtype=object).dropna()):
        base, sep, rest = str(name).partition(" (")  # "entropy (person-labelled)" keeps its mark
        if base in known:
            out[name] = known[base] + sep + rest
    return out


def mean_ir_figure(rounds: pd.DataFrame, *, setting=None, by: str = "setting",
                   strategy_order: Sequence[str] | None = None, kind: str = "line") -> go.Figure:
    """MeanIR of the batch each strategy selected, per round, mean +- std over seeds (CRAB Fig. 4).

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame with ``mean_ir_selected``.
    setting : optional
        The setting shown (needed when the frame holds several).
    by : str
        The setting column.
    strategy_order : sequence of str, optional
    kind : {"line", "bar"}

    Returns
    -------
    plotly Figure
    """
    return _per_round_figure(rounds, "mean_ir_selected", setting, by, strategy_order,
                             "MeanIR of the selected batch per round (mean \u00b1 std over seeds)",
                             "MeanIR of the selected batch", kind)


def hard_conflicting_figure(rounds: pd.DataFrame, which: str = "hard_to_learn_count", *, setting=None,
                            by: str = "setting", strategy_order: Sequence[str] | None = None,
                            kind: str = "line") -> go.Figure:
    """Hard-to-learn or conflicting samples left in the unlabelled pool, per round (CRAB Fig. 5).

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame.
    which : {"hard_to_learn_count", "conflicting_count"}
    setting : optional
        The setting shown (needed when the frame holds several).
    by : str
        The setting column.
    strategy_order : sequence of str, optional
    kind : {"line", "bar"}

    Returns
    -------
    plotly Figure
        Mean +- std over seeds, the final record included (its model's view of the pool that is left).
    """
    if which not in ("hard_to_learn_count", "conflicting_count"):
        raise ConfigError(f"which must be 'hard_to_learn_count' or 'conflicting_count'; got {which!r}.")
    what = "Hard-to-learn" if which == "hard_to_learn_count" else "Conflicting (exclusive-pair)"
    return _per_round_figure(rounds, which, setting, by, strategy_order,
                             f"{what} samples in the unlabelled pool per round (mean \u00b1 std over seeds)",
                             f"{what} samples (count)", kind, include_final=True)


#: the balance columns of :func:`with_balance` / :func:`balance_summary`, with their names in tables
BALANCE_COLUMNS = {
    "mean_ir_selected": "MeanIR of batch",
    "batch_coverage": "batch coverage",
    "label_coverage": "labelled coverage",
    "labelled_entropy": "labelled evenness",
}


def with_balance(rounds: pd.DataFrame, pick_labels: dict[str, dict]) -> pd.DataFrame:
    """The rounds frame with the coverage-aware balance columns, computed from the stored labels.

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame (with ``session_id`` and ``round``).
    pick_labels : dict
        :func:`mlal_core.experiments.results.load_pick_labels` of its sessions.

    Returns
    -------
    DataFrame
        A copy with ``batch_coverage`` (:func:`mlal_core.stats.label_coverage` of the round's batch;
        NaN for the final record) and ``labelled_entropy`` (:func:`mlal_core.stats.label_entropy`
        of the labelled set after the round: the initial set plus the batches of rounds <= it, the
        same set as ``label_coverage``). NaN where a session's labels are not stored.
    """
    require_columns(rounds, ["session_id", "round"], "with_balance")
    out = rounds.copy()
    cov = np.full(len(out), np.nan)
    ent = np.full(len(out), np.nan)
    for sid, idx in out.groupby("session_id", sort=False).groups.items():
        info = pick_labels.get(sid)
        if info is None:
            continue
        batches = info["rounds"]
        rounds = sorted(set(batches) | {int(out.at[i, "round"]) for i in idx})
        c, e = stats.balance_by_batch(info.get("initial"), [batches.get(r) for r in rounds])
        at = {r: j for j, r in enumerate(rounds)}
        for i in idx:
            pos, j = out.index.get_loc(i), at[int(out.at[i, "round"])]
            cov[pos], ent[pos] = c[j], e[j]
    out["batch_coverage"] = cov
    out["labelled_entropy"] = ent
    return out


def balance_summary(rounds: pd.DataFrame, *, by: str = "setting",
                    strategy_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Per setting and strategy: the mean and std over seeds of each run's mean balance figures.

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame with the columns of :data:`BALANCE_COLUMNS` that are present
        (:func:`with_balance` adds ``batch_coverage`` / ``labelled_entropy``).
    by : str
        The setting column.
    strategy_order : sequence of str, optional

    Returns
    -------
    DataFrame
        ``by``, ``strategy`` and, per balance column present, ``<column>`` (mean over seeds of the
        run's mean over its query rounds) and ``<column>_std`` (ddof 1).
    """
    cols = [c for c in BALANCE_COLUMNS if c in rounds.columns]
    frames = []
    for c in cols:
        pr = per_run_mean(rounds, c, by=by)
        g = pr.groupby([by, "strategy"], sort=False)["value"].agg(["mean", "std"])
        frames.append(g.rename(columns={"mean": c, "std": f"{c}_std"}))
    if not frames:
        return pd.DataFrame(columns=[by, "strategy"])
    out = pd.concat(frames, axis=1).reset_index()
    order = _order(out["strategy"], strategy_order)
    out["_o"] = out["strategy"].map({s: i for i, s in enumerate(order)})
    return out.sort_values([by, "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def balance_figure(rounds: pd.DataFrame, column: str = "label_coverage", *, setting=None, by: str = "setting",
                   strategy_order: Sequence[str] | None = None, kind: str = "line") -> go.Figure:
    """A coverage-aware balance figure per round, mean +- std over seeds (beside :func:`mean_ir_figure`).

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame with ``column``.
    column : {"label_coverage", "batch_coverage", "labelled_entropy"}
        Label coverage of the labelled set after the round, of the round's batch, or the labelled
        set's evenness (:func:`mlal_core.stats.label_entropy`).
    setting : optional
        The setting shown (needed when the frame holds several).
    by : str
        The setting column.
    strategy_order : sequence of str, optional
    kind : {"line", "bar"}

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ConfigError
        For another column, or when the frame has no values of it.
    """
    if column not in BALANCE_COLUMNS or column == "mean_ir_selected":
        raise ConfigError(f"column must be one of label_coverage, batch_coverage, labelled_entropy; got {column!r}.")
    require_columns(rounds, [column], "balance_figure")
    titles = {"label_coverage": ("label coverage of the labelled set after each round", "Share of labels (0-1)"),
              "batch_coverage": ("label coverage of the selected batch", "Share of labels (0-1)"),
              "labelled_entropy": ("evenness of the labelled set (normalised label entropy)", "Evenness (1 = even)")}
    title, y_title = titles[column]
    return _per_round_figure(rounds, column, setting, by, strategy_order, title, y_title, kind=kind,
                             include_final=column != "batch_coverage")
