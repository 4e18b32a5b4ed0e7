"""Page 1, Home / set-up: choose data, representation, model, strategy and budget; start or reopen a
session."""

from __future__ import annotations

import warnings

import pandas as pd
import streamlit as st
import torch

from mlal_core import data, features, glossary, models
from mlal_core.batch_selection import SAMPLERS, available_samplers
from mlal_core.errors import MLALError
from mlal_core.inspection import views
from mlal_core.inspection.session_zip import session_export_zip
from mlal_core.models import pretrained
from mlal_core.session.budget import default_budget
from mlal_core.session.config import INITIAL_METHOD_HELP, INITIAL_METHODS, PRECISIONS, SessionConfig
from mlal_core.session.initial import per_label_shortfall
from mlal_core.session.loop import ActiveLearningSession, SessionBudgetWarning, feature_request
from mlal_core.session.worker import PreparationCancelled
from mlal_core.strategies import registry
from ui import form, sidebar, state, widgets

REPRESENTATION_NAMES = {
    "minilm": "MiniLM sentence embeddings",
    "tfidf": "TF-IDF word weights",
    "raw": "The dataset's own features (standardised)",
}
REPRESENTATION_HELP = {
    "minilm": "Each text becomes a 384-number vector from a small pretrained language model "
              "(all-MiniLM-L6-v2) that places texts with similar meaning close together. The bundled text "
              "datasets come with these vectors (checked against the model on first use); other texts are "
              "embedded once, in the background (progress shown, other pages stay usable), then cached on disk.",
    "tfidf": "Each text becomes a long, mostly-zero vector with one entry per word: how often the word occurs "
             "in the text, down-weighted when it occurs in many texts. Fast; knows nothing about meaning.",
    "raw": "The numbers that describe each sample in the dataset, rescaled to mean 0 and standard deviation 1 "
           "on the training split.",
}
MODEL_NAMES = {
    "mlp_ensemble": "MLP head on frozen features (fast)",
    "textcnn": "TextCNN",
    "textrnn": "TextRNN (BiGRU)",
    "transformer": "Fine-tuned transformer (MiniLM)",
}
MODEL_HELP = {
    "mlp_ensemble": "A small neural network (one hidden layer) on top of a fixed representation, trained several "
                    "times from different random starts: an **ensemble**. A round takes seconds on a laptop.",
    "textcnn": "Kim's convolutional network over word pieces (filters of 3, 4 and 5 tokens), trained end to end "
               "from the token ids, as in CRAB. A round takes about a minute or more on a laptop CPU; it runs "
               "in the background.",
    "textrnn": "A bidirectional GRU over word pieces, trained end to end from the token ids, as in CRAB. Slower "
               "than TextCNN; rounds run in the background.",
    "transformer": "The pretrained MiniLM encoder fine-tuned with a classification head on top (as BEAL, CoMAL and "
                   "the XMTC study fine-tune BERT). Minutes per round on a laptop CPU, seconds on a GPU; rounds "
                   "run in the background. A candidate subset keeps the pool scoring affordable.",
}
#: the "Initial set" options as the selectbox shows them
INITIAL_METHOD_NAMES = {"random": "random", "per_label": "one per label (simulation only)",
                        "representative": "representative (k-means)", "diverse": "diverse (k-center)"}
DEFAULT_DATASET = "yeast"
DEFAULT_STRATEGY = "bald"
TAB_NEW, TAB_OPEN = "Start a new session", "Reopen a stored session"
#: the session-state key holding the budget defaults last put in the budget fields (None: the user's budget)
BUDGET_DEFAULTS = "home_budget_defaults"
#: the widest the set-up form and the texts above it get (pixels): lines stay readable on a projector
FORM_WIDTH = 1000
#: strategy parameters per row
PARAMS_PER_ROW = 3

# Every `home_*` widget keeps its value across reruns and page switches (ui/form.py); the form's own
# widgets are drawn without value= / index= and get their first value from form.field.
form.restore("home_", skip=("home_delete_arm",))

