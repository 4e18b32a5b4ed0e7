"""Every figure kind the app exports, at the three export sizes, rendered to SVG by kaleido and
measured in the real Chromium (``svg_geometry``): no two text boxes overlap, no text leaves the canvas.

The inputs are realistic: GoEmotions / Reuters label names, 2 to 30 labels, the learning-curve titles
the pages write, 5+ series. Slow (one kaleido render and one browser measurement per case); skipped
when no Chromium is installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from svg_geometry import chromium_available, measure_svg_texts, svg_text_problems

from mlal_core import export, viz
from mlal_core.inspection.round_history import both_directions
from mlal_core.viz.walkthrough import (
    MapLayer,
    ScoreCut,
    comparison_histograms,
    comparison_map,
    score_cut_histogram,
    walkthrough_map,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (chromium_available() and export.static_export_available()[0]),
                       reason="needs the system Chromium (/usr/bin/chromium) and playwright"),
]

GOEMOTIONS = ["admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity",
              "desire", "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear",
              "gratitude", "grief", "joy", "love", "nervousness", "optimism", "pride", "realization", "relief",
              "remorse", "sadness", "surprise", "neutral"]
REUTERS = ["earn", "acq", "money-fx", "grain", "crude", "trade", "interest", "ship", "wheat", "corn", "dlr",
           "supply", "oilseed", "money-supply", "sugar", "gnp", "coffee", "veg-oil", "gold", "nat-gas",
           "soybean", "bop", "livestock", "cpi", "GOVERNMENT/SOCIAL", "CORPORATE/INDUSTRIAL",
           "ECONOMIC PERFORMANCE", "EUROPEAN COMMUNITY", "carcass", "reserves"]
STRATEGIES = ["CRAB (ours, default settings)", "BESRA", "CoMAL", "BADGE", "Random sampling", "CVIRS",
              "Max-margin uncertainty"]
SIZES = ("screen", "column", "double")


def _correlation(k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Y = (rng.random((400, k)) < np.linspace(0.45, 0.03, k)).astype(np.uint8)
    co = Y.T.astype(float) @ Y
    counts = np.maximum(np.diag(co), 1.0)
    return np.clip(co / counts[None, :], 0.0, 1.0)


def _heatmap(k: int, kind: str = "A", *, marked: bool = False, names=None):
    names = names or (GOEMOTIONS if k <= len(GOEMOTIONS) else REUTERS)[:k]
    A = _correlation(k)
    matrix = A if kind == "A" else 1.0 - A
    pairs = None
    if marked:
        pairs = {"asymmetric: z(A) > 1.5 and A[m,n] > A[n,m]": [(0, 1), (1, 2)],
                 "mutually exclusive (both cells of a pair): NegA >= tau = 0.35": both_directions([(0, k - 1)])}
    return viz.correlation_heatmap(matrix, names, kind=kind, marked_pairs=pairs,
                                   title=f"{kind} of L_3 ({50 * k} labelled samples)")


def _curves(n_series: int = 6):
    rows = [dict(strategy=s, n_labeled=n, mean=0.3 + 0.05 * np.log(n) - 0.01 * i, std=0.02, n=5)
            for i, s in enumerate(STRATEGIES[:n_series]) for n in (50, 100, 150, 200, 250, 300)]
    return viz.learning_curves(pd.DataFrame(rows), metric_name="Micro-F1", clip=(0.0, 1.0),
                               title="Learning curves on go_emotions: Micro-F1 (mean \u00b1 std over seeds)",
                               y_title="Micro-F1 on the test split (0-1)", full_data={"MLP": 0.61, "MiniLM": 0.64})


def _frame_per_round():
    return pd.DataFrame({"round": np.arange(1, 11), "hard-to-learn in the pool": np.arange(10, 110, 10) * 3.0,
                         "conflicting in the pool": np.arange(10, 0, -1) * 7.0,
                         "labels with a positive in L (%)": np.linspace(40, 100, 10),
                         "labels with a positive in the batch (%)": np.linspace(20, 60, 10),
                         "evenness of L (%)": np.linspace(50, 80, 10)})


def _label_bars(k: int, log_y: bool = False):
    names = (GOEMOTIONS if k <= len(GOEMOTIONS) else REUTERS)[:k]
    counts = np.round(np.geomspace(1500, 40, k))
    return viz.label_frequency_bar(counts, names, n_samples=5000, log_y=log_y)


def _score_distribution():
    rng = np.random.default_rng(1)
    scores = rng.beta(2, 5, 219)
    picked = np.zeros(219, bool)
    picked[np.argsort(scores)[-10:]] = True
    return viz.score_distribution(scores, picked, highlight=int(np.argmax(scores)), score_name="CRAB score",
                                  highlight_label="pool sample 4711",
                                  title="Round 3: CRAB score of the 219 scored candidates")


def _k_profile():
    k = 12
    prof = pd.DataFrame({"label": GOEMOTIONS[:k], "k": np.linspace(0.2, 0.9, k), "kbar": np.full(k, 0.5),
                         "predicted": np.arange(k) % 3 == 0})
    return viz.comal_k_profile_figure(prof, title="Pool sample 4711: prototype similarity per label "
                                                  "(blue = predicted label)")


def _overlap():
    rng = np.random.default_rng(2)
    sel = {s: rng.choice(300, 25, replace=False) for s in STRATEGIES}
    return viz.strategy_overlap_heatmap(viz.jaccard_matrix(sel), title="Overlap of the picks in round 3 (Jaccard)")


def _embedding():
    rng = np.random.default_rng(3)
    xy = rng.normal(size=(300, 2))
    groups = np.where(rng.random(300) < 0.3, "positive (joy)", "negative")
    picked = np.zeros(300, bool)
    picked[:10] = True
    return viz.embedding_scatter(xy, groups=groups, picked_mask=picked, group_name="label joy",
                                 axis_prefix="t-SNE", title="t-SNE of the pool (TF-IDF features), round 3")


def _embedding_colours():
    rng = np.random.default_rng(4)
    xy = rng.normal(size=(300, 2))
    picked = np.zeros(300, bool)
    picked[:10] = True
    return viz.embedding_scatter(xy, colors=rng.random(300), color_name="CRAB score", picked_mask=picked,
                                 prototypes_xy=rng.normal(size=(3, 2)), prototype_names=GOEMOTIONS[:3],
                                 axis_prefix="UMAP", title="UMAP of the pool coloured by the CRAB score")


def _sampling():
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(200), size=6)
    return viz.sampling_probability_distribution(p, title="Sampling probabilities of the training samples per epoch")


CRAB_SCORE = "dQ_AB (correlation-aware expected score change)"


def _wt_map(title="2. The score: dQ_AB (correlation-aware expected score change)"):
    """The walk-through's score step: 300 candidates coloured by a score of order 1e-4, 100 labelled."""
    rng = np.random.default_rng(6)
    xy = rng.normal(size=(400, 2))
    cand = np.arange(100, 400)
    layers = [MapLayer(CRAB_SCORE, cand, kind="values", values=rng.random(cand.size) * 3e-4, value_name=CRAB_SCORE,
                       size=6),
              MapLayer("picks", cand[:10], kind="ring", text=tuple(str(i) for i in range(1, 11)))]
    return walkthrough_map(xy, np.arange(400), layers, title=title, axis_prefix="t-SNE", labelled=np.arange(100))


