#!/usr/bin/env python3
"""Conversion throughput and peak memory: ours vs the original approach vs raw decoding.

Every measurement runs in a fresh child process (peak RSS is per process) on a
library made of N copies of the bundled mp3s, with the WAV cache cleared first.
  ours      musicgen.data.convert (lame/sox decode, float32 FFT clips streamed to .npy), --jobs 0 (all cores)
  ours-jobs1  the same with --jobs 1: one file decoding and one clip framing at a time
  overlap   ours with --overlap: the main job's blocks as GRUV's float32 FFT values (X and Y)
  compact   ours with --overlap --store logmag: the same blocks as float16 log magnitudes, one file
  original  the original pipeline: lame -a -m m re-encodes each mp3 as a mono mp3
            (the tmp/ folder of the original README), lame --decode makes the WAV,
            then Python lists of float64 blocks and np.zeros float64 tensors
            filled element by element
  orig-tensors  our decode, then the original's tensor building: isolates that part
  decode    lame --decode of every mp3 alone: the floor for any mp3 converter
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from musicgen.audio.io import decode_to_wav, read_pcm_wav
from musicgen.config import AudioConfig, BlockSpec, ConvertConfig
from musicgen.data.convert import convert_directory, find_audio_files

from common import REPO, run_child, write_results

OURS = ("ours", "ours-jobs1", "overlap", "compact")


def make_library(root: Path, copies: int) -> Path:
    """A folder with `copies` copies of every bundled mp3."""
    lib = root / f"lib{copies}"
    lib.mkdir(parents=True)
    for i in range(copies):
        for mp3 in sorted((REPO / "datasets" / "training_data").glob("*.mp3")):
            shutil.copy(mp3, lib / f"{i:03d}_{mp3.name}")
    return lib


def original_decode(src: Path, wav: Path) -> None:
    """The original's decode: re-encode as mono mp3 with lame, then decode that."""
    tmp = src.parent / "tmp" / src.name
    tmp.parent.mkdir(exist_ok=True)
    subprocess.run(["lame", "--quiet", "-a", "-m", "m", str(src), str(tmp)], check=True)
    subprocess.run(["lame", "--quiet", "--decode", str(tmp), str(wav)], check=True)


def original_tensors(lib: Path, out: Path, audio: AudioConfig, *, own_decode: bool) -> float:
    """The original's approach: float64 lists, element-by-element copies."""
    wave_dir = lib / "wave"
    wave_dir.mkdir(exist_ok=True)
    chunks_x, chunks_y, seconds = [], [], 0.0
    for src in find_audio_files(lib, 10_000):
        wav = wave_dir / (src.stem + ".wav")
        if own_decode:
            original_decode(src, wav)
        else:
            decode_to_wav(src, wav, sample_rate=audio.block.sample_rate)
        data, _ = read_pcm_wav(wav)
        samples = np.array(data).astype("float32") / 32767.0
        seconds += len(samples) / audio.block.sample_rate
        blocks = []
        for start in range(0, len(samples), audio.block.block_size):
            block = samples[start:start + audio.block.block_size]
            if len(block) < audio.block.block_size:
                block = np.concatenate([block, np.zeros(audio.block.block_size - len(block))])
            blocks.append(block)
        ffts = []
        for block in blocks:
            spectrum = np.fft.fft(block)
            ffts.append(np.concatenate((np.real(spectrum), np.imag(spectrum))))
        x_blocks, y_blocks = ffts, ffts[1:] + [np.zeros_like(ffts[0])]
        cur, n = 0, audio.clip_blocks
        while cur + n < len(x_blocks):
            chunks_x.append(x_blocks[cur:cur + n])
            chunks_y.append(y_blocks[cur:cur + n])
            cur += n
    shape = (len(chunks_x), audio.clip_blocks, audio.block.fft_dim)
    x_data, y_data = np.zeros(shape), np.zeros(shape)
    for i in range(shape[0]):
        for j in range(shape[1]):
            x_data[i][j] = chunks_x[i][j]
            y_data[i][j] = chunks_y[i][j]
    mean = np.mean(np.mean(x_data, axis=0), axis=0)
    std = np.sqrt(np.mean(np.mean(np.abs(x_data - mean) ** 2, axis=0), axis=0))
    np.save(f"{out}_x", x_data)
    np.save(f"{out}_y", y_data)
    np.save(f"{out}_mean", mean)
    np.save(f"{out}_var", std)
    return seconds


def lame_decode_only(lib: Path, out: Path) -> float:
    """Decode every mp3 with lame to a throw-away WAV; return the audio seconds."""
    seconds = 0.0
    for src in find_audio_files(lib, 10_000):
        subprocess.run(["lame", "--decode", "--quiet", str(src), str(out)], check=True)
        seconds += (out.stat().st_size - 44) / (2 * 2 * 44100)  # lame writes 16-bit stereo
    return seconds


