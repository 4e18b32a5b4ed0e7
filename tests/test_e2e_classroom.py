"""End-to-end: classroom mode against a real ``streamlit run app.py`` in the system Chromium.

AppTest cannot show the gap these check: until some script run of a fresh server process has called
``st.navigation``, Streamlit serves the ``pages/`` folder itself, so the first request for ``/home``
ran ``pages/home.py`` alone, with no sign-in (``ui/__init__.py`` closes it). Also checked: the sign-in
in a browser, and the refusal to serve on the network without a class password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from app_screenshots import CHROMIUM, _stop, _wait_healthy, free_port  # noqa: E402

from mlal_core import access  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs the system Chromium at {CHROMIUM}"),
]
CLASS_PW = "class password 1"
HOME_FORM = "Where does the data come from?"


@contextmanager
def _server(tmp: Path, address: str, env: dict[str, str]) -> Iterator[str]:
    """``streamlit run app.py`` on ``address`` and a free port, with ``env`` added; yields a local URL."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    full_env = {**os.environ, "MLAL_HOME": str(tmp / "mlal_home"), "PYTHONUNBUFFERED": "1", **env}
    for key in (access.PASSWORD_ENV, access.TEACHER_PASSWORD_ENV):
        if key not in env:
            full_env.pop(key, None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
             address, "--server.port", str(port), "--server.fileWatcherType", "none"],
            cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, 120, log_path)
            yield url
        finally:
            _stop(proc)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


def _first_visit(browser, url: str, wait_for: str):
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector(f"text={wait_for}", timeout=180_000)
    time.sleep(2)  # let the run finish drawing
    return page


def test_the_first_request_of_a_fresh_server_for_a_page_gets_the_sign_in(browser, tmp_path):
    with _server(tmp_path, "127.0.0.1", {access.PASSWORD_ENV: CLASS_PW}) as url:
        page = _first_visit(browser, f"{url}/home", "Class password")  # the very first request: a page's address
        assert page.get_by_text(HOME_FORM).count() == 0
        assert page.get_by_text("Dataset explorer").count() == 0  # no navigation to any page
        page = _first_visit(browser, f"{url}/active_learning", "Class password")
        assert page.get_by_text("No active-learning session yet").count() == 0
        page = _first_visit(browser, url, "Class password")
        page.get_by_role("textbox", name="Your name").fill("Ana Li")
        page.get_by_role("textbox", name="Class password").fill(CLASS_PW)
        page.get_by_role("textbox", name="Your passphrase").fill("ana's own phrase")  # the first sign-in claims
        page.get_by_role("textbox", name="Repeat passphrase").fill("ana's own phrase")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector(f"text={HOME_FORM}", timeout=180_000)
        assert page.get_by_text("Signed in:").count() == 1
    assert (tmp_path / "mlal_home" / "workspaces" / "ana-li" / access.CLAIM_FILE).is_file()


def test_served_on_the_network_without_a_password_it_refuses(browser, tmp_path):
    with _server(tmp_path, "0.0.0.0", {}) as url:
        page = _first_visit(browser, f"{url}/home", "listens on the network")
        assert page.get_by_text(HOME_FORM).count() == 0
        assert page.get_by_text(access.PASSWORD_ENV).count() >= 1
