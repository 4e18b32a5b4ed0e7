"""``SklearnAdapter``: any scikit-learn multi-label estimator as a workbench model.

The session needs from its model the contract of ``models/__init__.py``: ``fit(X, Y, X_valid,
Y_valid, progress=None)``, ``predict_proba(X)`` ``(n, K)`` and ``predict_proba_samples(X)``
``(S, n, K)``, the probability that each label is 1. A scikit-learn estimator gives
``predict_proba`` in one of two shapes, and the adapter reads both:

* an ``(n, K)`` array of the probability of each label (``OneVsRestClassifier`` on a multi-label
  indicator matrix, ``MLPClassifier``);
* a list of K ``(n, c_j)`` arrays, one per label, whose column ``classes_[j] == 1`` is the probability
  of the label (``MultiOutputClassifier``, ``KNeighborsClassifier``, ``RandomForestClassifier`` and
  the other native multi-output estimators).

**Ensembles.** A list of estimators is an ensemble: each member is fitted on the same data and gives
one probability sample, so ``S = len(estimators)`` (what BALD and the other disagreement-based
strategies need: a single estimator gives S = 1).

**Labels that are constant in the labelled set.** A label that no labelled sample has (or that every
labelled sample has) cannot be learned by a binary classifier; scikit-learn's estimators treat it
inconsistently (``OneVsRestClassifier`` warns and predicts a constant, ``LogisticRegression`` inside
``MultiOutputClassifier`` raises). The adapter fits the estimator on the non-constant labels only
and gives each constant label its constant probability: **0 for a label never seen positive, 1 for
a label always positive**, in every sample. ``constant_labels_`` records which labels were treated
so after ``fit``.

**Seeding.** With ``random_state=r`` (the session sets ``seed + t`` each round), member ``i`` gets
``r + i`` in every ``random_state`` parameter it has, nested ones included (e.g.
``estimator__random_state`` of a ``OneVsRestClassifier``); with ``random_state=None`` the estimators
keep their own settings.

**Embedding.** ``embed(X)`` is the features the estimator was trained on, as dense float32 (a
scikit-learn estimator has no penultimate layer); strategies that need a dense representation of
sparse TF-IDF features get the densified TF-IDF rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning

from ..errors import ConfigError
from .base import EnsembleEstimator

Progress = Callable[[int, int, str], None]


def _members(estimator: Any) -> list[Any]:
    return list(estimator) if isinstance(estimator, (list, tuple)) else [estimator]


def _seeded(member: Any, random_state: int | None) -> Any:
    """An unfitted clone of ``member`` whose ``random_state`` parameters (nested ones too) are ``random_state``."""
    fresh = clone(member)
    if random_state is None:
        return fresh
    keys = [k for k in fresh.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")]
    if keys:
        fresh.set_params(**{k: int(random_state) for k in keys})
    return fresh


def _dense_Y(Y: Any) -> np.ndarray:
    return np.asarray(Y.toarray() if sp.issparse(Y) else Y).astype(np.uint8)


def _label_column(block: np.ndarray, classes: Any, n: int, where: str) -> np.ndarray:
    """Probability of class 1 from one label's ``(n, c)`` block with its ``classes_``."""
    block = np.asarray(block, dtype=np.float64)
    if block.ndim != 2 or block.shape[0] != n:
        raise ConfigError(f"{where} returned a block of shape {block.shape}; expected (n, n_classes) with n = {n}.")
    cls = np.asarray(classes if classes is not None else np.arange(block.shape[1])).tolist()
    if 1 in cls:
        return block[:, cls.index(1)]
    return np.zeros(n)  # the label's positive class was not among the classes the estimator saw


