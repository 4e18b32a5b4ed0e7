"""The Embeddings page's 2-D maps as pure functions of a session: which pool samples to project,
in which feature space, and how each map colours them (CoMAL Fig. 1 and 12).

* Feature maps: :func:`feature_sample` picks the points (every labelled sample plus a seeded rest,
  the same for every round, so the round slider only recolours the map), :func:`projection_features`
  the space (token-id sessions use cached MiniLM or TF-IDF of the texts), and
  :func:`feature_map_layers` the colouring: the labels the **session** holds for labelled samples,
  the ground truth of unlabelled ones only with a simulated oracle (:func:`map_labels`).
* CoMAL maps: a round's label-wise embeddings and prototypes (:func:`comal_embeddings`), the rows to
  draw and the layers (:func:`comal_map`).

Projections themselves (t-SNE / UMAP, cached) are :mod:`mlal_core.inspection.projection`; drawing is
:func:`mlal_core.viz.embedding_scatter`. Nothing here imports streamlit.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from mlal_core.errors import ConfigError
from mlal_core.inspection.round_history import (
    check_labelled_round,
    label_names,
    labelled_at,
    labelled_rounds,
    query_records,
)
from mlal_core.inspection.views import labelled_set_name

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.session.loop import ActiveLearningSession

__all__ = [
    "FEATURE_COLOURINGS",
    "MapLayers",
    "comal_default_label",
    "comal_embeddings",
    "comal_label_choices",
    "comal_map",
    "comal_map_rows",
    "comal_rounds",
    "feature_map_default_label",
    "feature_map_layers",
    "feature_sample",
    "map_labels",
    "projection_features",
    "roles_at",
]


def feature_sample(session: ActiveLearningSession, cap: int = 2000, seed: int = 0) -> np.ndarray:
    """Pool positions to project on a features map.

    Every sample ever labelled or picked in the history, then a seeded random fill from the rest,
    ``cap`` in all (at least the labelled ones). The same positions serve every round, so the map
    stays put while the round slider recolours it.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    cap : int, default 2000
        How many positions in all (more when more samples are labelled).
    seed : int, default 0
        Seed of the fill.

    Returns
    -------
    numpy.ndarray
        int64 pool positions, ascending.
    """
    lab, _ = labelled_at(session, labelled_rounds(session)[-1])
    chosen = np.unique(lab)
    n_fill = max(0, min(int(cap), session.n_pool) - chosen.size)
    if n_fill:
        rest = np.setdiff1d(np.arange(session.n_pool), chosen)
        fill = np.random.default_rng([int(seed), 7]).choice(rest, size=min(n_fill, rest.size), replace=False)
        chosen = np.union1d(chosen, fill)
    return chosen.astype(np.int64)


def roles_at(session: ActiveLearningSession, t: int, positions: np.ndarray) -> np.ndarray:
    """Role of each position in round ``t``.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        A round of :func:`~mlal_core.inspection.round_history.labelled_rounds`.
    positions : numpy.ndarray
        Pool positions.

    Returns
    -------
    numpy.ndarray
        object array: ``"labelled"`` (in ``L_t``), ``"picked in round t"`` (record t's picks) or
        ``"unlabelled"``.
    """
    lab, _ = labelled_at(session, t)
    roles = np.full(len(positions), "unlabelled", dtype=object)
    roles[np.isin(positions, lab)] = "labelled"
    recs = query_records(session)
    if int(t) < len(recs):
        roles[np.isin(positions, np.asarray(recs[int(t)].selected))] = f"picked in round {int(t)}"
    return roles


def comal_embeddings(session: ActiveLearningSession, t: int) -> dict | None:
    """CoMAL's stored label-wise embeddings of record ``t``.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        A query round.

    Returns
    -------
    dict or None
        ``positions``, ``role``, ``z`` ``(m, K, d_z)``, ``k``, ``y``, with ``prototypes`` ``(K, d_z)``,
        ``has_prototype`` and ``kbar``; None when the round has none (another strategy, or
        ``embedding_cap = 0``).
    """
    recs = query_records(session)
    if not 0 <= int(t) < len(recs):
        return None
    rec = recs[int(t)]
    diag = rec.selection.diagnostics if rec.selection is not None else {}
    emb = diag.get("embeddings") if isinstance(diag, dict) else None
    if not emb or len(np.asarray(emb.get("positions", []))) == 0 or "prototypes" not in diag:
        return None
    out = dict(emb)
    out["z"] = np.asarray(emb["z"], dtype=np.float32)
    out["prototypes"] = np.asarray(diag["prototypes"], dtype=np.float32)
    out["has_prototype"] = np.asarray(diag.get("has_prototype", np.ones(out["prototypes"].shape[0], bool)), bool)
    out["kbar"] = np.asarray(diag.get("kbar", np.full(out["prototypes"].shape[0], np.nan)), float)
    return out


def comal_rounds(session: ActiveLearningSession) -> list[int]:
    """Rounds whose records carry CoMAL embeddings.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.

    Returns
    -------
    list of int
    """
    return [int(r.round) for r in query_records(session)
            if r.selection is not None and isinstance(r.selection.diagnostics, dict)
            and r.selection.diagnostics.get("embeddings") and "prototypes" in r.selection.diagnostics]


def map_labels(session: ActiveLearningSession, t: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The labels a map of pool ``positions`` may show at round ``t``.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        A round of :func:`~mlal_core.inspection.round_history.labelled_rounds`.
    positions : numpy.ndarray
        Pool positions.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        ``(Y, source)``. ``Y`` ``(m, K)`` float: for the samples of ``L_t`` the labels the
        **session** holds (the oracle's answers, e.g. a person's, which need not be the dataset's
        ground truth); for the others the pool's ground truth when the oracle is simulated (it would
        answer exactly that), NaN otherwise. ``source`` ``(m,)``: ``"labelled"``, ``"ground truth"``
        or ``"unknown"``.
    """
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    lab, lab_y = labelled_at(session, t)
    row_of = {int(p): i for i, p in enumerate(lab)}
    rows = np.asarray([row_of.get(int(p), -1) for p in positions], dtype=np.int64)
    known = rows >= 0
    Y = np.full((positions.size, session.n_labels), np.nan)
    Y[known] = lab_y[rows[known]]
    source = np.where(known, "labelled", "unknown").astype(object)
    if bool(getattr(session, "oracle_is_simulated", False)) and (~known).any():
        truth: Any = session.dataset.train.Y[positions[~known]]
        Y[~known] = truth.toarray() if sp.issparse(truth) else np.asarray(truth)
        source[~known] = "ground truth"
    return Y, source


@dataclass
class MapLayers:
    """What a 2-D map draws over its points, as arguments of :func:`mlal_core.viz.embedding_scatter`
    (see :meth:`scatter_args`): groups or numeric colours, the picks, hover texts, prototypes, the
    legend title, and ``note``, a sentence that says where the labels shown come from. ``keep``
    (n,) marks the projected points that are drawn (e.g. only samples with known labels)."""

    keep: np.ndarray
    hover: list[str]
    picked: np.ndarray
    _: KW_ONLY
    groups: np.ndarray | None = None
    values: np.ndarray | None = None
    value_name: str = "value"
    group_name: str = "group"
    group_order: list[str] = field(default_factory=list)
    group_styles: dict[str, dict] = field(default_factory=dict)
    picked_name: str | None = None
    picked_in_legend: bool = True
    prototype_names: list[str] | None = None
    prototype_groups: list[str] | None = None
    note: str = ""

    def scatter_args(self, xy: np.ndarray, prototypes_xy: np.ndarray | None = None) -> dict:
        """Keyword arguments for :func:`mlal_core.viz.embedding_scatter` (the kept points of ``xy``).

        Parameters
        ----------
        xy : numpy.ndarray
            ``(m, 2)`` projected points, one per row of the layers.
        prototypes_xy : numpy.ndarray, optional
            Projected prototypes (CoMAL maps).

        Returns
        -------
        dict
        """
        k = self.keep
        out: dict[str, Any] = {
            "xy": np.asarray(xy)[k], "picked_mask": self.picked[k],
            "hover_text": list(np.asarray(self.hover, object)[k]),
            "picked_name": self.picked_name, "picked_in_legend": self.picked_in_legend,
        }
        if self.groups is not None:
            out.update(groups=self.groups[k], group_name=self.group_name, group_order=self.group_order,
                       group_styles=self.group_styles)
        elif self.values is not None:
            out.update(colors=self.values[k], color_name=self.value_name)
        if prototypes_xy is not None:
            out.update(prototypes_xy=prototypes_xy, prototype_names=self.prototype_names,
                       prototype_groups=self.prototype_groups)
        return out


#: how the maps draw samples in the background (unlabelled, negatives): grey and faint
_FAINT = {"opacity": 0.45}


def _grey(opacity: float = 0.45) -> dict:
    from mlal_core.viz.theme import UNPICKED_COLOR

    return {"color": UNPICKED_COLOR, "opacity": opacity}


FEATURE_COLOURINGS = ("role", "label", "count")


def feature_map_default_label(session: ActiveLearningSession, t: int) -> int:
    """The label a "one label" map starts with: the most frequent one in the session's ``L_t``.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        A round.

    Returns
    -------
    int
        A label index (0 for an empty labelled set).
    """
    _, Y = labelled_at(session, t)
    return int(np.argmax(Y.sum(axis=0))) if len(Y) else 0


def feature_map_layers(session: ActiveLearningSession, t: int, positions: np.ndarray, by: str = "role",
                       label: int | None = None) -> MapLayers:
    """How the features map of pool ``positions`` is coloured at round ``t``.

    Labels are those of :func:`map_labels`: the session's own for the labelled samples, the ground
    truth for the unlabelled ones only with a simulated oracle (a person's session leaves them
    "unknown": grey, or out of the "count" map); the legend and ``note`` say which.

    Parameters
    ----------
    session : ActiveLearningSession
        The session.
    t : int
        A round of :func:`~mlal_core.inspection.round_history.labelled_rounds`.
    positions : numpy.ndarray
        Pool positions (:func:`feature_sample`).
    by : {"role", "label", "count"}, default "role"
        ``"role"`` (unlabelled / labelled in ``L_t`` / picked in round ``t``), ``"label"`` (positive
        or negative for ``label``) or ``"count"`` (number of labels per sample).
    label : int, optional
        The label of ``by="label"`` (default :func:`feature_map_default_label`).

    Returns
    -------
    MapLayers

    Raises
    ------
    ConfigError
        For an unknown colouring, round or label.
    """
    if by not in FEATURE_COLOURINGS:
        raise ConfigError(f"Unknown colouring {by!r}; choose one of {', '.join(FEATURE_COLOURINGS)}.")
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    t = check_labelled_round(session, t)
    roles = roles_at(session, t, positions).astype(str)
    picked = roles == f"picked in round {t}"
    hover = [f"pool sample {p} ({r})" for p, r in zip(positions, roles)]
    keep = np.ones(positions.size, dtype=bool)
    if by == "role":
        return MapLayers(keep, hover, picked, groups=roles, group_name="role",
                         group_order=["unlabelled", "labelled", f"picked in round {t}"],
                         group_styles={"unlabelled": _grey()}, picked_in_legend=False)
    Y, source = map_labels(session, t, positions)
    simulated = (source == "ground truth").any() or bool(getattr(session, "oracle_is_simulated", False))
    labelled_words = "the labels the session holds (the oracle's answers)"
    note = (f"Labelled samples ({labelled_set_name(t)}) show {labelled_words}; unlabelled ones "
            + ("the pool's ground truth (simulated oracle: what it would answer)." if simulated else
               "have no known labels (a person is the oracle)"))
    if by == "label":
        names = label_names(session)
        j = feature_map_default_label(session, t) if label is None else int(label)
        if not 0 <= j < session.n_labels:
            raise ConfigError(f"label must be in 0..{session.n_labels - 1}; got {label}.")
        pos = Y[:, j] == 1
        tag = {"labelled": "labelled", "ground truth": "unlabelled, ground truth"}
        groups = np.array([("positive" if p else "negative") + f" ({tag[s]})" if s in tag else "unknown (unlabelled)"
                           for p, s in zip(pos, source)], dtype=object)
        order = ["negative (unlabelled, ground truth)", "negative (labelled)", "positive (unlabelled, ground truth)",
                 "positive (labelled)", "unknown (unlabelled)"]
        styles = {"unknown (unlabelled)": _grey(), "negative (unlabelled, ground truth)": _grey(0.35),
                  "positive (unlabelled, ground truth)": dict(_FAINT)}
        return MapLayers(keep, hover, picked, groups=groups, group_name=names[j], group_order=order,
                         group_styles=styles, note=note + ("" if simulated else ": grey."))
    counts = np.nansum(Y, axis=1)
    keep = source != "unknown"
    return MapLayers(keep, hover, picked, values=counts, value_name="labels per sample",
                     note=note + ("" if simulated else ", so they are left out."))


#: per session, the features :func:`projection_features` chose (weak keys: dropped with the session)
_PROJECTION_FEATURES: weakref.WeakKeyDictionary[ActiveLearningSession, tuple[Any, str]] = weakref.WeakKeyDictionary()


def projection_features(session: ActiveLearningSession) -> tuple[Any, str]:
    """The pool's features for a 2-D map, and what they are, in words.

    Fixed features (MiniLM, TF-IDF, a tabular set's standardised columns) are what the model sees.
    Token ids (the text backbones) are no space to measure distances in (id 2054 is not "near"
    2055), so a token session is mapped with its texts' MiniLM sentence embeddings when they are in
    the feature cache, else with TF-IDF of the pool's texts (fitted on the pool, seconds). Computed
    once per session (kept in this module, weakly keyed by the session).

    Parameters
    ----------
    session : ActiveLearningSession
        The session.

    Returns
    -------
    tuple of (array-like, str)
        The pool's features (dense or sparse, one row per pool sample) and their description.

    Raises
    ------
    ConfigError
        For a token-id session without texts.
    """
    hit = _PROJECTION_FEATURES.get(session)
    if hit is not None:
        return hit
    rep = session.representation
    backbone = session.config.model
    if rep != "tokens":
        words = {"minilm": "MiniLM sentence embeddings (what the model sees)",
                 "tfidf": "TF-IDF features of the texts (what the model sees)",
                 "raw": "the dataset's standardised features (what the model sees)"}
        out = (session.features.train, words.get(rep, f"{rep} features (what the model sees)"))
    else:
        X = _cached_minilm_train(session)
        stand_in = (f"The {backbone} model itself reads token ids, which are no space to draw: "
                    "these stand in for them.")
        if X is not None:
            out = (X, f"MiniLM sentence embeddings of the texts (from the feature cache). {stand_in}")
        else:
            from mlal_core.features.tfidf import fit_tfidf

            texts = session.dataset.train.texts
            if texts is None:
                raise ConfigError("This token-id session has no texts to compute features for a map from.")
            _, tf = fit_tfidf(list(texts), {}, dataset_name=session.dataset.name)
            out = (tf["train"], f"TF-IDF features of the texts (unigrams, fitted on the pool). {stand_in}")
    _PROJECTION_FEATURES[session] = out
    return out


def _cached_minilm_train(session: ActiveLearningSession) -> np.ndarray | None:
    """The pool's MiniLM embeddings when the feature cache or a bundled file has them (never
    encodes the corpus)."""
    from mlal_core.features import available_minilm

    try:
        feats = available_minilm(session.dataset, int(session.config.max_length))
    except Exception:  # noqa: BLE001 - no cache to read is the same as no cached embeddings
        return None
    return None if feats is None else feats.train


# ---------------------------------------------------------------------- CoMAL maps
def comal_map_rows(role: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    """Rows of a round's CoMAL embeddings to draw.

    Every pick (``role == "selected"``), then a seeded random rest, ``cap`` in all (at least the
    picks).

    Parameters
    ----------
    role : numpy.ndarray
        The rows' roles (:func:`comal_embeddings`' ``role``).
    cap : int
        How many rows in all.
    seed : int, default 0
        Seed of the rest.

    Returns
    -------
    numpy.ndarray
        int64 rows, ascending.
    """
    role = np.asarray(role).astype(str)
    sel = np.flatnonzero(role == "selected")
    rest = np.setdiff1d(np.arange(role.size), sel)
    n_rest = max(0, min(rest.size, int(cap) - sel.size))
    fill = np.random.default_rng(seed).choice(rest, size=n_rest, replace=False) if n_rest else rest[:0]
    return np.sort(np.concatenate([sel, fill])).astype(np.int64)


def comal_label_choices(emb: dict) -> tuple[list[int], np.ndarray]:
    """The labels a CoMAL map can show.

    Parameters
    ----------
    emb : dict
        :func:`comal_embeddings` of a round.

    Returns
    -------
    tuple of (list of int, numpy.ndarray)
        ``(labels, counts)``: the labels that have a prototype, most labelled positives first, and
        the positives per label (among the labelled samples the round kept, else among all of them).
    """
    y = np.asarray(emb["y"]).astype(bool)
    role = np.asarray(emb["role"]).astype(str)
    lab = role == "labelled"
    counts = (y[lab] if lab.any() else y).sum(axis=0).astype(np.int64)
    has = np.asarray(emb["has_prototype"], bool)
    return [int(j) for j in np.argsort(-counts, kind="stable") if has[j]], counts


def comal_default_label(emb: dict, rows: np.ndarray, choices: Sequence[int], counts: np.ndarray) -> int:
    """The label a one-label CoMAL map starts with.

    The one with the most even split of positives and negatives among the drawn ``rows`` (ties:
    more labelled positives, then the earlier choice).

    Parameters
    ----------
    emb : dict
        :func:`comal_embeddings` of a round.
    rows : numpy.ndarray
        The rows drawn (:func:`comal_map_rows`).
    choices : sequence of int
        The labels offered (:func:`comal_label_choices`).
    counts : numpy.ndarray
        Positives per label (:func:`comal_label_choices`).

    Returns
    -------
    int

    Raises
    ------
    ConfigError
        When no label has a prototype yet.
    """
    if not len(choices):
        raise ConfigError("No label has a prototype yet (no labelled positive).")
    y = np.asarray(emb["y"]).astype(bool)[np.asarray(rows, dtype=np.int64)]
    pos = y.sum(axis=0)
    balance = np.minimum(pos, len(rows) - pos)
    return max(choices, key=lambda j: (int(balance[j]), int(counts[j])))


def comal_map(emb: dict, rows: np.ndarray, labels: Sequence[int], names: Sequence[str], *,
              several: bool = False) -> tuple[np.ndarray, np.ndarray, MapLayers]:
    """The points of a CoMAL map (Peng et al., Fig. 1 and 12) and how to draw them.

    One label (``several=False``, ``labels = [j]``): one point per row, its ``z_j``, positive /
    negative for ``j`` from the oracle's labels (labelled samples) or the model's prediction (the
    others). Several labels: one point per (row, label), coloured by the label when the sample has it,
    else "negative (any label)" (grey).

    Parameters
    ----------
    emb : dict
        :func:`comal_embeddings` of a round.
    rows : numpy.ndarray
        The rows to draw (:func:`comal_map_rows`).
    labels : sequence of int
        The labels to draw.
    names : sequence of str
        Label names.
    several : bool, default False
        Draw several labels.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray, MapLayers)
        ``(Z, prototypes, layers)``: ``Z`` the label-wise embeddings to project, ``prototypes``
        ``(len(labels), d_z)``.

    Raises
    ------
    ConfigError
        When ``labels`` is empty.
    """
    rows = np.asarray(rows, dtype=np.int64)
    labels = [int(j) for j in labels]
    if not labels:
        raise ConfigError("Choose at least one label.")
    z = np.asarray(emb["z"])
    y = np.asarray(emb["y"]).astype(bool)
    role = np.asarray(emb["role"]).astype(str)
    k = np.asarray(emb["k"], dtype=float)
    positions = np.asarray(emb["positions"], dtype=np.int64)
    P = np.asarray(emb["prototypes"])[labels]
    proto_names = [f"prototype of {names[j]}" for j in labels]
    if not several:
        j = labels[0]
        pos = y[rows, j]
        groups = np.array([("positive" if p else "negative") + (" (labelled)" if r == "labelled" else " (predicted)")
                           for p, r in zip(pos, role[rows])], dtype=object)
        hover = [f"pool sample {p} ({r}), k = {kk:.3f}" for p, r, kk in zip(positions[rows], role[rows], k[rows, j])]
        layers = MapLayers(
            np.ones(rows.size, bool), hover, role[rows] == "selected", groups=groups, group_name=names[j],
            group_order=["negative (predicted)", "negative (labelled)", "positive (predicted)",
                         "positive (labelled)"],
            group_styles={"negative (predicted)": _grey(0.5),
                          "negative (labelled)": {"color": "#5A5A5A", "opacity": 0.5}},
            prototype_names=proto_names,
            note="Positives of labelled samples are the oracle's labels; of the others, the model's predictions "
                 "(p > 0.5).")
        return z[rows, j, :], P, layers
    prow = np.repeat(rows, len(labels))
    pcol = np.tile(np.asarray(labels), rows.size)
    pos = y[prow, pcol]
    groups = np.where(pos, np.asarray([names[c] for c in pcol], dtype=object), "negative (any label)")
    hover = [f"pool sample {p} ({r}), z for {names[c]}, k = {k[i, c]:.3f}"
             for p, r, i, c in zip(positions[prow], role[prow], prow, pcol)]
    n_sel = int((role[rows] == "selected").sum())
    layers = MapLayers(
        np.ones(prow.size, bool), hover, role[prow] == "selected", groups=groups, group_name="positive for",
        group_order=["negative (any label)"] + [names[c] for c in labels],
        group_styles={"negative (any label)": _grey(0.4)},
        picked_name=f"picked ({n_sel} samples x {len(labels)} labels)", prototype_names=proto_names,
        prototype_groups=[names[c] for c in labels],
        note="Positives of labelled samples are the oracle's labels; of the others, the model's predictions "
             "(p > 0.5).")
    return z[prow, pcol, :], P, layers
