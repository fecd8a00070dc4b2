#!/usr/bin/env python3
"""Step 2: convert a folder of music into FFT block tensors for training."""

import sys

if __name__ == "__main__":  # Ctrl-C from here on ends in "interrupted", even while the rest imports
    from musicgen.signals import interrupt_quietly_while_starting

    interrupt_quietly_while_starting()

from musicgen.cli.args import (ArgumentParser, add_json_flag, add_options, config_from, output_for,  # noqa: E402
                               parse_with_preset, print_json, run_script)
from musicgen.config import AudioConfig, BlockSpec, ConvertConfig  # noqa: E402


def build_parser():
    """The flags, from the config dataclasses; defaults are the original toolkit's."""
    p = ArgumentParser(
        description="Convert every mp3/wav/flac/ogg in a folder to mono 16-bit WAV (lame, sox), "
        "cut it into FFT blocks and write the training tensors "
        "PREFIX_x.npy, PREFIX_y.npy, PREFIX_mean.npy, PREFIX_var.npy and PREFIX_xmerged.wav.",
    )
    add_options(p, ConvertConfig)
    add_options(p, AudioConfig)
    add_options(p, BlockSpec, stage="convert")  # the network's representation is chosen in training
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_json_flag(p, "what was converted, skipped and written")
    return p


def main(argv=None):
    args = parse_with_preset(build_parser(), argv)
    from musicgen.data.convert import convert_directory

    audio = config_from(AudioConfig, args, block=config_from(BlockSpec, args))
    with output_for(args.json):
        summary = convert_directory(config_from(ConvertConfig, args, audio=audio), progress=not args.quiet)
    if args.json:
        print_json(summary.as_dict())
    else:
        print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
