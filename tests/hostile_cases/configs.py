"""Hostile session configs, command-line flags and experiment configs: the cases of issue 13 that
``test_hostile_configs.py`` checks one by one and the combined corpus tallies.

``CONFIG_CASES``: (id, ``SessionConfig`` fields, words the message must hold); ``CLI_CASES``: (id, argv,
words stderr must hold), refused in one line with exit code 2 (``run`` / ``resume`` get a ``--store``);
``ARGPARSE_CASES``: (id, argv), argparse usage errors; ``EXPERIMENT_CASES``: (id, YAML text, words).
"""

from __future__ import annotations

import math

import torch

NO_CUDA = not torch.cuda.is_available()

INF, NAN = math.inf, math.nan
CONFIG_CASES = [
    # (id, fields, words the message must hold)
    ("lr-inf", {"model_params": {"learning_rate": INF}}, ["learning_rate", "> 0"]),
    ("lr-nan", {"model_params": {"learning_rate": NAN}}, ["learning_rate"]),
    ("lr-negative", {"model_params": {"learning_rate": -0.1}}, ["learning_rate", "> 0"]),
    ("lr-zero", {"model_params": {"learning_rate": 0.0}}, ["learning_rate"]),
    ("lr-string", {"model_params": {"learning_rate": "fast"}}, ["learning_rate"]),
    ("textcnn-lr-inf", {"model": "textcnn", "model_params": {"learning_rate": INF}}, ["learning_rate"]),
    ("members-1e6", {"model_params": {"n_members": 10**6}}, ["n_members", "[1, 100]"]),
    ("members-0", {"model_params": {"n_members": 0}}, ["n_members"]),
    ("members-float", {"model_params": {"n_members": 2.5}}, ["n_members"]),
    ("members-bool", {"model_params": {"n_members": True}}, ["n_members"]),
    ("mc-1e6", {"model_params": {"mc_passes": 10**6}}, ["mc_passes", "[0, 100]"]),
    ("samples-product", {"model_params": {"n_members": 50, "mc_passes": 50}}, ["2500", "fewer members"]),
    ("hidden-1e9", {"model_params": {"hidden_size": 10**9}}, ["hidden_size", "16384"]),
    ("epochs-1e9", {"model_params": {"epochs": 10**9}}, ["epochs", "10000"]),
    ("min-steps-1e12", {"model_params": {"min_steps": 10**12}}, ["min_steps"]),
    ("dropout-1", {"model_params": {"dropout": 1.0}}, ["dropout"]),
    ("device-tpu", {"model_params": {"device": "tpu"}}, ["device", "'cpu'"]),
    ("device-int", {"model_params": {"device": 5}}, ["device", "'cpu'"]),
    ("device-empty", {"model_params": {"device": ""}}, ["device"]),
    ("device-cuda-99", {"model_params": {"device": "cuda:99"}}, ["cuda:99", "cpu"]),
    ("unknown-model-param", {"model_params": {"hiden_size": 3}}, ["hidden_size"]),
    ("model-params-list", {"model_params": [1, 2]}, ["model_params must be a dict"]),
    ("rounds-1e9", {"rounds": 10**9}, ["rounds", "100000"]),
    ("rounds-negative", {"rounds": -1}, ["rounds"]),
    ("query-0", {"query_size": 0}, ["query_size"]),
    ("initial-0", {"initial_size": 0}, ["initial_size"]),
    ("initial-float", {"initial_size": 10.5}, ["initial_size must be an integer"]),
    ("max-length-1e9", {"max_length": 10**9}, ["max_length", "512"]),
    ("seed-2**80", {"seed": 2**80}, ["seed", "32-bit"]),
    ("seed-negative", {"seed": -3}, ["seed"]),
    ("seed-string", {"seed": "0"}, ["seed must be an integer"]),
    ("candidate-0", {"candidate_subset": 0}, ["candidate_subset"]),
    ("precision-fp8", {"precision": "fp8"}, ["precision"]),
    ("representation-bogus", {"representation": "word2vec"}, ["representation"]),
    ("initial-method-bogus", {"initial_method": "clever"}, ["initial method"]),
    ("model-object", {"model": object()}, ["model must be a model name"]),
    ("model-bogus", {"model": "mlp_ensmble"}, ["mlp_ensemble"]),
    ("strategy-bogus", {"strategy": "entropyy"}, ["entropy"]),
    ("strategy-param-bogus", {"strategy": "entropy", "strategy_params": {"beta": 1}}, ["entropy"]),
    ("dataset-escape", {"dataset": "\x1b[31mred\x1b[0m"}, ["dataset"]),
    ("name-int", {"name": 5}, ["name must be a string"]),
    ("name-100k", {"name": "n" * 100_000}, ["name must be at most 200 characters", "100,000"]),
]

