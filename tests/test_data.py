"""Bundled datasets: loading, caching, carving, hashing, and statistics equal to meta.json."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from mlal_core import data, stats
from mlal_core.data import MultiLabelDataset, Split
from mlal_core.errors import ConfigError

BUNDLED = ["emotions", "enron", "eurlex57k", "goemotions", "medical", "reuters21578", "scene", "yeast"]
# the sets whose full parse and statistics take seconds (EURLEX57K: 57k legal texts, 3,398 labels)
SLOW_BUNDLED = {"eurlex57k"}
BUNDLED_PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_BUNDLED else n for n in BUNDLED]
# decimals meta.json rounds each statistic to
DECIMALS = {"label_cardinality": 4, "label_density": 6, "MeanIR": 4, "MaxIR": 4, "CorrAvg": 6,
            "avg_text_words": 2, "avg_words": 2}


def close_to_rounded(ours, stated, decimals):
    return abs(ours - stated) <= 0.5 * 10.0 ** (-decimals) + 1e-9


def meta_of(name):
    return json.loads((data.DATA_DIR / name / "meta.json").read_text())


def official_splits(ds):
    """The source's splits: a carved valid split goes back into train."""
    if ds.valid_carved:
        return {"train": data.concat_splits([ds.train, ds.valid]), "test": ds.test}
    return {"train": ds.train, "valid": ds.valid, "test": ds.test}


def test_available_lists_the_bundled_sets():
    assert data.available() == BUNDLED


@pytest.mark.parametrize("name", BUNDLED_PARAMS)
def test_statistics_equal_meta(name):
    ds = data.load(name)
    meta = meta_of(name)
    assert ds.label_names == meta["label_names"] and ds.kind == meta["format"]
    desc = data.describe(ds)
    overall = desc["overall"]
    assert overall["n_samples"] == meta["n_samples_total"]
    assert overall["n_labels"] == meta["n_labels"]
    assert overall["distinct_labelsets"] == meta["distinct_labelsets"]
    assert overall["n_samples_without_label"] == meta["n_samples_without_label"]
    for key in ("label_cardinality", "label_density", "MeanIR", "MaxIR", "CorrAvg"):
        assert close_to_rounded(overall[key], meta[key], DECIMALS[key]), (key, overall[key], meta[key])
    counts = desc["label_counts"]["all"]
    assert {k: int(v) for k, v in counts.items()} == meta["label_counts"]
    if ds.kind == "text":
        assert close_to_rounded(overall["avg_words"], meta["avg_text_words"], 2)
    else:
        assert overall["n_features"] == meta["n_features"]

    splits = official_splits(ds)
    assert set(splits) == set(meta["per_split"]) == set(meta["splits"])
    for split_name, expected in meta["per_split"].items():
        Y = splits[split_name].Y
        s = data.label_summary(Y)  # correlation.label_summary for dense Y; its sparse twin for K > 500
        assert s["n_samples"] == expected["n_samples"] == meta["splits"][split_name]
        for key in ("n_samples_without_label", "labels_present", "distinct_labelsets"):
            assert s[key] == expected[key], (split_name, key)
        for key in ("label_cardinality", "label_density", "MeanIR", "MaxIR", "CorrAvg"):
            assert close_to_rounded(s[key], expected[key], DECIMALS[key]), (split_name, key, s[key], expected[key])
        if "avg_words" in expected:
            words = np.mean([len(t.split()) for t in splits[split_name].texts])
            assert close_to_rounded(words, expected["avg_words"], 2)


@pytest.mark.parametrize("name", BUNDLED_PARAMS)
def test_split_shapes_and_types(name):
    ds = data.load(name)
    K = ds.n_labels
    for split_name in ("train", "valid", "test"):
        s = ds.split(split_name)
        assert s.Y.dtype == np.uint8 and s.Y.shape == (len(s), K)
        assert sp.issparse(s.Y) == (K > data.SPARSE_LABELS_ABOVE_K)  # CSR above 500 labels
        assert set(np.unique(s.Y.data if sp.issparse(s.Y) else s.Y)) <= {0, 1}
        if ds.kind == "text":
            assert s.X is None and len(s.texts) == len(s) and all(isinstance(t, str) and t for t in s.texts[:50])
        else:
            assert s.texts is None and s.X.dtype == np.float32 and s.X.shape == (len(s), ds.n_features)
    assert ds.valid_carved == ("valid" not in meta_of(name)["splits"])


