"""Where the workbench keeps its files: bundled data, the feature cache, the session store.

``MLAL_HOME`` (default ``~/.mlal``) holds the cache and the store; ``MLAL_DATA_DIR`` overrides the
bundled datasets folder (default: ``data/`` at the repository root). In the app's classroom mode each
participant has a workspace, ``MLAL_HOME/workspaces/<name>/``, with a store of its own
(``default_store_path(workspace)``); model folders the app offers live in ``MLAL_HOME/models/``.
The workspace is always passed in, never kept here: one server process serves every participant.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

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


def workspaces_dir() -> Path:
    """The folder of the classroom workspaces (``$MLAL_HOME/workspaces``; not created).

    Returns
    -------
    Path
        ``home_dir() / "workspaces"``.
    """
    return home_dir() / "workspaces"


def workspace_dir(workspace: str) -> Path:
    """The folder of one classroom workspace (``$MLAL_HOME/workspaces/<workspace>``; not created).

    Parameters
    ----------
    workspace : str
        The workspace's folder name: one path component (``mlal_core.access.workspace_key`` makes one
        from a participant's name).

    Returns
    -------
    Path
        ``workspaces_dir() / workspace``.

    Raises
    ------
    ConfigError
        When ``workspace`` is empty, ``.`` / ``..``, or holds a path separator or a NUL.
    """
    if (not isinstance(workspace, str) or workspace in ("", ".", "..") or "\x00" in workspace
            or any(sep in workspace for sep in ("/", "\\", os.sep))):
        raise ConfigError(f"A workspace must be one folder name (no '/', '\\', '..' or NUL); got {workspace!r}.")
    return workspaces_dir() / workspace


def default_store_path(workspace: str | None = None) -> Path:
    """The SQLite session store: ``$MLAL_HOME/sessions.sqlite``, or a workspace's own store.

    Parameters
    ----------
    workspace : str, optional
        A classroom workspace (its folder name): its store is
        ``$MLAL_HOME/workspaces/<workspace>/sessions.sqlite``. None: the one store of a workbench
        used by one person.

    Returns
    -------
    Path
        The store's path (its folder is created by ``SessionStore``).

    Raises
    ------
    ConfigError
        When ``workspace`` is not one folder name (see :func:`workspace_dir`).
    """
    if workspace is None:
        return home_dir() / "sessions.sqlite"
    return workspace_dir(workspace) / "sessions.sqlite"


def models_dir() -> Path:
    """The folder of local model checkpoints the app offers (``$MLAL_HOME/models``), created on first use.

    Each sub-folder is one model saved with ``save_pretrained`` (weights, config, tokenizer); the app's
    ALPS masked-LM and Subword tokenizer fields choose among them. The library and the CLI take any path.

    Returns
    -------
    Path
        ``home_dir() / "models"``.
    """
    path = home_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
