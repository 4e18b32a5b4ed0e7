"""Seconds per active-learning round (train + score the pool) for each model, at 1000 labelled texts.

Reuters-21578 (6,903-text pool, 90 labels), one round of the session loop with random selection, so
that the time is the model's: train on 1,000 labelled texts (with the valid split for early
stopping), predict the test and valid splits, and predict the whole pool (probability samples and
the pooled embedding the strategies use). Reported per model: train_s, predict_s, the round, and
the cost of one member-epoch and of one pass over the pool, from which a round with other settings
can be estimated (train ~ members x epochs x member-epoch; pool ~ members x pool pass).

    python3 benchmarks/backbone_speed.py                         # CPU, 1 member x 1 epoch each
    python3 benchmarks/backbone_speed.py --members 5 --epochs 3  # closer to the papers' setting
    python3 benchmarks/backbone_speed.py --device cuda --members 5 --epochs 5 --threads 4

The frozen-feature default (MiniLM embeddings + 5-head MLP ensemble) runs first for comparison; its
one-off embedding of the dataset is cached and not counted. Results go to stdout and, with --out,
to a CSV file.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mlal_core.data import load  # noqa: E402
from mlal_core.session.config import SessionConfig  # noqa: E402
from mlal_core.session.loop import ActiveLearningSession, SessionBudgetWarning  # noqa: E402

#: label -> (model, its parameters); the text backbones at their paper defaults unless overridden
MODELS = {
    "mlp5 (frozen MiniLM)": ("mlp_ensemble", {"n_members": 5}),
    "textcnn": ("textcnn", {}),
    "textrnn": ("textrnn", {}),
    "transformer L6": ("transformer", {"encoder": "all-minilm-l6-v2"}),
    "transformer L3": ("transformer", {"encoder": "paraphrase-minilm-l3-v2"}),
    "transformer L6, 4 lowest frozen": ("transformer", {"encoder": "all-minilm-l6-v2", "freeze_layers": 4}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="reuters21578")
    parser.add_argument("--labelled", type=int, default=1000)
    parser.add_argument("--members", type=int, default=1, help="ensemble members of the text backbones")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the text backbones (no early stop)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the models' 1)")
    parser.add_argument("--only", default=None, help="comma-separated labels of MODELS to run")
    parser.add_argument("--out", default=None, help="CSV file for the results")
    args = parser.parse_args()

    ds = load(args.dataset)
    picked = MODELS if not args.only else {k: v for k, v in MODELS.items() if k in args.only.split(",")}
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    where = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU, {args.threads or 1} thread(s)"
    print(f"{args.dataset}: pool {len(ds.train)}, valid {len(ds.valid)}, test {len(ds.test)}, K = {ds.n_labels}; "
          f"{args.labelled} labelled; device {where}")
    print(f"{'model':<34} {'E':>2} {'ep':>3} {'train_s':>8} {'predict_s':>9} {'round_s':>8} "
          f"{'member-epoch_s':>14} {'pool-pass_s':>11} {'micro-F1':>8}")
    rows = []
    for label, (model, params) in picked.items():
        params = dict(params)
        if model != "mlp_ensemble":
            params.update(n_members=args.members, epochs=args.epochs, early_stopping=False)
        if args.threads is not None:
            params["num_threads"] = args.threads
        params["device"] = device
        config = SessionConfig(dataset=args.dataset, model=model, model_params=params, strategy="random",
                               initial_size=args.labelled, query_size=50, rounds=1, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SessionBudgetWarning)
            session = ActiveLearningSession(config, dataset=ds)
        t0 = time.perf_counter()
        session.prepare()
        prep = time.perf_counter() - t0
        pending = session.propose()
        t = pending.timings
        m = pending.model
        E = int(params.get("n_members", 5))
        epochs = args.epochs if model != "mlp_ensemble" else float("nan")
        member_epoch = t["train_s"] / (E * epochs) if model != "mlp_ensemble" else float("nan")
        n_pred = len(ds.train) + len(ds.valid) + len(ds.test)
        pool_pass = t["predict_s"] / E * len(ds.train) / n_pred
        row = {"model": label, "members": E, "epochs": epochs, "train_s": t["train_s"], "predict_s": t["predict_s"],
               "round_s": t["train_s"] + t["predict_s"], "member_epoch_s": member_epoch, "pool_pass_s": pool_pass,
               "micro_f1": pending.metrics["micro_f1"], "features_s": prep, "device": str(getattr(m, "device_", device)),
               "precision": getattr(m, "precision_", "fp32")}
        rows.append(row)
        print(f"{label:<34} {E:>2} {epochs:>3} {row['train_s']:>8.1f} {row['predict_s']:>9.1f} {row['round_s']:>8.1f} "
              f"{member_epoch:>14.1f} {pool_pass:>11.1f} {row['micro_f1']:>8.3f}", flush=True)
    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
