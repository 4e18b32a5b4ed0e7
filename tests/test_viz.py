"""Figure builders: traces, values, titles, palette, and input validation (mlal_core.viz)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.colors as pc
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from mlal_core import viz
from mlal_core.errors import ConfigError
from mlal_core.viz import theme

OKABE = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}


def _colorscale(name):
    return [(round(float(p), 6), c) for p, c in pc.get_colorscale(name)]


def _scale_of(trace):
    return [(round(float(p), 6), c) for p, c in trace.colorscale]


# ----------------------------------------------------------------------------------------- theme
def test_palette_is_okabe_ito_and_template_registered():
    assert set(viz.CATEGORY_COLORS) == OKABE and len(viz.CATEGORY_COLORS) == 8
    assert viz.CATEGORY_COLORS[0] == "#0072B2"
    assert viz.register_template() == "mlal" and "mlal" in pio.templates
    # registering again keeps the same object (once per process)
    t = pio.templates["mlal"]
    viz.register_template()
    assert pio.templates["mlal"] is t
    assert list(t.layout.colorway) == list(viz.CATEGORY_COLORS)
    assert t.layout.plot_bgcolor == "white" and t.layout.paper_bgcolor == "white"


def test_series_style_cycles_colour_then_dash():
    s0, s8 = viz.series_style(0), viz.series_style(8)
    assert s0["color"] == s8["color"] == "#0072B2"
    assert s0["dash"] == "solid" and s8["dash"] != "solid"
    assert len({viz.series_style(i)["color"] for i in range(8)}) == 8
    assert theme.with_alpha("#0072B2", 0.2) == "rgba(0, 114, 178, 0.2)"
    with pytest.raises(ConfigError):
        theme.with_alpha("blue", 0.2)


def test_paper_layout_sizes():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[1, 2], marker=dict(size=10)))
    fig.update_layout(title="t")
    viz.paper_layout(fig, "column")
    assert fig.layout.width == 336 and fig.layout.height == 252
    assert fig.data[0].marker.size == pytest.approx(10 * max(0.5, 336 / 700))
    fig2 = viz.paper_layout(go.Figure(), "double", height=300)
    assert fig2.layout.width == 687 and fig2.layout.height == 300
    assert viz.paper_layout(go.Figure(), 500, aspect=0.5).layout.height == 250
    assert viz.dpi_scale(300) == pytest.approx(3.125) == viz.PRINT_SCALE_300DPI
    for bad in ("huge", -3, 0):
        with pytest.raises(ConfigError):
            viz.paper_layout(go.Figure(), bad)
    with pytest.raises(ConfigError):
        viz.paper_layout(go.Figure(), "column", legend="left")
    with pytest.raises(ConfigError):
        viz.dpi_scale(0)


def test_paper_layout_puts_a_multi_series_legend_under_the_title():
    df = pd.DataFrame({"group": ["a"] * 2 + ["b"] * 2, "n_labeled": [10, 20] * 2,
                       "mean": [0.1, 0.2, 0.2, 0.3], "std": [0.0] * 4})
    fig = viz.paper_layout(viz.learning_curves(df), "column")
    assert fig.layout.legend.orientation == "h"
    assert fig.layout.legend.yref == "container" and fig.layout.legend.y < 1
    assert fig.layout.margin.t > 40  # room for the title and the legend above the plot


# ----------------------------------------------------------------------------------------- labels
def test_label_order_by_frequency_name_topk():
    names = ["delta", "Alpha", "charlie", "bravo", "echo"]
    counts = [5, 9, 5, 1, 7]
    assert viz.label_order(names, counts).tolist() == [1, 4, 0, 2, 3]  # ties (0, 2) by position
    assert viz.label_order(names, counts, descending=False).tolist() == [3, 0, 2, 4, 1]
    assert viz.label_order(names, counts, by="name").tolist() == [1, 3, 2, 0, 4]
    assert viz.label_order(names, counts, by="index").tolist() == [0, 1, 2, 3, 4]
    # top 3 most frequent (1, 4, 0 - position breaks the 5/5 tie), then alphabetically
    assert viz.label_order(names, counts, by="name", top_k=3).tolist() == [1, 0, 4]
    assert viz.label_order(names, counts, top_k=10).tolist() == [1, 4, 0, 2, 3]


def test_label_order_cluster_groups_correlated_labels():
    # two blocks {0, 2, 4} and {1, 3}: strongly correlated inside, not across
    k = 5
    A = np.full((k, k), 0.05)
    for block in ([0, 2, 4], [1, 3]):
        for i in block:
            for j in block:
                A[i, j] = 0.9
    order = viz.label_order(matrix=A, by="cluster").tolist()
    assert sorted(order) == list(range(k))
    first = set(order[:3]), set(order[3:])
    second = set(order[:2]), set(order[2:])
    assert first == ({0, 2, 4}, {1, 3}) or second == ({1, 3}, {0, 2, 4})


def test_label_order_errors():
    with pytest.raises(ConfigError):
        viz.label_order(["a", "b"])  # frequency needs counts
    with pytest.raises(ConfigError):
        viz.label_order(["a", "b"], [1, 2, 3])
    with pytest.raises(ConfigError):
        viz.label_order(["a", "b"], [1, 2], top_k=0)
    with pytest.raises(ConfigError):
        viz.label_order(["a", "b"], [1, 2], by="size")
    with pytest.raises(ConfigError):
        viz.label_order(k=3, by="cluster")
    with pytest.raises(ConfigError):
        viz.label_order()


def test_irlbl_from_counts_matches_stats():
    from mlal_core import stats

    Y = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 1], [1, 0, 0, 0]], dtype=np.uint8)
    got = viz.irlbl_from_counts(Y.sum(0))
    np.testing.assert_allclose(got, stats.irlbl(Y))
    assert got.tolist() == [1.0, 2.0, np.inf, 4.0]


def test_label_frequency_bar():
    Y = np.zeros((20, 4), dtype=np.uint8)
    Y[:10, 0] = 1
    Y[:2, 1] = 1
    Y[:5, 3] = 1
    counts = Y.sum(0)
    names = ["a", "b", "c", "d"]
    fig = viz.label_frequency_bar(counts, names, n_samples=20)
    assert [t.type for t in fig.data] == ["bar"]
    bar = fig.data[0]
    assert list(bar.y) == [10, 5, 2, 0]
    assert list(fig.layout.xaxis.ticktext) == ["a", "d", "b", "c"]
    # linear by default (issue 14: a log axis starting near the smallest count made 150 look 6x 80)
    assert fig.layout.yaxis.type != "log" and fig.layout.yaxis.rangemode == "tozero"
    logged = viz.label_frequency_bar([150, 80], ["x", "y"], log_y=True)
    assert logged.layout.yaxis.type == "log" and "log scale" in logged.layout.yaxis.title.text
    assert logged.layout.yaxis.range[0] == 0.0  # starts at a count of 1, not near 80
    # IRLbl in the hover: max / count, "inf (absent)" for the unseen label
    assert [row[1] for row in bar.customdata] == ["1.00", "2.00", "5.00", "\u221e (absent)"]
    assert "IRLbl" in bar.hovertemplate and "share of samples" in bar.hovertemplate
    assert bar.marker.color == viz.CATEGORY_COLORS[0]
    assert "MeanIR = 2.67" in fig.layout.title.text  # mean of 1, 2, 5 (absent label excluded)
    assert fig.layout.xaxis.title.text == "Label" and "count" in fig.layout.yaxis.title.text
    top = viz.label_frequency_bar(counts, names, top_k=2, log_y=False)
    assert list(top.data[0].y) == [10, 5] and "2 of 4 labels" in top.layout.title.text
    assert top.layout.yaxis.type != "log"
    by_name = viz.label_frequency_bar(counts, names, order_by="name")
    assert list(by_name.data[0].y) == [10, 2, 0, 5]


@pytest.mark.parametrize("kwargs", [
    dict(counts=[1, -1], label_names=["a", "b"]),
    dict(counts=[1, 2], label_names=["a"]),
    dict(counts=[[1, 2]], label_names=["a", "b"]),
    dict(counts=[1, np.nan], label_names=["a", "b"]),
    dict(counts=[1, 3], label_names=["a", "b"], n_samples=2),
])
def test_label_frequency_bar_rejects(kwargs):
    with pytest.raises(ConfigError):
        viz.label_frequency_bar(**kwargs)


# ----------------------------------------------------------------------------------------- correlation
def _toy_A():
    rng = np.random.default_rng(0)
    Y = (rng.random((200, 5)) < [0.6, 0.4, 0.3, 0.2, 0.05]).astype(np.uint8)
    counts = Y.sum(0)
    A = (Y.T @ Y) / counts[None, :]
    return A, counts


def test_correlation_heatmap_values_and_marked_pairs():
    A, _ = _toy_A()
    names = list("abcde")
    pairs = {"asymmetric": [(0, 3), (4, 1)], "mutually exclusive": [(2, 4)]}
    fig = viz.correlation_heatmap(A, names, "A of toy", pairs, kind="A", show_values=False)
    assert [t.type for t in fig.data] == ["heatmap", "scatter", "scatter"]
    hm = fig.data[0]
    np.testing.assert_allclose(np.asarray(hm.z, float), A)
    assert hm.zmin == 0 and hm.zmax == 1
    assert _scale_of(hm) == _colorscale(viz.SEQUENTIAL)
    asym, excl = fig.data[1], fig.data[2]
    # (m, n) is drawn at x = column n, y = row m
    assert list(asym.x) == [3, 1] and list(asym.y) == [0, 4]
    assert list(excl.x) == [4] and list(excl.y) == [2]
    assert asym.name == "asymmetric (2)" and excl.name == "mutually exclusive (1)"
    assert np.asarray(asym.customdata).tolist() == [[0, 3], [4, 1]]
    assert asym.marker.symbol != excl.marker.symbol
    assert fig.layout.showlegend is True
    assert fig.layout.title.text == "A of toy"
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert list(fig.layout.yaxis.range) == [4.5, -0.5]  # row 0 at the top


def test_correlation_heatmap_ordering_topk_and_offsets():
    A, counts = _toy_A()
    names = list("abcde")
    order = viz.label_order(names, counts[::-1].copy(), by="frequency")  # reversed: e first
    assert order.tolist() == [4, 3, 2, 1, 0]
    fig = viz.correlation_heatmap(A, names, marked_pairs=[(0, 3)], counts=counts[::-1].copy(),
                                  order_by="frequency", show_values=True)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, float), A[np.ix_(order, order)])
    assert list(fig.layout.xaxis.ticktext) == ["e", "d", "c", "b", "a"]
    # label 0 sits at position 4, label 3 at position 1; with values shown the marker is in the corner
    assert fig.data[1].x[0] == pytest.approx(1 + 0.3) and fig.data[1].y[0] == pytest.approx(4 - 0.3)
    assert fig.data[0].texttemplate
    top = viz.correlation_heatmap(A, names, marked_pairs=[(0, 1), (0, 4)], counts=counts, top_k=3)
    assert np.asarray(top.data[0].z).shape == (3, 3)
    assert "1 of 2 shown" in top.data[1].name and "3 of 5 labels" in top.layout.title.text


def test_correlation_heatmap_negA_and_diff():
    A, _ = _toy_A()
    neg = viz.correlation_heatmap(1 - A, kind="NegA", mask_diagonal=True)
    assert _scale_of(neg.data[0]) == _colorscale(viz.SEQUENTIAL_ALT)
    assert np.isnan(np.asarray(neg.data[0].z, float)[0, 0])
    assert neg.layout.showlegend is False
    d = A - A.T
    diff = viz.correlation_heatmap(d, kind="diff")
    hm = diff.data[0]
    assert hm.zmid == 0 and hm.zmin == pytest.approx(-np.abs(d).max()) and hm.zmax == pytest.approx(np.abs(d).max())
    assert _scale_of(hm) == _colorscale(viz.DIVERGING)


@pytest.mark.parametrize("kwargs", [
    dict(matrix=np.ones((2, 3))),
    dict(matrix=np.full((2, 2), 1.5)),
    dict(matrix=np.eye(2), kind="corr"),
    dict(matrix=np.eye(2), marked_pairs=[(0, 2)]),
    dict(matrix=np.eye(2), marked_pairs=[(0, 1, 1)]),
    dict(matrix=np.eye(2), marked_pairs=[(0.5, 1)]),
    dict(matrix=np.eye(2), label_names=["a"]),
    dict(matrix=np.eye(3), order=[0, 0, 1]),
    dict(matrix=np.eye(3), order_by="frequency"),
    dict(matrix=np.array([[1, np.inf], [0, 1]])),
])
def test_correlation_heatmap_rejects(kwargs):
    with pytest.raises(ConfigError):
        viz.correlation_heatmap(**kwargs)


# ----------------------------------------------------------------------------------------- curves
def _summary():
    return pd.DataFrame({
        "group": ["crab"] * 3 + ["random"] * 3,
        "n_labeled": [30, 10, 20, 10, 20, 30],  # unsorted on purpose
        "mean": [0.6, 0.4, 0.5, 0.35, 0.42, 0.5],
        "std": [0.02, 0.05, np.nan, 0.03, 0.03, 0.01],
        "n": [3, 3, 1, 3, 3, 3],
    })


def test_learning_curves_bands_are_mean_plus_minus_std():
    fig = viz.learning_curves(_summary(), metric_name="Micro-F1")
    assert [t.type for t in fig.data] == ["scatter"] * 4
    band, line = fig.data[0], fig.data[1]
    assert band.fill == "toself" and band.showlegend is False and band.legendgroup == line.legendgroup == "crab"
    assert list(line.x) == [10, 20, 30]
    np.testing.assert_allclose(line.y, [0.4, 0.5, 0.6])
    # polygon: upper bound forward, lower bound back; NaN std (one seed) -> 0
    np.testing.assert_allclose(band.x, [10, 20, 30, 30, 20, 10])
    np.testing.assert_allclose(band.y, [0.45, 0.5, 0.62, 0.58, 0.5, 0.35])
    assert line.line.color == viz.CATEGORY_COLORS[0] and fig.data[3].line.color == viz.CATEGORY_COLORS[1]
    assert fig.data[3].name == "random"
    assert fig.layout.showlegend is True
    assert "Micro-F1" in fig.layout.title.text and fig.layout.yaxis.title.text == "Micro-F1"
    assert fig.layout.xaxis.title.text == "Labelled samples (count)"


def test_learning_curves_accepts_summarize_curves_output_and_clips():
    from mlal_core.metrics import summarize_curves

    rounds = pd.DataFrame({"strategy": ["a"] * 4, "n_labeled": [10, 10, 20, 20], "f1": [0.9, 1.0, 0.2, 0.4]})
    summary = summarize_curves(rounds, "f1")
    fig = viz.learning_curves(summary, clip=(0, 1))
    band = fig.data[0]
    assert max(band.y) <= 1.0 and min(band.y) >= 0.0
    assert fig.layout.showlegend is False  # one series
    assert "seeds: %{customdata[1]" in fig.data[1].hovertemplate
    nob = viz.learning_curves(summary, band=False)
    assert len(nob.data) == 1


@pytest.mark.parametrize("mutate", [
    lambda d: d.drop(columns="std"),
    lambda d: pd.concat([d, d.iloc[:1]]),
    lambda d: d.assign(mean="x"),
    lambda d: d.assign(std=-1.0),
    lambda d: d.iloc[0:0],
])
def test_learning_curves_rejects(mutate):
    with pytest.raises(ConfigError):
        viz.learning_curves(mutate(_summary()))


# ----------------------------------------------------------------------------------------- per round
def _per_round():
    return pd.DataFrame({
        "strategy": ["crab"] * 3 + ["random"] * 3,
        "round": [1, 2, 3] * 2,
        "mean_ir": [2.0, 2.5, 3.0, 4.0, 4.5, 4.1],
        "n_hard_to_learn": [5, 3, 1, 2, 2, 2],
        "n_conflicting": [1, 0, 2, 0, 1, 0],
        "sd": [0.1] * 6,
    })


def test_per_round_bars_and_lines():
    df = _per_round()
    fig = viz.per_round_bars_or_lines(df, "mean_ir", "strategy")
    assert [t.type for t in fig.data] == ["bar", "bar"] and fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == ["crab", "random"]
    assert list(fig.data[1].y) == [4.0, 4.5, 4.1]
    assert fig.data[0].marker.color == viz.CATEGORY_COLORS[0]
    assert "MeanIR" in fig.layout.title.text and "MeanIR" in fig.layout.yaxis.title.text
    assert fig.layout.xaxis.title.text == "AL round" and fig.layout.showlegend is True
    lines = viz.per_round_bars_or_lines(df, "mean_ir", "strategy", kind="line", error="sd")
    assert [t.mode for t in lines.data] == ["lines+markers"] * 2
    assert list(lines.data[0].error_y.array) == [0.1] * 3
    counts = viz.per_round_bars_or_lines(df[df.strategy == "crab"], ["n_hard_to_learn", "n_conflicting"])
    assert len(counts.data) == 2 and "Hard-to-learn" in counts.data[0].name
    assert list(counts.data[1].y) == [1, 0, 2]
    both = viz.per_round_bars_or_lines(df, ["n_hard_to_learn", "n_conflicting"], "strategy")
    assert len(both.data) == 4 and both.data[0].name.startswith("crab: ")


@pytest.mark.parametrize("kwargs", [
    dict(y="nope"),
    dict(y="mean_ir", kind="pie"),
    dict(y=[]),
    dict(y="mean_ir"),  # two rows per round without a group
    dict(y=["mean_ir", "n_conflicting"], group="strategy", error="sd"),
    dict(y="strategy"),
])
def test_per_round_rejects(kwargs):
    with pytest.raises(ConfigError):
        viz.per_round_bars_or_lines(_per_round(), **kwargs)


# ----------------------------------------------------------------------------------------- scores
def test_score_distribution_histogram_rug_highlight():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200)
    scores[[3, 7]] = np.nan
    picked = np.zeros(200, bool)
    top = np.argsort(-np.nan_to_num(scores, nan=-9))[:10]
    picked[top] = True
    fig = viz.score_distribution(scores, picked, highlight=int(top[0]), bins=20, score_name="Uncertainty")
    assert [t.type for t in fig.data] == ["bar", "scatter", "scatter", "scatter"]
    hist, rug, hl = fig.data[0], fig.data[1], fig.data[2]
    assert sum(hist.y) == 198 and len(hist.y) == 20
    counts, _ = np.histogram(scores[np.isfinite(scores)], bins=20)
    assert list(hist.y) == counts.tolist()
    assert len(rug.x) == 10 and rug.name == "picked (10)"
    np.testing.assert_allclose(sorted(rug.x), sorted(scores[picked]))
    assert rug.marker.color == theme.PICKED_COLOR
    assert list(hl.x) == [scores[top[0]]] * 2
    assert "2 not scored" in fig.layout.title.text and "10 picked" in fig.layout.title.text
    assert fig.layout.xaxis2.title.text == "Uncertainty" and "count" in fig.layout.yaxis.title.text


def test_score_distribution_constant_scores_and_no_picks():
    fig = viz.score_distribution(np.ones(10))
    assert sum(fig.data[0].y) == 10 and len(fig.data[1].x) == 0


@pytest.mark.parametrize("args", [
    (np.full(5, np.nan), None, None),
    (np.array([1.0, np.nan]), np.array([False, True]), None),
    (np.ones(5), np.ones(4, bool), None),
    (np.ones(5), None, 5),
    (np.array([1.0, np.nan, 2.0]), None, 1),
    (np.ones(5), np.array([0, 2, 0, 0, 0]), None),
    (np.array([1.0, np.inf]), None, None),
])
def test_score_distribution_rejects(args):
    with pytest.raises(ConfigError):
        viz.score_distribution(*args)


# ----------------------------------------------------------------------------------------- overlap
def test_jaccard_and_overlap_heatmap():
    j = viz.jaccard_matrix({"a": [1, 2, 3, 4], "b": [3, 4, 5], "c": []})
    assert j.loc["a", "b"] == pytest.approx(2 / 5) and j.loc["a", "a"] == 1.0
    assert j.loc["a", "c"] == 0.0 and np.isnan(j.loc["c", "c"])
    fig = viz.strategy_overlap_heatmap(j)
    assert [t.type for t in fig.data] == ["heatmap"]
    assert fig.data[0].zmin == 0 and fig.data[0].zmax == 1
    np.testing.assert_allclose(np.asarray(fig.data[0].z, float), j.to_numpy(), equal_nan=True)
    assert list(fig.layout.xaxis.ticktext) == ["a", "b", "c"]
    assert "Jaccard" in fig.layout.title.text and fig.layout.xaxis.title.text == "Strategy"
    with pytest.raises(ConfigError):
        viz.strategy_overlap_heatmap(pd.DataFrame(np.ones((2, 3))))
    with pytest.raises(ConfigError):
        viz.strategy_overlap_heatmap(pd.DataFrame([[1, 2], [2, 1]], index=["a", "b"], columns=["a", "b"]))
    with pytest.raises(ConfigError):
        viz.strategy_overlap_heatmap(pd.DataFrame([[1, 0], [0, 1]], index=["a", "b"], columns=["b", "a"]))
    with pytest.raises(ConfigError):
        viz.jaccard_matrix({})


# ----------------------------------------------------------------------------------------- sampling probabilities
def test_sampling_probability_boxes():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(50), size=4)
    fig = viz.sampling_probability_distribution(P)
    box = fig.data[0]
    assert box.type == "box" and list(box.x) == ["1", "2", "3", "4"]
    np.testing.assert_allclose(box.median, np.median(P, axis=1))
    np.testing.assert_allclose(box.q1, np.quantile(P, 0.25, axis=1))
    assert all(lo <= q for lo, q in zip(box.lowerfence, box.q1)) and all(hi >= q for hi, q in zip(box.upperfence, box.q3))
    uni = fig.data[1]
    assert uni.y[0] == pytest.approx(1 / 50) and fig.layout.showlegend is True
    assert fig.layout.xaxis.title.text == "Epoch" and "probability" in fig.layout.yaxis.title.text.lower()
    vio = viz.sampling_probability_distribution(P, epochs=[5, 6, 7, 8], kind="violin")
    assert vio.data[0].type == "violin" and len(vio.data[0].y) == 200 and set(vio.data[0].x) == {"5", "6", "7", "8"}
    ragged = viz.sampling_probability_distribution([np.full(4, 0.25), np.full(5, 0.2)])
    assert len(ragged.data) == 1  # sizes differ: no single uniform reference
    long = pd.DataFrame({"epoch": [1, 1, 2, 2], "probability": [0.5, 0.5, 0.9, 0.1]})
    assert list(viz.sampling_probability_distribution(long).data[0].median) == [0.5, 0.5]


@pytest.mark.parametrize("args,kwargs", [
    ((np.array([[0.5, -0.1]]),), {}),
    ((np.array([[0.5, np.nan]]),), {}),
    ((np.ones(3),), {}),
    ((np.ones((2, 2)) / 2,), dict(kind="bar")),
    ((np.ones((2, 2)) / 2,), dict(epochs=[1])),
    (([[]],), {}),
    ((pd.DataFrame({"e": [1]}),), {}),
])
def test_sampling_probability_rejects(args, kwargs):
    with pytest.raises(ConfigError):
        viz.sampling_probability_distribution(*args, **kwargs)


# ----------------------------------------------------------------------------------------- embedding
def test_embedding_scatter_groups_picks_prototypes():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(30, 2))
    groups = np.array(["positive"] * 12 + ["negative"] * 18)
    picked = np.zeros(30, bool)
    picked[[0, 5, 20]] = True
    fig = viz.embedding_scatter(xy, groups, picked, prototypes_xy=[[0, 0], [1, 1]],
                                hover_text=[f"text {i}" for i in range(30)],
                                prototype_names=["+ proto", "- proto"], prototype_groups=["positive", "negative"],
                                axis_prefix="UMAP")
    names = [t.name for t in fig.data]
    assert names == ["positive (12)", "negative (18)", "picked (3)", "prototypes (2)"]
    pos, neg, pk, proto = fig.data
    assert len(pos.x) == 12 and len(neg.x) == 18
    assert pos.marker.color == viz.CATEGORY_COLORS[0] and neg.marker.color == viz.CATEGORY_COLORS[1]
    np.testing.assert_allclose(np.column_stack([pk.x, pk.y]), xy[[0, 5, 20]])
    assert proto.marker.symbol == "star" and list(proto.marker.color) == [viz.CATEGORY_COLORS[0], viz.CATEGORY_COLORS[1]]
    assert pk.customdata[2][1] == "text 20"
    assert fig.layout.xaxis.title.text == "UMAP 1" and fig.layout.yaxis.title.text == "UMAP 2"
    assert fig.layout.showlegend is True and fig.layout.title.text


def test_embedding_scatter_continuous_colours():
    xy = np.arange(20, dtype=float).reshape(10, 2)
    fig = viz.embedding_scatter(xy, colors=np.linspace(0, 1, 10), color_name="entropy", picked_mask=np.arange(10) < 2)
    assert fig.data[0].marker.showscale and fig.data[0].marker.colorbar.title.text == "entropy"
    assert fig.data[1].name == "picked (2)"
    assert viz.embedding_scatter(xy).layout.showlegend is False


@pytest.mark.parametrize("kwargs", [
    dict(xy=np.ones((5, 3))),
    dict(xy=np.array([[0, np.nan]] * 5)),
    dict(xy=np.ones((5, 2)), groups=["a"] * 4),
    dict(xy=np.ones((5, 2)), groups=["a"] * 5, colors=np.ones(5)),
    dict(xy=np.ones((5, 2)), picked_mask=np.ones(3, bool)),
    dict(xy=np.ones((5, 2)), hover_text=["x"]),
    dict(xy=np.ones((5, 2)), prototypes_xy=np.ones((2, 3))),
    dict(xy=np.ones((5, 2)), prototypes_xy=np.ones((2, 2)), prototype_names=["a"]),
    dict(xy=np.zeros((0, 2))),
])
def test_embedding_scatter_rejects(kwargs):
    with pytest.raises(ConfigError):
        viz.embedding_scatter(**kwargs)


# ----------------------------------------------------------------------------------------- every builder
def test_learning_curves_draw_the_full_data_score_per_setting():
    fig = viz.learning_curves(_summary(), full_data=0.8)
    ref = [t for t in fig.data if t.name and t.name.startswith("full-data score")]
    assert [t.name for t in ref] == ["full-data score 0.800"]
    xs = _summary()["n_labeled"]
    assert list(ref[0].x) == [xs.min(), xs.max()] and list(ref[0].y) == [0.8, 0.8]
    fig = viz.learning_curves(_summary(), full_data={"model textcnn": 0.7, "model mlp_ensemble": 0.6,
                                                      "not computed": float("nan")})
    ref = [t for t in fig.data if t.name and t.name.startswith("full-data score")]
    assert [t.name for t in ref] == ["full-data score (model textcnn) 0.700", "full-data score (model mlp_ensemble) 0.600"]
    assert ref[0].line.dash != ref[1].line.dash
    assert fig.layout.showlegend is True
    with pytest.raises(ConfigError, match="full_data"):
        viz.learning_curves(_summary(), full_data={"x": "high"})


def test_embedding_scatter_group_styles_and_picked_legend():
    xy = np.arange(12, dtype=float).reshape(6, 2)
    fig = viz.embedding_scatter(xy, ["unlabelled", "a", "b", "unlabelled", "a", "b"],
                                picked_mask=[0, 1, 0, 0, 0, 0], group_order=["unlabelled", "a", "b"],
                                group_styles={"unlabelled": {"color": "#9E9E9E", "opacity": 0.3},
                                              "absent group": {"color": "#000000"}},
                                picked_name="picked in round 3", picked_in_legend=False)
    by_name = {t.name: t for t in fig.data}
    assert by_name["unlabelled (2)"].marker.color == "#9E9E9E" and by_name["unlabelled (2)"].marker.opacity == 0.3
    # the palette skips the restyled group: a and b keep the first two palette colours
    assert by_name["a (2)"].marker.color == viz.series_style(0)["color"]
    assert by_name["b (2)"].marker.color == viz.series_style(1)["color"]
    ring = by_name["picked in round 3"]
    assert ring.showlegend is False and list(ring.x) == [2.0]
    with pytest.raises(ConfigError, match="group_styles"):
        viz.embedding_scatter(xy, ["a"] * 6, group_styles={"a": 3})


def _k_profile():
    return pd.DataFrame({"label": ["a", "b", "c"], "k": [0.9, 0.2, 0.5], "kbar": [0.6, 0.4, 0.5],
                         "predicted": [True, False, True]})


def test_comal_k_profile_figure_bars_and_diamonds():
    fig = viz.comal_k_profile_figure(_k_profile(), title="sample 7")
    bars, diamonds = fig.data
    assert list(bars.y) == [0.9, 0.2, 0.5] and list(diamonds.y) == [0.6, 0.4, 0.5]
    blue, grey = theme.POSITIVE_COLOR, theme.UNPICKED_COLOR
    assert list(bars.marker.color) == [blue, grey, blue]
    assert diamonds.marker.symbol == "diamond" and fig.layout.title.text == "sample 7"
    with pytest.raises(ConfigError, match="kbar"):
        viz.comal_k_profile_figure(_k_profile().drop(columns="kbar"))


def _all_figures():
    A, counts = _toy_A()
    rng = np.random.default_rng(1)
    return {
        "frequency": viz.label_frequency_bar(counts),
        "heatmap": viz.correlation_heatmap(A),
        "curves": viz.learning_curves(_summary()),
        "per_round": viz.per_round_bars_or_lines(_per_round(), "mean_ir", "strategy"),
        "scores": viz.score_distribution(rng.normal(size=50), np.arange(50) < 5, highlight=0),
        "overlap": viz.strategy_overlap_heatmap(viz.jaccard_matrix({"a": [1, 2], "b": [2, 3]})),
        "sampling": viz.sampling_probability_distribution(rng.dirichlet(np.ones(10), size=3)),
        "embedding": viz.embedding_scatter(rng.normal(size=(10, 2)), ["x", "y"] * 5),
        "k_profile": viz.comal_k_profile_figure(_k_profile()),
    }


@pytest.mark.parametrize("name", list(_all_figures()))
def test_every_builder_sets_title_axes_template(name):
    fig = _all_figures()[name]
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text
    xt = fig.layout.xaxis2.title.text if name == "scores" else fig.layout.xaxis.title.text
    assert xt and fig.layout.yaxis.title.text
    assert fig.layout.template.layout.colorway == tuple(viz.CATEGORY_COLORS)
    series = [t for t in fig.data if t.type in ("scatter", "bar", "box", "violin") and t.showlegend is not False]
    if len(series) > 1:
        assert fig.layout.showlegend is True
    fig.to_json()  # serialisable (and valid for plotly.js)


def test_mlal_core_visual_modules_do_not_import_streamlit():
    code = ("import sys, mlal_core.viz, mlal_core.export, mlal_core.inspection.projection; "
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------------------- real data
def test_crab_matrices_of_yeast_in_the_heatmap(small_datasets):
    """The heatmap of real A / NegA with CRAB's pairs marked where mlal_core.correlation puts them."""
    from mlal_core import correlation, stats

    ds = small_datasets["yeast_small"]
    Y = ds.train.Y
    A = correlation.positive_correlation(Y)
    asym = correlation.asymmetric_pairs(A)
    excl, _tau = correlation.exclusive_pairs(Y)
    counts = stats.label_counts(Y)
    fig = viz.correlation_heatmap(A, ds.label_names, marked_pairs={"asymmetric": asym, "mutually exclusive": excl},
                                  counts=counts, order_by="frequency", show_values=False)
    order = viz.label_order(ds.label_names, counts)
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, float), A[np.ix_(order, order)])
    for trace, pairs in zip(fig.data[1:], (asym, excl), strict=True):
        assert len(trace.x) == len(pairs)
        np.testing.assert_array_equal(trace.x, pos[pairs[:, 1]])
        np.testing.assert_array_equal(trace.y, pos[pairs[:, 0]])
    neg = viz.correlation_heatmap(correlation.negative_correlation(Y), ds.label_names, kind="NegA")
    assert np.asarray(neg.data[0].z).shape == (ds.n_labels, ds.n_labels)
    bar = viz.label_frequency_bar(counts, ds.label_names, n_samples=len(ds.train))
    assert f"MeanIR = {stats.mean_ir(Y):.2f}" in bar.layout.title.text


