"""Load a user's own multi-label data: CSV / TSV / JSONL / Parquet files, uploads, DataFrames.

Accepted layouts (one row per sample):

* a text column (``text_column``, default ``"text"``), or ``text_column=None`` for a tabular file
  whose remaining numeric columns are the features;
* labels, either
  - **one column** (``labels_column``) holding per row a list (Parquet / JSONL lists, or a string
    such as ``'["a", "b"]'``) or a delimiter-separated string (``"a|b"``, ``"a;b"``, ``"a,b"``).
    With ``delimiter=None`` it is inferred: ``|`` or ``;`` when present; ``,`` only when every
    comma-separated piece also occurs as a label on its own, and otherwise the file is refused with
    a request for an explicit ``delimiter`` (a comma may be part of a name such as
    ``"Arts, Culture"``); ``delimiter=""`` keeps each value as one label. The choice is reported
    in ``meta["notes"]``; or
  - **one 0/1 column per label** (``label_columns``; values 0/1, true/false or "0"/"1").
  With neither given, a column called ``labels`` / ``label`` / ``tags`` / ``categories`` /
  ``topics`` (any case) is the label column; failing that, every column other than the text and
  split columns that holds only 0/1 values is a label column (text files only);
* optionally a ``split`` column with ``train`` / ``valid`` / ``test`` (``validation``, ``val``, ``dev``
  and ``training`` / ``testing`` are accepted too). Without it the rows are split by seeded
  iterative stratification into ``1 - valid_fraction - test_fraction`` / ``valid_fraction`` /
  ``test_fraction`` of all rows.

Rows with no label (an empty cell, ``[]``, only spaces; all zeros in 0/1 columns) are refused unless
``allow_unlabeled=True`` (the app's upload checkbox :data:`ALLOW_UNLABELED_LABEL`): they are then kept
as negative examples, all-zero label rows, and the splits stratify them as one more label.

Problems raise :class:`mlal_core.errors.DataValidationError` with a message that says what is wrong
and where (row numbers are 1-based data rows, the header not counted); the list of problems is also
in the error's ``problems`` attribute.
"""

from __future__ import annotations

import ast
import bz2
import difflib
import gzip
import io
import json
import lzma
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from mlal_core.data.dataset import MultiLabelDataset, Split
from mlal_core.data.hygiene import input_keys, repeated_rows, shared_inputs
from mlal_core.data.splits import carve, train_valid_test
from mlal_core.errors import ConfigError, DataValidationError

SUPPORTED_EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
    ".parquet": "parquet", ".pq": "parquet", ".yaml": "yaml", ".yml": "yaml",
}
LABEL_COLUMN_NAMES = ("labels", "label", "tags", "categories", "topics")
DELIMITER_CANDIDATES = ("|", ";", ",")
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "valid": "valid", "validation": "valid", "val": "valid", "dev": "valid",
    "test": "test", "testing": "test",
}
_SHOW = 10  # how many row numbers / values a message lists
_SHOW_PROBLEMS = 5  # how many problems one message lists
_PROBLEM_CHARS = 320  # the longest problem sentence shown (a safety net: lists are bounded already)
_MAX_DEPTH = 64  # the deepest nesting accepted in a YAML file or a label cell
DUPLICATES_CHOICES = ("warn", "drop", "keep")
CROSS_SPLIT_CHOICES = ("warn", "drop", "error")
_EMPTY = "(empty)"  # stands for a missing / blank cell in messages
#: the app's upload checkbox for ``allow_unlabeled`` (pages/home.py); the refusal names it
ALLOW_UNLABELED_LABEL = "Rows with no label are negative examples"


def _clip(text: str, limit: int = _PROBLEM_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _validation_error(problems: list[str], hint: str | None = None) -> DataValidationError:
    """One error listing at most a few problems (each clipped), so the message stays short."""
    if len(problems) == 1:
        msg = _clip(problems[0], 3 * _PROBLEM_CHARS)
    else:
        shown = [f"- {_clip(p)}" for p in problems[:_SHOW_PROBLEMS]]
        if len(problems) > _SHOW_PROBLEMS:
            shown.append(f"- and {len(problems) - _SHOW_PROBLEMS} more problems")
        msg = f"{len(problems)} problems with the data:\n" + "\n".join(shown)
    if hint:
        msg += "\n" + _clip(hint)
    return DataValidationError(msg, problems)


def _names(items, show: int = _SHOW) -> str:
    """"'a', 'b', 'c' (and 7 more)": the first ``show`` names, each clipped, then how many more."""
    items = list(items)
    shown = ", ".join(_clip(repr(str(c)), 60) for c in items[:show])
    return shown + (f" (and {len(items) - show} more)" if len(items) > show else "")


def _invalid(message: str) -> DataValidationError:
    """The error for one problem."""
    return _validation_error([message])


def _rows(positions) -> str:
    """'rows 3, 7, 12 (and 5 more)' for 0-based positions, shown 1-based."""
    positions = list(positions)
    shown = ", ".join(str(int(p) + 1) for p in positions[:_SHOW])
    more = f" (and {len(positions) - _SHOW} more)" if len(positions) > _SHOW else ""
    word = "row" if len(positions) == 1 else "rows"
    return f"{word} {shown}{more}"


_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}


def _format_of(filename: str) -> tuple[str, str | None, str]:
    """(format, compression, stem) from a file name, e.g. 'data.csv.gz' -> ('csv', 'gzip', 'data')."""
    base, suffix = os.path.splitext(filename)
    compression = _COMPRESSIONS.get(suffix.lower())
    if compression:
        base, suffix = os.path.splitext(base)
    fmt = SUPPORTED_EXTENSIONS.get(suffix.lower())
    if compression and fmt == "parquet":
        raise _invalid(f"{filename!r}: upload the Parquet file itself, not a compressed copy "
                                 "(Parquet is compressed inside already).")
    if fmt is None:
        raise _invalid(f"Unsupported file type {suffix or '(no extension)'!r} for {filename!r}. Accepted: "
            + ", ".join(sorted(SUPPORTED_EXTENSIONS)) + " (text formats may be .gz / .bz2 / .zip / .xz / .zst compressed).")
    return fmt, compression, os.path.basename(base)


