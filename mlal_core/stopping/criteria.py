"""Stopping criteria for multi-label active learning: would a rule have stopped after this round?

Each criterion is a small class in the style of the query strategies: hyperparameters declared in
``PARAMS`` and checked in ``__init__``, ``get_params()``, and one method, :meth:`StoppingCriterion.evaluate`,
that reads a session's records (what the session stores; never a test label) and returns one
:class:`CriterionState` per record: the value, the threshold, whether the rule would stop there, and a
one-line explanation with the numbers. "Stop at record t" means: keep record t's model and label no
more, having spent ``n_labeled[t]`` labels.

The criteria follow their papers, adapted to K binary labels (each class says how):

* :class:`StabilizingPredictions`: Bloodgood & Vijay-Shanker (2009), Cohen's kappa between successive
  models' predictions on the stop set, averaged over labels; stop when the mean of the last
  ``window = 3`` kappas reaches ``threshold = 0.99``.
* :class:`MaxUncertainty`, :class:`OverallUncertainty`, :class:`SelectedAccuracy`,
  :class:`ClassificationChange`: Zhu, Wang & Hovy (2008), "Multi-criteria-based strategy to stop active
  learning for data annotation" (COLING).
* :class:`PredictedChangeOfF`: Altschuler & Bloodgood (2019), the predicted change of F between
  successive models, estimated from their agreement on the stop set without labels.
* :class:`LabelBudget`: stop when the labelled set reaches a budget.

The maths is in private module-level functions (:func:`_kappa_per_label`, :func:`_mean_kappa`,
:func:`_delta_f`, :func:`_window`), tested on their own against hand-computed values.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlal_core.errors import ConfigError
from mlal_core.stopping.measures import MEASURES_SINCE, PICK_PROBA_SINCE, RoundInputs, round_inputs
from mlal_core.validation import Interval, Param, check_params

__all__ = [
    "CRITERIA",
    "ClassificationChange",
    "CriterionState",
    "LabelBudget",
    "MaxUncertainty",
    "OverallUncertainty",
    "PredictedChangeOfF",
    "SelectedAccuracy",
    "StabilizingPredictions",
    "StoppingCriterion",
    "default_criteria",
]


# ============================================================================ the maths
def _kappa_per_label(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Cohen's kappa of two 0/1 decision matrices, one value per label (column).

    With the 2x2 counts of label j over the n rows (a: both 1, b: previous 1 / current 0, c: previous
    0 / current 1, d: both 0), ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o = (a + d) / n`` and
    ``p_e = ((a + b)(a + c) + (c + d)(b + d)) / n^2``, i.e. ``2 (ad - bc) / ((a + b)(b + d) + (a + c)(c + d))``.
    Convention: when both models predict one and the same constant value for every row, ``p_e = 1`` and
    the formula is 0/0; the label's kappa is then 1 (identical predictions agree perfectly). Two
    different constants give kappa 0 by the formula.
    """
    p = np.asarray(previous, dtype=bool)
    q = np.asarray(current, dtype=bool)
    if p.shape != q.shape or p.ndim != 2:
        raise ConfigError(f"Both decision matrices must be (n, K) of one shape; got {p.shape} and {q.shape}.")
    a = np.count_nonzero(p & q, axis=0).astype(np.float64)
    b = np.count_nonzero(p & ~q, axis=0).astype(np.float64)
    c = np.count_nonzero(~p & q, axis=0).astype(np.float64)
    d = p.shape[0] - a - b - c
    denominator = (a + b) * (b + d) + (a + c) * (c + d)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = 2.0 * (a * d - b * c) / denominator
    return np.where(denominator == 0, 1.0, kappa)


def _mean_kappa(previous: np.ndarray, current: np.ndarray) -> float:
    """The mean over labels of :func:`_kappa_per_label` (1.0 for K = 0)."""
    kappas = _kappa_per_label(previous, current)
    return float(kappas.mean()) if kappas.size else 1.0


