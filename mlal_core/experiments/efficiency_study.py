"""The "Cost against benefit" sections of the reproduction report (issue 18, item 5): what each strategy
costs per round against what it gains over random selection, after the XMTC study's efficiency
analysis (Fromme et al., Sec. 5.6, Table 3) and its effectiveness / efficiency trade-off (Sec. 6.3).

Per setting (dataset) x strategy:

* **Cost**: the mean select seconds per query round (``time_select_s`` of the rounds frame: from the
  pool's predictions to the chosen batch: the strategy alone where the runs timed the round's shared
  diagnostics apart (``time_diagnostics_s``), with them in older runs, where random selection's time
  is then the floor) and the whole round's seconds
  (``time_total_s``: training, predicting the pool and selecting), pooled over the query rounds of
  every seed, as the report's timing tables.
* **Benefit**: the AULC gain over random selection on micro-F1 and macro-F1, paired by seed, with its
  95 % paired-bootstrap interval and the paired test, all from
  :func:`mlal_core.experiments.analysis.paired_tests`, and Holm's adjustment over **one family**:
  every strategy vs random on every setting x metric of the section
  (:func:`mlal_core.experiments.analysis.holm_family`), the XMTC claim's family when the runs are the
  same. "Better than random" is said only where the adjusted p < alpha, as the report's verdict rules
  say.
* **The cost / benefit front** (Pareto front, per setting and metric): a strategy is on it when no
  other strategy (random included, at gain 0) is both at most as costly in select time and at least
  as good in mean gain, and strictly one of the two. The front is descriptive (mean gains, no test);
  it is preferred to a "cost per point of gain", which is undefined at no gain and flips sign with a
  loss.

:func:`report_sections` writes both sections of the report: "Cost against benefit" for the report's
own experiment and, where the reproduction config names one (``efficiency_experiment``), "Cost against
benefit at large K" from that experiment's store (or the command that runs it, while it has not run).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlal_core.errors import ConfigError, MLALError
from mlal_core.experiments import analysis as A
from mlal_core.experiments.report import md_table
from mlal_core.metrics import higher_is_better
from mlal_core.viz import fit_layout, series_style
from mlal_core.viz._common import decade_ticks, require_columns

__all__ = ["COSTLY_FACTOR", "cost_benefit", "cost_benefit_figure", "cost_benefit_markdown", "costs_per_strategy",
           "large_k_markdown", "pareto_front", "report_sections", "setting_summary"]

#: the select-time multiple of random's above which a strategy without a significant gain is named
COSTLY_FACTOR = 10.0
#: the metrics whose AULC gain is the benefit (the XMTC study's Fig. 2 and 3)
BENEFIT_METRICS = ("micro_f1", "macro_f1")
#: the smallest select time drawn on the log axis (a strategy timed at 0 s sits there)
_MIN_SECONDS = 1e-4


# ====================================================================== numbers
def costs_per_strategy(rounds: pd.DataFrame, *, by: str = "setting") -> pd.DataFrame:
    """Mean select and round seconds per query round of each setting x strategy.

    Parameters
    ----------
    rounds : DataFrame
        The results' rounds frame: ``by``, ``strategy``, ``final`` and ``time_select_s`` (and
        ``time_total_s`` when the store has it).
    by : str
        The setting column.

    Returns
    -------
    DataFrame
        One row per (``by``, strategy): ``select_s`` (mean of ``time_select_s`` over the query rounds
        of all seeds, pooled), ``round_s`` (the same of ``time_total_s``; NaN without it) and
        ``query_rounds`` (how many rounds the means are over).

    Raises
    ------
    ConfigError
        If a needed column is missing.
    """
    require_columns(rounds, [by, "strategy", "final", "time_select_s"], "costs_per_strategy")
    q = rounds[~rounds["final"].astype(bool)]
    total = q["time_total_s"] if "time_total_s" in q.columns else pd.Series(np.nan, index=q.index)
    g = q.assign(_total=total).groupby([by, "strategy"], sort=False)
    out = pd.DataFrame({"select_s": g["time_select_s"].mean(), "round_s": g["_total"].mean(),
                        "query_rounds": g["time_select_s"].count()}).reset_index()
    return out


def pareto_front(cost: Sequence[float], benefit: Sequence[float]) -> np.ndarray:
    """Which points are on the cost / benefit front (lower cost and higher benefit are better).

    Parameters
    ----------
    cost, benefit : sequence of float
        One value per strategy (NaN: never on the front and never dominating).

    Returns
    -------
    ndarray of bool
        True where no other point has ``cost <=`` and ``benefit >=`` with at least one strict.
    """
    c, b = np.asarray(cost, dtype=float), np.asarray(benefit, dtype=float)
    ok = np.isfinite(c) & np.isfinite(b)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        dominated = ok & (c <= c[i]) & (b >= b[i]) & ((c < c[i]) | (b > b[i]))
        front[i] = not dominated.any()
    return front


def _gains(rounds: pd.DataFrame, baseline: str, metrics: Sequence[str], order: Sequence[str], test: str,
           alpha: float) -> pd.DataFrame:
    """The paired AULC comparisons of every strategy with ``baseline``, adjusted as one Holm family."""
    parts = []
    for m in metrics:
        per_run = A.aulc_per_run(rounds, m)
        t = A.paired_tests(per_run, baseline=baseline, strategies=order, test=test, alpha=alpha,
                           higher_is_better=higher_is_better(m))
        parts.append(t.assign(metric=m))
    tests = pd.concat(parts, ignore_index=True)
    if tests.empty:
        return tests.assign(p_adj=np.nan, family_size=0, better_adj=False, worse_adj=False)
    return A.holm_family(tests, alpha=alpha, higher_is_better=[higher_is_better(m) for m in tests["metric"]])


def cost_benefit(rounds: pd.DataFrame, *, baseline: str = "random", metrics: Sequence[str] = BENEFIT_METRICS,
                 strategy_order: Sequence[str] | None = None, test: str = "auto",
                 alpha: float = 0.05) -> pd.DataFrame:
    """Each strategy's cost per round against its AULC gain over ``baseline``, per setting and metric.

    Parameters
    ----------
    rounds : DataFrame
        The results' rounds frame (``setting``, ``strategy``, ``seed``, ``n_labeled``, ``final``,
        ``time_select_s``, optionally ``time_total_s``, and the metric columns).
    baseline : str
        The strategy label the gains are measured from (random selection).
    metrics : sequence of str
        The metrics whose AULC gain is the benefit (those missing from ``rounds`` are left out).
    strategy_order : sequence of str, optional
        The rows' order within a setting (the others follow).
    test : {"auto", "t", "wilcoxon"}
        The paired test (:func:`mlal_core.experiments.analysis.paired_tests`).
    alpha : float
        The significance level of ``better_adj`` / ``worse_adj``.

    Returns
    -------
    DataFrame
        One row per (setting, metric, strategy), the baseline included (gain 0, no test):
        ``select_s``, ``round_s``, ``select_x_baseline`` (select time / the baseline's), ``n`` (seeds
        paired), ``gain`` (mean paired AULC difference), ``ci_low`` / ``ci_high`` (95 % paired
        bootstrap), ``test``, ``p`` (unadjusted), ``p_adj`` (Holm over every strategy vs the baseline
        on every setting x metric), ``family_size``, ``better_adj`` / ``worse_adj`` and ``front``
        (:func:`pareto_front` of select time and gain within the setting and metric).

    Raises
    ------
    ConfigError
        If a needed column is missing or ``baseline`` has no runs.
    """
    require_columns(rounds, ["setting", "strategy", "seed", "n_labeled", "final", "time_select_s"], "cost_benefit")
    if baseline not in set(rounds["strategy"]):
        raise ConfigError(f"cost_benefit: the baseline {baseline!r} has no runs; pass one of "
                          f"{sorted(set(map(str, rounds['strategy'])))} as baseline=.")
    metrics = [m for m in metrics if m in rounds.columns]
    present = list(pd.unique(rounds["strategy"]))
    wanted = [s for s in dict.fromkeys([baseline, *(strategy_order or [])]) if s in present]
    order = wanted + [s for s in present if s not in wanted]
    fam = _gains(rounds, baseline, metrics, order, test, alpha).rename(columns={"mean_diff": "gain"})
    costs = costs_per_strategy(rounds).set_index(["setting", "strategy"])
    cols = ["setting", "metric", "strategy", "select_s", "round_s", "select_x_baseline", "n", "gain", "ci_low",
            "ci_high", "test", "p", "p_adj", "family_size", "better_adj", "worse_adj", "front"]
    rows = []
    for setting in pd.unique(rounds["setting"]):
        base_s = costs["select_s"].get((setting, baseline), np.nan)
        for m in metrics:
            cell = fam[(fam["setting"] == setting) & (fam["metric"] == m)].set_index("strategy")
            for s in order:
                if (setting, s) not in costs.index or (s != baseline and s not in cell.index):
                    continue
                r = {"setting": setting, "metric": m, "strategy": s, **costs.loc[(setting, s)].to_dict()}
                r["select_x_baseline"] = r["select_s"] / base_s if base_s > 0 else np.nan
                if s == baseline:
                    r.update(n=int(cell["n"].max()) if len(cell) else 0, gain=0.0, ci_low=np.nan, ci_high=np.nan,
                             test="", p=np.nan, p_adj=np.nan, family_size=int(fam["family_size"].max()),
                             better_adj=False, worse_adj=False)
                else:
                    c = cell.loc[s]
                    r.update({k: c[k] for k in ("n", "gain", "ci_low", "ci_high", "test", "p", "p_adj",
                                                "family_size", "better_adj", "worse_adj")})
                rows.append(r)
    out = pd.DataFrame(rows, columns=[c for c in cols if c != "front"])
    if out.empty:
        return out.assign(front=pd.Series(dtype=bool))
    sign = out["metric"].map(lambda m: 1.0 if higher_is_better(m) else -1.0)
    out["front"] = False
    for _, idx in out.groupby(["setting", "metric"], sort=False).groups.items():
        out.loc[idx, "front"] = pareto_front(out.loc[idx, "select_s"], (sign * out["gain"]).loc[idx])
    out["better_adj"] = out["better_adj"].astype(bool)
    out["worse_adj"] = out["worse_adj"].astype(bool)
    return out[cols]


# ====================================================================== figure
def cost_benefit_figure(table: pd.DataFrame, *, setting: Any = None, baseline: str = "random",
                        alpha: float = 0.05) -> go.Figure:
    """Scatter of each strategy's AULC gain over random against its select seconds per round.

    One panel per metric, stacked; x: select seconds per round (log scale); y: the mean paired AULC
    gain with its 95 % bootstrap interval as error bars; one labelled point per strategy (random at
    0), filled on the cost / benefit front, open off it, with the front drawn as a dotted line.

    Parameters
    ----------
    table : DataFrame
        :func:`cost_benefit` rows.
    setting : optional
        The setting drawn (needed when ``table`` holds several).
    baseline : str
        The baseline's label (drawn at gain 0).
    alpha : float
        The significance level the hover's words use.

    Returns
    -------
    plotly Figure

    Raises
    ------
    ConfigError
        If ``table`` has no rows for the setting, or several settings and none is chosen.
    """
    require_columns(table, ["setting", "metric", "strategy", "select_s", "gain", "ci_low", "ci_high", "p_adj",
                            "better_adj", "front"], "cost_benefit_figure")
    if setting is None:
        if table["setting"].nunique() > 1:
            raise ConfigError(f"cost_benefit_figure: the table has {table['setting'].nunique()} settings; "
                              "choose one with setting=.")
        setting = table["setting"].iloc[0] if len(table) else None
    d = table[table["setting"] == setting]
    if d.empty:
        raise ConfigError(f"cost_benefit_figure: no rows for setting {setting!r}.")
    metrics = list(pd.unique(d["metric"]))
    names = A.strategy_display_names(d["strategy"])
    colour = {s: series_style(i)["color"] for i, s in enumerate(pd.unique(d["strategy"]))}
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=False, vertical_spacing=0.16,
                        subplot_titles=[f"{A.metric_name(m)} AULC gain over {baseline}" for m in metrics])
    for row, m in enumerate(metrics, start=1):
        dm = d[d["metric"] == m]
        x = dm["select_s"].clip(lower=_MIN_SECONDS).to_numpy(float)
        for s, xi, r in zip(dm["strategy"], x, dm.itertuples(index=False), strict=True):
            lo = r.gain - r.ci_low if np.isfinite(r.ci_low) else 0.0
            hi = r.ci_high - r.gain if np.isfinite(r.ci_high) else 0.0
            words = ("baseline" if s == baseline else f"better than {baseline}" if r.better_adj
                     else f"worse than {baseline}" if r.worse_adj else f"not significantly different (alpha {alpha:g})")
            fig.add_trace(go.Scatter(
                x=[xi], y=[r.gain], mode="markers", text=[names.get(s, s)], name=names.get(s, s), legendgroup=s, showlegend=False,
                error_y=dict(type="data", symmetric=False, array=[hi], arrayminus=[lo], color=colour[s]),
                marker=dict(size=10, color=colour[s] if r.front else "white", line=dict(color=colour[s], width=2),
                            symbol="diamond" if s == baseline else "circle"),
                hovertemplate=(f"{names.get(s, s)}<br>select %{{x:.3g}} s / round<br>gain %{{y:+.4f}}"
                               f" [{r.ci_low:+.4f}, {r.ci_high:+.4f}]<br>Holm p {_p(r.p_adj)}: {words}"
                               "<extra></extra>")), row=row, col=1)
            # a label beside the point (annotations, not point texts: those are thinned across panels)
            fig.add_annotation(x=math.log10(xi), y=r.gain, text=names.get(s, s), showarrow=False, xanchor="left",
                               xshift=9, yshift=7, font=dict(color=colour[s]), row=row, col=1)
        fr = dm[dm["front"].astype(bool)].sort_values("select_s")
        if len(fr) > 1:
            fig.add_trace(go.Scatter(x=fr["select_s"].clip(lower=_MIN_SECONDS), y=fr["gain"], mode="lines",
                                     line=dict(color="#888888", dash="dot", width=1), hoverinfo="skip",
                                     showlegend=False), row=row, col=1)
        fig.add_hline(y=0.0, line_dash="dash", line_color="#555555", line_width=1, row=row, col=1)
        lx = np.log10(x)
        fig.update_xaxes(type="log", title_text="select seconds per round (log scale)", row=row, col=1,
                         range=[float(lx.min()) - 0.25, float(lx.max()) + 0.6], **_log_ticks(x))
        fig.update_yaxes(title_text="AULC gain", zeroline=False, row=row, col=1)
    fig.update_layout(template=_template(), title=dict(text=f"{setting}: cost against benefit, each strategy vs "
                                                       f"{baseline} (filled: on the cost / benefit front)"),
                      height=360 * len(metrics) + 80, showlegend=False)
    return fit_layout(fig)


def _template() -> str:
    from mlal_core.viz.theme import TEMPLATE_NAME, register_template

    register_template()
    return TEMPLATE_NAME


def _log_ticks(x: np.ndarray) -> dict:
    x = x[np.isfinite(x) & (x > 0)]
    return decade_ticks(float(x.min()), float(x.max())) if x.size else {}


# ====================================================================== markdown
def _p(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _secs(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def _gain_cell(r: Any) -> str:
    if not np.isfinite(r.ci_low):
        return f"{r.gain:+.3f}"
    return f"{r.gain:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"


def _wide_table(d: pd.DataFrame, metrics: Sequence[str], baseline: str) -> pd.DataFrame:
    """One row per strategy: its costs, then per metric the gain [CI], Holm p, outcome and front."""
    first = d[d["metric"] == metrics[0]].set_index("strategy")
    out = pd.DataFrame({"strategy": first.index, "select s / round": [_secs(v) for v in first["select_s"]],
                        f"x {baseline}": [f"{v:.1f}" if np.isfinite(v) else "-" for v in first["select_x_baseline"]],
                        "round s": [_secs(v) for v in first["round_s"]]}).set_index("strategy", drop=False)
    for m in metrics:
        dm = d[d["metric"] == m].set_index("strategy")
        name = A.metric_name(m)
        out[f"{name} AULC gain [95 % CI]"] = [_gain_cell(dm.loc[s]) if s in dm.index else "-" for s in out.index]
        out[f"{name} Holm p"] = [_p(dm.loc[s, "p_adj"]) if s in dm.index else "-" for s in out.index]
        out[f"{name} vs {baseline}"] = ["-" if s == baseline or s not in dm.index else _outcome(dm.loc[s])
                                        for s in out.index]
        out[f"{name} front"] = ["yes" if s in dm.index and dm.loc[s, "front"] else "" for s in out.index]
    return out.reset_index(drop=True)


def _outcome(r: pd.Series) -> str:
    """better / worse (Holm-adjusted) / n.s.; "not tested" without an adjusted p (fewer than 2 seeds)."""
    if not np.isfinite(r["p_adj"]):
        return "not tested"
    return "better" if r["better_adj"] else "worse" if r["worse_adj"] else "n.s."


def _names(strategies: Sequence[str]) -> str:
    return ", ".join(strategies) if strategies else "none"


def setting_summary(d: pd.DataFrame, *, baseline: str = "random", alpha: float = 0.05,
                    costly_factor: float = COSTLY_FACTOR) -> str:
    """The plain summary of one setting's cost / benefit rows, from the numbers (2-4 sentences).

    Parameters
    ----------
    d : DataFrame
        :func:`cost_benefit` rows of one setting.
    baseline : str
        The baseline's label.
    alpha : float
        The significance level of the adjusted tests.
    costly_factor : float
        A strategy whose select time exceeds this multiple of the baseline's without a significant
        gain on any metric is named as costly.

    Returns
    -------
    str
        The sentences.
    """
    metrics = list(pd.unique(d["metric"]))
    fronts = "; ".join(f"{A.metric_name(m)}: {_names(list(d.loc[(d['metric'] == m) & d['front'], 'strategy']))}"
                       for m in metrics)
    out = [f"On the cost / benefit front ({fronts})."]
    better = {m: list(d.loc[(d["metric"] == m) & d["better_adj"], "strategy"]) for m in metrics}
    if any(better.values()):
        out.append(f"Better than {baseline} (Holm-adjusted p < {alpha:g}): " + "; ".join(
            f"{A.metric_name(m)}: {_names(v)}" for m, v in better.items()) + ".")
    else:
        out.append(f"No strategy is better than {baseline} after Holm's adjustment (adjusted p < {alpha:g}) on "
                   f"{' or '.join(A.metric_name(m) for m in metrics)} AULC.")
    gainers = set().union(*better.values()) if better else set()
    first = d[d["metric"] == metrics[0]]
    costly = first[(first["select_x_baseline"] > costly_factor) & ~first["strategy"].isin(gainers)
                   & (first["strategy"] != baseline)].sort_values("select_x_baseline", ascending=False)
    if len(costly):
        out.append(f"More than {costly_factor:g}x {baseline}'s select time without a significant gain: "
                   + ", ".join(f"{r.strategy} ({r.select_x_baseline:.0f}x)" for r in costly.itertuples(index=False))
                   + ".")
    else:
        out.append(f"No strategy costs more than {costly_factor:g}x {baseline}'s select time without a "
                   "significant gain.")
    return " ".join(out)


def cost_benefit_markdown(rounds: pd.DataFrame, *, heading: str = "Cost against benefit", baseline: str = "random",
                          strategy_order: Sequence[str] | None = None, test: str = "auto", alpha: float = 0.05,
                          figures: Any = None, figure_prefix: str = "cost", data_dir: Path | None = None,
                          csv_name: str = "cost_benefit.csv", intro: str | None = None) -> str:
    """A report section: per setting, the cost / benefit scatter, table and summary.

    Parameters
    ----------
    rounds : DataFrame
        The rounds frame of the runs compared (see :func:`cost_benefit`).
    heading : str
        The section's heading (level 2).
    baseline : str
        Random selection's label.
    strategy_order : sequence of str, optional
        The strategies' order in the tables.
    test : {"auto", "t", "wilcoxon"}
        The paired test.
    alpha : float
        The significance level.
    figures : optional
        The report's figure writer (``add(fig, name, alt) -> markdown link``); None: no figures.
    figure_prefix : str
        The start of the figures' file names.
    data_dir : Path, optional
        Where the table goes as CSV (``csv_name``).
    csv_name : str
        The CSV file's name.
    intro : str, optional
        The paragraph under the heading (default: what the columns, the family and the front are).

    Returns
    -------
    str
        Markdown; a short note instead when the runs stored no select times or random is absent.
    """
    head = f"## {heading}\n"
    if rounds.empty or "time_select_s" not in rounds.columns or not rounds["time_select_s"].notna().any():
        return head + "\nThe runs stored no select times, so cost cannot be set against benefit.\n"
    if baseline not in set(rounds["strategy"]):
        return head + f"\nRandom selection (`{baseline}`) is not in these runs: there is no gain to measure.\n"
    table = cost_benefit(rounds, baseline=baseline, strategy_order=strategy_order, test=test, alpha=alpha)
    if data_dir is not None:
        table.to_csv(Path(data_dir) / csv_name, index=False)
    size = int(table["family_size"].max()) if len(table) else 0
    separate = "time_diagnostics_s" in rounds.columns and bool(rounds["time_diagnostics_s"].notna().all())
    lines = [head, intro if intro is not None else _intro(baseline, alpha, size, diagnostics_apart=separate), ""]
    for setting, d in table.groupby("setting", sort=False):
        metrics = list(pd.unique(d["metric"]))
        lines.append(f"### {setting}\n")
        if figures is not None:
            slug = "".join(ch if ch.isalnum() else "_" for ch in str(setting)).strip("_").lower() or "x"
            lines.append(figures.add(cost_benefit_figure(d, setting=setting, baseline=baseline, alpha=alpha),
                                     f"{figure_prefix}_{slug}", f"{setting}: cost against benefit") + "\n")
        lines.append(md_table(_wide_table(d, metrics, baseline)))
        lines.append("")
        lines.append(setting_summary(d, baseline=baseline, alpha=alpha) + "\n")
    return "\n".join(lines)


def _select_time_text(baseline: str, diagnostics_apart: bool) -> str:
    """What *select s / round* covers: the strategy alone, or (older records) with the shared diagnostics."""
    if diagnostics_apart:
        return ("the strategy's own work, without the round's shared diagnostics (stopping measures, "
                "hard-to-learn and conflicting counts), which the runs time apart")
    return (f"it includes the round's shared diagnostics, the same for every strategy, so `{baseline}`'s time "
            "is the floor: these runs were stored before the diagnostics were timed apart")


def _intro(baseline: str, alpha: float, family_size: int, *, diagnostics_apart: bool = False) -> str:
    return (
        "What each strategy costs per round against what it gains over random selection, after the XMTC "
        "study's efficiency analysis (Sec. 5.6, Table 3) and its effectiveness / efficiency trade-off "
        f"(Sec. 6.3). **Cost**: *select s / round*, the mean seconds from the pool's predictions to the chosen "
        f"batch over the query rounds of every seed ({_select_time_text(baseline, diagnostics_apart)}; "
        f"*x {baseline}* is the ratio), and *round s*, the whole "
        "round (training, predicting the pool, selecting). **Benefit**: the AULC gain over "
        f"`{baseline}`, the mean paired difference over seeds with its 95 % paired-bootstrap interval; *Holm p* "
        f"is adjusted over one family, every strategy vs `{baseline}` on every dataset x metric of this section "
        f"({family_size} comparisons; the XMTC claim's family when the runs are the same), and *better* / "
        f"*worse* mean adjusted p < {alpha:g} (n.s. otherwise). **Front**: a strategy is on the cost / benefit "
        "front when no other strategy (random included, at gain 0) is both at most as slow to select and at "
        "least as good in mean gain, and strictly one of them (descriptive: mean gains, no test; chosen over a "
        "'cost per point of gain', which is undefined at no gain). Timings are wall-clock seconds on the "
        "machine that ran the grid, shared with other work, so ratios measured in the same run are the "
        "reliable reading."
    )


# ====================================================================== the large-K experiment
def _shown_path(path: Path) -> str:
    """``path`` relative to the working folder where it lies under it (as a command would name it)."""
    try:
        rel = os.path.relpath(path, Path.cwd())
    except ValueError:
        return path.as_posix()
    return Path(rel).as_posix() if not rel.startswith("..") else path.as_posix()


def large_k_markdown(config_path: str | Path, *, figures: Any = None, figure_prefix: str = "largek_cost",
                     data_dir: Path | None = None, log: Callable[[str], None] | None = None) -> str:
    """The report section "Cost against benefit at large K", from the efficiency experiment's store.

    Parameters
    ----------
    config_path : str or Path
        The efficiency experiment's config file (``efficiency_experiment`` of the reproduction config).
    figures : optional
        The report's figure writer (see :func:`cost_benefit_markdown`).
    figure_prefix : str
        The start of its figures' file names.
    data_dir : Path, optional
        Where ``cost_benefit_large_k.csv`` goes.
    log : callable, optional
        ``log(line)`` for progress lines.

    Returns
    -------
    str
        Markdown: the section from the finished runs of the experiment; one sentence with the command
        that runs it while its store holds no finished run; the config's problem when it is invalid.
    """
    from mlal_core import experiments

    log = log or (lambda line: None)
    heading = "Cost against benefit at large K"
    shown = _shown_path(Path(config_path))
    run_cmd = f"`python -m mlal_core experiment {shown}`"
    try:
        cfg = experiments.load_config(config_path)
    except MLALError as exc:
        return f"## {heading}\n\nThe efficiency experiment's config `{shown}` cannot be used: {exc}\n"
    store = cfg.store_path()
    res = None
    if store.is_file():
        try:
            res = experiments.load_results(store, cfg.name)
        except MLALError as exc:
            log(f"efficiency experiment: {exc}")
            return f"## {heading}\n\nThe store of the efficiency experiment `{cfg.name}` cannot be read: {exc}\n"
    if res is None or res.runs.empty:
        return (f"## {heading}\n\nThe large-K efficiency experiment `{cfg.name}` ({shown}) has not been run yet: "
                f"run {run_cmd}, then rebuild this report.\n")
    baseline = cfg.analysis.get("baseline", "random")
    order = [s.label for s in cfg.strategies]
    intro = (f"From the experiment `{cfg.name}` ({shown}, store `{store.name}`): {len(res.runs)} finished run(s)"
             f"{_labels_note(res.runs)}; {run_cmd} resumes it. The columns and the front are those of \"Cost "
             "against benefit\" above; the Holm family is this experiment's own (every strategy vs "
             f"`{baseline}` on each of its datasets x metrics).")
    return cost_benefit_markdown(res.rounds, heading=heading, baseline=baseline, strategy_order=order,
                                 test=cfg.analysis["test"], alpha=float(cfg.analysis["alpha"]), figures=figures,
                                 figure_prefix=figure_prefix, data_dir=data_dir, csv_name="cost_benefit_large_k.csv",
                                 intro=intro)


def _labels_note(runs: pd.DataFrame) -> str:
    """``", datasets: a (K = 1,000), b"`` from the runs' dataset names (K where a generated set's name says it)."""
    from mlal_core import data

    parts = []
    for name in pd.unique(runs.get("dataset_name", runs["dataset"])):
        try:
            parsed = data.parse_xmtc_name(str(name))
        except MLALError:
            parsed = None
        parts.append(f"{name} (K = {parsed.n_labels:,})" if parsed is not None else str(name))
    return f", datasets {', '.join(parts)}" if parts else ""


def report_sections(config: Any, rounds: pd.DataFrame, *, strategy_order: Sequence[str] | None = None,
                    figures: Any = None, data_dir: Path | None = None, log: Callable[[str], None] | None = None
                    ) -> str:
    """Both cost / benefit sections of the reproduction report.

    Parameters
    ----------
    config : ExperimentConfig
        The reproduction config (``analysis`` and ``efficiency_experiment``).
    rounds : DataFrame
        The rounds of the runs the paper claims are checked on (random initial sets).
    strategy_order : sequence of str, optional
        The strategies' order in the tables.
    figures : optional
        The report's figure writer.
    data_dir : Path, optional
        Where the tables go as CSV.
    log : callable, optional
        ``log(line)`` for progress lines.

    Returns
    -------
    str
        "Cost against benefit", then "Cost against benefit at large K" when the config names an
        efficiency experiment.
    """
    an = config.analysis
    out = cost_benefit_markdown(rounds, baseline=an["baseline"], strategy_order=strategy_order, test=an["test"],
                                alpha=float(an["alpha"]), figures=figures, data_dir=data_dir)
    eff = getattr(config, "efficiency_experiment", None)
    if eff is not None:
        out += "\n" + large_k_markdown(eff, figures=figures, data_dir=data_dir, log=log)
    return out

