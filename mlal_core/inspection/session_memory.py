"""Per-session memory of what the inspection pages rebuild (round contexts, walk-through inputs, maps).

A :class:`PerSessionMemory` holds one ordered dict per live session under a weak key, so a session
that is dropped takes what was kept for it along; callers bound the dict's size themselves.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

__all__ = ["PerSessionMemory"]


class PerSessionMemory:
    """One ``OrderedDict`` per session, under a weak key and a lock (thread-safe creation)."""

    def __init__(self) -> None:
        self._by_session: weakref.WeakKeyDictionary[Any, OrderedDict] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, session: Any) -> OrderedDict:
        """The session's ordered dict (created empty on first use).

        Parameters
        ----------
        session : object
            The session (any weakly referenceable object).

        Returns
        -------
        collections.OrderedDict
            The same dict on every call for the same session.
        """
        with self._lock:
            mem = self._by_session.get(session)
            if mem is None:
                mem = self._by_session[session] = OrderedDict()
            return mem
