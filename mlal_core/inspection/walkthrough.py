"""One stored round replayed as numbered steps on one 2-D map (issue 15, items 1 and 2).

How it works
------------
1. :func:`round_inputs` gathers what the round stored (its record: candidates, scores, picks, details,
   diagnostics; the labelled set ``L_t``) and what can be rebuilt from it deterministically: the
   round's model and context (:func:`mlal_core.inspection.round_history.round_state`: kept in memory
   by a live session, else replayed with the loop, same seed) give the predictions ``pbar`` of every
   candidate. The strategies' own steps are read from what the round **recorded**: CRAB and BESRA
   record the k-means cluster of every clustered candidate and its distance to the centroid
   (``diagnostics["clusters"]``, :func:`mlal_core.strategies.bemps_family.cluster_record`), CoMAL
   every candidate's SLCI and PFD (``diagnostics["SLCI"]``, ``diagnostics["PFD"]``). A round stored
   before the strategies recorded these is **recomputed** through public API only: CRAB / BESRA are
   run again (``select``) on the rebuilt context with a fresh copy of the round's rng, and their
   clusters are used when that run gives the recorded picks (:attr:`Clusters.reproduced`; when it does
   not, the cluster step shows only the picks' recorded clusters); CoMAL's SLCI and PFD come from the
   k-values the round kept for a capped sample (``diagnostics["embeddings"]``) with
   :mod:`mlal_core.contrastive`. Everything is computed once per round (the slow part: a replay trains
   the model) and cached.
2. :func:`round_map` projects the round's candidates and labelled set once (t-SNE / UMAP through
   :mod:`mlal_core.inspection.projection`, cached on disk; or ``"pca"``, fast and deterministic, for
   tests and very large pools). Every step draws on these coordinates.
3. :func:`round_walkthrough` turns the inputs into an ordered list of :class:`Step`: the **model**
   (predicted label sets, uncertainty as colour), then the strategy's own steps, built by the step
   builder registered for its name (:data:`STEP_BUILDERS`; :func:`register_step_builder` adds one;
   the default shows the scores and then the cut), then the **picks** with the labelled set. Each
   step is cheap (no training, no clustering), so a page can rebuild them on every click.

Every rank and percentile says the set it is over ("rank 3 of 40 in U*", "of 360 candidates"); scores
are also given relative to the median of that set ("2.4 times the median"). Ranks follow the picks
table (:func:`mlal_core.session.tables.picks_table`): rank = 1 + the number of scores strictly above,
percentile = percent of the set's scores at or below.

:func:`compare_on_round` runs two strategies on the same rebuilt round (their picks, overlap, and for
each pick of one the rank the other gave it); "why was this one not picked?" is
:func:`mlal_core.inspection.why_not.why_not`. The figures are :mod:`mlal_core.viz.walkthrough`.

Nothing here imports streamlit.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlal_core.errors import ConfigError
from mlal_core.inspection import round_history as rh
from mlal_core.inspection.session_memory import PerSessionMemory
from mlal_core.viz.walkthrough import MapLayer, ScoreCut, comparison_histograms, comparison_map, walkthrough_map
from mlal_core.viz.walkthrough import score_cut_histogram as _score_cut_histogram

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from mlal_core.session.loop import ActiveLearningSession

__all__ = [
    "MAP_METHODS",
    "STEP_BUILDERS",
    "SCORE_NAMES",
    "Clusters",
    "RoundInputs",
    "RoundMap",
    "SideBySide",
    "Step",
    "compare_on_round",
    "comparison_figures",
    "inputs_from_selection",
    "picks_are_top_n",
    "side_by_side",
    "register_step_builder",
    "round_inputs",
    "round_map",
    "round_walkthrough",
    "standing",
    "step_histogram",
    "step_map",
    "steps_of",
]

MAP_METHODS = ("tsne", "umap", "pca")

#: what each strategy's ``Selection.scores`` is, in words (others: "<display name> score")
SCORE_NAMES: dict[str, str] = {
    "crab": "dQ_AB (correlation-aware expected score change)",
    "besra": "expected score change dQ",
    "entropy": "entropy (bits, summed over labels)",
    "bald": "BALD (mutual information)",
    "beal": "-EC (BEAL's expected confidence, negated)",
    "badge": "gradient-embedding norm",
    "coreset": "distance to the nearest labelled sample",
    "comal": "Q = SLCI^gamma x PFD^(1-gamma)",
    "dal": "P(unlabelled) from the discriminator",
}

PICK_COLOR = "#D55E00"  # Okabe-Ito vermillion (viz.theme.PICKED_COLOR)
LABELLED_COLOR = "#000000"
POOL_COLORS = {"label-wise": "#0072B2", "negative": "#E69F00", "hard-to-learn": "#009E73", "top-up": "#CC79A7"}


# ====================================================================== data
@dataclass(frozen=True, eq=False)
class Step:
    """One step of a round's walk-through.

    Parameters
    ----------
    key : str
        Stable identifier (``"model"``, ``"pools"``, ``"clusters"``, ``"picks"``, ...).
    title : str
        Short title ("3. The refined pool U*").
    sentence : str
        What happens in this step, in plain words, with its numbers.
    numbers : dict
        The step's numbers by name (plain Python values: int, float, str, lists).
    layers : tuple of MapLayer
        What the step draws on the round's map (:func:`step_map`).
    histogram : ScoreCut, optional
        The step's scores and cut, when it has them (:func:`step_histogram`).
    """

    key: str
    title: str
    sentence: str
    numbers: dict
    layers: tuple[MapLayer, ...] = ()
    _: KW_ONLY  # the fields past the fifth are passed by name
    histogram: ScoreCut | None = None

    def to_dict(self) -> dict:
        """The step as plain Python values (arrays as lists), e.g. to compare two walk-throughs.

        Returns
        -------
        dict
            ``key``, ``title``, ``sentence``, ``numbers``, ``layers`` and ``histogram``.
        """
        return {"key": self.key, "title": self.title, "sentence": self.sentence, "numbers": dict(self.numbers),
                "layers": [layer.to_dict() for layer in self.layers],
                "histogram": None if self.histogram is None else self.histogram.to_dict()}


@dataclass(frozen=True, eq=False)
class Clusters:
    """The k-means clusters a strategy formed in a round, for every clustered candidate.

    Parameters
    ----------
    positions : numpy.ndarray
        Pool positions of the clustered candidates, ascending.
    labels : numpy.ndarray
        The cluster of each (the ids of the strategy's ``details["cluster"]``).
    distances : numpy.ndarray
        Each candidate's distance to its cluster's centroid (in the clustered space).
    over : str
        The clustered set, in words ("U*", "the top 50 % by score").
    space : str
        What was clustered, in words.
    reproduced : bool
        The clusters are the round's own: recorded by the round, or (a round stored before the
        strategies recorded them) recomputed by a run of the strategy that gave the recorded picks.
    """

    positions: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    over: str
    space: str
    _: KW_ONLY  # the fields past the fifth are passed by name
    reproduced: bool

    def cluster_of(self, position: int) -> int | None:
        """The cluster of a pool position, None when it was not clustered.

        Parameters
        ----------
        position : int
            A pool position.

        Returns
        -------
        int or None
        """
        hit = np.flatnonzero(self.positions == int(position))
        return int(self.labels[hit[0]]) if hit.size else None


@dataclass(eq=False)
class RoundInputs:
    """What a stored round holds, plus what was rebuilt from it (see the module docstring).

    ``candidates`` are ascending pool positions aligned with ``scores`` and ``pbar``; ``picks`` are in
    pick order. ``clusters`` (CRAB, BESRA) and ``comal`` (CoMAL's SLCI / PFD: ``positions``, ``slci``,
    ``pfd``, ``source`` = ``"recorded"`` for every candidate, or ``"kept sample"`` recomputed for the
    samples whose embeddings an older round kept) come from the round's record (see the module
    docstring); ``state`` is the rebuilt :class:`~mlal_core.inspection.round_history.RoundState`.
    """

    round: int
    strategy: str
    display_name: str
    params: dict
    names: list[str]
    _: KW_ONLY  # the fields past the fifth are passed by name
    candidates: np.ndarray
    scores: np.ndarray
    picks: np.ndarray
    labelled: np.ndarray
    details: pd.DataFrame
    diagnostics: dict
    pbar: np.ndarray
    texts: Sequence[str] | None = None
    state: Any = None
    clusters: Clusters | None = None
    comal: dict | None = None
    total_rounds: int = 1
    _rows: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._rows = {int(p): i for i, p in enumerate(self.candidates)}

    @property
    def n_candidates(self) -> int:
        """Number of candidates (the unlabelled pool, or the round's candidate subset)."""
        return int(self.candidates.size)

    @property
    def score_name(self) -> str:
        """What the strategy's score is, in words."""
        return SCORE_NAMES.get(self.strategy, f"{self.display_name} score")

    @property
    def picked_mask(self) -> np.ndarray:
        """The picks among the candidates, ``(n_candidates,)`` bool."""
        return np.isin(self.candidates, self.picks)

    @functools.cached_property
    def predicted(self) -> np.ndarray:
        """Predicted label sets of the candidates (``pbar > 0.5``), ``(n_candidates, K)`` bool."""
        return self.pbar > 0.5

    @functools.cached_property
    def uncertainty(self) -> np.ndarray:
        """Sum over labels of the binary entropy of ``pbar``, in bits, per candidate."""
        p = np.clip(np.asarray(self.pbar, dtype=np.float64), 1e-12, 1 - 1e-12)
        return -(p * np.log2(p) + (1 - p) * np.log2(1 - p)).sum(axis=1)

    @functools.cached_property
    def label_sets(self) -> tuple[str, ...]:
        """Every candidate's predicted label set as names (:meth:`label_set`), computed once per distinct set."""
        if not self.n_candidates:
            return ()
        distinct, inverse = np.unique(self.predicted, axis=0, return_inverse=True)
        words = [self._set_words(np.flatnonzero(row)) for row in distinct]
        return tuple(words[i] for i in np.asarray(inverse).reshape(-1))

    def _set_words(self, labs: np.ndarray, max_names: int = 4) -> str:
        if not labs.size:
            return "(none)"
        shown = ", ".join(self.names[j] for j in labs[:max_names])
        return shown + (f" + {labs.size - max_names} more" if labs.size > max_names else "")

    def row_of(self, position: int) -> int | None:
        """The candidate index of a pool position (None when it is not a candidate).

        Parameters
        ----------
        position : int
            A pool position.

        Returns
        -------
        int or None
        """
        return self._rows.get(int(position))

    def label_set(self, row: int, max_names: int = 4) -> str:
        """The predicted label set of candidate ``row``, as names.

        Parameters
        ----------
        row : int
            A candidate index.
        max_names : int, default 4
            Names listed before "+ n more".

        Returns
        -------
        str
            ``"earn, acq"``, or ``"(none)"``.
        """
        return self._set_words(np.flatnonzero(self.predicted[row]), max_names)


@dataclass(frozen=True, eq=False)
class RoundMap:
    """A round's 2-D map: the candidates and the labelled set, projected once.

    Parameters
    ----------
    round : int
        The round.
    positions : numpy.ndarray
        Pool positions of the mapped points, ascending.
    xy : numpy.ndarray
        ``(n, 2)`` coordinates, aligned with ``positions``.
    method : str
        ``"tsne"``, ``"umap"`` or ``"pca"``.
    features : str
        The space projected, in words.
    labelled : numpy.ndarray
        Pool positions of the labelled set ``L_t`` (drawn and counted apart from the candidates).
    """

    round: int
    positions: np.ndarray
    xy: np.ndarray
    method: str
    features: str
    _: KW_ONLY  # the fields past the fifth are passed by name
    labelled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def axis_prefix(self) -> str:
        """Axis name of the method ("t-SNE", "UMAP", "PC")."""
        return {"tsne": "t-SNE", "umap": "UMAP", "pca": "PC"}[self.method]


# ====================================================================== standing
def standing(scores: np.ndarray, value: float) -> tuple[int | None, float, int, float]:
    """Rank, percentile and relative size of ``value`` among the finite ``scores``.

    Parameters
    ----------
    scores : numpy.ndarray
        The set's scores (NaN = not in the set).
    value : float
        A score.

    Returns
    -------
    tuple of (int or None, float, int, float)
        ``(rank, percentile, n, times_median)``: rank = 1 + the number of scores strictly above
        (None when ``value`` is NaN), percentile = percent of scores <= value, n = the set's size,
        times_median = value / median (NaN when the median is not positive).
    """
    vals = _sorted_finite(scores)
    n = int(vals.size)
    if not n or not np.isfinite(value):
        return None, float("nan"), n, float("nan")
    at_or_below = int(np.searchsorted(vals, value, side="right"))
    med = float(np.median(vals))
    return n - at_or_below + 1, 100.0 * at_or_below / n, n, (float(value) / med if med > 0 else float("nan"))


_SORTED: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _sorted_finite(scores: np.ndarray) -> np.ndarray:
    """The finite scores, ascending; the last few arrays' results are kept (steps ask many times)."""
    arr = np.asarray(scores, dtype=float)
    hit = _SORTED.get(id(arr))
    if hit is not None and hit[0] is arr:
        return hit[1]
    vals = np.sort(arr[np.isfinite(arr)])
    if len(_SORTED) > 16:
        _SORTED.clear()
    _SORTED[id(arr)] = (arr, vals)
    return vals


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank (1 = highest, ties share the better rank) of every finite score; 0 where NaN."""
    s = np.asarray(scores, dtype=float)
    ok = np.isfinite(s)
    vals = np.sort(s[ok])
    out = np.zeros(s.size, dtype=np.int64)
    out[ok] = vals.size - np.searchsorted(vals, s[ok], side="right") + 1
    return out


def _relative(value: float, scores: np.ndarray, over: str) -> str:
    """``"rank 3 of 40 <over> (percentile 93, 2.10 times the median)"``; ``over`` names the set."""
    rank, pct, n, times = standing(scores, value)
    if rank is None:
        return f"not scored ({over})"
    rel = f", {times:.2f} times the median" if np.isfinite(times) else ""
    return f"rank {rank} of {n} {over} (percentile {pct:.0f}{rel})"


# ====================================================================== inputs
_CACHE = PerSessionMemory()
#: rounds' inputs and maps kept per session
CACHE_SIZE = 4


def _cache(session: ActiveLearningSession) -> OrderedDict:
    return _CACHE.of(session)


def _cached(session: ActiveLearningSession, key: tuple, build: Callable[[], Any]) -> Any:
    mem = _cache(session)
    full = (rh.session_key(session), *key)
    if full in mem:
        mem.move_to_end(full)
        return mem[full]
    value = build()
    mem[full] = value
    while len(mem) > 2 * CACHE_SIZE:
        mem.popitem(last=False)
    return value


def round_inputs(session: ActiveLearningSession, t: int, *, state: Any = None,
                 progress: rh.Progress | None = None, recompute: bool = True) -> RoundInputs:
    """Everything the walk-through of record ``t`` needs, gathered and rebuilt once (cached).

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.
    state : RoundState, optional
        The round's rebuilt state when the caller has it (default :func:`round_history.round_state`,
        which replays the round when it is not in memory).
    progress : callable, optional
        ``progress(done, total, message)`` of a replay.
    recompute : bool, default True
        For a round stored before the strategies recorded their clusters (CRAB, BESRA) or SLCI / PFD
        (CoMAL), recompute them (see the module docstring); a round with the records never recomputes.

    Returns
    -------
    RoundInputs

    Raises
    ------
    ConfigError
        When record ``t`` made no query.
    """
    def build() -> RoundInputs:
        rec = rh.query_record(session, t)
        st = state if state is not None else rh.round_state(session, t, progress=progress)
        cand, scores = rh.round_scores(session, t)
        if not np.array_equal(np.asarray(st.context.unlabeled), cand):
            raise ConfigError(f"Round {rec.round}'s rebuilt context has other candidates than the record; "
                              "the session's data or candidate settings changed since it ran.")
        sel = rec.selection
        return inputs_from_selection(
            st, session.config.strategy, picks=np.asarray(rec.selected, dtype=np.int64), scores=scores,
            details=sel.details if sel is not None else None, diagnostics=sel.diagnostics if sel is not None else None,
            names=rh.label_names(session), labelled=rh.labelled_at(session, t)[0],
            params=session.config.strategy_params, texts=getattr(session.dataset.train, "texts", None),
            recompute=recompute)

    return _cached(session, ("inputs", int(t), bool(recompute)), build)


def inputs_from_selection(state: Any, strategy: str, *, picks: Sequence[int] | np.ndarray, scores: np.ndarray,
                          details: pd.DataFrame | None, diagnostics: dict | None, names: Sequence[str],
                          labelled: np.ndarray, params: dict | None = None, texts: Sequence[str] | None = None,
                          recompute: bool = True) -> RoundInputs:
    """:class:`RoundInputs` of any strategy's selection on a rebuilt round (e.g. another strategy run on
    the round's model, to walk through its steps too).

    Parameters
    ----------
    state : RoundState
        The round's state (its ``context`` gives the candidates and ``pbar``; ``fresh_context`` the rng).
    strategy : str
        The strategy that made the selection (its registry name).
    picks : sequence of int
        Pool positions picked, in pick order.
    scores : numpy.ndarray
        The selection's scores, aligned with ``state.context.unlabeled``.
    details : pandas.DataFrame or None
        The selection's details.
    diagnostics : dict or None
        The selection's diagnostics.
    names : sequence of str
        Label names.
    labelled : numpy.ndarray
        The labelled set before the round.
    params : dict, optional
        The strategy's parameters (for the recomputation of an older round).
    texts : sequence of str, optional
        The pool's texts.
    recompute : bool, default True
        When ``diagnostics`` lacks the clusters of CRAB / BESRA or CoMAL's SLCI / PFD (a round stored
        before the strategies recorded them), recompute them (see the module docstring).

    Returns
    -------
    RoundInputs
    """
    from mlal_core import strategies

    ctx = state.context
    inp = RoundInputs(
        round=int(state.round), strategy=str(strategy), display_name=strategies.info(strategy).display_name,
        params=dict(params or {}), names=list(names), candidates=np.asarray(ctx.unlabeled, dtype=np.int64),
        scores=np.asarray(scores, dtype=float).reshape(-1), picks=np.asarray(picks, dtype=np.int64),
        labelled=np.asarray(labelled, dtype=np.int64),
        details=details.reset_index(drop=True) if details is not None else pd.DataFrame(),
        diagnostics=dict(diagnostics or {}), pbar=ctx.mean_proba(), texts=texts, state=state,
        total_rounds=int(getattr(ctx, "total_rounds", 1)),
    )
    inp.clusters = _clusters(inp, recompute)
    inp.comal = _comal_values(inp, recompute)
    return inp


# ---------------------------------------------------------------------- the strategies' records
#: strategies that cluster their candidates (their ``diagnostics["clusters"]``, ``details["cluster"]``)
_CLUSTERING = ("crab", "besra")


def _cluster_over(inp: RoundInputs) -> str:
    """The clustered set, in words."""
    if inp.strategy == "crab":
        return "U*"
    n_top = int(inp.diagnostics.get("n_clustered", inp.n_candidates))
    return f"the top {round(100 * n_top / max(inp.n_candidates, 1))}% by score"


def _clusters_of(inp: RoundInputs, record: Any, *, reproduced: bool) -> Clusters | None:
    if not isinstance(record, dict) or "cluster" not in record:
        return None
    return Clusters(positions=np.asarray(record["positions"], dtype=np.int64),
                    labels=np.asarray(record["cluster"], dtype=np.int64),
                    distances=np.asarray(record["distance_to_centroid"], dtype=np.float64),
                    over=_cluster_over(inp), space=str(record.get("space", "")), reproduced=reproduced)


def _clusters(inp: RoundInputs, recompute: bool) -> Clusters | None:
    """The round's recorded clusters; for an older round, those of a run that gives the recorded picks."""
    if inp.strategy not in _CLUSTERING:
        return None
    recorded = _clusters_of(inp, inp.diagnostics.get("clusters"), reproduced=True)
    fresh_context = getattr(inp.state, "fresh_context", None)
    if recorded is not None or not recompute or fresh_context is None:
        return recorded
    from mlal_core import strategies

    sel = strategies.get(inp.strategy, **inp.params).select(fresh_context(), int(inp.picks.size))
    same = np.array_equal(sel.indices, inp.picks)
    if same and "cluster" in inp.details:
        same = np.array_equal(sel.details["cluster"].to_numpy(np.int64), inp.details["cluster"].to_numpy(np.int64))
    return _clusters_of(inp, sel.diagnostics.get("clusters"), reproduced=bool(same))


