"""A dataset's texts as one corpus: the sorted distinct texts of all its splits.

Sentence embeddings depend on the text alone, not on its labels or on which split it sits in, so
the embedding cache and the bundled features are keyed by the corpus (``text_hash``), not by the
dataset's content hash: every seed's validation carve of Reuters, or an upload holding the same
texts, finds the same embeddings. Each split's rows are read out of the corpus matrix by
``Corpus.rows[split]``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..errors import DataValidationError

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Corpus:
    """``texts``: the distinct texts, sorted; ``rows[split]``: each split row's index into ``texts``."""

    texts: tuple[str, ...]
    rows: dict[str, np.ndarray]
    text_hash: str

    def __len__(self) -> int:
        return len(self.texts)

    def split_rows(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Each split's rows of a corpus-ordered ``matrix`` (copies, C-contiguous)."""
        return {split: np.ascontiguousarray(matrix[idx]) for split, idx in self.rows.items()}


def text_hash(texts) -> str:
    """sha256 (hex) over the length-prefixed UTF-8 bytes of ``texts``, in the order given.

    The hash starts from a version tag (``b"mlal-corpus-v1"``); each text adds its byte length
    (8 bytes, little-endian) and then its bytes.

    Parameters
    ----------
    texts : iterable of str
        The texts, in order.

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256(b"mlal-corpus-v1")
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def corpus_of(ds) -> Corpus:
    """The corpus of ``ds`` (its ``train`` / ``valid`` / ``test`` texts).

    Parameters
    ----------
    ds : MultiLabelDataset
        A text dataset.

    Returns
    -------
    Corpus
        The sorted distinct texts, each split's row indices into them, and their :func:`text_hash`.

    Raises
    ------
    DataValidationError
        A split has no texts, or a text is not a string.
    """
    name = getattr(ds, "name", "dataset")
    per_split = {}
    for split in SPLITS:
        texts = getattr(ds, split).texts
        if texts is None:
            raise DataValidationError(f"Split {split!r} of {name!r} has no texts.")
        per_split[split] = np.asarray(list(texts), dtype=object)
    every = np.concatenate([per_split[s] for s in SPLITS]) if per_split else np.empty(0, dtype=object)
    bad = [i for i, t in enumerate(every) if not isinstance(t, str)]
    if bad:
        raise DataValidationError(f"{len(bad)} texts of {name!r} are not strings (first at position {bad[0]}).")
    distinct, inverse = np.unique(every, return_inverse=True) if len(every) else (every, np.empty(0, np.int64))
    inverse = inverse.astype(np.int64)
    rows, start = {}, 0
    for split in SPLITS:
        n = len(per_split[split])
        rows[split] = inverse[start:start + n]
        start += n
    texts = tuple(str(t) for t in distinct)
    return Corpus(texts=texts, rows=rows, text_hash=text_hash(texts))