def _read_frame(source, fmt: str, sep: str | None) -> pd.DataFrame:
    """Read a path or a binary buffer (already decompressed) into a DataFrame; empty cells stay ''."""
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(source, sep=sep or ("," if fmt == "csv" else "\t"), keep_default_na=False,
                               na_values=[])
        if fmt == "jsonl":
            return pd.read_json(source, lines=True, dtype=False)
        if fmt == "json":  # a JSON array of records, or JSON lines under a .json name
            try:
                return pd.read_json(source, orient="records", dtype=False)
            except ValueError:
                if hasattr(source, "seek"):
                    source.seek(0)
                return pd.read_json(source, lines=True, dtype=False)
        if fmt == "yaml":
            return _read_yaml(source)
        return pd.read_parquet(source)
    except DataValidationError:
        raise
    except (ValueError, UnicodeDecodeError, OSError, json.JSONDecodeError, pd.errors.ParserError,
            RecursionError) as exc:
        raise _invalid(f"Could not read the file as {fmt.upper()}: {_clip(str(exc), 300)}") from exc


def _strict_yaml_loader(yaml):
    """A safe YAML loader that refuses aliases (alias bombs), duplicate keys and deep nesting."""

    class StrictLoader(yaml.SafeLoader):  # type: ignore[name-defined,misc]
        depth = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise _invalid(f"The YAML file uses an alias (*{_clip(str(event.anchor), 40)}, line "
                               f"{event.start_mark.line + 1}); aliases are refused because a few of them can "
                               "expand a small file enormously. Write each value out in full.")
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise _invalid(f"The YAML file is nested more than {_MAX_DEPTH} levels deep (line "
                               f"{self.peek_event().start_mark.line + 1}). A data file is a list of records "
                               "whose labels are a flat list such as [a, b].")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node, deep=False):
            seen: set = set()
            for key_node, _ in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
                if key in seen:
                    raise _invalid(f"The YAML file repeats the key {_clip(repr(key), 60)} in one mapping "
                                   f"(line {key_node.start_mark.line + 1}); YAML would silently keep only the "
                                   "later value. Remove or rename one of them.")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _read_yaml(source) -> pd.DataFrame:
    """A YAML list of records (one mapping per sample) as a DataFrame, read with the strict loader."""
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - PyYAML comes with the app's requirements
        raise _invalid("Reading YAML needs the 'PyYAML' package (not installed); upload CSV or JSON.") from exc
    raw = source.read_bytes() if isinstance(source, Path) else source.read()
    try:
        records = yaml.load(raw, Loader=_strict_yaml_loader(yaml))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _invalid(f"Could not read the file as YAML: {_clip(str(exc), 300)}") from exc
    if not isinstance(records, list):
        raise _invalid("A YAML data file must be a list of records, one mapping per sample, e.g. "
                       "'- text: ...' then '  labels: [a, b]' on the next line; "
                       f"this one holds a {type(records).__name__}.")
    not_mappings = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if not_mappings:
        raise _invalid(f"Every entry of a YAML data file must be a mapping (text: ..., labels: ...); "
                       f"not so in {_rows(not_mappings)}.")
    return pd.DataFrame.from_records(records)


def _check_size(size: int, max_mb: float, fname: str) -> None:
    if size > float(max_mb) * 1024 * 1024:
        raise _invalid(f"The file {fname!r} is {size / 1024 / 1024:.1f} MB; the limit is {max_mb:g} MB (max_mb). "
                       "Pass a smaller file (a sample of its rows) or raise max_mb.")


_CHUNK = 1 << 20  # bytes read from a decompressor at a time


def _too_large_decompressed(max_mb: float, fname: str) -> DataValidationError:
    return _invalid(f"The file {fname!r} decompresses to more than {max_mb:g} MB; the limit (max_mb) "
                    "applies to the decompressed content too. Pass a smaller file (a sample of its rows) "
                    "or raise max_mb.")


def _open_decompressed(raw, compression: str, max_mb: float, fname: str):
    """A binary stream of the decompressed content of the open binary file ``raw``."""
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw)
    if compression == "bz2":
        return bz2.BZ2File(raw)
    if compression == "xz":
        return lzma.LZMAFile(raw)
    if compression == "zstd":
        try:
            import zstandard
        except ImportError as exc:
            raise _invalid(f"{fname!r} is zstd-compressed, which needs the 'zstandard' package "
                           "(not installed); upload it uncompressed or as .gz instead.") from exc
        return zstandard.ZstdDecompressor().stream_reader(raw)
    archive = zipfile.ZipFile(raw)  # "zip"
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) != 1:
        raise _invalid(f"The ZIP archive {fname!r} holds {len(members)} files; "
                       "it must hold exactly one data file.")
    if members[0].file_size > float(max_mb) * 1024 * 1024:  # as declared; the read below checks the truth
        raise _too_large_decompressed(max_mb, fname)
    return archive.open(members[0])


def _decompress(source, compression: str, max_mb: float, fname: str) -> bytes:
    """The decompressed bytes of ``source`` (a path or a binary buffer), refusing more than ``max_mb``.

    The content is read in chunks and reading stops as soon as it passes the limit, so a small
    archive that would expand to gigabytes (a "zip bomb") is refused without being expanded.
    """
    errors: tuple[type[BaseException], ...] = (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError, zlib.error,
                                               RuntimeError, NotImplementedError, ValueError)
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            pass  # _open_decompressed says so
        else:
            errors += (zstandard.ZstdError,)
    limit = float(max_mb) * 1024 * 1024
    chunks, total = [], 0
    try:
        with (open(source, "rb") if isinstance(source, Path) else source) as raw, \
                _open_decompressed(raw, compression, max_mb, fname) as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise _too_large_decompressed(max_mb, fname)
                chunks.append(chunk)
    except DataValidationError:
        raise
    except errors as exc:
        raise _invalid(f"Could not decompress {fname!r} as {compression} ({_clip(str(exc), 120)}): the file is "
                       "damaged or not really compressed that way. Upload the file again, or uncompressed.") from exc
    return b"".join(chunks)


