"""Inspection of a session's history: what the pages "Correlations", "Selection inspector" and
"Embeddings" show, as pure functions of an :class:`~mlal_core.session.loop.ActiveLearningSession`.

Rounds and labelled sets
------------------------
Record ``t`` of a session was made from the labelled set ``L_t`` (the initial set plus the picks of
records ``0 .. t-1``). :func:`labelled_rounds` lists the ``t`` for which ``L_t`` exists: every
record's round, plus the current labelled set of an unfinished session (``t = len(history)``).
:func:`labelled_at` returns ``(positions, Y)``, the oracle's answers (never the ground truth).

Correlations (CRAB Eq. 8, 9) of ``L_t``: :func:`correlation_at` returns A, NegA, the label counts and
the thresholds CRAB uses in round ``t`` (asymmetric pairs with z > 1, mutually exclusive pairs
with ``tau``), computed with the same functions and constants CRAB uses, so they equal CRAB's
``diagnostics`` of that round; :func:`correlation_change` compares two rounds.

What a round's model looked like
--------------------------------
Strategies only see a :class:`~mlal_core.strategies.base.QueryContext`; it is not stored (the model
and the ``(S, N, K)`` predictions are large). :func:`round_state` gives it back:

* a live session watched by :func:`keep_contexts` keeps the last few rounds' contexts in memory
  (a :class:`ContextKeeper` in the session's public ``proposal_listeners``; the contexts are kept
  in this module, weakly keyed by the session, never as attributes of it);
* otherwise the round is **replayed with the loop itself**
  (:meth:`~mlal_core.session.loop.ActiveLearningSession.replay_round`): a throw-away session
  restored to the first ``t`` records calls ``propose()``, which trains the round's model (cold
  start, seed ``seed + t``, deterministic) and rebuilds the context exactly as the session did. It also re-runs
  the session's strategy, so :attr:`RoundState.reproduced` says whether the replay picked the same
  samples as the original round (it does on CPU with the same code; a GPU can differ in the last bits,
  and a session recorded with older model or strategy code can differ altogether).

:func:`compare_strategies` runs several strategies on that **same** context (each with a fresh copy
of the round's rng, so the session's own strategy reproduces its original picks) and returns their
picks and the pairwise Jaccard overlap.

The 2-D maps of the Embeddings page (which points, coloured how) are in :mod:`mlal_core.inspection.embedding_maps`.

Nothing here imports streamlit.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlal_core import correlation, stats
from mlal_core.errors import ConfigError
from mlal_core.inspection.session_memory import PerSessionMemory
from mlal_core.inspection.views import labelled_set_name
from mlal_core.session import tables

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.records import PendingRound, RoundRecord
    from mlal_core.strategies.base import QueryContext, Selection

Progress = Callable[[int, int, str], None]

#: how many rounds' contexts :func:`keep_contexts` / :func:`round_state` keep per session
DEFAULT_KEEP = 2

__all__ = [
    "ContextKeeper",
    "CorrelationSnapshot",
    "RoundState",
    "StrategyComparison",
    "both_directions",
    "check_labelled_round",
    "cached_state",
    "comal_k_profile",
    "compare_strategies",
    "correlation_at",
    "correlation_by_round",
    "correlation_change",
    "crab_marks",
    "display_order",
    "forget_contexts",
    "keep_contexts",
    "label_names",
    "labelled_at",
    "labelled_rounds",
    "pairs_table",
    "per_round_frame",
    "pick_explanation",
    "pick_prediction",
    "picks_table",
    "position_from_chart_event",
    "position_from_table_event",
    "query_record",
    "query_records",
    "ranked_among",
    "balance_frame",
    "round_balance",
    "round_candidates",
    "round_scores",
    "round_state",
    "session_key",
    "snapshot_from_labels",
    "strategy_choices",
]


# ====================================================================== basics
def session_key(session: ActiveLearningSession) -> str:
    """A cache key for the session's current state: its store id (or object id) and history length.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).

    Returns
    -------
    str
        ``"<session id>:<records>"`` (``"mem<hex id>:<records>"`` for a session without a store).
    """
    sid = session.session_id or f"mem{id(session):x}"
    return f"{sid}:{len(session.history)}"


def label_names(session: ActiveLearningSession) -> list[str]:
    """The session's label names, as strings (``"label j"`` when the dataset has none or too few).

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).

    Returns
    -------
    list of str
        One name per label.
    """
    names = list(getattr(session.dataset, "label_names", []) or [])
    if len(names) != session.n_labels:
        names = [f"label {j}" for j in range(session.n_labels)]
    return [str(s) for s in names]


def query_records(session: ActiveLearningSession) -> list[RoundRecord]:
    """The records that queried something (not the final one), in round order.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).

    Returns
    -------
    list of RoundRecord
    """
    return [rec for rec in session.history if not rec.final]


def labelled_rounds(session: ActiveLearningSession) -> list[int]:
    """Rounds ``t`` whose labelled set ``L_t`` exists: ``0 .. number of query records``.

    ``t = len(query_records)`` is the labelled set after the last pick (the final record's set of a
    finished session, the set the next round will train on otherwise).

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).

    Returns
    -------
    list of int
    """
    return list(range(len(query_records(session)) + 1))


def check_labelled_round(session: ActiveLearningSession, t: int) -> int:
    """``t`` as an int when the session has the labelled set ``L_t`` (:func:`labelled_rounds`).

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        A round.

    Returns
    -------
    int
        ``int(t)``.

    Raises
    ------
    ConfigError
        When ``L_t`` does not exist in this session (it says which rounds do).
    """
    rounds = labelled_rounds(session)
    t = int(t)
    if t not in rounds:
        raise ConfigError(f"Round {t} has no labelled set in this session; choose a round in 0..{rounds[-1]}.")
    return t


def labelled_at(session: ActiveLearningSession, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The labelled set ``L_t``: the initial set plus the picks of records ``0 .. t-1``.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A round of :func:`labelled_rounds`.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        ``(positions, Y)``: pool positions in the order they were labelled (int64) and the oracle's
        answers for them (``(n, K)`` uint8; never the ground truth).

    Raises
    ------
    ConfigError
        When ``L_t`` does not exist.
    """
    t = check_labelled_round(session, t)
    recs = query_records(session)[:t]
    pos = [np.asarray(session.initial_positions, dtype=np.int64)]
    ys = [np.asarray(session.initial_labels, dtype=np.uint8)]
    for rec in recs:
        picked = np.asarray(rec.selected, dtype=np.int64)
        pos.append(picked)
        ys.append(np.asarray(rec.labels, dtype=np.uint8).reshape(len(picked), session.n_labels))
    return np.concatenate(pos), np.concatenate(ys).astype(np.uint8)


