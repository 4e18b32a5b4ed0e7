"""The hostile-input corpus of issue 13 under one tally: files (``data.load_file``), session and
experiment configs, command-line flags (``cli.main`` in process) and the app's fields (AppTest).

Target, asserted: at least 150 cases, 100 % clear error or correct result, 0 tracebacks, no case over
10 s, every message under 2,000 characters. What counts as a clear error is defined once, in
``hostile_cases/__init__.py``. The tally is printed per category at the end of the run.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hostile_cases import MAX_MESSAGE, MAX_SECONDS, OUTCOMES, Case, Outcome, judge, run_case
from hostile_cases import app_fields, cli_flags, configs, files


def _tally_lines(rows: list[tuple[str, str]]) -> list[str]:
    categories = sorted({c for c, _ in rows})
    lines = []
    for category in [*categories, "all"]:
        counts = Counter(col for c, col in rows if category in (c, "all"))
        lines.append(f"  {category:<11} {sum(counts.values()):>4} cases: " + ", ".join(f"{o} {counts[o]}" for o in OUTCOMES))
    return lines


@pytest.mark.app
def test_the_hostile_corpus_meets_its_targets(tmp_path, request):
    cases = [*files.corpus(), *configs.corpus(tmp_path / "configs"), *cli_flags.corpus(tmp_path / "cli"),
             *app_fields.corpus()]
    rows, failures, slowest = [], [], (0.0, "")
    for case in cases:
        column, reason, seconds = run_case(case)
        rows.append((case.category, column))
        slowest = max(slowest, (seconds, case.name))
        if column not in ("clear error", "correct result"):
            failures.append(f"{case.category} / {case.name}: {column}: {reason}")
    lines = ["hostile corpus (issue 13):", *_tally_lines(rows), f"  slowest case: {slowest[1]} ({slowest[0]:.1f} s)"]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():  # shown even when the test passes
            reporter.write_line("\n" + "\n".join(lines))
    else:  # pragma: no cover - without the terminal reporter
        print("\n".join(lines))
    counts = Counter(column for _, column in rows)
    assert len(cases) >= 150
    assert {c for c, _ in rows} == {"files", "configs", "cli flags", "app fields"}
    assert not failures, "\n".join(failures)
    assert counts["traceback"] == counts["over 10 s"] == counts["message over 2,000 chars"] == 0
    assert counts["clear error"] + counts["correct result"] == len(cases)


# ------------------------------------------------------------------ the judge itself can fail a case
def _case(accept=False, needles=()) -> Case:
    return Case("t", "t", lambda: Outcome("error", "x"), needles, accept=accept)


@pytest.mark.parametrize("case, outcome, seconds, column", [
    (_case(needles=["rounds"]), Outcome("error", "rounds must be in [0, 100000]; got -1."), 0.1, "clear error"),
    (_case(needles=["rounds"]), Outcome("error", "bad value"), 0.1, "wrong"),
    (_case(), Outcome("error", "x" * MAX_MESSAGE), 0.1, "message over 2,000 chars"),
    (_case(), Outcome("error", "Traceback (most recent call last): ..."), 0.1, "wrong"),
    (_case(), Outcome("error", "name \x1b[31mred"), 0.1, "wrong"),
    (_case(), Outcome("error", "refused", clean=False), 0.1, "wrong"),
    (_case(), Outcome("error", "refused"), MAX_SECONDS + 0.5, "over 10 s"),
    (_case(), Outcome("ok", correct=True), 0.1, "wrong"),  # accepted silently
    (_case(accept=True), Outcome("ok", correct=True), 0.1, "correct result"),
    (_case(accept=True), Outcome("ok", correct=False), 0.1, "wrong"),
    (_case(accept=True), Outcome("error", "refused"), 0.1, "wrong"),
    (_case(), Outcome("traceback", "KeyError: 'x'"), 0.1, "traceback"),
])
def test_the_judge_counts_each_outcome_in_its_column(case, outcome, seconds, column):
    assert judge(case, outcome, seconds)[0] == column


def test_an_exception_in_a_case_is_a_traceback_not_a_crash():
    def boom() -> Outcome:
        raise KeyError("x")
    column, reason, _ = run_case(Case("t", "t", boom))
    assert column == "traceback" and "KeyError" in reason


def test_a_cli_refusal_is_one_line_with_exit_code_2(mlal_home):
    code, _, err = cli_flags.call(["run", "--dataset", "yeast", "--strategy", "random", "--rounds", "-1",
                                   "--store", str(mlal_home / "s.sqlite")])
    assert code == 2 and err.startswith("error: rounds must be in [0, 100000]") and err.count("\n") == 1
