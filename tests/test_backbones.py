"""Deep text backbones: tokens representation, TextCNN / TextRNN / transformer ensembles."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import f1_score

from mlal_core.errors import ConfigError
from mlal_core.features import featurize, tokens
from mlal_core.models import (
    TextCNNEnsemble,
    TextRNNEnsemble,
    TransformerEnsemble,
    backbones,
    make_model,
)
from mlal_core.models.deep_text import _load_pretrained_quietly

#: tiny, fast networks for the property tests
TINY_CNN = {
    "precision": "fp32",
    "n_members": 2,
    "embedding_dim": 16,
    "n_filters": 8,
    "epochs": 2,
    "batch_size": 16,
    "max_length": 32,
}
TINY_RNN = {
    "precision": "fp32",
    "n_members": 2,
    "embedding_dim": 16,
    "hidden_size": 8,
    "epochs": 2,
    "batch_size": 16,
    "max_length": 32,
}
#: the tests below compare predictions exactly, so they pin fp32 (bf16 is tested on its own, with its tolerance)
TINY_TRANSFORMER = {"n_members": 1, "freeze_layers": 5, "epochs": 1, "batch_size": 8, "max_length": 24,
                    "precision": "fp32"}


@pytest.fixture(scope="module")
def reuters(small_datasets):
    """Reuters-21578 subset as 64-token ids and its 3 most frequent labels."""
    ds = small_datasets["reuters_small"]
    f = featurize(ds, "tokens", max_length=64)
    top = np.argsort(-ds.train.Y.sum(axis=0).astype(np.int64), kind="stable")[:3]
    return {
        "ds": ds,
        "X": f.train,
        "Xv": f.valid,
        "Xt": f.test,
        "Y": ds.train.Y[:, top],
        "Yv": ds.valid.Y[:, top],
        "Yt": ds.test.Y[:, top],
    }


@pytest.fixture(scope="module")
def tiny(reuters):
    """40 training / 20 validation / 30 test texts at 32 tokens."""
    return {
        "X": tokens.truncate(reuters["X"][:40], 32),
        "Y": reuters["Y"][:40],
        "Xv": tokens.truncate(reuters["Xv"][:20], 32),
        "Yv": reuters["Yv"][:20],
        "Xt": tokens.truncate(reuters["Xt"][:30], 32),
    }


@pytest.fixture(scope="module")
def fitted_cnn(tiny):
    return TextCNNEnsemble(**TINY_CNN, mc_passes=3, random_state=0).fit(tiny["X"], tiny["Y"])


@pytest.fixture(scope="module")
def fitted_transformer(tiny):
    return TransformerEnsemble(**TINY_TRANSFORMER, dropout=0.0, mc_passes=2).fit(
        tiny["X"][:16], tiny["Y"][:16]
    )


@contextlib.contextmanager
def _params(model, **params):
    """Temporarily change prediction-time parameters of a (shared, fitted) model."""
    old = {k: getattr(model, k) for k in params}
    model.set_params(**params)
    try:
        yield model
    finally:
        model.set_params(**old)


def _best_constant_micro_f1(Y_true: np.ndarray) -> float:
    """Best micro-F1 of predicting one fixed label set for every row (all subsets of the labels)."""
    K = Y_true.shape[1]
    return max(
        f1_score(
            Y_true,
            np.broadcast_to(np.array(bits, dtype=np.uint8), Y_true.shape),
            average="micro",
            zero_division=0,
        )
        for bits in itertools.product((0, 1), repeat=K)
    )


# ---------------------------------------------------------------------- tokens
def test_tokenize_known_ids_padding_and_truncation():
    ids = tokens.tokenize(["Hello world!", "", "the cat sat on the mat"], max_length=6)
    assert ids.dtype == np.int32 and ids.shape == (3, 6)
    assert ids.tolist() == [
        [101, 7592, 2088, 999, 102, 0],  # [CLS] hello world ! [SEP] pad
        [101, 102, 0, 0, 0, 0],
        [101, 1996, 4937, 2938, 2006, 102],  # exactly 6: not truncated
    ]
    cut, truncated = tokens.tokenize_with_truncation(["the cat sat on the mat", "hello"], max_length=5)
    assert cut.tolist() == [[101, 1996, 4937, 2938, 102], [101, 7592, 102, 0, 0]]
    assert truncated.tolist() == [True, False]
    # cutting a wider matrix equals tokenising at the smaller width
    assert (
        tokens.truncate(ids, 5).tolist()
        == tokens.tokenize(["Hello world!", "", "the cat sat on the mat"], 5).tolist()
    )
    # the input is never written, one row included (a one-row slice is a contiguous view)
    one = tokens.tokenize(["the cat sat on the mat"], max_length=6)
    before = one.copy()
    assert tokens.truncate(one, 4).tolist() == [[101, 1996, 4937, 102]]
    assert one.tolist() == before.tolist()
    with pytest.raises(ConfigError, match="max_length"):
        tokens.tokenize(["x"], max_length=1)
    with pytest.raises(ConfigError, match="not strings"):
        tokens.tokenize(["x", None], max_length=8)


def test_featurize_tokens(small_datasets):
    ds = small_datasets["reuters_small"]
    seen = []
    f = featurize(ds, "tokens", max_length=32, progress=lambda d, t, m: seen.append((d, t)))
    assert f.name == "tokens" and f.train.dtype == np.int32
    assert f.train.shape == (len(ds.train), 32) and f.test.shape == (len(ds.test), 32)
    assert (f.train[:, 0] == 101).all()
    assert f.info["vocab_size"] == 30522 and f.info["pad_id"] == 0 and f.info["max_length"] == 32
    all_texts = list(ds.train.texts) + list(ds.valid.texts) + list(ds.test.texts)
    full_lengths = np.array([len(x) for x in tokens.encoder.load_tokenizer()(all_texts)["input_ids"]])
    assert f.info["truncated_fraction"] == pytest.approx(np.mean(full_lengths > 32))
    assert seen[-1] == (len(all_texts), len(all_texts))
    with pytest.raises(ConfigError, match="needs a text dataset"):
        featurize(small_datasets["yeast_tiny"], "tokens")


# ---------------------------------------------------------------------- learning
@pytest.mark.parametrize(
    "cls, params",
    [
        (TextCNNEnsemble, {"embedding_dim": 64, "epochs": 8}),
        (TextRNNEnsemble, {"embedding_dim": 64, "epochs": 8}),
        (
            TransformerEnsemble,
            {"n": 120, "max_length": 32, "freeze_layers": 5, "epochs": 2, "learning_rate": 5e-4},
        ),
    ],
)
def test_backbone_learns_better_than_a_constant(reuters, cls, params):
    """3 frequent Reuters labels: micro-F1 0.83-0.90 over seeds 0-2 for each backbone vs 0.45 for
    the best constant label set."""
    params = {"n": 300, "max_length": 64, **params}
    n = params.pop("n")
    m = cls(n_members=1, random_state=0, **params)
    m.fit(reuters["X"][:n], reuters["Y"][:n], reuters["Xv"], reuters["Yv"])
    losses = m.history_["train_loss"][0]
    assert losses[-1] < 0.6 * losses[0], losses
    ours = f1_score(reuters["Yt"], m.predict(reuters["Xt"]), average="micro")
    best_constant = _best_constant_micro_f1(reuters["Yt"])
    assert ours > best_constant + 0.25, (ours, best_constant)


# ---------------------------------------------------------------------- samples and determinism
def test_sample_shapes_and_mc_dropout(fitted_cnn, tiny):
    m = fitted_cnn
    S = m.predict_proba_samples(tiny["Xt"])
    assert m.n_samples == 6 and S.shape == (6, 30, 3) and S.dtype == np.float32
    assert ((S >= 0) & (S <= 1)).all()
    # passes of one member differ (dropout on), and the same call gives the same samples
    assert not np.allclose(S[0], S[1]) and not np.allclose(S[3], S[4])
    np.testing.assert_array_equal(S, m.predict_proba_samples(tiny["Xt"]))
    # mc_passes=0: one deterministic sample per member; predict_proba is their mean
    with _params(m, mc_passes=0):
        D = m.predict_proba_samples(tiny["Xt"])
        assert D.shape == (2, 30, 3) and m.n_samples == 2
        np.testing.assert_array_equal(D, m.predict_proba_samples(tiny["Xt"]))
    np.testing.assert_allclose(m.predict_proba(tiny["Xt"]), D.mean(axis=0), rtol=1e-6)
    assert not np.allclose(D[0], D[1])  # members differ
    # the MC passes scatter around the member's deterministic prediction
    assert np.abs(S[:3].mean(axis=0) - D[0]).mean() < np.abs(S[0] - D[0]).mean() + 1e-6


def test_same_seed_same_probabilities_different_seed_differs(tiny):
    params = {**TINY_CNN, "n_members": 1}
    a = TextCNNEnsemble(**params, random_state=3).fit(tiny["X"], tiny["Y"]).predict_proba(tiny["Xt"])
    b = TextCNNEnsemble(**params, random_state=3).fit(tiny["X"], tiny["Y"]).predict_proba(tiny["Xt"])
    c = TextCNNEnsemble(**params, random_state=4).fit(tiny["X"], tiny["Y"]).predict_proba(tiny["Xt"])
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    # fitting does not move torch's global random stream
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    TextCNNEnsemble(**params).fit(tiny["X"], tiny["Y"])
    assert torch.equal(torch.rand(3), expected)


def test_rnn_samples_reproducible_and_members_differ(tiny):
    m = TextRNNEnsemble(**TINY_RNN, mc_passes=2).fit(tiny["X"], tiny["Y"])
    S = m.predict_proba_samples(tiny["Xt"])
    assert S.shape == (4, 30, 3)
    np.testing.assert_array_equal(S, m.predict_proba_samples(tiny["Xt"]))
    assert not np.allclose(S[0], S[1]) and not np.allclose(S[0], S[2])
    assert m.embed(tiny["Xt"]).shape == (30, 16)


def test_head_only_mc_keeps_the_backbone_deterministic(fitted_transformer, tiny):
    """With dropout 0 before the classifier, head-only MC passes all equal the deterministic member
    (the backbone runs without dropout); full MC passes differ (BERT's own dropout)."""
    m = fitted_transformer
    X = tiny["Xt"][:12]
    det = m.predict_proba(X)
    emb = m.embed(X)
    with _params(m, mc_scope="head"):
        head = m.predict_proba_samples(X)
    assert head.shape == (2, 12, 3)
    np.testing.assert_allclose(head, np.broadcast_to(det, head.shape), rtol=1e-5, atol=1e-6)
    full = m.predict_proba_samples(X)
    assert np.abs(full[0] - full[1]).max() > 1e-4 and np.abs(full[0] - det).max() > 1e-4
    np.testing.assert_array_equal(m.embed(X), emb)


def test_head_only_mc_varies_only_the_head(fitted_cnn, tiny):
    m = fitted_cnn
    with _params(m, mc_scope="head"):
        S, Z = m.predict_samples_and_embedding(tiny["Xt"])
    assert S.shape == (6, 30, 3) and not np.allclose(S[0], S[1])
    # each pass is the classifier on a masked copy of the member's deterministic representation
    net = m.members_[0]
    with torch.no_grad():
        z = torch.from_numpy(Z)
        keep = m._head_masks(3, torch.device("cpu"))[0]
        expected = torch.sigmoid(net.classifier(z.unsqueeze(0) * keep.unsqueeze(1))).numpy()
    np.testing.assert_allclose(S[:3], expected, rtol=1e-5, atol=1e-6)
    assert ((keep == 0) | (keep == 2.0)).all()  # inverted dropout with p = 0.5


@pytest.mark.parametrize("scope", ["full", "head"])
def test_samples_and_embedding_in_one_pass_equal_the_separate_calls(fitted_cnn, tiny, scope):
    m = fitted_cnn
    calls = []
    with _params(m, mc_scope=scope, eval_batch_size=8):  # 4 chunks
        S, Z = m.predict_samples_and_embedding(tiny["Xt"], progress=lambda d, t, msg: calls.append((d, t)))
        np.testing.assert_array_equal(S, m.predict_proba_samples(tiny["Xt"]))
        np.testing.assert_array_equal(Z, m.embed(tiny["Xt"]))
    assert Z.shape == (30, 24)
    # one report per network pass: full = 4 chunks x (2 members x 3 passes + member 0 without
    # dropout for the embedding); head = 4 chunks x 2 members
    assert [d for d, _ in calls] == list(range(1, len(calls) + 1))
    assert {t for _, t in calls} == {len(calls)} and len(calls) == (28 if scope == "full" else 8)


def test_transformer_samples_and_embedding_in_one_pass(fitted_transformer, tiny):
    X = tiny["Xt"][:12]
    S, Z = fitted_transformer.predict_samples_and_embedding(X)
    np.testing.assert_array_equal(S, fitted_transformer.predict_proba_samples(X))
    np.testing.assert_array_equal(Z, fitted_transformer.embed(X))
    assert Z.shape == (12, 384)


# ---------------------------------------------------------------------- backbones
def test_conv_max_pool_ignores_padding():
    torch.manual_seed(0)
    pool = backbones.ConvMaxPool(6, kernel_sizes=(2, 3), n_filters=4)
    x = torch.randn(2, 5, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)
    out = pool(x, mask)
    assert out.shape == (2, 8)
    # huge values at padded positions neither win the max nor leak into windows
    x_big = x.clone()
    x_big[1, 2:] = 1e4
    torch.testing.assert_close(pool(x_big, mask), out)
    # more padding changes nothing; a short text alone gives the same result
    x_long = torch.cat([x, torch.randn(2, 4, 6)], dim=1)
    mask_long = torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(pool(x_long, mask_long)[1], out[1])
    torch.testing.assert_close(pool(x[1:, :2], mask[1:, :2])[0], out[1])


@pytest.mark.parametrize("pooling", ["attention", "mean", "max"])
def test_rnn_pooling_ignores_padding(pooling):
    torch.manual_seed(0)
    rnn = backbones.TextRNN(200, 8, hidden_size=4, pooling=pooling).eval()
    ids = torch.tensor([[101, 5, 6, 7, 102], [101, 9, 102, 0, 0]])
    out = rnn(ids, ids != 0)
    assert out.shape == (2, 8)
    torch.testing.assert_close(rnn(ids[1:, :3], ids[1:, :3] != 0)[0], out[1])


#: bf16 keeps 8 significant bits: unit roundoff 2**-8 relative. Padding changes the shapes, so the
#: kernels (and their rounding) differ; a probability in [0, 1] may then move by a few roundoffs of
#: its logit path: allow 2 * 2**-8 absolute. fp32 agrees to ~1e-6.
PADDING_ATOL = {"fp32": 1e-5, "bf16": 2 * 2.0**-8}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_transformer_cnn_head_masks_padding(tiny, precision):
    """bf16 runs natively where the CPU has it and emulated elsewhere; both within bf16's tolerance."""
    m = TransformerEnsemble(
        **{**TINY_TRANSFORMER, "freeze_layers": 6, "precision": precision}, head="cnn", n_filters=8,
        kernel_sizes=(2, 3)
    )
    m.fit(tiny["X"][:8], tiny["Y"][:8])
    assert m.precision_ == precision
    lengths = (tiny["Xt"] != 0).sum(axis=1)
    short, long = int(np.argmin(lengths)), int(np.argmax(lengths))
    assert lengths[short] < lengths[long]
    alone = m.predict_proba(tiny["Xt"][[short]])
    together = m.predict_proba(tiny["Xt"][[long, short]])[1]  # padded to the long text
    np.testing.assert_allclose(together, alone[0], rtol=0, atol=PADDING_ATOL[precision])
    wider = np.pad(tiny["Xt"][[short]], ((0, 0), (0, 8)))  # extra padding columns
    m.set_params(max_length=40)
    np.testing.assert_allclose(m.predict_proba(wider), alone, rtol=0, atol=PADDING_ATOL[precision] / 10)
    assert m.embed(tiny["Xt"][:2]).shape == (2, 16)


def test_freeze_layers_freezes_embeddings_and_lower_layers(tiny):
    m = TransformerEnsemble(
        **{**TINY_TRANSFORMER, "freeze_layers": 4, "learning_rate": 1e-3, "weight_decay": 0.0}
    )
    m.fit(tiny["X"][:8], tiny["Y"][:8])
    pristine = dict(_load_pretrained_quietly("all-minilm-l6-v2").named_parameters())
    bert = m.members_[0].trunk.bert
    for name, p in bert.named_parameters():
        frozen = name.startswith("embeddings.") or any(
            name.startswith(f"encoder.layer.{i}.") for i in range(4)
        )
        assert torch.equal(p, pristine[name]) == frozen, name
    assert not any(p.requires_grad for p in m.members_[0].parameters())
    with pytest.raises(ConfigError, match="has 6 layers"):
        TransformerEnsemble(**{**TINY_TRANSFORMER, "freeze_layers": 7}).fit(tiny["X"][:4], tiny["Y"][:4])


def test_minilm_embedding_init(tiny):
    """Rows of tokens absent from the training texts keep MiniLM's values (weight decay 0: AdamW
    leaves rows with zero gradient unchanged)."""
    X, Y = tiny["X"][:6], tiny["Y"][:6]
    m = TextCNNEnsemble(
        n_members=1, embedding_init="minilm", n_filters=4, epochs=1, weight_decay=0.0, max_length=32
    )
    m.fit(X, Y)
    weights = m.members_[0].trunk.embedding.weight
    assert weights.shape == (30522, 384)
    minilm = _load_pretrained_quietly("all-minilm-l6-v2").embeddings.word_embeddings.weight
    unseen = np.setdiff1d(np.arange(30522), X)
    torch.testing.assert_close(weights[unseen], minilm[unseen], rtol=0, atol=0)
    assert not torch.equal(weights[np.unique(X[X != 0])], minilm[np.unique(X[X != 0])])


def test_model_cuts_wider_inputs_to_max_length(fitted_cnn, reuters):
    X64 = reuters["Xt"][:10]
    np.testing.assert_array_equal(
        fitted_cnn.predict_proba(X64), fitted_cnn.predict_proba(tokens.truncate(X64, 32))
    )


def test_bf16_precision_runs_and_is_recorded(tiny):
    m = TextCNNEnsemble(**{**TINY_CNN, "n_members": 1, "epochs": 1, "precision": "bf16"}).fit(
        tiny["X"], tiny["Y"]
    )
    assert m.precision_ == "bf16" and m.device_.type == "cpu"
    P = m.predict_proba(tiny["Xt"])
    assert P.dtype == np.float32 and np.isfinite(P).all()
    assert (
        TextCNNEnsemble(**TINY_CNN).fit(tiny["X"][:8], tiny["Y"][:8]).precision_ == "fp32"
    )


# ---------------------------------------------------------------------- early stopping and progress
def test_early_stopping_restores_the_best_epoch(tiny):
    # a high learning rate overfits 40 texts within a few epochs (validation loss lowest after epoch 2)
    overfit = {**TINY_CNN, "n_members": 1, "epochs": 8, "embedding_dim": 64, "learning_rate": 0.1}
    m = TextCNNEnsemble(**overfit, patience=8)
    m.fit(tiny["X"], tiny["Y"], tiny["Xv"], tiny["Yv"])
    valid = m.history_["valid_loss"][0]
    best = m.history_["best_epoch"][0]
    assert len(valid) == 8 and not m.history_["stopped_early"][0]
    assert best == int(np.argmin(valid)) + 1 and best < 8, valid
    P = np.clip(m.predict_proba(tiny["Xv"]).astype(np.float64), 1e-7, 1 - 1e-7)
    Yv = tiny["Yv"]
    loss = -np.mean(Yv * np.log(P) + (1 - Yv) * np.log(1 - P))
    assert loss == pytest.approx(min(valid), rel=1e-3)
    # with a short patience the member stops patience epochs after its best one
    s = TextCNNEnsemble(**overfit, patience=2)
    s.fit(tiny["X"], tiny["Y"], tiny["Xv"], tiny["Yv"])
    assert s.history_["stopped_early"] == [True]
    assert len(s.history_["valid_loss"][0]) == s.history_["best_epoch"][0] + 2
    # without validation data every epoch runs
    n = TextCNNEnsemble(**{**TINY_CNN, "n_members": 1, "epochs": 3}).fit(tiny["X"], tiny["Y"])
    assert len(n.history_["train_loss"][0]) == 3 and n.history_["valid_loss"] == [[]]


class _Cancelled(Exception):
    pass


def test_progress_is_reported_and_its_exception_propagates(tiny):
    calls = []
    m = TextCNNEnsemble(**TINY_CNN)  # 2 members x 2 epochs x ceil(40 / 16) = 3 batches
    m.fit(tiny["X"], tiny["Y"], progress=lambda d, t, msg: calls.append((d, t, msg)))
    assert [c[0] for c in calls] == list(range(1, 13)) and {c[1] for c in calls} == {12}
    assert "member 2, epoch 2" in calls[-1][2]

    def cancel(done, total, message):
        if done == 4:
            raise _Cancelled

    fresh = TextCNNEnsemble(**TINY_CNN)
    with pytest.raises(_Cancelled):
        fresh.fit(tiny["X"], tiny["Y"], progress=cancel)
    assert not fresh.__sklearn_is_fitted__()
    with _params(m, eval_batch_size=4), pytest.raises(_Cancelled):
        m.predict_proba_samples(tiny["Xt"], progress=cancel)


def test_early_stop_skips_the_remaining_progress(tiny):
    calls = []
    m = TextCNNEnsemble(
        **{**TINY_CNN, "n_members": 1, "epochs": 8, "embedding_dim": 64}, learning_rate=0.1, patience=1
    )
    m.fit(tiny["X"], tiny["Y"], tiny["Xv"], tiny["Yv"], progress=lambda d, t, msg: calls.append((d, t, msg)))
    assert m.history_["stopped_early"] == [True]
    assert calls[-1][:2] == (24, 24) and "stopped early" in calls[-1][2]


# ---------------------------------------------------------------------- parameters and inputs
@pytest.mark.parametrize(
    "cls, param, value",
    [
        (TextCNNEnsemble, "n_members", 0),
        (TextCNNEnsemble, "mc_passes", -1),
        (TextCNNEnsemble, "mc_scope", "backbone"),
        (TextCNNEnsemble, "dropout", 1.0),
        (TextCNNEnsemble, "learning_rate", 0),
        (TextCNNEnsemble, "weight_decay", -0.1),
        (TextCNNEnsemble, "batch_size", 0),
        (TextCNNEnsemble, "epochs", 0),
        (TextCNNEnsemble, "early_stopping", "yes"),
        (TextCNNEnsemble, "patience", 0),
        (TextCNNEnsemble, "max_length", 1),
        (TextCNNEnsemble, "max_length", 513),
        (TextCNNEnsemble, "precision", "fp8"),
        (TextCNNEnsemble, "eval_batch_size", 0),
        (TextCNNEnsemble, "num_threads", 0),
        (TextCNNEnsemble, "random_state", 1.5),
        (TextCNNEnsemble, "embedding_init", "glove"),
        (TextCNNEnsemble, "embedding_dim", 0),
        (TextCNNEnsemble, "kernel_sizes", ()),
        (TextCNNEnsemble, "kernel_sizes", (3, 0)),
        (TextCNNEnsemble, "n_filters", 0),
        (TextRNNEnsemble, "hidden_size", 0),
        (TextRNNEnsemble, "pooling", "last"),
        (TransformerEnsemble, "encoder", "bert-base-uncased"),
        (TransformerEnsemble, "freeze_layers", -1),
        (TransformerEnsemble, "head", "attention"),
        (TransformerEnsemble, "pooling", "max"),
        (TransformerEnsemble, "head_hidden_size", 0),
        (TransformerEnsemble, "n_filters", 0),
    ],
)
def test_invalid_parameter(cls, param, value, tiny):
    m = cls(**{param: value})
    with pytest.raises(ConfigError, match=param):
        m.fit(tiny["X"][:4], tiny["Y"][:4])


def test_minilm_embedding_has_a_fixed_size(tiny):
    with pytest.raises(ConfigError, match="embedding_dim"):
        TextCNNEnsemble(embedding_init="minilm", embedding_dim=128).fit(tiny["X"][:4], tiny["Y"][:4])


def test_fp16_needs_cuda(tiny):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    with pytest.raises(ConfigError, match="fp16"):
        TextCNNEnsemble(**{**TINY_CNN, "precision": "fp16"}, device="cpu").fit(tiny["X"][:4], tiny["Y"][:4])


@pytest.mark.parametrize(
    "X, match",
    [
        (np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32), "use representation 'tokens'"),
        (np.array([101, 102, 0, 0]), "2-D integer matrix"),
        (np.array([[101, 30522, 102], [101, 5, 102]] * 2), r"outside \[0, 30522\)"),
        (np.array([[101, -1, 102], [101, 5, 102]] * 2), r"outside \[0, 30522\)"),
        (np.array([[101, 5, 102], [0, 101, 102]] * 2), "starts with padding"),
        (np.array([[101, 0, 102], [101, 5, 102]] * 2), "after padding"),
    ],
)
def test_invalid_token_matrix(X, match, tiny):
    with pytest.raises(ConfigError, match=match):
        TextCNNEnsemble(**TINY_CNN).fit(X, tiny["Y"][: len(X)])