def _record(session: ActiveLearningSession, t: int) -> RoundRecord:
    recs = query_records(session)
    if not 0 <= int(t) < len(recs):
        last = len(recs) - 1
        raise ConfigError(
            f"Round {t} made no query in this session" + (f"; choose a round in 0..{last}." if last >= 0 else
                                                          " (no round has been run yet).")
        )
    return recs[int(t)]


def query_record(session: ActiveLearningSession, t: int) -> RoundRecord:
    """Record ``t`` of the session's query records: the round that picked ``L_{t+1} - L_t``.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.

    Returns
    -------
    RoundRecord
        Its picks, labels and selection (details, scores, diagnostics).

    Raises
    ------
    ConfigError
        When record ``t`` made no query (the message names the rounds to choose from).
    """
    return _record(session, t)


# ====================================================================== correlations
@dataclass(kw_only=True)
class CorrelationSnapshot:
    """A and NegA of ``L_t`` and the thresholds CRAB derives from them in round ``t``."""

    round: int
    n_labeled: int
    A: np.ndarray
    NegA: np.ndarray
    counts: np.ndarray          # (K,) positives per label in L_t
    z: np.ndarray               # (K, K) z-scores of the off-diagonal of A (diagonal 0)
    z_threshold: float
    asymmetric_pairs: np.ndarray  # (P, 2) (m, n): z(A[m, n]) > z_threshold and A[m, n] > A[n, m]
    exclusive_pairs: np.ndarray   # (Q, 2) m < n: NegA[m, n] >= tau and NegA[n, m] >= tau
    tau: float
    min_count: int
    corr_avg: float

    @property
    def seen(self) -> np.ndarray:
        """Labels with at least one positive in ``L_t`` (``(K,)`` bool).
        """
        return self.counts > 0

    @property
    def dropped_labels(self) -> np.ndarray:
        """Labels CRAB (at its default ``asymmetric_keep="implying"``) leaves out of its label-wise pool:
        the implied label m of each asymmetric pair (m, n). See :meth:`dropped_under`."""
        return self.dropped_under("implying")

    def dropped_under(self, keep: str = "implying") -> np.ndarray:
        """Labels CRAB leaves out of its label-wise pool under ``asymmetric_keep=keep``: ``"implying"``
        drops the implied (broader) label m of every asymmetric pair (m, n), ``"implied"`` the implying
        (narrower) label n, ``"all"`` nothing. Sorted label indices."""
        from mlal_core.strategies.bemps_family import asymmetric_drops

        drops = asymmetric_drops(self.A, self.asymmetric_pairs, keep)
        return np.array([d["label"] for d in drops], dtype=np.int64)


def correlation_at(session: ActiveLearningSession, t: int) -> CorrelationSnapshot:
    """A, NegA and CRAB's thresholds of the labelled set ``L_t`` (cheap: one sparse product).

    Computed with the functions and constants CRAB uses (CRAB Eq. 8, 9; asymmetric pairs with
    ``z > ASYMMETRY_Z``, exclusive pairs with ``min_count = EXCLUSIVE_MIN_COUNT``), so they equal CRAB's
    ``diagnostics`` of round ``t``.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A round of :func:`labelled_rounds`.

    Returns
    -------
    CorrelationSnapshot
    """
    from mlal_core.strategies.bemps_family import ASYMMETRY_Z, EXCLUSIVE_MIN_COUNT

    _, Y = labelled_at(session, t)
    return snapshot_from_labels(Y, t, z_threshold=ASYMMETRY_Z, min_count=EXCLUSIVE_MIN_COUNT)


def snapshot_from_labels(Y, t: int = 0, *, z_threshold: float | None = None,
                         min_count: int | None = None) -> CorrelationSnapshot:
    """:class:`CorrelationSnapshot` of any label matrix (e.g. the whole pool's ground truth).

    Parameters
    ----------
    Y : array-like or scipy.sparse matrix
        ``(n, K)`` 0/1 labels.
    t : int, default 0
        The round the snapshot is labelled with.
    z_threshold : float, optional
        z-score above which an ``A[m, n] > A[n, m]`` pair is asymmetric (default CRAB's
        ``ASYMMETRY_Z``).
    min_count : int, optional
        Fewest positives a label needs to be in an exclusive pair (default CRAB's
        ``EXCLUSIVE_MIN_COUNT``).

    Returns
    -------
    CorrelationSnapshot
    """
    from mlal_core.strategies.bemps_family import ASYMMETRY_Z, EXCLUSIVE_MIN_COUNT

    z_threshold = ASYMMETRY_Z if z_threshold is None else float(z_threshold)
    min_count = EXCLUSIVE_MIN_COUNT if min_count is None else int(min_count)
    Y = np.asarray(Y.toarray() if sp.issparse(Y) else Y)
    A = correlation.positive_correlation(Y)
    NegA = correlation.negative_correlation(Y)
    ex, tau = correlation.exclusive_pairs(Y, min_count=min_count)
    return CorrelationSnapshot(
        round=int(t),
        n_labeled=int(Y.shape[0]),
        A=A,
        NegA=NegA,
        counts=np.asarray(Y, dtype=np.int64).sum(axis=0),
        z=correlation.offdiag_zscores(A),
        z_threshold=z_threshold,
        asymmetric_pairs=correlation.asymmetric_pairs(A, z_threshold=z_threshold),
        exclusive_pairs=ex,
        tau=float(tau),
        min_count=min_count,
        corr_avg=correlation.corr_avg(Y),
    )


