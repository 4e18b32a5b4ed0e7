"""Page 3, Active learning: run rounds (one, or N with progress and cancel), label picks as a person,
see this round's metrics and picks, export the session."""

from __future__ import annotations

import numpy as np
import streamlit as st

from mlal_core.errors import MLALError
from mlal_core.inspection import feature_summary, round_history, stopping_views, views
from mlal_core.inspection.session_zip import metric_name, session_export_zip, session_figures
from mlal_core.session import tables
from mlal_core.strategies import registry
from ui import columns, state, widgets

HEADLINE_METRICS = {
    "micro_f1": "F1 over all (sample, label) decisions pooled: dominated by the frequent labels.",
    "macro_f1": "F1 computed per label, then averaged: every label counts the same, so rare labels matter.",
    "p@1": "Share of test samples whose most probable label is one of their true labels.",
    "macro_auc": "Per-label area under the ROC curve, averaged: how well probabilities rank positives "
                 "above negatives (0.5 = chance, 1 = perfect).",
    "hamming_loss": "Share of wrong (sample, label) decisions at threshold 0.5: lower is better.",
}

#: how many of a tabular pick's features the labelling form lists
FEATURES_SHOWN = 8


session = state.require_session()
ds = session.dataset
names = list(ds.label_names)
cfg = session.config
sinfo = registry.info(cfg.strategy)

st.title("Active learning")
st.caption(f"Dataset **{ds.name}** · strategy **{sinfo.display_name}** · query size {cfg.query_size} · "
           f"{cfg.rounds} rounds planned · seed {cfg.seed} · session `{(session.session_id or '-')[:8]}`")
widgets.explain(
    "a round, its metrics and its picks",
    "Each **round** $t$ trains the model from scratch on the labelled set $L_t$, measures it on the test "
    "split (the *metrics* below), then the strategy scores the unlabelled samples and picks the "
    f"$b = {cfg.query_size}$ with the highest utility. The **oracle** answers their labels and they join the "
    "labelled set. After the last round, a final model is trained and measured (no picks).\n\n"
    "* **F1** balances precision (of the labels predicted, how many are right) and recall (of the true "
    "labels, how many were found). *Micro* pools every (sample, label) decision; *macro* averages over "
    "labels, so rare labels weigh as much as frequent ones.\n"
    "* In the picks table, **score** is the strategy's utility (higher = picked first), the other numeric "
    "columns are the parts it is made of, and **reason** says why the sample was chosen. **predicted_top** "
    "lists the model's most probable labels with their probability (the mean over ensemble members).",
    [(r"\mathrm{F1} = \frac{2\,\mathrm{TP}}{2\,\mathrm{TP} + \mathrm{FP} + \mathrm{FN}}, \qquad "
      r"\text{macro-F1} = \frac{1}{K}\sum_{j=1}^{K} \mathrm{F1}_j")],
    terms=["round", "labelled-set", "oracle", "micro-f1", "macro-f1", "p-at-k", "macro-auc", "hamming-loss",
           "score", "mean-probability", "pseudo-label", sinfo.name],
)

progress_area = st.container()


# ------------------------------------------------------------------------------------ helpers
def _next_is_final(s) -> bool:
    return s.next_round >= s.config.rounds or s.unlabeled.size == 0


def _query_rounds_left(s) -> int:
    return 0 if s.finished else max(0, s.planned_records() - len(s.history) - 1)


def _records_for(n_query: int) -> int:
    """Records to write for ``n_query`` query rounds (+1 for the final evaluation when they finish
    the session)."""
    left = _query_rounds_left(session)
    n_query = min(n_query, left)
    return n_query + (1 if n_query == left else 0)


def _start(n_query: int) -> None:
    state.clear_pending(session)
    state.start_worker(session, _records_for(n_query))


