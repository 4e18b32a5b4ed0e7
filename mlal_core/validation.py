"""The checks every layer shares: what counts as an integer or a number, "did you mean" hints, and the
one declaration of a hyperparameter (:class:`Param`) that strategies, models and batch samplers derive
their validation, their registry entries and the app's widgets from.

One place for them, so a config, a strategy, a model and an experiment file accept the same values
(a bool is never a number here, though Python says ``True == 1``).

A class declares its parameters once, in the spirit of scikit-learn's ``_parameter_constraints``::

    class MyStrategy(ScoreBasedStrategy):
        PARAMS = (
            Param("beta", 0.5, "weight of the uncertainty part", low=0.0, high=1.0),
            Param("deterministic", False, "one pass instead of S samples"),
        )

        def __init__(self, *, beta: float = 0.5, deterministic: bool = False) -> None:
            self.beta = beta
            self.deterministic = deterministic
            self._validate_params()      # check_params(self, self.PARAMS)

``low`` / ``high`` become an :class:`Interval` (integer when the default, or with a ``None`` default
both bounds, are integers; ``None`` accepted when it is the default), ``choices`` an :class:`Options`
(:class:`Boolean` for ``(False, True)``), a bool default a :class:`Boolean`; any other constraint is
passed as ``constraint=`` and then gives the ``low`` / ``high`` / ``choices`` the app shows.
:func:`signature_mismatches` tells whether ``__init__``'s defaults agree with the declaration.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any

import numpy as np

from mlal_core.errors import ConfigError

__all__ = [
    "Boolean",
    "Constraint",
    "IntegerSequence",
    "Interval",
    "LocalFolder",
    "Options",
    "Param",
    "check_params",
    "close_names_hint",
    "is_finite_number",
    "is_int",
    "is_number",
    "parameters_doc",
    "printable_name",
    "signature_mismatches",
]


def is_int(value: Any) -> bool:
    """True for a Python or numpy integer; False for a bool.

    Parameters
    ----------
    value : Any
        The value to test.

    Returns
    -------
    bool
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """True for a Python or numpy real number (inf and nan included); False for a bool.

    Parameters
    ----------
    value : Any
        The value to test.

    Returns
    -------
    bool
    """
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def is_finite_number(value: Any) -> bool:
    """:func:`is_number` and neither inf nor nan.

    Parameters
    ----------
    value : Any
        The value to test.

    Returns
    -------
    bool
    """
    return is_number(value) and math.isfinite(float(value))


def close_names_hint(name: Any, known: Iterable[str], n: int = 2, cutoff: float = 0.5) -> str:
    """``" (did you mean 'a' or 'b'?)"`` for the known names close to ``name``, else ``""``.

    Parameters
    ----------
    name : Any
        The name given (compared as ``str``).
    known : iterable of str
        The valid names.
    n : int, default 2
        Most names suggested.
    cutoff : float, default 0.5
        Least similarity (``difflib.get_close_matches``) of a suggestion.

    Returns
    -------
    str
        The hint, with a leading space, or ``""``.
    """
    close = difflib.get_close_matches(str(name), list(known), n=n, cutoff=cutoff)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


#: terminal escape sequences: CSI (``ESC [ ... final``), OSC (``ESC ] ... BEL`` or ``ESC \\``) and two-byte ESC codes
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")


def printable_name(name: Any, max_length: int = 200) -> str:
    """``name`` made safe to print on a terminal or in a log: escape sequences removed, other control
    and format characters (C0 / C1 controls, DEL, bidirectional overrides) written as ``\\xNN`` /
    ``\\uNNNN``, and at most ``max_length`` characters kept (then ``"... (N more characters)"``).

    Session and dataset names are stored as given; they are sanitised where they are printed, so a name
    such as ``"\\x1b[31mred\\x1b[0m"`` prints as ``red`` and cannot recolour, move the cursor or rewrite
    the terminal's title.

    Parameters
    ----------
    name : Any
        The name (``None`` prints as ``"-"``; anything else as ``str(name)``).
    max_length : int, default 200
        Most characters kept.

    Returns
    -------
    str
        The printable name.
    """
    if name is None:
        return "-"
    text = _ESCAPE_SEQUENCE.sub("", str(name))
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs") or ch in "\u2028\u2029":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    text = "".join(out)
    if len(text) > max_length:
        text = f"{text[:max_length]}... ({len(text) - max_length} more characters)"
    return text


