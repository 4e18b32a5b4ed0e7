"""AppTest of the stopping rules on the pages (issue 19, item 3): each rule's state after each round on
Active learning, and each rule's stop next to the oracle's round on Learning curves (markers on the
curves and the comparison table)."""

from __future__ import annotations

import json

import pytest
from conftest import assert_page_ok as _ok
from conftest import page_with_session as _page
from inspect_sessions import new_session
from streamlit.testing.v1 import AppTest

from mlal_core import stopping
from mlal_core.inspection import stopping_views, views


def _frame(at: AppTest, column: str):
    return next(df for df in at.dataframe if column in df.value.columns)


def test_active_learning_shows_each_rules_state_after_each_round():
    session = new_session("entropy", rounds_to_run=4, rounds=6)  # not finished: the page runs on its own
    at = _page("pages/active_learning.py", session)
    assert any(h.value == "When to stop" for h in at.subheader)
    now = _frame(at, "first stop")
    table = now.value.set_index("criterion")
    assert list(table.index) == [c.name for c in stopping.default_criteria()]
    kappa = stopping.StabilizingPredictions().evaluate(session.history)
    assert table.loc["Stabilizing predictions (kappa)", "value"] == pytest.approx(kappa[-1].value)
    assert table.loc["Stabilizing predictions (kappa)", "explanation"] == kappa[-1].explanation
    assert table.loc["Stabilizing predictions (kappa)", "threshold"] == 0.99
    assert "(glossary#stopping-criterion)" in json.loads(now.proto.columns)["criterion"]["help"]
    by_round = _frame(at, "labelled").value
    assert list(by_round["round"]) == [0, 1, 2, 3] and list(by_round["labelled"]) == [30, 40, 50, 60]
    change = stopping.ClassificationChange().evaluate(session.history)
    assert by_round["Classification change"].tolist() == pytest.approx([s.value for s in change], nan_ok=True)
    help_text = json.loads(_frame(at, "labelled").proto.columns)["Overall uncertainty"]["help"]
    assert "Zhu, Wang & Hovy 2008" in help_text and "(glossary#overall-uncertainty)" in help_text
    # a label budget adds its rule: it would stop from the round with 50 labels on
    at.number_input(key="al_stop_budget").set_value(50).run()
    _ok(at)
    table = _frame(at, "first stop").value.set_index("criterion")
    assert table.loc["Label budget", "first stop"] == "round 2 (50 labelled)"
    by_round = _frame(at, "labelled").value
    assert ["Label budget" in s for s in by_round["would stop here"]] == [False, False, True, True]


@pytest.fixture
def two_seeds(mlal_home):
    from mlal_core.session.store import SessionStore

    store = SessionStore(mlal_home / "sessions.sqlite")
    return [new_session("entropy", rounds_to_run=4, store=store, seed=0),
            new_session("entropy", rounds_to_run=4, store=store, seed=1)]


def _traces(at: AppTest) -> list[dict]:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"]


def test_learning_curves_mark_each_rules_stop_next_to_the_oracle(two_seeds):
    at = _page("pages/learning_curves.py", two_seeds[0])
    assert any(h.value == "When to stop" for h in at.subheader)
    markers = {t["name"]: t for t in _traces(at) if t.get("mode") == "markers"}
    assert "oracle: 95 % of final score" in markers and "stop: Stabilizing predictions (kappa)" in markers
    assert markers["oracle: 95 % of final score"]["marker"]["symbol"] == "star"
    # the same numbers as computed directly from the store
    store = two_seeds[0].store
    ids = [s.session_id for s in two_seeds]
    runs = views.session_rounds(store, ids).assign(curve="entropy")
    outcomes = stopping_views.curve_outcomes(runs, stopping_views.session_stop_columns(store, ids), "micro_f1")
    expected = stopping_views.stop_comparison(outcomes, "curve").set_index("rule")
    table = _frame(at, "labels vs 95 % oracle").value.set_index("rule")
    assert list(table.index) == list(expected.index)
    for col in ("stop round", "labels at stop", "oracle round (95 % of final)", "labels vs 95 % oracle",
                "labels saved"):
        assert table[col].tolist() == pytest.approx(expected[col].tolist(), nan_ok=True)
    assert table.loc["Stabilizing predictions (kappa)", "fired"].endswith("/2")
    help_text = json.loads(_frame(at, "labels vs 95 % oracle").proto.columns)["labels vs 95 % oracle"]["help"]
    assert "(glossary#oracle-round)" in help_text
    # the markers can be turned off; one curve per session puts one marker per session and rule
    at.checkbox(key="lc_stop_marks").uncheck().run()
    _ok(at)
    assert not [t for t in _traces(at) if t.get("mode") == "markers"]
    at.checkbox(key="lc_stop_marks").check().run()
    at.radio(key="lc_by").set_value("session").run()
    _ok(at)
    kappa = next(t for t in _traces(at) if t["name"] == "stop: Stabilizing predictions (kappa)")
    assert len(kappa["text"]) == 2