@st.fragment(run_every=1.0)
def _worker_panel() -> None:
    """The rounds running in the background: records written, the phase in progress, cancel."""
    worker = state.get_worker(session)
    if worker is None:
        return
    if not worker.running:
        state.finish_worker()
        st.rerun(scope="app")
    status = worker.status()
    st.progress(status.records_done / status.records_total,
                text=f"{status.records_done} of {status.records_total} record(s) written · "
                     f"{status.elapsed_s:.0f} s so far · the rounds run in the background: other pages stay usable")
    st.progress(status.step_fraction or 0.0, text=status.message)
    c1, c2, _ = st.columns([1, 1, 2])
    c1.button("Cancel now", key="al_cancel", on_click=worker.cancel, icon=":material/stop_circle:",
              help="Drops the round in progress at its next step; the session stays at its last completed round.")
    c2.button("Stop after this round", key="al_stop_after", on_click=worker.stop_after_round,
              icon=":material/pause_circle:", help="Lets the round in progress finish and be stored, then stops.")


# ------------------------------------------------------------------------------------ controls
run = state.get_worker(session)
pending = state.get_pending(session)
if "al_oracle_choice" not in st.session_state:
    st.session_state["al_oracle_choice"] = state.get_oracle()
oracle = st.radio(
    "Who labels the picks (the oracle)?", ["simulated", "person"], horizontal=True, key="al_oracle_choice",
    format_func={"simulated": "Simulated: the dataset's true labels",
                 "person": "A person: you label each pick below"}.get,
    disabled=run is not None,
    help="A simulated oracle answers instantly with the ground truth (how papers compare strategies). With "
         "a person, each round stops after the picks are made until you submit their labels.",
)
state.set_oracle(oracle)

left = _query_rounds_left(session)
if session.finished:
    st.success(f"This session has finished: {len(session.labeled):,} of {session.n_pool:,} pool samples labelled "
               f"in {sum(1 for r in session.history if not r.final)} rounds. Compare it with others on "
               "**Learning curves**, or start a new one on **Home / set-up**.", icon=":material/flag:")
    st.page_link("pages/learning_curves.py", label="Go to Learning curves", icon=":material/show_chart:")
elif oracle == "simulated":
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    next_label = "Next round" if left else "Final evaluation"
    if c1.button(next_label, type="primary", disabled=run is not None, key="al_next",
                 help="Train, evaluate, pick and label one round." if left else
                 "All planned rounds are done: train and measure the final model."):
        _start(1)
        st.rerun()
    n_run = c2.number_input("Rounds to run", 1, max(1, left), max(1, left), key=f"al_n_{left}",
                            disabled=run is not None or left == 0)
    if c3.button((f"Run {int(n_run)} rounds" if int(n_run) > 1 else "Run 1 round") if left else "Run", disabled=run is not None or left == 0,
                 key="al_run"):
        _start(int(n_run))
        st.rerun()
    st.caption(f"{left} round(s) left of {cfg.rounds}; then a final evaluation. Each round is stored as soon as "
               "it completes, so cancelling or closing the page loses nothing that finished.")
else:
    if pending is None:
        label = "Propose the next picks" if left else "Final evaluation"
        if st.button(label, type="primary", key="al_propose", disabled=run is not None,
                     help="Train the model and let the strategy pick; you then label the picks."):
            state.clear_pending(session)
            state.start_worker(session, 1, commit=False)  # trains and picks in the background
            st.rerun()
        st.caption("With a person as the oracle, each round waits for your labels. The initial labelled set "
                   "was labelled from the dataset's ground truth.")


# ------------------------------------------------------------------------------------ labelling
def _submit_labels(pend) -> None:
    picks = pend.selected
    Y = np.zeros((len(picks), len(names)), dtype=np.uint8)
    for i, pos in enumerate(picks):
        for lab in st.session_state.get(f"al_lab_{pend.round}_{pos}", []):
            Y[i, names.index(lab)] = 1
    try:
        with state.session_lock(session):
            session.commit(pend, Y)
            state.clear_pending(session)
        if not session.finished and _next_is_final(session):
            state.start_worker(session, 1)  # the final evaluation needs no labels
    except MLALError as e:
        if not state.reload_if_advanced(session):  # another browser stored this round first: say so, no error
            st.session_state["al_error"] = str(e)


