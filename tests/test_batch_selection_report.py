"""The batch-selection report (issue 17 item 6, issue 13 item 6): a run cache that never unpickles,
verdicts by the reproduction report's rules (Holm-adjusted paired tests, stated families, rank tables,
bootstrap intervals), and the sentences that quote numbers computed from the tables."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlal_core.experiments import batch_selection_cache as cache
from mlal_core.experiments import batch_selection_verdicts as V
from mlal_core.experiments.batch_selection import METRICS, BatchSelectionResult

ROOT = Path(__file__).resolve().parents[1]
VERSION = {"fingerprint": "abc123abc123", "git": "deadbee"}


def _result(seed: int = 0) -> BatchSelectionResult:
    rng = np.random.default_rng(seed)
    runs = pd.DataFrame({"sampler": ["random", "uncertainty"], "seed": np.array([0, 0], dtype=np.int64),
                         "best_epoch": np.array([3, 4], dtype=np.int64), "macro_auc": rng.random(2),
                         "ranking_loss": [0.1, np.nan], "hamming_loss": rng.random(2), "flag": [True, False],
                         "note": ["a", None]})
    curves = pd.DataFrame({"sampler": ["random"] * 4, "seed": np.zeros(4, dtype=np.int64),
                           "epoch": np.arange(1, 5), "split": ["valid", "test"] * 2, "macro_auc": rng.random(4)})
    hist = [{"epoch": 5, "p": rng.random(7), "w": rng.random(7), "s": 100.0, "U": rng.random((7, 3)),
             "C": rng.random((3, 3)), "note": "warm", "n_bins": np.int64(10), "gone": None},
            {"epoch": 6, "p": rng.random(7), "s": float("nan")}]
    return BatchSelectionResult(dataset="yeast", samplers=["random", "uncertainty"], seeds=[0], epochs=4,
                                curves=curves, runs=runs, histories={"uncertainty": hist}, seconds=1.25,
                                label_names=["a", "b", "c"], code_version=dict(VERSION))


def _assert_same(a: BatchSelectionResult, b: BatchSelectionResult) -> None:
    pd.testing.assert_frame_equal(a.runs, b.runs)
    pd.testing.assert_frame_equal(a.curves, b.curves)
    assert (a.dataset, a.samplers, a.seeds, a.epochs, a.seconds, a.label_names, a.code_version) == (
        b.dataset, b.samplers, b.seeds, b.epochs, b.seconds, b.label_names, b.code_version)
    assert list(a.histories) == list(b.histories)
    for ha, hb in zip(a.histories["uncertainty"], b.histories["uncertainty"], strict=True):
        assert set(ha) == set(hb)
        for k, v in ha.items():
            if isinstance(v, np.ndarray):
                assert hb[k].dtype == v.dtype and np.array_equal(hb[k], v)
            elif isinstance(v, float) and np.isnan(v):
                assert np.isnan(hb[k])
            else:
                assert hb[k] == v and type(hb[k]) is type(v.item() if isinstance(v, np.generic) else v)


# ============================================================================ the cache
def test_cache_round_trip_is_exact(tmp_path):
    res = _result()
    json_path, npz_path = cache.write_cached_result(tmp_path / "yeast_s1_e4", res)
    assert (json_path.name, npz_path.name) == ("yeast_s1_e4.json", "yeast_s1_e4.npz")
    meta = json.loads(json_path.read_text())
    assert meta["format"] == cache.CACHE_FORMAT and meta["code_version"] == VERSION
    assert meta["npz_sha256"] == hashlib.sha256(npz_path.read_bytes()).hexdigest()
    back, why = cache.read_cached_result(tmp_path / "yeast_s1_e4", VERSION["fingerprint"])
    assert why == "" and back is not None
    _assert_same(res, back)
    with np.load(npz_path, allow_pickle=False) as z:  # every array is plain data
        assert all(z[k].dtype != object for k in z.files)


def test_cache_refuses_objects_it_cannot_store_as_plain_data(tmp_path):
    res = _result()
    res.histories["uncertainty"][0]["bad"] = {"a": 1}
    with pytest.raises(TypeError, match="'bad' is a dict; only numbers, text and arrays"):
        cache.write_cached_result(tmp_path / "x", res)


class _Planted:
    """Unpickling this creates the marker file: the proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _plant(stem: Path, marker: Path) -> None:
    """A pickle under every name the cache has used, and a well-formed JSON whose NPZ (hash matching)
    holds a pickled object array."""
    payload = pickle.dumps(_Planted(marker))
    for suffix in (".pkl", ".npz"):
        stem.with_name(stem.name + suffix).write_bytes(payload)
    stem.with_name(stem.name + ".json").write_bytes(payload)


