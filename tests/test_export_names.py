"""Names, never indices, and who labelled what, in every table and export of a session (issue 14).

The sessions run on yeast with its labels renamed to words without a digit (``alpha`` ... ``november``),
so a label index left in a table is a digit where a name belongs. Fast unit tests of the formatter
(:mod:`mlal_core.session.label_text`) come first; the session tests are ``integration``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_MODEL, subset_dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from mlal_core.session import label_text, tables

NATO = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo",
        "lima", "mike", "november"]
STRATEGIES = ("crab", "besra", "comal", "badge")


# ---------------------------------------------------------------- the formatter
def test_strategy_label_texts_are_named():
    names = ["joy", "anger", "fear", "calm", "awe"]
    # BESRA / CRAB label_dQ: label index: dQ_j, three significant digits
    assert label_text.name_label_values("4: 0.0001064; 1: 3.2e-05; 0: 1", names) == "awe: 0.000106; anger: 3.2e-05; joy: 1"
    assert label_text.name_label_list(3, names) == "calm"
    assert label_text.name_label_list(np.int64(2), names) == "fear"
    assert label_text.name_label_list(2.0, names) == "fear"  # an index column read back from a CSV as floats
    assert label_text.name_label_list("1,4", names) == "anger, awe"
    assert label_text.name_label_pairs("0-1, 2-3", names) == "(joy, anger), (fear, calm)"
    assert label_text.name_ranking("2 > 0", names) == "fear > joy"
    assert label_text.name_pools("label-wise:1,4; negative:0-2; hard-to-learn", names) == (
        "label-wise pool of anger, awe; negatively-correlated pool (predicted exclusive pair (joy, fear)); "
        "hard-to-learn pool")
    assert label_text.name_label_list(None, names) == "" and label_text.name_label_values(np.nan, names) == ""
    # every label column of a details frame, CRAB's reason with it; other columns unchanged
    details = pd.DataFrame({"most_uncertain_label": [4], "top_label": [0], "label_dQ_AB": ["2: 0.5"],
                            "pools": ["label-wise:3"], "reason": ["centroid 2 of U*; from label-wise:3"],
                            "cluster": [2]})
    named = label_text.named_details(details, names).iloc[0].to_dict()
    assert named == {"most_uncertain_label": "awe", "top_label": "joy", "label_dQ_AB": "fear: 0.5",
                     "pools": "label-wise pool of calm", "reason": "centroid 2 of U*; from the label-wise pool of calm",
                     "cluster": 2}
    twins = label_text.with_named_twins(details, names)
    assert list(twins.columns) == ["most_uncertain_label", "most_uncertain_label_named", "top_label", "top_label_named",
                                   "label_dQ_AB", "label_dQ_AB_named", "pools", "pools_named", "reason",
                                   "reason_named", "cluster"]
    assert twins["top_label"].tolist() == [0] and twins["top_label_named"].tolist() == ["joy"]


def test_one_joining_of_label_sets_everywhere():
    names = ["earn", "acq", "grain"]
    row = np.array([1, 0, 1])
    assert label_text.LABEL_SEPARATOR == ", "
    assert tables.label_string(row, names) == label_text.label_set(row, names) == "earn, grain"
    assert tables.label_string(row, None) == "0, 2"
    table = tables.picks_table([5, 9], names, labels=np.array([[1, 0, 1], [0, 0, 0]]),
                               proba=np.array([[0.9, 0.6, 0.1], [0.2, 0.1, 0.7]]))
    assert table["oracle_labels"].tolist() == ["earn, grain", ""]
    assert table["predicted_labels"].tolist() == ["earn, acq", "grain"]
    with pytest.raises(ValueError, match="not a set of these labels"):
        label_text.split_label_set("earn, wheat", names)
    with pytest.raises(ValueError, match="reads as two label sets"):
        label_text.split_label_set("a, b, c", ["a, b", "a", "b", "c"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab ,|", max_size=5).map(lambda t: "x" + t), min_size=1, max_size=6, unique=True),
       st.data())
def test_a_label_set_reads_back_exactly_through_a_csv(names, data):
    """``label_set`` -> CSV -> ``split_label_set`` gives the 0/1 row back, names with commas included
    (unless two label sets share the text, which is refused, never misread)."""
    row = np.array(data.draw(st.lists(st.integers(0, 1), min_size=len(names), max_size=len(names))))
    text = label_text.label_set(row, names)
    buf = io.StringIO()
    pd.DataFrame({"oracle_labels": [text]}).to_csv(buf, index=False)
    back = pd.read_csv(io.StringIO(buf.getvalue()), keep_default_na=False, dtype=str)["oracle_labels"][0]
    try:
        got = label_text.split_label_set(back, names)
    except ValueError as e:
        assert "reads as two label sets" in str(e)
        return
    assert got == np.flatnonzero(row).tolist()


def test_oracle_summary_says_who_labelled_which_round():
    from mlal_core.session.records import RoundRecord

    def rec(t, who, final=False):
        return RoundRecord(round=t, n_labeled=10, metrics={}, selected=None if final else np.array([t]),
                           labels=None if final else np.zeros((1, 2), np.uint8), selection=None, timings={},
                           answered_by=who)

    assert tables.oracle_summary([rec(0, "simulated"), rec(1, "person"), rec(2, None, final=True)]) == {
        "oracle": "mixed", "person_rounds": [1], "simulated_rounds": [0], "unrecorded_rounds": []}
    assert tables.oracle_summary([rec(0, "person")])["oracle"] == "person"
    assert tables.oracle_summary([rec(0, None)])["oracle"] == "not recorded"
    assert tables.oracle_summary([])["oracle"] == "none"


# ---------------------------------------------------------------- sessions
@pytest.fixture(scope="module")
def named_yeast():
    from mlal_core import data
    from mlal_core.data import MultiLabelDataset

    ds = subset_dataset(data.load("yeast"), 300, 80, 150, seed=4)
    return MultiLabelDataset(name="yeast-named", kind=ds.kind, label_names=list(NATO), train=ds.train,
                             valid=ds.valid, test=ds.test, meta=dict(ds.meta), valid_carved=ds.valid_carved)


def _config(strategy: str):
    from mlal_core.session.config import SessionConfig

    params = {"epochs": 2, "embedding_cap": 100} if strategy == "comal" else {}
    return SessionConfig(dataset=None, representation="raw", model_params=dict(FAST_MODEL), strategy=strategy,
                         strategy_params=params, initial_size=30, query_size=8, rounds=2, seed=3)


@pytest.fixture(scope="module")
def sessions(named_yeast, tmp_path_factory):
    """A CRAB, a BESRA, a CoMAL and a BADGE session in one store. CRAB's round 1 is answered by a
    person whose labels are the complement of the ground truth (so they differ from it)."""
    from mlal_core.session.loop import ActiveLearningSession
    from mlal_core.session.store import SessionStore

    store = SessionStore(tmp_path_factory.mktemp("names") / "s.sqlite")
    out = {}
    for strategy in STRATEGIES:
        s = ActiveLearningSession(_config(strategy), dataset=named_yeast, store=store)
        if strategy == "crab":
            s.commit(s.propose())
            pending = s.propose()
            person = 1 - named_yeast.train.Y[pending.selected]
            s.commit(pending, person)
            s.person_labels = person  # kept for the assertions below
        s.run()
        out[strategy] = s
    return store, out


def _zip(store, session_id):
    from mlal_core.inspection.session_zip import session_export_zip

    return zipfile.ZipFile(io.BytesIO(session_export_zip(store, session_id, figure_formats=("json",),
                                                         default_figures=False)))


def _csv(zf, member):
    return pd.read_csv(io.BytesIO(zf.read(member)), keep_default_na=False, dtype=str)


#: columns of a picks table that hold a set of labels (names joined by ", ")
SET_COLUMNS = ("oracle_labels", "predicted_labels", "detail_labels", "top_label", "most_uncertain_label")
#: columns whose text, once the label names are taken out, holds no number at all
WORD_COLUMNS = ("pools", "label_pairs", "label_ranking")


def _no_indices(table: pd.DataFrame, names, where: str) -> int:
    """Assert that every label column of ``table`` holds names only; return how many cells were checked."""
    names_re = re.compile("|".join(sorted(map(re.escape, names), key=len, reverse=True)))
    checked = 0
    for col in table.columns:
        for i, value in enumerate(table[col].tolist()):
            value = "" if value is None or (isinstance(value, float) and np.isnan(value)) else value
            cell = f"{where} {col}[{i}] = {value!r}"
            if col in SET_COLUMNS:
                label_text.split_label_set(str(value), names)  # raises on an index
            elif col in WORD_COLUMNS:
                assert not re.search(r"\d", names_re.sub("", str(value))), cell
            elif col in ("label_dQ", "label_dQ_AB"):
                heads = [item.split(":")[0].strip() for item in str(value).split(";") if item.strip()]
                assert heads and set(heads) <= set(names), cell
            elif col == "reason" and "from " in str(value):
                assert not re.search(r"\d", names_re.sub("", str(value).split("from ", 1)[1])), cell
            elif col == "predicted_top":
                assert {w.rsplit(" ", 1)[0] for w in str(value).split(", ")} <= set(names), cell
            else:
                continue
            checked += 1
    return checked


@pytest.mark.integration
def test_every_exported_table_names_labels_never_indices(sessions):
    from mlal_core.inspection import round_history as ins

    store, by_strategy = sessions
    for strategy, s in by_strategy.items():
        records = store.load_rounds(s.session_id)
        zf = _zip(store, s.session_id)
        checked = _no_indices(_csv(zf, "picks.csv"), NATO, f"{strategy} picks.csv")
        checked += _no_indices(tables.picks_frame(records, NATO), NATO, f"{strategy} picks_frame")
        for rec in records[:-1]:
            app_table = tables.picks_table(rec.selected, NATO, labels=rec.labels, proba=rec.pick_proba,
                                           details=rec.selection.details)
            checked += _no_indices(app_table, NATO, f"{strategy} picks_table round {rec.round}")
            checked += _no_indices(ins.picks_table(s, rec.round), NATO, f"{strategy} inspector round {rec.round}")
            info = ins.pick_explanation(s, rec.round, int(rec.selected[0]))
            label_text.split_label_set(info["labels"], NATO)
            assert not re.search(r"\d", info["pools"])
        assert checked >= 4 * len(records[0].selected)
        # session.json: the strategy's indices stay as data, with their names beside them
        doc = json.loads(zf.read("session.json"))
        for r in doc["rounds"][:-1]:
            assert [label_text.split_label_set(t, NATO) for t in r["labels_named"]] == [
                np.flatnonzero(row).tolist() for row in r["labels"]]
            for d in r["details"]:
                for col in set(d) & set(label_text.LABEL_COLUMNS):
                    assert f"{col}_named" in d, (strategy, col)
                _no_indices(pd.DataFrame([{k.removesuffix("_named"): v for k, v in d.items()
                                           if k.endswith("_named")}]), NATO, f"{strategy} session.json")
        rounds = _csv(zf, "rounds.csv")
        assert not ({"labels", "top_label", "pools"} & set(rounds.columns))
    # the label columns that matter were really there
    crab_picks = tables.picks_frame(store.load_rounds(by_strategy["crab"].session_id), NATO)
    assert {"pools", "detail_labels", "top_label", "label_dQ", "label_dQ_AB"} <= set(crab_picks.columns)
    besra_picks = tables.picks_frame(store.load_rounds(by_strategy["besra"].session_id), NATO)
    assert {"top_label", "label_dQ"} <= set(besra_picks.columns)
    crab_doc = json.loads(_zip(store, by_strategy["crab"].session_id).read("session.json"))
    diag = crab_doc["rounds"][0]["diagnostics"]
    assert diag["kept_labels_named"] == [NATO[j] for j in diag["kept_labels"]]
    assert diag["exclusive_pairs_named"] == [[NATO[m], NATO[n]] for m, n in diag["exclusive_pairs"]]
    assert all(not re.search(r"\d", d["label_name"]) for d in diag["dropped_labels"])
    assert all(not re.search(r"implied by \d|implies \d", d["reason_named"]) for d in diag["dropped_labels"])
    assert all("label_wise_named" in row for row in diag["refined_pool_sources"])


@pytest.mark.integration
def test_exports_say_who_labelled_each_round(sessions):
    store, by_strategy = sessions
    s = by_strategy["crab"]
    records = store.load_rounds(s.session_id)
    person, truth = s.person_labels, s.dataset.train.Y[records[1].selected]
    assert (person != truth).any()
    zf = _zip(store, s.session_id)

    doc = json.loads(zf.read("session.json"))
    assert [r["answered_by"] for r in doc["rounds"]] == ["simulated", "person", None]
    assert doc["rounds"][1]["labels"] == person.tolist()
    assert doc["rounds"][1]["labels_named"] == [", ".join(NATO[j] for j in np.flatnonzero(r)) for r in person]
    for r, rec in zip(doc["rounds"][:2], records):
        proba = np.asarray(r["pick_proba"])
        assert proba.shape == (len(rec.selected), len(doc["label_names"])) == rec.pick_proba.shape
        np.testing.assert_allclose(proba, rec.pick_proba, rtol=0, atol=1e-7)
    assert doc["rounds"][2]["pick_proba"] is None  # the final record picks nothing
    assert doc["oracle"] == {"oracle": "mixed", "person_rounds": [1], "simulated_rounds": [0], "unrecorded_rounds": []}

    rounds = _csv(zf, "rounds.csv")
    assert rounds["answered_by"].tolist() == ["simulated", "person", ""]
    picks = _csv(zf, "picks.csv")
    assert picks.columns[:6].tolist() == ["round", "order", "position", "oracle_labels", "n_labels", "answered_by"]
    assert picks["answered_by"].tolist() == ["simulated"] * 8 + ["person"] * 8
    got = np.zeros((8, len(NATO)), dtype=np.uint8)
    for i, text in enumerate(picks.loc[picks["round"] == "1", "oracle_labels"]):
        got[i, label_text.split_label_set(text, NATO)] = 1
    np.testing.assert_array_equal(got, person)  # the person's answers, not the ground truth
    assert picks.loc[0, "predicted_top"] == tables.predicted_string(records[0].pick_proba[0], NATO)

    manifest = json.loads(zf.read("manifest.json"))
    info = store.session_info(s.session_id)
    assert manifest["feature_source"] == info["feature_source"] == {"representation": "raw", "source": "computed"}
    assert manifest["precision"] == info["config"]["precision"] != "auto"
    assert manifest["oracle"]["oracle"] == "mixed" and manifest["oracle"]["person_rounds"] == [1]
    # a session answered by the simulated oracle only says so
    besra = json.loads(_zip(store, by_strategy["besra"].session_id).read("manifest.json"))
    assert besra["oracle"] == {"oracle": "simulated", "person_rounds": [], "simulated_rounds": [0, 1],
                               "unrecorded_rounds": []}


@pytest.mark.integration
def test_store_csv_export_matches_the_zip(sessions, tmp_path):
    store, by_strategy = sessions
    sid = by_strategy["crab"].session_id
    rounds_path, picks_path = store.export_csv(sid, tmp_path)
    zf = _zip(store, sid)
    pd.testing.assert_frame_equal(pd.read_csv(picks_path, keep_default_na=False, dtype=str), _csv(zf, "picks.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(rounds_path, keep_default_na=False, dtype=str), _csv(zf, "rounds.csv"))


@pytest.mark.integration
def test_percentile_and_rank_say_which_set_they_are_over(sessions):
    from mlal_core.inspection import round_history as ins

    _, by_strategy = sessions
    crab = by_strategy["crab"]
    rec = crab.history[0]
    u_star = len(rec.selection.diagnostics["refined_pool"])
    n_unl = rec.n_unlabeled
    assert u_star < n_unl  # CRAB scores its refined pool only
    scores = rec.selection.scores
    for pos in rec.selected[:3]:
        info = ins.pick_explanation(crab, 0, int(pos))
        s = scores[np.flatnonzero(ins.round_candidates(crab, 0) == pos)[0]]
        rank = int((scores[np.isfinite(scores)] > s).sum()) + 1
        assert info["rank"] == rank and info["n_scored"] == u_star and info["n_unlabeled"] == n_unl
        assert info["scored_set"] == "U*"
        assert info["rank_label"] == "Rank in U*" and info["percentile_label"] == "Percentile in U*"
        among = f"the {u_star} samples of U* (CRAB's refined candidate pool; {n_unl} unlabelled samples in all)"
        assert info["ranked_among"] == among
        assert info["rank_text"] == f"{rank} of {among}"
        assert info["percentile_text"] == f"{info['percentile']:.1f} over {among}"
    assert set(ins.picks_table(crab, 0)["ranked_among"]) == {among}

    # BESRA scores every unlabelled sample: its rank is over all of them, and equals BESRA's own rank
    besra = by_strategy["besra"]
    rec = besra.history[0]
    table = ins.picks_table(besra, 0)
    assert set(table["ranked_among"]) == {f"the {rec.n_unlabeled} unlabelled samples"}
    assert table["score_rank"].tolist() == rec.selection.details["rank"].tolist()
    info = ins.pick_explanation(besra, 0, int(rec.selected[0]))
    assert info["rank_label"] == "Rank in the unlabelled pool"
    assert info["rank_text"] == f"{info['rank']} of the {rec.n_unlabeled} unlabelled samples"
