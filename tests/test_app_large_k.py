"""AppTest of the pages on a session with K = 1,000 labels (issue 18, item 4): Label correlations,
Dataset explorer, Selection inspector, Round walk-through and Learning curves render without an
error, show the large-K views (top-k pairs, clustered block, label search; rank-frequency, histogram,
pages of bars), never draw a heatmap or a bar chart with more than ``viz.LARGE_K`` labels, and offer
the full matrix as a CSV. The session (synthetic, power-law label frequencies, planted blocks of
co-occurring labels, N = 600 pool rows, the fast test model) comes from
``benchmarks/page_render_large_k.py``, whose numbers are the render times."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_page_ok as _ok
from streamlit.testing.v1 import AppTest

from mlal_core import correlation, viz
from mlal_core.inspection import round_history as ins

ROOT = Path(__file__).resolve().parent.parent
K = 1000


def _bench():
    spec = importlib.util.spec_from_file_location("page_render_large_k", ROOT / "benchmarks" / "page_render_large_k.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("large_k_home")


@pytest.fixture(scope="module")
def session(home):
    from mlal_core.session.store import SessionStore

    return _bench().large_k_session(K, store=SessionStore(home / "sessions.sqlite"))


def _app(page: str, session, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=300)
    at.session_state["al_session"] = session
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    _ok(at)
    return at


def _traces(at: AppTest) -> list[dict]:
    import plotly.io as pio

    out = []
    for chart in at.get("plotly_chart"):
        fig = pio.from_json(chart.proto.spec)
        out += [dict(type=t.type, title=fig.layout.title.text, trace=t) for t in fig.data]
    return out


def _array(value) -> np.ndarray:
    """A trace's array, also when the chart's JSON holds it as plotly's typed array (base64 ``bdata``)."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return arr.reshape([int(n) for n in str(shape).split(",")]) if shape else arr
    return np.asarray(value)


def _assert_readable(at: AppTest) -> None:
    """No heatmap with more than LARGE_K rows or columns, no bar chart with more than LARGE_K label bars."""
    for t in _traces(at):
        if t["type"] == "heatmap":
            z = _array(t["trace"].z)
            assert z.ndim == 2
            assert max(z.shape) <= viz.LARGE_K, (t["title"], z.shape)
        if t["type"] == "bar":
            assert _array(t["trace"].x).size <= 100, (t["title"], _array(t["trace"].x).size)


