"""AppTest of the Batch selection page at its default (small) setting."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "batch_selection.py")


def test_batch_selection_page_renders_default():
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    titles = [s.value for s in at.subheader]
    assert "Convergence" in titles and any("correlation C" in t for t in titles)
    assert at.selectbox(key="bsel_metric").value == "macro_auc"
    at.selectbox(key="bsel_metric").set_value("hamming_loss").run()
    assert not at.exception, [e.value for e in at.exception]
