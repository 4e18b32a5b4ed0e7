"""Embeddings: 2-D t-SNE / UMAP maps of the features or of CoMAL's label-wise contrastive embeddings."""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.sparse as sp
import streamlit as st

from mlal_core import glossary, viz
from mlal_core.errors import MLALError
from mlal_core.inspection import embedding_maps as maps
from mlal_core.inspection import projection
from mlal_core.inspection import round_history as ins
from mlal_core.inspection import views
from ui import widgets
from ui.state import require_session

st.title("Embeddings")
st.caption("Where the labelled, unlabelled and picked samples lie, in a 2-D map of the features or of CoMAL's "
           "label-wise embeddings.")

session = require_session()
names = ins.label_names(session)
K = len(names)
key = ins.session_key(session)
rounds = ins.labelled_rounds(session)
recs = ins.query_records(session)
comal_rounds = maps.comal_rounds(session)

widgets.explain(
    "2-D maps of high-dimensional points",
    """
A sample is a point in a space of many dimensions (its features, or CoMAL's embeddings). **t-SNE** and
**UMAP** draw it in 2-D so that points that are **neighbours** there stay neighbours here. Read clusters
and neighbourhoods, not distances between far-apart clusters or the axes (they mean nothing); a map is
seeded, so the same data give the same picture. (Last two formulas below: t-SNE matches neighbour
probabilities p of the original space with q of the map; UMAP matches fuzzy neighbour weights v of the
original space with w of the map through a cross-entropy.)

* **Features**: the representation the model is trained on (standardised columns for tabular sets,
  sentence embeddings or TF-IDF for text). The text backbones (TextCNN, TextRNN, transformer) read
  token ids, which are no space to measure distances in, so their sessions are drawn with the texts'
  MiniLM embeddings when those are cached, else with TF-IDF of the texts; the caption says which. The
  labels shown are the session's own (the oracle's answers) for labelled samples, and the ground truth
  for unlabelled ones only when the oracle is simulated. The map is fitted once on a fixed sample of the
  pool (every sample ever labelled plus a random rest), so moving the round slider only recolours it:
  watch where each round's picks (black rings) land relative to what was already labelled.
* **CoMAL's label-wise embeddings** (Peng et al., Fig. 1 and 12): CoMAL learns, for every sample *x*
  and label *j*, a small unit vector z_j(x), trained so that samples having label *j* cluster together
  (around the label's **prototype** p_j, a star) while all "label absent" embeddings share one cluster.
  CoMAL picks samples whose embeddings of predicted labels sit **far from their prototype** (PFD) and
  whose number of prototype-like labels disagrees with the average number of labels (SLCI).
  Positives are the labels the oracle gave (labelled samples) or the model predicts (unlabelled ones).
  The module is retrained each round, so each round has its own map.
""",
    latex=[
        (r"p_j = \frac{\sum_{x \in L:\ y_j(x)=1} z_j(x)}{\left\|\sum_{x \in L:\ y_j(x)=1} z_j(x)\right\|},\qquad "
        r"k_j(x) = \cos\big(z_j(x),\ p_j\big),\qquad \bar k_j = \frac{1}{|L|}\sum_{x \in L} k_j(x)"),
        (r"\mathrm{SLCI}(x) = \Big|\sum_j \mathbb{1}[k_j(x) > \bar k_j] - \mathrm{LC}\Big|,\qquad "
        r"\mathrm{PFD}(x) = \sum_{j:\ y^*_j(x)=1} \big(1 - k_j(x)\big),\qquad "
        r"Q = \mathrm{SLCI}^{\gamma}\,\mathrm{PFD}^{1-\gamma}"),
        (r"\text{t-SNE: } \min_{Y} \mathrm{KL}(P \,\|\, Q),\quad p_{j|i} \propto e^{-\|x_i - x_j\|^2 / 2\sigma_i^2},"
        r"\quad q_{ij} \propto (1 + \|y_i - y_j\|^2)^{-1}"),
        (r"\text{UMAP: } \min_{Y} \sum_{i \ne j} \Big[ v_{ij} \log\frac{v_{ij}}{w_{ij}} + (1 - v_{ij})"
         r"\log\frac{1 - v_{ij}}{1 - w_{ij}} \Big],\quad w_{ij} = \big(1 + a\|y_i - y_j\|^{2b}\big)^{-1}"),
    ],
    terms=["t-sne", "umap", "tf-idf", "minilm", "labelled-set", "prototype", "slci", "pfd", "label-cardinality",
           "comal"],
)

