"""Evaluation metrics, threshold tuning and learning-curve summaries (METHODS.md "Evaluation").

Metrics come from scikit-learn where it has them; P@k is written here (vectorised). Every metric
is "higher is better" except ``ranking_loss`` and ``hamming_loss``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import (
    f1_score,
    hamming_loss,
    label_ranking_average_precision_score,
    label_ranking_loss,
    ndcg_score,
)

from mlal_core.errors import ConfigError

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
TOP_K = (1, 3, 5)
LOWER_IS_BETTER = frozenset({"ranking_loss", "hamming_loss", "hamming_loss_tuned"})

#: The display name of each metric of :func:`evaluate` and of the per-round selection diagnostics
#: plotted beside them, the one table every figure, report and page uses (:func:`metric_name`).
METRIC_NAMES: dict[str, str] = {
    "micro_f1": "Micro-F1",
    "macro_f1": "Macro-F1",
    "p@1": "P@1",
    "p@3": "P@3",
    "p@5": "P@5",
    "ndcg@1": "nDCG@1",
    "ndcg@3": "nDCG@3",
    "ndcg@5": "nDCG@5",
    "macro_auc": "Macro-AUC",
    "lrap": "LRAP",
    "ranking_loss": "Ranking loss",
    "hamming_loss": "Hamming loss",
    "micro_f1_tuned": "Micro-F1 (tuned threshold)",
    "macro_f1_tuned": "Macro-F1 (tuned threshold)",
    "mean_ir_selected": "MeanIR of the selected batch",
    "hard_to_learn_count": "Hard-to-learn samples in the unlabelled pool",
    "conflicting_count": "Conflicting samples in the unlabelled pool",
}


def metric_name(metric: str) -> str:
    """The display name of a metric column.

    Parameters
    ----------
    metric : str
        A key of :func:`evaluate` (``"micro_f1"``, ``"p@1"``, ...) or a diagnostic column.

    Returns
    -------
    str
        Its :data:`METRIC_NAMES` entry (``"micro_f1"`` -> ``"Micro-F1"``), else ``metric`` itself.
    """
    return METRIC_NAMES.get(metric, metric)


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better.

    Parameters
    ----------
    metric : str
        A key of :func:`evaluate`.

    Returns
    -------
    bool
        False for the losses (:data:`LOWER_IS_BETTER`), True for every other metric.
    """
    return str(metric) not in LOWER_IS_BETTER


