"""The hostile-input corpus of issue 13: files, session and experiment configs, command-line flags and
the app's fields. Each module holds its cases as plain lists; ``test_hostile_corpus.py`` runs them all
under one tally, and the per-area tests (``test_hostile_files.py``, ``test_hostile_configs.py``) check
them one by one.

**A clear error** (the one definition every runner uses, :func:`judge`):

* raised by the library: an :class:`~mlal_core.errors.MLALError` (``ConfigError``,
  ``DataValidationError``, ``StoreError``, ...), not any other exception;
* from the command line: exit code 2 (``cli.EXIT_USAGE``) with one ``error: ...`` message on stderr
  (a refused ``MLALError`` printed in one line, or an argparse usage error), nothing raised;
* in the app: an ``st.error`` box on the page, and no exception shown;

and in every case the message is 1 to 1,999 characters, holds no ``Traceback`` text and no terminal
escape code, and holds the words the case names (what to fix: the field, the allowed values). **A
correct result** is an accepted input whose result passes the case's check. Anything else is counted:
a *traceback* (any other exception, or an app exception element), a case *over 10 s*, a *message over
2,000 characters*, or *wrong* (accepted silently, a wrong result, or a message without the fix).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_MESSAGE = 2000
MAX_SECONDS = 10.0
#: the tally's columns, in the order they are printed
OUTCOMES = ("clear error", "correct result", "traceback", "over 10 s", "message over 2,000 chars", "wrong")


@dataclass(frozen=True)
class Outcome:
    """What an input did: ``kind`` ``error`` (refused, ``message``), ``ok`` (accepted, ``correct`` says
    whether the result passed its check) or ``traceback`` (an exception that is no clear refusal).
    ``clean`` False: the refusal broke a rule of its channel (another exit code, several messages, a
    session row written before it)."""

    kind: str
    message: str = ""
    correct: bool = False
    clean: bool = True


@dataclass(frozen=True)
class Case:
    """One hostile input: ``run()`` feeds it and returns an :class:`Outcome`; ``needles``: words a
    refusal must hold; ``accept``: True when the input is fine and must give a correct result;
    ``setup()``: untimed preparation (e.g. starting the app page the case types into)."""

    category: str
    name: str
    run: Callable[[], Outcome]
    needles: Sequence[str] = ()
    accept: bool = False
    setup: Callable[[], object] | None = None


def judge(case: Case, outcome: Outcome, seconds: float) -> tuple[str, str]:
    """The tally column of one case, and why (empty for a clear error or a correct result).

    Parameters
    ----------
    case : Case
        The case.
    outcome : Outcome
        What its input did.
    seconds : float
        How long it took.

    Returns
    -------
    tuple of (str, str)
        One of :data:`OUTCOMES`, and a short reason for anything but a success.
    """
    if outcome.kind == "traceback":
        return "traceback", outcome.message[:300]
    if seconds > MAX_SECONDS:
        return "over 10 s", f"{seconds:.1f} s"
    if outcome.kind == "ok":
        if case.accept and outcome.correct:
            return "correct result", ""
        return "wrong", "accepted silently" if not case.accept else f"wrong result: {outcome.message[:200]}"
    text = outcome.message
    if not outcome.clean:
        return "wrong", text[:300]
    if len(text) >= MAX_MESSAGE:
        return "message over 2,000 chars", f"{len(text)} characters"
    if case.accept:
        return "wrong", f"a fine input was refused: {text[:200]}"
    missing = [n for n in case.needles if n not in text]
    if not text.strip() or "Traceback" in text or "\x1b" in text or missing:
        return "wrong", f"unclear message (missing {missing}): {text[:300]}"
    return "clear error", ""


def run_case(case: Case) -> tuple[str, str, float]:
    """Run one case and judge it.

    Parameters
    ----------
    case : Case
        The case.

    Returns
    -------
    tuple of (str, str, float)
        The tally column, the reason, the seconds it took.
    """
    try:
        if case.setup is not None:
            case.setup()
    except Exception as exc:  # noqa: BLE001 - counted
        return "traceback", f"setup: {type(exc).__name__}: {exc}"[:300], 0.0
    start = time.perf_counter()
    try:
        outcome = case.run()
    except Exception as exc:  # noqa: BLE001 - counted: the tally must show none
        outcome = Outcome("traceback", f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    column, reason = judge(case, outcome, seconds)
    return column, reason, seconds
