"""Derived datasets ``<base>-T<top_k>-IR<target>`` (issue 17): name parsing, loading through
``data.load``, provenance in ``describe``, MiniLM features sliced from the base set, experiment configs,
and CRAB's two readings compared in the reproduction report.

The fast tests use a hand-built text dataset in a temporary data folder (counts chosen so every number
can be checked by hand); the ``slow`` ones use Reuters-21578 and its bundled MiniLM features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlal_core import data, features, stats
from mlal_core.errors import ConfigError
from mlal_core.features import cache as feature_cache
from mlal_core.features import corpus, minilm

# ------------------------------------------------------------------ a hand-built base dataset
#: per split: (labels of a row, how many rows); labels a, b, c, d
TINY_ROWS = {
    "train": [(["a"], 40), (["b"], 10), (["c"], 5), (["a", "b"], 5), (["d"], 2)],
    "valid": [(["a"], 3), (["b"], 2), (["d"], 1)],
    "test": [(["a"], 5), (["b"], 3), (["c"], 2), (["d"], 2), (["c", "d"], 1)],
}


def _write_tiny(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"format": "text", "label_names": ["a", "b", "c", "d"],
                                                  "description": "Hand-built."}), encoding="utf-8")
    for split, groups in TINY_ROWS.items():
        texts, labels = [], []
        for labs, n in groups:
            for i in range(n):
                texts.append(f"{split} story {len(texts)} about {' and '.join(labs)} number {i}")
                labels.append(labs)
        pq.write_table(pa.table({"text": texts, "labels": labels}), folder / f"{split}.parquet")


@pytest.fixture()
def tiny_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    _write_tiny(root / "tiny")
    monkeypatch.setenv("MLAL_DATA_DIR", str(root))
    data.clear_cache()
    yield root
    data.clear_cache()


# ------------------------------------------------------------------ names
def test_derived_names_round_trip_and_parse():
    assert data.derived_name("reuters21578", 10, 50.0) == "reuters21578-T10-IR50"
    assert data.derived_name("x", 3, 2.5) == "x-T3-IR2.5"
    p = data.parse_derived_name("reuters21578-T10-IR50")
    assert (p.base, p.top_k, p.mean_ir, p.name) == ("reuters21578", 10, 50.0, "reuters21578-T10-IR50")
    nested = data.parse_derived_name("a-T5-IR2-T3-IR1.5")
    assert (nested.base, nested.top_k, nested.mean_ir) == ("a-T5-IR2", 3, 1.5)
    assert data.parse_derived_name("reuters21578") is None
    assert data.parse_derived_name("reuters21578-T10") is None


@pytest.mark.parametrize("name, match", [
    ("tiny-T3-IR0.5", r"must be >= 1 .*got 0\.5"),
    ("tiny-T1-IR2", "top_k .* at least 2; got 1"),
    ("tiny-T3-IR2.0", "write it as 'tiny-T3-IR2'"),
    ("tiny-T03-IR2", "write it as 'tiny-T3-IR2'"),
    ("tiny-T5-IR2", "top_k=5 is more than the 4 labels of 'tiny'; use -T2 to -T4"),
    ("tiyn-T3-IR2", "Unknown base dataset 'tiyn'. Did you mean 'tiny'"),
    ("tiny-T3-IR2-T4-IR1.5", "top_k=4 is more than the 3 labels of 'tiny-T3-IR2'"),
    # raising keeps every row of the top label a (45): b keeps its 5 rows with a, c goes down to 1 row,
    # so the highest MeanIR is (45/45 + 45/5 + 45/1) / 3 = 18.33
    ("tiny-T3-IR40", r"cannot be built: target_mean_ir=40 is out of reach: the highest .* is 18\.33 "),
    ("tiyn", "Unknown dataset 'tiyn'. Did you mean 'tiny'.*A derived dataset is named"),
])
def test_bad_names_say_what_to_write(tiny_dir, name, match):
    with pytest.raises(ConfigError, match=match):
        data.load(name)


# ------------------------------------------------------------------ loading
def test_derived_dataset_by_name(tiny_dir):
    base = data.load("tiny")
    ds = data.load("tiny-T3-IR3")
    assert ds.name == "tiny-T3-IR3" and ds.kind == "text" and ds.label_names == ["a", "b", "c"]
    # the top-3 train counts a 45, b 15, c 5 give MeanIR (1 + 3 + 9) / 3 before resampling
    r = ds.meta["resampled"]
    assert r["top_k_train_mean_ir_before"] == pytest.approx(13 / 3)
    assert r["direction"] == "lowered" and r["random_state"] == 0
    # lowering thins the frequent labels only: c keeps its 5 rows and the target is met within a count step
    counts = stats.label_counts(ds.train.Y)
    assert counts[2] == 5 and counts[0] < 45
    assert r["achieved_mean_ir"] == pytest.approx(stats.mean_ir(ds.train.Y))
    assert abs(r["achieved_mean_ir"] - 3) <= 0.05 * 3
    # rows without a kept label (only d) leave every split; valid and test are not resampled
    assert r["rows_dropped_without_kept_label"] == {"train": 2, "valid": 1, "test": 2}
    assert (len(ds.valid), len(ds.test)) == (5, 11)
    keep_test = base.test.Y[:, :3].any(axis=1)
    assert ds.test.texts == [t for t, k in zip(base.test.texts, keep_test, strict=True) if k]
    np.testing.assert_array_equal(ds.test.Y, base.test.Y[keep_test][:, :3])
    # train rows are base rows with their labels
    by_text = dict(zip(base.train.texts, base.train.Y[:, :3].tolist(), strict=True))
    assert [by_text[t] for t in ds.train.texts] == ds.train.Y.tolist()
    assert r["train_rows"] == {"original": 62, "with_a_kept_label": 60, "kept": len(ds.train)}


def test_derived_datasets_are_cached_like_bundled_ones(tiny_dir):
    a, b = data.load("tiny-T3-IR3"), data.load("tiny-T3-IR3")
    assert a is not b and a.meta is not b.meta
    assert a.train.Y is b.train.Y and not a.train.Y.flags.writeable  # shared, read-only
    data.clear_cache()
    c = data.load("tiny-T3-IR3")
    assert c.train.Y is not a.train.Y and c.content_hash() == a.content_hash()


def test_raising_the_mean_ir_thins_the_rare_labels(tiny_dir):
    # the highest reachable MeanIR (see above): a keeps 45, b its 5 rows with a, c 1 row
    ds = data.load("tiny-T3-IR18.33")
    assert stats.label_counts(ds.train.Y).tolist() == [45, 5, 1]
    assert stats.mean_ir(ds.train.Y) == pytest.approx(55 / 3)
    assert ds.meta["resampled"]["direction"] == "raised"
    # in between, c is thinned first and the top label keeps every row
    mid = data.load("tiny-T3-IR8")
    counts = stats.label_counts(mid.train.Y)
    assert counts[0] == 45 and counts[2] < 5 and mid.meta["resampled"]["achieved_mean_ir"] > 13 / 3


def test_available_and_check_name(tiny_dir):
    assert data.available() == ["tiny"]
    # the derived presets are built from reuters21578, absent here; the generated ones need no folder
    assert data.available(derived=True) == ["tiny", *data.XMTC_PRESETS]
    assert data.check_name("tiny-T3-IR3") == "tiny-T3-IR3"
    with pytest.raises(ConfigError, match="Unknown base dataset"):
        data.check_name("reuters21578-T10-IR50")


def test_presets_are_listed_after_the_bundled_sets():
    names = data.available(derived=True)
    bundled = data.available()
    assert names[:len(bundled)] == bundled
    assert names[len(bundled):] == list(data.DERIVED_PRESETS) + list(data.XMTC_PRESETS)  # then the generated
    assert [data.parse_derived_name(n).mean_ir for n in data.DERIVED_PRESETS] == [5, 10, 20, 50]


def test_describe_shows_the_provenance(tiny_dir):
    d = data.describe(data.load("tiny-T3-IR3"))
    prov = d["derived_from"]
    assert prov["base"] == "tiny" and prov["top_k"] == 3 and prov["labels_kept"] == ["a", "b", "c"]
    assert prov["achieved_mean_ir"] == pytest.approx(d["per_split"]["train"]["MeanIR"])
    assert prov["train_rows_kept"] == d["per_split"]["train"]["n_samples"]
    assert prov["rows_dropped_without_kept_label"] == {"train": 2, "valid": 1, "test": 2}
    assert d["provenance"].startswith("Derived from `tiny`: its 3 most frequent training labels; rows without "
                                      "one dropped (train 2, valid 1, test 2); the training pool (60 of 62 rows "
                                      "left) resampled from MeanIR 4.33 to ")
    base = data.describe(data.load("tiny"))
    assert base["derived_from"] is None and base["provenance"] is None


# ------------------------------------------------------------------ features
def test_minilm_features_are_the_base_rows(tiny_dir, tmp_path):
    """A derived set's MiniLM rows are read from the base corpus' cache entry (no encoder): exactly the
    base set's vectors of the same texts."""
    base, ds = data.load("tiny"), data.load("tiny-T3-IR3")
    base_corp = corpus.corpus_of(base)
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((len(base_corp), 384)).astype(np.float32)
    cache_dir = tmp_path / "cache"
    key = minilm.cache_key(base_corp, 128, "fp32")
    feature_cache.EmbeddingEntry(cache_dir, key).save(matrix, {"source": "computed"})
    f_base = features.featurize(base, "minilm", device="cpu", precision="fp32", cache_dir=cache_dir)
    f_der = features.featurize(ds, "minilm", device="cpu", precision="fp32", cache_dir=cache_dir)
    for split in ("train", "valid", "test"):
        pos = {t: i for i, t in enumerate(base.split(split).texts)}
        rows = [pos[t] for t in ds.split(split).texts]
        np.testing.assert_array_equal(f_der.split(split), f_base.split(split)[rows])
    prov = f_der.provenance()
    assert prov["sliced_from"] == {"dataset": "tiny", "text_hash": base_corp.text_hash, "rows": len(base_corp)}
    assert prov["cache_key"] == key and prov["text_hash"] == corpus.corpus_of(ds).text_hash
    again = features.available_minilm(ds, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.train, f_der.train)


