"""Hostile command-line flags, run in process through ``cli.main``: the flags of
``hostile_cases.configs`` (``CLI_CASES``, ``ARGPARSE_CASES``) and more: bad and huge numbers, unknown
names, paths that are folders, files or missing, names with terminal escapes, unwritable outputs,
unknown sessions. A clear refusal is exit code 2 with one ``error: ...`` message (argparse: its usage
and one ``error:`` line), and no session row written."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
from hostile_cases import Case, Outcome
from hostile_cases.configs import ARGPARSE_CASES, CLI_CASES, RUN

from mlal_core import cli
from mlal_core.session.config import SessionConfig
from mlal_core.session.store import SessionStore

ESC = "\x1b[31mred\x1b[0m\x1b]0;pwned\x07"


def call(argv: list[str]) -> tuple[int, str, str]:
    """``cli.main(argv)``: (exit code, stdout, stderr); argparse's ``SystemExit`` gives its code."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def _refusal(code: int, err: str) -> Outcome:
    one_line = err.count("\n") == 1 and (err.startswith("error: ") or ": error: " in err)  # ours, argparse's
    if code == cli.EXIT_USAGE and one_line:
        return Outcome("error", err)
    return Outcome("error", f"exit code {code}, stderr {err[:400]!r}", clean=False)


def flag_case(name: str, argv: list[str], needles=(), *, store: Path | None = None,
              check=None) -> Case:
    """A case that runs ``argv``; ``store``: a store that must hold no new session afterwards;
    ``check(stdout)``: the input is fine, and its output must pass the check."""
    def run() -> Outcome:
        before = _sessions(store)
        code, out, err = call(argv)
        if check is not None:
            return Outcome("ok", err[:300], correct=code == 0 and bool(check(out)))
        if code == 0:
            return Outcome("ok", out[:300])
        outcome = _refusal(code, err)
        if outcome.clean and _sessions(store) != before:
            return Outcome("error", f"a session row was written before the refusal: {err[:300]}", clean=False)
        return outcome
    return Case("cli flags", name, run, needles, accept=check is not None)


def _sessions(store: Path | None) -> int:
    if store is None or not store.is_file():
        return 0
    return len(SessionStore(store).list_sessions())


def _stored_session(store: Path) -> str:
    config = SessionConfig(dataset="yeast", strategy="random", rounds=1, initial_size=20, query_size=10)
    return SessionStore(store).create_session(config, np.arange(20), np.zeros((20, 14), dtype=np.uint8))


