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

import inspect

from ..errors import ConfigError, unknown_name_error
from .deep_text import DeepTextEnsemble, TextCNNEnsemble, TextRNNEnsemble, TransformerEnsemble
from .mlp import MLPEnsemble

__all__ = [
    "MODELS",
    "DeepTextEnsemble",
    "MLPEnsemble",
    "TextCNNEnsemble",
    "TextRNNEnsemble",
    "TransformerEnsemble",
    "available_models",
    "make_model",
]

MODELS: dict[str, type] = {
    "mlp_ensemble": MLPEnsemble,
    "textcnn": TextCNNEnsemble,
    "textrnn": TextRNNEnsemble,
    "transformer": TransformerEnsemble,
}


def available_models() -> list[str]:
    """Registered model names."""
    return sorted(MODELS)


def make_model(name: str = "mlp_ensemble", **params):
    """A new, unfitted model of kind ``name`` with ``params``; unknown names / parameters raise ConfigError."""
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in MODELS:
        raise unknown_name_error("model", str(name), MODELS)
    cls = MODELS[key]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        import difflib

        hints = []
        for u in unknown:
            close = difflib.get_close_matches(u, allowed, n=1, cutoff=0.6)
            hints.append(f"{u!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"Unknown parameter(s) for model {key!r}: {', '.join(hints)}. Known: {', '.join(allowed)}."
        )
    return cls(**params)
