"""Training mini-batch selection (samplers over the labelled rows); see ``samplers.py``.

``make_sampler(name, **params)`` / ``available_samplers()``; the experiment comparing samplers is
``mlal_core.experiments.batch_selection.run_batch_selection``.
"""

from .samplers import (
    SAMPLERS,
    ActiveBiasSampler,
    BalanceSampler,
    BatchSampler,
    HardImbalanceSampler,
    RandomSampler,
    RecencyBiasSampler,
    UncertaintySampler,
    available_samplers,
    binary_entropy,
    label_uncertainty,
    make_sampler,
    minmax,
    mutual_information_matrix,
    pressure,
    quantize_bins,
    quantizer,
    sample_weights,
    sampler_parameters,
    selection_probabilities,
    window_difference,
)

__all__ = [
    "SAMPLERS", "ActiveBiasSampler", "BalanceSampler", "BatchSampler", "HardImbalanceSampler",
    "RandomSampler", "RecencyBiasSampler", "UncertaintySampler", "available_samplers", "binary_entropy",
    "label_uncertainty", "make_sampler", "minmax", "mutual_information_matrix", "pressure",
    "quantize_bins", "quantizer", "sample_weights", "sampler_parameters", "selection_probabilities", "window_difference",
]