def both_directions(pairs: np.ndarray) -> np.ndarray:
    """Each pair ``(m, n)`` and its mirror ``(n, m)``.

    Parameters
    ----------
    pairs : array-like
        ``(P, 2)`` label pairs.

    Returns
    -------
    numpy.ndarray
        ``(2P, 2)`` int64: the pairs, then the mirrored pairs.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else pairs


def crab_marks(snap: CorrelationSnapshot, which: Sequence[str] = ("asymmetric", "exclusive")) -> dict:
    """The pairs CRAB marks, as ``marked_pairs`` for :func:`mlal_core.viz.correlation_heatmap`.

    Parameters
    ----------
    snap : CorrelationSnapshot
        A round's snapshot.
    which : sequence of {"asymmetric", "exclusive"}
        Which marks: CRAB's asymmetric pairs (cell (m, n): n implies m) and its mutually exclusive
        pairs (both cells (m, n) and (n, m)).

    Returns
    -------
    dict of str to numpy.ndarray
        Legend text -> ``(P, 2)`` cells.
    """
    out = {}
    if "asymmetric" in which:
        out[f"asymmetric: z(A) > {snap.z_threshold:g} and A[m,n] > A[n,m]"] = snap.asymmetric_pairs
    if "exclusive" in which:
        tau = "nan" if not np.isfinite(snap.tau) else f"{snap.tau:.2f}"
        out[f"mutually exclusive (both cells of a pair): NegA >= tau = {tau}"] = both_directions(snap.exclusive_pairs)
    return out


def pairs_table(snap: CorrelationSnapshot, names: Sequence[str]) -> pd.DataFrame:
    """One row per pair CRAB marks in this round, with the numbers behind the decision.

    Parameters
    ----------
    snap : CorrelationSnapshot
        A round's snapshot.
    names : sequence of str
        Label names.

    Returns
    -------
    pandas.DataFrame
        Columns ``kind`` (asymmetric / mutually exclusive), ``label m``, ``label n``, ``A[m,n]``,
        ``A[n,m]``, ``z(A[m,n])``, ``NegA[m,n]``, ``NegA[n,m]``, ``count m``, ``count n``, ``meaning``.
    """
    rows = []
    A, N, c = snap.A, snap.NegA, snap.counts
    for m, n in snap.asymmetric_pairs:
        rows.append({
            "kind": "asymmetric", "label m": names[m], "label n": names[n],
            "meaning": f"CRAB reads it as '{names[n]} implies {names[m]}' (P({names[m]} | {names[n]}) = {A[m, n]:.2f} > "
                       f"P({names[n]} | {names[m]}) = {A[n, m]:.2f}); by default it keeps {names[n]} and "
                       f"drops {names[m]} from its label-wise pool (asymmetric_keep='implied' drops "
                       f"{names[n]})",
            "A[m,n]": A[m, n], "A[n,m]": A[n, m], "z(A[m,n])": snap.z[m, n],
            "NegA[m,n]": N[m, n], "NegA[n,m]": N[n, m], "count m": int(c[m]), "count n": int(c[n]),
        })
    for m, n in snap.exclusive_pairs:
        rows.append({
            "kind": "mutually exclusive", "label m": names[m], "label n": names[n],
            "meaning": f"{names[m]} and {names[n]} rarely occur together (P(not {names[m]} | {names[n]}) = "
                       f"{N[m, n]:.2f} and P(not {names[n]} | {names[m]}) = {N[n, m]:.2f}, both >= tau = {snap.tau:.2f})",
            "A[m,n]": A[m, n], "A[n,m]": A[n, m], "z(A[m,n])": snap.z[m, n],
            "NegA[m,n]": N[m, n], "NegA[n,m]": N[n, m], "count m": int(c[m]), "count n": int(c[n]),
        })
    cols = ["kind", "label m", "label n", "A[m,n]", "A[n,m]", "z(A[m,n])", "NegA[m,n]", "NegA[n,m]", "count m",
            "count n", "meaning"]
    return pd.DataFrame(rows, columns=cols)


def _pair_set(pairs) -> set[tuple[int, int]]:
    return {(int(m), int(n)) for m, n in np.asarray(pairs).reshape(-1, 2)}


def correlation_change(before: CorrelationSnapshot, after: CorrelationSnapshot) -> dict:
    """What changed from ``before`` to ``after``.

    Parameters
    ----------
    before, after : CorrelationSnapshot
        Two rounds' snapshots.

    Returns
    -------
    dict
        ``dA``, ``dNegA`` (after - before), ``drift_A``, ``drift_NegA`` (mean absolute change of the
        off-diagonal, :func:`mlal_core.correlation.correlation_drift`), ``new_asymmetric``,
        ``gone_asymmetric``, ``new_exclusive``, ``gone_exclusive`` (pairs CRAB marks in one round but
        not the other) and ``newly_seen`` (labels with a first positive).
    """
    a0, a1 = _pair_set(before.asymmetric_pairs), _pair_set(after.asymmetric_pairs)
    e0, e1 = _pair_set(before.exclusive_pairs), _pair_set(after.exclusive_pairs)

    def arr(s):
        return np.asarray(sorted(s), dtype=np.int64).reshape(-1, 2)

    return {
        "dA": after.A - before.A,
        "dNegA": after.NegA - before.NegA,
        "drift_A": correlation.correlation_drift(before.A, after.A),
        "drift_NegA": correlation.correlation_drift(before.NegA, after.NegA),
        "new_asymmetric": arr(a1 - a0),
        "gone_asymmetric": arr(a0 - a1),
        "new_exclusive": arr(e1 - e0),
        "gone_exclusive": arr(e0 - e1),
        "newly_seen": np.flatnonzero((after.counts > 0) & (before.counts == 0)),
    }


def correlation_by_round(session: ActiveLearningSession,
                         snapshot: Callable[[int], CorrelationSnapshot] | None = None) -> pd.DataFrame:
    """One row per labelled set ``L_t``: how the label correlations evolve.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    snapshot : callable, optional
        ``snapshot(t) -> CorrelationSnapshot`` (default :func:`correlation_at`; the app passes its
        cached one).

    Returns
    -------
    pandas.DataFrame
        Columns ``round``, ``n_labeled``, ``corr_avg``, ``drift_A`` (mean absolute change of the
        off-diagonal A from ``L_{t-1}``, NaN for t = 0), ``asymmetric_pairs``, ``exclusive_pairs``
        (their numbers) and ``tau``.
    """
    snap = snapshot or (lambda r: correlation_at(session, r))
    rows, prev = [], None
    for r in labelled_rounds(session):
        cur = snap(r)
        rows.append({"round": r, "n_labeled": cur.n_labeled, "corr_avg": cur.corr_avg,
                     "drift_A": np.nan if prev is None else correlation.correlation_drift(prev.A, cur.A),
                     "asymmetric_pairs": len(cur.asymmetric_pairs), "exclusive_pairs": len(cur.exclusive_pairs),
                     "tau": cur.tau})
        prev = cur
    return pd.DataFrame(rows, columns=["round", "n_labeled", "corr_avg", "drift_A", "asymmetric_pairs",
                                       "exclusive_pairs", "tau"])


def display_order(names: Sequence[str], counts: np.ndarray, *, by: str = "frequency", top_k: int | None = None,
                  only: Sequence[int] | None = None, hide_unseen: bool = False, matrix=None) -> np.ndarray:
    """Label positions to show, in display order (large K: sort, keep the top k, filter).

    Parameters
    ----------
    names : sequence of str
        Label names.
    counts : numpy.ndarray
        ``(K,)`` positives per label.
    by : {"frequency", "name", "index", "cluster"}, default "frequency"
        The order (``"cluster"`` needs ``matrix``).
    top_k : int, optional
        Keep the ``top_k`` most frequent labels.
    only : sequence of int, optional
        Keep only these labels.
    hide_unseen : bool, default False
        Drop labels with no positive.
    matrix : array-like, optional
        ``(K, K)`` matrix the ``"cluster"`` order clusters.

    Returns
    -------
    numpy.ndarray
        Label indices; at least one label is always returned.
    """
    from mlal_core.viz.labels import label_order

    counts = np.asarray(counts, dtype=float)
    k = len(names)
    keep = np.ones(k, dtype=bool)
    if only is not None and len(only):
        keep[:] = False
        keep[np.asarray(list(only), dtype=np.int64)] = True
    if hide_unseen:
        keep &= counts > 0
    if not keep.any():
        keep[int(np.argmax(counts))] = True
    idx = np.flatnonzero(keep)
    if top_k is not None and top_k < idx.size:
        idx = np.sort(idx[np.lexsort((idx, -counts[idx]))[: int(top_k)]])
    sub_names = [names[int(i)] for i in idx]
    sub_matrix = None if matrix is None else np.asarray(matrix, float)[np.ix_(idx, idx)]
    order = label_order(sub_names, counts[idx], by=by, matrix=sub_matrix if by == "cluster" else None)
    return idx[order]


# ====================================================================== per-round quantities
def per_round_frame(session: ActiveLearningSession) -> pd.DataFrame:
    """One row per query round: the quantities of CRAB Fig. 4 and 5.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).

    Returns
    -------
    pandas.DataFrame
        Columns ``round``, ``n_labeled``, ``n_selected``, ``mean_ir_selected`` (MeanIR of the
        selected batch), ``hard_to_learn_count`` and ``conflicting_count`` (in the unlabelled pool),
        ``label_coverage`` (after the round), ``n_exclusive_pairs``, ``n_unlabeled``, ``n_candidates``,
        where the strategy's details record them (CRAB), ``selected_hard_to_learn`` /
        ``selected_conflicting`` (how many of the picks were; NaN otherwise), and the coverage-aware
        balance figures of :func:`round_balance`: ``batch_coverage`` (fraction of the labels with a
        positive in the batch) and ``labelled_entropy`` (normalised entropy of the labelled set's label
        counts over all labels after the round, :func:`mlal_core.stats.label_entropy`).
    """
    recs = query_records(session)
    cols = ["round", "n_labeled", "n_selected", "mean_ir_selected", "hard_to_learn_count",
            "conflicting_count", "label_coverage", "n_exclusive_pairs", "n_unlabeled", "n_candidates",
            "selected_hard_to_learn", "selected_conflicting"]
    if not recs:
        return pd.DataFrame(columns=cols)
    df = tables.rounds_frame(recs)
    out = df.reindex(columns=[c for c in cols if c in df.columns]).copy()
    for name in ("hard_to_learn", "conflicting"):
        vals = []
        for rec in recs:
            det = rec.selection.details if rec.selection is not None else None
            if det is not None and name in det.columns:
                vals.append(float(pd.to_numeric(det[name], errors="coerce").fillna(0).astype(bool).sum()))
            else:
                vals.append(np.nan)
        out[f"selected_{name}"] = vals
    for c in ("mean_ir_selected", "label_coverage"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    cov, ent = stats.balance_by_batch(getattr(session, "initial_labels", None), [r.labels for r in recs])
    out["batch_coverage"] = cov
    out["labelled_entropy"] = ent
    return out.reset_index(drop=True)


#: the columns of :func:`balance_frame` and their names in tables and figures
BALANCE_NAMES = {
    "mean_ir_selected": "MeanIR of the batch",
    "batch_coverage": "label coverage of the batch",
    "label_coverage": "label coverage of L",
    "labelled_entropy": "evenness of L",
}


def balance_frame(session: ActiveLearningSession) -> pd.DataFrame:
    """One row per query round: MeanIR of the batch beside the coverage-aware balance figures.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).

    Returns
    -------
    pandas.DataFrame
        ``round``, ``n_labeled`` and the columns of :data:`BALANCE_NAMES` (:func:`round_balance`).
    """
    frame = per_round_frame(session)
    return frame.reindex(columns=["round", "n_labeled", *BALANCE_NAMES]).reset_index(drop=True)


def round_balance(session: ActiveLearningSession, index: int) -> dict[str, float]:
    """The balance of record ``index`` of the history: MeanIR of the batch beside coverage-aware figures.

    MeanIR (:func:`mlal_core.stats.mean_ir`) counts only the labels the batch contains, so a batch
    that covers few labels looks balanced; the coverages and the labelled set's evenness say how many
    labels the picks reach.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    index : int
        A position in ``session.history`` (the final record included: it has no batch).

    Returns
    -------
    dict
        ``mean_ir_selected`` (the record's), ``batch_coverage`` (:func:`mlal_core.stats.label_coverage`
        of the batch's oracle labels; NaN without a batch), ``label_coverage`` (of the labelled set after
        the record, the record's own) and ``labelled_entropy`` (:func:`mlal_core.stats.label_entropy` of
        the labelled set after the record: the initial set plus every batch up to it; NaN when the
        initial labels are not known).
    """
    records = session.history[: int(index) + 1]
    rec = records[-1]
    cov, ent = stats.balance_by_batch(getattr(session, "initial_labels", None), [r.labels for r in records])
    return {"mean_ir_selected": float(rec.mean_ir_selected), "batch_coverage": float(cov[-1]),
            "label_coverage": float(rec.label_coverage), "labelled_entropy": float(ent[-1])}


def round_candidates(session: ActiveLearningSession, t: int) -> np.ndarray:
    """Pool positions of the candidates of record ``t``, aligned with ``selection.scores``.

    The unlabelled pool before the round (ascending), or the seeded candidate subset the loop drew
    (``config.candidate_subset``), rebuilt exactly as
    :meth:`~mlal_core.session.loop.ActiveLearningSession.propose` does.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.

    Returns
    -------
    numpy.ndarray
        int64 pool positions.
    """
    rec = _record(session, t)
    lab, _ = labelled_at(session, t)
    mask = np.ones(session.n_pool, dtype=bool)
    mask[lab] = False
    unl = np.flatnonzero(mask).astype(np.int64)
    cfg = session.config
    if cfg.candidate_subset is not None and cfg.candidate_subset < unl.size:
        sub_rng = np.random.default_rng([cfg.seed, int(rec.round), 1])
        unl = np.sort(sub_rng.choice(unl, size=cfg.candidate_subset, replace=False))
    return unl


def _round_scores(session: ActiveLearningSession, t: int) -> tuple[np.ndarray, np.ndarray]:
    """``(candidates, scores)`` of record ``t``; scores NaN-filled when the record has none."""
    rec = _record(session, t)
    cand = round_candidates(session, t)
    scores = np.asarray(rec.selection.scores if rec.selection is not None else [], dtype=float).reshape(-1)
    if scores.size != cand.size:
        scores = np.full(cand.size, np.nan)
    return cand, scores


def round_scores(session: ActiveLearningSession, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of record ``t`` and the strategy's scores, aligned.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        ``(candidates, scores)``: ascending pool positions (:func:`round_candidates`) and float scores
        (NaN where a candidate was not scored; all NaN when the record holds no scores over them).

    Raises
    ------
    ConfigError
        When record ``t`` made no query.
    """
    return _round_scores(session, t)


