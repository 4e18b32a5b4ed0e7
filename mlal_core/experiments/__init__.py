"""Batch experiments: a grid of active-learning sessions from one config file, and what is read
back from it (``python -m mlal_core experiment CONFIG``, ``python -m mlal_core report CONFIG``).

Modules: ``runner`` (config, plan, results store, backends), ``analysis`` (learning curves over
seeds, AULC, paired tests), ``report`` (the reproduction report), ``batch_selection`` and
``batch_selection_report`` (training mini-batch samplers compared).
"""

from mlal_core.experiments.runner import (
    BACKENDS,
    DEFAULT_ANALYSIS,
    ExperimentConfig,
    ExperimentOutcome,
    ExperimentResults,
    Plan,
    ReferenceSpec,
    RunSpec,
    describe_plan,
    execute_task,
    experiments_in_store,
    load_config,
    load_results,
    run_experiment,
    run_key,
)

__all__ = [
    "BACKENDS", "DEFAULT_ANALYSIS", "ExperimentConfig", "ExperimentOutcome", "ExperimentResults", "Plan",
    "ReferenceSpec", "RunSpec", "describe_plan", "execute_task", "experiments_in_store", "load_config",
    "load_results", "run_experiment", "run_key",
]