st.title("MLAL Workbench")
st.markdown(
    "**Multi-label active learning**: a model is trained on a few labelled samples, a *query strategy* "
    "picks which unlabelled samples a person (the *oracle*) should label next, the model is retrained, "
    "and the loop repeats. Each sample may carry several labels at once (a news story can be about "
    "*trade* and *grain*), so strategies must cope with label correlations and very rare labels. "
    "Set up a session below, then step through it on **Active learning**.",
    width=FORM_WIDTH,
)
widgets.explain(
    "the active-learning loop",
    "A session starts from a small labelled set $L_0$ drawn from the training split (the *pool*). In each "
    "round $t$ the model is trained **from scratch** on $L_t$ and scored on the test split; the strategy "
    "gives every unlabelled sample $x$ in $U_t$ a *utility* $u_t(x)$ (how useful labelling it looks) and "
    "the $b$ samples with the highest utility (the *query size*) go to the oracle. Their labels are added "
    "to the labelled set. A session with $R$ rounds has $R + 1$ points on its learning curve: the score "
    "after each retraining, including the last.",
    [r"L_{t+1} = L_t \cup \operatorname*{top-}b_{\,x \in U_t}\; u_t(x), \qquad U_{t+1} = U_t \setminus L_{t+1}"],
    terms=["labelled-set", "unlabelled-pool", "round", "score", "query-size", "oracle", "learning-curve"],
)
st.caption(f"Models train on: **{sidebar.device_text()}**")

PREPARING_KEY = "home_preparing"
OUTCOME_KEY = "home_prepare_outcome"  # (kind, message) of the last preparation that did not start a session


def _prepare_then(action: str, ds, request: dict, **what) -> None:
    """Prepare the features in the background (``state.prepare_features``), then ``action`` the
    session ("start": ``what["config"]``; "reopen": ``what["sid"]``) when they are ready."""
    worker = state.prepare_features(ds, request)
    st.session_state.pop(OUTCOME_KEY, None)
    st.session_state[PREPARING_KEY] = {"action": action, "dataset": ds, "worker": worker, **what}


def _cancel_preparation() -> None:
    pending = st.session_state.pop(PREPARING_KEY, None)
    if pending is not None:
        pending["worker"].cancel()
        st.session_state[OUTCOME_KEY] = (pending["action"], "info", PreparationCancelled.__doc__)


def _open_prepared(pending: dict) -> None:
    """Start or reopen the session on the prepared features; an error is kept and shown."""
    ds, feats = pending["dataset"], pending["worker"].result
    try:
        if pending["action"] == "start":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SessionBudgetWarning)
                session = ActiveLearningSession(pending["config"], dataset=ds, features=feats, store=state.get_store())
        else:
            session = ActiveLearningSession.resume(state.get_store(), pending["sid"], dataset=ds, features=feats)
    except MLALError as e:
        st.session_state[OUTCOME_KEY] = (pending["action"], "error", f"The session could not {pending['action']}: {e}")
        return
    state.set_session(session)
    st.session_state["home_started"] = session.session_id if pending["action"] == "start" else None
    st.rerun()  # the whole page (and the sidebar) show the new session


@st.fragment(run_every=1.0)
def _preparation_panel(action: str) -> None:
    """Progress of the features being prepared for ``action`` ("start" / "reopen"), drawn under its
    button: done / total, rate, time left and Cancel. The work runs in a background worker: other
    pages stay usable, and coming back finds it here."""
    pending = st.session_state.get(PREPARING_KEY)
    if pending is not None and pending["action"] == action:
        status = pending["worker"].status()
        if status.state == "running":
            with st.container(border=True):
                st.progress(status.step_fraction or 0.0, text=sidebar.progress_text(status))
                st.caption("This runs in the background: other pages stay usable, and each finished chunk is "
                           "kept, so a restart resumes where it stopped. The session starts when the features "
                           "are ready.")
                st.button("Cancel", key="home_prepare_cancel", on_click=_cancel_preparation,
                          icon=":material/cancel:")
            return
        st.session_state.pop(PREPARING_KEY, None)
        if status.state == "done":
            _open_prepared(pending)
        else:
            failed = status.state == "failed"
            st.session_state[OUTCOME_KEY] = (action, "error" if failed else "info",
                                             f"Preparing the features failed: {status.error}" if failed
                                             else status.message)
    outcome = st.session_state.get(OUTCOME_KEY)
    if outcome is not None and outcome[0] == action:
        (st.error if outcome[1] == "error" else st.info)(outcome[2], icon=":material/info:")


tab_new, tab_open = st.tabs([TAB_NEW, TAB_OPEN], key="home_tab", on_change="rerun")


# ------------------------------------------------------------------------------------ helpers
#: the labels column's delimiter: None = infer it (refused when a comma is ambiguous), "" = one label per value
DELIMITERS = {None: "find it", "|": "| (pipe)", ";": "; (semicolon)", ",": ", (comma)",
              "": "do not split (one label per row)"}


