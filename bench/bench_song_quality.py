#!/usr/bin/env python3
"""Do generated songs keep going? Train a preset on each bundled dataset, generate long songs, judge
the part after the seed's echo (docs/RESULTS.md gives the protocol).

For each dataset: convert it (if not yet), train with `--config PRESET` plus any extra flags (timed),
generate SONGS songs of SECONDS seconds from different seed clips, and measure each song's
free-running part in 10 s windows and its last TAIL seconds as one window. A window is "still music"
when it is as loud (6 dB) and as tonal (10x flatness) as the training music, moves at least 35% of
its spectral change, does not loop (consecutive blocks correlate below 0.5) and copies no training
excerpt. Prints one table row per dataset and a line per song; --json writes everything. Flags it
does not know go to the training script (e.g. --output gaussian). "music at" is the minute of training
whose checkpoint's preview was first judged music; with --baseline, "ratio" is this preset's training
time over the baseline preset's on the same data, both measured in this run.

  .venv/bin/python bench/bench_song_quality.py --config config/keep_going.toml --overlap
  .venv/bin/python bench/bench_song_quality.py --config config/demo.toml --label demo  # the baseline
  .venv/bin/python bench/bench_song_quality.py --config config/fast.toml --overlap \
      --datasets piano ensemble orchestral band --baseline config/keep_going.toml
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from musicgen.config import DETAILS, STORES
from musicgen.formats.dataset import read_dataset_info

from common import REPO, RESULTS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The bundled MIDI renderings, and recorded music made by datasets/make_recorded_dataset.py.
DATASETS = {"piano": "datasets/training_data", "ensemble": "datasets/ensemble_data",
            "orchestral": "datasets/recorded/orchestral", "band": "datasets/recorded/band"}


def run(argv: list[str]) -> str:
    """Run one of the toolkit's scripts with the virtualenv's Python; its stdout, or exit with its stderr."""
    proc = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv[:2])} failed:\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout


def data_prefix(out: Path, name: str, args) -> Path:
    """Where one dataset's tensors go: hard-edged and overlapping blocks, and clip lengths, side by side."""
    clips = "" if args.clip_len == 10.0 else f"_clip{args.clip_len:g}"
    store = "" if args.store == "fft" else f"_{args.store}"
    block = "" if args.block_size is None else f"_block{args.block_size}"
    bands = "" if args.bands is None else f"_bands{args.bands}"
    return out.parent / "data" / f"{name}{'_overlap' if args.overlap else ''}{clips}{store}{block}{bands}"


STEP_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def training_log(log: str) -> dict:
    """What a training script's output says: the last weight file, each iteration's loss, the minutes to the
    first checkpoint whose preview was music (None if none was), and each epoch's (steps, seconds a step)."""
    done = [line[len("done: "):] for line in log.splitlines() if line.startswith("done: ")]
    music = [float(m[1]) for m in re.finditer(r"^iteration .* after ([\d.]+) min, preview: music ", log, re.M)]
    return {"weights": done[-1] if done else None,
            "losses": [float(m[1]) for m in re.finditer(r"^iteration \d+/\d+: loss (-?[\d.]+|nan)", log, re.M)],
            "first_music_minutes": music[0] if music else None,
            "epochs": [(int(m[1]), float(m[2]) * STEP_UNITS[m[3]])
                       for m in re.finditer(r"^(\d+)/\1 - \S+ - ([\d.]+)(ms|us|s)/step", log, re.M)]}


def train(name: str, script: str, preset: Path | None, extra: list[str], out: Path, args) -> dict:
    """Convert (once) and train on one dataset: the weight file, the training seconds and the minutes to the
    first checkpoint whose preview was judged music (None if none was)."""
    prefix = data_prefix(out, name, args)
    if not Path(f"{prefix}_info.json").is_file():
        run(["convert_directory.py", "-q", "--input", DATASETS[name], "--output", str(prefix),
             "--clip-len", str(args.clip_len), "--store", args.store, *(["--overlap"] if args.overlap else []),
             *([] if args.block_size is None else ["--block-size", str(args.block_size)]),
             *([] if args.bands is None else ["--bands", str(args.bands)])])
    weights_dir = out / f"{name}_weights"
    start = time.perf_counter()
    log = run([script, *(["--config", str(preset)] if preset else []), "--data", str(prefix),
               "--weights-dir", str(weights_dir), "--img-dir", str(out), "--seed", str(args.train_seed), *extra])
    seconds = time.perf_counter() - start
    said = training_log(log)
    return {"weights": Path(said["weights"]), "train_seconds": seconds,
            "first_music_minutes": said["first_music_minutes"]}