def test_carved_valid_is_seeded_stratified_and_covers_train():
    meta = meta_of("yeast")
    a = data.load("yeast")
    b = data.load("yeast", random_state=1)
    official = data.load("yeast", valid_fraction=0.0)
    assert a.valid_carved and not official.valid_carved and len(official.valid) == 0
    n_train = meta["splits"]["train"]
    assert len(official.train) == n_train
    assert len(a.train) + len(a.valid) == n_train
    assert abs(len(a.valid) - 0.1 * n_train) <= 0.1 * 0.1 * n_train  # iterative stratification: sizes approximate
    # the carved rows are rows of the official train split, and together they are all of it
    def rows(s):
        return {r.tobytes() for r in np.hstack([s.X.view(np.uint8), s.Y])}

    assert rows(a.train) | rows(a.valid) == rows(official.train)
    assert not (rows(a.train) & rows(a.valid))
    # stratified: every label's share in valid is close to its share in train
    share_t = a.train.Y.mean(axis=0)
    share_v = a.valid.Y.mean(axis=0)
    assert np.abs(share_t - share_v).max() < 0.05
    # seeded: another seed, another valid split; same seed (fresh cache), same split
    assert a.content_hash() != b.content_hash()
    data.clear_cache()
    assert data.load("yeast").content_hash() == a.content_hash()


def test_cache_hands_out_fresh_objects_with_read_only_arrays():
    a = data.load("goemotions")
    with pytest.raises(ValueError):
        a.train.Y[0, 0] = 1
    a.train.texts[0] = "changed"
    a.meta["name"] = "changed"
    a.label_names[0] = "changed"
    a.test = a.train
    b = data.load("goemotions")
    assert b.train.texts[0] != "changed" and b.meta["name"] == "goemotions" and b.label_names[0] != "changed"
    assert len(b.test) == 5421
    assert b.train.Y is data.load("goemotions").train.Y  # shared, read-only, not copied


def _tiny(kind):
    Y = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.uint8)
    if kind == "text":
        parts = [Split(Y=Y, texts=["x", "y", "zé"]), Split(Y=Y[:1], texts=["v"]), Split(Y=Y[1:], texts=["t1", "t2"])]
    else:
        X = np.arange(6, dtype=np.float32).reshape(3, 2)
        parts = [Split(Y=Y, X=X), Split(Y=Y[:1], X=X[:1]), Split(Y=Y[1:], X=X[1:])]
    return MultiLabelDataset(name="tiny", kind=kind, label_names=["a", "b"], train=parts[0], valid=parts[1],
                             test=parts[2])


def test_content_hash_is_a_fixed_function_of_the_content():
    # hard-coded digests: the hash must not change between processes, machines or versions
    assert _tiny("text").content_hash() == "391865119067e931f7702a334582894d04d4853a972c55fc9855ebacc31e8824"
    assert _tiny("tabular").content_hash() == "a8a85c47d55ff9db3e2c25870a85fdb6d6550a7a3c302cf36dd830a24ac38116"
    changed = _tiny("text")
    changed.train.texts[2] = "z"
    assert changed.content_hash() != _tiny("text").content_hash()
    renamed = _tiny("text")
    renamed.label_names = ["a", "c"]
    assert renamed.content_hash() != _tiny("text").content_hash()


def test_unknown_name_suggests_close_names():
    with pytest.raises(ConfigError, match="Did you mean 'reuters21578'") as info:
        data.load("reuters")
    assert "goemotions" in str(info.value)


def test_data_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("MLAL_DATA_DIR", str(tmp_path))
    assert data.available() == []
    with pytest.raises(ConfigError, match="Unknown dataset"):
        data.load("emotions")
    assert data.load("emotions", data_dir=data.DATA_DIR).n_labels == 6


def test_split_accessor_and_subset():
    ds = data.load("scene")
    assert ds.split("test") is ds.test
    with pytest.raises(ConfigError):
        ds.split("validation")
    sub = ds.train.subset([3, 1])
    np.testing.assert_array_equal(sub.Y, ds.train.Y[[3, 1]])
    sub.Y[0, 0] = 1  # a subset is the caller's own copy


# ------------------------------------------------------------------ describe

def test_describe_layout():
    ds = data.load("emotions")
    d = data.describe(ds)
    assert set(d["per_split"]) == {"train", "valid", "test"}
    lc = d["label_counts"]
    assert list(lc.columns) == ["train", "valid", "test", "all", "IRLbl", "IRLbl (all splits)"]
    assert list(lc.index) == ds.label_names
    assert (lc["all"] == lc["train"] + lc["valid"] + lc["test"]).all()
    # IRLbl = max count / count, of the training split and of the whole dataset
    np.testing.assert_allclose(lc["IRLbl"], lc["train"].max() / lc["train"])
    np.testing.assert_allclose(lc["IRLbl (all splits)"], lc["all"].max() / lc["all"])
    assert list(d["table"].index) == ["train", "valid", "test", "all"]
    for key in ("n_samples", "n_labels", "label_cardinality", "label_density", "MeanIR", "MaxIR", "CorrAvg",
                "distinct_labelsets"):
        assert key in d["overall"]
    assert d["per_split"]["valid"]["n_samples"] == len(ds.valid)


