"""Regenerate the MiniLM features shipped with the bundled text datasets.

For each bundled text dataset: encode its corpus (the distinct texts of all splits) with
all-MiniLM-L6-v2 in fp32, exactly as a session does (max_length 128, mean pooling, L2
normalisation), quantise to int8 with a per-row scale and write
``data/<name>/features/minilm-l6-v2-len128.npz`` (see ``mlal_core/features/bundled.py``).
Encoding is chunked and resumable (``--cache-dir``), so an interrupted build continues where it
stopped.

    python3 scripts/build_bundled_features.py                    # every bundled text dataset
    python3 scripts/build_bundled_features.py goemotions         # one
    python3 scripts/build_bundled_features.py --check            # compare the shipped files to a fresh encode
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mlal_core import data, paths  # noqa: E402
from mlal_core.features import bundled, corpus, encoder, minilm  # noqa: E402

MAX_LENGTH = 128


def output_path(name: str) -> Path:
    return paths.data_dir() / name / "features" / f"minilm-l6-v2-len{MAX_LENGTH}.npz"


def encode_fp32(name: str, cache_dir: Path, batch_size: int) -> tuple[corpus.Corpus, np.ndarray]:
    corp = corpus.corpus_of(data.load(name))
    t0 = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int, message: str) -> None:
        now = time.perf_counter()
        if now - last[0] > 15 or done == total:
            last[0] = now
            print(f"  {name}: {done:,}/{total:,} ({now - t0:.0f} s) {message}", flush=True)

    with tempfile.TemporaryDirectory() as no_bundled:  # never read the files being rebuilt
        matrix, _ = minilm.minilm_matrix(corp, max_length=MAX_LENGTH, batch_size=batch_size, precision="fp32",
                                         exact_precision=True, cache_dir=cache_dir, data_dir=no_bundled,
                                         progress=progress, name=name)
    return corp, matrix


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="*", help="bundled text datasets (default: all of them)")
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="where the resumable fp32 encoding lives (default: $MLAL_HOME/cache/bundled-build)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--check", action="store_true", help="compare the shipped files with a fresh fp32 encoding")
    args = ap.parse_args(argv)
    names = args.datasets or [n for n in data.available() if data.load(n).kind == "text"]
    cache_dir = args.cache_dir or paths.cache_dir() / "bundled-build"
    for name in names:
        corp, matrix = encode_fp32(name, cache_dir, args.batch_size)
        out = output_path(name)
        if args.check:
            shipped = bundled.BundledFeatures(out, bundled.read_meta(out) or {})
            cos = bundled.row_cosines(shipped.load(), matrix)
            print(f"{name}: {len(cos):,} rows, cosine to fp32 min {cos.min():.6f} mean {cos.mean():.6f}")
            continue
        meta = bundled.save(out, matrix, {
            "dataset": name, "text_hash": corp.text_hash, "encoder": encoder.ENCODER_NAME,
            "max_length": MAX_LENGTH, "pooling": minilm.POOLING, "precision": "fp32",
            "built_with": "scripts/build_bundled_features.py",
        })
        print(f"{name}: {meta['rows']:,} rows -> {out.relative_to(ROOT)} ({out.stat().st_size:,} bytes); "
              f"cosine to fp32 min {meta['min_cosine_to_fp32']:.6f} mean {meta['mean_cosine_to_fp32']:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
