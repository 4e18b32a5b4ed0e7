"""The encoder through ONNX Runtime: faithful to torch fp32, exported once, padding-invariant."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from mlal_core import paths
from mlal_core.errors import ConfigError
from mlal_core.features import encoder, onnx_runtime

#: int8 (per-channel dynamic quantisation) on the 16 texts below (3 to 51 tokens), measured on an
#: AMD EPYC with AVX512-VNNI: cosine to torch fp32 min 0.9830, mean 0.9895 (fp32 ONNX: 0.9999999).
#: So int8 does NOT keep the cosine >= 0.999 the default path must keep; the test asserts that and
#: fails if it changes. The floor leaves room for CPUs without VNNI, whose int8 kernels may saturate.
INT8_MIN_COSINE = 0.97
FAITHFUL_COSINE = 0.999

pytestmark = pytest.mark.slow  # exports and quantises the encoder (~10 s on 2 cores)


def _texts() -> list[str]:
    """16 GoEmotions texts spread over the token lengths (shortest to longest)."""
    from mlal_core import data

    texts = data.load("goemotions").train.texts
    tokenizer, _ = encoder.load_encoder("cpu")
    lengths = np.array([len(t) for t in tokenizer(texts[:4000], return_attention_mask=False)["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    return [texts[i] for i in order[np.linspace(0, len(order) - 1, 16).astype(int)]]


def _batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    tokenizer, _ = encoder.load_encoder("cpu")
    enc = tokenizer(texts, truncation=True, max_length=128, padding=True, return_tensors="np",
                    return_token_type_ids=False)
    return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)


def _pool(hidden, mask) -> np.ndarray:
    return encoder.mean_pool(torch.as_tensor(hidden), torch.as_tensor(mask)).numpy()


@pytest.fixture(scope="module")
def batch() -> dict:
    """The 16 texts as one padded batch and their torch fp32 sentence embeddings."""
    texts = _texts()
    ids, mask = _batch(texts)
    assert len(set(mask.sum(axis=1))) >= 12  # really different lengths
    _, model = encoder.load_encoder("cpu")
    with torch.inference_mode():
        hidden = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    return {"texts": texts, "ids": ids, "mask": mask, "torch": _pool(hidden.last_hidden_state, mask)}


@pytest.fixture(scope="module")
def onnx_home() -> str:
    """The session-wide MLAL_HOME, where this module's tests share one export of each model."""
    onnx_runtime.onnx_model_path(True)  # exports both
    return os.environ["MLAL_HOME"]


@pytest.fixture
def shared_export(onnx_home, monkeypatch) -> None:
    """Run the test with the shared export instead of its own, empty MLAL_HOME."""
    monkeypatch.setenv("MLAL_HOME", onnx_home)


def test_fp32_matches_torch(batch, shared_export):
    enc = onnx_runtime.OnnxEncoder()
    hidden = enc.last_hidden_state(batch["ids"], batch["mask"])
    assert hidden.dtype == np.float32 and hidden.shape == (*batch["ids"].shape, encoder.EMBEDDING_DIM)
    cos = (_pool(hidden, batch["mask"]) * batch["torch"]).sum(axis=1)
    assert cos.min() >= 0.99999, cos


def test_int8_is_close_but_not_faithful(batch, shared_export):
    hidden = onnx_runtime.OnnxEncoder(quantized=True).last_hidden_state(batch["ids"], batch["mask"])
    cos = (_pool(hidden, batch["mask"]) * batch["torch"]).sum(axis=1)
    assert cos.min() >= INT8_MIN_COSINE, cos
    assert cos.min() < FAITHFUL_COSINE, f"int8 now keeps cosine >= {FAITHFUL_COSINE}: {cos.min():.6f}"


def test_padding_invariance(batch, shared_export):
    enc = onnx_runtime.OnnxEncoder()
    short, long = batch["texts"][3], batch["texts"][-1]
    ids, mask = _batch([short])
    alone = _pool(enc.last_hidden_state(ids, mask), mask)[0]
    ids, mask = _batch([short, long])
    assert mask[0].sum() < mask.shape[1]  # the short text is padded
    padded = _pool(enc.last_hidden_state(ids, mask), mask)[0]
    np.testing.assert_allclose(padded, alone, atol=1e-5)


def test_export_once_and_reused(mlal_home):
    before = onnx_runtime.EXPORT_COUNT
    path = onnx_runtime.onnx_model_path(False)
    assert onnx_runtime.EXPORT_COUNT == before + 1
    assert not encoder.load_encoder("cpu")[1].training  # the export leaves the shared model in eval mode
    assert path.parent == paths.cache_dir() / "onnx" and path.is_relative_to(mlal_home)
    mtime = path.stat().st_mtime_ns
    assert onnx_runtime.onnx_model_path(False) == path
    assert onnx_runtime.EXPORT_COUNT == before + 1 and path.stat().st_mtime_ns == mtime

    qpath = onnx_runtime.onnx_model_path(True)  # quantises the fp32 file already there
    assert onnx_runtime.EXPORT_COUNT == before + 2 and qpath != path
    assert qpath.stat().st_size < path.stat().st_size / 3  # int8 weights
    assert onnx_runtime.onnx_model_path(True) == qpath and onnx_runtime.EXPORT_COUNT == before + 2
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, qpath.name])  # no temp files


def test_session_built_once(batch, shared_export):
    a = onnx_runtime.OnnxEncoder(threads=1)
    b = onnx_runtime.OnnxEncoder(threads=1)
    assert a.session is b.session
    assert onnx_runtime.OnnxEncoder(threads=2).session is not a.session


def test_clear_errors(monkeypatch):
    with pytest.raises(ConfigError, match="threads"):
        onnx_runtime.OnnxEncoder(threads=0)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(ConfigError, match="pip install .*onnxruntime"):
        onnx_runtime.OnnxEncoder()
