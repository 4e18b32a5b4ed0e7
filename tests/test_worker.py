"""The background session worker: progress, cancellation mid-round, crashes, and the store."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FAST_MODEL

from mlal_core.errors import ConfigError
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore
from mlal_core.session.worker import SessionWorker


def _session(ds, store=None, **kw) -> ActiveLearningSession:
    cfg = {"model_params": dict(FAST_MODEL), "strategy": "entropy", "initial_size": 30, "query_size": 20,
           "rounds": 3, "seed": 0, **kw}
    return ActiveLearningSession(SessionConfig(**cfg), dataset=ds, store=store)


def _picks(history) -> list:
    return [None if r.selected is None else r.selected.tolist() for r in history]


def _run(worker: SessionWorker) -> SessionWorker:
    worker.start()
    assert worker.join(timeout=300), "the worker did not end"
    return worker


def test_runs_every_record_stores_it_and_reports_phases(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    session = _session(ds, store)
    seen: list[str] = []
    worker = SessionWorker(session, records=4, on_record=lambda rec, pend: seen.append(rec.round))
    progress = worker._progress
    messages: list[str] = []

    def spy(done, total, message):
        messages.append(message)
        progress(done, total, message)

    worker._progress = spy
    st = _run(worker).status()
    assert (st.state, st.records_done, st.records_total, st.error) == ("done", 4, 4, None)
    assert seen == [0, 1, 2, 3] and session.finished
    _, _, rounds = store.load_session(session.session_id)
    assert len(rounds) == 4 and rounds[-1].final
    assert store.list_sessions().iloc[0]["status"] == "finished"
    # every phase of a query round reports, the model's epochs included
    for phase in ("training the model", "Training MLP ensemble", "scoring the pool", "selecting 20 of"):
        assert any(m.startswith("Round 1: " + phase) for m in messages), phase
    # the same rounds as a session run in the caller's thread
    plain = _session(ds)
    plain.run()
    assert _picks(plain.history) == _picks(session.history)


def test_cancel_mid_training_drops_the_round_and_the_session_continues_identically(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    session = _session(ds, store)
    worker = SessionWorker(session, records=4)
    progress = worker._progress
    cancelled_during: list[str] = []

    def cancel_in_round_1_training(done, total, message):
        if message.startswith("Round 1: Training") and not cancelled_during:
            cancelled_during.append(message)
            worker.cancel()
        progress(done, total, message)

    worker._progress = cancel_in_round_1_training
    st = _run(worker).status()
    assert st.state == "cancelled" and st.records_done == 1 and "dropped" in st.message
    assert cancelled_during  # it really was cancelled while the model trained
    assert len(session.history) == 1 and len(session.labeled) == 50
    _, _, stored = store.load_session(session.session_id)
    assert [r.round for r in stored] == [0]
    assert store.list_sessions().iloc[0]["status"] == "running"

    # a new worker goes on from the last completed round; the picks equal an uninterrupted run
    assert _run(SessionWorker(session, records=3)).status().state == "done"
    plain = _session(ds)
    plain.run()
    assert _picks(session.history) == _picks(plain.history)
    resumed = ActiveLearningSession.resume(store, session.session_id, ds)
    assert _picks(resumed.history) == _picks(plain.history)


def test_stop_after_round_keeps_the_round_in_progress(small_datasets):
    session = _session(small_datasets["yeast_small"])
    worker = SessionWorker(session, records=4, on_record=lambda rec, pend: worker.stop_after_round())
    st = _run(worker).status()
    assert (st.state, st.records_done) == ("cancelled", 1)
    assert len(session.history) == 1 and "Stopped after 1 of 4" in st.message


def test_a_crash_marks_the_stored_session_failed_and_keeps_completed_rounds(small_datasets, tmp_path):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    session = _session(ds, store)
    select = session.strategy.select

    def broken(ctx, n):
        if ctx.round == 1:
            raise RuntimeError("the strategy broke")
        return select(ctx, n)

    session.strategy.select = broken
    worker = _run(SessionWorker(session, records=4))
    st = worker.status()
    assert st.state == "failed" and st.error == "RuntimeError: the strategy broke"
    assert "the strategy broke" in worker.traceback
    row = store.list_sessions().iloc[0]
    assert row["status"] == "failed" and "the strategy broke" in store.session_info(session.session_id)["note"]
    assert len(session.history) == 1
    # fixed, the same session runs on and the store says running again, then finished
    session.strategy.select = select
    assert _run(SessionWorker(session, records=3)).status().state == "done"
    assert store.list_sessions().iloc[0]["status"] == "finished"


def test_the_lock_is_held_while_a_round_runs(small_datasets):
    import threading

    lock = threading.Lock()
    session = _session(small_datasets["yeast_small"])
    held: list[bool] = []
    worker = SessionWorker(session, records=1, lock=lock)
    progress = worker._progress
    worker._progress = lambda d, t, m: (held.append(lock.locked()), progress(d, t, m))
    _run(worker)
    assert held and all(held)


def test_status_fraction_and_validation(small_datasets):
    session = _session(small_datasets["yeast_tiny"], rounds=1, initial_size=10, query_size=5)
    with pytest.raises(ConfigError, match="at least 1"):
        SessionWorker(session, records=0)
    worker = SessionWorker(session, records=1)
    assert worker.status().state == "ready" and worker.status().step_fraction is None
    worker._progress(3, 4, "x")
    assert worker.status().step_fraction == pytest.approx(0.75)
    _run(worker)
    with pytest.raises(ConfigError, match="already started"):
        worker.start()
    assert np.isfinite(worker.status().elapsed_s)


def test_propose_only_leaves_the_round_for_a_person_to_label(small_datasets):
    session = _session(small_datasets["yeast_small"], rounds=1)
    with pytest.raises(ConfigError, match="records=1"):
        SessionWorker(session, records=2, commit=False)
    worker = _run(SessionWorker(session, records=1, commit=False))
    st = worker.status()
    assert st.state == "done" and st.records_done == 0 and "20 picks wait for labels" in st.message
    pending = worker.pending
    assert pending.round == 0 and len(pending.selected) == 20 and session.history == []
    session.commit(pending, np.zeros((20, session.n_labels), dtype=np.uint8))  # the person answers "no label"
    # the final evaluation needs no labels: a propose-only worker commits it
    final = _run(SessionWorker(session, records=1, commit=False))
    assert final.pending is None and final.status().records_done == 1 and session.finished
