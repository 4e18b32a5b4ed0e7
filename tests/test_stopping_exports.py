"""The stopping state and the initial set in a session's exports (issue 19): ``export_json``,
``stopping.csv`` (``export_stopping_csv``, ``export --format csv``), the session zip and the CLI's
``show`` / ``run`` summary.

The fast tests store a session written by hand (a stop set of 100 rows, one label, five records), so
every criterion's value after every round is known without running a model:

* stop-set decisions ``base, other, other, other, other`` (kappa(base, other) = 0.70, Cohen's kappa of
  the 2x2 table a=40, b=5, c=10, d=45; dF = 1 - 80/95 = 15/95): kappa values NaN, NaN, NaN,
  (0.7+1+1)/3 = 0.9, 1.0 (first stop round 4); predicted change of F NaN x3, max(15/95, 0, 0), 0
  (first stop round 4);
* changed shares NaN, 0.1, 0, 0, 0 (first stop round 2); pool uncertainties 0.3, 0.2, 0.1, 0.04, 0.01
  (first stop round 3);
* the picks' predictions ``[0.5, 0.9]``, ``[0.99, 0.01]``, ``[0.99, 0.995]``, ``[0.99, 0.995]``: the most
  uncertain pick's entropy 1.0, then H(0.99) = 0.0808 < 0.1 (stops at rounds 1-3; the final record picks
  nothing, so no value and no stop there); labels ``[1, 1]``,
  ``[1, 0]``, ``[1, 1]``, ``[1, 1]``: selected accuracy NaN, 2/3, 1, 1, 1 (first stop round 2).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_MODEL

from mlal_core import cli
from mlal_core.inspection import stopping_views
from mlal_core.inspection.session_zip import session_export_zip
from mlal_core.session.config import SessionConfig
from mlal_core.session.records import RoundRecord
from mlal_core.session.stopping_export import STOPPING_COLUMNS, first_stop_lines, stopping_frame
from mlal_core.session.store import SessionStore
from mlal_core.stopping.measures import STOP_SET_STREAM, pack_decisions


def _h(p: float) -> float:
    return float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)))


BASE = np.array([1] * 45 + [0] * 55, dtype=bool)[:, None]
OTHER = np.array([1] * 40 + [0] * 5 + [1] * 10 + [0] * 45, dtype=bool)[:, None]
DECISIONS = [BASE, OTHER, OTHER, OTHER, OTHER]
POOL_U = [0.3, 0.2, 0.1, 0.04, 0.01]
CHANGED = [np.nan, 0.1, 0.0, 0.0, 0.0]
PICK_PROBA = [[[0.5], [0.9]], [[0.99], [0.01]], [[0.99], [0.995]], [[0.99], [0.995]]]
PICK_LABELS = [[[1], [1]], [[1], [0]], [[1], [1]], [[1], [1]]]
NAN = np.nan
#: the value of every default criterion after every record, by hand (module docstring)
EXPECTED = {
    "kappa": [NAN, NAN, NAN, 0.9, 1.0],
    "delta_f": [NAN, NAN, NAN, 15 / 95, 0.0],
    "classification_change": [NAN, 0.1, 0.0, 0.0, 0.0],
    "overall_uncertainty": POOL_U,
    "max_uncertainty": [1.0, _h(0.99), _h(0.99), _h(0.99), NAN],
    "selected_accuracy": [NAN, 2 / 3, 1.0, 1.0, 1.0],
}
THRESHOLDS = {"kappa": 0.99, "delta_f": 0.005, "classification_change": 0.0, "overall_uncertainty": 0.05,
              "max_uncertainty": 0.1, "selected_accuracy": 0.9}
FIRST_STOP = {"kappa": 4, "delta_f": 4, "classification_change": 2, "overall_uncertainty": 3, "max_uncertainty": 1,
              "selected_accuracy": 2}
N_LABELED = [20, 22, 24, 26, 28]
INITIAL_PARAMS = {"n_init": 1, "random_state": 7, "features": "pool features (raw)", "algorithm": "k-means"}


def _records() -> list[RoundRecord]:
    out = []
    for t, dec in enumerate(DECISIONS):
        final = t == len(DECISIONS) - 1
        stopping = {"stop_decisions": pack_decisions(dec), "n_labels": 1, "n_stop": 100,
                    "pool_mean_uncertainty": POOL_U[t], "n_unlabeled": 200 - N_LABELED[t],
                    "changed_share": CHANGED[t], "n_compared": 0 if t == 0 else 100}
        out.append(RoundRecord(
            round=t, n_labeled=N_LABELED[t], metrics={"micro_f1": 0.5 + 0.05 * t}, selection=None,
            selected=None if final else np.array([100 + 2 * t, 101 + 2 * t]),
            labels=None if final else np.array(PICK_LABELS[t], dtype=np.uint8),
            pick_proba=None if final else np.array(PICK_PROBA[t]), timings={"train_s": 0.1},
            answered_by=None if final else "simulated", stopping=stopping))
    return out


@pytest.fixture
def stored(tmp_path):
    """A store with the hand-made session; returns ``(store, session id)``."""
    store = SessionStore(tmp_path / "s.sqlite")
    config = SessionConfig(dataset="toy", strategy="entropy", initial_size=20, query_size=2, rounds=4, seed=7,
                           initial_method="representative", initial_params=INITIAL_PARAMS)
    sid = store.create_session(config, np.arange(20), np.ones((20, 1), dtype=np.uint8), label_names=["only"],
                               stop_set=np.arange(100, 200))
    records = _records()
    for rec in records:
        store.append_round(sid, rec, status="finished" if rec.selected is None else None)
    return store, sid


def _assert_values(frame: pd.DataFrame) -> None:
    """``frame``: rows of (round, criterion) with value, threshold and would_stop, as stopping.csv."""
    for key, values in EXPECTED.items():
        rows = frame[frame["criterion"] == key].sort_values("round")
        assert rows["value"].to_numpy(float) == pytest.approx(values, nan_ok=True), key
        assert set(rows["threshold"]) == {THRESHOLDS[key]}, key
        stops = [t >= FIRST_STOP[key] and not (key == "max_uncertainty" and t == 4) for t in range(5)]
        assert rows["would_stop"].astype(bool).tolist() == stops, key
        assert rows["n_labeled"].tolist() == N_LABELED


def test_stopping_frame_of_a_hand_made_session(stored):
    store, sid = stored
    frame = stopping_frame(store.load_rounds(sid))
    assert tuple(frame.columns) == STOPPING_COLUMNS and len(frame) == 5 * 6
    _assert_values(frame)
    assert frame["available"].all()
    kappa3 = frame[(frame["criterion"] == "kappa") & (frame["round"] == 3)].iloc[0]
    assert kappa3["explanation"] == "mean kappa of the last 3 rounds 0.9000 (0.7000, 1.0000, 1.0000) < 0.99"


def test_export_json_carries_the_stop_set_the_initial_method_and_each_rounds_criteria(stored, tmp_path):
    store, sid = stored
    doc = json.loads(store.export_json(sid, tmp_path / "s.json").read_text())
    stop = doc["stopping"]
    assert stop["stop_set"]["size"] == 100 and stop["stop_set"]["seed"] == 7
    assert stop["stop_set"]["positions"] == list(range(100, 200)) and str(STOP_SET_STREAM) in stop["stop_set"]["rng"]
    assert stop["initial"] == {"method": "representative", "size": 20, "params": INITIAL_PARAMS,
                               "simulation_only": False, "description": stop["initial"]["description"]}
    assert "k-means" in stop["initial"]["description"]
    firsts = {c["key"]: (c["first_stop_round"], c["first_stop_n_labeled"]) for c in stop["criteria"]}
    assert firsts == {k: (t, N_LABELED[t]) for k, t in FIRST_STOP.items()}
    params = {c["key"]: c["params"] for c in stop["criteria"]}
    assert params["kappa"] == {"window": 3, "threshold": 0.99} and params["delta_f"] == {"window": 3, "threshold": 0.005}
    rows = [{"round": r["round"], "n_labeled": r["n_labeled"], "criterion": key, **state}
            for r in doc["rounds"] for key, state in r["stopping"]["criteria"].items()]
    frame = pd.DataFrame(rows).astype({"value": float})  # JSON null (NaN) -> NaN
    _assert_values(frame)
    assert doc["rounds"][0]["stopping"]["criteria"]["kappa"]["value"] is None  # NaN is null in standard JSON
    measures = doc["rounds"][1]["stopping"]["measures"]
    assert measures == {"n_stop": 100, "n_labels": 1, "pool_mean_uncertainty": 0.2, "n_unlabeled": 178,
                        "changed_share": 0.1, "n_compared": 100}
    assert doc["rounds"][0]["stopping"]["measures"]["changed_share"] is None


def test_export_stopping_csv_and_the_cli_csv_export(stored, tmp_path, capsys):
    store, sid = stored
    path = store.export_stopping_csv(sid, tmp_path / "out")
    assert path == tmp_path / "out" / "stopping.csv"
    _assert_values(pd.read_csv(path))
    code = cli.main(["export", sid[:8], "--format", "csv", "--out", str(tmp_path / "cli"), "--store", str(store.path)])
    assert code == 0 and "stopping.csv" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cli" / "stopping.csv"), pd.read_csv(path))


def test_the_zip_holds_stopping_csv_with_the_numbers_the_page_shows(stored):
    store, sid = stored
    blob = session_export_zip(store, sid, figure_formats=(), default_figures=False)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        csv = pd.read_csv(io.BytesIO(z.read("stopping.csv")))
        manifest = json.loads(z.read("manifest.json"))
        session = json.loads(z.read("session.json"))
    _assert_values(csv)
    # the Active learning page's per-round table (no label budget) has the same numbers
    _, by_round = stopping_views.session_stopping_tables(store.load_rounds(sid))
    for crit in stopping_views.criteria_for():
        from_csv = csv[csv["criterion"] == crit.key].sort_values("round")["value"].to_numpy(float)
        assert from_csv == pytest.approx(by_round[crit.name].to_numpy(float), nan_ok=True, rel=1e-12)
    shown = by_round["would stop here"].tolist()
    for t in range(5):
        names = sorted(csv[(csv["round"] == t) & csv["would_stop"]]["name"])
        assert sorted(n for n in shown[t].split(", ") if n) == names
    assert manifest["first_stops"] == FIRST_STOP and manifest["stop_set_size"] == 100
    assert manifest["initial"]["method"] == "representative" and manifest["initial"]["params"] == INITIAL_PARAMS
    assert session["stopping"]["stop_set"]["positions"][:3] == [100, 101, 102]


def test_show_prints_one_line_per_criterion_with_its_first_stop(stored, capsys):
    store, sid = stored
    assert cli.main(["show", sid[:8], "--store", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert ("Initial set: 20 rows, representative (algorithm=k-means, features=pool features (raw), n_init=1, "
            "random_state=7)\n") in out
    assert "Stop set: 100 pool rows (seed 7)" in out
    assert "  Stabilizing predictions (kappa): round 4 (28 labelled)" in out
    assert "  Classification change: round 2 (24 labelled)" in out
    assert "  Maximum uncertainty: round 1 (22 labelled)" in out
    assert out.count("labelled)") == 6


def test_first_stop_lines_of_a_rule_that_never_fires_name_its_last_value():
    records = _records()[:4]  # the kappa window first fills at round 3: 0.9 < 0.99
    lines = first_stop_lines(records)
    assert lines[0] == ("Stabilizing predictions (kappa): not yet (after round 3: mean kappa of the last 3 rounds "
                        "0.9000 (0.7000, 1.0000, 1.0000) < 0.99)")
    assert lines[1].startswith("Predicted change of F: not yet (after round 3: largest predicted change of F "
                               "of the last 3 rounds 0.1579")
    assert first_stop_lines([]) == []


def test_a_session_stored_before_the_stop_set_exports_without_one(tmp_path, capsys):
    store = SessionStore(tmp_path / "old.sqlite")
    sid = store.create_session(SessionConfig(dataset="toy", seed=3), np.arange(5), np.ones((5, 1), np.uint8))
    rec = _records()[-1]
    store.append_round(sid, RoundRecord(**{**rec.__dict__, "round": 0, "stopping": None}), status="finished")
    doc = json.loads(store.export_json(sid, tmp_path / "o.json").read_text())
    assert doc["stopping"]["stop_set"] is None and doc["stopping"]["initial"]["method"] == "random"
    assert doc["rounds"][0]["stopping"]["measures"] is None
    assert doc["rounds"][0]["stopping"]["criteria"]["kappa"]["available"] is False
    assert cli.main(["show", sid[:8], "--store", str(store.path)]) == 0
    assert "Stop set: not recorded" in capsys.readouterr().out


@pytest.mark.slow
def test_a_real_sessions_zip_matches_the_page_and_the_run_summary(small_datasets, tmp_path):
    from mlal_core.session.loop import ActiveLearningSession

    store = SessionStore(tmp_path / "s.sqlite")
    config = SessionConfig(model_params=dict(FAST_MODEL), strategy="entropy", initial_size=30, query_size=20,
                           rounds=3, seed=0, initial_method="per_label")
    session = ActiveLearningSession(config, dataset=small_datasets["yeast_small"], store=store)
    session.run()
    blob = session_export_zip(store, session.session_id, figure_formats=(), default_figures=False)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        csv = pd.read_csv(io.BytesIO(z.read("stopping.csv")))
        manifest = json.loads(z.read("manifest.json"))
    _, by_round = stopping_views.session_stopping_tables(session.history)
    for crit in stopping_views.criteria_for():
        from_csv = csv[csv["criterion"] == crit.key].sort_values("round")["value"].to_numpy(float)
        assert from_csv == pytest.approx(by_round[crit.name].to_numpy(float), nan_ok=True, rel=1e-9)
    assert manifest["initial"]["method"] == "per_label" and manifest["initial"]["simulation_only"]
    assert manifest["stop_set_size"] == 400  # the whole 400-row pool


def test_the_reports_setup_says_what_a_seed_pairs_under_each_initialisation_grid():
    from mlal_core.experiments.report import _pairing_sentence

    assert _pairing_sentence(["random"]) == ("Every strategy of a seed starts from the same initial labelled set "
                                             "(random initial set) and the same model seeds.")
    both = _pairing_sentence(["diverse", "random"])
    assert both.startswith("The grid varies the initial method (`diverse`, `random`): within one initial method, "
                           "every strategy of a seed starts from the same initial labelled set")
    assert "comparisons pair runs of one method only" in both
