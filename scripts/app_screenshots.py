"""Screenshots of every page of the workbench, in a real browser, at a laptop and a projector width.

Starts ``streamlit run app.py`` on a free local port (headless, with its own empty ``MLAL_HOME``), drives
the system Chromium with playwright, sets up and runs sessions (so that every page has content), then
visits every page of the navigation and saves a full-page PNG per page and width:

    python3 scripts/app_screenshots.py /tmp/shots                          # yeast, Random then CRAB, 3 rounds
    python3 scripts/app_screenshots.py /tmp/shots --widths 1280 1920 --dataset emotions --strategies crab
    python3 scripts/app_screenshots.py docs/screenshots --compact          # small PNGs for the docs

Files are named ``<width>/<NN>_<page>.png``. ``--compact`` halves every image and stores it with a
256-colour palette (about a tenth of the bytes; text stays readable at 100 % zoom of the halved image).
The server is stopped by its process id when the script ends. The same helpers drive the browser test
(``tests/test_e2e_browser.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"]
#: the tallest screenshot taken (Chromium refuses bitmaps much above 16k pixels)
MAX_HEIGHT = 15_000


class AppDidNotStart(RuntimeError):
    """``streamlit run app.py`` exited, or did not answer its health check in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Returns
    -------
    int
        The port number.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def streamlit_server(mlal_home: Path, log_path: Path, start_timeout_s: float = 90) -> Iterator[str]:
    """Run ``streamlit run app.py`` (headless, 127.0.0.1, a free port) while the context is open.

    Parameters
    ----------
    mlal_home : Path
        The server's ``MLAL_HOME`` (its session store and caches).
    log_path : Path
        Where the server's stdout and stderr go.
    start_timeout_s : float
        How long to wait for the health check to answer.

    Yields
    ------
    str
        The app's URL.

    Raises
    ------
    AppDidNotStart
        When the server exits or does not answer in time; the message ends with its log.
    """
    port = free_port()
    env = {**os.environ, "MLAL_HOME": str(mlal_home), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, start_timeout_s, log_path)
            yield url
        finally:
            _stop(proc)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float, log_path: Path) -> None:
    deadline = time.time() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise AppDidNotStart(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server by its PID, then whatever it started (the figure-export browser) in its group."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_idle(page: Any, timeout_s: float = 120, settle_s: float = 0.4) -> None:
    """Wait until the script run that the last action triggered has finished.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page.
    timeout_s : float
        How long a script run may take.
    settle_s : float
        Seconds given to the action to start its run before, and to the page to draw after (3:4).
    """
    time.sleep(settle_s)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_s * 1000)
    time.sleep(settle_s * 0.75)


def set_number(page: Any, label: str, value: float) -> None:
    """Type ``value`` into the number input labelled ``label`` and wait for the rerun.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page.
    label : str
        The input's label, exactly.
    value : float
        What to type.
    """
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def choose(page: Any, label: str, option_start: str) -> None:
    """Pick, in the select box labelled ``label``, the first option whose text starts with ``option_start``.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page.
    label : str
        The select box's label, exactly.
    option_start : str
        The beginning of the option's text (a strategy's display name continues after its short name).
    """
    box = page.get_by_label(label, exact=True)
    box.click()
    box.fill(option_start)
    page.get_by_role("option").filter(has_text=re.compile("^" + re.escape(option_start))).first.click()
    wait_idle(page)


def navigate(page: Any, title: str, timeout_s: float = 240) -> None:
    """Open the page ``title`` from the sidebar navigation and wait for it to be drawn.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page.
    title : str
        The page's title in the navigation, exactly.
    timeout_s : float
        How long its script run may take.
    """
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    wait_idle(page, timeout_s)


def page_titles(page: Any) -> list[str]:
    """The titles of every page in the sidebar navigation, in its order.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page.

    Returns
    -------
    list of str
        The titles (without their icons' names).
    """
    links = page.locator('[data-testid="stSidebarNav"]').get_by_role("link")
    return [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]


def session_id(page: Any) -> str | None:
    """The short id of the session the sidebar shows, or None when it shows none.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page.

    Returns
    -------
    str or None
        The id as the sidebar prints it.
    """
    found = re.search(r"Session id\s+(\S+)", page.locator('[data-testid="stSidebar"]').inner_text())
    return found.group(1) if found else None


def run_session(page: Any, *, dataset: str, strategy: str, rounds: int, initial: int = 40, query: int = 10) -> None:
    """Set up a session on Home with a small, fast model, start it and run all its rounds.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page (any page; this opens Home).
    dataset : str
        A bundled dataset's name.
    strategy : str
        The beginning of the strategy's display name in the Strategy select box (e.g. ``"CRAB"``).
    rounds : int
        Query rounds to run.
    initial : int
        Size of the initial labelled set.
    query : int
        Picks per round.
    """
    navigate(page, "Home / set-up")
    choose(page, "Dataset", dataset)
    choose(page, "Strategy", strategy)
    set_number(page, "Ensemble size (members)", 2)
    advanced = page.get_by_text("Advanced training settings")
    if not page.get_by_label("Hidden units", exact=True).is_visible():
        advanced.click()
    set_number(page, "Hidden units", 32)
    set_number(page, "Epochs (passes over the labelled set)", 3)
    set_number(page, "Minimum updates", 20)
    set_number(page, "Initial labelled set", initial)
    set_number(page, "Query size (per round)", query)
    set_number(page, "Rounds", rounds)
    before = session_id(page)
    page.get_by_role("button", name="Start session").click()
    deadline = time.time() + 120
    while session_id(page) in (before, None):  # an older session's "started" banner may still be shown
        if time.time() > deadline:
            raise TimeoutError(f"no new session in the sidebar 120 s after Start session (still {before})")
        time.sleep(0.5)
    wait_idle(page)
    navigate(page, "Active learning")
    page.get_by_role("button", name=f"Run {rounds} rounds").click()
    page.get_by_text("This session has finished").wait_for(timeout=300_000)
    wait_idle(page)


