"""The bundled datasets (``data/<name>/{train,valid,test}.parquet`` + ``meta.json``), and the derived
datasets named ``<base>-T<top_k>-IR<target>`` built from them (:mod:`mlal_core.data.resample`)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from mlal_core import paths
from mlal_core.data.dataset import SPARSE_LABELS_ABOVE_K, MultiLabelDataset, Split
from mlal_core.data.resample import (DERIVED_NAME_SYNTAX, DERIVED_PRESETS, RESAMPLE_RANDOM_STATE, DerivedName,
                                     parse_derived_name, resample_to_mean_ir)
from mlal_core.data.splits import carve
from mlal_core.data.synthetic import (XMTC_NAME_SYNTAX, XMTC_PRESETS, XMTC_TEST_FRACTION, make_xmtc,
                                      parse_xmtc_name)
from mlal_core.errors import ConfigError, DataValidationError, unknown_name_error

#: The bundled datasets folder at import time (``<repo>/data``, or ``$MLAL_DATA_DIR``).
#: :func:`load` and :func:`available` re-read the environment on every call.
DATA_DIR: Path = paths.data_dir()


def _resolve_dir(data_dir) -> Path:
    return Path(data_dir).expanduser().resolve() if data_dir is not None else paths.data_dir().resolve()


def available(data_dir=None, *, derived: bool = False) -> list[str]:
    """Names of the datasets in the data folder (sub-folders with ``meta.json`` and ``train.parquet``).

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data folder; default ``paths.data_dir()`` (``$MLAL_DATA_DIR`` or ``<repo>/data``).
    derived : bool, default False
        Also list the derived presets (``mlal_core.data.resample.DERIVED_PRESETS``, CRAB's RCV1-T10-x
        levels built from Reuters) whose base is in the folder, after the bundled names, and then the
        generated presets (``mlal_core.data.synthetic.XMTC_PRESETS``, an extreme multi-label set). Any
        other ``<base>-T<top_k>-IR<target>`` or ``xmtc-synthetic-N<n>-K<k>`` name loads too
        (:func:`load`); the presets are what a list offers.

    Returns
    -------
    list of str
        The folder names, sorted (then the presets, in their order); empty when the folder does not exist.
    """
    root = _resolve_dir(data_dir)
    if not root.is_dir():
        return []
    names = sorted(
        p.name for p in root.iterdir() if p.is_dir() and (p / "meta.json").is_file() and (p / "train.parquet").is_file()
    )
    if derived:
        names += [n for n in DERIVED_PRESETS if n not in names and _parsed(n).base in names]
        names += [n for n in XMTC_PRESETS if n not in names]
    return names


def _parsed(name: str) -> DerivedName:
    parsed = parse_derived_name(name)
    assert parsed is not None, name  # only called on names that have the form
    return parsed


def _n_labels_declared(name: str, root: Path) -> int:
    """The label count of a bundled (meta.json) or derived (its top_k) dataset, without loading it."""
    parsed = parse_derived_name(name) if not (root / name / "meta.json").is_file() else None
    if parsed is not None:
        return parsed.top_k
    generated = parse_xmtc_name(name) if not (root / name / "meta.json").is_file() else None
    if generated is not None:
        return generated.n_labels
    meta = json.loads((root / name / "meta.json").read_text(encoding="utf-8"))
    return len(meta["label_names"])


def check_name(name: str, *, data_dir=None) -> str:
    """Check a dataset name without loading the data: a bundled dataset, or a well-formed derived one.

    A derived name ``<base>-T<top_k>-IR<target>`` passes when its base passes (bundled, or derived in
    turn), ``2 <= top_k <=`` the base's label count and the target is >= 1, spelled canonically.
    Whether the resampler reaches the target is known only once the base is loaded (:func:`load`
    raises then, giving the reachable range).

    Parameters
    ----------
    name : str
        The dataset name.
    data_dir : str or path-like, optional
        The data folder; default ``paths.data_dir()``.

    Returns
    -------
    str
        ``name``, unchanged.

    Raises
    ------
    ConfigError
        An unknown bundled name (with close names and the derived syntax), a derived name whose base
        is unknown, ``top_k`` outside [2, base labels], or a target below 1.
    """
    root = _resolve_dir(data_dir)
    known = available(root)
    if not isinstance(name, str):
        raise ConfigError(f"A dataset name must be a string; got {name!r}.")
    if name in known:
        return name
    parsed = parse_derived_name(name)
    if parsed is None:
        if parse_xmtc_name(name) is not None:  # raises on a malformed xmtc-synthetic name
            return name
        err = unknown_name_error("dataset", name, available(root, derived=True))
        raise ConfigError(f"{err} A derived dataset is named {DERIVED_NAME_SYNTAX}; a generated extreme "
                          f"multi-label one {XMTC_NAME_SYNTAX}.")
    if parsed.base not in known and parse_derived_name(parsed.base) is None and parse_xmtc_name(parsed.base) is None:
        err = unknown_name_error("base dataset", parsed.base, known, plural="bundled datasets")
        raise ConfigError(f"Dataset {name!r}: {err}")
    check_name(parsed.base, data_dir=root)  # a derived base: its own checks
    n_labels = _n_labels_declared(parsed.base, root)
    if parsed.top_k > n_labels:
        raise ConfigError(f"Dataset {name!r}: top_k={parsed.top_k} is more than the {n_labels} labels of "
                          f"{parsed.base!r}; use -T2 to -T{n_labels}.")
    return name


def labels_to_matrix(labels: pa.Array | pa.ChunkedArray, label_names: list[str], where: str) -> Any:
    """Turn an Arrow ``list<string>`` column into an ``(n, K)`` uint8 matrix in ``label_names`` order.

    The matrix is dense for K <= :data:`~mlal_core.data.dataset.SPARSE_LABELS_ABOVE_K` and a CSR matrix
    above, built straight from the column's offsets (no dense ``(n, K)`` array is ever made).

    Parameters
    ----------
    labels : pyarrow.Array or pyarrow.ChunkedArray
        One list of label names per row.
    label_names : list of str
        The K label names; column j of the result is ``label_names[j]``.
    where : str
        Where the column comes from (a file path), for the error message.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix, shape (n, K), uint8
        1 where a row carries the label, else 0 (sparse when K > ``SPARSE_LABELS_ABOVE_K``).

    Raises
    ------
    DataValidationError
        A label is not in ``label_names``.
    """
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    n, K = len(labels), len(label_names)
    sparse = K > SPARSE_LABELS_ABOVE_K
    if n == 0:
        return sp.csr_matrix((0, K), dtype=np.uint8) if sparse else np.zeros((0, K), dtype=np.uint8)
    offsets = labels.offsets.to_numpy(zero_copy_only=False)
    start = offsets[0]
    values = labels.values.slice(start, offsets[-1] - start).to_numpy(zero_copy_only=False)
    codes = pd.Index(label_names).get_indexer(values)  # -1 for a name not in label_names
    if (codes < 0).any():
        unknown = sorted({str(v) for v, c in zip(values, codes) if c < 0})
        raise DataValidationError(f"{where}: labels not in meta.json label_names: {', '.join(unknown[:10])}.")
    if sparse:
        Y = sp.csr_matrix((np.ones(codes.size, dtype=np.uint8), codes.astype(np.int32), offsets - start),
                          shape=(n, K))
        Y.sum_duplicates()  # a label listed twice in a row: one positive
        Y.data[:] = 1
        return Y
    Y = np.zeros((n, K), dtype=np.uint8)
    rows = np.repeat(np.arange(n), np.diff(offsets))
    Y[rows, codes] = 1
    return Y


def _read_split(path: Path, kind: str, label_names: list[str], n_features: int | None) -> Split:
    table = pq.read_table(path)
    Y = labels_to_matrix(table.column("labels"), label_names, str(path))
    if kind == "text":
        texts = table.column("text").to_pylist()
        return Split(Y=Y, texts=texts)
    if n_features is None:
        raise DataValidationError(f"{path.parent}/meta.json: a tabular dataset must give n_features.")
    cols = [f"f{i}" for i in range(n_features)]
    present = set(table.column_names)
    missing = [c for c in cols if c not in present]
    if missing:
        raise DataValidationError(f"{path}: feature columns missing: {', '.join(missing[:10])}.")
    X = np.column_stack([table.column(c).to_numpy() for c in cols]).astype(np.float32, copy=False)
    return Split(Y=Y, X=X)


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, root: str, valid_fraction: float, random_state: int) -> MultiLabelDataset:
    folder = Path(root) / name
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    kind = meta.get("format", "text")
    if kind not in ("text", "tabular"):
        raise DataValidationError(f"{folder}/meta.json: unknown format {kind!r}.")
    label_names = list(meta["label_names"])
    n_features = meta.get("n_features")
    parts = {s: _read_split(folder / f"{s}.parquet", kind, label_names, n_features)
             for s in ("train", "valid", "test") if (folder / f"{s}.parquet").is_file()}
    pa.default_memory_pool().release_unused()  # Arrow keeps freed buffers: 260 MB after EURLEX57K's texts
    if "test" not in parts:
        raise DataValidationError(f"{folder}: no test.parquet.")
    valid_carved = False
    if "valid" not in parts:
        train = parts["train"]
        kept, carved = carve(train.Y, valid_fraction, random_state)
        parts["train"], parts["valid"] = train.subset(kept), train.subset(carved)
        valid_carved = valid_fraction > 0
        meta["valid_split"] = (
            f"carved from the official train split: {len(carved)} of {len(train)} rows "
            f"(valid_fraction={valid_fraction}, iterative stratification, random_state={random_state})"
            if valid_carved else "none: valid_fraction=0, the valid split is empty"
        )
    else:
        meta["valid_split"] = "official"
    for s in parts.values():
        s.read_only()
    return MultiLabelDataset(name=name, kind=kind, label_names=label_names, train=parts["train"],
                             valid=parts["valid"], test=parts["test"], meta=meta, valid_carved=valid_carved)


def load(name: str, *, data_dir=None, valid_fraction: float = 0.1, random_state: int = 0) -> MultiLabelDataset:
    """Load a bundled dataset, a derived one named ``<base>-T<top_k>-IR<target>``, or a generated one.

    ``Y`` columns follow ``meta.json["label_names"]``. A dataset without an official validation
    split gets one carved from its training split: ``valid_fraction`` of the training rows, chosen
    by seeded iterative stratification (``random_state``), with ``valid_carved=True``
    (``valid_fraction=0`` leaves the validation split empty).

    A derived name (:mod:`mlal_core.data.resample`, e.g. ``reuters21578-T10-IR50``) loads its base
    with the same ``valid_fraction`` / ``random_state`` and resamples it with
    ``resample_to_mean_ir(base, top_k, target, RESAMPLE_RANDOM_STATE, allow_increase=True)``: the
    ``top_k`` most frequent train labels, rows left without a kept label dropped from every split, and
    only the train split (the pool) thinned to the target MeanIR. ``meta["resampled"]`` records the
    base, the settings, the achieved MeanIR and the row counts (``describe`` shows them).

    A generated name ``xmtc-synthetic-N<n>-K<k>[-text][-S<seed>]`` (:data:`XMTC_NAME_SYNTAX`) is
    :func:`mlal_core.data.synthetic.make_xmtc` with those settings (seed 0 when ``-S`` is left out),
    ``valid_fraction`` of the rows as valid split and 10% as test (``random_state`` is not used: the
    seed is part of the name).

    Label matrices with K > 500 are ``scipy.sparse.csr_matrix`` (EURLEX57K, the generated sets;
    :data:`~mlal_core.data.dataset.SPARSE_LABELS_ABOVE_K`), read from the Parquet offsets without a
    dense copy.

    Parsed datasets (bundled, derived and generated) are cached in-process per ``(name, data folder,
    valid_fraction, random_state)``. Each call returns a fresh :class:`MultiLabelDataset` with its own
    ``meta`` and text lists, but the ``Y`` / ``X`` arrays are shared with the cache and read-only
    (``writeable=False``): copy them before modifying.

    Parameters
    ----------
    name : str
        A dataset in the data folder (:func:`available`) or a derived name (:func:`check_name`).
    data_dir : str or path-like, optional
        The data folder; default ``paths.data_dir()``.
    valid_fraction : float, default 0.1
        Share of the training rows carved off as the validation split, in [0, 1); used only when
        there is no ``valid.parquet``.
    random_state : int, default 0
        Seed of the carve.

    Returns
    -------
    MultiLabelDataset
        The train / valid / test splits and ``meta`` (with ``valid_split`` saying where valid came from).

    Raises
    ------
    ConfigError
        ``name`` is neither an available dataset nor a valid derived or generated name (:func:`check_name`), a
        derived target is out of the resampler's reach (the message gives the range), or
        ``valid_fraction`` is outside [0, 1).
    DataValidationError
        The dataset's files are inconsistent (no ``test.parquet``, unknown labels, missing columns).
    """
    root = _resolve_dir(data_dir)
    check_name(name, data_dir=root)
    valid_fraction = float(valid_fraction)
    if not 0.0 <= valid_fraction < 1.0:
        raise ConfigError(f"valid_fraction must be in [0, 1); got {valid_fraction}.")
    if name in available(root):
        cached = _load_cached(name, str(root), valid_fraction, int(random_state))
    elif parse_derived_name(name) is None:  # check_name passed: a generated xmtc-synthetic name
        cached = _load_generated_cached(name, valid_fraction)
    else:
        cached = _load_derived_cached(name, str(root), valid_fraction, int(random_state))
    return _fresh_copy(cached)


@functools.lru_cache(maxsize=16)
def _load_derived_cached(name: str, root: str, valid_fraction: float, random_state: int) -> MultiLabelDataset:
    """The derived dataset ``name``: its base loaded the same way, resampled (module ``resample``)."""
    parsed = _parsed(name)
    base = load(parsed.base, data_dir=root, valid_fraction=valid_fraction, random_state=random_state)
    try:
        out, _ = resample_to_mean_ir(base, parsed.top_k, parsed.mean_ir, RESAMPLE_RANDOM_STATE, allow_increase=True)
    except ConfigError as exc:
        raise ConfigError(f"Dataset {name!r} cannot be built: {exc}") from exc
    for s in (out.train, out.valid, out.test):
        s.read_only()
    return out


@functools.lru_cache(maxsize=4)
def _load_generated_cached(name: str, valid_fraction: float) -> MultiLabelDataset:
    """The generated dataset ``name`` (``xmtc-synthetic-N<n>-K<k>[-text][-S<seed>]``, module ``synthetic``)."""
    parsed = parse_xmtc_name(name)
    assert parsed is not None, name  # only called on names that have the form
    try:
        out = make_xmtc(parsed.n_samples, parsed.n_labels, text=parsed.text, random_state=parsed.random_state,
                        valid_fraction=valid_fraction, test_fraction=XMTC_TEST_FRACTION, name=name)
    except ConfigError as exc:
        raise ConfigError(f"Dataset {name!r} cannot be built: {exc}") from exc
    for s in (out.train, out.valid, out.test):
        s.read_only()
    return out


def _fresh_copy(ds: MultiLabelDataset) -> MultiLabelDataset:
    def split_copy(s: Split) -> Split:
        return Split(Y=s.Y, texts=list(s.texts) if s.texts is not None else None, X=s.X)

    return MultiLabelDataset(name=ds.name, kind=ds.kind, label_names=list(ds.label_names),
                             train=split_copy(ds.train), valid=split_copy(ds.valid), test=split_copy(ds.test),
                             meta=copy.deepcopy(ds.meta), valid_carved=ds.valid_carved)


def clear_cache() -> None:
    """Forget the parsed datasets, bundled and derived (e.g. after files in the data folder changed)."""
    _load_cached.cache_clear()
    _load_derived_cached.cache_clear()
    _load_generated_cached.cache_clear()


#: texts above which encoding MiniLM features on the CPU takes long enough to warn (about 25 min)
MINILM_WARN_TEXTS = 20_000
#: measured MiniLM encoding rate on the 2-core machine (Reuters' 10,672 texts in about 14 min)
MINILM_TEXTS_PER_MINUTE = 760


def representation_warning(ds: MultiLabelDataset, representation: str, *, data_dir=None) -> str | None:
    """A sentence warning that ``representation`` is costly on ``ds``, or None.

    MiniLM features of a text set are read from ``data/<name>/features/`` when the dataset ships them
    (Reuters, GoEmotions) and otherwise encoded on first use. Above :data:`MINILM_WARN_TEXTS` texts
    without shipped features (EURLEX57K: 56,984 long legal texts, about 75 min on 2 CPU cores) that
    costs long enough that the user should know before starting; TF-IDF takes seconds there.

    Parameters
    ----------
    ds : MultiLabelDataset
        The dataset.
    representation : str
        The resolved representation (``"minilm"``, ``"tfidf"``, ...).
    data_dir : str or path-like, optional
        The data folder; default ``paths.data_dir()``.

    Returns
    -------
    str or None
        The warning, with the estimated minutes and what to choose instead; None when there is nothing
        to warn about.
    """
    if representation != "minilm" or ds.kind != "text":
        return None
    n_texts = len(ds.train) + len(ds.valid) + len(ds.test)
    if n_texts <= MINILM_WARN_TEXTS or (_resolve_dir(data_dir) / ds.name / "features").is_dir():
        return None
    minutes = n_texts / MINILM_TEXTS_PER_MINUTE
    return (f"MiniLM features of {ds.name!r} are not shipped: its {n_texts:,} texts are encoded on first use, "
            f"roughly {minutes:.0f} min on 2 CPU cores (once; cached afterwards, faster on a GPU). "
            "TF-IDF (representation 'tfidf') takes seconds and is the representation this dataset is meant for.")
