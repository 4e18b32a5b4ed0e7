"""Configuration of an active-learning session (``SessionConfig``).

A config is plain data: it round-trips through JSON (``to_json`` / ``from_json``), is stored with
every session, and is validated in two steps:

* ``validate()`` checks what can be checked without the data: types and ranges, the names of the
  dataset, strategy and representation (unknown names raise a ``ConfigError`` that suggests the
  close known names), and the strategy's parameters.
* ``validate(pool_size=N)`` (the session calls it once the dataset is loaded) also checks the
  budget against the training pool of ``N`` samples.

Budget decisions (also in the session docstring):

* ``initial_size > pool`` and ``query_size > pool`` are errors.
* ``initial_size + rounds * query_size > pool`` is **allowed**: ``validate`` returns a warning that
  says how many full rounds fit, and the session stops cleanly when the pool runs out. A last,
  smaller batch is queried when fewer than ``query_size`` samples are left; then the final record
  is written and the session is ``finished``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from mlal_core.errors import ConfigError, unknown_name_error
from mlal_core.precision import PRECISIONS

REPRESENTATIONS = ("auto", "minilm", "tfidf", "raw", "tokens")
#: how the initial labelled set is chosen (``mlal_core.session.initial``)
INITIAL_METHODS = ("random", "per_label", "representative", "diverse")
#: initial methods that read the pool's ground truth to choose: simulation only, never a real person's
GROUND_TRUTH_METHODS = ("per_label",)
#: initial methods that choose from the pool's features (they record ``initial_params``)
FEATURE_INITIAL_METHODS = ("representative", "diverse")
#: keys of ``initial_params``: ``n_init`` may be given; the session records the others
INITIAL_PARAM_KEYS = ("n_init", "random_state", "features", "svd_components", "algorithm", "first_centre")
#: one line per initial method, as the Home page and the CLI say it
INITIAL_METHOD_HELP = {
    "random": "a seeded random draw from the pool",
    "per_label": ("at least one positive per label, rarest labels first, then random (simulation only: it reads "
                  "the pool's true labels, which a real person does not have before labelling)"),
    "representative": ("k-means centres of the pool's features, each replaced by its nearest sample "
                       "(covers the dense regions)"),
    "diverse": ("k-center greedy on the pool's features: each sample farthest from those already chosen "
                "(covers the whole spread, outliers included)"),
}
#: models over fixed feature vectors (MiniLM embeddings, TF-IDF, a tabular set's own features)
FEATURE_MODELS = ("mlp_ensemble",)
#: deep text backbones trained end to end on token ids (representation ``"tokens"``; issue 5)
TEXT_BACKBONES = ("textcnn", "textrnn", "transformer")
MODELS = FEATURE_MODELS + TEXT_BACKBONES

#: Bounds of the sizes (see ``SessionConfig.validate``): the frozen encoder reads at most 512 tokens
#: (``features.tokens.MAX_LENGTH_LIMIT``); round ``t`` is seeded ``seed + t`` and seeds stay 32-bit
#: (numpy / scikit-learn); ensembles as ``mlal_core.models.base`` (kept here so a config validates its
#: own fields without importing torch).
MAX_ENCODER_LENGTH = 512
MAX_ROUNDS = 100_000
MAX_SEED = 2**32 - 1 - MAX_ROUNDS
MAX_MEMBERS = 100
MAX_MC_PASSES = 100
MAX_SAMPLES = 1000
#: the longest session name (names are shown in tables and printed by the CLI)
MAX_NAME_LENGTH = 200

#: Model parameters the session uses unless ``model_params`` says otherwise.
DEFAULT_MODEL_PARAMS: dict[str, Any] = {"n_members": 5, "mc_passes": 0}


#: what a config error about an object in a name field says to do instead
_OBJECT_HINT = ("A config holds names; pass a model or strategy object to the session instead: "
                "ActiveLearningSession(config, model=..., strategy=...).")


def _is_int(value: Any) -> bool:
    """A Python int, not a bool (numpy integers are refused: a config is stored as JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def class_path(obj: Any) -> str:
    """``"module:QualifiedName"`` of ``obj``'s class: how a config records a user's own model or strategy.

    Parameters
    ----------
    obj : object
        A model or strategy instance.

    Returns
    -------
    str
        E.g. ``"my_lab.models:MyNet"``; never a registry name (those hold no ``":"``).
    """
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def is_class_path(name: Any) -> bool:
    """True when a config's ``model`` or ``strategy`` is a class path (:func:`class_path`), not a registry name.

    Parameters
    ----------
    name : object
        The field's value.

    Returns
    -------
    bool
    """
    return isinstance(name, str) and ":" in name


@dataclass(kw_only=True)
class SessionConfig:
    """Everything that defines a session; same config + same data = same history.

    ``dataset`` is a bundled dataset name (``mlal_core.data.available()``) or a derived one
    (``<base>-T<top_k>-IR<target>``, ``mlal_core.data.check_name``); leave it ``None`` when a
    dataset object (e.g. a user's upload) is passed to the session directly.
    ``representation``: ``"auto"`` = ``"minilm"`` for text sets, ``"raw"`` for tabular sets.
    ``candidate_subset``: when set, each round only a seeded random subset of that many unlabelled
    samples is scored (the whole pool is still predicted, for the shared diagnostics).
    ``precision``: the numeric precision of the encoder and the text backbones, ``"auto"`` /
    ``"fp32"`` / ``"bf16"`` (``"fp16"`` on CUDA); ``"auto"`` is bf16 where the hardware has it
    natively, else fp32 (``features.device.resolve_precision``). A session resolves it once, when it
    starts (``with_resolved_precision``), and stores the concrete value, so a reopened session
    computes as before on any machine. The MLP head always trains in fp32.

    ``model`` and ``strategy`` are registry names. A session given a model or strategy **object**
    (``ActiveLearningSession(config, model=..., strategy=...)``) records it here: a built-in object by
    its registry name and the parameters that differ from the defaults (the same config as giving the
    name), a user's own object by its class path (``"module:QualifiedName"``, :func:`class_path`) and
    its parameters as JSON (a value JSON cannot hold is recorded as its ``repr``); such a session is
    resumed by passing the object again (``mlal_core.session.components``).

    ``initial_method``: how the initial set is chosen (:data:`INITIAL_METHODS`, one line each in
    :data:`INITIAL_METHOD_HELP`; ``per_label`` reads the ground truth: simulation only).
    ``initial_params``: empty for ``random`` and ``per_label``; a session with ``representative`` or
    ``diverse`` records there what it did (the feature space, the algorithm, k-means ``n_init`` and
    ``random_state``, how k-center's first centre was drawn). ``n_init`` may be given (the k-means
    restarts of ``representative``); the other keys are recorded, and a given one that disagrees with
    what the session would record is an error (``mlal_core.session.initial``).
    """

    dataset: str | None = None
    representation: str = "auto"
    max_length: int = 128
    model: str = "mlp_ensemble"
    model_params: dict = field(default_factory=dict)
    strategy: str = "random"
    strategy_params: dict = field(default_factory=dict)
    initial_size: int = 100
    initial_method: str = "random"
    initial_params: dict = field(default_factory=dict)
    query_size: int = 50
    rounds: int = 10
    seed: int = 0
    candidate_subset: int | None = None
    name: str | None = None
    precision: str = "auto"

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"A session config must be a JSON object; got {type(data).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown session config field(s) {unknown}; known fields: {sorted(known)}.")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SessionConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"The session config is not valid JSON: {exc}.") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ derived values
    def resolved_model_params(self) -> dict[str, Any]:
        """``DEFAULT_MODEL_PARAMS`` overridden by ``model_params``; a text backbone also gets the
        session's ``precision`` (unless its parameters set one). A user's own model (``model`` is a
        class path): ``model_params`` as recorded."""
        if is_class_path(self.model):  # a user's own model: its params as recorded, no defaults
            return dict(self.model_params)
        params = {**DEFAULT_MODEL_PARAMS, **self.model_params}
        if self.model in TEXT_BACKBONES:
            params.setdefault("precision", self.precision)
        return params

    def with_resolved_precision(self) -> SessionConfig:
        """A copy whose ``precision`` is what ``"auto"`` means on this machine (for the session's
        device: the text backbone's ``device`` parameter, else CUDA when available); concrete values
        are kept (``"fp16"`` without CUDA raises ``ConfigError``)."""
        from mlal_core.features.device import precision_name, resolve_device, resolve_precision

        device = resolve_device(None if is_class_path(self.model) else self.model_params.get("device"))
        concrete = precision_name(resolve_precision(self.precision, device))  # fp16 without CUDA raises
        return self if concrete == self.precision else replace(self, precision=concrete)

    def resolve_representation(self, kind: str) -> str:
        """The representation for a dataset of ``kind`` ("text" or "tabular"); checks they fit.

        The deep text backbones read token ids (``"tokens"``); the MLP head reads feature vectors."""
        rep = self.representation
        if self.model in TEXT_BACKBONES:
            if kind != "text":
                raise ConfigError(
                    f"Model {self.model!r} is a text backbone, but this dataset is {kind}; use model 'mlp_ensemble'."
                )
            if rep not in ("auto", "tokens"):
                raise ConfigError(
                    f"Model {self.model!r} learns from the token ids of the texts, not from {rep!r} features: "
                    "use representation 'auto' (or 'tokens'), or model 'mlp_ensemble' for fixed features."
                )
            return "tokens"
        if rep == "tokens":
            raise ConfigError(
                f"Representation 'tokens' (token ids) is for the text backbones {', '.join(TEXT_BACKBONES)}; "
                f"model {self.model!r} needs feature vectors: use 'auto', 'minilm' or 'tfidf'."
            )
        if rep == "auto":
            return "minilm" if kind == "text" else "raw"
        if kind == "text" and rep == "raw":
            raise ConfigError(
                "Representation 'raw' needs a tabular dataset; this dataset is text. "
                "Use 'minilm', 'tfidf' or 'auto'."
            )
        if kind != "text" and rep in ("minilm", "tfidf"):
            raise ConfigError(
                f"Representation {rep!r} needs a text dataset; this dataset is tabular. Use 'raw' or 'auto'."
            )
        return rep

    def feature_max_length(self, representation: str) -> int:
        """Token limit of the features of ``representation``: for token ids the text backbone's own
        ``max_length`` (256 for TextCNN / TextRNN as in CRAB, 128 for the transformer), else
        ``max_length`` (the frozen encoder's)."""
        if representation == "tokens":
            from mlal_core import models

            return int(models.make_model(self.model, **self.resolved_model_params()).max_length)
        return int(self.max_length)

    def rounds_that_fit(self, pool_size: int) -> int:
        """How many full rounds of ``query_size`` fit in the pool after the initial set."""
        return max(0, (pool_size - self.initial_size) // self.query_size)

    # ------------------------------------------------------------------ validation
    def validate(self, pool_size: int | None = None, *, check_names: bool = True) -> list[str]:
        """Raise ``ConfigError`` for an unusable config; return warnings (strings) for a usable one.

        Parameters
        ----------
        pool_size : int, optional
            The size of the training pool; when given the budget is checked too (``check_budget``).
        check_names : bool, default True
            False skips the registry look-ups (dataset and strategy names).

        Returns
        -------
        list of str
            Warnings about a usable config (e.g. a budget the pool cannot fill).

        Raises
        ------
        ConfigError
            Saying what to change, for the first problem found.
        """
        self._check_sizes()
        self._check_choices()
        self._check_model_fields()
        self._check_names(check_names)
        return self.check_budget(pool_size) if pool_size is not None else []

    def _check_sizes(self) -> None:
        for name in ("max_length", "initial_size", "query_size", "rounds", "seed"):
            value = getattr(self, name)
            if not _is_int(value):
                raise ConfigError(f"{name} must be an integer; got {value!r}.")
        if not 1 <= self.max_length <= MAX_ENCODER_LENGTH:
            raise ConfigError(
                f"max_length must be in [1, {MAX_ENCODER_LENGTH}] (the frozen encoder reads at most "
                f"{MAX_ENCODER_LENGTH} tokens); got {self.max_length}."
            )
        if self.initial_size < 1:
            raise ConfigError(
                f"initial_size must be at least 1 (the first model needs labelled data); got {self.initial_size}."
            )
        if self.query_size < 1:
            raise ConfigError(f"query_size must be at least 1; got {self.query_size}.")
        if not 0 <= self.rounds <= MAX_ROUNDS:
            raise ConfigError(f"rounds must be in [0, {MAX_ROUNDS}] (a session stops when the pool runs out); "
                              f"got {self.rounds}.")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be an integer in [0, {MAX_SEED}] (round t trains with seed + t, "
                              f"a 32-bit seed); got {self.seed}.")
        if self.name is not None and not isinstance(self.name, str):
            raise ConfigError(f"name must be a string or None; got {type(self.name).__name__}.")
        if self.name is not None and len(self.name) > MAX_NAME_LENGTH:
            raise ConfigError(f"name must be at most {MAX_NAME_LENGTH} characters; got {len(self.name):,} "
                              "(a short name that tells the session apart, e.g. yeast-bald-seed0).")
        if self.candidate_subset is not None and (not _is_int(self.candidate_subset) or self.candidate_subset < 1):
            raise ConfigError(
                f"candidate_subset must be a positive integer or None (score the whole pool); got {self.candidate_subset!r}."
            )
        if self.candidate_subset is not None and self.candidate_subset < self.query_size:
            raise ConfigError(
                f"candidate_subset ({self.candidate_subset}) must be at least the query size ({self.query_size})."
            )

    def _check_choices(self) -> None:
        if self.precision not in PRECISIONS:
            raise unknown_name_error("precision", str(self.precision), PRECISIONS)
        explicit = self.model_params.get("precision") if isinstance(self.model_params, dict) else None
        if explicit is not None and self.precision != "auto" and explicit != self.precision:
            raise ConfigError(
                f"precision is set twice: {self.precision!r} for the session and {explicit!r} in model_params; "
                "set it once, on the session (precision=...)."
            )
        if self.representation not in REPRESENTATIONS:
            raise unknown_name_error("representation", str(self.representation), REPRESENTATIONS)
        if self.initial_method not in INITIAL_METHODS:
            raise unknown_name_error("initial method", str(self.initial_method), INITIAL_METHODS)
        self._check_initial_params()
        if not isinstance(self.model, str):
            raise ConfigError(f"model must be a model name; got {self.model!r}. {_OBJECT_HINT}")
        if self.model not in MODELS and not is_class_path(self.model):
            raise unknown_name_error("model", str(self.model), MODELS)

    def _check_initial_params(self) -> None:
        params = self.initial_params
        if not isinstance(params, dict):
            raise ConfigError(f"initial_params must be a dict; got {type(params).__name__}.")
        if params and self.initial_method not in FEATURE_INITIAL_METHODS:
            raise ConfigError(
                f"initial_params are for the feature-based initial methods {list(FEATURE_INITIAL_METHODS)}; "
                f"initial_method {self.initial_method!r} takes none: remove them."
            )
        unknown = sorted(set(params) - set(INITIAL_PARAM_KEYS))
        if unknown:
            raise ConfigError(f"Unknown initial_params {unknown}; known: {list(INITIAL_PARAM_KEYS)}.")
        n_init = params.get("n_init", 1)
        if not _is_int(n_init) or not 1 <= n_init <= 100:
            raise ConfigError(f"initial_params['n_init'] (k-means restarts) must be an integer in [1, 100]; "
                              f"got {n_init!r}.")
        if "n_init" in params and self.initial_method != "representative":
            raise ConfigError("initial_params['n_init'] is for initial_method 'representative' (k-means) only.")

    def _check_model_fields(self) -> None:
        for name in ("model_params", "strategy_params"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a dict; got {type(getattr(self, name)).__name__}.")
        if is_class_path(self.model):  # a user's own model object: the session checks the object itself
            return
        params = self.resolved_model_params()
        members: Any = params.get("n_members")
        passes: Any = params.get("mc_passes")
        if not _is_int(members) or not 1 <= members <= MAX_MEMBERS:
            raise ConfigError(f"model_params['n_members'] (--ensemble) must be an integer in [1, {MAX_MEMBERS}]; "
                              f"got {members!r}.")
        if not _is_int(passes) or not 0 <= passes <= MAX_MC_PASSES:
            raise ConfigError(f"model_params['mc_passes'] (--mc-passes) must be an integer in [0, {MAX_MC_PASSES}]; "
                              f"got {passes!r}.")
        if members * max(passes, 1) > MAX_SAMPLES:
            raise ConfigError(
                f"n_members x mc_passes = {members} x {passes} = {members * max(passes, 1)} probability samples per "
                f"row; at most {MAX_SAMPLES} fit in memory over a whole pool: use fewer members or passes."
            )
        from mlal_core.models import check_model_params

        check_model_params(self.model, params)  # unknown names and values raise, before any training
        bsel = params.get("batch_sampler")
        if bsel is not None and not isinstance(bsel, (str, dict)):
            # the model accepts a BatchSampler object too (checked above, with names and parameters);
            # a session config is stored as JSON, so it takes a name or {"name": ..., **params}
            raise ConfigError(
                "model_params['batch_sampler'] must be a sampler name or a dict "
                f"{{'name': ..., **params}}; got {type(bsel).__name__}."
            )

    def _check_names(self, check_names: bool) -> None:
        if self.dataset is not None and not isinstance(self.dataset, str):
            raise ConfigError(f"dataset must be a bundled dataset name; got {self.dataset!r}.")
        if not isinstance(self.strategy, str):
            raise ConfigError(f"strategy must be a strategy name; got {self.strategy!r}. {_OBJECT_HINT}")
        if not check_names:
            return
        from mlal_core import data, strategies

        if self.dataset is not None:  # bundled, derived (<base>-T<top_k>-IR<target>) or generated (xmtc-synthetic-...)
            data.check_name(self.dataset)
        if not is_class_path(self.strategy):  # a user's own strategy object: checked by the session
            strategies.get(self.strategy, **self.strategy_params)  # unknown names/params raise

    def check_budget(self, pool_size: int) -> list[str]:
        """Budget checks against a training pool of ``pool_size`` samples (see the module docstring)."""
        if self.initial_size > pool_size:
            raise ConfigError(
                f"initial_size ({self.initial_size}) is larger than the training pool ({pool_size} samples). "
                f"Use an initial size of at most {pool_size}."
            )
        if self.query_size > pool_size:
            raise ConfigError(
                f"query_size ({self.query_size}) is larger than the training pool ({pool_size} samples). "
                f"Use a query size of at most {max(1, pool_size - self.initial_size)}."
            )
        need = self.initial_size + self.rounds * self.query_size
        if need > pool_size:
            fit = self.rounds_that_fit(pool_size)
            left = pool_size - self.initial_size - fit * self.query_size
            extra = f", then a last batch of {left}" if left else ""
            return [
                f"The budget needs {need} samples (initial {self.initial_size} + {self.rounds} rounds x "
                f"{self.query_size}) but the training pool has {pool_size}: {fit} full round(s) fit{extra}. "
                "The session will stop cleanly when the pool is exhausted."
            ]
        return []


def parse_param_value(raw: str, default: Any) -> Any:
    """Type a ``key=value`` string by the type of the registry default (used by the CLI).

    Parameters
    ----------
    raw : str
        The value text (surrounding whitespace is dropped).
    default : Any
        The parameter's registry default: a bool, int, float or str default gives that type; for
        None or a container, ``none`` / ``null`` give None, else JSON if it parses, else the string.

    Returns
    -------
    Any
        The typed value.

    Raises
    ------
    ConfigError
        If the text does not parse as the default's bool, int or (non-NaN) float type.
    """
    text = raw.strip()
    if isinstance(default, bool):
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"Expected true/false; got {raw!r}.")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"Expected an integer; got {raw!r}.") from None
    if isinstance(default, float):
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"Expected a number; got {raw!r}.") from None
        if math.isnan(value):
            raise ConfigError(f"Expected a number; got {raw!r}.")
        return value
    if isinstance(default, str):
        return text
    # default None or a container: JSON if it parses, the string otherwise
    if text.lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