def _load_upload(uploaded, text_column: str, labels_column: str, delimiter: str | None,
                 allow_unlabeled: bool = False):
    """The validated upload (memoised per file and options); errors propagate."""
    key = ("upload", uploaded.file_id, text_column, labels_column, delimiter, bool(allow_unlabeled))
    return state.memo(key, lambda: data.load_file(
        uploaded, text_column=text_column or None, labels_column=labels_column or None, delimiter=delimiter,
        allow_unlabeled=bool(allow_unlabeled)),
        max_entries=4)


def _dataset_blurb(ds) -> str:
    desc = (ds.meta or {}).get("description", "")
    kind = "texts" if ds.kind == "text" else "tabular samples"
    derived = data.provenance_text(ds)  # how a derived set (<base>-T<top_k>-IR<target>) was built
    return (f"{desc} **{len(ds.train):,}** training (pool), {len(ds.valid):,} validation and "
            f"{len(ds.test):,} test {kind}; **{ds.n_labels}** labels." + (f" {derived}" if derived else "")).strip()


# ------------------------------------------------------------------------------------ backbones
def _number(container, label: str, lo, hi, default, key: str, **kw):
    """A number input whose value comes back after the widget was hidden (see ``widgets.kept``)."""
    return widgets.keep(key, container.number_input(label, lo, hi, widgets.kept(key, default), key=key, **kw))


def _choice(container, label: str, options: list, key: str, **kw):
    """A select box whose choice comes back after the widget was hidden (see ``widgets.kept``)."""
    index = options.index(widgets.kept(key, options[0]))
    return widgets.keep(key, container.selectbox(label, options, index=index, key=key, **kw))


def _backbone_settings(kind: str) -> dict:
    """The training settings of a text backbone (only those that differ from the model's defaults);
    kept when the user switches to another model and back."""
    defaults = models.make_model(kind).get_params()
    params: dict = {}
    with st.expander("Backbone and training settings", expanded=kind == "transformer"):
        c1, c2, c3 = st.columns(3)
        if kind == "transformer":
            params["encoder"] = _choice(c1, "Pretrained encoder", list(pretrained.ENCODERS), "home_bb_encoder",
                                        format_func=pretrained.ENCODERS.get)
            params["freeze_layers"] = _number(
                c2, "Frozen lower layers", 0, 12, 0, "home_bb_freeze",
                help="Keep the embeddings and this many of the lowest encoder layers fixed (CoMAL froze 9 of 12); "
                     "fewer trainable weights make a round faster.")
            params["head"] = _choice(c3, "Head", ["linear", "mlp", "cnn"], "home_bb_head",
                                     format_func={"linear": "linear", "mlp": "2-layer MLP",
                                                  "cnn": "CNN over the tokens (XMTC study)"}.get)
        else:
            params["embedding_init"] = _choice(
                c1, "Word embeddings", ["scratch", "minilm"], f"home_bb_emb_{kind}",
                format_func={"scratch": "learned from scratch", "minilm": "initialised from MiniLM's"}.get)
        c1, c2, c3, c4 = st.columns(4)
        params["epochs"] = _number(c1, "Epochs (at most)", 1, 500, int(defaults["epochs"]), f"home_bb_epochs_{kind}",
                                   help="Training stops earlier when the validation loss has not improved for "
                                        "the patience.")
        params["patience"] = _number(c2, "Patience (epochs)", 1, 500, int(defaults["patience"]),
                                     f"home_bb_patience_{kind}")
        params["learning_rate"] = _number(c3, "Learning rate", 1e-6, 1.0, float(defaults["learning_rate"]),
                                          f"home_bb_lr_{kind}", format="%.0e")
        params["max_length"] = _number(c4, "Max tokens per text", 8, 512, int(defaults["max_length"]),
                                       f"home_bb_len_{kind}")
        params["mc_scope"] = _choice(st, "MC dropout over", ["full", "head"], f"home_bb_scope_{kind}",
                                     format_func={"full": "the whole network", "head": "the head only (faster)"}.get)
    return {k: v for k, v in params.items() if v != defaults.get(k)}


def _backbone_keys(kind: str) -> dict[str, str]:
    """The widget keys of ``_backbone_settings(kind)``, by model parameter (to fill them from a stored
    session: "New session like this one")."""
    keys = ({"encoder": "home_bb_encoder", "freeze_layers": "home_bb_freeze", "head": "home_bb_head"}
            if kind == "transformer" else {"embedding_init": f"home_bb_emb_{kind}"})
    return {**keys, "epochs": f"home_bb_epochs_{kind}", "patience": f"home_bb_patience_{kind}",
            "learning_rate": f"home_bb_lr_{kind}", "max_length": f"home_bb_len_{kind}",
            "mc_scope": f"home_bb_scope_{kind}"}


