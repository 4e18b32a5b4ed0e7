"""What a session measures after each round for the stopping criteria, and how it is stored.

The **stop set** (Bloodgood & Vijay-Shanker 2009, Sec. 3) is a fixed random sample of the pool, drawn
once when the session starts (seeded by the session's seed, its own rng stream, so no other draw of
the session changes) and recorded with the session. It needs no labels: the criteria compare the
predictions of successive models on it. Bloodgood & Vijay-Shanker drew it from the unlabelled pool and
kept it fixed across rounds; its size is the user's choice (their Sec. 3.2 argues only that it should
be large enough for a low-variance kappa). The workbench draws :data:`STOP_SET_SIZE` = 2,000 rows, or
the whole pool when it is smaller. Stop-set rows stay in the pool (a strategy may pick them); the model
still predicts them every round, so the set stays the same for the whole session.

After each round the loop calls :func:`round_measures` with the pool probabilities it already has and
stores the result (``RoundRecord.stopping``, store schema v4):

* ``stop_decisions``: the round model's decisions ``pbar > 0.5`` on the stop set, ``(n_stop, K)``
  bits packed along the labels (:func:`pack_decisions`); the payload codec compresses them, so a
  sparse decision matrix of a large label set costs little;
* ``pool_mean_uncertainty``: the mean over the unlabelled pool of :func:`sample_uncertainty`;
* ``changed_share`` / ``n_compared``: the share of stop-set rows, unlabelled at this round, whose
  predicted label set differs from the previous round's (NaN at round 0 or when the previous round
  has no stored decisions).

The maximum uncertainty of the selected batch and the selected accuracy are not stored again: they
follow from the picks' predicted probabilities (``RoundRecord.pick_proba``, stored since schema v2)
and the oracle's labels (:func:`round_inputs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlal_core.errors import ConfigError

__all__ = [
    "DECISION_THRESHOLD",
    "STOP_SET_SIZE",
    "STOP_SET_STREAM",
    "RoundInputs",
    "binary_entropy",
    "decisions_of",
    "draw_stop_set",
    "micro_f1_agreement",
    "pack_decisions",
    "round_inputs",
    "round_measures",
    "sample_uncertainty",
    "unpack_decisions",
]

#: rows of the stop set (or the whole pool when it is smaller)
STOP_SET_SIZE = 2000
#: rng stream of the stop-set draw: ``np.random.default_rng([seed, STOP_SET_STREAM])``
STOP_SET_STREAM = 1_000_033
#: a label is predicted when ``pbar > DECISION_THRESHOLD`` (the pseudo labels of the glossary)
DECISION_THRESHOLD = 0.5
#: store schema version from which rounds carry :func:`round_measures`
MEASURES_SINCE = 4
#: store schema version from which rounds carry the picks' predicted probabilities
PICK_PROBA_SINCE = 2


def draw_stop_set(n_pool: int, seed: int, size: int = STOP_SET_SIZE) -> np.ndarray:
    """The stop set: ``min(size, n_pool)`` pool positions drawn without replacement, ascending.

    Parameters
    ----------
    n_pool : int
        Size of the pool (the training split).
    seed : int
        The session's seed (the draw uses the stream :data:`STOP_SET_STREAM`).
    size : int, default STOP_SET_SIZE
        Rows to draw; the whole pool when it has fewer.

    Returns
    -------
    numpy.ndarray
        Pool positions, int64, ascending.

    Raises
    ------
    ConfigError
        When ``size`` is not a positive integer or ``n_pool`` is negative.
    """
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"The stop-set size must be a positive integer; got {size!r}.")
    if n_pool < 0:
        raise ConfigError(f"The pool size must be >= 0; got {n_pool}.")
    if n_pool <= size:
        return np.arange(n_pool, dtype=np.int64)
    rng = np.random.default_rng([int(seed), STOP_SET_STREAM])
    return np.sort(rng.choice(n_pool, size=int(size), replace=False)).astype(np.int64)


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Binary entropy in bits, elementwise: ``H(p) = -p log2 p - (1 - p) log2 (1 - p)``, ``H(0) = H(1) = 0``.

    Parameters
    ----------
    p : numpy.ndarray
        Probabilities in [0, 1] (values outside are clipped).

    Returns
    -------
    numpy.ndarray
        Entropies in [0, 1] bits, the shape of ``p`` (float64 for float64 input, else float32).
    """
    q = np.clip(np.asarray(p, dtype=np.float64 if np.asarray(p).dtype == np.float64 else np.float32), 0.0, 1.0)
    r = 1.0 - q
    with np.errstate(divide="ignore", invalid="ignore"):
        h = q * np.log2(q)
        h += r * np.log2(r)
    np.negative(h, out=h)
    return np.nan_to_num(h, copy=False, nan=0.0)  # 0 log 0 = 0


