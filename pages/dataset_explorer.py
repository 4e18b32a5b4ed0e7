"""Page 2, Dataset explorer: how many labels, how imbalanced, how correlated; sample texts per label."""

from __future__ import annotations

import streamlit as st

from mlal_core import correlation, data, viz
from mlal_core.inspection import views
from ui import large_k, state, widgets

STAT_HELP = {
    "label_cardinality": ("Cardinality", "Mean number of labels per sample."),
    "label_density": ("Density", "Cardinality divided by the number of labels K."),
    "MeanIR": ("MeanIR", ("Mean imbalance ratio: how many times rarer than the most frequent label a label is, "
                          "on average (1 = perfectly balanced).")),
    "MaxIR": ("MaxIR", "Imbalance ratio of the rarest label that occurs."),
    "CorrAvg": ("CorrAvg", ("Mean of the off-diagonal entries of A: how often, on average, a label comes with "
                            "another given one.")),
    "distinct_labelsets": ("Label sets", "Number of different label combinations that occur."),
}

st.title("Dataset explorer")

# ------------------------------------------------------------------------------------ which dataset
session = state.get_session()
uploaded = st.session_state.get(state.UPLOAD_KEY)
choices: dict[str, object] = {}
if session is not None and session.config.dataset is None:
    choices[f"{session.dataset.name} (this session's uploaded file)"] = session.dataset
if uploaded is not None and (session is None or session.dataset is not uploaded):
    choices[f"{uploaded.name} (uploaded file)"] = uploaded
for n in data.available(derived=True):  # the bundled sets, then the derived presets (<base>-T10-IR<x>)
    choices[n] = n
preferred = session.config.dataset if session is not None else st.session_state.get("home_dataset", "yeast")
default = list(choices).index(preferred) if preferred in choices else 0
label = st.selectbox("Dataset", list(choices), index=default, key="dx_dataset",
                     help="Defaults to the dataset of the current session.")
ds = choices[label]
if isinstance(ds, str):
    ds = data.load(ds)
key = state.dataset_key(ds)
names = list(ds.label_names)
K = len(names)
Y = ds.train.Y

summary = state.memo(("dx_summary", key), lambda: correlation.label_summary(Y))
desc = state.memo(("dx_describe", key), lambda: data.describe(ds))
A = state.memo(("dx_A", key), lambda: correlation.positive_correlation(Y))
NegA = state.memo(("dx_NegA", key), lambda: correlation.negative_correlation(Y))
counts = desc["label_counts"]["train"].to_numpy()

st.caption(((ds.meta or {}).get("description", "") + f" Statistics of the **training split** (the pool), "
            f"{len(ds.train):,} samples, {K} labels." + (f" {desc['provenance']}" if desc["provenance"] else "")).strip())
widgets.explain(
    "label statistics",
    "Multi-label data is described by how many labels a sample carries and how unevenly the labels are "
    "spread. With $n_j$ the number of training samples that carry label $j$ and $y_{ij} \\in \\{0, 1\\}$:\n\n"
    "* **Cardinality**: labels per sample, on average.\n"
    "* **IRLbl** (imbalance ratio per label): how many times rarer label $j$ is than the most frequent label; "
    "**MeanIR** averages it over the labels that occur, $K_+$ (Charte et al. 2015; a label with no sample has "
    "no finite ratio). MeanIR above about 1.5 is called imbalanced; strategies that ignore it tend to pick "
    "samples of the frequent labels only.\n"
    "* **A** (CRAB Eq. 8): $A_{mn}$ is the chance that a sample with label $n$ also has label $m$. "
    "**NegA** (Eq. 9): the chance that it does **not** have $m$. **CorrAvg** is the mean of A off the "
    "diagonal, over pairs of labels that both occur (this reproduces the published statistics of the bundled "
    "datasets; with every label present it is the plain mean over all $K(K-1)$ pairs).",
    [(r"\mathrm{Card} = \frac{1}{N}\sum_{i=1}^{N}\sum_{j=1}^{K} y_{ij}, \qquad "
      r"\mathrm{IRLbl}(j) = \frac{\max_{k} n_k}{n_j}, \qquad \mathrm{MeanIR} = \frac{1}{|K_+|}\sum_{j \in K_+}\mathrm{IRLbl}(j)"),
     (r"A_{mn} = \frac{|\{i : y_{im} = 1,\ y_{in} = 1\}|}{n_n}, \qquad "
      r"\mathrm{NegA}_{mn} = \frac{|\{i : y_{im} = 0,\ y_{in} = 1\}|}{n_n}, \qquad "
      r"\mathrm{CorrAvg} = \frac{1}{|K_+|(|K_+|-1)}\sum_{m \ne n \in K_+} A_{mn}")],
    terms=["label-cardinality", "label-density", "irlbl", "meanir", "maxir", "a", "nega", "corravg", "label-sets",
           "label-coverage"] + (["rank-frequency", "top-k-pairs", "clustered-order"] if viz.is_large_k(K) else []),
)

#: the help of a table column: the statistic's words (STAT_HELP) or the glossary's, with a link to its entry
_STAT_COLUMN_HELP = {k: views.help_with_glossary(help_, k) for k, (_, help_) in STAT_HELP.items()}
_IRLBL_HELP = views.help_with_glossary("How many times rarer than the most frequent label this label is.", "irlbl")

