"""The public API: ``mlal_core.__all__``, the README's library examples, sessions given model and
strategy objects (``session/components.py``) and the two model adapters."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest
from conftest import FAST_MODEL, REPO_ROOT, subset_dataset

import mlal_core
from mlal_core.errors import ConfigError
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore

PAPER_NAMES = ("Random", "Entropy", "BALD", "BEAL", "MMC", "Adaptive", "AUDI", "CVIRS", "BADGE", "CoreSet",
               "DAL", "BESRA", "CRAB", "CoMAL", "Subword", "ALPS")


def _library_blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## The library\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def yeast_small():
    from mlal_core import data

    return subset_dataset(data.load("yeast"), 300, 100, 200, seed=1, name="yeast-small")


def _config(**kw) -> SessionConfig:
    base = {"initial_size": 30, "query_size": 15, "rounds": 2, "seed": 5}
    return SessionConfig(**{**base, **kw})


def _picks(session: ActiveLearningSession) -> list:
    return [None if r.selected is None else r.selected.tolist() for r in session.history]


# ============================================================================ __all__
def test_every_public_name_is_importable_documented_and_public():
    assert mlal_core.__all__ == sorted(set(mlal_core.__all__))
    assert set(mlal_core.__all__) == set(mlal_core._EXPORTS) | {"__version__"}
    assert set(mlal_core.__all__) <= set(dir(mlal_core))
    for name in mlal_core.__all__:
        assert not name.startswith("_") or name == "__version__", name
        value = getattr(mlal_core, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    assert re.fullmatch(r"\d+\.\d+\.\d+", mlal_core.__version__)
    with pytest.raises(AttributeError, match="no attribute 'NotAName'"):
        mlal_core.NotAName  # noqa: B018


def test_the_strategy_classes_carry_their_paper_names_and_are_the_registered_ones():
    from mlal_core import strategies

    registered = {info.cls for info in strategies.available()}
    for name in PAPER_NAMES:
        exec(f"from mlal_core import {name} as cls", {}, namespace := {})
        cls = namespace["cls"]
        assert cls.__name__ == name and cls in registered
    assert len(registered) == len(PAPER_NAMES)


def test_importing_the_package_does_not_import_torch_or_the_strategies():
    code = "import sys, mlal_core; print('torch' in sys.modules, 'mlal_core.strategies' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ============================================================================ README
def test_the_readme_opens_its_library_section_with_five_lines():
    blocks = _library_blocks()
    assert len(blocks) >= 2
    assert len([line for line in blocks[0].splitlines() if line.strip()]) == 5
    assert "SklearnAdapter" in blocks[1] and "sklearn" in blocks[1]


@pytest.mark.parametrize("index", range(len(_library_blocks())))
def test_the_readme_library_examples_run_as_written(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(_library_blocks()[index], f"README.md library block {index}", "exec"), {"__name__": "readme"})
    if index == 0:  # one line per record: rounds + 1
        lines = out.getvalue().splitlines()
        assert [int(line.split()[0]) for line in lines] == [0, 1, 2, 3]
        assert [int(line.split()[1]) for line in lines] == [20, 30, 40, 50]
    if index == 1:
        assert out.getvalue().strip() == "mlal_core.models.sklearn_adapter:SklearnAdapter"


# ============================================================================ objects or names
def test_objects_and_names_give_the_same_config_and_the_same_picks(yeast_small):
    from mlal_core import BALD, MLPEnsemble

    by_name = ActiveLearningSession(_config(strategy="bald", model_params=dict(FAST_MODEL)), dataset=yeast_small)
    by_name.run()
    objects = ActiveLearningSession(_config(), dataset=yeast_small, strategy=BALD(), model=MLPEnsemble(**FAST_MODEL))
    objects.run()
    names = ActiveLearningSession(_config(model_params=dict(FAST_MODEL)), dataset=yeast_small,
                                  strategy="bald", model="mlp_ensemble")
    names.run()
    assert objects.config == by_name.config == names.config
    assert objects.config.strategy == "bald" and objects.config.strategy_params == {}
    assert objects.config.model_params == FAST_MODEL  # what differs from the name's defaults, nothing else
    assert _picks(objects) == _picks(by_name) == _picks(names)
    assert [r.metrics for r in objects.history] == [r.metrics for r in by_name.history]


def test_a_users_own_model_object_is_seeded_per_round_like_the_name(yeast_small):
    """An unregistered subclass runs through the object path (a fresh seeded copy each round) and
    picks exactly what the same model built by name picks."""
    from mlal_core import MLPEnsemble

    class OwnMLP(MLPEnsemble):
        """An unregistered model class."""

    by_name = ActiveLearningSession(_config(strategy="entropy", model_params=dict(FAST_MODEL)), dataset=yeast_small)
    by_name.run()
    own = ActiveLearningSession(_config(strategy="entropy"), dataset=yeast_small, model=OwnMLP(**FAST_MODEL))
    own.run()
    assert own.config.model.endswith(":test_a_users_own_model_object_is_seeded_per_round_like_the_name.<locals>.OwnMLP")
    assert own.config.model_params["n_members"] == 2 and "random_state" not in own.config.model_params
    assert _picks(own) == _picks(by_name)
    assert own.build_model(7).random_state == 7 and isinstance(own.build_model(7), OwnMLP)
    assert own.build_model(7) is not own.build_model(7)
    replayed = own.replay_round(1)  # a throw-away copy restored from the records, with the same template
    assert replayed.selected.tolist() == own.history[1].selected.tolist()


def test_a_built_in_object_session_is_stored_and_resumed_by_name(yeast_small, tmp_path):
    from mlal_core import CRAB, MLPEnsemble

    store = SessionStore(tmp_path / "s.sqlite")
    crab = CRAB(alpha_c=3.0)
    first = ActiveLearningSession(_config(rounds=3), dataset=yeast_small, store=store, strategy=crab,
                                  model=MLPEnsemble(**FAST_MODEL))
    first.step()
    stored = store.session_info(first.session_id)["config"]
    assert stored["strategy"] == "crab" and stored["strategy_params"] == {"alpha_c": 3.0}
    resumed = ActiveLearningSession.resume(store, first.session_id, yeast_small)  # no objects: by name
    resumed.run()
    whole = ActiveLearningSession(_config(rounds=3, strategy="crab", strategy_params={"alpha_c": 3.0},
                                          model_params=dict(FAST_MODEL)), dataset=yeast_small)
    whole.run()
    assert _picks(resumed) == _picks(whole)
    with pytest.raises(ConfigError, match="pass the strategy it was run with"):
        ActiveLearningSession.resume(store, first.session_id, yeast_small, strategy=CRAB(alpha_c=2.5))
    # a config that spells out a default is the same strategy as the object with that default
    spelled = ActiveLearningSession(_config(strategy="crab", strategy_params={"alpha_c": 2.0, "beta": 3.0},
                                            model_params=dict(FAST_MODEL)), dataset=yeast_small, store=store)
    again = ActiveLearningSession.resume(store, spelled.session_id, yeast_small, strategy=CRAB(),
                                         model=MLPEnsemble(**FAST_MODEL))
    assert again.config.strategy_params == {"alpha_c": 2.0, "beta": 3.0}


def test_a_users_own_strategy_must_be_passed_again_to_resume(yeast_small, tmp_path):
    from mlal_core import Entropy

    class Seeded(Entropy):
        """Entropy that remembers the ``random_state`` the session gives it each round."""

        seen: list = []

        def __init__(self, random_state: int = 0) -> None:
            self.random_state = random_state

        def select(self, ctx, n):
            Seeded.seen.append(self.random_state)
            return super().select(ctx, n)

    store = SessionStore(tmp_path / "s.sqlite")
    session = ActiveLearningSession(_config(model_params=dict(FAST_MODEL)), dataset=yeast_small, store=store,
                                    strategy=Seeded())
    session.step()
    assert Seeded.seen == [5]  # seed + t for t = 0
    assert session.config.strategy.endswith(".Seeded") and session.config.strategy_params == {"random_state": 0}
    with pytest.raises(ConfigError, match=r"pass the same object again as strategy=\.\.\., e\.g\. .*Seeded\(\.\.\.\)"):
        ActiveLearningSession.resume(store, session.session_id, yeast_small)
    resumed = ActiveLearningSession.resume(store, session.session_id, yeast_small, strategy=Seeded())
    resumed.step()
    assert Seeded.seen == [5, 6]
    with pytest.raises(ConfigError, match="pass the strategy it was run with"):
        ActiveLearningSession.resume(store, session.session_id, yeast_small, strategy=Seeded(random_state=3))


def test_conflicting_and_unusable_objects_are_refused_with_what_to_do(yeast_small):
    from mlal_core import BALD, MLPEnsemble

    with pytest.raises(ConfigError, match="Give the strategy once"):
        ActiveLearningSession(_config(strategy="entropy"), dataset=yeast_small, strategy=BALD())
    with pytest.raises(ConfigError, match="Give the model once"):
        ActiveLearningSession(_config(model_params={"n_members": 3}), dataset=yeast_small, model=MLPEnsemble())
    with pytest.raises(ConfigError, match="Wrap a scikit-learn estimator in SklearnAdapter"):
        ActiveLearningSession(_config(), dataset=yeast_small, model=object())
    with pytest.raises(ConfigError, match="an object with select"):
        ActiveLearningSession(_config(), dataset=yeast_small, strategy=object())
    with pytest.raises(ConfigError, match="cannot hold"):
        from mlal_core.batch_selection import make_sampler

        ActiveLearningSession(_config(), dataset=yeast_small, model=MLPEnsemble(batch_sampler=make_sampler("uncertainty")))
    with pytest.raises(ConfigError, match=r"strategy must be a strategy name; .*ActiveLearningSession\(config"):
        SessionConfig(strategy=BALD()).validate()
    SessionConfig(model="my_lab.models:Net", strategy="my_lab.strategies:Mine").validate()  # class paths are fine


def test_a_bare_scikit_learn_estimator_is_wrapped_and_works_on_sparse_tfidf():
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from mlal_core import CoreSet, SklearnAdapter, data

    ds = subset_dataset(data.load("reuters21578"), 300, 80, 120, seed=3, name="reuters-tiny")
    session = ActiveLearningSession(_config(representation="tfidf", rounds=1), dataset=ds,
                                    model=OneVsRestClassifier(LogisticRegression(max_iter=200)), strategy=CoreSet())
    session.run()
    assert isinstance(session.model_template, SklearnAdapter) and session.finished
    assert session.config.model_params == {"estimator": "OneVsRestClassifier(estimator=LogisticRegression(max_iter=200))"}
    assert len(session.history[0].selected) == 15


# ============================================================================ SklearnAdapter
@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, np.zeros(80), X[:, 3] > 0.5]).astype(np.uint8)
    return X, Y  # label 2 never positive


def test_sklearn_adapter_probabilities_are_the_estimators_own(toy):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.multioutput import MultiOutputClassifier
    from sklearn.neighbors import KNeighborsClassifier

    from mlal_core import SklearnAdapter

    X, Y = toy
    live = [0, 1, 3]
    ovr = SklearnAdapter(OneVsRestClassifier(LogisticRegression())).fit(X, Y)
    P = ovr.predict_proba_samples(X)
    assert P.shape == (1, 80, 4)
    np.testing.assert_allclose(P[0][:, live], ovr.members_[0].predict_proba(X))  # an (n, K) array
    np.testing.assert_array_equal(P[0][:, 2], 0.0)  # never seen positive: constant 0, not fitted
    assert ovr.constant_labels_.tolist() == [-1, -1, 0, -1]
    np.testing.assert_allclose(ovr.predict_proba(X), P[0])

    moc = SklearnAdapter(MultiOutputClassifier(LogisticRegression())).fit(X, Y)
    blocks = moc.members_[0].predict_proba(X)  # a list of (n, 2) blocks, classes [0, 1]
    np.testing.assert_allclose(moc.predict_proba(X)[:, live], np.column_stack([b[:, 1] for b in blocks]))

    knn = SklearnAdapter(KNeighborsClassifier(n_neighbors=4)).fit(X, Y)
    P_knn = knn.predict_proba(X)
    assert set(np.unique(P_knn[:, live])) <= {0.0, 0.25, 0.5, 0.75, 1.0}  # k = 4 neighbours: quarters
    np.testing.assert_allclose(P_knn[:, 0], knn.members_[0].predict_proba(X)[0][:, 1])

    always = Y.copy()
    always[:, 2] = 1
    np.testing.assert_array_equal(SklearnAdapter(LogisticRegression()).fit(X, always[:, [2, 0]])
                                  .predict_proba(X)[:, 0], 1.0)  # always positive: constant 1


def test_sklearn_adapter_ensemble_gives_one_seeded_sample_per_member(toy):
    from sklearn.ensemble import RandomForestClassifier

    from mlal_core import SklearnAdapter

    X, Y = toy
    model = SklearnAdapter([RandomForestClassifier(n_estimators=5) for _ in range(3)], random_state=10).fit(X, Y)
    P = model.predict_proba_samples(X)
    assert P.shape == (3, 80, 4) and model.n_samples == 3
    assert [m.random_state for m in model.members_] == [10, 11, 12]
    for s, member in enumerate(model.members_):
        np.testing.assert_allclose(P[s][:, 0], member.predict_proba(X)[0][:, 1])
    assert not np.allclose(P[0], P[1])  # different seeds, different forests
    again = SklearnAdapter([RandomForestClassifier(n_estimators=5) for _ in range(3)], random_state=10).fit(X, Y)
    np.testing.assert_array_equal(again.predict_proba_samples(X), P)
    samples, embedding = model.predict_samples_and_embedding(X)
    np.testing.assert_array_equal(samples, P)
    np.testing.assert_array_equal(embedding, X.astype(np.float32))


def test_sklearn_adapter_refuses_what_it_cannot_read(toy):
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from mlal_core import SklearnAdapter

    X, Y = toy
    with pytest.raises(ConfigError, match="no predict_proba"):
        SklearnAdapter(LinearRegression())
    with pytest.raises(ConfigError, match="not fitted yet"):
        SklearnAdapter(LogisticRegression()).predict_proba(X)
    with pytest.raises(ValueError):  # a binary classifier cannot fit several labels: scikit-learn says so
        SklearnAdapter(LogisticRegression()).fit(X, Y)


# ============================================================================ TorchModuleAdapter
def test_torch_adapter_with_fixed_weights_gives_the_sigmoid_of_the_logits():
    import torch

    from mlal_core import TorchModuleAdapter

    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        net.bias.copy_(torch.tensor([0.0, 1.0]))
    X = np.array([[0.0, 0.0], [np.log(3.0), 2.0]], dtype=np.float32)
    model = TorchModuleAdapter(net, epochs=0, reinitialize=False, device="cpu").fit(X, np.zeros((2, 2)))
    # logits [0, 1] and [ln 3, -1]: sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-1) = 1 / (1 + e)
    expect = np.array([[0.5, 1 / (1 + np.exp(-1))], [0.75, 1 / (1 + np.e)]])
    np.testing.assert_allclose(model.predict_proba(X), expect, rtol=1e-6)
    assert model.predict_proba_samples(X).shape == (1, 2, 2)


def test_torch_adapter_trains_seeded_ensembles_and_leaves_the_module_alone():
    import torch

    from mlal_core import TorchModuleAdapter

    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 3)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] < 0]).astype(np.uint8)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2))
    before = [p.detach().clone() for p in net.parameters()]

    def fitted(seed: int) -> TorchModuleAdapter:
        return TorchModuleAdapter(net, n_members=2, mc_passes=3, epochs=25, learning_rate=1e-2, random_state=seed,
                                  device="cpu").fit(X, Y)

    model = fitted(0)
    assert ((model.predict_proba(X) > 0.5) == Y).mean() > 0.9  # learned a separable problem
    samples = model.predict_proba_samples(X)
    assert samples.shape == (6, 240, 2) and model.n_samples == 6
    np.testing.assert_array_equal(fitted(0).predict_proba_samples(X), samples)  # seeded
    assert not np.allclose(fitted(1).predict_proba(X), model.predict_proba(X))
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert model.embed(X).shape == (240, 3)  # no embed() on the module: the features


def test_torch_adapter_refuses_a_module_with_the_wrong_output():
    import torch

    from mlal_core import TorchModuleAdapter

    X = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ConfigError, match=r"must return \(batch, K\) = \(1, 2\) logits .* it returned \(1, 5\)"):
        TorchModuleAdapter(torch.nn.Linear(3, 5), epochs=0, device="cpu").fit(X, np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="needs a torch.nn.Module"):
        TorchModuleAdapter(lambda x: x)
