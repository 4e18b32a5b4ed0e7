"""User files: every accepted format and layout, and one test per validation error."""

import gzip
import io
import json

import numpy as np
import pandas as pd
import pytest

from mlal_core import data
from mlal_core.errors import ConfigError, DataValidationError

LABELS = ["art", "politics", "sport", "tech"]  # sorted: the order a label column yields


def make_frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        k = int(rng.integers(1, 3))
        labs = sorted(rng.choice(LABELS, k, replace=False).tolist())
        rows.append({"id": i, "text": f"document {i} about {' and '.join(labs)}", "labels": labs})
    return pd.DataFrame(rows)


def expected_Y(df):
    return np.array([[int(lab in row) for lab in LABELS] for row in df["labels"]], dtype=np.uint8)


def all_rows(ds):
    whole = data.concat_splits([ds.train, ds.valid, ds.test])
    return whole


def assert_same_content(ds, df):
    """Every file row is there once, with its labels, whatever the split."""
    assert ds.label_names == LABELS
    whole = all_rows(ds)
    got = dict(zip(whole.texts, map(tuple, whole.Y)))
    want = dict(zip(df["text"], map(tuple, expected_Y(df))))
    assert got == want


@pytest.fixture
def frame():
    return make_frame()


@pytest.fixture
def reference(frame):
    return data.from_dataframe(frame)


def test_dataframe_with_list_labels(frame, reference):
    assert_same_content(reference, frame)
    assert reference.kind == "text" and reference.valid_carved
    assert len(reference.train) + len(reference.valid) + len(reference.test) == len(frame)
    assert abs(len(reference.test) - 8) <= 2 and len(reference.valid) >= 1
    assert any("'id'" in n for n in reference.meta["notes"])  # the ignored column is reported


@pytest.mark.parametrize("delim", ["|", ";", ","])
def test_csv_with_delimited_labels_infers_the_delimiter(tmp_path, frame, reference, delim):
    df = frame.assign(labels=frame["labels"].map(delim.join))
    path = tmp_path / "docs.csv"
    df.to_csv(path, index=False)
    ds = data.load_file(path)
    assert_same_content(ds, frame)
    assert ds.content_hash() == reference.content_hash()  # same rows, same seeded splits
    assert any(f"split on {delim!r} (inferred" in n for n in ds.meta["notes"])
    assert ds.name == "docs" and ds.meta["source"]["format"] == "csv"


def test_explicit_delimiter_and_label_column_name(tmp_path, frame):
    df = frame.rename(columns={"labels": "cats", "text": "body"}).assign(cats=frame["labels"].map(" / ".join))
    path = tmp_path / "x.tsv"
    df.to_csv(path, sep="\t", index=False)
    ds = data.load_file(path, text_column="body", labels_column="cats", delimiter="/")
    assert ds.label_names == LABELS
    whole = all_rows(ds)
    np.testing.assert_array_equal(sorted(map(tuple, whole.Y)), sorted(map(tuple, expected_Y(frame))))


def comma_frame(values):
    """40 rows cycling through ``values`` as the label column."""
    return pd.DataFrame({"text": [f"story {i}" for i in range(40)],
                         "labels": [values[i % len(values)] for i in range(40)]})


def test_comma_in_single_label_names_is_not_split_silently():
    # "Arts, Culture" is one label: "Culture" never occurs on its own, so ',' is not inferred
    df = comma_frame(["Arts, Culture", "Sports", "Politics", "Sports|Politics"][:3])
    with pytest.raises(DataValidationError) as info:
        data.from_dataframe(df)
    msg = str(info.value)
    assert "cannot tell whether ',' separates labels" in msg
    assert "'Arts' of 'Arts, Culture' in row 1" in msg or "'Culture' of 'Arts, Culture' in row 1" in msg
    assert "delimiter=','" in msg and "delimiter=''" in msg
    kept = data.from_dataframe(df, delimiter="")
    assert kept.label_names == ["Arts, Culture", "Politics", "Sports"]
    assert any("delimiter='': values are not split" in n for n in kept.meta["notes"])
    split = data.from_dataframe(df, delimiter=",")
    assert split.label_names == ["Arts", "Culture", "Politics", "Sports"]
    Y = all_rows(split).Y
    assert Y.sum() == 14 * 2 + 13 + 13  # rows 1, 4, ... (14 of 40) carry both Arts and Culture


