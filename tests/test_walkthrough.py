"""The round walk-through, two strategies side by side and "why not" (issue 15, items 1-3).

Fast tests use hand-built rounds with hand-computed ranks; the ``slow`` ones run a real CRAB session
(yeast subset, the FAST model of ``inspect_sessions``) stored in SQLite and reopened.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from inspect_sessions import crab_session, new_session, small_yeast

from mlal_core import strategies
from mlal_core.errors import ConfigError
from mlal_core.inspection import round_history as rh
from mlal_core.inspection import walkthrough as wt
from mlal_core.inspection.why_not import search_positions, why_not
from mlal_core.strategies import QueryContext
from mlal_core.viz.walkthrough import MapLayer, ScoreCut, score_cut_histogram, walkthrough_map


# ---------------------------------------------------------------- hand-built rounds
@dataclasses.dataclass
class _State:
    round: int
    context: object


@dataclasses.dataclass
class _Ctx:
    unlabeled: np.ndarray
    pbar: np.ndarray
    total_rounds: int = 3

    def mean_proba(self):
        return self.pbar


def _inputs(strategy: str, scores, picks, *, pbar=None, details=None, texts=None) -> wt.RoundInputs:
    cand = np.array([0, 1, 2, 3, 4, 5])
    pbar = np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4], [0.5, 0.5], [0.3, 0.8], [0.55, 0.1]]) if pbar is None else pbar
    state = _State(round=2, context=_Ctx(cand, pbar))
    return wt.inputs_from_selection(state, strategy, picks=picks, scores=np.asarray(scores, float), details=details,
                                    diagnostics={}, names=["earn", "acq"], labelled=np.array([6, 7]), texts=texts)


ENTROPY_SCORES = [0.9, 0.2, 0.5, 0.7, 0.3, 0.6]


def test_standing_by_hand():
    # set {1, 2, 3, 4, 4} (NaN left out): 3 has 2 scores above -> rank 3; 3 of 5 at or below -> 60 %; median 3
    assert wt.standing(np.array([1, 2, 3, np.nan, 4, 4]), 3.0) == (3, 60.0, 5, 1.0)
    rank, pct, n, times = wt.standing(np.array([1, 2, 3, 4, 4]), 4.0)
    assert (rank, pct, n) == (1, 100.0, 5) and times == pytest.approx(4 / 3)
    assert wt.standing(np.array([np.nan]), 1.0)[0] is None
    assert np.isnan(wt.standing(np.array([-2.0, -1.0, 0.0]), -1.0)[3])  # no ratio to a median <= 0


def test_why_not_a_sample_below_the_cut_by_hand():
    inp = _inputs("entropy", ENTROPY_SCORES, picks=[0, 3])
    story = why_not(inp, 5)
    # 0.6 among {0.9, 0.2, 0.5, 0.7, 0.3, 0.6}: 0.9 and 0.7 above -> rank 3; 4 of 6 at or below -> 66.7 %;
    # median (0.5 + 0.6) / 2 = 0.55 -> 0.6 / 0.55 = 1.0909 times; the lowest pick is 3 (0.7): 0.1 more
    assert story.status == "not picked" and story.rank == 3 and story.n_over == 6
    assert story.percentile == pytest.approx(400 / 6) and story.times_median == pytest.approx(0.6 / 0.55)
    assert story.over == "the 6 candidates" and story.beaten_by == 3 and story.margin == pytest.approx(0.1)
    assert "rank 3 of 6 in the 6 candidates (percentile 67, 1.09 times the median)" in story.text
    assert "sample 3, scored 0.7" in story.text and "earn, acq" not in story.text  # predicted: earn only
    assert why_not(inp, 0).status == "picked" and why_not(inp, 0).beaten_by is None
    assert why_not(inp, 6).status == "labelled"
    assert why_not(inp, 99).status == "not a candidate"


def test_why_not_when_the_strategy_does_not_rank_by_its_score():
    # BADGE-like: picks 2 and 4 are not the top 2; the story says the score is not the criterion
    inp = _inputs("badge", ENTROPY_SCORES, picks=[2, 4])
    story = why_not(inp, 0)
    assert story.beaten_by == 4 and story.margin == pytest.approx(0.3 - 0.9)
    assert "not by this score" in story.text


def test_default_steps_scores_then_the_cut():
    inp = _inputs("entropy", ENTROPY_SCORES, picks=[0, 3],
                  details=pd.DataFrame({"position": [0, 3], "reason": ["highest score"] * 2}))
    steps = wt.steps_of(inp)
    assert [s.key for s in steps] == ["model", "scores", "cut", "picks"]
    assert [s.title.split(".")[0] for s in steps] == ["1", "2", "3", "4"]
    model = steps[0]
    # predicted sets: pbar > 0.5 -> {earn}, {earn, acq}, {}, {}, {acq}, {earn}
    assert model.numbers["no_label_predicted"] == 2 and model.numbers["mean_predicted_labels"] == pytest.approx(5 / 6)
    cut = steps[2]
    assert cut.numbers["cut"] == 0.7 and cut.numbers["n_at_or_above_cut"] == 2 and cut.numbers["pick_ranks"] == [1, 2]
    assert cut.histogram.cut == 0.7 and cut.histogram.over == "6 scored candidates"
    assert steps[3].numbers["picks"] == [0, 3] and steps[3].numbers["n_labelled_after"] == 4
    assert steps[3].numbers["standing"][1] == "rank 2 of 6 candidates (percentile 83, 1.27 times the median)"


def test_a_strategy_without_scores_gets_a_draw_step():
    steps = wt.steps_of(_inputs("random", [np.nan] * 6, picks=[5, 1]))
    assert [s.key for s in steps] == ["model", "draw", "picks"]
    assert "uniform random draw from the 6 candidates" in steps[1].sentence


def test_side_by_side_ranks_by_hand():
    cand = np.array([10, 11, 12, 13, 14])
    side = wt.side_by_side(cand, {"a": [5, 4, 3, 2, 1], "b": [1, np.nan, 3, 4, 2]}, {"a": [10, 11], "b": [13, 12]},
                           round=4)
    t = side.table.set_index(["picked_by", "position"])
    # b scored {1, 3, 4, 2}: sample 10 (b-score 1) has 3 above -> rank 4, 25 %; sample 11 was not scored by b
    assert t.loc[("a", 10), "other_rank"] == 4 and t.loc[("a", 10), "other_percentile"] == 25.0
    assert t.loc[("a", 11), "other_rank"] is pd.NA and np.isnan(t.loc[("a", 11), "other_score"])
    assert t.loc[("a", 10), "other_standing"] == "rank 4 of 4 scored by b (percentile 25, 0.40 times the median)"
    # a scored all five: 13 (a-score 2) -> rank 4, 40 %; 12 (a-score 3) -> rank 3, 60 %
    assert t.loc[("b", 13), "other_rank"] == 4 and t.loc[("b", 12), "other_rank"] == 3
    assert t.loc[("b", 12), "other_percentile"] == 60.0 and t.loc[("b", 13), "own_rank"] == 1
    assert side.both.size == 0 and side.only("a").tolist() == [10, 11] and side.only("b").tolist() == [12, 13]
    assert side.picked_mask("b").tolist() == [False, False, True, True, False]
    with pytest.raises(ConfigError, match="exactly two"):
        wt.side_by_side(cand, {"a": [1] * 5}, {"a": [10]})


def test_search_positions_finds_candidates_by_text():
    texts = ["oil prices rise", "wheat exports", "crude oil falls", "gold", "OIL", "bank", "x", "y"]
    inp = _inputs("entropy", ENTROPY_SCORES, picks=[0, 3], texts=texts)
    assert search_positions(inp, "oil") == [0, 2, 4]
    assert search_positions(_inputs("entropy", ENTROPY_SCORES, picks=[0, 3]), "oil") == []


def test_walkthrough_map_layers_by_pool_position():
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [3.0, 2.0]])
    positions = np.array([3, 8, 20, 21])
    layers = [MapLayer("pool", [8, 21, 99]), MapLayer("score", [3, 20], kind="values", values=[0.1, 0.9]),
              MapLayer("picks", [20], kind="ring", text=("1",))]
    fig = walkthrough_map(xy, positions, layers)
    names = [tr.name for tr in fig.data]
    assert names == ["candidates (4)", "pool (2)", "score (2)", "picks (1)"]  # 99 is not on the map
    assert [row[0] for row in fig.data[1].customdata] == [8, 21]
    assert list(fig.data[2].x) == [0.0, 2.0] and fig.data[3].text == ("1",)
    with pytest.raises(ConfigError, match="ascending"):
        walkthrough_map(xy, positions[::-1], layers)
    with pytest.raises(ConfigError, match="needs values"):
        MapLayer("bad", [1, 2], kind="values")
    with pytest.raises(ConfigError, match="2 values for 3 positions"):
        MapLayer("bad", [1, 2, 3], kind="category", values=[0, 1])


def test_walkthrough_map_counts_the_candidates_apart_from_the_labelled_set():
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [3.0, 2.0], [4.0, 1.0]])
    positions = np.array([3, 8, 20, 21, 30])
    fig = walkthrough_map(xy, positions, [MapLayer("picks", [20])], labelled=[3, 30, 99], title=None)
    assert [tr.name for tr in fig.data] == ["candidates (3)", "labelled before the round (2)", "picks (1)"]
    assert [row[0] for row in fig.data[1].customdata] == [3, 30]
    assert not fig.layout.title.text  # the page's step heading is the title
    # a layer that draws exactly the labelled set already: no second legend entry for it
    same = walkthrough_map(xy, positions, [MapLayer("L_t", [3, 30])], labelled=[3, 30])
    assert [tr.name for tr in same.data] == ["candidates (3)", "L_t (2)"]


def test_walkthrough_map_fits_its_colour_bar_title_and_legend_at_paper_size():
    from mlal_core.viz import paper_layout
    from mlal_core.viz.text_metrics import text_width

    name = "dQ_AB (correlation-aware expected score change)"
    rng = np.random.default_rng(0)
    fig = walkthrough_map(rng.normal(size=(50, 2)), np.arange(50),
                          [MapLayer(name, np.arange(10, 50), kind="values", values=rng.random(40), value_name=name)],
                          labelled=np.arange(10))
    assert fig.layout.legend.orientation == "h" and fig.layout.margin.t > 60  # legend rows above the plot
    paper_layout(fig, "column")
    bar = fig.data[2].marker.colorbar
    plot_h = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    lines = bar.title.text.split("<br>")
    assert len(lines) <= 2 and all(text_width(s, bar.title.font.size) <= plot_h for s in lines)
    assert fig.layout.meta["mlal_fit"]["colorbars"]["trace2"] == name


def test_comparison_histograms_one_short_y_title_per_row_and_room_between_the_rows():
    from mlal_core.viz import paper_layout
    from mlal_core.viz.walkthrough import comparison_histograms

    rng = np.random.default_rng(1)
    m = np.zeros(40, bool)
    m[:5] = True
    fig = comparison_histograms(rng.random(40) * 3e-4, rng.random(40) * 4, m, m[::-1], name_a="crab",
                                name_b="entropy", score_name_a="crab: dQ_AB (correlation-aware expected score change)",
                                score_name_b="entropy: entropy (bits, summed over labels)")
    assert not fig.layout.annotations  # no row titles repeating the x titles
    assert (fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text) == ("Count", "Count")
    assert fig.layout.xaxis.title.text.endswith("(40 scored)")
    assert [t.name for t in fig.data if t.showlegend is not False] == ["crab picks (5)", "entropy picks (5)"]
    paper_layout(fig, "column")
    plot_h = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    gap = (fig.layout.yaxis.domain[0] - fig.layout.yaxis2.domain[1]) * plot_h
    # row 1's tick labels (9.5 px), its x title on two lines (10.5 px) and the paddings
    assert gap >= 1.15 * 9.5 + 10 + (1.3 + 1.15) * 10.5 + 8
    assert fig.layout.xaxis.title.text.count("<br>") == 1


def test_score_cut_histogram_draws_the_cut_and_names_the_set():
    cut = ScoreCut(np.array([0.1, 0.5, np.nan, 0.9]), "dQ_AB", "the 3 samples of U*",
                   np.array([False, False, False, True]), cut=0.5, cut_label="cut 0.5")
    fig = score_cut_histogram(cut)
    assert fig.layout.title.text == "dQ_AB over the 3 samples of U* (3 scored, 1 picked)"
    assert [s.x0 for s in fig.layout.shapes] == [0.5]


# ---------------------------------------------------------------- the strategies' records
@dataclasses.dataclass
class _Round:
    """A round's state as the walk-through reads it: its context and a fresh copy of its rng."""

    round: int
    context: QueryContext
    seed: int

    def fresh_context(self) -> QueryContext:
        return dataclasses.replace(self.context, rng=np.random.default_rng(self.seed))


