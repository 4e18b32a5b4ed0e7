"""SQLite persistence of sessions and rounds (stdlib ``sqlite3``, WAL mode, foreign keys).

One row per session and one per completed round. A round is written in **one transaction** after
it has completed (``append_round``), so a crash in the middle of a round leaves the session at its
last completed round, and ``ActiveLearningSession.resume`` continues from there.

Schema (version 5; ``schema_version`` holds the applied version, ``MIGRATIONS`` upgrades older
files in order and a file from a newer version is refused):

* ``sessions(id, name, created_at, updated_at, config_json, status, dataset_name, dataset_hash,
  label_names_json, initial_labeled_json, note, feature_source_json)``; ``status`` is ``running`` /
  ``finished`` / ``failed``; ``session_owners(session_id, owner, since)`` (created on first use, no
  migration) names the process that marked a session running, so a ``running`` session whose process
  is gone is shown ``interrupted``; ``initial_labeled_json`` = ``{"positions": [...], "labels": LABELS}``
  (the oracle's answers for the initial set, LABELS below); ``feature_source_json``: where the session's
  features came from (representation, ``source`` bundled / computed, precision, cache key, the
  bundled file's first-use check), null until the features exist; ``stop_set_json`` (v4): the stop
  set's pool positions (``{"positions": [...]}``, :func:`mlal_core.stopping.draw_stop_set`), null for
  sessions created before v4 and never resumed since.
* ``rounds(session_id, round, created_at, n_labeled, metrics_json, selected_json, labels_json,
  details, scores, diagnostics, shared_diag_json, timings_json)`` with ``PRIMARY KEY(session_id,
  round)``; ``labels_json`` = LABELS of the round's picks (null for the final record); ``details`` =
  the Selection's details DataFrame as Parquet bytes, ``scores`` = ``.npy`` bytes, ``diagnostics`` =
  the codec below; ``stopping`` (v4) = the codec below holding what the round measured for the
  stopping criteria (``RoundRecord.stopping``), null before v4.
* LABELS, a 0/1 label matrix of shape (n, K) (:func:`encode_labels`, :func:`decode_labels`): up to
  :data:`~mlal_core.data.SPARSE_LABELS_ABOVE_K` (500) labels the dense rows ``[[0, 1, ...], ...]``;
  above it (v5) ``{"shape": [n, K], "rows": [[j, ...], ...]}``, each row's positive label columns in
  ascending order (an initial set of 3,398 rows at EURLEX57K's K = 3,398 and 5 labels a row: 102 KB
  against 35 MB of dense rows). Files written before v5 keep dense rows at any K; the readers accept
  both forms.

Payload codec (``encode_payload`` / ``decode_payload``): an ``.npz`` whose ``__json__`` entry is
the JSON skeleton of the object; numpy arrays are stored as npz entries, DataFrames as Parquet bytes,
numpy scalars keep their dtype, tuples / sets / dicts with non-string keys are tagged. NaN and
infinities survive. It round-trips dicts of arrays, scalars, lists and DataFrames exactly.
"""

from __future__ import annotations

import errno
import functools
import io
import itertools
import json
import math
import sqlite3
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlal_core import paths
from mlal_core.data.dataset import SPARSE_LABELS_ABOVE_K, dense_labels, label_storage
from mlal_core.errors import ConfigError, MLALError
from mlal_core.session import owner, stopping_export
from mlal_core.session.records import RoundRecord
from mlal_core.session.label_text import label_set, named_diagnostics, with_named_twins
from mlal_core.session.tables import oracle_summary, picks_frame, rounds_frame
from mlal_core.strategies.base import Selection

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.session.config import SessionConfig

SCHEMA_VERSION = 5

