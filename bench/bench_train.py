#!/usr/bin/env python3
"""Training throughput of the default model as a fraction of this machine's matmul rate.

Each variant runs in a fresh process (peak RSS is per process) on the default
dataset (datasets/np_array, made by convert_directory.py), through the real
input pipeline, after one warm-up epoch:
  ours      musicgen's model: Dense on every step, input-projected LSTM/GRU, XLA
  ours-bf16 the same under --precision bfloat16 (Keras' mixed_bfloat16 policy)
  original  the original's form: TimeDistributed(Dense), stock keras LSTM, no XLA
With --loss-check, train.py --config config/demo.toml runs in both precisions from the same seed
and the final losses are compared.
The matmul rate is a float32 2048x2048 tf.matmul measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from musicgen.cli.runtime import quiet_tensorflow
from musicgen.formats.weights import WEIGHTS_SUFFIX, read_checkpoint

from common import REPO, run_child, tf_matmul_gflops, write_results

quiet_tensorflow()  # TensorFlow's start-up lines would mix with the figures


def original_model(cfg):
    """The original's layer stack, as Keras 3 runs it."""
    import keras

    inputs = keras.Input((None, cfg.feature_dim))
    x = keras.layers.TimeDistributed(keras.layers.Dense(cfg.hidden))(inputs)
    x = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cfg.cell](cfg.hidden, return_sequences=True)(x)
    outputs = keras.layers.TimeDistributed(keras.layers.Dense(cfg.feature_dim))(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss="mean_squared_error")
    return model


def child(variant: str, cell: str, batch: int, epochs: int) -> dict:
    import numpy as np

    from musicgen.cli.runtime import limit_malloc_arenas

    limit_malloc_arenas()  # as the training scripts do

    from musicgen.config import ModelConfig
    from musicgen.data.training_data import load_training_data, make_batches
    from musicgen.models.model import build_model, compile_model, flops_per_block

    data = load_training_data(REPO / "datasets" / "np_array")
    cfg = ModelConfig(cell=cell, block=data.block, clip_blocks=data.clip_blocks)
    if variant in ("ours", "ours-bf16"):
        from musicgen.train.precision import precision_policy, use_xla

        precision = "bfloat16" if variant == "ours-bf16" else "float32"
        with precision_policy(precision):
            model = build_model(cfg)
            compile_model(model, 1e-3, jit=use_xla(precision, distributed=False))
    else:
        model = original_model(cfg)
    batches = make_batches(data, np.arange(data.clips), batch, mean=data.mean, std=data.std, shuffle=True,
                           seed=0)
    import keras

    times = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(batches, epochs=1, verbose=0, shuffle=False)  # warm-up: tracing and XLA compilation
    model.fit(batches, epochs=epochs, verbose=0, shuffle=False, callbacks=[EpochTimer()])
    # The best epoch: this 2-core machine shares its cores, and slow epochs measure the neighbours.
    wall = min(times)
    blocks = data.clips * data.clip_blocks
    return {"variant": variant, "cell": cell, "batch": batch, "blocks_per_s": blocks / wall,
            "gflops": blocks * flops_per_block(cfg) / wall / 1e9,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def demo_final_loss(precision: str) -> float:
    """Final training loss of train.py --config config/demo.toml --seed 0 in `precision`."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=REPO / "bench") as tmp:
        proc = subprocess.run([sys.executable, str(REPO / "train.py"), "--config", str(REPO / "config" / "demo.toml"),
                               "--seed", "0", "--precision", precision, "--preview-seconds", "0",
                               "--weights-dir", tmp, "--img-dir", tmp], capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        [weights] = Path(tmp).glob(f"*_Iter-*{WEIGHTS_SUFFIX}")
        return read_checkpoint(weights).last_loss


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=6, help="timed epochs per variant (the best one counts)")
    p.add_argument("--batches", type=int, nargs="+", default=[5, 10], help="batch sizes (clips)")
    p.add_argument("--loss-check", action="store_true",
                   help="also train config/demo.toml in both precisions and compare the final losses")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        variant, cell, batch, epochs = args.child
        print(json.dumps(child(variant, cell, int(batch), int(epochs))))
        return 0
    if not (REPO / "datasets" / "np_array_x.npy").exists():
        raise SystemExit("run convert_directory.py first (the benchmark uses the default dataset)")
    rate = tf_matmul_gflops()
    print(f"float32 matmul rate: {rate:.1f} GFLOP/s (best of 3 runs of 10)")
    rows = []
    plan = [("original", "lstm", 5)] + [(v, cell, b) for b in args.batches for cell in ("lstm", "gru")
                                        for v in ("ours", "ours-bf16")]
    for variant, cell, batch in plan:
        r = run_child(__file__, variant, cell, batch, args.epochs)
        r["fraction"] = r["gflops"] / rate
        rows.append(r)
        print(f"{variant:<9} {cell:<4} -b {batch:<3} {r['blocks_per_s']:7.1f} blocks/s  {r['gflops']:6.1f} GFLOP/s  "
              f"{100 * r['fraction']:5.1f}% of matmul  peak {r['peak_mb']:6.0f} MB", flush=True)
    base = rows[0]
    ours = next(r for r in rows if r["variant"] == "ours" and r["cell"] == "lstm" and r["batch"] == 5)
    print(f"\nLSTM -b 5: ours/original throughput {ours['blocks_per_s'] / base['blocks_per_s']:.1f}x, "
          f"{100 * ours['fraction']:.0f}% vs {100 * base['fraction']:.0f}% of the matmul rate")
    for r in rows:
        if r["variant"] == "ours-bf16":
            f32 = next(o for o in rows
                       if o["variant"] == "ours" and o["cell"] == r["cell"] and o["batch"] == r["batch"])
            print(f"{r['cell']} -b {r['batch']}: bfloat16 / float32 blocks per second "
                  f"{r['blocks_per_s'] / f32['blocks_per_s']:.2f}x")
    if args.loss_check:
        losses = {p: demo_final_loss(p) for p in ("float32", "bfloat16")}
        print(f"config/demo.toml final loss: float32 {losses['float32']:.4f}, bfloat16 {losses['bfloat16']:.4f} "
              f"({100 * (losses['bfloat16'] / losses['float32'] - 1):+.1f}%)")
    write_results("train", {"tf_matmul_gflops": rate, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
