"""What every model of the workbench shares on top of scikit-learn's ``BaseEstimator``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone

from ..validation import Param, check_params


class EnsembleEstimator(BaseEstimator):
    """Base of the ensembles (``MLPEnsemble``, the deep text ensembles): E members, each giving
    ``max(mc_passes, 1)`` probability samples. Subclasses define ``predict_proba``.

    Subclasses declare their parameters once in ``PARAMS`` (a tuple of
    :class:`~mlal_core.validation.Param`); ``__init__`` takes them keyword-only with the same
    defaults and stores them as given (scikit-learn style), and ``fit`` starts with
    ``_validate_params``, which checks the stored values against ``PARAMS`` (overrides add the
    checks that involve several parameters, after ``super()._validate_params()``).
    """

    PARAMS: ClassVar[tuple[Param, ...]] = ()

    def _validate_params(self) -> None:
        """Check the stored parameters against ``PARAMS``; raise ``ConfigError`` naming the class."""
        check_params(self, self.PARAMS, prefix=f"{type(self).__name__}: ")

    def predict(self, X, threshold: float = 0.5) -> np.ndarray:
        """(n, K) uint8: ``predict_proba(X) > threshold``."""
        return (self.predict_proba(X) > threshold).astype(np.uint8)

    def clone(self):
        """An unfitted copy with the same parameters (``sklearn.base.clone``)."""
        return clone(self)

    def predict_samples_and_embedding(self, X, progress=None) -> tuple[np.ndarray, np.ndarray]:
        """``(predict_proba_samples(X), embed(X))``; models that can compute both in one pass over X
        (the text backbones) override it."""
        return self.predict_proba_samples(X, progress=progress), self.embed(X, progress=progress)

    @property
    def n_samples(self) -> int:
        """S of ``predict_proba_samples``."""
        return int(self.n_members) * max(int(self.mc_passes), 1)
