"""Page 7, Learning curves: a metric against the labelled size for several sessions / strategies
(seeds averaged with a std band), the area under each curve, and the labelled fraction needed to reach
the full-data score."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mlal_core import data, glossary, viz
from mlal_core.errors import MLALError
from mlal_core.experiments import analysis
from mlal_core.inspection import stopping_views, views
from mlal_core.inspection.session_zip import metric_name
from mlal_core.inspection.views import higher_is_better, learning_curve_tables, paired_runs, session_rounds
from mlal_core.session import reference
from mlal_core.session.config import SessionConfig
from mlal_core.session.loop import feature_request
from mlal_core.strategies import registry
from ui import columns, state, widgets

METRICS = ["micro_f1", "macro_f1", "micro_f1_tuned", "macro_f1_tuned", "macro_auc", "p@1", "p@3", "ndcg@3", "lrap",
           "hamming_loss", "ranking_loss"]

st.title("Learning curves")
widgets.explain(
    "learning curves, their area (AULC) and the full-data score",
    "A **learning curve** plots a test score against the number of labelled samples: one point per retraining "
    "of a session. Sessions of the same strategy **and the same setting** (model, representation, initial and "
    "query size ...) that differ only in their **seed** (initial set and model initialisation) are averaged: the "
    "line is the mean, the shaded band the mean $\\pm$ one standard deviation over seeds, so overlapping bands mean "
    "the difference may be luck. Sessions whose settings differ are never averaged together: each setting gets "
    "its own curve, labelled with what sets it apart.\n\n"
    "The **area under the learning curve** (AULC) sums the whole curve into one number: the average score "
    "over the labelled range, on the metric's own scale (a strategy that is better early gets a larger "
    "area). It is not the Macro-AUC metric (the area under each label's ROC curve). The **full-data score** "
    "$s^*$ is the score of the same model trained once on the whole pool (one per model setting); the "
    "**labelled fraction to reach it** is the smallest share of the pool at which a curve first reaches "
    "$s^*$ (BEAL, Table 2). Empty when it never does within the budget.\n\n"
    "**The metrics.**\n\n" + "\n".join(f"* **{views.linked_name(m, metric_name(m))}**: {views.metric_help(m)}"
                                         for m in METRICS),
    [(r"\mathrm{AULC} = \frac{1}{n_R - n_0}\int_{n_0}^{n_R} s(n)\,dn \approx "
      r"\frac{1}{n_R - n_0}\sum_{t=1}^{R}\frac{s_{t-1} + s_t}{2}\,(n_t - n_{t-1})"),
     r"f^* = \min\{\, n_t / N \;:\; s_t \ge s^* \,\}",
     (r"\mathrm{nDCG@}k = \frac{\sum_{r=1}^{k} y_{(r)} / \log_2(1 + r)}{\sum_{r=1}^{\min(k, |y|)} 1 / \log_2(1 + r)},"
      r"\qquad \mathrm{LRAP} = \frac{1}{n}\sum_i \frac{1}{|y_i|}\sum_{j: y_{ij}=1}"
      r"\frac{|\{l: y_{il}=1,\ \mathrm{rank}_{il} \le \mathrm{rank}_{ij}\}|}{\mathrm{rank}_{ij}}")],
    terms=["learning-curve", "aulc", "full-data-score", "macro-auc", "tuned-threshold"],
)

store = state.get_store()
sessions = store.list_sessions()
sessions = sessions[sessions["records"] > 0]
if sessions.empty:
    st.info("No stored session has a completed round yet. Start one on **Home / set-up** and run a few rounds "
            "on **Active learning**; each session you run appears here.", icon=":material/info:")
    st.page_link("pages/home.py", label="Go to Home / set-up", icon=":material/home:")
    st.stop()

# ------------------------------------------------------------------------------------ choose
current = state.get_session()
datasets = list(pd.unique(sessions["dataset"].astype(str)))
default_ds = current.dataset.name if current is not None and current.dataset.name in datasets else datasets[0]
c1, c2, c3 = st.columns([1, 1, 1])
dataset = c1.selectbox("Dataset", datasets, index=datasets.index(default_ds), key="lc_dataset",
                       help="Curves are compared on one dataset at a time.")
metric = c2.selectbox("Metric", METRICS, format_func=metric_name, key="lc_metric",
                      help="\n\n".join(f"**{views.linked_name(m, metric_name(m))}**: {views.metric_help(m)}"
                                         for m in METRICS))
by = c3.radio("One curve per", ["strategy", "session"], horizontal=True, key="lc_by",
              format_func={"strategy": "strategy (seeds averaged)", "session": "session"}.get)
of_ds = sessions[sessions["dataset"].astype(str) == dataset]


def _session_label(row) -> str:
    return f"{row['name'] or row['strategy']} · seed {row['seed']} · {row['rounds_done']} rounds · {row['id'][:6]}"


labels = {r["id"]: _session_label(r) for _, r in of_ds.iterrows()}
chosen = st.multiselect("Sessions", list(labels), default=list(labels)[:20], format_func=labels.get,
                        key=f"lc_sessions_{dataset}", help="Every stored session of this dataset (newest first).")
if not chosen:
    st.info("Choose at least one session.")
    st.stop()


def _rounds(sid: str) -> pd.DataFrame:
    row = of_ds[of_ds["id"] == sid].iloc[0]
    return state.memo(("lc_rounds", sid, row["updated_at"], int(row["records"])),
                      lambda: session_rounds(store, [sid]), max_entries=64)


runs = pd.concat([_rounds(sid) for sid in chosen], ignore_index=True)
runs["session_label"] = runs["session"].map(labels)
st.caption(f"**{metric_name(metric)}**: {views.help_with_glossary(views.metric_help(metric), metric)}")

# the dataset (for the full-data score and to resolve the representation "auto")
info = store.session_info(chosen[0])
first_cfg = SessionConfig.from_dict(info["config"])
ref_ds = None
if first_cfg.dataset:
    ref_ds = data.load(first_cfg.dataset)
elif current is not None and info.get("dataset_hash") == state.dataset_key(current.dataset):
    ref_ds = current.dataset
settings = views.session_settings(runs, ref_ds.kind if ref_ds is not None else None)
runs = runs.merge(settings[["session", "curve", "setting_key"]], on="session", how="left")
# a person's labels are not the ground truth the other sessions learned from: drawn as curves of their own
person_labelled = views.person_labelled_sessions(runs)
runs = views.mark_person_labelled(runs, ["curve", "session_label"])
if person_labelled:
    st.info(f"{len(person_labelled)} of the chosen sessions had rounds labelled by a person: their curves are marked "
            f"**{views.PERSON_LABELLED.strip()}** and never averaged with simulated sessions. They are left out of the "
            "paired comparison below unless you include them there.", icon=":material/person:")
group = "curve" if by == "strategy" else "session_label"
mixed = by == "strategy" and settings["differences"].ne("").any()
if mixed:
    st.info("The chosen sessions differ in more than their strategy and seed, so only sessions of the same setting "
            "are averaged: each curve is a strategy and what sets its setting apart ("
            + "; ".join(pd.unique(settings["differences"][settings["differences"] != ""])) + ").",
            icon=":material/call_split:")

# ------------------------------------------------------------------------------------ reference
targets: dict[str, float] = {}
full_data: dict[str, float] = {}
with st.container(border=True):
    st.markdown("**Full-data score**: the same model trained once on the whole pool")
    if ref_ds is None:
        st.caption("These sessions were run on an uploaded file: open one of them (Home / set-up) to compute the "
                   "full-data score.")
    else:
        for _, ms in views.model_settings(settings).iterrows():
            ms_cfg = SessionConfig.from_dict(store.session_info(ms["session"])["config"])
            what = f" ({ms['label']})" if ms["label"] else ""
            ref = None
            try:
                ref = reference.cached_full_data_score(ms_cfg, ref_ds)
            except MLALError as e:
                st.error(str(e))
            others = len(ms["sessions"]) - 1
            st.caption(f"{'**' + ms['label'] + '**: ' if ms['label'] else ''}"
                       f"{views.model_description(ms_cfg, ref_ds.kind)}, seed {ms_cfg.seed} (the settings of session "
                       f"`{ms['session'][:6]}`" + (f" and {others} more" if others else "")
                       + f"); {len(ref_ds.train):,} pool samples.")
            if ref is None and st.button("Compute the full-data score" + what, key=f"lc_ref_{ms['session']}",
                                         help="Trains the model once on every pool sample (a few seconds to minutes); "
                                              "the result is cached on disk."):
                bar = st.progress(0.0, text="Training on the whole pool...")
                try:
                    ref_feats = state.features_for(ref_ds, feature_request(ms_cfg, ref_ds.kind),
                                                   progress=state.progress_callback(bar))
                    ref = reference.full_data_score(ms_cfg, ref_ds, features=ref_feats,
                                                    progress=state.progress_callback(bar))
                except MLALError as e:
                    bar.empty()
                    st.error(f"The full-data score could not be computed: {e}")
                else:
                    st.rerun()
            if ref is not None:
                value = ref["metrics"].get(metric)
                if value is not None:
                    targets.update(dict.fromkeys(ms["sessions"], float(value)))
                    full_data[ms["label"]] = float(value)
                st.metric(f"Full-data {metric_name(metric)}{what}", f"{value:.4f}" if value is not None else "n/a",
                          help=f"Trained on all {ref['pool_size']:,} pool samples in {ref['seconds']:.1f} s.")

# ------------------------------------------------------------------------------------ curves
try:
    summary, per_session, per_group = learning_curve_tables(runs, metric, by=group, target=targets or None)
except MLALError as e:
    st.error(str(e))
    st.stop()


def _stops(sid: str) -> pd.DataFrame:
    row = of_ds[of_ds["id"] == sid].iloc[0]
    return state.memo(("lc_stops", sid, row["updated_at"], int(row["records"])),
                      lambda: stopping_views.session_stop_columns(store, [sid]), max_entries=64)


stop_cols = pd.concat([_stops(sid) for sid in chosen], ignore_index=True)
outcomes = stopping_views.curve_outcomes(runs, stop_cols, metric, references=targets or None,
                                         higher_is_better=higher_is_better(metric))
display = analysis.strategy_display_names(summary[group]) if by == "strategy" else None
fig = viz.learning_curves(summary, group=group, metric_name=metric_name(metric), clip=(0.0, 1.0),
                          title=f"Learning curves on {dataset}: {metric_name(metric)}"
                                + (" (mean \u00b1 std over seeds)" if by == "strategy" else ""),
                          y_title=f"{metric_name(metric)} on the test split (0-1)", full_data=full_data or None,
                          display_names=display)
if not outcomes.empty and st.checkbox(
        "Mark where each stopping rule and the oracle would stop", value=True, key="lc_stop_marks",
        help="One marker per rule on each curve (the median over the curve's sessions); stars: the first round "
             "reaching 95 % / 99 % of the final (and of the full-data) score. See *When to stop* below."):
    viz.add_stop_markers(fig, stopping_views.stop_markers(outcomes, summary, group), display_names=display)
widgets.figure(fig, key="lc_curves")
if by == "strategy":
    st.caption("Strategies: " + "; ".join(f"**{s}** = {registry.info(s).display_name}"
                                          for s in pd.unique(runs["strategy"]) if s))

better = "higher" if higher_is_better(metric) else "lower"
st.subheader("Area under the learning curve (AULC)")
st.caption(f"Mean {metric_name(metric)} over the labelled range ({better} is better)"
           + ("; *fraction to reach*: share of the pool labelled when the curve first reached its full-data score."
              if targets else "."))


def _fraction(v: float) -> str:
    return "not reached" if pd.isna(v) else f"{v:.1%}"


reach = "labelled fraction to reach the full-data score"
_gl = views.help_with_glossary
_reach_help = _gl("Share of the pool labelled when the curve first reached the full-data score.", "full-data-score")
#: help on the columns of the AULC and paired-comparison tables, each linked to its glossary entry
TABLE_HELP = {
    "AULC (mean)": _gl("The mean over the curve's sessions of their AULC.", "aulc"),
    "AULC (std over sessions)": _gl("The standard deviation over the curve's sessions of their AULC; None for a "
                                    "curve of one session (a std needs at least two seeds).", "aulc"),
    "AULC": _gl(f"Mean {metric_name(metric)} over the labelled range.", "aulc"),
    reach: _reach_help,
    f"{reach} (mean curve)": _reach_help,
    "test": "The paired t-test below 6 seeds, the Wilcoxon signed-rank test from 6 on. Glossary: "
            f"{glossary.glossary_link('paired-t-test')}, {glossary.glossary_link('wilcoxon')}.",
    "p": "Two-sided p-value of the test named in the *test* column.",
    "p_holm": _gl("The p-value adjusted for the number of comparisons.", "holm"),
}


def _table_config(frame: pd.DataFrame) -> dict:
    """The help above and one number format per column (views.table_columns)."""
    return columns.table_config(frame, number_format=views.METRIC_FORMAT, helps=TABLE_HELP)


shown = per_group.rename(columns={group: "curve", "aulc_mean": "AULC (mean)", "aulc_std": "AULC (std over sessions)"})
if "fraction_to_reach (mean curve)" in shown:
    shown[f"{reach} (mean curve)"] = shown.pop("fraction_to_reach (mean curve)").map(_fraction)
widgets.table(shown.round(4), key="lc_auc", file_name=f"aulc_{dataset}_{metric}.csv", hide_index=True,
              column_config=_table_config(shown))
if (shown["sessions"] < 2).any():
    st.caption("A curve of one session has no std over sessions (the table says None): the std needs at least two seeds.")
with st.expander("Per session"):
    per = per_session.rename(columns={group: "curve", "aulc": "AULC", "final labelled": "final labelled (count)"})
    if "fraction_to_reach" in per:
        per[reach] = per.pop("fraction_to_reach").map(_fraction)
    widgets.table(per.round(4), key="lc_auc_sessions", file_name=f"aulc_sessions_{dataset}_{metric}.csv",
                  hide_index=True, column_config=_table_config(per))


# ------------------------------------------------------------------------------------ when to stop
st.subheader("When to stop")
widgets.explain(
    "the stopping rules against hindsight",
    "Each **stopping rule** was evaluated after every round of every session from what the session stored, never "
    "from test labels (the Active learning page shows its values). Its **stop** is the first round after which it "
    "said stop; a rule that never did stops at the end of the session. The **oracle round** is hindsight, which "
    "needs the test labels: the first round whose test score reaches 95 % or 99 % of the session's final score "
    "(and of the full-data score when it is computed). **Labels vs 95 % oracle** is positive when the rule kept "
    "labelling after the score had got there (labels wasted) and negative when it stopped early (read the score "
    "at its stop); **labels saved** is against running the whole session. With one curve per strategy the "
    "numbers are medians over the curve's sessions.",
    [r"t^*_f = \min\{t : s_t \geq f\, s_{\mathrm{final}}\},\qquad \text{labels vs oracle} = n_{\mathrm{stop}} - n_{t^*_{0.95}}"],
    terms=stopping_views.STOPPING_TERMS,
)
if outcomes.empty:
    st.info("None of the chosen sessions recorded what the stopping rules need (sessions stored before the "
            "workbench measured them). Run a new session to see them.", icon=":material/info:")
else:
    comparison = stopping_views.stop_comparison(outcomes, group)
    widgets.table(comparison, key="lc_stops", file_name=f"stopping_{dataset}_{metric}.csv", hide_index=True,
                  column_config=columns.table_config(comparison, number_format=views.METRIC_FORMAT,
                                                     helps=stopping_views.COMPARISON_HELP))

# ------------------------------------------------------------------------------------ over seeds
if by == "strategy":
    st.subheader("Strategies compared over seeds")
    widgets.explain(
        "the paired comparison and the per-round statistics",
        "Runs of two strategies **with the same seed** start from the same initial labelled set and the same model "
        "seeds, so their difference in AULC is measured on equal terms. For every pair of strategies the table gives "
        "the mean paired difference, how often each won, and a two-sided **paired test** over the seeds: the "
        "paired t-test below 6 seeds, the Wilcoxon signed-rank test from 6 on (with 5 seeds Wilcoxon cannot go "
        "below p = 0.0625); *p (Holm)* corrects for making many comparisons at once. These are the same "
        "functions (`mlal_core.experiments.analysis`) that the reproduction report uses. **MeanIR of the selected batch** "
        "(CRAB Fig. 4) and the **hard-to-learn / conflicting** samples left in the pool (CRAB Fig. 5) are shown "
        "per round, mean $\\pm$ std over seeds. MeanIR only counts the labels a batch contains, so a batch that "
        "covers few labels looks balanced: beside it are the **label coverage** of the batch and of the labelled "
        "set L (share of labels with a positive) and L's **evenness** (normalised entropy of its label counts "
        "over all labels; 1 = every label equally often, missing labels lower it).",
        [(r"d_s = \mathrm{AULC}_A(s) - \mathrm{AULC}_B(s),\qquad t = \frac{\bar d}{s_d / \sqrt{n}}"
          r"\ \text{ with } n - 1 \text{ degrees of freedom (paired t-test, } s_d \text{ the std of the } d_s)"),
         (r"W = \sum_{s:\ d_s > 0} \mathrm{rank}(|d_s|)\ \text{(Wilcoxon)},\qquad "
          r"p^{\mathrm{Holm}}_{(i)} = \max_{l \le i} \min\big(1,\ (m - l + 1)\, p_{(l)}\big)")],
        terms=["aulc", "paired-t-test", "wilcoxon", "holm", "meanir-selected", "hard-to-learn", "conflicting",
               "label-coverage", "evenness"],
    )
    include_person = False
    if person_labelled:
        include_person = st.checkbox(
            "Include person-labelled sessions", value=False, key="lc_include_person",
            help="Off: the statistics compare simulated sessions only. On: each person-labelled session joins "
                 "them as a strategy of its own, marked (person-labelled).")
        st.caption(f"{len(person_labelled)} person-labelled session(s) "
                   + ("are included, each as a strategy of its own." if include_person else
                      "are left out of these statistics (off by default: a person's labels are not the ground "
                      "truth the other sessions learned from). Tick the box to include them."))
    # with several settings, each curve (strategy and setting) is compared as its own "strategy"
    compared = views.comparison_runs(runs.assign(strategy=runs["curve"]) if mixed else runs, include_person)
    paired = paired_runs(compared, dataset)
    per_run = analysis.aulc_per_run(paired, metric)
    seeds = per_run.groupby("strategy")["seed"].nunique()
    if len(seeds) < 2 or int(seeds.max()) < 2:
        st.info("A paired comparison needs at least two strategies run with the same two or more seeds. Run more "
                "sessions (same settings, other seeds) or an experiment grid (`python -m mlal_core experiment`).",
                icon=":material/info:")
    else:
        tests = analysis.paired_tests(per_run, higher_is_better=higher_is_better(metric))
        widgets.figure(analysis.pairwise_figure(tests, value_name=f"{metric_name(metric)} AULC"), key="lc_pairwise")
        shown = tests[["strategy", "other", "n", "mean_a", "mean_b", "mean_diff", "wins", "losses", "test", "p",
                       "p_holm"]].rename(columns={"n": "paired seeds", "mean_a": "AULC of strategy",
                                                  "mean_b": "AULC of other", "mean_diff": "mean difference"})
        widgets.table(shown.round(4), key="lc_paired", file_name=f"paired_{dataset}_{metric}.csv", hide_index=True,
                      column_config=_table_config(shown))
    figs = {}
    for title, build in (("MeanIR of the selected batch", lambda: analysis.mean_ir_figure(paired)),
                         ("Coverage of the batch", lambda: analysis.balance_figure(paired, "batch_coverage")),
                         ("Coverage of L", lambda: analysis.balance_figure(paired, "label_coverage")),
                         ("Evenness of L", lambda: analysis.balance_figure(paired, "labelled_entropy")),
                         ("Hard-to-learn in the pool", lambda: analysis.hard_conflicting_figure(paired)),
                         ("Conflicting in the pool",
                          lambda: analysis.hard_conflicting_figure(paired, "conflicting_count"))):
        try:
            figs[title] = build()
        except MLALError:  # e.g. no query round yet
            continue
    if figs:
        for tab, (title, fig) in zip(st.tabs(list(figs)), figs.items()):
            with tab:
                words = title.lower().split()
                widgets.figure(fig, key=f"lc_{words[0]}" + (f"_{words[-1]}" if words[0] in ("coverage", "evenness")
                                                           else ""))
