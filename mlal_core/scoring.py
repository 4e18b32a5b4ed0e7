"""Proper scoring rules for binary outcomes: the beta family (Buja, Stuetzle & Shen 2005), log, Brier.

Partial losses of the beta family for a predicted probability p, with alpha, beta >= 0
(METHODS.md, "Beta scoring rules"; BESRA / CRAB Eq. 5-7)::

    L1(p) = integral_p^1 t^(alpha-1) (1-t)^beta     dt    loss when the outcome is 1
    L0(p) = integral_0^p t^alpha     (1-t)^(beta-1) dt    loss when the outcome is 0

and the score (higher is better) ``S(p, y) = -(y L1(p) + (1-y) L0(p))``. The rule is proper: the
expected score under a true probability q, ``q S(p, 1) + (1-q) S(p, 0)``, is largest at p = q.

How each case is computed (all vectorised, float64):

* alpha > 0 and beta > 0: ``L1 = B(alpha, beta+1) * betaincc(alpha, beta+1, p)`` (the regularised
  *upper* incomplete beta, so no cancellation near p = 1) and
  ``L0 = B(alpha+1, beta) * betainc(alpha+1, beta, p)``.
* alpha = 0 (L1 has a 1/t singularity at 0 but is finite for p > 0)::

      L1(p) = integral_p^1 (1-t)^beta / t dt
            = -log p - H(beta) + S(p),   S(p) = integral_0^p (1 - (1-t)^beta) / t dt,     p < 1/2
            = sum_{k>=0} q^(beta+k+1) / (beta+k+1),  q = 1 - p,                           p >= 1/2

  with ``H(beta) = digamma(beta+1) + euler_gamma = integral_0^1 (1-(1-t)^beta)/t dt`` (the
  harmonic number) and ``S(p) = -sum_{k>=1} binom(beta, k) (-p)^k / k``. Both series converge at
  least like ``2^-k``; 64 terms reach double precision. For beta = 0 this is ``-log p``.
  ``L0`` needs nothing special: alpha + 1 > 0, so the incomplete-beta formula holds (for beta = 0
  see the next case).
* beta = 0 is the mirror image: ``L0_{alpha,0}(p) = L1_{0,alpha}(1 - p)`` (substitute t -> 1 - t),
  and ``L1 = (1 - p^alpha) / alpha`` via the incomplete-beta formula.
* alpha = beta = 0 is therefore the log loss (``-log p``, ``-log(1-p)``); alpha = beta = 1 gives
  ``(1-p)^2 / 2`` and ``p^2 / 2`` (half the squared error).

A parameter below ``1e-100`` is treated as 0 (the difference is of the order of the parameter;
the beta function itself would overflow). ``p`` is clipped into ``[EPS, 1 - EPS]`` with ``EPS = 1e-12`` before anything is evaluated, so a
model that outputs exactly 0 or 1 gets a large but finite loss (``-log(1e-12) = 27.6`` for the log
loss). Defaults alpha = 0.1, beta = 3 (CRAB Sec. 3.1).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from mlal_core.errors import ConfigError

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_BETA",
    "EPS",
    "TINY_PARAM",
    "beta_partial_losses",
    "beta_score",
    "binary_entropy",
    "brier_score",
    "expected_beta_score",
    "log_score",
]

EPS = 1e-12
DEFAULT_ALPHA = 0.1
DEFAULT_BETA = 3.0
TINY_PARAM = 1e-100  # alpha or beta below this is evaluated by its 0-limit (error O(param); B(.) would overflow)
_N_TERMS = 64  # series terms for the alpha = 0 / beta = 0 limits; ratio <= 1/2 -> 2^-64 ~ 5e-20


def _clip(p) -> np.ndarray:
    return np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)


def check_beta_params(alpha: float, beta: float) -> tuple[float, float]:
    """``(alpha, beta)`` as floats, checked finite and >= 0 (the beta family's domain, CRAB Eq. 5-7).

    Parameters
    ----------
    alpha : float
        Beta-family parameter alpha.
    beta : float
        Beta-family parameter beta.

    Returns
    -------
    tuple of float
        ``(float(alpha), float(beta))``.

    Raises
    ------
    ConfigError
        When either is negative, infinite or nan.
    """
    alpha, beta = float(alpha), float(beta)
    if not (np.isfinite(alpha) and np.isfinite(beta)) or alpha < 0 or beta < 0:
        raise ConfigError(
            f"Beta scoring rule parameters must be finite and >= 0; got alpha={alpha}, beta={beta}."
        )
    return alpha, beta


def _l1_alpha_zero(p: np.ndarray, b: float) -> np.ndarray:
    """``integral_p^1 (1-t)^b / t dt`` for p in (0, 1), b >= 0, to double precision."""
    out = np.empty_like(p)
    low = p < 0.5
    if low.any():
        x = p[low]
        # S(x) = sum_{k>=1} c_k x^k / k with c_k = -binom(b, k) (-1)^k
        s = np.zeros_like(x)
        coef = 1.0  # binom(b, k) (-1)^k, built by the recurrence coef_k = coef_{k-1} (k-1-b) / k
        xk = np.ones_like(x)
        for k in range(1, _N_TERMS + 1):
            coef *= (k - 1 - b) / k
            if coef == 0.0:
                break  # integer b: the binomial series is finite
            xk = xk * x
            s -= coef * xk / k
        harmonic = special.digamma(b + 1.0) + np.euler_gamma
        out[low] = -np.log(x) - harmonic + s
    high = ~low
    if high.any():
        q = 1.0 - p[high]
        s = np.zeros_like(q)
        qk = q ** (b + 1.0)
        for k in range(_N_TERMS):
            s += qk / (b + k + 1.0)
            qk = qk * q
        out[high] = s
    return out


def beta_partial_losses(p, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA):
    """Partial losses ``(L1, L0)`` of the beta family at predicted probability ``p`` (any shape).

    Both are non-negative; L1 decreases and L0 increases in p. See the module docstring for the
    formulas and for how the alpha = 0 / beta = 0 limits are evaluated. Buja, Stuetzle & Shen
    (2005); BESRA / CRAB Eq. 5-7. ``p`` is clipped into ``[EPS, 1 - EPS]``.

    Parameters
    ----------
    p : array_like
        Predicted probabilities, any shape.
    alpha : float, optional
        Parameter alpha >= 0 (default ``DEFAULT_ALPHA`` = 0.1).
    beta : float, optional
        Parameter beta >= 0 (default ``DEFAULT_BETA`` = 3).

    Returns
    -------
    L1 : numpy.ndarray
        Loss when the outcome is 1, float64, the shape of ``p``.
    L0 : numpy.ndarray
        Loss when the outcome is 0, float64, the shape of ``p``.

    Raises
    ------
    ConfigError
        When alpha or beta is negative, infinite or nan.
    """
    a, b = check_beta_params(alpha, beta)
    p = _clip(p)
    if a >= TINY_PARAM:
        L1 = special.beta(a, b + 1.0) * special.betaincc(a, b + 1.0, p)
    else:
        L1 = _l1_alpha_zero(p, b)
    if b >= TINY_PARAM:
        L0 = special.beta(a + 1.0, b) * special.betainc(a + 1.0, b, p)
    else:
        L0 = _l1_alpha_zero(1.0 - p, a)
    return L1, L0


def beta_score(p, y, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA) -> np.ndarray:
    """Score ``S(p, y) = -(y L1(p) + (1 - y) L0(p))``; ``p`` and ``y`` broadcast together.

    BESRA / CRAB Eq. 5-7 (METHODS.md, "Beta scoring rules").

    Parameters
    ----------
    p : array_like
        Predicted probabilities.
    y : array_like
        Outcomes (0/1; values in between give the expected score).
    alpha : float, optional
        Parameter alpha >= 0 (default ``DEFAULT_ALPHA`` = 0.1).
    beta : float, optional
        Parameter beta >= 0 (default ``DEFAULT_BETA`` = 3).

    Returns
    -------
    numpy.ndarray
        The score (higher is better, <= 0), float64.
    """
    L1, L0 = beta_partial_losses(p, alpha, beta)
    y = np.asarray(y, dtype=np.float64)
    return -(y * L1 + (1.0 - y) * L0)


def expected_beta_score(p, q, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA) -> np.ndarray:
    """Expected score of predicting ``p`` when the outcome is 1 with probability ``q``.

    ``q S(p, 1) + (1 - q) S(p, 0)``; for a proper rule it is maximal at p = q.

    Parameters
    ----------
    p : array_like
        Predicted probabilities.
    q : array_like
        Probabilities of outcome 1, broadcasting with ``p``.
    alpha : float, optional
        Parameter alpha >= 0 (default ``DEFAULT_ALPHA`` = 0.1).
    beta : float, optional
        Parameter beta >= 0 (default ``DEFAULT_BETA`` = 3).

    Returns
    -------
    numpy.ndarray
        The expected score, float64.
    """
    L1, L0 = beta_partial_losses(p, alpha, beta)
    q = np.asarray(q, dtype=np.float64)
    return -(q * L1 + (1.0 - q) * L0)


def log_score(p, y) -> np.ndarray:
    """Logarithmic score ``y log p + (1 - y) log(1 - p)`` (= beta_score with alpha = beta = 0).

    ``p`` is clipped into ``[EPS, 1 - EPS]``.

    Parameters
    ----------
    p : array_like
        Predicted probabilities.
    y : array_like
        Outcomes (0/1), broadcasting with ``p``.

    Returns
    -------
    numpy.ndarray
        The score (natural log, <= 0), float64.
    """
    p = _clip(p)
    y = np.asarray(y, dtype=np.float64)
    return y * np.log(p) + (1.0 - y) * np.log1p(-p)


def brier_score(p, y) -> np.ndarray:
    """Brier score ``-(y - p)^2`` (= 2 * beta_score with alpha = beta = 1).

    ``p`` is clipped into ``[EPS, 1 - EPS]``.

    Parameters
    ----------
    p : array_like
        Predicted probabilities.
    y : array_like
        Outcomes (0/1), broadcasting with ``p``.

    Returns
    -------
    numpy.ndarray
        The score (<= 0), float64.
    """
    p = _clip(p)
    y = np.asarray(y, dtype=np.float64)
    return -((y - p) ** 2)


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """``H(p) = -p log2 p - (1-p) log2 (1-p)`` in bits, elementwise, with ``H(0) = H(1) = 0``.

    The expected log loss of p under itself, in bits: the entropy of the entropy / BALD strategies
    and Eq. 1 of uncertainty batch selection (Zhou et al.). ``p`` is clipped into ``[0, 1]``.

    Parameters
    ----------
    p : numpy.ndarray
        Probabilities, any shape.

    Returns
    -------
    numpy.ndarray
        Entropies, the shape of ``p``; a float32 input stays float32 (the probability samples usually
        are) for speed, any other dtype gives float64.
    """
    p = np.asarray(p)
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    p = np.clip(p, 0.0, 1.0)
    q = 1.0 - p
    tiny = np.finfo(p.dtype).tiny
    return -(p * np.log2(np.maximum(p, tiny)) + q * np.log2(np.maximum(q, tiny)))