def sample_uncertainty(pbar: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The uncertainty of each sample: the mean over labels of the binary entropy of ``pbar``.

    Zhu, Wang & Hovy (2008) use the entropy of the predicted class distribution; for K binary labels
    the workbench averages the K binary entropies, so the value lies in [0, 1] whatever K is. Rows are
    processed ``chunk`` at a time, so a large pool needs no pool-sized temporaries.

    Parameters
    ----------
    pbar : numpy.ndarray
        Mean predicted probabilities, ``(n, K)``.
    chunk : int, default 4096
        Rows per step.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` uncertainties in [0, 1], float64 (0 for ``K = 0``).

    Raises
    ------
    ConfigError
        When ``pbar`` is not a matrix.
    """
    pbar = np.asarray(pbar)
    if pbar.ndim != 2:
        raise ConfigError(f"pbar must be an (n, K) matrix; got shape {pbar.shape}.")
    out = np.zeros(pbar.shape[0])
    if pbar.shape[1] == 0:
        return out
    for start in range(0, pbar.shape[0], chunk):
        out[start:start + chunk] = binary_entropy(pbar[start:start + chunk]).mean(axis=1, dtype=np.float64)
    return out


def micro_f1_agreement(predicted: np.ndarray, given: np.ndarray) -> float:
    """Micro-F1 of 0/1 predictions against 0/1 labels, pooled over rows and labels.

    ``2 TP / (2 TP + FP + FN)``; 1.0 when neither has a single positive (nothing to disagree on).

    Parameters
    ----------
    predicted, given : numpy.ndarray
        ``(n, K)`` 0/1 (or bool) matrices of the same shape.

    Returns
    -------
    float
        In [0, 1].
    """
    p = np.asarray(predicted, dtype=bool)
    g = np.asarray(given, dtype=bool)
    if p.shape != g.shape:
        raise ConfigError(f"Predictions {p.shape} and labels {g.shape} must have the same shape.")
    tp = int(np.count_nonzero(p & g))
    wrong = int(np.count_nonzero(p ^ g))
    return 1.0 if tp + wrong == 0 else 2.0 * tp / (2.0 * tp + wrong)


def pack_decisions(decisions: np.ndarray) -> np.ndarray:
    """0/1 decisions ``(n, K)`` as bits packed along the labels, ``(n, ceil(K / 8))`` uint8.

    Parameters
    ----------
    decisions : numpy.ndarray
        ``(n, K)`` bool or 0/1.

    Returns
    -------
    numpy.ndarray
        The packed bits (:func:`unpack_decisions` reads them back with K).
    """
    return np.packbits(np.asarray(decisions, dtype=bool), axis=1)


def unpack_decisions(packed: np.ndarray, n_labels: int) -> np.ndarray:
    """The ``(n, n_labels)`` bool decisions :func:`pack_decisions` packed.

    Parameters
    ----------
    packed : numpy.ndarray
        ``(n, ceil(n_labels / 8))`` uint8.
    n_labels : int
        K.

    Returns
    -------
    numpy.ndarray
        ``(n, n_labels)`` bool.
    """
    packed = np.asarray(packed, dtype=np.uint8)
    if packed.ndim != 2:
        raise ConfigError(f"Packed decisions must be a 2-d uint8 array; got shape {packed.shape}.")
    return np.unpackbits(packed, axis=1, count=int(n_labels)).astype(bool)


def round_measures(pbar_unlabeled: np.ndarray, pbar_stop: np.ndarray, stop_unlabeled: np.ndarray,
                   previous: dict | None) -> dict[str, Any]:
    """What a round stores for the stopping criteria (see the module docstring).

    Parameters
    ----------
    pbar_unlabeled : numpy.ndarray
        The round model's mean probabilities on the unlabelled pool, ``(n_unlabeled, K)``.
    pbar_stop : numpy.ndarray
        Its mean probabilities on the stop set, ``(n_stop, K)``.
    stop_unlabeled : numpy.ndarray
        ``(n_stop,)`` bool: which stop-set rows are unlabelled at this round.
    previous : dict or None
        The previous round's measures (``RoundRecord.stopping``), None at round 0 or when not stored.

    Returns
    -------
    dict
        ``stop_decisions`` (packed bits), ``n_labels``, ``n_stop``, ``pool_mean_uncertainty`` (NaN for
        an empty pool), ``n_unlabeled``, ``changed_share`` (NaN without a previous round or with no
        unlabelled stop-set row) and ``n_compared``.
    """
    pbar_stop = np.asarray(pbar_stop)
    decisions = pbar_stop > DECISION_THRESHOLD
    n_labels = int(pbar_stop.shape[1])
    n_unl = int(np.asarray(pbar_unlabeled).shape[0])
    pool_u = float(sample_uncertainty(pbar_unlabeled).mean()) if n_unl else float("nan")
    changed, compared = float("nan"), 0
    prev = decisions_of(previous)
    mask = np.asarray(stop_unlabeled, dtype=bool)
    if prev is not None and prev.shape == decisions.shape and mask.any():
        compared = int(mask.sum())
        changed = float(np.any(prev[mask] != decisions[mask], axis=1).mean())
    return {"stop_decisions": pack_decisions(decisions), "n_labels": n_labels, "n_stop": int(len(decisions)),
            "pool_mean_uncertainty": pool_u, "n_unlabeled": n_unl, "changed_share": changed,
            "n_compared": compared}


def decisions_of(measures: dict | None) -> np.ndarray | None:
    """The stop-set decisions of stored measures, ``(n_stop, K)`` bool; None without them.

    Parameters
    ----------
    measures : dict or None
        A round's :func:`round_measures` (``RoundRecord.stopping``).

    Returns
    -------
    numpy.ndarray or None
    """
    if not measures or measures.get("stop_decisions") is None:
        return None
    return unpack_decisions(measures["stop_decisions"], int(measures["n_labels"]))


@dataclass(frozen=True, kw_only=True)
class RoundInputs:
    """What the criteria read of one record (:func:`round_inputs`); NaN / None where not stored.

    Attributes
    ----------
    round : int
        The record's index ``t``.
    n_labeled : int
        Labelled samples the record's model was trained on (labels spent if one stops here).
    final : bool
        The session's last record.
    decisions : numpy.ndarray or None
        Stop-set decisions of the record's model, ``(n_stop, K)`` bool (schema v4).
    pool_mean_uncertainty : float
        Mean sample uncertainty over the unlabelled pool (schema v4).
    changed_share : float
        Share of unlabelled stop-set rows whose predicted label set changed since the previous record.
    n_compared : int
        Rows that share is over.
    batch_max_uncertainty : float
        Largest sample uncertainty among the record's picks (from ``pick_proba``, schema v2); NaN for
        the final record.
    selected_f1 : float
        Micro-F1 of the previous record's predictions for its picks (made before it trained on them)
        against the labels the oracle gave; NaN at round 0.
    has_measures : bool
        Whether the record carries the v4 measures.
    has_pick_proba : bool
        Whether the record carries the picks' predictions (False for the final record).
    """

    round: int
    n_labeled: int
    final: bool
    decisions: np.ndarray | None
    pool_mean_uncertainty: float
    changed_share: float
    n_compared: int
    batch_max_uncertainty: float
    selected_f1: float
    has_measures: bool
    has_pick_proba: bool


def _batch_max_uncertainty(rec: Any) -> float:
    proba = getattr(rec, "pick_proba", None)
    if proba is None or np.asarray(proba).size == 0:
        return float("nan")
    return float(sample_uncertainty(np.asarray(proba, dtype=np.float64)).max())


def _selected_f1(rec: Any) -> float:
    proba = getattr(rec, "pick_proba", None)
    labels = getattr(rec, "labels", None)
    if proba is None or labels is None or np.asarray(labels).shape[0] == 0:
        return float("nan")
    return micro_f1_agreement(np.asarray(proba) > DECISION_THRESHOLD, np.asarray(labels))


def round_inputs(history: Sequence[Any]) -> list[RoundInputs]:
    """What every record of a session offers the criteria, in record order.

    Parameters
    ----------
    history : sequence of RoundRecord
        The session's records (``round``, ``n_labeled``, ``selected``, ``labels``, ``pick_proba`` and
        ``stopping`` are read; any object with these attributes will do).

    Returns
    -------
    list of RoundInputs
        One per record.
    """
    out: list[RoundInputs] = []
    previous = None
    for rec in history:
        measures = getattr(rec, "stopping", None) or None
        final = getattr(rec, "selected", None) is None
        changed = float("nan") if measures is None else float(measures.get("changed_share", math.nan))
        out.append(RoundInputs(
            round=int(rec.round), n_labeled=int(rec.n_labeled), final=final,
            decisions=decisions_of(measures),
            pool_mean_uncertainty=float("nan") if measures is None else float(measures["pool_mean_uncertainty"]),
            changed_share=changed, n_compared=0 if measures is None else int(measures.get("n_compared", 0)),
            batch_max_uncertainty=_batch_max_uncertainty(rec),
            selected_f1=float("nan") if previous is None else _selected_f1(previous),
            has_measures=measures is not None,
            has_pick_proba=getattr(rec, "pick_proba", None) is not None,
        ))
        previous = rec
    return out
