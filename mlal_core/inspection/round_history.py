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

* a live session watched by :func:`keep_contexts` keeps the last few rounds' contexts in memory;
* otherwise the round is **replayed with the loop itself**: a throw-away session restored to the
  first ``t`` records calls ``propose()``, which trains the round's model (cold start, seed
  ``seed + t``, deterministic) and rebuilds the context exactly as the session did. It also re-runs
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
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlal_core import correlation
from mlal_core.errors import ConfigError
from mlal_core.session import tables

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.session.loop import ActiveLearningSession, PendingRound, RoundRecord
    from mlal_core.strategies.base import QueryContext, Selection

Progress = Callable[[int, int, str], None]

#: how many rounds' contexts :func:`keep_contexts` / :func:`round_state` keep per session
DEFAULT_KEEP = 2

__all__ = [
    "CorrelationSnapshot",
    "RoundState",
    "StrategyComparison",
    "both_directions",
    "cached_state",
    "comal_k_profile",
    "compare_strategies",
    "correlation_at",
    "correlation_by_round",
    "correlation_change",
    "crab_marks",
    "display_order",
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
    "query_records",
    "round_candidates",
    "round_state",
    "session_key",
    "snapshot_from_labels",
    "strategy_choices",
]


# ====================================================================== basics
def session_key(session: ActiveLearningSession) -> str:
    """A cache key for the session's current state: its store id (or object id) and history length."""
    sid = session.session_id or f"mem{id(session):x}"
    return f"{sid}:{len(session.history)}"


def label_names(session: ActiveLearningSession) -> list[str]:
    names = list(getattr(session.dataset, "label_names", []) or [])
    if len(names) != session.n_labels:
        names = [f"label {j}" for j in range(session.n_labels)]
    return [str(s) for s in names]


def query_records(session: ActiveLearningSession) -> list[RoundRecord]:
    """The records that queried something (not the final one), in round order."""
    return [rec for rec in session.history if not rec.final]


def labelled_rounds(session: ActiveLearningSession) -> list[int]:
    """Rounds ``t`` whose labelled set ``L_t`` exists: ``0 .. number of query records``.

    ``t = len(query_records)`` is the labelled set after the last pick (the final record's set of a
    finished session, the set the next round will train on otherwise).
    """
    return list(range(len(query_records(session)) + 1))


def _check_round(session: ActiveLearningSession, t: int) -> int:
    rounds = labelled_rounds(session)
    t = int(t)
    if t not in rounds:
        raise ConfigError(f"Round {t} has no labelled set in this session; choose a round in 0..{rounds[-1]}.")
    return t