def ranked_among(session: ActiveLearningSession, t: int) -> dict[str, Any]:
    """The set record ``t``'s scores rank over, in words: every percentile and rank names it.

    CRAB scores only its refined pool U* (the other unlabelled samples get no score), a candidate
    subset scores only the drawn candidates, other strategies score every unlabelled sample.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.

    Returns
    -------
    dict
        ``set``: short name of the set (``"U*"``, ``"the unlabelled pool"``, ``"the candidate subset"``,
        ``"the scored candidates"``; ``""`` when the round has no finite score); ``words``: the set
        with its sizes, to follow "rank 3 of" (``"the 40 samples of U* (CRAB's refined candidate pool;
        219 unlabelled samples in all)"``, ``"the 219 unlabelled samples"``); ``n_scored``,
        ``n_candidates``, ``n_unlabeled``: the sizes.

    Raises
    ------
    ConfigError
        When record ``t`` made no query.
    """
    rec = _record(session, t)
    cand, scores = _round_scores(session, t)
    n_scored = int(np.isfinite(scores).sum())
    n_unl = int(rec.n_unlabeled) or int(cand.size)
    diag = rec.selection.diagnostics if rec.selection is not None else {}
    refined = diag.get("refined_pool") if isinstance(diag, dict) else None
    if n_scored == 0:
        name, words = "", "no scored sample (this round has no per-sample score)"
    elif refined is not None and len(refined) == n_scored:
        name = "U*"
        words = (f"the {n_scored:,} samples of U* (CRAB's refined candidate pool; {n_unl:,} unlabelled samples "
                 "in all)")
    elif n_scored == cand.size == n_unl:
        name, words = "the unlabelled pool", f"the {n_unl:,} unlabelled samples"
    elif n_scored == cand.size:
        name = "the candidate subset"
        words = f"the {n_scored:,} candidates (a seeded random subset of the {n_unl:,} unlabelled samples)"
    else:
        name = "the scored candidates"
        words = f"the {n_scored:,} scored candidates (of the {n_unl:,} unlabelled samples)"
    bound = diag.get("score_bound") if isinstance(diag, dict) else None
    if n_scored and isinstance(bound, dict) and bound.get("narrowed"):
        # BESRA / CRAB narrowed by max_score_terms: the others have no score (NaN), never a score of 0
        name = "the scored candidates"
        words = (f"the {n_scored:,} scored candidates: scored {n_scored:,} of {int(bound['n_candidates']):,} "
                 f"candidates (max_score_terms = {int(bound['max_score_terms']):,}), the others have no score")
    return {"set": name, "words": words, "n_scored": n_scored, "n_candidates": int(cand.size),
            "n_unlabeled": n_unl}