def _comal_values(inp: RoundInputs, recompute: bool) -> dict | None:
    """CoMAL's SLCI and PFD: recorded for every candidate, else (an older round) recomputed for the
    samples whose k-values the round kept."""
    if inp.strategy != "comal":
        return None
    d = inp.diagnostics
    if "SLCI" in d and "PFD" in d and np.size(d["SLCI"]) == np.size(d["PFD"]) == inp.n_candidates:
        return {"positions": inp.candidates, "slci": np.asarray(d["SLCI"], dtype=np.float64),
                "pfd": np.asarray(d["PFD"], dtype=np.float64), "source": "recorded"}
    emb = d.get("embeddings")
    if not recompute or not emb or "kbar" not in d:
        return None
    from mlal_core import contrastive as cl

    unl = np.asarray(emb["role"]) != "labelled"
    k = np.asarray(emb["k"], dtype=np.float64)[unl]
    y = np.asarray(emb["y"])[unl] > 0
    lc = float(d.get("label_cardinality", 0.0))
    return {"positions": np.asarray(emb["positions"], dtype=np.int64)[unl],
            "slci": cl.slci(k, np.asarray(d["kbar"], dtype=np.float64), lc), "pfd": cl.pfd(k, y),
            "source": "kept sample"}


# ====================================================================== the map
def _project(X: Any, method: str, random_state: int) -> np.ndarray:
    if method == "pca":
        if sp.issparse(X):
            from sklearn.decomposition import TruncatedSVD

            return TruncatedSVD(n_components=2, random_state=random_state).fit_transform(X).astype(np.float32)
        from sklearn.decomposition import PCA

        X = np.asarray(X, dtype=np.float64)
        return PCA(n_components=2, svd_solver="full").fit_transform(X).astype(np.float32)
    from mlal_core.inspection import projection

    return projection.project(X, method, random_state)