def test_features_of_a_dataset_not_derived_by_name_are_its_own(tiny_dir):
    """A resampled set whose base cannot be loaded by name keeps its own corpus (no slicing)."""
    out, _ = data.resample_to_mean_ir(data.load("tiny"), 3, 3.0)
    assert features.base_rows(out) is not None
    out.meta["resampled"]["from"] = "not-a-dataset"
    assert features.base_rows(out) is None
    assert features.base_rows(data.load("tiny")) is None


# ------------------------------------------------------------------ configs
def _tiny_experiment(tmp_path, datasets) -> dict:
    return {"name": "derived", "store": str(tmp_path / "d.sqlite"), "datasets": datasets,
            "representations": ["tfidf"], "models": [{"name": "mlp_ensemble", "params": {"n_members": 2}}],
            "strategies": ["random", "crab", {"name": "crab", "label": "crab (implied)",
                                              "params": {"asymmetric_keep": "implied"}}],
            "seeds": 2, "initial_size": 10, "query_size": 5, "rounds": 2}


def test_an_experiment_plans_runs_on_a_derived_set(tiny_dir, tmp_path):
    from mlal_core import experiments as E

    plan = E.ExperimentConfig.from_dict(_tiny_experiment(tmp_path, ["tiny-T3-IR3"])).plan()
    pool = len(data.load("tiny-T3-IR3").train)
    assert len(plan.runs) == 3 * 2
    assert {r.config.dataset for r in plan.runs} == {"tiny-T3-IR3"}
    assert {r.pool_size for r in plan.runs} == {pool}
    assert sorted((r.strategy, r.seed) for r in plan.runs) == sorted(
        (s, seed) for s in ("random", "crab", "crab (implied)") for seed in (0, 1))
    keep = {r.strategy: r.config.strategy_params.get("asymmetric_keep") for r in plan.runs if r.strategy != "random"}
    assert keep == {"crab": "implying", "crab (implied)": "implied"}


