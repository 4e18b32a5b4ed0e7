"""The experiment's results tables in the main store file, and reading an experiment's results back.

The experiment's bookkeeping lives in three tables of the main session-store file, which the session
store itself ignores: ``exp_experiments`` (name, config), ``exp_runs`` (experiment, run key, session
id, dataset / strategy / model labels, seed, pool size, seconds) and ``exp_references`` (full-data
scores). The parent process of :func:`mlal_core.experiments.run_experiment` is their only writer
(:class:`ResultsTables`); :func:`load_results` reads them back as data frames for
:mod:`mlal_core.experiments.analysis`.

Schema (version :data:`SCHEMA_VERSION`): ``exp_schema_version`` holds the versions applied;
:data:`MIGRATIONS` brings a file from one version to the next, in order, and a file of a newer
version is refused. Version 1 is the schema stores were written with before the version table
existed; its statements create the tables only where they are missing, so such a store is adopted
as version 1 as it is.
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlal_core import stopping
from mlal_core.errors import ConfigError
from mlal_core.experiments.config import ExperimentConfig, load_config
from mlal_core.experiments.planner import Plan, ReferenceSpec, RunSpec, finished_runs
from mlal_core.session.store import StoreError, decode_labels, decode_payload

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ExperimentResults",
    "ResultsTables",
    "experiments_in_store",
    "load_pick_labels",
    "load_results",
    "schema_version",
]

SCHEMA_VERSION = 1
VERSION_TABLE = "exp_schema_version"

#: version -> SQL statements that bring a file from version - 1 to version.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE IF NOT EXISTS exp_experiments (
            name TEXT PRIMARY KEY, config_json TEXT NOT NULL, source TEXT, created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS exp_runs (
            experiment TEXT NOT NULL, key TEXT NOT NULL, session_id TEXT, setting TEXT, dataset TEXT,
            dataset_name TEXT, representation TEXT, model TEXT, strategy TEXT, strategy_name TEXT,
            strategy_params_json TEXT, seed INTEGER, pool_size INTEGER, initial_size INTEGER, query_size INTEGER,
            rounds INTEGER, candidate_subset INTEGER, reference_key TEXT, seconds REAL, backend TEXT,
            finished_at TEXT, PRIMARY KEY (experiment, key))""",
        """CREATE TABLE IF NOT EXISTS exp_references (
            key TEXT PRIMARY KEY, dataset TEXT, representation TEXT, model TEXT, seed INTEGER, pool_size INTEGER,
            result_json TEXT NOT NULL, created_at TEXT NOT NULL)""",
    ],
}

RUN_COLUMNS = ("key", "session_id", "setting", "dataset", "dataset_name", "representation", "model", "strategy",
               "strategy_name", "seed", "pool_size", "initial_size", "query_size", "rounds", "candidate_subset",
               "reference_key", "seconds", "backend")
#: the run columns repeated on every row of the rounds frame
ROUND_RUN_COLUMNS = ("key", "session_id", "setting", "dataset", "representation", "model", "strategy",
                     "strategy_name", "seed", "pool_size")
REFERENCE_COLUMNS = ("reference_key", "dataset", "representation", "model", "seed", "pool_size", "seconds")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=60.0)


def _stored_version(con: sqlite3.Connection) -> int:
    """The schema version of a file: 0 without the version table (a store from before it existed, or none)."""
    has_table = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (VERSION_TABLE,)).fetchone()
    if not has_table:
        return 0
    return int(con.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()[0] or 0)


def _refuse_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The experiment tables of {path} have schema version {version}, newer than this workbench "
            f"understands ({SCHEMA_VERSION}). Update the workbench or use another store."
        )


def schema_version(store: str | Path) -> int:
    """The schema version of the experiment tables of a store file.

    Parameters
    ----------
    store : str or Path
        A store file.

    Returns
    -------
    int
        0 for a file without the version table (never opened by :class:`ResultsTables`).
    """
    con = _connect(Path(store))
    try:
        return _stored_version(con)
    finally:
        con.close()


