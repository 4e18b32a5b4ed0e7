"""CoMAL's label-wise contrastive module, its loss and the prototype-based value measures.

Peng et al., "CoMAL: Contrastive Active Learning for Multi-Label Text Classification" (KDD 2024),
Sec. 3, with the resolutions of METHODS.md ("CoMAL"). Notation: a sample i with text-level
feature ``v_i`` (d_v, the frozen representation the classifier was trained on; no gradient ever
reaches the backbone), labels j = 1..K.

Module (:class:`LabelWiseContrastiveModule`)
    decoupling  ``u_ij = ReLU(m_j(v_i))``, all K maps as one ``Linear(d_v, K d_u)`` split into K
                sub-features (the paper's "K independent MLPs")
    projection  ``z_ij = e(u_ij) / ||e(u_ij)||``, ``e = Linear(d_u, d_z)`` shared by all labels
    decoder     ``u~_ij = ReLU(d(z_ij))``, ``d = Linear(d_z, d_u)`` shared
    aggregator  ``v~_i = a([u~_i1; ...; u~_iK])``, ``a = Linear(K d_u, d_v)``
    head        ``y~_i = sigmoid(h'(v~_i))``, ``h' = Linear(d_v, K)``
The ReLUs are our reading of "MLP" (METHODS.md names the linear maps only; without a
non-linearity the decoupling and the projection would collapse into one linear map).

Loss ``L = L_scl + L_rec + L_cls`` (Eq. 6 with alpha = beta = 1):
    * ``L_scl``: SupCon (Eq. 3) over the B*K embeddings of a mini-batch with contrastive labels
      ``l_ij = j`` if ``y_ij = 1`` else ``K`` (one shared class for every negative embedding)::

          L_a = -1/|P(a)| sum_{p in P(a)} log( exp(z_a.z_p / tau) / sum_{a' != a} exp(z_a.z_a' / tau) )

      ``P(a)`` = the other embeddings with the same contrastive label; anchors with an empty P(a)
      are left out; ``L_scl`` = mean of ``L_a`` over the remaining anchors; tau = 0.07.
    * ``L_rec = ||v - v~||^2`` (Eq. 4), summed over dimensions, averaged over the batch.
    * ``L_cls`` = binary cross-entropy of ``y~`` (Eq. 5), summed over labels, averaged over the batch.

Prototypes and value measures (Sec. 3.2)
    ``p_j`` = L2-normalised mean of ``z_ij`` over labelled samples with ``y_ij = 1``; a label with no
    positive in L has no prototype (``p_j = 0``, so ``k_j = 0``).
    ``k_j(x) = cos(z_j(x), p_j)``; ``kbar_j`` = mean of ``k_j`` over **all** labelled samples (Eq. 7).
    ``SLCI(x) = | sum_j 1[k_j(x) > kbar_j] - LC |`` (Eq. 7), LC = mean labels per labelled sample.
    ``PFD(x) = sum_j 1[ystar_j(x) = 1] (1 - k_j(x))`` (Eq. 8). METHODS.md takes ystar from the
    classifier's mean probabilities (> 0.5); the paper's Eq. 8 uses the module's own head,
    ``y~ = sigmoid(h'(v~)) > 0.5`` (:func:`embed_and_predict`); the strategy offers both.
    ``Q(x) = SLCI^gamma * PFD^(1 - gamma)`` (Eq. 9), gamma = 0.5.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from mlal_core.errors import ConfigError

__all__ = [
    "LabelWiseContrastiveModule",
    "TrainResult",
    "comal_value",
    "contrastive_labels",
    "embed",
    "embed_and_predict",
    "embed_chunk",
    "k_values",
    "module_loss",
    "pfd",
    "prototypes",
    "slci",
    "supcon_loss",
    "train_module",
]

#: a mini-batch holds at most this many label-wise embeddings (B * K) in the SupCon matrix
MAX_ANCHORS = 4096
#: embedding passes take as many rows as keep their largest intermediate (rows x K x max(d_u, d_z))
#: at this many floats (16 MB): at K = 1,000 a pass of 2,048 rows held 1 GB of sub-features
EMBED_FLOATS = 1 << 22
#: CPU threads torch may use while training the module. Its mini-batch operations are tiny, and
#: on a busy 2-core machine two spinning intra-op threads made training ~45x slower than one
#: (12.6 s vs 0.28 s for 50 steps, measured); the previous setting is restored afterwards.
TRAIN_THREADS = 1


@contextlib.contextmanager
def _cpu_threads(n: int | None):
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class LabelWiseContrastiveModule(nn.Module):
    """The contrastive learning module M_cl of CoMAL (see the module docstring)."""

    def __init__(self, d_v: int, n_labels: int, d_u: int = 128, d_z: int = 64):
        super().__init__()
        self.d_v, self.n_labels, self.d_u, self.d_z = int(d_v), int(n_labels), int(d_u), int(d_z)
        self.decouple = nn.Linear(self.d_v, self.n_labels * self.d_u)
        self.project = nn.Linear(self.d_u, self.d_z)
        self.decode = nn.Linear(self.d_z, self.d_u)
        self.aggregate = nn.Linear(self.n_labels * self.d_u, self.d_v)
        self.head = nn.Linear(self.d_v, self.n_labels)

    def embed(self, v: torch.Tensor) -> torch.Tensor:
        """``z``: ``(B, K, d_z)`` unit vectors."""
        u = F.relu(self.decouple(v)).view(v.shape[0], self.n_labels, self.d_u)
        return F.normalize(self.project(u), dim=-1)

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z (B, K, d_z), v~ (B, d_v), logits (B, K))``."""
        z = self.embed(v)
        u_t = F.relu(self.decode(z))
        v_t = self.aggregate(u_t.reshape(v.shape[0], self.n_labels * self.d_u))
        return z, v_t, self.head(v_t)


