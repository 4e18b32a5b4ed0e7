"""The glossary (issue 15, item 4): complete for what the app names, unambiguous, well-formed LaTeX,
``docs/glossary.md`` up to date, links that point at the Glossary page's anchors, and the page itself."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mlal_core import glossary
from mlal_core.batch_selection import available_samplers
from mlal_core.errors import ConfigError
from mlal_core.glossary import GLOSSARY, GROUPS, glossary_link, glossary_markdown, normalise, search, term
from mlal_core.metrics import METRIC_NAMES, evaluate
from mlal_core.strategies import registry
from mlal_core.strategies.detail_columns import DETAIL_COLUMN_HELP

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGE = str(REPO_ROOT / "pages" / "glossary.py")

# ----------------------------------------------------------------------------------------- the table


def test_keys_are_slugs_and_groups_known():
    for t in GLOSSARY:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", t.key), t.key
        assert t.group in GROUPS
        assert t.name and t.short and t.paper, t.key
    assert [t.group for t in GLOSSARY] == sorted((t.group for t in GLOSSARY), key=GROUPS.index)
    assert all(any(t.group == g for t in GLOSSARY) for g in GROUPS), "a group without terms"


def test_every_key_name_and_alias_names_one_term():
    owner: dict[str, str] = {}
    clashes = []
    for t in GLOSSARY:
        for n in {normalise(x) for x in (t.key, t.name, *t.aliases)}:
            if n in owner:
                clashes.append(f"{n!r}: {owner[n]} and {t.key}")
            owner[n] = t.key
    assert not clashes, "names that point at two terms:\n" + "\n".join(clashes)


def test_short_is_one_sentence():
    for t in GLOSSARY:
        # one sentence: it ends with a full stop and no full stop followed by a capital is inside it
        assert t.short.endswith("."), t.key
        assert not re.search(r"\.\s+[A-Z]", t.short), f"{t.key}: more than one sentence: {t.short!r}"


def test_a_bad_key_or_group_is_refused():
    with pytest.raises(ValueError, match="slug"):
        glossary.Term(key="dQ_AB", name="x", group=GROUPS[0], short="x.")
    with pytest.raises(ValueError, match="group"):
        glossary.Term(key="x", name="x", group="Misc", short="x.")


# ------------------------------------------------------------------------------------- completeness


def test_every_metric_the_app_names_has_an_entry():
    Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    P = np.array([[0.9, 0.2, 0.6], [0.3, 0.7, 0.1], [0.8, 0.4, 0.2], [0.1, 0.3, 0.9]])
    computed = set(evaluate(Y, P, tuned_threshold=0.3))
    names = set(METRIC_NAMES) | set(METRIC_NAMES.values()) | computed
    missing = []
    for n in sorted(names):
        try:
            term(n)
        except ConfigError:
            missing.append(n)
    assert not missing, f"metrics without a glossary entry: {missing}"


def test_every_registered_strategy_and_sampler_has_an_entry():
    names = []
    for info in registry.available():
        names += [info.name, info.display_name.split(" (")[0]]
    names += available_samplers()
    missing = []
    for n in names:
        try:
            term(n)
        except ConfigError:
            missing.append(n)
    assert not missing, f"strategies / samplers without a glossary entry: {missing}"
    assert term("crab").key == "crab" and term("coreset").key == "core-set" and term("Core-Set").key == "core-set"


def test_every_abbreviated_score_column_has_an_entry():
    # the details columns named by an abbreviation (an upper-case letter: EC, dQ_AB, SLCI, LCI ...)
    abbreviated = [c for c in DETAIL_COLUMN_HELP if re.search(r"[A-Z]", c)]
    assert {"EC", "dQ", "dQ_AB", "SLCI", "PFD", "LCI"} <= set(abbreviated)
    missing = []
    for c in abbreviated:
        try:
            term(c)
        except ConfigError:
            missing.append(c)
    assert not missing, f"score columns without a glossary entry: {missing}"


@pytest.mark.parametrize("name", [
    "micro-F1", "macro-F1", "P@3", "nDCG@5", "Hamming loss", "MeanIR", "IRLbl", "CorrAvg", "A", "NegA", "z",
    "tau", "U*", "dQ", "dQ_AB", "BEMPS", "hard-to-learn", "conflicting", "AULC", "SLCI", "PFD", "EC",
    "label coverage", "label entropy", "BALD", "entropy", "MMC", "BADGE", "Core-Set", "DAL", "CVIRS", "AUDI",
    "ALPS", "BESRA", "CoMAL", "CRAB", "Holm adjustment", "bootstrap CI", "X'", "Z_t", "asymmetric pairs",
    "exclusive pairs", "top-up", "Jaccard overlap", "percentile", "LC", "LCI", "t-SNE", "UMAP", "k-means++",
])
def test_the_terms_the_issue_names_are_there(name):
    assert term(name).name


# ------------------------------------------------------------------------------------- hand-checked


def test_hand_checked_entries():
    meanir = term("MeanIR")
    assert meanir.key == "meanir" and "Charte et al. 2015" in meanir.paper
    assert r"\frac{1}{|K_+|}\sum_{j \in K_+}\mathrm{IRLbl}_j" in meanir.formula and "n_j > 0" in meanir.formula
    assert term("IRLbl").formula == r"\mathrm{IRLbl}_j = \frac{\max_k n_k}{n_j}"
    tau = term("tau")
    assert r"\min\left(1,\ \mu_{\mathrm{NegA}} + 2\sigma_{\mathrm{NegA}}\right)" in tau.formula
    assert r"Z_0 \left(1 - t/T\right)^2" in term("Z_t").formula
    assert r"\hat A_{mn}\,\Delta Q_m(x, x')" in term("dQ_AB").formula
    assert r"\alpha_c = 2" in term("Ahat").formula
    assert r"\mathbb{1}\left[k_j(x) > \bar k_j\right] - \mathrm{LC}" in term("SLCI").formula
    assert r"\bar p_j(x) > 0.5" in term("y*").formula and r"\max_j \bar p_j(x) < 0.5" in term("hard_to_learn").formula
    assert r"R(y) = 2^{y} - 1" in term("EC").formula
    # the equation each entry cites is the paper's own number
    cites = {"A": "CRAB Eq. 8", "NegA": "CRAB Eq. 9", "dQ_AB": "CRAB Eq. 12-13", "Ahat": "CRAB Eq. 13",
             "y*": "CRAB Eq. 10", "beta scoring rule": "CRAB Eq. 5-7", "SLCI": "CoMAL Eq. 7", "PFD": "CoMAL Eq. 8",
             "CoMAL": "CoMAL Eq. 9", "EC": "BEAL Eq. 1, 2, 7 and 8", "BEAL": "Eq. 9", "SupCon": "CoMAL Eq. 3",
             "micro_f1": "XMTC study Eq. 1-3", "BALD": "Houlsby et al. 2011", "Holm": "Holm 1979",
             "selection pressure": "Zhou et al. Eq. 9-11", "C": "Zhou et al. Eq. 6", "MC dropout": "BEAL Eq. 6"}
    wrong = {k: term(k).paper for k, v in cites.items() if v not in term(k).paper}
    assert not wrong, wrong


# ------------------------------------------------------------------------------------------ lookup


def test_lookup_ignores_case_underscores_and_blanks():
    assert term("dQ_AB") is term("dq-ab") is term("DQ AB") is term(" dq_ab ")
    assert term("micro_f1") is term("Micro-F1") is term("micro f1")
    assert term("MeanIR of the selected batch").key == "meanir-selected"
    assert term("Hard-to-learn samples in the unlabelled pool").key == "hard-to-learn"


def test_an_unknown_term_names_the_close_ones():
    with pytest.raises(ConfigError, match=r"no term 'dQ_ABB'.*did you mean 'dq-ab'") as err:
        term("dQ_ABB")
    assert "GLOSSARY" in str(err.value)
    with pytest.raises(ConfigError, match="no term 'zzzz'"):
        term("zzzz")


def test_search():
    assert len(search("")) == len(GLOSSARY)
    assert search("dQ_AB")[0].key == "dq-ab"  # the exact name first
    keys = [t.key for t in search("exclusive")]
    assert {"exclusive-pair", "conflicting", "tau"} <= set(keys)
    assert "hamming-loss" not in keys
    assert search("no such words here") == []
    assert [t.key for t in search("holm")][0] == "holm"


def test_glossary_link():
    assert glossary_link("dQ_AB") == "[dQ_AB (correlation-aware expected score change)](glossary#dq-ab)"
    assert glossary_link("tau", "τ") == "[τ](glossary#tau)"
    assert glossary_link("meanir", "[x]") == r"[\[x\]](glossary#meanir)"
    with pytest.raises(ConfigError, match="no term"):
        glossary_link("nope")


# ------------------------------------------------------------------------------------------ LaTeX

#: the commands the formulas may use: read by KaTeX (the app) and by matplotlib's mathtext alike (so not
#: \le, \ge, \iff, \lVert or \textstyle, which mathtext lacks); a typo such as \frca is not one
KATEX_COMMANDS = {
    "Delta", "Leftrightarrow", "Rightarrow", "alpha", "approx", "arg", "bar", "beta", "bigcup", "cap", "cdot",
    "circ", "cos", "cup", "delta", "dots", "ell", "epsilon", "eta", "exists", "exp", "frac", "gamma", "geq", "hat",
    "in", "infty", "int", "kappa", "lambda", "left", "leftarrow", "leq", "lfloor", "ln", "log", "mathbb",
    "mathcal", "mathrm", "max", "mid", "min", "mu", "ne", "neq", "nu", "omega", "operatorname", "otimes",
    "partial", "phi", "pi", "prod", "propto", "psi", "qquad", "quad", "rfloor", "rho", "right", "setminus",
    "sigma", "sim", "sqrt", "subset", "sum", "tau", "text", "theta", "tilde", "times", "top", "vec", "wedge",
    "xi", "zeta",
}
_DELIMITERS = {"(", ")", "[", "]", "|", ".", r"\{", r"\}", r"\|", r"\lfloor", r"\rfloor"}


def latex_problems(formula: str) -> list[str]:
    """What is malformed in a KaTeX formula: unbalanced braces or \\left / \\right, unknown commands,
    math delimiters ($) inside it."""
    problems = []
    if "$" in formula:
        problems.append("contains $")
    depth = 0
    for m in re.finditer(r"\\[A-Za-z]+|\\.|[{}]", formula):
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                problems.append(f"unmatched }} at {m.start()}")
                depth = 0
        elif re.fullmatch(r"\\[A-Za-z]+", tok) and tok[1:] not in KATEX_COMMANDS:
            problems.append(f"unknown command {tok}")
    if depth:
        problems.append(f"{depth} unclosed {{")
    lefts = re.findall(r"\\left(?![A-Za-z])(\\[A-Za-z]+|\\.|.)", formula)
    rights = re.findall(r"\\right(?![A-Za-z])(\\[A-Za-z]+|\\.|.)", formula)
    if len(lefts) != len(rights):
        problems.append(f"{len(lefts)} \\left but {len(rights)} \\right")
    problems += [f"bad delimiter \\left{d}" for d in lefts + rights if d not in _DELIMITERS]
    return problems


def test_the_checker_finds_malformed_latex():
    assert latex_problems(r"\frac{a}{b} + \left(x\right)") == []
    assert latex_problems(r"\frca{a}{b}") == [r"unknown command \frca"]
    assert latex_problems(r"\frac{a}{b") == ["1 unclosed {"]
    assert latex_problems(r"a}") == ["unmatched } at 1"]
    assert latex_problems(r"\left( x") == [r"1 \left but 0 \right"]
    assert latex_problems(r"$x$") == ["contains $"]
    assert latex_problems(r"\{x\}") == []  # escaped braces are text, not groups
    assert latex_problems(r"a \leftarrow b \Rightarrow c") == []  # not a \left
    assert latex_problems(r"a \le b") == [r"unknown command \le"]  # KaTeX reads it, mathtext does not


@pytest.mark.parametrize("t", [t for t in GLOSSARY if t.formula], ids=lambda t: t.key)
def test_every_formula_is_well_formed_latex(t):
    assert latex_problems(t.formula) == []


def test_every_formula_parses_with_matplotlib_mathtext():
    """A second, independent parser where matplotlib is installed (the formulas keep to the LaTeX both
    KaTeX and mathtext read: \\leq not \\le, \\Leftrightarrow not \\iff)."""
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    for t in GLOSSARY:
        if t.formula:
            parser.parse(f"${t.formula}$")


# ------------------------------------------------------------------------------------------ docs


def test_docs_glossary_md_is_up_to_date():
    on_disk = (REPO_ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    assert on_disk == glossary_markdown(), (
        "docs/glossary.md is out of date: run `python3 -m mlal_core.glossary > docs/glossary.md`")


def test_markdown_holds_every_term_with_its_anchor_and_formula():
    md = glossary_markdown()
    for t in GLOSSARY:
        assert f'### {t.name} <a id="{t.key}"></a>' in md
        if t.formula:
            assert f"$$\n{t.formula}\n$$" in md
    assert md.count("\n## ") == len(GROUPS)


# ------------------------------------------------------------------------------------------ the page


def _page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(PAGE, default_timeout=60).run()


def _formulas(at) -> list[str]:
    """The LaTeX of the page's st.latex elements (AppTest gives them inside $$ ... $$)."""
    return [x.value.removeprefix("$$\n").removesuffix("\n$$") for x in at.latex]