def picks_table(session: ActiveLearningSession, t: int) -> pd.DataFrame:
    """The picks of record ``t`` as the Selection inspector shows them.

    Parameters
    ----------
    session : ActiveLearningSession
        A session with at least ``t + 1`` query records.
    t : int
        The round.

    Returns
    -------
    pandas.DataFrame
        :func:`mlal_core.session.tables.picks_table` of the round: ``round``, ``order``,
        ``position``, ``oracle_labels`` (names), ``n_labels``, ``answered_by``, ``score_percentile``
        and ``score_rank`` among the round's scored candidates with ``ranked_among`` (that set in
        words, :func:`ranked_among`), then the strategy's details with label names instead of
        indices (CRAB's ``labels`` column is ``detail_labels``).

    Raises
    ------
    ConfigError
        When record ``t`` made no query.
    """
    rec = _record(session, t)
    details = rec.selection.details if rec.selection is not None else None
    return tables.picks_table(np.asarray(rec.selected), label_names(session), t=rec.round, labels=rec.labels,
                              answered_by=rec.answered_by or "", details=details,
                              candidate_scores=_round_scores(session, t),
                              ranked_among=ranked_among(session, t)["words"])


def pick_explanation(session: ActiveLearningSession, t: int, position: int) -> dict:
    """Why record ``t`` picked pool position ``position``.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.
    position : int
        A pool position that round picked.

    Returns
    -------
    dict
        ``score``, ``percentile`` (percent of the round's scored candidates with a score <= it),
        ``rank`` (1 = highest), ``n_scored`` / ``n_candidates`` / ``n_unlabeled``, the set both are
        over (:func:`ranked_among`): ``scored_set`` (short name, e.g. ``"U*"``), ``ranked_among`` (in
        words), ``percentile_label`` / ``rank_label`` (``"Percentile in U*"``, ``"Rank in U*"``),
        ``rank_text`` (``"1 of the 40 samples of U* (CRAB's refined candidate pool; 219 unlabelled
        samples in all)"``) and ``percentile_text``; ``scores`` (the round's scores, aligned with
        ``candidates``), ``candidate_index`` (its index there), ``picked_mask``, ``details`` (its row
        of :func:`picks_table` as a Series), ``labels`` (names the oracle gave, joined by ", "),
        ``answered_by`` (who the oracle was), ``reason``, ``pools`` (CRAB: the refined pool(s) and
        label(s) it came from) and ``text`` (text sets).

    Raises
    ------
    ConfigError
        When the round made no query or did not pick ``position``.
    """
    rec = _record(session, t)
    position = int(position)
    picked = np.asarray(rec.selected, dtype=np.int64)
    if position not in set(picked.tolist()):
        raise ConfigError(f"Pool position {position} was not picked in round {t}.")
    table = picks_table(session, t)
    row = table.loc[table["position"] == position].iloc[0]
    cand, scores = _round_scores(session, t)
    idx = np.flatnonzero(cand == position)
    ci = int(idx[0]) if idx.size else None
    s = float(scores[ci]) if ci is not None else float("nan")
    texts = getattr(session.dataset.train, "texts", None)
    among = ranked_among(session, t)
    pct = float(row["score_percentile"]) if pd.notna(row["score_percentile"]) else float("nan")
    rank = int(row["score_rank"]) if pd.notna(row["score_rank"]) else None
    where = among["set"] or "the pool"
    return {
        "round": int(rec.round),
        "position": position,
        "order": int(row["order"]),
        "score": s,
        "percentile": pct,
        "rank": rank,
        "n_scored": among["n_scored"],
        "n_candidates": among["n_candidates"],
        "n_unlabeled": among["n_unlabeled"],
        "scored_set": among["set"],
        "ranked_among": among["words"],
        "percentile_label": f"Percentile in {where}",
        "rank_label": f"Rank in {where}",
        "rank_text": "n/a" if rank is None else f"{rank} of {among['words']}",
        "percentile_text": "n/a" if not np.isfinite(pct) else f"{pct:.1f} over {among['words']}",
        "candidates": cand,
        "scores": scores,
        "candidate_index": ci,
        "picked_mask": np.isin(cand, picked),
        "details": row,
        "labels": str(row.get("oracle_labels", "")),
        "answered_by": rec.answered_by,
        "reason": str(row.get("reason", "")),
        "pools": str(row.get("pools", "")) if "pools" in row.index else "",
        "text": None if texts is None else str(texts[position]),
    }