# ----------------------------------------------------------------------------------------------
# constraints
# ----------------------------------------------------------------------------------------------
def _fmt(bound: float) -> str:
    return str(bound) if is_int(bound) else f"{bound:g}"


class Constraint:
    """What values a parameter accepts. Subclasses implement :meth:`accepts` and :meth:`describe`."""

    def accepts(self, value: Any) -> bool:  # pragma: no cover - abstract
        """Whether ``value`` satisfies the constraint."""
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        """What to pass, in words, to follow "must be" (e.g. ``"an integer in [1, 100]"``)."""
        raise NotImplementedError

    def check(self, name: str, value: Any, prefix: str = "") -> None:
        """Raise ``ConfigError("{prefix}{name} must be {describe()}; got {value!r}.")`` unless accepted."""
        if not self.accepts(value):
            raise ConfigError(f"{prefix}{name} must be {self.describe()}; got {value!r}.")


_CLOSED = {"both": ("[", "]"), "left": ("[", ")"), "right": ("(", "]"), "neither": ("(", ")")}


@dataclass(frozen=True)
class Interval(Constraint):
    """A real number (or, with ``integer=True``, an integer) between ``low`` and ``high``.

    ``None`` for a bound leaves that side open; ``closed`` says which bounds are included
    (``"both"``, ``"left"``, ``"right"``, ``"neither"``), as scikit-learn's ``Interval``. Numpy
    scalars are accepted, bools are not, and non-integer values must be finite.
    """

    low: float | None = None
    high: float | None = None
    integer: bool = False
    closed: str = "both"
    allow_none: bool = False

    def __post_init__(self) -> None:
        if self.closed not in _CLOSED:
            raise ValueError(f"closed must be one of {', '.join(_CLOSED)}; got {self.closed!r}.")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.allow_none
        if not (is_int(value) if self.integer else is_finite_number(value)):
            return False
        left, right = _CLOSED[self.closed]
        low_ok = self.low is None or (value >= self.low if left == "[" else value > self.low)
        high_ok = self.high is None or (value <= self.high if right == "]" else value < self.high)
        return bool(low_ok and high_ok)

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        left, right = _CLOSED[self.closed]
        if self.low is not None and self.high is not None:
            text = f"{kind} in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"
        elif self.low is not None:
            text = f"{kind} {'>=' if left == '[' else '>'} {_fmt(self.low)}"
        elif self.high is not None:
            text = f"{kind} {'<=' if right == ']' else '<'} {_fmt(self.high)}"
        else:
            text = kind
        return text + (", or None" if self.allow_none else "")


@dataclass(frozen=True)
class Options(Constraint):
    """One of ``choices`` (strings or ``None``); with ``ignore_case`` strings compare case-insensitively."""

    choices: tuple
    ignore_case: bool = False

    def accepts(self, value: Any) -> bool:
        for choice in self.choices:
            if value is choice:
                return True
            if isinstance(value, str) and isinstance(choice, str):
                if value == choice or (self.ignore_case and value.lower() == choice.lower()):
                    return True
        return False

    def describe(self) -> str:
        return f"one of {', '.join(map(repr, self.choices))}"


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False`` (numpy bools included; 0 / 1 are not)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class IntegerSequence(Constraint):
    """A non-empty list or tuple of integers, each at least ``low`` (e.g. TextCNN's kernel sizes)."""

    low: int = 1

    def accepts(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) > 0
            and all(is_int(v) and v >= self.low for v in value)
        )

    def describe(self) -> str:
        return f"a non-empty list of integers >= {self.low}"


@dataclass(frozen=True)
class LocalFolder(Constraint):
    """``None`` (the bundled default) or the path of an existing local folder; ``hint`` says what it
    should hold (models are never downloaded)."""

    hint: str = ""

    def accepts(self, value: Any) -> bool:
        return value is None or (isinstance(value, (str, os.PathLike)) and os.path.isdir(value))

    def describe(self) -> str:
        return "a local folder path or None"

    def check(self, name: str, value: Any, prefix: str = "") -> None:
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{prefix}{name} must be {self.describe()}; got {value!r}.")
        if not self.accepts(value):
            raise ConfigError(f"{prefix}{name} {value!r} is not a local folder. {self.hint}".rstrip())


# ----------------------------------------------------------------------------------------------
# the declaration
# ----------------------------------------------------------------------------------------------
def _is_integral_param(default: Any, low: Any, high: Any) -> bool:
    if default is None:
        bounds = [b for b in (low, high) if b is not None]
        return bool(bounds) and all(is_int(b) for b in bounds)
    return is_int(default)


