"""Batch selection: training mini-batch samplers compared (Zhou et al., uncertainty batch selection):
convergence per sampler, the label-correlation matrix C at two epochs and its change (paper Fig. 5),
and the distribution of the sampling probabilities over epochs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mlal_core import batch_selection as bsel
from mlal_core import glossary
from mlal_core.errors import MLALError
from mlal_core.experiments.batch_selection import (
    METRICS,
    convergence_figure,
    correlation_change,
    correlation_drift_figures,
    correlation_summary,
    correlation_trend_figure,
    pressure_table,
    probability_figure,
    run_batch_selection,
)
from mlal_core.inspection import views
from ui import columns, state, widgets

TABULAR = ["yeast", "scene", "emotions", "enron", "medical"]
PRETTY = {"macro_auc": "Macro-AUC", "ranking_loss": "Ranking loss", "hamming_loss": "Hamming loss"}

st.title("Batch selection")
st.caption("Which labelled rows go into each training mini-batch, and does choosing them help? "
           "The same model is trained with each sampler; the curves and matrices below come from those runs.")

widgets.explain(
    "uncertainty batch selection (Zhou et al.) and the five baselines",
    """
Batch selection changes **how the model is trained**, not which samples get labelled: every epoch a
sampler decides which labelled rows make up the mini-batches. **Random** shuffles. The adaptive samplers
draw the epoch's rows *with replacement* from probabilities `P`, after warm-up epochs of random batches
(5 by default):

