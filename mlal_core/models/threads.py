"""Torch CPU thread count for a model's fit / predict calls (shared by every model family).

``num_threads=1`` is the models' default: their matrix products are small, and on a busy machine a
2-thread team waiting on a descheduled thread was 10x slower than one thread (measured for the
MLP ensemble: 30 s vs 2.9 s for one 1000-row round on 2 shared cores); results are identical.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch

from ..errors import ConfigError
from ..features.device import resolve_device


@contextlib.contextmanager
def torch_threads(n: int | None, device: torch.device):
    """Temporarily run torch's CPU ops on ``n`` threads (no-op for None or a CUDA device).

    Parameters
    ----------
    n : int or None
        Thread count (None: unchanged).
    device : torch.device
        The device the ops run on; only ``cpu`` changes the thread count.

    Raises
    ------
    ConfigError
        If ``n`` is not None or an integer >= 1.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ConfigError(f"num_threads must be None or an integer >= 1, got {n!r}.")
    if n is None or device.type != "cpu" or int(n) == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def threaded(method):
    """Run ``method`` under ``self.num_threads`` CPU threads on the model's device.

    Parameters
    ----------
    method : callable
        A model method; its ``self`` has ``num_threads`` and ``device`` (or a fitted ``device_``).

    Returns
    -------
    callable
        The wrapped method (:func:`torch_threads` around each call unless ``num_threads`` is None).
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.num_threads is None:
            return method(self, *args, **kwargs)
        dev = getattr(self, "device_", None) or resolve_device(self.device)
        with torch_threads(self.num_threads, dev):
            return method(self, *args, **kwargs)

    return wrapper
