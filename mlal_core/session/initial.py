"""The initial labelled set ``L_0``: how the first batch is chosen, before any model exists (issue 19).

``SessionConfig.initial_method`` names the method (one line each: ``config.INITIAL_METHOD_HELP``):

* ``"random"``: a seeded uniform draw of ``size`` pool rows (unchanged since the first version).
* ``"per_label"``: at least one positive per label, rarest labels first, then a random fill. It
  **reads the pool's ground truth** to choose, so it exists only in simulation: a real person has no
  labels before labelling (:data:`GROUND_TRUTH_METHODS`).
* ``"representative"``: k-means on the pool's features (scikit-learn ``KMeans``, ``k = size``,
  greedy k-means++ initialisation, ``n_init`` = :data:`KMEANS_N_INIT` unless
  ``initial_params["n_init"]`` says otherwise, ``random_state = seed``); each centre then takes its
  nearest pool row. Centres are served in order; a centre whose nearest row is already taken takes
  its nearest untaken row (ties: the lowest position), so exactly ``size`` distinct rows come back
  even when k-means finds fewer distinct centres than ``size``. Hu et al. (2010) and Zhu et al.
  (2008) start active learning from cluster centres; k-medoids is not used because it needs the
  ``(N, N)`` distance matrix or a library the workbench does not ship.
* ``"diverse"``: k-center greedy (Sener & Savarese 2018) with no labelled centres: the Core-Set
  strategy's own code (:func:`mlal_core.strategies.diversity.kcenter_greedy`). The first centre is a
  uniform draw from the initial-set rng (``np.random.default_rng([seed, INITIAL_STREAM])``, as the
  Core-Set strategy does when nothing is labelled): the set changes with the seed, as a random set
  does, so a grid's seeds measure the initialisation's spread. Each next row is the one farthest from
  every chosen row.

Features of the feature-based methods (:func:`initial_feature_space`): the session's pool features
for feature models (MiniLM embeddings, a tabular set's standardised columns); sparse TF-IDF features
(the ``tfidf`` representation) are first projected to :data:`SVD_COMPONENTS` dimensions by a seeded
truncated SVD (latent semantic analysis), since k-means and k-center need dense rows. Token-id
sessions (the text backbones read token ids, which are no space to measure distances in) use TF-IDF
of the pool's texts, fitted on the pool, with the same projection: always available and the same on
every machine (the bundled or cached MiniLM embeddings are not always there, and the initial set must
not depend on a cache).

Distances are computed in chunks (``O(chunk x N)`` memory, never ``(N, N)``): k-center greedy does one
``O(N d)`` update per pick; the centres' nearest rows are found ``chunk`` centres at a time.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from mlal_core.errors import ConfigError, unknown_name_error
from mlal_core.session.config import (
    FEATURE_INITIAL_METHODS,
    GROUND_TRUTH_METHODS,
    INITIAL_METHODS,
    INITIAL_PARAM_KEYS,
    SessionConfig,
)

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.session.loop import ActiveLearningSession

__all__ = [
    "FEATURE_INITIAL_METHODS",
    "GROUND_TRUTH_METHODS",
    "INITIAL_METHODS",
    "INITIAL_STREAM",
    "KMEANS_N_INIT",
    "SVD_COMPONENTS",
    "choose_initial",
    "diverse_rows",
    "initial_feature_space",
    "initial_set",
    "per_label_shortfall",
    "representative_rows",
]

#: stream id of the initial-set rng: ``np.random.default_rng([seed, INITIAL_STREAM])``
INITIAL_STREAM = 1_000_003
#: k-means restarts of ``"representative"`` (scikit-learn keeps the run of lowest inertia)
KMEANS_N_INIT = 1
#: dimensions of the truncated SVD that makes sparse TF-IDF rows dense
SVD_COMPONENTS = 128
#: floats per chunk of a centre-to-pool distance block (32 MiB of float64)
_BLOCK = 1 << 22


def _per_label(Y_pool: Any, size: int, rng: np.random.Generator) -> np.ndarray:
    """Rarest label first, one random row with it per label not yet covered; then a random fill.

    Works on CSR / CSC copies of the positives (a dense or sparse ``Y_pool``, never densified: EURLEX57K's
    pool would be 153 MB dense); the rows with a label are read in ascending order, as a dense scan would."""
    chosen, taken, _covered = _per_label_greedy(Y_pool, size, rng)
    rest = np.flatnonzero(~taken)
    fill = rng.permutation(rest)[: size - len(chosen)]
    return np.concatenate([np.asarray(chosen, dtype=np.int64), fill.astype(np.int64)])


def _per_label_greedy(Y_pool: Any, size: int, rng: np.random.Generator) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The greedy part of ``"per_label"``: at most ``size`` rows, rarest uncovered label first.

    Returns the chosen rows (in order), the taken mask over the pool and the covered mask over the
    labels."""
    rows_of = sp.csc_matrix(Y_pool != 0, dtype=bool)  # label j's rows: indices[indptr[j]:indptr[j + 1]]
    rows_of.sort_indices()
    labels_of = rows_of.tocsr()
    n, K = rows_of.shape
    counts = np.diff(rows_of.indptr)
    tiebreak = rng.permutation(K)
    order = np.lexsort((tiebreak, counts))  # rarest first, random among equal counts
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    covered = np.zeros(K, dtype=bool)
    for j in order:
        if len(chosen) >= size:
            break
        if counts[j] == 0 or covered[j]:
            continue
        rows = rows_of.indices[rows_of.indptr[j]:rows_of.indptr[j + 1]]
        cands = rows[~taken[rows]]
        if cands.size == 0:  # pragma: no cover - a covered label is skipped above
            continue
        pick = int(cands[rng.integers(cands.size)])
        chosen.append(pick)
        taken[pick] = True
        covered[labels_of.indices[labels_of.indptr[pick]:labels_of.indptr[pick + 1]]] = True
    return chosen, taken, covered


