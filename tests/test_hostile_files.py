"""Hostile uploads (issue 13): every case ends in a clear MLALError (message under 2,000 characters)
or a correct dataset, never a raw traceback; parsing stays linear; hygiene is reported and optional.

The corpus (``hostile_cases/files.py``) is generated from code (no committed binaries); the tally is
printed at the end of :func:`test_corpus_tally`. ``test_hostile_corpus.py`` runs it again with the
configs, flags and app fields, under one tally.
"""

import gzip

import numpy as np
import pandas as pd
import pytest
from hostile_cases.files import (
    CASES, DEEP, GOOD_CSV, GOOD_JSON, GOOD_YAML, LABELS, MAX_MESSAGE, _wide_01, _yaml_bomb,
)

from mlal_core import data
from mlal_core.data import files
from mlal_core.errors import DataValidationError, MLALError


def _run(fname, payload, kwargs):
    """('error', message) or ('ok', dataset); any other exception propagates (a traceback)."""
    try:
        return "ok", data.load_file(payload, filename=fname, **kwargs)
    except MLALError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_file(case):
    _, fname, payload, kwargs, check = case
    outcome, result = _run(fname, payload, kwargs)
    if check is None:
        assert outcome == "error", f"accepted silently: {result}"
        assert 0 < len(result) < MAX_MESSAGE, len(result)
    else:
        assert outcome == "ok", result
        check(result)


def test_corpus_tally(capsys):
    tally = {"cases": 0, "clear errors": 0, "correct results": 0, "tracebacks": 0}
    for _, fname, payload, kwargs, check in CASES:
        tally["cases"] += 1
        try:
            outcome, result = _run(fname, payload, kwargs)
        except Exception:  # noqa: BLE001 - counted: the tally must show 0
            tally["tracebacks"] += 1
            continue
        if outcome == "error" and len(result) < MAX_MESSAGE:
            tally["clear errors"] += 1
        elif outcome == "ok" and check is not None:
            tally["correct results"] += 1
    with capsys.disabled():
        print("\nhostile files:", ", ".join(f"{k} {v}" for k, v in tally.items()))
    assert tally["cases"] >= 60
    assert tally["tracebacks"] == 0
    assert tally["clear errors"] + tally["correct results"] == tally["cases"]


# --------------------------------------------------------------------------- targeted checks


def test_wide_indicator_file_is_read_as_one_block(monkeypatch):
    """Numeric 0/1 columns are checked as one block: no per-column parse (the 100,000-column case)."""
    calls = []
    real = files._as_01
    monkeypatch.setattr(files, "_as_01", lambda series: calls.append(1) or real(series))
    ds = data.load_file(_wide_01(2000), filename="wide.csv")
    assert len(ds.label_names) == 2000
    assert calls == []


def test_wide_bad_file_message_is_bounded():
    with pytest.raises(DataValidationError) as info:
        data.load_file(_wide_01(3000, bad=True), filename="wide.csv", label_columns=[f"c{j}" for j in range(3000)])
    msg = str(info.value)
    assert len(msg) < MAX_MESSAGE
    assert "2996 more label columns hold values other than 0/1: 'c4', 'c5', 'c6' (and 2993 more)" in msg


def test_deep_label_cell_is_refused_not_recursion():
    df = pd.DataFrame({"text": [f"t {i}" for i in range(20)], "labels": [DEEP] + ["a|b"] * 19})
    with pytest.raises(DataValidationError, match=r"could not read the labels of row 1 .*nested lists"):
        data.from_dataframe(df)


def test_corrupt_gzip_says_damaged():
    with pytest.raises(DataValidationError, match=r"Could not decompress 'd.csv.gz' as gzip .*damaged"):
        data.load_file(gzip.compress(GOOD_CSV)[:-12], filename="d.csv.gz")


def test_yaml_alias_bomb_refused_with_short_message():
    with pytest.raises(DataValidationError) as info:
        data.load_file(_yaml_bomb(), filename="d.yaml")
    assert "uses an alias (*a0, line 2)" in str(info.value) and len(str(info.value)) < 400


def test_yaml_duplicate_key_refused():
    payload = GOOD_YAML.replace(b"  labels: [art, sport]\n", b"  labels: [art, sport]\n  labels: [tech]\n", 1)
    with pytest.raises(DataValidationError, match=r"repeats the key 'labels' in one mapping \(line 3\)"):
        data.load_file(payload, filename="d.yaml")


