"""Hostile uploads (issue 13): every case ends in a clear MLALError (message under 2,000 characters)
or a correct dataset, never a raw traceback; parsing stays linear; hygiene is reported and optional.

The corpus is generated in ``tmp_path``-free bytes by code (no committed binaries); the tally is
printed at the end of :func:`test_corpus_tally`.
"""

import bz2
import gzip
import io
import json
import lzma
import zipfile

import numpy as np
import pandas as pd
import pytest

from mlal_core import data
from mlal_core.data import files
from mlal_core.errors import DataValidationError, MLALError

MAX_MESSAGE = 2000
LABELS = ["art", "sport", "tech"]


def records(n=20):
    return [{"text": f"document number {i}", "labels": [LABELS[i % 3], LABELS[(i + 1) % 3]]} for i in range(n)]


def csv_bytes(rows, sep=","):
    return pd.DataFrame(rows).to_csv(index=False, sep=sep).encode()


def labelled_csv(n=20, labels=None, sep=","):
    labs = labels or ["|".join(r["labels"]) for r in records(n)]
    return csv_bytes([{"text": f"document number {i}", "labels": labs[i]} for i in range(n)], sep)


GOOD_CSV = labelled_csv()
GOOD_JSON = json.dumps(records()).encode()
GOOD_JSONL = "\n".join(json.dumps(r) for r in records()).encode()
GOOD_YAML = "".join(f"- text: document number {r['text'][16:]}\n  labels: [{', '.join(r['labels'])}]\n"
                    for r in records()).encode()
DEEP = "[" * 5000 + '"a"' + "]" * 5000


def _zip(name, payload):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, payload)
    return buf.getvalue()


def _yaml_bomb(levels=9):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(1, levels):
        lines.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def _wide_01(n_cols, n_rows=20, bad=False):
    rng = np.random.default_rng(0)
    M = rng.integers(0, 2, size=(n_rows, n_cols)).astype(object)
    M[0, :] = 1
    if bad:
        M[1, :] = 2
    head = "text," + ",".join(f"c{j}" for j in range(n_cols))
    body = [f"doc {i}," + ",".join(map(str, M[i])) for i in range(n_rows)]
    return ("\n".join([head, *body]) + "\n").encode()


def ok(n_rows=20, labels=LABELS):
    def check(ds):
        assert ds.label_names == labels
        assert sum(len(s) for s in (ds.train, ds.valid, ds.test)) == n_rows
    return check