def test_comma_inferred_when_every_piece_is_a_label_of_its_own():
    df = comma_frame(["earn", "acq", "earn, acq", "grain", "acq,grain"])
    ds = data.from_dataframe(df)
    assert ds.label_names == ["acq", "earn", "grain"]
    assert int(all_rows(ds).Y.sum()) == 8 * (1 + 1 + 2 + 1 + 2)
    assert any("split on ',' (inferred: every piece" in n for n in ds.meta["notes"])


def test_pipe_wins_and_commas_stay_inside_names():
    # more rows hold a comma than a pipe, but '|' is the delimiter and the commas belong to the names
    df = comma_frame(["Arts, Culture", "Arts, Culture|Sports", "Science, Tech", "Sports"])
    ds = data.from_dataframe(df)
    assert ds.label_names == ["Arts, Culture", "Science, Tech", "Sports"]
    assert any("split on '|' (inferred; commas are kept inside labels (30 rows)" in n for n in ds.meta["notes"])


def test_csv_with_json_list_strings(tmp_path, frame, reference):
    path = tmp_path / "j.csv"
    frame.assign(labels=frame["labels"].map(json.dumps)).to_csv(path, index=False)
    assert data.load_file(path).content_hash() == reference.content_hash()
    path2 = tmp_path / "py.csv"
    frame.assign(labels=frame["labels"].map(str)).to_csv(path2, index=False)  # python-list repr: ['a', 'b']
    assert data.load_file(path2).content_hash() == reference.content_hash()


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet", "csv.gz"])
def test_other_formats(tmp_path, frame, reference, fmt):
    path = tmp_path / f"data.{fmt}"
    if fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif fmt == "json":
        frame.to_json(path, orient="records")
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        with gzip.open(path, "wt") as f:
            frame.assign(labels=frame["labels"].map("|".join)).to_csv(f, index=False)
    ds = data.load_file(path)
    assert ds.content_hash() == reference.content_hash()
    assert ds.name == "data"


def test_indicator_columns_auto_detected_and_explicit(tmp_path, frame):
    wide = pd.DataFrame({"text": frame["text"], "id": frame["id"] + 10,
                         **{lab: [int(lab in row) for row in frame["labels"]] for lab in ["tech", "art", "sport", "politics"]}})
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    ds = data.load_file(path)
    assert ds.label_names == ["tech", "art", "sport", "politics"]  # column order is kept
    assert ds.meta["label_format"] == "indicator columns"
    explicit = data.load_file(path, label_columns=["art", "tech"], allow_unlabeled=True)
    assert explicit.label_names == ["art", "tech"]
    bools = wide.assign(tech=wide["tech"].astype(bool))
    assert data.from_dataframe(bools).label_names == ds.label_names


def test_uploaded_file_object_and_bytes(tmp_path, frame, reference):
    buf = io.BytesIO()
    frame.assign(labels=frame["labels"].map("|".join)).to_csv(buf, index=False)
    raw = buf.getvalue()

    class Upload:  # what streamlit's file_uploader hands over
        name = "upload.csv"
        size = len(raw)

        def getvalue(self):
            return raw

    assert data.load_file(Upload()).content_hash() == reference.content_hash()
    assert data.load_file(raw, filename="u.csv").content_hash() == reference.content_hash()
    assert data.load_file(io.BytesIO(raw), filename="u.csv").name == "u"
    with pytest.raises(ConfigError, match="filename"):
        data.load_file(raw)


def test_split_column_is_used(frame):
    df = frame.assign(split=["train"] * 28 + ["validation"] * 4 + ["TEST"] * 8)
    ds = data.from_dataframe(df)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (28, 4, 8)
    assert not ds.valid_carved
    assert ds.test.texts == df["text"].tolist()[32:]
    no_valid = data.from_dataframe(frame.assign(split=["train"] * 32 + ["test"] * 8))
    assert no_valid.valid_carved and len(no_valid.test) == 8 and len(no_valid.valid) >= 1
    assert any("valid rows carved from train" in n for n in no_valid.meta["notes"])


def test_tabular_file(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y1=[1, 0, 1] * 10, y2=[0, 1, 1] * 10)
    path = tmp_path / "tab.parquet"
    df.to_parquet(path)
    ds = data.load_file(path, text_column=None, label_columns=["y1", "y2"])
    assert ds.kind == "tabular" and ds.n_features == 3 and ds.meta["feature_names"] == ["a", "b", "c"]
    whole = all_rows(ds)
    assert whole.X.dtype == np.float32 and whole.X.shape == (30, 3)