def contrastive_labels(y: torch.Tensor) -> torch.Tensor:
    """``l_ij = j`` where ``y_ij = 1``, else ``K``; flattened row-major to ``(B * K,)``.

    The contrastive labels of CoMAL (Peng et al., Sec. 3; METHODS.md "CoMAL"): one class per label
    for the positive embeddings, one shared class K for every negative one.

    Parameters
    ----------
    y : torch.Tensor, shape (B, K)
        0/1 labels of a mini-batch (any value > 0 counts as positive).

    Returns
    -------
    torch.Tensor of int64, shape (B * K,)
        The label of embedding ``(i, j)`` at position ``i * K + j``.
    """
    B, K = y.shape
    j = torch.arange(K, device=y.device).expand(B, K)
    return torch.where(y > 0, j, torch.full_like(j, K)).reshape(-1)


class _LogSumExpOverOthers(torch.autograd.Function):
    """``LSE_a = log sum_{b != a} exp(z_a . z_b / tau)`` for every row a, with its gradient.

    Autograd through ``logsumexp(masked_fill(z z^T / tau))`` makes about ten passes over the
    ``N x N`` matrix; here the forward turns it into the softmax in place and keeps it, and the
    gradient is ``(G z + G^T z) / tau`` with ``G = softmax * dL/dLSE`` (row-scaled).
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, inv_tau: float) -> torch.Tensor:
        w = torch.mm(z, z.T).mul_(inv_tau)
        w.fill_diagonal_(float("-inf"))
        top = w.amax(dim=1, keepdim=True).clamp_min_(torch.finfo(w.dtype).min)  # N = 1: no other row
        total = w.sub_(top).exp_().sum(dim=1, keepdim=True)
        w.div_(total)  # w is now the softmax over the other rows
        ctx.save_for_backward(z, w)
        ctx.inv_tau = inv_tau
        return (top + total.log()).squeeze(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, w = ctx.saved_tensors
        g = w * grad[:, None]
        return (torch.mm(g, z) + torch.mm(g.T, z)) * ctx.inv_tau, None


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Supervised contrastive loss (Eq. 3), vectorised.

    Peng et al. (CoMAL), Eq. 3. Self-pairs are excluded from numerator and denominator; anchors
    without a positive are left out; mean over the rest (0 if none).
    Per anchor a, with ``s_ab = z_a . z_b / tau``::

        L_a = -1/|P(a)| sum_{p in P(a)} (s_ap - LSE_a) = LSE_a - (z_a . (S_l(a) - z_a) / tau) / |P(a)|

    where ``LSE_a = log sum_{b != a} exp(s_ab)`` and ``S_l`` is the sum of the embeddings with
    label l, so only the denominator needs the ``N x N`` matrix (40 % less time than masking it).

    Parameters
    ----------
    z : torch.Tensor, shape (N, d)
        Unit-norm embeddings.
    labels : torch.Tensor, shape (N,)
        Contrastive label of each embedding (:func:`contrastive_labels`).
    temperature : float, default 0.07
        tau.

    Returns
    -------
    torch.Tensor
        Scalar loss, differentiable in ``z``; 0 when no anchor has a positive.
    """
    lse = _LogSumExpOverOthers.apply(z, 1.0 / temperature)
    _, inv, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    sums = torch.zeros(counts.shape[0], z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, inv, z)
    n_pos = counts[inv] - 1
    valid = n_pos > 0
    if not bool(valid.any()):
        return z.sum() * 0.0
    pos_sum = ((z * sums[inv]).sum(dim=1) - (z * z).sum(dim=1)) / temperature
    return (lse[valid] - pos_sum[valid] / n_pos[valid]).mean()