def _prefill_guesses(pend, proba) -> None:
    """Set (or clear) every pick's labels to the model's guesses: the labels with p > 0.5."""
    fill = bool(st.session_state.get("al_prefill"))
    for i, pos in enumerate(pend.selected):
        st.session_state[f"al_lab_{pend.round}_{pos}"] = (
            [names[j] for j in np.flatnonzero(proba[i] > 0.5)] if fill else [])


if oracle == "person" and pending is not None and not pending.final:
    picks = pending.selected
    proba = pending.predicted_proba()
    st.subheader(f"Label the {len(picks)} picks of round {pending.round}")
    m = pending.metrics
    st.caption(f"The model of round {pending.round} was trained on {pending.n_labeled:,} labelled samples (test "
               f"micro-F1 {m.get('micro_f1', float('nan')):.3f}, macro-F1 {m.get('macro_f1', float('nan')):.3f}) and "
               "picked these samples. Choose every label that applies to each sample (none is allowed), then submit. "
               "The model's guess is shown for reference; it is not an answer.")
    to_label = tables.picks_table(picks, names, proba=proba, details=pending.selection.details,
                                  texts=ds.train.texts, name_details=True)
    widgets.table(to_label, key="al_pending_picks", file_name=f"picks_round{pending.round}_to_label.csv",
                  hide_index=True, column_config=columns.table_config(to_label))
    st.checkbox("Start from the model's guesses (labels with p > 0.5)", key="al_prefill",
                on_change=_prefill_guesses, args=(pending, proba),
                help="Ticking fills every sample's labels with the model's guesses (you can still change them); "
                     "unticking clears them.")
    tabular = ds.train.texts is None
    if tabular:
        st.info(feature_summary.TABULAR_PERSON_NOTE, icon=":material/table_rows:")
    with st.form(f"al_label_form_{pending.round}"):
        for i, pos in enumerate(picks):
            st.markdown(f"**{i + 1}. Pool sample {pos}**")
            if tabular:
                st.dataframe(feature_summary.distinctive_features(
                    ds.train.X, ds.train.X[pos], feature_summary.feature_names_of(ds), top=FEATURES_SHOWN).round(3),
                    hide_index=True)
                st.caption(f"The {FEATURES_SHOWN} of its {ds.train.X.shape[1]} features furthest from the pool's "
                           "mean; z = (value - pool mean) / pool std.")
            else:
                st.text(tables.shorten_text(ds.train.texts[pos], 1200))
            st.multiselect(f"Labels of sample {pos}", names, key=f"al_lab_{pending.round}_{pos}")
            st.caption(f"Model's guess: {tables.predicted_string(proba[i], names)}")
        st.form_submit_button("Submit labels", type="primary", on_click=_submit_labels, args=(pending,))
    if st.session_state.get("al_error"):
        st.error(st.session_state.pop("al_error"), icon=":material/error:")

# ------------------------------------------------------------------------------------ results
history = session.history
if not history and run is None:
    st.info("No round yet: the model has not been trained. Press **Next round** (or, with a person as the oracle, "
            "**Propose the next picks**).", icon=":material/info:")
