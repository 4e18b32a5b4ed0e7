"""2-D projections (t-SNE, UMAP) of features or label-wise embeddings, cached in memory and on disk.

``project(X, method, random_state, **params)`` returns an ``(n, 2)`` float32 array. The same
input array (by content), method, effective parameters and library version give the same answer,
read from:

1. an in-memory LRU (:data:`MEMORY_CACHE_SIZE` entries per process), then
2. ``<cache_dir>/projections/<key>.npy`` (``mlal_core.paths.cache_dir()``), written atomically (a
   temporary file in the same folder, then ``os.replace``), so an interrupted run never leaves a
   corrupt entry; an unreadable or mis-shaped file counts as a miss.

``key = sha256(dtype, shape, array bytes, method, effective params, library version)``.

Defaults and deviations (all visible in :func:`resolve_params`):

* t-SNE (scikit-learn): ``perplexity=30`` capped to ``(n - 1) / 3`` (each point then has about
  ``3 * perplexity < n`` neighbours; scikit-learn needs ``perplexity < n``), ``init="pca"``,
  ``learning_rate="auto"``, ``max_iter=1000``. Inputs with more than ``pca_dims=50`` columns are
  first reduced to 50 by PCA (dense) / truncated SVD (sparse), as van der Maaten recommends;
  ``pca_dims=None`` turns that off. A sparse input to t-SNE uses ``init="random"`` when not reduced.
  Up to :data:`TSNE_SINGLE_THREAD_MAX_N` samples t-SNE runs on one OpenMP thread: on a busy 2-core
  machine a 36-point map took 68 s with the default threads and 3 s with one; the map is
  bit-identical either way.
* UMAP (umap-learn): ``n_neighbors=15`` capped to ``n - 1``, ``min_dist=0.1``, ``init="spectral"``
  (``"random"`` when n < 10, where spectral initialisation is ill-posed), single-threaded
  (``n_jobs=1``, which a fixed ``random_state`` needs for reproducibility anyway). The k-nearest-
  neighbour graph is computed **exactly** by scikit-learn and handed to UMAP (``precomputed_knn``)
  for the metrics scikit-learn knows (``knn="exact"`` in the effective parameters); UMAP's own path
  switches to approximate NNDescent above 4096 samples, whose numba compilation alone took 80 s
  here, while exact kNN costs well under a second for the pool sizes the app shows. Other metrics
  use UMAP's own kNN (``knn="umap"``). The resulting map differs from ``umap.UMAP().fit_transform``
  on the same data only through the kNN graph (exact vs UMAP's) and is just as deterministic.

UMAP's first fit in a process compiles numba code (10-30 s on a small machine). :func:`umap_is_warm` says whether that
has happened; :func:`warm_up_umap` pays it on a tiny random array (optionally in a background
thread) so the app can warm up while the user reads. :func:`is_cached` says whether a map would come
from the cache (no fit at all) and :func:`needs_umap_compile` whether projecting will compile UMAP.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mlal_core._io import atomic_write, load_npy
from mlal_core.errors import ConfigError

__all__ = [
    "METHODS",
    "MIN_SAMPLES",
    "cache_stats",
    "clear_memory_cache",
    "is_cached",
    "needs_umap_compile",
    "project",
    "project_with",
    "projection_key",
    "resolve_params",
    "umap_is_warm",
    "warm_up_umap",
]

METHODS = ("tsne", "umap")
MIN_SAMPLES = 5
MEMORY_CACHE_SIZE = 32
TSNE_SINGLE_THREAD_MAX_N = 5000
FORMAT_VERSION = 1

_TSNE_DEFAULTS = dict(perplexity=30.0, early_exaggeration=12.0, learning_rate="auto", max_iter=1000,
                      metric="euclidean", init="pca", angle=0.5, pca_dims=50)
_UMAP_DEFAULTS = dict(n_neighbors=15, min_dist=0.1, metric="euclidean", spread=1.0, init="spectral",
                      n_epochs=None)
# parameters passed through when given (validated against the estimator's signature)
_TSNE_ALLOWED = set(_TSNE_DEFAULTS) | {"n_iter_without_progress", "min_grad_norm", "metric_params", "method"}
_UMAP_ALLOWED = set(_UMAP_DEFAULTS) | {"metric_kwds", "learning_rate", "set_op_mix_ratio", "local_connectivity",
                                       "repulsion_strength", "negative_sample_rate", "a", "b", "densmap",
                                       "low_memory"}

# metrics for which the exact kNN graph is computed by scikit-learn and handed to UMAP
_SKLEARN_KNN_METRICS = ("euclidean", "cosine", "manhattan", "l1", "l2", "cityblock", "chebyshev",
                        "minkowski", "correlation", "hamming", "jaccard", "braycurtis", "canberra")

_memory: OrderedDict[str, np.ndarray] = OrderedDict()
_memory_lock = threading.Lock()
_stats = {"memory_hits": 0, "disk_hits": 0, "computed": 0}
_umap_warm = False
_umap_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


# ------------------------------------------------------------------------------------------ inputs
def _check_input(X):
    if sp.issparse(X):
        X = X.tocsr() if X.dtype.kind == "f" else sp.csr_matrix(X, dtype=np.float64)
        data = X.data
    else:
        try:
            X = np.asarray(X)
            if X.dtype.kind != "f":
                X = X.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"X must be a numeric (n, d) array: {e}") from None
        data = X
    if X.ndim != 2:
        raise ConfigError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    n, d = X.shape
    if n < MIN_SAMPLES:
        raise ConfigError(f"a 2-D projection needs at least {MIN_SAMPLES} samples; got {n}.")
    if d < 1:
        raise ConfigError("X has no feature columns.")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise ConfigError(f"X has {bad} NaN or infinite value(s); impute or drop those rows first.")
    return X


def resolve_params(shape: tuple[int, int], method: str = "tsne", random_state: int = 0, *,
                   sparse: bool = False, **params) -> dict:
    """The parameters :func:`project` will actually use for an input of ``shape``.

    After defaults, caps and the checks (see the module docstring).

    Parameters
    ----------
    shape : tuple of (int, int)
        ``(n, d)`` of the input.
    method : {"tsne", "umap"}, default "tsne"
        The projection.
    random_state : int, default 0
        Seed (projections are seeded for reproducibility).
    sparse : bool, default False
        The input is a sparse matrix.
    **params
        The method's parameters.

    Returns
    -------
    dict
        The effective parameters (``random_state`` included).

    Raises
    ------
    ConfigError
        For an unknown method or parameter, or a value out of range.
    """
    if method not in METHODS:
        raise ConfigError(f"Unknown projection method {method!r}; choose one of {', '.join(METHODS)}.")
    n, d = int(shape[0]), int(shape[1])
    if random_state is None:
        raise ConfigError("random_state must be an int (projections are seeded for reproducibility).")
    allowed = _TSNE_ALLOWED if method == "tsne" else _UMAP_ALLOWED
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ConfigError(f"Unknown {method} parameter(s) {unknown}; allowed: {sorted(allowed)}.")
    out: dict = dict(_TSNE_DEFAULTS if method == "tsne" else _UMAP_DEFAULTS)
    out.update(params)
    out["random_state"] = int(random_state)
    if method == "tsne":
        p = float(out["perplexity"])
        if not p > 0:
            raise ConfigError(f"perplexity must be positive; got {p}.")
        out["perplexity"] = min(p, (n - 1) / 3.0)
        pca = out["pca_dims"]
        if pca is not None:
            pca = int(pca)
            if pca < 2:
                raise ConfigError(f"pca_dims must be >= 2 or None; got {pca}.")
            out["pca_dims"] = pca if d > pca and n > pca else None
        if sparse and out["pca_dims"] is None and out["init"] == "pca":
            out["init"] = "random"
        mi = int(out["max_iter"])
        if mi < 250:
            raise ConfigError(f"t-SNE max_iter must be >= 250; got {mi}.")
        out["max_iter"] = mi
    else:
        k = int(out["n_neighbors"])
        if k < 2:
            raise ConfigError(f"n_neighbors must be >= 2; got {k}.")
        out["n_neighbors"] = min(k, n - 1)
        md = float(out["min_dist"])
        if not 0 <= md <= float(out["spread"]):
            raise ConfigError(f"min_dist must lie in [0, spread]; got {md}.")
        out["min_dist"] = md
        if n < 10 and out["init"] == "spectral":
            out["init"] = "random"
        out["knn"] = "exact" if out["metric"] in _SKLEARN_KNN_METRICS else "umap"
    return out


def _array_digest(X) -> str:
    h = hashlib.sha256()
    if sp.issparse(X):
        X = X.tocsr()
        X.sum_duplicates()
        X.sort_indices()
        h.update(f"csr|{X.dtype.str}|{X.shape}|".encode())
        for part in (X.data, X.indices, X.indptr):
            h.update(np.ascontiguousarray(part).tobytes())
    else:
        arr = np.ascontiguousarray(X)
        h.update(f"dense|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.data.cast("B"))
    return h.hexdigest()


def _library_version(method: str) -> str:
    if method == "tsne":
        import sklearn

        return f"scikit-learn {sklearn.__version__}"
    from importlib.metadata import version

    return f"umap-learn {version('umap-learn')}"


def projection_key(X, method: str, params: dict) -> str:
    """Cache key of a projection.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix
        ``(n, d)`` points, dense or sparse.
    method : str
        The projection.
    params : dict
        Its effective parameters (:func:`resolve_params`).

    Returns
    -------
    str
        sha256 hex over the array content, the method, its parameters, the library version and the
        cache format.
    """
    blob = json.dumps({"array": _array_digest(X), "method": method, "params": params,
                       "library": _library_version(method), "format": FORMAT_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ cache
def _disk_path(key: str) -> Path:
    from mlal_core.paths import cache_dir

    return cache_dir() / "projections" / f"{key}.npy"


def _disk_load(key: str, n: int) -> np.ndarray | None:
    arr = load_npy(_disk_path(key))
    if arr is None:
        return None
    if arr.shape != (n, 2) or arr.dtype != np.float32 or not np.isfinite(arr).all():
        return None
    return arr


def _disk_save(key: str, arr: np.ndarray, meta: dict) -> None:
    path = _disk_path(key)
    atomic_write(path, lambda fh: np.save(fh, arr, allow_pickle=False))
    meta_json = json.dumps(meta, indent=2, sort_keys=True, default=str).encode()
    atomic_write(path.with_suffix(".json"), lambda fh: fh.write(meta_json))


def _memory_get(key: str) -> np.ndarray | None:
    with _memory_lock:
        arr = _memory.get(key)
        if arr is not None:
            _memory.move_to_end(key)
        return arr


def _memory_put(key: str, arr: np.ndarray) -> None:
    arr = arr.copy()
    arr.setflags(write=False)
    with _memory_lock:
        _memory[key] = arr
        _memory.move_to_end(key)
        while len(_memory) > MEMORY_CACHE_SIZE:
            _memory.popitem(last=False)


def clear_memory_cache() -> None:
    """Forget the in-memory projections (the disk cache stays)."""
    with _memory_lock:
        _memory.clear()


def cache_stats() -> dict[str, int]:
    """Counts of memory hits, disk hits and computed projections in this process.

    Returns
    -------
    dict of str to int
        ``memory_hits``, ``disk_hits``, ``computed``.
    """
    return dict(_stats)


# ------------------------------------------------------------------------------------------ compute
def _reduce(X, dims: int, random_state: int):
    if sp.issparse(X):
        from sklearn.decomposition import TruncatedSVD

        return TruncatedSVD(n_components=dims, random_state=random_state).fit_transform(X)
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=random_state).fit_transform(X)


def _compute(X, method: str, params: dict) -> np.ndarray:
    """Fit the projection (no cache). Separate so tests can count calls."""
    global _umap_warm
    p = dict(params)
    rs = p.pop("random_state")
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        dims = p.pop("pca_dims")
        # small maps: one OpenMP thread (thread start-up and contention cost more than they save,
        # badly so on a busy machine); the result does not depend on the thread count
        limits = 1 if X.shape[0] <= TSNE_SINGLE_THREAD_MAX_N else None
        with threadpool_limits(limits=limits):
            if dims is not None:
                X = _reduce(X, dims, rs)
            Y = TSNE(n_components=2, random_state=rs, **p).fit_transform(X)
    else:
        with _umap_lock:  # one numba compile at a time; UMAP fits are single-threaded anyway
            knn = p.pop("knn")
            if knn == "exact":
                from sklearn.neighbors import NearestNeighbors

                nn = NearestNeighbors(n_neighbors=p["n_neighbors"], metric=p["metric"],
                                      metric_params=p.get("metric_kwds")).fit(X)
                dist, ind = nn.kneighbors(X)  # each point's own index comes first, as in UMAP
                p["precomputed_knn"] = (ind.astype(np.int32), dist.astype(np.float32), None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                import umap

                Y = umap.UMAP(n_components=2, random_state=rs, n_jobs=1, **p).fit_transform(X)
            _umap_warm = True
    Y = np.asarray(Y, dtype=np.float32)
    if Y.shape != (X.shape[0], 2) or not np.isfinite(Y).all():
        raise RuntimeError(f"{method} returned an invalid projection (shape {Y.shape}).")
    return Y


def project(X, method: str = "tsne", random_state: int = 0, *, cache: bool = True, **params) -> np.ndarray:
    """2-D projection of ``X`` by t-SNE or UMAP, cached in memory and on disk.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix
        ``(n, d)`` points, dense or sparse.
    method : {"tsne", "umap"}, default "tsne"
        The projection.
    random_state : int, default 0
        Seed (projections are seeded for reproducibility).
    cache : bool, default True
        False recomputes and stores nothing.
    **params
        The method's parameters (see the module docstring and :func:`resolve_params`).

    Returns
    -------
    numpy.ndarray
        A new ``(n, 2)`` float32 array (a copy: changing it does not touch the cache).

    Raises
    ------
    ConfigError
        For fewer than :data:`MIN_SAMPLES` rows, NaN / infinite values, an unknown method or parameter.
    """
    X = _check_input(X)
    eff = resolve_params(X.shape, method, random_state, sparse=sp.issparse(X), **params)
    if not cache:
        _stats["computed"] += 1
        return _compute(X, method, eff)
    key = projection_key(X, method, eff)
    hit = _memory_get(key)
    if hit is not None:
        _stats["memory_hits"] += 1
        return hit.copy()
    arr = _disk_load(key, X.shape[0])
    if arr is not None:
        _stats["disk_hits"] += 1
        _memory_put(key, arr)
        return arr.copy()
    t0 = time.perf_counter()
    arr = _compute(X, method, eff)
    seconds = time.perf_counter() - t0
    _stats["computed"] += 1
    _memory_put(key, arr)
    try:
        _disk_save(key, arr, {"method": method, "params": eff, "shape": list(X.shape),
                              "library": _library_version(method), "seconds": round(seconds, 3)})
    except OSError as e:  # a read-only or full disk must not lose the result
        warnings.warn(f"could not write the projection cache: {e}", RuntimeWarning, stacklevel=2)
    return arr.copy()


def _stacked(X, extra) -> np.ndarray:
    """``X`` and ``extra`` as one dense float64 array (what :func:`project_with` projects)."""
    extra = np.asarray(extra.toarray() if sp.issparse(extra) else extra, dtype=np.float64)
    if sp.issparse(X):
        X = X.toarray()
    X = np.asarray(X, dtype=np.float64)
    if extra.ndim != 2 or X.ndim != 2 or extra.shape[1] != X.shape[1]:
        raise ConfigError(f"extra must have shape (P, {X.shape[-1] if X.ndim == 2 else 'd'}); got {extra.shape}.")
    return np.vstack([X, extra])


def project_with(X, extra, method: str = "tsne", random_state: int = 0, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Project ``X`` and ``extra`` together (e.g. samples and CoMAL prototypes).

    t-SNE has no transform for new points, so a joint fit is the way to place prototypes in the same
    map.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix
        ``(n, d)`` points, dense or sparse.
    extra : array-like
        ``(P, d)`` more points.
    method : {"tsne", "umap"}, default "tsne"
        The projection.
    random_state : int, default 0
        Seed (projections are seeded for reproducibility).
    **kwargs
        As :func:`project`.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        ``(xy (n, 2), extra_xy (P, 2))``.
    """
    both = project(_stacked(X, extra), method, random_state, **kwargs)
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    return both[:n], both[n:]