class ResultsTables:
    """The experiment tables inside the main store file (the parent process is their only writer).

    Opening a file creates the tables or brings them to :data:`SCHEMA_VERSION` (:data:`MIGRATIONS`).

    Parameters
    ----------
    path : str or Path
        The main store file.

    Raises
    ------
    StoreError
        The file's experiment tables are of a newer schema version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                self._migrate(con)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _migrate(self, con: sqlite3.Connection) -> None:
        current = _stored_version(con)
        _refuse_newer(current, self.path)
        con.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for sql in MIGRATIONS[version]:
                con.execute(sql)
            con.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)", (version,))

    def _con(self) -> sqlite3.Connection:
        con = _connect(self.path)
        con.execute("PRAGMA foreign_keys=ON")
        return con

    def schema_version(self) -> int:
        """The schema version of the file (:data:`SCHEMA_VERSION` once opened)."""
        return schema_version(self.path)

    def record_experiment(self, config: ExperimentConfig) -> None:
        """Insert or update the experiment's row (its config as given, its source file)."""
        now = _now()
        doc = json.dumps(config.raw, sort_keys=True, default=str)
        with self._con() as con:
            con.execute(
                "INSERT INTO exp_experiments (name, config_json, source, created_at, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET config_json = excluded.config_json, source = excluded.source, "
                "updated_at = excluded.updated_at",
                (config.name, doc, str(config.source) if config.source else None, now, now),
            )

    def record_run(self, experiment: str, spec: RunSpec, session_id: str, seconds: float | None,
                   backend: str) -> None:
        """Insert or update a finished run's row.

        Parameters
        ----------
        experiment : str
            The experiment's name.
        spec : RunSpec
            The run.
        session_id : str
            Its finished session in the main store.
        seconds : float or None
            How long it ran (None: found finished in the store; ``seconds``, ``backend`` and
            ``finished_at`` of an earlier row are kept).
        backend : str
            ``"local"`` or ``"ray"``.
        """
        with self._con() as con:
            con.execute(
                "INSERT INTO exp_runs (experiment, key, session_id, setting, dataset, dataset_name, representation, "
                "model, strategy, strategy_name, strategy_params_json, seed, pool_size, initial_size, query_size, "
                "rounds, candidate_subset, reference_key, seconds, backend, finished_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(experiment, key) DO UPDATE SET session_id = excluded.session_id, "
                "setting = excluded.setting, dataset = excluded.dataset, model = excluded.model, "
                "strategy = excluded.strategy, reference_key = excluded.reference_key, "
                "seconds = COALESCE(excluded.seconds, exp_runs.seconds), "
                "backend = COALESCE(excluded.backend, exp_runs.backend), "
                "finished_at = COALESCE(excluded.finished_at, exp_runs.finished_at)",
                (experiment, spec.key, session_id, spec.setting, spec.dataset, spec.config.dataset, spec.representation,
                 spec.model, spec.strategy, spec.config.strategy, json.dumps(spec.config.strategy_params, sort_keys=True),
                 spec.seed, spec.pool_size, spec.initial_size, spec.query_size, spec.rounds, spec.candidate_subset,
                 spec.reference_key, seconds, backend if seconds is not None else None,
                 _now() if seconds is not None else None),
            )

    def record_reference(self, spec: ReferenceSpec, result: dict) -> None:
        """Insert or update a full-data reference's row (``result`` of
        :func:`mlal_core.session.reference.full_data_score`; non-finite metrics stored as null)."""
        doc = {k: v for k, v in result.items() if k not in ("cached",)}
        doc["metrics"] = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                          for k, v in doc.get("metrics", {}).items()}
        with self._con() as con:
            con.execute(
                "INSERT INTO exp_references (key, dataset, representation, model, seed, pool_size, result_json, created_at) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET dataset = excluded.dataset, "
                "representation = excluded.representation, model = excluded.model, result_json = excluded.result_json",
                (spec.key, spec.dataset, spec.representation, spec.model, spec.seed, spec.pool_size,
                 json.dumps(doc, default=str, allow_nan=False), _now()),
            )

    def prune_runs(self, experiment: str, keys: set[str]) -> int:
        """Forget the experiment's rows of runs no longer in its grid (their sessions stay in the store).

        Returns
        -------
        int
            How many rows were deleted.
        """
        with self._con() as con:
            rows = con.execute("SELECT key FROM exp_runs WHERE experiment = ?", (experiment,)).fetchall()
            stale = [r[0] for r in rows if r[0] not in keys]
            con.executemany("DELETE FROM exp_runs WHERE experiment = ? AND key = ?", [(experiment, k) for k in stale])
        return len(stale)

    def reference_keys(self) -> set[str]:
        """The keys of the full-data references stored."""
        with self._con() as con:
            return {r[0] for r in con.execute("SELECT key FROM exp_references").fetchall()}