def _delta_f(previous: np.ndarray, current: np.ndarray) -> float:
    """Altschuler & Bloodgood's predicted change of F between two models, counts pooled over labels.

    Taking the previous model's predictions as the reference, ``F = 2a / (2a + b + c)`` is the F of the
    current model against it (a: both positive, b: previous positive only, c: current positive only)
    and ``dF = 1 - F``. The counts are summed over rows and labels (micro). 0.0 when neither model
    predicts a single positive (no change to measure).
    """
    p = np.asarray(previous, dtype=bool)
    q = np.asarray(current, dtype=bool)
    if p.shape != q.shape:
        raise ConfigError(f"Both decision matrices must have one shape; got {p.shape} and {q.shape}.")
    a = int(np.count_nonzero(p & q))
    disagree = int(np.count_nonzero(p ^ q))
    return 0.0 if 2 * a + disagree == 0 else 1.0 - 2.0 * a / (2.0 * a + disagree)


def _window(series: Sequence[float], end: int, size: int) -> list[float] | None:
    """The ``size`` values of ``series`` ending at index ``end`` (inclusive); None when fewer exist or
    one of them is NaN (a window never spans a gap)."""
    start = end - size + 1
    if start < 0:
        return None
    values = [float(v) for v in series[start:end + 1]]
    return None if any(math.isnan(v) for v in values) else values


def _successive(inputs: Sequence[RoundInputs], measure: Any) -> list[float]:
    """``measure(previous_decisions, current_decisions)`` for every record (NaN at the first record
    and where either record lacks stop-set decisions)."""
    out = [float("nan")] * len(inputs)
    for i in range(1, len(inputs)):
        prev, cur = inputs[i - 1].decisions, inputs[i].decisions
        if prev is not None and cur is not None and prev.shape == cur.shape:
            out[i] = float(measure(prev, cur))
    return out


def _fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.4f}" for v in values)


# ============================================================================ the classes
@dataclass(frozen=True, kw_only=True)
class CriterionState:
    """A criterion's state after one record.

    Attributes
    ----------
    round : int
        The record ``t``.
    n_labeled : int
        Labels spent if one stops here (the record's labelled set).
    value : float
        The quantity the rule compares with its threshold (NaN when it cannot be computed yet).
    threshold : float
        The rule's threshold.
    would_stop : bool
        Whether the rule says "stop" after this record.
    explanation : str
        One line with the numbers.
    available : bool
        False when the session did not record what the rule needs (an older store).
    """

    round: int
    n_labeled: int
    value: float
    threshold: float
    would_stop: bool
    explanation: str
    available: bool = True


def _state(rec: RoundInputs, value: float, threshold: float, would_stop: bool, explanation: str, *,
           available: bool = True) -> CriterionState:
    """A :class:`CriterionState` for record ``rec``."""
    return CriterionState(round=rec.round, n_labeled=rec.n_labeled, value=value, threshold=threshold,
                          would_stop=would_stop, explanation=explanation, available=available)


def _not_available(rec: RoundInputs, threshold: float, since: int) -> CriterionState:
    return _state(rec, float("nan"), threshold, False,
                          f"not available for this session (recorded from store version {since} on)",
                          available=False)