@pytest.mark.parametrize("name, match", [
    ("tiny-T9-IR3", r"datasets\[0\]: Dataset 'tiny-T9-IR3': top_k=9 is more than the 4 labels"),
    ("tiny-T3-IR0.5", r"datasets\[0\]: Dataset 'tiny-T3-IR0.5': the target MeanIR"),
    ("tiyn", r"unknown dataset 'tiyn' \(did you mean 'tiny'\?\).*or a derived one"),
])
def test_experiment_config_names_a_bad_derived_set(tiny_dir, tmp_path, name, match):
    from mlal_core import experiments as E

    with pytest.raises(ConfigError, match=match):
        E.ExperimentConfig.from_dict(_tiny_experiment(tmp_path, [name]))


def test_session_config_accepts_a_derived_name(tiny_dir):
    from mlal_core.session.config import SessionConfig

    SessionConfig(dataset="tiny-T3-IR3", strategy="random").validate()
    with pytest.raises(ConfigError, match="top_k=7"):
        SessionConfig(dataset="tiny-T7-IR3", strategy="random").validate()


def test_reproduction_config_has_the_derived_set_and_both_crab_readings():
    from mlal_core import experiments as E
    from conftest import REPO_ROOT

    cfg = E.load_config(REPO_ROOT / "experiments" / "reproduction.yaml")
    assert "reuters21578-T10-IR50" in [d.name for d in cfg.datasets]
    crab = {s.label: s.params["asymmetric_keep"] for s in cfg.strategies if s.name == "crab"}
    assert crab == {"crab": "implying", "crab (implied)": "implied"}


