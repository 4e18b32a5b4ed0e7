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
    """The vectorizer the workbench uses: unigrams, sublinear tf, l2 rows, float32."""
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
    and recorded on the returned vectorizer; an empty vocabulary even then is a DataValidationError.
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
    """Raise DataValidationError naming the split and counts when ``arr`` has NaN or inf."""
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