# ====================================================================== reading results back
@dataclass(kw_only=True)
class ExperimentResults:
    """An experiment's stored results as data frames (see :mod:`mlal_core.experiments.analysis`).

    Attributes
    ----------
    name : str
        The experiment's name.
    runs : DataFrame
        One row per finished run (key, session_id, setting, dataset, representation, model,
        strategy, strategy_name, seed, pool_size, budget, seconds).
    rounds : DataFrame
        One row per (run, learning-curve point): the run columns plus ``round``, ``n_labeled``,
        ``labelled_fraction``, ``final``, the shared diagnostics (``mean_ir_selected``,
        ``hard_to_learn_count``, ``conflicting_count``, ...), ``n_selected``, every metric,
        ``time_*`` timings, and per stopping criterion of :func:`mlal_core.stopping.default_criteria`
        ``stop_<key>`` (whether the rule would stop after this record; bool) and ``stop_<key>_value``
        (its value; NaN where the run did not record what it needs, e.g. stores before session schema
        v4), computed from what each run's session stored (no test label).
    references : DataFrame
        One row per full-data reference (dataset, representation, model, seed, pool_size, seconds
        and one column per metric).
    planned : int or None
        The runs in the config (when known).
    strategy_order : list of str
        The strategy labels in the config's order (else in the order first stored).
    config : ExperimentConfig or None
        The config, when the results were read with one.
    """

    name: str
    runs: pd.DataFrame
    rounds: pd.DataFrame
    references: pd.DataFrame
    planned: int | None = None
    strategy_order: list[str] = field(default_factory=list)
    config: ExperimentConfig | None = None


def experiments_in_store(store: str | Path) -> list[str]:
    """Names of the experiments recorded in a store file, the most recently updated first.

    Parameters
    ----------
    store : str or Path

    Returns
    -------
    list of str
        Empty when the file does not exist or holds no experiment.
    """
    path = Path(store)
    if not path.is_file():
        return []
    con = _connect(path)
    try:
        try:
            rows = con.execute("SELECT name FROM exp_experiments ORDER BY updated_at DESC").fetchall()
        except sqlite3.OperationalError:
            return []
    finally:
        con.close()
    return [r[0] for r in rows]


def load_results(store: str | Path | None = None, experiment: str | None = None, *,
                 config: ExperimentConfig | str | Path | None = None) -> ExperimentResults:
    """The finished runs of an experiment, read from its store.

    Parameters
    ----------
    store : str or Path, optional
        The store file (default: the config's).
    experiment : str, optional
        The experiment's name (default: the config's, else the most recently updated experiment of
        the store).
    config : ExperimentConfig or str or Path, optional
        A config or its file: the runs are then exactly the config's grid (labels and settings from
        the config). Without it, the ``exp_runs`` rows of ``experiment``.

    Returns
    -------
    ExperimentResults

    Raises
    ------
    ConfigError
        Neither a store nor a config; no store file; no experiment in it.
    StoreError
        The file is not a SQLite database, or its experiment tables are of a newer schema version.
    """
    plan = None
    if config is not None and not isinstance(config, ExperimentConfig):
        config = load_config(config)
    if config is not None:
        plan = config.plan()
        experiment = config.name
        store = store if store is not None else config.store_path()
    if store is None:
        raise ConfigError("load_results needs a store path or a config.")
    path = Path(store).expanduser()
    if not path.is_file():
        raise ConfigError(f"No experiment store at {path}; run the experiment first "
                          "(python -m mlal_core experiment CONFIG).")
    con = _connect(path)
    con.row_factory = sqlite3.Row
    try:
        try:
            version = _stored_version(con)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not an experiment store ({exc}); pass the SQLite file the experiment "
                             "wrote (the config's `store:`).") from None
        _refuse_newer(version, path)
        try:
            exp_rows = con.execute("SELECT * FROM exp_runs").fetchall()
            ref_rows = con.execute("SELECT * FROM exp_references").fetchall()
        except sqlite3.OperationalError:
            raise ConfigError(f"{path} holds no experiment (no exp_runs table).") from None
        experiment = experiment if experiment is not None else _latest_experiment(con, path)
        if plan is not None:
            runs = _planned_runs(plan, exp_rows, experiment, path)
            order = [s.label for s in plan.config.strategies]
        else:
            runs = _recorded_runs(con, exp_rows, experiment)
            order = list(pd.unique(runs["strategy"])) if len(runs) else []
        rounds = _rounds_of(con, runs)
        references = _references_frame(ref_rows, plan)
    finally:
        con.close()
    return ExperimentResults(name=experiment, runs=runs, rounds=rounds, references=references,
                             planned=len(plan.runs) if plan is not None else None, strategy_order=order,
                             config=config)


