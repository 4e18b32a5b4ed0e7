"""Representation-based strategies: BADGE (multi-label), Core-Set, DAL.

BADGE and Core-Set work on ``h`` (``_common.representation``): ``ctx.embedding`` when the loop
computed it, else ``ctx.model.embed(ctx.features)`` when the context carries a model with ``embed``,
else ``ctx.features``. DAL trains a small discriminator on ``ctx.features``. Definitions: METHODS.md ("BADGE (multi-label), Core-Set", "XMTC strategies").
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from mlal_core.strategies._common import (
    dense_rows,
    derive_seed,
    empty_selection,
    kcenter_greedy,
    kmeanspp_seeding,
    make_selection,
    min_sq_dists,
    pseudo_labels,
    representation,
    require,
    sq_dists_to,
    sq_norms,
)
from mlal_core.strategies.base import QueryContext, QueryStrategy, Selection, check_query_size
from mlal_core.strategies.registry import register
from mlal_core.validation import Param


# ----------------------------------------------------------------------------------------------
# BADGE
# ----------------------------------------------------------------------------------------------
@register(
    display_name="BADGE (multi-label gradient embeddings)",
    paper="Ash et al. 2020, Deep batch active learning by diverse, uncertain gradient lower bounds (ICLR); baseline in BEAL and CoMAL",
    explanation=(
        "BADGE imagines the gradient the last layer would get if the model's own guess were the "
        "true label: large when the model is unsure, and pointing in a direction that depends on "
        "the sample's features. It then spreads the batch over these gradient vectors with "
        "k-means++ seeding, so it picks samples that are both uncertain and different from each other."
    ),
    needs=("features",),
    choice=(
        "Multi-label gradient embedding g_i = vec((pbar_i - ystar_i) outer h_i), h = penultimate "
        "features (model.embed) or the context features. METHODS.md allows a random projection to "
        "<= 512 dims when K x d is large; we never need it: exact distances come from the factors "
        "(||g_i - g_j||^2 from a and h), which is both exact and 4x faster on GoEmotions "
        "(3.4 s vs 13.4 s), so projection is an option (projection_dims=512). k-means++ seeding as in BADGE's code (first seed = largest gradient norm, "
        "then D^2 sampling with ctx.rng)."
    ),
)
class BADGE(QueryStrategy):
    """Batch Active learning by Diverse Gradient Embeddings (Ash et al. 2020), multi-label form
    (METHODS.md "BADGE (multi-label), Core-Set").

    ``a_i = pbar_i - ystar_i`` (K), ``h_i`` (d), ``g_i = vec(a_i h_i^T)`` (K d), ``||g_i|| = ||a_i|| ||h_i||``.
    If ``K d > projection_dims``: ``g_i R`` with ``R`` a ``(K d, projection_dims)`` Gaussian matrix
    scaled by ``1/sqrt(projection_dims)`` drawn from ``ctx.rng``. Otherwise (or with
    ``projection_dims=None``) distances are exact, from
    ``||g_i - g_j||^2 = ||a_i||^2 ||h_i||^2 + ||a_j||^2 ||h_j||^2 - 2 (a_i . a_j)(h_i . h_j)``.
    Picks: k-means++ seeding over the g's (first seed = largest norm, then D^2 sampling).
    ``scores`` = the gradient norm of every candidate (for display; the picks are not its top n).
    """

    name: ClassVar[str] = "badge"
    CHUNK_FLOATS: ClassVar[int] = 2**24
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "projection_dims",
            None,
            "None (default) = exact distances, computed from the factors of g without building the "
            "K x d vectors; an integer = random-project (seeded Gaussian) to this many dimensions "
            "when K x d exceeds it (METHODS.md's memory device, 4x slower here).",
            low=1,
            high=65536,
        ),
    )

    def __init__(self, *, projection_dims: int | None = None) -> None:
        self.projection_dims = projection_dims
        self._validate_params()

    def gradient_factors(self, ctx: QueryContext) -> tuple[np.ndarray, np.ndarray, str]:
        """``a = pbar - ystar`` and ``h`` for the candidates (the factors of ``g``)."""
        h, source = representation(ctx, ctx.unlabeled, self.name)
        pbar = ctx.mean_proba()
        a = pbar - pseudo_labels(pbar)
        return a, h, source

    @staticmethod
    def gradient_embedding(a: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The explicit ``(n, K d)`` vectors ``vec(a_i outer h_i)`` (row-major: label, then feature)."""
        return (a[:, :, None] * h[:, None, :]).reshape(len(a), -1)

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx)
        a, h, source = self.gradient_factors(ctx)
        nU, K = a.shape
        d = h.shape[1]
        na2, nh2 = sq_norms(a), sq_norms(h)
        grad_norm = np.sqrt(na2 * nh2)
        dims = self.projection_dims
        project = dims is not None and K * d > dims
        if project and dims is not None:  # (project implies dims is not None; the check narrows its type)
            m = int(dims)
            R = (ctx.rng.standard_normal((K * d, m)) / np.sqrt(m)).astype(np.float32)
            G = np.empty((nU, m), dtype=np.float32)
            step = max(1, self.CHUNK_FLOATS // max(K * d, 1))
            a32, h32 = a.astype(np.float32), h.astype(np.float32)
            for s in range(0, nU, step):
                G[s : s + step] = self.gradient_embedding(a32[s : s + step], h32[s : s + step]) @ R
            G_sq = sq_norms(G)

            def dist_to(i: int) -> np.ndarray:
                return sq_dists_to(G, G[i], G_sq)

            norms_sq = G_sq
            space = f"random projection of the {K}x{d} = {K * d}-dim gradients to {m} dims"
        else:
            def dist_to(i: int) -> np.ndarray:
                return np.maximum(na2 * nh2 + na2[i] * nh2[i] - 2.0 * (a @ a[i]) * (h @ h[i]), 0.0)

            norms_sq = na2 * nh2
            space = f"exact {K}x{d} = {K * d}-dim gradients"
        picks, d2, reasons = kmeanspp_seeding(n, nU, dist_to, norms_sq, ctx.rng)
        comps = pd.DataFrame({"gradient_norm": grad_norm, "sq_dist_to_earlier_seeds": np.nan})
        comps.loc[comps.index[picks], "sq_dist_to_earlier_seeds"] = d2
        comps.loc[comps.index[picks[:1]], "sq_dist_to_earlier_seeds"] = np.nan
        diag = {
            "embedding_source": source,
            "space": space,
            "projected": bool(project),
            "gradient_dims": int(K * d),
            "mean_gradient_norm": float(grad_norm.mean()),
            "n_candidates": int(nU),
        }
        return make_selection(ctx, picks, grad_norm, reasons, comps, diag)


# ----------------------------------------------------------------------------------------------
# Core-Set
# ----------------------------------------------------------------------------------------------
@register(
    display_name="Core-Set (k-center greedy)",
    paper="Sener & Savarese 2018, Active learning for convolutional neural networks: a core-set approach (ICLR); baseline in BEAL and CoMAL",
    explanation=(
        "Core-Set tries to cover the data: it repeatedly picks the unlabelled sample that is farthest "
        "from everything already labelled or picked (in the model's feature space). After the round, "
        "every sample is close to some labelled one, so the labelled set represents the whole pool."
    ),
    needs=("features",),
    choice="k-center greedy with Euclidean distance on h, the labelled samples as initial centres.",
)
class CoreSet(QueryStrategy):
    """Core-Set by k-center greedy (Sener & Savarese 2018; METHODS.md "BADGE (multi-label), Core-Set").

    Each pick is ``argmax_{i in U} min_{j in L u picks} ||h_i - h_j||``, on ``h`` with the labelled
    samples as the initial centres.

    ``scores`` = each candidate's distance to its nearest labelled sample (before the round).
    Diagnostics: covering radius (max over candidates of the distance to the nearest centre)
    before and after the picks.
    """

    name: ClassVar[str] = "coreset"

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx)
        pos = np.concatenate([ctx.unlabeled, ctx.labeled])
        H, source = representation(ctx, pos, self.name)
        nU = len(ctx.unlabeled)
        HU, HL = H[:nU], H[nU:]
        init, _ = min_sq_dists(HU, HL)
        picks, dist, reasons, final = kcenter_greedy(HU, init, n, ctx.rng)
        d0 = np.sqrt(init)
        comps = pd.DataFrame({"dist_to_nearest_labelled": d0, "dist_to_nearest_centre_at_pick": np.nan})
        comps.loc[comps.index[picks], "dist_to_nearest_centre_at_pick"] = dist
        remaining = np.ones(nU, dtype=bool)
        remaining[picks] = False
        diag = {
            "embedding_source": source,
            "covering_radius_before": float(d0.max()) if len(ctx.labeled) else float("inf"),
            "covering_radius_after": float(np.sqrt(final[remaining].max())) if remaining.any() else 0.0,
            "n_candidates": int(nU),
        }
        return make_selection(ctx, picks, d0, reasons, comps, diag)


