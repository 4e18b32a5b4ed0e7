"""The dataset containers every other part of the workbench uses."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlal_core.errors import DataValidationError, unknown_name_error

SPLIT_NAMES = ("train", "valid", "test")

#: Label matrices with more labels than this are stored sparse (``scipy.sparse.csr_matrix`` of uint8).
#: At K = 3,398 (EURLEX57K) a dense uint8 ``Y`` of its 57k rows is 194 MB against 3.4 MB of CSR
#: (5 labels a row); at K <= 500 dense costs at most 0.5 KB a row and every caller may index it freely.
SPARSE_LABELS_ABOVE_K = 500

#: Rows per block when a sparse ``Y`` is hashed (the bytes are those of the dense rows).
_HASH_BLOCK_ROWS = 8192


def label_storage(Y: Any) -> np.ndarray | sp.csr_matrix:
    """``Y`` as the workbench stores label matrices: dense uint8 for K <= 500, CSR uint8 above.

    The threshold is :data:`SPARSE_LABELS_ABOVE_K`. Entries must be 0/1 (explicit zeros of a sparse
    input are dropped). A sparse result has sorted, duplicate-free column indices and data all 1.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix of any integer, bool or float dtype.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix, shape (n, K), uint8
        Dense when K <= :data:`SPARSE_LABELS_ABOVE_K`, else CSR. A dense uint8 input is returned
        without a copy.

    Raises
    ------
    DataValidationError
        ``Y`` is not 2-D or holds values other than 0 and 1.
    """
    if sp.issparse(Y):
        Y = sp.csr_matrix(Y)
        if Y.ndim != 2:
            raise DataValidationError(f"Split.Y must be 2-D (n, K); got shape {Y.shape}.")
        if not Y.has_canonical_format:  # shared (read-only) arrays are never edited in place
            Y = Y.copy()
            Y.sum_duplicates()
        if Y.nnz and not Y.data.all():
            Y = Y.copy()
            Y.eliminate_zeros()
        if Y.nnz and not np.all(Y.data == 1):
            raise DataValidationError("Split.Y must hold only 0/1 values.")
        if Y.shape[1] <= SPARSE_LABELS_ABOVE_K:
            return Y.toarray().astype(np.uint8)
        return Y if Y.dtype == np.uint8 else Y.astype(np.uint8)
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise DataValidationError(f"Split.Y must be 2-D (n, K); got shape {Y.shape}.")
    if Y.dtype != np.uint8 or Y.shape[1] > SPARSE_LABELS_ABOVE_K:
        if Y.size and not np.isin(Y, (0, 1)).all():
            raise DataValidationError("Split.Y must hold only 0/1 values.")
        Y = Y.astype(np.uint8, copy=False)
    if Y.shape[1] > SPARSE_LABELS_ABOVE_K:
        return sp.csr_matrix(Y)
    return Y


def dense_labels(Y: Any) -> np.ndarray:
    """A label matrix (dense or sparse) as a dense uint8 numpy array (a copy only when sparse).

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, K)
        The same labels, dense.
    """
    return np.asarray(Y.toarray() if sp.issparse(Y) else Y, dtype=np.uint8)


@dataclass
class Split:
    """One split of a dataset: labels plus either texts (text sets) or features (tabular sets).

    ``Y`` is an ``(n, K)`` uint8 0/1 matrix: a numpy array for K <= 500, a
    ``scipy.sparse.csr_matrix`` above (:func:`label_storage`, :data:`SPARSE_LABELS_ABOVE_K`; either
    form may be passed, it is converted). :meth:`dense_Y` gives a dense copy where one is needed.
    ``texts`` is a list of n strings; ``X`` an ``(n, d)`` float32 matrix. Arrays handed out by
    :func:`mlal_core.data.load` are read-only (``writeable=False``) because they are shared with the
    in-process cache: copy before editing.
    """

    Y: Any
    texts: list[str] | None = None
    X: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.Y = Y = label_storage(self.Y)
        n = Y.shape[0]
        if self.texts is not None:
            if not isinstance(self.texts, list):
                self.texts = list(self.texts)
            if len(self.texts) != n:
                raise DataValidationError(f"Split has {n} label rows but {len(self.texts)} texts.")
        if self.X is not None:
            X = np.asarray(self.X)
            if X.dtype != np.float32:
                X = X.astype(np.float32)
            if X.ndim != 2 or X.shape[0] != n:
                raise DataValidationError(f"Split has {n} label rows but X has shape {X.shape}.")
            self.X = X

    def __len__(self) -> int:
        return int(self.Y.shape[0])

    def subset(self, indices) -> Split:
        """A new split with the rows ``indices`` (positions or a boolean mask), in that order."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        texts = [self.texts[i] for i in idx] if self.texts is not None else None
        X = self.X[idx] if self.X is not None else None
        return Split(Y=self.Y[idx], texts=texts, X=X)

    def select_labels(self, columns) -> Split:
        """A new split keeping only the label columns ``columns`` (rows unchanged)."""
        return Split(Y=self.Y[:, np.asarray(columns, dtype=np.int64)], texts=self.texts, X=self.X)

    @property
    def is_sparse(self) -> bool:
        """True when ``Y`` is stored sparse (K above :data:`SPARSE_LABELS_ABOVE_K`)."""
        return sp.issparse(self.Y)

    def dense_Y(self) -> np.ndarray:
        """``Y`` as a dense uint8 array: ``Y`` itself when dense, a new array when sparse.

        Returns
        -------
        numpy.ndarray of uint8, shape (n, K)
            The labels; for a sparse ``Y`` this costs n * K bytes.
        """
        return dense_labels(self.Y)

    def read_only(self) -> Split:
        """Mark the arrays non-writeable in place (used for cached, shared datasets)."""
        for arr in (self.Y.data, self.Y.indices, self.Y.indptr) if sp.issparse(self.Y) else (self.Y,):
            arr.flags.writeable = False
        if self.X is not None:
            self.X.flags.writeable = False
        return self