class StoppingCriterion(ABC):
    """A stopping rule evaluated after every record of a session.

    Subclasses set ``key`` (short id, used in column names), ``name`` (as the app shows it), ``paper``
    (the reference and the rule it follows), ``PARAMS`` and implement :meth:`_evaluate`.
    """

    key: ClassVar[str]
    name: ClassVar[str]
    paper: ClassVar[str]
    PARAMS: ClassVar[tuple[Param, ...]] = ()

    def _check_params(self) -> None:
        """Raise ``ConfigError`` naming the class, the parameter and what to pass, for a bad value."""
        check_params(self, self.PARAMS, prefix=f"{type(self).__name__}: ")

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters by name.

        Returns
        -------
        dict
        """
        return {p.name: getattr(self, p.name) for p in self.PARAMS}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def threshold_value(self) -> float:
        """The number the rule compares its value with."""
        return float(getattr(self, "threshold"))

    def evaluate(self, history: Sequence[Any]) -> list[CriterionState]:
        """The criterion's state after every record of ``history``.

        Parameters
        ----------
        history : sequence of RoundRecord
            A session's records, in round order (stored or in memory).

        Returns
        -------
        list of CriterionState
            One per record.
        """
        return self._evaluate(round_inputs(history))

    def stop_state(self, history: Sequence[Any]) -> CriterionState | None:
        """The first record after which the rule would stop; None when it never does.

        Parameters
        ----------
        history : sequence of RoundRecord
            A session's records.

        Returns
        -------
        CriterionState or None
        """
        return next((s for s in self.evaluate(history) if s.would_stop), None)

    @abstractmethod
    def _evaluate(self, inputs: Sequence[RoundInputs]) -> list[CriterionState]:
        """One state per record, from :func:`mlal_core.stopping.measures.round_inputs`."""


class StabilizingPredictions(StoppingCriterion):
    """Stabilizing predictions (Bloodgood & Vijay-Shanker 2009, CoNLL, "A method for stopping active
    learning based on stabilizing predictions and the need for user-adjustable stopping").

    After record t, Cohen's kappa ``kappa_t`` measures the agreement of the decisions of models t-1 and
    t on the fixed stop set (no labels needed). Multi-label: kappa is computed per label and averaged
    over the K labels; a label both models predict as one and the same constant counts as kappa = 1.
    Rule (the paper's, with its defaults): stop when the mean of the last ``window`` kappas is at
    least ``threshold``,

    ``mean(kappa_{t-window+1}, ..., kappa_t) >= threshold``  (window 3, threshold 0.99).

    Parameters
    ----------
    window : int, default 3
        Successive kappas averaged.
    threshold : float, default 0.99
        Agreement at which to stop; lower stops earlier (the paper's "user-adjustable" knob).
    """

    key: ClassVar[str] = "kappa"
    name: ClassVar[str] = "Stabilizing predictions (kappa)"
    paper: ClassVar[str] = "Bloodgood & Vijay-Shanker 2009: mean of the last 3 stop-set kappas >= 0.99"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("window", 3, "Successive kappas averaged.", 1, 100),
        Param("threshold", 0.99, "Mean kappa at which to stop.", -1.0, 1.0),
    )

    def __init__(self, window: int = 3, threshold: float = 0.99) -> None:
        self.window = window
        self.threshold = threshold
        self._check_params()

    def _evaluate(self, inputs: Sequence[RoundInputs]) -> list[CriterionState]:
        kappas = _successive(inputs, _mean_kappa)
        out = []
        for i, rec in enumerate(inputs):
            if rec.decisions is None:
                out.append(_not_available(rec, self.threshold, MEASURES_SINCE))
                continue
            values = _window(kappas, i, self.window)
            if values is None:
                have = [v for v in kappas[max(0, i - self.window + 1):i + 1] if not math.isnan(v)]
                out.append(_state(rec, float("nan"), self.threshold, False,
                                          f"needs {self.window} successive kappas; has {len(have)}"
                                          + (f" ({_fmt(have)})" if have else "")))
                continue
            mean = float(np.mean(values))
            stop = mean >= self.threshold
            out.append(_state(rec, mean, self.threshold, stop,
                                      f"mean kappa of the last {self.window} rounds {mean:.4f} ({_fmt(values)}) "
                                      f"{'>=' if stop else '<'} {self.threshold:g}"))
        return out


class PredictedChangeOfF(StoppingCriterion):
    """Predicted change of F (Altschuler & Bloodgood 2019, "Stopping active learning based on predicted
    change of F measure for text classification", IEEE ICSC).

    After record t, the change of F between models t-1 and t is estimated from their decisions on the
    stop set alone: with a (both positive), b (only t-1 positive) and c (only t positive),
    ``dF_t = 1 - 2a / (2a + b + c)``. Multi-label: a, b and c are summed over rows and labels (micro).
    Rule: stop when each of the last ``window`` estimates is below ``threshold``,

    ``max(dF_{t-window+1}, ..., dF_t) < threshold``  (window 3, threshold 0.005).

    The threshold 0.005 is a **[choice]** of the workbench, not a number quoted from the paper: the
    paper's text (arXiv 1901.09118) could not be read offline to confirm the value it states, so none is
    claimed. Why 0.005: the rule should be as conservative as the stabilizing-predictions default it
    sits beside (kappa >= 0.99 over 3 rounds), and half an F point is a change a person reading a
    learning curve would call "flat"; a larger threshold stops earlier (the paper's point, as Bloodgood
    & Vijay-Shanker's, is that the user adjusts it). The window of 3 with "every estimate below" is
    small-text's rule. small-text's ``DeltaFScore``, which cites the paper, uses window 3 and threshold
    0.05 (five F points) and, since its version 1.3.3, the same positive-only counts a, b, c as here
    (earlier versions also counted agreement on negatives); pass ``threshold=0.05`` for its threshold.

    Parameters
    ----------
    window : int, default 3
        Successive estimates that must all be below the threshold.
    threshold : float, default 0.005
        The largest change of F (0-1 scale) still counted as "no change".
    """

    key: ClassVar[str] = "delta_f"
    name: ClassVar[str] = "Predicted change of F"
    paper: ClassVar[str] = ("Altschuler & Bloodgood 2019: each of the last 3 stop-set dF estimates < 0.005 "
                            "(threshold: the workbench's choice)")
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("window", 3, "Successive estimates that must all be below the threshold.", 1, 100),
        Param("threshold", 0.005, "Largest predicted change of F counted as no change.", 0.0, 1.0),
    )

    def __init__(self, window: int = 3, threshold: float = 0.005) -> None:
        self.window = window
        self.threshold = threshold
        self._check_params()

    def _evaluate(self, inputs: Sequence[RoundInputs]) -> list[CriterionState]:
        deltas = _successive(inputs, _delta_f)
        out = []
        for i, rec in enumerate(inputs):
            if rec.decisions is None:
                out.append(_not_available(rec, self.threshold, MEASURES_SINCE))
                continue
            values = _window(deltas, i, self.window)
            if values is None:
                have = [v for v in deltas[max(0, i - self.window + 1):i + 1] if not math.isnan(v)]
                out.append(_state(rec, float("nan"), self.threshold, False,
                                          f"needs {self.window} successive estimates; has {len(have)}"
                                          + (f" ({_fmt(have)})" if have else "")))
                continue
            worst = max(values)
            stop = worst < self.threshold
            out.append(_state(rec, worst, self.threshold, stop,
                                      f"largest predicted change of F of the last {self.window} rounds {worst:.4f} "
                                      f"({_fmt(values)}) {'<' if stop else '>='} {self.threshold:g}"))
        return out


class _PerRecordRule(StoppingCriterion):
    """A rule comparing one number per record with a threshold (``below``: stop when value < threshold,
    else when value >= threshold)."""

    below: ClassVar[bool] = True
    since: ClassVar[int] = MEASURES_SINCE
    what: ClassVar[str] = ""

    @abstractmethod
    def _value(self, rec: RoundInputs, first: bool) -> tuple[float, str]:
        """The record's value, or NaN and why there is none."""

    def _available(self, rec: RoundInputs) -> bool:
        return rec.has_measures

    def _evaluate(self, inputs: Sequence[RoundInputs]) -> list[CriterionState]:
        out = []
        for i, rec in enumerate(inputs):
            if not self._available(rec):
                out.append(_not_available(rec, self.threshold_value, self.since))
                continue
            value, why = self._value(rec, i == 0)
            if math.isnan(value):
                out.append(_state(rec, value, self.threshold_value, False, why))
                continue
            stop = value < self.threshold_value if self.below else value >= self.threshold_value
            sign = ("<" if stop else ">=") if self.below else (">=" if stop else "<")
            out.append(_state(rec, value, self.threshold_value, stop,
                                      f"{self.what} {value:.4f} {sign} {self.threshold_value:g}"))
        return out


class MaxUncertainty(_PerRecordRule):
    """Maximum uncertainty (Zhu, Wang & Hovy 2008, "Multi-criteria-based strategy to stop active learning
    for data annotation", COLING; the max-confidence criterion).

    After record t, the uncertainty of each pick is the mean over labels of its binary entropy
    ``H(pbar_j) = -pbar_j log2 pbar_j - (1 - pbar_j) log2 (1 - pbar_j)`` (in [0, 1]), with ``pbar`` what
    record t's model predicted when it picked it. Rule: stop when even the most uncertain pick is
    certain enough, ``max_{x in B_t} u(x) < threshold``. Needs the picks' predictions (store v2); the
    final record has no picks.

    Parameters
    ----------
    threshold : float, default 0.1
        Mean binary entropy (bits, 0-1) below which the batch counts as certain; Zhu et al. report a range
        of such thresholds rather than one default.
    """

    key: ClassVar[str] = "max_uncertainty"
    name: ClassVar[str] = "Maximum uncertainty"
    paper: ClassVar[str] = "Zhu, Wang & Hovy 2008: the most uncertain pick's mean label entropy < 0.1"
    since: ClassVar[int] = PICK_PROBA_SINCE
    what: ClassVar[str] = "most uncertain pick's mean label entropy"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("threshold", 0.1, "Mean binary entropy (bits) below which a batch counts as certain.", 0.0, 1.0),
    )

    def __init__(self, threshold: float = 0.1) -> None:
        self.threshold = threshold
        self._check_params()

    def _available(self, rec: RoundInputs) -> bool:
        return rec.has_pick_proba or rec.final

    def _value(self, rec: RoundInputs, first: bool) -> tuple[float, str]:
        if rec.final:
            return float("nan"), "the final record picks nothing"
        return rec.batch_max_uncertainty, ""


class OverallUncertainty(_PerRecordRule):
    """Overall uncertainty (Zhu, Wang & Hovy 2008, COLING; small-text's ``OverallUncertainty``).

    After record t, the mean over the unlabelled pool ``U_t`` of the sample uncertainty ``u(x)`` (the
    mean over labels of the binary entropy of ``pbar``, in [0, 1]). Rule: stop when
    ``(1 / |U_t|) sum_{x in U_t} u(x) < threshold``.

    Parameters
    ----------
    threshold : float, default 0.05
        Mean uncertainty below which the pool counts as learned (small-text's default for its normalised
        entropy).
    """

    key: ClassVar[str] = "overall_uncertainty"
    name: ClassVar[str] = "Overall uncertainty"
    paper: ClassVar[str] = "Zhu, Wang & Hovy 2008: the pool's mean label entropy < 0.05"
    what: ClassVar[str] = "mean label entropy over the unlabelled pool"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("threshold", 0.05, "Mean uncertainty of the pool below which to stop.", 0.0, 1.0),
    )

    def __init__(self, threshold: float = 0.05) -> None:
        self.threshold = threshold
        self._check_params()

    def _value(self, rec: RoundInputs, first: bool) -> tuple[float, str]:
        value = rec.pool_mean_uncertainty
        return value, "" if not math.isnan(value) else "the unlabelled pool is empty"


class SelectedAccuracy(_PerRecordRule):
    """Selected accuracy (Zhu, Wang & Hovy 2008, COLING).

    The batch ``B_{t-1}`` picked after record t-1 was labelled by the oracle; before training on it,
    record t-1's model had predicted its labels (``pbar > 0.5``). After record t (the model trained on
    them), the rule compares those predictions with the labels given. Multi-label: micro-F1 over the
    batch's rows and labels (Hamming accuracy would be near 1 for sparse label sets whatever the model
    does); 1.0 when neither has a positive. Rule: stop when ``F1(B_{t-1}) >= threshold``. Needs the picks'
    predictions (store v2); NaN at round 0.

    Parameters
    ----------
    threshold : float, default 0.9
        Micro-F1 on the last labelled batch at which to stop.
    """

    key: ClassVar[str] = "selected_accuracy"
    name: ClassVar[str] = "Selected accuracy"
    paper: ClassVar[str] = "Zhu, Wang & Hovy 2008: micro-F1 of the model on the batch it picked >= 0.9"
    below: ClassVar[bool] = False
    since: ClassVar[int] = PICK_PROBA_SINCE
    what: ClassVar[str] = "micro-F1 of the previous model on the batch it picked"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("threshold", 0.9, "Micro-F1 on the last labelled batch at which to stop.", 0.0, 1.0),
    )

    def __init__(self, threshold: float = 0.9) -> None:
        self.threshold = threshold
        self._check_params()

    def _available(self, rec: RoundInputs) -> bool:
        return True  # the value of a record without the previous picks' predictions is NaN, said below

    def _value(self, rec: RoundInputs, first: bool) -> tuple[float, str]:
        if first:
            return float("nan"), "no batch has been labelled yet"
        if math.isnan(rec.selected_f1):
            return float("nan"), (f"not available for this session (recorded from store version "
                                  f"{PICK_PROBA_SINCE} on)")
        return rec.selected_f1, ""


class ClassificationChange(StoppingCriterion):
    """Classification change (Zhu, Wang & Hovy 2008, COLING; small-text's ``ClassificationChange``).

    After record t, the share of unlabelled samples whose predicted label set (``pbar > 0.5``) differs
    between models t-1 and t. The workbench measures it on the stop-set rows still unlabelled at t (the
    whole unlabelled pool when the pool has at most 2,000 rows). Rule: stop when the share is at most
    ``threshold`` (the paper: no sample changes, threshold 0).

    Parameters
    ----------
    threshold : float, default 0.0
        Largest share of changed samples at which to stop.
    """

    key: ClassVar[str] = "classification_change"
    name: ClassVar[str] = "Classification change"
    paper: ClassVar[str] = "Zhu, Wang & Hovy 2008: no unlabelled sample's predicted label set changes"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("threshold", 0.0, "Largest share of changed predictions at which to stop.", 0.0, 1.0),
    )

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold
        self._check_params()

    def _evaluate(self, inputs: Sequence[RoundInputs]) -> list[CriterionState]:
        out = []
        for i, rec in enumerate(inputs):
            if not rec.has_measures:
                out.append(_not_available(rec, self.threshold, MEASURES_SINCE))
            elif math.isnan(rec.changed_share):
                why = ("needs the previous round's predictions" if i == 0 or inputs[i - 1].decisions is None
                       else "no stop-set sample is left unlabelled")
                out.append(_state(rec, float("nan"), self.threshold, False, why))
            else:
                share = rec.changed_share
                stop = share <= self.threshold
                changed = int(round(share * rec.n_compared))
                out.append(_state(
                    rec, share, self.threshold, stop,
                    f"{changed:,} of {rec.n_compared:,} unlabelled stop-set samples changed their predicted labels "
                    f"({share:.2%}) {'<=' if stop else '>'} {self.threshold:.2%}"))
        return out


class LabelBudget(StoppingCriterion):
    """A label budget: stop when the labelled set holds at least ``budget`` samples (``n_labeled >= budget``).

    Parameters
    ----------
    budget : int
        Labels one is willing to spend (initial set included).
    """

    key: ClassVar[str] = "budget"
    name: ClassVar[str] = "Label budget"
    paper: ClassVar[str] = "A fixed budget (small-text's MaxIterations counts rounds instead of labels)"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("budget", None, "Labels one is willing to spend (initial set included).",
              constraint=Interval(1, None, integer=True)),
    )

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._check_params()

    @property
    def threshold_value(self) -> float:
        """The budget."""
        return float(self.budget)

    def _evaluate(self, inputs: Sequence[RoundInputs]) -> list[CriterionState]:
        out = []
        for rec in inputs:
            stop = rec.n_labeled >= self.budget
            out.append(_state(rec, float(rec.n_labeled), float(self.budget), stop,
                                      f"{rec.n_labeled:,} labelled {'>=' if stop else '<'} budget {self.budget:,}"))
        return out


#: the criteria of the papers, by key, in the order the app shows them
CRITERIA: dict[str, type[StoppingCriterion]] = {
    cls.key: cls for cls in (StabilizingPredictions, PredictedChangeOfF, ClassificationChange, OverallUncertainty,
                             MaxUncertainty, SelectedAccuracy, LabelBudget)
}


def default_criteria(budget: int | None = None) -> list[StoppingCriterion]:
    """The paper criteria with their papers' defaults, and a label budget when one is given.

    Parameters
    ----------
    budget : int, optional
        Adds :class:`LabelBudget` with this budget.

    Returns
    -------
    list of StoppingCriterion
        Stabilizing predictions, predicted change of F, classification change, overall uncertainty,
        maximum uncertainty, selected accuracy (and the budget).
    """
    out: list[StoppingCriterion] = [StabilizingPredictions(), PredictedChangeOfF(), ClassificationChange(),
                                    OverallUncertainty(), MaxUncertainty(), SelectedAccuracy()]
    if budget is not None:
        out.append(LabelBudget(budget))
    return out