def comal_k_profile(session: ActiveLearningSession, t: int, position: int) -> pd.DataFrame | None:
    """CoMAL: ``k_j(x) = cos(z_j(x), p_j)`` of one pick against ``kbar_j``, per label.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round of a CoMAL session.
    position : int
        A pool position whose embeddings the round kept.

    Returns
    -------
    pandas.DataFrame or None
        One row per label: ``label``, ``k``, ``kbar``, ``above_kbar``, ``predicted`` (its (pseudo)
        label), ``has_prototype``, ``PFD term``; None when the round has no such data.
    """
    rec = _record(session, t)
    diag = rec.selection.diagnostics if rec.selection is not None else {}
    emb = diag.get("embeddings") if isinstance(diag, dict) else None
    if not emb or "kbar" not in diag:
        return None
    pos = np.asarray(emb["positions"], dtype=np.int64)
    hit = np.flatnonzero(pos == int(position))
    if not hit.size:
        return None
    i = int(hit[0])
    names = label_names(session)
    k = np.asarray(emb["k"], dtype=float)[i]
    y = np.asarray(emb["y"])[i].astype(bool)
    kbar = np.asarray(diag["kbar"], dtype=float)
    has = np.asarray(diag.get("has_prototype", np.ones_like(kbar, bool)), dtype=bool)
    return pd.DataFrame({"label": names, "k": k, "kbar": kbar, "above_kbar": k > kbar,
                         "predicted": y, "has_prototype": has,
                         "PFD term": np.where(y, 1.0 - k, 0.0)})


def pick_prediction(state: RoundState, position: int, names: Sequence[str], top_k: int = 5) -> str:
    """The round model's most probable labels for one pool sample.

    Parameters
    ----------
    state : RoundState
        The round's state (:func:`round_state`).
    position : int
        A pool position.
    names : sequence of str
        Label names.
    top_k : int, default 5
        How many labels.

    Returns
    -------
    str
        ``"earn 0.93, acq 0.41, ..."``: mean probability over the members / passes.
    """
    pbar = state.context.mean_proba(np.asarray([int(position)], dtype=np.int64))[0]
    return tables.predicted_string(pbar, names, top_k)


# ====================================================================== the round's model state
@dataclass(kw_only=True)
class RoundState:
    """The context (model, predictions, candidates, rng seed) of record ``t``."""

    round: int
    context: QueryContext
    model: Any
    n: int                      # the round's query size
    source: str                 # "memory" (kept from the live run) or "replayed"
    reproduced: bool | None     # replay picked the recorded samples (None: not checked)
    seconds: float = 0.0

    def fresh_context(self) -> QueryContext:
        """A shallow copy of the context with a fresh copy of the round's rng.

        The session's strategy drew from ``np.random.default_rng([seed, t])``; each strategy run on the
        copy draws the same numbers.

        Returns
        -------
        QueryContext
        """
        return dataclasses.replace(self.context, rng=np.random.default_rng(self._seed_seq))

    _seed_seq: list = field(default_factory=list, repr=False)


#: per session, the rounds' contexts in memory: round -> (context, model, n_labeled, source[, reproduced]);
#: weak keys, so a session that is dropped takes its contexts (and models) with it
_MEMORY = PerSessionMemory()


def _memory(session: ActiveLearningSession) -> OrderedDict:
    return _MEMORY.of(session)


def _keep_count(session: ActiveLearningSession) -> int:
    """How many rounds the session's :class:`ContextKeeper` keeps (:data:`DEFAULT_KEEP` without one)."""
    keepers = [f for f in session.proposal_listeners if isinstance(f, ContextKeeper)]
    return keepers[-1].max_rounds if keepers else DEFAULT_KEEP


