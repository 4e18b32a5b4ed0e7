"""Inspection of a session's history: what the pages "Correlations", "Selection inspector" and
"Embeddings" show, as pure functions of an :class:`~mlal_core.loop.ActiveLearningSession`.

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

from mlal_core import correlation, reporting
from mlal_core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.loop import ActiveLearningSession, PendingRound, RoundRecord
    from mlal_core.strategies.base import QueryContext, Selection

Progress = Callable[[int, int, str], None]

#: how many rounds' contexts :func:`keep_contexts` / :func:`round_state` keep per session
DEFAULT_KEEP = 2

__all__ = [
    "FEATURE_COLOURINGS",
    "CorrelationSnapshot",
    "MapLayers",
    "RoundState",
    "StrategyComparison",
    "both_directions",
    "cached_state",
    "comal_default_label",
    "comal_embeddings",
    "comal_k_profile",
    "comal_label_choices",
    "comal_map",
    "comal_map_rows",
    "comal_rounds",
    "compare_strategies",
    "correlation_at",
    "correlation_by_round",
    "correlation_change",
    "crab_marks",
    "display_order",
    "feature_map_default_label",
    "feature_map_layers",
    "feature_sample",
    "keep_contexts",
    "label_names",
    "labelled_at",
    "labelled_rounds",
    "map_labels",
    "pairs_table",
    "per_round_frame",
    "pick_explanation",
    "pick_prediction",
    "picks_table",
    "position_from_chart_event",
    "position_from_table_event",
    "projection_features",
    "query_records",
    "roles_at",
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
    df = reporting.rounds_frame(recs)
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
    names instead of indices (:func:`mlal_core.views.named_details`; CRAB's ``labels`` column is
    ``detail_labels`` here, next to the oracle's ``labels``)."""
    from mlal_core.views import named_details

    rec = _record(session, t)
    names = label_names(session)
    if rec.selection is not None and rec.selection.details is not None:
        named = named_details(rec.selection.details, names)
        rec = dataclasses.replace(rec, selection=dataclasses.replace(rec.selection, details=named))
    df = reporting.picks_frame([rec], names)
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
    from mlal_core.views import predicted_string

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
    from mlal_core.loop import ActiveLearningSession, SessionBudgetWarning

    recs = query_records(session)[:t]
    initial = {"positions": np.asarray(session.initial_positions), "labels": np.asarray(session.initial_labels)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SessionBudgetWarning)
        shadow = ActiveLearningSession(session.config, dataset=session.dataset, features=session.features,
                                       store=None, _restore=(initial, list(recs), None))
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


# ====================================================================== embeddings
def feature_sample(session: ActiveLearningSession, cap: int = 2000, seed: int = 0) -> np.ndarray:
    """Pool positions to project (ascending): every sample ever labelled or picked in the history,
    then a seeded random fill from the rest, ``cap`` in all (at least the labelled ones). The same
    positions serve every round, so the map stays put while the round slider recolours it."""
    lab, _ = labelled_at(session, labelled_rounds(session)[-1])
    chosen = np.unique(lab)
    n_fill = max(0, min(int(cap), session.n_pool) - chosen.size)
    if n_fill:
        rest = np.setdiff1d(np.arange(session.n_pool), chosen)
        fill = np.random.default_rng([int(seed), 7]).choice(rest, size=min(n_fill, rest.size), replace=False)
        chosen = np.union1d(chosen, fill)
    return chosen.astype(np.int64)


def roles_at(session: ActiveLearningSession, t: int, positions: np.ndarray) -> np.ndarray:
    """Role of each position in round ``t``: ``"labelled"`` (in L_t), ``"picked in round t"`` (record
    t's picks), ``"unlabelled"``."""
    lab, _ = labelled_at(session, t)
    roles = np.full(len(positions), "unlabelled", dtype=object)
    roles[np.isin(positions, lab)] = "labelled"
    recs = query_records(session)
    if int(t) < len(recs):
        roles[np.isin(positions, np.asarray(recs[int(t)].selected))] = f"picked in round {int(t)}"
    return roles


