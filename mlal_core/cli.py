"""Command line: ``python -m mlal_core <command>``.

Commands: ``datasets``, ``strategies``, ``run``, ``sessions``, ``show``, ``export``, ``resume``, ``experiment``
(a grid of runs from a config file, see ``mlal_core.experiments``), ``report`` (the reproduction
report of an experiment, see ``mlal_core.experiments.report``) and ``batch-selection`` (training mini-batch
samplers compared, see ``mlal_core.experiments.batch_selection``).
Errors the workbench raises on purpose (``MLALError``) print one line to stderr and exit with
code 2 (no traceback); so do argparse's usage errors.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mlal_core.errors import ConfigError, MLALError
from mlal_core.precision import PRECISIONS
from mlal_core.session.config import FEATURE_INITIAL_METHODS, INITIAL_METHOD_HELP, INITIAL_METHODS
from mlal_core.validation import printable_name

if TYPE_CHECKING:
    from tqdm import tqdm

EXIT_USAGE = 2

# (header, width, getter) of the per-round table
_ROUND_COLUMNS = (
    ("round", 5),
    ("n_labeled", 9),
    ("micro-F1", 8),
    ("macro-F1", 8),
    ("P@1", 6),
    ("MeanIR(picks)", 13),
    ("cov(picks)", 10),
    ("cov(L)", 6),
    ("even(L)", 7),
    ("train_s", 7),
    ("predict_s", 9),
    ("select_s", 8),
)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def _print_table(rows: list[dict[str, Any]], columns: Sequence[str], out=None) -> None:
    """A plain fixed-width table (no third-party dependency)."""
    out = out or sys.stdout
    cells = [[printable_name(_fmt(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)), file=out)


def _round_header() -> str:
    return "  ".join(h.rjust(w) for h, w in _ROUND_COLUMNS)


def _round_row(session, index: int) -> str:
    """Record ``index`` of the session's history as a row of the round table.

    Beside MeanIR of the picks (which counts only the labels the batch contains) come the label coverage
    of the batch and of the labelled set L after the round, and L's evenness (normalised entropy of its
    label counts over all labels): :func:`mlal_core.inspection.round_history.round_balance`.
    """
    from mlal_core.inspection.round_history import round_balance

    record = session.history[index]
    bal = round_balance(session, index)
    m = record.metrics
    values = (
        str(record.round),
        str(record.n_labeled),
        _fmt(m.get("micro_f1")),
        _fmt(m.get("macro_f1")),
        _fmt(m.get("p@1")),
        _fmt(record.mean_ir_selected, 3),
        _fmt(bal["batch_coverage"], 3),
        _fmt(bal["label_coverage"], 3),
        _fmt(bal["labelled_entropy"], 3),
        _fmt(record.timings.get("train_s"), 2),
        _fmt(record.timings.get("predict_s"), 2),
        _fmt(record.timings.get("select_s"), 2),
    )
    return "  ".join(v.rjust(w) for v, (_, w) in zip(values, _ROUND_COLUMNS))


class _Bar:
    """A tqdm progress bar driven by ``progress(done, total, message)`` callbacks (on stderr)."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        from tqdm import tqdm

        bar = self.bar
        if bar is None:
            bar = self.bar = tqdm(total=max(int(total), 1), desc=self.desc, file=sys.stderr, leave=False,
                                  disable=None, dynamic_ncols=True)
        if total and bar.total != total:
            bar.total = total
        bar.n = int(done)
        if message:
            bar.set_postfix_str(str(message)[:60], refresh=False)
        bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ====================================================================== commands
