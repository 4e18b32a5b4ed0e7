"""BESRA and CRAB: batch selection by the expected change of a beta-family proper score.

Both use :mod:`mlal_core.bemps` for ``dQ_j(x, x')`` (METHODS.md, "BEMPS / BESRA expected score
change") and end the same way: each candidate is represented by its vector of expected score
changes over a random reference set X', L2-normalised, k-means with n clusters, and the candidate
nearest each centroid is picked (no duplicates: when two centroids share a nearest candidate, the
later one takes its nearest unused candidate; centroids are served in order of how close their
nearest candidate is).

* ``besra`` (Tan et al. 2024): every unlabelled sample is a candidate; score = mean over X' of
  ``sum_j dQ_j``; the top ``top_fraction`` by score are clustered.
* ``crab`` (Qi et al., Algorithm 1): a refined pool U* (label-wise, negatively-correlated and
  hard-to-learn samples, topped up at random to 2n), scored with the correlation-aware
  ``dQ_AB = sum_n [dQ_n + sum_{m != n} Ahat[m, n] dQ_m]`` (Eq. 12-13), all of U* clustered.

X' is a seeded random sample of ``ctx.unlabeled`` (``n_reference`` positions, drawn from ``ctx.rng``
before anything else), recorded in ``diagnostics["reference_set"]``. The k-means cluster of every
clustered candidate and its distance to the centroid are recorded compactly in
``diagnostics["clusters"]`` (:func:`cluster_record`; the k-means facts and seed in
``diagnostics["kmeans"]``), so a stored round shows its clusters as they were formed. Both need S >= 2
probability samples (with one, dQ is rounding noise that the L2 normalisation would blow up) and return an empty
selection when there is no candidate. Each parameter is declared once, in the class's ``PARAMS``
(ranges from the ``*_RANGE`` constants below): validation and the registry entry both come from it.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from mlal_core import bemps, correlation
from mlal_core.errors import ConfigError
from mlal_core.strategies._common import empty_selection
from mlal_core.strategies.base import QueryContext, QueryStrategy, Selection, check_query_size, top_n
from mlal_core.strategies.registry import register
from mlal_core.validation import Interval, Param

#: k-means restarts (k-means++ init, fixed so results are reproducible and the cost is bounded)
KMEANS_N_INIT = 1
#: a ceiling on Lloyd iterations (sklearn's default is 300; 100 converges on our pools)
KMEANS_MAX_ITER = 100
#: CRAB: off-diagonal z-score above which an A entry makes an asymmetric pair (METHODS step 1)
ASYMMETRY_Z = 1.0
#: CRAB: labels need this many positives in L to take part in exclusive pairs (METHODS step 2)
EXCLUSIVE_MIN_COUNT = 2
DECAYS = ("polynomial", "linear", "cosine")
REFINED_SAMPLING = ("random", "cluster")
#: CRAB step 1, which label of an asymmetric pair (m, n) (n implies m) label-wise sampling keeps:
#: "implying" keeps n and drops m (METHODS [choice, revised], the default), "implied" keeps m and drops n
#: (the earlier reading), "all" drops nothing
ASYMMETRIC_KEEP = ("implying", "implied", "all")
#: parameter ranges (bounds included) of the ``PARAMS`` declarations
BETA_PARAM_RANGE = (0.0, 10.0)  # alpha and beta of the scoring rule
N_REFERENCE_RANGE = (1, 10_000)
TOP_FRACTION_RANGE = (0.01, 1.0)  # BESRA; a fraction of 0 would cluster nothing
ALPHA_C_RANGE = (0.01, 100.0)  # CRAB Eq. 13
POOL_SIZE_RANGE = (1, 100_000)  # CRAB's M
HARD_SIZE_RANGE = (0, 100_000)  # CRAB's Z_0
#: per-pick details list the per-label contributions of this many labels
DETAIL_TOP_LABELS = 3
#: what BESRA and CRAB cluster, in words (``diagnostics["clusters"]["space"]``)
BESRA_SPACE = "L2-normalised dQ vectors over the reference set X'"
CRAB_SPACE = "L2-normalised dQ_AB vectors over the reference set X'"


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------


def _shared_params(alpha_help: str) -> tuple[Param, ...]:
    """alpha, beta and n_reference, common to BESRA and CRAB."""
    return (
        Param("alpha", 0.1, alpha_help, *BETA_PARAM_RANGE),
        Param("beta", 3.0, "beta of the beta scoring rule", *BETA_PARAM_RANGE),
        Param(
            "n_reference",
            100,
            "size of the random reference set X' drawn from the unlabelled pool",
            *N_REFERENCE_RANGE,
        ),
    )


#: default of ``max_score_terms``: dQ terms (candidates x reference samples x labels) scored exactly
#: per round. The papers' largest setting, RCV1 (about 25,000 candidates x 100 x 102 labels = 2.55e8;
#: CRAB Table 1, the BESRA paper's setting), stays below it and is scored in full.
MAX_SCORE_TERMS = 300_000_000
MAX_SCORE_TERMS_RANGE = (1_000_000, 10**13)


def _max_terms_param() -> Param:
    return Param(
        "max_score_terms",
        MAX_SCORE_TERMS,
        "at most this many dQ terms (candidates x reference samples x labels) are computed per round; "
        "a larger pool is first narrowed to the candidates with the highest second-order (small-"
        "disagreement) approximation of the score, and the round's diagnostics say how many were scored. "
        "The default scores the papers' largest setting (RCV1: 25k x 100 x 102) in full; None = no bound",
        constraint=Interval(*MAX_SCORE_TERMS_RANGE, integer=True, allow_none=True),
    )


def scored_candidates(
    ctx: QueryContext,
    ref: bemps.ReferenceSet,
    rows: np.ndarray,
    max_terms: int | None,
    *,
    n: int,
    label_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """The candidates (a subset of ``rows``, indices into ``ctx.unlabeled``) whose dQ is computed.

    All of ``rows`` when ``len(rows) x nR x K <= max_terms`` (or ``max_terms`` is None); otherwise the
    ``max(n, max_terms // (nR K))`` rows with the highest :meth:`bemps.ReferenceSet.approximate_score`
    (ties to the lower position), in ascending order.

    Parameters
    ----------
    ctx : QueryContext
        The query context.
    ref : bemps.ReferenceSet
        The round's reference set.
    rows : numpy.ndarray
        Candidate rows (indices into ``ctx.unlabeled``), ascending.
    max_terms : int or None
        The strategy's ``max_score_terms``.
    n : int
        Query size: at least this many candidates are kept.
    label_weights : numpy.ndarray, optional
        Label weights of the score (CRAB's attention mix), shape ``(K,)``.

    Returns
    -------
    numpy.ndarray
        The rows to score.
    dict
        ``diagnostics["score_bound"]``: ``max_score_terms``, ``n_candidates`` (before), ``n_scored``,
        ``narrowed`` (bool) and ``how``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    per = max(1, ref.n_ref * ref.n_labels)
    info = {"max_score_terms": max_terms, "n_candidates": int(len(rows)), "n_scored": int(len(rows)), "narrowed": False,
            "how": "every candidate scored exactly"}
    if max_terms is None or len(rows) * per <= int(max_terms):
        return rows, info
    keep = min(len(rows), max(int(n), int(max_terms) // per))
    approx = ref.approximate_score(ctx.proba_samples, rows=ctx.unlabeled[rows], label_weights=label_weights)
    chosen = np.sort(rows[top_n(approx, keep)])
    info.update(
        n_scored=int(keep),
        narrowed=True,
        how=(f"{len(rows):,} candidates x {ref.n_ref} reference samples x {ref.n_labels} labels exceed "
             f"max_score_terms = {int(max_terms):,}: the {keep:,} with the highest second-order "
             "(small-disagreement) approximation of the score were scored exactly"),
    )
    return chosen, info


def _check_samples(ctx: QueryContext, strategy: str) -> None:
    """BESRA / CRAB compare ensemble members: with one probability sample there is nothing to compare."""
    if ctx.n_samples < 2:
        raise ConfigError(
            f"{strategy} needs at least 2 probability samples per candidate (ensemble members or "
            f"MC-dropout passes); the context has S = {ctx.n_samples}, for which the expected score "
            "change is 0 up to rounding and its normalised vectors are noise. Use an ensemble with "
            "n_members >= 2 or turn on MC dropout (mc_passes > 0)."
        )


def _label_contributions(per_label: np.ndarray, top: int = DETAIL_TOP_LABELS) -> list[str]:
    """Per row, ``"j: v; ..."`` for the ``top`` largest per-label values (label index: its dQ)."""
    k = min(top, per_label.shape[1])
    order = np.argsort(-per_label, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(per_label, order, axis=1)
    return ["; ".join(f"{j}: {v:.4g}" for j, v in zip(o, r)) for o, r in zip(order, values)]


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def draw_reference_set(ctx: QueryContext, n_reference: int) -> np.ndarray:
    """X': ``min(n_reference, nU)`` pool positions drawn without replacement from ``ctx.unlabeled``.

    Parameters
    ----------
    ctx : QueryContext
        The query context; ``ctx.rng`` is advanced by the draw.
    n_reference : int
        Requested size of X'.

    Returns
    -------
    numpy.ndarray
        Pool indices of X', shape ``(min(n_reference, nU),)``.
    """
    m = min(int(n_reference), len(ctx.unlabeled))
    rows = ctx.rng.choice(len(ctx.unlabeled), size=m, replace=False)
    return ctx.unlabeled[rows]


def l2_normalise(V: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero.

    Parameters
    ----------
    V : numpy.ndarray
        Matrix, shape ``(n, m)``.

    Returns
    -------
    numpy.ndarray
        Float64 matrix of the same shape.
    """
    V = np.asarray(V, dtype=np.float64)
    norm = np.linalg.norm(V, axis=1, keepdims=True)
    return np.divide(V, norm, out=np.zeros_like(V), where=norm > 0)


def kmeans_pick(X: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """k-means with ``n`` clusters on the rows of ``X``; one distinct row per centroid.

    Centroids are served in order of the distance to their nearest row; a centroid whose nearest row
    was taken takes its nearest unused row. With ``n >= len(X)`` every row is its own cluster.
    METHODS.md, "BEMPS / BESRA expected score change" (batch step) and "CRAB (Algorithm 1)", step 6.

    Parameters
    ----------
    X : numpy.ndarray
        Rows to cluster, shape ``(m, d)`` (the L2-normalised score-change vectors).
    n : int
        Number of clusters.
    seed : int
        ``random_state`` for ``sklearn.cluster.KMeans``.

    Returns
    -------
    rows : numpy.ndarray
        The picked row of each cluster, shape ``(min(n, m),)``.
    cluster : numpy.ndarray
        The cluster id of each pick.
    distance : numpy.ndarray
        Euclidean distance from each picked row to its centroid.
    info : dict
        k-means facts: ``inertia``, ``n_iter``, ``distinct_clusters``, ``seed``; and the assignment
        of every row, ``labels`` (its k-means cluster, shape ``(m,)``) and ``distances`` (Euclidean
        distance to that cluster's centroid), from which :func:`cluster_record` makes the round's
        record.
    """
    X = np.asarray(X, dtype=np.float64)
    m = X.shape[0]
    if n >= m:
        every = {"inertia": 0.0, "n_iter": 0, "distinct_clusters": m, "seed": int(seed),
                 "labels": np.arange(m), "distances": np.zeros(m)}
        return np.arange(m), np.arange(m), np.zeros(m), every
    # one thread: the same assignment on every machine (sklearn's OpenMP chunks change the rounding),
    # and on a busy 2-core machine 2.2x faster than the default (2.1 s vs 4.8 s wall, 21k x 100, k=100)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than clusters
        km = KMeans(n_clusters=n, n_init=KMEANS_N_INIT, max_iter=KMEANS_MAX_ITER, random_state=seed).fit(X)
    C = km.cluster_centers_
    # squared distances (n, m) without forming differences
    d2 = (C * C).sum(1)[:, None] - 2.0 * (C @ X.T) + (X * X).sum(1)[None, :]
    np.maximum(d2, 0.0, out=d2)
    order = np.argsort(d2.min(axis=1), kind="stable")
    used = np.zeros(m, dtype=bool)
    rows = np.empty(n, dtype=np.int64)
    for c in order:
        d = np.where(used, np.inf, d2[c])
        r = int(np.argmin(d))
        rows[c] = r
        used[r] = True
    cluster = np.arange(n)
    dist = np.sqrt(d2[cluster, rows])
    labels = np.asarray(km.labels_, dtype=np.int64)
    info = {
        "inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
        "distinct_clusters": int(np.unique(labels).size),
        "seed": int(seed),
        "labels": labels,
        "distances": np.sqrt(d2[labels, np.arange(m)]),
    }
    return rows, cluster, dist, info


def cluster_record(positions: np.ndarray, info: dict, space: str) -> tuple[dict, dict]:
    """The round's k-means facts and its compact record of every clustered candidate's cluster.

    The walk-through (:mod:`mlal_core.inspection.walkthrough`) draws the clusters of every clustered
    candidate and "why not" compares a sample's distance to its centroid with its cluster's pick;
    this record lets a reopened session show them without redoing the round. It takes 10 bytes per
    clustered candidate, about 6 in the store (compressed): on a 20k pool about 56 KB a round for
    BESRA (the top half is clustered) and 5 KB for CRAB (U* only).

    Parameters
    ----------
    positions : numpy.ndarray
        Pool positions of the clustered candidates, aligned with the rows :func:`kmeans_pick`
        clustered, shape ``(m,)``.
    info : dict
        :func:`kmeans_pick`'s ``info`` (with ``labels`` and ``distances``).
    space : str
        What was clustered, in words.

    Returns
    -------
    facts : dict
        ``info`` without the per-row arrays (``diagnostics["kmeans"]``).
    record : dict
        ``diagnostics["clusters"]``: ``positions`` (ascending, int32), ``cluster`` (the k-means
        cluster of each, the ids of ``details["cluster"]``; int16 up to 32,767 clusters, else int32),
        ``distance_to_centroid`` (Euclidean, to that cluster's centroid in the clustered space;
        float32) and ``space``.

    Raises
    ------
    ValueError
        When ``positions`` and ``info["labels"]`` differ in length.
    """
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    labels = np.asarray(info["labels"], dtype=np.int64)
    if labels.shape != positions.shape:
        raise ValueError(f"cluster_record needs one position per clustered row: {positions.size} positions, "
                         f"{labels.size} rows.")
    facts = {k: v for k, v in info.items() if k not in ("labels", "distances")}
    order = np.argsort(positions, kind="stable")
    small = labels.size == 0 or int(labels.max()) <= np.iinfo(np.int16).max
    wide = positions.size > 0 and int(positions.max()) > np.iinfo(np.int32).max
    record = {
        "positions": positions[order].astype(np.int64 if wide else np.int32),
        "cluster": labels[order].astype(np.int16 if small else np.int32),
        "distance_to_centroid": np.asarray(info["distances"], dtype=np.float64)[order].astype(np.float32),
        "space": str(space),
    }
    return facts, record


def _label_means_top(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top = np.argmax(means, axis=1)
    return top, means[np.arange(len(means)), top]


# --------------------------------------------------------------------------------------------
# BESRA
# --------------------------------------------------------------------------------------------


@register(
    display_name="BESRA (beta scoring rules)",
    paper="Tan, Nguyen, Du & Buntine (2024). Harnessing the power of beta scoring in deep active "
    "learning for multi-label text classification. AAAI 38(14).",
    explanation=(
        "For each candidate x and each sample x' of a random reference set, BESRA asks: if I labelled x, "
        "how much would the ensemble's expected beta score at x' improve? Labelling x re-weights the "
        "ensemble members by how well they predicted x (Bayes); the gain is large when members disagree at "
        "x' and x tells them apart. The beta scoring rule (alpha=0.1, beta=3) puts more weight on the rare "
        "positive labels. Candidates are ranked by the mean gain over x'; the top half is clustered on its "
        "gain vectors with k-means, and the sample nearest each centroid is picked, so the batch is both "
        "informative and diverse."
    ),
    choice=(
        "Partial losses evaluated exactly (incomplete beta), not by BESRA's released truncated series; "
        "X' is drawn from the unlabelled pool; k-means (k-means++ init, 1 restart) on the L2-normalised "
        "vectors of expected score changes over X', nearest distinct candidate to each centroid. Needs at "
        "least 2 probability samples (ensemble members or MC-dropout passes). At most max_score_terms dQ "
        "terms (candidates x X' x labels, default 3e8: the papers' RCV1 setting is scored in full) per "
        "round; a larger pool is first narrowed to the candidates with the highest second-order "
        "(small-disagreement) approximation of the score, and the round records how many were scored."
    ),
)
class BESRA(QueryStrategy):
    """Beta scoring rules for deep active learning (Tan et al. 2024; METHODS.md "BEMPS / BESRA
    expected score change").

    For a candidate x and a reference sample x' of X', the expected score change of label j is
    ``dQ_j(x, x') = D(w0) - [abar D(w(1)) + (1 - abar) D(w(0))]``: ``D(w)`` the ensemble's
    disagreement at x' under member weights w, measured with the beta-family proper score
    ``S(p, y) = -(y L1(p) + (1 - y) L0(p))`` (alpha, beta; Eq. 5-7), ``w0`` uniform and
    ``w_e(1) ∝ a_e``, ``w_e(0) ∝ 1 - a_e`` the members re-weighted by their prediction ``a_e`` at x
    (Eq. 3-4). Score ``u(x) = mean_{x'} sum_j dQ_j(x, x')``; the top ``top_fraction`` by score are
    clustered with k-means on their L2-normalised ``dQ`` vectors and the candidate nearest each
    centroid is picked.
    """

    name: ClassVar[str] = "besra"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        *_shared_params("alpha of the beta scoring rule (0 with beta 0 = log score; 1 with 1 = squared error)"),
        Param(
            "top_fraction", 0.5, "fraction of candidates, by score, that go into k-means", *TOP_FRACTION_RANGE
        ),
        _max_terms_param(),
    )

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        beta: float = 3.0,
        n_reference: int = 100,
        top_fraction: float = 0.5,
        max_score_terms: int | None = MAX_SCORE_TERMS,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.n_reference = n_reference
        self.top_fraction = top_fraction
        self.max_score_terms = max_score_terms
        self._validate_params()

    def _changes(self, ctx: QueryContext, n: int):
        """X', its ReferenceSet, the scored rows (into ctx.unlabeled), their dQ vectors and label means,
        and the bound's record."""
        _check_samples(ctx, "BESRA")
        ref_pos = draw_reference_set(ctx, self.n_reference)
        ref = bemps.ReferenceSet(ctx.proba_samples[:, ref_pos, :], float(self.alpha), float(self.beta))
        rows, bound = scored_candidates(ctx, ref, np.arange(len(ctx.unlabeled)), self.max_score_terms, n=n)
        V, means = ref.change(ctx.proba_samples, sum_labels=True, label_means=True, rows=ctx.unlabeled[rows])
        return ref_pos, ref, rows, V, means, bound

    def score(self, ctx: QueryContext) -> np.ndarray:
        """``mean_{x' in X'} sum_j dQ_j(x, x')`` for every unlabelled x (draws X' from ``ctx.rng``);
        NaN for candidates left out by ``max_score_terms``."""
        if len(ctx.unlabeled) == 0:
            return np.empty(0)
        _, _, rows, V, _, _ = self._changes(ctx, 1)
        score = np.full(len(ctx.unlabeled), np.nan)
        score[rows] = V.mean(axis=1)
        return score

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx, {"n_candidates": 0})
        ref_pos, ref, rows, V, means_rows, bound = self._changes(ctx, n)
        nU, nS = len(ctx.unlabeled), len(rows)
        score = np.full(nU, np.nan)
        score[rows] = V.mean(axis=1)
        at = np.full(nU, -1, dtype=np.int64)  # row of a candidate in V / means_rows (-1: not scored)
        at[rows] = np.arange(nS)
        rank = np.zeros(nU, dtype=np.int64)  # 0: not scored
        rank[rows[np.argsort(-score[rows], kind="stable")]] = np.arange(1, nS + 1)
        n_top = min(nS, max(n, math.ceil(float(self.top_fraction) * nS)))
        top_in = top_n(score[rows], n_top)  # indices into rows (and into V)
        top = rows[top_in]
        picks, cluster, dist, km_info = kmeans_pick(l2_normalise(V[top_in]), n, _seed(ctx.rng))
        km_facts, clusters = cluster_record(ctx.unlabeled[top], km_info, BESRA_SPACE)
        picked = top[picks]
        order = np.lexsort((ctx.unlabeled[picked], -score[picked]))  # by score, ties by position
        picked, cluster, dist = picked[order], cluster[order], dist[order]
        means = means_rows[at[picked]]
        top_label, top_label_dq = _label_means_top(means)
        pct = round(100 * n_top / nS)
        among = f"the top {pct}%" if nS == nU else f"the top {pct}% of the {nS:,} scored candidates"
        details = pd.DataFrame(
            {
                "position": ctx.unlabeled[picked],
                "pick": np.arange(1, n + 1),
                "score": score[picked],
                "reason": [
                    f"nearest to k-means centroid {c} among {among} by expected score change (rank {r})"
                    for c, r in zip(cluster, rank[picked])
                ],
                "rank": rank[picked],
                "cluster": cluster,
                "distance_to_centroid": dist,
                "top_label": top_label,
                "top_label_dQ": top_label_dq,
                # mean over X' of dQ_j, the labels contributing most; they sum (over all K) to score
                "label_dQ": _label_contributions(means),
                "label_dQ_sum": means.sum(axis=1),
            }
        )
        diagnostics = {
            "reference_set": ref_pos,
            "n_reference": len(ref_pos),
            "n_clustered": int(n_top),
            "top_fraction": float(self.top_fraction),
            "kmeans": km_facts,
            "clusters": clusters,
            "label_mean_dQ": means_rows.mean(axis=0),  # over the scored candidates
            "score_method": ref.method,
            "score_bound": bound,
        }
        return Selection(
            indices=ctx.unlabeled[picked], scores=score, details=details, diagnostics=diagnostics
        )


# --------------------------------------------------------------------------------------------
# CRAB
# --------------------------------------------------------------------------------------------


def decay_factor(t: int, T: int, decay: str = "polynomial") -> float:
    """Fraction of Z_0 kept at round t of T: ``(1-t/T)^2``, ``1-t/T`` or ``(1+cos(pi t/T))/2``.

    ``t/T`` is clipped to ``[0, 1]`` (and ``T`` to at least 1). CRAB Algorithm 1, hard-to-learn pool
    (METHODS.md, "CRAB (Algorithm 1)", step 3; the paper's decay is the polynomial one).

    Parameters
    ----------
    t : int
        Current round.
    T : int
        Planned number of rounds.
    decay : str, optional
        ``"polynomial"`` (default), ``"linear"`` or ``"cosine"``.

    Returns
    -------
    float
        Factor in ``[0, 1]``.

    Raises
    ------
    ConfigError
        If ``decay`` is not one of ``DECAYS``.
    """
    if decay not in DECAYS:
        raise ConfigError(f"Unknown decay {decay!r}; use one of {', '.join(DECAYS)}.")
    frac = min(1.0, max(0.0, t / max(1, T)))
    if decay == "polynomial":
        return (1.0 - frac) ** 2
    if decay == "linear":
        return 1.0 - frac
    return 0.5 * (1.0 + math.cos(math.pi * frac))


def hard_to_learn_size(z0: int, t: int, T: int, decay: str = "polynomial") -> int:
    """``Z_t = round(Z_0 * decay(t/T))`` (round half up), the hard-to-learn draw of round t.

    METHODS.md, "CRAB (Algorithm 1)", step 3.

    Parameters
    ----------
    z0 : int
        ``Z_0``, the draw size at round 0.
    t : int
        Current round.
    T : int
        Planned number of rounds.
    decay : str, optional
        Decay schedule, see :func:`decay_factor`.

    Returns
    -------
    int
        ``Z_t``.
    """
    return math.floor(z0 * decay_factor(t, T, decay) + 0.5)


def attention_matrix(A: np.ndarray, alpha_c: float = 2.0) -> np.ndarray:
    """``Ahat`` of CRAB Eq. 13, off the diagonal; 0 on it.

    ``Ahat[m, n] = A[m, n] / (alpha_c * max_n' sum_{m != n'} A[m, n'])``. All zeros when A has no
    off-diagonal mass (no co-occurrence seen yet).

    Parameters
    ----------
    A : numpy.ndarray
        Co-occurrence matrix of CRAB Eq. 8, shape ``(K, K)``.
    alpha_c : float, optional
        Scaling constant ``alpha_c`` (default 2).

    Returns
    -------
    numpy.ndarray
        ``Ahat``, float64, shape ``(K, K)``.
    """
    A = np.asarray(A, dtype=np.float64)
    off = A * (1.0 - np.eye(A.shape[0]))
    denom = alpha_c * off.sum(axis=0).max() if off.size else 0.0
    return off / denom if denom > 0 else np.zeros_like(off)


def per_label_size(n_unlabeled: int, n_labels: int) -> int:
    """Default M: ``min(100, ceil(nU / (4 K)))``, so the label-wise pool holds at most ~nU/4.

    The result is at least 1; ``K`` is taken as at least 1.

    Parameters
    ----------
    n_unlabeled : int
        Pool size nU.
    n_labels : int
        Number of labels K.

    Returns
    -------
    int
        Per-label query size M.
    """
    return int(min(100, max(1, math.ceil(n_unlabeled / (4 * max(1, n_labels))))))


def asymmetric_drops(A: np.ndarray, pairs, keep: str = "implying") -> list[dict]:
    """The labels CRAB step 1 leaves out of label-wise sampling under the reading ``keep``, and why.

    A label is dropped as soon as one pair drops it, whatever its role in other pairs: in a chain
    c -> b -> a (pairs (b, c) and (a, b)), "implying" drops a and b and keeps c, "implied" drops b
    and c and keeps a. METHODS.md, "CRAB (Algorithm 1)", step 1.

    Parameters
    ----------
    A : numpy.ndarray
        Co-occurrence matrix of CRAB Eq. 8, shape ``(K, K)`` (used for the reasons).
    pairs : array_like
        The asymmetric pairs (m, n) of ``A``, shape ``(P, 2)`` (``A[m, n] > A[n, m]``: n implies m,
        m is the broader label).
    keep : str, optional
        ``"implying"`` (default) drops the implied label m of every pair, ``"implied"`` the implying
        label n of every pair, ``"all"`` nothing.

    Returns
    -------
    list of dict
        One dict per dropped label, sorted by label: ``label``, ``pairs`` (the pairs (m, n) that drop
        it, in the order given) and ``reason`` (e.g. ``"implied by 1 (A[0,1]=1.00 > A[1,0]=0.36)"``).

    Raises
    ------
    ConfigError
        If ``keep`` is not one of ``ASYMMETRIC_KEEP``.
    """
    if keep not in ASYMMETRIC_KEEP:
        raise ConfigError(f"Unknown asymmetric_keep {keep!r}; use one of {', '.join(ASYMMETRIC_KEEP)}.")
    dropped: dict[int, list[tuple[int, int]]] = {}
    if keep != "all":
        for m, nn in np.asarray(pairs, dtype=np.int64).reshape(-1, 2):
            lab = int(m) if keep == "implying" else int(nn)
            dropped.setdefault(lab, []).append((int(m), int(nn)))

    def why(m: int, nn: int) -> str:
        other, verb = (nn, "implied by") if keep == "implying" else (m, "implies")
        return f"{verb} {other} (A[{m},{nn}]={A[m, nn]:.2f} > A[{nn},{m}]={A[nn, m]:.2f})"

    return [
        {"label": lab, "pairs": prs, "reason": "; ".join(why(m, nn) for m, nn in prs)}
        for lab, prs in sorted(dropped.items())
    ]


def _fmt_pairs(pairs) -> str:
    return ", ".join(f"{int(m)}-{int(n)}" for m, n in pairs)


@register(
    display_name="CRAB (correlation-aware beta scoring)",
    paper="Qi, Lu, Yang, Enticott & Du. Multi-label Bayesian active learning with inter-label "
    "relationships (CRAB).",
    explanation=(
        "CRAB builds on BESRA. From the labelled data it estimates which labels co-occur (A) and which "
        "exclude each other (NegA). It first narrows the pool to a refined set U*: for each label, samples "
        "predicted to have it (skipping a broad label when a narrower label implies it: samples drawn for "
        "the narrower label carry the broad one, so hierarchies are not sampled twice); samples predicted "
        "to carry two mutually exclusive labels (the model is confused); and samples with no predicted "
        "label at all (hard to learn, fewer each round). On U* it "
        "scores the expected beta-score gain of BESRA with label attention: a label's gain also counts the "
        "gains of the labels that co-occur with it. k-means on the gain vectors then picks a diverse batch."
    ),
    choice=(
        "Of an asymmetric pair (m, n) (z(A[m,n]) > 1 and A[m,n] > A[n,m]: n implies m, n is the narrower "
        "label), label-wise sampling keeps the implying label n and drops the implied label m, since samples "
        "drawn for n carry m anyway (asymmetric_keep='implying', following the paper's example and its aim "
        "of mitigating imbalance; a label implied in any pair is dropped, even if it implies another). "
        "asymmetric_keep='implied' is the earlier reading of Eq. 8 (keep m, drop n: the rarer label) and "
        "'all' keeps every label; exclusive pairs use tau = min(1, mean + 2 std) of NegA over labels with "
        ">= 2 positives; NegA follows Eq. 9; Z_t = round(Z_0 (1 - t/T)^2); X' drawn from the unlabelled pool. "
        "Defaults: M (per_label_size) = min(100, ceil(nU / (4 K))), the paper's 100 per label scaled so the "
        "label-wise pool holds at most about a quarter of the pool; Z_0 (hard_size) = the query size n. "
        "refined_sampling='cluster' draws each pool as the samples nearest the centroids of k-means on the "
        "context's features (the dense input features, or the model's penultimate embedding when the inputs "
        "are TF-IDF or token ids), or on the mean predicted probabilities pbar when there are no features. "
        "Needs at least 2 probability samples (ensemble members or MC-dropout passes). U* is scored "
        "exactly up to max_score_terms dQ terms (default 3e8); a larger U* is narrowed as in BESRA "
        "(second-order approximation of the score), and the round records how many were scored."
    ),
)
class CRAB(QueryStrategy):
    """Correlation-aware beta scoring, Algorithm 1 (Qi et al.; METHODS.md "CRAB"). Every option
    defaults to the paper; the others are ablations.

    A refined pool U* (label-wise, negatively-correlated and hard-to-learn samples, topped up at
    random to 2n) is scored with ``dQ_AB(x, x') = sum_n [dQ_n + sum_{m != n} Ahat[m, n] dQ_m]``
    (Eq. 12) with ``Ahat[m, n] = A[m, n] / (alpha_c max_n' sum_{m != n'} A[m, n'])`` (Eq. 13) and
    ``A`` the positive correlation of Eq. 8; k-means on the L2-normalised ``dQ_AB`` vectors of U*
    picks the batch, as BESRA.

    Of each asymmetric pair (m, n) (n implies m), label-wise sampling keeps the implying label n and
    drops m (``asymmetric_keep="implying"``); ``"implied"`` keeps m and drops n, ``"all"`` drops
    nothing (see :func:`asymmetric_drops`). ``diagnostics["dropped_labels"]`` lists the dropped labels
    with the pairs and reasons, ``diagnostics["dropped_labels_by_reading"]`` the same for every reading.

    ``diagnostics["refined_pool_sources"]`` says, for every sample of U* (rows aligned with
    ``diagnostics["refined_pool"]``), which pool(s) it was drawn into and why: ``label_wise`` (the
    kept labels it was drawn for, ``ystar_j = 1``), ``negative`` / ``negative_pairs`` (drawn into the
    negatively-correlated pool; the exclusive pairs its pseudo labels carry), ``hard_to_learn``
    (drawn into the hard-to-learn pool, ``max_j pbar_j < 0.5``), ``top_up`` (random top-up to 2n)
    and ``pools`` (all of it as one text, as in the per-pick ``details``).
    """

    name: ClassVar[str] = "crab"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        *_shared_params("alpha of the beta scoring rule"),
        Param("alpha_c", 2.0, "normalisation of the label attention Ahat (Eq. 13)", *ALPHA_C_RANGE),
        Param(
            "per_label_size",
            None,
            "M, samples drawn per kept label; None = min(100, ceil(nU / (4 K)))",
            *POOL_SIZE_RANGE,
        ),
        Param(
            "hard_size",
            None,
            "Z_0, hard-to-learn samples at round 0; None = the query size n",
            *HARD_SIZE_RANGE,
        ),
        Param(
            "asymmetric_keep",
            "implying",
            "which label of an asymmetric pair (n implies m) label-wise sampling keeps: the implying n "
            "(drop m), the implied m (drop n, the earlier reading), or all labels",
            choices=ASYMMETRIC_KEEP,
        ),
        Param("negative_pool", True, "add samples whose pseudo labels contain a mutually exclusive pair"),
        Param("hard_pool", True, "add hard-to-learn samples (no label predicted)"),
        Param(
            "correlation_attention",
            True,
            "score with the label attention of Eq. 12-13 (False: plain BESRA sum)",
        ),
        Param(
            "refined_sampling",
            "random",
            "how the refined pools are drawn: at random, or nearest to k-means centroids",
            choices=REFINED_SAMPLING,
        ),
        Param("decay", "polynomial", "schedule of the hard-to-learn size Z_t", choices=DECAYS),
        _max_terms_param(),
    )

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        beta: float = 3.0,
        n_reference: int = 100,
        alpha_c: float = 2.0,
        per_label_size: int | None = None,
        hard_size: int | None = None,
        asymmetric_keep: str = "implying",
        negative_pool: bool = True,
        hard_pool: bool = True,
        correlation_attention: bool = True,
        refined_sampling: str = "random",
        decay: str = "polynomial",
        max_score_terms: int | None = MAX_SCORE_TERMS,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.n_reference = n_reference
        self.alpha_c = alpha_c
        self.per_label_size = per_label_size
        self.hard_size = hard_size
        self.asymmetric_keep = asymmetric_keep
        self.negative_pool = negative_pool
        self.hard_pool = hard_pool
        self.correlation_attention = correlation_attention
        self.refined_sampling = refined_sampling
        self.decay = decay
        self.max_score_terms = max_score_terms
        self._validate_params()

    # -- refined-pool draws ------------------------------------------------------------------

    def _draw(self, ctx: QueryContext, eligible: np.ndarray, size: int, rep) -> np.ndarray:
        """Up to ``size`` rows of ``eligible`` (indices into ctx.unlabeled): random or by k-means."""
        size = int(min(size, len(eligible)))
        if size <= 0:
            return np.empty(0, dtype=np.int64)
        if size == len(eligible):
            return np.sort(eligible)
        if self.refined_sampling == "random":
            return np.sort(ctx.rng.choice(eligible, size=size, replace=False))
        rows, _, _, _ = kmeans_pick(rep(eligible), size, _seed(ctx.rng))
        return np.sort(eligible[rows])

    def _representation(self, ctx: QueryContext, pbar: np.ndarray):
        """What the ``refined_sampling="cluster"`` draws cluster on: the features, else pbar."""
        if ctx.features is not None:
            feats = ctx.features

            def rep(rows):
                X = feats[ctx.unlabeled[rows]]
                return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)

            return rep, "features"
        return (lambda rows: pbar[rows]), "mean predicted probabilities"

    # -- the strategy ------------------------------------------------------------------------

    def weights(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Ahat, w)``: the attention matrix and the per-label weights ``w_m = 1 + sum_n Ahat[m, n]``.

        ``sum_n dQ_AB,n = sum_m w_m dQ_m`` (see ``bemps.mixed_label_weights``); without
        ``correlation_attention`` Ahat = 0 and w = 1.
        """
        K = A.shape[0]
        Ahat = attention_matrix(A, float(self.alpha_c)) if self.correlation_attention else np.zeros((K, K))
        return Ahat, bemps.mixed_label_weights(np.eye(K) + Ahat)

    def _refine(self, ctx: QueryContext, n: int, pbar: np.ndarray):
        nU, K = pbar.shape
        ystar = pbar > 0.5
        A = correlation.positive_correlation(ctx.y_labeled)
        NegA = correlation.negative_correlation(ctx.y_labeled)
        rep, rep_name = self._representation(ctx, pbar)

        # 1. label-wise pool, without the labels the asymmetric pairs drop under asymmetric_keep
        asym = correlation.asymmetric_pairs(A, z_threshold=ASYMMETRY_Z)
        by_reading = {keep: asymmetric_drops(A, asym, keep) for keep in ASYMMETRIC_KEEP}
        dropped = by_reading[self.asymmetric_keep]
        gone = {d["label"] for d in dropped}
        kept = [j for j in range(K) if j not in gone]
        M = int(self.per_label_size) if self.per_label_size is not None else per_label_size(nU, K)
        label_hits = np.zeros((nU, K), dtype=bool)  # row drawn for label j
        for j in kept:
            rows = self._draw(ctx, np.flatnonzero(ystar[:, j]), M, rep)
            label_hits[rows, j] = True
        in_label = label_hits.any(axis=1)

        # 2. negatively-correlated pool
        ex_pairs, tau = correlation.exclusive_pairs(ctx.y_labeled, min_count=EXCLUSIVE_MIN_COUNT)
        conflicting = correlation.conflicting_mask(ystar, ex_pairs)
        in_neg = np.zeros(nU, dtype=bool)
        if self.negative_pool:
            in_neg[self._draw(ctx, np.flatnonzero(conflicting), n, rep)] = True

        # 3. hard-to-learn pool
        hard = correlation.hard_to_learn_mask(pbar)
        z0 = n if self.hard_size is None else int(self.hard_size)
        z_t = hard_to_learn_size(z0, ctx.round, ctx.total_rounds, self.decay) if self.hard_pool else 0
        in_hard = np.zeros(nU, dtype=bool)
        in_hard[self._draw(ctx, np.flatnonzero(hard), z_t, rep)] = True

        # 4. union, topped up at random to 2n
        union = in_label | in_neg | in_hard
        n_union = int(union.sum())
        in_topup = np.zeros(nU, dtype=bool)
        want = min(nU, 2 * n)
        if n_union < want:
            rest = np.flatnonzero(~union)
            in_topup[np.sort(ctx.rng.choice(rest, size=want - n_union, replace=False))] = True
        facts = {
            "A": A,
            "NegA": NegA,
            "asymmetric_pairs": asym,
            "asymmetric_keep": self.asymmetric_keep,
            "kept_labels": kept,
            "dropped_labels": dropped,
            # what each reading of step 1 would drop from the same A (the app compares them)
            "dropped_labels_by_reading": by_reading,
            "per_label_size": int(M),
            "exclusive_pairs": ex_pairs,
            "tau": float(tau),
            "Z_0": int(z0),
            "Z_t": int(z_t),
            "hard_to_learn_count": int(hard.sum()),
            "conflicting_count": int(conflicting.sum()),
            "pool_sizes": {
                "label-wise": int(in_label.sum()),
                "negative": int(in_neg.sum()),
                "hard-to-learn": int(in_hard.sum()),
                "union": n_union,
                "top-up": int(in_topup.sum()),
                "refined": int((union | in_topup).sum()),
            },
            "refined_representation": rep_name if self.refined_sampling == "cluster" else None,
        }
        masks = {"label": label_hits, "neg": in_neg, "hard": in_hard, "topup": in_topup, "ystar": ystar}
        return np.flatnonzero(union | in_topup), masks, facts

    def _pool_strings(self, rows: np.ndarray, masks: dict, ex_pairs: np.ndarray):
        """Per row of ``rows`` (indices into ctx.unlabeled): the pools it was drawn into, as one
        text, the labels it was drawn for (label-wise pool) and the exclusive pairs its pseudo
        labels carry (negative pool only)."""
        pools, labels, pairs_out = [], [], []
        for r in rows:
            parts = []
            labs = np.flatnonzero(masks["label"][r])
            if labs.size:
                parts.append("label-wise:" + ",".join(str(j) for j in labs))
            present = []
            if masks["neg"][r]:
                ys = masks["ystar"][r]
                present = [(m, nn) for m, nn in correlation.pairs_present(ys, ex_pairs)]
                parts.append("negative:" + _fmt_pairs(present))
            if masks["hard"][r]:
                parts.append("hard-to-learn")
            if masks["topup"][r]:
                parts.append("top-up (random)")
            pools.append("; ".join(parts))
            labels.append(",".join(str(j) for j in labs))
            pairs_out.append(_fmt_pairs(present))
        return pools, labels, pairs_out

    def score(self, ctx: QueryContext) -> np.ndarray:
        """The correlation-aware score ``mean_{x'} dQ_AB(x, x')`` of every unlabelled x.

        This is step 5 without the pool refinement (every candidate scored); ``select`` scores U*
        only. Draws X' from ``ctx.rng``.
        """
        if len(ctx.unlabeled) == 0:
            return np.empty(0)
        _check_samples(ctx, "CRAB")
        ref_pos = draw_reference_set(ctx, self.n_reference)
        _, w = self.weights(correlation.positive_correlation(ctx.y_labeled))
        ref = bemps.ReferenceSet(ctx.proba_samples[:, ref_pos, :], float(self.alpha), float(self.beta))
        return ref.change(ctx.proba_samples, sum_labels=True, label_weights=w, rows=ctx.unlabeled).mean(axis=1)

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx, {"n_candidates": 0})
        _check_samples(ctx, "CRAB")
        nU = len(ctx.unlabeled)
        ref_pos = draw_reference_set(ctx, self.n_reference)
        pbar = ctx.mean_proba()
        cand, masks, facts = self._refine(ctx, n, pbar)
        # where every sample of U* comes from (aligned with diagnostics["refined_pool"])
        pools_all, labels_all, pairs_all = self._pool_strings(cand, masks, facts["exclusive_pairs"])
        sources = pd.DataFrame(
            {
                "position": ctx.unlabeled[cand],
                "label_wise": labels_all,
                "negative": masks["neg"][cand],
                "negative_pairs": pairs_all,
                "hard_to_learn": masks["hard"][cand],
                "top_up": masks["topup"][cand],
                "pools": pools_all,
            }
        )

        # 5. correlation-aware expected score change on U*
        Ahat, w = self.weights(facts["A"])
        ref = bemps.ReferenceSet(ctx.proba_samples[:, ref_pos, :], float(self.alpha), float(self.beta))
        scored, bound = scored_candidates(ctx, ref, cand, self.max_score_terms, n=n, label_weights=w)
        in_cand = np.searchsorted(cand, scored)  # rows of U* that are scored (all unless narrowed)
        V, means = ref.change(
            ctx.proba_samples, sum_labels=True, label_weights=w, label_means=True, rows=ctx.unlabeled[scored]
        )
        score_ab = V.mean(axis=1)
        dq_plain = means.sum(axis=1)

        # 6. k-means on the L2-normalised dQ_AB vectors of U* (its scored rows)
        rows, cluster, dist, km_info = kmeans_pick(l2_normalise(V), n, _seed(ctx.rng))
        km_facts, clusters = cluster_record(ctx.unlabeled[scored], km_info, CRAB_SPACE)
        order = np.lexsort((ctx.unlabeled[scored[rows]], -score_ab[rows]))
        rows, cluster, dist = rows[order], cluster[order], dist[order]
        picked = scored[rows]
        pools = [pools_all[in_cand[r]] for r in rows]
        top_label, top_label_dq = _label_means_top(means[rows])
        details = pd.DataFrame(
            {
                "position": ctx.unlabeled[picked],
                "pick": np.arange(1, n + 1),
                "score": score_ab[rows],
                "reason": [
                    f"nearest to k-means centroid {c} of U*; from {p}" for c, p in zip(cluster, pools)
                ],
                "cluster": cluster,
                "distance_to_centroid": dist,
                "pools": pools,
                "labels": [labels_all[in_cand[r]] for r in rows],
                "label_pairs": [pairs_all[in_cand[r]] for r in rows],
                "dQ": dq_plain[rows],
                "dQ_AB": score_ab[rows],
                "top_label": top_label,
                "top_label_dQ": top_label_dq,
                "hard_to_learn": correlation.hard_to_learn_mask(pbar[picked]),
                "conflicting": correlation.conflicting_mask(masks["ystar"][picked], facts["exclusive_pairs"]),
                # mean over X' of dQ_j, the labels contributing most; they sum (over all K) to dQ
                "label_dQ": _label_contributions(means[rows]),
                "label_dQ_sum": dq_plain[rows],
                # w_j * mean dQ_j, the labels contributing most to the score; they sum to dQ_AB
                "label_dQ_AB": _label_contributions(means[rows] * w[None, :]),
            }
        )
        scores = np.full(nU, np.nan)
        scores[scored] = score_ab
        diagnostics = dict(facts)
        diagnostics.update(
            {
                "Ahat": Ahat,
                "label_weights": w,
                "reference_set": ref_pos,
                "refined_pool": ctx.unlabeled[cand],
                "refined_pool_sources": sources,
                "kmeans": km_facts,
                "clusters": clusters,
                "options": {
                    k: getattr(self, k)
                    for k in (
                        "asymmetric_keep",
                        "negative_pool",
                        "hard_pool",
                        "correlation_attention",
                        "refined_sampling",
                        "decay",
                    )
                },
                "round": int(ctx.round),
                "total_rounds": int(ctx.total_rounds),
                "score_method": ref.method,
                "score_bound": bound,
            }
        )
        return Selection(
            indices=ctx.unlabeled[picked], scores=scores, details=details, diagnostics=diagnostics
        )
