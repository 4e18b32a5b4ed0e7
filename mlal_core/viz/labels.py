"""Label ordering and the label-frequency bar chart."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mlal_core.errors import ConfigError
from mlal_core.viz._common import as_1d, as_label_names, check_choice, decade_ticks, new_figure, shorten
from mlal_core.viz.fit import fit_layout
from mlal_core.viz.theme import CATEGORY_COLORS

__all__ = ["irlbl_from_counts", "label_frequency_bar", "label_order"]

ORDER_BY = ("frequency", "name", "index", "cluster")


def irlbl_from_counts(counts) -> np.ndarray:
    """IRLbl from label counts: ``max_k count_k / count_j``; ``inf`` for an absent label (count 0).

    Same convention as :func:`mlal_core.stats.irlbl` (Charte et al. 2015).

    Parameters
    ----------
    counts : array-like, shape (K,)
        Positives per label, finite and non-negative.

    Returns
    -------
    numpy.ndarray of float, shape (K,)
        IRLbl per label.

    Raises
    ------
    ConfigError
        If ``counts`` is empty, not finite or negative.
    """
    counts = as_1d(counts, "counts")
    if (counts < 0).any():
        raise ConfigError("counts must be non-negative.")
    top = counts.max() if counts.size else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(counts > 0, top / np.where(counts > 0, counts, 1.0), np.inf)
    return out.astype(float)


def label_order(label_names=None, counts=None, *, by: str = "frequency", top_k: int | None = None,
                descending: bool = True, matrix=None, k: int | None = None) -> np.ndarray:
    """Positions of the labels to show, in display order.

    ``top_k`` keeps the ``top_k`` most frequent labels (needs ``counts``) **before** ordering them by
    ``by``, so ``by="name", top_k=20`` shows the 20 most frequent labels alphabetically. The number of
    labels K comes from ``label_names``, ``counts``, ``matrix`` or ``k``, which must agree.

    Parameters
    ----------
    label_names : sequence of str, optional
        K names (needed for ``by="name"``).
    counts : array-like, shape (K,), optional
        Positives per label (needed for ``by="frequency"`` and ``top_k``).
    by : {"frequency", "name", "index", "cluster"}, default "frequency"
        ``"frequency"``: by ``counts``, ties by position; ``"name"``: alphabetically, A to Z
        (case-insensitive), ties by position; ``"index"``: the dataset's own order; ``"cluster"``:
        average-linkage clustering of the labels' rows and columns of ``matrix`` (e.g. A), so that
        correlated labels sit together.
    top_k : int, optional
        Keep only the ``top_k`` most frequent labels (ties by position).
    descending : bool, default True
        Most frequent first (``by="frequency"`` only).
    matrix : array-like, shape (K, K), optional
        Needed for ``by="cluster"``.
    k : int, optional
        Number of labels, when nothing else gives it.

    Returns
    -------
    numpy.ndarray of int, shape (k_shown,)
        Label positions in display order.

    Raises
    ------
    ConfigError
        If K cannot be told or the inputs disagree on it, ``by`` is unknown, ``top_k < 1``, or the
        input ``by`` / ``top_k`` needs is missing.
    """
    check_choice(by, ORDER_BY, "by")
    sizes = {}
    if label_names is not None:
        label_names = [str(s) for s in label_names]
        sizes["label_names"] = len(label_names)
    if counts is not None:
        counts = as_1d(counts, "counts")
        sizes["counts"] = counts.size
    if matrix is not None:
        matrix = np.asarray(matrix, dtype=float)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ConfigError(f"matrix must be square (K, K); got shape {matrix.shape}.")
        sizes["matrix"] = matrix.shape[0]
    if k is not None:
        sizes["k"] = int(k)
    if not sizes:
        raise ConfigError("label_order needs label_names, counts, matrix or k to know the number of labels.")
    if len(set(sizes.values())) != 1:
        raise ConfigError(f"label_order got inconsistent numbers of labels: {sizes}.")
    n_labels = next(iter(sizes.values()))
    positions = np.arange(n_labels)

    if top_k is not None:
        top_k = int(top_k)
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1; got {top_k}.")
        if counts is None:
            raise ConfigError("top_k keeps the most frequent labels, so it needs counts.")
        if top_k < n_labels:
            keep = np.lexsort((positions, -counts))[:top_k]
            positions = np.sort(keep)

    if by == "frequency":
        if counts is None:
            raise ConfigError("by='frequency' needs counts.")
        c = counts[positions]
        order = np.lexsort((positions, -c if descending else c))
        return positions[order]
    if by == "name":
        if label_names is None:
            raise ConfigError("by='name' needs label_names.")
        keys = [label_names[p].casefold() for p in positions]
        by_name = sorted(range(len(positions)), key=lambda i: (keys[i], positions[i]))
        return positions[np.asarray(by_name, dtype=int)]
    if by == "index":
        return positions
    # cluster
    if matrix is None:
        raise ConfigError("by='cluster' needs matrix (e.g. the correlation matrix A).")
    if positions.size < 3:
        return positions
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import pdist

    sub = matrix[np.ix_(positions, positions)]
    sub = np.nan_to_num(sub)
    feats = np.hstack([sub, sub.T])  # a label is described by its row and its column
    dist = pdist(feats, metric="euclidean")
    leaves = leaves_list(linkage(dist, method="average", optimal_ordering=True))
    return positions[leaves]


def label_frequency_bar(counts, label_names=None, *, log_y: bool = False, order_by: str = "frequency",
                        top_k: int | None = None, n_samples: int | None = None,
                        title: str | None = None, max_tick_len: int = 24, positions=None) -> go.Figure:
    """Bar chart of positives per label; the hover shows the count, the share and IRLbl.

    IRLbl is computed over **all** K labels, as in :func:`mlal_core.stats.irlbl`; the title gives
    the MeanIR over the present ones.

    Parameters
    ----------
    counts : array-like, shape (K,)
        Positives per label, non-negative.
    label_names : sequence of str, optional
        K names (default ``"label j"``).
    log_y : bool, default False
        Log count axis, on request: the axis title says so and the axis starts at a count of 1 (not
        near the smallest count), so a bar's height still grows with its count. A label with count 0
        then has no bar; its tick stays. The default linear axis keeps the counts' ratios.
    order_by : {"frequency", "name", "index", "cluster"}, default "frequency"
        Bar order, see :func:`label_order` (``"cluster"`` is refused there: no matrix is passed).
    top_k : int, optional
        Keep the most frequent labels; the title says how many are shown.
    n_samples : int, optional
        Rows of Y; adds the share of samples to the hover.
    title : str, optional
        Title (default names the labels shown and the MeanIR).
    max_tick_len : int, default 24
        Tick labels are shortened to this many characters.
    positions : array-like of int, optional
        Explicit label positions to draw, in order (e.g. one page of
        :func:`~mlal_core.viz.large_k.label_page`); overrides ``order_by`` and ``top_k``.

    Returns
    -------
    plotly.graph_objects.Figure
        The bar chart.

    Raises
    ------
    ConfigError
        If ``counts`` is negative or not finite, ``n_samples`` is not positive or below a count, or the
        names, order options or ``positions`` are invalid.
    """
    counts = as_1d(counts, "counts")
    if (counts < 0).any():
        raise ConfigError("counts must be non-negative.")
    names = as_label_names(label_names, counts.size)
    if n_samples is not None and (int(n_samples) <= 0 or counts.max() > int(n_samples)):
        raise ConfigError(f"n_samples must be positive and >= every count; got {n_samples}.")
    ir = irlbl_from_counts(counts)
    if positions is not None:
        order = np.asarray(positions, dtype=np.int64).reshape(-1)
        if order.size == 0 or order.min() < 0 or order.max() >= counts.size or np.unique(order).size != order.size:
            raise ConfigError(f"positions must hold distinct label positions in 0..{counts.size - 1}.")
    else:
        order = label_order(names, counts, by=order_by, top_k=top_k)
    finite = ir[np.isfinite(ir)]
    mean_ir = float(finite.mean()) if finite.size else float("nan")

    k = counts.size
    shown = f"{order.size} of {k} labels" if order.size < k else f"{k} labels"
    title = title or f"Label frequencies ({shown}; MeanIR = {mean_ir:.2f})"
    fig = new_figure(title, "Label", "Positive samples (count, log scale)" if log_y else "Positive samples (count)")
    ir_text = ["\u221e (absent)" if not np.isfinite(v) else f"{v:.2f}" for v in ir[order]]
    custom = np.column_stack([np.asarray(names, dtype=object)[order], ir_text,
                              (counts[order] / n_samples) if n_samples else np.full(order.size, np.nan)])
    hover = "<b>%{customdata[0]}</b><br>positives: %{y:,.0f}<br>IRLbl: %{customdata[1]}"
    if n_samples:
        hover += "<br>share of samples: %{customdata[2]:.2%}"
    fig.add_trace(go.Bar(
        x=np.arange(order.size), y=counts[order], customdata=custom, name="positives",
        marker_color=CATEGORY_COLORS[0], hovertemplate=hover + "<extra></extra>",
    ))
    fig.update_xaxes(tickmode="array", tickvals=np.arange(order.size),
                     ticktext=[shorten(names[p], max_tick_len) for p in order], showticklabels=order.size <= 80)
    if log_y:
        top = float(counts[order].max()) if order.size else 1.0
        fig.update_yaxes(type="log", range=[0.0, np.log10(max(top, 1.0)) + 0.08], **decade_ticks(1.0, max(top, 1.0)))
    else:
        fig.update_yaxes(rangemode="tozero")
    fig.update_layout(showlegend=False)
    # tick labels level / rotated / thinned by their measured widths (full names in the hover)
    return fit_layout(fig)