def corpus(folder: Path) -> list[Case]:
    """Every flag case; files, folders and stores are made under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "flags.sqlite"
    text_file = folder / "notes.txt"
    text_file.write_text("not a store\n" * 50)
    a_folder = folder / "a-folder"
    a_folder.mkdir(exist_ok=True)
    kept = folder / "kept.sqlite"
    sid = _stored_session(kept)
    empty_yaml = folder / "empty.yaml"
    empty_yaml.write_text("")
    junk_yaml = folder / "junk.yaml"
    junk_yaml.write_bytes(bytes(range(256)) * 20)

    def run(*extra: str) -> list[str]:
        return [*RUN, *extra, "--store", str(store)]

    cases = [flag_case(f"flag {name}", [*argv, "--store", str(store)] if argv[0] in ("run", "resume") else argv,
                       needles, store=store) for name, argv, needles in CLI_CASES]
    cases += [flag_case(f"argparse {name}", argv) for name, argv in ARGPARSE_CASES]
    new = [
        # numbers
        ("initial-negative", run("--initial-size", "-5"), ["initial_size"]),
        ("query-negative", run("--query-size", "-1"), ["query_size"]),
        ("rounds-1e20", run("--rounds", "100000000000000000000"), ["rounds", "100000"]),
        ("candidate-negative", run("--candidate-subset", "-3"), ["candidate_subset"]),
        ("max-length-0", run("--max-length", "0"), ["max_length"]),
        ("epochs-0", run("--epochs", "0"), ["epochs"]),
        ("seed-1e30", run("--seed", "1" + "0" * 30), ["seed"]),
        ("ensemble-negative", run("--ensemble", "-2"), ["--ensemble"]),
        ("mc-passes-1e6", run("--mc-passes", "1000000"), ["mc_passes"]),
        ("model-param-1e400", run("--model-param", "n_members=1e400"), ["n_members"]),
        ("model-param-empty-key", run("--model-param", "=3"), ["key=value"]),
        ("lr-tiny-zero", run("--model-param", "learning_rate=1e-400"), ["learning_rate"]),
        # names
        ("strategy-empty", [*RUN[:4], "", *RUN[5:], "--store", str(store)], ["strategy"]),
        ("strategy-escape", [*RUN[:4], ESC, *RUN[5:], "--store", str(store)], ["strategy"]),
        ("model-escape", run("--model", ESC), ["model"]),
        ("dataset-path", ["run", "--dataset", "../../etc/passwd", "--strategy", "random", "--store", str(store)],
         ["dataset"]),
        ("dataset-10k-chars", ["run", "--dataset", "y" * 10_000, "--strategy", "random", "--store", str(store)],
         ["dataset"]),
        ("name-escape-huge", run("--name", ESC + "n" * 5000), ["name must be at most 200 characters"]),
        ("device-cuda-abc", run("--device", "cuda:abc"), ["device"]),
        ("device-empty", run("--device", ""), ["device"]),
        ("device-escape", run("--device", ESC), ["device"]),
        ("param-no-equals", [*RUN[:4], "entropy", *RUN[5:], "--param", "beta", "--store", str(store)],
         ["key=value"]),
        ("param-random-has-none", run("--param", "x=1"), ["random"]),
        ("initial-method-escape", run("--initial-method", ESC), ["--initial-method"]),
        ("representation-empty", run("--representation", ""), ["representation"]),
        # stores and paths
        ("run-store-folder", [*RUN, "--store", str(a_folder)], ["folder", str(a_folder)]),
        ("run-store-text-file", [*RUN, "--store", str(text_file)], [str(text_file)]),
        ("run-store-under-a-file", [*RUN, "--store", str(text_file / "x.sqlite")], [str(text_file)]),
        ("sessions-store-folder", ["sessions", "--store", str(a_folder)], ["folder"]),
        ("sessions-store-text-file", ["sessions", "--store", str(text_file)], [str(text_file)]),
        ("export-unknown-session", ["export", "nosuch", "--store", str(kept), "--out", str(folder / "o.json")],
         ["nosuch"]),
        ("export-escape-session", ["export", ESC, "--store", str(kept), "--out", str(folder / "o.json")],
         ["No session"]),
        ("export-out-under-a-file", ["export", sid[:8], "--store", str(kept), "--out", str(text_file / "o.json")],
         [str(text_file)]),
        ("export-csv-out-is-a-file", ["export", sid[:8], "--format", "csv", "--store", str(kept), "--out",
                                      str(text_file)], [str(text_file)]),
        ("resume-empty-id", ["resume", "", "--store", str(kept)], ["session"]),
        ("resume-wildcard-id", ["resume", "%", "--store", str(kept)], ["No session '%'"]),
        ("export-wildcard-id", ["export", "_", "--store", str(kept), "--out", str(folder / "o.json")],
         ["No session '_'"]),
        ("resume-device-tpu", ["resume", sid[:8], "--device", "tpu", "--store", str(kept)], ["device"]),
        ("resume-store-folder", ["resume", "abc", "--store", str(a_folder)], ["folder"]),
        ("experiment-folder", ["experiment", str(a_folder), "--dry-run"], [str(a_folder)]),
        ("experiment-empty-file", ["experiment", str(empty_yaml), "--dry-run"], [str(empty_yaml)]),
        ("experiment-binary-file", ["experiment", str(junk_yaml), "--dry-run"], [str(junk_yaml)]),
        ("experiment-workers-negative", ["experiment", str(empty_yaml), "--workers", "-1", "--dry-run"], []),
        ("report-missing", ["report", str(folder / "nope.yaml"), "--out", str(folder / "r")], ["nope.yaml"]),
        ("batch-selection-epochs-0", ["batch-selection", "--epochs", "0", "--quiet"], ["epochs"]),
        ("batch-selection-seeds-1e9", ["batch-selection", "--seeds", "1000000000", "--quiet"], ["seeds"]),
        ("batch-selection-max-train-negative", ["batch-selection", "--max-train", "-5", "--quiet"], ["max"]),
        ("batch-selection-sampler-bogus", ["batch-selection", "--sampler", "bogus", "--quiet"], ["sampler"]),
        ("batch-selection-dataset-bogus", ["batch-selection", "--dataset", ESC, "--quiet"], ["dataset"]),
        ("batch-selection-sampler-param-bogus", ["batch-selection", "--sampler-param", "nope=1", "--quiet"],
         ["nope"]),
        ("batch-selection-out-a-file", ["batch-selection", "--out", str(text_file), "--epochs", "3", "--seeds", "1",
                                        "--max-train", "60", "--quiet"], [str(text_file)]),
    ]
    cases += [flag_case(f"new {name}", argv, needles, store=store) for name, argv, needles in new]
    # fine inputs: the reading commands on an empty, a missing and a read-only-folder store
    cases += [
        flag_case("accept sessions on a new store", ["sessions", "--store", str(folder / "new" / "s.sqlite")],
                  check=lambda out: "No sessions" in out),
        flag_case("accept sessions of a stored session", ["sessions", "--store", str(kept)],
                  check=lambda out: sid[:8] in out),
        flag_case("accept strategies", ["strategies"], check=lambda out: "entropy" in out),
    ]
    return cases
