"""Hostile uploads: the file corpus of issue 13 (``data.load_file``), generated from code (no committed
binaries). Each case: (id, file name, bytes, ``load_file`` keyword arguments, None for "must be refused"
or a check of the loaded dataset). Used by ``test_hostile_files.py`` and the combined corpus."""

import bz2
import gzip
import io
import json
import lzma
import zipfile

import numpy as np
import pandas as pd
import pytest

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


def corpus() -> list:
    """Every case of :data:`CASES` as a :class:`hostile_cases.Case` of the combined corpus."""
    from hostile_cases import Case, Outcome

    from mlal_core import data
    from mlal_core.errors import MLALError

    def runner(fname, payload, kwargs, check):
        def run():
            try:
                ds = data.load_file(payload, filename=fname, **kwargs)
            except MLALError as exc:
                return Outcome("error", str(exc))
            if check is None:
                return Outcome("ok", f"{len(ds.train)} training rows")
            try:
                correct = check(ds) is not False
            except (AssertionError, pytest.fail.Exception) as exc:
                return Outcome("ok", str(exc)[:300])
            return Outcome("ok", correct=correct)
        return run

    return [Case("files", name, runner(fname, payload, kwargs, check), accept=check is not None)
            for name, fname, payload, kwargs, check in CASES]