def _synthetic_round(n_pool: int = 150, n_lab: int = 30, K: int = 4, seed: int = 0) -> _Round:
    rng = np.random.default_rng(seed)
    n = n_pool + n_lab
    Y = (rng.random((n, K)) < np.linspace(0.15, 0.45, K)).astype(np.uint8)
    mean = np.clip(0.2 + 0.6 * Y + rng.normal(0, 0.15, (n, K)), 0.02, 0.98)
    proba = rng.beta(mean * 8, (1 - mean) * 8, size=(4, n, K))
    features = (Y @ rng.normal(size=(K, 12)) + rng.normal(0, 0.5, (n, 12))).astype(np.float32)
    lab = np.arange(n_lab)
    ctx = QueryContext(labeled=lab, unlabeled=np.arange(n_lab, n), y_labeled=Y[lab], proba_samples=proba,
                       features=features, round=1, total_rounds=4)
    return _Round(round=1, context=ctx, seed=seed)


def _round_inputs(state: _Round, name: str, sel, params: dict, *, diagnostics=None, picks=None, recompute=True):
    return wt.inputs_from_selection(
        state, name, picks=sel.indices if picks is None else picks, scores=sel.scores, details=sel.details,
        diagnostics=sel.diagnostics if diagnostics is None else diagnostics, names=["a", "b", "c", "d"],
        labelled=state.context.labeled, params=params, recompute=recompute)