# ------------------------------------------------------------------ measured text and fitted layouts (issue 14)
from mlal_core.viz import fit as vfit  # noqa: E402
from mlal_core.viz.text_metrics import text_width, truncate_to_width, wrap_text  # noqa: E402

SIX = ["admiration", "amusement", "anger", "annoyance", "approval", "caring"]


def test_text_width_sums_the_helvetica_afm_advance_widths():
    # M 833 + i 222 + c 500 + r 333 + o 556 + - 333 + F 611 + 1 556 = 3944 units of 1/1000 em
    assert text_width("Micro-F1", 10) == pytest.approx(39.44)
    assert text_width("ab", 12, bold=True) == pytest.approx((556 + 611) * 12 / 1000)  # bold b is 611
    # <b> switches runs to bold, <br> starts a line (the widest counts), entities are decoded
    assert text_width("<b>A</b>B<br>xyz", 10) == pytest.approx(1500 * 10 / 1000)  # 722 + 667 < 3 * 500
    assert text_width("A&amp;B", 10) == pytest.approx((667 + 667 + 667) / 100)
    assert text_width("\u00e9", 10) == text_width("e", 10) == pytest.approx(5.56)  # accent: its base letter
    assert text_width("'^", 10) == pytest.approx((191 + 469) / 100)  # quotesingle, asciicircum
    assert text_width("\u4e2d", 10) == pytest.approx(10.0)  # East-Asian wide: 1 em
    assert text_width("", 10) == 0.0
    with pytest.raises(ConfigError, match="font_size"):
        text_width("a", 0)