def comal_embeddings(session: ActiveLearningSession, t: int) -> dict | None:
    """CoMAL's stored label-wise embeddings of record ``t`` (``positions``, ``role``, ``z`` (m, K, d_z),
    ``k``, ``y``) with ``prototypes`` (K, d_z), ``has_prototype`` and ``kbar``; None when the round
    has none (another strategy, or ``embedding_cap = 0``)."""
    recs = query_records(session)
    if not 0 <= int(t) < len(recs):
        return None
    rec = recs[int(t)]
    diag = rec.selection.diagnostics if rec.selection is not None else {}
    emb = diag.get("embeddings") if isinstance(diag, dict) else None
    if not emb or len(np.asarray(emb.get("positions", []))) == 0 or "prototypes" not in diag:
        return None
    out = dict(emb)
    out["z"] = np.asarray(emb["z"], dtype=np.float32)
    out["prototypes"] = np.asarray(diag["prototypes"], dtype=np.float32)
    out["has_prototype"] = np.asarray(diag.get("has_prototype", np.ones(out["prototypes"].shape[0], bool)), bool)
    out["kbar"] = np.asarray(diag.get("kbar", np.full(out["prototypes"].shape[0], np.nan)), float)
    return out


def comal_rounds(session: ActiveLearningSession) -> list[int]:
    """Rounds whose records carry CoMAL embeddings."""
    return [int(r.round) for r in query_records(session)
            if r.selection is not None and isinstance(r.selection.diagnostics, dict)
            and r.selection.diagnostics.get("embeddings") and "prototypes" in r.selection.diagnostics]