def load_file(
    path,
    *,
    text_column: str | None = "text",
    labels_column: str | None = None,
    label_columns: list[str] | None = None,
    delimiter: str | None = None,
    allow_unlabeled: bool = False,
    max_mb: float = 200,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    random_state: int = 0,
    name: str | None = None,
    split_column: str = "split",
    sep: str | None = None,
    min_rows: int = 10,
    filename: str | None = None,
    duplicates: str = "warn",
    cross_split: str = "warn",
) -> MultiLabelDataset:
    """Load a CSV / TSV / JSONL / JSON / Parquet file of labelled samples (see the module docstring).

    Files larger than ``max_mb`` megabytes (MiB) are refused before reading, and a compressed file
    (.gz / .bz2 / .zip / .xz / .zst) also when its decompressed content passes ``max_mb`` (checked
    while decompressing, so nothing larger is ever held in memory).

    Parameters
    ----------
    path : str, path-like, file object or bytes
        A file path, an uploaded file object (anything with ``name`` and ``getvalue()`` or ``read()``,
        such as Streamlit's ``UploadedFile``), or raw ``bytes`` together with ``filename``.
    text_column, labels_column, label_columns, delimiter, allow_unlabeled
        As :func:`from_dataframe`.
    max_mb : float, default 200
        Largest accepted size in MiB, of the file and of its decompressed content.
    test_fraction, valid_fraction, random_state, split_column, min_rows, duplicates, cross_split
        As :func:`from_dataframe`.
    name : str, optional
        The dataset's name; default the file's stem.
    sep : str, optional
        Field separator of CSV / TSV files (default ``","`` / tab).
    filename : str, optional
        The name whose extension gives the format: required with ``bytes``, and overrides the path's
        or the file object's name.

    Returns
    -------
    MultiLabelDataset
        As :func:`from_dataframe`, with ``meta["source"]`` naming the file, format, compression and size.

    Raises
    ------
    ConfigError
        ``path`` of another type, or no file name to take the format from.
    DataValidationError
        A missing, too large, unsupported or unreadable file, or any problem :func:`from_dataframe` finds.
    """
    if isinstance(path, (bytes, bytearray, memoryview)):
        if not filename:
            raise ConfigError("Pass filename=... (for its extension) when giving load_file raw bytes.")
        data, fname, size = bytes(path), filename, len(path)
    elif isinstance(path, (str, os.PathLike)):
        p = Path(path).expanduser()
        if not p.is_file():
            raise _invalid(f"No such file: {str(p)!r}.")
        data, fname, size = None, filename or p.name, p.stat().st_size
    elif hasattr(path, "getvalue") or hasattr(path, "read"):
        declared = getattr(path, "size", None)  # e.g. Streamlit's UploadedFile: check before reading
        if isinstance(declared, int):
            _check_size(declared, max_mb, os.path.basename(str(filename or getattr(path, "name", "upload"))))
        raw = path.getvalue() if hasattr(path, "getvalue") else path.read()
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        given_name = filename or getattr(path, "name", None)
        if not given_name:
            raise ConfigError("The file object has no name; pass filename=... (for its extension).")
        data, size = bytes(raw), len(raw)
        fname = os.path.basename(str(given_name))
    else:
        raise ConfigError(f"load_file takes a path, an uploaded file or bytes; got {type(path).__name__}.")

    _check_size(size, max_mb, fname)
    fmt, compression, stem = _format_of(fname)
    source = io.BytesIO(data) if data is not None else Path(path).expanduser()
    if compression is not None:
        source = io.BytesIO(_decompress(source, compression, max_mb, fname))
    df = _read_frame(source, fmt, sep)
    return from_dataframe(
        df, text_column=text_column, labels_column=labels_column, label_columns=label_columns,
        delimiter=delimiter, allow_unlabeled=allow_unlabeled, test_fraction=test_fraction,
        valid_fraction=valid_fraction, random_state=random_state, name=name or stem,
        split_column=split_column, min_rows=min_rows, duplicates=duplicates, cross_split=cross_split,
        source={"file": fname, "format": fmt, "compression": compression, "size_bytes": int(size)},
    )


# --------------------------------------------------------------------------- label parsing

def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return v is pd.NA or v is pd.NaT


def _as_01(series: pd.Series) -> tuple[np.ndarray | None, list[int], list[str]]:
    """(0/1 uint8 vector or None, bad positions, distinct bad values as shown) for one indicator column."""
    values = series.to_numpy(dtype=object)
    out = np.zeros(len(values), dtype=np.uint8)
    bad_pos: list[int] = []
    bad_vals: dict[str, None] = {}  # distinct, in order of appearance
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)):
            out[i] = int(v)
            continue
        if isinstance(v, (int, np.integer, float, np.floating)) and not _is_missing(v) and v in (0, 1):
            out[i] = int(v)
            continue
        if isinstance(v, str) and v.strip().lower() in ("0", "1", "0.0", "1.0", "true", "false"):
            out[i] = 1 if v.strip().lower() in ("1", "1.0", "true") else 0
            continue
        bad_pos.append(i)
        if len(bad_vals) < _SHOW:
            shown = _EMPTY if _is_missing(v) or (isinstance(v, str) and not v.strip()) else _clip(repr(v), 40)
            bad_vals.setdefault(shown)
    return (None if bad_pos else out), bad_pos, list(bad_vals)


