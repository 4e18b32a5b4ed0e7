"""Label-aware baselines from the multi-label AL literature: MMC, Adaptive, AUDI, CVIRS.

They combine the model's mean probabilities ``pbar`` with what the labelled set says about label
sets (label cardinality, observed label vectors). Definitions: METHODS.md ("MMC", "Adaptive",
"AUDI", "CVIRS"); notation there (``ystar_j = 1[pbar_j > 0.5]``, ``LC`` = mean labels per labelled
sample).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import xlogy
from threadpoolctl import threadpool_limits

from mlal_core.errors import ConfigError
from mlal_core.strategies._common import (
    CHUNK,
    LN2,
    binary_entropy,
    empty_selection,
    make_selection,
    pseudo_labels,
    representation,
    sq_norms,
)
from mlal_core.strategies.base import (
    QueryContext,
    QueryStrategy,
    ScoreBasedStrategy,
    Selection,
    block_elements,
    check_query_size,
    top_n,
)
from mlal_core.strategies.registry import register
from mlal_core.validation import Param


def row_blocks(n_rows: int, n_cols: int, elements: int | None = None):
    """``(lo, hi)`` bounds of consecutive row blocks of about ``elements`` entries (at least one row).

    Parameters
    ----------
    n_rows : int
        Rows to cover.
    n_cols : int
        Entries per row.
    elements : int, optional
        Target entries per block (default :func:`~mlal_core.strategies.base.block_elements`).

    Yields
    ------
    tuple of int
        ``(lo, hi)`` with ``hi - lo >= 1``.
    """
    elements = block_elements() if elements is None else int(elements)
    step = max(1, elements // max(1, int(n_cols)))
    for lo in range(0, int(n_rows), step):
        yield lo, min(int(n_rows), lo + step)


def _normalised_counts(srt: np.ndarray) -> np.ndarray:
    """MMC's count features from rows already sorted descending: widened to float64 and divided by
    their sum (uniform ``1 / K`` for a row summing to 0)."""
    f = np.asarray(srt, dtype=np.float64)
    tot = f.sum(axis=1, keepdims=True)
    k = f.shape[1]
    return np.where(tot > 0, f / np.where(tot > 0, tot, 1.0), 1.0 / max(k, 1))


def _top_k_sums(srt: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``sum_{r < k_i} srt[i, r]`` per row (rows sorted descending, ``0 <= k_i <= K``), as float64.

    The running sum is taken in ``srt``'s dtype over the first ``max(k)`` columns only: a prefix of
    ``np.cumsum(srt, axis=1)`` (which adds left to right), so the values are those of the full
    cumulative sum without its ``(n, K)`` pass."""
    k = np.asarray(k, dtype=np.int64)
    out = np.zeros(len(k))
    width = int(k.max()) if len(k) else 0
    if width == 0:
        return out
    prefix = np.cumsum(srt[:, :width], axis=1)
    has = k > 0
    out[has] = prefix[np.flatnonzero(has), k[has] - 1]
    return out


