"""Where MiniLM features come from: chunked encoding that resumes, the bundled int8 files and their
first-use check, and what a session records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from conftest import REPO_ROOT, subset_dataset
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays

from mlal_core import data, paths
from mlal_core.errors import DataValidationError
from mlal_core.features import bundled, cache, encoder, featurize, minilm
from mlal_core.features.corpus import corpus_of, text_hash
from mlal_core.session.worker import FeatureWorker, PreparationCancelled


@pytest.fixture(scope="module")
def goemotions_small():
    """300 short real texts (GoEmotions): enough for several chunks, seconds to encode."""
    return subset_dataset(data.load("goemotions"), 200, 40, 60, seed=5, name="goemotions-small")


# ----------------------------------------------------------------------------- corpus
def test_corpus_is_the_sorted_distinct_texts_and_maps_every_row():
    from test_features import _text_ds

    ds = _text_ds()
    ds.test.texts = ["wheat prices rose", "the bank report", "rates fell"]  # two repeat valid texts
    corp = corpus_of(ds)
    assert corp.texts == tuple(sorted(set(ds.train.texts) | set(ds.valid.texts) | set(ds.test.texts)))
    assert len(corp) == 9
    for split in ("train", "valid", "test"):
        assert [corp.texts[i] for i in corp.rows[split]] == list(getattr(ds, split).texts)
    assert corp.text_hash == text_hash(corp.texts) != text_hash(corp.texts[::-1])


# ----------------------------------------------------------------------------- int8 per-row scale
def test_quantize_rows_by_hand():
    x = np.array([[0.5, -0.25, 0.0], [0.0, 0.0, 0.0]], np.float32)
    q, scale = bundled.quantize_rows(x)
    np.testing.assert_allclose(scale, [0.5 / 127, 1.0])
    np.testing.assert_array_equal(q, [[127, -64, 0], [0, 0, 0]])  # -0.25 / (0.5 / 127) = -63.5 -> -64 (even)
    back = bundled.dequantize_rows(q, scale)
    np.testing.assert_allclose(back[0], np.array([127, -64, 0]) / np.hypot(127, 64), rtol=1e-6)
    np.testing.assert_array_equal(back[1], 0.0)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (5, 384), elements=hst.floats(-1, 1, width=32)))
def test_int8_rows_keep_cosine_above_the_stated_bound(x):
    x = x[np.abs(x).max(axis=1) > 1e-3]
    if not len(x):
        return
    q, scale = bundled.quantize_rows(x)
    cos = bundled.row_cosines(bundled.dequantize_rows(q, scale), x)
    # worst case: error <= scale/2 per entry, |x| >= max|x|: cosine >= 1 - 384 * (1/254)^2 / 2 = 0.99702;
    # real (dense) vectors do far better: see the shipped files' measured minimum
    assert cos.min() >= 0.997


# ----------------------------------------------------------------------------- resume
_RUNTIME = encoder.resolve_runtime("auto", encoder.resolve_device("cpu"), None)  # what fp32 runs on
def _chunked(ds, cache_dir, progress=None):
    return minilm.minilm_matrix(corpus_of(ds), max_length=64, batch_size=8, precision="fp32", chunk_batches=2,
                                cache_dir=cache_dir, progress=progress, name="small")


def test_an_interrupted_embedding_resumes_and_equals_an_uninterrupted_one(goemotions_small, tmp_path):
    whole, info = _chunked(goemotions_small, tmp_path / "a")
    assert info["resumed_rows"] == 0 and whole.shape == (300, 384)

    class Stop(Exception):
        pass

    def stop_after(rows):
        def progress(done, total, message):
            if done >= rows and "Encoding" in message:
                raise Stop
        return progress

    with pytest.raises(Stop):
        _chunked(goemotions_small, tmp_path / "b", stop_after(100))
    entry = cache.EmbeddingEntry(tmp_path / "b", info["cache_key"])
    chunks = sorted(entry.chunk_dir(_RUNTIME, 8, 16).glob("*.npy"))
    assert len(chunks) == 6  # rows 0-95 in chunks of 16; the chunk in progress was not written
    again, info2 = _chunked(goemotions_small, tmp_path / "b")
    assert info2["resumed_rows"] == 96
    np.testing.assert_array_equal(again, whole)  # the same batches give the same bits
    assert not entry.chunk_dir(_RUNTIME, 8, 16).exists()  # chunks are dropped once the matrix is written


def test_kill_9_during_an_embedding_loses_only_the_chunk_in_progress(goemotions_small, tmp_path):
    """A real SIGKILL (as a server restart or kill -9 would): the finished chunks are on disk."""
    whole, info = _chunked(goemotions_small, tmp_path / "ref")
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from mlal_core import data
        from mlal_core.features import minilm
        from mlal_core.features.corpus import corpus_of
        sys.path.insert(0, {str(REPO_ROOT / "tests")!r})
        from conftest import subset_dataset
        ds = subset_dataset(data.load("goemotions"), 200, 40, 60, seed=5, name="goemotions-small")
        def slow(done, total, message):
            if "Encoding" in message and done >= 72:  # in chunk 4: chunks 0-3 are written
                print("READY", flush=True)
                time.sleep(600)
        minilm.minilm_matrix(corpus_of(ds), max_length=64, batch_size=8, precision="fp32", chunk_batches=2,
                             cache_dir={str(tmp_path / 'killed')!r}, progress=slow, name="small")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        assert proc.stdout.readline().strip() == "READY"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    plan = cache.EmbeddingEntry(tmp_path / "killed", info["cache_key"]).chunk_dir(_RUNTIME, 8, 16)
    assert len(list(plan.glob("*.npy"))) == 4  # rows 0-63 finished, nothing half-written
    assert not list(plan.glob(".*"))
    again, info2 = _chunked(goemotions_small, tmp_path / "killed")
    assert info2["resumed_rows"] == 64
    np.testing.assert_array_equal(again, whole)


def test_feature_worker_reports_rate_eta_and_cancels_keeping_the_chunks(goemotions_small, monkeypatch):
    request = {"representation": "minilm", "max_length": 64, "precision": "fp32", "batch_size": 8}
    real = minilm._encode_in_chunks
    monkeypatch.setattr(minilm, "_encode_in_chunks", _slow(real))
    worker = FeatureWorker(goemotions_small, request).start()
    deadline = time.monotonic() + 120
    while worker.status().step_done < 136 and time.monotonic() < deadline:  # past the first chunk (16 x 8 rows)
        time.sleep(0.05)
    status = worker.status()
    assert status.running and status.step_total == 300
    assert status.rate is not None and status.rate > 0
    assert status.eta_s == pytest.approx((300 - status.step_done) / status.rate)
    worker.cancel()
    assert worker.join(60)
    final = worker.status()
    assert final.state == "cancelled" and worker.result is None and "finished chunks are kept" in final.message
    # a new worker resumes from the kept chunks and ends with the full features
    monkeypatch.setattr(minilm, "_encode_in_chunks", real)
    again = FeatureWorker(goemotions_small, request).start()
    assert again.join(300) and again.status().state == "done"
    assert again.result.info["resumed_rows"] >= 128 and again.result.train.shape == (200, 384)
    ref = featurize(goemotions_small, "minilm", max_length=64, precision="fp32", batch_size=8, use_cache=False)
    np.testing.assert_array_equal(again.result.train, ref.train)


def _slow(real):
    """Encode with a pause per batch, so a test can watch the worker run."""
    def wrapped(*args, **kwargs):
        progress = args[7]

        def paced(done, total, message):
            time.sleep(0.05)
            progress(done, total, message)
        return real(*args[:7], paced, *args[8:], **kwargs)
    return wrapped


def test_cancelled_error_is_the_preparation_one():
    assert FeatureWorker.cancelled_error is PreparationCancelled


# ----------------------------------------------------------------------------- bundled files
def _bundle(ds, folder, tamper=None):
    corp = corpus_of(ds)
    matrix = encoder.encode_texts(list(corp.texts), max_length=64, precision="fp32")
    if tamper is not None:
        matrix = tamper(matrix)
    path = folder / "small" / "features" / "minilm.npz"
    bundled.save(path, matrix, {"dataset": "small", "text_hash": corp.text_hash, "encoder": encoder.ENCODER_NAME,
                                "max_length": 64, "pooling": minilm.POOLING, "precision": "fp32"})
    return path, matrix


def test_bundled_features_are_checked_on_first_use_then_cached(goemotions_small, tmp_path, monkeypatch):
    path, matrix = _bundle(goemotions_small, tmp_path / "data")
    monkeypatch.setattr(paths, "data_dir", lambda: tmp_path / "data")
    encoded = []
    real = encoder.encode_texts
    monkeypatch.setattr(encoder, "encode_texts", lambda texts, **kw: (encoded.append(len(texts)), real(texts, **kw))[1])
    f = featurize(goemotions_small, "minilm", max_length=64, precision="auto", cache_dir=tmp_path / "c")
    assert encoded == [bundled.VERIFY_ROWS]  # only the handful, in fp32
    assert f.info["source"] == "bundled" and f.info["precision"] == "fp32" and not f.info["cache_hit"]
    assert f.info["bundled_check"]["min_cosine"] >= 0.999
    assert f.info["bundled_check"]["rows"] == bundled.verify_rows(300, corpus_of(goemotions_small).text_hash).tolist()
    corp = corpus_of(goemotions_small)
    want = bundled.dequantize_rows(*bundled.quantize_rows(matrix))
    np.testing.assert_array_equal(f.train, want[corp.rows["train"]])
    cos = bundled.row_cosines(f.test, matrix[corp.rows["test"]])
    assert cos.min() >= 0.9999
    # the second use reads the cache: no check, no encoder; the provenance stays "bundled"
    f2 = featurize(goemotions_small, "minilm", max_length=64, precision="auto", cache_dir=tmp_path / "c")
    assert encoded == [bundled.VERIFY_ROWS] and f2.info["cache_hit"] and f2.info["source"] == "bundled"
    assert f2.provenance()["bundled_check"] == f.info["bundled_check"]
    # an exact bf16 request never takes the fp32 rows
    f3 = featurize(goemotions_small, "minilm", max_length=64, precision="bf16", exact_precision=True,
                   cache_dir=tmp_path / "c")
    assert f3.info["source"] == "computed" and f3.info["precision"] == "bf16"


def test_bundled_features_that_do_not_match_are_reported_and_recomputed(goemotions_small, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    _bundle(goemotions_small, tmp_path / "data", tamper=lambda m: rng.permutation(m))  # rows in the wrong order
    monkeypatch.setattr(paths, "data_dir", lambda: tmp_path / "data")
    with pytest.warns(minilm.BundledFeaturesMismatch, match="do not match the encoder"):
        f = featurize(goemotions_small, "minilm", max_length=64, precision="fp32", cache_dir=tmp_path / "c")
    assert f.info["source"] == "computed"
    ref = encoder.encode_texts(list(goemotions_small.test.texts), max_length=64, precision="fp32")
    assert bundled.row_cosines(f.test, ref).min() > 0.99999


def test_a_damaged_bundled_file_is_reported_not_used(goemotions_small, tmp_path, monkeypatch):
    path, _ = _bundle(goemotions_small, tmp_path / "data")
    monkeypatch.setattr(paths, "data_dir", lambda: tmp_path / "data")
    corp = corpus_of(goemotions_small)
    assert bundled.find(corp.text_hash, encoder.ENCODER_NAME, 64, minilm.POOLING) is not None  # indexed
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 3])  # damaged after it was found (e.g. a partial checkout)
    with pytest.raises(DataValidationError, match="cannot be read"):
        bundled.BundledFeatures(path, bundled.read_meta(tmp_path / "none.npz") or {}).load()
    with pytest.warns(minilm.BundledFeaturesMismatch, match="were not used"):
        f = featurize(goemotions_small, "minilm", max_length=64, precision="fp32", cache_dir=tmp_path / "c")
    assert f.info["source"] == "computed"
    bundled._index.cache_clear()
    assert bundled.read_meta(path) is None  # an unreadable file is not indexed at all
    assert bundled.find(corp.text_hash, encoder.ENCODER_NAME, 64, minilm.POOLING) is None


# ----------------------------------------------------------------------------- the shipped files
SHIPPED = ("reuters21578", "goemotions")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_features_belong_to_the_bundled_texts_and_equal_a_fresh_encoding(name):
    ds = data.load(name)
    corp = corpus_of(ds)
    found = bundled.find(corp.text_hash, encoder.ENCODER_NAME, 128, minilm.POOLING)
    assert found is not None, f"data/{name}/features has no MiniLM file for this corpus"
    meta = found.meta
    assert meta["rows"] == len(corp) and meta["precision"] == "fp32" and meta["quantisation"] == "int8-rowscale"
    assert meta["min_cosine_to_fp32"] >= 0.999
    matrix = found.load()
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    rows = np.random.default_rng(11).choice(len(corp), size=48, replace=False)
    fresh = encoder.encode_texts([corp.texts[r] for r in rows], max_length=128, precision="fp32")
    assert bundled.row_cosines(fresh, matrix[rows]).min() >= 0.999
    # every validation carve of the pool finds the same file
    assert corpus_of(data.load(name, random_state=7)).text_hash == corp.text_hash


def test_a_session_on_a_bundled_text_set_records_its_feature_source(mlal_home):
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.store import SessionStore

    store = SessionStore(mlal_home / "s.sqlite")
    cfg = SessionConfig(dataset="reuters21578", strategy="random", initial_size=20, query_size=5, rounds=1,
                        model_params={"n_members": 1, "epochs": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error", minilm.BundledFeaturesMismatch)
        session = ActiveLearningSession(cfg, store=store)
        session.prepare()
    src = store.session_info(session.session_id)["feature_source"]
    assert src["representation"] == "minilm" and src["source"] == "bundled" and src["precision"] == "fp32"
    assert src["bundled_file"] == "data/reuters21578/features/minilm-l6-v2-len128.npz"
    assert session.config.precision in ("fp32", "bf16") and cfg.precision == "auto"
    assert store.session_info(session.session_id)["config"]["precision"] == session.config.precision
    reopened = ActiveLearningSession.resume(store, session.session_id)
    assert reopened.feature_request() == {"representation": "minilm", "max_length": 128, "precision": "fp32",
                                          "exact_precision": True}


# ----------------------------------------------------------------------------- encoder runtime
def test_runtime_auto_is_onnxruntime_for_fp32_on_the_cpu_and_torch_otherwise():
    import torch

    from mlal_core.errors import ConfigError

    cpu = torch.device("cpu")
    assert encoder.resolve_runtime("auto", cpu, None) == "onnxruntime"
    assert encoder.resolve_runtime("auto", cpu, torch.bfloat16) == "torch"
    assert encoder.resolve_runtime("auto", torch.device("cuda"), None) == "torch"
    assert encoder.resolve_runtime("torch", cpu, None) == "torch"
    with pytest.raises(ConfigError, match="runs fp32 on the CPU"):
        encoder.resolve_runtime("onnxruntime", cpu, torch.bfloat16)
    with pytest.raises(ConfigError, match="Unknown encoder runtime"):
        encoder.resolve_runtime("tensorrt", cpu, None)


def test_fp32_through_onnxruntime_equals_torch_fp32(goemotions_small):
    texts = list(goemotions_small.test.texts[:24])
    messages = []
    ort = encoder.encode_texts(texts, precision="fp32", batch_size=8, progress=lambda d, t, m: messages.append(m))
    ref = encoder.encode_texts(texts, precision="fp32", batch_size=8, runtime="torch")
    assert messages and all("ONNX Runtime" in m for m in messages)
    np.testing.assert_allclose(ort, ref, atol=2e-6)
    assert bundled.row_cosines(ort, ref).min() > 0.9999999


def test_the_feature_source_in_words():
    from mlal_core.inspection.views import feature_source_text

    shipped = {"representation": "minilm", "source": "bundled", "precision": "fp32",
               "bundled_check": {"min_cosine": 0.9999812, "rows": [1, 2]}}
    assert feature_source_text(shipped) == "minilm, shipped with the dataset (fp32, checked: min cosine 0.99998)"
    assert feature_source_text({"representation": "minilm", "source": "computed", "precision": "bf16"}) == \
        "minilm, computed (bf16)"
    assert feature_source_text({"representation": "tfidf", "source": "computed"}) == "tfidf, computed"