def per_label_shortfall(Y_pool: Any, size: int, seed: int = 0) -> str | None:
    """Why an initial set of ``size`` rows chosen ``"per_label"`` cannot show every label; None when it can.

    ``"per_label"`` takes one row per label, rarest first; a label space larger than the initial set
    (EURLEX57K: K = 3,398 against an initial set of 100) leaves the most frequent labels without a
    chosen positive (they may still turn up by chance). The message names how many labels the set
    covers, how many rows the method needs to cover all labels with a positive in the pool (its own
    greedy run, same seed: usually fewer than K, since a row covers several labels), and the
    alternatives.

    Parameters
    ----------
    Y_pool : numpy.ndarray or scipy.sparse matrix
        Labels of the pool, (n, K), 0/1 (never densified).
    size : int
        The initial set's size.
    seed : int
        The session's seed (the greedy's tie-breaks follow it).

    Returns
    -------
    str or None
        The warning, or None when ``size`` rows cover every label with a positive in the pool.
    """
    n = Y_pool.shape[0]
    size = min(max(int(size), 0), n)
    chosen, _taken, covered = _per_label_greedy(Y_pool, n, np.random.default_rng([seed, INITIAL_STREAM]))
    present = int(np.count_nonzero(np.diff(sp.csc_matrix(Y_pool != 0, dtype=bool).indptr)))
    if size >= len(chosen):
        return None
    _, _, covered_at_size = _per_label_greedy(Y_pool, size, np.random.default_rng([seed, INITIAL_STREAM]))
    return (f"Initial set 'one per label' with {size:,} rows covers {int(covered_at_size.sum()):,} of the "
            f"{present:,} labels with a positive in the pool (rarest first; the most frequent ones may come by "
            f"chance). It needs {len(chosen):,} rows to give every label a positive: raise the initial set to "
            f"{len(chosen):,}, or choose 'random', 'representative' or 'diverse' (which need no ground truth).")


def _dense_features(features: Any, n: int, method: str) -> np.ndarray:
    if features is None:
        raise ConfigError(
            f"initial_method {method!r} chooses the initial set from the pool's features: pass "
            "features= (one row per pool sample), or use initial_method 'random'."
        )
    if sp.issparse(features):
        raise ConfigError(f"initial_method {method!r} needs dense features; project sparse ones first "
                          "(initial_feature_space does it with a truncated SVD).")
    X = np.asarray(features)
    if X.ndim != 2 or X.shape[0] != n:
        raise ConfigError(f"initial_method {method!r}: features must have one row per pool sample, ({n}, d); "
                          f"got shape {X.shape}.")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    if not np.isfinite(X).all():
        raise ConfigError(f"initial_method {method!r}: the features contain NaN or infinite values.")
    return X


