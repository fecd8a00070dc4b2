#!/usr/bin/env python3
"""Generation speed of the default 1024-unit model: stateful steps vs GRUV's re-prediction.

Real-time factor = seconds of audio generated per wall-clock second. Weights are
random (speed does not depend on them). Measured in one run:
  memory bandwidth   numpy copy of 512 MB; a step that reads every weight once is bounded
                     by bandwidth / weight bytes (the window methods and the Keras engine do)
  stateful           musicgen: the seed once, then one step per block, on numpy's BLAS (the CPU engine);
                     a step reads only the recurrent and folded feedback matrices, and the blocks
                     are made in one product at the end (musicgen/models/blas_network.py)
  stateful, Keras    the same steps through the stateful Keras model (the GPU engine)
  re-predict         GRUV's method: the whole growing sequence re-run for every block
  stateful x8        8 songs as one batch: the weights are read once per step for all 8
With --preset FILE.toml it also times what generate.py does for the network that preset trains (on
overlapping blocks, as the main job converts them): a 60 s song from the seed to the audio, its
sampled steps and phase rebuilding (Griffin-Lim) included, and each part's share.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from musicgen.cli.runtime import quiet_tensorflow

from common import numpy_matmul_gflops

quiet_tensorflow()  # TensorFlow's start-up lines would mix with the figures


def bandwidth_gbs() -> float:
    """Best of 5 copies of a 512 MB array: read + write bytes per second."""
    src = np.ones(512 * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = max(best, 2 * src.nbytes / (time.perf_counter() - start) / 1e9)
    return best


def timed(fn, repeat: int = 2) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def steady_step_ms(network, seeds, steps: int = 80) -> float:
    """Best-of-3 time per block once seeded (a BlasNetwork), its share of the output product included."""
    best = float("inf")
    for _ in range(3):
        network.reset(len(seeds))
        network(seeds)
        start = time.perf_counter()
        network.continue_own_output(steps)
        best = min(best, (time.perf_counter() - start) / steps * 1e3)
    return best


def preset_song(preset: Path, seconds: float = 60.0) -> None:
    """Time one song of the network `preset` trains, generated as generate.py does, by part."""
    import dataclasses

    from musicgen.cli.args import config_from, parse_with_preset
    from musicgen.cli.train_args import build_parser
    from musicgen.config import BlockSpec, ModelConfig
    from musicgen.generate.generation import fastest_engine, features_to_audio, song_features
    from musicgen.models.model import build_model
    from musicgen.formats.weights import Checkpoint

    cell = "gru" if "gru" in preset.stem else "lstm"  # as the presets are named for train.py / train_gru.py
    args = parse_with_preset(build_parser(cell, resume=False), ["--config", str(preset)])
    block = dataclasses.replace(config_from(BlockSpec, args), overlap=True)
    cfg = config_from(ModelConfig, args, cell=cell, block=block, clip_blocks=block.blocks_in(10.0))
    rng = np.random.default_rng(0)
    model = build_model(cfg, batch_size=1, stateful=True)
    out_layer = model.get_layer("time_distributed_dense_out")
    kernel, bias = out_layer.get_weights()  # it starts at zero; small random weights make a varied song
    out_layer.set_weights([rng.normal(0, 0.02, kernel.shape).astype(np.float32), bias])
    ckpt = Checkpoint(model=cfg, iteration=0, epoch=0, mean=np.zeros(cfg.feature_dim, np.float32) - 3,
                      std=np.ones(cfg.feature_dim, np.float32))
    seeds = rng.normal(size=(1, cfg.clip_blocks, cfg.feature_dim)).astype(np.float32)
    n_blocks = cfg.clip_blocks + block.blocks_in(seconds)
    network = fastest_engine(model, rng)
    start = time.perf_counter()
    out = song_features(network, ckpt, seeds, n_blocks, rng=rng, echo=False)
    t_steps = time.perf_counter() - start
    start = time.perf_counter()
    audio = features_to_audio(out[0], ckpt, rng)
    t_audio = time.perf_counter() - start
    total = t_steps + t_audio
    song_s = len(audio) / block.sample_rate
    print(f"{preset.name} ({cfg.label} {cfg.hidden} units, {block.representation}"
          f"{f' {block.bands} bands' if block.representation == 'logmel' else ''}, {cfg.output}): a {song_s:.0f} s "
          f"song in {total:.2f} s = {song_s / total:.0f}x real time (network steps {t_steps:.2f} s, "
          f"audio and phase {t_audio:.2f} s)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0, help="song length for the comparison")
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--preset", type=Path, action="append", default=[], metavar="FILE.toml",
                   help="also time a 60 s song of the network this training preset makes (repeatable)")
    p.add_argument("--only-presets", action="store_true", help="skip the default model's comparison")
    args = p.parse_args()
    for preset in args.preset:
        preset_song(preset)
    if args.only_presets:
        return 0

    from musicgen.config import ModelConfig
    from musicgen.generate.generation import continue_by_reprediction, continue_deterministic
    from musicgen.models.blas_network import BlasNetwork
    from musicgen.models.model import build_model, count_params

    cfg = ModelConfig(cell=args.cell)
    block_s = cfg.block.block_size / cfg.block.sample_rate
    n_blocks = round(args.seconds / block_s)
    weight_mb = 4 * count_params(cfg) / 1e6
    bw = bandwidth_gbs()
    bound = bw * 1e3 / weight_mb * block_s
    print(f"{cfg.label} {cfg.hidden} units: {weight_mb:.0f} MB of weights; memory bandwidth {bw:.1f} GB/s "
          f"-> reading them all per block, one song at most ~{bound:.0f}x real time")

    rng = np.random.default_rng(0)
    seeds = rng.normal(size=(8, cfg.clip_blocks, cfg.feature_dim)).astype(np.float32)
    full = build_model(cfg)
    weights = full.get_weights()
    keras_one = build_model(cfg, batch_size=1, stateful=True)
    keras_one.set_weights(weights)
    start = time.perf_counter()
    blas = BlasNetwork(full)
    t_load = time.perf_counter() - start
    start = time.perf_counter()
    blas.feedback()
    t_fold = time.perf_counter() - start

    t_one = timed(lambda: continue_deterministic(blas, seeds[:1], n_blocks))
    t_eight = timed(lambda: continue_deterministic(blas, seeds, n_blocks))
    t_keras = timed(lambda: continue_deterministic(keras_one, seeds[:1], n_blocks))
    t_ref = timed(lambda: continue_by_reprediction(full, seeds[:1], n_blocks), repeat=1)
    step_ms = {k: steady_step_ms(blas, seeds[:k]) for k in (1, 8)}

    rows = [("stateful, 1 song", t_one, 1), ("stateful (Keras), 1 song", t_keras, 1),
            ("re-predict (GRUV), 1 song", t_ref, 1), ("stateful, batch of 8", t_eight, 8)]
    print(f"once per weight file: BLAS copy of the weights {t_load:.2f} s, folding the feedback matrix {t_fold:.2f} s")
    print(f"song of {args.seconds:.0f} s = {n_blocks} blocks (the first {cfg.clip_blocks} are the seed pass):")
    for name, t, songs in rows:
        print(f"  {name:<27} {t:7.2f} s  {songs * args.seconds / t:7.1f}x real time")
    for k, ms in step_ms.items():
        rtf = 1e3 * block_s / ms
        print(f"  steady state, {k} song{'s' if k > 1 else ''}: {ms:.1f} ms per step -> {rtf:.1f}x real time per song, "
              f"{k * rtf:.1f}x in all")
    # Arithmetic of the BLAS engine: the seed pass runs the whole network; every later block
    # costs the feedback and recurrent products of its step plus its row of the output product.
    d, h = cfg.feature_dim, cfg.hidden
    seed_flops = cfg.clip_blocks * 2 * (2 * d * h + 2 * 4 * h * h)
    step_flops = (n_blocks - cfg.clip_blocks) * 2 * (2 * 4 * h * h + h * d)
    peak = numpy_matmul_gflops()
    for name, t, songs in (("1 song", t_one, 1), ("8 songs", t_eight, 8)):
        print(f"  BLAS engine, {name}: {songs * (seed_flops + step_flops) / t / 1e9:.0f} GFLOP/s "
              f"(float32 matmul on this machine: {peak:.0f})")
    print(f"stateful vs re-predict: {t_ref / t_one:.1f}x faster; BLAS vs Keras steps: {t_keras / t_one:.2f}x; "
          f"batch of 8 vs 1 song: {8 * t_one / t_eight:.1f}x the throughput "
          f"({8 * step_ms[1] / step_ms[8]:.1f}x at steady state)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
