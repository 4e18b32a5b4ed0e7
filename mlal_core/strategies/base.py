"""The query-strategy contract: ``QueryContext`` in, ``Selection`` out (DESIGN.md, "Core contracts").

A strategy is a small class: hyperparameters declared once in ``PARAMS``, validated against that
declaration and stored as given in ``__init__``, ``select(ctx, n)`` returning a :class:`Selection`,
and, for strategies that rank by a per-sample quantity (:class:`ScoreBasedStrategy`), ``score(ctx)``
returning a utility aligned with ``ctx.unlabeled`` (higher is picked first).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mlal_core.errors import ConfigError
from mlal_core.validation import Param, check_params

#: entries of ``proba_samples`` per block when strategies walk the candidates block by block
#: (16 MB of float32): large enough for numpy's loops, small enough to stay out of the way at N x K = 1e8
BLOCK_ELEMENTS = 1 << 22


def block_elements() -> int:
    """The current ``BLOCK_ELEMENTS`` (read at call time, so tests can shrink it to force many blocks).

    Returns
    -------
    int
        Target entries per block.
    """
    return int(BLOCK_ELEMENTS)


def _n_rows(name: str, value: Any) -> int:
    """Rows of a pool-aligned array: ``shape[0]`` (numpy arrays, scipy sparse matrices, tensors)."""
    shape = getattr(value, "shape", None)
    if not shape:
        raise ConfigError(
            f"{name} must be a 2-D array or a scipy sparse matrix with one row per pool sample; "
            f"got {type(value).__name__}."
        )
    return int(shape[0])


@dataclass
class QueryContext:
    """Everything a strategy may use in one round, and nothing else.

    A strategy never sees the labels of unlabelled samples: only ``y_labeled``, aligned with
    ``labeled``. ``proba_samples`` covers the whole pool (``N_pool`` rows) so that positions index it,
    and so do ``features``, ``embedding``, ``model_inputs`` and ``texts`` (their row counts are checked).
    """

    labeled: np.ndarray
    unlabeled: np.ndarray
    y_labeled: np.ndarray
    proba_samples: np.ndarray
    _: KW_ONLY  # the optional fields are passed by name
    features: Any = None  # (N_pool, d) dense array or scipy sparse matrix
    texts: Sequence[str] | None = None
    model: object | None = None
    embedding: np.ndarray | None = None  # (N_pool, h) model.embed of the pool, when already computed
    #: the pool in the model's own input format (dense features, a scipy sparse TF-IDF matrix or token
    #: ids), for strategies that retrain a copy of ``model``; ``features`` may be the model's embedding
    model_inputs: Any = None
    round: int = 0
    total_rounds: int = 1
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def __post_init__(self) -> None:
        self.labeled = np.asarray(self.labeled, dtype=np.int64).reshape(-1)
        self.unlabeled = np.asarray(self.unlabeled, dtype=np.int64).reshape(-1)
        self.y_labeled = np.asarray(self.y_labeled)
        self.proba_samples = np.asarray(self.proba_samples)
        if self.proba_samples.ndim == 2:
            self.proba_samples = self.proba_samples[None]
        if self.proba_samples.ndim != 3:
            raise ConfigError(
                "proba_samples must have shape (S, N_pool, K); "
                f"got an array with {self.proba_samples.ndim} dimensions."
            )
        n_pool, k = self.proba_samples.shape[1:]
        if self.y_labeled.ndim != 2 or self.y_labeled.shape != (len(self.labeled), k):
            raise ConfigError(
                f"y_labeled must have shape (len(labeled), K) = ({len(self.labeled)}, {k}); "
                f"got {self.y_labeled.shape}."
            )
        for name in ("labeled", "unlabeled"):
            pos = getattr(self, name)
            if pos.size and (pos.min() < 0 or pos.max() >= n_pool):
                raise ConfigError(f"{name} holds positions outside the pool of {n_pool} samples.")
        if np.intersect1d(self.labeled, self.unlabeled).size:
            raise ConfigError("A pool position cannot be both labelled and unlabelled.")
        for name in ("features", "embedding", "model_inputs"):
            value = getattr(self, name)
            if value is not None and _n_rows(name, value) != n_pool:
                raise ConfigError(
                    f"{name} must have one row per pool sample ({n_pool}); got {_n_rows(name, value)}."
                )
        if self.texts is not None and len(self.texts) != n_pool:
            raise ConfigError(f"texts must hold one text per pool sample ({n_pool}); got {len(self.texts)}.")

    @property
    def n_pool(self) -> int:
        return int(self.proba_samples.shape[1])

    @property
    def n_labels(self) -> int:
        return int(self.proba_samples.shape[2])

    @property
    def n_samples(self) -> int:
        """S: ensemble members or dropout passes."""
        return int(self.proba_samples.shape[0])

    def proba_unlabeled(self) -> np.ndarray:
        """``(S, nU, K)`` probability samples of the unlabelled candidates (a copy: at large N x K prefer
        :meth:`candidate_blocks`, which never holds more than one block)."""
        return self.proba_samples[:, self.unlabeled, :]

    def block_rows(self, elements: int | None = None) -> int:
        """Candidates per block so that one block of samples, ``(S, rows, K)``, has about ``elements``
        entries (default :func:`block_elements`; at least one row)."""
        elements = block_elements() if elements is None else int(elements)
        return max(1, elements // max(1, self.n_samples * self.n_labels))

    def candidate_blocks(self, positions: np.ndarray | None = None, elements: int | None = None):
        """Yield ``(sl, P_block)``: consecutive slices ``sl`` of ``positions`` (default: the unlabelled
        candidates) and their probability samples ``(S, len(sl), K)``, about ``elements`` entries each.

        Parameters
        ----------
        positions : numpy.ndarray, optional
            Pool positions to walk over (default ``self.unlabeled``).
        elements : int, optional
            Target entries per block (default :func:`block_elements`).

        Yields
        ------
        tuple of (slice, numpy.ndarray)
            The slice into ``positions`` and the samples of those positions.
        """
        pos = self.unlabeled if positions is None else np.asarray(positions, dtype=np.int64)
        step = self.block_rows(elements)
        for lo in range(0, len(pos), step):
            sl = slice(lo, min(lo + step, len(pos)))
            yield sl, self.proba_samples[:, pos[sl], :]

    def mean_proba(self, positions: np.ndarray | None = None) -> np.ndarray:
        """``pbar``: mean over the S samples, ``(n, K)``, for ``positions`` (default: unlabelled).

        Computed block by block (:meth:`candidate_blocks`), so no ``(S, n, K)`` copy is made; each
        entry is the same ``mean(axis=0)`` as on the whole array, in the samples' dtype.
        """
        pos = self.unlabeled if positions is None else np.asarray(positions, dtype=np.int64)
        floating = np.issubdtype(self.proba_samples.dtype, np.floating)
        dtype = self.proba_samples.dtype if floating else np.dtype(np.float64)  # what .mean(axis=0) gives
        out = np.empty((len(pos), self.n_labels), dtype=dtype)
        for sl, block in self.candidate_blocks(pos):
            out[sl] = block.mean(axis=0)
        return out

    def label_cardinality(self) -> float:
        """LC: mean number of labels per labelled sample (0 when nothing is labelled)."""
        return float(self.y_labeled.sum(axis=1).mean()) if len(self.labeled) else 0.0


@dataclass
class Selection:
    """What a strategy picked and why.

    ``scores`` is aligned with ``ctx.unlabeled`` (NaN where a candidate was not scored).
    ``details`` has one row per selected sample, in pick order, with at least the columns
    ``position``, ``score`` and ``reason``, plus the components of the score.
    """

    indices: np.ndarray
    scores: np.ndarray
    details: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)


class QueryStrategy:
    """Base class of every query strategy: parameters as given in ``__init__``, ``select`` in subclasses.

    Subclasses set ``name`` (the registry key) and declare their hyperparameters once in ``PARAMS``
    (a tuple of :class:`~mlal_core.validation.Param`, in the spirit of scikit-learn's
    ``_parameter_constraints``); ``__init__`` takes them as keyword-only arguments with the same
    defaults, stores each as given (scikit-learn style) and ends with ``self._validate_params()``,
    which checks every stored value against its declaration. Checks that involve several
    parameters at once go in an override of ``_validate_params`` that calls ``super()`` first.
    """

    name: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()

    def __init__(self) -> None:
        """A strategy without hyperparameters; strategies with ``PARAMS`` define their own."""
        self._validate_params()

    def select(self, ctx: QueryContext, n: int) -> Selection:  # pragma: no cover - abstract
        """The ``n`` candidates to label next (see :class:`Selection`)."""
        raise NotImplementedError

    def _validate_params(self) -> None:
        """Check the parameters as stored against ``PARAMS`` (called at the end of ``__init__``);
        raise ConfigError."""
        check_params(self, self.PARAMS)

    # scikit-learn style parameter access, so a strategy can be cloned and stored.
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return [p for p in sig.parameters if p != "self" and sig.parameters[p].kind not in skip]

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to ``__init__``."""
        return {p: getattr(self, p) for p in self._param_names()}

    def clone(self) -> QueryStrategy:
        """A new strategy of the same class with the same parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class ScoreBasedStrategy(QueryStrategy):
    """A strategy that ranks the candidates by one utility and takes the top ``n``.

    The utility ``u(x)`` is aligned with ``ctx.unlabeled``; higher is picked first and ties go to
    the lower pool position (:func:`top_n`). Subclasses implement

    * ``_score_parts(ctx) -> (score, components, diagnostics)``: the utility ``(nU,)``, a DataFrame
      of the quantities it is made of (one row per candidate, shown per pick in
      ``Selection.details``) and a dict of round-level facts for ``Selection.diagnostics``;
    * or, more simply, ``score(ctx) -> (nU,)`` alone (then there are no components or diagnostics).

    ``_extra_details(ctx, order)`` may add per-pick columns too costly to compute for every
    candidate; ``reason`` is the text of each pick's ``reason`` column. A user strategy::

        class Margin(ScoreBasedStrategy):
            name = "margin"
            reason = "smallest mean margin to 0.5"

            def score(self, ctx):
                return -np.abs(ctx.mean_proba() - 0.5).mean(axis=1)
    """

    reason: ClassVar[str] = "highest score"

    def _score_parts(self, ctx: QueryContext) -> tuple[np.ndarray, pd.DataFrame, dict]:
        if type(self).score is ScoreBasedStrategy.score:
            raise NotImplementedError(f"{type(self).__name__} must implement score(ctx) or _score_parts(ctx).")
        return np.asarray(self.score(ctx), dtype=float), pd.DataFrame(index=range(len(ctx.unlabeled))), {}

    def score(self, ctx: QueryContext) -> np.ndarray:
        """The utility of every candidate, aligned with ``ctx.unlabeled`` (higher is picked first)."""
        return self._score_parts(ctx)[0]

    def _extra_details(self, ctx: QueryContext, order: np.ndarray) -> dict[str, list] | None:
        """Optional per-pick columns that are too costly to build for every candidate."""
        return None

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """The top ``n`` of the utility (ties to the lower pool position), with its components per
        pick and ``diagnostics["n_candidates"]``."""
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx)
        score, components, diagnostics = self._score_parts(ctx)
        order = top_n(score, n)
        diagnostics = dict(diagnostics)
        diagnostics.setdefault("n_candidates", len(ctx.unlabeled))
        sel = make_selection(ctx, order, score, self.reason, components, diagnostics)
        extra = self._extra_details(ctx, order)
        if extra:
            for col, values in extra.items():
                sel.details[col] = values
        return sel


def check_query_size(ctx: QueryContext, n: int) -> int:
    """Validate the query size: a positive integer, capped at the number of candidates.

    Parameters
    ----------
    ctx : QueryContext
        The query context (its ``unlabeled`` positions are the candidates).
    n : int
        Requested query size.

    Returns
    -------
    int
        ``min(n, len(ctx.unlabeled))``.

    Raises
    ------
    ConfigError
        If ``n`` is not an integer (a bool counts as not) or is below 1.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"The query size must be a positive integer; got {n!r}.")
    return int(min(n, len(ctx.unlabeled)))


