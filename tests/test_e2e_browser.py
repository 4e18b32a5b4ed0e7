"""End-to-end: `streamlit run app.py` in a real (system) Chromium driven by playwright.

Starts the server on 127.0.0.1 (a free port, headless, its own MLAL_HOME), sets up a two-round session
on yeast with a small model, runs it, visits every page, checks that no Streamlit error box is shown,
downloads a PNG and a CSV, and saves a screenshot of every page (to a temporary folder, and to
$MLAL_SCREENSHOTS when set). The server is stopped by its PID.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs the system Chromium at {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    env = {**os.environ, "MLAL_HOME": str(tmp_path / "mlal_home"), "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed when the server is stopped
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail(f"streamlit did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()  # by its PID
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        try:  # children it started (the figure-export browser) are in its own process group
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        log.close()


def _idle(page, timeout_s: float = 120) -> None:
    """Wait until the script run the last action triggered has finished."""
    time.sleep(0.4)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_s * 1000)
    time.sleep(0.3)


def _no_error_box(page, where: str) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, f"{where}: exception shown: {exc.first.inner_text()[:2000]}"
    err = page.locator('[data-testid="stAlertContentError"]')
    assert err.count() == 0, f"{where}: error shown: {err.first.inner_text()[:2000]}"


def _screenshot(page, folders: list[Path], name: str) -> None:
    """The whole page (Streamlit scrolls inside its main block, so grow the viewport to fit)."""
    height = page.evaluate("""() => { let h = 900;
        for (const el of document.querySelectorAll('[data-testid="stMain"], [data-testid="stMain"] *')) {
            if (el.scrollHeight > el.clientHeight + 5) h = Math.max(h, el.scrollHeight); }
        return h; }""")
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 120, 10000)})
    time.sleep(0.8)
    path = folders[0] / f"{name}.png"
    page.screenshot(path=str(path))
    for extra in folders[1:]:
        shutil.copy(path, extra / path.name)
    page.set_viewport_size({"width": 1400, "height": 950})


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    _idle(page)


def _download(page, button, target: Path, tries: int = 3) -> None:
    """Click a download button and save what arrives. A script rerun between drawing the button and
    the click can leave the button pointing at a replaced media file, so wait for the app to be idle
    and try again (at most ``tries`` times)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, tries + 1):
        _idle(page)
        button.wait_for(state="visible", timeout=60_000)
        try:
            with page.expect_download(timeout=40_000) as dl:
                button.click()
            dl.value.save_as(target)
            return
        except PlaywrightTimeout:
            if attempt == tries:
                raise


def test_browser_session_of_two_rounds_every_page_and_downloads(server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = [tmp_path / "screenshots"]
    if os.environ.get("MLAL_SCREENSHOTS"):
        shots.append(Path(os.environ["MLAL_SCREENSHOTS"]))
    for folder in shots:
        folder.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True)
            page = context.new_page()
            page.goto(server)
            _idle(page, 180)
            page.get_by_role("heading", name="MLAL Workbench").wait_for()
            _no_error_box(page, "home")
            _screenshot(page, shots, "01_home")

            # a two-round session on yeast with a small, fast model
            _set_number(page, "Ensemble size (members)", 2)
            page.get_by_text("Advanced training settings").click()
            _set_number(page, "Hidden units", 32)
            _set_number(page, "Epochs (passes over the labelled set)", 3)
            _set_number(page, "Minimum updates", 20)
            _set_number(page, "Initial labelled set", 40)
            _set_number(page, "Query size (per round)", 10)
            _set_number(page, "Rounds", 2)
            page.get_by_role("button", name="Start session").click()
            page.get_by_text("started").first.wait_for(timeout=120_000)
            _idle(page)
            _no_error_box(page, "home after start")

            nav = page.locator('[data-testid="stSidebarNav"]')
            nav.get_by_role("link", name="Active learning", exact=True).click()
            _idle(page)
            page.get_by_role("button", name="Run 2 rounds").click()
            page.get_by_text("This session has finished").wait_for(timeout=180_000)
            _idle(page)
            _no_error_box(page, "active learning")
            assert "Rounds done: 2 of 2" in page.locator('[data-testid="stSidebar"]').inner_text()
            _screenshot(page, shots, "03_active_learning")

            # downloads: a figure as PNG and a table as CSV
            png = tmp_path / "figure.png"
            _download(page, page.get_by_role("button", name="PNG", exact=True).first, png)
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
            _idle(page)
            rounds_box = page.locator('[data-testid="stExpander"]').filter(has_text="All rounds (table)")
            rounds_box.get_by_text("All rounds (table)").click()
            table = tmp_path / "table.csv"
            _download(page, rounds_box.get_by_role("button", name="CSV", exact=True), table)
            rows = list(csv.DictReader(io.StringIO(table.read_text())))
            assert [r["round"] for r in rows] == ["0", "1", "2"] and "micro_f1" in rows[0]
            _no_error_box(page, "after downloads")

            # every page in the navigation
            titles = [t.strip().splitlines()[-1].strip() for t in nav.get_by_role("link").all_inner_texts()]
            assert {"Home / set-up", "Dataset explorer", "Active learning", "Learning curves"} <= set(titles)
            for i, title in enumerate(titles, 1):
                nav.get_by_role("link", name=title, exact=True).click()
                _idle(page, 240)
                _no_error_box(page, title)
                _screenshot(page, shots, f"page_{i:02d}_{title.split(' /')[0].lower().replace(' ', '_')}")
        finally:
            browser.close()