def labelled_at(session: ActiveLearningSession, t: int) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, Y)`` of ``L_t``: the initial set plus the picks (and the oracle's answers) of
    records ``0 .. t-1``, in the order they were labelled."""
    t = _check_round(session, t)
    recs = query_records(session)[:t]
    pos = [np.asarray(session.initial_positions, dtype=np.int64)]
    ys = [np.asarray(session.initial_labels, dtype=np.uint8)]
    for rec in recs:
        pos.append(np.asarray(rec.selected, dtype=np.int64))
        ys.append(np.asarray(rec.labels, dtype=np.uint8).reshape(len(rec.selected), session.n_labels))
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


# ====================================================================== correlations
@dataclass
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
        return self.counts > 0

    @property
    def dropped_labels(self) -> np.ndarray:
        """Labels CRAB leaves out of its label-wise pool (the n of each asymmetric pair (m, n))."""
        return np.unique(self.asymmetric_pairs[:, 1]) if len(self.asymmetric_pairs) else np.empty(0, np.int64)


def correlation_at(session: ActiveLearningSession, t: int) -> CorrelationSnapshot:
    """A, NegA and CRAB's thresholds of the labelled set ``L_t`` (cheap: one sparse product)."""
    from mlal_core.strategies.bemps_family import ASYMMETRY_Z, EXCLUSIVE_MIN_COUNT

    _, Y = labelled_at(session, t)
    return snapshot_from_labels(Y, t, z_threshold=ASYMMETRY_Z, min_count=EXCLUSIVE_MIN_COUNT)


def snapshot_from_labels(Y, t: int = 0, *, z_threshold: float | None = None,
                         min_count: int | None = None) -> CorrelationSnapshot:
    """:class:`CorrelationSnapshot` of any label matrix (e.g. the whole pool's ground truth)."""
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
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else pairs


def crab_marks(snap: CorrelationSnapshot, which: Sequence[str] = ("asymmetric", "exclusive")) -> dict:
    """``marked_pairs`` for :func:`mlal_core.viz.correlation_heatmap`: CRAB's asymmetric pairs
    (cell (m, n): n implies m) and its mutually exclusive pairs (both cells (m, n) and (n, m))."""
    out = {}
    if "asymmetric" in which:
        out[f"asymmetric: z(A) > {snap.z_threshold:g} and A[m,n] > A[n,m]"] = snap.asymmetric_pairs
    if "exclusive" in which:
        tau = "nan" if not np.isfinite(snap.tau) else f"{snap.tau:.2f}"
        out[f"mutually exclusive (both cells of a pair): NegA >= tau = {tau}"] = both_directions(snap.exclusive_pairs)
    return out


def pairs_table(snap: CorrelationSnapshot, names: Sequence[str]) -> pd.DataFrame:
    """One row per pair CRAB marks in this round, with the numbers behind the decision."""
    rows = []
    A, N, c = snap.A, snap.NegA, snap.counts
    for m, n in snap.asymmetric_pairs:
        rows.append({
            "kind": "asymmetric", "label m": names[m], "label n": names[n],
            "meaning": f"CRAB reads it as '{names[n]} implies {names[m]}' (P({names[m]} | {names[n]}) = {A[m, n]:.2f} > "
                       f"P({names[n]} | {names[m]}) = {A[n, m]:.2f}) and drops {names[n]} from its label-wise pool",
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
    """What changed from ``before`` to ``after``: ``dA``, ``dNegA`` (after - before), the mean
    absolute change of the off-diagonal (:func:`correlation.correlation_drift`) and the pairs CRAB
    marks in one round but not the other."""
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
    """One row per labelled set ``L_t``: ``round``, ``n_labeled``, ``corr_avg``, ``drift_A`` (mean
    absolute change of the off-diagonal A from ``L_{t-1}``, NaN for t = 0), the numbers of asymmetric
    and exclusive pairs and ``tau``. ``snapshot(t)`` gives the snapshots (default
    :func:`correlation_at`; the app passes its cached one)."""
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

    ``by``: ``"frequency"`` (in ``counts``), ``"name"``, ``"index"`` or ``"cluster"`` (needs
    ``matrix``); ``top_k`` keeps the most frequent; ``only`` keeps the given labels; ``hide_unseen``
    drops labels with no positive. At least one label is always returned.
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
    sub_names = [names[i] for i in idx]
    sub_matrix = None if matrix is None else np.asarray(matrix, float)[np.ix_(idx, idx)]
    order = label_order(sub_names, counts[idx], by=by, matrix=sub_matrix if by == "cluster" else None)
    return idx[order]


# ====================================================================== per-round quantities
def per_round_frame(session: ActiveLearningSession) -> pd.DataFrame:
    """One row per query round: MeanIR of the selected batch, hard-to-learn and conflicting counts in
    the unlabelled pool (CRAB Fig. 4, 5), label coverage after the round, and, where the strategy's
    details record them (CRAB), how many of the picks were hard-to-learn / conflicting."""
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
    return out.reset_index(drop=True)


def round_candidates(session: ActiveLearningSession, t: int) -> np.ndarray:
    """Pool positions of the candidates of record ``t``, aligned with ``selection.scores``.

    The unlabelled pool before the round (ascending), or the seeded candidate subset the loop drew
    (``config.candidate_subset``), rebuilt exactly as :meth:`ActiveLearningSession.propose` does.
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


def picks_table(session: ActiveLearningSession, t: int) -> pd.DataFrame:
    """The picks of record ``t``: pick order, pool position, the oracle's labels, the score, its
    rank and percentile among the round's scored candidates, and the strategy's details with label
    names instead of indices (:func:`mlal_core.inspection.views.named_details`; CRAB's ``labels`` column is
    ``detail_labels`` here, next to the oracle's ``labels``)."""
    from mlal_core.inspection.views import named_details

    rec = _record(session, t)
    names = label_names(session)
    if rec.selection is not None and rec.selection.details is not None:
        named = named_details(rec.selection.details, names)
        rec = dataclasses.replace(rec, selection=dataclasses.replace(rec.selection, details=named))
    df = tables.picks_frame([rec], names)
    cand, scores = _round_scores(session, t)
    finite = np.isfinite(scores)
    vals = scores[finite]
    pos_to_row = {int(p): i for i, p in enumerate(cand)}
    pct, rank = [], []
    for p in df["position"]:
        i = pos_to_row.get(int(p))
        s = scores[i] if i is not None else np.nan
        if np.isfinite(s) and vals.size:
            pct.append(100.0 * float((vals <= s).mean()))
            rank.append(int((vals > s).sum()) + 1)
        else:
            pct.append(np.nan)
            rank.append(np.nan)
    df.insert(4, "score_percentile", pct)
    df.insert(5, "score_rank", pd.array([pd.NA if isinstance(r, float) else r for r in rank], dtype="Int64"))
    return df


def pick_explanation(session: ActiveLearningSession, t: int, position: int) -> dict:
    """Why record ``t`` picked pool position ``position``.

    Returns ``score``, ``percentile`` (percent of the round's scored candidates with a score <= it),
    ``rank`` (1 = highest), ``n_scored`` / ``n_candidates``, ``scores`` (the round's scores, aligned
    with ``candidates``), ``candidate_index`` (its index there), ``picked_mask``, ``details``
    (its row of :func:`picks_table` as a Series), ``labels`` (names the oracle gave), ``reason``,
    ``pools`` (CRAB: the refined pool(s) and label(s) it came from) and ``text`` (text sets).
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
    finite = np.isfinite(scores)
    texts = getattr(session.dataset.train, "texts", None)
    return {
        "round": int(rec.round),
        "position": position,
        "order": int(row["order"]),
        "score": s,
        "percentile": float(row["score_percentile"]) if pd.notna(row["score_percentile"]) else float("nan"),
        "rank": int(row["score_rank"]) if pd.notna(row["score_rank"]) else None,
        "n_scored": int(finite.sum()),
        "n_candidates": int(cand.size),
        "candidates": cand,
        "scores": scores,
        "candidate_index": ci,
        "picked_mask": np.isin(cand, picked),
        "details": row,
        "labels": str(row.get("labels", "")),
        "reason": str(row.get("reason", "")),
        "pools": str(row.get("pools", "")) if "pools" in row.index else "",
        "text": None if texts is None else str(texts[position]),
    }


def comal_k_profile(session: ActiveLearningSession, t: int, position: int) -> pd.DataFrame | None:
    """CoMAL: for a sample whose embedding the round kept, ``k_j(x) = cos(z_j(x), p_j)`` against
    ``kbar_j`` per label, with its (pseudo) label; None when the round has no such data."""
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
    """The round model's ``top_k`` most probable labels for pool ``position`` with their mean
    probability over the members / passes: ``"earn 0.93, acq 0.41, ..."``."""
    from mlal_core.inspection.views import predicted_string

    pbar = state.context.mean_proba(np.asarray([int(position)], dtype=np.int64))[0]
    return predicted_string(pbar, names, top_k)


# ====================================================================== the round's model state
@dataclass
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
        """A shallow copy with a fresh copy of the round's rng (the session's strategy drew from
        ``np.random.default_rng([seed, t])``)."""
        return dataclasses.replace(self.context, rng=np.random.default_rng(self._seed_seq))

    _seed_seq: list = field(default_factory=list, repr=False)


def _store(session: ActiveLearningSession) -> OrderedDict:
    mem = session.__dict__.get("_inspect_contexts")
    if mem is None:
        mem = OrderedDict()
        session.__dict__["_inspect_contexts"] = mem
    return mem


def _remember(session: ActiveLearningSession, t: int, item: tuple, keep: int) -> None:
    mem = _store(session)
    mem[int(t)] = item
    mem.move_to_end(int(t))
    while len(mem) > max(int(keep), 0):
        mem.popitem(last=False)


def keep_contexts(session: ActiveLearningSession, max_rounds: int = DEFAULT_KEEP) -> ActiveLearningSession:
    """Keep the context and model of the last ``max_rounds`` proposed rounds of a live session in
    memory, so :func:`round_state` need not replay them. Idempotent; returns the session.

    It wraps the session's ``propose`` (``step`` and ``run`` go through it); a context is only
    returned for round ``t`` while its labelled set is unchanged (the token is checked).
    """
    session.__dict__["_inspect_keep"] = int(max_rounds)
    if isinstance(session.__dict__.get("propose"), _KeepingPropose):
        return session
    # an instance attribute shadows the method: step() / run() call self.propose()
    session.propose = _KeepingPropose(session)
    return session


class _KeepingPropose:
    """``session.propose`` that also remembers the proposed round's context (picklable, unlike a closure)."""

    def __init__(self, session: ActiveLearningSession) -> None:
        self.session = session

    def __call__(self, *args, **kwargs):
        session = self.session
        pending = type(session).propose(session, *args, **kwargs)
        if pending.context is not None:
            _remember(session, pending.round, (pending.context, pending.model, len(pending.context.labeled), "memory"),
                      session.__dict__.get("_inspect_keep", DEFAULT_KEEP))
        return pending


def _replay(session: ActiveLearningSession, t: int, progress: Progress | None = None) -> PendingRound:
    """Propose record ``t`` again with the loop itself, from a copy restored to records ``0..t-1``;
    ``progress`` gets the loop's reports (training per epoch, predicting per chunk)."""
    from mlal_core.session.loop import ActiveLearningSession, SessionBudgetWarning

    recs = query_records(session)[:t]
    initial = {"positions": np.asarray(session.initial_positions), "labels": np.asarray(session.initial_labels)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SessionBudgetWarning)
        shadow = ActiveLearningSession(session.config, dataset=session.dataset, features=session.features,
                                       store=None, _restore=(initial, list(recs), None, None))
    return shadow.propose(progress)


def cached_state(session: ActiveLearningSession, t: int) -> RoundState | None:
    """Record ``t``'s context when it is in memory (kept live or replayed before), else None; never
    trains anything."""
    recs = query_records(session)
    if not 0 <= int(t) < len(recs):
        return None
    rec = recs[int(t)]
    hit = _store(session).get(int(rec.round))
    if hit is None or hit[2] != rec.n_labeled:
        return None
    return round_state(session, t)


def round_state(session: ActiveLearningSession, t: int, *, verify: bool = True,
                progress: Progress | None = None) -> RoundState:
    """The context of record ``t``: from memory when the live session kept it, else replayed.

    Replaying trains the round's model (the slow part: seconds, minutes for a text backbone) and
    re-runs the session's strategy; ``progress(done, total, message)`` reports it as the loop does
    (``RoundState.seconds`` is what it took); ``reproduced`` compares those picks with the recorded
    ones. The result is kept in memory (last :data:`DEFAULT_KEEP` rounds per session).
    """
    rec = _record(session, t)
    t = int(rec.round)
    seed_seq = [int(session.config.seed), t]
    mem = _store(session)
    hit = mem.get(t)
    if hit is not None and hit[2] == rec.n_labeled:
        ctx, model, _, source = hit[:4]
        reproduced = True if source == "memory" else (hit[4] if len(hit) > 4 else None)
        mem.move_to_end(t)
        return RoundState(t, ctx, model, len(rec.selected), source, reproduced, 0.0, seed_seq)
    t0 = time.perf_counter()
    pending = _replay(session, t, progress)
    seconds = time.perf_counter() - t0
    reproduced = None
    if verify and pending.selection is not None:
        reproduced = bool(np.array_equal(np.sort(pending.selected), np.sort(np.asarray(rec.selected))))
    keep = session.__dict__.get("_inspect_keep", DEFAULT_KEEP)
    _remember(session, t, (pending.context, pending.model, rec.n_labeled, "replayed", reproduced), keep)
    return RoundState(t, pending.context, pending.model, len(rec.selected), "replayed", reproduced, seconds,
                      seed_seq)


# ====================================================================== other strategies, same model
def strategy_choices(session: ActiveLearningSession) -> list[tuple[str, str, str]]:
    """``(name, display name, why not)`` of every registered strategy; ``why not`` is empty when the
    strategy can run on this session's rounds (text-only strategies need a text dataset)."""
    from mlal_core import strategies

    has_texts = getattr(session.dataset.train, "texts", None) is not None
    out = []
    for info in strategies.available():
        why = "" if ("texts" not in info.needs or has_texts) else "needs raw texts (this is a tabular dataset)"
        out.append((info.name, info.display_name, why))
    return out


@dataclass
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
        """Long table: strategy, pick order, position."""
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
    """Run ``names`` on record ``t``'s context (one model state, see :func:`round_state`) with the
    round's query size; each strategy gets a fresh copy of the round's rng. ``params`` maps a name to
    its parameters (default: the session's parameters for its own strategy, defaults otherwise).
    A strategy that fails is reported in ``errors`` and left out of the overlap.
    ``include_recorded`` adds the session's recorded picks as a row "recorded (<strategy>)".
    ``progress(done, total, message)`` reports each strategy and, while the round's model is being
    rebuilt, the training's own progress (its ``done`` / ``total``).
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
            progress(0, total, f"rebuilding round {rec.round}'s model (training it on L_{rec.round})")

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
    sets = dict(picks)
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
    return StrategyComparison(int(rec.round), int(state.n), picks, selections, jac, summary, errors,
                              state.source, state.reproduced)


# ====================================================================== UI events -> picks
def position_from_table_event(event: Any, positions: Sequence[int]) -> int | None:
    """The pool position of the row selected in a picks table (a Streamlit dataframe selection
    event ``{"selection": {"rows": [i], ...}}``, rows aligned with ``positions``), else None."""
    try:
        rows = event["selection"]["rows"]
    except (KeyError, TypeError, IndexError):
        return None
    if not rows:
        return None
    i = int(rows[0])
    return int(positions[i]) if 0 <= i < len(positions) else None


def position_from_chart_event(event: Any, candidates: np.ndarray, positions: Sequence[int]) -> int | None:
    """The picked pool position clicked in a score-distribution chart (a plotly selection event whose
    points carry the candidate index as ``customdata``, see :func:`mlal_core.viz.score_distribution`),
    else None. Points that are not picks (e.g. histogram bars) are ignored."""
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
