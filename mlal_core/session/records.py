"""What a session's rounds leave behind: :class:`RoundRecord` (stored) and :class:`PendingRound`
(proposed, not yet labelled).

This module sits below both the loop (:mod:`mlal_core.session.loop`, which makes the records) and
the store (:mod:`mlal_core.session.store`, which writes and reads them), so neither imports the
other for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlal_core.strategies.base import QueryContext, Selection

__all__ = ["SHARED_FIELDS", "PendingRound", "RoundRecord"]

#: The shared diagnostics every round records, whatever the strategy (see
#: :mod:`mlal_core.session.loop`, "Shared diagnostics"), in the order of the tables and the store.
SHARED_FIELDS = (
    "mean_ir_selected",
    "label_coverage",
    "hard_to_learn_count",
    "conflicting_count",
    "n_exclusive_pairs",
    "n_unlabeled",
    "n_candidates",
)


@dataclass(kw_only=True)
class RoundRecord:
    """One learning-curve point and the query made from it (``selection=None`` for the final one).

    Attributes
    ----------
    round : int
        Index ``t`` of the record (0 = the model trained on the initial set).
    n_labeled : int
        Size of the labelled set ``L_t`` the round's model was trained on.
    metrics : dict
        Test-split metrics of that model (``metrics.evaluate``; ``*_tuned`` at the tuned threshold).
    selected : numpy.ndarray or None
        Pool positions picked, in pick order (int64); None for the final record.
    labels : numpy.ndarray or None
        The oracle's answers for ``selected``, ``(n, K)`` 0/1 uint8; None for the final record.
    selection : Selection or None
        What the strategy returned (scores, details, diagnostics); None for the final record.
    timings : dict
        Seconds per phase: ``train_s``, ``predict_s``, ``diagnostics_s`` (the round's shared measures:
        stopping, hard-to-learn and conflicting counts), ``select_s`` (the strategy alone),
        ``total_s``. Records written before ``diagnostics_s`` existed count the diagnostics in
        ``select_s``.
    mean_ir_selected, label_coverage, hard_to_learn_count, conflicting_count, n_exclusive_pairs, \
n_unlabeled, n_candidates
        The shared diagnostics (:data:`SHARED_FIELDS`).
    created_at : str or None
        When the store wrote the round (ISO 8601); None for a record not read from a store.
    answered_by : str or None
        Who labelled the picks: ``"simulated"`` (the ground truth) or ``"person"`` (labels given to
        ``commit`` or a custom oracle); None for the final record and for stores written before v2.
    pick_proba : numpy.ndarray or None
        ``pbar`` of the picks, ``(n, K)``: what the model predicted for them when it picked them.
    stopping : dict or None
        What the round measured for the stopping criteria (:func:`mlal_core.stopping.round_measures`:
        the model's decisions on the stop set, packed, the pool's mean uncertainty, the share of
        changed predictions); None for stores written before v4.
    """

    round: int
    n_labeled: int
    metrics: dict
    selected: np.ndarray | None
    labels: np.ndarray | None
    selection: Selection | None
    timings: dict
    mean_ir_selected: float = float("nan")
    label_coverage: float = float("nan")
    hard_to_learn_count: int = 0
    conflicting_count: int = 0
    n_exclusive_pairs: int = 0
    n_unlabeled: int = 0
    n_candidates: int = 0
    created_at: str | None = None
    answered_by: str | None = None
    pick_proba: np.ndarray | None = None
    stopping: dict | None = None

    @property
    def final(self) -> bool:
        """True for the last record of a session (no query was made from it)."""
        return self.selected is None

    def shared_diagnostics(self) -> dict[str, Any]:
        """The shared diagnostics of the round by name (:data:`SHARED_FIELDS`, in that order).

        Returns
        -------
        dict
            ``{field: value}`` for every name of :data:`SHARED_FIELDS`.
        """
        return {name: getattr(self, name) for name in SHARED_FIELDS}

    @classmethod
    def from_parts(cls, *, shared: dict, **kwargs: Any) -> RoundRecord:
        """A record from its fields and a dict of shared diagnostics (as the store holds them).

        Parameters
        ----------
        shared : dict
            Shared diagnostics by name; unknown names are ignored, a missing or null
            ``mean_ir_selected`` / ``label_coverage`` becomes NaN (JSON stores NaN as null).
        **kwargs
            The other fields of :class:`RoundRecord`.

        Returns
        -------
        RoundRecord
        """
        known = {k: v for k, v in shared.items() if k in SHARED_FIELDS}
        for key in ("mean_ir_selected", "label_coverage"):
            if known.get(key) is None:
                known[key] = float("nan")
        return cls(**kwargs, **known)


@dataclass(kw_only=True)
class PendingRound:
    """A round that was trained, evaluated and selected but not yet labelled or stored.

    ``ActiveLearningSession.propose`` returns it and ``ActiveLearningSession.commit`` records it.

    Attributes
    ----------
    round : int
        Index ``t`` the record will have.
    n_labeled : int
        Size of the labelled set the round's model was trained on.
    metrics : dict
        Test-split metrics of the round's model.
    selection : Selection or None
        The strategy's picks; None for a final round.
    timings : dict
        Seconds per phase (as :attr:`RoundRecord.timings`).
    shared : dict
        Shared diagnostics known before labelling (all of :data:`SHARED_FIELDS` except
        ``mean_ir_selected`` and ``label_coverage``, which need the oracle's answers).
    context : QueryContext or None
        What the strategy saw (for the app: the model's predictions for the picks, a person's
        reference); not persisted. None for a final round.
    model : Any
        The round's fitted model; not persisted.
    final : bool
        True when the round queries nothing (the last record of the session).
    stopping : dict or None
        What the round measured for the stopping criteria (as :attr:`RoundRecord.stopping`).
    """

    round: int
    n_labeled: int
    metrics: dict
    selection: Selection | None
    timings: dict
    shared: dict
    context: QueryContext | None
    model: Any
    final: bool
    stopping: dict | None = None
    #: (round, labelled size) when proposed: ``commit`` refuses a proposal the session has moved past
    _token: tuple = field(default=(), repr=False)

    @property
    def selected(self) -> np.ndarray | None:
        """Pool positions picked, in pick order (int64); None for a final round."""
        return None if self.selection is None else np.asarray(self.selection.indices, dtype=np.int64)

    def predicted_proba(self) -> np.ndarray | None:
        """``pbar`` of the picks, ``(n, K)`` (what the model believed when it picked them).

        Returns
        -------
        numpy.ndarray or None
            The mean predicted probability of each label for each pick (rows in pick order); None
            for a final round.
        """
        if self.context is None or self.selection is None:
            return None
        return self.context.mean_proba(self.selected)
