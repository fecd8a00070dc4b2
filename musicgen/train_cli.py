"""Flags and entry point shared by train.py, train_gru.py, re_train.py and re_train_gru.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import schema
from .cli import SEED_MAX, ArgumentParser, float_in, fraction, int_in, parse_with_preset
from .config import CELL_NAMES, OUTPUTS, PRECISIONS, REPRESENTATIONS, BlockSpec, ModelConfig, TrainConfig
from .distribute import STRATEGIES
from .training_aids import LR_SCHEDULES, PLATEAU_PATIENCE
from .training_data import NORMALISATIONS


def build_parser(cell: str, resume: bool) -> argparse.ArgumentParser:
    """The original's -n/-e/-b plus flags for everything it hard-coded."""
    t, m = TrainConfig(), ModelConfig()
    label = CELL_NAMES[cell]
    what = (f"Continue training a {label} network from a weight file (arrow-key menu, or --weights)"
            if resume else f"Train the {label} music network on the tensors made by convert_directory.py")
    p = ArgumentParser(description=what + ". A checkpoint, loss file and loss plot are "
                       "written to the weights folder after every iteration.", tensorflow=True)
    p.add_argument("-n", "--n_iter", type=int_in(1, 100_000), default=t.n_iter, help="number of iterations")
    p.add_argument("-e", "--n_epochs", type=int_in(1, 100_000), default=t.n_epochs, help="epochs per iteration")
    p.add_argument("-b", "--n_batch", type=int_in(1, 65_536), default=t.n_batch,
                   help="batch size in clips; higher is faster but uses more memory")
    p.add_argument("--data", type=Path, default=t.data_prefix, help="prefix of the training tensors")
    shape_note = " (must match the weight file)" if resume else ""
    p.add_argument("--hidden", type=int_in(1, schema.MAX_HIDDEN), default=None if resume else m.hidden,
                   help="hidden units" + shape_note)
    p.add_argument("--layers", type=int_in(1, schema.MAX_LAYERS), default=None if resume else m.layers,
                   help="recurrent layers" + shape_note)
    p.add_argument("--lr", type=float_in(0, 10, low_open=True), default=t.lr, help="RMSprop learning rate")
    p.add_argument("--normalisation", choices=NORMALISATIONS, default=t.normalisation,
                   help="scale each FFT feature by its own std (bin, as GRUV) or all by one shared std (global: "
                   "the loss weighs loud bins more); ignored when resuming: the weight file keeps its own")
    kept = "; ignored when resuming: the weight file keeps its own" if resume else ""
    p.add_argument("--representation", choices=REPRESENTATIONS, default=m.block.representation,
                   help="what the network sees of a block: fft, GRUV's real and imaginary parts; logmag, log "
                   "magnitudes, with the phase rebuilt when generating (Griffin-Lim on --overlap data)" + kept)
    p.add_argument("--output", choices=OUTPUTS, default=m.output,
                   help="mse: predict each FFT value, trained by mean squared error (GRUV); gaussian: a mean and "
                   "a spread per value, trained by likelihood and sampled when generating" + kept)
    p.add_argument("--prenet-dropout", type=fraction, default=m.prenet_dropout,
                   help="dropout rate after the input layer, kept on when generating (Tacotron 2's pre-net)" + kept)
    p.add_argument("--scheduled-sampling", type=fraction, default=t.scheduled_sampling,
                   help="share of input blocks replaced by the network's own predictions in training, as in "
                   "generation (0: always the real blocks, as the original)")
    p.add_argument("--strategy", choices=STRATEGIES, default=t.strategy,
                   help="tf.distribute engine: one device; mirrored over all local GPUs (or 2 logical CPU "
                   "devices); multiworker over the machines in TF_CONFIG, each running this command")
    p.add_argument("--validation-split", type=fraction, default=t.validation_split,
                   help="last fraction of clips held out for validation loss")
    p.add_argument("--early-stopping", type=int_in(0, 100_000), default=t.early_stopping, metavar="EPOCHS",
                   help="stop after this many epochs without improvement of the validation loss (the training "
                   "loss without --validation-split); the epochs since the last checkpoint are saved; 0: never")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=t.lr_schedule,
                   help="learning rate over the run: constant (the original's), plateau (halved after "
                   f"{PLATEAU_PATIENCE} epochs without improvement) or cosine (from --lr down to 0)")
    p.add_argument("--preview-seconds", type=float_in(0, 600), default=t.preview_seconds, metavar="S",
                   help="after every checkpoint, write a song of S seconds from a fixed seed beside it "
                   "(..._Iter-N.preview.wav) with its verdict in the sidecar and the menus, to pick a checkpoint "
                   "by ear; 0: none")
    p.add_argument("--precision", choices=PRECISIONS, default=t.precision,
                   help="bfloat16: Keras' mixed_bfloat16 policy, bfloat16 maths with float32 weights (faster where "
                   "the CPU or GPU multiplies bfloat16); the weight files are the same either way")
    p.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                   help="write TensorBoard logs (loss, validation loss, learning rate) here")
    p.add_argument("--weights-dir", type=Path, default=t.weights_dir, help="where checkpoints go")
    p.add_argument("--img-dir", type=Path, default=t.img_dir, help="where the model diagram goes")
    p.add_argument("--keep-every", type=int_in(0, 100_000), default=t.keep_every,
                   help="also keep every k-th iteration's checkpoint (0: only the latest)")
    p.add_argument("--seed", type=int_in(0, SEED_MAX), default=None, help="fix weight init and shuffling")
    if resume:
        p.add_argument("--weights", type=Path, default=None,
                       help=f"{label} weight file to continue from (default: arrow-key menu)")
    return p