def round_map(session: ActiveLearningSession, t: int, *, method: str = "tsne", random_state: int = 0,
              cap: int | None = None, keep: Sequence[int] = ()) -> RoundMap:
    """The round's one 2-D map: candidates and labelled set ``L_t`` projected once (cached).

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        A query round.
    method : {"tsne", "umap", "pca"}, default "tsne"
        t-SNE / UMAP (:mod:`mlal_core.inspection.projection`, cached on disk too) or PCA (truncated SVD
        for sparse features): fast and deterministic.
    random_state : int, default 0
        Seed of the projection (and of the ``cap`` fill).
    cap : int, optional
        Map at most this many points: the labelled set, the picks and ``keep`` always, a seeded
        random fill of the other candidates.
    keep : sequence of int, default ()
        Pool positions to keep on a capped map (e.g. CRAB's U*).

    Returns
    -------
    RoundMap

    Raises
    ------
    ConfigError
        For an unknown method, or a round that made no query.
    """
    if method not in MAP_METHODS:
        raise ConfigError(f"Unknown map method {method!r}; choose one of {', '.join(MAP_METHODS)}.")

    def build() -> RoundMap:
        from mlal_core.inspection.embedding_maps import projection_features

        rec = rh.query_record(session, t)
        cand = rh.round_candidates(session, t)
        lab = rh.labelled_at(session, t)[0]
        pos = np.union1d(cand, lab)
        if cap is not None and pos.size > int(cap):
            must = np.union1d(np.union1d(lab, np.asarray(rec.selected, dtype=np.int64)),
                              np.asarray(list(keep), dtype=np.int64))
            rest = np.setdiff1d(pos, must)
            n_fill = max(0, int(cap) - must.size)
            fill = np.random.default_rng([random_state, int(rec.round)]).choice(rest, size=min(n_fill, rest.size),
                                                                                 replace=False)
            pos = np.union1d(must, fill)
        X, words = projection_features(session)
        rows = X[pos]
        xy = _project(rows, method, random_state)
        return RoundMap(round=int(rec.round), positions=pos, xy=np.asarray(xy, dtype=np.float32), method=method,
                        features=words, labelled=np.asarray(lab, dtype=np.int64))

    return _cached(session, ("map", int(t), method, int(random_state), cap, tuple(int(k) for k in keep)), build)


