"""The all-MiniLM-L6-v2 encoder through ONNX Runtime on the CPU, fully offline.

The bundled BertModel (``encoder.load_encoder("cpu")``, float32) is exported once to ONNX with the
TorchScript exporter of ``torch.onnx`` (the torch.export-based one needs ``onnxscript``, which is
not a requirement) and kept in the on-disk cache, ``cache_dir() / "onnx"``. The file name carries a
hash of the weights file and of the export settings, so new weights or another torch, transformers
or onnxruntime version make a new file instead of reusing a stale one. ``quantized=True`` uses an
int8 copy made by ONNX Runtime's dynamic quantisation (int8 weights per output channel, uint8
activations quantised per call). It is not faithful: on 1,024 Reuters and GoEmotions texts its
embeddings have cosine 0.961 (min) / 0.992 (mean) to torch float32 (per-tensor weights, 512 texts:
0.81 / 0.95); ``benchmarks/encoder_throughput.py`` measures it with the speed of each path.

The graph maps ``input_ids`` and ``attention_mask`` (int64, ``(B, T)``, both axes dynamic) to
``last_hidden_state`` (float32, ``(B, T, 384)``); pooling stays with the caller
(``encoder.mean_pool``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import paths
from .._io import atomic_write
from ..errors import ConfigError
from . import encoder

_INSTALL = "pip install onnx==1.23.2 onnxruntime==1.31.1 (or pip install -r requirements.txt)"
#: what the ONNX graph is made with; part of the file name's hash
EXPORT_SETTINGS: dict[str, Any] = {"exporter": "torchscript", "opset": 17, "do_constant_folding": True}
#: ``quantize_dynamic`` arguments of the int8 copy; part of its file name's hash
QUANT_SETTINGS: dict[str, Any] = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False}

_LOCK = threading.Lock()
_SESSIONS: dict[tuple[str, bool, int], object] = {}
#: how many times this process exported (or quantised) a model, for tests and diagnostics
EXPORT_COUNT = 0


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(f"The ONNX Runtime encoder needs the package 'onnxruntime': {_INSTALL}.") from exc
    return onnxruntime


class _LastHiddenState(torch.nn.Module):
    """The BertModel with positional inputs and its last hidden state as the only output."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


@functools.lru_cache(maxsize=4)
def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_key(quantized: bool) -> str:
    """Hash of the weights file, the library versions and the export (and quantisation) settings."""
    import transformers

    ort = _import_onnxruntime()
    weights = Path(encoder.model_path()) / "model.safetensors"
    settings = {
        "weights": _file_sha256(str(weights)),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "export": EXPORT_SETTINGS,
    }
    if quantized:
        settings.update(onnxruntime=ort.__version__, quantize=QUANT_SETTINGS)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _export_fp32(path: Path) -> None:
    _, model = encoder.load_encoder("cpu")
    # a padded example, so that no step of the traced graph can drop the attention mask
    input_ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    attention_mask = (input_ids != 0).to(torch.int64)
    axes = {0: "batch", 1: "sequence"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
        torch.onnx.export(
            _LastHiddenState(model).eval(),  # the exporter restores this mode, on the shared model too
            (input_ids, attention_mask),
            buf,  # type: ignore[arg-type]  # torch's annotation omits the file objects it writes to
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=EXPORT_SETTINGS["opset"],
            do_constant_folding=EXPORT_SETTINGS["do_constant_folding"],
            dynamo=False,
        )
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))


def _quantize(source: Path, path: Path) -> None:
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ConfigError(f"Quantising the ONNX encoder needs 'onnx' and 'onnxruntime': {_INSTALL}.") from exc
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        out = Path(tmp) / path.name
        quantize_dynamic(
            source,
            out,
            weight_type=getattr(QuantType, QUANT_SETTINGS["weight_type"]),
            per_channel=QUANT_SETTINGS["per_channel"],
            reduce_range=QUANT_SETTINGS["reduce_range"],
        )
        atomic_write(path, lambda fh: fh.write(out.read_bytes()))


def onnx_model_path(quantized: bool = False) -> Path:
    """The cached ONNX file of the encoder, exported (and quantised) on first use.

    Parameters
    ----------
    quantized : bool
        ``True`` for the int8 dynamically quantised copy, ``False`` for the float32 export.

    Returns
    -------
    pathlib.Path
        ``cache_dir() / "onnx" / "all-minilm-l6-v2.<hash>.<fp32|int8>.onnx"``.
    """
    global EXPORT_COUNT
    folder = paths.cache_dir() / "onnx"
    fp32 = folder / f"all-minilm-l6-v2.{_model_key(False)}.fp32.onnx"
    path = folder / f"all-minilm-l6-v2.{_model_key(True)}.int8.onnx" if quantized else fp32
    with _LOCK:
        if not fp32.is_file():
            _export_fp32(fp32)
            EXPORT_COUNT += 1
        if not path.is_file():
            _quantize(fp32, path)
            EXPORT_COUNT += 1
    return path


def _session(quantized: bool, threads: int):
    """One session per model (by content hash, whichever cache folder holds its file) and thread count."""
    ort = _import_onnxruntime()
    key = (_model_key(quantized), quantized, threads)
    with _LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
    path = onnx_model_path(quantized)
    with _LOCK:
        if key not in _SESSIONS:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            _SESSIONS[key] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return _SESSIONS[key]


def clear_session_cache() -> None:
    """Forget the ONNX Runtime sessions built by this process (frees their memory)."""
    with _LOCK:
        _SESSIONS.clear()


class OnnxEncoder:
    """The encoder's forward pass in an ONNX Runtime CPU session (one per file and thread count).

    Parameters
    ----------
    quantized : bool
        Run the int8 dynamically quantised model instead of the float32 one.
    threads : int, optional
        Intra-op threads; ``torch.get_num_threads()`` by default.
    """

    def __init__(self, quantized: bool = False, threads: int | None = None):
        threads = torch.get_num_threads() if threads is None else int(threads)
        if threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}.")
        self.quantized = quantized
        self.threads = threads
        self.session = _session(quantized, threads)

    def last_hidden_state(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The last hidden states, ``(B, T, 384)`` float32, of int64 ``(B, T)`` token ids and mask.

        Parameters
        ----------
        input_ids, attention_mask : numpy.ndarray
            Token ids and attention mask (1 for tokens, 0 for padding), shape ``(B, T)``.

        Returns
        -------
        numpy.ndarray
            float32, ``(B, T, 384)``.
        """
        feeds = {
            "input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
        }
        return self.session.run(["last_hidden_state"], feeds)[0]
