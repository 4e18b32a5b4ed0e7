"""On-disk cache of computed features (one ``.npy`` per split, float32).

Layout: ``<cache_dir>/embeddings/<key>/{train,valid,test}.npy`` and ``meta.json`` (the inputs of the
key, human-readable). ``key = sha256(json(parts))`` where ``parts`` holds the dataset content hash,
the encoder name, max_length, pooling, the precision actually used and ``FORMAT_VERSION``.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted run leaves either no file or a complete one, never a corrupt cache entry. A file that
cannot be read back, or whose shape is not what the caller expects, counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from mlal_core._io import atomic_write, load_npy

FORMAT_VERSION = 1


def cache_key(**parts) -> str:
    """sha256 hex of the canonical JSON of ``parts`` (plus ``FORMAT_VERSION``)."""
    payload = dict(parts, format_version=FORMAT_VERSION)
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def entry_dir(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / "embeddings" / key


def save_array(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as float32 ``.npy`` atomically."""
    arr = np.ascontiguousarray(array, dtype=np.float32)
    atomic_write(Path(path), lambda fh: np.save(fh, arr, allow_pickle=False))


def load_array(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray | None:
    """The cached array, or ``None`` when missing, unreadable, or not of ``shape``."""
    arr = load_npy(path)
    if arr is None:
        return None
    if arr.dtype != np.float32 or arr.ndim != 2:
        return None
    if shape is not None and tuple(arr.shape) != tuple(shape):
        return None
    return arr


def save_meta(directory: Path, meta: dict) -> None:
    data = json.dumps(meta, indent=2, sort_keys=True, default=str).encode("utf-8")
    atomic_write(Path(directory) / "meta.json", lambda fh: fh.write(data))
