"""Classifiers over fixed features. ``make_model(name, **params)`` builds one by registry name.

Registered: ``"mlp_ensemble"`` -> :class:`MLPEnsemble` (deep ensemble of MLP heads over fixed
features, optional MC dropout); ``"textcnn"`` -> :class:`TextCNNEnsemble`, ``"textrnn"`` ->
:class:`TextRNNEnsemble`, ``"transformer"`` -> :class:`TransformerEnsemble` (deep ensembles trained
end to end on the token ids of representation ``"tokens"``; ``deep_text.py``).
The API every model follows: ``fit(X, Y, X_valid=None, Y_valid=None, progress=None)``,
``predict_proba(X)`` (n, K), ``predict_proba_samples(X)`` (S, n, K), ``embed(X)`` (n, h),
``predict_samples_and_embedding(X)`` (both; one pass over X for the text backbones), each with an
optional ``progress(done, total, message)``, and ``get_params()`` / ``set_params()`` (scikit-learn
style, so ``sklearn.base.clone`` works); ``predict``, ``clone`` and ``n_samples`` come from
``base.EnsembleEstimator``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..errors import ConfigError, unknown_name_error
from ..validation import close_names_hint
from .base import EnsembleEstimator
from .deep_text import DeepTextEnsemble, TextCNNEnsemble, TextRNNEnsemble, TransformerEnsemble
from .mlp import MLPEnsemble
from .sklearn_adapter import SklearnAdapter
from .torch_adapter import TorchModuleAdapter

__all__ = [
    "MODELS",
    "DeepTextEnsemble",
    "MLPEnsemble",
    "SklearnAdapter",
    "TextCNNEnsemble",
    "TextRNNEnsemble",
    "TorchModuleAdapter",
    "TransformerEnsemble",
    "available_models",
    "check_model_params",
    "make_model",
]

MODELS: dict[str, type[EnsembleEstimator]] = {
    "mlp_ensemble": MLPEnsemble,
    "textcnn": TextCNNEnsemble,
    "textrnn": TextRNNEnsemble,
    "transformer": TransformerEnsemble,
}


def available_models() -> list[str]:
    """Registered model names."""
    return sorted(MODELS)


def _model_class(name: str) -> tuple[str, type[EnsembleEstimator]]:
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in MODELS:
        raise unknown_name_error("model", str(name), MODELS)
    return key, MODELS[key]


def _check_names(key: str, cls: type[EnsembleEstimator], params: dict[str, Any], exclude: Collection[str] = ()) -> None:
    """Unknown parameter names (and the ``exclude``-d ones) raise, with a did-you-mean per name."""
    allowed = [p.name for p in cls.PARAMS if p.name not in exclude]
    unknown = [k for k in params if k not in allowed]
    if unknown:
        hints = ", ".join(
            f"{u!r}" + (" (set for you: leave it out)" if u in exclude else close_names_hint(u, allowed, n=1, cutoff=0.6))
            for u in unknown
        )
        raise ConfigError(f"Unknown parameter(s) for model {key!r}: {hints}. Known: {', '.join(allowed)}.")


def make_model(name: str = "mlp_ensemble", **params: Any):
    """A new, unfitted model of kind ``name`` with ``params``; unknown names / parameters raise ConfigError.

    Values are stored as given and checked at ``fit`` (scikit-learn style); :func:`check_model_params`
    checks them now.

    Parameters
    ----------
    name : str
        A registered model name (``available_models()``).
    **params : Any
        The model's parameters (names as in the class's ``PARAMS``).

    Returns
    -------
    EnsembleEstimator
        The unfitted model.

    Raises
    ------
    ConfigError
        If ``name`` or a parameter name is unknown.
    """
    key, cls = _model_class(name)
    _check_names(key, cls, params)
    return cls(**params)


def check_model_params(name: str, params: dict[str, Any], *, exclude: Collection[str] = ()) -> None:
    """Check a model's parameters before any training; raise ``ConfigError`` saying what to pass.

    Parameters
    ----------
    name : a registered model name (``available_models()``); an unknown one raises with the close names.
    params : parameter values; unknown names raise with a did-you-mean, values are checked against the
        model class's ``PARAMS`` declaration (and its checks of several parameters at once).
    exclude : names the caller sets itself (an experiment's seeds set ``random_state``): passing one
        raises as an unknown name.
    """
    key, cls = _model_class(name)
    _check_names(key, cls, params, exclude)
    cls(**params)._validate_params()
