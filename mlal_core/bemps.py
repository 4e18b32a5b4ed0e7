"""BEMPS: the expected change of a proper score when one more sample is labelled.

This is the core that BESRA (Tan et al. 2024) and CRAB (Qi et al.) share; both strategies call
it, nothing else computes it. Notation of METHODS.md ("BEMPS / BESRA expected score change"):
a candidate x, a reference sample x' (from the reference set X'), a label j, ensemble members
e = 1..E with ``a_e = p_e(x)_j`` (candidate) and ``q_e = p_e(x')_j`` (reference). The score is a
beta-family rule ``S(p, y) = -(y L1(p) + (1-y) L0(p))`` (``mlal_core.scoring``).

Definitions (METHODS.md; CRAB Eq. 1-4)
--------------------------------------
* member weights ``w`` (summing to 1), the mixture forecast ``mix(w) = sum_e w_e q_e`` and the
  disagreement::

      D(w) = sum_e w_e [ q_e (S(q_e,1) - S(mix,1)) + (1-q_e) (S(q_e,0) - S(mix,0)) ]   >= 0

* prior ``w0_e = 1/E``; after observing the label value y of x (Eq. 3-4, uniform prior)::

      w_e(1) = a_e / sum_e' a_e,     w_e(0) = (1 - a_e) / sum_e' (1 - a_e),     abar = mean_e a_e

* the expected score change of labelling x, measured at x'::

      dQ_j(x, x') = D(w0) - [ abar D(w(1)) + (1 - abar) D(w(0)) ]

How it is computed
------------------
Write ``G(p) = p S(p,1) + (1-p) S(p,0)``, the expected score of a forecast under its own
probability (``scoring.expected_beta_score(p, p)``; minus the generalised entropy of the rule).
Because ``sum_e w_e q_e = mix`` and ``sum_e w_e = 1``::

      D(w) = sum_e w_e G(q_e) - G(mix(w))                                  (Jensen gap of G)

and since ``abar w_e(1) = a_e / E`` and ``(1 - abar) w_e(0) = (1 - a_e) / E``, the member terms
``sum_e w_e G(q_e)`` of the three D's cancel exactly in dQ::

      dQ_j(x, x') = abar G(m1) + (1 - abar) G(m0) - G(qbar)
      m1 = sum_e a_e q_e / sum_e a_e,   m0 = sum_e (1-a_e) q_e / sum_e (1-a_e),   qbar = mean_e q_e

(``abar m1 + (1-abar) m0 = qbar``, so dQ is again a Jensen gap of the convex G: dQ >= 0.) Per
(x, x', j) this needs one product ``s1 = sum_e a_e q_e`` (a matrix product over e) and two
evaluations of G; ``qbar``, ``G(qbar)`` and ``sum_e q_e`` are precomputed once per reference set
(:class:`ReferenceSet`). The literal formula through D(w) is kept as
:func:`expected_score_change_naive` (the tests check both agree).

G itself: ``G'(p) = L0(p) - L1(p)`` and ``G''(p) = p^(alpha-1) (1-p)^(beta-1)`` (differentiate the
integrals). Evaluating it through ``scipy.special.betainc`` costs ~0.4 us per point, too slow for
the 2.4e8 points of a 43k-sample pool with 100 reference samples and 28 labels, so
:func:`expected_score_fn` picks (``method="auto"``):

* ``"closed"``: exact closed forms when beta (or, by the mirror identity
  ``G_{alpha,beta}(p) = G_{beta,alpha}(1-p)``, alpha) is an integer in 1..8, and for the log score
  alpha = beta = 0. E.g. for integer beta and alpha > 0, expanding ``(1-t)^beta`` binomially::

      G(p) = -B(alpha, beta+1) p + p^(alpha+1) (1/alpha + R(p)),   R a polynomial of degree beta

  (this covers the defaults alpha = 0.1, beta = 3, the squared error alpha = beta = 1 and the log
  score). Both ``B(alpha, beta+1)`` and the constant of the polynomial grow like 1/alpha, so this
  literal form cancels catastrophically for small alpha (measured max error on G over beta = 1..8:
  1.4e-12 at alpha = 1e-3, 2e-7 at 1e-8, 6e-4 at 1e-12; dQ came out negative). The 1/alpha parts
  are therefore combined analytically::

      G(p) = p [ (p^alpha - 1) (R(p) + 1/alpha) + R(p) - c ],   c = B(alpha, beta+1) - 1/alpha

  with ``p^alpha - 1 = expm1(alpha log p)`` and ``c = expm1(-sum_k log1p(alpha/k)) / alpha``
  (``B(alpha, beta+1) = beta! / prod_{k=0}^{beta} (alpha+k)``): the rounding of ``R + 1/alpha``
  (~eps/alpha) is multiplied by ``p^alpha - 1 = O(alpha |log p|)``, so nothing cancels, and the
  form tends to the alpha = 0 one. Agrees with ``mlal_core.scoring`` to 6e-15 for every alpha
  from 1e-300 to 10 (measured; tested to 1e-12), mirrored likewise for a small beta and integer
  alpha. (Below ``scoring.TINY_PARAM`` a parameter is 0, as in ``mlal_core.scoring``.)
* ``"table"``: otherwise, a piecewise-cubic Hermite interpolant of G with values and slopes taken
  from ``mlal_core.scoring`` at 32769 nodes uniform in ``u = (2/pi) asin(sqrt(p))`` (dense near 0
  and 1, where G'' may be singular). Measured error on G: below 1e-13 for p in [1e-6, 1 - 1e-6],
  at most 2e-10 closer to 0 or 1 (alpha or beta = 0, the worst case); the tests allow 1e-9.
* ``"exact"``: ``scoring.expected_beta_score`` on every point (slow; the reference).

In every case p is clipped into ``[scoring.EPS, 1 - scoring.EPS]`` as ``mlal_core.scoring`` does.

Memory and speed
----------------
Candidates are processed in chunks; each chunk keeps a handful of ``(chunk, nR)`` float64 arrays
per label in flight, labels one after another. The chunk size is the smaller of what the memory
budget allows (default 256 MB for all worker threads together) and a cache-friendly size (about
1.3e5 elements per array); chunks run on a few threads (numpy releases the GIL in its kernels).
The full ``(nC, nR, K)`` tensor is only allocated when asked for (``sum_labels=False``).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.polynomial import polynomial as P
from scipy import special

from mlal_core import scoring
from mlal_core.errors import ConfigError

__all__ = [
    "DEFAULT_MEMORY_BUDGET_MB",
    "ReferenceSet",
    "chunk_size_for",
    "disagreement",
    "expected_score",
    "expected_score_change",
    "expected_score_change_naive",
    "expected_score_fn",
    "member_scores",
    "mix_labels",
    "mixed_label_weights",
    "posterior_weights",
]

DEFAULT_MEMORY_BUDGET_MB = 256.0
_CACHE_ELEMENTS = 1 << 17  # elements per (chunk, nR) work array that keep a chunk in cache
_WORK_ARRAYS = 8  # float64 (chunk, nR) arrays alive at once in one worker
_MAX_THREADS = 4  # worker threads at most; the chunk size assumes this many, whatever runs
_MAX_CLOSED_DEGREE = 8  # binomial expansions beyond this lose digits to cancellation
_TABLE_NODES = 32769


# --------------------------------------------------------------------------------------------
# G(p) = p S(p, 1) + (1 - p) S(p, 0)
# --------------------------------------------------------------------------------------------


def expected_score(p, alpha: float = scoring.DEFAULT_ALPHA, beta: float = scoring.DEFAULT_BETA) -> np.ndarray:
    """``G(p) = p S(p,1) + (1-p) S(p,0)`` computed exactly through ``mlal_core.scoring``.

    ``p`` is clipped into ``[scoring.EPS, 1 - scoring.EPS]`` first (both as forecast and as the
    outcome probability), as every fast evaluator of G here does.

    Parameters
    ----------
    p : array_like
        Probabilities, any shape.
    alpha : float, optional
        Beta-rule parameter alpha >= 0 (default ``scoring.DEFAULT_ALPHA``).
    beta : float, optional
        Beta-rule parameter beta >= 0 (default ``scoring.DEFAULT_BETA``).

    Returns
    -------
    numpy.ndarray
        ``G(p)``, float64, the shape of ``p``.
    """
    p = np.clip(np.asarray(p, dtype=np.float64), scoring.EPS, 1.0 - scoring.EPS)
    return scoring.expected_beta_score(p, p, alpha, beta)


def _is_small_int(x: float) -> bool:
    return float(x).is_integer() and 1 <= x <= _MAX_CLOSED_DEGREE


def _closed_form(alpha: float, beta: float) -> Callable[[np.ndarray], np.ndarray] | None:
    """Exact G for integer beta (or integer alpha by the mirror identity) and the log score."""
    eps = scoring.EPS
    if alpha == 0.0 and beta == 0.0:

        def g_log(p):
            p = np.clip(p, eps, 1.0 - eps)
            return special.xlogy(p, p) + special.xlogy(1.0 - p, 1.0 - p)

        return g_log
    if _is_small_int(beta):
        b = int(beta)
        if alpha >= scoring.TINY_PARAM:  # below it, scoring evaluates the alpha = 0 limit too
            # L1 = B1 - p^alpha * sum_k c1_k p^k / (alpha+k),  c1_k = binom(b, k) (-1)^k, k = 0..b
            # L0 = p^(alpha+1) * sum_k c0_k p^k / (alpha+k+1), c0_k = binom(b-1, k) (-1)^k, k = 0..b-1
            # G  = -(p L1 + (1-p) L0) = -B1 p + p^(alpha+1) [1/alpha + R(p)] with
            # R = poly1 - (1-p) poly0 less poly1's constant 1/alpha; the 1/alpha parts combine into
            # G = p [(p^alpha - 1)(R + 1/alpha) + R - c], c = B1 - 1/alpha (module docstring)
            poly1 = np.array([math.comb(b, k) * (-1) ** k / (alpha + k) for k in range(b + 1)])
            poly1[0] = 0.0
            poly0 = np.array([math.comb(b - 1, k) * (-1) ** k / (alpha + k + 1) for k in range(b)])
            r = P.polysub(poly1, P.polymul([1.0, -1.0], poly0))
            c = math.expm1(-math.fsum(math.log1p(alpha / k) for k in range(1, b + 1))) / alpha
            # G / p = (p^alpha - 1) (R + 1/alpha) + (R - c): Horner builds R - c; R + 1/alpha is then
            # R - c + (c + 1/alpha), whose rounding (~eps/alpha) is multiplied by p^alpha - 1 = O(alpha)
            r[0] -= c
            coef = np.asarray(r, dtype=np.float64)[::-1].copy()  # highest degree first for Horner
            shift = c + 1.0 / alpha

            def g_int_beta(p):
                p = np.clip(p, eps, 1.0 - eps)
                acc = np.full_like(p, coef[0])
                for ck in coef[1:]:
                    acc *= p
                    acc += ck
                pa1 = np.log(p)  # p^alpha - 1
                pa1 *= alpha
                np.expm1(pa1, out=pa1)
                pa1 *= acc + shift
                acc += pa1
                acc *= p
                return acc

            return g_int_beta
        # alpha = 0: L1 = -log p + sum_{k=1}^b c1_k (1 - p^k) / k,  L0 = (1 - (1-p)^b) / b
        # G = p log p - p sum_k c1_k (1 - p^k)/k - (1-p) (1 - (1-p)^b) / b
        s = np.zeros(b + 1)
        for k in range(1, b + 1):
            term = np.zeros(k + 1)
            term[0] = 1.0
            term[k] -= 1.0  # 1 - p^k
            s = P.polyadd(s, math.comb(b, k) * (-1) ** k / k * term)
        one_minus_p_b = P.polypow([1.0, -1.0], b)
        poly = P.polysub(
            -P.polymul([0.0, 1.0], s), P.polymul([1.0, -1.0], P.polysub([1.0], one_minus_p_b)) / b
        )
        coef0 = np.asarray(poly, dtype=np.float64)[::-1].copy()

        def g_alpha0(p):
            p = np.clip(p, eps, 1.0 - eps)
            acc = np.full_like(p, coef0[0])
            for c in coef0[1:]:
                acc *= p
                acc += c
            acc += special.xlogy(p, p)
            return acc

        return g_alpha0
    if _is_small_int(alpha):
        mirrored = _closed_form(beta, alpha)
        if mirrored is not None:

            def g_mirror(p):
                return mirrored(1.0 - np.clip(p, eps, 1.0 - eps))

            return g_mirror
    return None


def _hermite_table(
    alpha: float, beta: float, nodes: int = _TABLE_NODES
) -> Callable[[np.ndarray], np.ndarray]:
    """Cubic Hermite interpolant of G on a grid uniform in ``u = (2/pi) asin(sqrt(p))``."""
    u = np.linspace(0.0, 1.0, nodes)
    p = np.sin(0.5 * np.pi * u) ** 2
    p_c = np.clip(p, scoring.EPS, 1.0 - scoring.EPS)
    g = expected_score(p_c, alpha, beta)
    L1, L0 = scoring.beta_partial_losses(p_c, alpha, beta)
    dpdu = 0.5 * np.pi * np.sin(np.pi * u)  # d p / d u
    dg = np.where(dpdu > 0, (L0 - L1) * dpdu, 0.0)  # dG/du; 0 at both ends (dp/du = 0 there)
    h = 1.0 / (nodes - 1)
    g0, g1, d0, d1 = g[:-1], g[1:], dg[:-1] * h, dg[1:] * h
    # per-cell cubic c0 + c1 t + c2 t^2 + c3 t^3 in the local coordinate t in [0, 1]
    coef = np.stack([g0, d0, 3.0 * (g1 - g0) - 2.0 * d0 - d1, 2.0 * (g0 - g1) + d0 + d1], axis=1)
    eps = scoring.EPS
    scale = nodes - 1

    def g_table(pp):
        pp = np.clip(pp, eps, 1.0 - eps)
        uu = np.sqrt(pp)
        np.arcsin(uu, out=uu)
        uu *= scale / (0.5 * np.pi)
        idx = np.minimum(uu.astype(np.int64), scale - 1)
        uu -= idx  # local t
        c = coef[idx]
        out = c[..., 3] * uu
        out += c[..., 2]
        out *= uu
        out += c[..., 1]
        out *= uu
        out += c[..., 0]
        return out

    return g_table


@functools.lru_cache(maxsize=32)
def _cached_fn(alpha: float, beta: float, method: str) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    if method in ("auto", "closed"):
        fn = _closed_form(alpha, beta)
        if fn is not None:
            return fn, "closed"
        if method == "closed":
            raise ConfigError(
                f"No closed form of G for alpha={alpha}, beta={beta}: one of them must be an integer "
                f"in 1..{_MAX_CLOSED_DEGREE} (or both 0). Use method='table' or 'exact'."
            )
        method = "table"
    if method == "table":
        return _hermite_table(alpha, beta), "table"
    if method == "exact":
        return (lambda p: expected_score(p, alpha, beta)), "exact"
    raise ConfigError(f"Unknown method {method!r} for G: use 'auto', 'closed', 'table' or 'exact'.")


def expected_score_fn(
    alpha: float = scoring.DEFAULT_ALPHA, beta: float = scoring.DEFAULT_BETA, method: str = "auto"
) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """A vectorised ``G(p)`` for the (alpha, beta) rule and the name of the method it uses.

    Returned functions take and return float64 arrays and are cached per (alpha, beta, method).

    Parameters
    ----------
    alpha : float, optional
        Beta-rule parameter alpha >= 0 (default ``scoring.DEFAULT_ALPHA``).
    beta : float, optional
        Beta-rule parameter beta >= 0 (default ``scoring.DEFAULT_BETA``).
    method : str, optional
        ``"auto"`` (default: closed form when there is one, else the table), ``"closed"``,
        ``"table"`` or ``"exact"`` (see the module docstring).

    Returns
    -------
    Callable[[numpy.ndarray], numpy.ndarray]
        ``G``.
    str
        The method used: ``"closed"``, ``"table"`` or ``"exact"``.

    Raises
    ------
    ConfigError
        For invalid alpha / beta, an unknown ``method``, or ``method="closed"`` where there is no
        closed form.
    """
    alpha, beta = scoring.check_beta_params(alpha, beta)
    return _cached_fn(alpha, beta, method)


# --------------------------------------------------------------------------------------------
# The literal definitions (small inputs: teaching, tests)
# --------------------------------------------------------------------------------------------


def member_scores(q, alpha: float = scoring.DEFAULT_ALPHA, beta: float = scoring.DEFAULT_BETA):
    """``(S(q, 1), S(q, 0))`` for member probabilities ``q`` of any shape.

    Parameters
    ----------
    q : array_like
        Member probabilities, any shape.
    alpha : float, optional
        Beta-rule parameter alpha >= 0 (default ``scoring.DEFAULT_ALPHA``).
    beta : float, optional
        Beta-rule parameter beta >= 0 (default ``scoring.DEFAULT_BETA``).

    Returns
    -------
    tuple of numpy.ndarray
        ``(-L1(q), -L0(q))``, each the shape of ``q``.
    """
    L1, L0 = scoring.beta_partial_losses(q, alpha, beta)
    return -L1, -L0


def disagreement(
    q, w, alpha: float = scoring.DEFAULT_ALPHA, beta: float = scoring.DEFAULT_BETA
) -> np.ndarray:
    """``D(w) = sum_e w_e [q_e (S(q_e,1) - S(mix,1)) + (1-q_e)(S(q_e,0) - S(mix,0))]``.

    Literal formula; >= 0 for a proper rule (Jensen). METHODS.md, "BEMPS / BESRA expected score
    change" (CRAB Eq. 1-4).

    Parameters
    ----------
    q : array_like
        Member probabilities with members on axis 0, shape ``(E, ...)``.
    w : array_like
        Weights broadcasting against ``q`` (``(E,)`` or ``(E, ...)``), summing to 1 over axis 0.
    alpha : float, optional
        Beta-rule parameter alpha >= 0 (default ``scoring.DEFAULT_ALPHA``).
    beta : float, optional
        Beta-rule parameter beta >= 0 (default ``scoring.DEFAULT_BETA``).

    Returns
    -------
    numpy.ndarray
        ``D(w)``, shape ``q.shape[1:]`` (broadcast with ``w.shape[1:]``).
    """
    q = np.asarray(q, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 1:
        w = w.reshape((-1,) + (1,) * (q.ndim - 1))
    mix = (w * q).sum(axis=0)
    s1, s0 = member_scores(q, alpha, beta)
    m1, m0 = member_scores(mix, alpha, beta)
    return (w * (q * (s1 - m1[None]) + (1.0 - q) * (s0 - m0[None]))).sum(axis=0)


def posterior_weights(a) -> tuple[np.ndarray, np.ndarray]:
    """Member weights after observing y = 1 and y = 0 at the candidate (Eq. 3-4, uniform prior).

    ``w(1)_e = a_e / sum a``, ``w(0)_e = (1-a_e) / sum (1-a)``. Where every member says exactly 0
    (resp. 1) the outcome has probability 0 and its posterior is undefined; the prior ``1/E`` is
    returned there.

    Parameters
    ----------
    a : array_like
        Member probabilities of the candidate, shape ``(E, ...)``.

    Returns
    -------
    numpy.ndarray
        ``w(1)``, shape ``(E, ...)``.
    numpy.ndarray
        ``w(0)``, shape ``(E, ...)``.
    """
    a = np.asarray(a, dtype=np.float64)
    E = a.shape[0]
    out = []
    for lik in (a, 1.0 - a):
        tot = lik.sum(axis=0, keepdims=True)
        w = np.divide(lik, tot, out=np.full_like(lik, 1.0 / E), where=tot > 0)
        out.append(w)
    return out[0], out[1]


def expected_score_change_naive(
    cand_probs, ref_probs, alpha: float = scoring.DEFAULT_ALPHA, beta: float = scoring.DEFAULT_BETA
) -> np.ndarray:
    """``dQ_j(x, x') = D(w0) - [abar D(w(1)) + (1-abar) D(w(0))]`` by the literal formula.

    Materialises ``(E, nC, nR, K)`` arrays: for small inputs only (tests, notebooks). METHODS.md,
    "BEMPS / BESRA expected score change" (CRAB Eq. 1-4).

    Parameters
    ----------
    cand_probs : array_like
        Member probabilities at the candidates, shape ``(E, nC, K)``.
    ref_probs : array_like
        Member probabilities at the reference samples, shape ``(E, nR, K)``.
    alpha : float, optional
        Beta-rule parameter alpha >= 0 (default ``scoring.DEFAULT_ALPHA``).
    beta : float, optional
        Beta-rule parameter beta >= 0 (default ``scoring.DEFAULT_BETA``).

    Returns
    -------
    numpy.ndarray
        ``dQ_j(x, x')``, shape ``(nC, nR, K)``.
    """
    a = np.asarray(cand_probs, dtype=np.float64)
    q = np.asarray(ref_probs, dtype=np.float64)
    E = a.shape[0]
    qq = q[:, None, :, :]  # (E, 1, nR, K)
    w1, w0 = posterior_weights(a)  # (E, nC, K)
    d_prior = disagreement(qq, np.full(E, 1.0 / E), alpha, beta)  # (1, nR, K)
    d1 = disagreement(qq, w1[:, :, None, :], alpha, beta)  # (nC, nR, K)
    d0 = disagreement(qq, w0[:, :, None, :], alpha, beta)
    abar = a.mean(axis=0)[:, None, :]
    return d_prior - (abar * d1 + (1.0 - abar) * d0)


# --------------------------------------------------------------------------------------------
# The fast, chunked computation
# --------------------------------------------------------------------------------------------


def _default_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(_MAX_THREADS, n))


def chunk_size_for(n_ref: int, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB) -> int:
    """Candidates per chunk: within the memory budget for ``_MAX_THREADS`` workers, and cache-friendly.

    A worker keeps about ``_WORK_ARRAYS`` float64 arrays of shape ``(chunk, n_ref)`` alive. The
    size does not depend on how many threads actually run, so results are the same on every
    machine (threads only change which chunk runs when).

    Parameters
    ----------
    n_ref : int
        Number of reference samples nR.
    memory_budget_mb : float, optional
        Memory budget for all workers together, in MiB (default ``DEFAULT_MEMORY_BUDGET_MB``).

    Returns
    -------
    int
        Chunk size, at least 1.

    Raises
    ------
    ConfigError
        If ``memory_budget_mb <= 0``.
    """
    if memory_budget_mb <= 0:
        raise ConfigError(f"memory_budget_mb must be > 0; got {memory_budget_mb}.")
    per_candidate = _WORK_ARRAYS * max(1, n_ref) * 8 * _MAX_THREADS
    by_memory = int(memory_budget_mb * 2**20 // per_candidate)
    by_cache = _CACHE_ELEMENTS // max(1, n_ref)
    return max(1, min(by_memory, by_cache))


class ReferenceSet:
    """Everything about the reference set X' that dQ needs, computed once.

    ``ref_probs``: ``(E, nR, K)`` member probabilities at the reference samples. Holds, per label,
    the member probabilities laid out for the product over members, ``sum_e q_e`` and
    ``G(qbar)`` (the member terms ``sum_e w_e G(q_e)`` cancel in dQ; see the module docstring).
    """

    def __init__(
        self,
        ref_probs,
        alpha: float = scoring.DEFAULT_ALPHA,
        beta: float = scoring.DEFAULT_BETA,
        method: str = "auto",
    ):
        q = np.asarray(ref_probs, dtype=np.float64)
        if q.ndim != 3:
            raise ConfigError(f"ref_probs must have shape (E, nR, K); got {q.shape}.")
        self.alpha, self.beta = scoring.check_beta_params(alpha, beta)
        self.G, self.method = expected_score_fn(self.alpha, self.beta, method)
        self.n_members, self.n_ref, self.n_labels = q.shape
        self.q_by_label = np.ascontiguousarray(q.transpose(2, 0, 1))  # (K, E, nR)
        self.q_sum = self.q_by_label.sum(axis=1)  # (K, nR) = E * qbar
        self.G_qbar = self.G(self.q_sum / self.n_members)  # (K, nR)

    def _check_candidates(self, cand_probs) -> np.ndarray:
        a = np.asarray(cand_probs)
        if a.ndim != 3 or a.shape[0] != self.n_members or a.shape[2] != self.n_labels:
            raise ConfigError(
                f"cand_probs must have shape (E, nC, K) = ({self.n_members}, nC, {self.n_labels}); got {a.shape}."
            )
        return a

    def second_order_weights(self) -> np.ndarray:
        """Per-label weights ``w_j`` of the small-disagreement approximation of the mean score change.

        Expanding G to second order around ``qbar`` (the first-order terms cancel, as
        ``abar m1 + (1 - abar) m0 = qbar``) gives ``dQ_j(x, x') ~ G''(qbar') c^2 / (2 abar (1 - abar))``
        with ``c = mean_e (a_e - abar)(q_e - qbar')``. For exchangeable members the mean of ``c^2``
        over X' is ``Var_e(a) mean_{x'} Var_e(q')`` / E, so ``mean_{x'} dQ_j(x, x') ~ w_j Var_e(a_j)
        / (abar_j (1 - abar_j))`` with ``w_j = mean_{x'} G''(qbar'_j) Var_e(q'_j) / (2 E)`` and
        ``G''(p) = p^(alpha-1) (1-p)^(beta-1)``. :meth:`approximate_score` uses it to narrow a
        pool too large to score exactly; it is never the score itself.

        Returns
        -------
        numpy.ndarray
            ``w``, shape ``(K,)``.
        """
        E = self.n_members
        qbar = np.clip(self.q_sum / E, scoring.EPS, 1.0 - scoring.EPS)  # (K, nR)
        var = self.q_by_label.var(axis=1)  # (K, nR), over members
        g2 = np.exp((self.alpha - 1.0) * np.log(qbar) + (self.beta - 1.0) * np.log1p(-qbar))
        return (g2 * var).mean(axis=1) / (2.0 * E)

    def approximate_score(
        self, cand_probs, *, rows: np.ndarray | None = None, label_weights=None, block_elements: int = 1 << 22
    ) -> np.ndarray:
        """The small-disagreement approximation of ``mean_{x'} sum_j u_j dQ_j(x, x')`` per candidate.

        ``sum_j u_j w_j Var_e(a_j) / (abar_j (1 - abar_j))`` with ``w`` from
        :meth:`second_order_weights` and ``u = label_weights`` (default ones): O(E K) per candidate,
        no G evaluation. BESRA and CRAB rank a pool by it only when the exact score of every
        candidate would exceed their ``max_score_terms``.

        Parameters
        ----------
        cand_probs : array_like
            Member probabilities, shape ``(E, N, K)``.
        rows : numpy.ndarray, optional
            Positions along axis 1 to score (default all).
        label_weights : array_like, optional
            Label weights ``u``, shape ``(K,)``.
        block_elements : int, optional
            Entries of ``cand_probs`` read per block.

        Returns
        -------
        numpy.ndarray
            The approximate score (computed in float32, returned as float64), shape ``(len(rows),)``.
        """
        a = self._check_candidates(cand_probs)
        idx = np.arange(a.shape[1]) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        w = self.second_order_weights()
        if label_weights is not None:
            w = w * np.asarray(label_weights, dtype=np.float64)
        w = w.astype(np.float32)
        out = np.empty(len(idx))
        step = max(1, int(block_elements) // max(1, self.n_members * self.n_labels))
        for lo in range(0, len(idx), step):  # float32: a ranking proxy, read at the floor's pace
            blk = np.asarray(a[:, idx[lo : lo + step], :], dtype=np.float32)  # (E, c, K)
            abar = blk.mean(axis=0)
            blk -= abar
            blk *= blk
            spread = blk.mean(axis=0)  # Var_e(a)
            abar *= 1.0 - abar
            np.maximum(abar, np.float32(scoring.EPS), out=abar)
            spread /= abar
            out[lo : lo + step] = spread @ w
        return out

    def _label_block(self, a_k: np.ndarray, a_sum_k: np.ndarray, k: int) -> np.ndarray:
        """dQ_k for one chunk of candidates: ``a_k (c, E)``, ``a_sum_k (c,)`` -> ``(c, nR)``."""
        E = self.n_members
        s1 = a_k @ self.q_by_label[k]  # sum_e a_e q_e, (c, nR)
        A = a_sum_k[:, None]
        tiny = np.finfo(np.float64).tiny
        m0 = self.q_sum[k][None, :] - s1  # sum_e (1-a_e) q_e
        m0 /= np.maximum(E - A, tiny)
        s1 /= np.maximum(A, tiny)  # m1
        g = self.G(s1)
        abar = A / E
        g *= abar
        g0 = self.G(m0)
        g0 *= 1.0 - abar
        g += g0
        g -= self.G_qbar[k][None, :]
        return g

    def _run(self, nC, work, memory_budget_mb, n_threads):
        n_threads = _default_threads() if n_threads is None else max(1, min(_MAX_THREADS, int(n_threads)))
        cs = chunk_size_for(self.n_ref, memory_budget_mb)
        slices = [slice(i, min(i + cs, nC)) for i in range(0, nC, cs)]
        if n_threads == 1 or len(slices) == 1:
            for sl in slices:
                work(sl)
        else:
            with ThreadPoolExecutor(max_workers=n_threads) as ex:
                list(ex.map(work, slices))  # each chunk writes its own rows: order-independent

    def change(
        self,
        cand_probs,
        *,
        sum_labels: bool = False,
        label_weights=None,
        label_means: bool = False,
        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
        n_threads: int | None = None,
        rows: np.ndarray | None = None,
    ):
        """dQ of the candidates ``cand_probs (E, nC, K)`` against this reference set.

        * ``sum_labels=False``: the full ``(nC, nR, K)`` tensor ``dQ_j(x, x')``.
        * ``sum_labels=True``: ``(nC, nR)`` = ``sum_j w_j dQ_j(x, x')`` with ``w = label_weights``
          (default all ones, BESRA's ``dQ(x, x')``); the full tensor is never built.
        * ``label_means=True`` also returns ``(nC, K)``: ``mean_{x'} dQ_j(x, x')`` (unweighted),
          the per-label contributions to a candidate's score.
        * ``rows``: score only ``cand_probs[:, rows, :]`` (then nC = ``len(rows)``), read chunk by
          chunk, so a pool's samples are never copied whole.
        """
        a = self._check_candidates(cand_probs)
        idx = None if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        nC, K = (a.shape[1] if idx is None else len(idx)), self.n_labels
        weights = None
        if sum_labels:
            weights = np.ones(K) if label_weights is None else np.asarray(label_weights, dtype=np.float64)
            if weights.shape != (K,):
                raise ConfigError(f"label_weights must have shape (K,) = ({K},); got {weights.shape}.")
            out = np.zeros((nC, self.n_ref))
        else:
            if label_weights is not None:
                raise ConfigError("label_weights only applies with sum_labels=True.")
            out = np.empty((nC, self.n_ref, K))
        means = np.empty((nC, K)) if label_means else None

        def work(sl: slice) -> None:
            a_c = np.asarray(a[:, sl if idx is None else idx[sl], :], dtype=np.float64)  # (E, c, K)
            a_by_label = np.ascontiguousarray(a_c.transpose(2, 1, 0))  # (K, c, E)
            a_sum = a_by_label.sum(axis=2)  # (K, c)
            for k in range(K):
                dq = self._label_block(a_by_label[k], a_sum[k], k)
                if means is not None:
                    means[sl, k] = dq.mean(axis=1)
                if weights is None:
                    out[sl, :, k] = dq
                elif weights[k] != 0.0:
                    if weights[k] != 1.0:
                        dq *= weights[k]
                    out[sl] += dq

        self._run(nC, work, memory_budget_mb, n_threads)
        return (out, means) if label_means else out


def expected_score_change(
    cand_probs,
    ref_probs,
    alpha: float = scoring.DEFAULT_ALPHA,
    beta: float = scoring.DEFAULT_BETA,
    *,
    sum_labels: bool = False,
    label_weights=None,
    label_means: bool = False,
    method: str = "auto",
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    n_threads: int | None = None,
):
    """``dQ_j(x, x')`` for candidates ``(E, nC, K)`` against references ``(E, nR, K)``.

    See :meth:`ReferenceSet.change`. Build a :class:`ReferenceSet` yourself to reuse one reference
    set across several calls. METHODS.md, "BEMPS / BESRA expected score change" (CRAB Eq. 1-4).

    Parameters
    ----------
    cand_probs : array_like
        Member probabilities at the candidates, shape ``(E, nC, K)``.
    ref_probs : array_like
        Member probabilities at the reference samples, shape ``(E, nR, K)``.
    alpha : float, optional
        Beta-rule parameter alpha >= 0 (default ``scoring.DEFAULT_ALPHA``).
    beta : float, optional
        Beta-rule parameter beta >= 0 (default ``scoring.DEFAULT_BETA``).
    sum_labels : bool, optional
        Sum over labels (the full tensor is never built).
    label_weights : array_like, optional
        Label weights, shape ``(K,)``, with ``sum_labels=True`` only: BESRA uses none, CRAB the
        column sums of its attention mix (see :func:`mixed_label_weights`).
    label_means : bool, optional
        Also return ``mean_{x'} dQ_j(x, x')``, shape ``(nC, K)`` (unweighted).
    method : str, optional
        Evaluator of G, see :func:`expected_score_fn`.
    memory_budget_mb : float, optional
        Memory budget in MiB, see :func:`chunk_size_for`.
    n_threads : int, optional
        Worker threads (capped at ``_MAX_THREADS``; default from the CPU affinity).

    Returns
    -------
    numpy.ndarray or tuple
        ``(nC, nR, K)``, or with ``sum_labels=True`` the label-summed ``(nC, nR)``; with
        ``label_means=True`` a tuple ``(dq, means)``.

    Raises
    ------
    ConfigError
        On wrong shapes, invalid alpha / beta / method, or ``label_weights`` without ``sum_labels``.
    """
    ref = ReferenceSet(ref_probs, alpha, beta, method=method)
    return ref.change(
        cand_probs,
        sum_labels=sum_labels,
        label_weights=label_weights,
        label_means=label_means,
        memory_budget_mb=memory_budget_mb,
        n_threads=n_threads,
    )


def mix_labels(dq: np.ndarray, mix: np.ndarray) -> np.ndarray:
    """Mix per-label changes over labels: ``out[..., n] = sum_m dq[..., m] mix[m, n]``.

    CRAB Eq. 12 with ``mix = I + Ahat`` (Ahat with a zero diagonal):
    ``dQ_AB,n = dQ_n + sum_{m != n} Ahat[m, n] dQ_m``.

    Parameters
    ----------
    dq : numpy.ndarray
        Per-label changes, labels on the last axis, shape ``(..., K)``.
    mix : numpy.ndarray
        Mixing matrix, shape ``(K, K)``.

    Returns
    -------
    numpy.ndarray
        Mixed changes, float64, shape ``(..., K)``.
    """
    mix = np.asarray(mix, dtype=np.float64)
    return np.asarray(dq, dtype=np.float64) @ mix


def mixed_label_weights(mix: np.ndarray) -> np.ndarray:
    """Weights ``w_m = sum_n mix[m, n]`` so that summing ``mix_labels(dq, mix)`` over labels is ``dq @ w``.

    Summing the mixed changes over labels only needs these per-label weights, so the label-summed
    score of CRAB (Eq. 12-13) is computed with ``ReferenceSet.change(..., sum_labels=True,
    label_weights=w)`` without ever building the ``(nC, nR, K)`` tensor.

    Parameters
    ----------
    mix : numpy.ndarray
        Mixing matrix ``I + Ahat``, shape ``(K, K)``.

    Returns
    -------
    numpy.ndarray
        Row sums of ``mix``, shape ``(K,)``.
    """
    return np.asarray(mix, dtype=np.float64).sum(axis=1)
