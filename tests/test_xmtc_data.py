"""Extreme multi-label data: sparse label storage (K > 500), EURLEX57K, and the XMTC generator."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlal_core import correlation, data, stats
from mlal_core.data import MultiLabelDataset, Split, dataset
from mlal_core.data.bundled import labels_to_matrix
from mlal_core.data.hygiene import repeated_rows
from mlal_core.errors import ConfigError, DataValidationError

K_SPARSE = data.SPARSE_LABELS_ABOVE_K + 1


def random_labels(n, K, rate, seed=0):
    return (np.random.default_rng(seed).random((n, K)) < rate).astype(np.uint8)


def tabular(Y_train, Y_valid, Y_test, name="t", K=None):
    K = K or np.shape(Y_train)[1]
    mk = {s: Split(Y=Y, X=np.zeros((np.shape(Y)[0], 2), np.float32))
          for s, Y in (("train", Y_train), ("valid", Y_valid), ("test", Y_test))}
    return MultiLabelDataset(name=name, kind="tabular", label_names=[f"l{j}" for j in range(K)], **mk)


# ---------------------------------------------------------------------------- sparse storage
def test_label_storage_is_dense_up_to_the_threshold_and_csr_above():
    assert data.SPARSE_LABELS_ABOVE_K == 500
    dense = data.label_storage(random_labels(4, 500, 0.1))
    assert isinstance(dense, np.ndarray) and dense.dtype == np.uint8
    Y = random_labels(4, 501, 0.1)
    stored = data.label_storage(Y)
    assert sp.isspmatrix_csr(stored) and stored.dtype == np.uint8 and stored.has_canonical_format
    np.testing.assert_array_equal(stored.toarray(), Y)
    # a sparse input with K <= 500 becomes dense; explicit zeros are dropped; values other than 0/1 refused
    np.testing.assert_array_equal(data.label_storage(sp.csr_matrix(Y[:, :10])), Y[:, :10])
    with_zero = sp.csr_matrix((np.array([1, 0], np.uint8), ([0, 1], [3, 4])), shape=(2, 600))
    assert data.label_storage(with_zero).nnz == 1
    with pytest.raises(DataValidationError, match="only 0/1"):
        data.label_storage(sp.csr_matrix((np.array([2.0]), ([0], [3])), shape=(1, 600)))
    with pytest.raises(DataValidationError, match="only 0/1"):
        data.label_storage(np.full((1, 600), 2))


def test_split_with_sparse_labels_subsets_concatenates_and_stays_read_only():
    Y = random_labels(30, K_SPARSE, 0.02, seed=1)
    s = Split(Y=Y, X=np.arange(60, dtype=np.float32).reshape(30, 2))
    assert s.is_sparse and len(s) == 30
    np.testing.assert_array_equal(s.subset([3, 1]).Y.toarray(), Y[[3, 1]])
    np.testing.assert_array_equal(s.dense_Y(), Y)
    assert isinstance(s.select_labels([0, 5]).Y, np.ndarray)  # 2 labels left: dense again
    both = data.concat_splits([s, s.subset([0])])
    np.testing.assert_array_equal(both.Y.toarray(), np.vstack([Y, Y[:1]]))
    s.read_only()
    assert not s.Y.data.flags.writeable and not s.Y.indices.flags.writeable
    again = Split(Y=s.Y)  # a read-only canonical matrix is shared, not copied or edited
    assert np.shares_memory(again.Y.data, s.Y.data)


def test_content_hash_does_not_depend_on_the_storage(monkeypatch):
    Y = [random_labels(n, K_SPARSE, 0.01, seed=n) for n in (40, 7, 9)]
    sparse_hash = tabular(*Y).content_hash()
    monkeypatch.setattr(dataset, "SPARSE_LABELS_ABOVE_K", 10_000)  # the same content, stored dense
    dense_ds = tabular(*Y)
    assert isinstance(dense_ds.train.Y, np.ndarray)
    assert dense_ds.content_hash() == sparse_hash


def test_labels_to_matrix_builds_csr_from_the_arrow_offsets():
    names = [f"l{j}" for j in range(K_SPARSE)]
    col = pa.array([["l3", "l500", "l3"], [], ["l0"]], type=pa.list_(pa.string()))
    Y = labels_to_matrix(col, names, "here")
    assert sp.isspmatrix_csr(Y) and Y.shape == (3, K_SPARSE)
    assert {(int(r), int(c)) for r, c in zip(*Y.nonzero())} == {(0, 3), (0, 500), (2, 0)}
    assert Y.data.tolist() == [1, 1, 1]  # a label listed twice is one positive
    with pytest.raises(DataValidationError, match="not in meta.json label_names: zz"):
        labels_to_matrix(pa.array([["zz"]]), names, "here")


def test_corr_avg_sparse_by_hand():
    # counts c = (2, 2, 1); A[0,1] = A[1,0] = 1/2, A[1,2] = 1/1, A[2,1] = 1/2: sum 2.5 over 3 * 2 pairs
    Y = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]])
    assert stats.corr_avg_sparse(sp.csr_matrix(Y)) == pytest.approx(2.5 / 6, abs=1e-15)
    Y4 = np.hstack([Y, np.zeros((3, 1), int)])  # an absent label: "present" keeps 6 pairs, "all" has 12
    assert stats.corr_avg_sparse(Y4) == pytest.approx(2.5 / 6, abs=1e-15)
    assert stats.corr_avg_sparse(Y4, over="all") == pytest.approx(2.5 / 12, abs=1e-15)
    assert np.isnan(stats.corr_avg_sparse(np.array([[1, 0], [1, 0]])))
    with pytest.raises(ValueError, match="over='present'"):
        stats.corr_avg_sparse(Y, over="some")


label_matrices = st.integers(1, 12).flatmap(
    lambda K: arrays(np.uint8, st.tuples(st.integers(0, 25), st.just(K)), elements=st.integers(0, 1)))


@settings(max_examples=150, deadline=None)
@given(Y=label_matrices)
def test_sparse_and_dense_labels_give_identical_statistics(Y):
    dense = correlation.label_summary(Y)
    sparse = data.label_summary(sp.csr_matrix(Y))
    assert list(sparse) == list(dense)
    for key, value in dense.items():
        if isinstance(value, float):
            assert sparse[key] == pytest.approx(value, rel=1e-12, abs=1e-15, nan_ok=True), key
        else:
            assert sparse[key] == value, key
    for over in ("present", "all"):
        assert stats.corr_avg_sparse(Y, over) == pytest.approx(correlation.corr_avg(Y, over), rel=1e-12,
                                                               abs=1e-15, nan_ok=True)
    np.testing.assert_array_equal(stats.label_counts(sp.csr_matrix(Y)), stats.label_counts(Y))
    np.testing.assert_array_equal(repeated_rows(list(range(len(Y))), sp.csr_matrix(Y)),
                                  repeated_rows(list(range(len(Y))), Y))
    keys = [0] * len(Y)  # same input everywhere: repeats are the repeated label rows
    np.testing.assert_array_equal(repeated_rows(keys, sp.csr_matrix(Y)), repeated_rows(keys, Y))


def test_describe_of_a_sparse_set_equals_that_of_the_same_set_stored_dense(monkeypatch):
    Y = [random_labels(n, K_SPARSE, 0.01, seed=n) for n in (60, 20, 20)]
    sparse_desc = data.describe(tabular(*Y))
    monkeypatch.setattr(dataset, "SPARSE_LABELS_ABOVE_K", 10_000)
    dense_desc = data.describe(tabular(*Y))
    assert isinstance(tabular(*Y).train.Y, np.ndarray)
    for part in ("train", "valid", "test"):
        assert sparse_desc["per_split"][part] == pytest.approx(dense_desc["per_split"][part], nan_ok=True)
    assert sparse_desc["overall"] == pytest.approx(dense_desc["overall"], nan_ok=True)
    assert sparse_desc["label_counts"].equals(dense_desc["label_counts"])


def test_a_session_refuses_sparse_labels_that_are_constant():
    from mlal_core.session.loop import _check_labels_usable

    Y = np.zeros((20, K_SPARSE), np.uint8)
    Y[:, 7] = 1  # label 7 always 1, every other label always 0: nothing to learn
    ds = tabular(Y, Y[:2], Y[:2])
    assert ds.train.is_sparse
    with pytest.raises(DataValidationError, match="same value for all training samples"):
        _check_labels_usable(ds)
    Y[0, 8] = 1
    _check_labels_usable(tabular(Y, Y[:2], Y[:2]))  # label 8 varies: usable


# ---------------------------------------------------------------------------- EURLEX57K
@pytest.mark.slow  # parses 57k legal texts and counts their words (about 5 s)
def test_eurlex57k_statistics_recomputed_from_the_parquet_equal_the_documented_ones():
    ds = data.load("eurlex57k")
    meta = json.loads((data.DATA_DIR / "eurlex57k" / "meta.json").read_text())
    assert ds.kind == "text" and not ds.valid_carved and ds.n_labels == 3398
    assert {s: len(ds.split(s)) for s in data.SPLIT_NAMES} == {"train": 44_984, "valid": 6_000, "test": 6_000}
    assert all(sp.isspmatrix_csr(ds.split(s).Y) for s in data.SPLIT_NAMES)
    overall = data.describe(ds)["overall"]
    # the figures of data/README.md and ../shared/datasets/README.md
    assert round(overall["label_cardinality"], 4) == 5.0496
    assert round(overall["MeanIR"], 2) == 574.19
    assert round(overall["CorrAvg"], 6) == 0.001403
    assert round(overall["avg_words"], 2) == 547.58
    assert overall["MaxIR"] == 2314.0 and overall["distinct_labelsets"] == 34_905
    assert overall["labels_present"] == 3398 and overall["n_samples_without_label"] == 0
    assert ds.train.Y.nnz + ds.valid.Y.nnz + ds.test.Y.nnz == sum(meta["label_counts"].values()) == 287_749
    cost = data.representation_warning(ds, "minilm")
    assert "56,984 texts" in cost and "75 min" in cost and "'tfidf'" in cost
    assert data.representation_warning(ds, "tfidf") is None


def test_minilm_warning_only_for_large_text_sets_without_shipped_features():
    big = MultiLabelDataset(
        name="bigtexts", kind="text", label_names=["a", "b"],
        train=Split(Y=np.eye(2, dtype=np.uint8)[np.arange(20_001) % 2], texts=["x"] * 20_001),
        valid=Split(Y=np.eye(2, dtype=np.uint8), texts=["x", "y"]),
        test=Split(Y=np.eye(2, dtype=np.uint8), texts=["x", "y"]))
    cost = data.representation_warning(big, "minilm")
    assert cost.startswith("MiniLM features of 'bigtexts' are not shipped: its 20,005 texts") and "26 min" in cost
    small = big.train.subset(np.arange(100))
    assert data.representation_warning(
        MultiLabelDataset(name="s", kind="text", label_names=["a", "b"], train=small, valid=big.valid,
                          test=big.test), "minilm") is None
    goemotions = data.load("goemotions")  # 54k texts, but its MiniLM features ship with it
    assert data.representation_warning(goemotions, "minilm") is None


# ---------------------------------------------------------------------------- the generator
def test_generator_sizes_names_and_storage():
    ds = data.make_xmtc(5_000, 300, random_state=3)
    assert ds.name == "xmtc-synthetic-N5000-K300-S3" and ds.kind == "tabular" and ds.n_labels == 300
    assert [len(ds.split(s)) for s in data.SPLIT_NAMES] == [4_000, 500, 500]
    assert isinstance(ds.train.Y, np.ndarray)  # K = 300: dense
    assert ds.train.X.shape == (4_000, 384) and ds.train.X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ds.train.X, axis=1), 1.0, rtol=1e-5)
    assert ds.meta["hierarchy"] == {"n_roots": 5, "branching": 8, "depth": 3}  # ceil(300 / 73) roots
    assert ds.label_names[:6] == ["c0", "c1", "c2", "c3", "c4", "c0.0"] and ds.label_names[5 + 8] == "c1.0"
    # the default 5 labels a sample cannot be met by 10 labels (sum_j 1/j = 2.929): top label at 80% instead
    small = data.make_xmtc(300, 10)
    assert sum(small.meta["target_label_rates"]) == pytest.approx(0.8 * 2.9289683, rel=1e-7)
    assert small.meta["target_label_rates"][0] == pytest.approx(0.8)
    big = data.make_xmtc(2_000, 700)
    assert big.train.is_sparse and big.n_labels == 700 and data.describe(big)["overall"]["n_samples"] == 2_000


def test_every_child_positive_implies_its_parent():
    ds = data.make_xmtc(20_000, 800, random_state=1)
    parent = np.asarray(ds.meta["label_parents"])
    children = np.flatnonzero(parent >= 0)
    assert (parent[children] < children).all()
    for s in data.SPLIT_NAMES:
        Y = sp.csc_matrix(ds.split(s).Y)
        C, P = Y[:, children], Y[:, parent[children]]
        assert (C - C.multiply(P)).nnz == 0, s  # a child's positives are a subset of its parent's
        assert C.nnz > 0


@pytest.mark.parametrize("exponent, avg", [(1.0, 5.0), (1.5, 2.0)])
def test_label_frequencies_follow_the_requested_power_law(exponent, avg):
    n = 60_000
    ds = data.make_xmtc(n, 400, zipf_exponent=exponent, avg_labels=avg, random_state=7)
    Y = data.concat_splits(list(ds.splits.values())).Y
    counts = stats.label_counts(Y)
    rank = np.arange(1, counts.size + 1)
    fit = counts >= 25  # the tail's counts are too small to fit on a log scale
    slope = np.polyfit(np.log(rank[fit]), np.log(counts[fit]), 1)[0]
    assert -slope == pytest.approx(exponent, abs=0.05)
    # below the roots, each label's rate is p_j exactly (binomial noise only)
    p = np.asarray(ds.meta["target_label_rates"])
    roots = ds.meta["hierarchy"]["n_roots"]
    inner = np.arange(roots, counts.size)
    sd = np.sqrt(n * p[inner] * (1 - p[inner]))
    assert (np.abs(counts[inner] - n * p[inner]) <= 5 * sd).all()
    assert p.sum() == pytest.approx(avg)


def test_labels_of_one_subtree_co_occur():
    """Siblings are independent given their parent q: P(a & b) = p_a p_b / p_q, a lift of 1 / p_q."""
    ds = data.make_xmtc(60_000, 300, random_state=2)
    Y = sp.csc_matrix(data.concat_splits(list(ds.splits.values())).Y).astype(np.int64)
    n = Y.shape[0]
    parent = np.asarray(ds.meta["label_parents"])
    p = np.asarray(ds.meta["target_label_rates"])
    q = 5  # the first inner label that is not a root (5 roots at K = 300): its 8 children are leaves
    kids = np.flatnonzero(parent == q)
    assert kids.size == 8
    joint = (Y[:, kids].T @ Y[:, kids]).toarray() / n
    marg = np.diag(joint)
    lift = joint[0, 1:4] / (marg[0] * marg[1:4])
    assert lift == pytest.approx(np.full(3, 1 / p[q]), rel=0.15)
    assert 1 / p[q] > 5  # far above the independent lift of 1
    unrelated = np.flatnonzero(parent == 1)[0]  # a child of another root
    a, b = Y[:, kids[0]], Y[:, unrelated]
    lift_unrelated = (a.T @ b).toarray()[0, 0] / n / (a.sum() / n * b.sum() / n)
    assert lift_unrelated < 2


def test_features_carry_the_labels():
    from sklearn.metrics import roc_auc_score

    ds = data.make_xmtc(6_000, 200, random_state=4)
    for j in (0, 7, 40):
        y_tr, y_te = ds.train.Y[:, j].astype(bool), ds.test.Y[:, j].astype(bool)
        direction = ds.train.X[y_tr].mean(axis=0) - ds.train.X[~y_tr].mean(axis=0)
        assert roc_auc_score(y_te, ds.test.X @ direction) > 0.85, j


def test_generated_texts_hold_their_labels_words():
    ds = data.make_xmtc(300, 50, text=True, random_state=5)
    assert ds.kind == "text" and ds.train.X is None and ds.name == "xmtc-synthetic-N300-K50-text-S5"
    for i in range(20):
        tokens = set(ds.train.texts[i].split())
        labels = np.flatnonzero(ds.train.Y[i])
        assert labels.size and all(any(t.startswith(f"l{j}w") for t in tokens) for j in labels)
        assert len(ds.train.texts[i].split()) == 6 * labels.size + 20


def test_generator_is_deterministic_under_its_seed():
    a, b = data.make_xmtc(3_000, 600, random_state=9), data.make_xmtc(3_000, 600, random_state=9)
    assert a.content_hash() == b.content_hash()
    assert data.make_xmtc(3_000, 600, random_state=10).content_hash() != a.content_hash()
    ta, tb = data.make_xmtc(500, 40, text=True), data.make_xmtc(500, 40, text=True)
    assert ta.content_hash() == tb.content_hash()


def test_generator_refuses_settings_it_cannot_meet():
    with pytest.raises(ConfigError, match=r"avg_labels <= 4\.336"):
        data.zipf_frequencies(1000, 1.2, avg_labels=5)  # sum_j j^-1.2 = 4.336: p_0 would exceed 1
    with pytest.raises(ConfigError, match="n_roots must be between 1 and n_labels=10"):
        data.label_tree(10, 3, n_roots=11)
    with pytest.raises(ConfigError, match="n_samples >= 3, n_labels >= 2"):
        data.make_xmtc(2, 10)
    with pytest.raises(ConfigError, match="leave no training row"):
        data.make_xmtc(3, 10, valid_fraction=0.4, test_fraction=0.5)


# ---------------------------------------------------------------------------- by name
@pytest.mark.parametrize("name", ["xmtc-synthetic-N100000-K1000", "xmtc-synthetic-N20-K2",
                                  "xmtc-synthetic-N500-K30-text", "xmtc-synthetic-N500-K30-S12",
                                  "xmtc-synthetic-N500-K30-text-S1"])
def test_generated_names_round_trip(name):
    parsed = data.parse_xmtc_name(name)
    assert parsed.name == name == data.xmtc_name(parsed.n_samples, parsed.n_labels, text=parsed.text,
                                                 random_state=parsed.random_state)
    assert data.check_name(name) == name


@pytest.mark.parametrize("name, message", [
    ("xmtc-synthetic-N500-K30-S0", "write 'xmtc-synthetic-N500-K30'"),
    ("xmtc-synthetic-N0500-K30", "write 'xmtc-synthetic-N500-K30'"),
    ("xmtc-synthetic-N500-K30-s1", "does not follow the generated-dataset syntax"),
    ("xmtc-synthetic-K30-N500", "does not follow the generated-dataset syntax"),
    ("xmtc-synthetic-N500", "does not follow"),
    ("xmtc-synthetic-N19-K30", "N must be between 20 and 1,000,000"),
    ("xmtc-synthetic-N500-K1", "K must be between 2 and 50,000"),
    ("xmtc-synthetic-N500-K30-T40-IR5", "top_k=40 is more than the 30 labels"),
])
def test_malformed_generated_names_are_refused_with_what_to_write(name, message):
    with pytest.raises(ConfigError, match=message):
        data.check_name(name)
    with pytest.raises(ConfigError, match=message):
        data.load(name)


def test_a_generated_name_loads_caches_and_serves_sessions_and_derived_sets():
    from mlal_core.experiments.config import _parse_dataset
    from mlal_core.session.config import SessionConfig

    name = "xmtc-synthetic-N3000-K800"
    ds = data.load(name)
    assert ds.name == name and ds.train.is_sparse and len(ds.train) == 2_400 and len(ds.test) == 300
    assert np.shares_memory(data.load(name).train.Y.data, ds.train.Y.data)  # cached, shared, read-only
    assert not ds.train.Y.data.flags.writeable
    assert data.load(name, valid_fraction=0.2).valid.Y.shape[0] == 600
    assert data.describe(ds)["overall"]["n_labels"] == 800
    SessionConfig(dataset=name).validate()
    problems: list[str] = []
    assert _parse_dataset(0, {"name": name}, data.available(), problems).name == name and problems == []
    _parse_dataset(0, {"name": "xmtc-synthetic-N3000-K800-S0"}, data.available(), problems)
    assert "write 'xmtc-synthetic-N3000-K800'" in problems[0]
    assert data.XMTC_PRESETS[0] in data.available(derived=True)


def test_derived_sets_of_generated_ones_keep_sparse_labels_above_500():
    top = data.load("xmtc-synthetic-N1000-K900-T501-IR200")  # 501 labels kept: still sparse
    assert top.n_labels == 501 and top.train.is_sparse and top.name == "xmtc-synthetic-N1000-K900-T501-IR200"
    assert top.meta["resampled"]["achieved_mean_ir"] == pytest.approx(200, rel=0.01)
    assert top.meta["resampled"]["from"] == "xmtc-synthetic-N1000-K900"
    small = data.load("xmtc-synthetic-N1000-K900-T10-IR5")
    assert isinstance(small.train.Y, np.ndarray) and small.n_labels == 10


def _per_label_dense_reference(Y, size, rng):
    """The per-label initial set as first written, on a dense bool matrix (column scans)."""
    Y = np.asarray(Y).astype(bool)
    counts, tiebreak = Y.sum(axis=0), rng.permutation(Y.shape[1])
    chosen, taken, covered = [], np.zeros(Y.shape[0], bool), np.zeros(Y.shape[1], bool)
    for j in np.lexsort((tiebreak, counts)):
        if len(chosen) >= size:
            break
        if counts[j] == 0 or covered[j]:
            continue
        cands = np.flatnonzero(Y[:, j] & ~taken)
        pick = int(cands[rng.integers(cands.size)])
        chosen.append(pick)
        taken[pick] = True
        covered |= Y[pick]
    fill = rng.permutation(np.flatnonzero(~taken))[: size - len(chosen)]
    return np.concatenate([np.asarray(chosen, dtype=np.int64), fill.astype(np.int64)])


@settings(max_examples=100, deadline=None)
@given(Y=label_matrices.filter(lambda Y: len(Y) > 0), frac=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_per_label_initial_set_is_the_same_from_sparse_labels(Y, frac, seed):
    from mlal_core.session.initial import _per_label, choose_initial

    size = int(frac * len(Y))
    expected = _per_label_dense_reference(Y, size, np.random.default_rng(seed))
    np.testing.assert_array_equal(_per_label(Y, size, np.random.default_rng(seed)), expected)
    np.testing.assert_array_equal(_per_label(sp.csr_matrix(Y), size, np.random.default_rng(seed)), expected)
    big = sp.hstack([sp.csr_matrix(Y), sp.csr_matrix((len(Y), K_SPARSE))]).tocsr()  # + never-present labels
    if size >= 1:  # choose_initial refuses an empty initial set
        np.testing.assert_array_equal(choose_initial(big, size, "per_label", seed),
                                      choose_initial(big.toarray(), size, "per_label", seed))