def _latest_experiment(con: sqlite3.Connection, path: Path) -> str:
    names = [r[0] for r in con.execute("SELECT name FROM exp_experiments ORDER BY updated_at DESC")]
    if not names:
        raise ConfigError(f"{path} holds no experiment.")
    return names[0]


def _planned_runs(plan: Plan, exp_rows: Sequence[sqlite3.Row], experiment: str, path: Path) -> pd.DataFrame:
    """The plan's runs with a finished session in the store (labels and settings from the plan)."""
    finished = finished_runs(path)
    rec = {r["key"]: r for r in exp_rows if r["experiment"] == experiment}
    rows = []
    for spec in plan.runs:
        sid = finished.get(spec.key)
        if sid is None:
            continue
        row = rec.get(spec.key)
        rows.append({
            "key": spec.key, "session_id": sid, "setting": spec.setting, "dataset": spec.dataset,
            "dataset_name": spec.config.dataset, "representation": spec.representation, "model": spec.model,
            "strategy": spec.strategy, "strategy_name": spec.config.strategy, "seed": spec.seed,
            "pool_size": spec.pool_size, "initial_size": spec.initial_size, "query_size": spec.query_size,
            "rounds": spec.rounds, "candidate_subset": spec.candidate_subset,
            "reference_key": spec.reference_key,
            "seconds": row["seconds"] if row is not None else None,
            "backend": row["backend"] if row is not None else None,
        })
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _recorded_runs(con: sqlite3.Connection, exp_rows: Sequence[sqlite3.Row], experiment: str) -> pd.DataFrame:
    """The ``exp_runs`` rows of ``experiment`` whose session is finished."""
    status = {r["id"]: r["status"] for r in con.execute("SELECT id, status FROM sessions")}
    rows = [{c: r[c] for c in RUN_COLUMNS} for r in exp_rows
            if r["experiment"] == experiment and status.get(r["session_id"]) == "finished"]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _round_record(row: sqlite3.Row, run: dict) -> dict:
    rec = {k: run[k] for k in ROUND_RUN_COLUMNS}
    rec.update(round=int(row["round"]), n_labeled=int(row["n_labeled"]), final=bool(row["final"]),
               n_selected=int(row["n_selected"]))
    rec["labelled_fraction"] = rec["n_labeled"] / run["pool_size"] if run["pool_size"] else float("nan")
    shared = json.loads(row["shared_diag_json"])
    rec.update({k: (float("nan") if v is None else v) for k, v in shared.items()})
    rec.update(json.loads(row["metrics_json"]))
    rec.update({f"time_{k}": v for k, v in json.loads(row["timings_json"]).items()})
    return rec


