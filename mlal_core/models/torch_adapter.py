"""``TorchModuleAdapter``: a user's PyTorch module as a workbench model.

The protocol
------------
The module is a ``torch.nn.Module`` whose ``forward(x)`` maps a float32 batch of features
``(b, d)`` to **K logits** ``(b, K)``, one per label (no sigmoid: the adapter applies it). That is
all it needs. Optionally it has ``embed(x) -> (b, h)``, its penultimate features, which strategies
that need a dense representation (BADGE, Core-Set, DAL, AUDI, ...) then use; without it they get the
input features.

What the adapter does with it
-----------------------------
* ``fit(X, Y)`` trains ``n_members`` copies of the module (a deep ensemble), each from fresh weights:
  a deep copy of the module whose submodules with ``reset_parameters()`` are re-initialised with
  the member's seed (``reinitialize=True``, the cold start of every AL round; with
  ``reinitialize=False`` each copy starts from the module's own weights). Training is ``epochs``
  passes of shuffled mini-batches of ``batch_size`` rows, ``BCEWithLogitsLoss`` (the mean over rows
  and labels, Eq. 1 of the multi-label BCE), and AdamW.
* ``predict_proba(X)`` is ``sigmoid(module(x))`` with the module in eval mode (dropout off), the
  mean over the members; ``predict_proba_samples(X)`` gives one sample per member
  (``mc_passes=0``) or ``mc_passes`` MC-dropout passes per member (only the ``Dropout`` submodules
  are switched to train mode; each pass draws its own masks from a seeded generator), ``S =
  n_members * max(mc_passes, 1)``, member-major.
* Seeds: ``random_state`` (the session sets ``seed + t`` in round ``t``) seeds the initial weights, the
  batch order, the training dropout and the MC-dropout masks of every member
  (``training.member_seed``), so the same call gives the same result.
* Device: ``device=None`` runs on CUDA when available, else the CPU (``features.device.resolve_device``),
  the same rule as the other models; inputs are float32, scipy sparse rows are densified per batch.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import ConfigError
from ..features.device import resolve_device
from .base import EnsembleEstimator
from .threads import threaded
from .training import member_seed

Progress = Callable[[int, int, str], None]


def _is_int(value: Any, low: int) -> bool:
    return bool(isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low)


@contextlib.contextmanager
def _seeded_rng(device: torch.device, seed: int) -> Iterator[None]:
    """The global torch RNG forked and seeded with ``seed`` (the module's own layers draw from it)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class TorchModuleAdapter(EnsembleEstimator):
    """A PyTorch module mapping ``(b, d)`` features to ``(b, K)`` logits, trained with BCE by the adapter.

    See the module docstring for the protocol, the training and the seeding.

    Parameters
    ----------
    module : torch.nn.Module
        The network: ``forward(x)`` with ``x`` a ``(b, d)`` float32 tensor returns ``(b, K)`` logits;
        optional ``embed(x) -> (b, h)``. Deep-copied for every member at every ``fit``; never modified.
    n_members : int, default 1
        Ensemble size E (independently initialised and trained copies).
    mc_passes : int, default 0
        MC-dropout passes per member in ``predict_proba_samples`` (0: one deterministic sample per member).
    epochs : int, default 20
        Passes over the labelled set (0 trains nothing: the module's weights are used as they are,
        after re-initialisation unless ``reinitialize=False``).
    batch_size : int, default 32
        Rows per mini-batch (training and inference).
    learning_rate, weight_decay : float, default 1e-3, 0.0
        AdamW.
    reinitialize : bool, default True
        Re-initialise each copy's parameters (``reset_parameters()`` of every submodule that has it)
        with the member's seed at every ``fit``.
    device : str, torch.device or None, default None
        None: CUDA when available, else the CPU.
    num_threads : int or None, default 1
        Torch CPU threads while fitting / predicting (restored afterwards; None keeps torch's global
        setting). One thread, as the other models: small networks on a busy machine ran 30x slower
        on 2 threads than on 1 (measured: 30.6 s vs 1.05 s for 2 members x 25 epochs of 240 rows).
    random_state : int, default 0
        Seeds weights, batch order and dropout of every member.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(72, 32), torch.nn.ReLU(), torch.nn.Linear(32, 6))
    >>> model = TorchModuleAdapter(net, n_members=3, epochs=10)
    """

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        n_members: int = 1,
        mc_passes: int = 0,
        epochs: int = 20,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        reinitialize: bool = True,
        device: str | torch.device | None = None,
        num_threads: int | None = 1,
        random_state: int = 0,
    ) -> None:
        self.module = module
        self.n_members = n_members
        self.mc_passes = mc_passes
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.reinitialize = reinitialize
        self.device = device
        self.num_threads = num_threads
        self.random_state = random_state
        self._validate_params()

    def _validate_params(self) -> None:
        if not isinstance(self.module, torch.nn.Module):
            raise ConfigError(
                f"TorchModuleAdapter needs a torch.nn.Module mapping (batch, d) features to (batch, K) logits; "
                f"got {type(self.module).__name__}. For a scikit-learn estimator use SklearnAdapter."
            )
        for name, low in (("n_members", 1), ("mc_passes", 0), ("epochs", 0), ("batch_size", 1), ("random_state", 0)):
            if not _is_int(getattr(self, name), low):
                raise ConfigError(f"{name} must be an integer >= {low}; got {getattr(self, name)!r}.")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be a positive number; got {self.learning_rate!r}.")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay must be 0 or more; got {self.weight_decay!r}.")
        if not isinstance(self.reinitialize, bool):
            raise ConfigError(f"reinitialize must be True or False; got {self.reinitialize!r}.")

    # ------------------------------------------------------------------ helpers
    def _tensor(self, X: Any, rows: slice | np.ndarray) -> torch.Tensor:
        block = X[rows]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        return torch.as_tensor(np.ascontiguousarray(block, dtype=np.float32), device=self.device_)

    def _logits(self, net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = net(x)
        if not isinstance(out, torch.Tensor) or out.shape != (x.shape[0], self.n_labels_):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ConfigError(
                f"The module must return (batch, K) = ({x.shape[0]}, {self.n_labels_}) logits for a "
                f"(batch, d) input; it returned {shape}."
            )
        return out

    def _fresh_member(self, e: int) -> torch.nn.Module:
        net = copy.deepcopy(self.module).to(self.device_)
        if self.reinitialize:
            with _seeded_rng(self.device_, member_seed(int(self.random_state), e, "init")):
                for sub in net.modules():
                    reset = getattr(sub, "reset_parameters", None)
                    if callable(reset):
                        reset()
        return net

    def _train_member(self, net: torch.nn.Module, X: Any, Y: torch.Tensor, e: int) -> None:
        n = Y.shape[0]
        order_gen = torch.Generator().manual_seed(member_seed(int(self.random_state), e, "order"))
        opt = torch.optim.AdamW(net.parameters(), lr=float(self.learning_rate), weight_decay=float(self.weight_decay))
        loss_fn = torch.nn.BCEWithLogitsLoss()
        net.train()
        with _seeded_rng(self.device_, member_seed(int(self.random_state), e, "dropout")):
            for _epoch in range(int(self.epochs)):
                perm = torch.randperm(n, generator=order_gen).numpy()
                for batch in _batches(n, int(self.batch_size)):
                    idx = perm[batch]
                    opt.zero_grad()
                    loss = loss_fn(self._logits(net, self._tensor(X, idx)), Y[idx])
                    loss.backward()
                    opt.step()
        net.eval()

    # ------------------------------------------------------------------ contract
    @threaded
    def fit(self, X: Any, Y: Any, X_valid: Any = None, Y_valid: Any = None,
            progress: Progress | None = None) -> TorchModuleAdapter:
        """Train ``n_members`` fresh copies of the module on ``(X, Y)`` with BCE.

        Parameters
        ----------
        X : array-like or scipy sparse matrix
            ``(n, d)`` features.
        Y : array-like
            ``(n, K)`` 0/1 labels.
        X_valid, Y_valid : ignored
            Accepted for the model contract.
        progress : callable, optional
            ``progress(done_members, n_members, message)`` after each member.

        Returns
        -------
        TorchModuleAdapter
            ``self``, fitted (``members_``: the trained copies).
        """
        Y_arr = np.asarray(Y.toarray() if sp.issparse(Y) else Y, dtype=np.float32)
        if Y_arr.ndim != 2 or Y_arr.shape[0] != X.shape[0]:
            raise ConfigError(f"Y must be an (n, K) 0/1 matrix with n = {X.shape[0]} rows; got shape {Y_arr.shape}.")
        self.device_ = resolve_device(self.device)
        self.n_labels_ = int(Y_arr.shape[1])
        Y_t = torch.as_tensor(Y_arr, device=self.device_)
        self.members_ = []
        for e in range(int(self.n_members)):
            net = self._fresh_member(e)
            if e == 0 and X.shape[0]:  # the protocol, checked before any training
                with torch.no_grad():
                    self._logits(net.eval(), self._tensor(X, slice(0, 1)))
            self._train_member(net, X, Y_t, e)
            self.members_.append(net)
            if progress is not None:
                progress(e + 1, int(self.n_members), f"Training the PyTorch module ({e + 1} of {self.n_members})")
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise ConfigError("This TorchModuleAdapter is not fitted yet: call fit(X, Y) first.")

    @torch.no_grad()
    def _proba(self, net: torch.nn.Module, X: Any) -> np.ndarray:
        n = X.shape[0]
        out = np.empty((n, self.n_labels_), dtype=np.float32)
        for batch in _batches(n, int(self.batch_size)):
            out[batch] = torch.sigmoid(self._logits(net, self._tensor(X, batch))).float().cpu().numpy()
        return out

    @threaded
    def predict_proba_samples(self, X: Any, progress: Progress | None = None) -> np.ndarray:
        """``(S, n, K)`` probability samples: per member, dropout off or ``mc_passes`` MC-dropout passes.

        Parameters
        ----------
        X : array-like or scipy sparse matrix
            ``(n, d)`` features.
        progress : callable, optional
            ``progress(done_samples, S, message)`` after each sample.

        Returns
        -------
        numpy.ndarray
            ``(S, n, K)`` float32, member-major (sample ``e * T + t``).
        """
        self._check_fitted()
        T = int(self.mc_passes)
        samples = []
        for e, net in enumerate(self.members_):
            if T == 0:
                samples.append(self._proba(net, X))
            else:
                dropouts = [m for m in net.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
                for m in dropouts:
                    m.train()
                try:
                    for t in range(T):
                        with _seeded_rng(self.device_, member_seed(int(self.random_state), e * T + t, "mcdrop")):
                            samples.append(self._proba(net, X))
                finally:
                    net.eval()
            if progress is not None:
                progress(len(samples), self.n_samples, "Sampling the PyTorch module")
        return np.stack(samples)

    @threaded
    def predict_proba(self, X: Any, progress: Progress | None = None) -> np.ndarray:
        """``(n, K)``: ``sigmoid(module(x))`` with dropout off, the mean over the members.

        Parameters
        ----------
        X : array-like or scipy sparse matrix
            ``(n, d)`` features.
        progress : callable, optional
            ``progress(done_members, n_members, message)`` after each member.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` float32.
        """
        self._check_fitted()
        total = np.zeros((X.shape[0], self.n_labels_), dtype=np.float64)
        for e, net in enumerate(self.members_):
            total += self._proba(net, X)
            if progress is not None:
                progress(e + 1, len(self.members_), "Predicting with the PyTorch module")
        return (total / len(self.members_)).astype(np.float32)

    @threaded
    @torch.no_grad()
    def embed(self, X: Any, progress: Progress | None = None) -> np.ndarray:
        """``(n, h)`` float32: member 0's ``module.embed(x)`` when the module has one, else the features.

        Parameters
        ----------
        X : array-like or scipy sparse matrix
            ``(n, d)`` features.
        progress : callable, optional
            Called once at the end, ``progress(n, n, message)``.

        Returns
        -------
        numpy.ndarray
            ``(n, h)`` float32 (``h = d`` without ``module.embed``).
        """
        self._check_fitted()
        net = self.members_[0]
        n = X.shape[0]
        embed: Any = getattr(net, "embed", None)
        if not callable(embed):
            out = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)
        else:
            out = np.concatenate([embed(self._tensor(X, b)).float().cpu().numpy()
                                  for b in _batches(n, int(self.batch_size))]) if n else np.zeros((0, 0), np.float32)
        if progress is not None:
            progress(n, n, "Embedding with the PyTorch module")
        return out
