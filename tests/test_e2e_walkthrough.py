"""End-to-end: the Round walk-through page in a real (system) Chromium, against `streamlit run app.py`.

A two-round CRAB session on emotions (small model) is set up and run through the app, then the test
opens the Round walk-through, clicks **Next** through every step and, at each, downloads the step's
numbers table (its CSV button) and compares them with the round's record read back from the server's
session store (``Selection.diagnostics``: pool sizes, U*, the top-up, k-means; the picks). It then
clicks a point of the map (a real plotly click: the point's pool position travels as ``customdata[0]``
through Streamlit's selection event) and checks that the "why not" story names that sample, and runs
CRAB and Entropy side by side. The server and browser helpers are those of ``tests/test_e2e_browser.py``
(``scripts/app_screenshots.py``). About a minute here; a screenshot goes to ``$MLAL_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from app_screenshots import (  # noqa: E402
    BROWSER_ARGS,
    CHROMIUM,
    AppDidNotStart,
    full_page_screenshot,
    navigate,
    run_session,
    streamlit_server,
    wait_idle,
)
from test_e2e_browser import _download, _no_error_box  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs the system Chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``(url, MLAL_HOME)`` of a server of its own."""
    folder = tmp_path_factory.mktemp("walkthrough_server")
    try:
        with streamlit_server(folder / "mlal_home", folder / "server.log") as url:
            yield url, folder / "mlal_home"
    except AppDidNotStart as e:
        pytest.fail(str(e))


def _stored_round(mlal_home: Path):
    """The one stored session's config and its last query round's record, read from the server's store."""
    from mlal_core.session.store import SessionStore

    store = SessionStore(mlal_home / "sessions.sqlite")
    sessions = store.list_sessions()
    assert len(sessions) == 1, sessions
    config, _, rounds = store.load_session(str(sessions["id"].iloc[0]))
    return config, [r for r in rounds if r.selection is not None and len(r.selected)][-1]


def _step_numbers(page, folder: Path, i: int) -> dict[str, str]:
    """The current step's numbers, from its CSV download."""
    target = folder / f"step{i}.csv"
    box = page.locator(".st-key-dl_wt_numbers_csv")
    _download(page, box.get_by_role("button"), target)
    return {row["key"]: row["value"].replace(",", "") for row in csv.DictReader(io.StringIO(target.read_text()))}


def _step_title(page) -> str:
    return page.locator('[data-testid="stHeadingWithActionElements"] h3').first.inner_text().strip()


