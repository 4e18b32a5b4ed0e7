"""The run cache of the batch-selection report: plain data only, never pickle.

``batch_selection_report.build`` caches each :class:`~mlal_core.experiments.batch_selection.BatchSelectionResult`
under its ``--out`` folder, a folder the user chooses, so the cache must never run code when it is read.
A cached run is two files with the same stem:

* ``<stem>.json``: the format name and version, the code version that made the run (its fingerprint is
  checked on reading), the scalar fields, each table's column names and kinds, every history record's
  scalar values and the names of its arrays, and the SHA-256 of the ``.npz`` (so the two files belong
  together);
* ``<stem>.npz``: every table column and history array as a plain numeric or text array, written and
  read with ``allow_pickle=False``.

:func:`read_cached_result` returns ``None`` (and says why in one line) for a missing, stale, foreign,
damaged or mismatched cache, so the caller runs again and overwrites it; an old ``<stem>.pkl`` is
never opened, only reported.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlal_core._io import atomic_write
from mlal_core.experiments.batch_selection import BatchSelectionResult

__all__ = ["CACHE_FORMAT", "CACHE_VERSION", "cache_files", "cached_run", "read_cached_result", "write_cached_result"]

#: the ``format`` field of a cache's JSON file
CACHE_FORMAT = "mlal-batch-selection-run"
#: bumped when the layout changes (an older layout is ignored and rebuilt)
CACHE_VERSION = 1
_FRAMES = ("runs", "curves")
_SCALARS = (bool, int, float, str, type(None))


class _Rejected(Exception):
    """The cache cannot be used; the message says why (one line)."""


def cache_files(stem: Path) -> tuple[Path, Path]:
    """The JSON and NPZ files of the cache ``stem``.

    Parameters
    ----------
    stem : Path
        The cache's path without a suffix, e.g. ``reports/batch_selection/cache/yeast_s3_e50``.

    Returns
    -------
    tuple of Path
        ``(<stem>.json, <stem>.npz)``.
    """
    stem = Path(stem)
    return stem.parent / f"{stem.name}.json", stem.parent / f"{stem.name}.npz"


# ------------------------------------------------------------------------------------------ writing
def _frame_arrays(name: str, df: pd.DataFrame, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    columns = []
    for i, col in enumerate(df.columns):
        values = df[col].to_numpy()
        kind = "text" if values.dtype == object else "plain"
        if kind == "text":  # text (pandas' str columns come out as objects): unicode + where it was missing
            missing = df[col].isna().to_numpy()
            values = np.where(missing, "", values).astype(str)
            if missing.any():
                arrays[f"{name}__{i}__missing"] = missing
        arrays[f"{name}__{i}"] = values
        columns.append({"name": str(col), "kind": kind})
    return {"columns": columns, "rows": len(df)}


def _history_record(key: str, rec: dict, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    scalars: dict[str, Any] = {}
    stored: dict[str, str] = {}
    for j, (k, v) in enumerate(rec.items()):
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                raise TypeError(f"History array {k!r} holds Python objects; only numeric arrays are cached.")
            stored[str(k)] = f"{key}__{j}"
            arrays[stored[str(k)]] = v
        elif isinstance(v, np.generic):
            scalars[str(k)] = v.item()
        elif isinstance(v, _SCALARS):
            scalars[str(k)] = v
        else:
            raise TypeError(f"History value {k!r} is a {type(v).__name__}; only numbers, text and arrays are cached.")
    return {"scalars": scalars, "arrays": stored}


def write_cached_result(stem: Path, result: BatchSelectionResult) -> tuple[Path, Path]:
    """Write ``result`` as ``<stem>.npz`` (arrays, no pickle) and then ``<stem>.json`` (the rest).

    Each file is written to a temporary sibling and renamed into place, the JSON last, so an
    interrupted write leaves either the old pair or a pair whose hashes do not match (ignored).

    Parameters
    ----------
    stem : Path
        The cache's path without a suffix.
    result : BatchSelectionResult
        The run; ``code_version`` should be set (the reader checks its ``fingerprint``).

    Returns
    -------
    tuple of Path
        The JSON and NPZ files written.

    Raises
    ------
    TypeError
        When a history record holds something other than numbers, text or numeric arrays.
    """
    json_path, npz_path = cache_files(stem)
    arrays: dict[str, np.ndarray] = {}
    frames = {name: _frame_arrays(name, getattr(result, name), arrays) for name in _FRAMES}
    histories = {}
    for s, (sampler, records) in enumerate(result.histories.items()):
        histories[str(sampler)] = [_history_record(f"hist__{s}__{i}", rec, arrays) for i, rec in enumerate(records)]
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **arrays)  # type: ignore[arg-type]
    payload = buf.getvalue()
    meta = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "npz_sha256": hashlib.sha256(payload).hexdigest(),
            "code_version": dict(result.code_version), "dataset": result.dataset, "samplers": list(result.samplers),
            "seeds": [int(s) for s in result.seeds], "epochs": int(result.epochs), "seconds": float(result.seconds),
            "label_names": [str(n) for n in result.label_names], "frames": frames, "histories": histories}
    atomic_write(npz_path, lambda fh: fh.write(payload))
    text = json.dumps(meta, indent=1).encode("utf-8")
    atomic_write(json_path, lambda fh: fh.write(text))
    return json_path, npz_path


# ------------------------------------------------------------------------------------------ reading
def _load_meta(json_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Rejected(f"not a readable cache ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        raise _Rejected("not a batch-selection run cache")
    if meta.get("version") != CACHE_VERSION:
        raise _Rejected(f"cache layout {meta.get('version')!r}, this code reads {CACHE_VERSION}")
    return meta


def _frame(name: str, spec: dict, npz) -> pd.DataFrame:
    data = {}
    for i, col in enumerate(spec["columns"]):
        arr = npz[f"{name}__{i}"]
        if col["kind"] == "text":
            arr = arr.astype(object)
            if f"{name}__{i}__missing" in npz.files:
                arr[npz[f"{name}__{i}__missing"]] = None
        data[col["name"]] = arr
    df = pd.DataFrame(data, columns=[c["name"] for c in spec["columns"]])
    if len(df) != spec["rows"]:
        raise _Rejected(f"{name}: {len(df)} rows, the JSON says {spec['rows']}")
    return df


def _histories(spec: dict, npz) -> dict[str, list[dict]]:
    return {str(sampler): [{**rec["scalars"], **{name: npz[key] for name, key in rec["arrays"].items()}}
                           for rec in records]
            for sampler, records in spec.items()}


def read_cached_result(stem: Path, fingerprint: str) -> tuple[BatchSelectionResult | None, str]:
    """The cached run at ``stem`` when it is intact and was made by code with ``fingerprint``.

    Nothing in the files is executed: the JSON is parsed as data and the NPZ is read with
    ``allow_pickle=False`` (an array holding Python objects is refused).

    Parameters
    ----------
    stem : Path
        The cache's path without a suffix.
    fingerprint : str
        The current code fingerprint (``batch_selection_report.code_fingerprint``).

    Returns
    -------
    tuple
        ``(result, "")`` when the cache can be used, else ``(None, why)`` with a one-line reason
        (``""`` when there is no cache at all).
    """
    json_path, npz_path = cache_files(stem)
    legacy = Path(stem).parent / f"{Path(stem).name}.pkl"
    if not json_path.exists():
        if legacy.exists():
            return None, f"{legacy.name}: an old pickle cache, never loaded (pickle can run code); delete it"
        return None, ""
    try:
        meta = _load_meta(json_path)
        made_by = meta.get("code_version") or {}
        if made_by.get("fingerprint") != fingerprint:
            raise _Rejected(f"made by code {made_by.get('fingerprint', 'of unknown version')}, now {fingerprint}")
        try:
            payload = npz_path.read_bytes()
        except OSError as exc:
            raise _Rejected(f"{npz_path.name} unreadable ({type(exc).__name__})") from None
        if hashlib.sha256(payload).hexdigest() != meta.get("npz_sha256"):
            raise _Rejected(f"{npz_path.name} does not match {json_path.name}")
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            frames = {name: _frame(name, meta["frames"][name], npz) for name in _FRAMES}
            histories = _histories(meta["histories"], npz)
        result = BatchSelectionResult(
            dataset=str(meta["dataset"]), samplers=[str(s) for s in meta["samplers"]],
            seeds=[int(s) for s in meta["seeds"]], epochs=int(meta["epochs"]), curves=frames["curves"],
            runs=frames["runs"], histories=histories, seconds=float(meta["seconds"]),
            label_names=[str(n) for n in meta["label_names"]], code_version=dict(made_by))
    except _Rejected as exc:
        return None, f"{json_path.name}: {exc}"
    except (KeyError, TypeError, ValueError, AttributeError, OSError, EOFError, zipfile.BadZipFile) as exc:
        return None, f"{json_path.name}: damaged cache ({type(exc).__name__})"
    return result, ""


def cached_run(stem: Path, version: dict[str, str], run: Callable[[], BatchSelectionResult], *,
               notice: Callable[[str], None] = lambda m: print(m, flush=True)) -> tuple[BatchSelectionResult, bool]:
    """The cached run at ``stem`` when usable (:func:`read_cached_result`), else ``run()``, cached.

    Parameters
    ----------
    stem : Path
        The cache's path without a suffix.
    version : dict of str to str
        The current ``code_version`` (``fingerprint`` and ``git``); stored with a new run.
    run : callable
        Makes the result when the cache cannot be used.
    notice : callable
        Gets the one-line reason when an existing cache is ignored (default: printed).

    Returns
    -------
    tuple
        ``(result, reused)``.
    """
    res, why = read_cached_result(stem, version["fingerprint"])
    if res is not None:
        return res, True
    if why:
        notice(f"{why}: running again")
    res = run()
    res.code_version = dict(version)
    write_cached_result(stem, res)
    return res, False