# ----------------------------------------------------------------------------------------------
# DAL
# ----------------------------------------------------------------------------------------------
def _balanced_accuracy(pred, truth) -> float:
    """Mean of the accuracies on the two classes (a class with no sample counts as 1): they count
    equally, as in DAL's class-balanced loss."""
    parts = [float((pred[truth == c] == c).float().mean()) if bool((truth == c).any()) else 1.0 for c in (True, False)]
    return 0.5 * (parts[0] + parts[1])


def _train_discriminator(
    X: np.ndarray, y: np.ndarray, seed: int, batch: int, hidden: int, epochs: int, lr: float, stop_accuracy: float
):
    """DAL's discriminator: an MLP with two ReLU layers, class-balanced BCE, Adam, seeded.

    Training stops after the first epoch whose balanced training accuracy reaches ``stop_accuracy``,
    measured as Keras reports it in Gissin & Shalev-Shwartz's code: on each mini-batch as it is
    trained, before its step, accumulated over the epoch (no extra pass over the data).
    Returns ``(net, accuracy, epochs run)``.
    """
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        gen = torch.Generator().manual_seed(seed)
        Xt = torch.as_tensor(X, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.float32)
        n_pos = float(y.sum())
        n_neg = float(len(y) - n_pos)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([n_neg / n_pos if n_pos > 0 else 1.0]))
        opt = torch.optim.Adam(net.parameters(), lr=lr, fused=True)
        acc, epochs_run = 0.0, 0
        seen = torch.empty(len(Xt))  # each training sample's logit when its mini-batch was trained
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(len(Xt), generator=gen)
            Xe, ye = Xt[perm], yt[perm]  # one gather an epoch; the mini-batches are slices of it
            for s in range(0, len(Xt), batch):
                opt.zero_grad()
                logits = net(Xe[s : s + batch]).squeeze(1)
                loss_fn(logits, ye[s : s + batch]).backward()
                opt.step()
                seen[s : s + batch] = logits.detach()  # as trained, before the step
            epochs_run += 1
            acc = _balanced_accuracy(seen > 0, ye > 0.5)
            if acc >= stop_accuracy:
                break
        net.eval()
    return net, acc, epochs_run


