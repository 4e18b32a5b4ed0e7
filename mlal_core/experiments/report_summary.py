"""The plain-words summary at the top of a reproduction report: what holds and what does not.

Built from :func:`mlal_core.experiments.report.claim_verdicts`' results only, so it can never say more
than the verdicts (which rest on Holm-adjusted p-values) allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["VERDICT_GROUPS", "claim_sentence", "summary_markdown"]

#: the verdict groups in the order the summary lists them, with their headings
VERDICT_GROUPS: tuple[tuple[str, str], ...] = (
    ("holds", "Holds"),
    ("partly", "Holds partly"),
    ("does not hold", "Does not hold"),
    ("cannot be assessed", "Cannot be assessed at this budget"),
    ("not assessed", "Not assessed"),
)


def _group_of(verdict: str) -> str:
    """The :data:`VERDICT_GROUPS` key a verdict (possibly with a qualifier) belongs to."""
    for key, _ in VERDICT_GROUPS:
        if verdict.startswith(key):
            return key
    return "not assessed"


def _comparison_counts(comparisons: pd.DataFrame) -> str:
    """``better in 3 and worse in 1 of 15 comparisons`` over a claim's Holm family."""
    n = len(comparisons)
    better = int(comparisons["better_adj"].astype(bool).sum())
    worse = int(comparisons["worse_adj"].astype(bool).sum())
    return (f"significantly better in {better} and significantly worse in {worse} of its {n} comparison(s) "
            "with the baselines (Holm-adjusted)")


def _per_setting_text(per_setting: dict) -> str:
    """``; per dataset: a partly, b does not hold`` when the datasets disagree, else ``""``."""
    if len(per_setting) < 2 or len({_group_of(v) for v in per_setting.values()}) < 2:
        return ""
    return "; per dataset: " + ", ".join(f"{k} {v}" for k, v in per_setting.items())


def _verdict_label(verdict: str) -> str:
    """A verdict without its qualifier: ``does not hold (at 90 % ...)`` -> ``does not hold``."""
    group = _group_of(verdict)
    return "cannot be assessed at this budget" if group == "cannot be assessed" else group


def _reach_text(per_setting: dict) -> str:
    """Per dataset x metric, grouped by verdict: ``holds on a (Micro-F1) at 80 % of ...; does not hold on b``."""
    groups: dict[str, list[str]] = {}
    for setting, verdict in per_setting.items():
        label = _verdict_label(verdict)
        qualifier = verdict[len(label):].strip().strip("()")
        groups.setdefault(label, []).append(f"{setting} {qualifier}".strip())
    order = [label for key, _ in VERDICT_GROUPS for label in groups if _group_of(label) == key]
    return "; ".join(f"{label} on {', '.join(groups[label])}" for label in order)


def _random_claim_text(table: pd.DataFrame | None) -> str:
    """The XMTC claim: who beats random everywhere, or who comes closest."""
    if table is None or table.empty:
        return "no strategy was compared with random"
    cells = table["cells"].astype(int)
    sig = table["significantly_better (Holm)"].astype(int)
    everywhere = table.loc[sig == cells, "strategy"].tolist()
    if everywhere:
        return ("significantly better than random in every dataset x metric (Holm-adjusted): "
                + ", ".join(everywhere))
    best = int(sig.max())
    closest = table.loc[sig == best, "strategy"].tolist()
    if best == 0:
        return "no strategy is significantly better than random in any dataset x metric (Holm-adjusted)"
    return (f"no strategy is significantly better than random in every dataset x metric (Holm-adjusted); "
            f"the closest, {', '.join(closest)}, in {best} of {int(cells.max())}")


def claim_sentence(result: Any) -> str:
    """One claim's verdict in a sentence: the claim, the verdict word and the counts behind it.

    Parameters
    ----------
    result : ClaimResult
        One of :func:`mlal_core.experiments.report.claim_verdicts`' results.

    Returns
    -------
    str
        A markdown bullet: ``- **paper**: statement **verdict**: counts.``
    """
    claim = result.claim
    verdict = result.verdict
    if claim.kind == "reach":  # its qualifiers are said per dataset x metric below
        verdict = _verdict_label(verdict)
    head = f"- **{claim.paper}**: {claim.statement} **{verdict}**"
    if claim.kind == "random":
        return f"{head}: {_random_claim_text(result.table)}."
    if claim.kind == "reach" or result.comparisons is None or result.comparisons.empty:
        detail = _reach_text(result.per_setting)
        return f"{head}" + (f": per dataset x metric, {detail}." if detail else ".")
    return f"{head}: {_comparison_counts(result.comparisons)}{_per_setting_text(result.per_setting)}."


def summary_markdown(verdicts: Sequence[Any], *, n_datasets: int, n_seeds: int) -> str:
    """The "Summary" section: every claim under the verdict it received, in plain words.

    Parameters
    ----------
    verdicts : sequence of ClaimResult
        :func:`mlal_core.experiments.report.claim_verdicts`' results.
    n_datasets, n_seeds : int
        How many datasets and seeds the experiment ran (said in the opening sentence).

    Returns
    -------
    str
        Markdown: a heading, one sentence of what the verdicts rest on, then one list per verdict group
        (every group named, "none" where empty, so the absence of a "holds" is stated, not implied).
    """
    out = ["## Summary\n",
           f"On {n_datasets} dataset(s) with {n_seeds} seed(s), of the {len(verdicts)} claims checked "
           "(verdicts on Holm-adjusted p-values, words as \"Verdict rules\" defines them):\n"]
    for key, heading in VERDICT_GROUPS:
        members = [v for v in verdicts if _group_of(v.verdict) == key]
        if not members and key in ("cannot be assessed", "not assessed"):
            continue
        out.append(f"**{heading}** ({len(members)}):" + ("" if members else " none.") + "\n")
        out.extend(claim_sentence(v) for v in members)
        if members:
            out.append("")
    return "\n".join(out) + "\n"
