"""Views of label matrices and per-label counts that stay readable with thousands of labels (issue 18).

A K x K heatmap cannot be read past a few dozen labels (and at K = 1,000 it holds a million cells),
nor can a bar per label. Above :data:`LARGE_K` labels the pages use these views instead:

* **top-k pairs** (:func:`top_pairs`, :func:`top_pairs_bar`): the k strongest off-diagonal entries
  of a correlation matrix as a sorted table / bar chart with both labels' names;
* **clustered** (:func:`cluster_order`, :func:`densest_window`): the labels ordered by hierarchical
  clustering (scipy, **average linkage** on the Euclidean distance between the labels' concatenated
  row and column of the matrix, as :func:`~mlal_core.viz.labels.label_order` does), and the window of
  at most :data:`LARGE_K` consecutive labels of that order with the largest mean off-diagonal value
  (a block of labels that go together), drawn as a small heatmap;
* **search** (:func:`label_partners`, :func:`search_order`): chosen labels with their strongest
  partners, as a table and a small heatmap;
* **per-label counts** (:func:`rank_frequency_plot`, :func:`frequency_histogram`,
  :func:`label_page`): the rank-frequency plot on log-log axes (the usual view of extreme multi-label
  data, where label frequencies follow a power law), a histogram of the frequencies on a log axis,
  and pages of at most :data:`PAGE_SIZE` labels for the bar charts.

The full matrix stays available as a CSV (:func:`matrix_frame`). Matrices and counts may be dense
arrays or ``scipy.sparse`` matrices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mlal_core.errors import ConfigError
from mlal_core.viz._common import as_label_names, new_figure, shorten
from mlal_core.viz.fit import fit_layout
from mlal_core.viz.theme import CATEGORY_COLORS

__all__ = ["LARGE_K", "LINKAGE", "PAGE_SIZE", "cluster_order", "densest_window", "frequency_histogram",
           "is_large_k", "label_page", "label_partners", "matrix_frame", "n_pages", "rank_frequency_plot",
           "search_order", "top_pairs", "top_pairs_bar"]

#: above this many labels no K x K heatmap and no bar per label is drawn (the large-K views instead)
LARGE_K = 40
#: labels per page of a per-label bar chart at large K
PAGE_SIZE = 40
#: the linkage of the clustered view (scipy.cluster.hierarchy.linkage ``method``)
LINKAGE = "average"


def is_large_k(k: int) -> bool:
    """Whether ``k`` labels are too many for a K x K heatmap or a bar per label (``k > LARGE_K``).

    Parameters
    ----------
    k : int
        The number of labels.

    Returns
    -------
    bool
        True above :data:`LARGE_K`.
    """
    return int(k) > LARGE_K


def _dense(values, name: str) -> np.ndarray:
    """``values`` (array-like or scipy.sparse) as a dense float array."""
    if hasattr(values, "toarray"):
        values = values.toarray()
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name} must be numeric: {e}") from None


def _square(matrix) -> np.ndarray:
    z = _dense(matrix, "matrix")
    if z.ndim != 2 or z.shape[0] != z.shape[1] or z.shape[0] == 0:
        raise ConfigError(f"matrix must be square (K, K) with K >= 1; got shape {z.shape}.")
    return z


def _counts(counts, k: int) -> np.ndarray:
    c = _dense(counts, "counts").reshape(-1)
    if c.size != k:
        raise ConfigError(f"counts must have one entry per label ({k}); got {c.size}.")
    if not np.all(np.isfinite(c)) or (c < 0).any():
        raise ConfigError("counts must be finite and non-negative.")
    return c


def top_pairs(matrix, label_names=None, k: int = 20, *, counts=None, min_count: int = 1,
              by_magnitude: bool = False) -> pd.DataFrame:
    """The ``k`` strongest off-diagonal entries ``matrix[m, n]`` as a table, strongest first.

    Ties are broken by the number of positives of the conditioning label n (more evidence first,
    when ``counts`` is given), then by position (m, then n).

    Parameters
    ----------
    matrix : array-like or scipy.sparse matrix, shape (K, K)
        E.g. CRAB's A (``A[m, n] = P(m | n)``), NegA, or a difference of two.
    label_names : sequence of str, optional
        K names (default ``"label j"``).
    k : int, default 20
        Pairs returned (fewer when the matrix has fewer eligible entries).
    counts : array-like, shape (K,), optional
        Positives per label: entries whose row or column label has fewer than ``min_count`` positives
        are left out (an unseen label's column says nothing), and ties go to the better-supported pair.
    min_count : int, default 1
        Minimum positives of both labels of a pair (with ``counts``).
    by_magnitude : bool, default False
        Rank by ``|value|`` (for differences of two matrices) instead of the value.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank`` (1 = strongest), ``label m``, ``label n``, ``value`` (``matrix[m, n]``),
        ``reverse`` (``matrix[n, m]``), ``m``, ``n`` (positions) and, with ``counts``,
        ``positives of n``.

    Raises
    ------
    ConfigError
        If ``matrix`` is not square, ``k < 1``, or ``counts`` / the names do not match K.
    """
    z = _square(matrix)
    K = z.shape[0]
    names = as_label_names(label_names, K)
    if int(k) < 1:
        raise ConfigError(f"k must be >= 1; got {k}.")
    key = np.abs(z) if by_magnitude else z.copy()
    key[~np.isfinite(key)] = -np.inf
    np.fill_diagonal(key, -np.inf)
    support = np.zeros(K)
    if counts is not None:
        c = _counts(counts, K)
        support = c
        weak = c < min_count
        key[weak, :] = -np.inf
        key[:, weak] = -np.inf
    flat = key.ravel()
    eligible = int(np.isfinite(flat).sum())
    take = min(int(k), eligible)
    columns = ["rank", "label m", "label n", "value", "reverse", "m", "n"] + (
        ["positives of n"] if counts is not None else [])
    if take == 0:
        return pd.DataFrame(columns=columns)
    # the candidates: every entry at least as strong as the take-th strongest (ties kept), then sorted
    threshold = -np.partition(-flat, take - 1)[take - 1]  # a k-th smallest of the negated: fast with many ties
    cand = np.flatnonzero(flat >= threshold)
    m, n = np.divmod(cand, K)
    order = np.lexsort((n, m, -support[n], -flat[cand]))[:take]
    m, n = m[order], n[order]
    out = pd.DataFrame({"rank": np.arange(1, take + 1), "label m": [names[i] for i in m],
                        "label n": [names[j] for j in n], "value": z[m, n], "reverse": z[n, m],
                        "m": m.astype(np.int64), "n": n.astype(np.int64)})
    if counts is not None:
        out["positives of n"] = support[n].astype(np.int64)
    return out


def top_pairs_bar(pairs: pd.DataFrame, *, value_name: str = "A[m, n] = P(m | n)", title: str | None = None,
                  max_label_len: int = 28) -> go.Figure:
    """Horizontal bar chart of a :func:`top_pairs` table, strongest pair on top.

    Parameters
    ----------
    pairs : pandas.DataFrame
        A :func:`top_pairs` table.
    value_name : str, default "A[m, n] = P(m | n)"
        What the values are (axis title and hover).
    title : str, optional
        Figure title (default names the number of pairs).
    max_label_len : int, default 28
        Each label name in the bar labels is shortened to this many characters (the hover names them
        in full).

    Returns
    -------
    plotly.graph_objects.Figure
        One bar per pair, labelled "m | n".

    Raises
    ------
    ConfigError
        If a column of :func:`top_pairs` is missing or the table is empty.
    """
    missing = [c for c in ("label m", "label n", "value", "reverse") if c not in pairs.columns]
    if missing:
        raise ConfigError(f"top_pairs_bar needs a top_pairs table; missing columns {missing}.")
    if pairs.empty:
        raise ConfigError("top_pairs_bar got no pairs (no label has enough positives).")
    ticks = [f"{shorten(str(a), max_label_len)} | {shorten(str(b), max_label_len)}"
             for a, b in zip(pairs["label m"], pairs["label n"])]
    custom = np.column_stack([pairs["label m"].astype(str), pairs["label n"].astype(str),
                              pairs["reverse"].astype(float)])
    fig = new_figure(title or f"The {len(pairs)} strongest label pairs", value_name, "Pair m | n")
    fig.add_trace(go.Bar(
        x=pairs["value"].astype(float), y=np.arange(len(pairs)), orientation="h", customdata=custom,
        marker_color=CATEGORY_COLORS[0], name=value_name,
        hovertemplate="m = %{customdata[0]}<br>n = %{customdata[1]}<br>value = %{x:.3f}"
                      "<br>reverse (n, m) = %{customdata[2]:.3f}<extra></extra>"))
    fig.update_yaxes(tickmode="array", tickvals=np.arange(len(pairs)), ticktext=ticks, autorange="reversed")
    fig.update_layout(showlegend=False, height=int(np.clip(140 + 22 * len(pairs), 320, 1100)))
    return fit_layout(fig)


def cluster_order(matrix, labels=None, *, method: str = LINKAGE) -> np.ndarray:
    """Labels in the leaf order of a hierarchical clustering of the matrix.

    A label is described by its row and its column of ``matrix`` (both directions of an asymmetric
    matrix such as A); labels at a small Euclidean distance are similar. The clustering is
    ``scipy.cluster.hierarchy.linkage`` with ``method`` (default average linkage); the order is its
    dendrogram's leaf order, so labels of one cluster sit next to each other.

    Parameters
    ----------
    matrix : array-like or scipy.sparse matrix, shape (K, K)
        E.g. A. NaN counts as 0.
    labels : array-like of int, optional
        Cluster only these label positions (e.g. the labels seen so far); default all.
    method : str, default "average"
        A linkage method of ``scipy.cluster.hierarchy.linkage`` that works on any distance
        (``"average"``, ``"complete"``, ``"single"``, ``"weighted"``).

    Returns
    -------
    numpy.ndarray of int
        The label positions (those of ``labels``) in leaf order.

    Raises
    ------
    ConfigError
        If ``matrix`` is not square, ``labels`` holds a position outside it, or ``method`` is not one
        of the four.
    """
    if method not in ("average", "complete", "single", "weighted"):
        raise ConfigError(f"method must be 'average', 'complete', 'single' or 'weighted'; got {method!r}.")
    z = np.nan_to_num(_square(matrix))
    K = z.shape[0]
    positions = np.arange(K) if labels is None else np.asarray(labels, dtype=np.int64).reshape(-1)
    if positions.size and (positions.min() < 0 or positions.max() >= K):
        raise ConfigError(f"labels must be positions in 0..{K - 1}.")
    if positions.size < 3:
        return positions.copy()
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    sub = z[np.ix_(positions, positions)]
    feats = np.hstack([sub, sub.T]).astype(np.float32)  # float32: the product is 4x faster; plenty for an order
    sq = (feats * feats).sum(axis=1, dtype=np.float64)
    gram = (feats @ feats.T).astype(np.float64)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0)  # squared distances, one matrix product
    np.fill_diagonal(d2, 0.0)
    dist = squareform(np.sqrt(0.5 * (d2 + d2.T)), checks=False)
    return positions[leaves_list(linkage(dist, method=method))]


def densest_window(matrix, order, size: int = LARGE_K) -> int:
    """Start of the window of ``size`` consecutive labels of ``order`` with the largest mean
    off-diagonal value of ``matrix`` (the strongest block along a clustered order).

    Parameters
    ----------
    matrix : array-like or scipy.sparse matrix, shape (K, K)
        E.g. A. NaN counts as 0.
    order : array-like of int
        Label positions in display order (e.g. :func:`cluster_order`).
    size : int, default :data:`LARGE_K`
        Window length (the whole order when it is shorter).

    Returns
    -------
    int
        Index into ``order`` where the densest window starts (the first one on ties).

    Raises
    ------
    ConfigError
        If ``size < 2`` or ``matrix`` is not square.
    """
    if int(size) < 2:
        raise ConfigError(f"size must be >= 2; got {size}.")
    z = np.nan_to_num(_square(matrix))
    order = np.asarray(order, dtype=np.int64).reshape(-1)
    w = min(int(size), order.size)
    if order.size <= w:
        return 0
    sub = z[np.ix_(order, order)]
    np.fill_diagonal(sub, 0.0)
    # 2-D prefix sums: the sum of every w x w diagonal block in O(K^2)
    cs = np.zeros((order.size + 1, order.size + 1))
    cs[1:, 1:] = sub.cumsum(axis=0).cumsum(axis=1)
    s = np.arange(order.size - w + 1)
    block = cs[s + w, s + w] - cs[s, s + w] - cs[s + w, s] + cs[s, s]
    return int(np.argmax(block))


def label_partners(matrix, label_names, labels: Sequence[int], top: int = 10) -> pd.DataFrame:
    """The strongest partners of each chosen label, both ways: ``P(partner | label)`` (the label's
    column) and ``P(label | partner)`` (its row), for A; the same cells of any other matrix.

    Parameters
    ----------
    matrix : array-like or scipy.sparse matrix, shape (K, K)
        E.g. A (``A[m, n] = P(m | n)``).
    label_names : sequence of str
        K names.
    labels : sequence of int
        The chosen label positions.
    top : int, default 10
        Partners per label and direction.

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``direction`` (``"column: [partner, label]"`` or ``"row: [label, partner]"``),
        ``rank`` (per label and direction), ``partner``, ``value``; strongest first per label and
        direction.

    Raises
    ------
    ConfigError
        If ``matrix`` is not square, a position is outside it, or ``top < 1``.
    """
    z = _square(matrix)
    K = z.shape[0]
    names = as_label_names(label_names, K)
    if int(top) < 1:
        raise ConfigError(f"top must be >= 1; got {top}.")
    rows = []
    for j in labels:
        j = int(j)
        if not 0 <= j < K:
            raise ConfigError(f"label positions must be in 0..{K - 1}; got {j}.")
        for direction, values in (("column: [partner, label]", z[:, j]), ("row: [label, partner]", z[j, :])):
            v = np.where(np.isfinite(values), values, -np.inf)
            v[j] = -np.inf
            best = np.lexsort((np.arange(K), -v))[:int(top)]
            best = best[np.isfinite(v[best])]
            rows += [{"label": names[j], "direction": direction, "rank": r + 1, "partner": names[p],
                      "value": float(values[p]), "partner position": int(p)} for r, p in enumerate(best)]
    return pd.DataFrame(rows, columns=["label", "direction", "rank", "partner", "value", "partner position"])


def search_order(matrix, labels: Sequence[int], *, partners: int = 3, limit: int = LARGE_K) -> np.ndarray:
    """The labels of a search view's heatmap: the chosen ones, then each one's strongest partners
    (column first, then row) until ``limit``, distinct, in that order.

    Parameters
    ----------
    matrix : array-like or scipy.sparse matrix, shape (K, K)
        E.g. A.
    labels : sequence of int
        The chosen label positions (at most ``limit`` are kept).
    partners : int, default 3
        Partners added per chosen label and direction.
    limit : int, default :data:`LARGE_K`
        The most labels returned.

    Returns
    -------
    numpy.ndarray of int
        Distinct label positions, at most ``limit``.

    Raises
    ------
    ConfigError
        If ``matrix`` is not square or a position is outside it.
    """
    z = _square(matrix)
    chosen = [int(j) for j in labels][:int(limit)]
    table = label_partners(z, None, chosen, top=max(int(partners), 1)) if chosen and partners > 0 else None
    extra = [] if table is None else table["partner position"].astype(int).tolist()
    return np.asarray(list(dict.fromkeys(chosen + extra))[:int(limit)], dtype=np.int64)


def matrix_frame(matrix, label_names=None, *, row_heading: str = "label m") -> pd.DataFrame:
    """The full matrix as a table for the CSV download: one row per label m, one column per label n.

    Parameters
    ----------
    matrix : array-like or scipy.sparse matrix, shape (K, K)
        The matrix.
    label_names : sequence of str, optional
        K names (default ``"label j"``).
    row_heading : str, default "label m"
        Heading of the first column (the row labels).

    Returns
    -------
    pandas.DataFrame
        K rows, K + 1 columns.

    Raises
    ------
    ConfigError
        If ``matrix`` is not square or the names do not match.
    """
    z = _square(matrix)
    names = as_label_names(label_names, z.shape[0])
    out = pd.DataFrame(z, columns=names)
    out.insert(0, row_heading, names)
    return out


def n_pages(k: int, per_page: int = PAGE_SIZE) -> int:
    """Pages of ``per_page`` labels needed for ``k`` labels.

    Parameters
    ----------
    k : int
        The number of labels.
    per_page : int, default :data:`PAGE_SIZE`
        Labels per page, >= 1.

    Returns
    -------
    int
        At least 1.

    Raises
    ------
    ConfigError
        If ``per_page < 1``.
    """
    if int(per_page) < 1:
        raise ConfigError(f"per_page must be >= 1; got {per_page}.")
    return max(1, math.ceil(int(k) / int(per_page)))


def label_page(counts, page: int = 1, per_page: int = PAGE_SIZE) -> np.ndarray:
    """The label positions on page ``page`` (1-based) when the labels are sorted by ``counts``,
    largest first (ties by position).

    Parameters
    ----------
    counts : array-like or scipy.sparse matrix, shape (K,)
        Per-label values to sort by (e.g. positives per label).
    page : int, default 1
        The page, 1 .. :func:`n_pages`.
    per_page : int, default :data:`PAGE_SIZE`
        Labels per page.

    Returns
    -------
    numpy.ndarray of int
        At most ``per_page`` positions, in display order.

    Raises
    ------
    ConfigError
        If ``page`` is outside 1 .. :func:`n_pages` or the counts are invalid.
    """
    c = _dense(counts, "counts").reshape(-1)
    if not np.all(np.isfinite(c)):
        raise ConfigError("counts must be finite.")
    pages = n_pages(c.size, per_page)
    if not 1 <= int(page) <= pages:
        raise ConfigError(f"page must be in 1..{pages}; got {page}.")
    order = np.lexsort((np.arange(c.size), -c))
    start = (int(page) - 1) * int(per_page)
    return order[start:start + int(per_page)]


def rank_frequency_plot(counts, label_names=None, *, title: str | None = None, n_samples: int | None = None
                        ) -> go.Figure:
    """Rank-frequency plot of the labels on log-log axes: label rank (1 = most frequent) against its
    positives; a power law is a straight line. Labels with no positive are counted in the title.

    Parameters
    ----------
    counts : array-like or scipy.sparse matrix, shape (K,)
        Positives per label, non-negative.
    label_names : sequence of str, optional
        K names, for the hover.
    title : str, optional
        Title (default names K and the labels with no positive).
    n_samples : int, optional
        Rows of Y; adds the share of samples to the hover.

    Returns
    -------
    plotly.graph_objects.Figure
        One line with markers over the labels with a positive.

    Raises
    ------
    ConfigError
        If the counts are negative or not finite, or no label has a positive.
    """
    c = _counts(counts, _dense(counts, "counts").size)
    names = as_label_names(label_names, c.size)
    order = np.lexsort((np.arange(c.size), -c))
    present = order[c[order] > 0]
    if present.size == 0:
        raise ConfigError("no label has a positive: there is nothing to plot on a log axis.")
    absent = c.size - present.size
    title = title or (f"Rank-frequency of the {c.size:,} labels (log-log)"
                      + (f"; {absent:,} labels without a positive not shown" if absent else ""))
    fig = new_figure(title, "Label rank (1 = most frequent, log scale)", "Positive samples (log scale)")
    share = (c[present] / n_samples) if n_samples else np.full(present.size, np.nan)
    custom = np.column_stack([np.asarray(names, dtype=object)[present], share])
    hover = "<b>%{customdata[0]}</b><br>rank %{x:,}<br>positives: %{y:,.0f}"
    if n_samples:
        hover += "<br>share of samples: %{customdata[1]:.2%}"
    fig.add_trace(go.Scatter(x=np.arange(1, present.size + 1), y=c[present], mode="lines+markers",
                             marker=dict(size=4, color=CATEGORY_COLORS[0]), line=dict(color=CATEGORY_COLORS[0]),
                             customdata=custom, name="labels", hovertemplate=hover + "<extra></extra>"))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    fig.update_layout(showlegend=False)
    return fit_layout(fig)


def frequency_histogram(counts, *, title: str | None = None, bins_per_decade: int = 5) -> go.Figure:
    """Histogram of the labels' positive counts with logarithmic bins (a log count axis): how many
    labels are rare, how many frequent. Labels with no positive get a bar of their own at 0.

    Parameters
    ----------
    counts : array-like or scipy.sparse matrix, shape (K,)
        Positives per label, non-negative.
    title : str, optional
        Title (default names K).
    bins_per_decade : int, default 5
        Bins per factor of ten of the count.

    Returns
    -------
    plotly.graph_objects.Figure
        The bars: x is the bin's count range (log axis), y the number of labels in it.

    Raises
    ------
    ConfigError
        If the counts are negative or not finite, or ``bins_per_decade < 1``.
    """
    c = _counts(counts, _dense(counts, "counts").size)
    if int(bins_per_decade) < 1:
        raise ConfigError(f"bins_per_decade must be >= 1; got {bins_per_decade}.")
    pos = c[c > 0]
    top = float(pos.max()) if pos.size else 1.0
    edges = 10.0 ** np.arange(0.0, math.log10(max(top, 1.0)) + 1.0 / bins_per_decade + 1e-9, 1.0 / bins_per_decade)
    if edges.size < 2:
        edges = np.array([1.0, 10.0 ** (1.0 / bins_per_decade)])
    hist, edges = np.histogram(pos, bins=edges)
    fig = new_figure(title or f"How many of the {c.size:,} labels have how many positives",
                     "Positive samples per label (log scale)", "Labels (count)")
    centres = np.sqrt(edges[:-1] * edges[1:])
    ranges = [f"{lo:,.1f} to {hi:,.1f}" for lo, hi in zip(edges[:-1], edges[1:])]
    fig.add_trace(go.Bar(x=centres, y=hist, width=np.diff(edges) * 0.95, customdata=ranges,
                         marker_color=CATEGORY_COLORS[0], name="labels",
                         hovertemplate="%{y:,} labels with %{customdata} positives<extra></extra>"))
    n_zero = int((c == 0).sum())
    if n_zero:
        fig.add_annotation(text=f"{n_zero:,} labels without a positive", xref="paper", yref="paper", x=1, y=1,
                           showarrow=False, xanchor="right")
    fig.update_xaxes(type="log")
    fig.update_layout(showlegend=False, bargap=0)
    return fit_layout(fig)
