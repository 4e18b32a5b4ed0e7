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

``make_sampler(name, **params)`` builds one by registry name; ``available_samplers()`` lists them.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..errors import ConfigError, unknown_name_error
from ..scoring import binary_entropy

_EPS = 1e-12


# ----------------------------------------------------------------------------- pure functions
def window_difference(window: np.ndarray) -> np.ndarray:
    """Eq. 4: mean absolute difference of successive predictions; ``window`` is (T, n, K), oldest
    first. With fewer than two predictions the difference is 0."""
    w = np.asarray(window, dtype=np.float64)
    if w.shape[0] < 2:
        return np.zeros(w.shape[1:])
    return np.abs(np.diff(w, axis=0)).mean(axis=0)


def label_uncertainty(window: np.ndarray, lambda1: float = 0.5) -> np.ndarray:
    """Eq. 5: ``U = lambda1 * d + (1 - lambda1) * e`` with e of the newest prediction (Eq. 1) and d
    over the window (Eq. 4). ``window``: (T, n, K), oldest first."""
    w = np.asarray(window, dtype=np.float64)
    return lambda1 * window_difference(w) + (1.0 - lambda1) * binary_entropy(w[-1])


def quantize_bins(U: np.ndarray, tau: int = 10) -> np.ndarray:
    """Bin index of each value in ``tau`` bins of width ``1/tau`` over [0, 1] (1.0 goes to the last bin)."""
    return np.clip(np.floor(np.asarray(U, dtype=np.float64) * tau), 0, tau - 1).astype(np.int64)


def mutual_information_matrix(U: np.ndarray, tau: int = 10, diagonal: float = 1.0) -> np.ndarray:
    """Eq. 6: mutual information (natural log) between the binned columns of ``U`` (n, K).

    The joint histograms of all label pairs come at once from one ``np.bincount`` over the codes
    ``(a, b, bin_a, bin_b)`` of every (row, label pair), processed in row chunks (no loop over
    samples). The diagonal is set to ``diagonal`` (1, as the paper says)."""
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
    """Eq. 7-8: ``w_i = sum_j (U C)_ij`` (``C=None``: plain sum over labels), min-max normalised to
    [0, 1] (all equal -> all 0)."""
    U = np.asarray(U, dtype=np.float64)
    Ubar = U if C is None else U @ np.asarray(C, dtype=np.float64)
    w = Ubar.sum(axis=1)
    return minmax(w)


