"""Small file helpers shared by the on-disk caches."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file through ``write(fh)`` into a temporary sibling, then rename it into place.

    An interrupted run never leaves a half-written file at ``path``.

    Parameters
    ----------
    path : str or path-like
        The file to write; its folder is created if needed.
    write : callable
        ``write(fh)`` writes the content to the binary file object ``fh``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def load_npy(path: str | os.PathLike) -> np.ndarray | None:
    """A cached ``.npy`` array, or ``None`` when it is missing or unreadable (the caller re-creates it).

    Parameters
    ----------
    path : str or path-like
        The ``.npy`` file (pickled objects are refused).

    Returns
    -------
    np.ndarray or None
        The array, or None.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