# ====================================================================== generic steps
def _labelled_layer(inp: RoundInputs) -> MapLayer:
    return MapLayer("labelled before the round (L_t)", inp.labelled, color=LABELLED_COLOR, symbol="x", size=6,
                    opacity=0.7)


def _model_step(inp: RoundInputs) -> Step:
    pred = inp.predicted
    n_pred = pred.sum(axis=1)
    unc = inp.uncertainty
    texts = inp.label_sets
    empty = int((n_pred == 0).sum())
    numbers = {
        "n_candidates": inp.n_candidates, "n_labelled": int(inp.labelled.size),
        "mean_predicted_labels": float(n_pred.mean()) if n_pred.size else float("nan"),
        "no_label_predicted": empty, "mean_uncertainty_bits": float(unc.mean()) if unc.size else float("nan"),
        "max_uncertainty_bits": float(unc.max()) if unc.size else float("nan"),
    }
    sentence = (f"Round {inp.round}'s model was trained on the {inp.labelled.size:,} labelled samples (black x). "
                f"For each of the {inp.n_candidates:,} candidates it predicts a label set (labels with mean "
                f"probability above 0.5): {numbers['mean_predicted_labels']:.2f} labels on average, none for "
                f"{empty}. Colour = its uncertainty, the summed binary entropy of the label probabilities "
                f"(mean {numbers['mean_uncertainty_bits']:.2f} bits, at most {numbers['max_uncertainty_bits']:.2f}).")
    layers = (MapLayer("candidates: uncertainty", inp.candidates, kind="values", values=unc, text=texts,
                       value_name="uncertainty (bits)", size=6), _labelled_layer(inp))
    return Step("model", "The model: predicted label sets and uncertainty", sentence, numbers, layers)


def _pick_texts(inp: RoundInputs, positions: np.ndarray) -> tuple[str, ...]:
    order = {int(p): i + 1 for i, p in enumerate(inp.picks)}
    return tuple(str(order.get(int(p), "")) for p in positions)


def _set_words(inp: RoundInputs) -> str:
    """The set the round's scores are over, without its size ("samples of U*", "candidates")."""
    if inp.strategy == "crab":
        return "samples of U*"
    return "candidates" if np.isfinite(inp.scores).all() else "scored candidates"


def _picks_step(inp: RoundInputs) -> Step:
    over = _set_words(inp)
    rel = [_relative(float(inp.scores[inp.row_of(p)]), inp.scores, over) if inp.row_of(p) is not None else ""
           for p in inp.picks]
    reasons = inp.details["reason"].astype(str).tolist() if "reason" in inp.details else [""] * len(inp.picks)
    numbers = {"n_picks": int(inp.picks.size), "picks": inp.picks.tolist(), "n_labelled_before": int(inp.labelled.size),
               "n_labelled_after": int(inp.labelled.size + inp.picks.size), "standing": rel, "reasons": reasons}
    sentence = (f"The {inp.picks.size} picks (numbered in pick order) go to the oracle; with the "
                f"{inp.labelled.size:,} samples labelled before (black x) the next model trains on "
                f"{inp.labelled.size + inp.picks.size}.")
    layers = (_labelled_layer(inp),
              MapLayer("picks", inp.picks, color=PICK_COLOR, size=9),
              MapLayer("pick order", inp.picks, kind="ring", text=_pick_texts(inp, inp.picks)))
    return Step("picks", "The picks", sentence, numbers, layers)


def _pick_ring(inp: RoundInputs) -> MapLayer:
    return MapLayer("picks", inp.picks, kind="ring", text=_pick_texts(inp, inp.picks))


def picks_are_top_n(inp: RoundInputs) -> bool:
    """Whether the round's picks are exactly its ``n`` best-scored candidates (a plain score cut).

    Parameters
    ----------
    inp : RoundInputs
        The round (:func:`round_inputs`).

    Returns
    -------
    bool
        False when nothing was scored or nothing picked.
    """
    from mlal_core.strategies.base import top_n

    if not np.isfinite(inp.scores).any() or not inp.picks.size:
        return False
    top = inp.candidates[top_n(inp.scores, inp.picks.size)]
    return bool(np.array_equal(np.sort(top), np.sort(inp.picks)))


def _scores_step(inp: RoundInputs, *, key: str = "scores", title: str | None = None, lead: str = "") -> Step:
    s = inp.scores
    ok = np.isfinite(s)
    vals = s[ok]
    over = "candidates" if ok.all() else "scored candidates"
    numbers = {"score": inp.score_name, "n_scored": int(ok.sum()), "n_candidates": inp.n_candidates,
               "median": float(np.median(vals)), "min": float(vals.min()), "max": float(vals.max())}
    sentence = (lead + f"{inp.display_name} scores {int(ok.sum())} of the {inp.n_candidates:,} candidates by "
                f"{inp.score_name}: from {numbers['min']:.4g} to {numbers['max']:.4g}, median "
                f"{numbers['median']:.4g} (colour; higher is picked first).")
    texts = tuple(f"rank {r} of {int(ok.sum())}" for r in _ranks(s)[ok])
    layers = (MapLayer(inp.score_name, inp.candidates[ok], kind="values", values=vals, text=texts,
                       value_name=inp.score_name, size=6),)
    cut = ScoreCut(s, inp.score_name, f"{int(ok.sum())} {over}", inp.picked_mask)
    return Step(key, title or f"The score: {inp.score_name}", sentence, numbers, layers, histogram=cut)


