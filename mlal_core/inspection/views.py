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

from mlal_core import glossary as _glossary
from mlal_core import metrics as _metrics
from mlal_core import stats as _stats
from mlal_core.errors import ConfigError
from mlal_core.session.store import decode_labels
from mlal_core.session.tables import label_string, rounds_frame, shorten_text
from mlal_core.strategies.detail_columns import column_help as _detail_column_help

__all__ = [
    "COLUMN_LABELS",
    "COLUMN_TERMS",
    "METRIC_FORMAT",
    "METRIC_HELP",
    "MODEL_FIELDS",
    "PARAM_LABELS",
    "PERCENTILE_FORMAT",
    "PERSON_LABELLED",
    "PICK_COLUMN_HELP",
    "SCORE_FORMAT",
    "SETTING_FIELDS",
    "balance_columns",
    "batch_selection_dataset",
    "comparison_runs",
    "device_description",
    "examples_for_label",
    "feature_source_text",
    "glossary_key",
    "help_with_glossary",
    "higher_is_better",
    "labelled_set_name",
    "labels_metric",
    "learning_curve_tables",
    "linked_name",
    "mark_person_labelled",
    "metric_delta",
    "metric_help",
    "model_description",
    "model_settings",
    "oracle_labels_heading",
    "oracle_summary",
    "param_label",
    "param_rows",
    "paired_runs",
    "pair_change_text",
    "person_labelled_sessions",
    "precision_description",
    "round_failure_text",
    "score_bound_note",
    "session_rounds",
    "session_settings",
    "table_column_help",
    "table_column_helps",
    "table_column_label",
    "table_columns",
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
        base = METRIC_HELP[metric[: -len("_tuned")]]
        return (base.replace("at threshold 0.5", "at the tuned threshold")
                + " The tuned threshold is the one global threshold (0.05 ... 0.95) that maximises macro-F1 on "
                  "the validation split.")
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


# ---------------------------------------------------------------------------- glossary links
#: the glossary entry of a column whose name the glossary does not know, or knows as another term's
#: name (AUDI's ``uncertainty`` column is not the uncertainty batch sampler); ``None``: no entry
COLUMN_TERMS: dict[str, str | None] = {
    "position": "unlabelled-pool",
    "order": None,
    "pick": None,
    "reason": None,
    "text": None,
    "n_labels": None,
    "oracle_labels": "oracle",
    "score_rank": "percentile",
    "ranked_among": "percentile",
    "most_uncertain_label": "entropy",
    "top_label": "dq",
    "labels": "label-wise-pool",
    "k": "mmc",
    "beta": "adaptive",
    "uncertainty": "audi",
    "s": "cvirs",
    "v": "cvirs",
}

#: what the columns a picks table adds to a strategy's details mean (the strategies' own columns:
#: :data:`mlal_core.strategies.detail_columns.DETAIL_COLUMN_HELP`)
PICK_COLUMN_HELP: dict[str, str] = {
    "order": "1 = picked first",
    "text": "The sample's text (hover to read more)",
    "oracle_labels": "The oracle's answer",
    "n_labels": "How many labels the oracle gave",
    "answered_by": "Who gave the labels: simulated (the dataset's ground truth) or a person",
    "predicted_top": "The model's three most probable labels, mean over members",
    "predicted_labels": "The labels the model predicts (probability above 0.5)",
    "score_percentile": "Share of the scored set (named in ranked_among) whose score is at most this one; "
                        "100 = the top score",
    "score_rank": "Rank of the score in the scored set (named in ranked_among); 1 = the highest",
    "ranked_among": "The set the percentile and the rank are over (CRAB: its refined pool U*)",
}


def glossary_key(name: str) -> str | None:
    """The glossary entry of a column, metric or score name as a page shows it.

    Parameters
    ----------
    name : str
        A column (``"dQ_AB"``, ``"detail_labels"``), a metric (``"micro_f1"``) or any glossary
        key, name or alias.

    Returns
    -------
    str or None
        The key of its :mod:`mlal_core.glossary` entry (:data:`COLUMN_TERMS` first, then
        :func:`mlal_core.glossary.term`); None when the glossary has none.
    """
    column = str(name).removeprefix("detail_")
    if column in COLUMN_TERMS:
        return COLUMN_TERMS[column]
    try:
        return _glossary.term(column).key
    except ConfigError:
        return None


def help_with_glossary(text: str | None, name: str | None) -> str | None:
    """A help text followed by a link to the glossary entry of ``name``, when there is one.

    Streamlit renders the markdown link in tooltips, captions and expanders; it opens the Glossary
    page at the entry (:func:`mlal_core.glossary.glossary_link`).

    Parameters
    ----------
    text : str or None
        The help text; a full stop is added when it has none.
    name : str or None
        A column, metric, score or glossary name (:func:`glossary_key`).

    Returns
    -------
    str or None
        ``"<text>. Glossary: [dQ_AB (...)](glossary#dq-ab)."``; ``text`` unchanged when ``name`` has
        no entry; ``"Glossary: ..."`` alone when ``text`` is empty.
    """
    key = glossary_key(name) if name else None
    if key is None:
        return text
    link = f"Glossary: {_glossary.glossary_link(key)}."
    body = (text or "").rstrip()
    if not body:
        return link
    return f"{body}{'' if body.endswith(('.', '!', '?')) else '.'} {link}"


def linked_name(name: str, text: str | None = None) -> str:
    """A name as a markdown link to its glossary entry (for "What am I looking at?" texts).

    Parameters
    ----------
    name : str
        A column, metric, score or glossary name (:func:`glossary_key`).
    text : str, optional
        The link text; default ``name``.

    Returns
    -------
    str
        ``"[Micro-F1](glossary#micro-f1)"``; ``text`` (or ``name``) unlinked when the glossary has
        no entry.
    """
    key = glossary_key(name)
    shown = name if text is None else text
    return shown if key is None else _glossary.glossary_link(key, shown)


def table_column_help(column: str) -> str | None:
    """The help of a table column: its meaning and a link to its glossary entry.

    Parameters
    ----------
    column : str
        A column of a picks or rounds table: one of :data:`PICK_COLUMN_HELP`, a strategy's details
        column (with or without the ``detail_`` prefix), a metric (:func:`metric_help`) or another
        glossary name.

    Returns
    -------
    str or None
        :func:`help_with_glossary` of its meaning; None when it has neither a meaning nor an entry.
    """
    meaning = PICK_COLUMN_HELP.get(column) or _detail_column_help(column) or metric_help(column)
    return help_with_glossary(meaning or None, column)


def table_column_helps(columns: Sequence[str]) -> dict[str, str]:
    """:func:`table_column_help` of each column that has one (for ``st.column_config``).

    Parameters
    ----------
    columns : sequence of str
        A table's columns.

    Returns
    -------
    dict
        ``{column: help}``, in the order of ``columns``.
    """
    helps = {str(c): table_column_help(str(c)) for c in columns}
    return {c: h for c, h in helps.items() if h}


# ---------------------------------------------------------------------------- table display
#: display formats (printf style, as ``st.column_config.NumberColumn(format=...)`` takes them), one rule
#: per kind of number, the same on every page. Scores and their components have no fixed scale (a
#: dQ of 1e-4 next to one of 3.2): 4 significant digits, so that close picks do not look tied.
SCORE_FORMAT = "%.4g"
#: metrics and other quantities on a fixed 0-1 scale (F1, AUC, AULC, C, their std): 4 decimals on
#: every row, so a column never mixes "0.493" with "0.4936"
METRIC_FORMAT = "%.4f"
#: percentiles (0-100)
PERCENTILE_FORMAT = "%.1f"

#: the heading a table shows for a column of a picks or rounds table (the CSV keeps the names)
COLUMN_LABELS: dict[str, str] = {
    "round": "Round",
    "order": "Pick",
    "position": "Pool sample",
    "text": "Text",
    "oracle_labels": "Labels given by the oracle",
    "n_labels": "Labels (count)",
    "answered_by": "Answered by",
    "score_percentile": "Percentile",
    "score_rank": "Rank",
    "ranked_among": "Ranked among",
    "predicted_top": "Model's top labels",
    "predicted_labels": "Predicted labels",
    "n_labeled": "Labelled",
    "n_selected": "Picked",
    "n_unlabeled": "Unlabelled",
    "n_candidates": "Candidates scored",
    "mean_ir_selected": "MeanIR of the picks",
    "hard_to_learn_count": "Hard-to-learn in the pool",
    "conflicting_count": "Conflicting in the pool",
    "selected_hard_to_learn": "Hard-to-learn picks",
    "selected_conflicting": "Conflicting picks",
    "label_coverage": "Label coverage of L",
    "batch_coverage": "Label coverage of the batch",
    "labelled_entropy": "Evenness of L",
    "detail_labels": "Label-wise pool of",
    "pools": "Refined pools",
    "reason": "Why",
    "label_pairs": "Exclusive pair",
}
#: the width of a picks table's short columns (Streamlit's "small" / "medium")
_COLUMN_WIDTHS = {"order": "small", "position": "small", "n_labels": "small", "round": "small", "text": "medium"}
#: p-value columns (of the paired comparisons)
_P_VALUE_COLUMNS = ("p", "p_holm")
#: columns whose values are ranks or percentiles within "the scored set" (named in their heading)
_SCORED_SET_COLUMNS = ("score_percentile", "score_rank")


def table_column_label(column: str, scored_set: str = "") -> str:
    """The heading a page shows for a table column (the CSV keeps the column's name).

    Parameters
    ----------
    column : str
        A column of a picks, rounds or comparison table.
    scored_set : str, default ""
        The set the round's percentiles and ranks are over (``round_history.ranked_among(...)["set"]``:
        ``"U*"`` for CRAB); named in the percentile and rank headings.

    Returns
    -------
    str
        :data:`COLUMN_LABELS` (``"Percentile in U*"`` with ``scored_set="U*"``), a metric's name
        (``"Micro-F1"``), a lower-case name in words (``"distance_to_centroid"`` -> ``"Distance to
        centroid"``), else the column unchanged (the paper's symbols: ``"dQ_AB"``, ``"label_dQ"``).
    """
    column = str(column)
    if column in COLUMN_LABELS:
        label = COLUMN_LABELS[column]
        return f"{label} in {scored_set}" if scored_set and column in _SCORED_SET_COLUMNS else label
    if column in METRIC_HELP:
        return _metrics.metric_name(column)
    if column.islower() and column.replace("_", "").isalpha():
        return column.replace("_", " ").capitalize()
    return column


def table_columns(frame: pd.DataFrame, *, scored_set: str = "", number_format: str = SCORE_FORMAT,
                  aliases: Mapping[str, str] | None = None, helps: Mapping[str, str] | None = None,
                  hidden: Sequence[str] = ()) -> dict[str, dict[str, str] | None]:
    """How a page shows each column of a table: heading, help and number format.

    One rule for every page: integers as they are, percentiles with :data:`PERCENTILE_FORMAT`,
    metrics with :data:`METRIC_FORMAT`, p-values (``p``, ``p_holm``) with :data:`SCORE_FORMAT` (a
    p of 3e-05 is not 0.0000), every other float column with ``number_format`` (default
    :data:`SCORE_FORMAT`: scores and score components).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as the CSV writes it.
    scored_set : str, default ""
        The set percentiles and ranks are over (:func:`table_column_label`).
    number_format : str, default SCORE_FORMAT
        The format of the float columns that are neither metrics nor percentiles
        (:data:`METRIC_FORMAT` for a table of 0-1 quantities).
    aliases : mapping of str to str, optional
        ``{shown name: column}`` for columns the page renamed (the oracle's answers under
        :func:`oracle_labels_heading`): help and format are the column's, the heading is the shown
        name with a capital first letter.
    helps : mapping of str to str, optional
        Help texts that replace :func:`table_column_help` for these (shown) columns.
    hidden : sequence of str, default ()
        Columns the page leaves out of the table (they stay in the CSV).

    Returns
    -------
    dict
        ``{column: {"label": ..., "help": ..., "format": ..., "width": ...}}`` in the order of
        ``frame`` (``help``, ``format`` and ``width`` are ``""`` when the column has none; ``width``:
        ``"small"`` for short numbers, ``"medium"`` for the text), ``None`` for a hidden column (a
        ``st.column_config`` entry of ``None`` hides a column).
    """
    aliases, helps = dict(aliases or {}), dict(helps or {})
    out: dict[str, dict[str, str] | None] = {}
    for shown in frame.columns:
        name = aliases.get(str(shown), str(shown))
        if str(shown) in hidden or name in hidden:
            out[str(shown)] = None
            continue
        fmt = ""
        if pd.api.types.is_float_dtype(frame[shown]):
            fmt = (PERCENTILE_FORMAT if name == "score_percentile" else METRIC_FORMAT if name in METRIC_HELP
                   else SCORE_FORMAT if name in _P_VALUE_COLUMNS else number_format)
        label = str(shown)[:1].upper() + str(shown)[1:] if name != str(shown) else table_column_label(name, scored_set)
        out[str(shown)] = {"label": label, "help": helps.get(str(shown)) or table_column_help(name) or "", "format": fmt,
                           "width": _COLUMN_WIDTHS.get(name, "")}
    return out


#: subscript digits, for the labelled set of a round as plain text ("L₃")
_SUBSCRIPTS = str.maketrans("0123456789t", "₀₁₂₃₄₅₆₇₈₉ₜ")


def score_bound_note(diagnostics: dict | None) -> str | None:
    """What a BESRA / CRAB round narrowed by ``max_score_terms`` says under its picks; None otherwise.

    Parameters
    ----------
    diagnostics : dict or None
        The round's ``Selection.diagnostics`` (its ``score_bound`` entry, written by
        ``strategies.bemps_family.scored_candidates``).

    Returns
    -------
    str or None
        ``"Score bound: scored N of M candidates (max_score_terms = X) ..."`` when the round was
        narrowed, else None.
    """
    bound = diagnostics.get("score_bound") if isinstance(diagnostics, dict) else None
    if not isinstance(bound, dict) or not bound.get("narrowed"):
        return None
    scored, total = int(bound["n_scored"]), int(bound["n_candidates"])
    return (f"Score bound: scored {scored:,} of {total:,} candidates (max_score_terms = "
            f"{int(bound['max_score_terms']):,}): {bound.get('how', '')}. The other {total - scored:,} have no "
            "score (empty in the tables and exports, left out of the histograms), not a score of 0.")


def labelled_set_name(t: int | str) -> str:
    """The labelled set of round ``t`` as plain text (sliders, titles, captions): ``"L₃"``.

    Parameters
    ----------
    t : int or str
        A round (``3``), or ``"t"`` for the generic round.

    Returns
    -------
    str
        ``"L"`` followed by ``t`` in Unicode subscript characters (``"L₁₂"``, ``"Lₜ"``).

    Raises
    ------
    ConfigError
        When ``t`` is neither a non-negative round nor ``"t"``.
    """
    text = str(t)
    if not (text == "t" or text.isdigit()):
        raise ConfigError(f"labelled_set_name needs a round (a non-negative integer) or 't'; got {t!r}.")
    return "L" + text.translate(_SUBSCRIPTS)


def labels_metric(labels_present: int, n_labels: int) -> tuple[str, str]:
    """The "Labels" metric of a dataset: a short value, the detail in its help.

    Parameters
    ----------
    labels_present : int
        Labels with at least one training sample.
    n_labels : int
        The dataset's labels.

    Returns
    -------
    tuple of (str, str)
        ``(value, help)``: ``("14", "All 14 labels have ...")``; ``("12/14", "12 of the 14 labels
        have ...; 2 have none")`` when some label has no training sample.
    """
    present, k = int(labels_present), int(n_labels)
    if present == k:
        return f"{k}", f"All {k} labels have at least one training sample."
    return (f"{present}/{k}", f"{present} of the {k} labels have at least one training sample; "
                              f"{k - present} have none (they cannot be learned).")


#: the heading of a strategy parameter's widget (its ``Param`` declares name, default and help)
PARAM_LABELS: dict[str, str] = {
    "alpha": "α (beta scoring rule)", "beta": "β", "adaptive_beta": "Choose β each round",
    "mlm": "Masked-LM folder", "mask_prob": "Masked share of tokens", "max_length": "Tokens per text",
    "batch_size": "Batch size", "radius_quantile": "Radius quantile", "projection_dims": "Projection dimensions",
    "deterministic": "Deterministic (dropout off)", "n_reference": "Reference set size",
    "max_score_terms": "Most score terms per round",
    "top_fraction": "Share into k-means", "gamma": "γ (SLCI vs PFD)", "epochs": "Epochs",
    "d_u": "Sub-feature size d_u", "d_z": "Embedding size d_z", "temperature": "Temperature τ",
    "lr": "Learning rate", "embedding_cap": "Embeddings kept for plots", "device": "Device",
    "pfd_labels": "Labels PFD sums over", "alpha_c": "Attention normalisation α_c",
    "per_label_size": "Samples per label (M)", "hard_size": "Hard-to-learn size (Z₀)",
    "asymmetric_keep": "Label kept of an implied pair", "negative_pool": "Negatively-correlated pool",
    "hard_pool": "Hard-to-learn pool", "correlation_attention": "Label attention",
    "refined_sampling": "Refined pools drawn", "decay": "Decay of Zₜ", "sub_batches": "Sub-batches",
    "unlabeled_ratio": "Unlabelled per labelled", "hidden_size": "Hidden units", "candidates": "Picks drawn from",
    "C": "Regularisation C",
    "tokenizer": "Tokenizer folder",
}


def param_label(param: Any) -> str:
    """The heading of a strategy parameter's widget.

    Parameters
    ----------
    param : mlal_core.validation.Param
        The parameter's declaration.

    Returns
    -------
    str
        :data:`PARAM_LABELS` of its name, else the name in words (``"n_reference"`` ->
        ``"N reference"``).
    """
    name = str(param.name)
    return PARAM_LABELS.get(name) or name.replace("_", " ").capitalize()


def param_rows(params: Sequence[Any], per_row: int = 3) -> list[list[Any]]:
    """Strategy parameters laid out in rows of equal structure: inputs first, switches last.

    A checkbox has no label row above it, so a row that mixes it with inputs staggers; the
    boolean parameters therefore come after the others, in rows of their own.

    Parameters
    ----------
    params : sequence of Param
        The declarations, in declaration order.
    per_row : int, default 3
        Widgets per row.

    Returns
    -------
    list of list of Param
        Rows of at most ``per_row`` parameters: the non-boolean ones, then the boolean ones
        (declaration order kept within each kind).

    Raises
    ------
    ConfigError
        When ``per_row`` is below 1.
    """
    if per_row < 1:
        raise ConfigError(f"per_row must be at least 1; got {per_row}.")

    def is_switch(p: Any) -> bool:
        return isinstance(p.default, bool) or (p.choices is not None and set(p.choices) <= {True, False})

    inputs = [p for p in params if not is_switch(p)]
    switches = [p for p in params if is_switch(p)]
    return [kind[i:i + per_row] for kind in (inputs, switches) for i in range(0, len(kind), per_row)]


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
        ``dataset``, ``name``, ``pool_size`` and ``answered_by`` (who labelled the record's picks:
        ``"simulated"``, ``"person"`` or None) columns added, the config fields of
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
        df["answered_by"] = [rec.answered_by for rec in records]
        initial, names = (info.get("initial_labeled") or {}).get("labels"), info.get("label_names")
        if initial is not None:  # dense rows or, above 500 labels, the store's sparse rows
            initial = decode_labels(initial, len(names) if names else None)
        df = df.assign(**balance_columns(records, initial))
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
        * ``per_group``: one row per ``by`` group: sessions, AULC mean and std over them (NaN for a
          group of one session: a std needs at least two), and with a
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
               "aulc_std": float(d["aulc"].std(ddof=1)) if len(d) > 1 else float("nan")}
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


