"""MiniLM features of a text dataset: from the cache, from the bundled file, or encoded in chunks.

``minilm_matrix`` returns the corpus matrix (``corpus.Corpus``) and where it came from. Sources,
first hit wins:

1. the cache entry at the requested precision;
2. unless ``exact_precision``: the cache entry at fp32, the reference (more faithful than any
   other precision, so it serves every request);
3. unless ``exact_precision`` or the request is not fp32-compatible: the bundled file of this corpus
   (``bundled.py``), checked on first use by re-encoding a seeded handful of rows in fp32; once it
   passes, it is written to the cache (so the check runs once per ``MLAL_HOME``); a mismatch is
   reported (``BundledFeaturesMismatch``) and the rows are computed instead;
4. encoding at the requested precision (fp32 on the CPU through ONNX Runtime,
   ``encoder.resolve_runtime``), chunk by chunk: texts sorted by token length, chunks of
   ``chunk_batches`` batches, each finished chunk written to the cache at once. A rerun after an
   interruption (navigation, reload, kill -9) reads the finished chunks and encodes the rest: the
   same batches, so the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import paths
from . import bundled, cache, encoder
from .corpus import Corpus
from .device import precision_name, resolve_device, resolve_precision

Progress = Callable[[int, int, str], None]
POOLING = encoder.POOLING + "+l2"
REFERENCE_PRECISION = "fp32"


class BundledFeaturesMismatch(UserWarning):
    """The bundled features disagree with the encoder on this machine; they were not used."""


def cache_key(corpus: Corpus, max_length: int, precision: str) -> str:
    """The cache key of the MiniLM rows of ``corpus`` (see ``cache.py``).

    Parameters
    ----------
    corpus : Corpus
        The corpus (its text hash enters the key).
    max_length : int
        Tokens per text.
    precision : str
        The precision the rows were computed at (``"fp32"``, ``"bf16"``, ``"fp16"``).

    Returns
    -------
    str
        sha256 hex of the key's parts (:func:`cache.cache_key`).
    """
    return cache.cache_key(texts=corpus.text_hash, encoder=encoder.ENCODER_NAME, max_length=int(max_length),
                           pooling=POOLING, precision=precision)


def _key_meta(corpus: Corpus, max_length: int, precision: str) -> dict:
    return {"text_hash": corpus.text_hash, "encoder": encoder.ENCODER_NAME, "max_length": int(max_length),
            "pooling": POOLING, "precision": precision, "rows": len(corpus),
            "format_version": cache.FORMAT_VERSION}


def minilm_matrix(
    corpus: Corpus,
    *,
    max_length: int = 128,
    batch_size: int = 64,
    device=None,
    precision: str = "auto",
    exact_precision: bool = False,
    cache_dir=None,
    data_dir=None,
    progress: Progress | None = None,
    use_cache: bool = True,
    chunk_batches: int = 16,
    name: str = "dataset",
) -> tuple[np.ndarray, dict]:
    """``(matrix, info)``: the corpus' rows (float32, corpus order) and their provenance (see the
    module docstring). ``info``: ``source`` (``"bundled"`` / ``"computed"``), ``precision`` of the
    numbers, ``cache_hit``, ``cache_key``, ``resumed_rows``, and for bundled rows the file and its
    first-use check.

    Parameters
    ----------
    corpus : Corpus
        The dataset's distinct texts (``corpus.corpus_of``).
    max_length : int, default 128
        Tokens per text.
    batch_size : int, default 64
        Texts per encoder batch.
    device : str, torch.device or None, default None
        As ``device.resolve_device``.
    precision : str, default "auto"
        As ``device.resolve_precision``; the cache entry is keyed by the resolved precision.
    exact_precision : bool, default False
        Skip sources 2 and 3 of the module docstring for a precision other than fp32.
    cache_dir : str or path-like, optional
        The cache root; default ``paths.cache_dir()``.
    data_dir : str or path-like, optional
        Where to look for bundled files; default ``paths.data_dir()``.
    progress : callable, optional
        ``progress(done, total, message)`` while reading, checking or encoding.
    use_cache : bool, default True
        Read and write the cache; False encodes the whole corpus and stores nothing.
    chunk_batches : int, default 16
        Batches per chunk written to the cache while encoding.
    name : str, default "dataset"
        The dataset's name, for progress messages.

    Returns
    -------
    matrix : np.ndarray, shape (len(corpus), 384), float32
        The embeddings in corpus order.
    info : dict
        The provenance described above.
    """
    dev = resolve_device(device)
    wanted = precision_name(resolve_precision(precision, dev))
    root = Path(cache_dir) if cache_dir is not None else paths.cache_dir()
    if use_cache:
        found = lookup(corpus, max_length=max_length, device=dev, precision=wanted,
                       exact_precision=exact_precision, cache_dir=root, data_dir=data_dir, progress=progress,
                       name=name)
        if found is not None:
            return found
    key = cache_key(corpus, max_length, wanted)
    entry = cache.EmbeddingEntry(root, key) if use_cache else None
    matrix, resumed, runtime = _encode_in_chunks(corpus, entry, max_length, batch_size, dev, wanted,
                                                 chunk_batches, progress, name)
    meta = dict(_key_meta(corpus, max_length, wanted), source="computed", device=str(dev), runtime=runtime,
                computed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if entry is not None:
        entry.save(matrix, meta)
    return matrix, _info(meta, wanted, key, cache_hit=False, resumed_rows=resumed)


def lookup(
    corpus: Corpus,
    *,
    max_length: int = 128,
    device=None,
    precision: str = "auto",
    exact_precision: bool = False,
    cache_dir=None,
    data_dir=None,
    progress: Progress | None = None,
    name: str = "dataset",
) -> tuple[np.ndarray, dict] | None:
    """Sources 1 to 3 of the module docstring: ``(matrix, info)`` without encoding the corpus (a
    bundled file's first-use check re-encodes its handful of rows), or None.

    A bundled file that passes its check is written to the cache at fp32.

    Parameters
    ----------
    corpus : Corpus
        The dataset's distinct texts.
    max_length, device, precision, exact_precision, cache_dir, data_dir, progress, name
        As :func:`minilm_matrix`.

    Returns
    -------
    tuple of (np.ndarray, dict) or None
        The ``(len(corpus), 384)`` float32 matrix and its provenance, or None when no source has it.
    """
    dev = resolve_device(device)
    wanted = precision_name(resolve_precision(precision, dev))
    root = Path(cache_dir) if cache_dir is not None else paths.cache_dir()
    n, dim = len(corpus), encoder.EMBEDDING_DIM
    precisions = [wanted] if exact_precision or wanted == REFERENCE_PRECISION else [wanted, REFERENCE_PRECISION]
    for prec in precisions:
        key = cache_key(corpus, max_length, prec)
        found = cache.EmbeddingEntry(root, key).load(n, dim)
        if found is not None:
            matrix, meta = found
            _report(progress, n, n, f"MiniLM embeddings of {name} read from the cache")
            return matrix, _info(meta, prec, key, cache_hit=True)
    if REFERENCE_PRECISION not in precisions:
        return None
    shipped = bundled.find(corpus.text_hash, encoder.ENCODER_NAME, max_length, POOLING, data_dir)
    checked = None if shipped is None else _check_bundled(corpus, shipped, max_length, dev, progress, name)
    if checked is None:
        return None
    matrix, meta = checked
    key = cache_key(corpus, max_length, REFERENCE_PRECISION)
    cache.EmbeddingEntry(root, key).save(matrix, meta)
    return matrix, _info(meta, REFERENCE_PRECISION, key, cache_hit=False)


def _info(meta: dict, precision: str, key: str, *, cache_hit: bool, resumed_rows: int = 0) -> dict:
    info = {"source": meta.get("source", "computed"), "precision": precision, "cache_key": key,
            "cache_hit": cache_hit, "resumed_rows": int(resumed_rows)}
    for extra in ("runtime", "bundled_file", "bundled_check", "bundled_min_cosine_to_fp32"):
        if extra in meta:
            info[extra] = meta[extra]
    return info


def _report(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)


def _check_bundled(corpus: Corpus, shipped: bundled.BundledFeatures, max_length: int, dev, progress,
                   name: str) -> tuple[np.ndarray, dict] | None:
    """The bundled matrix and its cache meta when a seeded handful re-encodes to it; else None
    (with a ``BundledFeaturesMismatch`` warning)."""
    where = _shown_path(shipped.path)
    _report(progress, 0, len(corpus), f"Checking the bundled MiniLM features of {name} ({where})")
    try:
        matrix = shipped.load()
    except Exception as exc:  # noqa: BLE001 - any unreadable file: report and compute instead
        warnings.warn(f"The bundled features {where} were not used: {exc}", BundledFeaturesMismatch, stacklevel=3)
        return None
    rows = bundled.verify_rows(len(corpus), corpus.text_hash)
    fresh = encoder.encode_texts([corpus.texts[r] for r in rows], max_length=max_length, device=dev,
                                 precision=REFERENCE_PRECISION, runtime="torch")  # no ONNX export for 8 rows
    cos = bundled.row_cosines(fresh, matrix[rows])
    check = {"rows": rows.tolist(), "min_cosine": float(cos.min()) if len(cos) else 1.0,
             "threshold": bundled.VERIFY_MIN_COSINE,
             "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if len(cos) and cos.min() < bundled.VERIFY_MIN_COSINE:
        warnings.warn(
            f"The bundled MiniLM features {where} do not match the encoder on this machine (cosine "
            f"{cos.min():.4f} < {bundled.VERIFY_MIN_COSINE} on re-encoded rows {rows.tolist()}); they were not "
            "used, and the features are computed instead.", BundledFeaturesMismatch, stacklevel=3)
        return None
    _report(progress, len(corpus), len(corpus), f"MiniLM features of {name}: bundled, checked (min cosine {check['min_cosine']:.5f})")
    meta = dict(_key_meta(corpus, max_length, REFERENCE_PRECISION), source="bundled", bundled_file=where,
                bundled_check=check, bundled_min_cosine_to_fp32=shipped.meta.get("min_cosine_to_fp32"))
    return matrix, meta


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.REPO_ROOT))
    except ValueError:
        return str(path)


def _encode_in_chunks(corpus: Corpus, entry: cache.EmbeddingEntry | None, max_length: int, batch_size: int,
                      dev, precision: str, chunk_batches: int, progress, name: str) -> tuple[np.ndarray, int, str]:
    """The corpus encoded chunk by chunk (see the module docstring); returns ``(matrix, resumed rows,
    runtime)``."""
    n, dim = len(corpus), encoder.EMBEDDING_DIM
    matrix = np.empty((n, dim), dtype=np.float32)
    runtime = encoder.resolve_runtime("auto", dev, resolve_precision(precision, dev))
    if n == 0:
        return matrix, 0, runtime
    ids = encoder.tokenize(corpus.texts, max_length)
    order = encoder.length_order(ids)
    chunk = int(batch_size) * max(1, int(chunk_batches))
    plan = entry.chunk_dir(runtime, batch_size, chunk) if entry is not None else None
    resumed = 0
    message = f"Encoding {name} with MiniLM"
    for index, start in enumerate(range(0, n, chunk)):
        rows = order[start:start + chunk]
        done = entry.load_chunk(plan, index, len(rows), dim) if entry is not None and plan is not None else None
        if done is None:
            done = encoder.encode_ids([ids[r] for r in rows], batch_size=batch_size, device=dev,
                                      precision=precision, runtime=runtime, progress=progress, progress_offset=start,
                                      progress_total=n, message=message)
            if entry is not None and plan is not None:
                entry.save_chunk(plan, index, done)
        else:
            resumed += len(rows)
            _report(progress, start + len(rows), n, f"{message}: {resumed:,} rows resumed from an earlier run")
        matrix[rows] = done
    return matrix, resumed, runtime
