"""Selection inspector: what each round picked, why, and what other strategies would have picked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mlal_core import glossary, strategies, viz
from mlal_core.errors import ConfigError, MLALError
from mlal_core.inspection import round_history as ins
from mlal_core.inspection import views
from ui import columns, widgets
from ui.state import progress_callback, require_session

st.title("Selection inspector")
st.caption("What the strategy picked each round, why it picked each sample, and what the others would have picked.")

session = require_session()
ins.keep_contexts(session)  # rounds run from now on keep their model state in memory (idempotent)
names = ins.label_names(session)
K = len(names)
key = ins.session_key(session)
recs = ins.query_records(session)
strategy = session.config.strategy
try:
    strategy_display = strategies.info(strategy).display_name
except MLALError:  # pragma: no cover - a stored session of a strategy that is gone
    strategy_display = strategy

if not recs:
    st.info("No round has been run yet: run at least one round on the **Active learning** page, then come back.")
    st.stop()

SCORE_NAMES = {
    "crab": "dQ_AB (correlation-aware expected score change)",
    "besra": "expected score change dQ",
    "comal": "Q = SLCI^gamma * PFD^(1-gamma)",
    "beal": "-EC (expected confidence, negated)",
    "entropy": "label entropy summed over the labels (bits)",
    "bald": "BALD mutual information",
}
#: the glossary entry of each score (other strategies: the strategy's own entry)
SCORE_TERMS = {"crab": "dq-ab", "besra": "dq", "comal": "comal", "beal": "ec", "entropy": "entropy", "bald": "bald"}
score_name = SCORE_NAMES.get(strategy, "score (higher is picked first)")
score_term = SCORE_TERMS.get(strategy) or views.glossary_key(strategy) or "score"
_gl = views.help_with_glossary


# ====================================================================== per round
st.header("Round by round")
widgets.explain(
    "MeanIR of the picks, hard-to-learn and conflicting samples, label coverage",
    """
* **MeanIR of the selected batch** (CRAB Fig. 4): how unevenly the labels are spread over the samples a
  round picked, from the labels the oracle gave them. Each label's imbalance ratio IRLbl is the count of
  the batch's most frequent label divided by its own count; MeanIR is their mean over the labels present
  in the batch. 1 = perfectly balanced; higher = a few labels dominate. A strategy that fights label
  imbalance keeps it low.
* **Hard-to-learn samples in the pool** (CRAB Fig. 5): unlabelled samples for which the round's model
  predicts no label at all (every mean probability below 0.5).
* **Conflicting samples in the pool** (CRAB Fig. 5): unlabelled samples whose predicted labels contain a
  pair that the labelled set says is mutually exclusive (see the **Label correlations** page). A model
  that learns the label structure makes fewer of these.
* **Label coverage**: the share of the labels that have at least one positive in the labelled set after
  the round (a label never seen cannot be learned), and the same for the **batch** alone.