def full_page_screenshot(page: Any, path: Path, width: int, settle_s: float = 1.5) -> None:
    """Save the whole page at ``width`` CSS pixels. Streamlit scrolls inside its main block, so the
    viewport is grown to the tallest scrolling element first (at most :data:`MAX_HEIGHT`).

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page.
    path : Path
        The PNG to write (its folder must exist).
    width : int
        The viewport width in CSS pixels.
    settle_s : float
        Seconds to let charts lay themselves out again after each resize.
    """
    page.set_viewport_size({"width": width, "height": 900})
    time.sleep(settle_s)
    height = page.evaluate("""() => { let h = 900;
        for (const el of document.querySelectorAll('[data-testid="stMain"], [data-testid="stMain"] *')) {
            if (el.scrollHeight > el.clientHeight + 5) h = Math.max(h, el.scrollHeight); }
        return h; }""")
    page.set_viewport_size({"width": width, "height": min(int(height) + 120, MAX_HEIGHT)})
    time.sleep(settle_s)
    page.screenshot(path=str(path))


def compact_png(path: Path, scale: float = 0.5, colours: int = 256) -> None:
    """Shrink a screenshot in place: scale it and store it with a palette of ``colours`` colours.

    Parameters
    ----------
    path : Path
        The PNG, overwritten.
    scale : float
        Factor applied to width and height (0 < scale <= 1).
    colours : int
        Palette size (2 to 256).

    Raises
    ------
    ValueError
        When ``scale`` or ``colours`` is out of range.
    """
    from PIL import Image

    if not 0 < scale <= 1 or not 2 <= colours <= 256:
        raise ValueError(f"scale must be in (0, 1] and colours in [2, 256]; got scale={scale}, colours={colours}")
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    if scale < 1:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.LANCZOS)
    rgb.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def page_slug(title: str) -> str:
    """A file-name part for a page title: ``"Home / set-up"`` -> ``"home"``.

    Parameters
    ----------
    title : str
        The page's title in the navigation.

    Returns
    -------
    str
        Lower case, words joined by ``_``.
    """
    return re.sub(r"[^a-z0-9]+", "_", title.split(" /")[0].lower()).strip("_")


def error_shown(page: Any) -> str | None:
    """The text of the first exception or error box the page shows, or None.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page.

    Returns
    -------
    str or None
        The box's text (at most 2,000 characters).
    """
    for testid in ("stException", "stAlertContentError"):
        box = page.locator(f'[data-testid="{testid}"]')
        if box.count():
            return box.first.inner_text()[:2000]
    return None


def screenshot_every_page(page: Any, out: Path, widths: list[int], *, compact: bool = False) -> list[Path]:
    """Visit every page of the navigation and save it at each width, as ``out/<width>/<NN>_<page>.png``.
    A page that shows an exception or an error box is still saved, and named on stderr.

    Parameters
    ----------
    page : playwright.sync_api.Page
        The app's page, with a session open.
    out : Path
        The folder to write into (created).
    widths : list of int
        Viewport widths in CSS pixels.
    compact : bool
        Shrink every PNG with :func:`compact_png`.

    Returns
    -------
    list of Path
        The PNGs written.
    """
    written = []
    for i, title in enumerate(page_titles(page), 1):
        navigate(page, title)
        error = error_shown(page)
        if error is not None:
            print(f"{title} shows an error: {error}", file=sys.stderr)
        for width in widths:
            folder = out / str(width)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{i:02d}_{page_slug(title)}.png"
            full_page_screenshot(page, path, width)
            wait_idle(page)  # a resize can rerun the page (charts report their width)
            if compact:
                compact_png(path)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module's docstring.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs (created)")
    parser.add_argument("--widths", type=int, nargs="+", default=[1280, 1920], help="viewport widths (CSS px)")
    parser.add_argument("--dataset", default="yeast", help="bundled dataset of the sessions")
    parser.add_argument("--strategies", nargs="+", default=["Random", "CRAB"],
                        help="one session per strategy (the start of its display name)")
    parser.add_argument("--rounds", type=int, default=3, help="query rounds per session")
    parser.add_argument("--compact", action="store_true", help="halve the PNGs and use a 256-colour palette")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        parser.error(f"needs the system Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlal_screenshots_") as tmp, \
            streamlit_server(Path(tmp) / "home", Path(tmp) / "server.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": args.widths[0], "height": 900})
            page.goto(url)
            wait_idle(page, 180)
            for strategy in args.strategies:
                run_session(page, dataset=args.dataset, strategy=strategy, rounds=args.rounds)
            for path in screenshot_every_page(page, args.out, args.widths, compact=args.compact):
                print(path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