def _without(d: dict, *keys: str) -> dict:
    """A round's diagnostics as a store written before the strategies recorded ``keys`` holds them."""
    return {k: v for k, v in d.items() if k not in keys}


@pytest.mark.parametrize("name", ["crab", "besra"])
def test_clusters_come_from_the_record_and_an_older_round_recomputes_them(name, monkeypatch):
    state = _synthetic_round(n_pool=100)
    params = {"n_reference": 20}
    sel = strategies.get(name, **params).select(state.fresh_context(), 5)
    rec = sel.diagnostics["clusters"]
    with monkeypatch.context() as m:  # with the record nothing is run again
        m.setattr(strategies, "get", lambda *a, **k: pytest.fail("the walk-through re-ran the strategy"))
        recorded = _round_inputs(state, name, sel, params)
    cl = recorded.clusters
    assert cl.reproduced and cl.over == ("U*" if name == "crab" else "the top 50% by score")
    np.testing.assert_array_equal(cl.positions, rec["positions"])
    np.testing.assert_array_equal(cl.labels, rec["cluster"])
    np.testing.assert_array_equal(cl.distances, rec["distance_to_centroid"])
    steps = {s.key: s for s in wt.steps_of(recorded)}
    layer = steps["clusters"].layers[0]
    assert layer.kind == "category" and layer.positions.size == rec["positions"].size
    assert steps["clusters"].numbers["clustered"] == rec["positions"].size
    # a round stored before the record: the strategy runs again on the round (public select, same rng)
    older = _round_inputs(state, name, sel, params, diagnostics=_without(sel.diagnostics, "clusters"))
    assert older.clusters.reproduced
    assert [s.to_dict() for s in wt.steps_of(older)] == [s.to_dict() for s in wt.steps_of(recorded)]
    for p in recorded.candidates:
        assert why_not(older, int(p)).lines == why_not(recorded, int(p)).lines
    # without recomputation (or when the new run does not give the recorded picks) only the picks' clusters
    bare = _round_inputs(state, name, sel, params, diagnostics=_without(sel.diagnostics, "clusters"),
                         recompute=False)
    step = {s.key: s for s in wt.steps_of(bare)}["clusters"]
    assert bare.clusters is None and [layer.kind for layer in step.layers] == ["ring"]
    assert step.sentence.endswith("not known: this round did not record them.")
    other = _round_inputs(state, name, sel, params, diagnostics=_without(sel.diagnostics, "clusters"),
                          picks=sel.indices[::-1])
    step = {s.key: s for s in wt.steps_of(other)}["clusters"]
    assert other.clusters.reproduced is False and step.numbers["reproduced"] is False
    assert "did not give its picks" in step.sentence and [layer.kind for layer in step.layers] == ["ring"]