def module_loss(
    module: LabelWiseContrastiveModule, v: torch.Tensor, y: torch.Tensor, temperature: float = 0.07
) -> tuple[torch.Tensor, dict[str, float]]:
    """``L = L_scl + L_rec + L_cls`` on one batch and its parts.

    Peng et al. (CoMAL), Eq. 6 with alpha = beta = 1: ``L_scl`` SupCon (Eq. 3, :func:`supcon_loss`),
    ``L_rec = ||v - v~||^2`` summed over dimensions (Eq. 4) and ``L_cls`` binary cross-entropy of the
    head summed over labels (Eq. 5), both averaged over the batch.

    Parameters
    ----------
    module : LabelWiseContrastiveModule
        The module to evaluate.
    v : torch.Tensor, shape (B, d_v)
        Text-level features of the batch.
    y : torch.Tensor, shape (B, K)
        0/1 labels of the batch.
    temperature : float, default 0.07
        SupCon temperature tau.

    Returns
    -------
    total : torch.Tensor
        Scalar loss L, differentiable.
    parts : dict of str to float
        ``{"scl", "rec", "cls", "total"}``: the values of the parts and of L.
    """
    z, v_t, logits = module(v)
    l_scl = supcon_loss(z.reshape(-1, module.d_z), contrastive_labels(y), temperature)
    l_rec = ((v - v_t) ** 2).sum(dim=1).mean()
    l_cls = F.binary_cross_entropy_with_logits(logits, y.float(), reduction="none").sum(dim=1).mean()
    total = l_scl + l_rec + l_cls
    return total, {"scl": l_scl.item(), "rec": l_rec.item(), "cls": l_cls.item(), "total": total.item()}


def _dense_rows(X, rows) -> np.ndarray:
    part = X[rows]
    if sp.issparse(part):
        part = part.toarray()
    return np.asarray(part, dtype=np.float32)


