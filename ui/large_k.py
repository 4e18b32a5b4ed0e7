"""Widgets of the large-K views (issue 18): a correlation matrix as top-k pairs / a clustered block /
a label search, with the full matrix as a CSV download; a per-label count chart as a rank-frequency
plot, a histogram or pages of bars. All figures and tables come from :mod:`mlal_core.viz.large_k`;
this module holds the widgets and their state only. Pages call it above ``viz.LARGE_K`` labels.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from mlal_core import export, viz
from mlal_core.glossary import glossary_link
from ui import widgets

#: the three views of a large correlation matrix
MATRIX_VIEWS = ("top-k pairs", "clustered", "search")
#: the views of a per-label count chart at large K (the rank-frequency plot first: the XMTC view)
COUNT_VIEWS = ("rank-frequency (log-log)", "histogram of frequencies", f"pages of {viz.PAGE_SIZE} labels")
VALUE_NAMES = {"A": "A[m, n] = P(m | n)", "NegA": "NegA[m, n] = P(not m | n)", "diff": "change of [m, n]"}


@st.cache_data(show_spinner="Clustering the labels (once per matrix)...", max_entries=32)
def _cluster_order(matrix: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return viz.cluster_order(matrix, labels)


def full_matrix_download(matrix, names, *, key: str, file_name: str, what: str) -> None:
    """A download button of the whole K x K matrix as CSV, written only when clicked.

    Parameters
    ----------
    matrix : array-like, shape (K, K)
        The matrix.
    names : sequence of str
        K label names (row and column headings).
    key : str
        Widget key prefix.
    file_name : str
        The CSV's file name.
    what : str
        The matrix's name in the button label (e.g. ``"A"``).
    """
    k = len(names)
    st.download_button(f"Full {what} matrix ({k:,} x {k:,}, CSV)", file_name=file_name, key=f"dl_{key}_full",
                       data=lambda: export.table_to_csv_bytes(viz.matrix_frame(matrix, names)),
                       on_click="ignore", mime="text/csv",
                       help="Every cell of the matrix, one row per label m and one column per label n.")


def _top_pairs_view(matrix, names, *, kind: str, key: str, counts, title: str) -> None:
    c1, c2 = st.columns(2)
    k = int(c1.slider("Pairs shown", 5, 100, 25, key=f"{key}_pairs_k"))
    min_count = int(c2.number_input("Least positives of each label", 1, 1000, 2, key=f"{key}_min_count",
                                    help="Pairs with a label seen fewer times are left out: one shared sample "
                                         "gives P(m | n) = 1 for a label n seen once.")) if counts is not None else 1
    pairs = viz.top_pairs(matrix, names, k, counts=counts, min_count=min_count, by_magnitude=kind == "diff")
    if pairs.empty:
        st.info("No pair has labels with that many positives.")
        return
    widgets.figure(viz.top_pairs_bar(pairs, value_name=VALUE_NAMES[kind], title=f"{title}: the {len(pairs)} "
                                     f"strongest pairs"), key=f"{key}_pairs")
    widgets.table(pairs.drop(columns=["m", "n"]).round(4), key=f"{key}_pairs_table", hide_index=True,
                  file_name=f"{key}_top_pairs.csv")


def _clustered_view(matrix, names, *, kind: str, key: str, counts, cluster_matrix, title: str, marked) -> None:
    base = cluster_matrix if cluster_matrix is not None else matrix
    base = np.asarray(base.toarray() if hasattr(base, "toarray") else base, dtype=float)  # dense or scipy.sparse
    seen = np.flatnonzero(np.asarray(counts).ravel() > 0) if counts is not None else np.arange(len(names))
    order = _cluster_order(base, seen)
    if order.size < 2:
        st.info("Fewer than two labels have a positive: nothing to cluster yet.")
        return
    c1, c2 = st.columns(2)
    size = int(c1.slider("Labels in the block", 2, min(viz.LARGE_K, order.size), min(30, order.size),
                         key=f"{key}_block_size"))
    densest = viz.densest_window(base, order, size) if order.size > size else 0
    starts = list(range(0, order.size - size + 1))
    start = int(c2.select_slider("Block starts at label", options=starts, value=densest, key=f"{key}_block_start_{size}",
                                 format_func=lambda s: f"{s + 1} of {order.size}",
                                 help="Position in the clustered order; it opens at the block with the largest "
                                      "mean off-diagonal value (the strongest group of labels).")) if len(starts) > 1 else 0
    shown = order[start:start + size]
    fig = viz.correlation_heatmap(matrix, names, kind=kind, order=shown, marked_pairs=marked,
                                  mask_diagonal=kind == "diff", title=f"{title}, clustered block")
    widgets.figure(fig, key=f"{key}_block")
    st.caption(f"The {order.size:,} labels with a positive, ordered by hierarchical clustering ({viz.LINKAGE} "
               "linkage on the Euclidean distance between the labels' rows and columns of A): labels that go "
               f"together sit next to each other. Shown: labels {start + 1} to {start + shown.size} of that order.")


def _search_view(matrix, names, *, kind: str, key: str, title: str, marked) -> None:
    chosen = st.multiselect("Labels (type to search)", options=list(range(len(names))), format_func=lambda j: names[j],
                            key=f"{key}_search", max_selections=viz.LARGE_K, placeholder="type a label's name",
                            help="Their rows and columns: the heatmap adds each label's strongest partners.")
    if not chosen:
        st.caption("Choose labels to see their strongest partners and the matrix between them.")
        return
    shown = viz.search_order(matrix, chosen)
    widgets.figure(viz.correlation_heatmap(matrix, names, kind=kind, order=shown, marked_pairs=marked,
                                           mask_diagonal=kind == "diff",
                                           title=f"{title}: the chosen labels and their partners"),
                   key=f"{key}_search_map")
    widgets.table(viz.label_partners(matrix, names, chosen).drop(columns=["partner position"]).round(4),
                  key=f"{key}_partners", file_name=f"{key}_partners.csv", hide_index=True)


def matrix_views(matrix, names, *, kind: str, key: str, title: str, file_name: str, counts=None,
                 cluster_matrix=None, marked=None) -> str:
    """The large-K views of a K x K matrix (top-k pairs, clustered, search) and its full CSV.

    No K x K heatmap is drawn: the clustered and search views draw at most ``viz.LARGE_K`` labels.

    Parameters
    ----------
    matrix : array-like, shape (K, K)
        The matrix (A, NegA or a difference).
    names : sequence of str
        K label names.
    kind : {"A", "NegA", "diff"}
        The matrix's kind (colours; a difference is ranked by magnitude).
    key : str
        Widget key prefix (unique on the page).
    title : str
        Figure title stem.
    file_name : str
        File name of the full CSV.
    counts : array-like, shape (K,), optional
        Positives per label (pairs of rare labels are left out; unseen labels are not clustered).
    cluster_matrix : array-like, shape (K, K), optional
        The matrix the clustering uses (default ``matrix``; pages pass the latest A so that the order
        stays the same across rounds and kinds).
    marked : optional
        Marked pairs for the heatmaps (:func:`mlal_core.viz.normalize_pairs`).

    Returns
    -------
    str
        The view chosen.
    """
    view = st.radio("View", MATRIX_VIEWS, horizontal=True, key=f"{key}_view",
                    help=f"{len(names):,} labels are too many for one readable heatmap: the strongest pairs "
                         f"({glossary_link('top-k-pairs')}), a block of the clustered matrix "
                         f"({glossary_link('clustered-order')}), or the labels you search for.")
    if view == MATRIX_VIEWS[0]:
        _top_pairs_view(matrix, names, kind=kind, key=key, counts=counts, title=title)
    elif view == MATRIX_VIEWS[1]:
        _clustered_view(matrix, names, kind=kind, key=key, counts=counts, cluster_matrix=cluster_matrix,
                        title=title, marked=marked)
    else:
        _search_view(matrix, names, kind=kind, key=key, title=title, marked=marked)
    full_matrix_download(matrix, names, key=key, file_name=file_name, what=VALUE_NAMES[kind].split("[")[0].strip()
                         if kind != "diff" else "change")
    return view


def count_views(counts, names, *, key: str, n_samples: int | None = None) -> str:
    """A per-label count chart at large K: rank-frequency (log-log), a histogram of the frequencies, or
    pages of bars sorted by frequency with a page control.

    Parameters
    ----------
    counts : array-like, shape (K,)
        Positives per label.
    names : sequence of str
        K label names.
    key : str
        Widget key prefix.
    n_samples : int, optional
        Rows of Y (shares in the hover).

    Returns
    -------
    str
        The view chosen.
    """
    view = st.radio("View", COUNT_VIEWS, horizontal=True, key=f"{key}_view",
                    help="With this many labels: the rank-frequency plot (a power law is a straight line; "
                         f"{glossary_link('rank-frequency')}), how many labels have how many positives, or the bars "
                         "page by page.")
    if view == COUNT_VIEWS[0]:
        widgets.figure(viz.rank_frequency_plot(counts, names, n_samples=n_samples), key=f"{key}_rank")
    elif view == COUNT_VIEWS[1]:
        widgets.figure(viz.frequency_histogram(counts), key=f"{key}_hist")
    else:
        pages = viz.n_pages(len(names))
        page = int(st.number_input(f"Page (of {pages}, most frequent first)", 1, pages, 1, key=f"{key}_page"))
        shown = viz.label_page(counts, page)
        widgets.figure(viz.label_frequency_bar(counts, names, positions=shown, n_samples=n_samples,
                                               title=f"Label frequencies, page {page} of {pages} (labels "
                                                     f"{(page - 1) * viz.PAGE_SIZE + 1} to "
                                                     f"{(page - 1) * viz.PAGE_SIZE + shown.size})"),
                       key=f"{key}_page_bars")
    return view