def _wt_side_map():
    rng = np.random.default_rng(7)
    return comparison_map(rng.normal(size=(300, 2)), np.arange(300), np.arange(100, 110), np.arange(105, 115),
                          name_a="CRAB (correlation-aware beta scoring)", name_b="Entropy", labelled=np.arange(60),
                          axis_prefix="t-SNE")


def _wt_side_hist():
    rng = np.random.default_rng(8)
    a, b = rng.random(40) * 3e-4, rng.random(40) * 4
    ma, mb = np.zeros(40, bool), np.zeros(40, bool)
    ma[:5], mb[3:8] = True, True
    return comparison_histograms(a, b, ma, mb, name_a="crab", name_b="entropy", score_name_a=f"crab: {CRAB_SCORE}",
                                 score_name_b="entropy: entropy (bits, summed over labels)")


def _wt_hist():
    rng = np.random.default_rng(9)
    s = rng.random(40) * 3e-4
    picked = s >= np.sort(s)[-10]
    return score_cut_histogram(ScoreCut(s, CRAB_SCORE, "the 40 samples of U*", picked, cut=float(np.sort(s)[-10]),
                                        cut_label="lowest pick"), highlight=int(np.argmax(s)),
                               highlight_label="pool sample 4711")


def _lc_conflicting():
    """The Learning curves page's per-round figure: a title that wraps onto two lines on screen."""
    rows = [dict(strategy=s, round=r, conflicting=float(10 - r), std=0.5) for s in ("CRAB", "Random")
            for r in range(1, 4)]
    return viz.per_round_bars_or_lines(
        pd.DataFrame(rows), "conflicting", group="strategy", kind="line", error="std",
        title="emotions: Conflicting (exclusive-pair) samples in the unlabelled pool per round (mean \u00b1 std over "
              "seeds)", y_title="Conflicting (exclusive-pair) samples (count)")