def test_invalid_labels_and_calls(tiny, fitted_cnn):
    X, Y = tiny["X"][:8], tiny["Y"][:8]
    with pytest.raises(ConfigError, match=r"shape \(8, K\)"):
        TextCNNEnsemble(**TINY_CNN).fit(X, Y[:5])
    with pytest.raises(ConfigError, match="0/1"):
        TextCNNEnsemble(**TINY_CNN).fit(X, Y * 2 + 1)
    with pytest.raises(ConfigError, match="both X_valid and Y_valid"):
        TextCNNEnsemble(**TINY_CNN).fit(X, Y, X_valid=X)
    with pytest.raises(ConfigError, match="Y_valid has 2 labels"):
        TextCNNEnsemble(**TINY_CNN).fit(X, Y, X, Y[:, :2])
    with pytest.raises(ConfigError, match="0 labelled texts"):
        TextCNNEnsemble(**TINY_CNN).fit(X[:0], Y[:0])
    with pytest.raises(ConfigError, match="not fitted"):
        TextRNNEnsemble().predict_proba(X)
    with pytest.raises(ConfigError, match="use representation 'tokens'"):
        fitted_cnn.embed(X.astype(np.float32))


def test_clone_get_params_and_registry():
    m = make_model("textcnn", n_members=3, kernel_sizes=[2, 3], learning_rate=1e-3)
    assert isinstance(m, TextCNNEnsemble)
    params = m.get_params()
    assert params["kernel_sizes"] == [2, 3] and params["n_members"] == 3 and params["max_length"] == 256
    c = m.clone()
    assert c is not m and c.get_params() == params and not c.__sklearn_is_fitted__()
    assert clone(c).get_params() == params
    assert TextCNNEnsemble(**params).get_params() == params
    assert isinstance(make_model("textrnn"), TextRNNEnsemble)
    t = make_model("transformer", freeze_layers=3, head="mlp")
    assert isinstance(t, TransformerEnsemble) and t.max_length == 128 and t.learning_rate == 5e-5
    assert t.clone().get_params() == t.get_params()
    with pytest.raises(ConfigError, match="did you mean 'freeze_layers'"):
        make_model("transformer", freeze_layer=3)


@pytest.mark.parametrize("head, pooling, width", [("mlp", "cls", 32), ("linear", "mean", 384)])
def test_transformer_on_the_3_layer_encoder(tiny, head, pooling, width):
    m = TransformerEnsemble(
        **{**TINY_TRANSFORMER, "freeze_layers": 2},
        encoder="paraphrase-minilm-l3-v2",
        head=head,
        pooling=pooling,
        head_hidden_size=32,
    )
    m.fit(tiny["X"][:8], tiny["Y"][:8])
    assert len(m.members_[0].trunk.bert.encoder.layer) == 3
    S, Z = m.predict_samples_and_embedding(tiny["Xt"][:5])
    assert S.shape == (1, 5, 3) and Z.shape == (5, width)
    if head == "mlp":
        assert (Z >= 0).all()  # ReLU hidden layer of the MLP head
