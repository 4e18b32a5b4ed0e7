"""The active-learning session: rounds, oracle, history (DESIGN.md "Core contracts").

Round semantics
---------------
The pool is the training split; positions index it. ``L_0`` is the initial set (``initial_method``
``"random"``, ``"per_label"`` (simulation only), ``"representative"`` (k-means) or ``"diverse"``
(k-center greedy), all seeded: :mod:`mlal_core.session.initial`). Record ``t`` (``t = 0 .. R-1``, ``R = config.rounds``) holds:

1. a model trained **from scratch** on ``L_t`` (cold start, ``random_state = seed + t``; the valid
   split is passed to ``fit`` as held-out data);
2. its metrics on the test split (``metrics.evaluate``), with the threshold tuned on the valid
   split (``metrics.tune_threshold``) reported as ``*_tuned``;
3. a ``QueryContext`` over the pool: ``proba_samples = model.predict_proba_samples(pool)``,
   ``features`` = the pool features (when they are sparse, TF-IDF CSR, the model's ``embed()`` of
   the pool instead, also given as ``embedding`` so that strategies using the model's penultimate
   features do not embed it twice: strategies get a dense representation), ``texts`` = the pool
   texts, ``model``, ``round = t``, ``total_rounds = R``, ``rng = np.random.default_rng([seed, t])``;
4. ``strategy.select(ctx, query_size)`` -> the oracle labels the picks -> ``L_{t+1}``.

After the last planned round, or as soon as the unlabelled pool is empty, a **final record** (round
``R``, or earlier when the pool ran out) holds the metrics of the model trained on the final ``L``
with ``selection = None``; the session is then ``finished``. A session with ``R`` rounds thus has
``R + 1`` learning-curve points. When fewer than ``query_size`` samples are left, the last batch is
smaller (all that is left).

``candidate_subset = m`` scores only a seeded random subset of ``m`` unlabelled samples each round
(``np.random.default_rng([seed, t, 1])``); the whole pool is still predicted (the shared
diagnostics need it) and the subset size is recorded as ``n_candidates``.

Oracle
------
``y_labeled`` is built from the **oracle's answers**, never read from the ground truth, so a person
can be the oracle. ``oracle=None`` is the simulated oracle (the ground truth of the train split).
A callable ``oracle(positions) -> (n, K) 0/1`` is asked for the initial set and for every round
committed without labels. The app's human oracle uses the two-phase API: ``propose()`` trains,
evaluates and selects (nothing is stored), ``commit(pending, labels)`` records the person's labels.
(``initial_method="per_label"`` reads the pool's ground truth to choose the initial set, a
simulation convenience; with a human oracle pass ``initial_labels`` or use ``"random"``.)

Shared diagnostics (every strategy, every round)
------------------------------------------------
``mean_ir_selected`` (MeanIR of the oracle's label matrix of the batch over the labels present in
it; NaN for a batch without positives and for the final record), ``label_coverage`` (fraction of
labels with >= 1 positive in L after the round), ``hard_to_learn_count`` / ``conflicting_count`` in
the unlabelled pool (CRAB: ``max_j pbar_j < 0.5``; pseudo labels ``pbar > 0.5`` containing an
exclusive pair of ``correlation.exclusive_pairs(y_labeled)``), ``n_exclusive_pairs``,
``n_unlabeled`` (size of the unlabelled pool the round scored, before its picks: ``n_labeled +
n_unlabeled`` = pool size) and ``n_candidates`` (candidates given to the strategy).

Reproducibility
---------------
Same config + same data = same history: the initial set, each round's model and strategy rng are
seeded by ``(seed, t)`` only, so a session resumed from the store after a crash continues with
exactly the picks of an uninterrupted run. Strategies must be deterministic functions of the
context (the strategy contract).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from mlal_core.errors import ConfigError, DataValidationError, MLALError, PoolExhaustedError
from mlal_core.session import components
from mlal_core.session.config import SessionConfig
from mlal_core.session.initial import INITIAL_STREAM, choose_initial, initial_set  # noqa: F401  (re-exported)
from mlal_core.session.records import PendingRound, RoundRecord
from mlal_core.stopping.measures import draw_stop_set, round_measures
from mlal_core.strategies.base import QueryContext, Selection

if TYPE_CHECKING:  # pragma: no cover
    from mlal_core.data import MultiLabelDataset
    from mlal_core.session.store import SessionStore

Progress = Callable[[int, int, str], None]
#: ``listener(session, pending)``, told of every proposed round (``ActiveLearningSession.proposal_listeners``)
ProposalListener = Callable[["ActiveLearningSession", PendingRound], None]


class SessionBudgetWarning(UserWarning):
    """The configured rounds need more samples than the pool holds (the session stops early)."""


# ====================================================================== oracles
class SimulatedOracle:
    """Answers with the ground truth of the pool (the training split's ``Y``)."""

    simulated = True

    def __init__(self, Y: Any) -> None:
        self.Y = Y

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        rows = self.Y[np.asarray(positions, dtype=np.int64)]
        if sp.issparse(rows):
            rows = rows.toarray()
        return np.asarray(rows, dtype=np.uint8).copy()


# ====================================================================== helpers
def _dense_Y(Y: Any) -> np.ndarray:
    return np.asarray(Y.toarray() if sp.issparse(Y) else Y, dtype=np.uint8)


def _check_finite(features: Any) -> None:
    for split in ("train", "valid", "test"):
        X = getattr(features, split)
        vals = X.data if sp.issparse(X) else np.asarray(X)
        if not np.isfinite(vals).all():
            bad = int((~np.isfinite(vals)).sum())
            raise DataValidationError(
                f"The features of the {split} split contain {bad} NaN or infinite value(s); "
                "fix or impute the input features (or choose another representation)."
            )


def _check_raw_features(ds: Any) -> None:
    """Tabular sets: refuse NaN / inf in X before anything is trained (text sets are checked after
    featurizing)."""
    for split in ("train", "valid", "test"):
        X = getattr(ds, split).X
        if X is None:
            continue
        bad = ~np.isfinite(X)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            cols = np.flatnonzero(bad.any(axis=0))
            raise DataValidationError(
                f"The {split} split of dataset {ds.name!r} has {int(bad.sum())} NaN or infinite feature value(s) "
                f"in {rows.size} row(s) (first rows {rows[:5].tolist()}) and column(s) {cols[:10].tolist()}; "
                "impute or drop them before starting a session."
            )


def _check_labels_usable(ds: Any) -> None:
    Y = ds.train.Y
    total = int(Y.sum())
    size = Y.shape[0] * Y.shape[1]
    if size == 0:
        raise DataValidationError(f"Dataset {ds.name!r} has an empty training split; nothing to learn from.")
    if total == 0:
        raise DataValidationError(
            f"Every label of dataset {ds.name!r} is 0 in the training split: no sample has a label, so "
            "there is nothing to learn. Check the label column of the data."
        )
    if total == size:
        raise DataValidationError(
            f"Every label of dataset {ds.name!r} is 1 in the training split: every sample has every "
            "label, so there is nothing to learn. Check the label column of the data."
        )
    from mlal_core import stats  # per-label counts of a dense or sparse Y, never densified

    counts = stats.label_counts(Y)
    if ((counts == 0) | (counts == Y.shape[0])).all():
        raise DataValidationError(
            f"Every label of dataset {ds.name!r} has the same value for all training samples (each label is "
            "always 0 or always 1), so there is nothing to learn. Check the label column of the data."
        )


def _check_oracle_labels(labels: Any, n: int, k: int, who: str = "The oracle") -> np.ndarray:
    arr = np.asarray(labels.toarray() if sp.issparse(labels) else labels)
    if arr.shape != (n, k):
        raise DataValidationError(f"{who} must answer an ({n}, {k}) 0/1 label matrix; got shape {arr.shape}.")
    if arr.size and not np.isin(arr, (0, 1, True, False)).all():
        raise DataValidationError(f"{who} answered values other than 0/1.")
    return arr.astype(np.uint8)


def feature_request(config: SessionConfig, kind: str, stored_source: dict | None = None) -> dict[str, Any]:
    """The ``features.featurize`` arguments of a session with ``config`` on a dataset of ``kind``:
    representation, token limit and precision. A reopened session (``stored_source``: what its
    store recorded) asks for exactly the precision its features had.

    Parameters
    ----------
    config : SessionConfig
        The session's configuration.
    kind : str
        The dataset's kind, ``"text"`` or ``"tabular"``.
    stored_source : dict or None
        The feature source recorded in the store of a reopened session (None: a new session).

    Returns
    -------
    dict
        ``representation``, ``max_length``, ``precision`` and ``exact_precision``.

    Raises
    ------
    ConfigError
        If the model and the representation do not fit the dataset's kind.
    """
    rep = config.resolve_representation(kind)
    stored = stored_source or {}
    return {"representation": rep, "max_length": config.feature_max_length(rep),
            "precision": stored.get("precision") or config.precision,
            "exact_precision": bool(stored.get("precision"))}


def _mean_over_samples(proba: np.ndarray, positions: np.ndarray, elements: int = 1 << 22) -> np.ndarray:
    """``proba[:, positions, :].mean(axis=0)`` computed a block of rows at a time (about ``elements``
    entries of ``proba`` per block): the same values (the mean over the S samples of each row) without an
    ``(S, len(positions), K)`` copy, which is 2 GB at N = 100,000, K = 1,000, S = 5. An empty
    ``positions`` gives a ``(0, K)`` float64 array."""
    S, _, K = proba.shape
    if positions.size == 0:
        return np.zeros((0, K))
    floating = np.issubdtype(proba.dtype, np.floating)
    out = np.empty((positions.size, K), dtype=proba.dtype if floating else np.float64)
    block = max(1, elements // max(1, S * K))
    for lo in range(0, positions.size, block):
        out[lo:lo + block] = proba[:, positions[lo:lo + block], :].mean(axis=0)
    return out


def _safe_mean_ir(Y: np.ndarray) -> float:
    from mlal_core import stats

    if Y is None or len(Y) == 0 or not np.asarray(Y).any():
        return float("nan")
    return float(stats.mean_ir(np.asarray(Y)))


# ====================================================================== round progress
class _PhaseProgress:
    """Forwards a round's phases to a ``progress(done, total, message)`` callback as "Round t: ..."
    with the model's own message (or the phase's name when the model gives none); a no-op without
    a callback."""

    def __init__(self, progress: Progress | None, round_: int) -> None:
        self.progress = progress
        self.round = round_

    def phase(self, what: str) -> None:
        if self.progress is not None:
            self.progress(0, 0, f"Round {self.round}: {what}")

    def callback(self, what: str) -> Progress | None:
        if self.progress is None:
            return None
        outer = self.progress

        def forward(done: int, total: int, message: str = "") -> None:
            outer(done, total, f"Round {self.round}: {message or what}")

        return forward


# ====================================================================== the session
class ActiveLearningSession:
    """One active-learning run over a dataset's training pool (see the module docstring).

    ``store``: a ``SessionStore``; when given, the session is created there at construction and
    each completed round is written in one transaction. ``features``: precomputed ``Features``
    (else ``features.featurize`` runs on first use; call ``prepare(progress)`` to show progress).
    ``oracle``: ``None`` (simulated) or a callable ``positions -> (n, K)`` labels.
    ``initial_labels``: the labels of the initial set, when they come from somewhere else than the
    oracle (e.g. a person in the app).

    ``model`` and ``strategy``: a registry name or an object, instead of (or matching) the config's
    ``model`` / ``strategy`` fields, e.g. ``strategy=BALD()``, ``model=MLPEnsemble(n_members=3)``, a
    user's own model following the model contract, a scikit-learn estimator (wrapped in
    ``SklearnAdapter``) or a ``torch.nn.Module`` (``TorchModuleAdapter``). ``self.config`` records what
    was given (a built-in object by name and parameters, a user's own by class path and parameters),
    so the stored session says what ran; a user's own object must be passed again to ``resume``. See
    :mod:`mlal_core.session.components`.
    """

    def __init__(
        self,
        config: SessionConfig,
        *,
        dataset: MultiLabelDataset | None = None,
        model: Any = None,
        strategy: Any = None,
        features: Any = None,
        store: SessionStore | None = None,
        oracle: Callable[[np.ndarray], np.ndarray] | None = None,
        initial_labels: np.ndarray | None = None,
        _restore: tuple | None = None,
    ) -> None:
        if not isinstance(config, SessionConfig):
            raise ConfigError(f"config must be a SessionConfig; got {type(config).__name__}.")
        config.validate()
        config, template = components.resolve_model(config, model, strict=_restore is not None)
        config, self.strategy = components.resolve_strategy(config, strategy, strict=_restore is not None)
        #: a user's own model, copied fresh (and seeded) every round; None when built by name
        self.model_template: Any = template
        if _restore is None:  # resolved once, stored: a reopened session computes as before
            config = config.with_resolved_precision()
        if dataset is None:
            if config.dataset is None:
                raise ConfigError("No dataset: set config.dataset to a bundled dataset name or pass dataset=.")
            from mlal_core import data

            dataset = data.load(config.dataset)
        _check_labels_usable(dataset)
        _check_raw_features(dataset)
        self.config = config
        self.dataset = dataset
        self.representation = config.resolve_representation(dataset.kind)
        components.check_model_inputs(template, self.representation)
        self.n_pool = len(dataset.train)
        self.n_labels = dataset.n_labels
        self.warnings: list[str] = config.check_budget(self.n_pool)
        for message in self.warnings:
            warnings.warn(message, SessionBudgetWarning, stacklevel=2)
        from mlal_core.data import representation_warning

        cost = representation_warning(dataset, self.representation) if features is None and _restore is None else None
        if cost:  # e.g. MiniLM on EURLEX57K: about 75 min of encoding; TF-IDF takes seconds
            self.warnings.append(cost)
            warnings.warn(cost, UserWarning, stacklevel=2)
        if features is not None:
            _check_finite(features)
        self._features = features
        #: where the features came from (``Features.provenance``), once they exist
        self.feature_source: dict | None = None if features is None else features.provenance()
        #: what the store recorded of them, for a reopened session (its features keep that precision)
        self._stored_feature_source: dict | None = None
        self.oracle = oracle if oracle is not None else SimulatedOracle(dataset.train.Y)
        self._simulated_oracle = oracle is None
        self.store = store
        self.session_id: str | None = None
        self.history: list[RoundRecord] = []
        #: called as ``listener(session, pending)`` after every ``propose`` (see :meth:`propose`)
        self.proposal_listeners: list[ProposalListener] = []
        self._finished = False
        self._labeled_mask = np.zeros(self.n_pool, dtype=bool)
        #: pool positions of the stop set of the stopping criteria (:mod:`mlal_core.stopping.measures`)
        self.stop_set = draw_stop_set(self.n_pool, config.seed)

        if _restore is None:
            positions, config = initial_set(self)  # records the method's parameters in the config
            self.config = config
            if initial_labels is None:
                labels = _check_oracle_labels(self.oracle(positions), len(positions), self.n_labels)
                self._initial_simulated = self._simulated_oracle
            else:
                self._initial_simulated = False
                labels = _check_oracle_labels(initial_labels, len(positions), self.n_labels, "initial_labels")
            self.initial_positions = positions
            self.initial_labels = labels
            self._labeled = positions.copy()
            self._y_labeled = labels.copy()
            self._labeled_mask[positions] = True
            if store is not None:
                self.session_id = store.create_session(
                    config,
                    positions,
                    labels,
                    dataset_name=config.dataset or dataset.name,
                    dataset_hash=dataset.content_hash(),
                    label_names=list(dataset.label_names),
                    stop_set=self.stop_set,
                )
                if self.feature_source is not None:
                    store.set_feature_source(self.session_id, self.feature_source)
        else:
            initial, rounds, session_id, stored_source = _restore
            self._restore_state(initial, rounds)
            self.session_id = session_id
            self._stored_feature_source = stored_source

    # ------------------------------------------------------------------ restore / resume
    def _restore_state(self, initial: dict, rounds: list[RoundRecord]) -> None:
        positions = np.asarray(initial["positions"], dtype=np.int64)
        labels = initial.get("labels")
        if labels is None:
            labels = self.oracle(positions)
        # dense (n0, K) uint8, as a new session holds them (the store gives CSR above 500 labels)
        labels = _check_oracle_labels(labels, len(positions), self.n_labels, "The stored initial set")
        # stores do not say who labelled the initial set: it was simulated when it equals the truth
        self._initial_simulated = bool(np.array_equal(labels, _dense_Y(self.dataset.train.Y[positions])))
        if positions.size and (positions.min() < 0 or positions.max() >= self.n_pool):
            raise DataValidationError("The stored initial set has positions outside this dataset's pool.")
        self.initial_positions, self.initial_labels = positions, labels
        parts_pos, parts_y = [positions], [labels]
        n_labeled = len(positions)
        for i, rec in enumerate(rounds):
            if rec.round != i:
                raise DataValidationError(f"The stored session is missing round {i} (found round {rec.round}).")
            if rec.n_labeled != n_labeled:
                raise DataValidationError(
                    f"Stored round {i} says {rec.n_labeled} samples were labelled, but the stored picks make "
                    f"{n_labeled}; the store is inconsistent."
                )
            if rec.final:
                if i != len(rounds) - 1:
                    raise DataValidationError(
                        f"The stored session has a final record at round {i} followed by more rounds."
                    )
            else:
                if rec.selected is None:
                    raise DataValidationError(
                        f"Stored round {i} is not final but has no picks; the store is inconsistent."
                    )
                n_labeled += len(rec.selected)
                parts_pos.append(np.asarray(rec.selected, dtype=np.int64))
                parts_y.append(_check_oracle_labels(rec.labels, len(rec.selected), self.n_labels, f"Stored round {i}"))
        self._labeled = np.concatenate(parts_pos)
        self._y_labeled = np.concatenate(parts_y).astype(np.uint8)
        if np.unique(self._labeled).size != self._labeled.size:
            raise DataValidationError("The stored session labels a pool position twice; the store is inconsistent.")
        self._labeled_mask[self._labeled] = True
        self.history = list(rounds)
        self._finished = bool(rounds) and rounds[-1].final

    @classmethod
    def resume(
        cls,
        store: SessionStore,
        session_id: str,
        dataset: MultiLabelDataset | None = None,
        *,
        model: Any = None,
        strategy: Any = None,
        features: Any = None,
        oracle: Callable[[np.ndarray], np.ndarray] | None = None,
        device: str | None = None,
    ) -> ActiveLearningSession:
        """Rebuild a stored session (L = initial set + every stored round's picks and labels) and
        continue it: the next round index is ``len(rounds)``. A user dataset must be passed again;
        its content hash must match the stored one. So must a user's own ``model`` / ``strategy``
        object (the store holds its class path and parameters, never code); a built-in one is rebuilt
        from its stored name and parameters (an object passed must record the same). The stored config
        is validated again on this machine; ``device`` (e.g. ``"cpu"``) replaces the model's stored
        device for this resume (``components.restored_config``)."""
        config, initial, rounds = store.load_session(session_id)
        config = components.restored_config(config, session_id, device)
        info = store.session_info(session_id)
        if dataset is None:
            if config.dataset is None:
                raise ConfigError(
                    f"Session {session_id} was run on a user dataset ({info.get('dataset_name')!r}); "
                    "pass it as dataset=."
                )
            from mlal_core import data

            dataset = data.load(config.dataset)
        if info.get("dataset_hash") and dataset.content_hash() != info["dataset_hash"]:
            raise DataValidationError(
                f"The dataset {dataset.name!r} differs from the one session {session_id} was run on "
                "(content hash mismatch); resume it with the same data."
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SessionBudgetWarning)
            session = cls(config, dataset=dataset, model=model, strategy=strategy, features=features,
                          store=None, oracle=oracle, _restore=(initial, rounds, session_id, info.get("feature_source")))
        session.store = store
        if info.get("stop_set"):
            session.stop_set = np.asarray(info["stop_set"]["positions"], dtype=np.int64)
        else:  # created before the store recorded stop sets: its rounds from now on measure one
            store.set_stop_set(session_id, session.stop_set)
        store.set_status(session_id, "finished" if session.finished else "running")
        return session

    # ------------------------------------------------------------------ state
    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def oracle_is_simulated(self) -> bool:
        """True when every label the session holds came from the simulated oracle (the ground
        truth); False as soon as a person answered the initial set or any round. (Rounds stored
        before schema v2 do not say who answered: they count as simulated when they equal the truth.)"""
        truth = self.dataset.train.Y
        return self._initial_simulated and all(
            rec.answered_by == "simulated"
            or (rec.answered_by is None and np.array_equal(np.asarray(rec.labels, np.uint8),
                                                           _dense_Y(truth[rec.selected]).astype(np.uint8)))
            for rec in self.history if not rec.final
        )

    @property
    def labeled(self) -> np.ndarray:
        """Labelled pool positions, in the order they were labelled."""
        return self._labeled.copy()

    @property
    def unlabeled(self) -> np.ndarray:
        """Unlabelled pool positions, ascending."""
        return np.flatnonzero(~self._labeled_mask).astype(np.int64)

    @property
    def y_labeled(self) -> np.ndarray:
        """The oracle's answers for ``labeled`` (rows aligned)."""
        return self._y_labeled.copy()

    @property
    def next_round(self) -> int:
        return len(self.history)

    def planned_records(self) -> int:
        """How many records the session will have when finished (R + 1, fewer if the pool runs out)."""
        left = self.n_pool - self.config.initial_size
        rounds_possible = math.ceil(left / self.config.query_size) if left > 0 else 0
        return min(self.config.rounds, rounds_possible) + 1

    @property
    def features(self) -> Any:
        self.prepare()
        return self._features

    @property
    def feature_max_length(self) -> int:
        """Token limit of the features (``SessionConfig.feature_max_length``)."""
        return self.config.feature_max_length(self.representation)

    def build_model(self, random_state: int) -> Any:
        """The unfitted model of a round seeded with ``random_state`` (round ``t`` uses ``seed + t``).

        Parameters
        ----------
        random_state : int
            The seed.

        Returns
        -------
        object
            The config's model built by name, or a fresh seeded copy of ``model_template``
            (:func:`mlal_core.session.components.build_model`).
        """
        return components.build_model(self.config, random_state, self.model_template)

    def feature_request(self) -> dict[str, Any]:
        """The ``features.featurize`` arguments of this session (``feature_request``)."""
        return feature_request(self.config, self.dataset.kind, self._stored_feature_source)

    def prepare(self, progress: Progress | None = None) -> None:
        """Compute the features (the slow step for text sets) if not done yet."""
        if self._features is not None:
            return
        from mlal_core import features as feat

        feats = feat.featurize(self.dataset, progress=progress, **self.feature_request())
        _check_finite(feats)
        self._features = feats
        self.feature_source = feats.provenance()
        if self.store is not None and self.session_id is not None and self._stored_feature_source is None:
            self.store.set_feature_source(self.session_id, self.feature_source)

    # ------------------------------------------------------------------ one round
    def _finished_error(self) -> PoolExhaustedError:
        last = self.history[-1] if self.history else None
        n_l = len(self._labeled)
        if last is not None and last.round < self.config.rounds:
            why = (f"the pool is exhausted: all {self.n_pool} training samples are labelled "
                   f"after {last.round} round(s)")
        else:
            why = f"all {self.config.rounds} planned rounds are done ({n_l} of {self.n_pool} samples labelled)"
        return PoolExhaustedError(
            f"The session has finished: {why}. Start a new session (or one with more rounds) to query more."
        )

    def propose(self, progress: Progress | None = None) -> PendingRound:
        """Train on L, evaluate, and select the next batch; nothing is stored or labelled yet.

        ``progress(done, total, message)`` reports each phase (training, predicting, selecting) as
        the model reports it (per epoch or mini-batch, per inference chunk). An exception raised by
        ``progress`` (e.g. ``RoundCancelled``) aborts the round and leaves the session unchanged.

        Every callable in :attr:`proposal_listeners` is then called as ``listener(self, pending)``
        (``step`` and ``run`` propose through here, so listeners see every round): this is how the
        inspection keeps the last rounds' contexts and models in memory
        (:func:`mlal_core.inspection.round_history.keep_contexts`). A listener's exception propagates."""
        if self._finished:
            raise self._finished_error()
        from mlal_core import correlation, metrics

        self.prepare()
        report = _PhaseProgress(progress, len(self.history))
        cfg = self.config
        t = len(self.history)
        feats = self._features
        X_pool = feats.train
        unl = self.unlabeled
        final = t >= cfg.rounds or unl.size == 0
        ds = self.dataset
        t_start = time.perf_counter()

        model = self.build_model(cfg.seed + t)
        report.phase("training the model")
        model.fit(X_pool[self._labeled], self._y_labeled, feats.valid, _dense_Y(ds.valid.Y),
                  progress=report.callback("training"))
        t_fit = time.perf_counter()

        report.phase("measuring on the test split")
        P_test = model.predict_proba(feats.test, progress=report.callback("predicting the test split"))
        P_valid = model.predict_proba(feats.valid, progress=report.callback("predicting the valid split"))
        threshold = metrics.tune_threshold(_dense_Y(ds.valid.Y), P_valid)
        result = metrics.evaluate(_dense_Y(ds.test.Y), P_test, threshold=0.5, tuned_threshold=threshold)
        # Strategies get a dense representation: for sparse (TF-IDF) features or token ids, the
        # model's own penultimate features of the pool, passed as `embedding` too so nobody embeds
        # them twice (a text backbone computes both in one pass over the pool).
        report.phase("scoring the pool")
        pool_progress = report.callback("predicting the pool")
        embedding = None
        if sp.issparse(X_pool) or feats.name == "tokens":
            proba, embedding = model.predict_samples_and_embedding(X_pool, progress=pool_progress)
        else:
            proba = model.predict_proba_samples(X_pool, progress=pool_progress)
        proba = np.asarray(proba)
        if proba.ndim == 2:
            proba = proba[None]
        ctx_features = embedding if embedding is not None else np.asarray(X_pool)
        t_pred = time.perf_counter()

        pbar_u = _mean_over_samples(proba, unl)
        stopping = round_measures(pbar_u, _mean_over_samples(proba, self.stop_set), ~self._labeled_mask[self.stop_set],
                                  self.history[-1].stopping if self.history else None)
        pairs, _tau = correlation.exclusive_pairs(self._y_labeled)
        shared = {
            "hard_to_learn_count": int(correlation.hard_to_learn_mask(pbar_u).sum()) if unl.size else 0,
            "conflicting_count": int(correlation.conflicting_mask(pbar_u > 0.5, pairs).sum()) if unl.size else 0,
            "n_exclusive_pairs": len(pairs),
            "n_unlabeled": int(unl.size),
            "n_candidates": 0,
        }
        t_diag = time.perf_counter()  # the shared diagnostics are not the strategy's cost

        selection = None
        ctx = None
        if not final:
            candidates = unl
            if cfg.candidate_subset is not None and cfg.candidate_subset < unl.size:
                sub_rng = np.random.default_rng([cfg.seed, t, 1])
                candidates = np.sort(sub_rng.choice(unl, size=cfg.candidate_subset, replace=False))
            shared["n_candidates"] = int(candidates.size)
            ctx = QueryContext(
                labeled=self._labeled.copy(),
                unlabeled=candidates,
                y_labeled=self._y_labeled.copy(),
                proba_samples=proba,
                features=ctx_features,
                embedding=embedding,
                model_inputs=X_pool,
                texts=ds.train.texts,
                model=model,
                round=t,
                total_rounds=cfg.rounds,
                rng=np.random.default_rng([cfg.seed, t]),
            )
            n = int(min(cfg.query_size, candidates.size))
            report.phase(f"selecting {n} of {candidates.size:,} candidates ({cfg.strategy})")
            selection = components.round_strategy(self.strategy, cfg.seed + t).select(ctx, n)
            self._check_selection(selection, candidates, n)
        t_sel = time.perf_counter()

        timings = {
            "train_s": t_fit - t_start,
            "predict_s": t_pred - t_fit,
            "diagnostics_s": t_diag - t_pred,
            "select_s": t_sel - t_diag,
            "total_s": t_sel - t_start,
        }
        pending = PendingRound(
            round=t,
            n_labeled=len(self._labeled),
            metrics=result,
            selection=selection,
            timings=timings,
            shared=shared,
            context=ctx,
            model=model,
            final=final,
            stopping=stopping,
            _token=(t, len(self._labeled)),
        )
        for listener in list(self.proposal_listeners):
            listener(self, pending)
        return pending

    def replay_round(self, t: int, progress: Progress | None = None) -> PendingRound:
        """Propose record ``t`` again, exactly as the session proposed it; this session is unchanged.

        A throw-away copy of the session (no store, no listeners; the same strategy object and model
        template) is restored to the initial set and records ``0 .. t-1`` and calls :meth:`propose`:
        it trains round ``t``'s model (cold start,
        seed ``seed + t``, deterministic), rebuilds the round's ``QueryContext`` and re-runs the
        strategy with the round's rng.

        Parameters
        ----------
        t : int
            A record of this session that queried something (``0 <= t < len(history)``, not the
            final record).
        progress : callable, optional
            ``progress(done, total, message)``, told of each phase as in :meth:`propose`.

        Returns
        -------
        PendingRound
            The replayed round: its ``context`` and ``model``, and the strategy's ``selection``
            (on the same code and a CPU it picks what ``history[t]`` recorded).

        Raises
        ------
        ConfigError
            When ``t`` is no query record of this session.
        """
        t = int(t)
        if not 0 <= t < len(self.history) or self.history[t].final:
            queries = sum(1 for rec in self.history if not rec.final)
            choose = f"choose a round in 0..{queries - 1}" if queries else "no round has queried anything yet"
            raise ConfigError(f"Round {t} made no query in this session; {choose}.")
        initial = {"positions": np.asarray(self.initial_positions), "labels": np.asarray(self.initial_labels)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SessionBudgetWarning)
            shadow = type(self)(self.config, dataset=self.dataset, features=self.features, store=None,
                                model=self.model_template, strategy=self.strategy,
                                _restore=(initial, list(self.history[:t]), None, None))
        shadow.stop_set = self.stop_set
        return shadow.propose(progress)

    def _check_selection(self, selection: Selection, candidates: np.ndarray, n: int) -> None:
        name = self.config.strategy
        if not isinstance(selection, Selection):
            raise MLALError(f"Strategy {name!r} returned {type(selection).__name__}, not a Selection.")
        idx = np.asarray(selection.indices, dtype=np.int64).reshape(-1)
        if idx.size != n:
            raise MLALError(f"Strategy {name!r} picked {idx.size} samples; {n} were asked for.")
        if np.unique(idx).size != idx.size:
            raise MLALError(f"Strategy {name!r} picked the same sample twice.")
        if not np.isin(idx, candidates).all():
            raise MLALError(f"Strategy {name!r} picked samples that are not unlabelled candidates.")
        selection.indices = idx

    def commit(self, pending: PendingRound, labels: np.ndarray | None = None) -> RoundRecord:
        """Record a proposed round: ``labels`` are the oracle's answers for ``pending.selected``
        (``(n, K)`` 0/1; ``None`` asks the session's oracle, i.e. the simulated one by default).
        Writes the round to the store (one transaction) and returns its record."""
        if self._finished:
            raise self._finished_error()
        if pending._token != (len(self.history), len(self._labeled)):
            raise ConfigError(
                f"This proposal is for round {pending.round}, but the session is at round {len(self.history)}; "
                "propose() again."
            )
        if pending.final:
            if labels is not None and np.asarray(labels).size:
                raise ConfigError("The final round queries nothing; commit it without labels.")
            record = RoundRecord(
                round=pending.round,
                n_labeled=pending.n_labeled,
                metrics=pending.metrics,
                selected=None,
                labels=None,
                selection=None,
                timings=pending.timings,
                label_coverage=float((self._y_labeled.sum(axis=0) > 0).mean()) if self.n_labels else float("nan"),
                stopping=pending.stopping,
                **pending.shared,
            )
            if self.store is not None and self.session_id is not None:
                self.store.append_round(self.session_id, record, status="finished")
            self.history.append(record)
            self._finished = True
            return record

        picks = pending.selected
        if picks is None:
            raise ConfigError(f"The proposal for round {pending.round} is not final but has no picks; propose() again.")
        if labels is None:
            labels = self.oracle(picks)
            who = "The oracle"
            answered_by = "simulated" if self._simulated_oracle else "person"
        else:
            who = "The labels given to commit()"
            answered_by = "person"
        labels = _check_oracle_labels(labels, len(picks), self.n_labels, who)
        new_labeled = np.concatenate([self._labeled, picks])
        new_y = np.concatenate([self._y_labeled, labels]).astype(np.uint8)
        record = RoundRecord(
            round=pending.round,
            n_labeled=pending.n_labeled,
            metrics=pending.metrics,
            selected=picks.copy(),
            labels=labels.copy(),
            selection=pending.selection,
            timings=pending.timings,
            mean_ir_selected=_safe_mean_ir(labels),
            label_coverage=float((new_y.sum(axis=0) > 0).mean()) if self.n_labels else float("nan"),
            answered_by=answered_by,
            pick_proba=pending.predicted_proba(),
            stopping=pending.stopping,
            **pending.shared,
        )
        if self.store is not None and self.session_id is not None:
            self.store.append_round(self.session_id, record)
        self._labeled, self._y_labeled = new_labeled, new_y
        self._labeled_mask[picks] = True
        self.history.append(record)
        return record

    def step(self, progress: Progress | None = None) -> RoundRecord:
        """One round with the session's oracle: ``commit(propose(progress))``."""
        if self._finished:
            raise self._finished_error()
        return self.commit(self.propose(progress))

    def run(
        self,
        rounds: int | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[RoundRecord]:
        """Run the remaining rounds (at most ``rounds`` records when given), including the final
        record; stop cleanly between rounds when ``should_stop()`` is True. An exhausted pool ends
        the session (no exception). Calls ``progress(done, total, message)`` after each record.
        An error marks the stored session ``failed`` (its completed rounds stay) and is re-raised."""
        done_records: list[RoundRecord] = []
        if self._finished:
            return done_records
        total = self.planned_records() - len(self.history)
        if rounds is not None:
            total = min(total, int(rounds))
        if progress is not None:
            progress(0, total, "starting")
        try:
            while not self._finished and len(done_records) < total:
                if should_stop is not None and should_stop():
                    break
                record = self.step()
                done_records.append(record)
                if progress is not None:
                    f1 = record.metrics.get("micro_f1", float("nan"))
                    tag = "final" if record.final else f"{0 if record.selected is None else len(record.selected)} picked"
                    progress(len(done_records), total,
                             f"round {record.round}: {record.n_labeled} labelled, micro-F1 {f1:.4f}, {tag}")
        except BaseException as exc:
            if self.store is not None and self.session_id is not None:
                note = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
                try:
                    self.store.set_status(self.session_id, "failed", note=note[:500])
                except Exception:  # pragma: no cover - never hide the original error
                    pass
            raise
        return done_records

    def __repr__(self) -> str:
        state = "finished" if self._finished else f"next round {len(self.history)}"
        return (f"ActiveLearningSession(dataset={self.dataset.name!r}, strategy={self.config.strategy!r}, "
                f"labelled={len(self._labeled)}/{self.n_pool}, {state})")
