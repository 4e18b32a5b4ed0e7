"""What every model of the workbench shares on top of scikit-learn's ``BaseEstimator``."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone

from ..errors import ConfigError
from ..validation import Constraint, Interval, Param, check_params

#: most ensemble members: the papers use 5 to 10, and every member is trained again every round
MAX_MEMBERS = 100
#: most MC-dropout passes per member (each pass is one more forward pass over the whole pool)
MAX_MC_PASSES = 100
#: widest hidden layer / filter bank: 16,384 units already make a 100 MB first layer over 384 features
MAX_WIDTH = 16384
#: most epochs of one round's training
MAX_EPOCHS = 10_000
#: most optimiser steps a round's training may be asked for (``min_steps``)
MAX_STEPS = 1_000_000
#: most probability samples per row (members x passes): the (samples, pool, labels) array of a round
MAX_SAMPLES = 1000

ENSEMBLE_SIZE = Interval(1, MAX_MEMBERS, integer=True)
MC_PASSES = Interval(0, MAX_MC_PASSES, integer=True)
LAYER_WIDTH = Interval(1, MAX_WIDTH, integer=True)
EPOCHS = Interval(1, MAX_EPOCHS, integer=True)

_CUDA_NAME = re.compile(r"^cuda(:\d+)?$")


class Device(Constraint):
    """``None`` / ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (or a
    ``torch.device`` of those types); a CUDA device must exist on this machine, so a config that asks
    for one is refused when it is checked, before a session starts, not in its first round."""

    def accepts(self, value: Any) -> bool:
        return self._problem(value) is None

    def describe(self) -> str:
        return "None or 'auto' (CUDA when available), 'cpu' or 'cuda'"

    @staticmethod
    def _problem(value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).strip().lower() if isinstance(value, str) else None
        if text is None and type(value).__name__ == "device" and hasattr(value, "type"):  # a torch.device
            text = str(value)
        if text is None or not (text in ("auto", "cpu") or _CUDA_NAME.match(text)):
            return "unknown"
        if text.startswith("cuda"):
            import torch

            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                return "this machine has no CUDA GPU; use --device cpu (or auto), i.e. device='cpu' or None"
            index = int(text.split(":")[1]) if ":" in text else 0
            if index >= count:
                return f"this machine has {count} CUDA GPU(s) (cuda:0 to cuda:{count - 1}); use --device cuda or cpu"
        return None

    def check(self, name: str, value: Any, prefix: str = "") -> None:
        problem = self._problem(value)
        if problem == "unknown":
            raise ConfigError(f"{prefix}{name} must be {self.describe()}; got {value!r}.")
        if problem is not None:
            raise ConfigError(f"{prefix}{name} {value!r}: {problem}.")


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