#: version -> SQL statements that bring a file from version - 1 to version.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            name TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            config_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
            dataset_name TEXT,
            dataset_hash TEXT,
            label_names_json TEXT,
            initial_labeled_json TEXT NOT NULL,
            note TEXT
        )
        """,
        """
        CREATE TABLE rounds (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            round INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            n_labeled INTEGER NOT NULL,
            metrics_json TEXT NOT NULL,
            selected_json TEXT,
            labels_json TEXT,
            details BLOB,
            scores BLOB,
            diagnostics BLOB,
            shared_diag_json TEXT NOT NULL,
            timings_json TEXT NOT NULL,
            PRIMARY KEY (session_id, round)
        )
        """,
    ],
    # 2: who answered each round's picks, and what the model predicted for them when it picked them
    2: [
        "ALTER TABLE rounds ADD COLUMN answered_by TEXT",
        "ALTER TABLE rounds ADD COLUMN pick_proba BLOB",
    ],
    # 3: where the session's features came from (bundled file, cache, computed; their precision)
    3: ["ALTER TABLE sessions ADD COLUMN feature_source_json TEXT"],
    # 4: the stopping criteria: the session's stop set and what each round measured for them
    4: [
        "ALTER TABLE sessions ADD COLUMN stop_set_json TEXT",
        "ALTER TABLE rounds ADD COLUMN stopping BLOB",
    ],
    # 5: label matrices of more than SPARSE_LABELS_ABOVE_K labels are written as sparse rows
    # (``encode_labels``); rows written before stay as they are and read back the same, and a
    # workbench of version 4 refuses the file instead of misreading the new form
    5: [],
}


class StoreError(MLALError):
    """The session store cannot do what was asked (unknown session, newer schema, a damaged or
    unreadable file, a full disk, ...); the message names the file and what to do."""


#: how often a session's status is written before giving up (a full disk or a lock may clear)
STATUS_WRITE_ATTEMPTS = 3
#: what a damaged blob or JSON column raises when decoded (numpy, zip, Parquet, JSON)
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OSError,
                  zipfile.BadZipFile)
#: the process that marked a session running (``owner.process_token``); created on first use, so files of
#: every schema version gain it without a migration, and older code ignores it
_OWNERS_TABLE = ("CREATE TABLE IF NOT EXISTS session_owners (session_id TEXT PRIMARY KEY REFERENCES sessions(id) "
                 "ON DELETE CASCADE, owner TEXT NOT NULL, since TEXT NOT NULL)")
#: failures this process could not write (a full disk, a lock held elsewhere): (store, session id) -> reason
_UNWRITTEN_FAILURES: dict[tuple[str, str], str] = {}
_DAMAGED_ADVICE = ("move the file aside and start a new store (--store NEW.sqlite), or restore it from a backup "
                   "(`sqlite3 FILE .recover` may save its sessions)")


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _store_advice(path: Path, exc: BaseException) -> str:
    """What to do about an SQLite / OS error on the store file ``path``."""
    low = str(exc).lower()
    if path.is_dir():
        return f"it is a folder; pass a file path instead, e.g. --store {path / 'sessions.sqlite'}"
    if "not a database" in low or "malformed" in low or "not a session store" in low:
        return f"the file is damaged or is not a session store; {_DAMAGED_ADVICE}"
    if "readonly" in low or "read-only" in low or isinstance(exc, PermissionError):
        return ("the file or its folder is read-only; make both writable (chmod u+w) to change sessions "
                "(`sessions` and `export` work on a read-only store)")
    if "full" in low or "disk i/o" in low or getattr(exc, "errno", None) == errno.ENOSPC:
        return "free space on the disk that holds it, then `resume` the session"
    if "locked" in low or "busy" in low:
        return "another process is writing to it; wait until it has finished and try again"
    if "unable to open" in low or isinstance(exc, OSError):
        return "check that the path names a file in an existing folder that you can read and write"
    return _DAMAGED_ADVICE


def store_error(path: Path, exc: BaseException, action: str) -> StoreError:
    """One :class:`StoreError` for an SQLite or OS error raised while ``action`` on the store ``path``.

    Parameters
    ----------
    path : pathlib.Path
        The store file.
    exc : BaseException
        The SQLite or OS error.
    action : str
        What was being done, to follow "Cannot" (``"read"``, ``"merge into"``, ...).

    Returns
    -------
    StoreError
        The error to raise, naming the file, the cause and what to do.
    """
    return StoreError(f"Cannot {action} the session store {path} ({type(exc).__name__}: {_short(exc)}); "
                      f"{_store_advice(path, exc)}.")


def _guarded(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a :class:`SessionStore` method: SQLite and OS errors become one :class:`StoreError`."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def guarded(self: SessionStore, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except MLALError:
                raise
            except (sqlite3.Error, OSError) as exc:
                raise store_error(self.path, exc, action) from exc

        return guarded

    return decorate


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ====================================================================== payload codec
def _array_to_npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def _npy_to_array(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def _frames_identical(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except (AssertionError, TypeError, ValueError):
        return False
    for col in range(a.shape[1]):
        if pd.api.types.is_object_dtype(a.dtypes.iloc[col]):
            if [type(v) for v in a.iloc[:, col]] != [type(v) for v in b.iloc[:, col]]:
                return False
    return True


def dataframe_to_bytes(df: pd.DataFrame) -> bytes:
    """Bytes of ``df`` that read back identical (:func:`bytes_to_dataframe`).

    Parquet when it round-trips exactly (the usual case: numbers, strings, NaN), else the
    column-wise payload codec (e.g. object columns holding Python lists, which Parquet would turn
    into arrays).

    Parameters
    ----------
    df : pandas.DataFrame
        Any frame (e.g. a ``Selection.details``).

    Returns
    -------
    bytes
        Parquet bytes (they start with ``PAR1``) or an :func:`encode_payload` blob.
    """
    try:
        buf = io.BytesIO()
        df.to_parquet(buf, index=True)
        blob = buf.getvalue()
        if _frames_identical(df, pd.read_parquet(io.BytesIO(blob))):
            return blob
    except Exception:  # noqa: BLE001 - fall back to the codec below
        pass
    return encode_payload({"frame": _frame_to_obj(df)})


def bytes_to_dataframe(blob: bytes) -> pd.DataFrame:
    """The frame :func:`dataframe_to_bytes` wrote.

    Parameters
    ----------
    blob : bytes
        Parquet bytes or a payload-codec blob.

    Returns
    -------
    pandas.DataFrame
    """
    if blob[:4] == b"PAR1":
        return pd.read_parquet(io.BytesIO(blob))
    return _frame_from_obj(decode_payload(blob)["frame"])


def _column_to_obj(values: pd.Series | pd.Index) -> dict:
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        return {"array": values.to_numpy()}
    return {"values": list(values.to_numpy(dtype=object)), "dtype": str(dtype)}


def _column_from_obj(obj: dict) -> Any:
    if "array" in obj:
        return obj["array"]
    values = np.empty(len(obj["values"]), dtype=object)
    values[:] = obj["values"]
    series = pd.Series(values, dtype=object)
    if obj["dtype"] != "object":
        try:
            series = series.astype(obj["dtype"])
        except (TypeError, ValueError):
            pass
    return series.to_numpy() if obj["dtype"] == "object" else series.array


def _frame_to_obj(df: pd.DataFrame) -> dict:
    idx = df.index
    if isinstance(idx, pd.RangeIndex):
        index = {"range": [idx.start, idx.stop, idx.step]}
    else:
        index = _column_to_obj(idx)
    return {
        "columns": list(df.columns),
        "data": [_column_to_obj(df.iloc[:, i]) for i in range(df.shape[1])],
        "index": index,
        "index_name": idx.name,
    }


def _frame_from_obj(obj: dict) -> pd.DataFrame:
    ix = obj["index"]
    index = pd.RangeIndex(*ix["range"]) if "range" in ix else pd.Index(_column_from_obj(ix))
    index.name = obj["index_name"]
    data = {i: _column_from_obj(c) for i, c in enumerate(obj["data"])}
    df = pd.DataFrame(data, index=index)
    df.columns = obj["columns"]
    return df


class _Encoder:
    def __init__(self) -> None:
        self.blobs: dict[str, np.ndarray] = {}

    def _put(self, arr: np.ndarray) -> str:
        key = f"a{len(self.blobs)}"
        self.blobs[key] = arr
        return key

    def enc(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int) and not isinstance(obj, np.integer):
            return obj
        if isinstance(obj, float) and not isinstance(obj, np.floating):
            if math.isfinite(obj):
                return obj
            return {"__float__": repr(obj)}
        if isinstance(obj, np.generic):
            if obj.dtype.kind in "biufc":
                return {"__npscalar__": obj.dtype.str, "array": self._put(np.asarray(obj))}
            return self.enc(obj.item())
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind == "O":
                return {"__objarray__": [self.enc(v) for v in obj.ravel().tolist()], "shape": list(obj.shape)}
            return {"__ndarray__": self._put(obj)}
        if isinstance(obj, pd.DataFrame):
            return {"__dataframe__": self._put(np.frombuffer(dataframe_to_bytes(obj), dtype=np.uint8))}
        if isinstance(obj, pd.Series):
            return {"__series__": self.enc(obj.to_frame(name=obj.name if obj.name is not None else 0))}
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj):
                if any(k.startswith("__") and k.endswith("__") for k in obj):
                    return {"__dict__": [[k, self.enc(v)] for k, v in obj.items()]}
                return {k: self.enc(v) for k, v in obj.items()}
            return {"__dict__": [[self.enc(k), self.enc(v)] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.enc(v) for v in obj]}
        if isinstance(obj, (set, frozenset)):
            return {"__set__": [self.enc(v) for v in sorted(obj, key=repr)]}
        if isinstance(obj, list):
            return [self.enc(v) for v in obj]
        if isinstance(obj, bytes):
            return {"__bytes__": self._put(np.frombuffer(obj, dtype=np.uint8))}
        if isinstance(obj, Path):
            return str(obj)
        raise StoreError(f"Cannot store a value of type {type(obj).__name__} in round diagnostics.")


def _decode(obj: Any, blobs: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v, blobs) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) in (1, 2):
        if "__ndarray__" in obj:
            return blobs[obj["__ndarray__"]]
        if "__npscalar__" in obj:
            return blobs[obj["array"]].astype(np.dtype(obj["__npscalar__"]))[()]
        if "__float__" in obj:
            return float(obj["__float__"])
        if "__objarray__" in obj:
            out = np.empty(len(obj["__objarray__"]), dtype=object)
            out[:] = [_decode(v, blobs) for v in obj["__objarray__"]]
            return out.reshape(obj["shape"])
        if "__dataframe__" in obj:
            return bytes_to_dataframe(blobs[obj["__dataframe__"]].tobytes())
        if "__series__" in obj:
            frame = _decode(obj["__series__"], blobs)
            return frame.iloc[:, 0]
        if "__dict__" in obj:
            return {_hashable(_decode(k, blobs)): _decode(v, blobs) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, blobs) for v in obj["__tuple__"])
        if "__set__" in obj:
            return {_hashable(_decode(v, blobs)) for v in obj["__set__"]}
        if "__bytes__" in obj:
            return blobs[obj["__bytes__"]].tobytes()
    return {k: _decode(v, blobs) for k, v in obj.items()}


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def encode_payload(obj: Any) -> bytes:
    """Bytes (an ``.npz``) holding ``obj``: arrays as npz entries, the rest as JSON.

    Parameters
    ----------
    obj : Any
        Dicts, lists, tuples, sets, numbers (numpy scalars keep their dtype; NaN and infinities
        survive), strings, bytes, numpy arrays and pandas frames / series, nested.

    Returns
    -------
    bytes
        What :func:`decode_payload` reads back.

    Raises
    ------
    StoreError
        For a value of another type.
    """
    enc = _Encoder()
    skeleton = json.dumps(enc.enc(obj), allow_nan=False)
    buf = io.BytesIO()
    np.savez_compressed(buf, __json__=np.frombuffer(skeleton.encode("utf-8"), dtype=np.uint8),
                        **enc.blobs)  # type: ignore[arg-type]  # numpy stubs: arrays as keyword entries
    return buf.getvalue()


def decode_payload(blob: bytes | None) -> Any:
    """The object :func:`encode_payload` stored.

    Parameters
    ----------
    blob : bytes or None
        An :func:`encode_payload` blob.

    Returns
    -------
    Any
        The object (``None`` for ``None``).
    """
    if blob is None:
        return None
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        blobs = {k: npz[k] for k in npz.files}
    skeleton = json.loads(blobs.pop("__json__").tobytes().decode("utf-8"))
    return _decode(skeleton, blobs)


def _dumps(obj: Any) -> str:
    """JSON for the plain-JSON columns; NaN / inf are written as JSON NaN / Infinity."""
    return json.dumps(_plain(obj))


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays -> Python numbers and lists (for the JSON columns and exports)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, pd.DataFrame):
        return json.loads(obj.to_json(orient="records", double_precision=15))
    if isinstance(obj, (set, frozenset)):
        return [_plain(v) for v in sorted(obj, key=repr)]
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    return obj


def _finite(obj: Any) -> Any:
    """NaN and infinities -> ``None`` (standard JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _stop_set_json(positions: np.ndarray | None) -> str | None:
    if positions is None:
        return None
    return json.dumps({"positions": np.asarray(positions, dtype=np.int64).tolist()})


def encode_labels(labels: Any) -> list | dict | None:
    """The JSON value the store writes for a 0/1 label matrix (``labels_json``, the initial set's ``labels``).

    Up to :data:`~mlal_core.data.SPARSE_LABELS_ABOVE_K` (500) labels: the dense rows, a list of ``n``
    lists of ``K`` 0/1 values (what every schema version wrote). Above it (schema v5): an object
    ``{"shape": [n, K], "rows": [[j, ...], ...]}`` listing each row's positive label columns in
    ascending order, e.g. 16,856 column numbers (102 KB) instead of 11.5 M zeros and ones (35 MB) for
    EURLEX57K's initial set of 3,398 rows.

    Parameters
    ----------
    labels : array-like or scipy sparse matrix of shape (n, K), or None
        A 0/1 label matrix (any integer or bool dtype; dense or sparse).

    Returns
    -------
    list or dict or None
        The dense rows, the sparse object, or None for None.

    Raises
    ------
    DataValidationError
        A matrix above the threshold holding values other than 0 and 1.
    """
    if labels is None:
        return None
    shape = getattr(labels, "shape", None)
    if shape is None or len(shape) != 2 or shape[1] <= SPARSE_LABELS_ABOVE_K:
        return np.asarray(dense_labels(labels) if sp.issparse(labels) else labels, dtype=np.uint8).tolist()
    csr = sp.csr_matrix(label_storage(labels))  # canonical: sorted, unique columns, all ones
    columns, starts = csr.indices.tolist(), csr.indptr.tolist()
    return {"shape": [int(shape[0]), int(shape[1])],
            "rows": [columns[starts[i]:starts[i + 1]] for i in range(int(shape[0]))]}


def _sparse_rows(value: dict) -> sp.csr_matrix:
    """The CSR matrix of a stored ``{"shape": [n, K], "rows": [...]}`` object; ValueError when damaged."""
    if set(value) != {"shape", "rows"}:
        raise ValueError(f"a sparse label object has the keys 'shape' and 'rows'; got {sorted(value)}")
    n, k = (int(v) for v in value["shape"])
    rows = value["rows"]
    if not isinstance(rows, list) or len(rows) != n or k < 0:
        raise ValueError(f"a sparse label object of shape ({n}, {k}) has {len(rows)} rows")
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    columns = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(indptr[-1]))
    if columns.size and (columns.min() < 0 or columns.max() >= k):
        raise ValueError(f"a sparse label row names a column outside 0..{k - 1}")
    csr = sp.csr_matrix((np.ones(columns.size, dtype=np.uint8), columns.astype(np.int32), indptr), shape=(n, k))
    if not csr.has_canonical_format:
        csr.sum_duplicates()  # also sorts the columns of each row
        if csr.nnz != columns.size:
            raise ValueError("a sparse label row names a column twice")
    return csr


