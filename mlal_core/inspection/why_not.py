""""Why was this one not picked?" (issue 15, item 3): one sample's story in a stored round.

:func:`why_not` reads the round's :class:`~mlal_core.inspection.walkthrough.RoundInputs` (what the
round stored plus what was rebuilt from it) and answers, for any pool position:

* whether it was a candidate at all (already labelled; outside the round's candidate subset);
* its score, rank and percentile, each saying the set it is over (CRAB scores only U*: "rank 12 of 40
  in U*"; the others score every candidate), and its score relative to that set's median;
* CRAB: which pools it was drawn into, or why not (it predicts none of the kept labels; it was
  eligible for a pool but the random draw of M / Z_t did not take it; it is not hard-to-learn ...);
* its k-means cluster (CRAB, BESRA; as the round recorded it, see :mod:`mlal_core.inspection.walkthrough`);
* **which pick beat it, and by how much**: for cluster strategies the pick of its cluster (nearer its
  centre: the distances compared), for a strategy that takes the top scores the lowest-scored pick (the
  score gap), for the others (BADGE, Core-Set, DAL, AUDI, Random) the lowest-scored pick, with a note
  that the strategy does not pick by score alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field

import numpy as np

from mlal_core.inspection.walkthrough import RoundInputs, picks_are_top_n, standing

__all__ = ["WhyNot", "search_positions", "why_not"]


@dataclass(frozen=True, eq=False)
class WhyNot:
    """One sample's story in a round (see :func:`why_not`).

    Parameters
    ----------
    round : int
        The round.
    position : int
        The pool position asked about.
    status : str
        ``"picked"``, ``"not picked"``, ``"labelled"`` (already in L_t) or ``"not a candidate"``.
    score : float
        Its score (NaN when not scored).
    rank : int or None
        1 = highest, over ``over``.
    percentile : float
        Percent of ``over``'s scores at or below its score.
    n_over : int
        Size of the set ranked over.
    over : str
        The set, in words ("the 40 samples of U*").
    times_median : float
        Score / the set's median (NaN when the median is not positive).
    pools : tuple of str
        Pool facts (CRAB), one sentence each.
    cluster : int or None
        Its k-means cluster (CRAB, BESRA).
    beaten_by : int or None
        The pick that beat it.
    margin : float
        By how much (score gap, or distance gap to the cluster centre for cluster strategies).
    margin_kind : str
        What ``margin`` measures.
    lines : tuple of str
        The story, one sentence a line.
    """

    round: int
    position: int
    status: str
    score: float = float("nan")
    rank: int | None = None
    _: KW_ONLY  # the fields past the fifth are passed by name
    percentile: float = float("nan")
    n_over: int = 0
    over: str = ""
    times_median: float = float("nan")
    pools: tuple[str, ...] = ()
    cluster: int | None = None
    beaten_by: int | None = None
    margin: float = float("nan")
    margin_kind: str = ""
    lines: tuple[str, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        """The story as one paragraph."""
        return " ".join(self.lines)


def _over(inp: RoundInputs) -> str:
    n = int(np.isfinite(inp.scores).sum())
    if inp.strategy == "crab":
        return f"the {n} samples of U*"
    return f"the {n} candidates" if n == inp.n_candidates else f"the {n} scored candidates"


def _crab_pools(inp: RoundInputs, position: int, row: int) -> list[str]:
    src = inp.diagnostics.get("refined_pool_sources")
    d = inp.diagnostics
    out: list[str] = []
    if src is not None and len(src):
        hit = src.loc[src["position"].astype(int) == position]
        if len(hit):
            pools = _named_pools(inp, str(hit["pools"].iloc[0])) if "pools" in hit else ""
            out.append(f"It was in U*, drawn into: {pools or 'a pool'}.")
            return out
    pred = inp.predicted[row]
    kept = [int(j) for j in d.get("kept_labels", [])]
    pk = [j for j in kept if pred[j]]
    if pk:
        counts = inp.predicted[:, pk].sum(axis=0)
        m = int(d.get("per_label_size", 0))
        words = ", ".join(f"{inp.names[j]} ({int(c)} candidates, M = {m} drawn)" for j, c in zip(pk, counts))
        out.append(f"It was eligible for the label-wise pool of {words}, but the random draws did not take it.")
    else:
        out.append("It predicts none of the kept labels, so no label-wise pool could draw it.")
    ex = np.asarray(d.get("exclusive_pairs", np.empty((0, 2))), dtype=np.int64).reshape(-1, 2)
    conflicting = any(pred[m] and pred[n] for m, n in ex)
    out.append("Its predicted labels hold an exclusive pair, but the negative pool's draw did not take it."
               if conflicting else "Its predicted labels hold no mutually exclusive pair (no negative pool).")
    pmax = float(inp.pbar[row].max())
    out.append(f"It is hard-to-learn (max probability {pmax:.2f} < 0.5), but the draw of Z_t = {d.get('Z_t')} did "
               "not take it." if pmax < 0.5 else f"It is not hard-to-learn (max probability {pmax:.2f} >= 0.5).")
    out.append("It was not among the random top-up either, so CRAB never scored it.")
    return out


def _named_pools(inp: RoundInputs, text: str) -> str:
    """CRAB's pool text with label names for indices ("label-wise:0,3" -> "label-wise: Class1, Class4")."""
    def labels(m: re.Match) -> str:
        return "label-wise: " + ", ".join(inp.names[int(j)] for j in m.group(1).split(","))

    def pairs(m: re.Match) -> str:
        found = re.findall(r"(\d+)-(\d+)", m.group(1))
        return "negative: " + ", ".join(f"{inp.names[int(a)]} / {inp.names[int(b)]}" for a, b in found)

    text = re.sub(r"label-wise:([\d,]+)", labels, text)
    return re.sub(r"negative:((?:\d+-\d+(?:, )?)+)", pairs, text)


