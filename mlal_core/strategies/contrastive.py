"""CoMAL: prototype-based sampling in a label-wise contrastive embedding space (Peng et al. 2024).

Each round a fresh contrastive module (:mod:`mlal_core.contrastive`) is trained on the labelled
samples' features ``ctx.features`` (the frozen representation the classifier was trained on, so no
gradient reaches the backbone: the paper's stop-gradient setting). Label prototypes are the
normalised mean embeddings of the positives; every unlabelled sample gets

    SLCI = | #labels with k_j > kbar_j - LC |,   PFD = sum_{j: ystar_j = 1} (1 - k_j),
    Q = SLCI^gamma * PFD^(1 - gamma)

and the n highest Q are picked (ties to the lower pool position). Every candidate's SLCI and PFD are
recorded in ``diagnostics["SLCI"]`` and ``diagnostics["PFD"]`` (float32, aligned with ``ctx.unlabeled``
like the scores: 8 bytes per candidate before compression), so a stored round shows them for every
candidate, not only for its picks. ystar comes from the
classifier's mean probabilities ``ctx.proba_samples`` (> 0.5; METHODS.md), or with
``pfd_labels="module"`` from the module's own head ``sigmoid(h'(v~)) > 0.5`` (the paper's Eq. 8).

Embeddings for the app (CoMAL Fig. 1, 12) go to ``diagnostics["embeddings"]``: the label-wise
``z`` of at most ``embedding_cap`` samples (every selected sample, then up to half of the rest of
the cap from the labelled set and the remainder from the unlabelled pool, both drawn at random
from ``ctx.rng`` after the selection), stored as float16 ``(m, K, d_z)``, with their k-values and
labels (true labels for labelled samples, pseudo labels for unlabelled ones). With the defaults
(cap 1000, d_z 64) that is 128 KB per label, e.g. 3.6 MB for K = 28.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from mlal_core import contrastive as cl
from mlal_core.errors import ConfigError
from mlal_core.features.device import resolve_device
from mlal_core.strategies._common import empty_selection
from mlal_core.strategies.base import QueryContext, QueryStrategy, Selection, check_query_size, top_n
from mlal_core.strategies.registry import register
from mlal_core.validation import Param

#: where the labels whose embeddings enter PFD (Eq. 8) come from
PFD_LABELS = ("classifier", "module")
DEVICES = (None, "cpu", "cuda")


@register(
    display_name="CoMAL (contrastive multi-label AL)",
    paper="Peng, Wang, Chen, Shou, Yao, Wu & Chen (2024). CoMAL: Contrastive Active Learning for "
    "Multi-Label Text Classification. KDD '24.",
    explanation=(
        "CoMAL learns one small embedding per (sample, label) with supervised contrastive learning: "
        "embeddings of samples that have label j are pulled together (and towards a prototype for j), and all "
        "'label absent' embeddings form one shared cluster. For an unlabelled sample it compares each label "
        "embedding with that label's prototype. SLCI counts the labels whose embedding looks more prototypical "
        "than usual and compares that count with the average number of labels per sample (an uncertainty); "
        "PFD adds up how far the embeddings of the predicted labels are from their prototypes (novelty). "
        "Samples with high SLCI and high PFD are picked."
    ),
    needs=("features",),
    choice=(
        "The module trains on the frozen features the classifier used (stop-gradient), from scratch each "
        "round for a fixed number of epochs; L = L_scl + L_rec + L_cls with unit weights; negatives of every "
        "label share one contrastive class; labels without a labelled positive have no prototype (k = 0). "
        "PFD sums over the classifier's pseudo labels ystar = 1[pbar > 0.5] (METHODS.md; default "
        "pfd_labels='classifier'); the paper's Eq. 8 uses the module's own head prediction "
        "sigmoid(h'(v~)) > 0.5 (pfd_labels='module'). Training settings differ from the paper's: Adam, "
        "learning rate 1e-3, d_u = 128 here (sized for frozen MiniLM / TF-IDF features and a short CPU "
        "round) vs AdamW, 1e-4, d_u = 512 (d_v = 768, fine-tuned BERT) in the paper; d_z = 64 as on "
        "the paper's JustDance (256 on AAPD / RCV1)."
    ),
)
class CoMAL(QueryStrategy):
    """Contrastive multi-label active learning (Peng et al. 2024, Sec. 3; METHODS.md "CoMAL").

    With ``k_j(x) = cos(z_j(x), p_j)`` the similarity of the label-wise embedding to label j's
    prototype and ``kbar_j`` its mean over the labelled samples (Eq. 7):
    ``SLCI = |sum_j 1[k_j > kbar_j] - LC|``, ``PFD = sum_j 1[ystar_j = 1] (1 - k_j)`` (Eq. 8) and
    ``Q = SLCI^gamma * PFD^(1 - gamma)``; the ``n`` highest Q are picked.

    ``pfd_labels`` picks the labels PFD sums over: ``"classifier"`` (default, METHODS.md) the
    classifier's ``ystar = 1[pbar > 0.5]``; ``"module"`` (paper Eq. 8) the module's own head,
    ``sigmoid(h'(v~)) > 0.5``, computed in the same pass as the embeddings.
    """

    name: ClassVar[str] = "comal"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("gamma", 0.5, "trade-off: Q = SLCI^gamma * PFD^(1-gamma)", 0.0, 1.0),
        Param("epochs", 10, "training passes of the contrastive module over the labelled set", 1, 1000),
        Param("d_u", 128, "size of each label-specific sub-feature (paper: 512)", 1, 4096),
        Param("d_z", 64, "size of the latent label-wise embedding (paper: 64-256)", 2, 4096),
        Param("temperature", 0.07, "SupCon temperature tau", 1e-3, 10.0),
        Param("lr", 1e-3, "Adam learning rate of the module (paper: AdamW 1e-4)", 1e-6, 1.0),
        Param("batch_size", 64, "mini-batch size (capped so B*K <= 4096 embeddings)", 2, 4096),
        Param("embedding_cap", 1000, "at most this many samples' embeddings are kept for plots", 0, 100_000),
        Param("device", None, "None (CUDA when available), 'cpu' or 'cuda'", choices=DEVICES),
        Param(
            "pfd_labels",
            "classifier",
            "which predicted labels PFD sums over: 'classifier' = the classifier's pseudo labels "
            "(pbar > 0.5, METHODS.md), 'module' = the contrastive module's own head (paper Eq. 8)",
            choices=PFD_LABELS,
        ),
    )

    def __init__(
        self,
        *,
        gamma: float = 0.5,
        epochs: int = 10,
        d_u: int = 128,
        d_z: int = 64,
        temperature: float = 0.07,
        lr: float = 1e-3,
        batch_size: int = 64,
        embedding_cap: int = 1000,
        device: str | None = None,
        pfd_labels: str = "classifier",
    ) -> None:
        self.gamma = gamma
        self.epochs = epochs
        self.d_u = d_u
        self.d_z = d_z
        self.temperature = temperature
        self.lr = lr
        self.batch_size = batch_size
        self.embedding_cap = embedding_cap
        self.device = device
        self.pfd_labels = pfd_labels
        self._validate_params()

    def _compute(self, ctx: QueryContext) -> dict:
        if ctx.features is None:
            raise ConfigError("CoMAL needs ctx.features (the representation the classifier was trained on).")
        if len(ctx.labeled) == 0:
            raise ConfigError("CoMAL needs at least one labelled sample to train its contrastive module.")
        seed = int(ctx.rng.integers(0, 2**31 - 1))
        trained = cl.train_module(
            ctx.features[ctx.labeled],
            ctx.y_labeled,
            d_u=int(self.d_u),
            d_z=int(self.d_z),
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            lr=float(self.lr),
            temperature=float(self.temperature),
            seed=seed,
            device=resolve_device(self.device),
        )
        module = trained.module
        z_lab = cl.embed(module, ctx.features, ctx.labeled)
        P, has_proto = cl.prototypes(z_lab, ctx.y_labeled)
        k_lab = cl.k_values(z_lab, P)
        kbar = k_lab.mean(axis=0)
        lc = ctx.label_cardinality()
        ystar_classifier = ctx.mean_proba() > 0.5
        from_module = self.pfd_labels == "module"
        # unlabelled: k-values (and the module's head predictions) in chunks, without keeping every z
        nU = len(ctx.unlabeled)
        k_unl = np.empty((nU, ctx.n_labels))
        ystar = np.empty((nU, ctx.n_labels), dtype=bool) if from_module else ystar_classifier
        step = cl.embed_chunk(module)
        for s in range(0, nU, step):
            rows = ctx.unlabeled[s : s + step]
            if from_module:
                z, proba = cl.embed_and_predict(module, ctx.features, rows)
                ystar[s : s + step] = proba > 0.5
            else:
                z = cl.embed(module, ctx.features, rows)
            k_unl[s : s + step] = cl.k_values(z, P)
        s_ = cl.slci(k_unl, kbar, lc)
        p_ = cl.pfd(k_unl, ystar)
        q_ = cl.comal_value(s_, p_, float(self.gamma))
        return {
            "trained": trained,
            "P": P,
            "has_proto": has_proto,
            "kbar": kbar,
            "lc": lc,
            "k_lab": k_lab,
            "k_unl": k_unl,
            "ystar": ystar,
            "pfd_label_agreement": float((ystar == ystar_classifier).mean()) if nU else float("nan"),
            "slci": s_,
            "pfd": p_,
            "Q": q_,
        }

    def score(self, ctx: QueryContext) -> np.ndarray:
        """Q of every unlabelled sample (trains the module; seeded from ``ctx.rng``)."""
        return self._compute(ctx)["Q"]

    def _embeddings(self, ctx: QueryContext, r: dict, picked_rows: np.ndarray) -> dict:
        module = r["trained"].module
        cap = int(self.embedding_cap)
        sel = picked_rows[:cap]
        rest = max(0, cap - len(sel))
        n_lab = min(len(ctx.labeled), rest // 2)
        lab_rows = (
            np.sort(ctx.rng.choice(len(ctx.labeled), size=n_lab, replace=False))
            if n_lab
            else np.empty(0, int)
        )
        others = np.setdiff1d(np.arange(len(ctx.unlabeled)), picked_rows)
        n_unl = min(len(others), rest - n_lab)
        unl_rows = np.sort(ctx.rng.choice(others, size=n_unl, replace=False)) if n_unl else np.empty(0, int)
        positions = np.concatenate([ctx.labeled[lab_rows], ctx.unlabeled[sel], ctx.unlabeled[unl_rows]])
        role = np.array(
            ["labelled"] * len(lab_rows) + ["selected"] * len(sel) + ["unlabelled"] * len(unl_rows)
        )
        z = (
            cl.embed(module, ctx.features, positions)
            if len(positions)
            else np.empty((0, ctx.n_labels, int(self.d_z)))
        )
        k = np.concatenate([r["k_lab"][lab_rows], r["k_unl"][sel], r["k_unl"][unl_rows]]).astype(np.float32)
        y = np.concatenate(
            [np.asarray(ctx.y_labeled)[lab_rows] > 0, r["ystar"][sel], r["ystar"][unl_rows]]
        ).astype(np.uint8)
        return {
            "positions": positions,
            "role": role,
            "z": z.astype(np.float16),
            "k": k,
            "y": y,
            "note": "y holds the true labels of labelled samples and, for the others, the predicted labels PFD "
            f"sums over ({self._pfd_label_words()}); at most {cap} samples, z stored as float16.",
        }

    def _pfd_label_words(self) -> str:
        if self.pfd_labels == "module":
            return "the contrastive module's head, sigmoid(h'(v~)) > 0.5"
        return "the classifier's pseudo labels, pbar > 0.5"

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx, {"note": "no unlabelled candidates: nothing trained or selected"})
        r = self._compute(ctx)
        order = top_n(r["Q"], n)
        above = (r["k_unl"][order] > r["kbar"][None, :]).sum(axis=1)
        details = pd.DataFrame(
            {
                "position": ctx.unlabeled[order],
                "pick": np.arange(1, n + 1),
                "score": r["Q"][order],
                "reason": [
                    f"high Q = SLCI^{float(self.gamma):g} * PFD^{1 - float(self.gamma):g}: {a} labels above their mean "
                    f"prototype similarity vs LC {r['lc']:.2f}; predicted labels {p:.2f} away from prototypes"
                    for a, p in zip(above, r["pfd"][order])
                ],
                "SLCI": r["slci"][order],
                "PFD": r["pfd"][order],
                "Q": r["Q"][order],
                "n_above_kbar": above,
                "n_predicted": r["ystar"][order].sum(axis=1),
            }
        )
        trained = r["trained"]
        diagnostics = {
            "prototypes": r["P"].astype(np.float32),
            "has_prototype": r["has_proto"],
            "kbar": r["kbar"],
            "label_cardinality": float(r["lc"]),
            "loss_history": trained.history,
            "train_steps": int(trained.steps),
            "batch_size": int(trained.batch_size),
            "pfd_labels": f"{self.pfd_labels}: {self._pfd_label_words()}",
            "pfd_label_agreement": r["pfd_label_agreement"],
            # every candidate's Q components, aligned with ctx.unlabeled (the walk-through maps them)
            "SLCI": np.asarray(r["slci"], dtype=np.float32),
            "PFD": np.asarray(r["pfd"], dtype=np.float32),
            "embeddings": self._embeddings(ctx, r, order),
        }
        return Selection(
            indices=ctx.unlabeled[order], scores=r["Q"], details=details, diagnostics=diagnostics
        )
