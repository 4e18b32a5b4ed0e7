"""The reproduction report's plain summary: every claim under the verdict it got, with its counts."""

from __future__ import annotations

import pandas as pd

from mlal_core.experiments.report import CLAIMS, ClaimResult
from mlal_core.experiments.report_summary import claim_sentence, summary_markdown

BY_KEY = {c.key: c for c in CLAIMS}


def _family(better: list[bool], worse: list[bool], settings: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"setting": settings, "other": [f"b{i}" for i in range(len(better))],
                         "better_adj": better, "worse_adj": worse})


def _results() -> list[ClaimResult]:
    crab = ClaimResult(BY_KEY["crab_f1"], "partly", "",
                       comparisons=_family([True, False, True, False], [False] * 4, ["r", "r", "g", "g"]),
                       per_setting={"r": "partly", "g": "partly"})
    comal = ClaimResult(BY_KEY["comal"], "does not hold", "",
                        comparisons=_family([True, False, False], [False, True, True], ["r", "g", "g"]),
                        per_setting={"r": "partly", "g": "does not hold"})
    beal = ClaimResult(BY_KEY["beal"], "cannot be assessed at this budget", "",
                       per_setting={"r (Micro-F1)": "cannot be assessed at this budget"})
    xmtc = ClaimResult(BY_KEY["xmtc"], "holds", "",
                       table=pd.DataFrame({"strategy": ["crab", "badge"], "cells": [4, 4],
                                           "significantly_better (Holm)": [2, 3]}))
    return [crab, comal, beal, xmtc]


def test_counts_come_from_the_adjusted_columns():
    crab, comal, _, _ = _results()
    assert "significantly better in 2 and significantly worse in 0 of its 4 comparison(s)" in claim_sentence(crab)
    s = claim_sentence(comal)
    assert "significantly better in 1 and significantly worse in 2 of its 3" in s
    # the datasets disagree, so each is named; for CRAB they agree and nothing is added
    assert "per dataset: r partly, g does not hold" in s
    assert "per dataset" not in claim_sentence(crab)


def test_random_claim_names_the_closest_strategy_or_the_one_that_beats_random_everywhere():
    *_, xmtc = _results()
    assert "the closest, badge, in 3 of 4" in claim_sentence(xmtc)
    beaten = ClaimResult(BY_KEY["xmtc"], "does not hold", "",
                         table=pd.DataFrame({"strategy": ["a", "b"], "cells": [4, 4],
                                             "significantly_better (Holm)": [4, 1]}))
    assert claim_sentence(beaten).endswith("every dataset x metric (Holm-adjusted): a.")
    none = ClaimResult(BY_KEY["xmtc"], "holds", "",
                       table=pd.DataFrame({"strategy": ["a"], "cells": [4], "significantly_better (Holm)": [0]}))
    assert "no strategy is significantly better than random in any" in claim_sentence(none)


def test_summary_lists_every_claim_once_under_its_group_and_states_empty_groups():
    md = summary_markdown(_results(), n_datasets=3, n_seeds=5)
    assert md.startswith("## Summary")
    assert "On 3 dataset(s) with 5 seed(s), of the 4 claims checked" in md
    holds, partly = md.index("**Holds** (1)"), md.index("**Holds partly** (1)")
    nothold, cannot = md.index("**Does not hold** (1)"), md.index("**Cannot be assessed at this budget** (1)")
    assert holds < partly < nothold < cannot
    # each claim sits in its own group
    assert holds < md.index("XMTC study") < partly < md.index("CRAB (Qi") < nothold < md.index("CoMAL") < cannot
    assert md.index("BEAL") > cannot
    assert "Not assessed" not in md   # an empty optional group is left out


def test_no_claim_holds_is_said_not_implied():
    crab, comal, *_ = _results()
    md = summary_markdown([crab, comal], n_datasets=2, n_seeds=5)
    assert "**Holds** (0): none." in md
    assert "Cannot be assessed" not in md


def test_qualified_verdicts_are_grouped_by_their_leading_word():
    beal = ClaimResult(BY_KEY["beal"], "partly (at 90 % of the full-data score)", "",
                       per_setting={"r (Micro-F1)": "partly (at 90 % of the full-data score)"})
    md = summary_markdown([beal], n_datasets=1, n_seeds=5)
    assert "**Holds partly** (1)" in md
    assert "per dataset x metric, partly on r (Micro-F1) at 90 % of the full-data score." in md


def test_reach_claims_list_each_dataset_under_its_verdict_in_the_groups_order():
    beal = ClaimResult(BY_KEY["beal"], "does not hold (target below 100 % of the full-data score on a (Micro-F1))",
                       "", per_setting={"c (Macro-F1)": "cannot be assessed at this budget",
                                        "b (Micro-F1)": "does not hold",
                                        "a (Micro-F1)": "holds (at 80 % of the full-data score)",
                                        "d (Micro-F1)": "does not hold (at 90 % of the full-data score)"})
    sentence = claim_sentence(beal)
    assert "**does not hold**: per dataset" in sentence   # the qualifiers are said once, per dataset
    assert sentence.endswith(
        ": per dataset x metric, holds on a (Micro-F1) at 80 % of the full-data score; does not hold on "
        "b (Micro-F1), d (Micro-F1) at 90 % of the full-data score; cannot be assessed at this budget on "
        "c (Macro-F1).")


def test_ci_text_signs_both_ends_and_leaves_out_intervals_that_do_not_exist():
    from mlal_core.experiments.report import ci_text

    assert ci_text(-0.0031, 0.02) == "[-0.003, +0.020]"
    assert ci_text(float("nan"), float("nan")) == "-"   # one seed: no bootstrap interval
    assert ci_text(None, 0.1) == "-" and ci_text(0.0, float("inf")) == "-"