elif history:
    st.subheader("Round")
    options = [r.round for r in history]
    t = options[-1] if len(options) == 1 else st.select_slider(
        "Round to inspect", options, value=options[-1], key=f"al_round_{len(options)}",
        format_func=lambda r: f"{r} (final)" if history[r].final else str(r),
        help="Moves the metrics and the picks table to that round.")
    rec = history[t]
    prev = history[t - 1] if t > 0 else None
    st.markdown(f"**Round {t}**: the model was trained on **{rec.n_labeled:,}** labelled samples "
                f"({rec.n_labeled / session.n_pool:.1%} of the pool) and measured on {len(ds.test):,} test samples."
                + (" This is the final evaluation: it picks nothing (move the slider to an earlier round to see "
                   "its picks)." if rec.final else ""))
    cols = st.columns(len(HEADLINE_METRICS))
    for col, (m, help_) in zip(cols, HEADLINE_METRICS.items()):
        value = rec.metrics.get(m, float("nan"))
        before = None if prev is None else prev.metrics.get(m, float("nan"))
        col.metric(metric_name(m), f"{value:.3f}", help=views.help_with_glossary(help_, m),
                   **views.metric_delta(value, before, higher_is_better=views.higher_is_better(m)))

    if not rec.final and 0 < rec.n_candidates < rec.n_unlabeled:
        st.caption(f":material/filter_alt: Candidate subset: the strategy scored a seeded random {rec.n_candidates:,} "
                   f"of the {rec.n_unlabeled:,} unlabelled samples this round (hard-to-learn and conflicting counts "
                   "are still over the whole pool).")
    bound_note = None if rec.final else views.score_bound_note(rec.selection.diagnostics if rec.selection else None)
    if bound_note:
        st.caption(f":material/filter_alt: {bound_note}")
    if not rec.final:
        st.markdown(f"**The {len(rec.selected)} picks of round {t}** (in pick order)")
        table = tables.picks_table(rec.selected, names, labels=rec.labels, proba=rec.pick_proba,
                                   details=rec.selection.details if rec.selection is not None else None,
                                   texts=ds.train.texts, name_details=True)
        heading = views.oracle_labels_heading(rec.answered_by)
        table = table.rename(columns={"oracle_labels": heading})
        widgets.table(table, key="al_picks", file_name=f"picks_round{t}.csv", hide_index=True,
                      column_config=columns.table_config(table, aliases={heading: "oracle_labels"}))
        who = {"simulated": "the simulated oracle (the dataset's labels)", "person": "a person"}.get(rec.answered_by)
        if who:
            st.caption(f"The labels of these picks were given by {who}.")
        if rec.pick_proba is None:
            st.caption("This round was stored by an older version of the workbench, which did not keep the "
                       "model's probabilities for the picks.")

    figs = session_figures(history, title_prefix=f"{ds.name}, {cfg.strategy}")
    st.subheader("Progress so far")
    widgets.explain(
        "the progress figures",
        "**Learning curve**: the test score after each retraining against the number of labelled samples; a "
        "good strategy climbs faster. **MeanIR of each round's picks**: how imbalanced the labels of the "
        "picked batch are (1 = every label present equally often; higher = a few labels dominate). "
        "**Hard-to-learn** unlabelled samples are those for which the model gives every label a probability "
        "below 0.5; **conflicting** ones are predicted to carry two labels that never occur together in the "
        "labelled set (CRAB). **Labels seen**: the share of labels with at least one labelled positive. "
        "**Balance and coverage**: MeanIR only counts the labels a batch contains, so a batch that covers few "
        "labels looks balanced; beside it, the share of labels the batch covers, the share the labelled set L "
        "covers, and L's **evenness** (normalised entropy of its label counts over all K labels: 1 = every "
        "label equally often; missing labels lower it).",
        [(r"\mathrm{IRLbl}(j) = \frac{\max_{k} n_k}{n_j}, \qquad \mathrm{MeanIR} = "
          r"\frac{1}{|\{j: n_j > 0\}|}\sum_{j:\ n_j > 0} \mathrm{IRLbl}(j)"),
         r"\text{hard-to-learn}(x) \iff \max_j \bar p_j(x) < 0.5",
         r"\text{evenness}(L) = -\frac{1}{\ln K}\sum_{j=1}^{K} p_j \ln p_j, \quad p_j = \frac{n_j}{\sum_k n_k}"],
        terms=["learning-curve", "meanir-selected", "irlbl", "hard-to-learn", "conflicting", "label-coverage",
               "evenness"],
    )
    if "learning_curve" in figs:
        widgets.figure(figs["learning_curve"], key="al_curve")
    others = {"batch_mean_ir": "MeanIR of the picks", "pool_hard_conflicting": "Hard-to-learn / conflicting",
              "label_coverage": "Labels seen"}
    others = {k: v for k, v in others.items() if k in figs}
    balance = round_history.balance_frame(session) if others else None
    if others:
        tabs = st.tabs([*others.values(), "Balance and coverage"])
        for tab, k in zip(tabs, others):
            with tab:
                widgets.figure(figs[k], key=f"al_{k}")
        with tabs[-1]:
            st.caption("A low MeanIR can come from a batch that covers few labels: read it with the coverages "
                       "and the evenness of the labelled set (1 = every label equally often).")
            widgets.table(balance.rename(columns=round_history.BALANCE_NAMES), key="al_balance",
                          file_name="balance.csv", hide_index=True)
    st.subheader("When to stop")
    widgets.explain(
        "the stopping criteria",
        "Each **stopping rule** reads what the session stored after every round (never the test labels) and says "
        "whether labelling more is still worth it; *would stop here* means: keep this round's model and label no "
        "more. **Stabilizing predictions** compares the last models' predictions on the **stop set** (up to 2,000 "
        "pool samples drawn once, no labels needed) with Cohen's kappa per label, averaged over labels; "
        "**predicted change of F** estimates from the same predictions how much the F-score moved; **classification "
        "change** counts stop-set samples, still unlabelled, whose predicted labels changed. **Overall** and "
        "**maximum uncertainty** are the mean label entropy over the unlabelled pool and over this round's picks; "
        "**selected accuracy** is how well the previous model had predicted the labels of the batch it picked "
        "(micro-F1). Thresholds are the papers' defaults; a rule that needs data an older session did not record "
        "says so. Compare each rule's stop with hindsight on the **Learning curves** page.",
        [r"\kappa_j = rac{p_o - p_e}{1 - p_e},\qquad \Delta\hat F = 1 - rac{2a}{2a + b + c}",
         r"u(x) = rac{1}{K}\sum_{j=1}^{K} H(ar p_j(x)),\qquad H(p) = -p\log_2 p - (1-p)\log_2(1-p)"],
        terms=stopping_views.STOPPING_TERMS,
    )
    budget = st.number_input("Label budget (0 = none)", min_value=0, step=10, key="al_stop_budget",
                             help="Adds the rule 'stop once this many samples are labelled' to the tables.")
    overview, by_round = stopping_views.session_stopping_tables(history, int(budget) or None)
    widgets.table(overview, key="al_stop_now", file_name="stopping_now.csv", hide_index=True,
                  column_config=columns.table_config(overview, helps=stopping_views.OVERVIEW_HELP))
    with st.expander("Each rule after each round (table)"):
        widgets.table(by_round, key="al_stop_rounds", file_name="stopping_by_round.csv", hide_index=True,
                      column_config=columns.table_config(by_round, helps=stopping_views.BY_ROUND_HELP))
    with st.expander("All rounds (table)"):
        frame = tables.rounds_frame(history)
        widgets.table(frame, key="al_rounds", file_name="rounds.csv", hide_index=True,
                      column_config=columns.table_config(frame, number_format=views.METRIC_FORMAT))

    st.subheader("Export this session")
    st.download_button(
        "Download the whole session (zip)", key="al_zip", on_click="ignore", mime="application/zip",
        data=lambda size=widgets.export_size(): session_export_zip(state.get_store(), session.session_id, size=size),
        file_name=f"mlal-session-{(session.session_id or 'x')[:8]}.zip", icon=":material/folder_zip:",
        help="config.json, session.json (everything stored), rounds.csv, picks.csv and every figure as PNG, SVG "
             "and standalone HTML.")
    st.caption("Each figure and table above also has its own download buttons (PNG / SVG / HTML, CSV).")


# ------------------------------------------------------------------------------------ running
outcome = state.pop_outcome()
with progress_area:
    if run is not None:
        _worker_panel()
    elif outcome is not None and outcome.state == "cancelled":
        st.warning(f"{outcome.message} ({outcome.records_done} record(s) written.)", icon=":material/stop_circle:")
    elif outcome is not None and outcome.state == "failed":
        st.error(views.round_failure_text(outcome.error, len(session.history)), icon=":material/error:")