RUN = ["run", "--dataset", "yeast", "--strategy", "random", "--rounds", "1", "--ensemble", "2"]
CLI_CASES = [
    # (id, argv, words stderr must hold)
    ("device-tpu", [*RUN, "--device", "tpu"], ["device", "'cpu'"]),
    ("ensemble-1e6", [*RUN[:-1], "1000000"], ["n_members", "--ensemble", "[1, 100]"]),
    ("ensemble-0", [*RUN[:-1], "0"], ["--ensemble"]),
    ("mc-passes-negative", [*RUN, "--mc-passes", "-1"], ["--mc-passes"]),
    ("rounds-negative", [*RUN, "--rounds", "-5"], ["rounds"]),
    ("rounds-1e9", [*RUN, "--rounds", "1000000000"], ["rounds", "100000"]),
    ("seed-negative", [*RUN, "--seed", "-1"], ["seed"]),
    ("max-length-huge", [*RUN, "--max-length", "100000"], ["max_length", "512"]),
    ("query-0", [*RUN, "--query-size", "0"], ["query_size"]),
    ("query-1e12", [*RUN, "--query-size", "1000000000000"], ["query_size", "training pool"]),
    ("initial-1e12", [*RUN, "--initial-size", "1000000000000"], ["initial_size", "training pool"]),
    ("candidate-0", [*RUN, "--candidate-subset", "0"], ["candidate_subset"]),
    ("lr-inf", [*RUN, "--model-param", "learning_rate=inf"], ["learning_rate", "> 0"]),
    ("lr-nan", [*RUN, "--model-param", "learning_rate=nan"], ["learning_rate"]),
    ("lr-negative", [*RUN, "--model-param", "learning_rate=-1"], ["learning_rate"]),
    ("hidden-1e9", [*RUN, "--model-param", "hidden_size=1000000000"], ["hidden_size"]),
    ("epochs-1e9", [*RUN, "--epochs", "1000000000"], ["epochs"]),
    ("model-param-typo", [*RUN, "--model-param", "hiden_size=3"], ["hidden_size"]),
    ("model-param-no-equals", [*RUN, "--model-param", "hidden_size"], ["key=value"]),
    ("param-unknown", [*RUN[:4], "entropy", *RUN[5:], "--param", "beta=1"], ["entropy"]),
    ("dataset-escape", ["run", "--dataset", "\x1b[31mred\x1b[0m", "--strategy", "random"], ["dataset"]),
    ("strategy-bogus", [*RUN[:4], "entropyy", *RUN[5:]], ["entropy"]),
    ("model-bogus", [*RUN, "--model", "bert"], ["model"]),
    ("representation-bogus", [*RUN, "--representation", "word2vec"], ["representation"]),
    ("text-backbone-on-tabular", [*RUN, "--model", "textcnn"], ["text backbone"]),
    ("resume-unknown", ["resume", "\x1b]0;pwned\x07nosuch"], []),
    ("resume-device-tpu", ["resume", "nosuch", "--device", "tpu"], []),
    ("experiment-missing", ["experiment", "/nonexistent/x.yaml", "--dry-run"], ["No experiment config"]),
]
if NO_CUDA:
    CLI_CASES += [
        ("device-cuda", [*RUN, "--device", "cuda"], ["this machine has no CUDA GPU; use --device cpu (or auto)"]),
        ("precision-fp16-cpu", [*RUN, "--precision", "fp16", "--device", "cpu"], ["fp16", "CUDA"]),
    ]