# ------------------------------------------------------------------------------------ new session
with tab_new, st.container(width=FORM_WIDTH, key="new_session_form"):
    like_note = st.session_state.pop("home_like_note", None)  # from "New session like this one"
    if like_note:
        (st.success if like_note[0] == "success" else st.error)(like_note[1], icon=":material/content_copy:")
    st.subheader("1. Data")
    source = st.radio("Where does the data come from?", ["A bundled dataset", "My own file"],
                      horizontal=True, key="home_source")
    ds = None
    if source == "A bundled dataset":
        names = data.available(derived=True)  # the bundled sets, then the derived presets (<base>-T10-IR<x>)
        ds_name = st.selectbox("Dataset", names, key=form.field(
            "home_dataset", DEFAULT_DATASET if DEFAULT_DATASET in names else names[0], names))
        ds = data.load(ds_name)
        st.caption(_dataset_blurb(ds))
    else:
        with st.expander("Which files work?"):
            st.markdown(
                "CSV, TSV, JSONL, JSON or Parquet, one row per sample:\n"
                "* a **text column** (default name `text`), or no text column for a table of numbers "
                "(then leave *Text column* empty and every numeric column is a feature);\n"
                "* the **labels**, either one column with a list per row (`earn|acq`, `earn;acq` or "
                "`[\"earn\", \"acq\"]`; found automatically when it is called `labels`, `label`, `tags`, "
                "`categories` or `topics`) or one 0/1 column per label; a row with no label is refused "
                f"unless *{data.ALLOW_UNLABELED_LABEL}* is ticked;\n"
                "* optionally a `split` column (`train` / `valid` / `test`); otherwise the rows are split "
                "70 / 10 / 20 keeping every label's share similar in each part.\n\n"
                "At least 10 rows; at most 200 MB."
            )
        c1, c2, c3 = st.columns(3)
        text_col = c1.text_input("Text column (empty for a table of numbers)", value="text", key="home_text_col")
        labels_col = c2.text_input("Labels column (empty: find it)", value="", key="home_labels_col")
        delimiter = c3.selectbox("Labels separated by", list(DELIMITERS), format_func=DELIMITERS.get,
                                 key="home_delimiter",
                                 help="How the labels column lists several labels. *Find it* refuses a comma that "
                                      "could also be part of a label name (e.g. 'Arts, Culture') and asks you.")
        allow_unlabeled = st.checkbox(
            data.ALLOW_UNLABELED_LABEL, value=False, key="home_allow_unlabeled",
            help="Off: a row with no label (an empty labels cell, `[]`, or all zeros in 0/1 columns) is refused "
                 "as a likely mistake. On: such rows are kept as **negative examples**, samples that carry none "
                 "of the labels (a tweet with no emotion). They count in the statistics (cardinality falls) "
                 "and every split gets its share of them.")
        uploaded = st.file_uploader("Upload a file", type=["csv", "tsv", "tab", "jsonl", "ndjson", "json",
                                                           "parquet", "pq"], key="home_upload")
        if uploaded is not None:
            try:
                ds = _load_upload(uploaded, text_col.strip(), labels_col.strip(), delimiter, allow_unlabeled)
            except MLALError as e:
                st.error(f"**This file cannot be used.** {e}", icon=":material/error:")
            else:
                st.session_state[state.UPLOAD_KEY] = ds
                st.success(f"Read **{uploaded.name}**: {_dataset_blurb(ds)}", icon=":material/check_circle:")
                for note in (ds.meta or {}).get("notes", [])[:6]:
                    st.caption(f"- {note}")
        else:
            st.caption("No file uploaded yet.")

    if ds is not None:
        st.subheader("2. Model and representation")
        model_kind = "mlp_ensemble"
        if ds.kind == "text":
            model_kind = st.radio("Model", list(MODEL_NAMES), format_func=MODEL_NAMES.get, key="home_model",
                                  horizontal=True)
        st.caption(MODEL_HELP[model_kind])
        if model_kind == "mlp_ensemble":
            reps = [r for r in features.representations_for(ds.kind) if r != "tokens"]
            rep = st.radio("How samples become numbers the model can read", reps,
                           format_func=lambda r: REPRESENTATION_NAMES[r], key=f"home_rep_{ds.kind}", horizontal=True)
            st.caption(views.help_with_glossary(REPRESENTATION_HELP[rep], rep))
            cost = data.representation_warning(ds, rep)  # e.g. MiniLM on EURLEX57K: no shipped features
            if cost:
                st.warning(cost, icon=":material/hourglass_top:")
        else:
            rep = "tokens"
        c1, c2 = st.columns(2)
        n_members = c1.number_input("Ensemble size (members)", 1, 20, key=form.field("home_members", 5))
        mc_passes = c2.number_input("MC-dropout passes per member (0 = off)", 0, 100, key=form.field("home_mc", 0))
        st.caption("Where the ensemble's members disagree, the model is unsure; strategies such as BALD use that "
                   "disagreement. **MC-dropout passes** add more opinions per member by switching off random "
                   f"units at prediction time. Glossary: {glossary.glossary_link('ensemble')}, "
                   f"{glossary.glossary_link('mc-dropout')}.")
        if model_kind == "mlp_ensemble":
            with st.expander("Advanced training settings"):
                c1, c2, c3 = st.columns(3)
                mlp = models.MLPEnsemble().get_params()  # the package's defaults (as the CLI uses them)
                hidden = c1.number_input("Hidden units", 8, 4096, key=form.field("home_hidden", mlp["hidden_size"]))
                epochs = c2.number_input("Epochs (passes over the labelled set)", 1, 500,
                                         key=form.field("home_epochs", mlp["epochs"]))
                min_steps = c3.number_input("Minimum updates", 0, 100_000,
                                            key=form.field("home_min_steps", mlp["min_steps"]),
                                            help="At least this many optimiser updates per training, so that a "
                                                 "tiny labelled set is still trained enough.")
            model_params = {"hidden_size": int(hidden), "epochs": int(epochs), "min_steps": int(min_steps)}
        else:
            model_params = _backbone_settings(model_kind)
        model_params = {"n_members": int(n_members), "mc_passes": int(mc_passes), **model_params}
        sampler = st.selectbox(
            "Training mini-batches", available_samplers(), key="home_batch_sampler",
            format_func=lambda n: "Plain shuffling (random)" if n == "random" else SAMPLERS[n].display_name,
            help="Which labelled samples go into each training mini-batch. *Plain shuffling* is the usual "
                 "choice; the others favour uncertain, rare-label or hard samples (see the **Batch selection** "
                 "page, which compares them). Glossary: "
                 + ", ".join(glossary.glossary_link(n, SAMPLERS[n].display_name) for n in available_samplers()
                             if n != "random") + ".")
        if sampler != "random":
            model_params["batch_sampler"] = sampler
            st.caption(f"Glossary: {glossary.glossary_link(sampler, SAMPLERS[sampler].display_name)}.")
        precisions = [p for p in PRECISIONS if p != "fp16" or torch.cuda.is_available()]
        precision = st.selectbox(
            "Numeric precision", precisions, key=form.field("home_precision", "auto", precisions),
            format_func=lambda p: f"automatic: {views.precision_description('auto')}" if p == "auto" else p,
            help="The arithmetic of the text backbones and the MiniLM encoder. *bf16* is faster where the CPU has "
                 "it natively (AVX512-BF16 / AMX) and about 3x slower where it is emulated; *fp32* is the "
                 "reference. *Automatic* picks bf16 for the backbones only where it is native, and runs the "
                 "encoder in fp32 through ONNX Runtime on any CPU (faster there, and exact). The MLP head always "
                 "trains in fp32. The choice is fixed when the session starts and stored with it, so a reopened "
                 "session computes as before.")
        if rep == "minilm":
            state.warm_encoder()  # the encoder checks or computes the features: load it while the form is filled

        st.subheader("3. Query strategy")
        infos = [i for i in registry.available() if ds.kind == "text" or "texts" not in i.needs]
        names = [i.name for i in infos]
        skipped = [i.display_name for i in registry.available() if i.name not in names]
        strategy = st.selectbox("Strategy", names, format_func=lambda n: registry.info(n).display_name,
                                key=form.field("home_strategy",
                                               DEFAULT_STRATEGY if DEFAULT_STRATEGY in names else names[0], names))
        info = registry.info(strategy)
        st.info(info.explanation, icon=":material/lightbulb:")
        st.caption(f"Paper: {info.paper}  \nGlossary: {glossary.glossary_link(info.name, info.display_name)}")
        if info.choice:
            with st.expander("How this implementation reads the paper"):
                st.markdown(info.choice)
        if skipped:
            st.caption(f"Not offered for tabular data (they read the texts): {', '.join(skipped)}.")
        params = {}
        if info.params:
            st.markdown("**Parameters**")
            # rows of equal structure (inputs, then switches), so labels and inputs line up across a row
            for row in views.param_rows(info.params, PARAMS_PER_ROW):
                for col, p in zip(st.columns(PARAMS_PER_ROW), row):
                    value = widgets.param_input(p, key=f"home_param_{strategy}_{p.name}", container=col)
                    if value != p.default:
                        params[p.name] = value
        else:
            st.caption("This strategy has no parameters.")

        st.subheader("4. Budget")
        pool = len(ds.train)
        suggested = default_budget(pool, ds.n_labels)  # scaled to the pool (mlal_core/session/budget.py)
        budget_defaults = {"home_initial": suggested.initial_size, "home_query": suggested.query_size,
                           "home_rounds": suggested.rounds}
        following = form.follow_defaults(budget_defaults, BUDGET_DEFAULTS)
        c1, c2, c3, c4, c5 = st.columns(5)
        initial_size = c1.number_input("Initial labelled set", 1, None, key="home_initial")
        query_size = c2.number_input("Query size (per round)", 1, None, key="home_query")
        rounds = c3.number_input("Rounds", 0, 10_000, key="home_rounds")
        seed = c4.number_input("Seed", 0, 2**31 - 1, key=form.field("home_seed", 0))
        initial_method = c5.selectbox(
            "Initial set", INITIAL_METHODS, key="home_initial_method", format_func=INITIAL_METHOD_NAMES.get,
            help="How the first labelled samples are chosen, before any model exists:\n\n" + "\n\n".join(
                f"* **{INITIAL_METHOD_NAMES[m]}**: {INITIAL_METHOD_HELP[m]}" for m in INITIAL_METHODS))
        st.caption(f"Initial set: {INITIAL_METHOD_HELP[initial_method]}. The pool has {pool:,} samples; "
                   f"this budget labels up to {min(pool, initial_size + rounds * query_size):,} of them "
                   f"({min(1.0, (initial_size + rounds * query_size) / pool):.0%}). Same seed, same settings: "
                   "same picks.")
        if initial_method == "per_label":  # K in the thousands: a small set cannot show every label
            shortfall = per_label_shortfall(ds.train.Y, int(initial_size), int(seed))
            if shortfall:
                st.warning(shortfall)
        c1, c2 = st.columns([5, 2], vertical_alignment="center")
        c1.caption(f"Defaults for {ds.name} (pool {pool:,}): initial {suggested.initial_size}, query "
                   f"{suggested.query_size}, {suggested.rounds} rounds; scaled to the pool, and they always fit it. "
                   + ("The fields follow the dataset until you edit one." if following else
                      "The fields hold your budget; another dataset keeps it."))
        c2.button("Reset to this dataset's defaults", key="home_budget_reset", disabled=following,
                  on_click=form.reset_defaults, args=(budget_defaults, BUDGET_DEFAULTS))
        c1, c2 = st.columns(2)
        candidates = c1.number_input(
            "Candidate subset (0 = score the whole pool)", 0, None,
            key=form.field(f"home_candidates_{model_kind}", 0 if model_kind == "mlp_ensemble" else 2000),
            help="Each round the strategy scores a seeded random subset of this many unlabelled samples instead "
                 "of the whole pool: much faster for slow strategies and text backbones. Each round's "
                 "diagnostics show how many candidates were scored.")
        name = c2.text_input("Session name (optional)", key="home_name", placeholder="e.g. yeast-bald-seed0")

        config = SessionConfig(
            dataset=ds.name if source == "A bundled dataset" else None, representation=rep,
            model=model_kind, model_params=model_params, strategy=strategy, strategy_params=params,
            initial_size=int(initial_size), initial_method=initial_method, query_size=int(query_size),
            rounds=int(rounds), seed=int(seed), candidate_subset=int(candidates) or None, name=name.strip() or None,
            precision=precision,
        )
        problem = None
        try:
            for w in config.validate(pool_size=pool):
                st.warning(w, icon=":material/warning:")
        except MLALError as e:
            problem = str(e)
            st.error(problem, icon=":material/error:")

        preparing = st.session_state.get(PREPARING_KEY) is not None
        if st.button("Start session", type="primary", disabled=problem is not None or preparing, key="home_start",
                     help="Wait for the features being prepared above (or cancel them)" if preparing else None):
            try:
                config.with_resolved_precision()  # fp16 without CUDA: say so now, not after the features
                request = feature_request(config, ds.kind)
            except MLALError as e:
                st.error(f"The session could not start: {e}", icon=":material/error:")
            else:
                _prepare_then("start", ds, request, config=config)
                st.rerun()

    _preparation_panel("start")
    started = st.session_state.get("home_started")
    current = state.get_session()
    # the banner greets the session just started, once: not an older one, nor this one on a later visit
    if started and current is not None and current.session_id == started and \
            st.session_state.get("home_started_shown") != started:
        st.session_state["home_started_shown"] = started
        st.success(f"Session `{started[:8]}` started: {len(current.labeled)} samples labelled. "
                   "Run its rounds on **Active learning**.", icon=":material/check_circle:")
        st.page_link("pages/active_learning.py", label="Go to Active learning", icon=":material/play_circle:")