def test_wrap_and_truncate_respect_the_measured_width():
    title = "Learning curves on go_emotions: Micro-F1 (mean \u00b1 std over seeds)"
    lines = wrap_text(title, 200, 12)
    assert len(lines) >= 2 and " ".join(lines) == title
    assert all(text_width(s, 12) <= 200 for s in lines)
    cut = truncate_to_width("disappointment and disapproval", 60, 10)
    assert cut.endswith("\u2026") and text_width(cut, 10) <= 60
    assert truncate_to_width("joy", 60, 10) == "joy"


def test_heatmap_ticks_tilt_by_measured_width_not_by_label_count():
    A = np.eye(6)
    # six GoEmotions names (~45 px each) in a column figure: about 30 px per tick, they would overlap level
    fig = viz.paper_layout(viz.correlation_heatmap(A, SIX), "column")
    assert fig.layout.xaxis.tickangle in (-45, -90)
    # seven one-letter names fit level, even though the old rule tilted above six labels
    short = viz.correlation_heatmap(np.eye(7), list("ABCDEFG"))
    assert short.layout.xaxis.tickangle == 0
    assert viz.paper_layout(short, "column").layout.xaxis.tickangle == 0
    # the screen decision is made again at paper size from the full names kept in layout.meta; the
    # cells are square (issue 14), so a 700 x 450 screen figure has a plot about 300 px wide, not 560
    wide = viz.correlation_heatmap(A, SIX)
    wide.update_layout(height=800)
    viz.fit_layout(wide)
    assert wide.layout.xaxis.tickangle == 0  # 800 px high: about 100 px per tick
    assert list(viz.paper_layout(wide, "double").layout.xaxis.ticktext) == SIX


