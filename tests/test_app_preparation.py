"""The Home page prepares features in a background worker: progress with rate and ETA, cancel, and
work that goes on while the user is on another page."""

from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest
from test_app_pages import APP, TIMEOUT, _ok

from mlal_core import data
from mlal_core.features import minilm


@pytest.fixture
def gated_encoding(monkeypatch):
    """Encoding pauses after its first batch until the test opens the gate."""
    gate = threading.Event()
    real = minilm._encode_in_chunks

    def gated(corpus, entry, max_length, batch_size, dev, precision, chunk_batches, progress, name):
        def paused(done, total, message):
            progress(done, total, message)
            gate.wait(TIMEOUT)
        return real(corpus, entry, max_length, batch_size, dev, precision, chunk_batches, paused, name)

    monkeypatch.setattr(minilm, "_encode_in_chunks", gated)
    yield gate
    gate.set()


def _upload_texts(at: AppTest, n: int = 150) -> None:
    ds = data.load("goemotions")
    rows = ["text,labels"] + [
        '"{}",{}'.format(t.replace('"', "'"), "|".join(ds.label_names[j] for j in ds.train.Y[i].nonzero()[0]) or "neutral")
        for i, t in enumerate(ds.train.texts[:n])
    ]
    at.radio(key="home_source").set_value("My own file").run()
    at.file_uploader(key="home_upload").set_value(("emotions.csv", "\n".join(rows).encode(), "text/csv")).run()
    _ok(at)
    at.radio(key="home_rep_text").set_value("MiniLM sentence embeddings")
    for key, value in {"home_initial": 20, "home_query": 5, "home_rounds": 1, "home_members": 1}.items():
        at.number_input(key=key).set_value(value)
    at.run()
    _ok(at)


def _wait_for(condition, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_preparation_survives_a_page_switch_and_then_starts_the_session(gated_encoding):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _upload_texts(at)
    at.button(key="home_start").click().run()
    _ok(at)
    worker = at.session_state["home_preparing"]["worker"]
    assert worker.running
    assert [b for b in at.button if b.key == "home_prepare_cancel"]
    assert at.button(key="home_start").disabled  # one preparation at a time
    _wait_for(lambda: worker.status().step_done > 0)  # at the gate, after the first batch
    at.run()
    # the progress says what runs, done / total (the distinct texts of the upload)
    assert any("Encoding" in p.proto.text and "/ 150" in p.proto.text for p in at.get("progress"))
    # another page: it stays usable, and the worker goes on (a script thread would have been stopped)
    at.switch_page("pages/dataset_explorer.py").run()
    _ok(at)
    assert worker.running and "al_session" not in at.session_state
    other_tab = AppTest.from_file(APP, default_timeout=TIMEOUT)  # the sidebar, on every page and tab
    other_tab.run()
    assert any("Encoding" in c.value and "/ 150" in c.value for c in other_tab.sidebar.caption)
    at.switch_page("pages/home.py").run()
    _ok(at)
    assert at.session_state["home_preparing"]["worker"] is worker
    gated_encoding.set()
    assert worker.join(TIMEOUT) and worker.status().state == "done"
    at.run()
    _ok(at)
    session = at.session_state["al_session"]
    assert session.dataset.name == "emotions" and session.representation == "minilm"
    assert session.feature_source["source"] == "computed" and session.features.train.shape[1] == 384
    assert "home_preparing" not in at.session_state and any("started" in s.value for s in at.success)


def test_cancel_stops_the_preparation_and_a_new_start_resumes(gated_encoding):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _upload_texts(at, n=120)  # not the other test's file: finished workers are kept per server process
    at.button(key="home_start").click().run()
    worker = at.session_state["home_preparing"]["worker"]
    at.button(key="home_prepare_cancel").click().run()
    _ok(at)
    gated_encoding.set()
    assert worker.join(TIMEOUT) and worker.status().state == "cancelled"
    assert "home_preparing" not in at.session_state and "al_session" not in at.session_state
    assert not at.button(key="home_start").disabled
    at.button(key="home_start").click().run()  # a new worker (the cancelled one is replaced)
    again = at.session_state["home_preparing"]["worker"]
    assert again is not worker
    assert again.join(TIMEOUT) and again.status().state == "done"
    at.run()
    _ok(at)
    assert at.session_state["al_session"].features.train.shape[1] == 384


def test_a_failed_preparation_says_why_and_keeps_saying_it(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full while writing a chunk")

    monkeypatch.setattr(minilm, "_encode_in_chunks", broken)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _upload_texts(at, n=90)
    at.button(key="home_start").click().run()
    if "home_preparing" in at.session_state:  # still running at that rerun (else it failed already)
        assert at.session_state["home_preparing"]["worker"].join(TIMEOUT)
    for _ in range(2):  # the message stays on later reruns (the panel refreshes every second)
        at.run()
        assert at.error and "Preparing the features failed: RuntimeError: disk full" in at.error[0].value
    assert "al_session" not in at.session_state and not at.button(key="home_start").disabled
