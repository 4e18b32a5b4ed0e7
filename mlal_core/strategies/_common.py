"""Private helpers shared by the strategy modules (not part of the public API).

Everything here is vectorised with numpy; loops run over picks (at most ``n`` per round) or over
chunks of rows, never over individual candidates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlal_core.errors import ConfigError
from mlal_core.scoring import binary_entropy  # noqa: F401  (re-exported for the strategies)
from mlal_core.strategies.base import (  # noqa: F401  (re-exported for the strategies)
    QueryContext,
    empty_selection,
    make_selection,
)

LN2 = float(np.log(2.0))
# rows per chunk in distance computations: bounds memory at about CHUNK x n_other floats
CHUNK = 4096


# ----------------------------------------------------------------------------------------------
# context fields
# ----------------------------------------------------------------------------------------------
def require(ctx: QueryContext, field: str, strategy: str, what: str) -> Any:
    """The context field ``field`` or a ConfigError saying that ``strategy`` needs it.

    Parameters
    ----------
    ctx : QueryContext
        The query context to read from.
    field : str
        Name of the ``QueryContext`` attribute.
    strategy : str
        Name of the strategy asking, used in the error message.
    what : str
        Short description of the field, used in the error message.

    Returns
    -------
    Any
        ``getattr(ctx, field)``.

    Raises
    ------
    ConfigError
        If the field is ``None``.
    """
    value = getattr(ctx, field)
    if value is None:
        raise ConfigError(f"Strategy {strategy!r} needs ctx.{field} ({what}); the context has none.")
    return value


# ----------------------------------------------------------------------------------------------
# representations
# ----------------------------------------------------------------------------------------------
def dense_rows(X: Any, positions: np.ndarray) -> np.ndarray:
    """``X[positions]`` as a dense float32 array (``X`` a numpy array or a scipy sparse matrix).

    Parameters
    ----------
    X : numpy.ndarray or scipy.sparse matrix
        Row-indexable matrix, shape ``(N, d)``.
    positions : numpy.ndarray
        Row indices, shape ``(m,)``.

    Returns
    -------
    numpy.ndarray
        Dense float32 rows, shape ``(m, d)``.
    """
    rows = X[positions]
    rows = rows.toarray() if sp.issparse(rows) else rows
    return np.asarray(rows, dtype=np.float32)


def representation(ctx: QueryContext, positions: np.ndarray, strategy: str) -> tuple[np.ndarray, str]:
    """``h`` for ``positions``: the model's penultimate features, or the context's features.

    Uses ``ctx.embedding`` when the loop already computed it, else ``model.embed(features)``, else the
    raw ``ctx.features`` when there is no model with ``embed`` (BADGE, Core-Set, AUDI).

    Parameters
    ----------
    ctx : QueryContext
        The query context.
    positions : numpy.ndarray
        Pool row indices, shape ``(m,)``.
    strategy : str
        Name of the calling strategy (for the error message).

    Returns
    -------
    numpy.ndarray
        Float32 representation, shape ``(m, d)``.
    str
        Where it came from: ``"model embedding"``, ``"model.embed(features)"`` or ``"features"``.

    Raises
    ------
    ConfigError
        If there is no embedding and ``ctx.features`` is ``None``.
    """
    if ctx.embedding is not None:
        return dense_rows(ctx.embedding, positions), "model embedding"
    X = require(ctx, "features", strategy, "the (N_pool, d) representation of the pool")
    if ctx.model is not None and hasattr(ctx.model, "embed"):
        return np.asarray(ctx.model.embed(X[positions]), dtype=np.float32), "model.embed(features)"
    return dense_rows(X, positions), "features"


# ----------------------------------------------------------------------------------------------
# randomness and hashing
# ----------------------------------------------------------------------------------------------
def derive_seed(rng: np.random.Generator) -> int:
    """An integer seed for libraries that take one (sklearn, torch), drawn from ``ctx.rng``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Generator to draw from (advanced by one draw).

    Returns
    -------
    int
        Seed in ``[0, 2**31 - 1)``.
    """
    return int(rng.integers(0, 2**31 - 1))


def texts_hash(texts: Sequence[str]) -> str:
    """A stable digest of a list of texts (for caches computed once per text list).

    Parameters
    ----------
    texts : Sequence[str]
        The texts, in order; each is length-prefixed so the digest is unambiguous.

    Returns
    -------
    str
        SHA-256 hex digest.
    """
    h = hashlib.sha256()
    for t in texts:
        b = str(t).encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# information
# ----------------------------------------------------------------------------------------------
def pseudo_labels(pbar: np.ndarray) -> np.ndarray:
    """``ystar_j = 1[pbar_j > 0.5]`` as bool.

    Parameters
    ----------
    pbar : numpy.ndarray
        Predicted label probabilities, any shape (typically ``(n, K)``).

    Returns
    -------
    numpy.ndarray
        Bool array of the same shape.
    """
    return np.asarray(pbar) > 0.5


# ----------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------
def sq_norms(X: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm of every row.

    Parameters
    ----------
    X : numpy.ndarray
        Matrix, shape ``(N, d)``.

    Returns
    -------
    numpy.ndarray
        ``sum_j X[i, j]**2``, shape ``(N,)``.
    """
    return np.einsum("ij,ij->i", X, X)


