"""Heatmaps of label-correlation matrices (CRAB's A and NegA, and their differences).

Convention (CRAB Eq. 8 / 9): ``A[m, n] = P(m | n)``: **row** m is the label whose probability is
read, **column** n the label conditioned on. The heatmap draws row m at y (top to bottom, like the
matrix) and column n at x, so a marked pair ``(m, n)`` sits at ``(x = n, y = m)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from mlal_core.errors import ConfigError
from mlal_core.viz._common import as_label_names, check_choice, new_figure, shorten
from mlal_core.viz.fit import fit_layout
from mlal_core.viz.labels import label_order
from mlal_core.viz.theme import DIVERGING, SEQUENTIAL, SEQUENTIAL_ALT

__all__ = ["KINDS", "correlation_heatmap", "count_pairs", "normalize_pairs"]

KINDS = {
    "A": dict(colorscale=SEQUENTIAL, bar="P(row | column)", hover="P({r} | {c})",
              default_title="Positive label correlation A = P(row | column)"),
    "NegA": dict(colorscale=SEQUENTIAL_ALT, bar="P(not row | column)", hover="P(not {r} | {c})",
                 default_title="Negative label correlation NegA = P(not row | column)"),
    "diff": dict(colorscale=DIVERGING, bar="difference", hover="{r} | {c}",
                 default_title="Difference of correlation matrices"),
}

# marker symbols of the pair sets, drawn white with a black outline (visible on any cell colour)
_PAIR_SYMBOLS = ("diamond", "x", "triangle-up", "circle", "square", "star")


def normalize_pairs(marked_pairs, k: int) -> dict[str, np.ndarray]:
    """``marked_pairs`` as ``{set name: (P, 2) int array}``, checked against ``k`` labels.

    Parameters
    ----------
    marked_pairs : None, array-like of shape (P, 2), or mapping of str to such arrays
        ``None``; one ``(P, 2)`` array-like / list of ``(m, n)`` tuples (named "marked pairs"); or
        a mapping of names to such arrays (e.g. ``{"asymmetric": ..., "mutually exclusive": ...}``).
    k : int
        Number of labels; every position must lie in ``0..k-1``.

    Returns
    -------
    dict of str to numpy.ndarray of int64, shape (P, 2)
        One entry per set (``{}`` for ``None``).

    Raises
    ------
    ConfigError
        If a set has the wrong shape, non-integer entries or a position outside ``0..k-1``.
    """
    if marked_pairs is None:
        return {}
    if not isinstance(marked_pairs, Mapping):
        marked_pairs = {"marked pairs": marked_pairs}
    out: dict[str, np.ndarray] = {}
    for name, pairs in marked_pairs.items():
        arr = np.asarray(pairs if pairs is not None else [], dtype=float)
        if arr.size == 0:
            arr = arr.reshape(0, 2)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ConfigError(f"marked pairs {name!r} must have shape (P, 2) of (m, n); got {arr.shape}.")
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ConfigError(f"marked pairs {name!r} must hold integer label positions.")
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= k):
            raise ConfigError(f"marked pairs {name!r} refer to a label outside 0..{k - 1}.")
        out[str(name)] = arr
    return out


def correlation_heatmap(matrix, label_names=None, title: str | None = None, marked_pairs=None,
                        kind: str = "A", *, counts=None, order_by: str = "index", top_k: int | None = None,
                        order=None, mask_diagonal: bool = False, show_values: bool | None = None,
                        max_tick_len: int = 20, width: float | None = None) -> go.Figure:
    """Heatmap of a (K, K) label-correlation matrix with optional marked pairs.

    A marker sits at the centre of its cell, or in the cell's top-right corner when the values are
    written in the cells; each marker trace's ``customdata`` holds its (m, n) pairs in the original
    label positions. Row m is drawn at y, column n at x (see the module docstring).

    Parameters
    ----------
    matrix : array-like, shape (K, K)
        The matrix, e.g. CRAB's A or NegA (Eq. 8, 9) or a difference of two.
    label_names : sequence of str, optional
        K names (default ``"label j"``).
    title : str, optional
        Title (default: one per ``kind``); "(k of K labels)" is appended when labels are left out.
    marked_pairs : optional
        Pair sets, see :func:`normalize_pairs`; each is one legend entry of markers at its cells
        (e.g. CRAB's asymmetric and mutually exclusive pairs). Pairs with a label not shown are
        left out and the legend says how many are shown. The legend counts **pairs**, not cells
        (:func:`count_pairs`): a pair marked at both its cells counts once.
    kind : {"A", "NegA", "diff"}, default "A"
        ``"A"`` (values in [0, 1], Viridis), ``"NegA"`` (values in [0, 1], Cividis) or ``"diff"``
        (signed, RdBu centred at 0 with a symmetric range).
    counts : array-like, shape (K,), optional
        Positives per label, for ``order_by="frequency"`` and ``top_k``.
    order_by : {"index", "frequency", "name", "cluster"}, default "index"
        Label order, see :func:`~mlal_core.viz.labels.label_order`.
    top_k : int, optional
        Show only the ``top_k`` most frequent labels (needs ``counts``).
    order : array-like of int, optional
        Explicit label positions to show, in order; overrides ``order_by`` and ``top_k``.
    mask_diagonal : bool, default False
        Leave the trivial diagonal blank.
    show_values : bool, optional
        Write the values in the cells (default: when 12 labels or fewer are shown).
    max_tick_len : int, default 20
        Tick labels are shortened to this many characters (and further, by measured width, when they
        would collide; the hover always names the full labels).
    width : float, optional
        Width in px the figure is shown at, for the decision to tilt or thin the column labels (default
        :data:`~mlal_core.viz.fit.SCREEN_WIDTH`; a page showing the heatmap in a half-width column
        passes about 440). The cells are square at any width (the plot area is as high as it is wide),
        so a wider container adds white space beside the matrix, not wider cells.

    Returns
    -------
    plotly.graph_objects.Figure
        The heatmap.

    Raises
    ------
    ConfigError
        If ``matrix`` is not a square numeric matrix, holds infinite values, or (for ``"A"`` /
        ``"NegA"``) values outside [0, 1]; or ``order``, ``kind``, the pairs or the names are invalid.
    """
    check_choice(kind, tuple(KINDS), "kind")
    try:
        z = np.array(matrix, dtype=float)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"matrix must be a numeric (K, K) array: {e}") from None
    if z.ndim != 2 or z.shape[0] != z.shape[1] or z.shape[0] == 0:
        raise ConfigError(f"matrix must be square (K, K) with K >= 1; got shape {z.shape}.")
    k = z.shape[0]
    if np.isinf(z).any():
        raise ConfigError("matrix has infinite values.")
    if kind in ("A", "NegA"):
        finite = z[np.isfinite(z)]
        if finite.size and (finite.min() < -1e-9 or finite.max() > 1 + 1e-9):
            raise ConfigError(f"a {kind} matrix holds probabilities in [0, 1]; got values in "
                              f"[{finite.min():.3g}, {finite.max():.3g}] (use kind='diff' for differences).")
    names = as_label_names(label_names, k)
    pairs = normalize_pairs(marked_pairs, k)

    if order is not None:
        order = np.asarray(order, dtype=np.int64).reshape(-1)
        if order.size == 0 or order.min() < 0 or order.max() >= k or np.unique(order).size != order.size:
            raise ConfigError(f"order must hold distinct label positions in 0..{k - 1}.")
    else:
        order = label_order(names, counts, by=order_by, top_k=top_k,
                            matrix=z if order_by == "cluster" else None)
    kk = order.size
    pos = np.full(k, -1, dtype=np.int64)
    pos[order] = np.arange(kk)

    zs = z[np.ix_(order, order)]
    if mask_diagonal:
        np.fill_diagonal(zs, np.nan)
    spec = KINDS[kind]
    if kind == "diff":
        finite = np.abs(zs[np.isfinite(zs)])
        m = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        zrange = dict(zmin=-m, zmax=m, zmid=0.0)
    else:
        zrange = dict(zmin=0.0, zmax=1.0)

    shown = [names[p] for p in order]
    hover_pairs = np.array([[spec["hover"].format(r=r, c=c) for c in shown] for r in shown], dtype=object)
    if show_values is None:
        show_values = kk <= 12
    title = title or spec["default_title"]
    if kk < k:
        title = f"{title} ({kk} of {k} labels)"
    fig = new_figure(title, "Column label n (conditioned on)", "Row label m")
    gap = 1 if kk <= 40 else 0
    fig.add_trace(go.Heatmap(
        z=zs, x=np.arange(kk), y=np.arange(kk), text=hover_pairs, colorscale=spec["colorscale"],
        colorbar=dict(title=dict(text=spec["bar"], side="right")), xgap=gap, ygap=gap,
        hovertemplate="%{text} = %{z:.3f}<extra></extra>", name=kind, showscale=True,
        texttemplate="%{z:.2f}" if show_values else None, **zrange,
    ))

    size = float(np.clip(320 / max(kk, 1), 5, 13))
    # with values written in the cells, the markers sit small in the cell's top-right corner
    offset = 0.3 if show_values else 0.0
    if show_values:
        size = max(size * 0.6, 5)
    n_sets = 0
    for i, (set_name, arr) in enumerate(pairs.items()):
        visible = (pos[arr[:, 0]] >= 0) & (pos[arr[:, 1]] >= 0) if arr.size else np.zeros(0, bool)
        a = arr[visible]
        n_shown, n_all = count_pairs(a), count_pairs(arr)
        label = f"{set_name} ({n_shown})" if n_shown == n_all else f"{set_name} ({n_shown} of {n_all} shown)"
        hover = [f"{set_name}: ({names[m]}, {names[n]})<br>value = {z[m, n]:.3f}" for m, n in a]
        fig.add_trace(go.Scatter(
            x=pos[a[:, 1]] + offset, y=pos[a[:, 0]] - offset, mode="markers", name=label, text=hover,
            customdata=a, hovertemplate="%{text}<extra></extra>",
            marker=dict(symbol=_PAIR_SYMBOLS[i % len(_PAIR_SYMBOLS)], size=size, color="white",
                        line=dict(color="black", width=1.2)),
        ))
        n_sets += 1

    ticks = dict(tickmode="array", tickvals=np.arange(kk), ticktext=[shorten(s, max_tick_len) for s in shown],
                 showticklabels=kk <= 60, showgrid=False, showline=False, ticks="" if kk > 60 else "outside")
    fig.update_xaxes(range=[-0.5, kk - 0.5], constrain="domain", constraintoward="left", **ticks)
    # square cells at any container width
    fig.update_yaxes(autorange=False, range=[kk - 0.5, -0.5], scaleanchor="x", scaleratio=1, constrain="domain",
                     **ticks)
    fig.update_layout(showlegend=n_sets > 0)
    # tick labels level / rotated / thinned by their measured widths; the legend in rows above the plot
    return fit_layout(fig, width, legend="top")


def count_pairs(pairs) -> int:
    """Number of label pairs in ``pairs``: a pair marked in both directions, ``(m, n)`` and ``(n, m)``
    (e.g. both cells of a mutually exclusive pair), counts once, as does a repeated one.

    Parameters
    ----------
    pairs : array-like, shape (P, 2)
        ``(m, n)`` label positions.

    Returns
    -------
    int
        The number of distinct unordered pairs.
    """
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return len({(min(m, n), max(m, n)) for m, n in arr.tolist()})
