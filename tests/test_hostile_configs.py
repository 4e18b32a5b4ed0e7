"""Hostile configs and command-line flags (issue 13, items 1 and 6): every case ends in one clear
``MLALError`` (or an argparse usage error) under 2,000 characters, refused **before a session row is
written**, or in a correct result. The corpus prints its tally at the end of the module.

Also here: formula cells in CSV exports, names sanitised where printed, experiment stores kept under
the config's folder or ``MLAL_HOME``, duplicate keys in experiment configs, and resuming a session
whose stored device this machine lacks.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST_MODEL
from hostile_cases.configs import (
    ARGPARSE_CASES, CLI_CASES, CONFIG_CASES, EXPERIMENT_CASES, GRID, NO_CUDA,
)

from mlal_core import cli, export
from mlal_core import experiments as E
from mlal_core.errors import ConfigError, MLALError
from mlal_core.models import base as model_base
from mlal_core.session import config as session_config
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore
from mlal_core.validation import printable_name

MAX_MESSAGE = 2000
#: (group, outcome) of every corpus case run; printed when the module ends
TALLY: list[tuple[str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def _print_tally(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    groups = sorted({g for g, _ in TALLY})
    parts = [f"{g}: {sum(1 for gg, o in TALLY if gg == g and o == 'clear')}/{sum(1 for gg, _ in TALLY if gg == g)}"
             for g in groups]
    line = (f"hostile configs/flags: {sum(1 for _, o in TALLY if o == 'clear')} of {len(TALLY)} clear "
            f"({', '.join(parts)})")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown even when every test passes
            reporter.write_line(line)
    else:  # pragma: no cover - without the terminal reporter
        print(line)


def _clear(exc: BaseException, *needles: str) -> None:
    """A clear refusal: an MLALError, one bounded message, naming what to pass (``needles``)."""
    assert isinstance(exc, MLALError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert 0 < len(text) < MAX_MESSAGE, len(text)
    assert "Traceback" not in text
    for needle in needles:
        assert needle in text, (needle, text)


# ====================================================================== SessionConfig fields


@pytest.mark.parametrize("fields,needles", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_a_hostile_session_config_is_refused_by_validate_before_a_row_is_written(fields, needles, tmp_path):
    config = SessionConfig(**{"dataset": "yeast", **fields})
    start = time.perf_counter()
    with pytest.raises(MLALError) as caught:
        config.validate()
    _clear(caught.value, *needles)
    store = SessionStore(tmp_path / "s.sqlite")
    with pytest.raises(MLALError):  # the session refuses it too, and writes nothing
        ActiveLearningSession(config, store=store)
    assert store.list_sessions().empty
    assert time.perf_counter() - start < 10
    TALLY.append(("config", "clear"))


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
def test_device_cuda_without_a_gpu_is_refused_with_the_cpu_as_the_fix(tmp_path):
    config = SessionConfig(dataset="yeast", model_params={"device": "cuda"})
    store = SessionStore(tmp_path / "s.sqlite")
    with pytest.raises(ConfigError) as caught:
        ActiveLearningSession(config, store=store)
    _clear(caught.value, "this machine has no CUDA GPU; use --device cpu (or auto)")
    assert store.list_sessions().empty
    TALLY.append(("config", "clear"))


def test_a_sane_config_with_explicit_cpu_and_bounds_at_their_limits_is_accepted():
    config = SessionConfig(dataset="yeast", rounds=session_config.MAX_ROUNDS, seed=session_config.MAX_SEED,
                           max_length=512, model_params={"device": "cpu", "n_members": 100, "mc_passes": 10,
                                                         "learning_rate": 1e-3})
    assert config.validate() == []
    TALLY.append(("config", "clear"))


def test_the_session_bounds_agree_with_the_model_declarations():
    assert session_config.MAX_MEMBERS == model_base.MAX_MEMBERS
    assert session_config.MAX_MC_PASSES == model_base.MAX_MC_PASSES
    assert session_config.MAX_SAMPLES == model_base.MAX_SAMPLES


# ====================================================================== CLI flags


@pytest.mark.parametrize("argv,needles", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_a_hostile_cli_flag_is_refused_in_one_line_before_a_row_is_written(argv, needles, mlal_home, capsys):
    store = mlal_home / "flags.sqlite"
    start = time.perf_counter()
    rc = cli.main([*argv, "--store", str(store)] if argv[0] in ("run", "resume") else argv)
    err = capsys.readouterr().err
    assert rc == cli.EXIT_USAGE, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert len(err) < MAX_MESSAGE and "\x1b" not in err and "\x07" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not store.exists() or SessionStore(store).list_sessions().empty
    assert time.perf_counter() - start < 10
    TALLY.append(("cli", "clear"))


@pytest.mark.parametrize("argv", [c[1] for c in ARGPARSE_CASES], ids=[c[0] for c in ARGPARSE_CASES])
def test_a_malformed_flag_is_an_argparse_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == cli.EXIT_USAGE
    assert "error:" in err and len(err) < MAX_MESSAGE
    TALLY.append(("cli", "clear"))


# ====================================================================== experiment configs
def _experiment(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    folder = tmp_path / "configs"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path




@pytest.mark.parametrize("text,needles", [c[1:] for c in EXPERIMENT_CASES], ids=[c[0] for c in EXPERIMENT_CASES])
def test_a_hostile_experiment_config_is_refused_with_one_bounded_message(text, needles, tmp_path):
    path = _experiment(tmp_path, text)
    start = time.perf_counter()
    with pytest.raises(MLALError) as caught:
        E.load_config(path)
    _clear(caught.value, *needles)
    assert time.perf_counter() - start < 10
    TALLY.append(("experiment", "clear"))


def test_a_duplicate_json_key_is_refused_too(tmp_path):
    path = _experiment(tmp_path, '{"name": "a", "name": "b"}', "exp.json")
    with pytest.raises(ConfigError) as caught:
        E.load_config(path)
    _clear(caught.value, "repeated key(s) ['name']", str(path))
    TALLY.append(("experiment", "clear"))


def test_stores_under_the_config_folder_or_mlal_home_or_allowed_explicitly_are_accepted(tmp_path, mlal_home):
    inside = E.load_config(_experiment(tmp_path, GRID + "store: runs/x.sqlite\n"))
    assert inside.store_path() == (tmp_path / "configs" / "runs" / "x.sqlite").resolve()
    home = E.load_config(_experiment(tmp_path, GRID + f"store: {mlal_home / 'e.sqlite'}\n"))
    assert home.store_path() == (mlal_home / "e.sqlite").resolve()
    allowed = E.load_config(_experiment(tmp_path, GRID + "store: ../../x.sqlite\nallow_outside_store: true\n"))
    assert allowed.store_path() == (tmp_path.parent / "x.sqlite").resolve()
    assert E.load_config(_experiment(tmp_path, GRID)).store_path() == mlal_home / "experiments" / "tiny.sqlite"
    TALLY.extend([("experiment", "clear")] * 4)


def test_the_cli_store_flag_is_the_operators_choice_and_may_point_anywhere(tmp_path, capsys):
    path = _experiment(tmp_path, GRID + "store: ../../x.sqlite\n")
    assert cli.main(["experiment", str(path), "--dry-run"]) == cli.EXIT_USAGE
    assert "allow_outside_store" in capsys.readouterr().err
    elsewhere = tmp_path / "elsewhere" / "x.sqlite"
    path = _experiment(tmp_path, GRID, "ok.yaml")
    assert cli.main(["experiment", str(path), "--dry-run", "--store", str(elsewhere)]) == 0
    assert "experiment 'tiny'" in capsys.readouterr().out
    TALLY.extend([("experiment", "clear")] * 2)


# ====================================================================== resume on another machine
def _stored_session(tmp_path: Path) -> tuple[SessionStore, str]:
    store = SessionStore(tmp_path / "s.sqlite")
    config = SessionConfig(dataset="yeast", initial_size=20, query_size=10, rounds=1,
                           model_params={**FAST_MODEL, "device": "cpu"})
    session = ActiveLearningSession(config, store=store)
    return store, session.session_id


def _set_stored_device(store: SessionStore, sid: str, device: str) -> None:
    with sqlite3.connect(store.path) as con:
        (text,) = con.execute("SELECT config_json FROM sessions WHERE id = ?", (sid,)).fetchone()
        data = json.loads(text)
        data["model_params"]["device"] = device
        con.execute("UPDATE sessions SET config_json = ? WHERE id = ?", (json.dumps(data), sid))


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
def test_resuming_a_cuda_session_without_a_gpu_says_so_and_resumes_on_the_cpu_with_device(tmp_path, capsys):
    store, sid = _stored_session(tmp_path)
    _set_stored_device(store, sid, "cuda")
    with pytest.raises(ConfigError) as caught:
        ActiveLearningSession.resume(store, sid)
    _clear(caught.value, "no CUDA GPU", f"resume {sid} --device cpu", "device='cpu'")
    assert cli.main(["resume", sid, "--store", str(store.path)]) == cli.EXIT_USAGE
    assert f"resume {sid} --device cpu" in capsys.readouterr().err
    session = ActiveLearningSession.resume(store, sid, device="cpu")
    assert session.config.model_params["device"] == "cpu" and session.next_round == 0
    with pytest.raises(ConfigError, match="device must be"):
        ActiveLearningSession.resume(store, sid, device="tpu")
    TALLY.extend([("resume", "clear")] * 3)


def test_resume_revalidates_the_stored_config(tmp_path):
    store, sid = _stored_session(tmp_path)
    _set_stored_device(store, sid, "tpu")
    with pytest.raises(ConfigError) as caught:
        ActiveLearningSession.resume(store, sid)
    _clear(caught.value, "device must be", "'tpu'")
    assert ActiveLearningSession.resume(store, sid, device="auto").config.model_params["device"] == "auto"
    TALLY.extend([("resume", "clear")] * 2)


# ====================================================================== names and CSV cells
@pytest.mark.parametrize("raw,printed", [
    ("\x1b[31mred\x1b[0m", "red"),
    ("\x1b]0;new title\x07name", "name"),
    ("bell\x07", "bell\\x07"),
    ("line\nbreak", "line\\x0abreak"),
    ("\u202eevil", "\\u202eevil"),
    ("caf\u00e9 \u5b66", "caf\u00e9 \u5b66"),
    (None, "-"),
])
def test_printable_name_removes_escape_codes_and_escapes_control_characters(raw, printed):
    assert printable_name(raw) == printed
    TALLY.append(("names", "clear"))


def test_printable_name_bounds_the_length():
    assert printable_name("x" * 250, max_length=200) == "x" * 200 + "... (50 more characters)"


def test_the_sessions_table_prints_a_hostile_name_sanitised(tmp_path, capsys):
    store = SessionStore(tmp_path / "s.sqlite")
    ActiveLearningSession(SessionConfig(dataset="yeast", initial_size=20, query_size=10, rounds=1,
                                        name="\x1b[31mred\x1b[0m\x1b]0;t\x07", model_params=dict(FAST_MODEL)),
                          store=store)
    assert cli.main(["sessions", "--store", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert "red" in out and "\x1b" not in out and "\x07" not in out
    TALLY.append(("names", "clear"))


def test_csv_export_neutralises_formula_strings_and_keeps_numbers_numbers():
    df = pd.DataFrame({
        "text": ["=HYPERLINK(\"http://x\")", "+1", "-cmd", "@SUM(A1)", "\tx", "plain", "a=b"],
        "value": [-0.5, -1e-9, 2.0, -3.25, 0.0, -7.0, 8.0],
        "count": [-1, 2, -3, 4, 5, 7, 8],
    })
    text = export.table_to_csv_bytes(df).decode("utf-8")
    assert text.splitlines()[1].startswith("\"'=HYPERLINK")  # quoted by CSV for its inner quotes
    back = pd.read_csv(io.BytesIO(export.table_to_csv_bytes(df)))
    assert back["text"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-cmd", "'@SUM(A1)", "'\tx",
                                     "plain", "a=b"]
    # a carriage return first: neutralised too (pandas does not quote a lone CR, so it is checked as written)
    assert export.table_to_csv_bytes(pd.DataFrame({"t": ["\rx"]})) == b"t\n'\rx\n"
    assert back["value"].tolist() == df["value"].tolist() and back["value"].dtype == float
    assert back["count"].tolist() == df["count"].tolist() and back["count"].dtype == "int64"
    assert df["text"].iloc[0] == "=HYPERLINK(\"http://x\")"  # the caller's table is not changed
    TALLY.append(("csv", "clear"))


def test_csv_export_neutralises_column_names_and_index_labels():
    df = pd.DataFrame({"=cmd": [1.0]}, index=pd.Index(["-x"], name="row"))
    back = pd.read_csv(io.BytesIO(export.table_to_csv_bytes(df, index=True)))
    assert back.columns.tolist() == ["row", "'=cmd"] and back["row"].tolist() == ["'-x"]
    assert back["'=cmd"].tolist() == [1.0]
    TALLY.append(("csv", "clear"))