def sq_dists_to(X: np.ndarray, x: np.ndarray, X_sq: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances from every row of ``X`` to one point ``x`` (clipped at 0).

    Computed in ``X``'s dtype (float32 features stay float32: half the memory traffic).

    Parameters
    ----------
    X : numpy.ndarray
        Points, shape ``(N, d)``.
    x : numpy.ndarray
        One point, shape ``(d,)``.
    X_sq : numpy.ndarray, optional
        Precomputed ``sq_norms(X)``, shape ``(N,)``; computed when ``None``.

    Returns
    -------
    numpy.ndarray
        Squared distances, shape ``(N,)``.
    """
    X_sq = sq_norms(X) if X_sq is None else X_sq
    d = X @ x
    d *= -2.0
    d += X_sq
    d += x @ x
    return np.maximum(d, 0.0, out=d)


def min_sq_dists(X: np.ndarray, C: np.ndarray, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``X``: squared distance to the nearest row of ``C`` and that row's index.

    Chunked over the rows of ``X`` so memory stays at ``chunk x len(C)``. With no centres, the
    distances are ``inf`` and the indices ``-1``.

    Parameters
    ----------
    X : numpy.ndarray
        Points, shape ``(N, d)``.
    C : numpy.ndarray
        Centres, shape ``(M, d)``; may be empty.
    chunk : int, optional
        Rows of ``X`` per chunk (default ``CHUNK``).

    Returns
    -------
    numpy.ndarray
        Squared distance to the nearest centre (float64, clipped at 0), shape ``(N,)``.
    numpy.ndarray
        Index into ``C`` of that centre (int64), shape ``(N,)``.
    """
    n = len(X)
    if len(C) == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    C_sq = sq_norms(C)
    out_d = np.empty(n, dtype=np.float64)
    out_i = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        Xc = X[start : start + chunk]
        d = sq_norms(Xc)[:, None] - 2.0 * (Xc @ C.T) + C_sq[None, :]
        idx = np.argmin(d, axis=1)
        out_i[start : start + chunk] = idx
        out_d[start : start + chunk] = np.maximum(d[np.arange(len(Xc)), idx], 0.0)
    return out_d, out_i


def kmeanspp_seeding(
    n: int,
    n_points: int,
    sq_dist_to: Callable[[int], np.ndarray],
    norms_sq: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """k-means++ seeding as in BADGE (Ash et al. 2020).

    The first seed is the point of largest norm, each next one is drawn with probability
    proportional to its squared distance to the nearest seed chosen so far (D^2 sampling). If every
    remaining point coincides with a seed (all D^2 = 0) the next pick is uniform among the points not
    yet chosen. See ``docs/METHODS.md``, section "BADGE (multi-label), Core-Set".

    Parameters
    ----------
    n : int
        Number of seeds to pick.
    n_points : int
        Number of candidate points.
    sq_dist_to : Callable[[int], numpy.ndarray]
        ``sq_dist_to(i)`` returns the squared distances of all points to point ``i``, shape
        ``(n_points,)``.
    norms_sq : numpy.ndarray
        Squared norm of each point, shape ``(n_points,)``.
    rng : numpy.random.Generator
        Generator for the D^2 draws.

    Returns
    -------
    numpy.ndarray
        The picks (int64), shape ``(n,)``.
    numpy.ndarray
        The squared distance each had to the nearest earlier seed when drawn (its norm^2 for the
        first), shape ``(n,)``.
    list of str
        A reason per pick.
    """
    picks = np.empty(n, dtype=np.int64)
    at_pick = np.empty(n, dtype=np.float64)
    reasons: list[str] = []
    if n == 0:
        return picks, at_pick, reasons
    chosen = np.zeros(n_points, dtype=bool)
    first = int(np.argmax(norms_sq))
    picks[0], at_pick[0] = first, float(norms_sq[first])
    reasons.append("first seed: largest gradient norm")
    chosen[first] = True
    d2 = sq_dist_to(first)
    d2[chosen] = 0.0
    for t in range(1, n):
        total = float(d2.sum())
        if total > 0 and np.isfinite(total):
            i = int(rng.choice(n_points, p=d2 / total))
            reasons.append(f"k-means++ D^2 draw (probability {d2[i] / total:.3g})")
        else:
            i = int(rng.choice(np.flatnonzero(~chosen)))
            reasons.append("k-means++: all remaining points coincide with seeds; uniform draw")
        picks[t], at_pick[t] = i, float(d2[i])
        chosen[i] = True
        d2 = np.minimum(d2, sq_dist_to(i))
        d2[chosen] = 0.0
    return picks, at_pick, reasons


def kcenter_greedy(
    X: np.ndarray,
    init_min_sq: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """k-center greedy (Sener & Savarese 2018).

    Repeatedly take the point farthest from its nearest centre, then update every point's
    nearest-centre distance with the new centre (one vectorised ``O(N d)`` update per pick). See
    ``docs/METHODS.md``, section "BADGE (multi-label), Core-Set".

    Parameters
    ----------
    X : numpy.ndarray
        Candidate points, shape ``(N, d)``.
    init_min_sq : numpy.ndarray
        Each point's squared distance to the nearest initial centre, shape ``(N,)`` (``inf`` when
        there is none: then the first pick is uniform at random).
    n : int
        Number of picks.
    rng : numpy.random.Generator
        Generator for the uniform first pick.

    Returns
    -------
    numpy.ndarray
        The picks (int64), shape ``(n,)``.
    numpy.ndarray
        The distance (not squared) each had to its nearest centre when picked (``inf`` for a uniform
        first pick), shape ``(n,)``.
    list of str
        A reason per pick.
    numpy.ndarray
        The final squared nearest-centre distances (0 for the picks), shape ``(N,)``.
    """
    picks = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    reasons: list[str] = []
    m = np.array(init_min_sq, dtype=np.float64, copy=True)
    X_sq = sq_norms(X)
    taken = np.zeros(len(X), dtype=bool)
    for t in range(n):
        if np.isinf(m).all():
            i = int(rng.choice(np.flatnonzero(~taken)))
            reasons.append("first centre: no labelled samples, uniform draw")
            dist[t] = np.inf
        else:
            key = np.where(taken, -np.inf, m)
            i = int(np.argmax(key))
            reasons.append("farthest from every centre (labelled + picked)")
            dist[t] = float(np.sqrt(max(m[i], 0.0)))
        picks[t] = i
        taken[i] = True
        m = np.minimum(m, sq_dists_to(X, X[i], X_sq))
        m[taken] = 0.0
    return picks, dist, reasons, m


def kmeans_nearest(
    X: np.ndarray, n: int, seed: int, *, n_init: int | str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means with ``n`` clusters (seeded), then the sample nearest each centroid, no duplicates.

    Centroids are served in order; a centroid whose nearest sample is taken gets its nearest
    untaken sample. With fewer distinct rows than ``n``, fewer clusters are fitted and the remaining
    picks are the untaken samples nearest any centroid.

    Parameters
    ----------
    X : array_like
        Points, shape ``(N, d)``.
    n : int
        Number of picks (capped at ``N``).
    seed : int
        ``random_state`` for ``sklearn.cluster.KMeans``.
    n_init : int or str, optional
        ``n_init`` for ``KMeans`` (default ``"auto"``).

    Returns
    -------
    numpy.ndarray
        The picks (row indices of ``X``, int64), shape ``(min(n, N),)``.
    numpy.ndarray
        Their cluster index (int64).
    numpy.ndarray
        Their Euclidean distance to that centroid.
    """
    from sklearn.cluster import KMeans

    X = np.asarray(X, dtype=np.float64)
    n = int(min(n, len(X)))
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    n_distinct = len(np.unique(X, axis=0)) if len(X) <= 20000 else len(X)
    k = max(1, min(n, n_distinct))
    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(X)
    centres = km.cluster_centers_
    # distances centroid -> samples, (k, N)
    d = sq_norms(centres)[:, None] - 2.0 * (centres @ X.T) + sq_norms(X)[None, :]
    d = np.maximum(d, 0.0)
    taken = np.zeros(len(X), dtype=bool)
    picks, clusters, dists = [], [], []
    for c in range(k):
        i = int(np.argmin(np.where(taken, np.inf, d[c])))
        taken[i] = True
        picks.append(i)
        clusters.append(c)
        dists.append(float(np.sqrt(d[c, i])))
    # fewer distinct points than n: fill with the untaken samples nearest any centroid
    if len(picks) < n:
        rest = np.flatnonzero(~taken)
        near = d[:, rest].min(axis=0)
        extra = rest[np.argsort(near, kind="stable")[: n - len(picks)]]
        for i in extra:
            c = int(np.argmin(d[:, i]))
            picks.append(int(i))
            clusters.append(c)
            dists.append(float(np.sqrt(d[c, i])))
    return np.asarray(picks, np.int64), np.asarray(clusters, np.int64), np.asarray(dists)
