"""Flags and entry point shared by train.py, train_gru.py, re_train.py and re_train_gru.py."""

from __future__ import annotations

import argparse
import dataclasses

from musicgen.cli.args import (ArgumentParser, add_json_flag, add_options, add_weights_flag, config_from, output_for,
                               parse_with_preset, print_json)
from musicgen.config import CELL_NAMES, BlockSpec, ModelConfig, TrainConfig

SHAPE = ("hidden", "layers")  # a resumed network's shape comes from its weight file
# Set when a network is made, kept by its weight file.
CHOSEN_ONCE = ("representation", "bands", "output", "components", "prenet_dropout")
# How a network's songs are drawn and heard: a resumed run keeps its weight file's unless given.
SONG_SETTINGS = ("temperature", "tail_noise", "noise_memory", "bound", "detail", "detail_contrast")


def build_parser(cell: str, resume: bool) -> argparse.ArgumentParser:
    """The original's -n/-e/-b plus flags for everything it hard-coded, from the config dataclasses."""
    label = CELL_NAMES[cell]
    what = (f"Continue training a {label} network from a weight file (arrow-key menu, or --weights)"
            if resume else f"Train the {label} music network on the tensors made by convert_directory.py")
    p = ArgumentParser(description=what + ". A checkpoint, loss file and loss plot are "
                       "written to the weights folder after every iteration.", tensorflow=True)
    notes = {**dict.fromkeys(SHAPE, " (must match the weight file)"),
             **dict.fromkeys(CHOSEN_ONCE, "; ignored when resuming: the weight file keeps its own"),
             **dict.fromkeys(SONG_SETTINGS, " (default: the weight file's own)"),
             "data_prefix": " (default: the ones the weight file was trained on, as its sidecar records)"}
    notes = notes if resume else {}
    add_options(p, TrainConfig, defaults={"data_prefix": None, **dict.fromkeys(SONG_SETTINGS)} if resume else None,
                help_suffix=notes)
    add_options(p, ModelConfig, defaults=dict.fromkeys(SHAPE) if resume else None, help_suffix=notes)
    add_options(p, BlockSpec, stage="train", help_suffix=notes)
    if resume:
        add_weights_flag(p, f"{label} weight file to continue from")
    add_json_flag(p, "where training got to (the last checkpoint, its iteration and loss)")
    return p


def main(argv: list[str] | None, *, cell: str, resume: bool) -> int:
    """Parse flags, pick the starting weights if resuming, run the training loop."""
    args = parse_with_preset(build_parser(cell, resume), argv)
    from musicgen.cli.menu import weights_or_menu
    from musicgen.errors import WeightsError
    from musicgen.formats.weights import read_checkpoint
    from musicgen.train.loop import train

    train_cfg = config_from(TrainConfig, args)
    start = None
    model_cfg = config_from(ModelConfig, args, cell=cell, block=config_from(BlockSpec, args))
    if resume:
        label = CELL_NAMES[cell]
        start = weights_or_menu(args.weights, args.weights_dir, purpose=f"continue training ({label})", label=label)
        start = read_checkpoint(start)  # read once; training takes it as it is
        if args.data_prefix is None:
            train_cfg = dataclasses.replace(train_cfg, data_prefix=start.data_prefix)
        train_cfg = dataclasses.replace(train_cfg, **{key: getattr(start, key) for key in SONG_SETTINGS
                                                      if getattr(args, key) is None})
        saved = start.model
        for flag in SHAPE:
            given = getattr(args, flag)
            if given is not None and given != getattr(saved, flag):
                raise WeightsError(f"--{flag} {given} does not match '{start.weights.name}' "
                                   f"({flag}={getattr(saved, flag)})")
    with output_for(args.json):
        result = train(train_cfg, model_cfg, resume=start, report=lambda line: print(line, flush=True))
    if args.json:
        print_json(result.as_dict())
        return 130 if result.interrupted else 0
    if result.interrupted:
        where = result.checkpoint or "nothing (no iteration completed)"
        print(f"interrupted: last completed iteration {result.iteration} is saved in {where}")
        return 130
    print(f"done: {result.checkpoint or 'checkpoints are written by the chief worker'}")
    return 0
