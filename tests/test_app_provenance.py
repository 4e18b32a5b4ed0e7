"""Who labelled what, as the app shows it (issue 14, item 3, app side), and the issue's small visible items.

* The sidebar, the picks tables of Active learning and the Selection inspector, and the Learning
  curves page say when a person answered a round (``RoundRecord.answered_by``); the paired
  statistics leave person-labelled sessions out unless the user includes them.
* A delta that rounds to zero is ``0.000`` in grey; the session list counts the samples labelled
  after the last stored round; the CRAB-pairs sentence counts a symmetric pair once; a person
  labelling a tabular sample sees its most distinctive features, named and standardised.

The decisions live in ``mlal_core.inspection.views`` / ``feature_summary`` and are tested directly;
the AppTests (marked ``app``) check that the pages show them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import assert_page_ok as _ok
from inspect_sessions import new_session
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from mlal_core.errors import ConfigError
from mlal_core.inspection import feature_summary, views

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300


def _rec(t: int, answered_by: str | None, final: bool = False) -> SimpleNamespace:
    """A stand-in record: what ``oracle_summary`` reads of a ``RoundRecord``."""
    return SimpleNamespace(round=t, selected=None if final else np.arange(3), answered_by=answered_by)


def _person_session(store=None, seed: int = 0, strategy: str = "random"):
    """Round 0 answered by a person (the complement of the truth), round 1 by the simulated oracle."""
    s = new_session(strategy, rounds_to_run=0, store=store, seed=seed)
    pending = s.propose()
    Y = s.dataset.train.Y
    truth = np.asarray(Y.toarray() if hasattr(Y, "toarray") else Y)[pending.selected]
    s.commit(pending, labels=1 - truth)
    s.run(rounds=1)
    return s


# ---------------------------------------------------------------- the words, tested directly
def test_oracle_summary_names_the_person_rounds():
    assert views.oracle_summary([_rec(0, "simulated"), _rec(1, "simulated"), _rec(2, None, final=True)]) == \
        "simulated (ground truth)"
    recs = [_rec(0, "simulated"), _rec(1, "simulated"), _rec(2, "person"), _rec(3, "person"), _rec(4, "simulated")]
    assert views.oracle_summary(recs) == "a person (rounds 2, 3), simulated otherwise"
    assert views.oracle_summary(recs, "simulated") == "a person (rounds 2, 3), simulated otherwise"
    assert views.oracle_summary(recs, "person") == \
        "a person (rounds 2, 3), simulated otherwise; next picks: a person"
    many = [_rec(t, "person") for t in (0, 1, 2, 3, 5)] + [_rec(6, None, final=True)]
    assert views.oracle_summary(many) == "a person (rounds 0-3, 5), simulated otherwise"
    assert views.oracle_summary([_rec(0, "person")]) == "a person (round 0), simulated otherwise"
    assert views.oracle_summary([_rec(0, None), _rec(1, None)]) == "not recorded (rounds stored before v2)"
    assert views.oracle_summary([], "person") == "simulated (ground truth); next picks: a person"


def test_oracle_labels_heading_says_who_gave_them():
    assert views.oracle_labels_heading("person") == "labels given by the oracle: a person"
    assert views.oracle_labels_heading("simulated") == "labels given by the oracle: simulated (ground truth)"
    assert views.oracle_labels_heading(None) == "labels given by the oracle"


def _runs() -> pd.DataFrame:
    """Two sessions of random (seeds 0, 1), one of entropy (seed 0), the last with a person's round."""
    rows = []
    for sid, strategy, seed, who in (("a", "random", 0, ["simulated", "simulated"]),
                                     ("b", "random", 1, ["simulated", "simulated"]),
                                     ("c", "entropy", 0, ["simulated", "person"])):
        for t, by in enumerate([*who, None]):
            rows.append({"session": sid, "strategy": strategy, "seed": seed, "round": t, "answered_by": by,
                         "curve": strategy, "session_label": f"{strategy} {seed}"})
    return pd.DataFrame(rows)