def _check(Y_true: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Y_true = np.asarray(Y_true)
    P = np.asarray(P, dtype=np.float64)
    if Y_true.shape != P.shape or Y_true.ndim != 2:
        raise ConfigError(f"Y_true and P must both have shape (n, K); got {Y_true.shape} and {P.shape}.")
    if np.isnan(P).any():
        raise ConfigError("P contains NaN probabilities; check the model's output.")
    return (Y_true > 0).astype(np.int8), P


def precision_at_k(Y_true: np.ndarray, P: np.ndarray, k: int) -> float:
    """P@k: mean over samples of (true labels among the k highest-scored) / k.

    METHODS.md "Evaluation". ``k`` larger than K is cut to K; ties in ``P`` go to the lower label
    position.

    Parameters
    ----------
    Y_true : array-like, shape (n, K)
        0/1 true labels.
    P : array-like, shape (n, K)
        Predicted scores or probabilities.
    k : int
        Number of top-scored labels per sample.

    Returns
    -------
    float
        P@k in [0, 1].

    Raises
    ------
    ConfigError
        If the shapes differ or are not 2-D, or ``P`` holds NaN.
    """
    Y_true, P = _check(Y_true, P)
    k = min(k, P.shape[1])
    top = np.argsort(-P, axis=1, kind="stable")[:, :k]
    return float(np.take_along_axis(Y_true, top, axis=1).sum(axis=1).mean() / k)


def macro_auc(Y_true: np.ndarray, P: np.ndarray) -> float:
    """Mean ROC-AUC over the labels that have both classes in ``Y_true`` (NaN if none has).

    Computed for all labels at once from tie-averaged ranks (Mann-Whitney U): the values of
    scikit-learn's ``roc_auc_score`` per label (tested), about 10x faster, which matters where it
    runs every training epoch (batch selection).

    Parameters
    ----------
    Y_true : array-like, shape (n, K)
        0/1 true labels.
    P : array-like, shape (n, K)
        Predicted scores or probabilities.

    Returns
    -------
    float
        Macro-AUC (METHODS.md "Evaluation").

    Raises
    ------
    ConfigError
        If the shapes differ or are not 2-D, or ``P`` holds NaN.
    """
    Y_true, P = _check(Y_true, P)
    Y = Y_true.astype(bool)
    npos = Y.sum(axis=0)
    nneg = len(Y) - npos
    ok = (npos > 0) & (nneg > 0)
    if not ok.any():
        return float("nan")
    R = rankdata(P[:, ok], axis=0)
    pos = npos[ok].astype(np.float64)
    auc = ((R * Y[:, ok]).sum(axis=0) - pos * (pos + 1) / 2) / (pos * nneg[ok])
    return float(auc.mean())


def _ndcg_at_k(Y_true: np.ndarray, P: np.ndarray, k: int) -> float:
    """scikit-learn's ``ndcg_score(Y_true, P, k=k)`` (ties averaged) for checked 0/1 ``Y_true``.

    scikit-learn averages the gains of tied scores in a Python loop over the rows, several seconds at
    12,500 x 1,000; here a row whose k highest scores hold no tie (the tie-averaged DCG is then the
    plain DCG) is computed for all such rows at once from its top k (``argpartition``), and only the
    rows with a tie touching the top k go to scikit-learn. Same values up to float rounding (tested)."""
    n, K = P.shape
    if n == 0 or K < 2:
        return float(ndcg_score(Y_true, P, k=k))
    kk = min(int(k), K)
    m = min(kk + 1, K)  # one past the top k: a tie across position k changes which labels are in it
    idx = np.argpartition(-P, m - 1, axis=1)[:, :m]
    vals = np.take_along_axis(P, idx, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx, vals = np.take_along_axis(idx, order, axis=1), np.take_along_axis(vals, order, axis=1)
    tied = (vals[:, :-1] == vals[:, 1:]).any(axis=1)
    discount = 1.0 / np.log2(np.arange(kk) + 2)
    dcg = np.take_along_axis(Y_true, idx[:, :kk], axis=1) @ discount
    n_pos = np.minimum(Y_true.sum(axis=1), kk)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[n_pos]
    gain = np.divide(dcg, ideal, out=np.zeros(n), where=ideal > 0)
    total = float(gain[~tied].sum())
    if tied.any():
        total += float(ndcg_score(Y_true[tied], P[tied], k=k)) * int(tied.sum())
    return total / n


def _f1_scores(Y_true: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    micro = f1_score(Y_true, pred, average="micro", zero_division=0)
    macro = f1_score(Y_true, pred, average="macro", zero_division=0)
    return float(micro), float(macro)


def macro_f1_per_threshold(Y_true: np.ndarray, P: np.ndarray, thresholds: np.ndarray = THRESHOLD_GRID) -> np.ndarray:
    """Macro-F1 (zero_division=0, as scikit-learn) at each threshold, vectorised over thresholds.

    A label is predicted where ``P > t``; a label with no true and no predicted positive scores 0.

    Parameters
    ----------
    Y_true : array-like, shape (n, K)
        0/1 true labels.
    P : array-like, shape (n, K)
        Predicted probabilities.
    thresholds : array-like, shape (T,), default THRESHOLD_GRID
        Thresholds to try (0.05, 0.10, ..., 0.95 by default).

    Returns
    -------
    numpy.ndarray of float, shape (T,)
        Macro-F1 at each threshold.

    Raises
    ------
    ConfigError
        If the shapes differ or are not 2-D, or ``P`` holds NaN.
    """
    Y_true, P = _check(Y_true, P)
    pred = P[None, :, :] > np.asarray(thresholds)[:, None, None]  # (T, n, K)
    y = Y_true.astype(bool)[None]
    tp = (pred & y).sum(axis=1)
    fp = (pred & ~y).sum(axis=1)
    fn = (~pred & y).sum(axis=1)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape, dtype=float), where=denom > 0)
    return f1.mean(axis=1)


def tune_threshold(Y_valid: np.ndarray, P_valid: np.ndarray, thresholds: np.ndarray = THRESHOLD_GRID) -> float:
    """The global threshold in {0.05, ..., 0.95} that maximises macro-F1 on validation data.

    The XMTC study's "variable threshold" (Fromme et al.; METHODS.md "XMTC strategies"); ties go to
    the threshold closest to 0.5.

    Parameters
    ----------
    Y_valid : array-like, shape (n, K)
        0/1 true labels of the validation split.
    P_valid : numpy.ndarray, shape (n, K)
        Predicted probabilities on it.
    thresholds : numpy.ndarray, shape (T,), default THRESHOLD_GRID
        Candidate thresholds.

    Returns
    -------
    float
        The chosen threshold.
    """
    scores = macro_f1_per_threshold(Y_valid, P_valid, thresholds)
    best = np.flatnonzero(np.isclose(scores, scores.max()))
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def evaluate(Y_true: np.ndarray, P: np.ndarray, threshold: float = 0.5, tuned_threshold: float | None = None) -> dict[str, float]:
    """All metrics of METHODS.md "Evaluation" for probabilities ``P`` against ``Y_true``.

    F1 and Hamming loss are computed at ``threshold``; with ``tuned_threshold`` they are also
    reported at that threshold under ``*_tuned`` keys (and the threshold as ``threshold_tuned``).

    Parameters
    ----------
    Y_true : array-like, shape (n, K)
        0/1 true labels.
    P : array-like, shape (n, K)
        Predicted probabilities (a label is predicted where ``P > threshold``).
    threshold : float, default 0.5
        Decision threshold of F1 and Hamming loss.
    tuned_threshold : float, optional
        A second threshold (e.g. from :func:`tune_threshold`).

    Returns
    -------
    dict of str to float
        ``micro_f1, macro_f1, p@1, p@3, p@5, ndcg@1, ndcg@3, ndcg@5, macro_auc, ranking_loss,
        hamming_loss, lrap``, plus ``micro_f1_tuned, macro_f1_tuned, hamming_loss_tuned,
        threshold_tuned`` with ``tuned_threshold``.

    Raises
    ------
    ConfigError
        If the shapes differ or are not 2-D, or ``P`` holds NaN.
    """
    Y_true, P = _check(Y_true, P)
    pred = (P > threshold).astype(np.int8)
    micro, macro = _f1_scores(Y_true, pred)
    out: dict[str, float] = {"micro_f1": micro, "macro_f1": macro}
    for k in TOP_K:
        out[f"p@{k}"] = precision_at_k(Y_true, P, k)
    for k in TOP_K:
        out[f"ndcg@{k}"] = _ndcg_at_k(Y_true, P, k)
    out["macro_auc"] = macro_auc(Y_true, P)
    out["ranking_loss"] = float(label_ranking_loss(Y_true, P))
    out["hamming_loss"] = float(hamming_loss(Y_true, pred))
    out["lrap"] = float(label_ranking_average_precision_score(Y_true, P))
    if tuned_threshold is not None:
        pred_t = (P > tuned_threshold).astype(np.int8)
        out["micro_f1_tuned"], out["macro_f1_tuned"] = _f1_scores(Y_true, pred_t)
        out["hamming_loss_tuned"] = float(hamming_loss(Y_true, pred_t))
        out["threshold_tuned"] = float(tuned_threshold)
    return out


# --- learning curves -------------------------------------------------------------------------


def area_under_learning_curve(n_labeled: np.ndarray, score: np.ndarray) -> float:
    """Trapezoidal area under score vs labelled size, divided by the labelled-size range.

    The result is on the metric's own scale (a curve constant at s has area s). METHODS.md
    "Evaluation".

    Parameters
    ----------
    n_labeled : array-like, shape (R,)
        Labelled-set size of each point (any order).
    score : array-like, shape (R,)
        Metric value at each point.

    Returns
    -------
    float
        The normalised area.

    Raises
    ------
    ConfigError
        With fewer than two distinct labelled sizes.
    """
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(score, dtype=float)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) < 2 or x[-1] == x[0]:
        raise ConfigError("The area under a learning curve needs at least two distinct labelled sizes.")
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def labelled_fraction_to_reach(
    n_labeled: np.ndarray, score: np.ndarray, target: float, pool_size: int, higher_is_better: bool = True
) -> float:
    """Smallest labelled fraction of the pool at which ``score`` reaches ``target`` (BEAL Table 2).

    NaN when the curve never reaches it. METHODS.md "Evaluation".

    Parameters
    ----------
    n_labeled : array-like, shape (R,)
        Labelled-set size of each point.
    score : array-like, shape (R,)
        Metric value at each point.
    target : float
        Score to reach, e.g. the full-data score.
    pool_size : int
        Size of the pool the fraction is taken of.
    higher_is_better : bool, default True
        Reached means ``score >= target`` if True, ``score <= target`` if False.

    Returns
    -------
    float
        ``min n_labeled`` over the points that reach ``target``, divided by ``pool_size``.
    """
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(score, dtype=float)
    reached = y >= target if higher_is_better else y <= target
    if not reached.any():
        return float("nan")
    return float(x[reached].min() / pool_size)