def test_a_planted_pickle_is_never_executed_and_the_run_is_rebuilt(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    stem = tmp_path / "yeast_s1_e4"
    _plant(stem, marker)
    # pickle.loads of the planted file would create the marker: the premise of the test
    pickle.loads((tmp_path / "yeast_s1_e4.pkl").read_bytes())
    assert marker.exists()
    marker.unlink()

    calls = []

    def run():
        calls.append(1)
        return _result(1)

    res, reused = cache.cached_run(stem, VERSION, run)
    assert not marker.exists()
    assert calls == [1] and reused is False
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["yeast_s1_e4.json: not a readable cache (UnicodeDecodeError): running again"]
    # the rebuilt cache is ours now, and is reused
    again, reused = cache.cached_run(stem, VERSION, lambda: pytest.fail("ran although the cache is current"))
    assert reused is True and not marker.exists()
    _assert_same(res, again)


def test_an_npz_holding_a_pickled_object_array_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    stem = tmp_path / "yeast_s1_e4"
    cache.write_cached_result(stem, _result())
    json_path, npz_path = cache.cache_files(stem)
    # swap one table column for a pickled object array, and make the JSON's hash match the new file
    with np.load(npz_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["runs__0"] = np.array([_Planted(marker), _Planted(marker)], dtype=object)
    np.savez(npz_path, allow_pickle=True, **arrays)
    meta = json.loads(json_path.read_text())
    meta["npz_sha256"] = hashlib.sha256(npz_path.read_bytes()).hexdigest()
    json_path.write_text(json.dumps(meta))
    res, why = cache.read_cached_result(stem, VERSION["fingerprint"])
    assert res is None and why == "yeast_s1_e4.json: damaged cache (ValueError)"
    assert not marker.exists()


def test_an_old_pickle_cache_alone_is_reported_not_opened(tmp_path):
    marker = tmp_path / "PWNED"
    (tmp_path / "yeast_s3_e50.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    res, why = cache.read_cached_result(tmp_path / "yeast_s3_e50", VERSION["fingerprint"])
    assert res is None and "yeast_s3_e50.pkl: an old pickle cache, never loaded" in why
    assert not marker.exists()


@pytest.mark.parametrize("damage, reason", [
    ("stale", "made by code abc123abc123, now 000000000000"),
    ("npz_swapped", "yeast_s1_e4.npz does not match yeast_s1_e4.json"),
    ("foreign_json", "not a batch-selection run cache"),
    ("old_layout", "cache layout 0, this code reads 1"),
    ("truncated_npz", "yeast_s1_e4.npz does not match"),
    ("no_npz", "yeast_s1_e4.npz unreadable (FileNotFoundError)"),
])
def test_stale_foreign_or_damaged_caches_are_ignored_with_one_line(tmp_path, damage, reason):
    stem = tmp_path / "yeast_s1_e4"
    json_path, npz_path = cache.write_cached_result(stem, _result())
    fingerprint = VERSION["fingerprint"]
    meta = json.loads(json_path.read_text())
    if damage == "stale":
        fingerprint = "0" * 12
    elif damage == "npz_swapped":
        cache.write_cached_result(tmp_path / "other", _result(5))
        npz_path.write_bytes((tmp_path / "other.npz").read_bytes())
    elif damage == "foreign_json":
        json_path.write_text(json.dumps({"format": "something else"}))
    elif damage == "old_layout":
        json_path.write_text(json.dumps({**meta, "version": 0}))
    elif damage == "truncated_npz":
        npz_path.write_bytes(npz_path.read_bytes()[:100])
    else:
        npz_path.unlink()
    res, why = cache.read_cached_result(stem, fingerprint)
    assert res is None and why.startswith("yeast_s1_e4.json: ") and reason in why and "\n" not in why


# ============================================================================ verdicts
SEEDS = range(5)
BASE = np.array([0.70, 0.72, 0.68, 0.71, 0.69])
D_P020 = np.array([0.02, 0.01, 0.03, 0.015, 0.005])  # one-sample t-test p = 0.0205 (n = 5)
STRONG = np.array([0.050, 0.051, 0.049, 0.0502, 0.0498])  # p < 1e-6


def _table(values: dict[str, np.ndarray], dataset: str = "d1") -> pd.DataFrame:
    """One dataset; each sampler's Macro-AUC per seed, its losses 1 - that (the same paired differences,
    the other direction)."""
    rows = []
    for sampler, v in values.items():
        for seed in SEEDS:
            rows.append({"dataset": dataset, "sampler": sampler, "seed": seed, "macro_auc": float(v[seed]),
                         "ranking_loss": 1.0 - float(v[seed]), "hamming_loss": 1.0 - float(v[seed])})
    return pd.DataFrame(rows)


def _synthetic() -> pd.DataFrame:
    """Unadjusted, the uncertainty sampler beats every baseline on every metric (p = 0.0205 or far less)
    and C helps (p = 0.0205); after Holm only the three comparisons with random survive."""
    u = BASE + D_P020
    values = {"uncertainty": u, "random": u - STRONG, **{b: BASE for b in V.PAPER_BASELINES[1:]},
              V.ABLATION_SAMPLER: BASE}
    return _table(values)


def test_the_printed_verdicts_are_the_holm_adjusted_ones():
    table = _synthetic()
    # the premise: every comparison is significant unadjusted, in the subject's favour (old rule: "holds")
    wide = table.pivot(index="seed", columns="sampler")
    for m in METRICS:
        for other in [*V.PAPER_BASELINES, V.ABLATION_SAMPLER]:
            d = wide[(m, "uncertainty")] - wide[(m, other)]
            assert (d > 0).all() if m == "macro_auc" else (d < 0).all()
            assert sps.ttest_rel(wide[(m, "uncertainty")], wide[(m, other)]).pvalue < 0.05
    p = sps.ttest_1samp(D_P020, 0).pvalue
    main, abl = V.batch_claim_verdicts(table)
    # main: 15 comparisons; the 3 with random survive, the 12 at p = 0.0205 become 12 p > 0.05
    assert main.verdict == "partly" and abl.verdict == "does not hold"
    fam = main.comparisons
    assert len(fam) == 15 and (fam["family_size"] == 15).all()
    assert fam.loc[fam["other"] == "random", "better_adj"].all()
    others = fam[fam["other"] != "random"]
    assert others["p_adj"].to_numpy() == pytest.approx(np.full(12, 12 * p))
    assert not others["better_adj"].any() and not fam["worse_adj"].any()
    assert set(fam["metric"]) == set(METRICS)
    assert "15 comparison(s), Holm step-down" in main.family
    assert abl.comparisons["p_adj"].to_numpy() == pytest.approx(np.full(3, 3 * p))
    md = V.verdicts_section([main, abl])
    rows = [ln for ln in md.splitlines() if ln.startswith("| Uncertainty batch selection")]
    assert len(rows) == 2
    assert "| partly |" in rows[0] and "| holds |" not in rows[0]
    assert "| does not hold |" in rows[1] and "| holds |" not in rows[1]
    assert "**Verdict: partly** (on Holm-adjusted p-values)" in md
    # every p-value has its effect size and interval beside it, and a rank table is beside the verdict
    assert "Mean rank over seeds (1 = best)" in md and "| d1 | Hamming loss | 5 |" in md
    assert md.count("Holm p = ") == md.count("\u0394 ") == 15 + 3


def test_losses_count_lower_as_better():
    """The subject's losses are lower (better) and its Macro-AUC higher: both favour it."""
    u = BASE + STRONG
    main, _ = V.batch_claim_verdicts(_table({"uncertainty": u, **{b: BASE for b in V.PAPER_BASELINES}}))
    assert main.verdict == "holds"
    loss = main.comparisons[main.comparisons["metric"] != "macro_auc"]
    assert (loss["mean_diff"] < 0).all() and loss["better_adj"].all()
    assert (main.ranks["uncertainty"] == 1.0).all()


def test_worse_than_one_baseline_does_not_hold():
    u = BASE + STRONG
    main, _ = V.batch_claim_verdicts(_table({"uncertainty": u, "random": u + STRONG,
                                             **{b: BASE for b in V.PAPER_BASELINES[1:]}}))
    assert main.verdict == "does not hold"
    assert main.comparisons.loc[main.comparisons["other"] == "random", "worse_adj"].all()


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="lacks the column\\(s\\) hamming_loss"):
        V.batch_claim_verdicts(_synthetic().drop(columns="hamming_loss"))


def test_the_rules_name_the_family_and_the_words():
    rules = V.verdict_rules_markdown(0.05, 3)
    for text in ("Holm's step-down method, one family per claim", "Holm-adjusted p-values",
                 "paired bootstrap over seeds", "**holds**", "**partly**", "**does not hold**",
                 "paired by seed (3 seeds here, each with the same", "5 x datasets x 3 comparisons", "lower is better"):
        assert text in rules
    assert "One seed" not in rules and "One seed: no paired test is defined" in V.verdict_rules_markdown(0.05, 1)


# ============================================================================ computed sentences
def test_the_papers_random_rank_is_quoted_per_model():
    s = V.paper_rank_sentence("random")
    assert s == ("The paper's Table 3 (average Macro-AUC rank) ranks random 5.00 under CLIF (last of 6) and "
                 "4.46 under DELA (5th of 6; last: balance 5.38).")


def test_std_range_is_computed_from_the_summary():
    summ = pd.DataFrame({"dataset": ["scene", "scene", "yeast"], "sampler": ["balance", "random", "random"],
                         "macro_auc_std": [0.00031, 0.0015, 0.0146]})
    assert V.std_range_sentence(summ) == ("The seed-to-seed std of the test Macro-AUC ranges from 0.0003 (scene, "
                                          "balance) to 0.0146 (yeast, random).")
    assert "not defined (one seed)" in V.std_range_sentence(summ.assign(macro_auc_std=np.nan))


def test_the_committed_summary_gives_the_corrected_statements():
    """On the committed tables the std's lower end is 0.0003 (not 0.002)."""
    summ = pd.read_csv(ROOT / "reports" / "batch_selection" / "summary_best.csv")
    assert re.search(r"ranges from 0\.0003 \(", V.std_range_sentence(summ))


def test_findings_quote_ranks_and_convergence_from_the_tables():
    summ = pd.DataFrame({
        "dataset": ["a", "a", "b", "b"], "sampler": ["random", "uncertainty"] * 2,
        "macro_auc_mean": [0.8, 0.9, 0.7, 0.6], "macro_auc_std": [0.01, 0.02, 0.03, 0.04],
        **{f"{m}_rank": [2, 1, 1, 2] for m in METRICS}})
    conv = pd.DataFrame({"random": [10, 5], "uncertainty": [12, np.nan]}, index=pd.Index(["a", "b"], name="dataset"))
    md = V.findings_markdown(summ, summ, [], convergence=conv)
    assert ("Macro-AUC (higher is better): uncertainty has average rank 1.50 (1st on a; 2nd on b); best average "
            "rank: random, uncertainty 1.50") in md
    assert "uncertainty vs random: a 12 vs 10; b never vs 5 (later on 1, not compared on 1 of 2 sets)" in md
    assert "median absolute difference between two samplers' mean test Macro-AUC on the same dataset is 0.1000" in md


def test_the_hand_written_reading_quotes_no_number():
    """Numbers live in the generated sections; the reading cannot drift from the tables."""
    text = (ROOT / "reports" / "batch_selection_reading.md").read_text()
    assert not re.findall(r"\d+\.\d+", text)
    assert "random last (5.00)" not in text and "0.002-0.015" not in text


# ============================================================================ no pickle in mlal_core
def test_mlal_core_reads_no_pickle():
    """No pickle / unsafe loader anywhere in the library (user-chosen folders are read by these)."""
    bad = []
    for path in (ROOT / "mlal_core").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\bimport (c?pickle|dill|shelve|joblib)\b|pickle\.loads?\(|joblib\.load\(", code):
                bad.append(f"{path.name}:{n}")
            if "torch.load(" in code and "weights_only=True" not in code:
                bad.append(f"{path.name}:{n}")
            if "np.load(" in code and "allow_pickle=False" not in code:
                bad.append(f"{path.name}:{n}")
    assert not bad, bad