def is_cached(X, method: str = "tsne", random_state: int = 0, *, extra=None, **params) -> bool:
    """Whether :func:`project` (``extra`` given: :func:`project_with`) would return this map from a cache.

    A disk hit is loaded into the memory cache, so the projection that follows does not read it again.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix
        ``(n, d)`` points, dense or sparse.
    method : {"tsne", "umap"}, default "tsne"
        The projection.
    random_state : int, default 0
        Seed (projections are seeded for reproducibility).
    extra : array-like, optional
        As :func:`project_with`.
    **params
        The method's parameters.

    Returns
    -------
    bool
        True when nothing would be fitted.

    Raises
    ------
    ConfigError
        Like :func:`project`, for bad input.
    """
    X = _check_input(X if extra is None else _stacked(X, extra))
    key = projection_key(X, method, resolve_params(X.shape, method, random_state, sparse=sp.issparse(X), **params))
    if _memory_get(key) is not None:
        return True
    arr = _disk_load(key, X.shape[0])
    if arr is None:
        return False
    _memory_put(key, arr)
    return True


def needs_umap_compile(X, method: str = "tsne", random_state: int = 0, *, extra=None, **params) -> bool:
    """Whether projecting ``X`` will pay UMAP's one-off compilation.

    True when the method is UMAP, UMAP is not warm in this process and the map is not cached (a
    cached map needs no UMAP at all). An app shows its "compiling, once" message only then.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix
        ``(n, d)`` points, dense or sparse.
    method : {"tsne", "umap"}, default "tsne"
        The projection.
    random_state : int, default 0
        Seed (projections are seeded for reproducibility).
    extra : array-like, optional
        As :func:`project_with`.
    **params
        The method's parameters.

    Returns
    -------
    bool
    """
    return method == "umap" and not umap_is_warm() and not is_cached(X, method, random_state, extra=extra, **params)