def _rounds_of(con: sqlite3.Connection, runs: pd.DataFrame) -> pd.DataFrame:
    frames = []
    by_sid = {r["session_id"]: r for r in runs.to_dict("records")}
    ids = list(by_sid)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        q = ("SELECT session_id, round, n_labeled, metrics_json, shared_diag_json, timings_json, "
             "selected_json IS NULL AS final, CASE WHEN selected_json IS NULL THEN 0 ELSE "
             "json_array_length(selected_json) END AS n_selected FROM rounds WHERE session_id IN "
             f"({','.join('?' * len(chunk))}) ORDER BY session_id, round")
        rows = con.execute(q, chunk).fetchall()
        frames.append(pd.DataFrame([_round_record(r, by_sid[r["session_id"]]) for r in rows]))
    if not frames or all(f.empty for f in frames):
        return pd.DataFrame(columns=[*ROUND_RUN_COLUMNS, "round", "n_labeled", "final", "n_selected",
                                     "labelled_fraction"])
    out = pd.concat(frames, ignore_index=True)
    out = out.merge(_stop_columns_of(con, ids), on=["session_id", "round"], how="left", validate="one_to_one")
    order = {k: i for i, k in enumerate(runs["key"])}
    out = out.assign(_o=out["key"].map(order)).sort_values(["_o", "round"], kind="stable")
    out = out.drop(columns="_o").reset_index(drop=True)
    for col in ("mean_ir_selected", "label_coverage"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce")
    return out


def _blob_array(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.load(io.BytesIO(blob), allow_pickle=False)


def _stop_columns_of(con: sqlite3.Connection, session_ids: Sequence[str]) -> pd.DataFrame:
    """``session_id``, ``round`` and the ``stop_*`` columns of every record of the sessions (the
    criteria of :func:`mlal_core.stopping.default_criteria`, evaluated on what each session stored)."""
    criteria = stopping.default_criteria()
    has_measures = "stopping" in {r[1] for r in con.execute("PRAGMA table_info(rounds)")}
    measures = "stopping" if has_measures else "NULL AS stopping"
    frames = []
    for i in range(0, len(session_ids), 500):
        chunk = list(session_ids[i:i + 500])
        rows = con.execute(
            f"SELECT session_id, round, n_labeled, selected_json IS NULL AS final, labels_json, pick_proba, {measures} "
            f"FROM rounds WHERE session_id IN ({','.join('?' * len(chunk))}) ORDER BY session_id, round", chunk,
        ).fetchall()
        by_session: dict[str, list[SimpleNamespace]] = {}
        for r in rows:
            by_session.setdefault(r["session_id"], []).append(SimpleNamespace(
                round=int(r["round"]), n_labeled=int(r["n_labeled"]), selected=None if r["final"] else (),
                labels=None if r["labels_json"] is None else decode_labels(json.loads(r["labels_json"])),
                pick_proba=_blob_array(r["pick_proba"]),
                stopping=None if r["stopping"] is None else decode_payload(r["stopping"])))
        for sid, records in by_session.items():
            frames.append(stopping.stop_columns(records, criteria).assign(session_id=sid))
    if not frames:
        return pd.DataFrame(columns=["session_id", "round"])
    return pd.concat(frames, ignore_index=True)


def _references_frame(rows: Sequence[sqlite3.Row], plan: Plan | None) -> pd.DataFrame:
    labels = {f.key: f for f in plan.references} if plan is not None else None
    recs = []
    for r in rows:
        if labels is not None and r["key"] not in labels:
            continue
        doc = json.loads(r["result_json"])
        spec = labels[r["key"]] if labels is not None else None
        rec = {
            "reference_key": r["key"],
            "dataset": spec.dataset if spec else r["dataset"],
            "representation": spec.representation if spec else r["representation"],
            "model": spec.model if spec else r["model"],
            "seed": int(r["seed"]),
            "pool_size": r["pool_size"],
            "seconds": doc.get("seconds"),
        }
        rec.update({k: (float("nan") if v is None else v) for k, v in doc.get("metrics", {}).items()})
        recs.append(rec)
    return pd.DataFrame(recs, columns=None if recs else list(REFERENCE_COLUMNS))


def load_pick_labels(store: str | Path, session_ids: Sequence[str]) -> dict[str, dict]:
    """The oracle's labels of each session's initial set and of each round's picks, read from the store.

    Parameters
    ----------
    store : str or Path
        The main store file.
    session_ids : sequence of str
        The sessions (the ``session_id`` column of the rounds frame).

    Returns
    -------
    dict
        ``session_id -> {"initial": (n0, K) uint8 array or None, "rounds": {round: (b, K) uint8 array}}``
        (rounds without picks, the final record, are left out; K from the session's label names).
    """

    out: dict[str, dict] = {}
    ids = [str(s) for s in dict.fromkeys(session_ids) if s is not None]
    con = _connect(Path(store))
    con.row_factory = sqlite3.Row
    try:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for r in con.execute(f"SELECT id, label_names_json, initial_labeled_json FROM sessions WHERE id IN ({marks})",
                                 chunk):
                k = len(json.loads(r["label_names_json"] or "[]"))
                init = json.loads(r["initial_labeled_json"]).get("labels")
                y0 = None if init is None else np.atleast_2d(decode_labels(init))
                k = y0.shape[1] if y0 is not None and y0.size else k
                out[r["id"]] = {"initial": y0, "rounds": {}, "k": k}
            for r in con.execute(f"SELECT session_id, round, labels_json FROM rounds WHERE session_id IN ({marks}) "
                                 "AND labels_json IS NOT NULL", chunk):
                if r["session_id"] in out:
                    y = decode_labels(json.loads(r["labels_json"]))
                    out[r["session_id"]]["rounds"][int(r["round"])] = (
                        y.reshape(0, out[r["session_id"]]["k"]) if y.size == 0 else np.atleast_2d(y))
    finally:
        con.close()
    return out