def diverse_rows(X: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """k-center greedy from scratch: ``size`` distinct rows of ``X``, each farthest from those before.

    The Core-Set strategy's k-center code with no initial centres
    (:func:`mlal_core.strategies.diversity.kcenter_greedy`): the first row is a uniform draw from
    ``rng``, then each next row maximises the Euclidean distance to its nearest chosen row (ties: the
    lowest position). Once every row coincides with a chosen one, the remaining picks are the
    untaken rows in position order.

    Parameters
    ----------
    X : numpy.ndarray
        Dense features, (N, d).
    size : int
        Rows to choose, ``1 <= size <= N``.
    rng : numpy.random.Generator
        Draws the first centre.

    Returns
    -------
    numpy.ndarray
        The chosen positions (int64), in the order they were chosen, (size,).
    """
    from mlal_core.strategies.diversity import kcenter_greedy

    picks, _, _, _ = kcenter_greedy(X, np.full(len(X), np.inf), int(size), rng)
    return picks


def representative_rows(X: np.ndarray, size: int, seed: int, *, n_init: int = KMEANS_N_INIT) -> np.ndarray:
    """k-means centres of ``X``, each replaced by its nearest row: ``size`` distinct rows.

    ``KMeans(n_clusters=size, init="k-means++", n_init=n_init, random_state=seed)`` on ``X`` (as
    float64); centres are then served in order, each taking its nearest untaken row (ties: the
    lowest position).

    Parameters
    ----------
    X : numpy.ndarray
        Dense features, (N, d).
    size : int
        Rows to choose, ``1 <= size <= N``.
    seed : int
        ``random_state`` of the k-means.
    n_init : int
        k-means restarts (the lowest inertia is kept).

    Returns
    -------
    numpy.ndarray
        The chosen positions (int64), one per centre in centre order, (size,).
    """
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    from mlal_core.strategies.diversity import min_sq_dists, sq_dists_to, sq_norms

    X64 = np.asarray(X, dtype=np.float64)
    size = int(size)
    with warnings.catch_warnings():  # fewer distinct rows than centres: resolved below
        warnings.simplefilter("ignore", ConvergenceWarning)
        centres = KMeans(n_clusters=size, init="k-means++", n_init=int(n_init), random_state=int(seed)).fit(X64)
    C = centres.cluster_centers_
    _, nearest = min_sq_dists(C, X64, chunk=max(1, _BLOCK // max(1, len(X64))))
    taken = np.zeros(len(X64), dtype=bool)
    picks = np.empty(size, dtype=np.int64)
    X_sq = None
    for c in range(size):
        i = int(nearest[c])
        if taken[i]:  # rare: recompute this centre's distances and take its nearest untaken row
            X_sq = sq_norms(X64) if X_sq is None else X_sq
            d = sq_dists_to(X64, C[c], X_sq)
            d[taken] = np.inf
            i = int(np.argmin(d))
        taken[i] = True
        picks[c] = i
    return picks


def _check_size(size: int, n: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"The initial set needs a size of at least 1; got {size!r}.")
    return int(min(size, n))


def choose_initial(Y_pool: Any, size: int, method: str = "random", seed: int = 0, *,
                   features: Any = None, n_init: int = KMEANS_N_INIT) -> np.ndarray:
    """The initial labelled set: ``size`` pool positions (int64, in the order they were chosen).

    See the module docstring for each method. ``size`` larger than the pool gives the whole pool
    (each method's order); the session refuses such a size earlier (``SessionConfig.validate``).

    Parameters
    ----------
    Y_pool : np.ndarray or scipy.sparse matrix
        Labels of the pool, (n, K), 0/1; read only by ``"per_label"`` (and for ``n``).
    size : int
        Rows to choose (at least 1; at most ``n`` are returned).
    method : str
        One of :data:`INITIAL_METHODS`.
    seed : int
        Seed of the draw (``"random"``, ``"per_label"``, the first centre of ``"diverse"``) and the
        k-means ``random_state`` (``"representative"``).
    features : array-like, optional
        Dense pool features, (n, d): needed by ``"representative"`` and ``"diverse"``
        (:func:`initial_feature_space` makes them from a session's features).
    n_init : int
        k-means restarts of ``"representative"``.

    Returns
    -------
    np.ndarray
        The chosen pool positions, (min(size, n),), int64, all distinct.

    Raises
    ------
    ConfigError
        If ``method`` is unknown, ``size`` is not a positive integer, or a feature method gets no
        (or unusable) features.
    """
    n = Y_pool.shape[0]
    size = _check_size(size, n)
    rng = np.random.default_rng([seed, INITIAL_STREAM])
    if method == "random":
        return rng.choice(n, size=size, replace=False).astype(np.int64)
    if method == "per_label":
        return _per_label(Y_pool, size, rng)
    if method == "representative":
        return representative_rows(_dense_features(features, n, method), size, seed, n_init=n_init)
    if method == "diverse":
        return diverse_rows(_dense_features(features, n, method), size, rng)
    raise unknown_name_error("initial method", str(method), INITIAL_METHODS)


def _project(X: Any, seed: int) -> tuple[np.ndarray, int | None]:
    """Sparse rows -> a seeded truncated SVD (LSA) of at most :data:`SVD_COMPONENTS` dimensions."""
    if not sp.issparse(X):
        return np.asarray(X), None
    from sklearn.decomposition import TruncatedSVD

    k = int(min(SVD_COMPONENTS, X.shape[1] - 1, X.shape[0] - 1))
    if k < 1:
        return np.asarray(X.toarray(), dtype=np.float64), None
    svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=int(seed))
    return svd.fit_transform(X.astype(np.float64)), k


def initial_feature_space(session: ActiveLearningSession) -> tuple[np.ndarray, dict[str, Any]]:
    """The dense pool features a session's feature-based initial method works on, and their record.

    Parameters
    ----------
    session : ActiveLearningSession
        A session being constructed (its dataset, representation and config are set); its features
        are computed here (``session.features``) unless it reads token ids.

    Returns
    -------
    numpy.ndarray
        Dense features, one row per pool sample.
    dict
        ``features`` (what they are, in words) and ``svd_components`` (the projection's size, or
        None when none was needed).

    Raises
    ------
    ConfigError
        For a token-id session without texts.
    """
    seed = session.config.seed
    if session.representation == "tokens":
        from mlal_core.features.tfidf import fit_tfidf

        texts = session.dataset.train.texts
        if texts is None:
            raise ConfigError("This token-id session has no texts to choose a feature-based initial set from; "
                              "use initial_method 'random'.")
        _, tf = fit_tfidf(list(texts), {}, dataset_name=session.dataset.name)
        X, k = _project(tf["train"], seed)
        return X, {"features": "TF-IDF of the pool texts (the backbone reads token ids)", "svd_components": k}
    X, k = _project(session.features.train, seed)
    words = {"minilm": "MiniLM sentence embeddings", "tfidf": "TF-IDF features",
             "raw": "the dataset's standardised features"}.get(session.representation, session.representation)
    return X, {"features": f"{words} (the session's features)", "svd_components": k}


def _recorded_params(config: SessionConfig, space: dict[str, Any]) -> dict[str, Any]:
    """What a session records of its feature-based initial method (checked against what was given)."""
    given = dict(config.initial_params)
    record: dict[str, Any] = dict(space)
    if config.initial_method == "representative":
        record.update(algorithm="k-means (scikit-learn KMeans, k-means++ init), nearest pool row per centre",
                      n_init=int(given.get("n_init", KMEANS_N_INIT)), random_state=int(config.seed))
    else:
        record.update(algorithm="k-center greedy (the Core-Set strategy's code)",
                      first_centre="uniform draw from the initial-set rng (seeded)")
    for key, value in given.items():
        if key != "n_init" and record.get(key) != value:
            raise ConfigError(
                f"initial_params[{key!r}] = {value!r} is recorded by the session and would be {record.get(key)!r} "
                f"here; leave it out (only {INITIAL_PARAM_KEYS[0]!r} is an input)."
            )
    return record


def initial_set(session: ActiveLearningSession) -> tuple[np.ndarray, SessionConfig]:
    """A new session's initial set, and its config with the method's parameters recorded.

    ``"random"`` and ``"per_label"`` have none (the config is returned as it is); the feature-based
    methods record ``initial_params``: the feature space, the algorithm, ``n_init`` and
    ``random_state`` (k-means) or how the first centre was chosen (k-center).

    Parameters
    ----------
    session : ActiveLearningSession
        A session being constructed.

    Returns
    -------
    numpy.ndarray
        The initial positions (int64).
    SessionConfig
        The config to store.

    Raises
    ------
    ConfigError
        For ``initial_params`` that disagree with what the session records.
    """
    cfg = session.config
    Y = session.dataset.train.Y
    if cfg.initial_method == "per_label":
        shortfall = per_label_shortfall(Y, cfg.initial_size, cfg.seed)
        if shortfall:
            session.warnings.append(shortfall)
            warnings.warn(shortfall, UserWarning, stacklevel=3)
    if cfg.initial_method not in FEATURE_INITIAL_METHODS:
        return choose_initial(Y, cfg.initial_size, cfg.initial_method, cfg.seed), cfg
    X, space = initial_feature_space(session)
    record = _recorded_params(cfg, space)
    positions = choose_initial(Y, cfg.initial_size, cfg.initial_method, cfg.seed, features=X,
                               n_init=record.get("n_init", KMEANS_N_INIT))
    return positions, replace(cfg, initial_params=record)
