"""When to stop labelling: stopping criteria for multi-label active learning (issue 19).

* :mod:`mlal_core.stopping.criteria`: the rules (Bloodgood & Vijay-Shanker 2009, Zhu, Wang & Hovy
  2008, Altschuler & Bloodgood 2019, a label budget), each evaluated after every record of a session
  from what the session stores.
* :mod:`mlal_core.stopping.measures`: the stop set and what each round measures and stores for them.
* :mod:`mlal_core.stopping.outcomes`: where each rule stopped next to the oracle's round, as tables
  for the app and the report.
"""

from mlal_core.stopping.criteria import (
    CRITERIA,
    ClassificationChange,
    CriterionState,
    LabelBudget,
    MaxUncertainty,
    OverallUncertainty,
    PredictedChangeOfF,
    SelectedAccuracy,
    StabilizingPredictions,
    StoppingCriterion,
    default_criteria,
)
from mlal_core.stopping.measures import STOP_SET_SIZE, draw_stop_set, round_inputs, round_measures
from mlal_core.stopping.outcomes import (
    ORACLE_FRACTIONS,
    criteria_table,
    criterion_overview,
    oracle_round,
    states_by_round,
    stop_columns,
    stop_outcomes,
    stop_summary,
)

__all__ = [
    "CRITERIA",
    "ORACLE_FRACTIONS",
    "STOP_SET_SIZE",
    "ClassificationChange",
    "CriterionState",
    "LabelBudget",
    "MaxUncertainty",
    "OverallUncertainty",
    "PredictedChangeOfF",
    "SelectedAccuracy",
    "StabilizingPredictions",
    "StoppingCriterion",
    "criteria_table",
    "criterion_overview",
    "default_criteria",
    "draw_stop_set",
    "oracle_round",
    "round_inputs",
    "round_measures",
    "states_by_round",
    "stop_columns",
    "stop_outcomes",
    "stop_summary",
]
