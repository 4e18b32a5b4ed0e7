"""Shared fixtures.

* Every test runs with ``MLAL_HOME`` pointing at its own temporary folder (autouse), so nothing
  touches ``~/.mlal``; session-scoped fixtures get a session-wide temporary home.
* ``small_datasets`` gives small *real* datasets (subsets of the bundled ones, seeded), for tests
  that must run in seconds on a laptop CPU.
* ``FAST_MODEL`` are model parameters that train a 2-member MLP ensemble quickly.
* :data:`FILE_MARKERS` puts whole files in the full suite only (the markers are declared, and the
  default ``-m`` that leaves them out is set, in ``pyproject.toml``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: test file -> marker: the files that belong to the full suite only (``python3 -m pytest -q -m ""``);
#: every other file is a fast unit-test file, run by the plain ``python3 -m pytest -q``
FILE_MARKERS = {
    # sessions, stores, workers, the CLI, experiments, real encoders, browser exports, end to end
    "test_backbone_sessions.py": "integration",
    "test_backbones.py": "integration",
    "test_cli.py": "integration",
    "test_experiments.py": "integration",
    "test_export.py": "integration",
    "test_feature_sources.py": "integration",
    "test_features.py": "integration",
    "test_inspect.py": "integration",
    "test_loop.py": "integration",
    "test_no_label_leak.py": "integration",
    "test_onnx_runtime.py": "integration",
    "test_pretrained.py": "integration",
    "test_reference.py": "integration",
    "test_session_export.py": "integration",
    "test_store.py": "integration",
    "test_worker.py": "integration",
    # the Streamlit pages through AppTest
    "test_app_batch_selection.py": "app",
    "test_app_classroom.py": "app",
    "test_app_home_form.py": "app",
    "test_app_inspect_pages.py": "app",
    "test_app_large_k.py": "app",
    "test_app_pages.py": "app",
    "test_app_preparation.py": "app",
    "test_app_stopping.py": "app",
    # a real browser; the notebooks
    "test_e2e_browser.py": "e2e",
    "test_notebooks.py": "notebook",
}


def pytest_configure(config):
    """A test file (or test) named on the command line runs whole, whatever its tier: the default
    ``-m`` of ``pyproject.toml`` then gives way, unless ``-m`` is given on the command line too."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return
    given = config.invocation_params.args
    if any(a == "-m" or (a.startswith("-m") and not a.startswith("--")) for a in given):
        return
    root = config.invocation_params.dir
    if any((root / str(a).split("::")[0]).is_file() for a in config.args):
        config.option.markexpr = ""


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Mark every test of a file in :data:`FILE_MARKERS` with that file's marker."""
    for item in items:
        marker = FILE_MARKERS.get(item.path.name)
        if marker is not None:
            item.add_marker(getattr(pytest.mark, marker))


#: A small, fast MLP ensemble for tests (the session defaults: 5 members, MLPEnsemble's 20 epochs).
FAST_MODEL = {"n_members": 2, "hidden_size": 64, "epochs": 5, "min_steps": 40}


def assert_page_ok(at) -> None:
    """An AppTest run showed no exception and no ``st.error``."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def page_with_session(page: str, session, timeout: int = 300):
    """Run ``page`` (relative to the repository) in AppTest with ``session`` as the open session; checked clean."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO_ROOT / page), default_timeout=timeout)
    at.session_state["al_session"] = session
    at.run()
    assert_page_ok(at)
    return at


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory):
    """A session-wide ``MLAL_HOME`` (for session-scoped fixtures), restored at the end."""
    old = os.environ.get("MLAL_HOME")
    os.environ["MLAL_HOME"] = str(tmp_path_factory.mktemp("mlal_home_session"))
    yield
    if old is None:
        os.environ.pop("MLAL_HOME", None)
    else:
        os.environ["MLAL_HOME"] = old


@pytest.fixture(autouse=True)
def mlal_home(tmp_path, monkeypatch) -> Path:
    """Point ``MLAL_HOME`` (cache + default session store) at a per-test temporary folder."""
    home = tmp_path / "mlal_home"
    home.mkdir()
    monkeypatch.setenv("MLAL_HOME", str(home))
    return home


def subset_dataset(ds, n_train: int, n_valid: int | None = None, n_test: int | None = None, seed: int = 0, name=None):
    """A seeded row subset of a ``MultiLabelDataset`` (same label space, same kind)."""
    from mlal_core.data import MultiLabelDataset

    rng = np.random.default_rng(seed)

    def take(split, n):
        if n is None or n >= len(split):
            return split.subset(np.arange(len(split)))
        return split.subset(np.sort(rng.choice(len(split), size=n, replace=False)))

    return MultiLabelDataset(
        name=name or f"{ds.name}-subset",
        kind=ds.kind,
        label_names=list(ds.label_names),
        train=take(ds.train, n_train),
        valid=take(ds.valid, n_valid),
        test=take(ds.test, n_test),
        meta=dict(ds.meta),
        valid_carved=ds.valid_carved,
    )


@pytest.fixture(scope="session")
def small_datasets() -> dict:
    """Small real datasets: ``yeast`` (full, 103 raw features, 14 labels), ``yeast_small``
    (400 train / 150 valid / 300 test rows of it), ``yeast_tiny`` (a pool of 30) and
    ``reuters_small`` (600 train / 150 valid / 300 test Reuters-21578 stories, text)."""
    from mlal_core import data

    yeast = data.load("yeast")
    reuters = data.load("reuters21578")
    return {
        "yeast": yeast,
        "yeast_small": subset_dataset(yeast, 400, 150, 300, seed=1, name="yeast-small"),
        "yeast_tiny": subset_dataset(yeast, 30, 60, 100, seed=2, name="yeast-tiny"),
        "reuters_small": subset_dataset(reuters, 600, 150, 300, seed=3, name="reuters-small"),
    }
