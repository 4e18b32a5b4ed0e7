"""The command line, run as a real subprocess (``python -m mlal_core ...``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO_ROOT

from mlal_core.session.store import SessionStore

FAST = ["--ensemble", "2", "--epochs", "5", "--model-param", "min_steps=40", "--model-param", "hidden_size=64"]


def cli(*args: str, home, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLAL_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "mlal_core", *args], cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=timeout)


def table_rows(stdout: str, first_col: str, keep=lambda row: True) -> list[list[str]]:
    """Rows (split on whitespace) of the fixed-width table whose header starts with ``first_col``,
    up to the first line ``keep`` refuses."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() and line.split()[0] == first_col)
    rows = []
    for line in lines[start + 1:]:
        if line.strip() and set(line.strip()) <= {"-", " "}:
            continue
        if not line.strip() or not keep(line.split()):
            break
        rows.append(line.split())
    return rows


def numbered(row):
    return row[0].isdigit()


def test_datasets_lists_every_bundled_set_with_statistics(mlal_home):
    from mlal_core import data

    res = cli("datasets", home=mlal_home)
    assert res.returncode == 0, res.stderr
    header = res.stdout.splitlines()[0].split()
    assert header == ["name", "kind", "train", "valid", "test", "K", "cardinality", "MeanIR", "CorrAvg", "licence"]
    rows = {r[0]: r for r in table_rows(res.stdout, "name", lambda r: not r[0].startswith("*"))}
    assert set(rows) == set(data.available())
    yeast = rows["yeast"]
    ds = data.load("yeast")
    assert yeast[1] == "tabular" and int(yeast[2]) == len(ds.train) and int(yeast[4]) == 917 and int(yeast[5]) == 14
    assert yeast[6] == "4.237"  # cardinality over all splits (data/README.md), 3 decimals
    assert yeast[7] == "7.20"  # MeanIR, 2 decimals (not a rounded value printed with 4)
    assert float(yeast[8]) == pytest.approx(0.3058, abs=1e-3) and len(yeast[8]) == 6
    assert rows["goemotions"][1] == "text" and rows["goemotions"][9] == "Apache-2.0"


def test_strategies_lists_the_registry(mlal_home):
    from mlal_core import strategies

    res = cli("strategies", home=mlal_home)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].split()[:3] == ["name", "display", "name"]
    names = [r[0] for r in table_rows(res.stdout, "name")]
    assert names == [s.name for s in strategies.available()]
    assert "Houlsby" in res.stdout  # BALD's paper


@pytest.mark.slow
def test_run_sessions_export_and_resume(mlal_home, tmp_path):
    res = cli("run", "--dataset", "yeast", "--strategy", "bald", "--rounds", "2", "--query-size", "20",
              "--initial-size", "40", "--seed", "1", *FAST, "--name", "cli-test", home=mlal_home)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert ("round  n_labeled  micro-F1  macro-F1     P@1  MeanIR(picks)  cov(picks)  cov(L)  even(L)  train_s  "
            "predict_s  select_s") in out
    rows = table_rows(out, "round", numbered)
    assert [r[:2] for r in rows] == [["0", "40"], ["1", "60"], ["2", "80"]]
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows)
    assert rows[0][5] != "-" and rows[2][5] == "-"  # the final record picks nothing
    store = SessionStore()  # MLAL_HOME of this test: the CLI's default store
    sessions = store.list_sessions()
    assert len(sessions) == 1
    sid = sessions.loc[0, "id"]
    assert f"Stored in {store.path} as session {sid}" in out
    assert sessions.loc[0, "status"] == "finished" and sessions.loc[0, "name"] == "cli-test"
    config, _, rounds = store.load_session(sid)
    assert config.strategy == "bald" and config.model_params["n_members"] == 2 and config.seed == 1
    assert [r.n_labeled for r in rounds] == [40, 60, 80]
    assert [f"{r.metrics['micro_f1']:.4f}" for r in rounds] == [r[2] for r in rows]
    # beside MeanIR: coverage of the batch (none for the final record), of L (the record's), L's evenness
    assert rows[0][6] != "-" and rows[2][6] == "-"
    assert [f"{r.label_coverage:.3f}" for r in rounds] == [r[7] for r in rows]
    assert all(0.0 <= float(r[8]) <= 1.0 for r in rows)

    res = cli("sessions", home=mlal_home)
    assert res.returncode == 0, res.stderr
    (row,) = table_rows(res.stdout, "id", lambda r: len(r[0]) == 32)
    assert row[0] == sid and row[1:6] == ["cli-test", "yeast", "bald", "finished", "2"]

    res = cli("export", sid[:10], "--format", "json", "--out", str(tmp_path / "s.json"), home=mlal_home)
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    assert len(doc["rounds"]) == 3 and doc["session"]["id"] == sid

    res = cli("export", sid, "--format", "csv", "--out", str(tmp_path / "csv"), home=mlal_home)
    assert res.returncode == 0, res.stderr
    assert len(pd.read_csv(tmp_path / "csv" / "rounds.csv")) == 3
    picks = pd.read_csv(tmp_path / "csv" / "picks.csv")
    assert len(picks) == 40 and list(picks["round"].unique()) == [0, 1]

    res = cli("resume", sid, home=mlal_home)
    assert res.returncode == 0 and "already finished" in res.stdout


