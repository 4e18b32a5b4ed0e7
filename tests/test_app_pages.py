"""AppTest tests of the Streamlit app's pages (app shell, Home, Dataset explorer, Active learning,
Learning curves): every page renders with and without a session, and the main controls work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_page_ok as _ok
from streamlit.testing.v1 import AppTest

from mlal_core.session.store import SessionStore
from mlal_core.strategies import registry

APP = str(Path(__file__).resolve().parent.parent / "app.py")
MY_PAGES = ["pages/home.py", "pages/dataset_explorer.py", "pages/active_learning.py", "pages/learning_curves.py"]
#: a small, fast model for the tests (set through the Home page's widgets)
FAST = {"home_members": 2, "home_hidden": 32, "home_epochs": 3, "home_min_steps": 20}
TIMEOUT = 240


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _ok(at)
    return at


def _configure(at: AppTest, *, initial=40, query=10, rounds=2, strategy=None) -> None:
    for key, value in {**FAST, "home_initial": initial, "home_query": query, "home_rounds": rounds}.items():
        at.number_input(key=key).set_value(value)
    if strategy is not None:
        at.selectbox(key="home_strategy").set_value(strategy)
    at.run()
    _ok(at)


def click_and_prepare(at: AppTest, key: str) -> None:
    """Click Start / Open: the features are prepared by a background worker (the page shows its
    progress); wait for it, then rerun the page, which starts or reopens the session."""
    at.button(key=key).click().run()
    _ok(at)
    if "home_preparing" in at.session_state:
        worker = at.session_state["home_preparing"]["worker"]
        assert worker.join(timeout=TIMEOUT), "the features were not ready in time"
        at.run()
        _ok(at)


def _start(at: AppTest, **kw) -> str:
    _configure(at, **kw)
    click_and_prepare(at, "home_start")
    sid = at.session_state["home_started"]
    assert sid and any("started" in s.value for s in at.success)
    return sid


def _click_and_wait(at: AppTest, key: str) -> None:
    """Click a button that starts rounds in the background worker, wait for it, and rerun the page."""
    at.button(key=key).click().run()
    _ok(at)
    worker = at.session_state["al_worker"]
    assert worker is not None and worker.join(timeout=TIMEOUT), "the rounds did not finish"
    assert worker.status().state == "done", worker.status()
    at.run()
    _ok(at)


def _store(mlal_home: Path) -> SessionStore:
    return SessionStore(mlal_home / "sessions.sqlite")


def _download_labels(at: AppTest) -> list[str]:
    return [el.proto.label for el in at.get("download_button")]


@pytest.mark.parametrize("page", MY_PAGES)
def test_page_renders_without_a_session(page):
    at = _app()
    at.switch_page(page).run()
    _ok(at)
    if page == "pages/active_learning.py":
        assert any("No active-learning session" in i.value for i in at.info)
    if page == "pages/learning_curves.py":
        assert any("No stored session" in i.value for i in at.info)
    if page == "pages/home.py":
        assert at.button(key="home_start").label == "Start session"
    if page == "pages/dataset_explorer.py":
        assert at.metric and at.selectbox(key="dx_dataset").value == "yeast"
        # a short value that fits a 1280 px column ("14 of 14" was cut to "14 o..."); the detail in the help
        labels = next(m for m in at.metric if m.label == "Labels")
        assert labels.value == "14" and labels.proto.help.startswith("All 14 labels have at least one training")


def test_session_two_rounds_slider_pages_and_exports(mlal_home):
    at = _app()
    sid = _start(at)

    at.switch_page("pages/active_learning.py").run()
    _ok(at)
    assert any("No round yet" in i.value for i in at.info)
    _click_and_wait(at, "al_run")  # "Run 2 rounds": both rounds and the final evaluation
    records = _store(mlal_home).load_rounds(sid)
    assert [r.round for r in records] == [0, 1, 2] and records[-1].final
    assert any("has finished" in s.value for s in at.success)
    assert {m.label for m in at.metric} >= {"Micro-F1", "Macro-F1"}

    # the round slider moves the metrics and the picks table to that round
    slider = at.select_slider[0]
    assert slider.value == 2
    slider.set_value(0).run()
    _ok(at)
    assert any("**Round 0**" in m.value for m in at.markdown)
    micro = next(m for m in at.metric if m.label == "Micro-F1")
    assert micro.value == f"{records[0].metrics['micro_f1']:.3f}"
    picks = at.dataframe[0].value
    assert list(picks["position"]) == records[0].selected.tolist()
    assert "predicted_top" in picks.columns and "score" in picks.columns
    assert "labels given by the oracle: simulated (ground truth)" in picks.columns  # who answered (issue 14)
    # help on the metrics and the picks' columns links to the glossary (issue 15); so does each explanation
    assert "(glossary#micro-f1)" in next(m.proto.help for m in at.metric if m.label == "Micro-F1")
    config = at.dataframe[0].proto.columns
    assert "(glossary#score)" in config and "(glossary#oracle)" in config
    assert '"labels given by the oracle: simulated (ground truth)": {"label"' in config
    explanations = [e for e in at.expander if e.label.startswith("What am I looking at?")]
    # the round, the progress figures and the stopping rules (issue 19)
    assert len(explanations) == 3 and all(e.markdown[-1].value.startswith("Glossary: [") for e in explanations)

    labels = _download_labels(at)
    # HTML twice, with honest sizes: offline (plotly.js inside, ~4.8 MB) and small (plotly.js online)
    assert {"PNG", "SVG", "HTML (offline, 4.8 MB)", "HTML (small, loads plotly.js online)", "CSV",
            "Download the whole session (zip)"} <= set(labels)
    # MeanIR of the picks beside the coverages and the labelled set's evenness (issue 17)
    balance = next(df.value for df in at.dataframe if "evenness of L" in df.value.columns)
    assert list(balance["round"]) == [0, 1]
    assert {"MeanIR of the batch", "label coverage of the batch", "label coverage of L"} <= set(balance.columns)
    assert balance["label coverage of L"].tolist() == pytest.approx([r.label_coverage for r in records[:2]])

    for page in ("pages/dataset_explorer.py", "pages/learning_curves.py", "pages/home.py"):
        at.switch_page(page).run()
        _ok(at)
    at.switch_page("pages/learning_curves.py").run()
    assert at.dataframe, "the AUC table"
    assert "PNG" in _download_labels(at)
    at.button(key=f"lc_ref_{sid}").click().run()  # the full-data score (one button per model setting)
    _ok(at)
    assert any(m.label.startswith("Full-data") for m in at.metric)
    auc = at.dataframe[0].value
    assert "labelled fraction to reach the full-data score (mean curve)" in auc.columns


def test_next_round_button_runs_one_round(mlal_home):
    at = _app()
    sid = _start(at, rounds=3)
    at.switch_page("pages/active_learning.py").run()
    _click_and_wait(at, "al_next")
    assert len(_store(mlal_home).load_rounds(sid)) == 1
    assert at.session_state["al_session"].next_round == 1
    # the shared sidebar summarises the session (a fresh run of the app with this browser session's state)
    side = AppTest.from_file(APP, default_timeout=TIMEOUT)
    side.session_state["al_session"] = at.session_state["al_session"]
    side.run()
    _ok(side)
    summary = " ".join(m.value for m in side.sidebar.markdown)
    assert "**Dataset:** yeast" in summary and "**Rounds done:** 1 of 3" in summary
    assert not at.select_slider  # one record: no slider to move yet
    assert any("**Round 0**" in m.value for m in at.markdown)


def test_switch_strategy_updates_explanation_and_parameters(mlal_home):
    at = _app()
    at.selectbox(key="home_strategy").set_value("crab").run()
    _ok(at)
    assert at.info[0].value == registry.info("crab").explanation
    assert any("Glossary: [CRAB (" in c.value and "](glossary#crab)" in c.value for c in at.caption)
    alpha = at.number_input(key="home_param_crab_alpha")
    assert alpha.value == pytest.approx(0.1)
    at.selectbox(key="home_strategy").set_value("random").run()
    _ok(at)
    assert at.info[0].value == registry.info("random").explanation
    assert any("no parameters" in c.value for c in at.caption)
    at.selectbox(key="home_strategy").set_value("crab").run()
    at.number_input(key="home_param_crab_alpha").set_value(0.5)
    sid = _start(at, strategy="crab")
    cfg = _store(mlal_home).session_info(sid)["config"]
    assert cfg["strategy"] == "crab" and cfg["strategy_params"] == {"alpha": 0.5}


def test_human_oracle_labels_are_stored(mlal_home):
    at = _app()
    sid = _start(at, query=4, rounds=1)
    at.switch_page("pages/active_learning.py").run()
    at.radio(key="al_oracle_choice").set_value("person").run()
    _ok(at)
    _click_and_wait(at, "al_propose")  # trains and picks in the background
    session = at.session_state["al_session"]
    pending = at.session_state["al_pending"][sid]
    picks = pending.selected.tolist()
    names = list(session.dataset.label_names)
    chosen = {pos: [names[(i * 3) % len(names)], names[(i * 3 + 1) % len(names)]] for i, pos in enumerate(picks)}
    chosen[picks[-1]] = []  # a sample with no label is a valid answer
    # "Start from the model's guesses" fills every pick with the labels of p > 0.5, after the form was drawn
    proba = pending.predicted_proba()
    at.checkbox(key="al_prefill").check().run()
    _ok(at)
    for i, pos in enumerate(picks):
        assert at.multiselect(key=f"al_lab_0_{pos}").value == [names[j] for j in np.flatnonzero(proba[i] > 0.5)]
    at.checkbox(key="al_prefill").uncheck().run()
    assert all(at.multiselect(key=f"al_lab_0_{pos}").value == [] for pos in picks)
    for pos, labs in chosen.items():
        at.multiselect(key=f"al_lab_0_{pos}").set_value(labs)
    submit = next(b for b in at.button if b.label == "Submit labels")
    submit.click().run()
    _ok(at)
    final = at.session_state["al_worker"]  # the final evaluation runs in the background
    assert final is not None and final.join(timeout=TIMEOUT) and final.status().state == "done"
    records = _store(mlal_home).load_rounds(sid)
    assert records[0].selected.tolist() == picks
    expected = np.zeros((len(picks), len(names)), dtype=np.uint8)
    for i, pos in enumerate(picks):
        for lab in chosen[pos]:
            expected[i, names.index(lab)] = 1
    np.testing.assert_array_equal(records[0].labels, expected)
    # the person's labels differ from the ground truth: they are what the session learns from
    truth = np.asarray(session.dataset.train.Y)[picks]
    assert not np.array_equal(expected, truth)
    np.testing.assert_array_equal(session.y_labeled[-len(picks):], expected)
    assert records[-1].final  # rounds=1: the final evaluation follows the last labelled round
    assert records[0].answered_by == "person" and not session.oracle_is_simulated
    at.run()
    at.select_slider[0].set_value(0).run()
    assert any("given by a person" in c.value for c in at.caption)


def test_upload_validation_error_and_a_session_on_a_valid_upload(mlal_home):
    at = _app()
    at.radio(key="home_source").set_value("My own file").run()
    _ok(at)
    at.file_uploader(key="home_upload").set_value(("bad.csv", b"a,b\n1,2\n3,4\n", "text/csv")).run()
    assert not at.exception
    assert at.error and "cannot be used" in at.error[0].value
    assert not [b for b in at.button if b.key == "home_start"]

    # a comma that may be part of a label name is not split silently: the page asks, the user answers
    commas = ["text,labels"] + [f"text number {i},\"{'Arts, Culture' if i % 2 else 'Science'}\"" for i in range(40)]
    at.file_uploader(key="home_upload").set_value(("commas.csv", "\n".join(commas).encode(), "text/csv")).run()
    assert at.error and "delimiter" in at.error[0].value
    at.selectbox(key="home_delimiter").set_value("").run()
    _ok(at)
    assert any("commas.csv" in s.value for s in at.success) and "2** labels" in at.success[0].value

    at.selectbox(key="home_delimiter").set_value(None)
    rows = ["text,labels"] + [f"sample text number {i} about {'grain' if i % 2 else 'trade'},"
                              f"{'grain|wheat' if i % 2 else 'trade'}" for i in range(40)]
    at.file_uploader(key="home_upload").set_value(("good.csv", "\n".join(rows).encode(), "text/csv")).run()
    _ok(at)
    assert any("good.csv" in s.value for s in at.success)
    assert at.radio(key="home_rep_text").options == ["MiniLM sentence embeddings", "TF-IDF word weights"]

    # a session on the upload (TF-IDF): it runs, and is stored under the file's name
    at.radio(key="home_rep_text").set_value("TF-IDF word weights")
    sid = _start(at, initial=6, query=3, rounds=1)
    session = at.session_state["al_session"]
    assert session.config.dataset is None and session.dataset.name == "good" and session.representation == "tfidf"
    at.switch_page("pages/active_learning.py").run()
    _click_and_wait(at, "al_run")
    assert session.finished and len(session.history) == 2
    assert _store(mlal_home).session_info(sid)["dataset_name"] == "good"
    at.switch_page("pages/dataset_explorer.py").run()
    _ok(at)
    assert at.selectbox(key="dx_dataset").value == "good (this session's uploaded file)"


def test_upload_rows_with_no_label_need_the_negatives_checkbox():
    from mlal_core.data import ALLOW_UNLABELED_LABEL
    from ui import state

    at = _app()
    at.radio(key="home_source").set_value("My own file").run()
    _ok(at)
    box = at.checkbox(key="home_allow_unlabeled")
    assert box.label == ALLOW_UNLABELED_LABEL and box.value is False and "negative examples" in box.help
    # 40 rows, every 4th with no label: an empty cell, [] or spaces
    empty = ["", "[]", "  "]
    rows = ["text,labels"] + [f"text {i},{empty[i % 3] if i % 4 == 0 else ('grain|wheat' if i % 2 else 'trade')}"
                              for i in range(40)]
    at.file_uploader(key="home_upload").set_value(("tweets.csv", "\n".join(rows).encode(), "text/csv")).run()
    assert not at.exception
    assert at.error and "No label in rows 1, 5, 9" in at.error[0].value
    assert f"tick '{ALLOW_UNLABELED_LABEL}' on the upload" in at.error[0].value
    assert not [b for b in at.button if b.key == "home_start"]

    at.checkbox(key="home_allow_unlabeled").check().run()
    _ok(at)
    assert any("tweets.csv" in s.value for s in at.success)
    assert any("10 rows with no label kept as negative examples" in c.value for c in at.caption)
    ds = at.session_state[state.UPLOAD_KEY]
    Y = np.concatenate([ds.train.Y, ds.valid.Y, ds.test.Y])
    assert Y.shape == (40, 3) and int((Y.sum(axis=1) == 0).sum()) == 10
    assert [b for b in at.button if b.key == "home_start"]
    # the explorer's statistics count the rows with no label (cardinality over every training row)
    at.switch_page("pages/dataset_explorer.py").run()
    at.selectbox(key="dx_dataset").set_value("tweets (uploaded file)").run()
    _ok(at)
    card = next(m for m in at.metric if m.label == "Cardinality")
    assert card.value == f"{ds.train.Y.sum() / len(ds.train):.3f}"


def test_reopen_a_stored_session(mlal_home):
    at = _app()
    sid = _start(at)
    at.switch_page("pages/active_learning.py").run()
    _click_and_wait(at, "al_next")

    fresh = _app()  # a new browser session: nothing in its session state
    assert fresh.session_state["home_reopen_id"] == sid
    assert "Export (zip)" in _download_labels(fresh)
    click_and_prepare(fresh, "home_reopen")
    session = fresh.session_state["al_session"]
    assert session.session_id == sid and session.next_round == 1
    fresh.switch_page("pages/active_learning.py").run()
    _ok(fresh)
    assert any("**Round 0**" in m.value for m in fresh.markdown)
    # the picks' probabilities come from the store, so a reopened session shows them too
    rec = _store(mlal_home).load_rounds(sid)[0]
    picks = fresh.dataframe[0].value
    names = list(session.dataset.label_names)
    best = names[int(np.argmax(rec.pick_proba[0]))]
    assert picks["predicted_top"].iloc[0].startswith(best)
    assert any("simulated oracle" in c.value for c in fresh.caption)


def test_cancel_now_drops_the_round_in_progress(mlal_home, monkeypatch):
    """The page's "Cancel now" stops a long round at its next progress report; nothing half-done is stored."""
    import threading

    from mlal_core.models import MLPEnsemble

    started, fit = threading.Event(), MLPEnsemble.fit

    def fit_slowly(self, X, Y, *a, progress=None, **k):  # the page's session builds an MLPEnsemble by name
        started.set()
        for i in range(600):  # about a minute unless cancelled: each report may raise the cancel
            progress(i, 600, "a long epoch")
            threading.Event().wait(0.1)
        return fit(self, X, Y, *a, progress=progress, **k)

    monkeypatch.setattr(MLPEnsemble, "fit", fit_slowly)
    at = _app()
    sid = _start(at, rounds=3)
    at.switch_page("pages/active_learning.py").run()
    at.button(key="al_run").click().run()
    _ok(at)
    worker = at.session_state["al_worker"]
    assert started.wait(TIMEOUT) and worker.running
    at.run()  # the worker panel shows the two progress bars and the buttons
    assert at.button(key="al_cancel").label == "Cancel now"
    at.button(key="al_cancel").click().run()
    assert worker.join(timeout=60), "the cancel did not stop the round"
    assert worker.status().state == "cancelled"
    # the page says so once, on the run that notices the worker ended (possibly after the panel's rerun)
    shown = [w.value for w in at.warning]
    for _ in range(2):
        at.run()
        _ok(at)
        shown += [w.value for w in at.warning]
    assert any("Cancelled" in w for w in shown), shown
    assert _store(mlal_home).load_rounds(sid) == []  # the round in progress was dropped
    assert at.session_state["al_session"].next_round == 0