sources = ["Features (what the model sees)"]
if comal_rounds:
    sources.append("CoMAL label-wise embeddings")
c1, c2 = st.columns([2, 1])
source = c1.radio("Project", sources, horizontal=True, key="emb_source")
method_label = c2.radio("Method", ["t-SNE", "UMAP"], horizontal=True, key="emb_method",
                        help="t-SNE (scikit-learn) or UMAP (umap-learn); both seeded, results cached. Glossary: "
                             f"{glossary.glossary_link('t-sne')}, {glossary.glossary_link('umap')}.")
method = "tsne" if method_label == "t-SNE" else "umap"
if not comal_rounds:
    st.caption("CoMAL's label-wise embeddings appear here for sessions run with the CoMAL strategy.")


if method == "umap" and not projection.umap_is_warm():
    projection.warm_up_umap(background=True)  # compile now, while the user reads (one thread per process)


def _project(X, extra=None):
    """Project, saying so while it runs: UMAP's one-off compile gets its own note, shown once, only
    when a fit will actually happen, and cleared when the map is ready; otherwise a spinner.
    Returns xy[, extra_xy]."""
    note = st.empty()
    if projection.needs_umap_compile(X, method, 0, extra=extra):
        note.info("UMAP compiles its numerical code the first time it runs in this server (10-30 s, once); "
                  "the map appears when it is done.", icon=":material/hourglass_top:")
        waiting = contextlib.nullcontext()
    else:
        waiting = st.spinner(f"Computing the {method_label} map of "
                             f"{X.shape[0] + (0 if extra is None else len(extra))} points...")
    try:
        with waiting:
            if extra is None:
                return projection.project(X, method, random_state=0)
            return projection.project_with(X, extra, method, random_state=0)
    finally:
        note.empty()


def _round_slider(options: list[int], label: str, fmt, skey: str, default: int | None = None) -> int:
    if len(options) > 1:
        return st.select_slider(label, options=options, value=options[-1] if default is None else default,
                                format_func=fmt, key=skey)
    st.caption(fmt(options[0]))
    return options[0]