def _frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table shown with all of ``columns``."""
    for df in at.dataframe:
        if set(columns) <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no table with columns {columns}")


@pytest.fixture
def deferred(monkeypatch) -> dict:
    """The callables of the on-click downloads drawn from now on, by their file id."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    seen: dict = {}
    plain = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, *args, **kwargs):
        file_id = plain(self, data_callable, *args, **kwargs)
        seen[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return seen


def _download_bytes(at: AppTest, deferred: dict, label_start: str) -> bytes:
    """What the download button whose label starts with ``label_start`` gives when clicked."""
    buttons = [b for b in at.get("download_button") if b.proto.label.startswith(label_start)]
    assert buttons, [b.proto.label for b in at.get("download_button")]
    data = deferred[buttons[0].proto.deferred_file_id]()
    return data if isinstance(data, bytes) else data.encode()


def test_correlations_page_shows_the_large_k_views_and_the_full_matrix(session, deferred):
    at = _app("pages/correlations.py", session)
    _assert_readable(at)
    assert at.radio(key="corr_A_round_view").value == "top-k pairs"
    # the top-k table holds the strongest pairs of the latest labelled set's A (labels with >= 2 positives)
    snap = ins.correlation_at(session, ins.labelled_rounds(session)[-1])
    expected = viz.top_pairs(snap.A, ins.label_names(session), 25, counts=snap.counts, min_count=2)
    shown = _frame_with(at, "rank", "label m", "label n", "value")
    assert shown["label m"].tolist() == expected["label m"].tolist()
    assert np.allclose(shown["value"], expected["value"].round(4))
    # the full K x K matrix is the download
    frame = pd.read_csv(io.BytesIO(_download_bytes(at, deferred, "Full A matrix (1,000 x 1,000")))
    assert frame.shape == (K, K + 1)
    np.testing.assert_allclose(frame.iloc[:, 1:].to_numpy(), snap.A, atol=1e-12)

    at.radio(key="corr_A_round_view").set_value("clustered").run()
    _ok(at)
    _assert_readable(at)
    heatmaps = [t for t in _traces(at) if t["type"] == "heatmap"]
    assert heatmaps and "clustered block" in heatmaps[0]["title"] and f"of {K} labels" in heatmaps[0]["title"]

    at.radio(key="corr_A_round_view").set_value("search").run()
    at.multiselect(key="corr_A_round_search").set_value([0, 1, 2]).run()
    _ok(at)
    _assert_readable(at)
    partners = _frame_with(at, "label", "direction", "partner")
    assert set(partners["label"]) == {ins.label_names(session)[j] for j in (0, 1, 2)}
    assert any(b.proto.label.startswith("Full change matrix") for b in at.get("download_button"))


def test_dataset_explorer_aggregates_the_label_frequencies(session, deferred):
    at = _app("pages/dataset_explorer.py", session)
    _assert_readable(at)
    counts = np.asarray(session.dataset.train.Y.sum(axis=0)).ravel()  # dense or scipy.sparse Y
    rank = [t for t in _traces(at) if t["type"] == "scatter" and "Rank-frequency" in t["title"]]
    assert rank and _array(rank[0]["trace"].y).tolist() == sorted(counts[counts > 0].tolist(), reverse=True)
    at.radio(key="dx_freq_view").set_value(f"pages of {viz.PAGE_SIZE} labels").run()
    at.number_input(key="dx_freq_page").set_value(2).run()
    _ok(at)
    bars = [t for t in _traces(at) if t["type"] == "bar" and "page 2" in t["title"]]
    assert _array(bars[0]["trace"].y).tolist() == sorted(counts.tolist(), reverse=True)[viz.PAGE_SIZE:2 * viz.PAGE_SIZE]
    at.radio(key="dx_freq_view").set_value("histogram of frequencies").run()
    at.radio(key="dx_A_view").set_value("clustered").run()
    _ok(at)
    _assert_readable(at)
    frame = pd.read_csv(io.BytesIO(_download_bytes(at, deferred, "Full A matrix")))
    np.testing.assert_allclose(frame.iloc[:, 1:].to_numpy(), correlation.positive_correlation(session.dataset.train.Y),
                               atol=1e-12)


def test_selection_inspector_renders_at_large_k(session):
    at = _app("pages/selection_inspector.py", session)
    _assert_readable(at)
    assert at.get("plotly_chart") and at.dataframe


def test_round_walkthrough_cuts_long_label_lists(session):
    at = _app("pages/round_walkthrough.py", session, wt_method="PCA (fast)")
    _assert_readable(at)
    steps = at.selectbox(key="wt_step")
    labels_step = next(i for i, title in enumerate(steps.options) if "Kept and dropped" in title)
    steps.set_value(labels_step).run()
    _ok(at)
    numbers = _frame_with(at, "quantity", "value", "key")
    kept = numbers.loc[numbers["key"] == "kept", "value"].iloc[0]
    assert kept.endswith("more)") and kept.count(";") == 40  # 40 names and the count of the rest


def test_learning_curves_render_for_a_large_k_session(session, home, monkeypatch):
    monkeypatch.setenv("MLAL_HOME", str(home))
    at = _app("pages/learning_curves.py", session)
    _assert_readable(at)
    assert at.get("plotly_chart")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"], "a learning curve is drawn"


@pytest.mark.slow
def test_selection_inspector_pages_comals_per_label_profile():
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession

    bench = _bench()
    cfg = SessionConfig(representation="raw", model_params=dict(bench.FAST_MODEL), initial_size=60, query_size=20,
                        rounds=2, strategy="comal", strategy_params={"epochs": 3, "embedding_cap": 200})
    s = ActiveLearningSession(cfg, dataset=bench.large_k_dataset(200))
    s.run(rounds=1)
    at = _app("pages/selection_inspector.py", s)
    _assert_readable(at)
    profile = [t for t in _traces(at) if t["type"] == "bar" and "prototype similarity" in t["title"]]
    assert profile and "page 1 of 5" in profile[0]["title"]
    k = _array(profile[0]["trace"].y)
    assert k.size == viz.PAGE_SIZE and (np.diff(k) <= 0).all()  # the most similar labels first
    at.number_input(key="insp_kprofile_page").set_value(5).run()
    _ok(at)
    last = [t for t in _traces(at) if t["type"] == "bar" and "page 5 of 5" in t["title"]]
    assert last and _array(last[0]["trace"].y).max() <= k.min()
