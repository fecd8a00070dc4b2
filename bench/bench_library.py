#!/usr/bin/env python3
"""An hour of music in one run: disk, conversion speed and memory, training to a budget, songs per style.

On the library that `make library` builds (datasets/library: two styles, ~30 min each) and on a
small set cut from it (the first files of each style up to --small-seconds, the size of the bundled
datasets), this bench
  1. converts both in fresh processes, in today's layout of the main job (--overlap, float32 FFT X and Y)
     and the compact one (--overlap --store logmag): GB per hour of music, x real time, peak MB;
  2. trains the main job's preset on each compact set, the hour for --minutes, the small set for
     --small-minutes (the 3-minute run), each in its own process: peak MB, updates, ms a step;
  3. generates --songs songs per style from each network, each seeded (--prime) from a different file
     of the style at --prime-start, and judges the new music after the seed with bench_song_quality's
     protocol against that style's music: the network's own training music for the verdicts, and the
     small set's for both networks, so their nearest excerpts are measured against the same music.

  .venv/bin/python bench/bench_library.py                    # about 75 minutes on 2 cores
  .venv/bin/python bench/bench_library.py --minutes 10 --small-minutes 1 --songs 2   # a quick look
  .venv/bin/python bench/bench_library.py --lr-schedule cosine    # flags it does not know go to train.py
  .venv/bin/python bench/bench_library.py --songs-only --label bound --bound 0   # the last run's networks,
      # songs only (a few minutes): flags it does not know go to generate.py
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench_song_quality import TAILS_HEADING, judge_songs, tails_cells, tails_summary, training_log
from common import REPO, RESULTS, run_child, write_results

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

LAYOUTS = {"overlap": "float32 FFT X+Y", "compact": "float16 log magnitudes"}


def manifest(library: Path) -> dict[str, list[tuple[Path, float]]]:
    """Each style's (mp3, seconds), in the library's order."""
    styles: dict[str, list[tuple[Path, float]]] = {}
    with open(library / "manifest.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            styles.setdefault(row["style"], []).append((library / row["file"], float(row["seconds"])))
    return styles


def small_set(styles: dict[str, list[tuple[Path, float]]], folder: Path, seconds: float) -> dict[str, list[Path]]:
    """Copy each style's first files up to `seconds` into `folder`; the copies per style."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, list[Path]] = {}
    for style, files in styles.items():
        total = 0.0
        for mp3, length in files:
            if total >= seconds:
                break
            shutil.copy2(mp3, folder / mp3.name)
            chosen.setdefault(style, []).append(folder / mp3.name)
            total += length
    return chosen


def convert(layout: str, music: Path, prefix: Path) -> dict:
    """One conversion in a fresh process (bench_convert's child, the WAV cache cleared first)."""
    return run_child(str(REPO / "bench" / "bench_convert.py"), layout, music, prefix)


def train(prefix: Path, minutes: float, out: Path, args) -> dict:
    """train.py with the preset for `minutes` in its own process: its weight file, peak MB and step figures."""
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"
    cmd = [sys.executable, "train.py", "--config", str(args.config), "--minutes", str(minutes),
           "--data", str(prefix), "--weights-dir", str(out / "weights"), "--img-dir", str(out), "--seed", "0",
           *args.train_flags]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    text = log_path.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"train.py failed:\n{text[-2000:]}")
    said = training_log(text)
    epochs = said["epochs"]
    later = epochs[1:] or epochs  # the first epoch compiles the step
    return {"weights": said["weights"], "wall_s": wall, "peak_mb": usage.ru_maxrss / 1024,
            "updates": sum(n for n, _ in epochs), "epochs": len(epochs),
            "steps_per_epoch": epochs[0][0] if epochs else 0,
            "ms_per_step": 1e3 * float(np.mean([s for _, s in later])) if later else float("nan"),
            "first_music_minutes": said["first_music_minutes"], "losses": said["losses"]}


def spread(files: list[tuple[Path, float]], count: int, need: float) -> list[Path]:
    """`count` files at even steps through the style, each at least `need` seconds long."""
    long = [mp3 for mp3, seconds in files if seconds >= need]
    picks = np.linspace(0, len(long) - 1, count).round().astype(int)
    return [long[k] for k in picks]