def test_long_tick_labels_are_cut_and_crowded_ones_thinned_with_full_names_in_the_hover():
    names = [f"a very long label name number {j}" for j in range(30)]
    fig = viz.paper_layout(viz.label_frequency_bar(np.arange(30, 0, -1), names), "column")
    shown = list(fig.layout.xaxis.ticktext)
    assert all(s.endswith("\u2026") for s in shown)
    assert len(shown) < 30 and len(fig.layout.xaxis.tickvals) == len(shown)  # every k-th label
    assert [row[0] for row in fig.data[0].customdata] == names  # hover keeps the full names


def test_paper_layout_wraps_a_long_title_and_grows_the_top_margin():
    df = pd.DataFrame({"strategy": ["crab"] * 3, "n_labeled": [10, 20, 30], "mean": [0.1, 0.2, 0.3],
                       "std": [0.0] * 3})
    title = "Learning curves on go_emotions: Micro-F1 (mean \u00b1 std over seeds)"
    fig = viz.learning_curves(df, metric_name="Micro-F1", title=title)
    short_top = viz.paper_layout(viz.learning_curves(df, title="Curves"), "column").layout.margin.t
    viz.paper_layout(fig, "column")
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) == 2 and " ".join(lines) == title
    assert all(text_width(s, fig.layout.title.font.size) <= 336 - 16 for s in lines)
    assert fig.layout.margin.t > short_top and fig.layout.height == 252  # the plot keeps >= 60 % here
    # a two-line title over a legend of 8 wide entries: the figure grows so the plot keeps 60 %
    many = pd.concat([df.assign(strategy=f"strategy with a long name {i}") for i in range(8)])
    crowded = viz.paper_layout(viz.learning_curves(many, title=title), "column")
    lay = crowded.layout
    usual = 252 - (vfit.title_block_height(1, lay.title.font.size) + 4) - lay.margin.b
    assert lay.height > 252 and lay.height - lay.margin.t - lay.margin.b >= theme.MIN_PLOT_SHARE * usual - 1
    # more than max_title_lines: cut with an ellipsis, the full title kept for a caption
    capped = viz.paper_layout(viz.learning_curves(df, title=title * 3), "column", max_title_lines=2)
    assert capped.layout.title.text.count("<br>") == 1 and capped.layout.title.text.endswith("\u2026")
    assert capped.layout.meta["mlal_fit"]["title"] == title * 3


