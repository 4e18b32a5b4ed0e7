"""Embeddings: 2-D t-SNE / UMAP maps of the features or of CoMAL's label-wise contrastive embeddings."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import streamlit as st

from mlal_core import inspect as ins
from mlal_core import projection, viz
from mlal_core.errors import MLALError
from mlal_core.viz.theme import UNPICKED_COLOR
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
comal_rounds = ins.comal_rounds(session)

widgets.explain(
    "2-D maps of high-dimensional points",
    """
A sample is a point in a space of many dimensions (its features, or CoMAL's embeddings). **t-SNE** and
**UMAP** draw it in 2-D so that points that are **neighbours** there stay neighbours here. Read clusters
and neighbourhoods, not distances between far-apart clusters or the axes (they mean nothing); a map is
seeded, so the same data give the same picture.

* **Features**: the representation the model is trained on (standardised columns for tabular sets,
  sentence embeddings or TF-IDF for text). The map is fitted once on a fixed sample of the pool (every
  sample ever labelled plus a random rest), so moving the round slider only recolours it: watch where
  each round's picks (black rings) land relative to what was already labelled.
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
    ],
)

sources = ["Features (what the model sees)"]
if comal_rounds:
    sources.append("CoMAL label-wise embeddings")
c1, c2 = st.columns([2, 1])
source = c1.radio("Project", sources, horizontal=True, key="emb_source")
method_label = c2.radio("Method", ["t-SNE", "UMAP"], horizontal=True, key="emb_method",
                        help="t-SNE (scikit-learn) or UMAP (umap-learn); both seeded, results cached.")
method = "tsne" if method_label == "t-SNE" else "umap"
if not comal_rounds:
    st.caption("CoMAL's label-wise embeddings appear here for sessions run with the CoMAL strategy.")


