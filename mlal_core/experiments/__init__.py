"""Batch experiments: datasets x strategies x seeds x representations x models x budgets.

``python -m mlal_core experiment CONFIG`` (or :func:`run_experiment`) runs every combination of a
config file (YAML or TOML) as one active-learning session each, on a local process pool
(``backend: local``, the default) or on Ray (``backend: ray``: an existing cluster by ``address``,
or a local one it starts), and stores them in one SQLite session store;
``python -m mlal_core report CONFIG`` writes the reproduction report of its results.

Config file (every key but ``name``, ``datasets`` and ``strategies`` is optional)::

    name: smoke                       # the experiment's name in the store
    description: a tiny grid
    store: ../runs/smoke.sqlite       # relative paths are relative to the config file's folder
    allow_outside_store: true         # a store outside the file's folder and MLAL_HOME needs this
                                      # (default: $MLAL_HOME/experiments/<name>.sqlite)
    backend: local                    # local | ray
    workers: auto                     # parallel runs (auto: local = CPU count, ray = cluster CPUs;
                                      # 0: local, in this process, one run after the other)
    threads_per_run: auto             # torch threads of a run (auto: max(1, CPUs // workers))
    ray: {address: null, num_cpus: null}   # null address: start a local Ray with num_cpus CPUs
    datasets:                         # bundled names, or mappings with per-dataset overrides of
      - reuters21578                  # representations, initial_size, query_size, rounds,
      - {name: goemotions, candidate_subset: 2000}   # candidate_subset, initial_method (and a label)
    representations: [minilm]         # auto | minilm | tfidf | raw (default [auto])
    max_length: 128
    models:                           # default: one mlp_ensemble with the session defaults
      - {label: mlp5, name: mlp_ensemble, params: {n_members: 5}}
    strategies:                       # names, or mappings {name, params, label, model_params}
      - random
      - {name: crab, params: {alpha: 0.1}}
    seeds: 5                          # a count (0..n-1) or a list
    initial_size: 100                 # each of these three may be a list (a grid axis)
    query_size: 50
    rounds: 10
    initial_method: random            # or a list (a grid axis): [random, representative, diverse]
    initial_method_strategies: null   # strategy labels run under every initial method (null: all); the
                                      # others run under the first one only
    candidate_subset: null
    reference: true                   # full-data score per (dataset, representation, model, seed)
    analysis: {metrics: [micro_f1, macro_f1, p@1, p@3], baseline: random,
               reach_fractions: [1.0, 0.95, 0.9], test: auto, alpha: 0.05}
    efficiency_experiment: null       # another config file (relative to this one's folder) whose runs
                                      # the report shows as "Cost against benefit at large K"

The whole config is validated before anything runs; every problem is listed with what to fix.

Runs and resume
---------------
Each run has a deterministic **run key**: a hash of its normalised ``SessionConfig`` (dataset,
representation, max length, model and its resolved parameters, strategy and its resolved
parameters, budget, initial method, candidate subset, seed) and the dataset's content hash. The
session is named ``run <key> | <dataset> | <strategy> | seed <s>``. A run whose key has a
``finished`` session in the store is skipped, so an interrupted experiment continues where it
stopped, and experiments that share runs (same store) share their results.

Each run writes to its **own** store file, ``<store>.parts/<key>.sqlite`` (one writer per file:
parallel workers never wait on a SQLite lock). When the run finishes, the parent process copies it
into the main store (:mod:`mlal_core.session.store_merge`) and deletes the part file; a part file left by an
interrupted run is resumed round by round (the session is deterministic, so the result equals an
uninterrupted run), and a finished one left by an interrupted parent is merged on the next start.
On Ray clusters reached by ``address`` the part file's bytes travel back with the result.

Only one ``experiment`` process may work on a store at a time (a lock file ``<store>.lock``; a
second one stops with a message). Ctrl-C stops the parent and its workers: finished runs are in
the store, a run cut short keeps its completed rounds in its part file. Workers also end within a
second when the parent dies without a word (``kill -9``), and a run's part file is locked
(``<key>.sqlite.lock``) while one process writes or merges it, so a re-run right after a kill
waits for, or refuses naming, any writer left; it never writes a run twice.

Features of each (dataset, representation) are computed once in the parent before dispatch
(MiniLM embeddings are cached on disk by :func:`mlal_core.features.featurize`); workers read the
cache. Each worker sets ``torch.set_num_threads(threads_per_run)``.

The experiment's own bookkeeping lives in three extra tables of the main store file, with their own
schema version and migrations (:mod:`~mlal_core.experiments.results`); :func:`load_results` reads
them back as data frames for :mod:`mlal_core.experiments.analysis`.

Modules
-------
``config`` (the config schema, parsed section by section), ``planner`` (runs, references, run keys),
``results`` (the results tables, reading results back), ``lock`` (the store's lock file), ``parts``
(the per-run part files), ``tasks`` (what a worker does), ``backends`` (in process, local pool,
Ray), ``runner`` (:func:`run_experiment`), ``analysis`` (learning curves over seeds, AULC, paired
tests), ``report`` (the reproduction report), ``batch_selection`` and ``batch_selection_report``
(training mini-batch samplers compared; ``batch_selection_verdicts``: its verdicts by the reproduction
report's rules, ``batch_selection_cache``: its run cache, JSON + NPZ without pickle).
"""

from mlal_core.experiments.config import BACKENDS, DEFAULT_ANALYSIS, ExperimentConfig, load_config
from mlal_core.experiments.planner import Plan, ReferenceSpec, RunSpec, describe_plan, run_key
from mlal_core.experiments.results import ExperimentResults, experiments_in_store, load_results
from mlal_core.experiments.runner import ExperimentOutcome, run_experiment
from mlal_core.experiments.tasks import execute_task

__all__ = [
    "BACKENDS", "DEFAULT_ANALYSIS", "ExperimentConfig", "ExperimentOutcome", "ExperimentResults", "Plan",
    "ReferenceSpec", "RunSpec", "describe_plan", "execute_task", "experiments_in_store", "load_config",
    "load_results", "run_experiment", "run_key",
]
