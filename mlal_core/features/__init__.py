"""Feature representations of a dataset's splits.

``featurize(ds, representation)`` turns a ``MultiLabelDataset`` into a ``Features`` object with one
matrix per split:

* ``"minilm"`` (text sets): frozen all-MiniLM-L6-v2 sentence embeddings, (n, 384) float32, mean
  pooled and L2-normalised: read from the cache, from the file shipped with a bundled dataset
  (checked on first use), or encoded chunk by chunk with resume (``minilm.py``); ``info["source"]``
  says which. A second call with the same texts and settings never loads the encoder. A derived
  dataset (``mlal_core.data.load("<base>-T<top_k>-IR<target>")``, whose texts are rows of its base)
  takes the base's rows, found the same way for the base's corpus: the encoder embeds each text on
  its own, so these are exactly the vectors the base set's runs use, and the bundled file of the base
  serves the derived set too (``info["sliced_from"]`` names the base).
* ``"tokens"`` (text sets): WordPiece token ids of the bundled MiniLM tokenizer for the deep text
  models (``models.TextCNNEnsemble`` ...), (n, max_length) int32, ``[CLS] ... [SEP]`` right-padded
  with 0 (see ``tokens.py``); not cached (tokenising is fast).
* ``"tfidf"`` (text sets): TF-IDF fitted on train only (unigrams, sublinear tf, max_features 20000,
  min_df 2), scipy CSR float32.
* ``"raw"`` (tabular sets): the dataset's X standardised with a StandardScaler fitted on train,
  dense float32.

Non-finite feature values raise ``DataValidationError`` naming the split; a representation that
does not fit the dataset's kind raises ``ConfigError`` naming the ones that do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError, DataValidationError, MLALError, unknown_name_error
from . import corpus, encoder, minilm, tokens
from .device import cpu_has_native_bf16, resolve_device, resolve_precision
from .tfidf import SPLITS, check_finite, fit_standardizer, fit_tfidf

__all__ = [
    "REPRESENTATIONS",
    "Features",
    "available_minilm",
    "base_rows",
    "cpu_has_native_bf16",
    "featurize",
    "representations_for",
    "resolve_device",
    "resolve_precision",
]

#: representation -> (dataset kind it applies to, short description)
REPRESENTATIONS: dict[str, tuple[str, str]] = {
    "minilm": ("text", "frozen all-MiniLM-L6-v2 sentence embeddings (384 dims, mean pooled, L2-normalised)"),
    "tfidf": ("text", "TF-IDF of unigrams fitted on the training split (sparse)"),
    "tokens": ("text", "WordPiece token ids for the deep text models (int32, [CLS] ... [SEP], 0-padded)"),
    "raw": ("tabular", "the dataset's own features, standardised on the training split"),
}


def representations_for(kind: str) -> list[str]:
    """Representation names that apply to a dataset of ``kind`` ("text" or "tabular").

    Parameters
    ----------
    kind : str
        The dataset kind, ``"text"`` or ``"tabular"``.

    Returns
    -------
    list of str
        The names in ``REPRESENTATIONS`` for that kind (empty for any other value).
    """
    return [name for name, (k, _) in REPRESENTATIONS.items() if k == kind]


@dataclass(kw_only=True)
class Features:
    """One feature matrix per split: np.float32 (n, d), scipy CSR float32 for ``"tfidf"``, or
    np.int32 (n, max_length) token ids for ``"tokens"``.

    ``transformer`` is the fitted TfidfVectorizer / StandardScaler (None for MiniLM); ``info`` holds
    provenance (dataset, dims, cache key and whether the cache was hit, seconds spent, ...).
    """

    name: str
    train: Any
    valid: Any
    test: Any
    transformer: Any = None
    info: dict = field(default_factory=dict)

    def split(self, name: str):
        """The feature matrix of split ``name`` (``"train"``, ``"valid"`` or ``"test"``)."""
        if name not in SPLITS:
            raise unknown_name_error("split", name, SPLITS)
        return getattr(self, name)

    @property
    def dim(self) -> int:
        """The number of feature columns."""
        return int(self.train.shape[1])

    def provenance(self) -> dict:
        """Where these features came from, as a session records it: the representation, ``source``
        (``"bundled"`` or ``"computed"``), and for MiniLM the precision of the numbers, the cache
        key, the corpus' text hash, a bundled file's first-use check and, for a derived dataset, the
        base whose rows were taken (``sliced_from``)."""
        keep = ("source", "precision", "encoder", "max_length", "text_hash", "cache_key", "bundled_file",
                "bundled_check", "sliced_from", "tokenizer", "vocabulary_size")
        out = {"representation": self.name, "source": "computed"}
        out.update({k: self.info[k] for k in keep if k in self.info})
        return out

    def dense(self, name: str) -> np.ndarray:
        """The split as a dense float32 array (densifies TF-IDF: mind the memory on large sets)."""
        X = self.split(name)
        return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)


Progress = Callable[[int, int, str], None]


def _check_kind(ds, representation: str) -> None:
    if representation not in REPRESENTATIONS:
        raise unknown_name_error("representation", str(representation), REPRESENTATIONS)
    needed = REPRESENTATIONS[representation][0]
    kind = getattr(ds, "kind", None)
    if kind != needed:
        fits = representations_for(kind) if kind in ("text", "tabular") else []
        hint = f" use {' or '.join(repr(f) for f in fits)} instead" if fits else ""
        raise ConfigError(
            f"Representation {representation!r} needs a {needed} dataset, but "
            f"{getattr(ds, 'name', 'this dataset')!r} is {kind!r};{hint}."
        )


def featurize(
    ds,
    representation: str = "minilm",
    *,
    max_length: int = 128,
    batch_size: int = 64,
    device=None,
    precision: str = "auto",
    exact_precision: bool = False,
    cache_dir=None,
    progress: Progress | None = None,
    max_features: int | None = 20000,
    min_df: float = 2,
    use_cache: bool = True,
) -> Features:
    """Feature matrices for ``ds.train`` / ``ds.valid`` / ``ds.test`` (see the module docstring).

    Parameters
    ----------
    ds : MultiLabelDataset
        The dataset; its ``kind`` must fit ``representation``.
    representation : str, default "minilm"
        ``"minilm"``, ``"tokens"``, ``"tfidf"`` (text sets) or ``"raw"`` (tabular sets); case-insensitive.
    max_length : int, default 128
        Tokens per text: the MiniLM encoder's truncation, or the width of the ``"tokens"`` id matrix.
    batch_size : int, default 64
        Texts per encoder batch (``"minilm"``).
    device : str or torch.device, optional
        Where MiniLM encodes; None picks CUDA when available (``resolve_device``).
    precision : str, default "auto"
        MiniLM precision, ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (``minilm.minilm_matrix``).
    exact_precision : bool, default False
        Use only MiniLM rows computed at exactly ``precision``; otherwise rows computed in fp32 serve any
        precision (a reopened session asks for exactly the precision it was started with).
    cache_dir : str or path-like, optional
        The MiniLM embedding cache; default ``paths.cache_dir()``.
    progress : callable, optional
        ``progress(done, total, message)`` during MiniLM encoding / tokenising, and one final call for
        ``"tfidf"`` and ``"raw"``.
    max_features : int or None, default 20000
        Largest TF-IDF vocabulary (``"tfidf"``).
    min_df : float, default 2
        TF-IDF minimum document frequency (``"tfidf"``; 1 when the training split is too small for it).
    use_cache : bool, default True
        Read and write the MiniLM embedding cache.

    Returns
    -------
    Features
        One matrix per split, the fitted TfidfVectorizer / StandardScaler (``transformer``) and ``info``
        (provenance, dimension, rows per split, seconds).

    Raises
    ------
    ConfigError
        ``representation`` is unknown or does not fit the dataset's kind.
    DataValidationError
        A split has no texts (text representations) or a non-finite feature value.
    """
    representation = str(representation).lower()
    _check_kind(ds, representation)
    name = getattr(ds, "name", "dataset")
    t0 = time.perf_counter()
    if representation == "raw":
        scaler, out = fit_standardizer(
            ds.train.X, {"valid": ds.valid.X, "test": ds.test.X}, dataset_name=name
        )
        feats = Features(name="raw", train=out["train"], valid=out["valid"], test=out["test"], transformer=scaler)
    elif representation == "tfidf":
        texts = _texts(ds)
        vec, out = fit_tfidf(
            texts["train"], {"valid": texts["valid"], "test": texts["test"]},
            max_features=max_features, min_df=min_df, dataset_name=name,
        )
        feats = Features(name="tfidf", train=out["train"], valid=out["valid"], test=out["test"], transformer=vec)
        feats.info["vocabulary_size"] = len(vec.vocabulary_)
        feats.info["min_df"] = vec.min_df
    elif representation == "tokens":
        feats = _tokens(ds, max_length, progress)
    else:
        feats = _minilm(ds, max_length, batch_size, device, precision, exact_precision, cache_dir, progress,
                        use_cache)
    for split in SPLITS:
        check_finite(feats.split(split), split, name)
    feats.info.update(
        dataset=name,
        representation=representation,
        dim=feats.dim,
        rows={s: int(feats.split(s).shape[0]) for s in SPLITS},
        seconds=time.perf_counter() - t0,
    )
    if progress is not None and representation not in ("minilm", "tokens"):
        n = sum(feats.info["rows"].values())
        progress(n, n, f"{representation} features ready")
    return feats


def _texts(ds) -> dict[str, list[str]]:
    out = {}
    for split in SPLITS:
        texts = getattr(ds, split).texts
        if texts is None:
            raise DataValidationError(
                f"Split {split!r} of {getattr(ds, 'name', 'dataset')!r} has no texts."
            )
        out[split] = list(texts)
    return out


def _tokens(ds, max_length, progress) -> Features:
    texts = _texts(ds)
    total = sum(len(t) for t in texts.values())
    arrays, cut, done = {}, 0, 0
    for split in SPLITS:
        arrays[split], truncated = tokens.tokenize_with_truncation(
            texts[split], max_length, progress=progress, progress_offset=done, progress_total=total,
            message=f"Tokenizing {split} of {getattr(ds, 'name', 'dataset')}",
        )
        cut += int(truncated.sum())
        done += len(texts[split])
    feats = Features(name="tokens", train=arrays["train"], valid=arrays["valid"], test=arrays["test"])
    feats.info.update(
        tokenizer=encoder.ENCODER_NAME, vocab_size=tokens.vocab_size(), pad_id=tokens.PAD_ID,
        max_length=int(max_length), truncated_fraction=cut / total if total else 0.0,
    )
    return feats


def available_minilm(ds, max_length: int = 128, *, cache_dir=None) -> Features | None:
    """The MiniLM features of ``ds`` when the cache or a bundled file has them, else None.

    The corpus is never encoded: a bundled file's first-use check re-encodes its handful of rows.

    Parameters
    ----------
    ds : MultiLabelDataset
        A text dataset.
    max_length : int, default 128
        Tokens per text the embeddings were computed with.
    cache_dir : str or path-like, optional
        The embedding cache; default ``paths.cache_dir()``.

    Returns
    -------
    Features or None
        The ``"minilm"`` features with their provenance, or None when neither source has them.

    Raises
    ------
    ConfigError
        ``ds`` is not a text dataset.
    """
    _check_kind(ds, "minilm")
    corp = corpus.corpus_of(ds)
    base = base_rows(ds, corp)
    if base is not None:
        base_name, base_corp, rows = base
        found = minilm.lookup(base_corp, max_length=max_length, cache_dir=cache_dir, name=base_name)
        if found is None:
            return None
        matrix, info = found
        return _minilm_features(corp, matrix[rows], _sliced_info(info, base_name, base_corp), max_length=max_length)
    found = minilm.lookup(corp, max_length=max_length, cache_dir=cache_dir, name=getattr(ds, "name", "dataset"))
    return None if found is None else _minilm_features(corp, *found, max_length=max_length)


def base_rows(ds, corp: corpus.Corpus | None = None) -> tuple[str, corpus.Corpus, np.ndarray] | None:
    """Where a derived dataset's texts sit in its base's corpus (``ds.meta["resampled"]["from"]``).

    Parameters
    ----------
    ds : MultiLabelDataset
        A text dataset; derived ones carry ``meta["resampled"]`` (``mlal_core.data.resample_to_mean_ir``).
    corp : Corpus, optional
        ``corpus.corpus_of(ds)``, when the caller has it.

    Returns
    -------
    tuple of (str, Corpus, np.ndarray) or None
        The base's name, its corpus, and for each text of ``ds``'s corpus its row in the base's corpus;
        None when ``ds`` is not derived, its base cannot be loaded by name, or a text of ``ds`` is not
        in the base (then the features are found or computed for ``ds``'s own corpus).
    """
    resampled = (getattr(ds, "meta", None) or {}).get("resampled")
    base_name = resampled.get("from") if isinstance(resampled, dict) else None
    if not isinstance(base_name, str):
        return None
    from .. import data  # same layer; data never imports features

    try:
        base = data.load(base_name)
    except MLALError:
        return None
    if base.kind != "text":
        return None
    corp = corp if corp is not None else corpus.corpus_of(ds)
    base_corp = corpus.corpus_of(base)
    base_texts = np.asarray(base_corp.texts, dtype=object)
    wanted = np.asarray(corp.texts, dtype=object)
    rows = np.searchsorted(base_texts, wanted) if len(base_texts) else np.zeros(len(wanted), np.int64)
    if len(wanted) and (rows.max() >= len(base_texts) or not (base_texts[rows] == wanted).all()):
        return None
    return base_name, base_corp, rows.astype(np.int64)


def _sliced_info(info: dict, base_name: str, base_corp: corpus.Corpus) -> dict:
    """The base matrix's provenance, with where the rows were taken from."""
    return dict(info, sliced_from={"dataset": base_name, "text_hash": base_corp.text_hash, "rows": len(base_corp)})


def _minilm_features(corp: corpus.Corpus, matrix: np.ndarray, info: dict, **more) -> Features:
    """``Features`` of each split's rows of the corpus matrix, with the matrix's provenance."""
    parts = corp.split_rows(matrix)
    feats = Features(name="minilm", train=parts["train"], valid=parts["valid"], test=parts["test"])
    feats.info.update(info, encoder=encoder.ENCODER_NAME, text_hash=corp.text_hash, distinct_texts=len(corp), **more)
    return feats


def _minilm(ds, max_length, batch_size, device, precision, exact_precision, cache_dir, progress,
            use_cache) -> Features:
    corp = corpus.corpus_of(ds)
    dev = resolve_device(device)
    base = base_rows(ds, corp)
    # a derived dataset: the base corpus' matrix (cache, bundled file or encoded), then its rows
    source_corp, name = (base[1], base[0]) if base is not None else (corp, getattr(ds, "name", "dataset"))
    matrix, source = minilm.minilm_matrix(
        source_corp, max_length=max_length, batch_size=batch_size, device=dev, precision=precision,
        exact_precision=exact_precision, cache_dir=cache_dir, progress=progress, use_cache=use_cache,
        name=name,
    )
    if base is not None:
        matrix, source = matrix[base[2]], _sliced_info(source, base[0], base[1])
    return _minilm_features(corp, matrix, source, max_length=max_length, device=str(dev))
