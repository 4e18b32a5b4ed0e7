"""AppTest of the Batch selection page: its default (small) setting, the uncertainty sampler's parameters and
the minimum number of epochs."""

from __future__ import annotations

import json
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
    c_table = next(d for d in at.dataframe if "mean off-diagonal C" in d.value.columns)
    assert c_table.value["after epoch"].tolist() == [3, 4, 5]
    # one number of decimals per column ("0.0150" under "0.0372", not "0.015"): a 4-decimal format
    c_config = json.loads(c_table.proto.columns)
    assert all(c_config[c]["type_config"]["format"] == "%.4f" for c in ("mean off-diagonal C", "max off-diagonal C"))
    summary = json.loads(next(d for d in at.dataframe if "Macro-AUC mean" in d.value.columns).proto.columns)
    assert summary["Macro-AUC mean"]["type_config"]["format"] == summary["Macro-AUC std"]["type_config"]["format"]


def test_batch_selection_form_labels_fit_one_line():
    """Issue 14 screenshots: "Training rows (0 = all)" wrapped at 1280 px and pushed its input below the row."""
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    rows = at.number_input(key="bsel_max_train")
    assert rows.label == "Training rows" and rows.help.startswith("0 = all rows.")
    form_labels = [at.number_input(key=k).label for k in ("bsel_epochs", "bsel_seeds", "bsel_max_train")]
    assert max(len(label) for label in form_labels) <= len("Training rows")


def test_batch_selection_starts_with_the_current_sessions_dataset():
    """Issue 14: the page always ran on yeast, whatever the session's dataset."""
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession

    session = ActiveLearningSession(SessionConfig(dataset="emotions", initial_size=20, query_size=10, rounds=1))
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.session_state["al_session"] = session
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="bsel_dataset").value == "emotions"
    captions = [c.value for c in at.caption]
    assert "Dataset **emotions**: the current session's." in captions
    assert any(c.startswith("emotions: 2 samplers x 2 seeds") for c in captions)
