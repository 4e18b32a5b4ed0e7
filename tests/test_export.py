"""Figure and table export (mlal_core.export): real PNG / SVG / PDF through kaleido + the system
Chromium, standalone HTML, CSV, and the session zip."""

from __future__ import annotations

import io
import json
import posixpath
import re
import struct
import zlib
import time
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs_version

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
    # the CDN variant is small and pinned to the installed plotly.js version
    assert f'src="https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"' in cdn and len(cdn) < 50_000
    assert export.plotlyjs_bytes().decode() in text  # the offline variant holds the whole plotly.js


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
    assert sorted(z.namelist()) == ["curves.html", "manifest.json", "plotly.min.js"]
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
        "raw/selection.npy", "notes.txt", "figures/heatmap.html", "figures/plotly.min.js", "manifest.json"])
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


# ------------------------------------------------------------------ physical size: dpi and inches
def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(type, payload)`` of every chunk, checking each CRC by hand."""
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + payload), kind
        out.append((kind, payload))
        pos += 12 + length
    return out


def test_png_with_dpi_writes_phys_after_ihdr():
    Image = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    Image.new("RGB", (7, 5), (10, 200, 30)).save(buf, "PNG")
    plain = buf.getvalue()
    assert b"pHYs" not in plain
    out = export.png_with_dpi(plain, 300)
    chunks = png_chunks(out)
    assert [k for k, _ in chunks][:2] == [b"IHDR", b"pHYs"]
    # 300 dpi = 300 / 0.0254 = 11811.02 dots per metre, unit 1 (metre), hand-packed
    assert chunks[1][1] == bytes.fromhex("00002e23" "00002e23" "01")
    ref = io.BytesIO()
    Image.new("RGB", (7, 5), (10, 200, 30)).save(ref, "PNG", dpi=(300, 300))
    assert dict(png_chunks(ref.getvalue()))[b"pHYs"] == chunks[1][1]  # what Pillow writes for 300 dpi
    img = Image.open(io.BytesIO(out))
    assert img.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert img.tobytes() == Image.open(io.BytesIO(plain)).tobytes()  # pixels unchanged
    again = export.png_with_dpi(export.png_with_dpi(plain, 72), 150)  # an old pHYs is replaced
    assert [k for k, _ in png_chunks(again)].count(b"pHYs") == 1
    # dots per metre are whole numbers: a dpi comes back within 0.0254 / 2
    assert Image.open(io.BytesIO(again)).info["dpi"] == pytest.approx((150, 150), abs=0.0127)
    with pytest.raises(ConfigError, match="PNG"):
        export.png_with_dpi(b"GIF89a...", 300)
    with pytest.raises(ConfigError, match="positive"):
        export.png_with_dpi(plain, 0)


def test_jpeg_with_dpi_sets_the_jfif_density():
    Image = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 30)).save(buf, "JPEG")
    plain = buf.getvalue()
    out = export.jpeg_with_dpi(plain, 300)
    assert len(out) == len(plain) and Image.open(io.BytesIO(out)).info["dpi"] == (300, 300)
    assert out[13:18] == bytes.fromhex("01" "012c" "012c")  # units dpi, 300 = 0x012c
    no_jfif = plain[:2] + plain[4 + struct.unpack(">H", plain[4:6])[0]:]  # drop the APP0 segment
    assert no_jfif[2:4] != b"\xff\xe0"
    added = export.jpeg_with_dpi(no_jfif, 96)
    assert Image.open(io.BytesIO(added)).info["dpi"] == (96, 96)
    assert Image.open(io.BytesIO(added)).tobytes() == Image.open(io.BytesIO(plain)).tobytes()
    with pytest.raises(ConfigError, match="JPEG"):
        export.jpeg_with_dpi(b"\x89PNG", 300)


def test_svg_with_physical_size_rewrites_only_the_root():
    svg = (b'<svg class="main-svg" xmlns="http://www.w3.org/2000/svg" width="1050" height="787.5" '
           b'style="" viewBox="0 0 336 252"><rect width="336" height="252" stroke-width="2"/></svg>')
    inches = export.svg_with_physical_size(svg, inches=True)
    root = ET.fromstring(inches)
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("3.5in", "2.625in", "0 0 336 252")
    assert inches.endswith(b'<rect width="336" height="252" stroke-width="2"/></svg>')  # the rest untouched
    px = ET.fromstring(export.svg_with_physical_size(svg, inches=False))
    assert (px.get("width"), px.get("height")) == ("336", "252")
    bare = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 687 515.25"><g/></svg>'
    root = ET.fromstring(export.svg_with_physical_size(bare, inches=True))
    assert (root.get("width"), root.get("height")) == ("7.15625in", "5.3671875in")  # 687 / 96, 515.25 / 96
    with pytest.raises(ConfigError, match="viewBox"):
        export.svg_with_physical_size(b'<svg width="3"><g/></svg>', inches=True)


@needs_browser
@pytest.mark.parametrize("size, width, height", [("screen", "700", "500"), ("column", "3.5in", "2.625in"),
                                                 ("double", "7.15625in", None)])
def test_exported_svg_says_its_physical_size(fig, size, width, height):
    sized, kwargs = export.sized_for_export(fig, size)
    root = ET.fromstring(export.figure_to_bytes(sized, "svg", **kwargs))
    box = [float(v) for v in root.get("viewBox").split()]
    assert box[2] == {"screen": 700, "column": 336, "double": 687}[size]  # the viewBox stays in CSS px
    assert root.get("width") == width
    if size == "screen":
        assert float(root.get("height")) == box[3]  # 1 CSS px = 1/96 in
    else:  # inches = viewBox px / 96, whatever the dpi (300 would have made it 10.9 in wide)
        assert float(root.get("height")[:-2]) == pytest.approx(box[3] / 96)
        assert height is None or root.get("height") == height


@needs_browser
def test_png_says_its_dpi_and_pdf_keeps_its_size(fig):
    Image = pytest.importorskip("PIL.Image")
    col = viz.paper_layout(go.Figure(fig), "column")
    png = export.figure_to_bytes(col, "png", dpi=300)
    assert [k for k, _ in png_chunks(png)][:2] == [b"IHDR", b"pHYs"]
    img = Image.open(io.BytesIO(png))
    assert img.size[0] == 1050 and img.info["dpi"] == pytest.approx((300, 300), abs=0.01)  # 3.5 in
    assert Image.open(io.BytesIO(export.figure_to_bytes(col, "png", scale=2))).info["dpi"] == \
        pytest.approx((192, 192), abs=0.01)  # a screen export: 96 * scale
    assert Image.open(io.BytesIO(export.figure_to_bytes(col, "jpeg", dpi=300))).info["dpi"] == (300, 300)
    pdf = export.figure_to_bytes(col, "pdf", dpi=300)
    box = [float(v) for v in re.search(rb"/MediaBox\s*\[([^\]]*)\]", pdf).group(1).split()]
    assert box[2] == pytest.approx(252, abs=0.5)  # 336 px = 3.5 in = 252 pt, not 3.125 x that


@needs_browser
def test_static_exports_are_deterministic(fig):
    # plotly.js draws random ids into an SVG; the same figure must give the same bytes
    assert export.figure_to_bytes(fig, "svg") == export.figure_to_bytes(fig, "svg")
    heat = viz.correlation_heatmap(np.eye(3))
    items = {"figures/curves": fig, "figures/heat": heat}
    assert export.session_zip(items, figure_formats=("png", "svg")) == \
        export.session_zip(items, figure_formats=("png", "svg"))


# ------------------------------------------------------------------ HTML and the shared plotly.js
def test_html_plotlyjs_variants(fig, tmp_path):
    shared = export.figure_to_bytes(fig, "html", include_plotlyjs="directory").decode()
    assert '<script charset="utf-8" src="plotly.min.js"></script>' in shared and len(shared) < 50_000
    nested = export.figure_to_bytes(fig, "html", include_plotlyjs="../js/plotly.min.js").decode()
    assert 'src="../js/plotly.min.js"' in nested
    for bad in (False, "inline", 'x.js" onload="alert(1)', "plotly.min"):
        with pytest.raises(ConfigError, match="include_plotlyjs"):
            export.figure_to_bytes(fig, "html", include_plotlyjs=bad)
    # write_figure puts plotly.min.js beside an HTML that references it (once)
    folder = tmp_path / "figs"
    export.write_figure(fig, folder / "a.html", include_plotlyjs="directory")
    export.write_figure(fig, folder / "b.html", include_plotlyjs="directory")
    assert (folder / "plotly.min.js").read_bytes() == export.plotlyjs_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["a.html", "b.html", "plotly.min.js"]
    assert get_plotlyjs_version() in export.plotlyjs_bytes()[:300].decode()


def _script_sources(html: bytes) -> list[str]:
    return re.findall(r'<script[^>]*\ssrc="([^"]+)"', html.decode())


def test_session_zip_ships_plotlyjs_once(fig):
    heat = viz.correlation_heatmap(np.eye(3))
    items = {"figures/curves": fig, "figures/heat": heat, "figures/extra/more": fig, "tables/t": pd.DataFrame({"a": [1]})}
    z = zipfile.ZipFile(io.BytesIO(export.session_zip(items, figure_formats=("html", "json"))))
    names = z.namelist()
    html = sorted(n for n in names if n.endswith(".html"))
    assert html == ["figures/curves.html", "figures/extra/more.html", "figures/heat.html"]
    assert [n for n in names if n.endswith(".js")] == ["figures/plotly.min.js"]
    assert len(names) == 3 + 3 + 1 + 1 + 1  # html, json, plotly.min.js, the table, manifest.json
    assert z.read("figures/plotly.min.js") == export.plotlyjs_bytes()
    for name in html:
        data = z.read(name)
        assert len(data) < 50_000  # plotly.js is not repeated in the members
        (src,) = _script_sources(data)
        # the reference resolves to the shared member: the unpacked zip opens offline
        assert posixpath.normpath(posixpath.join(posixpath.dirname(name), src)) == "figures/plotly.min.js"
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["plotlyjs"]["member"] == "figures/plotly.min.js"
    assert manifest["plotlyjs"]["version"] == get_plotlyjs_version()
    assert "figures/plotly.min.js" in manifest["members"]

    inline = zipfile.ZipFile(io.BytesIO(export.session_zip({"a/curves": fig}, figure_formats=("html",),
                                                           plotlyjs=True)))
    assert sorted(inline.namelist()) == ["a/curves.html", "manifest.json"]
    assert export.plotlyjs_bytes() in inline.read("a/curves.html")
    cdn = zipfile.ZipFile(io.BytesIO(export.session_zip({"curves": fig}, figure_formats=("html",), plotlyjs="cdn")))
    assert _script_sources(cdn.read("curves.html")) == [
        f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"]
    assert "plotly.min.js" not in cdn.namelist()
    # no HTML: no plotly.js
    assert "plotly.min.js" not in zipfile.ZipFile(io.BytesIO(export.session_zip({"c": fig}, figure_formats=("json",)))).namelist()
    with pytest.raises(ConfigError, match="plotlyjs"):
        export.session_zip({"c": fig}, figure_formats=("html",), plotlyjs="inline")
    with pytest.raises(ConfigError, match="plotlyjs"):
        export.session_zip({"c": fig}, figure_formats=("html",), figure_kwargs={"include_plotlyjs": True})


def test_a_figure_is_rendered_once_per_size(fig, monkeypatch, request):
    Image = pytest.importorskip("PIL.Image")
    request.addfinalizer(export.clear_render_cache)  # no fake renders left for later tests
    buf = io.BytesIO()
    Image.new("RGB", (3, 2)).save(buf, "PNG")
    calls = []

    def fake_render(fig_dict, opts):  # stands in for the browser: counts what it is asked to draw
        calls.append(dict(opts))
        return buf.getvalue()

    monkeypatch.setattr(export, "_render_static", fake_render)
    export.clear_render_cache()
    first = export.figure_to_bytes(fig, "png", dpi=300)
    assert export.figure_to_bytes(go.Figure(fig), "png", dpi=300) == first  # same figure, same size: kept
    assert len(calls) == 1
    export.figure_to_bytes(fig, "png")  # another scale
    export.figure_to_bytes(go.Figure(fig).update_layout(title="changed"), "png", dpi=300)  # another figure
    assert len(calls) == 3 and calls[0]["scale"] == pytest.approx(300 / 96) and "scale" not in calls[1]
    export.session_zip({"a": fig}, figure_formats=("png",), figure_kwargs={"dpi": 300})
    assert len(calls) == 3  # the zip reuses the render
    assert export.clear_render_cache() == 3
    export.figure_to_bytes(fig, "png", dpi=300)
    assert len(calls) == 4


@needs_browser
def test_background_start(fig, monkeypatch):
    export.stop_export_server()
    t0 = time.perf_counter()
    assert export.start_export_server(background=True) == 0.0
    assert time.perf_counter() - t0 < 0.5  # returns at once; the browser starts in a thread
    deadline = time.perf_counter() + 60
    while not export.export_server_running() and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert export.export_server_running()
    assert export.figure_to_bytes(fig, "png")[:8] == PNG_SIGNATURE
    export.stop_export_server()
    monkeypatch.setenv("MLAL_CHROMIUM", "/nonexistent/chromium")  # no browser: nothing starts, no error
    assert export.start_export_server(background=True) == 0.0
    assert not export.export_server_running()
