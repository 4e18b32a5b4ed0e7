"""Text backbones over token-id batches (``torch.nn.Module``s used by ``deep_text.py``).

Every network is a :class:`TextClassifier`: ``trunk(ids, mask) -> z`` (B, F), the pooled
penultimate representation, then ``Dropout(p) -> Linear(F, K)`` to one logit per label. The input
is a (B, L) tensor of token ids right-padded with 0 (``features.tokens``); the attention mask is
``ids != 0`` and each batch is first cut to its longest text, so padding costs nothing.

Trunks:

* :class:`TextCNN` (Kim 2014, a backbone of CRAB): embedding, convolutions of widths 3/4/5 with 100
  filters each, ReLU, max over time (:class:`ConvMaxPool`).
* :class:`TextRNN` (Liu et al. 2016, a backbone of CRAB): embedding, one bidirectional GRU layer
  over packed sequences, pooling over the valid steps (attention as in NeuralClassifier, CRAB's code
  base, or mean / max).
* :class:`TransformerTrunk`: a pretrained BERT encoder (``models.pretrained``) and a head: masked mean
  or [CLS] pooling ("linear"), the same followed by ``Linear -> ReLU`` ("mlp"; with the classifier's
  dropout and Linear it is the 2-layer MLP of BEAL / CoMAL), or convolutions with max over time over
  the token states ("cnn", the XMTC strategy study's CNN head).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..features.tokens import PAD_ID

if TYPE_CHECKING:
    from transformers import BertModel


class ConvMaxPool(nn.Module):
    """Convolutions over time + ReLU + max over time, padding excluded (Kim 2014).

    ``x`` (B, L, D), ``mask`` (B, L) bool -> (B, len(kernel_sizes) * n_filters). Padded positions
    are zeroed and every window starts at a real token; a window that runs past the end of its text
    sees zeros (so a text shorter than the widest filter still has windows), and windows that start
    on padding are excluded from the max. The result does not depend on how much padding follows a
    text. (Kim's windows lie fully inside the sentence, which is padded with zeros to the widest
    filter; the windows here that reach past the end read the same zeros.)
    """

    def __init__(self, in_dim: int, kernel_sizes: Sequence[int] = (3, 4, 5), n_filters: int = 100):
        super().__init__()
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.convs = nn.ModuleList(nn.Conv1d(in_dim, int(n_filters), k) for k in self.kernel_sizes)
        self.out_dim = len(self.kernel_sizes) * int(n_filters)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        x = (x * mask.unsqueeze(-1).to(x.dtype)).transpose(1, 2)  # (B, D, L), padding -> 0
        x = F.pad(x, (0, max(self.kernel_sizes) - 1))  # every start has a full window
        blocked = ~mask.unsqueeze(1)  # (B, 1, L): windows starting on padding
        pooled = [
            torch.relu(conv(x)[..., :L]).masked_fill(blocked, float("-inf")).amax(dim=2)
            for conv in self.convs
        ]
        return torch.cat(pooled, dim=1)


def make_embedding(vocab_size: int, dim: int, weights: torch.Tensor | None = None) -> nn.Embedding:
    """Token embedding: a copy of ``weights`` (e.g. MiniLM's input word embeddings) or, from scratch,
    uniform(-0.25, 0.25) as NeuralClassifier (CRAB's code base). Row 0 (padding) gets no gradient.

    Parameters
    ----------
    vocab_size : int
        Number of token ids.
    dim : int
        Embedding size.
    weights : torch.Tensor or None
        Initial embeddings, (vocab_size, dim), copied (None: random, padding row zero).

    Returns
    -------
    nn.Embedding
        The embedding, with ``padding_idx=PAD_ID``.
    """
    emb = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
    with torch.no_grad():
        if weights is not None:
            emb.weight.copy_(weights)
        else:
            emb.weight.uniform_(-0.25, 0.25)
            emb.weight[PAD_ID].zero_()
    return emb


class TextCNN(nn.Module):
    """Kim (2014) CNN for sentence classification: embedding -> ``ConvMaxPool``."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        n_filters: int = 100,
        embedding_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        self.embedding = make_embedding(vocab_size, embedding_dim, embedding_weights)
        self.pool = ConvMaxPool(embedding_dim, kernel_sizes, n_filters)
        self.out_dim = self.pool.out_dim

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.pool(self.embedding(ids), mask)


class TextRNN(nn.Module):
    """Bidirectional GRU over the valid steps (packed sequences) and a pooling of its outputs.

    ``pooling``: ``"attention"`` (NeuralClassifier's TextRNN default: ``a = softmax_t(v . tanh(W h_t
    + b))`` over the valid steps, attention size 16, output ``sum_t a_t h_t``), ``"mean"`` or
    ``"max"`` over the valid steps. Output size ``2 * hidden_size``.
    """

    ATTENTION_DIM = 16  # NeuralClassifier conf/train.json, TextRNN.attention_dimension

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int = 64,
        pooling: str = "attention",
        embedding_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        self.embedding = make_embedding(vocab_size, embedding_dim, embedding_weights)
        self.gru = nn.GRU(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.pooling = pooling
        self.out_dim = 2 * hidden_size
        if pooling == "attention":
            self.attention = nn.Sequential(
                nn.Linear(self.out_dim, self.ATTENTION_DIM),
                nn.Tanh(),
                nn.Linear(self.ATTENTION_DIM, 1, bias=False),
            )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1)
        packed = pack_padded_sequence(
            self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        h, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=ids.shape[1])
        if self.pooling == "mean":  # outputs past the end are zeros
            return h.sum(dim=1) / lengths.unsqueeze(1).to(h.dtype)
        if self.pooling == "max":
            return h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        scores = self.attention(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.float(), dim=1).to(h.dtype)
        return torch.einsum("bl,bld->bd", weights, h)


def freeze_lower_layers(bert: BertModel, n_layers: int) -> None:
    """Freeze the embeddings and the ``n_layers`` lowest encoder layers (nothing for 0), as CoMAL,
    which fine-tunes only the top 3 of BERT-base's 12 layers.

    Parameters
    ----------
    bert : BertModel
        The encoder, changed in place.
    n_layers : int
        Lowest encoder layers to freeze (0 or less: nothing is frozen, not even the embeddings).
    """
    if n_layers <= 0:
        return
    bert.embeddings.requires_grad_(False)
    for layer in bert.encoder.layer[:n_layers]:
        layer.requires_grad_(False)


class TransformerTrunk(nn.Module):
    """A BERT encoder and a head (see the module docstring); ``pooling`` applies to "linear" / "mlp".

    Mean pooling averages the last hidden states over the attention mask, as sentence-transformers'
    Pooling layer does for MiniLM (without its L2 normalisation); "cls" takes the [CLS] state.
    """

    def __init__(
        self,
        bert: BertModel,
        head: str = "linear",
        pooling: str = "mean",
        *,
        head_hidden_size: int = 256,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        n_filters: int = 100,
    ):
        super().__init__()
        self.bert = bert
        self.head, self.pooling = head, pooling
        width = int(bert.config.hidden_size)
        if head == "cnn":
            self.conv = ConvMaxPool(width, kernel_sizes, n_filters)
            self.out_dim = self.conv.out_dim
        elif head == "mlp":
            self.hidden = nn.Sequential(nn.Linear(width, head_hidden_size), nn.ReLU())
            self.out_dim = int(head_hidden_size)
        else:
            self.out_dim = width

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        if self.head == "cnn":
            return self.conv(states, mask)
        if self.pooling == "cls":
            pooled = states[:, 0]
        else:
            m = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * m).sum(dim=1) / m.sum(dim=1)
        return self.hidden(pooled) if self.head == "mlp" else pooled


class TextClassifier(nn.Module):
    """``trunk`` -> Dropout(p) -> Linear(F, K): one logit per label.

    ``features(ids)`` is the trunk's pooled representation z (B, F) (what ``embed`` returns, and
    what head-only MC dropout reuses); ``forward(ids)`` the logits. Both cut the batch to its
    longest text first.
    """

    def __init__(self, trunk: TextCNN | TextRNN | TransformerTrunk, n_labels: int, dropout: float):
        super().__init__()
        self.trunk = trunk
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(trunk.out_dim, n_labels)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != PAD_ID
        width = max(int(mask.sum(dim=1).max()), 1)
        return self.trunk(ids[:, :width], mask[:, :width])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(ids)))