# ----------------------------------------------------------------------------------------------
# MMC
# ----------------------------------------------------------------------------------------------
@register(
    display_name="MMC (maximum loss reduction with maximal confidence)",
    paper="Yang et al. 2009, Effective multi-label active learning for text classification (KDD)",
    explanation=(
        "MMC first guesses how many labels each sample has, with a small logistic-regression model "
        "trained on the labelled set. It then treats the top-k labels as the predicted label set "
        "and scores how far the model's probabilities are from that set: the more the model would "
        "have to change its mind, the more the sample is expected to reduce the loss."
    ),
    choice=(
        "Count model: multinomial logistic regression on the sorted, sum-normalised pbar of the "
        "labelled samples, target = their true label count; a constant k when the labelled set has "
        "one count only; with no labelled sample, k = the model's own predicted count."
    ),
)
class MMC(ScoreBasedStrategy):
    """Maximum loss reduction with maximal confidence (Yang et al. 2009; METHODS.md "MMC").

    Score ``sum_j (1 - yhat_j (2 pbar_j - 1)) / 2`` with ``yhat = +1`` on the top-k labels, ``k``
    the label count predicted by a logistic regression on the sorted, normalised ``pbar``.

    Equivalently ``sum_{top k} (1 - pbar_j) + sum_{other} pbar_j`` (the two columns
    ``loss_top_k`` and ``loss_other`` in the details).
    """

    name: ClassVar[str] = "mmc"
    reason: ClassVar[str] = "among the highest expected loss reduction (MMC)"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "C",
            1.0,
            "Inverse regularisation strength of the logistic regression that predicts the label "
            "count (smaller = stronger regularisation, predictions drift to the most common count).",
            low=1e-6,
            high=1e6,
        ),
    )

    def __init__(self, *, C: float = 1.0) -> None:
        self.C = C
        self._validate_params()

    @staticmethod
    def count_features(pbar: np.ndarray) -> np.ndarray:
        """Each row of ``pbar`` sorted descending and normalised to sum 1 (uniform if it sums to 0).

        Parameters
        ----------
        pbar : numpy.ndarray
            Mean predicted probabilities, shape ``(n, K)``.

        Returns
        -------
        numpy.ndarray
            Float64 features, shape ``(n, K)``.
        """
        pbar = np.asarray(pbar)
        if not np.issubdtype(pbar.dtype, np.floating):
            pbar = pbar.astype(np.float64)
        # sorted in its own dtype (float32 sorts faster), then widened: the cast is exact and monotone
        return _normalised_counts(np.sort(pbar, axis=1)[:, ::-1])

    def _count_model(self, ctx: QueryContext, pbar_u: np.ndarray) -> tuple[Any, str]:
        """How the label count is predicted: ``(model, how)`` with ``model`` a fitted logistic
        regression, an int (every candidate gets that count) or None (the model's own count,
        ``#{pbar_j > 0.5}``, with no labelled samples)."""
        if len(ctx.labeled) == 0:
            return None, "no labelled samples: the model's own count"
        counts = np.asarray(ctx.y_labeled).astype(bool).sum(axis=1).astype(np.int64)
        uniq = np.unique(counts)
        if len(uniq) == 1:
            return int(uniq[0]), f"constant: every labelled sample has {int(uniq[0])} label(s)"
        from sklearn.linear_model import LogisticRegression

        X_l = self.count_features(ctx.mean_proba(ctx.labeled))
        lr = LogisticRegression(C=float(self.C), max_iter=2000)
        # one BLAS thread: L-BFGS makes many small BLAS calls, and with 2 threads on a busy 2-core
        # machine they spin (K = 1,000: 13.9 s vs 0.75 s, same iterations); also the same fit everywhere
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore")  # convergence warnings on tiny labelled sets
            lr.fit(X_l, counts)
        return lr, "multinomial logistic regression"

    @staticmethod
    def _counts_from_sorted(model: Any, srt: np.ndarray, pbar: np.ndarray) -> np.ndarray:
        """Predicted counts for one block: ``srt`` its rows of ``pbar`` sorted descending."""
        if model is None:
            return pseudo_labels(pbar).sum(axis=1).astype(np.int64)
        if isinstance(model, int):
            return np.full(len(pbar), model, dtype=np.int64)
        return np.asarray(model.predict(_normalised_counts(srt)), dtype=np.int64)

    def predict_counts(self, ctx: QueryContext, pbar_u: np.ndarray | None = None) -> tuple[np.ndarray, str]:
        """Predicted label count ``k`` per candidate, and how it was obtained.

        Parameters
        ----------
        ctx : QueryContext
            The query context.
        pbar_u : numpy.ndarray, optional
            ``ctx.mean_proba()`` when the caller has it already (one pass over the samples less).

        Returns
        -------
        numpy.ndarray
            ``k`` per candidate (int64), aligned with ``ctx.unlabeled``.
        str
            How it was obtained.
        """
        pbar_u = ctx.mean_proba() if pbar_u is None else pbar_u
        model, how = self._count_model(ctx, pbar_u)
        k = np.empty(len(pbar_u), dtype=np.int64)
        for lo, hi in row_blocks(*pbar_u.shape):  # blocks: the float64 features never exist whole
            blk = pbar_u[lo:hi]
            k[lo:hi] = self._counts_from_sorted(model, np.sort(blk, axis=1)[:, ::-1], blk)
        return k, how

    def _score_parts(self, ctx: QueryContext) -> tuple[np.ndarray, pd.DataFrame, dict]:
        pbar = ctx.mean_proba()
        nU, K = pbar.shape
        model, how = self._count_model(ctx, pbar)
        k = np.empty(nU, dtype=np.int64)
        top_sum = np.empty(nU)
        for lo, hi in row_blocks(nU, K):  # blocks of candidates: sorted rows stay small
            blk = pbar[lo:hi]
            srt = np.sort(blk, axis=1)[:, ::-1]  # sorted once: the count features and the top-k sum
            k[lo:hi] = np.clip(self._counts_from_sorted(model, srt, blk), 0, K)
            top_sum[lo:hi] = _top_k_sums(srt, k[lo:hi])
        loss_top = k - top_sum
        loss_other = pbar.sum(axis=1) - top_sum
        score = loss_top + loss_other
        comps = pd.DataFrame({"k": k, "loss_top_k": loss_top, "loss_other": loss_other})
        ks, cnt = np.unique(k, return_counts=True)
        diag = {
            "count_model": how,
            "predicted_count_distribution": {int(a): int(b) for a, b in zip(ks, cnt)},
        }
        if len(ctx.labeled):
            lk, lc = np.unique(np.asarray(ctx.y_labeled).astype(bool).sum(axis=1), return_counts=True)
            diag["labelled_count_distribution"] = {int(a): int(b) for a, b in zip(lk, lc)}
        return score, comps, diag


# ----------------------------------------------------------------------------------------------
# Adaptive
# ----------------------------------------------------------------------------------------------
BETA_GRID = tuple(round(0.1 * i, 1) for i in range(11))


def separation_margin(pbar: np.ndarray) -> np.ndarray:
    """``min_{ystar=1} pbar - max_{ystar=0} pbar``; the top-1 / top-2 gap when nothing or everything
    is predicted (with one label: ``|2 pbar - 1|``).

    Li & Guo (2013); METHODS.md, "Adaptive (Li & Guo 2013)".

    Parameters
    ----------
    pbar : numpy.ndarray
        Mean predicted probabilities, shape ``(n, K)``.

    Returns
    -------
    numpy.ndarray
        Separation margin ``sm`` per sample, shape ``(n,)``.
    """
    pbar = np.asarray(pbar, dtype=np.float64)
    K = pbar.shape[1]
    if K == 1:
        return np.abs(2.0 * pbar[:, 0] - 1.0)
    pos = pseudo_labels(pbar)
    min_pos = np.where(pos, pbar, np.inf).min(axis=1)
    max_neg = np.where(pos, -np.inf, pbar).max(axis=1)
    top2 = -np.partition(-pbar, 1, axis=1)[:, :2]
    gap = top2[:, 0] - top2[:, 1]
    n_pos = pos.sum(axis=1)
    mixed = (n_pos > 0) & (n_pos < K)
    return np.where(mixed, min_pos - max_neg, gap)


def retrainable_copy(model: Any) -> Any:
    """An unfitted copy of ``model`` with its parameters and early stopping turned off.

    The copy is ``model.clone()``, else ``type(model)(**model.get_params())``; early stopping is off
    because the adaptive-beta retrains have no labelled validation data (their error is measured on
    the unlabelled pool, against the retrained model's own predictions).

    Parameters
    ----------
    model : Any
        The context's model; needs ``fit`` and ``predict_proba``.

    Returns
    -------
    Any
        The fresh, unfitted copy.

    Raises
    ------
    ConfigError
        If ``model`` lacks ``fit`` / ``predict_proba`` or cannot be copied.
    """
    if not all(hasattr(model, a) for a in ("fit", "predict_proba")):
        raise ConfigError(
            f"adaptive_beta=True retrains a copy of ctx.model, but {type(model).__name__} has no fit(X, Y) "
            "and predict_proba(X); pass a model that has them, or use adaptive_beta=False."
        )
    try:
        fresh = model.clone() if hasattr(model, "clone") else type(model)(**model.get_params())
        if "early_stopping" in fresh.get_params():
            fresh.set_params(early_stopping=False)
    except Exception as err:  # noqa: BLE001 - turned into a message that says what to pass
        raise ConfigError(
            f"adaptive_beta=True retrains a fresh copy of ctx.model, but {type(model).__name__} cannot be "
            f"copied ({type(err).__name__}: {err}). Give the model scikit-learn style get_params() / "
            "set_params() (or a clone() method), or use adaptive_beta=False."
        ) from None
    return fresh


