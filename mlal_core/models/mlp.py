"""``MLPEnsemble``: a deep ensemble of one-hidden-layer MLP heads over fixed features.

Each member is ``Linear(d, h) -> ReLU -> Dropout(p) -> Linear(h, K)`` trained with
``BCEWithLogits`` and AdamW, from fresh weights at every ``fit`` (cold start, as the AL papers do).
All members train at once as one stacked model (see ``training.py``); inference runs in row chunks
so that memory stays bounded on large pools.

Probability samples for the strategies (``predict_proba_samples``):

* ``mc_passes=0``: one deterministic sample per member, S = E.
* ``mc_passes=T``: dropout kept on, T passes per member, S = E * T, ordered member-major
  (sample ``s = e * T + t``). Each pass draws one dropout mask of the hidden layer and applies it
  to every row, so a sample is one sub-network evaluated on the whole pool (coherent across rows,
  as the ensemble members are). The masks come from a generator seeded by ``random_state``, so the
  same call on the same fitted model returns the same samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import ConfigError
from ..features.device import resolve_device
from ..validation import Interval, Options, Param
from . import training
from .base import EPOCHS, ENSEMBLE_SIZE, LAYER_WIDTH, MAX_STEPS, MC_PASSES, Device, EnsembleEstimator
from .threads import threaded as _threaded
from .training import Rows, member_seed

Progress = Callable[[int, int, str], None]


def _report(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)


# rows x (members * passes) x (hidden + labels) floats per inference chunk, ~64 MB of float32
_CHUNK_BUDGET = 16 * 1024 * 1024

_POSITIVE_INT = Interval(1, None, integer=True)
_NON_NEGATIVE_INT = Interval(0, None, integer=True)


class MLPEnsemble(EnsembleEstimator):
    """Deep ensemble of MLP heads (Lakshminarayanan et al. 2017, as the BESRA / CRAB ensembles; see the
    module docstring).

    Member e maps features x to ``p_e(x) = sigmoid(W2 dropout(relu(W1 x + b1)) + b2)`` (K labels),
    trained with binary cross-entropy; ``predict_proba`` is the member mean ``pbar = mean_e p_e``.

    Parameters
    ----------
    n_members : ensemble size E.
    hidden_size, dropout : width of the hidden layer and dropout rate after its ReLU.
    epochs, batch_size, min_steps, max_steps : schedule; ``n_steps = max(epochs * ceil(n / batch_size),
        min_steps)``, capped by ``max_steps``. The defaults (20 epochs of 32 rows, at least 300 steps)
        give 300 steps for up to 480 labelled rows and 640 steps for 1000 rows: about 0.5-1.7 s of
        one CPU core for 5 members on 384-d features (see ``benchmark.py``).
    learning_rate, weight_decay : AdamW (fused when available).
    mc_passes : dropout passes per member for ``predict_proba_samples`` (0 = the E members only).
    early_stopping, patience : with ``X_valid`` / ``Y_valid`` given to ``fit``, evaluate the validation
        loss every epoch, keep each member's best weights, stop when no member improved for
        ``patience`` epochs (the schedule above is then the maximum).
    standardize : ``"global"`` (default) centres each input feature on its mean over the training rows
        of this fit and divides all features by one number (their root mean variance); ``"feature"``
        z-scores each feature; ``None`` uses the inputs as given. See ``training.input_standardizer``.
    device : None (CUDA when available, else CPU), "cpu" or "cuda".
    num_threads : torch CPU threads while fitting / predicting (restored afterwards); None keeps
        torch's global setting. Default 1: the head's matrix products are small, and on a busy
        machine a 2-thread team waiting on a descheduled thread was 10x slower than one thread
        (measured: 30 s vs 2.9 s for one 1000-row round on 2 shared cores); results are identical.
    random_state : seeds every member (init, batch order, dropout) and the MC-dropout masks.
    sparse_training : for scipy CSR inputs (TF-IDF): ``"lazy"`` (default) computes the first layer over
        the non-zeros and updates only the first-layer rows of the features in each mini-batch (lazy
        AdamW, see ``training.LazySparseFirstLayer``); ``"dense"`` densifies each mini-batch and runs
        plain AdamW on all weights (exact, but ~20x slower for a 14k-word vocabulary). Sparse inputs
        are scaled, not centred, by ``standardize``.
    batch_sampler : None (plain shuffling), a registry name of ``mlal_core.batch_selection``
        (``"uncertainty"``, ...), a dict ``{"name": ..., **params}`` or a ``BatchSampler``; it picks
        each epoch's mini-batch order over the training rows (see ``training.train_stack``). Stored as
        given; ``fit`` uses an instance as is (reset per fit) or builds one from a name / dict, and
        keeps it as ``batch_sampler_`` (its ``history`` holds the per-epoch U, C, probabilities).
    """

    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("n_members", 5, "ensemble size E", constraint=ENSEMBLE_SIZE),
        Param("hidden_size", 256, "width of the hidden layer", constraint=LAYER_WIDTH),
        Param("dropout", 0.2, "dropout rate after the hidden ReLU", constraint=Interval(0.0, 1.0, closed="left")),
        Param("epochs", 20, "passes over the labelled set (see min_steps / max_steps)", constraint=EPOCHS),
        Param("learning_rate", 1e-3, "AdamW learning rate", constraint=Interval(0.0, None, closed="neither")),
        Param("weight_decay", 1e-2, "AdamW weight decay", constraint=Interval(0.0, None)),
        Param("batch_size", 32, "rows per mini-batch", constraint=_POSITIVE_INT),
        Param("mc_passes", 0, "MC-dropout passes per member (0 = the E members only)", constraint=MC_PASSES),
        Param("device", None, "None (CUDA when available), 'cpu' or 'cuda'", constraint=Device()),
        Param("random_state", 0, "seeds every member and the MC-dropout masks", constraint=Interval(integer=True)),
        Param("min_steps", 300, "at least this many optimiser steps", constraint=Interval(0, MAX_STEPS, integer=True)),
        Param("max_steps", None, "at most this many optimiser steps (None: no cap)",
              constraint=Interval(1, None, integer=True, allow_none=True)),
        Param("early_stopping", False, "stop on the validation loss (needs X_valid / Y_valid in fit)"),
        Param("patience", 5, "epochs without improvement before stopping", constraint=_POSITIVE_INT),
        Param("eval_batch_size", 4096, "rows per inference chunk", constraint=_POSITIVE_INT),
        Param("standardize", "global", "input standardisation", choices=("global", "feature", None)),
        Param("num_threads", 1, "torch CPU threads while fitting / predicting (None: torch's setting)",
              constraint=Interval(1, None, integer=True, allow_none=True)),
        Param("batch_sampler", None, "mini-batch sampler: None, a name, a dict or a BatchSampler; checked by "
              "training.resolve_batch_sampler"),
        Param("sparse_training", "lazy", "first-layer updates for sparse inputs",
              constraint=Options(("lazy", "dense"))),
    )

    def __init__(
        self,
        *,
        n_members: int = 5,
        hidden_size: int = 256,
        dropout: float = 0.2,
        epochs: int = 20,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 32,
        mc_passes: int = 0,
        device=None,
        random_state: int = 0,
        min_steps: int = 300,
        max_steps: int | None = None,
        early_stopping: bool = False,
        patience: int = 5,
        eval_batch_size: int = 4096,
        standardize: str | None = "global",
        num_threads: int | None = 1,
        batch_sampler=None,
        sparse_training: str = "lazy",
    ):
        self.n_members = n_members
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.mc_passes = mc_passes
        self.device = device
        self.random_state = random_state
        self.min_steps = min_steps
        self.max_steps = max_steps
        self.early_stopping = early_stopping
        self.patience = patience
        self.eval_batch_size = eval_batch_size
        self.standardize = standardize
        self.num_threads = num_threads
        self.batch_sampler = batch_sampler
        self.sparse_training = sparse_training

    # ------------------------------------------------------------------ helpers
    def _validate_params(self) -> None:
        """``PARAMS`` (see ``EnsembleEstimator``), then the batch sampler's name / type / parameters."""
        super()._validate_params()
        training.resolve_batch_sampler(self.batch_sampler)  # a wrong type or name fails before training

    @staticmethod
    def _as_X(X, what: str = "X"):
        if sp.issparse(X):
            X = sp.csr_matrix(X, dtype=np.float32)
            data = X.data
        else:
            X = np.asarray(X, dtype=np.float32)
            if X.ndim != 2:
                raise ConfigError(f"{what} must be a 2-D (n, d) array, got shape {X.shape}.")
            data = X
        if data.size and not np.isfinite(data).all():
            raise ConfigError(f"{what} contains {int((~np.isfinite(data)).sum())} NaN/inf values.")
        return X

    @staticmethod
    def _as_Y(Y, n: int, what: str = "Y") -> np.ndarray:
        Y = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
        if Y.ndim != 2 or Y.shape[0] != n:
            raise ConfigError(f"{what} must have shape ({n}, K) to match the features, got {Y.shape}.")
        Yf = Y.astype(np.float32)
        if not np.isin(Yf, (0.0, 1.0)).all():
            raise ConfigError(f"{what} must be a 0/1 label matrix.")
        return Yf

    def _check_fitted(self) -> None:
        if not hasattr(self, "stack_"):
            raise ConfigError("This MLPEnsemble is not fitted yet: call fit(X, Y) first.")

    def _rows(self, X) -> Rows:
        self._check_fitted()
        X = self._as_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ConfigError(
                f"X has {X.shape[1]} features but the model was fitted on {self.n_features_in_}."
            )
        return Rows(X, self.device_, self.input_shift_, self.input_scale_)

    def _chunk_rows(self, per_row: int) -> int:
        return max(1, min(int(self.eval_batch_size), _CHUNK_BUDGET // max(1, per_row)))

    # ------------------------------------------------------------------ API
    @_threaded
    def fit(self, X, Y, X_valid=None, Y_valid=None, progress=None) -> MLPEnsemble:
        """Train all members from scratch on (X, Y); returns self.

        X: dense (n, d) array or scipy CSR; Y: (n, K) 0/1. ``X_valid`` / ``Y_valid`` are used only
        with ``early_stopping=True``. ``progress(done_steps, total_steps, message)`` once per epoch.
        """
        self._validate_params()
        t0 = time.perf_counter()
        X = self._as_X(X)
        n = X.shape[0]
        if n == 0:
            raise ConfigError("Cannot fit MLPEnsemble on 0 labelled samples.")
        Yf = self._as_Y(Y, n)
        dev = resolve_device(self.device)
        Xv = Yv = None
        if self.early_stopping:
            if X_valid is None or Y_valid is None:
                raise ConfigError("early_stopping=True needs X_valid and Y_valid in fit().")
            Xv_arr = self._as_X(X_valid, "X_valid")
            if Xv_arr.shape[1] != X.shape[1]:
                raise ConfigError(f"X_valid has {Xv_arr.shape[1]} features, X has {X.shape[1]}.")
            Yv_arr = self._as_Y(Y_valid, Xv_arr.shape[0], "Y_valid")
            if Yv_arr.shape[1] != Yf.shape[1]:
                raise ConfigError(f"Y_valid has {Yv_arr.shape[1]} labels, Y has {Yf.shape[1]}.")
        shift, scale = training.input_standardizer(X, self.standardize)
        if self.early_stopping:
            Xv, Yv = Rows(Xv_arr, dev, shift, scale), torch.from_numpy(Yv_arr).to(dev)
        sampler = training.resolve_batch_sampler(self.batch_sampler)
        res = training.train_stack(
            Rows(X, dev, shift, scale),
            torch.from_numpy(Yf).to(dev),
            members=range(int(self.n_members)),
            random_state=int(self.random_state),
            hidden_size=int(self.hidden_size),
            dropout=float(self.dropout),
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            min_steps=int(self.min_steps),
            max_steps=None if self.max_steps is None else int(self.max_steps),
            X_valid=Xv,
            Y_valid=Yv,
            patience=int(self.patience) if self.early_stopping else None,
            eval_batch_size=int(self.eval_batch_size),
            progress=progress,
            batch_sampler=sampler,
            sparse_training=self.sparse_training,
        )
        self.batch_sampler_ = sampler
        self.stack_ = res.stack
        self.input_shift_, self.input_scale_ = shift, scale
        self.device_ = dev
        self.n_features_in_ = int(X.shape[1])
        self.n_labels_ = int(Yf.shape[1])
        self.n_steps_ = res.steps
        self.n_epochs_ = res.epochs_run
        self.history_ = {
            "train_loss": res.train_loss,
            "valid_loss": res.valid_loss,
            "best_step": res.best_step,
            "stopped_early": res.stopped_early,
        }
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    @_threaded
    @torch.no_grad()
    def predict_proba(self, X, progress: Progress | None = None) -> np.ndarray:
        """(n, K) float32: mean of the members' probabilities, dropout off (deterministic).
        ``progress(done_rows, n, message)`` after each inference chunk."""
        rows = self._rows(X)
        s = self.stack_
        n, E = rows.shape[0], s.n_members
        out = np.empty((n, self.n_labels_), dtype=np.float32)
        chunk = self._chunk_rows(E * (s.W1.shape[2] + self.n_labels_))
        layer = training.HiddenLayer(s, rows)
        for start in range(0, n, chunk):
            h = layer(start, start + chunk)
            p = torch.sigmoid(torch.baddbmm(s.b2, h, s.W2)).mean(dim=0)
            out[start : start + len(p)] = p.cpu().numpy()
            _report(progress, start + len(p), n, "Predicting with the MLP ensemble")
        return out

    @_threaded
    @torch.no_grad()
    def predict_proba_samples(self, X, progress: Progress | None = None) -> np.ndarray:
        """(S, n, K) float32 probability samples: S = E (``mc_passes=0``) or E * mc_passes (MC dropout);
        ``progress`` as in ``predict_proba``."""
        rows = self._rows(X)
        s = self.stack_
        n, E, H, K = rows.shape[0], s.n_members, s.W1.shape[2], self.n_labels_
        T = int(self.mc_passes)
        S = E * max(T, 1)
        out = np.empty((S, n, K), dtype=np.float32)
        chunk = self._chunk_rows(S * (H + K))
        p = float(self.dropout)
        keep = None
        if T > 0 and p > 0:
            # one dropout mask per (member, pass), shared by every row: sample s = e * T + t is one
            # sub-network applied to the whole pool, so p_s(x) and p_s(x') come from the same model
            # (what BEMPS / BESRA / CRAB compare across x and x'), and the result does not depend on
            # how the pool is chunked
            gen = torch.Generator().manual_seed(member_seed(int(self.random_state), 0, "mcdrop"))
            keep = (torch.rand((E, T, 1, H), generator=gen) >= p).to(self.device_, torch.float32)
            keep = keep * (1.0 / (1.0 - p))
        layer = training.HiddenLayer(s, rows)
        for start in range(0, n, chunk):
            h = layer(start, start + chunk)  # (E, b, H)
            b = h.shape[1]
            if T == 0:
                probs = torch.sigmoid(torch.baddbmm(s.b2, h, s.W2))   # (E, b, K)
            else:
                hh = h.unsqueeze(1).expand(E, T, b, H)
                if keep is not None:
                    hh = hh * keep
                probs = torch.sigmoid(torch.baddbmm(s.b2, hh.reshape(E, T * b, H), s.W2))
                probs = probs.reshape(E * T, b, K)                 # member-major: s = e * T + t
            out[:, start : start + b] = probs.cpu().numpy()
            _report(progress, start + b, n, "Sampling the MLP ensemble")
        return out

    @_threaded
    @torch.no_grad()
    def embed(self, X, progress: Progress | None = None) -> np.ndarray:
        """(n, hidden_size) float32: ReLU hidden activations of member 0 (penultimate features);
        ``progress`` as in ``predict_proba``."""
        rows = self._rows(X)
        s0 = self.stack_.select(slice(0, 1))
        n = rows.shape[0]
        out = np.empty((n, s0.W1.shape[2]), dtype=np.float32)
        chunk = self._chunk_rows(s0.W1.shape[2])
        layer = training.HiddenLayer(s0, rows)
        for start in range(0, n, chunk):
            h = layer(start, start + chunk)[0]
            out[start : start + len(h)] = h.cpu().numpy()
            _report(progress, start + len(h), n, "Embedding with the MLP ensemble")
        return out

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "stack_")
