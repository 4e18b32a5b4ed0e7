"""On-disk cache of sentence embeddings, written chunk by chunk so that an interrupted run resumes.

Layout of one entry, ``<cache_dir>/embeddings/<key>/``:

* ``embeddings.npy``: the finished ``(n, dim)`` float32 matrix, rows in corpus order
  (``corpus.Corpus.texts``), and ``meta.json``: the inputs of the key and where the rows came from
  (``source``: ``"computed"`` or ``"bundled"``, with the bundled file's verification);
* while encoding: ``chunks-<runtime>-b<batch>-c<chunk>/<i>.npy``, chunk ``i`` of the encoding plan
  (rows ``order[i * chunk : (i + 1) * chunk]``); the folder name holds the plan's runtime and sizes,
  so a run with another plan never reads its chunks. The chunks are removed once the matrix is written.

``key = sha256(json(parts))``: the corpus' text hash, the encoder, max_length, pooling, the
precision the rows were computed at, and ``FORMAT_VERSION``. Every file is written atomically
(temporary file, then ``os.replace``), so an interrupted run (kill -9 included) leaves complete
files only. A file that cannot be read back, or whose shape is not the expected one, is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from mlal_core._io import atomic_write, load_npy

#: 2: entries keyed by the corpus (distinct texts), one matrix in corpus order, chunked writes
FORMAT_VERSION = 2


def cache_key(**parts) -> str:
    """sha256 hex of the canonical JSON of ``parts`` (plus ``FORMAT_VERSION``)."""
    payload = dict(parts, format_version=FORMAT_VERSION)
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def entry_dir(cache_dir: str | os.PathLike, key: str) -> Path:
    """The folder of cache entry ``key`` under ``cache_dir``.

    Parameters
    ----------
    cache_dir : str or path-like
        The cache root.
    key : str
        The entry's key (:func:`cache_key`).

    Returns
    -------
    Path
        ``<cache_dir>/embeddings/<key>`` (not created).
    """
    return Path(cache_dir) / "embeddings" / key


def save_array(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as float32 ``.npy`` atomically.

    Parameters
    ----------
    path : Path
        The file to write (its folder is created).
    array : array_like
        The values, cast to C-contiguous float32.
    """
    arr = np.ascontiguousarray(array, dtype=np.float32)
    atomic_write(Path(path), lambda fh: np.save(fh, arr, allow_pickle=False))


def load_array(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray | None:
    """The cached float32 array, or ``None`` when missing, unreadable, or not of ``shape``.

    Parameters
    ----------
    path : Path
        The ``.npy`` file.
    shape : tuple of int, optional
        The expected ``(n, d)``; None accepts any 2-D shape.

    Returns
    -------
    np.ndarray or None
        The 2-D float32 array, or None (also when it is not float32 or not 2-D).
    """
    arr = load_npy(path)
    if arr is None or arr.dtype != np.float32 or arr.ndim != 2:
        return None
    if shape is not None and tuple(arr.shape) != tuple(shape):
        return None
    return arr


def save_meta(directory: Path, meta: dict) -> None:
    """Write ``meta`` as ``directory/meta.json`` atomically.

    Parameters
    ----------
    directory : Path
        The entry's folder (created if needed).
    meta : dict
        JSON-serialisable values; others are written as their ``str``.
    """
    data = json.dumps(meta, indent=2, sort_keys=True, default=str).encode("utf-8")
    atomic_write(Path(directory) / "meta.json", lambda fh: fh.write(data))


def load_meta(directory: Path) -> dict | None:
    """The dict in ``directory/meta.json``, or ``None`` when missing or unreadable.

    Parameters
    ----------
    directory : Path
        The entry's folder.

    Returns
    -------
    dict or None
        The meta, or None when the file is missing, not JSON, or not a JSON object.
    """
    try:
        meta = json.loads((Path(directory) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


class EmbeddingEntry:
    """One cache entry (see the module docstring)."""

    def __init__(self, cache_dir: str | os.PathLike, key: str) -> None:
        self.key = key
        self.folder = entry_dir(cache_dir, key)

    def load(self, n_rows: int, dim: int) -> tuple[np.ndarray, dict] | None:
        """``(matrix, meta)`` of a finished entry, or ``None``."""
        arr = load_array(self.folder / "embeddings.npy", (n_rows, dim))
        if arr is None:
            return None
        return arr, load_meta(self.folder) or {}

    def save(self, matrix: np.ndarray, meta: dict) -> None:
        """Write the finished matrix and its meta, then drop any chunks."""
        save_array(self.folder / "embeddings.npy", matrix)
        save_meta(self.folder, meta)
        for chunks in self.folder.glob("chunks-*"):
            shutil.rmtree(chunks, ignore_errors=True)

    def chunk_dir(self, runtime: str, batch_size: int, chunk_size: int) -> Path:
        """The folder of the partial chunks of one encoding plan (runtime, batch and chunk size):
        chunks of another plan are never mixed in."""
        return self.folder / f"chunks-{runtime}-b{int(batch_size)}-c{int(chunk_size)}"

    def load_chunk(self, plan: Path, index: int, n_rows: int, dim: int) -> np.ndarray | None:
        """Chunk ``index`` of ``plan`` as an ``(n_rows, dim)`` float32 array, or ``None`` if not done."""
        return load_array(plan / f"{int(index):05d}.npy", (n_rows, dim))

    def save_chunk(self, plan: Path, index: int, rows: np.ndarray) -> None:
        """Write chunk ``index`` of ``plan`` (the embeddings of its rows) atomically."""
        save_array(plan / f"{int(index):05d}.npy", rows)