def self_labelled_hinge_error(proba: np.ndarray) -> float:
    """Approximate generalization error of a model on the unlabelled pool (Li & Guo 2013, IJCAI).

    With no true labels on the pool, each label's prediction ``yhat = sign(f)`` of the model stands in
    for the truth, and the error is the hinge loss ``max(0, 1 - yhat f)`` averaged over the pool's
    samples and labels. For a probabilistic model ``f = 2 p - 1`` (in [-1, 1]), so every entry costs
    ``1 - |2 p - 1| = 2 min(p, 1 - p)``: twice the model's own expected Hamming loss under its
    probabilities (libact's and ALiPy's ``AdaptiveActiveLearning`` sum the same hinge over the real
    outputs; a mean has the same argmin).

    Parameters
    ----------
    proba : array of shape (n_pool, K)
        The (retrained) model's probabilities on the unlabelled pool.

    Returns
    -------
    float
        ``mean_{i, k} (1 - |2 p_ik - 1|)``, in [0, 1]; 0 for an empty pool.
    """
    P = np.asarray(proba, dtype=np.float64)
    if P.size == 0:
        return 0.0
    return float(np.mean(1.0 - np.abs(2.0 * P - 1.0)))


@register(
    display_name="Adaptive (max-margin uncertainty x label cardinality inconsistency)",
    paper="Li & Guo 2013, Active learning with multi-label SVM classification (IJCAI)",
    explanation=(
        "Adaptive mixes two signals. Uncertainty: how small the gap is between the weakest label the "
        "model predicts and the strongest one it rejects. Label-cardinality inconsistency: how far "
        "the number of predicted labels is from the average number in the labelled data. Beta "
        "weighs the two (score = uncertainty^beta x inconsistency^(1-beta))."
    ),
    choice=(
        "Default beta = 0.5 fixed. With adaptive_beta=True, as in Li & Guo and libact: for each beta in "
        "{0, 0.1, ..., 1}, a fresh copy of the model (same parameters, early stopping off) is retrained "
        "on the labelled set plus that beta's top-n candidates with their predicted label sets, and its "
        "approximate generalization error is measured on the unlabelled pool: the hinge loss of its "
        "outputs (2p - 1) against its own predicted labels, averaged over the pool and labels. The beta "
        "with the lowest error wins (batch mode: the paper queries one sample, here the top-n)."
    ),
)
class Adaptive(ScoreBasedStrategy):
    """Max-margin uncertainty x label cardinality inconsistency (Li & Guo 2013; METHODS.md "Adaptive").

    ``sm`` = separation margin, ``unc = 1 / max(sm, 0.01)``, ``LCI = |#ystar - LC| + 1``,
    score ``unc^beta * LCI^(1-beta)``.

    ``adaptive_beta=True`` follows Li & Guo (2013, Sec. "adaptive active learning") and libact's
    ``AdaptiveActiveLearning``: for every beta in {0, 0.1, ..., 1}, take its top-n, label them with
    their predicted label sets ``ystar``, retrain a fresh copy of ``ctx.model``
    (:func:`retrainable_copy`: same parameters, early stopping off) on the labelled set plus those n,
    in the model's own input format (``ctx.model_inputs``; ``ctx.features`` when the context has
    none), and measure its approximate generalization error on the whole unlabelled pool
    (:func:`self_labelled_hinge_error`: the hinge loss of ``2p - 1`` against the retrained model's own
    predicted labels, averaged over pool and labels). The beta with the lowest error wins (ties: the
    one closest to 0.5, then the smaller). Betas with the same top-n share one retrain. With no
    labelled samples, beta stays fixed. ``diagnostics["beta_errors"]`` holds the error per beta,
    ``diagnostics["beta"]`` the one chosen.

    An earlier version measured the Hamming loss on the labelled set instead. That is not the
    paper's reading (its error is over the unlabelled data) and it is a training error: the retrained
    model fits the labelled set, so the betas tie (on yeast all 11 tied every round and beta fell back
    to 0.5). It is not kept as an option.

    References
    ----------
    Li, X. & Guo, Y. (2013). Active learning with multi-label SVM classification. IJCAI.
    """

    name: ClassVar[str] = "adaptive"
    reason: ClassVar[str] = "among the highest uncertainty^beta x LCI^(1-beta)"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("beta", 0.5, "Weight of the uncertainty part (1 = margin only, 0 = cardinality only).", low=0.0, high=1.0),
        Param(
            "adaptive_beta",
            False,
            "Pick beta each round from {0, 0.1, ..., 1} as Li & Guo (2013) do: the value whose top-n, "
            "labelled with their predicted label sets and added to a retrained copy of the model, gives "
            "the lowest approximate error on the unlabelled pool (hinge loss against the retrained "
            "model's own predictions; up to 11 retrains a round). Needs ctx.model and the pool in the "
            "model's input format (ctx.model_inputs, which the session passes).",
            choices=(False, True),
        ),
    )

    def __init__(self, *, beta: float = 0.5, adaptive_beta: bool = False) -> None:
        self.beta = beta
        self.adaptive_beta = adaptive_beta
        self._validate_params()

    @staticmethod
    def components(ctx: QueryContext, pbar: np.ndarray | None = None) -> pd.DataFrame:
        """The score's parts per candidate: ``n_predicted``, ``cardinality_gap``, ``uncertainty``.

        Parameters
        ----------
        ctx : QueryContext
            The query context.
        pbar : numpy.ndarray, optional
            ``ctx.mean_proba()`` when the caller has it already (one pass over the samples less).

        Returns
        -------
        pandas.DataFrame
            One row per candidate, aligned with ``ctx.unlabeled``.
        """
        pbar = ctx.mean_proba() if pbar is None else pbar
        sm = np.empty(len(pbar))
        n_pos = np.empty(len(pbar), dtype=np.int64)
        for lo, hi in row_blocks(*pbar.shape):  # the float64 temporaries stay block-sized
            sm[lo:hi] = separation_margin(pbar[lo:hi])
            n_pos[lo:hi] = pseudo_labels(pbar[lo:hi]).sum(axis=1)
        unc = 1.0 / np.maximum(sm, 0.01)
        lci = np.abs(n_pos - ctx.label_cardinality()) + 1.0
        return pd.DataFrame({"sm": sm, "unc": unc, "n_predicted": n_pos, "LCI": lci})

    @staticmethod
    def combine(comps: pd.DataFrame, beta: float) -> np.ndarray:
        return comps["unc"].to_numpy() ** beta * comps["LCI"].to_numpy() ** (1.0 - beta)

    def choose_beta(self, ctx: QueryContext, comps: pd.DataFrame, n: int) -> tuple[float, dict]:
        """The beta of lowest approximate error (see the class docstring) and the errors per beta."""
        if ctx.model is None or (ctx.model_inputs is None and ctx.features is None):
            raise ConfigError(
                "Adaptive with adaptive_beta=True needs ctx.model (a fitted model with get_params, "
                "fit and predict_proba) and the pool in the model's input format (ctx.model_inputs, "
                "or ctx.features when they are the same) to retrain it; pass them, or use "
                "adaptive_beta=False."
            )
        if len(ctx.labeled) == 0:
            return float(self.beta), {"note": "no labelled samples: beta kept fixed"}
        if ctx.model_inputs is not None:
            inputs, source = ctx.model_inputs, "ctx.model_inputs"
        else:
            inputs, source = ctx.features, "ctx.features"
        Y_l = np.asarray(ctx.y_labeled).astype(np.uint8)
        ystar = pseudo_labels(ctx.mean_proba()).astype(np.uint8)
        X_pool = inputs[ctx.unlabeled]
        errors: dict[float, float] = {}
        cache: dict[tuple, float] = {}
        for beta in BETA_GRID:
            picks = top_n(self.combine(comps, beta), n)
            key = tuple(sorted(int(i) for i in picks))
            if key not in cache:
                fresh = retrainable_copy(ctx.model)
                rows = np.concatenate([ctx.labeled, ctx.unlabeled[picks]])
                fresh.fit(inputs[rows], np.concatenate([Y_l, ystar[picks]]))
                cache[key] = self_labelled_hinge_error(fresh.predict_proba(X_pool))
            errors[beta] = cache[key]
        best = min(BETA_GRID, key=lambda b: (errors[b], abs(b - 0.5), b))
        info = {
            "beta_errors": errors,
            "beta_error": "mean hinge loss on the unlabelled pool against the retrained model's own predictions",
            "n_retrains": len(cache),
            "retrained_on": source,
        }
        return best, info

    def _score_parts(self, ctx: QueryContext, n: int | None = None) -> tuple[np.ndarray, pd.DataFrame, dict]:
        comps = self.components(ctx)
        beta = float(self.beta)
        info: dict = {}
        if self.adaptive_beta and n is not None:
            beta, info = self.choose_beta(ctx, comps, n)
        comps["beta"] = beta
        diag = {"beta": beta, "adaptive_beta": bool(self.adaptive_beta), "LC": ctx.label_cardinality(), **info}
        return self.combine(comps, beta), comps, diag

    def score(self, ctx: QueryContext) -> np.ndarray:
        """The utility with the fixed ``beta`` (the adaptive choice needs the query size: see select)."""
        return self._score_parts(ctx)[0]

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx)
        score, comps, diag = self._score_parts(ctx, n)
        order = top_n(score, n)
        diag["n_candidates"] = len(ctx.unlabeled)
        return make_selection(ctx, order, score, self.reason, comps, diag)


