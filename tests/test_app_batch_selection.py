"""AppTest of the Batch selection page: its default (small) setting, the uncertainty sampler's parameters and
the minimum number of epochs."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def _submit(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_batch_selection_page_uncertainty_parameters_and_minimum_epochs():
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    keys = {n.key for n in at.number_input}
    assert {"bsel_window", "bsel_lambda1", "bsel_tau", "bsel_s0", "bsel_warmup"} <= keys
    # 6 epochs with the default 5 warm-up epochs would record C at one epoch only: refused
    at.number_input(key="bsel_epochs").set_value(6)
    _submit(at)
    assert any("at least 7 epochs" in e.value for e in at.error), [e.value for e in at.error]
    # the parameters reach the uncertainty sampler: warm-up 3 -> C recorded after epochs 3, 4, 5;
    # s0 = 7 -> the first post-warm-up epoch draws with pressure 7
    at.number_input(key="bsel_warmup").set_value(3)
    at.number_input(key="bsel_s0").set_value(7.0)
    at.number_input(key="bsel_window").set_value(3)
    _submit(at)
    assert not at.error, [e.value for e in at.error]
    assert list(at.select_slider(key="bsel_epochs_pair").options) == ["3", "4", "5"]
    at.selectbox(key="bsel_prob_sampler").set_value("uncertainty").run()
    pressure = next(d.value for d in at.dataframe if "pressure s_t" in d.value.columns)
    assert pressure["epoch"].tolist() == [4, 5, 6]
    assert pressure["pressure s_t"].iloc[0] == 7.0 and pressure["pressure s_t"].iloc[-1] == 1.0
    assert pressure["max P / min P"].iloc[0] == pytest.approx(7.0, rel=1e-6)
    c_table = next(d.value for d in at.dataframe if "mean off-diagonal C" in d.value.columns)
    assert c_table["after epoch"].tolist() == [3, 4, 5]
