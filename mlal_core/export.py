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
its own browser.

MathJax is disabled (it would be fetched from a CDN, and the app must work offline), so LaTeX in
titles is drawn as plain text; plotly.js comes from the installed plotly package.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import datetime as _dt
import hashlib
import io
import json
import logging
import os
import re
import shutil
import threading
import time
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping
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
    "STATIC_FORMATS",
    "ExportError",
    "ExportUnavailableError",
    "export_server_running",
    "figure_filename",
    "figure_to_bytes",
    "find_chromium",
    "last_export_timings",
    "session_zip",
    "sized_for_export",
    "start_export_server",
    "static_export_available",
    "stop_export_server",
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


def start_export_server() -> float:
    """Start the export browser now (e.g. in the background when the app opens); returns seconds taken
    (0 when it was already running). Raises :class:`ExportUnavailableError` when it cannot start."""
    with _renderer_lock:
        if _renderer is not None and _renderer.pid == os.getpid():
            return 0.0
        t0 = time.perf_counter()
        _get_renderer()
        return time.perf_counter() - t0


def stop_export_server() -> None:
    """Close the export browser (it restarts on the next static export)."""
    global _renderer
    with _renderer_lock:
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
        Multiplies the pixel size of bitmaps.
    dpi : float, optional
        Sets ``scale = dpi / 96`` (``dpi=300`` for print; a PNG of a 336 px wide column figure is
        then 1050 px wide); not together with ``scale``.
    include_plotlyjs : True or "cdn", default True
        For HTML: inline plotly.js (opens offline) or load it from the CDN (a small page).

    Returns
    -------
    bytes
        The file's content.

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
        if include_plotlyjs not in (True, "cdn"):
            raise ConfigError("include_plotlyjs must be True (inline, works offline) or 'cdn'.")
        f = fig
        if width or height:
            f = go.Figure(fig).update_layout(width=width or fig.layout.width, height=height or fig.layout.height)
        # a div id from the content (plotly's default is random), so the same figure gives the same bytes
        div_id = "mlal-" + hashlib.sha256(pio.to_json(f, validate=False).encode()).hexdigest()[:16]
        html = pio.to_html(f, include_plotlyjs=include_plotlyjs, full_html=True, include_mathjax=False, div_id=div_id,
                           config={"displaylogo": False, "responsive": True,
                                   "toImageButtonOptions": {"format": "svg"}})
        return html.encode("utf-8")
    if fmt == "json":
        return pio.to_json(fig, validate=True, pretty=False).encode("utf-8")

    opts: dict = {"format": fmt}
    if width:
        opts["width"] = width
    if height:
        opts["height"] = height
    if scale is not None:
        opts["scale"] = scale
    return _render_static(fig.to_dict(), opts)


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
        Passed to :func:`figure_to_bytes` (``width``, ``height``, ``scale``, ``dpi`` ...).

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
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


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
def table_to_csv_bytes(df: pd.DataFrame, *, index: bool = False, float_format: str | None = None) -> bytes:
    """``df`` as UTF-8 CSV bytes (no index unless ``index=True``); round-trips through ``pd.read_csv``.

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
    return df.to_csv(index=index, float_format=float_format, lineterminator="\n").encode("utf-8")


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


def session_zip(items: Mapping[str, object], *, figure_formats: Iterable[str] = ("png", "html"),
                figure_kwargs: Mapping | None = None, manifest: dict | None = None,
                skip_unavailable: bool = True) -> bytes:
    """A zip (bytes) of a session's figures, tables and facts.

    ``items`` maps a member name (folders allowed: ``"figures/curves"``) to:

    * a plotly Figure -> one member per ``figure_formats`` (``name.png``, ``name.html``, ...); a name
      that already ends in a known format's extension is written in that format only;
    * a DataFrame / Series -> ``name.csv`` (unless the name ends in ``.csv`` already);
    * a dict / list -> ``name.json`` (numpy values converted, NaN written as null);
    * bytes -> ``name`` as given; str -> ``name`` (``.txt`` added when there is no suffix).

    ``manifest.json`` lists every member. Members carry a fixed timestamp, so the same inputs give
    the same zip bytes.

    Parameters
    ----------
    items : mapping of str to object
        Member name -> figure, table, dict / list, str or bytes.
    figure_formats : iterable of str, default ("png", "html")
        Formats written for each figure.
    figure_kwargs : mapping, optional
        Passed to :func:`figure_to_bytes` for every figure.
    manifest : dict, optional
        Extra entries of ``manifest.json`` (e.g. dataset, strategy, seed).
    skip_unavailable : bool, default True
        When no browser is available, skip the static figure formats and list them in the manifest
        under ``"skipped"`` (with the reason) instead of failing the whole export.

    Returns
    -------
    bytes
        The zip file.

    Raises
    ------
    ConfigError
        If ``items`` is empty, a format is unknown, two items map to the same member, a name is
        unsafe, or an item's type cannot be exported.
    ExportUnavailableError
        With ``skip_unavailable=False``, when a static format cannot be rendered.
    """
    if not isinstance(items, Mapping) or not items:
        raise ConfigError("session_zip needs a non-empty mapping of name -> figure / table / dict / bytes.")
    formats = [str(f).lower().lstrip(".") for f in figure_formats]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown figure format(s) {bad}; choose from {', '.join(FORMATS)}.")
    figure_kwargs = dict(figure_kwargs or {})

    members: dict[str, bytes] = {}
    skipped: list[dict] = []

    def add(name: str, data: bytes) -> None:
        name = _member_name(name)
        if name in members or name == "manifest.json":
            raise ConfigError(f"session_zip: two items would both be written as {name!r}.")
        members[name] = data

    for key, obj in items.items():
        key = str(key)
        suffix = Path(key).suffix.lower().lstrip(".")
        if isinstance(obj, go.Figure) or (isinstance(obj, dict) and "data" in obj and "layout" in obj):
            fig = _as_figure(obj)
            if suffix in FORMATS or suffix == "jpg":
                todo = [(key[: -len(suffix) - 1], suffix)]
            else:
                todo = [(key, f) for f in formats]
            for stem, f in todo:
                ext = "jpeg" if f == "jpg" else f
                try:
                    add(f"{stem}.{f}", figure_to_bytes(fig, ext, **figure_kwargs))
                except ExportUnavailableError as e:
                    if not skip_unavailable:
                        raise
                    skipped.append({"member": f"{stem}.{f}", "reason": str(e)})
        elif isinstance(obj, (pd.DataFrame, pd.Series)):
            add(key if suffix == "csv" else f"{key}.csv", table_to_csv_bytes(obj))
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            add(key, bytes(obj))
        elif isinstance(obj, str):
            add(key if suffix else f"{key}.txt", obj.encode("utf-8"))
        elif isinstance(obj, (dict, list, tuple)):
            add(key if suffix == "json" else f"{key}.json", _json_bytes(obj))
        else:
            raise ConfigError(f"session_zip: cannot export {key!r} of type {type(obj).__name__} "
                              "(figure, DataFrame, dict/list, str or bytes).")

    from mlal_core import __version__

    info: dict[str, Any] = {"generator": f"mlal-workbench {__version__}", "members": sorted(members)}
    if skipped:
        info["skipped"] = skipped
    if manifest:
        info.update({k: v for k, v in manifest.items() if k not in ("members", "skipped")})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members) + ["manifest.json"]:
            data = members[name] if name != "manifest.json" else _json_bytes(info)
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, data)
    return buf.getvalue()