def _project(X, extra=None):
    """Project (with a spinner; UMAP's one-off compile gets its own message). Returns xy[, extra_xy]."""
    if method == "umap" and not projection.umap_is_warm():
        msg = ("UMAP compiles its numerical code the first time it runs in this server (10-30 s, once); "
               "the map appears when it is done.")
        st.info(msg)
    else:
        msg = f"Computing the {method_label} map of {X.shape[0] + (0 if extra is None else len(extra))} points..."
    with st.spinner(msg):
        if extra is None:
            return projection.project(X, method, random_state=0)
        return projection.project_with(X, extra, method, random_state=0)


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
    simulated = bool(getattr(session, "oracle_is_simulated", False))
    colour_opts = ["role in the round", "one label (positive / negative)", "number of labels"]
    colour = c2.selectbox("Colour by", colour_opts, key="emb_colour",
                          help="Labels of unlabelled samples come from the pool's ground truth (simulated oracle); "
                          "with a person as oracle they are unknown.")
    t = _round_slider(rounds, "Round",
                      lambda r: f"round {r}: L_{r} labelled" + (f", then {len(recs[r].selected)} picked"
                                                               if r < len(recs) else " (no pick yet)"),
                      "emb_round", default=len(recs) - 1 if recs else None)
    positions = ins.feature_sample(session, cap)
    if positions.size < projection.MIN_SAMPLES:
        st.info(f"The pool is too small for a map (at least {projection.MIN_SAMPLES} samples).")
        st.stop()
    try:
        with st.spinner("Loading the features..."):
            X = session.features.train
        X = X[positions]
        if sp.issparse(X):
            X = X.tocsr()
        xy = _project(X)
    except MLALError as e:
        st.error(f"Could not compute the map: {e}")
        st.stop()
    roles = ins.roles_at(session, t, positions)
    lab_pos, lab_y = ins.labelled_at(session, t)
    picked = roles == f"picked in round {t}"
    groups = None
    colours = None
    group_name = "role"
    order = ["unlabelled", "labelled", f"picked in round {t}"]
    Y_truth = session.dataset.train.Y
    Y_truth = Y_truth.toarray() if sp.issparse(Y_truth) else np.asarray(Y_truth)
    if colour == "role in the round":
        groups = roles
    elif colour.startswith("one label"):
        counts = lab_y.sum(axis=0)
        j = st.selectbox("Label", list(range(K)), index=int(np.argmax(counts)), format_func=lambda i: names[i],
                         key="emb_label")
        known = np.isin(positions, lab_pos)
        y = Y_truth[positions, j].astype(bool)
        if not simulated:
            groups = np.where(known, np.where(y, "positive (labelled)", "negative (labelled)"), "unknown (unlabelled)")
        else:
            groups = np.where(y, "positive", "negative")
            groups = np.where(known, np.char.add(groups.astype(str), " (labelled)"),
                              np.char.add(groups.astype(str), " (unlabelled)"))
        order = ["negative (unlabelled)", "negative (labelled)", "positive (unlabelled)", "positive (labelled)",
                 "unknown (unlabelled)"]
        group_name = names[j]
    else:
        colours = Y_truth[positions].sum(axis=1).astype(float)
        if not simulated:
            known = np.isin(positions, lab_pos)
            colours = np.where(known, colours, np.nan)
            keep = known
            st.caption("Only labelled samples have known labels (a person is the oracle).")
        else:
            keep = np.ones(len(positions), bool)
    hover = [f"pool sample {p} ({r})" for p, r in zip(positions, roles)]
    if colours is not None:
        fig = viz.embedding_scatter(xy[keep], colors=colours[keep], picked_mask=picked[keep],
                                    hover_text=np.asarray(hover, object)[keep], color_name="labels per sample",
                                    axis_prefix=method_label, title=f"{method_label} of the features, round {t}: "
                                    "number of labels (rings: this round's picks)")
    else:
        fig = viz.embedding_scatter(xy, groups=groups, picked_mask=picked, hover_text=hover, group_name=group_name,
                                    group_order=order, axis_prefix=method_label,
                                    title=f"{method_label} of the features ({len(positions)} pool samples), round {t}")
        for tr in fig.data:
            if str(tr.name).startswith(("unlabelled", "unknown")):
                tr.marker.color = UNPICKED_COLOR
                tr.marker.opacity = 0.45
            if groups is roles and str(tr.name).startswith("picked ("):
                tr.showlegend = False  # the "picked in round t" group already names them
    fig.update_layout(height=620)
    widgets.figure(fig, key="emb_features")
    st.caption(f"{int(np.isin(positions, lab_pos).sum())} samples of L_{t} and {len(positions)} pool samples in all; "
               + (f"black rings: the {int(picked.sum())} samples round {t} picked." if t < len(recs)
                  else f"round {t} has made no pick yet."))