def summarize_curves(rounds: pd.DataFrame, metric: str, by: str = "strategy", *,
                     setting: str | None = None) -> pd.DataFrame:
    """Mean, std and count of ``metric`` over seeds at each labelled size, per ``by`` group.

    ``rounds`` has one row per (run, round) with columns ``by``, ``n_labeled`` and ``metric``.
    ``setting`` names a column that must be constant within a group (e.g. the model, representation
    and budget of each run): averaging runs of different settings would mix what the seeds' spread
    is meant to measure, so a group that holds several settings raises :class:`ConfigError`.

    Parameters
    ----------
    rounds : pandas.DataFrame
        One row per (run, round).
    metric : str
        Column to summarise.
    by : str, default "strategy"
        Column that defines the groups.
    setting : str, optional
        Column that must hold one value per group.

    Returns
    -------
    pandas.DataFrame
        Columns ``by, n_labeled, mean, std, n``; ``std`` (sample std) is 0 where a point has one row.

    Raises
    ------
    ConfigError
        If a column is missing, or a group mixes several ``setting`` values.
    """
    missing = {by, "n_labeled", metric, *([setting] if setting else [])} - set(rounds.columns)
    if missing:
        raise ConfigError(f"summarize_curves needs the columns {sorted(missing)}; got {sorted(rounds.columns)}.")
    if setting:
        mixed = rounds.groupby(by)[setting].nunique()
        mixed = mixed[mixed > 1]
        if len(mixed):
            raise ConfigError(
                f"summarize_curves: the {by} group(s) {list(mixed.index)[:5]} mix runs of {int(mixed.max())} "
                f"different settings ({setting!r}); averaging them over seeds would be meaningless. Group by a "
                "column that also tells the settings apart (mlal_core.inspection.views.session_settings' 'curve').")
    g = rounds.groupby([by, "n_labeled"])[metric]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out
