"""AppTest tests of the Home page's new-session form (issue 12 item 5): it keeps what the user set
across pages and reruns, its budget follows the chosen dataset, and "New session like this one"
fills it from a stored session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_app_pages import _app, _ok, click_and_prepare

from mlal_core import data
from mlal_core.session.budget import default_budget
from mlal_core.session.config import SessionConfig
from mlal_core.session.store import SessionStore

BUDGET = ("home_initial", "home_query", "home_rounds")


def _value(at: AppTest, kind: str, key: str):
    """The value of the ``kind`` widget ``key``, or "<not drawn>"."""
    found = [w for w in getattr(at, kind) if w.key == key]
    return found[0].value if found else "<not drawn>"


def _budget(at: AppTest) -> tuple:
    return tuple(at.number_input(key=k).value for k in BUDGET)


def _budget_warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "budget needs" in w.value]


def _away_and_back(at: AppTest, page: str = "pages/dataset_explorer.py") -> None:
    """Run another page (Streamlit drops the state of every Home widget at the end of that run), then Home."""
    at.switch_page(page).run()
    _ok(at)
    assert "home_seed" not in at.session_state, "the other page's run should have dropped the Home widgets"
    at.switch_page("pages/home.py").run()
    _ok(at)


# ------------------------------------------------------------------------------------ persistence
def test_the_form_survives_a_page_switch():
    at = _app()
    # a field of the upload block, then back to a bundled dataset (the field is hidden, not lost)
    at.radio(key="home_source").set_value("My own file").run()
    at.text_input(key="home_labels_col").set_value("tags").run()
    at.radio(key="home_source").set_value("A bundled dataset").run()
    _ok(at)
    at.selectbox(key="home_dataset").set_value("emotions").run()
    at.selectbox(key="home_strategy").set_value("crab").run()
    _ok(at)
    chosen = {
        ("number_input", "home_param_crab_alpha"): 0.5,
        ("number_input", "home_members"): 3,
        ("number_input", "home_mc"): 2,
        ("number_input", "home_hidden"): 48,
        ("number_input", "home_epochs"): 7,
        ("number_input", "home_min_steps"): 25,
        ("selectbox", "home_batch_sampler"): "uncertainty",
        ("number_input", "home_initial"): 20,
        ("number_input", "home_query"): 7,
        ("number_input", "home_rounds"): 3,
        ("number_input", "home_seed"): 11,
        ("selectbox", "home_initial_method"): "per_label",
        ("number_input", "home_candidates_mlp_ensemble"): 100,
        ("text_input", "home_name"): "my run",
    }
    for (kind, key), value in chosen.items():
        getattr(at, kind)(key=key).set_value(value)
    at.run()
    _ok(at)
    chosen.update({("selectbox", "home_dataset"): "emotions", ("selectbox", "home_strategy"): "crab",
                   ("radio", "home_source"): "A bundled dataset"})

    def held() -> dict:
        return {(kind, key): _value(at, kind, key) for kind, key in chosen}

    assert held() == chosen
    for page in ("pages/dataset_explorer.py", "pages/batch_selection.py"):
        _away_and_back(at, page)
        assert held() == chosen
    at.run()  # and across a plain rerun
    _ok(at)
    assert held() == chosen
    at.radio(key="home_source").set_value("My own file").run()
    assert at.text_input(key="home_labels_col").value == "tags"


def test_a_text_dataset_model_and_representation_survive_a_page_switch():
    at = _app()
    at.selectbox(key="home_dataset").set_value("reuters21578").run()
    at.radio(key="home_rep_text").set_value("tfidf").run()
    at.radio(key="home_model").set_value("textcnn").run()
    at.number_input(key="home_candidates_textcnn").set_value(500)
    at.number_input(key="home_bb_epochs_textcnn").set_value(4).run()
    _ok(at)
    _away_and_back(at)
    assert at.selectbox(key="home_dataset").value == "reuters21578"
    assert at.radio(key="home_model").value == "textcnn"
    assert at.number_input(key="home_candidates_textcnn").value == 500
    assert at.number_input(key="home_bb_epochs_textcnn").value == 4
    at.radio(key="home_model").set_value("mlp_ensemble").run()
    assert at.radio(key="home_rep_text").value == "tfidf"


def test_a_kept_value_that_no_longer_fits_falls_back_to_the_default():
    at = _app()
    at.selectbox(key="home_dataset").set_value("reuters21578").run()
    at.selectbox(key="home_strategy").set_value("subword").run()  # reads the texts: text datasets only
    _ok(at)
    at.selectbox(key="home_dataset").set_value("yeast").run()
    _ok(at)
    assert at.selectbox(key="home_strategy").value == "bald"  # the page's default strategy
    at.selectbox(key="home_strategy").set_value("entropy").run()
    _away_and_back(at)
    assert at.selectbox(key="home_strategy").value == "entropy"


# ------------------------------------------------------------------------------------ budget defaults
def test_budget_defaults_follow_the_dataset_until_the_user_edits_them():
    at = _app()
    assert _budget(at) == (100, 50, 10)  # yeast (pool 1,344): the classic budget
    at.selectbox(key="home_dataset").set_value("emotions").run()
    _ok(at)
    emotions = default_budget(len(data.load("emotions").train), data.load("emotions").n_labels)
    assert _budget(at) == (emotions.initial_size, emotions.query_size, emotions.rounds) == (35, 15, 10)
    assert any("Defaults for emotions (pool 349): initial 35, query 15, 10 rounds" in c.value for c in at.caption)
    assert not _budget_warnings(at)
    assert not at.warning
    _away_and_back(at)
    assert _budget(at) == (35, 15, 10) and not _budget_warnings(at)

    # an edit makes the budget the user's: another dataset keeps it, its defaults are shown next to it
    at.number_input(key="home_initial").set_value(50).run()
    at.selectbox(key="home_dataset").set_value("scene").run()
    _ok(at)
    assert _budget(at) == (50, 15, 10)
    assert any("Defaults for scene (pool 1,089): initial 100, query 50, 10 rounds" in c.value for c in at.caption)
    _away_and_back(at)
    assert _budget(at) == (50, 15, 10)
    at.button(key="home_budget_reset").click().run()
    _ok(at)
    assert _budget(at) == (100, 50, 10)
    at.selectbox(key="home_dataset").set_value("medical").run()  # following again: pool 304, 45 labels
    assert _budget(at) == (45, 15, 10) and not _budget_warnings(at)


# ------------------------------------------------------------------------------------ like this one
def _stored(mlal_home: Path, config: SessionConfig, **kw) -> str:
    store = SessionStore(mlal_home / "sessions.sqlite")
    return store.create_session(config, np.arange(config.initial_size), **kw)


def test_new_session_like_this_one_fills_the_form(mlal_home):
    cfg = SessionConfig(
        dataset="emotions", representation="raw", model="mlp_ensemble",
        model_params={"n_members": 2, "mc_passes": 3, "hidden_size": 48, "epochs": 4, "min_steps": 30,
                      "batch_sampler": "uncertainty"},
        strategy="crab", strategy_params={"alpha": 0.5}, initial_size=30, initial_method="per_label",
        query_size=12, rounds=4, seed=5, candidate_subset=200, name="original",
    )
    sid = _stored(mlal_home, cfg)
    at = _app()
    at.text_input(key="home_name").set_value("something typed before").run()
    at.selectbox(key="home_strategy").set_value("crab").run()
    at.number_input(key="home_param_crab_alpha").set_value(0.3).run()  # a parameter widget drawn now
    at.number_input(key="home_seed").set_value(9).run()
    _ok(at)
    assert at.session_state["home_reopen_id"] == sid
    at.button(key="home_like").click().run()
    _ok(at)
    assert at.session_state["home_tab"] == "Start a new session"
    assert any(sid[:8] in s.value and "strategy or the seed" in s.value for s in at.success)
    expected = {
        ("radio", "home_source"): "A bundled dataset", ("selectbox", "home_dataset"): "emotions",
        ("number_input", "home_members"): 2, ("number_input", "home_mc"): 3,
        ("number_input", "home_hidden"): 48, ("number_input", "home_epochs"): 4,
        ("number_input", "home_min_steps"): 30, ("selectbox", "home_batch_sampler"): "uncertainty",
        ("selectbox", "home_strategy"): "crab", ("number_input", "home_param_crab_alpha"): 0.5,
        ("number_input", "home_initial"): 30, ("number_input", "home_query"): 12,
        ("number_input", "home_rounds"): 4, ("number_input", "home_seed"): 5,
        ("selectbox", "home_initial_method"): "per_label",
        ("number_input", "home_candidates_mlp_ensemble"): 200, ("text_input", "home_name"): "",
    }
    assert {(kind, key): _value(at, kind, key) for kind, key in expected} == expected
    # the budget copied is the user's: a rerun does not replace it with emotions' defaults
    at.run()
    assert _budget(at) == (30, 12, 4)

    # another seed, start: the new session has the stored one's settings
    at.number_input(key="home_seed").set_value(6).run()
    click_and_prepare(at, "home_start")
    new = at.session_state["al_session"].config.to_dict()
    new.pop("precision", None), new.pop("max_length")  # not on the form (a session resolves its precision)
    assert new == {k: v for k, v in {**cfg.to_dict(), "seed": 6, "name": None}.items()
                   if k not in ("precision", "max_length")}


@pytest.mark.parametrize("model, params, expected", [
    ("textcnn", {"epochs": 3, "max_length": 64, "embedding_init": "minilm"},
     {("number_input", "home_bb_epochs_textcnn"): 3, ("number_input", "home_bb_len_textcnn"): 64,
      ("selectbox", "home_bb_emb_textcnn"): "minilm", ("number_input", "home_candidates_textcnn"): 400}),
    ("transformer", {"freeze_layers": 4, "head": "mlp", "learning_rate": 3e-4, "mc_scope": "head"},
     {("number_input", "home_bb_freeze"): 4, ("selectbox", "home_bb_head"): "mlp",
      ("number_input", "home_bb_lr_transformer"): pytest.approx(3e-4),
      ("selectbox", "home_bb_scope_transformer"): "head", ("number_input", "home_candidates_transformer"): 400}),
])
def test_new_session_like_this_one_copies_backbone_settings(mlal_home, model, params, expected):
    cfg = SessionConfig(dataset="reuters21578", model=model, model_params={"n_members": 1, **params},
                        strategy="entropy", initial_size=50, query_size=20, rounds=2, seed=1, candidate_subset=400)
    _stored(mlal_home, cfg)
    at = _app()
    at.button(key="home_like").click().run()
    _ok(at)
    assert at.radio(key="home_model").value == model
    assert at.number_input(key="home_members").value == 1
    assert at.selectbox(key="home_strategy").value == "entropy"
    assert {(kind, key): _value(at, kind, key) for kind, key in expected} == expected


def test_new_session_like_an_uploaded_file_session_asks_for_the_file(mlal_home):
    cfg = SessionConfig(dataset=None, representation="tfidf", strategy="entropy", initial_size=6, query_size=3,
                        rounds=1, seed=2)
    sid = _stored(mlal_home, cfg, dataset_name="good", dataset_hash="abc")
    at = _app()
    at.button(key="home_like").click().run()
    _ok(at)
    assert at.radio(key="home_source").value == "My own file"
    assert any(sid[:8] in m.value and "upload" in m.value.lower() for m in [*at.success, *at.info, *at.warning])
    assert at.session_state["home_seed"] == 2 and at.session_state["home_strategy"] == "entropy"
    assert at.session_state["home_rep_text"] == "tfidf"


@pytest.mark.parametrize("pool_dataset", ["emotions", "medical"])
def test_choosing_a_small_dataset_never_shows_a_budget_warning(pool_dataset):
    at = _app()
    at.selectbox(key="home_dataset").set_value(pool_dataset).run()
    _ok(at)
    assert not _budget_warnings(at)


def test_the_started_banner_greets_the_new_session_once(mlal_home):
    """Issue 14: "Session X started" stayed on Home for as long as that session was open, rounds later."""
    from test_app_pages import _start

    at = _app()
    sid = _start(at)  # asserts the banner shows right after the start
    banner = [s.value for s in at.success if "started" in s.value]
    assert len(banner) == 1 and sid[:8] in banner[0]
    at.run()  # any later run of Home (here: the same session, still open)
    _ok(at)
    assert not any("started" in s.value for s in at.success)
    listed = next(df.value for df in at.dataframe if "labelled" in df.value.columns)
    assert "n_labeled" not in listed.columns and listed["labelled"].tolist() == [40]  # the initial set


# ------------------------------------------------------------------------------------ layout (issue 14 screenshots)
def _widgets_by_row(node, rows: dict, row=None) -> dict:
    """``{row block: [(widget type, key, label)]}`` of every strategy-parameter widget under ``node``."""
    key = getattr(node, "key", None)
    if isinstance(key, str) and key.startswith("home_param_"):
        rows.setdefault(row, []).append((type(node).__name__, key, node.label))
    for child in getattr(node, "children", {}).values():
        is_row = type(child).__name__ == "Block" and any(
            type(c).__name__ == "Column" for c in getattr(child, "children", {}).values())
        _widgets_by_row(child, rows, id(child) if is_row else row)
    return rows


def _fixed_width_blocks(node, found: list) -> list:
    """The widths (pixels) of the blocks under ``node`` that have a fixed width."""
    proto = getattr(node, "proto", None)
    width = getattr(getattr(proto, "width_config", None), "pixel_width", 0) if proto is not None else 0
    if width:
        found.append(width)
    for child in getattr(node, "children", {}).values():
        _fixed_width_blocks(child, found)
    return found


def test_strategy_parameters_have_readable_labels_in_aligned_rows():
    from mlal_core.strategies import registry

    at = _app()
    at.selectbox(key="home_strategy").set_value("crab").run()
    _ok(at)
    # labels from the declarations (views.PARAM_LABELS), not the raw names "n reference", "alpha c"
    assert at.number_input(key="home_param_crab_n_reference").label == "Reference set size"
    assert at.number_input(key="home_param_crab_alpha_c").label == "Attention normalisation \u03b1_c"
    assert at.checkbox(key="home_param_crab_hard_pool").label == "Hard-to-learn pool"
    rows = list(_widgets_by_row(at.main, {}).values())
    assert sum(len(r) for r in rows) == len(registry.info("crab").params)
    # a checkbox has no label row: no row mixes it with inputs, so every row's inputs line up
    assert all(len({kind == "Checkbox" for kind, _, _ in row}) == 1 for row in rows)
    assert all(label != key.removeprefix("home_param_crab_").replace("_", " ") for row in rows for _, key, label in row)
    # the implementation note is behind an expander, not a 10-line grey caption
    note = next(e for e in at.expander if e.label == "How this implementation reads the paper")
    assert note.markdown[0].value == registry.info("crab").choice
    assert not any("Implementation choice" in c.value for c in at.caption)
    # the form has a fixed width (lines stay readable on a 1920 px projector); single inputs share a row
    assert 1000 in _fixed_width_blocks(at.main, [])
    assert _widgets_in_same_row(at, "home_name", "home_candidates_mlp_ensemble")


def _widgets_in_same_row(at: AppTest, *keys: str) -> list:
    """The row blocks that hold every widget of ``keys``."""
    def keys_under(node, out: set) -> set:
        if isinstance(getattr(node, "key", None), str):
            out.add(node.key)
        for child in getattr(node, "children", {}).values():
            keys_under(child, out)
        return out

    def rows(node, found: list) -> list:
        children = list(getattr(node, "children", {}).values())
        if children and all(type(c).__name__ == "Column" for c in children) and set(keys) <= keys_under(node, set()):
            found.append(node)
        for child in children:
            rows(child, found)
        return found

    return rows(at.main, [])
