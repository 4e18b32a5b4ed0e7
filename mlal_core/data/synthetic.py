"""Synthetic multi-label data: small tabular sets (scikit-learn's ``make_multilabel_classification``,
:func:`make_synthetic`) and extreme multi-label sets with a power law, a hierarchy and sparse labels
(:func:`make_xmtc`, loadable by name: ``xmtc-synthetic-N<samples>-K<labels>``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mlal_core.data.dataset import MultiLabelDataset, Split
from mlal_core.data.splits import train_valid_test
from mlal_core.errors import ConfigError


def make_synthetic(
    n_samples: int = 1000,
    n_features: int = 20,
    n_labels: int | None = None,
    avg_labels: float = 2,
    *,
    n_classes: int | None = None,
    length: int = 50,
    allow_unlabeled: bool = False,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    random_state: int = 0,
    name: str | None = None,
) -> MultiLabelDataset:
    """A tabular multi-label dataset with seeded, iteratively-stratified train / valid / test splits.

    Naming follows the workbench, not scikit-learn: ``n_labels`` is the number of labels K
    (default 5; scikit-learn's ``n_classes``, accepted here as an alias) and ``avg_labels`` the mean number of
    labels per sample (scikit-learn's ``n_labels``). ``X`` is float32 (word counts, unscaled); labels are
    named ``label_0 .. label_{K-1}``. Same arguments, same dataset.

    Parameters
    ----------
    n_samples : int, default 1000
        Rows, at least 3.
    n_features : int, default 20
        Feature columns, at least 1.
    n_labels : int, optional
        The number of labels K (default 5).
    avg_labels : float, default 2
        Mean number of labels per sample, > 0.
    n_classes : int, optional
        Alias of ``n_labels``; must agree with it when both are given.
    length : int, default 50
        Mean document length of the generator's bag-of-words model.
    allow_unlabeled : bool, default False
        Let the generator produce rows without a label.
    valid_fraction, test_fraction : float
        Shares of all samples for the valid and test splits (:func:`splits.train_valid_test`).
    random_state : int, default 0
        Seed of the generator and of the splits.
    name : str, optional
        The dataset's name; default ``synthetic-n<n_samples>-d<n_features>-k<K>-s<random_state>``.

    Returns
    -------
    MultiLabelDataset
        Kind ``"tabular"``, with ``valid_carved=True`` and the generator's settings in ``meta``.

    Raises
    ------
    ConfigError
        Conflicting ``n_classes`` / ``n_labels``, sizes below the minimums, ``avg_labels`` <= 0, or
        fractions :func:`splits.train_valid_test` refuses.
    """
    if n_classes is not None and n_labels is not None and n_classes != n_labels:
        raise ConfigError(f"n_classes={n_classes} and n_labels={n_labels} disagree; give one of them.")
    n_labels = n_labels if n_labels is not None else (n_classes if n_classes is not None else 5)
    if n_samples < 3 or n_features < 1 or n_labels < 1:
        raise ConfigError(f"Need n_samples >= 3, n_features >= 1, n_labels >= 1; got {n_samples}, {n_features}, {n_labels}.")
    if avg_labels <= 0:
        raise ConfigError(f"avg_labels must be > 0; got {avg_labels}.")
    from sklearn.datasets import make_multilabel_classification  # heavy import, only when used

    X, Y = make_multilabel_classification(
        n_samples=n_samples, n_features=n_features, n_classes=n_labels, n_labels=avg_labels, length=length,
        allow_unlabeled=allow_unlabeled, sparse=False, return_indicator="dense", random_state=random_state,
    )
    tr, va, te = train_valid_test(Y, valid_fraction, test_fraction, random_state)
    whole = Split(Y=Y.astype(np.uint8), X=X.astype(np.float32))
    params = {"n_samples": n_samples, "n_features": n_features, "n_labels": n_labels, "avg_labels": avg_labels,
              "length": length, "allow_unlabeled": allow_unlabeled, "random_state": random_state}
    name = name or f"synthetic-n{n_samples}-d{n_features}-k{n_labels}-s{random_state}"
    label_names = [f"label_{j}" for j in range(n_labels)]
    meta = {
        "name": name,
        "description": (f"Synthetic data from sklearn.datasets.make_multilabel_classification: {n_samples} samples, "
                        f"{n_features} features, {n_labels} labels, about {avg_labels} labels per sample."),
        "source": {"generator": "sklearn.datasets.make_multilabel_classification", "params": params},
        "licence": "synthetic (generated locally; no licence restrictions)",
        "licence_short": "synthetic",
        "citation": None,
        "format": "tabular",
        "split_note": (f"iterative stratification of all samples, random_state={random_state}: train "
                       f"{1 - valid_fraction - test_fraction:.2f} / valid {valid_fraction:.2f} / test {test_fraction:.2f}"),
        "n_features": n_features,
        "feature_names": [f"f{i}" for i in range(n_features)],
        "label_names": list(label_names),
    }
    return MultiLabelDataset(name=name, kind="tabular", label_names=label_names,
                             train=whole.subset(tr), valid=whole.subset(va), test=whole.subset(te),
                             meta=meta, valid_carved=True)


# ====================================================================== extreme multi-label (XMTC) data
#: the prefix of every generated XMTC dataset name
XMTC_PREFIX = "xmtc-synthetic"

#: ``xmtc-synthetic-N<samples>-K<labels>[-text][-S<seed>]``
XMTC_NAME_PATTERN = re.compile(r"^xmtc-synthetic-N(?P<n>[0-9]+)-K(?P<k>[0-9]+)(?P<text>-text)?(?:-S(?P<seed>[0-9]+))?$")

#: the syntax in words, for error messages and help texts
XMTC_NAME_SYNTAX = ("xmtc-synthetic-N<samples>-K<labels>[-text][-S<seed>], e.g. 'xmtc-synthetic-N100000-K1000' "
                    "(100,000 samples with 384-d features, 1,000 labels, seed 0) or "
                    "'xmtc-synthetic-N20000-K500-text-S3' (synthetic texts, seed 3)")

#: the generated sets the app and the CLI offer beside the bundled ones
XMTC_PRESETS: tuple[str, ...] = ("xmtc-synthetic-N20000-K1000",)

#: bounds of a named set (a call of :func:`make_xmtc` checks only what the algorithm needs)
XMTC_MAX_SAMPLES = 1_000_000
XMTC_MAX_LABELS = 50_000
#: the test split of a named set (its valid split is ``load``'s ``valid_fraction``)
XMTC_TEST_FRACTION = 0.1


@dataclass(frozen=True)
class XMTCName:
    """A parsed generated-dataset name: samples, labels, texts or features, and the generator's seed."""

    n_samples: int
    n_labels: int
    text: bool = False
    random_state: int = 0

    @property
    def name(self) -> str:
        """The canonical name (:func:`xmtc_name`)."""
        return xmtc_name(self.n_samples, self.n_labels, text=self.text, random_state=self.random_state)


def xmtc_name(n_samples: int, n_labels: int, *, text: bool = False, random_state: int = 0) -> str:
    """The canonical name of a generated XMTC dataset (seed 0 is left out).

    Parameters
    ----------
    n_samples : int
        Rows over all splits.
    n_labels : int
        K.
    text : bool, default False
        Synthetic texts instead of feature vectors.
    random_state : int, default 0
        The generator's seed.

    Returns
    -------
    str
        ``xmtc-synthetic-N<n_samples>-K<n_labels>[-text][-S<seed>]``.
    """
    return (f"{XMTC_PREFIX}-N{int(n_samples)}-K{int(n_labels)}" + ("-text" if text else "")
            + (f"-S{int(random_state)}" if random_state else ""))


def parse_xmtc_name(name: str) -> XMTCName | None:
    """Parse a generated dataset name; None when ``name`` does not start with ``xmtc-synthetic``.

    Parameters
    ----------
    name : str
        A dataset name.

    Returns
    -------
    XMTCName or None
        The settings; None for a name of another family.

    Raises
    ------
    ConfigError
        The name starts with ``xmtc-synthetic`` but does not follow :data:`XMTC_NAME_SYNTAX`, is not
        spelled canonically (leading zeros, ``-S0``: the message gives the canonical name), or asks for
        fewer than 20 or more than 1,000,000 samples, or fewer than 2 or more than 50,000 labels.
    """
    if not isinstance(name, str) or not name.startswith(XMTC_PREFIX):
        return None
    m = XMTC_NAME_PATTERN.match(name)
    if m is None:
        raise ConfigError(f"Dataset {name!r} does not follow the generated-dataset syntax {XMTC_NAME_SYNTAX}.")
    parsed = XMTCName(int(m["n"]), int(m["k"]), m["text"] is not None, int(m["seed"] or 0))
    if not 20 <= parsed.n_samples <= XMTC_MAX_SAMPLES:
        raise ConfigError(f"Dataset {name!r}: N must be between 20 and {XMTC_MAX_SAMPLES:,} samples; "
                          f"got {parsed.n_samples:,}.")
    if not 2 <= parsed.n_labels <= XMTC_MAX_LABELS:
        raise ConfigError(f"Dataset {name!r}: K must be between 2 and {XMTC_MAX_LABELS:,} labels; got {parsed.n_labels:,}.")
    if parsed.name != name:
        raise ConfigError(f"Dataset {name!r} is not spelled canonically; write {parsed.name!r}.")
    return parsed


def label_tree(n_labels: int, branching: int, n_roots: int | None = None) -> np.ndarray:
    """The parent of each label in a forest numbered breadth-first (``-1`` for a root).

    Labels ``0 .. R-1`` are the roots; label ``j >= R`` is the child of ``(j - R) // branching``, so every
    label has ``branching`` children until the labels run out and a parent's number is always below its
    children's (frequencies that fall with the number keep a parent at least as frequent as its children).

    Parameters
    ----------
    n_labels : int
        K, at least 1.
    branching : int
        Children per inner label, at least 1.
    n_roots : int, optional
        R; default ``ceil(K / (1 + branching + branching**2))``, trees of depth about 3.

    Returns
    -------
    numpy.ndarray of int64, shape (K,)
        ``parent[j]``, ``-1`` for the roots.

    Raises
    ------
    ConfigError
        ``n_labels``, ``branching`` or ``n_roots`` below 1, or ``n_roots`` above ``n_labels``.
    """
    if n_labels < 1 or branching < 1:
        raise ConfigError(f"label_tree needs n_labels >= 1 and branching >= 1; got {n_labels}, {branching}.")
    if n_roots is None:
        n_roots = max(1, math.ceil(n_labels / (1 + branching + branching ** 2)))
    if not 1 <= n_roots <= n_labels:
        raise ConfigError(f"n_roots must be between 1 and n_labels={n_labels}; got {n_roots}.")
    parent = np.full(n_labels, -1, dtype=np.int64)
    parent[n_roots:] = (np.arange(n_roots, n_labels) - n_roots) // branching
    return parent


def _tree_names(parent: np.ndarray) -> list[str]:
    """``c3`` for root 3, ``c3.0`` for its first child, ``c3.0.5`` ...: a label's name is its path."""
    names: list[str] = []
    ordinal = np.zeros(parent.size, dtype=np.int64)
    for j, q in enumerate(parent):
        if q < 0:
            names.append(f"c{j}")
        else:
            names.append(f"{names[q]}.{ordinal[q]}")
            ordinal[q] += 1
    return names


#: the default labels per sample (EURLEX57K: 5.05), capped where the power law cannot reach it
XMTC_AVG_LABELS = 5.0
#: the cap: the most frequent label in at most this share of the samples
XMTC_MAX_TOP_RATE = 0.8


def zipf_frequencies(n_labels: int, exponent: float, avg_labels: float | None = None) -> np.ndarray:
    """Per-label positive rates ``p_j = p_0 (j + 1)^(-exponent)`` summing to ``avg_labels``.

    Parameters
    ----------
    n_labels : int
        K.
    exponent : float
        The power law's exponent a >= 0 (0: every label equally frequent).
    avg_labels : float, optional
        The expected labels per sample, ``sum_j p_j`` (> 0). Default: :data:`XMTC_AVG_LABELS` (5), or
        less where that would put the top label above :data:`XMTC_MAX_TOP_RATE` (0.8) of the samples,
        ``0.8 sum_j (j + 1)^(-a)`` (small K: 3.6 at K = 50, a = 1).

    Returns
    -------
    numpy.ndarray of float64, shape (K,)
        The rates, non-increasing, each in (0, 1].

    Raises
    ------
    ConfigError
        ``exponent`` < 0, ``avg_labels`` <= 0, or ``avg_labels`` so high that the most frequent label
        would need a rate above 1 (the message gives the largest possible value).
    """
    if not exponent >= 0:
        raise ConfigError(f"zipf_exponent must be >= 0; got {exponent}.")
    shape = np.arange(1, n_labels + 1, dtype=np.float64) ** -float(exponent)
    if avg_labels is None:
        avg_labels = min(XMTC_AVG_LABELS, XMTC_MAX_TOP_RATE * float(shape.sum()))
    if not avg_labels > 0:
        raise ConfigError(f"avg_labels must be > 0; got {avg_labels}.")
    top = avg_labels / shape.sum()
    if top > 1.0:
        raise ConfigError(f"avg_labels={avg_labels:g} is out of reach with {n_labels} labels and zipf_exponent="
                          f"{exponent:g}: the most frequent label would need more than every sample. Use "
                          f"avg_labels <= {shape.sum():.3f} or a smaller exponent.")
    return top * shape


def _sample_labels(parent: np.ndarray, p: np.ndarray, n: int, rng: np.random.Generator,
                   allow_unlabeled: bool) -> sp.csr_matrix:
    """Top-down: a root is positive with probability ``p_r``; a child of a positive parent with
    ``p_c / p_parent`` (never without its parent), so ``P(label c) = p_c`` exactly."""
    K = parent.size
    rows_of: list[np.ndarray] = []
    for j in range(K):
        q = parent[j]
        if q < 0:
            rows_of.append(np.flatnonzero(rng.random(n) < p[j]))
        else:
            above = rows_of[q]
            rows_of.append(above[rng.random(above.size) < p[j] / p[q]])
    rows = np.concatenate(rows_of) if K else np.empty(0, dtype=np.int64)
    cols = np.repeat(np.arange(K, dtype=np.int64), [r.size for r in rows_of])
    if not allow_unlabeled:  # a row with no label gets one root, drawn by the roots' rates
        has = np.zeros(n, dtype=bool)
        has[rows] = True
        empty = np.flatnonzero(~has)
        roots = np.flatnonzero(parent < 0)
        if empty.size:
            rows = np.concatenate([rows, empty])
            cols = np.concatenate([cols, rng.choice(roots, size=empty.size, p=p[roots] / p[roots].sum())])
    Y = sp.csr_matrix((np.ones(rows.size, dtype=np.uint8), (rows, cols)), shape=(n, K))
    Y.sum_duplicates()
    return Y


def _label_features(Y: sp.csr_matrix, parent: np.ndarray, n_features: int, noise: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Rows = mean of the unit prototypes of their labels + Gaussian noise, L2-normalised, float32.

    A child's prototype is its parent's plus an equal-sized random direction (normalised), so labels of
    one subtree lie close together in feature space, as topics of one branch of a thesaurus do."""
    K = parent.size
    W = rng.standard_normal((K, n_features), dtype=np.float32)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    for j in np.flatnonzero(parent >= 0):  # breadth-first: the parent's prototype is final already
        v = W[parent[j]] + W[j]
        W[j] = v / np.linalg.norm(v)
    counts = np.maximum(np.diff(Y.indptr), 1).astype(np.float32)
    X = np.asarray(Y.astype(np.float32) @ W, dtype=np.float32) / np.sqrt(counts)[:, None]
    X += rng.standard_normal(X.shape, dtype=np.float32) * np.float32(noise / math.sqrt(n_features))
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), np.float32(1e-12))
    return X


def _label_texts(Y: sp.csr_matrix, *, words_per_label: int, tokens_per_label: int, background_tokens: int,
                 rng: np.random.Generator) -> list[str]:
    """Bag-of-tokens texts: ``tokens_per_label`` draws from each positive label's own words (``l17w2``),
    then ``background_tokens`` draws from 2,000 Zipf-distributed filler words (``bg40``), shuffled."""
    K = Y.shape[1]
    vocab = np.array([f"l{j}w{i}" for j in range(K) for i in range(words_per_label)]
                     + [f"bg{i}" for i in range(2000)], dtype=object)
    bg_p = 1.0 / np.arange(1, 2001)
    bg_p /= bg_p.sum()
    n = Y.shape[0]
    per_row = np.diff(Y.indptr) * tokens_per_label + background_tokens
    label_tok = (np.repeat(Y.indices.astype(np.int64), tokens_per_label) * words_per_label
                 + rng.integers(0, words_per_label, size=Y.nnz * tokens_per_label))
    bg_tok = K * words_per_label + rng.choice(2000, size=n * background_tokens, p=bg_p)
    row_of_label_tok = np.repeat(np.repeat(np.arange(n), np.diff(Y.indptr)), tokens_per_label)
    row_of = np.concatenate([row_of_label_tok, np.repeat(np.arange(n), background_tokens)])
    tokens = np.concatenate([label_tok, bg_tok])
    order = np.lexsort((rng.random(tokens.size), row_of))  # by row, shuffled within the row
    words = vocab[tokens[order]]
    bounds = np.concatenate([[0], np.cumsum(per_row)])
    return [" ".join(words[bounds[i]:bounds[i + 1]]) for i in range(n)]


def _random_split(n: int, valid_fraction: float, test_fraction: float, rng: np.random.Generator) -> list[np.ndarray]:
    if not (0 <= valid_fraction < 1 and 0 < test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise ConfigError(f"Need 0 <= valid_fraction, 0 < test_fraction and valid_fraction + test_fraction < 1; "
                          f"got {valid_fraction}, {test_fraction}.")
    order = rng.permutation(n)
    n_valid, n_test = round(n * valid_fraction), max(1, round(n * test_fraction))
    if n - n_valid - n_test < 1:
        raise ConfigError(f"{n} samples leave no training row with valid_fraction={valid_fraction}, "
                          f"test_fraction={test_fraction}.")
    test, valid, train = order[:n_test], order[n_test:n_test + n_valid], order[n_test + n_valid:]
    return [np.sort(train), np.sort(valid), np.sort(test)]


def make_xmtc(
    n_samples: int = 10_000,
    n_labels: int = 1_000,
    *,
    zipf_exponent: float = 1.0,
    avg_labels: float | None = None,
    branching: int = 8,
    n_roots: int | None = None,
    n_features: int = 384,
    noise: float = 1.0,
    text: bool = False,
    words_per_label: int = 4,
    tokens_per_label: int = 6,
    background_tokens: int = 20,
    allow_unlabeled: bool = False,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    random_state: int = 0,
    name: str | None = None,
) -> MultiLabelDataset:
    """Extreme multi-label data: power-law label frequencies, a label hierarchy, correlated labels.

    The algorithm (all of it seeded by ``random_state``; same arguments, same dataset):

    1. **Hierarchy.** A forest over the K labels numbered breadth-first (:func:`label_tree`):
       ``n_roots`` roots, ``branching`` children per inner label; names are paths (``c3.0.5`` is the
       6th child of the 1st child of root 3); ``meta["label_parents"]`` holds each parent (-1 for a root).
    2. **Power-law frequencies.** Label j's target rate is ``p_j = p_0 (j + 1)^(-zipf_exponent)``,
       scaled so that ``sum_j p_j = avg_labels`` (:func:`zipf_frequencies`): rank = number + 1, and a
       parent (lower number) is never rarer than its children.
    3. **Labels, top-down.** A root is positive with probability ``p_r``, independently per sample; a
       child is positive with probability ``p_c / p_parent`` **only where its parent is**, so every
       child positive implies its parent (and its ancestors), ``P(c) = p_c`` exactly, and labels of one
       subtree co-occur far more than independent labels would (siblings share their parent). A sample
       left without any label gets one root drawn with probability proportional to the roots' rates
       (unless ``allow_unlabeled``): the roots' counts rise by that share, the rest is unchanged.
    4. **Features** (``text=False``; kind ``"tabular"``): ``n_features`` float32 columns, the mean of
       the sample's label prototypes (unit vectors; a child's is its parent's plus a random direction,
       normalised) plus isotropic Gaussian noise of norm about ``noise``, then L2-normalised like
       sentence embeddings, so models can learn the labels from them.
    5. **Texts** (``text=True``; kind ``"text"``, no ``X``): per positive label ``tokens_per_label``
       tokens drawn from the label's ``words_per_label`` own words (``l17w2``), plus
       ``background_tokens`` filler words (``bg40``, Zipf over 2,000), in random order.
    6. **Splits.** A seeded random permutation: ``test_fraction`` / ``valid_fraction`` of the rows, the
       rest train (iterative stratification is too slow at K in the thousands and pointless for i.i.d.
       rows).

    ``Y`` is stored sparse for K > 500 (:data:`~mlal_core.data.dataset.SPARSE_LABELS_ABOVE_K`).
    ``data.describe`` reports the statistics like the bundled sets'. By name:
    ``data.load("xmtc-synthetic-N100000-K1000")`` (:data:`XMTC_NAME_SYNTAX`; defaults for the rest).

    Parameters
    ----------
    n_samples : int, default 10000
        Rows over all splits, at least 3.
    n_labels : int, default 1000
        K, at least 2.
    zipf_exponent : float, default 1.0
        Exponent a of the label-frequency power law (about 1 in XMTC corpora).
    avg_labels : float, optional
        Expected labels per sample before the empty-row rule; default 5 (EURLEX57K: 5.05), lowered
        where the power law cannot reach it with the top label in at most 80% of the samples
        (:func:`zipf_frequencies`).
    branching : int, default 8
        Children per inner label.
    n_roots : int, optional
        Number of top-level labels; default ``ceil(K / (1 + branching + branching**2))``.
    n_features : int, default 384
        Feature columns (MiniLM's width), at least 1.
    noise : float, default 1.0
        Norm of the feature noise relative to the label signal (about 1 each).
    text : bool, default False
        Make texts (kind ``"text"``) instead of features.
    words_per_label, tokens_per_label, background_tokens : int
        The text model (used only with ``text=True``).
    allow_unlabeled : bool, default False
        Keep rows the sampling leaves without a label.
    valid_fraction, test_fraction : float, default 0.1, 0.1
        Shares of the rows for the valid and test splits.
    random_state : int, default 0
        The seed.
    name : str, optional
        The dataset's name; default :func:`xmtc_name` of the settings.

    Returns
    -------
    MultiLabelDataset
        With ``meta["label_parents"]``, ``meta["hierarchy"]``, ``meta["target_label_rates"]`` and the
        settings in ``meta["source"]["params"]``.

    Raises
    ------
    ConfigError
        Sizes below the minimums, an unreachable ``avg_labels`` (:func:`zipf_frequencies`), bad tree or
        split settings, or a negative ``noise``.
    """
    if n_samples < 3 or n_labels < 2 or n_features < 1:
        raise ConfigError(f"make_xmtc needs n_samples >= 3, n_labels >= 2 and n_features >= 1; "
                          f"got {n_samples}, {n_labels}, {n_features}.")
    if noise < 0 or min(words_per_label, tokens_per_label) < 1 or background_tokens < 0:
        raise ConfigError("make_xmtc needs noise >= 0, words_per_label >= 1, tokens_per_label >= 1 and "
                          "background_tokens >= 0.")
    rng = np.random.default_rng(random_state)
    parent = label_tree(n_labels, branching, n_roots)
    p = zipf_frequencies(n_labels, zipf_exponent, avg_labels)
    avg_labels = float(p.sum())
    parts = _random_split(n_samples, valid_fraction, test_fraction, np.random.default_rng([random_state, 1]))
    Y = _sample_labels(parent, p, n_samples, rng, allow_unlabeled)
    if text:
        texts = _label_texts(Y, words_per_label=words_per_label, tokens_per_label=tokens_per_label,
                             background_tokens=background_tokens, rng=rng)
        whole = Split(Y=Y, texts=texts)
    else:
        whole = Split(Y=Y, X=_label_features(Y, parent, n_features, noise, rng))
    params = {"n_samples": n_samples, "n_labels": n_labels, "zipf_exponent": zipf_exponent,
              "avg_labels": avg_labels, "branching": branching, "n_roots": int((parent < 0).sum()),
              "n_features": None if text else n_features, "noise": None if text else noise, "text": text,
              "allow_unlabeled": allow_unlabeled, "valid_fraction": valid_fraction,
              "test_fraction": test_fraction, "random_state": random_state}
    if text:
        params.update(words_per_label=words_per_label, tokens_per_label=tokens_per_label,
                      background_tokens=background_tokens)
    name = name or xmtc_name(n_samples, n_labels, text=text, random_state=random_state)
    label_names = _tree_names(parent)
    depth = _depths(parent)
    meta = {
        "name": name,
        "description": (f"Synthetic extreme multi-label data (mlal_core.data.make_xmtc): {n_samples:,} samples, "
                        f"{n_labels:,} labels in a forest of {params['n_roots']} trees (branching {branching}, "
                        f"depth {int(depth.max()) + 1}), Zipf label rates with exponent {zipf_exponent:g}, about "
                        f"{avg_labels:g} labels per sample; "
                        + ("bag-of-token texts." if text else f"{n_features}-d float32 features.")),
        "source": {"generator": "mlal_core.data.synthetic.make_xmtc", "params": params},
        "licence": "synthetic (generated locally; no licence restrictions)",
        "licence_short": "synthetic",
        "citation": None,
        "format": "text" if text else "tabular",
        "split_note": (f"seeded random permutation: train {1 - valid_fraction - test_fraction:.2f} / valid "
                       f"{valid_fraction:.2f} / test {test_fraction:.2f}"),
        "label_names": list(label_names),
        "label_parents": parent.tolist(),
        "hierarchy": {"n_roots": params["n_roots"], "branching": branching, "depth": int(depth.max()) + 1},
        "target_label_rates": p.tolist(),
    }
    if not text:
        meta.update(n_features=n_features, feature_names=[f"f{i}" for i in range(n_features)])
    tr, va, te = parts
    return MultiLabelDataset(name=name, kind=meta["format"], label_names=label_names, train=whole.subset(tr),
                             valid=whole.subset(va), test=whole.subset(te), meta=meta, valid_carved=True)


def _depths(parent: np.ndarray) -> np.ndarray:
    depth = np.zeros(parent.size, dtype=np.int64)
    for j in np.flatnonzero(parent >= 0):
        depth[j] = depth[parent[j]] + 1
    return depth