def decode_labels(value: list | dict, n_labels: int | None = None) -> np.ndarray:
    """The dense label matrix of a stored JSON value (:func:`encode_labels`): either form, any schema version.

    Parameters
    ----------
    value : list or dict
        The decoded JSON: dense rows (a list of 0/1 lists) or the sparse object
        ``{"shape": [n, K], "rows": [[j, ...], ...]}``.
    n_labels : int, optional
        K, to give an empty dense list the shape ``(0, K)`` (the sparse object carries its shape).

    Returns
    -------
    numpy.ndarray
        ``(n, K)`` uint8 0/1 (an empty dense list without ``n_labels``: shape ``(0,)``).

    Raises
    ------
    ValueError
        A damaged sparse object (other keys, a row count that is not its shape's, a column outside
        ``0..K-1`` or named twice in a row).
    TypeError
        A value that is neither a list nor an object.
    """
    if isinstance(value, dict):
        return dense_labels(_sparse_rows(value))
    if not isinstance(value, list):
        raise TypeError(f"stored labels are a list of rows or a sparse object; got {type(value).__name__}")
    arr = np.asarray(value, dtype=np.uint8)
    if arr.size == 0 and n_labels is not None:
        arr = arr.reshape(0, n_labels)
    return arr


def decode_label_storage(value: list | dict, n_labels: int | None = None) -> np.ndarray | sp.csr_matrix:
    """The label matrix of a stored JSON value as the workbench keeps labels: CSR above 500 labels.

    :func:`mlal_core.data.label_storage`: a ``scipy.sparse.csr_matrix`` when K is above
    :data:`~mlal_core.data.SPARSE_LABELS_ABOVE_K`, whichever form was stored (the sparse rows of v5 or
    the dense rows written before), so a large matrix is never made dense; a dense uint8 array up to it.

    Parameters
    ----------
    value : list or dict
        The decoded JSON: dense rows or the sparse object (:func:`decode_labels`).
    n_labels : int, optional
        K, to give an empty dense list the shape ``(0, K)``.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        ``(n, K)`` uint8 0/1 (an empty dense list without ``n_labels``: shape ``(0,)``).

    Raises
    ------
    ValueError
        A damaged sparse object.
    TypeError
        A value that is neither a list nor an object.
    """
    if isinstance(value, dict):
        return label_storage(_sparse_rows(value))
    arr = decode_labels(value, n_labels)
    return label_storage(arr) if arr.ndim == 2 else arr