def _cut_step(inp: RoundInputs) -> Step:
    s = inp.scores
    ok = np.isfinite(s)
    n_scored = int(ok.sum())
    pick_scores = np.array([s[inp.row_of(p)] for p in inp.picks], dtype=float)
    ranks = [standing(s, v)[0] for v in pick_scores]
    rel = [_relative(v, s, _set_words(inp)) for v in pick_scores]
    if picks_are_top_n(inp):
        cut = float(np.nanmin(pick_scores))
        at_or_above = int((s[ok] >= cut).sum())
        sentence = (f"{inp.display_name} takes the {inp.picks.size} highest scores: the cut is the lowest pick's "
                    f"score, {cut:.4g} ({_relative(cut, s, _set_words(inp))}); {at_or_above} candidates "
                    f"score at or above it.")
        numbers = {"cut": cut, "n_at_or_above_cut": at_or_above, "n_scored": n_scored, "pick_ranks": ranks,
                   "pick_standing": rel}
        hist = ScoreCut(s, inp.score_name, f"{n_scored:,} scored candidates", inp.picked_mask, cut,
                        cut_label=f"cut: lowest pick {cut:.4g}")
        above = inp.candidates[ok][s[ok] >= cut]
        layers = (MapLayer("at or above the cut", above, color=PICK_COLOR, size=8), _pick_ring(inp))
        return Step("cut", "The cut: the top scores are picked", sentence, numbers, layers, histogram=hist)
    worst = max((r for r in ranks if r is not None), default=None)
    sentence = (f"{inp.display_name} does not simply take the top {inp.picks.size} by this score: its picks rank "
                f"from {min((r for r in ranks if r is not None), default='-')} to {worst} of {n_scored:,} scored "
                "(the ring labels give the pick order).")
    numbers = {"n_scored": n_scored, "pick_ranks": ranks, "pick_standing": rel}
    hist = ScoreCut(s, inp.score_name, f"{n_scored:,} scored candidates", inp.picked_mask)
    return Step("pick_ranks", "Where the picks rank by score", sentence, numbers, (_pick_ring(inp),), histogram=hist)


def _default_steps(inp: RoundInputs) -> list[Step]:
    if not np.isfinite(inp.scores).any():
        sentence = (f"{inp.display_name} gives no score: its {inp.picks.size} picks are a uniform random draw "
                    f"from the {inp.n_candidates:,} candidates (seeded by the round).")
        return [Step("draw", "A random draw", sentence,
                     {"n_candidates": inp.n_candidates, "n_picks": int(inp.picks.size)}, (_pick_ring(inp),))]
    return [_scores_step(inp), _cut_step(inp)]


# ====================================================================== registry
StepBuilder = Callable[[RoundInputs], list[Step]]
#: strategy name -> the builder of its own steps (between "model" and "picks"); others get the default
STEP_BUILDERS: dict[str, StepBuilder] = {}


def register_step_builder(name: str) -> Callable[[StepBuilder], StepBuilder]:
    """Decorator: ``builder(inputs) -> list[Step]`` builds strategy ``name``'s own steps.

    Parameters
    ----------
    name : str
        The strategy's registry name.

    Returns
    -------
    callable
        The decorator (it returns the builder unchanged).
    """
    def deco(builder: StepBuilder) -> StepBuilder:
        STEP_BUILDERS[str(name)] = builder
        return builder

    return deco


def round_walkthrough(session: ActiveLearningSession, t: int, *, inputs: RoundInputs | None = None,
                      progress: rh.Progress | None = None) -> list[Step]:
    """Record ``t`` replayed as numbered steps: the model, the strategy's own steps, the picks.

    Parameters
    ----------
    session : ActiveLearningSession
        The session (live or reopened from the store).
    t : int
        A query round.
    inputs : RoundInputs, optional
        The round's inputs when the caller has them (default :func:`round_inputs`).
    progress : callable, optional
        ``progress(done, total, message)`` while the round's model is rebuilt.

    Returns
    -------
    list of Step
        In order; titles are numbered from 1.

    Raises
    ------
    ConfigError
        When record ``t`` made no query.
    """
    inp = inputs if inputs is not None else round_inputs(session, t, progress=progress)
    return steps_of(inp)


def steps_of(inp: RoundInputs) -> list[Step]:
    """The steps of a round from its inputs (see :func:`round_walkthrough`).

    Parameters
    ----------
    inp : RoundInputs
        The round's inputs.

    Returns
    -------
    list of Step
    """
    own = STEP_BUILDERS.get(inp.strategy, _default_steps)(inp)
    steps = [_model_step(inp), *own, _picks_step(inp)]
    return [Step(s.key, f"{i}. {s.title}", s.sentence, s.numbers, s.layers, histogram=s.histogram)
            for i, s in enumerate(steps, start=1)]