def test_yaml_records_read_like_json():
    from_yaml = data.load_file(GOOD_YAML, filename="d.yaml")
    from_json = data.load_file(GOOD_JSON, filename="d.json")
    assert from_yaml.label_names == from_json.label_names == LABELS
    assert from_yaml.train.texts == from_json.train.texts
    np.testing.assert_array_equal(from_yaml.train.Y, from_json.train.Y)


def test_ambiguous_delimiters_refused_with_the_fix():
    df = pd.DataFrame({"text": [f"t {i}" for i in range(20)], "labels": ["Science|Tech;Art"] + ["Art|Science"] * 19})
    with pytest.raises(DataValidationError) as info:
        data.from_dataframe(df)
    msg = str(info.value)
    assert "both '|' (20 values) and ';' (1 values) occur" in msg
    assert "'Science|Tech;Art' in row 1" in msg and "delimiter='|'" in msg and "delimiter=';'" in msg
    ds = data.from_dataframe(df, delimiter="|")
    assert ds.label_names == ["Art", "Science", "Tech;Art"]


def test_binary_label_column_refused_with_the_fix():
    df = pd.DataFrame({"text": [f"t {i}" for i in range(20)], "label": [0, 1] * 10})
    with pytest.raises(DataValidationError, match=r"'label' holds only 0/1 values.*label_columns=\['label'\]"):
        data.from_dataframe(df)
    with pytest.raises(DataValidationError, match="only 0/1 values"):
        data.from_dataframe(df, labels_column="label")


def _leaky_frame():
    """Train: 10 texts + 2 exact repeats of 'text 0'; valid: 'valid 0', 'text 4'; test: 'text 1', 'text 2',
    ' text  3 ' (same text after collapsing spaces) + 5 new texts."""
    texts = [f"text {i}" for i in range(10)] + ["text 0", "text 0"] + ["valid 0", "text 4"] + \
        ["text 1", "text 2", " text  3 "] + [f"test {i}" for i in range(5)]
    labels = ["a|b" if i % 2 == 0 else "b" for i in range(10)] + ["a|b", "a|b"] + ["a", "a|b"] + \
        ["b", "a|b", "b"] + ["a", "b", "a|b", "a", "b"]
    split = ["train"] * 12 + ["valid"] * 2 + ["test"] * 8
    return pd.DataFrame({"text": texts, "labels": labels, "split": split})


def test_hygiene_warns_by_default_with_counts_and_examples():
    ds = data.from_dataframe(_leaky_frame())
    report = ds.meta["hygiene"]
    assert report["duplicate_rows"] == 2
    assert report["shared_rows"] == {"train": 4}  # text 1, 2, 3 (in test) and text 4 (in valid)
    assert len(ds.train) == 12 and len(report["warnings"]) == 2
    notes = ds.meta["notes"]
    assert notes[0].startswith("Warning: 2 duplicate rows (same input and labels as an earlier row: rows 11, 12;")
    assert notes[1].startswith("Warning: 4 rows of train/valid (4 in train) have an input that also occurs")
    assert "'text 1', 'text 2', 'text 3'" in notes[1]
    checked = data.check_hygiene(ds)
    assert checked["duplicate_rows"] == {"train": 2}
    assert checked["shared"] == {"train/valid": 1, "train/test": 3}
    assert len(checked["warnings"]) == 2


def test_hygiene_drop_removes_repeats_and_leaks():
    ds = data.from_dataframe(_leaky_frame(), duplicates="drop", cross_split="drop")
    assert ds.train.texts == ["text 0", "text 5", "text 6", "text 7", "text 8", "text 9"]
    assert len(ds.valid) == 2 and len(ds.test) == 8
    assert ds.meta["hygiene"]["dropped_duplicates"] == 2 and ds.meta["hygiene"]["dropped_shared"] == 4
    assert data.check_hygiene(ds)["warnings"] == []


def test_hygiene_keep_is_silent_and_error_refuses():
    ds = data.from_dataframe(_leaky_frame(), duplicates="keep", cross_split="drop")
    assert len(ds.train) == 8 and not ds.meta["hygiene"]["warnings"]
    with pytest.raises(DataValidationError, match=r"4 rows of train/valid .* cross_split='drop'"):
        data.from_dataframe(_leaky_frame(), cross_split="error")


def test_hygiene_option_values_checked():
    with pytest.raises(MLALError, match=r"cross_split must be one of 'warn', 'drop', 'error'; got 'yes'"):
        data.from_dataframe(_leaky_frame(), cross_split="yes")
