"""Text geometry of a rendered SVG, measured in the real Chromium: overlapping and escaping text.

``svg_text_problems(svg_bytes)`` opens the SVG in the system Chromium (playwright, one browser per
process, reused), takes the box of every visible, non-empty ``<text>`` element and returns one
sentence per problem:

* two text boxes overlap by more than ``tolerance`` px (tick labels running into each other, a legend
  over an axis title, a title over a legend);
* a text box leaves the canvas (the SVG's viewBox) by more than ``tolerance`` px (a clipped title).

Boxes are oriented rectangles: the element's ``getBBox()`` (its own user space: the font's ascent
to descent, the advance widths) mapped by its ``getScreenCTM()``, so a tick label rotated by -45 deg
is a rotated rectangle and two rotated neighbours only collide when their glyph boxes do. Two boxes
overlap when a separating-axis test finds no axis that separates them by more than ``-tolerance``.
Everything is measured in **viewBox coordinates**: the root's ``width`` / ``height`` are set to the
viewBox's size before measuring, so an SVG whose root says ``width="3.5in"`` is checked the same way
as one that says ``width="336"``.

Hover labels are not in an exported SVG; legend items are separate ``<text>`` elements and take part.

Usage (tests put ``tests/`` on ``sys.path``)::

    from svg_geometry import chromium_available, svg_text_problems
    assert svg_text_problems(figure_svg_bytes) == []

The browser runs in its own thread, so the checker also works inside another playwright session
or an asyncio loop of the caller.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import os
import queue
import threading
from typing import Any

CHROMIUM = "/usr/bin/chromium"
_BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--font-render-hinting=none"]

# In the page: one record per visible, non-empty <text>: its text and four corners in viewBox units.
_MEASURE_JS = """
() => {
  const root = document.querySelector('svg');
  if (!root) { return {error: 'no <svg> element'}; }
  const vb = root.viewBox && root.viewBox.baseVal && root.viewBox.baseVal.width
    ? root.viewBox.baseVal
    : {x: 0, y: 0, width: parseFloat(root.getAttribute('width')), height: parseFloat(root.getAttribute('height'))};
  // measure in viewBox units: one CSS px per viewBox unit, whatever units the root's size is in
  root.setAttribute('width', String(vb.width));
  root.setAttribute('height', String(vb.height));
  root.setAttribute('preserveAspectRatio', 'none');
  const origin = root.getBoundingClientRect();
  const out = [];
  for (const el of root.querySelectorAll('text')) {
    const text = (el.textContent || '').replace(/\\s+/g, ' ').trim();
    if (!text) { continue; }
    let hidden = false;
    for (let n = el; n && n !== root.parentNode; n = n.parentNode) {
      if (!(n instanceof Element)) { break; }
      const cs = getComputedStyle(n);
      if (cs.display === 'none' || cs.visibility === 'hidden' || parseFloat(cs.opacity) === 0) {
        hidden = true; break;
      }
    }
    if (hidden) { continue; }
    const b = el.getBBox();
    if (b.width <= 0 || b.height <= 0) { continue; }
    const m = el.getScreenCTM();
    const pts = [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]];
    const corners = pts.map(([x, y]) => [
      m.a * x + m.c * y + m.e - origin.left + vb.x,
      m.b * x + m.d * y + m.f - origin.top + vb.y,
    ]);
    out.push({text: text, corners: corners});
  }
  return {width: vb.width, height: vb.height, x: vb.x, y: vb.y, texts: out};
}
"""


def chromium_available() -> bool:
    """Whether the system Chromium and playwright are there to run :func:`svg_text_problems`.

    Returns
    -------
    bool
        True when ``/usr/bin/chromium`` is executable and playwright imports.
    """
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


class _Browser:
    """One headless Chromium with one page, driven from a private daemon thread (a job queue)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="svg-geometry", daemon=True)
        self._thread.start()
        self._pw: Any = None
        self._browser: Any = None
        self._page: Any = None

    def _serve(self) -> None:
        while True:
            fn, arg, fut = self._jobs.get()
            try:
                fut.set_result(fn(arg))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)
            if fn == self._close:
                return

    def _submit(self, fn, arg, timeout: float):
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((fn, arg, fut))
        return fut.result(timeout=timeout)

    def _measure(self, svg_text: str) -> dict:
        if self._page is None:
            from playwright.sync_api import sync_playwright

            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=_BROWSER_ARGS)
            self._page = self._browser.new_page()
        self._page.set_content("<!DOCTYPE html><html><body style='margin:0'>" + svg_text + "</body></html>")
        return self._page.evaluate(_MEASURE_JS)

    def measure(self, svg_text: str) -> dict:
        return self._submit(self._measure, svg_text, 120)

    def _close(self, _arg=None) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
            if self._pw is not None:
                self._pw.stop()
        finally:
            self._page = self._browser = self._pw = None

    def close(self) -> None:
        if self._thread.is_alive():
            self._submit(self._close, None, 30)


