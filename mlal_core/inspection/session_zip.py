"""Export a whole stored session as one zip: its config, rounds, picks and figures.

``session_export_zip(store, session_id)`` returns the bytes of a zip with

* ``config.json``: the session's ``SessionConfig`` (``SessionConfig.from_dict`` reads it back);
* ``session.json``: everything the store holds (``SessionStore.export_json``): the session row, the
  label names, the feature source, the initial set, who labelled the picks, and per round the
  metrics, timings, shared diagnostics, ``answered_by``, the picks, their labels (0/1 rows and names),
  ``pick_proba`` and the strategy's details, scores and diagnostics (label names beside indices);
* ``rounds.csv``: one row per round (``tables.rounds_frame``);
* ``picks.csv``: one row per picked sample with its labels and score components
  (``tables.picks_frame``);
* ``stopping.csv``: one row per (round, stopping criterion): its value, threshold, ``would_stop``,
  whether the session stored what it needs, and the numbers behind the value
  (``stopping_export.stopping_frame``: the rows the Active learning page shows with no label budget).
  ``session.json`` holds the same per round, and under ``stopping`` the stop set (size, seed,
  positions), the initial set's method with its recorded parameters and each criterion's first stop;
* ``figures/<name>.png|svg|html``: the default session figures (:func:`session_figures`, and A /
  NegA of the final labelled set, :func:`labelled_set_correlations`) plus any passed in ``figures``,
  at the screen size or laid out for a paper column (``size``); PNG / SVG need the system Chromium (``export.static_export_available``);
  without it they are skipped and listed under ``skipped`` in ``manifest.json``. PNGs say their dpi
  (300 at the paper sizes), SVGs their size in inches at the paper sizes;
* ``figures/plotly.min.js``: the installed plotly.js, once; every HTML figure references it (so the
  unpacked zip opens offline without a 4.8 MB copy of plotly.js per figure);
* ``manifest.json``: the members and the session's facts: id, dataset, strategy, seed, rounds, the
  feature source (which features the session used: representation, bundled / computed, their
  precision), the session's numeric ``precision`` and ``oracle``, who labelled the picks
  (``tables.oracle_summary``: ``"simulated"``, ``"person"`` or ``"mixed"``, and the rounds a person
  labelled), the initial set's method (``initial``), the stop set's size and the first round each
  stopping criterion would stop (``first_stops``, None: never).

Tables name labels, never indices (``mlal_core.session.label_text``): ``picks.csv`` has the oracle's
answers as ``oracle_labels`` with ``answered_by`` beside them, and what the model predicted for each
pick (``predicted_top`` / ``predicted_labels``); ``rounds.csv`` has ``answered_by`` per round.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mlal_core import correlation, export, viz
from mlal_core.errors import ConfigError
from mlal_core.metrics import metric_name
from mlal_core.session import stopping_export, tables
from mlal_core.session.store import decode_labels

__all__ = ["DEFAULT_FIGURE_FORMATS", "metric_name", "session_export_zip", "session_figures"]

DEFAULT_FIGURE_FORMATS = ("png", "svg", "html")


def session_figures(records: Sequence, *, title_prefix: str = "",
                    metrics: Iterable[str] = ("micro_f1", "macro_f1")) -> dict[str, go.Figure]:
    """The default figures of one session's records, by file stem.

    * ``learning_curve``: the chosen metrics against the number of labelled samples;
    * ``batch_mean_ir``: MeanIR of the labels of each round's picks (how imbalanced each batch is);
    * ``pool_hard_conflicting``: hard-to-learn and conflicting samples left in the unlabelled pool;
    * ``label_coverage``: the share of labels with at least one positive in the labelled set.

    Parameters
    ----------
    records : sequence of RoundRecord
        The session's records.
    title_prefix : str, default ""
        Put before each title (``"<dataset>, <strategy>: ..."``).
    metrics : iterable of str, default ("micro_f1", "macro_f1")
        The metrics of the learning curve (those the records lack are left out).

    Returns
    -------
    dict of str to plotly.graph_objects.Figure
        Empty for a session without records.
    """
    frame = tables.rounds_frame(records)
    if frame.empty:
        return {}
    prefix = f"{title_prefix}: " if title_prefix else ""
    out: dict[str, go.Figure] = {}
    metrics = [m for m in metrics if m in frame.columns]
    if metrics:
        rows = [pd.DataFrame({"group": metric_name(m), "n_labeled": frame["n_labeled"], "mean": frame[m],
                              "std": 0.0}) for m in metrics]
        summary = pd.concat(rows, ignore_index=True).dropna(subset=["mean"])
        if not summary.empty:
            fig = viz.learning_curves(summary, group="group", metric_name="Score", n=None, band=False,
                                      title=f"{prefix}learning curve (test split)",
                                      y_title="Score on the test split (0-1)")
            fig.update_layout(showlegend=True)
            out["learning_curve"] = fig
    picked = frame[frame["n_selected"] > 0]
    if not picked.empty:
        d = picked.assign(mean_ir_selected=picked["mean_ir_selected"].astype(float))
        if d["mean_ir_selected"].notna().any():
            out["batch_mean_ir"] = viz.per_round_bars_or_lines(
                d, "mean_ir_selected", kind="bar", title=f"{prefix}MeanIR of each round's picks",
                y_title="MeanIR of the batch (ratio, 1 = balanced)")
        out["pool_hard_conflicting"] = viz.per_round_bars_or_lines(
            frame.astype({"hard_to_learn_count": float, "conflicting_count": float}),
            ["hard_to_learn_count", "conflicting_count"], kind="line",
            title=f"{prefix}hard-to-learn and conflicting samples in the unlabelled pool",
            y_title="Unlabelled samples (count)")
    cov = frame.dropna(subset=["label_coverage"])
    if not cov.empty:
        out["label_coverage"] = viz.per_round_bars_or_lines(
            cov.assign(label_coverage=cov["label_coverage"].astype(float) * 100.0), "label_coverage",
            kind="line", title=f"{prefix}labels seen in the labelled set",
            y_title="Labels with at least one positive (%)")
        out["label_coverage"].update_yaxes(range=[0, 105])
    return out


def labelled_set_correlations(info: Mapping, records: Sequence, *, title_prefix: str = "") -> dict[str, go.Figure]:
    """A and NegA (CRAB Eq. 8, 9) of the labelled set after the last stored round.

    The labelled set is the oracle's answers: the initial set plus every round's picks.

    Parameters
    ----------
    info : mapping
        ``SessionStore.session_info`` of the session (its ``initial_labeled`` and ``label_names``).
    records : sequence of RoundRecord
        The session's records.
    title_prefix : str, default ""
        Put before each title.

    Returns
    -------
    dict of str to plotly.graph_objects.Figure
        ``labelled_set_A`` and ``labelled_set_NegA``; empty when the labels are not stored or there
        are fewer than two labels.
    """
    initial = (info.get("initial_labeled") or {}).get("labels")
    names = info.get("label_names")
    if initial is None or not names or len(names) < 2:
        return {}
    parts = [decode_labels(initial, len(names))] + [np.asarray(r.labels, dtype=np.uint8) for r in records
                                                    if r.labels is not None and len(r.labels)]
    Y = np.concatenate(parts)
    counts = Y.sum(axis=0)
    prefix = f"{title_prefix}: " if title_prefix else ""
    return {
        f"labelled_set_{kind}": viz.correlation_heatmap(
            fn(Y), names, kind=kind, counts=counts, top_k=min(len(names), 30) if len(names) > 30 else None,
            title=f"{prefix}{kind} of the {len(Y):,} labelled samples")
        for kind, fn in (("A", correlation.positive_correlation), ("NegA", correlation.negative_correlation))
    }


def session_export_zip(store, session_id: str, figures: Mapping[str, go.Figure] | None = None, *,
                       figure_formats: Iterable[str] = DEFAULT_FIGURE_FORMATS,
                       default_figures: bool = True, figure_kwargs: Mapping | None = None,
                       size: str = "screen") -> bytes:
    """A zip of the stored session ``session_id`` (its members: the module docstring).

    Parameters
    ----------
    store : SessionStore
        The store.
    session_id : str
        The session.
    figures : mapping of str to plotly.graph_objects.Figure, optional
        Extra figures by file stem (e.g. the ones a page shows; a stem may hold folders); they
        replace default figures of the same stem.
    figure_formats : iterable of str, default DEFAULT_FIGURE_FORMATS
        Formats written per figure (``export.FORMATS``).
    default_figures : bool, default True
        False leaves the defaults out: the learning curve, batch MeanIR, pool counts, label coverage
        (:func:`session_figures`) and A / NegA of the final labelled set.
    figure_kwargs : mapping, optional
        Extra arguments of ``export.figure_to_bytes``.
    size : str, default "screen"
        ``export.EXPORT_SIZES`` (paper sizes are rendered at 300 dpi).

    Returns
    -------
    bytes
        The zip.

    Raises
    ------
    StoreError
        For an unknown session.
    ConfigError
        When a value of ``figures`` is not a plotly figure.
    """
    info = store.session_info(session_id)  # raises StoreError for an unknown id
    figure_formats = tuple(figure_formats)
    if set(figure_formats) & set(export.STATIC_FORMATS):
        export.start_export_server(background=True)  # the browser starts while the tables are built
    records = store.load_rounds(session_id)
    config = info["config"]
    names = info.get("label_names")

    with tempfile.TemporaryDirectory(prefix="mlal-export-") as tmp:
        full = json.loads(store.export_json(session_id, Path(tmp) / "session.json").read_text())

    items: dict[str, object] = {
        "config.json": config,
        "session.json": full,
        "rounds.csv": tables.rounds_frame(records),
        "picks.csv": tables.picks_frame(records, names, with_proba=bool(names)),
        "stopping.csv": stopping_export.stopping_frame(records),
    }
    figs: dict[str, go.Figure] = {}
    if default_figures:
        prefix = f"{info.get('dataset_name') or config.get('dataset')}, {config.get('strategy')}"
        figs.update(session_figures(records, title_prefix=prefix))
        figs.update(labelled_set_correlations(info, records, title_prefix=prefix))
    for stem, fig in (figures or {}).items():
        if not isinstance(fig, (go.Figure, dict)):
            raise ConfigError(f"figures[{stem!r}] is a {type(fig).__name__}, not a plotly figure.")
        figs[str(stem)] = fig
    size_kwargs: dict = {}
    for stem, fig in figs.items():
        items[f"figures/{stem}"], size_kwargs = export.sized_for_export(fig, size)
    figure_kwargs = {**size_kwargs, **(figure_kwargs or {})}

    last = records[-1] if records else None
    manifest = {
        "session_id": session_id,
        "name": info.get("name"),
        "dataset": info.get("dataset_name") or config.get("dataset"),
        "dataset_hash": info.get("dataset_hash"),
        "strategy": config.get("strategy"),
        "seed": config.get("seed"),
        "status": info.get("status"),
        "rounds_planned": config.get("rounds"),
        "records": len(records),
        "n_labeled": None if last is None else int(last.n_labeled),
        "feature_source": info.get("feature_source") or {"representation": config.get("representation"),
                                                         "source": "not recorded"},
        "precision": config.get("precision"),
        "oracle": tables.oracle_summary(records),
        "initial": full["stopping"]["initial"],
        "stop_set_size": (full["stopping"]["stop_set"] or {}).get("size"),
        "first_stops": {c["key"]: c["first_stop_round"] for c in full["stopping"]["criteria"]},
        "last_metrics": None if last is None else {k: (float(v) if np.isfinite(v) else None)
                                                   for k, v in last.metrics.items()},
    }
    return export.session_zip(items, figure_formats=tuple(figure_formats), figure_kwargs=figure_kwargs,
                              manifest=manifest)
