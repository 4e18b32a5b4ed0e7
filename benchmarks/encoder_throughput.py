"""Texts/s of the MiniLM encoder on this machine's CPU, per path: torch fp32, torch bf16 autocast,
ONNX Runtime fp32 and ONNX Runtime int8 (dynamic quantisation), with their cosine to torch fp32.

N real texts (default 1,024: half Reuters-21578, half GoEmotions, seeded samples of the train
splits). For each path:

* raw: the model forward passes only (inference mode), on texts tokenised beforehand, sorted by
  length and padded per batch as ``encoder.encode_texts`` does;
* pipeline: tokenise + batch + forward + mean-pool: ``encoder.encode_texts`` with ``runtime="torch"``
  or ``"onnxruntime"`` (fp32); for int8, which the project never uses, the same steps around
  ``OnnxEncoder``;
* pipeline/raw: the share of the raw speed the whole pipeline keeps;
* cosine of each text's embedding to the torch fp32 one (min, mean).

Medians over ``--repeats`` rounds, each running every path once (round-robin, so that a shared,
noisy machine slows them all alike), and the speed-up over torch fp32 within each round (median
over rounds: steadier than the ratio of the medians when the load changes). The ONNX files are
exported into a temporary MLAL_HOME, so the export and quantisation times are measured too.
Prints a markdown table; writes JSON to ``--out``.

    python3 benchmarks/encoder_throughput.py
    python3 benchmarks/encoder_throughput.py --n 256 --max-length 256 --batch-size 32 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mlal_core.data import load  # noqa: E402
from mlal_core.features import encoder, onnx_runtime  # noqa: E402
from mlal_core.features.device import cpu_has_native_bf16  # noqa: E402

FAITHFUL_COSINE = 0.999


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> set[str]:
    """The CPU flags of /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def sample_texts(n: int, seed: int) -> list[str]:
    """``n`` texts: n/2 from the Reuters-21578 train split, the rest from GoEmotions'."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for name, k in (("reuters21578", n // 2), ("goemotions", n - n // 2)):
        texts = load(name).train.texts
        out.extend(texts[i] for i in rng.choice(len(texts), size=k, replace=False))
    return out


def padded_batches(texts: list[str], max_length: int, batch_size: int):
    """``(order, [(input_ids, attention_mask), ...])``: tokenised, longest first, padded per batch."""
    ids = encoder.tokenize(texts, max_length)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    order = encoder.length_order(ids)
    pad_id = encoder.load_tokenizer().pad_token_id or 0
    batches = []
    for start in range(0, len(ids), batch_size):
        idx = order[start : start + batch_size]
        keep = np.arange(int(lengths[idx].max()))[None, :] < lengths[idx][:, None]
        batch = np.full(keep.shape, pad_id, dtype=np.int64)
        batch[keep] = np.concatenate([ids[i] for i in idx])
        batches.append((batch, keep.astype(np.int64)))
    return order, batches


def encode_texts_onnx(texts: list[str], enc: onnx_runtime.OnnxEncoder, max_length: int, batch_size: int):
    """The ``encode_texts`` pipeline around an ``OnnxEncoder``: (n, 384) float32, in input order."""
    order, batches = padded_batches(texts, max_length, batch_size)
    out = np.empty((len(texts), encoder.EMBEDDING_DIM), dtype=np.float32)
    start = 0
    for input_ids, mask in batches:
        hidden = enc.last_hidden_state(input_ids, mask)
        pooled = encoder.mean_pool(torch.from_numpy(hidden), torch.from_numpy(mask))
        out[order[start : start + len(mask)]] = pooled.numpy()
        start += len(mask)
    return out


class TorchPath:
    """torch on the CPU, fp32 or under bf16 autocast."""

    def __init__(self, precision: str):
        self.precision = precision
        self.model = encoder.load_encoder("cpu")[1]

    def forward(self, batches) -> None:
        autocast = contextlib.nullcontext()
        if self.precision == "bf16":
            autocast = torch.autocast("cpu", dtype=torch.bfloat16)
        with torch.inference_mode(), autocast:
            for input_ids, mask in batches:
                self.model(input_ids=input_ids, attention_mask=mask)

    def pipeline(self, texts, max_length, batch_size) -> np.ndarray:
        return encoder.encode_texts(texts, precision=self.precision, max_length=max_length,
                                    batch_size=batch_size, device="cpu", runtime="torch")


class OnnxPath:
    """ONNX Runtime on the CPU, fp32 or int8."""

    def __init__(self, quantized: bool, threads: int):
        self.quantized = quantized
        self.enc = onnx_runtime.OnnxEncoder(quantized=quantized, threads=threads)

    def forward(self, batches) -> None:
        for input_ids, mask in batches:
            self.enc.last_hidden_state(input_ids, mask)

    def pipeline(self, texts, max_length, batch_size) -> np.ndarray:
        if not self.quantized:  # the project's own path (what "auto" runs for fp32 on the CPU)
            return encoder.encode_texts(texts, precision="fp32", max_length=max_length, batch_size=batch_size,
                                        device="cpu", runtime="onnxruntime")
        return encode_texts_onnx(texts, self.enc, max_length, batch_size)  # int8: measured, never a default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="texts (half Reuters-21578, half GoEmotions)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "encoder_throughput.json"))
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    native = cpu_has_native_bf16()
    flags = cpu_flags()
    machine = {
        "cpu": cpu_model(), "logical_cpus": os.cpu_count(), "threads": threads,
        "bf16": "native" if native else "emulated", "avx512_vnni": "avx512_vnni" in flags,
        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
    }
    print(f"{machine['cpu']}, {threads} thread(s) of {os.cpu_count()}; bf16 {machine['bf16']}; "
          f"AVX512-VNNI {'yes' if machine['avx512_vnni'] else 'no'}; torch {machine['torch']}, "
          f"onnxruntime {machine['onnxruntime']}")

    texts = sample_texts(args.n, args.seed)
    encoder.load_encoder("cpu")
    _, np_batches = padded_batches(texts, args.max_length, args.batch_size)
    torch_batches = [(torch.from_numpy(i), torch.from_numpy(m)) for i, m in np_batches]
    tokens = int(sum(m.sum() for _, m in np_batches))
    padded = int(sum(m.size for _, m in np_batches))
    print(f"{len(texts)} texts, max_length {args.max_length}, batch {args.batch_size}: {tokens} tokens "
          f"({padded} with padding)")

    onnx_info: dict = {}
    with tempfile.TemporaryDirectory() as home:
        os.environ["MLAL_HOME"] = home  # a fresh cache: the export is timed, the user's cache untouched
        for quantized, key in ((False, "fp32"), (True, "int8")):
            t0 = time.perf_counter()
            path = onnx_runtime.onnx_model_path(quantized)
            made = time.perf_counter() - t0
            t0 = time.perf_counter()
            onnx_runtime.OnnxEncoder(quantized=quantized, threads=threads)
            onnx_info[key] = {"file": path.name, "mb": round(path.stat().st_size / 2**20, 1),
                              ("quantize_s" if quantized else "export_s"): round(made, 2),
                              "session_s": round(time.perf_counter() - t0, 2)}
        print("ONNX: " + "; ".join(f"{k} {json.dumps(v)}" for k, v in onnx_info.items()))

        paths = {
            "torch fp32": TorchPath("fp32"),
            f"torch bf16 autocast ({machine['bf16']})": TorchPath("bf16"),
            "ONNX Runtime fp32": OnnxPath(False, threads),
            "ONNX Runtime int8 (dynamic)": OnnxPath(True, threads),
        }
        times: dict[str, dict[str, list[float]]] = {p: {"raw": [], "pipeline": []} for p in paths}
        embeddings: dict[str, np.ndarray] = {}
        for path in paths.values():  # warm-up: the two longest batches
            path.forward(torch_batches[:2] if isinstance(path, TorchPath) else np_batches[:2])
        for rep in range(args.repeats):
            for name, path in paths.items():
                batches = torch_batches if isinstance(path, TorchPath) else np_batches
                t0 = time.perf_counter()
                path.forward(batches)
                times[name]["raw"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                emb = path.pipeline(texts, args.max_length, args.batch_size)
                times[name]["pipeline"].append(time.perf_counter() - t0)
                embeddings.setdefault(name, emb)
                print(f"  repeat {rep + 1}/{args.repeats} {name}: raw {times[name]['raw'][-1]:.1f} s, "
                      f"pipeline {times[name]['pipeline'][-1]:.1f} s", flush=True)

    ref = embeddings["torch fp32"]
    ref_s = times["torch fp32"]
    rows = []
    for name in paths:
        raw = len(texts) / statistics.median(times[name]["raw"])
        pipe = len(texts) / statistics.median(times[name]["pipeline"])
        # speed-up over torch fp32 within each round (paired: a load change hits both), median over rounds
        speedup = {k: statistics.median(a / b for a, b in zip(ref_s[k], times[name][k], strict=True))
                   for k in ("raw", "pipeline")}
        cos = (embeddings[name] * ref).sum(axis=1)
        rows.append({"path": name, "raw_texts_per_s": round(raw, 1), "pipeline_texts_per_s": round(pipe, 1),
                     "pipeline_over_raw": round(pipe / raw, 3), "raw_speedup": round(speedup["raw"], 2),
                     "pipeline_speedup": round(speedup["pipeline"], 2),
                     "cosine_min": round(float(cos.min()), 6), "cosine_mean": round(float(cos.mean()), 6),
                     "raw_s": times[name]["raw"], "pipeline_s": times[name]["pipeline"]})

    print(f"\nmedians of {args.repeats} repeats, {len(texts)} texts, max_length {args.max_length}, "
          f"batch {args.batch_size}, {threads} thread(s), {machine['cpu']}; speed-up: over torch fp32 in the "
          "same round (raw / pipeline)\n")
    print("| path | raw texts/s | pipeline texts/s | pipeline/raw | speed-up | cosine min | cosine mean |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['path']} | {r['raw_texts_per_s']:.1f} | {r['pipeline_texts_per_s']:.1f} | "
              f"{r['pipeline_over_raw']:.2f} | {r['raw_speedup']:.2f} / {r['pipeline_speedup']:.2f} | "
              f"{r['cosine_min']:.6f} | {r['cosine_mean']:.6f} |")
    faithful = [r for r in rows if r["cosine_min"] >= FAITHFUL_COSINE]
    without_bf16 = [r for r in faithful if "bf16" not in r["path"]]
    best = {
        "without_native_bf16": max(without_bf16, key=lambda r: r["pipeline_speedup"])["path"],
        "this_machine": max(faithful, key=lambda r: r["pipeline_speedup"])["path"],
    }
    print(f"\nfastest pipeline with cosine >= {FAITHFUL_COSINE} (by speed-up): {best['this_machine']} "
          f"(this machine, bf16 {machine['bf16']}); without native bf16: {best['without_native_bf16']}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine, "settings": {"n": len(texts), "max_length": args.max_length,
                                               "batch_size": args.batch_size, "repeats": args.repeats,
                                               "seed": args.seed, "tokens": tokens, "padded_tokens": padded},
              "onnx": onnx_info, "results": rows, "fastest_faithful": best}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
