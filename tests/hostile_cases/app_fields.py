"""Hostile input typed into the app, through ``streamlit.testing.v1.AppTest``: uploads through the Home
page's uploader (every csv / tsv / json / jsonl case of ``hostile_cases.files``), its column, budget,
model and name fields, and the number fields of the Dataset explorer and Batch selection pages.

A clear refusal in the app is an ``st.error`` box (and no exception element). A number outside a
field's range is not passed on: Streamlit keeps the field at a value inside its range (a browser does
not let it be typed), so such a case is a correct result when the field's value stays in range, no
exception is shown and the page's own check still holds.
"""

from __future__ import annotations

from pathlib import Path

from hostile_cases import Case, Outcome
from hostile_cases.files import CASES as FILE_CASES
from hostile_cases.files import GOOD_CSV
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent.parent / "app.py")
TIMEOUT = 240
#: the upload types the Home page's uploader takes
UPLOAD_TYPES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")
ESC = "\x1b[31mred\x1b[0m\x1b]0;pwned\x07"


class Page:
    """One warm AppTest on one page, shared by the cases of that page (a cold first run imports
    everything, which no case should be timed for)."""

    def __init__(self, page: str, setup=None) -> None:
        self.page, self.setup, self.at = page, setup, None

    def get(self) -> AppTest:
        if self.at is None:
            at = AppTest.from_file(APP, default_timeout=TIMEOUT)
            at.run()
            if self.page != "pages/home.py":
                at.switch_page(self.page).run()
            if self.setup is not None:
                self.setup(at)
            self.at = at
        return self.at


def _shown(at: AppTest) -> Outcome | None:
    """An exception element as a traceback, else None."""
    if at.exception:
        return Outcome("traceback", "; ".join(str(e.value)[:300] for e in at.exception))
    return None


def _errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def upload_case(page: Page, name: str, fname: str, payload: bytes, accept: bool) -> Case:
    """Upload ``payload`` as ``fname``: a refused file shows "This file cannot be used", a good one
    "Read <file>"."""
    def run() -> Outcome:
        at = page.get()
        at.file_uploader(key="home_upload").set_value((fname, payload, "application/octet-stream")).run()
        shown = _shown(at)
        if shown is not None:
            return shown
        errors = _errors(at)
        if errors:
            return Outcome("error", errors)
        read = any(fname in s.value for s in at.success)
        return Outcome("ok", "no 'Read' message" if not read else "", correct=read)
    needles = () if accept else ("This file cannot be used",)
    return Case("app fields", f"upload {name}", run, needles, accept=accept, setup=page.get)


def field_case(page: Page, kind: str, key: str, value, *, needles=(), accept: bool = False,
               check=None) -> Case:
    """Set one field; a refusal is an ``st.error`` holding ``needles``; an accepted value must pass
    ``check(at)``. The field is set back to its previous value afterwards."""
    def run() -> Outcome:
        at = page.get()
        widget = getattr(at, kind)(key=key)
        before = widget.value
        try:
            widget.set_value(value).run()
            shown = _shown(at)
            if shown is not None:
                return shown
            errors = _errors(at)
            if errors:
                return Outcome("error", errors)
            return Outcome("ok", f"field now {getattr(at, kind)(key=key).value!r}", correct=bool(check and check(at)))
        finally:
            getattr(at, kind)(key=key).set_value(before).run()
    return Case("app fields", f"{page.page.split('/')[-1]} {key}={str(value)[:30]!r}", run, needles,
                accept=accept, setup=page.get)


def in_range(kind: str, key: str, lo, hi):
    """The check of an out-of-range number: the field holds a value in [lo, hi], and Start (when on
    the page) is offered only for a config the page accepted."""
    def check(at: AppTest) -> bool:
        value = getattr(at, kind)(key=key).value
        return value is not None and lo <= value <= (hi if hi is not None else value)
    return check


def _start_enabled(at: AppTest) -> bool:
    return any(b.key == "home_start" and not b.disabled for b in at.button)


def _own_file(at: AppTest) -> None:
    at.radio(key="home_source").set_value("My own file").run()


def corpus() -> list[Case]:
    """Every app case (the pages are started on the first case that needs them)."""
    home = Page("pages/home.py")
    upload = Page("pages/home.py", setup=_own_file)
    cases = [upload_case(upload, name, fname, payload, check is not None)
             for name, fname, payload, kwargs, check in FILE_CASES
             if not kwargs and fname.endswith(UPLOAD_TYPES)]
    cases += [
        # the upload block's fields, with a good file
        upload_case(upload, "good csv (again, for the fields below)", "good.csv", GOOD_CSV, True),
        field_case(upload, "text_input", "home_text_col", ESC + "y" * 5000, needles=["This file cannot be used"]),
        field_case(upload, "text_input", "home_labels_col", "no such column", needles=["This file cannot be used"]),
        field_case(upload, "text_input", "home_labels_col", "", accept=True,
                   check=lambda at: any("good.csv" in s.value for s in at.success)),
        # the budget, the model, the name
        field_case(home, "number_input", "home_initial", 10**12, needles=["initial_size", "training pool"]),
        field_case(home, "number_input", "home_query", 10**9, needles=["query_size"]),
        field_case(home, "text_input", "home_name", "n" * 100_000, needles=["name must be at most 200 characters"]),
        field_case(home, "text_input", "home_name", ESC, accept=True, check=_start_enabled),
        field_case(home, "text_input", "home_name", "   ", accept=True, check=_start_enabled),
    ]
    for key, value, lo, hi in [("home_initial", -5, 1, None), ("home_query", 0, 1, None),
                               ("home_rounds", 10**9, 0, 10_000), ("home_rounds", -1, 0, 10_000),
                               ("home_seed", -1, 0, 2**31 - 1), ("home_seed", 2**40, 0, 2**31 - 1),
                               ("home_members", 10**6, 1, 20), ("home_mc", -1, 0, 100),
                               ("home_hidden", 10**9, 8, 4096), ("home_epochs", 0, 1, 500)]:
        cases.append(field_case(home, "number_input", key, value, accept=True, check=in_range("number_input", key, lo, hi)))
    explorer = Page("pages/dataset_explorer.py")
    cases += [field_case(explorer, "slider", "dx_n_samples", value, accept=True,
                         check=in_range("slider", "dx_n_samples", 1, 20)) for value in (0, 10**6)]
    bsel = Page("pages/batch_selection.py")
    for key, value, lo, hi in [("bsel_epochs", 0, 3, 200), ("bsel_seeds", 10**6, 1, 10), ("bsel_max_train", -1, 0, 100_000),
                               ("bsel_lambda1", 5.0, 0.0, 1.0), ("bsel_s0", -1.0, 1.0, 10_000.0),
                               ("bsel_window", 10**9, 2, 50)]:
        cases.append(field_case(bsel, "number_input", key, value, accept=True, check=in_range("number_input", key, lo, hi)))
    return cases
