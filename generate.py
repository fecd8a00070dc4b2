#!/usr/bin/env python3
"""Step 4: generate songs from a trained LSTM or GRU weight file."""

import sys
from pathlib import Path

from musicgen.cli import SEED_MAX, ArgumentParser, float_in, int_in, run_script
from musicgen.config import SONG_FORMATS, GenerateConfig

MAX_SECONDS = 3600.0  # one hour of audio per song
MAX_COUNT = 256  # songs per run (one batch)


def get_arguments(argv=None):
    """Parse the command line; without --weights an arrow-key menu picks the file."""
    d = GenerateConfig()
    p = ArgumentParser(
        description="Generate songs from a weight file (LSTM or GRU): seed the network with a training "
        "clip and let it continue block by block. Each song is written to OUT_DIR/generated_songN.wav "
        "(N one more than the highest there) with a waveform/spectrogram PNG beside it.",
        tensorflow=True,
    )
    p.add_argument("--weights", type=Path, default=None,
                   help="weight file to generate from (default: arrow-key menu of WEIGHTS_DIR)")
    p.add_argument("--weights-dir", type=Path, default=d.weights_dir, help="where the menu looks")
    p.add_argument("--data", type=Path, default=d.data_prefix, help="prefix of the tensors to seed from")
    p.add_argument("--seconds", type=float_in(0, MAX_SECONDS, low_open=True), default=None,
                   help="song length (default: the original's 49 blocks = 12.25 s)")
    p.add_argument("--count", type=int_in(1, MAX_COUNT), default=d.count, help="songs to write, generated as one batch")
    p.add_argument("--seed-index", type=int_in(0, 2**62), default=None,
                   help="training clip to seed from (default: random)")
    p.add_argument("--random-seed", type=int_in(0, SEED_MAX), default=None,
                   help="make the song reproducible: the seed-clip choice and every random draw")
    p.add_argument("--prime", type=Path, default=None, metavar="FILE",
                   help="seed from this audio file (mp3, wav, flac, ogg; any rate and channels) instead of a "
                   "training clip: the network continues music it never saw")
    p.add_argument("--prime-start", type=float_in(0, 86400), default=d.prime_start, metavar="SECONDS",
                   help="where in the --prime file the seed starts")
    p.add_argument("--no-echo", dest="echo", action="store_false",
                   help="leave the network's predictions over the seed out: the song holds only new music "
                   "(and --seconds counts only that); the original starts every song with this echo")
    p.add_argument("--format", dest="song_format", choices=SONG_FORMATS, default=d.song_format,
                   help="file format of the songs (mp3 through lame, flac and ogg through sox)")
    p.add_argument("--out-dir", type=Path, default=d.out_dir, help="where songs go")
    p.add_argument("--temperature", type=float_in(0, 10), default=d.temperature,
                   help="for networks trained with --output gaussian: scale of the sampled spread (0: the mean "
                   "alone, deterministic); other networks ignore it")
    return p.parse_args(argv)


def main(argv=None):
    args = get_arguments(argv)
    from musicgen.checkpoint import list_weight_files
    from musicgen.generation import generate
    from musicgen.menu import choose_weights

    weights = args.weights or choose_weights(list_weight_files(args.weights_dir), purpose="generate from")
    cfg = GenerateConfig(seconds=args.seconds, count=args.count, seed_index=args.seed_index,
                         random_seed=args.random_seed, data_prefix=args.data, out_dir=args.out_dir,
                         temperature=args.temperature, prime=args.prime, prime_start=args.prime_start,
                         echo=args.echo, song_format=args.song_format)
    for song in generate(weights, cfg):
        print(f"wrote {song.path} ({song.seconds:.2f} s, {song.seed}) and {song.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