# ====================================================================== features
if source.startswith("Features"):
    n_pool = session.n_pool
    c1, c2 = st.columns([1, 1])
    cap_max = int(min(n_pool, 5000))
    cap_min = int(min(cap_max, 100))
    cap = c1.slider("Samples in the map", cap_min, cap_max, int(min(cap_max, 1000)), step=1 if cap_max < 200 else 50,
                    key="emb_cap", help="Every sample ever labelled, then a random rest of the pool. More points: "
                    "a slower first map (cached afterwards).") if cap_max > cap_min else cap_max
    colour_opts = {"role in the round": "role", "one label (positive / negative)": "label",
                   "number of labels": "count"}
    colour = c2.selectbox("Colour by", list(colour_opts), key="emb_colour",
                          help="Labelled samples show the labels the session holds (the oracle's answers). "
                          "Unlabelled samples show the pool's ground truth only with a simulated oracle; with a "
                          "person as oracle they are unknown.")
    t = _round_slider(rounds, "Round",
                      lambda r: f"round {r}: {views.labelled_set_name(r)} labelled"
                      + (f", then {len(recs[r].selected)} picked" if r < len(recs) else " (no pick yet)"),
                      "emb_round", default=len(recs) - 1 if recs else None)
    positions = maps.feature_sample(session, cap)
    if positions.size < projection.MIN_SAMPLES:
        st.info(f"The pool is too small for a map (at least {projection.MIN_SAMPLES} samples).")
        st.stop()
    try:
        with st.spinner("Loading the features..."):
            X, features_words = maps.projection_features(session)
        X = X[positions]
        if sp.issparse(X):
            X = X.tocsr()
        xy = _project(X)
    except MLALError as e:
        st.error(f"Could not compute the map: {e}")
        st.stop()
    by = colour_opts[colour]
    label = None
    if by == "label":
        label = st.selectbox("Label", list(range(K)), index=maps.feature_map_default_label(session, t),
                             format_func=lambda i: names[i], key="emb_label")
    layers = maps.feature_map_layers(session, t, positions, by, label)
    title = (f"{method_label} of the features, round {t}: number of labels (rings: this round's picks)" if by == "count"
             else f"{method_label} of the features ({len(positions)} pool samples), round {t}")
    fig = viz.embedding_scatter(**layers.scatter_args(xy), axis_prefix=method_label, title=title)
    fig.update_layout(height=620)
    widgets.figure(fig, key="emb_features")
    lab_pos, _ = ins.labelled_at(session, t)
    picked = layers.picked
    st.caption(f"Features: {features_words.rstrip('.')}. " + (f"{layers.note} " if layers.note else "")
               + f"{int(np.isin(positions, lab_pos).sum())} samples of {views.labelled_set_name(t)} and "
                 f"{len(positions)} pool samples in all; "
               + (f"black rings: the {int(picked.sum())} samples round {t} picked." if t < len(recs)
                  else f"round {t} has made no pick yet."))

# ====================================================================== CoMAL
else:
    t = _round_slider(comal_rounds, "Round", lambda r: f"round {r} ({recs[r].n_labeled} labelled, "
                      f"{len(recs[r].selected)} picked)", "emb_comal_round")
    emb = maps.comal_embeddings(session, t)
    role = np.asarray(emb["role"]).astype(str)
    m = len(role)
    view = st.radio("View", ["One label: positive vs negative", "Several labels (CoMAL Fig. 1 / 12)"],
                    horizontal=True, key="emb_comal_view")
    with_proto, counts = maps.comal_label_choices(emb)
    if not with_proto:
        st.info("No label has a prototype yet (no labelled positive).")
        st.stop()
    max_n = st.slider("Samples in the map", min(20, m), m, min(m, 300), key="emb_comal_cap",
                      help="All of the round's picks, then a random rest of the samples CoMAL kept embeddings "
                      "for (labelled and unlabelled).") if m > 20 else m
    take = maps.comal_map_rows(role, max_n)
    if view.startswith("One label"):
        best = maps.comal_default_label(emb, take, with_proto, counts)
        j = st.selectbox("Label", with_proto, index=with_proto.index(best),
                         format_func=lambda i: f"{names[i]} ({int(counts[i])} labelled positives)",
                         key="emb_comal_label")
        Z, P, layers = maps.comal_map(emb, take, [j], names)
        title = f"CoMAL embeddings z_j for label {names[j]}, round {t} (rings: picked; star: prototype)"
    else:
        default = [int(j) for j in with_proto[: min(4, len(with_proto))]]
        chosen = st.multiselect("Labels", with_proto, default=default, format_func=lambda i: names[i],
                                key="emb_comal_labels", max_selections=8)
        if not chosen:
            st.info("Choose at least one label.")
            st.stop()
        Z, P, layers = maps.comal_map(emb, take, chosen, names, several=True)
        title = f"CoMAL label-wise embeddings, round {t}: {len(take)} samples x {len(chosen)} labels"
    xy, pxy = _project(Z, P)
    fig = viz.embedding_scatter(**layers.scatter_args(xy, pxy), axis_prefix=method_label, title=title)
    fig.update_layout(height=620)
    widgets.figure(fig, key="emb_comal")
    st.caption(f"Round {t}: {int((role[take] == 'selected').sum())} picked, {int((role[take] == 'labelled').sum())} "
               f"labelled and {int((role[take] == 'unlabelled').sum())} other unlabelled samples. {layers.note}")