# ----------------------------------------------------------------------------------------------
# AUDI
# ----------------------------------------------------------------------------------------------
def duplicate_groups(Z: np.ndarray) -> np.ndarray:
    """Group id per row of ``Z``: two rows share an id exactly when they are equal element-wise.

    Rows are compared by their bytes (after ``+ 0.0``, so ``-0.0`` equals ``0.0``), so no rounding
    is involved: AUDI uses it to give identical rows distance exactly 0.

    Parameters
    ----------
    Z : array of shape (m, d)

    Returns
    -------
    ndarray of int64, shape (m,)
    """
    Z = np.asarray(Z)
    if Z.ndim != 2 or Z.shape[1] == 0 or len(Z) == 0:
        return np.zeros(len(Z), dtype=np.int64)
    hashed = _row_hash_groups(Z)
    if hashed is not None:
        return hashed
    Z = np.ascontiguousarray(Z + 0.0)
    keys = Z.view(np.dtype((np.void, Z.dtype.itemsize * Z.shape[1])))[:, 0]
    return np.unique(keys, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _row_hash_groups(Z: np.ndarray) -> np.ndarray | None:
    """Group ids of the rows of ``Z`` by a 64-bit hash of their bytes (-0.0 folded into 0.0), checked
    exactly: rows sharing a hash are compared with that hash's first row. ``None`` when the dtype is
    not a 4- or 8-byte float or when two different rows share a hash (then the caller sorts the rows'
    bytes). Sorting 100,000 rows of 384 float64 by their bytes took 1.2 GB and 10 s; hashing reads
    the rows block by block."""
    width = {4: np.uint32, 8: np.uint64}.get(Z.dtype.itemsize)
    if width is None or not np.issubdtype(Z.dtype, np.floating):
        return None
    step = max(1, block_elements() // Z.shape[1])

    def bits(rows) -> np.ndarray:
        return np.ascontiguousarray(Z[rows] + 0.0).view(width).astype(np.uint64)

    mult = np.random.default_rng(0x5EED).integers(1, 2**63, size=Z.shape[1], dtype=np.uint64) | np.uint64(1)
    h = np.empty(len(Z), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lo in range(0, len(Z), step):  # arithmetic modulo 2^64, odd multipliers
            blk = bits(slice(lo, lo + step)) * mult
            blk ^= blk >> np.uint64(29)
            h[lo : lo + step] = blk.sum(axis=1)
    _, first, inverse, counts = np.unique(h, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    shared = np.flatnonzero(counts[inverse] > 1)
    for lo in range(0, len(shared), step):
        rows = shared[lo : lo + step]
        if not np.array_equal(bits(rows), bits(first[inverse[rows]])):
            return None
    return inverse.astype(np.int64)


def exact_dists(
    A: np.ndarray,
    ga: np.ndarray,
    B: np.ndarray,
    gb: np.ndarray,
    *,
    a_sq: np.ndarray | None = None,
    b_sq: np.ndarray | None = None,
) -> np.ndarray:
    """Euclidean distances between the rows of ``A`` and ``B`` (float64), exactly 0 between identical rows.

    Rows count as identical when they have the same :func:`duplicate_groups` id (``ga`` / ``gb``),
    whatever the rounding of the ``|a|^2 - 2 a.b + |b|^2`` expansion (in float32 it gave 0.000977 for
    two identical rows).

    Parameters
    ----------
    A : numpy.ndarray
        Rows, shape ``(m, d)``.
    ga : numpy.ndarray
        Duplicate-group id of each row of ``A``, shape ``(m,)``.
    B : numpy.ndarray
        Rows, shape ``(p, d)``.
    gb : numpy.ndarray
        Duplicate-group id of each row of ``B``, shape ``(p,)`` (same numbering as ``ga``).
    a_sq, b_sq : numpy.ndarray, optional
        ``sq_norms`` of the float64 rows of ``A`` / ``B`` when the caller has them (computed otherwise).

    Returns
    -------
    numpy.ndarray
        Distances, shape ``(m, p)``.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    a_sq = sq_norms(A) if a_sq is None else a_sq
    b_sq = sq_norms(B) if b_sq is None else b_sq
    d = np.sqrt(np.maximum(a_sq[:, None] - 2.0 * (A @ B.T) + b_sq[None, :], 0.0))
    d[np.asarray(ga)[:, None] == np.asarray(gb)[None, :]] = 0.0
    return d


@register(
    display_name="AUDI (uncertainty and diversity, instance part)",
    paper="Huang & Zhou 2013, Active query driven by uncertainty and diversity for incremental multi-label learning (ICDM)",
    explanation=(
        "AUDI favours samples whose number of predicted labels differs from the usual number in the "
        "labelled data, weighted by how close the model's most uncertain label is to 0.5. It walks "
        "down that ranking and skips any sample lying closer to an already picked one than the "
        "nearest-neighbour distance of the 10 % most crowded samples, so the batch holds no near-copies. "
        "That radius is small, so the filter rarely fires: it removes near-duplicates only (on a "
        "240-candidate Reuters round it skipped none of the top 10), and each round's diagnostics say "
        "how many candidates it skipped (n_skipped)."
    ),
    choice=(
        "Whole label vectors are queried, so AUDI reduces to its instance part: score = |#predicted "
        "positives - LC| x (1 - 2 min_j |pbar_j - 0.5|). Diversity: top-n by score after removing "
        "candidates within the 10 % nearest-neighbour radius (the 10th percentile of the candidates' "
        "distances to their nearest other candidate) of an already chosen one, in the same vectors as "
        "BADGE / Core-Set (the model's embedding, else the features; pbar when the context has neither); "
        "if every candidate left is inside the radius, the rest of the batch is filled by score. Read "
        "this way the filter is nearly inert (only near-duplicates of a pick fall inside the radius)."
    ),
)
class AUDI(QueryStrategy):
    """Active query driven by uncertainty and diversity, instance part (Huang & Zhou 2013; METHODS.md
    "AUDI").

    Score ``|#ystar - LC| * (1 - min_j |pbar_j - 0.5| * 2)``; greedy top-n with a diversity radius.

    The radius ``r`` is the ``radius_quantile`` quantile of the candidates' nearest-neighbour
    distances (Euclidean distance to the nearest other candidate). With more than 500 candidates,
    it is estimated from 500 of them drawn with ``ctx.rng`` (their nearest neighbour is still
    searched among all candidates). Walking down the score ranking, a candidate within ``r``
    (distance <= r) of an already chosen one is skipped; ``diagnostics["n_skipped"]`` counts them.
    The space is that of BADGE / Core-Set (``_common.representation``: ``ctx.embedding``, else
    ``model.embed(features)``, else ``ctx.features``), or ``pbar`` when the context has neither an
    embedding nor features.

    Distances are computed in float64 and identical rows (:func:`duplicate_groups`, compared exactly)
    are at distance exactly 0, so an exact duplicate of a pick is always inside the radius and never
    passes the filter, even when the radius is 0 (in float32 the expansion put identical rows about
    0.001 apart, above a zero radius).

    References
    ----------
    Huang, S.-J. & Zhou, Z.-H. (2013). Active query driven by uncertainty and diversity for
    incremental multi-label learning. ICDM.
    """

    name: ClassVar[str] = "audi"
    MAX_RADIUS_SAMPLE: ClassVar[int] = 500
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "radius_quantile",
            0.1,
            "Diversity radius = this quantile of the candidates' nearest-neighbour distances (0.1: the "
            "10 % nearest-neighbour radius); 0 turns the filter off.",
            low=0.0,
            high=0.99,
        ),
    )

    def __init__(self, *, radius_quantile: float = 0.1) -> None:
        self.radius_quantile = radius_quantile
        self._validate_params()

    @staticmethod
    def components(ctx: QueryContext, pbar: np.ndarray | None = None) -> pd.DataFrame:
        """The score's parts per candidate: ``n_predicted``, ``cardinality_gap``, ``uncertainty``.

        Parameters
        ----------
        ctx : QueryContext
            The query context.
        pbar : numpy.ndarray, optional
            ``ctx.mean_proba()`` when the caller has it already (one pass over the samples less).

        Returns
        -------
        pandas.DataFrame
            One row per candidate, aligned with ``ctx.unlabeled``.
        """
        pbar = ctx.mean_proba() if pbar is None else pbar
        n_pos = np.empty(len(pbar), dtype=np.int64)
        closest = np.empty(len(pbar), dtype=pbar.dtype)  # min_j |pbar_j - 0.5|
        for lo, hi in row_blocks(*pbar.shape):
            n_pos[lo:hi] = pseudo_labels(pbar[lo:hi]).sum(axis=1)
            if pbar.shape[1]:
                closest[lo:hi] = np.abs(pbar[lo:hi] - 0.5).min(axis=1)
        gap = np.abs(n_pos - ctx.label_cardinality())
        unc = 1.0 - closest * 2.0 if pbar.shape[1] else np.zeros(len(pbar))
        return pd.DataFrame({"n_predicted": n_pos, "cardinality_gap": gap, "uncertainty": unc})

    def score(self, ctx: QueryContext) -> np.ndarray:
        c = self.components(ctx)
        return c["cardinality_gap"].to_numpy() * c["uncertainty"].to_numpy()

    def radius(self, Z: np.ndarray, rng: np.random.Generator, groups: np.ndarray | None = None) -> float:
        """The ``radius_quantile`` quantile of nearest-neighbour distances among the rows of ``Z``.

        Distances in float64 (:func:`exact_dists`: a row with an identical copy elsewhere has
        distance exactly 0). With more than ``MAX_RADIUS_SAMPLE`` rows, that many are drawn with
        ``rng`` and their nearest neighbour searched among all rows, in one pass over ``Z`` (blocks
        of :func:`~mlal_core.strategies.base.block_elements` / ``MAX_RADIUS_SAMPLE`` rows, widened
        to float64 a block at a time).

        Parameters
        ----------
        Z : numpy.ndarray
            The candidates' vectors, shape ``(m, d)`` (float32 or float64).
        rng : numpy.random.Generator
            Draws the sampled rows when ``m > MAX_RADIUS_SAMPLE``.
        groups : numpy.ndarray, optional
            :func:`duplicate_groups` of ``Z`` (computed when not given).

        Returns
        -------
        float
            The radius (0 with fewer than two rows).
        """
        Z = np.asarray(Z)
        m = len(Z)
        if m < 2:
            return 0.0
        groups = duplicate_groups(Z) if groups is None else groups
        idx = np.arange(m) if m <= self.MAX_RADIUS_SAMPLE else np.sort(rng.choice(m, self.MAX_RADIUS_SAMPLE, replace=False))
        A = np.asarray(Z[idx], dtype=np.float64)
        a_sq = sq_norms(A)
        nn = np.full(len(idx), np.inf)
        # one pass over Z: the sampled rows against blocks of ~4M / len(idx) rows of Z (float64 per
        # block only), a running minimum; with m <= that block, one call over the whole of Z
        step = max(1, block_elements() // len(idx))
        for lo in range(0, m, step):
            B = np.asarray(Z[lo : lo + step], dtype=np.float64)
            d = exact_dists(A, groups[idx], B, groups[lo : lo + step], a_sq=a_sq, b_sq=sq_norms(B))
            own = np.flatnonzero((idx >= lo) & (idx < lo + len(B)))
            d[own, idx[own] - lo] = np.inf  # not its own neighbour
            np.minimum(nn, d.min(axis=1), out=nn)
        return float(np.quantile(nn, float(self.radius_quantile)))

    BLOCK: ClassVar[int] = 256

    def _greedy(self, Z: np.ndarray, ranked: np.ndarray, n: int, r: float, groups: np.ndarray | None = None):
        """Walk down ``ranked`` and accept a candidate when it is farther than ``r`` from every
        accepted one (distances by :func:`exact_dists`: an identical copy of a pick is at 0 <= r and
        never passes). Candidates are checked in blocks: one matrix of distances to the earlier picks
        and one within the block, so the cost is O((picks + skipped) x picks x d), never O(N x picks x d).
        ``Z`` may be float32: the rows used are widened to float64 (exactly) by :func:`exact_dists`."""
        groups = duplicate_groups(Z) if groups is None else groups
        picked: list[int] = []
        at_pick: list[float] = []
        reasons: list[str] = []
        skipped = 0
        ptr = 0
        while len(picked) < n and ptr < len(ranked):
            blk = ranked[ptr : ptr + self.BLOCK]
            ptr += len(blk)
            Zb, gb = Z[blk], groups[blk]
            if picked:
                min_d = exact_dists(Zb, gb, Z[picked], groups[picked]).min(axis=1)
            else:
                min_d = np.full(len(blk), np.inf)
            D_in = exact_dists(Zb, gb, Zb, gb)
            for j in range(len(blk)):  # at most BLOCK steps, over candidates in rank order
                if min_d[j] <= r:
                    skipped += 1
                    continue
                picked.append(int(blk[j]))
                at_pick.append(float(min_d[j]))
                reasons.append(
                    "highest AUDI score" if len(picked) == 1 else "highest AUDI score outside the diversity radius of earlier picks"
                )
                min_d = np.minimum(min_d, D_in[j])
                if len(picked) == n:
                    break
        exhausted = len(picked) < n
        if exhausted:
            taken = np.zeros(len(Z), dtype=bool)
            taken[picked] = True
            fill = ranked[~taken[ranked]][: n - len(picked)]
            d = exact_dists(Z[fill], groups[fill], Z[picked], groups[picked])
            for i, dist in zip(fill, d.min(axis=1)):
                picked.append(int(i))
                at_pick.append(float(dist))
                reasons.append("filled by score: every remaining candidate is inside the diversity radius")
        return picked, at_pick, reasons, skipped, exhausted

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx)
        pbar = ctx.mean_proba()
        comps = self.components(ctx, pbar)
        score = comps["cardinality_gap"].to_numpy() * comps["uncertainty"].to_numpy()
        if ctx.embedding is not None or ctx.features is not None:
            Z, space = representation(ctx, ctx.unlabeled, self.name)
        else:
            Z, space = pbar.astype(np.float32, copy=False), "pbar"
        del pbar
        ranked = top_n(score, len(score))  # full ranking, ties to the lower position
        diag: dict = {"space": space, "radius_quantile": float(self.radius_quantile), "LC": ctx.label_cardinality()}
        if self.radius_quantile == 0:
            order = ranked[:n]
            comps["min_dist_to_earlier_picks"] = np.nan
            diag.update(radius=0.0, filter="off", n_skipped=0, filter_exhausted=False)
            diag["n_candidates"] = len(ctx.unlabeled)
            return make_selection(ctx, order, score, "among the highest AUDI score", comps, diag)
        # distances in float64 (float32 rounding put identical rows ~1e-3 apart), widened block by
        # block from Z's float32: no (nU, d) float64 copy
        groups = duplicate_groups(Z)
        r = self.radius(Z, ctx.rng, groups)
        picked, at_pick, reasons, skipped_total, exhausted = self._greedy(Z, ranked, n, r, groups)
        comps["min_dist_to_earlier_picks"] = np.nan
        comps.loc[comps.index[picked], "min_dist_to_earlier_picks"] = at_pick
        diag.update(
            radius=r,
            filter="on",
            n_skipped=skipped_total,
            filter_exhausted=exhausted,
            n_candidates=len(ctx.unlabeled),
        )
        return make_selection(ctx, np.asarray(picked), score, reasons, comps, diag)


# ----------------------------------------------------------------------------------------------
# CVIRS
# ----------------------------------------------------------------------------------------------
def unique_rows(B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of a 0/1 matrix: (rows, index of each input row's distinct row, counts).

    Parameters
    ----------
    B : numpy.ndarray
        0/1 matrix, shape ``(n, K)`` (cast to bool).

    Returns
    -------
    numpy.ndarray
        The distinct rows (bool), shape ``(u, K)``.
    numpy.ndarray
        For each input row, the index of its distinct row, shape ``(n,)``.
    numpy.ndarray
        How many input rows each distinct row stands for, shape ``(u,)``.
    """
    B = np.asarray(B).astype(bool)
    if B.shape[1] == 0 or len(B) == 0:
        return B[:1], np.zeros(len(B), dtype=np.int64), np.array([len(B)])
    packed = np.ascontiguousarray(np.packbits(B, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1])))[:, 0]
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return B[first], inverse.reshape(-1), counts


def _worker_threads() -> int:
    """Threads for the label blocks of CVIRS's ranks: the CPUs this process may use, at most 4."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def _sorted_ranks(v: np.ndarray) -> np.ndarray:
    """Average 1-based ranks of the entries of each row of ``v`` (rows sorted ascending), in that
    sorted order: the mean of the first and last position of each run of equal values, + 1."""
    m, N = v.shape
    flat = v.reshape(-1)
    pos = np.arange(m * N)
    starts = np.ones(m * N, dtype=bool)  # first element of a run of equal values (or of a row)
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    starts[::N] = True
    ends = np.ones(m * N, dtype=bool)  # last element of a run (or of a row)
    ends[:-1] = starts[1:]
    # one-dimensional running max / min (fast on contiguous data): each element's run bounds
    first = np.where(starts, pos, 0)
    np.maximum.accumulate(first, out=first)
    last = np.where(ends, pos, m * N)[::-1]
    np.minimum.accumulate(last, out=last)
    first += last[::-1]  # first + last: twice the run's mean (flat) position
    del last
    twice_row_start = pos - pos % N
    twice_row_start *= 2
    first -= twice_row_start  # twice the run's mean position within its row
    return (first / 2.0 + 1.0).reshape(m, N)


def average_ranks(X: np.ndarray) -> np.ndarray:
    """1-based ranks along each row of ``X``, ties sharing their average rank (as
    ``scipy.stats.rankdata(X, method="average", axis=1)``, without NaN handling).

    Parameters
    ----------
    X : numpy.ndarray
        Values, shape ``(m, N)``; each row is ranked on its own.

    Returns
    -------
    numpy.ndarray
        Float64 ranks, shape ``(m, N)``.
    """
    X = np.ascontiguousarray(X)
    order = np.argsort(X, axis=1)
    ranks = np.empty(X.shape)
    np.put_along_axis(ranks, order, _sorted_ranks(np.take_along_axis(X, order, axis=1)), axis=1)
    return ranks


def rank_sums(X: np.ndarray) -> np.ndarray:
    """``sum_r rank_r[i]`` over the rows r of ``X``, with ``rank_r`` the average ranks of row r
    (:func:`average_ranks`), without building the ranks in input order.

    Parameters
    ----------
    X : numpy.ndarray
        Values, shape ``(m, N)``.

    Returns
    -------
    numpy.ndarray
        Float64 sums, shape ``(N,)``; exact, as ranks are half-integers.
    """
    X = np.ascontiguousarray(X)
    m, N = X.shape
    if X.dtype in (np.float32, np.float64) and X.size and X.min() >= 0:
        # non-negative IEEE floats order like their bit patterns, and numpy sorts unsigned integers
        # about twice as fast (+ 0.0 turns -0.0 into 0.0, so equal values have equal bits)
        X = (X + 0.0).view(np.uint32 if X.dtype == np.float32 else np.uint64)
    if X.dtype == np.uint32 and N <= 2**32:
        return _rank_sums_packed(X)
    order = np.argsort(X, axis=1)
    ranks = _sorted_ranks(np.take_along_axis(X, order, axis=1))
    return np.bincount(order.reshape(-1), weights=ranks.reshape(-1), minlength=N)


def _rank_sums_packed(X: np.ndarray) -> np.ndarray:
    """:func:`rank_sums` of 32-bit unsigned values: each value and its column index packed in one
    uint64 (value in the high half), so that one ``np.sort`` of the packed keys (numpy's SIMD sort:
    2-3x faster than ``argsort`` at N = 100,000) gives both the sorted values and the order. Ties come
    out by column index; average ranks do not depend on the order within a tie."""
    m, N = X.shape
    keys = X.astype(np.uint64)
    keys <<= np.uint64(32)
    keys |= np.arange(N, dtype=np.uint64)
    keys.sort(axis=1)
    order = (keys & np.uint64(0xFFFFFFFF)).astype(np.intp)
    keys >>= np.uint64(32)  # the sorted values
    ranks = _sorted_ranks(keys)
    return np.bincount(order.reshape(-1), weights=ranks.reshape(-1), minlength=N)


def normalised_entropy_distance(U: np.ndarray, L: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """Reyes et al. (2018) distance between binary label vectors, ``(nU, nL)``.

    For two vectors u, l of length K, count a = #(u=1, l=1), b = #(u=1, l=0), c = #(u=0, l=1),
    d = #(u=0, l=0). With ``H`` in bits:

    * ``H(u) = Hb(|u| / K)``, ``H(l) = Hb(|l| / K)`` (entropy of the 0/1 values of one vector),
    * ``H(u, l) = -sum_{x in a,b,c,d} (x/K) log2 (x/K)`` (joint entropy of the paired values),
    * ``dE(u, l) = (H(u|l) + H(l|u)) / H(u, l) = 2 - (H(u) + H(l)) / H(u, l)``,
    * ``d(u, l) = 1`` if the Hamming distance ``(b + c) / K`` is 1 (complementary vectors, where
      dE would be 0), ``0`` if it is 0 (identical), ``dE(u, l)`` otherwise.

    METHODS.md, "CVIRS (Reyes et al. 2018)".

    Parameters
    ----------
    U : numpy.ndarray
        0/1 label vectors (pseudo labels of the candidates), shape ``(nU, K)``.
    L : numpy.ndarray
        0/1 label vectors of the labelled samples, shape ``(nL, K)``.
    chunk : int, optional
        Rows of ``U`` per chunk (default ``CHUNK``).

    Returns
    -------
    numpy.ndarray
        Distances in ``[0, 1]``, shape ``(nU, nL)``.
    """
    U = np.asarray(U, dtype=np.float64)
    L = np.asarray(L, dtype=np.float64)
    K = U.shape[1]
    n_l = L.sum(axis=1)
    h_l = binary_entropy(n_l / K)
    out = np.empty((len(U), len(L)))
    for start in range(0, len(U), chunk):
        Uc = U[start : start + chunk]
        a = Uc @ L.T  # one product: b, c, d follow from the counts (integers, exact in float64)
        b = Uc.sum(axis=1)[:, None] - a
        c = n_l[None, :] - a
        d = K - a - b - c
        joint = -(xlogy(a / K, a / K) + xlogy(b / K, b / K) + xlogy(c / K, c / K) + xlogy(d / K, d / K)) / LN2
        h_u = binary_entropy(Uc.sum(axis=1) / K)
        ham = (b + c) / K
        with np.errstate(divide="ignore", invalid="ignore"):
            de = 2.0 - (h_u[:, None] + h_l[None, :]) / joint
        out[start : start + chunk] = np.where(ham >= 1.0, 1.0, np.where(ham <= 0.0, 0.0, de))
    return out


@register(
    display_name="CVIRS (category vector inconsistency and ranking of scores)",
    paper="Reyes, Morell & Ventura 2018, Effective active learning strategy for multi-label learning (Neurocomputing)",
    explanation=(
        "CVIRS multiplies two things. First, for each label it ranks the unlabelled samples by how "
        "undecided the model is (probability near 0.5) and averages those ranks over labels. Second, "
        "it measures how different the sample's predicted label set is from the label sets already "
        "in the labelled data (an entropy-based distance). Undecided samples with unusual predicted "
        "label sets come first."
    ),
    choice=(
        "Ranks use the average rank for ties; N is the number of unlabelled candidates. The distance "
        "is Reyes et al.'s normalised entropy distance, set to 1 for complementary label vectors; "
        "with no labelled samples v = 1."
    ),
)
class CVIRS(ScoreBasedStrategy):
    """Category vector inconsistency and ranking of scores (Reyes et al. 2018; METHODS.md "CVIRS").

    Score ``s_i * v_i``.

    * Margin ``m_ij = |2 pbar_ij - 1|``; per label, the candidates are ranked by ascending margin
      (rank 1 = most uncertain; ties, after rounding margins to 12 decimals, share their average
      rank); with N candidates,
      ``s_i = sum_j (N - rank_ij) / (K (N - 1))`` (``s = 1`` when N = 1).
    * ``v_i = mean_l d(ystar(x_i), y_l)`` over the labelled samples (computed once per distinct
      pair of label vectors), with ``d`` the normalised entropy distance of
      :func:`normalised_entropy_distance`:
      ``d = 1`` if Hamming(u, l) = 1, ``0`` if Hamming = 0, else ``2 - (H(u) + H(l)) / H(u, l)``.
    """

    name: ClassVar[str] = "cvirs"
    reason: ClassVar[str] = "among the highest s x v (uncertain, unusual predicted label set)"

    @staticmethod
    def rank_score(pbar: np.ndarray) -> np.ndarray:
        """``s_i = sum_j (N - rank_ij) / (K (N - 1))`` with average ranks of the rounded margins.

        Labels are ranked a block at a time (:func:`average_ranks`), so memory stays at a few
        ``(N, block)`` arrays; the ``N - rank`` are half-integers, so their sums are exact in float64
        and do not depend on the order they are added in.
        """
        pbar = np.asarray(pbar)
        N, K = pbar.shape
        if N <= 1 or K == 0:
            return np.ones(N)
        # a quarter block per thread: the argsort and its run bounds take ~60 bytes per entry
        step = max(1, block_elements() // (4 * N))

        def block(lo: int) -> np.ndarray:
            # rounded so that margins equal up to float noise (|2 * 0.8 - 1| vs |2 * 0.2 - 1|) tie
            margin = np.round(np.abs(2.0 * pbar[:, lo : lo + step] - 1.0), 12)
            return N * margin.shape[1] - rank_sums(margin.T)

        starts = range(0, K, step)
        threads = min(len(starts), _worker_threads())
        if threads > 1:  # numpy's sorts release the GIL; the sums are exact, so their order is free
            with ThreadPoolExecutor(max_workers=threads) as ex:
                parts = list(ex.map(block, starts))
        else:
            parts = [block(lo) for lo in starts]
        return np.sum(parts, axis=0) / (K * (N - 1))

    def _score_parts(self, ctx: QueryContext) -> tuple[np.ndarray, pd.DataFrame, dict]:
        pbar = ctx.mean_proba()
        s = self.rank_score(pbar)
        ystar = pseudo_labels(pbar)
        diag: dict = {}
        if len(ctx.labeled):
            # the distance depends only on the two label vectors: compute it once per distinct pair
            Uu, inv_u, _ = unique_rows(ystar)
            Lu, _, w_l = unique_rows(np.asarray(ctx.y_labeled))
            v = (normalised_entropy_distance(Uu, Lu) @ w_l / len(ctx.labeled))[inv_u]
            diag["distinct_predicted_sets"] = len(Uu)
            diag["distinct_labelled_sets"] = len(Lu)
        else:
            v = np.ones(len(pbar))
            diag["note"] = "no labelled samples: v = 1 for every candidate"
        comps = pd.DataFrame({"s": s, "v": v, "n_predicted": ystar.sum(axis=1)})
        diag["n_labelled_compared"] = len(ctx.labeled)
        return s * v, comps, diag