def test_why_not_a_tie_with_the_cluster_pick_by_hand():
    # sample 3 sits exactly as far from centre 0 as the pick 1 (both recorded at 0.25): a tie, gap 0
    details = pd.DataFrame({"position": [1, 4], "cluster": [0, 1], "distance_to_centroid": [0.25, 0.1],
                            "reason": ["nearest"] * 2})
    inp = _inputs("besra", ENTROPY_SCORES, picks=[1, 4], details=details)
    inp.clusters = wt.Clusters(positions=np.array([1, 2, 3, 4]), labels=np.array([0, 1, 0, 1]),
                               distances=np.array([0.25, 0.5, 0.25, 0.1]), over="the top 67% by score",
                               space="L2-normalised dQ vectors", reproduced=True)
    story = why_not(inp, 3)
    assert story.cluster == 0 and story.beaten_by == 1 and story.margin == 0.0
    assert "just as far: a tie" in story.text
    story = why_not(inp, 2)
    assert story.beaten_by == 4 and story.margin == pytest.approx(0.4) and "0.4 farther" in story.text
    assert "It was not in the top 67% by score" in why_not(inp, 5).text


@pytest.mark.slow
def test_comal_steps_map_every_candidate_from_the_record():
    from mlal_core import contrastive as cl

    state = _synthetic_round(n_pool=60, n_lab=40)
    params = {"epochs": 2, "d_u": 8, "d_z": 4, "embedding_cap": 30, "device": "cpu"}
    sel = strategies.get("comal", **params).select(state.fresh_context(), 4)
    d = sel.diagnostics
    inp = _round_inputs(state, "comal", sel, params)
    steps = {s.key: s for s in wt.steps_of(inp)}
    for key, col in (("slci", "SLCI"), ("pfd", "PFD")):
        layer = steps[key].layers[0]
        np.testing.assert_array_equal(layer.positions, inp.candidates)
        np.testing.assert_array_equal(layer.values, d[col].astype(float))
        assert steps[key].numbers["n_shown"] == 60 and steps[key].histogram.over == "60 candidates"
        assert "every one of the 60 candidates, as the round recorded it" in steps[key].sentence
    # an older round: recomputed from the k-values kept for a sample, the same values there
    older = _round_inputs(state, "comal", sel, params, diagnostics=_without(d, "SLCI", "PFD"))
    emb = d["embeddings"]
    unl = emb["role"] != "labelled"
    assert older.comal["source"] == "kept sample"
    np.testing.assert_array_equal(older.comal["positions"], emb["positions"][unl])
    np.testing.assert_allclose(older.comal["slci"], cl.slci(emb["k"][unl].astype(float), d["kbar"],
                                                            d["label_cardinality"]))
    rows = np.searchsorted(inp.candidates, older.comal["positions"])
    np.testing.assert_allclose(older.comal["slci"], d["SLCI"][rows], atol=1e-5)
    np.testing.assert_allclose(older.comal["pfd"], d["PFD"][rows], atol=1e-5)
    step = {s.key: s for s in wt.steps_of(older)}["pfd"]
    assert step.histogram is None and f"of the {int(unl.sum())} candidates whose embeddings" in step.sentence