def map_labels(session: ActiveLearningSession, t: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The labels a map of pool ``positions`` may show at round ``t``: ``(Y, source)``.

    ``Y`` (m, K) float: for the samples of ``L_t`` the labels the **session** holds (the oracle's
    answers, e.g. a person's, which need not be the dataset's ground truth); for the others the
    pool's ground truth when the oracle is simulated (it would answer exactly that), NaN otherwise.
    ``source`` (m,): ``"labelled"``, ``"ground truth"`` or ``"unknown"``.
    """
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    lab, lab_y = labelled_at(session, t)
    row_of = {int(p): i for i, p in enumerate(lab)}
    rows = np.asarray([row_of.get(int(p), -1) for p in positions], dtype=np.int64)
    known = rows >= 0
    Y = np.full((positions.size, session.n_labels), np.nan)
    Y[known] = lab_y[rows[known]]
    source = np.where(known, "labelled", "unknown").astype(object)
    if bool(getattr(session, "oracle_is_simulated", False)) and (~known).any():
        truth = session.dataset.train.Y[positions[~known]]
        Y[~known] = truth.toarray() if sp.issparse(truth) else np.asarray(truth)
        source[~known] = "ground truth"
    return Y, source


@dataclass
class MapLayers:
    """What a 2-D map draws over its points, as arguments of :func:`mlal_core.viz.embedding_scatter`
    (see :meth:`scatter_args`): groups or numeric colours, the picks, hover texts, prototypes, the
    legend title, and ``note``, a sentence that says where the labels shown come from. ``keep``
    (n,) marks the projected points that are drawn (e.g. only samples with known labels)."""

    keep: np.ndarray
    hover: list[str]
    picked: np.ndarray
    groups: np.ndarray | None = None
    values: np.ndarray | None = None
    value_name: str = "value"
    group_name: str = "group"
    group_order: list[str] = field(default_factory=list)
    group_styles: dict[str, dict] = field(default_factory=dict)
    picked_name: str | None = None
    picked_in_legend: bool = True
    prototype_names: list[str] | None = None
    prototype_groups: list[str] | None = None
    note: str = ""

    def scatter_args(self, xy: np.ndarray, prototypes_xy: np.ndarray | None = None) -> dict:
        """Keyword arguments for :func:`mlal_core.viz.embedding_scatter` (the kept points of ``xy``)."""
        k = self.keep
        out: dict[str, Any] = {
            "xy": np.asarray(xy)[k], "picked_mask": self.picked[k],
            "hover_text": list(np.asarray(self.hover, object)[k]),
            "picked_name": self.picked_name, "picked_in_legend": self.picked_in_legend,
        }
        if self.groups is not None:
            out.update(groups=self.groups[k], group_name=self.group_name, group_order=self.group_order,
                       group_styles=self.group_styles)
        elif self.values is not None:
            out.update(colors=self.values[k], color_name=self.value_name)
        if prototypes_xy is not None:
            out.update(prototypes_xy=prototypes_xy, prototype_names=self.prototype_names,
                       prototype_groups=self.prototype_groups)
        return out


#: how the maps draw samples in the background (unlabelled, negatives): grey and faint
_FAINT = {"opacity": 0.45}


def _grey(opacity: float = 0.45) -> dict:
    from mlal_core.viz.theme import UNPICKED_COLOR

    return {"color": UNPICKED_COLOR, "opacity": opacity}


FEATURE_COLOURINGS = ("role", "label", "count")


def feature_map_default_label(session: ActiveLearningSession, t: int) -> int:
    """The label a "one label" map starts with: the most frequent one in the session's ``L_t``."""
    _, Y = labelled_at(session, t)
    return int(np.argmax(Y.sum(axis=0))) if len(Y) else 0


def feature_map_layers(session: ActiveLearningSession, t: int, positions: np.ndarray, by: str = "role",
                       label: int | None = None) -> MapLayers:
    """How the features map of pool ``positions`` is coloured at round ``t``.

    ``by``: ``"role"`` (unlabelled / labelled in ``L_t`` / picked in round ``t``), ``"label"``
    (positive or negative for ``label``, default :func:`feature_map_default_label`) or ``"count"``
    (number of labels per sample). Labels are those of :func:`map_labels`: the session's own for the
    labelled samples, the ground truth for the unlabelled ones only with a simulated oracle (a
    person's session leaves them "unknown": grey, or out of the "count" map); the legend and
    ``note`` say which.
    """
    if by not in FEATURE_COLOURINGS:
        raise ConfigError(f"Unknown colouring {by!r}; choose one of {', '.join(FEATURE_COLOURINGS)}.")
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    t = _check_round(session, t)
    roles = roles_at(session, t, positions).astype(str)
    picked = roles == f"picked in round {t}"
    hover = [f"pool sample {p} ({r})" for p, r in zip(positions, roles)]
    keep = np.ones(positions.size, dtype=bool)
    if by == "role":
        return MapLayers(keep, hover, picked, groups=roles, group_name="role",
                         group_order=["unlabelled", "labelled", f"picked in round {t}"],
                         group_styles={"unlabelled": _grey()}, picked_in_legend=False)
    Y, source = map_labels(session, t, positions)
    simulated = (source == "ground truth").any() or bool(getattr(session, "oracle_is_simulated", False))
    labelled_words = "the labels the session holds (the oracle's answers)"
    note = (f"Labelled samples (L_{t}) show {labelled_words}; unlabelled ones "
            + ("the pool's ground truth (simulated oracle: what it would answer)." if simulated else
               "have no known labels (a person is the oracle)"))
    if by == "label":
        names = label_names(session)
        j = feature_map_default_label(session, t) if label is None else int(label)
        if not 0 <= j < session.n_labels:
            raise ConfigError(f"label must be in 0..{session.n_labels - 1}; got {label}.")
        pos = Y[:, j] == 1
        tag = {"labelled": "labelled", "ground truth": "unlabelled, ground truth"}
        groups = np.array([("positive" if p else "negative") + f" ({tag[s]})" if s in tag else "unknown (unlabelled)"
                           for p, s in zip(pos, source)], dtype=object)
        order = ["negative (unlabelled, ground truth)", "negative (labelled)", "positive (unlabelled, ground truth)",
                 "positive (labelled)", "unknown (unlabelled)"]
        styles = {"unknown (unlabelled)": _grey(), "negative (unlabelled, ground truth)": _grey(0.35),
                  "positive (unlabelled, ground truth)": dict(_FAINT)}
        return MapLayers(keep, hover, picked, groups=groups, group_name=names[j], group_order=order,
                         group_styles=styles, note=note + ("" if simulated else ": grey."))
    counts = np.nansum(Y, axis=1)
    keep = source != "unknown"
    return MapLayers(keep, hover, picked, values=counts, value_name="labels per sample",
                     note=note + ("" if simulated else ", so they are left out."))


def projection_features(session: ActiveLearningSession) -> tuple[Any, str]:
    """The pool's features for a 2-D map, and what they are, in words.

    Fixed features (MiniLM, TF-IDF, a tabular set's standardised columns) are what the model sees.
    Token ids (the text backbones) are no space to measure distances in (id 2054 is not "near"
    2055), so a token session is mapped with its texts' MiniLM sentence embeddings when they are in
    the feature cache, else with TF-IDF of the pool's texts (fitted on the pool, seconds). Kept on
    the session (computed once).
    """
    hit = session.__dict__.get("_projection_features")
    if hit is not None:
        return hit
    rep = session.representation
    backbone = session.config.model
    if rep != "tokens":
        words = {"minilm": "MiniLM sentence embeddings (what the model sees)",
                 "tfidf": "TF-IDF features of the texts (what the model sees)",
                 "raw": "the dataset's standardised features (what the model sees)"}
        out = (session.features.train, words.get(rep, f"{rep} features (what the model sees)"))
    else:
        X = _cached_minilm_train(session)
        stand_in = (f"The {backbone} model itself reads token ids, which are no space to draw: "
                    "these stand in for them.")
        if X is not None:
            out = (X, f"MiniLM sentence embeddings of the texts (from the feature cache). {stand_in}")
        else:
            from mlal_core.features.tfidf import fit_tfidf

            texts = session.dataset.train.texts
            if texts is None:
                raise ConfigError("This token-id session has no texts to compute features for a map from.")
            _, tf = fit_tfidf(list(texts), {}, dataset_name=session.dataset.name)
            out = (tf["train"], f"TF-IDF features of the texts (unigrams, fitted on the pool). {stand_in}")
    session.__dict__["_projection_features"] = out
    return out


def _cached_minilm_train(session: ActiveLearningSession) -> np.ndarray | None:
    """The pool's MiniLM embeddings when the feature cache has them (never encodes anything)."""
    from mlal_core import paths
    from mlal_core.features import cache, encoder, minilm_cache_key
    from mlal_core.features.device import precision_name, resolve_device, resolve_precision

    ds = session.dataset
    try:
        prec = precision_name(resolve_precision("auto", resolve_device(None)))
        key = minilm_cache_key(ds, int(session.config.max_length), prec)
    except Exception:  # noqa: BLE001 - no cache to read is the same as no cached embeddings
        return None
    folder = cache.entry_dir(paths.cache_dir(), key)
    return cache.load_array(folder / "train.npy", (session.n_pool, encoder.EMBEDDING_DIM))


# ---------------------------------------------------------------------- CoMAL maps
def comal_map_rows(role: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    """Rows of a round's CoMAL embeddings to draw (ascending): every pick (``role == "selected"``),
    then a seeded random rest, ``cap`` in all (at least the picks)."""
    role = np.asarray(role).astype(str)
    sel = np.flatnonzero(role == "selected")
    rest = np.setdiff1d(np.arange(role.size), sel)
    n_rest = max(0, min(rest.size, int(cap) - sel.size))
    fill = np.random.default_rng(seed).choice(rest, size=n_rest, replace=False) if n_rest else rest[:0]
    return np.sort(np.concatenate([sel, fill])).astype(np.int64)


def comal_label_choices(emb: dict) -> tuple[list[int], np.ndarray]:
    """``(labels, counts)``: the labels that have a prototype, most labelled positives first, and the
    positives per label (among the labelled samples the round kept, else among all of them)."""
    y = np.asarray(emb["y"]).astype(bool)
    role = np.asarray(emb["role"]).astype(str)
    lab = role == "labelled"
    counts = (y[lab] if lab.any() else y).sum(axis=0).astype(np.int64)
    has = np.asarray(emb["has_prototype"], bool)
    return [int(j) for j in np.argsort(-counts, kind="stable") if has[j]], counts


def comal_default_label(emb: dict, rows: np.ndarray, choices: Sequence[int], counts: np.ndarray) -> int:
    """The label a one-label CoMAL map starts with: the one with the most even split of positives
    and negatives among the drawn ``rows`` (ties: more labelled positives, then the earlier choice)."""
    if not len(choices):
        raise ConfigError("No label has a prototype yet (no labelled positive).")
    y = np.asarray(emb["y"]).astype(bool)[np.asarray(rows, dtype=np.int64)]
    pos = y.sum(axis=0)
    balance = np.minimum(pos, len(rows) - pos)
    return max(choices, key=lambda j: (int(balance[j]), int(counts[j])))


def comal_map(emb: dict, rows: np.ndarray, labels: Sequence[int], names: Sequence[str], *,
              several: bool = False) -> tuple[np.ndarray, np.ndarray, MapLayers]:
    """The points of a CoMAL map (Peng et al., Fig. 1 and 12) and how to draw them.

    Returns ``(Z, prototypes, layers)``: ``Z`` the label-wise embeddings to project, ``prototypes``
    ``(len(labels), d_z)``. One label (``several=False``, ``labels = [j]``): one point per row, its
    ``z_j``, positive / negative for ``j`` from the oracle's labels (labelled samples) or the model's
    prediction (the others). Several labels: one point per (row, label), coloured by the label when
    the sample has it, else "negative (any label)" (grey).
    """
    rows = np.asarray(rows, dtype=np.int64)
    labels = [int(j) for j in labels]
    if not labels:
        raise ConfigError("Choose at least one label.")
    z = np.asarray(emb["z"])
    y = np.asarray(emb["y"]).astype(bool)
    role = np.asarray(emb["role"]).astype(str)
    k = np.asarray(emb["k"], dtype=float)
    positions = np.asarray(emb["positions"], dtype=np.int64)
    P = np.asarray(emb["prototypes"])[labels]
    proto_names = [f"prototype of {names[j]}" for j in labels]
    if not several:
        j = labels[0]
        pos = y[rows, j]
        groups = np.array([("positive" if p else "negative") + (" (labelled)" if r == "labelled" else " (predicted)")
                           for p, r in zip(pos, role[rows])], dtype=object)
        hover = [f"pool sample {p} ({r}), k = {kk:.3f}" for p, r, kk in zip(positions[rows], role[rows], k[rows, j])]
        layers = MapLayers(
            np.ones(rows.size, bool), hover, role[rows] == "selected", groups=groups, group_name=names[j],
            group_order=["negative (predicted)", "negative (labelled)", "positive (predicted)",
                         "positive (labelled)"],
            group_styles={"negative (predicted)": _grey(0.5),
                          "negative (labelled)": {"color": "#5A5A5A", "opacity": 0.5}},
            prototype_names=proto_names,
            note="Positives of labelled samples are the oracle's labels; of the others, the model's predictions "
                 "(p > 0.5).")
        return z[rows, j, :], P, layers
    prow = np.repeat(rows, len(labels))
    pcol = np.tile(np.asarray(labels), rows.size)
    pos = y[prow, pcol]
    groups = np.where(pos, np.asarray([names[c] for c in pcol], dtype=object), "negative (any label)")
    hover = [f"pool sample {p} ({r}), z for {names[c]}, k = {k[i, c]:.3f}"
             for p, r, i, c in zip(positions[prow], role[prow], prow, pcol)]
    n_sel = int((role[rows] == "selected").sum())
    layers = MapLayers(
        np.ones(prow.size, bool), hover, role[prow] == "selected", groups=groups, group_name="positive for",
        group_order=["negative (any label)"] + [names[c] for c in labels],
        group_styles={"negative (any label)": _grey(0.4)},
        picked_name=f"picked ({n_sel} samples x {len(labels)} labels)", prototype_names=proto_names,
        prototype_groups=[names[c] for c in labels],
        note="Positives of labelled samples are the oracle's labels; of the others, the model's predictions "
             "(p > 0.5).")
    return z[prow, pcol, :], P, layers


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
