"""AppTest of the Round walk-through page (issue 15, items 1-3): a CRAB round clicked through step by
step, every number shown checked against what the round stored (``Selection.diagnostics``, the picks,
the scores); two strategies side by side (CRAB and Entropy) with each pick's rank by the other counted
by hand; "why was this one not picked?" by pool position and by a click on the map; a tabular Entropy
round (model -> score -> cut -> picks); and a text session, whose texts can be searched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_page_ok as _ok
from inspect_sessions import FAST_MODEL, crab_session, new_session
from streamlit.testing.v1 import AppTest

from mlal_core.inspection import round_history as rh

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "round_walkthrough.py")


def _app(session=None, **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    if session is not None:
        at.session_state["al_session"] = session
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    _ok(at)
    return at


def _numbers(at: AppTest) -> dict[str, str]:
    """The step's quantity / value table as shown."""
    df = next(d.value for d in at.dataframe if list(d.value.columns) == ["quantity", "value", "key"])
    return dict(zip(df["key"], df["value"].str.replace(",", "")))  # counts have thousands separators


def _per_pick(at: AppTest):
    return next(d.value for d in at.dataframe if "pick" in d.value.columns)


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _trace_names(fig: dict) -> list[str]:
    return [tr.get("name") for tr in fig["data"]]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _stored_scores(session, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The round's candidates and the scores its record holds, aligned (NaN = not scored)."""
    rec = rh.query_records(session)[t]
    cand = rh.round_candidates(session, t)
    scores = np.asarray(rec.selection.scores, dtype=float)
    assert scores.shape == cand.shape
    return cand, scores


@pytest.fixture(scope="module")
def crab():
    return crab_session()


def test_without_a_session_and_before_the_first_round():
    at = _app()
    assert any("No active-learning session" in i.value for i in at.info)
    at = _app(new_session("random", rounds_to_run=0))
    assert any("No round has been run yet" in i.value for i in at.info)


def test_click_through_a_crab_round_shows_the_stored_diagnostics(crab):
    t = 1
    rec = rh.query_records(crab)[t]
    d = rec.selection.diagnostics
    sizes = d["pool_sizes"]
    at = _app(crab)  # the last round, mapped with t-SNE (the default)
    assert at.select_slider(key="wt_round").value == t
    assert any("Map: t-SNE of" in c.value for c in at.caption)
    at.radio(key="wt_method").set_value("PCA (fast)").run()
    _ok(at)
    titles = at.selectbox(key="wt_step").options
    assert [s.split(". ", 1)[0] for s in titles] == [str(i) for i in range(1, 9)]
    assert at.button(key="wt_prev").disabled and not at.button(key="wt_next").disabled

    def step(i: int) -> dict[str, str]:
        assert at.selectbox(key="wt_step").value == i
        assert at.subheader[0].value == titles[i]
        assert _charts(at)[0]["layout"]["title"]["text"] == titles[i]  # the map of this step
        return _numbers(at)

    n = step(0)  # the model
    assert n["n_candidates"] == str(rec.n_candidates) == str(crab.n_pool - rec.n_labeled)
    assert n["n_labelled"] == str(rec.n_labeled) == "40"
    at.button(key="wt_next").click().run()
    n = step(1)  # A / NegA
    assert n["asymmetric_pairs"] == str(len(d["asymmetric_pairs"]))
    assert n["exclusive_pairs"] == str(len(d["exclusive_pairs"])) and n["tau"] == f"{d['tau']:.4g}"
    at.button(key="wt_next").click().run()
    n = step(2)  # kept and dropped labels
    assert n["n_kept"] == str(len(d["kept_labels"])) and n["n_dropped"] == str(len(d["dropped_labels"]))
    assert n["kept"] == "; ".join(crab.dataset.label_names[j] for j in d["kept_labels"])
    at.button(key="wt_next").click().run()
    n = step(3)  # the three pools
    assert (n["label_wise"], n["negative"], n["hard_to_learn"], n["union"]) == (
        str(sizes["label-wise"]), str(sizes["negative"]), str(sizes["hard-to-learn"]), str(sizes["union"]))
    assert n["per_label_size_M"] == str(d["per_label_size"]) and n["Z_t"] == str(d["Z_t"])
    assert f"label-wise pool ({sizes['label-wise']})" in _trace_names(_charts(at)[0])
    at.button(key="wt_next").click().run()
    n = step(4)  # U* and its top-up
    src = d["refined_pool_sources"]
    from_top_up = int(np.isin(rec.selected, src.loc[src["top_up"].astype(bool), "position"]).sum())
    assert n["refined"] == str(sizes["refined"]) == str(len(d["refined_pool"]))
    assert n["top_up"] == str(sizes["top-up"]) and n["picks_from_top_up"] == str(from_top_up)
    assert n["target_2n"] == str(2 * len(rec.selected))
    if sizes["top-up"]:
        assert f"U*: random top-up ({sizes['top-up']})" in _trace_names(_charts(at)[0])
    at.button(key="wt_next").click().run()
    n = step(5)  # dQ_AB over U*
    _, scores = _stored_scores(crab, t)
    u = scores[np.isfinite(scores)]
    assert n["n_scored"] == str(len(d["refined_pool"])) == str(u.size)
    assert n["median"] == f"{np.median(u):.4g}" and n["max"] == f"{u.max():.4g}"
    hist = _charts(at)[1]["layout"]["title"]["text"]
    assert hist.startswith("dQ_AB") and f"over the {sizes['refined']} samples of U*" in hist
    at.button(key="wt_next").click().run()
    n = step(6)  # k-means clusters
    assert n["n_clusters"] == str(len(rec.selected)) and n["reproduced"] == "yes"
    assert n["distinct_clusters"] == str(d["kmeans"]["distinct_clusters"])
    assert n["clustered"] == str(sizes["refined"])
    at.button(key="wt_next").click().run()
    n = step(7)  # the picks
    assert n["n_labelled_after"] == str(rec.n_labeled + len(rec.selected))
    picks = _per_pick(at)
    assert picks["position"].tolist() == [int(p) for p in rec.selected]
    # each pick's standing is its rank among U*'s stored scores, counted here
    cand = rh.round_candidates(crab, t)
    for p, words in zip(rec.selected, picks["standing"]):
        s = scores[np.searchsorted(cand, p)]
        assert words.startswith(f"rank {int((u > s).sum()) + 1} of {u.size} samples of U*")
    assert at.button(key="wt_next").disabled
    # back, and the selector jumps
    at.button(key="wt_prev").click().run()
    _ok(at)
    assert at.selectbox(key="wt_step").value == 6
    at.selectbox(key="wt_step").set_value(2).run()
    _ok(at)
    assert at.subheader[0].value == titles[2]


def test_why_not_by_position_and_by_a_click_on_the_map(crab):
    t = 1
    rec = rh.query_records(crab)[t]
    cand, scores = _stored_scores(crab, t)
    u = scores[np.isfinite(scores)]
    in_u = [int(p) for p, s in zip(cand, scores) if np.isfinite(s) and p not in set(rec.selected.tolist())]
    at = _app(crab, wt_method="PCA (fast)")
    assert any("Click a point of the map" in c.value for c in at.caption)
    pos = in_u[0]
    at.number_input(key="wt_position").set_value(pos).run()
    _ok(at)
    s = scores[np.searchsorted(cand, pos)]
    m = _metrics(at)
    assert m["Status"] == "not picked" and m["Score"] == f"{s:.4g}"
    assert m["Rank"] == f"{int((u > s).sum()) + 1} of {u.size}"
    beaten = int(m["Beaten by"].split()[-1])
    assert beaten in set(rec.selected.tolist())  # the pick of its cluster
    story = " ".join(md.value for md in at.markdown)
    assert f"Sample {pos} " in story and "It was in U*, drawn into" in story and f"sample {beaten}" in story
    assert f"sample {pos} (1)" in _trace_names(_charts(at)[0])  # highlighted on the map
    # a click on the map: the point carries its pool position as customdata[0]
    outside = int(np.setdiff1d(cand, cand[np.isfinite(scores)])[0])
    at.session_state["chart_wt_map"] = {"selection": {"points": [{"customdata": [outside, ""], "curve_number": 0,
                                                                  "point_index": 0}],
                                                      "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    _ok(at)
    assert at.number_input(key="wt_position").value == outside
    m = _metrics(at)
    assert m["Status"] == "not picked" and m["Rank"] == "n/a"
    assert "only U* is scored" in " ".join(md.value for md in at.markdown)
    # a labelled sample and a pick
    labelled = int(rh.labelled_at(crab, t)[0][0])
    at.number_input(key="wt_position").set_value(labelled).run()
    _ok(at)
    assert _metrics(at)["Status"] == "labelled"
    at.number_input(key="wt_position").set_value(int(rec.selected[0])).run()
    _ok(at)
    assert _metrics(at)["Status"] == "picked"


def test_crab_and_entropy_side_by_side(crab):
    t = 1
    rec = rh.query_records(crab)[t]
    at = _app(crab, wt_method="PCA (fast)")
    at.radio(key="wt_mode").set_value("Two strategies side by side").run()
    _ok(at)
    assert at.selectbox(key="wt_other").value == "entropy"
    assert "crab" not in at.selectbox(key="wt_other").options
    at.button(key="wt_compare").click().run()
    _ok(at)
    table = next(d.value for d in at.dataframe if "other_rank" in d.value.columns)
    crab_rows = table.loc[table["picked_by"] == "crab"]
    ent_rows = table.loc[table["picked_by"] == "entropy"]
    # the same model and rng: CRAB picks its recorded samples again
    assert sorted(crab_rows["position"]) == sorted(int(p) for p in rec.selected)
    # entropy's score of every candidate, read back from its own picks' rows and ranked here
    side = next(iter(at.session_state["wt_sides"].values()))
    ent = side.scores["entropy"]
    cand = rh.round_candidates(crab, t)
    top = cand[np.argsort(-ent, kind="stable")[: len(rec.selected)]]
    assert sorted(ent_rows["position"]) == sorted(top.tolist())  # entropy takes its top scores
    for _, row in crab_rows.iterrows():
        s = ent[np.searchsorted(cand, row["position"])]
        assert row["other_rank"] == int((ent > s).sum()) + 1
    both = np.intersect1d(rec.selected, top)
    m = _metrics(at)
    assert m["Picked by both"] == str(both.size)
    assert m["Only crab"] == str(len(rec.selected) - both.size) and m["Only entropy"] == str(top.size - both.size)
    figs = _charts(at)
    assert f"picked by both ({both.size})" in _trace_names(figs[0])
    assert figs[1]["layout"]["title"]["text"] == "crab and entropy: scores and picks"


def test_a_tabular_entropy_round_model_score_cut_picks():
    s = new_session("entropy", rounds_to_run=1)
    rec = rh.query_records(s)[0]
    cand, scores = _stored_scores(s, 0)
    at = _app(s, wt_method="PCA (fast)")
    keys = [o.split(". ", 1)[1] for o in at.selectbox(key="wt_step").options]
    assert keys == ["The model: predicted label sets and uncertainty",
                    "The score: entropy (bits, summed over labels)", "The cut: the top scores are picked", "The picks"]
    at.button(key="wt_next").click().run()
    n = _numbers(at)
    assert n["n_scored"] == str(cand.size) == str(rec.n_candidates)
    assert n["median"] == f"{np.median(scores):.4g}"
    at.button(key="wt_next").click().run()
    _ok(at)
    n = _numbers(at)
    cut = scores[np.isin(cand, rec.selected)].min()
    assert n["cut"] == f"{cut:.4g}" and n["n_at_or_above_cut"] == str(int((scores >= cut).sum()))
    ranks = _per_pick(at)["pick_ranks"].tolist()
    assert ranks == [int((scores > scores[np.searchsorted(cand, p)]).sum()) + 1 for p in rec.selected]
    assert "cut: lowest pick" in json.dumps(_charts(at)[1]["layout"])
    at.button(key="wt_next").click().run()
    _ok(at)
    assert _per_pick(at)["position"].tolist() == [int(p) for p in rec.selected]


def test_a_text_session_searches_the_texts(small_datasets):
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession

    cfg = SessionConfig(representation="tfidf", strategy="entropy", model_params=dict(FAST_MODEL),
                        initial_size=20, query_size=5, rounds=1)
    s = ActiveLearningSession(cfg, dataset=small_datasets["reuters_small"])
    s.run(rounds=1)
    texts = s.dataset.train.texts
    cand = rh.round_candidates(s, 0)
    at = _app(s, wt_method="PCA (fast)")
    at.text_input(key="wt_search").set_value("oil").run()
    _ok(at)
    hits = at.selectbox(key="wt_hit").options
    expected = [int(p) for p in cand if "oil" in str(texts[int(p)]).lower()][:20]
    assert hits and [int(h.split(":")[0].split()[1]) for h in hits] == expected
    at.selectbox(key="wt_hit").set_value(expected[0]).run()
    _ok(at)
    assert at.number_input(key="wt_position").value == expected[0]
    assert _metrics(at)["Status"] in ("picked", "not picked")
    assert any(str(texts[expected[0]])[:40].replace("\n", " ") in md.value for md in at.markdown)
