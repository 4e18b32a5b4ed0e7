"""The strategy registry: names -> classes, with what the app shows about each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlal_core.errors import ConfigError, unknown_name_error
from mlal_core.strategies.base import QueryStrategy


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its default, its range or choices, and what it means.

    ``low`` / ``high`` are inclusive bounds (the strategy's ``_validate_params`` accepts them and
    rejects anything outside); ``choices`` lists every accepted value.
    """

    name: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None


@dataclass(frozen=True)
class StrategyInfo:
    """What the registry knows about a strategy (shown in the app and the CLI)."""

    name: str
    display_name: str
    paper: str
    explanation: str
    cls: type[QueryStrategy]
    params: tuple[Param, ...] = ()
    needs: tuple[str, ...] = ()  # context fields beyond proba_samples: "features", "texts", "model"
    choice: str = ""  # the METHODS.md [choice] this implementation follows, in words
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, StrategyInfo] = {}


def register(
    *,
    display_name: str,
    paper: str,
    explanation: str,
    params: tuple[Param, ...] = (),
    needs: tuple[str, ...] = (),
    choice: str = "",
) -> Callable[[type[QueryStrategy]], type[QueryStrategy]]:
    """Class decorator that registers a strategy under its ``name``."""

    def deco(cls: type[QueryStrategy]) -> type[QueryStrategy]:
        if not cls.name:
            raise TypeError(f"{cls.__name__} must set a class attribute 'name'.")
        declared = {p.name for p in params}
        accepted = set(cls._param_names())
        if declared != accepted:
            raise TypeError(
                f"{cls.__name__}: registry params {sorted(declared)} differ from __init__ params {sorted(accepted)}."
            )
        _REGISTRY[cls.name] = StrategyInfo(
            name=cls.name,
            display_name=display_name,
            paper=paper,
            explanation=explanation,
            cls=cls,
            params=params,
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
    """The registry entry of ``name``; an unknown name raises with the close names."""
    _ensure_loaded()
    if name not in _REGISTRY:
        raise unknown_name_error("strategy", name, _REGISTRY, plural="strategies")
    return _REGISTRY[name]


def get(name: str, **params: Any) -> QueryStrategy:
    """A configured strategy. Unknown names and unknown parameters raise ``ConfigError``."""
    entry = info(name)
    allowed = {p.name for p in entry.params}
    unknown = set(params) - allowed
    if unknown:
        raise ConfigError(
            f"Strategy {name!r} has no parameter(s) {sorted(unknown)}; "
            f"its parameters are {sorted(allowed) or 'none'}."
        )
    return entry.cls(**params)
