"""Correlations: CRAB's A and NegA of the labelled set at any round, their change, CRAB's pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mlal_core import glossary, viz
from mlal_core.inspection import round_history as ins
from mlal_core.inspection import views
from ui import large_k, widgets
from ui.state import require_session

st.title("Label correlations")
st.caption("How the labels of the labelled set co-occur, round by round, and the pairs CRAB acts on.")

session = require_session()
names = ins.label_names(session)
K = len(names)
rounds = ins.labelled_rounds(session)
key = ins.session_key(session)

labelled_t = views.labelled_set_name("t")
widgets.explain(
    "A, NegA and CRAB's thresholds",
    f"""
Each round the strategy sees only the **labelled set** {labelled_t} (the initial set plus the picks of the
rounds before `t`). From its label matrix CRAB (Qi et al., Eq. 8-9) estimates two {K} x {K} matrices:

* **A** (positive correlation): cell (row *m*, column *n*) is the share of the samples with label *n*
  that also have label *m*, i.e. P(*m* | *n*). It is **asymmetric**: "most *n* are also *m*" does not
  mean "most *m* are also *n*". The diagonal is 1.
* **NegA** (negative correlation): the share of the samples with label *n* that do **not** have *m*,
  i.e. P(not *m* | *n*) = 1 - A off the diagonal. A label with no positive in {labelled_t} has an empty
  column ("unseen": no evidence about it).

CRAB uses two thresholds on them (white markers on the heatmaps):

* **Asymmetric pairs** (m, n): the z-score of A[m, n] among all off-diagonal entries is above 1 and
  A[m, n] > A[n, m]. Then *n* implies *m* (*n* is the narrower label). By default CRAB keeps drawing
  label-wise samples for *n* and stops drawing them for *m*: samples drawn for *n* carry *m* anyway.
  A label implied in any pair is dropped, even if it implies another label itself. The option
  `asymmetric_keep="implied"` (the earlier reading) does the opposite, keeping *m* and dropping *n*,
  which drops the rarer labels; `"all"` keeps every label.
* **Mutually exclusive pairs**: both NegA[m, n] and NegA[n, m] are at least tau = min(1, mean + 2 std)
  of the off-diagonal NegA (over labels with at least 2 positives). Unlabelled samples whose
  *predicted* labels contain such a pair are "conflicting" and go to CRAB's negatively-correlated pool.