# ---------------------------------------------------------------- a real CRAB session
@pytest.fixture(scope="module")
def stored_crab(tmp_path_factory):
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.store import SessionStore

    path = tmp_path_factory.mktemp("walkthrough") / "s.sqlite"
    live = new_session("crab", rounds_to_run=2, store=SessionStore(path))
    reopened = ActiveLearningSession.resume(SessionStore(path), live.session_id, dataset=small_yeast())
    return live, reopened


@pytest.mark.slow
def test_crab_steps_equal_the_stored_diagnostics(stored_crab):
    live, reopened = stored_crab
    t = 1
    rec = rh.query_records(reopened)[t]
    d = rec.selection.diagnostics
    inp = wt.round_inputs(reopened, t)
    steps = {s.key: s for s in wt.round_walkthrough(reopened, t, inputs=inp)}
    assert list(steps) == ["model", "correlations", "labels", "pools", "refined_pool", "scores", "clusters", "picks"]
    assert steps["model"].numbers["n_candidates"] == rec.n_candidates and steps["model"].numbers["n_labelled"] == 40
    corr = steps["correlations"].numbers
    assert corr["asymmetric_pairs"] == len(d["asymmetric_pairs"]) and corr["exclusive_pairs"] == len(d["exclusive_pairs"])
    assert corr["tau"] == d["tau"]
    labels = steps["labels"].numbers
    assert labels["n_kept"] == len(d["kept_labels"]) and labels["n_dropped"] == len(d["dropped_labels"])
    sizes = d["pool_sizes"]
    pools = steps["pools"]
    assert (pools.numbers["label_wise"], pools.numbers["negative"], pools.numbers["hard_to_learn"]) == (
        sizes["label-wise"], sizes["negative"], sizes["hard-to-learn"])
    assert [layer.positions.size for layer in pools.layers] == [sizes["label-wise"], sizes["negative"],
                                                                sizes["hard-to-learn"]]
    refined = steps["refined_pool"].numbers
    assert refined["refined"] == sizes["refined"] == len(d["refined_pool"]) and refined["top_up"] == sizes["top-up"]
    src = d["refined_pool_sources"]
    assert refined["picks_from_top_up"] == int(np.isin(rec.selected, src.loc[src["top_up"], "position"]).sum())
    assert f"{sizes['top-up']} candidates were added at random" in steps["refined_pool"].sentence or sizes["top-up"] == 0
    scores = steps["scores"]
    assert scores.numbers["n_scored"] == len(d["refined_pool"]) and scores.histogram.over == f"the {sizes['refined']} samples of U*"
    clusters = steps["clusters"]
    assert clusters.numbers["reproduced"] is True and clusters.numbers["n_clusters"] == len(rec.selected)
    assert clusters.layers[0].kind == "category" and clusters.layers[0].positions.size == sizes["refined"]
    # the clusters are the round's record, as stored (compact dtypes kept by the store)
    stored = d["clusters"]
    assert (stored["cluster"].dtype, stored["distance_to_centroid"].dtype) == (np.int16, np.float32)
    np.testing.assert_array_equal(inp.clusters.positions, stored["positions"])
    np.testing.assert_array_equal(inp.clusters.labels, stored["cluster"])
    np.testing.assert_array_equal(clusters.layers[0].values, stored["cluster"].astype(float))
    for p, c in zip(rec.selection.details["position"], rec.selection.details["cluster"]):
        assert inp.clusters.cluster_of(int(p)) == int(c)
    picks = steps["picks"].numbers
    assert picks["picks"] == rec.selected.tolist() and picks["n_labelled_after"] == 50
    # the reopened session gives the same steps as the live one
    again = [s.to_dict() for s in wt.round_walkthrough(live, t)]
    assert again == [s.to_dict() for s in wt.round_walkthrough(reopened, t)]


