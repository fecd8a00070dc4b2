#!/usr/bin/env python3
"""Peak memory of training on 1x, 4x and 16x the default dataset: streamed shards vs loading it whole.

The library is the bundled music copied k times, converted by convert_directory
with --shard-size (so it is real conversion output). Each run is a fresh process
training the default 1024-unit LSTM for one epoch, batch 5:
  streamed   musicgen: batches read from the shard files as needed (tf.data)
  in memory  the original's way: X and Y loaded whole, normalised, passed to fit()
Peak memory is the process's peak resident set (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from musicgen.cli.runtime import quiet_tensorflow

from common import REPO, run_child

quiet_tensorflow()  # TensorFlow's start-up lines would mix with the figures


def child(prefix: str, variant: str) -> dict:
    import numpy as np

    from musicgen.cli.runtime import limit_malloc_arenas

    limit_malloc_arenas()  # as the training scripts do
    from musicgen.config import ModelConfig
    from musicgen.data.training_data import load_training_data, make_batches
    from musicgen.models.model import build_model, compile_model

    data = load_training_data(Path(prefix))
    model = build_model(ModelConfig(block=data.block, clip_blocks=data.clip_blocks))
    compile_model(model, 1e-3)
    start = time.perf_counter()
    if variant == "streamed":
        batches = make_batches(data, np.arange(len(data.x)), 5, mean=data.mean, std=data.std, shuffle=True, seed=0)
        model.fit(batches, epochs=1, verbose=0)
    else:
        every = np.arange(len(data.x))
        x = (data.x.read(every) - data.mean) / data.std
        y = (data.y.read(every) - data.mean) / data.std
        model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    return {"seconds": time.perf_counter() - start,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def convert_copies(copies: int, root: Path) -> tuple[Path, float]:
    """Convert `copies` copies of the bundled music into shards; return the prefix and tensor MB."""
    from musicgen.config import ConvertConfig
    from musicgen.data.convert import convert_directory

    src = REPO / "datasets" / "training_data"
    folder = root / f"x{copies}"
    (folder / "in").mkdir(parents=True)
    for k in range(copies):
        for mp3 in sorted(src.glob("*.mp3")):
            (folder / "in" / f"{k:02d}_{mp3.name}").symlink_to(mp3)
    cfg = ConvertConfig(input_dir=folder / "in", output_prefix=folder / "np_array", shard_size=64)
    convert_directory(cfg, progress=False)
    size = sum(p.stat().st_size for p in folder.glob("np_array_[xy]-*.npy")) / 1e6
    return cfg.output_prefix, size


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16], help="copies of the default dataset")
    p.add_argument("--child", nargs=2, metavar=("PREFIX", "VARIANT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    rows = []
    with tempfile.TemporaryDirectory(dir=REPO / "bench") as tmp:
        for copies in args.sizes:
            prefix, size = convert_copies(copies, Path(tmp))
            for variant in ("streamed", "in memory"):
                result = run_child(__file__, prefix, variant)
                rows.append((copies, size, variant, result))
                print(f"{copies:3d}x  tensors {size:7.0f} MB  {variant:<10} peak {result['peak_mb']:7.0f} MB  "
                      f"epoch {result['seconds']:6.1f} s", flush=True)
    base = {v: r["peak_mb"] for c, _, v, r in rows if c == args.sizes[0]}
    for copies, _, variant, result in rows:
        if copies != args.sizes[0]:
            print(f"{variant} at {copies}x: peak {result['peak_mb'] / base[variant]:.2f}x that at {args.sizes[0]}x "
                  f"(tensors {copies / args.sizes[0]:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
