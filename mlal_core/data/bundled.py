"""The bundled datasets (``data/<name>/{train,valid,test}.parquet`` + ``meta.json``)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlal_core import paths
from mlal_core.data.dataset import MultiLabelDataset, Split
from mlal_core.data.splits import carve
from mlal_core.errors import ConfigError, DataValidationError, unknown_name_error

#: The bundled datasets folder at import time (``<repo>/data``, or ``$MLAL_DATA_DIR``).
#: :func:`load` and :func:`available` re-read the environment on every call.
DATA_DIR: Path = paths.data_dir()


def _resolve_dir(data_dir) -> Path:
    return Path(data_dir).expanduser().resolve() if data_dir is not None else paths.data_dir().resolve()


def available(data_dir=None) -> list[str]:
    """Names of the datasets in the data folder (sub-folders with ``meta.json`` and ``train.parquet``).

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data folder; default ``paths.data_dir()`` (``$MLAL_DATA_DIR`` or ``<repo>/data``).

    Returns
    -------
    list of str
        The folder names, sorted; empty when the folder does not exist.
    """
    root = _resolve_dir(data_dir)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and (p / "meta.json").is_file() and (p / "train.parquet").is_file()
    )


def labels_to_matrix(labels: pa.Array | pa.ChunkedArray, label_names: list[str], where: str) -> np.ndarray:
    """Turn an Arrow ``list<string>`` column into an ``(n, K)`` uint8 matrix in ``label_names`` order.

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
    np.ndarray, shape (n, K), uint8
        1 where a row carries the label, else 0.

    Raises
    ------
    DataValidationError
        A label is not in ``label_names``.
    """
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    n = len(labels)
    Y = np.zeros((n, len(label_names)), dtype=np.uint8)
    if n == 0:
        return Y
    offsets = labels.offsets.to_numpy(zero_copy_only=False)
    start = offsets[0]
    values = labels.values.slice(start, offsets[-1] - start).to_numpy(zero_copy_only=False)
    codes = pd.Categorical(values, categories=label_names).codes
    if (codes < 0).any():
        unknown = sorted({str(v) for v, c in zip(values, codes) if c < 0})
        raise DataValidationError(f"{where}: labels not in meta.json label_names: {', '.join(unknown[:10])}.")
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
    """Load a bundled dataset.

    ``Y`` columns follow ``meta.json["label_names"]``. A dataset without an official validation
    split gets one carved from its training split: ``valid_fraction`` of the training rows, chosen
    by seeded iterative stratification (``random_state``), with ``valid_carved=True``
    (``valid_fraction=0`` leaves the validation split empty).

    Parsed datasets are cached in-process per ``(name, data folder, valid_fraction, random_state)``.
    Each call returns a fresh :class:`MultiLabelDataset` with its own ``meta`` and text lists, but
    the ``Y`` / ``X`` arrays are shared with the cache and read-only (``writeable=False``): copy them
    before modifying.

    Parameters
    ----------
    name : str
        A dataset in the data folder (:func:`available`).
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
        ``name`` is not an available dataset, or ``valid_fraction`` is outside [0, 1).
    DataValidationError
        The dataset's files are inconsistent (no ``test.parquet``, unknown labels, missing columns).
    """
    root = _resolve_dir(data_dir)
    known = available(root)
    if name not in known:
        raise unknown_name_error("dataset", name, known)
    valid_fraction = float(valid_fraction)
    if not 0.0 <= valid_fraction < 1.0:
        raise ConfigError(f"valid_fraction must be in [0, 1); got {valid_fraction}.")
    cached = _load_cached(name, str(root), valid_fraction, int(random_state))
    return _fresh_copy(cached)


def _fresh_copy(ds: MultiLabelDataset) -> MultiLabelDataset:
    def split_copy(s: Split) -> Split:
        return Split(Y=s.Y, texts=list(s.texts) if s.texts is not None else None, X=s.X)

    return MultiLabelDataset(name=ds.name, kind=ds.kind, label_names=list(ds.label_names),
                             train=split_copy(ds.train), valid=split_copy(ds.valid), test=split_copy(ds.test),
                             meta=copy.deepcopy(ds.meta), valid_carved=ds.valid_carved)


def clear_cache() -> None:
    """Forget the parsed datasets (e.g. after files in the data folder changed)."""
    _load_cached.cache_clear()