# ------------------------------------------------------------------------------------ reopen
def _label(row: pd.Series) -> str:
    title = row["name"] or row["dataset"]
    return (f"{title} · {row['strategy']} · seed {row['seed']} · {row['rounds_done']}/{row['rounds_planned']} "
            f"rounds · {'in progress' if row['status'] == 'running' else row['status']} · {str(row['created_at'])[:16].replace('T', ' ')} · {row['id'][:8]}")


def _delete(store, sid: str) -> None:
    current = state.get_session()
    if current is not None and current.session_id == sid:
        state.set_session(None)
    store.delete_session(sid)
    st.session_state["home_delete_arm"] = False


def _form_values(cfg: SessionConfig, kind: str | None) -> tuple[dict, dict]:
    """The new-session form's fields holding ``cfg``'s settings: (fields, fields drawn through
    ``widgets.kept``). ``kind``: the dataset's kind ("text" / "tabular"), None when unknown."""
    params = cfg.resolved_model_params()
    values = {"home_source": "A bundled dataset" if cfg.dataset else "My own file",
              "home_members": int(params["n_members"]), "home_mc": int(params["mc_passes"]),
              "home_strategy": cfg.strategy, "home_initial": cfg.initial_size, "home_query": cfg.query_size,
              "home_rounds": cfg.rounds, "home_seed": cfg.seed, "home_initial_method": cfg.initial_method,
              f"home_candidates_{cfg.model}": cfg.candidate_subset or 0, "home_name": "",
              "home_precision": cfg.precision}
    if cfg.dataset:
        values["home_dataset"] = cfg.dataset
    if kind == "text":
        values["home_model"] = cfg.model
    sampler = params.get("batch_sampler") or "random"
    sampler = sampler.get("name") if isinstance(sampler, dict) else sampler
    if sampler in available_samplers():
        values["home_batch_sampler"] = sampler
    kept = {}
    if cfg.model == "mlp_ensemble":
        mlp = models.MLPEnsemble().get_params()
        for key, param in (("home_hidden", "hidden_size"), ("home_epochs", "epochs"), ("home_min_steps", "min_steps")):
            values[key] = int(params.get(param, mlp[param]))
        if kind is not None:
            try:
                values[f"home_rep_{kind}"] = cfg.resolve_representation(kind)
            except MLALError:
                pass
    else:
        defaults = models.make_model(cfg.model).get_params()
        for param, key in _backbone_keys(cfg.model).items():
            value = params.get(param, defaults[param])
            kept[key] = (int(value) if param in ("epochs", "patience", "max_length", "freeze_layers") else
                         float(value) if param == "learning_rate" else value)
    if cfg.strategy in {i.name for i in registry.available()}:
        for p in registry.info(cfg.strategy).params:
            kept[f"home_param_{cfg.strategy}_{p.name}"] = cfg.strategy_params.get(p.name, p.default)
    return values, kept


