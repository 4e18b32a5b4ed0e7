"""Summary statistics of a dataset, per split and over all splits (what the app's data page shows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlal_core import correlation, stats
from mlal_core.data.dataset import SPLIT_NAMES, MultiLabelDataset, Split, concat_splits


def _split_summary(split: Split) -> dict:
    """The label statistics of one split, plus ``avg_words`` (text) or ``n_features`` (tabular)."""
    out = correlation.label_summary(split.Y)
    if split.texts is not None:
        words = np.fromiter((len(t.split()) for t in split.texts), dtype=np.int64)
        out["avg_words"] = float(words.mean()) if words.size else float("nan")
    if split.X is not None:
        out["n_features"] = int(split.X.shape[1])
    return out


def describe(ds: MultiLabelDataset) -> dict:
    """Statistics of ``ds`` per split and overall.

    Values are unrounded floats; an empty split gives ``nan`` where a mean is undefined.

    Parameters
    ----------
    ds : MultiLabelDataset
        The dataset.

    Returns
    -------
    dict
        With

        * ``name``, ``kind``, ``n_labels``, ``label_names``, ``valid_carved``;
        * ``per_split``: ``{"train": {...}, "valid": {...}, "test": {...}}`` and ``overall`` (all splits
          together), each with ``n_samples, n_labels, labels_present, n_samples_without_label,
          label_cardinality, label_density, MeanIR, MaxIR, CorrAvg, distinct_labelsets`` (definitions in
          :mod:`mlal_core.stats` / :mod:`mlal_core.correlation`, named as in the bundled ``meta.json``)
          plus ``avg_words`` (mean whitespace tokens per text) for text sets or ``n_features`` for tabular;
        * ``label_counts``: DataFrame indexed by label name, columns ``train, valid, test, all`` (positives)
          ``IRLbl`` (of the training split, the pool) and ``IRLbl (all splits)``; ``inf`` for a label
          with no positive;
        * ``table``: DataFrame with one row per split plus ``all`` and the statistics as columns.
    """
    per_split = {s: _split_summary(ds.split(s)) for s in SPLIT_NAMES}
    whole = concat_splits([ds.split(s) for s in SPLIT_NAMES])
    overall = _split_summary(whole)
    counts = pd.DataFrame({s: stats.label_counts(ds.split(s).Y) for s in SPLIT_NAMES}, index=list(ds.label_names))
    counts["all"] = counts[list(SPLIT_NAMES)].sum(axis=1)
    counts["IRLbl"] = stats.irlbl(ds.train.Y)
    counts["IRLbl (all splits)"] = stats.irlbl(whole.Y)
    counts.index.name = "label"
    table = pd.DataFrame({**per_split, "all": overall}).T
    return {
        "name": ds.name,
        "kind": ds.kind,
        "n_labels": ds.n_labels,
        "label_names": list(ds.label_names),
        "valid_carved": ds.valid_carved,
        "per_split": per_split,
        "overall": overall,
        "label_counts": counts,
        "table": table,
    }