def test_every_score_component_of_every_strategy_is_explained():
    """The picks tables show help for each details column; every column a strategy writes has one."""
    import warnings

    from test_strategy_contract import build_context, fitted_model, make_pool

    from mlal_core.strategies import available, get
    from mlal_core.strategies.detail_columns import column_help

    Y, P, X, texts = make_pool(0, 60)
    lab, unl = np.arange(20), np.arange(20, 60)
    ctx = build_context(Y, P, X, texts, lab, unl, 0, fitted_model(X, Y, lab))
    missing = {}
    for info in available():
        if "mlm" in info.needs or info.name == "alps":
            continue  # needs a masked-LM encoder (covered in the strategy tests)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cols = get(info.name).select(ctx, 5).details.columns
        undescribed = [c for c in cols if column_help(c) is None]
        if undescribed:
            missing[info.name] = undescribed
    assert not missing, f"details columns without help in strategies/detail_columns.py: {missing}"
    # a picks table renames a details column whose name it uses ("labels" -> "detail_labels"): same help
    assert column_help("detail_labels") == column_help("labels") is not None


def test_a_textcnn_session_from_the_home_page_runs_in_the_background(mlal_home):
    at = _app()
    at.selectbox(key="home_dataset").set_value("reuters21578").run()
    _ok(at)
    assert at.radio(key="home_model").options == ["MLP head on frozen features (fast)", "TextCNN", "TextRNN (BiGRU)",
                                                  "Fine-tuned transformer (MiniLM)"]
    at.radio(key="home_model").set_value("textcnn").run()
    _ok(at)
    assert at.number_input(key="home_candidates_textcnn").value == 2000  # slow backbones score a subset
    for key, value in {"home_members": 2, "home_bb_epochs_textcnn": 1, "home_bb_len_textcnn": 32,
                       "home_initial": 20, "home_query": 5, "home_rounds": 1, "home_candidates_textcnn": 300}.items():
        at.number_input(key=key).set_value(value)
    at.run()
    _ok(at)
    click_and_prepare(at, "home_start")
    session = at.session_state["al_session"]
    cfg = session.config
    assert (cfg.model, session.representation, cfg.candidate_subset) == ("textcnn", "tokens", 300)
    assert cfg.model_params["epochs"] == 1 and cfg.model_params["max_length"] == 32
    assert session.features.train.shape[1] == 32

    at.switch_page("pages/active_learning.py").run()
    _click_and_wait(at, "al_run")
    records = _store(mlal_home).load_rounds(session.session_id)
    assert [r.round for r in records] == [0, 1] and records[0].n_candidates == 300
    assert not any("Candidate subset" in c.value for c in at.caption)  # the final record picks nothing
    at.select_slider[0].set_value(0).run()
    _ok(at)
    assert any("Candidate subset" in c.value and "300" in c.value for c in at.caption)


