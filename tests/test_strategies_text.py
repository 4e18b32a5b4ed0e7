"""Subword and ALPS: known word-piece splits of the bundled tokenizer, and a tiny masked LM."""

from __future__ import annotations

import string

import numpy as np
import pytest

from mlal_core.errors import ConfigError
from mlal_core.strategies import QueryContext, get, text_based
from mlal_core.strategies.text_based import subword_counts


def text_ctx(texts, labeled=(), seed=0, K=2):
    N = len(texts)
    labeled = np.asarray(labeled, dtype=int)
    return QueryContext(
        labeled=labeled,
        unlabeled=np.setdiff1d(np.arange(N), labeled),
        y_labeled=np.zeros((len(labeled), K)),
        proba_samples=np.full((1, N, K), 0.5),
        texts=list(texts),
        rng=np.random.default_rng(seed),
    )


# Known splits of the bundled all-MiniLM-L6-v2 (uncased BERT word-piece) tokenizer:
#   hello -> hello (1); world -> world (1); unbelievable -> unbelievable (1)
#   antidisestablishmentarianism -> anti ##dis ##est ##ab ##lish ##ment ##arian ##ism (8)
#   xylophonist -> x ##yl ##op ##hon ##ist (5); tokenization -> token ##ization (2)
#   "hello," -> hello , (2: punctuation is its own unit)
SUBWORD_TEXTS = [
    "hello world",  # 2 units / 2 words = 1.0
    "antidisestablishmentarianism",  # 8 / 1 = 8.0
    "xylophonist tokenization hello",  # (5 + 2 + 1) / 3 = 2.6667
    "unbelievable",  # 1 / 1 = 1.0
    "hello, world",  # 3 / 2 = 1.5
    "   ",  # no word -> 0
]


def test_subword_units_by_hand():
    s = get("subword")
    ctx = text_ctx(SUBWORD_TEXTS)
    np.testing.assert_allclose(s.score(ctx), [1.0, 8.0, 8 / 3, 1.0, 1.5, 0.0])
    sel = s.select(ctx, 3)
    assert sel.indices.tolist() == [1, 2, 4]
    d = sel.details
    assert d["units"].tolist() == [8, 8, 3] and d["words"].tolist() == [1, 3, 2]
    units, words = subword_counts(SUBWORD_TEXTS, text_based.load_tokenizer(None))
    assert units.tolist() == [2, 8, 8, 1, 3, 0] and words.tolist() == [2, 1, 3, 1, 2, 0]


