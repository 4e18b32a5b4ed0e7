"""Deep ensembles of text networks trained end to end on token ids: TextCNN, TextRNN, transformer.

The backbones of the papers: CRAB trains 5-member ensembles of TextCNN, TextRNN and DistilBERT
(cold start every round, AdamW, max length 256, up to 80 epochs, early stopping with patience 20,
learning rate 5e-2 for TextCNN / TextRNN and 5e-5 for DistilBERT; TextCNN defaults to 8e-3 here,
see its note); BEAL samples a fine-tuned BERT with MC dropout (100 passes); CoMAL fine-tunes BERT
with its 9 lowest of 12 layers frozen under a 2-layer MLP (AdamW 1e-4, batch 64, patience 6); the
XMTC strategy study puts a CNN head on BERT (Adam, 5e-5, batch 16, at most 15 epochs with early
stopping). The networks are in ``backbones.py``; the input ``X`` is the int32
token matrix of ``featurize(ds, "tokens", max_length=...)``.

:class:`DeepTextEnsemble` holds what the three share; :class:`TextCNNEnsemble`,
:class:`TextRNNEnsemble` and :class:`TransformerEnsemble` add their backbone's parameters and
defaults. The API is :class:`~mlal_core.models.MLPEnsemble`'s.

Training: members one after another, each from a fresh network (new random weights, or a fresh
copy of the pretrained encoder with a new head) at every ``fit``, with its own seeds
``member_seed(random_state, e, stream)`` for the initialisation ("init"), the mini-batch order
("order") and the dropout masks ("dropout"); global torch RNG state is restored afterwards.
Loss: mean binary cross-entropy over labels; AdamW. With validation data and ``early_stopping``,
the validation loss is computed after every epoch, the member keeps its weights of the best epoch,
and it stops after ``patience`` epochs without improvement.

Probability samples (``predict_proba_samples``, (S, n, K)), member-major (``s = e * T + t``):

* ``mc_passes=0``: one deterministic sample per member (dropout off), S = E.
* ``mc_passes=T``, ``mc_scope="full"``: dropout on everywhere (inside BERT too), T passes per member,
  S = E * T (BEAL, Gal & Ghahramani 2016). Masks are drawn per row, from the global generator
  seeded per (member, pass, chunk of ``eval_batch_size`` rows), so the same fitted model gives the
  same samples for the same X and ``eval_batch_size``.
* ``mc_passes=T``, ``mc_scope="head"``: the trunk runs once per member without dropout and only the
  dropout before the classifier is sampled: one mask per (member, pass), shared by all rows (one
  sub-network per sample, as ``MLPEnsemble`` does), seeded by ``member_seed(random_state, e,
  "mcdrop")``. T times cheaper than "full" for the expensive part. For TextCNN and TextRNN all
  dropout sits before the classifier anyway (Kim 2014, NeuralClassifier), so "full" and "head"
  sample the same kind of sub-networks there; only the mask sharing and the cost differ.

Inference sorts the rows by length and runs chunks of ``eval_batch_size`` rows, each cut to its
longest text.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..features import tokens
from ..features.device import PRECISIONS, precision_name, resolve_device, resolve_precision
from ..validation import IntegerSequence, Interval, Options, Param
from . import backbones, training
from .base import EPOCHS, ENSEMBLE_SIZE, LAYER_WIDTH, MAX_WIDTH, MC_PASSES, Device, EnsembleEstimator
from .pretrained import ENCODERS
from .threads import threaded
from .training import member_seed

if TYPE_CHECKING:
    from transformers import BertModel

Progress = Callable[[int, int, str], None]

_AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _rng_devices(dev: torch.device) -> list[int]:
    """Devices whose RNG ``torch.random.fork_rng`` must save and restore (none for the CPU)."""
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


def _load_pretrained_quietly(encoder: str) -> BertModel:
    """A fresh copy of the pretrained encoder, with the transformers load report silenced."""
    from transformers.utils import logging as hf_logging

    from .pretrained import load_pretrained

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return load_pretrained(encoder)[1]
    finally:
        hf_logging.set_verbosity(old)


_POSITIVE_INT = Interval(1, None, integer=True)


def _shared_params(
    *, dropout: float, learning_rate: float, batch_size: int, epochs: int, patience: int, max_length: int
) -> tuple[Param, ...]:
    """The declarations of :class:`DeepTextEnsemble`'s parameters, with a backbone's paper defaults."""
    return (
        Param("n_members", 5, "ensemble size E", constraint=ENSEMBLE_SIZE),
        Param("mc_passes", 0, "MC-dropout passes T per member (0 = members only)", constraint=MC_PASSES),
        Param("mc_scope", "full", "'full' (dropout everywhere) or 'head' (dropout only before the classifier)",
              choices=("full", "head")),
        Param("dropout", dropout, "dropout before the classifier", constraint=Interval(0.0, 1.0, closed="left")),
        Param("learning_rate", learning_rate, "AdamW learning rate", constraint=Interval(0.0, None, closed="neither")),
        Param("weight_decay", 0.01, "AdamW weight decay", constraint=Interval(0.0, None)),
        Param("batch_size", batch_size, "rows per mini-batch", constraint=_POSITIVE_INT),
        Param("epochs", epochs, "maximum number of epochs", constraint=EPOCHS),
        Param("early_stopping", True, "stop on the validation loss (with X_valid / Y_valid in fit)"),
        Param("patience", patience, "epochs without improvement before a member stops", constraint=_POSITIVE_INT),
        Param("max_length", max_length, "token columns used", constraint=Interval(2, tokens.MAX_LENGTH_LIMIT, integer=True)),
        Param("device", None, "None (CUDA when available), 'cpu' or 'cuda'", constraint=Device()),
        Param("precision", "auto", "autocast precision", constraint=Options(PRECISIONS, ignore_case=True)),
        Param("eval_batch_size", None, "rows per inference chunk (None: 128 on the CPU, 512 on CUDA)",
              constraint=Interval(1, None, integer=True, allow_none=True)),
        Param("num_threads", 1, "torch CPU threads while fitting / predicting (None: torch's setting)",
              constraint=Interval(1, None, integer=True, allow_none=True)),
        Param("random_state", 0, "seeds every member and the MC passes", constraint=Interval(integer=True)),
        Param("batch_sampler", None, "mini-batch sampler: None, a name, a dict or a BatchSampler; checked by "
              "training.resolve_batch_sampler"),
    )


_EMBEDDING_PARAMS = (
    Param("embedding_init", "scratch", "'scratch' (random, learned) or 'minilm' (MiniLM's word embeddings)",
          choices=("scratch", "minilm")),
    Param("embedding_dim", None, "from scratch: None = 300; with 'minilm' it must stay None (384)",
          constraint=Interval(1, MAX_WIDTH, integer=True, allow_none=True)),
)
_CONV_PARAMS = (
    Param("kernel_sizes", (3, 4, 5), "filter widths (Kim 2014: 3, 4, 5)", constraint=IntegerSequence(1)),
    Param("n_filters", 100, "filters per width (Kim 2014: 100)", constraint=LAYER_WIDTH),
)


class DeepTextEnsemble(EnsembleEstimator):
    """Base of the deep text ensembles (see the module docstring); not registered itself.

    Parameters (shared; each subclass sets the defaults of its paper)
    ----------
    n_members : ensemble size E (5, as CRAB / BESRA).
    mc_passes : MC-dropout passes T per member for ``predict_proba_samples`` (0 = members only).
        BEAL uses 100; on a CPU 10-20 is the practical range.
    mc_scope : ``"full"`` (dropout everywhere) or ``"head"`` (backbone deterministic, dropout only
        before the classifier).
    dropout : rate of the dropout before the classifier (and inside the "mlp" head).
    learning_rate, weight_decay : AdamW (CRAB); weight decay 0.01 is torch's AdamW default (no paper
        gives one).
    batch_size, epochs : mini-batch size and maximum number of epochs.
    early_stopping, patience : with ``X_valid`` / ``Y_valid`` given to ``fit``: keep each member's
        weights of its best validation loss and stop it after ``patience`` epochs without
        improvement. Without validation data all ``epochs`` run.
    max_length : token columns used; wider inputs are cut (texts re-terminated with [SEP]).
    device : None (CUDA when available, else the CPU), "cpu" or "cuda".
    precision : "auto" (bf16 autocast on CUDA where supported, else fp16 with a gradient scaler; on
        the CPU bf16 only with native bf16, else fp32; ``features.device.resolve_precision``),
        "fp32", "bf16" or "fp16" (CUDA only).
    eval_batch_size : rows per inference chunk; None = 128 on the CPU, 512 on CUDA.
    num_threads : torch CPU threads while fitting / predicting (default 1, see ``threads.py``).
    random_state : seeds every member (initialisation, batch order, dropout) and the MC passes.
    batch_sampler : None (plain shuffling), a registry name of ``mlal_core.batch_selection``
        (``"uncertainty"``, ...), a dict ``{"name": ..., **params}`` or a ``BatchSampler``, as for
        ``MLPEnsemble``: it picks each epoch's mini-batch order over the training rows. The members
        train one after another, so the sampler is reset at the start of every member and follows
        that member's own predictions (a dropout-off pass over the training rows after each epoch);
        after ``fit``, ``batch_sampler_`` is the sampler with the last member's ``history``.
    """

    #: what the model reads its input with, for messages
    display_name = "deep text model"

    def __init__(
        self,
        *,
        n_members: int,
        mc_passes: int,
        mc_scope: str,
        dropout: float,
        learning_rate: float,
        weight_decay: float,
        batch_size: int,
        epochs: int,
        early_stopping: bool,
        patience: int,
        max_length: int,
        device,
        precision: str,
        eval_batch_size: int | None,
        num_threads: int | None,
        random_state: int,
        batch_sampler=None,
    ):
        self.n_members = n_members
        self.mc_passes = mc_passes
        self.mc_scope = mc_scope
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.patience = patience
        self.max_length = max_length
        self.device = device
        self.precision = precision
        self.eval_batch_size = eval_batch_size
        self.num_threads = num_threads
        self.random_state = random_state
        self.batch_sampler = batch_sampler

    # ------------------------------------------------------------------ subclass hooks
    def _load_shared(self):
        """What every member's network is built from, loaded once per ``fit`` (e.g. embeddings); None here."""

    def _build_network(self, n_labels: int, shared) -> backbones.TextClassifier:
        raise NotImplementedError

    # ------------------------------------------------------------------ validation
    def _need(self, cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(f"{type(self).__name__}: {msg}")

    def _validate_params(self) -> None:
        """``PARAMS`` (see ``EnsembleEstimator``), then the batch sampler's name / type / parameters."""
        super()._validate_params()
        training.resolve_batch_sampler(self.batch_sampler)  # a bad name / type / parameter raises here

    def _token_ids(self, X, what: str = "X") -> np.ndarray:
        """``X`` as a validated int32 token matrix, cut to ``max_length`` columns."""
        hint = "use representation 'tokens' (featurize(ds, 'tokens', max_length=...))"
        if sp.issparse(X):
            raise ConfigError(f"{what} is a sparse matrix, but {self.display_name}s read token ids: {hint}.")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] < 1 or not np.issubdtype(X.dtype, np.integer):
            raise ConfigError(
                f"{what} must be a 2-D integer matrix of token ids (n, max_length), got shape {X.shape} "
                f"and dtype {X.dtype}: {hint}."
            )
        vocab = tokens.vocab_size()
        if X.size and (int(X.min()) < 0 or int(X.max()) >= vocab):
            raise ConfigError(
                f"{what} has token ids outside [0, {vocab}) (min {int(X.min())}, max {int(X.max())}): "
                f"they do not come from the bundled tokenizer; {hint}."
            )
        real = X != tokens.PAD_ID
        if len(X) and not real[:, 0].all():
            raise ConfigError(
                f"{what} row {int(np.flatnonzero(~real[:, 0])[0])} starts with padding: every row needs its "
                f"tokens first ([CLS] ... [SEP]) and padding (0) after them; {hint}."
            )
        if (real[:, 1:] & ~real[:, :-1]).any():
            raise ConfigError(f"{what} has token ids after padding: pad with 0 on the right only; {hint}.")
        return tokens.truncate(X, int(self.max_length)).astype(np.int32, copy=False)

    @staticmethod
    def _labels(Y, n: int, what: str = "Y") -> np.ndarray:
        Y = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
        if Y.ndim != 2 or Y.shape[0] != n or Y.shape[1] < 1:
            raise ConfigError(
                f"{what} must be a 0/1 label matrix of shape ({n}, K) to match the token rows, got {Y.shape}."
            )
        Yf = Y.astype(np.float32)
        if not np.isin(Yf, (0.0, 1.0)).all():
            raise ConfigError(f"{what} must be a 0/1 label matrix.")
        return Yf

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise ConfigError(f"This {type(self).__name__} is not fitted yet: call fit(X, Y) first.")

    # ------------------------------------------------------------------ helpers
    def _autocast(self, dev: torch.device, amp: torch.dtype | None):
        return torch.autocast(dev.type, dtype=amp) if amp is not None else contextlib.nullcontext()

    def _chunks(self, ids: np.ndarray, dev: torch.device) -> list[np.ndarray]:
        """Row indices of the inference chunks: longest texts first, ``eval_batch_size`` rows each."""
        size = self.eval_batch_size or (512 if dev.type == "cuda" else 128)
        order = np.argsort(-(ids != tokens.PAD_ID).sum(axis=1), kind="stable")
        return [order[s : s + size] for s in range(0, len(order), size)]

    def _batch(self, ids: np.ndarray, rows, dev: torch.device) -> torch.Tensor:
        return torch.from_numpy(ids[rows]).to(dev, torch.long)

    def _eval_logits(self, net, ids: np.ndarray, dev, amp):
        """``(rows, logits)`` of ``net`` (dropout off) per inference chunk of ``ids``."""
        net.eval()
        for rows in self._chunks(ids, dev):
            with self._autocast(dev, amp):
                logits = net(self._batch(ids, rows, dev))
            yield rows, logits.float()

    @torch.inference_mode()
    def _mean_loss(self, net, ids: np.ndarray, Y: torch.Tensor, dev, amp) -> float:
        """Mean BCE of ``net`` (dropout off) on (ids, Y)."""
        total = 0.0
        for rows, logits in self._eval_logits(net, ids, dev, amp):
            y = Y[torch.from_numpy(rows).to(dev)]
            total += float(F.binary_cross_entropy_with_logits(logits, y, reduction="sum"))
        return total / Y.numel()

    @torch.inference_mode()
    def _net_proba(self, net, ids: np.ndarray, dev, amp) -> np.ndarray:
        """(n, K) float64 probabilities of ``net`` (dropout off) on ``ids``, in row order."""
        out = np.empty((len(ids), net.classifier.out_features), dtype=np.float64)
        for rows, logits in self._eval_logits(net, ids, dev, amp):
            out[rows] = torch.sigmoid(logits).double().cpu().numpy()
        return out

    def _step(
        self, net, opt, scaler, ids: np.ndarray, Y: torch.Tensor, rows: np.ndarray, dev, amp
    ) -> torch.Tensor:
        """One AdamW step on the mini-batch ``rows``; returns its loss (mean BCE)."""
        with self._autocast(dev, amp):
            logits = net(self._batch(ids, rows, dev))
        loss = F.binary_cross_entropy_with_logits(logits.float(), Y[torch.from_numpy(rows).to(dev)])
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss.detach()

    def _fit_member(
        self, e: int, ids, Y, valid: tuple[np.ndarray, torch.Tensor] | None, dev, amp, shared, report, sampler=None
    ) -> tuple:
        """Train member ``e`` from scratch; returns (network, its history).

        With a ``sampler`` (a ``BatchSampler``) the epoch's row order is ``sampler.epoch_order(epoch,
        n, rng)`` (numpy generator seeded by ``member_seed(random_state, e, "order")``) instead of
        ``torch.randperm``; the sampler is reset for this member and, after every epoch, observes
        the member's probabilities on the training rows (dropout off), as ``training.train_stack``."""
        n, K = Y.shape
        bs = min(int(self.batch_size), n)
        rs = int(self.random_state)
        with torch.random.fork_rng(devices=_rng_devices(dev)):
            torch.manual_seed(member_seed(rs, e, "init"))
            net = self._build_network(K, shared).to(dev)
            torch.manual_seed(member_seed(rs, e, "dropout"))
            order = torch.Generator().manual_seed(member_seed(rs, e, "order"))
            trainable = [p for p in net.parameters() if p.requires_grad]
            opt = training.make_adamw(trainable, float(self.learning_rate), float(self.weight_decay))
            scaler = torch.amp.GradScaler(dev.type, enabled=amp is torch.float16)
            hist: dict[str, Any] = {"train_loss": [], "valid_loss": [], "best_epoch": None, "stopped_early": False}
            best_loss, best_params, bad = math.inf, None, 0
            if sampler is not None:
                Y_np = Y.cpu().numpy()
                order_rng = np.random.default_rng(member_seed(rs, e, "order"))
                sampler.reset(n, K, int(self.epochs), Y_np)
                sampler.bind_predictor(lambda X: self._net_proba(net, self._token_ids(X), dev, amp))
            for epoch in range(int(self.epochs)):
                net.train()
                losses = []
                if sampler is None:
                    perm = torch.randperm(n, generator=order).numpy()
                else:
                    perm = np.asarray(sampler.epoch_order(epoch, n, order_rng), dtype=np.int64)
                for start in range(0, n, bs):
                    losses.append(self._step(net, opt, scaler, ids, Y, perm[start : start + bs], dev, amp))
                    report(1, f"member {e + 1}, epoch {epoch + 1}")
                hist["train_loss"].append(float(torch.stack(losses).mean()))
                if sampler is not None:
                    sampler.observe(epoch, self._net_proba(net, ids, dev, amp), Y_np)
                if valid is None:
                    continue
                vl = self._mean_loss(net, *valid, dev, amp)
                hist["valid_loss"].append(vl)
                if vl < best_loss - 1e-6:
                    best_loss, bad, hist["best_epoch"] = vl, 0, epoch + 1
                    best_params = [p.detach().clone() for p in trainable]
                else:
                    bad += 1
                    if bad >= int(self.patience) and epoch + 1 < int(self.epochs):
                        hist["stopped_early"] = True
                        report(
                            (int(self.epochs) - epoch - 1) * math.ceil(n / bs),
                            f"member {e + 1} stopped early after epoch {epoch + 1}",
                        )
                        break
        if best_params is not None:
            with torch.no_grad():
                for p, best in zip(trainable, best_params):
                    p.copy_(best)
        net.eval()
        net.requires_grad_(False)
        return net, hist

    # ------------------------------------------------------------------ API
    @threaded
    def fit(self, X, Y, X_valid=None, Y_valid=None, progress: Progress | None = None):
        """Train all members from scratch on (X, Y); returns self.

        X: (n, L) int32 token ids (representation "tokens"); Y: (n, K) 0/1. ``X_valid`` / ``Y_valid``
        drive early stopping (``early_stopping=True``). ``progress(done, total, message)`` after
        every mini-batch, ``total = n_members * epochs * ceil(n / batch_size)`` (a member that
        stops early skips its remaining batches).
        """
        self._validate_params()
        t0 = time.perf_counter()
        dev = resolve_device(self.device)
        amp = resolve_precision(self.precision, dev)
        ids = self._token_ids(X)
        n = len(ids)
        if n == 0:
            raise ConfigError(f"Cannot fit {type(self).__name__} on 0 labelled texts.")
        Yf = self._labels(Y, n)
        if (X_valid is None) != (Y_valid is None):
            raise ConfigError("Pass both X_valid and Y_valid to fit(), or neither.")
        valid = None
        if X_valid is not None and self.early_stopping:
            ids_v = self._token_ids(X_valid, "X_valid")
            Yv = self._labels(Y_valid, len(ids_v), "Y_valid")
            if Yv.shape[1] != Yf.shape[1]:
                raise ConfigError(f"Y_valid has {Yv.shape[1]} labels, Y has {Yf.shape[1]}.")
            if len(ids_v):
                valid = (ids_v, torch.from_numpy(Yv).to(dev))
        E = int(self.n_members)
        total = E * int(self.epochs) * math.ceil(n / min(int(self.batch_size), n))
        done = 0
        name = type(self).__name__

        def report(steps: int, what: str) -> None:
            nonlocal done
            done += steps
            if progress is not None:
                progress(done, total, f"Training {name} ({what})")

        sampler = training.resolve_batch_sampler(self.batch_sampler)
        shared = self._load_shared()
        Y_dev = torch.from_numpy(Yf).to(dev)
        members, history = [], []
        for e in range(E):
            net, hist = self._fit_member(e, ids, Y_dev, valid, dev, amp, shared, report, sampler)
            members.append(net)
            history.append(hist)
        self.batch_sampler_ = sampler
        self.members_ = members
        self.device_ = dev
        self.n_labels_ = int(Yf.shape[1])
        self.embedding_dim_ = int(members[0].trunk.out_dim)
        self.precision_ = precision_name(amp)
        self.history_ = {key: [h[key] for h in history] for key in history[0]}
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    @torch.inference_mode()
    def _infer(self, X, *, samples: str | None, embedding: bool, progress: Progress | None, message: str):
        """One pass over X: ``samples`` "members" -> (E, n, K) deterministic, "mc" -> (S, n, K) as
        ``predict_proba_samples``, None -> no probabilities; ``embedding`` -> member 0's z (n, F)."""
        self._check_fitted()
        self._validate_params()  # mc_passes / mc_scope / eval_batch_size may have been set after fit
        ids = self._token_ids(X)
        n, K, dev = len(ids), self.n_labels_, self.device_
        amp = _AMP_DTYPES[self.precision_]
        nets = self.members_ if samples else self.members_[:1]
        E = len(nets)
        T = int(self.mc_passes) if samples == "mc" else 0
        full_mc = T > 0 and self.mc_scope == "full"
        probs = np.empty((E * max(T, 1), n, K), dtype=np.float32) if samples else None
        z0 = np.empty((n, self.embedding_dim_), dtype=np.float32) if embedding else None
        keep = self._head_masks(T, dev) if T > 0 and not full_mc else None
        chunks = self._chunks(ids, dev)
        passes = E * (T if full_mc else 1) + (1 if full_mc and embedding else 0)
        total, done = len(chunks) * passes, 0

        def report() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total, message)

        for c, rows in enumerate(chunks):
            batch = self._batch(ids, rows, dev)
            for e, net in enumerate(nets):
                if not full_mc or (e == 0 and embedding):
                    net.eval()
                    with self._autocast(dev, amp):
                        z = net.features(batch).float()
                    report()
                    if e == 0 and z0 is not None:  # z0 is None unless embedding
                        z0[rows] = z.cpu().numpy()
                if probs is None:  # no samples asked for
                    continue
                if T == 0:
                    probs[e][rows] = torch.sigmoid(net.classifier(z)).cpu().numpy()
                elif keep is not None:  # head-only MC: (T, b, F) masked copies of z through the classifier
                    p = torch.sigmoid(net.classifier(z.unsqueeze(0) * keep[e].unsqueeze(1)))
                    probs[e * T : (e + 1) * T][:, rows] = p.cpu().numpy()
                else:
                    net.train()
                    for t in range(T):
                        with torch.random.fork_rng(devices=_rng_devices(dev)):
                            torch.manual_seed(self._pass_seed(e, t, c))
                            with self._autocast(dev, amp):
                                logits = net(batch)
                        probs[e * T + t][rows] = torch.sigmoid(logits.float()).cpu().numpy()
                        report()
                    net.eval()
        return probs, z0

    def _head_masks(self, T: int, dev: torch.device) -> torch.Tensor:
        """(E, T, F) inverted-dropout keep masks for head-only MC dropout, one per (member, pass)."""
        p = float(self.dropout)
        masks = []
        for e in range(len(self.members_)):
            gen = torch.Generator().manual_seed(member_seed(int(self.random_state), e, "mcdrop"))
            masks.append((torch.rand(T, self.embedding_dim_, generator=gen) >= p).float() / (1.0 - p))
        return torch.stack(masks).to(dev)

    def _pass_seed(self, member: int, mc_pass: int, chunk: int) -> int:
        base = member_seed(int(self.random_state), member, "mcdrop")
        state = np.random.SeedSequence([base, mc_pass, chunk]).generate_state(1, dtype=np.uint64)[0]
        return int(state & 0x7FFFFFFFFFFFFFFF)

    @threaded
    def predict_proba(self, X, progress: Progress | None = None) -> np.ndarray:
        """(n, K) float32: mean of the members' probabilities, dropout off (deterministic)."""
        probs, _ = self._infer(
            X,
            samples="members",
            embedding=False,
            progress=progress,
            message=f"Predicting with {type(self).__name__}",
        )
        return probs.mean(axis=0)

    @threaded
    def predict_proba_samples(self, X, progress: Progress | None = None) -> np.ndarray:
        """(S, n, K) float32 probability samples, S = E (``mc_passes=0``) or E * mc_passes (member-major)."""
        probs, _ = self._infer(
            X, samples="mc", embedding=False, progress=progress, message=f"Sampling {type(self).__name__}"
        )
        return probs

    @threaded
    def embed(self, X, progress: Progress | None = None) -> np.ndarray:
        """(n, F) float32: member 0's pooled penultimate representation z, dropout off."""
        _, z0 = self._infer(
            X,
            samples=None,
            embedding=True,
            progress=progress,
            message=f"Embedding with {type(self).__name__}",
        )
        return z0

    @threaded
    def predict_samples_and_embedding(
        self, X, progress: Progress | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(predict_proba_samples(X), embed(X))`` from one pass over X (equal to the two calls)."""
        return self._infer(
            X,
            samples="mc",
            embedding=True,
            progress=progress,
            message=f"Sampling and embedding with {type(self).__name__}",
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "members_")


class _EmbeddingMixin(DeepTextEnsemble):
    """``embedding_init`` / ``embedding_dim`` of TextCNN and TextRNN (set by their ``__init__``)."""

    MINILM_DIM = 384
    embedding_init: str
    embedding_dim: int | None

    def _validate_params(self) -> None:
        """``PARAMS``, then: MiniLM's embeddings have a fixed size."""
        super()._validate_params()
        self._need(
            self.embedding_init != "minilm" or self.embedding_dim in (None, self.MINILM_DIM),
            f"embedding_init='minilm' gives {self.MINILM_DIM}-d embeddings; leave embedding_dim=None, "
            f"got {self.embedding_dim!r}.",
        )

    def _load_shared(self):
        if self.embedding_init != "minilm":
            return None
        bert = _load_pretrained_quietly("all-minilm-l6-v2")
        return bert.embeddings.word_embeddings.weight.detach().clone()

    def _embedding_args(self, shared) -> dict:
        if shared is not None:
            return {"embedding_dim": int(shared.shape[1]), "embedding_weights": shared}
        return {"embedding_dim": int(self.embedding_dim or 300), "embedding_weights": None}


class TextCNNEnsemble(_EmbeddingMixin, DeepTextEnsemble):
    """Ensemble of Kim (2014) TextCNNs, CRAB's first backbone (see the module docstring).

    Backbone parameters
    -------------------
    embedding_init : "scratch" (random, learned; CRAB / NeuralClassifier) or "minilm" (MiniLM's
        input word embeddings, 384-d, fine-tuned).
    embedding_dim : from scratch: None = 300 (Kim 2014's word2vec size).
    kernel_sizes, n_filters : filter widths and filters per width: 3/4/5 x 100 (Kim 2014).

    Defaults from the papers: n_members 5, epochs 80, patience 20 and max_length 256 (CRAB); dropout
    0.5 (Kim 2014; NeuralClassifier's hidden-layer dropout); batch_size 64 (NeuralClassifier's
    configuration; CRAB gives none). learning_rate 8e-3 is NeuralClassifier's (CRAB's code base), not
    CRAB's reported 5e-2: with AdamW from scratch 5e-2 was unstable here (one member, 10 epochs on
    200 Reuters-21578 texts, 4 frequent labels, max_length 64: validation loss lowest after epoch 2,
    training loss rising again after epoch 7, test micro-F1 0.59; 8e-3 and 1e-2: 0.84-0.85). Pass
    ``learning_rate=5e-2`` for CRAB's value.
    """

    display_name = "TextCNN"

    PARAMS: ClassVar[tuple[Param, ...]] = (
        *_EMBEDDING_PARAMS,
        *_CONV_PARAMS,
        *_shared_params(dropout=0.5, learning_rate=8e-3, batch_size=64, epochs=80, patience=20, max_length=256),
    )

    def __init__(
        self,
        *,
        n_members: int = 5,
        embedding_init: str = "scratch",
        embedding_dim: int | None = None,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        n_filters: int = 100,
        mc_passes: int = 0,
        mc_scope: str = "full",
        dropout: float = 0.5,
        learning_rate: float = 8e-3,
        weight_decay: float = 0.01,
        batch_size: int = 64,
        epochs: int = 80,
        early_stopping: bool = True,
        patience: int = 20,
        max_length: int = 256,
        device=None,
        precision: str = "auto",
        eval_batch_size: int | None = None,
        num_threads: int | None = 1,
        random_state: int = 0,
        batch_sampler=None,
    ):
        super().__init__(
            n_members=n_members,
            mc_passes=mc_passes,
            mc_scope=mc_scope,
            dropout=dropout,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            epochs=epochs,
            early_stopping=early_stopping,
            patience=patience,
            max_length=max_length,
            device=device,
            precision=precision,
            eval_batch_size=eval_batch_size,
            num_threads=num_threads,
            random_state=random_state,
            batch_sampler=batch_sampler,
        )
        self.embedding_init = embedding_init
        self.embedding_dim = embedding_dim
        self.kernel_sizes = kernel_sizes
        self.n_filters = n_filters

    def _build_network(self, n_labels: int, shared) -> backbones.TextClassifier:
        trunk = backbones.TextCNN(
            tokens.vocab_size(),
            kernel_sizes=self.kernel_sizes,
            n_filters=int(self.n_filters),
            **self._embedding_args(shared),
        )
        return backbones.TextClassifier(trunk, n_labels, float(self.dropout))


class TextRNNEnsemble(_EmbeddingMixin, DeepTextEnsemble):
    """Ensemble of bidirectional-GRU text classifiers, CRAB's second backbone (module docstring).

    Backbone parameters
    -------------------
    embedding_init, embedding_dim : as :class:`TextCNNEnsemble`.
    hidden_size : GRU units per direction: 64 (NeuralClassifier's TextRNN configuration).
    pooling : "attention" (NeuralClassifier's default), "mean" or "max" over the valid steps.

    Defaults from the papers: CRAB's 5 members, learning_rate 5e-2 (stable for this small GRU: test
    micro-F1 0.84 in the setting of :class:`TextCNNEnsemble`'s note), 80 epochs, patience 20 and
    max_length 256; NeuralClassifier's dropout 0.5 and batch size 64.
    """

    display_name = "TextRNN"

    PARAMS: ClassVar[tuple[Param, ...]] = (
        *_EMBEDDING_PARAMS,
        Param("hidden_size", 64, "GRU units per direction", constraint=LAYER_WIDTH),
        Param("pooling", "attention", "pooling over the valid steps", choices=("attention", "mean", "max")),
        *_shared_params(dropout=0.5, learning_rate=5e-2, batch_size=64, epochs=80, patience=20, max_length=256),
    )

    def __init__(
        self,
        *,
        n_members: int = 5,
        embedding_init: str = "scratch",
        embedding_dim: int | None = None,
        hidden_size: int = 64,
        pooling: str = "attention",
        mc_passes: int = 0,
        mc_scope: str = "full",
        dropout: float = 0.5,
        learning_rate: float = 5e-2,
        weight_decay: float = 0.01,
        batch_size: int = 64,
        epochs: int = 80,
        early_stopping: bool = True,
        patience: int = 20,
        max_length: int = 256,
        device=None,
        precision: str = "auto",
        eval_batch_size: int | None = None,
        num_threads: int | None = 1,
        random_state: int = 0,
        batch_sampler=None,
    ):
        super().__init__(
            n_members=n_members,
            mc_passes=mc_passes,
            mc_scope=mc_scope,
            dropout=dropout,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            epochs=epochs,
            early_stopping=early_stopping,
            patience=patience,
            max_length=max_length,
            device=device,
            precision=precision,
            eval_batch_size=eval_batch_size,
            num_threads=num_threads,
            random_state=random_state,
            batch_sampler=batch_sampler,
        )
        self.embedding_init = embedding_init
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.pooling = pooling

    def _build_network(self, n_labels: int, shared) -> backbones.TextClassifier:
        trunk = backbones.TextRNN(
            tokens.vocab_size(),
            hidden_size=int(self.hidden_size),
            pooling=self.pooling,
            **self._embedding_args(shared),
        )
        return backbones.TextClassifier(trunk, n_labels, float(self.dropout))


class TransformerEnsemble(DeepTextEnsemble):
    """Ensemble of fine-tuned pretrained encoders (CRAB's DistilBERT, BEAL / CoMAL / XMTC's BERT).

    Backbone parameters
    -------------------
    encoder : a name of ``models.pretrained.ENCODERS`` ("all-minilm-l6-v2", 6 layers, 384 hidden).
    freeze_layers : number of lowest encoder layers frozen, with the embeddings when > 0 (CoMAL
        froze 9 of BERT-base's 12); 0 fine-tunes everything (CRAB, BEAL, XMTC).
    head : "linear" (pooled -> K), "mlp" (pooled -> Linear -> ReLU -> Dropout -> Linear; BEAL's
        hidden layer, CoMAL's 2-layer MLP) or "cnn" (XMTC's CNN head: convolutions + max over time over
        the token states; the paper gives no sizes, so ``kernel_sizes`` / ``n_filters`` default to
        Kim's 3/4/5 x 100).
    pooling : "mean" (masked mean, as sentence-transformers for MiniLM) or "cls", for linear / mlp.
    head_hidden_size : width of the "mlp" head's hidden layer (no paper gives one; 256 as the MLP ensemble).
    dropout : the classifier's dropout (and the "mlp" head's); BERT's own dropout (attention and
        hidden states, 0.1 in the pretrained configuration) stays as configured: it is active while
        training and is what ``mc_scope="full"`` samples in addition to the head.

    Defaults from the papers: n_members 5 (CRAB); learning_rate 5e-5 (CRAB for DistilBERT, XMTC);
    batch_size 16 and at most 15 epochs (XMTC); patience 6 (CoMAL); dropout 0.1 (BERT's classifier
    dropout). max_length 128 instead of CRAB's 256: a transformer pass costs about twice as much at
    256 tokens on a CPU, and the bundled sets' texts are mostly shorter.
    """

    display_name = "transformer"

    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("encoder", "all-minilm-l6-v2", "a pretrained encoder of models.pretrained.ENCODERS",
              constraint=Options(tuple(ENCODERS), ignore_case=True)),
        Param("freeze_layers", 0, "lowest encoder layers frozen (with the embeddings when > 0)",
              constraint=Interval(0, None, integer=True)),
        Param("head", "linear", "classifier head", choices=("linear", "mlp", "cnn")),
        Param("pooling", "mean", "pooling of the token states for the linear / mlp heads", choices=("mean", "cls")),
        Param("head_hidden_size", 256, "width of the 'mlp' head's hidden layer", constraint=LAYER_WIDTH),
        *_CONV_PARAMS,
        *_shared_params(dropout=0.1, learning_rate=5e-5, batch_size=16, epochs=15, patience=6, max_length=128),
    )

    def __init__(
        self,
        *,
        n_members: int = 5,
        encoder: str = "all-minilm-l6-v2",
        freeze_layers: int = 0,
        head: str = "linear",
        pooling: str = "mean",
        head_hidden_size: int = 256,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        n_filters: int = 100,
        mc_passes: int = 0,
        mc_scope: str = "full",
        dropout: float = 0.1,
        learning_rate: float = 5e-5,
        weight_decay: float = 0.01,
        batch_size: int = 16,
        epochs: int = 15,
        early_stopping: bool = True,
        patience: int = 6,
        max_length: int = 128,
        device=None,
        precision: str = "auto",
        eval_batch_size: int | None = None,
        num_threads: int | None = 1,
        random_state: int = 0,
        batch_sampler=None,
    ):
        super().__init__(
            n_members=n_members,
            mc_passes=mc_passes,
            mc_scope=mc_scope,
            dropout=dropout,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            epochs=epochs,
            early_stopping=early_stopping,
            patience=patience,
            max_length=max_length,
            device=device,
            precision=precision,
            eval_batch_size=eval_batch_size,
            num_threads=num_threads,
            random_state=random_state,
            batch_sampler=batch_sampler,
        )
        self.encoder = encoder
        self.freeze_layers = freeze_layers
        self.head = head
        self.pooling = pooling
        self.head_hidden_size = head_hidden_size
        self.kernel_sizes = kernel_sizes
        self.n_filters = n_filters

    def _build_network(self, n_labels: int, shared) -> backbones.TextClassifier:
        bert = _load_pretrained_quietly(self.encoder)
        n_layers = len(bert.encoder.layer)
        self._need(
            self.freeze_layers <= n_layers,
            f"freeze_layers={self.freeze_layers} but {self.encoder} has {n_layers} layers.",
        )
        backbones.freeze_lower_layers(bert, int(self.freeze_layers))
        trunk = backbones.TransformerTrunk(
            bert,
            head=self.head,
            pooling=self.pooling,
            head_hidden_size=int(self.head_hidden_size),
            kernel_sizes=self.kernel_sizes,
            n_filters=int(self.n_filters),
        )
        return backbones.TextClassifier(trunk, n_labels, float(self.dropout))
