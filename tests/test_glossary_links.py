"""Every page links its terms to the glossary (issue 15, item 4): column help, metric help and each
"What am I looking at?" section carry links ``glossary#<key>``, and every link a page can emit points
at a real entry.

The links are checked three ways: the central helpers (``views.help_with_glossary`` and friends) with
hand-written expectations, a scan of the pages' sources for every glossary name they pass (so a typo
fails here, not as a ConfigError in front of a user), and AppTests of the pages as drawn."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mlal_core.errors import ConfigError
from mlal_core.glossary import GLOSSARY, term
from mlal_core.inspection import views
from mlal_core.strategies.detail_columns import DETAIL_COLUMN_HELP

ROOT = Path(__file__).resolve().parent.parent
PAGE_FILES = sorted((ROOT / "pages").glob("*.py"))
KEYS = {t.key for t in GLOSSARY}
LINK = re.compile(r"\]\(glossary#([a-z0-9-]+)\)")

# ------------------------------------------------------------------------------------- the helpers


def test_help_with_glossary_appends_one_link():
    assert views.help_with_glossary("dQ after CRAB's correlation-aware label weights (Eq. 12-13)", "dQ_AB") == (
        "dQ after CRAB's correlation-aware label weights (Eq. 12-13). "
        "Glossary: [dQ_AB (correlation-aware expected score change)](glossary#dq-ab).")
    # a text with its own full stop gets no second one; an empty text gets the link alone
    assert views.help_with_glossary("Mean labels per sample.", "label_cardinality") == (
        "Mean labels per sample. Glossary: [LC (label cardinality)](glossary#label-cardinality).")
    assert views.help_with_glossary("", "tau") == "Glossary: [\u03c4 (tau, exclusivity threshold)](glossary#tau)."
    assert views.help_with_glossary(None, "MeanIR") == "Glossary: [MeanIR](glossary#meanir)."
    # no entry: the text comes back unchanged
    assert views.help_with_glossary("1 = picked first", "order") == "1 = picked first"
    assert views.help_with_glossary("words", "no such term") == "words"
    assert views.help_with_glossary("words", None) == "words"


def test_linked_name():
    assert views.linked_name("micro_f1", "Micro-F1") == "[Micro-F1](glossary#micro-f1)"
    assert views.linked_name("p@3") == "[p@3](glossary#p-at-k)"
    assert views.linked_name("reason") == "reason"  # no entry: plain text


def test_columns_the_glossary_reads_as_another_term_link_to_the_right_one():
    # term() alone would send AUDI's `uncertainty` column to the uncertainty *batch sampler*
    assert term("uncertainty").key == "uncertainty-batch-selection"
    assert views.glossary_key("uncertainty") == "audi"
    assert views.glossary_key("detail_labels") == views.glossary_key("labels") == "label-wise-pool"
    assert views.glossary_key("k") == "mmc" and views.glossary_key("beta") == "adaptive"
    assert views.glossary_key("s") == views.glossary_key("v") == "cvirs"
    assert views.glossary_key("score_rank") == views.glossary_key("score_percentile") == "percentile"
    assert views.glossary_key("order") is None and views.glossary_key("reason") is None


def test_every_column_mapping_names_a_real_entry():
    bad = {c: k for c, k in views.COLUMN_TERMS.items() if k is not None and k not in KEYS}
    assert not bad, bad


#: the score components of the strategies, with the entry their help must link to (hand-checked
#: against each strategy: BEAL's EC, BEMPS / BESRA's dQ, CRAB's dQ_AB and pools, CoMAL's SLCI / PFD ...)
EXPECTED_COLUMN_KEYS = {
    "score": "score", "EC": "ec", "dQ": "dq", "dQ_AB": "dq-ab", "label_dQ": "dq", "label_dQ_AB": "dq-ab",
    "top_label_dQ": "dq", "SLCI": "slci", "PFD": "pfd", "Q": "comal", "n_above_kbar": "prototype", "LCI": "lci",
    "sm": "separation-margin", "unc": "adaptive", "bald": "bald", "mean_entropy": "bald", "entropy_bits": "entropy",
    "cluster": "kmeans-batch", "distance_to_centroid": "kmeans-batch", "pools": "u-star", "rank": "percentile",
    "hard_to_learn": "hard-to-learn", "conflicting": "conflicting", "label_pairs": "exclusive-pair",
    "p_unlabelled": "dal", "sub_batch": "dal", "units_per_word": "subword", "gradient_norm": "badge",
    "sq_dist_to_earlier_seeds": "kmeans-pp", "dist_to_nearest_labelled": "core-set",
    "cardinality_gap": "audi", "uncertainty": "audi", "loss_top_k": "mmc", "n_predicted": "pseudo-label",
    "pbar_of_that_label": "mean-probability", "predicted_top": "mean-probability",
    "predicted_labels": "pseudo-label", "oracle_labels": "oracle", "answered_by": "oracle",
    "position": "unlabelled-pool",
    # metrics (learning curves, the rounds table, the Active learning page's headline metrics)
    "micro_f1": "micro-f1", "macro_f1": "macro-f1", "p@1": "p-at-k", "p@3": "p-at-k", "ndcg@3": "ndcg-at-k",
    "macro_auc": "macro-auc", "hamming_loss": "hamming-loss", "ranking_loss": "ranking-loss", "lrap": "lrap",
    "micro_f1_tuned": "tuned-threshold", "mean_ir_selected": "meanir-selected", "label_coverage": "label-coverage",
    "batch_coverage": "label-coverage", "labelled_entropy": "evenness", "hard_to_learn_count": "hard-to-learn",
    "conflicting_count": "conflicting",
}


@pytest.mark.parametrize("column,key", sorted(EXPECTED_COLUMN_KEYS.items()))
def test_column_help_links_to_its_entry(column, key):
    text = views.table_column_help(column)
    assert text is not None and LINK.findall(text) == [key], text
    assert key in KEYS


def test_every_described_column_links_where_the_glossary_has_an_entry():
    """Each column with help (a strategy's details, the picks table's own, each metric) keeps its words
    and, when the glossary knows it, ends with exactly one link to a real entry."""
    columns = [*DETAIL_COLUMN_HELP, *views.PICK_COLUMN_HELP, *views.METRIC_HELP]
    for c in columns:
        text = views.table_column_help(c)
        key = views.glossary_key(c)
        assert text, c
        assert LINK.findall(text) == ([key] if key else []), (c, text)
        assert key is None or key in KEYS
    linked = sum(views.glossary_key(c) is not None for c in columns)
    assert linked >= 60, f"only {linked} of {len(columns)} columns link to the glossary"


def test_table_column_helps_leaves_out_columns_without_help():
    helps = views.table_column_helps(["order", "dQ_AB", "no such column", "micro_f1"])
    assert list(helps) == ["order", "dQ_AB", "micro_f1"]
    assert helps["order"] == "1 = picked first"


# ------------------------------------------------------------------------ what the pages pass in

#: calls whose first argument is a glossary key, name or alias: it must resolve with term()
_LINK_CALLS = {"glossary_link", "term"}
#: calls whose argument ``_NAME_ARG[f]`` is a column / glossary name: it must resolve with views.glossary_key
_NAME_ARG = {"help_with_glossary": 1, "_gl": 1, "linked_name": 0, "glossary_key": 0}


def _called(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _strings(node: ast.AST | None) -> list[str]:
    """The string constants of a literal list / tuple / set, or of a dict's values."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if isinstance(node, ast.Dict):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    if isinstance(node, ast.BinOp):  # [...] + (OTHER if x else [])
        return _strings(node.left) + _strings(node.right)
    return []


