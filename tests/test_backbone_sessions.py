"""Text backbones inside the session: token features, store round trip, resume, every strategy family,
the candidate subset, and the background worker cancelling a fine-tuning round."""

from __future__ import annotations

import numpy as np
import pytest

from mlal_core.errors import ConfigError
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore
from mlal_core.session.worker import SessionWorker

#: tiny but real: 2 members, short texts, few epochs
TINY = {
    "textcnn": {"n_members": 2, "epochs": 3, "max_length": 48, "n_filters": 16, "embedding_dim": 32,
                "learning_rate": 1e-2, "batch_size": 16},
    "textrnn": {"n_members": 2, "epochs": 2, "max_length": 48, "hidden_size": 16, "embedding_dim": 32,
                "learning_rate": 1e-2, "batch_size": 16},
    "transformer": {"n_members": 1, "mc_passes": 2, "mc_scope": "head", "epochs": 1, "max_length": 32,
                    "encoder": "paraphrase-minilm-l3-v2",
                    "batch_size": 16},
}


@pytest.fixture(scope="module")
def reuters_tiny():
    from conftest import subset_dataset

    from mlal_core import data

    return subset_dataset(data.load("reuters21578"), 160, 40, 60, seed=5, name="reuters-tiny")


def _config(model: str, **kw) -> SessionConfig:
    base = {"model": model, "model_params": dict(TINY[model]), "strategy": "bald", "initial_size": 40,
            "query_size": 10, "rounds": 2, "seed": 0}
    base.update(kw)
    return SessionConfig(**base)


def _picks(history) -> list:
    return [None if r.selected is None else r.selected.tolist() for r in history]


@pytest.mark.parametrize("model", ["textcnn", "textrnn", "transformer"])
def test_a_backbone_session_round_trips_through_the_store_and_resumes(model, reuters_tiny, tmp_path):
    store = SessionStore(tmp_path / "s.sqlite")
    session = ActiveLearningSession(_config(model), dataset=reuters_tiny, store=store)
    assert session.representation == "tokens"
    assert session.feature_max_length == TINY[model]["max_length"]
    session.step()
    feats = session.features
    assert feats.name == "tokens" and feats.train.dtype == np.int32 and feats.train.shape[1] == session.feature_max_length
    # the model was a deep ensemble and the strategies got its pooled embedding as features
    rec = session.history[0]
    assert rec.n_candidates == len(reuters_tiny.train) - 40
    resumed = ActiveLearningSession.resume(store, session.session_id, reuters_tiny)
    resumed.run()
    plain = ActiveLearningSession(_config(model), dataset=reuters_tiny)  # uninterrupted, no store
    plain.run()
    assert _picks(resumed.history) == _picks(plain.history)
    assert resumed.history[-1].metrics["micro_f1"] == plain.history[-1].metrics["micro_f1"]
    assert resumed.finished and [r.round for r in store.load_rounds(session.session_id)] == [0, 1, 2]


@pytest.mark.parametrize("strategy", ["entropy", "beal", "crab", "badge", "coreset", "dal", "comal", "subword"])
def test_strategies_of_every_family_run_on_a_textcnn(strategy, reuters_tiny):
    params = {"epochs": 1} if strategy == "comal" else {}
    session = ActiveLearningSession(_config("textcnn", strategy=strategy, strategy_params=params, rounds=1),
                                    dataset=reuters_tiny)
    pending = session.propose()
    assert len(pending.selected) == 10 and np.isin(pending.selected, session.unlabeled).all()
    ctx = pending.context
    # strategies read a dense representation: the backbone's pooled embedding of the pool
    assert ctx.embedding is not None and ctx.features is ctx.embedding
    assert ctx.features.shape == (len(reuters_tiny.train), pending.model.embedding_dim_)
    assert ctx.proba_samples.shape == (2, len(reuters_tiny.train), reuters_tiny.n_labels)


