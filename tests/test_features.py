"""Feature representations: TF-IDF, standardised raw features, MiniLM embeddings and their cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mlal_core.errors import ConfigError, DataValidationError
from mlal_core.features import Features, featurize, resolve_device, resolve_precision
from mlal_core.features import cache as fcache
from mlal_core.features import device as fdevice
from mlal_core.features import encoder as fencoder
from mlal_core.features.corpus import corpus_of
from mlal_core.features.minilm import cache_key as minilm_cache_key


# ----------------------------------------------------------------------------- small datasets
@dataclass
class _Split:
    Y: np.ndarray
    texts: list | None = None
    X: np.ndarray | None = None

    def __len__(self):
        return len(self.Y)


@dataclass
class _DS:
    """A duck-typed MultiLabelDataset (name, kind, splits, content_hash)."""

    name: str
    kind: str
    train: _Split
    valid: _Split
    test: _Split

    def content_hash(self) -> str:
        h = hashlib.sha256(self.kind.encode())
        for s in (self.train, self.valid, self.test):
            h.update(np.ascontiguousarray(s.Y, dtype=np.uint8).tobytes())
            for t in s.texts or []:
                h.update(t.encode() + b"\0")
            if s.X is not None:
                h.update(np.ascontiguousarray(s.X).tobytes())
        return h.hexdigest()


def _text_ds(name="tiny-text") -> _DS:
    train = [
        "the stock market fell sharply today",
        "the stock market rose after the report",
        "grain exports of wheat rose",
        "wheat and corn prices fell",
        "the central bank raised interest rates",
        "interest rates and the market",
    ]
    valid = ["wheat prices rose", "the bank report"]
    test = ["zebra market wheat", "zebra zebra quokka", "rates fell"]
    y = lambda n: (np.arange(n * 3).reshape(n, 3) % 2).astype(np.uint8)
    return _DS(name, "text", _Split(y(6), texts=train), _Split(y(2), texts=valid), _Split(y(3), texts=test))


def _tab_ds(X_train, X_valid, X_test, name="tiny-tab") -> _DS:
    y = lambda n: np.zeros((n, 2), dtype=np.uint8)
    return _DS(
        name, "tabular",
        _Split(y(len(X_train)), X=X_train), _Split(y(len(X_valid)), X=X_valid), _Split(y(len(X_test)), X=X_test),
    )


# ----------------------------------------------------------------------------- TF-IDF
def test_tfidf_fits_on_train_only():
    ds = _text_ds()
    f = featurize(ds, "tfidf")
    assert isinstance(f, Features) and f.name == "tfidf"
    vocab = f.transformer.vocabulary_
    # min_df=2 on train: words seen in >= 2 training texts only
    assert {"stock", "market", "wheat", "rates", "interest", "fell", "rose"} <= set(vocab)
    assert "grain" not in vocab  # in one training text only
    # a word that appears only in test (even twice in one text) gets no column
    assert "zebra" not in vocab and "quokka" not in vocab
    for split, n in (("train", 6), ("valid", 2), ("test", 3)):
        X = f.split(split)
        assert sp.isspmatrix_csr(X) or sp.issparse(X)
        assert X.dtype == np.float32
        assert X.shape == (n, len(vocab))
    # "zebra zebra quokka" has no known word: an all-zero row
    assert f.test[1].nnz == 0
    # rows with words are l2-normalised
    norms = np.sqrt(np.asarray(f.train.multiply(f.train).sum(axis=1))).ravel()
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert f.info["vocabulary_size"] == len(vocab)


def test_tfidf_on_real_reuters_subset(small_datasets):
    ds = small_datasets["reuters_small"]
    f = featurize(ds, "tfidf")
    assert f.train.shape[0] == len(ds.train) and f.test.shape[0] == len(ds.test)
    assert 1000 < f.dim <= 20000
    analyze = f.transformer.build_analyzer()
    train_docs = [set(analyze(t)) for t in ds.train.texts]
    train_tokens = set().union(*train_docs)
    test_only = set().union(*(analyze(t) for t in ds.test.texts)) - train_tokens
    assert len(test_only) > 50, "expected words that occur only in the test split"
    vocab = set(f.transformer.vocabulary_)
    assert not (test_only & vocab)
    # every column is a word of at least min_df = 2 training texts
    doc_freq = {}
    for doc in train_docs:
        for w in doc:
            doc_freq[w] = doc_freq.get(w, 0) + 1
    assert all(doc_freq[w] >= 2 for w in vocab)
    assert vocab == {w for w, c in doc_freq.items() if c >= 2}  # fewer than max_features words here


# ----------------------------------------------------------------------------- raw
def test_raw_standardised_on_train(small_datasets):
    ds = small_datasets["yeast"]
    f = featurize(ds, "raw")
    assert f.name == "raw" and f.train.dtype == np.float32 and isinstance(f.train, np.ndarray)
    assert f.train.shape == ds.train.X.shape and f.test.shape == ds.test.X.shape
    np.testing.assert_allclose(f.train.mean(axis=0), 0.0, atol=1e-5)
    std = f.train.astype(np.float64).std(axis=0)
    nonconstant = ds.train.X.std(axis=0) > 0
    np.testing.assert_allclose(std[nonconstant], 1.0, atol=1e-4)
    # test is transformed with the *train* statistics, so it is not exactly standardised
    assert np.abs(f.test.mean(axis=0)).max() > 1e-3
    expected = (ds.test.X.astype(np.float64) - ds.train.X.mean(axis=0)) / ds.train.X.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(f.test[:, nonconstant], expected[:, nonconstant], atol=1e-3)


def test_raw_rejects_nan_and_inf():
    rng = np.random.default_rng(0)
    Xtr, Xva, Xte = (rng.normal(size=(n, 4)).astype(np.float32) for n in (20, 5, 6))
    Xte[1, 2] = np.nan
    Xte[3, 0] = np.inf
    Xte[3, 1] = np.nan
    with pytest.raises(DataValidationError) as err:
        featurize(_tab_ds(Xtr, Xva, Xte), "raw")
    msg = str(err.value)
    assert "'test'" in msg and "3 non-finite" in msg and "2 NaN" in msg and "1 inf" in msg and "2 row" in msg
    Xtr[0, 0] = np.nan
    with pytest.raises(DataValidationError, match="'train'"):
        featurize(_tab_ds(Xtr, Xva, Xte), "raw")


def test_representation_must_fit_the_kind(small_datasets):
    with pytest.raises(ConfigError, match="'raw'"):
        featurize(small_datasets["yeast_tiny"], "minilm")
    with pytest.raises(ConfigError, match="'raw'"):
        featurize(small_datasets["yeast_tiny"], "tfidf")
    with pytest.raises(ConfigError, match="'minilm' or 'tfidf'"):
        featurize(_text_ds(), "raw")
    with pytest.raises(ConfigError, match="Did you mean 'tfidf'"):
        featurize(_text_ds(), "tfidf2")


# ----------------------------------------------------------------------------- device / precision
def test_resolve_device_and_precision(monkeypatch):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ConfigError):
        resolve_device("tpu-please")
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(ConfigError, match="precision"):
        resolve_precision("int8", cpu)
    # auto: bf16 only with native bf16 on the CPU
    for flag, want in (("0", None), ("1", torch.bfloat16)):
        monkeypatch.setenv("MLAL_ASSUME_NATIVE_BF16", flag)
        fdevice.cpu_has_native_bf16.cache_clear()
        assert resolve_precision("auto", cpu) is want
    monkeypatch.delenv("MLAL_ASSUME_NATIVE_BF16")
    fdevice.cpu_has_native_bf16.cache_clear()
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.exists() else ""
    native = ("avx512_bf16" in flags) or ("amx_bf16" in flags)
    assert fdevice.cpu_has_native_bf16() == native


# ----------------------------------------------------------------------------- MiniLM
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The central bank raised interest rates by half a point.",
    "Interest rates were increased by the central bank.",
    "A cheetah is running behind its prey.",
]


def test_minilm_embeddings_are_meaningful():
    E = fencoder.encode_texts(SENTENCES, precision="fp32")
    assert E.shape == (5, 384) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    C = E @ E.T
    assert C[0, 1] > 0.6 and C[2, 3] > 0.6          # paraphrases
    assert C[0, 1] > C[0, 2] + 0.3 and C[2, 3] > C[2, 4] + 0.3
    assert C[0, 1] > max(C[0, 2], C[0, 3]) and C[2, 3] > max(C[2, 0], C[2, 1], C[2, 4])
    # batching by length does not change the result
    E1 = fencoder.encode_texts(SENTENCES[::-1], precision="fp32", batch_size=1)[::-1]
    np.testing.assert_allclose(E, E1, atol=1e-5)


def test_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    model = st.SentenceTransformer(str(fencoder.model_path()), device="cpu")
    model.max_seq_length = 128
    ref = model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=False)
    ours = fencoder.encode_texts(SENTENCES, precision="fp32", max_length=128, device="cpu")
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_minilm_bf16_autocast_is_close_to_fp32():
    """The bf16 path (what "auto" picks on a GPU or a CPU with native bf16) runs and stays close."""
    messages = []
    E16 = fencoder.encode_texts(SENTENCES, precision="bf16", device="cpu",
                                progress=lambda done, total, msg: messages.append(msg))
    E32 = fencoder.encode_texts(SENTENCES, precision="fp32", device="cpu")
    assert messages and all("(cpu, bf16)" in m for m in messages)
    assert E16.dtype == np.float32 and E16.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(E16, axis=1), 1.0, atol=1e-5)
    cos = (E16 * E32).sum(axis=1)
    assert cos.min() > 0.999
    assert np.abs(E16 - E32).max() > 1e-4  # bf16 arithmetic did run (fp32 would agree to ~1e-7)


def test_minilm_truncates_at_max_length():
    long = " ".join(["wheat"] * 50 + ["bank"] * 200)
    a, b = fencoder.encode_texts([long, " ".join(["wheat"] * 50)], max_length=32, precision="fp32")
    np.testing.assert_allclose(a, b, atol=1e-5)  # the tail beyond 32 tokens is ignored


def test_featurize_minilm_cache(tmp_path, monkeypatch):
    ds = _text_ds()
    calls = []
    real = fencoder.load_encoder
    monkeypatch.setattr(fencoder, "load_encoder", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    seen = []
    f1 = featurize(ds, "minilm", precision="fp32", cache_dir=tmp_path,
                   progress=lambda d, t, m: seen.append((d, t)))
    assert len(calls) == 1  # the corpus is encoded in one pass
    assert seen[-1] == (11, 11)  # 11 distinct texts
    assert not f1.info["cache_hit"] and f1.info["source"] == "computed" and f1.info["precision"] == "fp32"
    assert f1.train.shape == (6, 384) and f1.test.shape == (3, 384) and f1.train.dtype == np.float32
    folder = tmp_path / "embeddings" / f1.info["cache_key"]
    assert sorted(p.name for p in folder.iterdir()) == ["embeddings.npy", "meta.json"]  # chunks removed
    # each split's rows are the texts' own embeddings
    np.testing.assert_allclose(f1.test, fencoder.encode_texts(ds.test.texts, precision="fp32"), atol=1e-6)

    calls.clear()
    f2 = featurize(ds, "minilm", precision="fp32", cache_dir=tmp_path)
    assert calls == []  # a cache hit never loads the encoder
    assert f2.info["cache_hit"] and f2.info["cache_key"] == f1.info["cache_key"]
    for s in ("train", "valid", "test"):
        np.testing.assert_array_equal(f1.split(s), f2.split(s))

    # the key follows the texts, max_length and precision; not the labels or the split arrangement
    corp = corpus_of(ds)
    assert minilm_cache_key(corp, 64, "fp32") != minilm_cache_key(corp, 128, "fp32")
    assert minilm_cache_key(corp, 128, "bf16") != minilm_cache_key(corp, 128, "fp32")
    other = _text_ds()
    other.test.texts = ["something else entirely", "b", "c"]
    assert minilm_cache_key(corpus_of(other), 128, "fp32") != minilm_cache_key(corp, 128, "fp32")
    moved = _text_ds()
    moved.train, moved.test = moved.test, moved.train
    moved.valid.Y = 1 - moved.valid.Y
    assert minilm_cache_key(corpus_of(moved), 128, "fp32") == minilm_cache_key(corp, 128, "fp32")
    f4 = featurize(moved, "minilm", precision="fp32", cache_dir=tmp_path)
    assert calls == [] and f4.info["cache_hit"]
    np.testing.assert_array_equal(f4.train, f1.test)
    f3 = featurize(ds, "minilm", precision="fp32", cache_dir=tmp_path, max_length=64)
    assert len(calls) == 1 and not f3.info["cache_hit"] and f3.info["cache_key"] != f1.info["cache_key"]


def test_cache_survives_interrupted_writes(tmp_path, monkeypatch):
    ds = _text_ds()
    f1 = featurize(ds, "minilm", precision="fp32", cache_dir=tmp_path)
    path = tmp_path / "embeddings" / f1.info["cache_key"] / "embeddings.npy"
    # a corrupt (truncated) file counts as a miss and is rewritten
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert fcache.load_array(path, (11, 384)) is None
    f2 = featurize(ds, "minilm", precision="fp32", cache_dir=tmp_path)
    assert not f2.info["cache_hit"]
    np.testing.assert_array_equal(f2.valid, f1.valid)
    assert fcache.load_array(path, (11, 384)) is not None
    # a write interrupted half-way leaves the previous file (or none), never a partial one
    target = tmp_path / "x.npy"
    fcache.save_array(target, np.ones((3, 2)))

    def boom(fh, arr, allow_pickle=False):
        fh.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(fcache.np, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        fcache.save_array(target, np.zeros((3, 2)))
    monkeypatch.undo()
    np.testing.assert_array_equal(fcache.load_array(target), np.ones((3, 2), np.float32))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.npy")] == []