@pytest.mark.slow
def test_resume_continues_a_stopped_session(mlal_home, small_datasets):
    from conftest import FAST_MODEL

    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession

    store = SessionStore()
    cfg = SessionConfig(dataset="yeast", strategy="entropy", model_params=dict(FAST_MODEL), initial_size=30,
                        query_size=10, rounds=2)
    s = ActiveLearningSession(cfg, dataset=small_datasets["yeast"], store=store)
    s.step()
    res = cli("resume", s.session_id, home=mlal_home)
    assert res.returncode == 0, res.stderr
    assert f"Resuming session {s.session_id} at round 1" in res.stdout
    assert [r[:2] for r in table_rows(res.stdout, "round", numbered)] == [["0", "30"], ["1", "40"], ["2", "50"]]
    assert store.session_info(s.session_id)["status"] == "finished"


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--dataset", "yeast", "--strategy", "entropyy"], "Unknown strategy 'entropyy'. Did you mean 'entropy'?"),
        (["run", "--dataset", "yeest", "--strategy", "random"], "Unknown dataset 'yeest'. Did you mean 'yeast'?"),
        (["run", "--dataset", "yeast", "--strategy", "random", "--query-size", "5000"],
         "query_size (5000) is larger than the training pool"),
        (["run", "--dataset", "yeast", "--strategy", "besra", "--param", "alpah=1"],
         "Unknown parameter of strategy 'besra' 'alpah'. Did you mean 'alpha'?"),
        (["run", "--dataset", "yeast", "--strategy", "besra", "--param", "alpha=x"], "--param alpha: Expected a number"),
        (["export", "0123abc", "--out", "x"], "No session '0123abc'"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(mlal_home, args, message):
    res = cli(*args, home=mlal_home)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr


def test_param_values_are_typed_by_the_registry_default():
    from mlal_core import strategies
    from mlal_core.cli import _parse_params
    from mlal_core.errors import ConfigError

    samples = {bool: ("off", False), int: ("3", 3), float: ("0.25", 0.25), str: ("x", "x")}
    checked = set()
    for info in strategies.available():
        for p in info.params:
            kind = type(p.default)
            if kind not in samples:
                assert _parse_params([f"{p.name}=null"], info.name) == {p.name: None}
                continue
            raw, want = samples[kind]
            got = _parse_params([f"{p.name}={raw}"], info.name)[p.name]
            assert type(got) is kind and got == want, (info.name, p.name)
            checked.add(kind)
            if kind in (int, float):
                with pytest.raises(ConfigError, match=f"--param {p.name}: Expected"):
                    _parse_params([f"{p.name}=abc"], info.name)
    assert {int, float, bool} <= checked
    with pytest.raises(ConfigError, match="key=value"):
        _parse_params(["alpha"], "besra")
    with pytest.raises(ConfigError, match="no parameters"):
        _parse_params(["x=1"], "random")


def test_run_a_textcnn_then_ctrl_c_cancels_the_round_in_progress_and_resume_finishes(mlal_home):
    """`--model textcnn` trains on token ids; Ctrl-C (SIGINT) during round 1 drops that round only."""
    import signal
    import time

    args = [sys.executable, "-m", "mlal_core", "run", "--dataset", "reuters21578", "--strategy", "entropy",
            "--model", "textcnn", "--ensemble", "1", "--epochs", "300", "--model-param", "max_length=24",
            "--model-param", "early_stopping=false", "--model-param", "n_filters=8",
            "--model-param", "embedding_dim=16", "--initial-size", "200", "--query-size", "10",
            "--rounds", "2", "--candidate-subset", "100"]
    env = {**os.environ, "MLAL_HOME": str(mlal_home), "PYTHONUNBUFFERED": "1"}
    # a shell's background job (`cmd &`) starts with SIGINT ignored, and Python keeps it ignored in the
    # child: restore the default so that the child turns SIGINT into KeyboardInterrupt
    child = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        deadline = time.time() + 300
        while time.time() < deadline:  # wait for round 0's row, then interrupt round 1
            line = child.stdout.readline()
            lines.append(line)
            if not line or line.split()[:2] == ["0", "200"]:
                break
        time.sleep(0.3)  # round 1 (300 epochs, several seconds) has begun
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    assert "Cancelled: the round in progress was dropped" in err
    store = SessionStore(mlal_home / "sessions.sqlite")
    (sid,) = store.list_sessions()["id"]
    rounds = store.load_rounds(sid)
    assert [r.round for r in rounds] == [0] and rounds[0].n_candidates == 100
    assert store.load_session(sid)[0].model == "textcnn"
    res = cli("resume", sid[:8], home=mlal_home)
    assert res.returncode == 0, res.stderr
    assert [r.round for r in store.load_rounds(sid)] == [0, 1, 2]