def _remember(session: ActiveLearningSession, t: int, item: tuple, keep: int) -> None:
    mem = _memory(session)
    mem[int(t)] = item
    mem.move_to_end(int(t))
    while len(mem) > max(int(keep), 0):
        mem.popitem(last=False)


class ContextKeeper:
    """A proposal listener that keeps the context and model of the last proposed rounds in memory.

    Registered in ``session.proposal_listeners`` by :func:`keep_contexts`; the session calls it as
    ``keeper(session, pending)`` after each ``propose`` (``step`` and ``run`` propose too). It holds
    no session and no context itself (they are kept per session in this module, weakly), so it
    pickles with the session.

    Parameters
    ----------
    max_rounds : int, default DEFAULT_KEEP
        How many of the most recent rounds to keep.
    """

    def __init__(self, max_rounds: int = DEFAULT_KEEP) -> None:
        self.max_rounds = int(max_rounds)

    def __call__(self, session: ActiveLearningSession, pending: PendingRound) -> None:
        """Remember ``pending``'s context and model as round ``pending.round`` of ``session``."""
        if pending.context is not None:
            _remember(session, pending.round,
                      (pending.context, pending.model, len(pending.context.labeled), "memory"), self.max_rounds)

    def __repr__(self) -> str:
        return f"ContextKeeper(max_rounds={self.max_rounds})"


def keep_contexts(session: ActiveLearningSession, max_rounds: int = DEFAULT_KEEP) -> ActiveLearningSession:
    """Keep the context and model of the last ``max_rounds`` proposed rounds of a live session in
    memory, so :func:`round_state` need not replay them.

    Registers a :class:`ContextKeeper` in ``session.proposal_listeners`` (once: a second call only
    changes ``max_rounds``). A kept context is only returned for round ``t`` while its labelled set
    is unchanged (its size is checked against the record's).

    Parameters
    ----------
    session : ActiveLearningSession
        A live session.
    max_rounds : int, default DEFAULT_KEEP
        How many of the most recent rounds to keep.

    Returns
    -------
    ActiveLearningSession
        ``session`` itself.
    """
    for listener in session.proposal_listeners:
        if isinstance(listener, ContextKeeper):
            listener.max_rounds = int(max_rounds)
            return session
    session.proposal_listeners.append(ContextKeeper(max_rounds))
    return session


def forget_contexts(session: ActiveLearningSession) -> None:
    """Drop every round context (and model) kept in memory for ``session``; the next
    :func:`round_state` replays. A registered :class:`ContextKeeper` keeps listening.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    """
    _memory(session).clear()


def cached_state(session: ActiveLearningSession, t: int) -> RoundState | None:
    """Record ``t``'s context when it is in memory (kept live or replayed before); never trains.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        The round.

    Returns
    -------
    RoundState or None
        As :func:`round_state`; None when the round is not in memory (or made no query).
    """
    recs = query_records(session)
    if not 0 <= int(t) < len(recs):
        return None
    rec = recs[int(t)]
    hit = _memory(session).get(int(rec.round))
    if hit is None or hit[2] != rec.n_labeled:
        return None
    return round_state(session, t)


def round_state(session: ActiveLearningSession, t: int, *, verify: bool = True,
                progress: Progress | None = None) -> RoundState:
    """The context of record ``t``: from memory when the live session kept it, else replayed.

    Replaying (:meth:`~mlal_core.session.loop.ActiveLearningSession.replay_round`) trains the round's
    model (the slow part: seconds, minutes for a text backbone) and re-runs the session's strategy.
    The result is kept in memory (the last :data:`DEFAULT_KEEP` rounds per session, or what
    :func:`keep_contexts` set).

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.
    verify : bool, default True
        Compare the replay's picks with the recorded ones (``RoundState.reproduced``).
    progress : callable, optional
        ``progress(done, total, message)``, told of the replay as the loop reports it.

    Returns
    -------
    RoundState
        ``source`` is ``"memory"`` or ``"replayed"``; ``seconds`` what the replay took.

    Raises
    ------
    ConfigError
        When the round made no query.
    """
    rec = _record(session, t)
    t = int(rec.round)
    seed_seq = [int(session.config.seed), t]
    recorded = np.asarray(rec.selected, dtype=np.int64)
    mem = _memory(session)
    hit = mem.get(t)
    if hit is not None and hit[2] == rec.n_labeled:
        ctx, model, _, source = hit[:4]
        reproduced = True if source == "memory" else (hit[4] if len(hit) > 4 else None)
        mem.move_to_end(t)
        return RoundState(round=t, context=ctx, model=model, n=len(recorded), source=source, reproduced=reproduced,
                          _seed_seq=seed_seq)
    t0 = time.perf_counter()
    pending = session.replay_round(t, progress)
    seconds = time.perf_counter() - t0
    if pending.context is None or pending.selected is None:  # pragma: no cover - replay_round refuses final records
        raise ConfigError(f"Round {t} queried nothing when replayed.")
    reproduced = None
    if verify:
        reproduced = bool(np.array_equal(np.sort(pending.selected), np.sort(recorded)))
    _remember(session, t, (pending.context, pending.model, rec.n_labeled, "replayed", reproduced),
              _keep_count(session))
    return RoundState(round=t, context=pending.context, model=pending.model, n=len(recorded), source="replayed",
                      reproduced=reproduced, seconds=seconds, _seed_seq=seed_seq)


# ====================================================================== other strategies, same model
def strategy_choices(session: ActiveLearningSession) -> list[tuple[str, str, str]]:
    """Every registered strategy, and whether it can run on this session's rounds.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).

    Returns
    -------
    list of (str, str, str)
        ``(name, display name, why not)``; ``why not`` is empty when the strategy can run (text-only
        strategies need a text dataset).
    """
    from mlal_core import strategies

    has_texts = getattr(session.dataset.train, "texts", None) is not None
    out = []
    for info in strategies.available():
        why = "" if ("texts" not in info.needs or has_texts) else "needs raw texts (this is a tabular dataset)"
        out.append((info.name, info.display_name, why))
    return out