def _like_this_one(store, sid: str) -> None:
    """Fill the new-session form with a stored session's settings (the button's ``on_click``)."""
    info = store.session_info(sid)
    try:
        cfg = SessionConfig.from_dict(info["config"])
    except MLALError as e:
        st.session_state["home_like_note"] = ("error", f"Session `{sid[:8]}`'s settings cannot be read: {e}")
        return
    bundled = bool(cfg.dataset) and cfg.dataset in data.available(derived=True)
    upload = st.session_state.get(state.UPLOAD_KEY)
    if bundled:
        kind = data.load(cfg.dataset).kind
    elif upload is not None and info.get("dataset_hash") and state.dataset_key(upload) == info["dataset_hash"]:
        kind = upload.kind
    elif cfg.model != "mlp_ensemble" or cfg.representation in ("minilm", "tfidf", "tokens"):
        kind = "text"
    else:
        kind = "tabular" if cfg.representation == "raw" else None
    values, kept = _form_values(cfg, kind)
    if not bundled:  # an upload (or a dataset no longer bundled): the file must be uploaded again
        values.pop("home_dataset", None)
        values["home_source"] = "My own file"
    form.put(values, kept)
    form.own(BUDGET_DEFAULTS)  # the copied budget is the user's: another dataset's defaults do not replace it
    st.session_state["home_tab"] = TAB_NEW
    name = info.get("dataset_name") or cfg.dataset
    note = (f"The form holds the settings of session `{sid[:8]}` ({name} · {cfg.strategy} · seed {cfg.seed}), "
            "without its name. Change the strategy or the seed, then start the new session.")
    if not bundled:
        note += (f" That session was run on {'an uploaded file' if not cfg.dataset else 'a dataset not bundled here'} "
                 f"({name!r}): upload it again under **My own file** (with the same columns) first.")
    st.session_state["home_like_note"] = ("success", note)


