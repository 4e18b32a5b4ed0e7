"""Compare training mini-batch samplers (``python -m mlal_core batch-selection``).

``run_batch_selection`` trains the same model (``MLPEnsemble`` with one member by default, as the
paper trains one network; Adam-style AdamW with weight decay 1e-4, batch size 128, as the paper) on
the full training split of a bundled tabular dataset once per (sampler, seed), and records after
every epoch the validation and test macro-AUC, ranking loss and Hamming loss (threshold 0.5). The
reported test score of a run is the one at the epoch with the best validation macro-AUC (the paper:
"the test set results achieved at the epoch that yields the best performance on the validation
set"); the last epoch's score is kept too. The split is the dataset's own train / test split with a
seeded 10 % validation split carved from train (fixed across seeds); the seed changes the model's
initialisation, dropout and batch draws.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd
from sklearn.metrics import hamming_loss, label_ranking_loss

from mlal_core.batch_selection.samplers import (
    SAMPLERS,
    BatchSampler,
    make_sampler,
    mutual_information_matrix,
    sample_weights,
)
from mlal_core.errors import ConfigError
from mlal_core.metrics import higher_is_better, macro_auc, metric_name

METRICS = ("macro_auc", "ranking_loss", "hamming_loss")
DEFAULT_MODEL_PARAMS = {"n_members": 1, "hidden_size": 256, "dropout": 0.2, "batch_size": 128, "learning_rate": 1e-3,
                            "weight_decay": 1e-4, "min_steps": 0, "standardize": "feature"}


def paper_metrics(Y: np.ndarray, P: np.ndarray) -> dict[str, float]:
    """Macro-AUC (labels with both classes), ranking loss, Hamming loss at 0.5.

    Parameters
    ----------
    Y : np.ndarray
        True labels, (n, K), 0/1.
    P : np.ndarray
        Predicted probabilities, (n, K); a label is predicted when ``P > 0.5``.

    Returns
    -------
    dict of str to float
        ``macro_auc``, ``ranking_loss`` and ``hamming_loss``.
    """
    Y = np.asarray(Y)
    return {
        "macro_auc": macro_auc(Y, P),
        "ranking_loss": float(label_ranking_loss(Y, P)),
        "hamming_loss": float(hamming_loss(Y, (np.asarray(P) > 0.5).astype(np.uint8))),
    }


class _Monitor(BatchSampler):
    """Wraps a sampler; after every epoch also scores the current model on validation and test."""

    def __init__(self, inner: BatchSampler, splits: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.inner = inner
        self.splits = splits
        self.records: list[dict] = []
        self.name = inner.name

    def reset(self, n, n_labels, epochs, Y=None):
        self.records = []
        self.inner.reset(n, n_labels, epochs, Y)

    def bind_predictor(self, predict):
        self._predictor = predict

    def epoch_order(self, epoch, n, rng):
        return self.inner.epoch_order(epoch, n, rng)

    def observe(self, epoch, proba, Y):
        self.inner.observe(epoch, proba, Y)
        predict = self._predictor
        if predict is None:
            raise RuntimeError("The monitor observed an epoch before bind_predictor() was called.")
        for split, (X, Ys) in self.splits.items():
            self.records.append({"epoch": epoch + 1, "split": split, **paper_metrics(Ys, predict(X))})

    @property
    def history(self) -> list[dict]:
        return self.inner.history

    @history.setter
    def history(self, value: list[dict]) -> None:
        self.inner.history = value


@dataclass(kw_only=True)
class BatchSelectionResult:
    """The samplers compared on one dataset (:func:`run_batch_selection`).

    Attributes
    ----------
    dataset : str
    samplers, seeds : list
        What was run.
    epochs : int
    curves : DataFrame
        One row per (sampler, seed, epoch, split) with the three metrics (+ train loss).
    runs : DataFrame
        One row per (sampler, seed) with the test metrics at the best-validation epoch
        (``best_epoch``) and at the last epoch (``*_last``).
    histories : dict
        Sampler -> its per-epoch history of the first seed (U, C, probabilities).
    seconds : float
    label_names : list of str
    code_version : dict
        Which code made a cached result (set by the report's build).
    """

    dataset: str
    samplers: list[str]
    seeds: list[int]
    epochs: int
    curves: pd.DataFrame
    runs: pd.DataFrame
    histories: dict[str, list[dict]] = field(default_factory=dict)
    seconds: float = 0.0
    label_names: list[str] = field(default_factory=list)
    code_version: dict = field(default_factory=dict)  # set by report.build: which code made a cached result

    def summary(self, which: str = "best") -> pd.DataFrame:
        """Mean and std over seeds of the test metrics per sampler (``which``: ``"best"`` = at the
        best-validation epoch, ``"last"`` = last epoch), with the rank of each sampler per metric."""
        cols = list(METRICS) if which == "best" else [f"{m}_last" for m in METRICS]
        g = self.runs.groupby("sampler", sort=False)[cols]
        mean, std = g.mean(), g.std(ddof=1)
        out = pd.DataFrame(index=mean.index)
        for c, m in zip(cols, METRICS, strict=True):
            out[f"{m}_mean"] = mean[c]
            out[f"{m}_std"] = std[c]
            out[f"{m}_rank"] = mean[c].rank(ascending=not higher_is_better(m), method="min")
        out.insert(0, "n_seeds", g.size())
        out = out.reset_index()
        out.insert(0, "dataset", self.dataset)
        return out

    def curve_summary(self, split: str = "valid", metric: str = "macro_auc") -> pd.DataFrame:
        """Mean / std / n over seeds per (sampler, epoch): the input of ``viz.learning_curves``."""
        df = self.curves[self.curves["split"] == split]
        g = df.groupby(["sampler", "epoch"], sort=False)[metric]
        out = g.agg(["mean", "std", "count"]).reset_index().rename(columns={"count": "n", "sampler": "group"})
        return out


def _resolve_samplers(samplers) -> list[str]:
    if samplers is None or samplers == "all":
        return list(SAMPLERS)
    if isinstance(samplers, str):
        samplers = [s for s in samplers.split(",") if s.strip()]
    out = []
    for s in samplers:
        key = make_sampler(s).name  # validates the name
        if key not in out:
            out.append(key)
    if not out:
        raise ConfigError("Choose at least one batch sampler.")
    return out


def run_batch_selection(
    dataset: str = "yeast",
    samplers: Sequence[str] | str | None = "all",
    *,
    epochs: int = 50,
    seeds: int | Sequence[int] = 5,
    sampler_params: dict[str, dict] | None = None,
    model_params: dict | None = None,
    include_random: bool = True,
    max_train: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> BatchSelectionResult:
    """Train one model per (sampler, seed) on a dataset and record per-epoch metrics.

    Parameters
    ----------
    dataset : str
        A bundled tabular dataset.
    samplers : sequence of str or str or None
        Sampler names (a list or a comma-separated string) or ``"all"``.
    epochs : int
        Training epochs per run.
    seeds : int or sequence of int
        A count (0..n-1) or explicit seeds.
    sampler_params : dict, optional
        Per-sampler parameters, e.g. ``{"uncertainty": {"s0": 50}}``.
    model_params : dict, optional
        Override :data:`DEFAULT_MODEL_PARAMS`.
    include_random : bool
        Add the ``random`` reference when it is missing.
    max_train : int, optional
        Use only a seeded subset of that many training rows (for quick demos and tests).
    progress : callable, optional
        ``progress(done, total, message)`` after each run.

    Returns
    -------
    BatchSelectionResult
    """
    from mlal_core import data
    from mlal_core.features import featurize
    from mlal_core.models import MLPEnsemble

    if int(epochs) < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}.")
    names = _resolve_samplers(samplers)
    if include_random and "random" not in names:
        names = ["random", *names]
    if np.isscalar(seeds):  # a count; np.isscalar's narrowing does not keep the int type
        seed_list = list(range(int(cast(int, seeds))))
    else:
        seed_list = [int(s) for s in cast(Sequence[int], seeds)]
    if not seed_list:
        raise ConfigError("seeds must be >= 1.")
    sampler_params = sampler_params or {}
    ds = data.load(dataset)
    if ds.kind != "tabular":
        raise ConfigError(f"batch-selection runs on tabular datasets (raw features); {dataset!r} is {ds.kind}.")
    feats = featurize(ds, "raw")
    Xtr, Ytr = np.asarray(feats.train), ds.train.dense_Y()  # dense even where K > 500 stores Y sparse
    if max_train is not None and int(max_train) < len(Ytr):
        keep = np.sort(np.random.default_rng(0).choice(len(Ytr), int(max_train), replace=False))
        Xtr, Ytr = Xtr[keep], Ytr[keep]
    splits = {"valid": (np.asarray(feats.valid), ds.valid.dense_Y()),
              "test": (np.asarray(feats.test), ds.test.dense_Y())}
    mp = {**DEFAULT_MODEL_PARAMS, **(model_params or {}), "epochs": int(epochs)}
    t0 = time.perf_counter()
    curves, runs, histories = [], [], {}
    total, done = len(names) * len(seed_list), 0
    for seed in seed_list:
        for name in names:
            mon = _Monitor(make_sampler(name, **sampler_params.get(name, {})), splits)
            model = MLPEnsemble(**mp, random_state=seed, batch_sampler=mon).fit(Xtr, Ytr)
            df = pd.DataFrame(mon.records)
            loss = dict(enumerate(model.history_["train_loss"], start=1))
            df["train_loss"] = df["epoch"].map(loss)
            df.insert(0, "seed", seed)
            df.insert(0, "sampler", name)
            curves.append(df)
            v = df[df["split"] == "valid"].set_index("epoch")
            te = df[df["split"] == "test"].set_index("epoch")
            best = int(v["macro_auc"].idxmax())
            row = {"sampler": name, "seed": seed, "best_epoch": best}
            row.update({m: float(te.loc[best, m]) for m in METRICS})
            row.update({f"{m}_last": float(te[m].iloc[-1]) for m in METRICS})
            row["valid_macro_auc_best"] = float(v["macro_auc"].max())
            runs.append(row)
            if seed == seed_list[0]:
                histories[name] = mon.history
            done += 1
            if progress is not None:
                progress(done, total, f"{dataset}: {name}, seed {seed}")
    return BatchSelectionResult(dataset=dataset, samplers=names, seeds=seed_list, epochs=int(epochs),
                                curves=pd.concat(curves, ignore_index=True), runs=pd.DataFrame(runs),
                                histories=histories, seconds=time.perf_counter() - t0,
                                label_names=list(ds.label_names))


# ----------------------------------------------------------------------------- per-epoch summaries
def _off_diagonal(C: np.ndarray) -> np.ndarray:
    C = np.asarray(C, dtype=np.float64)
    return C[~np.eye(len(C), dtype=bool)]


def correlation_summary(history: list[dict]) -> pd.DataFrame:
    """Per recorded epoch of an uncertainty-sampler ``history``: the mean and the largest
    off-diagonal entry of C (mutual information, nats).

    Parameters
    ----------
    history : list of dict
        The sampler's per-epoch records; those with a ``"C"`` of more than one label are used.

    Returns
    -------
    pd.DataFrame
        Columns ``after epoch`` (epochs trained when C was computed, as in the heatmap titles),
        ``mean off-diagonal C``, ``max off-diagonal C``; one row per such record.
    """
    rows = [{"after epoch": int(h["epoch"]), "mean off-diagonal C": float(_off_diagonal(h["C"]).mean()),
             "max off-diagonal C": float(_off_diagonal(h["C"]).max())}
            for h in history if "C" in h and len(h["C"]) > 1]
    return pd.DataFrame(rows, columns=["after epoch", "mean off-diagonal C", "max off-diagonal C"])


def correlation_change(history: list[dict], a: int, b: int) -> dict[str, float]:
    """Mean off-diagonal C after epochs ``a`` and ``b`` and the mean absolute change between them.

    Parameters
    ----------
    history : list of dict
        The uncertainty sampler's per-epoch records (those with a ``"C"`` are used).
    a, b : int
        The two recorded epochs (``"epoch"`` of the records) to compare.

    Returns
    -------
    dict of str to float
        ``mean_a``, ``max_a``, ``mean_b``, ``max_b`` (mean / largest off-diagonal C at each epoch)
        and ``mean_abs_change`` (mean off-diagonal ``|C_b - C_a|``).

    Raises
    ------
    ConfigError
        If ``a`` or ``b`` has no recorded C.
    """
    hs = {h["epoch"]: h for h in history if "C" in h}
    if a not in hs or b not in hs:
        raise ConfigError(f"Epochs {a}, {b} not both recorded; recorded: {sorted(hs)}.")
    Ca, Cb = np.asarray(hs[a]["C"], float), np.asarray(hs[b]["C"], float)
    return {"mean_a": float(_off_diagonal(Ca).mean()), "max_a": float(_off_diagonal(Ca).max()),
            "mean_b": float(_off_diagonal(Cb).mean()), "max_b": float(_off_diagonal(Cb).max()),
            "mean_abs_change": float(np.abs(_off_diagonal(Cb - Ca)).mean())}


def pressure_table(history: list[dict]) -> pd.DataFrame:
    """Per recorded epoch: ``epoch`` (1-based, the epoch whose batches use these probabilities), the
    pressure ``s_t`` (NaN for samplers without one) and the spread ``max P / min P``.

    ``s_t`` is the selection pressure of Zhou et al., Eq. 11 (``docs/METHODS.md``, "Uncertainty
    batch selection").

    Parameters
    ----------
    history : list of dict
        The sampler's per-epoch records, each with ``"epoch"`` and probabilities ``"p"`` (n,), and
        optionally ``"s"``.

    Returns
    -------
    pd.DataFrame
        Columns ``epoch``, ``pressure s_t``, ``max P / min P``; one row per record.
    """
    return pd.DataFrame({"epoch": [int(h["epoch"]) + 1 for h in history],
                         "pressure s_t": [float(h.get("s", np.nan)) for h in history],
                         "max P / min P": [float(np.max(h["p"]) / max(float(np.min(h["p"])), 1e-300))
                                           for h in history]})


# ----------------------------------------------------------------------------- does C matter?
def weight_rank_agreement(U: np.ndarray, C: np.ndarray) -> float:
    """Spearman rank correlation between the sample weights with C (Eq. 7-8) and without (C = I):
    1 means C does not change which rows are drawn more often.

    Zhou et al., Eq. 7-8, via :func:`~mlal_core.batch_selection.samplers.sample_weights`.

    Parameters
    ----------
    U : np.ndarray
        Per-sample, per-label uncertainties, (n, K).
    C : np.ndarray
        Label correlation matrix, (K, K).

    Returns
    -------
    float
        The Spearman correlation of the two weight vectors.
    """
    from scipy.stats import spearmanr

    return float(spearmanr(sample_weights(U, C), sample_weights(U)).statistic)


def mi_noise_floor(U: np.ndarray, tau: int = 10, n_permutations: int = 20, random_state: int = 0) -> np.ndarray:
    """Mean off-diagonal mutual information of C (Eq. 6) after permuting every column of ``U``
    independently (which destroys any dependence between labels but keeps each label's binned
    distribution): the finite-sample bias of the plug-in MI estimate, one value per permutation.

    Zhou et al., Eq. 6, via :func:`~mlal_core.batch_selection.samplers.mutual_information_matrix`.

    Parameters
    ----------
    U : np.ndarray
        Per-sample, per-label uncertainties, (n, K).
    tau : int
        Number of bins of width ``1 / tau`` per label.
    n_permutations : int
        Number of independent permutations.
    random_state : int
        Seed of the permutations.

    Returns
    -------
    np.ndarray
        Mean off-diagonal MI (nats) of each permutation, (n_permutations,).
    """
    U = np.asarray(U, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    out = np.empty(int(n_permutations))
    for r in range(int(n_permutations)):
        out[r] = _off_diagonal(mutual_information_matrix(rng.permuted(U, axis=0), tau)).mean()  # columns shuffled independently
    return out


# ----------------------------------------------------------------------------- figures
def convergence_figure(result: BatchSelectionResult, metric: str = "macro_auc", split: str = "valid"):
    """Per-epoch ``metric`` on ``split`` per sampler, mean +- std over seeds (paper Fig. 3-4).

    Parameters
    ----------
    result : BatchSelectionResult
        The runs of one dataset.
    metric : str
        One of :data:`METRICS`.
    split : str
        ``"valid"`` or ``"test"``.

    Returns
    -------
    plotly.graph_objects.Figure
        The learning curves, one per sampler.
    """
    from mlal_core.viz import learning_curves

    name = metric_name(metric)
    return learning_curves(result.curve_summary(split, metric), x="epoch", metric_name=name,
                           x_title="Epoch", title=f"{result.dataset}: {split} {name} per epoch",
                           group_order=result.samplers)


def correlation_drift_figures(history: list[dict], epochs: tuple[int, int] | None = None, label_names=None,
                              title_prefix: str = ""):
    """Paper Fig. 5: C at two epochs and their difference. ``epochs`` default: the first and the last
    recorded epoch. Returns (fig_a, fig_b, fig_diff, (epoch_a, epoch_b)).

    Parameters
    ----------
    history : list of dict
        The uncertainty sampler's per-epoch records (those with a ``"C"`` are used).
    epochs : tuple of (int, int) or None
        The two recorded epochs to show (None: the first and the last).
    label_names : sequence of str or None
        Label names for the axes (None: indices).
    title_prefix : str
        Text put before every title.

    Returns
    -------
    tuple
        ``(fig_a, fig_b, fig_diff, (epoch_a, epoch_b))``: heatmaps of C at both epochs (on one
        shared MI colour scale), of their difference, and the epochs shown.

    Raises
    ------
    ConfigError
        If the history has no C, or either epoch was not recorded.
    """
    from mlal_core.viz import correlation_heatmap

    hs = {h["epoch"]: h for h in history if "C" in h}
    if len(hs) < 1:
        raise ConfigError("This history has no correlation matrices (use the uncertainty sampler with keep_matrices).")
    keys = sorted(hs)
    a, b = epochs if epochs is not None else (keys[0], keys[-1])
    if a not in hs or b not in hs:
        raise ConfigError(f"Epochs {a}, {b} not both recorded; recorded: {keys[0]}..{keys[-1]}.")
    Ca, Cb = np.asarray(hs[a]["C"], float), np.asarray(hs[b]["C"], float)
    # mutual information (nats) is not bounded by 1: draw with the signed heatmap, then recolour it as a
    # sequential scale shared by both epochs (0 .. the largest off-diagonal value)
    off = ~np.eye(len(Ca), dtype=bool)
    top = float(max(Ca[off].max(initial=0.0), Cb[off].max(initial=0.0), 1e-9))

    def _mi_map(C, title):
        f = correlation_heatmap(C, label_names, title=title, kind="diff", mask_diagonal=True)
        f.update_traces(colorscale="Viridis", zmin=0.0, zmax=top, zmid=None, colorbar_title_text="MI (nats)",
                        selector={"type": "heatmap"})
        f.update_xaxes(title_text="Label")
        f.update_yaxes(title_text="Label")
        return f

    fa = _mi_map(Ca, f"{title_prefix}C after epoch {a} (mutual information, nats)")
    fb = _mi_map(Cb, f"{title_prefix}C after epoch {b} (mutual information, nats)")
    fd = correlation_heatmap(Cb - Ca, label_names, title=f"{title_prefix}C(after {b}) - C(after {a})",
                             kind="diff", mask_diagonal=True)
    fd.update_xaxes(title_text="Label")
    fd.update_yaxes(title_text="Label")
    return fa, fb, fd, (a, b)


def correlation_trend_figure(history: list[dict], title: str | None = None):
    """Mean (and largest) off-diagonal C per recorded epoch (``correlation_summary``), as lines.

    Parameters
    ----------
    history : list of dict
        The uncertainty sampler's per-epoch records.
    title : str or None
        Figure title (None: a default one).

    Returns
    -------
    plotly.graph_objects.Figure
        The line chart.

    Raises
    ------
    ConfigError
        If the history has no correlation matrices.
    """
    from mlal_core.viz import per_round_bars_or_lines

    df = correlation_summary(history)
    if df.empty:
        raise ConfigError("This history has no correlation matrices (use the uncertainty sampler with keep_matrices).")
    return per_round_bars_or_lines(df, ["mean off-diagonal C", "max off-diagonal C"], x="after epoch", kind="line",
                                   x_title="After epoch", y_title="Mutual information (nats)",
                                   title=title or "Off-diagonal label correlation C per epoch")


def probability_figure(history: list[dict], max_epochs: int = 12, title: str | None = None):
    """Distribution of the sampling probabilities over (at most ``max_epochs`` evenly spaced) epochs.

    Parameters
    ----------
    history : list of dict
        The sampler's per-epoch records (those with probabilities ``"p"`` are used).
    max_epochs : int
        Most epochs shown.
    title : str or None
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        The distributions per epoch, log y axis.

    Raises
    ------
    ConfigError
        If no probabilities were recorded.
    """
    from mlal_core.viz import sampling_probability_distribution

    hs = [h for h in history if "p" in h]
    if not hs:
        raise ConfigError("This sampler recorded no sampling probabilities.")
    idx = np.unique(np.linspace(0, len(hs) - 1, min(max_epochs, len(hs))).round().astype(int))
    return sampling_probability_distribution([hs[i]["p"] for i in idx], epochs=[hs[i]["epoch"] + 1 for i in idx],
                                             title=title, log_y=True)
