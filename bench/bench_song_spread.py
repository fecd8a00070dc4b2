#!/usr/bin/env python3
"""How much one draw of songs decides: the same trained networks' songs drawn again with other random seeds
(other seed clips, other draws), each draw measured as bench_song_fidelity measures a folder, then the
mean and the spread over the draws. A difference between two presets that is smaller than this spread was
decided by the draw, not by the preset.

Each --run names a row, a set of bench_song_quality (piano, ensemble, orchestral, band) and a weight file;
generate.py writes DRAWS x SONGS songs of SECONDS s after the seed's echo for it (random seeds 1..DRAWS)
and the last TAIL s of each are measured against the set's music.

    .venv/bin/python bench/bench_song_spread.py --draws 4 --detail nearest \
        --run fast piano bench/results/song_quality/fast7/piano_weights/LSTM_NP_Weights_Iter-6.weights.h5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench_song_fidelity import HEADER, Music, song_tails
from bench_song_quality import DATASETS, run
from common import REPO, RESULTS, write_results
from musicgen.config import DETAILS


def draw(weights: Path, out: Path, random_seed: int, args) -> tuple[list[Path], list[float]]:
    """One draw of songs from `weights` into `out`: the songs written (beside any there before, which
    generate.py keeps) and the seconds of music evaluate.py heard in each."""
    said = json.loads(run(["generate.py", "--weights", str(weights), "--count", str(args.songs),
                           "--seconds", str(args.seconds + args.clip_len), "--random-seed", str(random_seed),
                           "--out-dir", str(out), *([] if args.detail is None else ["--detail", args.detail]),
                           *([] if args.temperature is None else ["--temperature", str(args.temperature)]),
                           *([] if args.tail_noise is None else ["--tail-noise", str(args.tail_noise)]),
                           *([] if args.noise_memory is None else ["--noise-memory", str(args.noise_memory)]),
                           "--json"]))
    return ([REPO / song["path"] for song in said["songs"]],
            [song["music_seconds"] or 0.0 for song in said["songs"]])


def spread(values: list[float], digits: int = 1) -> str:
    """mean ± standard deviation over the draws."""
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.{digits}f}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", nargs=3, action="append", required=True, metavar=("LABEL", "SET", "WEIGHTS"))
    p.add_argument("--draws", type=int, default=4, help="random seeds 1..DRAWS")
    p.add_argument("--songs", type=int, default=4, help="songs a draw, each from its own seed clip")
    p.add_argument("--seconds", type=float, default=60.0, help="new music after the seed's echo")
    p.add_argument("--clip-len", type=float, default=10.0, help="the seed's length the networks were trained with")
    p.add_argument("--tail", type=float, default=20.0, help="the last this many seconds of each song are measured")
    p.add_argument("--detail", choices=DETAILS, default=None, help="generate.py's (default: the network's own)")
    p.add_argument("--temperature", type=float, default=None, help="generate.py's (default: the network's own)")
    p.add_argument("--tail-noise", type=float, default=None, help="generate.py's (default: the network's own)")
    p.add_argument("--noise-memory", type=float, default=None, help="generate.py's (default: the network's own)")
    p.add_argument("--out", type=Path, default=RESULTS / "song_spread")
    args = p.parse_args(argv)
    unknown = sorted({name for _, name, _ in args.run} - set(DATASETS))
    if unknown:
        sys.exit(f"unknown set(s) {', '.join(unknown)}: one of {', '.join(DATASETS)}")
    music = {name: Music.load(REPO / DATASETS[name]) for name in sorted({name for _, name, _ in args.run})}
    print(f"{'row':14} {'set':10} {'draw':>4} {HEADER} {'music s':>8}")
    results = []
    for label, name, weights in args.run:
        draws = []
        for seed in range(1, args.draws + 1):
            out = args.out / label / f"{name}_draw{seed}"
            songs, heard = draw(Path(weights), out, seed, args)
            measured = music[name].distances(song_tails(songs, args.tail))
            draws.append({"random_seed": seed, "lsd_db": measured.lsd_db, "mel_lsd_db": measured.mel_db,
                          "frechet": measured.frechet, "flatness_ratio": measured.flatness_ratio,
                          "music_seconds": heard})
            print(f"{label:14} {name:10} {seed:4} {measured.cells():>26} {sum(heard):8.0f}", flush=True)
        lsd_rows = list(zip(*(d["lsd_db"] for d in draws)))
        print(f"{label:14} {name:10} {'all':>4} {' / '.join(spread(list(w)) for w in lsd_rows):>26} "
              f"{spread([d['mel_lsd_db'] for d in draws]):>9} {spread([d['frechet'] for d in draws]):>14} "
              f"{spread([d['flatness_ratio'] for d in draws], 2):>11} "
              f"{sum(sum(d['music_seconds']) for d in draws):6.0f}/{args.draws * args.songs * args.seconds:.0f}",
              flush=True)
        results.append({"label": label, "set": name, "weights": weights, "draws": draws})
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    print(f"results: {write_results('song_spread', {'args': settings, 'runs': results})}")


if __name__ == "__main__":
    main()
