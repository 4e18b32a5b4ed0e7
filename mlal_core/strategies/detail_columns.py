"""Plain-language meaning of every column a strategy writes into ``Selection.details``.

The app shows these as column help in the picks tables, so no score component is unexplained
jargon; a test checks that every column every registered strategy writes is described here.
"""

from __future__ import annotations

DETAIL_COLUMN_HELP: dict[str, str] = {
    # every strategy
    "position": "Row of the sample in the pool",
    "pick": "1 = picked first",
    "score": "The strategy's utility: higher is picked first",
    "reason": "Why the strategy picked this sample, in words",
    # uncertainty (entropy, BALD, BEAL)
    "entropy_bits": "Sum over labels of the binary entropy of the mean probability, in bits",
    "most_uncertain_label": "The label whose mean probability is closest to 0.5",
    "pbar_of_that_label": "Mean probability of that label over the ensemble / dropout samples",
    "entropy_of_mean": "Entropy of the mean prediction (total uncertainty)",
    "mean_entropy": "Mean entropy of the individual samples (the uncertainty each member has on its own)",
    "bald": "Mutual information = entropy of the mean - mean entropy: how much the members disagree",
    "EC": "BEAL's expected confidence over the MC-dropout passes (lower = less confident)",
    "conf_std_over_passes": "Standard deviation of the confidence over the passes",
    "top_relevance": "The largest predicted label relevance",
    "label_ranking": "Labels ordered by predicted relevance",
    "relevance_sorted": "The predicted relevances in that order",
    # BEMPS family (BESRA, CRAB)
    "top_label": "The label contributing most to the score",
    "top_label_dQ": "That label's expected score change dQ",
    "dQ": "Expected change of the beta scoring rule (BEMPS) if this sample were labelled",
    "dQ_AB": "dQ after CRAB's correlation-aware label weights (Eq. 12-13)",
    "label_dQ": "The three labels contributing most to dQ, as 'label: dQ_j'",
    "label_dQ_sum": "Sum of the per-label dQ_j (the sample's total expected score change)",
    "label_dQ_AB": "The three largest correlation-weighted contributions w_j x dQ_j (they sum to dQ_AB)",
    "rank": "Rank of the sample's dQ among the candidates (1 = highest)",
    "cluster": "The k-means cluster the sample represents",
    "distance_to_centroid": "Distance to its cluster's centre (the closest sample is picked)",
    "pools": "CRAB's refined pools the sample was drawn into (label-wise, negatively correlated, hard-to-learn)",
    "labels": "The label(s) whose label-wise pool drew the sample",
    "label_pairs": "The negatively correlated label pair(s) that drew the sample",
    "hard_to_learn": "True when every label's mean probability is below 0.5",
    "conflicting": "True when the predicted labels contain a pair that never co-occurs in the labelled set",
    # label-cardinality and margin based (MMC, Adaptive, AUDI, CVIRS)
    "n_predicted": "Number of labels predicted positive (mean probability > 0.5)",
    "k": "MMC: the number of labels the sample is predicted to have (from a logistic regression on L)",
    "loss_top_k": "MMC: sum of (1 - p) over the k most probable labels (how unsure the predicted labels are)",
    "loss_other": "MMC: sum of p over the other labels (how unsure the rejected labels are)",
    "sm": "Adaptive: separation margin = weakest predicted label's p - strongest rejected label's p",
    "unc": "Adaptive: the uncertainty term 1 / max(margin, 0.01)",
    "LCI": "Label cardinality inconsistency: |predicted labels - mean labels per labelled sample| + 1",
    "beta": "Adaptive's trade-off between uncertainty and LCI used this round",
    "cardinality_gap": "AUDI: |labels predicted - mean labels per labelled sample|",
    "uncertainty": "AUDI: 1 - 2 x the smallest |p - 0.5| over labels (1 = some label at exactly 0.5)",
    "min_dist_to_earlier_picks": "Distance to the nearest sample picked before it in this batch",
    "s": "CVIRS: uncertainty from the sample's rank by margin |2p - 1| in every label (1 = most uncertain everywhere)",
    "v": "CVIRS: mean normalised entropy distance of its predicted label vector to the labelled ones",
    # diversity (BADGE, Core-Set, DAL)
    "gradient_norm": "Length of the sample's gradient embedding (larger = the model would change more)",
    "sq_dist_to_earlier_seeds": "Squared distance to the nearest earlier k-means++ seed when it was drawn",
    "dist_to_nearest_labelled": "Distance to the nearest labelled sample",
    "dist_to_nearest_centre_at_pick": "Distance to the nearest labelled or already picked sample when it was picked",
    "p_unlabelled": "DAL: the discriminator's probability that the sample is unlabelled",
    "sub_batch": "DAL: the sub-batch in which the sample was picked",
    # CoMAL
    "SLCI": "CoMAL: |labels whose similarity k exceeds the labelled average - mean labels per labelled sample|",
    "PFD": "CoMAL: sum over predicted labels of (1 - k): how far its embeddings sit from those labels' prototypes",
    "Q": "CoMAL's score SLCI^gamma x PFD^(1-gamma)",
    "n_above_kbar": "CoMAL: labels whose similarity k to the prototype is above its labelled average",
    # text based
    "units": "Word-piece units of the text",
    "words": "Words of the text",
    "units_per_word": "Subword: word pieces per word (rarer vocabulary = more pieces)",
}


def column_help(column: str) -> str | None:
    """The meaning of a details column (None when it is not described).

    A picks table renames a details column whose name it already uses (``labels`` ->
    ``detail_labels``, see ``mlal_core.session.tables.DETAIL_PREFIX``); that is the same column.

    Parameters
    ----------
    column : str
        Column name, with or without the ``detail_`` prefix.

    Returns
    -------
    str or None
        The description from ``DETAIL_COLUMN_HELP``.
    """
    return DETAIL_COLUMN_HELP.get(column) or DETAIL_COLUMN_HELP.get(column.removeprefix("detail_"))