def test_heatmap_legend_sits_above_the_plot_with_room_and_counts_pairs_not_cells():
    from mlal_core.inspection.round_history import both_directions

    gone = both_directions([(0, 1), (2, 3)])  # two exclusive pairs: four cells
    fig = viz.correlation_heatmap(np.eye(6), SIX, kind="diff", marked_pairs={"exclusive pair gone": gone})
    assert fig.data[1].name == "exclusive pair gone (2)"  # as the Change tab's "2 ... disappeared"
    assert len(fig.data[1].x) == 4  # still a marker at every cell
    legend = fig.layout.legend
    assert (legend.yref, legend.y, legend.yanchor) == ("paper", 1.0, "bottom")  # not below, on the x title
    assert fig.layout.margin.t >= vfit.title_block_height(1, 15) + 16
    some = viz.correlation_heatmap(np.eye(6), SIX, order=[0, 1, 2], marked_pairs={"gone": gone})
    assert some.data[1].name == "gone (1 of 2 shown)"
    assert viz.count_pairs([(1, 2), (2, 1), (1, 2), (3, 0)]) == 2


def test_fit_layout_refuses_bad_options():
    with pytest.raises(ConfigError, match="legend"):
        vfit.fit_layout(go.Figure(), legend="bottom")
    with pytest.raises(ConfigError, match="max_title_lines"):
        vfit.fit_layout(go.Figure(), max_title_lines=0)


