"""Figure and table export (mlal_core.export): real PNG / SVG / PDF through kaleido + the system
Chromium, standalone HTML, CSV, and the session zip."""

from __future__ import annotations

import io
import json
import struct
import time
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mlal_core import export, viz
from mlal_core.errors import ConfigError

needs_browser = pytest.mark.skipif(
    export.find_chromium() is None,
    reason="no Chromium for static export (apt-get install chromium); CI installs it",
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def fig():
    summary = pd.DataFrame({"group": ["a", "a", "b", "b"], "n_labeled": [10, 20, 10, 20],
                            "mean": [0.3, 0.5, 0.35, 0.45], "std": [0.05, 0.02, 0.03, 0.04]})
    return viz.learning_curves(summary)


@needs_browser
def test_png_has_signature_and_requested_pixel_size(fig):
    data = export.figure_to_bytes(fig, "png", width=400, height=300, scale=2)
    assert png_size(data) == (800, 600)
    col = viz.paper_layout(go.Figure(fig), "column")
    w, h = png_size(export.figure_to_bytes(col, "png", dpi=300))  # 336 x 252 px at 300/96
    assert w == 1050 and h in (787, 788)  # 252 * 3.125 = 787.5
    assert png_size(export.figure_to_bytes(col, "png")) == (336, 252)  # the layout's own size


@needs_browser
def test_svg_is_xml_with_svg_root(fig):
    data = export.figure_to_bytes(fig, "svg", width=500, height=320)
    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert float(root.get("width")) == 500 and float(root.get("height")) == 320
    assert b"Labelled samples (count)" in data  # the axis title is real text in the SVG


@needs_browser
def test_pdf_and_warm_export_time(fig):
    assert export.figure_to_bytes(fig, "pdf").startswith(b"%PDF-")
    export.start_export_server()
    assert export.export_server_running()
    t0 = time.perf_counter()
    for _ in range(3):
        export.figure_to_bytes(fig, "png")
    per_export = (time.perf_counter() - t0) / 3
    assert per_export < 2.0, f"a warm PNG export took {per_export:.2f} s"
    assert export.start_export_server() == 0.0  # one browser per process: already running


@needs_browser
def test_export_restarts_after_stop(fig):
    export.stop_export_server()
    assert not export.export_server_running()
    assert export.figure_to_bytes(fig, "png")[:8] == PNG_SIGNATURE
    assert export.export_server_running()
    assert export.last_export_timings()["start_s"] > 0


def test_html_is_standalone_and_offline(fig):
    data = export.figure_to_bytes(fig, "html")
    text = data.decode("utf-8")
    assert text.lstrip().lower().startswith("<html") or "<!doctype html" in text.lower()[:200]
    assert "<script src=" not in text and "src=\"http" not in text  # nothing fetched from outside
    assert "plotly.js v" in text or "Plotly" in text and len(data) > 1_000_000  # plotly.js inlined
    assert "Labelled samples (count)" in text
    cdn = export.figure_to_bytes(fig, "html", include_plotlyjs="cdn").decode()
    assert 'src="https://cdn.plot.ly' in cdn and len(cdn) < 100_000


def test_json_export_roundtrips(fig):
    data = json.loads(export.figure_to_bytes(fig, "json"))
    assert len(data["data"]) == len(fig.data) and data["layout"]["title"]["text"] == fig.layout.title.text


@pytest.mark.parametrize("kwargs", [dict(fmt="gif"), dict(fmt="png", scale=0), dict(fmt="png", scale=2, dpi=300),
                                    dict(fmt="png", width=-1), dict(fmt="html", include_plotlyjs=False)])
def test_figure_to_bytes_rejects(fig, kwargs):
    with pytest.raises(ConfigError):
        export.figure_to_bytes(fig, **kwargs)
    with pytest.raises(ConfigError):
        export.figure_to_bytes("not a figure", "html")
    with pytest.raises(ConfigError, match="not a valid plotly figure"):
        export.figure_to_bytes({"data": [{"type": "nonexistent"}]}, "png")


def test_missing_browser_is_a_clear_error(fig, monkeypatch):
    export.stop_export_server()
    monkeypatch.setenv("MLAL_CHROMIUM", "/nonexistent/chromium")
    ok, msg = export.static_export_available()
    assert not ok and "apt-get install chromium" in msg and "/nonexistent/chromium" in msg
    with pytest.raises(export.ExportUnavailableError, match="apt-get install chromium"):
        export.figure_to_bytes(fig, "png")
    # HTML needs no browser
    assert export.figure_to_bytes(fig, "html")[:1]
    # the session zip skips the static formats and says why
    z = zipfile.ZipFile(io.BytesIO(export.session_zip({"curves": fig}, figure_formats=("png", "html"))))
    assert sorted(z.namelist()) == ["curves.html", "manifest.json"]
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["skipped"][0]["member"] == "curves.png" and "chromium" in manifest["skipped"][0]["reason"]
    with pytest.raises(export.ExportUnavailableError):
        export.session_zip({"curves": fig}, skip_unavailable=False)


def test_figure_filename():
    assert export.figure_filename("Learning curves: Macro-F1 (mean \u00b1 std)", "png") == \
        "learning-curves-macro-f1-mean-std.png"
    assert export.figure_filename("<b>Caf\u00e9</b> / r\u00e9sum\u00e9<br>2", "svg") == "cafe-resume-2.svg"
    assert export.figure_filename("", "html") == "figure.html"
    assert export.figure_filename("???", ".PNG") == "figure.png"
    assert export.figure_filename(go.Figure(layout=dict(title=dict(text="My plot"))), "pdf") == "my-plot.pdf"
    assert len(export.figure_filename("x" * 500, "png", max_len=40)) == 44
    with pytest.raises(ConfigError):
        export.figure_filename("t", "p/n")


def test_table_csv_roundtrip():
    df = pd.DataFrame({"strategy": ["crab", "random, seeded", "\u00e9l\u00e8ve"], "n_labeled": [10, 20, 30],
                       "f1": [0.123456789, np.nan, 1.0]})
    back = pd.read_csv(io.BytesIO(export.table_to_csv_bytes(df)))
    pd.testing.assert_frame_equal(back, df)
    with_index = pd.read_csv(io.BytesIO(export.table_to_csv_bytes(df.set_index("strategy"), index=True)))
    assert list(with_index.columns) == ["strategy", "n_labeled", "f1"]
    with pytest.raises(ConfigError):
        export.table_to_csv_bytes([1, 2])


def test_session_zip_members_and_determinism(fig):
    df = pd.DataFrame({"a": [1, 2]})
    items = {
        "figures/curves": fig,
        "tables/rounds": df,
        "config": {"seed": np.int64(3), "scores": np.array([0.5, np.nan]), "name": "crab"},
        "raw/selection.npy": b"\x93NUMPY",
        "notes": "hello",
        "figures/heatmap.html": viz.correlation_heatmap(np.eye(3)),
    }
    data = export.session_zip(items, figure_formats=("html", "json"), manifest={"dataset": "yeast"})
    z = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(z.namelist()) == sorted([
        "figures/curves.html", "figures/curves.json", "tables/rounds.csv", "config.json",
        "raw/selection.npy", "notes.txt", "figures/heatmap.html", "manifest.json"])
    assert json.loads(z.read("config.json")) == {"seed": 3, "scores": [0.5, None], "name": "crab"}
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(z.read("tables/rounds.csv"))), df)
    assert z.read("raw/selection.npy") == b"\x93NUMPY"
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["dataset"] == "yeast" and "tables/rounds.csv" in manifest["members"]
    assert export.session_zip(items, figure_formats=("html", "json")) == \
        export.session_zip(items, figure_formats=("html", "json"))  # same inputs, same bytes


@needs_browser
def test_session_zip_with_png(fig):
    z = zipfile.ZipFile(io.BytesIO(export.session_zip({"curves": fig}, figure_formats=("png", "svg"))))
    assert sorted(z.namelist()) == ["curves.png", "curves.svg", "manifest.json"]
    assert z.read("curves.png")[:8] == PNG_SIGNATURE
    assert "skipped" not in json.loads(z.read("manifest.json"))


@pytest.mark.parametrize("items", [
    {},
    {"../evil": b"x"},
    {"/abs": b"x"},
    {"a.csv": pd.DataFrame({"x": [1]}), "a": pd.DataFrame({"x": [2]})},
    {"obj": object()},
    {"manifest.json": b"{}"},
])
def test_session_zip_rejects(items):
    with pytest.raises(ConfigError):
        export.session_zip(items, figure_formats=("html",))