def baseline_seconds(name: str, preset: Path, out: Path, args) -> float:
    """What training with `preset` in full would take on one dataset: the mean time of its epochs after the
    first (which compiles the step), from Keras' per-epoch lines, times its epochs; previews left out."""
    from musicgen.cli.args import parse_with_preset
    from musicgen.cli.train_args import build_parser

    settings = parse_with_preset(build_parser("lstm", resume=False), ["--config", str(preset)])
    total, epochs = settings.n_iter * settings.n_epochs, args.baseline_epochs
    prefix = data_prefix(out, name, args)
    log = run(["train.py", "--config", str(preset), "--data", str(prefix), "--weights-dir", str(out / "baseline"),
               "--img-dir", str(out / "baseline"), "--seed", "0", "-n", "1", "-e", str(epochs),
               "--preview-seconds", "0"])
    steps = training_log(log)["epochs"]
    per_epoch = [n * step for n, step in steps[1:]] or [n * step for n, step in steps]
    return float(np.mean(per_epoch)) * total


def reference_folder(name: str, prefix: Path) -> Path:
    """The dataset's WAV cache, which the songs are judged against, at the rate its tensors were made at.

    The cache holds whatever rate the folder was last converted at: after a conversion at 8 kHz the
    piano measured 28x flatter than itself as a reference, and good songs failed."""
    import wave

    folder = REPO / DATASETS[name] / "wave"
    rate = read_dataset_info(Path(prefix)).block.sample_rate
    stale = [p.name for p in sorted(folder.glob("*.wav")) if wave.open(str(p)).getframerate() != rate]
    if stale:  # decoded again at the data's rate, by a conversion whose tensors are thrown away
        with tempfile.TemporaryDirectory() as tmp:
            run(["convert_directory.py", "-q", "--input", DATASETS[name], "--output", str(Path(tmp) / "np"),
                 "--sample-rate", str(rate)])
    return folder


def judge(name: str, weights: Path, args, out: Path) -> dict:
    """Generate and measure the songs of one trained network."""
    prefix = data_prefix(out, name, args)
    log = run(["generate.py", "--weights", str(weights), "--data", str(prefix), "--count", str(args.songs),
               "--seconds", str(args.seconds + args.clip_len), "--random-seed", str(args.random_seed),
               "--out-dir", str(out / f"{name}_songs"),
               *([] if args.temperature is None else ["--temperature", str(args.temperature)]),
               *([] if args.bound is None else ["--bound", str(args.bound)]),
               *([] if args.detail is None else ["--detail", args.detail]), "--json"])
    paths = [Path(song["path"]) for song in json.loads(log)["songs"]]
    return {"dataset": name, "weights": str(weights), "songs": judge_songs(paths, [reference_folder(name, prefix)],
                                                                          args.tail)}


def judge_songs(paths: list[Path], reference: list[Path], tail_seconds: float) -> list[dict]:
    """Each song's free-running part against the reference music: 10 s windows and the last `tail_seconds`."""
    from musicgen.audio.io import read_audio
    from musicgen.evaluate.measures import measure_window, timeline
    from musicgen.evaluate.report import load_reference, sidecar_times
    from musicgen.formats.songs import read_song_info

    music = load_reference(reference)
    results = []
    for path in paths:
        info = read_song_info(path)
        samples, rate = read_audio(path)
        echo, hop = sidecar_times(path)
        block = round(hop * rate)
        total = len(samples) / rate
        windows = timeline(samples, rate, echo, music, block_size=block)
        tail = measure_window(samples, rate, max(echo, total - tail_seconds), total, music, block_size=block)
        results.append({"song": str(path), "seed_clip": info.seed_clip if info else None, "tail": tail.as_dict(),
                        "windows": [w.as_dict() for w in windows],
                        "alive_seconds": sum(w.end - w.start for w in windows if w.alive),
                        "free_seconds": total - echo})
    return results


def tails_summary(songs: list[dict]) -> dict:
    """Of judge_songs' results: tails still music, seconds of music, and the medians of the tails' measures."""
    tails = [s["tail"] for s in songs]
    medians = {k: float(np.median([t[k] for t in tails]))
               for k in ("rms_db_vs_train", "flatness_ratio", "change_share", "loop", "nearest_excerpt_db")}
    return {"alive": sum(t["alive"] for t in tails), "songs": len(tails),
            "alive_seconds": sum(s["alive_seconds"] for s in songs),
            "free_seconds": sum(s["free_seconds"] for s in songs), **medians}


TAILS_HEADING = f"{'tails':5} {'alive s':>12} {'change':>8} {'loud dB':>7} {'flat':>7} {'loop':>6} {'copy dB':>7}"