def test_unlabeled_rows_allowed_on_request(frame):
    df = frame.copy()
    df.at[5, "labels"] = []
    ds = data.from_dataframe(df, allow_unlabeled=True)
    assert int((all_rows(ds).Y.sum(axis=1) == 0).sum()) == 1


# ------------------------------------------------------------------ validation errors, one each

def test_error_file_too_large(tmp_path, frame):
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    size_mb = path.stat().st_size / 1024 / 1024
    with pytest.raises(DataValidationError) as info:
        data.load_file(path, max_mb=0.001)
    msg = str(info.value)
    assert f"{size_mb:.1f} MB" in msg and "limit is 0.001 MB" in msg and "max_mb" in msg

    class HugeUpload:  # declares its size: refused before its bytes are read
        name = "huge.csv"
        size = 300 * 1024 * 1024

        def getvalue(self):
            raise AssertionError("read although too large")

    with pytest.raises(DataValidationError, match=r"'huge.csv' is 300.0 MB; the limit is 200 MB"):
        data.load_file(HugeUpload())


def padded_csv(frame) -> bytes:
    """The frame as CSV, about 400 kB that compress to a few kB (a long repeated text column)."""
    return frame.assign(note="x" * 10_000, labels=frame["labels"].map("|".join)).to_csv(index=False).encode()


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "zip"])
def test_error_decompressed_content_too_large(tmp_path, frame, suffix):
    import bz2
    import lzma
    import zipfile

    raw = padded_csv(frame)
    path = tmp_path / f"bomb.csv.{suffix}"
    if suffix == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("bomb.csv", raw)
    else:
        path.write_bytes({"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[suffix](raw))
    compressed_mb, content_mb = path.stat().st_size / 2**20, len(raw) / 2**20
    assert compressed_mb < 0.05 and content_mb > 0.2  # the compressed file alone passes the 0.2 MB limit
    with pytest.raises(DataValidationError, match=r"decompresses to more than 0.2 MB; the limit \(max_mb\)"):
        data.load_file(path, max_mb=0.2)
    ds = data.load_file(path, max_mb=1)  # under the limit: read as before
    assert len(all_rows(ds)) == len(frame) and ds.meta["source"]["compression"]
    with pytest.raises(DataValidationError, match="decompresses to more than 0.2 MB"):  # uploads too
        data.load_file(path.read_bytes(), filename=path.name, max_mb=0.2)


def test_decompression_stops_at_the_limit(tmp_path):
    # 64 MB of zeros gzip to ~300 kB; with max_mb=1 reading stops after two 1 MiB chunks of output
    import tracemalloc

    path = tmp_path / "zeros.csv.gz"
    block = b"\0" * 2**20
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(64):
            f.write(block)
    tracemalloc.start()
    try:
        with pytest.raises(DataValidationError, match="decompresses to more than 1 MB"):
            data.load_file(path, max_mb=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # never expanded to its 64 MB


def test_error_zip_with_several_files_or_corrupt_archive(tmp_path, frame):
    import zipfile

    path = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", "text,labels\n")
        zf.writestr("b.csv", "text,labels\n")
    with pytest.raises(DataValidationError, match="holds 2 files; it must hold exactly one"):
        data.load_file(path)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataValidationError, match=r"Could not decompress 'bad.csv.gz' as gzip"):
        data.load_file(bad)


def test_error_delimiter_not_a_string(frame):
    with pytest.raises(ConfigError, match=r"delimiter must be a string.*got 3"):
        data.from_dataframe(frame, delimiter=3)


def test_error_unsupported_extension(tmp_path):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DataValidationError, match=r"Unsupported file type '\.xlsx'.*\.csv.*\.jsonl.*\.parquet"):
        data.load_file(path)


def test_error_missing_file(tmp_path):
    with pytest.raises(DataValidationError, match="No such file"):
        data.load_file(tmp_path / "nope.csv")


def test_error_missing_text_column(frame):
    with pytest.raises(DataValidationError) as info:
        data.from_dataframe(frame.rename(columns={"text": "texts"}))
    msg = str(info.value)
    assert "Text column 'text' not found" in msg and "Did you mean 'texts'?" in msg
    assert "Columns found: 'id', 'texts', 'labels'" in msg


def test_error_empty_texts(frame):
    df = frame.copy()
    df.loc[[2, 7], "text"] = ["", "   "]
    with pytest.raises(DataValidationError, match=r"Empty text in column 'text' in rows 3, 8\."):
        data.from_dataframe(df)


def test_error_many_empty_texts_are_summarised(frame):
    df = frame.copy()
    df.loc[:14, "text"] = ""
    with pytest.raises(DataValidationError, match=r"rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 \(and 5 more\)"):
        data.from_dataframe(df)


def test_error_rows_without_labels(frame):
    df = frame.copy()
    df.at[3, "labels"] = []
    df.at[9, "labels"] = []
    with pytest.raises(DataValidationError, match=r"No label in rows 4, 10\..*allow_unlabeled=True"):
        data.from_dataframe(df)


def test_error_label_column_with_non_binary_values(frame):
    wide = pd.DataFrame({"text": frame["text"], "a": [1, 0] * 20, "b": [0, 1] * 20})
    wide.loc[4, "b"] = 2
    wide.loc[6, "b"] = 2
    with pytest.raises(DataValidationError, match=r"Label column 'b' holds values other than 0/1: 2 in rows 5, 7\."):
        data.from_dataframe(wide, label_columns=["a", "b"])
    wide_str = wide.astype({"b": object})
    wide_str.loc[1, "b"] = "yes"
    with pytest.raises(DataValidationError, match=r"'yes'"):
        data.from_dataframe(wide_str, label_columns=["a", "b"])


def test_error_label_without_positive(frame):
    wide = pd.DataFrame({"text": frame["text"], "a": [1, 0] * 20, "b": [0, 1] * 20, "never": 0})
    with pytest.raises(DataValidationError, match=r"Label\(s\) with no positive example: 'never'"):
        data.from_dataframe(wide)


def test_error_all_labels_constant(frame):
    same = frame.assign(labels=[["x"]] * len(frame))
    with pytest.raises(DataValidationError, match="Every label is constant"):
        data.from_dataframe(same)


def test_error_too_few_rows(frame):
    with pytest.raises(DataValidationError, match="The data has 5 rows; at least 10 are needed"):
        data.from_dataframe(frame.head(5))
    with pytest.raises(DataValidationError, match="at least 50"):
        data.from_dataframe(frame, min_rows=50)


def test_error_bad_split_values(frame):
    df = frame.assign(split=["train"] * 38 + ["holdout", ""])
    with pytest.raises(DataValidationError, match=r"Split column 'split' holds values other than train/valid/test: "
                                                  r"'holdout', \(empty\) in rows 39, 40"):
        data.from_dataframe(df)


def test_error_unreadable_label_lists(frame):
    df = frame.assign(labels=frame["labels"].map(json.dumps))
    df.at[4, "labels"] = "[not, json, ]]"  # looks like a list, is neither JSON nor a Python literal
    with pytest.raises(DataValidationError, match=r"could not read the labels of row 5"):
        data.from_dataframe(df, labels_column="labels")


def test_error_missing_named_label_columns(frame):
    with pytest.raises(DataValidationError, match=r"Label column 'label' not found\. Did you mean 'labels'\?"):
        data.from_dataframe(frame, labels_column="label")
    with pytest.raises(DataValidationError, match=r"Label column\(s\) not found: 'zzz'\. Columns found"):
        data.from_dataframe(frame, label_columns=["zzz"])
    with pytest.raises(ConfigError, match="not both"):
        data.from_dataframe(frame, labels_column="labels", label_columns=["id"])


def test_error_no_label_columns_found(frame):
    with pytest.raises(DataValidationError, match="No label columns found"):
        data.from_dataframe(frame[["text"]].assign(score=np.arange(len(frame))))


def test_several_problems_are_reported_together(frame):
    df = frame.copy()
    df.at[0, "text"] = ""
    df.at[1, "labels"] = []
    with pytest.raises(DataValidationError) as info:
        data.from_dataframe(df)
    assert str(info.value).startswith("2 problems with the data:")
    assert len(info.value.problems) == 2


def test_error_auto_detection_is_explained(frame):
    wide = pd.DataFrame({"text": frame["text"], "a": [1, 0] * 20, "b": [0, 1] * 19 + [2, 1]})
    with pytest.raises(DataValidationError, match=r"auto-detected as the 0/1 columns 'a'; ignored \(not only 0/1\): 'b'"):
        data.from_dataframe(wide)
