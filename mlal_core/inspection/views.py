"""The data behind the app's pages: pure functions from datasets, sessions and records to tables.

The Streamlit pages stay thin (widgets and layout); what they show is computed here, so notebooks
and tests get the same tables. Nothing here imports streamlit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlal_core import metrics as _metrics
from mlal_core import stats as _stats
from mlal_core.errors import ConfigError
from mlal_core.session.tables import label_string, rounds_frame, shorten_text

__all__ = [
    "METRIC_HELP",
    "MODEL_FIELDS",
    "SETTING_FIELDS",
    "balance_columns",
    "device_description",
    "examples_for_label",
    "feature_source_text",
    "higher_is_better",
    "learning_curve_tables",
    "metric_help",
    "model_description",
    "model_settings",
    "paired_runs",
    "precision_description",
    "session_rounds",
    "session_settings",
]


def device_description(device: Any = None) -> str:
    """Where models train, in words: ``"CUDA GPU (NVIDIA H100 ...)"`` or ``"CPU (2 threads)"``.

    Parameters
    ----------
    device : str or torch.device, optional
        A device or ``"auto"`` / None (the GPU when there is one).

    Returns
    -------
    str
    """
    import torch

    from mlal_core.features import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        try:
            name = torch.cuda.get_device_name(dev)
        except Exception:  # noqa: BLE001 - the name is cosmetic
            name = "GPU"
        return f"CUDA GPU ({name})"
    return f"CPU ({torch.get_num_threads()} threads)"


def precision_description(precision: str = "auto", device: Any = None) -> str:
    """The numeric precision ``precision`` resolves to, in words.

    Parameters
    ----------
    precision : str, default "auto"
        A precision name (:data:`mlal_core.precision.PRECISIONS`) or ``"auto"``.
    device : str or torch.device, optional
        The device it is for (default: the one models train on).

    Returns
    -------
    str
        ``"bf16 (native on this CPU)"``, ``"fp32 (this CPU has no native bf16)"``, ``"fp32 (set)"``, ...
    """
    from mlal_core.features.device import (
        cpu_has_native_bf16,
        precision_name,
        resolve_device,
        resolve_precision,
    )

    dev = resolve_device(device)
    name = precision_name(resolve_precision(precision, dev))
    if precision != "auto":
        return f"{name} (set)"
    if dev.type == "cuda":
        return f"{name} (automatic on this GPU)"
    return f"{name} (native on this CPU)" if cpu_has_native_bf16() else f"{name} (this CPU has no native bf16)"


def feature_source_text(source: dict) -> str:
    """Where a session's features came from, in words.

    Parameters
    ----------
    source : dict
        A feature provenance (``ActiveLearningSession.feature_source``, ``SessionStore.session_info``'s
        ``feature_source``).

    Returns
    -------
    str
        ``"minilm, shipped with the dataset (fp32, checked: min cosine 0.99998)"``, ``"tfidf, computed"``.
    """
    where = "shipped with the dataset" if source.get("source") == "bundled" else "computed"
    details = [source["precision"]] if source.get("precision") else []
    check = source.get("bundled_check") or {}
    if "min_cosine" in check:
        details.append(f"checked: min cosine {check['min_cosine']:.5f}")
    return f"{source.get('representation', '?')}, {where}" + (f" ({', '.join(details)})" if details else "")


def _dense_rows(Y: Any, rows: np.ndarray) -> np.ndarray:
    sub = Y[rows]
    return np.asarray(sub.toarray() if sp.issparse(sub) else sub, dtype=np.uint8)


def examples_for_label(ds, label: int | str, n: int = 5, *, split: str = "train", seed: int = 0,
                       max_chars: int = 400) -> pd.DataFrame:
    """Up to ``n`` samples of ``split`` that carry ``label``, a seeded draw.

    Parameters
    ----------
    ds : MultiLabelDataset
        The dataset.
    label : int or str
        A label index or name.
    n : int, default 5
        How many samples at most.
    split : {"train", "valid", "test"}, default "train"
        The split to draw from.
    seed : int, default 0
        Seed of the draw (with the label index).
    max_chars : int, default 400
        Longest text.

    Returns
    -------
    pandas.DataFrame
        Columns ``position`` (row in the split), ``text`` (text sets; shortened) and ``labels`` (all
        the sample's labels, ``", "``-joined), rows by position; empty when no sample carries the label.

    Raises
    ------
    ConfigError
        For an unknown label name or an index out of range.
    """
    names = list(ds.label_names)
    if isinstance(label, str):
        if label not in names:
            raise ConfigError(f"Unknown label {label!r}; the dataset's labels are {names[:20]}...")
        j = names.index(label)
    else:
        j = int(label)
        if not 0 <= j < len(names):
            raise ConfigError(f"Label index {j} outside 0..{len(names) - 1}.")
    part = ds.split(split)
    col = part.Y[:, j]
    col = np.asarray(col.toarray()).ravel() if sp.issparse(col) else np.asarray(col).ravel()
    rows = np.flatnonzero(col)
    rng = np.random.default_rng([seed, j])
    if rows.size > n:
        rows = np.sort(rng.choice(rows, size=n, replace=False))
    Y = _dense_rows(part.Y, rows)
    out: dict[str, Any] = {"position": rows.astype(np.int64)}
    if part.texts is not None:
        out["text"] = [shorten_text(part.texts[i], max_chars) for i in rows]
    out["labels"] = [label_string(r, names).replace("|", ", ") for r in Y]
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------- learning curves
#: what each learning-curve metric measures, in plain words (the app's metric help)
METRIC_HELP: dict[str, str] = {
    "micro_f1": "F1 over all (sample, label) decisions pooled together, at threshold 0.5: frequent labels "
                "dominate it.",
    "macro_f1": "F1 of each label on its own, averaged over the labels, at threshold 0.5: a rare label counts as "
                "much as a frequent one.",
    "micro_f1_tuned": "Micro-F1 at the one global threshold (0.05 ... 0.95) that maximises macro-F1 on the "
                      "validation split, instead of 0.5 (a model unsure early on predicts few labels at 0.5).",
    "macro_f1_tuned": "Macro-F1 at the one global threshold (0.05 ... 0.95) that maximises it on the validation "
                      "split, instead of 0.5.",
    "macro_auc": "ROC-AUC of each label (the chance that a random positive gets a higher probability than a random "
                 "negative), averaged over the labels with both classes in the test split; no threshold. Not to "
                 "be confused with AULC, the area under a learning curve.",
    "p@1": "Precision@1: the share of samples whose most probable label is a true label.",
    "p@3": "Precision@3: the share of each sample's 3 most probable labels that are true, averaged over samples.",
    "ndcg@3": "nDCG@3: like Precision@3, but a true label ranked first counts more than one ranked third "
              "(gain discounted by log2(1 + rank)), divided by the best possible value so 1 = a perfect top 3.",
    "lrap": "Label ranking average precision: for each true label of a sample, the share of the labels ranked at or "
            "above it that are true, averaged; 1 = every true label is ranked above every false one.",
    "hamming_loss": "The share of (sample, label) decisions that are wrong at threshold 0.5; lower is better.",
    "ranking_loss": "The share of (true label, false label) pairs of a sample ranked the wrong way round, averaged "
                    "over samples; lower is better.",
}


def metric_help(metric: str) -> str:
    """What a metric measures, in plain words (:data:`METRIC_HELP`).

    Parameters
    ----------
    metric : str
        A metric column (``"micro_f1"``, ``"macro_f1_tuned"``, ...).

    Returns
    -------
    str
        The help text (a tuned-threshold variant says so); empty for an unknown metric.
    """
    if metric in METRIC_HELP:
        return METRIC_HELP[metric]
    if metric.endswith("_tuned") and metric[: -len("_tuned")] in METRIC_HELP:
        return METRIC_HELP[metric[: -len("_tuned")]] + " Measured at the tuned threshold instead of 0.5."
    return ""


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (:func:`mlal_core.metrics.higher_is_better`).

    Parameters
    ----------
    metric : str
        A metric column.

    Returns
    -------
    bool
        False for the losses (Hamming loss, ranking loss), True for every other metric.
    """
    return _metrics.higher_is_better(metric)


#: the config fields that decide a learning curve besides the strategy and the seed, with the words
#: the app shows for them; ``model_params`` and ``strategy_params`` are compared key by key
SETTING_FIELDS: dict[str, str] = {
    "model": "model", "representation": "representation", "max_length": "max length",
    "initial_size": "initial size", "initial_method": "initial set", "query_size": "query size",
    "candidate_subset": "candidate subset", "model_params": "", "strategy_params": "",
}
#: the fields the full-data score depends on (:func:`mlal_core.session.reference.cache_key`, less the seed)
MODEL_FIELDS = ("model", "representation", "max_length", "model_params")
#: model parameters that change how (where, how fast) a model is computed, not what it learns
_IGNORED_MODEL_PARAMS = {"device", "random_state", "num_threads", "eval_batch_size", "precision"}
_REPRESENTATION_WORDS = {"minilm": "MiniLM sentence embeddings", "tfidf": "TF-IDF features",
                         "raw": "the standardised tabular features", "tokens": "the token ids of the texts"}


def _model_params(model: str, params: dict) -> dict:
    """Every parameter of ``model`` (its defaults overridden by the session defaults and ``params``)."""
    import inspect as _inspect

    from mlal_core import models
    from mlal_core.session.config import DEFAULT_MODEL_PARAMS

    cls = models.MODELS.get(str(model))
    defaults = {} if cls is None else {
        k: p.default for k, p in _inspect.signature(cls).parameters.items()
        if k != "self" and p.default is not _inspect.Parameter.empty}
    full = {**defaults, **DEFAULT_MODEL_PARAMS, **(params or {})}
    return {k: v for k, v in full.items() if k not in _IGNORED_MODEL_PARAMS}


def model_description(config, kind: str | None = None) -> str:
    """The model a session config trains, in words.

    Parameters
    ----------
    config : SessionConfig
        The session's config.
    kind : {"text", "tabular"}, optional
        The dataset's kind; resolves the representation ``"auto"``.

    Returns
    -------
    str
        ``"MLP ensemble (5 members, 256 hidden units) on MiniLM sentence embeddings"``,
        ``"TextCNN ensemble (5 members, kernels 3/4/5 x 100 filters, up to 256 tokens)"``, ...
    """
    from mlal_core.session.config import TEXT_BACKBONES

    p = _model_params(config.model, config.model_params)
    n = p.get("n_members")
    mc = int(p.get("mc_passes") or 0)
    mc_words = f", MC dropout with {mc} passes" if mc else ""
    if config.model in TEXT_BACKBONES:
        tail = f"up to {p.get('max_length')} tokens{mc_words})"
        init = p.get("embedding_init")
        emb = "" if init is None else ("word embeddings trained from scratch, " if init == "scratch"
                                       else f"{init} word embeddings, ")
        if config.model == "textcnn":
            ks = "/".join(str(k) for k in p.get("kernel_sizes", ()))
            return f"TextCNN ensemble ({n} members, kernels {ks} x {p.get('n_filters')} filters, {emb}{tail}"
        if config.model == "textrnn":
            return (f"TextRNN ensemble ({n} members, BiGRU with {p.get('hidden_size')} hidden units and "
                    f"{p.get('pooling')} pooling, {emb}{tail}")
        return (f"fine-tuned transformer ensemble ({n} members, {p.get('encoder')} with a {p.get('head')} head, "
                f"{p.get('freeze_layers')} frozen layers, {tail}")
    try:
        rep = config.resolve_representation(kind) if kind else config.representation
    except ConfigError:
        rep = config.representation
    rep_words = _REPRESENTATION_WORDS.get(rep, f"{rep} features")
    return f"MLP ensemble ({n} members, {p.get('hidden_size')} hidden units{mc_words}) on {rep_words}"


def _setting_values(row: pd.Series, kind: str | None) -> dict[str, Any]:
    """The setting fields of one session (a row of :func:`session_rounds`), flattened and normalised:
    ``"auto"`` representation resolved, model parameters completed with the model's defaults."""
    from mlal_core.session.config import TEXT_BACKBONES, SessionConfig

    model = row.get("model") or "mlp_ensemble"
    rep = row.get("representation") or "auto"
    if model in TEXT_BACKBONES:
        rep = "tokens"
    elif kind is not None:
        try:
            rep = SessionConfig(model=model, representation=rep).resolve_representation(kind)
        except ConfigError:
            pass
    out: dict[str, Any] = {"model": model, "representation": rep}
    for f in ("max_length", "initial_size", "initial_method", "query_size", "candidate_subset"):
        v = row.get(f)
        v = v.item() if isinstance(v, np.generic) else v  # pandas: numpy scalars, NaN for None, 50.0 for 50
        if isinstance(v, float):
            v = None if math.isnan(v) else (int(v) if v.is_integer() else v)
        out[f] = v
    if model in TEXT_BACKBONES or rep not in ("minilm",):
        out["max_length"] = None  # the frozen encoder's limit plays no part (backbones: a model parameter)
    mp = _model_params(model, json.loads(row.get("model_params") or "{}"))
    out.update({f"model_params.{k}": v for k, v in mp.items()})
    sp_ = json.loads(row.get("strategy_params") or "{}")
    out.update({f"strategy_params.{k}": v for k, v in sp_.items()})
    return out


#: model parameters by the words the app uses for them (the others: their name, "_" read as a space)
_PARAM_WORDS = {"n_members": "members", "mc_passes": "MC-dropout passes", "hidden_size": "hidden units",
                "max_length": "max tokens"}


def _field_words(field: str) -> str:
    if field.startswith("model_params."):
        name = field.split(".", 1)[1]
        return _PARAM_WORDS.get(name, name.replace("_", " "))
    if "." in field:
        return field.split(".", 1)[1].replace("_", " ")
    return SETTING_FIELDS.get(field, field)


def _value_words(field: str, value: Any) -> str:
    if value is None:  # not set: the strategy's default, every candidate scored, ...
        return {"candidate_subset": "all"}.get(field, "default")
    if isinstance(value, (list, tuple)):
        return "/".join(str(v) for v in value)
    return str(value)


def session_settings(runs: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
    """One row per session of ``runs``: what its learning curve may be averaged with.

    Parameters
    ----------
    runs : pandas.DataFrame
        Rounds of several sessions (:func:`session_rounds`).
    kind : {"text", "tabular"}, optional
        The dataset's kind; resolves the representation ``"auto"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``session``, ``strategy``, ``seed``; ``setting_key`` (a canonical text of every field
        of :data:`SETTING_FIELDS`, normalised); ``differences`` (the fields that differ among these
        sessions, in words: ``"query size 20, model textcnn"``; the strategy parameters only compared
        within a strategy; empty when the sessions differ in strategy and seed only); ``curve`` (the
        strategy, plus ``" · "`` and its differences when there are any: sessions with the same
        ``curve`` are seeds of one setting, which the "by strategy" view averages); ``model_setting``
        (canonical text of the fields the full-data score depends on) and ``model_differences`` (those
        of them that differ).
    """
    cols = ["session", "strategy", "seed", "setting_key", "differences", "curve", "model_setting", "model_differences"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    firsts = runs.drop_duplicates("session")
    values = {r["session"]: _setting_values(r, kind) for _, r in firsts.iterrows()}
    strategy_of = dict(zip(firsts["session"], firsts["strategy"]))
    fields = list(dict.fromkeys(f for v in values.values() for f in v))

    def differing(sessions: list[str], candidates: list[str]) -> list[str]:
        return [f for f in candidates
                if len({json.dumps(values[s].get(f), sort_keys=True, default=str) for s in sessions}) > 1]

    all_sessions = list(values)
    global_diff = differing(all_sessions, [f for f in fields if not f.startswith("strategy_params.")])
    per_strategy: dict[str, list[str]] = {}
    for strat in dict.fromkeys(strategy_of.values()):
        members = [s for s in all_sessions if strategy_of[s] == strat]
        per_strategy[strat] = differing(members, [f for f in fields if f.startswith("strategy_params.")])
    model_keys = [f for f in fields if f in MODEL_FIELDS or f.startswith("model_params.")]
    rows = []
    for sid, v in values.items():
        strat = strategy_of[sid]
        diff = global_diff + per_strategy[strat]
        words = ", ".join(f"{_field_words(f)} {_value_words(f, v.get(f))}" for f in diff)
        rows.append({
            "session": sid, "strategy": strat, "seed": firsts.loc[firsts["session"] == sid, "seed"].iloc[0],
            "setting_key": json.dumps({f: v.get(f) for f in fields}, sort_keys=True, default=str),
            "differences": words,
            "curve": f"{strat} \u00b7 {words}" if words else str(strat),
            "model_setting": json.dumps({f: v.get(f) for f in model_keys}, sort_keys=True, default=str),
            "model_differences": ", ".join(f"{_field_words(f)} {_value_words(f, v.get(f))}"
                                           for f in global_diff if f in model_keys),
        })
    return pd.DataFrame(rows, columns=cols)


def model_settings(settings: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct model setting of :func:`session_settings`.

    The full-data score is computed once per model setting, with the seed of its first session.

    Parameters
    ----------
    settings : pandas.DataFrame
        :func:`session_settings` of the sessions.

    Returns
    -------
    pandas.DataFrame
        Columns ``model_setting``, ``label`` (its differences, empty when all sessions share one
        model), ``session`` (the first session) and ``sessions`` (all of them).
    """
    rows = []
    for ms, d in settings.groupby("model_setting", sort=False):
        rows.append({"model_setting": ms, "label": d["model_differences"].iloc[0], "session": d["session"].iloc[0],
                     "sessions": list(d["session"])})
    return pd.DataFrame(rows, columns=["model_setting", "label", "session", "sessions"])


def session_rounds(store, session_ids: Sequence[str]) -> pd.DataFrame:
    """The rounds of several stored sessions in one frame.

    Parameters
    ----------
    store : SessionStore
        The store.
    session_ids : sequence of str
        The sessions (those without a stored round are left out).

    Returns
    -------
    pandas.DataFrame
        :func:`mlal_core.session.tables.rounds_frame` rows with ``session``, ``strategy``, ``seed``,
        ``dataset``, ``name`` and ``pool_size`` columns added, the config fields of
        :data:`SETTING_FIELDS` (``model_params`` and ``strategy_params`` as JSON) and the
        coverage-aware balance columns of :func:`balance_columns` (``batch_coverage``,
        ``labelled_entropy``).
    """
    frames = []
    for sid in session_ids:
        info = store.session_info(sid)
        records = store.load_rounds(sid)
        if not records:
            continue
        df = rounds_frame(records)
        df = df.assign(**balance_columns(records, (info.get("initial_labeled") or {}).get("labels")))
        cfg = info["config"]
        df.insert(0, "session", sid)
        df.insert(1, "strategy", cfg.get("strategy"))
        df.insert(2, "seed", cfg.get("seed"))
        df.insert(3, "dataset", info.get("dataset_name") or cfg.get("dataset"))
        df.insert(4, "name", info.get("name"))
        pool = (df["n_labeled"] + df["n_unlabeled"]).max() if "n_unlabeled" in df else np.nan
        df["pool_size"] = int(pool) if pd.notna(pool) else np.nan
        for f in SETTING_FIELDS:
            v = cfg.get(f)
            df[f] = json.dumps(v or {}, sort_keys=True) if f.endswith("_params") else v
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["session", "strategy", "seed", "dataset", "name", "round", "n_labeled",
                                     "pool_size"])
    return pd.concat(frames, ignore_index=True)


def balance_columns(records: Sequence, initial_labels) -> dict[str, list[float]]:
    """Per record: the label coverage of its batch and the evenness of the labelled set after it.

    Parameters
    ----------
    records : sequence of RoundRecord
        A session's records in order (the final one included).
    initial_labels : array-like or None
        The oracle's labels of the initial set, ``(n0, K)`` (None: not known).

    Returns
    -------
    dict
        ``batch_coverage`` (:func:`mlal_core.stats.label_coverage` of the record's batch; NaN without
        a batch) and ``labelled_entropy`` (:func:`mlal_core.stats.label_entropy` of the initial set
        plus every batch up to the record's; NaN when the initial labels are not known), one value per
        record.
    """
    cov, ent = _stats.balance_by_batch(initial_labels, [rec.labels for rec in records])
    return {"batch_coverage": cov.tolist(), "labelled_entropy": ent.tolist()}


def paired_runs(runs: pd.DataFrame, setting: str) -> pd.DataFrame:
    """``runs`` as the ``rounds`` frame of :mod:`mlal_core.experiments.analysis`.

    Parameters
    ----------
    runs : pandas.DataFrame
        Rounds of several sessions (:func:`session_rounds`).
    setting : str
        The value of the ``setting`` column.

    Returns
    -------
    pandas.DataFrame
        One session per (strategy, seed), the first in ``runs``' order (the newest, as the store
        lists them), with a ``setting`` column and ``final`` (the record that picked nothing).
    """
    firsts = runs.drop_duplicates(["strategy", "seed"])[["strategy", "seed", "session"]]
    keep = runs["session"].isin(set(firsts["session"]))
    out = runs[keep].copy()
    out.insert(0, "setting", setting)
    out["final"] = out["n_selected"].fillna(0).astype(int) == 0 if "n_selected" in out else False
    return out.reset_index(drop=True)


def learning_curve_tables(runs: pd.DataFrame, metric: str, *, by: str = "strategy",
                          target: float | Mapping[str, float] | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Summaries of several sessions' learning curves.

    Parameters
    ----------
    runs : pandas.DataFrame
        Rounds of several sessions (:func:`session_rounds`).
    metric : str
        The metric column.
    by : str, default "strategy"
        The column that groups sessions (``"curve"`` groups by setting, :func:`session_settings`).
    target : float or mapping of str to float, optional
        The full-data score: one number, or one per session id.

    Returns
    -------
    tuple of (pandas.DataFrame, pandas.DataFrame, pandas.DataFrame)
        ``(summary, per_session, per_group)``:

        * ``summary``: ``metrics.summarize_curves(runs, metric, by)`` (mean, std, n per labelled size);
        * ``per_session``: one row per session: ``by``, seed, points, final labelled size, final score,
          ``aulc`` (``metrics.area_under_learning_curve``: mean score over the labelled range) and, with
          a ``target``, ``fraction_to_reach`` (labelled share of the pool at which the session first
          reached it, NaN if never);
        * ``per_group``: one row per ``by`` group: sessions, AULC mean and std over them, and with a
          target the labelled fraction at which the group's **mean** curve reaches it (NaN when the
          group's sessions have different targets).

    Raises
    ------
    ConfigError
        For empty ``runs``, an unknown metric, or (with a ``setting_key`` column in ``runs``) a ``by``
        group that mixes settings (group by ``curve`` instead).
    """
    if runs.empty:
        raise ConfigError("No rounds to summarise: choose sessions that have at least one round.")
    if metric not in runs.columns:
        raise ConfigError(f"Metric {metric!r} is not in the rounds; known: {sorted(runs.columns)}.")
    summary = _metrics.summarize_curves(runs, metric, by=by, setting="setting_key" if "setting_key" in runs else None)
    hib = higher_is_better(metric)

    def target_of(sid) -> float:
        if target is None:
            return float("nan")
        v = target.get(sid) if isinstance(target, Mapping) else target
        return float("nan") if v is None else float(v)

    rows = []
    for sid, d in runs.groupby("session", sort=False):
        d = d.sort_values("n_labeled")
        x, y = d["n_labeled"].to_numpy(float), d[metric].to_numpy(float)
        ok = np.isfinite(y)
        aulc = (_metrics.area_under_learning_curve(x[ok], y[ok])
                if ok.sum() >= 2 and np.unique(x[ok]).size >= 2 else float("nan"))
        pool = float(d["pool_size"].iloc[0]) if "pool_size" in d else float("nan")
        row = {by: d[by].iloc[0], "session": sid, "seed": d["seed"].iloc[0] if "seed" in d else None,
               "points": len(d), "final labelled": int(x[-1]), "final score": float(y[-1]), "aulc": aulc}
        if target is not None:
            tg = target_of(sid)
            row["full-data score"] = tg
            row["fraction_to_reach"] = (_metrics.labelled_fraction_to_reach(x[ok], y[ok], tg, int(pool), hib)
                                        if np.isfinite(pool) and pool > 0 and np.isfinite(tg) else float("nan"))
        rows.append(row)
    per_session = pd.DataFrame(rows)
    groups = []
    pool_sizes = runs.groupby(by)["pool_size"].max() if "pool_size" in runs else None
    for g, d in per_session.groupby(by, sort=False):
        row = {by: g, "sessions": len(d), "aulc_mean": float(d["aulc"].mean()),
               "aulc_std": float(d["aulc"].std(ddof=1)) if len(d) > 1 else 0.0}
        if target is not None:
            tgs = d["full-data score"].dropna().unique()
            tg = float(tgs[0]) if len(tgs) == 1 else float("nan")
            s = summary[summary[by] == g]
            pool = float(pool_sizes.loc[g]) if pool_sizes is not None else float("nan")
            row["fraction_to_reach (mean curve)"] = (
                _metrics.labelled_fraction_to_reach(s["n_labeled"].to_numpy(float), s["mean"].to_numpy(float),
                                                    tg, int(pool), hib)
                if np.isfinite(pool) and pool > 0 and np.isfinite(tg) else float("nan"))
        groups.append(row)
    return summary, per_session, pd.DataFrame(groups)