def minmax(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0:
        return w
    lo, hi = float(w.min()), float(w.max())
    return (w - lo) / (hi - lo) if hi - lo > _EPS else np.zeros_like(w)


def quantizer(z: np.ndarray, n: int) -> np.ndarray:
    """Eq. 9: ``Q(z) = floor((1 - z) / Delta)`` with ``Delta = 1 / n`` (integer indices in 0..n)."""
    z = np.asarray(z, dtype=np.float64)
    # a tiny tolerance so that (1 - z) * n landing on an integer is not pushed below it by rounding
    return np.floor((1.0 - z) * n + 1e-9).astype(np.int64)


def selection_probabilities(w: np.ndarray, s: float) -> np.ndarray:
    """Eq. 10: ``P_i ∝ 1 / exp(log(s) / n) ** Q(w_i)``, normalised; computed in log space."""
    w = np.asarray(w, dtype=np.float64)
    n = w.size
    if n == 0:
        return w
    logp = -quantizer(w, n) * (math.log(float(s)) / n)
    logp -= logp.max()
    p = np.exp(logp)
    return p / p.sum()


def pressure(t: int, s0: float, t_start: int, t_end: int) -> float:
    """Eq. 11: ``s_t = s0 * exp(log(1 / s0) / (t_end - t_start)) ** (t - t_start)``, from ``s0`` at
    ``t_start`` down to 1 at ``t_end`` (clamped outside; ``t_end <= t_start`` gives 1 after start)."""
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


# ----------------------------------------------------------------------------- samplers
class BatchSampler:
    """Base class (see the module docstring). Subclasses set ``name`` and override ``_scores``
    (per-row utilities, higher = sampled more) or ``_probabilities``."""

    name = "base"
    display_name = "Base"
    explanation = ""
    adaptive = True      # uses predictions (warm-up with random batches)
    replacement = True   # after the warm-up: draws with replacement from P

    def __init__(self, warmup: int = 5, keep_matrices: bool = True):
        if int(warmup) < 0:
            raise ConfigError(f"{self.name}: warmup must be >= 0, got {warmup}.")
        self.warmup = int(warmup)
        self.keep_matrices = bool(keep_matrices)
        self.reset(0, 0, 1)

    # -- protocol
    def reset(self, n: int, n_labels: int, epochs: int, Y: np.ndarray | None = None) -> None:
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
        if self.warmup <= nxt < self.epochs_ and self.adaptive:  # no probabilities for an epoch that never runs
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
        return pressure(epoch, s0, self.warmup, self.epochs_ - 1)

    def get_params(self) -> dict:
        import inspect

        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class RandomSampler(BatchSampler):
    name = "random"
    display_name = "Random"
    explanation = "A fresh random permutation of the labelled rows every epoch (the usual shuffling)."
    adaptive = False
    replacement = False

    def __init__(self, keep_matrices: bool = True):
        super().__init__(warmup=0, keep_matrices=keep_matrices)


class BalanceSampler(BatchSampler):
    """Hand et al. 2018, as resolved in METHODS.md: static inverse label-frequency weights.

    ``P_i ∝ mean_{j: y_ij = 1} 1 / pi_j`` with ``pi_j`` the label's frequency among the labelled
    rows; a row without positive labels gets weight 1 (the weight of a label present everywhere).
    Uses no predictions, so there is no warm-up (``warmup=0`` by default)."""

    name = "balance"
    display_name = "Balance"
    explanation = "Rows with rare labels are drawn more often: weight = mean inverse frequency of the row's labels."

    def __init__(self, warmup: int = 0, keep_matrices: bool = True):
        super().__init__(warmup=warmup, keep_matrices=keep_matrices)

    def _weights(self, Y: np.ndarray) -> np.ndarray:
        Y, counts = _label_stats(Y)
        n = Y.shape[0]
        inv = np.where(counts > 0, n / np.maximum(counts, 1), 0.0)
        npos = Y.sum(axis=1)
        return np.where(npos > 0, (Y @ inv) / np.maximum(npos, 1), 1.0)

    def _reset_state(self) -> None:
        if self.Y_ is not None and self.warmup == 0 and len(self.Y_):
            w = self._weights(self.Y_)
            p = w / w.sum()
            self._static = p
            self.history.append({"epoch": 0, "p": p, "w": minmax(w), "s": float("nan")})
        else:
            self._static = None

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
    """Keeps the last ``window`` predictions (or the whole history with ``window=None``)."""

    def __init__(self, window: int | None = 5, warmup: int = 5, keep_matrices: bool = True):
        if window is not None and int(window) < 1:
            raise ConfigError(f"{self.name}: window must be >= 1 or None, got {window}.")
        self.window = None if window is None else int(window)
        super().__init__(warmup=warmup, keep_matrices=keep_matrices)

    def _reset_state(self) -> None:
        self._hist = deque(maxlen=self.window)

    def _update(self, epoch, proba, Y):
        self._hist.append(proba.astype(np.float32))

    def _stack(self) -> np.ndarray:
        return np.stack(self._hist).astype(np.float64)


class ActiveBiasSampler(_WindowSampler):
    """Chang et al. 2017 (SGD-SPV), summed over labels as the paper adapts it: per label the
    prediction std over the whole history with the small-sample correction of Eq. 2,
    ``std = sqrt(var + var^2 / (|H| - 1))``, summed over labels; ``P_i ∝ std_i + eps`` with
    ``eps = smoothing * mean(std)`` (Chang et al.'s smoothness constant)."""

    name = "active_bias"
    display_name = "Active Bias"
    explanation = "Rows whose predictions varied most over the whole training history are drawn more often."

    def __init__(self, warmup: int = 5, smoothing: float = 1.0, keep_matrices: bool = True):
        self.smoothing = float(smoothing)
        super().__init__(window=None, warmup=warmup, keep_matrices=keep_matrices)

    def __repr__(self):  # window is fixed to None
        return f"ActiveBiasSampler(warmup={self.warmup}, smoothing={self.smoothing})"

    def get_params(self):
        return {"warmup": self.warmup, "smoothing": self.smoothing, "keep_matrices": self.keep_matrices}

    def _compute(self, epoch, proba, Y):
        H = self._stack()
        if H.shape[0] < 2:
            U = np.zeros(H.shape[1:])
        else:
            var = H.var(axis=0, ddof=1)
            U = np.sqrt(var + var**2 / (H.shape[0] - 1))
        score = U.sum(axis=1)
        eps = self.smoothing * float(score.mean()) + _EPS
        p = (score + eps) / (score + eps).sum()
        return {"p": p, "w": minmax(score), "U": U.astype(np.float32), "s": float("nan")}


class _PressureSampler(_WindowSampler):
    """Score -> min-max -> quantiser (Eq. 9) -> probabilities under decaying pressure (Eq. 10-11)."""

    def __init__(self, window: int | None = 5, s0: float = 100.0, warmup: int = 5, keep_matrices: bool = True):
        if float(s0) < 1:
            raise ConfigError(f"{self.name}: s0 must be >= 1, got {s0}.")
        self.s0 = float(s0)
        super().__init__(window=window, warmup=warmup, keep_matrices=keep_matrices)

    def _score(self, proba, Y) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    def _compute(self, epoch, proba, Y):
        score, extra = self._score(proba, Y)
        w = minmax(score)
        s = self.pressure_at(epoch, self.s0)
        p = selection_probabilities(w, s)
        return {"p": p, "w": w, "s": s, **extra}


class RecencyBiasSampler(_PressureSampler):
    """Song et al. 2020a, summed over labels: per label the entropy (log2) of the binarised
    predictions (threshold 0.5) in the last ``window`` epochs (Eq. 3), summed over labels, then the
    same quantiser and decaying pressure as the uncertainty sampler."""

    name = "recency_bias"
    display_name = "Recency Bias"
    explanation = "Rows whose thresholded predictions flipped most in the recent window are drawn more often."

    def __init__(self, window: int = 5, s0: float = 100.0, warmup: int = 5, keep_matrices: bool = True):
        super().__init__(window=window, s0=s0, warmup=warmup, keep_matrices=keep_matrices)

    def _score(self, proba, Y):
        H = self._stack()
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

    def __init__(self, s0: float = 100.0, warmup: int = 5, keep_matrices: bool = True):
        super().__init__(window=1, s0=s0, warmup=warmup, keep_matrices=keep_matrices)

    def get_params(self):
        return {"s0": self.s0, "warmup": self.warmup, "keep_matrices": self.keep_matrices}

    def __repr__(self):
        return f"HardImbalanceSampler(s0={self.s0}, warmup={self.warmup})"

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
    ``use_correlation=False`` is the released code's variant (C = identity), off by default."""

    name = "uncertainty"
    display_name = "Uncertainty (Zhou et al.)"
    explanation = ("Rows whose labels are uncertain now and fluctuated recently, weighted by how the "
                   "labels' uncertainties go together (mutual information), are drawn more often; "
                   "the preference fades to uniform over training.")

    def __init__(self, window: int = 5, lambda1: float = 0.5, tau: int = 10, s0: float = 100.0,
                 warmup: int = 5, use_correlation: bool = True, keep_matrices: bool = True):
        if not 0.0 <= float(lambda1) <= 1.0:
            raise ConfigError(f"uncertainty: lambda1 must be in [0, 1], got {lambda1}.")
        if int(tau) < 1:
            raise ConfigError(f"uncertainty: tau must be >= 1, got {tau}.")
        self.lambda1 = float(lambda1)
        self.tau = int(tau)
        self.use_correlation = bool(use_correlation)
        super().__init__(window=window, s0=s0, warmup=warmup, keep_matrices=keep_matrices)

    def _score(self, proba, Y):
        U = label_uncertainty(self._stack(), self.lambda1)
        K = U.shape[1]
        C = mutual_information_matrix(U, self.tau) if self.use_correlation else np.eye(K)
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
    """A new sampler: ``name`` is a registry name, or a dict ``{"name": ..., **params}``, or a
    ``BatchSampler`` (returned as a fresh copy with the same parameters)."""
    if isinstance(name, BatchSampler):
        return type(name)(**{**name.get_params(), **params})
    if isinstance(name, dict):
        d = dict(name)
        if "name" not in d:
            raise ConfigError("A batch-sampler dict needs a 'name' key.")
        return make_sampler(d.pop("name"), **{**d, **params})
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in SAMPLERS:
        raise unknown_name_error("batch sampler", str(name), SAMPLERS)
    cls = SAMPLERS[key]
    try:
        return cls(**params)
    except TypeError as exc:
        import inspect

        allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ConfigError(f"Bad parameter(s) for batch sampler {key!r}: {exc}. Known: {', '.join(allowed)}.") from None
