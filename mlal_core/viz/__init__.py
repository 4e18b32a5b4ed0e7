"""Plotly figure builders shared by the Streamlit pages and the notebooks.

Every builder is a pure function of numpy arrays / pandas frames that returns a
``plotly.graph_objects.Figure`` with the workbench template (:mod:`mlal_core.viz.theme`), a title,
axis titles and, when it draws several series, a legend. Bad inputs raise
:class:`mlal_core.errors.ConfigError` with a message that says what to fix. Nothing here imports
streamlit; export lives in :mod:`mlal_core.export`, projections in :mod:`mlal_core.inspection.projection`.
"""

from mlal_core.viz.correlation import correlation_heatmap, count_pairs, normalize_pairs
from mlal_core.viz.curves import band_polygon, learning_curves
from mlal_core.viz.embedding import embedding_scatter
from mlal_core.viz.fit import fit_layout
from mlal_core.viz.large_k import (
    LARGE_K,
    LINKAGE,
    PAGE_SIZE,
    cluster_order,
    densest_window,
    frequency_histogram,
    is_large_k,
    label_page,
    label_partners,
    matrix_frame,
    n_pages,
    rank_frequency_plot,
    search_order,
    top_pairs,
    top_pairs_bar,
)
from mlal_core.viz.labels import irlbl_from_counts, label_frequency_bar, label_order
from mlal_core.viz.selection import (
    comal_k_profile_figure,
    jaccard_matrix,
    per_round_bars_or_lines,
    sampling_probability_distribution,
    score_distribution,
    strategy_overlap_heatmap,
)
from mlal_core.viz.stopping import STOP_SYMBOLS, add_stop_markers
from mlal_core.viz.text_metrics import text_width
from mlal_core.viz.theme import (
    CATEGORY_COLORS,
    DIVERGING,
    OKABE_ITO,
    PRINT_SCALE_300DPI,
    SEQUENTIAL,
    SEQUENTIAL_ALT,
    TEMPLATE_NAME,
    category_color,
    dpi_scale,
    paper_layout,
    register_template,
    series_style,
    use_as_default,
)

__all__ = [
    "LARGE_K",
    "LINKAGE",
    "PAGE_SIZE",
    "cluster_order",
    "densest_window",
    "frequency_histogram",
    "is_large_k",
    "label_page",
    "label_partners",
    "matrix_frame",
    "n_pages",
    "rank_frequency_plot",
    "search_order",
    "top_pairs",
    "top_pairs_bar",
    "CATEGORY_COLORS",
    "STOP_SYMBOLS",
    "add_stop_markers",
    "DIVERGING",
    "OKABE_ITO",
    "PRINT_SCALE_300DPI",
    "SEQUENTIAL",
    "SEQUENTIAL_ALT",
    "TEMPLATE_NAME",
    "band_polygon",
    "category_color",
    "comal_k_profile_figure",
    "correlation_heatmap",
    "count_pairs",
    "dpi_scale",
    "embedding_scatter",
    "fit_layout",
    "irlbl_from_counts",
    "jaccard_matrix",
    "label_frequency_bar",
    "label_order",
    "learning_curves",
    "normalize_pairs",
    "paper_layout",
    "per_round_bars_or_lines",
    "register_template",
    "sampling_probability_distribution",
    "score_distribution",
    "series_style",
    "strategy_overlap_heatmap",
    "text_width",
    "use_as_default",
]