def concat_splits(parts: Sequence[Split]) -> Split:
    """Rows of several splits stacked in order (same label space and kind).

    Parameters
    ----------
    parts : sequence of Split
        At least one split; all with the same K, and with texts (or X) when the first has them.

    Returns
    -------
    Split
        The rows of ``parts`` in order; texts / X kept when the first split has them.

    Raises
    ------
    DataValidationError
        The first split holds texts and a later one does not.
    """
    if any(sp.issparse(p.Y) for p in parts):
        Y = sp.vstack([sp.csr_matrix(p.Y) for p in parts], format="csr")
    else:
        Y = np.concatenate([p.Y for p in parts], axis=0)
    texts: list[str] | None = None
    if parts and parts[0].texts is not None:
        texts = []
        for p in parts:
            if p.texts is None:
                raise DataValidationError("concat_splits: the first split holds texts and a later one does not; "
                                          "pass splits of the same kind.")
            texts.extend(p.texts)
    X = None
    if parts and parts[0].X is not None:
        X = np.concatenate([p.X for p in parts], axis=0)
    return Split(Y=Y, texts=texts, X=X)


@dataclass(kw_only=True)
class MultiLabelDataset:
    """A multi-label dataset with train / valid / test splits over one label space.

    ``kind`` is ``"text"`` (splits carry ``texts``) or ``"tabular"`` (splits carry ``X``).
    ``meta`` holds provenance, licence, citation and notes. ``valid_carved`` is True when the
    validation split was carved from the training rows (seeded iterative stratification) rather
    than given by the source.
    """

    name: str
    kind: str
    label_names: list[str]
    train: Split
    valid: Split
    test: Split
    meta: dict = field(default_factory=dict)
    valid_carved: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("text", "tabular"):
            raise DataValidationError(f"kind must be 'text' or 'tabular'; got {self.kind!r}.")
        self.label_names = [str(n) for n in self.label_names]
        K = len(self.label_names)
        if len(set(self.label_names)) != K:
            dup = sorted(n for n, c in Counter(self.label_names).items() if c > 1)
            raise DataValidationError(f"Duplicate label names: {', '.join(dup)}.")
        for split_name in SPLIT_NAMES:
            s = getattr(self, split_name)
            if s.Y.shape[1] != K:
                raise DataValidationError(
                    f"Split {split_name!r} has {s.Y.shape[1]} label columns; the dataset has {K} labels."
                )
            if self.kind == "text" and s.texts is None:
                raise DataValidationError(f"Text dataset: split {split_name!r} has no texts.")
            if self.kind == "tabular" and s.X is None:
                raise DataValidationError(f"Tabular dataset: split {split_name!r} has no X.")

    @property
    def n_labels(self) -> int:
        """K, the number of labels (the columns of every split's ``Y``)."""
        return len(self.label_names)

    @property
    def n_features(self) -> int | None:
        """Feature count of a tabular set (``None`` for text sets)."""
        return None if self.train.X is None else int(self.train.X.shape[1])

    @property
    def splits(self) -> dict[str, Split]:
        """``{"train": ..., "valid": ..., "test": ...}``, in that order."""
        return {s: getattr(self, s) for s in SPLIT_NAMES}

    def split(self, name: str) -> Split:
        """The split called ``name`` (``"train"``, ``"valid"`` or ``"test"``)."""
        if name not in SPLIT_NAMES:
            raise unknown_name_error("split", name, SPLIT_NAMES)
        return getattr(self, name)

    def content_hash(self) -> str:
        """sha256 (hex) over kind, label names and every split's texts / X and Y.

        Stable across processes and machines: it hashes explicit little-endian bytes with shapes
        and length prefixes, never Python's ``hash``. The name and ``meta`` are not part of it.
        """
        h = hashlib.sha256()

        def put(b: bytes) -> None:
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)

        def put_labels(Y: Any) -> None:  # the dense bytes, so the hash does not depend on the storage
            if not sp.issparse(Y):
                put(np.ascontiguousarray(Y, dtype=np.uint8).tobytes())
                return
            h.update(int(Y.shape[0] * Y.shape[1]).to_bytes(8, "little"))
            for start in range(0, Y.shape[0], _HASH_BLOCK_ROWS):
                h.update(np.ascontiguousarray(Y[start:start + _HASH_BLOCK_ROWS].toarray(), dtype=np.uint8).tobytes())

        put(b"mlal-dataset-v1")
        put(self.kind.encode())
        for n in self.label_names:
            put(n.encode("utf-8"))
        for split_name in SPLIT_NAMES:
            s = getattr(self, split_name)
            put(split_name.encode())
            put(np.asarray(s.Y.shape, dtype="<i8").tobytes())
            put_labels(s.Y)
            if s.texts is not None:
                put(b"texts")
                for t in s.texts:
                    put(t.encode("utf-8"))
            if s.X is not None:
                put(b"X")
                put(np.asarray(s.X.shape, dtype="<i8").tobytes())
                put(np.ascontiguousarray(s.X, dtype="<f4").tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(getattr(self, s))}" for s in SPLIT_NAMES)
        return f"MultiLabelDataset(name={self.name!r}, kind={self.kind!r}, K={self.n_labels}, {sizes})"
