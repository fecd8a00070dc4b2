#!/usr/bin/env python3
"""Step 5: measure how music-like generated songs are, against the training music."""

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # Ctrl-C from here on ends in "interrupted", even while the rest imports
    from musicgen.signals import interrupt_quietly_while_starting

    interrupt_quietly_while_starting()

from musicgen.cli.args import ArgumentParser, float_in, parse_with_preset, run_script  # noqa: E402
from musicgen.config import ConvertConfig  # noqa: E402


def png_path(text: str) -> Path:
    """argparse type: a path ending in .png."""
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"the plot is a PNG: the name must end in .png, got '{text}'")
    return Path(text)


def build_parser():
    """The flags."""
    p = ArgumentParser(
        description="Compare generated songs with the training music: loudness, spectral flatness and "
        "centroid, log-mel distance (white noise and silence as reference points), clicks at the block "
        "seams and the distance to the nearest training excerpt (near 0 dB: a verbatim copy). A song is "
        "music-like when it is within 6 dB as loud, within 10x as flat, and nearer the training music "
        "than noise and silence are. A song made by generate.py is measured after the echo of its seed (its "
        "sidecar says where that ends), with a timeline of 10 s windows saying where it is still music.",
    )
    p.add_argument("songs", nargs="+", type=Path, metavar="SONG.wav", help="songs to evaluate")
    p.add_argument("--reference", nargs="+", type=Path, default=[ConvertConfig().wave_dir],
                   metavar="DIR_OR_FILES", help="the training music: folders of audio files, or files")
    p.add_argument("--plot", type=png_path, default=None, metavar="FILE.png",
                   help="write a PNG comparing spectra and spectrograms here (its folder is created)")
    p.add_argument("--block-seconds", type=float_in(0, 60, low_open=True), default=None,
                   help="length of a generated block, for the seam-click and loop measures (default: from the "
                   "song's sidecar, else 0.25)")
    p.add_argument("--whole", action="store_true",
                   help="measure the whole file, the echo of the seed included (default: only what follows it)")
    p.add_argument("--json", action="store_true", help="print the table as JSON instead")
    return p


def main(argv=None):
    args = parse_with_preset(build_parser(), argv)
    from musicgen.evaluate.report import evaluate_songs, format_json, format_table

    report = evaluate_songs(args.songs, args.reference, block_seconds=args.block_seconds, whole=args.whole,
                            plot=args.plot)
    print(format_json(report) if args.json else format_table(report))
    if args.plot is not None and not args.json:
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