_browser: _Browser | None = None
_lock = threading.Lock()


def _get_browser() -> _Browser:
    global _browser
    with _lock:
        if _browser is None:
            _browser = _Browser()
            atexit.register(close_browser)
        return _browser


def close_browser() -> None:
    """Close the checker's browser (it is reopened by the next :func:`svg_text_problems`)."""
    global _browser
    with _lock:
        b, _browser = _browser, None
    if b is not None:
        b.close()


def _axes(corners: list[list[float]]) -> list[tuple[float, float]]:
    out = []
    for i in range(2):  # a rectangle has two edge directions
        (x0, y0), (x1, y1) = corners[i], corners[i + 1]
        dx, dy = x1 - x0, y1 - y0
        norm = (dx * dx + dy * dy) ** 0.5
        if norm > 0:
            out.append((-dy / norm, dx / norm))
    return out


def overlap_depth(a: list[list[float]], b: list[list[float]]) -> float:
    """How deep two convex quadrilaterals overlap: the smallest overlap of their projections over the
    edge normals of both (separating-axis theorem); negative when they are apart by that much.

    Parameters
    ----------
    a, b : list of [x, y]
        The four corners of each rectangle, in order around it.

    Returns
    -------
    float
        Penetration depth in the corners' units (``<= 0``: they do not overlap).
    """
    depth = float("inf")
    for ax, ay in _axes(a) + _axes(b):
        pa = [x * ax + y * ay for x, y in a]
        pb = [x * ax + y * ay for x, y in b]
        depth = min(depth, min(max(pa), max(pb)) - max(min(pa), min(pb)))
    return depth


def _describe(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:39] + "\u2026")


def problems_of_boxes(measured: dict, tolerance: float = 1.0) -> list[str]:
    """The problems of measured text boxes (what :func:`svg_text_problems` reports).

    Parameters
    ----------
    measured : dict
        ``{"x", "y", "width", "height"}`` of the canvas (viewBox) and ``"texts"``: a list of
        ``{"text": str, "corners": [[x, y] * 4]}``.
    tolerance : float, default 1.0
        Overlaps and overflows up to this many px are accepted.

    Returns
    -------
    list of str
        One sentence per overlapping pair and per text that leaves the canvas.
    """
    texts = measured["texts"]
    x0, y0 = measured.get("x", 0.0), measured.get("y", 0.0)
    x1, y1 = x0 + measured["width"], y0 + measured["height"]
    out = []
    for t in texts:
        xs = [p[0] for p in t["corners"]]
        ys = [p[1] for p in t["corners"]]
        over = max(x0 - min(xs), max(xs) - x1, y0 - min(ys), max(ys) - y1)
        if over > tolerance:
            out.append(f"text {_describe(t['text'])} leaves the {measured['width']:g} x {measured['height']:g} "
                       f"canvas by {over:.1f} px (box x {min(xs):.1f}..{max(xs):.1f}, y {min(ys):.1f}..{max(ys):.1f})")
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            d = overlap_depth(a["corners"], b["corners"])
            if d > tolerance:
                out.append(f"texts {_describe(a['text'])} and {_describe(b['text'])} overlap by {d:.1f} px")
    return out


def measure_svg_texts(svg_bytes: bytes) -> dict:
    """The canvas and the boxes of every visible, non-empty ``<text>`` of an SVG, from Chromium.

    Parameters
    ----------
    svg_bytes : bytes
        An SVG document (e.g. ``mlal_core.export.figure_to_bytes(fig, "svg")``).

    Returns
    -------
    dict
        ``x``, ``y``, ``width``, ``height`` of the viewBox and ``texts``: ``[{"text", "corners"}]``,
        corners in viewBox units.

    Raises
    ------
    ValueError
        If the bytes hold no SVG element.
    """
    text = svg_bytes.decode("utf-8") if isinstance(svg_bytes, (bytes, bytearray)) else str(svg_bytes)
    if text.lstrip().startswith("<?xml"):
        text = text[text.index("?>") + 2:]
    measured = _get_browser().measure(text)
    if "error" in measured:
        raise ValueError(f"not an SVG document: {measured['error']}")
    return measured


def svg_text_problems(svg_bytes: bytes, tolerance: float = 1.0) -> list[str]:
    """Overlapping text and text outside the canvas in a rendered SVG, measured in Chromium.

    Parameters
    ----------
    svg_bytes : bytes
        An SVG document; its root may give its size in any unit (px, in, pt): the check works in
        viewBox coordinates.
    tolerance : float, default 1.0
        Overlaps and overflows up to this many px are accepted.

    Returns
    -------
    list of str
        One sentence per problem; empty when every text sits alone and inside the canvas.

    Raises
    ------
    ValueError
        If the bytes hold no SVG element.
    """
    return problems_of_boxes(measure_svg_texts(svg_bytes), tolerance)