def glossary_names(source: str) -> dict[str, list[str]]:
    """What a page's source passes to the glossary: ``{"term": [...], "name": [...], "explain": [...]}``.

    ``term``: constant first arguments of ``glossary_link`` and the literal ``terms=`` of ``explain``
    and every literal assigned to a name ending in ``TERMS`` (must resolve with :func:`term`);
    ``name``: constant names given to ``help_with_glossary`` / ``linked_name`` (must resolve with
    ``views.glossary_key``); ``explain``: one entry per ``explain(...)`` call, ``"terms"`` when it
    passes ``terms=``, ``"inline"`` when its text calls ``glossary_link`` itself, else ``"none"``.
    """
    found: dict[str, list[str]] = {"term": [], "name": [], "explain": []}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("TERMS")
                                                for t in node.targets):
            found["term"] += _strings(node.value)
        if not isinstance(node, ast.Call):
            continue
        name = _called(node)
        if name in _LINK_CALLS and node.args and isinstance(node.args[0], ast.Constant):
            found["term"].append(node.args[0].value)
        if name in _NAME_ARG and len(node.args) > _NAME_ARG[name]:
            arg = node.args[_NAME_ARG[name]]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found["name"].append(arg.value)
        if name == "explain":
            terms = next((k.value for k in node.keywords if k.arg == "terms"), None)
            inline = any(isinstance(n, ast.Call) and _called(n) in ("glossary_link", "linked_name")
                         for a in node.args for n in ast.walk(a))
            found["explain"].append("terms" if terms is not None else "inline" if inline else "none")
            found["term"] += _strings(terms)
    return found


