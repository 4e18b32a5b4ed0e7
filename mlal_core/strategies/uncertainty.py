"""Uncertainty strategies over the model's probability samples: Random, Entropy, BALD, BEAL.

Definitions are those of METHODS.md ("BALD, entropy", "BEAL"). ``H`` is the binary entropy in bits,
summed over labels. All of them read only ``ctx.proba_samples`` (and ``ctx.rng`` for Random), except
deterministic BEAL, which asks ``ctx.model`` for its dropout-off prediction when the samples are
MC-dropout passes of that model.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mlal_core.errors import ConfigError
from mlal_core.strategies._common import binary_entropy, empty_selection, make_selection
from mlal_core.strategies.base import QueryContext, QueryStrategy, ScoreBasedStrategy, Selection, check_query_size
from mlal_core.strategies.registry import register
from mlal_core.validation import Param


def descending_order(values: np.ndarray) -> np.ndarray:
    """Per row, the column indices sorted by descending value, ties in ascending index order:
    ``np.argsort(-values, axis=1, kind="stable")``.

    Non-negative floats (BEAL's relevances) order like their bit patterns, so their stable argsort
    is taken on the complemented bits as unsigned integers (the same order, 1.3-1.6x faster than on
    the negated floats at 1,000 labels); anything else (negative values, NaN) is sorted as floats.
    Ties are common here: ``R(y) = 2^y - 1`` in float32 moves in steps of about 1e-7 near y = 0.

    Parameters
    ----------
    values : numpy.ndarray
        Values, shape ``(n, K)``.

    Returns
    -------
    numpy.ndarray
        Int64 indices, shape ``(n, K)``.
    """
    v = np.asarray(values)
    width = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}.get(v.dtype)
    if width is not None and v.size and v.min() >= 0:  # NaN makes the minimum NaN: sorted as floats
        return np.argsort(~np.ascontiguousarray(v + 0.0).view(width), axis=1, kind="stable")
    return np.argsort(-v, axis=1, kind="stable")


@register(
    display_name="Random",
    paper="Baseline (uniform random sampling), as in BEAL, CoMAL, CRAB and the XMTC study",
    explanation=(
        "Picks unlabelled samples uniformly at random, without looking at the model. "
        "It is the baseline every other strategy has to beat: if a clever strategy does no better "
        "than Random, its extra computation is wasted."
    ),
)
class Random(QueryStrategy):
    """Uniform random sampling, the baseline of every paper.

    ``n`` candidates drawn without replacement with ``ctx.rng``; no scores (``scores`` is all NaN).
    """

    name: ClassVar[str] = "random"

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx)
        order = ctx.rng.choice(len(ctx.unlabeled), size=n, replace=False)
        scores = np.full(len(ctx.unlabeled), np.nan)
        return make_selection(
            ctx, order, scores, "uniform random draw", None, {"n_candidates": len(ctx.unlabeled)}
        )


@register(
    display_name="Entropy",
    paper="Classic uncertainty sampling (Lewis & Gale 1994), multi-label form: sum of per-label entropies",
    explanation=(
        "For every label the model gives a probability; a label is most uncertain when that "
        "probability is near 0.5. Entropy adds up this uncertainty (in bits) over all labels and "
        "picks the samples where the model is, in total, least sure."
    ),
)
class Entropy(ScoreBasedStrategy):
    """Multi-label entropy sampling (Lewis & Gale 1994; METHODS.md "BALD, entropy").

    Score ``u(x) = sum_j H(pbar_j(x))``, ``H(p) = -p log2 p - (1 - p) log2 (1 - p)``, with ``pbar``
    the mean of the S probability samples.
    """

    name: ClassVar[str] = "entropy"
    reason: ClassVar[str] = "among the highest total label entropy"

    def _score_parts(self, ctx: QueryContext) -> tuple[np.ndarray, pd.DataFrame, dict]:
        nU, K = len(ctx.unlabeled), ctx.n_labels
        score = np.empty(nU, dtype=np.float64)
        j = np.zeros(nU, dtype=np.int64)
        p_j = np.full(nU, np.nan)
        for sl, block in ctx.candidate_blocks():  # never an (nU, K) array of entropies at once
            pbar = block.mean(axis=0)
            h = binary_entropy(pbar)
            score[sl] = h.sum(axis=1)
            if K:
                j[sl] = np.argmax(h, axis=1)
                p_j[sl] = pbar[np.arange(len(pbar)), j[sl]]
        comps = pd.DataFrame({"entropy_bits": score, "most_uncertain_label": j, "pbar_of_that_label": p_j})
        diag = {"mean_entropy_bits": float(score.mean()) if len(score) else float("nan")}
        return score, comps, diag


@register(
    display_name="BALD",
    paper="Houlsby et al. 2011; Gal, Islam & Ghahramani 2017 (baseline in BEAL, Wang et al. 2024)",
    explanation=(
        "BALD looks at several versions of the model (ensemble members or dropout passes). A sample "
        "scores high when each version is confident but the versions disagree with each other: "
        "the entropy of their average prediction minus the average of their own entropies. "
        "Labelling such samples settles the disagreement between the model versions."
    ),
)
class BALD(ScoreBasedStrategy):
    """Bayesian Active Learning by Disagreement (Houlsby et al. 2011; Gal et al. 2017), per label.

    Score ``u(x) = sum_j [ H(mean_s p_sj) - mean_s H(p_sj) ]``: the mutual information between
    label j and the model version, summed over labels (METHODS.md "BALD, entropy").
    Needs S >= 2 probability samples: with one sample the score is 0 everywhere.
    """

    name: ClassVar[str] = "bald"
    reason: ClassVar[str] = "among the highest BALD (model versions disagree)"

    def _score_parts(self, ctx: QueryContext) -> tuple[np.ndarray, pd.DataFrame, dict]:
        if ctx.n_samples < 2:
            raise ConfigError(
                "BALD needs at least 2 probability samples per candidate (ensemble members or "
                f"MC-dropout passes); the context has S = {ctx.n_samples}. Use an ensemble with "
                "n_members >= 2 or turn on MC dropout (mc_passes > 0)."
            )
        nU = len(ctx.unlabeled)
        h_mean = np.empty(nU, dtype=np.float64)
        mean_h = np.zeros(nU)
        for sl, P in ctx.candidate_blocks():  # blocks of candidates: no (S, nU, K) copy
            h_mean[sl] = binary_entropy(P.mean(axis=0)).sum(axis=1)
            for s in range(P.shape[0]):  # loop over samples S, not over candidates
                mean_h[sl] += binary_entropy(P[s]).sum(axis=1)
        mean_h /= ctx.n_samples
        score = h_mean - mean_h
        comps = pd.DataFrame({"entropy_of_mean": h_mean, "mean_entropy": mean_h, "bald": score})
        diag = {"n_probability_samples": int(ctx.n_samples)}
        return score, comps, diag


@register(
    display_name="BEAL",
    paper="Wang et al. 2024, Deep active learning for multi-label text classification (Sci. Rep.), Eq. 1-9",
    explanation=(
        "BEAL ranks the labels of a sample by how relevant the model finds them and adds up the "
        "relevances, discounting lower ranks (like a search-result score). Averaged over the model's "
        "probability samples (the paper uses 20 MC-dropout passes) this is the model's expected "
        "confidence; BEAL labels the samples with the lowest expected confidence."
    ),
    choice=(
        "BEAL works with any probability samples: the passes t are the context's S samples. The paper "
        "used T = 20 MC-dropout passes; the session default (mc_passes = 0) gives one sample per "
        "ensemble member (S = 5), so to follow the paper set MC passes in the model (mc_passes = 20). "
        "Utility = -EC, so the lowest expected confidence is picked first. Deterministic BEAL feeds one "
        "pass through the same formula: the model's dropout-off prediction (ctx.model.predict_proba on "
        "the pool's model inputs) when the samples are MC-dropout passes of that model, else pbar, the "
        "mean of the samples (for an ensemble without MC dropout this is the same dropout-off mean over "
        "members); diagnostics['deterministic_pass'] says which was used."
    ),
)
class BEAL(ScoreBasedStrategy):
    """Bayesian Expected confidence Active Learning (Wang et al. 2024, Eq. 1-9).

    ``R(y) = 2^y - 1``; labels are ranked by ``rel_j = mean_t R(Y_j^t)`` descending, ``pi(j)`` the
    1-based position (ties to the lower label index); ``conf_t = sum_j R(Y_j^t) / pi(j)``;
    ``EC = mean_t conf_t`` (which equals ``sum_j rel_j / pi(j)``). The utility is ``-EC``.

    ``deterministic=True`` (the paper's ablation) uses one deterministic pass ``Y``: the model's
    dropout-off prediction ``ctx.model.predict_proba`` when the probability samples are MC-dropout
    passes of ``ctx.model`` (``mc_passes > 0`` and ``model.n_samples == S``) and the model's inputs
    for the pool are known (``ctx.model_inputs``, else ``ctx.features`` unless those are the model's
    embedding); otherwise ``Y = pbar``, the mean of the samples (note ``R`` is convex, so
    ``R(pbar) <= mean_t R(Y^t)``). ``diagnostics["deterministic_pass"]`` records which was used.
    """

    name: ClassVar[str] = "beal"
    reason: ClassVar[str] = "among the lowest expected confidence (EC)"
    DETERMINISTIC_MODEL: ClassVar[str] = "model.predict_proba (dropout off)"
    DETERMINISTIC_MEAN: ClassVar[str] = "mean of the probability samples"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "deterministic",
            False,
            "Ablation 'Deterministic BEAL': one deterministic pass (dropout off) instead of averaging "
            "over the S probability samples.",
            choices=(False, True),
        ),
    )

    def __init__(self, *, deterministic: bool = False) -> None:
        self.deterministic = deterministic
        self._validate_params()

    @staticmethod
    def relevance(p: np.ndarray) -> np.ndarray:
        """``R(y) = 2^y - 1`` (Eq. 1)."""
        return np.exp2(p) - 1.0

    @staticmethod
    def _model_inputs(ctx: QueryContext):
        """The pool in ``ctx.model``'s input format when the model can give a dropout-off pass whose
        samples are those of the context (MC dropout); None otherwise."""
        model = ctx.model
        if model is None or not hasattr(model, "predict_proba"):
            return None
        mc_passes = getattr(model, "mc_passes", 0)
        if not isinstance(mc_passes, (int, np.integer)) or mc_passes <= 0:
            return None  # the samples are deterministic members: their mean is the dropout-off pass
        if getattr(model, "n_samples", None) != ctx.n_samples:
            return None  # the samples did not come from this model's MC dropout
        if ctx.model_inputs is not None:
            return ctx.model_inputs
        if ctx.features is not None and ctx.features is not ctx.embedding:
            return ctx.features
        return None

    def _passes(self, ctx: QueryContext, rows: np.ndarray | None = None) -> tuple[np.ndarray, str | None]:
        """``(T, n, K)`` passes for the candidates ``rows`` (default all) and, when deterministic,
        which single pass was used."""
        pos = ctx.unlabeled if rows is None else ctx.unlabeled[rows]
        if not self.deterministic:
            return ctx.proba_samples[:, pos, :], None
        inputs = self._model_inputs(ctx)
        if inputs is None:
            return ctx.mean_proba(pos)[None], self.DETERMINISTIC_MEAN
        model: Any = ctx.model  # _model_inputs gave inputs, so the model has predict_proba
        proba = np.asarray(model.predict_proba(inputs[pos]), dtype=np.float64)
        return proba.reshape(1, len(pos), ctx.n_labels), self.DETERMINISTIC_MODEL

    @staticmethod
    def _ranks(rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: label order (descending relevance, stable) and 1-based rank of each label."""
        order = descending_order(rel)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(1, rel.shape[1] + 1)[None, :], axis=1)
        return order, ranks

    def _block(self, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``conf (T, n)``, top label and its relevance for one block of passes ``P (T, n, K)``."""
        T, n, K = P.shape
        R = [self.relevance(P[t]) for t in range(T)]  # each pass's R(Y) once (a block: small)
        rel = np.zeros((n, K))
        for r in R:  # loop over passes, not candidates
            rel += r
        rel /= T
        order = descending_order(rel)
        inv = np.empty((n, K))  # 1 / pi(j), the same floats as 1.0 / ranks
        np.put_along_axis(inv, order, 1.0 / np.arange(1, K + 1)[None, :], axis=1)
        conf = np.empty((T, n))
        for t in range(T):
            conf[t] = (R[t] * inv).sum(axis=1)
        top = order[:, 0] if K else np.zeros(n, dtype=np.int64)
        return conf, top, (rel[np.arange(n), top] if K else np.full(n, np.nan))

    def _score_parts(self, ctx: QueryContext) -> tuple[np.ndarray, pd.DataFrame, dict]:
        nU = len(ctx.unlabeled)
        if self.deterministic:  # one pass (the model's, predicted at once, or pbar): one block
            P, source = self._passes(ctx)
            blocks = [(slice(0, nU), P)]
        else:  # blocks of candidates: the (n, K) ranks are never built for the whole pool
            source = None
            blocks = ctx.candidate_blocks()
        conf = np.empty((1 if self.deterministic else ctx.n_samples, nU))
        top = np.zeros(nU, dtype=np.int64)
        top_rel = np.empty(nU)
        for sl, P in blocks:
            conf[:, sl], top[sl], top_rel[sl] = self._block(P)
        ec = conf.mean(axis=0)
        comps = pd.DataFrame(
            {"EC": ec, "conf_std_over_passes": conf.std(axis=0), "top_label": top, "top_relevance": top_rel}
        )
        diag = {"n_passes": int(conf.shape[0]), "deterministic": bool(self.deterministic), "deterministic_pass": source}
        return -ec, comps, diag

    def _extra_details(self, ctx: QueryContext, order: np.ndarray) -> dict[str, list]:
        P, _ = self._passes(ctx, order)
        rel = self.relevance(P).mean(axis=0)
        lab_order, _ = self._ranks(rel)
        return {
            "label_ranking": [" > ".join(str(j) for j in row) for row in lab_order],
            "relevance_sorted": [" ".join(f"{v:.3f}" for v in r[o]) for r, o in zip(rel, lab_order)],
        }
