"""Default budget of a session, scaled to the training pool (the Home page's suggested sizes).

``default_budget(pool_size, n_labels)`` returns a :class:`Budget` (initial labelled set, query size,
rounds). The rule:

* **Large pools** (``pool_size >= FULL_SCALE_POOL``, 1,000 samples) get the classic budget (the
  Home page's fixed default before): an initial set of 100, 50 per round, 10 rounds (600 labels).
* **Smaller pools** get the classic sizes scaled by ``pool_size / 1000``, rounded to nice numbers
  (to the nearest multiple of 5 from 10 up, to the nearest integer below), at least 1:
  emotions (pool 349) gets an initial set of 35 and 15 per round. The classic budget labels 60 % of
  a 1,000-sample pool, a scaled one a similar share (53 % of emotions), so the learning curve has
  room to rise; more when the initial set is raised to one per label (below), and up to the whole
  pool in pools of a few dozen samples, where the minimum of 1 per round dominates.
* **A meaningful first model**: the initial set holds at least ``n_labels`` samples (one per label
  on average; the ``per_label`` initial method can then show every label once), as long as that is
  at most a quarter of the pool. This also applies to large pools with more than 100 labels.
* **Rounds that matter at large K**: the query size is at least a tenth of the initial set (rounded
  to a nice count), so the 10 rounds label about as many samples again as the initial set. Without
  it a label space of thousands would drown the queried samples: EURLEX57K (pool 45,000, K = 3,398)
  got an initial set of 3,398 and 10 x 50 queries (the rounds added 15 %); now 10 x 340. At
  K = 1,000 this gives 100 per round, the XMTC study's batch size (Fromme et al.: 100 texts per
  iteration). Sets with at most 100 labels keep the classic 50 (the initial set is 100 there).
* **It always fits**: ``rounds`` is 10, or fewer when ``initial + 10 * query`` would exceed the
  pool (only in pools under 100 samples), so ``initial_size + rounds * query_size <= pool_size``
  and ``SessionConfig.check_budget`` never warns about a default budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Budget", "CLASSIC", "FULL_SCALE_POOL", "default_budget"]


@dataclass(frozen=True)
class Budget:
    """The sizes of a session: ``initial_size`` labelled before round 0, ``query_size`` per round,
    ``rounds`` rounds (``SessionConfig``'s fields of the same names)."""

    initial_size: int
    query_size: int
    rounds: int

    @property
    def total(self) -> int:
        """How many samples the budget labels: ``initial_size + rounds * query_size``."""
        return self.initial_size + self.rounds * self.query_size


#: the budget of a large pool
CLASSIC = Budget(initial_size=100, query_size=50, rounds=10)
#: pools at least this large get ``CLASSIC``; smaller ones get it scaled by ``pool / FULL_SCALE_POOL``
FULL_SCALE_POOL = 1000


def _nice(x: float) -> int:
    """``x`` rounded to a nice count: the nearest multiple of 5 from 10 up, else the nearest integer
    (halves round up); at least 1."""
    if x >= 10:
        return 5 * math.floor(x / 5 + 0.5)
    return max(1, math.floor(x + 0.5))


def default_budget(pool_size: int, n_labels: int) -> Budget:
    """The default budget for a training pool of ``pool_size`` samples and ``n_labels`` labels
    (the rule is in the module docstring).

    Parameters
    ----------
    pool_size : int
        Samples in the training pool.
    n_labels : int
        Number of labels K.

    Returns
    -------
    Budget
        Initial set size, query size and number of rounds.

    Raises
    ------
    ValueError
        If ``pool_size < 1``.

    Examples
    --------
    >>> default_budget(349, 6)      # emotions
    Budget(initial_size=35, query_size=15, rounds=10)
    >>> default_budget(43_159, 28)  # GoEmotions
    Budget(initial_size=100, query_size=50, rounds=10)
    >>> default_budget(45_000, 3_398)  # EURLEX57K: one per label, and rounds that add as many again
    Budget(initial_size=3398, query_size=340, rounds=10)
    """
    pool_size, n_labels = int(pool_size), int(n_labels)
    if pool_size < 1:
        raise ValueError(f"The pool must hold at least one sample; got {pool_size}.")
    scale = min(1.0, pool_size / FULL_SCALE_POOL)
    initial = max(_nice(CLASSIC.initial_size * scale), min(max(n_labels, 1), pool_size // 4))
    initial = min(initial, pool_size)
    query = min(max(_nice(CLASSIC.query_size * scale), _nice(initial / CLASSIC.rounds)), pool_size)
    rounds = min(CLASSIC.rounds, (pool_size - initial) // query)
    return Budget(initial_size=initial, query_size=query, rounds=rounds)