def _lowest_pick(inp: RoundInputs) -> tuple[int | None, float]:
    best, low = None, float("inf")
    for p in inp.picks:
        r = inp.row_of(int(p))
        s = float(inp.scores[r]) if r is not None else float("nan")
        if np.isfinite(s) and s < low:
            best, low = int(p), s
    return best, low


def _cluster_rival(inp: RoundInputs, position: int) -> tuple[int | None, int | None, float, str]:
    cl = inp.clusters
    if cl is None or not cl.reproduced:
        return None, None, float("nan"), ""
    c = cl.cluster_of(position)
    if c is None or "cluster" not in inp.details:
        return c, None, float("nan"), ""
    hit = inp.details.loc[inp.details["cluster"].astype(int) == c]
    if not len(hit):
        return c, None, float("nan"), ""
    rival = int(hit["position"].iloc[0])
    mine = float(cl.distances[np.flatnonzero(cl.positions == position)[0]])
    theirs = float(hit["distance_to_centroid"].iloc[0])
    at = np.flatnonzero(cl.positions == rival)
    if at.size and int(cl.labels[at[0]]) == c:  # the pick's distance as recorded beside this one's (same precision)
        theirs = float(cl.distances[at[0]])
    gap = mine - theirs
    how = (f"{gap:.3g} farther" if gap else "just as far: a tie, which goes to the sample clustered first")
    return c, rival, gap, (f"Its cluster {c}'s pick was sample {rival}, {theirs:.3g} from the centre; "
                           f"this sample is {mine:.3g} from it ({how}).")


def _beaten(inp: RoundInputs, position: int, score: float) -> tuple[int | None, float, str, str]:
    """``(pick, margin, margin kind, sentence)`` of the pick that beat ``position``."""
    low_pick, low = _lowest_pick(inp)
    if low_pick is None:
        return None, float("nan"), "", "The strategy gives no score; its picks were a random draw."
    gap = low - score if np.isfinite(score) else float("nan")
    if picks_are_top_n(inp):
        return low_pick, gap, "score gap", (f"The lowest-scored pick, sample {low_pick}, scored {low:.4g}: "
                                            f"{gap:.4g} more, so this sample fell below the cut.")
    note = {"badge": "BADGE draws by k-means++ over gradient embeddings, not by this score",
            "coreset": "Core-Set picks by distance to the labelled set and the earlier picks, step by step",
            "dal": "DAL picks in sub-batches, retraining its discriminator between them"}.get(
        inp.strategy, f"{inp.display_name} does not pick by score alone")
    words = (f"The lowest-scored pick, sample {low_pick}, scored {low:.4g}"
             + (f" ({gap:+.4g} against this one)" if np.isfinite(gap) else "") + f"; {note}.")
    return low_pick, gap, "score gap", words


