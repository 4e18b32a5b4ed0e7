"""Stored labels above SPARSE_LABELS_ABOVE_K are sparse rows (store schema v5); every reader takes both forms."""

from __future__ import annotations

import json
import sqlite3
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import FAST_MODEL
from hypothesis import given, settings
from hypothesis import strategies as st

from mlal_core import data
from mlal_core.experiments.results import load_pick_labels
from mlal_core.inspection.views import session_rounds
from mlal_core.session import store as store_module
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import (MIGRATIONS, SCHEMA_VERSION, SessionStore, StoreError, decode_label_storage,
                                     decode_labels, encode_labels)

THRESHOLD = data.SPARSE_LABELS_ABOVE_K  # 500
LARGE = "xmtc-synthetic-N600-K600"  # K > 500: CSR labels; pool 480 rows


def _matrix(n: int, k: int, density: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, k)) < density).astype(np.uint8)


def _old_writer(labels: np.ndarray) -> str:
    """What every store before v5 wrote, at any K."""
    return json.dumps(np.asarray(labels, dtype=np.uint8).tolist())


# ------------------------------------------------------------------------------------ the form itself
def test_the_sparse_form_lists_each_rows_positive_columns():
    Y = np.zeros((3, THRESHOLD + 1), dtype=np.uint8)
    Y[0, [500, 0, 7]] = 1
    Y[2, 499] = 1
    value = encode_labels(Y)
    assert value == {"shape": [3, 501], "rows": [[0, 7, 500], [], [499]]}
    assert json.dumps(value) == '{"shape": [3, 501], "rows": [[0, 7, 500], [], [499]]}'
    assert encode_labels(sp.csr_matrix(Y)) == value  # CSR input: the same value
    np.testing.assert_array_equal(decode_labels(value), Y)
    # at the threshold itself the rows stay dense, as every earlier store wrote them
    Y500 = Y[:, :THRESHOLD]
    assert json.dumps(encode_labels(Y500)) == _old_writer(Y500)
    assert encode_labels(None) is None


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 12), k=st.sampled_from([1, 3, 40, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 1200]),
       density=st.sampled_from([0.0, 0.004, 0.05, 0.5, 1.0]), seed=st.integers(0, 2**16), as_csr=st.booleans())
def test_labels_round_trip_on_both_sides_of_the_threshold(n, k, density, seed, as_csr):
    Y = _matrix(n, k, density, seed)
    value = json.loads(json.dumps(encode_labels(sp.csr_matrix(Y) if as_csr else Y)))
    sparse_form = k > THRESHOLD
    assert isinstance(value, dict) is sparse_form
    if not sparse_form:  # byte-identical to the writer of schema v4 and before
        assert json.dumps(value) == _old_writer(Y)
    dense = decode_labels(value, k)
    assert isinstance(dense, np.ndarray) and dense.dtype == np.uint8 and dense.shape == (n, k)
    np.testing.assert_array_equal(dense, Y)
    kept = decode_label_storage(value, k)
    assert sp.issparse(kept) is sparse_form and kept.shape == (n, k) and kept.dtype == np.uint8
    np.testing.assert_array_equal(kept.toarray() if sparse_form else kept, Y)
    # a dense list written before v5 above the threshold reads back the same, CSR when kept sparse
    old = decode_label_storage(json.loads(_old_writer(Y)), k)
    assert sp.issparse(old) is sparse_form
    np.testing.assert_array_equal(old.toarray() if sparse_form else old, Y)


@pytest.mark.parametrize(("value", "message"), [
    ({"shape": [2, 600], "rows": [[1]]}, "has 1 rows"),
    ({"shape": [1, 600], "rows": [[600]]}, "outside 0..599"),
    ({"shape": [1, 600], "rows": [[-1]]}, "outside 0..599"),
    ({"shape": [1, 600], "rows": [[5, 3, 5]]}, "names a column twice"),
    ({"shape": [1, 600], "rows": [[1]], "data": [1]}, "keys 'shape' and 'rows'"),
])
def test_a_damaged_sparse_object_is_refused(value, message):
    with pytest.raises(ValueError, match=message):
        decode_labels(value)
    with pytest.raises(TypeError, match="list of rows or a sparse object"):
        decode_labels("[[0, 1]]")


def test_unsorted_columns_of_a_row_are_read_in_order():
    got = decode_label_storage({"shape": [1, 600], "rows": [[599, 2]]})
    assert got.indices.tolist() == [2, 599] and got.has_canonical_format


# ------------------------------------------------------------------------------------ sessions at large K
def _config(**kw) -> SessionConfig:
    base = {"dataset": LARGE, "representation": "raw", "model_params": dict(FAST_MODEL), "strategy": "entropy",
            "initial_size": 40, "query_size": 20, "rounds": 3, "seed": 1}
    return SessionConfig(**{**base, **kw})