@register(
    display_name="DAL (discriminative active learning)",
    paper="Gissin & Shalev-Shwartz 2019, Discriminative active learning (arXiv:1907.06347); as used in the XMTC study (Fromme et al.)",
    explanation=(
        "DAL trains a small network to tell labelled from unlabelled samples. Samples it is surest "
        "are unlabelled look least like anything labelled so far, so labelling them makes the "
        "labelled set resemble the pool. It picks the batch in several sub-batches, retraining the "
        "discriminator after each so the batch does not pile up in one region."
    ),
    needs=("features",),
    choice=(
        "MLP discriminator (2 hidden ReLU layers) on ctx.features, class-balanced BCE, Adam 1e-3, "
        "batch max(64, N/20) (at most 20 steps an epoch), seeded from ctx.rng; trained up to `epochs` "
        "epochs or until 98 % (balanced) training accuracy, measured on the mini-batches as they are trained "
        "(Gissin & Shalev-Shwartz's stopping rule, as Keras reports it in their code). Each sub-batch picks "
        "among the discriminator's unlabelled training sample (their code; candidates='pool' scores every "
        "candidate instead). The sub-batch's picks count as labelled for the next sub-batch. A candidate's score is its latest "
        "P(unlabelled): at pick time for the picks, from the last sub-batch's discriminator for the others."
    ),
)
class DAL(QueryStrategy):
    """Discriminative active learning (Gissin & Shalev-Shwartz 2019; METHODS.md "XMTC strategies"),
    in ``sub_batches`` rounds of retraining.

    In each sub-batch: labelled set L' = labelled + earlier picks; the discriminator is trained on
    L' (target 0) and ``min(unlabeled_ratio |L'|, |U'|)`` random unlabelled candidates (target 1),
    weighting the classes equally, until its training accuracy reaches 98 %; the next
    ``~n / sub_batches`` picks are the highest ``P(unlabelled)`` among ``candidates``: that
    unlabelled training sample (``"subsample"``, the authors' code) or every unlabelled candidate
    (``"pool"``). With no labelled sample at all, the first sub-batch is uniform random.

    ``scores`` (and the ``score`` / ``p_unlabelled`` of each pick) is one quantity: each candidate's
    latest ``P(unlabelled)`` while it was still unlabelled, i.e. from the discriminator of the
    sub-batch that picked it, and from the last sub-batch's discriminator for the candidates not
    picked (NaN where no discriminator scored it: uniform draws with nothing labelled).
    """

    name: ClassVar[str] = "dal"
    STOP_ACCURACY: ClassVar[float] = 0.98
    MIN_BATCH_SIZE: ClassVar[int] = 64
    MAX_STEPS_PER_EPOCH: ClassVar[int] = 20
    LEARNING_RATE: ClassVar[float] = 1e-3
    #: below this mini-batch size the discriminator trains on one thread (intra-op threads only
    #: spin-wait on matrices this small); from it on, on torch's threads
    THREADED_BATCH: ClassVar[int] = 256
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("sub_batches", 10, "The batch is selected in this many sub-batches, retraining the discriminator before each.", low=1, high=100),
        Param(
            "unlabeled_ratio",
            10,
            "Unlabelled training examples for the discriminator: min(ratio x |labelled|, |unlabelled|), drawn at random.",
            low=1,
            high=1000,
        ),
        Param("epochs", 10, "Maximum training epochs of the discriminator (stops early at 98 % training accuracy).", low=1, high=1000),
        Param("hidden_size", 256, "Width of the discriminator's two hidden layers.", low=1, high=4096),
        Param(
            "candidates",
            "subsample",
            "Where each sub-batch picks from: 'subsample' = the discriminator's unlabelled training sample "
            "(the authors' code), 'pool' = every unlabelled candidate (one more pass over the pool per sub-batch).",
            choices=("subsample", "pool"),
        ),
    )

    def __init__(
        self,
        *,
        sub_batches: int = 10,
        unlabeled_ratio: int = 10,
        epochs: int = 10,
        hidden_size: int = 256,
        candidates: str = "subsample",
    ) -> None:
        self.sub_batches = sub_batches
        self.unlabeled_ratio = unlabeled_ratio
        self.epochs = epochs
        self.hidden_size = hidden_size
        self.candidates = candidates
        self._validate_params()

    def _train(self, X: np.ndarray, y: np.ndarray, seed: int):
        import torch

        from mlal_core.models.threads import torch_threads

        batch = max(self.MIN_BATCH_SIZE, -(-len(X) // self.MAX_STEPS_PER_EPOCH))
        with torch_threads(1 if batch < self.THREADED_BATCH else None, torch.device("cpu")):
            return _train_discriminator(X, y, seed, batch, int(self.hidden_size), int(self.epochs), self.LEARNING_RATE, self.STOP_ACCURACY)

    @staticmethod
    def _proba_unlabelled(net, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        import torch

        out = np.empty(len(X))
        with torch.no_grad():  # in chunks: no (N, hidden) intermediates, which cost more to page in than to compute
            for s in range(0, len(X), chunk):
                logits = net(torch.as_tensor(X[s : s + chunk], dtype=torch.float32)).squeeze(1)
                out[s : s + chunk] = torch.sigmoid(logits).double().numpy()
        return out

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx)
        X = require(ctx, "features", self.name, "the (N_pool, d) representation")
        XU = dense_rows(X, ctx.unlabeled)
        nU = len(ctx.unlabeled)
        sizes = [len(c) for c in np.array_split(np.arange(n), min(int(self.sub_batches), n))]
        base_seed = derive_seed(ctx.rng)
        in_L = np.zeros(nU, dtype=bool)  # candidates picked in earlier sub-batches
        labelled_X = dense_rows(X, ctx.labeled)
        picks: list[int] = []
        p_at_pick: list[float] = []
        sub_of_pick: list[int] = []
        reasons: list[str] = []
        sub_info: list[dict] = []
        latest_p = np.full(nU, np.nan)  # each candidate's latest P(unlabelled) while unlabelled
        net = None
        for b, size in enumerate(sizes):
            free = np.flatnonzero(~in_L)
            n_lab = len(labelled_X) + len(picks)
            if n_lab == 0:
                chosen = ctx.rng.choice(free, size=size, replace=False)
                for i in chosen:
                    picks.append(int(i))
                    p_at_pick.append(np.nan)
                    sub_of_pick.append(b + 1)
                    reasons.append(f"sub-batch {b + 1}: no labelled samples yet, uniform draw")
                in_L[chosen] = True
                sub_info.append(
                    {"sub_batch": b + 1, "n_labelled": 0, "n_unlabelled": 0, "n_scored": 0, "train_accuracy": None, "epochs": 0}
                )
                continue
            n_unl = int(min(int(self.unlabeled_ratio) * n_lab, len(free)))
            sub = ctx.rng.choice(free, size=n_unl, replace=False)
            X_train = np.concatenate([labelled_X, XU[np.asarray(picks, dtype=np.int64)], XU[sub]])
            y_train = np.concatenate([np.zeros(n_lab), np.ones(n_unl)])
            net, acc, ep = self._train(X_train, y_train, base_seed + b)
            scored = np.sort(sub) if self.candidates == "subsample" else free
            p = self._proba_unlabelled(net, XU[scored])
            latest_p[scored] = p
            best = np.argsort(-p, kind="stable")[:size]
            top, ptop = scored[best], p[best]
            among = f"the {len(scored):,} unlabelled samples it trained on" if self.candidates == "subsample" else "all unlabelled"
            for i, pv in zip(top, ptop):
                picks.append(int(i))
                p_at_pick.append(float(pv))
                sub_of_pick.append(b + 1)
                reasons.append(f"sub-batch {b + 1}: highest P(unlabelled) among {among}")
            in_L[top] = True
            sub_info.append(
                {
                    "sub_batch": b + 1,
                    "n_labelled": int(n_lab),
                    "n_unlabelled": n_unl,
                    "n_scored": len(scored),
                    "train_accuracy": float(acc),
                    "epochs": int(ep),
                }
            )
        if net is not None and self.candidates == "subsample":  # the last discriminator scores the rest, for display
            rest = np.flatnonzero(~in_L)
            latest_p[rest] = self._proba_unlabelled(net, XU[rest])
        comps = pd.DataFrame({"p_unlabelled": np.nan, "sub_batch": np.nan}, index=np.arange(nU))
        comps.loc[picks, "p_unlabelled"] = p_at_pick
        comps.loc[picks, "sub_batch"] = sub_of_pick
        diag = {"sub_batches": sub_info, "n_candidates": int(nU), "candidates": self.candidates}
        return make_selection(ctx, np.asarray(picks), latest_p, reasons, comps, diag)