def test_subword_computed_once_per_text_list():
    texts = SUBWORD_TEXTS + ["a fresh text for the cache test"]
    s = get("subword")
    first = s.select(text_ctx(texts), 2)
    second = s.select(text_ctx(texts, labeled=[1]), 2)
    assert first.diagnostics["from_cache"] is False
    assert second.diagnostics["from_cache"] is True
    assert 1 not in second.indices.tolist()


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory) -> str:
    """A word-piece tokenizer that knows 'hello' and single letters only."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello"] + list(string.ascii_lowercase)
    vocab += ["##" + c for c in string.ascii_lowercase]
    tk = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )
    folder = tmp_path_factory.mktemp("tiny_tokenizer")
    fast.save_pretrained(str(folder))
    return str(folder)


def test_subword_tokenizer_parameter(tiny_tokenizer):
    # with a vocabulary that lacks 'world', it splits into w ##o ##r ##l ##d: (1 + 5) / 2 = 3 units/word
    texts = ["hello world", "hello hello"]
    np.testing.assert_allclose(get("subword", tokenizer=tiny_tokenizer).score(text_ctx(texts)), [3.0, 1.0])
    np.testing.assert_allclose(get("subword").score(text_ctx(texts)), [1.0, 1.0])
    for bad in ("/no/such/folder", 3):
        with pytest.raises(ConfigError, match="tokenizer"):
            get("subword", tokenizer=bad)


def test_subword_needs_texts():
    ctx = QueryContext(labeled=[], unlabeled=[0, 1], y_labeled=np.zeros((0, 2)), proba_samples=np.full((1, 2, 2), 0.5))
    with pytest.raises(ConfigError, match="texts"):
        get("subword").select(ctx, 1)


# ------------------------------------------------------------------------------------ ALPS
@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory) -> str:
    from test_strategy_contract import make_tiny_mlm

    return make_tiny_mlm(tmp_path_factory.mktemp("tiny_mlm_text"))


ALPS_TEXTS = [
    "the cat sat on the mat",
    "a dog barked at the mailman yesterday",
    "photosynthesis converts light into chemical energy",
    "the stock market fell sharply on monday",
    "serendipitously the xylophonist found a tune",
    "hello world",
    "quantum entanglement puzzles physicists",
    "the cat chased the dog around the garden",
    "rain is expected later this week",
    "antidisestablishmentarianism is a long word",
    "she sells sea shells by the sea shore",
    "tokenization splits words into pieces",
]


def test_alps_refuses_the_bundled_encoder_without_mlm_head():
    with pytest.raises(ConfigError, match="no masked-language-model head") as err:
        get("alps").select(text_ctx(ALPS_TEXTS), 2)
    msg = str(err.value)
    assert "bundled all-MiniLM-L6-v2" in msg and "mlm=" in msg


def test_alps_rejects_a_checkpoint_without_head(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)).save_pretrained(
        str(tmp_path)
    )
    with pytest.raises(ConfigError, match="no masked-language-model head"):
        get("alps", mlm=str(tmp_path)).select(text_ctx(ALPS_TEXTS), 2)


def test_alps_with_tiny_mlm(tiny_mlm):
    s = get("alps", mlm=tiny_mlm)
    sel = s.select(text_ctx(ALPS_TEXTS, labeled=[0], seed=3), 4)
    assert len(set(sel.indices.tolist())) == 4 and 0 not in sel.indices
    assert sel.diagnostics["n_clusters"] == 4
    assert set(sel.details["cluster"].astype(int)) == {0, 1, 2, 3}
    assert (sel.details["reason"] == "nearest text to a surprisal-cluster centre").all()
    # the same seed gives the same picks; the losses are cached (no text runs through the model again)
    again = get("alps", mlm=tiny_mlm).select(text_ctx(ALPS_TEXTS, labeled=[0], seed=3), 4)
    assert again.indices.tolist() == sel.indices.tolist()
    assert again.diagnostics["texts_run_through_mlm_now"] == 0


def test_alps_surprisal_vectors(tiny_mlm):
    s = get("alps", mlm=tiny_mlm, mask_prob=0.5)
    ctx = text_ctx(ALPS_TEXTS)
    emb, raw, n_sampled, _ = s.surprisal_embeddings(ctx)
    norms = np.linalg.norm(emb, axis=1)
    assert np.allclose(norms[n_sampled > 0], 1.0) and np.all(norms[n_sampled == 0] == 0)
    # only real tokens are sampled: position 0 is [CLS], never sampled; no position beyond the text
    assert np.all(raw[:, 0] == 0)
    tok = text_based.load_tokenizer(tiny_mlm)
    lengths = np.array([len(tok(t)["input_ids"]) for t in ALPS_TEXTS])
    for i, L in enumerate(lengths):
        assert np.all(raw[i, L - 1 :] == 0)  # [SEP] and padding
    assert np.all((raw > 0).sum(axis=1) == n_sampled)


def test_alps_mask_prob_parameter(tiny_mlm):
    few = get("alps", mlm=tiny_mlm, mask_prob=0.05).surprisal_embeddings(text_ctx(ALPS_TEXTS))[2]
    all_ = get("alps", mlm=tiny_mlm, mask_prob=1.0).surprisal_embeddings(text_ctx(ALPS_TEXTS))[2]
    tok = text_based.load_tokenizer(tiny_mlm)
    real = np.array([len(tok(t, add_special_tokens=False)["input_ids"]) for t in ALPS_TEXTS])
    assert all_.tolist() == real.tolist()  # 100 %: every real token
    assert few.sum() < all_.sum()
    for bad in (0.0, 1.5, "0.15"):
        with pytest.raises(ConfigError, match="mask_prob"):
            get("alps", mlm=tiny_mlm, mask_prob=bad)


def test_alps_max_length_parameter(tiny_mlm):
    # vectors have max_length entries (capped at the model's 64 positions); long texts are truncated
    short = get("alps", mlm=tiny_mlm, max_length=8).select(text_ctx(ALPS_TEXTS), 2)
    assert short.diagnostics["vector_length"] == 8
    capped = get("alps", mlm=tiny_mlm, max_length=128).select(text_ctx(ALPS_TEXTS), 2)
    assert capped.diagnostics["vector_length"] == 64
    with pytest.raises(ConfigError, match="max_length"):
        get("alps", mlm=tiny_mlm, max_length=4)


def test_alps_batch_size_parameter_only_changes_speed(tiny_mlm):
    text_based._SURPRISAL_CACHE.clear()
    a = get("alps", mlm=tiny_mlm, batch_size=1).surprisal_embeddings(text_ctx(ALPS_TEXTS, seed=1))[1]
    text_based._SURPRISAL_CACHE.clear()
    b = get("alps", mlm=tiny_mlm, batch_size=5).surprisal_embeddings(text_ctx(ALPS_TEXTS, seed=1))[1]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="batch_size"):
        get("alps", mlm=tiny_mlm, batch_size=0)


def test_alps_mlm_must_be_a_local_folder():
    with pytest.raises(ConfigError, match="local folder"):
        get("alps", mlm="bert-base-uncased")