@dataclass(frozen=True)
class Param:
    """One hyperparameter, declared once: its default, what it means, and what it accepts.

    Give ``low`` / ``high`` (inclusive bounds), or ``choices``, or a :class:`Constraint`; the
    others are derived (see the module docstring). ``constraint=None`` with nothing to derive it
    from means "not checked here" (e.g. a device, checked where it is resolved). ``low``,
    ``high`` and ``choices`` are what the app's widgets and the CLI show.
    """

    name: str
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    _: KW_ONLY
    choices: tuple | None = None
    constraint: Constraint | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.constraint is None:
            object.__setattr__(self, "constraint", self._derived_constraint())
        elif isinstance(self.constraint, Interval):
            object.__setattr__(self, "low", self.constraint.low if self.low is None else self.low)
            object.__setattr__(self, "high", self.constraint.high if self.high is None else self.high)
        elif isinstance(self.constraint, Options) and self.choices is None:
            object.__setattr__(self, "choices", tuple(self.constraint.choices))

    def _derived_constraint(self) -> Constraint | None:
        if self.choices is not None:
            if all(isinstance(c, bool) for c in self.choices):
                return Boolean()
            return Options(tuple(self.choices))
        if self.low is not None or self.high is not None:
            integer = _is_integral_param(self.default, self.low, self.high)
            return Interval(self.low, self.high, integer=integer, allow_none=self.default is None)
        if isinstance(self.default, bool):
            return Boolean()
        return None

    def check(self, value: Any, prefix: str = "") -> None:
        """Raise ``ConfigError`` when ``value`` breaks the constraint (nothing to check: accept)."""
        if self.constraint is not None:
            self.constraint.check(self.name, value, prefix)

    def with_default(self, default: Any) -> Param:
        """The same declaration with another default (subclasses that keep a parameter but change
        its default, e.g. the learning rate of each text backbone)."""
        return replace(self, default=default)


def check_params(obj: Any, params: Sequence[Param], prefix: str = "") -> None:
    """Check every declared parameter of ``obj`` as stored (``getattr(obj, p.name)``).

    Parameters
    ----------
    obj : Any
        The object whose attributes hold the values.
    params : sequence of Param
        The declarations.
    prefix : str, default ""
        Put before the parameter's name in the message.

    Raises
    ------
    ConfigError
        ``"{prefix}{name} must be ...; got ..."`` at the first value that breaks its declaration.
    """
    for param in params:
        param.check(getattr(obj, param.name), prefix)


def parameters_doc(params: Sequence[Param]) -> str:
    """A numpydoc ``Parameters`` section written from the declarations (name, what it accepts, default,
    help), for classes whose docstring is completed from ``PARAMS``."""
    if not params:
        return ""
    lines = ["Parameters", "----------"]
    for p in params:
        accepts = p.constraint.describe() if p.constraint is not None else "any value"
        lines.append(f"{p.name} : {accepts}, default {p.default!r}")
        lines.append(f"    {p.help}" if p.help else "    (no description)")
    return "\n".join(lines)


def signature_mismatches(cls: type[Any], params: Sequence[Param]) -> list[str]:
    """How ``cls.__init__``'s parameters and defaults differ from ``params`` (empty when they agree).

    Compares the names (``*args`` / ``**kwargs`` ignored) and every default, by type and value (so
    ``1`` and ``1.0`` differ: the default's type is what the CLI parses a value as).

    Parameters
    ----------
    cls : type
        The class whose ``__init__`` is inspected.
    params : sequence of Param
        Its declarations.

    Returns
    -------
    list of str
        One message per difference.
    """
    sig = inspect.signature(cls.__init__)
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    accepted = {k: p for k, p in sig.parameters.items() if k != "self" and p.kind not in skip}
    declared = {p.name: p for p in params}
    problems = []
    if set(accepted) != set(declared):
        missing, extra = sorted(set(accepted) - set(declared)), sorted(set(declared) - set(accepted))
        problems.append(f"{cls.__name__}: __init__ parameters not declared {missing}, declared but not accepted {extra}")
    for name in sorted(set(accepted) & set(declared)):
        given, want = accepted[name].default, declared[name].default
        if given is inspect.Parameter.empty or type(given) is not type(want) or given != want:
            problems.append(f"{cls.__name__}.{name}: __init__ default {given!r}, declared {want!r}")
    return problems
