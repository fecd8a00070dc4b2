#!/usr/bin/env python3
"""Step 4: generate songs from a trained LSTM or GRU weight file."""

import sys

if __name__ == "__main__":  # Ctrl-C from here on ends in "interrupted", even while the rest imports
    from musicgen.signals import interrupt_quietly_while_starting

    interrupt_quietly_while_starting()

from musicgen.cli.args import (ArgumentParser, add_json_flag, add_options, add_weights_flag,  # noqa: E402
                               config_from, output_for, parse_with_preset, print_json, run_script,
                               stdout_for_audio)
from musicgen.config import GenerateConfig  # noqa: E402


def build_parser():
    """The flags, from GenerateConfig; without --weights an arrow-key menu picks the file."""
    p = ArgumentParser(
        description="Generate songs from a weight file (LSTM or GRU): seed the network with a training "
        "clip and let it continue block by block. Each song is written to OUT_DIR/generated_songN.wav "
        "(N one more than the highest there) with a waveform/spectrogram PNG beside it.",
        tensorflow=True,
    )
    add_weights_flag(p, "weight file to generate from")
    add_options(p, GenerateConfig)
    add_json_flag(p, "the songs written (or the files resynthesized, with their distances)")
    return p


def main(argv=None):
    args = parse_with_preset(build_parser(), argv)
    from musicgen.cli.menu import weights_or_menu
    from musicgen.generate.generation import generate

    cfg = config_from(GenerateConfig, args)
    if cfg.seconds == 0 and not cfg.stream:
        build_parser().error("--seconds 0 means a song without end: stream it (--stream), or give its length")
    if cfg.stream and (args.json or cfg.resynthesize):
        build_parser().error(f"--stream sends audio to standard output; it cannot go with "
                             f"{'--json' if args.json else '--resynthesize'}")
    weights = weights_or_menu(args.weights, args.weights_dir, purpose="generate from")
    if cfg.stream:
        from musicgen.generate.streaming import stream_song

        def kept(song):
            print(f"wrote {song.path} ({song.seconds:.2f} s, {song.seed}) and {song.plot}"
                  f"{'; ' + song.verdict() if song.verdict() else ''}", file=sys.stderr)

        with stdout_for_audio() as listener:
            song = stream_song(weights, cfg, listener, on_kept=kept)
        kept(song)
        return 0
    if cfg.resynthesize:
        from musicgen.generate.resynthesis import resynthesize

        with output_for(args.json):
            done = resynthesize(weights, list(cfg.resynthesize), cfg)
        if args.json:
            print_json({"weights": str(weights), "resynthesized": [r.as_dict() for r in done]})
        else:
            for r in done:
                print(f"wrote {r.path} ({r.seconds:.2f} s): {r.fidelity.describe()}")
        return 0
    with output_for(args.json):
        songs = generate(weights, cfg)
    if args.json:
        print_json({"weights": str(weights), "songs": [song.as_dict() for song in songs]})
    else:
        for song in songs:
            print(f"wrote {song.path} ({song.seconds:.2f} s, {song.seed}) and {song.plot}"
                  f"{'; ' + song.verdict() if song.verdict() else ''}")
        if songs:
            print(f"listen on {songs[0].path.parent / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