def test_person_labelled_sessions_are_marked_and_left_out_of_the_comparison():
    runs = _runs()
    assert views.person_labelled_sessions(runs) == ["c"]
    assert views.person_labelled_sessions(runs.drop(columns="answered_by")) == []
    marked = views.mark_person_labelled(runs, ["curve", "session_label", "missing"])
    assert set(marked.loc[marked["session"] == "c", "curve"]) == {"entropy (person-labelled)"}
    assert set(marked.loc[marked["session"] == "c", "session_label"]) == {"entropy 0 (person-labelled)"}
    assert set(marked.loc[marked["session"] != "c", "curve"]) == {"random"}
    again = views.mark_person_labelled(marked, ["curve"])  # marking twice marks once
    assert set(again.loc[again["session"] == "c", "curve"]) == {"entropy (person-labelled)"}
    assert list(runs["curve"]) == list(_runs()["curve"])  # the input is left as it was

    left_out = views.comparison_runs(runs)
    assert set(left_out["session"]) == {"a", "b"} and len(left_out) == 6
    included = views.comparison_runs(runs, include_person=True)
    assert len(included) == 9
    assert set(included.loc[included["session"] == "c", "strategy"]) == {"entropy (person-labelled)"}
    assert set(included.loc[included["session"] != "c", "strategy"]) == {"random"}
    simulated = runs[runs["session"] != "c"]
    assert views.comparison_runs(simulated).equals(simulated.reset_index(drop=True))


def test_a_delta_that_rounds_to_zero_is_grey_zero():
    tiny = views.metric_delta(0.41236, 0.41240)  # -0.00004: "-0.000" in red before
    assert tiny == {"delta": "0.000", "delta_color": "off", "delta_arrow": "off"}
    assert views.metric_delta(0.41240, 0.41236)["delta"] == "0.000"
    assert views.metric_delta(0.5, 0.49) == {"delta": "+0.010", "delta_color": "normal", "delta_arrow": "auto"}
    assert views.metric_delta(0.2, 0.25, higher_is_better=False) == \
        {"delta": "-0.050", "delta_color": "inverse", "delta_arrow": "auto"}
    assert views.metric_delta(0.5, 0.4995) == {"delta": "+0.001", "delta_color": "normal", "delta_arrow": "auto"}
    assert views.metric_delta(0.5, 0.4995, decimals=2)["delta"] == "0.00"
    assert views.metric_delta(0.5, None)["delta"] is None
    assert views.metric_delta(float("nan"), 0.5)["delta"] is None


def test_batch_selection_starts_with_the_sessions_dataset_when_it_can():
    options = ["yeast", "scene", "emotions"]
    assert views.batch_selection_dataset(options, "emotions") == \
        ("emotions", "Dataset **emotions**: the current session's.")
    name, note = views.batch_selection_dataset(options, "reuters21578")
    assert name == "yeast" and "reuters21578, cannot be used here" in note and "yeast, scene, emotions" in note
    name, note = views.batch_selection_dataset(options, None)
    assert name == "yeast" and "no session is open" in note
    with pytest.raises(ConfigError, match="at least one dataset"):
        views.batch_selection_dataset([], "yeast")


def test_pair_change_text_counts_a_symmetric_pair_once():
    change = {"new_asymmetric": np.array([[0, 1], [1, 0], [2, 3]]), "gone_asymmetric": np.empty((0, 2)),
              # two exclusive pairs, given in both directions (four cells on the matrix)
              "new_exclusive": np.empty((0, 2)), "gone_exclusive": np.array([[1, 4], [2, 5], [4, 1], [5, 2]])}
    text = views.pair_change_text(change, "L_0", "L_3")
    assert text.startswith("From L_0 to L_3: 3 asymmetric pairs appeared and 0 disappeared (one cell each); "
                           "0 exclusive pairs appeared and 2 disappeared")
    assert "two cells, (m, n) and (n, m)" in text


# ---------------------------------------------------------------- a tabular sample for a person
def test_distinctive_features_are_hand_computed_z_scores():
    pool = np.array([[1, 0, 5, 10], [2, 0, 5, 20], [3, 0, 5, 30], [4, 8, 5, 40]], dtype=float)
    row = np.array([4, 8, 5, 10], dtype=float)
    # means 2.5, 2, 5, 25; population stds sqrt(1.25), sqrt(12), 0, sqrt(125)
    z_a, z_b, z_d = 1.5 / math.sqrt(1.25), 6 / math.sqrt(12), -15 / math.sqrt(125)
    out = feature_summary.distinctive_features(pool, row, ["a", "b", "c", "d"], top=3)
    assert list(out.columns) == ["feature", "value", "pool mean", "z", "compared with the pool"]
    assert list(out["feature"]) == ["b", "a", "d"]  # |z| 1.732, then the tie 1.342 in column order
    assert out["z"].tolist() == pytest.approx([z_b, z_a, z_d])
    assert out["z"].tolist() == pytest.approx([1.7320508, 1.3416408, -1.3416408])
    assert out["pool mean"].tolist() == [2.0, 2.5, 25.0]
    assert list(out["compared with the pool"]) == ["high", "high", "low"]
    every = feature_summary.distinctive_features(pool, row)
    assert list(every["feature"]) == ["feature 2", "feature 1", "feature 4", "feature 3"]
    assert every["z"].iloc[-1] == 0.0  # constant in the pool: no distinction, not a division by zero
    assert every["compared with the pool"].iloc[-1] == "typical"
    with pytest.raises(ConfigError, match="row of the pool's feature matrix"):
        feature_summary.distinctive_features(pool, row[:3])
    with pytest.raises(ConfigError, match="one name per column"):
        feature_summary.distinctive_features(pool, row, ["a"])
    with pytest.raises(ConfigError, match="top must be at least 1"):
        feature_summary.distinctive_features(pool, row, top=0)


