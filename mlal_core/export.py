"""Export figures and tables for papers: PNG / SVG / PDF through kaleido and the system Chromium,
standalone HTML, CSV, and a zip of a whole session.

Static images (PNG, SVG, PDF, JPEG, WebP) are drawn by kaleido 1.x, which drives a headless
Chromium over the DevTools protocol (choreographer). The workbench uses the **system** browser:
``$MLAL_CHROMIUM``, else ``$BROWSER_PATH`` (choreographer's own override), else the first of
``chromium``, ``chromium-browser``, ``google-chrome``, ``google-chrome-stable`` on ``PATH`` (Debian:
``apt-get install chromium``). Nothing is downloaded.

One Chromium is kept per process: the first static export starts it (about 1-3 s), later ones reuse
it (about 0.1-0.2 s each). It runs on a private asyncio loop in a daemon thread and is closed at
exit. We do not use ``kaleido.start_sync_server``: when the browser fails to start there, the first
export waits forever on a queue nobody reads; here a failed start raises at once with what to
install, a render has a timeout, and a browser that died is restarted once. Exports from several
threads (Streamlit sessions) are serialised by a lock. A forked child (multiprocessing, Ray) starts
its own browser. Rendered files are kept (up to 64 MB, least recently used dropped first) and reused
for the same figure and options: a zip built twice, or a figure downloaded and then zipped, is drawn
once (:func:`clear_render_cache` or :func:`stop_export_server` forgets them).

MathJax is disabled (it would be fetched from a CDN, and the app must work offline), so LaTeX in
titles is drawn as plain text; plotly.js comes from the installed plotly package.

Physical size: a figure is laid out in CSS pixels (96 per inch). A PNG carries its dots per inch in a
``pHYs`` chunk (``dpi``, else ``96 * scale``; a JPEG in its JFIF header), so a one-column figure
(336 px) exported at ``dpi=300`` is 1050 px and 3.5 in wide. SVG and PDF are vector formats: ``scale``
and ``dpi`` do not enlarge them; with ``dpi`` (the paper sizes) an SVG's root says its size in inches
(``width="3.5in"``), else in pixels equal to its ``viewBox``. SVG element ids (random in plotly.js)
are made stable, so the same figure gives the same bytes.

HTML: ``include_plotlyjs=True`` inlines plotly.js (about 4.8 MB, opens offline), ``"cdn"`` loads the
installed version from ``cdn.plot.ly`` (a few kB, needs the network), ``"directory"`` (or a relative
path ending in ``.js``) references a ``plotly.min.js`` beside the file; :func:`session_zip` ships
that file once and every HTML member references it.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import datetime as _dt
import hashlib
import io
import json
import logging
import os
import posixpath
import re
import shutil
import struct
import threading
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from mlal_core.errors import ConfigError, MLALError
from mlal_core.viz.theme import dpi_scale, paper_layout

__all__ = [
    "EXPORT_SIZES",
    "FORMATS",
    "MIME_TYPES",
    "PLOTLYJS_FILENAME",
    "STATIC_FORMATS",
    "ExportError",
    "ExportUnavailableError",
    "clear_render_cache",
    "export_server_running",
    "figure_filename",
    "figure_to_bytes",
    "find_chromium",
    "jpeg_with_dpi",
    "last_export_timings",
    "plotlyjs_bytes",
    "png_with_dpi",
    "session_zip",
    "sized_for_export",
    "start_export_server",
    "static_export_available",
    "stop_export_server",
    "svg_with_physical_size",
    "table_to_csv_bytes",
    "write_figure",
]

STATIC_FORMATS = ("png", "svg", "pdf", "jpeg", "webp")
FORMATS = STATIC_FORMATS + ("html", "json")
MIME_TYPES = {
    "png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "jpeg": "image/jpeg",
    "webp": "image/webp", "html": "text/html", "json": "application/json", "csv": "text/csv",
    "zip": "application/zip",
}
_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_INSTALL_HINT = (
    "Static figure export (PNG/SVG/PDF) needs a Chromium-based browser. Install the system Chromium "
    "(Debian/Ubuntu: `sudo apt-get install chromium`; macOS: install Google Chrome), or point "
    "MLAL_CHROMIUM (or BROWSER_PATH) at a chrome/chromium executable. HTML, JSON and CSV export work "
    "without it."
)
#: file name of the shared plotly.js beside HTML figures (``include_plotlyjs="directory"``)
PLOTLYJS_FILENAME = "plotly.min.js"
CSS_PX_PER_INCH = 96.0
_logger = logging.getLogger(__name__)
RENDER_TIMEOUT_S = 60.0
START_TIMEOUT_S = 60.0


class ExportError(MLALError, RuntimeError):
    """A figure could not be exported."""


class ExportUnavailableError(ExportError):
    """A static export cannot run here (no browser, or the browser does not start); says what to fix."""


# ----------------------------------------------------------------------------------------- browser
def find_chromium() -> str | None:
    """Path of the browser static export uses, or ``None`` (see the module docstring for the order)."""
    for var in ("MLAL_CHROMIUM", "BROWSER_PATH"):
        path = os.environ.get(var)
        if path:
            return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    for name in _BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def static_export_available() -> tuple[bool, str]:
    """``(True, browser path)`` when PNG/SVG export can run, else ``(False, what to install)``."""
    path = find_chromium()
    if path is None:
        bad = next((f"{v}={os.environ[v]!r} is not an executable file. " for v in ("MLAL_CHROMIUM", "BROWSER_PATH")
                    if os.environ.get(v)), "")
        return False, bad + _INSTALL_HINT
    return True, path


class _Renderer:
    """One kaleido browser on a private event loop in a daemon thread."""

    def __init__(self, browser_path: str) -> None:
        self.browser_path = browser_path
        self.pid = os.getpid()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="mlal-kaleido", daemon=True)
        self._thread.start()
        self._kaleido: Any = None  # a kaleido.Kaleido once open() has run

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro, timeout: float):
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    async def _open(self):
        import kaleido

        k = kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT_S, mathjax=False, path=self.browser_path)
        await k.open()
        self._kaleido = k

    async def _render(self, fig_dict: dict, opts: dict) -> bytes:
        return await self._kaleido.calc_fig(fig_dict, opts=opts)

    def open(self) -> None:
        self._call(self._open(), START_TIMEOUT_S)

    def render(self, fig_dict: dict, opts: dict) -> bytes:
        return self._call(self._render(fig_dict, opts), RENDER_TIMEOUT_S + 5)

    def close(self) -> None:
        try:
            if self._kaleido is not None and self._loop.is_running():
                self._call(self._kaleido.close(), 15)
        except Exception as e:  # noqa: BLE001 - best effort at shutdown
            _logger.debug("closing the export browser failed: %s", e)
        finally:
            self._kaleido = None
            if self._loop.is_running():
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


_renderer: _Renderer | None = None
_renderer_lock = threading.RLock()
_timings: dict[str, float] = {}
#: rendered files by (figure, options) digest: the same figure at the same size is drawn once per
#: process (a zip built twice, a figure downloaded and then zipped); the renders are deterministic
_render_cache: collections.OrderedDict[str, bytes] = collections.OrderedDict()
_RENDER_CACHE_BYTES = 64 * 1024 * 1024


def _get_renderer() -> _Renderer:
    global _renderer
    if _renderer is not None and _renderer.pid != os.getpid():
        _renderer = None  # a forked child: the parent's thread and browser are not ours
    if _renderer is None:
        ok, info = static_export_available()
        if not ok:
            raise ExportUnavailableError(info)
        t0 = time.perf_counter()
        r = _Renderer(info)
        try:
            r.open()
        except BaseException as e:
            r.close()
            raise ExportUnavailableError(
                f"The browser at {info} did not start for figure export ({type(e).__name__}: {e}). "
                + _INSTALL_HINT
            ) from e
        _timings["start_s"] = time.perf_counter() - t0
        _renderer = r
        atexit.register(stop_export_server)
    return _renderer


def start_export_server(*, background: bool = False) -> float:
    """Start the export browser now, so that the first static export does not wait for it.

    Parameters
    ----------
    background : bool, default False
        Start it in a daemon thread and return at once (e.g. while a zip's tables and figures are
        built, or when the app opens); a failed start is then only logged, and the next static
        export raises :class:`ExportUnavailableError` saying what to install.

    Returns
    -------
    float
        Seconds taken (0 when it was already running, or with ``background=True``).

    Raises
    ------
    ExportUnavailableError
        When the browser cannot start (not with ``background=True``).
    """
    if background:
        if not export_server_running() and static_export_available()[0]:
            threading.Thread(target=_start_quietly, name="mlal-export-start", daemon=True).start()
        return 0.0
    with _renderer_lock:
        if _renderer is not None and _renderer.pid == os.getpid():
            return 0.0
        t0 = time.perf_counter()
        _get_renderer()
        return time.perf_counter() - t0


def _start_quietly() -> None:
    try:
        start_export_server()
    except ExportError as e:  # the next export raises it, with what to install
        _logger.info("the export browser did not start in the background: %s", e)


def stop_export_server() -> None:
    """Close the export browser (it restarts on the next static export) and forget its renders."""
    global _renderer
    with _renderer_lock:
        _render_cache.clear()
        r, _renderer = _renderer, None
        if r is not None and r.pid == os.getpid():
            r.close()


def export_server_running() -> bool:
    """Whether this process has the export browser open (a static export started it)."""
    return _renderer is not None and _renderer.pid == os.getpid()


def last_export_timings() -> dict[str, float]:
    """``{"start_s": browser start, "render_s": last static render}`` in seconds (what has happened)."""
    return dict(_timings)


def _render_static(fig_dict: dict, opts: dict) -> bytes:
    with _renderer_lock:
        for attempt in (0, 1):
            r = _get_renderer()
            t0 = time.perf_counter()
            try:
                out = r.render(fig_dict, opts)
            except (ValueError, TypeError, AttributeError):
                raise
            except Exception as e:
                if type(e).__name__ in ("KaleidoError", "JavascriptError"):
                    # plotly.js could not draw this figure: the browser is fine, the figure is not
                    raise ExportError(f"plotly.js could not draw the figure: {e}") from e
                # the browser died or hung: restart it once
                stop_export_server()
                if attempt:
                    raise ExportUnavailableError(
                        f"Figure export failed twice in the browser ({type(e).__name__}: {e})."
                    ) from e
                continue
            _timings["render_s"] = time.perf_counter() - t0
            return out
    raise AssertionError("unreachable")


def _render_cached(fig_dict: dict, opts: dict) -> bytes:
    from plotly.utils import PlotlyJSONEncoder

    spec = json.dumps({"fig": fig_dict, "opts": opts}, cls=PlotlyJSONEncoder, sort_keys=True)
    key = hashlib.sha256(spec.encode("utf-8")).hexdigest()
    with _renderer_lock:
        if key in _render_cache:
            _render_cache.move_to_end(key)
            return _render_cache[key]
    data = _render_static(fig_dict, opts)
    with _renderer_lock:
        _render_cache[key] = data
        while sum(len(v) for v in _render_cache.values()) > _RENDER_CACHE_BYTES and len(_render_cache) > 1:
            _render_cache.popitem(last=False)
    return data


def clear_render_cache() -> int:
    """Forget the static renders kept in this process (they are reused for the same figure and options).

    Returns
    -------
    int
        How many renders were dropped.
    """
    with _renderer_lock:
        n = len(_render_cache)
        _render_cache.clear()
    return n


# ----------------------------------------------------------------------------------------- figures
def _as_figure(fig) -> go.Figure:
    if isinstance(fig, go.Figure):
        return fig
    if isinstance(fig, dict) and "data" in fig:
        try:
            return go.Figure(fig)
        except ValueError as e:
            first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "invalid figure")
            raise ConfigError(f"not a valid plotly figure: {first}") from None
    raise ConfigError(f"expected a plotly Figure (or its dict); got {type(fig).__name__}.")


#: figure sizes for export: on-screen size, or laid out for one / two paper columns at 300 dpi
EXPORT_SIZES = {
    "screen": "as on screen",
    "column": "one paper column (3.5 in, 300 dpi)",
    "double": "two paper columns (7.16 in, 300 dpi)",
}


def sized_for_export(fig, size: str = "screen") -> tuple[go.Figure, dict]:
    """``(figure, figure_to_bytes kwargs)`` for an export ``size`` of :data:`EXPORT_SIZES`: a copy laid
    out by :func:`~mlal_core.viz.paper_layout` and rendered at 300 dpi for the paper sizes; the
    figure itself, unchanged, for ``"screen"``.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure or dict
        The figure (a figure dict is converted).
    size : {"screen", "column", "double"}, default "screen"
        Export size.

    Returns
    -------
    figure : plotly.graph_objects.Figure
        The figure to export.
    kwargs : dict
        Keyword arguments for :func:`figure_to_bytes` (``{"dpi": 300}`` or ``{}``).

    Raises
    ------
    ConfigError
        If ``size`` is unknown or ``fig`` is not a valid figure.
    """
    if size not in EXPORT_SIZES:
        raise ConfigError(f"Unknown export size {size!r}; choose one of {', '.join(EXPORT_SIZES)}.")
    fig = _as_figure(fig)
    if size == "screen":
        return fig, {}
    return paper_layout(go.Figure(fig), size), {"dpi": 300}


def figure_to_bytes(fig, fmt: str = "png", *, width: float | None = None, height: float | None = None,
                    scale: float | None = None, dpi: float | None = None,
                    include_plotlyjs: bool | str = True) -> bytes:
    """The figure as a file's bytes.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure or dict
        The figure (a figure dict is converted).
    fmt : str, default "png"
        ``"png"``, ``"svg"``, ``"pdf"``, ``"jpeg"`` (or ``"jpg"``), ``"webp"`` (kaleido + Chromium),
        ``"html"`` (a standalone page) or ``"json"`` (the plotly figure JSON).
    width, height : float, optional
        Size in CSS pixels (default: the figure's layout size, else 700 x 500 for static formats).
    scale : float, optional
        Multiplies the pixel size of bitmaps (PNG, JPEG, WebP); their dpi is then ``96 * scale``.
        SVG and PDF are vector formats and keep their size.
    dpi : float, optional
        Sets ``scale = dpi / 96`` for bitmaps (``dpi=300`` for print: a PNG of a 336 px wide column
        figure is then 1050 px wide and says 300 dpi, i.e. 3.5 in); an SVG then gives its size in
        inches (``width="3.5in"``). Not together with ``scale``.
    include_plotlyjs : True, "cdn", "directory" or str, default True
        For HTML: ``True`` inlines plotly.js (about 4.8 MB, opens offline); ``"cdn"`` loads the
        installed plotly.js version from cdn.plot.ly (a few kB, needs the network); ``"directory"``
        references ``plotly.min.js`` beside the file (:func:`write_figure` writes it there); a
        relative path or URL ending in ``.js`` references that file.

    Returns
    -------
    bytes
        The file's content. A PNG carries a ``pHYs`` chunk and a JPEG a JFIF density with the dpi.

    Raises
    ------
    ConfigError
        If ``fmt`` is unknown or a size option is invalid.
    ExportError
        For a static format when the browser cannot draw the figure; :class:`ExportUnavailableError`
        (a subclass) when no browser can run.
    """
    fmt = str(fmt).lower().lstrip(".")
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if scale is not None and dpi is not None:
        raise ConfigError("give scale or dpi, not both.")
    if dpi is not None:
        scale = dpi_scale(dpi)
    if scale is not None and not scale > 0:
        raise ConfigError(f"scale must be positive; got {scale!r}.")
    for name, v in (("width", width), ("height", height)):
        if v is not None and not v > 0:
            raise ConfigError(f"{name} must be positive; got {v!r}.")
    fig = _as_figure(fig)
    if fmt == "html":
        return _html_bytes(fig, width, height, include_plotlyjs)
    if fmt == "json":
        return pio.to_json(fig, validate=True, pretty=False).encode("utf-8")
    return _static_bytes(fig, fmt, width=width, height=height, scale=scale, physical=dpi is not None)


def _plotlyjs_src(include_plotlyjs: bool | str) -> bool | str:
    """Check ``include_plotlyjs`` and return what ``plotly.io.to_html`` takes for it."""
    if include_plotlyjs is True or include_plotlyjs in ("cdn", "directory"):
        return include_plotlyjs
    if isinstance(include_plotlyjs, str) and re.fullmatch(r"[A-Za-z0-9_.:/~+-]+\.js", include_plotlyjs):
        return include_plotlyjs
    raise ConfigError("include_plotlyjs must be True (inline, works offline), 'cdn' (small, loads plotly.js "
                      f"online), 'directory' ({PLOTLYJS_FILENAME} beside the file) or a path ending in .js; "
                      f"got {include_plotlyjs!r}.")


def _html_bytes(fig: go.Figure, width: float | None, height: float | None, include_plotlyjs: bool | str) -> bytes:
    src = _plotlyjs_src(include_plotlyjs)
    f = fig
    if width or height:
        f = go.Figure(fig).update_layout(width=width or fig.layout.width, height=height or fig.layout.height)
    # a div id from the content (plotly's default is random), so the same figure gives the same bytes
    div_id = "mlal-" + hashlib.sha256(pio.to_json(f, validate=False).encode()).hexdigest()[:16]
    html = pio.to_html(f, include_plotlyjs=src, full_html=True, include_mathjax=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True,
                               "toImageButtonOptions": {"format": "svg"}})
    return html.encode("utf-8")


@lru_cache(maxsize=1)
def plotlyjs_bytes() -> bytes:
    """The installed plotly.js (minified), as HTML exports reference it (:data:`PLOTLYJS_FILENAME`).

    Returns
    -------
    bytes
        The script (about 4.8 MB), from the installed plotly package: no network.
    """
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


def _static_bytes(fig: go.Figure, fmt: str, *, width: float | None, height: float | None,
                  scale: float | None, physical: bool) -> bytes:
    """Render a static format in the browser and write its physical size into the file."""
    fig_dict = fig.to_dict()
    for i, trace in enumerate(fig_dict.get("data", [])):
        trace.setdefault("uid", f"trace{i:04d}")  # plotly.js would draw random ids into the SVG
    opts: dict = {"format": fmt}
    if width:
        opts["width"] = width
    if height:
        opts["height"] = height
    bitmap = fmt in ("png", "jpeg", "webp")
    if scale is not None and bitmap:
        opts["scale"] = scale  # vector formats keep their size: a scale would only enlarge the page
    data = _render_cached(fig_dict, opts)
    dpi = CSS_PX_PER_INCH * (scale or 1.0)
    if fmt == "png":
        return png_with_dpi(data, dpi)
    if fmt == "jpeg":
        return jpeg_with_dpi(data, dpi)
    if fmt == "svg":
        return svg_with_physical_size(_stable_svg_ids(data), inches=physical)
    return data


# ------------------------------------------------------------------------------- physical size
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_with_dpi(png: bytes, dpi: float) -> bytes:
    """``png`` with a ``pHYs`` chunk saying ``dpi`` (right after ``IHDR``; an old ``pHYs`` is dropped).

    Parameters
    ----------
    png : bytes
        A PNG file.
    dpi : float
        Dots per inch (stored as dots per metre, ``round(dpi / 0.0254)``: 300 dpi -> 11811).

    Returns
    -------
    bytes
        The PNG; its pixels are unchanged.

    Raises
    ------
    ConfigError
        If ``png`` is not a PNG or ``dpi`` is not positive.
    """
    if not dpi > 0:
        raise ConfigError(f"dpi must be positive; got {dpi!r}.")
    if png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ConfigError("png_with_dpi needs a PNG file (signature, then IHDR).")
    per_metre = int(round(dpi / 0.0254))
    parts = [png[:8]]
    pos = 8
    while pos + 12 <= len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        end = pos + 12 + length
        if kind != b"pHYs":
            parts.append(png[pos:end])
        if kind == b"IHDR":
            parts.append(_png_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)))
        pos = end
    return b"".join(parts)


def jpeg_with_dpi(jpeg: bytes, dpi: float) -> bytes:
    """``jpeg`` with its JFIF header's density set to ``dpi`` (a JFIF header is added when missing).

    Parameters
    ----------
    jpeg : bytes
        A JPEG file.
    dpi : float
        Dots per inch (rounded to a whole number, at most 65535).

    Returns
    -------
    bytes
        The JPEG; its image data are unchanged.

    Raises
    ------
    ConfigError
        If ``jpeg`` is not a JPEG or ``dpi`` is not positive.
    """
    if not dpi > 0:
        raise ConfigError(f"dpi must be positive; got {dpi!r}.")
    if jpeg[:2] != b"\xff\xd8":
        raise ConfigError("jpeg_with_dpi needs a JPEG file (it starts with FF D8).")
    density = min(int(round(dpi)), 0xFFFF)
    if jpeg[2:4] == b"\xff\xe0" and jpeg[6:11] == b"JFIF\x00":
        # APP0: length(2) "JFIF\0" version(2) units(1) x density(2) y density(2) ...
        return jpeg[:13] + struct.pack(">BHH", 1, density, density) + jpeg[18:]
    app0 = b"JFIF\x00\x01\x01" + struct.pack(">BHH", 1, density, density) + b"\x00\x00"
    return jpeg[:2] + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + jpeg[2:]


_SVG_ROOT = re.compile(rb"<svg\b[^>]*>")


def _number(value: float) -> str:
    return f"{value:.7f}".rstrip("0").rstrip(".")


def svg_with_physical_size(svg: bytes, *, inches: bool) -> bytes:
    """``svg`` whose root ``width`` / ``height`` give its physical size; the ``viewBox`` (CSS px) stays.

    Parameters
    ----------
    svg : bytes
        An SVG document whose root has a ``viewBox`` (plotly.js writes ``0 0 width height``).
    inches : bool
        True: ``width="3.5in"`` for a 336 px viewBox (96 CSS px per inch, the paper sizes); False:
        pixels equal to the viewBox (``width="336"``), so one CSS px is 1/96 in.

    Returns
    -------
    bytes
        The document; only the root tag's ``width`` and ``height`` change.

    Raises
    ------
    ConfigError
        If there is no ``<svg>`` root with a ``viewBox``.
    """
    match = _SVG_ROOT.search(svg)
    box = re.search(rb'\sviewBox="\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)[\s,]+([\d.]+)\s*"',
                    match.group(0)) if match else None
    if match is None or box is None:
        raise ConfigError("svg_with_physical_size needs an SVG whose root <svg> has a viewBox.")
    tag = match.group(0)
    for name, px in ((b"width", float(box.group(1))), (b"height", float(box.group(2)))):
        value = (_number(px / CSS_PX_PER_INCH) + "in") if inches else _number(px)
        attr = b" " + name + b'="' + value.encode() + b'"'
        tag, n = re.subn(rb"\s" + name + rb'="[^"]*"', attr, tag, count=1)  # attr: digits, ".", "in"
        if not n:
            tag = tag[:4] + attr + tag[4:]
    return svg[:match.start()] + tag + svg[match.end():]


def _stable_svg_ids(svg: bytes) -> bytes:
    """Replace plotly.js's random figure id (``defs-3a60f3``, ``clip3a60f3xy`` ...) by one derived
    from the content, so that the same figure gives the same SVG bytes."""
    found = re.search(rb'<defs id="defs-([0-9a-f]{6})"', svg)
    if found is None:
        return svg
    stable = hashlib.sha256(svg.replace(found.group(1), b"")).hexdigest()[:6].encode()
    return svg.replace(found.group(1), stable)


def write_figure(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Write ``fig`` to ``path``; the format comes from the suffix (``.png``, ``.svg``, ``.html`` ...).

    The file is written to a temporary name first and then moved into place; missing parent
    folders are created.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure or dict
        The figure.
    path : str or os.PathLike
        Target file.
    **kwargs
        Passed to :func:`figure_to_bytes` (``width``, ``height``, ``scale``, ``dpi`` ...). With
        ``include_plotlyjs="directory"``, :data:`PLOTLYJS_FILENAME` is written beside an HTML file
        (once: an identical one is kept).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ConfigError
        If ``path`` has no suffix or an unknown one.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if not fmt:
        raise ConfigError(f"{path} has no suffix to tell the format; use one of {', '.join(FORMATS)}.")
    data = figure_to_bytes(fig, fmt, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html" and kwargs.get("include_plotlyjs") == "directory":
        _write_atomic(path.with_name(PLOTLYJS_FILENAME), plotlyjs_bytes(), only_if_changed=True)
    _write_atomic(path, data)
    return path


def _write_atomic(path: Path, data: bytes, *, only_if_changed: bool = False) -> None:
    if only_if_changed and path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _title_text(fig_or_title) -> str:
    if isinstance(fig_or_title, str):
        return fig_or_title
    if isinstance(fig_or_title, go.Figure):
        return fig_or_title.layout.title.text or ""
    if isinstance(fig_or_title, dict):
        t = fig_or_title.get("layout", {}).get("title", "")
        return t.get("text", "") if isinstance(t, dict) else str(t)
    return "" if fig_or_title is None else str(fig_or_title)


def figure_filename(title, fmt: str = "png", *, max_len: int = 60, default: str = "figure") -> str:
    """A safe file name from a title (or a figure's title): ``"Learning curves: F1 (mean ± std)"``
    -> ``"learning-curves-f1-mean-std.png"``. HTML tags are dropped, accents folded to ASCII, and
    anything but letters, digits, ``-`` and ``_`` becomes ``-``.

    Parameters
    ----------
    title : str, plotly.graph_objects.Figure, dict or None
        The title, or a figure (or figure dict) whose title to use.
    fmt : str, default "png"
        File extension (1-8 letters or digits; a leading dot is dropped).
    max_len : int, default 60
        Maximum length of the name before the extension.
    default : str, default "figure"
        Name used when nothing is left of the title.

    Returns
    -------
    str
        The lower-case file name with its extension.

    Raises
    ------
    ConfigError
        If ``fmt`` is not a plain file extension.
    """
    fmt = str(fmt).lower().lstrip(".")
    if not re.fullmatch(r"[a-z0-9]{1,8}", fmt):
        raise ConfigError(f"not a file extension: {fmt!r}.")
    text = _title_text(title)
    text = re.sub(r"<[^>]*>", " ", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-_").lower()
    slug = slug[:max_len].rstrip("-_") or default
    return f"{slug}.{fmt}"


# ----------------------------------------------------------------------------------------- tables
#: first characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _neutralise_cell(value: Any) -> Any:
    """``"'" + value`` for a string that a spreadsheet would run as a formula; anything else unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value


def _neutralised(df: pd.DataFrame, index: bool) -> pd.DataFrame:
    """A copy of ``df`` whose string cells (and, with ``index``, string index labels and column names)
    are neutralised; number columns are not touched, so ``-0.5`` stays the number ``-0.5``."""
    out = df.copy()
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            out.isetitem(i, column.map(_neutralise_cell))
    out.columns = [_neutralise_cell(c) for c in out.columns]
    if index:
        out.index = out.index.map(_neutralise_cell)
    return out


def table_to_csv_bytes(df: pd.DataFrame, *, index: bool = False, float_format: str | None = None) -> bytes:
    """``df`` as UTF-8 CSV bytes (no index unless ``index=True``); round-trips through ``pd.read_csv``.

    Formula cells are neutralised (OWASP CSV injection): a **string** cell (or column name, or index
    label) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``,
    so a spreadsheet shows it as text instead of running it. Numbers are never changed: a negative
    float stays a number (``-0.5`` reads back as ``-0.5``); only text such as ``"=HYPERLINK(...)"``
    reads back as ``"'=HYPERLINK(...)"``.

    Parameters
    ----------
    df : pandas.DataFrame or pandas.Series
        The table (a Series becomes a one-column frame).
    index : bool, default False
        Write the index.
    float_format : str, optional
        Format of floats, as in :meth:`pandas.DataFrame.to_csv`.

    Returns
    -------
    bytes
        The CSV, with Unix line ends.

    Raises
    ------
    ConfigError
        If ``df`` is not a DataFrame or Series.
    """
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"table_to_csv_bytes needs a pandas DataFrame; got {type(df).__name__}.")
    safe = _neutralised(df, index)
    return safe.to_csv(index=index, float_format=float_format, lineterminator="\n").encode("utf-8")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp, _dt.datetime, _dt.date)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, pd.DataFrame):
        return o.to_dict(orient="records")
    if isinstance(o, pd.Series):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _json_bytes(obj) -> bytes:
    def fix(o):  # NaN / inf are not JSON: write null
        if isinstance(o, float) and not np.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): fix(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [fix(v) for v in o]
        if isinstance(o, np.ndarray):
            return fix(o.tolist())
        if isinstance(o, np.floating):
            return fix(float(o))
        return o

    return json.dumps(fix(obj), indent=2, default=_json_default, allow_nan=False).encode("utf-8")


def _member_name(name: str) -> str:
    name = str(name).replace("\\", "/").strip()
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or name.startswith("/"):
        raise ConfigError(f"invalid zip member name {name!r} (no absolute paths or '..').")
    return "/".join(parts)


def _data_member(key: str, suffix: str, obj) -> tuple[str, bytes]:
    """``(member name, bytes)`` of a table, bytes, text or dict / list item of :func:`session_zip`."""
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return (key if suffix == "csv" else f"{key}.csv"), table_to_csv_bytes(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return key, bytes(obj)
    if isinstance(obj, str):
        return (key if suffix else f"{key}.txt"), obj.encode("utf-8")
    if isinstance(obj, (dict, list, tuple)):
        return (key if suffix == "json" else f"{key}.json"), _json_bytes(obj)
    raise ConfigError(f"session_zip: cannot export {key!r} of type {type(obj).__name__} "
                      "(figure, DataFrame, dict/list, str or bytes).")


def session_zip(items: Mapping[str, object], *, figure_formats: Iterable[str] = ("png", "html"),
                figure_kwargs: Mapping | None = None, manifest: dict | None = None,
                skip_unavailable: bool = True, plotlyjs: bool | str = "shared") -> bytes:
    """A zip (bytes) of a session's figures, tables and facts.

    ``items`` maps a member name (folders allowed: ``"figures/curves"``) to:

    * a plotly Figure -> one member per ``figure_formats`` (``name.png``, ``name.html``, ...); a name
      that already ends in a known format's extension is written in that format only;
    * a DataFrame / Series -> ``name.csv`` (unless the name ends in ``.csv`` already);
    * a dict / list -> ``name.json`` (numpy values converted, NaN written as null);
    * bytes -> ``name`` as given; str -> ``name`` (``.txt`` added when there is no suffix).

    With HTML figures and ``plotlyjs="shared"``, one :data:`PLOTLYJS_FILENAME` (the installed
    plotly.js) is written in the folder that holds them all, and every HTML member references it by
    a relative path: the unpacked zip opens offline, with plotly.js stored once.

    ``manifest.json`` lists every member. Members carry a fixed timestamp, so the same inputs give
    the same zip bytes.

    Parameters
    ----------
    items : mapping of str to object
        Member name -> figure, table, dict / list, str or bytes.
    figure_formats : iterable of str, default ("png", "html")
        Formats written for each figure.
    figure_kwargs : mapping, optional
        Passed to :func:`figure_to_bytes` for every figure (not ``include_plotlyjs``: use ``plotlyjs``).
    manifest : dict, optional
        Extra entries of ``manifest.json`` (e.g. dataset, strategy, seed).
    skip_unavailable : bool, default True
        When no browser is available, skip the static figure formats and list them in the manifest
        under ``"skipped"`` (with the reason) instead of failing the whole export.
    plotlyjs : {"shared", True, "cdn"}, default "shared"
        How HTML figures get plotly.js: one shared file in the zip, inlined in each (each opens on
        its own, about 4.8 MB each), or from the CDN (needs the network).

    Returns
    -------
    bytes
        The zip file.

    Raises
    ------
    ConfigError
        If ``items`` is empty, a format or ``plotlyjs`` is unknown, two items map to the same member,
        a name is unsafe, or an item's type cannot be exported.
    ExportUnavailableError
        With ``skip_unavailable=False``, when a static format cannot be rendered.
    """
    if not isinstance(items, Mapping) or not items:
        raise ConfigError("session_zip needs a non-empty mapping of name -> figure / table / dict / bytes.")
    formats = [str(f).lower().lstrip(".") for f in figure_formats]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown figure format(s) {bad}; choose from {', '.join(FORMATS)}.")
    if plotlyjs not in ("shared", True, "cdn"):
        raise ConfigError(f"plotlyjs must be 'shared', True (inline) or 'cdn'; got {plotlyjs!r}.")
    figure_kwargs = dict(figure_kwargs or {})
    if "include_plotlyjs" in figure_kwargs:
        raise ConfigError("session_zip: pass plotlyjs='shared' / True / 'cdn' instead of "
                          "figure_kwargs['include_plotlyjs'].")

    members: dict[str, bytes] = {}
    skipped: list[dict] = []

    def add(name: str, data: bytes) -> None:
        name = _member_name(name)
        if name in members or name == "manifest.json":
            raise ConfigError(f"session_zip: two items would both be written as {name!r}.")
        members[name] = data

    figure_jobs: list[tuple[str, go.Figure, str]] = []
    for key, obj in items.items():
        key = str(key)
        suffix = Path(key).suffix.lower().lstrip(".")
        if isinstance(obj, go.Figure) or (isinstance(obj, dict) and "data" in obj and "layout" in obj):
            fig = _as_figure(obj)
            todo = [(key[: -len(suffix) - 1], suffix)] if suffix in FORMATS or suffix == "jpg" else \
                [(key, f) for f in formats]
            figure_jobs += [(_member_name(f"{stem}.{f}"), fig, "jpeg" if f == "jpg" else f) for stem, f in todo]
        else:
            add(*_data_member(key, suffix, obj))

    html = [name for name, _, ext in figure_jobs if ext == "html"]
    shared = None
    if html and plotlyjs == "shared":
        shared = posixpath.join(posixpath.commonpath([posixpath.dirname(n) for n in html]), PLOTLYJS_FILENAME)
        add(shared, plotlyjs_bytes())
    for name, fig, ext in figure_jobs:
        kwargs = dict(figure_kwargs)
        if ext == "html":
            kwargs["include_plotlyjs"] = plotlyjs if shared is None else \
                posixpath.relpath(shared, posixpath.dirname(name) or ".")
        try:
            add(name, figure_to_bytes(fig, ext, **kwargs))
        except ExportUnavailableError as e:
            if not skip_unavailable:
                raise
            skipped.append({"member": name, "reason": str(e)})

    from mlal_core import __version__

    info: dict[str, Any] = {"generator": f"mlal-workbench {__version__}", "members": sorted(members)}
    if skipped:
        info["skipped"] = skipped
    if shared is not None:
        from plotly.offline import get_plotlyjs_version

        info["plotlyjs"] = {"member": shared, "version": get_plotlyjs_version(),
                            "note": "shared by every HTML figure (a relative <script src>); keep it beside them"}
    if manifest:
        info.update({k: v for k, v in manifest.items() if k not in ("members", "skipped", "plotlyjs")})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members) + ["manifest.json"]:
            data = members[name] if name != "manifest.json" else _json_bytes(info)
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, data)
    return buf.getvalue()
