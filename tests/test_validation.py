"""Parameters declared once (``mlal_core.validation``): the constraints, and the declarations of every
strategy, model and batch sampler agreeing with their constructors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlal_core
from mlal_core import strategies
from mlal_core.batch_selection import SAMPLERS
from mlal_core.errors import ConfigError
from mlal_core.models import MODELS
from mlal_core.strategies import Param, QueryStrategy, available, register
from mlal_core.validation import (
    Boolean,
    IntegerSequence,
    Interval,
    LocalFolder,
    Options,
    check_params,
    signature_mismatches,
)

PAPER_NAMES = ["Random", "Entropy", "BALD", "BEAL", "MMC", "Adaptive", "AUDI", "CVIRS", "BADGE", "CoreSet", "DAL",
               "BESRA", "CRAB", "CoMAL", "Subword", "ALPS"]


# ------------------------------------------------------------------------------------ constraints
@pytest.mark.parametrize(
    "constraint, text",
    [
        (Interval(1, 100, integer=True), "an integer in [1, 100]"),
        (Interval(0.0, 1.0, closed="left"), "a number in [0, 1)"),
        (Interval(0.0, None, closed="neither"), "a number > 0"),
        (Interval(None, 5), "a number <= 5"),
        (Interval(1, None, integer=True, allow_none=True), "an integer >= 1, or None"),
        (Interval(integer=True), "an integer"),
        (Interval(1e-6, 1e6), "a number in [1e-06, 1e+06]"),
        (Options(("a", None)), "one of 'a', None"),
        (Boolean(), "True or False"),
        (IntegerSequence(1), "a non-empty list of integers >= 1"),
    ],
)
def test_constraint_says_what_to_pass(constraint, text):
    assert constraint.describe() == text
    with pytest.raises(ConfigError, match=rf"^x must be {__import__('re').escape(text)}; got 'bad'\.$"):
        constraint.check("x", "bad")


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10), st.floats(-10, 10))
def test_interval_accepts_exactly_the_finite_numbers_inside(value, a, b):
    low, high = min(a, b), max(a, b)
    want = bool(np.isfinite(value) and low <= value <= high)
    assert Interval(low, high).accepts(value) is want
    assert Interval(low, high).accepts(np.float64(value)) is want


def test_interval_bounds_types_and_none():
    half_open = Interval(0.0, 1.0, closed="left")
    assert half_open.accepts(0.0) and half_open.accepts(0) and not half_open.accepts(1.0)
    assert not Interval(0.0, None, closed="neither").accepts(0.0)
    integer = Interval(1, 3, integer=True)
    assert integer.accepts(np.int64(2)) and not integer.accepts(2.0) and not integer.accepts(True)
    assert not integer.accepts(None) and Interval(1, 3, integer=True, allow_none=True).accepts(None)
    with pytest.raises(ValueError, match="closed"):
        Interval(0, 1, closed="open")


def test_options_boolean_and_sequences():
    opts = Options(("fp32", "bf16", None), ignore_case=True)
    assert opts.accepts("FP32") and opts.accepts(None) and not opts.accepts("fp64") and not opts.accepts(0)
    assert not Options(("a",)).accepts("A")
    assert Boolean().accepts(np.bool_(True)) and not Boolean().accepts(1) and not Boolean().accepts("True")
    seq = IntegerSequence(1)
    assert seq.accepts((3, 4)) and seq.accepts([np.int64(2)])
    assert not seq.accepts([]) and not seq.accepts([0]) and not seq.accepts("345") and not seq.accepts([2.0])


def test_local_folder(tmp_path):
    folder = LocalFolder("Pass a saved tokenizer.")
    folder.check("tokenizer", None)
    folder.check("tokenizer", str(tmp_path))
    with pytest.raises(ConfigError, match=r"tokenizer must be a local folder path or None; got 3\."):
        folder.check("tokenizer", 3)
    with pytest.raises(ConfigError, match=r"is not a local folder\. Pass a saved tokenizer\.$"):
        folder.check("tokenizer", str(tmp_path / "missing"))


def test_param_derives_its_constraint_and_what_the_app_shows():
    assert Param("k", 10, "", low=1, high=100).constraint == Interval(1, 100, integer=True)
    assert Param("p", None, "", low=1, high=8).constraint == Interval(1, 8, integer=True, allow_none=True)
    assert Param("r", 0.5, "", low=0.0, high=1.0).constraint == Interval(0.0, 1.0)
    assert Param("flag", True, "").constraint == Boolean()
    assert Param("flag", False, "", choices=(False, True)).constraint == Boolean()
    assert Param("mode", "a", "", choices=("a", "b")).constraint == Options(("a", "b"))
    assert Param("device", None, "").constraint is None  # not checked here
    given_constraint = Param("s0", 100.0, "", constraint=Interval(1.0, None))
    assert (given_constraint.low, given_constraint.high) == (1.0, None)
    assert Param("m", "x", "", constraint=Options(("x", "y"))).choices == ("x", "y")
    assert Param("lr", 1e-3, "", low=0.0).with_default(5e-5).default == 5e-5


def test_check_params_names_the_parameter_and_the_owner():
    class Owner:
        k = 0

    with pytest.raises(ConfigError, match=r"^Owner: k must be an integer in \[1, 100\]; got 0\.$"):
        check_params(Owner(), (Param("k", 10, "", low=1, high=100),), prefix="Owner: ")


# ------------------------------------------------------------------------------ declarations
DECLARING = (
    [(i.cls.__name__, i.cls) for i in available()]
    + [(cls.__name__, cls) for cls in MODELS.values()]
    + [(cls.__name__, cls) for cls in SAMPLERS.values()]
)


@pytest.mark.parametrize("cls", [c for _, c in DECLARING], ids=[n for n, _ in DECLARING])
def test_init_defaults_equal_the_declaration(cls):
    assert signature_mismatches(cls, cls.PARAMS) == []
    # every declared default passes its own check, so the class is valid as constructed by default
    for p in cls.PARAMS:
        p.check(p.default)


def test_registry_params_are_the_class_declaration():
    for entry in available():
        assert entry.params == tuple(entry.cls.PARAMS)


def test_signature_mismatches_reports_names_and_defaults():
    class Wrong:
        def __init__(self, *, a: int = 1, b: float = 2):
            pass

    problems = signature_mismatches(Wrong, (Param("a", 2, ""), Param("c", 0, "")))
    assert any("not declared ['b'], declared but not accepted ['c']" in p for p in problems)
    assert any("Wrong.a: __init__ default 1, declared 2" in p for p in problems)
    # same value, other type: the CLI would parse the value as the wrong type
    assert signature_mismatches(Wrong, (Param("a", 1.0, ""), Param("b", 2, ""))) == [
        "Wrong.a: __init__ default 1, declared 1.0"
    ]


def test_register_refuses_a_constructor_that_disagrees_with_its_declaration():
    class Disagrees(QueryStrategy):
        name = "test_disagrees"
        PARAMS = (Param("k", 3, "picks", low=1, high=9),)

        def __init__(self, *, k: int = 4) -> None:
            self.k = k
            self._validate_params()

    with pytest.raises(TypeError, match="Disagrees.k: __init__ default 4, declared 3"):
        register(display_name="x", paper="x", explanation="x")(Disagrees)
    assert "test_disagrees" not in {i.name for i in available()}


# ------------------------------------------------------------------------------ names and shapes
def test_strategy_classes_carry_their_paper_names():
    assert set(PAPER_NAMES) <= set(strategies.__all__)
    classes = {getattr(strategies, n) for n in PAPER_NAMES}
    assert classes == {i.cls for i in available()}
    assert not [n for n in strategies.__all__ if n.endswith("Strategy") and n not in ("QueryStrategy", "ScoreBasedStrategy")]


def _classes_under(package) -> list[type]:
    found = []
    for mod in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        found += [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__]
    return found


def test_no_constructor_takes_more_than_five_positional_arguments():
    """Every class of the library (dataclasses included) takes at most 5 arguments by position."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    too_long = {}
    for cls in _classes_under(mlal_core):
        if "__init__" not in vars(cls):
            continue
        params = inspect.signature(cls.__init__).parameters.values()
        positional = [p.name for p in params if p.kind in kinds and p.name != "self"]
        if len(positional) > 5:
            too_long[f"{cls.__module__}.{cls.__qualname__}"] = positional
    assert len(too_long) == 0, too_long