**How to read it.** Rows are the label whose probability is read, columns the label conditioned on.
A bright column *n* in A means *n* rarely comes alone. Move the round slider to watch the estimates
settle as more samples are labelled; with few labelled samples many pairs never co-occur, so NegA is
1 for them and tau is often 1.
""",
    latex=[
        r"A_{mn} = \frac{\#\{i \in L_t: y_{im}=1,\ y_{in}=1\}}{\#\{i \in L_t: y_{in}=1\}}, \qquad A_{nn}=1",
        (r"\mathrm{NegA}_{mn} = \frac{\#\{i \in L_t: y_{im}=0,\ y_{in}=1\}}{\#\{i \in L_t: y_{in}=1\}}"
        r" = 1 - A_{mn}\ (m \ne n)"),
        (r"(m,n)\ \text{asymmetric} \iff z(A_{mn}) > 1 \ \wedge\ A_{mn} > A_{nm}, \qquad "
        r"z(A_{mn}) = \frac{A_{mn} - \mu_{A}}{\sigma_{A}}"),
        (r"(m,n)\ \text{exclusive} \iff \mathrm{NegA}_{mn} \ge \tau \ \wedge\ \mathrm{NegA}_{nm} \ge \tau,"
        r" \qquad \tau = \min(1,\ \mu_{\mathrm{NegA}} + 2\sigma_{\mathrm{NegA}})"),
    ],
    terms=["labelled-set", "a", "nega", "z", "asymmetric-pair", "tau", "exclusive-pair", "conflicting",
           "label-coverage", "corravg", "correlation-drift"] + (["top-k-pairs", "clustered-order"] if K > viz.LARGE_K else []),
)
_gl = views.help_with_glossary
#: help on the columns of the CRAB pairs table, each linked to its glossary entry
PAIR_HELP = {
    "kind": "asymmetric: n implies m (CRAB drops m from the label-wise pool); mutually exclusive: m and n rarely "
            f"occur together. Glossary: {glossary.glossary_link('asymmetric-pair')}, "
            f"{glossary.glossary_link('exclusive-pair')}.",
    "A[m,n]": _gl("P(m | n) in the labelled set.", "a"),
    "A[n,m]": _gl("P(n | m) in the labelled set.", "a"),
    "z(A[m,n])": _gl("z-score of A[m, n] among all off-diagonal entries of A.", "z"),
    "NegA[m,n]": _gl("P(not m | n) in the labelled set.", "nega"),
    "NegA[n,m]": _gl("P(not n | m) in the labelled set.", "nega"),
}


# cache_resource: the snapshots hold K x K matrices, which st.cache_data would copy (unpickle) on every read
@st.cache_resource(show_spinner=False, max_entries=64)
def _snapshot(session_key: str, t: int, _session) -> ins.CorrelationSnapshot:
    return ins.correlation_at(_session, t)


@st.cache_resource(show_spinner=False, max_entries=16)
def _pool_snapshot(session_key: str, _session) -> ins.CorrelationSnapshot:
    return ins.snapshot_from_labels(_session.dataset.train.Y, -1)


def _snap(t: int) -> ins.CorrelationSnapshot:
    return _snapshot(key, int(t), session)


latest = _snap(rounds[-1])
MANY_PAIRS = 40  # more exclusive pairs than this are not marked by default (they would hide the colours)


def _round_label(t: int) -> str:
    return f"{views.labelled_set_name(t)} ({_snap(t).n_labeled} labelled)"


LARGE = viz.is_large_k(K)  # above viz.LARGE_K labels: top-k pairs / clustered / search views, no K x K heatmap

# ---------------------------------------------------------------- label display options
if LARGE:
    st.caption(f"{K:,} labels are too many for one readable heatmap: each matrix is shown as its strongest pairs, "
               f"a block of at most {viz.LARGE_K} labels of the clustered matrix, or the labels you search for; "
               "the full matrix is a CSV download.")
    marks = ["asymmetric"]
    order = np.arange(0)
    show_values = False
else:
    with st.expander("Labels shown: sorting and filtering", expanded=K > 30):
        c1, c2, c3 = st.columns([1.2, 1.2, 1])
        order_by = c1.selectbox(
            "Sort labels by", ["frequency", "cluster", "name", "index"], key="corr_order_by",
            help="frequency: most frequent first in the latest labelled set; cluster: correlated labels next to "
            "each other (average linkage on the rows of the latest A); name: A to Z; index: the dataset's order. "
            "The order is the same for every round, so the matrices stay comparable.",
        )
        top_k = c2.slider("Show the most frequent labels", 2, K, min(K, 30), key="corr_top_k",
                          help="Keeps the k labels with most positives in the latest labelled set.") if K > 2 else K
        hide_unseen = c3.checkbox("Hide unseen labels", value=K > 30, key="corr_hide_unseen",
                                  help="Drop labels without a positive in the latest labelled set.")
        only = st.multiselect("Only these labels (empty: all)", options=list(range(K)),
                              format_func=lambda j: names[j], key="corr_only")
        c4, c5 = st.columns(2)
        show_values = c4.checkbox("Write the values in the cells", value=K <= 12, key="corr_values")
        many = len(latest.exclusive_pairs) > MANY_PAIRS
        marks = c5.multiselect("Mark CRAB's pairs", ["asymmetric", "exclusive"],
                               default=["asymmetric"] if many else ["asymmetric", "exclusive"], key="corr_marks",
                               help="White markers on the cells of the pairs CRAB acts on." + (
                                   f" The latest labelled set has {len(latest.exclusive_pairs)} exclusive pairs, "
                                   "too many to mark legibly, so they are off by default." if many else ""))
    order = ins.display_order(names, latest.counts, by=order_by, top_k=top_k if top_k < K else None,
                              only=only or None, hide_unseen=hide_unseen, matrix=latest.A)
kk = len(order)
fig_height = int(np.clip(260 + 16 * kk, 480, 1100))


def _heatmap(matrix, kind: str, title: str, marked=None):
    fig = viz.correlation_heatmap(matrix, names, title=title, kind=kind, marked_pairs=marked, order=order,
                                  show_values=show_values and kk <= 25, mask_diagonal=kind == "diff")
    fig.update_layout(height=fig_height)
    return fig


def _matrix(matrix, kind: str, title: str, key: str, file_name: str, *, counts=None, marked=None) -> None:
    """The matrix as a heatmap (small K) or as the large-K views with the full matrix as CSV."""
    if LARGE:
        large_k.matrix_views(matrix, names, kind=kind, key=key, title=title, file_name=file_name, counts=counts,
                             cluster_matrix=latest.A, marked=marked)
    else:
        widgets.figure(_heatmap(matrix, kind, title, marked), key=key)


tab_round, tab_change, tab_pairs = st.tabs(["Matrices at a round", "Change between rounds", "CRAB's pairs"])

# ---------------------------------------------------------------- one round
with tab_round:
    if len(rounds) > 1:
        t = st.select_slider("Labelled set of round", options=rounds, value=rounds[-1], format_func=_round_label,
                             key="corr_round",
                             help=f"{labelled_t} is what round t's model was trained on and what its strategy saw.")
    else:
        t = rounds[0]
        st.caption(f"Only the initial labelled set exists ({_round_label(t)}); run rounds to see it change.")
    snap = _snap(t)
    labelled_now = views.labelled_set_name(t)
    which = st.radio("Matrix", ["A", "NegA"], horizontal=True, key="corr_matrix",
                     captions=["P(row | column)", "P(not row | column)"])
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Labelled samples", snap.n_labeled, help=_gl(f"The size of {labelled_now}.", "labelled-set"))
    m2.metric("Labels seen", f"{int(snap.seen.sum())} / {K}",
              help=_gl(f"Labels with at least one positive in {labelled_now}.", "label-coverage"))
    m3.metric("CorrAvg", "n/a" if not np.isfinite(snap.corr_avg) else f"{snap.corr_avg:.3f}",
              help=_gl(f"Mean of the off-diagonal A over labels seen in {labelled_now}.", "corravg"))
    m4.metric("Asymmetric pairs", len(snap.asymmetric_pairs),
              help=_gl("Pairs (m, n) with z(A[m, n]) > 1 and A[m, n] > A[n, m]: n implies m.", "asymmetric-pair"))
    m5.metric("Exclusive pairs", len(snap.exclusive_pairs),
              help=_gl(f"tau = {snap.tau:.3f}" if np.isfinite(snap.tau) else "fewer than two labels with 2 positives",
                       "exclusive-pair"))
    if np.isfinite(snap.tau) and snap.tau >= 1.0 and len(snap.exclusive_pairs):
        st.caption("tau = 1 here: with this few labelled samples, every two labels (with at least 2 positives) that "
                   "never occur together count as mutually exclusive.")
    unseen = [names[j] for j in np.flatnonzero(~snap.seen)]
    if unseen:
        st.caption(f"Unseen in {labelled_now} (empty columns): " + ", ".join(unseen[:30]) + (" ..." if len(unseen) > 30 else ""))
    marked = ins.crab_marks(snap, marks) if marks else None
    matrix = snap.A if which == "A" else snap.NegA
    _matrix(matrix, which, f"{which} of {labelled_now} ({snap.n_labeled} labelled samples)", f"corr_{which}_round",
            f"{which}_round{t}.csv", counts=snap.counts, marked=marked)
    if not LARGE:
        with st.expander(f"{which} of {labelled_now} as a table"):
            widgets.table(pd.DataFrame(matrix, index=names, columns=names).round(4).reset_index(names="label m"),
                          key=f"corr_{which}_table", file_name=f"{which}_round{t}.csv", hide_index=True)

# ---------------------------------------------------------------- change between rounds
with tab_change:
    simulated = bool(getattr(session, "oracle_is_simulated", False))
    round_of = {views.labelled_set_name(r): r for r in rounds}
    opts = list(round_of) + (["whole pool"] if simulated else [])
    if len(opts) < 2:
        st.info("Only one labelled set so far: run a round to compare two.")
    else:
        lo, hi = st.select_slider(
            "Compare", options=opts, value=(opts[0], views.labelled_set_name(rounds[-1])), key="corr_change_range",
            help="The difference is (right) - (left). 'whole pool' is the ground truth of the whole training pool "
            "(what the estimates would be with every label known; simulated oracle only).",
        )

        def _get(o: str) -> ins.CorrelationSnapshot:
            return _pool_snapshot(key.split(":")[0], session) if o == "whole pool" else _snap(round_of[o])

        before, after = _get(lo), _get(hi)
        which_d = st.radio("Matrix ", ["A", "NegA"], horizontal=True, key="corr_change_matrix")
        ch = ins.correlation_change(before, after)
        c1, c2, c3 = st.columns(3)
        c1.metric(f"Mean |change| of {which_d}", f"{ch['drift_' + which_d]:.4f}",
                  help=_gl("Mean absolute change of the off-diagonal entries.", "correlation-drift"))
        c2.metric(f"Asymmetric pairs in {hi}", f"{len(after.asymmetric_pairs)}",
                  help=_gl(f"{len(before.asymmetric_pairs)} in {lo}.", "asymmetric-pair"))
        c3.metric(f"Exclusive pairs in {hi}", f"{len(after.exclusive_pairs)}",
                  help=_gl(f"{len(before.exclusive_pairs)} in {lo}.", "exclusive-pair"))
        st.caption(views.pair_change_text(ch, lo, hi) + " Markers on the matrix.")
        marked = {}
        if "asymmetric" in marks:
            marked["new asymmetric pair"] = ch["new_asymmetric"]
            marked["asymmetric pair gone"] = ch["gone_asymmetric"]
        if "exclusive" in marks:
            marked["new exclusive pair"] = ins.both_directions(ch["new_exclusive"])
            marked["exclusive pair gone"] = ins.both_directions(ch["gone_exclusive"])
        _matrix(ch["d" + which_d], "diff", f"Change of {which_d}: {hi} minus {lo}", f"corr_diff_{which_d}",
                f"{which_d}_change.csv", counts=after.counts if LARGE else None,
                marked=marked or None)
        if len(ch["newly_seen"]):
            st.caption("Labels first seen between the two: " + ", ".join(names[j] for j in ch["newly_seen"]))

    if len(rounds) > 1:
        drift = ins.correlation_by_round(session, _snap)
        st.markdown("**Round by round.** How much A moves from one labelled set to the next (it settles as "
                    "L grows), and CorrAvg, the mean off-diagonal A.")
        cols = {"drift_A": "mean |A(t) - A(t-1)| (off-diagonal)", "corr_avg": "CorrAvg(t)"}
        plot_df = drift.rename(columns=cols)
        fig = viz.per_round_bars_or_lines(plot_df, list(cols.values()),
                                          kind="line", title="Correlation estimates round by round",
                                          y_title="value", x_title="Labelled set of round t")
        widgets.figure(fig, key="corr_drift")
        widgets.table(drift, key="corr_drift_table", file_name="correlation_by_round.csv", hide_index=True,
                      column_config={c: st.column_config.Column(c, help=h)
                                     for c, h in views.table_column_helps(drift.columns).items()})

# ---------------------------------------------------------------- CRAB's pairs
with tab_pairs:
    t_p = st.session_state.get("corr_round", rounds[-1])
    t_p = t_p if t_p in rounds else rounds[-1]
    snap = _snap(t_p)
    st.markdown(
        f"The pairs CRAB derives from **{views.labelled_set_name(t_p)}** ({snap.n_labeled} labelled samples; change the round on the "
        f"first tab). Asymmetric: z-score of A above {snap.z_threshold:g}; exclusive: tau = "
        + (f"{snap.tau:.3f}" if np.isfinite(snap.tau) else "undefined (fewer than two labels with 2 positives)")
        + f" over the labels with at least {snap.min_count} positives."
    )
    dropped = [names[j] for j in snap.dropped_under("implying")]
    old_reading = [names[j] for j in snap.dropped_under("implied")]
    if dropped:
        st.markdown("**Left out of the label-wise pool** (a narrower label implies them; CRAB's default "
                    "`asymmetric_keep=\"implying\"`): " + ", ".join(dropped))
        st.caption("With `asymmetric_keep=\"implied\"` (the earlier reading) CRAB would instead leave out "
                   "the labels that imply another: " + ", ".join(old_reading))
    recs = ins.query_records(session)
    if session.config.strategy == "crab" and t_p < len(recs):
        keep = session.config.strategy_params.get("asymmetric_keep", "implying")
        st.caption(f"These are the pairs CRAB used when it picked round {t_p}'s batch (its diagnostics "
                   f"record the same); this session runs it with asymmetric_keep={keep!r}.")
    widgets.table(ins.pairs_table(snap, names), key="corr_pairs", file_name=f"crab_pairs_round{t_p}.csv",
                  hide_index=True, column_config={c: st.column_config.Column(c, help=h) for c, h in PAIR_HELP.items()})