# ------------------------------------------------------------------ the report's comparison of the readings
def _readings_rounds(diffs: dict[str, float]) -> pd.DataFrame:
    """Rounds of 'crab' and 'crab (implied)' on one setting, 5 seeds, 3 points each; per seed s the
    default reading's values are the old ones plus ``diffs[column] * (1 + s / 10)``."""
    rows = []
    for seed in range(5):
        for label, sign in (("crab (implied)", 0.0), ("crab", 1.0)):
            for rnd, n in enumerate((10, 20, 30)):
                row = {"setting": "toy", "strategy": label, "strategy_name": "crab", "seed": seed, "round": rnd,
                       "n_labeled": n, "final": rnd == 2}
                for col, base in (("micro_f1", 0.5), ("macro_f1", 0.3), ("mean_ir_selected", 4.0),
                                  ("batch_coverage", 0.4), ("label_coverage", 0.6)):
                    row[col] = base + 0.01 * rnd + 0.001 * seed + sign * diffs[col] * (1 + seed / 10)
                rows.append(row)
    return pd.DataFrame(rows)


def test_crab_readings_comparison_on_a_synthetic_table(tmp_path):
    from mlal_core.experiments import crab_readings as CR

    diffs = {"micro_f1": 0.02, "macro_f1": 0.0, "mean_ir_selected": -0.5, "batch_coverage": -0.1,
             "label_coverage": 0.05}
    R = _readings_rounds(diffs)
    cmp = CR.crab_readings_comparison(R, "crab", "crab (implied)", test="t", alpha=0.05)
    assert list(cmp["measure"]) == ["micro-F1 AULC", "macro-F1 AULC", "MeanIR of batch", "batch coverage",
                                    "labelled coverage"]
    by = cmp.set_index("measure")
    # the difference per seed is diffs * (1 + s/10): mean diffs * 1.2 (AULC of a constant shift = the shift;
    # the per-run means leave out the final record)
    for col, name in (("micro_f1", "micro-F1 AULC"), ("mean_ir_selected", "MeanIR of batch"),
                      ("batch_coverage", "batch coverage"), ("label_coverage", "labelled coverage")):
        assert by.loc[name, "mean_diff"] == pytest.approx(diffs[col] * 1.2)
    assert by.loc["macro-F1 AULC", "mean_diff"] == 0 and by.loc["macro-F1 AULC", "outcome"] == "n.s."
    assert int(by["family_size"].iloc[0]) == 4  # macro-F1: no difference, no p-value
    assert by.loc["micro-F1 AULC", "outcome"] == "default better"
    assert by.loc["MeanIR of batch", "outcome"] == "default better"  # lower MeanIR
    assert by.loc["batch coverage", "outcome"] == "default worse"
    assert by.loc["labelled coverage", "outcome"] == "default better"
    assert by.loc["micro-F1 AULC", "implying"] == pytest.approx(by.loc["micro-F1 AULC", "implied"] + 0.024)
    # Holm over the four finite p-values: the smallest times 4, ...
    p = by["p"].dropna().sort_values()
    assert by.loc[p.index[0], "p_adj"] == pytest.approx(min(1.0, 4 * p.iloc[0]))

    runs = R.drop_duplicates(["strategy", "seed"])[["strategy", "strategy_name", "seed"]]
    md = CR.crab_readings_markdown(R, None, runs, claim_label="crab", test="t", alpha=0.05, data_dir=tmp_path)
    assert md.startswith("## CRAB: the two readings of the asymmetric-pair rule")
    assert "assessed on the default reading" in md and "4 comparisons" in md and "(paired t-test, two-sided" in md
    assert ("- toy: the default reading is better on micro-F1 AULC, MeanIR of batch, labelled coverage and worse "
            "on batch coverage") in md
    assert pd.read_csv(tmp_path / "crab_readings.csv").shape[0] == 5
    # one reading only: no section
    assert CR.crab_readings_markdown(R[R["strategy"] == "crab"], None, runs[runs["strategy"] == "crab"],
                                     claim_label="crab") == ""


