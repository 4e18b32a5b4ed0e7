"""Glossary: every term the workbench shows, with its formula and its source (``mlal_core.glossary``).

Each entry's header carries the term's key as its anchor, so ``mlal_core.glossary.glossary_link``
can point help texts at ``glossary#<key>``.
"""

from __future__ import annotations

import streamlit as st

from mlal_core import glossary

st.title("Glossary")
st.caption("Every term and abbreviation the workbench shows: one sentence, the formula and where it is defined "
           "(equation numbers are the papers'; METHODS.md's choices are marked [choice]). Help texts link here.")

query = st.text_input("Search", key="glossary_search", placeholder="a term, an abbreviation or a word: dQ_AB, "
                      "MeanIR, exclusive ...", help="Matches names, other spellings, the sentences and the sources.")
found = glossary.search(query)
st.caption(f"{len(found)} of {len(glossary.GLOSSARY)} terms" + (f" match {query.strip()!r}." if query.strip()
                                                                  else "."))
if not found:
    st.info(f"No term matches {query.strip()!r}. Try a shorter word, or clear the search to see every term.")

for group in glossary.GROUPS:
    terms = [t for t in found if t.group == group]
    if not terms:
        continue
    st.header(group, anchor=False, divider="gray")
    for t in terms:
        st.subheader(t.name, anchor=t.key)
        st.markdown(t.short + (f" {t.detail}" if t.detail else ""))
        if t.formula:
            st.latex(t.formula)
        st.caption(f"**Source:** {t.paper}" + (
            "  \n**Also:** " + ", ".join(f"`{a}`" for a in t.aliases) if t.aliases else ""))