* **Why MeanIR needs coverage beside it**: MeanIR only looks at the labels the batch contains, so a
  batch that covers few labels can look balanced. **Evenness of L** (the normalised entropy of the
  labelled set's label counts over *all* labels) is 1 when every label occurs equally often and drops
  both when a few labels dominate and when labels are missing.

**How to read it.** One bar (or point) per round. Falling hard-to-learn and conflicting counts mean the
model gets more confident and more consistent; compare sessions of different strategies on the
**Learning curves** page.
""",
    latex=[
        (r"\mathrm{IRLbl}_j = \frac{\max_k \mathrm{count}_k}{\mathrm{count}_j}, \qquad "
        r"\mathrm{MeanIR} = \frac{1}{|\{j: \mathrm{count}_j > 0\}|} \sum_{j:\ \mathrm{count}_j>0} \mathrm{IRLbl}_j"),
        (r"\text{hard-to-learn}(x) \iff \max_j \bar p_j(x) < 0.5, \qquad "
        r"\text{conflicting}(x) \iff \exists (m,n)\ \text{exclusive}: \ y^*_m(x) = y^*_n(x) = 1"),
        r"\text{coverage}_t = \frac{|\{j : \sum_{i \in L_{t+1}} y_{ij} > 0\}|}{K}",
        (r"\text{evenness}_t = -\frac{1}{\ln K} \sum_{j=1}^{K} p_j \ln p_j, \qquad "
         r"p_j = \frac{\mathrm{count}_j(L_{t+1})}{\sum_k \mathrm{count}_k(L_{t+1})}"),
    ],
    terms=["meanir-selected", "irlbl", "hard-to-learn", "conflicting", "exclusive-pair", "label-coverage", "evenness"],
)

frame = ins.per_round_frame(session)
tab_ir, tab_pool, tab_cov, tab_tbl = st.tabs(
    ["MeanIR of the picks", "Hard-to-learn / conflicting", "Label coverage", "Table"])
with tab_ir:
    if frame["mean_ir_selected"].notna().any():
        fig = viz.per_round_bars_or_lines(
            frame.rename(columns={"mean_ir_selected": "MeanIR of the selected batch"}),
            "MeanIR of the selected batch", kind="bar",
            title=f"MeanIR of the batch {strategy} selected, per round", y_title="MeanIR (1 = balanced)")
        widgets.figure(fig, key="insp_meanir")
    else:
        st.info("No batch had a positive label yet, so MeanIR is undefined.")
    st.caption("A low MeanIR can come from a batch that covers few labels: read it with the batch's label "
               "coverage and the labelled set's evenness (the **Label coverage** tab).")
with tab_pool:
    plot = frame.rename(columns={"hard_to_learn_count": "hard-to-learn in the pool",
                                 "conflicting_count": "conflicting in the pool"})
    fig = viz.per_round_bars_or_lines(plot, ["hard-to-learn in the pool", "conflicting in the pool"], kind="bar",
                                      title="Hard-to-learn and conflicting samples in the unlabelled pool",
                                      y_title="Unlabelled samples (count)")
    widgets.figure(fig, key="insp_pool_counts")
    if frame["selected_hard_to_learn"].notna().all():
        plot = frame.rename(columns={"selected_hard_to_learn": "hard-to-learn picks",
                                     "selected_conflicting": "conflicting picks"})
        fig = viz.per_round_bars_or_lines(plot, ["hard-to-learn picks", "conflicting picks"], kind="bar",
                                          title="Hard-to-learn and conflicting samples among the picks",
                                          y_title="Picked samples (count)")
        widgets.figure(fig, key="insp_picked_counts")
with tab_cov:
    plot = frame.assign(coverage=frame["label_coverage"] * 100, batch=frame["batch_coverage"] * 100,
                        even=frame["labelled_entropy"] * 100).rename(
        columns={"coverage": "labels with a positive in L (%)", "batch": "labels with a positive in the batch (%)",
                 "even": "evenness of L (%)"})
    fig = viz.per_round_bars_or_lines(plot, ["labels with a positive in L (%)",
                                             "labels with a positive in the batch (%)", "evenness of L (%)"],
                                      kind="line", title="Label coverage of the batch and of L, and L's evenness",
                                      y_title="Percent (100 = every label / perfectly even)")
    fig.update_yaxes(range=[0, 105])
    widgets.figure(fig, key="insp_coverage")
with tab_tbl:
    widgets.table(frame, key="insp_rounds", file_name="selection_by_round.csv", hide_index=True,
                  column_config=columns.table_config(frame, number_format=views.METRIC_FORMAT))

# ====================================================================== why this pick
COMAL_WORDS = """
**CoMAL's score** (Peng et al.) is built from these quantities, read per sample x:

* **k_j(x)**: how close x's embedding for label j, z_j(x), is to the label's **prototype** p_j (the
  normalised mean of the embeddings of the labelled samples that have j): a cosine similarity, 1 =
  pointing the same way. **kbar_j** is its average over the labelled set.
* **LC** (label cardinality): the average number of labels per labelled sample.
* **SLCI** (Similarity-enhanced Label Cardinality Inconsistency, CoMAL Eq. 7; the uncertainty part):
  count the labels whose k_j(x) is above its kbar_j (the labels x "looks like it has") and compare that
  count with LC. A sample that looks like it has far more or far fewer labels than usual is informative.
* **PFD** (Positive Feature Diversity, CoMAL Eq. 8; the representativeness part): add up 1 - k_j(x)
  over the labels the model predicts for x (its pseudo labels y*). Large when x's predicted labels sit
  far from their prototypes: the model predicts them, but x brings features the labelled set has not
  shown for them.
* **Q** mixes the two: gamma weighs SLCI against PFD; the top Q are picked.
"""
COMAL_TERMS = ["prototype", "label-cardinality", "slci", "pfd", "pseudo-label", "comal"]
COMAL_LATEX = [
    (r"k_j(x) = \cos\big(z_j(x),\ p_j\big), \qquad \bar k_j = \frac{1}{|L|}\sum_{x' \in L} k_j(x'), \qquad "
    r"\mathrm{LC} = \frac{1}{|L|}\sum_{x' \in L} \sum_j y_j(x')"),
    (r"\mathrm{SLCI}(x) = \Big|\sum_j \mathbb{1}\big[k_j(x) > \bar k_j\big] - \mathrm{LC}\Big|, \qquad "
    r"\mathrm{PFD}(x) = \sum_{j:\ y^*_j(x)=1} \big(1 - k_j(x)\big), \qquad "
    r"Q(x) = \mathrm{SLCI}(x)^{\gamma}\,\mathrm{PFD}(x)^{1-\gamma}"),
]

st.header("Why was this sample picked?")
widgets.explain(
    "a pick's score against the pool",
    f"""
Choose a round, then a pick: click a row of the table, a tick under the histogram, or use the selector.

* The **histogram** is the distribution of the strategy's score over the round's scored candidates (the
  unlabelled pool, a candidate subset, or CRAB's refined pool U*); the ticks below it are the picked
  samples and the dashed line is the one you inspect. **Percentile** = share of the scored candidates
  whose score is at most this one (100 = the top score); **rank** 1 = the highest. Both are over the
  scored set, which the metrics name ("Percentile in U*" for CRAB).
* Batch strategies do **not** simply take the top scores, so a pick can sit in the middle of the
  distribution: BESRA and CRAB run k-means on the candidates' score-change vectors and take the candidate
  nearest each centroid; BADGE seeds k-means++ on gradient embeddings (each next pick drawn with a
  probability growing with its squared distance to the picks so far); Core-Set is **k-center greedy**
  (no clustering): each next pick is the candidate farthest from every labelled or already picked sample.
* The **details** are what the strategy recorded for the pick: the components of its score and, for
  CRAB, the refined pool(s) and label(s) it came from (label-wise, negatively-correlated, hard-to-learn,
  or the random top-up).

This session's strategy: **{strategy_display}**; its score: {score_name}.
""" + (COMAL_WORDS if strategy == "comal" else ""),
    latex=[(r"\mathrm{percentile}(x) = 100 \cdot \frac{|\{x' \in U_{\mathrm{scored}} : s(x') \le s(x)\}|}"
            r"{|U_{\mathrm{scored}}|}")] + (COMAL_LATEX if strategy == "comal" else []),
    terms=["score", score_term, "percentile", "u-star", "top-up", "label-wise-pool", "negative-pool", "hard-pool",
           "kmeans-batch", "besra", "crab", "badge", "kmeans-pp", "core-set"]
          + (COMAL_TERMS if strategy == "comal" else []),
)

q_rounds = [int(r.round) for r in recs]
if len(q_rounds) > 1:
    t = st.select_slider("Round", options=q_rounds, value=q_rounds[-1], key="insp_round",
                         format_func=lambda r: f"round {r} ({recs[r].n_labeled} labelled, {len(recs[r].selected)} picked)")
else:
    t = q_rounds[0]
    st.caption(f"Round {t} ({recs[t].n_labeled} labelled, {len(recs[t].selected)} picked).")
rec = recs[t]
picks = ins.picks_table(session, t)
positions = [int(p) for p in picks["position"]]


def _selected_position(widget_key: str, extract) -> int | None:
    """A pick chosen on a table / chart since the last run (None when that selection did not change)."""
    value = extract(st.session_state.get(widget_key))
    last_key = f"_insp_last_{widget_key}"
    if value != st.session_state.get(last_key):
        st.session_state[last_key] = value
        return value
    return None


def _from_table(event):
    return ins.position_from_table_event(event, positions)


def _from_chart(event):
    return ins.position_from_chart_event(event, ins.round_candidates(session, t), positions)


table_key, chart_key = f"insp_picks_r{t}", f"insp_scores_r{t}"
for wkey, extract in ((f"table_{table_key}", _from_table), (f"chart_{chart_key}", _from_chart)):
    chosen = _selected_position(wkey, extract)
    if chosen is not None:
        st.session_state["insp_pick"] = chosen
if st.session_state.get("insp_pick") not in positions:
    st.session_state["insp_pick"] = positions[0]

oracle_heading = views.oracle_labels_heading(rec.answered_by)
# the CSV keeps every column; the table names the scored set in its headings and leaves out ranked_among
# (one value per round, said in the caption under the metrics)
shown_picks = picks.drop(columns=["round"]).rename(columns={"oracle_labels": oracle_heading})
widgets.table(shown_picks, key=table_key, file_name=f"picks_round{t}.csv", hide_index=True, on_select="rerun",
              selection_mode="single-row",
              column_config=columns.table_config(shown_picks, scored_set=ins.ranked_among(session, t)["set"],
                                                 aliases={oracle_heading: "oracle_labels"}, hidden=("ranked_among",)))

label_of = dict(zip(picks["position"].astype(int), picks["oracle_labels"].astype(str)))
order_of = dict(zip(picks["position"].astype(int), picks["order"].astype(int)))
pos = st.selectbox("Inspect pick", positions, key="insp_pick",
                   format_func=lambda p: f"#{order_of[p]}: pool sample {p} ({label_of[p] or 'no label'})")
info = ins.pick_explanation(session, t, pos)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Score", "n/a" if not np.isfinite(info["score"]) else f"{info['score']:.4g}",
          help=_gl(score_name[0].upper() + score_name[1:], score_term))
c2.metric(info["percentile_label"], "n/a" if not np.isfinite(info["percentile"]) else f"{info['percentile']:.1f}",
          help=_gl(f"Over {info['ranked_among']}.", "percentile"))
c3.metric(info["rank_label"], "n/a" if info["rank"] is None else f"{info['rank']} of {info['n_scored']}",
          help=_gl(f"Rank {info['rank_text']}.", "percentile"))
c4.metric("Pick order", f"#{info['order']} of {len(positions)}")
if info["scored_set"]:
    st.caption(f"Percentile and rank are over {info['ranked_among']}."
               + (f" {glossary.glossary_link('u-star', 'What is U*?')}" if info["scored_set"] == "U*" else ""))
st.markdown(f"**Why:** {info['reason']}")
if info["pools"]:
    st.markdown(f"**Refined pool(s):** {info['pools']}")
st.markdown(f"**{oracle_heading[0].upper() + oracle_heading[1:]}:** {info['labels'].replace('|', ', ') or '(none)'}")
if info["text"]:
    text = info["text"]
    st.markdown("**Text:**")
    st.markdown("> " + (text[:800] + (" ..." if len(text) > 800 else "")).replace("\n", " "))


def _rebuild_progress(text: str):
    """A progress bar and the callback that moves it while a round's model is rebuilt."""
    bar = st.progress(0.0, text=text)
    return bar, progress_callback(bar)


state = ins.cached_state(session, t)
if state is not None:
    st.caption("Round model's mean predicted probabilities (top 5): " + ins.pick_prediction(state, pos, names, 5))
elif st.button(f"Show round {t}'s model predictions for this pick", key="insp_rebuild",
               help=f"Retrains round {t}'s model on {views.labelled_set_name(t)} (seconds for an MLP, minutes for a text backbone); "
                    "kept in memory afterwards, also for the comparison below."):
    bar, update = _rebuild_progress(f"Rebuilding round {t}'s model...")
    try:
        state = ins.round_state(session, t, progress=update)
    except MLALError as e:
        st.error(f"Round {t}'s model could not be rebuilt: {e}")
    bar.empty()
    if state is not None:
        st.caption("Round model's mean predicted probabilities (top 5): " + ins.pick_prediction(state, pos, names, 5)
                   + f" (model rebuilt in {state.seconds:.1f} s).")

scores = info["scores"]
if np.isfinite(scores).any() and np.isfinite(info["score"]):
    try:
        fig = viz.score_distribution(scores, info["picked_mask"], highlight=info["candidate_index"],
                                     score_name=score_name, highlight_label=f"pool sample {pos}",
                                     set_name=info["scored_set"],
                                     title=f"Round {t}: {score_name} of the {info['n_scored']} scored candidates")
        widgets.figure(fig, key=chart_key, on_select="rerun", selection_mode="points")
        st.caption("Click a tick (a picked sample) under the histogram to inspect it.")
    except ConfigError as e:
        st.caption(f"No score distribution for this round: {e}")
else:
    st.info(f"{strategy_display} gives this round no per-sample score to compare (e.g. random sampling).")

k_profile = ins.comal_k_profile(session, t, pos) if strategy == "comal" else None
if k_profile is not None:
    st.markdown(
        "**CoMAL's components per label.** Bars: how close this sample's embedding for each label is to that "
        "label's prototype (k); diamonds: the labelled set's average (kbar). SLCI counts the bars above their "
        "diamond and compares the count with LC; PFD adds up 1 - k over the predicted labels (blue bars).")
    title = f"Pool sample {pos}: prototype similarity per label (blue = predicted label)"
    if viz.is_large_k(len(k_profile)):  # a page of bars, the most similar labels first
        n_pages = viz.n_pages(len(k_profile))
        page = int(st.number_input(f"Page (of {n_pages}; labels sorted by k, largest first)", 1, n_pages, 1,
                                   key="insp_kprofile_page"))
        k_profile = k_profile.iloc[viz.label_page(k_profile["k"].fillna(-np.inf).clip(lower=-1e9), page)]
        title += f", page {page} of {n_pages}"
    widgets.figure(viz.comal_k_profile_figure(k_profile, title=title), key="insp_kprofile")

with st.expander("All details of this pick"):
    det = info["details"].drop(labels=[c for c in ("round",) if c in info["details"].index])
    kv = pd.DataFrame({"field": det.index.astype(str), "value": [str(v) for v in det.values]})
    widgets.table(kv, key="insp_detail", file_name=f"pick_round{t}_sample{pos}.csv", hide_index=True)

# ====================================================================== other strategies
st.header("What would the other strategies have picked this round?")
widgets.explain(
    "the same model state, several strategies",
    f"""
All strategies below see **exactly** what {strategy} saw in round {t}: the same labelled set, the same
trained model and its predictions, the same candidates and the same random seed. Only the selection rule
differs, so the overlap of their picks isolates the effect of the rule.

To get that state back the round's model is retrained on {views.labelled_set_name(t)} with the round's seed (the loop trains
deterministically, so it is the same model; the page checks that {strategy} picks the recorded samples
again). Rounds run in this browser session are kept in memory and need no retraining.

**Jaccard overlap** of two pick sets A and B: the size of their intersection over the size of their
union; 1 = the same samples, 0 = nothing in common.
""",
    latex=r"J(A, B) = \frac{|A \cap B|}{|A \cup B|}",
    terms=["jaccard", "labelled-set", "round"],
)
choices = ins.strategy_choices(session)
runnable = [n for n, _, why in choices if not why]
display = {n: d for n, d, _ in choices}
default = [s for s in dict.fromkeys([strategy, "random", "entropy", "bald", "besra", "crab"]) if s in runnable]
picked = st.multiselect("Strategies", runnable, default=default, key="insp_strats",
                        format_func=lambda n: display.get(n, n),
                        help="Text-only strategies are offered for text datasets only. Parameters: the session's "
                        "for its own strategy, the defaults for the others.")
not_here = [f"{d} ({why})" for n, d, why in choices if why]
if not_here:
    st.caption("Not available here: " + "; ".join(not_here))

cmp_store = st.session_state.setdefault("insp_comparisons", {})
cmp_key = (key, t)
if st.button(f"Compare on round {t}'s model", key="insp_compare", type="primary", disabled=not picked):
    bar, _progress = _rebuild_progress("starting")
    with st.spinner(f"Running {len(picked)} strategies on round {t}'s model (retraining it when not in memory)..."):
        try:
            cmp_store[cmp_key] = ins.compare_strategies(session, t, picked, progress=_progress)
        except MLALError as e:
            st.error(f"The comparison failed: {e}")
    bar.empty()

result = cmp_store.get(cmp_key)
if result is not None:
    if result.reproduced is False:
        st.warning(f"Retraining round {t}'s model did not reproduce the recorded picks of {strategy}: the model or "
                   "strategy code changed since the round was recorded, or the hardware computes differently (e.g. "
                   "a GPU's non-deterministic kernels). The comparison uses the retrained model; its row "
                   f"'{strategy}' shows what {strategy} picks on it.")
    else:
        how = "kept in memory from the live run" if result.source == "memory" else \
            f"retrained on {views.labelled_set_name(t)}; {strategy} picks the recorded samples again"
        st.caption(f"Model state of round {t}: {how}.")
    for name, err in result.errors.items():
        st.warning(f"{display.get(name, name)} could not run on this round: {err}")
    if len(result.jaccard):
        fig = viz.strategy_overlap_heatmap(result.jaccard, title=f"Overlap of the picks in round {t} (Jaccard)")
        widgets.figure(fig, key="insp_jaccard")
    widgets.table(result.summary, key="insp_cmp_summary", file_name=f"strategy_comparison_round{t}.csv",
                  hide_index=True, column_config=columns.table_config(result.summary))
    with st.expander("The picks of every strategy"):
        wide = result.picks_frame()
        if len(wide):
            wide = wide.pivot(index="order", columns="strategy", values="position").reset_index()
        widgets.table(wide, key="insp_cmp_picks", file_name=f"strategy_picks_round{t}.csv", hide_index=True)
else:
    st.caption("Choose strategies and press the button (the first comparison of a round retrains its model).")
