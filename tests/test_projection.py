"""t-SNE / UMAP projections with caching (mlal_core.inspection.projection)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mlal_core.errors import ConfigError
from mlal_core.inspection import projection


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MLAL_HOME", str(tmp_path))
    projection.clear_memory_cache()
    yield
    projection.clear_memory_cache()


def blobs(n_per=25, d=10, seed=0, spread=12.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(3, d))
    X = np.vstack([c + rng.normal(size=(n_per, d)) for c in centers]).astype(np.float32)
    y = np.repeat(np.arange(3), n_per)
    return X, y


def knn_purity(xy, y, k=5):
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    return float((y[nn] == y[:, None]).mean())


@pytest.fixture
def count_compute(monkeypatch):
    calls = []
    real = projection._compute

    def counting(X, method, params):
        calls.append((method, dict(params)))
        return real(X, method, params)

    monkeypatch.setattr(projection, "_compute", counting)
    return calls


# ----------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("X,kwargs", [
    (np.ones((4, 3)), {}),                                      # n < 5
    (np.array([[0.0, np.nan]] * 6), {}),                        # NaN
    (np.array([[0.0, np.inf]] * 6), {}),                        # inf
    (np.ones(10), {}),                                          # 1-D
    (np.ones((6, 2)), dict(method="pca")),                      # unknown method
    (np.ones((6, 2)), dict(method="tsne", n_neighbours=3)),     # unknown parameter
    (np.ones((6, 2)), dict(method="umap", n_neighbors=1)),
    (np.ones((6, 2)), dict(method="tsne", perplexity=-1)),
    (np.ones((6, 2)), dict(method="tsne", max_iter=10)),
    (np.array([["a", "b"]] * 6), {}),
    (np.ones((6, 2)), dict(random_state=None)),
])
def test_invalid_inputs_raise(X, kwargs):
    with pytest.raises(ConfigError):
        projection.project(X, **kwargs)


def test_resolve_params_caps_and_defaults():
    p = projection.resolve_params((20, 8), "tsne", 0)
    assert p["perplexity"] == pytest.approx(19 / 3) and p["pca_dims"] is None and p["random_state"] == 0
    assert projection.resolve_params((1000, 8), "tsne", 0)["perplexity"] == 30.0
    assert projection.resolve_params((1000, 384), "tsne", 0)["pca_dims"] == 50
    assert projection.resolve_params((1000, 384), "tsne", 0, pca_dims=None)["pca_dims"] is None
    u = projection.resolve_params((8, 3), "umap", 1)
    assert u["n_neighbors"] == 7 and u["init"] == "random" and u["knn"] == "exact"
    assert projection.resolve_params((500, 3), "umap", 1)["n_neighbors"] == 15
    assert projection.resolve_params((500, 3), "umap", 1, metric="haversine")["knn"] == "umap"


# ----------------------------------------------------------------------------------------- t-SNE
def test_tsne_deterministic_and_seed_matters():
    X, _ = blobs(n_per=12)
    a = projection.project(X, "tsne", random_state=0, cache=False, max_iter=300)
    b = projection.project(X, "tsne", random_state=0, cache=False, max_iter=300)
    c = projection.project(X, "tsne", random_state=1, cache=False, max_iter=300, init="random")
    assert a.shape == (36, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_tsne_keeps_blobs_apart():
    X, y = blobs(n_per=30)
    xy = projection.project(X, "tsne", random_state=0, max_iter=500)
    assert knn_purity(xy, y) > 0.95


def test_tsne_sparse_and_high_dimensional_input():
    X, y = blobs(n_per=20, d=80)
    xy = projection.project(sp.csr_matrix(X), "tsne", random_state=0, max_iter=400)  # SVD to 50 dims first
    assert xy.shape == (60, 2) and knn_purity(xy, y) > 0.95


def test_cache_hit_returns_identical_array_without_recomputing(count_compute, tmp_path):
    X, _ = blobs(n_per=10)
    first = projection.project(X, "tsne", random_state=0, max_iter=250)
    assert len(count_compute) == 1
    again = projection.project(X.copy(), "tsne", random_state=0, max_iter=250)  # same content, new object
    assert len(count_compute) == 1
    np.testing.assert_array_equal(first, again)
    again[0, 0] = 1e6  # the caller's copy, not the cache
    np.testing.assert_array_equal(projection.project(X, "tsne", random_state=0, max_iter=250), first)
    # the disk cache survives the memory cache (a new process)
    files = list((tmp_path / "cache" / "projections").glob("*.npy"))
    assert len(files) == 1 and files[0].with_suffix(".json").is_file()
    projection.clear_memory_cache()
    np.testing.assert_array_equal(projection.project(X, "tsne", random_state=0, max_iter=250), first)
    assert len(count_compute) == 1
    # anything that changes the answer changes the key
    projection.project(X, "tsne", random_state=1, max_iter=250)
    projection.project(X, "tsne", random_state=0, max_iter=250, perplexity=2)
    projection.project(X[::-1].copy(), "tsne", random_state=0, max_iter=250)
    assert len(count_compute) == 4
    # cache=False always computes and stores nothing new
    projection.project(X, "tsne", random_state=0, max_iter=250, cache=False)
    assert len(count_compute) == 5
    assert len(list((tmp_path / "cache" / "projections").glob("*.npy"))) == 4
    assert not list((tmp_path / "cache" / "projections").glob("*.tmp"))  # atomic writes leave no temp files


def test_corrupt_cache_file_is_a_miss(count_compute, tmp_path):
    X, _ = blobs(n_per=10)
    first = projection.project(X, "tsne", random_state=0, max_iter=250)
    (path,) = (tmp_path / "cache" / "projections").glob("*.npy")
    path.write_bytes(b"not an npy file")
    projection.clear_memory_cache()
    np.testing.assert_array_equal(projection.project(X, "tsne", random_state=0, max_iter=250), first)
    assert len(count_compute) == 2
    assert np.load(path).shape == (30, 2)  # rewritten


def test_project_with_extra_points():
    X, _ = blobs(n_per=10)
    protos = np.vstack([X[:10].mean(0), X[10:20].mean(0)])
    xy, pxy = projection.project_with(X, protos, "tsne", random_state=0, max_iter=250)
    assert xy.shape == (30, 2) and pxy.shape == (2, 2)
    with pytest.raises(ConfigError):
        projection.project_with(X, np.ones((2, 3)))


def test_is_cached_sees_memory_and_disk_hits_without_fitting(count_compute):
    X, _ = blobs(n_per=10)
    protos = np.vstack([X[:10].mean(0), X[10:20].mean(0)])
    assert not projection.is_cached(X, "tsne", 0, max_iter=250)
    projection.project(X, "tsne", random_state=0, max_iter=250)
    assert projection.is_cached(X.copy(), "tsne", 0, max_iter=250)
    assert not projection.is_cached(X, "tsne", 1, max_iter=250)  # another seed is another map
    projection.clear_memory_cache()
    assert projection.is_cached(X, "tsne", 0, max_iter=250)  # from disk, now in memory again
    stats = projection.cache_stats()
    projection.project(X, "tsne", random_state=0, max_iter=250)
    assert projection.cache_stats()["memory_hits"] == stats["memory_hits"] + 1
    assert not projection.is_cached(X, "tsne", 0, extra=protos, max_iter=250)
    projection.project_with(X, protos, "tsne", random_state=0, max_iter=250)
    assert projection.is_cached(X, "tsne", 0, extra=protos, max_iter=250)
    assert len(count_compute) == 2


def test_needs_umap_compile_only_when_a_cold_umap_will_fit(monkeypatch):
    """The app's "UMAP compiles (10-30 s)" message: never for a cached map, t-SNE or a warm UMAP."""
    fitted = []

    def fake_compute(X, method, params):  # a stand-in fit: no numba, nothing compiled
        fitted.append(method)
        return np.zeros((X.shape[0], 2), np.float32)

    monkeypatch.setattr(projection, "_compute", fake_compute)
    monkeypatch.setattr(projection, "_umap_warm", False)
    X, _ = blobs(n_per=10)
    assert projection.needs_umap_compile(X, "umap")
    assert not projection.needs_umap_compile(X, "tsne")
    projection.project(X, "umap", random_state=0)
    projection.clear_memory_cache()
    assert not projection.umap_is_warm() and not projection.needs_umap_compile(X, "umap")  # a disk hit
    assert projection.needs_umap_compile(X, "umap", random_state=1)
    monkeypatch.setattr(projection, "_umap_warm", True)
    assert not projection.needs_umap_compile(X, "umap", random_state=1)
    assert fitted == ["umap"]


# ----------------------------------------------------------------------------------------- UMAP
@pytest.mark.slow
def test_umap_keeps_blobs_apart_and_is_deterministic(count_compute):
    X, y = blobs(n_per=30)
    took = projection.warm_up_umap()
    assert projection.umap_is_warm()
    assert projection.warm_up_umap() == 0.0 and took >= 0.0
    n_before = len(count_compute)
    xy = projection.project(X, "umap", random_state=0)
    assert xy.shape == (90, 2) and knn_purity(xy, y) > 0.95
    projection.clear_memory_cache()
    again = projection.project(X, "umap", random_state=0, cache=False)
    np.testing.assert_array_equal(xy, again)
    assert len(count_compute) == n_before + 2


@pytest.mark.slow
def test_umap_warm_up_in_background():
    t = projection.warm_up_umap(background=True)
    t.join(timeout=300)
    assert not t.is_alive() and projection.umap_is_warm()