def songs(weights: str, prefix: Path, primes: list[Path], out: Path, args) -> list[Path]:
    """One song per prime file: its seed taken from the file at --prime-start, then --seconds of new music."""
    paths = []
    for k, prime in enumerate(primes):
        proc = subprocess.run([sys.executable, "generate.py", "--weights", weights, "--data", str(prefix),
                               "--prime", str(prime), "--prime-start", str(args.prime_start),
                               "--seconds", str(args.seconds + args.clip_len),
                               "--random-seed", str(args.random_seed + k),
                               "--out-dir", str(out), *args.generate_flags, "--json"], cwd=REPO, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            sys.exit(f"generate.py failed:\n{proc.stderr[-2000:]}")
        paths += [Path(song["path"]) for song in json.loads(proc.stdout)["songs"]]
    return paths


def row(run: str, style: str, s: dict) -> str:
    return f"{run:6} {style:8} {tails_cells(s)} {s['nearest_vs_small_db']:9.1f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--library", type=Path, default=REPO / "datasets" / "library")
    p.add_argument("--config", type=Path, default=REPO / "config" / "fast.toml", help="the preset (the main job's)")
    p.add_argument("--minutes", type=float, default=60.0, help="training budget on the hour")
    p.add_argument("--small-minutes", type=float, default=3.0, help="training budget on the small set")
    p.add_argument("--small-seconds", type=float, default=90.0, help="music per style in the small set")
    p.add_argument("--songs", type=int, default=4, help="songs per style and network")
    p.add_argument("--seconds", type=float, default=60.0, help="new music after the seed")
    p.add_argument("--clip-len", type=float, default=10.0, help="the seed's length (convert_directory's default)")
    p.add_argument("--prime-start", type=float, default=10.0)
    p.add_argument("--tail", type=float, default=20.0, help="the last this many seconds are judged as one window")
    p.add_argument("--random-seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS / "library")
    p.add_argument("--songs-only", action="store_true",
                   help="only generate and judge songs, from the last run's networks and data in --out")
    p.add_argument("--label", default="", help="with --songs-only: the songs' folders end in _LABEL")
    args, extra = p.parse_known_args(argv)
    args.train_flags, args.generate_flags = ([], extra) if args.songs_only else (extra, [])
    if not (args.library / "manifest.tsv").is_file():
        sys.exit(f"{args.library / 'manifest.tsv'} missing: run `make library` first")
    if args.songs_only:
        return songs_only(args)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    styles = manifest(args.library)
    small = small_set(styles, args.out / "small_music", args.small_seconds)
    music = {"hour": args.library, "small": args.out / "small_music"}
    results: dict = {"styles": {s: len(f) for s, f in styles.items()}, "train_flags": args.train_flags,
                     "convert": {}, "train": {}, "songs": {}}

    print(f"{'set':6} {'layout':8} {'music min':>9} {'GB/hour':>8} {'x real time':>11} {'peak MB':>8}")
    for name in ("hour", "small"):
        for layout in ("overlap", "compact"):  # compact last: its tensors and WAV cache are what the rest reads
            prefix = args.out / "data" / f"{name}_{layout}"
            prefix.parent.mkdir(exist_ok=True)
            r = convert(layout, music[name], prefix)
            results["convert"][f"{name}_{layout}"] = r
            print(f"{name:6} {layout:8} {r['audio_s'] / 60:9.1f} {r['tensor_gb_per_hour']:8.3f} "
                  f"{r['audio_s'] / r['wall_s']:11.0f} {r['peak_mb']:8.0f}", flush=True)
            if layout == "overlap":
                for f in prefix.parent.glob(f"{prefix.name}_*"):
                    f.unlink()
    conv = results["convert"]
    gb_per_hour = {name: conv[name]["tensor_gb_per_hour"] for name in ("hour_compact", "hour_overlap")}
    print(f"compact/overlap bytes: {gb_per_hour['hour_compact'] / gb_per_hour['hour_overlap']:.3f}; "
          "conversion peak memory hour/small: "
          f"{conv['hour_compact']['peak_mb'] / conv['small_compact']['peak_mb']:.2f}x")

    budgets = {"small": args.small_minutes, "hour": args.minutes}
    for name in ("small", "hour"):
        t = train(args.out / "data" / f"{name}_compact", budgets[name], args.out / name, args)
        results["train"][name] = t
        first = f"{t['first_music_minutes']:.1f}" if t["first_music_minutes"] is not None else "-"
        print(f"trained {name}: {t['wall_s'] / 60:.1f} min, {t['updates']} updates in {t['epochs']} epochs of "
              f"{t['steps_per_epoch']} steps, {t['ms_per_step']:.0f} ms a step, losses {t['losses']}, "
              f"first music preview at {first} min, peak {t['peak_mb']:.0f} MB", flush=True)
    tr = results["train"]
    print(f"training peak memory hour/small: {tr['hour']['peak_mb'] / tr['small']['peak_mb']:.2f}x; "
          f"ms a step hour/small: {tr['hour']['ms_per_step'] / tr['small']['ms_per_step']:.2f}x")

    results["songs"] = judge_networks(styles, small, {name: tr[name]["weights"] for name in tr}, args)
    results["peak_mb_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"results: {write_results('library', results)}")
    return 0


def judge_networks(styles: dict, small: dict[str, list[Path]], weights: dict[str, str], args) -> dict:
    """Songs per style from each network (the small set's, the hour's), judged; a table row each."""
    need = args.prime_start + args.clip_len + 1.0
    suffix = f"_{args.label}" if args.label else ""
    print(f"\n{'net':6} {'style':8} {TAILS_HEADING} {'vs small':>9}")
    judged_songs = {}
    for style, files in styles.items():
        primes = spread(files, args.songs, need)
        own = {"hour": [mp3 for mp3, _ in files], "small": small[style]}
        for name in ("small", "hour"):
            paths = songs(weights[name], args.out / "data" / f"{name}_compact", primes,
                          args.out / f"{name}_songs_{style}{suffix}", args)
            judged = judge_songs(paths, own[name], args.tail)
            against_small = judged if name == "small" else judge_songs(paths, small[style], args.tail)
            s = tails_summary(judged)
            s["nearest_vs_small_db"] = float(np.median([j["tail"]["nearest_excerpt_db"] for j in against_small]))
            judged_songs[f"{name}_{style}"] = {"summary": s, "songs": judged, "primes": list(map(str, primes))}
            print(row(name, style, s), flush=True)
    return judged_songs


def songs_only(args) -> int:
    """The last full run's two networks, songs generated again with args.generate_flags and judged."""
    last = RESULTS / "library.json"
    if not last.is_file():
        sys.exit(f"{last} missing: run the bench once without --songs-only")
    results = json.loads(last.read_text())
    styles = manifest(args.library)
    small_music = args.out / "small_music"
    small = {style: sorted(small_music.glob(f"{style}_*.mp3")) for style in styles}
    weights = {name: results["train"][name]["weights"] for name in ("small", "hour")}
    songs_run = {"generate_flags": args.generate_flags, "weights": weights,
                 "songs": judge_networks(styles, small, weights, args)}
    print(f"results: {write_results('library_songs' + (f'_{args.label}' if args.label else ''), songs_run)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
