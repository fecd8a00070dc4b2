#!/usr/bin/env python3
"""Step 5: measure how music-like generated songs are, against the training music."""

import sys
from pathlib import Path

if __name__ == "__main__":  # Ctrl-C from here on ends in "interrupted", even while the rest imports
    from musicgen.signals import interrupt_quietly_while_starting

    interrupt_quietly_while_starting()

from musicgen.cli.args import ArgumentParser, add_options, config_from, parse_with_preset, run_script  # noqa: E402
from musicgen.config import EvaluateConfig  # noqa: E402


def build_parser():
    """The flags, from EvaluateConfig."""
    p = ArgumentParser(
        description="Compare generated songs with the training music: loudness, spectral flatness and "
        "centroid, log-mel distance (white noise and silence as reference points), clicks at the block "
        "seams and the distance to the nearest training excerpt (near 0 dB: a verbatim copy). A song is "
        "music-like when it is within 6 dB as loud, within 10x as flat, and nearer the training music "
        "than noise and silence are. A song made by generate.py is measured after the echo of its seed (its "
        "sidecar says where that ends), with a timeline of 10 s windows saying where it is still music.",
    )
    p.add_argument("songs", nargs="+", type=Path, metavar="SONG.wav", help="songs to evaluate")
    add_options(p, EvaluateConfig)
    return p


def main(argv=None):
    args = parse_with_preset(build_parser(), argv)
    from musicgen.evaluate.report import evaluate_songs, format_json, format_table

    cfg = config_from(EvaluateConfig, args)
    report = evaluate_songs(args.songs, list(cfg.reference), hop_seconds=cfg.hop_seconds, whole=cfg.whole,
                            plot=cfg.plot)
    print(format_json(report) if cfg.json else format_table(report))
    if cfg.plot is not None and not cfg.json:
        print(f"plot: {cfg.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
