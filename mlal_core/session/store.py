"""SQLite persistence of sessions and rounds (stdlib ``sqlite3``, WAL mode, foreign keys).

One row per session and one per completed round. A round is written in **one transaction** after
it has completed (``append_round``), so a crash in the middle of a round leaves the session at its
last completed round, and ``ActiveLearningSession.resume`` continues from there.

Schema (version 3; ``schema_version`` holds the applied version, ``MIGRATIONS`` upgrades older
files in order and a file from a newer version is refused):

* ``sessions(id, name, created_at, updated_at, config_json, status, dataset_name, dataset_hash,
  label_names_json, initial_labeled_json, note, feature_source_json)``; ``status`` is ``running`` /
  ``finished`` / ``failed``; ``initial_labeled_json`` = ``{"positions": [...], "labels": [[0/1, ...],
  ...]}`` (the oracle's answers for the initial set); ``feature_source_json``: where the session's
  features came from (representation, ``source`` bundled / computed, precision, cache key, the
  bundled file's first-use check), null until the features exist.
* ``rounds(session_id, round, created_at, n_labeled, metrics_json, selected_json, labels_json,
  details, scores, diagnostics, shared_diag_json, timings_json)`` with ``PRIMARY KEY(session_id,
  round)``; ``details`` = the Selection's details DataFrame as Parquet bytes, ``scores`` = ``.npy``
  bytes, ``diagnostics`` = the codec below.

Payload codec (``encode_payload`` / ``decode_payload``): an ``.npz`` whose ``__json__`` entry is
the JSON skeleton of the object; numpy arrays are stored as npz entries, DataFrames as Parquet bytes,
numpy scalars keep their dtype, tuples / sets / dicts with non-string keys are tagged. NaN and
infinities survive. It round-trips dicts of arrays, scalars, lists and DataFrames exactly.
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlal_core import paths
from mlal_core.errors import ConfigError, MLALError
from mlal_core.session.records import RoundRecord
from mlal_core.session.label_text import label_set, named_diagnostics, with_named_twins
from mlal_core.session.tables import oracle_summary, picks_frame, rounds_frame
from mlal_core.strategies.base import Selection

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.session.config import SessionConfig

SCHEMA_VERSION = 3

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
}


class StoreError(MLALError):
    """The session store cannot do what was asked (unknown session, newer schema, ...).
    """


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


def _labels_to_json(labels: np.ndarray | None) -> str | None:
    if labels is None:
        return None
    return json.dumps(np.asarray(labels, dtype=np.uint8).tolist())


def _labels_from_json(text: str | None, n_labels: int | None = None) -> np.ndarray | None:
    if text is None:
        return None
    arr = np.asarray(json.loads(text), dtype=np.uint8)
    if arr.size == 0 and n_labels is not None:
        arr = arr.reshape(0, n_labels)
    return arr


# ====================================================================== the store
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
        "labels": None if rec.labels is None else rec.labels.tolist(),
        "labels_named": None if rec.labels is None or not names else [label_set(r, names) for r in rec.labels],
        "pick_proba": None if rec.pick_proba is None else np.asarray(rec.pick_proba, dtype=float).tolist(),
        "details": details,
        "scores": None if sel is None else sel.scores,
        "diagnostics": diagnostics,
    }


class SessionStore:
    """A SQLite file of sessions; one connection per operation (safe across threads).

    Opening a file applies the :data:`MIGRATIONS` it lacks (a file from a newer schema is refused).

    Parameters
    ----------
    path : str or Path, optional
        The file (created with its folders); default ``paths.default_store_path()``
        (``$MLAL_HOME/sessions.sqlite``).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            self._migrate(con)

    def __repr__(self) -> str:
        return f"SessionStore({str(self.path)!r})"

    # ------------------------------------------------------------------ connections
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=NORMAL")
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _migrate(self, con: sqlite3.Connection) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"The session store {self.path} has schema version {current}, newer than this "
                    f"workbench understands ({SCHEMA_VERSION}). Update the workbench or use another store."
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[version]:
                    con.execute(sql)
                con.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def schema_version(self) -> int:
        """The schema version the file holds (:data:`SCHEMA_VERSION` once opened by this code).

        Returns
        -------
        int
        """
        with self._connect() as con:
            return int(con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def journal_mode(self) -> str:
        """SQLite's journal mode of the file (``"wal"``, or ``"delete"`` where WAL is not available).

        Returns
        -------
        str
        """
        with self._connect() as con:
            return str(con.execute("PRAGMA journal_mode").fetchone()[0])

    # ------------------------------------------------------------------ sessions
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

        Returns
        -------
        str
            The new session's id (uuid4 hex).
        """
        sid = uuid.uuid4().hex
        now = _now()
        initial = {
            "positions": np.asarray(initial_labeled, dtype=np.int64).tolist(),
            "labels": None if initial_labels is None else np.asarray(initial_labels, dtype=np.uint8).tolist(),
        }
        with self._transaction() as con:
            con.execute(
                "INSERT INTO sessions (id, name, created_at, updated_at, config_json, status, dataset_name, "
                "dataset_hash, label_names_json, initial_labeled_json, note) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
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
                ),
            )
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
        with self._connect() as con:
            ids = [r[0] for r in con.execute("SELECT id FROM sessions WHERE id LIKE ?", (prefix + "%",)).fetchall()]
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise StoreError(f"No session {prefix!r} in the store {self.path}.")
        raise StoreError(f"{len(ids)} sessions start with {prefix!r}; give more of the id.")

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
            For an unknown session.
        """
        if status not in ("running", "finished", "failed"):
            raise ConfigError(f"Unknown session status {status!r}.")
        with self._transaction() as con:
            self._require(con, session_id)
            con.execute(
                "UPDATE sessions SET status = ?, updated_at = ?, note = COALESCE(?, note) WHERE id = ?",
                (status, _now(), note, session_id),
            )

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
            ``initial_labeled`` (``{"positions": [...], "labels": [[...]] or None}``) and
            ``feature_source`` (dict or None) instead of their JSON columns.

        Raises
        ------
        StoreError
            For an unknown session.
        """
        with self._connect() as con:
            row = dict(self._require(con, session_id))
        row["config"] = json.loads(row.pop("config_json"))
        row["label_names"] = json.loads(row.pop("label_names_json")) if row["label_names_json"] else None
        row["initial_labeled"] = json.loads(row.pop("initial_labeled_json"))
        source = row.pop("feature_source_json", None)
        row["feature_source"] = json.loads(source) if source else None
        return row

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
            When the round is already stored or the session is unknown.
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
                    "labels_json, details, scores, diagnostics, shared_diag_json, timings_json, answered_by, pick_proba) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    ),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"Round {record.round} of session {session_id} is already stored.") from None
            con.execute(
                "UPDATE sessions SET updated_at = ?, status = COALESCE(?, status) WHERE id = ?",
                (now, status, session_id),
            )

    def _round_rows(self, con: sqlite3.Connection, session_id: str) -> list[sqlite3.Row]:
        con.row_factory = sqlite3.Row
        return con.execute("SELECT * FROM rounds WHERE session_id = ? ORDER BY round", (session_id,)).fetchall()

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
        """
        with self._connect() as con:
            srow = self._require(con, session_id)
            rows = self._round_rows(con, session_id)
        n_labels = None
        if srow["label_names_json"]:
            n_labels = len(json.loads(srow["label_names_json"]))
        records = []
        for row in rows:
            selected = None if row["selected_json"] is None else np.asarray(json.loads(row["selected_json"]), dtype=np.int64)
            selection = None
            if selected is not None:
                selection = Selection(
                    indices=selected.copy(),
                    scores=_npy_to_array(row["scores"]) if row["scores"] is not None else np.empty(0),
                    details=bytes_to_dataframe(row["details"]) if row["details"] is not None else pd.DataFrame(),
                    diagnostics=decode_payload(row["diagnostics"]) or {},
                )
            shared = json.loads(row["shared_diag_json"])
            records.append(
                RoundRecord.from_parts(
                    round=int(row["round"]),
                    n_labeled=int(row["n_labeled"]),
                    metrics=json.loads(row["metrics_json"]),
                    selected=selected,
                    labels=_labels_from_json(row["labels_json"], n_labels),
                    selection=selection,
                    timings=json.loads(row["timings_json"]),
                    shared=shared,
                    created_at=row["created_at"],
                    answered_by=row["answered_by"],
                    pick_proba=_npy_to_array(row["pick_proba"]) if row["pick_proba"] is not None else None,
                )
            )
        return records

    def load_session(self, session_id: str) -> tuple[SessionConfig, dict[str, Any], list[RoundRecord]]:
        """Everything needed to rebuild a session (``ActiveLearningSession.resume``).

        Parameters
        ----------
        session_id : str
            The session.

        Returns
        -------
        tuple of (SessionConfig, dict, list of RoundRecord)
            The config, the initial set ``{"positions": int64 array, "labels": uint8 (n, K) array or
            None}`` and the rounds.
        """
        from mlal_core.session.config import SessionConfig

        info = self.session_info(session_id)
        config = SessionConfig.from_dict(info["config"])
        init = info["initial_labeled"]
        initial = {
            "positions": np.asarray(init["positions"], dtype=np.int64),
            "labels": None if init.get("labels") is None else np.asarray(init["labels"], dtype=np.uint8),
        }
        return config, initial, self.load_rounds(session_id)

    def list_sessions(self) -> pd.DataFrame:
        """One row per session, newest first.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``name``, ``dataset``, ``strategy``, ``status``, ``rounds_done`` (queries
            made), ``rounds_planned``, ``records`` (learning-curve points stored), ``n_labeled`` and
            ``micro_f1`` of the last record (``n_labeled``: the labelled set its model trained on),
            ``labelled`` (samples labelled now: ``n_labeled`` plus the last record's picks; the initial
            set without a record), ``seed``, ``created_at``, ``updated_at``, ``note``.
        """
        with self._connect() as con:
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
        out = []
        for r in rows:
            cfg = json.loads(r["config_json"])
            metrics = json.loads(r["last_m"]) if r["last_m"] else {}
            out.append(
                {
                    "id": r["id"],
                    "name": r["name"],
                    "dataset": r["dataset_name"] or cfg.get("dataset"),
                    "strategy": cfg.get("strategy"),
                    "status": r["status"],
                    "rounds_done": int(r["n_rounds"]),
                    "records": int(r["n_records"]),
                    "rounds_planned": cfg.get("rounds"),
                    "n_labeled": r["last_n"],
                    "labelled": r["labelled_now"],
                    "micro_f1": metrics.get("micro_f1"),
                    "seed": cfg.get("seed"),
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                    "note": r["note"],
                }
            )
        columns = [
            "id", "name", "dataset", "strategy", "status", "rounds_done", "rounds_planned", "records", "n_labeled",
            "labelled", "micro_f1", "seed", "created_at", "updated_at", "note",
        ]  # fmt: skip
        return pd.DataFrame(out, columns=columns)

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
        ``initial_labeled``, ``oracle`` (who labelled the picks: :func:`~mlal_core.session.tables.oracle_summary`)
        and ``rounds``. Per round: metrics, timings, shared diagnostics, ``answered_by``
        (``"simulated"`` / ``"person"``; None for the final record and rounds stored before schema v2),
        the picks (``selected``), the oracle's answers (``labels``, 0/1 rows, and ``labels_named``,
        their names), ``pick_proba`` (the model's mean probabilities for the picks when it picked
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
            For an unknown session.
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
            "rounds": [_round_document(rec, names) for rec in rounds],
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_finite(_plain(doc)), indent=1, allow_nan=False))
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
            For an unknown session.
        """
        info = self.session_info(session_id)
        rounds = self.load_rounds(session_id)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        rounds_path = directory / "rounds.csv"
        picks_path = directory / "picks.csv"
        rounds_frame(rounds).to_csv(rounds_path, index=False)
        picks_frame(rounds, info["label_names"], with_proba=info["label_names"] is not None).to_csv(picks_path, index=False)
        return rounds_path, picks_path