def test_crab_reading_labels_come_from_the_config(tmp_path, tiny_dir):
    from mlal_core import experiments as E
    from mlal_core.experiments import crab_readings as CR

    cfg = E.ExperimentConfig.from_dict(_tiny_experiment(tmp_path, ["tiny"]))
    runs = pd.DataFrame({"strategy": ["random", "crab", "crab (implied)"], "strategy_name": ["random", "crab", "crab"]})
    assert CR.crab_reading_labels(cfg.strategies, runs) == {"implying": "crab", "implied": "crab (implied)"}
    assert CR.crab_reading_labels(cfg.strategies, runs.iloc[:2]) == {"implying": "crab"}


# ------------------------------------------------------------------ Reuters (real values)
@pytest.mark.slow
def test_reuters_t10_ir50_statistics():
    base = data.load("reuters21578")
    ds = data.load("reuters21578-T10-IR50")
    assert ds.name == "reuters21578-T10-IR50" and ds.n_labels == 10
    assert ds.label_names == ["acq", "corn", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade", "wheat"]
    assert dict(zip(ds.label_names, stats.label_counts(ds.train.Y).tolist(), strict=True)) == {
        "acq": 826, "corn": 41, "crude": 41, "earn": 2585, "grain": 53, "interest": 50, "money-fx": 71, "ship": 24,
        "trade": 39, "wheat": 44}
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (3531, 639, 2531)
    achieved = stats.mean_ir(ds.train.Y)
    assert abs(achieved - 50) <= 0.01 * 50 and ds.meta["resampled"]["achieved_mean_ir"] == achieved
    assert ds.meta["resampled"]["top_k_train_mean_ir_before"] == pytest.approx(8.4359, abs=1e-4)
    top = [base.label_names.index(n) for n in ds.label_names]
    keep = base.test.Y[:, top].any(axis=1)
    assert ds.test.texts == [t for t, k in zip(base.test.texts, keep, strict=True) if k]
    np.testing.assert_array_equal(ds.test.Y, base.test.Y[keep][:, top])


@pytest.mark.slow
def test_reuters_derived_features_equal_the_bundled_base_rows():
    base, ds = data.load("reuters21578"), data.load("reuters21578-T10-IR50")
    fb = features.featurize(base, "minilm", device="cpu", precision="fp32")
    fd = features.featurize(ds, "minilm", device="cpu", precision="fp32")
    assert fb.info["source"] == "bundled" and fd.provenance()["sliced_from"]["dataset"] == "reuters21578"
    for split in ("train", "test"):
        pos = {t: i for i, t in enumerate(base.split(split).texts)}
        np.testing.assert_array_equal(fd.split(split), fb.split(split)[[pos[t] for t in ds.split(split).texts]])


@pytest.mark.app
def test_the_app_offers_and_describes_the_derived_set():
    from test_app_pages import _app, _ok

    at = _app()
    offered = at.selectbox(key="home_dataset").options
    assert offered[len(data.available()):] == list(data.DERIVED_PRESETS) + list(data.XMTC_PRESETS)
    at.selectbox(key="home_dataset").set_value("reuters21578-T10-IR50").run()
    _ok(at)
    assert any("**3,531** training (pool)" in c.value and "Derived from `reuters21578`" in c.value for c in at.caption)
    at.switch_page("pages/dataset_explorer.py").run()
    at.selectbox(key="dx_dataset").set_value("reuters21578-T10-IR50").run()
    _ok(at)
    assert any("3,531 samples, 10 labels. Derived from `reuters21578`" in c.value for c in at.caption)