def _labels_to_json(labels: Any) -> str | None:
    value = encode_labels(labels)
    return None if value is None else json.dumps(value)


def _labels_from_json(text: str | None, n_labels: int | None = None) -> np.ndarray | None:
    if text is None:
        return None
    return decode_labels(json.loads(text), n_labels)


# ====================================================================== the store
def _claim(con: sqlite3.Connection, session_id: str) -> None:
    """Record this process as the one that runs ``session_id`` (inside the caller's transaction)."""
    con.execute(_OWNERS_TABLE)
    con.execute("INSERT OR REPLACE INTO session_owners (session_id, owner, since) VALUES (?, ?, ?)",
                (session_id, owner.process_token(), _now()))


def _owners(con: sqlite3.Connection) -> dict[str, str]:
    """Session id -> owner token; empty for a file without the table (older, or never run here)."""
    try:
        return {r[0]: r[1] for r in con.execute("SELECT session_id, owner FROM session_owners")}
    except sqlite3.OperationalError:
        return {}


def _rollback(con: sqlite3.Connection) -> None:
    """Roll back what is open; SQLite may have rolled back itself (a full disk), which is no error."""
    if con.in_transaction:
        try:
            con.execute("ROLLBACK")
        except sqlite3.Error:  # never hide the error that made us roll back
            pass


@contextmanager
def _export_target(target: Path, *, is_file: bool) -> Iterator[None]:
    """OS errors while writing the export ``target`` become one :class:`StoreError` saying what to pass."""
    try:
        yield
    except OSError as exc:
        what = "is a folder, not a file," if is_file and target.is_dir() else "cannot be written"
        raise StoreError(f"The export target {target} {what} ({type(exc).__name__}: {_short(exc)}); pass --out "
                         "a new file or a folder that you can write.") from exc


def _round_document(rec: RoundRecord, names: list[str] | None) -> dict[str, Any]:
    """One round of :meth:`SessionStore.export_json`: the record, with label names beside indices."""
    sel = rec.selection
    details = diagnostics = None
    if sel is not None:
        details = sel.details if not names or sel.details is None else with_named_twins(sel.details, names)
        diagnostics = sel.diagnostics if not names or not sel.diagnostics else named_diagnostics(sel.diagnostics, names)
    return {
        "round": rec.round,
        "created_at": rec.created_at,
        "n_labeled": rec.n_labeled,
        "metrics": rec.metrics,
        "timings": rec.timings,
        "shared_diagnostics": rec.shared_diagnostics(),
        "answered_by": rec.answered_by,
        "selected": None if rec.selected is None else rec.selected.tolist(),
        "labels": encode_labels(rec.labels),
        "labels_named": None if rec.labels is None or not names else [label_set(r, names) for r in rec.labels],
        "pick_proba": None if rec.pick_proba is None else np.asarray(rec.pick_proba, dtype=float).tolist(),
        "details": details,
        "scores": None if sel is None else sel.scores,
        "diagnostics": diagnostics,
    }