def top_n(score: np.ndarray, n: int) -> np.ndarray:
    """Positions (into ``score``) of the ``n`` highest finite scores; ties to the lower index.

    NaN scores rank last (as ``-inf``).

    Parameters
    ----------
    score : numpy.ndarray
        Scores, shape ``(N,)``.
    n : int
        Number of positions wanted; when ``n >= N`` all positions are returned, ordered.

    Returns
    -------
    numpy.ndarray
        Positions in descending score order, shape ``(min(n, N),)``.
    """
    score = np.asarray(score, dtype=float)
    key = np.where(np.isnan(score), -np.inf, score)
    if n >= len(key):
        return np.argsort(-key, kind="stable")
    part = np.argpartition(-key, n - 1)[:n]
    # a stable order among the chosen, with ties broken by position; include boundary ties
    threshold = key[part].min()
    cand = np.flatnonzero(key >= threshold)
    return cand[np.argsort(-key[cand], kind="stable")][:n]


def selection_details(
    ctx: QueryContext,
    order: np.ndarray,
    score: np.ndarray | None,
    reason: str | Sequence[str],
    components: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per picked candidate (``order`` indexes ``ctx.unlabeled``), in pick order.

    Parameters
    ----------
    ctx : QueryContext
        The query context.
    order : numpy.ndarray
        Positions into ``ctx.unlabeled`` of the picks, in pick order, shape ``(n,)``.
    score : numpy.ndarray or None
        Scores aligned with ``ctx.unlabeled``, shape ``(N_unlabeled,)``; ``None`` gives NaN scores.
    reason : str or Sequence[str]
        One reason for all picks, or one per pick.
    components : pandas.DataFrame, optional
        Score components aligned with ``ctx.unlabeled``; the picked rows are appended as columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``position`` (pool index), ``pick`` (1-based), ``score``, ``reason`` and the
        components.
    """
    order = np.asarray(order, dtype=np.int64)
    df = pd.DataFrame(
        {
            "position": ctx.unlabeled[order],
            "pick": np.arange(1, len(order) + 1),
            "score": np.asarray(score, dtype=float)[order] if score is not None else np.nan,
            "reason": list(reason) if not isinstance(reason, str) else [reason] * len(order),
        }
    )
    if components is not None and len(components.columns):
        comp = components.iloc[order].reset_index(drop=True)
        df = pd.concat([df, comp], axis=1)
    return df


def empty_selection(ctx: QueryContext, diagnostics: dict | None = None) -> Selection:
    """A Selection with no pick (no candidate, or ``n`` = 0): all scores NaN.

    Parameters
    ----------
    ctx : QueryContext
        The query context.
    diagnostics : dict, optional
        Diagnostics to attach (copied).

    Returns
    -------
    Selection
        Empty ``indices``, NaN ``scores`` aligned with ``ctx.unlabeled``, an empty details table.
    """
    return Selection(
        indices=np.empty(0, dtype=np.int64),
        scores=np.full(len(ctx.unlabeled), np.nan),
        details=selection_details(ctx, np.empty(0, np.int64), np.full(len(ctx.unlabeled), np.nan), "none"),
        diagnostics=dict(diagnostics or {}),
    )


def make_selection(
    ctx: QueryContext,
    order: np.ndarray,
    scores: np.ndarray,
    reasons: str | Sequence[str],
    components: pd.DataFrame | None = None,
    diagnostics: dict | None = None,
) -> Selection:
    """A Selection from positions ``order`` into ``ctx.unlabeled`` (pick order).

    Parameters
    ----------
    ctx : QueryContext
        The query context.
    order : numpy.ndarray
        Positions into ``ctx.unlabeled`` of the picks, in pick order, shape ``(n,)``.
    scores : numpy.ndarray
        Scores aligned with ``ctx.unlabeled``, shape ``(N_unlabeled,)``.
    reasons : str or Sequence[str]
        One reason for all picks, or one per pick.
    components : pandas.DataFrame, optional
        Score components aligned with ``ctx.unlabeled``.
    diagnostics : dict, optional
        Diagnostics to attach (copied).

    Returns
    -------
    Selection
        ``indices`` are pool indices ``ctx.unlabeled[order]``; ``details`` from
        :func:`selection_details`.
    """
    order = np.asarray(order, dtype=np.int64)
    scores = np.asarray(scores, dtype=float)
    return Selection(
        indices=ctx.unlabeled[order],
        scores=scores,
        details=selection_details(ctx, order, scores, reasons, components),
        diagnostics=dict(diagnostics or {}),
    )
