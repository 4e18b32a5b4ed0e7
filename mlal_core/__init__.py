"""MLAL Workbench core: multi-label active learning without any UI dependency.

The public API: every name in ``__all__`` is importable from ``mlal_core`` directly.

>>> from mlal_core import ActiveLearningSession, BALD, SessionConfig, load_dataset
>>> dataset = load_dataset("emotions")
>>> config = SessionConfig(initial_size=20, query_size=10, rounds=2)
>>> session = ActiveLearningSession(config, dataset=dataset, strategy=BALD())
>>> history = session.run()                       # one RoundRecord per learning-curve point

* **Data**: :func:`load_dataset` (a bundled set by name), :func:`available_datasets`,
  :func:`load_dataset_file` and :func:`dataset_from_dataframe` (your own data),
  :func:`describe_dataset` (label statistics), :class:`MultiLabelDataset`, :func:`featurize`.
* **Sessions**: :class:`SessionConfig`, :class:`ActiveLearningSession` (``run``, ``step``,
  ``propose`` / ``commit`` for a human oracle, ``resume``), :class:`SessionStore` (SQLite; its
  ``export_json`` / ``export_csv``), :class:`RoundRecord`, :class:`PendingRound`.
* **Strategies**, by the names of their papers: :class:`Random`, :class:`Entropy`, :class:`BALD`,
  :class:`BEAL`, :class:`MMC`, :class:`Adaptive`, :class:`AUDI`, :class:`CVIRS`, :class:`BADGE`,
  :class:`CoreSet`, :class:`DAL`, :class:`BESRA`, :class:`CRAB`, :class:`CoMAL`, :class:`Subword`,
  :class:`ALPS`; your own subclasses :class:`QueryStrategy` and returns a :class:`Selection` from a
  :class:`QueryContext` (or subclasses :class:`ScoreBasedStrategy` and implements ``score``), its
  hyperparameters declared once in ``PARAMS`` (:class:`Param`). :func:`available_strategies`, :func:`make_strategy` (by registry name).
* **Models**: :class:`MLPEnsemble`, :class:`TextCNNEnsemble`, :class:`TextRNNEnsemble`,
  :class:`TransformerEnsemble`; :class:`SklearnAdapter` (any scikit-learn multi-label estimator,
  or a list of them as an ensemble) and :class:`TorchModuleAdapter` (your PyTorch module);
  :func:`available_models`, :func:`make_model`.
* **Inspect and export**: :func:`per_round_frame`, :func:`picks_table`, :func:`pick_explanation`,
  :func:`round_state` (a past round's context, replayed), :func:`compare_strategies`,
  :func:`correlation_at`, :func:`rounds_frame`, :func:`learning_curves` (a plotly figure),
  :func:`write_figure`, :func:`session_export_zip`.
* **Errors**: :class:`MLALError` and its subclasses :class:`ConfigError`,
  :class:`DataValidationError`, :class:`PoolExhaustedError`.

Importing ``mlal_core`` is cheap: the names are imported on first use (the strategies and models
import torch, which takes seconds). Importable without streamlit. See DESIGN.md for the
architecture and the contracts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: the version of the workbench (``pyproject.toml``)
__version__ = "0.1.0"

#: public name -> "module:attribute" it is imported from on first use
_EXPORTS: dict[str, str] = {
    # data
    "MultiLabelDataset": "mlal_core.data:MultiLabelDataset",
    "available_datasets": "mlal_core.data:available",
    "dataset_from_dataframe": "mlal_core.data:from_dataframe",
    "describe_dataset": "mlal_core.data.describe:describe",
    "featurize": "mlal_core.features:featurize",
    "load_dataset": "mlal_core.data:load",
    "load_dataset_file": "mlal_core.data:load_file",
    # sessions
    "ActiveLearningSession": "mlal_core.session.loop:ActiveLearningSession",
    "PendingRound": "mlal_core.session.records:PendingRound",
    "RoundRecord": "mlal_core.session.records:RoundRecord",
    "SessionConfig": "mlal_core.session.config:SessionConfig",
    "SessionStore": "mlal_core.session.store:SessionStore",
    # strategies
    "ALPS": "mlal_core.strategies:ALPS",
    "AUDI": "mlal_core.strategies:AUDI",
    "Adaptive": "mlal_core.strategies:Adaptive",
    "BADGE": "mlal_core.strategies:BADGE",
    "BALD": "mlal_core.strategies:BALD",
    "BEAL": "mlal_core.strategies:BEAL",
    "BESRA": "mlal_core.strategies:BESRA",
    "CRAB": "mlal_core.strategies:CRAB",
    "CVIRS": "mlal_core.strategies:CVIRS",
    "CoMAL": "mlal_core.strategies:CoMAL",
    "CoreSet": "mlal_core.strategies:CoreSet",
    "DAL": "mlal_core.strategies:DAL",
    "Entropy": "mlal_core.strategies:Entropy",
    "MMC": "mlal_core.strategies:MMC",
    "Random": "mlal_core.strategies:Random",
    "Subword": "mlal_core.strategies:Subword",
    "QueryContext": "mlal_core.strategies:QueryContext",
    "QueryStrategy": "mlal_core.strategies:QueryStrategy",
    "ScoreBasedStrategy": "mlal_core.strategies:ScoreBasedStrategy",
    "Param": "mlal_core.validation:Param",
    "Selection": "mlal_core.strategies:Selection",
    "available_strategies": "mlal_core.strategies:available",
    "make_strategy": "mlal_core.strategies:get",
    # models
    "MLPEnsemble": "mlal_core.models:MLPEnsemble",
    "SklearnAdapter": "mlal_core.models:SklearnAdapter",
    "TextCNNEnsemble": "mlal_core.models:TextCNNEnsemble",
    "TextRNNEnsemble": "mlal_core.models:TextRNNEnsemble",
    "TorchModuleAdapter": "mlal_core.models:TorchModuleAdapter",
    "TransformerEnsemble": "mlal_core.models:TransformerEnsemble",
    "available_models": "mlal_core.models:available_models",
    "make_model": "mlal_core.models:make_model",
    # inspect and export
    "compare_strategies": "mlal_core.inspection.round_history:compare_strategies",
    "correlation_at": "mlal_core.inspection.round_history:correlation_at",
    "per_round_frame": "mlal_core.inspection.round_history:per_round_frame",
    "pick_explanation": "mlal_core.inspection.round_history:pick_explanation",
    "picks_table": "mlal_core.inspection.round_history:picks_table",
    "round_state": "mlal_core.inspection.round_history:round_state",
    "learning_curves": "mlal_core.viz:learning_curves",
    "rounds_frame": "mlal_core.session.tables:rounds_frame",
    "session_export_zip": "mlal_core.inspection.session_zip:session_export_zip",
    "write_figure": "mlal_core.export:write_figure",
    # errors
    "ConfigError": "mlal_core.errors:ConfigError",
    "DataValidationError": "mlal_core.errors:DataValidationError",
    "MLALError": "mlal_core.errors:MLALError",
    "PoolExhaustedError": "mlal_core.errors:PoolExhaustedError",
}

#: every public name (the keys of ``_EXPORTS`` and ``__version__``; a test checks they agree)
__all__ = [
    "ALPS",
    "AUDI",
    "ActiveLearningSession",
    "Adaptive",
    "BADGE",
    "BALD",
    "BEAL",
    "BESRA",
    "CRAB",
    "CVIRS",
    "CoMAL",
    "ConfigError",
    "CoreSet",
    "DAL",
    "DataValidationError",
    "Entropy",
    "MLALError",
    "MLPEnsemble",
    "MMC",
    "MultiLabelDataset",
    "Param",
    "PendingRound",
    "PoolExhaustedError",
    "QueryContext",
    "QueryStrategy",
    "Random",
    "RoundRecord",
    "ScoreBasedStrategy",
    "Selection",
    "SessionConfig",
    "SessionStore",
    "SklearnAdapter",
    "Subword",
    "TextCNNEnsemble",
    "TextRNNEnsemble",
    "TorchModuleAdapter",
    "TransformerEnsemble",
    "__version__",
    "available_datasets",
    "available_models",
    "available_strategies",
    "compare_strategies",
    "correlation_at",
    "dataset_from_dataframe",
    "describe_dataset",
    "featurize",
    "learning_curves",
    "load_dataset",
    "load_dataset_file",
    "make_model",
    "make_strategy",
    "per_round_frame",
    "pick_explanation",
    "picks_table",
    "round_state",
    "rounds_frame",
    "session_export_zip",
    "write_figure",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it in the module's namespace."""
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'mlal_core' has no attribute {name!r}")
    module, attribute = target.split(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (``__all__``) and the module's own attributes."""
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs see
    from mlal_core.data import MultiLabelDataset
    from mlal_core.data import available as available_datasets
    from mlal_core.data.describe import describe as describe_dataset
    from mlal_core.data import from_dataframe as dataset_from_dataframe
    from mlal_core.data import load as load_dataset
    from mlal_core.data import load_file as load_dataset_file
    from mlal_core.errors import ConfigError, DataValidationError, MLALError, PoolExhaustedError
    from mlal_core.export import write_figure
    from mlal_core.features import featurize
    from mlal_core.inspection.round_history import (
        compare_strategies,
        correlation_at,
        per_round_frame,
        pick_explanation,
        picks_table,
        round_state,
    )
    from mlal_core.inspection.session_zip import session_export_zip
    from mlal_core.models import (
        MLPEnsemble,
        SklearnAdapter,
        TextCNNEnsemble,
        TextRNNEnsemble,
        TorchModuleAdapter,
        TransformerEnsemble,
        available_models,
        make_model,
    )
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.records import PendingRound, RoundRecord
    from mlal_core.session.store import SessionStore
    from mlal_core.session.tables import rounds_frame
    from mlal_core.strategies import (
        ALPS,
        AUDI,
        BADGE,
        BALD,
        BEAL,
        BESRA,
        CRAB,
        CVIRS,
        DAL,
        MMC,
        Adaptive,
        CoMAL,
        CoreSet,
        Entropy,
        QueryContext,
        QueryStrategy,
        Random,
        ScoreBasedStrategy,
        Selection,
        Subword,
    )
    from mlal_core.strategies import available as available_strategies
    from mlal_core.strategies import get as make_strategy
    from mlal_core.validation import Param
    from mlal_core.viz import learning_curves