# ====================================================================== figures of a step
def step_map(rmap: RoundMap, step: Step, *, highlight: int | None = None,
             title: str | None = "") -> go.Figure:
    """The round's map drawn with a step's layers.

    Parameters
    ----------
    rmap : RoundMap
        The round's map (:func:`round_map`).
    step : Step
        A step of :func:`round_walkthrough`.
    highlight : int, optional
        A pool position to ring in black (e.g. the sample asked about in "why not").
    title : str or None, default ""
        The figure's title: ``""`` for the step's title, None for none (a page that shows the step's
        heading above the map).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    title = step.title if title == "" else title
    layers = list(step.layers)
    if highlight is not None:
        layers.append(MapLayer(f"sample {int(highlight)}", np.array([int(highlight)]), color="#000000",
                               symbol="star", size=16, opacity=1.0))
    return walkthrough_map(rmap.xy, rmap.positions, layers, title=title, axis_prefix=rmap.axis_prefix,
                           labelled=rmap.labelled)


def step_histogram(step: Step, *, highlight: int | None = None) -> go.Figure | None:
    """The step's score histogram with its cut (None when the step has no scores).

    Parameters
    ----------
    step : Step
        A step.
    highlight : int, optional
        A candidate index to mark.

    Returns
    -------
    plotly.graph_objects.Figure or None
    """
    if step.histogram is None:
        return None
    return _score_cut_histogram(step.histogram, highlight=highlight)


# ====================================================================== two strategies
@dataclass(frozen=True, eq=False)
class SideBySide:
    """Two strategies on one round's model (see :func:`compare_on_round`).

    Parameters
    ----------
    round : int
        The round.
    names : tuple of (str, str)
        The two strategies.
    candidates : numpy.ndarray
        The round's candidates (ascending pool positions).
    scores : dict of str to numpy.ndarray
        Each strategy's scores, aligned with ``candidates``.
    picks : dict of str to numpy.ndarray
        Each strategy's picks in pick order.
    table : pandas.DataFrame
        One row per pick of either strategy: ``picked_by``, ``order``, ``position``, ``own_score``,
        ``own_rank``, ``other``, ``other_score``, ``other_rank`` (nullable Int64: missing where not
        scored), ``other_n_scored``,
        ``other_percentile``, ``other_picked``, ``other_standing`` (in words, naming the set).
    """

    round: int
    names: tuple[str, str]
    candidates: np.ndarray
    scores: dict
    picks: dict
    _: KW_ONLY  # the fields past the fifth are passed by name
    table: pd.DataFrame

    @property
    def both(self) -> np.ndarray:
        """Pool positions both strategies picked, ascending."""
        a, b = self.names
        return np.intersect1d(self.picks[a], self.picks[b])

    def only(self, name: str) -> np.ndarray:
        """Pool positions only ``name`` picked, ascending.

        Parameters
        ----------
        name : str
            One of the two strategies.

        Returns
        -------
        numpy.ndarray
        """
        other = self.names[1] if name == self.names[0] else self.names[0]
        return np.setdiff1d(self.picks[name], self.picks[other])

    def picked_mask(self, name: str) -> np.ndarray:
        """``name``'s picks among the candidates.

        Parameters
        ----------
        name : str
            One of the two strategies.

        Returns
        -------
        numpy.ndarray of bool
        """
        return np.isin(self.candidates, self.picks[name])


def _side_rows(name: str, other: str, candidates: np.ndarray, scores: dict, picks: dict) -> list[dict]:
    rows = []
    own_ranks, other_ranks = _ranks(scores[name]), _ranks(scores[other])
    n_other = int(np.isfinite(scores[other]).sum())
    for i, p in enumerate(picks[name]):
        r = int(np.searchsorted(candidates, p))
        o_score = float(scores[other][r])
        _, pct, _, _ = standing(scores[other], o_score)
        rows.append({"picked_by": name, "order": i + 1, "position": int(p), "own_score": float(scores[name][r]),
                     "own_rank": int(own_ranks[r]) or None, "other": other, "other_score": o_score,
                     "other_rank": int(other_ranks[r]) or None, "other_n_scored": n_other,
                     "other_percentile": pct, "other_picked": bool(np.isin(p, picks[other])),
                     "other_standing": _relative(o_score, scores[other], f"scored by {other}")})
    return rows


def compare_on_round(session: ActiveLearningSession, t: int, a: str, b: str, *,
                     params: dict[str, dict] | None = None, state: Any = None,
                     progress: rh.Progress | None = None) -> SideBySide:
    """Two strategies on record ``t``'s model: both picks, overlap, and each pick's rank by the other.

    Both run on the round's rebuilt context with a fresh copy of its rng
    (:func:`mlal_core.inspection.round_history.compare_strategies`), so the session's own strategy
    gives its recorded picks. A rank is over the candidates the other strategy scored (CRAB scores only
    U*; Random scores nothing): ``other_rank`` is None for a pick the other did not score.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        A query round.
    a, b : str
        Two registered strategy names (different).
    params : dict of str to dict, optional
        Parameters by strategy name (default: the session's for its own strategy, defaults otherwise).
    state : RoundState, optional
        The round's rebuilt state when the caller has it.
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    SideBySide

    Raises
    ------
    ConfigError
        When ``a == b``, a name is unknown, a strategy fails on this round, or the round made no query.
    """
    if a == b:
        raise ConfigError(f"Choose two different strategies to compare (both are {a!r}).")
    cmp = rh.compare_strategies(session, t, [a, b], params=params, state=state, progress=progress,
                                include_recorded=False)
    if cmp.errors:
        raise ConfigError("; ".join(f"{k} cannot run on this round: {v}" for k, v in cmp.errors.items()))
    return side_by_side(rh.round_candidates(session, t), {k: cmp.selections[k].scores for k in (a, b)},
                        {k: cmp.picks[k] for k in (a, b)}, round=cmp.round)


def side_by_side(candidates: np.ndarray, scores: dict, picks: dict, *, round: int = 0) -> SideBySide:
    """Two strategies' scores and picks on the same candidates, with each pick's rank by the other.

    Parameters
    ----------
    candidates : numpy.ndarray
        Ascending pool positions, aligned with the scores.
    scores : dict of str to numpy.ndarray
        Exactly two strategies' scores (NaN = not scored).
    picks : dict of str to sequence of int
        The same two strategies' picks (pool positions, pick order).
    round : int, default 0
        The round.

    Returns
    -------
    SideBySide

    Raises
    ------
    ConfigError
        Unless exactly two strategies with scores and picks over the candidates are given.
    """
    names = tuple(scores)
    cand = np.asarray(candidates, dtype=np.int64)
    if len(names) != 2 or set(names) != set(picks):
        raise ConfigError(f"side_by_side needs the scores and picks of exactly two strategies; got {list(scores)} "
                          f"and {list(picks)}.")
    sc = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in scores.items()}
    pk = {k: np.asarray(picks[k], dtype=np.int64).reshape(-1) for k in names}
    for k in names:
        if sc[k].size != cand.size or not np.isin(pk[k], cand).all():
            raise ConfigError(f"{k}: scores must align with the {cand.size} candidates and picks be among them.")
    a, b = names
    table = pd.DataFrame(_side_rows(a, b, cand, sc, pk) + _side_rows(b, a, cand, sc, pk))
    for col in ("own_rank", "other_rank"):  # None (not scored) stays missing, ranks stay integers
        table[col] = pd.array([pd.NA if v is None or pd.isna(v) else int(v) for v in table[col]], dtype="Int64")
    return SideBySide(round=int(round), names=(a, b), candidates=cand, scores=sc, picks=pk, table=table)


def comparison_figures(side: SideBySide, rmap: RoundMap | None = None, *,
                       labelled: np.ndarray | None = None) -> dict[str, go.Figure]:
    """The side-by-side figures: both picks on the map and on both score histograms.

    Parameters
    ----------
    side : SideBySide
        From :func:`compare_on_round`.
    rmap : RoundMap, optional
        The round's map (no map figure without it).
    labelled : numpy.ndarray, optional
        The labelled set before the round (drawn on the map).

    Returns
    -------
    dict of str to plotly.graph_objects.Figure
        ``"map"`` (when ``rmap`` is given) and ``"histograms"`` (when both strategies score something).
    """
    from mlal_core import strategies

    a, b = side.names
    out: dict[str, go.Figure] = {}
    if rmap is not None:
        out["map"] = comparison_map(rmap.xy, rmap.positions, side.picks[a], side.picks[b], name_a=a, name_b=b,
                                    labelled=labelled, axis_prefix=rmap.axis_prefix)
    if all(np.isfinite(side.scores[k]).any() for k in (a, b)):
        names = [SCORE_NAMES.get(k, f"{strategies.info(k).display_name} score") for k in (a, b)]
        out["histograms"] = comparison_histograms(side.scores[a], side.scores[b], side.picked_mask(a),
                                                  side.picked_mask(b), name_a=a, name_b=b,
                                                  score_name_a=f"{a}: {names[0]}", score_name_b=f"{b}: {names[1]}")
    return out


# ====================================================================== the strategies' own steps
def _names(inp: RoundInputs, labels: Sequence[int]) -> list[str]:
    return [inp.names[int(j)] for j in labels]


def _pairs_words(inp: RoundInputs, pairs: Any, sep: str) -> list[str]:
    return [f"{inp.names[int(m)]} {sep} {inp.names[int(n)]}" for m, n in np.asarray(pairs, dtype=np.int64).reshape(-1, 2)]


def _crab_correlations(inp: RoundInputs) -> Step:
    d = inp.diagnostics
    asym = np.asarray(d.get("asymmetric_pairs", np.empty((0, 2))), dtype=np.int64).reshape(-1, 2)
    excl = np.asarray(d.get("exclusive_pairs", np.empty((0, 2))), dtype=np.int64).reshape(-1, 2)
    tau = float(d.get("tau", float("nan")))
    numbers = {"n_labelled": int(inp.labelled.size), "asymmetric_pairs": int(len(asym)),
               "exclusive_pairs": int(len(excl)), "tau": tau,
               "asymmetric": [f"{inp.names[n]} implies {inp.names[m]}" for m, n in asym],
               "exclusive": _pairs_words(inp, excl, "/")}
    sentence = (f"CRAB reads the label correlations of the {inp.labelled.size:,} labelled samples (black x): "
                f"A[m, n] = P(m | n), how often label m comes with label n (Eq. 8), and NegA[m, n] = P(not m | n) "
                f"(Eq. 9). It finds {len(asym)} asymmetric pair(s) (z(A) > 1 and A[m, n] > A[n, m]: n implies m) "
                f"and {len(excl)} mutually exclusive pair(s) (NegA >= tau = {tau:.2f} both ways).")
    return Step("correlations", "Label correlations A and NegA", sentence, numbers, (_labelled_layer(inp),))


def _crab_labels(inp: RoundInputs) -> Step:
    d = inp.diagnostics
    kept = [int(j) for j in d.get("kept_labels", [])]
    dropped = list(d.get("dropped_labels", []))
    drop_labels = [int(x["label"]) for x in dropped]
    pred = inp.predicted
    has_dropped = pred[:, drop_labels].any(axis=1) if drop_labels else np.zeros(inp.n_candidates, bool)
    numbers = {"n_kept": len(kept), "n_dropped": len(dropped), "kept": _names(inp, kept),
               "dropped": [f"{inp.names[int(x['label'])]}: {x['reason']}" for x in dropped],
               "asymmetric_keep": str(d.get("asymmetric_keep", "implying")),
               "candidates_predicting_a_dropped_label": int(has_dropped.sum())}
    dropped_words = ", ".join(_names(inp, drop_labels)) or "none"
    sentence = (f"Of each asymmetric pair CRAB keeps one label for its label-wise pools (asymmetric_keep = "
                f"{numbers['asymmetric_keep']!r}): {len(kept)} labels kept, {len(dropped)} dropped ({dropped_words}). "
                f"{int(has_dropped.sum())} candidates predict a dropped label (coloured); they can still enter "
                "through a kept label or another pool.")
    layers = (MapLayer("predicts a dropped label", inp.candidates[has_dropped], color=POOL_COLORS["negative"]),)
    return Step("labels", "Kept and dropped labels", sentence, numbers, layers)


def _sources(inp: RoundInputs) -> pd.DataFrame:
    src = inp.diagnostics.get("refined_pool_sources")
    if not isinstance(src, pd.DataFrame):
        return pd.DataFrame(columns=["position", "label_wise", "negative", "hard_to_learn", "top_up"])
    return src.reset_index(drop=True)


def _crab_pools(inp: RoundInputs) -> Step:
    d = inp.diagnostics
    sizes = dict(d.get("pool_sizes", {}))
    src = _sources(inp)
    pos = src["position"].to_numpy(np.int64)
    label_wise = pos[src["label_wise"].astype(str).str.len().to_numpy() > 0]
    neg = pos[src["negative"].astype(bool).to_numpy()]
    hard = pos[src["hard_to_learn"].astype(bool).to_numpy()]
    numbers = {"label_wise": int(sizes.get("label-wise", label_wise.size)), "negative": int(sizes.get("negative", neg.size)),
               "hard_to_learn": int(sizes.get("hard-to-learn", hard.size)), "union": int(sizes.get("union", 0)),
               "per_label_size_M": int(d.get("per_label_size", 0)), "Z_t": int(d.get("Z_t", 0)),
               "hard_to_learn_eligible": int(d.get("hard_to_learn_count", 0)),
               "conflicting_eligible": int(d.get("conflicting_count", 0))}
    sentence = (f"Three pools are drawn at random: label-wise, up to M = {numbers['per_label_size_M']} candidates "
                f"predicted positive for each kept label ({numbers['label_wise']} samples); negatively correlated, "
                f"up to n of the {numbers['conflicting_eligible']} candidates whose predicted labels hold an "
                f"exclusive pair ({numbers['negative']}); hard-to-learn, Z_t = {numbers['Z_t']} of the "
                f"{numbers['hard_to_learn_eligible']} candidates with no label above 0.5 ({numbers['hard_to_learn']}). "
                f"A sample can be in several pools: {numbers['union']} distinct samples in all.")
    layers = (MapLayer("label-wise pool", label_wise, color=POOL_COLORS["label-wise"]),
              MapLayer("negatively-correlated pool", neg, color=POOL_COLORS["negative"], symbol="diamond", size=9),
              MapLayer("hard-to-learn pool", hard, color=POOL_COLORS["hard-to-learn"], symbol="square", size=8))
    return Step("pools", "The label-wise, negatively-correlated and hard-to-learn pools", sentence, numbers, layers)


def _crab_refined(inp: RoundInputs) -> Step:
    sizes = dict(inp.diagnostics.get("pool_sizes", {}))
    src = _sources(inp)
    pos = src["position"].to_numpy(np.int64)
    topup_mask = src["top_up"].astype(bool).to_numpy()
    topup_picks = int(np.isin(inp.picks, pos[topup_mask]).sum())
    n = int(inp.picks.size)
    numbers = {"refined": int(sizes.get("refined", pos.size)), "union": int(sizes.get("union", (~topup_mask).sum())),
               "top_up": int(sizes.get("top-up", topup_mask.sum())), "target_2n": int(min(inp.n_candidates, 2 * n)),
               "picks_from_top_up": topup_picks, "n_picks": n}
    if numbers["top_up"]:
        how = (f"the pools hold {numbers['union']}, fewer than 2n = {numbers['target_2n']}, so {numbers['top_up']} "
               f"candidates were added at random (top-up, pink); {topup_picks} of the {n} picks come from the top-up")
    else:
        how = f"the pools hold {numbers['union']} (at least 2n = {numbers['target_2n']}), so nothing was added at random"
    sentence = f"U* is the union of the pools, topped up at random to 2n: {how}. |U*| = {numbers['refined']}."
    layers = (MapLayer("U*: from the pools", pos[~topup_mask], color=POOL_COLORS["label-wise"]),
              MapLayer("U*: random top-up", pos[topup_mask], color=POOL_COLORS["top-up"], symbol="diamond", size=9))
    return Step("refined_pool", "U* and its random top-up", sentence, numbers, layers)


def _crab_scores(inp: RoundInputs) -> Step:
    d = inp.diagnostics
    w = np.asarray(d.get("label_weights", []), dtype=float)
    top_w = np.argsort(-w, kind="stable")[:3] if w.size else np.empty(0, np.int64)
    lead = (f"Only U* is scored. dQ_AB adds to each label's expected score change dQ_n the changes of the labels "
            f"it is correlated with, weighted by the attention Ahat (Eq. 12-13); per label that is a weight "
            f"w_m = 1 + sum_n Ahat[m, n], largest for {', '.join(f'{inp.names[j]} ({w[j]:.2f})' for j in top_w)}. ")
    step = _scores_step(inp, key="scores", title="dQ_AB: the correlation-aware score of U*", lead=lead)
    numbers = dict(step.numbers, label_weights={inp.names[j]: float(w[j]) for j in range(w.size)})
    n_u = int(np.isfinite(inp.scores).sum())
    cut = ScoreCut(inp.scores, inp.score_name, f"the {n_u} samples of U*", inp.picked_mask)
    return Step(step.key, step.title, step.sentence.replace("scored candidates", "samples of U*"), numbers,
                step.layers, histogram=cut)


def _cluster_step(inp: RoundInputs, over: str) -> Step:
    km = dict(inp.diagnostics.get("kmeans", {}))
    n = int(inp.picks.size)
    cl = inp.clusters
    det = inp.details
    ring = MapLayer("picks (cluster)", det["position"].to_numpy(np.int64), kind="ring",
                    text=tuple(f"c{int(c)}" for c in det["cluster"])) if "cluster" in det else _pick_ring(inp)
    numbers = {"n_clusters": n, "clustered": int(cl.positions.size) if cl is not None else None,
               "distinct_clusters": km.get("distinct_clusters"), "inertia": km.get("inertia"),
               "reproduced": None if cl is None else bool(cl.reproduced)}
    sentence = (f"k-means with n = {n} clusters runs on {over}"
                + (f" ({cl.positions.size} samples, {cl.space})" if cl is not None else "")
                + "; from each cluster the sample nearest its centre is picked, so the batch is informative and "
                "diverse (ring labels = cluster).")
    if cl is not None and cl.reproduced:
        layers: tuple[MapLayer, ...] = (MapLayer("k-means clusters", cl.positions, kind="category",
                                                 values=cl.labels.astype(float), value_name="cluster"), ring)
    else:
        why = "this round did not record them" + (
            "" if cl is None else ", and a new run of the strategy on the rebuilt round did not give its picks")
        sentence += f" The clusters of the other samples are not known: {why}."
        layers = (ring,)
    return Step("clusters", "k-means clusters and the sample nearest each centre", sentence, numbers, layers)


@register_step_builder("crab")
def crab_steps(inp: RoundInputs) -> list[Step]:
    """CRAB (Algorithm 1): A / NegA -> kept and dropped labels -> the three pools -> U* and its top-up ->
    dQ_AB -> k-means clusters.

    Parameters
    ----------
    inp : RoundInputs
        A CRAB round's inputs.

    Returns
    -------
    list of Step
    """
    return [_crab_correlations(inp), _crab_labels(inp), _crab_pools(inp), _crab_refined(inp), _crab_scores(inp),
            _cluster_step(inp, "U*")]


@register_step_builder("besra")
def besra_steps(inp: RoundInputs) -> list[Step]:
    """BESRA: the expected score change of every candidate -> the top-fraction cut -> k-means clusters.

    Parameters
    ----------
    inp : RoundInputs
        A BESRA round's inputs.

    Returns
    -------
    list of Step
    """
    d = inp.diagnostics
    s = inp.scores
    n_top = int(d.get("n_clustered", inp.n_candidates))
    order = np.sort(s[np.isfinite(s)])[::-1]
    cut = float(order[n_top - 1]) if 0 < n_top <= order.size else float("nan")
    frac = float(d.get("top_fraction", 0.5))
    n_scored = int(np.isfinite(s).sum())
    top = inp.candidates[np.isfinite(s) & (s >= cut)] if np.isfinite(cut) else inp.candidates
    numbers = {"top_fraction": frac, "n_clustered": n_top, "n_candidates": inp.n_candidates, "cut": cut}
    sentence = (f"Only the top {frac:.0%} by expected score change go on: {n_top} of the {n_scored:,} candidates, "
                f"those scoring at least {cut:.4g} ({_relative(cut, s, 'candidates')}).")
    cut_step = Step("cut", f"The top-{frac:.0%} cut", sentence, numbers,
                    (MapLayer(f"top {frac:.0%}", top, color=PICK_COLOR, size=7),),
                    histogram=ScoreCut(s, inp.score_name, f"{n_scored:,} candidates", inp.picked_mask, cut,
                                       cut_label=f"top {frac:.0%}: >= {cut:.4g}"))
    return [_scores_step(inp), cut_step, _cluster_step(inp, f"the top {frac:.0%}")]


def _order_step(inp: RoundInputs, *, key: str, title: str, sentence: str, column: str, numbers: dict) -> Step:
    det = inp.details
    vals = det[column].to_numpy(float) if column in det else np.full(len(det), np.nan)
    reasons = det["reason"].astype(str).tolist() if "reason" in det else []
    numbers = dict(numbers, order=det["position"].astype(int).tolist(), **{column: [float(v) for v in vals]},
                   reasons=reasons)
    layers = (MapLayer("draw order", det["position"].to_numpy(np.int64), kind="ring",
                       text=tuple(str(i) for i in range(1, len(det) + 1))),)
    return Step(key, title, sentence, numbers, layers)


@register_step_builder("badge")
def badge_steps(inp: RoundInputs) -> list[Step]:
    """BADGE: the gradient-embedding norms -> the k-means++ draws in order.

    Parameters
    ----------
    inp : RoundInputs
        A BADGE round's inputs.

    Returns
    -------
    list of Step
    """
    d = inp.diagnostics
    det = inp.details
    first = int(det["position"].iloc[0]) if len(det) else None
    sentence = (f"BADGE seeds k-means++ over the gradient embeddings ({d.get('space', 'the gradient space')}): "
                f"the first seed is the candidate with the largest gradient norm (sample {first}); each next one "
                "is drawn with probability proportional to its squared distance to the nearest earlier seed, so "
                "far, large-gradient samples are likely. Ring labels give the draw order.")
    draws = _order_step(inp, key="draws", title="k-means++ draws in order", sentence=sentence,
                        column="sq_dist_to_earlier_seeds", numbers={"space": str(d.get("space", ""))})
    return [_scores_step(inp, lead="The gradient norm is not what BADGE ranks by; it shows where the model would "
                                   "change most. "), draws]


@register_step_builder("coreset")
def coreset_steps(inp: RoundInputs) -> list[Step]:
    """Core-Set: each candidate's distance to the labelled set -> the k-center greedy steps in order.

    Parameters
    ----------
    inp : RoundInputs
        A Core-Set round's inputs.

    Returns
    -------
    list of Step
    """
    d = inp.diagnostics
    before, after = float(d.get("covering_radius_before", np.nan)), float(d.get("covering_radius_after", np.nan))
    sentence = (f"k-center greedy: each step takes the candidate farthest from every centre (the labelled samples "
                f"and the earlier picks), then counts it as a centre. The covering radius (the largest distance "
                f"of a candidate to its nearest centre) falls from {before:.4g} to {after:.4g}. Ring labels give "
                "the order.")
    steps = _order_step(inp, key="kcenter", title="k-center greedy steps in order", sentence=sentence,
                        column="dist_to_nearest_centre_at_pick",
                        numbers={"covering_radius_before": before, "covering_radius_after": after})
    return [_scores_step(inp), steps]


def _comal_step(inp: RoundInputs, which: str) -> Step:
    det = inp.details
    col = which.upper()
    picks_vals = det[col].to_numpy(float) if col in det else np.full(len(det), np.nan)
    c = inp.comal
    words = {"slci": ("SLCI = |labels whose similarity k to their prototype is above the labelled average kbar - "
                      "LC|: how far the number of labels the sample 'looks like' is from the mean label count "
                      f"LC = {float(inp.diagnostics.get('label_cardinality', np.nan)):.2f}"),
             "pfd": ("PFD = sum over its predicted labels of (1 - k): how far its label-wise embeddings sit from "
                     "those labels' prototypes")}[which]
    numbers: dict[str, Any] = {f"picks_{which}": [float(v) for v in picks_vals]}
    layers: tuple[MapLayer, ...] = (_pick_ring(inp),)
    hist = None
    if c is not None:
        vals = np.asarray(c[which], dtype=float)
        numbers.update({"n_shown": int(vals.size), "median_shown": float(np.median(vals)) if vals.size else float("nan")})
        layers = (MapLayer(col, c["positions"], kind="values", values=vals, value_name=col), _pick_ring(inp))
        if c["source"] == "recorded":
            shown = (f" Colour: {col} of every one of the {vals.size} candidates, as the round recorded it "
                     f"(median {numbers['median_shown']:.3g}).")
            hist = ScoreCut(vals, col, f"{vals.size} candidates", inp.picked_mask)
        else:
            shown = (f" Colour: {col} of the {vals.size} candidates whose embeddings the round kept "
                     f"(recomputed from their k-values; median {numbers['median_shown']:.3g}).")
    else:
        shown = " The round kept no embeddings, so only the picks' values are known."
    sentence = (f"{words}. Picks: {', '.join(f'{v:.3g}' for v in picks_vals)}." + shown)
    return Step(which, {"slci": "SLCI: label-cardinality inconsistency", "pfd": "PFD: distance to the prototypes"}[which],
                sentence, numbers, layers, histogram=hist)


@register_step_builder("comal")
def comal_steps(inp: RoundInputs) -> list[Step]:
    """CoMAL: SLCI -> PFD -> Q and the cut.

    Parameters
    ----------
    inp : RoundInputs
        A CoMAL round's inputs.

    Returns
    -------
    list of Step
    """
    return [_comal_step(inp, "slci"), _comal_step(inp, "pfd"), _scores_step(inp), _cut_step(inp)]