def _clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.app
def test_page_shows_every_term_with_its_anchor_and_formula():
    at = _page()
    _clean(at)
    assert [(h.value, h.proto.anchor) for h in at.subheader] == [(t.name, t.key) for t in GLOSSARY]
    assert _formulas(at) == [t.formula for t in GLOSSARY if t.formula]
    assert [h.value for h in at.header] == list(GROUPS)
    assert all(not h.proto.anchor for h in at.header)  # group headers take no anchor a key could clash with
    assert f"{len(GLOSSARY)} of {len(GLOSSARY)} terms." in [c.value for c in at.caption]


@pytest.mark.app
def test_page_search_filters_the_terms():
    at = _page()
    at.text_input(key="glossary_search").input("MeanIR").run()
    _clean(at)
    shown = [h.proto.anchor for h in at.subheader]
    assert shown == [t.key for t in GLOSSARY if t in search("MeanIR")]  # the page keeps the glossary's order
    assert {"meanir", "meanir-selected"} <= set(shown) and "hamming-loss" not in shown
    assert r"\mathrm{MeanIR} = \frac{1}{|K_+|}\sum_{j \in K_+}\mathrm{IRLbl}_j,\qquad K_+ = \{j : n_j > 0\}" in (
        _formulas(at))
    at.text_input(key="glossary_search").input("no such words here").run()
    _clean(at)
    assert not at.subheader and "No term matches" in at.info[0].value


@pytest.mark.app
def test_the_link_path_is_the_url_streamlit_gives_the_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string("import streamlit as st\nst.text(st.Page(st.session_state['page']).url_path)\n")
    at.session_state["page"] = PAGE
    at.run()
    assert [t.value for t in at.text] == [glossary.GLOSSARY_PAGE]
    source = (REPO_ROOT / "app.py").read_text(encoding="utf-8")
    assert '("pages/glossary.py", "Glossary"' in source, "app.py does not register the Glossary page"