def child(mode: str, lib: Path, out: Path) -> dict:
    """Run one measurement in this process and report it."""
    audio = AudioConfig()
    shutil.rmtree(lib / "wave", ignore_errors=True)
    shutil.rmtree(lib / "tmp", ignore_errors=True)
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    if mode in OURS:
        if mode in ("overlap", "compact"):
            audio = AudioConfig(block=BlockSpec(overlap=True), store="logmag" if mode == "compact" else "fft")
        summary = convert_directory(ConvertConfig(input_dir=lib, output_prefix=out, max_files=10_000, audio=audio,
                                                  jobs=1 if mode == "ours-jobs1" else 0), progress=False)
        seconds = summary.decoded_seconds
    elif mode in ("original", "orig-tensors"):
        seconds = original_tensors(lib, out, audio, own_decode=mode == "original")
    else:
        seconds = lame_decode_only(lib, out.with_suffix(".wav"))
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tensors = sum(f.stat().st_size for f in out.parent.glob(f"{out.name}_[xy]*.npy"))
    return {"mode": mode, "audio_s": seconds, "wall_s": wall, "cpu_s": cpu, "peak_mb": peak_mb,
            "tensor_gb_per_hour": tensors / 1e9 * 3600 / seconds}


def cpu_seconds() -> float:
    """CPU time of this process and of every lame and sox it has run: with C cores no schedule can
    do the work measured between two readings in less than its CPU time / C."""
    own, tools = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + tools.ru_utime + tools.ru_stime


def measure(mode: str, lib: Path, out: Path) -> dict:
    return run_child(__file__, mode, lib, out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16],
                   help="library sizes in copies of the bundled 3-minute dataset")
    p.add_argument("--original-max", type=int, default=4, help="largest size to run the original at")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        mode, lib, out = args.child
        print(json.dumps(child(mode, Path(lib), Path(out))))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(dir=REPO / "bench") as tmp:
        for size in args.sizes:
            lib = make_library(Path(tmp), size)
            modes = ["decode", *OURS]
            if size <= args.original_max:
                modes += ["original", "orig-tensors"]
            for mode in modes:
                r = measure(mode, lib, Path(tmp) / f"out{size}_{mode}")
                r["size"] = size
                rows.append(r)
                print(f"{size:>3}x {mode:<12} {r['audio_s']:8.1f} s audio  {r['wall_s']:7.2f} s wall  "
                      f"{r['cpu_s']:7.2f} s CPU  {r['audio_s'] / r['wall_s']:7.1f} x real time  "
                      f"peak {r['peak_mb']:7.0f} MB  tensors {r['tensor_gb_per_hour']:5.2f} GB/hour", flush=True)
            for f in Path(tmp).glob(f"out{size}_*"):
                f.unlink()
            shutil.rmtree(lib)
    by = {(r["size"], r["mode"]): r for r in rows}
    print("\nratios (same run):")
    for size in args.sizes:
        ours, dec = by[(size, "ours")], by[(size, "decode")]
        jobs1 = by[(size, "ours-jobs1")]
        cores = os.cpu_count() or 1
        line = (f"{size:>3}x  ours/decode wall {ours['wall_s'] / dec['wall_s']:.2f}"
                f"  all cores vs --jobs 1 {jobs1['wall_s'] / ours['wall_s']:.2f}x (at most "
                f"{jobs1['wall_s'] / (ours['cpu_s'] / cores):.2f}x on {cores} cores: --jobs 1 keeps "
                f"{jobs1['cpu_s'] / jobs1['wall_s']:.2f} cores busy)")
        compact, overlap = by[(size, "compact")], by[(size, "overlap")]
        line += (f"  tensor bytes compact/overlap {compact['tensor_gb_per_hour'] / overlap['tensor_gb_per_hour']:.3f}"
                 f" (speed {overlap['wall_s'] / compact['wall_s']:.2f}x)")
        if (size, "original") in by:
            orig, tens = by[(size, "original")], by[(size, "orig-tensors")]
            line += (f"  throughput ours/original {orig['wall_s'] / ours['wall_s']:.1f}x"
                     f" (ours/orig-tensors {tens['wall_s'] / ours['wall_s']:.1f}x)"
                     f"  peak memory original/ours {orig['peak_mb'] / ours['peak_mb']:.1f}x")
        print(line)
    small, big = by[(args.sizes[0], "ours")], by[(args.sizes[-1], "ours")]
    print(f"ours peak memory {args.sizes[-1]}x vs {args.sizes[0]}x library: "
          f"{big['peak_mb']:.0f} MB vs {small['peak_mb']:.0f} MB ({big['peak_mb'] / small['peak_mb']:.2f}x)")
    write_results("convert", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