def test_strategy_parameters_survive_switching_to_another_strategy_and_back():
    at = _app()
    at.selectbox(key="home_strategy").set_value("crab").run()
    at.number_input(key="home_param_crab_n_reference").set_value(37)
    at.number_input(key="home_param_crab_per_label_size").set_value(5).run()
    _ok(at)
    at.selectbox(key="home_strategy").set_value("bald").run()
    _ok(at)
    at.selectbox(key="home_strategy").set_value("crab").run()
    _ok(at)
    assert at.number_input(key="home_param_crab_n_reference").value == 37
    assert at.number_input(key="home_param_crab_per_label_size").value == 5
    click_and_prepare(at, "home_start")
    assert at.session_state["al_session"].config.strategy_params == {"n_reference": 37, "per_label_size": 5}


def test_backbone_settings_survive_switching_models():
    at = _app()
    at.selectbox(key="home_dataset").set_value("reuters21578").run()
    at.radio(key="home_model").set_value("transformer").run()
    at.number_input(key="home_bb_freeze").set_value(3)
    at.selectbox(key="home_bb_head").set_value("cnn").run()
    _ok(at)
    at.radio(key="home_model").set_value("mlp_ensemble").run()
    at.radio(key="home_model").set_value("transformer").run()
    _ok(at)
    assert at.number_input(key="home_bb_freeze").value == 3 and at.selectbox(key="home_bb_head").value == "cnn"


