"""Label statistics of a multi-label matrix (Charte et al. 2015; CRAB Sec. 4).

Every function takes a label matrix ``Y`` of shape ``(n, K)`` holding 0/1: a numpy array of any
integer / bool / float dtype, or a scipy sparse matrix (CSR, CSC, ...). Nothing is copied to a dense
matrix for the per-label counts; only :func:`distinct_labelsets` looks at whole rows.

Conventions (they match ``meta.json`` of the bundled datasets):

* ``label_counts(Y)[j]`` = number of rows with label j.
* ``label_cardinality`` = mean number of labels per row; ``label_density`` = cardinality / K.
  Both are ``nan`` for a matrix with no rows (and density is ``nan`` for K = 0).
* ``irlbl(Y)[j] = max_k count_k / count_j``; a label with count 0 gets ``inf`` (it is absent, so it
  has no finite imbalance ratio). With no positive at all every entry is ``inf``.
* ``mean_ir`` = mean of the **finite** IRLbl, i.e. over labels with count > 0: labels absent from
  ``Y`` are left out. This is METHODS.md's definition (Charte et al. 2015), not a choice of ours, and
  it reproduces the MeanIR of the bundled ``meta.json`` (medical train: 39.4882 over its 38 present
  labels); ``nan`` when no label occurs.
* ``max_ir`` = max of the finite IRLbl (``nan`` when no label occurs).
* ``label_coverage(Y)`` = fraction of the K labels with at least one positive row in ``Y`` (``nan`` for
  K = 0). MeanIR says nothing about the labels a matrix lacks, so a batch that covers few labels can
  look balanced; coverage says how many it covers.
* ``label_entropy(Y)`` = the normalised Shannon entropy of the label distribution over **all K
  labels**, ``-sum_j p_j ln p_j / ln K`` with ``p_j = count_j / sum_k count_k`` (``0 ln 0 = 0``): 1 when
  every label has the same count, lower the more uneven the counts, and lower for every label that
  is missing (an absent label counts as a share of 0, it is not left out). This is Pielou's (1966)
  evenness ``J = H / ln S`` with S the number of labels K rather than the number present, the
  coverage-aware imbalance figure of the reports (``nan`` for K < 2 or no positive).
* :func:`corr_avg_sparse` is CorrAvg for label matrices with thousands of labels: the same number as
  :func:`mlal_core.correlation.corr_avg`, from the **sparse** co-occurrence counts ``Y^T Y`` (about
  n x cardinality^2 entries) instead of dense ``(K, K)`` float64 matrices (92 MB each at K = 3,398).
* CorrAvg lives in :mod:`mlal_core.correlation` (:func:`mlal_core.correlation.corr_avg`; by default
  over the pairs of labels that occur, the same "present labels only" reading as MeanIR), and so
  does :func:`mlal_core.correlation.label_summary`, the statistics of the ``meta.json`` files (it
  needs CorrAvg; this module imports nothing of the package, so dependencies point one way).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "as_label_matrix",
    "corr_avg_sparse",
    "distinct_labelsets",
    "irlbl",
    "label_cardinality",
    "label_counts",
    "label_coverage",
    "label_density",
    "label_entropy",
    "balance_by_batch",
    "max_ir",
    "mean_ir",
    "n_without_label",
]


def as_label_matrix(Y):
    """Return ``Y`` as a 2-D numpy array or scipy sparse matrix, checking its shape.

    A 1-D array is read as a single sample (one row). Dense input is returned as a numpy array
    (no copy when it already is one); sparse input is converted to CSR.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K) or (K,)
        A 0/1 label matrix, or the label vector of one sample.

    Returns
    -------
    numpy.ndarray or scipy sparse CSR matrix, shape (n, K)
        The label matrix (``(1, K)`` for a 1-D input).

    Raises
    ------
    ValueError
        If dense ``Y`` has more than two dimensions (or none).
    """
    if sp.issparse(Y):
        return Y.tocsr()
    Y = np.asarray(Y)
    if Y.ndim == 1:
        Y = Y[None, :]
    if Y.ndim != 2:
        raise ValueError(f"A label matrix must be 2-D (n_samples, n_labels); got shape {Y.shape}.")
    return Y


def label_counts(Y) -> np.ndarray:
    """Number of positive rows per label, shape ``(K,)``, int64.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix (any non-zero entry counts as positive).

    Returns
    -------
    numpy.ndarray of int64, shape (K,)
        ``count_j``, the number of rows with label j.
    """
    Y = as_label_matrix(Y)
    if sp.issparse(Y):
        return np.asarray((Y != 0).sum(axis=0), dtype=np.int64).ravel()
    return np.count_nonzero(Y, axis=0).astype(np.int64)


def _row_counts(Y) -> np.ndarray:
    Y = as_label_matrix(Y)
    if sp.issparse(Y):
        return np.asarray((Y != 0).sum(axis=1), dtype=np.int64).ravel()
    return np.count_nonzero(Y, axis=1).astype(np.int64)


def label_cardinality(Y) -> float:
    """Mean number of labels per row (``nan`` for an empty matrix).

    Label cardinality of Charte et al. (2015).

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    float
        ``sum_j count_j / n``; ``nan`` when n = 0.
    """
    Y = as_label_matrix(Y)
    if Y.shape[0] == 0:
        return float("nan")
    return float(label_counts(Y).sum() / Y.shape[0])


def label_density(Y) -> float:
    """Label cardinality divided by the number of labels K (``nan`` when n = 0 or K = 0).

    Label density of Charte et al. (2015).

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    float
        ``label_cardinality(Y) / K``.
    """
    Y = as_label_matrix(Y)
    if Y.shape[0] == 0 or Y.shape[1] == 0:
        return float("nan")
    return label_cardinality(Y) / Y.shape[1]


def irlbl(Y) -> np.ndarray:
    """Per-label imbalance ratio ``max_k count_k / count_j``; ``inf`` for labels with count 0.

    IRLbl of Charte et al. (2015) (METHODS.md "Label statistics").

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    numpy.ndarray of float64, shape (K,)
        IRLbl per label, >= 1 for present labels; ``inf`` for absent ones (all ``inf`` when ``Y`` has no
        positive).
    """
    counts = label_counts(Y).astype(np.float64)
    out = np.full(counts.shape, np.inf)
    seen = counts > 0
    if seen.any():
        out[seen] = counts.max() / counts[seen]
    return out


def mean_ir(Y) -> float:
    """MeanIR: mean of the finite IRLbl (labels with count > 0); ``nan`` if no label occurs.

    Charte et al. (2015); METHODS.md "Label statistics". Labels absent from ``Y`` are left out.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    float
        Mean of :func:`irlbl` over the labels present in ``Y``.
    """
    ir = irlbl(Y)
    finite = ir[np.isfinite(ir)]
    return float(finite.mean()) if finite.size else float("nan")


def max_ir(Y) -> float:
    """MaxIR: largest finite IRLbl (the rarest present label); ``nan`` if no label occurs.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    float
        Max of :func:`irlbl` over the labels present in ``Y``.
    """
    ir = irlbl(Y)
    finite = ir[np.isfinite(ir)]
    return float(finite.max()) if finite.size else float("nan")


def distinct_labelsets(Y) -> int:
    """Number of distinct label sets (distinct rows of ``Y``; the empty set counts as one).

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix (any non-zero entry counts as positive).

    Returns
    -------
    int
        Number of distinct rows; 0 for a matrix with no rows.
    """
    Y = as_label_matrix(Y)
    if Y.shape[0] == 0:
        return 0
    if sp.issparse(Y):
        Y = Y.tocsr()
        Y.sum_duplicates()
        rows = {
            tuple(Y.indices[Y.indptr[i] : Y.indptr[i + 1]][Y.data[Y.indptr[i] : Y.indptr[i + 1]] != 0])
            for i in range(Y.shape[0])
        }
        return len(rows)
    packed = np.packbits(Y != 0, axis=1)
    return int(np.unique(packed, axis=0).shape[0])


def n_without_label(Y) -> int:
    """Number of rows with no positive label.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    int
        Rows whose entries are all 0.
    """
    return int((_row_counts(Y) == 0).sum())


def label_coverage(Y) -> float:
    """Fraction of the K labels with at least one positive row (``nan`` for K = 0).

    Parameters
    ----------
    Y : array-like or sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    float
        ``#{j : count_j > 0} / K``, in [0, 1].
    """
    counts = label_counts(Y)
    if counts.size == 0:
        return float("nan")
    return float(np.count_nonzero(counts) / counts.size)


def label_entropy(Y) -> float:
    """Normalised entropy of the label distribution over all K labels (Pielou 1966, with S = K).

    ``-sum_j p_j ln p_j / ln K`` with ``p_j = count_j / sum_k count_k`` and ``0 ln 0 = 0``. Labels
    absent from ``Y`` count as shares of 0, so a matrix that covers few labels scores low even when
    the labels it does cover are evenly spread (unlike :func:`mean_ir`).

    Parameters
    ----------
    Y : array-like or sparse matrix, shape (n, K)
        A 0/1 label matrix.

    Returns
    -------
    float
        In [0, 1]: 1 when every label has the same positive count, 0 when all positives are of one
        label; ``nan`` for K < 2 or a matrix without positives.
    """
    counts = label_counts(Y).astype(np.float64)
    total = counts.sum()
    if counts.size < 2 or total <= 0:
        return float("nan")
    p = counts[counts > 0] / total
    h = float(-(p * np.log(p)).sum() / np.log(counts.size))
    return min(max(h, 0.0), 1.0)


def balance_by_batch(initial, batches) -> tuple[np.ndarray, np.ndarray]:
    """Per batch of a session: the batch's label coverage and the evenness of the labelled set after it.

    The labelled set after batch ``i`` is ``initial`` plus batches ``0..i`` (METHODS.md, "Label
    statistics": MeanIR of a batch is read beside these).

    Parameters
    ----------
    initial : array-like of shape (n0, K) or None
        The labels of the initial labelled set; None when they are not known.
    batches : sequence of array-like of shape (n_i, K) or None
        The labels of each batch in order; None (or an empty matrix) for a record without a batch.

    Returns
    -------
    coverage : numpy.ndarray of shape (len(batches),)
        :func:`label_coverage` of each batch; NaN without a batch.
    evenness : numpy.ndarray of shape (len(batches),)
        :func:`label_entropy` of the labelled set after each batch; NaN when ``initial`` is None.
    """
    coverage = np.full(len(batches), np.nan)
    evenness = np.full(len(batches), np.nan)
    parts = []
    if initial is not None:
        y0 = np.atleast_2d(np.asarray(initial, dtype=np.uint8))
        parts += [y0] if y0.size else []
    for i, labels in enumerate(batches):
        y = None if labels is None else np.atleast_2d(np.asarray(labels, dtype=np.uint8))
        if y is not None and y.size:
            parts.append(y)
            coverage[i] = label_coverage(y)
        if initial is not None and parts:
            evenness[i] = label_entropy(np.concatenate(parts))
    return coverage, evenness


def corr_avg_sparse(Y, over: str = "present") -> float:
    """CorrAvg (CRAB Sec. 4) from the sparse co-occurrence counts, never a dense ``(K, K)`` matrix.

    With ``C = Y^T Y`` (sparse) and ``c_n = C[n, n]``: the mean of ``C[m, n] / c_n`` over ordered
    pairs m != n, exactly :func:`mlal_core.correlation.corr_avg` (which builds ``(K, K)`` arrays). Only
    the non-zero off-diagonal entries of ``C`` add to the sum (a pair that never co-occurs adds 0), and
    such an entry always joins two present labels, so ``over`` changes only the number of pairs.

    Parameters
    ----------
    Y : array-like or scipy sparse matrix, shape (n, K)
        A 0/1 label matrix (any non-zero entry counts as positive).
    over : {"present", "all"}, default "present"
        ``"present"``: divide by the s (s - 1) ordered pairs of the s labels that occur in ``Y``;
        ``"all"``: by K (K - 1).

    Returns
    -------
    float
        CorrAvg; ``nan`` with fewer than two labels to pair.

    Raises
    ------
    ValueError
        ``over`` is neither ``"present"`` nor ``"all"``.
    """
    if over not in ("present", "all"):
        raise ValueError(f"corr_avg_sparse: over={over!r} is not known; pass over='present' (pairs of labels "
                         "that occur, the default) or over='all' (all ordered pairs of the K labels).")
    Y = as_label_matrix(Y)
    B = sp.csr_matrix(Y != 0, dtype=np.int64)
    C = (B.T @ B).tocoo()
    counts = label_counts(B).astype(np.float64)
    s = int(np.count_nonzero(counts)) if over == "present" else int(counts.size)
    if s < 2:
        return float("nan")
    off = C.row != C.col
    total = float(np.sum(C.data[off] / counts[C.col[off]]))
    return total / (s * (s - 1))