@pytest.mark.slow
def test_a_store_written_before_the_records_still_walks_through(stored_crab, tmp_path):
    """A copy of the stored session with the round's clusters removed from its diagnostics (as every
    store written before CRAB recorded them): reopened, the walk-through re-runs CRAB on the rebuilt
    round and shows the same steps as from the record."""
    import sqlite3
    from contextlib import closing

    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.store import SessionStore, decode_payload, encode_payload

    live, reopened = stored_crab
    t = 1
    rec = rh.query_records(reopened)[t]
    path = tmp_path / "older.sqlite"
    with closing(sqlite3.connect(live.store.path)) as src, closing(sqlite3.connect(path)) as dst:
        src.backup(dst)  # the WAL's pages too
    with closing(sqlite3.connect(path)) as con, con:
        (blob,) = con.execute("SELECT diagnostics FROM rounds WHERE session_id = ? AND round = ?",
                              (live.session_id, rec.round)).fetchone()
        older_diag = _without(decode_payload(blob), "clusters")
        con.execute("UPDATE rounds SET diagnostics = ? WHERE session_id = ? AND round = ?",
                    (encode_payload(older_diag), live.session_id, rec.round))
    older = ActiveLearningSession.resume(SessionStore(path), live.session_id, dataset=small_yeast())
    assert "clusters" not in rh.query_records(older)[t].selection.diagnostics
    inp = wt.round_inputs(older, t)
    assert inp.clusters is not None and inp.clusters.reproduced
    np.testing.assert_array_equal(inp.clusters.labels, rec.selection.diagnostics["clusters"]["cluster"])
    assert [s.to_dict() for s in wt.round_walkthrough(older, t, inputs=inp)] == [
        s.to_dict() for s in wt.round_walkthrough(reopened, t)]


