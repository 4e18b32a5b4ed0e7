"""A tabular sample in words a person can read: its most distinctive features against the pool.

A person asked to label a row of 72 numbers cannot. :func:`distinctive_features` standardises the
row against the pool (z-scores: how many pool standard deviations each feature lies from the pool's
mean) and lists the features furthest from typical first, by name when the dataset names them.
Nothing here imports streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlal_core.errors import ConfigError

__all__ = ["TABULAR_PERSON_NOTE", "distinctive_features", "feature_names_of"]

#: what the labelling form says about labelling tabular samples by hand
TABULAR_PERSON_NOTE = (
    "This is a tabular dataset: each sample is a row of numbers, not a text, so labelling it by hand is "
    "hard. The table shows its most distinctive features (furthest from the pool's mean, in pool standard "
    "deviations). The tabular sets are mostly for simulation: a simulated oracle answers with the "
    "dataset's true labels."
)


def feature_names_of(ds: Any) -> list[str] | None:
    """The feature names a tabular dataset carries (``meta["feature_names"]``), if they fit its columns.

    Parameters
    ----------
    ds : MultiLabelDataset
        The dataset.

    Returns
    -------
    list of str or None
        One name per column of ``ds.train.X``; None for text sets and when the names are missing or
        do not match the number of columns.
    """
    X = getattr(ds.train, "X", None)
    names = (getattr(ds, "meta", None) or {}).get("feature_names")
    if X is None or not names or len(names) != X.shape[1]:
        return None
    return [str(n) for n in names]


def distinctive_features(pool: Any, row: Any, feature_names: Sequence[str] | None = None, top: int = 8
                         ) -> pd.DataFrame:
    """The ``top`` features of ``row`` furthest from the pool's mean, in pool standard deviations.

    Parameters
    ----------
    pool : array-like or sparse matrix
        ``(n, d)`` feature matrix the row is compared with (the training pool).
    row : array-like
        ``(d,)`` the sample's features.
    feature_names : sequence of str, optional
        One name per feature (default ``"feature 1"``, ``"feature 2"``, ...).
    top : int, default 8
        How many features to list.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``value`` (the raw value), ``pool mean``, ``z`` (``(value - mean) / std``
        with the pool's population std; 0 for a feature constant in the pool) and ``compared with the
        pool`` (``"high"`` / ``"low"`` / ``"typical"`` for |z| < 1); rows by |z|, largest first (ties
        in column order), at most ``top``.

    Raises
    ------
    ConfigError
        For a row whose length differs from the pool's columns, fewer than 1 feature requested,
        or names that do not fit the columns.
    """
    P = np.asarray(pool.toarray() if sp.issparse(pool) else pool, dtype=float)
    x = np.asarray(row.toarray() if sp.issparse(row) else row, dtype=float).reshape(-1)
    if P.ndim != 2 or P.shape[1] != x.size:
        raise ConfigError(f"The row has {x.size} features but the pool has shape {P.shape}; pass a row of the pool's "
                          "feature matrix.")
    if int(top) < 1:
        raise ConfigError(f"top must be at least 1, got {top}.")
    names = [f"feature {j + 1}" for j in range(x.size)] if feature_names is None else list(feature_names)
    if len(names) != x.size:
        raise ConfigError(f"{len(names)} feature names for {x.size} features; pass one name per column.")
    mean, std = P.mean(axis=0), P.std(axis=0)
    z = np.divide(x - mean, std, out=np.zeros_like(x), where=std > 0)
    order = np.argsort(-np.abs(z), kind="stable")[: int(top)]
    words = np.where(np.abs(z) < 1, "typical", np.where(z > 0, "high", "low"))
    return pd.DataFrame({"feature": [names[j] for j in order], "value": x[order], "pool mean": mean[order],
                         "z": z[order], "compared with the pool": words[order]})
