#!/usr/bin/env python3
"""Do generated songs keep going? Train a preset on each bundled dataset, generate long songs, judge
the part after the seed's echo (issue 12's protocol).

For each dataset: convert it (if not yet), train with `--config PRESET` plus any extra flags (timed),
generate SONGS songs of SECONDS seconds from different seed clips, and measure each song's
free-running part in 10 s windows and its last TAIL seconds as one window. A window is "still music"
when it is as loud (6 dB) and as tonal (10x flatness) as the training music, moves at least 35% of
its spectral change, does not loop (consecutive blocks correlate below 0.5) and copies no training
excerpt. Prints one table row per dataset and a line per song; --json writes everything. Flags it
does not know go to the training script (e.g. --output gaussian).

  .venv/bin/python bench/bench_song_quality.py --config config/keep_going.toml --overlap
  .venv/bin/python bench/bench_song_quality.py --config config/demo.toml --label demo  # the baseline
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATASETS = {"piano": "datasets/training_data", "ensemble": "datasets/ensemble_data"}


def run(argv: list[str]) -> str:
    """Run one of the toolkit's scripts with the virtualenv's Python; its stdout, or exit with its stderr."""
    proc = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv[:2])} failed:\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout


def data_prefix(out: Path, name: str, overlap: bool) -> Path:
    """Where one dataset's tensors go: hard-edged and overlapping blocks side by side."""
    return out.parent / "data" / f"{name}{'_overlap' if overlap else ''}"


def train(name: str, script: str, preset: Path | None, extra: list[str], out: Path, overlap: bool) -> tuple[Path, float]:
    """Convert (once) and train on one dataset; (weight file, training seconds)."""
    prefix = data_prefix(out, name, overlap)
    if not Path(f"{prefix}_info.json").is_file():
        run(["convert_directory.py", "-q", "--input", DATASETS[name], "--output", str(prefix),
             *(["--overlap"] if overlap else [])])
    weights_dir = out / f"{name}_weights"
    start = time.perf_counter()
    log = run([script, *(["--config", str(preset)] if preset else []), "--data", str(prefix),
               "--weights-dir", str(weights_dir), "--img-dir", str(out), "--seed", "0", *extra])
    seconds = time.perf_counter() - start
    done = [line[len("done: "):] for line in log.splitlines() if line.startswith("done: ")]
    return Path(done[-1]), seconds


def judge(name: str, weights: Path, args, out: Path) -> dict:
    """Generate and measure the songs of one trained network."""
    from musicgen.eval_report import load_reference, sidecar_times
    from musicgen.audio_io import load_wav
    from musicgen.evaluation import measure_window, timeline
    from musicgen.song_files import read_song_info

    prefix = data_prefix(out, name, args.overlap)
    songs_dir = out / f"{name}_songs"
    log = run(["generate.py", "--weights", str(weights), "--data", str(prefix), "--count", str(args.songs),
               "--seconds", str(args.seconds), "--random-seed", str(args.random_seed), "--out-dir", str(songs_dir),
               "--temperature", str(args.temperature)])
    paths = [Path(line.split()[1]) for line in log.splitlines() if line.startswith("wrote ")]
    reference = load_reference([REPO / DATASETS[name] / "wave"])
    results = []
    for path in paths:
        info = read_song_info(path)
        samples, rate = load_wav(path)
        echo, hop = sidecar_times(path)
        block = round(hop * rate)
        total = len(samples) / rate
        windows = timeline(samples, rate, echo, reference, block_size=block)
        tail = measure_window(samples, rate, max(echo, total - args.tail), total, reference, block_size=block)
        alive_s = sum(w.end - w.start for w in windows if w.alive)
        results.append({"song": str(path), "seed_clip": info["seed_clip"], "tail": tail.as_dict(),
                        "windows": [w.as_dict() for w in windows], "alive_seconds": alive_s,
                        "free_seconds": total - echo})
    return {"dataset": name, "weights": str(weights), "songs": results}


def summary_row(label: str, result: dict, train_s: float | None) -> str:
    tails = [s["tail"] for s in result["songs"]]
    alive = sum(t["alive"] for t in tails)
    med = {k: float(np.median([t[k] for t in tails])) for k in ("rms_db_vs_train", "flatness_ratio",
                                                                "change_share", "loop", "nearest_excerpt_db")}
    seconds = sum(s["alive_seconds"] for s in result["songs"])
    free = sum(s["free_seconds"] for s in result["songs"])
    train = f"{train_s / 60:6.1f}" if train_s is not None else f"{'-':>6}"
    return (f"{label[:22]:22} {result['dataset']:9} {alive:>2}/{len(tails):<2} {seconds:6.0f}/{free:<5.0f} "
            f"{100 * med['change_share']:7.0f}% {med['rms_db_vs_train']:+7.1f} {med['flatness_ratio']:6.1f}x "
            f"{med['loop']:6.2f} {med['nearest_excerpt_db']:7.1f} {train}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=None, help="training preset (default: the scripts' defaults)")
    p.add_argument("--script", choices=("train.py", "train_gru.py"), default="train.py")
    p.add_argument("--label", default=None, help="name of this row (default: the preset's name)")
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["piano", "ensemble"])
    p.add_argument("--overlap", action="store_true", help="convert with --overlap (windowed, half-overlapping blocks)")
    p.add_argument("--songs", type=int, default=4, help="songs per dataset, each from its own seed clip")
    p.add_argument("--seconds", type=float, default=70.0, help="song length: 10 s of echo, then the new music")
    p.add_argument("--tail", type=float, default=20.0, help="the last this many seconds are judged as one window")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--random-seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "song_quality")
    p.add_argument("--weights", nargs="+", type=Path, default=None,
                   help="judge these weight files (one per dataset, in order) instead of training")
    p.add_argument("--json", type=Path, default=None, help="also write every measure here")
    args, extra = p.parse_known_args(argv)
    label = args.label or (args.config.stem if args.config else "defaults")
    out = args.out / label
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'method':22} {'dataset':9} {'tails':5} {'alive s':>12} {'change':>8} {'loud dB':>7} "
          f"{'flat':>7} {'loop':>6} {'copy dB':>7} {'train min':>6}")
    everything = []
    for k, name in enumerate(args.datasets):
        if args.weights:
            weights, train_s = args.weights[k], None
        else:
            weights, train_s = train(name, args.script, args.config, extra, out, args.overlap)
        result = judge(name, weights, args, out)
        result.update(label=label, train_seconds=train_s, flags=extra)
        everything.append(result)
        print(summary_row(label, result, train_s), flush=True)
        for song in result["songs"]:
            t = song["tail"]
            failed = [k for k, ok in t["tests"].items() if not ok]
            print(f"    {Path(song['song']).name} (seed clip {song['seed_clip']}): last {args.tail:.0f} s "
                  f"{'ALIVE' if t['alive'] else 'not alive (' + ', '.join(failed) + ')'}; music for "
                  f"{song['alive_seconds']:.0f} of {song['free_seconds']:.0f} s after the seed; change "
                  f"{100 * t['change_share']:.0f}%, loop {t['loop']:.2f}, {t['rms_db_vs_train']:+.1f} dB, "
                  f"flatness {t['flatness_ratio']:.1f}x, nearest excerpt {t['nearest_excerpt_db']:.1f} dB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
