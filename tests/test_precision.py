"""Numeric precision is a session setting: resolved once, stored, and honoured when reopened."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import FAST_MODEL, REPO_ROOT

from mlal_core.errors import ConfigError
from mlal_core.features import device as fdevice
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore


@pytest.fixture
def cpu_kind(monkeypatch):
    """Make the CPU look like one with (True) or without (False) native bf16."""
    def set_kind(native: bool) -> None:
        monkeypatch.setenv("MLAL_ASSUME_NATIVE_BF16", "1" if native else "0")
        fdevice.cpu_has_native_bf16.cache_clear()
    yield set_kind
    monkeypatch.delenv("MLAL_ASSUME_NATIVE_BF16", raising=False)
    fdevice.cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize(("native", "want"), [(True, "bf16"), (False, "fp32")])
def test_auto_resolves_to_the_machines_precision_and_concrete_values_stay(cpu_kind, native, want):
    cpu_kind(native)
    cfg = SessionConfig(dataset="yeast", model_params={"device": "cpu"})
    assert cfg.precision == "auto" and cfg.with_resolved_precision().precision == want
    for concrete in ("fp32", "bf16"):
        fixed = SessionConfig(dataset="yeast", precision=concrete)
        assert fixed.with_resolved_precision() is fixed


def test_precision_is_validated_and_declared_once():
    with pytest.raises(ConfigError, match="Unknown precision 'fp8'"):
        SessionConfig(precision="fp8").validate(check_names=False)
    with pytest.raises(ConfigError, match="set it once"):
        SessionConfig(model="textcnn", precision="fp32", model_params={"precision": "bf16"}).validate(check_names=False)
    if not fdevice.torch.cuda.is_available():
        with pytest.raises(ConfigError, match="fp16"):
            SessionConfig(precision="fp16", model_params={"device": "cpu"}).with_resolved_precision()


def test_text_backbones_train_at_the_sessions_precision_the_mlp_in_fp32():
    assert SessionConfig(model="textcnn", precision="bf16").resolved_model_params()["precision"] == "bf16"
    assert "precision" not in SessionConfig(precision="bf16").resolved_model_params()


@pytest.mark.slow
def test_a_reopened_session_keeps_its_stored_precision_on_another_kind_of_cpu(small_datasets, tmp_path, cpu_kind):
    ds = small_datasets["yeast_small"]
    store = SessionStore(tmp_path / "s.sqlite")
    cpu_kind(True)
    cfg = SessionConfig(strategy="random", model_params=dict(FAST_MODEL), initial_size=30, query_size=10, rounds=2)
    session = ActiveLearningSession(cfg, dataset=ds, store=store)
    session.step()
    assert session.config.precision == "bf16"
    assert store.session_info(session.session_id)["config"]["precision"] == "bf16"
    cpu_kind(False)  # the same store opened on a machine without native bf16
    reopened = ActiveLearningSession.resume(store, session.session_id, ds)
    assert reopened.config.precision == "bf16"  # not re-resolved
    assert SessionConfig(**{**cfg.to_dict()}).with_resolved_precision().precision == "fp32"  # a new one would be


@pytest.mark.slow  # a subprocess runs a session through the CLI
def test_cli_takes_and_prints_the_precision(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mlal_core", "run", "--dataset", "yeast", "--strategy", "random", "--rounds", "0",
         "--initial-size", "20", "--ensemble", "1", "--epochs", "1", "--precision", "fp32",
         "--store", str(tmp_path / "s.sqlite")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "precision fp32" in out.stdout and "Features: raw (computed)" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "mlal_core", "run", "--dataset", "yeast", "--strategy", "random",
                          "--precision", "fp8"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert bad.returncode == 2 and "fp8" in bad.stderr


@pytest.mark.parametrize("native", [True, False])
def test_the_encoder_runs_bf16_where_native_else_fp32_through_onnxruntime(cpu_kind, native):
    import torch

    from mlal_core.features import encoder
    from mlal_core.features.device import resolve_precision

    cpu_kind(native)
    cpu = torch.device("cpu")
    amp = resolve_precision("auto", cpu)
    assert amp is (torch.bfloat16 if native else None)
    assert encoder.resolve_runtime("auto", cpu, amp) == ("torch" if native else "onnxruntime")
