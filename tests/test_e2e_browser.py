"""End-to-end: `streamlit run app.py` in a real (system) Chromium driven by playwright.

One server for the module (127.0.0.1, a free port, headless, its own MLAL_HOME), stopped by its PID.

* ``test_browser_session_of_two_rounds_every_page_and_downloads``: sets up a two-round session on yeast
  with a small model, runs it, visits every page, checks that no Streamlit error box is shown, downloads
  a PNG and a CSV, and saves a screenshot of every page (to a temporary folder, and to
  $MLAL_SCREENSHOTS when set).
* The export checks: a two-round CRAB session on emotions (6 labels: the heatmaps' hardest case), then
  every SVG download button of every page (every tab, both matrices, the strategy comparison, the
  walk-through's steps and its two strategies side by side) is clicked at each size of the sidebar's "Size of downloaded figures" (screen, one and two paper
  columns). Each downloaded SVG is measured in Chromium (``svg_geometry.svg_text_problems``): no two
  text boxes may overlap and no text may leave the canvas. One test per figure and size, and one that
  every button the app draws is in :data:`FIGURES` (so a new figure is checked too).

The browser-driving helpers live in ``scripts/app_screenshots.py``, which takes the screenshots of the
docs with them.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlal_core.export import EXPORT_SIZES

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from app_screenshots import (  # noqa: E402
    BROWSER_ARGS,
    CHROMIUM,
    AppDidNotStart,
    full_page_screenshot,
    navigate,
    page_slug,
    page_titles,
    run_session,
    set_number,
    streamlit_server,
    wait_idle,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs the system Chromium at {CHROMIUM}"),
]

#: every figure the app offers SVG downloads for, by page: the figure widget's key (``widgets.figure``),
#: with a round number suffix ``_r<t>`` left out
FIGURES = {
    "Dataset explorer": ["dx_freq", "dx_A", "dx_NegA"],
    "Active learning": ["al_curve", "al_batch_mean_ir", "al_pool_hard_conflicting", "al_label_coverage"],
    "Selection inspector": ["insp_meanir", "insp_pool_counts", "insp_picked_counts", "insp_coverage", "insp_scores",
                            "insp_jaccard"],
    "Round walk-through": ["wt_map", "wt_hist", "wt_side_map", "wt_side_hist"],
    "Label correlations": ["corr_A_round", "corr_NegA_round", "corr_diff_A", "corr_diff_NegA", "corr_drift"],
    "Embeddings": ["emb_features"],
    "Learning curves": ["lc_curves", "lc_meanir", "lc_coverage_batch", "lc_coverage_l", "lc_evenness_l",
                        "lc_hard-to-learn", "lc_conflicting"],
    "Batch selection": ["bsel_curves", "bsel_C_a", "bsel_C_b", "bsel_C_diff", "bsel_C_trend", "bsel_probs"],
}
SIZES = list(EXPORT_SIZES)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    try:
        with streamlit_server(folder / "mlal_home", folder / "server.log") as url:
            yield url
    except AppDidNotStart as e:
        pytest.fail(str(e))


def _no_error_box(page, where: str) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, f"{where}: exception shown: {exc.first.inner_text()[:2000]}"
    err = page.locator('[data-testid="stAlertContentError"]')
    assert err.count() == 0, f"{where}: error shown: {err.first.inner_text()[:2000]}"


def _screenshot(page, folders: list[Path], name: str) -> None:
    path = folders[0] / f"{name}.png"
    full_page_screenshot(page, path, 1400, settle_s=0.8)
    for extra in folders[1:]:
        shutil.copy(path, extra / path.name)
    page.set_viewport_size({"width": 1400, "height": 950})


def _download(page, button, target: Path, tries: int = 3) -> None:
    """Click a download button and save what arrives. A script rerun between drawing the button and
    the click can leave the button pointing at a replaced media file, so wait for the app to be idle
    and try again (at most ``tries`` times)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, tries + 1):
        if attempt > 1:
            wait_idle(page)
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
            wait_idle(page, 180)
            page.get_by_role("heading", name="MLAL Workbench").wait_for()
            _no_error_box(page, "home")
            _screenshot(page, shots, "01_home")

            # a two-round session on yeast with a small, fast model
            set_number(page, "Ensemble size (members)", 2)
            page.get_by_text("Advanced training settings").click()
            set_number(page, "Hidden units", 32)
            set_number(page, "Epochs (passes over the labelled set)", 3)
            set_number(page, "Minimum updates", 20)
            set_number(page, "Initial labelled set", 40)
            set_number(page, "Query size (per round)", 10)
            set_number(page, "Rounds", 2)
            page.get_by_role("button", name="Start session").click()
            page.get_by_text("started").first.wait_for(timeout=120_000)
            wait_idle(page)
            _no_error_box(page, "home after start")

            navigate(page, "Active learning")
            page.get_by_role("button", name="Run 2 rounds").click()
            page.get_by_text("This session has finished").wait_for(timeout=180_000)
            wait_idle(page)
            _no_error_box(page, "active learning")
            assert "Rounds done: 2 of 2" in page.locator('[data-testid="stSidebar"]').inner_text()
            _screenshot(page, shots, "03_active_learning")

            # downloads: a figure as PNG and a table as CSV
            png = tmp_path / "figure.png"
            _download(page, page.get_by_role("button", name="PNG", exact=True).first, png)
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
            wait_idle(page)
            rounds_box = page.locator('[data-testid="stExpander"]').filter(has_text="All rounds (table)")
            rounds_box.get_by_text("All rounds (table)").click()
            table = tmp_path / "table.csv"
            _download(page, rounds_box.get_by_role("button", name="CSV", exact=True), table)
            rows = list(csv.DictReader(io.StringIO(table.read_text())))
            assert [r["round"] for r in rows] == ["0", "1", "2"] and "micro_f1" in rows[0]
            _no_error_box(page, "after downloads")

            # every page in the navigation
            titles = page_titles(page)
            assert {"Home / set-up", "Dataset explorer", "Active learning", "Learning curves"} <= set(titles)
            for i, title in enumerate(titles, 1):
                navigate(page, title)
                _no_error_box(page, title)
                _screenshot(page, shots, f"page_{i:02d}_{page_slug(title)}")
        finally:
            browser.close()