@pytest.mark.slow
def test_why_not_in_a_crab_round(stored_crab):
    _, reopened = stored_crab
    inp = wt.round_inputs(reopened, 1)
    pool = inp.diagnostics["refined_pool"]
    outside = int(np.setdiff1d(inp.candidates, pool)[0])
    story = why_not(inp, outside)
    assert story.rank is None and "only U* is scored" in story.text and "never reached the scoring" in story.text
    in_pool = [int(p) for p in pool if p not in set(inp.picks.tolist())][0]
    story = why_not(inp, in_pool)
    s = inp.scores[inp.row_of(in_pool)]
    u = inp.scores[np.isfinite(inp.scores)]
    assert story.rank == int((u > s).sum()) + 1 and story.n_over == pool.size
    assert story.percentile == pytest.approx(100 * (u <= s).mean()) and story.over == f"the {pool.size} samples of U*"
    c = inp.clusters.cluster_of(in_pool)
    det = inp.details.set_index("cluster")
    rival = int(det.loc[c, "position"])
    assert story.cluster == c and story.beaten_by == rival
    # both distances as the round recorded them (the rival pick's own cluster is c here)
    dist = dict(zip(inp.clusters.positions.tolist(), inp.clusters.distances.tolist()))
    assert inp.clusters.cluster_of(rival) == c
    assert story.margin == dist[in_pool] - dist[rival]
    assert dist[rival] == pytest.approx(det.loc[c, "distance_to_centroid"], rel=1e-6)


@pytest.mark.slow
def test_compare_on_round_and_the_map(stored_crab):
    _, reopened = stored_crab
    side = wt.compare_on_round(reopened, 1, "crab", "entropy")
    rec = rh.query_records(reopened)[1]
    assert np.array_equal(np.sort(side.picks["crab"]), np.sort(rec.selected))  # same model, same rng
    ent = side.scores["entropy"]
    for _, row in side.table.loc[side.table["picked_by"] == "crab"].iterrows():
        s = ent[np.searchsorted(side.candidates, row["position"])]
        assert row["other_rank"] == int((ent > s).sum()) + 1
    rmap = wt.round_map(reopened, 1, method="pca")
    assert np.array_equal(rmap.positions, np.union1d(side.candidates, rh.labelled_at(reopened, 1)[0]))
    assert wt.round_map(reopened, 1, method="pca") is rmap  # projected once
    figs = wt.comparison_figures(side, rmap, labelled=rh.labelled_at(reopened, 1)[0])
    assert set(figs) == {"map", "histograms"}
    shared = [tr.name for tr in figs["map"].data if tr.name.startswith("picked by both")]
    assert shared == [f"picked by both ({side.both.size})"]


def _text_context(ctx):
    """The round's context with real texts (Reuters stories, cut to 12 words so ALPS's language model is quick)."""
    from conftest import subset_dataset

    from mlal_core import data

    reuters = subset_dataset(data.load("reuters21578"), ctx.n_pool, 10, 10, seed=3)
    return dataclasses.replace(ctx, texts=[" ".join(str(x).split()[:12]) for x in reuters.train.texts])


def _strategy_names():
    from mlal_core import strategies

    return [info.name for info in strategies.available()]


SMALL_PARAMS = {"comal": {"epochs": 2, "embedding_cap": 100}, "dal": {"sub_batches": 2, "epochs": 2}}