def test_feature_names_of_a_bundled_tabular_set():
    from inspect_sessions import small_yeast

    ds = small_yeast()
    names = feature_summary.feature_names_of(ds)
    assert names is not None and len(names) == ds.train.X.shape[1] and names[0] == "Att1"
    assert feature_summary.feature_names_of(SimpleNamespace(train=SimpleNamespace(X=None), meta={})) is None


# ---------------------------------------------------------------- the session list
def test_session_list_counts_the_samples_labelled_after_the_last_round(tmp_path):
    """200 labelled, then a round that picked 50: the list says 250 (it said 200, one round behind)."""
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.records import RoundRecord
    from mlal_core.session.store import SessionStore

    store = SessionStore(tmp_path / "s.sqlite")
    cfg = SessionConfig(dataset="yeast", strategy="random")
    ran = store.create_session(cfg, np.arange(200), np.zeros((200, 4)))
    fresh = store.create_session(cfg, np.arange(30), np.zeros((30, 4)))
    finished = store.create_session(cfg, np.arange(10), np.zeros((10, 4)))

    def record(t: int, n_labeled: int, picks: int | None) -> RoundRecord:
        return RoundRecord(round=t, n_labeled=n_labeled, metrics={"micro_f1": 0.5}, timings={}, selection=None,
                           selected=None if picks is None else np.arange(1000, 1000 + picks),
                           labels=None if picks is None else np.zeros((picks, 4), dtype=np.uint8))

    store.append_round(ran, record(0, 200, 50))
    store.append_round(finished, record(0, 10, 5))
    store.append_round(finished, record(1, 15, None))  # the final evaluation picks nothing
    rows = store.list_sessions().set_index("id")
    assert rows.loc[ran, "n_labeled"] == 200  # what the last round's model trained on
    assert rows.loc[ran, "labelled"] == 250
    assert rows.loc[fresh, "labelled"] == 30  # no round yet: the initial set
    assert rows.loc[finished, "labelled"] == 15


# ---------------------------------------------------------------- the pages
@pytest.mark.app
def test_sidebar_and_picks_tables_say_a_person_answered(mlal_home):
    s = _person_session()
    side = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    side.session_state["al_session"] = s
    side.run()
    _ok(side)
    summary = " ".join(m.value for m in side.sidebar.markdown)
    assert "**Oracle:** a person (round 0), simulated otherwise" in summary

    at = AppTest.from_file(str(ROOT / "pages/active_learning.py"), default_timeout=TIMEOUT)
    at.session_state["al_session"] = s
    at.run()
    _ok(at)
    at.select_slider[0].set_value(0).run()
    _ok(at)
    picks = next(df.value for df in at.dataframe if "position" in df.value.columns)
    assert "labels given by the oracle: a person" in picks.columns and "labels" not in picks.columns
    at.select_slider[0].set_value(1).run()
    picks = next(df.value for df in at.dataframe if "position" in df.value.columns)
    assert "labels given by the oracle: simulated (ground truth)" in picks.columns

    ins = AppTest.from_file(str(ROOT / "pages/selection_inspector.py"), default_timeout=TIMEOUT)
    ins.session_state["al_session"] = s
    ins.run()
    _ok(ins)
    ins.select_slider(key="insp_round").set_value(0).run()
    _ok(ins)
    assert any("labels given by the oracle: a person" in df.value.columns for df in ins.dataframe)
    assert any(m.value.startswith("**Labels given by the oracle: a person:**") for m in ins.markdown)