# (case id, file name, bytes, load_file kwargs, None for "must be refused" or a check of the dataset)
CASES = [
    ("good csv", "d.csv", GOOD_CSV, {}, ok()),
    ("good tsv", "d.tsv", labelled_csv(sep="\t"), {}, ok()),
    ("good json", "d.json", GOOD_JSON, {}, ok()),
    ("good jsonl", "d.jsonl", GOOD_JSONL, {}, ok()),
    ("good yaml", "d.yaml", GOOD_YAML, {}, ok()),
    ("good yml", "d.yml", GOOD_YAML, {}, ok()),
    ("good csv.gz", "d.csv.gz", gzip.compress(GOOD_CSV), {}, ok()),
    ("good json.bz2", "d.json.bz2", bz2.compress(GOOD_JSON), {}, ok()),
    ("good jsonl.xz", "d.jsonl.xz", lzma.compress(GOOD_JSONL), {}, ok()),
    ("good csv.zip", "d.csv.zip", _zip("d.csv", GOOD_CSV), {}, ok()),
    ("good yaml.gz", "d.yaml.gz", gzip.compress(GOOD_YAML), {}, ok()),
    ("empty csv", "d.csv", b"", {}, None),
    ("empty json", "d.json", b"", {}, None),
    ("empty yaml", "d.yaml", b"", {}, None),
    ("header only", "d.csv", b"text,labels\n", {}, None),
    ("binary junk csv", "d.csv", bytes(range(256)) * 40, {}, None),
    ("binary junk json", "d.json", bytes(range(256)) * 40, {}, None),
    ("latin-1 csv", "d.csv", GOOD_CSV.replace(b"document", "docum\xe9nt".encode("latin-1")), {}, None),
    ("unterminated quote", "d.csv", GOOD_CSV + b'"never closed,art\n', {}, None),
    ("ragged rows", "d.csv", GOOD_CSV + b"a,b,c,d,e,f\n", {}, None),
    ("json truncated", "d.json", GOOD_JSON[:-40], {}, None),
    ("json scalar", "d.json", b"42", {}, None),
    ("json object", "d.json", b'{"text": "a", "labels": "b"}', {}, None),
    ("jsonl bad line", "d.jsonl", GOOD_JSONL + b"\n{not json", {}, None),
    ("json deep labels", "d.json",
     json.dumps(records()).replace('["art", "sport"]', DEEP, 1).encode(), {}, None),
    ("jsonl deep labels", "d.jsonl",
     GOOD_JSONL.replace(b'["art", "sport"]', DEEP.encode(), 1), {}, None),
    ("csv deep label cell", "d.csv", labelled_csv(labels=[DEEP] + ["art|tech"] * 19), {}, None),
    ("csv deep nested tail", "d.csv",
     labelled_csv(labels=["[1," * 3000 + "1" + "]" * 3000] + ["art"] * 19), {}, None),
    ("csv nested list 3", "d.csv", labelled_csv(labels=['[["a"], ["b"]]'] + ["art|tech"] * 19), {}, None),
    ("jsonl mapping label", "d.jsonl", GOOD_JSONL.replace(b'["art", "sport"]', b'{"a": 1}', 1), {}, None),
    ("yaml deep", "d.yaml", ("- text: a\n  labels: " + "[" * 5000 + "x" + "]" * 5000 + "\n").encode(), {}, None),
    ("yaml deep block", "d.yaml", ("- text: a\n  labels:\n" + "".join("  " * (k + 2) + "-\n" for k in range(300))).encode(),
     {}, None),
    ("yaml alias bomb", "d.yaml", _yaml_bomb(), {}, None),
    ("yaml one alias", "d.yaml", GOOD_YAML.replace(b"labels: [art, sport]", b"labels: &x [art, sport]", 1)
     + b"- text: copy\n  labels: *x\n", {}, None),
    ("yaml duplicate key", "d.yaml", GOOD_YAML.replace(b"  labels: [art, sport]\n",
                                                      b"  labels: [art, sport]\n  labels: [tech]\n", 1), {}, None),
    ("yaml mapping top", "d.yaml", b"text: a\nlabels: [b]\n", {}, None),
    ("yaml scalar rows", "d.yaml", b"- a\n- b\n", {}, None),
    ("yaml syntax error", "d.yaml", b"- text: [unclosed\n  labels: x\n", {}, None),
    ("yaml python tag", "d.yaml", b"- text: !!python/object/apply:os.system ['echo hi']\n  labels: [a]\n", {}, None),
    ("yaml binary", "d.yaml", bytes(range(256)) * 8, {}, None),
    ("corrupt gz", "d.csv.gz", gzip.compress(GOOD_CSV)[:30] + b"\x00" * 30, {}, None),
    ("truncated gz", "d.csv.gz", gzip.compress(GOOD_CSV)[:-12], {}, None),
    ("gz flipped bytes", "d.csv.gz", gzip.compress(GOOD_CSV)[:12] + bytes(b ^ 0xFF for b in gzip.compress(GOOD_CSV)[12:]),
     {}, None),
    ("not gz at all", "d.csv.gz", GOOD_CSV, {}, None),
    ("empty gz", "d.csv.gz", b"", {}, None),
    ("gz bad crc", "d.csv.gz", gzip.compress(GOOD_CSV)[:-8] + b"\x00" * 8, {}, None),
    ("corrupt bz2", "d.csv.bz2", bz2.compress(GOOD_CSV)[:20] + b"\x01" * 20, {}, None),
    ("corrupt xz", "d.csv.xz", lzma.compress(GOOD_CSV)[:20] + b"\x01" * 20, {}, None),
    ("corrupt zip", "d.csv.zip", _zip("d.csv", GOOD_CSV)[:40], {}, None),
    ("zip two files", "d.csv.zip", _zip("a.csv", GOOD_CSV)[:0] + _zip("d.csv", GOOD_CSV), {}, ok()),
    ("gz bomb", "d.csv.gz", gzip.compress(b"0" * (3 * 1024 * 1024)), {"max_mb": 1}, None),
    ("gz of junk", "d.csv.gz", gzip.compress(bytes(range(256)) * 40), {}, None),
    ("ambiguous delimiters", "d.csv", labelled_csv(labels=["Science|Tech;Art"] + ["art|tech"] * 19), {}, None),
    ("mixed delimiters rows", "d.csv", labelled_csv(labels=["a|b", "c;d"] * 10), {}, None),
    ("ambiguous resolved", "d.csv", labelled_csv(labels=["Science|Tech;Art", "Art|Tech;Art"] * 10),
     {"delimiter": "|"}, ok(labels=["Art", "Science", "Tech;Art"])),
    ("binary label column", "d.csv", csv_bytes([{"text": f"t {i}", "label": i % 2} for i in range(20)]), {}, None),
    ("binary labels column str", "d.csv",
     csv_bytes([{"text": f"t {i}", "labels": "01"[i % 2]} for i in range(20)]), {}, None),
    ("binary label as indicator", "d.csv", csv_bytes([{"text": f"t {i}", "label": i % 2} for i in range(20)]),
     {"label_columns": ["label"], "allow_unlabeled": True}, ok(labels=["label"])),
    ("wide 0/1 all bad", "d.csv", _wide_01(3000, bad=True), {}, None),
    ("wide 0/1 good", "d.csv", _wide_01(3000), {}, lambda ds: len(ds.label_names) == 3000 or pytest.fail()),
    ("huge cell", "d.csv", labelled_csv(labels=["x" * 300_000] + ["art"] * 19)
     .replace(b"document number 3", b"y" * 200_000), {}, ok(labels=["art", "x" * 300_000])),
    ("huge bad split value", "d.csv", csv_bytes([{"text": f"t {i}", "labels": "a|b", "split": "z" * 100_000}
                                                 for i in range(20)]), {}, None),
    ("many bad label values", "d.csv", csv_bytes([{"text": f"t {i}", "a": i % 2, "b": f"v{i}" * 50}
                                                  for i in range(20)]), {"label_columns": ["a", "b"]}, None),
    ("many columns missing", "d.csv", GOOD_CSV, {"label_columns": [f"m{i}" for i in range(5000)]}, None),
    ("text column missing, many cols", "d.csv", _wide_01(5000), {"text_column": "body"}, None),
    ("duplicate column names", "d.csv", b"text,labels,labels\n" + b"a,b,c\n" * 20, {}, None),
    ("all rows unlabeled", "d.csv", labelled_csv(labels=[""] * 20), {}, None),
    ("all empty texts", "d.csv", csv_bytes([{"text": " ", "labels": "a|b"} for _ in range(20)]), {}, None),
    ("too few rows", "d.csv", labelled_csv(n=3, labels=["a", "b", "a"]), {}, None),
    ("unsupported ext", "d.exe", GOOD_CSV, {}, None),
    ("parquet.gz", "d.parquet.gz", GOOD_CSV, {}, None),
    ("parquet junk", "d.parquet", GOOD_CSV, {}, None),
    ("nul bytes", "d.csv", GOOD_CSV.replace(b"document", b"doc\x00ment"), {}, lambda ds: len(ds.label_names) == 3),
    ("bom csv", "d.csv", b"\xef\xbb\xbf" + GOOD_CSV, {}, ok()),
    ("crlf csv", "d.csv", GOOD_CSV.replace(b"\n", b"\r\n"), {}, ok()),
    ("split column all test", "d.csv", csv_bytes([{"text": f"t {i}", "labels": "a|b", "split": "test"}
                                                  for i in range(20)]), {}, None),
    ("duplicates refused by error", "d.csv", labelled_csv(n=20, labels=["art|tech"] * 20)
     .replace(b"document number 1\n", b"document number 0\n"), {"cross_split": "error"}, None),
    ("bad option value", "d.csv", GOOD_CSV, {"duplicates": "nope"}, None),
]


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