# ---------------------------------------------------------------------------- who labelled what
#: the mark a person-labelled session carries in curve names and legends
PERSON_LABELLED = " (person-labelled)"


def _round_list(rounds: Sequence[int]) -> str:
    """``"round 2"``, ``"rounds 2, 3"``, ``"rounds 0-4, 7"`` (three or more consecutive rounds as a range)."""
    rounds = sorted(int(r) for r in rounds)
    parts: list[str] = []
    i = 0
    while i < len(rounds):
        j = i
        while j + 1 < len(rounds) and rounds[j + 1] == rounds[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{rounds[i]}-{rounds[j]}")
        else:
            parts.extend(str(r) for r in rounds[i:j + 1])
        i = j + 1
    return ("round " if len(rounds) == 1 else "rounds ") + ", ".join(parts)


def oracle_summary(records: Sequence, next_oracle: str | None = None) -> str:
    """Who answered a session's rounds, in words, from its records' ``answered_by``.

    Parameters
    ----------
    records : sequence of RoundRecord
        The session's records (``session.history``); records that picked nothing are ignored.
    next_oracle : {"simulated", "person"}, optional
        Who will label the next picks; said when it differs from who labelled the last round.

    Returns
    -------
    str
        ``"simulated (ground truth)"``, ``"a person (rounds 2, 3), simulated otherwise"`` (the initial
        set always comes from the ground truth), ``"not recorded (rounds stored before v2)"``, with
        ``"; next picks: a person"`` when ``next_oracle`` differs from the last round's.
    """
    queries = [r for r in records if r.selected is not None]
    person = [r.round for r in queries if r.answered_by == "person"]
    unknown = [r.round for r in queries if r.answered_by is None]
    if person:
        text = f"a person ({_round_list(person)}), simulated otherwise"
    elif queries and len(unknown) == len(queries):
        text = "not recorded (rounds stored before v2)"
    else:
        text = "simulated (ground truth)"
    if person and unknown:
        text += f"; not recorded for {_round_list(unknown)}"
    last = queries[-1].answered_by if queries else "simulated"
    if next_oracle is not None and next_oracle != last:
        text += f"; next picks: {'a person' if next_oracle == 'person' else 'simulated'}"
    return text


def oracle_labels_heading(answered_by: str | None) -> str:
    """The heading of the column holding the oracle's answers in a picks table.

    Parameters
    ----------
    answered_by : {"simulated", "person"} or None
        ``RoundRecord.answered_by`` of the round.

    Returns
    -------
    str
        ``"labels given by the oracle: a person"``, ``"labels given by the oracle: simulated (ground
        truth)"``, or ``"labels given by the oracle"`` when the round does not record it.
    """
    who = {"person": "a person", "simulated": "simulated (ground truth)"}.get(answered_by or "")
    return "labels given by the oracle" + (f": {who}" if who else "")


def person_labelled_sessions(runs: pd.DataFrame) -> list[str]:
    """The sessions of ``runs`` with at least one round labelled by a person.

    Parameters
    ----------
    runs : pandas.DataFrame
        Rounds of several sessions (:func:`session_rounds`, with its ``answered_by`` column).

    Returns
    -------
    list of str
        Their ids, in ``runs``' order; empty when ``runs`` has no ``answered_by`` column.
    """
    if "answered_by" not in runs or runs.empty:
        return []
    person = runs.loc[runs["answered_by"] == "person", "session"]
    return list(pd.unique(person))


def mark_person_labelled(runs: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``runs`` with :data:`PERSON_LABELLED` appended to ``columns`` for person-labelled sessions.

    A person-labelled session's curve is then drawn, named and averaged apart from the simulated
    sessions of the same setting.

    Parameters
    ----------
    runs : pandas.DataFrame
        Rounds of several sessions (:func:`session_rounds`).
    columns : sequence of str
        The text columns to mark (``"curve"``, ``"session_label"``, ...); missing ones are skipped, and
        a value already marked is not marked twice.

    Returns
    -------
    pandas.DataFrame
        A copy of ``runs``.
    """
    out = runs.copy()
    person = out["session"].isin(person_labelled_sessions(runs)) if "session" in out else None
    if person is None or not person.any():
        return out
    for col in columns:
        if col in out:
            out[col] = out[col].astype(object)
            values = out.loc[person, col].astype(str)
            out.loc[person, col] = values.where(values.str.endswith(PERSON_LABELLED), values + PERSON_LABELLED)
    return out


def comparison_runs(runs: pd.DataFrame, include_person: bool = False) -> pd.DataFrame:
    """The rounds that enter the paired comparison statistics.

    Parameters
    ----------
    runs : pandas.DataFrame
        Rounds of several sessions (:func:`session_rounds`).
    include_person : bool, default False
        Keep person-labelled sessions, as a strategy of their own (``strategy`` marked with
        :data:`PERSON_LABELLED`, so they are never paired with simulated runs of their strategy as if
        they were the same arm). False: leave them out.

    Returns
    -------
    pandas.DataFrame
        A copy of ``runs`` (index reset).
    """
    person = runs["session"].isin(person_labelled_sessions(runs)) if "session" in runs else None
    if person is None or not person.any():
        return runs.reset_index(drop=True)
    if not include_person:
        return runs[~person].reset_index(drop=True)
    return mark_person_labelled(runs, ["strategy"]).reset_index(drop=True)


# ---------------------------------------------------------------------------- small formatting rules
def metric_delta(value: float, previous: float | None, *, decimals: int = 3,
                 higher_is_better: bool = True) -> dict[str, Any]:
    """The ``delta``, ``delta_color`` and ``delta_arrow`` of a ``st.metric`` showing a round's change.

    A change that rounds to zero at ``decimals`` shows as ``0.000`` in grey without an arrow (not
    ``-0.000`` in red).

    Parameters
    ----------
    value : float
        This round's value.
    previous : float or None
        The previous round's value (None: no previous round).
    decimals : int, default 3
        Decimals shown.
    higher_is_better : bool, default True
        False for a loss: a fall shows green.

    Returns
    -------
    dict
        Keyword arguments for ``st.metric``: ``delta`` (None when either value is missing or not
        finite), ``delta_color`` (``"normal"``, ``"inverse"`` or ``"off"``) and ``delta_arrow``
        (``"auto"`` or ``"off"``).
    """
    if previous is None or not (math.isfinite(value) and math.isfinite(previous)):
        return {"delta": None, "delta_color": "off", "delta_arrow": "auto"}
    change = float(value) - float(previous)
    if round(change, decimals) == 0:
        return {"delta": f"{0.0:.{decimals}f}", "delta_color": "off", "delta_arrow": "off"}
    return {"delta": f"{change:+.{decimals}f}", "delta_color": "normal" if higher_is_better else "inverse",
            "delta_arrow": "auto"}


def batch_selection_dataset(options: Sequence[str], session_dataset: str | None) -> tuple[str, str]:
    """The dataset the Batch selection page starts with, and a sentence saying why.

    Parameters
    ----------
    options : sequence of str
        The datasets the page can run on (bundled tabular sets).
    session_dataset : str or None
        The current session's dataset name (None: no session).

    Returns
    -------
    tuple of (str, str)
        The current session's dataset when it is one of ``options``, else the first option; and the
        sentence.

    Raises
    ------
    ConfigError
        For empty ``options``.
    """
    if not options:
        raise ConfigError("batch_selection_dataset needs at least one dataset to choose from.")
    if session_dataset in options:
        return str(session_dataset), f"Dataset **{session_dataset}**: the current session's."
    first = str(options[0])
    if session_dataset is None:
        return first, f"Dataset **{first}** (no session is open; choose another above)."
    return first, (f"Dataset **{first}**: the current session's dataset, {session_dataset}, cannot be used here "
                   f"(batch selection trains on a bundled tabular dataset's own features: {', '.join(options)}).")


def _unordered(pairs: Any) -> set[tuple[int, int]]:
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return {(int(min(m, n)), int(max(m, n))) for m, n in arr}


def pair_change_text(change: Mapping[str, Any], before: str, after: str) -> str:
    """One sentence on the CRAB pairs that appeared and disappeared between two labelled sets.

    Asymmetric pairs are ordered (cell (m, n): n implies m) and count one cell each; an exclusive pair
    is symmetric: counted once, whichever direction it is given in, and marked on two cells.

    Parameters
    ----------
    change : mapping
        :func:`mlal_core.inspection.round_history.correlation_change` (``new_asymmetric``,
        ``gone_asymmetric``, ``new_exclusive``, ``gone_exclusive``).
    before, after : str
        The names of the two labelled sets (``"L_0"``, ``"L_3"``, ``"whole pool"``).

    Returns
    -------
    str
    """
    def n_ordered(key: str) -> int:
        return len({tuple(p) for p in np.asarray(change[key], dtype=np.int64).reshape(-1, 2).tolist()})

    new_x, gone_x = len(_unordered(change["new_exclusive"])), len(_unordered(change["gone_exclusive"]))
    return (f"From {before} to {after}: {n_ordered('new_asymmetric')} asymmetric pairs appeared and "
            f"{n_ordered('gone_asymmetric')} disappeared (one cell each); {new_x} exclusive pairs appeared and "
            f"{gone_x} disappeared (an exclusive pair is symmetric: two cells, (m, n) and (n, m), on the matrix).")


def round_failure_text(error: str, n_completed: int) -> str:
    """What the app says when a round failed: the error as one sentence (never ".." when the error
    ends in a period), and that the completed rounds are stored.

    Parameters
    ----------
    error : str
        The error message.
    n_completed : int
        Rounds stored before the failure.

    Returns
    -------
    str
        The message.
    """
    cause = str(error).strip().rstrip(".") or "unknown error"
    rounds = "1 completed round is" if n_completed == 1 else f"{n_completed:,} completed rounds are"
    return f"The round could not run: {cause}. The {rounds} stored; fix the cause and run again."
