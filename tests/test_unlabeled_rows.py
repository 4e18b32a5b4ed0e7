"""Rows with no label (negative examples, ``allow_unlabeled=True``): loading, statistics, splits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from mlal_core import correlation, data, stats
from mlal_core.errors import DataValidationError

EMPTY_SPELLINGS = ["", "[]", "   "]  # an empty cell, an empty list, only spaces


def tweets_csv(n: int = 100) -> bytes:
    """n tweets; rows i % 10 in (1, 4, 8) (30 %) have no label, spelt in turn as in EMPTY_SPELLINGS."""
    labels = ["joy|love", "anger", "joy", "sadness|anger", "love", "joy|sadness", "anger|joy"]
    lines, k = ["text,labels"], 0
    for i in range(n):
        if i % 10 in (1, 4, 8):
            lines.append(f"tweet {i} with no emotion,{EMPTY_SPELLINGS[k % 3]}")
            k += 1
        else:
            lines.append(f"tweet {i},{labels[i % len(labels)]}")
    return ("\n".join(lines) + "\n").encode()


def whole(ds):
    return data.concat_splits([ds.train, ds.valid, ds.test])


# ------------------------------------------------------------------ loading

def test_csv_with_empty_label_cells_keeps_them_as_all_zero_rows():
    raw = tweets_csv(20)  # rows 1, 4, 8, 11, 14, 18 have no label: "", "[]", "   ", "", "[]", "   "
    assert b"tweet 4 with no emotion,[]\n" in raw and b"tweet 8 with no emotion,   \n" in raw
    ds = data.load_file(raw, filename="tweets.csv", allow_unlabeled=True)
    assert ds.label_names == ["anger", "joy", "love", "sadness"]
    rows = whole(ds)
    by_text = dict(zip(rows.texts, map(tuple, rows.Y)))
    assert len(by_text) == 20
    empty = [f"tweet {i} with no emotion" for i in (1, 4, 8, 11, 14, 18)]
    assert all(by_text[t] == (0, 0, 0, 0) for t in empty)
    assert sum(1 for y in by_text.values() if not any(y)) == 6
    assert by_text["tweet 0"] == (0, 1, 1, 0) and by_text["tweet 3"] == (1, 0, 0, 1)
    assert "6 rows with no label kept as negative examples (allow_unlabeled=True)." in ds.meta["notes"]


def test_jsonl_null_and_empty_list_are_rows_with_no_label():
    recs = [{"text": f"t{i}", "labels": ["a"] if i % 3 else ([] if i % 2 else None)} for i in range(12)]
    raw = "\n".join(json.dumps(r) for r in recs).encode()
    ds = data.load_file(raw, filename="t.jsonl", allow_unlabeled=True)
    assert stats.n_without_label(whole(ds).Y) == 4  # t0 (null), t3 ([]), t6 (null), t9 ([])
    with pytest.raises(DataValidationError, match=r"No label in rows 1, 4, 7, 10\."):
        data.load_file(raw, filename="t.jsonl")


def test_refusal_names_the_app_checkbox_and_the_api_argument():
    with pytest.raises(DataValidationError) as err:
        data.load_file(tweets_csv(20), filename="tweets.csv")
    msg = str(err.value)
    assert msg.startswith("No label in rows 2, 5, 9, 12, 15, 19.")
    assert "tick 'Rows with no label are negative examples' on the upload" in msg
    assert data.ALLOW_UNLABELED_LABEL == "Rows with no label are negative examples"
    assert "allow_unlabeled=True" in msg
    assert len(msg) < 200  # one short sentence, not a paragraph


# ------------------------------------------------------------------ statistics

# 6 rows x 3 labels, 3 of them with no label, worked out by hand:
#   counts (3, 1, 1), 5 positives over n = 6 rows -> cardinality 5/6, density 5/18
#   IRLbl = 3 / count = (1, 3, 3) -> MeanIR 7/3, MaxIR 3 (empty rows change no count)
#   A: A[1,0] = 1/3, A[0,1] = 1, A[2,0] = 1/3, A[0,2] = 1, A[2,1] = A[1,2] = 0 -> CorrAvg (8/3)/6 = 4/9
#   label sets {110, 100, 000, 101} -> 4 (the empty set counts as one)
Y_EMPTY = np.array([[1, 1, 0],
                    [1, 0, 0],
                    [0, 0, 0],
                    [0, 0, 0],
                    [1, 0, 1],
                    [0, 0, 0]], dtype=np.uint8)


@pytest.mark.parametrize("as_type", [lambda y: y, lambda y: y.astype(bool), sp.csr_matrix])
def test_statistics_with_empty_rows_are_hand_computed(as_type):
    s = correlation.label_summary(as_type(Y_EMPTY))
    assert s["n_samples"] == 6 and s["n_samples_without_label"] == 3 and s["labels_present"] == 3
    assert s["label_cardinality"] == pytest.approx(5 / 6)
    assert s["label_density"] == pytest.approx(5 / 18)
    np.testing.assert_allclose(stats.irlbl(as_type(Y_EMPTY)), [1.0, 3.0, 3.0])
    assert s["MeanIR"] == pytest.approx(7 / 3) and s["MaxIR"] == pytest.approx(3.0)
    assert s["CorrAvg"] == pytest.approx(4 / 9)
    assert s["distinct_labelsets"] == 4
    # the same rows without the empty ones: cardinality / density grow, the positive-only statistics do not move
    labelled = Y_EMPTY[Y_EMPTY.sum(axis=1) > 0]
    assert stats.label_cardinality(labelled) == pytest.approx(5 / 3)
    assert stats.mean_ir(labelled) == pytest.approx(7 / 3)
    assert correlation.corr_avg(labelled) == pytest.approx(4 / 9)


def test_describe_counts_empty_rows_in_every_split():
    ds = data.load_file(tweets_csv(), filename="tweets.csv", allow_unlabeled=True)
    d = data.describe(ds)
    assert [d["per_split"][s]["n_samples_without_label"] for s in ("train", "valid", "test")] == [21, 3, 6]
    assert d["overall"]["n_samples_without_label"] == 30 and d["overall"]["n_samples"] == 100
    # 70 labelled rows: i % 7 cycles through 1, 1, 1, 2, 1, 2, 2 labels
    positives = int(whole(ds).Y.sum())
    assert d["overall"]["label_cardinality"] == pytest.approx(positives / 100)
    assert d["table"].loc["train", "n_samples_without_label"] == 21


# ------------------------------------------------------------------ splits

def test_seeded_70_10_20_split_gives_every_split_its_share_of_empty_rows():
    ds = data.load_file(tweets_csv(), filename="tweets.csv", allow_unlabeled=True, random_state=0)
    sizes = [len(ds.split(s)) for s in ("train", "valid", "test")]
    empties = [stats.n_without_label(ds.split(s).Y) for s in ("train", "valid", "test")]
    assert empties == [21, 3, 6]  # exactly 0.7 / 0.1 / 0.2 of the 30
    assert sizes == [67, 11, 22]
    again = data.load_file(tweets_csv(), filename="tweets.csv", allow_unlabeled=True, random_state=0)
    assert again.content_hash() == ds.content_hash()


def test_data_without_empty_rows_splits_as_before():
    """The "no label" column is added only when some row has no label: the plain algorithm's parts."""
    from mlal_core.data.splits import _iterative

    rng = np.random.default_rng(3)
    Y = (rng.random((80, 4)) < 0.4).astype(np.uint8)
    Y[Y.sum(axis=1) == 0, 0] = 1
    fr = np.array([0.7, 0.1, 0.2])
    for got, plain in zip(data.stratified_partition(Y, fr, 5), _iterative(Y.astype(bool), fr, np.arange(3), 5)):
        np.testing.assert_array_equal(got, plain)


@st.composite
def matrices_with_empty_rows(draw):
    n = draw(st.integers(30, 150))
    k = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    empty_share = draw(st.floats(0.05, 0.6))
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, k)) < rng.uniform(0.05, 0.6, k)).astype(np.uint8)
    Y[rng.random(n) < empty_share] = 0
    Y[0] = 0  # at least one row with no label
    return Y, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=60, deadline=None)
@given(matrices_with_empty_rows())
def test_every_row_in_one_split_and_empty_rows_in_proportion(case):
    Y, seed = case
    fr = np.array([0.7, 0.1, 0.2])
    parts = data.stratified_partition(Y, fr, seed)
    assigned = np.concatenate(parts)
    assert np.array_equal(np.sort(assigned), np.arange(len(Y)))  # each row exactly once
    empty = Y.sum(axis=1) == 0
    m = int(empty.sum())
    counts = np.array([int(empty[p].sum()) for p in parts])
    assert np.all(np.abs(counts - fr * m) < 1.0), (counts, fr * m)  # each split: its share of them, +- 1 row
    assert all(len(p) for p in parts)
