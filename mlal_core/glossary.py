"""The glossary: every term and abbreviation the workbench shows, with its formula and its source.

One :class:`Term` per concept, in :data:`GLOSSARY`. The app's Glossary page (``pages/glossary.py``)
draws it, ``docs/glossary.md`` is written from it (:func:`glossary_markdown`, kept up to date by a
test), and help texts link to an entry with :func:`glossary_link`.

Formulas follow ``METHODS.md`` (the project's exact definitions) and the papers in ``papers/``:
CRAB (Qi, Lu, Yang, Enticott & Du), BEAL (Wang et al. 2024, Sci. Rep.), CoMAL (Peng et al., KDD 2024),
the XMTC study (Fromme et al.) and uncertainty batch selection (Zhou et al.); equation numbers are
theirs. Where METHODS.md chose between readings of a paper, the entry says so.

Notation: a pool sample x, labels j = 1..K; S probability samples ``p_s(x)`` (ensemble members or
MC-dropout passes) with mean ``pbar(x)``; pseudo labels ``y*_j(x) = 1[pbar_j(x) > 0.5]``; ``L`` the
labelled set, ``U`` the unlabelled pool, ``n`` (``b`` in the app) the query size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlal_core.errors import ConfigError
from mlal_core.validation import close_names_hint

__all__ = ["GLOSSARY", "GLOSSARY_PAGE", "GROUPS", "Term", "glossary_link", "glossary_markdown",
           "normalise", "search", "term"]

#: URL path of the app's Glossary page (``st.navigation`` names a page after its file,
#: ``pages/glossary.py``), relative so that links work under any ``server.baseUrlPath``
GLOSSARY_PAGE = "glossary"

#: the page's sections, in order
GROUPS: tuple[str, ...] = (
    "The active-learning loop",
    "Evaluation metrics",
    "Label statistics",
    "Label correlations and CRAB",
    "Expected score change (BEMPS, BESRA, CRAB)",
    "Query strategies",
    "CoMAL",
    "Comparing strategies",
    "Maps",
    "Training mini-batch selection",
    "When to stop",
)

_KEY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True, kw_only=True)
class Term:
    """One glossary entry.

    Parameters
    ----------
    key : str
        Lower-case slug (letters, digits, single hyphens); also the anchor of its header on the page.
    name : str
        The name as the app shows it (``"dQ_AB"``, ``"Micro-F1"``).
    group : str
        One of :data:`GROUPS`.
    short : str
        One sentence in plain words.
    formula : str
        LaTeX (KaTeX) without ``$`` delimiters; empty when the term has none.
    paper : str
        Where it is defined: one of the five papers with its equation or section, or a standard
        reference; METHODS.md's [choice] where the workbench chose a reading.
    aliases : tuple of str
        Other spellings the app uses (metric keys, column names, registry names, symbols).
    detail : str
        Optional further sentences (what the symbols of the formula are, how to read it).
    """

    key: str
    name: str
    group: str
    short: str
    formula: str = ""
    paper: str = ""
    aliases: tuple[str, ...] = ()
    detail: str = ""

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"Glossary key {self.key!r} must be a lower-case slug such as 'dq-ab'.")
        if self.group not in GROUPS:
            raise ValueError(f"Glossary term {self.key!r}: group {self.group!r} is not one of {GROUPS}.")


_LOOP, _METRICS, _LABELS, _CRAB, _BEMPS, _STRAT, _COMAL, _COMPARE, _MAPS, _BATCH, _STOP = GROUPS
_M = "METHODS.md"


def _terms() -> tuple[Term, ...]:
    T = Term
    return (
        # ------------------------------------------------------------------ the loop
        T(key="labelled-set", name="L (labelled set)", group=_LOOP,
          short="The samples whose labels are known; round t's model is trained on L_t and its strategy sees "
                "only L_t's labels.",
          formula=r"L_{t+1} = L_t \cup B_t",
          paper="Pool-based active learning (Settles 2009); BEAL Sec. 'Active learning framework'.",
          aliases=("L", "L_t", "labeled set", "labelled samples"),
          detail="B_t is the batch round t picked; L_0 is the initial set."),
        T(key="unlabelled-pool", name="U (unlabelled pool)", group=_LOOP,
          short="The training samples whose labels the session has not asked for yet: the candidates a strategy "
                "scores.",
          formula=r"U_{t+1} = U_t \setminus B_t",
          paper="Pool-based active learning (Settles 2009); CRAB Sec. 3.",
          aliases=("U", "U_t", "pool", "unlabeled pool", "candidates")),
        T(key="round", name="Round", group=_LOOP,
          short="One step of the loop: train the model from scratch on L_t, measure it on the test split, let the "
                "strategy pick b samples of U_t and have the oracle label them.",
          formula=r"L_{t+1} = L_t \cup \mathrm{top}_{b}\{u_t(x) : x \in U_t\}",
          paper="BEAL Algorithm 1; CRAB Algorithm 1 (cold start: retrained from scratch each round).",
          aliases=("rounds", "query round"),
          detail="Batch strategies (BESRA, CRAB, BADGE, Core-Set, ALPS, DAL, AUDI) do not simply take the "
                 "top-b scores."),
        T(key="query-size", name="Query size b", group=_LOOP,
          short="How many samples a round picks for labelling.",
          paper="BEAL ('query batch size b'); CRAB Algorithm 1 ('query size N').",
          aliases=("b", "query_size", "batch size", "query size n")),
        T(key="oracle", name="Oracle", group=_LOOP,
          short="Whoever answers the labels of the picks: simulated (the ground truth, as papers compare "
                "strategies) or a person in the app.",
          paper="Settles 2009.",
          aliases=("simulated oracle", "person oracle", "answered_by")),
        T(key="initial-set", name="Initial set L_0", group=_LOOP,
          short="The samples labelled before the first round, chosen without a model: at random, one per label "
                "(simulation only), representative (k-means centres) or diverse (k-center greedy).",
          paper="Cold start of pool-based active learning (Settles 2009); small-text's initialisation strategies; "
                "mlal_core.session.initial.",
          aliases=("L_0", "L0", "initial_method", "initial method", "initial labelled set", "initialisation",
                   "initialization", "cold start", "random initial set"),
          detail="'one per label' (per_label) reads the pool's true labels to choose, which a real person does "
                 "not have before labelling, so it exists only in simulation."),
        T(key="representative-initial-set", name="Representative initial set", group=_LOOP,
          short="k-means with k = the initial size on the pool's features; each centre's nearest pool sample is "
                "labelled, so the initial set sits in the dense regions of the pool.",
          formula=r"L_0 = \{\arg\min_{x \in U} \|h(x) - \mu_c\| : c = 1..k\},\quad "
                  r"\mu = \mathrm{kmeans}_k(h(U))",
          paper="k-means cold start (Zhu et al. 2008; Hu et al. 2010); scikit-learn KMeans, k-means++ init, "
                "random_state = seed.",
          aliases=("representative", "k-means initial set", "kmeans initial set", "n_init"),
          detail="A centre whose nearest sample is already taken takes its nearest untaken one, so exactly k "
                 "distinct samples are chosen; h = the session's features (TF-IDF projected by a truncated SVD)."),
        T(key="diverse-initial-set", name="Diverse initial set", group=_LOOP,
          short="k-center greedy on the pool's features from a seeded first sample: each next sample is the one "
                "farthest from every sample chosen so far, so the initial set spans the whole pool.",
          formula=r"x_{j+1} = \arg\max_{x \in U}\ \min_{i \leq j}\|h(x) - h(x_i)\|",
          paper="Sener & Savarese 2018 (the Core-Set strategy's code, with nothing labelled yet).",
          aliases=("diverse", "k-center initial set", "kcenter initial set", "first_centre"),
          detail="It reaches outliers first; the representative set prefers dense regions."),
        T(key="score", name="Score (utility)", group=_LOOP,
          short="The number a strategy gives each candidate; higher is picked first.",
          formula=r"u_t(x),\ x \in U_t",
          paper="Settles 2009; each strategy's own entry gives its formula.",
          aliases=("utility", "strategy score"),
          detail="BEAL's score is -EC, so the lowest expected confidence is the highest score."),
        T(key="pseudo-label", name="Pseudo label y*", group=_LOOP,
          short="The label set the model predicts for an unlabelled sample: every label whose mean probability "
                "is above 0.5.",
          formula=r"y^*_j(x) = \mathbb{1}\left[\bar p_j(x) > 0.5\right]",
          paper="CRAB Eq. 10-11; METHODS.md notation.",
          aliases=("y*", "ystar", "pseudo labels", "predicted labels", "predicted_labels", "n_predicted")),
        T(key="mean-probability", name="Mean probability p\u0304", group=_LOOP,
          short="The mean of the model's S probability samples (ensemble members or MC-dropout passes) for each "
                "label.",
          formula=r"\bar p_j(x) = \frac{1}{S}\sum_{s=1}^{S} p_{s,j}(x)",
          paper="CRAB Eq. 11 (ensemble); BEAL Eq. 6 (MC dropout).",
          aliases=("pbar", "p bar", "pbar_of_that_label", "predicted_top")),
        T(key="ensemble", name="Ensemble", group=_LOOP,
          short="Several copies of the model trained from different seeds; their disagreement is what BALD, "
                "BESRA and CRAB read as uncertainty.",
          formula=r"P(\theta_e \mid L) = 1/E,\quad e = 1, \dots, E",
          paper="CRAB Eq. 3-4 and Sec. 5 (5 members); Lakshminarayanan et al. 2017.",
          aliases=("ensemble members", "members", "n_members")),
        T(key="mc-dropout", name="MC dropout", group=_LOOP,
          short="Several forward passes with dropout left on; each pass is one probability sample of a "
                "Bayesian model.",
          formula=r"p(Y \mid X, L) \approx \frac{1}{T}\sum_{t=1}^{T} p(Y \mid X, \hat\omega^t)",
          paper="BEAL Eq. 6; Gal & Ghahramani 2016.",
          aliases=("MC-dropout", "dropout passes", "mc_passes", "MC-dropout passes")),
        T(key="label-cardinality", name="LC (label cardinality)", group=_LOOP,
          short="The mean number of labels per sample (of the labelled set, for LC in the strategies' formulas).",
          formula=r"\mathrm{LC} = \frac{1}{|L|}\sum_{i \in L}\sum_{j=1}^{K} y_{ij}",
          paper="Tsoumakas & Katakis 2007; CoMAL Eq. 7 (its second term); METHODS.md notation.",
          aliases=("LC", "Card", "cardinality", "label_cardinality")),
        T(key="tf-idf", name="TF-IDF", group=_LOOP,
          short="Text features that count a text's words, weighted down for words common to many texts.",
          formula=r"\mathrm{tfidf}(w, d) = \mathrm{tf}(w, d)\left(\ln\frac{1 + N}{1 + \mathrm{df}(w)} + 1\right)",
          paper="Sparck Jones 1972; scikit-learn TfidfVectorizer (smooth idf, L2-normalised rows).",
          aliases=("tfidf",)),
        T(key="minilm", name="MiniLM", group=_LOOP,
          short="The small pretrained sentence encoder (all-MiniLM-L6-v2) whose 384-d embeddings are the text "
                "sets' default features.",
          paper="Wang et al. 2020 (MiniLM); Reimers & Gurevych 2019 (sentence-transformers).",
          aliases=("all-MiniLM-L6-v2", "sentence embeddings")),
        # ------------------------------------------------------------------ evaluation metrics
        T(key="micro-f1", name="Micro-F1", group=_METRICS,
          short="F1 over all (sample, label) decisions pooled together, at threshold 0.5: frequent labels "
                "dominate it.",
          formula=(r"\mathrm{F1}_{\mathrm{micro}} = \frac{2\sum_j \mathrm{TP}_j}"
                   r"{2\sum_j \mathrm{TP}_j + \sum_j \mathrm{FP}_j + \sum_j \mathrm{FN}_j}"),
          paper="XMTC study Eq. 1-3; scikit-learn f1_score(average='micro').",
          aliases=("micro_f1", "micro F1", "F1")),
        T(key="macro-f1", name="Macro-F1", group=_METRICS,
          short="F1 of each label on its own, averaged over the labels, at threshold 0.5: a rare label counts "
                "as much as a frequent one.",
          formula=(r"\mathrm{F1}_{\mathrm{macro}} = \frac{1}{K}\sum_{j=1}^{K}"
                   r"\frac{2\,\mathrm{TP}_j}{2\,\mathrm{TP}_j + \mathrm{FP}_j + \mathrm{FN}_j}"),
          paper="scikit-learn f1_score(average='macro', zero_division=0): the mean of per-label F1. The XMTC "
                "study's Eq. 4-5 instead take F1 of macro-precision and macro-recall.",
          aliases=("macro_f1", "macro F1")),
        T(key="tuned-threshold", name="Tuned (variable) threshold", group=_METRICS,
          short="The one global threshold in {0.05, ..., 0.95} that maximises macro-F1 on the validation split, "
                "used instead of 0.5 for the *_tuned metrics.",
          formula=(r"\tau^* = \arg\max_{\tau \in \{0.05, 0.10, \dots, 0.95\}} "
                   r"\mathrm{F1}_{\mathrm{macro}}(Y_{\mathrm{valid}}, \hat P_{\mathrm{valid}} > \tau)"),
          paper="XMTC study Sec. 5.2 ('variable threshold'); METHODS.md 'XMTC strategies'.",
          aliases=("variable threshold", "threshold_tuned", "micro_f1_tuned", "macro_f1_tuned",
                   "hamming_loss_tuned", "Micro-F1 (tuned threshold)", "Macro-F1 (tuned threshold)"),
          detail="Ties go to the threshold closest to 0.5."),
        T(key="p-at-k", name="P@k (precision at k)", group=_METRICS,
          short="The share of each sample's k most probable labels that are true, averaged over samples.",
          formula=r"\mathrm{P@}k = \frac{1}{N}\sum_{i=1}^{N}\frac{1}{k}\sum_{r=1}^{k} y_{i,\pi_i(r)}",
          paper="CoMAL Sec. 4.1 (P@k, its ref. [15]); METHODS.md 'Evaluation' (k = 1, 3, 5).",
          aliases=("P@1", "P@3", "P@5", "P@k", "precision@k", "precision at k"),
          detail="pi_i(r) is the label with the r-th highest predicted probability for sample i."),
        T(key="ndcg-at-k", name="nDCG@k", group=_METRICS,
          short="Like P@k, but a true label ranked first counts more than one ranked k-th, divided by the best "
                "possible value so 1 = a perfect top k.",
          formula=(r"\mathrm{nDCG@}k = \frac{\sum_{r=1}^{k} y_{(r)} / \log_2(1 + r)}"
                   r"{\sum_{r=1}^{\min(k, |y|)} 1 / \log_2(1 + r)}"),
          paper="Jarvelin & Kekalainen 2002; CoMAL Fig. 9 (NDCG@3); scikit-learn ndcg_score.",
          aliases=("nDCG@1", "nDCG@3", "nDCG@5", "nDCG@k", "ndcg")),
        T(key="macro-auc", name="Macro-AUC", group=_METRICS,
          short="ROC-AUC of each label (the chance that a random positive gets a higher probability than a random "
                "negative), averaged over the labels with both classes in the test split.",
          formula=r"\mathrm{AUC}_j = P\left(\hat p_j(x^+) > \hat p_j(x^-)\right),\qquad "
                  r"\text{Macro-AUC} = \frac{1}{|J|}\sum_{j \in J}\mathrm{AUC}_j",
          paper="Hanley & McNeil 1982; METHODS.md 'Evaluation'. Not the AULC.",
          aliases=("macro_auc", "AUC", "ROC-AUC")),
        T(key="lrap", name="LRAP", group=_METRICS,
          short="Label ranking average precision: for each true label, the share of the labels ranked at or "
                "above it that are true, averaged.",
          formula=(r"\mathrm{LRAP} = \frac{1}{N}\sum_i \frac{1}{|y_i|}\sum_{j: y_{ij}=1}"
                   r"\frac{|\{l: y_{il}=1,\ \mathrm{rank}_{il} \leq \mathrm{rank}_{ij}\}|}{\mathrm{rank}_{ij}}"),
          paper="Tsoumakas, Katakis & Vlahavas 2010; scikit-learn label_ranking_average_precision_score.",
          aliases=("label ranking average precision",)),
        T(key="ranking-loss", name="Ranking loss", group=_METRICS,
          short="The share of (true label, false label) pairs of a sample ranked the wrong way round, averaged "
                "over samples; lower is better.",
          formula=(r"\mathrm{RL} = \frac{1}{N}\sum_i \frac{|\{(j, l): y_{ij}=1,\ y_{il}=0,\ "
                   r"\hat p_{ij} \leq \hat p_{il}\}|}{|y_i|\,(K - |y_i|)}"),
          paper="Schapire & Singer 2000; scikit-learn label_ranking_loss.",
          aliases=("ranking_loss",)),
        T(key="hamming-loss", name="Hamming loss", group=_METRICS,
          short="The share of (sample, label) decisions that are wrong at threshold 0.5; lower is better.",
          formula=(r"\mathrm{HL} = \frac{1}{NK}\sum_{i=1}^{N}\sum_{j=1}^{K}"
                   r"\mathbb{1}\left[\mathbb{1}[\hat p_{ij} > 0.5] \ne y_{ij}\right]"),
          paper="Schapire & Singer 2000; scikit-learn hamming_loss.",
          aliases=("hamming_loss",)),
        # ------------------------------------------------------------------ label statistics
        T(key="irlbl", name="IRLbl", group=_LABELS,
          short="Imbalance ratio of a label: how many times rarer it is than the most frequent label.",
          formula=r"\mathrm{IRLbl}_j = \frac{\max_k n_k}{n_j}",
          paper="Charte et al. 2015; METHODS.md 'Label statistics'.",
          aliases=("imbalance ratio", "IRLbl (all splits)"),
          detail="n_j is the number of samples with label j; a label with n_j = 0 has no finite ratio."),
        T(key="meanir", name="MeanIR", group=_LABELS,
          short="The mean IRLbl over the labels that occur: 1 = perfectly balanced, higher = a few labels "
                "dominate.",
          formula=(r"\mathrm{MeanIR} = \frac{1}{|K_+|}\sum_{j \in K_+}\mathrm{IRLbl}_j,\qquad "
                   r"K_+ = \{j : n_j > 0\}"),
          paper="Charte et al. 2015; CRAB Tables 1-2; METHODS.md 'Label statistics'.",
          aliases=("MeanIR", "mean imbalance ratio", "mean_ir")),
        T(key="maxir", name="MaxIR", group=_LABELS,
          short="The imbalance ratio of the rarest label that occurs.",
          formula=r"\mathrm{MaxIR} = \max_{j \in K_+}\mathrm{IRLbl}_j",
          paper="Charte et al. 2015.",
          aliases=("max_ir",)),
        T(key="meanir-selected", name="MeanIR of the selected batch", group=_LABELS,
          short="MeanIR of the labels the oracle gave a round's picks, over the labels present in the batch: "
                "low = the round picked a balanced batch.",
          formula=r"\mathrm{MeanIR}(Y_{B_t}),\ \text{over } \{j : \sum_{i \in B_t} y_{ij} > 0\}",
          paper="CRAB Fig. 4; METHODS.md 'Label statistics'.",
          aliases=("mean_ir_selected", "MeanIR of the picks"),
          detail="A batch that covers few labels can look balanced: read it beside label coverage and evenness."),
        T(key="label-density", name="Density", group=_LABELS,
          short="Label cardinality divided by the number of labels K.",
          formula=r"\mathrm{Dens} = \mathrm{Card} / K",
          paper="Tsoumakas & Katakis 2007.",
          aliases=("label_density", "label density")),
        T(key="label-sets", name="Label sets", group=_LABELS,
          short="The number of different label combinations that occur.",
          formula=r"|\{\, y_i : i = 1, \dots, N \,\}|",
          paper="Tsoumakas & Katakis 2007 (distinct label sets).",
          aliases=("distinct_labelsets", "distinct label sets")),
        T(key="corravg", name="CorrAvg", group=_LABELS,
          short="The mean of A off its diagonal: how often, on average, a label comes with another given one.",
          formula=r"\mathrm{CorrAvg} = \frac{1}{|K_+|(|K_+| - 1)}\sum_{m \ne n \in K_+} A_{mn}",
          paper="CRAB Sec. 4 (written there as a sum over K x K, m != n); METHODS.md 'Label statistics'. "
                "[choice] Over the labels that occur (K_+), which reproduces the bundled datasets' statistics; "
                "with every label present it is the mean over all K(K - 1) ordered pairs.",
          aliases=("corr_avg", "correlation average")),
        T(key="top-k-pairs", name="Top-k pairs", group=_LABELS,
          short="The k strongest off-diagonal cells of a label-correlation matrix (e.g. the largest P(m | n) of A), "
                "as a sorted table with both labels' names: how the pages show A and NegA above 40 labels, where "
                "a K x K heatmap cannot be read.",
          formula=r"\{(m, n) : m \ne n,\ A_{mn} \geq A_{(k)}\}, \qquad A_{(k)} = \text{the } k\text{-th largest off-diagonal } A_{mn}",
          paper="This workbench (issue 18); pairs of labels with fewer positives than a chosen minimum are left "
                "out, since one shared sample gives P(m | n) = 1 for a label n seen once.",
          aliases=("top-k", "strongest pairs", "top pairs")),
        T(key="clustered-order", name="Clustered label order", group=_LABELS,
          short="The labels in the leaf order of an average-linkage hierarchical clustering of their rows and "
                "columns of A, so that labels that go together sit next to each other; above 40 labels the "
                "pages show one block of at most 40 consecutive labels of it, opening at the densest block.",
          formula=(r"d(m, n) = \left\| (A_{m\cdot}, A_{\cdot m}) - (A_{n\cdot}, A_{\cdot n}) \right\|_2, \qquad "
                   r"\text{densest block} = \arg\max_s \frac{1}{w(w-1)} \sum_{m \ne n \in [s, s+w)} A_{\pi(m)\pi(n)}"),
          paper="This workbench (issue 18); scipy.cluster.hierarchy.linkage(method='average').",
          aliases=("clustered", "cluster order", "clustered view", "densest block")),
        T(key="rank-frequency", name="Rank-frequency plot", group=_LABELS,
          short="Each label's positives against its rank (1 = most frequent) on log-log axes; label frequencies "
                "that follow a power law, as in extreme multi-label data, make a straight line.",
          formula=r"\log n_{(r)} \approx \log C - \alpha \log r \quad \text{(a power law)}",
          paper="Zipf's law; the usual view of label frequencies in extreme multi-label text classification.",
          aliases=("rank frequency", "zipf plot", "log-log")),
        T(key="label-coverage", name="Label coverage", group=_LABELS,
          short="The share of the K labels with at least one positive (in the labelled set L, or in one batch); "
                "a label never seen cannot be learned.",
          formula=r"\mathrm{coverage} = \frac{|\{j : n_j > 0\}|}{K}",
          paper="This workbench, read beside MeanIR (METHODS.md 'Label statistics').",
          aliases=("coverage", "labels seen", "label_coverage", "batch_coverage", "batch coverage")),
        T(key="evenness", name="Evenness (normalised label entropy)", group=_LABELS,
          short="The entropy of the label counts over all K labels divided by its maximum: 1 = every label equally "
                "often; dominant or missing labels lower it.",
          formula=r"\mathrm{evenness} = -\frac{1}{\ln K}\sum_{j=1}^{K} p_j \ln p_j,\qquad p_j = \frac{n_j}{\sum_k n_k}",
          paper="Pielou 1966 (evenness with S = K); METHODS.md 'Label statistics'.",
          aliases=("label entropy", "label_entropy", "labelled_entropy", "evenness of L")),
        # ------------------------------------------------------------------ correlations and CRAB
        T(key="a", name="A (positive correlation matrix)", group=_CRAB,
          short="A[m, n] is the share of the labelled samples with label n that also have label m, "
                "P(m | n); it is asymmetric.",
          formula=(r"A_{mn} = \frac{\#\{i \in L: y_{im}=1,\ y_{in}=1\}}{\#\{i \in L: y_{in}=1\}},\qquad "
                   r"A_{nn} = 1"),
          paper="CRAB Eq. 8; METHODS.md 'Correlation matrices'.",
          aliases=("positive correlation", "co-occurrence matrix", "A[m, n]"),
          detail="A label with no positive in L has an all-zero column ('unseen')."),
        T(key="nega", name="NegA (negative correlation matrix)", group=_CRAB,
          short="NegA[m, n] is the share of the labelled samples with label n that do not have label m, "
                "P(not m | n).",
          formula=(r"\mathrm{NegA}_{mn} = \frac{\#\{i \in L: y_{im}=0,\ y_{in}=1\}}{\#\{i \in L: y_{in}=1\}}"
                   r" = 1 - A_{mn}\ (m \ne n),\qquad \mathrm{NegA}_{nn} = 0"),
          paper="CRAB Eq. 9. [choice] The paper's sentence 'if m and n co-occur both NegA are set to 1' "
                "contradicts Eq. 9; METHODS.md follows Eq. 9.",
          aliases=("NegA", "negative correlation", "non-co-occurrence matrix", "NegA[m, n]")),
        T(key="z", name="z (z-score of A)", group=_CRAB,
          short="How many standard deviations an entry of A lies above the mean of A's off-diagonal entries.",
          formula=r"z(A_{mn}) = \frac{A_{mn} - \mu_A}{\sigma_A}",
          paper="CRAB Sec. 3.3.1 (the threshold sigma); METHODS.md 'CRAB' step 1.",
          aliases=("z-score", "z(A)")),
        T(key="asymmetric-pair", name="Asymmetric pair", group=_CRAB,
          short="A label pair (m, n) with z(A[m, n]) > 1 and A[m, n] > A[n, m]: label n implies label m "
                "(n is the narrower label).",
          formula=r"(m, n)\ \text{asymmetric} \Leftrightarrow z(A_{mn}) > 1 \ \wedge\ A_{mn} > A_{nm}",
          paper="CRAB Sec. 3.2.1 and 3.3.1. [choice, revised] METHODS.md: label-wise sampling keeps the implying "
                "label n and drops the implied m (asymmetric_keep='implying'); 'implied' keeps m, 'all' keeps "
                "every label.",
          aliases=("asymmetric pairs", "asymmetric", "asymmetric_keep", "implying label", "implied label",
                   "dropped labels", "kept labels")),
        T(key="tau", name="\u03c4 (tau, exclusivity threshold)", group=_CRAB,
          short="CRAB's threshold on NegA for mutually exclusive pairs: two standard deviations above the mean "
                "of NegA's off-diagonal entries, at most 1.",
          formula=r"\tau = \min\left(1,\ \mu_{\mathrm{NegA}} + 2\sigma_{\mathrm{NegA}}\right)",
          paper="CRAB Sec. 3.3.2 ('a threshold of 2 sigma'). [choice] METHODS.md: mean + 2 std, capped at 1, "
                "over labels with at least 2 positives in L.",
          aliases=("\u03c4", "tau (CRAB)")),
        T(key="exclusive-pair", name="Mutually exclusive pair", group=_CRAB,
          short="A label pair whose NegA entries both reach tau: in the labelled set the two labels (almost) "
                "never occur together.",
          formula=r"(m, n)\ \text{exclusive} \Leftrightarrow \mathrm{NegA}_{mn} \geq \tau \ \wedge\ \mathrm{NegA}_{nm} \geq \tau",
          paper="CRAB Sec. 3.3.2; METHODS.md 'CRAB' step 2.",
          aliases=("exclusive pairs", "exclusive", "mutually exclusive", "label_pairs")),
        T(key="conflicting", name="Conflicting sample", group=_CRAB,
          short="An unlabelled sample whose predicted labels contain a mutually exclusive pair: the model is "
                "confused about it.",
          formula=r"\mathrm{conflicting}(x) \Leftrightarrow \exists\,(m, n)\ \text{exclusive}:\ y^*_m(x) = y^*_n(x) = 1",
          paper="CRAB Sec. 3.3.2 and Fig. 5.",
          aliases=("conflicting_count", "conflicting samples", "Conflicting samples in the unlabelled pool",
                   "conflicting in the pool", "selected_conflicting")),
        T(key="hard-to-learn", name="Hard-to-learn sample", group=_CRAB,
          short="An unlabelled sample for which the model predicts no label at all: every mean probability is "
                "below 0.5.",
          formula=r"\mathrm{hard}(x) \Leftrightarrow \max_j \bar p_j(x) < 0.5",
          paper="CRAB Sec. 3.3.3 and Fig. 5.",
          aliases=("hard_to_learn", "hard_to_learn_count", "hard-to-learn samples",
                   "Hard-to-learn samples in the unlabelled pool", "hard-to-learn in the pool",
                   "selected_hard_to_learn")),
        T(key="label-wise-pool", name="Label-wise pool", group=_CRAB,
          short="CRAB's first refined pool: for each kept label, up to M unlabelled samples predicted to have it.",
          formula=r"U_{\mathrm{label}} = \bigcup_{j\ \mathrm{kept}} \mathrm{draw}_M\{x \in U : y^*_j(x) = 1\}",
          paper="CRAB Sec. 3.3.1, Algorithm 1 line 6; METHODS.md 'CRAB' step 1. [choice] M = min(100, "
                "ceil(|U| / (4K))).",
          aliases=("label-wise", "label-wise sampling", "per_label_size", "M")),
        T(key="negative-pool", name="Negatively-correlated pool", group=_CRAB,
          short="CRAB's second refined pool: up to n conflicting samples.",
          formula=r"U_{\mathrm{neg}} = \mathrm{draw}_n\{x \in U : \mathrm{conflicting}(x)\}",
          paper="CRAB Sec. 3.3.2, Algorithm 1 line 7; METHODS.md 'CRAB' step 2.",
          aliases=("negatively-correlated pool", "negatively correlated", "negative_pool",
                   "negative-correlated")),
        T(key="hard-pool", name="Hard-to-learn pool (Z_t)", group=_CRAB,
          short="CRAB's third refined pool: up to Z_t hard-to-learn samples, fewer each round.",
          formula=r"Z_t = \mathrm{round}\left(Z_0 \left(1 - t/T\right)^2\right)",
          paper="CRAB Sec. 3.3.3, Algorithm 1 line 8, App. 7.2 (polynomial decay); METHODS.md 'CRAB' step 3.",
          aliases=("hard_pool", "hard-to-learn pool", "Z_t", "Z_0", "hard_size", "decay"),
          detail="t is the round and T the planned rounds; Z_0 defaults to the query size n."),
        T(key="u-star", name="U* (refined pool)", group=_CRAB,
          short="The union of CRAB's three refined pools, topped up at random to 2n when smaller; only U* is "
                "scored and clustered.",
          formula=r"U^* = U_{\mathrm{label}} \cup U_{\mathrm{neg}} \cup U_{\mathrm{hard}}",
          paper="CRAB Algorithm 1 lines 6-9; METHODS.md 'CRAB' step 4.",
          aliases=("U*", "ustar", "refined pool", "pools")),
        T(key="top-up", name="Random top-up", group=_CRAB,
          short="When U* holds fewer than 2n samples, random unlabelled samples are added until it holds 2n.",
          formula=r"|U^*| < 2n \Rightarrow U^* \leftarrow U^* \cup \mathrm{draw}_{2n - |U^*|}(U \setminus U^*)",
          paper="METHODS.md 'CRAB' step 4 (the paper does not say what happens when U* is small).",
          aliases=("topup", "random top-up")),
        T(key="ahat", name="\u00c2 (label attention)", group=_CRAB,
          short="A, normalised so that the correlated labels' score changes add to a label's own without "
                "outweighing it.",
          formula=r"\hat A_{mn} = \frac{A_{mn}}{\alpha_c \max_{n'}\sum_{m \ne n'} A_{mn'}}\ (m \ne n),\qquad \alpha_c = 2",
          paper="CRAB Eq. 13; METHODS.md 'CRAB' step 5.",
          aliases=("Ahat", "alpha_c", "label attention", "correlation_attention")),
        # ------------------------------------------------------------------ expected score change
        T(key="beta-scoring-rule", name="Beta scoring rule", group=_BEMPS,
          short="A proper scoring rule with two parameters that can weigh the rare positive labels more than "
                "the log or squared-error score (alpha = 0.1, beta = 3 here).",
          formula=(r"S(p, y) = -\left(y \int_p^1 t^{\alpha-1}(1-t)^{\beta}\,dt + "
                   r"(1-y)\int_0^p t^{\alpha}(1-t)^{\beta-1}\,dt\right)"),
          paper="CRAB Eq. 5-7; Buja, Stuetzle & Shen 2005; METHODS.md 'Beta scoring rules'.",
          aliases=("beta scoring", "S_BR", "beta score", "scoring rule"),
          detail="alpha = beta = 0 is the log score, alpha = beta = 1 the squared error."),
        T(key="bemps", name="BEMPS", group=_BEMPS,
          short="Bayesian estimate of mean proper scores: score a candidate by how much labelling it is expected "
                "to raise the ensemble's proper score on other samples.",
          formula=(r"P(\theta_e \mid L, (x, y)) \propto P(y \mid \theta_e, x):\quad w_e^{(1)} \propto a_e,\ "
                   r"w_e^{(0)} \propto 1 - a_e"),
          paper="Tan, Du & Buntine 2023 (TPAMI), as restated in CRAB Eq. 1-4; METHODS.md 'BEMPS / BESRA'.",
          aliases=("Bayesian estimate of mean proper scores",),
          detail="a_e = p_e(x)_j is member e's probability of label j at the candidate x."),
        T(key="reference-set", name="X' (reference set)", group=_BEMPS,
          short="A seeded random sample of the unlabelled pool (100 by default) on which the expected score "
                "change of each candidate is measured.",
          formula=r"X' \subset U,\ |X'| = 100",
          paper="CRAB Eq. 2 (x'); METHODS.md 'BEMPS / BESRA'.",
          aliases=("X'", "n_reference")),
        T(key="dq", name="dQ (expected score change)", group=_BEMPS,
          short="How much the ensemble's expected beta score on the reference set would rise if the candidate "
                "were labelled: BESRA's score.",
          formula=(r"\Delta Q(x) = \frac{1}{|X'|}\sum_{x' \in X'}\sum_{j=1}^{K}"
                   r"\left(D_j(w_0) - \left[\bar a_j D_j(w^{(1)}) + (1 - \bar a_j) D_j(w^{(0)})\right]\right)"),
          paper="CRAB Eq. 2-4 (BEMPS, Tan et al. 2023); BESRA (Tan et al. 2024); METHODS.md 'BEMPS / BESRA "
                "expected score change'.",
          aliases=("dQ", "delta Q", "expected score change", "label_dQ", "label_dQ_sum", "top_label_dQ",
                   "dQ_j"),
          detail="D_j(w) is the ensemble's disagreement on label j at x' under member weights w (>= 0 for a proper "
                 "rule); w_0 is uniform, w^(1) and w^(0) the weights after observing label j = 1 or 0 at x."),
        T(key="dq-ab", name="dQ_AB (correlation-aware expected score change)", group=_BEMPS,
          short="dQ with CRAB's label attention: each label's score change also counts the changes of the "
                "labels that co-occur with it; CRAB's score.",
          formula=(r"\Delta Q_{AB}(x, x') = \sum_{n=1}^{K}\left(\Delta Q_n(x, x') + "
                   r"\sum_{m \ne n}\hat A_{mn}\,\Delta Q_m(x, x')\right)"),
          paper="CRAB Eq. 12-13; METHODS.md 'CRAB' step 5.",
          aliases=("dQ_AB", "dq_ab", "label_dQ_AB", "S_AB", "correlation-aware score"),
          detail="The score of x is the mean over x' in X'; its values are small (often 1e-5 to 1e-3): "
                 "compare ranks, not magnitudes."),
        T(key="kmeans-batch", name="k-means batch (nearest to centroid)", group=_BEMPS,
          short="The batch step of BESRA, CRAB and ALPS: k-means with n clusters on the candidates' vectors, "
                "then the candidate nearest each centroid.",
          formula=r"x^*_c = \arg\min_{x \in C_c}\|v(x) - \mu_c\|,\qquad c = 1, \dots, n",
          paper="CRAB Algorithm 1 line 12; BESRA (Tan et al. 2024); METHODS.md 'BEMPS / BESRA'.",
          aliases=("k-means", "kmeans", "cluster", "clusters", "distance_to_centroid", "centroid"),
          detail="For BESRA and CRAB v(x) is the L2-normalised vector of score changes over X'; BESRA keeps the "
                 "top 50 % by score first."),
        # ------------------------------------------------------------------ strategies
        T(key="random", name="Random", group=_STRAT,
          short="Picks unlabelled samples (or, as a batch sampler, training rows) uniformly at random: the "
                "baseline every strategy has to beat.",
          paper="Baseline in BEAL, CoMAL, CRAB, the XMTC study and Zhou et al.",
          aliases=("random sampling",)),
        T(key="entropy", name="Entropy", group=_STRAT,
          short="Sum over labels of the binary entropy of the mean probability, in bits; the most uncertain "
                "samples are picked.",
          formula=(r"\sum_{j=1}^{K} H(\bar p_j),\qquad H(p) = -p\log_2 p - (1-p)\log_2(1-p)"),
          paper="Lewis & Gale 1994 (uncertainty sampling); METHODS.md 'BALD, entropy'.",
          aliases=("entropy_bits", "mean label entropy", "H(p)", "entropy_of_mean")),
        T(key="bald", name="BALD", group=_STRAT,
          short="Mutual information between a sample's labels and the model: the entropy of the mean prediction "
                "minus the mean entropy of the S samples.",
          formula=(r"\mathrm{BALD}(x) = \sum_{j=1}^{K}\left[H\left(\frac{1}{S}\sum_s p_{s,j}\right) - "
                   r"\frac{1}{S}\sum_s H(p_{s,j})\right]"),
          paper="Houlsby et al. 2011; Gal, Islam & Ghahramani 2017; baseline in BEAL; METHODS.md 'BALD, entropy'.",
          aliases=("BALD mutual information", "mean_entropy")),
        T(key="ec", name="EC (expected confidence)", group=_STRAT,
          short="BEAL's confidence of the model in a sample: label relevances summed with a discount for lower "
                "ranks, averaged over the probability samples.",
          formula=(r"\mathrm{EC}(x) = \frac{1}{T}\sum_{t=1}^{T}\sum_{j=1}^{K}\frac{R(Y^t_j)}{\hat\pi(j)},\qquad "
                   r"R(y) = 2^{y} - 1"),
          paper="BEAL Eq. 1, 2, 7 and 8 (pi-hat ranks the labels by their mean relevance).",
          aliases=("expected confidence", "relevance", "top_relevance", "relevance_sorted", "label_ranking",
                   "conf_std_over_passes")),
        T(key="beal", name="BEAL", group=_STRAT,
          short="Bayesian expected-confidence active learning: picks the samples with the lowest EC.",
          formula=r"B_t = \mathrm{bottom}_{b}\{\mathrm{EC}(x) : x \in U_t\}",
          paper="BEAL (Wang et al. 2024) Eq. 9; 'Deterministic BEAL' is the paper's one-pass ablation.",
          aliases=("deterministic BEAL", "-EC")),
        T(key="mmc", name="MMC", group=_STRAT,
          short="Maximum loss reduction with maximal confidence: predicts how many labels a sample has and scores "
                "how far its probabilities are from that top-k label set.",
          formula=(r"\mathrm{MMC}(x) = \sum_{j=1}^{K}\frac{1 - \hat y_j\,(2\bar p_j - 1)}{2},\qquad "
                   r"\hat y_j = +1 \text{ for the top-}k\text{ labels, else } -1"),
          paper="Yang et al. 2009 (KDD); baseline in CRAB and CoMAL; METHODS.md 'MMC'.",
          aliases=("loss_top_k", "loss_other")),
        T(key="adaptive", name="Adaptive", group=_STRAT,
          short="Mixes max-margin uncertainty with label cardinality inconsistency, weighted by beta.",
          formula=(r"\mathrm{score}(x) = \left(\frac{1}{\max(\mathrm{sm}(x), 0.01)}\right)^{\beta}"
                   r"\mathrm{LCI}(x)^{1-\beta}"),
          paper="Li & Guo 2013 (IJCAI); baseline in CRAB and CoMAL. [choice] METHODS.md: beta = 0.5 fixed, "
                "adaptive_beta=True picks it per round.",
          aliases=("adaptive_beta", "unc")),
        T(key="separation-margin", name="sm (separation margin)", group=_STRAT,
          short="The gap between the weakest label the model predicts and the strongest one it rejects; small = "
                "uncertain.",
          formula=r"\mathrm{sm}(x) = \min_{j: y^*_j = 1}\bar p_j - \max_{j: y^*_j = 0}\bar p_j",
          paper="Li & Guo 2013; METHODS.md 'Adaptive' (top-1 / top-2 gap when nothing or everything is "
                "predicted).",
          aliases=("sm", "margin", "max-margin")),
        T(key="lci", name="LCI (label cardinality inconsistency)", group=_STRAT,
          short="How far the number of predicted labels is from the mean number per labelled sample, plus 1.",
          formula=r"\mathrm{LCI}(x) = \left|\sum_j y^*_j(x) - \mathrm{LC}\right| + 1",
          paper="Li & Guo 2013; METHODS.md 'Adaptive'.",
          aliases=("label cardinality inconsistency",)),
        T(key="audi", name="AUDI", group=_STRAT,
          short="Active query by uncertainty and diversity (instance part): label-count inconsistency times "
                "closeness to 0.5, skipping near-copies of earlier picks.",
          formula=r"\mathrm{score}(x) = \left|\sum_j y^*_j(x) - \mathrm{LC}\right|\left(1 - 2\min_j|\bar p_j(x) - 0.5|\right)",
          paper="Huang & Zhou 2013 (ICDM); baseline in CRAB and CoMAL. [choice] METHODS.md 'AUDI': whole label "
                "vectors are queried, so only the instance part.",
          aliases=("cardinality_gap", "min_dist_to_earlier_picks", "radius_quantile")),
        T(key="cvirs", name="CVIRS", group=_STRAT,
          short="Category vector inconsistency and ranking of scores: the sample's mean uncertainty rank over "
                "labels times how different its predicted label vector is from the labelled ones.",
          formula=(r"\mathrm{CVIRS}(x_i) = s_i\,v_i,\qquad s_i = \frac{\sum_{j=1}^{K}(N - \mathrm{rank}_{ij})}"
                   r"{K(N - 1)},\quad \mathrm{rank}_{ij} \text{ by } |2\bar p_{ij} - 1| \text{ ascending}"),
          paper="Reyes, Morell & Ventura 2018; XMTC study Sec. 5.1; METHODS.md 'CVIRS'.",
          aliases=("CVI", "category vector inconsistency"),
          detail="v_i is the mean normalised entropy distance between y*(x_i) and the labelled label vectors."),
        T(key="badge", name="BADGE", group=_STRAT,
          short="Gradient embeddings of the last layer under the model's own guess, spread over with k-means++ "
                "seeding: uncertain and diverse picks.",
          formula=r"g_i = \mathrm{vec}\left((\bar p_i - y^*_i) \otimes h_i\right)",
          paper="Ash et al. 2020 (ICLR); baseline in BEAL and CoMAL; METHODS.md 'BADGE'.",
          aliases=("gradient embedding", "gradient_norm", "projection_dims"),
          detail="h_i is the sample's penultimate-layer feature vector."),
        T(key="kmeans-pp", name="k-means++ seeding", group=_STRAT,
          short="Picks centres one by one, each drawn with probability proportional to its squared distance to "
                "the nearest centre so far.",
          formula=r"P(x) = \frac{D(x)^2}{\sum_{x'} D(x')^2},\qquad D(x) = \min_{c\ \mathrm{chosen}}\|g(x) - g(c)\|",
          paper="Arthur & Vassilvitskii 2007; BADGE (Ash et al. 2020).",
          aliases=("k-means++", "kmeans++", "sq_dist_to_earlier_seeds", "D2 sampling")),
        T(key="core-set", name="Core-Set", group=_STRAT,
          short="k-center greedy: repeatedly picks the unlabelled sample farthest from everything labelled or "
                "picked, so the labelled set covers the pool.",
          formula=r"x^* = \arg\max_{x \in U}\ \min_{c \in L \cup B}\|h(x) - h(c)\|",
          paper="Sener & Savarese 2018 (ICLR); baseline in BEAL and CoMAL; METHODS.md 'Core-Set'.",
          aliases=("coreset", "k-center greedy", "k-center", "dist_to_nearest_labelled",
                   "dist_to_nearest_centre_at_pick")),
        T(key="dal", name="DAL", group=_STRAT,
          short="Discriminative active learning: a small network learns to tell labelled from unlabelled samples; "
                "those it is surest are unlabelled are picked.",
          formula=r"x^* = \arg\max_{x \in U} P(\mathrm{unlabelled} \mid x)",
          paper="Gissin & Shalev-Shwartz 2019; XMTC study Sec. 5.1; METHODS.md 'XMTC strategies'.",
          aliases=("discriminative active learning", "p_unlabelled", "sub_batch", "sub_batches")),
        T(key="alps", name="ALPS", group=_STRAT,
          short="Active learning by processing surprisal: a masked language model's per-token loss describes each "
                "text, and k-means on these vectors picks a surprising, varied batch.",
          formula=(r"s(x) = \frac{(\ell_1, \dots, \ell_T)}{\|(\ell_1, \dots, \ell_T)\|},\quad "
                   r"\ell_i = -\log p_{\mathrm{MLM}}(x_i \mid x)\ \text{at 15 \% of the positions, else } 0"),
          paper="Yuan, Lin & Boyd-Graber 2020 (EMNLP); XMTC study Sec. 5.1; METHODS.md 'XMTC strategies'.",
          aliases=("surprisal", "masked-LM", "MLM", "mask_prob")),
        T(key="subword", name="Subword", group=_STRAT,
          short="Ranks texts by the mean number of word pieces per word under the encoder's tokenizer: rare "
                "vocabulary first.",
          formula=r"\mathrm{subword}(x) = \frac{\#\,\text{word-piece units of } x}{\#\,\text{words of } x}",
          paper="XMTC study (Fromme et al.) Sec. 5.1; METHODS.md 'XMTC strategies'.",
          aliases=("units_per_word", "word pieces", "units", "words")),
        T(key="besra", name="BESRA", group=_STRAT,
          short="Beta scoring rules for active learning: dQ under the beta scoring rule, the top 50 % clustered "
                "with k-means, nearest to each centroid.",
          formula=r"C = \mathrm{top}_{50\%}\{\Delta Q(x)\},\quad B_t = \mathrm{kmeans}_n(C)",
          paper="Tan, Nguyen, Du & Buntine 2024 (AAAI); CRAB Sec. 3.1; METHODS.md 'BEMPS / BESRA'.",
          aliases=("top_fraction",)),
        T(key="crab", name="CRAB", group=_STRAT,
          short="Correlation-aware beta scoring: narrows the pool to U* with A and NegA, scores it by dQ_AB and "
                "picks one sample per k-means cluster.",
          formula=r"B_t = \mathrm{kmeans}_n\left(\{\Delta Q_{AB}(x) : x \in U^*\}\right)",
          paper="Qi, Lu, Yang, Enticott & Du (CRAB), Algorithm 1; METHODS.md 'CRAB'.",
          aliases=("refined_sampling", "correlation-aware beta scoring")),
        # ------------------------------------------------------------------ CoMAL
        T(key="comal", name="CoMAL", group=_COMAL,
          short="Contrastive multi-label active learning: label-wise embeddings with prototypes; picks the "
                "highest mix Q of SLCI and PFD.",
          formula=r"Q(x) = \mathrm{SLCI}(x)^{\gamma}\,\mathrm{PFD}(x)^{1-\gamma},\qquad \gamma = 0.5",
          paper="Peng et al. 2024 (KDD), CoMAL Eq. 9; METHODS.md 'CoMAL'.",
          aliases=("Q", "gamma", "Q = SLCI^gamma * PFD^(1-gamma)")),
        T(key="prototype", name="Prototype p_j and similarity k_j", group=_COMAL,
          short="A label's prototype is the normalised mean of the labelled positives' label-wise embeddings; "
                "k_j(x) is the cosine of x's embedding for label j with it.",
          formula=(r"p_j = \frac{\sum_{x \in L: y_j(x)=1} z_j(x)}{\left\|\sum_{x \in L: y_j(x)=1} z_j(x)\right\|},"
                   r"\quad k_j(x) = \cos(z_j(x), p_j),\quad \bar k_j = \frac{1}{|L|}\sum_{x \in L} k_j(x)"),
          paper="CoMAL Sec. 3.1 (prototypes) and Sec. 3.2 (k_j, kbar_j); METHODS.md 'CoMAL'.",
          aliases=("prototypes", "label prototype", "p_j", "k_j", "kbar", "kbar_j", "n_above_kbar",
                   "label-wise embedding", "z_j")),
        T(key="slci", name="SLCI", group=_COMAL,
          short="Similarity-enhanced label cardinality inconsistency: the number of labels whose embedding looks "
                "more prototypical than usual, compared with LC.",
          formula=r"\mathrm{SLCI}(x) = \left|\sum_{j=1}^{K}\mathbb{1}\left[k_j(x) > \bar k_j\right] - \mathrm{LC}\right|",
          paper="CoMAL Eq. 7.",
          aliases=("similarity-enhanced label cardinality inconsistency",)),
        T(key="pfd", name="PFD", group=_COMAL,
          short="Positive feature diversity: the sum of 1 - k_j over the labels predicted for the sample, large "
                "when its predicted labels' embeddings sit far from their prototypes.",
          formula=r"\mathrm{PFD}(x) = \sum_{j=1}^{K}\mathbb{1}\left[y^*_j(x) = 1\right]\left(1 - k_j(x)\right)",
          paper="CoMAL Eq. 8. [choice] METHODS.md sums over the classifier's pseudo labels y* "
                "(pfd_labels='classifier'); the paper's Eq. 8 uses the module's own head (pfd_labels='module').",
          aliases=("positive feature diversity", "prototype feature distance", "pfd_labels")),
        T(key="supcon", name="SupCon (supervised contrastive loss)", group=_COMAL,
          short="Pulls together the label-wise embeddings that share a label (all 'label absent' embeddings form "
                "one shared class) and pushes the others apart.",
          formula=(r"\mathcal{L}_{\mathrm{scl}} = -\frac{1}{|P(z)|}\sum_{z^+ \in P(z)}"
                   r"\log\frac{\exp(z^{\top} z^+/\tau)}{\sum_{z' \in A(z)}\exp(z^{\top} z'/\tau)}"),
          paper="CoMAL Eq. 3 (temperature tau = 0.07); Khosla et al. 2020.",
          aliases=("L_scl", "supervised contrastive", "temperature")),
        # ------------------------------------------------------------------ comparing strategies
        T(key="learning-curve", name="Learning curve", group=_COMPARE,
          short="A test score against the number of labelled samples, one point per retraining; sessions that "
                "differ only in their seed are averaged (mean +/- one standard deviation).",
          paper="BEAL Fig. 2; CRAB Fig. 2-3; METHODS.md 'Evaluation'.",
          aliases=("learning curves",)),
        T(key="aulc", name="AULC (area under the learning curve)", group=_COMPARE,
          short="The trapezoidal area under a learning curve divided by the labelled-size range: the curve's "
                "average score, on the metric's own scale.",
          formula=(r"\mathrm{AULC} = \frac{1}{n_R - n_0}\sum_{t=1}^{R}\frac{s_{t-1} + s_t}{2}\,(n_t - n_{t-1})"),
          paper="METHODS.md 'Evaluation' (normalised by the labelled-size range). Not the Macro-AUC.",
          aliases=("area under the learning curve", "area under the curve")),
        T(key="full-data-score", name="Full-data score and labelled fraction to reach it", group=_COMPARE,
          short="The score of the same model trained once on the whole pool, and the smallest labelled share of "
                "the pool at which a curve first reaches it.",
          formula=r"f^* = \min\left\{\, n_t / N : s_t \geq s^* \,\right\}",
          paper="BEAL Table 2; METHODS.md 'Evaluation'.",
          aliases=("full-data", "full data", "s*", "f*", "labelled fraction to reach", "labelled fraction")),
        T(key="paired-t-test", name="Paired t-test", group=_COMPARE,
          short="Tests whether the mean of the per-seed differences between two strategies is zero; used below 6 "
                "seeds.",
          formula=r"t = \frac{\bar d}{s_d / \sqrt{n}},\quad n - 1 \text{ degrees of freedom}",
          paper="Student 1908; scipy.stats.ttest_rel.",
          aliases=("t-test", "paired test", "ttest")),
        T(key="wilcoxon", name="Wilcoxon signed-rank test", group=_COMPARE,
          short="A paired test on the ranks of the per-seed differences; used from 6 seeds on (with 5 seeds its "
                "smallest two-sided p is 0.0625).",
          formula=r"W = \sum_{s:\ d_s > 0}\mathrm{rank}(|d_s|)",
          paper="Wilcoxon 1945; scipy.stats.wilcoxon.",
          aliases=("Wilcoxon", "signed-rank test")),
        T(key="holm", name="Holm adjustment", group=_COMPARE,
          short="Raises the p-values of a family of comparisons so that the chance of any false 'significant' "
                "stays below alpha.",
          formula=r"p^{\mathrm{Holm}}_{(i)} = \max_{l \leq i}\min\left(1,\ (m - l + 1)\,p_{(l)}\right)",
          paper="Holm 1979 (step-down Holm-Bonferroni).",
          aliases=("Holm", "p (Holm)", "p_holm", "Holm-Bonferroni", "Holm correction")),
        T(key="bootstrap-ci", name="Bootstrap confidence interval", group=_COMPARE,
          short="The 2.5th and 97.5th percentiles of the mean paired difference over 10,000 resamples of the "
                "seeds, drawn with replacement.",
          formula=(r"\mathrm{CI}_{95} = \left[q_{0.025}(\bar d^*),\ q_{0.975}(\bar d^*)\right],\quad "
                   r"\bar d^* = \frac{1}{n}\sum_{s=1}^{n} d_{\sigma(s)},\ \sigma(s) \sim \mathrm{U}\{1..n\}"),
          paper="Efron & Tibshirani 1993 (percentile bootstrap).",
          aliases=("bootstrap", "bootstrap CI", "ci_low", "ci_high", "confidence interval", "95 % CI")),
        T(key="mean-rank", name="Mean rank", group=_COMPARE,
          short="Per seed the strategies are ranked (1 = best, ties share the average rank); the ranks are "
                "averaged over the seeds.",
          formula=r"\bar r_a = \frac{1}{n}\sum_{s=1}^{n}\mathrm{rank}_s(a)",
          paper="Demsar 2006.",
          aliases=("mean ranks", "mean_rank")),
        T(key="percentile", name="Percentile and rank of a score", group=_COMPARE,
          short="Where a sample's score lies among the round's scored candidates (the pool, or CRAB's U*): "
                "percentile 100 = the top score, rank 1 = the highest.",
          formula=(r"\mathrm{percentile}(x) = 100\cdot\frac{|\{x' \in U_{\mathrm{scored}} : s(x') \leq s(x)\}|}"
                   r"{|U_{\mathrm{scored}}|}"),
          paper="This workbench (Selection inspector).",
          aliases=("rank", "pick rank", "score percentile")),
        T(key="jaccard", name="Jaccard overlap", group=_COMPARE,
          short="The size of the intersection of two pick sets over the size of their union: 1 = the same "
                "samples, 0 = nothing in common.",
          formula=r"J(A, B) = \frac{|A \cap B|}{|A \cup B|}",
          paper="Jaccard 1912.",
          aliases=("Jaccard", "overlap")),
        T(key="correlation-drift", name="Correlation drift", group=_COMPARE,
          short="The mean absolute change of the off-diagonal entries of A (or NegA) between two labelled sets.",
          formula=r"\mathrm{drift} = \frac{1}{K(K-1)}\sum_{m \ne n}\left|A'_{mn} - A_{mn}\right|",
          paper="This workbench (Label correlations page).",
          aliases=("drift", "drift_A", "drift_NegA", "Mean |change|")),
        # ------------------------------------------------------------------ maps
        T(key="t-sne", name="t-SNE", group=_MAPS,
          short="A 2-D map that keeps neighbours of the original space neighbours; distances between far clusters "
                "and the axes mean nothing.",
          formula=(r"\min_{Y}\mathrm{KL}(P \,\|\, Q),\quad p_{j|i} \propto e^{-\|x_i - x_j\|^2 / 2\sigma_i^2},"
                   r"\quad q_{ij} \propto (1 + \|y_i - y_j\|^2)^{-1}"),
          paper="van der Maaten & Hinton 2008; CoMAL Fig. 1 and 12.",
          aliases=("tsne", "t-sne map")),
        T(key="umap", name="UMAP", group=_MAPS,
          short="A 2-D map that matches fuzzy neighbour weights of the original space; like t-SNE, read "
                "neighbourhoods, not global distances.",
          formula=(r"\min_{Y}\sum_{i \ne j}\left[v_{ij}\log\frac{v_{ij}}{w_{ij}} + (1 - v_{ij})"
                   r"\log\frac{1 - v_{ij}}{1 - w_{ij}}\right],\quad w_{ij} = \left(1 + a\|y_i - y_j\|^{2b}\right)^{-1}"),
          paper="McInnes, Healy & Melville 2018.",
          aliases=()),
        # ------------------------------------------------------------------ mini-batch selection
        T(key="uncertainty-batch-selection", name="Uncertainty batch selection", group=_BATCH,
          short="A training mini-batch sampler: rows whose labels are uncertain now and have fluctuated lately are "
                "drawn more often, with a pressure that fades to uniform.",
          formula=(r"u_{ij} = \lambda_1 d_{ij} + (1 - \lambda_1) e_{ij},\quad e_{ij} = H(\hat y_{ij}),\quad "
                   r"d_{ij} = \frac{1}{T-1}\sum_{h=1}^{T-1}\left|\hat y^{t-h+1}_{ij} - \hat y^{t-h}_{ij}\right|"),
          paper="Zhou et al. (uncertainty batch selection) Eq. 1, 4 and 5; METHODS.md 'Uncertainty batch "
                "selection'.",
          aliases=("uncertainty", "lambda1", "u_ij", "fluctuation")),
        T(key="uncertainty-correlation-c", name="C (uncertainty label correlation)", group=_BATCH,
          short="Mutual information between two labels' uncertainty columns, binned into tau bins: which labels "
                "tend to be uncertain together.",
          formula=(r"C_{ab} = \sum_{\beta,\gamma} p(\beta,\gamma)\log\frac{p(\beta,\gamma)}{p(\beta)\,p(\gamma)},"
                   r"\quad C_{aa} = 1,\quad w_i = \mathrm{minmax}\left(\sum_j (U C)_{ij}\right)"),
          paper="Zhou et al. Eq. 6 (C, tau = 10 bins) and Eq. 7-8 (w_i); METHODS.md 'Uncertainty batch "
                "selection'.",
          aliases=("C", "mutual information C", "label correlation C")),
        T(key="selection-pressure", name="Selection pressure s_t", group=_BATCH,
          short="How much likelier the most uncertain row is drawn than the least: s0 = 100 after the warm-up, "
                "decaying to 1 (uniform).",
          formula=(r"P(x_i) \propto \exp\left(-\log(s_t)/n\right)^{Q(w_i)},\quad Q(z) = \lfloor (1-z)/\Delta\rfloor,"
                   r"\ \Delta = 1/n"),
          paper="Zhou et al. Eq. 9-11; METHODS.md 'Uncertainty batch selection'.",
          aliases=("s_t", "s0", "pressure")),
        T(key="balance-sampler", name="Balance (sampler)", group=_BATCH,
          short="Draws training rows with rare labels more often (mean inverse label frequency; static).",
          formula=r"P(x_i) \propto \frac{1}{|y_i|}\sum_{j: y_{ij}=1}\frac{1}{\pi_j},\quad \pi_j = n_j / n",
          paper="Hand et al. 2018; baseline in Zhou et al. (uncertainty batch selection).",
          aliases=("balance",)),
        T(key="active-bias", name="Active Bias", group=_BATCH,
          short="Draws training rows whose predictions varied most over the whole training history.",
          formula=r"P(x_i) \propto \sum_j \mathrm{std}_{\mathrm{history}}(\hat y_{ij}) + \epsilon",
          paper="Chang, Learned-Miller & McCallum 2017; baseline in Zhou et al.",
          aliases=("active_bias",)),
        T(key="recency-bias", name="Recency Bias", group=_BATCH,
          short="Draws training rows whose thresholded predictions changed most over the last T epochs.",
          formula=r"\sum_{j=1}^{K} H\left(\frac{1}{T}\sum_{h=0}^{T-1}\mathbb{1}[\hat y^{t-h}_{ij} > 0.5]\right)",
          paper="Song et al. 2020 (Carpe diem), summed over labels; Zhou et al. Eq. 3; baseline in Zhou et al.",
          aliases=("recency_bias",)),
        T(key="hard-imbalance", name="Hard Imbalance", group=_BATCH,
          short="Draws training rows by their loss weighted with their labels' imbalance ratios.",
          formula=r"\sum_{j=1}^{K}\mathrm{IRLbl}_j\,\mathrm{BCE}(\hat p_{ij}, y_{ij})",
          paper="Baseline in Zhou et al. (uncertainty batch selection); METHODS.md 'Uncertainty batch selection'.",
          aliases=("hard_imbalance",)),
        # ------------------------------------------------------------------ when to stop (issue 19)
        T(key="stopping-criterion", name="Stopping criterion", group=_STOP,
          short="A rule that says, after a round, whether labelling more is still worth it, read only from what "
                "the session stores (never from test labels).",
          paper="Bloodgood & Vijay-Shanker 2009; Zhu, Wang & Hovy 2008; Altschuler & Bloodgood 2019; "
                "mlal_core.stopping.",
          aliases=("stopping rule", "stopping criteria", "would stop here", "when to stop", "first stop"),
          detail="'Stop after round t' means: keep round t's model and label no more (n_labeled of round t spent)."),
        T(key="stop-set", name="Stop set", group=_STOP,
          short="A fixed random sample of the pool, drawn once per session and needing no labels, on which "
                "successive models' predictions are compared.",
          paper="Bloodgood & Vijay-Shanker 2009, Sec. 3; here 2,000 pool rows (the whole pool when smaller), "
                "seeded by the session's seed.",
          aliases=("stop_set", "stop-set samples")),
        T(key="stabilizing-predictions", name="Stabilizing predictions (kappa)", group=_STOP,
          short="Stop when the models of the last rounds agree on the stop set: the mean of the last 3 Cohen's "
                "kappas (averaged over labels) reaches 0.99.",
          formula=(r"\kappa_j = \frac{p_o - p_e}{1 - p_e} = \frac{2(ad - bc)}{(a+b)(b+d) + (a+c)(c+d)},\quad "
                   r"\kappa_t = \frac{1}{K}\sum_j \kappa_j,\quad \text{stop if } \frac{1}{3}\sum_{s=t-2}^{t}"
                   r"\kappa_s \geq 0.99"),
          paper="Bloodgood & Vijay-Shanker 2009 (window 3, threshold 0.99); per label, averaged over labels "
                "(this workbench).",
          aliases=("kappa", "Cohen's kappa", "StabilizingPredictions", "KappaAverage", "stop_kappa"),
          detail="a, b, c, d: stop-set rows both models predict 1, only the previous, only the current, neither. "
                 "A label both models predict as one constant value has p_e = 1; its kappa is taken as 1."),
        T(key="predicted-change-of-f", name="Predicted change of F", group=_STOP,
          short="Stop when the change of F between successive models, estimated from their agreement on the stop "
                "set alone, stays below 0.005 for 3 rounds.",
          formula=r"\Delta\hat F_t = 1 - \frac{2a}{2a + b + c},\quad \text{stop if } \max_{s=t-2..t}\Delta\hat F_s < 0.005",
          paper="Altschuler & Bloodgood 2019; a, b, c summed over rows and labels (micro) and the threshold "
                "0.005 (this workbench's choice, not a value quoted from the paper).",
          aliases=("delta_f", "PredictedChangeOfF", "DeltaFScore", "PFC", "delta F"),
          detail="small-text's DeltaFScore defaults to a threshold of 0.05."),
        T(key="classification-change", name="Classification change", group=_STOP,
          short="Stop when no unlabelled sample's predicted label set changes between two successive models.",
          formula=r"\frac{|\{x \in S \cap U_t : \hat y_{t-1}(x) \ne \hat y_t(x)\}|}{|S \cap U_t|} \leq 0",
          paper="Zhu, Wang & Hovy 2008; measured on the stop-set rows still unlabelled (this workbench).",
          aliases=("ClassificationChange", "classification_change", "changed_share")),
        T(key="overall-uncertainty", name="Overall uncertainty", group=_STOP,
          short="Stop when the unlabelled pool's mean uncertainty (mean binary entropy over labels) falls below "
                "0.05.",
          formula=(r"u(x) = \frac{1}{K}\sum_j H(\bar p_j(x)),\quad \text{stop if } \frac{1}{|U_t|}"
                   r"\sum_{x \in U_t} u(x) < 0.05"),
          paper="Zhu, Wang & Hovy 2008; small-text's OverallUncertainty (threshold 0.05).",
          aliases=("OverallUncertainty", "overall_uncertainty", "pool_mean_uncertainty")),
        T(key="max-uncertainty-stop", name="Maximum uncertainty", group=_STOP,
          short="Stop when even the most uncertain pick of the round is fairly certain: its mean binary entropy "
                "over labels is below 0.1.",
          formula=r"\text{stop if } \max_{x \in B_t} u(x) < 0.1",
          paper="Zhu, Wang & Hovy 2008 (max-confidence); threshold 0.1 (this workbench).",
          aliases=("MaxUncertainty", "max_uncertainty", "maximum uncertainty criterion")),
        T(key="selected-accuracy", name="Selected accuracy", group=_STOP,
          short="Stop when the model already predicted the labels of the batch it picked well: micro-F1 of its "
                "predictions against the oracle's answers of at least 0.9.",
          formula=r"\text{stop if } \mathrm{F1}_{\mu}\left(\mathbb{1}[\bar p_{t-1}(B_{t-1}) > 0.5],\ Y(B_{t-1})\right) \geq 0.9",
          paper="Zhu, Wang & Hovy 2008 (accuracy; micro-F1 for multi-label, this workbench).",
          aliases=("SelectedAccuracy", "selected_accuracy")),
        T(key="label-budget", name="Label budget", group=_STOP,
          short="Stop when the labelled set reaches the number of labels one is willing to pay for.",
          formula=r"\text{stop if } |L_t| \geq \text{budget}",
          paper="The usual fixed budget (small-text's MaxIterations counts rounds).",
          aliases=("LabelBudget", "budget")),
        T(key="oracle-round", name="Oracle round", group=_STOP,
          short="Hindsight's answer: the first round whose test score reaches 95 % (or 99 %) of the session's "
                "final score, or of the full-data score.",
          formula=(r"t^*_{f} = \min\{t : s_t \geq f\, s_{\mathrm{final}}\},\quad \text{extra labels} = "
                   r"n_{\mathrm{stop}} - n_{t^*}"),
          paper="This workbench (issue 19); uses test labels, so it judges the rules and is not one.",
          aliases=("oracle_round", "oracle stop", "labels saved", "labels wasted", "extra labels"),
          detail="Extra labels above 0: labelled after the score had got there; below 0: the rule stopped early."),
    )


#: every term, in page order (grouped by :data:`GROUPS`)
GLOSSARY: tuple[Term, ...] = tuple(sorted(_terms(), key=lambda t: GROUPS.index(t.group)))


def normalise(name: str) -> str:
    """The form in which glossary names are compared: lower case, ``_`` and blanks read as ``-``.

    Parameters
    ----------
    name : str
        A key, alias or name as the app shows it (``"dQ_AB"``, ``"Micro-F1"``).

    Returns
    -------
    str
        ``"dq-ab"``, ``"micro-f1"``: stripped, lower case, runs of ``_``, ``-`` and blanks as one ``-``.
    """
    return re.sub(r"[\s_\-]+", "-", str(name).strip().lower())


def _index() -> dict[str, Term]:
    out: dict[str, Term] = {}
    for t in GLOSSARY:
        for n in (t.key, t.name, *t.aliases):
            out.setdefault(normalise(n), t)
    return out


_INDEX = _index()


def term(key_or_alias: str) -> Term:
    """The glossary entry of a key, a name or an alias (``"dQ_AB"``, ``"micro_f1"``, ``"U*"``).

    Parameters
    ----------
    key_or_alias : str
        Compared after :func:`normalise` (case, ``_`` and blanks do not matter).

    Returns
    -------
    Term
        The entry.

    Raises
    ------
    ConfigError
        If no entry has that key, name or alias; the message names the close ones.
    """
    found = _INDEX.get(normalise(key_or_alias))
    if found is None:
        hint = close_names_hint(normalise(key_or_alias), _INDEX, n=3)
        raise ConfigError(f"The glossary has no term {key_or_alias!r}{hint}. Pass a key such as 'dq-ab' or a "
                          "name the app shows ('dQ_AB', 'MeanIR'); mlal_core.glossary.GLOSSARY lists them all.")
    return found


def search(text: str) -> list[Term]:
    """The terms whose key, name, aliases, sentence or source contain ``text`` (case-insensitive).

    Parameters
    ----------
    text : str
        What to look for; blank gives every term.

    Returns
    -------
    list of Term
        Matching terms, in :data:`GLOSSARY` order; an exact key, name or alias match comes first.
    """
    q = str(text).strip().lower()
    if not q:
        return list(GLOSSARY)
    exact = _INDEX.get(normalise(q))
    hits = [t for t in GLOSSARY
            if q in " ".join((t.key, t.name, *t.aliases, t.short, t.paper, t.detail)).lower()]
    return ([exact] if exact else []) + [t for t in hits if t is not exact]


def glossary_link(key: str, text: str | None = None) -> str:
    """A markdown link to a term's entry on the app's Glossary page.

    For column help texts and the "What am I looking at?" sections: Streamlit renders a relative link
    in markdown as ``<a href="glossary#dq-ab">`` and the Glossary page gives each entry's header that
    anchor.

    Parameters
    ----------
    key : str
        A key, name or alias (:func:`term`).
    text : str, optional
        The link text; default the term's name.

    Returns
    -------
    str
        ``"[dQ_AB (correlation-aware expected score change)](glossary#dq-ab)"``.

    Raises
    ------
    ConfigError
        If the term is not in the glossary.
    """
    t = term(key)
    label = (text if text is not None else t.name).replace("[", r"\[").replace("]", r"\]")
    return f"[{label}]({GLOSSARY_PAGE}#{t.key})"


def _term_markdown(t: Term) -> str:
    parts = [f'### {t.name} <a id="{t.key}"></a>', "", t.short + (f" {t.detail}" if t.detail else "")]
    if t.formula:
        parts += ["", "$$", t.formula, "$$"]
    parts += ["", f"*Source:* {t.paper}"]
    if t.aliases:
        parts += ["", "*Also:* " + ", ".join(f"`{a}`" for a in t.aliases)]
    return "\n".join(parts)


def glossary_markdown() -> str:
    """The whole glossary as one markdown document (the text of ``docs/glossary.md``).

    Returns
    -------
    str
        A title, then one section per group of :data:`GROUPS` with a ``###`` entry per term: its
        sentence, its formula in a ``$$`` block, its source and its other names.
    """
    out = ["# Glossary", "",
           "Every term the MLAL Workbench shows, with its formula and where it comes from. Generated from "
           "`mlal_core/glossary.py` (`python3 -m mlal_core.glossary > docs/glossary.md`); the app's Glossary "
           "page shows the same entries. Formulas follow `METHODS.md`; equation numbers are the papers'.", ""]
    for group in GROUPS:
        out += [f"## {group}", ""]
        out += [_term_markdown(t) + "\n" for t in GLOSSARY if t.group == group]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover - `python3 -m mlal_core.glossary > docs/glossary.md`
    print(glossary_markdown(), end="")