def test_the_scan_finds_what_a_page_passes():
    src = '''
SCORE_TERMS = {"crab": "dq-ab"}
widgets.explain("t", "body", [], terms=["meanir", "a"] + (COMAL if x else []))
widgets.explain("u", f"see {glossary_link('tau', 'tau')}")
widgets.explain("v", "no link")
st.metric("x", 1, help=views.help_with_glossary("words", "MeanIR"))
st.metric("y", 1, help=_gl(f"{n} in L", "labelled-set"))
'''
    got = glossary_names(src)
    assert sorted(got["term"]) == ["a", "dq-ab", "meanir", "tau"]
    assert got["name"] == ["MeanIR", "labelled-set"]
    assert got["explain"] == ["terms", "inline", "none"]


@pytest.mark.parametrize("page", PAGE_FILES, ids=lambda p: p.name)
def test_every_glossary_name_a_page_passes_resolves(page):
    found = glossary_names(page.read_text(encoding="utf-8"))
    unknown = []
    for n in found["term"]:
        try:
            term(n)
        except ConfigError:
            unknown.append(n)
    unknown += [n for n in found["name"] if views.glossary_key(n) is None]
    assert not unknown, f"{page.name} links to glossary names that do not exist: {unknown}"


@pytest.mark.parametrize("page", [p for p in PAGE_FILES if p.name != "glossary.py"], ids=lambda p: p.name)
def test_every_what_am_i_looking_at_links_to_the_glossary(page):
    found = glossary_names(page.read_text(encoding="utf-8"))
    assert found["explain"], f"{page.name} has no 'What am I looking at?' section"
    assert "none" not in found["explain"], (
        f"{page.name}: a widgets.explain(...) without glossary links; pass terms=[...] (glossary keys)")


def test_the_pages_link_the_terms_the_issue_names():
    """Spot checks against the glossary author's list: each page links its own terms."""
    by_page = {p.name: set(glossary_names(p.read_text(encoding="utf-8"))["term"]) for p in PAGE_FILES}
    expected = {
        "dataset_explorer.py": {"label-cardinality", "meanir", "irlbl", "corravg", "a", "nega", "label-sets"},
        "correlations.py": {"a", "nega", "z", "asymmetric-pair", "tau", "exclusive-pair", "correlation-drift"},
        "selection_inspector.py": {"dq-ab", "percentile", "u-star", "top-up", "slci", "pfd", "jaccard"},
        "learning_curves.py": {"learning-curve", "aulc", "full-data-score", "holm", "paired-t-test", "wilcoxon"},
        "embeddings.py": {"t-sne", "umap", "prototype", "slci", "pfd", "tf-idf", "minilm"},
        "batch_selection.py": {"uncertainty-batch-selection", "uncertainty-correlation-c", "selection-pressure"},
        "home.py": {"labelled-set", "unlabelled-pool", "round", "score", "query-size", "oracle"},
        "active_learning.py": {"micro-f1", "macro-f1", "round", "oracle", "meanir-selected", "evenness"},
    }
    missing = {p: sorted(keys - by_page[p]) for p, keys in expected.items() if keys - by_page[p]}
    assert not missing, missing


# ------------------------------------------------------------------------------------ as drawn


@pytest.mark.app
def test_dataset_explorer_links_its_explanation_metrics_and_columns():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "dataset_explorer.py"), default_timeout=120).run()
    assert not at.exception and not at.error
    section = at.expander[0]
    assert section.label.startswith("What am I looking at?")
    last = section.markdown[-1].value
    assert last.startswith("Glossary: ") and "[MeanIR](glossary#meanir)" in last
    assert set(LINK.findall(last)) >= {"label-cardinality", "irlbl", "meanir", "a", "nega", "corravg"}
    helps = {m.label: m.proto.help for m in at.metric}
    assert helps["Cardinality"] == ("Mean number of labels per sample. "
                                    "Glossary: [LC (label cardinality)](glossary#label-cardinality).")
    assert LINK.findall(helps["MeanIR"]) == ["meanir"] and LINK.findall(helps["Labels"]) == ["label-coverage"]
    counts = next(d for d in at.dataframe if '"IRLbl"' in d.proto.columns)
    assert "(glossary#irlbl)" in counts.proto.columns