def _indicator_matrix(df: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(0/1 matrix, whether each column is a 0/1 column) for ``columns``, vectorised over numeric ones.

    Numeric and boolean columns are checked as one block (linear in the cells, no per-column pandas
    call); only text columns are read one by one.
    """
    position = {c: j for j, c in enumerate(df.columns)}
    Y = np.zeros((len(df), len(columns)), dtype=np.uint8)
    ok = np.zeros(len(columns), dtype=bool)
    dtypes = df.dtypes.to_numpy()
    numeric = [j for j, c in enumerate(columns) if pd.api.types.is_numeric_dtype(dtypes[position[c]])]
    if numeric:
        block = df.iloc[:, [position[columns[j]] for j in numeric]].to_numpy(dtype=np.float64)
        ok[numeric] = np.isin(block, (0, 1)).all(axis=0)
        Y[:, numeric] = block == 1
    for j in sorted(set(range(len(columns))) - set(numeric)):
        vec = _as_01(df.iloc[:, position[columns[j]]])[0]
        if vec is not None:
            ok[j], Y[:, j] = True, vec
    if len(df) == 0:
        ok[:] = False
    return Y, ok


def _literal_list(text: str):
    """The list written in a cell (JSON or Python literal), or None; deep nesting is not parsed."""
    depth = len(text) - len(text.lstrip("[ \t\n"))
    if text.count("[", 0, depth) > _MAX_DEPTH:
        return None  # refused before a recursive parser could overflow
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
            continue
    return None


def _flat_labels(value) -> list[str] | None:
    """The labels of a list value, or None when it is not a flat list of scalars (nested lists, mappings)."""
    if not isinstance(value, (list, tuple, set, np.ndarray)):
        return None
    if any(isinstance(x, (list, tuple, set, dict, np.ndarray)) for x in value):
        return None
    return [str(x).strip() for x in value if not _is_missing(x) and str(x).strip()]


def _split_string(s: str, delim: str | None) -> list[str]:
    parts = [s] if delim is None else s.split(delim)
    return [p.strip() for p in parts if p.strip()]


def _infer_delimiter(strings: list[str], positions: list[int], list_labels: set[str], column: str,
                     notes: list[str]) -> tuple[str | None, str | None]:
    """(delimiter or None, problem or None) for the plain-string label values ``strings``.

    ``|`` and ``;`` are taken whenever they occur (the one in more rows; label names rarely hold
    them), and commas are then part of label names. ``,`` alone is taken only when the split is
    confirmed: every piece of every value with a comma also occurs as a whole label value (a value
    without a comma, or a label of a list row). Otherwise a comma may belong to a name ("Arts,
    Culture") and the problem asks for an explicit ``delimiter``.
    """
    counts = {d: sum(1 for v in strings if d in v) for d in DELIMITER_CANDIDATES}
    strong = [d for d in DELIMITER_CANDIDATES if d != "," and counts[d]]
    if len(strong) > 1:
        both = [(p, v) for p, v in zip(positions, strings) if "|" in v and ";" in v]
        pos, value = both[0] if both else next((p, v) for p, v in zip(positions, strings) if ";" in v)
        return None, (
            f"Label column {column!r}: both '|' ({counts['|']} values) and ';' ({counts[';']} values) occur, "
            f"so the labels cannot be split safely (e.g. {_clip(repr(value), 80)} in {_rows([pos])}). Pass "
            "delimiter='|' if '|' separates labels (';' then stays inside label names), or delimiter=';' "
            "for the reverse."
        )
    if strong:
        delim = max(strong, key=lambda d: (counts[d], -DELIMITER_CANDIDATES.index(d)))
        kept = f"; commas are kept inside labels ({counts[',']} rows)" if counts[","] else ""
        notes.append(f"Label column {column!r}: labels split on {delim!r} (inferred{kept}; "
                     "pass delimiter=... to override).")
        return delim, None
    if not counts[","]:
        notes.append(f"Label column {column!r}: one label per row (no delimiter among "
                     f"{' '.join(DELIMITER_CANDIDATES)} found; pass delimiter=... to split).")
        return None, None
    whole = {v.strip() for v in strings if "," not in v} | list_labels
    unconfirmed = [(pos, v, piece) for pos, v in zip(positions, strings) if "," in v
                   for piece in _split_string(v, ",") if piece not in whole]
    if not unconfirmed:
        notes.append(f"Label column {column!r}: labels split on ',' (inferred: every piece of the "
                     f"{counts[',']} values with a comma is also a label on its own; pass delimiter=... "
                     "to override).")
        return ",", None
    pos, value, piece = unconfirmed[0]
    n_values = len({p for p, _, _ in unconfirmed})
    return None, (
        f"Label column {column!r}: cannot tell whether ',' separates labels. {counts[',']} values contain "
        f"a comma, and in {n_values} of them a piece never occurs as a label on its own (e.g. {piece!r} "
        f"of {value!r} in {_rows([pos])}). Pass delimiter=',' if commas separate labels, or delimiter='' "
        "if each value is one label (such as 'Arts, Culture')."
    )


def _parse_label_column(series: pd.Series, delimiter: str | None, column: str,
                        notes: list[str]) -> tuple[list[list[str] | None], list[str]]:
    """Return (list of label lists, problems). Infers the delimiter of string values when None."""
    values = series.to_numpy(dtype=object)
    problems: list[str] = []
    parsed: list[list[str] | None] = [None] * len(values)
    plain_strings: list[int] = []
    n_lists = 0
    for i, v in enumerate(values):
        if _is_missing(v):
            parsed[i] = []
        elif isinstance(v, (list, tuple, set, np.ndarray)):
            parsed[i] = _flat_labels(v)
            n_lists += 1 if parsed[i] is not None else 0
        elif isinstance(v, str):
            s = v.strip()
            if s.startswith("[") and s.endswith("]"):
                parsed[i] = _flat_labels(_literal_list(s))
                n_lists += 1 if parsed[i] is not None else 0
            else:
                plain_strings.append(i)
        elif isinstance(v, (int, np.integer, float, np.floating, bool, np.bool_)):
            parsed[i] = [str(v)]
    plain = set(plain_strings)
    bad_rows = [i for i in range(len(values)) if parsed[i] is None and i not in plain]
    if bad_rows:
        problems.append(
            f"Label column {column!r}: could not read the labels of {_rows(bad_rows)} "
            "(expected a flat list such as [\"a\", \"b\"] or a delimited string such as \"a|b\"; "
            "nested lists and mappings are refused)."
        )
    if plain_strings:
        delim = delimiter
        if delim is None:
            single = {lab for row in parsed if row for lab in row}  # labels of list rows
            delim, problem = _infer_delimiter([values[i] for i in plain_strings], plain_strings, single,
                                              column, notes)
            if problem:
                return parsed, problems + [problem]
        elif delim == "":
            notes.append(f"Label column {column!r}: one label per row (delimiter='': values are not split).")
        else:
            notes.append(f"Label column {column!r}: labels split on {delim!r}.")
        for i in plain_strings:
            parsed[i] = _split_string(values[i], delim or None)
    if n_lists:
        notes.append(f"Label column {column!r}: {n_lists} rows hold label lists.")
    return parsed, problems


# --------------------------------------------------------------------------- the steps of from_dataframe

def _check_arguments(df, labels_column: str | None, label_columns: list[str] | None,
                     delimiter: str | None, hygiene: tuple[str, str]) -> None:
    """Refuse arguments of the wrong kind or that contradict each other (:class:`ConfigError`)."""
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"from_dataframe takes a pandas DataFrame; got {type(df).__name__}.")
    for option, value, choices in zip(("duplicates", "cross_split"), hygiene,
                                      (DUPLICATES_CHOICES, CROSS_SPLIT_CHOICES)):
        if value not in choices:
            raise ConfigError(f"{option} must be one of {', '.join(map(repr, choices))}; got {_clip(repr(value), 40)}.")
    dup_names = df.columns[df.columns.astype(str).duplicated()]
    if len(dup_names):
        raise _invalid(f"Column name(s) used twice: {_names(dict.fromkeys(map(str, dup_names)))}. "
                       "Give every column its own name.")
    if labels_column is not None and label_columns is not None:
        raise ConfigError("Give either labels_column (one column of label lists) or label_columns "
                          "(one 0/1 column per label), not both.")
    if delimiter is not None and not isinstance(delimiter, str):
        raise ConfigError(f"delimiter must be a string such as '|', ';' or ',' ('' for one label per value, "
                          f"None to infer it); got {delimiter!r}.")


def _did_you_mean(column: str, columns: list[str]) -> str:
    """``" Did you mean 'x'?"`` for the column name closest to ``column``, else ``""``."""
    close = difflib.get_close_matches(column, columns, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_structure(n_rows: int, columns: list[str], found: str, text_column: str | None,
                     min_rows: int) -> None:
    """Refuse too few rows or a missing text column."""
    if n_rows < min_rows:
        raise _invalid(f"The data has {n_rows} rows; at least {min_rows} are needed "
                       "to make train / valid / test splits.")
    if text_column is not None and text_column not in columns:
        raise _invalid(f"Text column {text_column!r} not found.{_did_you_mean(text_column, columns)} "
                       f"Columns found: {found}. "
                       "Pass text_column=... (or text_column=None for a table of numeric features).")


def _check_indicator_columns(label_columns: list[str], columns: list[str], reserved: set[str],
                             found: str) -> None:
    """Refuse given 0/1 label columns that are missing, reserved, or none at all."""
    present = set(columns)
    missing = [c for c in label_columns if c not in present]
    if missing:
        raise _invalid(f"Label column(s) not found: {_names(missing)}. Columns found: {found}.")
    clash = [c for c in label_columns if c in reserved]
    if clash:
        raise _invalid(f"Column(s) {_names(clash)} cannot be both labels and the text/split column.")
    if not label_columns:
        raise _invalid("label_columns is empty: name at least one 0/1 label column.")


def _check_labels_column(labels_column: str, columns: list[str], reserved: set[str], found: str) -> None:
    """Refuse a given label-list column that is missing or reserved."""
    if labels_column not in columns:
        raise _invalid(f"Label column {labels_column!r} not found.{_did_you_mean(labels_column, columns)} "
                       f"Columns found: {found}.")
    if labels_column in reserved:
        raise _invalid(f"Column {labels_column!r} cannot be both the labels and the text/split column.")


def _detect_label_columns(df: pd.DataFrame, reserved: set[str], text_column: str | None, found: str,
                          notes: list[str]) -> tuple[str | None, list[str] | None, str | None]:
    """(labels_column, label_columns, hint) when neither was given: a conventionally named column,
    else (text files only) every 0/1 column; ``hint`` says what was guessed, for any later error."""
    columns = list(df.columns)
    conventional = [c for c in columns if c.lower() in LABEL_COLUMN_NAMES and c not in reserved]
    if conventional:
        notes.append(f"Labels read from column {conventional[0]!r} (found by name).")
        return conventional[0], None, None
    if text_column is None:
        raise _invalid("A table without a text column needs its labels named: pass labels_column=... or "
                       f"label_columns=[...]. Columns found: {found}.")
    candidates = [c for c in columns if c not in reserved]
    is_01 = _indicator_matrix(df, candidates)[1]
    label_columns = [c for c, ok in zip(candidates, is_01) if ok]
    if not label_columns:
        raise _invalid("No label columns found: no column is called " + "/".join(LABEL_COLUMN_NAMES)
                       + " and no column other than the text column holds only 0/1 values. Pass labels_column=... "
                       f"(one column of label lists or delimited labels) or label_columns=[...]. Columns found: {found}.")
    shown = _names(label_columns)
    notes.append(f"Labels read from the 0/1 columns {shown} (auto-detected).")
    skipped = [c for c, ok in zip(candidates, is_01) if not ok]
    hint = (f"Labels were auto-detected as the 0/1 columns {shown}"
            + (f"; ignored (not only 0/1): {_names(skipped)}" if skipped else "")
            + ". Pass label_columns=[...] to choose them.")
    return None, label_columns, hint


def _text_inputs(df: pd.DataFrame, text_column: str, others: list[str], problems: list[str],
                 notes: list[str]) -> list[str]:
    """The texts of ``text_column`` (a missing cell is ``""``); empty texts are a problem."""
    texts = ["" if _is_missing(v) else str(v) for v in df[text_column].to_numpy(dtype=object)]
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        problems.append(f"Empty text in column {text_column!r} in {_rows(empty)}.")
    if others:
        notes.append(f"Columns ignored: {_names(others)}.")
    return texts


def _feature_inputs(df: pd.DataFrame, feature_names: list[str], found: str,
                    problems: list[str]) -> np.ndarray | None:
    """The float32 feature matrix of a table without text, or None (and a problem) when unusable."""
    non_numeric = [c for c in feature_names if not pd.api.types.is_numeric_dtype(df[c].dtype)]
    if non_numeric:
        problems.append(f"Feature column(s) {_names(non_numeric)} are not numeric "
                        "(a table without a text column uses every other column as a feature).")
        return None
    if not feature_names:
        problems.append(f"No feature columns: a table without a text column needs numeric feature columns. Columns found: {found}.")
        return None
    X = df[feature_names].to_numpy(dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if bad.size:
        problems.append(f"Missing or non-finite feature values in {_rows(bad)}.")
    return X


def _indicator_labels(df: pd.DataFrame, label_columns: list[str], problems: list[str],
                      hint: str | None) -> tuple[np.ndarray, list[str]]:
    """(Y, labels with no positive) from one 0/1 column per label; values other than 0/1 raise now."""
    Y, ok = _indicator_matrix(df, label_columns)
    value_problems = []
    for j in np.flatnonzero(~ok)[:_SHOW_PROBLEMS - 1]:
        c = label_columns[j]
        _, bad, vals = _as_01(df.iloc[:, list(df.columns).index(c)])
        value_problems.append(f"Label column {_clip(repr(c), 60)} holds values other than 0/1: "
                              f"{', '.join(vals[:5])} in {_rows(bad)}.")
    n_bad = int((~ok).sum())
    if n_bad > _SHOW_PROBLEMS - 1:
        value_problems.append(f"{n_bad - _SHOW_PROBLEMS + 1} more label columns hold values other than 0/1: "
                              f"{_names([label_columns[j] for j in np.flatnonzero(~ok)[_SHOW_PROBLEMS - 1:]], 3)}.")
    if value_problems:
        raise _validation_error(problems + value_problems, hint)
    no_pos = [label_columns[j] for j in np.flatnonzero(Y.sum(axis=0) == 0)]
    if no_pos:
        problems.append(f"Label(s) with no positive example: {_names(no_pos)}. "
                        "Remove these columns or add examples.")
    return Y, no_pos


def _refuse_binary_label_column(series: pd.Series, column: str) -> None:
    """Refuse a label column that holds only 0/1 values: its labels would be the names '0' and '1'."""
    if len(series) and _as_01(series)[0] is not None:
        raise _invalid(f"Label column {_clip(repr(column), 60)} holds only 0/1 values, which would become two "
                       "labels named '0' and '1'. If it marks one yes/no label, pass "
                       f"label_columns=[{_clip(repr(column), 60)}] with allow_unlabeled=True (the 0 rows are then "
                       "negative examples); if the rows have "
                       "named labels, write the names in that column (e.g. 'sport|tech').")


def _column_labels(df: pd.DataFrame, labels_column: str, delimiter: str | None, problems: list[str],
                   notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """(Y, sorted label names) from one column of label lists or delimited strings; problems raise now."""
    _refuse_binary_label_column(df[labels_column], labels_column)
    parsed, parse_problems = _parse_label_column(df[labels_column], delimiter, labels_column, notes)
    problems += parse_problems
    if parse_problems:
        raise _validation_error(problems)
    label_names = sorted({lab for row in parsed if row for lab in row})
    if not label_names:
        raise _validation_error(problems + [f"Label column {labels_column!r} holds no label at all."])
    index = {lab: j for j, lab in enumerate(label_names)}
    Y = np.zeros((len(df), len(label_names)), dtype=np.uint8)
    rows = np.fromiter((i for i, row in enumerate(parsed) if row for _ in row), dtype=np.int64)
    cols = np.fromiter((index[lab] for row in parsed if row for lab in row), dtype=np.int64)
    Y[rows, cols] = 1
    return Y, label_names


def _check_label_matrix(Y: np.ndarray, label_names: list[str], no_pos: list[str], allow_unlabeled: bool,
                        problems: list[str], notes: list[str]) -> None:
    """Rows with no label (a problem unless ``allow_unlabeled``) and labels that never vary."""
    unlabeled = np.flatnonzero(Y.sum(axis=1) == 0)
    if unlabeled.size and not allow_unlabeled:
        problems.append(f"No label in {_rows(unlabeled)}. Give every row a label, or keep such rows as negative "
                        f"examples: tick {ALLOW_UNLABELED_LABEL!r} on the upload (allow_unlabeled=True in Python).")
    elif unlabeled.size:
        notes.append(f"{unlabeled.size} row{'s' if unlabeled.size != 1 else ''} with no label kept as negative "
                     "examples (allow_unlabeled=True).")
    if not (Y.shape[0] and Y.shape[1]) or no_pos:
        return
    constant = (Y.min(axis=0) == Y.max(axis=0))
    if constant.all():
        problems.append("Every label is constant (the same value in every row), so there is nothing to learn: "
                        f"labels {_names(label_names)}.")
    elif constant.any():
        always = _names([label_names[j] for j in np.flatnonzero(constant)])
        notes.append(f"Label(s) present in every row: {always}.")


def _read_split_column(df: pd.DataFrame, split_column: str, problems: list[str]) -> np.ndarray | None:
    """Each row's split ("train" / "valid" / "test", aliases normalised), or None (and a problem)."""
    raw = df[split_column].to_numpy(dtype=object)
    norm = [SPLIT_ALIASES.get(str(v).strip().lower()) if not _is_missing(v) else None for v in raw]
    bad = [i for i, s in enumerate(norm) if s is None]
    if bad:
        vals = sorted({_EMPTY if _is_missing(raw[i]) or not str(raw[i]).strip() else repr(str(raw[i])) for i in bad})
        problems.append(f"Split column {split_column!r} holds values other than train/valid/test: "
                        f"{', '.join(vals[:5])} in {_rows(bad)}.")
        return None
    split_of = np.asarray(norm, dtype=object)
    if not (split_of == "train").any():
        problems.append(f"Split column {split_column!r} has no 'train' row.")
    return split_of


def _splits_from_column(Y: np.ndarray, split_of: np.ndarray, fractions: tuple[float, float],
                        random_state: int, notes: list[str]) -> tuple[dict[str, np.ndarray], bool]:
    """(row positions per split, whether valid was carved) from the split column; a missing test or
    valid split is carved from train by iterative stratification."""
    valid_fraction, test_fraction = fractions
    idx = {s: np.flatnonzero(split_of == s) for s in ("train", "valid", "test")}
    if idx["test"].size == 0:
        kept, carved = carve(Y[idx["train"]], test_fraction, random_state)
        idx["train"], idx["test"] = idx["train"][kept], idx["train"][carved]
        notes.append(f"No 'test' rows in the split column: {carved.size} test rows carved from train "
                     f"(test_fraction={test_fraction} of train, iterative stratification, random_state={random_state}).")
    if idx["valid"].size:
        return idx, False
    kept, carved = carve(Y[idx["train"]], valid_fraction, random_state)
    idx["train"], idx["valid"] = idx["train"][kept], idx["train"][carved]
    notes.append(f"No 'valid' rows in the split column: {carved.size} valid rows carved from train "
                 f"(valid_fraction={valid_fraction} of train, iterative stratification, random_state={random_state}).")
    return idx, True


def _example_inputs(keys: list, positions) -> str:
    """A few of the inputs at ``positions``, clipped, for a message."""
    return ", ".join("(a feature row)" if isinstance(keys[i], bytes) else _clip(repr(keys[i]), 60)
                     for i in list(positions)[:3])


def _drop_repeated_rows(keys: list, Y: np.ndarray, split_of: np.ndarray | None, duplicates: str,
                        notes: list[str], report: dict) -> np.ndarray | None:
    """The rows to keep when ``duplicates='drop'`` removes exact repeats (None: keep all); warns if 'warn'.

    With a split column, a repeat counts only within its split (across splits, ``cross_split`` decides).
    """
    repeats = repeated_rows(keys if split_of is None else list(zip(keys, split_of)), Y)
    report["duplicate_rows"] = int(repeats.size)
    if not repeats.size or duplicates == "keep":
        return None
    what = (f"{repeats.size} duplicate row{'s' if repeats.size != 1 else ''} (same input and labels as an "
            f"earlier row: {_rows(repeats)}; e.g. {_example_inputs(keys, repeats)})")
    if duplicates == "warn":
        report["warnings"].append(f"{what} are kept, so they weigh double in training and may fall in two "
                                  "splits. Pass duplicates='drop' to keep one copy of each.")
        return None
    notes.append(f"{what} dropped; the first copy of each is kept (duplicates='drop').")
    report["dropped_duplicates"] = int(repeats.size)
    return np.setdiff1d(np.arange(len(keys)), repeats)


def _separate_splits(idx: dict[str, np.ndarray], keys: list, cross_split: str, notes: list[str],
                     report: dict) -> dict[str, np.ndarray]:
    """Find train/valid rows whose input also occurs in a later split; warn, drop them, or refuse."""
    drop = shared_inputs({s: [keys[i] for i in rows] for s, rows in idx.items()})
    report["shared_rows"] = {s: int(d.size) for s, d in drop.items() if d.size}
    if not report["shared_rows"]:
        return idx
    rows = np.sort(np.concatenate([idx[s][d] for s, d in drop.items() if d.size]))
    counts = ", ".join(f"{n} in {s}" for s, n in report["shared_rows"].items())
    what = (f"{rows.size} row{'s' if rows.size != 1 else ''} of train/valid ({counts}) have an input that also "
            f"occurs in a later split (valid/test), e.g. {_example_inputs(keys, rows)} ({_rows(rows)}): "
            "leakage that inflates every metric")
    if cross_split == "error":
        raise _invalid(f"{what}. Remove the shared rows from the file, or pass cross_split='drop' to drop "
                       "them from train/valid.")
    if cross_split == "warn":
        report["warnings"].append(f"{what}. They are kept; pass cross_split='drop' to drop them from "
                                  "train/valid, or cross_split='error' to refuse such data.")
        return idx
    notes.append(f"{what}; dropped from train/valid (cross_split='drop').")
    report["dropped_shared"] = int(rows.size)
    return {s: np.delete(rows_s, drop[s]) for s, rows_s in idx.items()}


# --------------------------------------------------------------------------- the main entry

def from_dataframe(
    df: pd.DataFrame,
    *,
    text_column: str | None = "text",
    labels_column: str | None = None,
    label_columns: list[str] | None = None,
    delimiter: str | None = None,
    allow_unlabeled: bool = False,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    random_state: int = 0,
    name: str | None = None,
    split_column: str = "split",
    min_rows: int = 10,
    source: dict | None = None,
    duplicates: str = "warn",
    cross_split: str = "warn",
) -> MultiLabelDataset:
    """Validate a DataFrame of labelled samples and turn it into a :class:`MultiLabelDataset`.

    See the module docstring for the accepted layouts. Label names are sorted alphabetically for
    a label column and kept in column order for indicator columns. Rows keep their file order
    within each split. ``meta["notes"]`` says how the file was read (label format, delimiter,
    ignored columns, how the splits were made).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per sample.
    text_column : str or None
        The column of texts; None for a table whose other numeric columns are the features.
    labels_column : str or None
        One column holding each row's labels (a list or a delimited string).
    label_columns : list of str or None
        One 0/1 column per label (instead of ``labels_column``).
    delimiter : str or None
        Separator of the labels in ``labels_column``; None infers it, ``""`` never splits.
    allow_unlabeled : bool
        Keep rows with no label as negative examples instead of refusing them.
    test_fraction, valid_fraction : float
        Shares of the rows (or of train, when carved) for the test and valid splits.
    random_state : int
        Seed of the iterative stratification.
    name : str or None
        The dataset's name (default ``"uploaded"``).
    split_column : str
        The optional column of ``train`` / ``valid`` / ``test`` values.
    min_rows : int
        The fewest rows accepted.
    source : dict or None
        Where the rows came from (file name, format, size), kept in ``meta["source"]``.
    duplicates : {"warn", "drop", "keep"}
        Rows repeating an earlier row exactly (same input, same labels): kept with a warning, dropped
        (the first copy stays), or kept silently.
    cross_split : {"warn", "drop", "error"}
        Train / valid rows whose input (text or feature row) also occurs in a later split: kept with
        a warning, dropped from train / valid (test is kept whole), or refused.

    Returns
    -------
    MultiLabelDataset
        The train / valid / test splits with ``meta`` describing how they were read;
        ``meta["hygiene"]`` holds the counts of duplicate and shared rows and the ``warnings`` (also
        the first ``meta["notes"]``, prefixed "Warning:").

    Raises
    ------
    ConfigError
        Arguments of the wrong kind or that contradict each other.
    DataValidationError
        Every problem found in the data, listed in one message (and in ``problems``).
    """
    _check_arguments(df, labels_column, label_columns, delimiter, (duplicates, cross_split))
    df = df.reset_index(drop=True)
    df.columns = [str(c) for c in df.columns]
    columns = list(df.columns)
    found = _names(columns, 20) or "(none)"
    notes: list[str] = []
    name = name or "uploaded"

    _check_structure(len(df), columns, found, text_column, min_rows)
    has_split = split_column in columns
    auto_hint = None  # said with any error when the label columns were guessed
    reserved = {c for c in (text_column, split_column if has_split else None) if c is not None}
    if label_columns is not None:
        label_columns = [str(c) for c in label_columns]
        _check_indicator_columns(label_columns, columns, reserved, found)
    elif labels_column is not None:
        _check_labels_column(labels_column, columns, reserved, found)
    else:
        labels_column, label_columns, auto_hint = _detect_label_columns(df, reserved, text_column, found, notes)

    problems: list[str] = []
    label_set = set(label_columns) if label_columns is not None else {labels_column}
    others = [c for c in columns if c not in reserved and c not in label_set]
    texts = _text_inputs(df, text_column, others, problems, notes) if text_column is not None else None
    X = _feature_inputs(df, others, found, problems) if text_column is None else None

    no_pos: list[str] = []
    if label_columns is not None:
        label_format, label_names = "indicator columns", list(label_columns)
        Y, no_pos = _indicator_labels(df, label_names, problems, auto_hint)
    else:
        assert labels_column is not None  # given, or found by _detect_label_columns
        label_format = "label column"
        Y, label_names = _column_labels(df, labels_column, delimiter, problems, notes)
    _check_label_matrix(Y, label_names, no_pos, allow_unlabeled, problems, notes)

    split_of = _read_split_column(df, split_column, problems) if has_split else None
    if problems:
        raise _validation_error(problems, auto_hint)
    hygiene: dict = {"warnings": []}
    keys = input_keys(texts, X)
    kept = _drop_repeated_rows(keys, Y, split_of, duplicates, notes, hygiene)
    if kept is not None:
        Y, keys = Y[kept], [keys[i] for i in kept]
        texts = [texts[i] for i in kept] if texts is not None else None
        X = X[kept] if X is not None else None
        split_of = split_of[kept] if split_of is not None else None

    if split_of is not None:
        idx, valid_carved = _splits_from_column(Y, split_of, (valid_fraction, test_fraction), random_state,
                                                notes)
        split_note = f"from the {split_column!r} column"
    else:
        tr, va, te = train_valid_test(Y, valid_fraction, test_fraction, random_state)
        idx, valid_carved = {"train": tr, "valid": va, "test": te}, True
        split_note = (f"iterative stratification of all rows, random_state={random_state}: "
                      f"train {1 - valid_fraction - test_fraction:.2f} / valid {valid_fraction:.2f} / test {test_fraction:.2f}")
        notes.append(f"Splits made by {split_note}.")
    idx = _separate_splits(idx, keys, cross_split, notes, hygiene)
    for s in ("train", "test"):
        if idx[s].size == 0:
            raise _invalid(f"The {s} split would be empty with {len(Y)} rows; add rows or change the fractions.")
    notes[:0] = [f"Warning: {w}" for w in hygiene["warnings"]]

    whole = Split(Y=Y, texts=texts, X=X)
    parts = {s: whole.subset(np.sort(i)) for s, i in idx.items()}
    absent = [label_names[j] for j in np.flatnonzero(parts["train"].Y.sum(axis=0) == 0)]
    if absent:
        notes.append(f"Label(s) with no positive in the train split: {_names(absent)}.")
    meta: dict = {
        "name": name,
        "description": f"User data{' from ' + repr(source['file']) if source else ''}: {len(Y)} rows, {len(label_names)} labels.",
        "source": source or {"dataframe": True},
        "licence": "user-supplied",
        "licence_short": "user-supplied",
        "citation": None,
        "format": "text" if texts is not None else "tabular",
        "text_column": text_column,
        "label_format": label_format,
        "labels_column": labels_column if label_columns is None else None,
        "label_columns": label_columns,
        "split_note": split_note,
        "splits": {s: len(p) for s, p in parts.items()},
        "label_names": list(label_names),
        "notes": notes,
        "hygiene": hygiene,
    }
    if X is not None:
        meta["feature_names"] = others
        meta["n_features"] = len(others)
    return MultiLabelDataset(name=name, kind=meta["format"], label_names=label_names, train=parts["train"],
                             valid=parts["valid"], test=parts["test"], meta=meta, valid_carved=valid_carved)