ARGPARSE_CASES = [
    ("rounds-text", [*RUN, "--rounds", "ten"]),
    ("precision-choice", [*RUN, "--precision", "fp8"]),
    ("no-dataset", ["run", "--strategy", "random"]),
    ("unknown-command", ["explode"]),
    ("seed-float", [*RUN, "--seed", "1.5"]),
    ("initial-method-choice", [*RUN, "--initial-method", "clever"]),
]

GRID = "name: tiny\ndatasets: [yeast]\nstrategies: [random]\nseeds: 1\nrounds: 1\nquery_size: 10\ninitial_size: 20\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "name: *i\n"
EXPERIMENT_CASES = [
    ("duplicate-top-key", GRID + "rounds: 5\n", ["'rounds' is repeated", "lines 5 and 8"]),
    ("duplicate-nested-key", GRID + "models:\n  - name: mlp_ensemble\n    params: {epochs: 2, epochs: 3}\n",
     ["'epochs' is repeated"]),
    ("store-parent-escape", GRID + "store: ../../x.sqlite\n", ["must stay under the config's folder or MLAL_HOME", "allow_outside_store"]),
    ("store-absolute-elsewhere", GRID + "store: /var/tmp/mlal-elsewhere.sqlite\n", ["allow_outside_store"]),
    ("allow-outside-not-bool", GRID + "store: x.sqlite\nallow_outside_store: yes please\n",
     ["allow_outside_store' must be true or false"]),
    ("alias-bomb", BOMB + "datasets: [yeast]\nstrategies: [random]\n", ["YAML aliases"]),
    ("members-1e6", GRID + "models:\n  - name: mlp_ensemble\n    params: {n_members: 1000000}\n", ["n_members"]),
    ("lr-inf", GRID + "models:\n  - name: mlp_ensemble\n    params: {learning_rate: .inf}\n", ["learning_rate"]),
    ("lr-nan", GRID + "models:\n  - name: mlp_ensemble\n    params: {learning_rate: .nan}\n", ["learning_rate"]),
    ("device-tpu", GRID + "models:\n  - name: mlp_ensemble\n    params: {device: tpu}\n", ["device"]),
    ("hidden-1e9", GRID + "models:\n  - name: mlp_ensemble\n    params: {hidden_size: 1000000000}\n",
     ["hidden_size"]),
    ("not-a-mapping", "- just\n- a list\n", ["must be a mapping"]),
    ("unknown-key", GRID + "stor: x.sqlite\n", ["'store'"]),
    ("deep-nesting", GRID + "description: " + "[" * 200 + "]" * 200 + "\n", ["description"]),
    ("many-problems", "name: '!'\n" + "".join(f"bogus{i}: 1\n" for i in range(40)), ["more"]),
]
if NO_CUDA:
    EXPERIMENT_CASES.append(("device-cuda", GRID + "models:\n  - name: mlp_ensemble\n    params: {device: cuda}\n",
                             ["no CUDA GPU"]))


def corpus(folder) -> list:
    """The session-config and experiment-config cases as :class:`hostile_cases.Case` of the combined
    corpus (experiment files are written under ``folder``; the flags are in ``hostile_cases.cli_flags``)."""
    from hostile_cases import Case, Outcome

    from mlal_core import experiments
    from mlal_core.errors import MLALError
    from mlal_core.session.config import SessionConfig

    def session_config(fields):
        def run():
            try:
                SessionConfig(**{"dataset": "yeast", **fields}).validate()
            except MLALError as exc:
                return Outcome("error", str(exc))
            return Outcome("ok")
        return run

    def experiment_config(name, text):
        def run():
            path = folder / "configs" / f"{name}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            try:
                experiments.load_config(path)
            except MLALError as exc:
                return Outcome("error", str(exc))
            return Outcome("ok")
        return run

    cases = [Case("configs", f"session {name}", session_config(fields), needles)
             for name, fields, needles in CONFIG_CASES]
    cases += [Case("configs", f"experiment {name}", experiment_config(name, text), needles)
              for name, text, needles in EXPERIMENT_CASES]
    return cases
