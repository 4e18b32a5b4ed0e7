"""Data hygiene: duplicated rows and inputs shared between splits (leakage that inflates metrics).

Inputs are compared after collapsing runs of whitespace (texts) or as exact feature rows (tables).
Everything here is linear in the number of rows (hashing, no pairwise comparison).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as scipy_sparse

from mlal_core.data.dataset import SPLIT_NAMES

_EXAMPLES = 3  # examples shown per finding
_EXAMPLE_CHARS = 60  # characters of a text shown in an example


def input_keys(texts: Sequence[str] | None, X: np.ndarray | None) -> list:
    """One hashable key per row: the text with its whitespace collapsed, or the feature row's bytes.

    Parameters
    ----------
    texts : sequence of str or None
        The rows' texts (text data).
    X : numpy.ndarray or None
        The rows' features (tabular data), used when ``texts`` is None.

    Returns
    -------
    list
        ``len(rows)`` keys; equal keys mean the same input.
    """
    if texts is not None:
        return [" ".join(str(t).split()) for t in texts]
    if X is None:
        return []
    X = np.ascontiguousarray(X)
    return [row.tobytes() for row in X]


def repeated_rows(keys: Sequence, Y: np.ndarray) -> np.ndarray:
    """Positions of rows that repeat an earlier row exactly (same input and same labels).

    Parameters
    ----------
    keys : sequence
        The rows' input keys (:func:`input_keys`).
    Y : numpy.ndarray or scipy sparse matrix
        The rows' 0/1 label matrix (dense or sparse; sparse entries must be 1, as ``Split`` stores them).

    Returns
    -------
    numpy.ndarray
        Sorted int positions of every copy after the first.
    """
    seen: set = set()
    repeats = []
    if scipy_sparse.issparse(Y):  # a row's labels = its sorted column indices
        csr = scipy_sparse.csr_matrix(Y)
        csr = csr if csr.has_sorted_indices else csr.sorted_indices()
        row_bytes = [csr.indices[csr.indptr[i]:csr.indptr[i + 1]].tobytes() for i in range(csr.shape[0])]
    else:
        dense = np.ascontiguousarray(Y)
        row_bytes = [dense[i].tobytes() for i in range(dense.shape[0])]
    for i, key in enumerate(keys):
        full = (key, row_bytes[i])
        if full in seen:
            repeats.append(i)
        else:
            seen.add(full)
    return np.asarray(repeats, dtype=np.int64)


def shared_inputs(keys_by_split: Mapping[str, Sequence]) -> dict[str, np.ndarray]:
    """Per split, the positions of rows whose input also occurs in a later split (train < valid < test).

    Parameters
    ----------
    keys_by_split : dict of str to sequence
        The input keys of each split (``"train"``, ``"valid"``, ``"test"``).

    Returns
    -------
    dict of str to numpy.ndarray
        For ``"train"`` and ``"valid"``: the positions to drop so that no input is in two splits
        (the test split is kept whole, then valid).
    """
    later: set = set()
    out: dict[str, np.ndarray] = {}
    for split in reversed(SPLIT_NAMES):
        keys = keys_by_split.get(split, [])
        out[split] = np.asarray([i for i, k in enumerate(keys) if k in later], dtype=np.int64)
        later.update(keys)
    return out


def _example(key) -> str:
    if isinstance(key, bytes):
        return "(a feature row)"
    return repr(key[:_EXAMPLE_CHARS] + ("…" if len(key) > _EXAMPLE_CHARS else ""))


def _pair_counts(keys_by_split: Mapping[str, Sequence]) -> tuple[dict[str, int], list[str]]:
    """(distinct inputs shared by each pair of splits, a few examples)."""
    sets = {s: set(keys_by_split.get(s, [])) for s in SPLIT_NAMES}
    counts: dict[str, int] = {}
    examples: list[str] = []
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        common = sets[a] & sets[b]
        if common:
            counts[f"{a}/{b}"] = len(common)
            examples += [_example(k) for k in sorted(common, key=str)[:_EXAMPLES - len(examples)]]
    return counts, examples


def check_hygiene(dataset) -> dict:
    """Report duplicated rows within each split and inputs shared between splits.

    Parameters
    ----------
    dataset : MultiLabelDataset
        Any dataset (uploaded or bundled).

    Returns
    -------
    dict
        ``duplicate_rows`` (split -> number of exact repeats of an earlier row of that split),
        ``shared`` (``"train/test"`` ... -> number of distinct inputs in both splits),
        ``examples`` (a few shared or repeated inputs) and ``warnings`` (sentences to show; empty
        when the data is clean).
    """
    splits = {s: getattr(dataset, s) for s in SPLIT_NAMES}
    keys = {s: input_keys(sp.texts, sp.X) for s, sp in splits.items()}
    duplicate_rows: dict[str, int] = {}
    examples: list[str] = []
    for s, sp in splits.items():
        rep = repeated_rows(keys[s], sp.Y)
        if rep.size:
            duplicate_rows[s] = int(rep.size)
            examples += [_example(keys[s][i]) for i in rep[:_EXAMPLES - len(examples)]]
    shared, shared_examples = _pair_counts(keys)
    warnings = []
    if duplicate_rows:
        counts = ", ".join(f"{n} in {s}" for s, n in duplicate_rows.items())
        warnings.append(f"Duplicate rows (same input and labels as an earlier row): {counts}; "
                        f"e.g. {', '.join(examples)}. Pass duplicates='drop' to keep one copy.")
    if shared:
        counts = ", ".join(f"{n} in {pair}" for pair, n in shared.items())
        warnings.append(f"Inputs shared between splits (leakage that inflates every metric): {counts}; "
                        f"e.g. {', '.join(shared_examples)}. Pass cross_split='drop' to remove them from "
                        "train/valid, or cross_split='error' to refuse such data.")
    return {"duplicate_rows": duplicate_rows, "shared": shared, "examples": (examples + shared_examples)[:_EXAMPLES],
            "warnings": warnings}