@dataclass(kw_only=True)
class StrategyComparison:
    """Picks of several strategies on one round's context and their pairwise overlap."""

    round: int
    n: int
    picks: dict[str, np.ndarray]          # strategy -> pool positions picked
    selections: dict[str, Selection]
    jaccard: pd.DataFrame                 # strategies x strategies (and "recorded" when given)
    summary: pd.DataFrame                 # one row per strategy: seconds, overlap with recorded, error
    errors: dict[str, str]
    source: str = ""
    reproduced: bool | None = None

    def picks_frame(self) -> pd.DataFrame:
        """The picks of every strategy in one long table.

        Returns
        -------
        pandas.DataFrame
            Columns ``strategy``, ``order`` (1 = picked first), ``position``.
        """
        rows = [{"strategy": s, "order": i + 1, "position": int(p)}
                for s, pos in self.picks.items() for i, p in enumerate(pos)]
        return pd.DataFrame(rows, columns=["strategy", "order", "position"])


def _params_for(session: ActiveLearningSession, name: str, params: dict | None) -> dict:
    if params and name in params:
        return dict(params[name])
    return dict(session.config.strategy_params) if name == session.config.strategy else {}


def compare_strategies(session: ActiveLearningSession, t: int, names: Sequence[str], *,
                       params: dict[str, dict] | None = None, progress: Progress | None = None,
                       state: RoundState | None = None, include_recorded: bool = True) -> StrategyComparison:
    """Run several strategies on record ``t``'s context (one model state, see :func:`round_state`).

    Each strategy gets the round's query size and a fresh copy of the round's rng. A strategy that
    fails is reported in ``errors`` and left out of the overlap.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.
    names : sequence of str
        Strategy names (duplicates dropped).
    params : dict of str to dict, optional
        Parameters by strategy name (default: the session's parameters for its own strategy,
        defaults otherwise).
    progress : callable, optional
        ``progress(done, total, message)``: each strategy and, while the round's model is being
        rebuilt, the training's own progress.
    state : RoundState, optional
        The round's state when the caller has it (no rebuild).
    include_recorded : bool, default True
        Add the session's recorded picks as a row "recorded (<strategy>)".

    Returns
    -------
    StrategyComparison

    Raises
    ------
    ConfigError
        When ``names`` is empty or the round made no query.
    """
    from mlal_core import strategies
    from mlal_core.viz import jaccard_matrix

    names = list(dict.fromkeys(str(s) for s in names))
    if not names:
        raise ConfigError("Choose at least one strategy to compare.")
    rec = _record(session, t)
    total = len(names) + (1 if state is None else 0)
    done = 0
    if state is None:
        rebuild = None
        if progress:
            progress(0, total, f"rebuilding round {rec.round}'s model (training it on {labelled_set_name(rec.round)})")

            def rebuild(d: int, n: int, message: str) -> None:
                progress(d, n, f"rebuilding round {rec.round}'s model: {message}")

        state = round_state(session, t, progress=rebuild)
        done = 1
    picks: dict[str, np.ndarray] = {}
    selections: dict[str, Selection] = {}
    errors: dict[str, str] = {}
    rows = []
    for name in names:
        if progress:
            progress(done, total, f"running {name}")
        t0 = time.perf_counter()
        try:
            strat = strategies.get(name, **_params_for(session, name, params))
            sel = strat.select(state.fresh_context(), state.n)
            picks[name] = np.asarray(sel.indices, dtype=np.int64)
            selections[name] = sel
            err = ""
        except Exception as exc:  # noqa: BLE001 - a strategy that cannot run here must not hide the others
            err = f"{type(exc).__name__}: {exc}"
            errors[name] = err
        secs = time.perf_counter() - t0
        rows.append({"strategy": name, "seconds": secs, "n_picked": len(picks.get(name, [])), "error": err})
        done += 1
    if progress:
        progress(total, total, "done")
    recorded = np.asarray(rec.selected, dtype=np.int64)
    sets: dict[str, Any] = dict(picks)
    rec_name = f"recorded ({session.config.strategy})"
    if include_recorded:
        sets = {rec_name: recorded, **sets}
    jac = jaccard_matrix(sets) if sets else pd.DataFrame()
    summary = pd.DataFrame(rows)
    summary["jaccard_with_recorded"] = [
        float(jac.loc[rec_name, r]) if include_recorded and r in jac.columns else np.nan for r in summary["strategy"]
    ]
    summary["shared_with_recorded"] = [
        int(np.intersect1d(picks[r], recorded).size) if r in picks else 0 for r in summary["strategy"]
    ]
    return StrategyComparison(round=int(rec.round), n=int(state.n), picks=picks, selections=selections, jaccard=jac,
                              summary=summary, errors=errors, source=state.source, reproduced=state.reproduced)


# ====================================================================== UI events -> picks
def position_from_table_event(event: Any, positions: Sequence[int]) -> int | None:
    """The pool position of the row selected in a picks table, else None.

    Parameters
    ----------
    event : Any
        A Streamlit dataframe selection event ``{"selection": {"rows": [i], ...}}``.
    positions : sequence of int
        The table's pool positions, by row.

    Returns
    -------
    int or None
    """
    try:
        rows = event["selection"]["rows"]
    except (KeyError, TypeError, IndexError):
        return None
    if not rows:
        return None
    i = int(rows[0])
    return int(positions[i]) if 0 <= i < len(positions) else None


def position_from_chart_event(event: Any, candidates: np.ndarray, positions: Sequence[int]) -> int | None:
    """The picked pool position clicked in a score-distribution chart, else None.

    The chart's points carry the candidate index as ``customdata`` (see
    :func:`mlal_core.viz.score_distribution`); points that are not picks (e.g. histogram bars) are
    ignored.

    Parameters
    ----------
    event : Any
        A plotly selection event from Streamlit.
    candidates : numpy.ndarray
        The round's candidates (:func:`round_candidates`).
    positions : sequence of int
        The round's picks.

    Returns
    -------
    int or None
    """
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError, IndexError):
        return None
    picked = {int(p) for p in positions}
    for p in points or []:
        cd = p.get("customdata") if isinstance(p, dict) else None
        if isinstance(cd, (list, tuple)) and len(cd) == 1:
            cd = cd[0]
        if isinstance(cd, (int, float, np.integer, np.floating)) and not isinstance(cd, bool) and float(cd).is_integer():
            i = int(cd)
            if 0 <= i < len(candidates) and int(candidates[i]) in picked:
                return int(candidates[i])
    return None