# ---------------------------------------------------------------- issue 14: the e2e export sweep
def test_a_title_of_several_lines_gets_the_cap_shift_plotly_drops():
    """plotly moves a one-line top-anchored title down by 0.7 em, a title of several lines not: its first
    line stood 2 px above the canvas (the Learning curves page's per-round figure)."""
    fig = viz.per_round_bars_or_lines(pd.DataFrame({"round": [1, 2], "v": [1.0, 2.0]}), "v",
                                      title="emotions: Conflicting (exclusive-pair) samples in the unlabelled "
                                            "pool per round (mean \u00b1 std over seeds)")
    assert fig.layout.title.text.count("<br>") == 1  # two lines at 700 px, 15 px font
    assert fig.layout.title.pad.t == pytest.approx(12 + 0.7 * 15)
    one = viz.per_round_bars_or_lines(pd.DataFrame({"round": [1, 2], "v": [1.0, 2.0]}), "v", title="Short")
    assert one.layout.title.pad.t == 12
    assert vfit.title_block_height(2, 15) - vfit.title_block_height(1, 15) == pytest.approx(1.3 * 15 + 0.7 * 15)


def test_axes_and_colour_bars_write_numbers_without_si_suffixes():
    tpl = pio.templates[theme.TEMPLATE_NAME].layout
    for axis in (tpl.xaxis, tpl.yaxis, tpl.coloraxis.colorbar):
        assert (axis.exponentformat, axis.minexponent) == ("e", 4)
    data = pio.templates[theme.TEMPLATE_NAME].data
    assert data.heatmap[0].colorbar.exponentformat == "e" and data.scatter[0].marker.colorbar.exponentformat == "e"


