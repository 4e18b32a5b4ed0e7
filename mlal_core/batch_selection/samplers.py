"""Mini-batch samplers for training on the labelled rows (METHODS.md "Uncertainty batch selection").

One interface for every trainer in ``mlal_core.models``:

* ``reset(n, n_labels, epochs, Y=None)``: called once at the start of every ``fit`` (cold start):
  forget the prediction history; ``epochs`` is the number of passes the trainer will make (it fixes
  the pressure schedule of Eq. 11), ``Y`` the (n, K) labels of the labelled rows.
* ``epoch_order(epoch, n, rng) -> (n,) int64`` row indices for epoch ``epoch`` (0-based). The
  trainer cuts it into consecutive mini-batches. ``replacement`` says what it is: ``False``: a
  permutation of ``0..n-1`` (each row once); ``True``: ``n`` independent draws with replacement
  from the sampler's probabilities ``P`` (a row may come several times or not at all in an epoch).
  During the warm-up epochs (and for ``random``) every sampler returns a permutation. The method does
  not change the sampler's state, so an ensemble can call it once per member, each with its own rng.
* ``observe(epoch, proba, Y)``: after epoch ``epoch``, the current (n, K) predictions on the labelled
  rows (dropout off); the sampler updates its history and the probabilities of epoch ``epoch + 1``.
* ``history``: one dict per epoch whose order was drawn from computed probabilities, with ``epoch``,
  ``p`` (n,), and for the uncertainty sampler also ``U`` (n, K), ``C`` (K, K), ``w`` (n,), ``s``.
  ``keep_matrices=False`` keeps only ``p`` / ``w`` / ``s`` (less memory on long runs).
* ``bind_predictor(predict)``: the trainer hands a function ``X -> (m, K)`` probabilities with the
  current weights; samplers ignore it, monitoring wrappers (the experiment) use it.
* ``prediction_window()`` (samplers that keep predictions): the (T, n, K) predictions the next
  probabilities are computed from, oldest first.

Samplers are scikit-learn estimators: parameters declared once in the class's ``PARAMS`` (a tuple
of :class:`~mlal_core.validation.Param`), taken as keyword-only ``__init__`` arguments with the same
defaults and stored as given; ``get_params`` / ``set_params`` / ``sklearn.base.clone`` work,
``_validate_params`` checks the stored values against ``PARAMS`` in ``__init__`` and ``reset``.
``make_sampler(name, **params)`` builds one by registry name; ``available_samplers()`` lists them and
``sampler_parameters(name)`` gives a sampler's parameters with their defaults.
"""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone

from ..errors import ConfigError, unknown_name_error
from ..scoring import binary_entropy
from ..validation import Interval, Param, check_params

_EPS = 1e-12


# ----------------------------------------------------------------------------- pure functions
def window_difference(window: np.ndarray) -> np.ndarray:
    """Eq. 4: mean absolute difference of successive predictions; ``window`` is (T, n, K), oldest first.

    With fewer than two predictions the difference is 0. Zhou et al. (METHODS.md, "Uncertainty batch
    selection").

    Parameters
    ----------
    window : numpy.ndarray
        The last T predictions, oldest first, shape ``(T, n, K)``.

    Returns
    -------
    numpy.ndarray
        ``d``, float64, shape ``(n, K)``.
    """
    w = np.asarray(window, dtype=np.float64)
    if w.shape[0] < 2:
        return np.zeros(w.shape[1:])
    return np.abs(np.diff(w, axis=0)).mean(axis=0)


def label_uncertainty(window: np.ndarray, lambda1: float = 0.5) -> np.ndarray:
    """Eq. 5: ``U = lambda1 * d + (1 - lambda1) * e`` with e of the newest prediction and d over the window.

    ``e`` is the binary entropy in bits (Eq. 1), ``d`` the window difference (Eq. 4). Zhou et al.
    (METHODS.md, "Uncertainty batch selection").

    Parameters
    ----------
    window : numpy.ndarray
        The last T predictions, oldest first, shape ``(T, n, K)``.
    lambda1 : float, optional
        Weight of ``d`` (default 0.5).

    Returns
    -------
    numpy.ndarray
        ``U``, float64, shape ``(n, K)``.
    """
    w = np.asarray(window, dtype=np.float64)
    return lambda1 * window_difference(w) + (1.0 - lambda1) * binary_entropy(w[-1])