def test_mc_dropout_samples_reach_the_strategies(reuters_tiny):
    params = {**TINY["textcnn"], "mc_passes": 3}
    session = ActiveLearningSession(_config("textcnn", model_params=params, rounds=1), dataset=reuters_tiny)
    ctx = session.propose().context
    assert ctx.proba_samples.shape[0] == 6
    assert not np.allclose(ctx.proba_samples[0], ctx.proba_samples[1])  # passes of one member differ


def test_candidate_subset_with_a_backbone_is_seeded_and_recorded(reuters_tiny):
    cfg = _config("textcnn", candidate_subset=30, rounds=1)
    a = ActiveLearningSession(cfg, dataset=reuters_tiny).step()
    b = ActiveLearningSession(cfg, dataset=reuters_tiny).step()
    assert a.n_candidates == 30 and a.n_unlabeled == 120
    assert a.selected.tolist() == b.selected.tolist()


def test_backbones_need_a_text_dataset_and_token_ids(small_datasets):
    with pytest.raises(ConfigError, match="text backbone"):
        ActiveLearningSession(_config("textcnn"), dataset=small_datasets["yeast_small"])
    with pytest.raises(ConfigError, match="token ids"):
        _config("textcnn", representation="minilm").resolve_representation("text")
    with pytest.raises(ConfigError, match="for the text backbones"):
        SessionConfig(representation="tokens").resolve_representation("text")
    with pytest.raises(ConfigError, match="n_filters"):
        _config("textcnn", model_params={"n_filters": 0}).validate(check_names=False)
    with pytest.raises(ConfigError, match="Unknown parameter"):
        _config("textcnn", model_params={"n_filterz": 3}).validate(check_names=False)


def test_the_worker_cancels_a_fine_tuning_round_mid_epoch(reuters_tiny, tmp_path):
    store = SessionStore(tmp_path / "s.sqlite")
    params = {**TINY["transformer"], "epochs": 3}
    session = ActiveLearningSession(_config("transformer", model_params=params), dataset=reuters_tiny, store=store)
    worker = SessionWorker(session, records=3)
    progress = worker._progress
    batches: list[str] = []

    def cancel_on_the_second_batch(done, total, message):
        if message.startswith("Round 0: Training TransformerEnsemble (member 1"):
            batches.append(message)
            if len(batches) == 2:
                worker.cancel()
        progress(done, total, message)

    worker._progress = cancel_on_the_second_batch
    worker.start()
    assert worker.join(timeout=600)
    st = worker.status()
    assert st.state == "cancelled" and st.records_done == 0 and len(batches) == 2
    assert session.history == [] and store.load_rounds(session.session_id) == []


def test_every_path_featurizes_token_ids_at_the_backbones_own_length(reuters_tiny):
    """The session, the full-data reference and the experiment workers all tokenise at the model's
    max_length (CRAB's 256 for TextCNN by default), not at the frozen encoder's config.max_length."""
    from mlal_core import experiments
    from mlal_core.session import reference

    assert SessionConfig(model="textcnn").feature_max_length("tokens") == 256
    assert SessionConfig(model="transformer").feature_max_length("tokens") == 128
    assert SessionConfig(max_length=64).feature_max_length("minilm") == 64
    cfg = _config("textcnn", model_params={**TINY["textcnn"], "max_length": 40}, max_length=128)
    assert reference.cache_key(cfg, reuters_tiny) != reference.cache_key(
        _config("textcnn", model_params={**TINY["textcnn"], "max_length": 24}), reuters_tiny)
    feats = experiments.tasks._features(reuters_tiny, "reuters-tiny", "tokens", cfg.feature_max_length("tokens"))
    assert feats.train.shape[1] == 40
    other = experiments.tasks._features(reuters_tiny, "reuters-tiny", "tokens", 24)
    assert other.train.shape[1] == 24  # cached per length, not shared across lengths