def test_log_axes_label_the_decades_only():
    from mlal_core.viz._common import decade_ticks, format_tick_number

    assert decade_ticks(2e-4, 3e-2) == dict(tickmode="array", tickvals=[1e-4, 1e-3, 1e-2, 1e-1],
                                            ticktext=["0.0001", "0.001", "0.01", "0.1"])
    assert decade_ticks(0.002, 0.009) == {}  # under one decade: plotly's own ticks
    assert [format_tick_number(v) for v in (1e-5, 0.00015, 1000, 2.5e6)] == ["1e\u22125", "0.00015", "1000",
                                                                             "2.5e+6"]
    p = np.array([[1e-4, 5e-3, 2e-2], [3e-4, 1e-3, 1e-2]])
    fig = viz.sampling_probability_distribution(p, log_y=True, show_uniform=False)
    assert fig.layout.yaxis.type == "log"
    assert list(fig.layout.yaxis.ticktext) == ["0.0001", "0.001", "0.01", "0.1"]
    bars = viz.label_frequency_bar(np.array([1500, 80, 3]), ["a", "b", "c"], log_y=True)
    assert list(bars.layout.yaxis.ticktext) == ["1", "10", "100", "1000", "10000"]


def test_heatmap_cells_stay_square_and_the_tilt_uses_the_square_side():
    """At 1920 px the plot would be 1700 px wide (280 px a label: level) but square cells keep it as
    wide as it is high (about 300 px at the 450 px screen height), so the six names tilt."""
    for fig in (viz.correlation_heatmap(np.eye(6), SIX, width=1920),
                viz.strategy_overlap_heatmap(viz.jaccard_matrix({s: [i, i + 1] for i, s in enumerate(SIX)}),
                                             width=1920)):
        assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
        assert fig.layout.xaxis.constrain == "domain"
        assert fig.layout.xaxis.tickangle in (-45, -90)
    # a half-width column of a laptop page (about 440 px): the decision is made for that width
    half = viz.correlation_heatmap(np.eye(4), ["joy", "fear", "anger", "love"], width=440)
    assert half.layout.xaxis.tickangle == 0


