"""Seeded, iteratively-stratified splits of a multi-label matrix.

Wraps ``iterstrat``'s ``IterativeStratification`` (Sechidis, Tsoumakas & Vlahavas 2011, the
algorithm behind ``MultilabelStratifiedShuffleSplit``) the same way ``MultilabelStratifiedShuffleSplit``
does (shuffle the rows with the seed, stratify, undo the shuffle), but for any number of parts and
for K = 1, which ``MultilabelStratifiedShuffleSplit`` refuses. Same ``Y`` and seed, same parts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlal_core.errors import ConfigError


def stratified_partition(Y, fractions: Sequence[float], random_state: int = 0) -> list[np.ndarray]:
    """Split the rows of ``Y`` into ``len(fractions)`` parts of about those fractions.

    Label proportions are kept as equal across the parts as the iterative stratification
    (Sechidis, Tsoumakas & Vlahavas 2011) can. Rows with no label (negative examples) are
    stratified as if "no label" were one more label, so each part gets about its fraction of them;
    left to the algorithm they would only fill what the labelled rows left of each part's size,
    which can put several times their share in a small part, or none. The price: part sizes then
    vary by a few rows, as the labelled rows' do. Should that leave a part with a nonzero fraction
    empty (a handful of rows), the plain algorithm is used. ``Y`` with no such row is split exactly
    as without this rule.

    Parameters
    ----------
    Y : array_like, shape (n, K)
        0/1 label matrix.
    fractions : sequence of float
        The parts' shares, each >= 0, summing to 1; a part of fraction 0 gets no row.
    random_state : int, default 0
        Seed of the row shuffle and the stratification.

    Returns
    -------
    list of np.ndarray
        One sorted int64 index array per part; the parts cover every row exactly once.

    Raises
    ------
    ConfigError
        ``fractions`` is empty, has a negative entry or does not sum to 1.
    """
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size < 1 or (fr < 0).any() or not np.isclose(fr.sum(), 1.0):
        raise ConfigError(f"Split fractions must be >= 0 and sum to 1; got {list(fractions)}.")
    Y = np.asarray(Y).astype(bool)
    n = Y.shape[0]
    if n == 0:
        return [np.empty(0, dtype=np.int64) for _ in fr]
    nonzero = np.flatnonzero(fr > 0)  # a part of fraction 0 gets no row (the algorithm could give it some)
    if nonzero.size == 1:
        return [np.arange(n, dtype=np.int64) if k == nonzero[0] else np.empty(0, dtype=np.int64) for k in range(fr.size)]
    empty = ~Y.any(axis=1)
    if empty.any():
        parts = _iterative(np.column_stack([Y, empty]), fr, nonzero, random_state)
        if all(parts[k].size for k in nonzero):
            return parts
    return _iterative(Y, fr, nonzero, random_state)


def _iterative(Y: np.ndarray, fr: np.ndarray, nonzero: np.ndarray, random_state: int) -> list[np.ndarray]:
    """iterstrat's IterativeStratification of the seeded row shuffle, as MultilabelStratifiedShuffleSplit."""
    from iterstrat.ml_stratifiers import (
        IterativeStratification,  # imports scikit-learn (~2 s): only when needed
    )

    n = Y.shape[0]
    rng = np.random.RandomState(random_state)
    order = np.arange(n)
    rng.shuffle(order)
    folds = IterativeStratification(labels=Y[order], r=fr[nonzero], random_state=rng)
    assigned = np.empty(n, dtype=np.int64)
    assigned[order] = nonzero[folds]
    return [np.flatnonzero(assigned == k).astype(np.int64) for k in range(fr.size)]


def carve(Y, fraction: float, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into (kept, carved) with about ``fraction`` of them carved off, stratified.

    Parameters
    ----------
    Y : array_like, shape (n, K)
        0/1 label matrix.
    fraction : float
        Share of the rows to carve off, in [0, 1).
    random_state : int, default 0
        Seed (:func:`stratified_partition`).

    Returns
    -------
    kept, carved : np.ndarray
        Sorted int64 row indices; together every row once (``carved`` empty for ``fraction=0``).

    Raises
    ------
    ConfigError
        ``fraction`` is outside [0, 1).
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"A carved fraction must be in [0, 1); got {fraction}.")
    n = np.asarray(Y).shape[0]
    if fraction == 0.0 or n == 0:
        return np.arange(n, dtype=np.int64), np.empty(0, dtype=np.int64)
    kept, carved = stratified_partition(Y, [1.0 - fraction, fraction], random_state)
    return kept, carved


def train_valid_test(Y, valid_fraction: float, test_fraction: float, random_state: int = 0):
    """Partition rows into (train, valid, test) index arrays; fractions are of all rows.

    Parameters
    ----------
    Y : array_like, shape (n, K)
        0/1 label matrix.
    valid_fraction, test_fraction : float
        Shares of all rows, each in [0, 1), together below 1.
    random_state : int, default 0
        Seed (:func:`stratified_partition`).

    Returns
    -------
    train, valid, test : np.ndarray
        Sorted int64 row indices, together every row once.

    Raises
    ------
    ConfigError
        A fraction outside [0, 1), or fractions that leave no room for training rows.
    """
    if not (0.0 <= valid_fraction < 1.0 and 0.0 <= test_fraction < 1.0) or valid_fraction + test_fraction >= 1.0:
        raise ConfigError(
            "valid_fraction and test_fraction must be in [0, 1) and leave room for training rows; "
            f"got valid_fraction={valid_fraction}, test_fraction={test_fraction}."
        )
    train, valid, test = stratified_partition(
        Y, [1.0 - valid_fraction - test_fraction, valid_fraction, test_fraction], random_state
    )
    return train, valid, test