def positive_proba(raw: Any, estimator: Any, n: int, k: int) -> np.ndarray:
    """``(n, k)`` probabilities of each label being 1 from what ``estimator.predict_proba`` returned.

    Parameters
    ----------
    raw : numpy.ndarray or list of numpy.ndarray
        ``predict_proba`` output: an ``(n, k)`` array, a binary ``(n, 2)`` array when ``k == 1``, or a
        list of ``k`` ``(n, c_j)`` arrays (multi-output estimators).
    estimator : object
        The fitted estimator (its ``classes_`` locate the positive class of each label).
    n, k : int
        Rows and labels expected.

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` float64.

    Raises
    ------
    ConfigError
        When the output has none of the shapes above.
    """
    where = f"{type(estimator).__name__}.predict_proba"
    classes = getattr(estimator, "classes_", None)
    if isinstance(raw, list):
        if len(raw) != k:
            raise ConfigError(f"{where} returned {len(raw)} per-label blocks; expected {k} (one per label).")
        per_label = classes if isinstance(classes, list) and len(classes) == k else [None] * k
        return np.column_stack([_label_column(b, c, n, where) for b, c in zip(raw, per_label, strict=True)])
    arr = np.asarray(raw, dtype=np.float64)
    if arr.shape == (n, k):
        return arr
    if k == 1 and arr.ndim == 2 and arr.shape[0] == n:  # one label fitted: a binary (n, 2) output
        return _label_column(arr, classes, n, where)[:, None]
    raise ConfigError(
        f"{where} returned shape {arr.shape}; a multi-label estimator must return an (n, K) = ({n}, {k}) "
        "array or a list of K (n, 2) arrays. Wrap a binary classifier in "
        "sklearn.multiclass.OneVsRestClassifier or sklearn.multioutput.MultiOutputClassifier."
    )