class SessionStore:
    """A SQLite file of sessions; one connection per operation (safe across threads).

    Opening a file applies the :data:`MIGRATIONS` it lacks (a file from a newer schema is refused);
    a file that is up to date is only read, so the reading methods (``list_sessions``,
    ``session_info``, ``load_session``, ``load_rounds``, the exports) work on a read-only file. WAL
    mode is set once, when the file is created.

    Parameters
    ----------
    path : str or Path, optional
        The file (created with its folders); default ``paths.default_store_path()``
        (``$MLAL_HOME/sessions.sqlite``).

    Raises
    ------
    StoreError
        When the path is a folder, the file is not a session store or is damaged, is from a newer
        schema, or cannot be created.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.default_store_path()
        self._open()

    def __repr__(self) -> str:
        return f"SessionStore({str(self.path)!r})"

    # ------------------------------------------------------------------ connections
    @_guarded("open")
    def _open(self) -> None:
        if self.path.is_dir():
            raise store_error(self.path, IsADirectoryError(errno.EISDIR, "is a folder"), "open")
        if self.path.is_file() and self.path.stat().st_size > 0:
            with self._connect(readonly=True) as con:
                current = self._version(con)
            if current == SCHEMA_VERSION:
                return  # up to date: nothing to write (a read-only file stays usable)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            self._migrate(con)

    @contextmanager
    def _connect(self, *, readonly: bool = False) -> Iterator[sqlite3.Connection]:
        con = self._read_connection() if readonly else sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            if not readonly:
                con.execute("PRAGMA foreign_keys=ON")
                con.execute("PRAGMA synchronous=NORMAL")
            yield con
        finally:
            con.close()

    def _read_connection(self) -> sqlite3.Connection:
        """A read-only connection; ``immutable`` where a WAL file's folder is read-only and its
        ``-shm`` file is missing (SQLite cannot create it there)."""
        uri = self.path.absolute().as_uri()
        con = None
        try:
            con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return con
        except sqlite3.OperationalError as exc:
            if con is not None:
                con.close()
            if "readonly" not in str(exc) and "unable to open" not in str(exc):
                raise
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=30.0, isolation_level=None)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                _rollback(con)
                raise
            con.execute("COMMIT")

    def _version(self, con: sqlite3.Connection) -> int:
        """The schema version of the open file: 0 for an empty file; refuses another SQLite file."""
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return 0
        if "schema_version" not in tables:
            raise StoreError(f"{self.path} is an SQLite file but not a session store (it has no schema_version "
                             "table); pass another --store path.")
        current = int(con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"The session store {self.path} has schema version {current}, newer than this "
                f"workbench understands ({SCHEMA_VERSION}). Update the workbench or use another store."
            )
        return current

    def _migrate(self, con: sqlite3.Connection) -> None:
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode=WAL")  # once, at creation (WAL mode stays with the file)
        con.execute("BEGIN IMMEDIATE")
        try:
            current = self._version(con)
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[version]:
                    con.execute(sql)
                con.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        except BaseException:
            _rollback(con)
            raise
        con.execute("COMMIT")

    @_guarded("read")
    def schema_version(self) -> int:
        """The schema version the file holds (:data:`SCHEMA_VERSION` once opened by this code).

        Returns
        -------
        int
        """
        with self._connect(readonly=True) as con:
            return int(con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    @_guarded("read")
    def journal_mode(self) -> str:
        """SQLite's journal mode of the file (``"wal"``, or ``"delete"`` where WAL is not available).

        Returns
        -------
        str
        """
        with self._connect(readonly=True) as con:
            return str(con.execute("PRAGMA journal_mode").fetchone()[0])

    # ------------------------------------------------------------------ sessions
    @_guarded("write a session to")
    def create_session(
        self,
        config: SessionConfig,
        initial_labeled: np.ndarray,
        initial_labels: np.ndarray | None = None,
        *,
        name: str | None = None,
        dataset_name: str | None = None,
        dataset_hash: str | None = None,
        label_names: list[str] | None = None,
        note: str | None = None,
        stop_set: np.ndarray | None = None,
    ) -> str:
        """Insert a new ``running`` session.

        Parameters
        ----------
        config : SessionConfig
            The session's config (stored as JSON).
        initial_labeled : numpy.ndarray
            Pool positions of the initial labelled set.
        initial_labels : numpy.ndarray, optional
            The oracle's answers for them, ``(n, K)`` 0/1.
        name : str, optional
            A name (default ``config.name``).
        dataset_name : str, optional
            The dataset's name (default ``config.dataset``).
        dataset_hash : str, optional
            The dataset's content hash (``resume`` checks it).
        label_names : list of str, optional
            The dataset's label names.
        note : str, optional
            Free text.
        stop_set : numpy.ndarray, optional
            Pool positions of the stop set of the stopping criteria.

        Returns
        -------
        str
            The new session's id (uuid4 hex).
        """
        sid = uuid.uuid4().hex
        now = _now()
        initial = {
            "positions": np.asarray(initial_labeled, dtype=np.int64).tolist(),
            "labels": encode_labels(initial_labels),
        }
        with self._transaction() as con:
            con.execute(
                "INSERT INTO sessions (id, name, created_at, updated_at, config_json, status, dataset_name, "
                "dataset_hash, label_names_json, initial_labeled_json, note, stop_set_json) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    sid,
                    name if name is not None else config.name,
                    now,
                    now,
                    config.to_json(),
                    "running",
                    dataset_name if dataset_name is not None else config.dataset,
                    dataset_hash,
                    None if label_names is None else json.dumps(list(label_names)),
                    json.dumps(initial),
                    note,
                    _stop_set_json(stop_set),
                ),
            )
            _claim(con, sid)
        self._write_pending_failures()
        return sid

    def _require(self, con: sqlite3.Connection, session_id: str) -> sqlite3.Row:
        con.row_factory = sqlite3.Row
        row = con.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            ids = [r[0] for r in con.execute("SELECT id FROM sessions").fetchall()]
            close = [i for i in ids if i.startswith(session_id[:6])] if session_id else []
            hint = f" Did you mean {', '.join(close[:3])}?" if close else ""
            raise StoreError(f"No session {session_id!r} in the store {self.path}.{hint}")
        return row

    @_guarded("read")
    def resolve_id(self, prefix: str) -> str:
        """The full id of the one session whose id starts with ``prefix``.

        Parameters
        ----------
        prefix : str
            The start of an id (e.g. the 8 characters the app shows).

        Returns
        -------
        str

        Raises
        ------
        StoreError
            When no session or more than one starts with ``prefix``.
        """
        if not prefix.strip():
            raise StoreError(f"No session id given; pass one (or its start) from `sessions --store {self.path}`.")
        with self._connect(readonly=True) as con:
            ids = [r[0] for r in con.execute("SELECT id FROM sessions WHERE substr(id, 1, ?) = ?",  # no LIKE wildcards
                                             (len(prefix), prefix)).fetchall()]
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise StoreError(f"No session {prefix!r} in the store {self.path}.")
        raise StoreError(f"{len(ids)} sessions start with {prefix!r}; give more of the id.")

    @_guarded("write to")
    def set_status(self, session_id: str, status: str, note: str | None = None) -> None:
        """Set a session's status (and optionally its note).

        Parameters
        ----------
        session_id : str
            The session.
        status : {"running", "finished", "failed"}
            The new status.
        note : str, optional
            Replaces the note when given (e.g. the error that failed the session).

        Raises
        ------
        ConfigError
            For an unknown status.
        StoreError
            For an unknown session, or when the status could not be written in
            :data:`STATUS_WRITE_ATTEMPTS` tries (a full disk, a lock held elsewhere).
        """
        if status not in ("running", "finished", "failed"):
            raise ConfigError(f"Unknown session status {status!r}.")
        key = (str(self.path.resolve()), session_id)
        for attempt in range(1, STATUS_WRITE_ATTEMPTS + 1):
            try:
                with self._transaction() as con:
                    self._require(con, session_id)
                    con.execute(
                        "UPDATE sessions SET status = ?, updated_at = ?, note = COALESCE(?, note) WHERE id = ?",
                        (status, _now(), note, session_id),
                    )
                    if status == "running":
                        _claim(con, session_id)
                _UNWRITTEN_FAILURES.pop(key, None)
                return
            except (sqlite3.OperationalError, OSError) as exc:  # a full disk or a lock may clear: try again
                if attempt == STATUS_WRITE_ATTEMPTS:
                    if status == "failed":  # shown by this process although the file still says running
                        _UNWRITTEN_FAILURES[key] = note or "an error"
                    raise store_error(self.path, exc, f"mark session {session_id} {status} in") from exc
                time.sleep(0.2 * attempt)

    def _shown_status(self, session_id: str, row: dict[str, Any], n_records: int,
                      owners: dict[str, str]) -> tuple[str, str | None]:
        """The status and note to show: a ``running`` session whose process is gone is ``interrupted``;
        one whose failure this process could not write is ``failed``."""
        status, note = row["status"], row["note"]
        if status != "running":
            return status, note
        where = f"{n_records} round(s) stored; resume continues from round {n_records}"
        unwritten = _UNWRITTEN_FAILURES.get((str(self.path.resolve()), session_id))
        if unwritten is not None:
            return "failed", f"{unwritten} (not yet written to the store: it could not be updated then); {where}."
        if owner.token_alive(owners.get(session_id)) is False:
            return "interrupted", f"The process running it stopped; {where}."
        return status, note

    def _damaged(self, session_id: str, what: str, exc: BaseException) -> StoreError:
        return StoreError(
            f"Session {session_id} in the store {self.path} has a damaged {what} ({type(exc).__name__}: "
            f"{_short(exc, 200)}); its other rounds may still load. Delete the session, or restore the store "
            "from a backup."
        )

    def _decoded(self, session_id: str, what: str, decode: Callable[[Any], Any], value: Any) -> Any:
        """``decode(value)``, a damaged value raising a :class:`StoreError` that names ``what``."""
        try:
            return decode(value)
        except _DECODE_ERRORS as exc:
            raise self._damaged(session_id, what, exc) from exc

    @_guarded("read")
    def session_info(self, session_id: str) -> dict[str, Any]:
        """The session row as a dict, JSON columns decoded.

        Parameters
        ----------
        session_id : str
            The session.

        Returns
        -------
        dict
            The row's columns, with ``config`` (dict), ``label_names`` (list or None),
            ``initial_labeled`` (``{"positions": [...], "labels": ...}``, the labels as stored: dense
            rows, the sparse object above 500 labels or None; :func:`decode_labels` reads them),
            ``feature_source`` (dict or None) and ``stop_set`` (``{"positions": [...]}`` or None) instead
            of their JSON columns. ``status`` is the status
            to show: ``interrupted`` for a ``running`` session whose process is gone, ``failed`` for
            one whose failure this process could not write; ``stored_status`` is the file's.

        Raises
        ------
        StoreError
            For an unknown session, or a damaged JSON column.
        """
        with self._connect(readonly=True) as con:
            row = dict(self._require(con, session_id))
            n_records = int(con.execute("SELECT COUNT(*) FROM rounds WHERE session_id = ?", (session_id,)).fetchone()[0])
            owners = _owners(con) if row["status"] == "running" else {}
        row["stored_status"] = row["status"]
        row["status"], row["note"] = self._shown_status(session_id, row, n_records, owners)
        for column, key in (("config_json", "config"), ("label_names_json", "label_names"),
                            ("initial_labeled_json", "initial_labeled"), ("feature_source_json", "feature_source"),
                            ("stop_set_json", "stop_set")):
            text = row.pop(column, None)
            row[key] = self._decoded(session_id, column, json.loads, text) if text else None
        if not isinstance(row["config"], dict) or not isinstance(row["initial_labeled"], dict):
            raise self._damaged(session_id, "config_json or initial_labeled_json", TypeError("not a JSON object"))
        return row

    @_guarded("read")
    def record_count(self, session_id: str) -> int:
        """How many records (rounds and the final evaluation) of a session are stored: a cheap check
        of whether another process or browser advanced it.

        Parameters
        ----------
        session_id : str
            The session.

        Returns
        -------
        int
            The number of stored records (``len(load_rounds(session_id))``).

        Raises
        ------
        StoreError
            For an unknown session (e.g. deleted meanwhile), or when the file cannot be read.
        """
        with self._connect(readonly=True) as con:
            self._require(con, session_id)
            return int(con.execute("SELECT COUNT(*) FROM rounds WHERE session_id = ?", (session_id,)).fetchone()[0])

    @_guarded("write to")
    def set_stop_set(self, session_id: str, positions: np.ndarray) -> None:
        """Record the stop set of a session (one created before schema v4 gets one when resumed).

        Parameters
        ----------
        session_id : str
            The session.
        positions : numpy.ndarray
            Pool positions of the stop set.

        Raises
        ------
        StoreError
            For an unknown session, or when the file cannot be written.
        """
        with self._transaction() as con:
            self._require(con, session_id)
            con.execute("UPDATE sessions SET stop_set_json = ? WHERE id = ?", (_stop_set_json(positions), session_id))

    @_guarded("write to")
    def set_feature_source(self, session_id: str, source: dict[str, Any]) -> None:
        """Record where the session's features came from (``features.Features.provenance``).

        Parameters
        ----------
        session_id : str
            The session.
        source : dict
            The provenance: representation, bundled / computed, precision, cache key, check.
        """
        with self._transaction() as con:
            self._require(con, session_id)
            con.execute("UPDATE sessions SET feature_source_json = ? WHERE id = ?",
                        (_dumps(source), session_id))

    @_guarded("write a round to")
    def append_round(self, session_id: str, record: RoundRecord, *, status: str | None = None) -> None:
        """Write one completed round (and optionally the new session status) in one transaction.

        Parameters
        ----------
        session_id : str
            The session.
        record : RoundRecord
            The round (its selection's details, scores and diagnostics included).
        status : str, optional
            New session status written in the same transaction (``"finished"`` for the final record).

        Raises
        ------
        StoreError
            When the round is already stored, the session is unknown, or the write failed (a full disk, a
            read-only file); nothing of the round is then stored.
        """
        sel = record.selection
        details = scores = diagnostics = None
        if sel is not None:
            details = dataframe_to_bytes(sel.details) if sel.details is not None else None
            scores = _array_to_npy(np.asarray(sel.scores)) if sel.scores is not None else None
            diagnostics = encode_payload(sel.diagnostics if sel.diagnostics is not None else {})
        now = _now()
        with self._transaction() as con:
            self._require(con, session_id)
            try:
                con.execute(
                    "INSERT INTO rounds (session_id, round, created_at, n_labeled, metrics_json, selected_json, "
                    "labels_json, details, scores, diagnostics, shared_diag_json, timings_json, answered_by, pick_proba, "
                    "stopping) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        session_id,
                        int(record.round),
                        now,
                        int(record.n_labeled),
                        _dumps(record.metrics),
                        None if record.selected is None else json.dumps(np.asarray(record.selected).tolist()),
                        _labels_to_json(record.labels),
                        details,
                        scores,
                        diagnostics,
                        _dumps(record.shared_diagnostics()),
                        _dumps(record.timings),
                        record.answered_by,
                        None if record.pick_proba is None else _array_to_npy(np.asarray(record.pick_proba, np.float32)),
                        None if record.stopping is None else encode_payload(record.stopping),
                    ),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"Round {record.round} of session {session_id} is already stored.") from None
            con.execute(
                "UPDATE sessions SET updated_at = ?, status = COALESCE(?, status) WHERE id = ?",
                (now, status, session_id),
            )
        self._write_pending_failures()

    def _write_pending_failures(self) -> None:
        """Write the failures this process could not write earlier (a full disk that has cleared);
        best effort after another write went through: what still fails stays pending."""
        here = str(self.path.resolve()) if _UNWRITTEN_FAILURES else None
        for (path, sid), note in list(_UNWRITTEN_FAILURES.items()):
            if path != here:
                continue
            try:
                with self._transaction() as con:
                    con.execute("UPDATE sessions SET status = 'failed', updated_at = ?, note = ? "
                                "WHERE id = ? AND status = 'running'", (_now(), note, sid))
            except (sqlite3.Error, OSError):
                return
            _UNWRITTEN_FAILURES.pop((path, sid), None)

    def _round_rows(self, con: sqlite3.Connection, session_id: str) -> list[sqlite3.Row]:
        con.row_factory = sqlite3.Row
        return con.execute("SELECT * FROM rounds WHERE session_id = ? ORDER BY round", (session_id,)).fetchall()

    @_guarded("read")
    def load_rounds(self, session_id: str) -> list[RoundRecord]:
        """The stored rounds of a session, in round order.

        Parameters
        ----------
        session_id : str
            The session.

        Returns
        -------
        list of RoundRecord
            With their ``Selection`` (details, scores, diagnostics) and ``created_at``.

        Raises
        ------
        StoreError
            For an unknown session, an unreadable file, or a damaged blob or JSON column (the message
            names the round and the column).
        """
        with self._connect(readonly=True) as con:
            srow = self._require(con, session_id)
            rows = self._round_rows(con, session_id)
        n_labels = None
        if srow["label_names_json"]:
            n_labels = len(self._decoded(session_id, "label_names_json", json.loads, srow["label_names_json"]))
        return [self._round_record(session_id, row, n_labels) for row in rows]

    def _round_record(self, session_id: str, row: sqlite3.Row, n_labels: int | None) -> RoundRecord:
        """One ``rounds`` row as a record; a damaged column raises a StoreError naming round and column."""
        def field(column: str, decode: Callable[[Any], Any], default: Any = None) -> Any:
            value = row[column]
            return default if value is None else self._decoded(session_id, f"{column} in round {row['round']}",
                                                                 decode, value)

        selected = field("selected_json", lambda t: np.asarray(json.loads(t), dtype=np.int64))
        selection = None
        if selected is not None:
            selection = Selection(
                indices=selected.copy(),
                scores=field("scores", _npy_to_array, np.empty(0)),
                details=field("details", bytes_to_dataframe, pd.DataFrame()),
                diagnostics=field("diagnostics", decode_payload) or {},
            )
        parts = {
            "metrics": field("metrics_json", json.loads),
            "labels": field("labels_json", lambda t: _labels_from_json(t, n_labels)),
            "timings": field("timings_json", json.loads),
            "shared": field("shared_diag_json", json.loads),
            "pick_proba": field("pick_proba", _npy_to_array),
            "stopping": field("stopping", decode_payload),
        }
        return self._decoded(
            session_id, f"row of round {row['round']}",
            lambda r: RoundRecord.from_parts(round=int(r["round"]), n_labeled=int(r["n_labeled"]), selected=selected,
                                             selection=selection, created_at=r["created_at"],
                                             answered_by=r["answered_by"], **parts),
            row,
        )

    @_guarded("read")
    def load_session(self, session_id: str) -> tuple[SessionConfig, dict[str, Any], list[RoundRecord]]:
        """Everything needed to rebuild a session (``ActiveLearningSession.resume``).

        Parameters
        ----------
        session_id : str
            The session.

        Returns
        -------
        tuple of (SessionConfig, dict, list of RoundRecord)
            The config, the initial set ``{"positions": int64 array, "labels": uint8 (n, K) or None}``
            and the rounds. The initial labels are a numpy array up to
            :data:`~mlal_core.data.SPARSE_LABELS_ABOVE_K` labels and a ``scipy.sparse.csr_matrix``
            above (:func:`decode_label_storage`), whichever form the store holds.

        Raises
        ------
        StoreError
            For an unknown session, an unreadable file or a damaged column.
        """
        from mlal_core.session.config import SessionConfig

        info = self.session_info(session_id)
        config = SessionConfig.from_dict(info["config"])
        init = info["initial_labeled"]
        n_labels = None if info["label_names"] is None else len(info["label_names"])
        initial = {
            "positions": np.asarray(init["positions"], dtype=np.int64),
            "labels": None if init.get("labels") is None else self._decoded(
                session_id, "initial_labeled_json", lambda v: decode_label_storage(v, n_labels), init["labels"]),
        }
        return config, initial, self.load_rounds(session_id)

    @_guarded("read")
    def list_sessions(self) -> pd.DataFrame:
        """One row per session, newest first.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``name``, ``dataset``, ``strategy``, ``status``, ``rounds_done`` (queries
            made), ``rounds_planned``, ``records`` (learning-curve points stored), ``n_labeled`` and
            ``micro_f1`` of the last record (``n_labeled``: the labelled set its model trained on),
            ``labelled`` (samples labelled now: ``n_labeled`` plus the last record's picks; the initial
            set without a record), ``seed``, ``created_at``, ``updated_at``, ``note``. A session whose
            config or metrics are damaged is listed with those columns empty and ``note`` saying so.
            ``status``: as :meth:`session_info` shows it (``interrupted`` when the process running a
            ``running`` session is gone, with a note saying how many rounds are stored).

        Raises
        ------
        StoreError
            When the file cannot be read.
        """
        with self._connect(readonly=True) as con:
            con.row_factory = sqlite3.Row
            rows = con.execute(
                "SELECT s.*, (SELECT COUNT(*) FROM rounds r WHERE r.session_id = s.id) AS n_records, "
                "(SELECT COUNT(*) FROM rounds r WHERE r.session_id = s.id AND r.selected_json IS NOT NULL) AS n_rounds, "
                "(SELECT r.n_labeled FROM rounds r WHERE r.session_id = s.id ORDER BY r.round DESC LIMIT 1) AS last_n, "
                "COALESCE((SELECT r.n_labeled + COALESCE(json_array_length(r.selected_json), 0) FROM rounds r "
                "WHERE r.session_id = s.id ORDER BY r.round DESC LIMIT 1), "
                "json_array_length(s.initial_labeled_json, '$.positions')) AS labelled_now, "
                "(SELECT r.metrics_json FROM rounds r WHERE r.session_id = s.id ORDER BY r.round DESC LIMIT 1) AS last_m "
                "FROM sessions s ORDER BY s.created_at DESC, s.id"
            ).fetchall()
            owners = _owners(con)
        out = []
        for r in rows:
            try:
                cfg = json.loads(r["config_json"])
                metrics = json.loads(r["last_m"]) if r["last_m"] else {}
                note = r["note"]
                if not isinstance(cfg, dict) or not isinstance(metrics, dict):
                    raise TypeError("not a JSON object")
            except _DECODE_ERRORS as exc:
                cfg, metrics, note = {}, {}, f"damaged in the store ({_short(exc, 120)})"
            status, shown_note = self._shown_status(r["id"], dict(r), int(r["n_records"]), owners)
            out.append(
                {
                    "id": r["id"],
                    "name": r["name"],
                    "dataset": r["dataset_name"] or cfg.get("dataset"),
                    "strategy": cfg.get("strategy"),
                    "status": status,
                    "rounds_done": int(r["n_rounds"]),
                    "records": int(r["n_records"]),
                    "rounds_planned": cfg.get("rounds"),
                    "n_labeled": r["last_n"],
                    "labelled": r["labelled_now"],
                    "micro_f1": metrics.get("micro_f1"),
                    "seed": cfg.get("seed"),
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                    "note": shown_note if status != r["status"] else note,
                }
            )
        columns = [
            "id", "name", "dataset", "strategy", "status", "rounds_done", "rounds_planned", "records", "n_labeled",
            "labelled", "micro_f1", "seed", "created_at", "updated_at", "note",
        ]  # fmt: skip
        return pd.DataFrame(out, columns=columns)

    @_guarded("delete a session from")
    def delete_session(self, session_id: str) -> None:
        """Delete a session and its rounds.

        Parameters
        ----------
        session_id : str
            The session.

        Raises
        ------
        StoreError
            For an unknown session.
        """
        with self._transaction() as con:
            self._require(con, session_id)
            con.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    # ------------------------------------------------------------------ exports
    def export_json(self, session_id: str, path: str | Path) -> Path:
        """Write one standard JSON document with the session, its config and every round.

        Top level: the session row, the config, ``label_names`` (the label order of every per-label
        array below), ``feature_source`` (which features the session used, their precision),
        ``initial_labeled``, ``oracle`` (who labelled the picks: :func:`~mlal_core.session.tables.oracle_summary`),
        ``stopping`` (the stop set's size, seed and positions, the initial set's method with its recorded
        parameters, and per stopping criterion its paper, parameters and first stop:
        :func:`~mlal_core.session.stopping_export.stopping_document`) and ``rounds``. Per round, ``stopping``
        holds the measures the round stored and each criterion's value, threshold and ``would_stop``
        (:func:`~mlal_core.session.stopping_export.round_stopping`). Per round: metrics, timings, shared diagnostics, ``answered_by``
        (``"simulated"`` / ``"person"``; None for the final record and rounds stored before schema v2),
        the picks (``selected``), the oracle's answers (``labels``, 0/1 rows, above 500 labels the
        sparse object ``{"shape": [n, K], "rows": [[j, ...], ...]}`` of :func:`encode_labels`, as is
        ``initial_labeled``'s; and ``labels_named``, their names), ``pick_proba`` (the model's mean probabilities for the picks when it picked
        them, one row per pick, columns in ``label_names`` order), and the strategy's details
        (records), scores and diagnostics (arrays as nested lists). Where the strategy recorded label
        indices they stay, and the names are added beside them (``<column>_named``,
        :func:`~mlal_core.session.label_text.with_named_twins` and
        :func:`~mlal_core.session.label_text.named_diagnostics`). NaN and infinities are written as
        ``null``.

        Parameters
        ----------
        session_id : str
            The session.
        path : str or Path
            The file to write (folders are created).

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        StoreError
            For an unknown session, a damaged one, or a ``path`` that cannot be written (a folder, a
            read-only place).
        """
        info = self.session_info(session_id)
        rounds = self.load_rounds(session_id)
        names = info["label_names"]
        doc = {
            "session": {k: info[k] for k in ("id", "name", "created_at", "updated_at", "status", "dataset_name", "dataset_hash", "note")},
            "config": info["config"],
            "label_names": names,
            "feature_source": info["feature_source"],
            "initial_labeled": info["initial_labeled"],
            "oracle": oracle_summary(rounds),
            "stopping": stopping_export.stopping_document(info, rounds),
            "rounds": [{**_round_document(rec, names), "stopping": state}
                       for rec, state in zip(rounds, stopping_export.round_stopping(rounds))],
        }
        path = Path(path)
        text = json.dumps(_finite(_plain(doc)), indent=1, allow_nan=False)
        with _export_target(path, is_file=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return path

    def export_csv(self, session_id: str, directory: str | Path) -> tuple[Path, Path]:
        """Write ``rounds.csv`` and ``picks.csv`` of a session.

        ``rounds.csv``: :func:`mlal_core.session.tables.rounds_frame` (one row per round: sizes, who
        answered, metrics, shared diagnostics, timings). ``picks.csv``:
        :func:`mlal_core.session.tables.picks_frame` (one row per picked sample: ``round``, ``order``,
        ``position``, ``oracle_labels`` (names), ``n_labels``, ``answered_by``, ``predicted_top`` /
        ``predicted_labels`` (what the model predicted when it picked them), then the strategy's
        details columns with label names for indices, ``detail_`` prefixed where a name is taken).

        Parameters
        ----------
        session_id : str
            The session.
        directory : str or Path
            Where to write both files (created).

        Returns
        -------
        tuple of (Path, Path)
            The paths of ``rounds.csv`` and ``picks.csv``.

        Raises
        ------
        StoreError
            For an unknown session, a damaged one, or a ``directory`` that cannot be written.
        """
        info = self.session_info(session_id)
        rounds = self.load_rounds(session_id)
        directory = Path(directory)
        rounds_path = directory / "rounds.csv"
        picks_path = directory / "picks.csv"
        with _export_target(directory, is_file=False):
            directory.mkdir(parents=True, exist_ok=True)
            rounds_frame(rounds).to_csv(rounds_path, index=False)
            picks_frame(rounds, info["label_names"], with_proba=info["label_names"] is not None).to_csv(
                picks_path, index=False)
        return rounds_path, picks_path

    def export_stopping_csv(self, session_id: str, directory: str | Path) -> Path:
        """Write ``stopping.csv`` of a session: every stopping criterion's state after every round.

        One row per (round, criterion): ``round``, ``n_labeled``, ``criterion`` (key), ``name``,
        ``value``, ``threshold``, ``would_stop``, ``available``, ``explanation``
        (:func:`mlal_core.session.stopping_export.stopping_frame`; the criteria of
        :func:`mlal_core.stopping.default_criteria` with their papers' thresholds).

        Parameters
        ----------
        session_id : str
            The session.
        directory : str or Path
            Where to write the file (created).

        Returns
        -------
        Path
            The path of ``stopping.csv``.

        Raises
        ------
        StoreError
            For an unknown session, a damaged one, or a ``directory`` that cannot be written.
        """
        self.session_info(session_id)  # raises StoreError for an unknown id
        frame = stopping_export.stopping_frame(self.load_rounds(session_id))
        directory = Path(directory)
        path = directory / "stopping.csv"
        with _export_target(directory, is_file=False):
            directory.mkdir(parents=True, exist_ok=True)
            frame.to_csv(path, index=False)
        return path

