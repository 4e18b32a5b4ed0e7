"""Query strategies, one module per family; importing this package registers them all.

``get(name, **params)`` returns a configured strategy; ``available()`` lists them.
"""

from mlal_core.strategies import (  # noqa: F401  (imported to register)
    bemps_family,
    contrastive,
    diversity,
    label_aware,
    text_based,
    uncertainty,
)
from mlal_core.strategies.base import QueryContext, QueryStrategy, ScoreBasedStrategy, Selection
from mlal_core.strategies.registry import Param, StrategyInfo, available, get, info, register

__all__ = [
    "Param",
    "QueryContext",
    "QueryStrategy",
    "ScoreBasedStrategy",
    "Selection",
    "StrategyInfo",
    "available",
    "get",
    "info",
    "register",
]
