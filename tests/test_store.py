"""The SQLite session store: schema, WAL, round-trips, exports."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_MODEL

from mlal_core import paths
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.records import RoundRecord
from mlal_core.session.store import SCHEMA_VERSION, SessionStore, StoreError, decode_payload, encode_payload
from mlal_core.strategies.base import Selection


def rich_diagnostics() -> dict:
    rng = np.random.default_rng(0)
    return {
        "A": rng.random((4, 4)),
        "NegA": rng.random((4, 4)).astype(np.float32),
        "kept_labels": np.array([0, 2, 3], dtype=np.int64),
        "reference_set": np.arange(10, 20, dtype=np.int64),
        "pool_sizes": {"label_wise": 12, "negative": 3, "hard": np.int64(5)},
        "Z_t": 7,
        "tau": 0.8123456789012345,
        "nan_value": float("nan"),
        "pairs": [(0, 3), (1, 2)],
        "names": ["a", "b"],
        "mask": np.array([True, False, True]),
        "table": pd.DataFrame({"label": ["x", "y"], "count": np.array([3, 4], dtype=np.int32), "w": [0.5, np.nan]}),
        "empty": np.zeros((0, 3), dtype=np.float64),
        "scalar32": np.float32(1.25),
        "nothing": None,
        "by_label": {0: "kept", 3: "dropped"},
    }


def assert_same(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b)
    else:
        assert type(a) is type(b) and a == b, (a, b)


def test_payload_codec_round_trips_exactly():
    d = rich_diagnostics()
    assert_same(d, decode_payload(encode_payload(d)))
    assert decode_payload(encode_payload({})) == {}
    # a dict whose keys look like the codec's own tags survives too
    tricky = {"__ndarray__": "a0", "x": {"__float__": "nan"}}
    assert decode_payload(encode_payload(tricky)) == tricky


def test_schema_version_wal_and_foreign_keys(tmp_path):
    store = SessionStore(tmp_path / "s.sqlite")
    assert store.schema_version() == SCHEMA_VERSION == 5
    assert store.journal_mode() == "wal"
    con = sqlite3.connect(store.path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "rounds", "schema_version"} <= tables
    cols = [r[1] for r in con.execute("PRAGMA table_info(rounds)")]
    assert cols == ["session_id", "round", "created_at", "n_labeled", "metrics_json", "selected_json", "labels_json",
                    "details", "scores", "diagnostics", "shared_diag_json", "timings_json", "answered_by", "pick_proba",
                    "stopping"]
    assert [r[1] for r in con.execute("PRAGMA table_info(sessions)")][-2:] == ["feature_source_json", "stop_set_json"]
    con.close()
    # opening again does not re-run migrations
    assert SessionStore(tmp_path / "s.sqlite").schema_version() == 5
    # a store written by a newer version is refused
    con = sqlite3.connect(store.path)
    con.execute("INSERT INTO schema_version (version) VALUES (99)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 99, newer than"):
        SessionStore(tmp_path / "s.sqlite")


def test_default_path_is_under_mlal_home(mlal_home):
    store = SessionStore()
    assert store.path == paths.default_store_path() == mlal_home / "sessions.sqlite"
    assert store.path.exists()


def _record(round_: int, n_labeled: int, K: int = 4, final: bool = False) -> RoundRecord:
    rng = np.random.default_rng(round_)
    if final:
        sel = None
        selected = labels = None
    else:
        selected = np.array([5, 9, 2], dtype=np.int64) + 10 * round_
        labels = rng.integers(0, 2, size=(3, K)).astype(np.uint8)
        details = pd.DataFrame({"position": selected, "pick": [1, 2, 3], "score": [0.9, 0.5, np.nan],
                                "reason": ["hard-to-learn pool", "label-wise pool", "top-up"],
                                "pools": [["hard"], ["label:1", "label:2"], []]})
        sel = Selection(indices=selected, scores=rng.random(40), details=details, diagnostics=rich_diagnostics())
    return RoundRecord(
        round=round_, n_labeled=n_labeled,
        metrics={"micro_f1": 0.5 + round_ / 10, "macro_auc": float("nan"), "p@1": 1 / 3},
        selected=selected, labels=labels, selection=sel,
        timings={"train_s": 1.5, "predict_s": 0.25, "select_s": 0.125, "total_s": 1.875},
        mean_ir_selected=float("nan") if final else 1.75, label_coverage=0.75, hard_to_learn_count=3,
        conflicting_count=1, n_exclusive_pairs=2, n_unlabeled=40 - n_labeled, n_candidates=0 if final else 40 - n_labeled,
    )


def test_round_trip_of_sessions_and_rounds(tmp_path):
    store = SessionStore(tmp_path / "s.sqlite")
    cfg = SessionConfig(dataset="yeast", strategy="crab", strategy_params={"alpha": 0.1}, rounds=1, name="demo")
    initial = np.array([3, 1, 4], dtype=np.int64)
    init_labels = np.eye(3, 4, dtype=np.uint8)
    sid = store.create_session(cfg, initial, init_labels, dataset_hash="abc", label_names=["a", "b", "c", "d"])
    assert len(sid) == 32 and int(sid, 16) >= 0
    recs = [_record(0, 3), _record(1, 6, final=True)]
    store.append_round(sid, recs[0])
    store.append_round(sid, recs[1], status="finished")

    config, init, rounds = store.load_session(sid)
    assert config == cfg
    np.testing.assert_array_equal(init["positions"], initial)
    assert init["positions"].dtype == np.int64
    np.testing.assert_array_equal(init["labels"], init_labels)
    assert len(rounds) == 2
    got, want = rounds[0], recs[0]
    assert got.round == 0 and got.n_labeled == 3
    assert_same(want.metrics, got.metrics)
    assert_same(want.timings, got.timings)
    assert_same(want.shared_diagnostics(), got.shared_diagnostics())
    assert got.selected.dtype == np.int64
    np.testing.assert_array_equal(got.selected, want.selected)
    np.testing.assert_array_equal(got.labels, want.labels)
    assert got.labels.dtype == np.uint8
    np.testing.assert_array_equal(got.selection.indices, want.selection.indices)
    np.testing.assert_array_equal(got.selection.scores, want.selection.scores)
    pd.testing.assert_frame_equal(got.selection.details, want.selection.details, check_exact=True)
    assert_same(want.selection.diagnostics, got.selection.diagnostics)
    assert got.created_at
    fin = rounds[1]
    assert fin.final and fin.selection is None and fin.labels is None and np.isnan(fin.mean_ir_selected)
    info = store.session_info(sid)
    assert info["status"] == "finished" and info["name"] == "demo" and info["dataset_hash"] == "abc"
    # the same round twice is refused, and nothing changes
    with pytest.raises(StoreError, match="Round 0 of session .* is already stored"):
        store.append_round(sid, recs[0])
    assert len(store.load_rounds(sid)) == 2


def test_list_delete_and_unknown_ids(tmp_path):
    store = SessionStore(tmp_path / "s.sqlite")
    assert store.list_sessions().empty
    cfg = SessionConfig(dataset="yeast", strategy="random")
    a = store.create_session(cfg, np.arange(3), np.zeros((3, 4)))
    b = store.create_session(SessionConfig(dataset="scene", strategy="bald"), np.arange(3), np.zeros((3, 4)))
    store.append_round(a, _record(0, 3))
    df = store.list_sessions()
    assert set(df["id"]) == {a, b}
    row = df.set_index("id").loc[a]
    assert row["dataset"] == "yeast" and row["strategy"] == "random" and row["rounds_done"] == 1
    assert row["status"] == "running" and row["n_labeled"] == 3 and row["micro_f1"] == pytest.approx(0.5)
    assert store.resolve_id(a[:8]) == a
    store.delete_session(a)
    assert list(store.list_sessions()["id"]) == [b]
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT COUNT(*) FROM rounds WHERE session_id = ?", (a,)).fetchone()[0] == 0  # cascade
    con.close()
    with pytest.raises(StoreError, match="No session 'nope'"):
        store.load_session("nope")
    store.set_status(b, "failed", note="boom")
    assert store.session_info(b)["note"] == "boom"


def test_a_real_session_round_trips_and_exports(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    cfg = SessionConfig(strategy="bald", model_params=dict(FAST_MODEL), initial_size=30, query_size=15, rounds=2)
    s = ActiveLearningSession(cfg, dataset=ds, store=store)
    s.run()
    config, init, rounds = store.load_session(s.session_id)
    # stored as the session resolved it: "auto" became this machine's precision (fp32 or bf16)
    assert config == s.config == cfg.with_resolved_precision() and config.precision in ("fp32", "bf16")
    np.testing.assert_array_equal(init["positions"], s.initial_positions)
    np.testing.assert_array_equal(init["labels"], ds.train.Y[s.initial_positions])
    assert len(rounds) == len(s.history) == 3
    for got, want in zip(rounds, s.history):
        assert_same(want.metrics, got.metrics)
        assert_same(want.shared_diagnostics(), got.shared_diagnostics())
        assert_same(want.timings, got.timings)
        if want.selection is not None:
            np.testing.assert_array_equal(got.selected, want.selected)
            np.testing.assert_array_equal(got.labels, want.labels)
            pd.testing.assert_frame_equal(got.selection.details, want.selection.details, check_exact=True)
            np.testing.assert_array_equal(got.selection.scores, want.selection.scores)
            assert_same(want.selection.diagnostics, got.selection.diagnostics)
    info = store.session_info(s.session_id)
    assert info["status"] == "finished" and info["dataset_name"] == ds.name
    assert info["label_names"] == ds.label_names and info["dataset_hash"] == ds.content_hash()

    # JSON export: valid JSON (NaN -> null), every round, details as records
    path = store.export_json(s.session_id, tmp_path / "out" / "s.json")
    doc = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert doc["session"]["id"] == s.session_id and doc["config"]["strategy"] == "bald"
    assert doc["label_names"] == ds.label_names
    assert [r["round"] for r in doc["rounds"]] == [0, 1, 2]
    assert len(doc["rounds"][0]["details"]) == 15 and doc["rounds"][0]["details"][0]["position"] == s.history[0].selected[0]
    assert doc["rounds"][0]["selected"] == s.history[0].selected.tolist()
    assert doc["rounds"][2]["selected"] is None and doc["rounds"][2]["shared_diagnostics"]["mean_ir_selected"] is None
    assert len(doc["rounds"][1]["scores"]) == s.history[1].n_unlabeled

    # CSV export: rounds.csv one row per record, picks.csv one row per picked sample
    rounds_csv, picks_csv = store.export_csv(s.session_id, tmp_path / "csv")
    r = pd.read_csv(rounds_csv)
    assert list(r["round"]) == [0, 1, 2] and list(r["n_labeled"]) == [30, 45, 60]
    for col in ("micro_f1", "macro_f1", "p@1", "ndcg@3", "micro_f1_tuned", "mean_ir_selected", "label_coverage",
                "hard_to_learn_count", "conflicting_count", "n_unlabeled", "n_selected", "time_train_s"):
        assert col in r.columns, col
    np.testing.assert_allclose(r["micro_f1"], [h.metrics["micro_f1"] for h in s.history])
    p = pd.read_csv(picks_csv)
    assert len(p) == 30
    assert list(p.columns[:6]) == ["round", "order", "position", "oracle_labels", "n_labels", "answered_by"]
    assert {"score", "reason", "predicted_top", "predicted_labels"} <= set(p.columns)
    assert list(p["position"]) == s.history[0].selected.tolist() + s.history[1].selected.tolist()
    assert set(p["answered_by"]) == {"simulated"} and list(r["answered_by"].iloc[:2]) == ["simulated"] * 2
    first = s.history[0]
    expect = ", ".join(ds.label_names[j] for j in np.flatnonzero(first.labels[0]))
    assert p.loc[0, "oracle_labels"] == expect and p.loc[0, "n_labels"] == first.labels[0].sum()


def test_a_failing_round_marks_the_session_failed_and_keeps_completed_rounds(small_datasets, tmp_path, monkeypatch):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    s = ActiveLearningSession(SessionConfig(strategy="random", model_params=dict(FAST_MODEL), initial_size=30,
                                            query_size=10, rounds=3), dataset=ds, store=store)
    s.step()
    from mlal_core.models import MLPEnsemble

    fit = MLPEnsemble.fit  # the session builds its model by name each round: its class's fit fails

    def broken(self, *args, **kwargs):
        raise RuntimeError("GPU fell off")

    monkeypatch.setattr(MLPEnsemble, "fit", broken)
    with pytest.raises(RuntimeError, match="GPU fell off"):
        s.run()
    info = store.session_info(s.session_id)
    assert info["status"] == "failed" and "GPU fell off" in info["note"]
    assert [r.round for r in store.load_rounds(s.session_id)] == [0]
    monkeypatch.setattr(MLPEnsemble, "fit", fit)
    resumed = ActiveLearningSession.resume(store, s.session_id, ds)
    assert store.session_info(s.session_id)["status"] == "running"
    resumed.run()
    assert store.session_info(s.session_id)["status"] == "finished"
    assert len(store.load_rounds(s.session_id)) == 4


def make_config(**kw) -> SessionConfig:
    base = {"model_params": dict(FAST_MODEL), "strategy": "random", "initial_size": 30, "query_size": 20,
            "rounds": 3, "seed": 0}
    return SessionConfig(**{**base, **kw})


def _v1_store(path):
    """A store as schema version 1 wrote it (before answered_by / pick_proba)."""
    from mlal_core.session.store import MIGRATIONS

    con = sqlite3.connect(path)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for sql in MIGRATIONS[1]:
        con.execute(sql)
    con.execute("INSERT INTO schema_version (version) VALUES (1)")
    con.commit()
    con.close()


def test_a_version_1_store_is_upgraded_and_its_sessions_still_load(small_datasets, tmp_path):
    path = tmp_path / "old.sqlite"
    _v1_store(path)
    ds = small_datasets["yeast_small"]
    # write a v1 session row by row, as the old code did
    new = SessionStore(tmp_path / "new.sqlite")
    s = ActiveLearningSession(make_config(strategy="entropy", rounds=1), dataset=ds, store=new)
    s.run()
    con = sqlite3.connect(path)
    con.execute("ATTACH DATABASE ? AS n", (str(new.path),))
    v1_session_cols = ("id, name, created_at, updated_at, config_json, status, dataset_name, dataset_hash, "
                       "label_names_json, initial_labeled_json, note")
    con.execute(f"INSERT INTO sessions ({v1_session_cols}) SELECT {v1_session_cols} FROM n.sessions")
    v1_cols = ("session_id, round, created_at, n_labeled, metrics_json, selected_json, labels_json, details, "
               "scores, diagnostics, shared_diag_json, timings_json")
    con.execute(f"INSERT INTO rounds ({v1_cols}) SELECT {v1_cols} FROM n.rounds")
    con.commit()
    con.close()
    old = SessionStore(path)  # migrates 1 -> 2 -> 3 -> 4 -> 5
    assert old.schema_version() == 5
    assert old.session_info(s.session_id)["feature_source"] is None
    rounds = old.load_rounds(s.session_id)
    assert [r.answered_by for r in rounds] == [None, None] and rounds[0].pick_proba is None
    # without the column, who answered is inferred: these labels equal the ground truth
    assert ActiveLearningSession.resume(old, s.session_id, ds).oracle_is_simulated


def test_who_answered_and_the_picks_predictions_are_stored(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    s = ActiveLearningSession(make_config(strategy="entropy", rounds=3), dataset=ds, store=store)
    assert s.oracle_is_simulated
    pending = s.propose()
    expected = pending.context.proba_samples[:, pending.selected, :].mean(axis=0)
    s.commit(pending)  # the simulated oracle answers
    assert s.oracle_is_simulated
    s.commit(s.propose(), np.zeros((20, ds.n_labels), dtype=np.uint8))  # a person answers
    assert not s.oracle_is_simulated
    rounds = store.load_rounds(s.session_id)
    assert [r.answered_by for r in rounds] == ["simulated", "person"]
    np.testing.assert_allclose(rounds[0].pick_proba, expected, rtol=1e-6)
    assert rounds[0].pick_proba.shape == (20, ds.n_labels)
    resumed = ActiveLearningSession.resume(store, s.session_id, ds)
    assert not resumed.oracle_is_simulated
    # a person who answers exactly like the ground truth is still a person
    s2 = ActiveLearningSession(make_config(strategy="entropy", rounds=1), dataset=ds)
    p2 = s2.propose()
    s2.commit(p2, ds.train.Y[p2.selected])
    assert not s2.oracle_is_simulated and s2.history[-1].answered_by == "person"
    # initial labels given by a person make the session not simulated
    s3 = ActiveLearningSession(make_config(rounds=0), dataset=ds,
                               initial_labels=np.zeros((30, ds.n_labels), dtype=np.uint8))
    assert not s3.oracle_is_simulated


def test_the_store_reads_records_without_importing_the_loop():
    """records.py sits below the loop and the store: the store imports no loop (no cycle)."""
    import ast
    from pathlib import Path

    from mlal_core.session import records, store

    tree = ast.parse(Path(store.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "mlal_core.session.records" in imported and "mlal_core.session.loop" not in imported
    assert store.RoundRecord is records.RoundRecord
