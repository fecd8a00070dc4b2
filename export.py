#!/usr/bin/env python3
"""Step 5 (optional): export a trained network to run outside the toolkit (ONNX, SavedModel or TFLite)."""

import sys

if __name__ == "__main__":  # Ctrl-C from here on ends in "interrupted", even while the rest imports
    from musicgen.signals import interrupt_quietly_while_starting

    interrupt_quietly_while_starting()

from musicgen.cli.args import (ArgumentParser, add_json_flag, add_options, add_weights_flag,  # noqa: E402
                               config_from, output_for, parse_with_preset, print_json, run_script)
from musicgen.config import ExportConfig  # noqa: E402


def build_parser():
    """The flags, from ExportConfig; without --weights an arrow-key menu picks the file."""
    p = ArgumentParser(
        description="Write a weight file's network as one step (the last block and the state in, the next block's "
        "distribution and the new state out) in a portable format, into a new folder with player.json and "
        "player.npz beside it: what a player needs to make songs without TensorFlow or this toolkit "
        "(examples/onnx_player.py plays an ONNX export; docs/EXPORT.md says what every file holds).",
        tensorflow=True,
    )
    add_weights_flag(p, "weight file to export")
    add_options(p, ExportConfig)
    add_json_flag(p, "the folder written and what it holds")
    return p


def main(argv=None):
    args = parse_with_preset(build_parser(), argv)
    from musicgen.cli.menu import weights_or_menu
    from musicgen.export.exporting import export

    cfg = config_from(ExportConfig, args)
    weights = weights_or_menu(args.weights, args.weights_dir, purpose="export")
    with output_for(args.json):
        done = export(weights, cfg)
    info = done.info
    if args.json:
        print_json({"weights": str(weights), "folder": str(done.folder), "format": info.network_format,
                    "files": sorted(p.name for p in done.folder.iterdir()), "seeds": info.seeds,
                    "difference": done.difference})
        return 0
    print(f"wrote {done.folder}: {info.network_file}, player.json and player.npz ({info.seeds} seed clips); "
          f"the exported step gives the network's outputs to {done.difference:.0e}")
    if info.network_format == "onnx":
        print(f"play it: python examples/onnx_player.py {done.folder} --seconds 30 --output song.wav")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
