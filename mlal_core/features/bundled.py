"""Sentence embeddings shipped with the bundled text datasets, and their check on first use.

A bundled text dataset carries the MiniLM embeddings of its corpus (``corpus.Corpus``) in
``data/<name>/features/<file>.npz``, computed in fp32 by ``scripts/build_bundled_features.py``
and stored as **int8 with a per-row scale** (Eq. 1): a quarter of float32's bytes, cosine to the
fp32 encoder output >= 0.9999 for every row (half of float16's bytes at a fidelity both easily
meet; the numbers are in ``data/README.md``).

    scale_i = max_j |x_ij| / 127,   q_ij = round(x_ij / scale_i),   x'_i = q_i scale_i / ||q_i scale_i||   (1)

Each file holds ``q`` (n, 384) int8, ``scale`` (n,) float32 and ``meta`` (JSON: the corpus' text
hash, encoder, max_length, pooling, precision, quantisation, the measured minimum cosine). A file is
found by its meta, so any dataset whose corpus equals a bundled one (an upload of the same texts,
every validation carve of Reuters) uses it.

Nothing is used unchecked: on first use ``verify`` re-encodes a seeded handful of rows in fp32 and
compares; a mismatch (another encoder version, a damaged file) is reported and the caller computes
the features instead.
"""

from __future__ import annotations

import functools
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import DataValidationError

QUANTISATION = "int8-rowscale"
#: rows re-encoded on first use, and the cosine each must reach
VERIFY_ROWS = 8
VERIFY_MIN_COSINE = 0.999


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(q, scale)`` of Eq. 1: int8 rows and their float32 scales (a zero row gets scale 1).

    Eq. 1 is the module docstring's (per-row int8 quantisation).

    Parameters
    ----------
    x : array_like, shape (n, d)
        The rows to quantise (cast to float32).

    Returns
    -------
    q : np.ndarray, shape (n, d), int8
        ``round(x_ij / scale_i)``, clipped to [-127, 127].
    scale : np.ndarray, shape (n,), float32
        ``max_j |x_ij| / 127`` of each row.
    """
    x = np.asarray(x, dtype=np.float32)
    peak = np.abs(x).max(axis=1) if x.size else np.zeros(len(x), np.float32)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def dequantize_rows(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The L2-normalised float32 rows of Eq. 1 (module docstring).

    Parameters
    ----------
    q : np.ndarray, shape (n, d)
        The int8 rows.
    scale : array_like, shape (n,)
        The scale of each row.

    Returns
    -------
    np.ndarray, shape (n, d), float32
        ``q_i scale_i / ||q_i scale_i||`` (a zero row stays zero).
    """
    x = q.astype(np.float32) * np.asarray(scale, dtype=np.float32)[:, None]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``a`` with the same row of ``b``.

    Parameters
    ----------
    a, b : array_like, shape (n, d)
        The two sets of rows.

    Returns
    -------
    np.ndarray, shape (n,), float64
        The cosines; 0 where either row is zero.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.where(den > 0, den, 1.0)


