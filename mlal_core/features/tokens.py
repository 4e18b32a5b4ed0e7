"""Token-id matrices for the deep text models (representation ``"tokens"``).

``tokenize(texts, max_length)`` gives an ``(n, max_length)`` int32 matrix of WordPiece ids from the
bundled MiniLM tokenizer (uncased, 30522 ids, shared by every encoder in ``models.pretrained``):
``[CLS] t1 ... tk [SEP]`` then the pad id 0 up to ``max_length``. Texts longer than
``max_length - 2`` word pieces are cut from the right end and still end with ``[SEP]`` (as the
tokenizer's own truncation, and BEAL / CRAB do). The fast tokenizer runs over chunks of texts;
there is no Python loop per text.

Truncation is detected without a second tokenisation: the texts are tokenised to ``max_length + 1``;
a row that fills that width was longer than ``max_length``, and cutting it to ``max_length`` columns
and writing ``[SEP]`` into the last one gives exactly the tokenizer's truncation at ``max_length``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ConfigError
from . import encoder

PAD_ID = 0
#: the position-embedding limit of the bundled BERT encoders
MAX_LENGTH_LIMIT = 512
_CHUNK = 2048

Progress = Callable[[int, int, str], None]


def vocab_size() -> int:
    """Number of token ids of the bundled tokenizer (ids are in ``[0, vocab_size())``)."""
    return len(encoder.load_tokenizer())


def sep_id() -> int:
    """The ``[SEP]`` id (102) of the bundled tokenizer."""
    return int(encoder.load_tokenizer().sep_token_id)


def check_max_length(max_length: int) -> int:
    """``max_length`` as an int, or ConfigError when it is outside ``[2, 512]``.

    Parameters
    ----------
    max_length : int
        Token ids per row, ``[CLS]`` and ``[SEP]`` included.

    Returns
    -------
    int
        ``max_length``.

    Raises
    ------
    ConfigError
        ``max_length`` is not an integer (a bool included) or is outside ``[2, 512]``.
    """
    if (
        isinstance(max_length, bool)
        or not isinstance(max_length, (int, np.integer))
        or not (2 <= int(max_length) <= MAX_LENGTH_LIMIT)
    ):
        raise ConfigError(
            f"max_length must be an integer in [2, {MAX_LENGTH_LIMIT}] ([CLS] + [SEP] + the text; "
            f"{MAX_LENGTH_LIMIT} is the encoders' position limit), got {max_length!r}."
        )
    return int(max_length)


def tokenize_with_truncation(
    texts: Sequence[str],
    max_length: int = 256,
    *,
    progress: Progress | None = None,
    progress_offset: int = 0,
    progress_total: int | None = None,
    message: str = "Tokenizing",
) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, truncated)``: the ``(n, max_length)`` int32 id matrix and an ``(n,)`` bool mask of the
    rows that were cut. ``progress(done, total, message)`` after every chunk of texts.

    Parameters
    ----------
    texts : sequence of str
        The texts.
    max_length : int, default 256
        Columns of the id matrix, in ``[2, 512]``.
    progress : callable, optional
        Called as ``progress(progress_offset + done, total, message)`` after every chunk.
    progress_offset : int, default 0
        Added to ``done`` (several calls reported as one task).
    progress_total : int, optional
        The ``total`` reported; default ``len(texts)``.
    message : str, default "Tokenizing"
        The progress message.

    Returns
    -------
    ids : np.ndarray, shape (n, max_length), int32
        ``[CLS] ... [SEP]`` then the pad id 0.
    truncated : np.ndarray, shape (n,), bool
        True for the rows longer than ``max_length`` ids.

    Raises
    ------
    ConfigError
        A bad ``max_length`` (:func:`check_max_length`), or a text that is not a string.
    """
    max_length = check_max_length(max_length)
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ConfigError(f"{len(bad)} texts are not strings (first at position {bad[0]}).")
    n = len(texts)
    total = progress_total if progress_total is not None else n
    ids = np.full((n, max_length), PAD_ID, dtype=np.int32)
    truncated = np.zeros(n, dtype=bool)
    tok = encoder.load_tokenizer()
    for start in range(0, n, _CHUNK):
        enc = tok(
            texts[start : start + _CHUNK],
            truncation=True,
            max_length=max_length + 1,
            padding="max_length",
            return_attention_mask=False,
            return_token_type_ids=False,
            return_tensors="np",
        )["input_ids"]
        cut = enc[:, max_length] != PAD_ID
        block = enc[:, :max_length].astype(np.int32)
        block[cut, max_length - 1] = tok.sep_token_id
        ids[start : start + len(block)] = block
        truncated[start : start + len(block)] = cut
        if progress is not None:
            progress(progress_offset + start + len(block), total, message)
    return ids, truncated


def tokenize(texts: Sequence[str], max_length: int = 256) -> np.ndarray:
    """``(len(texts), max_length)`` int32 token ids, ``[CLS] ... [SEP]`` then pad 0 (module docstring).

    Parameters
    ----------
    texts : sequence of str
        The texts.
    max_length : int, default 256
        Columns of the id matrix, in ``[2, 512]``.

    Returns
    -------
    np.ndarray, shape (len(texts), max_length), int32
        The id matrix.

    Raises
    ------
    ConfigError
        As :func:`tokenize_with_truncation`.
    """
    return tokenize_with_truncation(texts, max_length)[0]


def truncate(ids: np.ndarray, max_length: int) -> np.ndarray:
    """Cut a token matrix to ``max_length`` columns; rows that lose tokens end with ``[SEP]`` again.

    Equal to tokenising the texts at ``max_length`` directly; a matrix at most ``max_length`` wide is
    returned as is.

    Parameters
    ----------
    ids : np.ndarray, shape (n, L)
        A token matrix of this module (pad id 0).
    max_length : int
        The columns to keep (not validated here).

    Returns
    -------
    np.ndarray, shape (n, min(L, max_length))
        A new C-contiguous matrix (``ids`` is never written), or ``ids`` itself when it is not
        wider than ``max_length``.
    """
    if ids.shape[1] <= max_length:
        return ids
    out = ids[:, :max_length].copy()  # a copy always: a one-row slice is a contiguous view of ids
    out[ids[:, max_length] != PAD_ID, max_length - 1] = sep_id()
    return out