def _status_story(inp: RoundInputs, position: int) -> WhyNot | None:
    if np.isin(position, inp.labelled):
        return WhyNot(round=inp.round, position=position, status="labelled",
                      lines=(f"Sample {position} was already labelled before round {inp.round}; it was no candidate.",))
    if inp.row_of(position) is None:
        return WhyNot(round=inp.round, position=position, status="not a candidate",
                      lines=(f"Sample {position} was not among round {inp.round}'s {inp.n_candidates:,} candidates "
                             "(the round drew a candidate subset).",))
    return None


def why_not(inp: RoundInputs, position: int) -> WhyNot:
    """The story of one pool sample in a round: score, rank, pools, cluster, and which pick beat it.

    Parameters
    ----------
    inp : RoundInputs
        The round (:func:`mlal_core.inspection.walkthrough.round_inputs`).
    position : int
        Any pool position.

    Returns
    -------
    WhyNot
        ``status`` says whether it was picked; for a pick the story says so and gives its standing.
    """
    position = int(position)
    early = _status_story(inp, position)
    if early is not None:
        return early
    row = inp.row_of(position)
    assert row is not None
    score = float(inp.scores[row])
    over = _over(inp)
    rank, pct, n, times = standing(inp.scores, score)
    picked = bool(np.isin(position, inp.picks))
    lines = [f"Sample {position} (predicted: {inp.label_set(row)})"
             + (f" was pick {int(np.flatnonzero(inp.picks == position)[0]) + 1} of round {inp.round}." if picked
                else f" was not picked in round {inp.round}.")]
    if rank is not None:
        rel = f", {times:.2f} times the median" if np.isfinite(times) else ""
        lines.append(f"Its {inp.score_name} is {score:.4g}: rank {rank} of {n} in {over} (percentile {pct:.0f}{rel}).")
    else:
        lines.append(f"It has no {inp.score_name}" + (" (only U* is scored)." if inp.strategy == "crab" else "."))
    pools: list[str] = _crab_pools(inp, position, row) if inp.strategy == "crab" else []
    lines += pools
    cluster, rival, dist_gap, cluster_words = _cluster_rival(inp, position)
    beaten_by, margin, kind = None, float("nan"), ""
    if not picked:
        if rival is not None:
            beaten_by, margin, kind = rival, dist_gap, "distance to the cluster centre (farther by)"
            lines.append(cluster_words)
        elif inp.strategy == "crab" and not np.isfinite(score):
            lines.append("Outside U* it never reached the scoring or the clustering: no pick beat it on score.")
        elif inp.clusters is not None and inp.clusters.reproduced and cluster is None:
            lines.append(f"It was not in {inp.clusters.over}, so it never reached the clustering.")
        else:
            beaten_by, margin, kind, words = _beaten(inp, position, score)
            lines.append(words)
    return WhyNot(round=inp.round, position=position, status="picked" if picked else "not picked", score=score,
                  rank=rank, percentile=pct, n_over=n, over=over, times_median=times, pools=tuple(pools),
                  cluster=cluster, beaten_by=beaten_by, margin=margin, margin_kind=kind, lines=tuple(lines))


def search_positions(inp: RoundInputs, query: str, *, limit: int = 20) -> list[int]:
    """Candidates whose text contains ``query`` (case-insensitive), for "search a text".

    Parameters
    ----------
    inp : RoundInputs
        The round (a text dataset; a tabular one has no texts and gives []).
    query : str
        The words to look for.
    limit : int, default 20
        At most this many positions.

    Returns
    -------
    list of int
        Pool positions of matching candidates, ascending.
    """
    texts: Sequence[str] | None = inp.texts
    q = str(query).strip().lower()
    if texts is None or not q:
        return []
    out = [int(p) for p in inp.candidates if q in str(texts[int(p)]).lower()]
    return out[: int(limit)]
