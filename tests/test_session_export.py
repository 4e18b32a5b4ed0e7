"""Export of a whole stored session as a zip (``mlal_core.inspection.session_zip``)."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import plotly.graph_objects as go
import pytest
from conftest import FAST_MODEL

from mlal_core import export
from mlal_core.inspection.session_zip import session_export_zip, session_figures
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore, StoreError

needs_browser = pytest.mark.skipif(not export.static_export_available()[0],
                                   reason="static export needs the system Chromium")


@pytest.fixture(scope="module")
def stored_session(small_datasets, tmp_path_factory):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path_factory.mktemp("store") / "s.sqlite")
    cfg = SessionConfig(dataset=None, model_params=dict(FAST_MODEL), strategy="bald", initial_size=30,
                        query_size=10, rounds=2, seed=1, name="export-test")
    session = ActiveLearningSession(cfg, dataset=ds, store=store)
    session.run()
    return store, session


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_zip_holds_config_rounds_picks_session_and_figures(stored_session):
    store, session = stored_session
    zf = _zip(session_export_zip(store, session.session_id, figure_formats=("html",)))
    names = set(zf.namelist())
    assert {"config.json", "session.json", "rounds.csv", "picks.csv", "manifest.json",
            "figures/learning_curve.html", "figures/batch_mean_ir.html", "figures/pool_hard_conflicting.html",
            "figures/label_coverage.html"} <= names

    assert SessionConfig.from_dict(json.loads(zf.read("config.json"))) == session.config
    rounds = pd.read_csv(io.BytesIO(zf.read("rounds.csv")))
    assert rounds["round"].tolist() == [0, 1, 2]
    assert rounds["micro_f1"].tolist() == pytest.approx([r.metrics["micro_f1"] for r in session.history])
    picks = pd.read_csv(io.BytesIO(zf.read("picks.csv")))
    assert picks["position"].tolist() == [int(p) for r in session.history[:-1] for p in r.selected]
    assert "score" in picks.columns
    full = json.loads(zf.read("session.json"))
    assert full["session"]["id"] == session.session_id and len(full["rounds"]) == 3
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["session_id"] == session.session_id and manifest["strategy"] == "bald"
    assert manifest["records"] == 3 and manifest["n_labeled"] == session.history[-1].n_labeled
    # provenance: which features, at which precision, and who answered (issue 14)
    info = store.session_info(session.session_id)
    assert manifest["feature_source"] == info["feature_source"] and manifest["feature_source"]["representation"]
    assert manifest["precision"] == session.config.precision
    assert manifest["oracle"] == {"oracle": "simulated", "person_rounds": [], "simulated_rounds": [0, 1],
                                  "unrecorded_rounds": []}
    assert rounds["answered_by"].iloc[:2].tolist() == ["simulated", "simulated"]
    assert [r["answered_by"] for r in full["rounds"]] == ["simulated", "simulated", None]
    assert picks["answered_by"].eq("simulated").all() and "oracle_labels" in picks.columns
    assert "figures/learning_curve.html" in manifest["members"]
    assert b"<html" in zf.read("figures/learning_curve.html")[:500].lower()


def test_extra_figures_and_no_defaults(stored_session):
    store, session = stored_session
    extra = go.Figure(go.Scatter(x=[0, 1], y=[1, 0])).update_layout(title="extra")
    zf = _zip(session_export_zip(store, session.session_id, {"mine/extra": extra}, figure_formats=("json",),
                                 default_figures=False))
    figs = [n for n in zf.namelist() if n.startswith("figures/")]
    assert figs == ["figures/mine/extra.json"]
    with pytest.raises(Exception, match="not a plotly figure"):
        session_export_zip(store, session.session_id, {"bad": 3}, figure_formats=("json",))


def test_unknown_session_is_a_clear_error(stored_session):
    store, _ = stored_session
    with pytest.raises(StoreError, match="No session"):
        session_export_zip(store, "nope")


def test_session_figures_have_titles_and_axis_titles(stored_session):
    _, session = stored_session
    figs = session_figures(session.history, title_prefix="yeast, bald")
    assert set(figs) == {"learning_curve", "batch_mean_ir", "pool_hard_conflicting", "label_coverage"}
    for fig in figs.values():
        assert fig.layout.title.text.startswith("yeast, bald: ")
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert session_figures([]) == {}


@needs_browser
def test_default_export_has_png_and_svg(stored_session):
    store, session = stored_session
    zf = _zip(session_export_zip(store, session.session_id))
    assert zf.read("figures/learning_curve.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in zf.read("figures/learning_curve.svg")[:2000]
    assert "skipped" not in json.loads(zf.read("manifest.json"))


def test_zip_holds_A_and_NegA_of_the_final_labelled_set(stored_session):
    import numpy as np

    from mlal_core import correlation

    store, session = stored_session
    zf = _zip(session_export_zip(store, session.session_id, figure_formats=("json",)))
    import plotly.io as pio

    fig = pio.from_json(zf.read("figures/labelled_set_A.json").decode())
    neg = pio.from_json(zf.read("figures/labelled_set_NegA.json").decode())
    assert neg.layout.title.text.endswith(f"NegA of the {len(session.labeled):,} labelled samples")
    # the heatmap's values are A of the oracle's answers: initial set + every round's picks
    A = correlation.positive_correlation(session.y_labeled)
    import base64

    packed = fig.data[0].z  # plotly's JSON packs arrays as {"dtype", "bdata"}
    z = np.frombuffer(base64.b64decode(packed["bdata"]), dtype=packed["dtype"]).astype(float)
    np.testing.assert_allclose(np.sort(z[np.isfinite(z)]), np.sort(A[np.isfinite(A)]), atol=1e-9)
    assert fig.layout.title.text.endswith(f"A of the {len(session.labeled):,} labelled samples")


@needs_browser
def test_paper_size_export_is_one_column_at_300_dpi(stored_session):
    import struct

    store, session = stored_session
    zf = _zip(session_export_zip(store, session.session_id, figure_formats=("png",), size="column"))
    png = zf.read("figures/learning_curve.png")
    width, height = struct.unpack(">II", png[16:24])
    # 3.5 in at 300 dpi = 1050 px (336 CSS px x 300/96), height = 0.75 x width
    assert width == 1050 and height == pytest.approx(0.75 * 1050, abs=2)
    with pytest.raises(Exception, match="Unknown export size"):
        export.sized_for_export(go.Figure(), "poster")
