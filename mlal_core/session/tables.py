"""Tables of a session's history: one row per round, one row per picked sample.

Used by the store's CSV export, the app's tables and the notebooks, so all three agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def label_string(row: np.ndarray, names: Sequence[str] | None) -> str:
    """The positive labels of one 0/1 row, joined by ``|`` (indices when ``names`` is None)."""
    idx = np.flatnonzero(row)
    return "|".join(names[i] if names else str(i) for i in idx)


def rounds_frame(records: Sequence) -> pd.DataFrame:
    """One row per round: sizes, shared diagnostics, metrics and timings (``time_*`` columns)."""
    rows = []
    for rec in records:
        row = {"round": rec.round, "n_labeled": rec.n_labeled}
        row.update(rec.shared_diagnostics())
        row["n_selected"] = 0 if rec.selected is None else len(rec.selected)
        row.update(rec.metrics)
        row.update({f"time_{k}": v for k, v in rec.timings.items()})
        rows.append(row)
    return pd.DataFrame(rows)


PICK_COLUMNS = ["round", "order", "position", "labels", "n_labels"]


def picks_frame(records: Sequence, label_names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per picked sample: round, pick order, pool position, its labels (as answered by the
    oracle) and the strategy's details columns (prefixed ``detail_`` where a name clashes)."""
    picks = []
    for rec in records:
        if rec.selected is None:
            continue
        details = rec.selection.details.reset_index(drop=True) if rec.selection is not None else pd.DataFrame()
        frame = pd.DataFrame(
            {
                "round": rec.round,
                "order": np.arange(1, len(rec.selected) + 1),
                "position": rec.selected,
                "labels": [label_string(row, label_names) for row in rec.labels],
                "n_labels": rec.labels.sum(axis=1).astype(int),
            }
        )
        extra = details.drop(columns=[c for c in ("position", "pick") if c in details.columns])
        extra = extra.rename(columns={c: f"detail_{c}" if c in frame.columns else c for c in extra.columns})
        if len(extra) == len(frame):
            frame = pd.concat([frame, extra], axis=1)
        picks.append(frame)
    return pd.concat(picks, ignore_index=True) if picks else pd.DataFrame(columns=PICK_COLUMNS)