@dataclass(frozen=True)
class BundledFeatures:
    """One shipped file: where it is and what its meta says."""

    path: Path
    meta: dict

    def matches(self, text_hash: str, encoder: str, max_length: int, pooling: str) -> bool:
        """Whether this file holds the embeddings of these texts (``text_hash``) made this way.

        Parameters
        ----------
        text_hash : str
            Hash of the corpus' texts, in order.
        encoder, pooling : str
            The encoder's name and how its token vectors were pooled.
        max_length : int
            Tokens per text the encoder saw.

        Returns
        -------
        bool
            True when all four agree with the file's meta.
        """
        m = self.meta
        return (m.get("text_hash") == text_hash and m.get("encoder") == encoder
                and int(m.get("max_length", -1)) == int(max_length) and m.get("pooling") == pooling)

    def load(self) -> np.ndarray:
        """The dequantised ``(n, dim)`` float32 matrix in corpus order."""
        try:
            with np.load(self.path, allow_pickle=False) as z:
                q, scale = z["q"], z["scale"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DataValidationError(f"The bundled features {self.path} cannot be read ({exc}).") from exc
        n = int(self.meta.get("rows", -1))
        if q.dtype != np.int8 or q.ndim != 2 or q.shape[0] != n or scale.shape != (n,):
            raise DataValidationError(f"The bundled features {self.path} are damaged (shape {q.shape}).")
        return dequantize_rows(q, scale)


def read_meta(path: str | os.PathLike) -> dict | None:
    """The ``meta`` of a bundled features file (reads that entry only), or None if unreadable.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` file written by :func:`save`.

    Returns
    -------
    dict or None
        The parsed meta, or None when the file or its ``meta`` entry cannot be read as a JSON object.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return meta if isinstance(meta, dict) else None


@functools.lru_cache(maxsize=4)
def _index(data_dir: str) -> tuple[BundledFeatures, ...]:
    found = []
    for path in sorted(Path(data_dir).glob("*/features/*.npz")):
        meta = read_meta(path)
        if meta is not None:
            found.append(BundledFeatures(path, meta))
    return tuple(found)


def find(text_hash: str, encoder: str, max_length: int, pooling: str, data_dir=None) -> BundledFeatures | None:
    """The shipped features of the corpus ``text_hash`` at these settings, if the project has them.

    Parameters
    ----------
    text_hash : str
        The corpus' text hash (``corpus.text_hash``).
    encoder, pooling : str
        The encoder's name and how its token vectors were pooled.
    max_length : int
        Tokens per text the encoder saw.
    data_dir : str or path-like, optional
        The datasets folder searched for ``*/features/*.npz``; default ``paths.data_dir()``.

    Returns
    -------
    BundledFeatures or None
        The first matching file (in path order), or None.
    """
    root = str(Path(data_dir) if data_dir is not None else paths.data_dir())
    for entry in _index(root):
        if entry.matches(text_hash, encoder, max_length, pooling):
            return entry
    return None


def verify_rows(n_rows: int, text_hash: str, k: int = VERIFY_ROWS) -> np.ndarray:
    """The seeded handful of rows re-encoded on first use (seed: the corpus' text hash).

    Parameters
    ----------
    n_rows : int
        Rows in the corpus.
    text_hash : str
        The corpus' (hex) text hash; its first 16 digits seed the choice.
    k : int, default VERIFY_ROWS
        How many rows to pick.

    Returns
    -------
    np.ndarray, shape (min(k, n_rows),)
        Distinct row indices, sorted.
    """
    rng = np.random.default_rng(int(text_hash[:16], 16))
    return np.sort(rng.choice(n_rows, size=min(k, n_rows), replace=False))


def save(path: str | os.PathLike, matrix: np.ndarray, meta: dict) -> dict:
    """Quantise ``matrix`` (Eq. 1) and write it with ``meta`` (plus fidelity numbers); returns the meta.

    The file is written atomically and the in-process index of bundled files is cleared.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file to write.
    matrix : np.ndarray, shape (n, d)
        The fp32 embeddings, rows in corpus order.
    meta : dict
        The corpus' text hash, encoder, max_length, pooling and anything else to record.

    Returns
    -------
    dict
        ``meta`` plus ``rows``, ``dim``, ``quantisation`` and the minimum / mean cosine of the
        dequantised rows to ``matrix`` (``min_cosine_to_fp32``, ``mean_cosine_to_fp32``).
    """
    from .._io import atomic_write

    q, scale = quantize_rows(matrix)
    cos = row_cosines(dequantize_rows(q, scale), matrix)
    meta = dict(meta, rows=int(len(matrix)), dim=int(matrix.shape[1]), quantisation=QUANTISATION,
                min_cosine_to_fp32=float(cos.min()) if len(cos) else 1.0,
                mean_cosine_to_fp32=float(cos.mean()) if len(cos) else 1.0)
    blob = np.array(json.dumps(meta, sort_keys=True))
    atomic_write(Path(path), lambda fh: np.savez_compressed(fh, q=q, scale=scale, meta=blob))
    _index.cache_clear()
    return meta