cols = st.columns(len(STAT_HELP) + 1)
labels_value, labels_help = views.labels_metric(summary["labels_present"], K)
cols[0].metric("Labels", labels_value, help=views.help_with_glossary(labels_help, "label-coverage"))
for col, (k, (title, _)) in zip(cols[1:], STAT_HELP.items()):
    v = summary[k]
    col.metric(title, f"{v:,}" if isinstance(v, int) else f"{v:.3f}", help=_STAT_COLUMN_HELP[k])

with st.expander("Per split (train / valid / test / all)"):
    widgets.table(desc["table"].astype(float).round(4).reset_index(names="split"), key="dx_splits",
                  file_name=f"{ds.name}_statistics.csv", hide_index=True,
                  column_config={k: st.column_config.Column(k, help=h) for k, h in _STAT_COLUMN_HELP.items()})
    if ds.valid_carved:
        st.caption("The validation split was carved from the original training data (seeded, keeping every "
                   "label's share).")

# ------------------------------------------------------------------------------------ frequencies
st.subheader("Label frequencies and imbalance")
LARGE = viz.is_large_k(K)  # above viz.LARGE_K labels: aggregate views, pages of bars, no K x K heatmap
if LARGE:
    large_k.count_views(counts, names, key="dx_freq", n_samples=len(ds.train))
else:
    c1, c2, c3 = st.columns(3)
    log_y = c1.toggle("Log scale", value=False, key="dx_log",
                      help="A log axis shows rare and frequent labels on one chart.")
    order_by = c2.selectbox("Order", ["frequency", "name", "index"], key="dx_order",
                            format_func={"frequency": "most frequent first", "name": "by name",
                                         "index": "dataset order"}.get)
    top_k = int(c3.number_input("Labels shown", 1, K, min(K, 60), key=f"dx_topk_{K}")) if K > 10 else None
    widgets.figure(viz.label_frequency_bar(counts, names, log_y=log_y, order_by=order_by, top_k=top_k,
                                           n_samples=len(ds.train)), key="dx_freq")
st.caption("Hover a bar (or a point) for the label's count, its share of the samples and its IRLbl.")
with st.expander("Per-label counts and IRLbl (table)"):
    st.caption("Counts per split; **IRLbl** is that of the training split (as in the chart), **IRLbl (all "
               "splits)** that of the whole dataset.")
    widgets.table(desc["label_counts"].reset_index(), key="dx_counts", file_name=f"{ds.name}_label_counts.csv",
                  hide_index=True, column_config={c: st.column_config.Column(c, help=_IRLBL_HELP)
                                                  for c in ("IRLbl", "IRLbl (all splits)")})

# ------------------------------------------------------------------------------------ correlations
st.subheader("Label correlations of the whole training split")
st.caption("Read a cell as: *of the samples with the column's label, this share also has (A) / does not have "
           "(NegA) the row's label*. A is not symmetric: most *wheat* stories are *grain* stories, but few "
           "*grain* stories are about *wheat*.")
if LARGE:
    which = st.radio("Matrix", ["A", "NegA"], horizontal=True, key="dx_matrix",
                     captions=["P(row | column)", "P(not row | column)"])
    large_k.matrix_views(A if which == "A" else NegA, names, kind=which, key=f"dx_{which}",
                         title=f"{which} of {ds.name} train", file_name=f"{ds.name}_{which}.csv", counts=counts,
                         cluster_matrix=A)
else:
    shown = K if K <= 30 else int(st.slider("Labels shown (most frequent)", 5, K, 30, key=f"dx_corr_k_{K}"))
    order = "cluster" if K > 2 else "index"
    HALF_WIDTH_PX = 440  # a half-width column on a laptop screen: tick labels are laid out for it
    c1, c2 = st.columns(2)
    with c1:
        widgets.figure(viz.correlation_heatmap(A, names, kind="A", counts=counts, order_by=order, width=HALF_WIDTH_PX,
                                               top_k=shown if shown < K else None,
                                               title=f"A: P(row label | column label), {ds.name} train"), key="dx_A")
    with c2:
        widgets.figure(viz.correlation_heatmap(NegA, names, kind="NegA", counts=counts, order_by=order, width=HALF_WIDTH_PX,
                                               top_k=shown if shown < K else None,
                                               title=f"NegA: P(not row label | column label), {ds.name} train"),
                       key="dx_NegA")
    st.caption("Labels are ordered so that labels with similar rows and columns sit together (hierarchical "
               "clustering).")

# ------------------------------------------------------------------------------------ samples
st.subheader("Samples per label")
j = st.selectbox("Label", range(K), format_func=lambda i: f"{names[i]} ({int(counts[i]):,} samples)",
                 key="dx_label")
n_show = st.slider("Samples", 1, 20, 5, key="dx_n_samples")
examples = views.examples_for_label(ds, j, n_show, seed=0)
if examples.empty:
    st.info(f"No training sample carries the label {names[j]!r}.")
else:
    if ds.kind != "text":
        st.caption("This is a tabular dataset: its samples are rows of numbers, not texts; the table shows "
                   "which other labels they carry.")
    widgets.table(examples, key="dx_examples", file_name=f"{ds.name}_examples_{names[j]}.csv", hide_index=True)