@pytest.mark.app
def test_a_change_that_rounds_to_zero_shows_grey_zero_on_active_learning(mlal_home):
    s = new_session("random", rounds_to_run=2)
    s.history[1].metrics["macro_f1"] = s.history[0].metrics["macro_f1"] - 0.00004
    at = AppTest.from_file(str(ROOT / "pages/active_learning.py"), default_timeout=TIMEOUT)
    at.session_state["al_session"] = s
    at.run()
    _ok(at)
    at.select_slider[0].set_value(1).run()
    _ok(at)
    macro = next(m for m in at.metric if m.label == "Macro-F1")
    assert macro.delta == "0.000"  # not a red "-0.000" with a down arrow
    assert macro.proto.color == MetricProto.MetricColor.GRAY
    assert macro.proto.direction == MetricProto.MetricDirection.NONE


@pytest.mark.app
def test_a_person_labelling_a_tabular_sample_sees_its_distinctive_features(mlal_home):
    s = new_session("random", rounds_to_run=0)
    pending = s.propose()
    at = AppTest.from_file(str(ROOT / "pages/active_learning.py"), default_timeout=TIMEOUT)
    at.session_state["al_session"] = s
    at.session_state["al_oracle"] = "person"
    at.session_state["al_pending"] = {s.session_id: pending}
    at.run()
    _ok(at)
    assert any("mostly for simulation" in i.value for i in at.info)
    assert not any("no text" in m.value for m in at.markdown)
    X = s.dataset.train.X
    first = int(pending.selected[0])
    expected = feature_summary.distinctive_features(X, X[first], feature_summary.feature_names_of(s.dataset), top=8)
    shown = [df.value for df in at.dataframe if "z" in df.value.columns]
    assert len(shown) == len(pending.selected)
    assert list(shown[0]["feature"]) == list(expected["feature"]) and shown[0]["feature"].iloc[0].startswith("Att")
    assert shown[0]["z"].tolist() == pytest.approx(expected["z"].round(3).tolist())


@pytest.fixture
def person_and_simulated(mlal_home):
    """random and entropy with seeds 0 and 1 (simulated), and a newer entropy seed-0 session with a person's
    round (the newest session of a strategy and seed is the one the paired comparison would take)."""
    from mlal_core.session.store import SessionStore

    store = SessionStore(mlal_home / "sessions.sqlite")
    simulated = [new_session(strategy, store=store, seed=seed) for strategy in ("random", "entropy")
                 for seed in (0, 1)]
    person = _person_session(store=store, seed=0, strategy="entropy")
    return store, simulated, person


@pytest.mark.app
def test_learning_curves_mark_person_labelled_sessions_and_leave_them_out_of_the_tests(person_and_simulated):
    from mlal_core.experiments import analysis

    store, simulated, person = person_and_simulated
    at = AppTest.from_file(str(ROOT / "pages/learning_curves.py"), default_timeout=TIMEOUT)
    at.session_state["al_session"] = simulated[0]
    at.run()
    _ok(at)
    names = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
             if t.get("showlegend") is not False]
    assert "Entropy (person-labelled)" in names and "Entropy" in names and "Random" in names  # paper names
    assert any("1 of the chosen sessions had rounds labelled by a person" in i.value for i in at.info)
    assert at.checkbox(key="lc_include_person").value is False
    assert any("left out of these statistics (off by default" in c.value for c in at.caption)
    table = next(df.value for df in at.dataframe if "paired seeds" in df.value.columns)
    assert set(table["strategy"]) | set(table["other"]) == {"random", "entropy"}
    newest_first = [sid for sid in store.list_sessions()["id"] if sid != person.session_id]
    runs = views.session_rounds(store, newest_first)  # the simulated sessions alone, in the page's order
    expected = analysis.paired_tests(analysis.aulc_per_run(views.paired_runs(runs, "yeast-inspect"), "micro_f1"))
    row = table.iloc[0]
    assert (row["strategy"], row["other"]) == tuple(expected.iloc[0][["strategy", "other"]])
    assert row["mean difference"] == pytest.approx(round(expected.iloc[0]["mean_diff"], 4))

    at.checkbox(key="lc_include_person").check().run()
    _ok(at)
    table = next(df.value for df in at.dataframe if "paired seeds" in df.value.columns)
    assert "entropy (person-labelled)" in set(table["strategy"]) | set(table["other"])
    assert any("are included, each as a strategy of its own" in c.value for c in at.caption)
