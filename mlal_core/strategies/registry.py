"""The strategy registry: names -> classes, with what the app shows about each.

A strategy declares its hyperparameters once, as ``PARAMS`` (a tuple of :class:`Param`, from
:mod:`mlal_core.validation`); :func:`register` takes the registry's ``params`` (what the app's
widgets and the CLI show) from there and checks that ``__init__`` accepts exactly those parameters
with the same defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlal_core.errors import ConfigError, unknown_name_error
from mlal_core.strategies.base import QueryStrategy
from mlal_core.validation import Param, parameters_doc, signature_mismatches

__all__ = ["Param", "StrategyInfo", "available", "get", "info", "register"]


@dataclass(frozen=True, kw_only=True)
class StrategyInfo:
    """What the registry knows about a strategy (shown in the app and the CLI).

    ``params`` is the class's ``PARAMS`` declaration; ``needs`` lists the context fields it reads
    beyond ``proba_samples`` (``"features"``, ``"texts"``, ``"model"``); ``choice`` is the
    METHODS.md [choice] the implementation follows, in words.
    """

    name: str
    display_name: str
    paper: str
    explanation: str
    cls: type[QueryStrategy]
    params: tuple[Param, ...] = ()
    needs: tuple[str, ...] = ()
    choice: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        """The paper's name without the description: ``"CRAB"`` for ``"CRAB (correlation-aware ...)"``."""
        return self.display_name.split(" (")[0]


_REGISTRY: dict[str, StrategyInfo] = {}


def register(
    *,
    display_name: str,
    paper: str,
    explanation: str,
    needs: tuple[str, ...] = (),
    choice: str = "",
) -> Callable[[type[QueryStrategy]], type[QueryStrategy]]:
    """Class decorator that registers a strategy under its ``name``, with its ``PARAMS``.

    Raises ``TypeError`` when the class has no ``name`` or when its ``__init__`` parameters or
    defaults differ from its ``PARAMS`` declaration. The class docstring gets a numpydoc
    ``Parameters`` section written from ``PARAMS`` (unless it has one).
    """

    def deco(cls: type[QueryStrategy]) -> type[QueryStrategy]:
        if not cls.name:
            raise TypeError(f"{cls.__name__} must set a class attribute 'name'.")
        problems = signature_mismatches(cls, cls.PARAMS)
        if problems:
            raise TypeError("; ".join(problems) + ": declare each parameter once in PARAMS, as __init__ takes it.")
        if cls.PARAMS and cls.__doc__ and "\nParameters\n" not in cls.__doc__:
            cls.__doc__ = inspect.cleandoc(cls.__doc__) + "\n\n" + parameters_doc(cls.PARAMS) + "\n"
        _REGISTRY[cls.name] = StrategyInfo(
            name=cls.name,
            display_name=display_name,
            paper=paper,
            explanation=explanation,
            cls=cls,
            params=tuple(cls.PARAMS),
            needs=needs,
            choice=choice,
        )
        return cls

    return deco


def _ensure_loaded() -> None:
    # Importing the package registers every strategy module.
    import mlal_core.strategies  # noqa: F401


def available() -> list[StrategyInfo]:
    """All registered strategies, sorted by name."""
    _ensure_loaded()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def info(name: str) -> StrategyInfo:
    """The registry entry of ``name``; an unknown name raises with the close names.

    Parameters
    ----------
    name : str
        Registered strategy name.

    Returns
    -------
    StrategyInfo
        Its registry entry.

    Raises
    ------
    ConfigError
        If ``name`` is not registered.
    """
    _ensure_loaded()
    if name not in _REGISTRY:
        raise unknown_name_error("strategy", name, _REGISTRY, plural="strategies")
    return _REGISTRY[name]


def get(name: str, **params: Any) -> QueryStrategy:
    """A configured strategy. Unknown names and unknown parameters raise ``ConfigError``.

    Parameters
    ----------
    name : str
        Registered strategy name.
    **params : Any
        Constructor parameters of the strategy.

    Returns
    -------
    QueryStrategy
        ``entry.cls(**params)``.

    Raises
    ------
    ConfigError
        If ``name`` is not registered or a parameter is not one of the strategy's.
    """
    entry = info(name)
    allowed = {p.name for p in entry.params}
    unknown = set(params) - allowed
    if unknown:
        raise ConfigError(
            f"Strategy {name!r} has no parameter(s) {sorted(unknown)}; "
            f"its parameters are {sorted(allowed) or 'none'}."
        )
    return entry.cls(**params)