def _picks(records) -> list[list[int]]:
    return [r.selected.tolist() for r in records if r.selected is not None]


@pytest.fixture(scope="module")
def large_run(tmp_path_factory):
    """An uninterrupted session at K = 600 and a session of the same config stopped after one round."""
    folder = tmp_path_factory.mktemp("sparse_labels")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ActiveLearningSession(_config(), store=SessionStore(folder / "reference.sqlite"))
        reference.run()
        store = SessionStore(folder / "interrupted.sqlite")
        stopped = ActiveLearningSession(_config(), store=store)
        stopped.run(rounds=1)
    return reference, store, stopped.session_id


@pytest.mark.slow
def test_a_resume_at_large_k_reproduces_the_uninterrupted_run_from_sparse_rows(large_run):
    reference, store, sid = large_run
    assert reference.n_labels == 600 > THRESHOLD and sp.issparse(reference.dataset.train.Y)
    with sqlite3.connect(store.path) as con:
        init_text = con.execute("SELECT initial_labeled_json FROM sessions").fetchone()[0]
        labels_text = con.execute("SELECT labels_json FROM rounds WHERE round = 0").fetchone()[0]
    assert isinstance(json.loads(init_text)["labels"], dict) and isinstance(json.loads(labels_text), dict)
    _, initial, _ = store.load_session(sid)
    assert sp.issparse(initial["labels"]) and initial["labels"].shape == (40, 600)  # the initial set stays sparse
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = ActiveLearningSession.resume(store, sid)
    # the session holds its labelled set as a new session does: dense uint8 rows, the same values
    assert isinstance(resumed.y_labeled, np.ndarray) and resumed.y_labeled.shape == (60, 600)
    assert resumed.oracle_is_simulated  # the stored initial labels equal the truth
    resumed.run()
    stored = store.load_rounds(sid)
    assert _picks(stored) == _picks(reference.history) and len(_picks(stored)) == 3
    for got, want in zip(stored, reference.history):
        if want.labels is not None:
            assert got.labels.dtype == np.uint8 and got.labels.shape == (20, 600)
            np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(resumed.y_labeled, reference.y_labeled)
    # the readers above the store read the sparse rows: the experiments' loader and the session views
    loaded = load_pick_labels(store.path, [sid])[sid]
    np.testing.assert_array_equal(loaded["initial"], reference.initial_labels)
    np.testing.assert_array_equal(loaded["rounds"][2], reference.history[2].labels)
    frame = session_rounds(store, [sid])
    assert frame["labelled_entropy"].notna().all()


@pytest.mark.slow
def test_the_stored_labels_are_a_small_part_of_the_dense_rows(large_run):
    reference, store, sid = large_run
    with sqlite3.connect(store.path) as con:
        init_text = con.execute("SELECT initial_labeled_json FROM sessions").fetchone()[0]
        texts = [r[0] for r in con.execute("SELECT labels_json FROM rounds WHERE labels_json IS NOT NULL")]
    stored = sum(map(len, texts))
    dense_rounds = sum(len(_old_writer(decode_labels(json.loads(t)))) for t in texts)
    dense_initial = len(_old_writer(reference.initial_labels))
    stored_initial = len(json.dumps(json.loads(init_text)["labels"]))
    # a value is "0, " (3 bytes, the row's last "0" with no ", "), a row adds "[" "]" and the ", " after it
    # (the outer brackets take the place of the last row's ", "): n (3K + 2) bytes
    assert dense_initial == 40 * (3 * 600 + 2)
    # a few labels a row: about 20 bytes a row against 1,802 (754 B against 72,080 B for the 40 initial rows)
    assert stored_initial < dense_initial / 20 and stored < dense_rounds / 20, (stored_initial, stored)