@pytest.mark.slow
@pytest.mark.parametrize("name", _strategy_names())
def test_every_strategy_gets_model_scores_picks(name, tmp_path_factory):
    from mlal_core import strategies

    session = crab_session()
    state = rh.round_state(session, 1)
    params = dict(SMALL_PARAMS.get(name, {}))
    if name == "alps":
        from test_strategy_contract import make_tiny_mlm

        params.update(mlm=make_tiny_mlm(tmp_path_factory.mktemp("mlm")), max_length=16, batch_size=64)
    ctx = state.fresh_context()
    if "texts" in strategies.info(name).needs:
        ctx = _text_context(ctx)
    sel = strategies.get(name, **params).select(ctx, 5)
    inp = wt.inputs_from_selection(state, name, picks=sel.indices, scores=sel.scores, details=sel.details,
                                   diagnostics=sel.diagnostics, names=rh.label_names(session),
                                   labelled=rh.labelled_at(session, 1)[0], params=params, texts=ctx.texts)
    steps = wt.steps_of(inp)
    keys = [s.key for s in steps]
    assert keys[0] == "model" and keys[-1] == "picks" and len(keys) >= 3
    assert ("draw" in keys) if name == "random" else ("scores" in keys or "slci" in keys)
    assert steps[-1].numbers["picks"] == sel.indices.tolist()
    for step in steps:  # every layer names candidates or labelled samples, every figure builds
        for layer in step.layers:
            assert np.isin(layer.positions, np.union1d(inp.candidates, inp.labelled)).all()
        if step.histogram is not None:
            assert wt.step_histogram(step) is not None
    if name in ("crab", "besra"):
        assert inp.clusters is not None and inp.clusters.reproduced


# ------------------------------------------------------------------ the step's numbers as tables
def test_step_tables_name_quantities_and_separate_per_pick_lists():
    from mlal_core.inspection.walkthrough import Step
    from mlal_core.inspection.walkthrough_tables import quantity_name, shown_value, step_tables

    step = Step("picks", "7. The picks", "sentence", {"n_candidates": 1344, "tau": 0.25, "refined": 40,
                                                      "picks": [5, 9], "standing": ["1st", "2nd"],
                                                      "kept": ["joy", "anger"], "median": float("nan")}, ())
    numbers, per_pick = step_tables(step, 2)
    assert list(numbers.columns) == ["quantity", "value", "key"]
    rows = dict(zip(numbers["key"], zip(numbers["quantity"], numbers["value"])))
    assert rows["n_candidates"] == ("candidates (count)", "1,344")
    assert rows["tau"] == ("τ (exclusion threshold)", "0.25")
    assert rows["refined"][0].startswith("U*")
    assert rows["kept"] == ("kept", "joy; anger")  # a two-item list that is not per pick stays a value
    assert rows["median"][1] == "n/a"
    assert "picks" not in rows and "standing" not in rows
    assert per_pick.to_dict("list") == {"pick": [1, 2], "position": [5, 9], "standing": ["1st", "2nd"]}
    assert step_tables(Step("model", "1.", "s", {"n_picks": 3}, ()), 3)[1] is None
    assert quantity_name("mean_predicted_labels") == "mean predicted labels"
    assert shown_value(12345.678) == "12,346" and shown_value(0.000184321) == "0.0001843" and shown_value(True) == "yes" and shown_value([]) == "(none)"


def test_step_map_counts_candidates_apart_from_the_labelled_set_and_can_drop_its_title():
    from mlal_core.inspection.walkthrough import RoundMap, Step, step_map

    rmap = RoundMap(round=1, positions=np.arange(10), xy=np.random.default_rng(0).normal(size=(10, 2)),
                    method="pca", features="raw features", labelled=np.array([0, 1, 2]))
    step = Step("model", "1. The model", "s", {}, ())
    fig = step_map(rmap, step)
    names = [t.name for t in fig.data]
    assert "candidates (7)" in names, names  # 10 mapped points, 3 of them labelled
    assert any(n and n.startswith("labelled") and "(3)" in n for n in names), names
    assert "1. The model" in (fig.layout.title.text or "")
    assert not step_map(rmap, step, title=None).layout.title.text
