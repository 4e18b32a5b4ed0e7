"""AppTest of the pages Correlations, Selection inspector, Embeddings and Learning curves: they
render with and without a session, show no error box, and their main controls work (round slider,
label sorting, choosing a pick from the table or the chart, the other-strategies comparison, t-SNE /
UMAP projections, one curve per session or per strategy and setting, the metric switch)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_page_ok as _ok
from inspect_sessions import comal_session, crab_session, new_session
from streamlit.testing.v1 import AppTest

from mlal_core.inspection import projection, views
from mlal_core.inspection import round_history as ins

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("pages/correlations.py", "pages/selection_inspector.py", "pages/embeddings.py")


def _app(page: str, session=None, timeout: float = 300) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=timeout)
    if session is not None:
        at.session_state["al_session"] = session
    at.run()
    _ok(at)
    return at


def _metrics(at: AppTest) -> dict:
    out: dict = {}
    for m in at.metric:  # the first of a label (the change tab repeats some)
        out.setdefault(m.label, m.value)
    return out


@pytest.fixture(scope="module")
def crab():
    return crab_session()


@pytest.fixture(scope="module")
def comal():
    return comal_session()


@pytest.mark.parametrize("page", PAGES)
def test_pages_without_a_session_say_what_to_do(page):
    at = _app(page)
    assert any("No active-learning session" in i.value for i in at.info)


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_with_a_session(page, crab):
    at = _app(page, crab)
    assert at.expander and "What am I looking at?" in at.expander[0].label
    assert at.get("plotly_chart"), "every page draws at least one figure"
    assert at.get("download_button"), "figures and tables come with export buttons"


@pytest.mark.parametrize("page", PAGES)
def test_pages_with_a_session_before_its_first_round(page):
    from inspect_sessions import new_session

    at = _app(page, new_session("random", rounds_to_run=0))
    if page.endswith("selection_inspector.py"):
        assert any("No round has been run yet" in i.value for i in at.info)
    else:
        assert at.get("plotly_chart")  # the initial labelled set already has correlations and a map


# ---------------------------------------------------------------- correlations
def test_correlations_round_slider_sorting_and_change(crab):
    at = _app("pages/correlations.py", crab)
    assert _metrics(at)["Labelled samples"] == "50"
    at.select_slider(key="corr_round").set_value(0).run()
    _ok(at)
    snap0 = ins.correlation_at(crab, 0)
    m = _metrics(at)
    assert m["Labelled samples"] == "30"
    # the labelled set of a round is written L₀, L₁, ... (not "L_0") in the slider, the titles and the help
    assert at.select_slider(key="corr_round").options[0] == "L₀ (30 labelled)"
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any("of L₀ (30 labelled samples)" in t for t in titles)
    assert next(x.proto.help for x in at.metric if x.label == "Labelled samples").startswith("The size of L₀.")
    assert not [c.value for c in at.caption if "L_" in c.value]
    assert m["Asymmetric pairs"] == str(len(snap0.asymmetric_pairs))
    assert m["Exclusive pairs"] == str(len(snap0.exclusive_pairs))
    at.selectbox(key="corr_order_by").set_value("cluster").run()
    _ok(at)
    at.slider(key="corr_top_k").set_value(5).run()
    _ok(at)
    heat = at.get("plotly_chart")[0].proto.spec
    assert "5 of 14 labels" in heat
    at.multiselect(key="corr_only").set_value([0, 1, 2]).run()
    _ok(at)
    at.radio(key="corr_matrix").set_value("NegA").run()
    _ok(at)
    at.select_slider(key="corr_change_range").set_value(("L₀", "whole pool")).run()
    _ok(at)
    at.radio(key="corr_change_matrix").set_value("NegA").run()
    _ok(at)
    ch = ins.correlation_change(snap0, ins.correlation_at(crab, 2))
    at.select_slider(key="corr_change_range").set_value(("L₀", "L₂")).run()
    _ok(at)
    assert any(c.value.startswith(views.pair_change_text(ch, "L₀", "L₂")) for c in at.caption)
    assert any("an exclusive pair is symmetric: two cells" in c.value for c in at.caption)
    # the CRAB pairs table follows the round slider
    assert len(at.dataframe) >= 2


# ---------------------------------------------------------------- selection inspector
def test_inspector_choose_a_pick_and_a_round(crab):
    at = _app("pages/selection_inspector.py", crab)
    rec = ins.query_records(crab)[1]
    pick = at.selectbox(key="insp_pick")
    assert pick.value == int(rec.selected[0])
    third = int(rec.selected[2])
    pick.set_value(third).run()
    _ok(at)
    info = ins.pick_explanation(crab, 1, third)
    m = _metrics(at)
    # CRAB ranks over its refined pool U*, not the unlabelled pool: every percentile and rank names its set
    assert info["percentile_label"] == "Percentile in U*" and info["rank_label"] == "Rank in U*"
    assert m["Percentile in U*"] == f"{info['percentile']:.1f}"
    assert m["Rank in U*"] == f"{info['rank']} of {info['n_scored']}"
    assert "Percentile in the pool" not in m and "Rank" not in m
    helps = {x.label: x.proto.help for x in at.metric}
    among = info["ranked_among"]
    assert among.startswith(f"the {info['n_scored']} samples of U* (CRAB's refined candidate pool")
    assert helps["Percentile in U*"].startswith(f"Over {among}.") and "(glossary#percentile)" in helps["Rank in U*"]
    assert helps["Rank in U*"].startswith(f"Rank {info['rank']} of {among}.")
    assert "(glossary#dq-ab)" in helps["Score"]  # CRAB's score is dQ_AB
    assert any(c.value.startswith(f"Percentile and rank are over {among}.") and "(glossary#u-star)" in c.value
               for c in at.caption)
    # the picks table's columns explain themselves, with links to the glossary
    picks_table = next(d for d in at.dataframe if '"dQ_AB"' in d.proto.columns)
    picks_cols = picks_table.proto.columns
    assert "(glossary#dq-ab)" in picks_cols and "(glossary#u-star)" in picks_cols
    # readable headings naming the scored set, scores to 4 significant digits, ranked_among only in the CSV
    config = json.loads(picks_cols)
    assert config["score_percentile"]["label"] == "Percentile in U*" and config["score_rank"]["label"] == "Rank in U*"
    assert config["n_labels"]["label"] == "Labels (count)" and config["answered_by"]["label"] == "Answered by"
    assert config["ranked_among"] == {"hidden": True} and "ranked_among" in picks_table.value.columns
    assert config["dQ_AB"]["type_config"]["format"] == config["score"]["type_config"]["format"] == "%.4g"
    assert config["score_percentile"]["type_config"]["format"] == "%.1f"
    # each "What am I looking at?" ends with its glossary links
    for section in at.expander:
        if section.label.startswith("What am I looking at?"):
            assert section.markdown[-1].value.startswith("Glossary: [")
    assert any("Refined pool(s)" in md.value for md in at.markdown)
    assert any("covers few labels" in c.value for c in at.caption)  # MeanIR read with coverage (issue 17)
    at.select_slider(key="insp_round").set_value(0).run()
    _ok(at)
    assert at.selectbox(key="insp_pick").value == int(ins.query_records(crab)[0].selected[0])


def test_inspector_compares_strategies_on_the_same_model(crab):
    at = _app("pages/selection_inspector.py", crab)
    at.multiselect(key="insp_strats").set_value(["crab", "random", "entropy"]).run()
    at.button(key="insp_compare").click().run()
    _ok(at)
    result = at.session_state["insp_comparisons"][(ins.session_key(crab), 1)]
    assert list(result.jaccard.columns) == ["recorded (crab)", "crab", "random", "entropy"]
    assert result.jaccard.loc["recorded (crab)", "crab"] == 1.0
    assert any("picks the recorded samples again" in c.value for c in at.caption)
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "Overlap of the picks in round 1" in specs


def test_inspector_comal_shows_k_profile(comal):
    at = _app("pages/selection_inspector.py", comal)
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "prototype similarity per label" in specs


# ---------------------------------------------------------------- embeddings
def test_embeddings_features_tsne_and_round_slider(crab):
    at = _app("pages/embeddings.py", crab)
    spec = at.get("plotly_chart")[0].proto.spec
    assert "t-SNE of the features" in spec and "picked (10)" in spec
    assert at.select_slider(key="emb_round").options[0] == "round 0: L₀ labelled, then 10 picked"
    at.select_slider(key="emb_round").set_value(0).run()
    _ok(at)
    assert "round 0" in at.get("plotly_chart")[0].proto.spec
    assert any("samples of L₀ and" in c.value for c in at.caption)
    at.selectbox(key="emb_colour").set_value("one label (positive / negative)").run()
    _ok(at)
    assert any("Labelled samples (L₀) show" in c.value for c in at.caption)
    at.selectbox(key="emb_colour").set_value("number of labels").run()
    _ok(at)
    # CoMAL's embeddings are offered for CoMAL sessions only
    assert at.radio(key="emb_source").options == ["Features (what the model sees)"]


def test_embeddings_comal_label_views(comal):
    at = _app("pages/embeddings.py", comal)
    at.radio(key="emb_source").set_value("CoMAL label-wise embeddings").run()
    _ok(at)
    spec = at.get("plotly_chart")[0].proto.spec
    assert "CoMAL embeddings z_j for label" in spec and "prototypes (1)" in spec
    at.radio(key="emb_comal_view").set_value("Several labels (CoMAL Fig. 1 / 12)").run()
    _ok(at)
    labels = at.multiselect(key="emb_comal_labels").value
    assert 1 <= len(labels) <= 4
    assert f"prototypes ({len(labels)})" in at.get("plotly_chart")[0].proto.spec


@pytest.mark.slow
def test_embeddings_umap_of_comal_embeddings_leaves_no_note_above_the_map(comal):
    at = _app("pages/embeddings.py", comal)
    at.radio(key="emb_source").set_value("CoMAL label-wise embeddings").run()
    at.radio(key="emb_method").set_value("UMAP").run()  # a real compile when this process has not warmed UMAP
    _ok(at)
    assert "UMAP 1" in at.get("plotly_chart")[0].proto.spec
    # the note shown while it compiled is cleared once the map is drawn (its timing: the next test)
    assert not any("UMAP compiles" in i.value for i in at.info)


def _chart(at: AppTest, key: str) -> dict:
    """The plotly figure of the chart with widget key ``key``."""
    return json.loads(next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith(key)))


def _traces(at: AppTest, i: int = 0) -> list[dict]:
    return json.loads(at.get("plotly_chart")[i].proto.spec)["data"]


def _dense(Y):
    return np.asarray(Y.toarray() if hasattr(Y, "toarray") else Y)


# ---------------------------------------------------------------- embeddings: whose labels, which features
def test_embeddings_colour_labelled_samples_with_the_sessions_labels():
    """A person answered round 0 with labels that are not the ground truth: the map counts theirs."""
    s = new_session("random", rounds_to_run=0)
    pending = s.propose()
    s.commit(pending, labels=1 - _dense(s.dataset.train.Y)[pending.selected])
    lab, lab_y = ins.labelled_at(s, 1)
    truth = _dense(s.dataset.train.Y)[lab]
    j = int(np.argmax(np.abs(lab_y.sum(axis=0) - truth.sum(axis=0))))
    at = _app("pages/embeddings.py", s)
    at.select_slider(key="emb_round").set_value(1).run()  # L_1: the initial set and the person's answers
    _ok(at)
    at.selectbox(key="emb_colour").set_value("one label (positive / negative)").run()
    _ok(at)
    at.selectbox(key="emb_label").set_value(j).run()
    _ok(at)
    names = {t.get("name") for t in _traces(at)}
    assert f"positive (labelled) ({int(lab_y[:, j].sum())})" in names
    assert int(lab_y[:, j].sum()) != int(truth[:, j].sum())
    assert f"unknown (unlabelled) ({s.n_pool - len(lab)})" in names  # a person's session: no ground truth shown
    assert any("a person is the oracle" in c.value for c in at.caption)


def test_embeddings_of_a_token_session_use_tfidf_and_say_so(small_datasets):
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession

    cfg = SessionConfig(model="textcnn", model_params={"n_members": 2}, initial_size=20, query_size=5, rounds=1)
    s = ActiveLearningSession(cfg, dataset=small_datasets["reuters_small"])
    at = _app("pages/embeddings.py", s)
    assert any("TF-IDF features of the texts" in c.value and "token ids" in c.value for c in at.caption)
    assert "t-SNE of the features (600 pool samples)" in at.get("plotly_chart")[0].proto.spec


def test_embeddings_umap_message_only_when_a_fit_happens(crab, monkeypatch):
    """UMAP not compiled yet: the "compiles ... 10-30 s" note shows once while the map is fitted (not
    twice, not left above the finished map), and not when the map comes from the disk cache; opening
    the page with UMAP warms it up in the background."""
    from streamlit.delta_generator import DeltaGenerator

    fitted = []
    events: list[tuple] = []  # the page's notes and the fits, in the order they happened
    plain_info = DeltaGenerator.info

    def info(self, body, *args, **kwargs):  # a placeholder's .info (st.info itself is bound at import)
        events.append(("note", str(body)))
        return plain_info(self, body, *args, **kwargs)

    def fake_compute(X, method, params):  # no numba: a stand-in fit
        fitted.append((method, X.shape))
        events.append(("fit", X.shape))
        return np.random.default_rng(len(fitted)).normal(size=(X.shape[0], 2)).astype(np.float32)

    monkeypatch.setattr(DeltaGenerator, "info", info)

    if projection._warm_thread is not None:  # a real warm-up an earlier test started must not end in this one
        projection._warm_thread.join(timeout=300)
    monkeypatch.setattr(projection, "_compute", fake_compute)
    monkeypatch.setattr(projection, "_umap_warm", False)
    at = _app("pages/embeddings.py", crab)
    events.clear()
    at.radio(key="emb_method").set_value("UMAP").run()
    _ok(at)
    notes = [i for i, e in enumerate(events) if e[0] == "note" and "UMAP compiles" in e[1]]
    map_fit = next(i for i, e in enumerate(events) if e[0] == "fit" and e[1] != (60, 4))  # not the warm-up
    assert len(notes) == 1 and notes[0] < map_fit, events  # shown once, before the fit it waits for
    assert not any("UMAP compiles" in i.value for i in at.info), "the note is cleared when the map is drawn"
    projection._warm_thread.join(timeout=60)
    assert ("umap", (60, 4)) in fitted  # the background warm-up ran (on its tiny array)
    n_fits = len(fitted)
    projection.clear_memory_cache()  # a new server process: the map is on disk only
    at.run()
    _ok(at)
    assert not any("UMAP compiles" in i.value for i in at.info)
    projection._warm_thread.join(timeout=60)
    assert fitted[n_fits:] == [("umap", (60, 4))]  # only the background warm-up again, no map fit
    assert "UMAP 1" in at.get("plotly_chart")[0].proto.spec


# ---------------------------------------------------------------- selection inspector: clicks, CoMAL words
def test_inspector_table_row_and_chart_point_choose_the_pick(crab):
    at = _app("pages/selection_inspector.py", crab)
    rec = ins.query_records(crab)[1]
    at.session_state["table_insp_picks_r1"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    _ok(at)
    third = int(rec.selected[2])
    assert at.selectbox(key="insp_pick").value == third
    info = ins.pick_explanation(crab, 1, third)
    assert f"pool sample {third}" in [t.get("name") for t in _chart(at, "chart_insp_scores_r1")["data"]]
    assert {m.label: m.value for m in at.metric}["Rank in U*"] == f"{info['rank']} of {info['n_scored']}"
    # a click on a tick of the score chart: the point carries the candidate index as customdata
    fifth = int(rec.selected[4])
    idx = int(np.flatnonzero(ins.round_candidates(crab, 1) == fifth)[0])
    at.session_state["chart_insp_scores_r1"] = {"selection": {"points": [{"customdata": idx, "curve_number": 1,
                                                                          "point_index": 4}],
                                                              "point_indices": [4], "box": [], "lasso": []}}
    at.run()
    _ok(at)
    assert at.selectbox(key="insp_pick").value == fifth
    assert f"pool sample {fifth}" in [t.get("name") for t in _chart(at, "chart_insp_scores_r1")["data"]]
    # the table's selection did not change since: it does not take the pick back
    at.run()
    _ok(at)
    assert at.selectbox(key="insp_pick").value == fifth


def test_inspector_explains_comal_and_the_batch_strategies(comal, crab):
    at = _app("pages/selection_inspector.py", comal)
    latex = " ".join(el.value for el in at.latex)
    assert r"\mathrm{SLCI}(x)" in latex and r"\mathrm{PFD}(x)" in latex and r"\mathrm{LC}" in latex
    words = " ".join(md.value for md in at.markdown)
    # CoMAL's own names (Eq. 7 and 8), not the earlier guesses at the abbreviations
    assert "Similarity-enhanced Label Cardinality Inconsistency, CoMAL Eq. 7" in words
    assert "Positive Feature Diversity, CoMAL Eq. 8" in words
    assert "sample label cardinality inconsistency" not in words and "prototype feature distance" not in words
    assert {"slci", "pfd", "prototype", "comal"} <= {k for md in at.markdown for k in
                                                     re.findall(r"\(glossary#([a-z0-9-]+)\)", md.value)}
    assert "**k-center greedy**" in words and "take one per cluster" not in words
    at = _app("pages/selection_inspector.py", crab)
    assert "SLCI" not in " ".join(el.value for el in at.latex)


def test_inspector_rebuilds_a_rounds_model_on_demand():
    s = new_session("entropy", rounds_to_run=1)
    at = _app("pages/selection_inspector.py", s)
    assert not any("mean predicted probabilities" in c.value for c in at.caption)
    at.button(key="insp_rebuild").click().run()
    _ok(at)
    state = ins.cached_state(s, 0)
    assert state is not None and state.source == "replayed"
    pos = int(ins.query_records(s)[0].selected[0])
    expected = ins.pick_prediction(state, pos, ins.label_names(s), 5)
    assert any(expected in c.value and "model rebuilt in" in c.value for c in at.caption)


# ---------------------------------------------------------------- learning curves
@pytest.fixture
def stored_sessions(mlal_home):
    """Four stored sessions: random seeds 0 and 1 and entropy with query size 10, random with 20."""
    from mlal_core.session.store import SessionStore

    store = SessionStore(mlal_home / "sessions.sqlite")
    out = [new_session("random", store=store, seed=0), new_session("random", store=store, seed=1),
           new_session("entropy", store=store, seed=0), new_session("random", store=store, seed=2, query_size=20)]
    return out


def _curve_names(at: AppTest) -> list[str]:
    """The curves' legend names (not the stop markers' traces, issue 19)."""
    return [t["name"] for t in _traces(at) if t.get("showlegend") is not False and t.get("mode") != "markers"]


def test_learning_curves_keep_settings_apart_and_draw_the_full_data_score(stored_sessions):
    at = AppTest.from_file(str(ROOT / "pages/learning_curves.py"), default_timeout=300)
    at.session_state["al_session"] = stored_sessions[0]
    at.run()
    _ok(at)
    assert set(_curve_names(at)) == {"random \u00b7 query size 10", "random \u00b7 query size 20",
                                     "entropy \u00b7 query size 10"}
    assert any("query size 10; query size 20" in i.value or "query size 20; query size 10" in i.value
               for i in at.info)
    assert any("MLP ensemble (2 members, 64 hidden units) on the standardised tabular features" in c.value
               for c in at.caption)
    auc_table = next(df for df in at.dataframe if "AULC (mean)" in df.value.columns)
    auc = auc_table.value.set_index("curve")
    assert auc.loc["random \u00b7 query size 10", "sessions"] == 2
    # one session has no std (not 0), and the page says why; one number of decimals per column
    assert auc.loc["random \u00b7 query size 10", "AULC (std over sessions)"] > 0
    assert np.isnan(auc.loc["entropy \u00b7 query size 10", "AULC (std over sessions)"])
    assert any("the std needs at least two seeds" in c.value for c in at.caption)
    config = json.loads(auc_table.proto.columns)
    assert config["AULC (mean)"]["type_config"]["format"] == "%.4f"
    assert config["AULC (std over sessions)"]["type_config"]["format"] == "%.4f"
    assert "at least two seeds" in config["AULC (std over sessions)"]["help"]
    at.button(key=f"lc_ref_{stored_sessions[-1].session_id}").click().run()  # the newest session comes first
    _ok(at)
    metric = next(m for m in at.metric if m.label == "Full-data Micro-F1")
    full = [t for t in _traces(at) if t["name"].startswith("full-data score")]
    assert len(full) == 1 and full[0]["name"] == f"full-data score {metric.value[:5]}"


def test_learning_curves_one_curve_per_session_and_the_metric_switch(stored_sessions):
    at = AppTest.from_file(str(ROOT / "pages/learning_curves.py"), default_timeout=300)
    at.session_state["al_session"] = stored_sessions[0]
    at.run()
    _ok(at)
    at.radio(key="lc_by").set_value("session").run()
    _ok(at)
    names = _curve_names(at)
    assert len(names) == 4 and all(s.session_id[:6] in " ".join(names) for s in stored_sessions)
    at.selectbox(key="lc_metric").set_value("ndcg@3").run()
    _ok(at)
    assert "Learning curves on yeast-inspect: nDCG@3" in at.get("plotly_chart")[0].proto.spec
    assert any("true label ranked first counts more" in c.value for c in at.caption)
    per = [t for t in _traces(at) if t.get("showlegend") is not False]
    s0 = next(t for t in per if stored_sessions[0].session_id[:6] in t["name"])
    records = [r for r in stored_sessions[0].history]
    y = s0["y"]  # plotly writes arrays as base64 ("bdata") with their dtype
    y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]) if isinstance(y, dict) else np.asarray(y)
    assert y == pytest.approx([r.metrics["ndcg@3"] for r in records])