def _v4_store(path) -> None:
    """A store as schema version 4 created it (before sparse label rows)."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version in (1, 2, 3, 4):
        for sql in MIGRATIONS[version]:
            con.execute(sql)
        con.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    con.commit()
    con.close()


@pytest.mark.slow
def test_a_version_4_store_opens_keeps_its_dense_rows_and_writes_new_rows_sparse(large_run, tmp_path, monkeypatch):
    _, source, sid = large_run  # one round stored (and resumed to the end by the test above, or not)
    path = tmp_path / "v4.sqlite"
    _v4_store(path)
    con = sqlite3.connect(path)
    con.execute("ATTACH DATABASE ? AS n", (str(source.path),))
    sessions = ("id, name, created_at, updated_at, config_json, status, dataset_name, dataset_hash, "
                "label_names_json, initial_labeled_json, note, feature_source_json, stop_set_json")
    rounds = ("session_id, round, created_at, n_labeled, metrics_json, selected_json, labels_json, details, scores, "
              "diagnostics, shared_diag_json, timings_json, answered_by, pick_proba, stopping")
    con.execute(f"INSERT INTO sessions ({sessions}) SELECT {sessions} FROM n.sessions")
    con.execute(f"INSERT INTO rounds ({rounds}) SELECT {rounds} FROM n.rounds WHERE round = 0")
    # as the code of version 4 wrote them: dense rows at any K
    init = json.loads(con.execute("SELECT initial_labeled_json FROM sessions").fetchone()[0])
    init["labels"] = decode_labels(init["labels"]).tolist()
    round0 = decode_labels(json.loads(con.execute("SELECT labels_json FROM rounds").fetchone()[0]))
    con.execute("UPDATE sessions SET initial_labeled_json = ?, status = 'running'", (json.dumps(init),))
    con.execute("UPDATE rounds SET labels_json = ?", (_old_writer(round0),))
    con.commit()
    old_rows = con.execute("SELECT round, labels_json FROM rounds").fetchall()
    old_init = con.execute("SELECT initial_labeled_json FROM sessions").fetchone()[0]
    con.close()

    store = SessionStore(path)  # migrates 4 -> 5, rewriting nothing
    assert store.schema_version() == SCHEMA_VERSION == 5
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT round, labels_json FROM rounds").fetchall() == old_rows
        assert con.execute("SELECT initial_labeled_json FROM sessions").fetchone()[0] == old_init
    np.testing.assert_array_equal(store.load_rounds(sid)[0].labels, round0)
    _, initial, _ = store.load_session(sid)
    assert sp.issparse(initial["labels"])  # dense rows above 500 labels come back CSR too
    np.testing.assert_array_equal(initial["labels"].toarray(), np.asarray(init["labels"], dtype=np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = ActiveLearningSession.resume(store, sid)
    resumed.run(rounds=1)
    with sqlite3.connect(path) as con:
        texts = dict(con.execute("SELECT round, labels_json FROM rounds"))
    assert texts[0] == old_rows[0][1] and isinstance(json.loads(texts[0]), list)  # the old row as it was
    assert isinstance(json.loads(texts[1]), dict)  # the new row sparse
    np.testing.assert_array_equal(store.load_rounds(sid)[1].labels, resumed.history[1].labels)
    # a workbench of version 4 refuses the file with its "newer store" message, not a crash on the new form
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 4)
    with pytest.raises(StoreError, match="schema version 5, newer than this workbench understands \\(4\\)"):
        SessionStore(path)


def test_a_damaged_sparse_row_names_the_round_and_column(tmp_path):
    store = SessionStore(tmp_path / "s.sqlite")
    Y = _matrix(5, 600, 0.02, 0)
    sid = store.create_session(_config(), np.arange(5), Y, label_names=[f"l{j}" for j in range(600)])
    _, initial, _ = store.load_session(sid)
    assert sp.issparse(initial["labels"])
    np.testing.assert_array_equal(initial["labels"].toarray(), Y)
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE sessions SET initial_labeled_json = ?",
                    (json.dumps({"positions": list(range(5)), "labels": {"shape": [5, 600], "rows": [[700]] * 5}}),))
    with pytest.raises(StoreError, match="damaged initial_labeled_json.*outside 0..599"):
        store.load_session(sid)


@pytest.mark.slow
def test_merge_copies_sparse_rows_verbatim_and_takes_a_version_4_source_but_gives_no_version_4_dest(
        large_run, tmp_path):
    from mlal_core.session.store_merge import import_session

    _, source, sid = large_run
    dest = SessionStore(tmp_path / "dest.sqlite")
    assert import_session(dest, source, sid) is True
    query = "SELECT labels_json FROM rounds ORDER BY round"
    with sqlite3.connect(source.path) as a, sqlite3.connect(dest.path) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        assert isinstance(json.loads(b.execute(query).fetchone()[0]), dict)
    _, initial, _ = dest.load_session(sid)
    assert sp.issparse(initial["labels"]) and initial["labels"].shape == (40, 600)
    # a version 4 source (rows of v4 are v5 rows) copies into a v5 store ...
    old = tmp_path / "v4.sqlite"
    _v4_store(old)
    with sqlite3.connect(old) as con:
        con.execute("INSERT INTO sessions (id, created_at, updated_at, config_json, status, initial_labeled_json) "
                    "VALUES ('old', 't', 't', ?, 'finished', ?)",
                    (_config().to_json(), json.dumps({"positions": [1, 2], "labels": [[0] * 600, [1] * 600]})))
    assert import_session(dest, old, "old") is True
    _, initial, _ = dest.load_session("old")
    np.testing.assert_array_equal(initial["labels"].toarray().sum(axis=1), [0, 600])
    # ... but a v5 store's rows never go into a v4 store, whose code cannot read sparse rows
    not_upgraded = SimpleNamespace(path=old)  # opened as SessionStore it would be upgraded to v5
    with pytest.raises(StoreError, match="schema versions 5 .* and 4 .*open both with this workbench first"):
        import_session(not_upgraded, dest, sid)
    with sqlite3.connect(old) as con:
        assert con.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] == 0