def quantize_bins(U: np.ndarray, tau: int = 10) -> np.ndarray:
    """Bin index of each value in ``tau`` bins of width ``1/tau`` over [0, 1] (1.0 goes to the last bin).

    Values outside [0, 1] go to the first or last bin.

    Parameters
    ----------
    U : numpy.ndarray
        Values, any shape.
    tau : int, optional
        Number of bins (default 10).

    Returns
    -------
    numpy.ndarray
        Int64 bin indices in ``0..tau-1``, the shape of ``U``.
    """
    return np.clip(np.floor(np.asarray(U, dtype=np.float64) * tau), 0, tau - 1).astype(np.int64)


def mutual_information_matrix(U: np.ndarray, tau: int = 10, diagonal: float = 1.0) -> np.ndarray:
    """Eq. 6: mutual information (natural log) between the binned columns of ``U`` (n, K).

    The joint histograms of all label pairs come at once from one ``np.bincount`` over the codes
    ``(a, b, bin_a, bin_b)`` of every (row, label pair), processed in row chunks (no loop over
    samples). The result is symmetrised and clipped at 0; the diagonal is set to ``diagonal`` (1, as
    the paper says). Zhou et al. (METHODS.md, "Uncertainty batch selection").

    Parameters
    ----------
    U : numpy.ndarray
        Label uncertainties, shape ``(n, K)``.
    tau : int, optional
        Number of bins of width ``1/tau`` (default 10).
    diagonal : float, optional
        Value of the diagonal (default 1).

    Returns
    -------
    numpy.ndarray
        ``C``, float64, shape ``(K, K)`` (``diagonal * I`` when ``n = 0``).
    """
    U = np.asarray(U, dtype=np.float64)
    n, K = U.shape
    if n == 0:
        return np.eye(K) * diagonal
    B = quantize_bins(U, tau)                                        # (n, K)
    pair = (np.arange(K)[:, None] * K + np.arange(K)[None, :]) * tau * tau  # (K, K)
    counts = np.zeros(K * K * tau * tau, dtype=np.float64)
    chunk = max(1, 4_000_000 // max(1, K * K))
    for s in range(0, n, chunk):
        b = B[s : s + chunk]
        codes = pair[None] + b[:, :, None] * tau + b[:, None, :]     # (m, K, K)
        counts += np.bincount(codes.ravel(), minlength=counts.size)
    joint = counts.reshape(K, K, tau, tau) / n                       # p(bin_a, bin_b)
    marg = np.stack([np.bincount(B[:, k], minlength=tau) for k in range(K)]) / n  # (K, tau)
    outer = marg[:, None, :, None] * marg[None, :, None, :]          # p(bin_a) p(bin_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / np.where(outer > 0, outer, 1.0)), 0.0)
    C = terms.sum(axis=(2, 3))
    C = np.maximum((C + C.T) / 2, 0.0)
    np.fill_diagonal(C, diagonal)
    return C


def sample_weights(U: np.ndarray, C: np.ndarray | None = None) -> np.ndarray:
    """Eq. 7-8: ``w_i = sum_j (U C)_ij`` (``C=None``: plain sum over labels), min-max normalised to [0, 1].

    All equal weights give all 0. Zhou et al. (METHODS.md, "Uncertainty batch selection").

    Parameters
    ----------
    U : numpy.ndarray
        Label uncertainties, shape ``(n, K)``.
    C : numpy.ndarray, optional
        Label correlation, shape ``(K, K)``.

    Returns
    -------
    numpy.ndarray
        ``w``, float64, shape ``(n,)``.
    """
    U = np.asarray(U, dtype=np.float64)
    Ubar = U if C is None else U @ np.asarray(C, dtype=np.float64)
    w = Ubar.sum(axis=1)
    return minmax(w)


def minmax(w: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; all equal (range <= 1e-12) gives all 0.

    Parameters
    ----------
    w : numpy.ndarray
        Values, shape ``(n,)``.

    Returns
    -------
    numpy.ndarray
        Normalised float64 values, shape ``(n,)`` (an empty input is returned as is).
    """
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0:
        return w
    lo, hi = float(w.min()), float(w.max())
    return (w - lo) / (hi - lo) if hi - lo > _EPS else np.zeros_like(w)


def quantizer(z: np.ndarray, n: int) -> np.ndarray:
    """Eq. 9: ``Q(z) = floor((1 - z) / Delta)`` with ``Delta = 1 / n`` (integer indices in 0..n).

    A 1e-9 tolerance keeps ``(1 - z) n`` that lands on an integer from rounding below it. Zhou et al.
    (METHODS.md, "Uncertainty batch selection").

    Parameters
    ----------
    z : numpy.ndarray
        Values in [0, 1], shape ``(n,)``.
    n : int
        Number of quantisation steps.

    Returns
    -------
    numpy.ndarray
        Int64 indices, the shape of ``z``.
    """
    z = np.asarray(z, dtype=np.float64)
    # a tiny tolerance so that (1 - z) * n landing on an integer is not pushed below it by rounding
    return np.floor((1.0 - z) * n + 1e-9).astype(np.int64)


def selection_probabilities(w: np.ndarray, s: float) -> np.ndarray:
    """Eq. 10: ``P_i ∝ 1 / exp(log(s) / n) ** Q(w_i)``, normalised; computed in log space.

    ``n`` is the number of rows. Zhou et al. (METHODS.md, "Uncertainty batch selection").

    Parameters
    ----------
    w : numpy.ndarray
        Normalised sample weights in [0, 1], shape ``(n,)``.
    s : float
        Selection pressure ``s_t`` (> 0; 1 gives uniform probabilities).

    Returns
    -------
    numpy.ndarray
        Probabilities summing to 1, shape ``(n,)`` (empty for an empty input).
    """
    w = np.asarray(w, dtype=np.float64)
    n = w.size
    if n == 0:
        return w
    logp = -quantizer(w, n) * (math.log(float(s)) / n)
    logp -= logp.max()
    p = np.exp(logp)
    return p / p.sum()


def pressure(t: int, s0: float, t_start: int, t_end: int) -> float:
    """Eq. 11: ``s_t = s0 * exp(log(1 / s0) / (t_end - t_start)) ** (t - t_start)``, from ``s0`` down to 1.

    ``s0`` at ``t <= t_start``, 1 at ``t >= t_end`` (``t_end <= t_start`` gives 1 after the start).
    Zhou et al. (METHODS.md, "Uncertainty batch selection").

    Parameters
    ----------
    t : int
        Current epoch.
    s0 : float
        Initial pressure.
    t_start : int
        Epoch at which the decay starts.
    t_end : int
        Epoch at which the pressure reaches 1.

    Returns
    -------
    float
        ``s_t``.
    """
    s0 = float(s0)
    if t <= t_start:
        return s0
    if t >= t_end or t_end <= t_start:
        return 1.0
    return s0 * math.exp(math.log(1.0 / s0) / (t_end - t_start)) ** (t - t_start)


def _label_stats(Y: np.ndarray):
    Y = np.asarray(Y, dtype=np.float64)
    counts = Y.sum(axis=0)
    return Y, counts


# ----------------------------------------------------------------------------- parameters
_WARMUP = Param("warmup", 5, "epochs of random batches before the sampler's probabilities are used (paper: 5)",
                constraint=Interval(0, None, integer=True))
_KEEP_MATRICES = Param("keep_matrices", True, "keep U and C per epoch in history (False: only p, w, s)")
_S0 = Param("s0", 100.0, "initial selection pressure of Eq. 11: the most uncertain row is s0 times as likely "
            "as the least; 1 = uniform (paper: 100)", constraint=Interval(1.0, None))


def _window(minimum: int, why: str) -> Param:
    return Param("window", 5, f"T, the recent predictions per row and label ({why}; paper: 5)",
                 constraint=Interval(minimum, None, integer=True))


# ----------------------------------------------------------------------------- samplers
class BatchSampler(BaseEstimator):
    """Base class (see the module docstring).

    scikit-learn style: ``__init__`` stores the parameters as given (``get_params`` / ``set_params`` /
    ``sklearn.base.clone`` work, also on a model holding a sampler), ``_validate_params`` checks them
    (in ``__init__`` and again in ``reset``, so ``set_params`` is checked before the next fit), and
    ``reset`` creates the per-fit state (``history``, the probabilities, the prediction window).
    Subclasses set ``name`` and implement ``_compute``.

    Parameters
    ----------
    warmup : epochs of random permutations before the sampler's probabilities are used (the paper: 5).
    keep_matrices : keep ``U`` / ``C`` in ``history`` (False: only ``p``, ``w``, ``s``).
    """

    name = "base"
    display_name = "Base"
    explanation = ""
    adaptive = True      # uses predictions (warm-up with random batches)
    replacement = True   # after the warm-up: draws with replacement from P
    PARAMS: ClassVar[tuple[Param, ...]] = (_WARMUP, _KEEP_MATRICES)

    def __init__(self, *, warmup: int = 5, keep_matrices: bool = True):
        self.warmup = warmup
        self.keep_matrices = keep_matrices
        self._validate_params()

    # -- parameters
    def _validate_params(self) -> None:
        """Check the stored parameters against ``PARAMS`` (raises ``ConfigError``)."""
        check_params(self, self.PARAMS, prefix=f"Batch sampler {self.name!r}: ")

    # -- protocol
    def reset(self, n: int, n_labels: int, epochs: int, Y: np.ndarray | None = None) -> None:
        """Start a fit: check the parameters, forget the prediction history (see the module docstring)."""
        self._validate_params()
        self.n_ = int(n)
        self.n_labels_ = int(n_labels)
        self.epochs_ = max(int(epochs), 1)
        self.Y_ = None if Y is None else np.asarray(Y, dtype=np.float64)
        self.history: list[dict] = []
        self._p: dict[int, np.ndarray] = {}
        self._predictor = None
        self._reset_state()

    def _reset_state(self) -> None:
        pass

    def bind_predictor(self, predict) -> None:
        self._predictor = predict

    def probabilities(self, epoch: int) -> np.ndarray | None:
        """Sampling probabilities for ``epoch`` (None: a random permutation is used)."""
        return self._p.get(int(epoch))

    def epoch_order(self, epoch: int, n: int, rng: np.random.Generator) -> np.ndarray:
        p = self.probabilities(epoch)
        if p is None or len(p) != n:
            return rng.permutation(n).astype(np.int64)
        return rng.choice(n, size=n, replace=True, p=p).astype(np.int64)

    def observe(self, epoch: int, proba: np.ndarray, Y: np.ndarray) -> None:
        proba = np.asarray(proba, dtype=np.float64)
        self._update(int(epoch), proba, np.asarray(Y, dtype=np.float64))
        nxt = int(epoch) + 1
        if int(self.warmup) <= nxt < self.epochs_ and self.adaptive:  # no probabilities for an epoch that never runs
            rec = self._compute(nxt, proba, np.asarray(Y, dtype=np.float64))
            if rec is not None:
                self._p[nxt] = rec["p"]
                self._p.pop(nxt - 2, None)
                rec["epoch"] = nxt
                if not self.keep_matrices:
                    rec = {k: v for k, v in rec.items() if k not in ("U", "C")}
                self.history.append(rec)

    # -- hooks
    def _update(self, epoch: int, proba: np.ndarray, Y: np.ndarray) -> None:
        pass

    def _compute(self, epoch: int, proba: np.ndarray, Y: np.ndarray) -> dict | None:
        raise NotImplementedError

    def pressure_at(self, epoch: int, s0: float) -> float:
        """Eq. 11 with ``t_start`` = the warm-up and ``t_end`` = the last epoch of the schedule
        (``epochs - 1``; see the uncertainty sampler's note on early stopping)."""
        return pressure(epoch, s0, int(self.warmup), self.epochs_ - 1)


class RandomSampler(BatchSampler):
    """A fresh random permutation every epoch (plain shuffling); no warm-up, no probabilities."""

    name = "random"
    display_name = "Random"
    explanation = "A fresh random permutation of the labelled rows every epoch (the usual shuffling)."
    adaptive = False
    replacement = False
    warmup = 0
    PARAMS: ClassVar[tuple[Param, ...]] = (_KEEP_MATRICES,)

    def __init__(self, *, keep_matrices: bool = True):
        self.keep_matrices = keep_matrices
        self._validate_params()


class BalanceSampler(BatchSampler):
    """Hand et al. 2018, as resolved in METHODS.md: static inverse label-frequency weights.

    ``P_i ∝ mean_{j: y_ij = 1} 1 / pi_j`` with ``pi_j`` the label's frequency among the labelled
    rows; a row without positive labels gets weight 1 (the weight of a label present everywhere).
    Uses no predictions, so there is no warm-up (``warmup=0`` by default)."""

    name = "balance"
    display_name = "Balance"
    explanation = "Rows with rare labels are drawn more often: weight = mean inverse frequency of the row's labels."
    PARAMS: ClassVar[tuple[Param, ...]] = (_WARMUP.with_default(0), _KEEP_MATRICES)

    def __init__(self, *, warmup: int = 0, keep_matrices: bool = True):
        super().__init__(warmup=warmup, keep_matrices=keep_matrices)

    def _weights(self, Y: np.ndarray) -> np.ndarray:
        Y, counts = _label_stats(Y)
        n = Y.shape[0]
        inv = np.where(counts > 0, n / np.maximum(counts, 1), 0.0)
        npos = Y.sum(axis=1)
        return np.where(npos > 0, (Y @ inv) / np.maximum(npos, 1), 1.0)

    def _reset_state(self) -> None:
        self._static = None
        if self.Y_ is not None and int(self.warmup) == 0 and len(self.Y_):
            w = self._weights(self.Y_)
            self._static = w / w.sum()
            self.history.append({"epoch": 0, "p": self._static, "w": minmax(w), "s": float("nan")})

    def probabilities(self, epoch: int):
        if self._static is not None:
            return self._static
        return self._p.get(int(epoch))

    def _compute(self, epoch, proba, Y):
        if self._static is not None:
            return None
        w = self._weights(Y)
        self._static = w / w.sum()
        return {"p": self._static, "w": minmax(w), "s": float("nan")}


class _WindowSampler(BatchSampler):
    """Keeps the last ``window`` predictions (``window = None``: the whole history) for ``_compute``."""

    window: int | None = None

    def _reset_state(self) -> None:
        self._window: deque[np.ndarray] = deque(maxlen=None if self.window is None else int(self.window))

    def _update(self, epoch, proba, Y):
        self._window.append(proba.astype(np.float32))

    def prediction_window(self) -> np.ndarray:
        """(T', n, K) float64: the predictions the next probabilities are computed from (the last
        ``window`` observed, oldest first; fewer during the first epochs)."""
        return np.stack(self._window).astype(np.float64)


class ActiveBiasSampler(_WindowSampler):
    """Chang et al. 2017 (SGD-SPV), summed over labels as the paper adapts it: per label the
    prediction std over the whole history with the small-sample correction of Eq. 2,
    ``std = sqrt(var + var^2 / (|H| - 1))``, summed over labels; ``P_i ∝ std_i + eps`` with
    ``eps = smoothing * mean(std)`` (Chang et al.'s smoothness constant)."""

    name = "active_bias"
    display_name = "Active Bias"
    explanation = "Rows whose predictions varied most over the whole training history are drawn more often."
    PARAMS: ClassVar[tuple[Param, ...]] = (
        _WARMUP,
        Param("smoothing", 1.0, "eps = smoothing x mean std is added to every row's score; 0 never draws rows "
              "whose predictions did not move", constraint=Interval(0.0, None)),
        _KEEP_MATRICES,
    )

    def __init__(self, *, warmup: int = 5, smoothing: float = 1.0, keep_matrices: bool = True):
        self.smoothing = smoothing
        super().__init__(warmup=warmup, keep_matrices=keep_matrices)

    def _compute(self, epoch, proba, Y):
        H = self.prediction_window()
        if H.shape[0] < 2:
            U = np.zeros(H.shape[1:])
        else:
            var = H.var(axis=0, ddof=1)
            U = np.sqrt(var + var**2 / (H.shape[0] - 1))
        score = U.sum(axis=1)
        eps = float(self.smoothing) * float(score.mean()) + _EPS
        p = (score + eps) / (score + eps).sum()
        return {"p": p, "w": minmax(score), "U": U.astype(np.float32), "s": float("nan")}


class _PressureSampler(_WindowSampler):
    """Score -> min-max -> quantiser (Eq. 9) -> probabilities under decaying pressure (Eq. 10-11)."""

    def _score(self, proba, Y) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    def _compute(self, epoch, proba, Y):
        score, extra = self._score(proba, Y)
        w = minmax(score)
        s = self.pressure_at(epoch, float(self.s0))
        p = selection_probabilities(w, s)
        return {"p": p, "w": w, "s": s, **extra}


class RecencyBiasSampler(_PressureSampler):
    """Song et al. 2020a, summed over labels: per label the entropy (log2) of the binarised
    predictions (threshold 0.5) in the last ``window`` epochs (Eq. 3), summed over labels, then the
    same quantiser and decaying pressure as the uncertainty sampler."""

    name = "recency_bias"
    display_name = "Recency Bias"
    explanation = "Rows whose thresholded predictions flipped most in the recent window are drawn more often."
    PARAMS: ClassVar[tuple[Param, ...]] = (
        _window(1, "the number of recent predictions whose flips are counted"),
        _S0,
        _WARMUP,
        _KEEP_MATRICES,
    )

    def __init__(self, *, window: int = 5, s0: float = 100.0, warmup: int = 5, keep_matrices: bool = True):
        self.window = window
        self.s0 = s0
        super().__init__(warmup=warmup, keep_matrices=keep_matrices)

    def _score(self, proba, Y):
        H = self.prediction_window()
        frac1 = (H > 0.5).mean(axis=0)
        U = binary_entropy(frac1)
        return U.sum(axis=1), {"U": U.astype(np.float32)}


class HardImbalanceSampler(_PressureSampler):
    """Zhou et al. 2024, as resolved in METHODS.md: loss x label-imbalance weights. Per row
    ``sum_j IRLbl_j * BCE(p_ij, y_ij)`` with ``IRLbl_j = max_k count_k / count_j`` on the labelled
    rows (a label without positives gets the largest finite IRLbl), then quantiser and pressure.
    Uses only the current prediction (no window)."""

    name = "hard_imbalance"
    display_name = "Hard Imbalance"
    explanation = "Rows with a high loss on rare (imbalanced) labels are drawn more often."
    window = 1
    PARAMS: ClassVar[tuple[Param, ...]] = (_S0, _WARMUP, _KEEP_MATRICES)

    def __init__(self, *, s0: float = 100.0, warmup: int = 5, keep_matrices: bool = True):
        self.s0 = s0
        super().__init__(warmup=warmup, keep_matrices=keep_matrices)

    def _score(self, proba, Y):
        Y, counts = _label_stats(Y)
        finite = counts > 0
        irl = np.ones(Y.shape[1])
        if finite.any():
            irl[finite] = counts.max() / counts[finite]
            irl[~finite] = irl[finite].max()
        p = np.clip(proba, 1e-7, 1 - 1e-7)
        bce = -(Y * np.log(p) + (1 - Y) * np.log(1 - p))
        U = bce * irl[None, :]
        return U.sum(axis=1), {"U": U.astype(np.float32)}


class UncertaintySampler(_PressureSampler):
    """Zhou et al. (AAAI 2025), per METHODS.md: label uncertainty ``U = lambda1 d + (1 - lambda1) e``
    (Eq. 1, 4, 5) over a window of ``window`` epochs, label correlation ``C`` = mutual information of
    the columns of U in ``tau`` bins (Eq. 6, diagonal 1), ``w = rowsum(U C)`` min-max normalised
    (Eq. 7-8), quantiser with Delta = 1/n (Eq. 9), ``P ∝ s_t^(-Q(w)/n)`` (Eq. 10) with ``s_t`` from
    ``s0`` down to 1 between the end of the warm-up and the last epoch (Eq. 11).
    ``use_correlation=False`` is the released code's variant (C = identity), off by default.

    Parameters
    ----------
    window : T, the predictions per row and label in Eq. 4 (paper: 5).
    lambda1 : weight of the fluctuation d against the entropy e in Eq. 5 (paper: 0.5).
    tau : bins of width 1/tau for the mutual information of Eq. 6 (paper: 10).
    s0 : initial selection pressure of Eq. 11 (paper: 100).
    warmup : epochs of random batches first (paper: 5).
    use_correlation : weight U by C (Eq. 7; the paper) or use C = identity (the released code).
    keep_matrices : keep U and C per epoch in ``history``.

    Two deviations from the paper's Algorithm 1:

    * **When U is updated.** Algorithm 1 updates U (line 15) from the forward passes of the sampled
      mini-batches, so a row's history only grows in the epochs in which it is drawn (and twice
      when drawn twice). Here the trainer calls ``observe`` after every epoch with the predictions
      of a dropout-off pass over *all* labelled rows: every row gets exactly one prediction per
      epoch, from the weights at the end of the epoch, and the window of Eq. 4 always spans the
      last T epochs. This costs one inference pass over the labelled rows per epoch.
    * **Pressure schedule with early stopping.** ``t_end`` of Eq. 11 is the *maximum* number of
      epochs the trainer was configured for (``epochs`` of ``reset``; ``s_t`` reaches 1 at the
      last of them). When a trainer stops early (validation patience), training ends before
      ``t_end``, so the last epochs that ran still sampled with ``s_t > 1``.
    """

    name = "uncertainty"
    display_name = "Uncertainty (Zhou et al.)"
    explanation = ("Rows whose labels are uncertain now and fluctuated recently, weighted by how the "
                   "labels' uncertainties go together (mutual information), are drawn more often; "
                   "the preference fades to uniform over training.")

    PARAMS: ClassVar[tuple[Param, ...]] = (
        _window(2, "Eq. 4 needs at least two predictions to measure a fluctuation"),
        Param("lambda1", 0.5, "weight of the fluctuation d against the entropy e in Eq. 5 (paper: 0.5)",
              low=0.0, high=1.0),
        Param("tau", 10, "bins of width 1/tau for the mutual information of Eq. 6 (paper: 10)",
              constraint=Interval(2, None, integer=True)),
        _S0,
        _WARMUP,
        Param("use_correlation", True, "weight U by C (the paper, Eq. 7) or use C = identity (the released code)"),
        _KEEP_MATRICES,
    )

    def __init__(self, *, window: int = 5, lambda1: float = 0.5, tau: int = 10, s0: float = 100.0,
                 warmup: int = 5, use_correlation: bool = True, keep_matrices: bool = True):
        self.window = window
        self.lambda1 = lambda1
        self.tau = tau
        self.s0 = s0
        self.use_correlation = use_correlation
        super().__init__(warmup=warmup, keep_matrices=keep_matrices)

    def uncertainty_matrix(self) -> np.ndarray:
        """U (n, K) of Eq. 5 from the current prediction window (what the next ``_compute`` uses)."""
        return label_uncertainty(self.prediction_window(), float(self.lambda1))

    def _score(self, proba, Y):
        U = self.uncertainty_matrix()
        K = U.shape[1]
        C = mutual_information_matrix(U, int(self.tau)) if self.use_correlation else np.eye(K)
        score = (U @ C).sum(axis=1)
        return score, {"U": U.astype(np.float32), "C": C.astype(np.float32)}


SAMPLERS: dict[str, type[BatchSampler]] = {
    cls.name: cls
    for cls in (RandomSampler, BalanceSampler, ActiveBiasSampler, RecencyBiasSampler,
                HardImbalanceSampler, UncertaintySampler)
}


def available_samplers() -> list[str]:
    """Registered sampler names, in the paper's order."""
    return list(SAMPLERS)


def make_sampler(name="random", **params) -> BatchSampler:
    """A new sampler from a registry name, a dict ``{"name": ..., **params}``, or a ``BatchSampler``.

    A ``BatchSampler`` is returned as a fresh, unfitted copy (``sklearn.base.clone`` plus ``params``).
    Names are matched case-insensitively, with ``-`` and spaces read as ``_``.

    Parameters
    ----------
    name : str or dict or BatchSampler, optional
        What to build (default ``"random"``); a dict's other keys are parameters.
    **params
        Sampler parameters (override a dict's).

    Returns
    -------
    BatchSampler
        The new sampler.

    Raises
    ------
    ConfigError
        For an unknown name, a dict without ``"name"``, or an unknown parameter for a name or dict.
    """
    if isinstance(name, BatchSampler):
        return clone(name).set_params(**params) if params else clone(name)
    if isinstance(name, dict):
        d = dict(name)
        if "name" not in d:
            raise ConfigError("A batch-sampler dict needs a 'name' key.")
        return make_sampler(d.pop("name"), **{**d, **params})
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in SAMPLERS:
        raise unknown_name_error("batch sampler", str(name), SAMPLERS)
    cls = SAMPLERS[key]
    allowed = sampler_parameters(key)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"Bad parameter(s) for batch sampler {key!r}: {', '.join(unknown)}. "
                          f"Known: {', '.join(allowed)}.")
    return cls(**params)


def sampler_parameters(name: str) -> dict:
    """The parameters of sampler ``name`` and their defaults (``{"window": 5, ...}``).

    Parameters
    ----------
    name : str
        Registry name (case-insensitive, ``-`` and spaces read as ``_``).

    Returns
    -------
    dict
        Parameter name -> default, from the class's ``PARAMS``.

    Raises
    ------
    ConfigError
        For an unknown name.
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in SAMPLERS:
        raise unknown_name_error("batch sampler", str(name), SAMPLERS)
    return {p.name: p.default for p in SAMPLERS[key].PARAMS}