# ------------------------------------------------------------------ synthetic

def test_make_synthetic():
    a = data.make_synthetic(n_samples=300, n_features=8, n_labels=4, avg_labels=2, random_state=3)
    b = data.make_synthetic(n_samples=300, n_features=8, n_labels=4, avg_labels=2, random_state=3)
    c = data.make_synthetic(n_samples=300, n_features=8, n_labels=4, avg_labels=2, random_state=4)
    assert a.content_hash() == b.content_hash() != c.content_hash()
    assert a.kind == "tabular" and a.n_labels == 4 and a.n_features == 8
    assert len(a.train) + len(a.valid) + len(a.test) == 300
    assert abs(len(a.test) - 60) <= 3 and abs(len(a.valid) - 30) <= 3
    assert a.train.X.dtype == np.float32 and a.train.Y.dtype == np.uint8
    whole = data.concat_splits([a.train, a.valid, a.test])
    assert stats.n_without_label(whole.Y) == 0
    assert 1.5 < stats.label_cardinality(whole.Y) < 2.5
    assert data.make_synthetic(n_samples=50, n_classes=7).n_labels == 7
    with pytest.raises(ConfigError):
        data.make_synthetic(n_labels=3, n_classes=4)
    unl = data.make_synthetic(n_samples=400, n_labels=3, avg_labels=1, allow_unlabeled=True, random_state=0)
    assert stats.n_without_label(data.concat_splits([unl.train, unl.valid, unl.test]).Y) > 0


# ------------------------------------------------------------------ MeanIR resampling

@pytest.mark.parametrize("target", [5.0, 2.5])
def test_resample_reuters_top10_to_lower_mean_ir(target):
    ds = data.load("reuters21578")
    out, achieved = data.resample_to_mean_ir(ds, top_k=10, target_mean_ir=target, random_state=0)
    assert out.n_labels == 10
    assert achieved == pytest.approx(target, rel=0.01)
    assert stats.mean_ir(out.train.Y) == pytest.approx(achieved)
    counts = stats.label_counts(ds.train.Y)
    top = sorted(np.argsort(-counts, kind="stable")[:10])
    assert out.label_names == [ds.label_names[j] for j in top]
    for s in ("train", "valid", "test"):
        assert stats.n_without_label(out.split(s).Y) == 0
    # test keeps every row that has a kept label
    assert len(out.test) == int((ds.test.Y[:, top].sum(axis=1) > 0).sum())
    assert out.meta["resampled"]["achieved_mean_ir"] == achieved
    again, _ = data.resample_to_mean_ir(ds, top_k=10, target_mean_ir=target, random_state=0)
    assert again.content_hash() == out.content_hash()


def test_resample_raise_and_bounds():
    ds = data.load("reuters21578")
    with pytest.raises(ConfigError, match="above the MeanIR"):
        data.resample_to_mean_ir(ds, top_k=10, target_mean_ir=30)
    out, achieved = data.resample_to_mean_ir(ds, top_k=10, target_mean_ir=30, allow_increase=True)
    assert achieved == pytest.approx(30, rel=0.01) and out.n_labels == 10
    with pytest.raises(ConfigError, match="out of reach: the lowest"):
        data.resample_to_mean_ir(ds, top_k=10, target_mean_ir=1.01)
    with pytest.raises(ConfigError, match=">= 1"):
        data.resample_to_mean_ir(ds, top_k=10, target_mean_ir=0.5)
    with pytest.raises(ConfigError, match="top_k"):
        data.resample_to_mean_ir(ds, top_k=500, target_mean_ir=2)


def test_documented_sizes_match_the_code():
    """Numbers stated in prose elsewhere: the benchmark's pool size, the test model's default epochs."""
    import inspect

    from conftest import REPO_ROOT

    from mlal_core.models import mlp

    pool = len(data.load("reuters21578").train)
    assert pool == 6903
    assert f"Reuters-21578 train pool ({pool:,} texts" in (REPO_ROOT / "benchmarks" / "round_latency.py").read_text()
    epochs = inspect.signature(mlp.MLPEnsemble).parameters["epochs"].default
    assert f"MLPEnsemble's {epochs} epochs" in (REPO_ROOT / "tests" / "conftest.py").read_text()