# ------------------------------------------------------------------------------------------ UMAP warm-up
def umap_is_warm() -> bool:
    """Whether UMAP has been fitted in this process (its numba code is compiled).

    Returns
    -------
    bool
    """
    return _umap_warm


def warm_up_umap(background: bool = False) -> threading.Thread | float:
    """Pay UMAP's one-off numba compilation now, on a tiny random array (nothing is cached).

    Parameters
    ----------
    background : bool, default False
        Run it in a daemon thread.

    Returns
    -------
    threading.Thread or float
        ``background=False``: the seconds it took (0.0 when already warm). ``background=True``: the
        thread doing it (the same thread while one is running), so an app can start it at launch and
        check :func:`umap_is_warm` later.
    """
    global _warm_thread

    def _run() -> float:
        if _umap_warm:
            return 0.0
        t0 = time.perf_counter()
        X = np.random.default_rng(0).normal(size=(60, 4))
        _compute(X, "umap", resolve_params(X.shape, "umap", 0, n_neighbors=5, n_epochs=20))
        return time.perf_counter() - t0

    if not background:
        return _run()
    with _memory_lock:
        if _warm_thread is None or not _warm_thread.is_alive():
            _warm_thread = threading.Thread(target=_run, name="mlal-umap-warm-up", daemon=True)
            _warm_thread.start()
        return _warm_thread
