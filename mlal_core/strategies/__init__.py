"""Query strategies, one module per family; importing this package registers them all.

The strategy classes carry the names of their papers (``BALD``, ``CRAB``, ...); ``get(name, **params)``
returns a configured strategy by its registry name (``"bald"``, ``"crab"``, ...) and ``available()``
lists them. A strategy of your own subclasses :class:`QueryStrategy` (or :class:`ScoreBasedStrategy`
when it ranks by one utility) and declares its hyperparameters once in ``PARAMS`` (:class:`Param`).
"""

from mlal_core.strategies.base import QueryContext, QueryStrategy, ScoreBasedStrategy, Selection
from mlal_core.strategies.bemps_family import BESRA, CRAB
from mlal_core.strategies.contrastive import CoMAL
from mlal_core.strategies.diversity import BADGE, DAL, CoreSet
from mlal_core.strategies.label_aware import AUDI, CVIRS, MMC, Adaptive
from mlal_core.strategies.registry import Param, StrategyInfo, available, get, info, register
from mlal_core.strategies.text_based import ALPS, Subword
from mlal_core.strategies.uncertainty import BALD, BEAL, Entropy, Random

__all__ = [
    "ALPS",
    "AUDI",
    "BADGE",
    "BALD",
    "BEAL",
    "BESRA",
    "CRAB",
    "CVIRS",
    "DAL",
    "MMC",
    "Adaptive",
    "CoMAL",
    "CoreSet",
    "Entropy",
    "Param",
    "QueryContext",
    "QueryStrategy",
    "Random",
    "ScoreBasedStrategy",
    "Selection",
    "StrategyInfo",
    "Subword",
    "available",
    "get",
    "info",
    "register",
]
