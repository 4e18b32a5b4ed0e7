"""AppTest of the pages Correlations, Selection inspector and Embeddings: they render with and
without a session, and their main controls work (round slider, label sorting, choosing a pick, the
other-strategies comparison, t-SNE / UMAP projections)."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_sessions import comal_session, crab_session
from streamlit.testing.v1 import AppTest

from mlal_core import inspect as ins

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("pages/correlations.py", "pages/selection_inspector.py", "pages/embeddings.py")


def _app(page: str, session=None, timeout: float = 300) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=timeout)
    if session is not None:
        at.session_state["al_session"] = session
    at.run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


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
    at.select_slider(key="corr_change_range").set_value(("L_0", "whole pool")).run()
    _ok(at)
    at.radio(key="corr_change_matrix").set_value("NegA").run()
    _ok(at)
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
    assert m["Percentile in the pool"] == f"{info['percentile']:.1f}"
    assert m["Rank"] == f"{info['rank']} of {info['n_scored']}"
    assert any("Refined pool(s)" in md.value for md in at.markdown)
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
    at.select_slider(key="emb_round").set_value(0).run()
    _ok(at)
    assert "round 0" in at.get("plotly_chart")[0].proto.spec
    at.selectbox(key="emb_colour").set_value("one label (positive / negative)").run()
    _ok(at)
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
def test_embeddings_umap_shows_a_message_while_compiling(comal):
    from mlal_core import projection

    at = _app("pages/embeddings.py", comal)
    at.radio(key="emb_source").set_value("CoMAL label-wise embeddings").run()
    warm = projection.umap_is_warm()
    at.radio(key="emb_method").set_value("UMAP").run()
    _ok(at)
    assert "UMAP 1" in at.get("plotly_chart")[0].proto.spec
    if not warm:
        assert any("UMAP compiles" in i.value for i in at.info)