with tab_open:
    store = state.get_store()
    sessions = store.list_sessions()
    if sessions.empty:
        st.info(f"No stored sessions yet. Every session you start is stored (in {state.store_place()}) and "
                "can be reopened here.")
    else:
        st.caption(f"Sessions stored in {state.store_place()}, newest first.")
        shown = sessions.drop(columns=["note", "n_labeled"]).assign(
            status=sessions["status"].map({"running": "in progress"}).fillna(sessions["status"]))
        shown = shown.rename(columns={"rounds_done": "rounds done", "rounds_planned": "rounds planned",
                                      "records": "curve points",
                                      "micro_f1": "last micro-F1", "created_at": "created (UTC)",
                                      "updated_at": "updated (UTC)"})
        widgets.table(shown, key="home_sessions", file_name="sessions.csv", hide_index=True)
        labels = {r["id"]: _label(r) for _, r in sessions.iterrows()}
        sid = st.selectbox("Session", list(labels), format_func=labels.get, key="home_reopen_id")
        c1, c2, c3 = st.columns([1, 1, 2])
        if c1.button("Open this session", type="primary", key="home_reopen"):
            info = store.session_info(sid)
            cfg = SessionConfig.from_dict(info["config"])
            ds = data.load(cfg.dataset) if cfg.dataset else st.session_state.get(state.UPLOAD_KEY)
            if ds is None or (cfg.dataset is None and info.get("dataset_hash") and
                              state.dataset_key(ds) != info["dataset_hash"]):
                st.error(f"Session `{sid[:8]}` was run on an uploaded file ({info.get('dataset_name')!r}). Upload "
                         "the same file on **Start a new session** first, then open the session again.",
                         icon=":material/error:")
            else:
                try:
                    request = feature_request(cfg, ds.kind, info.get("feature_source"))
                except MLALError as e:
                    st.error(f"The session could not be opened: {e}", icon=":material/error:")
                else:
                    _prepare_then("reopen", ds, request, sid=sid)
                    st.rerun()
        c2.download_button("Export (zip)", data=lambda size=widgets.export_size(): session_export_zip(store, sid, size=size),
                           file_name=f"mlal-session-{sid[:8]}.zip", mime="application/zip", key="home_zip",
                           on_click="ignore", help="Config, rounds, picks and figures (PNG, SVG, HTML) in one zip.")
        st.button("New session like this one", key="home_like", icon=":material/content_copy:",
                  on_click=_like_this_one, args=(store, sid),
                  help="Fill the form of *Start a new session* with this session's data, model, strategy, "
                       "budget and seed, to run it again with another strategy or seed.")
        if c3.toggle("Delete this session", key="home_delete_arm"):
            st.warning("Deleting removes the session and its rounds from the store for good.")
            st.button("Delete for good", key="home_delete", on_click=_delete, args=(store, sid))
    _preparation_panel("reopen")
    current = state.get_session()
    if current is not None:
        st.caption(f"Open now: `{current.session_id[:8] if current.session_id else '-'}` "
                   f"({current.dataset.name}, {current.config.strategy}).")

form.remember("home_")  # what this run gave the form's widgets, before a page switch drops them (ui/form.py)