def cmd_datasets(args: argparse.Namespace) -> int:
    """``datasets``: print a table of the bundled datasets with their label statistics.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (no options are read).

    Returns
    -------
    int
        Exit status, 0.
    """
    from mlal_core import data

    rows: list[dict[str, Any]] = []
    for name in data.available():
        ds = data.load(name)
        summary = data.label_summary(data.concat_splits([ds.train, ds.valid, ds.test]).Y)  # dense or sparse Y
        meta = ds.meta or {}
        licence = meta.get("licence_short") or meta.get("licence") or meta.get("license") or "unknown"
        rows.append(
            {
                "name": name,
                "kind": ds.kind,
                "train": len(ds.train),
                "valid": f"{len(ds.valid)}{'*' if ds.valid_carved else ''}",
                "test": len(ds.test),
                "K": ds.n_labels,
                "cardinality": f"{summary['label_cardinality']:.3f}",
                "MeanIR": f"{summary['MeanIR']:.2f}",
                "CorrAvg": f"{summary['CorrAvg']:.4f}",
                "licence": str(licence)[:40],
            }
        )
    _print_table(rows, ["name", "kind", "train", "valid", "test", "K", "cardinality", "MeanIR", "CorrAvg", "licence"])
    if any(r["valid"].endswith("*") for r in rows):
        print("* valid carved from the source's training split (seeded iterative stratification).")
    presets = [n for n in data.available(derived=True) if n not in {r["name"] for r in rows}]
    print(f"\nDerived datasets load by name too: {data.DERIVED_NAME_SYNTAX}"
          + (f"; offered in the app: {', '.join(presets)}." if presets else "."))
    print(f"Generated extreme multi-label datasets too: {data.XMTC_NAME_SYNTAX}.")
    return 0


def cmd_strategies(args: argparse.Namespace) -> int:
    """``strategies``: print a table of the query strategies (name, display name, paper).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (no options are read).

    Returns
    -------
    int
        Exit status, 0.
    """
    from mlal_core import strategies

    rows = [{"name": s.name, "display name": s.display_name, "paper": s.paper} for s in strategies.available()]
    _print_table(rows, ["name", "display name", "paper"])
    return 0


def _parse_params(pairs: Sequence[str], strategy: str) -> dict[str, Any]:
    from mlal_core import strategies
    from mlal_core.session.config import parse_param_value

    info = strategies.info(strategy)
    defaults = {p.name: p.default for p in info.params}
    out: dict[str, Any] = {}
    for pair in pairs or ():
        if "=" not in pair or not pair.split("=", 1)[0].strip():
            raise ConfigError(f"--param expects key=value; got {pair!r}.")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if key not in defaults:
            from mlal_core.errors import unknown_name_error

            if not defaults:
                raise ConfigError(f"Strategy {strategy!r} has no parameters; got --param {pair!r}.")
            raise unknown_name_error(f"parameter of strategy {strategy!r}", key, defaults, plural="parameters")
        try:
            out[key] = parse_param_value(raw, defaults[key])
        except ConfigError as exc:
            raise ConfigError(f"--param {key}: {exc}") from None
    return out


def _parse_model_params(pairs: Sequence[str], model: str = "mlp_ensemble") -> dict[str, Any]:
    import inspect

    from mlal_core import models
    from mlal_core.errors import unknown_name_error
    from mlal_core.session.config import parse_param_value

    if model not in models.MODELS:
        raise unknown_name_error("model", model, models.MODELS)
    cls: type[Any] = models.MODELS[model]
    sig = inspect.signature(cls.__init__)
    defaults = {k: p.default for k, p in sig.parameters.items() if k not in ("self", "random_state")}
    out: dict[str, Any] = {}
    for pair in pairs or ():
        if "=" not in pair or not pair.split("=", 1)[0].strip():
            raise ConfigError(f"--model-param expects key=value; got {pair!r}.")
        key, raw = (x.strip() for x in pair.split("=", 1))
        if key not in defaults:
            raise unknown_name_error(f"parameter of model {model!r}", key, defaults, plural="parameters")
        try:
            out[key] = parse_param_value(raw, defaults[key])
        except ConfigError as exc:
            raise ConfigError(f"--model-param {key}: {exc}") from None
    return out


def _store(args: argparse.Namespace):
    from mlal_core.session.store import SessionStore

    return SessionStore(args.store)


def _failure_note(session, store) -> str:
    """What became of a session whose worker failed, as the store says (not as we hoped)."""
    kept = f"The session keeps its {len(session.history)} completed record(s)"
    try:
        status = store.session_info(session.session_id)["stored_status"]
    except MLALError as exc:
        status = f"unknown ({exc})"
    if status == "failed":
        return f"{kept} (marked failed); fix the cause and `resume {session.session_id}`."
    return (f"{kept}, but it could not be marked failed in {store.path} (its status is {status}); fix the cause "
            f"(free disk space, make the store writable) and `resume {session.session_id}`.")