# ------------------------------------------------------------------------------------ figure exports
@dataclass
class Exports:
    """What the export sweep downloaded: ``svgs[(size, figure)]``, the figure keys seen per page, why a
    page could not be swept, and the seconds each step took (printed with ``-s``)."""

    svgs: dict[tuple[str, str], Path] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _figure_name(svg_button_key: str) -> str:
    """``dl_insp_scores_r2_svg`` -> ``insp_scores``."""
    return re.sub(r"_r\d+$", "", svg_button_key.removeprefix("dl_").removesuffix("_svg"))


def _svg_button_keys(page) -> list[str]:
    """The ``st-key-...`` classes of every SVG download button on the page, hidden tabs included."""
    keys = page.locator('[class*="st-key-dl_"]').evaluate_all(
        "els => els.flatMap(e => [...e.classList]).filter(c => /^st-key-dl_.*_svg$/.test(c))")
    return [k.removeprefix("st-key-") for k in dict.fromkeys(keys)]


def _visible_svg_buttons(page) -> dict[str, object]:
    """The SVG download buttons shown now (not in a hidden tab), by their widget key."""
    out = {}
    for key in _svg_button_keys(page):
        button = page.locator(f".st-key-{key}").get_by_role("button")
        if button.count() and button.first.is_visible():
            out[key] = button.first
    return out


def _download_shown(page, size: str, folder: Path, exports: Exports, title: str) -> None:
    for key, button in _visible_svg_buttons(page).items():
        name = _figure_name(key)
        exports.seen.setdefault(title, set()).add(name)
        if (size, name) in exports.svgs:
            continue
        target = folder / size / f"{name}.svg"
        _download(page, button, target)
        exports.svgs[(size, name)] = target


def _choose_radio(page, radio: str, option: str, tab: str | None = None) -> None:
    """Pick ``option`` of the radio ``radio`` (opening ``tab`` first) unless it is picked already."""
    if tab is not None:
        page.get_by_role("tab", name=tab, exact=True).click()
    text = page.locator(f".st-key-{radio}").get_by_text(option, exact=True)
    if not text.locator("xpath=ancestor::label[1]//input").is_checked():
        text.click()
        wait_idle(page)


def _correlation_matrices(option: str):
    def view(page) -> None:
        _choose_radio(page, "corr_matrix", option, tab="Matrices at a round")
        _choose_radio(page, "corr_change_matrix", option, tab="Change between rounds")
    return view


def _walkthrough_steps(page, max_steps: int = 12) -> None:
    """Step by step, moved on until a step with a score histogram is shown."""
    _choose_radio(page, "wt_mode", "Step by step")
    for _ in range(max_steps):
        if page.locator(".st-key-dl_wt_hist_svg").count() or not page.locator(".st-key-wt_next button").is_enabled():
            return
        page.locator(".st-key-wt_next button").click()
        wait_idle(page, 300)