# ====================================================================== CoMAL
else:
    t = _round_slider(comal_rounds, "Round", lambda r: f"round {r} ({recs[r].n_labeled} labelled, "
                      f"{len(recs[r].selected)} picked)", "emb_comal_round")
    emb = ins.comal_embeddings(session, t)
    z, y, role, k = emb["z"], np.asarray(emb["y"]).astype(bool), np.asarray(emb["role"]).astype(str), emb["k"]
    P, has_p = emb["prototypes"], emb["has_prototype"]
    positions = np.asarray(emb["positions"], dtype=np.int64)
    m = len(positions)
    view = st.radio("View", ["One label: positive vs negative", "Several labels (CoMAL Fig. 1 / 12)"],
                    horizontal=True, key="emb_comal_view")
    counts = y[role == "labelled"].sum(axis=0) if (role == "labelled").any() else y.sum(axis=0)
    with_proto = [int(j) for j in np.argsort(-counts.astype(np.int64), kind="stable") if has_p[j]]
    if not with_proto:
        st.info("No label has a prototype yet (no labelled positive).")
        st.stop()
    max_n = st.slider("Samples in the map", min(20, m), m, min(m, 300), key="emb_comal_cap",
                      help="All of the round's picks, then a random rest of the samples CoMAL kept embeddings "
                      "for (labelled and unlabelled).") if m > 20 else m
    rng = np.random.default_rng(0)
    sel_rows = np.flatnonzero(role == "selected")
    rest = np.setdiff1d(np.arange(m), sel_rows)
    take = np.sort(np.concatenate([sel_rows, rng.choice(rest, size=max(0, min(rest.size, max_n - sel_rows.size)),
                                                        replace=False)]))
    if view.startswith("One label"):
        # default: the label with the most even split of positives and negatives among the shown samples
        balance = np.minimum(y[take].sum(axis=0), len(take) - y[take].sum(axis=0))
        best = max(with_proto, key=lambda i: (balance[i], counts[i]))
        j = st.selectbox("Label", with_proto, index=with_proto.index(best),
                         format_func=lambda i: f"{names[i]} ({int(counts[i])} labelled positives)",
                         key="emb_comal_label")
        Z = z[take, j, :]
        xy, pxy = _project(Z, P[[j]])
        pos_ = y[take, j]
        lab_ = role[take] == "labelled"
        groups = np.where(pos_, "positive", "negative")
        groups = np.char.add(groups.astype(str), np.where(lab_, " (labelled)", " (predicted)"))
        hover = [f"pool sample {p} ({r}), k = {kk:.3f}" for p, r, kk in zip(positions[take], role[take], k[take, j])]
        fig = viz.embedding_scatter(
            xy, groups=groups, picked_mask=role[take] == "selected", prototypes_xy=pxy,
            prototype_names=[f"prototype of {names[j]}"], hover_text=hover, group_name=names[j],
            group_order=["negative (predicted)", "negative (labelled)", "positive (predicted)", "positive (labelled)"],
            axis_prefix=method_label,
            title=f"CoMAL embeddings z_j for label {names[j]}, round {t} (rings: picked; star: prototype)")
        for tr in fig.data:
            if str(tr.name).startswith("negative"):
                tr.marker.color = UNPICKED_COLOR if "predicted" in tr.name else "#5A5A5A"
                tr.marker.opacity = 0.5
    else:
        default = [int(j) for j in with_proto[: min(4, len(with_proto))]]
        chosen = st.multiselect("Labels", with_proto, default=default, format_func=lambda i: names[i],
                                key="emb_comal_labels", max_selections=8)
        if not chosen:
            st.info("Choose at least one label.")
            st.stop()
        rows = np.repeat(take, len(chosen))
        cols = np.tile(np.asarray(chosen), len(take))
        Z = z[rows, cols, :]
        xy, pxy = _project(Z, P[chosen])
        pos_ = y[rows, cols]
        groups = np.where(pos_, np.asarray([names[c] for c in cols], dtype=object), "negative (any label)")
        hover = [f"pool sample {p} ({r}), z for {names[c]}, k = {k[i, c]:.3f}"
                 for p, r, i, c in zip(positions[rows], role[rows], rows, cols)]
        fig = viz.embedding_scatter(
            xy, groups=groups, picked_mask=role[rows] == "selected", prototypes_xy=pxy,
            prototype_names=[f"prototype of {names[c]}" for c in chosen],
            prototype_groups=[names[c] for c in chosen], hover_text=hover, group_name="positive for",
            group_order=["negative (any label)"] + [names[c] for c in chosen], axis_prefix=method_label,
            title=f"CoMAL label-wise embeddings, round {t}: {len(take)} samples x {len(chosen)} labels")
        for tr in fig.data:
            if str(tr.name).startswith("negative"):
                tr.marker.color = UNPICKED_COLOR
                tr.marker.opacity = 0.4
            if str(tr.name).startswith("picked ("):
                n_sel = int((role[take] == "selected").sum())
                tr.name = f"picked ({n_sel} samples x {len(chosen)} labels)"
    fig.update_layout(height=620)
    widgets.figure(fig, key="emb_comal")
    st.caption(f"Round {t}: {int((role[take] == 'selected').sum())} picked, {int((role[take] == 'labelled').sum())} "
               f"labelled and {int((role[take] == 'unlabelled').sum())} other unlabelled samples. Positives of "
               "labelled samples are the oracle's labels; of the others, the model's predictions (p > 0.5).")
