"""The shipped .streamlit/config.toml: localhost only, no usage statistics, no Deploy button; the
secrets file that may hold the class password is kept out of git."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import streamlit.config

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / ".streamlit" / "config.toml"
EXPECTED = {
    "server.address": "localhost",
    "browser.gatherUsageStats": False,
    "client.toolbarMode": "viewer",
    "server.headless": True,
}


def _flat(toml: dict) -> dict:
    return {f"{section}.{key}": value for section, options in toml.items() for key, value in options.items()}


def test_shipped_config_has_the_settings():
    flat = _flat(tomllib.loads(CONFIG.read_text(encoding="utf-8")))
    assert flat == EXPECTED


def test_every_option_is_a_real_streamlit_option():
    options = streamlit.config.get_config_options()
    flat = _flat(tomllib.loads(CONFIG.read_text(encoding="utf-8")))
    unknown = [k for k in flat if k not in options]
    assert not unknown, f"not Streamlit {streamlit.__version__} options: {unknown}"
    # "viewer" is the toolbar mode that hides the developer options, the Deploy button among them
    description = " ".join(options["client.toolbarMode"].description.split())
    assert '"viewer" : Hide the developer options, including the rerun, clear cache, and deploy button' in description


def test_streamlit_reads_it_from_the_repository_root():
    """What `streamlit run app.py` in the repository sees (a fresh process: no test changes its config)."""
    code = ("import json, streamlit.config as c; o = c.get_config_options(); "
            f"print(json.dumps({{k: [o[k].value, o[k].where_defined] for k in {sorted(EXPECTED)!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    for key, value in EXPECTED.items():
        assert got[key][0] == value, key
        assert Path(got[key][1]) == CONFIG, (key, got[key][1])


def test_config_is_not_git_ignored():
    try:
        res = subprocess.run(["git", "check-ignore", "-q", str(CONFIG)], cwd=REPO, capture_output=True)
    except FileNotFoundError:
        pytest.skip("no git")
    if res.returncode == 128:
        pytest.skip("not a git checkout")
    assert res.returncode == 1, "git ignores .streamlit/config.toml"  # 0: ignored, 1: not ignored


def test_a_secrets_file_with_the_class_password_is_git_ignored():
    """``.streamlit/secrets.toml`` may hold classroom passwords (README "Serving a classroom")."""
    try:
        res = subprocess.run(["git", "check-ignore", "-q", str(REPO / ".streamlit" / "secrets.toml")], cwd=REPO,
                             capture_output=True)
    except FileNotFoundError:
        pytest.skip("no git")
    if res.returncode == 128:
        pytest.skip("not a git checkout")
    assert res.returncode == 0, "git would commit .streamlit/secrets.toml"


def test_the_shipped_address_is_loopback_so_the_app_serves_without_a_password():
    """The app refuses to serve on the network without a class password (ui/classroom.py); the shipped
    address must therefore be one ``mlal_core.access.is_loopback`` accepts."""
    from mlal_core.access import is_loopback

    address = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]["address"]
    assert is_loopback(address)
    assert not is_loopback("0.0.0.0")