* **Uncertainty** (the paper): per sample and label, the uncertainty `u` mixes the entropy of the current
  prediction (Eq. 1) with the mean absolute change of the last T = 5 predictions (Eq. 4). The labels'
  uncertainties are compared by **mutual information** in tau = 10 bins: the matrix **C** (Eq. 6, diagonal
  1) says which labels tend to be uncertain together. A row's weight is the row sum of `U C` (min-max
  normalised); rows are ranked by a quantiser and drawn with probability decaying geometrically in the
  rank, with a **selection pressure** s_t that falls from s0 = 100 (the most uncertain row is 100 times
  likelier than the least) to 1 (uniform) over training (Eq. 9-11). T, lambda1, tau, s0 and the warm-up
  are set in the form below (defaults: the paper's). Two differences from the paper's Algorithm 1: U is
  updated after every epoch from a dropout-off pass over all labelled rows (the paper: from the sampled
  batches' forward passes), and s_t reaches 1 at the *maximum* epoch count, so a trainer that stops early
  ends with s_t > 1.
* **Balance**: rows with rare labels more often (mean inverse label frequency; static).
* **Active Bias**: prediction standard deviation over the whole history (summed over labels) plus a smoothing constant.
* **Recency Bias**: entropy of the thresholded predictions in the last T epochs, same pressure schedule.
* **Hard Imbalance**: loss weighted by each label's imbalance ratio, same pressure schedule.

**How to read it.** The convergence plot shows a validation metric per epoch (mean ± std over seeds):
a sampler that helps rises faster or higher. The test table reports the score at the epoch with the best
validation macro-AUC, as the paper does. The C heatmaps show how the uncertainty-based label
correlations drift during training; the probability boxes show the pressure fading towards uniform.
""",
    latex=[
        (r"e_{ij} = -\hat y_{ij}\log_2 \hat y_{ij} - (1-\hat y_{ij})\log_2(1-\hat y_{ij}), \qquad "
        r"d_{ij} = \frac{1}{T-1}\sum_{h=1}^{T-1}\left|\hat y^{t-h+1}_{ij} - \hat y^{t-h}_{ij}\right|"),
        (r"u_{ij} = \lambda_1 d_{ij} + (1-\lambda_1) e_{ij}, \qquad "
        r"C_{ab} = \sum_{\beta,\gamma} p(\beta,\gamma)\log\frac{p(\beta,\gamma)}{p(\beta)p(\gamma)},\ C_{aa}=1"),
        r"w_i = \operatorname{minmax}\Big(\sum_j (U C)_{ij}\Big), \qquad Q(z) = \lfloor (1-z)/\Delta \rfloor,\ \Delta = 1/n",
        (r"P(x_i) = \frac{\exp(-\log(s_t)/n)^{Q(w_i)}}{\sum_k \exp(-\log(s_t)/n)^{Q(w_k)}}, \qquad "
        r"s_t = s_0 \left(e^{\log(1/s_0)/(t_{end}-t_{start})}\right)^{t - t_{start}}"),
    ],
    terms=["uncertainty-batch-selection", "uncertainty-correlation-c", "selection-pressure", "random",
           "balance-sampler", "active-bias", "recency-bias", "hard-imbalance", "macro-auc", "ranking-loss",
           "hamming-loss"],
)


@st.cache_data(show_spinner=False, max_entries=8)
def _run(dataset: str, samplers: tuple[str, ...], epochs: int, seeds: int, max_train: int | None,
         uncertainty_params: tuple[tuple[str, float], ...]):
    return run_batch_selection(dataset, list(samplers), epochs=epochs, seeds=seeds, max_train=max_train,
                               sampler_params={"uncertainty": dict(uncertainty_params)})


current = state.get_session()
default_dataset, dataset_note = views.batch_selection_dataset(TABULAR, None if current is None else current.dataset.name)
with st.form("bsel_form"):
    c1, c2, c3, c4, c5 = st.columns([1, 3, 1, 1, 1])
    dataset = c1.selectbox("Dataset", TABULAR, index=TABULAR.index(default_dataset), key="bsel_dataset",
                           help="Starts with the current session's dataset when it is a bundled tabular one.")
    names = c2.multiselect("Samplers", bsel.available_samplers(), default=["random", "uncertainty"], key="bsel_samplers",
                           help="'random' is always added as the reference. Glossary: "
                                + ", ".join(glossary.glossary_link(n) for n in bsel.available_samplers()) + ".")
    epochs = c3.number_input("Epochs", 3, 200, 12, key="bsel_epochs",
                             help="at least warm-up + 2, so that C is recorded at two epochs")
    seeds = c4.number_input("Seeds", 1, 10, 2, key="bsel_seeds")
    max_train = c5.number_input("Training rows", 0, 100000, 300, step=100, key="bsel_max_train",
                                help="0 = all rows. A seeded subset keeps the demo fast; the report uses all rows.")
    st.markdown("**Uncertainty sampler** (the paper's parameters; defaults as in the paper)")
    u1, u2, u3, u4, u5 = st.columns(5)
    window = u1.number_input("Window T", 2, 50, 5, key="bsel_window",
                             help="Eq. 4: the last T predictions per row and label whose fluctuation is measured")
    lambda1 = u2.number_input("lambda1", 0.0, 1.0, 0.5, step=0.05, key="bsel_lambda1",
                              help="Eq. 5: weight of the fluctuation d against the entropy e")
    tau = u3.number_input("Bins tau", 2, 100, 10, key="bsel_tau",
                          help="Eq. 6: bins of width 1/tau for the mutual information between labels")
    s0 = u4.number_input("Initial pressure s0", 1.0, 10000.0, 100.0, step=10.0, key="bsel_s0",
                         help=views.help_with_glossary(
                             "Eq. 11: right after the warm-up the most uncertain row is s0 times as likely as the "
                             "least; the pressure then decays to 1 (uniform) at the last epoch", "selection-pressure"))
    warmup = u5.number_input("Warm-up epochs", 0, 100, 5, key="bsel_warmup",
                             help="epochs of random batches before the sampler's probabilities are used")
    st.form_submit_button("Run", type="primary")
    st.caption("The CLI runs the full comparison: `python -m mlal_core batch-selection --dataset yeast "
               "--sampler uncertainty --epochs 50 --seeds 5`.")

min_epochs = int(warmup) + 2
if int(epochs) < min_epochs:
    st.error(f"With {int(warmup)} warm-up epochs, train at least {min_epochs} epochs: the uncertainty sampler "
             "records C from the end of the warm-up on, and two recorded epochs are needed to compare C.")
    st.stop()
uncertainty_params = (("window", int(window)), ("lambda1", float(lambda1)), ("tau", int(tau)), ("s0", float(s0)),
                      ("warmup", int(warmup)))
try:
    with st.spinner("Training one model per sampler and seed ..."):
        res = _run(dataset, tuple(names), int(epochs), int(seeds), int(max_train) or None, uncertainty_params)
except MLALError as exc:
    st.error(str(exc))
    st.stop()

if dataset == default_dataset:
    st.caption(dataset_note)
st.caption(f"{res.dataset}: {len(res.samplers)} samplers x {len(res.seeds)} seeds, {res.epochs} epochs, "
           f"{res.seconds:.1f} s of training.")

st.subheader("Convergence")
m1, m2 = st.columns(2)
metric = m1.selectbox("Metric", list(METRICS), format_func=PRETTY.get, key="bsel_metric",
                      help="Glossary: " + ", ".join(glossary.glossary_link(m, PRETTY[m]) for m in METRICS) + ".")
split = m2.radio("Split", ["valid", "test"], horizontal=True, key="bsel_split")
widgets.figure(convergence_figure(res, metric, split), key="bsel_curves")

st.subheader("Test metrics at the best-validation epoch")
summ = res.summary("best")
show = pd.DataFrame({"sampler": summ["sampler"], "seeds": summ["n_seeds"]})
for m in METRICS:
    show[f"{PRETTY[m]} mean"] = summ[f"{m}_mean"].round(4)
    show[f"{PRETTY[m]} std"] = summ[f"{m}_std"].round(4)
    show[f"{PRETTY[m]} rank"] = summ[f"{m}_rank"].astype(int)
widgets.table(show, key="bsel_summary", file_name=f"batch_selection_{res.dataset}_summary.csv", hide_index=True,
              column_config=columns.table_config(show, number_format=views.METRIC_FORMAT))

hist = res.histories.get("uncertainty")
st.subheader(f"Label correlation C of the uncertainty sampler (seed {res.seeds[0]})")
if not hist:
    st.info("Add the 'uncertainty' sampler to see its correlation matrix and probabilities.")
else:
    recorded = [h["epoch"] for h in hist]
    a, b = st.select_slider("Compare C after epochs", options=recorded, value=(recorded[0], recorded[-1]),
                            key="bsel_epochs_pair", help=views.help_with_glossary(
                                "C (Eq. 6): the mutual information between the labels' uncertainties.",
                                "uncertainty-correlation-c"))
    if a == b:
        st.warning("Pick two different epochs.")
    else:
        fa, fb, fd, _ = correlation_drift_figures(hist, (a, b), res.label_names)
        h1, h2 = st.columns(2)
        with h1:
            widgets.figure(fa, key="bsel_C_a")
        with h2:
            widgets.figure(fb, key="bsel_C_b")
        widgets.figure(fd, key="bsel_C_diff")
        ch = correlation_change(hist, a, b)
        st.caption(f"Mean off-diagonal C: {ch['mean_a']:.3f} after epoch {a}, {ch['mean_b']:.3f} after "
                   f"epoch {b}; mean absolute change {ch['mean_abs_change']:.3f}.")
    widgets.figure(correlation_trend_figure(hist), key="bsel_C_trend")
    c_summary = correlation_summary(hist).round(4)
    widgets.table(c_summary, key="bsel_C_summary", file_name=f"batch_selection_{res.dataset}_C_per_epoch.csv",
                  hide_index=True, column_config=columns.table_config(c_summary, number_format=views.METRIC_FORMAT))

st.subheader("Sampling probabilities over epochs")
with_p = [s for s, h in res.histories.items() if h]
if not with_p:
    st.info("Only the random sampler ran: its batches are uniform permutations.")
else:
    who = st.selectbox("Sampler", with_p, index=len(with_p) - 1, key="bsel_prob_sampler")
    widgets.figure(probability_figure(res.histories[who], title=f"{res.dataset}: sampling probabilities ({who})"),
                   key="bsel_probs")
    pressures = pressure_table(res.histories[who])
    widgets.table(pressures, key="bsel_pressure", file_name=f"batch_selection_{res.dataset}_{who}_pressure.csv",
                  hide_index=True, column_config={"pressure s_t": st.column_config.Column("pressure s_t", help=(
                      views.help_with_glossary("How many times likelier the most uncertain row is than the least "
                                               "(Eq. 11; 1 = uniform).", "selection-pressure")))})