def test_learning_curves_compare_strategies_over_seeds_with_paired_tests(mlal_home, small_datasets):
    from conftest import FAST_MODEL

    from mlal_core.experiments import analysis
    from mlal_core.inspection.views import paired_runs, session_rounds
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession

    store = _store(mlal_home)
    ids = []
    for strategy in ("random", "entropy"):
        for seed in (0, 1, 2):
            cfg = SessionConfig(dataset="yeast", model_params=dict(FAST_MODEL), strategy=strategy, initial_size=30,
                                query_size=20, rounds=2, seed=seed)
            s = ActiveLearningSession(cfg, store=store)
            s.run()
            ids.append(s.session_id)
    again = ActiveLearningSession(SessionConfig(dataset="yeast", model_params=dict(FAST_MODEL), strategy="random",
                                                initial_size=30, query_size=20, rounds=1, seed=0), store=store)
    again.run()  # a second random / seed-0 session: the comparison keeps one per (strategy, seed)

    runs = session_rounds(store, list(store.list_sessions()["id"]))
    paired = paired_runs(runs, "yeast")
    assert paired.groupby(["strategy", "seed"])["session"].nunique().max() == 1
    assert set(paired["session"]) == set(ids[1:]) | {again.session_id}  # the newest random / seed 0 wins
    assert paired["final"].sum() == 6 and (paired[paired["final"]]["n_selected"] == 0).all()
    expected = analysis.paired_tests(analysis.aulc_per_run(paired, "micro_f1"))

    at = _app()
    at.switch_page("pages/learning_curves.py").run()
    _ok(at)
    table = next(df.value for df in at.dataframe if "paired seeds" in df.value.columns)
    row = table.iloc[0]
    assert (row["strategy"], row["other"], row["paired seeds"]) == ("random", "entropy", 3)
    assert row["mean difference"] == pytest.approx(round(expected.iloc[0]["mean_diff"], 4))
    assert row["p"] == pytest.approx(round(expected.iloc[0]["p"], 4)) and row["test"] == "t"
    # MeanIR beside the coverage-aware figures (issue 17)
    assert [t.label for t in at.tabs][-6:] == ["MeanIR of the selected batch", "Coverage of the batch",
                                               "Coverage of L", "Evenness of L", "Hard-to-learn in the pool",
                                               "Conflicting in the pool"]


def test_a_training_batch_sampler_chosen_on_home_is_used_by_the_session(mlal_home):
    at = _app()
    assert at.selectbox(key="home_batch_sampler").value == "random"  # plain shuffling by default
    at.selectbox(key="home_batch_sampler").set_value("uncertainty")
    sid = _start(at, rounds=1)
    cfg = _store(mlal_home).session_info(sid)["config"]
    assert cfg["model_params"]["batch_sampler"] == "uncertainty"
    at.switch_page("pages/active_learning.py").run()
    _click_and_wait(at, "al_next")
    session = at.session_state["al_session"]
    assert len(session.history) == 2 and session.finished  # the one round, then the final evaluation
    # each round's model is built with the sampler (what the sampler does in training: test_batch_selection)
    assert session.build_model(session.config.seed).batch_sampler == "uncertainty"
