"""The data behind the app's pages: pure functions from datasets, sessions and records to tables.

The Streamlit pages stay thin (widgets and layout); what they show is computed here, so notebooks
and tests get the same tables. Nothing here imports streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlal_core import metrics as _metrics
from mlal_core.errors import ConfigError
from mlal_core.reporting import label_string, rounds_frame

__all__ = [
    "device_description",
    "examples_for_label",
    "higher_is_better",
    "learning_curve_tables",
    "pick_table",
    "predicted_string",
    "session_rounds",
    "shorten_text",
]


def device_description(device: Any = None) -> str:
    """Where models train, in words: ``"CUDA GPU (NVIDIA H100 ...)"`` or ``"CPU (2 threads)"``."""
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


def shorten_text(text: str | None, max_chars: int = 300) -> str:
    """``text`` on one line, cut at ``max_chars`` characters with an ellipsis."""
    if text is None:
        return ""
    one = " ".join(str(text).split())
    return one if len(one) <= max_chars else one[: max_chars - 1].rstrip() + "\u2026"


def _dense_rows(Y: Any, rows: np.ndarray) -> np.ndarray:
    sub = Y[rows]
    return np.asarray(sub.toarray() if sp.issparse(sub) else sub, dtype=np.uint8)


def examples_for_label(ds, label: int | str, n: int = 5, *, split: str = "train", seed: int = 0,
                       max_chars: int = 400) -> pd.DataFrame:
    """Up to ``n`` samples of ``split`` that carry ``label`` (an index or a name), a seeded draw.

    Columns: ``position`` (row in the split), ``text`` (text sets; shortened) and ``labels`` (all the
    sample's labels, ``", "``-joined). Empty when no sample carries the label.
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
    out = {"position": rows.astype(np.int64)}
    if part.texts is not None:
        out["text"] = [shorten_text(part.texts[i], max_chars) for i in rows]
    out["labels"] = [label_string(r, names).replace("|", ", ") for r in Y]
    return pd.DataFrame(out)


def predicted_string(p: np.ndarray, names: Sequence[str], top_k: int = 3, min_p: float = 0.0) -> str:
    """The ``top_k`` most probable labels of one probability row: ``"earn 0.93, acq 0.41"``."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")[:top_k]
    return ", ".join(f"{names[j]} {p[j]:.2f}" for j in order if p[j] >= min_p)


def pick_table(positions: np.ndarray, ds, *, labels: np.ndarray | None = None, proba: np.ndarray | None = None,
               details: pd.DataFrame | None = None, max_chars: int = 300, top_k: int = 3) -> pd.DataFrame:
    """One row per picked sample, in pick order: what the app shows for a round.

    Columns: ``order`` (1 = picked first), ``position`` (pool position), ``text`` (text sets),
    ``true labels`` (the oracle's answer; ``"(waiting for the oracle)"`` when ``labels`` is None),
    ``predicted (p)`` (the model's ``top_k`` labels with their mean probability; only when ``proba``
    (``(n, K)``, rows aligned with ``positions``) is given), ``predicted labels`` (labels with
    p > 0.5), then the strategy's ``details`` columns (score, reason, score components) except
    ``position``.
    """
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    n = positions.size
    names = list(ds.label_names)
    out: dict[str, Any] = {"order": np.arange(1, n + 1), "position": positions}
    texts = ds.train.texts
    if texts is not None:
        out["text"] = [shorten_text(texts[i], max_chars) for i in positions]
    if labels is None:
        out["true labels"] = ["(waiting for the oracle)"] * n
    else:
        labels = np.asarray(labels)
        if labels.shape != (n, len(names)):
            raise ConfigError(f"labels must be ({n}, {len(names)}); got {labels.shape}.")
        out["true labels"] = [label_string(r, names).replace("|", ", ") or "(none)" for r in labels]
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
        if proba.shape != (n, len(names)):
            raise ConfigError(f"proba must be ({n}, {len(names)}); got {proba.shape}.")
        out["predicted (p)"] = [predicted_string(r, names, top_k) for r in proba]
        out["predicted labels"] = [label_string(r > 0.5, names).replace("|", ", ") or "(none)" for r in proba]
    frame = pd.DataFrame(out)
    if details is not None and len(details) == n:
        extra = details.reset_index(drop=True).drop(columns=[c for c in ("position", "pick") if c in details.columns])
        extra = extra.rename(columns={c: f"detail {c}" for c in extra.columns if c in frame.columns})
        frame = pd.concat([frame, extra], axis=1)
    return frame


# ---------------------------------------------------------------------------- learning curves
def higher_is_better(metric: str) -> bool:
    """False for the losses (Hamming loss, ranking loss), True for every other metric."""
    return not str(metric).startswith(("hamming_loss", "ranking_loss"))


def session_rounds(store, session_ids: Sequence[str]) -> pd.DataFrame:
    """The rounds of several stored sessions in one frame (``reporting.rounds_frame`` rows) with
    ``session``, ``strategy``, ``seed``, ``dataset``, ``name`` and ``pool_size`` columns added."""
    frames = []
    for sid in session_ids:
        info = store.session_info(sid)
        records = store.load_rounds(sid)
        if not records:
            continue
        df = rounds_frame(records)
        cfg = info["config"]
        df.insert(0, "session", sid)
        df.insert(1, "strategy", cfg.get("strategy"))
        df.insert(2, "seed", cfg.get("seed"))
        df.insert(3, "dataset", info.get("dataset_name") or cfg.get("dataset"))
        df.insert(4, "name", info.get("name"))
        pool = (df["n_labeled"] + df["n_unlabeled"]).max() if "n_unlabeled" in df else np.nan
        df["pool_size"] = int(pool) if pd.notna(pool) else np.nan
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["session", "strategy", "seed", "dataset", "name", "round", "n_labeled",
                                     "pool_size"])
    return pd.concat(frames, ignore_index=True)


def paired_runs(runs: pd.DataFrame, setting: str) -> pd.DataFrame:
    """``runs`` (from :func:`session_rounds`) as the ``rounds`` frame of :mod:`mlal_core.analysis`:
    one session per (strategy, seed), the first in ``runs``' order (the newest, as the store lists
    them), a ``setting`` column and ``final`` (the record that picked nothing)."""
    firsts = runs.drop_duplicates(["strategy", "seed"])[["strategy", "seed", "session"]]
    keep = runs["session"].isin(set(firsts["session"]))
    out = runs[keep].copy()
    out.insert(0, "setting", setting)
    out["final"] = out["n_selected"].fillna(0).astype(int) == 0 if "n_selected" in out else False
    return out.reset_index(drop=True)


def learning_curve_tables(runs: pd.DataFrame, metric: str, *, by: str = "strategy",
                          target: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Summaries of several sessions' learning curves (``runs`` from :func:`session_rounds`).

    Returns ``(summary, per_session, per_group)``:

    * ``summary``: ``metrics.summarize_curves(runs, metric, by)`` (mean, std, n per labelled size);
    * ``per_session``: one row per session: ``by``, seed, points, final labelled size, final score,
      ``auc`` (``metrics.area_under_learning_curve``: mean score over the labelled range) and, with a
      ``target`` (e.g. the full-data score), ``fraction_to_reach`` (labelled share of the pool at
      which the session first reached it, NaN if never);
    * ``per_group``: one row per ``by`` group: sessions, AUC mean and std over them, and with a
      target the labelled fraction at which the group's **mean** curve reaches it.
    """
    if runs.empty:
        raise ConfigError("No rounds to summarise: choose sessions that have at least one round.")
    if metric not in runs.columns:
        raise ConfigError(f"Metric {metric!r} is not in the rounds; known: {sorted(runs.columns)}.")
    summary = _metrics.summarize_curves(runs, metric, by=by)
    hib = higher_is_better(metric)
    rows = []
    for sid, d in runs.groupby("session", sort=False):
        d = d.sort_values("n_labeled")
        x, y = d["n_labeled"].to_numpy(float), d[metric].to_numpy(float)
        ok = np.isfinite(y)
        auc = (_metrics.area_under_learning_curve(x[ok], y[ok])
               if ok.sum() >= 2 and np.unique(x[ok]).size >= 2 else float("nan"))
        pool = float(d["pool_size"].iloc[0]) if "pool_size" in d else float("nan")
        row = {by: d[by].iloc[0], "session": sid, "seed": d["seed"].iloc[0] if "seed" in d else None,
               "points": len(d), "final labelled": int(x[-1]), "final score": float(y[-1]), "auc": auc}
        if target is not None:
            row["fraction_to_reach"] = (_metrics.labelled_fraction_to_reach(x[ok], y[ok], target, int(pool), hib)
                                        if np.isfinite(pool) and pool > 0 else float("nan"))
        rows.append(row)
    per_session = pd.DataFrame(rows)
    groups = []
    pool_sizes = runs.groupby(by)["pool_size"].max() if "pool_size" in runs else None
    for g, d in per_session.groupby(by, sort=False):
        row = {by: g, "sessions": len(d), "auc_mean": float(d["auc"].mean()),
               "auc_std": float(d["auc"].std(ddof=1)) if len(d) > 1 else 0.0}
        if target is not None:
            s = summary[summary[by] == g]
            pool = float(pool_sizes.loc[g]) if pool_sizes is not None else float("nan")
            row["fraction_to_reach (mean curve)"] = (
                _metrics.labelled_fraction_to_reach(s["n_labeled"].to_numpy(float), s["mean"].to_numpy(float),
                                                    target, int(pool), hib)
                if np.isfinite(pool) and pool > 0 else float("nan"))
        groups.append(row)
    return summary, per_session, pd.DataFrame(groups)
