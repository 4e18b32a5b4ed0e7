"""A BESRA round narrowed by ``max_score_terms`` (issue 18): the candidates it did not score have NaN
scores, and the Active learning and Selection inspector pages, the histogram and the JSON export say
so ("scored N of M candidates (max_score_terms = ...)") and never show them as a score of 0.

The session: the small yeast session of ``inspect_sessions`` (370 unlabelled samples, 14 labels) with
BESRA's reference set at 370 samples, so 370 x 370 x 14 = 1,916,600 dQ terms exceed the smallest bound,
``max_score_terms = 1,000,000``: 1,000,000 // (370 x 14) = 193 candidates are scored."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from conftest import page_with_session as _page
from inspect_sessions import new_session
from streamlit.testing.v1 import AppTest

from mlal_core.inspection import round_history as ins
from mlal_core.inspection import views
from mlal_core.session.store import SessionStore

pytestmark = [pytest.mark.app, pytest.mark.slow]

BOUND = 1_000_000
SCORED, CANDIDATES = 193, 370
STATEMENT = f"scored {SCORED} of {CANDIDATES} candidates (max_score_terms = {BOUND:,})"


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory):
    store = SessionStore(tmp_path_factory.mktemp("bound") / "sessions.sqlite")
    session = new_session("besra", rounds_to_run=1, store=store,
                          strategy_params={"max_score_terms": BOUND, "n_reference": CANDIDATES})
    return session, store


def _values(encoded) -> np.ndarray:
    """An array of a plotly JSON figure: a list, or plotly's ``{"dtype", "bdata"}`` base64 form."""
    if isinstance(encoded, dict):
        flat = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
        return flat.reshape(encoded["shape"]) if "shape" in encoded and isinstance(encoded["shape"], list) else flat
    return np.asarray(encoded, dtype=float)


def _texts(at: AppTest) -> list[str]:
    return [str(el.value) for kind in ("caption", "markdown", "info") for el in getattr(at, kind)]


def test_the_round_is_narrowed_and_its_scores_are_nan(narrowed):
    session, _ = narrowed
    sel = session.history[0].selection
    bound = sel.diagnostics["score_bound"]
    assert bound["narrowed"] and (bound["n_scored"], bound["n_candidates"]) == (SCORED, CANDIDATES)
    assert int(np.isfinite(sel.scores).sum()) == SCORED and int(np.isnan(sel.scores).sum()) == CANDIDATES - SCORED
    among = ins.ranked_among(session, 0)
    assert among["n_scored"] == SCORED and STATEMENT in among["words"]
    note = views.score_bound_note(sel.diagnostics)
    assert note is not None and STATEMENT in note and f"other {CANDIDATES - SCORED}" in note
    assert views.score_bound_note({"score_bound": {**bound, "narrowed": False}}) is None
    assert views.score_bound_note(None) is None


def test_the_selection_inspector_states_the_bound_and_bins_only_scored_candidates(narrowed):
    session, _ = narrowed
    at = _page("pages/selection_inspector.py", session)
    assert any(STATEMENT in t for t in _texts(at)), "the percentile / rank caption names the bound"
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    hist = [c for c in charts if f"of the {SCORED} scored candidates" in c["layout"]["title"]["text"]]
    assert len(hist) == 1, [c["layout"].get("title") for c in charts]
    bars = [tr for tr in hist[0]["data"] if tr.get("type") == "bar"]
    assert len(bars) == 1
    counts = _values(bars[0]["y"])
    assert int(counts.sum()) == SCORED, "the histogram counts the scored candidates only (NaN is not binned as 0)"
    scored = session.history[0].selection.scores
    left_edges = _values(bars[0]["customdata"]).reshape(len(counts), 2)[:, 0]
    assert left_edges[0] == pytest.approx(float(np.nanmin(scored)))  # 0 would be the first edge if NaN became 0
    assert float(np.nanmin(scored)) > 0
    picks = next(df.value for df in at.dataframe if "score_rank" in df.value.columns)
    assert picks["score"].notna().all() and (picks["score"] > 0).all()
    assert picks["score_rank"].max() <= SCORED


def test_the_active_learning_page_states_the_bound_under_the_picks(narrowed):
    session, _ = narrowed
    at = _page("pages/active_learning.py", session)
    notes = [t for t in _texts(at) if "Score bound:" in t]
    assert len(notes) == 1 and STATEMENT in notes[0] and "not a score of 0" in notes[0]


def test_the_json_export_keeps_unscored_candidates_empty(narrowed, tmp_path):
    session, store = narrowed
    path = store.export_json(session.session_id, tmp_path / "session.json")
    doc = json.loads(path.read_text())
    scores = doc["rounds"][0]["scores"]
    assert len(scores) == CANDIDATES
    assert sum(v is None for v in scores) == CANDIDATES - SCORED
    assert sum(v == 0 for v in scores) == 0
    assert doc["rounds"][0]["diagnostics"]["score_bound"]["n_scored"] == SCORED