def tails_cells(s: dict) -> str:
    """tails_summary as the cells under TAILS_HEADING."""
    return (f"{s['alive']:>2}/{s['songs']:<2} {s['alive_seconds']:6.0f}/{s['free_seconds']:<5.0f} "
            f"{100 * s['change_share']:7.0f}% {s['rms_db_vs_train']:+7.1f} {s['flatness_ratio']:6.1f}x "
            f"{s['loop']:6.2f} {s['nearest_excerpt_db']:7.1f}")


def summary_row(label: str, result: dict, train_s: float | None) -> str:
    """One line of the table: verdicts of the last TAIL seconds, seconds of music, medians, training time."""
    train = f"{train_s / 60:6.1f}" if train_s is not None else f"{'-':>6}"
    first = result.get("first_music_minutes")
    first = f"{first:6.1f}" if first is not None else f"{'-':>6}"
    base = result.get("baseline_seconds")
    ratio = f"{train_s / base:6.2f}" if base and train_s is not None else f"{'-':>6}"
    tails = tails_cells(tails_summary(result["songs"]))
    return f"{label[:22]:22} {result['dataset']:10} {tails} {train} {first} {ratio}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=None, help="training preset (default: the scripts' defaults)")
    p.add_argument("--script", choices=("train.py", "train_gru.py"), default="train.py")
    p.add_argument("--label", default=None, help="name of this row (default: the preset's name)")
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["piano", "ensemble"])
    p.add_argument("--overlap", action="store_true", help="convert with --overlap (windowed, half-overlapping blocks)")
    p.add_argument("--store", choices=STORES, default="fft",
                   help="convert with this --store (logmag: the compact float16 log magnitudes of the main job)")
    p.add_argument("--block-size", type=int, default=None, help="convert with this --block-size (--store frames: 4096)")
    p.add_argument("--bands", type=int, default=None,
                   help="convert with this --bands (--store frames: each fine frame's)")
    p.add_argument("--songs", type=int, default=4, help="songs per dataset, each from its own seed clip")
    p.add_argument("--clip-len", type=float, default=10.0, help="convert with this --clip-len (the seed's length)")
    p.add_argument("--seconds", type=float, default=60.0, help="new music after the seed's echo")
    p.add_argument("--tail", type=float, default=20.0, help="the last this many seconds are judged as one window")
    p.add_argument("--temperature", type=float, default=None, help="generate.py's (default: the network's own)")
    p.add_argument("--bound", type=float, default=None, help="generate.py's (default: the network's own)")
    p.add_argument("--detail", choices=DETAILS, default=None, help="generate.py's (default: the network's own)")
    p.add_argument("--random-seed", type=int, default=1)
    p.add_argument("--train-seed", type=int, default=0,
                   help="training's --seed: run again with others to see how much one training run decides")
    p.add_argument("--out", type=Path, default=RESULTS / "song_quality")
    p.add_argument("--weights", nargs="+", type=Path, default=None,
                   help="judge these weight files (one per dataset, in order) instead of training")
    p.add_argument("--json", type=Path, default=None, help="also write every measure here")
    p.add_argument("--baseline", type=Path, default=None, metavar="PRESET",
                   help="also time this preset on each dataset (its first --baseline-epochs epochs, scaled to its "
                   "whole run) and print the ratio of the training times")
    p.add_argument("--baseline-epochs", type=int, default=5)
    args, extra = p.parse_known_args(argv)
    label = args.label or (args.config.stem if args.config else "defaults")
    out = args.out / label
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'method':22} {'dataset':10} {TAILS_HEADING} {'train min':>6} {'music at':>6} {'ratio':>6}")
    everything = []
    for k, name in enumerate(args.datasets):
        trained = {"weights": args.weights[k], "train_seconds": None, "first_music_minutes": None} if args.weights \
            else train(name, args.script, args.config, extra, out, args)
        train_s = trained["train_seconds"]
        result = judge(name, trained["weights"], args, out)
        result.update(label=label, train_seconds=train_s, flags=extra,
                      first_music_minutes=trained["first_music_minutes"])
        if args.baseline:
            result["baseline_seconds"] = baseline_seconds(name, args.baseline, out, args)
        everything.append(result)
        print(summary_row(label, result, train_s), flush=True)
        for song in result["songs"]:
            t = song["tail"]
            print(f"    {Path(song['song']).name} (seed clip {song['seed_clip']}): last {args.tail:.0f} s "
                  f"{'ALIVE' if t['alive'] else 'not alive (' + ', '.join(t['failed']) + ')'}; music for "
                  f"{song['alive_seconds']:.0f} of {song['free_seconds']:.0f} s after the seed; change "
                  f"{100 * t['change_share']:.0f}%, loop {t['loop']:.2f}, {t['rms_db_vs_train']:+.1f} dB, "
                  f"flatness {t['flatness_ratio']:.1f}x, nearest excerpt {t['nearest_excerpt_db']:.1f} dB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