def _walkthrough_sides(page) -> None:
    """Two strategies side by side, run once."""
    _choose_radio(page, "wt_mode", "Two strategies side by side")
    if not page.locator(".st-key-dl_wt_side_map_svg").count():
        page.locator(".st-key-wt_compare button").click()
        wait_idle(page, 300)


#: per page, functions that bring it into the states that draw its other figures
EXTRA_VIEWS = {
    "Label correlations": [_correlation_matrices("NegA"), _correlation_matrices("A")],
    "Round walk-through": [_walkthrough_steps, _walkthrough_sides],
}


def _sweep_page(page, title: str, size: str, folder: Path, exports: Exports) -> None:
    """Download every SVG of the page at ``size``: what is shown, then each tab, in each of the page's
    extra views, until every figure of :data:`FIGURES` has been downloaded at this size."""
    page.locator(".st-key-export_size").get_by_text(EXPORT_SIZES[size], exact=True).click()
    wait_idle(page)
    for view in [None, *EXTRA_VIEWS.get(title, [])]:
        if all((size, name) in exports.svgs for name in FIGURES[title]):
            return
        if view is not None:
            view(page)
        _download_shown(page, size, folder, exports, title)
        for tab in page.get_by_role("tab").all():
            if tab.is_visible():
                tab.click()  # tabs switch in the browser: no script run
                wait_idle(page, settle_s=0.1)
                _download_shown(page, size, folder, exports, title)


@pytest.fixture(scope="module")
def exports(server, tmp_path_factory) -> Exports:
    """Every figure of a two-round CRAB session on emotions, downloaded as SVG at every export size."""
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("svg_exports")
    out = Exports()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True).new_page()
            page.goto(server)
            wait_idle(page, 180)
            start = time.perf_counter()
            run_session(page, dataset="emotions", strategy="CRAB", rounds=2)
            out.seconds["session"] = time.perf_counter() - start
            for title in page_titles(page):
                if title not in FIGURES:  # only look: a figure drawn here must be added to FIGURES
                    navigate(page, title)
                    out.seen[title] = {_figure_name(k) for k in _svg_button_keys(page)}
            for title in FIGURES:
                start = time.perf_counter()
                try:
                    navigate(page, title)
                    _no_error_box(page, title)
                    if title == "Selection inspector":  # the strategy comparison draws the overlap heatmap
                        page.get_by_role("button", name=re.compile(r"^Compare on round \d+'s model$")).click()
                        wait_idle(page, 300)
                    for size in SIZES:
                        _sweep_page(page, title, size, folder, out)
                    _no_error_box(page, f"{title} after the downloads")
                except Exception as e:  # noqa: BLE001 - reported by the tests of this page's figures
                    out.failed[title] = f"{type(e).__name__}: {e}"[:3000]
                out.seconds[title] = time.perf_counter() - start
        finally:
            browser.close()
    return out


def test_every_figure_with_download_buttons_is_exported(exports):
    print("seconds per page:", {k: round(v, 1) for k, v in exports.seconds.items()})
    assert not exports.failed, f"pages that could not be swept: {exports.failed}"
    unlisted = {t: sorted(seen - set(FIGURES.get(t, []))) for t, seen in exports.seen.items()
                if seen - set(FIGURES.get(t, []))}
    assert not unlisted, f"figures with download buttons that FIGURES does not list (add them): {unlisted}"
    missing = [(size, name) for t, names in FIGURES.items() for name in names for size in SIZES
               if (size, name) not in exports.svgs]
    assert not missing, f"figures not exported: {missing}"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("figure", [(t, name) for t, names in FIGURES.items() for name in names],
                         ids=lambda f: f[1])
def test_exported_svg_has_no_overlapping_or_clipped_text(exports, figure, size):
    from svg_geometry import svg_text_problems

    title, name = figure
    path = exports.svgs.get((size, name))
    if path is None:
        pytest.fail(f"{name} ({title}) was not exported at size {size!r}: "
                    f"{exports.failed.get(title, 'no such download button was shown')}")
    svg = path.read_bytes()
    assert b"<svg" in svg[:2000], f"{name} at {size!r}: not an SVG: {svg[:200]!r}"
    problems = svg_text_problems(svg)
    assert not problems, f"{name} ({title}) exported at {size!r}:\n" + "\n".join(problems)
