"""Synthetic tabular multi-label data (scikit-learn's ``make_multilabel_classification``)."""

from __future__ import annotations

import numpy as np

from mlal_core.data.dataset import MultiLabelDataset, Split
from mlal_core.data.splits import train_valid_test
from mlal_core.errors import ConfigError


def make_synthetic(
    n_samples: int = 1000,
    n_features: int = 20,
    n_labels: int | None = None,
    avg_labels: float = 2,
    *,
    n_classes: int | None = None,
    length: int = 50,
    allow_unlabeled: bool = False,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    random_state: int = 0,
    name: str | None = None,
) -> MultiLabelDataset:
    """A tabular multi-label dataset with seeded, iteratively-stratified train / valid / test splits.

    Naming follows the workbench, not scikit-learn: ``n_labels`` is the number of labels K
    (default 5; scikit-learn's ``n_classes``, accepted here as an alias) and ``avg_labels`` the mean number of
    labels per sample (scikit-learn's ``n_labels``). ``X`` is float32 (word counts, unscaled); labels are
    named ``label_0 .. label_{K-1}``. Same arguments, same dataset.

    Parameters
    ----------
    n_samples : int, default 1000
        Rows, at least 3.
    n_features : int, default 20
        Feature columns, at least 1.
    n_labels : int, optional
        The number of labels K (default 5).
    avg_labels : float, default 2
        Mean number of labels per sample, > 0.
    n_classes : int, optional
        Alias of ``n_labels``; must agree with it when both are given.
    length : int, default 50
        Mean document length of the generator's bag-of-words model.
    allow_unlabeled : bool, default False
        Let the generator produce rows without a label.
    valid_fraction, test_fraction : float
        Shares of all samples for the valid and test splits (:func:`splits.train_valid_test`).
    random_state : int, default 0
        Seed of the generator and of the splits.
    name : str, optional
        The dataset's name; default ``synthetic-n<n_samples>-d<n_features>-k<K>-s<random_state>``.

    Returns
    -------
    MultiLabelDataset
        Kind ``"tabular"``, with ``valid_carved=True`` and the generator's settings in ``meta``.

    Raises
    ------
    ConfigError
        Conflicting ``n_classes`` / ``n_labels``, sizes below the minimums, ``avg_labels`` <= 0, or
        fractions :func:`splits.train_valid_test` refuses.
    """
    if n_classes is not None and n_labels is not None and n_classes != n_labels:
        raise ConfigError(f"n_classes={n_classes} and n_labels={n_labels} disagree; give one of them.")
    n_labels = n_labels if n_labels is not None else (n_classes if n_classes is not None else 5)
    if n_samples < 3 or n_features < 1 or n_labels < 1:
        raise ConfigError(f"Need n_samples >= 3, n_features >= 1, n_labels >= 1; got {n_samples}, {n_features}, {n_labels}.")
    if avg_labels <= 0:
        raise ConfigError(f"avg_labels must be > 0; got {avg_labels}.")
    from sklearn.datasets import make_multilabel_classification  # heavy import, only when used

    X, Y = make_multilabel_classification(
        n_samples=n_samples, n_features=n_features, n_classes=n_labels, n_labels=avg_labels, length=length,
        allow_unlabeled=allow_unlabeled, sparse=False, return_indicator="dense", random_state=random_state,
    )
    tr, va, te = train_valid_test(Y, valid_fraction, test_fraction, random_state)
    whole = Split(Y=Y.astype(np.uint8), X=X.astype(np.float32))
    params = {"n_samples": n_samples, "n_features": n_features, "n_labels": n_labels, "avg_labels": avg_labels,
              "length": length, "allow_unlabeled": allow_unlabeled, "random_state": random_state}
    name = name or f"synthetic-n{n_samples}-d{n_features}-k{n_labels}-s{random_state}"
    label_names = [f"label_{j}" for j in range(n_labels)]
    meta = {
        "name": name,
        "description": (f"Synthetic data from sklearn.datasets.make_multilabel_classification: {n_samples} samples, "
                        f"{n_features} features, {n_labels} labels, about {avg_labels} labels per sample."),
        "source": {"generator": "sklearn.datasets.make_multilabel_classification", "params": params},
        "licence": "synthetic (generated locally; no licence restrictions)",
        "licence_short": "synthetic",
        "citation": None,
        "format": "tabular",
        "split_note": (f"iterative stratification of all samples, random_state={random_state}: train "
                       f"{1 - valid_fraction - test_fraction:.2f} / valid {valid_fraction:.2f} / test {test_fraction:.2f}"),
        "n_features": n_features,
        "feature_names": [f"f{i}" for i in range(n_features)],
        "label_names": list(label_names),
    }
    return MultiLabelDataset(name=name, kind="tabular", label_names=label_names,
                             train=whole.subset(tr), valid=whole.subset(va), test=whole.subset(te),
                             meta=meta, valid_carved=True)