class SklearnAdapter(EnsembleEstimator):
    """A scikit-learn multi-label estimator (or a list of them, an ensemble) as a workbench model.

    See the module docstring for the shapes read, the treatment of constant labels (probability 0
    for a label no labelled sample has) and the seeding.

    Parameters
    ----------
    estimator : estimator or sequence of estimators
        Unfitted scikit-learn estimator(s) with ``fit(X, Y)`` on an ``(n, K)`` 0/1 matrix and
        ``predict_proba``, e.g. ``OneVsRestClassifier(LogisticRegression())``,
        ``MultiOutputClassifier(...)``, ``KNeighborsClassifier()``. A list of E estimators is an
        ensemble giving ``S = E`` probability samples. Cloned at every ``fit`` (cold start).
    random_state : int or None, default None
        Seed of member ``i``'s ``random_state`` parameters: ``random_state + i``. The session sets it
        to ``seed + t`` in round ``t``.

    Attributes
    ----------
    members_ : list
        The fitted clones, one per ensemble member.
    constant_labels_ : numpy.ndarray
        ``(K,)`` int8 after ``fit``: -1 for a label fitted by the estimator, else its constant 0 / 1.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.multiclass import OneVsRestClassifier
    >>> model = SklearnAdapter(OneVsRestClassifier(LogisticRegression(max_iter=500)))
    """

    def __init__(self, estimator: Any, random_state: int | None = None) -> None:
        self.estimator = estimator
        self.random_state = random_state
        self._validate_params()

    def _validate_params(self) -> None:
        members = _members(self.estimator)
        if not members:
            raise ConfigError("SklearnAdapter needs an estimator or a non-empty list of estimators.")
        for m in members:
            missing = [name for name in ("fit", "predict_proba", "get_params") if not callable(getattr(m, name, None))]
            if missing:
                raise ConfigError(
                    f"SklearnAdapter needs scikit-learn estimators with fit, predict_proba and get_params; "
                    f"{type(m).__name__} has no {', '.join(missing)}. For a PyTorch module use TorchModuleAdapter."
                )
        if self.random_state is not None and (isinstance(self.random_state, bool)
                                              or not isinstance(self.random_state, (int, np.integer))):
            raise ConfigError(f"random_state must be an integer or None; got {self.random_state!r}.")

    # ------------------------------------------------------------------ contract
    @property
    def n_samples(self) -> int:
        """S of ``predict_proba_samples``: the number of ensemble members."""
        return len(_members(self.estimator))

    def fit(self, X: Any, Y: Any, X_valid: Any = None, Y_valid: Any = None,
            progress: Progress | None = None) -> SklearnAdapter:
        """Fit a fresh clone of every member on ``(X, Y)``.

        Parameters
        ----------
        X : array-like or scipy sparse matrix
            ``(n, d)`` features.
        Y : array-like
            ``(n, K)`` 0/1 labels.
        X_valid, Y_valid : ignored
            Accepted for the model contract (scikit-learn estimators have no held-out hook).
        progress : callable, optional
            ``progress(done_members, n_members, message)`` after each member.

        Returns
        -------
        SklearnAdapter
            ``self``, fitted.
        """
        Y = _dense_Y(Y)
        if Y.ndim != 2:
            raise ConfigError(f"Y must be an (n, K) 0/1 matrix; got shape {Y.shape}.")
        lo, hi = Y.min(axis=0, initial=1), Y.max(axis=0, initial=0)
        constant = np.where(lo == hi, lo, -1).astype(np.int8)
        fitted = np.flatnonzero(constant < 0)
        members = _members(self.estimator)
        self.members_ = []
        for i, member in enumerate(members):
            est = _seeded(member, None if self.random_state is None else int(self.random_state) + i)
            if fitted.size:
                with warnings.catch_warnings():  # one fitted label is passed as an (n, 1) column on purpose
                    warnings.simplefilter("ignore", DataConversionWarning)
                    est.fit(X, Y[:, fitted])
            self.members_.append(est)
            if progress is not None:
                progress(i + 1, len(members), f"Fitting {type(est).__name__} ({i + 1} of {len(members)})")
        self.constant_labels_ = constant
        self.n_labels_ = int(Y.shape[1])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise ConfigError("This SklearnAdapter is not fitted yet: call fit(X, Y) first.")

    def predict_proba_samples(self, X: Any, progress: Progress | None = None) -> np.ndarray:
        """``(S, n, K)`` probabilities, one sample per member (constant labels: their constant).

        Parameters
        ----------
        X : array-like or scipy sparse matrix
            ``(n, d)`` features.
        progress : callable, optional
            ``progress(done_members, n_members, message)`` after each member.

        Returns
        -------
        numpy.ndarray
            ``(S, n, K)`` float64 in [0, 1].
        """
        self._check_fitted()
        n = X.shape[0]
        fitted = np.flatnonzero(self.constant_labels_ < 0)
        base = np.where(self.constant_labels_ < 0, 0.0, self.constant_labels_).astype(np.float64)
        out = np.broadcast_to(base, (len(self.members_), n, self.n_labels_)).copy()
        for s, est in enumerate(self.members_):
            if fitted.size:
                out[s][:, fitted] = positive_proba(est.predict_proba(X), est, n, fitted.size)
            if progress is not None:
                progress(s + 1, len(self.members_), "Predicting with the scikit-learn estimator(s)")
        return out

    def predict_proba(self, X: Any, progress: Progress | None = None) -> np.ndarray:
        """``(n, K)``: the mean of ``predict_proba_samples(X)`` over the members.

        Parameters
        ----------
        X : array-like or scipy sparse matrix
            ``(n, d)`` features.
        progress : callable, optional
            As in ``predict_proba_samples``.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` float64.
        """
        return self.predict_proba_samples(X, progress=progress).mean(axis=0)

    def embed(self, X: Any, progress: Progress | None = None) -> np.ndarray:
        """The features themselves as dense ``(n, d)`` float32 (see the module docstring).

        Parameters
        ----------
        X : array-like or scipy sparse matrix
            ``(n, d)`` features.
        progress : callable, optional
            Called once, ``progress(n, n, message)``.

        Returns
        -------
        numpy.ndarray
            ``(n, d)`` float32.
        """
        dense = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)
        if progress is not None:
            progress(dense.shape[0], dense.shape[0], "Densifying the features")
        return dense

