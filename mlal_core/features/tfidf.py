"""Sparse and tabular representations: TF-IDF for text sets, standardised raw features for tabular sets.

Both are fitted on the training split only and then applied to valid / test, so no information from
the evaluation splits leaks into the representation (a word that occurs only in test gets no column).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler

from ..errors import DataValidationError

SPLITS = ("train", "valid", "test")


def tfidf_vectorizer(max_features: int | None = 20000, min_df: float = 2) -> TfidfVectorizer:
    """The vectorizer the workbench uses: unigrams, sublinear tf, l2 rows, float32.

    Accents are stripped (unicode). The vectorizer is not fitted.

    Parameters
    ----------
    max_features : int or None, default 20000
        Largest vocabulary (most frequent terms); None for no limit.
    min_df : float, default 2
        Minimum document frequency (a count when an int, a proportion of documents when a float in [0, 1]).

    Returns
    -------
    TfidfVectorizer
        The unfitted vectorizer.
    """
    return TfidfVectorizer(
        sublinear_tf=True,
        max_features=max_features,
        min_df=min_df,
        strip_accents="unicode",
        dtype=np.float32,
    )


def fit_tfidf(train_texts, others: dict, *, max_features=20000, min_df=2, dataset_name="dataset"):
    """Fit TF-IDF on ``train_texts``; return ``(vectorizer, {split: csr float32})`` for train and ``others``.

    When the training split is too small for ``min_df`` (an empty vocabulary), ``min_df=1`` is used
    and recorded on the returned vectorizer.

    Parameters
    ----------
    train_texts : sequence of str
        The training texts (the vocabulary and idf come from these only).
    others : dict of str to sequence of str
        The other splits' texts by split name, transformed with the fitted vectorizer.
    max_features, min_df
        As :func:`tfidf_vectorizer`.
    dataset_name : str, default "dataset"
        Named in the error message.

    Returns
    -------
    vectorizer : TfidfVectorizer
        The fitted vectorizer.
    matrices : dict of str to scipy.sparse.csr_matrix
        ``"train"`` and every key of ``others``: ``(n, vocabulary size)`` float32.

    Raises
    ------
    DataValidationError
        The vocabulary is empty even with ``min_df=1``.
    """
    vec = tfidf_vectorizer(max_features, min_df)
    try:
        Xtr = vec.fit_transform(train_texts)
    except ValueError:
        vec = tfidf_vectorizer(max_features, 1)
        try:
            Xtr = vec.fit_transform(train_texts)
        except ValueError as exc:
            raise DataValidationError(
                f"TF-IDF found no usable word in the {len(train_texts)} training texts of "
                f"{dataset_name!r} (empty vocabulary); the texts may be empty or contain only "
                "punctuation / one-letter tokens."
            ) from exc
    out = {"train": sp.csr_matrix(Xtr, dtype=np.float32)}
    for name, texts in others.items():
        out[name] = sp.csr_matrix(vec.transform(texts), dtype=np.float32)
    return vec, out


def check_finite(arr, split: str, dataset_name: str = "dataset") -> None:
    """Raise DataValidationError naming the split and counts when ``arr`` has NaN or inf.

    For a dense 2-D array the message also names the first offending rows and columns.

    Parameters
    ----------
    arr : array_like or scipy sparse matrix
        The feature values (for a sparse matrix, its stored values).
    split : str
        The split's name, for the message.
    dataset_name : str, default "dataset"
        The dataset's name, for the message.

    Raises
    ------
    DataValidationError
        ``arr`` holds a NaN or an infinity.
    """
    data = arr.data if sp.issparse(arr) else np.asarray(arr)
    if data.size == 0:
        return
    finite = np.isfinite(data)
    if finite.all():
        return
    n_bad = int((~finite).sum())
    n_nan = int(np.isnan(data).sum())
    msg = (
        f"Split {split!r} of {dataset_name!r} has {n_bad} non-finite feature value(s) "
        f"({n_nan} NaN, {n_bad - n_nan} inf)"
    )
    if not sp.issparse(arr) and data.ndim == 2:
        rows = np.flatnonzero(~finite.all(axis=1))
        cols = np.flatnonzero(~finite.all(axis=0))
        msg += f" in {len(rows)} row(s) (first rows {rows[:5].tolist()}) and column(s) {cols[:10].tolist()}"
    raise DataValidationError(msg + "; impute or drop them before featurizing.")


def fit_standardizer(X_train, others: dict, *, dataset_name="dataset"):
    """StandardScaler fitted on train; return ``(scaler, {split: float32 dense})``.

    Constant columns keep scale 1 (sklearn's rule), so they become all-zero columns.

    Parameters
    ----------
    X_train : array_like, shape (n, d)
        The training features.
    others : dict of str to array_like
        The other splits' features by split name, each ``(m, d)``.
    dataset_name : str, default "dataset"
        Named in error messages.

    Returns
    -------
    scaler : StandardScaler
        Fitted on ``X_train`` (in float64).
    matrices : dict of str to np.ndarray
        ``"train"`` and every key of ``others``: the standardised ``(n, d)`` float32 matrix.

    Raises
    ------
    DataValidationError
        A split has no matrix, a non-finite value or the wrong number of columns, or ``X_train`` is
        not a non-empty 2-D matrix.
    """
    arrays = {"train": X_train, **others}
    for name, X in arrays.items():
        if X is None:
            raise DataValidationError(f"Split {name!r} of {dataset_name!r} has no feature matrix X.")
        check_finite(X, name, dataset_name)
    X_train = np.asarray(X_train, dtype=np.float64)
    if X_train.ndim != 2 or X_train.shape[0] == 0:
        raise DataValidationError(
            f"The training split of {dataset_name!r} needs a non-empty 2-D feature matrix, got shape {X_train.shape}."
        )
    scaler = StandardScaler().fit(X_train)
    out = {}
    for name, X in arrays.items():
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != X_train.shape[1]:
            raise DataValidationError(
                f"Split {name!r} of {dataset_name!r} has shape {X.shape}; expected (n, {X_train.shape[1]})."
            )
        Z = scaler.transform(X) if X.shape[0] else np.zeros((0, X.shape[1]))
        out[name] = np.ascontiguousarray(Z, dtype=np.float32)
    return scaler, out
