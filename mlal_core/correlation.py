"""Label correlation matrices of CRAB (Eq. 8, 9) and the helpers CRAB and the loop share.

With ``C = Y^T Y`` (co-occurrence counts) and ``c_n = C[n, n]`` (count of label n):

* ``A[m, n] = C[m, n] / c_n`` = P(m present | n present); ``A[n, n] = 1``. Asymmetric.
* ``NegA[m, n] = (c_n - C[m, n]) / c_n`` = P(m absent | n present) = ``1 - A[m, n]`` for m != n;
  ``NegA[n, n] = 0``. We follow Eq. 9 (METHODS.md **[choice]**: the paper's sentence "if m and n
  co-occur, both NegA are set to 1" contradicts it).
* A label n with no positive (``c_n = 0``, "unseen") has an **all-zero column** in both matrices,
  its diagonal entry included: there is no evidence about it. Its row still holds
  ``A[n, m] = 0`` / ``NegA[n, m] = 1`` for seen m (n is never present with m).
* ``CorrAvg`` (CRAB Sec. 4) = mean of ``A[m, n]`` over ordered pairs m != n. **[choice]** By default
  (``over="present"``) only pairs of labels **that occur in Y** (``c_m > 0`` and ``c_n > 0``) count;
  ``over="all"`` is the literal reading, all K (K - 1) pairs, absent labels adding zeros. The two
  agree when every label occurs; they differ on a split where a label is missing, and the default
  is the reading that reproduces the CorrAvg of the bundled datasets' ``meta.json`` (medical train:
  0.016021 with ``"present"``, 0.011376 with ``"all"``).

Everything is vectorised through one (sparse) matrix product; ``Y`` may be a numpy array (any 0/1 dtype)
or a scipy sparse matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mlal_core.errors import ConfigError
from mlal_core.stats import (
    as_label_matrix,
    distinct_labelsets,
    label_cardinality,
    label_counts,
    label_density,
    max_ir,
    mean_ir,
    n_without_label,
)

__all__ = [
    "asymmetric_pairs",
    "conflicting_mask",
    "cooccurrence",
    "corr_avg",
    "correlation_drift",
    "exclusive_pairs",
    "hard_to_learn_mask",
    "label_summary",
    "negative_correlation",
    "offdiag_zscores",
    "pairs_present",
    "positive_correlation",
]


def cooccurrence(Y) -> np.ndarray:
    """``C = Y^T Y`` as float64 ``(K, K)``: ``C[m, n]`` = rows with both m and n; diagonal = counts.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix (any non-zero entry counts as positive).

    Returns
    -------
    numpy.ndarray of float64, shape (K, K)
        The symmetric co-occurrence counts (exact integers).
    """
    Y = as_label_matrix(Y)
    # A sparse integer product: exact counts (uint8 products would overflow), and label matrices
    # are sparse enough that this beats a dense BLAS product by 10-30x on tall Y.
    B = sp.csr_matrix(Y != 0, dtype=np.int64)
    return (B.T @ B).toarray().astype(np.float64)


def _conditional(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.diag(C).copy()
    seen = counts > 0
    A = np.zeros_like(C)
    np.divide(C, counts[None, :], out=A, where=seen[None, :])
    return A, seen


def positive_correlation(Y) -> np.ndarray:
    """A (CRAB Eq. 8): ``A[m, n] = count(m & n) / count(n)``; diagonal 1; unseen columns all 0.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix, usually ``Y_L`` of the labelled set.

    Returns
    -------
    numpy.ndarray of float64, shape (K, K)
        ``A[m, n]`` = P(m present | n present); the column (diagonal included) of a label with no
        positive in ``Y`` is all 0.
    """
    A, seen = _conditional(cooccurrence(Y))
    np.fill_diagonal(A, seen.astype(np.float64))
    return A


def negative_correlation(Y) -> np.ndarray:
    """NegA (CRAB Eq. 9): ``NegA[m, n] = count(not m & n) / count(n)``; diagonal 0; unseen columns 0.

    We follow Eq. 9, not the paper's sentence that contradicts it (METHODS.md **[choice]**).

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix, usually ``Y_L`` of the labelled set.

    Returns
    -------
    numpy.ndarray of float64, shape (K, K)
        ``NegA[m, n]`` = P(m absent | n present) = ``1 - A[m, n]`` for m != n in a seen column.
    """
    A, seen = _conditional(cooccurrence(Y))
    neg = np.where(seen[None, :], 1.0 - A, 0.0)
    np.fill_diagonal(neg, 0.0)
    return neg


CORR_AVG_OVER = ("present", "all")


def corr_avg(Y, over: str = "present") -> float:
    """CorrAvg (CRAB Sec. 4): mean of ``A[m, n]`` over ordered label pairs m != n.

    Parameters
    ----------
    Y : (n, K) 0/1 label matrix (numpy or scipy sparse).
    over : {"present", "all"}
        ``"present"`` (default, a **[choice]**): pairs of labels that both occur in ``Y``; this
        reproduces the CorrAvg of the bundled ``meta.json`` on splits where a label is missing.
        ``"all"``: all K (K - 1) ordered pairs, a label absent from ``Y`` contributing zeros (the
        literal reading of METHODS.md / CRAB Sec. 4). Both are equal when every label occurs.

    Returns ``nan`` with fewer than two labels to pair (present ones for ``"present"``).
    """
    if over not in CORR_AVG_OVER:
        raise ConfigError(f"corr_avg: over={over!r} is not known; pass over='present' (pairs of labels that "
                          "occur, the default) or over='all' (all ordered pairs of the K labels).")
    A, seen = _conditional(cooccurrence(Y))
    if over == "all":
        seen = np.ones_like(seen)
    s = int(seen.sum())
    if s < 2:
        return float("nan")
    sub = A[np.ix_(seen, seen)]
    return float((sub.sum() - np.trace(sub)) / (s * (s - 1)))


def label_summary(Y) -> dict:
    """The statistics of one label matrix, named as in the datasets' ``meta.json``.

    The imbalance and cardinality statistics come from :mod:`mlal_core.stats` (Charte et al. 2015),
    CorrAvg from :func:`corr_avg` (CRAB Sec. 4, over the labels present).

    Parameters
    ----------
    Y : (n, K) 0/1 label matrix (numpy or scipy sparse).

    Returns
    -------
    dict
        ``n_samples, n_labels, labels_present, n_samples_without_label, label_cardinality,
        label_density, MeanIR, MaxIR, CorrAvg, distinct_labelsets`` (in that order).
    """
    Y = as_label_matrix(Y)
    counts = label_counts(Y)
    return {
        "n_samples": int(Y.shape[0]),
        "n_labels": int(Y.shape[1]),
        "labels_present": int((counts > 0).sum()),
        "n_samples_without_label": n_without_label(Y),
        "label_cardinality": label_cardinality(Y),
        "label_density": label_density(Y),
        "MeanIR": mean_ir(Y),
        "MaxIR": max_ir(Y),
        "CorrAvg": corr_avg(Y),
        "distinct_labelsets": distinct_labelsets(Y),
    }


def _offdiag_mask(K: int) -> np.ndarray:
    return ~np.eye(K, dtype=bool)


def offdiag_zscores(A: np.ndarray) -> np.ndarray:
    """z-scores of the off-diagonal entries of a square matrix (diagonal set to 0).

    Mean and standard deviation (population, ``ddof=0``; METHODS.md does not say which) are taken
    over all K (K - 1) off-diagonal entries, the all-zero columns of unseen labels included: the
    literal reading of METHODS.md's "z-score the off-diagonal entries of A" (CRAB step 1). A
    constant off-diagonal (std 0) gives all-zero z-scores.

    Parameters
    ----------
    A : array-like, shape (K, K)
        A square matrix, e.g. :func:`positive_correlation`.

    Returns
    -------
    numpy.ndarray of float64, shape (K, K)
        The z-scores off the diagonal, 0 on it; all 0 for K < 2.
    """
    A = np.asarray(A, dtype=np.float64)
    K = A.shape[0]
    z = np.zeros_like(A)
    if K < 2:
        return z
    mask = _offdiag_mask(K)
    vals = A[mask]
    std = vals.std()
    if std > 0:
        z[mask] = (vals - vals.mean()) / std
    return z


def asymmetric_pairs(A: np.ndarray, z_threshold: float = 1.0) -> np.ndarray:
    """Asymmetric pairs (m, n) of CRAB step 1: ``z(A[m, n]) > z_threshold`` and ``A[m, n] > A[n, m]``.

    Such a pair says n's presence implies m's: n is the narrower, implying label and m the broader,
    implied one (METHODS.md "CRAB", step 1; which of the two CRAB keeps is the caller's choice).

    Parameters
    ----------
    A : array-like, shape (K, K)
        Positive correlation matrix (:func:`positive_correlation`).
    z_threshold : float, default 1.0
        Minimum z-score (:func:`offdiag_zscores`) of ``A[m, n]``.

    Returns
    -------
    numpy.ndarray of int64, shape (P, 2)
        The pairs (m, n), in row-major order of (m, n).
    """
    A = np.asarray(A, dtype=np.float64)
    z = offdiag_zscores(A)
    hit = (z > z_threshold) & (A > A.T) & _offdiag_mask(A.shape[0])
    return np.argwhere(hit).astype(np.int64).reshape(-1, 2)


def exclusive_pairs(Y, min_count: int = 2) -> tuple[np.ndarray, float]:
    """Mutually exclusive label pairs of CRAB step 2 and the threshold tau used.

    Over the labels with at least ``min_count`` positives in ``Y`` (METHODS.md **[choice]**), take
    NegA restricted to them, ``tau = min(1, mean + 2 std)`` of its off-diagonal entries
    (population std), and return the pairs (m, n), m < n, with both ``NegA[m, n] >= tau`` and
    ``NegA[n, m] >= tau``, as label indices of ``Y``. With fewer than two eligible labels there is
    no pair and tau is ``nan``.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix, usually ``Y_L`` of the labelled set.
    min_count : int, default 2
        Minimum number of positives for a label to take part.

    Returns
    -------
    pairs : numpy.ndarray of int64, shape (P, 2)
        The exclusive pairs (m, n) with m < n.
    tau : float
        The threshold used (``nan`` with fewer than two eligible labels).
    """
    Y = as_label_matrix(Y)
    C = cooccurrence(Y)
    counts = np.diag(C)
    eligible = np.flatnonzero(counts >= min_count)
    if eligible.size < 2:
        return np.empty((0, 2), dtype=np.int64), float("nan")
    sub = C[np.ix_(eligible, eligible)]
    c = np.diag(sub)
    neg = 1.0 - sub / c[None, :]
    mask = _offdiag_mask(eligible.size)
    vals = neg[mask]
    tau = float(min(1.0, vals.mean() + 2.0 * vals.std()))
    both = (neg >= tau) & (neg.T >= tau) & mask
    iu = np.triu(both, k=1)
    local = np.argwhere(iu)
    return eligible[local].astype(np.int64).reshape(-1, 2), tau


def conflicting_mask(ystar, pairs) -> np.ndarray:
    """Rows whose pseudo labels contain an exclusive pair: ``ystar_m = ystar_n = 1`` for some (m, n).

    The conflicting samples of CRAB step 2 (METHODS.md "CRAB").

    Parameters
    ----------
    ystar : array-like, shape (n, K) or (K,)
        0/1 (or bool) pseudo labels; a 1-D input is one row.
    pairs : array-like of int, shape (P, 2)
        Label pairs (m, n), e.g. from :func:`exclusive_pairs`.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True for the rows with both labels of at least one pair; all False when there is no pair.
    """
    ystar = np.asarray(ystar).astype(bool, copy=False)
    if ystar.ndim == 1:
        ystar = ystar[None, :]
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    n, K = ystar.shape
    out = np.zeros(n, dtype=bool)
    if pairs.shape[0] == 0 or n == 0:
        return out
    # a row conflicts when sum_{m,n} y_m E[m, n] y_n > 0 for the symmetric 0/1 pair matrix E: one
    # sparse (rows x K) @ (K x K) product per block of rows, never an (n, P) array of pair hits
    E = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(K, K)).tocsr()
    E = ((E + E.T) > 0).astype(np.float64).tocsr()
    many = np.flatnonzero(np.count_nonzero(ystar, axis=1) >= 2)  # one label cannot hold a pair
    step = max(1, (1 << 22) // max(1, K))
    for lo in range(0, len(many), step):
        rows = many[lo : lo + step]
        Yc = sp.csr_matrix(ystar[rows], dtype=np.float64)
        hits = np.asarray((Yc @ E).multiply(Yc).sum(axis=1)).reshape(-1)
        out[rows] = hits > 0
    return out


def pairs_present(ystar_row, pairs) -> np.ndarray:
    """The pairs of ``pairs`` (in their order) whose two labels are both set in one row of pseudo labels.

    Parameters
    ----------
    ystar_row : array-like, shape (K,)
        0/1 (or bool) pseudo labels of one sample.
    pairs : array-like of int, shape (P, 2)
        Label pairs (m, n), e.g. from :func:`exclusive_pairs`.

    Returns
    -------
    numpy.ndarray of int64, shape (Q, 2)
        The pairs with ``ystar_m = ystar_n = 1``, in the order of ``pairs``.
    """
    ys = np.asarray(ystar_row).astype(bool).reshape(-1)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.shape[0] == 0 or np.count_nonzero(ys) < 2:
        return np.empty((0, 2), dtype=np.int64)
    return pairs[ys[pairs[:, 0]] & ys[pairs[:, 1]]]


def hard_to_learn_mask(pbar) -> np.ndarray:
    """Rows with no predicted label: ``max_j pbar_j < 0.5`` (CRAB step 3).

    Parameters
    ----------
    pbar : array-like, shape (n, K) or (K,)
        Mean predicted probabilities; a 1-D input is one row.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True for the hard-to-learn rows (all True when K = 0).
    """
    pbar = np.asarray(pbar)  # float32 stays float32: no (n, K) float64 copy (800 MB at 100,000 x 1,000)
    if not np.issubdtype(pbar.dtype, np.floating):
        pbar = pbar.astype(np.float64)
    if pbar.ndim == 1:
        pbar = pbar[None, :]
    if pbar.shape[1] == 0:
        return np.ones(pbar.shape[0], dtype=bool)
    return pbar.max(axis=1) < 0.5


def correlation_drift(A_before: np.ndarray, A_after: np.ndarray) -> float:
    """Mean absolute change of the off-diagonal entries between two correlation matrices.

    Used to plot how much the label correlations estimated from the labelled set move from one
    round to the next.

    Parameters
    ----------
    A_before, A_after : array-like, shape (K, K)
        The matrices of two rounds (e.g. :func:`positive_correlation` of consecutive labelled sets).

    Returns
    -------
    float
        ``mean |A_after[m, n] - A_before[m, n]|`` over m != n; ``nan`` for K < 2.

    Raises
    ------
    ValueError
        If the two shapes differ.
    """
    A_before = np.asarray(A_before, dtype=np.float64)
    A_after = np.asarray(A_after, dtype=np.float64)
    if A_before.shape != A_after.shape:
        raise ValueError(f"Shapes differ: {A_before.shape} vs {A_after.shape}.")
    K = A_before.shape[0]
    if K < 2:
        return float("nan")
    mask = _offdiag_mask(K)
    return float(np.abs(A_after[mask] - A_before[mask]).mean())
