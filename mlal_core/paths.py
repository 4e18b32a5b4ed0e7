"""Where the workbench keeps its files: bundled data, the feature cache, the session store.

``MLAL_HOME`` (default ``~/.mlal``) holds the cache and the store; ``MLAL_DATA_DIR`` overrides the
bundled datasets folder (default: ``data/`` at the repository root).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def home_dir() -> Path:
    """``$MLAL_HOME`` or ``~/.mlal``, created on first use."""
    path = Path(os.environ.get("MLAL_HOME", Path.home() / ".mlal")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The folder of bundled datasets."""
    return Path(os.environ.get("MLAL_DATA_DIR", REPO_ROOT / "data")).expanduser()


def cache_dir() -> Path:
    """The on-disk feature cache (``$MLAL_HOME/cache``)."""
    path = home_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store_path() -> Path:
    """The SQLite session store (``$MLAL_HOME/sessions.sqlite``)."""
    return home_dir() / "sessions.sqlite"
