"""The dataset containers every other part of the workbench uses."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mlal_core.errors import DataValidationError, unknown_name_error

SPLIT_NAMES = ("train", "valid", "test")


@dataclass
class Split:
    """One split of a dataset: labels plus either texts (text sets) or features (tabular sets).

    ``Y`` is an ``(n, K)`` uint8 0/1 matrix; ``texts`` a list of n strings; ``X`` an ``(n, d)``
    float32 matrix. Arrays handed out by :func:`mlal_core.data.load` are read-only
    (``writeable=False``) because they are shared with the in-process cache: copy before editing.
    """

    Y: np.ndarray
    texts: list[str] | None = None
    X: np.ndarray | None = None

    def __post_init__(self) -> None:
        Y = np.asarray(self.Y)
        if Y.ndim != 2:
            raise DataValidationError(f"Split.Y must be 2-D (n, K); got shape {Y.shape}.")
        if Y.dtype != np.uint8:
            if Y.size and not np.isin(Y, (0, 1)).all():
                raise DataValidationError("Split.Y must hold only 0/1 values.")
            Y = Y.astype(np.uint8)
        self.Y = Y
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

    def read_only(self) -> Split:
        """Mark the arrays non-writeable in place (used for cached, shared datasets)."""
        self.Y.flags.writeable = False
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

        put(b"mlal-dataset-v1")
        put(self.kind.encode())
        for n in self.label_names:
            put(n.encode("utf-8"))
        for split_name in SPLIT_NAMES:
            s = getattr(self, split_name)
            put(split_name.encode())
            put(np.asarray(s.Y.shape, dtype="<i8").tobytes())
            put(np.ascontiguousarray(s.Y, dtype=np.uint8).tobytes())
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
