"""The default budget scaled to the training pool (mlal_core/session/budget.py)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlal_core.session.budget import CLASSIC, Budget, default_budget
from mlal_core.session.config import SessionConfig


@pytest.mark.parametrize("pool, n_labels, expected", [
    # emotions: scale 0.349 -> initial 34.9 -> 35, query 17.45 -> 15 (multiples of 5 from 10 up); 35 + 150 <= 349
    (349, 6, Budget(35, 15, 10)),
    # medical: 30.4 -> 30, raised to one per label (45 <= 304 // 4 = 76); query 15.2 -> 15; 45 + 150 <= 304
    (304, 45, Budget(45, 15, 10)),
    # pools of 1,000 and more: the classic 100 / 50 / 10
    (1_500, 14, Budget(100, 50, 10)),
    (7_000, 90, Budget(100, 50, 10)),
    (43_000, 28, Budget(100, 50, 10)),
    # more labels than 100 in a large pool: one per label
    (43_000, 500, Budget(500, 50, 10)),
    # a pool of 30: 3.0 -> 3, raised to min(14, 30 // 4 = 7) = 7; query 1.5 -> 2; 7 + 10 x 2 = 27 <= 30
    (30, 14, Budget(7, 2, 10)),
    # a pool of 10: initial min(6, 10 // 4 = 2) = 2, query 1, rounds cut to (10 - 2) // 1 = 8
    (10, 6, Budget(2, 1, 8)),
    (1, 3, Budget(1, 1, 0)),
])
def test_default_budget_hand_computed(pool, n_labels, expected):
    assert default_budget(pool, n_labels) == expected


def test_the_classic_budget_and_a_frozen_result():
    assert CLASSIC == Budget(100, 50, 10) and CLASSIC.total == 600
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_budget(349, 6).rounds = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        default_budget(0, 6)


@settings(max_examples=300, deadline=None)
@given(pool=st.integers(1, 200_000), n_labels=st.integers(1, 5_000))
def test_default_budget_always_fits_the_pool(pool, n_labels):
    b = default_budget(pool, n_labels)
    assert b.initial_size >= 1 and b.query_size >= 1 and 0 <= b.rounds <= CLASSIC.rounds
    assert b.total == b.initial_size + b.rounds * b.query_size <= pool
    cfg = SessionConfig(initial_size=b.initial_size, query_size=b.query_size, rounds=b.rounds)
    assert cfg.check_budget(pool) == []  # no budget warning (and no error)
    if pool >= 1_000 and n_labels <= 100:
        assert b == CLASSIC
    if pool >= 100:  # a meaningful first model: at least one sample per label unless that is over a quarter
        assert b.initial_size >= min(n_labels, pool // 4) and b.rounds == CLASSIC.rounds


@pytest.mark.slow  # loads every bundled dataset
def test_the_bundled_datasets_get_a_budget_without_warning():
    from mlal_core import data

    for name in data.available():
        ds = data.load(name)
        b = default_budget(len(ds.train), ds.n_labels)
        cfg = SessionConfig(dataset=name, initial_size=b.initial_size, query_size=b.query_size, rounds=b.rounds)
        assert cfg.validate(pool_size=len(ds.train)) == [], name