def _run_session(session, store) -> int:
    """Compute the features (with a progress bar), then run the session to its end in a background
    worker, printing one table row per finished round and the round in progress on a progress bar.
    Ctrl-C cancels the round in progress (nothing of it is stored) and says how to resume."""
    from mlal_core.session.worker import SessionWorker

    bar = _Bar(f"features ({session.representation})")
    try:
        session.prepare(progress=bar)
    finally:
        bar.close()
    source = session.feature_source or {}
    print(f"Features: {source.get('representation')} ({source.get('source')}"
          + (f", {source['precision']}" if source.get("precision") else "") + ")", flush=True)
    print(_round_header(), flush=True)
    for i in range(len(session.history)):
        print(_round_row(session, i), flush=True)
    left = session.planned_records() - len(session.history)
    worker = SessionWorker(session, records=max(1, left)).start()
    round_bar = _Bar("round")
    printed = len(session.history)
    try:
        while True:
            ended = worker.join(timeout=0.25)
            st = worker.status()
            while printed < len(session.history):
                round_bar.close()
                print(_round_row(session, printed), flush=True)
                printed += 1
            if ended:
                break
            round_bar(st.step_done, st.step_total, st.message)
    except KeyboardInterrupt:
        worker.cancel()
        worker.join()
        round_bar.close()
        print(f"Cancelled: the round in progress was dropped. Session {session.session_id} is stored at its "
              f"last completed round ({len(session.history)} record(s)); continue with "
              f"`python -m mlal_core resume {session.session_id}`.", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # Everything is stored and the worker has ended. Leave without the interpreter's finalisation:
        # after a Ctrl-C during a torch training step, native thread clean-up at exit sometimes aborted
        # the process ("terminate called without an active exception", exit code -6 instead of 130).
        os._exit(130)
    finally:
        round_bar.close()
    st = worker.status()
    if st.state == "failed":
        print(f"error: {st.error}\n{_failure_note(session, store)}", file=sys.stderr)
        return 1
    last = session.history[-1] if session.history else None
    if last is not None:
        print(f"Session {'finished' if session.finished else 'stopped'}: {len(session.history)} record(s), "
              f"{last.n_labeled} labelled samples.")
        _print_first_stops(session.history)
    print(f"Stored in {store.path} as session {session.session_id}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``run``: start an active-learning session from the options, run it to its end and store it.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``run`` options.

    Returns
    -------
    int
        Exit status: 0, or 1 when the session failed (Ctrl-C exits the process with 130).

    Raises
    ------
    ConfigError
        If a parameter or the configuration is invalid.
    """
    from mlal_core.session.config import SessionConfig
    from mlal_core.session.loop import ActiveLearningSession, SessionBudgetWarning

    params = _parse_params(args.param, args.strategy)
    model_params: dict[str, Any] = {"n_members": args.ensemble, "mc_passes": args.mc_passes}
    if args.device is not None:
        model_params["device"] = args.device  # an empty or unknown device is refused by the config
    if args.epochs is not None:
        model_params["epochs"] = args.epochs
    model_params.update(_parse_model_params(args.model_param, args.model))
    config = SessionConfig(
        dataset=args.dataset,
        representation=args.representation,
        max_length=args.max_length,
        model=args.model,
        model_params=model_params,
        strategy=args.strategy,
        strategy_params=params,
        initial_size=args.initial_size,
        initial_method=args.initial_method,
        query_size=args.query_size,
        rounds=args.rounds,
        seed=args.seed,
        candidate_subset=args.candidate_subset,
        name=args.name,
        precision=args.precision,
    )
    config.validate()
    store = _store(args)
    if config.initial_method in FEATURE_INITIAL_METHODS:  # the features come first (seconds; MiniLM: minutes)
        print(f"Choosing a {config.initial_method} initial set from the pool's features...", file=sys.stderr,
              flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SessionBudgetWarning)
        session = ActiveLearningSession(config, store=store)
    for message in session.warnings:
        print(f"warning: {message}", file=sys.stderr)
    print(f"Session {session.session_id}: {printable_name(config.dataset)}, strategy {config.strategy}, "
          f"representation {session.representation}, {config.rounds} rounds x {config.query_size}, "
          f"initial {config.initial_size} ({config.initial_method}), seed {config.seed}, "
          f"precision {session.config.precision}", flush=True)
    return _run_session(session, store)


def cmd_sessions(args: argparse.Namespace) -> int:
    """``sessions``: print a table of the sessions in the store.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (``store``).

    Returns
    -------
    int
        Exit status, 0.
    """
    store = _store(args)
    df = store.list_sessions()
    if df.empty:
        print(f"No sessions in {store.path}.")
        return 0
    rows = df.to_dict("records")
    for r in rows:
        r["created_at"] = str(r["created_at"])[:19]
        if isinstance(r.get("micro_f1"), float):
            r["micro_f1"] = round(r["micro_f1"], 4)
    _print_table(rows, ["id", "name", "dataset", "strategy", "status", "rounds_done", "rounds_planned",
                        "records", "n_labeled", "micro_f1", "seed", "created_at"])
    for r in rows:
        if r["status"] == "interrupted":
            print(f"{r['id'][:8]} interrupted: {r['note']} (`resume {r['id'][:8]}`)")
    return 0


def _print_first_stops(records: Sequence[Any]) -> None:
    """One line per stopping criterion: the first round after which it would have stopped."""
    from mlal_core.session.stopping_export import first_stop_lines

    lines = first_stop_lines(records)
    if lines:
        print("When to stop (first round each stopping rule would stop, default thresholds):")
        for line in lines:
            print(f"  {line}")  # the workbench's own text: no user-given name in it


def cmd_show(args: argparse.Namespace) -> int:
    """``show``: print one stored session's summary: its set-up, initial set, stop set and, per
    stopping criterion, the first round it would stop.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``show`` options (``session_id``, ``store``).

    Returns
    -------
    int
        Exit status, 0.
    """
    from mlal_core.session.stopping_export import initial_document, stop_set_document

    store = _store(args)
    sid = store.resolve_id(args.session_id)
    info = store.session_info(sid)
    records = store.load_rounds(sid)
    config = info["config"]
    last = records[-1] if records else None
    print(f"Session {sid}: {printable_name(str(info.get('dataset_name') or config.get('dataset')))}, strategy "
          f"{config.get('strategy')}, seed {config.get('seed')}, {info['status']}, {len(records)} record(s)"
          + ("" if last is None else f", {last.n_labeled} labelled, micro-F1 {_fmt(last.metrics.get('micro_f1'))}"))
    initial = initial_document(config, info.get("initial_labeled"))
    params = ", ".join(f"{k}={v}" for k, v in initial["params"].items())
    print(f"Initial set: {initial['size']} rows, {initial['method']}" + (f" ({params})" if params else "")
          + (" [simulation only: chosen from the true labels]" if initial["simulation_only"] else ""))
    stop_set = stop_set_document(info.get("stop_set"), config.get("seed"))
    print("Stop set: not recorded (stored before schema v4; `resume` draws one)" if stop_set is None
          else f"Stop set: {stop_set['size']} pool rows (seed {stop_set['seed']})")
    _print_first_stops(records)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``export``: write a stored session as JSON, or as ``rounds``, ``picks`` and ``stopping`` CSV files.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``export`` options (``session_id``, ``format``, ``out``, ``store``).

    Returns
    -------
    int
        Exit status, 0.
    """
    store = _store(args)
    sid = store.resolve_id(args.session_id)
    out = Path(args.out)
    if args.format == "json":
        path = store.export_json(sid, out if out.suffix else out / f"{sid}.json")
        print(f"Wrote {path}")
    else:
        rounds_path, picks_path = store.export_csv(sid, out)
        stopping_path = store.export_stopping_csv(sid, out)
        print(f"Wrote {rounds_path}, {picks_path} and {stopping_path}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """``resume``: continue a stored session to its planned end (nothing to do when it has finished).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``resume`` options (``session_id``, ``device``, ``store``).

    Returns
    -------
    int
        Exit status: 0, or 1 when the session failed (Ctrl-C exits the process with 130).
    """
    from mlal_core.session.loop import ActiveLearningSession

    store = _store(args)
    sid = store.resolve_id(args.session_id)
    session = ActiveLearningSession.resume(store, sid, device=args.device)
    if session.finished:
        print(f"Session {sid} has already finished ({len(session.history)} records); nothing to do.")
        return 0
    print(f"Resuming session {sid} at round {session.next_round} (precision {session.config.precision}).", flush=True)
    return _run_session(session, store)


def cmd_experiment(args: argparse.Namespace) -> int:
    """``experiment``: run (or, with ``--dry-run``, plan) the grid of sessions of a config file.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``experiment`` options.

    Returns
    -------
    int
        Exit status: 0, 1 when some runs failed, 130 when interrupted.
    """
    from mlal_core import experiments

    config = experiments.load_config(args.config)
    store = Path(args.store).expanduser().resolve() if args.store else config.store_path()
    if args.dry_run:
        plan = config.plan()
        print(experiments.describe_plan(plan, store))
        return 0
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=1, desc=f"experiment {config.name}", unit="task", file=sys.stderr, dynamic_ncols=True)

    def log(line: str) -> None:
        if args.quiet and not line.startswith("warning"):
            return
        if bar is not None:
            bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def progress(done: int, total: int, message: str) -> None:
        if bar is None:
            return
        if bar.total != total:
            bar.total = total
            bar.initial = done  # the rate (and ETA) counts this call's tasks only
            bar.n = done
        bar.n = done
        bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()

    try:
        outcome = experiments.run_experiment(
            config, backend=args.backend, workers=args.workers, threads_per_run=args.threads, store=store,
            ray_address=args.address, limit=args.limit, progress=progress, log=log,
        )
    except KeyboardInterrupt:
        print("interrupted: the finished runs are in the store and unfinished ones keep their completed rounds; "
              "run the same command again to continue.", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    print(outcome.summary())
    for f in outcome.failed:
        print(f"failed: {f['what']}: {f['error']}", file=sys.stderr)
    if outcome.failed:
        print("Run the same command again to retry the failed runs (finished rounds are kept).", file=sys.stderr)
        return 1
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``report``: write the reproduction report of an experiment (markdown and figures).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``report`` options (``config``, ``store``, ``out``, ``formats``).

    Returns
    -------
    int
        Exit status, 0.
    """
    from mlal_core.experiments import report

    path = report.build_report(args.config, store=args.store, out_dir=args.out, formats=args.formats.split(","),
                               log=lambda line: print(line, flush=True))
    print(f"Wrote {path}")
    return 0


def _sampler_params(items: Sequence[str], samplers: str) -> dict[str, dict]:
    """``--sampler-param [SAMPLER.]KEY=VALUE`` -> ``{sampler: {key: value}}``; without ``SAMPLER.`` the
    parameter is the uncertainty sampler's (the paper's T, lambda1, tau, s0, warm-up). Values are typed
    by the parameter's default; unknown samplers / keys, and samplers that do not run, raise ConfigError."""
    from mlal_core.batch_selection import available_samplers, sampler_parameters
    from mlal_core.session.config import parse_param_value

    chosen = available_samplers() if samplers.strip() == "all" else [
        s.strip().lower().replace("-", "_") for s in samplers.split(",") if s.strip()]
    out: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--sampler-param expects [SAMPLER.]KEY=VALUE (e.g. s0=50 or recency_bias.window=3); "
                              f"got {item!r}.")
        name, _, key = key.strip().rpartition(".")
        name = (name or "uncertainty").strip().lower().replace("-", "_")
        known = sampler_parameters(name)  # unknown sampler names raise here
        if key not in known:
            raise ConfigError(f"Batch sampler {name!r} has no parameter {key!r}; known: {', '.join(known)}.")
        if name not in chosen:
            raise ConfigError(f"--sampler-param {item!r} is for sampler {name!r}, which is not run: add it to "
                              f"--sampler (now {samplers!r}).")
        try:
            out.setdefault(name, {})[key] = parse_param_value(raw, known[key])
        except ConfigError as exc:
            raise ConfigError(f"--sampler-param {item!r}: {exc}") from None
    return out


#: the most seeds and epochs ``batch-selection`` accepts (each seed trains every sampler for every epoch)
MAX_BATCH_SEEDS = 100
MAX_BATCH_EPOCHS = 10_000


def _check_batch_selection_flags(args: argparse.Namespace) -> None:
    """Refuse ``batch-selection`` numbers out of range and an ``--out`` that cannot be a folder before
    any training (a bad ``--out`` used to fail only after every run)."""
    if not 1 <= args.epochs <= MAX_BATCH_EPOCHS:
        raise ConfigError(f"--epochs must be in [1, {MAX_BATCH_EPOCHS}]; got {args.epochs}.")
    if not 1 <= args.seeds <= MAX_BATCH_SEEDS:
        raise ConfigError(f"--seeds must be in [1, {MAX_BATCH_SEEDS}] (seeds 0..n-1); got {args.seeds}.")
    if args.max_train is not None and args.max_train < 1:
        raise ConfigError(f"--max-train must be a positive number of training rows (leave it out for all); "
                          f"got {args.max_train}.")
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {printable_name(str(out))} cannot be a folder for the CSV tables "
                              f"({type(exc).__name__}: {exc.strerror or exc}); pass a folder path.") from None


def cmd_batch_selection(args: argparse.Namespace) -> int:
    """``batch-selection``: compare training mini-batch samplers on a dataset and print the test
    metrics at the best-validation epoch (optionally writing the CSV tables to ``--out``).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``batch-selection`` options.

    Returns
    -------
    int
        Exit status, 0.

    Raises
    ------
    ConfigError
        If a ``--sampler-param`` is malformed, unknown or for a sampler that does not run.
    """
    from mlal_core.experiments.batch_selection import METRICS, run_batch_selection

    def progress(done: int, total: int, message: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)

    _check_batch_selection_flags(args)
    sampler_params = _sampler_params(args.sampler_param, args.sampler)
    res = run_batch_selection(args.dataset, args.sampler, epochs=args.epochs, seeds=args.seeds,
                              sampler_params=sampler_params,
                              include_random=not args.no_random, max_train=args.max_train, progress=progress)
    summ = res.summary("best")
    rows = []
    for r in summ.to_dict("records"):
        row = {"sampler": r["sampler"], "seeds": r["n_seeds"]}
        for m in METRICS:
            row[m] = f"{r[m + '_mean']:.4f} +- {0.0 if r[m + '_std'] != r[m + '_std'] else r[m + '_std']:.4f}"
        rows.append(row)
    print(f"{res.dataset}: test metrics at the best-validation epoch (mean +- std over {len(res.seeds)} seeds), "
          f"{res.epochs} epochs, {res.seconds:.1f} s")
    for name, params in sampler_params.items():
        print(f"{name}: " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    _print_table(rows, ["sampler", "seeds", *METRICS])
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        res.curves.to_csv(out / f"{res.dataset}_curves.csv", index=False)
        res.runs.to_csv(out / f"{res.dataset}_runs.csv", index=False)
        summ.to_csv(out / f"{res.dataset}_summary.csv", index=False)
        print(f"Wrote {out}/{res.dataset}_{{curves,runs,summary}}.csv")
    return 0


# ====================================================================== parser
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit code 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m mlal_core`` with all its subcommands.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each subcommand sets ``func`` to its ``cmd_*`` function.
    """
    parser = _Parser(prog="python -m mlal_core", description="MLAL Workbench: multi-label active learning.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("datasets", help="list the bundled datasets with their label statistics")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("strategies", help="list the query strategies")
    p.set_defaults(func=cmd_strategies)

    def add_store(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", default=None, help="SQLite session store (default: $MLAL_HOME/sessions.sqlite)")

    p = sub.add_parser("run", help="run an active-learning session and store it")
    p.add_argument("--dataset", required=True,
                   help="bundled dataset name (see `datasets`) or a derived one, e.g. reuters21578-T10-IR50")
    p.add_argument("--strategy", required=True, help="query strategy name (see `strategies`)")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--query-size", type=int, default=50)
    p.add_argument("--initial-size", type=int, default=100)
    p.add_argument("--initial-method", default="random", choices=INITIAL_METHODS,
                   help="how the initial set is chosen: " + "; ".join(
                       f"{m}: {h}" for m, h in INITIAL_METHOD_HELP.items()).replace("%", "%%"))
    p.add_argument("--representation", default="auto", help="auto | minilm | tfidf | raw (the text backbones read token ids: leave auto)")
    p.add_argument("--max-length", type=int, default=128, help="frozen encoder's max tokens (minilm); a text backbone's is its model parameter max_length")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="mlp_ensemble",
                   help="mlp_ensemble (over frozen features; default) | textcnn | textrnn | transformer "
                        "(text backbones trained end to end; slow on a CPU)")
    p.add_argument("--ensemble", type=int, default=5, help="ensemble members")
    p.add_argument("--mc-passes", type=int, default=0, help="MC-dropout passes per member (0 = off)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per round (model default if unset)")
    p.add_argument("--device", default=None,
                   help="cpu | cuda | auto (default: cuda when available); checked before the session starts")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="numeric precision of the encoder and the text backbones (auto: bf16 where the hardware "
                        "has it natively, else fp32; fp16 on CUDA only); fixed when the session starts")
    p.add_argument("--candidate-subset", type=int, default=None, help="score a random subset of this size per round")
    p.add_argument("--name", default=None, help="a name for the session")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="strategy parameter, typed like its default (repeatable)")
    p.add_argument("--model-param", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter (e.g. hidden_size=128, min_steps=100), typed like its default (repeatable)")
    add_store(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sessions", help="list the stored sessions")
    add_store(p)
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("show", help="one stored session's summary: set-up, initial set, stop set, when each "
                                    "stopping rule would stop")
    p.add_argument("session_id", help="session id (or a unique prefix)")
    add_store(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="export a stored session")
    p.add_argument("session_id", help="session id (or a unique prefix)")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.add_argument("--out", required=True,
                   help="json: a file (or folder); csv: a folder for rounds.csv + picks.csv + stopping.csv")
    add_store(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("resume", help="continue a stored session to its planned end")
    p.add_argument("session_id", help="session id (or a unique prefix)")
    p.add_argument("--device", default=None,
                   help="cpu | cuda | auto: replaces the stored device for this resume (e.g. a session run on a GPU, "
                        "resumed on a machine without one)")
    add_store(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("experiment", help="run a grid of sessions from a config file (YAML/TOML); resumes")
    p.add_argument("config", help="experiment config file (see mlal_core.experiments)")
    p.add_argument("--backend", choices=("local", "ray"), default=None, help="override the config's backend")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: the config's, else auto)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: CPUs // workers)")
    p.add_argument("--address", default=None, help="Ray cluster address (ray backend; default: start a local Ray)")
    p.add_argument("--store", default=None, help="main session store (default: the config's)")
    p.add_argument("--limit", type=int, default=None, help="execute at most this many runs/references, then stop")
    p.add_argument("--dry-run", action="store_true", help="validate the config and show the plan; run nothing")
    p.add_argument("--quiet", action="store_true", help="no per-run lines")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("report", help="write the reproduction report of an experiment (markdown + figures)")
    p.add_argument("config", help="experiment config file")
    p.add_argument("--out", default="reports", help="output folder (default: reports/)")
    p.add_argument("--store", default=None, help="main session store (default: the config's)")
    p.add_argument("--formats", default="png", help="figure formats, comma-separated: png, svg, html (default png)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("batch-selection", help="compare training mini-batch samplers (uncertainty batch selection)")
    p.add_argument("--dataset", default="yeast", help="bundled tabular dataset (yeast, scene, emotions, enron, medical)")
    p.add_argument("--sampler", default="all",
                   help="sampler name(s), comma-separated, or 'all' (random, balance, active_bias, recency_bias, "
                        "hard_imbalance, uncertainty); 'random' is added as the reference")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (0..n-1)")
    p.add_argument("--max-train", type=int, default=None, help="use a seeded subset of this many training rows")
    p.add_argument("--sampler-param", action="append", default=[], metavar="[SAMPLER.]KEY=VALUE",
                   help="sampler parameter, typed like its default (repeatable); without SAMPLER. it is the "
                        "uncertainty sampler's: window (T), lambda1, tau, s0, warmup, use_correlation "
                        "(e.g. --sampler-param s0=50 --sampler-param recency_bias.window=3)")
    p.add_argument("--no-random", action="store_true", help="do not add the random reference")
    p.add_argument("--out", default=None, help="folder for curves / runs / summary CSV files")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_batch_selection)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: parse ``argv`` and run the chosen command.

    Parameters
    ----------
    argv : sequence of str or None
        Command-line arguments (None: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: the command's, ``EXIT_USAGE`` on an ``MLALError`` (printed as one line), 130 on
        Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MLALError as exc:
        message = " ".join(str(exc).split())
        print(f"error: {printable_name(message, max_length=1900)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; the completed rounds are in the store (use `resume`).", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