def main(argv: list[str] | None, *, cell: str, resume: bool) -> int:
    """Parse flags, pick the starting weights if resuming, run the training loop."""
    args = parse_with_preset(build_parser(cell, resume), argv)
    from .checkpoint import list_weight_files, read_checkpoint
    from .errors import WeightsError
    from .menu import choose_weights
    from .training import train

    train_cfg = TrainConfig(n_iter=args.n_iter, n_epochs=args.n_epochs, n_batch=args.n_batch, lr=args.lr,
                            validation_split=args.validation_split, data_prefix=args.data,
                            weights_dir=args.weights_dir, img_dir=args.img_dir, keep_every=args.keep_every,
                            seed=args.seed, normalisation=args.normalisation,
                            strategy=args.strategy, scheduled_sampling=args.scheduled_sampling,
                            early_stopping=args.early_stopping, lr_schedule=args.lr_schedule,
                            tensorboard=args.tensorboard, preview_seconds=args.preview_seconds,
                            precision=args.precision)
    start = None
    model_cfg = ModelConfig(cell=cell, hidden=args.hidden or ModelConfig.hidden,
                            layers=args.layers or ModelConfig.layers, output=args.output,
                            block=BlockSpec(representation=args.representation),
                            prenet_dropout=args.prenet_dropout)
    if resume:
        label = CELL_NAMES[cell]
        start = args.weights or choose_weights(list_weight_files(args.weights_dir, label),
                                               purpose=f"continue training ({label})")
        start = read_checkpoint(start)  # read once; training takes it as it is
        saved = start.model
        for flag in ("hidden", "layers"):
            given = getattr(args, flag)
            if given is not None and given != getattr(saved, flag):
                raise WeightsError(f"--{flag} {given} does not match '{start.weights.name}' "
                                   f"({flag}={getattr(saved, flag)})")
    result = train(train_cfg, model_cfg, resume=start, report=lambda line: print(line, flush=True))
    if result.interrupted:
        where = result.checkpoint or "nothing (no iteration completed)"
        print(f"interrupted: last completed iteration {result.iteration} is saved in {where}")
        return 130
    print(f"done: {result.checkpoint or 'checkpoints are written by the chief worker'}")
    return 0