@dataclass
class TrainResult:
    """What :func:`train_module` returns.

    Attributes
    ----------
    module : LabelWiseContrastiveModule
        The trained module, in eval mode.
    history : dict of str to list of float
        Per-epoch mean of each part of ``L = L_scl + L_rec + L_cls`` (CoMAL Sec. 3).
    batch_size, steps : int
        The mini-batch size used and the optimiser steps taken.
    """

    module: LabelWiseContrastiveModule
    history: dict[str, list[float]] = field(default_factory=dict)  # per-epoch mean of each loss part
    batch_size: int = 0
    steps: int = 0


def train_module(
    V,
    Y,
    *,
    d_u: int = 128,
    d_z: int = 64,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    temperature: float = 0.07,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Train a fresh module on labelled features ``V (n, d_v)`` and labels ``Y (n, K)``.

    Adam, ``epochs`` passes over shuffled mini-batches; the batch size is capped so that a batch
    has at most ``MAX_ANCHORS`` label-wise embeddings. Initialisation and shuffling are seeded by
    ``seed`` (torch's global generator is forked, so the caller's state is untouched). On the CPU
    training runs on ``TRAIN_THREADS`` torch threads (restored afterwards). The loss is
    :func:`module_loss` (Peng et al., CoMAL, Eq. 6).

    Parameters
    ----------
    V : array-like or scipy sparse matrix, shape (n, d_v)
        Features of the labelled samples.
    Y : array-like, shape (n, K)
        Their 0/1 labels.
    d_u : int, default 128
        Size of each label-wise sub-feature.
    d_z : int, default 64
        Size of the contrastive embeddings z.
    epochs : int, default 10
        Passes over the data.
    batch_size : int, default 64
        Requested mini-batch size; the one used is ``max(2, min(batch_size, MAX_ANCHORS // K, n))``.
        A trailing batch of one sample is skipped (it has no contrastive partner) unless n = 1.
    lr : float, default 1e-3
        Adam learning rate.
    temperature : float, default 0.07
        SupCon temperature tau.
    seed : int, default 0
        Seed of the initialisation and the shuffling.
    device : torch.device or str, default "cpu"
        Where to train.

    Returns
    -------
    TrainResult
        The trained module (eval mode), per-epoch loss history, batch size and steps.

    Raises
    ------
    ConfigError
        If ``Y`` has no rows.
    """
    Y = np.asarray(Y)
    n, K = Y.shape
    if n < 1:
        raise ConfigError("The contrastive module needs at least one labelled sample to train on.")
    device = torch.device(device)
    bs = int(max(2, min(batch_size, MAX_ANCHORS // max(1, K), n)))
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    threads = TRAIN_THREADS if device.type == "cpu" else None
    with torch.random.fork_rng(devices=fork_devices), _cpu_threads(threads):
        torch.manual_seed(int(seed))
        gen = torch.Generator().manual_seed(int(seed))
        d_v = _dense_rows(V, np.arange(1)).shape[1]
        module = LabelWiseContrastiveModule(d_v, K, d_u, d_z).to(device)
        # fused: one pass over each parameter per step; at K = 1,000 the module has ~99 M parameters
        # and the per-tensor update took 0.38 s a step against 0.05 s fused (2 threads, measured)
        opt = torch.optim.Adam(module.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"))
        Vt = torch.from_numpy(_dense_rows(V, np.arange(n))).to(device)
        Yt = torch.from_numpy(Y.astype(np.float32)).to(device)
        history: dict[str, list[float]] = {"scl": [], "rec": [], "cls": [], "total": []}
        steps = 0
        module.train()
        for _ in range(int(epochs)):
            perm = torch.randperm(n, generator=gen).to(device)
            sums = dict.fromkeys(history, 0.0)
            n_batches = 0
            for start in range(0, n, bs):
                idx = perm[start : start + bs]
                if idx.numel() < 2 and n >= 2:
                    continue  # a lone sample has no contrastive partner
                loss, parts = module_loss(module, Vt[idx], Yt[idx], temperature)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
                n_batches += 1
                for k in sums:
                    sums[k] += parts[k]
            for k, values in history.items():
                values.append(sums[k] / max(1, n_batches))
        module.eval()
    return TrainResult(module=module, history=history, batch_size=bs, steps=steps)


def embed_chunk(module: LabelWiseContrastiveModule) -> int:
    """Rows per embedding pass: its largest intermediate stays within ``EMBED_FLOATS`` floats.

    Parameters
    ----------
    module : LabelWiseContrastiveModule
        The module whose ``n_labels``, ``d_u`` and ``d_z`` size the pass.

    Returns
    -------
    int
        ``max(1, EMBED_FLOATS // (K max(d_u, d_z)))``.
    """
    return max(1, EMBED_FLOATS // (module.n_labels * max(module.d_u, module.d_z)))


@torch.no_grad()
def embed(module: LabelWiseContrastiveModule, V, rows=None, chunk: int | None = None) -> np.ndarray:
    """``z`` for ``V[rows]`` as float32 ``(n, K, d_z)``, computed in chunks.

    Parameters
    ----------
    module : LabelWiseContrastiveModule
        A trained module.
    V : array-like or scipy sparse matrix, shape (N, d_v)
        Features.
    rows : array-like of int, optional
        Rows of ``V`` to embed (default: all).
    chunk : int, optional
        Rows per forward pass (default :func:`embed_chunk`).

    Returns
    -------
    numpy.ndarray of float32, shape (n, K, d_z)
        Unit-norm label-wise embeddings, n = ``len(rows)``.
    """
    rows = np.arange(V.shape[0]) if rows is None else np.asarray(rows)
    chunk = embed_chunk(module) if chunk is None else int(chunk)
    dev = next(module.parameters()).device
    out = np.empty((len(rows), module.n_labels, module.d_z), dtype=np.float32)
    for s in range(0, len(rows), chunk):
        v = torch.from_numpy(_dense_rows(V, rows[s : s + chunk])).to(dev)
        out[s : s + chunk] = module.embed(v).cpu().numpy()
    return out


@torch.no_grad()
def embed_and_predict(
    module: LabelWiseContrastiveModule, V, rows=None, chunk: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``z`` ``(n, K, d_z)`` and the module's own label probabilities ``y~ = sigmoid(h'(v~))``
    ``(n, K)`` (Eq. 5) for ``V[rows]``, in one forward pass per chunk (float32).

    Parameters
    ----------
    module : LabelWiseContrastiveModule
        A trained module.
    V : array-like or scipy sparse matrix, shape (N, d_v)
        Features.
    rows : array-like of int, optional
        Rows of ``V`` to use (default: all).
    chunk : int, optional
        Rows per forward pass (default :func:`embed_chunk`).

    Returns
    -------
    z : numpy.ndarray of float32, shape (n, K, d_z)
        Unit-norm label-wise embeddings, n = ``len(rows)``.
    probs : numpy.ndarray of float32, shape (n, K)
        The module head's probabilities ``y~``.
    """
    rows = np.arange(V.shape[0]) if rows is None else np.asarray(rows)
    chunk = embed_chunk(module) if chunk is None else int(chunk)
    dev = next(module.parameters()).device
    z_out = np.empty((len(rows), module.n_labels, module.d_z), dtype=np.float32)
    p_out = np.empty((len(rows), module.n_labels), dtype=np.float32)
    for s in range(0, len(rows), chunk):
        v = torch.from_numpy(_dense_rows(V, rows[s : s + chunk])).to(dev)
        z, _, logits = module(v)
        z_out[s : s + chunk] = z.cpu().numpy()
        p_out[s : s + chunk] = torch.sigmoid(logits).cpu().numpy()
    return z_out, p_out


def prototypes(z: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(P (K, d_z), has_prototype (K,))``: normalised mean of ``z_ij`` over rows with ``y_ij = 1``.

    Peng et al. (CoMAL), Sec. 3.2; METHODS.md "CoMAL".

    Parameters
    ----------
    z : array-like, shape (n, K, d_z)
        Label-wise embeddings of the labelled samples.
    Y : array-like, shape (n, K)
        Their 0/1 labels.

    Returns
    -------
    P : numpy.ndarray of float64, shape (K, d_z)
        Unit-norm prototype ``p_j``; a zero row for a label without one.
    has_prototype : numpy.ndarray of bool, shape (K,)
        False for a label with no positive row (or a zero mean).
    """
    z = np.asarray(z, dtype=np.float64)
    Yb = (np.asarray(Y) > 0).astype(np.float64)  # (n, K)
    sums = np.einsum("nk,nkd->kd", Yb, z)
    counts = Yb.sum(axis=0)
    has = counts > 0
    mean = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=has[:, None])
    norm = np.linalg.norm(mean, axis=1, keepdims=True)
    P = np.divide(mean, norm, out=np.zeros_like(mean), where=norm > 0)
    return P, has & (norm[:, 0] > 0)


def k_values(z: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``k_j(x) = cos(z_j(x), p_j)`` ``(n, K)``; z and the prototypes are unit vectors (0 if no prototype).

    Peng et al. (CoMAL), Sec. 3.2. Computed as the dot product ``z_j(x) . p_j``.

    Parameters
    ----------
    z : array-like, shape (n, K, d_z)
        Unit-norm label-wise embeddings.
    P : array-like, shape (K, d_z)
        Prototypes from :func:`prototypes`.

    Returns
    -------
    numpy.ndarray of float64, shape (n, K)
        ``k_j(x)`` per sample and label.
    """
    return np.einsum("nkd,kd->nk", np.asarray(z, dtype=np.float64), np.asarray(P, dtype=np.float64))


def slci(k: np.ndarray, kbar: np.ndarray, label_cardinality: float) -> np.ndarray:
    """``SLCI = | sum_j 1[k_j > kbar_j] - LC |`` (Eq. 7).

    Peng et al. (CoMAL), Eq. 7.

    Parameters
    ----------
    k : array-like, shape (n, K)
        ``k_j(x)`` of the candidates (:func:`k_values`).
    kbar : array-like, shape (K,)
        ``kbar_j``, the mean of ``k_j`` over the labelled samples.
    label_cardinality : float
        LC, the mean number of labels per labelled sample.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        SLCI per candidate.
    """
    return np.abs((np.asarray(k) > np.asarray(kbar)[None, :]).sum(axis=1) - float(label_cardinality))


def pfd(k: np.ndarray, ystar: np.ndarray) -> np.ndarray:
    """``PFD = sum_j 1[ystar_j = 1] (1 - k_j)`` (Eq. 8).

    Peng et al. (CoMAL), Eq. 8.

    Parameters
    ----------
    k : array-like, shape (n, K)
        ``k_j(x)`` of the candidates (:func:`k_values`).
    ystar : array-like, shape (n, K)
        Pseudo labels (any value > 0 counts as predicted).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        PFD per candidate.
    """
    return ((np.asarray(ystar) > 0) * (1.0 - np.asarray(k, dtype=np.float64))).sum(axis=1)


def comal_value(slci_: np.ndarray, pfd_: np.ndarray, gamma: float = 0.5) -> np.ndarray:
    """``Q = SLCI^gamma * PFD^(1 - gamma)`` (Eq. 9). PFD is >= 0 up to rounding; clipped at 0.

    Peng et al. (CoMAL), Eq. 9.

    Parameters
    ----------
    slci_ : array-like, shape (n,)
        SLCI per candidate (:func:`slci`).
    pfd_ : array-like, shape (n,)
        PFD per candidate (:func:`pfd`).
    gamma : float, default 0.5
        Weight of SLCI.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        The CoMAL value Q; the top n are queried.
    """
    return np.power(np.asarray(slci_, dtype=np.float64), gamma) * np.power(
        np.maximum(np.asarray(pfd_, dtype=np.float64), 0.0), 1.0 - gamma
    )