def _bsel_probs():
    """Sampling probabilities from 1e-4 to 2e-2 on a log axis (the Batch selection page)."""
    rng = np.random.default_rng(10)
    p = np.exp(rng.uniform(np.log(1e-4), np.log(2e-2), size=(5, 200)))
    return viz.sampling_probability_distribution(p / p.sum(axis=1, keepdims=True), epochs=[10, 20, 30, 40, 50],
                                                 log_y=True)


def _subplot_titles():
    """Two stacked rows titled by make_subplots' annotations, longer than a column is wide."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from mlal_core.viz.fit import fit_layout
    fig = make_subplots(rows=2, cols=1, subplot_titles=(f"crab: {CRAB_SCORE} over U*",
                                                        "entropy: entropy (bits, summed over labels) over the pool"))
    fig.update_layout(template="mlal", title="Two rows with long row titles")
    for row in (1, 2):
        fig.add_trace(go.Bar(x=np.arange(10), y=np.arange(10) * 5, showlegend=False), row=row, col=1)
        fig.update_xaxes(title_text="Score of the row (a long axis title, too)", row=row, col=1)
        fig.update_yaxes(title_text="Candidates (count)", row=row, col=1)
    return fit_layout(fig)


FIGURES = {
    "heatmap_2": lambda: _heatmap(2),
    "heatmap_6": lambda: _heatmap(6),
    "heatmap_6_marked": lambda: _heatmap(6, "NegA", marked=True),
    "heatmap_7": lambda: _heatmap(7),
    "heatmap_14": lambda: _heatmap(14, marked=True),
    "heatmap_30": lambda: _heatmap(30),
    "heatmap_negA_default_title": lambda: viz.correlation_heatmap(1.0 - _correlation(6), GOEMOTIONS[:6],
                                                                  kind="NegA"),
    "learning_curves": _curves,
    "per_round_bars": lambda: viz.per_round_bars_or_lines(
        _frame_per_round(), ["hard-to-learn in the pool", "conflicting in the pool"], kind="bar",
        title="Hard-to-learn and conflicting samples in the unlabelled pool", y_title="Unlabelled samples (count)"),
    "per_round_lines": lambda: viz.per_round_bars_or_lines(
        _frame_per_round(), ["labels with a positive in L (%)", "labels with a positive in the batch (%)",
                             "evenness of L (%)"], kind="line",
        title="Label coverage of the batch and of L, and L's evenness",
        y_title="Percent (100 = every label / perfectly even)"),
    "label_bars_6": lambda: _label_bars(6),
    "label_bars_28": lambda: _label_bars(28),
    "label_bars_30_log": lambda: _label_bars(30, log_y=True),
    "score_distribution": _score_distribution,
    "comal_k_profile": _k_profile,
    "strategy_overlap": _overlap,
    "embedding_groups": _embedding,
    "embedding_colours": _embedding_colours,
    "sampling_probabilities": _sampling,
    "wt_map": _wt_map,
    "wt_map_untitled": lambda: _wt_map(title=None),
    "wt_side_map": _wt_side_map,
    "wt_side_hist": _wt_side_hist,
    "wt_hist": _wt_hist,
    "lc_conflicting": _lc_conflicting,
    "bsel_probs": _bsel_probs,
    "subplot_titles": _subplot_titles,
    "score_distribution_small_scores": lambda: viz.score_distribution(
        np.linspace(5e-5, 3e-4, 121), np.arange(121) >= 111, highlight=3, score_name=CRAB_SCORE, set_name="U*"),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", list(FIGURES))
def test_exported_svg_text_neither_overlaps_nor_leaves_the_canvas(kind, size):
    fig, _ = export.sized_for_export(FIGURES[kind](), size)
    svg = export.figure_to_bytes(fig, "svg")
    problems = svg_text_problems(svg)
    assert problems == [], f"{kind} at size {size!r}:\n" + "\n".join(problems)


def test_the_checker_finds_overlap_and_overflow_and_accepts_a_clean_figure():
    """The checker itself, on SVGs whose geometry is known by construction."""
    head = '<svg xmlns="http://www.w3.org/2000/svg" width="3in" height="1in" viewBox="0 0 300 100">'
    style = 'style="font-family: Liberation Sans; font-size: 12px"'
    clean = head + f'<text x="10" y="20" {style}>left</text><text x="200" y="20" {style}>right</text></svg>'
    assert svg_text_problems(clean.encode()) == []
    clash = head + f'<text x="10" y="20" {style}>overlapping</text><text x="40" y="22" {style}>words</text></svg>'
    assert len(svg_text_problems(clash.encode())) == 1
    out = head + f'<text x="280" y="20" {style}>outside</text><text x="10" y="60" {style}> </text></svg>'
    (msg,) = svg_text_problems(out.encode())
    assert "outside" in msg and "leaves" in msg
    # two labels rotated by -45 deg next to each other: their axis-aligned boxes overlap, their glyphs do not
    rot = head + "".join(f'<text x="0" y="0" transform="translate({x},40) rotate(-45)" text-anchor="end" {style}>'
                         f'annoyance</text>' for x in (150, 175)) + "</svg>"
    assert svg_text_problems(rot.encode()) == []


@pytest.mark.parametrize("kind", ["score_distribution_small_scores", "wt_map", "wt_side_hist", "bsel_probs"])
def test_numbers_on_axes_and_colour_bars_carry_no_si_suffix(kind):
    """Scores of order 1e-4 read "0.0001" as the tables write them, never "100\u03bc" (a unit to a reader)."""
    for size in SIZES:
        fig, _ = export.sized_for_export(FIGURES[kind](), size)
        texts = [t["text"] for t in measure_svg_texts(export.figure_to_bytes(fig, "svg"))["texts"]]
        assert not [t for t in texts if "\u03bc" in t or "\u00b5" in t], (kind, size, texts)
        if kind in ("score_distribution_small_scores", "wt_side_hist"):
            assert "0.0001" in texts, (kind, size, texts)
        if kind == "bsel_probs":  # decades only, no minor digits 2..9
            assert {"0.001", "0.01"} <= set(texts) and not {"2", "5", "9"} & set(texts), texts
