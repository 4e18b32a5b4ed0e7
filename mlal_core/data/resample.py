"""Top-K label subsets resampled to a chosen MeanIR, in the spirit of CRAB's RCV1-T10-x sets.

:func:`resample_to_mean_ir` builds such a subset from any dataset. A **derived dataset** is one built
from a bundled dataset and named by the settings, ``<base>-T<top_k>-IR<target>`` (for example
``reuters21578-T10-IR50``: the 10 most frequent Reuters labels, the training pool thinned to a MeanIR
of 50). ``mlal_core.data.load`` accepts such a name wherever a bundled dataset name is accepted
(experiment configs, ``python -m mlal_core run --dataset``, the app), so the name is the whole
recipe and round-trips: the dataset it loads is named exactly as written. The resampling seed is
fixed (:data:`RESAMPLE_RANDOM_STATE`) and the target may lie on either side of the top-K MeanIR
(``allow_increase=True``), so a name always means the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mlal_core import stats
from mlal_core.data.dataset import MultiLabelDataset, Split
from mlal_core.errors import ConfigError

_PROVENANCE_KEYS = ("description", "source", "citation", "licence", "licence_short", "split_note",
                    "feature_names", "n_features")

#: the seed of the row removal behind every derived dataset name (the pool does not vary with the run seed)
RESAMPLE_RANDOM_STATE = 0

#: ``<base>-T<top_k>-IR<target>``: top_k an integer, target a plain decimal (``5``, ``2.5``)
DERIVED_NAME_PATTERN = re.compile(r"^(?P<base>.+)-T(?P<top_k>[0-9]+)-IR(?P<mean_ir>[0-9]+(?:\.[0-9]+)?)$")

#: the syntax in words, for error messages and help texts
DERIVED_NAME_SYNTAX = ("<bundled dataset>-T<top_k>-IR<target MeanIR>, e.g. 'reuters21578-T10-IR50' (the 10 most "
                       "frequent labels, the training pool resampled to MeanIR 50)")

#: the derived datasets the app and the CLI offer beside the bundled ones: CRAB's RCV1-T10-x levels
#: (x = 5, 10, 20, 50) built from Reuters-21578, whose top-10 training MeanIR is 8.4 before resampling
DERIVED_PRESETS: tuple[str, ...] = ("reuters21578-T10-IR5", "reuters21578-T10-IR10", "reuters21578-T10-IR20",
                                    "reuters21578-T10-IR50")


@dataclass(frozen=True)
class DerivedName:
    """A parsed derived-dataset name: the base dataset, the labels kept and the target MeanIR."""

    base: str
    top_k: int
    mean_ir: float

    @property
    def name(self) -> str:
        """The canonical name, ``<base>-T<top_k>-IR<target>`` (:func:`derived_name`)."""
        return derived_name(self.base, self.top_k, self.mean_ir)


def derived_name(base: str, top_k: int, target_mean_ir: float) -> str:
    """The name of the derived dataset ``base`` resampled to ``top_k`` labels and ``target_mean_ir``.

    Parameters
    ----------
    base : str
        The dataset resampled.
    top_k : int
        Labels kept.
    target_mean_ir : float
        The target train MeanIR, written with ``{:g}`` (``5.0`` -> ``5``, ``2.5`` -> ``2.5``).

    Returns
    -------
    str
        ``<base>-T<top_k>-IR<target>``, the name :func:`resample_to_mean_ir` gives its result.
    """
    return f"{base}-T{int(top_k)}-IR{float(target_mean_ir):g}"


def parse_derived_name(name: str) -> DerivedName | None:
    """Read a derived-dataset name ``<base>-T<top_k>-IR<target>`` (module docstring).

    Only the syntax and the values that need no data are checked here (``top_k`` >= 2, target >= 1,
    the canonical spelling); whether the base exists and has ``top_k`` labels is checked by
    ``mlal_core.data.check_name`` / ``load``.

    Parameters
    ----------
    name : str
        A dataset name.

    Returns
    -------
    DerivedName or None
        The parts, or None when ``name`` does not have the form (then it can only be a bundled name).

    Raises
    ------
    ConfigError
        The name has the form but ``top_k`` < 2, the target is below 1, or it is not spelled the
        canonical way (``IR5.0`` for ``IR5``, ``T010`` for ``T10``: the message gives the spelling).
    """
    m = DERIVED_NAME_PATTERN.match(str(name))
    if m is None:
        return None
    parsed = DerivedName(m["base"], int(m["top_k"]), float(m["mean_ir"]))
    if parsed.top_k < 2:
        raise ConfigError(f"Dataset {name!r}: top_k (the number after -T) must be at least 2; got {parsed.top_k}.")
    if parsed.mean_ir < 1.0:
        raise ConfigError(f"Dataset {name!r}: the target MeanIR (the number after -IR) must be >= 1 (MeanIR is "
                          f"never below 1); got {m['mean_ir']}.")
    if parsed.name != name:
        raise ConfigError(f"Dataset {name!r}: write it as {parsed.name!r} (a derived dataset is named "
                          "exactly as it is built, so the same set never has two names).")
    return parsed


def _reduce_to(P: np.ndarray, sizes: np.ndarray, counts: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """How many rows to remove from each label-set group so that labels come down to ``targets``.

    Repeatedly takes the group all of whose labels are still above their target, with the
    largest smallest excess (so single-label rows of the most over-represented label go first),
    and removes as many of its rows as that smallest excess allows. A label only ever loses rows
    while it is above its target, so labels at or below target are never touched; a label whose
    rows all carry such labels keeps its excess. At most G + K iterations.
    """
    c = counts.astype(np.int64).copy()
    left = sizes.astype(np.int64).copy()
    Pb = P.astype(bool)
    big = np.iinfo(np.int64).max
    while True:
        excess = c - targets
        over = excess > 0
        ok = (left > 0) & ~(Pb & ~over[None, :]).any(axis=1)
        if not ok.any():
            break
        min_excess = np.where(Pb, excess[None, :], big).min(axis=1)
        g = int(np.argmax(np.where(ok, min_excess, -1)))
        k = int(min(left[g], min_excess[g]))
        c -= k * P[g]
        left[g] -= k
    return sizes - left


def resample_to_mean_ir(
    ds: MultiLabelDataset,
    top_k: int = 10,
    target_mean_ir: float | None = None,
    random_state: int = 0,
    *,
    allow_increase: bool = False,
    min_label_count: int = 1,
) -> tuple[MultiLabelDataset, float]:
    """Keep the ``top_k`` most frequent labels and subsample training rows to a target MeanIR.

    MeanIR is the mean over labels of ``IRLbl_j = max_k count_k / count_j`` (Charte et al. 2015;
    ``docs/METHODS.md``, "Label statistics").

    Algorithm:

    1. The ``top_k`` labels with the most positives in the **train** split are kept (ties: the
       earlier label in ``ds.label_names``), in their original order. In every split, rows left
       without any kept label are dropped.
    2. Only the train split (the active-learning pool) is subsampled; valid and test keep every
       remaining row, so results at different imbalance levels are evaluated on the same data, as
       in CRAB's RCV1-T10-x sets (train MeanIR 5 / 10 / 20 / 50, test fixed).
    3. Target label counts follow a power profile with one free exponent g. Lowering MeanIR:
       ``t_j = c_min (c_j / c_min)^g``, g in [0, 1] (g = 1 keeps the counts, g = 0 caps every label
       at the rarest one's count), so the frequent labels are thinned and the rare ones untouched.
       Raising it (only with ``allow_increase=True``): ``t_j = c_max (c_j / c_max)^g``, g >= 1, so
       the rare labels are thinned (never below ``min_label_count``) and the most frequent kept.
    4. Rows are removed towards the targets by label-set group: always from the group all of whose
       labels are still above target, with the largest smallest excess (single-label rows of the
       most over-represented label first). A label at or below its target never loses a row, so
       co-occurring rare labels are protected. Which rows of a group go is fixed by a seeded
       permutation (``random_state``); nothing else is random.
    5. g is found by bisection (MeanIR grows with g); of the two bracketing outcomes the one
       closer to the target is kept. The counts are integers, so the achieved MeanIR differs from
       the target by at most about one count step of one label.

    Parameters
    ----------
    ds : MultiLabelDataset
        The dataset to resample.
    top_k : int, default 10
        Labels to keep, at least 2 and at most the number of labels present in train.
    target_mean_ir : float
        The train MeanIR to reach, >= 1 (required, though it defaults to None).
    random_state : int, default 0
        Seed of the permutation that picks which rows of a group are removed.
    allow_increase : bool, default False
        Allow a target above the top-K train MeanIR (thinning the rare labels).
    min_label_count : int, default 1
        The fewest train positives a kept label may have, before and after resampling.

    Returns
    -------
    dataset : MultiLabelDataset
        Named ``<name>-T<top_k>-IR<target>``; ``meta["resampled"]`` records the settings and row counts.
    achieved : float
        The MeanIR of its train split.

    Raises
    ------
    ConfigError
        ``target_mean_ir`` missing, below 1 or not finite; ``min_label_count`` < 1; ``top_k`` outside
        [2, labels present in train]; a kept label with fewer than ``min_label_count`` train
        positives; a target above the top-K train MeanIR without ``allow_increase=True``; or a target
        beyond what the removal can reach (g = 0, or every label below the top at
        ``min_label_count``; the message gives the bound).
    """
    if target_mean_ir is None:
        raise ConfigError("Pass target_mean_ir (the MeanIR the train split should have).")
    target = float(target_mean_ir)
    top_k = int(top_k)
    if not np.isfinite(target) or target < 1.0:
        raise ConfigError(f"target_mean_ir must be a number >= 1 (MeanIR is never below 1); got {target_mean_ir}.")
    if min_label_count < 1:
        raise ConfigError(f"min_label_count must be >= 1; got {min_label_count}.")
    counts = stats.label_counts(ds.train.Y)
    present = int((counts > 0).sum())
    if top_k < 2 or top_k > present:
        raise ConfigError(f"top_k must be between 2 and the {present} labels present in the train split of "
                          f"{ds.name!r}; got {top_k}.")
    keep = np.sort(np.argsort(-counts, kind="stable")[:top_k])

    def restrict(split: Split) -> tuple[Split, int]:
        s = split.select_labels(keep)
        has = np.asarray((s.Y != 0).sum(axis=1)).ravel() > 0  # dense or sparse (top_k > 500) Y
        return s.subset(np.flatnonzero(has)), int((~has).sum())

    (train, drop_tr), (valid, drop_va), (test, drop_te) = (restrict(ds.train), restrict(ds.valid), restrict(ds.test))
    if int(stats.label_counts(train.Y).min()) < min_label_count:
        raise ConfigError(f"A kept label has fewer than min_label_count={min_label_count} positives in train.")

    patterns, group_of = np.unique(train.dense_Y(), axis=0, return_inverse=True)
    group_of = group_of.ravel()
    P = patterns.astype(np.int64)
    sizes = np.bincount(group_of, minlength=P.shape[0]).astype(np.int64)
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(train))
    members = [order[group_of[order] == g] for g in range(P.shape[0])]  # rows of each group, removal order
    c = stats.label_counts(train.Y)
    start = stats.mean_ir(train.Y)
    if target > start and not allow_increase:
        raise ConfigError(
            f"target_mean_ir={target:g} is above the MeanIR of the top-{top_k} train split of {ds.name!r} "
            f"({start:.4g}). Subsampling lowers MeanIR by default; pass allow_increase=True to thin the "
            "rare labels instead."
        )

    # target counts t_j(g): a power profile through the rarest (lowering) or the most frequent (raising) label
    lower = target <= start
    anchor = float(c.min() if lower else c.max())
    ratio = c / anchor
    if lower:
        g_lo, g_hi = 0.0, 1.0  # g = 0: every label capped at the rarest count; g = 1: unchanged
    else:
        rare = ratio < 1
        need = np.log(min_label_count / anchor) / np.log(ratio[rare]) if rare.any() else np.array([1.0])
        g_lo, g_hi = 1.0, max(1.0, float(need.max()))  # g_hi: every label below the top at min_label_count

    def outcome(g: float) -> tuple[float, np.ndarray]:
        targets = np.maximum(np.round(anchor * ratio**g), min_label_count).astype(np.int64)
        removed = _reduce_to(P, sizes, c, targets)
        new_c = c - removed @ P
        return float((new_c.max() / new_c).mean()), removed

    ir_lo, rem_lo = outcome(g_lo)  # lowering: the lowest reachable; raising: the start
    ir_hi, rem_hi = outcome(g_hi)  # lowering: the start; raising: the highest reachable
    reach = ir_lo if lower else ir_hi
    if (lower and target < reach - 1e-12) or (not lower and target > reach + 1e-12):
        word = "lowest" if lower else "highest"
        raise ConfigError(
            f"target_mean_ir={target:g} is out of reach: the {word} train MeanIR this resampler reaches for the "
            f"top-{top_k} labels of {ds.name!r} is {reach:.4g} (it starts at {start:.4g}). "
            f"Choose a target {'>=' if lower else '<='} {reach:.4g}."
        )
    # bisection on g: MeanIR grows with g; keep [g_lo, g_hi] bracketing the target
    for _ in range(60):
        if g_hi - g_lo < 1e-12 or ir_lo == target or ir_hi == target:
            break
        mid = 0.5 * (g_lo + g_hi)
        ir_mid, rem_mid = outcome(mid)
        if ir_mid <= target:
            g_lo, ir_lo, rem_lo = mid, ir_mid, rem_mid
        else:
            g_hi, ir_hi, rem_hi = mid, ir_mid, rem_mid
    removed = rem_lo if abs(ir_lo - target) <= abs(ir_hi - target) else rem_hi
    dropped = np.concatenate([members[g][: removed[g]] for g in range(P.shape[0])])
    new_train = train.subset(np.setdiff1d(np.arange(len(train)), dropped))
    achieved = stats.mean_ir(new_train.Y)

    label_names = [ds.label_names[j] for j in keep]
    name = derived_name(ds.name, top_k, target)
    meta = {k: ds.meta[k] for k in _PROVENANCE_KEYS if k in ds.meta}
    if "valid_split" in ds.meta:
        meta["valid_split"] = f"{ds.meta['valid_split']}; then the {len(valid)} rows with a kept label"
    meta.update({
        "name": name,
        "format": ds.kind,
        "label_names": label_names,
        "resampled": {
            "from": ds.name,
            "top_k": top_k,
            "labels_kept": label_names,
            "target_mean_ir": target,
            "achieved_mean_ir": achieved,
            "top_k_train_mean_ir_before": start,
            "direction": "lowered" if lower else "raised",
            "train_rows": {"original": len(ds.train), "with_a_kept_label": len(train), "kept": len(new_train)},
            "rows": {"valid": len(valid), "test": len(test)},
            "rows_dropped_without_kept_label": {"train": drop_tr, "valid": drop_va, "test": drop_te},
            "random_state": random_state,
            "min_label_count": min_label_count,
            "algorithm": "top-K labels by train frequency; greedy removal of train rows by label-set group "
                         "towards the target MeanIR (see mlal_core.data.resample_to_mean_ir); valid/test not subsampled",
        },
    })
    out = MultiLabelDataset(name=name, kind=ds.kind, label_names=label_names, train=new_train, valid=valid,
                            test=test, meta=meta, valid_carved=ds.valid_carved)
    return out, achieved