def _click_a_candidate(page) -> int:
    """Click, with the mouse, one point of the map's candidate layer; returns its ``customdata[0]``."""
    plot = page.locator(".st-key-chart_wt_map .js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    target = plot.evaluate("""gd => {
        const trace = gd._fullData.findIndex(t => t.name.startsWith('candidates: uncertainty'));
        const t = gd._fullData[trace], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, s = gd._fullLayout._size;
        // the candidate farthest from every other mapped point, so the click cannot land on a neighbour
        let best = 0, bestGap = -1;
        const pts = gd._fullData.flatMap(d => Array.from(d.x || [], (x, k) => [xa.l2p(x), ya.l2p(d.y[k])]));
        for (let j = 0; j < t.x.length; j++) {
            const px = xa.l2p(t.x[j]), py = ya.l2p(t.y[j]);
            let gap = Infinity;
            for (const [qx, qy] of pts) { const d = Math.hypot(qx - px, qy - py); if (d > 0.5 && d < gap) gap = d; }
            if (gap > bestGap) { bestGap = gap; best = j; }
        }
        const box = gd.getBoundingClientRect();
        return {x: box.left + s.l + xa.l2p(t.x[best]), y: box.top + s.t + ya.l2p(t.y[best]),
                position: t.customdata[best][0]};
    }""")
    page.mouse.move(target["x"], target["y"])
    hover = page.locator(".st-key-chart_wt_map .hoverlayer").first
    page.wait_for_function("el => /sample \\d+/.test(el.textContent)", arg=hover.element_handle(), timeout=10_000)
    assert f"sample {int(target['position'])}" in hover.text_content()  # the point under the mouse
    page.mouse.click(target["x"], target["y"])
    wait_idle(page)
    return int(target["position"])


def _screenshot(page, name: str) -> None:
    """A full-page screenshot to ``$MLAL_SCREENSHOTS`` when it is set."""
    if os.environ.get("MLAL_SCREENSHOTS"):
        full_page_screenshot(page, Path(os.environ["MLAL_SCREENSHOTS"]) / f"{name}.png", 1500, settle_s=0.8)
        page.set_viewport_size({"width": 1500, "height": 1000})
        wait_idle(page)


def test_click_through_a_crab_round_in_the_browser(served, tmp_path):
    from playwright.sync_api import sync_playwright

    url, mlal_home = served
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True).new_page()
            page.goto(url)
            wait_idle(page, 180)
            run_session(page, dataset="emotions", strategy="CRAB", rounds=2, initial=40, query=10)
            config, rec = _stored_round(mlal_home)
            assert rec.round == 1  # the page opens on the last round
            d = rec.selection.diagnostics
            sizes = d["pool_sizes"]
            assert config.strategy == "crab"

            navigate(page, "Round walk-through")
            _no_error_box(page, "walk-through")
            expected = {  # step -> the numbers its table must show, from the stored record
                0: {"n_candidates": str(rec.n_candidates), "n_labelled": str(rec.n_labeled)},
                1: {"asymmetric_pairs": str(len(d["asymmetric_pairs"])),
                    "exclusive_pairs": str(len(d["exclusive_pairs"]))},
                2: {"n_kept": str(len(d["kept_labels"])), "n_dropped": str(len(d["dropped_labels"]))},
                3: {"label_wise": str(sizes["label-wise"]), "negative": str(sizes["negative"]),
                    "hard_to_learn": str(sizes["hard-to-learn"]), "union": str(sizes["union"])},
                4: {"refined": str(len(d["refined_pool"])), "top_up": str(sizes["top-up"]),
                    "picks_from_top_up": str(int(np.isin(rec.selected, d["refined_pool_sources"].loc[
                        d["refined_pool_sources"]["top_up"].astype(bool), "position"]).sum()))},
                5: {"n_scored": str(len(d["refined_pool"]))},
                6: {"n_clusters": str(len(rec.selected)), "distinct_clusters": str(d["kmeans"]["distinct_clusters"]),
                    "reproduced": "yes"},
                7: {"n_labelled_after": str(rec.n_labeled + len(rec.selected))},
            }
            for i, want in expected.items():
                if i:
                    page.locator(".st-key-wt_next").get_by_role("button").click()
                    wait_idle(page)
                    _no_error_box(page, f"step {i + 1}")
                assert _step_title(page).startswith(f"{i + 1}. "), _step_title(page)
                shown = _step_numbers(page, tmp_path, i)
                assert {k: shown.get(k) for k in want} == want, (i, shown)
                if i == 5:
                    _screenshot(page, "walkthrough_scores")
            assert page.locator(".st-key-wt_next").get_by_role("button").is_disabled()

            # why not: a real click on a point of the map (back on the model step: one candidate layer)
            box = page.locator(".st-key-wt_step input")
            box.click()
            box.fill("1. The model")
            page.get_by_role("option").filter(has_text=re.compile(r"^1\. The model")).first.click()
            wait_idle(page)
            assert _step_title(page).startswith("1. The model")
            clicked = _click_a_candidate(page)
            _no_error_box(page, "after the map click")
            assert page.get_by_label("Pool position", exact=True).input_value() == str(clicked)
            story = page.locator('[data-testid="stMarkdownContainer"]').filter(
                has_text=re.compile(rf"Sample {clicked} \(predicted")).first
            story.wait_for(timeout=30_000)
            status = "picked" if clicked in set(int(p) for p in rec.selected) else "not picked"
            assert page.locator('[data-testid="stMetricValue"]').first.inner_text().strip() == status
            _screenshot(page, "walkthrough_why_not")

            # two strategies side by side
            page.locator(".st-key-wt_mode").get_by_text("Two strategies side by side", exact=True).click()
            wait_idle(page)
            page.get_by_role("button", name=re.compile(r"^Run both on round \d+'s model$")).click()
            wait_idle(page, 180)
            _no_error_box(page, "side by side")
            metrics = page.locator('[data-testid="stMetric"]')
            both = metrics.filter(has_text="Picked by both").locator('[data-testid="stMetricValue"]').inner_text()
            only = metrics.filter(has_text="Only crab").locator('[data-testid="stMetricValue"]').inner_text()
            assert int(both) + int(only) == len(rec.selected)  # CRAB picks its recorded samples again
            _screenshot(page, "walkthrough_side_by_side")
        finally:
            browser.close()
