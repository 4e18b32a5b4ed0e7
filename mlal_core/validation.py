"""The checks every layer shares: what counts as an integer or a number, and "did you mean" hints.

One place for them, so a config, a strategy, a model and an experiment file accept the same values
(a bool is never a number here, though Python says ``True == 1``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["close_names_hint", "is_finite_number", "is_int", "is_number"]


def is_int(value: Any) -> bool:
    """True for a Python or numpy integer; False for a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """True for a Python or numpy real number (inf and nan included); False for a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def is_finite_number(value: Any) -> bool:
    """:func:`is_number` and neither inf nor nan."""
    return is_number(value) and math.isfinite(float(value))


def close_names_hint(name: Any, known: Iterable[str], n: int = 2, cutoff: float = 0.5) -> str:
    """``" (did you mean 'a' or 'b'?)"`` for the known names close to ``name``, else ``""``."""
    close = difflib.get_close_matches(str(name), list(known), n=n, cutoff=cutoff)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
