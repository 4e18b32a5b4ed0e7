"""Figures about what a strategy picked: per-round batch statistics, score distributions, overlap
between strategies, and training-batch sampling probabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlal_core.errors import ConfigError
from mlal_core.viz._common import (
    as_1d,
    as_mask,
    check_choice,
    decade_ticks,
    new_figure,
    require_columns,
    shorten,
)
from mlal_core.viz.fit import fit_layout
from mlal_core.viz.theme import (
    CATEGORY_COLORS,
    HIGHLIGHT_COLOR,
    PICKED_COLOR,
    POSITIVE_COLOR,
    SEQUENTIAL,
    TEMPLATE_NAME,
    UNPICKED_COLOR,
    register_template,
    series_style,
)

__all__ = [
    "comal_k_profile_figure",
    "jaccard_matrix",
    "per_round_bars_or_lines",
    "sampling_probability_distribution",
    "score_distribution",
    "strategy_overlap_heatmap",
]

#: Display names of the per-round quantities the loop records (others are shown as given).
KNOWN_QUANTITIES = {
    "mean_ir": "MeanIR of the selected batch",
    "meanir": "MeanIR of the selected batch",
    "n_hard_to_learn": "Hard-to-learn samples selected (count)",
    "hard_to_learn": "Hard-to-learn samples selected (count)",
    "n_conflicting": "Conflicting samples selected (count)",
    "conflicting": "Conflicting samples selected (count)",
}


def _pretty(col: str) -> str:
    return KNOWN_QUANTITIES.get(str(col), str(col).replace("_", " "))


def per_round_bars_or_lines(df: pd.DataFrame, y, group: str | None = None, *, x: str = "round",
                            kind: str = "bar", error: str | None = None, title: str | None = None,
                            y_title: str | None = None, x_title: str = "AL round",
                            group_order=None, display_names: Mapping[str, str] | None = None) -> go.Figure:
    """One value per AL round and series, as grouped bars (``kind="bar"``) or lines (``"line"``).

    CRAB Fig. 4 (MeanIR of the batch each strategy selected, per round: ``y="mean_ir"``,
    ``group="strategy"``) and Fig. 5 (how many hard-to-learn / conflicting samples were selected:
    ``y=["n_hard_to_learn", "n_conflicting"]``). The series are the groups, the columns, or their
    combinations ("group: column").

    Parameters
    ----------
    df : pandas.DataFrame
        One row per round (and group), numeric ``x`` and ``y`` columns.
    y : str or list of str
        Column(s) to draw.
    group : str, optional
        Column whose values are the series.
    x : str, default "round"
        Column of the round.
    kind : {"bar", "line"}, default "bar"
        Grouped bars or lines with markers.
    error : str, optional
        Column of error-bar half widths (e.g. std over seeds; one ``y`` column only).
    title, y_title : str, optional
        Titles (default from the known quantity names).
    x_title : str, default "AL round"
        x-axis title.
    group_order : sequence, optional
        Order of the groups (others follow in order of appearance).
    display_names : mapping of str to str, optional
        Legend name of a group (e.g. a strategy's display name); others keep their own.

    Returns
    -------
    plotly.graph_objects.Figure
        The figure.

    Raises
    ------
    ConfigError
        If a column is missing or not numeric, ``df`` is empty, ``error`` comes with several ``y``,
        or a round (and group) has more than one row.
    """
    ys = [y] if isinstance(y, str) else list(y)
    if not ys:
        raise ConfigError("per_round_bars_or_lines needs at least one y column.")
    check_choice(kind, ("bar", "line"), "kind")
    cols = [x, *ys] + ([group] if group else []) + ([error] if error else [])
    require_columns(df, cols, "per_round_bars_or_lines")
    if df.empty:
        raise ConfigError("per_round_bars_or_lines got an empty frame.")
    if error and len(ys) != 1:
        raise ConfigError("error bars need a single y column.")
    for c in [x, *ys] + ([error] if error else []):
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ConfigError(f"per_round_bars_or_lines: column {c!r} must be numeric.")
    if df.duplicated([x] + ([group] if group else [])).any():
        raise ConfigError(f"per_round_bars_or_lines: more than one row per {x}"
                          + (f" and {group}" if group else "") + "; aggregate over seeds first.")

    groups = list(pd.unique(df[group])) if group else [None]
    if group and group_order is not None:
        groups = [g for g in group_order if g in groups] + [g for g in groups if g not in list(group_order)]
    series = [(g, c) for g in groups for c in ys]

    if title is None:
        title = f"{_pretty(ys[0])} per round" if len(ys) == 1 else "Selected samples per round"
    if y_title is None:
        y_title = _pretty(ys[0]) if len(ys) == 1 else "Selected samples (count)"
    fig = new_figure(title, x_title, y_title)
    for i, (g, c) in enumerate(series):
        d = df if g is None else df[df[group] == g]
        d = d.sort_values(x)
        shown_g = (display_names or {}).get(str(g), g)
        if g is None:
            name = _pretty(c)
        elif len(ys) == 1:
            name = str(shown_g)
        else:
            name = f"{shown_g}: {_pretty(c)}"
        style = series_style(i)
        err = dict(type="data", array=d[error].to_numpy(float), visible=True, thickness=1.2) if error else None
        hover = f"<b>{name}</b><br>{x_title}: %{{x}}<br>{_pretty(c)}: %{{y:.4g}}<extra></extra>"
        if kind == "bar":
            fig.add_trace(go.Bar(x=d[x], y=d[c], name=name, marker_color=style["color"], error_y=err,
                                 hovertemplate=hover))
        else:
            fig.add_trace(go.Scatter(x=d[x], y=d[c], name=name, mode="lines+markers", error_y=err,
                                     line=dict(color=style["color"], dash=style["dash"]),
                                     marker=dict(symbol=style["symbol"], color=style["color"]),
                                     hovertemplate=hover))
    if kind == "bar":
        fig.update_layout(barmode="group")
    rounds = np.sort(pd.unique(df[x]))
    if len(rounds) <= 30 and np.all(np.asarray(rounds, float) == np.round(np.asarray(rounds, float))):
        fig.update_xaxes(tickmode="array", tickvals=rounds)
    fig.update_layout(showlegend=len(series) > 1)
    return fit_layout(fig)


def score_distribution(scores, picked_mask=None, highlight: int | None = None, *, bins: int = 40,
                       score_name: str = "Score", title: str | None = None,
                       highlight_label: str | None = None, set_name: str = "pool") -> go.Figure:
    """Histogram of the pool's scores, the picked candidates as a rug, one sample as a vertical line.

    The histogram is binned here (numpy, ``bins`` equal-width bins over the scored range) and drawn
    as bars, so the counts in the figure are exactly those of the data. Top row: the histogram (and
    the highlight line); bottom row: one tick per picked candidate.

    Parameters
    ----------
    scores : array-like, shape (n,)
        One value per candidate (NaN = not scored, left out and counted in the title).
    picked_mask : array-like of bool, shape (n,), optional
        The picked candidates (each must have a score).
    highlight : int, optional
        A position in ``scores`` to mark (e.g. the sample the user is inspecting).
    bins : int, default 40
        Number of bins.
    score_name : str, default "Score"
        Name of the score (axis, hover, title).
    title : str, optional
        Title (default counts the candidates, picks and unscored ones).
    highlight_label : str, optional
        Legend name of the highlight line.
    set_name : str, default "pool"
        The set the scores are over, in words: the histogram's legend entry ("<set_name> (n)") and the
        default title say it (e.g. ``"U* (CRAB's refined pool)"`` when a strategy scores a subset).

    Returns
    -------
    plotly.graph_objects.Figure
        A two-row figure.

    Raises
    ------
    ConfigError
        If no candidate is scored, a picked one is not, ``bins < 1``, or ``highlight`` is out of range
        or not scored.
    """
    s = as_1d(scores, "scores", allow_nan=True)
    n = s.size
    picked = as_mask(picked_mask, n, "picked_mask")
    scored = np.isfinite(s)
    if not scored.any():
        raise ConfigError("score_distribution: no candidate has a score (all NaN).")
    if (picked & ~scored).any():
        raise ConfigError("score_distribution: a picked candidate has no score (NaN).")
    if int(bins) < 1:
        raise ConfigError(f"bins must be >= 1; got {bins}.")
    if highlight is not None:
        h = int(highlight)
        if not 0 <= h < n:
            raise ConfigError(f"highlight must be a position in 0..{n - 1}; got {highlight}.")
        if not scored[h]:
            raise ConfigError(f"highlight: candidate {h} has no score.")

    vals = s[scored]
    lo, hi = float(vals.min()), float(vals.max())
    if hi <= lo:  # all equal: one bin around the value
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(vals, bins=int(bins), range=(lo, hi))
    centers = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]

    n_not = int((~scored).sum())
    if title is None:
        over = "the pool" if set_name == "pool" else set_name
        title = f"{score_name} over {over} ({vals.size} candidates, {int(picked.sum())} picked"
        title += f", {n_not} not scored)" if n_not else ")"
    register_template()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.84, 0.16], vertical_spacing=0.03)
    fig.update_layout(template=TEMPLATE_NAME, title=dict(text=title), bargap=0.02)
    fig.add_trace(go.Bar(
        x=centers, y=counts, width=width, name=f"{set_name} ({vals.size})", marker_color=UNPICKED_COLOR,
        customdata=np.column_stack([edges[:-1], edges[1:]]),
        hovertemplate="[%{customdata[0]:.4g}, %{customdata[1]:.4g}): %{y} candidates<extra></extra>",
    ), row=1, col=1)
    idx = np.flatnonzero(picked)
    fig.add_trace(go.Scatter(
        x=s[idx], y=np.zeros(idx.size), mode="markers", name=f"picked ({idx.size})",
        marker=dict(symbol="line-ns-open", size=16, color=PICKED_COLOR, line=dict(width=2, color=PICKED_COLOR)),
        customdata=idx, hovertemplate="candidate %{customdata}<br>" + score_name + ": %{x:.4g}<extra></extra>",
    ), row=2, col=1)
    if highlight is not None:
        hv = float(s[h])
        label = highlight_label or f"sample {h} ({score_name.lower()} {hv:.4g})"
        top = max(int(counts.max()), 1) * 1.05
        fig.add_trace(go.Scatter(x=[hv, hv], y=[0, top], mode="lines", name=label, legendgroup="highlight",
                                 line=dict(color=HIGHLIGHT_COLOR, width=2, dash="dash"),
                                 hovertemplate=label + "<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=[hv, hv], y=[-1, 1], mode="lines", showlegend=False, legendgroup="highlight",
                                 line=dict(color=HIGHLIGHT_COLOR, width=2, dash="dash"), hoverinfo="skip"),
                      row=2, col=1)
    fig.update_yaxes(title_text="Candidates (count)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[-1, 1], showticklabels=False, showgrid=False, showline=False, ticks="",
                     row=2, col=1)  # the legend names the rug ("picked (k)")
    fig.update_xaxes(showline=True, row=1, col=1)
    fig.update_xaxes(title_text=score_name, row=2, col=1)
    fig.update_layout(showlegend=True, legend=dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom"))
    return fit_layout(fig, legend="top")


def comal_k_profile_figure(profile: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """CoMAL's components of one sample, per label (Peng et al., Sec. 3.2, Eq. 7-8): bars ``k_j(x) =
    cos(z_j(x), p_j)`` (blue where the label is predicted / given, grey otherwise) and diamonds
    ``kbar_j``, the labelled set's mean similarity. SLCI counts the bars above their diamond; PFD adds
    up ``1 - k`` over the blue bars.

    Parameters
    ----------
    profile : pandas.DataFrame
        Columns ``label``, ``k``, ``kbar``, ``predicted`` (bool), as
        :func:`mlal_core.inspection.round_history.comal_k_profile` returns.
    title : str, optional
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        The bar chart.

    Raises
    ------
    ConfigError
        If a column is missing, ``profile`` is empty, or ``k`` / ``kbar`` / ``predicted`` are invalid.
    """
    require_columns(profile, ["label", "k", "kbar", "predicted"], "comal_k_profile_figure")
    if profile.empty:
        raise ConfigError("comal_k_profile_figure got an empty profile.")
    k = as_1d(profile["k"], "k", allow_nan=True)
    kbar = as_1d(profile["kbar"], "kbar", allow_nan=True)
    predicted = as_mask(profile["predicted"].to_numpy(), len(profile), "predicted")
    labels = [str(v) for v in profile["label"]]
    fig = new_figure(title or "Prototype similarity per label (blue = predicted label)", "Label",
                     "Cosine similarity to the prototype")
    fig.add_trace(go.Bar(x=labels, y=k, name="k_j(x) = cos(z_j(x), p_j)",
                         marker_color=[POSITIVE_COLOR if p else UNPICKED_COLOR for p in predicted],
                         hovertemplate="%{x}: k = %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=labels, y=kbar, mode="markers", name="kbar_j (labelled mean)",
                             marker=dict(symbol="diamond", size=10, color=HIGHLIGHT_COLOR),
                             hovertemplate="%{x}: kbar = %{y:.3f}<extra></extra>"))
    fig.update_layout(showlegend=True)
    return fit_layout(fig)


def jaccard_matrix(selections: Mapping[str, Sequence[int]]) -> pd.DataFrame:
    """Pairwise Jaccard overlap ``|A & B| / |A | B|`` of the sample sets strategies selected.

    Parameters
    ----------
    selections : mapping of str to iterable of int
        Strategy name -> the pool positions it picked.

    Returns
    -------
    pandas.DataFrame, shape (S, S)
        Indexed and labelled by strategy name; NaN for two empty sets, 1 on the diagonal for a
        non-empty set.

    Raises
    ------
    ConfigError
        If ``selections`` is not a non-empty mapping.
    """
    if not isinstance(selections, Mapping) or not selections:
        raise ConfigError("jaccard_matrix needs a non-empty mapping of strategy name -> selected positions.")
    names = [str(k) for k in selections]
    sets = [set(np.asarray(list(v), dtype=np.int64).tolist()) for v in selections.values()]
    out = np.full((len(sets), len(sets)), np.nan)
    for i, a in enumerate(sets):
        for j, b in enumerate(sets):
            union = len(a | b)
            if union:
                out[i, j] = len(a & b) / union
    return pd.DataFrame(out, index=names, columns=names)


def strategy_overlap_heatmap(jaccard_df: pd.DataFrame, *, title: str | None = None,
                             show_values: bool | None = None, max_tick_len: int = 22,
                             width: float | None = None) -> go.Figure:
    """Heatmap of a square strategy x strategy overlap table (Jaccard in [0, 1], see :func:`jaccard_matrix`).

    Parameters
    ----------
    jaccard_df : pandas.DataFrame, shape (S, S)
        Overlap table; index and columns name the same strategies in the same order; NaN allowed.
    title : str, optional
        Figure title.
    show_values : bool, optional
        Write the values in the cells (default: 15 strategies or fewer).
    max_tick_len : int, default 22
        Tick labels are shortened to this many characters.
    width : float, optional
        Width in px the figure is shown at, for the tick-label decisions (default
        :data:`~mlal_core.viz.fit.SCREEN_WIDTH`); the cells are square at any width.

    Returns
    -------
    plotly.graph_objects.Figure
        The heatmap.

    Raises
    ------
    ConfigError
        If the table is not a square, non-empty, numeric frame with matching index and columns, or a
        value lies outside [0, 1].
    """
    if not isinstance(jaccard_df, pd.DataFrame):
        raise ConfigError(f"strategy_overlap_heatmap needs a pandas DataFrame; got {type(jaccard_df).__name__}.")
    if jaccard_df.shape[0] != jaccard_df.shape[1] or jaccard_df.shape[0] == 0:
        raise ConfigError(f"the overlap table must be square and non-empty; got shape {jaccard_df.shape}.")
    if [str(i) for i in jaccard_df.index] != [str(c) for c in jaccard_df.columns]:
        raise ConfigError("the overlap table's index and columns must name the same strategies in the same order.")
    try:
        z = jaccard_df.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ConfigError("the overlap table must be numeric.") from None
    fin = z[np.isfinite(z)]
    if np.isinf(z).any() or (fin.size and (fin.min() < -1e-9 or fin.max() > 1 + 1e-9)):
        raise ConfigError("overlap values must lie in [0, 1] (NaN allowed).")
    names = [str(c) for c in jaccard_df.columns]
    k = len(names)
    if show_values is None:
        show_values = k <= 15
    fig = new_figure(title or "Overlap of selected samples between strategies (Jaccard)", "Strategy", "Strategy")
    hover = np.array([[f"{r} vs {c}" for c in names] for r in names], dtype=object)
    fig.add_trace(go.Heatmap(
        z=z, x=np.arange(k), y=np.arange(k), text=hover, zmin=0, zmax=1, colorscale=SEQUENTIAL,
        colorbar=dict(title=dict(text="Jaccard", side="right")), xgap=1, ygap=1,
        texttemplate="%{z:.2f}" if show_values else None, hovertemplate="%{text}: %{z:.3f}<extra></extra>",
    ))
    ticks = dict(tickmode="array", tickvals=np.arange(k), ticktext=[shorten(s, max_tick_len) for s in names],
                 showgrid=False, showline=False)
    fig.update_xaxes(range=[-0.5, k - 0.5], constrain="domain", constraintoward="left", **ticks)
    fig.update_yaxes(range=[k - 0.5, -0.5], scaleanchor="x", scaleratio=1, constrain="domain", **ticks)
    fig.update_layout(showlegend=False)
    return fit_layout(fig, width)


def _epoch_arrays(prob, epochs) -> tuple[list, list[np.ndarray]]:
    if isinstance(prob, pd.DataFrame):
        cols = {c.lower(): c for c in prob.columns}
        ecol = cols.get("epoch")
        pcol = next((cols[c] for c in ("probability", "prob", "p") if c in cols), None)
        if ecol is None or pcol is None:
            raise ConfigError("a sampling-probability frame needs the columns 'epoch' and 'probability'.")
        labels = list(pd.unique(prob[ecol]))
        arrays = [prob.loc[prob[ecol] == e, pcol].to_numpy(float) for e in labels]
        if epochs is not None:
            raise ConfigError("epochs is taken from the frame's 'epoch' column; do not pass it too.")
        return labels, arrays
    if isinstance(prob, np.ndarray) and prob.ndim == 2:
        arrays = [np.asarray(r, float) for r in prob]
    elif isinstance(prob, np.ndarray):
        raise ConfigError(f"prob_matrix must be 2-D (epochs, samples); got shape {prob.shape}.")
    else:
        try:
            arrays = [np.asarray(r, dtype=float).reshape(-1) for r in prob]
        except (TypeError, ValueError):
            raise ConfigError("prob_matrix must be a 2-D array, a list of 1-D arrays, or a frame.") from None
    labels = list(range(1, len(arrays) + 1)) if epochs is None else list(epochs)
    if len(labels) != len(arrays):
        raise ConfigError(f"epochs has {len(labels)} entries for {len(arrays)} epochs of probabilities.")
    return labels, arrays


def sampling_probability_distribution(prob_matrix, epochs=None, *, kind: str = "box",
                                      title: str | None = None, show_uniform: bool = True,
                                      log_y: bool = False, max_points: int = 3000,
                                      random_state: int = 0) -> go.Figure:
    """Distribution of the training samples' sampling probabilities, one box / violin per epoch.

    For the uncertainty batch selection of Zhou et al. (METHODS.md "Uncertainty batch selection").

    Parameters
    ----------
    prob_matrix : array-like or pandas.DataFrame
        (E, n) array (row = epoch), a list of per-epoch 1-D arrays (their lengths may differ), or a
        long frame with columns ``epoch`` and ``probability``.
    epochs : sequence, optional
        Labels of the rows (default 1..E); not with a frame.
    kind : {"box", "violin"}, default "box"
        ``"box"`` draws boxes from quartiles computed here (Tukey whiskers at 1.5 IQR, no outlier
        points), so the figure stays small for any n; ``"violin"`` draws at most ``max_points``
        probabilities per epoch.
    title : str, optional
        Figure title.
    show_uniform : bool, default True
        Add the uniform reference ``1 / n`` when every epoch has the same n and sums to 1.
    log_y : bool, default False
        Log probability axis (needs probabilities > 0).
    max_points : int, default 3000
        Violin subsample size per epoch.
    random_state : int, default 0
        Seed of the violin subsample.

    Returns
    -------
    plotly.graph_objects.Figure
        The figure.

    Raises
    ------
    ConfigError
        If the input has no epoch, an empty epoch, or probabilities that are not finite or outside
        [0, 1] (or not positive with ``log_y``), or ``epochs`` or ``kind`` does not fit.
    """
    check_choice(kind, ("box", "violin"), "kind")
    labels, arrays = _epoch_arrays(prob_matrix, epochs)
    if not arrays:
        raise ConfigError("sampling_probability_distribution needs at least one epoch.")
    for e, a in zip(labels, arrays, strict=True):
        if a.size == 0:
            raise ConfigError(f"epoch {e!r} has no probabilities.")
        if not np.isfinite(a).all():
            raise ConfigError(f"epoch {e!r} has NaN or infinite probabilities.")
        if (a < 0).any() or (a > 1 + 1e-9).any():
            raise ConfigError(f"epoch {e!r} has probabilities outside [0, 1].")
    if log_y and any((a <= 0).any() for a in arrays):
        raise ConfigError("log_y needs strictly positive probabilities.")
    x_text = [str(e) for e in labels]
    fig = new_figure(title or "Sampling probabilities of the training samples per epoch", "Epoch",
                     "Sampling probability" + (" (log scale)" if log_y else ""))
    color = CATEGORY_COLORS[0]
    if kind == "box":
        q1, med, q3, lo_f, hi_f, mean = [], [], [], [], [], []
        for a in arrays:
            a1, a2, a3 = np.quantile(a, [0.25, 0.5, 0.75])
            iqr = a3 - a1
            q1.append(a1)
            med.append(a2)
            q3.append(a3)
            mean.append(float(a.mean()))
            lo_f.append(float(a[a >= a1 - 1.5 * iqr].min()))
            hi_f.append(float(a[a <= a3 + 1.5 * iqr].max()))
        fig.add_trace(go.Box(x=x_text, q1=q1, median=med, q3=q3, lowerfence=lo_f, upperfence=hi_f,
                             mean=mean, name="probabilities", marker_color=color, boxpoints=False))
    else:
        rng = np.random.default_rng(random_state)
        xs, ys = [], []
        for e, a in zip(x_text, arrays, strict=True):
            if a.size > max_points:
                a = rng.choice(a, size=max_points, replace=False)
            xs.extend([e] * a.size)
            ys.append(a)
        fig.add_trace(go.Violin(x=xs, y=np.concatenate(ys), name="probabilities", line_color=color,
                                box_visible=True, meanline_visible=True, points=False, spanmode="hard"))
    sizes = {a.size for a in arrays}
    n_series = 1
    if show_uniform and len(sizes) == 1 and all(abs(a.sum() - 1) < 1e-6 for a in arrays):
        u = 1.0 / sizes.pop()
        fig.add_trace(go.Scatter(x=[x_text[0], x_text[-1]], y=[u, u], mode="lines", name=f"uniform 1/n = {u:.3g}",
                                 line=dict(color=PICKED_COLOR, dash="dash", width=1.5), hoverinfo="name"))
        n_series += 1
    fig.update_xaxes(type="category")
    if log_y:  # decades only: the minor digits 2..9 of plotly's log ticks crowd and collide
        lo = min(float(a.min()) for a in arrays)
        hi = max(float(a.max()) for a in arrays)
        fig.update_yaxes(type="log", **decade_ticks(lo, hi))
    fig.update_layout(showlegend=n_series > 1)
    return fit_layout(fig)