def test_score_distribution_names_the_set_its_scores_are_over():
    fig = viz.score_distribution(np.linspace(5e-5, 3e-4, 40), np.arange(40) >= 35, set_name="U*")
    assert fig.data[0].name == "U* (40)"
    assert "over U* (40 candidates, 5 picked)" in fig.layout.meta["mlal_fit"]["title"]
    assert viz.score_distribution(np.arange(5.0)).data[0].name == "pool (5)"


def test_curves_and_per_round_figures_show_display_names():
    rows = pd.DataFrame([dict(strategy=s, n_labeled=n, mean=0.5, std=0.1) for s in ("crab", "random")
                         for n in (50, 100)])
    names = {"crab": "CRAB", "random": "Random"}
    fig = viz.learning_curves(rows, display_names=names)
    assert [t.name for t in fig.data if t.showlegend is not False] == ["CRAB", "Random"]
    per = viz.per_round_bars_or_lines(rows.rename(columns={"n_labeled": "round"}), "mean", group="strategy",
                                      display_names=names)
    assert [t.name for t in per.data] == ["CRAB", "Random"]


def test_subplot_titles_wrap_into_their_row_and_rows_make_room_for_them():
    from plotly.subplots import make_subplots

    long = "crab: dQ_AB (correlation-aware expected score change) over U*"
    fig = make_subplots(rows=2, cols=1, subplot_titles=(long, "short"))
    fig.update_layout(template=theme.TEMPLATE_NAME)
    for row in (1, 2):
        fig.add_trace(go.Bar(x=[1, 2], y=[3, 4]), row=row, col=1)
        fig.update_xaxes(title_text="score", row=row, col=1)
    viz.paper_layout(fig, "column")
    first = fig.layout.annotations[0]
    lines = first.text.split("<br>")
    assert len(lines) == 2 and all(text_width(s, first.font.size) <= 336 - 50 - 10 for s in lines)
    assert fig.layout.meta["mlal_fit"]["subplot_titles"]["yaxis"] == [0, long]  # the full text, for a caption
    # the second row's title sits on its row's top edge, the gap above it holds row 1's ticks, x title and it
    assert fig.layout.annotations[1].y == fig.layout.yaxis2.domain[1]
    plot_h = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    gap_px = (fig.layout.yaxis.domain[0] - fig.layout.yaxis2.domain[1]) * plot_h
    assert gap_px >= 3 * 1.15 * 9.5
