"""Errors that tell the user what to fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class MLALError(Exception):
    """Base class of every error the workbench raises on purpose."""


class ConfigError(MLALError, ValueError):
    """A parameter or a configuration is invalid."""


class DataValidationError(MLALError, ValueError):
    """A dataset or an uploaded file is not usable; the message says why.

    Parameters
    ----------
    message : str
        What is wrong and where, and what to pass instead.
    problems : sequence of str, optional
        Every problem found, one sentence each (the message lists them); default: the message alone.
    """

    def __init__(self, message: str = "", problems: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) if problems is not None else [message]


class PoolExhaustedError(MLALError):
    """The unlabelled pool has no sample left to query."""


class RoundCancelled(MLALError):
    """The round in progress was cancelled; nothing of it was stored (the session is unchanged)."""


def unknown_name_error(kind: str, name: str, known: Iterable[str], plural: str | None = None) -> ConfigError:
    """Build a ``ConfigError`` for an unknown ``name``, suggesting the close known names.

    Parameters
    ----------
    kind : str
        What the name is of (``"dataset"``, ``"strategy"``, ...).
    name : str
        The name given.
    known : iterable of str
        The valid names (listed, sorted, in the message).
    plural : str, optional
        Plural of ``kind`` in the message; default ``kind + "s"``.

    Returns
    -------
    ConfigError
        The error, to be raised by the caller.
    """
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(f"Unknown {kind} {name!r}.{hint} Known {plural or kind + 's'}: {', '.join(known)}.")
